"""Rule entries: power_chunk and power_summary."""

from __future__ import annotations

import logging
import time

import pandas as pd

from trialeval.power.chunks import _icc_of, chunk_bounds, simulate_chunk, variance_components
from trialeval.power.figure import _cluster_words, _figure_title, plot_power, save_figure
from trialeval.power.summary import smallest_sample_sizes, summarise
from trialeval.power_plan import CLUSTER

log = logging.getLogger("trialeval.power")


def run_chunk(
    plan: dict,
    *,
    point: str,
    chunk: int,
    diagnostics_path: str | None,
    out: str,
) -> None:
    """Rule power_chunk: simulate and analyse one chunk of trials at one size, `point` as in
    the chunk file's name (n<total N>, or k<clusters per arm> for a cluster plan)."""
    from trialeval.io import write_csv

    if point not in plan["points"]:
        raise ValueError(f"{point!r} is not one of the power block's sizes {plan['points']}")
    size = int(point[1:])
    start, stop = chunk_bounds(plan, chunk)
    components = variance_components(plan, diagnostics_path)
    for outcome, sds in components.items():
        cluster = ""
        if len(sds) > 2:
            cluster = f", sd_cluster {sds[2]:.4g} (ICC {_icc_of(sds[2], sds[0], sds[1]):.4g})"
        log.info("%s: sd_participant %.4g, sd_residual %.4g%s", outcome, *sds[:2], cluster)
    began = time.perf_counter()
    sims = simulate_chunk(plan, components, size, start, stop)
    seconds = time.perf_counter() - began
    fits = (stop - start) * len(plan["outcomes"])
    log.info(
        "%s = %d, simulations %d..%d: %d trial fits in %.2f s (%.1f per second, simulation "
        "included); %d fitted with the general engine, %d failed",
        "clusters per arm" if plan.get("design") == CLUSTER else "N",
        size,
        start,
        stop - 1,
        fits,
        seconds,
        fits / max(seconds, 1e-9),
        int((sims["method"] == "general").sum()),
        int((sims["method"] == "failed").sum()),
    )
    write_csv(sims, out)


def run_summary(
    plan: dict,
    trial_id: str,
    *,
    chunk_paths: list[str],
    power_out: str,
    summary_out: str,
    figure_stem: str,
) -> None:
    """Rule power_summary: power table, smallest N per arm and outcome, power-curve figure."""
    from trialeval.io import read_csv, write_csv

    sims = pd.concat([read_csv(path) for path in chunk_paths], ignore_index=True)
    power = summarise(sims, plan, trial_id)
    summary = smallest_sample_sizes(power, plan)
    write_csv(power, power_out)
    write_csv(summary, summary_out)
    cluster = plan.get("design") == CLUSTER
    for row in summary.itertuples():
        if pd.notna(row.smallest_n_total):
            log.info(
                "%s, %s: smallest %s with power >= %.2f is %d (%d participants per arm), power "
                "%.3f (95%% CI %.3f to %.3f)%s",
                row.outcome,
                row.contrast,
                f"number of clusters per arm ({_cluster_words(plan)})" if cluster else "total N",
                row.target_power,
                row.smallest_clusters_per_arm if cluster else row.smallest_n_total,
                row.n_arm,
                row.power,
                row.ci_low,
                row.ci_high,
                f"; {row.note}" if row.note else "",
            )
        else:
            log.info("%s, %s: %s", row.outcome, row.contrast, row.note)
    save_figure(plot_power(power, summary, plan, _figure_title(plan)), figure_stem)
