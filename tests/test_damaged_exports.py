"""A catalogue of damaged exports, each read right or stopped with its expected message.

Every case damages the tiny trial of conftest (6 participants, waves t0 of 5 and t1 of 2
responses; items scs_1..12 from 1 to 5 and fs_1..8 from 1 to 7) the way exports get damaged
in practice, then reads the whole trial as the check at DAG build and the ingest job do.
`ok` cases must give exactly the clean trial's tables (or the values stated); the others must
raise TrialInputError whose message holds every expected fragment, each problem a line that
names its file.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from conftest import SCHEMAS
from trialeval import ingest
from trialeval.config import load_trials
from trialeval.errors import TrialInputError

W0 = "wave0.csv"
PART = "participants.csv"


# --- editing the tiny trial's files ----------------------------------------------------------


def edit(tiny, name: str, change: Callable[[bytes], bytes]) -> None:
    path = tiny.data_dir / name
    path.write_bytes(change(path.read_bytes()))


def edit_lines(tiny, name: str, change: Callable[[list[str]], list[str]]) -> None:
    """Edit a file as lines (the clean files end with a line break, so the last is '')."""
    edit(tiny, name, lambda b: "\n".join(change(b.decode().split("\n"))).encode())


def set_cell(tiny, name: str, line: int, column: str, value: str) -> None:
    """Put raw text into one cell of a clean (unquoted, comma-separated) file."""

    def change(lines):
        header = lines[0].split(",")
        cells = lines[line - 1].split(",")
        cells[header.index(column)] = value
        lines[line - 1] = ",".join(cells)
        return lines

    edit_lines(tiny, name, change)


def source_of(tiny, timepoint: int, **options) -> None:
    """Give a wave's `file` as an object with read options."""
    entry = tiny.trial["timepoints"][timepoint]
    path = entry["file"] if isinstance(entry["file"], str) else entry["file"]["path"]
    entry["file"] = {"path": path, **options}


def participants_source(tiny, **options) -> None:
    tiny.trial["data"]["participants"] = {"path": PART, **options}


def rename_wave(tiny, timepoint: int, name: str) -> None:
    tiny.trial["timepoints"][timepoint]["file"] = name


def as_xlsx(tiny, timepoint: int = 0, startrow: int = 0, title: str | None = None) -> None:
    frame = tiny.waves[f"wave{timepoint}.csv"]
    path = tiny.data_dir / f"wave{timepoint}.xlsx"
    with pd.ExcelWriter(path) as writer:
        frame.to_excel(writer, index=False, startrow=startrow, sheet_name="responses")
        if title:
            writer.sheets["responses"].cell(row=1, column=1, value=title)
    rename_wave(tiny, timepoint, path.name)


def recode(tiny, name: str, encoding: str) -> None:
    edit(tiny, name, lambda b: b.decode().encode(encoding))


def quoted_comment(tiny, value: str) -> None:
    """An extra, unused free-text column, quoted as survey tools quote it."""
    edit_lines(
        tiny,
        W0,
        lambda lines: (
            [lines[0] + ",comment"] + [f'{line},"{value}"' if line else line for line in lines[1:]]
        ),
    )


def decimal_commas(tiny) -> None:
    """A semicolon file (European Excel) whose extra column's name and values hold commas."""

    def change(lines):
        head = [lines[0].replace(",", ";") + ";height, cm"]
        return head + [line.replace(",", ";") + ";172,5" if line else line for line in lines[1:]]

    edit_lines(tiny, W0, change)


def decimal_instrument(tiny) -> None:
    """A trial-defined pre-scored mean (decimals allowed) answered 2.5 by P1 at t0."""
    tiny.trial["instruments"] = {
        "wellbeing_mean": {
            "label": "Wellbeing (mean of 4 items, pre-scored)",
            "prescored": {"column": "wb_mean", "range": [1, 5]},
            "decimals": True,
        }
    }
    tiny.trial["outcomes"].append({"id": "wb", "instrument": "wellbeing_mean", "subscale": "score"})
    for name in (W0, "wave1.csv"):
        edit_lines(
            tiny,
            name,
            lambda lines: (
                [lines[0] + ",wb_mean"]
                + [
                    line + (",2.5" if line.startswith("P1,") else ",3") if line else line
                    for line in lines[1:]
                ]
            ),
        )


# --- the catalogue ---------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    change: Callable
    expect: list[str] = field(default_factory=list)  # fragments of the message; [] = read right
    values: dict = field(default_factory=dict)  # (participant, timepoint, column) -> value


def bom_and_semicolons(tiny, name):
    edit(tiny, name, lambda b: codecs.BOM_UTF8 + b.replace(b",", b";"))


CASES = [
    # structure of the text
    Case(
        "short row",
        lambda t: edit_lines(t, W0, lambda ls: [*ls[:2], ls[2].rsplit(",", 1)[0], *ls[3:]]),
        ["wave0.csv: line 3: 20 fields where the header has 21 (the line starts 'P2,3,4,"],
    ),
    Case(
        "long row",
        lambda t: edit_lines(t, W0, lambda ls: [*ls[:3], ls[3] + ",9", *ls[4:]]),
        ["wave0.csv: line 4: 22 fields where the header has 21", "a comma must be in quotes"],
    ),
    Case(
        "cut off mid-row",
        lambda t: edit(t, W0, lambda b: b[:-9]),
        ["wave0.csv: line 6: 17 fields where the header has 21", "it looks cut off"],
    ),
    Case(
        "cut off after a delimiter",
        lambda t: edit(t, W0, lambda b: b[:-2]),
        ["wave0.csv: line 6: the file ends right after a delimiter", "column 'fs_8' is missing"],
    ),
    Case(
        "quote never closed",
        lambda t: edit_lines(t, W0, lambda ls: [*ls[:2], '"' + ls[2], *ls[3:]]),
        ["wave0.csv: line 3: a quoted value that starts here is never closed"],
    ),
    Case(
        "duplicate item column",
        lambda t: edit_lines(t, W0, lambda ls: [ls[0].replace("scs_3", "scs_2"), *ls[1:]]),
        ["wave0.csv: row 1: columns 3 and 4 are both named 'scs_2'"],
    ),
    Case(
        "zero-byte file",
        lambda t: edit(t, W0, lambda b: b""),
        ["wave0.csv: the file is empty (0 bytes)"],
    ),
    Case(
        "only blank lines",
        lambda t: edit(t, W0, lambda b: b"\n \n\n"),
        ["wave0.csv: the file is empty"],
    ),
    Case(
        "header only",
        lambda t: edit(t, W0, lambda b: b.split(b"\n")[0] + b"\n"),
        ["wave0.csv: no data rows below the header (row 1)"],
    ),
    Case(
        "not UTF-8 (Windows-1252)",
        lambda t: edit(t, W0, lambda b: b.replace(b"P3,", b"P3\xe9,")),
        ["wave0.csv: line 4: byte 0xe9 is not UTF-8 text", "set `encoding`"],
    ),
    Case(
        "UTF-16 without byte-order mark",
        lambda t: recode(t, W0, "utf-16-le"),
        ["wave0.csv: line 1: a NUL character", "UTF-16"],
    ),
    Case(
        "NUL byte",
        lambda t: edit(t, W0, lambda b: b.replace(b"P4", b"P\x004")),
        ["wave0.csv: line 5: a NUL character"],
    ),
    Case(
        "old .xls workbook",
        lambda t: edit(t, W0, lambda b: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512)),
        ["wave0.csv: an Excel 97-2003 (.xls)"],
    ),
    Case(
        "damaged .xlsx",
        lambda t: (as_xlsx(t), edit(t, "wave0.xlsx", lambda b: b[:400])),
        ["wave0.xlsx: cannot be read as an Excel workbook"],
    ),
    Case(
        "sheet that does not exist",
        lambda t: (as_xlsx(t), source_of(t, 0, sheet="answers")),
        ["wave0.xlsx: no sheet 'answers'", "the workbook has 'responses'"],
    ),
    Case(
        "ambiguous delimiter",
        decimal_commas,
        ["wave0.csv: row 1: cannot tell which of comma and semicolon", "set `delimiter`"],
    ),
    Case(
        "title row above the header (CSV)",
        lambda t: edit(t, W0, lambda b: b"Tiny trial, baseline export\n" + b),
        [
            "wave0.csv: row 1 (the header) has 2 fields but every row below it has 21",
            "set `header_row: 2`",
        ],
    ),
    Case(
        "title row above the header (Excel)",
        lambda t: as_xlsx(t, startrow=2, title="Tiny trial, baseline export"),
        ["wave0.xlsx: column 'pid' not found in row 1", "set `header_row: 3`"],
    ),
    Case(
        "id column missing",
        lambda t: edit_lines(t, W0, lambda ls: [ls[0].replace("pid", "respondent"), *ls[1:]]),
        [
            "wave0.csv: column 'pid' not found (data.id_column in",
            "the header (row 1) holds 'respondent'",
        ],
    ),
    Case(
        "id column in other case",
        lambda t: edit_lines(t, W0, lambda ls: [ls[0].replace("pid", "PID"), *ls[1:]]),
        ["wave0.csv: column 'pid' not found", "there is 'PID' (names are case-sensitive)"],
    ),
    Case(
        "item column missing",
        lambda t: edit_lines(t, W0, lambda ls: [ls[0].replace("fs_3", "fs3"), *ls[1:]]),
        ["wave0.csv: item columns missing for timepoint 't0': fs_3 (1 of the 20"],
    ),
    Case(
        "export not found",
        lambda t: (t.data_dir / "wave1.csv").unlink(),
        ["wave1.csv: export for timepoint 't1' not found"],
    ),
    # answers
    Case(
        "decimal on an integer item",
        lambda t: set_cell(t, W0, 3, "scs_4", "2.5"),
        [
            "wave0.csv: row 3, column 'scs_4' (participant P2, timepoint 't0'): '2.5' is not a "
            "whole number; expected a whole number from 1 to 5 (scs_sf answers)"
        ],
    ),
    Case(
        "'nan'",
        lambda t: set_cell(t, W0, 2, "fs_1", "nan"),
        ["row 2, column 'fs_1' (participant P1, timepoint 't0'): 'nan' is not a number"],
    ),
    Case(
        "'inf'",
        lambda t: set_cell(t, W0, 2, "fs_1", "inf"),
        ["row 2, column 'fs_1'", "'inf' is not a finite number"],
    ),
    Case(
        "'N/A' not declared",
        lambda t: set_cell(t, W0, 4, "scs_1", "N/A"),
        [
            "row 4, column 'scs_1' (participant P3, timepoint 't0'): 'N/A' is not a number",
            "`missing_codes`",
        ],
    ),
    Case(
        "decimal comma",
        lambda t: set_cell(t, W0, 2, "fs_2", '"3,5"'),
        ["row 2, column 'fs_2'", "'3,5' is not a number"],
    ),
    Case(
        "answer above the range",
        lambda t: set_cell(t, "wave1.csv", 3, "scs_4", "7"),
        [
            "wave1.csv: row 3, column 'scs_4' (participant P5, timepoint 't1'): '7' is out of "
            "range; expected a whole number from 1 to 5"
        ],
    ),
    Case(
        "negative answer",
        lambda t: set_cell(t, W0, 5, "fs_8", "-1"),
        ["row 5, column 'fs_8'", "'-1' is out of range"],
    ),
    Case(
        "text answer",
        lambda t: set_cell(t, W0, 2, "fs_2", "often"),
        ["row 2, column 'fs_2'", "'often' is not a number"],
    ),
    Case(
        "spreadsheet error value",
        lambda t: set_cell(t, W0, 2, "fs_2", "#N/A"),
        ["'#N/A' is not a number"],
    ),
    Case(
        "1e308",
        lambda t: set_cell(t, W0, 2, "fs_2", "1e308"),
        ["'1e308' is out of range; expected a whole number from 1 to 7"],
    ),
    Case(
        "empty participant id",
        lambda t: set_cell(t, W0, 3, "pid", " "),
        ["wave0.csv: row 3, column 'pid': empty participant id"],
    ),
    Case(
        "id not enrolled",
        lambda t: set_cell(t, W0, 3, "pid", "P99"),
        ["wave0.csv: row 3, column 'pid': participant id 'P99' is not enrolled"],
    ),
    Case(
        "two responses of one participant",
        lambda t: set_cell(t, W0, 3, "pid", "p1"),
        ["wave0.csv: participant 'P1' answered timepoint 't0' more than once (rows 2, 3)"],
    ),
    # the participants file
    Case(
        "covariate 'inf'",
        lambda t: set_cell(t, PART, 2, "age", "inf"),
        ["participants.csv: row 2, column 'age' (participant P1): 'inf' is not a finite number"],
    ),
    Case(
        "covariate 'nan'",
        lambda t: set_cell(t, PART, 3, "age", "nan"),
        ["participants.csv: row 3, column 'age' (participant P2): 'nan' is not a number"],
    ),
    Case(
        "covariate outside its range",
        lambda t: (
            t.trial["covariates"][0].update(range=[16, 80]),
            set_cell(t, PART, 2, "age", "1e308"),
        ),
        [
            "row 2, column 'age' (participant P1): '1e308' is out of range; expected a number "
            "from 16 to 80 (covariate 'age' and its `range`)"
        ],
    ),
    Case(
        "covariate 1e308 without a range",
        lambda t: set_cell(t, PART, 4, "age", "1e308"),
        [
            "participants.csv: row 4, column 'age' (participant P3): '1e308' is out of range; "
            "expected a number of magnitude below 1e+15"
        ],
    ),
    Case(
        "negative sessions attended",
        lambda t: set_cell(t, PART, 3, "sessions", "-2"),
        [
            "participants.csv: row 3, column 'sessions' (participant P2): '-2' is out of range; "
            "expected a number of 0 or more"
        ],
    ),
    Case(
        "unknown arm",
        lambda t: set_cell(t, PART, 4, "arm", "coaching"),
        ["participants.csv: row 4, column 'arm' (participant P3): arm 'coaching' is not an arm"],
    ),
    Case(
        "site not listed",
        lambda t: set_cell(t, PART, 2, "site", "s9"),
        ["row 2, column 'site' (participant P1): site 's9' is not listed in `sites`"],
    ),
    Case(
        "withdrawal flag",
        lambda t: set_cell(t, PART, 2, "withdrew", "maybe"),
        ["row 2, column 'withdrew' (participant P1): 'maybe' is not a yes/no value"],
    ),
    Case(
        "participant id twice",
        lambda t: set_cell(t, PART, 6, "pid", " p1"),
        ["participants.csv: participant id 'P1' appears 2 times (rows 2, 6)"],
    ),
    Case(
        "participants short row",
        lambda t: edit_lines(t, PART, lambda ls: [*ls[:3], "P3,peer,s2", *ls[4:]]),
        ["participants.csv: line 4: 3 fields where the header has 6"],
    ),
    Case(
        "many problems: a list, then a count",
        lambda t: [
            set_cell(t, W0, line, f"scs_{i}", "x")
            for line in (2, 3, 4, 5, 6)
            for i in (1, 2, 3, 4, 5)
        ],
        [
            "25 problems in the input data, the first 20:",
            "  ... and 5 more",
            "row 6, column 'scs_3'",
        ],
    ),
    # read right: harmless differences, detected or declared
    Case("UTF-8 byte-order mark and semicolons", lambda t: bom_and_semicolons(t, W0)),
    Case("participants: byte-order mark and semicolons", lambda t: bom_and_semicolons(t, PART)),
    Case("UTF-16 with byte-order mark", lambda t: recode(t, W0, "utf-16")),
    Case("Windows line ends", lambda t: edit(t, W0, lambda b: b.replace(b"\n", b"\r\n"))),
    Case("no final line break", lambda t: edit(t, W0, lambda b: b.rstrip(b"\n"))),
    Case(
        "blank and empty rows",
        lambda t: edit_lines(t, W0, lambda ls: [*ls[:2], "", ",,,", *ls[2:], "", ""]),
    ),
    Case("quoted free text with line breaks", lambda t: quoted_comment(t, "felt\nbetter, thanks")),
    Case(
        "spaces, 3.0 and quotes around answers",
        lambda t: (
            set_cell(t, W0, 2, "scs_1", " 2 "),
            set_cell(t, W0, 3, "scs_1", "3.0"),
            set_cell(t, W0, 4, "scs_1", '"4"'),
        ),
    ),
    Case(
        "CSV named .xlsx",
        lambda t: (
            (t.data_dir / W0).rename(t.data_dir / "wave0.xlsx"),
            rename_wave(t, 0, "wave0.xlsx"),
        ),
    ),
    Case("Excel workbook", lambda t: as_xlsx(t)),
    Case(
        "Excel workbook named .csv",
        lambda t: (
            as_xlsx(t),
            (t.data_dir / "wave0.xlsx").replace(t.data_dir / W0),
            rename_wave(t, 0, W0),
        ),
    ),
    Case(
        "declared header row",
        lambda t: (edit(t, W0, lambda b: b"Tiny trial\n\n" + b), source_of(t, 0, header_row=3)),
    ),
    Case(
        "declared header row (Excel)",
        lambda t: (as_xlsx(t, startrow=2, title="Tiny trial"), source_of(t, 0, header_row=3)),
    ),
    Case(
        "declared encoding",
        lambda t: (
            quoted_comment(t, "très bien"),
            recode(t, W0, "cp1252"),
            source_of(t, 0, encoding="cp1252"),
        ),
    ),
    Case(
        "declared semicolon delimiter",
        lambda t: (decimal_commas(t), source_of(t, 0, delimiter=";")),
    ),
    Case(
        "declared tab delimiter",
        lambda t: (edit(t, W0, lambda b: b.replace(b",", b"\t")), source_of(t, 0, delimiter="\t")),
    ),
    Case(
        "declared missing codes",
        lambda t: (
            set_cell(t, W0, 2, "scs_1", "-99"),
            set_cell(t, W0, 3, "scs_1", "n/a"),
            set_cell(t, W0, 5, "scs_1", "Prefer not to answer"),
            set_cell(t, PART, 2, "age", "-99.0"),
            source_of(t, 0, missing_codes=[-99, "N/A", "Prefer not to answer"]),
            participants_source(t, missing_codes=[-99]),
        ),
        values={
            ("P1", "t0", "scs_1"): np.nan,
            ("P2", "t0", "scs_1"): np.nan,
            ("P4", "t0", "scs_1"): np.nan,
            ("P1", None, "age"): np.nan,
        },
    ),
    Case(
        "decimals where the instrument allows them",
        decimal_instrument,
        values={("P1", "t0", "wb_mean"): 2.5, ("P2", "t0", "wb_mean"): 3.0},
    ),
]


def read_trial(tiny):
    """(participants, items) of the trial as on disk now, or the TrialInputError message."""
    tiny.write_config()
    spec = load_trials(tiny.config, SCHEMAS)["tiny"]
    try:
        return ingest.ingest(spec), None
    except TrialInputError as error:
        return None, error


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The undamaged trial's tables (the same for every case: ids and answers, no paths)."""
    from conftest import TinyTrial

    tables, error = read_trial(TinyTrial(tmp_path_factory.mktemp("clean")).write())
    assert error is None
    return tables


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_damaged_export(tiny, clean, case):
    tiny.write()
    case.change(tiny)
    tables, error = read_trial(tiny)
    if case.expect:
        assert error is not None, f"{case.id}: accepted"
        message = str(error)
        for fragment in case.expect:
            assert fragment in message, message
        for problem in error.problems:  # every line names its file
            assert str(tiny.data_dir) in problem, problem
        return
    assert error is None, f"{case.id}: {error}"
    participants, items = tables
    expected_participants, expected_items = (frame.copy() for frame in clean)
    for (pid, timepoint, column), value in case.values.items():
        frame = participants if timepoint is None else items
        row = frame["participant_id"].eq(pid) & (
            True if timepoint is None else frame["timepoint"].eq(timepoint)
        )
        assert np.isclose(frame.loc[row, column].iloc[0], value, equal_nan=True), (pid, column)
        if column in expected_items.columns or column in expected_participants.columns:
            target = expected_participants if timepoint is None else expected_items
            target.loc[row.to_numpy(), column] = value
    keep = [c for c in items.columns if c in expected_items.columns]
    pd.testing.assert_frame_equal(participants, expected_participants)
    pd.testing.assert_frame_equal(items[keep], expected_items)


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 40
    assert sum(1 for c in CASES if c.expect) >= 40
