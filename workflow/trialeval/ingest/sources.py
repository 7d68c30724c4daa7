"""One export, whatever tool wrote it, as the validation reads it: `read_source(source)`.

Each format has its reader beside this module (csv_excel, redcap, qualtrics, spss_stata);
each returns an `Export`: every column as text, the frame's index holding each row's number as
the tool shows it (a spreadsheet row, a SPSS case), only the rows that are responses of this
source (a REDCap event's rows, Qualtrics responses less previews), plus what the export itself
says about its values (value labels) and what was left out before validation (counted).

The format is declared (`format`) or detected: .sav and .dta from their first bytes, a
Qualtrics CSV from its third header row ({"ImportId": ...}) or, from the legacy exporter, its
second (ResponseID under V1), a REDCap export from its redcap_event_name column or REDCap-only
keys (`event`, `dictionary`); otherwise a plain table, unless its header looks like a
Qualtrics export's with header rows cut (then the run stops: qualtrics.cut_header).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trialeval.errors import TrialInputError
from trialeval.exports import read_export

log = logging.getLogger(__name__)

_SAV = (b"$FL2", b"$FL3")  # SPSS system files (uncompressed / zlib-compressed)
_DTA_XML = b"<stata_dta>"  # Stata 13 and later
_DTA_OLD = {113, 114, 115}  # Stata 8-12: the format version is the first byte
_WHAT = {"spss": "an SPSS .sav file", "stata": "a Stata .dta file"}


@dataclass
class Export:
    """One source's rows, as text, ready for validation.

    `labels`: the export's own value labels, column -> {code: label} (REDCap choices from the
    data dictionary, SPSS / Stata value labels); `labels_from` names the file they come from;
    `ranges`: column -> (lowest, highest) answer the export allows (REDCap validation bounds).
    `missing_by_code`: column -> how many of its values the export itself marks missing
    (SPSS user-missing, Stata .a to .z), already emptied in `frame`.
    `excluded`: responses or answers left out before validation, by reason (counted in
    consort.json). `codebook`: column -> question text or variable label, when the export
    has them.
    """

    frame: pd.DataFrame
    format: str
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    labels_from: str = ""
    excluded: dict[str, int] = field(default_factory=dict)
    codebook: dict[str, str] = field(default_factory=dict)
    ranges: dict[str, tuple] = field(default_factory=dict)
    missing_by_code: dict[str, int] = field(default_factory=dict)


def binary_format(path: Path) -> str | None:
    """'spss' or 'stata' when the file's first bytes say so, else None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    if head.startswith(_SAV):
        return "spss"
    if head.startswith(_DTA_XML) or (len(head) > 1 and head[0] in _DTA_OLD and head[1] in (1, 2)):
        return "stata"
    return None


def _text_format(source: dict, frame: pd.DataFrame) -> str:
    from trialeval.ingest import qualtrics

    if source["header_row"] == 1 and qualtrics.layout(frame):
        return "qualtrics"
    if "redcap_event_name" in frame.columns or source["event"] or source["dictionary"]:
        return "redcap"
    cut = qualtrics.cut_header(frame)
    if cut:  # neither layout: which rows are responses cannot be told safely
        raise TrialInputError(
            f"{source['path']}: {cut}; {qualtrics.EXPECTED}. Export it again from Qualtrics, "
            f"or set `format: table` for this file if it is a plain table with one header row"
        )
    return "table"


def read_source(source: dict, used: Collection[str], answers: Collection[str] = ()) -> Export:
    """The rows of one source as an Export (see the module docstring).

    `used`: the columns the caller reads (a duplicated name among them is an error);
    `answers`: those of them holding survey answers (REDCap counts a form's answers only when
    the form's status says so). Raises TrialInputError naming the file.
    """
    path = Path(source["path"])
    if not path.is_file():
        raise TrialInputError(f"{path}: file not found")
    declared = source["format"]
    binary = binary_format(path)
    if binary and declared not in (None, binary):
        raise TrialInputError(
            f"{path}: `format: {declared}`, but the file is {_WHAT[binary]}: set "
            f"`format: {binary}` (or leave `format` out)"
        )
    if declared in _WHAT and binary != declared:
        raise TrialInputError(
            f"{path}: `format: {declared}`, but the file is not {_WHAT[declared]} (its first "
            f"bytes say otherwise)"
        )
    if binary:
        from trialeval.ingest import spss_stata

        export = spss_stata.read(source, binary)
    else:
        frame = read_export(source, used=used)
        kind = declared or _text_format(source, frame)
        export = _read_text(kind, source, frame, used, answers)
    if declared is None:
        log.info("%s: read as %s (detected)", path, export.format)
    return export


def _read_text(kind: str, source: dict, frame: pd.DataFrame, used, answers) -> Export:
    if kind == "qualtrics":
        from trialeval.ingest import qualtrics

        return qualtrics.read(source, frame)
    if kind == "redcap":
        from trialeval.ingest import redcap

        return redcap.read(source, frame, used, answers)
    from trialeval.ingest import csv_excel

    return csv_excel.read(source, frame)
