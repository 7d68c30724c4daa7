"""The participants each score outcome's model used, per arm.

The mixed models of a randomized trial (repeated, cLDA, ANCOVA, MMRM) report them from the
rows passed to the fit (`arm_counts`, into results/<trial>/model_n.csv): the CONSORT
diagram's "analysed" lines, the forest plot's n of a multi-arm trial's comparisons and the
disclosure plan (Table 2's n of a model is these arms summed) read them there. The analyses
of the other designs (pre/post, cohort) do not write model_n.csv yet: for them
`participants_used` counts by the analysis' rule, members of the analysis set with the
outcome scored at baseline and a later visit (a pre/post analysis), else at any visit.
"""

from __future__ import annotations

import pandas as pd

from trialeval.config import RANDOMIZED
from trialeval.io import in_set, set_members


def participants_used(
    spec: dict, scores: pd.DataFrame, sets: pd.DataFrame, analysis_set: str, outcome_id: str, arms
) -> dict[str, int]:
    """{arm: n} of one score outcome's model in one analysis set (module doc)."""
    needs_baseline = spec["design"] not in RANDOMIZED or (
        spec["analyses"]["mixed_model"].get("model") in ("ancova", "mmrm")
    )
    members = set_members(sets, analysis_set, outcome_id)[["participant_id", "arm"]]
    rows = scores[(scores["outcome"] == outcome_id) & scores["score"].notna()]
    rows = rows[in_set(rows["participant_id"], members["participant_id"])]
    keep = set(rows["participant_id"])
    if needs_baseline:
        keep = set(rows.loc[rows["timepoint"] == spec["baseline"], "participant_id"])
        keep &= set(rows.loc[rows["timepoint"] != spec["baseline"], "participant_id"])
    used = members[members["participant_id"].isin(keep)]
    counts = used.groupby("arm", observed=True)["participant_id"].nunique()
    return {a: int(counts.get(a, 0)) for a in arms}


MODEL_N_COLUMNS = ["trial", "analysis_set", "outcome", "analysis", "arm", "n"]


def arm_counts(data: pd.DataFrame, arms) -> dict[str, int]:
    """{arm: participants} in the rows actually passed to a fit (columns participant_id,
    arm); every arm in `arms`, 0 where none."""
    counts = data.groupby("arm", observed=True)["participant_id"].nunique()
    return {a: int(counts.get(a, 0)) for a in arms}


def model_n_rows(base: dict, analysis: str, counts: dict[str, int]) -> list[dict]:
    """model_n.csv's rows of one fit: `base` gives trial, analysis_set and outcome."""
    keys = {k: base[k] for k in ("trial", "analysis_set", "outcome")}
    return [{**keys, "analysis": analysis, "arm": a, "n": n} for a, n in counts.items()]


def model_n_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=MODEL_N_COLUMNS)


def reported_or_counted(
    model_n: pd.DataFrame | None,
    spec: dict,
    scores: pd.DataFrame,
    sets: pd.DataFrame,
    analysis_set: str,
    outcome_id: str,
    arms,
) -> dict[str, int]:
    """{arm: n} of one outcome's model in one set: as the model reported it (model_n.csv),
    else (a model that does not report its arms yet) `participants_used`'s count."""
    if model_n is not None and len(model_n):
        rows = model_n[
            (model_n["analysis_set"] == analysis_set) & (model_n["outcome"] == outcome_id)
        ]
        if len(rows):
            reported = dict(zip(rows["arm"], rows["n"].astype(int), strict=True))
            return {a: int(reported.get(a, 0)) for a in arms}
    return participants_used(spec, scores, sets, analysis_set, outcome_id, arms)
