"""Power of a planned trial by simulation: the `power` block of a trial file.

Modules: simulation (the planned trial), fast_fit (batched REML of the pipeline's model),
chunks (one chunk of simulated trials), summary (power and the smallest sizes), figure (the
power curve), run (the rule entries), benchmark (`python -m trialeval.power`).

The planned trial
    Arms with allocation ratios (exactly one control; arms of this trial or new ones), visits
    (the first is the baseline), per outcome the variance components, given or taken from this
    trial's fitted model (results/<trial>/tables/model_diagnostics.csv, intention-to-treat row
    of the repeated-measures model), per intervention arm and outcome the expected difference
    at the last visit (in change from baseline, which is also the difference in means there:
    baselines do not differ), and attrition. A simulated participant has

        y_it = mu[arm, t] + b_i + e_it,  b_i ~ N(0, sd_participant^2), e_it ~ N(0, sd_residual^2),

    mu = 0 at baseline and in the control arm; an intervention arm reaches its effect at the
    last visit, linearly over the post visits (intermediate means cannot change the test: every
    arm x visit cell has its own mean in the model). Attrition is monotone and completely at
    random: one uniform draw per participant, missing at post visit t and later when the draw
    is below attrition[t]; baselines are observed. Arm sizes are fixed: the total split by the
    ratios (largest remainder). Sites are not simulated (the planned analysis has none).

A cluster-randomized plan (a trial of design cluster_rct)
    Every arm has k clusters (`clusters_per_arm`, the list scanned) of `cluster_size`
    participants, or of sizes drawn from a gamma distribution with that mean and coefficient
    of variation `cluster_size_cv` (rounded, at least 1). A participant of cluster j has

        y_ijt = mu[arm, t] + c_j + b_i + e_ijt,  c_j ~ N(0, sd_cluster^2),

    with sd_cluster from the ICC, the cluster's share of the variance of one score:
    icc = sd_cluster^2 / (sd_cluster^2 + sd_participant^2 + sd_residual^2). The cluster effect
    is the same at every visit (no cluster-by-visit variance), as in the pipeline's model.

The analysis
    As the pipeline analyses a trial (trialeval.models, model `repeated`, no covariates):
    score ~ arm * visit + (1 | participant) by REML, + (1 | site) for a cluster plan (the
    pipeline's cluster_rct model); per intervention arm the `estimand` at the last visit
    (diff_in_change, the arm-by-visit interaction, or diff_in_means) with Satterthwaite df,
    two-sided t test at alpha. Power = share of simulated trials that reject. Cluster plans
    are fitted by a batched REML of the same model (trialeval.cluster_reml, tested against
    trialeval.mixed), with trialeval.mixed.fit_reml for the trials it cannot settle.

The fast path (`fit_trials`, individually randomized plans)
    arm * visit is saturated: one fixed mean per arm x visit cell. With H_i = I + psi 11'
    (psi = theta^2 = sd_participant^2 / sd_residual^2) and c_i = psi / (1 + n_i psi), Woodbury
    gives

        X'H^-1X = diag(cell counts) - sum_i c_i s_i s_i',   log|H| = sum_i log(1 + n_i psi),
        X'H^-1y = cell sums - sum_i c_i s_i (1'y_i),        y'H^-1y = y'y - sum_i c_i (1'y_i)^2,

    s_i the indicator of participant i's observed cells. c_i depends on i only through the
    number of visits observed, so a simulated trial reduces to counts, sums and sums of squared
    participant totals per (arm, pattern of observed visits): a few dozen numbers, collected in
    one pass. X'H^-1X is block diagonal by arm (visits x visits blocks). The profiled REML
    deviance and its first two derivatives in psi are closed-form in these numbers and are
    evaluated for a whole batch of simulated trials at once (numpy arrays over trials); a
    bracketed Newton iteration finds each trial's psi, and the Satterthwaite df use the
    analytic Hessian of the deviance in (theta, sigma), lmerTest's parameterisation, which
    trialeval.mixed evaluates numerically. A trial the fast path cannot settle is refitted with
    trialeval.mixed (method `general` in the per-simulation rows).

Reproducibility
    Simulated trial k at total size N (a cluster plan: at C clusters per arm) draws from
    SeedSequence(seed, spawn_key=(N, k)) (spawn_key=(C, k)). A chunk of simulations
    [start, stop) is therefore the same trials whatever the chunk size, and the union of the
    chunks is the same set of trials however the work is split over jobs.
"""

from trialeval.power.chunks import (
    SIM_COLUMNS,
    chunk_bounds,
    fit_cluster_trials,
    simulate_chunk,
    variance_components,
)
from trialeval.power.fast_fit import (
    ESTIMANDS,
    FastFit,
    PatternStats,
    fit_trials,
    general_fit,
    pattern_stats,
    trial_stats,
)
from trialeval.power.figure import plot_power, save_figure
from trialeval.power.run import run_chunk, run_summary
from trialeval.power.simulation import (
    cell_means,
    cluster_sizes,
    simulate_cluster_trial,
    simulate_trial,
)
from trialeval.power.summary import (
    POWER_COLUMNS,
    SUMMARY_COLUMNS,
    smallest_sample_sizes,
    summarise,
)
from trialeval.power_plan import allocation, resolve_power

__all__ = [
    "ESTIMANDS",
    "POWER_COLUMNS",
    "SIM_COLUMNS",
    "SUMMARY_COLUMNS",
    "FastFit",
    "PatternStats",
    "allocation",
    "cell_means",
    "chunk_bounds",
    "cluster_sizes",
    "fit_cluster_trials",
    "fit_trials",
    "general_fit",
    "pattern_stats",
    "plot_power",
    "resolve_power",
    "run_chunk",
    "run_summary",
    "save_figure",
    "simulate_chunk",
    "simulate_cluster_trial",
    "simulate_trial",
    "smallest_sample_sizes",
    "summarise",
    "trial_stats",
    "variance_components",
]
