"""REML fits of variance-component linear mixed models, with Satterthwaite df for contrasts.

Model::

    y = X beta + Z_participant u + [Z_site v] + e,
    u ~ N(0, sd_participant^2), v ~ N(0, sd_site^2), e ~ N(0, sigma^2),

with participants (groups) optionally nested in sites. Write V = sigma^2 H with

    H = I + theta_1^2 Z_participant Z_participant' + theta_2^2 Z_site Z_site',

theta_1 = sd_participant / sigma and theta_2 = sd_site / sigma (lme4's relative covariance
factors). beta and sigma^2 are profiled out in closed form, so REML is optimised over theta
only: L-BFGS-B on theta^2 >= 0 (so a boundary optimum at 0 is reached exactly), then a few
Newton steps on the analytic gradient for the interior components.

Why it is fast: H is block diagonal by participant (by site in the nested model) with
blocks "identity plus constant", so the Woodbury identity gives H^-1 in closed form
(H_g^-1 = I - c_g 11' with c_g = theta^2 / (1 + n_g theta^2)). Every quantity the
likelihood needs, [X y]' H^-1 [X y], log|H| and their derivatives, is then a function of
per-participant counts and means of [X y] plus the pooled within-participant cross-product,
and participants with the same count (and site) share their Woodbury weight, so their
statistics are summed into cells once (trialeval.mixed_cells). The rows are read in a few
linear passes (O(n p^2)); each likelihood evaluation costs O(cells p^2), independent of the
number of participants. No n x n matrix is ever formed. For numerical conditioning X is
replaced by Q from X = QR (and y by its residual from a least-squares fit); results are
mapped back to X at the end. R comes from the Cholesky factor of X'X (no pass over the rows
to form Q) while X is well conditioned, else from a Householder QR (_intercept_design).

Delivery groups (partially nested designs) use a second structure, trialeval.mixed_levels:
participant < group < site as nested levels with a covariate each (the group term sits on
grouped participants' post-baseline rows), inverted by Woodbury level by level; its
evaluations still pass over the participants (not summed into cells). Both structures hand
the same pieces (log|H|, [X y]' H^-1 [X y] and per level the Gram matrix of
Z_k' H^-1 [X y] and tr(Z_k' H^-1 Z_k)) to the one REML core below: optimisation, gradient,
Satterthwaite df.

Satterthwaite df follow lmerTest (and emmeans, which uses it): with the variance parameters
phi = (theta..., sigma) and C(phi) = sigma^2 (X' H(theta)^-1 X)^-1,

    df = 2 (L C L')^2 / (g' A g),  g = d(L C L')/d phi,  A = 2 [Hessian of the REML deviance]^-1,

evaluated at the REML estimate. The deviance gradient and dC/dphi are analytic; the
Hessian is a central difference (with Richardson extrapolation) of the analytic gradient,
each gradient one pass over the cells (not the participants).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, special

from trialeval.mixed_cells import InterceptCells, UnitMeans, intercept_cells
from trialeval.mixed_levels import NestedLevels, nested_levels

__all__ = ["Contrast", "MixedFit", "contrast", "fit_reml"]

# A variance ratio below this (sd_component / sd_residual) is tried at exactly 0; it is set
# to 0 when that does not worsen the REML deviance beyond rounding. Same scale as lme4's
# isSingular() tolerance.
_SNAP_THETA = 1e-4
# Relative deviance slack when comparing a snapped (theta = 0) fit with the interior one.
_SNAP_RTOL = 1e-10
# Convergence: |d deviance / d log(theta)| below this for interior components.
_GRAD_TOL = 1e-4


@dataclass(frozen=True, eq=False)
class MixedFit:
    """Result of :func:`fit_reml`.

    ``cov_params`` is the GLS covariance sigma^2 (X' H^-1 X)^-1 at the REML estimate (as lme4
    and lmerTest report it). ``reml_loglik`` is on lme4's scale: -1/2 of lme4's "REML
    criterion", i.e. -1/2 [(n - p) log(2 pi) + log|V| + log|X' V^-1 X| + r' V^-1 r].
    The private fields hold what :func:`contrast` needs for Satterthwaite df.
    """

    params: pd.Series
    cov_params: pd.DataFrame
    sd_participant: float
    sd_site: float | None
    sd_residual: float
    reml_loglik: float
    n_obs: int
    n_groups: int
    n_sites: int | None
    boundary: bool
    converged: bool
    message: str
    # Delivery groups (fits with ``delivery_groups``): the group SD and the number of groups.
    sd_group: float | None = None
    n_delivery_groups: int | None = None
    # Variance parameters used for Satterthwaite df: the interior thetas, then sigma.
    _varpar_names: tuple[str, ...] = field(default=(), repr=False)
    _varpar: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    # A = 2 * inverse Hessian of the REML deviance w.r.t. _varpar.
    _varpar_cov: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    # d cov(beta) / d varpar_k, shape (k, p, p).
    _cov_jacobian: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 0)), repr=False)


@dataclass(frozen=True)
class Contrast:
    """A linear combination L beta with its Satterthwaite t test and confidence interval."""

    estimate: float
    se: float
    df: float
    t: float
    p_value: float
    ci_low: float
    ci_high: float

    @classmethod
    def from_t(cls, estimate: float, se: float, df: float, alpha: float) -> Contrast:
        """The t test and (1 - alpha) interval of an estimate with its SE and df (shared by
        the random-intercept and the MMRM engines)."""
        t_value = estimate / se
        p_value = float(2.0 * special.stdtr(df, -abs(t_value)))  # scipy.stats: 0.5 s import
        q = float(special.stdtrit(df, 1.0 - alpha / 2.0))
        return cls(
            estimate=estimate,
            se=se,
            df=float(df),
            t=t_value,
            p_value=p_value,
            ci_low=estimate - q * se,
            ci_high=estimate + q * se,
        )


# --------------------------------------------------------------------------------------
# Sufficient statistics and the likelihood
# --------------------------------------------------------------------------------------


# The covariance structures the REML core below works on: random intercepts for participants
# [in sites] (here), and nested levels with a covariate each (delivery groups; mixed_levels).
_Structure = InterceptCells | NestedLevels

_potrf = linalg.lapack.dpotrf  # Cholesky factor
_trtri = linalg.lapack.dtrtri  # inverse of a triangular matrix


@dataclass(frozen=True)
class _State:
    """The likelihood pieces at one theta ("X" is the design's Q here)."""

    logdet_h: float  # log|H|
    chol_xx: np.ndarray  # lower Cholesky factor of M = X' H^-1 X
    m_inv: np.ndarray  # M^-1
    beta: np.ndarray  # GLS estimate given theta
    rss: float  # r' H^-1 r at the GLS beta (the penalised residual sum of squares)
    # Per level k, for the derivatives: K_k = (Z_k' H^-1 X)' (Z_k' H^-1 X), the squared norm
    # of Z_k' H^-1 r and tr(Z_k' H^-1 Z_k).
    levels: tuple[tuple[np.ndarray, float, float], ...]

    @property
    def logdet_m(self) -> float:
        return 2.0 * float(np.log(np.diag(self.chol_xx)).sum())

    def gram(self, k: int) -> np.ndarray:
        """K_k = (Z_k' H^-1 X)' (Z_k' H^-1 X), so that dM/d theta_k = -2 theta_k K_k."""
        return self.levels[k][0]

    def dev_brackets(self, sigma2: float) -> np.ndarray:
        """d deviance / d(theta_k^2) at fixed sigma^2 (beta profiled).

        d log|H| = tr(H^-1 dH), d log|M| = tr(M^-1 dM) and d r'H^-1 r = -r'H^-1 dH H^-1 r
        (envelope theorem: beta is the GLS minimiser), with dH/d(theta_k^2) = Z_k Z_k'.
        """
        m_inv = self.m_inv
        out = []
        for gram, zr_sq, trace in self.levels:
            out.append(trace - np.sum(m_inv * gram) - zr_sq / sigma2)
        return np.array(out)


def _evaluate(design: _Structure, theta: np.ndarray) -> _State:
    """GLS fit and the REML pieces at variance ratios ``theta``, for either structure."""
    logdet_h, q, grams = design.pieces(theta)
    p = design.p
    # Cholesky of the augmented (p+1) x (p+1) matrix: its leading block factors M = X'H^-1 X,
    # the last row gives the GLS beta, and its last diagonal squared is r'H^-1 r (a Schur
    # complement), computed without subtracting large numbers.
    # LAPACK directly: these are (p+1) x (p+1) matrices evaluated hundreds of times per fit,
    # where numpy's and scipy's wrappers cost 5-10x the factorisation itself.
    chol, info = _potrf(q, lower=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError("[X y]' H^-1 [X y] is not positive definite")
    chol_xx = chol[:p, :p]
    # One triangular inverse gives both beta = L^-T l and M^-1 = L^-T L^-1.
    inv_xx, info = _trtri(chol_xx, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError("X' H^-1 X is singular")
    beta = inv_xx.T @ chol[p, :p]
    rss = float(chol[p, p] ** 2)
    # Per level, from the Gram G of Z_k' H^-1 [X y]: K_k = G[:p, :p] and, with r = [X y] a,
    # |Z_k' H^-1 r|^2 = a' G a.
    a = np.append(-beta, 1.0)
    levels = tuple((gram[:p, :p], float(a @ gram @ a), trace) for gram, trace in grams)
    return _State(
        logdet_h=logdet_h,
        chol_xx=chol_xx,
        m_inv=inv_xx.T @ inv_xx,
        beta=beta,
        rss=rss,
        levels=levels,
    )


def _profiled_deviance(design: _Structure, state: _State) -> float:
    """-2 REML log-likelihood with sigma^2 profiled out (lme4's REML criterion)."""
    dof = design.n - design.p
    return (
        state.logdet_h
        + state.logdet_m
        + design.logdet_rtr
        + dof * (1.0 + np.log(2.0 * np.pi * state.rss / dof))
    )


def _profiled_objective(design: _Structure, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """Profiled REML deviance and its analytic gradient in theta."""
    state = _evaluate(design, theta)
    sigma2 = state.rss / (design.n - design.p)
    grad = 2.0 * np.asarray(theta, float) * state.dev_brackets(sigma2)
    return _profiled_deviance(design, state), grad


def _varpar_gradient(
    design: _Structure, theta: np.ndarray, active: np.ndarray, phi: np.ndarray
) -> np.ndarray:
    """Gradient of the REML deviance in phi = (theta[active], sigma); beta profiled.

    Deviance: log|H| + log|M| + r'H^-1 r / sigma^2 + (n - p) log(2 pi sigma^2), the function
    lmerTest differentiates (devfun_vp). Thetas outside ``active`` stay at their value.
    """
    full = np.array(theta, float)
    full[active] = phi[:-1]
    sigma = float(phi[-1])
    state = _evaluate(design, full)
    brackets = state.dev_brackets(sigma**2)
    d_sigma = -2.0 * state.rss / sigma**3 + 2.0 * (design.n - design.p) / sigma
    return np.append(2.0 * full[active] * brackets[active], d_sigma)


def _fd_jacobian(
    fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray, steps: np.ndarray
) -> np.ndarray:
    """Central-difference Jacobian with one Richardson step (error O(h^4))."""
    x = np.asarray(x, float)
    cols = []
    for j, h in enumerate(steps):

        def central(step: float, j: int = j) -> np.ndarray:
            e = np.zeros_like(x)
            e[j] = step
            return (fun(x + e) - fun(x - e)) / (2.0 * step)

        cols.append((4.0 * central(h / 2.0) - central(h)) / 3.0)
    return np.column_stack(cols)


def _theta_steps(theta: np.ndarray) -> np.ndarray:
    # The deviance is even in each theta, hence smooth through 0: steps need not stay >= 0.
    return 1e-3 * np.maximum(np.abs(theta), 1e-2)


# --------------------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------------------


def _minimise(design: _Structure, psi0: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, str]:
    """L-BFGS-B over psi = theta^2 >= 0 for the components in ``free``; returns theta.

    Why psi rather than theta: the deviance is even in theta, so its theta-gradient vanishes
    at 0; a gradient method then stalls at 0 even where moving off it would help, and creeps
    towards a boundary optimum without reaching it. In psi the slope at 0 is informative and
    the bound psi >= 0 is met exactly by L-BFGS-B's projection.
    """
    psi0 = np.array(psi0, float)
    if free.size == 0:
        return np.sqrt(psi0), "no free variance ratio"
    dof = design.n - design.p

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        psi = psi0.copy()
        psi[free] = np.maximum(x, 0.0)
        state = _evaluate(design, np.sqrt(psi))
        return _profiled_deviance(design, state), state.dev_brackets(state.rss / dof)[free]

    res = optimize.minimize(
        objective,
        psi0[free],
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None)] * free.size,
        options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000},
    )
    best_x, best_f, message = res.x, res.fun, f"L-BFGS-B: {res.message}"
    if not res.success:
        # Ladder of derivative-free optimisers on sqrt(psi) = theta (unconstrained, squared
        # back), starting from the best point so far; the lowest deviance wins.
        def deviance(r: np.ndarray) -> float:
            return objective(np.square(r))[0]

        for method in ("Powell", "Nelder-Mead"):
            alt = optimize.minimize(
                deviance,
                np.sqrt(np.maximum(best_x, 0.0)),
                method=method,
                options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000}
                if method == "Nelder-Mead"
                else {"xtol": 1e-10, "ftol": 1e-13, "maxiter": 20000},
            )
            if alt.fun < best_f:
                best_x, best_f = np.square(alt.x), alt.fun
                message += f"; {method}: {alt.message}"
            if alt.success:
                break
    psi = psi0.copy()
    psi[free] = np.maximum(best_x, 0.0)
    return np.sqrt(psi), message


def _newton_polish(design: _Structure, theta: np.ndarray, max_iter: int = 6) -> np.ndarray:
    """A few Newton steps on the analytic gradient for the interior thetas.

    L-BFGS-B stops when deviance changes drown in rounding, which leaves theta accurate to
    only ~1e-8 relative; solving gradient = 0 directly gets it to near machine precision.
    """
    theta = np.array(theta, float)
    active = np.flatnonzero(theta > 0)
    if active.size == 0:
        return theta

    def grad_active(x: np.ndarray) -> np.ndarray:
        full = theta.copy()
        full[active] = x
        return _profiled_objective(design, full)[1][active]

    x = theta[active]
    g = grad_active(x)
    for _ in range(max_iter):
        hess = _fd_jacobian(grad_active, x, _theta_steps(x))
        hess = 0.5 * (hess + hess.T)
        try:
            step = linalg.solve(hess, g, assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            break
        x_new = x - step
        if np.any(x_new <= 0):
            break
        g_new = grad_active(x_new)
        if np.linalg.norm(g_new) >= np.linalg.norm(g):
            break
        x, g = x_new, g_new
        if np.all(np.abs(step) <= 1e-13 * (1.0 + np.abs(x))):
            break
    theta[active] = x
    return theta


def _optimise(design: _Structure) -> tuple[np.ndarray, list[str]]:
    """REML estimate of theta, with a component set to exactly 0 where that is optimal.

    Besides the main run, each component is also tried at exactly 0 (the others
    re-optimised): a guard against a poorer interior local optimum, and a snap to the
    boundary when the ratio is already negligible (< _SNAP_THETA) and the deviance is equal
    up to rounding.
    """
    k = design.n_levels
    theta, message = _minimise(design, design.start(), np.arange(k))  # from ratios theta^2
    notes = [message]
    best = _profiled_objective(design, theta)[0]
    for j in range(k):
        if theta[j] == 0:
            continue
        trial = theta.copy() ** 2
        trial[j] = 0.0
        trial, _ = _minimise(design, trial, np.flatnonzero(np.arange(k) != j))
        value = _profiled_objective(design, trial)[0]
        slack = _SNAP_RTOL * max(1.0, abs(best)) if theta[j] < _SNAP_THETA else 0.0
        if value <= best + slack:
            theta, best = trial, value
    return _newton_polish(design, theta), notes


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------


def _orthogonalise(x: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """X = Q R with orthonormal Q; raise if X is not of full column rank.

    The fit works with Q in place of X (beta_Q = R beta): X' H^-1 X is then well conditioned
    whatever the scaling of X's columns. A rank deficiency names the columns involved in the
    linear dependency.
    """
    norms = np.linalg.norm(x, axis=0)
    zero = [names[j] for j in np.flatnonzero(norms == 0)]
    if zero:
        raise ValueError(f"X is rank deficient: column(s) {zero} are identically zero")
    # Unit-norm columns make the null vector's entries comparable. scipy's economic QR (the
    # same LAPACK Householder factorisation) measured 3-4x faster here than numpy's.
    q, r = linalg.qr(x / norms, mode="economic", check_finite=False)
    _, sv, vt = np.linalg.svd(r)
    tol = sv.max() * max(x.shape) * np.finfo(float).eps
    rank = int(np.sum(sv > tol))
    if rank < x.shape[1]:
        null = np.abs(vt[rank:]).max(axis=0)
        involved = [names[j] for j in np.flatnonzero(null > 1e-6)]
        raise ValueError(
            f"X is rank deficient (rank {rank} < {x.shape[1]} columns): "
            f"columns {involved} are linearly dependent"
        )
    return q, r * norms


def _codes(labels, what: str, n: int) -> tuple[np.ndarray, int]:
    """Integer codes 0..k-1 of the labels (in order of first appearance) and k."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(
            f"{what} must be 1-D with one label per observation ({n}), got shape {labels.shape}"
        )
    # Rows usually come grouped by participant: hashing one label per run of equal labels
    # (and repeating its code over the run) gives the same codes as hashing every row, several
    # times faster (measured: 20 ms vs 50-80 ms for a million rows; more with string labels),
    # and numbers in increasing order need no hashing at all.
    new_run = np.empty(n, dtype=bool)
    new_run[0] = True
    np.not_equal(labels[1:], labels[:-1], out=new_run[1:])
    run = np.cumsum(new_run, dtype=np.intp) - 1  # run index of each row
    firsts = labels[new_run]
    if firsts.dtype.kind in "iu" and np.all(firsts[1:] > firsts[:-1]):
        return run, firsts.size  # every run a new label
    run_codes, uniques = pd.factorize(firsts)
    codes = run_codes.astype(np.intp)[run]
    if np.any(run_codes < 0):
        raise ValueError(f"{what} has {int(np.sum(codes < 0))} missing label(s)")
    return codes, len(uniques)


def _check_fixed(y, x, column_names) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate y and X; return them as float arrays, and the column names."""
    if column_names is None and isinstance(x, pd.DataFrame):
        column_names = [str(c) for c in x.columns]
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if x.ndim != 2:
        raise ValueError(f"X must be 2-D (n x p), got shape {x.shape}")
    n, p = x.shape
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} observations but X has {n} rows")
    names = [f"x{j}" for j in range(p)] if column_names is None else [str(c) for c in column_names]
    if len(names) != p:
        raise ValueError(f"{len(names)} column names given for {p} columns of X")
    if len(set(names)) != p:
        raise ValueError(f"column names are not unique: {names}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y contains {int(np.sum(~np.isfinite(y)))} NaN or infinite value(s)")
    # Column by column only when something may be wrong: the sum is finite if every entry is
    # (it may also overflow; then the exact check runs and finds nothing).
    if not np.isfinite(x.sum()) and not np.isfinite(x).all():
        bad_names = [names[j] for j in np.flatnonzero(~np.all(np.isfinite(x), axis=0))]
        raise ValueError(f"X contains NaN or infinite values in column(s) {bad_names}")
    if p == 0 or n <= p:
        raise ValueError(
            f"need at least one fixed effect and more observations ({n}) than fixed effects ({p})"
        )
    return y, x, names


def _householder_data(y: np.ndarray, x: np.ndarray, names: list[str]):
    """Q and r, R and Q'y for X = QR (Householder), r = y - QQ'y the OLS residual.

    Regressing y on Q first (GLS is linear in y, so beta_Q = Q'y + GLS of the OLS residual)
    keeps large offsets in y out of the cross-products.
    """
    q, r = _orthogonalise(x, names)
    qty = q.T @ y
    resid = y - q @ qty
    if np.linalg.norm(resid) <= 1e-12 * np.linalg.norm(y):
        raise ValueError("y is fitted exactly by X: there is no residual variation to model")
    return q, resid, r, qty


# The fast reparameterisation (R from the Cholesky factor of X'X) is used while X, its columns
# scaled to unit length, has a condition number below this: R is then accurate to about
# cond^2 * eps = 1e-8 relative, which only makes Q = X R^-1 orthonormal to that accuracy (the
# algebra is exact for any invertible R), and Q's statistics carry errors of cond * eps.
# Beyond it (and for rank checks with column names) the Householder QR is used.
_CHOLESKY_MAX_COND = 1e4


def _cholesky_reparameterisation(gram_x: np.ndarray, xty: np.ndarray) -> tuple | None:
    """R (X'X = R'R) and the least-squares coefficients b0 from the Gram matrix X'X and X'y;
    None when X is too ill-conditioned for that (see _CHOLESKY_MAX_COND)."""
    d = np.sqrt(np.diag(gram_x))
    if not np.all(d > 0):
        return None
    try:
        lower = np.linalg.cholesky(gram_x / np.outer(d, d))
    except np.linalg.LinAlgError:
        return None
    sv = np.linalg.svd(lower, compute_uv=False)
    if not sv[-1] > sv[0] / _CHOLESKY_MAX_COND:
        return None
    c = linalg.solve_triangular(lower, xty / d, lower=True)
    b0 = linalg.solve_triangular(lower.T, c, lower=False) / d
    return lower.T * d, b0


def _intercept_design(y: np.ndarray, x: np.ndarray, names: list[str], groups, sites):
    """The cells of the random-intercept model (trialeval.mixed_cells), R and Q'y.

    Fast path, read from the rows in a few linear passes: participant means of [X y], the
    pooled within-participant cross-product (from deviations) and X'X, X'y; R and
    the least-squares fit b0 from the Cholesky factor of X'X; y is replaced by y - X b0 (an
    exact reparameterisation, beta - b0, that keeps large offsets in y out of the
    cross-products). The statistics of Q = X R^-1 are those of X times R^-1. When X is
    ill-conditioned or y nearly fitted by X, the Householder path forms Q and r row by row.
    """
    n, p = x.shape
    g_codes, n_groups = _participant_codes(groups, n)
    site_of_group = n_sites = None
    if sites is not None:
        s_codes, n_sites = _codes(sites, "sites", n)
        if n_sites < 2:
            raise ValueError(f"need at least 2 sites for a site variance, got {n_sites}")
        site_of_group = _outer_of(
            g_codes,
            n_groups,
            s_codes,
            groups,
            "participants must be nested in sites; participant(s) {offenders} appear in more "
            "than one site",
        )
    units = UnitMeans.of(g_codes, n_groups)
    counts = units.counts.astype(float)
    mean_x, mean_y = units.means(x, y)
    within, gram = units.cross_products(x, y, mean_x, mean_y)  # gram = [X y]' [X y]
    fast = _cholesky_reparameterisation(gram[:p, :p], gram[:p, p])
    if fast is not None:
        r, b0 = fast
        qty = r @ b0
        within = _residual_within(
            within, b0, lambda: units.cross_products(x, y, mean_x, mean_y, b0)[0]
        )
        mean_r = mean_y - mean_x @ b0
        # y (nearly) fitted by X: the Householder path decides, with an accurate residual.
        if not within[p, p] + counts @ mean_r**2 > 1e-14 * gram[p, p]:
            fast = None
    if fast is None:
        q, resid, r, qty = _householder_data(y, x, names)
        mean_x, mean_r = units.means(q, resid)
        within = units.cross_products(q, resid, mean_x, mean_r)[0]
        del q, resid
        to_q = np.eye(p)
    else:
        to_q = linalg.solve_triangular(r, np.eye(p), lower=False)
    means = np.column_stack([mean_x, mean_r])
    design = intercept_cells(
        units.counts,
        means,
        within,
        linalg.block_diag(to_q, 1.0),
        site_of_group,
        n_sites,
        _logdet_rtr(r),
    )
    return design, r, qty


def _residual_within(within: np.ndarray, b0: np.ndarray, by_rows: Callable) -> np.ndarray:
    """The within-participant cross-product of [X, y - X b0] from that of [X y].

    By the algebra (one p x p product) unless it cancels: when X explains nearly all the
    within-participant variation of y, r'r = y'y - 2 b0'X'y + b0'X'X b0 would lose more than
    4 of 16 digits, and ``by_rows()`` forms it from the rows' deviations instead.
    """
    p = b0.size
    w_xx, w_xy, w_yy = within[:p, :p], within[:p, p], within[p, p]
    out = within.copy()
    out[:p, p] = out[p, :p] = w_xy - w_xx @ b0
    out[p, p] = w_yy - 2.0 * b0 @ w_xy + b0 @ w_xx @ b0
    scale = w_yy + 2.0 * abs(b0 @ w_xy) + b0 @ w_xx @ b0
    return out if out[p, p] * 1e4 >= scale else by_rows()


def _logdet_rtr(r: np.ndarray) -> float:
    return 2.0 * float(np.log(np.abs(np.diag(r))).sum())


def _participant_codes(groups, n: int) -> tuple[np.ndarray, int]:
    g_codes, n_groups = _codes(groups, "groups", n)
    if n_groups < 2:
        raise ValueError(f"need at least 2 participants (groups), got {n_groups}")
    if n_groups == n:
        raise ValueError(
            "every participant has a single observation: participant and residual variance "
            "are not separately identifiable"
        )
    return g_codes, n_groups


def _outer_of(inner_codes, n_inner, outer_codes, inner_labels, what: str) -> np.ndarray:
    """The outer unit of each inner unit; raise naming inner units found in two outer ones."""
    outer_of = np.empty(n_inner, dtype=np.intp)
    outer_of[inner_codes] = outer_codes
    crossed = outer_of[inner_codes] != outer_codes
    if np.any(crossed):
        offenders = pd.unique(np.asarray(inner_labels)[crossed])[:5].tolist()
        raise ValueError(what.format(offenders=offenders))
    return outer_of


def _grouped(labels) -> np.ndarray:
    """True where a delivery-group label is given (not None, NaN or empty)."""
    values = pd.Series(np.asarray(labels, dtype=object))
    return (values.notna() & (values.astype(str).str.strip() != "")).to_numpy()


def _delivery_design(
    z: np.ndarray, groups, sites, delivery_groups, group_covariate, logdet_rtr: float
) -> tuple[NestedLevels, int]:
    """Levels participant (if ``groups``) < delivery group < site (if ``sites``), and the
    number of delivery groups.

    A row without a delivery group belongs to a group of its own (its participant's, or the
    row's when there is no participant level) whose covariate must be 0.
    """
    n = z.shape[0]
    labels = np.asarray(delivery_groups, dtype=object)
    covariate = np.asarray(group_covariate, dtype=float)
    if labels.shape != (n,) or covariate.shape != (n,):
        raise ValueError(f"delivery_groups and group_covariate need one value per row ({n})")
    if not np.all(np.isfinite(covariate)):
        raise ValueError("group_covariate contains NaN or infinite values")
    grouped = _grouped(labels)
    if np.any(covariate[~grouped] != 0):
        raise ValueError("group_covariate must be 0 on rows without a delivery group")
    if groups is not None:
        p_codes, n_part = _participant_codes(groups, n)
        own = p_codes
    else:
        own = np.arange(n)
    # A group of its own per ungrouped participant (or row): a key no real label can equal.
    keys = np.where(grouped, "g:" + labels.astype(str), "own:" + own.astype(str))
    g_codes, n_groups = _codes(keys, "delivery_groups", n)
    real = int(np.unique(g_codes[grouped]).size)
    if real < 2:
        raise ValueError(f"need at least 2 delivery groups for a group variance, got {real}")
    levels = []
    if groups is not None:
        _outer_of(
            p_codes,
            n_part,
            g_codes,
            groups,
            "participants must be in one delivery group; participant(s) {offenders} appear "
            "in more than one",
        )
        levels.append(("participant", p_codes, np.ones(n)))
    levels.append(("group", g_codes, covariate))
    if sites is not None:
        s_codes, n_sites = _codes(sites, "sites", n)
        if n_sites < 2:
            raise ValueError(f"need at least 2 sites for a site variance, got {n_sites}")
        _outer_of(
            g_codes[grouped],
            n_groups,
            s_codes[grouped],
            labels[grouped],
            "delivery groups must be nested in sites; group(s) {offenders} span more than one site",
        )
        if groups is not None:
            _outer_of(
                p_codes,
                n_part,
                s_codes,
                groups,
                "participants must be nested in sites; participant(s) {offenders} appear in "
                "more than one site",
            )
        levels.append(("site", s_codes, np.ones(n)))
    return nested_levels(z, levels, logdet_rtr), real


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def fit_reml(
    y,
    X,
    groups,
    sites=None,
    column_names=None,
    group_label: str = "participant",
    *,
    delivery_groups=None,
    group_covariate=None,
) -> MixedFit:
    """Fit y = X beta + participant intercept [+ group term] [+ site intercept] + e by REML.

    ``groups`` labels participants; ``sites`` (optional) labels sites, each participant in
    exactly one. ``X`` is the full-rank fixed-effects design (include the intercept column);
    names come from ``column_names`` or a DataFrame's columns. Raises ValueError on NaN,
    mismatched lengths, rank-deficient X, participants in two sites, or < 2 participants.
    ``group_label`` names the groups in messages (e.g. "site" when the rows are participants
    grouped by site); the groups' SD is ``sd_participant`` whatever they are.

    Delivery groups (partially nested designs, trialeval.mixed_levels): ``delivery_groups``
    labels each row's group (None, NaN or "" for a participant who is not grouped) and
    ``group_covariate`` is the group effect's covariate per row (lme4's
    ``(0 + grouped_post | group)``: 1 on a grouped participant's post-baseline rows, else 0).
    Participants nest in groups, groups in sites (``sites``). ``groups`` may then be None
    when each row is a participant (no participant intercept). The group SD is ``sd_group``.
    """
    y, x, names = _check_fixed(y, X, column_names)
    if delivery_groups is None:
        design, r, qty = _intercept_design(y, x, names, groups, sites)
        n_delivery = None
        level_names = [group_label, "site"][: design.n_levels]
    else:
        if group_covariate is None:
            raise ValueError("delivery_groups needs group_covariate")
        q, resid, r, qty = _householder_data(y, x, names)
        design, n_delivery = _delivery_design(
            np.column_stack([q, resid]),
            groups,
            sites,
            delivery_groups,
            group_covariate,
            _logdet_rtr(r),
        )
        del q, resid
        level_names = list(design.names)
    del x
    n, p = design.n, design.p
    theta, notes = _optimise(design)
    state = _evaluate(design, theta)
    sigma2 = state.rss / (n - p)
    sigma = float(np.sqrt(sigma2))
    # Back from Q to X: beta = R^-1 beta_Q and cov(beta) = R^-1 cov(beta_Q) R^-T.
    r_inv = linalg.solve_triangular(r, np.eye(p), lower=False)
    beta = r_inv @ (qty + state.beta)
    m_inv = state.m_inv
    cov = sigma2 * r_inv @ m_inv @ r_inv.T
    deviance = _profiled_deviance(design, state)

    brackets = state.dev_brackets(sigma2)
    interior = theta > 0
    # Interior: d deviance / d log(theta) ~ 0. At theta = 0: the slope in theta^2 must not be
    # negative (moving off 0 cannot lower the deviance).
    log_grad = np.abs(2.0 * theta[interior] ** 2 * brackets[interior])
    converged = bool(np.all(log_grad <= _GRAD_TOL) and np.all(brackets[~interior] >= -_GRAD_TOL))
    if log_grad.size:
        notes.append(f"after Newton polish max |d deviance / d log theta| = {log_grad.max():.1e}")
    boundary = bool(np.any(~interior))
    if boundary:
        zero = [level_names[j] for j in np.flatnonzero(~interior)]
        notes.append(
            f"boundary fit: {', '.join(zero)} variance estimated at 0; Satterthwaite df use "
            "the remaining variance parameters (as lmerTest: at theta = 0 both d cov(beta) / "
            "d theta and the Hessian's cross terms vanish, so dropping it changes nothing)"
        )

    # Satterthwaite ingredients in lmerTest's parameterisation phi = (theta..., sigma).
    active = np.flatnonzero(interior)
    phi = np.append(theta[active], sigma)
    steps = np.append(_theta_steps(theta[active]), 1e-3 * sigma)
    hess = _fd_jacobian(lambda v: _varpar_gradient(design, theta, active, v), phi, steps)
    hess = 0.5 * (hess + hess.T)
    if np.any(np.linalg.eigvalsh(hess) <= 0):
        notes.append("Hessian of the REML deviance is not positive definite; df unreliable")
    varpar_cov = 2.0 * np.linalg.inv(hess)
    # C = sigma^2 M^-1 with dM/d theta_k = -2 theta_k K_k, so
    # dC/d theta_k = 2 theta_k sigma^2 M^-1 K_k M^-1 and dC/d sigma = 2 sigma M^-1.
    jac = [2.0 * theta[k] * sigma2 * m_inv @ state.gram(k) @ m_inv for k in active]
    jac.append(2.0 * sigma * m_inv)
    jac = [r_inv @ j @ r_inv.T for j in jac]

    return MixedFit(
        params=pd.Series(beta, index=names, name="estimate"),
        cov_params=pd.DataFrame(cov, index=names, columns=names),
        **_components(design, level_names, theta * sigma, n_delivery),
        sd_residual=sigma,
        reml_loglik=float(-0.5 * deviance),
        n_obs=n,
        boundary=boundary,
        converged=converged,
        message="; ".join(notes),
        _varpar_names=tuple([f"theta_{level_names[k]}" for k in active] + ["sigma"]),
        _varpar=phi,
        _varpar_cov=varpar_cov,
        _cov_jacobian=np.array(jac),
    )


def _components(design, level_names: list[str], sds: np.ndarray, n_delivery=None) -> dict:
    """SDs and unit counts of the random effects, by MixedFit field."""
    if isinstance(design, InterceptCells):
        return {
            "sd_participant": float(sds[0]),
            "sd_site": None if design.n_sites is None else float(sds[1]),
            "n_groups": design.n_groups,
            "n_sites": design.n_sites,
        }
    sd = dict(zip(level_names, map(float, sds), strict=True))
    units = dict(zip(level_names, design.n_units, strict=True))
    return {
        "sd_participant": sd.get("participant", np.nan),
        "sd_site": sd.get("site"),
        "sd_group": sd["group"],
        "n_groups": units.get("participant", design.n),
        "n_sites": units.get("site"),
        "n_delivery_groups": n_delivery,
    }


def contrast(fit: MixedFit, L, alpha: float = 0.05) -> Contrast:
    """Estimate L beta with a Satterthwaite t test and a (1 - alpha) confidence interval.

    ``L`` is a length-p vector in the order of ``fit.params``, or a Series indexed by
    parameter names (missing names count as 0).
    """
    index = fit.params.index
    if fit._cov_jacobian.shape[0] == 0:
        raise ValueError("fit carries no Satterthwaite information; refit with fit_reml")
    if isinstance(L, pd.Series):
        unknown = [str(k) for k in L.index if k not in index]
        if unknown:
            raise ValueError(f"contrast names {unknown} are not parameters {list(index)}")
        L = L.reindex(index, fill_value=0.0)
    l_vec = np.asarray(L, dtype=float)
    if l_vec.shape != (len(index),):
        raise ValueError(f"L must have shape ({len(index)},), got {l_vec.shape}")
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")

    estimate = float(l_vec @ fit.params.to_numpy())
    var = float(l_vec @ fit.cov_params.to_numpy() @ l_vec)
    if not var > 0:
        raise ValueError("L has zero variance (is L all zeros?)")
    se = float(np.sqrt(var))
    grad = np.array([l_vec @ j @ l_vec for j in fit._cov_jacobian])
    denom = float(grad @ fit._varpar_cov @ grad)
    df = 2.0 * var**2 / denom if denom > 0 else np.inf
    return Contrast.from_t(estimate, se, df, alpha)
