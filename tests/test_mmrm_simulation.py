"""Type I error of the MMRM where the random-intercept model fails (slow: `pytest -m slow`).

Issue 11's scenario: two-arm trials, 100 participants per arm, 4 visits (baseline + 3
follow-ups) with AR(1) correlation 0.8 between visits, no effect of arm, complete data. Each
trial is analysed by models.mixed_model_effects exactly as the pipeline does, twice:
`model: mmrm` (unstructured, Satterthwaite; estimand adjusted_diff at the last visit) and
`model: repeated` (random intercept; diff_in_change at the last visit). A random intercept
forces equal correlation between all visits, which overstates the correlation between
baseline and the last visit here, so its SE is too small and it rejects too often; the MMRM
estimates the correlation. With 1,000 trials the Monte Carlo SE of a 5% rejection rate is 0.7
points: the MMRM must stay within 0.05 +/- 0.02 (about 3 MC SEs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialeval.models import mixed_model_effects

N_TRIALS = 1000
N_PER_ARM = 100
VISITS = ("t0", "t1", "t2", "t3")
RHO = 0.8
SPEC = {
    "id": "sim",
    "control_arm": "ctl",
    "arms": [{"id": "ctl", "control": True}, {"id": "tx", "control": False}],
    "baseline": "t0",
    "timepoints": [{"id": t, "baseline": t == "t0"} for t in VISITS],
    "covariates": [],
}
OUTCOME = {"id": "y", "role": "primary"}


def simulate_trial(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = 2 * N_PER_ARM
    lag = np.abs(np.subtract.outer(np.arange(len(VISITS)), np.arange(len(VISITS))))
    scores = rng.multivariate_normal(20.0 + np.arange(len(VISITS)), 16.0 * RHO**lag, size=n)
    long = pd.DataFrame(
        {
            "participant_id": np.repeat(np.arange(n), len(VISITS)),
            "timepoint": np.tile(VISITS, n),
            "score": scores.ravel(),
        }
    )
    participants = pd.DataFrame({"participant_id": np.arange(n), "arm": ["ctl", "tx"] * N_PER_ARM})
    return long, participants


def _last_visit_p(scores, participants, model: str, estimand: str) -> float:
    rows, _, _ = mixed_model_effects(
        scores, participants, SPEC, OUTCOME, analysis_set="itt", model=model
    )
    row = rows[(rows["estimand"] == estimand) & (rows["timepoint"] == VISITS[-1])].iloc[0]
    return float(row["p_value"])


@pytest.mark.slow
def test_mmrm_holds_type_one_error_where_the_random_intercept_does_not():
    rng = np.random.default_rng(20261201)
    mmrm, random_intercept = [], []
    for _ in range(N_TRIALS):
        scores, participants = simulate_trial(rng)
        mmrm.append(_last_visit_p(scores, participants, "mmrm", "adjusted_diff") < 0.05)
        random_intercept.append(
            _last_visit_p(scores, participants, "repeated", "diff_in_change") < 0.05
        )
    rate_mmrm, rate_ri = np.mean(mmrm), np.mean(random_intercept)
    mc_se = np.sqrt(0.05 * 0.95 / N_TRIALS)
    print(
        f"\ntype I error at the last visit, {N_TRIALS} trials (MC SE {mc_se:.3f}): "
        f"MMRM (unstructured) {rate_mmrm:.3f}, random intercept {rate_ri:.3f}"
    )
    assert 0.03 <= rate_mmrm <= 0.07, rate_mmrm
    assert rate_ri > rate_mmrm + 0.03, (rate_ri, rate_mmrm)
