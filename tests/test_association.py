"""Tests for trialeval.association: odds ratios of a binary outcome by exposure level.

References: statsmodels `sm.Logit(y, X).fit(disp=0)` on a design coded by hand with pandas
(R: glm(burnout ~ factor(belonging) + level + gender, binomial), exp(coef) and
exp(confint.default)), 1e-6 relative; hand counts for the counts frame; the simulation truth
in data/raw/belonging_survey/truth.yaml.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from test_prepost import demo_inputs

from trialeval.association import COUNTS_COLUMNS, association_effects
from trialeval.errors import TrialInputError

REL = 1e-6
LEVELS = {"1": "Very weak", "2": "Somewhat weak", "3": "Somewhat strong", "4": "Very strong"}


@pytest.fixture(scope="module")
def survey():
    return demo_inputs("belonging_survey")


def survey_effects(survey, covariates=("level", "gender")):
    spec, participants, scores, _ = survey
    return association_effects(
        scores,
        participants,
        spec,
        outcome="burnout",
        exposure="belonging_organization",
        covariates=list(covariates),
        alpha=0.05,
    )


def hand_design(data: pd.DataFrame, exposure: str, covariates: list[str]) -> pd.DataFrame:
    """Treatment coding by hand: exposure levels vs the lowest, covariates vs sorted first."""
    X = pd.DataFrame({"Intercept": 1.0}, index=data.index)
    for key in ["2", "3", "4"]:
        X[LEVELS[key]] = (data[exposure] == float(key)).astype(float)
    for column in covariates:
        for level in sorted(data[column].unique())[1:]:
            X[f"{column}={level}"] = (data[column] == level).astype(float)
    return X


def test_survey_matches_statsmodels(survey):
    spec, participants, scores, _ = survey
    effects, counts = survey_effects(survey)
    wide = scores.pivot(index="participant_id", columns="outcome", values="score")
    data = (
        wide[["burnout", "belonging_organization"]]
        .join(participants.set_index("participant_id")[["level", "gender"]], how="inner")
        .dropna()
    )
    X = hand_design(data, "belonging_organization", ["level", "gender"])
    ref = sm.Logit(data["burnout"], X).fit(disp=0)
    ci = ref.conf_int()
    assert list(effects["contrast"]) == [
        "Somewhat weak - Very weak",
        "Somewhat strong - Very weak",
        "Very strong - Very weak",
    ]
    for row in effects.itertuples():
        term = row.contrast.split(" - ")[0]
        # OR = exp(coef); CI exp(coef +- 1.96 se); se of the log OR; Wald p
        assert row.estimate == pytest.approx(np.exp(ref.params[term]), rel=REL)
        assert row.se == pytest.approx(ref.bse[term], rel=REL)
        assert row.p_value == pytest.approx(ref.pvalues[term], rel=REL)
        assert row.ci_low == pytest.approx(np.exp(ci.loc[term, 0]), rel=REL)
        assert row.ci_high == pytest.approx(np.exp(ci.loc[term, 1]), rel=REL)
        assert row.n == row.n_obs == len(data)
        assert np.isnan(row.df) and row.note == ""
    method = effects["method"].iloc[0]
    # the references: the first of the trial file's levels (Table 1's order), not the sorted ones
    assert "level (reference student)" in method and "gender (reference woman)" in method
    assert "SE of log(odds ratio)" in method
    assert (effects[["analysis", "estimand", "timepoint"]].drop_duplicates()).values.tolist() == [
        ["association", "odds_ratio", "survey"]
    ]

    # counts by hand: n and events per exposure level among the model's participants
    assert list(counts.columns) == COUNTS_COLUMNS
    by_level = data.groupby("belonging_organization")["burnout"].agg(["count", "sum"])
    assert counts["n"].tolist() == by_level["count"].tolist()
    assert counts["events"].tolist() == by_level["sum"].astype(int).tolist()
    assert counts["label"].tolist() == list(LEVELS.values())
    assert counts["n"].sum() == len(data)


def test_survey_recovers_truth(survey):
    # truth.yaml: the exact data-generating odds ratios (mc_se 0); within 3 SE on the log
    # scale for all, inside the 95% CI for most
    _, _, _, truth = survey
    effects, _ = survey_effects(survey)
    inside = []
    for effect in truth:
        (row,) = effects[
            (effects["outcome"] == effect["outcome"])
            & (effects["estimand"] == effect["estimand"])
            & (effects["contrast"] == effect["contrast"])
            & (effects["timepoint"] == effect["timepoint"])
        ].itertuples()
        assert abs(np.log(row.estimate) - np.log(effect["value"])) < 3 * row.se, (effect, row)
        inside.append(row.ci_low <= effect["value"] <= row.ci_high)
    assert len(inside) == 3 and sum(inside) >= 2


def toy_spec() -> dict:
    return {
        "id": "toy_survey",
        "baseline": "survey",
        "covariates": [{"name": "level", "label": "level", "type": "categorical"}],
        "outcomes": [
            {"id": "burnout", "instrument": "mbi_2item", "kind": "category", "role": "primary"},
            {"id": "belong", "instrument": "belonging", "kind": "score", "role": "secondary"},
        ],
        "instruments": {"belonging": {"levels": LEVELS}, "mbi_2item": {"levels": {}}},
    }


def toy_survey(seed: int = 3, n: int = 600):
    rng = np.random.default_rng(seed)
    ids = [f"S{i:04d}" for i in range(n)]
    belong = rng.integers(1, 5, n).astype(float)
    level = rng.choice(["student", "resident"], n)
    eta = 0.2 - 0.4 * (belong - 1) + 0.3 * (level == "resident")
    burnout = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    participants = pd.DataFrame({"participant_id": ids, "level": level})
    scores = pd.concat(
        [
            pd.DataFrame({"participant_id": ids, "outcome": "burnout", "score": burnout}),
            pd.DataFrame({"participant_id": ids, "outcome": "belong", "score": belong}),
        ],
        ignore_index=True,
    ).assign(timepoint="survey")
    return participants, scores


def toy_effects(participants, scores):
    return association_effects(
        scores,
        participants,
        toy_spec(),
        outcome="burnout",
        exposure="belong",
        covariates=["level"],
        alpha=0.05,
    )


def test_simulated_matches_statsmodels_and_drops_incomplete_rows():
    participants, scores = toy_survey()
    scores.loc[[0, 1], "score"] = np.nan  # burnout missing for S0000, S0001
    scores.loc[600 + 5, "score"] = np.nan  # exposure missing for S0005
    participants.loc[7, "level"] = None  # covariate missing for S0007
    effects, counts = toy_effects(participants, scores)
    wide = scores.pivot(index="participant_id", columns="outcome", values="score")
    data = wide.join(participants.set_index("participant_id")).dropna()
    assert len(data) == 596
    X = hand_design(data, "belong", ["level"])
    ref = sm.Logit(data["burnout"], X).fit(disp=0)
    for row in effects.itertuples():
        term = row.contrast.split(" - ")[0]
        assert row.estimate == pytest.approx(np.exp(ref.params[term]), rel=REL)
        assert row.se == pytest.approx(ref.bse[term], rel=REL)
        assert row.p_value == pytest.approx(ref.pvalues[term], rel=REL)
        assert row.n == 596
    assert counts["n"].sum() == 596


def test_level_without_events_gives_nan_and_a_message():
    participants, scores = toy_survey()
    strong = scores["participant_id"].isin(
        scores.loc[(scores["outcome"] == "belong") & (scores["score"] == 4), "participant_id"]
    )
    scores.loc[strong & (scores["outcome"] == "burnout"), "score"] = 0.0
    n_strong = int((strong & (scores["outcome"] == "burnout")).sum())
    effects, counts = toy_effects(participants, scores)
    row = effects.set_index("contrast").loc["Very strong - Very weak"]
    # never an odds ratio like 1e-9: NaN with the level named
    assert np.isnan([row["estimate"], row["se"], row["ci_low"], row["ci_high"]]).all()
    assert np.isnan(row["p_value"])
    assert (
        f"level 'Very strong' of belong: all 0 events among its {n_strong} participants"
        in row["note"]
    )
    # the other levels are still estimated; the note warns them too
    others = effects[effects["contrast"] != "Very strong - Very weak"]
    assert others["estimate"].notna().all() and others["note"].str.contains("separation").all()
    assert counts.set_index("label").loc["Very strong", "events"] == 0


def test_exposure_reference_level_separated_gives_no_odds_ratio_and_says_why():
    # Every participant at the exposure's reference level 'Very weak' is event-free: each odds
    # ratio against it is infinite, so every exposure row is empty with the reason.
    participants, scores = toy_survey()
    weak = scores["participant_id"].isin(
        scores.loc[(scores["outcome"] == "belong") & (scores["score"] == 1), "participant_id"]
    )
    scores.loc[weak & (scores["outcome"] == "burnout"), "score"] = 0.0
    n_weak = int((weak & (scores["outcome"] == "burnout")).sum())
    effects, _ = toy_effects(participants, scores)
    assert len(effects) == 3 and effects[["estimate", "se", "ci_low", "p_value"]].isna().all().all()
    reason = (
        f"not estimable: reference level of belong: all 0 events among its {n_weak} "
        "participants: every contrast with it is infinite"
    )
    assert effects["note"].str.startswith(reason).all()


def test_covariate_reference_level_separated_keeps_the_odds_ratios():
    # Every resident (reference level of `level`, sorted first) is event-free: the exposure
    # odds ratios are the fit on the students (R: glm(burnout ~ factor(belong), binomial) on
    # those rows),
    # statsmodels Logit 1e-6 relative; before the fix they came from a model without intercept.
    participants, scores = toy_survey()
    residents = scores["participant_id"].isin(
        participants.loc[participants["level"] == "resident", "participant_id"]
    )
    scores.loc[residents & (scores["outcome"] == "burnout"), "score"] = 0.0
    effects, _ = toy_effects(participants, scores)
    wide = scores.pivot(index="participant_id", columns="outcome", values="score")
    data = wide.join(participants.set_index("participant_id"))
    data = data[data["level"] == "student"]
    ref = sm.Logit(data["burnout"], hand_design(data, "belong", [])).fit(disp=0)
    for row in effects.itertuples():
        term = row.contrast.split(" - ")[0]
        assert row.estimate == pytest.approx(np.exp(ref.params[term]), rel=REL)
        assert row.se == pytest.approx(ref.bse[term], rel=REL)
        assert "reference level of level: all 0 events" in row.note


def test_missing_level_and_bad_exposure():
    participants, scores = toy_survey()
    gone = scores["participant_id"].isin(
        scores.loc[(scores["outcome"] == "belong") & (scores["score"] == 2), "participant_id"]
    )
    effects, counts = toy_effects(participants, scores[~gone])
    row = effects.set_index("contrast").loc["Somewhat weak - Very weak"]
    assert np.isnan(row["estimate"]) and "no participant at level 'Somewhat weak'" in row["note"]
    assert effects.set_index("contrast").loc["Very strong - Very weak", "estimate"] > 0
    assert counts.set_index("label").loc["Somewhat weak", "n"] == 0

    bad = scores.copy()
    bad.loc[bad["outcome"] == "belong", "score"] = bad["score"] + 0.5
    with pytest.raises(ValueError, match="not levels"):
        toy_effects(participants, bad)
    with pytest.raises(ValueError, match="must be a 0/1 category"):
        association_effects(
            scores,
            participants,
            toy_spec(),
            outcome="belong",
            exposure="belong",
            covariates=[],
            alpha=0.05,
        )


def test_rule_entry_writes_each_exposure(tmp_path):
    from test_prepost import write_interim

    from trialeval.association import run

    spec, paths = write_interim("belonging_survey", tmp_path)
    run(
        spec,
        paths={k: paths[k] for k in ("scores", "participants", "sets")},
        alpha=0.05,
        outputs={k: str(tmp_path / f"{k}.csv") for k in ("effects", "counts", "model_n")},
    )
    effects = pd.read_csv(tmp_path / "effects.csv")
    counts = pd.read_csv(tmp_path / "counts.csv")
    options = spec["analyses"]["association"]
    n_sets = len(spec["analyses"]["analysis_sets"])
    assert len(effects) == 3 * len(options["exposures"]) * n_sets
    assert counts["exposure"].unique().tolist() == options["exposures"]
    assert len(counts) == 4 * len(options["exposures"]) * n_sets
    # the first block is the association of test_survey_matches_statsmodels
    expected, _ = association_effects(
        pd.read_parquet(paths["scores"]),
        pd.read_parquet(paths["participants"]),
        spec,
        outcome=options["outcome"],
        exposure=options["exposures"][0],
        covariates=options["covariates"],
        alpha=0.05,
    )
    # io.write_csv keeps 10 significant digits
    np.testing.assert_allclose(effects["estimate"][:3], expected["estimate"], rtol=1e-9)


def test_model_n_is_each_levels_respondents_in_the_fit():
    """model_n of an exposure's fit: its levels' respondents with the outcome, the exposure
    and every covariate (the association counts' n, the effects rows' n their sum). By hand,
    ten respondents, levels 1, 1, 1, 2, 2, 2, 3, 3, 4, 4: S02 has no training level, S05 no
    burnout score, S10 no belonging score: 2, 2, 2 and 1, n 7."""
    from trialeval.model_n import (
        check_association_counts,
        check_effects_n,
        effect_n,
        model_n_frame,
    )

    ids = [f"S{i:02d}" for i in range(1, 11)]
    belong = [1, 1, 1, 2, 2, 2, 3, 3, 4, 4]
    burnout = [0, 1, 1, 0, None, 1, 0, 1, 1, 0]
    participants = pd.DataFrame(
        {"participant_id": ids, "level": ["student", "resident"] * 5, "arm": "all"}
    )
    participants.loc[1, "level"] = None
    belong[9] = None
    scores = pd.concat(
        [
            pd.DataFrame({"participant_id": ids, "outcome": "burnout", "score": burnout}),
            pd.DataFrame({"participant_id": ids, "outcome": "belong", "score": belong}),
        ],
        ignore_index=True,
    ).assign(timepoint="survey", score=lambda f: f["score"].astype(float))
    collected: list[dict] = []
    effects, counts = association_effects(
        scores,
        participants,
        toy_spec(),
        outcome="burnout",
        exposure="belong",
        covariates=["level"],
        alpha=0.05,
        model_n=collected,
    )
    assert [(r["arm"], r["n"]) for r in collected] == [
        ("Very weak", 2),
        ("Somewhat weak", 2),
        ("Somewhat strong", 2),
        ("Very strong", 1),
    ]
    fit = {(r["analysis"], r["estimand"], r["exposure"], r["timepoint"]) for r in collected}
    assert fit == {("association", "odds_ratio", "belong", "survey")}
    assert counts["n"].tolist() == [2, 2, 2, 1]
    reported = model_n_frame(collected)
    effects = effects.assign(analysis_name="primary")
    assert (effects["n"] == 7).all()
    assert [effect_n(reported, r, ["all"]) for r in effects.to_dict("records")] == [7, 7, 7]
    check_effects_n(effects, reported, ["all"])
    check_association_counts(counts, reported)
    # another exposure's fit is not this one's; a count the fit did not use is caught
    other = reported.assign(exposure="belong_school")
    with pytest.raises(TrialInputError, match="no row for analysis set 'itt', outcome 'burnout'"):
        check_effects_n(effects, other, ["all"])
    with pytest.raises(AssertionError, match="association_counts.csv's n 3 of itt / belong"):
        check_association_counts(counts.assign(n=[3, 2, 2, 1]), reported)
