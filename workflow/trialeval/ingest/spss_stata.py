"""SPSS .sav and Stata .dta files, read with pyreadstat.

- Rows are cases (SPSS) or observations (Stata), numbered from 1 as the Data View / Data
  Editor numbers them: messages name that row.
- Numbers are the stored values; a whole number is written as such (3.0 is 3), others with
  every digit Python keeps (repr), so validation sees exactly the file's value.
- User-defined missing values (SPSS: discrete values and ranges per variable; Stata: the
  extended missing values .a to .z) are missing, and counted as answers given as a missing
  code; system-missing values (. in Stata, sysmis in SPSS) are empty cells.
- Value labels are the export's own labels: checked against the instrument's scale and read
  for string answers (trialeval.ingest.answers); categorical covariates and sites show them;
  an arm whose code is labelled with an arm id is that arm.
- Variable labels are the export's codebook, and label covariates the trial file does not.
"""

from __future__ import annotations

import datetime
import logging
import math

import numpy as np
import pandas as pd
import pyarrow as pa

from trialeval.errors import TrialInputError
from trialeval.ingest.answers import code_text
from trialeval.ingest.sources import Export

log = logging.getLogger(__name__)

KINDS = {"spss": "an SPSS .sav", "stata": "a Stata .dta"}
TOOLS = {"spss": "SPSS", "stata": "Stata"}


def read(source: dict, kind: str) -> Export:
    """Every variable of the file as text, user-missing values emptied (see the docstring)."""
    import pyreadstat

    path = source["path"]
    reader = pyreadstat.read_sav if kind == "spss" else pyreadstat.read_dta
    try:
        frame, meta = reader(path, user_missing=True)
    except Exception as error:  # pyreadstat raises its own types (ReadstatError, ...) and OSError
        raise TrialInputError(
            f"{path}: cannot be read as {KINDS[kind]} file ({type(error).__name__}: {error}); "
            f"is it damaged or cut off? Save it again from {TOOLS[kind]}"
        ) from None
    if frame.empty:
        raise TrialInputError(f"{path}: no cases in the file; expected one row per participant")
    missing = _user_missing(frame, meta, kind)
    columns = {}
    counted = 0
    for name in frame.columns:
        mask = missing.get(name)
        if mask is not None:
            counted += int(mask.sum())
        columns[name] = _as_text(frame[name], mask)
    index = pd.Index(np.arange(1, len(frame) + 1), name="row")
    text = pd.DataFrame(columns, index=index)
    labels = {
        name: {
            code_text(code): str(label)
            for code, label in value_labels.items()
            if not _is_missing_code(code, name, meta, kind)
        }
        for name, value_labels in meta.variable_value_labels.items()
    }
    codebook = {n: label for n, label in meta.column_names_to_labels.items() if label}
    log.info(
        "%s: %s file, %d rows, %d variables; %d user-defined missing value(s) read as missing",
        path,
        KINDS[kind],
        len(text),
        len(text.columns),
        counted,
    )
    return Export(
        text,
        kind,
        labels=labels,
        labels_from=path,
        codebook=codebook,
        missing_by_code={n: int(m.sum()) for n, m in missing.items()},
    )


def _user_missing(frame: pd.DataFrame, meta, kind: str) -> dict[str, np.ndarray]:
    """{variable: mask of its user-defined missing values}."""
    out = {}
    if kind == "spss":
        for name, ranges in (meta.missing_ranges or {}).items():
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(float)
            mask = np.zeros(len(frame), dtype=bool)
            for bounds in ranges:
                lo, hi = bounds["lo"], bounds["hi"]
                if isinstance(lo, str):  # a string variable's missing value
                    mask |= (frame[name].astype(str) == lo).to_numpy()
                else:
                    mask |= (values >= lo) & (values <= hi)
            out[name] = mask
    else:
        for name in frame.columns:  # Stata: .a to .z come back as the letters
            if frame[name].dtype == object:
                letters = frame[name].map(lambda v: isinstance(v, str) and len(v) == 1)
                if meta.readstat_variable_types.get(name) != "string" and letters.any():
                    out[name] = letters.to_numpy(bool)
    return out


def _is_missing_code(code, name: str, meta, kind: str) -> bool:
    """Whether a labelled code is one of the variable's user-defined missing values (its
    label, 'Refused' say, is then no answer label)."""
    if kind == "stata":
        return isinstance(code, str) and meta.readstat_variable_types.get(name) != "string"
    for bounds in (meta.missing_ranges or {}).get(name, []):
        lo, hi = bounds["lo"], bounds["hi"]
        if isinstance(lo, str) == isinstance(code, str) and lo <= code <= hi:
            return True
    return False


def _cell(value) -> str | None:
    """One stored value as the text validation reads."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, float | np.floating):
        value = float(value)
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime.datetime | pd.Timestamp):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None


def _as_text(column: pd.Series, missing: np.ndarray | None) -> pd.arrays.ArrowExtensionArray:
    values = [_cell(v) for v in column.tolist()]
    if missing is not None:
        values = [None if gone else v for v, gone in zip(values, missing, strict=True)]
    return pd.arrays.ArrowExtensionArray(pa.array(values, pa.string()))
