"""Binary outcomes of randomized trials: risk difference (Newcombe hybrid score CI, from
Wilson intervals) and the odds ratio for arm adjusted for baseline status and covariates.

References: Newcombe RG (1998), Interval estimation for the difference between independent
proportions: comparison of eleven methods, Stat Med 17:873-890, Table II, method 10 (printed
to 4 decimals); R 4.2.2 (tests/data/reference/binary_ref.R -> binary_glm.json):
prop.test(x, n, correct = FALSE)$conf.int for the Wilson intervals and
glm(post ~ arm + baseline [+ age + gender] [+ site], family = binomial) for the odds ratios.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from trialeval.prepost import binary_covariates, prepost_effects
from trialeval.proportions import newcombe_difference, wilson_interval

REFERENCE = ROOT / "tests" / "data" / "reference"
Z = 1.959963984540054  # qnorm(0.975)


@pytest.fixture(scope="module")
def ref() -> dict:
    return json.loads((REFERENCE / "binary_glm.json").read_text())


def test_wilson_and_newcombe_by_hand_on_a_small_table():
    """7/10 vs 2/8, the arithmetic written out: Wilson (phat + z^2/2n +- z sqrt(phat(1-phat)/n
    + z^2/4n^2)) / (1 + z^2/n), then Newcombe's square-and-add of the distances to the limits."""
    z2 = Z * Z
    limits = {}
    for x, n in ((7, 10), (2, 8)):
        p = x / n
        centre, half = p + z2 / (2 * n), Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        limits[(x, n)] = ((centre - half) / (1 + z2 / n), (centre + half) / (1 + z2 / n))
        assert wilson_interval(x, n) == pytest.approx(limits[(x, n)], rel=1e-12)
    (l1, u1), (l2, u2) = limits[(7, 10)], limits[(2, 8)]
    d = 0.7 - 0.25
    lower = d - math.sqrt((0.7 - l1) ** 2 + (u2 - 0.25) ** 2)
    upper = d + math.sqrt((u1 - 0.7) ** 2 + (0.25 - l2) ** 2)
    out = newcombe_difference(7, 10, 2, 8)
    assert out["estimate"] == pytest.approx(d, rel=1e-15)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((lower, upper), rel=1e-12)
    # worked on paper: 7/10 lower (0.89207 - 0.34288) / 1.38415,
    # 2/8 upper (0.49009 + 0.38430) / 1.48018
    assert l1 == pytest.approx(0.39678, abs=1e-5) and u2 == pytest.approx(0.59072, abs=1e-5)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((56, 70, 48, 80), (0.2000, 0.0524, 0.3339)),  # Newcombe 1998 Table II (a)
        ((9, 10, 3, 10), (0.6000, 0.1705, 0.8090)),  # (b)
        ((6, 7, 2, 7), (0.5714, 0.0582, 0.8062)),  # (c)
        ((5, 56, 0, 29), (0.0893, -0.0381, 0.1926)),  # (d) zero events in one group
        ((0, 10, 0, 20), (0.0000, -0.1611, 0.2775)),  # (e) zero events in both
        ((10, 10, 0, 20), (1.0000, 0.6791, 1.0000)),  # (g) all vs none
    ],
)
def test_newcombe_matches_the_published_table(counts, expected):
    """Newcombe (1998) Table II, method 10, printed to 4 decimals."""
    out = newcombe_difference(*counts)
    assert (out["estimate"], out["ci_low"], out["ci_high"]) == pytest.approx(expected, abs=5e-5)


def test_wilson_matches_prop_test(ref):
    """R: prop.test(x, n, correct = FALSE)$conf.int (binary_ref.R), to 1e-9 relative."""
    for key, r in ref["examples"].items():
        x, n = map(int, key.split("/"))
        low, high = wilson_interval(x, n)
        assert low == pytest.approx(r["low"], rel=1e-9, abs=1e-15), key
        assert high == pytest.approx(r["high"], rel=1e-9), key


def test_empty_group_has_no_interval():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    assert math.isnan(newcombe_difference(3, 10, 0, 0)["ci_low"])
    with pytest.raises(ValueError, match="between 0 and n"):
        wilson_interval(5, 3)


# --------------------------------------------------------------------------------------
# Through the pre/post stage of a randomized trial
# --------------------------------------------------------------------------------------


def binary_trial(separate_baseline: bool = False):
    """binary_trial.csv as the stage's long scores, participants and trial spec."""
    wide = pd.read_csv(REFERENCE / "binary_trial.csv")
    if separate_baseline:  # as binary_ref.R: baseline status 1 -> status 1 at month2
        wide.loc[(wide["baseline"] == 1) & wide["month2"].notna(), "month2"] = 1.0
    scores = wide.melt(
        id_vars="participant_id",
        value_vars=["baseline", "month2", "month4"],
        var_name="timepoint",
        value_name="score",
    )
    participants = wide[["participant_id", "arm", "site", "age", "gender"]]
    spec = {
        "id": "binary",
        "design": "rct",
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
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "gender", "type": "categorical"},
        ],
    }
    return scores, participants, spec


def effects_at(post, covariates=(), separate_baseline=False):
    scores, participants, spec = binary_trial(separate_baseline)
    outcome = {"id": "high_ee", "kind": "category", "role": "secondary"}
    effects, _ = prepost_effects(
        scores,
        participants,
        spec,
        outcome,
        post=post,
        analysis_set="itt",
        alpha=0.05,
        confounders=[],
        odds_covariates=covariates,
    )
    return effects


@pytest.mark.parametrize("post", ["month2", "month4"])
def test_risk_difference_matches_r(ref, post):
    """Risk difference per arm at each post visit: R's prop.test Wilson limits combined by
    Newcombe's formula (binary_ref.R), to 1e-9 relative; unadjusted, said so."""
    effects = effects_at(post)
    rd = effects[effects["estimand"] == "risk_difference"].set_index("contrast")
    assert list(rd.index) == ["coaching - control", "selfguided - control"]
    r_visit = ref["visits"][post]
    for arm in ("coaching", "selfguided"):
        row, r = rd.loc[f"{arm} - control"], r_visit["risk_difference"][arm]
        for key in ("estimate", "ci_low", "ci_high"):
            assert row[key] == pytest.approx(r[key], rel=1e-9), (arm, key)
        arms = r_visit["arms"]
        assert row["n"] == arms[arm]["n"] + arms["control"]["n"]
        assert np.isnan(row["p_value"]) and np.isnan(row["se"])
        assert row["analysis"] == "risk_difference"
        assert row["method"].startswith("unadjusted risk difference")
        assert "Newcombe hybrid score CI" in row["method"]
    rr = effects[effects["estimand"] == "risk_ratio"]
    assert rr["method"].str.startswith("unadjusted risk ratio").all()


@pytest.mark.parametrize(
    ("post", "case", "covariates"),
    [
        ("month2", "unadjusted", ()),
        ("month4", "unadjusted", ()),
        ("month2", "adjusted", ("age", "gender")),
        ("month4", "adjusted", ("age", "gender")),
        ("month4", "adjusted_site", ("age", "gender", "site")),
    ],
)
def test_adjusted_odds_ratio_matches_glm(ref, post, case, covariates):
    """R: glm(post ~ arm + baseline [+ age + gender] [+ site], family = binomial,
    control = glm.control(epsilon = 1e-14)) on participants with both statuses observed
    (binary_ref.R); exp(coef), exp(coef +- qnorm(0.975) SE), Wald P. Tolerance 1e-6 relative."""
    r = ref["visits"][post][case]
    effects = effects_at(post, covariates)
    odds = effects[effects["estimand"] == "adjusted_odds_ratio"].set_index("contrast")
    for arm in ("coaching", "selfguided"):
        row, theirs = odds.loc[f"{arm} - control"], r["odds"][arm]
        assert row["analysis"] == "logistic"
        for ours, key in (
            ("estimate", "or"),
            ("se", "se"),
            ("ci_low", "ci_low"),
            ("ci_high", "ci_high"),
            ("p_value", "p"),
        ):
            assert row[ours] == pytest.approx(theirs[key], rel=1e-6), (arm, ours)
        assert "adjusted for baseline high_ee status (0/1)" in row["method"]
        assert "left out: " in row["note"] and "without a baseline status" in row["note"]
    # n: the arm's and control's participants in the model, of r["n"] in all three arms
    assert odds["n"].sum() > r["n"] - odds["n"].min()


def test_separated_baseline_status_gives_the_limit_fit(ref):
    """Every participant with baseline status 1 has status 1 at month2: the baseline
    coefficient is infinite; the arm odds ratios are the limit of the ML fit, R's glm on the
    participants with baseline status 0 (binary_ref.R), and the note names the separation."""
    r = ref["separated_baseline"]
    effects = effects_at("month2", ("age", "gender"), separate_baseline=True)
    odds = effects[effects["estimand"] == "adjusted_odds_ratio"].set_index("contrast")
    for arm in ("coaching", "selfguided"):
        row = odds.loc[f"{arm} - control"]
        assert row["estimate"] == pytest.approx(r["odds"][arm]["or"], rel=1e-6)
        assert row["se"] == pytest.approx(r["odds"][arm]["se"], rel=1e-6)
        assert "separation" in row["note"] and "baseline_status" in row["note"]


def test_arm_without_events_gives_no_odds_ratio_but_a_note():
    """Quasi-complete separation of an arm (no coached participant has the event at month4):
    no odds ratio (it would be 0), a note saying why; the risk difference is still given."""
    scores, participants, spec = binary_trial()
    coached = set(participants.loc[participants["arm"] == "coaching", "participant_id"])
    at = (scores["timepoint"] == "month4") & scores["participant_id"].isin(coached)
    scores.loc[at & scores["score"].notna(), "score"] = 0.0
    outcome = {"id": "high_ee", "kind": "category", "role": "secondary"}
    effects, _ = prepost_effects(
        scores,
        participants,
        spec,
        outcome,
        post="month4",
        analysis_set="itt",
        alpha=0.05,
        confounders=[],
    )
    coach = effects[effects["contrast"] == "coaching - control"].set_index("estimand")
    assert np.isnan(coach.loc["adjusted_odds_ratio", "estimate"])
    assert "not estimable" in coach.loc["adjusted_odds_ratio", "note"]
    assert "all 0 events" in coach.loc["adjusted_odds_ratio", "note"]
    assert np.isnan(coach.loc["risk_ratio", "estimate"])  # zero events: log undefined
    assert coach.loc["risk_difference", "estimate"] < 0
    assert coach.loc["risk_difference", "ci_low"] >= -1
    other = effects[effects["contrast"] == "selfguided - control"].set_index("estimand")
    assert np.isfinite(other.loc["adjusted_odds_ratio", "estimate"])


def test_covariates_of_the_logistic_regression_follow_the_mixed_model():
    spec = {"design": "rct", "analyses": {"mixed_model": {"covariates": ["age"], "site": "fixed"}}}
    assert binary_covariates(spec) == ("age", "site")
    spec["analyses"]["mixed_model"]["site"] = "random"
    assert binary_covariates(spec) == ("age",)
    assert binary_covariates({"design": "quasi_experimental", "analyses": {}}) == ()


def test_constant_baseline_status_is_left_out_and_the_odds_ratio_is_the_crude_one():
    """Nobody has the status at baseline: the baseline term carries no information and is
    left out (said in the note); with no covariates the model is then saturated in arm, so
    the odds ratio is the crude one, (a / b) / (c / d) from the arms' counts at month4 among
    participants with a baseline status."""
    scores, participants, spec = binary_trial()
    at_baseline = (scores["timepoint"] == "baseline") & scores["score"].notna()
    scores.loc[at_baseline, "score"] = 0.0
    outcome = {"id": "high_ee", "kind": "category", "role": "secondary"}
    effects, _ = prepost_effects(
        scores,
        participants,
        spec,
        outcome,
        post="month4",
        analysis_set="itt",
        alpha=0.05,
        confounders=[],
    )
    row = effects[effects["estimand"] == "adjusted_odds_ratio"].iloc[0]
    assert row["contrast"] == "coaching - control"
    assert "no information on baseline_status: left out" in row["note"]
    wide = scores.pivot(index="participant_id", columns="timepoint", values="score")
    wide = wide[wide["baseline"].notna() & wide["month4"].notna()].join(
        participants.set_index("participant_id")["arm"]
    )
    counts = wide.groupby("arm")["month4"].agg(["sum", "count"])
    a, n1 = counts.loc["coaching"]
    c, n0 = counts.loc["control"]
    assert row["estimate"] == pytest.approx((a / (n1 - a)) / (c / (n0 - c)), rel=1e-9)
    assert row["se"] == pytest.approx(
        math.sqrt(1 / a + 1 / (n1 - a) + 1 / c + 1 / (n0 - c)), rel=1e-9
    )
