"""Analysis sets and CONSORT counts.

- itt: every allocated participant, in the allocated arm, whatever they attended, except those
  who withdrew consent for data use (excluded and counted). Participants who never answered a
  survey stay in the set: likelihood-based models use whatever they contributed (nothing), and
  the models report how many contributed at least one score.
- per_protocol: itt participants of the arms the adherence rule names whose adherence column
  reaches the threshold (a missing adherence value counts as not adherent), plus every itt
  participant of the other arms as allocated. Without a rule it equals itt.
- complete_case, per outcome: itt participants whose outcome is observed (scored) at every
  timepoint, in flag columns `complete_case:<outcome>` (trialeval.io.set_column), which the
  analyses of that outcome use. A returned survey can still leave an outcome unscored (too
  few items answered), so these sets can be smaller than the per-survey `complete_case`:
  itt participants who returned every survey, kept for the CONSORT flow.
- For a cross-sectional survey (no arms, one wave) the analysed set is everyone surveyed who
  responded: allocated (surveyed) = withdrawn + not assessed (non-respondents) + analysed.

With the trial file's `flow` block consort.json also holds the screening counts, the
intervention received per delivering arm and the reasons for consent withdrawal and for not
being assessed at the last timepoint (`flow_counts`).

consort.json holds the counts per arm; they reconcile by construction:
allocated = withdrawn + analysed.itt, and for every timepoint
analysed.itt = assessed + not_assessed. `analysed_by_outcome.complete_case` holds the
per-outcome complete-case counts, the `n_analysis_set` of that outcome's complete-case rows in
effects.csv. With delivery groups (and for a cluster-randomized trial, its clusters, the
sites) `delivery_groups` / `clusters` count them per arm with their sizes (median, range),
allocated and in the itt set.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialeval.config import FLOW_REASON, FLOW_RECEIVED, eligibility_problem
from trialeval.delivery import cluster_sizes, unit_columns
from trialeval.errors import TrialInputError
from trialeval.io import in_set, set_column

SETS = ("itt", "per_protocol", "complete_case")

# consort.json's definition of the intention-to-treat set, in each design's own terms (the
# CONSORT figure words "allocated" as "assigned" for designs without randomization)
ITT_DEFINITIONS = {
    "rct": "every allocated participant in the allocated arm, less consent withdrawals",
    "cross_sectional": "respondents to the survey, less consent withdrawals",
    "cohort_comparison": (
        "every member of each cohort in the participants file, less consent withdrawals"
    ),
}


def analysis_sets(
    participants: pd.DataFrame,
    items: pd.DataFrame,
    spec: dict,
    scores: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per allocated participant: participant_id, arm, withdrawn, responded_<tp>...,
    a boolean column per analysis set and, given the scores (participant_id, timepoint,
    outcome, score), a complete-case column per outcome."""
    out = participants[["participant_id", "arm", "withdrawn"]].copy()
    itt = ~out["withdrawn"]
    responded_all = pd.Series(True, index=out.index)
    for tp in spec["timepoints"]:
        ids = set(items.loc[items["timepoint"] == tp["id"], "participant_id"])
        responded = pd.Series(in_set(out["participant_id"], ids), index=out.index) & itt
        out[f"responded_{tp['id']}"] = responded
        responded_all &= responded
    if spec["design"] == "cross_sectional":
        # A survey analyses those who answered; non-respondents are counted, not analysed.
        itt = itt & responded_all
    out["itt"] = itt
    rule = spec["per_protocol"]
    if rule:
        bound = participants["arm"].isin(rule["arms"])
        adherent = participants["adherence"].fillna(float("-inf")) >= rule["at_least"]
        out["per_protocol"] = itt & (~bound | adherent)
    else:
        out["per_protocol"] = itt
    out["complete_case"] = itt & responded_all
    if scores is not None:
        for outcome, column in _per_outcome_complete_case(out, scores, spec).items():
            out[set_column("complete_case", outcome)] = itt & column
        if spec["design"] != "cross_sectional":
            for outcome, column in _post_without_baseline(out, scores, spec).items():
                out[f"{POST_WITHOUT_BASELINE}:{outcome}"] = itt & column
    return out


# Participants with a post-baseline score but none at baseline: baseline-adjusted models
# (ANCOVA, MMRM) and change scores cannot use them, so CONSORT counts them per outcome.
POST_WITHOUT_BASELINE = "post_without_baseline"


def _post_without_baseline(sets: pd.DataFrame, scores: pd.DataFrame, spec: dict) -> dict:
    """{outcome: mask over `sets`}: scored after baseline, never at baseline."""
    observed = scores[scores["score"].notna()]
    at_baseline = observed["timepoint"] == spec["baseline"]
    masks = {}
    for outcome in spec["outcomes"]:
        mine = observed["outcome"] == outcome["id"]
        later = set(observed.loc[mine & ~at_baseline, "participant_id"])
        first = set(observed.loc[mine & at_baseline, "participant_id"])
        masks[outcome["id"]] = pd.Series(
            in_set(sets["participant_id"], later - first), index=sets.index
        )
    return masks


def _per_outcome_complete_case(sets: pd.DataFrame, scores: pd.DataFrame, spec: dict) -> dict:
    """{outcome: mask over `sets`}: the outcome scored at every timepoint of the trial."""
    observed = scores[scores["score"].notna()]
    n_timepoints = len(spec["timepoints"])
    masks = {}
    for outcome in spec["outcomes"]:
        rows = observed[observed["outcome"] == outcome["id"]]
        visits = rows.groupby("participant_id")["timepoint"].nunique()
        complete = visits.index[visits == n_timepoints]
        masks[outcome["id"]] = pd.Series(
            in_set(sets["participant_id"], set(complete)), index=sets.index
        )
    return masks


def consort_counts(
    sets: pd.DataFrame,
    spec: dict,
    participants: pd.DataFrame | None = None,
    ingest_counts: dict | None = None,
) -> dict:
    """CONSORT numbers per arm, in the trial file's arm order; given the participants table,
    also the delivery groups and (cluster_rct) clusters per arm with their sizes, allocated
    and in the itt set, and the `flow` block's received and reason counts (`flow_counts`);
    `ingest_counts` (what ingest left out per timepoint: trialeval.ingest.COUNTED) goes in as
    `excluded_at_ingest`."""
    arms = [a["id"] for a in spec["arms"]]
    units = _unit_counts(sets, spec, participants, arms)

    def per_arm(mask: pd.Series) -> dict[str, int]:
        counts = sets.loc[mask, "arm"].value_counts()
        return {arm: int(counts.get(arm, 0)) for arm in arms}

    everyone = pd.Series(True, index=sets.index)
    itt = sets["itt"]
    assessed = {tp["id"]: per_arm(sets[f"responded_{tp['id']}"]) for tp in spec["timepoints"]}
    retained = ~sets["withdrawn"]
    not_assessed = {
        tp["id"]: per_arm(retained & ~sets[f"responded_{tp['id']}"]) for tp in spec["timepoints"]
    }
    never = retained.copy()
    for tp in spec["timepoints"]:
        never &= ~sets[f"responded_{tp['id']}"]
    by_outcome = {
        o["id"]: per_arm(sets[set_column("complete_case", o["id"])])
        for o in spec["outcomes"]
        if set_column("complete_case", o["id"]) in sets
    }
    return {
        "trial": spec["id"],
        "design": spec["design"],
        "arms": {a["id"]: a["label"] for a in spec["arms"]},
        "control_arm": spec["control_arm"],
        "timepoints": {tp["id"]: tp["label"] for tp in spec["timepoints"]},
        "enrolled": int(len(sets)),
        "allocated": per_arm(everyone),
        "withdrawn": per_arm(sets["withdrawn"]),
        "assessed": assessed,
        "not_assessed": not_assessed,
        "no_data_at_any_timepoint": per_arm(never),
        "analysed": {name: per_arm(sets[name]) for name in SETS},
        "analysed_by_outcome": {"complete_case": by_outcome},
        POST_WITHOUT_BASELINE: {
            o["id"]: per_arm(sets[f"{POST_WITHOUT_BASELINE}:{o['id']}"])
            for o in spec["outcomes"]
            if f"{POST_WITHOUT_BASELINE}:{o['id']}" in sets
        },
        "excluded_at_ingest": ingest_counts or {},
        "excluded_from": {
            "per_protocol": per_arm(itt & ~sets["per_protocol"]),
            "complete_case": per_arm(itt & ~sets["complete_case"]),
        },
        "definitions": consort_definitions(spec),
        **units,
        **flow_counts(sets, spec, participants),
    }


def _unit_counts(
    sets: pd.DataFrame, spec: dict, participants: pd.DataFrame | None, arms: list[str]
) -> dict:
    """The delivery groups and (cluster_rct) clusters per arm with their sizes, allocated and
    in the itt set; none without the participants table."""
    units: dict = {}
    if participants is None:
        return units
    labelled = sets[["participant_id", "arm", "itt"]].merge(
        participants.drop(columns="arm"), on="participant_id", how="left", validate="1:1"
    )
    for key, column in unit_columns(spec, participants).items():
        units[key] = {
            "allocated": cluster_sizes(labelled, column, arms),
            "itt": cluster_sizes(labelled[labelled["itt"]], column, arms),
        }
    return units


def consort_definitions(spec: dict) -> dict[str, str]:
    """consort.json's `definitions`: the words of each count (the `flow` block's too)."""
    return {
        "itt": ITT_DEFINITIONS.get(spec["design"], ITT_DEFINITIONS["rct"]),
        "per_protocol": (
            f"itt, and for arms {', '.join(spec['per_protocol']['arms'])}: "
            f"{spec['per_protocol']['column']} >= {spec['per_protocol']['at_least']:g}"
            if spec["per_protocol"]
            else "no adherence rule configured: equals itt"
        ),
        "complete_case": (
            "itt participants who returned the survey at every timepoint; each outcome's "
            "analyses use those with that outcome scored at every timepoint"
        ),
        "assessed": "itt participants who returned the survey at that timepoint",
        POST_WITHOUT_BASELINE: (
            "itt participants with the outcome scored after baseline but not at baseline: "
            "models adjusted for the baseline score (ANCOVA, MMRM) and change scores "
            "cannot use them"
        ),
        "excluded_at_ingest": (
            "per timepoint, never scored: preview and test responses (Qualtrics), forms "
            "whose status does not count (REDCap forms_complete), answers given as a "
            "missing code"
        ),
        **flow_definitions(spec),
    }


# A reason column's empty cell (or missing code), in consort.json and as printed.
NOT_RECORDED = "Reason not recorded"


def flow_counts(sets: pd.DataFrame, spec: dict, participants: pd.DataFrame | None) -> dict:
    """consort.json's counts of the trial file's `flow` block (nothing without one; the
    received and reason counts given the participants table, as the pipeline gives it):

    - eligibility: {assessed, excluded, excluded_reasons {reason: n}} (the trial file's
      screening counts; assessed = enrolled + excluded, checked);
    - received / not_received: {arm: n} over every allocated participant of the delivering
      arms (received + not_received = allocated; a missing value is not received);
    - withdrawn_reasons {reason: {arm: n}} (withdrawn = their sum) and not_assessed_reasons
      {last timepoint: {reason: {arm: n}}} (not_assessed there = their sum), a blank reason
      as NOT_RECORDED;

    their words are `flow_definitions`' (in consort.json's `definitions`)."""
    flow = spec.get("flow")
    if not flow:
        return {}
    out: dict = {}
    if flow["assessed_for_eligibility"] is not None:
        problem = eligibility_problem(spec, len(sets))
        if problem:
            raise TrialInputError(problem)
        out["eligibility"] = {
            "assessed": flow["assessed_for_eligibility"],
            "excluded": sum(flow["excluded"].values()),
            "excluded_reasons": dict(flow["excluded"]),
        }
    if participants is not None and (flow["received"] or flow["reason_column"]):
        people = sets.merge(
            participants[["participant_id", *_flow_frame_columns(flow)]],
            on="participant_id",
            how="left",
            validate="1:1",
        )
        out |= _received_counts(people, flow["received"], spec)
        out |= _reason_counts(people, flow["reason_column"], spec)
    return out


def _flow_frame_columns(flow: dict) -> list[str]:
    return [
        c
        for c, on in ((FLOW_RECEIVED, flow["received"]), (FLOW_REASON, flow["reason_column"]))
        if on
    ]


def _received_counts(people: pd.DataFrame, rule: dict | None, spec: dict) -> dict:
    if not rule:
        return {}
    arms = [a["id"] for a in spec["arms"] if a["id"] in rule["arms"]]
    received = people[FLOW_RECEIVED].fillna(float("-inf")) >= rule["at_least"]
    return {
        "received": {a: int((received & (people["arm"] == a)).sum()) for a in arms},
        "not_received": {a: int((~received & (people["arm"] == a)).sum()) for a in arms},
    }


def _reason_counts(people: pd.DataFrame, column: str | None, spec: dict) -> dict:
    if not column:
        return {}
    reason = people[FLOW_REASON].map(_reason_text)
    last = spec["timepoints"][-1]["id"]
    lost = ~people["withdrawn"] & ~people[f"responded_{last}"]
    arms = [a["id"] for a in spec["arms"]]
    return {
        "withdrawn_reasons": _by_reason(reason[people["withdrawn"]], people["arm"], arms),
        "not_assessed_reasons": {last: _by_reason(reason[lost], people["arm"], arms)},
    }


def _reason_text(value) -> str:
    """A reason as printed: trimmed, first letter capitalised; blank: NOT_RECORDED."""
    if value is None or pd.isna(value) or not str(value).strip():
        return NOT_RECORDED
    text = str(value).strip()
    return text[:1].upper() + text[1:]


def _by_reason(reasons: pd.Series, arm: pd.Series, arms: list[str]) -> dict:
    """{reason: {arm: n}} of the reasons given, most frequent first (then alphabetical),
    NOT_RECORDED last; every arm listed, zeros too."""
    counts = pd.crosstab(reasons, arm.loc[reasons.index]) if len(reasons) else pd.DataFrame()
    totals = {r: int(counts.loc[r].sum()) for r in counts.index}
    order = sorted(totals, key=lambda r: (r == NOT_RECORDED, -totals[r], r))
    return {r: {a: int(counts.loc[r].get(a, 0)) for a in arms} for r in order}


def flow_definitions(spec: dict) -> dict[str, str]:
    """consort.json's words for the `flow` counts (none without a `flow` block)."""
    flow = spec.get("flow")
    out: dict[str, str] = {}
    if not flow:
        return out
    if flow["assessed_for_eligibility"] is not None:
        out["eligibility"] = (
            "screening counts from the trial file (flow.assessed_for_eligibility, "
            "flow.excluded); assessed = enrolled + excluded"
        )
    if flow["received"]:
        rule = flow["received"]
        out["received"] = (
            f"allocated participants of arms {', '.join(rule['arms'])} with "
            f"{rule['column']} >= {rule['at_least']:g} (a missing value counts as not received)"
        )
    if flow["reason_column"]:
        out["reasons"] = (
            f"{flow['reason_column']} of those who withdrew consent and of those not assessed "
            f"at the last timepoint ({spec['timepoints'][-1]['id']}); blank: {NOT_RECORDED}"
        )
    return out


def run(
    spec: dict,
    participants_path: str,
    items_path: str,
    sets_out: str,
    consort_out: str,
    scores_path: str | None = None,
    counts_path: str | None = None,
):
    """Rule entry: write the analysis-set flags and consort.json."""
    import json

    from trialeval.io import write_json, write_parquet

    participants = pd.read_parquet(participants_path)
    items = pd.read_parquet(items_path, columns=["participant_id", "timepoint"])
    scores = None
    if scores_path is not None:
        columns = ["participant_id", "timepoint", "outcome", "score"]
        scores = pd.read_parquet(scores_path, columns=columns)
    sets = analysis_sets(participants, items, spec, scores)
    write_parquet(sets, sets_out)
    counts = json.loads(Path(counts_path).read_text()) if counts_path else None
    write_json(consort_counts(sets, spec, participants, counts), consort_out)
