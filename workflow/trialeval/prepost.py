"""Pre/post comparison of non-randomized groups (design `quasi_experimental`).

For a score outcome, among participants observed at baseline and at the post timepoint, the
change (post - baseline) of each non-control arm is compared with the control arm two ways:

- hodges_lehmann_shift: Wilcoxon rank-sum test with the Hodges-Lehmann shift (the median of
  all pairwise differences, R's `median(outer(x, y, "-"))`) and the test's P and asymptotic
  CI as R's `wilcox.test(x, y, conf.int = TRUE, exact = FALSE)`;
- adjusted_mean_difference: OLS of change on arm + baseline score + confounders (ANCOVA).

For a category outcome (0/1 at post) the arms are compared by the risk ratio (unadjusted;
Wald, log scale). Randomized trials get, per post visit and intervention arm, three rows:

- analysis `risk_ratio`: the same unadjusted risk ratio (the binary outcome's primary effect
  measure: its family is the one multiplicity adjustment has always used);
- analysis `risk_difference`: the unadjusted risk difference with Newcombe's hybrid score CI
  (trialeval.proportions; no P value: the CI is the inference);
- analysis `logistic`, estimand `adjusted_odds_ratio`: the odds ratio for arm from a logistic
  regression of the post-visit status on arm + baseline status + the mixed model's covariates
  (`analyses.mixed_model.covariates`, and site with `site: fixed`), among participants with
  both statuses and the covariates observed; separation gives no estimate and a note
  (trialeval.regression.logistic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from trialeval.config import RANDOMIZED
from trialeval.design import (
    Factor,
    Numeric,
    adjustment_terms,
    describe_terms,
    design_matrix,
    factor_from_data,
)
from trialeval.effects import EFFECT_COLUMNS, effects_frame
from trialeval.effects import PREPOST_SUMMARY_COLUMNS as SUMMARY_COLUMNS
from trialeval.formatting import participant_count
from trialeval.io import in_set
from trialeval.model_n import arm_counts, model_n_rows
from trialeval.proportions import newcombe_difference
from trialeval.regression import drop_aliased, logistic, ols

__all__ = [
    "SUMMARY_COLUMNS",
    "median_pairwise_difference",
    "prepost_effects",
    "risk_ratio",
    "run",
    "wilcoxon_hodges_lehmann",
]

# --------------------------------------------------------------------------------------
# Wilcoxon rank-sum test and Hodges-Lehmann shift, as R's wilcox.test
# --------------------------------------------------------------------------------------


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties given their average rank, as R's rank() (numpy only: scipy.stats
    costs half a second to import)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    average = np.cumsum(counts) - (counts - 1) / 2  # last rank of each group, less half its spread
    return average[inverse]


def _tie_sum(values: np.ndarray) -> float:
    """sum(t^3 - t) over groups of tied values (R: sum(NTIES^3 - NTIES))."""
    counts = np.unique(values, return_counts=True)[1].astype(float)
    return float(np.sum(counts**3 - counts))


def _sigma(n_x: int, n_y: int, ties: float) -> float:
    """SD of the rank-sum statistic under H0 with R's tie correction."""
    n = n_x + n_y
    return float(np.sqrt(n_x * n_y / 12 * ((n + 1) - ties / (n * (n - 1)))))


def _standardised(dz, sigma, correct: bool):
    """(dz - correction) / sigma, with R's two-sided continuity correction 0.5 * sign(dz)."""
    correction = 0.5 * np.sign(dz) if correct else 0.0
    return (dz - correction) / sigma


class _ShiftedRankSum:
    """R's W(d) for the CI: the standardised rank sum of x - d against y, as a function of d.

    dz(d) = #{x_i - y_j > d} + #{x_i - y_j = d} / 2 - n_x n_y / 2 (the Mann-Whitney count of
    x - d vs y). Between two consecutive distinct pairwise differences D the ranks, and so the
    tie groups, do not change: only the within-sample ties count and sigma is constant. At a
    difference d = D, the x_i with x_i - y_j = D tie with y_j, which lowers sigma there.
    Comparisons use the pairwise differences themselves, as if x - d were exact in floating
    point (it is for integer or binary-fraction data such as prorated MBI sums).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y
        self.n_x, self.n_y = len(x), len(y)
        self.diffs = np.subtract.outer(x, y)
        self.jumps, self.counts = np.unique(self.diffs, return_counts=True)
        total = self.n_x * self.n_y
        # #{D > jumps[k]}: dz on the open interval right of jumps[k] is above[k] - total / 2
        self.above = total - np.cumsum(self.counts)
        self.half = total / 2
        self.sigma_open = _sigma(self.n_x, self.n_y, _tie_sum(x) + _tie_sum(y))

    def at_jump(self, k: int, correct: bool) -> float:
        """W at d = jumps[k] exactly."""
        d = self.jumps[k]
        dz = self.above[k] + self.counts[k] / 2 - self.half
        matched = self.diffs == d
        has_partner = matched.any(axis=1)
        # x_i - d equals y_j: x_i joins y_j's tie group; unmatched x_i keep their own groups
        partner = self.y[matched.argmax(axis=1)[has_partner]]
        ties = _tie_sum(np.concatenate([self.y, partner])) + _tie_sum(self.x[~has_partner])
        sigma = _sigma(self.n_x, self.n_y, ties)
        if sigma == 0:
            raise ValueError("cannot compute confidence interval when all observations are tied")
        return float(_standardised(dz, sigma, correct))

    def on_intervals(self, correct: bool) -> np.ndarray:
        """W on each open interval (jumps[k], jumps[k + 1]); non-increasing in k."""
        return _standardised(self.above[:-1] - self.half, self.sigma_open, correct)

    def root(self, zq: float, correct: bool) -> float:
        """The d where W(d) - zq changes sign, in [min(x) - max(y), max(x) - min(y)].

        Follows R's `root()`: an endpoint is returned when W - zq does not change sign
        over the range (f.lower <= 0 or f.upper >= 0, evaluated exactly at the endpoints).
        Otherwise R's uniroot(tol = 1e-4) returns a point within 1e-4 of the jump point where
        W - zq goes from positive to negative, which is returned here exactly. If W - zq is
        exactly 0 on a whole stretch (rare for a CI limit; always so for R's exact = FALSE
        estimate, zq = 0, when n_x n_y is even and the two middle differences differ),
        uniroot stops at whatever point of that stretch it evaluates first; the stretch's
        midpoint is returned here.

        W is monotone on the open intervals (sigma constant there), so the crossing is found
        by binary search; only at the jump points themselves can the extra ties make it
        non-monotone, which matters only if uniroot lands exactly on a jump point.
        """
        last = len(self.jumps) - 1
        if self.at_jump(0, correct) - zq <= 0:
            return float(self.jumps[0])
        if self.at_jump(last, correct) - zq >= 0:
            return float(self.jumps[last])
        g = self.on_intervals(correct) - zq
        first = int(np.searchsorted(-g, 0.0, side="left"))  # first interval with g <= 0
        if first == len(g):  # positive on every open interval: crossing at the last jump
            return float(self.jumps[last])
        if g[first] < 0:
            return float(self.jumps[first])
        end = int(np.searchsorted(-g, 0.0, side="right"))  # g == 0 on intervals first..end-1
        return float((self.jumps[first] + self.jumps[end]) / 2)


def wilcoxon_hodges_lehmann(x, y, alpha: float = 0.05) -> dict:
    """Two-sample Wilcoxon rank-sum test with Hodges-Lehmann shift, as R's
    `wilcox.test(x, y, conf.int = TRUE, conf.level = 1 - alpha, exact = FALSE, correct = TRUE)`.

    Returns {statistic (W), p_value, estimate, ci_low, ci_high, n_x, n_y}. The estimate is the
    Hodges-Lehmann shift of x relative to y: the median of the n_x n_y differences x_i - y_j,
    R's median(outer(x, y, "-")) (what wilcox.test(exact = TRUE) reports). With exact = FALSE
    R reports instead a uniroot() zero of W(d), a step function that is zero on a whole
    stretch between the two middle differences when their number is even: any point of it can
    come out, so that estimate is not reproduced. The CI limits are W's crossings as R finds
    them (see `_ShiftedRankSum.root`).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if np.isnan(x).any() or np.isnan(y).any():
        raise ValueError("x and y must not contain missing values")
    n_x, n_y = len(x), len(y)
    if n_x == 0 or n_y == 0:
        raise ValueError(f"need at least one value in each sample (got {n_x} and {n_y})")
    pooled = np.concatenate([x, y])
    ranks = _average_ranks(pooled)
    statistic = float(ranks[:n_x].sum() - n_x * (n_x + 1) / 2)
    sigma = _sigma(n_x, n_y, _tie_sum(pooled))
    out = {"statistic": statistic, "p_value": np.nan, "n_x": n_x, "n_y": n_y}
    out.update(estimate=np.nan, ci_low=np.nan, ci_high=np.nan)
    if sigma == 0:  # every observation tied: R returns p NaN and stops for the CI
        return out
    z = float(_standardised(statistic - n_x * n_y / 2, sigma, correct=True))
    out["p_value"] = float(2 * special.ndtr(-abs(z)))  # R: 2 * min(pnorm(z), 1 - pnorm(z))

    if n_x * n_y <= PAIRWISE_LIMIT:
        w = _ShiftedRankSum(x, y)
        out["estimate"] = float(np.median(w.diffs))
    else:
        w = _SortedRankSum(x, y)
        out["estimate"] = median_pairwise_difference(x, y)
    zq = float(special.ndtri(1 - alpha / 2))
    try:
        out["ci_low"] = w.root(zq, correct=True)
        out["ci_high"] = w.root(-zq, correct=True)
    except ValueError:
        # Every shifted difference ties at a root (e.g. x all 1, y all 0): W's variance is 0
        # there and R stops with "cannot compute confidence interval when all observations
        # are tied"; the test and the estimate stand, the CI is not given.
        out["ci_low"] = out["ci_high"] = np.nan
    return out


# Above this many pairs the n_x x n_y pairwise differences are not formed (memory and time
# would grow with the square of the sample); _SortedRankSum finds the same roots by bisection.
PAIRWISE_LIMIT = 4_000_000


class _SortedRankSum:
    """W(d) for large samples: the Mann-Whitney count of x - d vs y by binary search in the
    sorted y, O((n_x + n_y) log n_y) per evaluation, so the roots cost O(n log n).

    Between jump points W(d) is exactly _ShiftedRankSum's (only within-sample ties count);
    each root is bracketed by bisection to floating-point resolution, from the left and from
    the right, and a zero stretch is resolved to its midpoint as in the pairwise version.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y_sorted = x, np.sort(y)
        self.n_x, self.n_y = len(x), len(y)
        self.half = self.n_x * self.n_y / 2
        self.sigma = _sigma(self.n_x, self.n_y, _tie_sum(x) + _tie_sum(y))
        self.lower, self.upper = float(x.min() - y.max()), float(x.max() - y.min())

    def w(self, d: float, correct: bool) -> float:
        shifted = self.x - d
        below = np.searchsorted(self.y_sorted, shifted, side="left").sum()
        at_or_below = np.searchsorted(self.y_sorted, shifted, side="right").sum()
        dz = (below + at_or_below) / 2 - self.half
        return float(_standardised(dz, self.sigma, correct))

    def _edge(self, zq: float, correct: bool, strict: bool) -> float:
        """Bisection for the last d with W - zq > 0 (strict) or >= 0 (not strict)."""
        lo, hi = self.lower, self.upper
        for _ in range(200):
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            value = self.w(mid, correct) - zq
            if value > 0 or (not strict and value == 0):
                lo = mid
            else:
                hi = mid
        return hi

    def root(self, zq: float, correct: bool) -> float:
        if self.w(self.lower, correct) - zq <= 0:
            return self.lower
        if self.w(self.upper, correct) - zq >= 0:
            return self.upper
        start = self._edge(zq, correct, strict=True)  # W - zq stops being positive here
        end = self._edge(zq, correct, strict=False)  # and becomes negative here
        return float((start + end) / 2)


def _first_at_most(x: np.ndarray, y_sorted: np.ndarray, d: float) -> np.ndarray:
    """Per x_i, the first j with x_i - y_j <= d (differences fall as y_j grows), comparing the
    floating-point differences themselves as np.subtract.outer would give them.

    searchsorted on x_i - d is right except within rounding of d; the boundary is then moved
    by whole runs of tied y values until it is exact (usually no move at all).
    """
    n_y = len(y_sorted)
    first = np.searchsorted(y_sorted, x - d, side="left")
    while True:  # the value before the boundary is also <= d: move before all its copies
        back = (first > 0) & (x - y_sorted[np.maximum(first - 1, 0)] <= d)
        if not back.any():
            break
        first[back] = np.searchsorted(y_sorted, y_sorted[first[back] - 1], side="left")
    while True:  # the value at the boundary is > d: move past all its copies
        ahead = (first < n_y) & (x - y_sorted[np.minimum(first, n_y - 1)] > d)
        if not ahead.any():
            break
        first[ahead] = np.searchsorted(y_sorted, y_sorted[first[ahead]], side="right")
    return first


def _count_at_most(x: np.ndarray, y_sorted: np.ndarray, d: float) -> int:
    """#{(i, j): x_i - y_j <= d}, O(n_x log n_y)."""
    return int((len(y_sorted) - _first_at_most(x, y_sorted, d)).sum())


def _next_above(x: np.ndarray, y_sorted: np.ndarray, d: float) -> float:
    """The smallest difference x_i - y_j > d: per x_i it is x_i - y_(first - 1)."""
    first = _first_at_most(x, y_sorted, d)
    above = first > 0
    return float(np.min(x[above] - y_sorted[first[above] - 1]))


def _kth_pairwise_difference(x: np.ndarray, y_sorted: np.ndarray, k: int) -> float:
    """The k-th smallest (1-based) of the differences x_i - y_j, without forming them.

    Invariant: fewer than k differences are <= lo, at least k are <= hi. Each step moves lo
    to the next difference above it and halves [lo, hi]; the answer is that next difference
    once k differences are <= it. Each count costs O(n_x log n_y); the number of steps grows
    with the log of the data's spread over the gaps between differences (about 30 for 3e10
    pairs of normal data).
    """
    lo = float(np.nextafter(np.min(x) - y_sorted[-1], -np.inf))
    hi = float(np.max(x) - y_sorted[0])
    while True:
        following = _next_above(x, y_sorted, lo)
        if _count_at_most(x, y_sorted, following) >= k:
            return following
        lo = following
        mid = lo + (hi - lo) / 2
        if lo < mid < hi:
            if _count_at_most(x, y_sorted, mid) >= k:
                hi = mid
            else:
                lo = mid


def median_pairwise_difference(x, y) -> float:
    """median(outer(x, y, "-")) in O((n_x + n_y) log n) time and O(n_x + n_y) memory: the
    middle one (or the mean of the middle two) of the n_x n_y differences x_i - y_j."""
    x = np.sort(np.asarray(x, dtype=float))  # sorted queries: cache-friendly searchsorted
    y_sorted = np.sort(np.asarray(y, dtype=float))
    total = len(x) * len(y_sorted)
    lower = _kth_pairwise_difference(x, y_sorted, (total + 1) // 2)
    if total % 2:
        return lower
    if _count_at_most(x, y_sorted, lower) > total // 2:  # the next one ties with it
        return lower
    return (lower + _next_above(x, y_sorted, lower)) / 2


# --------------------------------------------------------------------------------------
# Risk ratio
# --------------------------------------------------------------------------------------


def risk_ratio(events_a: int, n_a: int, events_b: int, n_b: int, alpha: float = 0.05) -> dict:
    """Risk ratio of group a vs group b with a Wald CI on the log scale.

    Returns {estimate, se (of log RR), ci_low, ci_high, p_value, note}. With no events in
    either group the log RR is undefined: everything is NaN and the note says why (no
    continuity correction is applied behind the reader's back).
    """
    out = {"estimate": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    out.update(p_value=np.nan, note="")
    if min(n_a, n_b) == 0:
        out["note"] = f"no participants in a group (n = {n_a} vs {n_b}): risk ratio undefined"
        return out
    if events_a == 0 or events_b == 0:
        out["note"] = (
            f"zero events ({events_a}/{n_a} vs {events_b}/{n_b}): the risk ratio's log and "
            f"its SE are undefined; no continuity correction applied"
        )
        return out
    log_rr = np.log((events_a / n_a) / (events_b / n_b))
    se = float(np.sqrt(1 / events_a - 1 / n_a + 1 / events_b - 1 / n_b))
    half = special.ndtri(1 - alpha / 2) * se
    out.update(estimate=float(np.exp(log_rr)), se=se)
    out.update(ci_low=float(np.exp(log_rr - half)), ci_high=float(np.exp(log_rr + half)))
    if se > 0:
        out["p_value"] = float(2 * special.ndtr(-abs(log_rr) / se))
    else:
        out["note"] = "every participant in both groups had the event: no test"
    return out


# --------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------


def _change_summary(changes: pd.DataFrame, arms: list[str]) -> list[dict]:
    rows = []
    for arm in arms:
        values = changes.loc[changes["arm"] == arm, "change"].to_numpy(dtype=float)
        n = len(values)
        q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75]) if n else (np.nan,) * 3
        rows.append(
            {
                "arm": arm,
                "n": n,
                "median": median,  # numpy's default "linear" quantiles = R's type 7
                "q1": q1,
                "q3": q3,
                "mean": values.mean() if n else np.nan,
                "sd": values.std(ddof=1) if n > 1 else np.nan,
            }
        )
    return rows


def _score_rows(
    data, participants, spec, outcome, post, confounders, alpha
) -> tuple[list[dict], list[dict], list[dict]]:
    """(effects rows, change summary, fits: each fit's estimand and participants per arm)."""
    baseline, control = spec["baseline"], spec["control_arm"]
    # pivot (not pivot_table): a participant answering a wave twice is an error, not averaged
    wide = data.pivot(index="participant_id", columns="timepoint", values="score")
    wide = wide.reindex(columns=[baseline, post]).dropna()
    changes = pd.DataFrame(
        {
            "participant_id": wide.index,
            "baseline_score": wide[baseline].to_numpy(),
            "change": (wide[post] - wide[baseline]).to_numpy(),
        }
    )
    changes = changes.merge(participants, on="participant_id", how="inner")
    arms = [a["id"] for a in spec["arms"]]
    summary = _change_summary(changes, arms)

    # ANCOVA on the participants with every adjustment variable observed
    adjust_columns = [c for c in confounders if c in changes.columns]
    model_data = changes.dropna(subset=adjust_columns).reset_index(drop=True)
    # Never silently: participants the ANCOVA cannot use for want of a confounder are counted
    left_out = len(changes) - len(model_data)
    left_out_note = (
        f"{participant_count(left_out)} left out for a missing confounder" if left_out else ""
    )
    terms = adjustment_terms(model_data, spec, confounders)
    ancova_error = ""
    table = None
    try:
        arm_factor = factor_from_data(model_data, "arm", reference=control)
        X, names = design_matrix(model_data, [arm_factor, Numeric("baseline_score"), *terms])
        table = ols(model_data["change"].to_numpy(), X, names, alpha=alpha)
    except ValueError as error:
        ancova_error = f"ANCOVA not estimable: {error}"
    if table is not None:
        _add_adjusted_changes(summary, model_data, X, names, table, alpha)
    # the participants each fit used, per arm: the rank test's change scores, the ANCOVA's
    # rows with every confounder (none when it could not be fitted)
    fits = [
        {"estimand": "hodges_lehmann_shift", "counts": arm_counts(changes, arms)},
        {
            "estimand": "adjusted_mean_difference",
            "counts": arm_counts(model_data if table is not None else model_data.iloc[0:0], arms),
        },
    ]
    adjusted_for = ", ".join(
        [f"baseline {outcome['id']} score (linear)"] + ([describe_terms(terms)] if terms else [])
    )
    ancova_method = (
        f"ANCOVA: OLS of the change in {outcome['id']} ({baseline} to {post}) on arm "
        f"(reference {control}), adjusted for {adjusted_for}; t-based CI and p on the residual df"
    )
    hl_method = (
        f"Wilcoxon rank-sum test of the change in {outcome['id']} ({baseline} to {post}), normal "
        f"approximation with tie and continuity corrections; Hodges-Lehmann shift = median of "
        f'all pairwise differences (R: median(outer(x, y, "-"))) with the asymptotic CI of '
        f"R's wilcox.test(conf.int = TRUE, exact = FALSE); no SE"
    )

    observed = f"observed at both {baseline} and {post}"
    rows = []
    control_change = changes.loc[changes["arm"] == control, "change"].to_numpy(dtype=float)
    for arm in arms:
        if arm == control:
            continue
        contrast = f"{arm} - {control}"
        arm_change = changes.loc[changes["arm"] == arm, "change"].to_numpy(dtype=float)
        n = len(arm_change) + len(control_change)
        hl = {"estimate": np.nan, "p_value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
        missing = [a for a, x in ((arm, arm_change), (control, control_change)) if len(x) == 0]
        note = f"no participant of {' or '.join(missing)} {observed}" if missing else ""
        if not missing:
            hl = wilcoxon_hodges_lehmann(arm_change, control_change, alpha=alpha)
            if np.isnan(hl["estimate"]):
                note = "every change score is tied: no test or CI"
            elif np.isnan(hl["ci_low"]):
                note = "no CI: every shifted difference is tied at its limit (R stops there)"
        rows.append(
            {
                "estimand": "hodges_lehmann_shift",
                "contrast": contrast,
                "estimate": hl["estimate"],
                "ci_low": hl["ci_low"],
                "ci_high": hl["ci_high"],
                "p_value": hl["p_value"],
                "n": n,
                "n_obs": n,
                "method": hl_method,
                "note": note,
            }
        )
        term = f"arm[{arm}]"
        row = {
            "estimand": "adjusted_mean_difference",
            "contrast": contrast,
            "method": ancova_method,
        }
        if table is not None and term in table.index:
            used = model_data["arm"].isin([arm, control]).sum()
            fit = table.loc[term]
            row.update(
                {k: fit[k] for k in ("estimate", "se", "df", "p_value", "ci_low", "ci_high")}
            )
            # with more than two arms the model (and its residual df) uses every arm
            others = table.attrs["n"] - int(used)
            note = f"fitted with {others} participants of other arms" if others else ""
            note = "; ".join(filter(None, [left_out_note, note]))
            row.update(n=int(used), n_obs=int(used), note=note)
        else:
            # fitted without this arm: n is the participants the fit used of the two arms
            n = int(model_data["arm"].isin([arm, control]).sum()) if table is not None else 0
            row.update(n=n, n_obs=n, note=ancova_error or f"no participant of {arm} {observed}")
        rows.append(row)
    return rows, summary, fits


def adjusted_changes(model_data, X, names, table, alpha: float) -> dict[str, tuple]:
    """Each arm's adjusted mean change (estimate, CI) from the ANCOVA `table` fitted on
    design `X`: the prediction for the arm with every other column (baseline score, numeric
    covariates, covariate-level dummies) at its mean over the fitted rows, so categorical
    covariates are weighted by their observed proportions, not equally (a level seen once
    would otherwise weigh as much as the others); as R's
    emmeans(lm(change ~ arm + baseline + ...), ~ arm, weights = "proportional"), and the
    average prediction had everyone been in that arm. t CI on the residual df; the arms'
    difference is the ANCOVA's."""
    beta = table["estimate"].to_numpy()
    r_inv = np.linalg.inv(np.linalg.qr(X)[1])
    vcov = table.attrs["sigma"] ** 2 * (r_inv @ r_inv.T)
    means = X.mean(axis=0)
    half_width = special.stdtrit(table.attrs["df_resid"], 1 - alpha / 2)
    out = {}
    for arm in dict.fromkeys(model_data["arm"]):
        weights = means.copy()
        for j, name in enumerate(names):
            if name.startswith("arm["):
                weights[j] = 1.0 if name == f"arm[{arm}]" else 0.0
        estimate = float(weights @ beta)
        se = float(np.sqrt(weights @ vcov @ weights))
        out[arm] = (estimate, estimate - half_width * se, estimate + half_width * se)
    return out


def _add_adjusted_changes(summary, model_data, X, names, table, alpha) -> None:
    """The arms' adjusted mean change (adjusted_changes) into their summary rows."""
    found = adjusted_changes(model_data, X, names, table, alpha)
    for row in summary:
        estimate, low, high = found.get(row["arm"], (np.nan,) * 3)
        row.update(adjusted_change=estimate, adjusted_change_ci_low=low)
        row["adjusted_change_ci_high"] = high


def _unclustered(spec: dict) -> str:
    """What a comparison of proportions leaves out in a cluster-randomized trial."""
    if spec.get("design") != "cluster_rct":
        return ""
    return "; ignores clustering by site (the CI is too narrow if outcomes cluster)"


def _category_rows(
    data, participants, spec, outcome, post, alpha, covariates=()
) -> tuple[list[dict], list[dict], list[dict]]:
    """(effects rows, summary, fits: each fit's analysis, estimand and participants per arm);
    the risk ratio's analysis is the caller's (None)."""
    control = spec["control_arm"]
    at_post = data[(data["timepoint"] == post) & data["score"].notna()]
    at_post = at_post.merge(participants, on="participant_id", how="inner")
    arms = [a["id"] for a in spec["arms"]]
    summary, counts = [], {}
    for arm in arms:
        values = at_post.loc[at_post["arm"] == arm, "score"].to_numpy(dtype=float)
        counts[arm] = (int(values.sum()), len(values))
        summary.append(
            {
                "arm": arm,
                "n": len(values),
                "n_events": int(values.sum()),
                "proportion": values.mean() if len(values) else np.nan,
            }
        )
    method = (
        f"unadjusted risk ratio of {outcome['id']} at {post} (proportions among participants "
        f"observed then), Wald CI and z test on the log scale; se is the SE of log(risk ratio)"
        f"{_unclustered(spec)}"
    )
    rd_method = (
        f"unadjusted risk difference of {outcome['id']} at {post} (proportions among "
        f"participants observed then), Newcombe hybrid score CI (method 10: Wilson score "
        f"intervals without continuity correction); no P value{_unclustered(spec)}"
    )
    randomized = spec.get("design") in RANDOMIZED
    at_post_n = {arm: n for arm, (_, n) in counts.items()}
    fits = [{"analysis": None, "estimand": "risk_ratio", "counts": at_post_n}]
    odds = None
    if randomized:
        odds, used = _odds_ratios(data, participants, spec, outcome, post, alpha, covariates)
        fits.append(
            {"analysis": "risk_difference", "estimand": "risk_difference", "counts": at_post_n}
        )
        fits.append({"analysis": "logistic", "estimand": "adjusted_odds_ratio", "counts": used})
    labels = {a["id"]: a.get("label", a["id"]) for a in spec["arms"]}
    post_label = next(tp.get("label", post) for tp in spec["timepoints"] if tp["id"] == post)
    rows = []
    for arm in arms:
        if arm == control:
            continue
        rr = risk_ratio(*counts[arm], *counts[control], alpha=alpha)
        # said as the models say it, naming the arm (the same words in every row)
        absent = [labels[a] for a in (arm, control) if not (participants["arm"] == a).any()]
        empty = [labels[a] for a in (arm, control) if counts[a][1] == 0]
        gap = ""
        if absent:
            gap = f"not estimable: no {' or '.join(absent)} participant is in the analysis set"
        elif empty:
            gap = f"not estimable: no {' or '.join(empty)} participant has a score at {post_label}"
        n = counts[arm][1] + counts[control][1]
        contrast = f"{arm} - {control}"
        rows.append(
            {
                "estimand": "risk_ratio",
                "contrast": contrast,
                **{k: rr[k] for k in ("estimate", "se", "ci_low", "ci_high", "p_value")},
                "n": n,
                "n_obs": n,
                "method": method,
                "note": gap or rr["note"],
            }
        )
        if not randomized:
            continue
        rd = newcombe_difference(*counts[arm], *counts[control], alpha=alpha)
        rows.append(
            {
                "analysis": "risk_difference",
                "estimand": "risk_difference",
                "contrast": contrast,
                **{k: rd[k] for k in ("estimate", "ci_low", "ci_high")},
                "p_value": np.nan,
                "n": n,
                "n_obs": n,
                "method": rd_method,
                "note": gap,
            }
        )
        rows.append({"contrast": contrast, **odds(arm, gap)})
    return rows, summary, fits


def _odds_ratios(data, participants, spec, outcome, post, alpha, covariates):
    """The logistic regression of the status at `post` on arm + baseline status +
    `covariates` (covariate names and/or "site"), fitted once; returns a function giving an
    intervention arm's row (estimand adjusted_odds_ratio) without its contrast, and the
    participants per arm of the rows passed to the fit."""
    baseline, control = spec["baseline"], spec["control_arm"]
    wide = data.pivot(index="participant_id", columns="timepoint", values="score")
    wide = wide.reindex(columns=[baseline, post])
    wide = wide[wide[post].notna()].rename(columns={baseline: "baseline_status", post: "y"})
    frame = wide.reset_index().merge(participants, on="participant_id", how="inner")
    columns = [c for c in covariates if c in frame.columns]
    observed = frame["baseline_status"].notna()
    complete = observed & frame[columns].notna().all(axis=1)
    notes = []
    if (~observed).any():
        notes.append(f"{participant_count((~observed).sum())} without a baseline status")
    if (observed & ~complete).any():
        notes.append(f"{participant_count((observed & ~complete).sum())} missing a covariate")
    frame = frame[complete].reset_index(drop=True)
    left_out = f"left out: {', '.join(notes)}" if notes else ""
    terms = adjustment_terms(frame, spec, list(covariates))
    adjusted_for = ", ".join(
        [f"baseline {outcome['id']} status (0/1)"] + ([describe_terms(terms)] if terms else [])
    )
    method = (
        f"logistic regression (maximum likelihood) of {outcome['id']} at {post} on arm "
        f"(reference {control}), adjusted for {adjusted_for}; odds ratio = exp(coefficient), "
        f"Wald CI and z test; se is the SE of log(odds ratio){_unclustered(spec)}"
    )
    table, reasons, fit_note, used = None, {}, "", frame["arm"]
    if len(frame):
        arm_factor = Factor(
            "arm", tuple([control] + [a["id"] for a in spec["arms"] if a["id"] != control])
        )
        X, names = design_matrix(frame, [arm_factor, Numeric("baseline_status"), *terms])
        design = drop_aliased(X, names)  # an arm or level without data, a constant baseline
        try:
            fit = logistic(frame["y"].to_numpy(dtype=float), design.X, design.names, alpha=alpha)
            table, reasons = fit.table, fit.not_estimable
            fit_note = f"separation: {fit.separation}" if fit.separation else ""
            if not fit.converged and not fit.separation:
                fit_note = "the logistic fit did not converge"
        except ValueError as error:
            fit_note = f"not estimated: {error}"
        dropped = [n for n in design.aliased if not n.startswith("arm[")]
        if dropped:
            fit_note = "; ".join(
                filter(None, [fit_note, f"no information on {', '.join(dropped)}: left out"])
            )

    def row(arm: str, gap: str) -> dict:
        term = f"arm[{arm}]"
        n = int(used.isin([arm, control]).sum())
        out = {
            "analysis": "logistic",
            "estimand": "adjusted_odds_ratio",
            "n": n,
            "n_obs": n,
            "method": method,
            "estimate": np.nan,
            "se": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "p_value": np.nan,
        }
        note = [left_out, fit_note]
        if table is not None and term in table.index and np.isfinite(table.loc[term, "estimate"]):
            fitted = table.loc[term]
            out.update(
                estimate=float(np.exp(fitted["estimate"])),
                se=float(fitted["se"]),
                ci_low=float(np.exp(fitted["ci_low"])),
                ci_high=float(np.exp(fitted["ci_high"])),
                p_value=float(fitted["p_value"]),
            )
        elif gap:
            note.append(gap)
        elif term in reasons:
            note.append(f"not estimable: {reasons[term]}")
        elif n == 0:
            note.append("not estimable: no participant with both statuses observed")
        elif table is not None:
            note.append(f"not estimable: {arm} has no information left in the model")
        elif not fit_note:
            note.append("not estimable: no participant with both statuses observed")
        out["note"] = "; ".join(filter(None, note))
        return out

    return row, arm_counts(frame, [a["id"] for a in spec["arms"]])


def prepost_effects(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    spec: dict,
    outcome: dict,
    *,
    post: str,
    analysis_set: str,
    alpha: float,
    confounders: list[str],
    odds_covariates: tuple[str, ...] = (),
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Effects of each non-control arm vs control on one outcome at `post`, and a per-arm
    summary (change for scores; events and proportion for categories).

    `scores`: long rows (participant_id, timepoint, score) of this outcome; `participants`:
    the analysis set (participant_id, arm, site, covariates). Only participants in both are
    used. `confounders`: covariate names and/or "site" for the ANCOVA; `odds_covariates`: the
    same for the logistic regression of a randomized trial's category (besides arm and
    baseline status). `model_n`, if given, collects the participants each fit used per arm
    (trialeval.model_n.model_n_rows, one fit per estimand at `post`).
    """
    timepoints = [tp["id"] for tp in spec["timepoints"]]
    if post not in timepoints or post == spec["baseline"]:
        raise ValueError(
            f"post timepoint {post!r} must be one of the later waves "
            f"{[t for t in timepoints if t != spec['baseline']]}"
        )
    data = scores[["participant_id", "timepoint", "score"]]
    data = data[in_set(data["participant_id"], participants["participant_id"])]
    if outcome["kind"] == "score":
        rows, summary, fits = _score_rows(
            data, participants, spec, outcome, post, confounders, alpha
        )
    elif outcome["kind"] == "category":
        rows, summary, fits = _category_rows(
            data, participants, spec, outcome, post, alpha, odds_covariates
        )
    else:
        raise ValueError(
            f"outcome {outcome['id']!r} is of kind {outcome['kind']!r}; the pre/post analysis "
            f"handles scores and categories"
        )
    # A randomized trial's categories are compared at each post visit, not pre/post: their
    # risk ratios are an analysis of their own (one multiplicity family, one table block), as
    # are the risk differences and the adjusted odds ratios (rows carrying their analysis).
    randomized = spec.get("design") in RANDOMIZED and outcome["kind"] == "category"
    common = {
        "trial": spec["id"],
        "outcome": outcome["id"],
        "role": outcome["role"],
        "analysis": "risk_ratio" if randomized else "prepost",
        "timepoint": post,
        "analysis_set": analysis_set,
    }
    effects = effects_frame([{**common, "df": np.nan, "se": np.nan, **row} for row in rows])
    if model_n is not None:
        for fit in fits:
            analysis = fit.get("analysis") or common["analysis"]
            model_n += model_n_rows(common, analysis, fit["counts"], fit["estimand"], post)
    summary_frame = pd.DataFrame(
        [
            {"outcome": outcome["id"], "timepoint": post, "analysis_set": analysis_set, **row}
            for row in summary
        ],
        columns=SUMMARY_COLUMNS,
    )
    return effects, summary_frame


def binary_covariates(spec: dict) -> tuple[str, ...]:
    """What the logistic regression of a randomized trial's category adjusts for besides arm
    and baseline status: the randomized comparison's prespecified covariates, those of
    `analyses.mixed_model`, and site when that model has it as a fixed factor (a random site
    has no counterpart in this fixed-effects model)."""
    if spec.get("design") not in RANDOMIZED:
        return ()
    mixed = spec["analyses"].get("mixed_model") or {}
    site = ("site",) if mixed.get("site") == "fixed" else ()
    return (*mixed.get("covariates", ()), *site)


def outcome_effects(
    spec: dict,
    outcome_id: str,
    paths: dict[str, str],
    alpha: float,
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One outcome at every post-baseline timepoint on every configured analysis set:
    (effects, change-score summary); confounders from analyses.prepost.confounders; a
    randomized trial's categories adjusted (logistic regression) for the mixed model's
    covariates, and site when the mixed model has it fixed.
    ``paths``: the stage files scores, participants and sets; `model_n` collects each fit's
    participants per arm."""
    from trialeval.estimands import analysis_data
    from trialeval.io import set_members

    outcome = next(o for o in spec["outcomes"] if o["id"] == outcome_id)
    confounders = list(spec["analyses"]["prepost"]["confounders"])
    odds_covariates = binary_covariates(spec)
    # the analysis's estimand: intercurrent-event strategies applied to the scores
    scores, participants = analysis_data(spec, paths, outcome_id)
    posts = [tp["id"] for tp in spec["timepoints"] if tp["id"] != spec["baseline"]]
    effects, summaries = [], []
    for analysis_set in spec["analyses"]["analysis_sets"]:
        members = set_members(participants, analysis_set, outcome_id)
        for post in posts:
            frames = prepost_effects(
                scores,
                members,
                spec,
                outcome,
                post=post,
                analysis_set=analysis_set,
                alpha=alpha,
                confounders=confounders,
                odds_covariates=odds_covariates,
                model_n=model_n,
            )
            effects.append(frames[0].assign(n_analysis_set=len(members)))
            summaries.append(frames[1])
    return pd.concat(effects, ignore_index=True), pd.concat(summaries, ignore_index=True)


def run(spec: dict, *, paths: dict[str, str], alpha: float, outputs: dict[str, str]) -> None:
    """Rule entry: the pre/post analysis of every outcome the design gives one, in one job
    (each takes milliseconds; a job's start-up more than a second). ``outputs``: effects,
    summary, model_n (the participants each fit used, per arm)."""
    from trialeval.config import outcome_analyses
    from trialeval.io import write_csv
    from trialeval.model_n import model_n_frame

    model_n: list[dict] = []
    results = [
        outcome_effects(spec, outcome_id, paths, alpha, model_n)
        for outcome_id in outcome_analyses(spec)["prepost"]
    ]
    write_csv(model_n_frame(model_n), outputs["model_n"])
    tables = {"effects": EFFECT_COLUMNS, "summary": SUMMARY_COLUMNS}
    for i, (name, columns) in enumerate(tables.items()):
        frames = [result[i] for result in results]
        write_csv(
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns),
            outputs[name],
        )
