"""Simulating a planned trial: cell means, attrition, arm sizes; cluster plans with gamma-
distributed cluster sizes (see trialeval.power for the model)."""

from __future__ import annotations

import numpy as np

from trialeval.power_plan import allocation


def cell_means(plan: dict, outcome_id: str) -> np.ndarray:
    """(arms, visits) true means: 0 at baseline and in control, the effect at the last visit."""
    n_post = len(plan["visits"]) - 1
    ramp = np.arange(n_post + 1) / n_post
    return np.array([arm["effects"].get(outcome_id, 0.0) * ramp for arm in plan["arms"]])


def _missing(rng: np.random.Generator, n: int, plan: dict) -> np.ndarray:
    """(participants, visits) missing flags. One draw per participant makes dropout monotone:
    missing from the first visit whose cumulative attrition exceeds it."""
    dropout = rng.random(n)
    missing = np.zeros((n, len(plan["visits"])), bool)
    missing[:, 1:] = dropout[:, None] < np.asarray(plan["attrition"])[None, :]
    return missing


def simulate_trial(
    plan: dict, components: dict, n_total: int, sim: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulated trial `sim` at total size n_total: (arm code per participant, control = 0;
    {outcome: (participants, visits) scores with NaN where missing})."""
    sizes = allocation(n_total, [a["ratio"] for a in plan["arms"]])
    arm = np.repeat(np.arange(len(sizes)), sizes)
    n_visits = len(plan["visits"])
    rng = np.random.default_rng(np.random.SeedSequence(plan["seed"], spawn_key=(n_total, sim)))
    missing = _missing(rng, n_total, plan)
    scores = {}
    for outcome in plan["outcomes"]:
        sd_participant, sd_residual = components[outcome["id"]][:2]
        # Drawn for everyone, observed or not: missingness does not shift the random stream.
        y = (
            cell_means(plan, outcome["id"])[arm]
            + sd_participant * rng.standard_normal(n_total)[:, None]
            + sd_residual * rng.standard_normal((n_total, n_visits))
        )
        y[missing] = np.nan
        scores[outcome["id"]] = y
    return arm, scores


def cluster_sizes(rng: np.random.Generator, n_clusters: int, mean: int, cv: float) -> np.ndarray:
    """Participants per cluster: all `mean`, or (cv > 0) gamma draws with that mean and
    coefficient of variation, rounded and at least 1 (so the realised mean is a little above
    `mean` when small clusters are common)."""
    if cv == 0:
        return np.full(n_clusters, mean, dtype=np.intp)
    shape = 1.0 / cv**2
    draws = rng.gamma(shape, mean / shape, size=n_clusters)
    return np.maximum(np.rint(draws), 1).astype(np.intp)


def simulate_cluster_trial(
    plan: dict, components: dict, clusters_per_arm: int, sim: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Simulated cluster-randomized trial `sim` with clusters_per_arm clusters in every arm:
    (arm code per participant, control = 0; cluster code per participant; {outcome:
    (participants, visits) scores with NaN where missing})."""
    n_clusters = len(plan["arms"]) * clusters_per_arm
    n_visits = len(plan["visits"])
    seed = np.random.SeedSequence(plan["seed"], spawn_key=(clusters_per_arm, sim))
    rng = np.random.default_rng(seed)
    sizes = cluster_sizes(rng, n_clusters, plan["cluster_size"], plan["cluster_size_cv"])
    cluster = np.repeat(np.arange(n_clusters), sizes)
    arm = cluster // clusters_per_arm  # clusters 0..k-1 are the control arm's
    n = cluster.size
    missing = _missing(rng, n, plan)
    scores = {}
    for outcome in plan["outcomes"]:
        sd_participant, sd_residual, sd_cluster = components[outcome["id"]]
        y = (
            cell_means(plan, outcome["id"])[arm]
            + sd_cluster * rng.standard_normal(n_clusters)[cluster][:, None]
            + sd_participant * rng.standard_normal(n)[:, None]
            + sd_residual * rng.standard_normal((n, n_visits))
        )
        y[missing] = np.nan
        scores[outcome["id"]] = y
    return arm, cluster, scores
