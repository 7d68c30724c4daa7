"""Tests for trialeval.prepost: Wilcoxon / Hodges-Lehmann, risk ratio, the pre/post stage.

References:
- hand computations, derived in the comments;
- scipy.stats.mannwhitneyu(x, y, use_continuity=True, alternative="two-sided",
  method="asymptotic") for R's wilcox.test(x, y, exact = FALSE, correct = TRUE) p-value
  (same tie-corrected variance and 0.5 continuity correction), to 1e-12;
- `r_wilcox_conf_int` below: a line-by-line transcription of R's wilcox.test.default
  two-sample `conf.int` code (W(d) from rank(c(x - d, y)), root(), uniroot(tol = 1e-4)) with
  R's Brent zeroin (src/library/stats/src/zeroin.c). The library finds the same crossings
  exactly instead of iterating, so the CI limits agree within uniroot's tolerance, 1e-4;
- the Hodges-Lehmann estimate is the median of the pairwise differences, R's
  median(outer(x, y, "-")) (numpy's np.median(np.subtract.outer(x, y)) here), exactly;
  R's exact = FALSE estimate is a uniroot zero that is not unique (see hodges_lehmann.json);
- R itself: tests/data/reference/hodges_lehmann_ref.R and its output hodges_lehmann.json;
- statsmodels OLS (R's lm) for the ANCOVA, 1e-10 relative; statsmodels Table2x2 for the
  risk ratio, 1e-12 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import yaml
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2

from conftest import demo_trial
from trialeval import analysis_sets, ingest, instruments
from trialeval.prepost import (
    SUMMARY_COLUMNS,
    median_pairwise_difference,
    prepost_effects,
    risk_ratio,
    wilcoxon_hodges_lehmann,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "reference"
UNIROOT_TOL = 1e-4  # R: uniroot(..., tol = 1e-4) in wilcox.test's conf.int code


# --------------------------------------------------------------------------------------
# R's algorithm, transcribed literally (the oracle)
# --------------------------------------------------------------------------------------


def r_zeroin2(f, ax, bx, fa, fb, tol, maxit=1000):
    """R_zeroin2 (Brent's root finder as in R's zeroin.c)."""
    eps = np.finfo(float).eps
    a, b, c, fc = ax, bx, ax, fa
    if fa == 0:
        return a
    if fb == 0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def r_wilcox_conf_int(x, y, alpha=0.05):
    """(estimate, lower, upper) as R's wilcox.test(x, y, conf.int=TRUE, exact=FALSE)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n_x, n_y = len(x), len(y)

    def w(d, correct):
        dr = stats.rankdata(np.concatenate([x - d, y]))
        nties = np.unique(dr, return_counts=True)[1].astype(float)
        dz = dr[:n_x].sum() - n_x * (n_x + 1) / 2 - n_x * n_y / 2
        correction = np.sign(dz) * 0.5 if correct else 0.0
        sigma = np.sqrt(
            (n_x * n_y / 12)
            * ((n_x + n_y + 1) - np.sum(nties**3 - nties) / ((n_x + n_y) * (n_x + n_y - 1)))
        )
        return (dz - correction) / sigma

    mumin, mumax = x.min() - y.max(), x.max() - y.min()

    def root(zq):
        f_lower = w(mumin, True) - zq
        if f_lower <= 0:
            return mumin
        f_upper = w(mumax, True) - zq
        if f_upper >= 0:
            return mumax
        return r_zeroin2(lambda d: w(d, True) - zq, mumin, mumax, f_lower, f_upper, 1e-4)

    zq = stats.norm.ppf(1 - alpha / 2)
    lower, upper = root(zq), root(-zq)
    estimate = r_zeroin2(
        lambda d: w(d, False), mumin, mumax, w(mumin, False), w(mumax, False), 1e-4
    )
    return estimate, lower, upper


def scipy_p(x, y) -> float:
    return stats.mannwhitneyu(
        x, y, use_continuity=True, alternative="two-sided", method="asymptotic"
    ).pvalue


def samples():
    """(x, y) pairs: continuous without ties, integer change scores with many ties (as MBI
    sums), prorated scores (multiples of 1/7 and 1/8), very unequal sizes."""
    rng = np.random.default_rng(2024)
    yield rng.normal(1, 2, 15), rng.normal(0, 2, 21)  # n_x n_y = 315, odd
    yield rng.normal(0.5, 1, 12), rng.normal(0, 1, 10)  # n_x n_y = 120, even
    yield rng.integers(-8, 12, 39).astype(float), rng.integers(-10, 9, 71).astype(float)
    yield rng.integers(-3, 4, 25).astype(float), rng.integers(-3, 3, 30).astype(float)
    yield np.round(rng.normal(2, 5, 30) * 7) / 7, np.round(rng.normal(0, 5, 45) * 8) / 8
    yield rng.normal(0, 1, 3), rng.normal(0, 1, 60)


# --------------------------------------------------------------------------------------
# Wilcoxon rank-sum and Hodges-Lehmann
# --------------------------------------------------------------------------------------


def test_wilcoxon_tiny_example_by_hand():
    # R: wilcox.test(c(1.5, 2.5, 4, 6), c(0, 1, 3.2), conf.int = TRUE, exact = FALSE)
    x, y = [1.5, 2.5, 4, 6], [0, 1, 3.2]
    # Hand: ranks of c(x, y) = (3, 4, 6, 7 | 1, 2, 5); W = 20 - 4 * 5 / 2 = 10.
    # No ties: sigma = sqrt(4 * 3 / 12 * 8) = sqrt(8); z = (10 - 6 - 0.5) / sqrt(8) = 1.2374,
    # p = 2 * pnorm(-1.2374) = 0.21592.
    out = wilcoxon_hodges_lehmann(x, y)
    assert out["statistic"] == 10
    assert out["p_value"] == pytest.approx(2 * stats.norm.sf(3.5 / np.sqrt(8)), rel=1e-12)
    assert out["p_value"] == pytest.approx(scipy_p(x, y), abs=1e-12)
    # Pairwise differences x_i - y_j, sorted (N = 12):
    #   -1.7, -0.7, 0.5, 0.8, 1.5, 1.5, 2.5, 2.8, 3, 4, 5, 6.
    # dz(d) = #{D > d} - 6 between jumps; sigma = sqrt(8) there.
    # Estimate (no correction, zq = 0): dz = 0 exactly for d in (1.5, 2.5) -> the midpoint
    # 2.0, which is also the median of the 12 differences; R's uniroot stops somewhere in
    # (1.5, 2.5).
    assert out["estimate"] == 2.0
    # 95% CI, zq = 1.959964: at mumin = -1.7, dz = 12 - 0.5 - 6 = 5.5 (one x - d ties y);
    # with the tie, sigma = sqrt(8 - 6 / 42) = 2.80306, so W = (5.5 - 0.5) / 2.80306 = 1.7838
    # < 1.96: f.lower <= 0 and R returns mumin = -1.7. Symmetrically W(mumax = 6) = -1.7838
    # > -1.96: R returns mumax = 6. The CI is the whole range.
    assert out["ci_low"] == pytest.approx(-1.7, abs=1e-12)
    assert out["ci_high"] == 6.0
    # 50% CI, zq = qnorm(0.75) = 0.67449: lower limit where (dz - 0.5) / sqrt(8) crosses
    # 0.67449, i.e. dz - 0.5 = 1.9078: on (0.5, 0.8) dz = 9 - 6 = 3 -> W = 0.884 > zq; on
    # (0.8, 1.5) dz = 2 -> W = 0.530 < zq: the lower limit is the jump at 0.8. Upper limit:
    # (dz + 0.5) / sqrt(8) crosses -0.67449: on (2.8, 3) dz = -2 -> W = -0.530 > -zq; on
    # (3, 4) dz = -3 -> W = -0.884 < -zq: the upper limit is 3.
    out50 = wilcoxon_hodges_lehmann(x, y, alpha=0.5)
    assert out50["ci_low"] == pytest.approx(0.8, abs=1e-12)
    assert out50["ci_high"] == pytest.approx(3.0, abs=1e-12)
    # R's algorithm transcribed: same limits within uniroot's tol, estimate inside (1.5, 2.5)
    r_est, r_low, r_high = r_wilcox_conf_int(x, y, alpha=0.5)
    assert r_low == pytest.approx(0.8, abs=UNIROOT_TOL)
    assert r_high == pytest.approx(3.0, abs=UNIROOT_TOL)
    assert 1.5 < r_est < 2.5
    assert r_wilcox_conf_int(x, y)[1:] == pytest.approx((-1.7, 6.0), abs=1e-12)


@pytest.mark.parametrize("case", range(6))
def test_wilcoxon_p_value_matches_scipy(case):
    # R: wilcox.test(x, y, exact = FALSE, correct = TRUE)$p.value and $statistic;
    # scipy mannwhitneyu (asymptotic, continuity, tie-corrected) to 1e-12; W = scipy's U1
    x, y = list(samples())[case]
    out = wilcoxon_hodges_lehmann(x, y)
    reference = stats.mannwhitneyu(
        x, y, use_continuity=True, alternative="two-sided", method="asymptotic"
    )
    assert out["p_value"] == pytest.approx(reference.pvalue, abs=1e-12)
    assert out["statistic"] == reference.statistic


@pytest.mark.parametrize("case", range(6))
def test_hodges_lehmann_matches_r_algorithm(case):
    # R: wilcox.test(x, y, conf.int = TRUE, exact = FALSE)$conf.int and $estimate, via the
    # literal transcription; CI limits within uniroot's tol 1e-4
    x, y = list(samples())[case]
    out = wilcoxon_hodges_lehmann(x, y)
    r_est, r_low, r_high = r_wilcox_conf_int(x, y)
    assert out["ci_low"] == pytest.approx(r_low, abs=UNIROOT_TOL)
    assert out["ci_high"] == pytest.approx(r_high, abs=UNIROOT_TOL)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    # The estimate is always the median of the pairwise differences (hand: dz(d) =
    # #{D > d} + #{D = d} / 2 - N / 2 changes sign at the median; a flat zero stretch between
    # the two middle values is resolved to its midpoint).
    assert out["estimate"] == pytest.approx(np.median(diffs), abs=1e-12)
    middle = diffs[(len(diffs) - 1) // 2], diffs[len(diffs) // 2]
    if middle[0] == middle[1]:  # R's root is unique: uniroot lands within tol of it
        assert r_est == pytest.approx(out["estimate"], abs=UNIROOT_TOL)
    else:  # R stops anywhere in the zero stretch between the two middle differences
        assert middle[0] - UNIROOT_TOL <= r_est <= middle[1] + UNIROOT_TOL


@pytest.mark.parametrize("case", ["even_no_ties", "odd_no_ties", "tied_integers"])
def test_hodges_lehmann_against_r(case):
    # R (tests/data/reference/hodges_lehmann_ref.R): median(outer(x, y, "-")) for the
    # estimate, exactly up to rounding (1e-12); wilcox.test(x, y, conf.int = TRUE,
    # exact = FALSE, correct = TRUE) for W and P (1e-12) and the CI (uniroot's tol, 1e-4).
    ref = json.loads((REFERENCE / "hodges_lehmann.json").read_text())[case]
    out = wilcoxon_hodges_lehmann(ref["x"], ref["y"])
    assert out["estimate"] == pytest.approx(ref["median_pairwise"], abs=1e-12)
    if "estimate_exact_true" in ref:  # no ties: wilcox.test(exact = TRUE)'s estimate
        assert out["estimate"] == pytest.approx(ref["estimate_exact_true"], abs=1e-12)
    assert out["statistic"] == ref["statistic"]
    assert out["p_value"] == pytest.approx(ref["p_value"], abs=1e-12)
    assert out["ci_low"] == pytest.approx(ref["ci_low"], abs=UNIROOT_TOL)
    assert out["ci_high"] == pytest.approx(ref["ci_high"], abs=UNIROOT_TOL)


def test_r_exact_false_estimate_is_not_the_median_where_w_is_flat():
    # Why the estimate is not R's exact = FALSE one: with 12 pairwise differences W(d) is 0
    # on the whole stretch between the 6th (0.9) and 7th (1.3), and R's uniroot stopped at
    # 1.2511 inside it, not at the median 1.1 (hand: sorted x_i - y_j for the data below).
    ref = json.loads((REFERENCE / "hodges_lehmann.json").read_text())["even_no_ties"]
    diffs = np.sort(np.subtract.outer(ref["x"], ref["y"]).ravel())
    assert diffs[5] == pytest.approx(0.9) and diffs[6] == pytest.approx(1.3)
    assert 0.9 < ref["estimate_exact_false"] < 1.3
    assert abs(ref["estimate_exact_false"] - ref["median_pairwise"]) > 0.1


def test_hodges_lehmann_no_ties_odd_is_median():
    # No ties and n_x n_y odd (15 x 21): the root is unique and equals the median pairwise
    # difference (the classical Hodges-Lehmann estimator), hand definition via numpy
    x, y = next(iter(samples()))
    out = wilcoxon_hodges_lehmann(x, y)
    assert out["estimate"] == np.median(np.subtract.outer(x, y))
    assert out["estimate"] == pytest.approx(r_wilcox_conf_int(x, y)[0], abs=UNIROOT_TOL)


def test_hodges_lehmann_tied_integer_changes():
    # Integer change scores (as MBI sum changes): W(d) jumps only at pairwise differences,
    # so the CI limits are pairwise differences and the estimate lies between them
    # (R: wilcox.test(x, y, conf.int = TRUE, exact = FALSE); limits within 1e-4 of these).
    rng = np.random.default_rng(11)
    x = rng.integers(-6, 10, 45).astype(float)
    y = rng.integers(-8, 7, 70).astype(float)
    out = wilcoxon_hodges_lehmann(x, y)
    diffs = set(np.subtract.outer(x, y).ravel())
    assert out["ci_low"] in diffs and out["ci_high"] in diffs
    assert out["ci_low"] <= out["estimate"] <= out["ci_high"]
    assert out["ci_low"] < out["ci_high"]
    r_est, r_low, r_high = r_wilcox_conf_int(x, y)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((r_low, r_high), abs=UNIROOT_TOL)


def test_wilcoxon_all_tied_and_empty():
    # R: p-value NaN (sigma = 0) and "cannot compute confidence interval when all
    # observations are tied": here NaN everywhere
    out = wilcoxon_hodges_lehmann([2.0, 2.0], [2.0, 2.0, 2.0])
    assert np.isnan([out["p_value"], out["estimate"], out["ci_low"], out["ci_high"]]).all()
    with pytest.raises(ValueError, match="at least one value"):
        wilcoxon_hodges_lehmann([], [1.0])


def test_wilcoxon_two_values_gives_the_test_and_estimate_but_no_ci():
    """x all 1, y all 0: R's wilcox.test(c(1, 1, 1), c(0, 0, 0), conf.int = TRUE,
    exact = FALSE) reports W = 9, p-value = 0.04685418 and then stops for the CI ("cannot compute
    confidence interval when all observations are tied"). By hand: two tie groups of 3,
    sigma^2 = 3 * 3 / 12 * (7 - (24 + 24) / 30) = 4.05, z = (9 - 4.5 - 0.5) / sqrt(4.05),
    p = 2 * (1 - pnorm(z)); HL = median(x_i - y_j) = 1. The pipeline gives the
    test and the estimate, the CI missing, rather than stopping the job."""
    out = wilcoxon_hodges_lehmann([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    z = 4.0 / np.sqrt(4.05)
    assert out["statistic"] == 9.0
    assert out["p_value"] == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    assert out["p_value"] == pytest.approx(0.04685418, abs=1e-8)  # R, 7 digits printed
    assert out["estimate"] == 1.0
    assert np.isnan(out["ci_low"]) and np.isnan(out["ci_high"])


# --------------------------------------------------------------------------------------
# Risk ratio
# --------------------------------------------------------------------------------------


def test_risk_ratio_by_hand():
    # Hand: 10/40 vs 28/74: RR = 0.25 / 0.378378 = 0.660714; se(log RR) =
    # sqrt(1/10 - 1/40 + 1/28 - 1/74) = sqrt(0.0972008) = 0.311771;
    # CI exp(log(0.660714) +- 1.959964 * 0.311771) = (0.35862, 1.21729);
    # z = log(0.660714) / 0.311771 = -1.32945, p = 2 * pnorm(-1.32945) = 0.18368.
    out = risk_ratio(10, 40, 28, 74)
    log_rr = np.log(0.25 / (28 / 74))
    se = np.sqrt(1 / 10 - 1 / 40 + 1 / 28 - 1 / 74)
    assert out["estimate"] == pytest.approx(0.25 * 74 / 28, rel=1e-12)
    assert out["se"] == pytest.approx(se, rel=1e-12)
    assert out["ci_low"] == pytest.approx(np.exp(log_rr - stats.norm.ppf(0.975) * se), rel=1e-12)
    assert out["ci_high"] == pytest.approx(np.exp(log_rr + stats.norm.ppf(0.975) * se), rel=1e-12)
    assert out["p_value"] == pytest.approx(2 * stats.norm.sf(abs(log_rr) / se), rel=1e-12)
    assert (out["estimate"], out["ci_low"], out["ci_high"]) == pytest.approx(
        (0.660714, 0.35862, 1.21729), abs=1e-5
    )
    assert out["note"] == ""
    # statsmodels Table2x2 (rows = groups, columns = event / no event): same Wald CI, 1e-12
    table = Table2x2(np.array([[10, 30], [28, 46]]))
    assert out["estimate"] == pytest.approx(table.riskratio, rel=1e-12)
    assert out["se"] == pytest.approx(table.log_riskratio_se, rel=1e-12)
    low, high = table.riskratio_confint()
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((low, high), rel=1e-12)


def test_risk_ratio_zero_events_is_nan_with_note():
    for args in [(0, 30, 5, 40), (5, 30, 0, 40)]:
        out = risk_ratio(*args)
        assert np.isnan([out["estimate"], out["se"], out["ci_low"], out["p_value"]]).all()
        assert "zero events" in out["note"] and "no continuity correction" in out["note"]


# --------------------------------------------------------------------------------------
# The stage on a small synthetic trial
# --------------------------------------------------------------------------------------


def small_spec() -> dict:
    return {
        "id": "toy",
        "arms": [
            {"id": "mentored", "label": "Mentor", "control": False},
            {"id": "control", "label": "Usual", "control": True},
        ],
        "control_arm": "control",
        "baseline": "pre",
        "timepoints": [{"id": "pre", "baseline": True}, {"id": "post", "baseline": False}],
        "covariates": [
            {"name": "age", "label": "age", "type": "numeric"},
            {"name": "gender", "label": "gender", "type": "categorical"},
        ],
    }


def small_trial(n: int = 80, seed: int = 5):
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    participants = pd.DataFrame(
        {
            "participant_id": ids,
            "arm": rng.choice(["mentored", "control"], n),
            "site": rng.choice(["b_site", "a_site"], n),
            "age": rng.normal(26, 2, n).round(),
            "gender": rng.choice(["woman", "man", "nonbinary"], n, p=[0.5, 0.4, 0.1]),
        }
    )
    pre = rng.integers(20, 40, n).astype(float)
    post = pre + rng.integers(-4, 6, n) + 2.0 * (participants["arm"] == "mentored")
    scores = pd.concat(
        [
            pd.DataFrame({"participant_id": ids, "timepoint": "pre", "score": pre}),
            pd.DataFrame({"participant_id": ids, "timepoint": "post", "score": post}),
        ],
        ignore_index=True,
    )
    scores.loc[[3, 10], "score"] = np.nan  # pre missing for P003, P010
    scores = scores.drop(index=n + 5)  # P005 not seen at post
    return participants, scores


def test_prepost_score_outcome_against_references():
    participants, scores = small_trial()
    spec = small_spec()
    outcome = {"id": "pa", "kind": "score", "role": "primary"}
    effects, summary = prepost_effects(
        scores,
        participants,
        spec,
        outcome,
        post="post",
        analysis_set="itt",
        alpha=0.05,
        confounders=["age", "gender", "site"],
    )
    wide = scores.pivot(index="participant_id", columns="timepoint", values="score").dropna()
    data = participants.set_index("participant_id").join(wide, how="inner")
    data["change"] = data["post"] - data["pre"]
    assert len(data) == 77  # 80 less P003, P010 (no pre) and P005 (no post)
    x = data.loc[data["arm"] == "mentored", "change"].to_numpy()
    y = data.loc[data["arm"] == "control", "change"].to_numpy()

    hl = effects[effects["estimand"] == "hodges_lehmann_shift"].iloc[0]
    reference = wilcoxon_hodges_lehmann(x, y)
    assert hl["estimate"] == reference["estimate"]
    assert (hl["ci_low"], hl["ci_high"]) == (reference["ci_low"], reference["ci_high"])
    assert hl["p_value"] == pytest.approx(scipy_p(x, y), abs=1e-12)
    assert np.isnan(hl["se"]) and np.isnan(hl["df"])
    assert hl["n"] == hl["n_obs"] == 77

    # R: lm(change ~ arm + pre + age + gender + site) with arm's reference control, gender's
    # man, site's a_site; statsmodels OLS on the hand-built treatment coding, 1e-10 relative
    X = pd.DataFrame(
        {
            "Intercept": 1.0,
            "mentored": (data["arm"] == "mentored").astype(float),
            "pre": data["pre"],
            "age": data["age"],
            "nonbinary": (data["gender"] == "nonbinary").astype(float),
            "woman": (data["gender"] == "woman").astype(float),
            "b_site": (data["site"] == "b_site").astype(float),
        }
    )
    ref = sm.OLS(data["change"], X).fit()
    ancova = effects[effects["estimand"] == "adjusted_mean_difference"].iloc[0]
    assert ancova["estimate"] == pytest.approx(ref.params["mentored"], rel=1e-10)
    assert ancova["se"] == pytest.approx(ref.bse["mentored"], rel=1e-10)
    assert ancova["p_value"] == pytest.approx(ref.pvalues["mentored"], rel=1e-10)
    assert ancova["ci_low"] == pytest.approx(ref.conf_int().loc["mentored", 0], rel=1e-10)
    assert ancova["df"] == ref.df_resid == 70
    for words in ["baseline pa", "age", "gender (reference man)", "site (reference a_site)"]:
        assert words in ancova["method"]

    assert set(effects["contrast"]) == {"mentored - control"}
    assert (
        effects[["trial", "analysis", "timepoint", "analysis_set"]].drop_duplicates()
    ).values.tolist() == [["toy", "prepost", "post", "itt"]]

    # summary: R's quantile(type = 7) = numpy's default linear interpolation; sd with n - 1
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert list(summary["arm"]) == ["mentored", "control"]
    row = summary.set_index("arm").loc["mentored"]
    assert row["n"] == len(x)
    assert row["median"] == np.median(x)
    assert (row["q1"], row["q3"]) == tuple(np.quantile(x, [0.25, 0.75]))
    assert row["sd"] == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    assert np.isnan(row["n_events"])


def test_groups_adjusted_mean_change_matches_emmeans_proportional():
    """Each group's adjusted mean change beside the ANCOVA (prepost_summary's adjusted_change
    columns) against R (tests/data/reference/prepost_ancova_ref.R, prepost_ancova.json, on
    small_trial's data): summary(emmeans(lm(change ~ arm + pre + age + gender + site),
    ~ arm, weights = "proportional")); 1e-9 absolute. The groups' difference is the ANCOVA's
    estimate."""
    participants, scores = small_trial()
    effects, summary = prepost_effects(
        scores,
        participants,
        small_spec(),
        {"id": "pa", "kind": "score", "role": "primary"},
        post="post",
        analysis_set="itt",
        alpha=0.05,
        confounders=["age", "gender", "site"],
    )
    ref = json.loads((REFERENCE / "prepost_ancova.json").read_text())
    rows = summary.set_index("arm")
    for arm in ("control", "mentored"):
        got = rows.loc[
            arm, ["adjusted_change", "adjusted_change_ci_low", "adjusted_change_ci_high"]
        ]
        want = [ref[arm][k] for k in ("estimate", "ci_low", "ci_high")]
        assert got.astype(float).tolist() == pytest.approx(want, abs=1e-9)
    ancova = effects[effects["estimand"] == "adjusted_mean_difference"].iloc[0]
    assert ancova["n"] == ref["n"]
    gap = rows.loc["mentored", "adjusted_change"] - rows.loc["control", "adjusted_change"]
    assert gap == pytest.approx(ref["arm_coefficient"], abs=1e-9)
    assert ancova["estimate"] == pytest.approx(ref["arm_coefficient"], abs=1e-9)


def test_prepost_category_outcome():
    participants, scores = small_trial()
    scores = scores.assign(
        score=(scores["score"] >= 33).astype(float).where(scores["score"].notna())
    )
    outcome = {"id": "high", "kind": "category", "role": "secondary"}
    effects, summary = prepost_effects(
        scores,
        participants,
        small_spec(),
        outcome,
        post="post",
        analysis_set="itt",
        alpha=0.05,
        confounders=[],
    )
    at_post = scores[scores["timepoint"] == "post"].merge(participants, on="participant_id")
    counts = at_post.groupby("arm")["score"].agg(["sum", "count"])
    expected = risk_ratio(
        int(counts.loc["mentored", "sum"]),
        int(counts.loc["mentored", "count"]),
        int(counts.loc["control", "sum"]),
        int(counts.loc["control", "count"]),
    )
    (row,) = effects.itertuples()
    assert row.estimand == "risk_ratio" and row.contrast == "mentored - control"
    assert row.estimate == expected["estimate"] and row.se == expected["se"]
    assert row.n == 79 and "SE of log(risk ratio)" in row.method
    sums = summary.set_index("arm")
    assert sums.loc["control", "n_events"] == counts.loc["control", "sum"]
    assert sums.loc["control", "proportion"] == pytest.approx(
        counts.loc["control", "sum"] / counts.loc["control", "count"], rel=1e-12
    )
    assert sums["median"].isna().all()
    assert row.analysis == "prepost"  # part of the pre/post analysis of a non-randomized design


def test_randomized_trial_risk_ratio_is_its_own_analysis():
    # A randomized trial's categories get a risk ratio per post visit (no pre/post change):
    # analysis = risk_ratio, same numbers as for any design (hand formula in risk_ratio).
    participants, scores = small_trial()
    scores = scores.assign(
        score=(scores["score"] >= 33).astype(float).where(scores["score"].notna())
    )
    outcome = {"id": "high", "kind": "category", "role": "secondary"}
    kwargs = dict(post="post", analysis_set="itt", alpha=0.05, confounders=[])
    quasi, _ = prepost_effects(scores, participants, small_spec(), outcome, **kwargs)
    rct_spec = {**small_spec(), "design": "rct"}
    rct, _ = prepost_effects(scores, participants, rct_spec, outcome, **kwargs)
    # beside it the risk difference and the adjusted odds ratio (tests/test_binary.py)
    assert list(rct["analysis"]) == ["risk_ratio", "risk_difference", "logistic"]
    assert list(rct["estimand"]) == ["risk_ratio", "risk_difference", "adjusted_odds_ratio"]
    pd.testing.assert_frame_equal(
        rct.iloc[:1].drop(columns="analysis"), quasi.drop(columns="analysis")
    )


def test_prepost_rejects_baseline_as_post_and_unknown_confounder():
    participants, scores = small_trial()
    outcome = {"id": "pa", "kind": "score", "role": "primary"}
    kwargs = {"analysis_set": "itt", "alpha": 0.05, "confounders": []}
    with pytest.raises(ValueError, match="later waves"):
        prepost_effects(scores, participants, small_spec(), outcome, post="pre", **kwargs)
    kwargs["confounders"] = ["height"]
    with pytest.raises(ValueError, match="unknown confounder 'height'"):
        prepost_effects(scores, participants, small_spec(), outcome, post="post", **kwargs)


def test_prepost_arm_without_follow_up_gives_nan_rows_with_notes():
    participants, scores = small_trial()
    mentored = participants.loc[participants["arm"] == "mentored", "participant_id"]
    scores = scores[~((scores["timepoint"] == "post") & scores["participant_id"].isin(mentored))]
    outcome = {"id": "pa", "kind": "score", "role": "primary"}
    effects, summary = prepost_effects(
        scores,
        participants,
        small_spec(),
        outcome,
        post="post",
        analysis_set="itt",
        alpha=0.05,
        confounders=["age"],
    )
    assert effects["estimate"].isna().all()
    assert (effects["note"] == "no participant of mentored observed at both pre and post").all()
    assert summary.set_index("arm").loc["mentored", "n"] == 0


# --------------------------------------------------------------------------------------
# End to end on the demo: truth recovery
# --------------------------------------------------------------------------------------


def write_interim(trial: str, folder: Path) -> tuple[dict, dict]:
    """The interim parquet files the rule reads, written by the library from data/raw."""
    spec, _, _, _ = demo_inputs(trial)
    participants, items = ingest.ingest(spec)
    scores = instruments.score_outcomes(items, spec)
    scores = scores.merge(participants[["participant_id", "arm"]], on="participant_id")
    sets = analysis_sets.analysis_sets(participants, items, spec)
    paths = {name: str(folder / f"{name}.parquet") for name in ("scores", "participants", "sets")}
    scores.to_parquet(paths["scores"])
    participants.to_parquet(paths["participants"])
    sets.to_parquet(paths["sets"])
    return spec, paths


def test_rule_entry_writes_every_set_and_timepoint(tmp_path):
    from trialeval.config import outcome_analyses
    from trialeval.prepost import run

    spec, paths = write_interim("mentorship_prepost", tmp_path)
    run(
        spec,
        paths={k: paths[k] for k in ("scores", "participants", "sets")},
        alpha=0.05,
        outputs={k: str(tmp_path / f"{k}.csv") for k in ("effects", "summary", "model_n")},
    )
    effects = pd.read_csv(tmp_path / "effects.csv")
    summary = pd.read_csv(tmp_path / "summary.csv")
    # one job, every outcome the design gives a pre/post analysis, in the trial file's order
    assert effects["outcome"].unique().tolist() == outcome_analyses(spec)["prepost"]
    effects = effects[effects["outcome"] == "low_pa"]
    summary = summary[summary["outcome"] == "low_pa"]
    assert effects["analysis_set"].tolist() == spec["analyses"]["analysis_sets"]
    assert (effects["estimand"] == "risk_ratio").all() and (effects["timepoint"] == "post").all()
    assert len(summary) == 2 * len(spec["analyses"]["analysis_sets"])


def demo_inputs(trial: str):
    """Participants of the itt set and scores, built by the library from data/raw."""
    spec, participants, items, scores, sets = demo_trial(trial)
    itt = participants[participants["participant_id"].isin(sets.loc[sets["itt"], "participant_id"])]
    truth = yaml.safe_load((ROOT / "data" / "raw" / trial / "truth.yaml").read_text())
    return spec, itt, scores, truth["effects"]


@pytest.fixture(scope="module")
def mentorship_inputs():
    return demo_inputs("mentorship_prepost")


@pytest.fixture(scope="module")
def mentorship(mentorship_inputs):
    spec, participants, scores, truth = mentorship_inputs
    frames = []
    for outcome in spec["outcomes"]:
        effects, _ = prepost_effects(
            scores[scores["outcome"] == outcome["id"]],
            participants,
            spec,
            outcome,
            post="post",
            analysis_set="itt",
            alpha=0.05,
            confounders=["age", "gender", "site"],
        )
        frames.append(effects)
    return pd.concat(frames, ignore_index=True), truth


def test_demo_recovers_truth(mentorship):
    effects, truth = mentorship
    compared = []
    for effect in truth:
        estimands = (
            ["adjusted_mean_difference", "hodges_lehmann_shift"]
            if effect["estimand"] == "diff_in_change"
            else [effect["estimand"]]
        )
        for estimand in estimands:
            (row,) = effects[
                (effects["outcome"] == effect["outcome"])
                & (effects["estimand"] == estimand)
                & (effects["contrast"] == effect["contrast"])
                & (effects["timepoint"] == effect["timepoint"])
            ].itertuples()
            if estimand == "risk_ratio":  # compare on the log scale, where se lives
                estimate, value = np.log(row.estimate), np.log(effect["value"])
                se = row.se
            elif estimand == "hodges_lehmann_shift":  # no SE: CI half-width / 1.96
                estimate, value = row.estimate, effect["value"]
                se = (row.ci_high - row.ci_low) / 2 / 1.959964
            else:
                estimate, value, se = row.estimate, effect["value"], row.se
            assert abs(estimate - value) < 3 * se, (effect, estimand, row)
            compared.append(row.ci_low <= effect["value"] <= row.ci_high)
    assert len(compared) == 9  # 3 scores x 2 estimands + 3 risk ratios
    assert np.mean(compared) >= 0.75, compared


def test_demo_rows_are_complete(mentorship):
    effects, _ = mentorship
    assert len(effects) == 9
    assert (effects["analysis"] == "prepost").all()
    assert effects["estimate"].notna().all() and effects["p_value"].between(0, 1).all()
    assert (effects["n"] == effects["n_obs"]).all() and (effects["n"] > 100).all()
    assert (effects["role"] == "primary").sum() == 2  # pa: HL and ANCOVA


def test_demo_hodges_lehmann_matches_r_algorithm(mentorship, mentorship_inputs):
    # R: wilcox.test(change[mentored], change[control], conf.int = TRUE, exact = FALSE) on the
    # demo's change scores (prorated MBI sums: multiples of 1/8 and 1/9), via the literal
    # transcription; within uniroot's tol 1e-4
    effects, _ = mentorship
    _, participants, scores, _ = mentorship_inputs
    for outcome in ("pa", "ee", "dp"):
        wide = scores[scores["outcome"] == outcome].pivot(
            index="participant_id", columns="timepoint", values="score"
        )
        data = wide.dropna().join(participants.set_index("participant_id"), how="inner")
        change = data["post"] - data["pre"]
        x = change[data["arm"] == "mentored"].to_numpy()
        y = change[data["arm"] == "control"].to_numpy()
        (row,) = effects[
            (effects["outcome"] == outcome) & (effects["estimand"] == "hodges_lehmann_shift")
        ].itertuples()
        r_est, r_low, r_high = r_wilcox_conf_int(x, y)
        assert (row.ci_low, row.ci_high) == pytest.approx((r_low, r_high), abs=UNIROOT_TOL)
        # the estimate: median(outer(x, y, "-")), not the uniroot zero r_est
        assert row.estimate == np.median(np.subtract.outer(x, y))
        assert row.p_value == pytest.approx(scipy_p(x, y), abs=1e-12)
        assert "median of all pairwise differences" in row.method


@pytest.mark.parametrize("kind", ["integer", "continuous"])
def test_large_sample_path_gives_the_pairwise_roots(monkeypatch, kind):
    """Above PAIRWISE_LIMIT pairs the CI comes from bisection on sorted data and the estimate
    from a selection on sorted data (both O(n log n)); forced on here, the CI equals the
    pairwise version's to 1e-9 and the estimate is exactly median(outer(x, y, "-"))."""
    import trialeval.prepost as module

    rng = np.random.default_rng(11)
    if kind == "integer":  # tied integer change scores, like MBI sums
        x, y = rng.integers(-10, 15, 300).astype(float), rng.integers(-12, 12, 450).astype(float)
    else:
        x, y = rng.normal(1, 3, 300), rng.normal(0, 3, 450)
    exact = wilcoxon_hodges_lehmann(x, y)
    monkeypatch.setattr(module, "PAIRWISE_LIMIT", 0)
    large = wilcoxon_hodges_lehmann(x, y)
    for key in ("ci_low", "ci_high", "p_value", "statistic"):
        assert large[key] == pytest.approx(exact[key], abs=1e-9), key
    assert large["estimate"] == exact["estimate"] == np.median(np.subtract.outer(x, y))


@pytest.mark.parametrize(
    "case", ["normal", "normal_odd", "sevenths_eighths", "integers", "one_each", "all_zero"]
)
def test_median_pairwise_difference_without_the_pairs(case):
    # Hand definition: np.median(np.subtract.outer(x, y)) = R's median(outer(x, y, "-")),
    # compared exactly (the selection returns one of the differences, or the mean of two)
    rng = np.random.default_rng(23)
    x, y = {
        "normal": (rng.normal(1, 3, 300), rng.normal(0, 3, 450)),
        "normal_odd": (rng.normal(1, 3, 301), rng.normal(0, 3, 451)),
        "sevenths_eighths": (
            np.round(rng.normal(2, 5, 90) * 7) / 7,
            np.round(rng.normal(size=80) * 8) / 8,
        ),
        "integers": (rng.integers(-10, 15, 300) * 1.0, rng.integers(-12, 12, 451) * 1.0),
        "one_each": (np.array([3.0]), np.array([1.0])),
        "all_zero": (np.zeros(10), np.zeros(7)),
    }[case]
    assert median_pairwise_difference(x, y) == np.median(np.subtract.outer(x, y))


def test_arm_without_post_values_says_so_in_every_row():
    """An arm nobody of which answered at post: no risk ratio and no change-score effects,
    each row naming the arm and the visit."""
    spec = {
        "id": "gaps",
        "control_arm": "ctl",
        "baseline": "pre",
        "arms": [
            {"id": "mentor", "label": "Mentored", "control": False},
            {"id": "ctl", "label": "Control", "control": True},
        ],
        "timepoints": [
            {"id": "pre", "label": "Start", "baseline": True},
            {"id": "post", "label": "Week 4", "baseline": False},
        ],
        "covariates": [],
    }
    participants = pd.DataFrame(
        {"participant_id": ["m1", "m2", "c1", "c2", "c3"], "arm": ["mentor"] * 2 + ["ctl"] * 3}
    )
    scores = pd.DataFrame(
        {
            "participant_id": ["m1", "m2", "c1", "c2", "c3", "c1", "c2", "c3"],
            "timepoint": ["pre"] * 5 + ["post"] * 3,
            "score": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0],
        }
    )
    category = {"id": "flag", "kind": "category", "role": "secondary"}
    effects, summary = prepost_effects(
        scores,
        participants,
        spec,
        category,
        post="post",
        analysis_set="itt",
        alpha=0.05,
        confounders=[],
    )
    assert np.isnan(effects.loc[0, "estimate"])
    assert effects.loc[0, "note"] == "not estimable: no Mentored participant has a score at Week 4"
    # control: 2 events of 3 at post; mentored: nobody
    assert summary.set_index("arm")["n"].to_dict() == {"mentor": 0, "ctl": 3}
    assert summary.set_index("arm").loc["ctl", "n_events"] == 2
    # every mentored participant withdrew: nobody of the arm is in the set
    effects, _ = prepost_effects(
        scores,
        participants[participants["arm"] == "ctl"],
        spec,
        category,
        post="post",
        analysis_set="itt",
        alpha=0.05,
        confounders=[],
    )
    assert effects.loc[0, "note"] == "not estimable: no Mentored participant is in the analysis set"


def test_participants_without_a_confounder_are_counted_not_dropped_silently():
    # Two mentored participants lose their age: the ANCOVA uses the others and says so; by
    # hand, n is the participants with both scores (77) less those two, and the estimate is
    # the OLS fit on the rows left (statsmodels on the same rows, 1e-10 relative).
    participants, scores = small_trial()
    mentored = participants.index[participants["arm"] == "mentored"][:2]
    participants.loc[mentored, "age"] = np.nan
    effects, _ = prepost_effects(
        scores,
        participants,
        small_spec(),
        {"id": "pa", "kind": "score", "role": "primary"},
        post="post",
        analysis_set="itt",
        alpha=0.05,
        confounders=["age"],
    )
    ancova = effects[effects["estimand"] == "adjusted_mean_difference"].iloc[0]
    assert ancova["note"] == "2 participants left out for a missing confounder"
    assert ancova["n"] == 75
    wide = scores.pivot(index="participant_id", columns="timepoint", values="score").dropna()
    data = participants.set_index("participant_id").join(wide, how="inner").dropna(subset=["age"])
    X = pd.DataFrame(
        {
            "Intercept": 1.0,
            "mentored": (data["arm"] == "mentored").astype(float),
            "pre": data["pre"],
            "age": data["age"],
        }
    )
    ref = sm.OLS(data["post"] - data["pre"], X).fit()
    assert ancova["estimate"] == pytest.approx(ref.params["mentored"], rel=1e-10)
    # the Hodges-Lehmann comparison needs no confounder: everyone with both scores
    hl = effects[effects["estimand"] == "hodges_lehmann_shift"].iloc[0]
    assert hl["n"] == 77


def test_a_missing_confounder_lowers_the_printed_n_to_the_ancovas():
    """P000 (observed at both visits) has no age: the rank test uses the 77 participants
    observed at both visits, the ANCOVA 76. model_n.csv says so per arm, effects.csv's n of
    each row is its own fit's, and the CONSORT n of the primary outcome (the ANCOVA's) is
    76, below the 77 a recount of the scores gives."""
    from trialeval import figures
    from trialeval.model_n import model_n_frame

    participants, scores = small_trial()
    participants.loc[participants["participant_id"] == "P000", "age"] = np.nan
    spec = {**small_spec(), "design": "quasi_experimental"}
    outcome = {"id": "pa", "kind": "score", "role": "primary"}
    collected: list[dict] = []
    effects, _ = prepost_effects(
        scores,
        participants,
        spec,
        outcome,
        post="post",
        analysis_set="itt",
        alpha=0.05,
        confounders=["age", "gender", "site"],
        model_n=collected,
    )
    wide = scores.pivot(index="participant_id", columns="timepoint", values="score").dropna()
    both = participants.set_index("participant_id").loc[wide.index]
    recount = both["arm"].value_counts().to_dict()  # 77 observed at both visits
    ancova = dict(recount)
    ancova[both.loc["P000", "arm"]] -= 1
    reported = model_n_frame(collected)
    by_fit = {
        e: dict(zip(part["arm"], part["n"], strict=True))
        for e, part in reported.groupby("estimand")
    }
    assert by_fit == {"hodges_lehmann_shift": recount, "adjusted_mean_difference": ancova}
    assert sum(recount.values()) == 77 and sum(ancova.values()) == 76
    n = dict(zip(effects["estimand"], effects["n"], strict=True))
    assert n == {"hodges_lehmann_shift": 77, "adjusted_mean_difference": 76}
    consort = {"allocated": {"mentored": 1, "control": 1}, "analysed": {"itt": {}}}
    spec = {**spec, "outcomes": [outcome], "analyses": {"analysis_sets": ["itt"]}}
    shown = figures.primary_model_n(spec, consort, reported)
    assert shown == {"itt": {"pa": ancova}}
