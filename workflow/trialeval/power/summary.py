"""Power per size, arm and outcome with Wilson 95% CIs, and the smallest size reaching the
target power."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialeval.power_plan import CLUSTER, allocation
from trialeval.proportions import wilson_interval

POWER_COLUMNS = [
    "trial",
    "outcome",
    "arm",
    "contrast",
    "estimand",
    "timepoint",
    "n_total",
    "n_arm",
    "n_control",
    "clusters_per_arm",
    "cluster_size",
    "cluster_size_cv",
    "effect",
    "icc",
    "sd_cluster",
    "sd_participant",
    "sd_residual",
    "attrition",
    "alpha",
    "n_sims",
    "n_rejected",
    "n_failed",
    "n_general",
    "n_boundary",
    "power",
    "ci_low",
    "ci_high",
    "mean_estimate",
    "mean_se",
    "median_df",
]
SUMMARY_COLUMNS = [
    "trial",
    "outcome",
    "arm",
    "contrast",
    "target_power",
    "alpha",
    "smallest_clusters_per_arm",
    "cluster_size",
    "smallest_n_total",
    "n_arm",
    "power",
    "ci_low",
    "ci_high",
    "note",
]


def _scanned(plan: dict) -> tuple[str, list[int]]:
    """The per-trial column that holds the size scanned, and its values."""
    if plan.get("design") == CLUSTER:
        return "clusters_per_arm", plan["clusters_per_arm"]
    return "n_total", plan["sample_sizes"]


def _design_point(plan: dict, size: int) -> dict:
    """A size's participant counts (a cluster plan: expected, clusters x cluster size) and
    cluster columns."""
    arms = [a["id"] for a in plan["arms"]]
    if plan.get("design") == CLUSTER:
        per_arm = size * plan["cluster_size"]
        return {
            "n_total": per_arm * len(arms),
            "n_arm": dict.fromkeys(arms, per_arm),
            "clusters_per_arm": size,
            "cluster_size": plan["cluster_size"],
            "cluster_size_cv": plan["cluster_size_cv"],
        }
    sizes = allocation(size, [a["ratio"] for a in plan["arms"]])
    return {
        "n_total": size,
        "n_arm": dict(zip(arms, sizes, strict=True)),
        "clusters_per_arm": np.nan,
        "cluster_size": np.nan,
        "cluster_size_cv": np.nan,
    }


def summarise(sims: pd.DataFrame, plan: dict, trial_id: str) -> pd.DataFrame:
    """Power per size (total N, or clusters per arm), outcome and intervention arm
    (POWER_COLUMNS) from per-trial rows.

    Trials are taken in simulation order, so the result does not depend on the chunking.
    A fit that failed counts as not rejecting (n_failed says how many).
    """
    control = plan["control_arm"]
    column, scanned = _scanned(plan)
    expected = np.arange(plan["n_sims"])
    rows = []
    for size in scanned:
        point = _design_point(plan, size)
        for outcome in plan["outcomes"]:
            for arm in plan["arms"][1:]:
                part = sims[
                    (sims[column] == size)
                    & (sims["outcome"] == outcome["id"])
                    & (sims["arm"] == arm["id"])
                ].sort_values("sim")
                if not np.array_equal(part["sim"].to_numpy(), expected):
                    raise ValueError(
                        f"power: simulations for {column} {size}, {outcome['id']}, {arm['id']} "
                        f"are not exactly 0..{plan['n_sims'] - 1} (found {len(part)} rows); "
                        f"chunk files do not match the power block"
                    )
                rejected = int(part["reject"].astype(bool).sum())
                lo, hi = wilson_interval(rejected, plan["n_sims"])
                fitted = part[part["method"] != "failed"]
                columns = ["sd_participant", "sd_residual", "sd_cluster", "icc"]
                sds = part[columns].iloc[0].astype(float)
                rows.append(
                    {
                        "trial": trial_id,
                        "outcome": outcome["id"],
                        "arm": arm["id"],
                        "contrast": f"{arm['id']} - {control}",
                        "estimand": plan["estimand"],
                        "timepoint": plan["visits"][-1],
                        **point,
                        "n_arm": point["n_arm"][arm["id"]],
                        "n_control": point["n_arm"][control],
                        "effect": arm["effects"][outcome["id"]],
                        "icc": sds["icc"],
                        "sd_cluster": sds["sd_cluster"],
                        "sd_participant": sds["sd_participant"],
                        "sd_residual": sds["sd_residual"],
                        "attrition": plan["attrition"][-1],
                        "alpha": plan["alpha"],
                        "n_sims": plan["n_sims"],
                        "n_rejected": rejected,
                        "n_failed": int((part["method"] == "failed").sum()),
                        "n_general": int((part["method"] == "general").sum()),
                        "n_boundary": int(fitted["boundary"].astype(bool).sum()),
                        "power": rejected / plan["n_sims"],
                        "ci_low": float(lo),
                        "ci_high": float(hi),
                        "mean_estimate": float(np.mean(fitted["estimate"].to_numpy())),
                        "mean_se": float(np.mean(fitted["se"].to_numpy())),
                        "median_df": float(np.median(fitted["df"].to_numpy())),
                    }
                )
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def smallest_sample_sizes(power: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """Per outcome and arm, the smallest size (total N, or clusters per arm) reaching the
    target power (point estimate) at it and at every larger size tried, so a Monte Carlo dip
    above it does not count as reached (SUMMARY_COLUMNS)."""
    target = plan["target_power"]
    column, _ = _scanned(plan)
    cluster = plan.get("design") == CLUSTER
    rows = []
    for outcome in plan["outcomes"]:
        for arm in plan["arms"][1:]:
            part = power[(power["outcome"] == outcome["id"]) & (power["arm"] == arm["id"])]
            part = part.sort_values(column)
            reached = (part["power"] >= target).to_numpy()
            tail = np.flip(np.logical_and.accumulate(np.flip(reached)))
            base = {
                "trial": part["trial"].iloc[0],
                "outcome": outcome["id"],
                "arm": arm["id"],
                "contrast": part["contrast"].iloc[0],
                "target_power": target,
                # the test's two-sided level, per comparison with the control
                "alpha": plan["alpha"],
                "cluster_size": plan["cluster_size"] if cluster else pd.NA,
            }
            if tail.any():
                row = part.iloc[int(np.argmax(tail))]
                note = ""
                if row["ci_low"] < target:
                    note = "target inside the Monte Carlo 95% CI; more simulations would tell"
                rows.append(
                    {
                        **base,
                        "smallest_clusters_per_arm": int(row[column]) if cluster else pd.NA,
                        "smallest_n_total": int(row["n_total"]),
                        "n_arm": int(row["n_arm"]),
                        "power": row["power"],
                        "ci_low": row["ci_low"],
                        "ci_high": row["ci_high"],
                        "note": note,
                    }
                )
            else:
                largest = part.iloc[-1]
                what = (
                    f"{int(largest[column])} clusters per arm"
                    if cluster
                    else f"N = {int(largest['n_total'])}"
                )
                rows.append(
                    {
                        **base,
                        "smallest_clusters_per_arm": pd.NA,
                        "smallest_n_total": pd.NA,
                        "n_arm": pd.NA,
                        "power": largest["power"],
                        "ci_low": largest["ci_low"],
                        "ci_high": largest["ci_high"],
                        "note": (
                            f"not reached at the sizes tried (power {largest['power']:.3f} at "
                            f"the largest, {what})"
                        ),
                    }
                )
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for name in ("smallest_clusters_per_arm", "cluster_size", "smallest_n_total", "n_arm"):
        frame[name] = frame[name].astype("Int64")
    return frame
