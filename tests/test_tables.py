"""Tests for trialeval.tables: printing rules, SMDs, Table 1, the effects tables, the writers.

Every asserted number is derived by hand in the comment next to it. The demo checks build
their inputs with the library (ingest -> score -> analysis sets -> analyses), not from
results/.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import association_outputs, demo_trial, half_up, prepost_outputs
from trialeval import analysis_sets, instruments, labels, tables
from trialeval.config import report_items
from trialeval.effects import EFFECT_COLUMNS, adjust, effects_frame, order_effects
from trialeval.models import mixed_model_effects

ROOT = Path(__file__).resolve().parents[1]
M = "\u2212"  # the minus sign the printed tables use


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def parse_ci(text: str) -> tuple[float, float, float]:
    """Parse "−0.5 (−2.4 to 1.5)ᵃ" back to (-0.5, -2.4, 1.5)."""
    found = re.match(r"^(\S+) \((\S+) to (\S+)\)", text)
    assert found, text
    return tuple(float(v.replace(M, "-")) for v in found.groups())


def demo(trial: str):
    """(spec, participants, items, scores, sets) of a demo trial, built by the library."""
    return demo_trial(trial)


@pytest.fixture(scope="module")
def demos():
    return {t: demo(t) for t in ("coaching_rct", "mentorship_prepost", "belonging_survey")}


def itt_members(participants, sets):
    return participants[
        participants["participant_id"].isin(sets.loc[sets["itt"], "participant_id"])
    ]


# --------------------------------------------------------------------------------------
# Printing rules
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "p, printed",
    [
        (0.0004, "<.001"),  # below .001
        (0.0, "<.001"),
        (0.001, ".001"),  # .001 itself is not below .001: 3 decimals
        (0.0024, ".002"),  # below .01: 3 decimals, no leading zero
        (0.00996, ".01"),  # rounds to .010 at 3 decimals, i.e. not below .01: 2 decimals
        (0.04, ".04"),  # 2 decimals
        (0.0449, ".04"),
        (0.0478, ".048"),  # 2 decimals would print .05 and hide that P < .05: 3 decimals
        (0.0521, ".052"),  # likewise above .05
        (0.5, ".50"),  # trailing zero kept: 2 decimals
        (0.99, ".99"),
        (0.991, ">.99"),  # above .99: never "1.00"
        (1.0, ">.99"),  # a Holm-adjusted P capped at 1
        (float("nan"), "\u2014"),  # missing: em dash
    ],
)
def test_format_p(p, printed):
    assert tables.format_p(p) == printed


def test_format_number_minus_sign_and_nan():
    assert tables.format_number(-0.452378, 1) == f"{M}0.5"  # true minus, 1 decimal
    assert tables.format_number(-0.04, 1) == "0.0"  # rounds to zero: no "−0.0"
    assert tables.format_number(2, 2) == "2.00"
    assert tables.format_number(float("nan"), 2) == "\u2014"
    assert tables.format_number(None, 2) == "\u2014"


def test_format_ci_same_decimals_and_to():
    # effects.csv ee / itt / diff_in_change: -0.452378 (-2.375184 to 1.470428), 1 decimal
    assert tables.format_ci(-0.452378, -2.375184, 1.470428, 1) == f"{M}0.5 ({M}2.4 to 1.5)"
    # a ratio to 2 decimals: 1.25977 (0.910354 to 1.743301)
    assert tables.format_ci(1.25977, 0.910354, 1.743301, 2) == "1.26 (0.91 to 1.74)"
    assert tables.format_ci(float("nan"), float("nan"), float("nan"), 1) == "\u2014"


def test_format_count_percent():
    assert tables.format_count_percent(74, 144) == "74 (51.4)"  # 74 / 144 = 51.39%
    assert tables.format_count_percent(0, 0) == "0 (\u2014)"  # no denominator


def test_estimate_decimals_follow_the_scale(demos):
    # one decimal more than the scale's resolution: whole points -> 1, finer -> 2; ratios 2
    spec = demos["coaching_rct"][0]
    assert tables.estimate_decimals(spec, "ee") == 1  # MBI EE: sum of 9 items 0-6, 0-54
    assert tables.estimate_decimals(spec, "dp") == 1  # sum of 5 items, 0-30
    assert tables.estimate_decimals(spec, "self_compassion") == 2  # mean of 12 items, 1/12
    assert tables.estimate_decimals(spec, "high_ee", "risk_ratio") == 2  # ratios: 2
    assert tables.estimate_decimals(spec, "ee", "adjusted_odds_ratio") == 2
    # a risk difference prints in percentage points: 1 decimal, as percentages
    assert tables.estimate_decimals(spec, "high_ee", "risk_difference") == 1
    assert tables.estimate_decimals(spec, "high_ee") == 2  # a proportion
    survey = demos["belonging_survey"][0]
    assert tables.estimate_decimals(survey, "belonging_school") == 1  # one whole-point item
    assert tables.estimate_decimals(survey, "recommend") == 1  # one 0-10 item


def scale_spec(item_range, scoring, n_items, decimals=False) -> dict:
    items = [f"i{k}" for k in range(n_items)]
    subscale = {"range": [0, 54], "scoring": scoring, "items": items}
    instrument = {"label": "X", "item_range": item_range, "subscales": {"s": subscale}}
    instrument["decimals"] = decimals
    outcome = {"id": "y", "label": "Y", "instrument": "x", "kind": "score", "name": "s"}
    return {"outcomes": [outcome], "instruments": {"x": instrument}}


@pytest.mark.parametrize(
    "item_range, scoring, n_items, answers, decimals",
    [
        ([0, 6], "sum", 9, False, 1),  # a 0-54 total of whole-point items: resolution 1 -> 1
        ([1, 5], "mean", 12, False, 2),  # a 1-5 mean of 12 items: resolution 1/12 -> 2
        ([1, 5], "mean", 1, False, 1),  # the mean of one item is the item: whole points -> 1
        ([0, 2.5], "sum", 4, False, 2),  # items not in whole points: finer -> 2
        ([1, 5], "sum", 1, True, 2),  # a pre-scored mean (answers with decimals): 2
    ],
)
def test_estimate_decimals_by_resolution(item_range, scoring, n_items, answers, decimals):
    spec = scale_spec(item_range, scoring, n_items, answers)
    assert tables.estimate_decimals(spec, "y") == decimals
    assert tables.estimate_decimals(spec, "y", "risk_ratio") == 2


def test_outcome_labels_name_instrument_and_range(demos):
    spec = demos["coaching_rct"][0]
    # MBI EE: 9 items scored 0-6, summed: 0-54; the acronym comes from the instrument label
    assert tables.outcome_label(spec, "ee") == "Emotional exhaustion (MBI, 0–54)"
    # CIPS: 20 items 1-5 summed: 20-100, added inside the label's own parentheses
    assert tables.outcome_label(spec, "impostor") == "Impostor phenomenon (CIPS total, 20–100)"
    # categories keep their label (no range)
    assert tables.outcome_label(spec, "high_ee") == "High emotional exhaustion (EE >= 27)"
    # a range typed into the label with a hyphen prints with the en dash, once; a negative
    # bound with a true minus
    ee = next(o for o in spec["outcomes"] if o["id"] == "ee")
    typed = {**spec, "outcomes": [{**ee, "label": "Exhaustion (MBI, 0-54)"}]}
    assert tables.outcome_label(typed, "ee") == "Exhaustion (MBI, 0\u201354)"
    instrument = spec["instruments"][ee["instrument"]]
    subscale = {**instrument["subscales"][ee["name"]], "range": [-3, 3]}
    shifted = {
        **spec,
        "instruments": {
            ee["instrument"]: {**instrument, "subscales": {ee["name"]: subscale}},
        },
    }
    assert tables.outcome_label(shifted, "ee") == "Emotional exhaustion (MBI, \u22123\u20133)"


# --------------------------------------------------------------------------------------
# Standardized mean differences
# --------------------------------------------------------------------------------------


def test_smd_numeric_by_hand():
    # m1 = 2, s1^2 = 1; m0 = 4, s0^2 = 4; (2 - 4) / sqrt((1 + 4) / 2) = -2 / 1.58114 = -1.26491
    assert tables.smd_numeric([1, 2, 3], [2, 4, 6]) == pytest.approx(-1.2649110640673518)
    # missing values are dropped: same as above
    assert tables.smd_numeric([1, 2, 3, np.nan], [2, 4, 6]) == pytest.approx(-1.26491106406735)


def test_smd_categorical_two_levels_by_hand():
    # level B: p1 = 2/4 = .5, p0 = 1/4 = .25; S = (.5 * .5 + .25 * .75) / 2 = .21875
    # SMD = .25 / sqrt(.21875) = .25 / .467707 = 0.534522
    assert tables.smd_categorical(list("AABB"), list("AAAB")) == pytest.approx(0.5345224838)
    # a 0/1 outcome uses the same formula with one level
    assert tables.smd_binary([0, 0, 1, 1], [0, 0, 0, 1]) == pytest.approx(0.5345224838)


def test_smd_categorical_three_levels_by_hand():
    # arm 1: A 5, B 3, C 2 of 10; arm 0: A 2, B 4, C 4 of 10; reference A dropped.
    # p1 = (.3, .2), p0 = (.4, .4), d = (-.1, -.2)
    # S1 = [[.21, -.06], [-.06, .16]], S0 = [[.24, -.16], [-.16, .24]]
    # S = [[.225, -.11], [-.11, .20]], det = .045 - .0121 = .0329
    # S^-1 = [[.20, .11], [.11, .225]] / .0329
    # d' S^-1 d = (.20 * .01 + 2 * .11 * .02 + .225 * .04) / .0329 = .0154 / .0329 = .468085
    # SMD = sqrt(.468085) = 0.684167
    one, zero = list("AAAAABBBCC"), list("AABBBBCCCC")
    assert tables.smd_categorical(one, zero) == pytest.approx(0.6841674549)
    # the same whichever level is the reference
    assert tables.smd_categorical(one, zero, ["C", "A", "B"]) == pytest.approx(0.6841674549)


def test_smd_categorical_defined_when_a_level_is_empty_in_one_arm():
    # arm 1: A 5, B 5, C 0; arm 0: A 4, B 3, C 3. p1 = (.5, 0), p0 = (.3, .3), d = (.2, -.3)
    # S1 = [[.25, 0], [0, 0]] (C empty), S0 = [[.21, -.09], [-.09, .21]]
    # S = [[.23, -.045], [-.045, .105]], det = .02415 - .002025 = .022125
    # d' S^-1 d = (.105 * .04 + 2 * .045 * (-.06) + .23 * .09) / .022125 = .0195 / .022125
    #           = .881356; SMD = sqrt(.881356) = 0.938806
    value = tables.smd_categorical(list("AAAAABBBBB"), list("AAAABBBCCC"))
    assert np.isfinite(value)
    assert value == pytest.approx(0.9388055881)
    # a level present in neither arm (listed, e.g. from another arm) changes nothing
    value = tables.smd_categorical(list("AAAAABBBBB"), list("AAAABBBCCC"), list("ABCD"))
    assert value == pytest.approx(0.9388055881)
    # same proportions in both arms: 0 (not NaN), even with an empty level
    assert tables.smd_categorical(list("AB"), list("AB"), list("ABC")) == 0.0


# --------------------------------------------------------------------------------------
# Table 1
# --------------------------------------------------------------------------------------


def tiny_spec(arms=None, design="rct") -> dict:
    """A hand-made trial spec with only what table1 reads."""
    arms = arms or [
        {"id": "tx", "label": "Treatment", "control": False},
        {"id": "ctl", "label": "Control", "control": True},
    ]
    control = next((a["id"] for a in arms if a["control"]), None)
    return {
        "id": "tiny",
        "design": design,
        "arms": arms,
        "control_arm": control,
        "baseline": "t0",
        "timepoints": [
            {"id": "t0", "label": "Baseline", "baseline": True},
            {"id": "t1", "label": "Week 8", "baseline": False},
        ],
        "covariates": [
            {"name": "age", "label": "Age, years", "type": "numeric", "summary": "mean_sd"},
            {"name": "gender", "label": "Gender", "type": "categorical", "summary": "mean_sd"},
        ],
        "outcomes": [
            {
                "id": "wb",
                "label": "Wellbeing",
                "instrument": "wbi",
                "kind": "score",
                "name": "total",
                "role": "primary",
            },
            {
                "id": "flag",
                "label": "Low wellbeing (WB <= 12)",
                "instrument": "wbi",
                "kind": "category",
                "name": "low",
                "role": "secondary",
            },
        ],
        "instruments": {
            "wbi": {
                "label": "Wellbeing Index",
                "subscales": {"total": {"label": "Wellbeing", "range": [0, 40]}},
                "bands": None,
            }
        },
        "per_protocol": None,
        "analyses": {"analysis_sets": ["itt"], "association": None},
    }


def tiny_inputs():
    ids = ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]
    participants = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": ["tx", "tx", "tx", "ctl", "ctl", "ctl", "tx"],
            "withdrawn": [False] * 6 + [True],
            "age": [20.0, 22, 24, 21, 23, 25, 99],  # P7 withdrew: must not count
            "gender": ["f", "m", None, "f", "f", "m", "m"],
        }
    )
    sets = participants[["participant_id", "arm", "withdrawn"]].assign(
        responded_t0=[True, True, True, True, False, True, False],
        responded_t1=[True] + [False] * 6,
        itt=~participants["withdrawn"],
    )
    scores = pd.DataFrame(
        {
            "participant_id": ["P1", "P2", "P3", "P4", "P6", "P1"] * 2,
            "timepoint": ["t0"] * 5 + ["t1"] + ["t0"] * 5 + ["t1"],
            "outcome": ["wb"] * 6 + ["flag"] * 6,
            # P3 answered too few items (NaN); P5 never answered; P1's t1 must be ignored
            "score": [10, 14, np.nan, 12, 20, 30, 1, 0, np.nan, 0, 1, 0],
        }
    )
    return participants, sets, scores


def row(formatted: pd.DataFrame, label: str, after: str | None = None) -> pd.Series:
    """The first row whose stripped Characteristic is `label` (after the row `after`)."""
    names = formatted["Characteristic"].str.replace("\u00a0", " ").str.strip()
    start = 0 if after is None else int(np.flatnonzero(names == after)[0])
    hits = np.flatnonzero(names == label)
    return formatted.iloc[int(hits[hits >= start][0])]


def test_table1_by_hand():
    full, formatted = tables.table1(tiny_spec(), *tiny_inputs())
    assert list(formatted.columns) == ["Characteristic", "Treatment", "Control", "Overall", "SMD"]
    # n: P1-P3 in tx (P7 withdrew), P4-P6 in ctl
    assert list(row(formatted, "Participants, n")[1:4]) == ["3", "3", "6"]

    age = row(formatted, "Age, years, mean (SD)")
    assert age["Treatment"] == "22.0 (2.0)"  # 20, 22, 24: mean 22, SD 2
    assert age["Control"] == "23.0 (2.0)"  # 21, 23, 25: mean 23, SD 2
    assert age["Overall"] == "22.5 (1.9)"  # 20..25: mean 22.5, SD sqrt(3.5) = 1.87
    assert age["SMD"] == f"{M}0.50"  # (22 - 23) / sqrt((4 + 4) / 2) = -0.5
    smd = full[(full["variable"] == "age") & (full["statistic"] == "smd")]["value"]
    assert smd.tolist() == [pytest.approx(-0.5)]

    # gender: tx f 1, m 1 of 2 answered (P3 missing); ctl f 2, m 1 of 3
    # SMD: level m, p1 = .5, p0 = 1/3; S = (.25 + 2/9) / 2 = .236111;
    # (1/6) / sqrt(.236111) = .166667 / .485913 = 0.343 -> "0.34"
    assert row(formatted, "Gender, n (%)")["SMD"] == "0.34"
    assert list(row(formatted, "F", "Gender, n (%)")[1:4]) == ["1 (50.0)", "2 (66.7)", "3 (60.0)"]
    assert list(row(formatted, "M", "Gender, n (%)")[1:4]) == ["1 (50.0)", "1 (33.3)", "2 (40.0)"]
    assert list(row(formatted, "Missing", "Gender, n (%)")[1:4]) == ["1", "0", "1"]
    # no Missing row for age (nothing missing): the row after age is Gender
    names = formatted["Characteristic"].str.strip().tolist()
    assert names[names.index("Age, years, mean (SD)") + 1] == "Gender, n (%)"

    # wellbeing at t0 (P1's t1 score 30 ignored): tx 10, 14 (P3 NaN) -> 12.0 (2.8);
    # ctl 12, 20 (P5 no response) -> 16.0 (5.7); 0-40 spans 40 > 20 points: 1 decimal
    # SMD (12 - 16) / sqrt((8 + 32) / 2) = -4 / 4.472 = -0.894
    wb = row(formatted, "Wellbeing (WI, 0–40), mean (SD)")
    assert list(wb[1:]) == ["12.0 (2.8)", "16.0 (5.7)", "14.0 (4.3)", f"{M}0.89"]
    assert list(row(formatted, "Missing", "Wellbeing (WI, 0–40), mean (SD)")[1:4]) == [
        "1",  # P3: too few items
        "1",  # P5: no response
        "2",
    ]
    # low wellbeing: tx 1 of 2 (P1), ctl 1 of 2 (P6): 50% each, SMD 0
    flag = row(formatted, "Low wellbeing (WB ≤ 12), n (%)")
    assert list(flag[1:]) == ["1 (50.0)", "1 (50.0)", "2 (50.0)", "0.00"]


def test_table1_smd_column_per_intervention_arm_and_none_for_one_group():
    participants, sets, scores = tiny_inputs()
    arms = [
        {"id": "tx", "label": "Treatment", "control": False},
        {"id": "boost", "label": "Booster", "control": False},
        {"id": "ctl", "label": "Control", "control": True},
    ]
    participants.loc[participants["participant_id"] == "P2", "arm"] = "boost"
    sets.loc[sets["participant_id"] == "P2", "arm"] = "boost"
    _, formatted = tables.table1(tiny_spec(arms), participants, sets, scores)
    assert list(formatted.columns)[-2:] == ["SMD, Treatment vs Control", "SMD, Booster vs Control"]
    # tx now 20, 24 (mean 22, SD 2.83) vs ctl 21, 23, 25 (mean 23, SD 2):
    # (22 - 23) / sqrt((8 + 4) / 2) = -1 / 2.449 = -0.41
    assert row(formatted, "Age, years, mean (SD)")["SMD, Treatment vs Control"] == f"{M}0.41"


def test_table1_of_a_survey_shows_respondents_non_respondents_and_everyone():
    participants, sets, scores = tiny_inputs()
    single = [{"id": "all", "label": "All participants", "control": False}]
    sets["arm"] = participants["arm"] = "all"
    # a survey's itt set is its respondents; Table 1 describes the whole frame regardless
    sets["itt"] = sets["responded_t0"] & ~sets["withdrawn"]
    spec = tiny_spec(single, "cross_sectional")
    full, formatted = tables.table1(spec, participants, sets, scores)
    assert list(formatted.columns) == [
        "Characteristic",
        "Respondents",
        "Non-respondents",
        "Everyone surveyed",
    ]
    # the frame less the withdrawn P7: respondents P1-P4, P6; P5 did not respond
    assert list(row(formatted, "Participants, n")[1:]) == ["5", "1", "6"]
    assert list(row(formatted, "Responded to the survey, n (%)")[1:]) == ["", "", "5 (83.3)"]
    # age, a frame variable: respondents 20, 22, 24, 21, 25: mean 22.4, SD sqrt(17.2 / 4) =
    # 2.07; P5 alone 23 (no SD); everyone 20..25: 22.5 (1.87)
    assert list(row(formatted, "Age, years, mean (SD)")[1:]) == [
        "22.4 (2.1)",
        "23.0 (—)",
        "22.5 (1.9)",
    ]
    # gender: respondents f P1 P4, m P2 P6, P3 missing; P5 f; everyone f 3 / m 2 of 5
    assert list(row(formatted, "F", "Gender, n (%)")[1:]) == ["2 (50.0)", "1 (100.0)", "3 (60.0)"]
    assert list(row(formatted, "M", "Gender, n (%)")[1:]) == ["2 (50.0)", "0 (0.0)", "2 (40.0)"]
    assert list(row(formatted, "Missing", "Gender, n (%)")[1:]) == ["1", "0", "1"]
    # survey measures among respondents only: wb 10, 14, 12, 20 (P3 unscored): 14.0, SD
    # sqrt(56 / 3) = 4.32
    wb = row(formatted, "Wellbeing (WI, 0–40), mean (SD)")
    assert list(wb[1:]) == ["14.0 (4.3)", "", ""]
    assert list(row(formatted, "Missing", "Wellbeing (WI, 0–40), mean (SD)")[1:]) == ["1", "", ""]
    # what run() checks: respondents = analysed, non-respondents = not assessed, everyone =
    # allocated less withdrawn
    consort = {
        "allocated": {"all": 7},
        "withdrawn": {"all": 1},
        "timepoints": {"t0": "Survey"},
        "analysed": {"itt": {"all": 5}},
        "not_assessed": {"t0": {"all": 1}},
    }
    tables._check_n(spec, full, consort)
    consort["not_assessed"]["t0"]["all"] = 2
    with pytest.raises(ValueError, match="non_respondents"):
        tables._check_n(spec, full, consort)


@pytest.mark.parametrize("trial", ["coaching_rct", "mentorship_prepost", "belonging_survey"])
def test_table1_demo_n_matches_consort_and_every_outcome_has_a_baseline_row(demos, trial):
    spec, participants, _, scores, sets = demos[trial]
    full, formatted = tables.table1(spec, participants, sets, scores)
    consort = analysis_sets.consort_counts(sets, spec)
    n = full[full["variable"] == "n"].set_index("group")["value"]
    printed = formatted.iloc[0]
    if spec["design"] == "cross_sectional":  # the frame: respondents (analysed) and the rest
        assert n["respondents"] == consort["analysed"]["itt"]["all"] == 1261
        assert n["non_respondents"] == consort["not_assessed"]["survey"]["all"] == 996
        assert n["overall"] == consort["allocated"]["all"] == 2257
        assert printed["Respondents"] == "1261" and printed["Everyone surveyed"] == "2257"
    else:
        for arm, count in consort["analysed"]["itt"].items():
            assert n[arm] == count
        for arm in spec["arms"]:
            assert printed[arm["label"]] == str(consort["analysed"]["itt"][arm["id"]])
    labels = formatted["Characteristic"].str.strip()
    for outcome in spec["outcomes"]:
        label = tables.typographic(tables.outcome_label(spec, outcome["id"]))
        assert labels.str.startswith(label).sum() == 1, outcome["id"]
    if len(spec["arms"]) > 1:
        smd = formatted["SMD"][formatted["SMD"] != ""]
        assert smd.map(lambda s: re.fullmatch(r"\u2212?\d+\.\d\d", s) is not None).all()
    tables._check_n(spec, full, consort)  # what run() checks against consort.json


def test_table1_n_mismatch_with_consort_is_an_error(demos):
    spec, participants, _, scores, sets = demos["mentorship_prepost"]
    full, _ = tables.table1(spec, participants, sets, scores)
    consort = analysis_sets.consort_counts(sets, spec)
    consort["analysed"]["itt"]["control"] += 1
    with pytest.raises(ValueError, match="consort"):
        tables._check_n(spec, full, consort)


# --------------------------------------------------------------------------------------
# Effects, pre/post and association tables agree with the effects rows
# --------------------------------------------------------------------------------------


def assert_printed_matches(spec, effects: pd.DataFrame, cells: list[str]):
    """Each printed "x (a to b)" equals the effects row rounded half up to the table's
    decimals (a risk difference in percentage points: 100 times effects.csv's proportion)."""
    assert len(effects) == len(cells)
    for (_, effect), cell in zip(effects.iterrows(), cells, strict=True):
        decimals = tables.estimate_decimals(spec, effect["outcome"], effect["estimand"])
        printed = parse_ci(cell)
        scale = 100 if effect["estimand"] == "risk_difference" else 1
        expected = [half_up(scale * effect[c], decimals) for c in ("estimate", "ci_low", "ci_high")]
        assert printed == pytest.approx(expected, abs=1e-9), (cell, expected)


@pytest.fixture(scope="module")
def coaching_effects(demos):
    """Mixed-model effects of two outcomes on the coaching demo, as the pipeline stacks them."""
    spec, participants, _, scores, sets = demos["coaching_rct"]
    itt = itt_members(participants, sets)
    rows, means = [], []
    for oid in ("ee", "self_compassion"):
        outcome = next(o for o in spec["outcomes"] if o["id"] == oid)
        effects, adjusted_means, _ = mixed_model_effects(
            scores[scores["outcome"] == oid], itt, spec, outcome, analysis_set="itt", site="random"
        )
        rows.append(effects)
        means.append(adjusted_means)
    effects = adjust(order_effects(pd.concat(rows, ignore_index=True), spec), "holm")
    return spec, effects, pd.concat(means, ignore_index=True)


def test_effects_table_agrees_with_effects_rows(coaching_effects):
    spec, effects, means = coaching_effects
    full, formatted = tables.effects_table(spec, effects, means)
    assert len(full) == len(effects) == 4
    heading = "Difference, Group coaching − Control (95% CI)"  # the contrast: in the header
    assert list(formatted.columns) == [
        "Outcome",
        "Group coaching",
        "Control",
        heading,
        "P",
        "Adjusted P",
        "n",
    ]
    effect_rows = formatted[formatted[heading] != ""]
    assert_printed_matches(spec, effects, effect_rows[heading].tolist())
    assert effect_rows["P"].tolist() == [tables.format_p(p) for p in effects["p_value"]]
    # adjusted P: the secondary outcomes' (Holm); a dash for the primary, which is not adjusted
    expected = [
        "\u2014" if role == "primary" else tables.format_p(p)
        for role, p in zip(effects["role"], effects["p_adjusted"], strict=True)
    ]
    assert effect_rows["Adjusted P"].tolist() == expected
    assert expected[:2] == ["\u2014", "\u2014"] and expected[2:] == ["<.001", "<.001"]
    assert effect_rows["n"].tolist() == [str(n) for n in effects["n"]]
    # the set and the role are heading rows; each outcome's label row holds the groups'
    # results, its effect measures are indented rows under it
    assert formatted["Outcome"].tolist() == [
        "Intention-to-treat set",
        "Primary outcome",  # one outcome: singular
        "Emotional exhaustion (MBI, 0–54)",
        # labelled by what the group cells hold; the difference is in the effect column
        tables.INDENT + "Change from baseline, model-estimated mean (95% CI)",
        tables.INDENT + "At follow-up, model-estimated mean (95% CI)",
        "Secondary outcome",
        "Self-compassion (SCS-SF mean, 1–5)",
        tables.INDENT + "Change from baseline, model-estimated mean (95% CI)",
        tables.INDENT + "At follow-up, model-estimated mean (95% CI)",
    ]
    assert formatted.attrs["headings"] == {0: tables.HEADING, 1: 2, 5: 2}
    # no contrast, visit or set repeated in the body
    body = " ".join(formatted.to_numpy().ravel())
    assert " vs " not in body and "Month 4" not in body and "Intention-to-treat" in body
    assert body.count("Intention-to-treat") == 1
    # each group's cell is, beside the difference in means, its adjusted mean (95% CI) at
    # month 4, and beside the difference in change its adjusted mean change from baseline to
    # month 4 (the means file's change_* columns), to the outcome's decimals (EE a 0-54
    # total: 1; self-compassion a mean of 12 items: 2); the outcome's own row has none
    for label, oid, decimals in [
        ("Emotional exhaustion (MBI, 0–54)", "ee", 1),
        ("Self-compassion (SCS-SF mean, 1–5)", "self_compassion", 2),
    ]:
        at = formatted.index[formatted["Outcome"] == label][0]
        assert formatted.loc[at, ["Group coaching", "Control"]].tolist() == ["", ""]
        change_line, means_line = formatted.loc[at + 1], formatted.loc[at + 2]
        assert change_line["Outcome"].endswith(
            "Change from baseline, model-estimated mean (95% CI)"
        )
        month4 = means[(means["outcome"] == oid) & (means["timepoint"] == "month4")]
        month4 = month4.set_index("arm")
        for arm, column in (("coaching", "Group coaching"), ("control", "Control")):
            for line, prefix in ((means_line, ""), (change_line, "change_")):
                keys = [f"{prefix}{c}" for c in ("estimate", "ci_low", "ci_high")]
                expected = [half_up(month4.loc[arm, k], decimals) for k in keys]
                assert parse_ci(line[column]) == pytest.approx(expected, abs=1e-9)
                assert len(line[column].split(" ")[0].split(".")[1]) == decimals
        # the differences are those of the printed groups' means and changes (by hand)
        for estimand, column in (("diff_in_means", "estimate"), ("diff_in_change", "change_")):
            column = "change_estimate" if column == "change_" else column
            effect = effects[(effects["outcome"] == oid) & (effects["estimand"] == estimand)]
            gap = month4.loc["coaching", column] - month4.loc["control", column]
            assert effect["estimate"].iloc[0] == pytest.approx(gap, abs=1e-10)
    # EE by hand (coaching demo, ITT, site random; means file): coaching 28.283777 - 26.373063
    # = 1.910714, control 27.729650 - 25.366558 = 2.363092, difference -0.452378 (effects.csv
    # diff_in_change); printed 1.9 and 2.4 beside -0.5, not 28.3 and 27.7
    ee = means[means["outcome"] == "ee"].set_index(["arm", "timepoint"])
    for arm in ("coaching", "control"):
        change = ee.loc[(arm, "month4"), "estimate"] - ee.loc[(arm, "baseline"), "estimate"]
        assert ee.loc[(arm, "month4"), "change_estimate"] == pytest.approx(change, abs=1e-10)
    at = formatted.index[formatted["Outcome"] == "Emotional exhaustion (MBI, 0–54)"][0]
    assert formatted.loc[at + 1, ["Group coaching", "Control", heading]].tolist() == [
        "1.9 (0.6 to 3.2)",
        "2.4 (1.0 to 3.7)",
        "−0.5 (−2.4 to 1.5)",
    ]
    assert full["estimate"].tolist() == effects["estimate"].tolist()  # full precision kept


def test_effects_table_by_hand_negative_nan_and_note():
    spec = tiny_spec()
    base = {"contrast": "tx - ctl", "timepoint": "t1", "analysis_set": "itt", "note": ""}
    flag = {**base, "outcome": "flag", "role": "secondary", "n": 30}
    effects = effects_frame(
        [
            {
                **base,
                "outcome": "wb",
                "role": "primary",
                "analysis": "mixed_model",
                "estimand": "diff_in_change",
                "estimate": -1.25,
                "ci_low": -2.449,
                "ci_high": -0.05,
                "p_value": 0.0478,
                "p_adjusted": 0.0478,
                "n": 40,
            },
            {
                **flag,
                "analysis": "risk_ratio",
                "estimand": "risk_ratio",
                "estimate": 1.3333333,
                "ci_low": 0.456,
                "ci_high": 3.8949,
                "p_value": 0.6,
                "p_adjusted": 0.6,
            },
            {
                **flag,
                "analysis": "logistic",
                "estimand": "adjusted_odds_ratio",
                "estimate": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "p_value": np.nan,
                "p_adjusted": np.nan,
                "note": "no events in either arm",
            },
        ]
    )
    summary = pd.DataFrame(
        {
            "outcome": ["flag", "flag"],
            "timepoint": ["t1", "t1"],
            "analysis_set": ["itt", "itt"],
            "arm": ["tx", "ctl"],
            "n": [16, 14],
            "n_events": [4, 3],
            "proportion": [0.25, 3 / 14],
        }
    )
    full, formatted = tables.effects_table(spec, effects, None, summary)
    effect = "Difference or ratio, Treatment vs Control (95% CI)"  # a ratio beside a difference
    rows = formatted.set_index("Outcome")
    wb = rows.loc["Wellbeing (WI, 0–40), difference in change from baseline"]
    # 0-40 scale: 1 decimal; -1.25 -> −1.3 (halves round up, away from zero, not to the
    # even −1.2), -2.449 -> −2.4, -0.05 -> −0.1
    assert wb[effect] == f"{M}1.3 ({M}2.4 to {M}0.1)"
    assert wb["P"] == ".048"  # .0478: 2 decimals would print .05
    assert wb["Treatment"] == wb["Control"] == ""  # no adjusted means given
    # the binary outcome's row: events / observed (%) per arm, 4/16 = 25.0%, 3/14 = 21.4%
    head = rows.loc["Low wellbeing (WB ≤ 12)"]
    assert (head["Treatment"], head["Control"], head[effect]) == ("4/16 (25.0)", "3/14 (21.4)", "")
    ratio = rows.loc[tables.INDENT + "Risk ratio (unadjusted)"]
    assert ratio[effect] == "1.33 (0.46 to 3.89)"  # ratios: 2 decimals
    assert ratio["Treatment"] == ""  # the groups' counts print once, on the outcome's row
    odds = rows.loc[tables.INDENT + "Odds ratio (adjusted)"]
    assert odds[effect] == "\u2014ᵃ"  # NaN: em dash, marker to the note
    assert odds["P"] == odds["Adjusted P"] == "\u2014"
    assert formatted.attrs["footnotes"] == ["ᵃ No events in either arm."]
    assert full.loc[0, "estimate"] == -1.25
    # no row repeats the contrast, the visit or the set
    assert not formatted["Outcome"].str.contains("Treatment|Week 8").any()


def test_effects_table_change_cells_by_hand_and_without_change_columns():
    """Beside a difference in change the group cells are the means file's change_* columns
    (a sensitivity analysis's under its analysis_name); a means file written before them
    (no change_* columns) leaves the mean at follow-up there, and the footnote says so."""
    spec = tiny_spec()
    row = {
        "outcome": "wb",
        "role": "primary",
        "analysis": "mixed_model",
        "estimand": "diff_in_change",
        "contrast": "tx - ctl",
        "timepoint": "t1",
        "analysis_set": "itt",
        "estimate": -1.5,
        "ci_low": -3.0,
        "ci_high": 0.0,
        "p_value": 0.05,
        "p_adjusted": 0.05,
        "n": 40,
        "note": "",
    }
    effects = effects_frame([{**row, "analysis_name": name} for name in ("primary", "sens")])
    # by hand: tx 12.0 - 10.5 = 1.5, ctl 13.0 - 10.0 = 3.0, difference -1.5 (the effect)
    means = pd.DataFrame(
        {
            "analysis_name": ["primary"] * 4 + ["sens"] * 2,
            "outcome": "wb",
            "analysis_set": "itt",
            "arm": ["tx", "tx", "ctl", "ctl", "tx", "ctl"],
            "timepoint": ["t0", "t1", "t0", "t1", "t1", "t1"],
            "estimate": [10.5, 12.0, 10.0, 13.0, 11.0, 12.0],
            "ci_low": [9.5, 11.0, 9.0, 12.0, 10.0, 11.0],
            "ci_high": [11.5, 13.0, 11.0, 14.0, 12.0, 13.0],
            "change_estimate": [np.nan, 1.5, np.nan, 3.0, 0.3, -0.6],
            "change_ci_low": [np.nan, 0.5, np.nan, 2.0, -0.7, -1.6],
            "change_ci_high": [np.nan, 2.5, np.nan, 4.0, 1.3, 0.4],
        }
    )
    _, formatted = tables.effects_table(spec, effects, means)
    cells = formatted.loc[formatted["n"] == "40", ["Treatment", "Control"]].to_numpy().tolist()
    assert cells == [
        ["1.5 (0.5 to 2.5)", "3.0 (2.0 to 4.0)"],  # primary: its change rows
        [f"0.3 ({M}0.7 to 1.3)", f"{M}0.6 ({M}1.6 to 0.4)"],  # the sensitivity analysis's
    ]
    notes = " ".join(tables._group_footnotes(spec, _labelled(spec, effects), means))
    assert "each group's model-estimated mean change from baseline to follow-up (95% CI)" in notes
    assert "show the mean at follow-up for it too" not in notes
    # the means of older outputs: no change_* columns, the mean at follow-up and the note
    old = means.drop(columns=[c for c in means if c.startswith("change_")])
    _, formatted = tables.effects_table(spec, effects, old)
    cells = formatted.loc[formatted["n"] == "40", ["Treatment", "Control"]].to_numpy().tolist()
    assert cells[0] == ["12.0 (11.0 to 13.0)", "13.0 (12.0 to 14.0)"]
    notes = " ".join(tables._group_footnotes(spec, _labelled(spec, effects), old))
    assert "show the mean at follow-up for it too" in notes


def _labelled(spec, effects):
    full = tables._effect_labels(spec, effects)
    full["analysis_name"] = tables._analysis_names(full)
    return full


def test_effects_table_three_arms_one_row_per_contrast():
    arms = [
        {"id": "tx", "label": "Treatment", "control": False},
        {"id": "peer", "label": "Peer support", "control": False},
        {"id": "ctl", "label": "Control", "control": True},
    ]
    spec = tiny_spec(arms)
    rows = [
        {
            "outcome": "wb",
            "role": "primary",
            "analysis": "mixed_model",
            "estimand": "diff_in_means",
            "contrast": f"{arm} - ctl",
            "timepoint": "t1",
            "analysis_set": "itt",
            "estimate": value,
            "ci_low": value - 1,
            "ci_high": value + 1,
            "p_value": 0.5,
            "p_adjusted": 0.5,
            "n": 60,
            "note": "",
        }
        for arm, value in (("tx", 2.0), ("peer", 1.0))
    ]
    means = pd.DataFrame(
        {
            "outcome": "wb",
            "analysis_set": "itt",
            "arm": ["tx", "peer", "ctl"],
            "timepoint": "t1",
            "estimate": [12.0, 11.0, 10.0],
            "ci_low": [11.0, 10.0, 9.0],
            "ci_high": [13.0, 12.0, 11.0],
        }
    )
    _, formatted = tables.effects_table(spec, effects_frame(rows), means)
    # each arm's column once; the effect column names no contrast, each row its own
    assert list(formatted.columns) == [
        "Outcome",
        "Treatment",
        "Peer support",
        "Control",
        "Difference (95% CI)",
        "P",
        "Adjusted P",
        "n",
    ]
    assert formatted["Outcome"].tolist()[2:] == [
        "Wellbeing (WI, 0–40)",
        tables.INDENT + "Difference in means, Treatment vs Control",
        tables.INDENT + "Difference in means, Peer support vs Control",
    ]
    head = formatted.iloc[2]
    assert head[["Treatment", "Peer support", "Control"]].tolist() == [
        "12.0 (11.0 to 13.0)",
        "11.0 (10.0 to 12.0)",
        "10.0 (9.0 to 11.0)",
    ]
    assert formatted["Difference (95% CI)"].tolist()[3:] == [
        "2.0 (1.0 to 3.0)",
        "1.0 (0.0 to 2.0)",
    ]


def test_multiplicity_rule_is_read_back_from_the_adjusted_p():
    rows = [
        {
            "outcome": o,
            "role": "secondary",
            "analysis": "prepost",
            "estimand": "risk_ratio",
            "contrast": "tx - ctl",
            "timepoint": "t1",
            "analysis_set": "itt",
            "p_value": p,
        }
        for o, p in (("a", 0.01), ("b", 0.04), ("c", 0.03))
    ]
    effects = effects_frame(rows)
    # Holm: sorted .01, .03, .04 -> 3 * .01 = .03, 2 * .03 = .06, 1 * .04 -> max(.06, .04) = .06
    holm = adjust(effects, "holm")
    assert holm["p_adjusted"].tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert "Holm" in tables.multiplicity_rule(holm, {})
    # BH: .04 * 3/3 = .04, .03 * 3/2 = .045 -> min(.045, .04) = .04, .01 * 3 = .03
    bh = adjust(effects, "fdr_bh")
    assert bh["p_adjusted"].tolist() == pytest.approx([0.03, 0.04, 0.04])
    assert "Benjamini-Hochberg" in tables.multiplicity_rule(bh, {})
    assert "not adjusted" in tables.multiplicity_rule(adjust(effects, "none"), {})


@pytest.fixture(scope="module")
def mentorship_prepost(demos):
    spec, participants, _, scores, sets = demos["mentorship_prepost"]
    itt = itt_members(participants, sets)
    effects, summary = prepost_outputs(spec, scores, itt)
    return spec, effects, summary


def test_prepost_table_agrees_with_effects_and_summary(mentorship_prepost):
    spec, effects, summary = mentorship_prepost
    full, formatted = tables.prepost_table(spec, summary, effects)
    rows = formatted[formatted["Resident mentor"] != ""].reset_index(drop=True)
    outcome_order = [o for o in effects["outcome"].drop_duplicates()]
    kinds = {o["id"]: o["kind"] for o in spec["outcomes"]}
    ordered = [o for o in outcome_order if kinds[o] == "score"]
    ordered += [o for o in outcome_order if kinds[o] == "category"]
    assert len(rows) == len(ordered) == 6
    shift = "Hodges-Lehmann shift or risk ratio (95% CI)"
    for (_, printed), oid in zip(rows.iterrows(), ordered, strict=True):
        here = effects[effects["outcome"] == oid]
        first = here[here["estimand"].isin(["hodges_lehmann_shift", "risk_ratio"])]
        assert_printed_matches(spec, first, [printed[shift]])
        assert printed["P (Wilcoxon or z test)"] == tables.format_p(first["p_value"].iloc[0])
        adjusted = here[here["estimand"] == "adjusted_mean_difference"]
        if kinds[oid] == "score":
            assert_printed_matches(spec, adjusted, [printed["Adjusted mean difference (95% CI)"]])
            assert printed["P (ANCOVA)"] == tables.format_p(adjusted["p_value"].iloc[0])
            s = summary[(summary["outcome"] == oid) & (summary["arm"] == "mentored")].iloc[0]
            # median [q1, q3] of the change (not "a to b", which reads as a CI), 1 decimal on
            # an MBI sum, then n
            expected = (
                f"{tables.format_number(s['median'], 1)} [{tables.format_number(s['q1'], 1)}, "
                f"{tables.format_number(s['q3'], 1)}]; n = {s['n']}"
            )
            assert printed["Resident mentor"] == expected
        else:
            assert printed["Adjusted mean difference (95% CI)"] == ""
            s = summary[(summary["outcome"] == oid) & (summary["arm"] == "control")].iloc[0]
            # n_events / n (100 * proportion to 1 decimal)
            pct = tables.format_number(100 * s["n_events"] / s["n"], 1)
            assert printed["Usual supervision"] == f"{int(s['n_events'])}/{s['n']} ({pct})"
    # the primary outcome (PA) heads the score panel
    assert rows.iloc[0]["Outcome"].strip() == "Personal accomplishment (MBI, 0–48)"
    assert not full.empty


def test_association_table_agrees_with_effects_and_counts(demos):
    spec, participants, _, scores, sets = demos["belonging_survey"]
    itt = itt_members(participants, sets)
    effects, counts = association_outputs(spec, scores, itt)
    full, formatted = tables.association_table(spec, effects, counts)
    level_rows = formatted[formatted["n"] != ""].reset_index(drop=True)
    assert len(level_rows) == len(counts) == 12  # 3 exposures x 4 levels
    ors = level_rows[level_rows["Odds ratio (95% CI)"] != "1 (reference)"]
    assert_printed_matches(spec, effects, ors["Odds ratio (95% CI)"].tolist())
    assert ors["P"].tolist() == [tables.format_p(p) for p in effects["p_value"]]
    reference = level_rows[level_rows["Odds ratio (95% CI)"] == "1 (reference)"]
    assert reference["Exposure and level"].str.strip().tolist() == ["Very weak"] * 3
    for (_, printed), (_, count) in zip(level_rows.iterrows(), counts.iterrows(), strict=True):
        assert printed["n"] == str(count["n"])
        # events (100 * events / n, 1 decimal)
        pct = tables.format_number(100 * count["events"] / count["n"], 1)
        assert printed["Burnout, n (%)"] == f"{count['events']} ({pct})"
    # exposures in the trial file's order: organization, school, community
    headings = formatted.loc[formatted["n"] == "", "Exposure and level"].tolist()
    assert headings == [
        "Belonging to the organization (1–4)",
        "Belonging to school or program (1–4)",
        "Belonging to the community (1–4)",
    ]
    assert "Adjusted P" not in formatted  # burnout is primary: nothing adjusted
    assert full["reference"].sum() == 3


# --------------------------------------------------------------------------------------
# Reliability and completion
# --------------------------------------------------------------------------------------


def test_reliability_table_rows_subscales_columns_timepoints(demos):
    spec, _, items, _, _ = demos["mentorship_prepost"]
    reliability = instruments.reliability(items, spec)
    full, formatted = tables.reliability_table(spec, reliability)
    assert list(formatted.columns) == [
        "Subscale",
        "Items",
        "Start of rotation",
        "End of rotation (week 4)",
    ]
    ee = reliability[(reliability["subscale"] == "ee") & (reliability["timepoint"] == "pre")]
    alpha, n = ee["alpha"].iloc[0], ee["n_complete"].iloc[0]
    first = formatted.iloc[0]
    assert first["Subscale"] == "Emotional exhaustion (MBI)"
    assert first["Items"] == "9"  # MBI EE has 9 items
    assert first["Start of rotation"] == f"{alpha:.2f} (n = {n})"
    assert len(full) == len(reliability)
    # no multi-item subscale: an empty table with a footnote saying why
    full, formatted = tables.reliability_table(spec, reliability.iloc[0:0])
    assert formatted.empty and formatted.attrs["footnotes"]


def test_missingness_table_from_consort(demos):
    spec, _, _, _, sets = demos["coaching_rct"]
    consort = analysis_sets.consort_counts(sets, spec)
    full, formatted = tables.missingness_table(spec, consort)
    assessed = consort["assessed"]["month4"]["coaching"]
    itt = consort["analysed"]["itt"]["coaching"]
    row = formatted[formatted["Survey completion"].str.contains("month 4")].iloc[0]
    # assessed / itt (100 * assessed / itt, 1 decimal)
    assert row["Group coaching"] == f"{assessed}/{itt} ({100 * assessed / itt:.1f})"
    overall = sum(consort["assessed"]["month4"].values())
    total = sum(consort["analysed"]["itt"].values())
    assert row["Overall"] == f"{overall}/{total} ({100 * overall / total:.1f})"
    assert formatted.iloc[0]["Group coaching"] == str(itt)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def small_table():
    full = pd.DataFrame({"outcome": ["ee", "pa"], "estimate": [-0.452378123456, 1.5]})
    formatted = pd.DataFrame(
        {
            "Outcome": ["Emotional exhaustion (MBI, 0–54)", "A | B"],
            "Estimate (95% CI)": [f"{M}0.5 ({M}2.4 to 1.5)", "1.5 (0.2 to 2.8)"],
            "P": [".64", "<.001"],
        }
    )
    return full, formatted


def docx_cells(path: Path) -> list[list[str]]:
    from docx import Document

    table = Document(str(path)).tables[0]
    return [[cell.text for cell in row.cells] for row in table.rows]


def test_write_table_four_formats_byte_identical(tmp_path):
    full, formatted = small_table()
    title, footnote = "Table 2. Estimated effects", "Analysis set: intention-to-treat.\nᵃ A note."
    stems = [tmp_path / "one" / "effects_table", tmp_path / "two" / "effects_table"]
    for stem in stems:
        tables.write_table(full, formatted, stem, title=title, footnote=footnote)
    first = stems[0]
    for suffix in (".csv", ".md", ".html", ".docx"):
        assert first.with_suffix(suffix).is_file()
        assert first.with_suffix(suffix).read_bytes() == stems[1].with_suffix(suffix).read_bytes()
    # writing again over the same files: same bytes
    before = {s: first.with_suffix(s).read_bytes() for s in (".csv", ".md", ".html", ".docx")}
    tables.write_table(full, formatted, first, title=title, footnote=footnote)
    for suffix, content in before.items():
        assert first.with_suffix(suffix).read_bytes() == content
    assert not list(first.parent.glob(".*.tmp"))  # atomic writes leave nothing behind

    csv = first.with_suffix(".csv").read_text()
    assert csv == "outcome,estimate\nee,-0.4523781235\npa,1.5\n"  # %.10g, plain minus, \n
    md = first.with_suffix(".md").read_text()
    assert md.startswith(f"### {title}\n")
    assert f"| Emotional exhaustion (MBI, 0–54) | {M}0.5 ({M}2.4 to 1.5) | .64 |" in md
    assert "A \\| B" in md  # a pipe inside a cell is escaped
    assert "| <.001 |" in md  # as typed: "<" before a digit or "." starts no HTML
    assert "ᵃ A note." in md
    page = first.with_suffix(".html").read_text()
    assert page.startswith("<table") and "<caption" in page and title in page
    assert f"{M}0.5 ({M}2.4 to 1.5)" in page and "&lt;.001" in page
    assert "http" not in page  # no external resources

    docx = first.with_suffix(".docx")
    assert docx_cells(docx) == [list(formatted.columns), *formatted.to_numpy().tolist()]
    with zipfile.ZipFile(docx) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    from docx import Document

    document = Document(str(docx))
    assert document.paragraphs[0].text == title
    assert document.core_properties.created == tables.FIXED_TIME
    assert document.core_properties.modified == tables.FIXED_TIME


# Covariate levels an export could carry: formulas a spreadsheet would run on opening the
# CSV (OWASP's examples), a number written as text, and markup for the Markdown / HTML.
HOSTILE_LEVELS = {
    "P1": '=HYPERLINK("http://evil.example","click")',
    "P2": "+1+cmd|' /C calc'!A0",
    "P3": "@SUM(A1:A9)",
    "P4": "-cmd",
    "P5": "-2",
    "P6": "<script>alert(1)</script> | x",
    "P7": "+1",  # P7 withdrew: not in the table
}


def test_table1_formula_levels_are_neutralised_in_the_csv_numbers_kept(tmp_path):
    import csv

    from trialeval.io import read_csv

    participants, sets, scores = tiny_inputs()
    participants["gender"] = participants["participant_id"].map(HOSTILE_LEVELS)
    full, formatted = tables.table1(tiny_spec(), participants, sets, scores)
    tables.write_table(full, formatted, tmp_path / "table1", title="Table 1", footnote="")
    with open(tmp_path / "table1.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    gender = [r for r in rows if r["variable"] == "gender" and r["level"]]
    assert {r["level"] for r in gender} == {
        '\'=HYPERLINK("http://evil.example","click")',
        "'+1+cmd|' /C calc'!A0",
        "'@SUM(A1:A9)",
        "'-cmd",
        "-2",  # a number: left as it is
        "<script>alert(1)</script> | x",  # harmless in a spreadsheet
    }
    # the printed label column is text from the same levels: quoted alike
    assert "'-cmd" in {r["characteristic"] for r in gender}
    # no text cell anywhere starts a formula; numbers (negative ones too) are plain numbers
    for r in rows:
        for column, cell in r.items():
            assert not re.match(r"[=+@\t\r]|-(?![\d.])", cell), (column, cell)
    age_smd = next(r for r in rows if r["variable"] == "age" and r["statistic"] == "smd")
    assert age_smd["value"] == "-0.5"  # (22 - 23) / 2, as in test_table1_by_hand
    for r in rows:
        if r["value"]:
            float(r["value"])  # the value column holds only numbers (a quoted cell would raise)
    # the pipeline reads its CSVs back as they were
    back = read_csv(tmp_path / "table1.csv", keep_default_na=False)
    assert back["level"].tolist() == full["level"].tolist()
    assert back["characteristic"].tolist() == full["characteristic"].tolist()


def test_markdown_and_html_escape_cell_text(tmp_path):
    full = pd.DataFrame({"level": ["x"]})
    formatted = pd.DataFrame(
        {
            "Characteristic": ["<script>alert(1)</script> | x", "*a* [l](javascript:x) `c` & \\"],
            "n": ["<.001", "3"],
        }
    )
    title, footnote = "Table 1. <b>bold</b>", "Levels as exported: <img src=x onerror=y>."
    tables.write_table(full, formatted, tmp_path / "t", title=title, footnote=footnote)

    md = (tmp_path / "t.md").read_text()
    # "<" before a letter or "/" (a tag) and "&" before a letter or "#" (an entity) become
    # entities; "<.001" and a lone "&" print as typed (CommonMark spec 0.31, sections 6.6,
    # 2.5: neither starts raw HTML or an entity reference)
    assert "| &lt;script>alert(1)&lt;/script> \\| x | <.001 |" in md
    assert "| \\*a\\* \\[l\\](javascript:x) \\`c\\` & \\\\ | 3 |" in md
    assert md.startswith("### Table 1. &lt;b>bold&lt;/b>\n")
    assert "Levels as exported: &lt;img src=x onerror=y>." in md
    assert not re.search(r"<[A-Za-z/!?]|&(?!amp;|lt;)[A-Za-z#]", md)  # no raw HTML or entity

    page = (tmp_path / "t.html").read_text()
    assert "<td" in page and "&lt;script&gt;alert(1)&lt;/script&gt; | x" in page
    assert "<script" not in page and "<b>" not in page and "<img" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "&lt;img src=x onerror=y&gt;" in page


def test_markdown_prints_withheld_counts_as_typed(tmp_path):
    """Disclosure control's "<11" and "≥11" read as such in the .md (a reader of the file, not
    only of its rendering, sees no "&lt;11"); a note opening with ">" is no block quote."""
    formatted = pd.DataFrame({"Characteristic": ["Man", "Woman"], "n (%)": ["<11", "≥11"]})
    footnote = "> 0 withheld.\nCounts below 11 print as <11."
    tables.write_table(
        pd.DataFrame({"x": [1]}), formatted, tmp_path / "t", title="Table 1. T", footnote=footnote
    )
    md = (tmp_path / "t.md").read_text()
    assert "| Man | <11 |" in md and "| Woman | ≥11 |" in md
    assert "&lt;" not in md and "\n&gt; 0 withheld.\n" in md
    assert "Counts below 11 print as <11." in md


def test_run_writes_each_kind_from_pipeline_files(demos, tmp_path, coaching_effects):
    spec, participants, items, scores, sets = demos["coaching_rct"]
    files = _pipeline_files(tmp_path, spec, participants, scores, sets)
    files["effects"] = tmp_path / "effects.csv"
    files["reliability"] = tmp_path / "reliability.csv"
    coaching_effects[1].to_csv(files["effects"], index=False)
    files["means"] = tmp_path / "adjusted_means.csv"
    coaching_effects[2].to_csv(files["means"], index=False)
    instruments.reliability(items, spec).to_csv(files["reliability"], index=False)
    kinds = {
        "table1": ["participants", "sets", "scores", "consort"],
        "effects_table": ["effects", "means"],
        "reliability_table": ["reliability"],
        "missingness_table": ["consort"],
    }
    for kind, names in kinds.items():
        stem = tmp_path / "tables" / kind
        tables.run(spec, kind, inputs={n: str(files[n]) for n in names}, out_stem=str(stem))
        md = stem.with_suffix(".md").read_text()
        assert all(stem.with_suffix(s).is_file() for s in (".csv", ".html", ".docx"))
        assert md.startswith("### Table ")
    md = (tmp_path / "tables" / "table1.md").read_text()
    assert "### Table 1. Baseline characteristics by arm (intention-to-treat set)" in md
    md = (tmp_path / "tables" / "effects_table.md").read_text()
    assert "Holm" in md and "Analysis set: intention-to-treat" in md
    # the model as a methods sentence, not its formula
    assert "linear mixed model (restricted maximum likelihood)" in md
    assert "LMM, REML" not in md and "~" not in md and "(1 | " not in md
    # the one follow-up visit in the title, the contrast in the header, the groups explained
    assert md.startswith("### Table 2. Estimated effects on each outcome at month 4 (end of")
    assert "| Difference, Group coaching − Control (95% CI) |" in md
    # Table 2 has the difference in change (the primary effect): the groups' mean changes
    assert "Group columns, scores: each group's model-estimated mean change from baseline" in md
    assert "at follow-up from the same model" not in md  # the difference in means is in S1
    assert "the columns show the mean at follow-up for it too" not in md  # no fallback
    assert "| **Intention-to-treat set** |" in md
    stem = tmp_path / "tables" / "effects_supplement"
    inputs = {n: str(files[n]) for n in ("effects", "means")}
    tables.run(spec, "effects_supplement", inputs=inputs, out_stem=str(stem))
    md = stem.with_suffix(".md").read_text()
    assert md.startswith("### Table S1. Further estimates on each outcome at month 4")
    assert "Group columns, scores: each group's model-estimated mean (95% CI) at follow-up" in md
    with pytest.raises(ValueError, match="unknown table"):
        tables.run(spec, "table9", inputs={}, out_stem=str(tmp_path / "x"))


def test_effect_columns_are_the_schema():
    # the hand-made frames above go through effects_frame: every EFFECT_COLUMNS column
    assert list(effects_frame([]).columns) == EFFECT_COLUMNS


# --------------------------------------------------------------------------------------
# Labels, not ids; what has no content is left out
# --------------------------------------------------------------------------------------


def raw_ids(spec: dict) -> list[str]:
    """Ids a reader must never see: analysis sets, and the covariate levels and sites the
    trial file labels otherwise."""
    ids = ["itt", "per_protocol", "complete_case"]
    for covariate in spec["covariates"]:
        ids += [k for k, v in (covariate.get("levels") or {}).items() if k != v]
    ids += [k for k, v in spec["site_labels"].items() if k != v]
    return ids


def assert_no_raw_ids(spec: dict, text: str) -> None:
    for raw in raw_ids(spec):
        assert not re.search(rf"(?<![\w-]){re.escape(raw)}(?![\w-])", text), (raw, text)


def _pipeline_files(tmp_path: Path, spec, participants, scores, sets) -> dict[str, str]:
    files = {
        "participants": tmp_path / "participants.parquet",
        "sets": tmp_path / "analysis_sets.parquet",
        "scores": tmp_path / "scores.parquet",
        "consort": tmp_path / "consort.json",
    }
    participants.to_parquet(files["participants"])
    sets.to_parquet(files["sets"])
    scores.to_parquet(files["scores"])
    files["consort"].write_text(json.dumps(analysis_sets.consort_counts(sets, spec)))
    return {k: str(v) for k, v in files.items()}


def test_footnotes_and_table1_print_labels_not_ids(demos, mentorship_prepost, tmp_path):
    """The mentorship demo (gender levels and sites labelled in its trial file): Table 1 rows
    and every footnote name levels, sites and sets by label; the ANCOVA's references are
    "Woman" (the first of the trial file's levels, as Table 1 lists them) and "Institution 1",
    not woman and inst_1."""
    spec, participants, _, scores, sets = demos["mentorship_prepost"]
    _, effects, summary = mentorship_prepost
    files = _pipeline_files(tmp_path, spec, participants, scores, sets)
    effects.to_csv(tmp_path / "effects.csv", index=False)
    summary.to_csv(tmp_path / "prepost_summary.csv", index=False)
    files.update(effects=str(tmp_path / "effects.csv"))
    files.update(prepost_summary=str(tmp_path / "prepost_summary.csv"))
    built = {k: tables.build(spec, k, files) for k in ("table1", "effects_table", "prepost_table")}
    for kind, (_, formatted, title, footnote) in built.items():
        assert_no_raw_ids(spec, f"{title}\n{footnote}")
        assert_no_raw_ids(spec, " ".join(formatted.iloc[:, 0]))
        if kind != "table1":  # the models: covariates and their references by label
            assert "gender (reference: Woman), site (reference: Institution 1)" in footnote
            assert "on arm (reference: Usual supervision)" in footnote
    # Table 1: gender's levels as labelled, in the trial file's order (woman, man, nonbinary)
    names = built["table1"][1]["Characteristic"].str.strip().tolist()
    at = names.index("Gender, n (%)")
    assert names[at + 1 : at + 4] == ["Woman", "Man", "Nonbinary"]


def test_table1_level_labels_order_and_site_rows_by_hand():
    """Levels labelled and ordered by the trial file (an unlisted level after them); site
    rows of a randomized trial with its sites' labels, n (%) per arm."""
    spec = tiny_spec()
    spec["covariates"][1]["levels"] = {"m": "Man", "f": "Woman"}
    spec.update(site_column="site", sites=["s2", "s1"], site_labels={"s1": "North campus"})
    participants, sets, scores = tiny_inputs()
    participants["gender"] = ["f", "m", None, "f", "x", "m", "m"]
    participants["site"] = ["s1", "s1", "s2", "s2", "s2", "s1", "s1"]
    _, formatted = tables.table1(spec, participants, sets, scores)
    names = formatted["Characteristic"].str.strip().tolist()
    # site first (the stratification factor), its levels in the trial file's order
    assert names[1:4] == ["Site, n (%)", "s2", "North campus"]  # s2: no label, its id
    # tx P1 s1, P2 s1, P3 s2 (P7 withdrew); ctl P4 s2, P5 s2, P6 s1
    assert list(row(formatted, "North campus")[1:4]) == ["2 (66.7)", "1 (33.3)", "3 (50.0)"]
    assert list(row(formatted, "s2")[1:4]) == ["1 (33.3)", "2 (66.7)", "3 (50.0)"]
    at = names.index("Gender, n (%)")
    assert names[at + 1 : at + 4] == ["Man", "Woman", "X"]
    # tx: P1 f, P2 m (P3 missing); ctl: P4 f, P5 x, P6 m
    assert list(row(formatted, "Woman")[1:4]) == ["1 (50.0)", "1 (33.3)", "2 (40.0)"]
    # no site column, or a cluster trial (its clusters are counted instead): no site rows
    spec.update(site_column=None)
    assert "Site, n (%)" not in tables.table1(spec, participants, sets, scores)[1].values


def test_table1_of_the_coaching_demo_shows_its_sites(demos):
    spec, participants, _, scores, sets = demos["coaching_rct"]
    full, formatted = tables.table1(spec, participants, sets, scores)
    names = formatted["Characteristic"].str.strip().tolist()
    at = names.index("Site, n (%)")
    assert names[at + 1 : at + 8] == [f"Site {c}" for c in "ABCDEFG"]
    # the site counts of each arm add up to its n
    counts = full[(full["variable"] == "site") & (full["statistic"] == "count")]
    n = full[(full["variable"] == "n")].set_index("group")["value"]
    assert counts.groupby("group")["value"].sum().to_dict() == n.to_dict()


def test_registry_notes_stay_out_of_labels(demos):
    spec = demos["belonging_survey"][0]
    assert tables.outcome_label(spec, "recommend") == "Likelihood to recommend the program (0–10)"
    clean = labels.clean_registry_label
    assert clean("Perceived stress (pre-scored total, 0-40)") == "Perceived stress (total, 0-40)"
    assert clean("Wellbeing (prescored)") == "Wellbeing"


def _pp_effects(sets_) -> pd.DataFrame:
    return effects_frame(
        [
            {
                "outcome": "wb",
                "role": "primary",
                "analysis": "mixed_model",
                "estimand": "diff_in_change",
                "contrast": "tx - ctl",
                "timepoint": "t1",
                "analysis_set": s,
                "estimate": 1.0,
                "ci_low": 0.0,
                "ci_high": 2.0,
                "p_value": 0.5,
                "p_adjusted": 0.5,
                "n": 10,
                "method": "LMM",
                "note": "",
            }
            for s in sets_
        ]
    )


def test_per_protocol_equal_to_itt_is_left_out_once_with_its_reason(tmp_path):
    spec = tiny_spec()
    spec["analyses"]["analysis_sets"] = ["itt", "per_protocol", "complete_case"]
    path = tmp_path / "effects.csv"
    _pp_effects(["itt", "per_protocol", "complete_case"]).to_csv(path, index=False)
    _, formatted, _, footnote = tables.build(spec, "effects_table", {"effects": str(path)})

    def blocks(formatted):
        headings = formatted.attrs["headings"].items()
        return [formatted.iloc[i, 0] for i, level in headings if level == 1]

    # Table 2: the primary set; Table S1 the others, and the note where the set would be
    assert blocks(formatted) == ["Intention-to-treat set"]
    assert labels.PER_PROTOCOL_NOT_SHOWN not in footnote
    _, formatted, _, footnote = tables.build(spec, "effects_supplement", {"effects": str(path)})
    assert blocks(formatted) == ["Complete-case set"]
    assert footnote.count(labels.PER_PROTOCOL_NOT_SHOWN) == 1
    assert "per protocol (" not in footnote  # no definition of a set not shown
    # with an adherence rule the set has content: shown, no note
    spec["per_protocol"] = {"column": "sessions_attended", "at_least": 3.0, "arms": ["tx"]}
    _, formatted, _, footnote = tables.build(spec, "effects_supplement", {"effects": str(path)})
    assert "Per-protocol set" in formatted.iloc[:, 0].tolist()
    assert labels.PER_PROTOCOL_NOT_SHOWN not in footnote
    assert "those with sessions attended ≥ 3" in footnote  # the column in words
    # without intention-to-treat the rule-less set is the only whole set: kept
    spec["per_protocol"] = None
    kept, left_out = tables.shown_rows(spec, _pp_effects(["per_protocol", "complete_case"]))
    assert not left_out and len(kept) == 2


def test_multi_arm_footnote_says_arms_are_not_adjusted_across(tmp_path):
    arms = [
        {"id": "tx", "label": "Treatment", "control": False},
        {"id": "peer", "label": "Peer support", "control": False},
        {"id": "ctl", "label": "Control", "control": True},
    ]
    spec = tiny_spec(arms)
    effects = _pp_effects(["itt", "itt"]).assign(contrast=["tx - ctl", "peer - ctl"])
    path = tmp_path / "effects.csv"
    effects.to_csv(path, index=False)
    *_, footnote = tables.build(spec, "effects_table", {"effects": str(path)})
    # trialeval.effects.adjust: the contrast is part of every family
    assert (
        "Multiple arms: the comparisons (Treatment vs Control, Peer support vs Control) are not "
        "adjusted for multiplicity across arms; each comparison forms its own family."
    ) in footnote
    assert tables.multi_arm_rule(tiny_spec(), effects.iloc[:1]) == ""


def test_no_reliability_table_without_a_multi_item_subscale(demos):
    assert "reliability_table" not in report_items(demos["belonging_survey"][0])["tables"]
    assert "reliability_table" in report_items(demos["coaching_rct"][0])["tables"]


def test_missingness_rows_print_typographic_labels(demos):
    spec, _, _, _, sets = demos["coaching_rct"]
    _, formatted = tables.missingness_table(spec, analysis_sets.consort_counts(sets, spec))
    text = " ".join(formatted["Survey completion"])
    assert "EE ≥ 27" in text and ">=" not in text


def test_missingness_notes_name_the_outcomes_without_their_own_row(demos, tmp_path):
    """An outcome scored whenever its survey was returned has no indented row (its count is
    the every-timepoint row's); the note names each such outcome, so that none reads as
    left out: every outcome is either a row or named."""
    spec, _, _, _, sets = demos["coaching_rct"]
    consort = analysis_sets.consort_counts(sets, spec)
    (tmp_path / "consort.json").write_text(json.dumps(consort))
    full, formatted, title, note = tables._build_missingness_table(
        spec, "missingness_table", {"consort": str(tmp_path / "consort.json")}
    )
    assert title.endswith("Survey completion by arm and timepoint")
    rows = " ".join(formatted["Survey completion"])
    named = note.split("returned every survey): ")[1]
    for outcome in consort["analysed_by_outcome"]["complete_case"]:
        label = tables.typographic(tables.outcome_label(spec, outcome))
        assert (label in rows) != (label in named), outcome
    assert named  # the coaching demo has such outcomes (moral injury among them)


def test_counts_of_1000_or_more_print_with_thousands_separators(tmp_path):
    """1,261/2,257 in every printed format (as the CONSORT figure prints them), the CSV plain;
    a year in a label or header stays 2019; decimals are not grouped (0.1234)."""
    full = pd.DataFrame({"n": [2257]})
    formatted = pd.DataFrame(
        {
            "Characteristic": ["Class of 2019, n", "Responded, n/N (%)"],
            "Graded (2019)": ["2257", "1261/2257 (55.9)"],
            "Estimate": [f"{M}1234.5 ({M}2000.0 to 0.1234)", "999"],
        }
    )
    tables.write_table(full, formatted, tmp_path / "t", title="Table 1. T (2019)", footnote="")
    md = (tmp_path / "t.md").read_text()
    assert "| Class of 2019, n | 2,257 | \u22121,234.5 (\u22122,000.0 to 0.1234) |" in md
    assert "| Responded, n/N (%) | 1,261/2,257 (55.9) | 999 |" in md
    assert "| Characteristic | Graded (2019) | Estimate |" in md and "T (2019)" in md
    page = (tmp_path / "t.html").read_text()
    # the HTML keeps the count and percentage on one line (a nowrap span)
    nowrap = '<span class="nowrap" style="white-space:nowrap">'
    assert f">{nowrap}1,261/2,257 (55.9)</span></td>" in page
    assert ">Class of 2019, n</td>" in page
    assert docx_cells(tmp_path / "t.docx")[1:] == [
        ["Class of 2019, n", "2,257", "\u22121,234.5 (\u22122,000.0 to 0.1234)"],
        ["Responded, n/N (%)", "1,261/2,257 (55.9)", "999"],
    ]
    assert (tmp_path / "t.csv").read_text() == "n\n2257\n"
