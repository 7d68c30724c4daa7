"""Multiple imputation for sensitivity analyses of score outcomes (issue 13).

- engine: imputation under MAR by arm, sequentially by visit (Bayesian linear regression with
  parameter draws, mice's `norm`), FCS sweeps for non-monotone data; delta adjustment.
- rubin: Rubin's rules with the Barnard-Rubin small-sample df (mice's `pool.scalar`).
- sensitivity: delta grid with common random numbers, the tipping point, and the primary
  mixed model run on the completed data.
"""

from trialeval.imputation.engine import (
    ImputationData,
    completed_frames,
    imputation_data,
    impute,
    is_monotone,
)
from trialeval.imputation.rubin import Pooled, barnard_rubin_df, pool
from trialeval.imputation.sensitivity import (
    MI_COLUMNS,
    TIPPING_COLUMNS,
    completed_by_delta,
    find_tipping_point,
    mixed_model_imputation,
    tipping_point,
)

__all__ = [
    "MI_COLUMNS",
    "TIPPING_COLUMNS",
    "ImputationData",
    "Pooled",
    "barnard_rubin_df",
    "completed_by_delta",
    "completed_frames",
    "find_tipping_point",
    "impute",
    "imputation_data",
    "is_monotone",
    "mixed_model_imputation",
    "pool",
    "tipping_point",
]
