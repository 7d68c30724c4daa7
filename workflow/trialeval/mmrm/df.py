"""Degrees of freedom for a contrast L beta of an MMRM fit: Satterthwaite and Kenward-Roger.

Both work in the structure's natural covariance parameters theta (SAS's), with W the
inverse observed information of theta at the REML estimate, Phi = (X' V^-1 X)^-1 and
P_h = X' dV^-1/dtheta_h X (Kenward & Roger 1997).

- Satterthwaite, as SAS ``ddfm=satterthwaite``, lmerTest and mmrm compute it:
  df = 2 (L Phi L')^2 / (g' W g) with g_h = d(L Phi L')/d theta_h = -L Phi P_h Phi L'.
  The SE is the model-based one. (Invariant to the parameterisation of theta.)
- Kenward-Roger, as SAS ``ddfm=kr``: the SE from the bias-corrected covariance
      Phi_A = Phi + 2 Phi [sum_hj W_hj (Q_hj - P_h Phi P_j - R_hj / 4)] Phi
  and the df of Kenward & Roger's F approximation. R_hj (second derivatives of V) depends on
  the parameterisation; in SAS's (and so here) it vanishes for the structures that are linear
  in theta (unstructured, toeplitz, compound symmetry), where ``ddfm=kr`` and
  ``ddfm=kr(linear)`` coincide; R's mmrm calls the latter "Kenward-Roger-Linear" (its own
  unstructured parameterisation is a Cholesky factor, in which R_hj does not vanish). With
  ``linear=True`` R_hj is dropped for every structure, as SAS's ``kr(linear)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialeval.mixed import Contrast
from trialeval.mmrm.fit import MmrmFit

__all__ = ["DF_METHODS", "contrast", "kenward_roger_covariance"]

DF_METHODS = ("satterthwaite", "kenward_roger")


def _vector(fit: MmrmFit, L) -> np.ndarray:
    index = fit.params.index
    if isinstance(L, pd.Series):
        unknown = [str(k) for k in L.index if k not in index]
        if unknown:
            raise ValueError(f"contrast names {unknown} are not parameters {list(index)}")
        L = L.reindex(index, fill_value=0.0)
    vector = np.asarray(L, dtype=float)
    if vector.shape != (len(index),):
        raise ValueError(f"L must have shape ({len(index)},), got {vector.shape}")
    return vector


def kenward_roger_covariance(fit: MmrmFit, linear: bool = False) -> np.ndarray:
    """Kenward-Roger's bias-corrected covariance of beta, Phi_A (SAS ddfm=kr)."""
    inf = fit._inference
    phi, w = inf.phi, inf.w
    pp = np.einsum("hab,bc,jcd->hjad", inf.p_mats, phi, inf.p_mats)  # P_h Phi P_j
    inner = inf.q_mats - pp
    if inf.r_mats is not None and not linear:
        inner = inner - 0.25 * inf.r_mats
    middle = np.einsum("hj,hjab->ab", w, inner)
    return phi + 2.0 * phi @ middle @ phi


def _satterthwaite_df(fit: MmrmFit, vector: np.ndarray, variance: float) -> float:
    inf = fit._inference
    side = inf.phi @ vector
    grad = -np.einsum("a,hab,b->h", side, inf.p_mats, side)
    denom = float(grad @ inf.w @ grad)
    return 2.0 * variance**2 / denom if denom > 0 else np.inf


def _kenward_roger_df(fit: MmrmFit, vector: np.ndarray) -> float:
    """Kenward & Roger's (1997) df for one contrast row (q = 1), with Theta built from the
    unadjusted Phi, as SAS and mmrm do."""
    inf = fit._inference
    phi, q = inf.phi, 1
    theta = np.outer(vector, vector) / float(vector @ phi @ vector)
    t = np.einsum("ab,bc,hcd,de->hae", theta, phi, inf.p_mats, phi)  # Theta Phi P_h Phi
    traces = np.trace(t, axis1=1, axis2=2)
    a1 = float(traces @ inf.w @ traces)
    a2 = float(np.einsum("hj,hab,jba->", inf.w, t, t))
    b = (a1 + 6.0 * a2) / (2.0 * q)
    g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
    denom = 3.0 * q + 2.0 - 2.0 * g
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2 - g) / denom
    e_star = 1.0 / (1.0 - a2 / q)
    v_star = (2.0 / q) * (1.0 + c1 * b) / ((1.0 - c2 * b) ** 2 * (1.0 - c3 * b))
    rho = v_star / (2.0 * e_star**2)
    return 4.0 + (q + 2.0) / (q * rho - 1.0)


def contrast(
    fit: MmrmFit, L, df: str = "satterthwaite", alpha: float = 0.05, linear: bool = False
) -> Contrast:
    """Estimate L beta with a t test and a (1 - alpha) CI, df by ``df`` (see DF_METHODS).

    ``L`` is a length-p vector in the order of ``fit.params`` or a Series indexed by parameter
    names (missing names count as 0). ``linear`` applies to Kenward-Roger only (SAS kr(linear)).
    """
    if df not in DF_METHODS:
        raise ValueError(f"unknown df method {df!r}; expected one of {list(DF_METHODS)}")
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    vector = _vector(fit, L)
    estimate = float(vector @ fit.params.to_numpy())
    model_variance = float(vector @ fit._inference.phi @ vector)
    if not model_variance > 0:
        raise ValueError("L has zero variance (is L all zeros?)")
    if df == "satterthwaite":
        variance = model_variance
        dof = _satterthwaite_df(fit, vector, model_variance)
    else:
        variance = float(vector @ kenward_roger_covariance(fit, linear) @ vector)
        dof = _kenward_roger_df(fit, vector)
    return Contrast.from_t(estimate, float(np.sqrt(variance)), dof, alpha)
