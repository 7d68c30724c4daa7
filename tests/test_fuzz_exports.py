"""A seeded fuzz of damaged wave exports: 0 raw tracebacks and 0 silent damage.

It starts from a known clean export (30 responses of 40 enrolled participants: survey-tool
metadata, a quoted free-text column, 20 item columns) and applies one corruption per case:
structural damage (fields dropped or added, a file cut off inside a row, stray quotes, bytes
that are not UTF-8, NUL bytes, damaged headers, title rows, mixed delimiters, duplicated rows),
invalid answers and ids, and harmless changes (byte-order mark, other line ends or delimiters,
blank rows, spaces, quotes, 3.0 for 3, UTF-16, the same table as .xlsx). Every case must be
either read to exactly the clean table's values or rejected with a TrialInputError whose every
problem names the file; the harmless ones must be read.

Not generated, because no reader can tell them from a complete, valid export: a cut exactly at
a line break or inside the last value of the last row, and edits that leave a valid value
(3 -> 4, a deleted answer, an id typed as another enrolled id).
"""

from __future__ import annotations

import codecs
import csv
import io
import random
from collections import Counter

import pandas as pd
import pytest

from conftest import SCHEMAS, TinyTrial
from trialeval import ingest
from trialeval.config import load_trials
from trialeval.errors import TrialInputError

SEED = 20261201
CASES = 240
ITEMS = [f"scs_{i}" for i in range(1, 13)] + [f"fs_{i}" for i in range(1, 9)]
COLUMNS = ["response_id", "pid", "submitted_at", "comment", *ITEMS]
# Values no item of the trial accepts (scs 1-5, fs 1-7; whole numbers; no missing codes).
INVALID = [
    "nan", "NaN", "inf", "-inf", "Infinity", "2.5", "0.5", "1e308", "-1", "0", "8", "99",
    "N/A", "NA", "n/a", "often", "#N/A", "3,5", "1 2", "one", "\u00bd", "\u0663", "0x3",
    "--1", "1e", ".", "TRUE",
]  # fmt: skip


def clean_rows(rng: random.Random) -> list[list[str]]:
    rows = []
    for k in range(30):
        comment = rng.choice(["", "fine", "tired, but ok", 'said "hi"', "two\nlines", "ok"])
        answers = [str(rng.randint(1, 5)) for _ in range(12)] + [
            str(rng.randint(1, 7)) for _ in range(8)
        ]
        stamp = f"2024-01-{1 + k % 28:02d}T10:{k:02d}:00"
        rows.append([f"R_{k + 1:04d}", f"P{k + 1}", stamp, comment, *answers])
    return rows


def to_csv(rows, delimiter=",", terminator="\n", columns=COLUMNS, **options) -> bytes:
    handle = io.StringIO()
    writer = csv.writer(handle, delimiter=delimiter, lineterminator=terminator, **options)
    writer.writerows([columns, *rows])
    return handle.getvalue().encode()


def record_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each record of a clean export, `end` at its final line
    break (a record spans two lines when its comment does)."""
    starts = [0]
    for line in data.split(b"\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    spans, first = [], 0
    reader = csv.reader(io.StringIO(data.decode(), newline=""))
    for _ in reader:
        spans.append((starts[first], starts[reader.line_num] - 1))
        first = reader.line_num
    return spans


# --- corruptions: (name, harmless, function(rng, rows, data) -> bytes) ------------------------


def _data_line(rng, data):
    return rng.choice(record_spans(data)[1:])


def drop_delimiter(rng, rows, data):
    start, end = _data_line(rng, data)
    line = data[start:end]
    commas = [i for i, b in enumerate(line) if b == ord(",")]
    i = rng.choice(commas)
    return data[: start + i] + data[start + i + 1 :]


def add_delimiter(rng, rows, data):
    start, end = _data_line(rng, data)
    i = rng.randint(start, end)
    return data[:i] + b"," + data[i:]


def cut_inside_a_row(rng, rows, data):
    """Cut before or right after the row's last delimiter (see the module docstring)."""
    start, end = _data_line(rng, data)
    last_comma = data.rindex(b",", start, end)
    return data[: rng.randint(start + 1, last_comma + 1)]


def stray_quote(rng, rows, data):
    start, end = _data_line(rng, data)
    i = rng.randint(start, end)
    return data[:i] + b'"' + data[i:]


def bad_byte(rng, rows, data):
    i = rng.randrange(len(data))
    return data[:i] + rng.choice([b"\xff", b"\xe9", b"\x00", b"\xc3", b"\x80"]) + data[i:]


def invalid_answer(rng, rows, data):
    rows = [list(r) for r in rows]
    rows[rng.randrange(len(rows))][rng.randrange(4, len(COLUMNS))] = rng.choice(INVALID)
    return to_csv(rows)


def invalid_id(rng, rows, data):
    rows = [list(r) for r in rows]
    k = rng.randrange(len(rows))
    rows[k][1] = rng.choice(["", "  ", "P99", "P0", rows[(k + 1) % len(rows)][1], "P 1x"])
    return to_csv(rows)


def duplicated_row(rng, rows, data):
    rows = [list(r) for r in rows]
    k = rng.randrange(len(rows))
    rows.insert(rng.randrange(len(rows)), rows[k])
    return to_csv(rows)


def damaged_header(rng, rows, data):
    header, rest = data.split(b"\n", 1)
    names = header.split(b",")
    kind = rng.choice(["duplicate", "drop", "add", "delete", "rename"])
    if kind == "delete":
        return rest
    if kind == "duplicate":
        i, j = rng.sample(range(1, len(names)), 2)
        names[i] = names[j] if names[j] != b"comment" else b"pid"
    elif kind == "drop":
        del names[rng.randrange(len(names))]
    elif kind == "add":
        names.insert(rng.randrange(len(names) + 1), b"extra")
    else:
        i = rng.choice([1, *range(4, len(names))])
        names[i] = names[i].upper() if rng.random() < 0.5 else names[i] + b"_"
    return b",".join(names) + b"\n" + rest


def mixed_delimiters(rng, rows, data):
    start, end = _data_line(rng, data)
    return data[:start] + data[start:end].replace(b",", b";") + data[end:]


def title_row(rng, rows, data):
    return (
        rng.choice([b"Tiny trial export\n", b"Tiny trial, wave 0\n", b"Exported 2024-01-31,,\n"])
        + data
    )


def empty_file(rng, rows, data):
    return rng.choice([b"", b"\n", b"\r\n\r\n", b"   \n", COLUMNS[0].encode() + b"\n"])


def header_only(rng, rows, data):
    return data.split(b"\n", 1)[0] + rng.choice([b"\n", b"", b"\n\n"])


def utf16_without_mark(rng, rows, data):
    return data.decode().encode("utf-16-le")


def cut_workbook(rng, rows, data):
    return workbook(rows)[: rng.randint(10, 3000)]


# harmless


def with_bom(rng, rows, data):
    return codecs.BOM_UTF8 + data


def other_line_ends(rng, rows, data):
    if rng.random() < 0.5:
        return to_csv(rows, terminator="\r\n")
    # csv quotes a value holding a character of the line end only: "\n" in "\r" files needs all
    return to_csv(rows, terminator="\r", quoting=csv.QUOTE_ALL)


def other_delimiter(rng, rows, data):
    return to_csv(rows, delimiter=rng.choice([";", "\t"]))


def blank_rows(rng, rows, data):
    cuts = sorted(rng.sample([end + 1 for _, end in record_spans(data)[:-1]], 3))
    for at in reversed(cuts):
        data = (
            data[:at] + rng.choice([b"\n", b"   \n", b"," * (len(COLUMNS) - 1) + b"\n"]) + data[at:]
        )
    return data


def answer_spelled_otherwise(rng, rows, data):
    rows = [list(r) for r in rows]
    k, c = rng.randrange(len(rows)), rng.randrange(4, len(COLUMNS))
    value = rows[k][c]
    rows[k][c] = rng.choice([f" {value} ", f"{value}.0", f"+{value}", f"0{value}", f"{value}.00"])
    return to_csv(rows)


def quoted_fields(rng, rows, data):
    return to_csv(rows, quoting=csv.QUOTE_ALL)


def no_final_line_break(rng, rows, data):
    return data.rstrip(b"\n")


def utf16_with_mark(rng, rows, data):
    return data.decode().encode("utf-16")


def messy_ids(rng, rows, data):
    rows = [list(r) for r in rows]
    for k in rng.sample(range(len(rows)), 5):
        rows[k][1] = rng.choice([f" {rows[k][1]}", rows[k][1].lower(), f"{rows[k][1]} "])
    return to_csv(rows)


def unused_duplicate_columns(rng, rows, data):
    return to_csv([[*r, "a", "b"] for r in rows], columns=[*COLUMNS, "note", "note"])


def as_workbook(rng, rows, data):
    return workbook(rows)


def workbook(rows) -> bytes:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ITEMS:
        frame[column] = frame[column].astype(int)
    handle = io.BytesIO()
    frame.to_excel(handle, index=False)
    return handle.getvalue()


CORRUPTIONS = [
    (drop_delimiter, False),
    (add_delimiter, False),
    (cut_inside_a_row, False),
    (stray_quote, False),
    (bad_byte, False),
    (invalid_answer, False),
    (invalid_id, False),
    (duplicated_row, False),
    (damaged_header, False),
    (mixed_delimiters, False),
    (title_row, False),
    (empty_file, False),
    (header_only, False),
    (utf16_without_mark, False),
    (cut_workbook, False),
    (with_bom, True),
    (other_line_ends, True),
    (other_delimiter, True),
    (blank_rows, True),
    (answer_spelled_otherwise, True),
    (quoted_fields, True),
    (no_final_line_break, True),
    (utf16_with_mark, True),
    (messy_ids, True),
    (unused_duplicate_columns, True),
    (as_workbook, True),
]


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    """A tiny trial with 40 enrolled participants; its wave t0 is the fuzzed export."""
    tiny = TinyTrial(tmp_path_factory.mktemp("fuzz"))
    n = 40
    tiny.participants = pd.DataFrame(
        {
            "pid": [f"P{k + 1}" for k in range(n)],
            "arm": ["peer", "ctl"] * (n // 2),
            "site": ["s1", "s2"] * (n // 2),
            "withdrew": ["no"] * n,
            "age": [24 + k % 9 for k in range(n)],
            "sessions": [3 if k % 2 == 0 else None for k in range(n)],
        }
    )
    tiny.write()
    spec = load_trials(tiny.config, SCHEMAS)["tiny"]
    enrolled = ingest.read_participants(spec)["participant_id"]
    return spec, enrolled


def test_fuzzed_exports_are_read_exactly_or_rejected_naming_the_file(trial):
    spec, enrolled = trial
    timepoint = spec["timepoints"][0]
    path = timepoint["source"]["path"]
    rng = random.Random(SEED)
    rows = clean_rows(rng)
    clean_bytes = to_csv(rows)
    with open(path, "wb") as handle:
        handle.write(clean_bytes)
    clean = ingest.read_wave(spec, timepoint, enrolled)
    assert len(clean) == 30

    outcomes, tracebacks, damaged, harmless_rejected = Counter(), [], [], []
    for case in range(CASES):
        corrupt, harmless = CORRUPTIONS[case % len(CORRUPTIONS)]
        data = corrupt(rng, rows, clean_bytes)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            frame = ingest.read_wave(spec, timepoint, enrolled)
        except TrialInputError as error:
            outcomes["rejected"] += 1
            unnamed = [p for p in error.problems if path not in p]
            assert not unnamed, (corrupt.__name__, unnamed)
            if harmless:
                harmless_rejected.append((case, corrupt.__name__, str(error)))
            continue
        except Exception as error:  # noqa: BLE001 - counting exactly these is the point
            tracebacks.append((case, corrupt.__name__, repr(error)))
            continue
        if frame.equals(clean):
            outcomes["read exactly"] += 1
        else:
            damaged.append((case, corrupt.__name__, data[:200]))
    assert not tracebacks, tracebacks
    assert not damaged, damaged
    assert not harmless_rejected, harmless_rejected
    assert sum(outcomes.values()) == CASES >= 200
    assert outcomes["rejected"] >= 100 and outcomes["read exactly"] >= 80, outcomes
