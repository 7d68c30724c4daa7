"""Mixed model for repeated measures (MMRM): residual covariance within participant, REML.

- ``covariance``: the structures (unstructured, toeplitz, ar1, compound symmetry and their
  heterogeneous variants), each a map from a parameter vector to the visit x visit covariance;
- ``fit``: :func:`fit_mmrm`, the REML core shared by every structure;
- ``df``: :func:`contrast` with Satterthwaite or Kenward-Roger degrees of freedom.
"""

from trialeval.mmrm.covariance import STRUCTURES
from trialeval.mmrm.df import DF_METHODS, contrast, kenward_roger_covariance
from trialeval.mmrm.fit import MmrmFit, fit_mmrm

__all__ = [
    "DF_METHODS",
    "STRUCTURES",
    "MmrmFit",
    "contrast",
    "fit_mmrm",
    "kenward_roger_covariance",
]
