"""Qualtrics CSV exports: header rows, then one row per response.

Row 1 holds the column names (QID-based or as renamed in the survey: Q1_1, ...), row 2 the
question text (kept as the export's codebook), row 3 `{"ImportId":"QID1_1"}` cells. Exports
of the legacy exporter (before 2017, or "Use legacy exporter") have two header rows: the
names, then the question text, where the metadata columns are named again (ResponseID ...
Finished; in older ones row 1 calls them V1 ... V10 and row 2 names them: the reader gives
those columns their row-2 names too, so `id_column: ExternalDataReference` reads V4).
The answers are the numeric values or the choice text ("Use choice text"), whichever the
export holds: both read (trialeval.ingest.answers). A response is left out, and counted,
when its `Status` says Survey Preview or Survey Test (1 / 2 in a numeric export) or its
`DistributionChannel` is preview or test. Unfinished responses (`Finished` false) are kept:
their answered items score under the instrument's missing-item rule (their number is said in
the log). The participant id is an embedded-data field or ExternalReference: name it in the
file's `id_column`. One export per wave.

A file whose header looks like a Qualtrics export's but is neither layout (V1 ... V10
without row 2 naming them; Qualtrics' metadata columns with a question-text or ImportId row
but not both, or not in their place) stops the run: its rows cannot be told from its header
rows safely. `format: table` reads such a file as a plain table.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from trialeval.errors import TrialInputError
from trialeval.ingest.sources import Export

log = logging.getLogger(__name__)

IMPORT_ID = re.compile(r'^\s*\{\s*"ImportId"\s*:')
QUESTION_ROW, IMPORT_ROW = 2, 3  # spreadsheet rows below the names (row 1)
PREVIEW = {"1", "survey preview", "9", "preview spam", "17", "offline survey preview"}
TEST = {"2", "survey test"}
CHANNELS = {"preview": "preview_responses", "test": "test_responses"}
NOT_FINISHED = {"0", "false"}
# The legacy exporter's first ten columns, V1 ... V10 in its older exports (row 2 names them).
LEGACY = ["ResponseID", "ResponseSet", "Name", "ExternalDataReference", "EmailAddress"]
LEGACY += ["IPAddress", "Status", "StartDate", "EndDate", "Finished"]
V_NAMES = [f"V{k}" for k in range(1, len(LEGACY) + 1)]
# Metadata columns of today's exports and the question text row 2 gives them.
METADATA = {"ResponseId": "Response ID", "Status": "Response Type", "Finished": "Finished"}
EXPECTED = (
    "expected Qualtrics' header rows as Qualtrics writes them: names, question text and "
    '{"ImportId": ...} cells (rows 1-3), or, from the legacy exporter, names (V1 ... V10 in '
    "older exports) and then the question text with ResponseID under V1 (rows 1-2)"
)


def has_import_ids(frame: pd.DataFrame, row: int = IMPORT_ROW) -> bool:
    """Whether a table read with its names on row 1 holds ImportId cells on `row`."""
    if row not in frame.index:
        return False
    cells = frame.loc[row].dropna()
    return len(cells) > 0 and all(IMPORT_ID.match(str(c)) for c in cells)


def _second_row(frame: pd.DataFrame) -> dict[str, str]:
    """Row 2's cells by column, trimmed, case folded ({} when there is no row 2)."""
    if QUESTION_ROW not in frame.index:
        return {}
    cells = frame.loc[QUESTION_ROW].dropna()
    return {name: str(text).strip().casefold() for name, text in cells.items()}


def layout(frame: pd.DataFrame) -> str | None:
    """'current' (three header rows), 'legacy' (two: row 2 names ResponseID under V1 or under
    ResponseID itself) or None."""
    if has_import_ids(frame):
        return "current"
    second = _second_row(frame)
    legacy = "responseid"
    if any(second.get(name) == legacy for name in ("V1", "ResponseID")):
        return "legacy"
    return None


def cut_header(frame: pd.DataFrame) -> str | None:
    """Why a file that is no Qualtrics layout still looks like an export whose header rows
    were cut or edited (then its rows cannot be told from header rows), or None."""
    names = set(frame.columns)
    if set(V_NAMES) <= names:
        return (
            "columns V1 ... V10, as the legacy Qualtrics exporter names its first columns, "
            "but row 2 does not name them (ResponseID under V1)"
        )
    if "ResponseId" in names and names & (set(METADATA) - {"ResponseId"}):
        second = _second_row(frame)
        question_row = any(second.get(c) == q.casefold() for c, q in METADATA.items())
        imports = has_import_ids(frame, QUESTION_ROW) or has_import_ids(frame, IMPORT_ROW + 1)
        what = "Qualtrics metadata columns (ResponseId, Status, Finished)"
        if question_row:
            return f"{what} and their question text on row 2, but no ImportId row 3"
        if imports:
            return f"{what} with ImportId cells on row 2 or 4, not row 3"
    return None


def read(source: dict, frame: pd.DataFrame) -> Export:
    """The responses of a Qualtrics export read as text (the rows below the names that are
    header rows are dropped)."""
    path = source["path"]
    kind = layout(frame) if source["header_row"] == 1 else None
    if kind is None:
        said = cut_header(frame)
        raise TrialInputError(
            f"{path}: not a Qualtrics export as expected"
            + (f" ({said})" if said else "")
            + f"; {EXPECTED} (header_row 1); export it again from Data & Analysis > Export "
            f"& Import > Export data"
        )
    codebook = {
        name: str(text) for name, text in frame.loc[QUESTION_ROW].items() if not pd.isna(text)
    }
    if kind == "legacy":
        frame = _legacy_names(path, frame)
        frame = frame.drop(index=[QUESTION_ROW])
    else:
        frame = frame.drop(index=[QUESTION_ROW, IMPORT_ROW])
    preview = _marked(frame, "Status", PREVIEW) | _channel(frame, "preview")
    test = (_marked(frame, "Status", TEST) | _channel(frame, "test")) & ~preview
    excluded = {"preview_responses": int(preview.sum()), "test_responses": int(test.sum())}
    if preview.any() or test.any():
        log.info(
            "%s: %d preview and %d test response(s) excluded (Status / DistributionChannel)",
            path,
            excluded["preview_responses"],
            excluded["test_responses"],
        )
    frame = frame.loc[~(preview | test)]
    unfinished = _marked(frame, "Finished", NOT_FINISHED)
    if unfinished.any():
        log.info(
            "%s: %d unfinished response(s) kept (Finished false): the items they answered are "
            "scored under each instrument's missing-item rule",
            path,
            int(unfinished.sum()),
        )
    return Export(frame, "qualtrics", excluded=excluded, codebook=codebook)


def _legacy_names(path: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The legacy exporter's V1 ... V10 also under the names row 2 gives them (Status,
    Finished, ExternalDataReference, ...), unless a column already has that name."""
    canonical = {name.casefold(): name for name in LEGACY}
    second = _second_row(frame)
    aliases = {}
    for column in frame.columns:
        name = canonical.get(second.get(column, ""))
        if re.fullmatch(r"V\d+", column) and name and name not in frame.columns:
            aliases[name] = frame[column]
    log.info(
        "%s: legacy Qualtrics export (two header rows)%s",
        path,
        f"; {', '.join(f'{c.name} is {n}' for n, c in aliases.items())}" if aliases else "",
    )
    return frame.assign(**aliases)


def _marked(frame: pd.DataFrame, column: str, values: set[str]) -> np.ndarray:
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    text = frame[column].astype("string").str.strip().str.lower()
    return text.isin(values).fillna(False).to_numpy(bool)


def _channel(frame: pd.DataFrame, channel: str) -> np.ndarray:
    return _marked(frame, "DistributionChannel", {channel})
