"""Delivery groups (group-delivered interventions) and clusters: reading, checking, counting.

A participants-file column (`data.group_column`) names each participant's delivery group (a
coaching group, a peer-support circle), empty for participants who are not grouped. The arms
delivered in groups are `analyses.mixed_model.groups.arms`, by default every arm with group
values. The mixed model then adds a group random intercept on grouped participants'
post-baseline rows (trialeval.mixed_levels); tables, CONSORT and the report count groups and
their sizes. The same counting serves the clusters (sites) of a cluster-randomized trial.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialeval.errors import Problems

__all__ = [
    "GROUP",
    "check_clusters",
    "cluster_sizes",
    "read_group_column",
    "size_summary",
    "size_text",
    "unit_columns",
]

# The interim participants table's column of delivery-group labels ("" = not grouped).
GROUP = "delivery_group"


def read_group_column(
    values: pd.Series,
    ids: pd.Series,
    arms: np.ndarray,
    sites: np.ndarray | None,
    spec: dict,
    problems: Problems,
) -> np.ndarray:
    """Group labels (stripped, "" when empty) after checking them against arms and sites.

    ``values``, ``ids``: the participants file's group column and normalised ids, indexed by
    spreadsheet row; ``arms``, ``sites``: the validated arm and site per row. A group in an arm
    not delivered in groups, a group in two arms, and (site random) a group in two sites are
    problems naming the file, the row or group, and what was expected.
    """
    path = spec["participants_source"]["path"]
    column = spec["group_column"]
    labels = values.astype("string").str.strip().fillna("")
    # the file's declared missing codes mean "not grouped", like an empty cell
    codes = {str(c).strip().lower() for c in spec["participants_source"]["missing_codes"]}
    labels = labels.mask(labels.str.lower().isin(codes), "")
    grouped = (labels != "").to_numpy()
    configured = spec["analyses"]["mixed_model"]["groups"]["arms"]
    if configured is not None:
        outside = grouped & ~np.isin(arms, configured)
        rows = labels.index[outside]
        problems.extend(
            (
                f"{path}: row {r}, column {column!r} (participant {ids.at[r]}): group "
                f"{labels.at[r]!r} in arm {arms[labels.index.get_loc(r)]!r}, which is not "
                f"delivered in groups; expected an empty cell (analyses.mixed_model.groups."
                f"arms: {', '.join(configured)})"
                for r in rows
            ),
            len(rows),
        )
    frame = pd.DataFrame({"group": labels.to_numpy(), "arm": arms})[grouped]
    if sites is not None:
        frame["site"] = np.asarray(sites)[grouped]
    _spanning(frame, "arm", "", path, column, problems)
    if sites is not None and spec["analyses"]["mixed_model"]["site"] == "random":
        advice = " (with site: random groups are nested in sites; site: fixed does not need it)"
        _spanning(frame, "site", advice, path, column, problems)
    return labels.to_numpy(dtype=object).astype(str)


def _spanning(
    frame: pd.DataFrame, by: str, advice: str, path: str, column: str, problems: Problems
) -> None:
    """One problem per group whose participants are in more than one `by` (arm or site)."""
    levels = frame.groupby("group", sort=True)[by].unique()
    spanning = levels[levels.map(len) > 1]
    problems.extend(
        (
            f"{path}: column {column!r}: group {group!r} has participants in {len(found)} "
            f"{by}s ({', '.join(sorted(map(str, found)))}); expected every participant of a "
            f"group in one {by}{advice}"
            for group, found in spanning.items()
        ),
        len(spanning),
    )


def check_clusters(arms: np.ndarray, sites: np.ndarray, spec: dict, problems: Problems) -> None:
    """A cluster-randomized trial allocates whole sites: each site in one arm, and each arm
    with at least 2 sites (one cluster per arm would confound arm with cluster)."""
    path = spec["participants_source"]["path"]
    column = spec["site_column"]
    frame = pd.DataFrame({"site": sites, "arm": arms})
    levels = frame.groupby("site", sort=True)["arm"].unique()
    mixed = levels[levels.map(len) > 1]
    problems.extend(
        (
            f"{path}: column {column!r}: site {site!r} has participants in {len(found)} arms "
            f"({', '.join(sorted(map(str, found)))}); design cluster_rct allocates whole "
            "sites, so every participant of a site must be in its arm"
            for site, found in mixed.items()
        ),
        len(mixed),
    )
    per_arm = frame.groupby("arm")["site"].nunique()
    for arm in [a["id"] for a in spec["arms"]]:
        if per_arm.get(arm, 0) < 2:
            problems.add(
                f"{path}: column {column!r}: arm {arm!r} has {per_arm.get(arm, 0)} site(s); "
                "design cluster_rct needs at least 2 clusters per arm"
            )


def size_summary(units: pd.Series) -> dict:
    """Number of units and their sizes (median, range) from one label per participant."""
    sizes = units.value_counts()
    if sizes.empty:  # None, not NaN: these go to consort.json
        return {"n": 0, "median": None, "min": None, "max": None}
    return {
        "n": int(sizes.size),
        "median": float(np.median(sizes.to_numpy())),
        "min": int(sizes.min()),
        "max": int(sizes.max()),
    }


def cluster_sizes(participants: pd.DataFrame, column: str, arms: list[str]) -> dict:
    """Per arm (and overall): units of ``column`` (groups or sites) and their sizes, in
    participants. Participants with an empty label are counted as `ungrouped`.
    """
    out = {}
    for arm in [*arms, "overall"]:
        rows = participants if arm == "overall" else participants[participants["arm"] == arm]
        labels = rows[column].astype(str)
        summary = size_summary(labels[labels != ""])
        summary["ungrouped"] = int((labels == "").sum())
        out[arm] = summary
    return out


def size_text(summary: dict) -> str:
    """'14; 7 (4 to 10)': the number of units; their median size (range)."""
    if not summary["n"]:
        return ""
    if summary.get("sizes_withheld"):  # disclosure control (trialeval.disclosure)
        return f"{summary['n']}; sizes withheld"
    return f"{summary['n']}; {summary['median']:g} ({summary['min']} to {summary['max']})"


def unit_columns(spec: dict, participants: pd.DataFrame) -> dict[str, str]:
    """{consort key: column} of the units a trial counts: delivery groups, and the sites of a
    cluster-randomized trial (its units of randomization)."""
    units = {}
    if GROUP in participants:
        units["delivery_groups"] = GROUP
    if spec["design"] == "cluster_rct" and "site" in participants:
        units["clusters"] = "site"
    return units
