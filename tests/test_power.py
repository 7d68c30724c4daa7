"""Power simulation: the fast REML path against the pipeline's model, power against theory,
chunking invariance, config errors and the `power` target end to end."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from test_pipeline import copy_project

from trialeval import power as pw
from trialeval import power_plan
from trialeval.errors import TrialInputError
from trialeval.models import mixed_model_effects
from trialeval.power.benchmark import benchmark as power_benchmark
from trialeval.proportions import wilson_interval

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def make_plan(
    effects: dict[str, float],
    *,
    ratios=None,
    visits=("t0", "t1"),
    attrition=0.0,
    sds=(1.0, 1.0),
    sizes=(120,),
    n_sims=200,
    chunk_size=50,
    alpha=0.05,
    seed=7,
) -> dict:
    """A resolved plan for outcome `y`: control plus one intervention arm per entry of effects."""
    ratios = ratios or [1.0] * (len(effects) + 1)
    arms = [{"id": "ctl", "label": "Control", "ratio": ratios[0], "control": True, "effects": {}}]
    for k, (arm_id, effect) in enumerate(effects.items(), start=1):
        arms.append(
            {
                "id": arm_id,
                "label": arm_id,
                "ratio": ratios[k],
                "control": False,
                "colour": power_plan.OKABE_ITO[k],
                "marker": power_plan.MARKERS[k],
                "effects": {"y": effect},
            }
        )
    n_post = len(visits) - 1
    return {
        "design": "rct",
        "arms": arms,
        "control_arm": "ctl",
        "visits": list(visits),
        "attrition": attrition if isinstance(attrition, list) else [attrition] * n_post,
        "outcomes": [
            {
                "id": "y",
                "label": "Score",
                "from_fit": False,
                "sd_participant": sds[0],
                "sd_residual": sds[1],
                "icc": None,
            }
        ],
        "estimand": "diff_in_change",
        "sample_sizes": list(sizes),
        "clusters_per_arm": [],
        "cluster_size": None,
        "cluster_size_cv": None,
        "points": [f"n{n}" for n in sorted(sizes)],
        "n_sims": n_sims,
        "chunk_size": chunk_size,
        "n_chunks": -(-n_sims // chunk_size),
        "alpha": alpha,
        "seed": seed,
        "target_power": 0.8,
        "from_fit": False,
    }


def pipeline_fit(
    y: np.ndarray,
    arm: np.ndarray,
    arm_ids: list[str],
    visits: list[str],
    estimand: str = "diff_in_change",
):
    """The pipeline's own analysis (trialeval.models: fit_reml + contrast) of one dataset:
    the estimand at the last visit per intervention arm, and the diagnostics row."""
    ids = [f"P{i:04d}" for i in range(len(arm))]
    rows, cols = np.nonzero(~np.isnan(y))
    scores = pd.DataFrame(
        {
            "participant_id": [ids[i] for i in rows],
            "timepoint": [visits[t] for t in cols],
            "score": y[rows, cols],
        }
    )
    participants = pd.DataFrame({"participant_id": ids, "arm": [arm_ids[a] for a in arm]})
    spec = {
        "id": "sim",
        "control_arm": arm_ids[0],
        "arms": [{"id": a, "control": k == 0} for k, a in enumerate(arm_ids)],
        "timepoints": [{"id": v, "baseline": k == 0} for k, v in enumerate(visits)],
        "baseline": visits[0],
        "covariates": [],
    }
    effects, _, diagnostics = mixed_model_effects(
        scores,
        participants,
        spec,
        {"id": "y", "role": "primary"},
        analysis_set="itt",
        model="repeated",
        site="none",
    )
    change = effects[(effects["estimand"] == estimand) & (effects["timepoint"] == visits[-1])]
    return change.set_index("contrast"), diagnostics.iloc[0]


# --------------------------------------------------------------------------------------
# The fast path is the pipeline's model
# --------------------------------------------------------------------------------------


def dataset(case: str):
    """(y, arm codes, arm ids, visits) for one comparison case."""
    rng = np.random.default_rng([ord(c) for c in case])
    if case == "balanced":
        sizes, visits, sds, miss = [60, 60], ["t0", "t1"], (1.0, 1.0), np.zeros(2)
    elif case == "attrition_25":
        sizes, visits, sds, miss = [195, 195], ["t0", "t1"], (0.43, 0.37), np.array([0, 0.25])
    elif case == "unequal_arms":
        sizes, visits, sds, miss = [90, 45], ["t0", "t1"], (4.8, 3.5), np.array([0.1, 0.3])
    elif case == "three_arms_three_visits":
        sizes, visits, sds, miss = [50, 40, 30], ["t0", "t1", "t2"], (2.0, 1.5), None
    else:  # near-zero participant variance: the REML estimate is often on the boundary
        sizes, visits, sds, miss = [30, 30], ["t0", "t1"], (0.0, 1.0), np.array([0.0, 0.2])
    arm = np.repeat(np.arange(len(sizes)), sizes)
    n, t = arm.size, len(visits)
    means = 20.0 + 0.8 * arm[:, None] * np.linspace(0, 1, t)
    y = means + sds[0] * rng.standard_normal(n)[:, None] + sds[1] * rng.standard_normal((n, t))
    if miss is None:
        # Unequal, intermittent missingness: more in the later visits and in arm 2, some
        # baselines missing too.
        rates = np.array([0.05, 0.2, 0.35])[None, :] + 0.1 * (arm[:, None] == 2)
        missing = rng.random((n, t)) < rates
    else:
        missing = rng.random((n, t)) < miss[None, :]
    y[missing] = np.nan
    arm_ids = ["ctl", "coach", "peer"][: len(sizes)]
    return y, arm, arm_ids, visits


CASES = ["balanced", "attrition_25", "unequal_arms", "three_arms_three_visits", "boundary"]


@pytest.mark.parametrize("case", CASES)
def test_fast_path_equals_fit_reml_and_contrast(case):
    # diff_in_means (the estimand a plan may name instead) on two of the cases
    estimand = "diff_in_means" if case in ("unequal_arms", "boundary") else "diff_in_change"
    y, arm, arm_ids, visits = dataset(case)
    fast = pw.fit_trials([y], arm, len(arm_ids), alpha=0.05, estimand=estimand)
    assert fast.ok.all(), "the fast path should settle every comparison case itself"
    reference, diagnostics = pipeline_fit(y, arm, arm_ids, visits, estimand)
    for j, arm_id in enumerate(arm_ids[1:]):
        row = reference.loc[f"{arm_id} - {arm_ids[0]}"]
        got = [fast.estimate[0, j], fast.se[0, j], fast.df[0, j], fast.p_value[0, j]]
        want = [row["estimate"], row["se"], row["df"], row["p_value"]]
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{case}, {arm_id}")
    np.testing.assert_allclose(fast.sd_residual[0], diagnostics["sd_residual"], rtol=1e-6)
    np.testing.assert_allclose(
        fast.sd_participant[0], diagnostics["sd_participant"], rtol=1e-6, atol=1e-9
    )


def test_fast_path_covers_boundary_fits_and_batches():
    """Many small trials at once (a good share with participant variance estimated at 0): each
    equals the general engine, whatever else is in the batch."""
    rng = np.random.default_rng(3)
    arm = np.repeat([0, 1], [25, 25])
    ys = []
    for _ in range(40):
        y = rng.standard_normal((50, 2)) + 0.2 * rng.standard_normal(50)[:, None]
        y[rng.random((50, 2)) < 0.2] = np.nan
        ys.append(y)
    batch = pw.fit_trials(ys, arm, 2)
    assert (batch.sd_participant == 0).sum() >= 5
    for i, y in enumerate(ys):
        general = pw.general_fit(y, arm, 2)
        got = [batch.estimate[i, 0], batch.se[i, 0], batch.df[i, 0], batch.p_value[i, 0]]
        np.testing.assert_allclose(got, general["contrasts"][0], rtol=1e-6)
        alone = pw.fit_trials([y], arm, 2)
        assert alone.p_value[0, 0] == batch.p_value[i, 0]  # bit for bit


def test_benchmark_prints_fits_per_second(capsys):
    result = power_benchmark(n_sims=300, n_general=5)
    with capsys.disabled():
        print("\n" + capsys.readouterr().out.strip())
    assert result["fast_fits_per_s"] > 0 and result["general_fits_per_s"] > 0


# --------------------------------------------------------------------------------------
# Power against theory (Monte Carlo tolerances stated)
# --------------------------------------------------------------------------------------


def power_of(plan: dict, n_total: int) -> float:
    components = pw.variance_components(plan, None)
    sims = pw.simulate_chunk(plan, components, n_total, 0, plan["n_sims"])
    return float(sims["reject"].mean())


def test_zero_effect_rejects_at_alpha():
    plan = make_plan({"a": 0.0}, attrition=0.25, n_sims=3000, sizes=(100,))
    observed = power_of(plan, 100)
    # Satterthwaite t test: size alpha up to small-sample error; Monte Carlo SE of a
    # proportion 0.05 from 3000 trials is 0.004, so 4 SE = 0.016.
    assert abs(observed - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 3000), observed


def test_large_effect_rejects_almost_always():
    plan = make_plan({"a": 1.5}, attrition=0.25, n_sims=500, sizes=(100,))
    # Normal-approximation power here is > 0.9999; from 500 trials expect no misses, allow 1%.
    assert power_of(plan, 100) >= 0.99


def normal_approximation_power(delta, n_per_arm, attrition, sd_p, sd_r, alpha):
    """Power of the 2-visit diff-in-change test by the normal approximation:

        power = Phi(|delta| / SE - z) + Phi(-|delta| / SE - z),  z = Phi^-1(1 - alpha / 2),
        SE^2 = sum over the two arms of d' M^-1 d,  d = (-1, 1) (month minus baseline),
        M = m Sigma^-1 + r e1 e1' / (sd_p^2 + sd_r^2)   (GLS information on one arm's means),

    Sigma = [[sd_p^2 + sd_r^2, sd_p^2], [sd_p^2, sd_p^2 + sd_r^2]], m = n (1 - attrition)
    participants observed twice and r = n attrition observed at baseline only (expected
    counts), e1 = (1, 0). Without attrition SE^2 = 2 sd_r^2 (1/n1 + 1/n0).
    """
    total = sd_p**2 + sd_r**2
    sigma = np.array([[total, sd_p**2], [sd_p**2, total]])
    m, r = n_per_arm * (1 - attrition), n_per_arm * attrition
    info = m * np.linalg.inv(sigma) + r * np.diag([1.0, 0.0]) / total
    d = np.array([-1.0, 1.0])
    se = np.sqrt(2 * d @ np.linalg.solve(info, d))
    z = stats.norm.ppf(1 - alpha / 2)
    return stats.norm.cdf(abs(delta) / se - z) + stats.norm.cdf(-abs(delta) / se - z)


@pytest.mark.parametrize("attrition", [0.0, 0.3])
def test_power_matches_normal_approximation(attrition):
    n_per_arm, sd_p, sd_r, delta, n_sims = 100, 1.0, 1.0, 0.3, 2000
    plan = make_plan(
        {"a": delta}, attrition=attrition, sds=(sd_p, sd_r), n_sims=n_sims, sizes=(200,)
    )
    expected = normal_approximation_power(delta, n_per_arm, attrition, sd_p, sd_r, 0.05)
    observed = power_of(plan, 2 * n_per_arm)
    # Tolerance: 3 Monte Carlo SE (about 0.033 at power 0.5-0.6 with 2000 trials) plus 0.01 for
    # the approximation itself (t with ~150-200 df instead of z, estimated variances, random
    # number of completers).
    tolerance = 3 * np.sqrt(expected * (1 - expected) / n_sims) + 0.01
    assert abs(observed - expected) < tolerance, (observed, expected)


# --------------------------------------------------------------------------------------
# Reproducibility: chunking does not change results
# --------------------------------------------------------------------------------------


def run_all(plan: dict, folder, chunk_size: int):
    plan = {**plan, "chunk_size": chunk_size, "n_chunks": -(-plan["n_sims"] // chunk_size)}
    paths = []
    for point in plan["points"]:
        for chunk in range(plan["n_chunks"]):
            path = folder / f"{point}.chunk{chunk}.csv"
            pw.run_chunk(plan, point=point, chunk=chunk, diagnostics_path=None, out=str(path))
            paths.append(str(path))
    pw.run_summary(
        plan,
        "sim",
        chunk_paths=paths,
        power_out=str(folder / "power.csv"),
        summary_out=str(folder / "power_summary.csv"),
        figure_stem=str(folder / "power_curve"),
    )
    return folder


def test_one_chunk_equals_four_chunks(tmp_path):
    plan = make_plan(
        {"a": 0.3, "b": 0.5}, attrition=0.25, sizes=(60, 120), n_sims=40, sds=(0.43, 0.37)
    )
    one = run_all(plan, tmp_path / "one", chunk_size=40)
    four = run_all(plan, tmp_path / "four", chunk_size=10)
    sims_one = pd.concat([pd.read_csv(p) for p in sorted(one.glob("n*.chunk*.csv"))])
    sims_four = pd.concat([pd.read_csv(p) for p in sorted(four.glob("n*.chunk*.csv"))])
    key = ["n_total", "outcome", "arm", "sim"]
    pd.testing.assert_frame_equal(
        sims_one.sort_values(key).reset_index(drop=True),
        sims_four.sort_values(key).reset_index(drop=True),
        check_exact=True,
    )
    for name in ("power.csv", "power_summary.csv", "power_curve.png", "power_curve.svg"):
        assert (one / name).read_bytes() == (four / name).read_bytes(), name


def test_summary_counts_and_wilson_interval(tmp_path):
    plan = make_plan({"a": 0.4}, sizes=(40, 80), n_sims=30, chunk_size=30)
    folder = run_all(plan, tmp_path, chunk_size=30)
    power = pd.read_csv(folder / "power.csv")
    assert list(power.columns) == pw.POWER_COLUMNS
    assert (power["n_sims"] == 30).all() and (power["n_failed"] == 0).all()
    lo, hi = np.array([wilson_interval(int(r), 30) for r in power["n_rejected"]]).T
    np.testing.assert_allclose(power["ci_low"], lo, rtol=1e-9)
    np.testing.assert_allclose(power["ci_high"], hi, rtol=1e-9)
    # Wilson 95% CI for 15/30, by hand: 0.3315 to 0.6685
    lo, hi = wilson_interval(15, 30)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.3315, 0.6685)
    assert pw.allocation(100, [1, 1, 1]) == [34, 33, 33]
    assert pw.allocation(150, [2, 1]) == [100, 50]


def test_smallest_sample_size_needs_target_at_every_larger_size():
    plan = make_plan({"a": 0.3}, sizes=(100, 200, 300, 400))
    power = pd.DataFrame(
        {
            "trial": "sim",
            "outcome": "y",
            "arm": "a",
            "contrast": "a - ctl",
            "n_total": [100, 200, 300, 400],
            "n_arm": [50, 100, 150, 200],
            "power": [0.5, 0.81, 0.79, 0.9],  # a Monte Carlo dip at 300
            "ci_low": [0.45, 0.78, 0.76, 0.88],
            "ci_high": [0.55, 0.84, 0.82, 0.92],
        }
    )
    summary = pw.smallest_sample_sizes(power, plan)
    assert summary.loc[0, "smallest_n_total"] == 400
    assert summary.loc[0, "alpha"] == 0.05  # the plan states its test level
    power["power"] = [0.1, 0.2, 0.3, 0.4]
    summary = pw.smallest_sample_sizes(power, plan)
    assert pd.isna(summary.loc[0, "smallest_n_total"])
    assert "not reached" in summary.loc[0, "note"]


def test_power_title_states_alpha_per_comparison_with_several_arms():
    """A plan with two intervention arms tests each against control at alpha, unadjusted
    across arms: the figure's title says so; a two-arm plan just gives alpha."""
    from trialeval.power.figure import _figure_title

    three = make_plan({"a": 0.3, "b": 0.2}, alpha=0.025)
    assert "two-sided \u03b1\u00a0=\u00a00.025, per comparison (not adjusted across arms)" in (
        _figure_title(three)
    )
    two = _figure_title(make_plan({"a": 0.3}))
    assert "\u03b1\u00a0=\u00a00.05," in two and "per comparison" not in two


# --------------------------------------------------------------------------------------
# Config: the power block in a trial file
# --------------------------------------------------------------------------------------


def tiny_power() -> dict:
    return {
        "arms": [
            {"id": "ctl", "ratio": 1},
            {"id": "peer", "ratio": 1, "effects": {"sc": 0.2, "fl": 2.0}},
            {"id": "mentor", "ratio": 2, "new": True, "effects": {"sc": 0.3, "fl": 3.0}},
        ],
        "attrition": 0.2,
        "outcomes": [
            {"id": "sc", "sd_participant": 0.4, "sd_residual": 0.35},
            {"id": "fl", "from_fit": True},
        ],
        "sample_sizes": [200, 100],
        "n_sims": 500,
    }


def test_power_block_resolves_with_defaults(tiny):
    tiny.trial["power"] = tiny_power()
    plan = tiny.spec()["power"]
    assert [a["id"] for a in plan["arms"]] == ["ctl", "peer", "mentor"]
    assert plan["arms"][2]["label"] == "mentor" and plan["arms"][2]["new"]
    assert plan["visits"] == ["t0", "t1"]  # default: the trial's timepoints
    assert plan["attrition"] == [0.2]
    assert plan["sample_sizes"] == [100, 200]
    assert (plan["n_chunks"], plan["alpha"], plan["target_power"]) == (2, 0.05, 0.8)
    assert plan["from_fit"] and plan["seed"] == 1
    assert len({a["colour"] for a in plan["arms"]}) == 3


def test_the_legend_prints_assumed_effects_by_the_decimals_rule(tiny):
    """README's decimals rule: the SCS-SF mean of 12 items (resolution 1/12) prints 2 decimals,
    the Flourishing sum of whole-point items 1 ("+3.0 points", not "+3 points"); the
    legend of the drawn figure says so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    from trialeval.power import figure

    tiny.trial["power"] = tiny_power()
    plan = tiny.spec()["power"]
    assert {o["id"]: o["decimals"] for o in plan["outcomes"]} == {"sc": 2, "fl": 1}
    mentor = plan["arms"][2]
    sc, fl = plan["outcomes"]
    assert figure._effect_words(mentor, sc) == "+0.30 points"
    assert figure._effect_words(mentor, fl) == "+3.0 points"
    assert figure._effect_words({**mentor, "effects": {"fl": -2}}, fl) == "\u22122.0 points"
    sizes = plan["sample_sizes"]
    # the SDs the simulation used: sc's as the block gives them, fl's as if fitted (4, 3)
    sds = {"sc": (0.4, 0.35), "fl": (4.0, 3.0)}
    power = pd.DataFrame(
        [
            {"outcome": o["id"], "arm": a["id"], "n_total": n, "power": 0.5,
             "ci_low": 0.4, "ci_high": 0.6, "icc": None, "sd_cluster": None,
             "sd_participant": sds[o["id"]][0], "sd_residual": sds[o["id"]][1]}
            for o in plan["outcomes"] for a in plan["arms"][1:] for n in sizes
        ]
    )  # fmt: skip
    summary = pd.DataFrame(
        [
            {"outcome": o["id"], "arm": a["id"], "smallest_n_total": None}
            for o in plan["outcomes"] for a in plan["arms"][1:]
        ]
    )  # fmt: skip
    fig = figure.plot_power(power, summary, plan)
    shown = [t.get_text() for t in fig.findobj(Text)]
    # d = 0.30 / sqrt(0.4^2 + 0.35^2) = 0.30 / 0.5315 = 0.564; 3.0 / sqrt(16 + 9) = 0.60
    assert "mentor: +0.30 points (d\u00a0=\u00a0+0.56); not reached" in shown
    assert "mentor: +3.0 points (d\u00a0=\u00a0+0.60); not reached" in shown
    plt.close(fig)


def test_trial_without_power_block_has_none(tiny):
    assert tiny.spec()["power"] is None


def _arm(t, i):
    return t["power"]["arms"][i]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t["power"]["outcomes"].append({"id": "nope", "from_fit": True}),
            "power.outcomes[2] (nope): 'nope' is not an outcome of the trial",
        ),
        (lambda t: _arm(t, 1).pop("ratio"), "power.arms[1] (peer): ratio is missing"),
        (
            lambda t: _arm(t, 2).pop("new"),
            "power.arms[2] (mentor): 'mentor' is not an arm of the trial",
        ),
        (lambda t: _arm(t, 1).update(new=True), "'peer' is already an arm of the trial"),
        (
            lambda t: _arm(t, 1)["effects"].pop("fl"),
            "power.arms[1] (peer).effects: no expected effect for outcome(s) ['fl']",
        ),
        (
            lambda t: _arm(t, 1)["effects"].update(ee=1.0),
            "power.arms[1] (peer).effects: ['ee'] are not outcomes of the power block",
        ),
        (
            lambda t: _arm(t, 0).update(effects={"sc": 0.1}),
            "power.arms[0] (ctl).effects: the control arm has no effects",
        ),
        (
            lambda t: _arm(t, 2).update(control=True, effects={}),
            "power.arms: exactly one arm must be the control",
        ),
        (lambda t: _arm(t, 0).update(control=False), "power.arms[0] (ctl).control"),
        (
            lambda t: t["power"]["outcomes"][0].pop("sd_residual"),
            "power.outcomes[0] (sc): sd_residual missing",
        ),
        (
            lambda t: t["power"]["outcomes"][1].update(sd_residual=1.0),
            "power.outcomes[1] (fl): give either from_fit: true or",
        ),
        (
            lambda t: t["power"].update(attrition=[0.1, 0.2]),
            "power.attrition: one fraction per post-baseline visit",
        ),
        (
            lambda t: t["power"].update(sample_sizes=[6]),
            "power.sample_sizes: total 6 gives arms of [2, 1, 3]",
        ),
        (lambda t: t["power"].pop("sample_sizes"), "power.sample_sizes: list the total"),
        (
            lambda t: t["analyses"].update(mixed_model={"model": "ancova"}),
            "power.outcomes[1] (fl).from_fit: needs the trial's repeated-measures mixed model",
        ),
        (lambda t: t["power"].update(n_sim=10), "does not match trial.schema.yaml"),
        (lambda t: t["power"].update(alpha=1.5), "does not match trial.schema.yaml"),
    ],
)
def test_power_config_errors_name_file_and_key(tiny, edit, message):
    tiny.trial["power"] = tiny_power()
    tiny.trial.setdefault("analyses", {})
    edit(tiny.trial)
    with pytest.raises(TrialInputError) as info:
        tiny.spec()
    assert message in str(info.value)
    assert "tiny.yaml" in str(info.value)


def test_category_outcome_is_refused(tiny):
    tiny.trial["outcomes"].append({"id": "hee", "instrument": "mbi", "category": "high_ee"})
    tiny.trial["power"] = tiny_power()
    tiny.trial["power"]["outcomes"] = [{"id": "hee", "sd_participant": 1, "sd_residual": 1}]
    for arm in tiny.trial["power"]["arms"][1:]:
        arm["effects"] = {"hee": 0.1}
    with pytest.raises(TrialInputError) as info:
        tiny.spec()
    assert "power.outcomes[0] (hee): 'hee' is a category outcome" in str(info.value)
    assert "tiny.yaml" in str(info.value)


def test_variance_components_from_fitted_model(tmp_path):
    plan = make_plan({"a": 0.3})
    plan["outcomes"][0].update(from_fit=True, sd_participant=None, sd_residual=None)
    diagnostics = tmp_path / "model_diagnostics.csv"
    pd.DataFrame(
        {
            "outcome": ["y", "y", "y"],
            "analysis_set": ["itt", "per_protocol", "itt"],
            "analysis": ["mixed_model", "mixed_model", "ancova"],
            "sd_participant": [0.43, 9.0, 9.0],
            "sd_residual": [0.37, 9.0, 9.0],
        }
    ).to_csv(diagnostics, index=False)
    assert pw.variance_components(plan, diagnostics) == {"y": (0.43, 0.37)}
    plan["outcomes"][0]["id"] = "z"
    with pytest.raises(TrialInputError, match="model_diagnostics.csv: no fitted itt mixed model"):
        pw.variance_components(plan, diagnostics)


# --------------------------------------------------------------------------------------
# Integration: `snakemake --cores 2 power` in a copy of the project
# --------------------------------------------------------------------------------------


def _snakemake(workdir, *args):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _reduce_power_block(workdir, *, from_fit: bool) -> dict:
    """Fewer simulations and sizes in the copy's coaching_rct power block."""
    path = workdir / "config/trials/coaching_rct.yaml"
    trial = yaml.safe_load(path.read_text())
    block = trial["power"]
    block.update(n_sims=40, chunk_size=20, sample_sizes=[150, 300])
    if not from_fit:
        block["outcomes"] = [
            {"id": "self_compassion", "sd_participant": 0.43, "sd_residual": 0.37},
            {"id": "flourishing", "sd_participant": 4.8, "sd_residual": 3.5},
        ]
    path.write_text(yaml.safe_dump(trial, sort_keys=False))
    return block


def _svg_words(path) -> str:
    """The SVG's text (a comment per line of text, glyphs as paths), lines joined by spaces,
    so a wrapped sentence reads whole."""
    import re
    from html import unescape

    return " ".join(unescape(t.strip()) for t in re.findall(r"<!-- (.*?) -->", path.read_text()))


def _check_power_figure_assumptions(results, block, plan) -> None:
    """The power curve states what the simulation assumed, as the trial file's power block
    gives it: each arm's effect in points and standardized (d = effect / SD of one score,
    sqrt(sd_participant^2 + sd_residual^2)), the SDs, the correlation of a participant's
    visits (sd_participant^2 over that variance), alpha, the simulated trials per N and the
    Monte Carlo interval the bars and band show; the outcome's decimals (plan json)."""
    from conftest import half_up

    text = _svg_words(results / "figures" / "power_curve.svg")
    decimals = {o["id"]: o["decimals"] for o in plan["outcomes"]}
    labels = {o["id"]: o["label"] for o in plan["outcomes"]}
    arms = {a["id"]: a["label"] for a in plan["arms"]}
    sds = {o["id"]: (o["sd_participant"], o["sd_residual"]) for o in block["outcomes"]}
    for outcome, (between, within) in sds.items():
        sd = float(np.hypot(between, within))
        places = decimals[outcome]
        expected = (
            f"{labels[outcome]}, SD of one score {half_up(sd, places):.{places}f} (between "
            f"participants {between:.{places}f}, within {within:.{places}f}), correlation "
            f"between a participant's visits {half_up(between**2 / sd**2, 2):.2f}"
        )
        assert expected in text, expected
        for arm in block["arms"][1:]:
            effect = arm["effects"][outcome]
            words = (
                f"{arms[arm['id']]}: +{effect:.{places}f} points "
                f"(d\u00a0=\u00a0+{half_up(effect / sd, 2):.2f});"
            )
            assert words in text, words
    assert f"two-sided \u03b1\u00a0=\u00a0{block['alpha']:g}" in text
    assert f"{block['n_sims']:,} simulated trials per N" in text
    assert (
        f"Error bars: Monte Carlo 95% CI (Wilson) of each power from its {block['n_sims']:,} "
        "simulated trials; band: the same interval for a true power at the target." in text
    )
    for ident in (" self_compassion", " peer_support", " sd_participant"):
        assert ident not in text


def _check_outputs(results, block):
    power = pd.read_csv(results / "power.csv")
    assert len(power) == 2 * 2 * 2  # sizes x outcomes x intervention arms
    assert set(power["arm"]) == {"coaching", "peer_support"}
    assert (power["n_sims"] == block["n_sims"]).all()
    assert power["power"].between(0, 1).all()
    summary = pd.read_csv(results / "power_summary.csv")
    assert len(summary) == 4 and list(summary.columns) == pw.SUMMARY_COLUMNS
    for ext in ("png", "svg"):
        assert (results / "figures" / f"power_curve.{ext}").stat().st_size > 1000
    log = (results / "logs/power_summary.log").read_text()
    assert "smallest total N" in log or "not reached" in log


def test_power_target_end_to_end(tmp_path):
    """Given variance components: only the power jobs run (< 60 s); the figure's bytes repeat."""
    workdir = copy_project(tmp_path)
    block = _reduce_power_block(workdir, from_fit=False)
    done = _snakemake(workdir, "power")
    assert done.returncode == 0, done.stderr[-3000:]
    results = workdir / "results/coaching_rct"
    _check_outputs(results, block)
    plan = json.loads((results / "stage_config" / "power.json").read_text())["plan"]
    _check_power_figure_assumptions(results, block, plan)
    assert not (results / "scores.csv").exists()  # the trial's own pipeline did not run
    figure = {ext: (results / f"figures/power_curve.{ext}").read_bytes() for ext in ("png", "svg")}
    again = _snakemake(workdir, "power", "--forcerun", "power_summary")
    assert again.returncode == 0, again.stderr[-3000:]
    for ext, content in figure.items():
        assert (results / f"figures/power_curve.{ext}").read_bytes() == content, ext


@pytest.mark.slow
def test_power_target_from_fitted_model(tmp_path):
    """from_fit: the trial's pipeline runs first and the fitted variance components are used."""
    workdir = copy_project(tmp_path)
    block = _reduce_power_block(workdir, from_fit=True)
    done = _snakemake(workdir, "power")
    assert done.returncode == 0, done.stderr[-3000:]
    results = workdir / "results/coaching_rct"
    _check_outputs(results, block)
    diagnostics = pd.read_csv(results / "tables/model_diagnostics.csv")
    fitted = diagnostics[
        (diagnostics["analysis_set"] == "itt") & (diagnostics["analysis"] == "mixed_model")
    ].set_index("outcome")
    power = pd.read_csv(results / "power.csv")
    for row in power.itertuples():
        assert row.sd_participant == pytest.approx(fitted.loc[row.outcome, "sd_participant"])
        assert row.sd_residual == pytest.approx(fitted.loc[row.outcome, "sd_residual"])
