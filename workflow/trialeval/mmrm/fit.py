"""REML fit of a mixed model for repeated measures (MMRM).

Model: for participant i with observed visits P_i (a subset of the t visits),

    y_i ~ N(X_i beta, Sigma[P_i, P_i]),   participants independent,

with Sigma the t x t covariance of a structure from trialeval.mmrm.covariance, REML, visits
categorical. What SAS PROC MIXED fits with ``REPEATED visit / subject=id type=...`` and R's
mmrm / nlme::gls(correlation = corSymm(), weights = varIdent()) fit.

Why it is fast: participants with the same pattern of observed visits share Sigma[P, P]. With
Z = [X y], every quantity REML needs is a sum over patterns of terms sum_ab B_P[a, b] C_P[a, b],
where C_P[a, b] = sum over the pattern's participants of z_ia' z_ib (a (p+1) x (p+1) cross-
product per pair of visits) and B_P is a small k x k matrix (Sigma_P^-1, or products with its
derivatives). The C_P are collected in one pass over the data (O(n t p^2)); after that a
likelihood evaluation costs O(patterns x k^3) for the small inverses plus one matrix product
O(patterns x k^2 x p^2) that does not grow with participants. No n x n matrix is formed. As in
trialeval.mixed, X is replaced by Q from X = QR (and y by its OLS residual) for conditioning.

Optimisation: L-BFGS-B on the structure's free (unconstrained) parameters with the analytic
gradient, then Newton steps on the natural parameters with the analytic Hessian of the REML
deviance until the Newton decrement is below 1e-10 (the gradient is then ~1e-8 or better).
That Hessian, at the optimum, is also what Satterthwaite and Kenward-Roger need (df.py).

Why hand-written: statsmodels has no REML fit with a structured residual covariance (MixedLM
takes random effects only; GLS needs the covariance given), and none with Satterthwaite or
Kenward-Roger df. Measured here: fev_data (537 rows, 11 fixed effects, unstructured 4 x 4) in
about 0.05 s, 100,000 participants x 4 visits in about 1.4 s (python -m
trialeval.benchmark_mmrm), with one BLAS thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize

# The random-intercept engine's rank check (names the dependent columns); shared, not copied.
from trialeval.mixed import _orthogonalise
from trialeval.mmrm.covariance import STRUCTURES, Structure, jacobian, second_derivatives

__all__ = ["MmrmFit", "fit_mmrm"]

_LOG_2PI = float(np.log(2.0 * np.pi))
# Newton decrement g' H^-1 g (deviance units) below which the fit has converged.
_DECREMENT_TOL = 1e-10


@dataclass(frozen=True)
class _Inference:
    """What df.py needs, in the natural covariance parameters theta and on X's scale.

    phi: cov(beta) = (X' V^-1 X)^-1; w: the asymptotic covariance of theta, the inverse of
    the observed information (Hessian of -REML log-likelihood); p_mats[h] = X' dV^-1/dtheta_h X;
    q_mats[h, j] = X' V^-1 V_h V^-1 V_j V^-1 X; r_mats[h, j] = X' V^-1 V_hj V^-1 X (None when
    the structure is linear in theta). Kenward & Roger (1997) notation.
    """

    phi: np.ndarray
    w: np.ndarray
    p_mats: np.ndarray
    q_mats: np.ndarray
    r_mats: np.ndarray | None


@dataclass(frozen=True, eq=False)
class MmrmFit:
    """Result of :func:`fit_mmrm`.

    ``covariance`` is the estimated t x t Sigma (visits in order); ``theta`` its natural
    parameters with SAS's names. ``reml_loglik`` is -1/2 of SAS's "-2 Res Log Likelihood":
    -1/2 [(n - p) log(2 pi) + log|V| + log|X' V^-1 X| + r' V^-1 r].
    """

    params: pd.Series
    cov_params: pd.DataFrame
    structure: str
    covariance: pd.DataFrame
    theta: pd.Series
    reml_loglik: float
    n_obs: int
    n_subjects: int
    n_patterns: int
    visits: tuple
    converged: bool
    message: str
    _inference: _Inference = field(repr=False)


@dataclass(frozen=True)
class _Patterns:
    """Sufficient statistics by pattern of observed visits (memory independent of n)."""

    t: int
    n: int
    p: int
    visits: tuple[np.ndarray, ...]  # observed visit indices of each pattern
    counts: np.ndarray  # participants per pattern
    cross: np.ndarray  # (sum_P k_P^2, (p+1)^2): C_P[a, b] for every pattern, stacked
    start_cov: np.ndarray  # t x t pairwise covariance of the OLS residuals (starting values)
    logdet_rtr: float  # log|R'R|: log|X'V^-1X| = log|Q'V^-1Q| + log|R'R|


@dataclass(frozen=True)
class _State:
    """GLS fit at one Sigma ("X" is the design's Q here)."""

    deviance: float  # -2 REML log-likelihood
    inverses: tuple[np.ndarray, ...]  # Sigma_P^-1 per pattern
    chol: np.ndarray  # lower Cholesky factor of [X y]' V^-1 [X y]
    m_inv: np.ndarray  # (X' V^-1 X)^-1
    beta: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        """w with r = [X y] w: r' B r = w' G(B) w."""
        return np.append(-self.beta, 1.0)


# --------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------


def _pattern_statistics(z: np.ndarray, subject: np.ndarray, visit: np.ndarray, t: int):
    """Stacked cross-products C_P and participant counts, patterns in increasing bit code."""
    n_subjects = int(subject.max()) + 1
    width = z.shape[1]
    wide = np.zeros((n_subjects, t, width))
    wide[subject, visit] = z
    observed = np.zeros((n_subjects, t), dtype=bool)
    observed[subject, visit] = True
    code = observed @ (1 << np.arange(t))
    codes, which = np.unique(code, return_inverse=True)
    visits, counts, blocks = [], [], []
    for index, c in enumerate(codes):
        members = np.flatnonzero(which == index)
        vis = np.flatnonzero((int(c) >> np.arange(t)) & 1)
        k = vis.size
        block = wide[members][:, vis, :].reshape(members.size, k * width)
        cross = (block.T @ block).reshape(k, width, k, width).transpose(0, 2, 1, 3)
        blocks.append(cross.reshape(k * k, width * width))
        visits.append(vis)
        counts.append(members.size)
    resid = wide[:, :, -1]
    pairs = observed.T.astype(float) @ observed
    start = (resid.T @ resid) / np.maximum(pairs, 1.0)
    return tuple(visits), np.array(counts, float), np.vstack(blocks), start


def _positive_definite(s: np.ndarray) -> np.ndarray:
    """s with eigenvalues raised to at least 1e-3 of the largest (a safe starting point)."""
    values, vectors = np.linalg.eigh(0.5 * (s + s.T))
    floor = 1e-3 * max(values.max(), 1e-12)
    return (vectors * np.maximum(values, floor)) @ vectors.T


def _stack(per_pattern: list[np.ndarray]) -> np.ndarray:
    """Per-pattern (..., k, k) matrices flattened and concatenated along the last axis, in
    the row order of _Patterns.cross."""
    return np.concatenate([b.reshape(*b.shape[:-2], -1) for b in per_pattern], axis=-1)


def _gram(data: _Patterns, per_pattern: list[np.ndarray]) -> np.ndarray:
    """G(B) = [X y]' B [X y] for block-diagonal B given per pattern (leading axes kept)."""
    flat = _stack(per_pattern)
    width = data.p + 1
    return (flat @ data.cross).reshape(*flat.shape[:-1], width, width)


# --------------------------------------------------------------------------------------
# The REML likelihood and its derivatives
# --------------------------------------------------------------------------------------


def _evaluate(data: _Patterns, sigma: np.ndarray) -> _State | None:
    """REML deviance and GLS fit at Sigma; None if some Sigma_P is not positive definite."""
    inverses, logdet = [], 0.0
    for vis, count in zip(data.visits, data.counts, strict=True):
        try:
            factor = linalg.cho_factor(sigma[np.ix_(vis, vis)], lower=True)
        except linalg.LinAlgError:
            return None
        inverses.append(linalg.cho_solve(factor, np.eye(vis.size)))
        logdet += count * 2.0 * float(np.log(np.diag(factor[0])).sum())
    try:
        chol = np.linalg.cholesky(_gram(data, inverses))
    except np.linalg.LinAlgError:
        return None
    p = data.p
    l11 = chol[:p, :p]
    beta = linalg.solve_triangular(l11.T, chol[p, :p], lower=False)
    m_inv = linalg.cho_solve((l11, True), np.eye(p))
    deviance = (
        (data.n - p) * _LOG_2PI
        + logdet
        + 2.0 * float(np.log(np.diag(l11)).sum())
        + data.logdet_rtr
        + float(chol[p, p]) ** 2
    )
    return _State(deviance, tuple(inverses), chol, m_inv, beta)


def _sub(d_sigma: np.ndarray, vis: np.ndarray) -> np.ndarray:
    return d_sigma[..., vis[:, None], vis[None, :]]


def _gradient(data: _Patterns, state: _State, d_sigma: np.ndarray) -> np.ndarray:
    """d deviance / d theta_h = tr(V^-1 V_h) - tr(M^-1 X'B_h X) - r'B_h r, B_h = V^-1 V_h V^-1
    (beta profiled: the envelope theorem removes d beta / d theta)."""
    trace = np.zeros(d_sigma.shape[0])
    b = []
    for inv, vis, count in zip(state.inverses, data.visits, data.counts, strict=True):
        a = inv @ _sub(d_sigma, vis)  # V^-1 V_h, per h
        trace += count * np.trace(a, axis1=1, axis2=2)
        b.append(a @ inv)
    g = _gram(data, b)
    p, w = data.p, state.weights
    return trace - np.einsum("ij,hji->h", state.m_inv, g[:, :p, :p]) - g @ w @ w


def _hessian_pieces(data: _Patterns, state: _State, d_sigma, d2_sigma):
    """G(B_h), G(B_hj) and G(B2_hj) plus the log|V| part of the Hessian, where
    B_h = V^-1 V_h V^-1, B_hj = V^-1 V_h V^-1 V_j V^-1, B2_hj = V^-1 V_hj V^-1."""
    k = d_sigma.shape[0]
    logdet_part = np.zeros((k, k))
    b1, b2, b3 = [], [], []
    for inv, vis, count in zip(state.inverses, data.visits, data.counts, strict=True):
        a = inv @ _sub(d_sigma, vis)
        logdet_part -= count * np.einsum("hab,jba->hj", a, a)
        b1.append(a @ inv)
        b2.append(np.einsum("hab,jbc->hjac", a, a) @ inv)
        if d2_sigma is not None:
            a2 = inv @ _sub(d2_sigma, vis)
            logdet_part += count * np.trace(a2, axis1=2, axis2=3)
            b3.append(a2 @ inv)
    g3 = _gram(data, b3) if d2_sigma is not None else None
    return logdet_part, _gram(data, b1), _gram(data, b2), g3


def _hessian(
    data: _Patterns, state: _State, d_sigma, d2_sigma, expected: bool = False
) -> tuple[np.ndarray, tuple]:
    """Hessian of the REML deviance in theta (analytic), and its pieces.

    Observed, d^2/dh dj of log|V| + log|X'V^-1X| + r'V^-1r (beta profiled):
        tr(V^-1 V_hj) - tr(V^-1 V_h V^-1 V_j)
      - tr(M^-1 X'B_j X M^-1 X'B_h X) + tr(M^-1 X'(B_hj + B_jh - B2_hj) X)
      + r'(B_hj + B_jh - B2_hj) r - 2 (X'B_h r)' M^-1 (X'B_j r).
    Expected (Fisher scoring; positive definite whenever theta is identified):
        tr(P V_h P V_j) = tr(V^-1 V_h V^-1 V_j) - 2 tr(M^-1 X'B_hj X)
                          + tr(M^-1 X'B_h X M^-1 X'B_j X).
    """
    pieces = _hessian_pieces(data, state, d_sigma, None if expected else d2_sigma)
    logdet_part, g1, g2, g3 = pieces
    p, w, m_inv = data.p, state.weights, state.m_inv
    mx = np.einsum("ab,hbc->hac", m_inv, g1[:, :p, :p])  # M^-1 X'B_h X
    cross_trace = np.einsum("jab,hba->hj", mx, mx)
    if expected:
        # logdet_part is -tr(V^-1 V_h V^-1 V_j) when second derivatives are left out.
        hess = -logdet_part - 2.0 * np.einsum("ab,hjba->hj", m_inv, g2[:, :, :p, :p])
        return 0.5 * (hess + hess.T) + cross_trace, pieces
    sym = g2 + g2.transpose(1, 0, 2, 3)
    if g3 is not None:
        sym = sym - g3
    xr = g1[:, :p, :] @ w  # X'B_h r
    hess = (
        logdet_part
        - cross_trace
        + np.einsum("ab,hjba->hj", m_inv, sym[:, :, :p, :p])
        + np.einsum("hjab,a,b->hj", sym, w, w)
        - 2.0 * xr @ m_inv @ xr.T
    )
    return 0.5 * (hess + hess.T), pieces


# --------------------------------------------------------------------------------------
# Optimisation
# --------------------------------------------------------------------------------------


class _Problem:
    """The REML deviance as a function of a structure's free or natural parameters."""

    def __init__(self, data: _Patterns, structure: Structure):
        self.data, self.structure, self.t = data, structure, data.t

    def sigma(self, theta):
        return np.real(self.structure.covariance(theta, self.t))

    def d_sigma(self, theta):
        return jacobian(lambda v: self.structure.covariance(v, self.t), theta)

    def free_objective(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.real(self.structure.natural(u, self.t))
        state = _evaluate(self.data, self.sigma(theta))
        if state is None or not np.isfinite(state.deviance):
            return np.inf, np.zeros_like(u)
        grad = _gradient(self.data, state, self.d_sigma(theta))
        chain = jacobian(lambda v: self.structure.natural(v, self.t), u)  # d theta / d u
        return state.deviance, chain @ grad

    def newton(self, theta: np.ndarray, max_iter: int = 100) -> tuple[np.ndarray, bool, str]:
        """Newton-Raphson in theta with step halving, Fisher scoring where the observed
        Hessian is not positive definite (far from the optimum); stops when the Newton
        decrement g' H^-1 g is below _DECREMENT_TOL."""
        state = _evaluate(self.data, self.sigma(theta))
        if state is None:
            return theta, False, "starting covariance is not positive definite"
        decrement, scoring = np.inf, 0
        for iteration in range(max_iter):
            d1 = self.d_sigma(theta)
            grad = _gradient(self.data, state, d1)
            d2 = second_derivatives(self.structure, theta, self.t)
            step = None
            for expected in (False, True):
                hess, _ = _hessian(self.data, state, d1, d2, expected=expected)
                try:
                    step = linalg.solve(hess, grad, assume_a="pos")
                    break
                except (linalg.LinAlgError, ValueError):
                    continue
            if step is None:
                return theta, False, f"information singular after {iteration} step(s)"
            scoring += int(expected)
            decrement = float(grad @ step)
            if decrement < _DECREMENT_TOL and not expected:
                note = f" ({scoring} by Fisher scoring)" if scoring else ""
                return theta, True, f"Newton-Raphson: {iteration} step(s){note}"
            for _ in range(40):
                candidate = theta - step
                new = _evaluate(self.data, self.sigma(candidate))
                if new is not None and new.deviance <= state.deviance + 1e-12 * abs(state.deviance):
                    break
                step = step / 2.0
            else:
                return theta, False, f"no step lowers the deviance after {iteration} step(s)"
            theta, state = candidate, new
        return theta, False, f"decrement {decrement:.1e} after {max_iter} steps"


def _optimise(problem: _Problem) -> tuple[np.ndarray, bool, str]:
    """Newton-Raphson from moment estimates; if that fails, L-BFGS-B on the free parameters
    (every point positive definite) and Newton-Raphson again from where it stops."""
    u0 = problem.structure.start(_positive_definite(problem.data.start_cov))
    theta0 = np.real(problem.structure.natural(u0, problem.t))
    theta, converged, message = problem.newton(theta0)
    if converged:
        return theta, True, message
    notes = [message]
    res = optimize.minimize(
        problem.free_objective,
        u0,
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 1e-14, "gtol": 1e-8, "maxiter": 5000, "maxcor": 20},
    )
    notes.append(f"L-BFGS-B: {res.message} ({res.nit} iterations)")
    if not np.isfinite(res.fun):
        return theta0, False, "; ".join(notes)
    theta, converged, message = problem.newton(np.real(problem.structure.natural(res.x, problem.t)))
    notes.append(message)
    return theta, converged, "; ".join(notes)


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------


def _codes(labels, what: str, n: int, levels=None) -> tuple[np.ndarray, list]:
    labels = pd.Series(np.asarray(labels, dtype=object))
    if labels.shape[0] != n:
        raise ValueError(f"{what} has {labels.shape[0]} labels for {n} observations")
    if labels.isna().any():
        raise ValueError(f"{what} has {int(labels.isna().sum())} missing label(s)")
    if levels is None:
        codes, uniques = pd.factorize(labels, sort=True)
        return codes.astype(np.intp), list(uniques)
    levels = list(levels)
    if len(set(levels)) != len(levels):
        raise ValueError(f"visit order {levels} lists a visit twice")
    lookup = {level: j for j, level in enumerate(levels)}
    unknown = sorted({str(v) for v in labels if v not in lookup})
    if unknown:
        raise ValueError(f"{what} has label(s) {unknown} not in the visit order {levels}")
    codes = labels.map(lookup).to_numpy(dtype=np.intp)
    missing = [levels[j] for j in range(len(levels)) if not np.any(codes == j)]
    if missing:
        raise ValueError(f"visit(s) {missing} of the visit order have no observation")
    return codes, levels


def _prepare(y, x, subject, visit, visits, column_names):
    if column_names is None and isinstance(x, pd.DataFrame):
        column_names = [str(c) for c in x.columns]
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    if y.ndim != 1 or x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"need y of shape (n,) and X of shape (n, p); got {y.shape}, {x.shape}")
    n, p = x.shape
    names = [f"x{j}" for j in range(p)] if column_names is None else [str(c) for c in column_names]
    if len(names) != p or len(set(names)) != p:
        raise ValueError(f"need {p} unique column names, got {names}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"y contains {int(np.sum(~np.isfinite(y)))} NaN or infinite value(s)")
    bad = [names[j] for j in np.flatnonzero(~np.all(np.isfinite(x), axis=0))]
    if bad:
        raise ValueError(f"X contains NaN or infinite values in column(s) {bad}")
    if p == 0 or n <= p:
        raise ValueError(f"need more observations ({n}) than fixed effects ({p}), and p >= 1")
    s_codes, subjects = _codes(subject, "subject", n)
    v_codes, levels = _codes(visit, "visit", n, visits)
    pair = s_codes * len(levels) + v_codes
    # A count per (participant, visit) cell: linear, ~500x faster here than np.unique.
    if np.bincount(pair).max() > 1:
        dup = pd.Series(pair).duplicated().to_numpy()
        first = int(np.flatnonzero(dup)[0])
        raise ValueError(
            f"participant {subjects[s_codes[first]]!r} has more than one observation at "
            f"visit {levels[v_codes[first]]!r}"
        )
    q, r = _orthogonalise(x, names)
    qty = q.T @ y
    resid = y - q @ qty
    if np.linalg.norm(resid) <= 1e-12 * np.linalg.norm(y):
        raise ValueError("y is fitted exactly by X: there is no residual variation to model")
    visits_of, counts, cross, start = _pattern_statistics(
        np.column_stack([q, resid]), s_codes, v_codes, len(levels)
    )
    data = _Patterns(
        t=len(levels),
        n=n,
        p=p,
        visits=visits_of,
        counts=counts,
        cross=cross,
        start_cov=start,
        logdet_rtr=2.0 * float(np.log(np.abs(np.diag(r))).sum()),
    )
    return data, names, levels, len(subjects), (r, qty)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def fit_mmrm(
    y, X, subject, visit, covariance: str = "unstructured", column_names=None, visits=None
) -> MmrmFit:
    """Fit y = X beta + e, e ~ N(0, Sigma) within participant, Sigma of ``covariance``, by REML.

    One row per observed (participant, visit): ``subject`` and ``visit`` label the rows.
    ``visits`` gives the visits in time order (needed by toeplitz and ar1 structures; default
    the sorted labels). ``X`` is the full-rank fixed-effects design including the intercept.
    A fit that does not converge is returned with ``converged=False`` and the reason in
    ``message``. Raises ValueError on bad input (NaN, duplicates, rank-deficient X).
    """
    if covariance not in STRUCTURES:
        raise ValueError(f"unknown covariance {covariance!r}; expected one of {list(STRUCTURES)}")
    data, names, levels, n_subjects, (r, qty) = _prepare(y, X, subject, visit, visits, column_names)
    notes = []
    if data.t == 1 and covariance != "unstructured":
        notes.append(f"one visit: {covariance} reduces to a single variance (unstructured)")
        covariance = "unstructured"
    structure = STRUCTURES[covariance]
    if n_subjects <= structure.n_params(data.t):
        raise ValueError(
            f"{n_subjects} participant(s) cannot identify the {structure.n_params(data.t)} "
            f"parameters of a {covariance} covariance over {data.t} visits"
        )
    problem = _Problem(data, structure)
    theta, converged, message = _optimise(problem)
    notes.append(message)
    sigma = problem.sigma(theta)
    state = _evaluate(data, sigma)
    d1 = problem.d_sigma(theta)
    d2 = second_derivatives(structure, theta, data.t)
    hess, (_, g1, g2, g3) = _hessian(data, state, d1, d2)
    if np.any(np.linalg.eigvalsh(hess) <= 0):
        converged = False
        notes.append("Hessian of the REML deviance is not positive definite")
        w = np.linalg.pinv(0.5 * hess)
    else:
        w = np.linalg.inv(0.5 * hess)  # inverse observed information of -log-likelihood

    # From Q back to X: beta = R^-1 (Q'y + beta_Q), X' B X = R' Q' B Q R.
    p = data.p
    r_inv = linalg.solve_triangular(r, np.eye(p), lower=False)
    beta = r_inv @ (qty + state.beta)
    phi = r_inv @ state.m_inv @ r_inv.T

    def to_x(mats):
        return r.T @ mats[..., :p, :p] @ r

    inference = _Inference(
        phi=phi,
        w=w,
        p_mats=-to_x(g1),
        q_mats=to_x(g2),
        r_mats=None if g3 is None else to_x(g3),
    )
    return MmrmFit(
        params=pd.Series(beta, index=names, name="estimate"),
        cov_params=pd.DataFrame(phi, index=names, columns=names),
        structure=covariance,
        covariance=pd.DataFrame(sigma, index=levels, columns=levels),
        theta=pd.Series(theta, index=structure.names(data.t), name="estimate"),
        reml_loglik=float(-0.5 * state.deviance),
        n_obs=data.n,
        n_subjects=n_subjects,
        n_patterns=len(data.visits),
        visits=tuple(levels),
        converged=bool(converged),
        message="; ".join(notes),
        _inference=inference,
    )
