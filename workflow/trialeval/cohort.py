"""Cohort comparison (design `cohort_comparison`): successive cohorts of different people, e.g.
the students before and after a switch to pass/fail grading, compared with a reference cohort.

Each cohort is surveyed once (the trial's baseline-flagged wave); the cohorts are the trial's
groups (`cohort.order`, read from the participants-file column `cohort.column`; the reference
cohort plays the control arm's part in Table 1's SMDs and in every contrast). Per outcome and
analysis set, among participants with the outcome observed:

Binary outcomes (0/1 categories)
- prevalence per cohort with the Wilson score CI without continuity correction (R
  `prop.test(x, n, correct = FALSE)$conf.int`; trialeval.proportions);
- against the reference, unadjusted: the risk difference with Newcombe's hybrid score CI (no P)
  and the risk ratio with a Wald CI on the log scale (zero events in either cohort: no
  estimate, a note; trialeval.prepost.risk_ratio);
- adjusted odds ratio: logistic regression of the outcome on cohort (treatment coded, reference
  first) + `analyses.cohort.covariates` (R `glm(y ~ cohort + ..., binomial)`, Wald CI,
  `confint.default`), with the separation handling of trialeval.regression.logistic;
- more than two cohorts: the Cochran-Armitage test for trend over the cohort order, scores
  1..k (R `prop.trend.test(x, n)`), unadjusted. Its estimate is the weighted least-squares
  slope of the prevalence on the score (weights n_i, the line `prop.trend.test` fits), i.e.
  the change in prevalence per cohort step; se = sqrt(pbar (1 - pbar) / sum n_i (s_i - sbar)^2),
  the SE under no trend, so chi-square = (estimate / se)^2 on 1 df.

Scores
- median (IQR, R's default type-7 quantiles) and mean (SD) per cohort;
- adjusted mean difference against the reference: OLS of the score on cohort + covariates
  (R `lm(y ~ cohort + ...)`), t-based CI on the residual df; without covariates unadjusted;
- more than two cohorts: a linear contrast of the cohort coefficients of that model, weights
  c_i = i - (k + 1) / 2 scaled by 1 / sum c_i^2, so the estimate is the slope of a line fitted
  with equal weight through the k adjusted cohort means: the change in adjusted mean per
  cohort step (R: `w <- c / sum(c^2); sum(w[-1] * coef(fit)[cohort terms])`, SE from
  `vcov(fit)`, t on the residual df; as `emmeans::contrast(emmeans(fit, ~ cohort),
  list(linear = w))`). The cohort stays a factor, so the test is of the linear component of
  the cohort differences, not of a model assuming linearity.

Rows go to effects.csv (analysis `cohort_comparison`) and per-cohort summaries to
tables/cohort_summary.csv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from trialeval.design import Factor, adjustment_terms, describe_terms, design_matrix
from trialeval.effects import COHORT_SUMMARY_COLUMNS as SUMMARY_COLUMNS
from trialeval.effects import effects_frame
from trialeval.formatting import participant_count
from trialeval.model_n import arm_counts, model_n_rows
from trialeval.proportions import newcombe_difference, wilson_interval
from trialeval.regression import drop_aliased, logistic, ols

__all__ = [
    "SUMMARY_COLUMNS",
    "cohort_effects",
    "linear_contrast",
    "run",
    "trend_test",
]

ANALYSIS = "cohort_comparison"


# --------------------------------------------------------------------------------------
# Tests and contrasts
# --------------------------------------------------------------------------------------


def trend_test(events, sizes, scores=None) -> dict:
    """Cochran-Armitage test for trend in proportions (R `prop.trend.test(x, n, score)`):
    {estimate (WLS slope of proportion on score), se (under no trend), statistic
    (chi-square, 1 df), p_value}. Groups without participants are left out; NaN when fewer
    than two groups remain or every participant (or none) had the event."""
    x, n = np.asarray(events, dtype=float), np.asarray(sizes, dtype=float)
    s = np.arange(1, len(x) + 1, dtype=float) if scores is None else np.asarray(scores, float)
    keep = n > 0
    x, n, s = x[keep], n[keep], s[keep]
    out = dict.fromkeys(("estimate", "se", "statistic", "p_value"), np.nan)
    if len(x) < 2:
        return out
    pbar = x.sum() / n.sum()
    sbar = (n * s).sum() / n.sum()
    sxx = (n * (s - sbar) ** 2).sum()
    if sxx == 0:
        return out
    slope = (n * (s - sbar) * (x / n)).sum() / sxx
    out["estimate"] = float(slope)
    if 0 < pbar < 1:
        se = float(np.sqrt(pbar * (1 - pbar) / sxx))
        statistic = (slope / se) ** 2
        out.update(se=se, statistic=float(statistic))
        out["p_value"] = float(special.chdtrc(1, statistic))
    return out


def contrast_weights(k: int) -> np.ndarray:
    """Linear-trend weights over k ordered cohorts: (i - (k + 1) / 2) / sum of their squares."""
    c = np.arange(1, k + 1, dtype=float) - (k + 1) / 2
    return c / (c**2).sum()


def linear_contrast(
    table: pd.DataFrame, covariance: np.ndarray, terms: dict[str, float], alpha: float
) -> dict:
    """Estimate, se, t-CI and P of sum_i w_i beta_i over the cohort terms {term: weight} (the
    reference cohort's weight multiplies its implicit 0; the weights sum to 0, so this is
    sum_i w_i mu_i over the cohort means). `table` is an `ols` table, `covariance` the
    coefficients' covariance in its row order."""
    w = np.array(list(terms.values()))
    index = [table.index.get_loc(t) for t in terms]
    beta = table["estimate"].to_numpy()[index]
    cov = covariance[np.ix_(index, index)]
    estimate = float(w @ beta)
    se = float(np.sqrt(w @ cov @ w))
    df = float(table.attrs["df_resid"])
    half = special.stdtrit(df, 1 - alpha / 2) * se
    p = float(2 * special.stdtr(df, -abs(estimate / se)))
    return {
        "estimate": estimate,
        "se": se,
        "df": df,
        "ci_low": estimate - half,
        "ci_high": estimate + half,
        "p_value": p,
    }


def _ols_covariance(X: np.ndarray, sigma: float) -> np.ndarray:
    """sigma^2 (X'X)^-1 via QR (as trialeval.regression.ols computes its SEs)."""
    _, r = np.linalg.qr(X)
    r_inv = np.linalg.inv(r)
    return sigma**2 * (r_inv @ r_inv.T)


# --------------------------------------------------------------------------------------
# One outcome
# --------------------------------------------------------------------------------------


def _cohorts(spec: dict) -> list[str]:
    """Cohort ids in time order (the trial's arms, made from cohort.order)."""
    return [a["id"] for a in spec["arms"]]


def _adjusted_frame(data: pd.DataFrame, spec: dict, covariates: list[str]):
    """(rows with every covariate observed, their terms, a note on who was left out)."""
    columns = [c for c in covariates if c in data.columns]
    complete = data[columns].notna().all(axis=1)
    frame = data[complete].reset_index(drop=True)
    note = (
        f"{participant_count((~complete).sum())} missing a covariate left out"
        if (~complete).any()
        else ""
    )
    return frame, adjustment_terms(frame, spec, covariates), note


def _design(frame: pd.DataFrame, spec: dict, terms):
    """The design matrix with cohort treatment coded, the reference cohort first (a cohort
    without participants here has no column); and the cohorts present, reference first."""
    reference = spec["control_arm"]
    others = [c for c in _cohorts(spec) if c != reference and (frame["arm"] == c).any()]
    cohorts = [reference, *others]
    return design_matrix(frame, [Factor("arm", tuple(cohorts)), *terms]), cohorts


def _require_reference(frame: pd.DataFrame, reference: str) -> None:
    """Without a reference participant the cohort columns are aliased with the intercept and
    dropping one would silently make another cohort the reference: not estimated instead."""
    if not (frame["arm"] == reference).any():
        raise ValueError(f"no participant of the reference cohort {reference!r}")


def _summary_rows(data, spec, outcome, analysis_set) -> list[dict]:
    rows = []
    for cohort in _cohorts(spec):
        y = data.loc[data["arm"] == cohort, "score"].to_numpy(dtype=float)
        row = {"outcome": outcome["id"], "analysis_set": analysis_set, "cohort": cohort}
        row["n"] = len(y)
        if outcome["kind"] == "category":
            events = int(y.sum())
            low, high = wilson_interval(events, len(y))
            row.update(events=events, proportion=events / len(y) if len(y) else np.nan)
            row.update(ci_low=low, ci_high=high)
        elif len(y):
            q1, median, q3 = np.quantile(y, [0.25, 0.5, 0.75])
            row.update(median=median, q1=q1, q3=q3, mean=y.mean())
            row["sd"] = y.std(ddof=1) if len(y) > 1 else np.nan
        rows.append(row)
    return rows


def _counts(data: pd.DataFrame, cohort: str) -> tuple[int, int]:
    y = data.loc[data["arm"] == cohort, "score"]
    return int(y.sum()), len(y)


def _category_rows(data, spec, covariates, alpha) -> tuple[list[dict], dict]:
    """Risk difference and risk ratio (unadjusted), adjusted odds ratio, per non-reference
    cohort; the trend test with more than two cohorts. And {estimand: participants per
    cohort} of each fit."""
    reference, cohorts = spec["control_arm"], _cohorts(spec)
    e0, n0 = _counts(data, reference)
    rows = []
    odds_ratio, odds_used = _odds_ratios(data, spec, covariates, alpha)
    observed = arm_counts(data, cohorts)
    fits = {"risk_difference": observed, "risk_ratio": observed}
    fits["adjusted_odds_ratio"] = odds_used
    for cohort in cohorts:
        if cohort == reference:
            continue
        e1, n1 = _counts(data, cohort)
        contrast = {"contrast": f"{cohort} - {reference}", "n": n1 + n0, "n_obs": n1 + n0}
        rd = newcombe_difference(e1, n1, e0, n0, alpha)
        rows.append(
            {
                **contrast,
                "estimand": "risk_difference",
                **{k: rd[k] for k in ("estimate", "ci_low", "ci_high")},
                "method": (
                    f"unadjusted risk difference (each cohort minus {reference}) with "
                    "Newcombe's hybrid score CI (Wilson intervals without continuity "
                    "correction); no P"
                ),
                "note": "" if n1 and n0 else "no participants in a cohort: not estimable",
            }
        )
        rr = _risk_ratio(e1, n1, e0, n0, alpha)
        rows.append(
            {
                **contrast,
                "estimand": "risk_ratio",
                **rr,
                "method": (
                    f"unadjusted risk ratio (each cohort over {reference}), Wald CI and z test "
                    "on the log scale; se is the SE of log(risk ratio)"
                ),
            }
        )
        rows.append({**contrast, **odds_ratio(cohort)})
    if len(cohorts) > 2:
        rows.append(_trend_row(data, cohorts))
        fits["prevalence_trend"] = observed
    return rows, fits


def _risk_ratio(e1, n1, e0, n0, alpha) -> dict:
    from trialeval.prepost import risk_ratio

    return risk_ratio(e1, n1, e0, n0, alpha)


def _trend_row(data: pd.DataFrame, cohorts: list[str]) -> dict:
    counts = [_counts(data, c) for c in cohorts]
    test = trend_test([e for e, _ in counts], [n for _, n in counts])
    n = sum(n for _, n in counts)
    note = ""
    if np.isnan(test["p_value"]):
        note = "no test: fewer than two cohorts with participants, or no variation in the outcome"
    return {
        "contrast": "linear trend: " + ", ".join(cohorts),
        "estimand": "prevalence_trend",
        "estimate": test["estimate"],
        "se": test["se"],
        "p_value": test["p_value"],
        "n": n,
        "n_obs": n,
        "method": (
            "Cochran-Armitage test for trend (unadjusted) over the cohorts in time order, "
            f"scores 1..{len(cohorts)}: chi-square {test['statistic']:.4g} on 1 df; estimate: "
            "change in prevalence per cohort step (weighted least-squares slope), se under no "
            "trend"
        ),
        "note": note,
    }


def _odds_ratios(data, spec, covariates, alpha):
    """The logistic fit of the outcome on cohort + covariates, once; a function giving one
    cohort's adjusted_odds_ratio row (without its contrast), and the participants per cohort
    of the rows passed to the fit."""
    reference = spec["control_arm"]
    frame, terms, left_out = _adjusted_frame(data, spec, covariates)
    adjusted = f"adjusted for {describe_terms(terms)}" if terms else "unadjusted (no covariates)"
    method = (
        f"logistic regression (maximum likelihood) on cohort (reference {reference}), "
        f"{adjusted}; odds ratio = exp(coefficient), Wald CI and z test; se is the SE of "
        "log(odds ratio)"
    )
    table, reasons, notes = None, {}, [left_out]
    try:
        (X, names), _ = _design(frame, spec, terms)
        _require_reference(frame, reference)
        design = drop_aliased(X, names)
        fit = logistic(frame["score"].to_numpy(dtype=float), design.X, design.names, alpha=alpha)
        table, reasons = fit.table, fit.not_estimable
        if fit.separation:
            notes.append(f"separation: {fit.separation}")
        elif not fit.converged:
            notes.append("the logistic fit did not converge")
        dropped = [n for n in design.aliased if not n.startswith("arm[")]
        if dropped:
            notes.append(f"no information on {', '.join(dropped)}: left out")
    except ValueError as error:
        notes.append(f"not estimated: {error}")

    def row(cohort: str) -> dict:
        term = f"arm[{cohort}]"
        out = {"estimand": "adjusted_odds_ratio", "method": method}
        out["n"] = out["n_obs"] = int(frame["arm"].isin([cohort, reference]).sum())
        note = list(notes)
        if table is not None and term in table.index and np.isfinite(table.loc[term, "estimate"]):
            fitted = table.loc[term]
            out.update(estimate=float(np.exp(fitted["estimate"])), se=float(fitted["se"]))
            out.update(ci_low=float(np.exp(fitted["ci_low"])))
            out.update(ci_high=float(np.exp(fitted["ci_high"])), p_value=fitted["p_value"])
        elif term in reasons:
            note.append(f"not estimable: {reasons[term]}")
        else:
            note.append("not estimable: no participant of the cohort in the model")
        out["note"] = "; ".join(filter(None, note))
        return out

    return row, arm_counts(frame, _cohorts(spec))


def _score_rows(data, spec, covariates, alpha) -> tuple[list[dict], dict]:
    """Adjusted mean difference per non-reference cohort; the linear contrast with more than
    two cohorts (both from one OLS fit); and {estimand: participants per cohort} of the fit."""
    reference = spec["control_arm"]
    frame, terms, left_out = _adjusted_frame(data, spec, covariates)
    adjusted = f"adjusted for {describe_terms(terms)}" if terms else "unadjusted (no covariates)"
    method = f"OLS of the score on cohort (reference {reference}), {adjusted}; t-based CI"
    table, error, X = None, "", None
    try:
        (X, names), _ = _design(frame, spec, terms)
        _require_reference(frame, reference)
        table = ols(frame["score"].to_numpy(dtype=float), X, names, alpha=alpha)
    except ValueError as exc:
        error = f"not estimated: {exc}"
    rows = []
    for cohort in _cohorts(spec):
        if cohort == reference:
            continue
        n = int(frame["arm"].isin([cohort, reference]).sum())
        row = {"contrast": f"{cohort} - {reference}", "estimand": "adjusted_mean_difference"}
        row.update(n=n, n_obs=len(frame), method=method)
        term = f"arm[{cohort}]"
        if table is not None and term in table.index:
            fitted = table.loc[term]
            row.update({k: float(fitted[k]) for k in ("estimate", "se", "df", "p_value")})
            row.update(ci_low=float(fitted["ci_low"]), ci_high=float(fitted["ci_high"]))
            row["note"] = left_out
        else:
            row["note"] = "; ".join(filter(None, [left_out, error or "no participant"]))
        rows.append(row)
    cohorts = _cohorts(spec)
    if len(cohorts) > 2:
        row = {"contrast": "linear trend: " + ", ".join(cohorts), "estimand": "linear_trend"}
        row.update(n=len(frame), n_obs=len(frame))
        row["method"] = (
            f"linear contrast of the cohort means of the same OLS, {adjusted}: weights "
            f"i - {(len(cohorts) + 1) / 2:g} over cohorts 1..{len(cohorts)} in time order, "
            "divided by their sum of squares; estimate: change in adjusted mean per cohort step"
        )
        weights = dict(zip(cohorts, contrast_weights(len(cohorts)), strict=True))
        terms_ = {f"arm[{c}]": w for c, w in weights.items() if c != reference}
        if table is not None and all(t in table.index for t in terms_):
            cov = _ols_covariance(X, table.attrs["sigma"])
            row.update(linear_contrast(table, cov, terms_, alpha))
            row["note"] = left_out
        else:
            row["note"] = "; ".join(filter(None, [left_out, error or "a cohort has no data"]))
        rows.append(row)
    used = arm_counts(frame, cohorts)
    fits = {"adjusted_mean_difference": used}
    if len(cohorts) > 2:
        fits["linear_trend"] = used
    return rows, fits


def cohort_effects(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    spec: dict,
    outcome_id: str,
    *,
    covariates: list[str],
    alpha: float,
    analysis_set: str = "itt",
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(effects rows, per-cohort summary rows) of one outcome among `participants` (an
    analysis set's members, `arm` holding the cohort) with the outcome observed at the
    survey wave (spec["baseline"]). `model_n`, if given, collects the participants each fit
    used per cohort (trialeval.model_n.model_n_rows, one fit per estimand)."""
    outcome = next(o for o in spec["outcomes"] if o["id"] == outcome_id)
    wave = scores[(scores["outcome"] == outcome_id) & (scores["timepoint"] == spec["baseline"])]
    wave = wave[wave["score"].notna()][["participant_id", "score"]]
    data = wave.merge(participants, on="participant_id", how="inner", validate="1:1")
    if outcome["kind"] == "category":
        rows, fits = _category_rows(data, spec, covariates, alpha)
    else:
        rows, fits = _score_rows(data, spec, covariates, alpha)
    common = {
        "trial": spec["id"],
        "outcome": outcome_id,
        "role": outcome["role"],
        "analysis": ANALYSIS,
        "exposure": "",
        "timepoint": spec["baseline"],
        "analysis_set": analysis_set,
        "n_analysis_set": len(participants),
    }
    effects = effects_frame([{**common, **row} for row in rows])
    if model_n is not None:
        for estimand, counts in fits.items():
            model_n += model_n_rows(common, ANALYSIS, counts, estimand, spec["baseline"])
    summary = pd.DataFrame(
        _summary_rows(data, spec, outcome, analysis_set), columns=SUMMARY_COLUMNS
    )
    return effects, summary


def analysed_outcomes(spec: dict) -> list[str]:
    """Outcomes the cohort comparison analyses: scores and categories (bands are described)."""
    return [o["id"] for o in spec["outcomes"] if o["kind"] in ("score", "category")]


def run(spec: dict, *, paths: dict[str, str], alpha: float, outputs: dict[str, str]) -> None:
    """Rule entry: every outcome on every analysis set. ``paths``: scores, participants,
    sets; ``outputs``: effects, summary, model_n (the participants each fit used)."""
    from trialeval.effects import EFFECT_COLUMNS
    from trialeval.io import read_analysis_data, set_members, write_csv
    from trialeval.model_n import model_n_frame

    scores, participants = read_analysis_data(paths["scores"], paths["participants"], paths["sets"])
    covariates = list(spec["analyses"]["cohort"]["covariates"])
    effects, summaries, model_n = [], [], []
    for analysis_set in spec["analyses"]["analysis_sets"]:
        for outcome_id in analysed_outcomes(spec):
            members = set_members(participants, analysis_set, outcome_id)
            frames = cohort_effects(
                scores,
                members,
                spec,
                outcome_id,
                covariates=covariates,
                alpha=alpha,
                analysis_set=analysis_set,
                model_n=model_n,
            )
            effects.append(frames[0])
            summaries.append(frames[1])
    stacked = pd.concat(effects, ignore_index=True) if effects else None
    write_csv(
        stacked if stacked is not None else pd.DataFrame(columns=EFFECT_COLUMNS), outputs["effects"]
    )
    write_csv(
        pd.concat(summaries, ignore_index=True)
        if summaries
        else pd.DataFrame(columns=SUMMARY_COLUMNS),
        outputs["summary"],
    )
    write_csv(model_n_frame(model_n), outputs["model_n"])
