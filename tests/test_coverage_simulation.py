"""Frequentist properties of the mixed-model pipeline by simulation (slow: `pytest -m slow`).

Repeated two-arm trials (200 participants, baseline + 2 follow-ups, random intercepts, 20%
monotone dropout at random) analysed by models.mixed_model_effects exactly as the pipeline
does. 95% CIs should cover the true diff_in_change about 95% of the time and the null should be
rejected about 5% of the time. With 400 trials the Monte Carlo SE of a 95% coverage is 1.1
points, so the test accepts 92-98% coverage and 2-8.5% type I error (about 3 MC SEs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialeval.models import mixed_model_effects

N_TRIALS = 400
SPEC = {
    "id": "sim",
    "control_arm": "ctl",
    "arms": [{"id": "ctl", "control": True}, {"id": "tx", "control": False}],
    "baseline": "t0",
    "timepoints": [{"id": t, "baseline": t == "t0"} for t in ("t0", "t1", "t2")],
    "covariates": [],
}


def simulate_trial(rng: np.random.Generator, effect: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = 200
    arm = np.where(np.arange(n) < n // 2, "ctl", "tx")
    person = rng.normal(0, 4.0, n)
    rows = []
    for k, tp in enumerate(("t0", "t1", "t2")):
        shift = effect * k / 2 * (arm == "tx")  # effect grows to `effect` at t2
        y = 20 + 1.0 * k + shift + person + rng.normal(0, 3.0, n)
        kept = rng.random(n) > 0.2 * k / 2 if k else np.ones(n, bool)
        rows.append(
            pd.DataFrame({"participant_id": np.arange(n)[kept], "timepoint": tp, "score": y[kept]})
        )
    scores = pd.concat(rows, ignore_index=True)
    participants = pd.DataFrame({"participant_id": np.arange(n), "arm": arm})
    return scores, participants


@pytest.mark.slow
@pytest.mark.parametrize("effect", [0.0, 2.0])
def test_coverage_and_type_one_error(effect):
    rng = np.random.default_rng(20261123)
    covered, rejected = [], []
    for _ in range(N_TRIALS):
        scores, participants = simulate_trial(rng, effect)
        rows, _, _ = mixed_model_effects(
            scores, participants, SPEC, {"id": "y", "role": "primary"}, analysis_set="itt"
        )
        row = rows[(rows["estimand"] == "diff_in_change") & (rows["timepoint"] == "t2")].iloc[0]
        covered.append(row["ci_low"] <= effect <= row["ci_high"])
        rejected.append(row["p_value"] < 0.05)
    coverage = np.mean(covered)
    assert 0.92 <= coverage <= 0.98, coverage
    if effect == 0.0:
        assert 0.02 <= np.mean(rejected) <= 0.085, np.mean(rejected)
    else:
        assert np.mean(rejected) > 0.5  # 2 points with SE ~0.9: power well above one half
