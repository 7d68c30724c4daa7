"""One chunk of simulated trials: the variance components of the plan, simulation and fit of
every trial of the chunk, one row per trial x outcome x intervention arm."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from trialeval.errors import TrialInputError
from trialeval.power.fast_fit import fit_trials, general_fit
from trialeval.power.simulation import simulate_cluster_trial, simulate_trial
from trialeval.power_plan import CLUSTER

log = logging.getLogger("trialeval.power")

SIM_COLUMNS = [
    "n_total",
    "clusters_per_arm",
    "sim",
    "outcome",
    "arm",
    "estimate",
    "se",
    "df",
    "p_value",
    "reject",
    "method",
    "boundary",
    "sd_participant",
    "sd_residual",
    "sd_cluster",
    "icc",
]


def chunk_bounds(plan: dict, chunk: int) -> tuple[int, int]:
    """Simulation indices [start, stop) of one chunk."""
    if not 0 <= chunk < plan["n_chunks"]:
        raise ValueError(f"chunk {chunk} is not one of 0..{plan['n_chunks'] - 1}")
    start = chunk * plan["chunk_size"]
    return start, min(start + plan["chunk_size"], plan["n_sims"])


def variance_components(plan: dict, diagnostics_path: str | Path | None) -> dict[str, tuple]:
    """{outcome: (sd_participant, sd_residual)}, for a cluster plan (sd_participant,
    sd_residual, sd_cluster): as given, or from the itt row of the repeated-measures model in
    model_diagnostics.csv (from_fit; a cluster plan's ICC from its fitted site SD unless the
    block gives `icc`)."""
    from trialeval.io import read_csv

    cluster = plan.get("design") == CLUSTER
    table = None
    out = {}
    for outcome in plan["outcomes"]:
        if not outcome["from_fit"]:
            sds = (outcome["sd_participant"], outcome["sd_residual"])
            out[outcome["id"]] = (*sds, _sd_cluster(outcome["icc"], *sds)) if cluster else sds
            continue
        if table is None:
            if diagnostics_path is None or not Path(diagnostics_path).is_file():
                raise TrialInputError(
                    f"{diagnostics_path}: model diagnostics not found (power outcomes with "
                    f"from_fit: true read the trial's fitted model)"
                )
            table = read_csv(diagnostics_path)
        rows = table[
            (table["outcome"] == outcome["id"])
            & (table["analysis_set"] == "itt")
            & (table["analysis"] == "mixed_model")
        ]
        columns = ["sd_participant", "sd_residual"] + (["sd_site"] if cluster else [])
        values = rows[columns].to_numpy(dtype=float)
        if len(rows) != 1 or not np.all(np.isfinite(values)) or values[0, 1] <= 0:
            raise TrialInputError(
                f"{diagnostics_path}: no fitted itt mixed model for outcome {outcome['id']!r} "
                f"(power.outcomes from_fit{' with its site SD' if cluster else ''}); give "
                f"sd_participant and sd_residual instead"
            )
        sds = tuple(float(v) for v in values[0])
        if cluster and outcome["icc"] is not None:  # the planned ICC over the fitted one
            sds = (*sds[:2], _sd_cluster(outcome["icc"], *sds[:2]))
        out[outcome["id"]] = sds
    return out


def _sd_cluster(icc: float, sd_participant: float, sd_residual: float) -> float:
    """The cluster SD giving this ICC: icc = c / (c + p + e) in variances."""
    return float(np.sqrt(icc / (1.0 - icc) * (sd_participant**2 + sd_residual**2)))


def _icc_of(sd_cluster: float, sd_participant: float, sd_residual: float) -> float:
    """The cluster's share of the variance of one score."""
    cluster = sd_cluster**2
    return float(cluster / (cluster + sd_participant**2 + sd_residual**2))


def simulate_chunk(plan: dict, components: dict, size: int, start: int, stop: int) -> pd.DataFrame:
    """Simulate and analyse trials start..stop-1 at one size (the total N, or for a cluster
    plan the clusters per arm): one row per trial, outcome and intervention arm (SIM_COLUMNS)."""
    if plan.get("design") == CLUSTER:
        return _simulate_cluster_chunk(plan, components, size, start, stop)
    arm = None
    scores: dict[str, list[np.ndarray]] = {o["id"]: [] for o in plan["outcomes"]}
    for sim in range(start, stop):
        arm, trial = simulate_trial(plan, components, size, sim)
        for outcome_id, y in trial.items():
            scores[outcome_id].append(y)
    frames = []
    for outcome in plan["outcomes"]:
        fit = fit_trials(
            scores[outcome["id"]], arm, len(plan["arms"]), plan["alpha"], plan["estimand"]
        )
        method = np.where(fit.ok, "fast", "general")
        method = np.where(np.isfinite(fit.p_value[:, 0]), method, "failed")
        results = {
            "n_total": size,
            "clusters_per_arm": np.nan,
            "estimate": fit.estimate,
            "se": fit.se,
            "df": fit.df,
            "p_value": fit.p_value,
            "method": method,
            "boundary": fit.sd_participant == 0,
        }
        frames += _sim_rows(plan, components, outcome["id"], np.arange(start, stop), results)
    return pd.concat(frames, ignore_index=True)[SIM_COLUMNS]


def _simulate_cluster_chunk(
    plan: dict, components: dict, clusters_per_arm: int, start: int, stop: int
) -> pd.DataFrame:
    """A cluster plan's chunk: simulated trials fitted by the batched cluster REML
    (trialeval.cluster_reml), trials it cannot settle by trialeval.mixed.fit_reml."""
    n_arms = len(plan["arms"])
    trials = [
        simulate_cluster_trial(plan, components, clusters_per_arm, sim)
        for sim in range(start, stop)
    ]
    n_total = np.array([arm.size for arm, _, _ in trials])
    frames = []
    for outcome in plan["outcomes"]:
        data = [(scores[outcome["id"]], arm, cluster) for arm, cluster, scores in trials]
        results = fit_cluster_trials(data, n_arms, plan["alpha"], plan["estimand"])
        results.update(n_total=n_total, clusters_per_arm=clusters_per_arm)
        frames += _sim_rows(plan, components, outcome["id"], np.arange(start, stop), results)
    return pd.concat(frames, ignore_index=True)[SIM_COLUMNS]


def fit_cluster_trials(
    trials: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    n_arms: int,
    alpha: float = 0.05,
    estimand: str = "diff_in_means",
) -> dict:
    """Fit score ~ arm * visit + (1 | participant) + (1 | cluster) by REML to each trial (y
    (participants, visits) with NaN where missing, arm codes with 0 the control, cluster codes
    0..n_arms k - 1 with clusters a k..(a + 1) k - 1 in arm a) and test the estimand at the
    last visit per intervention arm: {estimate, se, df, p_value ((trials, intervention arms)),
    method (fast / general / failed), boundary (a variance estimated at 0)}."""
    from scipy import special  # here, not at the top: the DAG build imports this module

    from trialeval.cluster_reml import cluster_stats, fit_cluster_batch

    n_clusters = int(max(cluster.max() for _, _, cluster in trials)) + 1
    stats = [cluster_stats(y, arm, cluster, n_arms, n_clusters) for y, arm, cluster in trials]
    fit = fit_cluster_batch(stats, n_arms, estimand)
    est, se, df = fit["estimate"], fit["se"], fit["df"]
    method = np.where(fit["ok"], "fast", "general").astype(object)
    boundary = fit["boundary"].copy()
    for i in np.flatnonzero(~fit["ok"]):
        y, arm, cluster = trials[i]
        try:
            general = general_fit(y, arm, n_arms, alpha, estimand=estimand, cluster=cluster)
        except (ValueError, np.linalg.LinAlgError) as error:
            log.warning("simulated cluster trial %d could not be fitted: %s", i, error)
            method[i] = "failed"
            continue
        contrasts = np.array(general["contrasts"])  # (intervention arms, 4)
        est[i], se[i], df[i] = contrasts[:, 0], contrasts[:, 1], contrasts[:, 2]
        boundary[i] = general["boundary"]
    return {
        "estimate": est,
        "se": se,
        "df": df,
        "p_value": 2.0 * special.stdtr(df, -np.abs(est / se)),
        "method": method,
        "boundary": boundary,
    }


def _sim_rows(plan, components, outcome_id: str, sims: np.ndarray, results: dict) -> list:
    """Per intervention arm, the per-trial rows of one outcome (results: arrays over trials,
    (trials, intervention arms) for the contrast's numbers)."""
    sds = components[outcome_id]
    frames = []
    for j, arm in enumerate(plan["arms"][1:]):
        p_value = results["p_value"][:, j]
        frames.append(
            pd.DataFrame(
                {
                    "n_total": results["n_total"],
                    "clusters_per_arm": results["clusters_per_arm"],
                    "sim": sims,
                    "outcome": outcome_id,
                    "arm": arm["id"],
                    "estimate": results["estimate"][:, j],
                    "se": results["se"][:, j],
                    "df": results["df"][:, j],
                    "p_value": p_value,
                    "reject": p_value < plan["alpha"],
                    "method": results["method"],
                    "boundary": results["boundary"],
                    "sd_participant": sds[0],
                    "sd_residual": sds[1],
                    "sd_cluster": sds[2] if len(sds) > 2 else np.nan,
                    "icc": _icc_of(sds[2], *sds[:2]) if len(sds) > 2 else np.nan,
                }
            )
        )
    return frames
