"""Numbers as journals print them, shared by the tables and the figures so both read alike."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MINUS = "\u2212"
DASH = "\u2014"
# a whole number of 4 or more digits, not the decimals of another ("0.1234") nor a part of
# one already grouped
LONG_INTEGER = re.compile(r"(?<![\d.,])\d{4,}")


def is_missing(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float | np.floating) and np.isnan(x))


def format_p(p) -> str:
    """P as journals print it (AMA style): "<.001"; 3 decimals below .01, and where 2 would
    print ".05" (so rounding never hides which side of .05 a P lies); else 2; ">.99" at the
    top; no leading zero; missing as an em dash."""
    if is_missing(p):
        return DASH
    p = float(p)
    if p < 0.001:
        return "<.001"
    if p > 0.99:
        return ">.99"
    if round(p, 3) < 0.01 or f"{p:.2f}" == "0.05":
        text = f"{p:.3f}"
    else:
        text = f"{p:.2f}"
    return text.removeprefix("0")


def group_thousands(text: str) -> str:
    """Every number of 1,000 or more in `text` with thousands separators, as the figures
    print counts: "1261/2257 (55.9)" -> "1,261/2,257 (55.9)". For cells of numbers only:
    a label's year ("Graded (2019)") must not pass through here."""
    return LONG_INTEGER.sub(lambda m: f"{int(m.group()):,}", str(text))
