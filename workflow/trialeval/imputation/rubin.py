"""Rubin's rules with the Barnard-Rubin (1999) small-sample degrees of freedom.

For m completed-data estimates Q_i with variances U_i (squared SEs) and the complete-data
degrees of freedom nu_com (Rubin 1987, ch. 3; Barnard & Rubin 1999, Biometrika 86:948):

    Qbar = mean(Q_i),  Ubar = mean(U_i),  B = var(Q_i) (denominator m - 1),
    T = Ubar + (1 + 1/m) B,
    r = (1 + 1/m) B / Ubar            relative increase in variance,
    lambda = (1 + 1/m) B / T          proportion of the variance due to missingness,
    nu_old = (m - 1) / lambda^2,
    nu_obs = (nu_com + 1) / (nu_com + 3) nu_com (1 - lambda),
    nu = nu_old nu_obs / (nu_old + nu_obs)   (nu_old when nu_com is infinite),
    fmi = (r + 2 / (nu + 3)) / (r + 1)       fraction of missing information,

and the t interval Qbar +- t(nu, 1 - alpha/2) sqrt(T) and two-sided P. As mice's
`pool.scalar` and `barnard.rubin` (mice 3.15), lambda is floored at 1e-4 inside the df (so
B = 0, nothing imputed, gives a df just below nu_com rather than a division by zero); the
reported lambda is not floored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import special

__all__ = ["Pooled", "barnard_rubin_df", "pool"]

_LAMBDA_FLOOR = 1e-4  # mice:::barnard.rubin


@dataclass(frozen=True)
class Pooled:
    """Rubin's rules for one scalar: pooled estimate, its variance parts and the t test."""

    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    within: float
    between: float
    total: float
    riv: float
    lambda_: float
    fmi: float
    dfcom: float
    m: int

    def as_dict(self) -> dict:
        return asdict(self)


def barnard_rubin_df(m: int, between: float, total: float, dfcom: float = np.inf) -> float:
    """Barnard-Rubin degrees of freedom (mice:::barnard.rubin)."""
    lam = max((1.0 + 1.0 / m) * between / total, _LAMBDA_FLOOR)
    df_old = (m - 1) / lam**2
    if np.isinf(dfcom):
        return float(df_old)
    df_obs = (dfcom + 1.0) / (dfcom + 3.0) * dfcom * (1.0 - lam)
    return float(df_old * df_obs / (df_old + df_obs))


def pool(estimates, variances, dfcom: float = np.inf, alpha: float = 0.05) -> Pooled:
    """Pool m >= 2 completed-data estimates and their variances (squared SEs)."""
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.ndim != 1 or q.shape != u.shape:
        raise ValueError(f"estimates and variances must be 1-d of one length: {q.shape}, {u.shape}")
    m = len(q)
    if m < 2:
        raise ValueError(f"Rubin's rules need at least 2 imputations, got {m}")
    if not (dfcom > 0):
        raise ValueError(f"the complete-data df must be positive, got {dfcom}")
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    qbar, ubar = float(q.mean()), float(u.mean())
    b = float(q.var(ddof=1))
    t = ubar + (1.0 + 1.0 / m) * b
    r = (1.0 + 1.0 / m) * b / ubar
    df = barnard_rubin_df(m, b, t, dfcom)
    se = float(np.sqrt(t))
    half = float(special.stdtrit(df, 1.0 - alpha / 2.0)) * se
    return Pooled(
        estimate=qbar,
        se=se,
        df=df,
        ci_low=qbar - half,
        ci_high=qbar + half,
        p_value=float(2.0 * special.stdtr(df, -abs(qbar) / se)),
        within=ubar,
        between=b,
        total=t,
        riv=r,
        lambda_=(1.0 + 1.0 / m) * b / t,
        fmi=(r + 2.0 / (df + 3.0)) / (r + 1.0),
        dfcom=float(dfcom),
        m=m,
    )
