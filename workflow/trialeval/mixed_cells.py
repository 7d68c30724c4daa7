"""Random intercepts for participants [nested in sites], aggregated by cell.

The covariance structure trialeval.mixed fits most often:

    H = I + theta_1^2 Z_participant Z_participant' [+ theta_2^2 Z_site Z_site'].

Participant g's block of H (without sites) is I + theta_1^2 11', with Woodbury inverse
I - c_g 11', and everything the REML likelihood needs from it is the weight

    w_g = 1' H_g^-1 1 = n_g / (1 + n_g theta_1^2),

which depends on nothing but the participant's number of observations n_g. Participants with
the same n_g (and, with sites, in the same site) form a *cell* and share w; their statistics
enter every likelihood evaluation only summed over the cell. So they are summed once, before
optimisation: per cell the number of participants N_c, the mean of its participants' means of
the data columns [Q r] and their scatter S_c about it. An evaluation then costs
O(cells x p^2), however many participants there are (the rows are read once, O(n p^2)).

For columns a, b of [Q r] (bars are participant means, m_s the w-weighted site mean):

    a' H^-1 b = within + sum_g w_g abar_g bbar_g'                               (no sites)
    a' H^-1 b = within + sum_g w_g (abar_g - m_s)(bbar_g - m_s)' + sum_s u_s m_s m_s'

with ``within`` the pooled within-participant cross-product and u_s = W_s / (1 + theta_2^2 W_s),
W_s = sum of w_g over the site's participants (participant means act as observations with
weights w_g one level up). Summed over a cell, where w_g = w_c,

    sum_{g in c} w_c (abar_g - m)(bbar_g - m)' = w_c [S_c + N_c (mean_c - m)(mean_c - m)'],

so every sum of squares is formed from deviations (within participant, within cell, cell from
site) and none as "sum of squares minus n mean^2", which would cancel when theta is large.
The derivatives need, per level k, the Gram matrix of Z_k' H^-1 [Q r] and tr(Z_k' H^-1 Z_k):
the same sums with other cell weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = ["InterceptCells", "UnitMeans", "intercept_cells"]


@dataclass(frozen=True)
class UnitMeans:
    """Row-to-unit bookkeeping for one pass over the rows: unit codes, counts and the
    (units x rows) 0/1 matrix that sums rows into units."""

    codes: np.ndarray  # (n,) unit of each row
    counts: np.ndarray  # (U,) rows per unit
    summing: sparse.csc_matrix

    @classmethod
    def of(cls, codes: np.ndarray, n_units: int) -> UnitMeans:
        n = codes.shape[0]
        # One nonzero per column, so the CSC arrays are written down directly (no sort). One
        # sparse product sums all columns at once: ~3x faster here than a bincount per column.
        summing = sparse.csc_matrix((np.ones(n), codes, np.arange(n + 1)), shape=(n_units, n))
        return cls(codes, np.bincount(codes, minlength=n_units), summing)

    def means(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit means of x (units x p) and of y (units)."""
        mean_x = self.summing @ x
        mean_x /= self.counts[:, None]
        return mean_x, (self.summing @ y) / self.counts

    def cross_products(
        self,
        x: np.ndarray,
        y: np.ndarray,
        mean_x: np.ndarray,
        mean_y: np.ndarray,
        b0: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The pooled within-unit cross-product of [x, y - x b0] (b0 = 0 if None), from the
        rows' deviations from their unit's means of x and y; and the raw [x y]' [x y].

        The deviations are formed a block of rows at a time, in buffers that stay in cache,
        and never for all rows at once: measured 3-8x faster than one n x (p + 1) array. The
        raw products are summed from the same blocks while they are in cache.
        """
        n, p = x.shape
        within, raw = np.zeros((p + 1, p + 1)), np.zeros((p + 1, p + 1))
        dx_buf, dy_buf = np.empty((_ROWS, p)), np.empty(_ROWS)
        for start in range(0, n, _ROWS):
            rows = slice(start, start + _ROWS)
            codes, xs, ys = self.codes[rows], x[rows], y[rows]
            dx, dy = dx_buf[: codes.size], dy_buf[: codes.size]
            # mode="clip" (codes are valid): with out= and the default "raise", numpy
            # buffers the result, measured 2x slower
            np.subtract(xs, np.take(mean_x, codes, axis=0, out=dx, mode="clip"), out=dx)
            np.subtract(ys, np.take(mean_y, codes, out=dy, mode="clip"), out=dy)
            if b0 is not None:
                dy -= dx @ b0
            _add_cross(within, dx, dy)
            _add_cross(raw, xs, ys)
        return within, raw


def _add_cross(out: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """out += [a b]' [a b] for a block of rows a (m x p) and b (m)."""
    p = a.shape[1]
    out[:p, :p] += a.T @ a
    ab = a.T @ b
    out[:p, p] += ab
    out[p, :p] += ab
    out[p, p] += float(b @ b)


# Rows per block when forming deviations (2 x 1.5 MB buffers for p = 6).
_ROWS = 1 << 15


@dataclass(frozen=True)
class InterceptCells:
    """Sufficient statistics of the random-intercept model by cell; memory O(cells p^2).

    Columns (k = p + 1 of them) are the data matrix [Q r] of trialeval.mixed: Q from X = QR,
    r the response after removing a fixed-effects fit (the same model reparameterised).
    """

    n: int
    p: int
    n_groups: int  # participants
    within: np.ndarray  # (k, k) pooled within-participant cross-product
    count: np.ndarray  # (C,) participants in the cell
    size: np.ndarray  # (C,) observations per participant of the cell
    mean: np.ndarray  # (C, k) mean over the cell's participants of their means
    scatter: np.ndarray  # (C, k, k) scatter of those participant means about the cell mean
    second: np.ndarray  # (C, k, k) scatter + count mean mean': sum of abar bbar' over the cell
    site: np.ndarray | None  # (C,) site code of the cell
    n_sites: int | None
    site_sum: np.ndarray | sparse.csr_matrix | None  # (sites x C) 0/1: sums cells into sites
    logdet_rtr: float  # log|R'R| for X = QR: log|X'H^-1X| = log|Q'H^-1Q| + log|R'R|

    @property
    def n_levels(self) -> int:
        return 1 if self.site is None else 2

    @property
    def n_cells(self) -> int:
        return self.count.shape[0]

    def pieces(self, theta: np.ndarray) -> tuple[float, np.ndarray, list[tuple[np.ndarray, float]]]:
        """log|H|, [Q r]' H^-1 [Q r] and per level (Gram of Z_k' H^-1 [Q r], tr(Z_k' H^-1 Z_k))."""
        t1 = float(theta[0]) ** 2
        w = self.size / (1.0 + self.size * t1)
        logdet = float(self.count @ np.log1p(self.size * t1))
        if self.site is None:
            q = self.within + _weighted(w, self.second)
            return logdet, q, [(_weighted(w**2, self.second), float(self.count @ w))]
        site = self.site
        t2 = float(theta[1]) ** 2
        cw = self.count * w
        w_site = self.site_sum @ cw  # W_s = 1' D_s^-1 1
        m = (self.site_sum @ (cw[:, None] * self.mean)) / w_site[:, None]
        u = w_site / (1.0 + t2 * w_site)  # 1' H_s^-1 1
        dev = self.mean - m[site]
        within_site = _weighted(w, self.scatter) + (cw[:, None] * dev).T @ dev
        q = self.within + within_site + (u[:, None] * m).T @ m
        logdet += float(np.log1p(t2 * w_site).sum())
        # Z_participant' H^-1 a = w_g (abar_g - shrink_s m_s), shrink_s = theta_2^2 W_s / (1 + ..)
        shrink = (t2 * w_site / (1.0 + t2 * w_site))[site]
        a = self.mean - shrink[:, None] * m[site]
        w2 = w**2
        participant = (
            _weighted(w2, self.scatter) + ((self.count * w2)[:, None] * a).T @ a,
            float(self.count @ (w - shrink * w2 / w_site[site])),
        )
        um = u[:, None] * m
        return logdet, q, [participant, (um.T @ um, float(u.sum()))]

    def start(self) -> np.ndarray:
        """ANOVA-type variance ratios theta^2 from the residual column: a starting point of the
        right scale. Its within-participant sum of squares estimates the residual variance;
        the spread of participant (site) means the rest."""
        p, g = self.p, self.n_groups
        rbar, scatter_r = self.mean[:, p], self.scatter[:, p, p]
        mean_sq = float(self.second[:, p, p].sum()) / g  # mean over participants of rbar^2
        s2_resid = self.within[p, p] / max(self.n - g, 1)
        s2_resid = max(s2_resid, 1e-12 * (mean_sq + 1e-300))
        mean_inv_n = float(self.count @ (1.0 / self.size)) / g
        if self.site is None:
            ratios = [mean_sq / s2_resid - mean_inv_n]
        else:
            site, n_sites = self.site, self.n_sites
            per_site = np.bincount(site, weights=self.count, minlength=n_sites)
            site_mean = np.bincount(site, weights=self.count * rbar, minlength=n_sites) / per_site
            spread = scatter_r.sum() + self.count @ (rbar - site_mean[site]) ** 2
            ratio_part = spread / max(g - n_sites, 1) / s2_resid - mean_inv_n
            ratio_site = np.mean(site_mean**2) / s2_resid - (
                max(ratio_part, 0.0) + mean_inv_n
            ) * np.mean(1.0 / per_site)
            ratios = [ratio_part, ratio_site]
        return np.clip(np.array(ratios, float), 1e-2, 1e8)


def _weighted(weights: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """sum_c weights[c] mats[c] for a stack of square matrices (one matrix product; 8x
    faster here than np.tensordot at these sizes)."""
    k = mats.shape[-1]
    return (weights @ mats.reshape(-1, k * k)).reshape(k, k)


def _summing(codes: np.ndarray, n_bins: int) -> np.ndarray | sparse.csr_matrix:
    """(n_bins x len(codes)) 0/1 matrix adding entries into their bins; dense while small
    (a dense product of this size is a few microseconds, a sparse one tens)."""
    size = codes.shape[0]
    if n_bins * size <= 250_000:
        out = np.zeros((n_bins, size))
        out[codes, np.arange(size)] = 1.0
        return out
    return sparse.csr_matrix((np.ones(size), (codes, np.arange(size))), shape=(n_bins, size))


def _compact(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..C-1 of non-negative integer keys, in increasing key order, and the keys."""
    top = int(keys.max()) + 1
    if top <= 4 * keys.size + 1024:  # a lookup table: linear, no sort
        present = np.bincount(keys, minlength=top) > 0
        return (np.cumsum(present) - 1)[keys], np.flatnonzero(present)
    values, codes = np.unique(keys, return_inverse=True)
    return codes, values


# Up to this many cells, the scatter is summed cell by cell over the participants sorted by
# cell (one small product each); beyond it, by outer products in chunks of participants.
_LOOP_CELLS = 4096
_CHUNK = 1 << 15


def _cell_moments(values: np.ndarray, cell: np.ndarray, n_cells: int):
    """Participants per cell, the mean of their rows of ``values`` and the scatter about it.

    ``values`` is overwritten (with deviations from the cell means)."""
    count = np.bincount(cell, minlength=n_cells)
    k = values.shape[1]
    mean = np.empty((n_cells, k))
    scatter = np.empty((n_cells, k, k))
    if n_cells <= _LOOP_CELLS:
        # A stable sort of 16-bit keys is a radix sort: linear.
        order = np.argsort(cell.astype(np.uint16), kind="stable")
        ordered = np.take(values, order, axis=0)
        for c, block in enumerate(np.split(ordered, np.cumsum(count)[:-1])):
            mean[c] = block.mean(axis=0)
            block -= mean[c]
            scatter[c] = block.T @ block
        return count, mean, scatter
    summing = UnitMeans.of(cell, n_cells).summing
    mean[:] = (summing @ values) / count[:, None]
    values -= np.take(mean, cell, axis=0)
    flat = scatter.reshape(n_cells, k * k)
    flat[:] = 0.0
    for start in range(0, cell.size, _CHUNK):
        block = values[start : start + _CHUNK]
        outer = (block[:, :, None] * block[:, None, :]).reshape(-1, k * k)
        flat += summing[:, start : start + _CHUNK] @ outer
    return count, mean, scatter


def intercept_cells(
    counts: np.ndarray,
    means: np.ndarray,
    within: np.ndarray,
    transform: np.ndarray,
    site_of_unit: np.ndarray | None,
    n_sites: int | None,
    logdet_rtr: float,
) -> InterceptCells:
    """Sum participants into cells of equal size (and site).

    ``counts`` and ``means`` are per participant (rows per participant; means of the data
    columns; ``means`` is overwritten), ``within`` the pooled within-participant
    cross-product; all in the columns the rows were read in, which ``transform`` (k x k) maps
    to [Q r] (statistics of linear combinations of columns are the same combinations of the
    statistics).
    """
    size_of_unit = counts.astype(np.int64)
    stride = int(size_of_unit.max()) + 1
    keys = size_of_unit
    if site_of_unit is not None:
        keys = site_of_unit.astype(np.int64) * stride + size_of_unit
    cell, cell_keys = _compact(keys)
    count, cell_mean, scatter = _cell_moments(means, cell, cell_keys.size)
    mean = cell_mean @ transform
    scatter = transform.T @ scatter @ transform
    second = scatter + count[:, None, None] * (mean[:, :, None] * mean[:, None, :])
    site = None if site_of_unit is None else (cell_keys // stride).astype(np.intp)
    return InterceptCells(
        n=int(counts.sum()),
        p=means.shape[1] - 1,
        n_groups=int(counts.shape[0]),
        within=transform.T @ within @ transform,
        count=count.astype(float),
        size=(cell_keys % stride).astype(float),
        mean=mean,
        scatter=scatter,
        second=second,
        site=site,
        n_sites=n_sites,
        site_sum=None if site is None else _summing(site, n_sites),
        logdet_rtr=logdet_rtr,
    )
