"""Plain tables: CSV / TSV text or an Excel workbook with the column names on one row and a
row per participant (or per response) below, as the pipeline's own demo files are.

trialeval.exports reads them exactly (type, encoding, delimiter, header row, field counts);
nothing here changes the rows: every row is a response of its wave.
"""

from __future__ import annotations

import pandas as pd

from trialeval.ingest.sources import Export


def read(source: dict, frame: pd.DataFrame) -> Export:
    """The table as read (see trialeval.exports.read_export)."""
    return Export(frame, "table")
