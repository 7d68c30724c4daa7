"""Estimands (ICH E9(R1)): the intercurrent-event strategies as a transform of the data.

An analysis's estimand lists intercurrent events, each with a participants-file column giving
the timepoint id of the visit at which the event happened (empty: no event; ingest carries it
to the interim participants table as `intercurrent:<column>`, checked against the timepoint
ids). An observation is *after the event* when its visit comes strictly after the event's
visit in the trial file's timepoint order: the observation at the event's own visit counts as
before it (an event recorded at baseline affects every post-baseline visit). Each strategy
does this to the observations after the event, before any model sees them:

- treatment_policy: nothing (used as observed; counted as such);
- hypothetical: the score is set to missing; the likelihood-based models then treat it as
  missing at random given the participant's earlier observations (an imputation step would
  impute it);
- while_on_treatment: the row is removed (not imputed by anyone; the estimand is the effect
  while on treatment). For the likelihood-based models the numbers equal hypothetical's;
  the two differ in what is estimated and in multiple imputation;
- composite (binary category outcomes only, refused for scores by trialeval.config): the
  event is a failure, the category's positive level (1: the condition its cut-off defines,
  e.g. burnout), at every visit after it, observed or not (rows are added for visits without
  an observation).

Events apply in the order the trial file lists them; an observation set aside by an earlier
event is not counted again. The analysis functions (trialeval.models, trialeval.prepost) are
not changed: their rule entries read their data through `analysis_data`, which applies the
analysis's estimand; `set_aside_counts` gives the CONSORT-style counts (estimands.json).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PREFIX = "intercurrent:"
# What was done to the observations after an event, as estimands.json counts them.
ACTION_WORDS = {
    "used_as_observed": "observed after the event and used as observed (treatment policy)",
    "set_missing": "observed after the event and set to missing (hypothetical)",
    "excluded": "observed after the event and excluded (while on treatment)",
    "set_to_failure": "observed after the event and set to failure (composite)",
    "added_as_failure": "not observed after the event and counted as failure (composite)",
}
STRATEGY_WORDS = {
    "treatment_policy": "treatment policy (observations after the event used as observed)",
    "hypothetical": (
        "hypothetical (observations after the event set to missing; missing at random given "
        "earlier observations)"
    ),
    "while_on_treatment": "while on treatment (observations after the event excluded)",
    "composite": "composite (the event counts as the outcome's positive level from then on)",
}
FAILURE = 1.0  # a category's positive level (the condition its cut-off defines)


def event_column(column: str) -> str:
    """The interim participants-table column of an intercurrent event's participants column."""
    return f"{PREFIX}{column}"


def events_of(estimand: dict | None) -> list[dict]:
    return list((estimand or {}).get("intercurrent_events") or [])


def apply_intercurrent_events(
    scores: pd.DataFrame, participants: pd.DataFrame, events: list[dict], spec: dict
) -> tuple[pd.DataFrame, list[dict]]:
    """`scores` (long: participant_id, timepoint, outcome, score, ...) with each event's
    strategy applied, and per event {event, column, strategy, participants: {arm: n with the
    event}, observations: {outcome: {action: {arm: n}}}} (participants and observations of
    the frames given: the caller restricts them to a set)."""
    if not events:
        return scores, []
    order = {tp["id"]: i for i, tp in enumerate(spec["timepoints"])}
    kinds = {o["id"]: o["kind"] for o in spec["outcomes"]}
    arms = [a["id"] for a in spec["arms"]]
    out = scores.copy()
    counts = []
    for event in events:
        at = participants.set_index("participant_id")[event_column(event["column"])]
        rank = at.map(order)  # NaN: no event
        with_event = participants.loc[participants["participant_id"].map(rank).notna(), "arm"]
        after = out["timepoint"].map(order).to_numpy(float) > out["participant_id"].map(
            rank
        ).to_numpy(float)
        observed = out["score"].notna().to_numpy()
        strategy = event["strategy"]
        tally: dict[str, dict[str, dict[str, int]]] = {}

        def count(mask: np.ndarray, action: str, frame: pd.DataFrame, outcomes=None) -> None:
            # called at once, inside the loop: tally is this event's
            _count(tally, frame, mask, action, arms, outcomes)  # noqa: B023

        if strategy == "treatment_policy":
            count(after & observed, "used_as_observed", out)
        elif strategy == "hypothetical":
            count(after & observed, "set_missing", out)
            out.loc[after, "score"] = np.nan
        elif strategy == "while_on_treatment":
            count(after & observed, "excluded", out)
            out = out.loc[~after].reset_index(drop=True)
        else:  # composite: categories only (config refuses it for scores)
            binary = out["outcome"].map(kinds).eq("category").to_numpy()
            count(after & observed & binary, "set_to_failure", out)
            out.loc[after & binary, "score"] = FAILURE
            added = _failures_to_add(out, participants, rank, order, kinds, spec)
            categories = [o for o in out["outcome"].unique() if kinds.get(o) == "category"]
            count(np.ones(len(added), bool), "added_as_failure", added, categories)
            out = pd.concat([out, added], ignore_index=True) if len(added) else out
            out = _in_visit_order(out, order)
        counts.append(
            {
                **{k: event[k] for k in ("event", "column", "strategy")},
                "participants": {a: int((with_event == a).sum()) for a in arms},
                "observations": tally,
            }
        )
    return out, counts


def _count(
    tally: dict, frame: pd.DataFrame, mask: np.ndarray, action: str, arms, outcomes=None
) -> None:
    """tally[outcome][action] = {arm: rows of `frame` where `mask` holds}, for each of
    `outcomes` (default the frame's)."""
    for outcome in frame["outcome"].unique() if outcomes is None else outcomes:
        mine = mask & (frame["outcome"] == outcome).to_numpy()
        by_arm = frame.loc[mine, "arm"].value_counts()
        tally.setdefault(str(outcome), {})[action] = {a: int(by_arm.get(a, 0)) for a in arms}


def _failures_to_add(scores, participants, rank, order, kinds, spec) -> pd.DataFrame:
    """Rows of failure for each category outcome at each visit after a participant's event
    where the frame has no row (a visit not attended is a failure under composite)."""
    have = set(zip(scores["participant_id"], scores["timepoint"], scores["outcome"], strict=True))
    categories = [o for o, kind in kinds.items() if kind == "category"]
    outcomes = [o for o in categories if o in set(scores["outcome"])]
    carried = [c for c in ("arm", "site") if c in scores and c in participants]
    rows = []
    people = participants.set_index("participant_id")
    withdrawn: set = set()
    if "withdrawn" in participants:  # consent withdrawn: none of their data, nor failures
        withdrawn = set(participants.loc[participants["withdrawn"].astype(bool), "participant_id"])
    for pid, r in rank.dropna().items():
        if pid in withdrawn:
            continue
        for tp in spec["timepoints"]:
            if order[tp["id"]] <= r:
                continue
            for outcome in outcomes:
                if (pid, tp["id"], outcome) not in have:
                    row = {"participant_id": pid, "timepoint": tp["id"], "outcome": outcome}
                    row.update({c: people.at[pid, c] for c in carried})
                    rows.append({**row, "score": FAILURE})
    return pd.DataFrame(rows, columns=list(scores.columns)).astype({"score": float})


def _in_visit_order(scores: pd.DataFrame, order: dict) -> pd.DataFrame:
    """Rows sorted by participant and visit (added failures sit where a response would)."""
    key = scores["timepoint"].map(order)
    return (
        scores.assign(_visit=key)
        .sort_values(["participant_id", "_visit"], kind="stable")
        .drop(columns="_visit")
        .reset_index(drop=True)
    )


def cells_after(
    participants: pd.DataFrame, events: list[dict], spec: dict, strategy: str
) -> pd.DataFrame:
    """(participant_id, timepoint) of every visit after an event whose strategy is
    `strategy`, observed or not (multiple imputation fills in a while-on-treatment
    participant's visits after the event and then removes them from each completed data set)."""
    order = {tp["id"]: i for i, tp in enumerate(spec["timepoints"])}
    rows = []
    for event in events:
        if event["strategy"] != strategy:
            continue
        at = participants.set_index("participant_id")[event_column(event["column"])]
        for pid, rank in at.map(order).dropna().items():
            rows += [(pid, tp) for tp, i in order.items() if i > rank]
    return pd.DataFrame(rows, columns=["participant_id", "timepoint"]).drop_duplicates()


def analysis_data(spec: dict, paths: dict[str, str], outcome: str | None = None):
    """(scores, participants) of an analysis, as trialeval.io.read_analysis_data reads them,
    with the intercurrent events of the analysis's estimand (spec["analyses"]["estimand"])
    applied to the scores."""
    from trialeval.io import read_analysis_data

    scores, participants = read_analysis_data(
        paths["scores"], paths["participants"], paths["sets"], outcome
    )
    events = events_of(spec["analyses"].get("estimand"))
    scores, _ = apply_intercurrent_events(scores, participants, events, spec)
    return scores, participants


def named_analyses(spec: dict) -> list[dict]:
    """The primary analysis ({name: primary, label, outcomes, estimand}), then each named
    sensitivity analysis, as the trial spec resolves them."""
    from trialeval.config import outcome_analyses

    plan = outcome_analyses(spec)
    primary = {
        "name": "primary",
        "label": "Primary analysis",
        "outcomes": plan["mixed_model"] + plan["prepost"],
        "estimand": spec["analyses"].get("estimand"),
    }
    return [primary, *(spec["analyses"].get("sensitivity") or [])]


def has_events(spec: dict) -> bool:
    return any(events_of(a["estimand"]) for a in named_analyses(spec))


def set_aside_counts(
    spec: dict, scores: pd.DataFrame | None, participants: pd.DataFrame | None
) -> dict:
    """estimands.json: per analysis (primary, then each sensitivity analysis) its label,
    estimand and what each intercurrent event did, counted over the intention-to-treat set and
    the outcomes the analysis fits. `participants` carry the analysis-set flags; without
    intercurrent events the data are not needed (None)."""
    if has_events(spec):
        itt = participants[participants["itt"].astype(bool)]
        scores = scores[scores["participant_id"].isin(set(itt["participant_id"]))]
    out = {}
    for analysis in named_analyses(spec):
        events = events_of(analysis["estimand"])
        counts = []
        if events:
            mine = scores[scores["outcome"].isin(analysis["outcomes"])]
            _, counts = apply_intercurrent_events(mine, itt, events, spec)
        out[analysis["name"]] = {
            "label": analysis["label"],
            "estimand": analysis["estimand"],
            "intercurrent_events": counts,
        }
    out["definitions"] = {
        "after the event": (
            "visits strictly after the visit given in the event's column (the event's own "
            "visit counts as before it)"
        ),
        "counted over": "the intention-to-treat set and the outcomes each analysis fits",
        **ACTION_WORDS,
    }
    return out


def estimand_lines(label: str, estimand: dict | None) -> list[str]:
    """The estimand in words, for tables and the report (nothing when none is stated)."""
    if not estimand:
        return []
    parts = [
        f"{name}: {estimand[key]}"
        for name, key in (("population", "population"), ("variable", "variable"))
        if estimand.get(key)
    ]
    events = [f"{e['event']} ({STRATEGY_WORDS[e['strategy']]})" for e in events_of(estimand)]
    parts.append("intercurrent events: " + ("; ".join(events) if events else "none"))
    if estimand.get("summary"):
        parts.append(f"summary measure: {estimand['summary']}")
    if estimand.get("effect"):
        parts.append(f"primary effect measure: {EFFECT_WORDS[estimand['effect']]}")
    return [f"Estimand, {label}: " + "; ".join(parts) + "."]


# analyses.estimand.effect (model repeated's two effects) in words
EFFECT_WORDS = {
    "diff_in_change": "difference in change from baseline",
    "diff_in_means": "difference in means at follow-up",
}
