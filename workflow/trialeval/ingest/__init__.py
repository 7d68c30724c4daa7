"""Ingest: the participants file and one export per wave, from whatever tool wrote them, into
the same two tidy tables (written to results/<trial>/interim/):

- participants: one row per allocated participant: participant_id, arm, site, covariates,
  withdrawn, adherence (the per-protocol column, when configured), flow_received and
  flow_reason (the `flow` block's columns, when configured);
- items: one row per survey response (participant x timepoint), the registry's item columns
  the trial's instruments need, as floats; withdrawn participants' responses are not carried
  forward;

the counts of what was left out before validation (ingest_counts.json, in consort.json):
preview and test responses, forms not counted as complete, answers given as a missing code;
and the participants file's own labels of the covariates the trial file does not label
(covariate_labels.json: REDCap field labels, SPSS / Stata variable labels, for Table 1).

One reader per export format, each returning the same `sources.Export`:

- csv_excel   plain CSV / TSV text or .xlsx tables (trialeval.exports reads them exactly)
- redcap      REDCap record exports, raw or labels, longitudinal or classic, + data dictionary
- qualtrics   Qualtrics CSV exports (three header rows), numeric or choice text
- spss_stata  SPSS .sav and Stata .dta (pyreadstat): value labels, user-defined missing values

then `validate` checks every cell the same way whatever the format (answers.py reads answer
labels as codes). Raw files are only read.
"""

from __future__ import annotations

import logging

import pandas as pd

from trialeval.errors import Problems
from trialeval.ingest.validate import _collecting, normalise_ids, read_participants, read_wave
from trialeval.io import in_set, write_json, write_parquet

__all__ = [
    "COUNTED",
    "check_inputs",
    "ingest",
    "normalise_ids",
    "read_inputs",
    "read_participants",
    "read_wave",
    "run",
]

log = logging.getLogger(__name__)

# What each wave's count holds (every key present, zero or not, so consort.json has one shape).
COUNTED = {
    "preview_responses": "Qualtrics preview responses (Status or DistributionChannel), excluded",
    "test_responses": "Qualtrics test responses (Status or DistributionChannel), excluded",
    "forms_not_complete": "REDCap forms whose status does not count (forms_complete), not scored",
    "missing_code_answers": "answers given as a missing code (or SPSS/Stata missing value)",
}


def read_inputs(
    spec: dict, problems: Problems, tally: dict | None = None, labels: dict | None = None
):
    """(participants, waves) of a trial, every problem of every file added to `problems`;
    `tally` gets the counts per timepoint (see COUNTED), `labels` the export's labels of the
    covariates the trial file does not label."""
    tally = {} if tally is None else tally
    participants = read_participants(spec, problems, labels)
    enrolled = None if participants is None else participants["participant_id"]
    waves = []
    for tp in spec["timepoints"]:
        counts = tally.setdefault(tp["id"], dict.fromkeys(COUNTED, 0))
        waves.append(read_wave(spec, tp, enrolled, problems, counts))
    return participants, waves


def check_inputs(spec: dict, problems: Problems | None = None) -> None:
    """Read every input of a trial as ingest does (run when the DAG is built, before any job
    starts: trialeval.checks); every problem goes to `problems`, or is raised."""
    with _collecting(problems) as problems:
        read_inputs(spec, problems)


def ingest(
    spec: dict, tally: dict | None = None, labels: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate everything and return (participants, items); nothing is written here.
    `tally` (a dict) receives the counts per timepoint; `labels` the covariate labels of the
    participants file (REDCap field labels, SPSS / Stata variable labels) for the covariates
    the trial file does not label (Table 1 shows them: config.with_export_labels)."""
    problems = Problems()
    tally = {} if tally is None else tally
    participants, waves = read_inputs(spec, problems, tally, labels)
    problems.raise_if_any()
    items = pd.concat(waves, ignore_index=True)
    withdrawn = set(participants.loc[participants["withdrawn"], "participant_id"])
    dropped = in_set(items["participant_id"], withdrawn)
    if dropped.any():
        log.info(
            "%d response(s) of %d participant(s) who withdrew consent are not used",
            int(dropped.sum()),
            len(withdrawn),
        )
    items = items.loc[~dropped].reset_index(drop=True)
    order = {tp["id"]: i for i, tp in enumerate(spec["timepoints"])}
    items = items.sort_values(
        ["participant_id", "timepoint"], key=lambda s: s.map(order) if s.name == "timepoint" else s
    ).reset_index(drop=True)
    participants = participants.sort_values("participant_id").reset_index(drop=True)
    log.info(
        "%s: %d participants, %d responses over %d timepoints",
        spec["id"],
        len(participants),
        len(items),
        len(spec["timepoints"]),
    )
    for tp, counts in tally.items():
        counted = ", ".join(f"{n} {COUNTED[k]}" for k, n in counts.items() if n)
        if counted:
            log.info("%s: %s", tp, counted)
    return participants, items


def run(
    spec: dict,
    participants_out: str,
    items_out: str,
    counts_out: str | None = None,
    labels_out: str | None = None,
) -> None:
    """Rule entry: validate all inputs first, then write the tables (and the counts and
    covariate labels) atomically."""
    tally: dict = {}
    labels: dict = {}
    participants, items = ingest(spec, tally, labels)
    write_parquet(participants, participants_out)
    write_parquet(items, items_out)
    if counts_out is not None:
        write_json(tally, counts_out)
    if labels_out is not None:
        write_json(labels, labels_out)
