"""The fast REML of score ~ arm * visit + (1 | participant) for a batch of simulated trials
(closed-form in per-pattern sufficient statistics; see "The fast path" in trialeval.power), and
the general engine (trialeval.mixed) for the trials it cannot settle."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger("trialeval.power")

ESTIMANDS = ("diff_in_change", "diff_in_means")


@dataclass(frozen=True)
class PatternStats:
    """One trial's sufficient statistics, scores centred at the observed cell means, summed
    per unit (an arm for individually randomized trials, a cluster for cluster-randomized
    ones) and pattern of observed visits."""

    counts: np.ndarray  # (units, patterns) participants per unit and pattern of observed visits
    tsum: np.ndarray  # (units, patterns) sum of participant totals
    qsum: np.ndarray  # (units, patterns) sum of squared participant totals
    ysum: np.ndarray  # (arms, visits) cell sums (0 up to rounding after centring)
    yy: float  # sum of squares
    centre: np.ndarray  # (arms, visits) observed cell means that were subtracted
    cell_n: np.ndarray  # (arms, visits) observations per cell


def pattern_stats(
    y: np.ndarray, arm: np.ndarray, n_arms: int, unit: np.ndarray, n_units: int
) -> PatternStats:
    """Collect the statistics of one trial: y (participants, visits) with NaN where missing,
    arm codes 0..n_arms-1 (0 = control), unit codes 0..n_units-1.

    Scores are centred at the observed cell means first (an exact reparameterisation of the
    saturated fixed effects), so the residual sum of squares is not a small difference of
    large numbers.
    """
    n_visits = y.shape[1]
    n_patterns = 1 << n_visits
    arm = np.asarray(arm, np.intp)
    unit = np.asarray(unit, np.intp)
    observed = ~np.isnan(y)
    cell = (arm[:, None] * n_visits + np.arange(n_visits)).ravel()
    size = n_arms * n_visits
    cell_n = np.bincount(cell, weights=observed.ravel(), minlength=size).reshape(n_arms, -1)
    raw_sum = np.bincount(cell, weights=np.where(observed, y, 0.0).ravel(), minlength=size)
    raw_sum = raw_sum.reshape(n_arms, -1)
    centre = np.divide(raw_sum, cell_n, out=np.zeros_like(raw_sum), where=cell_n > 0)
    yc = np.where(observed, y - centre[arm], 0.0)
    total = yc.sum(axis=1)
    group = unit * n_patterns + observed @ (1 << np.arange(n_visits))
    size = n_units * n_patterns
    return PatternStats(
        counts=np.bincount(group, minlength=size).reshape(n_units, -1).astype(float),
        tsum=np.bincount(group, weights=total, minlength=size).reshape(n_units, -1),
        qsum=np.bincount(group, weights=total * total, minlength=size).reshape(n_units, -1),
        ysum=np.bincount(cell, weights=yc.ravel(), minlength=n_arms * n_visits).reshape(n_arms, -1),
        yy=float(np.sum(yc * yc)),
        centre=centre,
        cell_n=cell_n,
    )


def trial_stats(y: np.ndarray, arm: np.ndarray, n_arms: int) -> PatternStats:
    """An individually randomized trial's statistics: participants summed per arm."""
    return pattern_stats(y, arm, n_arms, arm, n_arms)


@dataclass(frozen=True)
class FastFit:
    """Per trial (rows) and intervention arm (columns): diff_in_change at the last visit."""

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    p_value: np.ndarray
    ok: np.ndarray  # (trials,) the fast path settled this trial
    sd_participant: np.ndarray  # (trials,)
    sd_residual: np.ndarray  # (trials,)


class _Batch:
    """Stacked statistics of many trials and the REML deviance pieces as functions of psi."""

    def __init__(self, stats: list[PatternStats]):
        self.counts = np.stack([s.counts for s in stats])  # (S, K, P)
        self.tsum = np.stack([s.tsum for s in stats])
        self.qsum = np.stack([s.qsum for s in stats])
        self.ysum = np.stack([s.ysum for s in stats])  # (S, K, T)
        self.yy = np.array([s.yy for s in stats])
        self.centre = np.stack([s.centre for s in stats])
        cell_n = np.stack([s.cell_n for s in stats])
        self.size, self.n_arms, self.n_visits = cell_n.shape
        t = self.n_visits
        p = np.arange(1 << t)
        self.pattern = ((p[:, None] >> np.arange(t)) & 1).astype(float)  # (P, T)
        self.n_pat = self.pattern.sum(axis=1)  # visits observed per pattern
        self.outer = (self.pattern[:, :, None] * self.pattern[:, None, :]).reshape(len(p), t * t)
        self.diag = cell_n[..., None] * np.eye(t)  # (S, K, T, T)
        self.n_obs = cell_n.sum(axis=(1, 2))
        self.dof = self.n_obs - self.n_arms * t
        # Identifiable: every cell observed, residual df left, and some participant observed
        # twice (otherwise participant and residual variance cannot be told apart).
        repeated = (self.counts * (self.n_pat >= 2)).sum(axis=(1, 2)) > 0
        self.valid = np.all(cell_n > 0, axis=(1, 2)) & (self.dof > 0) & repeated

    def at(self, psi: np.ndarray, idx: np.ndarray, order: int = 2) -> dict:
        """Profiled REML deviance (without the constant log|R'R|) and its derivatives in psi
        (order 0-2), for trials idx; with the pieces the Satterthwaite df need."""
        k, t = self.n_arms, self.n_visits
        counts, tsum = self.counts[idx], self.tsum[idx]
        a = 1.0 + self.n_pat * psi[:, None]  # (s, P): 1 + n_i psi
        c = psi[:, None] / a
        m = self.diag[idx] - ((c[:, None, :] * counts) @ self.outer).reshape(-1, k, t, t)
        u = self.ysum[idx] - (c[:, None, :] * tsum) @ self.pattern
        q = self.yy[idx] - np.sum(c[:, None, :] * self.qsum[idx], axis=(1, 2))
        m_inv = np.linalg.inv(m)
        beta = np.einsum("skij,skj->ski", m_inv, u)
        rss = q - np.sum(u * beta, axis=(1, 2))
        dof = self.dof[idx]
        _, logdet_m = np.linalg.slogdet(m)
        out = {
            "psi": psi,
            "m_inv": m_inv,
            "beta": beta,
            "rss": rss,
            "dev": np.sum(counts * np.log(a)[:, None, :], axis=(1, 2))
            + logdet_m.sum(axis=1)
            + dof * (1.0 + np.log(2.0 * np.pi * rss / dof)),
        }
        if order == 0:
            return out
        # Derivatives in psi: dc = 1 / a^2, d2c = -2 n / a^3; the matrices and vectors follow
        # linearly (dM = -sum dc N s s', du = -sum dc s T, dq = -sum dc Q).
        c1 = 1.0 / a**2
        m1 = -((c1[:, None, :] * counts) @ self.outer).reshape(-1, k, t, t)
        u1 = -(c1[:, None, :] * tsum) @ self.pattern
        q1 = -np.sum(c1[:, None, :] * self.qsum[idx], axis=(1, 2))
        h1 = np.sum(counts * (self.n_pat / a)[:, None, :], axis=(1, 2))  # d log|H|
        m_inv_m1 = m_inv @ m1
        ld1 = np.trace(m_inv_m1, axis1=2, axis2=3).sum(axis=1)  # d log|M|
        m1_beta = np.einsum("skij,skj->ski", m1, beta)
        # envelope: d rss = dq - 2 beta'du + beta'dM beta
        r1 = q1 - 2.0 * np.sum(beta * u1, axis=(1, 2)) + np.sum(beta * m1_beta, axis=(1, 2))
        out.update(m1=m1, r1=r1, h1=h1, ld1=ld1, d1=h1 + ld1 + dof * r1 / rss)
        if order == 1:
            return out
        c2 = -2.0 * self.n_pat / a**3
        m2 = -((c2[:, None, :] * counts) @ self.outer).reshape(-1, k, t, t)
        u2 = -(c2[:, None, :] * tsum) @ self.pattern
        q2 = -np.sum(c2[:, None, :] * self.qsum[idx], axis=(1, 2))
        h2 = -np.sum(counts * (self.n_pat**2 / a**2)[:, None, :], axis=(1, 2))
        ld2 = (
            np.trace(m_inv @ m2, axis1=2, axis2=3) - np.einsum("skij,skji->sk", m_inv_m1, m_inv_m1)
        ).sum(axis=1)
        # d2 rss = d2q - 2 e'M^-1 e - 2 beta'd2u + beta'd2M beta, e = du - dM beta
        e = u1 - m1_beta
        r2 = (
            q2
            - 2.0 * np.einsum("ski,skij,skj->s", e, m_inv, e)
            - 2.0 * np.sum(beta * u2, axis=(1, 2))
            + np.einsum("ski,skij,skj->s", beta, m2, beta)
        )
        out.update(
            h2=h2,
            ld2=ld2,
            r2=r2,
            d2=h2 + ld2 + dof * (r2 / rss - (r1 / rss) ** 2),
        )
        return out


# Same snap rule as trialeval.mixed: a variance ratio theta below this is set to 0 when the
# deviance at 0 is no worse beyond rounding.
_SNAP_THETA = 1e-4
_SNAP_RTOL = 1e-10


def _solve_psi(batch: _Batch, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """REML psi of trials idx: bracketed Newton on d deviance / d psi, then the boundary psi = 0
    where it is no worse. Returns (psi, settled)."""
    n = idx.size
    zero = np.zeros(n)
    at_zero = batch.at(zero, idx, order=1)
    start = np.ones(n)
    first = batch.at(start, idx, order=1)
    # A bracket [lo, hi] with slope < 0 at lo and > 0 at hi holds a local minimum.
    lo = np.where(first["d1"] < 0, start, 0.0)
    hi = np.where(first["d1"] < 0, np.inf, start)
    interior = (first["d1"] < 0) | (at_zero["d1"] < 0)
    grow = np.flatnonzero(interior & np.isinf(hi))
    for _ in range(40):
        if grow.size == 0:
            break
        trial = 4.0 * lo[grow]
        slope = batch.at(trial, idx[grow], order=1)["d1"]
        up = slope > 0
        hi[grow[up]] = trial[up]
        lo[grow[~up]] = trial[~up]
        grow = grow[~up]
    settled = ~np.isin(np.arange(n), grow)
    interior &= settled

    psi = np.where(interior, np.clip(start, lo, np.where(np.isinf(hi), start, hi)), 0.0)
    active = np.flatnonzero(interior)
    for _ in range(100):
        if active.size == 0:
            break
        ev = batch.at(psi[active], idx[active], order=2)
        g, h, x = ev["d1"], ev["d2"], psi[active]
        lo[active] = np.where(g < 0, x, lo[active])
        hi[active] = np.where(g > 0, x, hi[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - g / h
        inside = (h > 0) & (newton > lo[active]) & (newton < hi[active])
        new = np.where(inside, newton, 0.5 * (lo[active] + hi[active]))
        done = (np.abs(new - x) <= 1e-14 * np.maximum(x, 1e-300)) | (g == 0)
        done |= hi[active] - lo[active] <= 1e-15 * hi[active]
        psi[active] = np.where(g == 0, x, new)
        active = active[~done]
    settled[active] = False

    # The boundary: psi = 0 wins where its deviance is no worse (with mixed's snap slack).
    cand = np.flatnonzero(interior & settled)
    if cand.size:
        best = batch.at(psi[cand], idx[cand], order=0)["dev"]
        slack = np.where(
            np.sqrt(psi[cand]) < _SNAP_THETA, _SNAP_RTOL * np.maximum(1.0, np.abs(best)), 0.0
        )
        psi[cand[at_zero["dev"][cand] <= best + slack]] = 0.0
    return psi, settled


def _fit_batch(batch: _Batch, alpha: float, estimand: str = "diff_in_change") -> FastFit:
    """REML fits and Satterthwaite tests of the estimand at the last visit for every trial."""
    s, k, t = batch.size, batch.n_arms, batch.n_visits
    shape = (s, k - 1)
    est, se, df, p = (np.full(shape, np.nan) for _ in range(4))
    sd_p, sd_r = np.full(s, np.nan), np.full(s, np.nan)
    ok = batch.valid.copy()
    idx = np.flatnonzero(ok)
    if idx.size:
        psi, settled = _solve_psi(batch, idx)
        ok[idx[~settled]] = False
        idx, psi = idx[settled], psi[settled]
    if idx.size:
        ev = batch.at(psi, idx, order=2)
        dof = batch.dof[idx]
        sigma2 = ev["rss"] / dof
        sigma = np.sqrt(sigma2)
        theta = np.sqrt(psi)
        # Hessian of the deviance f(theta, sigma) = log|H| + log|M| + rss / sigma^2
        # + dof log(2 pi sigma^2): with B(psi) = df/dtheta / (2 theta), f_tt = 2 B + 4 psi B',
        # f_ts = -4 theta r1 / sigma^3, f_ss = 6 rss / sigma^4 - 2 dof / sigma^2.
        b0 = ev["h1"] + ev["ld1"] + ev["r1"] / sigma2
        b1 = ev["h2"] + ev["ld2"] + ev["r2"] / sigma2
        f_tt = 2.0 * b0 + 4.0 * psi * b1
        f_ts = -4.0 * theta * ev["r1"] / sigma**3
        f_ss = 6.0 * ev["rss"] / sigma2**2 - 2.0 * dof / sigma2
        det = f_tt * f_ss - f_ts**2
        boundary = psi == 0
        contrast = np.zeros(t)  # within an arm: the last visit's mean, or its change
        contrast[[0, t - 1]] = [0.0 if estimand == "diff_in_means" else -1.0, 1.0]
        m_inv, m1 = ev["m_inv"], ev["m1"]
        w = m_inv @ contrast  # (s, K, T)
        var_arm = w @ contrast  # (s, K): contrast' M_k^-1 contrast
        dvar_arm = -np.einsum("ski,skij,skj->sk", w, m1, w)  # its derivative in psi
        mean = ev["beta"] + batch.centre[idx]
        change = mean @ contrast  # (s, K)
        sd_p[idx], sd_r[idx] = theta * sigma, sigma
        for j in range(1, k):
            v = var_arm[:, j] + var_arm[:, 0]
            var = sigma2 * v
            g_t = sigma2 * (dvar_arm[:, j] + dvar_arm[:, 0]) * 2.0 * theta
            g_s = 2.0 * sigma * v
            # g' A g with A = 2 Hessian^-1 (2 x 2 interior; sigma only at the boundary).
            with np.errstate(divide="ignore", invalid="ignore"):
                quad = np.where(
                    boundary,
                    2.0 * g_s**2 / f_ss,
                    2.0 * (f_ss * g_t**2 - 2.0 * f_ts * g_t * g_s + f_tt * g_s**2) / det,
                )
                dfs = np.where(quad > 0, 2.0 * var**2 / quad, np.inf)
            est[idx, j - 1] = change[:, j] - change[:, 0]
            se[idx, j - 1] = np.sqrt(var)
            df[idx, j - 1] = dfs
        finite = np.all(np.isfinite(se[idx]) & (se[idx] > 0) & np.isfinite(df[idx]), axis=1)
        bad = ~(finite & ((det > 0) | boundary))
        ok[idx[bad]] = False
    from scipy import special  # here, not at the top: the DAG build imports this module

    p = 2.0 * special.stdtr(df, -np.abs(est / se))
    est[~ok], se[~ok], df[~ok], p[~ok] = np.nan, np.nan, np.nan, np.nan
    return FastFit(est, se, df, p, ok, sd_p, sd_r)


def fit_trials(
    ys, arm: np.ndarray, n_arms: int, alpha: float = 0.05, estimand: str = "diff_in_change"
) -> FastFit:
    """Fit score ~ arm * visit + (1 | participant) by REML to each trial in ys (a sequence of
    (participants, visits) arrays, NaN where missing; arm codes 0..n_arms-1 with 0 the control,
    the same for every trial) and test the estimand (diff_in_change or diff_in_means) at the
    last visit per intervention arm.

    Trials the fast path cannot settle are refitted with trialeval.mixed (`general_fit`);
    a trial neither can fit has NaN results and ok False. Each trial's result depends only on
    its own data, whatever else is in the batch.
    """
    ys = [np.asarray(y, float) for y in ys]
    fit = _fit_batch(_Batch([trial_stats(y, arm, n_arms) for y in ys]), alpha, estimand)
    for i in np.flatnonzero(~fit.ok):
        try:
            general = general_fit(ys[i], arm, n_arms, alpha, estimand=estimand)
        except (ValueError, np.linalg.LinAlgError) as error:
            log.warning("simulated trial %d could not be fitted: %s", i, error)
            continue
        fit.estimate[i], fit.se[i], fit.df[i], fit.p_value[i] = (
            np.array(column) for column in zip(*general["contrasts"], strict=True)
        )
        fit.sd_participant[i] = general["sd_participant"]
        fit.sd_residual[i] = general["sd_residual"]
    return fit


def general_fit(
    y: np.ndarray,
    arm: np.ndarray,
    n_arms: int,
    alpha: float = 0.05,
    *,
    estimand: str = "diff_in_change",
    cluster: np.ndarray | None = None,
) -> dict:
    """The same analysis with the general engine (fit_reml + contrast): {contrasts: [(estimate,
    se, df, p) per intervention arm], sd_participant, sd_residual, sd_cluster, boundary}.
    Reference and fallback of the fast path; with `cluster` (a code per participant) the
    cluster-randomized model, + (1 | site) with the clusters as sites."""
    from trialeval.mixed import contrast, fit_reml

    n, n_visits = y.shape
    rows, visit = np.nonzero(~np.isnan(y))
    arm_of = np.asarray(arm)[rows]
    columns = [np.ones(rows.size)]
    names = ["Intercept"]
    columns += [(arm_of == a).astype(float) for a in range(1, n_arms)]
    names += [f"arm[{a}]" for a in range(1, n_arms)]
    columns += [(visit == v).astype(float) for v in range(1, n_visits)]
    names += [f"visit[{v}]" for v in range(1, n_visits)]
    for a in range(1, n_arms):
        for v in range(1, n_visits):
            columns.append(((arm_of == a) & (visit == v)).astype(float))
            names.append(f"arm[{a}]:visit[{v}]")
    sites = None if cluster is None else np.asarray(cluster)[rows]
    fit = fit_reml(y[rows, visit], np.column_stack(columns), rows, sites=sites, column_names=names)
    results = []
    for a in range(1, n_arms):
        weights = {f"arm[{a}]:visit[{n_visits - 1}]": 1.0}
        if estimand == "diff_in_means":
            weights[f"arm[{a}]"] = 1.0
        c = contrast(fit, pd.Series(weights), alpha=alpha)
        results.append((c.estimate, c.se, c.df, c.p_value))
    return {
        "contrasts": results,
        "sd_participant": fit.sd_participant,
        "sd_residual": fit.sd_residual,
        "sd_cluster": fit.sd_site,
        "boundary": fit.boundary,
    }
