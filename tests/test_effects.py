"""Multiplicity adjustment and ordering of effects.csv."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from trialeval.effects import adjust, adjust_trial, benjamini_hochberg, effects_frame, holm

P = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.04])


def test_holm_by_hand_and_statsmodels():
    # R: p.adjust(c(0.01, 0.04, 0.03), "holm") = 0.03, 0.06, 0.06 (3 x 0.01; 2 x 0.03; the
    # step-down keeps 1 x 0.04 from falling below 0.06)
    assert holm(np.array([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])
    assert holm(P) == pytest.approx(multipletests(P, method="holm")[1], abs=1e-15)


def test_benjamini_hochberg_by_hand_and_statsmodels():
    # R: p.adjust(c(0.01, 0.04, 0.03), "BH") = 0.03, 0.04, 0.04 (3/1 x 0.01; 3/3 x 0.04;
    # min(3/2 x 0.03, 0.04))
    assert benjamini_hochberg(np.array([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.04, 0.04])
    expected = multipletests(P, method="fdr_bh")[1]
    assert benjamini_hochberg(P) == pytest.approx(expected, abs=1e-15)


def test_adjust_leaves_primary_alone_and_adjusts_within_families():
    rows = []
    for outcome, role, p in [
        ("a", "primary", 0.01),
        ("b", "secondary", 0.01),
        ("c", "secondary", 0.04),
        ("d", "secondary", 0.03),
    ]:
        for analysis_set in ("itt", "per_protocol"):
            rows.append(
                {
                    "outcome": outcome,
                    "role": role,
                    "analysis": "mixed_model",
                    "estimand": "diff_in_change",
                    "contrast": "x - c",
                    "timepoint": "t1",
                    "analysis_set": analysis_set,
                    "p_value": p,
                }
            )
    out = adjust(effects_frame(rows), "holm")
    itt = out[out["analysis_set"] == "itt"].set_index("outcome")["p_adjusted"]
    # primary unadjusted; the three secondary outcomes form one family per analysis set
    assert itt.to_dict() == pytest.approx({"a": 0.01, "b": 0.03, "c": 0.06, "d": 0.06})
    pp = out[out["analysis_set"] == "per_protocol"].set_index("outcome")["p_adjusted"]
    assert pp.equals(itt)  # the same numbers in the other analysis set's own family
    assert adjust(effects_frame(rows), "none")["p_adjusted"].equals(effects_frame(rows)["p_value"])


def test_binary_effect_measures_do_not_change_the_risk_ratio_family():
    """Three secondary binary outcomes: adding their risk differences (no P) and adjusted odds
    ratios leaves the risk ratios' Holm-adjusted P as they were; the odds ratios are adjusted
    among themselves; the risk differences get none."""
    base = {"role": "secondary", "contrast": "b - a", "timepoint": "t1", "analysis_set": "itt"}
    rr = [
        {**base, "outcome": o, "analysis": "risk_ratio", "estimand": "risk_ratio", "p_value": p}
        for o, p in (("x", 0.01), ("y", 0.04), ("z", 0.30))
    ]
    others = []
    for o, p in (("x", 0.02), ("y", 0.03), ("z", 0.5)):
        others.append(
            {
                **base,
                "outcome": o,
                "analysis": "risk_difference",
                "estimand": "risk_difference",
                "p_value": np.nan,
            }
        )
        others.append(
            {
                **base,
                "outcome": o,
                "analysis": "logistic",
                "estimand": "adjusted_odds_ratio",
                "p_value": p,
            }
        )
    alone = adjust(effects_frame(rr), "holm")["p_adjusted"].to_numpy()
    together = adjust(effects_frame(rr + others), "holm")
    assert together["p_adjusted"].to_numpy()[:3] == pytest.approx(alone, rel=1e-15)
    assert alone == pytest.approx(holm(np.array([0.01, 0.04, 0.30])), rel=1e-15)
    odds = together[together["estimand"] == "adjusted_odds_ratio"]["p_adjusted"].to_numpy()
    assert odds == pytest.approx(holm(np.array([0.02, 0.03, 0.5])), rel=1e-15)
    assert together.loc[together["estimand"] == "risk_difference", "p_adjusted"].isna().all()


def test_any_puts_every_primary_effect_measure_in_one_family():
    """analyses.multiplicity.primary `any`: the comparisons that decide success (a score's
    difference in change, a binary outcome's risk ratio; two arms each) are one Holm family;
    the scores' supportive difference in means is a family of its own."""
    base = {"role": "primary", "timepoint": "t1", "analysis_set": "itt"}
    rows = []
    for outcome, analysis, estimand, contrast, p in [
        ("ee", "mixed_model", "diff_in_change", "coach - ctl", 0.010),
        ("ee", "mixed_model", "diff_in_change", "peer - ctl", 0.040),
        ("burn", "risk_ratio", "risk_ratio", "coach - ctl", 0.030),
        ("ee", "mixed_model", "diff_in_means", "coach - ctl", 0.020),
        ("ee", "mixed_model", "diff_in_means", "peer - ctl", 0.300),
    ]:
        row = {"outcome": outcome, "analysis": analysis, "estimand": estimand, "p_value": p}
        rows.append({**base, **row, "contrast": contrast})
    spec = {"design": "rct", "analyses": {"multiplicity": {"primary": "any"}}}
    out = adjust_trial(effects_frame(rows), spec, "holm")["p_adjusted"].to_numpy()
    # By hand (R: p.adjust(c(0.01, 0.04, 0.03), "holm") = 0.03, 0.06, 0.06): 3 x 0.01;
    # 2 x 0.03 = 0.06; max(0.06, 1 x 0.04). Means: p.adjust(c(0.02, 0.3), "holm") = 0.04, 0.3.
    assert out == pytest.approx([0.03, 0.06, 0.06, 0.04, 0.30], rel=1e-12)
    # `all` (and no rule) leave primary P values as they are
    for rule in ({"primary": "all"}, {}):
        spec["analyses"]["multiplicity"] = rule
        kept = adjust_trial(effects_frame(rows), spec, "holm")["p_adjusted"].to_numpy()
        assert kept == pytest.approx([r["p_value"] for r in rows], rel=0)
    # a named effect measure moves the deciding family: difference in means
    spec["analyses"] = {"multiplicity": {"primary": "any"}, "estimand": {"effect": "diff_in_means"}}
    out = adjust_trial(effects_frame(rows), spec, "holm")["p_adjusted"].to_numpy()
    # means + risk ratio: p.adjust(c(0.02, 0.3, 0.03), "holm") = 0.06, 0.3, 0.06;
    # change alone: p.adjust(c(0.01, 0.04), "holm") = 0.02, 0.04
    assert out == pytest.approx([0.02, 0.04, 0.06, 0.06, 0.30], rel=1e-12)
