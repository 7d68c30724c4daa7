"""REDCap record exports ("CSV raw" or "CSV labels"), with their data dictionary when given.

The header must hold the variable names (record_id, redcap_event_name, ...): REDCap's labels
export with field labels as headers is refused with a message saying how to export it.

A longitudinal project exports one file with a row per record x event: `redcap_event_name`
(baseline_arm_1, or the event's label in a labels export) says which event a row is, and each
timepoint reads the rows of its `event` (one, or a list: one event per REDCap arm). The
participants file may be the same export: its fields (arm, site, covariates, disposition)
are read from the rows of its `event`s, by default every event, and merged per record, since
each field lives on the events whose forms hold it (the arm at baseline, withdrawal later):
one value per field and record, two different ones are an error. A classic project has one
row per record.

- Rows of repeating instruments (`redcap_repeat_instrument` set) are not survey waves and are
  left out (said in the log).
- Form status: each form has `<form>_complete` (0 Incomplete, 1 Unverified, 2 Complete; the
  words in a labels export). A form's answers count when its status is one `forms_complete`
  accepts (default: Complete only); the answers of a form that does not count are not scored
  and are counted; a row with no form that counts is not a response. The form of an item is
  its dictionary `Form Name`, else the first `<form>_complete` column to its right (REDCap
  writes each form's status after the form's fields).
- `redcap_data_access_group` is a column like any other: name it as the site column.
- Checkbox fields are exported as `<field>___<code>` (1/0, Checked/Unchecked); a covariate
  named after the field reads the checked choice (`more than one` when several are).
- The data dictionary (`Variable / Field Name`, `Form Name`, `Field Type`, `Field Label`,
  `Choices, Calculations, OR Slider Labels` as "1, Never | 2, Rarely", `Text Validation
  Min` / `Max`): a labels export's choice labels are read back to codes; each field's choices
  become the export's value labels (checked against the instrument by trialeval.ingest.answers,
  and shown for categorical covariates); validation bounds are checked against the item range;
  field labels (as plain text) are the codebook, and label covariates the trial file does not.

PyCap talks to the REDCap API only; these are files, read with pandas and the parser below.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trialeval.config import normalise_label
from trialeval.errors import Problems, TrialInputError
from trialeval.exports import read_export
from trialeval.ingest import answers
from trialeval.ingest.sources import Export

log = logging.getLogger(__name__)

EVENT = "redcap_event_name"
EVENT_LABEL = "Event Name"  # its header in an export whose header holds field labels
REPEAT_INSTRUMENT = "redcap_repeat_instrument"
COMPLETE = "_complete"
CHECKBOX = "___"
STATUS = {"0": 0, "1": 1, "2": 2, "incomplete": 0, "unverified": 1, "complete": 2}
COUNTED = {"complete": {2}, "unverified": {1, 2}, "any": {0, 1, 2}}
MORE_THAN_ONE = "more than one"
CHECKED = {"1", "checked"}

# Dictionary columns, as REDCap names them (compared ignoring case and spaces).
NAME = "Variable / Field Name"
FORM = "Form Name"
TYPE = "Field Type"
LABEL = "Field Label"
CHOICES = "Choices, Calculations, OR Slider Labels"
MIN = "Text Validation Min"
MAX = "Text Validation Max"
FIXED_CHOICES = {"yesno": {"1": "Yes", "0": "No"}, "truefalse": {"1": "True", "0": "False"}}
WITH_CHOICES = {"radio", "dropdown", "checkbox"}
TAG = re.compile(r"<[^>]*>")


@dataclass
class Field:
    """One field of the data dictionary."""

    name: str
    form: str
    type: str
    label: str
    choices: dict[str, str] = field(default_factory=dict)
    bounds: tuple[float | None, float | None] = (None, None)


def read(
    source: dict, frame: pd.DataFrame, used: Collection[str], answer_columns: Collection[str]
) -> Export:
    """The rows of `source` (its event) of a REDCap export already read as text."""
    path = source["path"]
    fields = read_dictionary(source["dictionary"]) if source["dictionary"] else {}
    frame = _rows_of_event(source, frame, bool(answer_columns))
    frame = _without_repeating_rows(path, frame)
    frame = _codes_for_labels(frame, fields)
    frame = _checkbox_fields(frame, used, fields)
    if not answer_columns and EVENT in frame.columns:  # the participants' fields
        frame = _one_row_per_record(source, frame, used)
    excluded = {}
    if answer_columns:
        frame, excluded = _counted_forms(source, frame, list(answer_columns), fields)
    labels = {}
    for name in frame.columns:
        known = fields.get(name)
        if known is not None and known.choices:
            labels[name] = known.choices
    ranges = {
        name: fields[name].bounds
        for name in answer_columns
        if name in fields and fields[name].bounds != (None, None)
    }
    return Export(
        frame,
        "redcap",
        labels=labels,
        labels_from=source["dictionary"] or path,
        excluded=excluded,
        codebook={name: f.label for name, f in fields.items() if name in frame.columns},
        ranges=ranges,
    )


# --- rows -------------------------------------------------------------------------------


def _rows_of_event(source: dict, frame: pd.DataFrame, survey: bool) -> pd.DataFrame:
    """The rows of the source's `event`s (a participants file without `event`: every row)."""
    path, events = source["path"], source["event"]
    if EVENT not in frame.columns and EVENT_LABEL in frame.columns:
        raise TrialInputError(
            f"{path}: the header holds field labels ({EVENT_LABEL!r} for {EVENT}): export the "
            f'column names as variable names ("CSV raw", or with labels as values only: '
            f"the API's rawOrLabel=label with rawOrLabelHeaders=raw)"
        )
    if EVENT not in frame.columns:
        if events:
            raise TrialInputError(
                f"{path}: `event: {', '.join(events)}` but the export has no {EVENT} column (a "
                f"classic project has one row per record): remove `event`, or export the "
                f"longitudinal project's events"
            )
        return frame
    names = frame[EVENT].astype("string").str.strip()
    found = list(dict.fromkeys(names.dropna()))
    if not events:
        if survey:
            raise TrialInputError(
                f"{path}: a longitudinal REDCap export (column {EVENT}): set `event` for this "
                f"timepoint to the event whose rows it reads; the export has {', '.join(found)}"
            )
        log.info("%s: participant fields merged over every event of each record", path)
        return frame
    keys = names.map(normalise_label, na_action="ignore")
    absent = [e for e in events if normalise_label(e) not in set(keys.dropna())]
    if absent:
        raise TrialInputError(
            f"{path}: no row of event {', '.join(repr(e) for e in absent)} (`event`, compared "
            f"ignoring case and spaces) in column {EVENT}; the export has "
            f"{', '.join(repr(n) for n in found)}"
        )
    rows = keys.isin({normalise_label(e) for e in events}).fillna(False).to_numpy(bool)
    return frame.loc[rows]


def _one_row_per_record(source: dict, frame: pd.DataFrame, used) -> pd.DataFrame:
    """A longitudinal export's participant fields, which REDCap keeps on the rows of the
    events whose forms hold them (the arm at baseline, withdrawal at a later event), as one
    row per record: each used field's one non-empty value, at the record's first row (its
    row number). Two different values of a field in one record are an error; rows without
    an id are left as they are (validation names them)."""
    path, id_column = source["path"], source["id_column"]
    if id_column not in frame.columns:
        return frame  # validation says the column is missing
    ids = frame[id_column].astype("string").str.strip()
    has_id = (ids.notna() & (ids != "")).to_numpy(bool)
    records, keys = frame.loc[has_id], ids[has_id]
    fields = [c for c in dict.fromkeys(used) if c in frame.columns and c not in (id_column, EVENT)]
    values = records[fields].apply(lambda s: s.astype("string").str.strip().replace("", pd.NA))
    by_record = values.groupby(keys.to_numpy(), sort=False)
    _conflicts(path, records[EVENT], keys, values, by_record.nunique())
    first_rows = ~keys.duplicated().to_numpy()
    merged = records.loc[first_rows].copy()
    merged[fields] = by_record.first().loc[keys[first_rows].to_numpy(), fields].to_numpy()
    if len(merged) < len(records):
        log.info(
            "%s: participant fields of %d rows merged into %d records",
            path,
            len(records),
            len(merged),
        )
    return pd.concat([merged, frame.loc[~has_id]]).sort_index()


def _conflicts(path: str, events, keys, values: pd.DataFrame, distinct: pd.DataFrame) -> None:
    """One problem per record and field with two different values (on two events)."""
    clashes = distinct.stack()
    clashes = clashes[clashes > 1].index

    def message(record, column) -> str:
        given = values.loc[(keys == record).to_numpy(), column].dropna()
        row, other = given.index[0], given.index[given != given.iloc[0]][0]
        return (
            f"{path}: record {record!r}, field {column!r}: {given[row]!r} on event "
            f"{events[row]!r} (row {row}) but {given[other]!r} on event {events[other]!r} "
            f"(row {other}); a participant field needs one value per record: correct the "
            f"export, or set `event` of data.participants to the event(s) whose rows hold "
            f"the participant fields"
        )

    problems = Problems()
    problems.extend((message(*clash) for clash in clashes), len(clashes))
    problems.raise_if_any()


def _without_repeating_rows(path: str, frame: pd.DataFrame) -> pd.DataFrame:
    if REPEAT_INSTRUMENT not in frame.columns:
        return frame
    repeating = frame[REPEAT_INSTRUMENT].notna().to_numpy()
    if repeating.any():
        log.info(
            "%s: %d row(s) of repeating instruments are not survey waves and are not read",
            path,
            int(repeating.sum()),
        )
    return frame.loc[~repeating]


# --- values -----------------------------------------------------------------------------


def _codes_for_labels(frame: pd.DataFrame, fields: dict[str, Field]) -> pd.DataFrame:
    """A labels export's choice labels read back to their codes (raw cells stay as they are)."""
    out = {}
    for name in frame.columns:
        known = fields.get(name)
        if known is not None and known.choices:
            codes = {normalise_label(label): code for code, label in known.choices.items()}
            out[name] = answers.decode(frame[name], codes)
    return frame.assign(**out) if out else frame


def _checkbox_fields(frame: pd.DataFrame, used, fields: dict[str, Field]) -> pd.DataFrame:
    """A used column that is a checkbox field exported as <field>___<code> columns: the one
    checked code, MORE_THAN_ONE, or empty."""
    out = {}
    for name in used:
        boxes = [c for c in frame.columns if c.startswith(f"{name}{CHECKBOX}")]
        if name in frame.columns or not boxes:
            continue
        checked = np.column_stack(
            [frame[c].astype("string").str.strip().str.lower().isin(CHECKED) for c in boxes]
        )
        codes = np.array([c[len(name) + len(CHECKBOX) :] for c in boxes], dtype=object)
        count = checked.sum(axis=1)
        first = codes[checked.argmax(axis=1)]
        value = np.where(count == 1, first, np.where(count > 1, MORE_THAN_ONE, None))
        out[name] = pd.array(value, dtype="string")
    return frame.assign(**out) if out else frame


# --- form status --------------------------------------------------------------------------


def _forms(path: str, frame: pd.DataFrame, columns, fields, forms_complete) -> dict[str, list]:
    """{status column: the answer columns of its form}."""
    order = list(frame.columns)
    forms: dict[str, list[str]] = {}
    unknown = []
    for column in dict.fromkeys(columns):
        if column in fields:
            status = f"{fields[column].form}{COMPLETE}"
        else:
            after = order[order.index(column) + 1 :] if column in order else []
            status = next((c for c in after if c.endswith(COMPLETE)), None)
        if status is None or status not in frame.columns:
            unknown.append(column)
        else:
            forms.setdefault(status, []).append(column)
    if unknown and forms_complete != "any":
        raise TrialInputError(
            f"{path}: no form status column (<form>{COMPLETE}) for {', '.join(unknown[:5])}"
            f"{' ...' if len(unknown) > 5 else ''}: export the forms' status fields, give the "
            f"data dictionary (`dictionary`), or set `forms_complete: any`"
        )
    if unknown:
        forms[""] = unknown
    return forms


def _status(path: str, frame: pd.DataFrame, column: str) -> np.ndarray:
    """A form status column as 0 / 1 / 2 (-1 when empty)."""
    text = frame[column].astype("string").str.strip().str.lower()
    status = text.map(lambda v: STATUS.get(v, -2), na_action="ignore").fillna(-1).astype(int)
    bad = status.to_numpy() == -2
    if bad.any():
        problems = Problems()
        for row in frame.index[bad]:
            problems.add(
                f"{path}: row {row}, column {column!r}: {frame.at[row, column]!r} is not a form "
                f"status; expected 0, 1, 2 (Incomplete, Unverified, Complete)"
            )
        problems.raise_if_any()
    return status.to_numpy()


def _counted_forms(source: dict, frame: pd.DataFrame, columns, fields):
    """The rows with at least one form that counts, answers of forms that do not emptied;
    and how many forms holding answers did not count."""
    path, forms_complete = source["path"], source["forms_complete"]
    columns = [c for c in columns if c in frame.columns]  # validate names the absent ones
    accepted = COUNTED[forms_complete]
    keep = np.zeros(len(frame), dtype=bool)
    emptied, not_counted = {}, 0
    for status_column, form_columns in _forms(path, frame, columns, fields, forms_complete).items():
        answered = frame[form_columns].notna().to_numpy().any(axis=1)
        if not status_column:  # no status known (forms_complete: any): the answers decide
            keep |= answered
            continue
        status = _status(path, frame, status_column)
        counts = np.isin(status, list(accepted)) & ((status >= 1) | answered)
        keep |= counts
        dropped = ~counts & answered
        not_counted += int(dropped.sum())
        if dropped.any():
            for column in form_columns:
                emptied[column] = frame[column].mask(dropped)
    if emptied:
        frame = frame.assign(**emptied)
    if not_counted:
        log.info(
            "%s: %d form(s) with answers whose status does not count (forms_complete: %s): "
            "their answers are not scored",
            path,
            not_counted,
            forms_complete,
        )
    return frame.loc[keep], {"forms_not_complete": not_counted}


# --- the data dictionary --------------------------------------------------------------------


def read_dictionary(path: str) -> dict[str, Field]:
    """{field name: Field} from a REDCap data dictionary CSV; problems name row and column."""
    frame = read_export(path)
    header = {normalise_label(c): c for c in frame.columns}
    missing = [c for c in (NAME, FORM, TYPE) if normalise_label(c) not in header]
    if missing:
        raise TrialInputError(
            f"{path}: not a REDCap data dictionary: no column {', '.join(repr(c) for c in missing)}"
            f" (expected the CSV of Project Setup > Data Dictionary > Download)"
        )

    def column(name: str) -> pd.Series:
        found = header.get(normalise_label(name))
        return frame[found] if found else pd.Series(None, index=frame.index, dtype="string")

    problems = Problems()
    fields = {}
    rows = zip(
        frame.index,
        column(NAME),
        column(FORM),
        column(TYPE),
        column(LABEL),
        column(CHOICES),
        column(MIN),
        column(MAX),
        strict=True,
    )
    for row, name, form, kind, label, choices, lo, hi in rows:
        if pd.isna(name):
            continue
        kind = str(kind or "").strip().lower()
        where = f"{path}: row {row}, field {name!r}"
        fields[name.strip()] = Field(
            name=name.strip(),
            form=str(form or "").strip(),
            type=kind,
            label=_plain(label),
            choices=_choices(where, kind, choices, problems),
            bounds=(_bound(lo), _bound(hi)),
        )
    problems.raise_if_any()
    return fields


def _choices(where: str, kind: str, text, problems: Problems) -> dict[str, str]:
    """'1, Never | 2, Rarely' as {'1': 'Never', '2': 'Rarely'} (radio, dropdown, checkbox)."""
    if kind in FIXED_CHOICES:
        return dict(FIXED_CHOICES[kind])
    if kind not in WITH_CHOICES or pd.isna(text) or not str(text).strip():
        return {}
    out = {}
    for part in str(text).split("|"):
        code, comma, label = part.partition(",")
        if not comma or not code.strip():
            problems.add(
                f"{where}: choice {part.strip()!r} in {CHOICES!r} is not 'code, label' "
                f"(choices are separated by |)"
            )
            continue
        out[code.strip()] = label.strip()
    return out


def _plain(label) -> str:
    """A field label as plain text: REDCap labels may hold HTML (<b>Age</b> (years))."""
    if pd.isna(label):
        return ""
    return " ".join(html.unescape(TAG.sub(" ", str(label))).split())


def _bound(text) -> float | None:
    """A numeric validation bound (a date or time bound is no answer range: None)."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None
