"""Power of a planned trial by simulation: the `power` block of a trial file.

The planned trial
    Arms with allocation ratios (exactly one control; arms of this trial or new ones), visits
    (the first is the baseline), per outcome the variance components, given or taken from this
    trial's fitted model (results/<trial>/tables/model_diagnostics.csv, intention-to-treat row
    of the repeated-measures model), per intervention arm and outcome the expected difference
    at the last visit (in change from baseline, which is also the difference in means there:
    baselines do not differ), and attrition. A simulated participant has

        y_it = mu[arm, t] + b_i + e_it,  b_i ~ N(0, sd_participant^2), e_it ~ N(0, sd_residual^2),

    mu = 0 at baseline and in the control arm; an intervention arm reaches its effect at the
    last visit, linearly over the post visits (intermediate means cannot change the test: every
    arm x visit cell has its own mean in the model). Attrition is monotone and completely at
    random: one uniform draw per participant, missing at post visit t and later when the draw
    is below attrition[t]; baselines are observed. Arm sizes are fixed: the total split by the
    ratios (largest remainder). Sites are not simulated (the planned analysis has none).

A cluster-randomized plan (a trial of design cluster_rct)
    Every arm has k clusters (`clusters_per_arm`, the list scanned) of `cluster_size`
    participants, or of sizes drawn from a gamma distribution with that mean and coefficient
    of variation `cluster_size_cv` (rounded, at least 1). A participant of cluster j has

        y_ijt = mu[arm, t] + c_j + b_i + e_ijt,  c_j ~ N(0, sd_cluster^2),

    with sd_cluster from the ICC, the cluster's share of the variance of one score:
    icc = sd_cluster^2 / (sd_cluster^2 + sd_participant^2 + sd_residual^2). The cluster effect
    is the same at every visit (no cluster-by-visit variance), as in the pipeline's model.

The analysis
    As the pipeline analyses a trial (trialeval.models, model `repeated`, no covariates):
    score ~ arm * visit + (1 | participant) by REML, + (1 | site) for a cluster plan (the
    pipeline's cluster_rct model); per intervention arm the `estimand` at the last visit
    (diff_in_change, the arm-by-visit interaction, or diff_in_means) with Satterthwaite df,
    two-sided t test at alpha. Power = share of simulated trials that reject. Cluster plans
    are fitted by a batched REML of the same model (trialeval.cluster_reml, tested against
    trialeval.mixed), with trialeval.mixed.fit_reml for the trials it cannot settle.

The fast path (`fit_trials`, individually randomized plans)
    arm * visit is saturated: one fixed mean per arm x visit cell. With H_i = I + psi 11'
    (psi = theta^2 = sd_participant^2 / sd_residual^2) and c_i = psi / (1 + n_i psi), Woodbury
    gives

        X'H^-1X = diag(cell counts) - sum_i c_i s_i s_i',   log|H| = sum_i log(1 + n_i psi),
        X'H^-1y = cell sums - sum_i c_i s_i (1'y_i),        y'H^-1y = y'y - sum_i c_i (1'y_i)^2,

    s_i the indicator of participant i's observed cells. c_i depends on i only through the
    number of visits observed, so a simulated trial reduces to counts, sums and sums of squared
    participant totals per (arm, pattern of observed visits): a few dozen numbers, collected in
    one pass. X'H^-1X is block diagonal by arm (visits x visits blocks). The profiled REML
    deviance and its first two derivatives in psi are closed-form in these numbers and are
    evaluated for a whole batch of simulated trials at once (numpy arrays over trials); a
    bracketed Newton iteration finds each trial's psi, and the Satterthwaite df use the
    analytic Hessian of the deviance in (theta, sigma), lmerTest's parameterisation, which
    trialeval.mixed evaluates numerically. A trial the fast path cannot settle is refitted with
    trialeval.mixed (method `general` in the per-simulation rows).

Reproducibility
    Simulated trial k at total size N (a cluster plan: at C clusters per arm) draws from
    SeedSequence(seed, spawn_key=(N, k)) (spawn_key=(C, k)). A chunk of simulations
    [start, stop) is therefore the same trials whatever the chunk size, and the union of the
    chunks is the same set of trials however the work is split over jobs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trialeval.errors import TrialInputError
from trialeval.power_plan import (
    CLUSTER,
    allocation,
    resolve_power,
)

__all__ = [
    "FastFit",
    "allocation",
    "benchmark",
    "benchmark_cluster",
    "chunk_bounds",
    "cluster_sizes",
    "fit_cluster_trials",
    "fit_trials",
    "general_fit",
    "plot_power",
    "resolve_power",
    "run_chunk",
    "run_summary",
    "simulate_chunk",
    "simulate_cluster_trial",
    "simulate_trial",
    "smallest_sample_sizes",
    "summarise",
    "trial_stats",
    "variance_components",
    "wilson",
]

log = logging.getLogger("trialeval.power")

Z_95 = 1.959963984540054
ESTIMANDS = ("diff_in_change", "diff_in_means")

SIM_COLUMNS = [
    "n_total",
    "clusters_per_arm",
    "sim",
    "outcome",
    "arm",
    "estimate",
    "se",
    "df",
    "p_value",
    "reject",
    "method",
    "boundary",
    "sd_participant",
    "sd_residual",
    "sd_cluster",
    "icc",
]
POWER_COLUMNS = [
    "trial",
    "outcome",
    "arm",
    "contrast",
    "estimand",
    "timepoint",
    "n_total",
    "n_arm",
    "n_control",
    "clusters_per_arm",
    "cluster_size",
    "cluster_size_cv",
    "effect",
    "icc",
    "sd_cluster",
    "sd_participant",
    "sd_residual",
    "attrition",
    "alpha",
    "n_sims",
    "n_rejected",
    "n_failed",
    "n_general",
    "n_boundary",
    "power",
    "ci_low",
    "ci_high",
    "mean_estimate",
    "mean_se",
    "median_df",
]
SUMMARY_COLUMNS = [
    "trial",
    "outcome",
    "arm",
    "contrast",
    "target_power",
    "smallest_clusters_per_arm",
    "cluster_size",
    "smallest_n_total",
    "n_arm",
    "power",
    "ci_low",
    "ci_high",
    "note",
]


def chunk_bounds(plan: dict, chunk: int) -> tuple[int, int]:
    """Simulation indices [start, stop) of one chunk."""
    if not 0 <= chunk < plan["n_chunks"]:
        raise ValueError(f"chunk {chunk} is not one of 0..{plan['n_chunks'] - 1}")
    start = chunk * plan["chunk_size"]
    return start, min(start + plan["chunk_size"], plan["n_sims"])


def variance_components(plan: dict, diagnostics_path: str | Path | None) -> dict[str, tuple]:
    """{outcome: (sd_participant, sd_residual)}, for a cluster plan (sd_participant,
    sd_residual, sd_cluster): as given, or from the itt row of the repeated-measures model in
    model_diagnostics.csv (from_fit; a cluster plan's ICC from its fitted site SD unless the
    block gives `icc`)."""
    from trialeval.io import read_csv

    cluster = plan.get("design") == CLUSTER
    table = None
    out = {}
    for outcome in plan["outcomes"]:
        if not outcome["from_fit"]:
            sds = (outcome["sd_participant"], outcome["sd_residual"])
            out[outcome["id"]] = (*sds, _sd_cluster(outcome["icc"], *sds)) if cluster else sds
            continue
        if table is None:
            if diagnostics_path is None or not Path(diagnostics_path).is_file():
                raise TrialInputError(
                    f"{diagnostics_path}: model diagnostics not found (power outcomes with "
                    f"from_fit: true read the trial's fitted model)"
                )
            table = read_csv(diagnostics_path)
        rows = table[
            (table["outcome"] == outcome["id"])
            & (table["analysis_set"] == "itt")
            & (table["analysis"] == "mixed_model")
        ]
        columns = ["sd_participant", "sd_residual"] + (["sd_site"] if cluster else [])
        values = rows[columns].to_numpy(dtype=float)
        if len(rows) != 1 or not np.all(np.isfinite(values)) or values[0, 1] <= 0:
            raise TrialInputError(
                f"{diagnostics_path}: no fitted itt mixed model for outcome {outcome['id']!r} "
                f"(power.outcomes from_fit{' with its site SD' if cluster else ''}); give "
                f"sd_participant and sd_residual instead"
            )
        sds = tuple(float(v) for v in values[0])
        if cluster and outcome["icc"] is not None:  # the planned ICC over the fitted one
            sds = (*sds[:2], _sd_cluster(outcome["icc"], *sds[:2]))
        out[outcome["id"]] = sds
    return out


def _sd_cluster(icc: float, sd_participant: float, sd_residual: float) -> float:
    """The cluster SD giving this ICC: icc = c / (c + p + e) in variances."""
    return float(np.sqrt(icc / (1.0 - icc) * (sd_participant**2 + sd_residual**2)))


def _icc_of(sd_cluster: float, sd_participant: float, sd_residual: float) -> float:
    """The cluster's share of the variance of one score."""
    cluster = sd_cluster**2
    return float(cluster / (cluster + sd_participant**2 + sd_residual**2))


# --------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------


def cell_means(plan: dict, outcome_id: str) -> np.ndarray:
    """(arms, visits) true means: 0 at baseline and in control, the effect at the last visit."""
    n_post = len(plan["visits"]) - 1
    ramp = np.arange(n_post + 1) / n_post
    return np.array([arm["effects"].get(outcome_id, 0.0) * ramp for arm in plan["arms"]])


def _missing(rng: np.random.Generator, n: int, plan: dict) -> np.ndarray:
    """(participants, visits) missing flags. One draw per participant makes dropout monotone:
    missing from the first visit whose cumulative attrition exceeds it."""
    dropout = rng.random(n)
    missing = np.zeros((n, len(plan["visits"])), bool)
    missing[:, 1:] = dropout[:, None] < np.asarray(plan["attrition"])[None, :]
    return missing


def simulate_trial(
    plan: dict, components: dict, n_total: int, sim: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulated trial `sim` at total size n_total: (arm code per participant, control = 0;
    {outcome: (participants, visits) scores with NaN where missing})."""
    sizes = allocation(n_total, [a["ratio"] for a in plan["arms"]])
    arm = np.repeat(np.arange(len(sizes)), sizes)
    n_visits = len(plan["visits"])
    rng = np.random.default_rng(np.random.SeedSequence(plan["seed"], spawn_key=(n_total, sim)))
    missing = _missing(rng, n_total, plan)
    scores = {}
    for outcome in plan["outcomes"]:
        sd_participant, sd_residual = components[outcome["id"]][:2]
        # Drawn for everyone, observed or not: missingness does not shift the random stream.
        y = (
            cell_means(plan, outcome["id"])[arm]
            + sd_participant * rng.standard_normal(n_total)[:, None]
            + sd_residual * rng.standard_normal((n_total, n_visits))
        )
        y[missing] = np.nan
        scores[outcome["id"]] = y
    return arm, scores


def cluster_sizes(rng: np.random.Generator, n_clusters: int, mean: int, cv: float) -> np.ndarray:
    """Participants per cluster: all `mean`, or (cv > 0) gamma draws with that mean and
    coefficient of variation, rounded and at least 1 (so the realised mean is a little above
    `mean` when small clusters are common)."""
    if cv == 0:
        return np.full(n_clusters, mean, dtype=np.intp)
    shape = 1.0 / cv**2
    draws = rng.gamma(shape, mean / shape, size=n_clusters)
    return np.maximum(np.rint(draws), 1).astype(np.intp)


def simulate_cluster_trial(
    plan: dict, components: dict, clusters_per_arm: int, sim: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Simulated cluster-randomized trial `sim` with clusters_per_arm clusters in every arm:
    (arm code per participant, control = 0; cluster code per participant; {outcome:
    (participants, visits) scores with NaN where missing})."""
    n_clusters = len(plan["arms"]) * clusters_per_arm
    n_visits = len(plan["visits"])
    seed = np.random.SeedSequence(plan["seed"], spawn_key=(clusters_per_arm, sim))
    rng = np.random.default_rng(seed)
    sizes = cluster_sizes(rng, n_clusters, plan["cluster_size"], plan["cluster_size_cv"])
    cluster = np.repeat(np.arange(n_clusters), sizes)
    arm = cluster // clusters_per_arm  # clusters 0..k-1 are the control arm's
    n = cluster.size
    missing = _missing(rng, n, plan)
    scores = {}
    for outcome in plan["outcomes"]:
        sd_participant, sd_residual, sd_cluster = components[outcome["id"]]
        y = (
            cell_means(plan, outcome["id"])[arm]
            + sd_cluster * rng.standard_normal(n_clusters)[cluster][:, None]
            + sd_participant * rng.standard_normal(n)[:, None]
            + sd_residual * rng.standard_normal((n, n_visits))
        )
        y[missing] = np.nan
        scores[outcome["id"]] = y
    return arm, cluster, scores


# --------------------------------------------------------------------------------------
# Fast REML for score ~ arm * visit + (1 | participant)
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Chunks, summary, figure
# --------------------------------------------------------------------------------------


def simulate_chunk(plan: dict, components: dict, size: int, start: int, stop: int) -> pd.DataFrame:
    """Simulate and analyse trials start..stop-1 at one size (the total N, or for a cluster
    plan the clusters per arm): one row per trial, outcome and intervention arm (SIM_COLUMNS)."""
    if plan.get("design") == CLUSTER:
        return _simulate_cluster_chunk(plan, components, size, start, stop)
    arm = None
    scores: dict[str, list[np.ndarray]] = {o["id"]: [] for o in plan["outcomes"]}
    for sim in range(start, stop):
        arm, trial = simulate_trial(plan, components, size, sim)
        for outcome_id, y in trial.items():
            scores[outcome_id].append(y)
    frames = []
    for outcome in plan["outcomes"]:
        fit = fit_trials(
            scores[outcome["id"]], arm, len(plan["arms"]), plan["alpha"], plan["estimand"]
        )
        method = np.where(fit.ok, "fast", "general")
        method = np.where(np.isfinite(fit.p_value[:, 0]), method, "failed")
        results = {
            "n_total": size,
            "clusters_per_arm": np.nan,
            "estimate": fit.estimate,
            "se": fit.se,
            "df": fit.df,
            "p_value": fit.p_value,
            "method": method,
            "boundary": fit.sd_participant == 0,
        }
        frames += _sim_rows(plan, components, outcome["id"], np.arange(start, stop), results)
    return pd.concat(frames, ignore_index=True)[SIM_COLUMNS]


def _simulate_cluster_chunk(
    plan: dict, components: dict, clusters_per_arm: int, start: int, stop: int
) -> pd.DataFrame:
    """A cluster plan's chunk: simulated trials fitted by the batched cluster REML
    (trialeval.cluster_reml), trials it cannot settle by trialeval.mixed.fit_reml."""
    n_arms = len(plan["arms"])
    trials = [
        simulate_cluster_trial(plan, components, clusters_per_arm, sim)
        for sim in range(start, stop)
    ]
    n_total = np.array([arm.size for arm, _, _ in trials])
    frames = []
    for outcome in plan["outcomes"]:
        data = [(scores[outcome["id"]], arm, cluster) for arm, cluster, scores in trials]
        results = fit_cluster_trials(data, n_arms, plan["alpha"], plan["estimand"])
        results.update(n_total=n_total, clusters_per_arm=clusters_per_arm)
        frames += _sim_rows(plan, components, outcome["id"], np.arange(start, stop), results)
    return pd.concat(frames, ignore_index=True)[SIM_COLUMNS]


def fit_cluster_trials(
    trials: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    n_arms: int,
    alpha: float = 0.05,
    estimand: str = "diff_in_means",
) -> dict:
    """Fit score ~ arm * visit + (1 | participant) + (1 | cluster) by REML to each trial (y
    (participants, visits) with NaN where missing, arm codes with 0 the control, cluster codes
    0..n_arms k - 1 with clusters a k..(a + 1) k - 1 in arm a) and test the estimand at the
    last visit per intervention arm: {estimate, se, df, p_value ((trials, intervention arms)),
    method (fast / general / failed), boundary (a variance estimated at 0)}."""
    from scipy import special  # here, not at the top: the DAG build imports this module

    from trialeval.cluster_reml import cluster_stats, fit_cluster_batch

    n_clusters = int(max(cluster.max() for _, _, cluster in trials)) + 1
    stats = [cluster_stats(y, arm, cluster, n_arms, n_clusters) for y, arm, cluster in trials]
    fit = fit_cluster_batch(stats, n_arms, estimand)
    est, se, df = fit["estimate"], fit["se"], fit["df"]
    method = np.where(fit["ok"], "fast", "general").astype(object)
    boundary = fit["boundary"].copy()
    for i in np.flatnonzero(~fit["ok"]):
        y, arm, cluster = trials[i]
        try:
            general = general_fit(y, arm, n_arms, alpha, estimand=estimand, cluster=cluster)
        except (ValueError, np.linalg.LinAlgError) as error:
            log.warning("simulated cluster trial %d could not be fitted: %s", i, error)
            method[i] = "failed"
            continue
        contrasts = np.array(general["contrasts"])  # (intervention arms, 4)
        est[i], se[i], df[i] = contrasts[:, 0], contrasts[:, 1], contrasts[:, 2]
        boundary[i] = general["boundary"]
    return {
        "estimate": est,
        "se": se,
        "df": df,
        "p_value": 2.0 * special.stdtr(df, -np.abs(est / se)),
        "method": method,
        "boundary": boundary,
    }


def _sim_rows(plan, components, outcome_id: str, sims: np.ndarray, results: dict) -> list:
    """Per intervention arm, the per-trial rows of one outcome (results: arrays over trials,
    (trials, intervention arms) for the contrast's numbers)."""
    sds = components[outcome_id]
    frames = []
    for j, arm in enumerate(plan["arms"][1:]):
        p_value = results["p_value"][:, j]
        frames.append(
            pd.DataFrame(
                {
                    "n_total": results["n_total"],
                    "clusters_per_arm": results["clusters_per_arm"],
                    "sim": sims,
                    "outcome": outcome_id,
                    "arm": arm["id"],
                    "estimate": results["estimate"][:, j],
                    "se": results["se"][:, j],
                    "df": results["df"][:, j],
                    "p_value": p_value,
                    "reject": p_value < plan["alpha"],
                    "method": results["method"],
                    "boundary": results["boundary"],
                    "sd_participant": sds[0],
                    "sd_residual": sds[1],
                    "sd_cluster": sds[2] if len(sds) > 2 else np.nan,
                    "icc": _icc_of(sds[2], *sds[:2]) if len(sds) > 2 else np.nan,
                }
            )
        )
    return frames


def wilson(successes, n, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (default 95%)."""
    successes, n = np.asarray(successes, float), np.asarray(n, float)
    phat = successes / n
    denom = 1.0 + z**2 / n
    centre = (phat + z**2 / (2.0 * n)) / denom
    half = z * np.sqrt(phat * (1.0 - phat) / n + z**2 / (4.0 * n**2)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def _scanned(plan: dict) -> tuple[str, list[int]]:
    """The per-trial column that holds the size scanned, and its values."""
    if plan.get("design") == CLUSTER:
        return "clusters_per_arm", plan["clusters_per_arm"]
    return "n_total", plan["sample_sizes"]


def _design_point(plan: dict, size: int) -> dict:
    """A size's participant counts (a cluster plan: expected, clusters x cluster size) and
    cluster columns."""
    arms = [a["id"] for a in plan["arms"]]
    if plan.get("design") == CLUSTER:
        per_arm = size * plan["cluster_size"]
        return {
            "n_total": per_arm * len(arms),
            "n_arm": dict.fromkeys(arms, per_arm),
            "clusters_per_arm": size,
            "cluster_size": plan["cluster_size"],
            "cluster_size_cv": plan["cluster_size_cv"],
        }
    sizes = allocation(size, [a["ratio"] for a in plan["arms"]])
    return {
        "n_total": size,
        "n_arm": dict(zip(arms, sizes, strict=True)),
        "clusters_per_arm": np.nan,
        "cluster_size": np.nan,
        "cluster_size_cv": np.nan,
    }


def summarise(sims: pd.DataFrame, plan: dict, trial_id: str) -> pd.DataFrame:
    """Power per size (total N, or clusters per arm), outcome and intervention arm
    (POWER_COLUMNS) from per-trial rows.

    Trials are taken in simulation order, so the result does not depend on the chunking.
    A fit that failed counts as not rejecting (n_failed says how many).
    """
    control = plan["control_arm"]
    column, scanned = _scanned(plan)
    expected = np.arange(plan["n_sims"])
    rows = []
    for size in scanned:
        point = _design_point(plan, size)
        for outcome in plan["outcomes"]:
            for arm in plan["arms"][1:]:
                part = sims[
                    (sims[column] == size)
                    & (sims["outcome"] == outcome["id"])
                    & (sims["arm"] == arm["id"])
                ].sort_values("sim")
                if not np.array_equal(part["sim"].to_numpy(), expected):
                    raise ValueError(
                        f"power: simulations for {column} {size}, {outcome['id']}, {arm['id']} "
                        f"are not exactly 0..{plan['n_sims'] - 1} (found {len(part)} rows); "
                        f"chunk files do not match the power block"
                    )
                rejected = int(part["reject"].astype(bool).sum())
                lo, hi = wilson(rejected, plan["n_sims"])
                fitted = part[part["method"] != "failed"]
                columns = ["sd_participant", "sd_residual", "sd_cluster", "icc"]
                sds = part[columns].iloc[0].astype(float)
                rows.append(
                    {
                        "trial": trial_id,
                        "outcome": outcome["id"],
                        "arm": arm["id"],
                        "contrast": f"{arm['id']} - {control}",
                        "estimand": plan["estimand"],
                        "timepoint": plan["visits"][-1],
                        **point,
                        "n_arm": point["n_arm"][arm["id"]],
                        "n_control": point["n_arm"][control],
                        "effect": arm["effects"][outcome["id"]],
                        "icc": sds["icc"],
                        "sd_cluster": sds["sd_cluster"],
                        "sd_participant": sds["sd_participant"],
                        "sd_residual": sds["sd_residual"],
                        "attrition": plan["attrition"][-1],
                        "alpha": plan["alpha"],
                        "n_sims": plan["n_sims"],
                        "n_rejected": rejected,
                        "n_failed": int((part["method"] == "failed").sum()),
                        "n_general": int((part["method"] == "general").sum()),
                        "n_boundary": int(fitted["boundary"].astype(bool).sum()),
                        "power": rejected / plan["n_sims"],
                        "ci_low": float(lo),
                        "ci_high": float(hi),
                        "mean_estimate": float(np.mean(fitted["estimate"].to_numpy())),
                        "mean_se": float(np.mean(fitted["se"].to_numpy())),
                        "median_df": float(np.median(fitted["df"].to_numpy())),
                    }
                )
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def smallest_sample_sizes(power: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """Per outcome and arm, the smallest size (total N, or clusters per arm) reaching the
    target power (point estimate) at it and at every larger size tried, so a Monte Carlo dip
    above it does not count as reached (SUMMARY_COLUMNS)."""
    target = plan["target_power"]
    column, _ = _scanned(plan)
    cluster = plan.get("design") == CLUSTER
    rows = []
    for outcome in plan["outcomes"]:
        for arm in plan["arms"][1:]:
            part = power[(power["outcome"] == outcome["id"]) & (power["arm"] == arm["id"])]
            part = part.sort_values(column)
            reached = (part["power"] >= target).to_numpy()
            tail = np.flip(np.logical_and.accumulate(np.flip(reached)))
            base = {
                "trial": part["trial"].iloc[0],
                "outcome": outcome["id"],
                "arm": arm["id"],
                "contrast": part["contrast"].iloc[0],
                "target_power": target,
                "cluster_size": plan["cluster_size"] if cluster else pd.NA,
            }
            if tail.any():
                row = part.iloc[int(np.argmax(tail))]
                note = ""
                if row["ci_low"] < target:
                    note = "target inside the Monte Carlo 95% CI; more simulations would tell"
                rows.append(
                    {
                        **base,
                        "smallest_clusters_per_arm": int(row[column]) if cluster else pd.NA,
                        "smallest_n_total": int(row["n_total"]),
                        "n_arm": int(row["n_arm"]),
                        "power": row["power"],
                        "ci_low": row["ci_low"],
                        "ci_high": row["ci_high"],
                        "note": note,
                    }
                )
            else:
                largest = part.iloc[-1]
                what = (
                    f"{int(largest[column])} clusters per arm"
                    if cluster
                    else f"N = {int(largest['n_total'])}"
                )
                rows.append(
                    {
                        **base,
                        "smallest_clusters_per_arm": pd.NA,
                        "smallest_n_total": pd.NA,
                        "n_arm": pd.NA,
                        "power": largest["power"],
                        "ci_low": largest["ci_low"],
                        "ci_high": largest["ci_high"],
                        "note": (
                            f"not reached at the sizes tried (power {largest['power']:.3f} at "
                            f"the largest, {what})"
                        ),
                    }
                )
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for name in ("smallest_clusters_per_arm", "cluster_size", "smallest_n_total", "n_arm"):
        frame[name] = frame[name].astype("Int64")
    return frame


FONT_SIZE = 7.5
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # bundled with matplotlib: same glyphs everywhere
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "legend.fontsize": 7.0,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.0,
    "savefig.dpi": 300,
    "savefig.facecolor": "white",
    # Text as paths and a fixed hash salt: SVG bytes repeat across runs and machines.
    "svg.fonttype": "path",
    "svg.hashsalt": "trialeval-power",
}


def plot_power(power: pd.DataFrame, summary: pd.DataFrame, plan: dict, title: str = ""):
    """Power curves: one panel per outcome, power against total N (a cluster plan: clusters per
    arm) per intervention arm with Wilson 95% CIs, the target as a dashed line and the smallest
    size reaching it in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outcomes = plan["outcomes"]
    with matplotlib.rc_context(STYLE):
        width = 3.5 if len(outcomes) == 1 else 7.2
        fig, axes = plt.subplots(
            1, len(outcomes), figsize=(width, 3.0), sharey=True, squeeze=False, layout="constrained"
        )
        column, sizes = _scanned(plan)
        cluster = plan.get("design") == CLUSTER
        arms = plan["arms"][1:]
        # Dodge arms a little so their intervals do not hide each other.
        span = (sizes[-1] - sizes[0]) or sizes[0]
        offsets = (np.arange(len(arms)) - (len(arms) - 1) / 2) * 0.008 * span
        for ax, outcome in zip(axes[0], outcomes, strict=True):
            ax.axhline(plan["target_power"], color="0.35", linestyle="--", linewidth=0.8)
            ax.axhline(plan["alpha"], color="0.6", linestyle=":", linewidth=0.8)
            for j, arm in enumerate(arms):
                part = power[
                    (power["outcome"] == outcome["id"]) & (power["arm"] == arm["id"])
                ].sort_values(column)
                x = part[column].to_numpy(float) + offsets[j]
                y = part["power"].to_numpy()
                smallest = summary[
                    (summary["outcome"] == outcome["id"]) & (summary["arm"] == arm["id"])
                ]["smallest_clusters_per_arm" if cluster else "smallest_n_total"].iloc[0]
                unit = "k" if cluster else "N"
                reached = f"{unit} = {int(smallest)}" if pd.notna(smallest) else "not reached"
                ax.errorbar(
                    x,
                    y,
                    yerr=[y - part["ci_low"].to_numpy(), part["ci_high"].to_numpy() - y],
                    color=arm["colour"],
                    marker=arm["marker"],
                    markersize=4,
                    capsize=2,
                    elinewidth=0.8,
                    label=f"{arm['label']} ({reached})",
                )
            ax.set_title(_panel_title(outcome, power))
            ax.set_xticks(sizes)
            ax.tick_params(axis="x", labelrotation=45 if len(sizes) > 6 else 0)
            ax.set_xlabel("Clusters per arm (k)" if cluster else "Total sample size (all arms)")
            ax.set_ylim(0, 1.02)
            ax.set_yticks(np.linspace(0, 1, 6))
            ax.grid(axis="y", color="0.9", linewidth=0.5)
            ax.legend(
                title=(
                    f"Arm vs control (smallest {'k' if cluster else 'N'} for "
                    f"{plan['target_power']:.0%} power)"
                ),
                title_fontsize=7.0,
                # above the alpha line, below curves that have passed the target
                loc="lower right",
                bbox_to_anchor=(1.0, 0.08),
                frameon=False,
            )
        axes[0][0].set_ylabel("Power")
        # At the right end, where power curves have usually passed the target already.
        axes[0][0].annotate(
            f"target {plan['target_power']:.0%}",
            (sizes[-1], plan["target_power"]),
            xytext=(0, 2.5),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=7.0,
            color="0.35",
        )
        axes[0][0].annotate(
            f"\u03b1 = {plan['alpha']:g}",
            (sizes[0], plan["alpha"]),
            xytext=(0, 2.5),
            textcoords="offset points",
            va="bottom",
            fontsize=7.0,
            color="0.45",
        )
        if title:
            fig.suptitle(title, fontsize=FONT_SIZE)
    return fig


def save_figure(fig, stem: str | Path) -> None:
    """stem.png (300 dpi) and stem.svg, written atomically, bytes free of dates and versions."""
    import matplotlib
    import matplotlib.pyplot as plt

    from trialeval.io import atomic_path

    with matplotlib.rc_context(STYLE):
        with atomic_path(f"{stem}.png") as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
        with atomic_path(f"{stem}.svg") as tmp:
            fig.savefig(tmp, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def _cluster_words(plan: dict) -> str:
    """The planned clusters' size in words, e.g. 'clusters of 20 participants (mean, CV 0.4)'."""
    words = f"clusters of {plan['cluster_size']} participants"
    if plan["cluster_size_cv"]:
        words += f" (mean, CV {plan['cluster_size_cv']:g})"
    return words


def _panel_title(outcome: dict, power: pd.DataFrame) -> str:
    """The outcome's label, with its ICC in a cluster plan."""
    icc = power.loc[power["outcome"] == outcome["id"], "icc"]
    if icc.empty or icc.isna().all():
        return outcome["label"]
    return f"{outcome['label']} (ICC {float(icc.iloc[0]):.3g})"


def _figure_title(plan: dict) -> str:
    attrition = plan["attrition"][-1]
    last, first = plan["visits"][-1], plan["visits"][0]
    if plan["estimand"] == "diff_in_means":
        what = f"Difference in means at {last}"
    else:
        what = f"Difference in change, {last} vs {first}"
    missing = f"{attrition:.0%} missing at the last visit"
    if plan.get("design") == CLUSTER:  # three short lines: the figure may be one panel wide
        return (
            f"{what}, two-sided \u03b1 = {plan['alpha']:g},\n"
            f"randomized in {_cluster_words(plan)},\n"
            f"{missing}, {plan['n_sims']:,} simulated trials per k"
        )
    return (
        f"{what}: two-sided \u03b1 = {plan['alpha']:g}, {missing}, "
        f"{plan['n_sims']:,} simulated trials per N"
    )


# --------------------------------------------------------------------------------------
# Rule entries
# --------------------------------------------------------------------------------------


def run_chunk(
    plan: dict,
    *,
    point: str,
    chunk: int,
    diagnostics_path: str | None,
    out: str,
) -> None:
    """Rule power_chunk: simulate and analyse one chunk of trials at one size, `point` as in
    the chunk file's name (n<total N>, or k<clusters per arm> for a cluster plan)."""
    from trialeval.io import write_csv

    if point not in plan["points"]:
        raise ValueError(f"{point!r} is not one of the power block's sizes {plan['points']}")
    size = int(point[1:])
    start, stop = chunk_bounds(plan, chunk)
    components = variance_components(plan, diagnostics_path)
    for outcome, sds in components.items():
        cluster = ""
        if len(sds) > 2:
            cluster = f", sd_cluster {sds[2]:.4g} (ICC {_icc_of(sds[2], sds[0], sds[1]):.4g})"
        log.info("%s: sd_participant %.4g, sd_residual %.4g%s", outcome, *sds[:2], cluster)
    began = time.perf_counter()
    sims = simulate_chunk(plan, components, size, start, stop)
    seconds = time.perf_counter() - began
    fits = (stop - start) * len(plan["outcomes"])
    log.info(
        "%s = %d, simulations %d..%d: %d trial fits in %.2f s (%.1f per second, simulation "
        "included); %d fitted with the general engine, %d failed",
        "clusters per arm" if plan.get("design") == CLUSTER else "N",
        size,
        start,
        stop - 1,
        fits,
        seconds,
        fits / max(seconds, 1e-9),
        int((sims["method"] == "general").sum()),
        int((sims["method"] == "failed").sum()),
    )
    write_csv(sims, out)


def run_summary(
    plan: dict,
    trial_id: str,
    *,
    chunk_paths: list[str],
    power_out: str,
    summary_out: str,
    figure_stem: str,
) -> None:
    """Rule power_summary: power table, smallest N per arm and outcome, power-curve figure."""
    from trialeval.io import read_csv, write_csv

    sims = pd.concat([read_csv(path) for path in chunk_paths], ignore_index=True)
    power = summarise(sims, plan, trial_id)
    summary = smallest_sample_sizes(power, plan)
    write_csv(power, power_out)
    write_csv(summary, summary_out)
    cluster = plan.get("design") == CLUSTER
    for row in summary.itertuples():
        if pd.notna(row.smallest_n_total):
            log.info(
                "%s, %s: smallest %s with power >= %.2f is %d (%d participants per arm), power "
                "%.3f (95%% CI %.3f to %.3f)%s",
                row.outcome,
                row.contrast,
                f"number of clusters per arm ({_cluster_words(plan)})" if cluster else "total N",
                row.target_power,
                row.smallest_clusters_per_arm if cluster else row.smallest_n_total,
                row.n_arm,
                row.power,
                row.ci_low,
                row.ci_high,
                f"; {row.note}" if row.note else "",
            )
        else:
            log.info("%s, %s: %s", row.outcome, row.contrast, row.note)
    save_figure(plot_power(power, summary, plan, _figure_title(plan)), figure_stem)


# --------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------


def benchmark(
    n_participants: int = 390,
    n_sims: int = 1000,
    n_general: int = 30,
    attrition: float = 0.25,
    seed: int = 20261124,
) -> dict:
    """Simulated-trial fits per second: the fast path (statistics + fit, and with the
    simulation included) against fit_reml + contrast on the same trials (2 arms, 2 visits).

    For a per-core figure run with one BLAS thread (OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    python -m trialeval.power): on a busy machine a multi-threaded BLAS slows the general
    engine's many small linear-algebra calls several-fold and makes the ratio erratic.
    """
    plan = {
        "arms": [
            {"id": "control", "ratio": 1.0, "effects": {}},
            {"id": "treated", "ratio": 1.0, "effects": {"y": 0.3}},
        ],
        "visits": ["baseline", "post"],
        "attrition": [attrition],
        "outcomes": [{"id": "y"}],
        "seed": seed,
    }
    components = {"y": (0.43, 0.37)}
    began = time.perf_counter()
    trials = [simulate_trial(plan, components, n_participants, k) for k in range(n_sims)]
    simulate_s = time.perf_counter() - began
    arm = trials[0][0]
    ys = [scores["y"] for _, scores in trials]
    # Untimed warm-up: first calls import scipy.optimize and fill numpy caches.
    fit_trials(ys[:2], arm, 2)
    general_fit(ys[0], arm, 2)
    began = time.perf_counter()
    fast = fit_trials(ys, arm, 2)
    fast_s = time.perf_counter() - began
    began = time.perf_counter()
    general = [general_fit(y, arm, 2) for y in ys[:n_general]]
    general_s = time.perf_counter() - began
    worst = max(
        abs(g["contrasts"][0][2] - fast.df[i, 0]) / g["contrasts"][0][2]
        for i, g in enumerate(general)
    )
    result = {
        "n_participants": n_participants,
        "fast_fits_per_s": n_sims / fast_s,
        "fast_with_simulation_per_s": n_sims / (fast_s + simulate_s),
        "general_fits_per_s": n_general / general_s,
        "speedup": (n_sims / fast_s) / (n_general / general_s),
        "max_rel_df_difference": worst,
    }
    print(
        f"{n_participants} participants x 2 visits, {attrition:.0%} attrition: fast path "
        f"{result['fast_fits_per_s']:,.0f} fits/s ({result['fast_with_simulation_per_s']:,.0f}/s "
        f"with simulation), fit_reml + contrast {result['general_fits_per_s']:,.1f} fits/s: "
        f"{result['speedup']:,.0f}x (max relative df difference {worst:.1e})"
    )
    return result


def benchmark_cluster(
    clusters_per_arm: int = 10,
    cluster_size: int = 20,
    n_sims: int = 500,
    n_general: int = 20,
    seed: int = 20261201,
) -> dict:
    """Simulated cluster-trial fits per second (2 arms, 2 visits, cluster sizes with CV 0.4,
    20% attrition, ICC 0.05): the batched cluster REML (simulation included) against
    trialeval.mixed.fit_reml + contrast on the same trials."""
    plan = {
        "design": CLUSTER,
        "arms": [
            {"id": "control", "ratio": 1.0, "effects": {}},
            {"id": "treated", "ratio": 1.0, "effects": {"y": 0.3}},
        ],
        "visits": ["baseline", "post"],
        "attrition": [0.2],
        "outcomes": [{"id": "y", "from_fit": False, "sd_participant": 1.0, "sd_residual": 1.0}],
        "estimand": "diff_in_means",
        "alpha": 0.05,
        "cluster_size": cluster_size,
        "cluster_size_cv": 0.4,
        "seed": seed,
    }
    components = {"y": (1.0, 1.0, _sd_cluster(0.05, 1.0, 1.0))}
    # Untimed warm-up: first calls import scipy and fill numpy caches.
    _simulate_cluster_chunk(plan, components, clusters_per_arm, 0, 2)
    began = time.perf_counter()
    sims = _simulate_cluster_chunk(plan, components, clusters_per_arm, 0, n_sims)
    fast_s = time.perf_counter() - began
    trials = [
        simulate_cluster_trial(plan, components, clusters_per_arm, k) for k in range(n_general)
    ]
    began = time.perf_counter()
    general = [
        general_fit(scores["y"], arm, 2, estimand="diff_in_means", cluster=cluster)
        for arm, cluster, scores in trials
    ]
    general_s = time.perf_counter() - began
    worst = max(
        abs(g["contrasts"][0][2] - df) / g["contrasts"][0][2]
        for g, df in zip(general, sims["df"], strict=False)
    )
    result = {
        "fast_with_simulation_per_s": n_sims / fast_s,
        "general_fits_per_s": n_general / general_s,
        "speedup": (n_sims / fast_s) / (n_general / general_s),
        "max_rel_df_difference": worst,
        "n_general_fallback": int((sims["method"] == "general").sum()),
    }
    print(
        f"cluster plan, {clusters_per_arm} clusters per arm of {cluster_size} (CV 0.4) x 2 "
        f"visits: batched cluster REML {result['fast_with_simulation_per_s']:,.0f} trials/s "
        f"with simulation, fit_reml + contrast {result['general_fits_per_s']:,.1f} fits/s: "
        f"{result['speedup']:,.0f}x (max relative df difference {worst:.1e}; "
        f"{result['n_general_fallback']} of {n_sims} left to the general engine)"
    )
    return result


if __name__ == "__main__":
    benchmark()
    benchmark_cluster()
