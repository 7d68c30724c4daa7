"""Tests for trialeval.regression: OLS and logistic regression.

References: hand computations (closed forms, derived in the comments), and statsmodels
(`sm.OLS(y, X).fit()`, `sm.Logit(y, X).fit(disp=0)`), which reproduce R's `lm` and
`glm(family = binomial)` with `confint.default` (Wald). Tolerances: OLS 1e-10 relative,
logistic 1e-6 relative (both engines iterate to convergence; measured agreement ~1e-10).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from trialeval.design import Factor, Numeric, design_matrix
from trialeval.regression import aliased_columns, logistic, ols

OLS_REL = 1e-10
LOGIT_REL = 1e-6


def simulated(n: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "arm": rng.choice(["control", "coach"], n),
            "site": rng.choice(["s1", "s2", "s3"], n),
            "age": rng.normal(27, 3, n),
        }
    )
    frame["y"] = (
        1.0
        + 2.0 * (frame["arm"] == "coach")
        + 0.3 * (frame["site"] == "s2")
        + 0.1 * frame["age"]
        + rng.normal(0, 2, n)
    )
    eta = -0.5 + 0.8 * (frame["arm"] == "coach") - 0.4 * (frame["site"] == "s3")
    eta += 0.05 * (frame["age"] - 27)
    frame["event"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return frame


def design(frame: pd.DataFrame):
    terms = [
        Factor("arm", ("control", "coach")),
        Factor("site", ("s1", "s2", "s3")),
        Numeric("age"),
    ]
    return design_matrix(frame, terms)


# --------------------------------------------------------------------------------------
# OLS
# --------------------------------------------------------------------------------------


def test_ols_by_hand():
    # R: summary(lm(y ~ x)) with x = 0:3, y = c(1, 3, 2, 5).
    # Hand: mean x = 1.5, mean y = 2.75, Sxx = 5, Sxy = 5.5 -> slope 1.1, intercept
    # 2.75 - 1.1 * 1.5 = 1.1; fitted 1.1, 2.2, 3.3, 4.4, residuals -0.1, 0.8, -1.3, 0.6,
    # RSS = 2.7, df = 2, sigma^2 = 1.35; se(slope) = sqrt(1.35 / 5) = sqrt(0.27);
    # se(intercept) = sqrt(1.35 * (1/4 + 1.5^2 / 5)) = sqrt(1.35 * 0.7) = sqrt(0.945).
    x = np.arange(4.0)
    y = np.array([1.0, 3.0, 2.0, 5.0])
    X = np.column_stack([np.ones(4), x])
    table = ols(y, X, ["Intercept", "x"])
    assert table.loc["x", "estimate"] == pytest.approx(1.1, rel=1e-12)
    assert table.loc["Intercept", "estimate"] == pytest.approx(1.1, rel=1e-12)
    assert table.loc["x", "se"] == pytest.approx(np.sqrt(0.27), rel=1e-12)
    assert table.loc["Intercept", "se"] == pytest.approx(np.sqrt(0.945), rel=1e-12)
    assert (table["df"] == 2).all()
    t = 1.1 / np.sqrt(0.27)
    # p = 2 * pt(-|t|, 2) and CI 1.1 +- qt(0.975, 2) * se, as R's confint(lm)
    assert table.loc["x", "p_value"] == pytest.approx(2 * stats.t.sf(t, 2), rel=1e-12)
    half = stats.t.ppf(0.975, 2) * np.sqrt(0.27)
    assert table.loc["x", "ci_low"] == pytest.approx(1.1 - half, rel=1e-12)
    assert table.loc["x", "ci_high"] == pytest.approx(1.1 + half, rel=1e-12)
    assert table.attrs["sigma"] == pytest.approx(np.sqrt(1.35), rel=1e-12)


def test_ols_matches_statsmodels():
    # R: lm(y ~ arm + site + age); statsmodels OLS on the same design, 1e-10 relative
    frame = simulated()
    X, names = design(frame)
    table = ols(frame["y"].to_numpy(), X, names, alpha=0.1)
    ref = sm.OLS(frame["y"].to_numpy(), X).fit()
    ci = ref.conf_int(alpha=0.1)
    np.testing.assert_allclose(table["estimate"], ref.params, rtol=OLS_REL)
    np.testing.assert_allclose(table["se"], ref.bse, rtol=OLS_REL)
    np.testing.assert_allclose(table["t"], ref.tvalues, rtol=OLS_REL)
    np.testing.assert_allclose(table["p_value"], ref.pvalues, rtol=OLS_REL)
    np.testing.assert_allclose(table["ci_low"], ci[:, 0], rtol=OLS_REL)
    np.testing.assert_allclose(table["ci_high"], ci[:, 1], rtol=OLS_REL)
    assert (table["df"] == ref.df_resid).all()
    assert list(table.index) == names


def test_ols_rank_deficient_names_the_aliased_column():
    frame = simulated(50)
    X, names = design(frame)
    X = np.column_stack([X, X[:, 2] + X[:, 3]])  # site[s2] + site[s3]: aliased
    with pytest.raises(ValueError, match=r"site_any"):
        ols(frame["y"].to_numpy(), X, [*names, "site_any"])
    assert aliased_columns(X, [*names, "site_any"]) == ["site_any"]
    zero = np.column_stack([np.ones(5), np.zeros(5)])
    assert aliased_columns(zero, ["Intercept", "empty"]) == ["empty"]


def test_ols_rejects_missing_values():
    X = np.column_stack([np.ones(5), [1.0, 2.0, np.nan, 4.0, 5.0]])
    with pytest.raises(ValueError, match="age"):
        ols(np.arange(5.0), X, ["Intercept", "age"])
    with pytest.raises(ValueError, match="y has 1 missing"):
        ols(np.array([1.0, np.nan, 3.0, 4.0, 5.0]), np.ones((5, 1)), ["Intercept"])


# --------------------------------------------------------------------------------------
# Logistic regression
# --------------------------------------------------------------------------------------


def test_logistic_two_by_two_by_hand():
    # R: glm(event ~ group, binomial) on a 2x2 table with a = 12 events / b = 18 non-events
    # in group 1 and c = 20 / d = 10 in group 0. Hand: the saturated model reproduces the
    # cell proportions, so coef(group) = log((a/b) / (c/d)) = log(12 * 10 / (18 * 20)) and
    # its SE is Woolf's sqrt(1/a + 1/b + 1/c + 1/d); intercept = log(c/d), SE sqrt(1/c + 1/d).
    group = np.repeat([1.0, 1.0, 0.0, 0.0], [12, 18, 20, 10])
    event = np.repeat([1.0, 0.0, 1.0, 0.0], [12, 18, 20, 10])
    X = np.column_stack([np.ones(60), group])
    fit = logistic(event, X, ["Intercept", "group[1]"])
    table = fit.table
    assert fit.converged and fit.separation is None and fit.n == 60
    assert table.loc["group[1]", "estimate"] == pytest.approx(np.log(120 / 360), rel=1e-10)
    se = np.sqrt(1 / 12 + 1 / 18 + 1 / 20 + 1 / 10)
    assert table.loc["group[1]", "se"] == pytest.approx(se, rel=1e-10)
    assert table.loc["Intercept", "estimate"] == pytest.approx(np.log(2), rel=1e-10)
    assert table.loc["Intercept", "se"] == pytest.approx(np.sqrt(1 / 20 + 1 / 10), rel=1e-10)
    # Wald: z = b / se, p = 2 * pnorm(-|z|), CI b +- qnorm(0.975) * se (confint.default)
    z = np.log(1 / 3) / se
    assert table.loc["group[1]", "p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert table.loc["group[1]", "ci_low"] == pytest.approx(
        np.log(1 / 3) - stats.norm.ppf(0.975) * se, rel=1e-10
    )
    # log-likelihood of the saturated 2x2 model: sum of n * log(cell proportion)
    loglik = 12 * np.log(0.4) + 18 * np.log(0.6) + 20 * np.log(2 / 3) + 10 * np.log(1 / 3)
    assert fit.loglik == pytest.approx(loglik, rel=1e-12)


def test_logistic_matches_statsmodels():
    # R: glm(event ~ arm + site + age, binomial); statsmodels Logit, 1e-6 relative
    frame = simulated()
    X, names = design(frame)
    fit = logistic(frame["event"].to_numpy(), X, names)
    ref = sm.Logit(frame["event"].to_numpy(), X).fit(disp=0)
    ci = ref.conf_int()
    np.testing.assert_allclose(fit.table["estimate"], ref.params, rtol=LOGIT_REL)
    np.testing.assert_allclose(fit.table["se"], ref.bse, rtol=LOGIT_REL)
    np.testing.assert_allclose(fit.table["z"], ref.tvalues, rtol=LOGIT_REL)
    np.testing.assert_allclose(fit.table["p_value"], ref.pvalues, rtol=LOGIT_REL)
    np.testing.assert_allclose(fit.table["ci_low"], ci[:, 0], rtol=LOGIT_REL)
    np.testing.assert_allclose(fit.table["ci_high"], ci[:, 1], rtol=LOGIT_REL)
    assert fit.loglik == pytest.approx(ref.llf, rel=1e-10)
    assert fit.converged and fit.separation is None


def test_logistic_level_without_events_is_nan_and_named():
    # Quasi-complete separation: every participant at site s3 is event-free, so the MLE of
    # site[s3] is -infinity. R's glm would report a coefficient near -20 with a huge SE.
    frame = simulated()
    frame.loc[frame["site"] == "s3", "event"] = 0.0
    X, names = design(frame)
    fit = logistic(frame["event"].to_numpy(), X, names)
    n_s3 = int((frame["site"] == "s3").sum())
    assert fit.separation == f"level 's3' of site: all 0 events among its {n_s3} participants"
    assert fit.table.loc["site[s3]"].isna().all()
    # The other coefficients are their limits: the fit without the s3 rows and column
    # (the separated rows contribute log(1) = 0 to the likelihood in the limit).
    keep = (frame["site"] != "s3").to_numpy()
    columns = [j for j, name in enumerate(names) if name != "site[s3]"]
    ref = sm.Logit(frame["event"].to_numpy()[keep], X[np.ix_(keep, columns)]).fit(disp=0)
    others = [name for name in names if name != "site[s3]"]
    np.testing.assert_allclose(fit.table.loc[others, "estimate"], ref.params, rtol=LOGIT_REL)
    np.testing.assert_allclose(fit.table.loc[others, "se"], ref.bse, rtol=LOGIT_REL)


def test_logistic_level_with_only_events_and_reference_level():
    frame = simulated()
    frame.loc[frame["arm"] == "coach", "event"] = 1.0
    X, names = design(frame)
    fit = logistic(frame["event"].to_numpy(), X, names)
    n = int((frame["arm"] == "coach").sum())
    assert f"level 'coach' of arm: all {n} of its {n} participants had the event" in fit.separation
    assert fit.table.loc["arm[coach]"].isna().all()
    assert fit.table.loc["age"].notna().all()

    # reference level (s1: no indicator set) without events: every contrast with s1 is
    # infinite, so the site terms are not estimable; the s1 rows are set aside and the other
    # coefficients (intercept now at site s2) are the fit on the remaining rows, with site s3
    # against s2 as a nuisance column
    frame = simulated()
    frame.loc[frame["site"] == "s1", "event"] = 0.0
    X, names = design(frame)
    fit = logistic(frame["event"].to_numpy(), X, names)
    assert "reference level of site: all 0 events" in fit.separation
    assert fit.table.loc[["site[s2]", "site[s3]"]].isna().all().all()
    keep = (frame["site"] != "s1").to_numpy()
    columns = [names.index(c) for c in ("Intercept", "arm[coach]", "site[s3]", "age")]
    ref = sm.Logit(frame["event"].to_numpy()[keep], X[np.ix_(keep, columns)]).fit(disp=0)
    for term, j in (("Intercept", 0), ("arm[coach]", 1), ("age", 3)):
        assert fit.table.loc[term, "estimate"] == pytest.approx(ref.params[j], rel=LOGIT_REL)
        assert fit.table.loc[term, "se"] == pytest.approx(ref.bse[j], rel=LOGIT_REL)


def test_logistic_separation_found_during_fit():
    # A numeric covariate that separates the outcome completely: not visible before the fit;
    # the fitted probabilities reach 0/1 and the coefficients run off.
    frame = simulated(200)
    frame["event"] = (frame["age"] > 27).astype(float)
    X, names = design(frame)
    fit = logistic(frame["event"].to_numpy(), X, names)
    assert fit.separation is not None and "separation" in fit.separation
    assert "age" in fit.separation
    assert np.isnan(fit.table.loc["age", "estimate"])
    # never an absurd odds ratio: whatever is reported is finite and moderate
    finite = fit.table["estimate"].dropna()
    assert (finite.abs() < 15).all()


def test_logistic_constant_outcome():
    X = np.column_stack([np.ones(10), np.arange(10.0)])
    fit = logistic(np.zeros(10), X, ["Intercept", "x"])
    assert fit.table["estimate"].isna().all()
    assert fit.separation == "the whole sample: all 0 events among its 10 participants"


def test_logistic_rejects_bad_input():
    X = np.column_stack([np.ones(4), [0.0, 1.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="0/1"):
        logistic(np.array([0.0, 1.0, 2.0, 1.0]), X, ["Intercept", "x"])
    with pytest.raises(ValueError, match="rank deficient.*copy"):
        logistic(np.array([0.0, 1.0, 1.0, 0.0]), np.column_stack([X, X[:, 1]]), ["I", "x", "copy"])


# --------------------------------------------------------------------------------------
# Separated factor levels: the limiting fit, against R's glm on the rows left
# --------------------------------------------------------------------------------------

REFERENCE = Path(__file__).parent / "data" / "reference"


def separation_case(outcome: str):
    """tests/data/reference/logistic_separation.csv (made by logistic_separation_ref.R):
    exposure e (reference 1), site (reference s1), age; y = the chosen outcome column."""
    data = pd.read_csv(REFERENCE / "logistic_separation.csv")
    data["e"] = data["e"].astype(str)
    terms = [Factor("e", ("1", "2", "3")), Factor("site", ("s1", "s2", "s3")), Numeric("age")]
    X, names = design_matrix(data, terms)
    return logistic(data[outcome].to_numpy(dtype=float), X, names), data


def assert_matches_glm(fit, ref: dict, terms: dict[str, str]) -> None:
    """fit's terms equal R's coefficients (names mapped by `terms`) to 1e-6 relative."""
    for ours, theirs in terms.items():
        r = ref["coef"][theirs]
        row = fit.table.loc[ours]
        assert row["estimate"] == pytest.approx(r["estimate"], rel=LOGIT_REL), ours
        assert row["se"] == pytest.approx(r["se"], rel=LOGIT_REL), ours
        assert row["p_value"] == pytest.approx(r["p"], rel=LOGIT_REL), ours
        half = stats.norm.ppf(0.975) * r["se"]  # confint.default
        assert row["ci_low"] == pytest.approx(r["estimate"] - half, rel=LOGIT_REL), ours
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-9)


def glm_reference(case: str) -> dict:
    return json.loads((REFERENCE / "logistic_separation_glm.json").read_text())[case]["limit"]


def test_separated_covariate_reference_level_keeps_the_intercept():
    # Every participant at site s1 (the covariate's reference level) is event-free.
    # R: glm(y_covref ~ factor(e) + factor(site) + age, binomial) on the rows with site != s1
    # (site releveled to s2): the exposure odds ratios, age and the intercept (now at site
    # s2) are the limits of the full-data MLE; the site contrasts with s1 are infinite.
    fit, data = separation_case("y_covref")
    ref = glm_reference("covref")
    assert_matches_glm(
        fit, ref, {"Intercept": "(Intercept)", "e[2]": "e2", "e[3]": "e3", "age": "age"}
    )
    assert fit.table.loc[["site[s2]", "site[s3]"]].isna().all().all()
    assert "reference level of site: all 0 events among its 15 participants" in fit.separation
    assert "intercept is at level 's2' of site" in fit.separation
    assert set(fit.not_estimable) == {"site[s2]", "site[s3]"}
    assert fit.n == len(data) == 40


def test_separated_reference_level_no_sign_flip_by_hand():
    # Site s1 (reference): 6 participants, no event. Site s2: unexposed 2 events of 10,
    # exposed 4 of 10. Hand: without the s1 rows the model is saturated in exposure, so
    # log OR = log((4/6) / (2/8)) = log(8/3) > 0 with Woolf's SE sqrt(1/4 + 1/6 + 1/2 + 1/8),
    # intercept log(2/8). (Dropping the intercept with the site indicators instead would
    # force the unexposed log-odds to 0 and give log OR = logit(0.4) < 0: the sign flips.)
    site = np.repeat([0.0, 1.0], [6, 20])
    exposed = np.concatenate([[0, 0, 0, 1, 1, 1], np.repeat([0.0, 1.0], 10)])
    event = np.concatenate([np.zeros(6), [1, 1] + [0] * 8, [1] * 4 + [0] * 6])
    X = np.column_stack([np.ones(26), exposed, site])
    fit = logistic(event, X, ["Intercept", "exposed[1]", "site[s2]"])
    assert fit.table.loc["exposed[1]", "estimate"] == pytest.approx(np.log(8 / 3), rel=1e-10)
    se = np.sqrt(1 / 4 + 1 / 6 + 1 / 2 + 1 / 8)
    assert fit.table.loc["exposed[1]", "se"] == pytest.approx(se, rel=1e-10)
    assert fit.table.loc["Intercept", "estimate"] == pytest.approx(np.log(2 / 8), rel=1e-10)
    assert fit.table.loc["site[s2]"].isna().all()


def test_separated_exposure_reference_level_makes_every_odds_ratio_not_estimable():
    # Every participant at exposure level 1 (the reference) is event-free: each exposure odds
    # ratio against it is infinite. R: glm(y_expref ~ factor(e) + factor(site) + age,
    # binomial) on the rows with e != 1 gives the covariates (intercept now at e = 2).
    fit, _ = separation_case("y_expref")
    ref = glm_reference("expref")
    terms = {"Intercept": "(Intercept)", "site[s2]": "sites2", "site[s3]": "sites3", "age": "age"}
    assert_matches_glm(fit, ref, terms)
    assert fit.table.loc[["e[2]", "e[3]"]].isna().all().all()
    reason = fit.not_estimable["e[2]"]
    assert "reference level of e: all 0 events among its 11 participants" in reason
    assert fit.not_estimable["e[3]"] == reason


def test_separated_covariate_level_leaves_the_rest_as_glm_on_the_rows_left():
    # Every participant at site s3 (not the reference) had the event: site[s3] is +infinite.
    # R: glm(y_covlevel ~ factor(e) + factor(site) + age, binomial) on the rows with site != s3.
    fit, _ = separation_case("y_covlevel")
    ref = glm_reference("covlevel")
    terms = {"Intercept": "(Intercept)", "e[2]": "e2", "e[3]": "e3", "site[s2]": "sites2"}
    assert_matches_glm(fit, ref, {**terms, "age": "age"})
    assert fit.table.loc["site[s3]"].isna().all()
    assert fit.separation == "level 's3' of site: all 10 of its 10 participants had the event"


def test_reference_level_emptied_by_another_separated_level():
    # Every participant at arm level 'coach' is event-free, and every participant at the
    # reference site s1 is a coach: once the coach rows are set aside no s1 row is left, so
    # the site contrasts with s1 are not estimable either (not silently re-based to s3).
    # The age coefficient is the fit on the remaining rows (intercept at site s2, site s3
    # against s2 as a nuisance column), checked with statsmodels Logit (R: glm on those rows).
    frame = simulated()
    frame.loc[frame["site"] == "s1", "arm"] = "coach"
    frame.loc[frame["arm"] == "coach", "event"] = 0.0
    X, names = design(frame)
    fit = logistic(frame["event"].to_numpy(), X, names)
    assert fit.table.loc[["arm[coach]", "site[s2]", "site[s3]"]].isna().all().all()
    assert "no participant left" in fit.not_estimable["site[s3]"]
    keep = (frame["arm"] != "coach").to_numpy()
    columns = [names.index(c) for c in ("Intercept", "site[s3]", "age")]
    ref = sm.Logit(frame["event"].to_numpy()[keep], X[np.ix_(keep, columns)]).fit(disp=0)
    assert fit.table.loc["age", "estimate"] == pytest.approx(ref.params[2], rel=LOGIT_REL)
    assert fit.table.loc["Intercept", "se"] == pytest.approx(ref.bse[0], rel=LOGIT_REL)


def test_drop_aliased_keeps_what_is_estimable():
    """Columns without data or repeating earlier ones are dropped (R's rule); a linear function
    is estimable iff it is orthogonal to the null space of X (emmeans' estimability check)."""
    from trialeval.regression import drop_aliased

    t = np.array([0.0, 1.0, 0.0, 1.0])
    X = np.column_stack([np.ones(4), t, np.zeros(4), t])  # 'empty' has no data, 't2' = t
    reduced = drop_aliased(X, ["Intercept", "t", "empty", "t2"])
    assert reduced.aliased == ["empty", "t2"] and reduced.names == ["Intercept", "t"]
    np.testing.assert_array_equal(reduced.X, X[:, :2])
    # null space: e_empty, and e_t2 - e_t (t2 = t)
    np.testing.assert_allclose(reduced.null @ X.T, 0.0, atol=1e-12)
    assert reduced.restrict(np.array([1.0, 0.0, 0.0, 0.0])).tolist() == [1.0, 0.0]
    # the mean where t = 1 is Intercept + b_t + b_t2: estimable, as Intercept + b_t of the fit
    assert reduced.restrict(np.array([1.0, 1.0, 0.0, 1.0])).tolist() == [1.0, 1.0]
    assert reduced.restrict(np.array([0.0, 0.0, 1.0, 0.0])) is None  # the empty column
    assert reduced.restrict(np.array([1.0, 1.0, 0.0, 0.0])) is None  # b_t alone: aliased
    full = drop_aliased(X[:, :2], ["Intercept", "t"])
    assert full.aliased == [] and full.restrict(np.array([1.0, 2.0])).tolist() == [1.0, 2.0]
