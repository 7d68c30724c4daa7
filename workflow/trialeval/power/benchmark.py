"""Speed of the fast paths against the general engine on the same simulated trials
(`python -m trialeval.power`)."""

from __future__ import annotations

import time

from trialeval.power.chunks import _sd_cluster, _simulate_cluster_chunk
from trialeval.power.fast_fit import fit_trials, general_fit
from trialeval.power.simulation import simulate_cluster_trial, simulate_trial
from trialeval.power_plan import CLUSTER


def benchmark(
    n_participants: int = 390,
    n_sims: int = 1000,
    n_general: int = 30,
    attrition: float = 0.25,
    seed: int = 20261124,
) -> dict:
    """Simulated-trial fits per second: the fast path (statistics + fit, and with the
    simulation included) against fit_reml + contrast on the same trials (2 arms, 2 visits).

    For a per-core figure run with one BLAS thread (OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
    python -m trialeval.power): on a busy machine a multi-threaded BLAS slows the general
    engine's many small linear-algebra calls several-fold and makes the ratio erratic.
    """
    plan = {
        "arms": [
            {"id": "control", "ratio": 1.0, "effects": {}},
            {"id": "treated", "ratio": 1.0, "effects": {"y": 0.3}},
        ],
        "visits": ["baseline", "post"],
        "attrition": [attrition],
        "outcomes": [{"id": "y"}],
        "seed": seed,
    }
    components = {"y": (0.43, 0.37)}
    began = time.perf_counter()
    trials = [simulate_trial(plan, components, n_participants, k) for k in range(n_sims)]
    simulate_s = time.perf_counter() - began
    arm = trials[0][0]
    ys = [scores["y"] for _, scores in trials]
    # Untimed warm-up: first calls import scipy.optimize and fill numpy caches.
    fit_trials(ys[:2], arm, 2)
    general_fit(ys[0], arm, 2)
    began = time.perf_counter()
    fast = fit_trials(ys, arm, 2)
    fast_s = time.perf_counter() - began
    began = time.perf_counter()
    general = [general_fit(y, arm, 2) for y in ys[:n_general]]
    general_s = time.perf_counter() - began
    worst = max(
        abs(g["contrasts"][0][2] - fast.df[i, 0]) / g["contrasts"][0][2]
        for i, g in enumerate(general)
    )
    result = {
        "n_participants": n_participants,
        "fast_fits_per_s": n_sims / fast_s,
        "fast_with_simulation_per_s": n_sims / (fast_s + simulate_s),
        "general_fits_per_s": n_general / general_s,
        "speedup": (n_sims / fast_s) / (n_general / general_s),
        "max_rel_df_difference": worst,
    }
    print(
        f"{n_participants} participants x 2 visits, {attrition:.0%} attrition: fast path "
        f"{result['fast_fits_per_s']:,.0f} fits/s ({result['fast_with_simulation_per_s']:,.0f}/s "
        f"with simulation), fit_reml + contrast {result['general_fits_per_s']:,.1f} fits/s: "
        f"{result['speedup']:,.0f}x (max relative df difference {worst:.1e})"
    )
    return result


def benchmark_cluster(
    clusters_per_arm: int = 10,
    cluster_size: int = 20,
    n_sims: int = 500,
    n_general: int = 20,
    seed: int = 20261201,
) -> dict:
    """Simulated cluster-trial fits per second (2 arms, 2 visits, cluster sizes with CV 0.4,
    20% attrition, ICC 0.05): the batched cluster REML (simulation included) against
    trialeval.mixed.fit_reml + contrast on the same trials."""
    plan = {
        "design": CLUSTER,
        "arms": [
            {"id": "control", "ratio": 1.0, "effects": {}},
            {"id": "treated", "ratio": 1.0, "effects": {"y": 0.3}},
        ],
        "visits": ["baseline", "post"],
        "attrition": [0.2],
        "outcomes": [{"id": "y", "from_fit": False, "sd_participant": 1.0, "sd_residual": 1.0}],
        "estimand": "diff_in_means",
        "alpha": 0.05,
        "cluster_size": cluster_size,
        "cluster_size_cv": 0.4,
        "seed": seed,
    }
    components = {"y": (1.0, 1.0, _sd_cluster(0.05, 1.0, 1.0))}
    # Untimed warm-up: first calls import scipy and fill numpy caches.
    _simulate_cluster_chunk(plan, components, clusters_per_arm, 0, 2)
    began = time.perf_counter()
    sims = _simulate_cluster_chunk(plan, components, clusters_per_arm, 0, n_sims)
    fast_s = time.perf_counter() - began
    trials = [
        simulate_cluster_trial(plan, components, clusters_per_arm, k) for k in range(n_general)
    ]
    began = time.perf_counter()
    general = [
        general_fit(scores["y"], arm, 2, estimand="diff_in_means", cluster=cluster)
        for arm, cluster, scores in trials
    ]
    general_s = time.perf_counter() - began
    worst = max(
        abs(g["contrasts"][0][2] - df) / g["contrasts"][0][2]
        for g, df in zip(general, sims["df"], strict=False)
    )
    result = {
        "fast_with_simulation_per_s": n_sims / fast_s,
        "general_fits_per_s": n_general / general_s,
        "speedup": (n_sims / fast_s) / (n_general / general_s),
        "max_rel_df_difference": worst,
        "n_general_fallback": int((sims["method"] == "general").sum()),
    }
    print(
        f"cluster plan, {clusters_per_arm} clusters per arm of {cluster_size} (CV 0.4) x 2 "
        f"visits: batched cluster REML {result['fast_with_simulation_per_s']:,.0f} trials/s "
        f"with simulation, fit_reml + contrast {result['general_fits_per_s']:,.1f} fits/s: "
        f"{result['speedup']:,.0f}x (max relative df difference {worst:.1e}; "
        f"{result['n_general_fallback']} of {n_sims} left to the general engine)"
    )
    return result
