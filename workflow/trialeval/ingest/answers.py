"""Answers given as labels, and the export's own coding checked against the instrument's.

An instrument's response scale is its `levels` (config/instruments.yaml, or the trial's
`answer_labels`): code -> label. An export may hold the code (3) or the label ("A few times a
month"), as REDCap "CSV labels" and Qualtrics choice-text exports do; labels are matched
ignoring case and every space. An export that carries its own value labels (a REDCap field's
choices, SPSS / Stata value labels) is read with those first, and they are checked against the
instrument: a coded answer outside the instrument's range, or a label that the instrument gives
to another code (a reversed or shifted coding), stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trialeval.config import normalise_label

SHOWN_LABELS = 10  # labels listed in a message before "..."


def code_text(code) -> str:
    """A code as cells hold it: 3.0 and '3' are '3'."""
    try:
        return f"{float(code):g}"
    except (TypeError, ValueError):
        return str(code).strip()


@dataclass(frozen=True)
class Scale:
    """How one export column's labels read: normalised label -> code text, and the labels as
    a message lists them."""

    codes: dict[str, str]
    listing: str


def scale_of(levels: dict[str, str], export_labels: dict | None = None) -> Scale:
    """The instrument's scale, with the export's own labels of this column over it."""
    labels = dict(levels)
    labels.update({code_text(code): label for code, label in (export_labels or {}).items()})
    codes = {normalise_label(label): code for code, label in labels.items()}
    return Scale(codes, expected_labels(labels))


def each_value(column: pd.Series, change) -> pd.Series:
    """The text column with `change(value)` applied to each distinct value once (Arrow
    dictionary encoding: a column of 100,000 answers has a handful of distinct values)."""
    text = pa.array(column.array, type=pa.string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    encoded = pc.dictionary_encode(text)
    changed = pa.array([change(v) for v in encoded.dictionary.to_pylist()], pa.string())
    out = pc.take(changed, encoded.indices)
    return pd.Series(pd.arrays.ArrowExtensionArray(out), index=column.index, name=column.name)


def decode(column: pd.Series, codes: dict[str, str]) -> pd.Series:
    """The column with every cell that is a known label replaced by its code."""
    return each_value(column, lambda v: codes.get(normalise_label(v), v))


def as_labels(column: pd.Series, labels: dict[str, str]) -> pd.Series:
    """The column with every cell that is a labelled code replaced by its label (how Table 1
    shows a categorical covariate coded in REDCap or SPSS)."""
    return each_value(column, lambda v: labels.get(code_text(v), v))


def expected_labels(levels: dict[str, str]) -> str:
    """The labels as a message lists them."""
    shown = [f"{label!r}" for label in list(levels.values())[:SHOWN_LABELS]]
    more = " ..." if len(levels) > SHOWN_LABELS else ""
    return ", ".join(shown) + more


def _means_missing(code, label, missing_codes) -> bool:
    texts = {normalise_label(c) for c in missing_codes}
    numbers = set()
    for c in missing_codes:
        try:
            numbers.add(float(c))
        except (TypeError, ValueError):
            pass
    try:
        numeric = float(code) in numbers
    except (TypeError, ValueError):
        numeric = False
    return numeric or normalise_label(code) in texts or normalise_label(label) in texts


def coding_problem(export_labels: dict, inst: dict, missing_codes, where: str) -> str | None:
    """A problem of an export column's own value labels against the instrument's scale, the
    first found (and how many codes more): a code outside its range that is not declared
    missing, or a label the scale gives to another code."""
    lo, hi = inst["item_range"]
    scale = {normalise_label(label): code for code, label in inst["levels"].items()}
    found = []
    for code, label in export_labels.items():
        if _means_missing(code, label, missing_codes):
            continue
        text = code_text(code)
        try:
            inside = lo <= float(code) <= hi
        except (TypeError, ValueError):
            inside = False
        other = scale.get(normalise_label(label), text)
        if not inside:
            found.append(
                f"code {text} ({label!r}) is not an answer of {inst['id']} (whole numbers "
                f"{lo:g} to {hi:g}): the export codes this item differently; recode it, or "
                f"declare {text} in missing_codes if it means no answer"
            )
        elif other != text:
            found.append(
                f"code {text} is labelled {label!r}, which is answer {other} of {inst['id']} "
                f"(its levels): the coding is reversed or shifted; recode the item, or give "
                f"the trial's labels in answer_labels if they are a translation"
            )
    if not found:
        return None
    more = f" ({len(found) - 1} more code(s) alike)" if len(found) > 1 else ""
    return f"{where}: {found[0]}{more}"


def range_problem(bounds: tuple, inst: dict, where: str) -> str | None:
    """A problem when the export accepts answers outside the instrument's range (a REDCap
    text field validated from 1 to 7 for an item answered 0 to 6)."""
    lo, hi = inst["item_range"]
    low, high = bounds
    if (low is None or low >= lo) and (high is None or high <= hi):
        return None
    shown = f"{'' if low is None else f'{low:g}'} to {'' if high is None else f'{high:g}'}"
    return (
        f"{where}: the export accepts answers {shown.strip()} (validation min / max), but "
        f"{inst['id']} answers are {lo:g} to {hi:g}: the field is not this instrument's item "
        f"or is coded differently"
    )
