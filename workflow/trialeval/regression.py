"""Fixed-effects regression on a design matrix: ordinary least squares and logistic regression.

numpy, scipy.linalg and scipy.special only: importing statsmodels costs about a second per
job, scipy.stats half a second (distribution functions come from scipy.special). Measured for
the logistic fit (`python -X importtime`, 2-core machine): statsmodels' GLM adds 0.97 s of
imports to a job that has already imported pandas and scipy (2.3-2.8 s wall under load),
while the Newton loop below fits 1,261 rows x 8 columns in 5 ms (statsmodels GLM: 55 ms) and
agrees with statsmodels Logit and R's glm to 1e-6 (tests). Both take the
(n, p) matrix and its column names from `trialeval.design.design_matrix` and return one row per
term, as R's `summary(lm(...))` / `summary(glm(..., family = binomial))` with `confint.default`
would report them:

- `ols`: t-based SEs, p-values and CIs on the residual df n - p;
- `logistic`: maximum likelihood by Newton-Raphson (IRLS for the canonical logit link) with
  step-halving; Wald z SEs, p-values and CIs on the log-odds scale.

Rank-deficient designs raise ValueError naming the aliased columns (R would silently report NA
for them). Separation in a logistic fit does not raise: the terms whose estimate is infinite
are reported as NaN with the reason, never as an absurd odds ratio, and every other term is
the limit of the maximum likelihood fit (R's glm on the rows not set aside; see
`_separated_levels`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, special

__all__ = ["LogisticFit", "Reduced", "aliased_columns", "drop_aliased", "logistic", "ols"]

# R's lm() declares a column aliased when its norm, after projecting out the columns before
# it, falls below tol = 1e-7 times its original norm (LINPACK dqrdc2 in lm.fit).
_ALIAS_TOL = 1e-7
# Logistic fit: converged when the Newton step is below _STEP_EPS (quadratic convergence
# then leaves errors ~1e-16), or when the deviance no longer changes (R's glm.control() test
# |dev - dev_old| / (|dev| + 0.1) < eps, with eps at rounding level rather than R's 1e-8,
# which stops R a little earlier: R's estimates are accurate to ~1e-8 only).
_STEP_EPS = 1e-8
_DEVIANCE_EPS = 1e-15
_MAX_ITER = 50
_MAX_HALVINGS = 30
# Separation during the fit: fitted probabilities this close to 0 or 1 ...
_PROB_EPS = 1e-8
# ... together with a coefficient that has run off (a log-odds ratio of 15 is an odds ratio of
# 3.3 million) or whose SE has exploded (100 on the log-odds scale: an uninformative CI).
_BETA_LIMIT = 15.0
_SE_LIMIT = 100.0


def _check_input(y: np.ndarray, X: np.ndarray, names: list[str]) -> None:
    if X.ndim != 2 or y.ndim != 1 or len(y) != X.shape[0]:
        raise ValueError(f"y has {len(y)} rows but X has shape {X.shape}; expected (n,) and (n, p)")
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} names for {X.shape[1]} columns of X")
    if np.isnan(y).any():
        raise ValueError(f"y has {int(np.isnan(y).sum())} missing values; drop them first")
    bad = [name for name, column in zip(names, X.T, strict=True) if np.isnan(column).any()]
    if bad:
        raise ValueError(f"X has missing values in column(s) {', '.join(bad)}; drop them first")


def aliased_columns(X: np.ndarray, names: list[str]) -> list[str]:
    """Columns that are (numerically) linear combinations of the columns before them.

    Gram-Schmidt in column order, as R's lm keeps the first of a set of aliased columns.
    """
    kept: list[np.ndarray] = []  # orthonormal basis of the kept columns
    aliased = []
    for name, column in zip(names, X.T, strict=True):
        norm = np.linalg.norm(column)
        residual = column.astype(float)
        for q in kept:  # twice, for numerical orthogonality ("twice is enough")
            residual = residual - q * (q @ residual)
        for q in kept:
            residual = residual - q * (q @ residual)
        left = np.linalg.norm(residual)
        if norm == 0 or left < _ALIAS_TOL * norm:
            aliased.append(name)
        else:
            kept.append(residual / left)
    return aliased


@dataclass(frozen=True)
class Reduced:
    """A design with its aliased columns dropped, as R's lm and lmer fit one, and what that
    leaves estimable. `kept`: indices of the columns kept; `null`: rows spanning the null
    space of the full X (X @ row = 0). A linear function l of the full coefficients is
    estimable iff it is orthogonal to the null space; its estimate is then the same for every
    solution, and in particular l[kept] applied to the fit on the kept columns."""

    X: np.ndarray
    names: list[str]
    kept: list[int]
    aliased: list[str]
    null: np.ndarray

    def restrict(self, weights: np.ndarray) -> np.ndarray | None:
        """`weights` (over every column) restricted to the kept columns, or None when the
        function is not estimable (as emmeans reports "nonEst")."""
        if len(self.null):
            scale = np.linalg.norm(self.null, axis=1) * max(np.linalg.norm(weights), 1.0)
            if (np.abs(self.null @ weights) > 1e-8 * scale).any():
                return None
        return weights[self.kept]


def drop_aliased(X: np.ndarray, names: list[str]) -> Reduced:
    """Drop the aliased columns of X (R's rule, `aliased_columns`): a column without data,
    such as an arm's indicator when the arm has no observation, or an arm-by-visit cell
    nobody was observed in."""
    aliased = aliased_columns(X, names)
    kept = [j for j, name in enumerate(names) if name not in aliased]
    X_kept = X[:, kept]
    null = np.zeros((len(aliased), X.shape[1]))
    for row, name in enumerate(aliased):
        j = names.index(name)
        # the aliased column as a combination of the kept ones: X_j = X_kept c
        c = np.linalg.lstsq(X_kept, X[:, j], rcond=None)[0] if kept else np.zeros(0)
        null[row, j] = 1.0
        null[row, kept] = -c
    return Reduced(X_kept, [names[j] for j in kept], kept, aliased, null)


def _check_rank(X: np.ndarray, names: list[str]) -> None:
    aliased = aliased_columns(X, names)
    if aliased:
        raise ValueError(
            f"design matrix is rank deficient: column(s) {', '.join(aliased)} are linear "
            f"combinations of the columns before them (or all zero); drop or merge them"
        )


def ols(y, X, names: list[str], alpha: float = 0.05) -> pd.DataFrame:
    """Least-squares fit of y on X (R's `lm`): a frame indexed by term with estimate, se,
    df (= n - p), t, p_value, ci_low, ci_high. `attrs` holds n, df_resid and sigma."""
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    _check_input(y, X, names)
    n, p = X.shape
    if n <= p:
        raise ValueError(f"{n} observations for {p} coefficients: no residual df")
    _check_rank(X, names)
    # Via QR rather than the normal equations: X'X squares the condition number.
    q, r = np.linalg.qr(X)
    estimate = linalg.solve_triangular(r, q.T @ y)
    residual = y - X @ estimate
    df = n - p
    sigma2 = float(residual @ residual) / df
    r_inv = linalg.solve_triangular(r, np.eye(p))
    se = np.sqrt(sigma2 * np.sum(r_inv**2, axis=1))  # diag((R'R)^-1) = row sums of R^-1 squared
    t = estimate / se
    half = special.stdtrit(df, 1 - alpha / 2) * se  # t quantile
    table = pd.DataFrame(
        {
            "estimate": estimate,
            "se": se,
            "df": float(df),
            "t": t,
            "p_value": 2 * special.stdtr(df, -np.abs(t)),
            "ci_low": estimate - half,
            "ci_high": estimate + half,
        },
        index=pd.Index(names, name="term"),
    )
    table.attrs.update(n=n, df_resid=df, sigma=float(np.sqrt(sigma2)))
    return table


@dataclass(frozen=True)
class LogisticFit:
    """Result of :func:`logistic`. `table` is indexed by term (estimate on the log-odds
    scale, se, z, p_value, ci_low, ci_high; NaN for terms hit by separation); `separation` is
    None or a message naming the terms; `loglik` is the log-likelihood at the estimate (with
    separation, its limit: rows set aside contribute log 1 = 0); `n` counts every row."""

    table: pd.DataFrame
    converged: bool
    separation: str | None
    n: int
    loglik: float
    iterations: int
    not_estimable: dict[str, str] = field(default_factory=dict)  # term: why it is NaN


def _label(name: str) -> str:
    """'belonging[Very strong]' -> "level 'Very strong' of belonging" (design.py's naming)."""
    match = re.fullmatch(r"(.+)\[(.+)\]", name)
    return f"level {match[2]!r} of {match[1]}" if match else f"indicator {name}"


def _events_message(label: str, events: int, size: int) -> str:
    if events == 0:
        return f"{label}: all 0 events among its {size} participants"
    return f"{label}: all {size} of its {size} participants had the event"


def _factor_columns(names: list[str]) -> dict[str, list[int]]:
    """{factor: its indicator columns} from design.py's `column[level]` names (main effects)."""
    factors: dict[str, list[int]] = {}
    for j, name in enumerate(names):
        match = re.fullmatch(r"(.+)\[(.+)\]", name)
        if match and ":" not in name:
            factors.setdefault(match[1], []).append(j)
    return factors


@dataclass
class _Separation:
    """Rows set aside and columns left out of the fit for separated factor levels, the terms
    reported as not estimable with the reason for each, and the messages."""

    rows: np.ndarray  # True for the rows kept
    left_out: list[int]
    reasons: dict[str, str]
    messages: list[str]


def _separated_levels(y: np.ndarray, X: np.ndarray, names: list[str]) -> _Separation:
    """Factor levels whose participants all have y = 0 or all y = 1 (quasi-complete separation:
    the maximum likelihood estimate of every contrast with that level is infinite).

    In the limit the rows of such a level contribute log(1) = 0 to the log-likelihood, so the
    other coefficients are the fit on the remaining rows: R's glm on the data without them.
    - A level with its own indicator column: its rows and its column are left out.
    - A factor's reference level (rows with none of its indicators): its rows are left out;
      every contrast with it is infinite, so the factor's terms are reported as not
      estimable. The intercept is kept and re-based: the factor's first remaining level
      becomes the reference (its column leaves the fit), the rest stay in as nuisance columns.
      The same holds when the reference level's rows were all set aside for another factor.
    Setting rows aside can separate another level, so the search repeats until none is found.
    """
    n = len(y)
    sep = _Separation(np.ones(n, dtype=bool), [], {}, [])
    binary = [j for j, column in enumerate(X.T) if np.isin(column, (0.0, 1.0)).all()]
    factors = _factor_columns(names) if "Intercept" in names else {}
    reference = {factor: f"reference level of {factor}" for factor in factors}

    def separated(rows: np.ndarray) -> bool:
        return bool(rows.any()) and int(y[rows].sum()) in (0, int(rows.sum()))

    def message(label: str, rows: np.ndarray) -> str:
        return _events_message(label, int(y[rows].sum()), int(rows.sum()))

    found = True
    while found:
        found = False
        for j in binary:
            rows = sep.rows & (X[:, j] == 1)
            if j in sep.left_out or not 0 < rows.sum() < sep.rows.sum() or not separated(rows):
                continue
            sep.reasons[names[j]] = message(_label(names[j]), rows)
            sep.messages.append(sep.reasons[names[j]])
            sep.rows &= ~rows
            sep.left_out.append(j)
            found = True
        for factor, columns in factors.items():
            in_fit = [j for j in columns if j not in sep.left_out]
            rows = sep.rows & (X[:, in_fit].sum(axis=1) == 0)
            remaining = [j for j in in_fit if X[sep.rows & ~rows, j].any()]
            if not remaining:
                continue
            if separated(rows):
                text = message(reference[factor], rows)
            elif not rows.any():  # its participants were all in rows set aside
                text = f"{reference[factor]}: no participant left once separated rows are set aside"
            else:
                continue
            level = re.fullmatch(r".+\[(.+)\]", names[remaining[0]])[1]
            for j in columns:
                sep.reasons.setdefault(names[j], f"{text}: every contrast with it is infinite")
            sep.messages.append(f"{text} (the intercept is at level {level!r} of {factor})")
            reference[factor] = _label(names[remaining[0]])
            sep.rows &= ~rows
            sep.left_out.append(remaining[0])
            found = True
    return sep


def _loglik(y: np.ndarray, eta: np.ndarray) -> float:
    # sum(y * eta - log(1 + exp(eta))), with log1p(exp()) done without overflow
    return float(y @ eta - np.logaddexp(0.0, eta).sum())


def _newton(y: np.ndarray, X: np.ndarray):
    """Maximise the logistic log-likelihood; returns (beta, information, loglik, converged,
    iterations)."""
    beta = np.zeros(X.shape[1])
    loglik = _loglik(y, X @ beta)
    converged = False
    iterations = 0
    while iterations < _MAX_ITER:
        iterations += 1
        prob = special.expit(X @ beta)
        information = X.T @ (X * (prob * (1 - prob))[:, None])
        try:
            step = np.linalg.solve(information, X.T @ (y - prob))
        except np.linalg.LinAlgError:
            break  # information singular: fitted probabilities all at 0/1
        # Step-halving: the log-likelihood is concave, so a short enough Newton step always
        # improves it. Near the optimum the gain is below rounding, hence the slack.
        slack = 1e-10 * (abs(loglik) + 1)
        for _ in range(_MAX_HALVINGS):
            new_loglik = _loglik(y, X @ (beta + step))
            if np.isfinite(new_loglik) and new_loglik >= loglik - slack:
                break
            step = step / 2
        else:
            break  # no step improves the fit: give up (not converged)
        beta = beta + step
        # R's criterion on the deviance (-2 loglik)
        change = 2 * abs(new_loglik - loglik) / (2 * abs(new_loglik) + 0.1)
        loglik = new_loglik
        if change < _DEVIANCE_EPS or np.max(np.abs(step)) < _STEP_EPS:
            converged = True
            break
    prob = special.expit(X @ beta)
    information = X.T @ (X * (prob * (1 - prob))[:, None])
    return beta, information, loglik, converged, iterations


def _wald_table(beta, se, names, alpha) -> pd.DataFrame:
    z = beta / se
    half = special.ndtri(1 - alpha / 2) * se
    return pd.DataFrame(
        {
            "estimate": beta,
            "se": se,
            "z": z,
            "p_value": 2 * special.ndtr(-np.abs(z)),
            "ci_low": beta - half,
            "ci_high": beta + half,
        },
        index=pd.Index(names, name="term"),
    )


def logistic(y, X, names: list[str], alpha: float = 0.05) -> LogisticFit:
    """Logistic regression of a 0/1 outcome y on X (R's `glm(family = binomial)`), Wald
    inference. Separation is checked before the fit (indicator levels with no events or only
    events) and after it (fitted probabilities at 0/1 with diverging coefficients)."""
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    _check_input(y, X, names)
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("logistic regression needs a 0/1 outcome")
    n, p = X.shape
    _check_rank(X, names)
    nan_table = _wald_table(np.full(p, np.nan), np.full(p, np.nan), names, alpha)
    events = int(y.sum())
    if events in (0, n):
        message = _events_message("the whole sample", events, n)
        return LogisticFit(nan_table, False, message, n, 0.0, 0, dict.fromkeys(names, message))

    sep = _separated_levels(y, X, names)
    reasons, messages = dict(sep.reasons), list(sep.messages)
    keep = [j for j in range(p) if j not in sep.left_out]
    y_fit = y[sep.rows]
    # Setting rows aside can leave other columns without information (e.g. a covariate level
    # seen only in the separated rows): those are not estimable either.
    lost = aliased_columns(X[np.ix_(sep.rows, keep)], [names[j] for j in keep])
    if lost:
        messages.append(f"not estimable once the separated rows are set aside: {', '.join(lost)}")
        for name in lost:
            reasons.setdefault(name, "not estimable once the separated rows are set aside")
        keep = [j for j in keep if names[j] not in lost]
    X_fit = X[np.ix_(sep.rows, keep)]
    fit_names = [names[j] for j in keep]
    y_events = int(y_fit.sum())
    if not keep or y_events in (0, len(y_fit)):
        messages.append(_events_message("the participants left", y_events, len(y_fit)))
        reasons = {name: reasons.get(name, messages[-1]) for name in names}
        return LogisticFit(nan_table, False, "; ".join(messages), n, 0.0, 0, reasons)

    beta, information, loglik, converged, iterations = _newton(y_fit, X_fit)
    try:
        se = np.sqrt(np.clip(np.diag(np.linalg.inv(information)), 0, None))
    except np.linalg.LinAlgError:
        se = np.full(len(keep), np.inf)
    prob = special.expit(X_fit @ beta)
    at_bound = (prob < _PROB_EPS) | (prob > 1 - _PROB_EPS)
    diverging = (np.abs(beta) > _BETA_LIMIT) | ~(se < _SE_LIMIT)
    if at_bound.any() and diverging.any():
        gone = [fit_names[j] for j in np.flatnonzero(diverging)]
        messages.append(
            f"complete or quasi-complete separation: fitted probabilities of 0 or 1 for "
            f"{int(at_bound.sum())} participants; the estimates of {', '.join(gone)} diverge"
        )
        for name in gone:
            reasons.setdefault(name, "the estimate diverges (separation found during the fit)")
        beta = np.where(diverging, np.nan, beta)
        se = np.where(diverging, np.nan, se)

    table = nan_table.copy()
    table.loc[fit_names] = _wald_table(beta, se, fit_names, alpha).to_numpy()
    # nuisance columns of a factor whose reference level was separated: fitted, not reported
    table.loc[list(reasons)] = np.nan
    return LogisticFit(
        table=table,
        converged=converged,
        separation="; ".join(messages) if messages else None,
        n=n,
        loglik=loglik,
        iterations=iterations,
        not_estimable=reasons,
    )
