"""Residual covariance structures of the MMRM: one small class per structure.

Each structure maps a parameter vector to the t x t covariance of a participant's visits.
Two parameterisations:

- *natural* parameters theta, those SAS PROC MIXED reports (variances, covariances,
  correlations). Inference (Satterthwaite, Kenward-Roger) is done in them: Kenward-Roger's
  second-order term depends on the parameterisation, and SAS's ``ddfm=kr`` is defined in
  these. ``covariance(theta, t)`` is the map the tests pin down.
- *free* parameters u, unconstrained (log variances, Fisher-z or logistic correlations,
  Cholesky factors, partial autocorrelations), in which the optimiser moves; every u gives a
  positive definite covariance. ``natural(u, t)`` maps u to theta.

The maps use plain arithmetic only (no abs, no conjugates, no linear algebra), so they accept
complex input: derivatives of the covariance with respect to theta, and of theta with
respect to u, are then exact to rounding by the complex-step method (:func:`jacobian`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "STRUCTURES",
    "Ar1",
    "Ar1Heterogeneous",
    "CompoundSymmetry",
    "CompoundSymmetryHeterogeneous",
    "Structure",
    "Toeplitz",
    "ToeplitzHeterogeneous",
    "Unstructured",
    "jacobian",
    "second_derivatives",
]

# Complex-step size: f'(x) = Im f(x + ih) / h has no subtractive cancellation, so h can be tiny.
_COMPLEX_STEP = 1e-30
# Largest |correlation| (or partial autocorrelation) a starting value is clipped to.
_START_CLIP = 0.9


def _lags(t: int) -> np.ndarray:
    index = np.arange(t)
    return np.abs(index[:, None] - index[None, :])


def _scale(variances, correlation):
    """sqrt(v_i v_j) R_ij (complex-safe)."""
    sd = np.sqrt(variances)
    return sd[:, None] * correlation * sd[None, :]


def _acf_from_pacf(pacf) -> list:
    """Autocorrelations rho_1..rho_m from partial autocorrelations (Durbin-Levinson).

    Any partial autocorrelations in (-1, 1) give a positive definite Toeplitz correlation
    matrix and every such matrix arises this way (Barndorff-Nielsen & Schou 1973), so
    atanh(pacf) is an unconstrained parameterisation of the Toeplitz structures.
    """
    rho = [1.0]
    phi: list = []  # AR coefficients of the current order
    for a in pacf:
        phi = [phi[j] - a * phi[len(phi) - 1 - j] for j in range(len(phi))] + [a]
        k = len(phi)
        rho.append(sum(phi[j] * rho[k - 1 - j] for j in range(k)))
    return rho[1:]


def _pacf_from_acf(rho) -> np.ndarray:
    """The inverse of :func:`_acf_from_pacf` for real input, each value clipped to
    +-_START_CLIP (starting values only: the clipped sequence stays valid)."""
    pacf, phi = [], np.empty(0)
    full = np.concatenate([[1.0], np.asarray(rho, float)])
    for k in range(1, len(full)):
        num = full[k] - phi @ full[k - 1 : 0 : -1] if phi.size else full[k]
        den = 1.0 - phi @ full[1:k] if phi.size else 1.0
        a = float(np.clip(num / den if den > 0 else 0.0, -_START_CLIP, _START_CLIP))
        phi = np.append(phi - a * phi[::-1], a)
        pacf.append(a)
        # Keep the autocorrelations consistent with the clipped value for the next order.
        full[1 : k + 1] = np.real(_acf_from_pacf(pacf))
    return np.array(pacf)


def _bounded(u, low: float):
    """Map the real line onto (low, 1) (complex-safe logistic)."""
    return low + (1.0 - low) / (1.0 + np.exp(-u))


def _unbounded(value: float, low: float) -> float:
    x = float(np.clip((value - low) / (1.0 - low), 0.05, 0.95))
    return float(np.log(x / (1.0 - x)))


def _diagonal_means(s: np.ndarray) -> np.ndarray:
    """Mean of each off-diagonal band of s: lag 1, ..., t - 1."""
    return np.array([np.diagonal(s, k).mean() for k in range(1, s.shape[0])])


def _correlation(s: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(s))
    return s / sd[:, None] / sd[None, :]


class Structure:
    """Base class: subclasses define the parameter names and the three maps."""

    name: str = ""
    linear: bool = False  # covariance linear in theta, so second derivatives vanish

    def names(self, t: int) -> list[str]:
        raise NotImplementedError

    def n_params(self, t: int) -> int:
        return len(self.names(t))

    def covariance(self, theta, t: int) -> np.ndarray:
        raise NotImplementedError

    def natural(self, u, t: int):
        raise NotImplementedError

    def start(self, s: np.ndarray) -> np.ndarray:
        """Free parameters u of a structure close to the positive definite sample covariance s."""
        raise NotImplementedError


class Unstructured(Structure):
    """Every variance and covariance free: t (t + 1) / 2 parameters.

    theta: the lower triangle by rows, SAS's UN(1,1), UN(2,1), UN(2,2), UN(3,1), ...
    u: the lower Cholesky factor by rows, log of its diagonal.
    """

    name = "unstructured"
    linear = True

    def names(self, t):
        return [f"UN({i + 1},{j + 1})" for i in range(t) for j in range(i + 1)]

    def covariance(self, theta, t):
        theta = np.asarray(theta)
        rows, cols = np.tril_indices(t)
        out = np.zeros((t, t), dtype=np.result_type(theta, float))
        out[rows, cols] = theta
        out[cols, rows] = theta
        return out

    def natural(self, u, t):
        u = np.asarray(u)
        rows, cols = np.tril_indices(t)
        chol = np.zeros((t, t), dtype=np.result_type(u, float))
        diagonal = rows == cols
        chol[rows, cols] = np.where(diagonal, np.exp(np.where(diagonal, u, 0.0)), u)
        return (chol @ chol.T)[rows, cols]

    def start(self, s):
        chol = np.linalg.cholesky(s)
        rows, cols = np.tril_indices(s.shape[0])
        u = chol[rows, cols].copy()
        u[rows == cols] = np.log(u[rows == cols])
        return u


class Toeplitz(Structure):
    """One variance, one covariance per lag: t parameters.

    theta: SAS's TOEP(1) = variance, TOEP(k + 1) = covariance at lag k.
    u: log variance, atanh of the partial autocorrelations.
    """

    name = "toeplitz"
    linear = True

    def names(self, t):
        return [f"TOEP({k + 1})" for k in range(t)]

    def covariance(self, theta, t):
        return np.asarray(theta)[_lags(t)]

    def natural(self, u, t):
        variance = np.exp(u[0])
        rho = _acf_from_pacf([np.tanh(x) for x in u[1:]])
        return np.array([variance, *[variance * r for r in rho]])

    def start(self, s):
        variance = np.diag(s).mean()
        pacf = _pacf_from_acf(_diagonal_means(s) / variance)
        return np.concatenate([[np.log(variance)], np.arctanh(pacf)])


class ToeplitzHeterogeneous(Structure):
    """A variance per visit, one correlation per lag: 2t - 1 parameters.

    theta: Var(1..t), then the lag correlations (SAS's TOEPH(1..t-1)).
    u: log variances, atanh of the partial autocorrelations.
    """

    name = "toeplitz_heterogeneous"

    def names(self, t):
        return [f"Var({k + 1})" for k in range(t)] + [f"TOEPH({k + 1})" for k in range(t - 1)]

    def covariance(self, theta, t):
        theta = np.asarray(theta)
        rho = np.concatenate([np.ones(1, dtype=theta.dtype), theta[t:]])
        return _scale(theta[:t], rho[_lags(t)])

    def natural(self, u, t):
        rho = _acf_from_pacf([np.tanh(x) for x in u[t:]])
        return np.concatenate([np.exp(u[:t]), np.array(rho, dtype=np.result_type(u, float))])

    def start(self, s):
        pacf = _pacf_from_acf(_diagonal_means(_correlation(s)))
        return np.concatenate([np.log(np.diag(s)), np.arctanh(pacf)])


class Ar1(Structure):
    """First-order autoregressive: variance * rho^|i - j|, 2 parameters.

    theta: variance (SAS's Residual), rho (SAS's AR(1)). u: log variance, atanh rho.
    """

    name = "ar1"

    def names(self, t):
        return ["Residual", "AR(1)"]

    def covariance(self, theta, t):
        variance, rho = theta
        return variance * rho ** _lags(t)

    def natural(self, u, t):
        return np.array([np.exp(u[0]), np.tanh(u[1])])

    def start(self, s):
        lag1 = _diagonal_means(_correlation(s))[0] if s.shape[0] > 1 else 0.0
        rho = float(np.clip(lag1, -_START_CLIP, _START_CLIP))
        return np.array([np.log(np.diag(s).mean()), np.arctanh(rho)])


class Ar1Heterogeneous(Structure):
    """Autoregressive correlation with a variance per visit: t + 1 parameters.

    theta: Var(1..t), rho (SAS's ARH(1)). u: log variances, atanh rho.
    """

    name = "ar1_heterogeneous"

    def names(self, t):
        return [f"Var({k + 1})" for k in range(t)] + ["ARH(1)"]

    def covariance(self, theta, t):
        theta = np.asarray(theta)
        return _scale(theta[:t], theta[t] ** _lags(t))

    def natural(self, u, t):
        return np.concatenate([np.exp(u[:t]), [np.tanh(u[t])]])

    def start(self, s):
        lag1 = _diagonal_means(_correlation(s))[0] if s.shape[0] > 1 else 0.0
        rho = float(np.clip(lag1, -_START_CLIP, _START_CLIP))
        return np.concatenate([np.log(np.diag(s)), [np.arctanh(rho)]])


class CompoundSymmetry(Structure):
    """Equal variances, equal covariances: 2 parameters.

    theta: the within-participant variance (SAS's Residual) and the common covariance (SAS's
    CS): covariance = Residual * I + CS * J. The covariance may be negative, down to what
    keeps the matrix positive definite (as in SAS's REPEATED statement and nlme::corCompSymm).
    u: log total variance, logistic of the correlation on (-1 / (t - 1), 1).
    """

    name = "compound_symmetry"
    linear = True

    def names(self, t):
        return ["Residual", "CS"]

    def covariance(self, theta, t):
        residual, common = theta
        return residual * np.eye(t) + common * np.ones((t, t))

    def natural(self, u, t):
        total, rho = np.exp(u[0]), _bounded(u[1], -1.0 / max(t - 1, 1))
        return np.array([total * (1.0 - rho), total * rho])

    def start(self, s):
        t = s.shape[0]
        rho = _diagonal_means(_correlation(s)).mean() if t > 1 else 0.0
        return np.array([np.log(np.diag(s).mean()), _unbounded(rho, -1.0 / max(t - 1, 1))])


class CompoundSymmetryHeterogeneous(Structure):
    """A variance per visit, one common correlation: t + 1 parameters.

    theta: Var(1..t), rho (SAS's CSH). u: log variances, logistic of rho on (-1 / (t - 1), 1).
    """

    name = "compound_symmetry_heterogeneous"

    def names(self, t):
        return [f"Var({k + 1})" for k in range(t)] + ["CSH"]

    def covariance(self, theta, t):
        theta = np.asarray(theta)
        rho = theta[t]
        return _scale(theta[:t], rho + (1.0 - rho) * np.eye(t))

    def natural(self, u, t):
        return np.concatenate([np.exp(u[:t]), [_bounded(u[t], -1.0 / max(t - 1, 1))]])

    def start(self, s):
        t = s.shape[0]
        rho = _diagonal_means(_correlation(s)).mean() if t > 1 else 0.0
        return np.concatenate([np.log(np.diag(s)), [_unbounded(rho, -1.0 / max(t - 1, 1))]])


STRUCTURES: dict[str, Structure] = {
    s.name: s
    for s in (
        Unstructured(),
        Toeplitz(),
        ToeplitzHeterogeneous(),
        Ar1(),
        Ar1Heterogeneous(),
        CompoundSymmetry(),
        CompoundSymmetryHeterogeneous(),
    )
}


def jacobian(f, x: np.ndarray) -> np.ndarray:
    """d f / d x_k for each k, stacked on the first axis, by the complex step (exact to
    rounding for the complex-safe maps above)."""
    x = np.asarray(x, float)
    out = []
    for k in range(x.size):
        step = x.astype(complex)
        step[k] += 1j * _COMPLEX_STEP
        out.append(np.imag(np.asarray(f(step))) / _COMPLEX_STEP)
    return np.array(out)


def second_derivatives(structure: Structure, theta: np.ndarray, t: int) -> np.ndarray | None:
    """d^2 Sigma / d theta_h d theta_j, shape (k, k, t, t); None for linear structures.

    Central differences of the exact first derivatives: the error is of order step^2 times
    the third derivative, about 1e-10 relative with these steps.
    """
    if structure.linear:
        return None
    theta = np.asarray(theta, float)

    def first(x):
        return jacobian(lambda v: structure.covariance(v, t), x)

    out = np.empty((theta.size, theta.size, t, t))
    for j in range(theta.size):
        h = 1e-5 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        out[:, j] = (first(up) - first(down)) / (2.0 * h)
    return 0.5 * (out + out.transpose(1, 0, 2, 3))
