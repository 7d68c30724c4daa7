"""Cohort comparison (trialeval.cohort) against R.

Reference values: tests/data/reference/cohort_ref.R (R 4.2.2) on cohort_data.csv, output
cohort_ref.json: prop.test(x, n, correct = FALSE)$conf.int, Newcombe's hybrid score CI of the
risk difference, the Wald risk ratio, glm(depressed ~ cohort + age + gender, binomial) with
confint.default, lm(ee ~ cohort + age + gender) with confint, prop.trend.test(x, n), and the
linear contrast of the lm's cohort coefficients. Tolerance 1e-6 throughout (the logistic fit
converges to ~1e-10; closed forms agree to rounding).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialeval.cohort import cohort_effects, contrast_weights, trend_test

REFERENCE = Path(__file__).parent / "data" / "reference"
TOL = 1e-6
COHORTS = ["y2019", "y2020", "y2021"]


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REFERENCE / "cohort_ref.json").read_text())


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "cohort_data.csv")


def _spec(cohorts: list[str], covariates: bool = True) -> dict:
    return {
        "id": "ref",
        "design": "cohort_comparison",
        "arms": [{"id": c, "label": c, "control": c == cohorts[0]} for c in cohorts],
        "control_arm": cohorts[0],
        "baseline": "survey",
        "covariates": (
            [{"name": "age", "type": "numeric"}, {"name": "gender", "type": "categorical"}]
            if covariates
            else []
        ),
        "outcomes": [
            {"id": "depressed", "kind": "category", "role": "primary"},
            {"id": "ee", "kind": "score", "role": "secondary"},
        ],
    }


def _long(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The R reference data as the pipeline holds it: scores long, people with `arm` the
    cohort."""
    scores = data.melt(
        id_vars="participant_id", value_vars=["depressed", "ee"], var_name="outcome"
    ).rename(columns={"value": "score"})
    scores["timepoint"] = "survey"
    people = data.rename(columns={"cohort": "arm"})[["participant_id", "arm", "age", "gender"]]
    return scores, people


def _run(data: pd.DataFrame, cohorts: list[str], outcome: str, covariates=("age", "gender")):
    data = data[data["cohort"].isin(cohorts)]
    scores, people = _long(data)
    spec = _spec(cohorts, bool(covariates))
    effects, summary = cohort_effects(
        scores, people, spec, outcome, covariates=list(covariates), alpha=0.05
    )
    return effects, summary


def _row(effects: pd.DataFrame, estimand: str, cohort: str | None = None) -> pd.Series:
    rows = effects[effects["estimand"] == estimand]
    if cohort is not None:
        rows = rows[rows["contrast"] == f"{cohort} - y2019"]
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.mark.parametrize("which, cohorts", [("three", COHORTS), ("two", COHORTS[:2])])
def test_binary_outcome_matches_r(data, ref, which, cohorts):
    effects, summary = _run(data, cohorts, "depressed")
    r = ref[which]
    for _, row in summary.iterrows():
        want = r["cohorts"][row["cohort"]]
        assert (row["events"], row["n"]) == (want["events"], want["n"])
        assert row["ci_low"] == pytest.approx(want["ci"][0], abs=TOL)
        assert row["ci_high"] == pytest.approx(want["ci"][1], abs=TOL)
    for cohort in cohorts[1:]:
        rd, want = _row(effects, "risk_difference", cohort), r["risk_difference"][cohort]
        for key in ("estimate", "ci_low", "ci_high"):
            assert rd[key] == pytest.approx(want[key], abs=TOL)
        assert np.isnan(rd["p_value"])  # a Newcombe CI has no P
        rr, want = _row(effects, "risk_ratio", cohort), r["risk_ratio"][cohort]
        for key in ("estimate", "se", "ci_low", "ci_high"):
            assert rr[key] == pytest.approx(want[key], abs=TOL)
        assert rr["p_value"] == pytest.approx(want["p"], abs=TOL)
        assert "unadjusted" in rr["method"] and "unadjusted" in rd["method"]
        odds, want = _row(effects, "adjusted_odds_ratio", cohort), r["odds_ratio"][cohort]
        assert np.log(odds["estimate"]) == pytest.approx(want["estimate"], abs=TOL)
        assert odds["se"] == pytest.approx(want["se"], abs=TOL)
        assert np.log(odds["ci_low"]) == pytest.approx(want["ci_low"], abs=TOL)
        assert np.log(odds["ci_high"]) == pytest.approx(want["ci_high"], abs=TOL)
        assert odds["p_value"] == pytest.approx(want["p"], abs=TOL)
        assert "adjusted for age (linear), gender (reference man)" in odds["method"]
    trend = effects[effects["estimand"] == "prevalence_trend"]
    if which == "three":
        chi2 = (trend.iloc[0]["estimate"] / trend.iloc[0]["se"]) ** 2
        assert chi2 == pytest.approx(r["trend"]["statistic"], abs=TOL)
        assert trend.iloc[0]["p_value"] == pytest.approx(r["trend"]["p"], abs=TOL)
        assert "unadjusted" in trend.iloc[0]["method"]
    else:
        assert trend.empty


@pytest.mark.parametrize("which, cohorts", [("three", COHORTS), ("two", COHORTS[:2])])
def test_score_outcome_matches_r(data, ref, which, cohorts):
    effects, summary = _run(data, cohorts, "ee")
    r = ref[which]
    for _, row in summary.iterrows():
        want = r["cohorts"][row["cohort"]]
        for key in ("median", "q1", "q3", "mean", "sd"):
            assert row[key] == pytest.approx(want[key], abs=TOL)
    for cohort in cohorts[1:]:
        got, want = _row(effects, "adjusted_mean_difference", cohort), r["mean_difference"][cohort]
        for key in ("estimate", "se", "ci_low", "ci_high"):
            assert got[key] == pytest.approx(want[key], abs=TOL)
        assert got["p_value"] == pytest.approx(want["p"], abs=TOL)
        assert got["df"] == r["df_residual"]
    linear = effects[effects["estimand"] == "linear_trend"]
    if which == "three":
        want = r["linear_trend"]
        for key in ("estimate", "se", "ci_low", "ci_high", "df"):
            assert linear.iloc[0][key] == pytest.approx(want[key], abs=TOL)
        assert linear.iloc[0]["p_value"] == pytest.approx(want["p"], abs=TOL)
    else:
        assert linear.empty


def test_without_covariates_is_unadjusted(data, ref):
    effects, _ = _run(data, COHORTS, "ee", covariates=())
    got = _row(effects, "adjusted_mean_difference", "y2021")
    want = ref["three"]["mean_difference_unadjusted"]["y2021"]
    assert got["estimate"] == pytest.approx(want["estimate"], abs=TOL)
    assert got["ci_low"] == pytest.approx(want["ci_low"], abs=TOL)
    assert "unadjusted (no covariates)" in got["method"]
    effects, _ = _run(data, COHORTS, "depressed", covariates=())
    odds = _row(effects, "adjusted_odds_ratio", "y2020")
    want = ref["three"]["odds_ratio_unadjusted"]["y2020"]
    assert np.log(odds["estimate"]) == pytest.approx(want["estimate"], abs=TOL)


def test_zero_events_give_no_risk_ratio_and_a_note(data):
    data = data.copy()
    data.loc[data["cohort"] == "y2020", "depressed"] = 0
    effects, _ = _run(data, COHORTS[:2], "depressed", covariates=())
    rr = _row(effects, "risk_ratio", "y2020")
    assert np.isnan(rr["estimate"]) and "zero events" in rr["note"]
    rd = _row(effects, "risk_difference", "y2020")
    assert rd["estimate"] == pytest.approx(-6 / 34, abs=1e-12)  # 0/30 - 6/34, by hand
    odds = _row(effects, "adjusted_odds_ratio", "y2020")  # separation: no absurd OR
    assert np.isnan(odds["estimate"]) and "separation" in odds["note"]


def test_trend_by_hand():
    # prop.trend.test(c(15, 10, 5), c(50, 50, 50)) in R: X-squared = 6.25, p-value = 0.01242
    # (by hand: pbar = 0.2, slope = -0.1, Sxx = 100, se = sqrt(0.16 / 100) = 0.04).
    test = trend_test([15, 10, 5], [50, 50, 50])
    assert test["estimate"] == pytest.approx(-0.1, abs=1e-12)
    assert test["se"] == pytest.approx(0.04, abs=1e-12)
    assert test["statistic"] == pytest.approx(6.25, abs=1e-12)
    assert test["p_value"] == pytest.approx(0.01242, abs=5e-6)  # R prints 4 digits
    assert np.isnan(trend_test([0, 0], [5, 5])["p_value"])


def test_contrast_weights():
    assert contrast_weights(3) == pytest.approx([-0.5, 0.0, 0.5])
    assert contrast_weights(2) == pytest.approx([-1.0, 1.0])  # k = 2: the difference itself


def test_association_exposure_from_a_participants_column(data, ref):
    # A categorical participants-file column (here the cohort, as a covariate of a survey) as
    # the association exposure, adjusted for age and gender, is R's
    # glm(depressed ~ cohort + age + gender, binomial) of cohort_ref.R (tolerance 1e-6).
    from trialeval.association import association_effects

    scores = data.melt(id_vars="participant_id", value_vars=["depressed"], var_name="outcome")
    scores = scores.rename(columns={"value": "score"}).assign(timepoint="survey")
    people = data[["participant_id", "cohort", "age", "gender"]].assign(arm="all")
    spec = _spec(COHORTS)
    spec["covariates"].append({"name": "cohort", "type": "categorical"})
    spec["analyses"] = {"association": {"exposure_columns": {"cohort": "y2019"}}}
    effects, counts = association_effects(
        scores,
        people,
        spec,
        outcome="depressed",
        exposure="cohort",
        covariates=["age", "gender"],
        alpha=0.05,
    )
    assert list(counts["label"]) == COHORTS  # the reference first, then sorted
    assert list(counts["n"]) == [34, 30, 28]
    for cohort in COHORTS[1:]:
        row = effects[effects["contrast"] == f"{cohort} - y2019"].iloc[0]
        want = ref["three"]["odds_ratio"][cohort]
        assert np.log(row["estimate"]) == pytest.approx(want["estimate"], abs=TOL)
        assert row["se"] == pytest.approx(want["se"], abs=TOL)
        assert row["p_value"] == pytest.approx(want["p"], abs=TOL)
    # gender as the exposure with woman as reference: the contrast names the levels
    spec["analyses"]["association"]["exposure_columns"] = {"gender": "woman"}
    effects, counts = association_effects(
        scores, people, spec, outcome="depressed", exposure="gender", covariates=[], alpha=0.05
    )
    assert list(counts["label"]) == ["woman", "man"]
    assert list(effects["contrast"]) == ["man - woman"]


def _as_cohorts(trial: dict) -> dict:
    """The tiny trial as a cohort comparison: its arm column holds the cohorts."""
    trial.pop("arms")
    trial.update(design="cohort_comparison")
    trial["cohort"] = {"column": "arm", "order": ["ctl", "peer"], "reference": "ctl"}
    trial["cohort"]["labels"] = {"ctl": "Before (2019)"}
    trial["analyses"] = {"cohort": {"covariates": ["age"]}}
    return trial


def test_cohorts_resolve_as_the_groups(tiny):
    _as_cohorts(tiny.trial)
    spec = tiny.spec()
    assert [(a["id"], a["label"], a["control"]) for a in spec["arms"]] == [
        ("ctl", "Before (2019)", True),
        ("peer", "peer", False),
    ]
    assert spec["control_arm"] == "ctl" and spec["arm_column"] == "arm"
    assert spec["cohort"]["order"] == ["ctl", "peer"]
    assert spec["analyses"]["cohort"] == {"covariates": ["age"]}


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.pop("cohort"), "needs `cohort` (column, order, reference)"),
        (lambda t: t["cohort"].update(reference="later"), "cohort.reference 'later' is not one"),
        (lambda t: t["cohort"].update(order=["ctl", "ctl"]), "cohort 'ctl' is listed twice"),
        (lambda t: t.update(arms=[{"id": "ctl"}]), "has no arms"),
        (lambda t: t["cohort"].update(labels={"x": "X"}), "cohort.labels names ['x']"),
        (
            lambda t: t["analyses"]["cohort"].update(covariates=["height"]),
            "analyses.cohort.covariates names ['height']",
        ),
        (
            lambda t: t.update(design="rct", arms=[{"id": "ctl", "control": True}, {"id": "peer"}]),
            "cohort: only design cohort_comparison has cohorts",
        ),
    ],
)
def test_cohort_config_errors_name_file_and_key(tiny, edit, message):
    from trialeval.errors import TrialInputError

    edit(_as_cohorts(tiny.trial))
    with pytest.raises(TrialInputError) as info:
        tiny.spec()
    assert message in str(info.value) and "tiny.yaml" in str(info.value)


def test_the_demo_is_a_cohort_comparison():
    from conftest import demo_spec

    spec = demo_spec("curriculum_passfail")
    assert spec["design"] == "cohort_comparison" and spec["control_arm"] == "2019"
    assert [a["label"] for a in spec["arms"]] == ["Graded (2019)", "Pass/fail (2021)"]


def test_demo_data_regenerate_byte_for_byte(tmp_path):
    from trialeval import simulate_cohort

    root = Path(__file__).parents[1]
    folder = simulate_cohort.write(tmp_path, root / "config")
    committed = root / "data" / "raw" / simulate_cohort.TRIAL
    for path in sorted(folder.iterdir()):
        assert path.read_bytes() == (committed / path.name).read_bytes(), path.name


def _as_survey(trial: dict, exposures: list) -> dict:
    trial.pop("arms")
    trial.pop("analysis_sets")
    trial.update(design="cross_sectional", timepoints=trial["timepoints"][:1])
    trial["covariates"].append({"name": "site", "type": "categorical"})
    trial["outcomes"].append({"id": "burnout", "instrument": "mbi_2item", "category": "burnout"})
    trial["analyses"] = {"association": {"outcome": "burnout", "exposures": exposures}}
    return trial


def test_an_association_exposure_may_be_a_categorical_covariate(tiny):
    _as_survey(tiny.trial, [{"column": "site", "reference": "s2"}])
    options = tiny.spec()["analyses"]["association"]
    assert options["exposures"] == ["site"]
    assert options["exposure_columns"] == {"site": "s2"}
    tiny.trial["analyses"]["association"]["exposures"] = [{"column": "age", "reference": "24"}]
    from trialeval.errors import TrialInputError

    with pytest.raises(TrialInputError, match=r"exposures\[0\]\.column: 'age' must be a categ"):
        tiny.spec()


def test_a_reference_cohort_other_than_the_first(data, ref):
    # reference y2020 (the middle cohort): contrasts are against it, the trend still runs over
    # the time order, so the linear trend is R's (a contrast of cohort means does not depend
    # on the reference) and the risk difference y2019 - y2020 is R's y2020 - y2019 negated
    # (Newcombe's interval is antisymmetric); tolerance 1e-6.
    scores, people = _long(data)
    spec = _spec(COHORTS)
    for arm in spec["arms"]:
        arm["control"] = arm["id"] == "y2020"
    spec["control_arm"] = "y2020"
    run = {"covariates": ["age", "gender"], "alpha": 0.05}
    effects, summary = cohort_effects(scores, people, spec, "ee", **run)
    assert list(summary["cohort"]) == COHORTS
    linear = effects[effects["estimand"] == "linear_trend"].iloc[0]
    assert linear["estimate"] == pytest.approx(ref["three"]["linear_trend"]["estimate"], abs=TOL)
    assert linear["se"] == pytest.approx(ref["three"]["linear_trend"]["se"], abs=TOL)
    assert list(effects["contrast"][:2]) == ["y2019 - y2020", "y2021 - y2020"]
    effects, _ = cohort_effects(scores, people, spec, "depressed", **run)
    rd = effects[(effects["estimand"] == "risk_difference")].iloc[0]
    want = ref["three"]["risk_difference"]["y2020"]
    assert rd["contrast"] == "y2019 - y2020"
    assert rd["estimate"] == pytest.approx(-want["estimate"], abs=TOL)
    assert rd["ci_low"] == pytest.approx(-want["ci_high"], abs=TOL)
    assert rd["ci_high"] == pytest.approx(-want["ci_low"], abs=TOL)


def test_a_participant_in_no_listed_cohort_is_named(tiny):
    from trialeval.errors import TrialInputError
    from trialeval.ingest.validate import read_participants

    _as_cohorts(tiny.trial)
    tiny.participants.loc[1, "arm"] = "later"
    spec = tiny.spec()
    with pytest.raises(TrialInputError) as info:
        read_participants(spec)
    message = str(info.value)
    assert "row 3, column 'arm' (participant P2): cohort 'later' is not a cohort" in message
    assert "expected one of ctl, peer (cohort.order in" in message


def test_no_reference_participant_gives_no_estimate_not_another_reference(data):
    """An outcome the reference cohort's survey did not ask: the odds ratios and mean
    differences are not estimated (another cohort must not become the reference)."""
    scores, people = _long(data)
    reference = people.loc[people["arm"] == COHORTS[0], "participant_id"]
    scores.loc[scores["participant_id"].isin(reference), "score"] = np.nan
    spec = _spec(COHORTS)
    run = {"covariates": ["age", "gender"], "alpha": 0.05}
    for outcome, estimand in (
        ("depressed", "adjusted_odds_ratio"),
        ("ee", "adjusted_mean_difference"),
    ):
        effects, _ = cohort_effects(scores, people, spec, outcome, **run)
        rows = effects[effects["estimand"] == estimand]
        assert len(rows) == 2 and rows["estimate"].isna().all(), outcome
        assert rows["note"].str.contains("no participant of the reference cohort").all()


def test_model_n_is_each_fits_own_count(data):
    """Three cohorts, the first two participants of y2020 without an age: the summaries and
    the unadjusted measures and trend count every respondent; the adjusted odds ratio and
    the OLS (and its linear trend) two fewer of y2020. model_n.csv gives each fit's cohorts,
    and every effects row's n is its fit's, over the two cohorts compared (a trend: all)."""
    from trialeval.model_n import effect_n, model_n_frame

    scores, people = _long(data[data["cohort"].isin(COHORTS)])
    dropped = people.index[people["arm"] == "y2020"][:2]
    people.loc[dropped, "age"] = np.nan
    spec = _spec(COHORTS)
    collected: list[dict] = []
    effects = []
    for outcome in ("depressed", "ee"):
        rows, summary = cohort_effects(
            scores, people, spec, outcome, covariates=["age", "gender"], alpha=0.05,
            model_n=collected,
        )  # fmt: skip
        effects.append(rows)
    effects = pd.concat(effects, ignore_index=True)
    reported = model_n_frame(collected)
    everyone = people["arm"].value_counts().to_dict()
    adjusted = {**everyone, "y2020": everyone["y2020"] - 2}
    fits = {
        (o, e): dict(zip(part["arm"], part["n"], strict=True))
        for (o, e), part in reported.groupby(["outcome", "estimand"])
    }
    assert fits == {
        ("depressed", "risk_difference"): everyone,
        ("depressed", "risk_ratio"): everyone,
        ("depressed", "prevalence_trend"): everyone,
        ("depressed", "adjusted_odds_ratio"): adjusted,
        ("ee", "adjusted_mean_difference"): adjusted,
        ("ee", "linear_trend"): adjusted,
    }
    for row in effects.to_dict("records"):
        assert row["n"] == effect_n(reported, row, COHORTS), row
    ols = effects[(effects["estimand"] == "adjusted_mean_difference")]
    pair = ols[ols["contrast"] == "y2020 - y2019"].iloc[0]
    assert pair["n"] == everyone["y2019"] + everyone["y2020"] - 2
