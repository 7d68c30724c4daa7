"""Mixed models through the pipeline's own function (models.mixed_model_effects).

R reference values: tests/data/reference (see SOURCE.md there; R 4.2.2, lme4 1.1-31,
lmerTest 3.1-3, emmeans 1.8.4). Tolerances as SOURCE.md states: estimates and SEs 0.5%
relative, Satterthwaite df 1%, p 0.002 absolute.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
import yaml

from conftest import ROOT, demo_spec
from trialeval import analysis_sets, ingest, instruments
from trialeval.models import mixed_model_effects

REFERENCE = ROOT / "tests" / "data" / "reference"


def orthodont_spec() -> dict:
    """The unbalanced Orthodont data as a two-arm trial: Female = control, Male = 'arm'."""
    return {
        "id": "orthodont",
        "control_arm": "Female",
        "arms": [{"id": "Female", "control": True}, {"id": "Male", "control": False}],
        "baseline": "age8",
        "timepoints": [
            {"id": v, "baseline": v == "age8"} for v in ("age8", "age10", "age12", "age14")
        ],
        "covariates": [],
    }


@pytest.fixture(scope="module")
def orthodont():
    data = pd.read_csv(REFERENCE / "orthodont_unbalanced.csv")
    scores = data.rename(
        columns={"Subject": "participant_id", "visit": "timepoint", "distance": "score"}
    )
    participants = (
        data[["Subject", "Sex"]]
        .drop_duplicates()
        .rename(columns={"Subject": "participant_id", "Sex": "arm"})
    )
    outcome = {"id": "distance", "role": "primary"}
    return mixed_model_effects(
        scores, participants, orthodont_spec(), outcome, analysis_set="itt", site="none"
    )


def test_orthodont_diff_in_change_matches_lmer(orthodont):
    effects, _, _ = orthodont
    ref = json.loads((REFERENCE / "orthodont_lmer.json").read_text())
    change = effects[effects["estimand"] == "diff_in_change"].set_index("timepoint")
    assert list(change.index) == ["age10", "age12", "age14"]
    assert set(change["contrast"]) == {"Male - Female"}
    for visit, r in ref["interaction_diff_in_change"].items():
        # lmer(distance ~ Sex * visit + (1|Subject), REML=TRUE); coef(summary(m))["SexMale:visit.."]
        row = change.loc[visit]
        assert row["estimate"] == pytest.approx(r["Estimate"], rel=5e-3)
        assert row["se"] == pytest.approx(r["Std. Error"], rel=5e-3)
        assert row["df"] == pytest.approx(r["df"], rel=1e-2)
        assert row["p_value"] == pytest.approx(r["Pr(>|t|)"], abs=2e-3)
    assert (change["n"] == ref["n_subjects"]).all() and (change["n_obs"] == ref["n_obs"]).all()


def test_orthodont_diff_in_means_matches_emmeans(orthodont):
    effects, means, _ = orthodont
    ref = json.loads((REFERENCE / "orthodont_lmer.json").read_text())
    by_visit = effects[effects["estimand"] == "diff_in_means"].set_index("timepoint")
    for r in ref["diff_in_means"]:
        # contrast(emmeans(m, ~ Sex | visit, lmer.df = "satterthwaite"), list(c(-1, 1))), confint()
        if r["visit"] == "age8":  # baseline: no effect row, but the adjusted means carry it
            m = means[means["timepoint"] == "age8"].set_index("arm")["estimate"]
            assert m["Male"] - m["Female"] == pytest.approx(r["estimate"], rel=5e-3)
            continue
        row = by_visit.loc[r["visit"]]
        assert row["estimate"] == pytest.approx(r["estimate"], rel=5e-3)
        assert row["se"] == pytest.approx(r["se"], rel=5e-3)
        assert row["df"] == pytest.approx(r["df"], rel=1e-2)
        assert row["p_value"] == pytest.approx(r["p"], abs=2e-3)
        assert row["ci_low"] == pytest.approx(r["ci_low"], rel=5e-3)
        assert row["ci_high"] == pytest.approx(r["ci_high"], rel=5e-3)


def test_orthodont_adjusted_means_are_cell_predictions(orthodont):
    """With no covariates the emmeans mean of a cell is the model's prediction for it: checked
    against statsmodels' MixedLM fit of the same model (REML, tight tolerance)."""
    _, means, diagnostics = orthodont
    data = pd.read_csv(REFERENCE / "orthodont_unbalanced.csv")
    data["visit"] = pd.Categorical(data["visit"], ["age8", "age10", "age12", "age14"])
    fit = smf.mixedlm("distance ~ Sex * visit", data, groups=data["Subject"]).fit(
        reml=True, method="bfgs", gtol=1e-10
    )
    grid = pd.DataFrame(
        [(s, v) for s in ("Female", "Male") for v in ("age8", "age10", "age12", "age14")],
        columns=["Sex", "visit"],
    )
    grid["visit"] = pd.Categorical(grid["visit"], ["age8", "age10", "age12", "age14"])
    predicted = fit.predict(grid)
    cells = list(zip(grid["Sex"], grid["visit"], strict=True))
    got = means.set_index(["arm", "timepoint"]).loc[cells]
    np.testing.assert_allclose(got["estimate"].to_numpy(), predicted.to_numpy(), rtol=1e-6)
    assert (means["n_observed"] > 0).all()
    # sd components as lme4: as.data.frame(VarCorr(m))$sdcor, within 1%
    ref = json.loads((REFERENCE / "orthodont_lmer.json").read_text())
    assert diagnostics.loc[0, "sd_participant"] == pytest.approx(ref["sd_subject"], rel=1e-2)
    assert diagnostics.loc[0, "sd_residual"] == pytest.approx(ref["sd_residual"], rel=1e-2)


def test_ancova_one_post_visit_is_ols(orthodont):
    """ANCOVA with one post visit: OLS of the post score on arm + baseline, as
    lm(distance_age14 ~ Sex + distance_age8) in R (checked here with statsmodels OLS)."""
    data = pd.read_csv(REFERENCE / "orthodont_unbalanced.csv")
    data = data[data["visit"].isin(["age8", "age14"])]
    spec = orthodont_spec()
    spec["timepoints"] = [{"id": "age8", "baseline": True}, {"id": "age14", "baseline": False}]
    scores = data.rename(
        columns={"Subject": "participant_id", "visit": "timepoint", "distance": "score"}
    )
    participants = scores[["participant_id", "Sex"]].drop_duplicates()
    participants = participants.rename(columns={"Sex": "arm"})
    effects, _, diagnostics = mixed_model_effects(
        scores,
        participants,
        spec,
        {"id": "distance", "role": "primary"},
        analysis_set="itt",
        model="ancova",
    )
    wide = data.pivot(index="Subject", columns="visit", values="distance").dropna()
    wide["male"] = wide.index.str.startswith("M").astype(float)
    ols = sm.OLS(wide["age14"], sm.add_constant(wide[["male", "age8"]])).fit()
    row = effects.iloc[0]
    assert row["estimand"] == "adjusted_diff" and row["method"].startswith("OLS")
    assert row["estimate"] == pytest.approx(ols.params["male"], rel=1e-10)
    assert row["se"] == pytest.approx(ols.bse["male"], rel=1e-10)
    assert row["df"] == ols.df_resid
    assert row["p_value"] == pytest.approx(ols.pvalues["male"], rel=1e-8)
    assert row["n"] == len(wide)


def test_ancova_several_post_visits_matches_statsmodels(orthodont):
    """score ~ arm + baseline + visit + (1 | participant) on post visits, against MixedLM."""
    data = pd.read_csv(REFERENCE / "orthodont_unbalanced.csv")
    base = data[data["visit"] == "age8"].set_index("Subject")["distance"]
    post = data[data["visit"] != "age8"].copy()
    post["baseline"] = post["Subject"].map(base)
    scores = data.rename(
        columns={"Subject": "participant_id", "visit": "timepoint", "distance": "score"}
    )
    participants = scores[["participant_id", "Sex"]].drop_duplicates()
    participants = participants.rename(columns={"Sex": "arm"})
    effects, _, _ = mixed_model_effects(
        scores,
        participants,
        orthodont_spec(),
        {"id": "distance", "role": "primary"},
        analysis_set="itt",
        model="ancova",
    )
    fit = smf.mixedlm("distance ~ Sex + baseline + C(visit)", post, groups=post["Subject"]).fit(
        reml=True, method="bfgs", gtol=1e-10
    )
    row = effects.iloc[0]
    assert row["timepoint"] == "all_post"
    assert row["estimate"] == pytest.approx(fit.fe_params["Sex[T.Male]"], rel=1e-6)
    # statsmodels' SE comes from the observed Hessian; lme4 (and this engine) use the GLS
    # formula: they differ by ~1e-3 relative (SOURCE.md)
    assert row["se"] == pytest.approx(fit.bse_fe["Sex[T.Male]"], rel=5e-3)


def test_unfittable_model_yields_rows_that_say_why():
    spec = orthodont_spec()
    scores = pd.DataFrame(
        {"participant_id": ["a", "b"], "timepoint": ["age8", "age8"], "score": [1.0, 2.0]}
    )
    participants = pd.DataFrame({"participant_id": ["a", "b"], "arm": ["Female", "Male"]})
    effects, means, diagnostics = mixed_model_effects(
        scores, participants, spec, {"id": "x", "role": "secondary"}, analysis_set="itt"
    )
    assert len(effects) == 6 and effects["estimate"].isna().all()
    assert effects["note"].str.contains("not estimated").all()
    assert not diagnostics.loc[0, "converged"] and means.empty


def test_coaching_demo_recovers_truth():
    """Every true effect in data/raw/coaching_rct/truth.yaml: within 3 SE of the ITT estimate,
    and inside the 95% CI for the large majority."""
    spec = demo_spec("coaching_rct")
    participants, items = ingest.ingest(spec)
    scores = instruments.score_outcomes(items, spec)
    sets = analysis_sets.analysis_sets(participants, items, spec)
    in_itt = set(sets.loc[sets["itt"], "participant_id"])
    itt = participants[participants["participant_id"].isin(in_itt)]
    truth = yaml.safe_load((ROOT / "data/raw/coaching_rct/truth.yaml").read_text())["effects"]
    by_outcome = {o["id"]: o for o in spec["outcomes"]}
    inside, z = [], []
    for effect in truth:
        outcome = by_outcome[effect["outcome"]]
        rows, _, _ = mixed_model_effects(
            scores[scores["outcome"] == outcome["id"]],
            itt,
            spec,
            outcome,
            analysis_set="itt",
            site="random",
        )
        row = rows[
            (rows["estimand"] == effect["estimand"])
            & (rows["timepoint"] == effect["timepoint"])
            & (rows["contrast"] == effect["contrast"])
        ].iloc[0]
        z.append(abs(row["estimate"] - effect["value"]) / row["se"])
        inside.append(row["ci_low"] <= effect["value"] <= row["ci_high"])
    assert max(z) < 3, z
    assert np.mean(inside) >= 0.8, inside


def _three_arm_spec(covariates: list) -> dict:
    """A trial of arms ctl (control), peer and coach, visits t0 (baseline) and t1."""
    return {
        "id": "three_arms",
        "control_arm": "ctl",
        "arms": [
            {"id": "ctl", "control": True},
            {"id": "peer", "control": False},
            {"id": "coach", "control": False},
        ],
        "baseline": "t0",
        "timepoints": [{"id": "t0", "baseline": True}, {"id": "t1", "baseline": False}],
        "covariates": covariates,
    }


def test_multi_arm_contrasts_each_arm_with_control():
    """Three arms: each intervention arm gets its own rows, matching the interaction terms of
    the same model fitted by statsmodels MixedLM (REML, tight tolerance)."""
    rng = np.random.default_rng(7)
    n = 240
    arm = np.array(["ctl", "peer", "coach"])[np.arange(n) % 3]
    person = rng.normal(0, 2, n)
    rows = []
    for k, tp in enumerate(("t0", "t1")):
        effect = k * ((arm == "peer") * 1.0 + (arm == "coach") * 2.0)
        y = 10 + k + effect + person + rng.normal(0, 1.5, n)
        keep = rng.random(n) > 0.15 * k
        rows.append(
            pd.DataFrame(
                {
                    "participant_id": np.arange(n)[keep],
                    "timepoint": tp,
                    "score": y[keep],
                    "arm": arm[keep],
                }
            )
        )
    scores = pd.concat(rows, ignore_index=True)
    participants = pd.DataFrame({"participant_id": np.arange(n), "arm": arm})
    spec = _three_arm_spec(covariates=[])
    effects, means, _ = mixed_model_effects(
        scores, participants, spec, {"id": "y", "role": "primary"}, analysis_set="itt"
    )
    change = effects[effects["estimand"] == "diff_in_change"].set_index("contrast")
    assert list(change.index) == ["peer - ctl", "coach - ctl"]
    scores["arm"] = pd.Categorical(scores["arm"], ["ctl", "peer", "coach"])
    fit = smf.mixedlm("score ~ arm * timepoint", scores, groups=scores["participant_id"]).fit(
        reml=True, method="bfgs", gtol=1e-10
    )
    for a in ("peer", "coach"):
        term = f"arm[T.{a}]:timepoint[T.t1]"
        assert change.loc[f"{a} - ctl", "estimate"] == pytest.approx(fit.fe_params[term], rel=1e-6)
    assert len(means) == 6  # 3 arms x 2 visits


# statsmodels stops at |grad| ~ 1e-6 against gtol 1e-10 and warns; its estimates still agree
# with ours to 1e-5 relative, which is what is asserted.
@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_covariates_and_fixed_site_match_statsmodels():
    """Numeric and categorical covariates plus site as a fixed effect, on the coaching demo's
    emotional exhaustion: fixed effects equal statsmodels MixedLM's REML fit of
    score ~ arm * visit + age + C(gender) + C(site) + (1 | participant); the adjusted means
    weight each gender and site level equally (emmeans' default), checked by hand."""
    spec = demo_spec("coaching_rct")
    participants, items = ingest.ingest(spec)
    scores = instruments.score_outcomes(items, spec)
    ee = scores[(scores["outcome"] == "ee")]
    itt = participants[~participants["withdrawn"]]
    outcome = next(o for o in spec["outcomes"] if o["id"] == "ee")
    effects, means, _ = mixed_model_effects(
        ee, itt, spec, outcome, analysis_set="itt", site="fixed", covariates=("age", "gender")
    )
    data = ee[["participant_id", "timepoint", "score"]].merge(itt, on="participant_id")
    data = data[data["score"].notna()].copy()
    data["arm"] = pd.Categorical(data["arm"], ["control", "coaching"])
    data["timepoint"] = pd.Categorical(data["timepoint"], ["baseline", "month4"])
    fit = smf.mixedlm(
        "score ~ arm * timepoint + age + C(gender) + C(site)", data, groups=data["participant_id"]
    ).fit(reml=True, method="bfgs", gtol=1e-10)
    change = effects[effects["estimand"] == "diff_in_change"].iloc[0]
    term = "arm[T.coaching]:timepoint[T.month4]"
    assert change["estimate"] == pytest.approx(fit.fe_params[term], rel=1e-5)
    assert "score ~ arm * visit + age + gender + site + (1 | participant)" in change["method"]
    # adjusted mean, control at baseline: intercept + age at its mean over the model's rows
    # + each non-reference gender / site coefficient weighted 1 / (number of levels)
    fe = fit.fe_params
    genders = sorted(data["gender"].unique())
    sites = sorted(data["site"].unique())
    by_hand = fe["Intercept"] + fe["age"] * data["age"].mean()
    by_hand += sum(fe[f"C(gender)[T.{g}]"] for g in genders[1:]) / len(genders)
    by_hand += sum(fe[f"C(site)[T.{s}]"] for s in sites[1:]) / len(sites)
    got = means.set_index(["arm", "timepoint"]).loc[("control", "baseline"), "estimate"]
    assert got == pytest.approx(by_hand, rel=1e-5)


def test_unfittable_ancova_row_names_its_timepoint():
    spec = orthodont_spec()
    spec["timepoints"] = [{"id": "age8", "baseline": True}, {"id": "age14", "baseline": False}]
    scores = pd.DataFrame(
        {"participant_id": ["a", "a"], "timepoint": ["age8", "age14"], "score": [1.0, 2.0]}
    )
    participants = pd.DataFrame({"participant_id": ["a"], "arm": ["Male"]})
    effects, _, diagnostics = mixed_model_effects(
        scores,
        participants,
        spec,
        {"id": "x", "role": "secondary"},
        analysis_set="itt",
        model="ancova",
    )
    assert effects[["estimand", "timepoint"]].values.tolist() == [["adjusted_diff", "age14"]]
    assert effects["estimate"].isna().all() and "not estimated" in effects.loc[0, "note"]


# --------------------------------------------------------------------------------------
# ANCOVA with one post visit and site random: participants grouped by site
# --------------------------------------------------------------------------------------


def ancova_site_inputs():
    """tests/data/reference/ancova_site.csv (one row per participant) as the pipeline's long
    scores and participants, with the trial spec of a baseline + one post visit design."""
    data = pd.read_csv(REFERENCE / "ancova_site.csv")
    scores = data.melt(
        id_vars="participant_id",
        value_vars=["baseline", "post"],
        var_name="timepoint",
        value_name="score",
    )
    participants = data[["participant_id", "arm", "site", "age", "gender"]]
    spec = {
        "id": "ancova_site",
        "control_arm": "control",
        "arms": [{"id": "control", "control": True}, {"id": "coaching", "control": False}],
        "baseline": "baseline",
        "timepoints": [{"id": "baseline", "baseline": True}, {"id": "post", "baseline": False}],
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "gender", "type": "categorical"},
        ],
    }
    return scores, participants, spec


@pytest.mark.parametrize(
    ("case", "covariates"), [("unadjusted", ()), ("adjusted", ("age", "gender"))]
)
def test_ancova_one_post_visit_site_random_matches_lmer(case, covariates):
    """One post visit, `site: random`: the rows are participants and the sites the groups.
    R (tests/data/reference/ancova_site_ref.R): lmer(post ~ arm + baseline [+ age + gender]
    + (1 | site), REML = TRUE), coef(summary(m))["armcoaching", ] with lmerTest's
    Satterthwaite df, CI estimate +- qt(0.975, df) * SE. Tolerances: estimate, SE and CI 1e-6
    relative (both optimise REML to convergence), df 1e-4 relative, p 1e-6 absolute,
    variance components 1e-5 relative."""
    ref = json.loads((REFERENCE / "ancova_site_lmer.json").read_text())[case]
    scores, participants, spec = ancova_site_inputs()
    outcome = {"id": "ee", "role": "primary"}
    effects, _, diagnostics = mixed_model_effects(
        scores,
        participants,
        spec,
        outcome,
        analysis_set="itt",
        model="ancova",
        site="random",
        covariates=covariates,
    )
    (row,) = effects.itertuples()
    assert (row.estimand, row.timepoint, row.contrast) == (
        "adjusted_diff",
        "post",
        "coaching - control",
    )
    for key in ("estimate", "se", "ci_low", "ci_high"):
        assert getattr(row, key) == pytest.approx(ref[key], rel=1e-6), key
    assert row.df == pytest.approx(ref["df"], rel=1e-4)
    assert row.p_value == pytest.approx(ref["p"], abs=1e-6)
    assert row.n == row.n_obs == ref["n"]
    adjust = "".join(f" + {c}" for c in covariates)
    assert row.method == (
        "LMM, REML (one post visit, participants grouped by site): "
        f"score ~ arm + baseline{adjust} + (1 | site); Satterthwaite df"
    )
    diag = diagnostics.iloc[0]
    assert diag["sd_site"] == pytest.approx(ref["sd_site"], rel=1e-5)
    assert np.isnan(diag["sd_participant"])
    assert diag["sd_residual"] == pytest.approx(ref["sd_residual"], rel=1e-5)
    assert diag["reml_loglik"] == pytest.approx(ref["reml_loglik"], rel=1e-9)
    assert diag["n_sites"] == 7 and diag["converged"]


def test_ancova_one_post_visit_single_site_falls_back_to_ols_with_a_note():
    # Fewer than 2 sites: no site variance to estimate; as the repeated model does, the fit
    # goes on without it (here OLS, lm(post ~ arm + baseline) checked with statsmodels).
    scores, participants, spec = ancova_site_inputs()
    participants = participants.assign(site="site_a")
    effects, _, diagnostics = mixed_model_effects(
        scores,
        participants,
        spec,
        {"id": "ee", "role": "primary"},
        analysis_set="itt",
        model="ancova",
        site="random",
    )
    data = pd.read_csv(REFERENCE / "ancova_site.csv")
    X = sm.add_constant(
        pd.DataFrame({"coaching": (data["arm"] == "coaching") * 1.0, "base": data["baseline"]})
    )
    ols = sm.OLS(data["post"], X).fit()
    (row,) = effects.itertuples()
    assert row.estimate == pytest.approx(ols.params["coaching"], rel=1e-10)
    assert row.method == "OLS (one post visit): score ~ arm + baseline"
    assert "fewer than 2 sites: no site random effect" in row.note

    # every site with a single participant: site and residual variance are one and the same
    scores, participants, spec = ancova_site_inputs()
    participants = participants.assign(site=participants["participant_id"])
    effects, _, _ = mixed_model_effects(
        scores,
        participants,
        spec,
        {"id": "ee", "role": "primary"},
        analysis_set="itt",
        model="ancova",
        site="random",
    )
    (row,) = effects.itertuples()
    assert row.estimate == pytest.approx(ols.params["coaching"], rel=1e-10)
    assert "one participant per site: no site random effect" in row.note


def test_method_text_reads_as_the_model_formula():
    # Several post visits: score ~ arm + baseline + visit + covariates + (1 | participant)
    # [+ (1 | site)], covariates joined by " + " as in the formula (not a comma list).
    data = pd.read_csv(REFERENCE / "orthodont_unbalanced.csv")
    scores = data.rename(
        columns={"Subject": "participant_id", "visit": "timepoint", "distance": "score"}
    )
    participants = scores[["participant_id", "Sex"]].drop_duplicates()
    participants = participants.rename(columns={"Sex": "arm"})
    rng = np.random.default_rng(3)
    participants = participants.assign(
        drug=rng.choice(["a", "b"], len(participants)), length=rng.normal(size=len(participants))
    )
    spec = orthodont_spec()
    spec["covariates"] = [
        {"name": "drug", "type": "categorical"},
        {"name": "length", "type": "numeric"},
    ]
    outcome = {"id": "distance", "role": "primary"}
    common = dict(analysis_set="itt", covariates=("drug", "length"))
    ancova, _, _ = mixed_model_effects(
        scores, participants, spec, outcome, model="ancova", **common
    )
    assert ancova.loc[0, "method"] == (
        "LMM, REML: score ~ arm + baseline + visit + drug + length + (1 | participant); "
        "Satterthwaite df"
    )
    repeated, _, _ = mixed_model_effects(
        scores, participants, spec, outcome, model="repeated", **common
    )
    assert repeated.loc[0, "method"] == (
        "LMM, REML: score ~ arm * visit + drug + length + (1 | participant); Satterthwaite df"
    )


def gap_trial():
    """Control: 4 participants at both visits; peer: 3 participants, baseline only."""
    spec = {
        "id": "gaps",
        "control_arm": "ctl",
        "arms": [
            {"id": "peer", "label": "Peer support", "control": False},
            {"id": "ctl", "label": "Control", "control": True},
        ],
        "baseline": "t0",
        "timepoints": [
            {"id": "t0", "label": "Baseline", "baseline": True},
            {"id": "t1", "label": "Month 4", "baseline": False},
        ],
        "covariates": [],
    }
    control = {"c1": (10, 12), "c2": (14, 17), "c3": (9, 10), "c4": (11, 13)}
    rows = [(p, "t0", a) for p, (a, _) in control.items()]
    rows += [(p, "t1", b) for p, (_, b) in control.items()]
    rows += [("p1", "t0", 20.0), ("p2", "t0", 17.0), ("p3", "t0", 11.0)]
    scores = pd.DataFrame(rows, columns=["participant_id", "timepoint", "score"])
    participants = pd.DataFrame(
        {"participant_id": [*control, "p1", "p2", "p3"], "arm": ["ctl"] * 4 + ["peer"] * 3}
    )
    return spec, scores, participants


def test_arm_without_follow_up_gives_rows_that_say_why_and_the_means_that_exist():
    spec, scores, participants = gap_trial()
    outcome = {"id": "y", "role": "primary"}
    effects, means, diagnostics = mixed_model_effects(
        scores, participants, spec, outcome, analysis_set="itt"
    )
    # the arm-by-visit cell peer x Month 4 has no data: its column is dropped (as lmer does)
    # and every contrast needing it is not estimable, with the reason in words
    assert effects["estimate"].isna().all() and len(effects) == 2
    assert (
        effects["note"] == "not estimable: no Peer support participant has a score at Month 4"
    ).all()
    assert (effects["n"] == 7).all() and (effects["n_obs"] == 11).all()
    assert bool(diagnostics.loc[0, "converged"])
    assert "arm[peer]:timepoint[t1]" in diagnostics.loc[0, "message"]
    m = means.set_index(["arm", "timepoint"])
    # peer at baseline: its own free mean, each participant one observation of equal
    # variance, so the GLS estimate is the plain mean (20 + 17 + 11) / 3 = 16
    assert m.loc[("peer", "t0"), "estimate"] == pytest.approx(16.0, abs=1e-8)
    # control is balanced and complete: its cell means are the sample means
    # t0: (10 + 14 + 9 + 11) / 4 = 11; t1: (12 + 17 + 10 + 13) / 4 = 13
    assert m.loc[("ctl", "t0"), "estimate"] == pytest.approx(11.0, abs=1e-8)
    assert m.loc[("ctl", "t1"), "estimate"] == pytest.approx(13.0, abs=1e-8)
    assert np.isnan(m.loc[("peer", "t1"), "estimate"]) and m.loc[("peer", "t1"), "n_observed"] == 0


def test_arm_without_any_participant_gives_rows_that_say_why():
    spec, scores, participants = gap_trial()
    outcome = {"id": "y", "role": "primary"}
    control = participants["arm"] == "ctl"
    scores = scores[scores["participant_id"].isin(participants.loc[control, "participant_id"])]
    # every peer participant withdrew: nobody of the arm is in the set
    effects, means, _ = mixed_model_effects(
        scores, participants[control], spec, outcome, analysis_set="itt"
    )
    assert effects["estimate"].isna().all()
    assert (
        effects["note"] == "not estimable: no Peer support participant is in the analysis set"
    ).all()
    m = means.set_index(["arm", "timepoint"])["estimate"]
    assert m[("ctl", "t0")] == pytest.approx(11.0, abs=1e-8)
    assert m[("ctl", "t1")] == pytest.approx(13.0, abs=1e-8)
    assert m[["peer"]].isna().all()
    # in the set but nobody answered: the same model, the reason says so
    effects, _, _ = mixed_model_effects(scores, participants, spec, outcome, analysis_set="itt")
    assert (effects["note"] == "not estimable: no Peer support participant has a score").all()
    assert (effects["n_analysis_set"] == 7).all() and (effects["n"] == 4).all()

    # ANCOVA (one post visit, OLS): the arm effect is not estimable either
    effects, means, diagnostics = mixed_model_effects(
        scores, participants, spec, outcome, analysis_set="itt", model="ancova"
    )
    assert effects["estimate"].isna().all() and means.empty
    assert effects.loc[0, "note"] == (
        "not estimable: no Peer support participant has a score at Month 4 and a baseline score"
    )
    assert "arm[peer]" in diagnostics.loc[0, "message"]


# --------------------------------------------------------------------------------------
# cLDA: every visit the response, baseline means constrained equal across arms
# --------------------------------------------------------------------------------------


def clda_inputs():
    """tests/data/reference/groups_trial.csv (3 arms, 3 visits, 4 sites, 14 coaching groups)
    as the pipeline's scores and participants, with its trial spec."""
    data = pd.read_csv(REFERENCE / "groups_trial.csv", keep_default_na=False)
    data["score"] = pd.to_numeric(data["score"].replace("", np.nan))
    scores = data[["participant_id", "timepoint", "score"]]
    participants = (
        data[["participant_id", "arm", "site", "age", "group"]]
        .drop_duplicates()
        .rename(columns={"group": "delivery_group"})
    )
    spec = {
        "id": "clda",
        "control_arm": "control",
        "arms": [
            {"id": "control", "control": True},
            {"id": "coaching", "control": False},
            {"id": "selfguided", "control": False},
        ],
        "baseline": "baseline",
        "timepoints": [
            {"id": v, "baseline": v == "baseline"} for v in ("baseline", "month2", "month4")
        ],
        "covariates": [{"name": "age", "type": "numeric"}],
    }
    return scores, participants, spec


def fit_clda_trial(model: str, scores=None, **options):
    """The mixed-model job's fit of the groups trial's score (clda_inputs; `scores` in
    place of its own), ITT set: effects, means and diagnostics."""
    own_scores, participants, spec = clda_inputs()
    return mixed_model_effects(
        own_scores if scores is None else scores,
        participants,
        spec,
        {"id": "score", "role": "primary"},
        analysis_set="itt",
        model=model,
        **options,
    )


CLDA_CASES = {
    "site_none": {"site": "none"},
    "site_random_age": {"site": "random", "covariates": ("age",)},
    "site_fixed": {"site": "fixed"},
    "groups": {"site": "none", "groups": True},
}


@pytest.mark.parametrize("case", list(CLDA_CASES))
def test_clda_matches_lmer_without_a_baseline_arm_term(case):
    """R (tests/data/reference/clda_ref.R): lmer(score ~ timepoint + coaching_month2 +
    coaching_month4 + selfguided_month2 + selfguided_month4 [+ age] [+ site] +
    (1 | participant_id) [+ (1 | site)] [+ (0 + gpost | dgroup)], REML), the indicators built
    by hand (no arm main effect); each indicator's coefficient by lmerTest's contest1D
    (Satterthwaite), CI estimate +- qt(0.975, df) SE; adjusted means per arm and visit as
    contest1D contrasts (age at its mean, site levels weighted equally). Tolerance 1e-6
    relative on SE, df and P, 1e-6 SE on estimate and CI limits (measured: at most 8e-7)."""
    ref = json.loads((REFERENCE / "clda_lmer.json").read_text())[case]
    effects, means, diagnostics = fit_clda_trial("clda", **CLDA_CASES[case])
    assert (effects["analysis"] == "clda").all() and (effects["estimand"] == "adjusted_diff").all()
    assert len(effects) == len(ref["effects"]) == 4
    for row in effects.itertuples():
        r = ref["effects"][f"{row.contrast.split(' - ')[0]}:{row.timepoint}"]
        assert row.contrast.endswith(" - control")
        for ours, theirs in (("se", "se"), ("df", "df"), ("p_value", "p")):
            assert getattr(row, ours) == pytest.approx(r[theirs], rel=1e-6), (row, ours)
        for key in ("estimate", "ci_low", "ci_high"):  # may be near 0: within 1e-6 SE
            assert getattr(row, key) == pytest.approx(r[key], abs=1e-6 * r["se"]), (row, key)
        assert row.n == ref["n"] and row.n_obs == ref["n_obs"]
        assert row.method.startswith("cLDA (constrained longitudinal data analysis")
    assert len(means) == len(ref["means"]) == 9
    for row in means.itertuples():
        r = ref["means"][f"{row.arm}:{row.timepoint}"]
        for key in ("estimate", "se", "df"):
            assert getattr(row, key) == pytest.approx(r[key], rel=1e-6), (row, key)
    # one baseline mean for every arm: the constraint
    assert means.loc[means["timepoint"] == "baseline", "estimate"].nunique() == 1
    assert_changes_are_mean_differences(means, effects, "adjusted_diff")
    diag = diagnostics.iloc[0]
    assert diag["analysis"] == "clda" and diag["converged"]
    assert diag["reml_loglik"] == pytest.approx(ref["reml_loglik"], abs=1e-6)
    assert diag["sd_residual"] == pytest.approx(ref["sd"]["Residual"], rel=1e-5)


ARM_CHANGE_CASES = {"site_random": (), "site_random_age": ("age",)}


@pytest.mark.parametrize("case", list(ARM_CHANGE_CASES))
def test_arm_change_from_baseline_matches_emmeans(case):
    """Each arm's adjusted mean change from baseline (change_* columns of the means), R
    (tests/data/reference/arm_change_ref.R, arm_change.csv): lmer(score ~ arm * timepoint
    [+ age] + (1 | participant_id) + (1 | site), REML) on groups_trial.csv, then
    summary(contrast(emmeans(fit, ~ timepoint | arm, lmer.df = "satterthwaite"),
    "trt.vs.ctrl", ref = "baseline"), infer = TRUE). Tolerance 1e-6 relative on SE and df,
    1e-6 SE on estimate and CI limits. The arms' changes subtract to effects.csv's
    diff_in_change (the same fixed effects: a hand identity) to 1e-10."""
    ref = pd.read_csv(REFERENCE / "arm_change.csv")
    ref = ref[ref["case"] == case].set_index(["arm", "timepoint"])
    effects, means, _ = fit_clda_trial("repeated", site="random", covariates=ARM_CHANGE_CASES[case])
    post = means[means["timepoint"] != "baseline"].set_index(["arm", "timepoint"])
    assert len(post) == len(ref) == 6
    for key, r in ref.iterrows():
        row = post.loc[key]
        for column in ("se", "df"):
            assert row[f"change_{column}"] == pytest.approx(r[column], rel=1e-6), (key, column)
        for column in ("estimate", "ci_low", "ci_high"):
            assert row[f"change_{column}"] == pytest.approx(r[column], abs=1e-6 * r["se"])
    assert means.loc[means["timepoint"] == "baseline", "change_estimate"].isna().all()
    change = post["change_estimate"]
    for effect in effects[effects["estimand"] == "diff_in_change"].itertuples():
        arm, control = effect.contrast.split(" - ")
        difference = change[(arm, effect.timepoint)] - change[(control, effect.timepoint)]
        assert difference == pytest.approx(effect.estimate, abs=1e-10)


def assert_changes_are_mean_differences(means, effects, estimand):
    """By hand: each post visit's change_estimate is the arm's mean there minus its baseline
    mean, and two arms' changes subtract to the effect `estimand` (1e-10: the same fixed
    effects, L vectors differing only in rounding)."""
    cells = means.set_index(["arm", "timepoint"])
    for (arm, tp), row in cells.iterrows():
        if tp == "baseline":
            assert np.isnan(row["change_estimate"])
            continue
        change = row["estimate"] - cells.loc[(arm, "baseline"), "estimate"]
        assert row["change_estimate"] == pytest.approx(change, abs=1e-10), (arm, tp)
        assert row["change_ci_low"] < row["change_estimate"] < row["change_ci_high"]
    for effect in effects[effects["estimand"] == estimand].itertuples():
        arm, control = effect.contrast.split(" - ")
        change = cells["change_estimate"]
        difference = change[(arm, effect.timepoint)] - change[(control, effect.timepoint)]
        assert difference == pytest.approx(effect.estimate, abs=1e-10)


def test_clda_arm_without_follow_up_is_not_estimable_with_a_reason():
    """An arm with no post-baseline score: its effects cannot be estimated (their columns have
    no data, dropped as lmer drops them); the other arm's are, and the rows say why."""
    scores, participants, _ = clda_inputs()
    silent = set(participants.loc[participants["arm"] == "selfguided", "participant_id"])
    scores = scores[~(scores["participant_id"].isin(silent) & (scores["timepoint"] != "baseline"))]
    effects, _, _ = fit_clda_trial("clda", scores)
    gone = effects[effects["contrast"] == "selfguided - control"]
    assert gone["estimate"].isna().all()
    assert (
        gone["note"].str.contains("not estimable: no selfguided participant has a score at").all()
    )
    assert effects.loc[effects["contrast"] == "coaching - control", "estimate"].notna().all()


CLDA_GLS_CASES = {
    "unstructured": {"covariance": "unstructured"},
    "unstructured_age_site": {
        "covariance": "unstructured",
        "site": "fixed",
        "covariates": ("age",),
    },
    "compound_symmetry": {"covariance": "compound_symmetry"},
}


@pytest.mark.parametrize("case", list(CLDA_GLS_CASES))
def test_clda_with_a_covariance_structure_matches_gls(case):
    """R (tests/data/reference/clda_gls_ref.R): gls(score ~ timepoint + coaching_month2 +
    coaching_month4 + selfguided_month2 + selfguided_month4 [+ age + site], REML,
    correlation = corSymm(~ v | participant_id), weights = varIdent(~ 1 | timepoint))
    (compound symmetry: corCompSymm, no weights), converged with optim to msTol 1e-14;
    estimates of the indicators and adjusted means L beta, SEs sqrt(L V L'). Tolerance:
    estimates 1e-6 SE, SEs 1e-6 relative (measured: 2.3e-7), REML log-likelihood 1e-6."""
    ref = json.loads((REFERENCE / "clda_gls.json").read_text())[case]
    effects, means, diagnostics = fit_clda_trial("clda", **CLDA_GLS_CASES[case])
    assert (effects["analysis"] == "clda").all() and len(effects) == 4
    for row in effects.itertuples():
        r = ref["effects"][f"{row.contrast.split(' - ')[0]}:{row.timepoint}"]
        assert row.estimate == pytest.approx(r["estimate"], abs=1e-6 * r["se"])
        assert row.se == pytest.approx(r["se"], rel=1e-6)
        assert row.n == ref["n"] and row.n_obs == ref["n_obs"]
    for row in means.itertuples():
        r = ref["means"][f"{row.arm}:{row.timepoint}"]
        assert row.estimate == pytest.approx(r["estimate"], abs=1e-6 * r["se"])
        assert row.se == pytest.approx(r["se"], rel=1e-6)
    assert_changes_are_mean_differences(means, effects, "adjusted_diff")
    diag = diagnostics.iloc[0]
    assert diag["covariance"] == CLDA_GLS_CASES[case]["covariance"]
    assert diag["reml_loglik"] == pytest.approx(ref["reml_loglik"], abs=1e-6)
    structure = CLDA_GLS_CASES[case]["covariance"]
    assert f"{structure} covariance within participant over every visit" in effects["method"][0]


def test_clda_compound_symmetry_is_the_random_intercept_model_with_its_satterthwaite_df():
    """With compound symmetry (positive correlation) the residual-covariance cLDA is the
    random-intercept cLDA: the MMRM engine's Satterthwaite df equal lmerTest's
    (clda_lmer.json, site_none) to 1e-6 relative, as do estimates and SEs."""
    ref = json.loads((REFERENCE / "clda_lmer.json").read_text())["site_none"]
    effects, _, _ = fit_clda_trial("clda", covariance="compound_symmetry")
    for row in effects.itertuples():
        r = ref["effects"][f"{row.contrast.split(' - ')[0]}:{row.timepoint}"]
        assert row.df == pytest.approx(r["df"], rel=1e-6)
        assert row.se == pytest.approx(r["se"], rel=1e-6)
        assert row.p_value == pytest.approx(r["p"], rel=1e-6)


def _small_three_arm_trial():
    """9 participants, 3 per arm, baseline t0 and t1; by hand: p2 (peer) has no age, p7 (ctl)
    no baseline score, p8 (ctl) no score at all."""
    spec = _three_arm_spec(covariates=[{"name": "age", "type": "numeric"}])
    arm = ["peer"] * 3 + ["coach"] * 3 + ["ctl"] * 3
    age = [30, 41, np.nan, 35, 52, 28, 44, 39, 33]
    participants = pd.DataFrame({"participant_id": [f"p{i}" for i in range(9)], "arm": arm})
    participants["age"] = age
    rng = np.random.default_rng(3)
    rows = [
        {"participant_id": f"p{i}", "timepoint": tp, "score": 10 + k + rng.normal()}
        for i in range(9)
        for k, tp in enumerate(("t0", "t1"))
        if i != 8 and not (i == 7 and tp == "t0")
    ]
    return spec, pd.DataFrame(rows), participants


@pytest.mark.parametrize(
    "model, by_hand",
    [
        # any visit: p2 out (missing age), p8 out (no score); p7 counts with t1 only
        ("repeated", {"ctl": 2, "peer": 2, "coach": 3}),
        # ANCOVA and MMRM need the baseline score as well: p7 out too
        ("ancova", {"ctl": 1, "peer": 2, "coach": 3}),
        ("mmrm", {"ctl": 1, "peer": 2, "coach": 3}),
        # cLDA keeps the baseline as a response: p7 counts with t1 only, as in repeated;
        # with a covariance structure it is the MMRM engine's fit, reporting the same way
        ("clda", {"ctl": 2, "peer": 2, "coach": 3}),
        ("clda_unstructured", {"ctl": 2, "peer": 2, "coach": 3}),
    ],
)
def test_model_n_counts_the_participants_each_fit_used_per_arm(model, by_hand):
    """model_n per arm is the fit's data (a participant left out for a missing covariate is
    not counted), and effects.csv's n is its sum over the model's arms."""
    spec, scores, participants = _small_three_arm_trial()
    collected: list[dict] = []
    effects, _, _ = mixed_model_effects(
        scores,
        participants,
        spec,
        {"id": "y", "role": "primary"},
        analysis_set="itt",
        model=model.split("_")[0],
        covariance="unstructured" if model.endswith("_unstructured") else None,
        covariates=("age",),
        model_n=collected,
    )
    got = {row["arm"]: row["n"] for row in collected}
    assert got == by_hand
    assert {row["analysis"] for row in collected} == {
        {"repeated": "mixed_model"}.get(model, model.split("_")[0])
    }
    assert (effects["n"] == sum(by_hand.values())).all()
