"""Batched REML for the cluster-randomized model: the fast path of cluster power plans.

Model (the pipeline's cluster_rct model, trialeval.models; clusters are its sites):

    score ~ arm * visit + (1 | participant) + (1 | cluster),   participants nested in clusters,
    clusters nested in arms,

fitted by REML to many simulated trials at once, with the Satterthwaite df of one contrast per
intervention arm at the last visit. trialeval.mixed fits the same model one trial at a time
(about 20 trials per second per core, most of it per-call overhead of ~60 likelihood
evaluations); here every evaluation covers a whole batch of trials in a few numpy calls, about
40x faster (measured by `python -m trialeval.power`, which also reports the largest df
difference between the two).

The algebra
    arm * visit is saturated (one mean per arm x visit cell). With a = psi_participant and
    b = psi_cluster (variances relative to the residual's), participant i with n_i observed
    visits has D_i = I + a 11', D_i^-1 1 = r_i 1 with r_i = 1 / (1 + n_i a), and cluster j
    adds b 11' over its rows: H_j^-1 = D^-1 - g_j (D^-1 1)(D^-1 1)', g_j = b / (1 + b W_j),
    W_j = sum_i n_i r_i (Woodbury twice). Everything then depends on a participant only
    through its pattern of observed visits, so a trial reduces to counts, sums and sums of
    squares of participant totals per (cluster, pattern):

        X'H^-1X = diag(cell counts) - sum_i a r_i s_i s_i' - sum_j g_j v_j v_j',
        X'H^-1y = cell sums - sum_i a r_i s_i t_i - sum_j g_j z_j v_j,
        y'H^-1y = y'y - sum_i a r_i t_i^2 - sum_j g_j z_j^2,
        log|H| = sum_i log(1 + n_i a) + sum_j log(1 + b W_j),

    s_i the indicator of i's observed cells, t_i its total, v_j = sum_i r_i s_i and
    z_j = sum_i r_i t_i. X'H^-1X is block diagonal by arm. The first derivatives in (a, b)
    follow by the product rule (`_Batch.at`).

Fitting
    Projected Newton on the profiled REML deviance in (a, b) >= 0 with the analytic gradient
    and a forward-difference Hessian, a backtracking line search, batched over trials. The
    Satterthwaite df then follow trialeval.mixed step by step: the gradient of the deviance in
    lmerTest's parameters (theta_participant, theta_cluster, sigma) is analytic, its Hessian a
    central difference with one Richardson step (same steps), a component estimated at 0 is
    left out. A trial this cannot settle (no convergence, a variance ratio within the engine's
    snapping distance of 0, a lower deviance with a variance at 0, a Hessian that is not
    positive definite) is flagged for the general engine.

Determinism
    A trial's numbers must not depend on the other trials of its batch (results repeat
    however the simulations are chunked). numpy can order a reduction differently when an axis
    has length 1, so a single trial is evaluated as a pair of itself (`_one_as_pair`).
"""

from __future__ import annotations

import numpy as np

from trialeval.power.fast_fit import PatternStats, pattern_stats

__all__ = ["ClusterStats", "cluster_stats", "fit_cluster_batch"]

# trialeval.mixed sets a variance ratio theta below this to 0 when that is no worse; trials
# with an estimate that close to 0 go to the engine, which makes that call.
_SNAP_THETA = 1e-4
_MAX_NEWTON = 100


# A cluster-randomized trial's statistics: participants summed per cluster (and pattern of
# observed visits), in the form the individually randomized power engine sums per arm.
ClusterStats = PatternStats


def cluster_stats(
    y: np.ndarray, arm: np.ndarray, cluster: np.ndarray, n_arms: int, n_clusters: int
) -> ClusterStats:
    """Collect one trial's statistics: y (participants, visits) with NaN where missing, arm
    codes 0..n_arms-1 (0 = control), cluster codes 0..n_clusters-1 with clusters
    a k .. (a + 1) k - 1 in arm a (k = n_clusters / n_arms)."""
    return pattern_stats(y, arm, n_arms, cluster, n_clusters)


class _Batch:
    """Stacked statistics of many trials (same arms, clusters per arm and visits) and the REML
    pieces as functions of psi = (a, b)."""

    def __init__(self, stats: list[ClusterStats], n_arms: int):
        self.counts = np.stack([s.counts for s in stats])  # (S, C, P)
        self.tsum = np.stack([s.tsum for s in stats])
        self.qsum = np.stack([s.qsum for s in stats]).sum(axis=1)  # (S, P)
        self.ysum = np.stack([s.ysum for s in stats])  # (S, A, T)
        self.yy = np.array([s.yy for s in stats])
        self.centre = np.stack([s.centre for s in stats])
        cell_n = np.stack([s.cell_n for s in stats])
        self.size, self.n_arms, self.n_visits = cell_n.shape
        self.n_clusters = self.counts.shape[1]
        self.per_arm = self.n_clusters // n_arms
        t = self.n_visits
        p = np.arange(1 << t)
        self.pattern = ((p[:, None] >> np.arange(t)) & 1).astype(float)  # (P, T)
        self.n_pat = self.pattern.sum(axis=1)
        self.outer = self.pattern[:, :, None] * self.pattern[:, None, :]  # (P, T, T)
        self.diag = cell_n[..., None] * np.eye(t)  # (S, A, T, T)
        # per arm and pattern: participants and their totals
        shape = (self.size, n_arms, self.per_arm, -1)
        self.arm_counts = self.counts.reshape(shape).sum(axis=2)  # (S, A, P)
        self.arm_tsum = self.tsum.reshape(shape).sum(axis=2)
        self.pat_counts = self.counts.sum(axis=1)  # (S, P)
        self.n_obs = cell_n.sum(axis=(1, 2))
        self.dof = self.n_obs - n_arms * t
        # Identifiable: every cell observed, residual df left, some participant observed
        # twice and some cluster with two participants.
        repeated = (self.pat_counts * (self.n_pat >= 2)).sum(axis=1) > 0
        shared = (self.counts.sum(axis=2) >= 2).any(axis=1)
        self.valid = np.all(cell_n > 0, axis=(1, 2)) & (self.dof > 0) & repeated & shared

    def _by_arm(self, values: np.ndarray) -> np.ndarray:
        """(s, C, ...) per cluster -> (s, A, k, ...) clusters grouped by arm."""
        return values.reshape(values.shape[0], self.n_arms, self.per_arm, *values.shape[2:])

    def at(self, psi: np.ndarray, idx: np.ndarray, gradient: bool = True) -> dict:
        """Profiled REML deviance (without the constant log|R'R|) and, with `gradient`, the
        derivatives of log|H|, log|M| and rss in (a, b) for trials idx; psi is (s, 2)."""
        return _one_as_pair(lambda p, i: self._at(p, i, gradient), psi, idx)

    def _at(self, psi: np.ndarray, idx: np.ndarray, gradient: bool) -> dict:
        a, b = psi[:, :1], psi[:, 1:]  # (s, 1)
        counts, tsum = self.counts[idx], self.tsum[idx]
        r = 1.0 / (1.0 + self.n_pat * a)  # (s, P)
        c = a * r
        big_w = np.einsum("scp,sp->sc", counts, self.n_pat * r)  # W_j
        v = np.einsum("scp,sp,pt->sct", counts, r, self.pattern)  # (s, C, T)
        z = np.einsum("scp,sp->sc", tsum, r)
        g = b / (1.0 + b * big_w)  # (s, C)
        vk, zk, gk = self._by_arm(v), self._by_arm(z), self._by_arm(g)
        m = (
            self.diag[idx]
            - np.einsum("sap,pij->saij", self.arm_counts[idx] * c[:, None, :], self.outer)
            - np.einsum("sak,saki,sakj->saij", gk, vk, vk)
        )
        u = (
            self.ysum[idx]
            - (self.arm_tsum[idx] * c[:, None, :]) @ self.pattern
            - np.einsum("sak,saki->sai", gk * zk, vk)
        )
        q = self.yy[idx] - np.sum(self.qsum[idx] * c, axis=1) - np.sum(g * z * z, axis=1)
        m_inv = np.linalg.inv(m)
        beta = np.einsum("saij,saj->sai", m_inv, u)
        rss = q - np.sum(u * beta, axis=(1, 2))
        dof = self.dof[idx]
        logdet_h = np.sum(self.pat_counts[idx] * np.log1p(self.n_pat * a), axis=1) + np.sum(
            np.log1p(b * big_w), axis=1
        )
        _, logdet_m = np.linalg.slogdet(m)
        out = {
            "m_inv": m_inv,
            "beta": beta,
            "rss": rss,
            "dev": logdet_h + logdet_m.sum(axis=1) + dof * (1.0 + np.log(2.0 * np.pi * rss / dof)),
        }
        if not gradient:
            return out
        # d/da: r' = -n r^2, c' = r^2, (n r)' = -n^2 r^2, g' = -g^2 W'; d/db: g' = 1 / (1 + bW)^2
        dr = -self.n_pat * r * r
        dc = r * r
        dw = np.einsum("scp,sp->sc", counts, self.n_pat * dr)
        dv = np.einsum("scp,sp,pt->sct", counts, dr, self.pattern)
        dz = np.einsum("scp,sp->sc", tsum, dr)
        dga = -g * g * dw
        dgb = 1.0 / (1.0 + b * big_w) ** 2
        dvk, dzk, dgak, dgbk = (
            self._by_arm(dv),
            self._by_arm(dz),
            self._by_arm(dga),
            self._by_arm(dgb),
        )
        dm_a = (
            -np.einsum("sap,pij->saij", self.arm_counts[idx] * dc[:, None, :], self.outer)
            - np.einsum("sak,saki,sakj->saij", dgak, vk, vk)
            - np.einsum("sak,saki,sakj->saij", gk, dvk, vk)
            - np.einsum("sak,saki,sakj->saij", gk, vk, dvk)
        )
        du_a = (
            -(self.arm_tsum[idx] * dc[:, None, :]) @ self.pattern
            - np.einsum("sak,saki->sai", dgak * zk + gk * dzk, vk)
            - np.einsum("sak,saki->sai", gk * zk, dvk)
        )
        dq_a = (
            -np.sum(self.qsum[idx] * dc, axis=1)
            - np.sum(dga * z * z, axis=1)
            - 2.0 * np.sum(g * z * dz, axis=1)
        )
        dm_b = -np.einsum("sak,saki,sakj->saij", dgbk, vk, vk)
        du_b = -np.einsum("sak,saki->sai", dgbk * zk, vk)
        dq_b = -np.sum(dgb * z * z, axis=1)
        dlogh = np.stack(
            [
                np.sum(self.pat_counts[idx] * self.n_pat * r, axis=1) + np.sum(g * dw, axis=1),
                np.sum(big_w / (1.0 + b * big_w), axis=1),
            ],
            axis=1,
        )
        dms = (dm_a, dm_b)
        dlogm = np.stack(
            [np.einsum("saij,saji->s", m_inv, dm) for dm in dms], axis=1
        )  # tr(M^-1 dM), summed over arms
        # envelope: d rss = dq - 2 beta'du + beta'dM beta
        drss = np.stack(
            [
                dq
                - 2.0 * np.sum(beta * du, axis=(1, 2))
                + np.einsum("sai,saij,saj->s", beta, dm, beta)
                for dq, du, dm in ((dq_a, du_a, dm_a), (dq_b, du_b, dm_b))
            ],
            axis=1,
        )
        out.update(dm=np.stack(dms, axis=1), dlogh=dlogh, dlogm=dlogm, drss=drss)
        out["grad"] = dlogh + dlogm + dof[:, None] * drss / rss[:, None]
        return out


def _one_as_pair(evaluate, values: np.ndarray, idx: np.ndarray) -> dict:
    """evaluate(values, idx), a single trial evaluated as a pair (twice itself) and cut back:
    numpy can order a reduction differently when an axis has length 1, and a trial's numbers
    must not depend on what else is in its batch (results repeat however a run is chunked)."""
    if idx.size != 1:
        return evaluate(values, idx)
    out = evaluate(np.repeat(values, 2, axis=0), np.repeat(idx, 2))
    return {key: value[:1] for key, value in out.items()}


def _hessian(batch: _Batch, psi: np.ndarray, idx: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Forward-difference Hessian of the profiled deviance in psi (for Newton directions only:
    the solution is set by the analytic gradient)."""
    cols = []
    for k in range(2):
        step = 1e-6 * np.maximum(psi[:, k], 1e-4)
        moved = psi.copy()
        moved[:, k] += step
        cols.append((batch.at(moved, idx)["grad"] - grad) / step[:, None])
    hess = np.stack(cols, axis=2)
    return 0.5 * (hess + np.swapaxes(hess, 1, 2))


def _newton_step(batch: _Batch, x: np.ndarray, g: np.ndarray, idx: np.ndarray):
    """Projected Newton direction on the free coordinates (those off the bound, or on it with
    a slope pointing inward), and whether the Hessian there is positive definite."""
    free = (x > 0) | (g < 0)
    hess = _hessian(batch, x, idx, g)
    h = np.where(free[:, :, None] & free[:, None, :], hess, 0.0)
    diag = np.where(free, h[:, [0, 1], [0, 1]], 1.0)
    h[:, [0, 1], [0, 1]] = diag
    gf = np.where(free, g, 0.0)
    positive = (h[:, 0, 0] > 0) & (h[:, 0, 0] * h[:, 1, 1] - h[:, 0, 1] ** 2 > 0)
    safe = np.where(positive[:, None, None], h, np.eye(2))
    newton = -np.linalg.solve(safe, gf[..., None])[..., 0]
    # not positive definite: a gradient step moving psi by at most its size (or 0.1)
    scale = np.maximum(x, 0.1) / np.maximum(np.abs(gf), 1e-300)
    limit = np.min(np.where(free, scale, np.inf), axis=1, keepdims=True)
    fallback = -gf * np.where(np.isfinite(limit), limit, 0.0)
    return np.where(positive[:, None], newton, fallback), positive


def _converged(x: np.ndarray, g: np.ndarray, tol: float) -> np.ndarray:
    """Slopes in log theta (as trialeval.mixed tests them) within tol off the bound; on it,
    the slope must not point inward."""
    interior = np.where(x > 0, np.abs(2.0 * x * g) <= tol, True)
    bound = np.where(x == 0, g >= -tol, True)
    return np.all(interior & bound, axis=1)


def _solve_psi(batch: _Batch, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """REML psi = (a, b) >= 0 of trials idx by projected Newton with backtracking.
    Returns (psi, settled)."""
    s = idx.size
    psi = np.tile([1.0, 0.1], (s, 1))
    settled = np.zeros(s, bool)
    active = np.arange(s)
    ev = batch.at(psi, idx)
    dev, grad = ev["dev"], ev["grad"]
    for _ in range(_MAX_NEWTON):
        if active.size == 0:
            break
        x, g = psi[active], grad[active]
        step, positive = _newton_step(batch, x, g, idx[active])
        # done: slopes ~ 0, or a Newton step too small to change psi
        tiny = positive & np.all(np.abs(step) <= 1e-9 * np.maximum(x, 1e-8), axis=1)
        done = _converged(x, g, 1e-9) | (tiny & _converged(x, g, 1e-6))
        settled[active[done]] = True
        keep = ~done
        active, x, step = active[keep], x[keep], step[keep]
        base = dev[active]
        t = np.ones(active.size)
        accepted = np.zeros(active.size, bool)
        for _ in range(30):
            trying = np.flatnonzero(~accepted)
            if trying.size == 0:
                break
            cand = np.maximum(x[trying] + t[trying, None] * step[trying], 0.0)
            new = batch.at(cand, idx[active[trying]], gradient=False)["dev"]
            # within rounding of the deviance counts as no worse: near the minimum the
            # decrease a Newton step brings is below it
            better = new <= base[trying] + 1e-12 * np.abs(base[trying])
            accepted[trying[better]] = True
            psi[active[trying[better]]] = cand[better]
            t[trying[~better]] *= 0.5
        # No decrease along the step: at the minimum up to rounding, if the slopes agree.
        stuck = active[~accepted]
        if stuck.size:
            settled[stuck[_converged(psi[stuck], grad[stuck], 1e-6)]] = True
        active = active[accepted]
        if active.size:
            ev = batch.at(psi[active], idx[active])
            dev[active], grad[active] = ev["dev"], ev["grad"]
    return psi, settled


def _deviance_gradient(batch: _Batch, phi: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Gradient of the REML deviance f(theta_p, theta_c, sigma) = log|H| + log|M| +
    rss / sigma^2 + dof log(2 pi sigma^2) (beta profiled), lmerTest's devfun_vp."""
    theta, sigma = phi[:, :2], phi[:, 2]
    ev = batch.at(theta * theta, idx)
    brackets = ev["dlogh"] + ev["dlogm"] + ev["drss"] / (sigma**2)[:, None]
    d_sigma = -2.0 * ev["rss"] / sigma**3 + 2.0 * batch.dof[idx] / sigma
    return np.column_stack([2.0 * theta * brackets, d_sigma])


def _varpar_hessian(batch: _Batch, phi: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of the gradient with one Richardson step, the steps of
    trialeval.mixed (1e-3 max(|theta|, 1e-2), 1e-3 sigma)."""
    steps = np.column_stack([1e-3 * np.maximum(np.abs(phi[:, :2]), 1e-2), 1e-3 * phi[:, 2]])
    cols = []
    for j in range(3):

        def central(scale: float, j: int = j) -> np.ndarray:
            e = np.zeros_like(phi)
            e[:, j] = scale * steps[:, j]
            up = _deviance_gradient(batch, phi + e, idx)
            down = _deviance_gradient(batch, phi - e, idx)
            return (up - down) / (2.0 * scale * steps[:, j])[:, None]

        cols.append((4.0 * central(0.5) - central(1.0)) / 3.0)
    hess = np.stack(cols, axis=2)
    return 0.5 * (hess + np.swapaxes(hess, 1, 2))


def fit_cluster_batch(
    stats: list[ClusterStats], n_arms: int, estimand: str = "diff_in_change"
) -> dict:
    """REML fits and Satterthwaite df of the estimand at the last visit, per trial (rows) and
    intervention arm (columns): {estimate, se, df, ok, sd_participant, sd_cluster,
    sd_residual, boundary}. Rows with ok False are for the general engine; each trial's
    numbers depend only on its own data."""
    batch = _Batch(stats, n_arms)
    s, k = batch.size, batch.n_arms
    out = {key: np.full((s, k - 1), np.nan) for key in ("estimate", "se", "df")}
    sds = np.full((s, 3), np.nan)
    ok = batch.valid.copy()
    idx = np.flatnonzero(ok)
    if idx.size:
        psi, settled = _solve_psi(batch, idx)
        # the engine decides near the boundary (its snap rule), and where a variance at 0
        # beats the solution found (another local minimum: the engine tries each at 0)
        near_zero = np.any((psi > 0) & (psi < _SNAP_THETA**2), axis=1)
        good = settled & ~near_zero & ~_zero_is_better(batch, psi, idx)
        ok[idx[~good]] = False
        idx, psi = idx[good], psi[good]
    if idx.size:
        tests = _one_as_pair(lambda p, i: _tests(batch, p, i, estimand), psi, idx)
        for key in ("estimate", "se", "df"):
            out[key][idx] = tests[key]
        sds[idx] = tests["sds"]
        finite = np.all(np.isfinite(tests["se"]) & (tests["se"] > 0), axis=1)
        finite &= np.all(np.isfinite(tests["df"]), axis=1)
        ok[idx[~(finite & tests["positive"])]] = False
    for value in (*out.values(), sds):
        value[~ok] = np.nan
    return {
        **out,
        "ok": ok,
        "sd_participant": sds[:, 0],
        "sd_cluster": sds[:, 1],
        "sd_residual": sds[:, 2],
        "boundary": np.any(sds[:, :2] == 0, axis=1),
    }


def _zero_is_better(batch: _Batch, psi: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Whether setting either variance ratio to 0 (the other unchanged) lowers the deviance
    below the solution's, beyond rounding."""
    best = batch.at(psi, idx, gradient=False)["dev"]
    worse = np.zeros(idx.size, bool)
    for k in range(2):
        zeroed = psi.copy()
        zeroed[:, k] = 0.0
        dev = batch.at(zeroed, idx, gradient=False)["dev"]
        worse |= (psi[:, k] > 0) & (dev < best - 1e-10 * np.abs(best))
    return worse


def _tests(batch: _Batch, psi: np.ndarray, idx: np.ndarray, estimand: str) -> dict:
    """At the REML estimates: per intervention arm the estimand's estimate, SE and
    Satterthwaite df; the SDs (participant, cluster, residual); whether the Hessian of the
    deviance in the variance parameters is positive definite."""
    t, k = batch.n_visits, batch.n_arms
    ev = batch.at(psi, idx)
    sigma = np.sqrt(ev["rss"] / batch.dof[idx])
    theta = np.sqrt(psi)
    phi = np.column_stack([theta, sigma])
    # A component estimated at 0 leaves the variance parameters (as in trialeval.mixed)
    active = np.column_stack([theta > 0, np.ones(idx.size, bool)])
    hess = _varpar_hessian(batch, phi, idx)
    hess = np.where(active[:, :, None] & active[:, None, :], hess, 0.0)
    diagonal = [0, 1, 2], [0, 1, 2]
    hess[:, diagonal[0], diagonal[1]] = np.where(active, hess[:, diagonal[0], diagonal[1]], 1.0)
    positive = np.all(np.linalg.eigvalsh(hess) > 0, axis=1)
    varpar_cov = 2.0 * np.linalg.inv(np.where(positive[:, None, None], hess, np.eye(3)))
    contrast = np.zeros(t)  # within an arm: the last visit's mean, or its change
    contrast[[0, t - 1]] = [0.0 if estimand == "diff_in_means" else -1.0, 1.0]
    w = ev["m_inv"] @ contrast  # (s, A, T)
    var_arm = w @ contrast  # (s, A)
    # d var_arm / d psi_k = -w' dM_k w
    dvar_arm = -np.einsum("sai,skaij,saj->ska", w, ev["dm"], w)  # (s, 2, A)
    change = (ev["beta"] + batch.centre[idx]) @ contrast  # (s, A)
    sigma2 = sigma**2
    shape = (idx.size, k - 1)
    est, se, df = np.empty(shape), np.empty(shape), np.empty(shape)
    for j in range(1, k):
        v = var_arm[:, j] + var_arm[:, 0]
        var = sigma2 * v
        grad = np.column_stack(
            [
                2.0 * theta * sigma2[:, None] * (dvar_arm[:, :, j] + dvar_arm[:, :, 0]),
                2.0 * sigma * v,
            ]
        )
        grad = np.where(active, grad, 0.0)
        quad = np.einsum("si,sij,sj->s", grad, varpar_cov, grad)
        with np.errstate(divide="ignore", invalid="ignore"):
            df[:, j - 1] = np.where(quad > 0, 2.0 * var**2 / quad, np.inf)
        est[:, j - 1] = change[:, j] - change[:, 0]
        se[:, j - 1] = np.sqrt(var)
    sds = np.column_stack([theta[:, 0] * sigma, theta[:, 1] * sigma, sigma])
    return {"estimate": est, "se": se, "df": df, "sds": sds, "positive": positive}
