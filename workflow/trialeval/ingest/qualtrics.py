"""Qualtrics CSV exports: three header rows, then one row per response.

Row 1 holds the column names (QID-based or as renamed in the survey: Q1_1, ...), row 2 the
question text (kept as the export's codebook), row 3 `{"ImportId":"QID1_1"}` cells. The answers
are the numeric values or the choice text ("Use choice text"), whichever the export holds:
both read (trialeval.ingest.answers). A response is left out, and counted, when its `Status`
says Survey Preview or Survey Test (1 / 2 in a numeric export) or its `DistributionChannel` is
preview or test. Unfinished responses (`Finished` false) are kept: their answered items score
under the instrument's missing-item rule (their number is said in the log). The participant id
is an embedded-data field or ExternalReference: name it in the file's `id_column`. One export
per wave.
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


def has_import_ids(frame: pd.DataFrame) -> bool:
    """Whether a table read with its names on row 1 is a Qualtrics export (row 3: ImportId)."""
    if IMPORT_ROW not in frame.index:
        return False
    cells = frame.loc[IMPORT_ROW].dropna()
    return len(cells) > 0 and all(IMPORT_ID.match(str(c)) for c in cells)


def read(source: dict, frame: pd.DataFrame) -> Export:
    """The responses of a Qualtrics export read as text (rows 2 and 3 are headers)."""
    path = source["path"]
    if source["header_row"] != 1 or not has_import_ids(frame):
        raise TrialInputError(
            f"{path}: not a Qualtrics export as expected: the column names on row 1, the "
            f'question text on row 2 and {{"ImportId": ...}} cells on row 3 (legacy exports '
            f"with two header rows: export again from Data & Analysis > Export & Import)"
        )
    codebook = {
        name: str(text) for name, text in frame.loc[QUESTION_ROW].items() if not pd.isna(text)
    }
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


def _marked(frame: pd.DataFrame, column: str, values: set[str]) -> np.ndarray:
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    text = frame[column].astype("string").str.strip().str.lower()
    return text.isin(values).fillna(False).to_numpy(bool)


def _channel(frame: pd.DataFrame, channel: str) -> np.ndarray:
    return _marked(frame, "DistributionChannel", {channel})
