"""Numbers as journals print them, shared by the tables and the figures so both read alike."""

from __future__ import annotations

import html
import math
import re
from decimal import ROUND_HALF_UP, Decimal, localcontext

import numpy as np
import pandas as pd

MINUS = "\u2212"
DASH = "\u2014"
# a whole number of 4 or more digits, not the decimals of another ("0.1234") nor a part of
# one already grouped
LONG_INTEGER = re.compile(r"(?<![\d.,])\d{4,}")


def is_missing(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float | np.floating) and np.isnan(x))


def rounded(x, decimals: int) -> str:
    """`x` to `decimals` places, halves rounded up (away from zero), as a reader rounding the
    printed value by hand does: 0.125 -> "0.13", -0.125 -> "-0.13" (a decision: Python's
    format(), R 4.2's round() and sprintf() all give "0.12", the tie to even). The float's
    shortest repr is rounded, not its exact binary value, so 2.675 (stored as 2.67499999...)
    prints "2.68", as a reader rounding the printed 2.675 expects. Never "-0.0": a value that
    rounds to zero prints unsigned. A plain hyphen-minus, as format() prints it (the table
    writers swap in a true minus sign); NaN and infinities as format()."""
    x = float(x)
    if not math.isfinite(x):
        return f"{x:.{decimals}f}"
    with localcontext() as context:
        context.prec = 400  # room for any double's digits, so quantize never fails
        value = Decimal(repr(x)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if value.is_zero():
        value = abs(value)
    return f"{value:f}"


def significant(x, digits: int) -> str:
    """`x` to `digits` significant figures, halves rounded up as in `rounded`, in plain decimal
    notation ("0.0123", "12.3", "1235" for 1234.5: whole numbers keep their digits) and, as
    format()'s "g", without trailing zeros ("8.1", "0.04"); zero as "0". The printed variance
    components and ICCs."""
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else f"{x}"
    exponent = Decimal(repr(abs(x))).adjusted()
    text = rounded(x, max(digits - 1 - exponent, 0))
    if Decimal(text).adjusted() > exponent and digits - 1 - exponent > 0:
        text = rounded(x, digits - 2 - exponent)  # 9.995 -> "10.0", not "10.00"
    return text.rstrip("0").rstrip(".") if "." in text else text


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
    if float(rounded(p, 3)) < 0.01 or rounded(p, 2) == "0.05":
        text = rounded(p, 3)
    else:
        text = rounded(p, 2)
    return text.removeprefix("0")


def group_thousands(text: str) -> str:
    """Every number of 1,000 or more in `text` with thousands separators, as the figures
    print counts: "1261/2257 (55.9)" -> "1,261/2,257 (55.9)". For cells of numbers only:
    a label's year ("Graded (2019)") must not pass through here."""
    return LONG_INTEGER.sub(lambda m: f"{int(m.group()):,}", str(text))


# A printed number: a comparison sign (">=", "<" of a withheld count or a P), a sign, digits
# (thousands grouped or not, decimals), a percent sign; and a run of them joined as the tables
# join them: "x (a to b)", "m [q1, q3]", "n/N (%; a to b)", "0–54", "≥ 27", "<5/40".
NUMBER = r"(?:[<>≤≥]\u00a0?\s?)?[\u2212-]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)%?"
JOIN = r"(?:\s?\(|\)|\s?\[|\]|;\s|,\s|\sto\s|\u2013|/)+"
NUMBER_RUN = re.compile(rf"\(?{NUMBER}(?:{JOIN}{NUMBER})*[)\]]*")
# where a browser may break the run ("−0.5 (−2.4" | "to 1.5)"), or a "≥n" / "<k" cell
BREAKABLE = re.compile(r"[\s\u2013\-]|^\(?[<>≤≥]")
NOWRAP = '<span class="nowrap" style="white-space:nowrap">{}</span>'


def nowrap_html(text) -> str:
    """`text` HTML-escaped, each run of numbers a browser could break inside (a range, a CI,
    "≥ 27", "<5/40") in a nowrap span, so it prints on one line at any width while the words
    around it still wrap. The class for the report's stylesheet, the inline style for a table
    opened on its own."""
    out, end = [], 0
    text = str(text)
    for found in NUMBER_RUN.finditer(text):
        run = _balanced(found.group())
        out.append(html.escape(text[end : found.start()]))
        if BREAKABLE.search(run):
            out.append(NOWRAP.format(html.escape(run)))
        else:
            out.append(html.escape(run))
        end = found.start() + len(run)
    out.append(html.escape(text[end:]))
    return "".join(out)


def _balanced(run: str) -> str:
    """The run without closing brackets it did not open ("0–54)" of "(MBI, 0–54)")."""
    while run[-1:] in (")", "]") and run.count(run[-1]) > run.count("(" if run[-1] == ")" else "["):
        run = run[:-1]
    return run


def participant_count(n) -> str:
    """ "1 participant", "3 participants": the count of a table note, no thousands separator
    (disclosure control finds such counts by their digits: trialeval.disclosure)."""
    n = int(n)
    return f"{n} participant" + "s" * (n != 1)
