"""Power simulation for a planned cluster-randomized trial: the batched cluster REML against
lmerTest and the general engine, power against the noncentral t with the design effect (R's
power.t.test), type I error at few clusters, chunking invariance, the plan in YAML and its
errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from test_groups_pipeline import _spec
from test_power import _svg_words, run_all

from config_matrix import CLUSTER_POWER, REFERENCE, cluster_cells
from trialeval import power as pw
from trialeval import power_plan
from trialeval.errors import TrialInputError
from trialeval.power.figure import _figure_title as figure_title
from trialeval.proportions import wilson_interval

LMER = json.loads((REFERENCE / "groups_lmer.json").read_text())
POWER_T = json.loads((REFERENCE / "cluster_power.json").read_text())
CELLS = {cell.id: cell for cell in cluster_cells()}


def cluster_plan(
    *,
    clusters=(6,),
    size=10,
    cv=0.0,
    icc=0.1,
    effects=(0.5,),
    visits=("t0", "t1"),
    attrition=0.0,
    sds=(1.0, 1.0),
    estimand="diff_in_means",
    n_sims=100,
    chunk_size=100,
    seed=11,
) -> dict:
    """A resolved cluster plan for outcome `y`: control plus one arm per entry of effects."""
    arms = [{"id": "ctl", "label": "Control", "ratio": 1.0, "control": True, "effects": {}}]
    for k, effect in enumerate(effects, start=1):
        arms.append(
            {
                "id": f"arm{k}",
                "label": f"Arm {k}",
                "ratio": 1.0,
                "control": False,
                "colour": power_plan.OKABE_ITO[k],
                "marker": power_plan.MARKERS[k],
                "effects": {"y": effect},
            }
        )
    n_post = len(visits) - 1
    outcome = {"id": "y", "label": "Score", "from_fit": False, "icc": icc}
    outcome.update(sd_participant=sds[0], sd_residual=sds[1])
    return {
        "design": "cluster_rct",
        "arms": arms,
        "control_arm": "ctl",
        "visits": list(visits),
        "attrition": attrition if isinstance(attrition, list) else [attrition] * n_post,
        "outcomes": [outcome],
        "estimand": estimand,
        "sample_sizes": [],
        "clusters_per_arm": list(clusters),
        "cluster_size": size,
        "cluster_size_cv": cv,
        "points": [f"k{k}" for k in clusters],
        "n_sims": n_sims,
        "chunk_size": chunk_size,
        "n_chunks": -(-n_sims // chunk_size),
        "alpha": 0.05,
        "seed": seed,
        "target_power": 0.8,
        "from_fit": False,
    }


def simulate(plan: dict, clusters: int) -> pd.DataFrame:
    components = pw.variance_components(plan, None)
    return pw.simulate_chunk(plan, components, clusters, 0, plan["n_sims"])


# --------------------------------------------------------------------------------------
# The batched cluster REML is the pipeline's cluster_rct model
# --------------------------------------------------------------------------------------


def test_cluster_fit_matches_lmertest_on_the_reference_trial():
    """groups_ref.R's cluster trial (12 sites randomized 6 : 6, 2 visits, missing visits):
    lmer(score ~ arm * timepoint + (1 | participant_id) + (1 | site)) with lmerTest's
    contest1D for diff_in_change and diff_in_means at month 4 (groups_lmer.json,
    cluster_repeated). Tolerances: estimates and SEs 1e-6 relative (lmer's optimiser stops at
    ~1e-7), Satterthwaite df 1e-4."""
    long = pd.read_csv(REFERENCE / "cluster_trial.csv")
    wide = long.pivot(index="participant_id", columns="timepoint", values="score")
    people = long.drop_duplicates("participant_id").set_index("participant_id").loc[wide.index]
    arm = (people["arm"] == "coaching").to_numpy(int)
    # clusters of the control arm first, as the simulation numbers them
    sites = sorted(
        set(people["site"]),
        key=lambda s: (people["arm"][people["site"] == s].iloc[0] != "control", s),
    )
    cluster = people["site"].map({s: j for j, s in enumerate(sites)}).to_numpy()
    y = wide[["baseline", "month4"]].to_numpy(float)
    reference = {c["name"].split(":")[0]: c for c in LMER["cluster_repeated"]["contrasts"]}
    for estimand, want in reference.items():
        fit = pw.fit_cluster_trials([(y, arm, cluster)], 2, estimand=estimand)
        assert fit["method"][0] == "fast"
        got = [fit["estimate"][0, 0], fit["se"][0, 0]]
        np.testing.assert_allclose(got, [want["estimate"], want["se"]], rtol=1e-6)
        np.testing.assert_allclose(fit["df"][0, 0], want["df"], rtol=1e-4)
        np.testing.assert_allclose(fit["p_value"][0, 0], want["p"], rtol=1e-4)


CASES = {
    # (plan options, clusters per arm): sizes varying, attrition, three arms and visits, a
    # cluster variance of 0 (boundary fits), participant variance of 0
    "cv_attrition": ({"cv": 0.5, "attrition": 0.2}, 6),
    "three_arms_visits": (
        {"effects": (0.5, 0.2), "visits": ("t0", "t1", "t2"), "attrition": [0.1, 0.3]},
        3,
    ),
    "icc_zero_change": ({"icc": 0.0, "estimand": "diff_in_change", "cv": 0.8}, 4),
    "no_participant_variance": ({"sds": (0.0, 1.0), "icc": 0.2, "attrition": 0.1}, 5),
}


@pytest.mark.parametrize("case", CASES)
def test_cluster_fit_equals_fit_reml_and_contrast(case):
    """Every simulated trial (3 per case) as trialeval.mixed.fit_reml + contrast fits it, to
    1e-6 relative (both converge to ~1e-9); each trial's numbers do not depend on the batch."""
    options, clusters = CASES[case]
    plan = cluster_plan(**options)
    components = pw.variance_components(plan, None)
    trials = [pw.simulate_cluster_trial(plan, components, clusters, k) for k in range(3)]
    data = [(scores["y"], arm, cluster) for arm, cluster, scores in trials]
    n_arms = len(plan["arms"])
    batch = pw.fit_cluster_trials(data, n_arms, estimand=plan["estimand"])
    assert (batch["method"] == "fast").all()
    for i, (y, arm, cluster) in enumerate(data):
        general = pw.general_fit(y, arm, n_arms, estimand=plan["estimand"], cluster=cluster)
        want = np.array(general["contrasts"])[:, :4]
        got = np.column_stack([batch[k][i] for k in ("estimate", "se", "df", "p_value")])
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{case}, trial {i}")
        assert batch["boundary"][i] == general["boundary"]
        alone = pw.fit_cluster_trials([data[i]], n_arms, estimand=plan["estimand"])
        assert alone["p_value"][0, 0] == batch["p_value"][i, 0]  # bit for bit
    if case == "icc_zero_change":
        assert batch["boundary"].any()  # the boundary is exercised


# --------------------------------------------------------------------------------------
# Power against theory (Monte Carlo tolerances stated)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", POWER_T)
def test_cluster_power_matches_noncentral_t_with_design_effect(name):
    """Equal clusters, no attrition: the planned analysis' diff_in_means at the post visit is
    then exactly the difference of the arms' post means (GLS = OLS in this balanced design),
    whose power is the two-sample t test of cluster means (noncentral t, df 2k - 2, design
    effect 1 + (m - 1) ICC). Reference: R's power.t.test (tests/data/reference/
    cluster_power_ref.R; the call is in cluster_power.json's r_call), and the same by hand
    here with scipy. The simulated power's 95% Wilson interval (1000 trials, about +-0.03)
    must hold it; the model's df come from both visits (a little above 2k - 2), which moves
    power by well under that."""
    from scipy import stats

    ref = POWER_T[name]
    k, m, icc = ref["k"], ref["m"], ref["icc"]
    total = (ref["sd_participant"] ** 2 + ref["sd_residual"] ** 2) / (1 - icc)
    se = np.sqrt(2 * total * (1 + (m - 1) * icc) / (m * k))
    df, q = 2 * k - 2, stats.t.ppf(0.975, 2 * k - 2)
    by_hand = stats.nct.sf(q, df, ref["delta"] / se) + stats.nct.cdf(-q, df, ref["delta"] / se)
    assert by_hand == pytest.approx(ref["power"], rel=1e-6)

    plan = cluster_plan(
        clusters=(k,), size=m, icc=icc, effects=(ref["delta"],), n_sims=1000, chunk_size=1000
    )
    sims = simulate(plan, k)
    rejected = int(sims["reject"].sum())
    lo, hi = wilson_interval(rejected, 1000)
    assert lo <= ref["power"] <= hi, (rejected / 1000, ref["power"])
    # ignoring the clustering (design effect 1) would claim much more power: the test can fail
    assert stats.nct.sf(q, df, ref["delta"] / np.sqrt(2 * total / (m * k))) > hi + 0.2
    assert sims["se"].mean() == pytest.approx(se, rel=0.03)  # SE of a cluster-level comparison


def test_cluster_type_one_error_with_four_clusters_per_arm():
    """No effect, 4 clusters per arm of 10, ICC 0.1: the Satterthwaite test keeps its size
    because its df follow the clusters (median about 8; participant-level df, about 78,
    would reject about 9% of the time). 1000 trials: 0.05 must lie in the 95% Wilson interval
    of the rejection rate (about +-0.014)."""
    plan = cluster_plan(clusters=(4,), effects=(0.0,), n_sims=1000, chunk_size=1000, seed=5)
    sims = simulate(plan, 4)
    lo, hi = wilson_interval(int(sims["reject"].sum()), 1000)
    assert lo <= 0.05 <= hi, sims["reject"].mean()
    assert 6 <= sims["df"].median() <= 12


def test_cluster_sizes_fixed_or_gamma():
    rng = np.random.default_rng(1)
    assert (pw.cluster_sizes(rng, 12, 20, 0.0) == 20).all()
    sizes = pw.cluster_sizes(rng, 40_000, 20, 0.4)
    # gamma with mean 20 and CV 0.4, rounded: mean and CV within 1% and 3% (rounding adds
    # variance 1/12; the Monte Carlo SE of the mean is 0.04)
    assert sizes.mean() == pytest.approx(20, rel=0.01)
    assert sizes.std() / sizes.mean() == pytest.approx(0.4, rel=0.03)
    assert sizes.min() >= 1


# --------------------------------------------------------------------------------------
# Chunks, summary and figure
# --------------------------------------------------------------------------------------


def test_cluster_plan_chunks_summary_and_figure(tmp_path):
    """One chunk or three give the same bytes; power.csv and power_summary.csv are by clusters
    per arm, with expected participants; the figure's x axis is clusters per arm and its title
    gives the cluster size."""
    plan = cluster_plan(clusters=(3, 6), cv=0.3, attrition=0.1, n_sims=30, chunk_size=30)
    one = run_all(plan, tmp_path / "one", chunk_size=30)
    three = run_all(plan, tmp_path / "three", chunk_size=10)
    for name in ("power.csv", "power_summary.csv", "power_curve.png", "power_curve.svg"):
        assert (one / name).read_bytes() == (three / name).read_bytes(), name
    assert sorted(p.name for p in three.glob("k*.chunk*.csv"))[:2] == [
        "k3.chunk0.csv",
        "k3.chunk1.csv",
    ]
    power = pd.read_csv(one / "power.csv")
    assert list(power.columns) == pw.POWER_COLUMNS
    assert power["clusters_per_arm"].tolist() == [3, 6]
    assert power["n_total"].tolist() == [60, 120] and power["n_arm"].tolist() == [30, 60]
    assert power["icc"].to_numpy() == pytest.approx(0.1)
    assert (power["estimand"] == "diff_in_means").all()
    summary = pd.read_csv(one / "power_summary.csv")
    assert list(summary.columns) == pw.SUMMARY_COLUMNS
    assert summary["cluster_size"].tolist() == [10]
    figure = pw.plot_power(power, pw.smallest_sample_sizes(power, plan), plan, figure_title(plan))
    assert figure.axes[0].get_xlabel() == "Clusters per arm (k)"
    assert "clusters of 10 participants (mean, CV 0.3)" in figure._suptitle.get_text()
    assert figure.axes[0].get_title() == "Score (ICC 0.1)"
    # what the simulation assumed, under the figure: sd_cluster from the ICC, 0.1 = c^2 /
    # (c^2 + 1 + 1), so c = sqrt(2 / 9) = 0.471; one score's SD sqrt(2 + 2 / 9) = 1.49;
    # the correlation of a participant's visits (c^2 + 1) / (c^2 + 2) = 11 / 20 = 0.55;
    # d = 0.5 / 1.49 = 0.335, 2 decimals; the SDs to 3 significant digits (the plan has no
    # decimals)
    text = _svg_words(one / "power_curve.svg")
    assert (
        "Score, SD of one score 1.49 (between clusters 0.471, between participants 1, within "
        "1; ICC 0.1), correlation between a participant's visits 0.55" in text
    )
    assert "Arm 1: +0.5 points (d\u00a0=\u00a0+0.34); k = " in text or (
        "Arm 1: +0.5 points (d\u00a0=\u00a0+0.34); not reached" in text
    )
    assert "from its 30 simulated trials" in text and "30 simulated trials per k" in text


def test_smallest_clusters_per_arm():
    plan = cluster_plan(clusters=(4, 8, 12))
    power = pd.DataFrame(
        {
            "trial": "sim",
            "outcome": "y",
            "arm": "arm1",
            "contrast": "arm1 - ctl",
            "clusters_per_arm": [4, 8, 12],
            "n_total": [80, 160, 240],
            "n_arm": [40, 80, 120],
            "power": [0.5, 0.82, 0.95],
            "ci_low": [0.45, 0.79, 0.93],
            "ci_high": [0.55, 0.85, 0.97],
        }
    )
    summary = pw.smallest_sample_sizes(power, plan)
    assert summary.loc[0, "smallest_clusters_per_arm"] == 8
    assert summary.loc[0, "smallest_n_total"] == 160
    power["power"] = [0.1, 0.2, 0.3]
    summary = pw.smallest_sample_sizes(power, plan)
    assert "12 clusters per arm" in summary.loc[0, "note"]


def test_variance_components_of_a_cluster_plan(tmp_path):
    plan = cluster_plan(icc=0.2, sds=(1.0, 2.0))
    (sd_p, sd_r, sd_c) = pw.variance_components(plan, None)["y"]
    assert sd_c**2 / (sd_c**2 + sd_p**2 + sd_r**2) == pytest.approx(0.2)
    diagnostics = tmp_path / "model_diagnostics.csv"
    pd.DataFrame(
        {
            "outcome": ["y"],
            "analysis_set": ["itt"],
            "analysis": ["mixed_model"],
            "sd_participant": [4.6],
            "sd_residual": [4.2],
            "sd_site": [2.7],
        }
    ).to_csv(diagnostics, index=False)
    plan["outcomes"][0].update(from_fit=True, sd_participant=None, sd_residual=None, icc=None)
    assert pw.variance_components(plan, diagnostics) == {"y": (4.6, 4.2, 2.7)}
    plan["outcomes"][0]["icc"] = 0.05  # a planned ICC over the fitted one
    _, _, sd_c = pw.variance_components(plan, diagnostics)["y"]
    assert sd_c**2 / (sd_c**2 + 4.6**2 + 4.2**2) == pytest.approx(0.05)


# --------------------------------------------------------------------------------------
# The plan in a cluster_rct trial file
# --------------------------------------------------------------------------------------


def _edited(edit):
    cell = CELLS["cluster_ancova"]
    trial = yaml.safe_load(yaml.safe_dump(cell.trial))
    edit(trial)
    return type(cell)(cell.id, trial, {k: v.copy() for k, v in cell.files.items()})


def test_cluster_plan_resolves_with_defaults(tmp_path):
    def edit(trial):
        trial["power"].pop("estimand")
        trial["power"].pop("cluster_size_cv")

    plan = _spec(tmp_path, _edited(edit))["power"]
    assert plan["design"] == "cluster_rct" and plan["estimand"] == "diff_in_means"
    assert plan["clusters_per_arm"] == [3, 6] and plan["points"] == ["k3", "k6"]
    assert (plan["cluster_size"], plan["cluster_size_cv"]) == (15, 0.0)
    assert plan["sample_sizes"] == [] and plan["outcomes"][0]["icc"] == 0.05
    assert CLUSTER_POWER["cluster_repeated"]["outcomes"][0]["from_fit"]


def _power(t):
    return t["power"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: _power(t).update(sample_sizes=[100]),
            "power.sample_sizes: a cluster-randomized plan (design cluster_rct) is sized in "
            "clusters; give clusters_per_arm",
        ),
        (lambda t: _power(t).pop("clusters_per_arm"), "power.clusters_per_arm: missing"),
        (lambda t: _power(t).pop("cluster_size"), "power.cluster_size: missing"),
        (
            lambda t: _power(t)["arms"][1].update(ratio=2),
            "power.arms[1] (coaching).ratio: a cluster-randomized plan gives every arm "
            "clusters_per_arm clusters",
        ),
        (
            lambda t: _power(t)["outcomes"][0].pop("icc"),
            "power.outcomes[0] (wellbeing): icc missing",
        ),
        (lambda t: _power(t).update(cluster_size=1), "does not match trial.schema.yaml"),
        (lambda t: _power(t)["outcomes"][0].update(icc=1.0), "does not match trial.schema.yaml"),
        (lambda t: _power(t).update(estimand="adjusted_diff"), "does not match trial.schema.yaml"),
    ],
)
def test_cluster_plan_errors_name_the_key(tmp_path, edit, message):
    with pytest.raises(TrialInputError) as info:
        _spec(tmp_path, _edited(edit))
    assert message in str(info.value)
    assert "cluster_ancova.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda p: p["outcomes"][0].update(icc=0.05),
            "power.outcomes[0] (sc).icc: an ICC belongs to a cluster-randomized plan",
        ),
        (
            lambda p: p.update(clusters_per_arm=[4]),
            "power.clusters_per_arm: clusters belong to a cluster-randomized plan",
        ),
        (
            lambda p: p.update(cluster_size_cv=0.3),
            "power.cluster_size_cv: clusters belong to a cluster-randomized plan",
        ),
    ],
)
def test_cluster_keys_refused_in_an_individually_randomized_plan(tiny, edit, message):
    tiny.trial["power"] = {
        "arms": [{"id": "ctl", "ratio": 1}, {"id": "peer", "ratio": 1, "effects": {"sc": 0.2}}],
        "outcomes": [{"id": "sc", "sd_participant": 0.4, "sd_residual": 0.35}],
        "sample_sizes": [100],
    }
    edit(tiny.trial["power"])
    with pytest.raises(TrialInputError) as info:
        tiny.spec()
    assert message in str(info.value) and "tiny.yaml" in str(info.value)


def _tiny_plan(tiny, effect, estimand=None):
    tiny.trial["power"] = {
        "arms": [{"id": "ctl", "ratio": 1}, {"id": "peer", "ratio": 1, "effects": {"sc": 0.2}}],
        "outcomes": [{"id": "sc", "sd_participant": 0.4, "sd_residual": 0.35}],
        "sample_sizes": [100],
        **({"estimand": estimand} if estimand else {}),
    }
    if effect:
        tiny.trial.setdefault("analyses", {})["estimand"] = {"effect": effect}
    return tiny


@pytest.mark.parametrize(
    ("effect", "estimand", "tested"),
    [
        (None, None, "diff_in_change"),  # the design's default
        ("diff_in_means", None, "diff_in_means"),  # the trial's primary effect measure
        ("diff_in_means", "diff_in_means", "diff_in_means"),
        (None, "diff_in_means", "diff_in_means"),  # a plan's own choice, the trial naming none
    ],
)
def test_plan_tests_the_trials_primary_effect(tiny, effect, estimand, tested):
    assert _tiny_plan(tiny, effect, estimand).spec()["power"]["estimand"] == tested


def test_plan_naming_another_effect_than_the_trial_is_refused(tiny):
    with pytest.raises(TrialInputError) as info:
        _tiny_plan(tiny, "diff_in_means", "diff_in_change").spec()
    assert str(info.value).endswith(
        "power.estimand: 'diff_in_change' is not the trial's primary effect measure "
        "(analyses.estimand.effect: 'diff_in_means'); a power plan tests the primary effect, so "
        "remove power.estimand or give it 'diff_in_means'"
    )
    assert "tiny.yaml" in str(info.value)
