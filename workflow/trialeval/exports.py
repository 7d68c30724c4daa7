"""Reading one raw export (CSV / TSV text or an Excel workbook) exactly as exported.

`read_export(source)` returns every column as text, empty cells missing, with the frame's index
holding each row's number as a spreadsheet shows it (the header row counted), so every later
message can name the row. A `source` is the resolved `file` object of the trial file:
{path, sheet, header_row, encoding, delimiter, missing_codes} (a bare path takes the defaults).

Detected, because it can be detected safely (and said in the log):
- the file type from the content, not the name (a CSV renamed .xlsx is read as text);
- UTF-8 with or without a byte-order mark, and UTF-16 with one;
- the delimiter, when the header row holds exactly one of comma, semicolon and tab (or only
  one of them splits the first rows consistently).
Anything else (another encoding, an ambiguous delimiter, a header below row 1) is declared in
the trial file; otherwise the read stops with a message saying which key to set.

Structure is checked line by line: every row has the header's number of fields, a final row cut
off mid-way (no line break and too few fields, or a dangling delimiter) is an error, as are
duplicate column names, quotes never closed, NUL bytes and files without data rows. A cut at a
line boundary, or inside the last value of the last row, leaves a well-formed file and cannot be
told from a complete one.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import logging
from collections.abc import Collection
from itertools import islice
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from trialeval.errors import Problems, TrialInputError

log = logging.getLogger(__name__)

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
DETECTED = (",", ";", "\t")  # the delimiters told apart without being declared
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 (.xls) and other old Office files
TEXT = pd.ArrowDtype(pa.string())


def as_source(source: dict | str | Path) -> dict:
    """A read spec with every option: a bare path takes the defaults (detect everything)."""
    if isinstance(source, (str, Path)):
        source = {"path": str(source)}
    return {
        "path": str(source["path"]),
        "sheet": source.get("sheet", 0),
        "header_row": int(source.get("header_row", 1)),
        "encoding": source.get("encoding"),
        "delimiter": source.get("delimiter"),
        "missing_codes": list(source.get("missing_codes", [])),
    }


def read_export(source: dict | str | Path, used: Collection[str] | None = None) -> pd.DataFrame:
    """Every column of an export as text (see the module docstring).

    `used` names the columns the caller reads: a duplicated name among them is an error, other
    duplicated names are dropped (nothing reads them). Without `used`, every duplicate is an
    error. Raises TrialInputError listing the file's problems.
    """
    source = as_source(source)
    path = Path(source["path"])
    if not path.is_file():
        raise TrialInputError(f"{path}: file not found")
    data = path.read_bytes()
    if not data.strip():
        raise TrialInputError(
            f"{path}: the file is empty ({len(data)} bytes); expected a header row and data rows"
        )
    if data.startswith(_ZIP):
        header, columns, rows, notes = _read_workbook(path, data, source)
    elif data.startswith(_OLE):
        raise TrialInputError(
            f"{path}: an Excel 97-2003 (.xls) or other old Office file, which is not read; save "
            f"it as .xlsx or as CSV UTF-8"
        )
    else:
        header, columns, rows, notes = _read_text(path, data, source)
    frame = _assemble(path, header, columns, rows, used, source["header_row"])
    log.info("%s: %s; data rows: %d", path, ", ".join(notes), len(frame))
    return frame


def _assemble(path, header, columns, rows, used, header_row) -> pd.DataFrame:
    """Named, unique columns; rows with every cell empty dropped; at least one data row."""
    names = [name.strip() for name in header]
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if name:  # a nameless column cannot be asked for, so nothing reads it
            positions.setdefault(name, []).append(i)
    problems = Problems()
    keep = {}
    for name, where in positions.items():
        if len(where) > 1 and (used is None or name in used):
            places = ", ".join(str(i + 1) for i in where[:-1]) + f" and {where[-1] + 1}"
            problems.add(
                f"{path}: row {header_row}: columns {places} are "
                f"{'both' if len(where) == 2 else 'all'} named {name!r}; which one holds the "
                f"values is ambiguous: rename or remove the others"
            )
        elif len(where) == 1:
            keep[name] = where[0]
        else:
            log.info("%s: duplicated column %r is not used and is ignored", path, name)
    problems.raise_if_any()
    frame = pd.DataFrame(
        {name: pd.arrays.ArrowExtensionArray(columns[i]) for name, i in keep.items()},
        index=pd.Index(rows, name="row"),
    )
    if len(frame.columns):
        frame = frame.loc[~frame.isna().all(axis=1).to_numpy()]
    if frame.empty:
        raise TrialInputError(
            f"{path}: no data rows below the header (row {header_row}); expected one row per "
            f"participant"
        )
    return frame


# --- delimited text ---------------------------------------------------------------------


def _decode(path: Path, data: bytes, encoding: str | None) -> tuple[str, int | None, str]:
    """(text, byte length of a UTF-8 byte-order mark or None when the text is not the file's
    UTF-8 bytes, note for the log)."""
    if encoding:
        name, note, bom = encoding, f"{encoding} (declared)", None
    elif data.startswith(codecs.BOM_UTF8):
        name, note, bom = "utf-8", "UTF-8 with byte-order mark", len(codecs.BOM_UTF8)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        name, note, bom = "utf-16", "UTF-16 (byte-order mark)", None
    else:
        name, note, bom = "utf-8", "UTF-8", 0
    try:
        codecs.lookup(name)
    except LookupError:
        raise TrialInputError(f"{path}: unknown encoding {name!r} (`encoding`)") from None
    try:
        text = data.decode(name)
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        start = data.rfind(b"\n", 0, error.start) + 1
        snippet = data[start : error.start + 12].decode(name, errors="replace").strip()
        hint = (
            f"declared encoding {encoding!r} does not fit: check `encoding`"
            if encoding
            else "the file was probably saved in a legacy encoding such as Windows-1252 "
            "(Excel's plain 'CSV' on Windows): set `encoding` for this file (e.g. cp1252) or "
            "save it as 'CSV UTF-8'"
        )
        raise TrialInputError(
            f"{path}: line {line}: byte 0x{data[error.start]:02x} is not {name.upper()} text "
            f"(in {snippet!r}); {hint}"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
        bom = len(codecs.BOM_UTF8) if bom == 0 else bom
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise TrialInputError(
            f"{path}: line {line}: a NUL character; the file is binary, or UTF-16 text without "
            f"a byte-order mark: save it as CSV UTF-8 (or set `encoding: utf-16`)"
        )
    return text, bom, note


def _fields(line: str, delimiter: str) -> int:
    return len(next(csv.reader([line], delimiter=delimiter), [""]))


def _detect_delimiter(path: Path, lines: list[str], header_row: int) -> tuple[str, str]:
    header = lines[header_row - 1]
    found = [d for d in DETECTED if _fields(header, d) > 1]
    if len(found) > 1:  # keep those that split the first rows like the header
        sample = [line for line in lines[header_row:] if line.strip()]
        found = [d for d in found if all(_fields(s, d) == _fields(header, d) for s in sample)]
    if not found:
        if path.suffix.lower() == ".tsv":
            return "\t", "tab (file name)"
        return ",", "comma (one column)"
    if len(found) > 1:
        names = " and ".join(DELIMITERS[d] for d in found)
        raise TrialInputError(
            f"{path}: row {header_row}: cannot tell which of {names} separates the fields (each "
            f"splits the header and the first rows alike): set `delimiter` for this file"
        )
    return found[0], f"{DELIMITERS[found[0]]} (detected)"


def _read_text(path: Path, data: bytes, source: dict):
    text, bom, encoding_note = _decode(path, data, source["encoding"])
    header_row = source["header_row"]
    prefix = _prefix(text, header_row + 51)
    head = [
        line.rstrip("\r\n") for line in islice(io.StringIO(prefix, newline=""), header_row + 50)
    ]
    if len(head) < header_row:
        raise TrialInputError(
            f"{path}: has {len(head)} line(s), but `header_row` is {header_row}; expected the "
            f"column names on row {header_row}"
        )
    if source["delimiter"]:
        delimiter = source["delimiter"]
        delimiter_note = f"{DELIMITERS.get(delimiter, repr(delimiter))} (declared)"
    else:
        delimiter, delimiter_note = _detect_delimiter(path, head, header_row)
    handle = io.StringIO(prefix, newline="")
    reader = csv.reader(handle, delimiter=delimiter, strict=True)
    try:
        header = list(islice(reader, header_row))[-1]
    except (csv.Error, IndexError) as error:
        reason = _explain(error) if isinstance(error, csv.Error) else "no header row"
        raise TrialInputError(f"{path}: line {reader.line_num + 1}: {reason}") from None
    body_start, first_line = handle.tell(), reader.line_num + 1
    if body_start >= len(prefix) and len(prefix) < len(text):  # the header ate the prefix
        raise TrialInputError(
            f"{path}: the header row (row {header_row}) does not end within the first lines; "
            f"is a quote in a column name never closed?"
        )
    body = text[body_start:]
    width = len(header)
    columns, rows = None, None
    if reader.line_num == header_row:  # every row above the data is one line
        if bom is not None:  # the file's own bytes are UTF-8: hand them to Arrow unchanged
            body_bytes = data[bom + len(text[:body_start].encode("utf-8")) :]
        else:
            body_bytes = body.encode("utf-8")
        columns, rows = _parse_fast(body_bytes, delimiter, width, first_line)
    if columns is None:
        columns, rows = _parse_exactly(path, body, delimiter, width, first_line, header_row)
    _check_final_row(path, text, header, columns, rows)
    notes = ["delimited text", encoding_note, f"delimiter {delimiter_note}"]
    if path.suffix.lower() in {".xlsx", ".xlsm", ".xls"}:
        notes.insert(0, f"named {path.suffix} but holds text")
    return header, columns, rows, notes + [f"header row {header_row}"]


def _prefix(text: str, lines: int) -> str:
    """The start of `text` holding at least `lines` lines (or all of it): the header is parsed
    from this, not from a StringIO copy of the whole file (four bytes a character)."""
    size = 1 << 16
    while size < len(text) and text.count("\n", 0, size) < lines:
        size *= 4
    return text[:size]


def _physical_lines(body: bytes) -> int:
    """Lines in the text after the header, final line breaks ignored; -1 when line breaks are
    mixed (then the exact parser numbers the rows)."""
    body = body.rstrip(b"\r\n")
    if not body:
        return 0
    lf, cr = body.count(b"\n"), body.count(b"\r")
    if cr == 0 or (cr == lf and body.count(b"\r\n") == lf):
        return lf + 1
    return cr + 1 if lf == 0 else -1


def _parse_fast(body: bytes, delimiter: str, width: int, first_line: int):
    """Arrow's CSV reader (a tenth of pandas' time at 100,000 rows). Returns (None, None)
    unless every line is exactly one row with the header's fields; then the exact parser
    decides and numbers the rows."""
    import pyarrow.csv as pacsv

    if not body.strip(b"\r\n"):
        return [pa.array([], pa.string())] * width, np.arange(0)
    names = [f"f{i}" for i in range(width)]
    invalid = []
    table = pacsv.read_csv(
        pa.py_buffer(body),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=names),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            newlines_in_values=True,
            invalid_row_handler=lambda row: invalid.append(row) or "skip",
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            check_utf8=False,
        ),
    )
    if invalid or _physical_lines(body) != table.num_rows:
        return None, None
    return table.columns, np.arange(table.num_rows) + first_line


def _explain(error: csv.Error) -> str:
    reason = str(error)
    if "unexpected end of data" in reason:
        return (
            "a quoted value that starts here is never closed (a missing '\"', or the file is "
            "cut off)"
        )
    if "expected after" in reason:
        return 'a quote inside a quoted value must be doubled ("")'
    return reason


def _parse_exactly(path, body: str, delimiter, width, first_line, header_row):
    """Python's csv module, record by record: exact line and row numbers for files with blank
    lines, values spanning lines, or rows of the wrong length (each one named)."""
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter, strict=True)
    records, rows, wrong = [], [], []
    row, end, broken, last_wrong = header_row, first_line - 1, None, False
    try:
        for record in reader:
            start, end, row = end + 1, first_line - 1 + reader.line_num, row + 1
            if not any(value.strip() for value in record):
                continue  # a blank line or row of empty cells: no data to shift or lose
            last_wrong = len(record) != width
            if last_wrong:
                wrong.append((start, record))
            else:
                records.append(record)
                rows.append(row)
    except csv.Error as error:
        broken = f"{path}: line {end + 1}: {_explain(error)}"
    problems = Problems()
    widths = {len(record) for _, record in wrong}
    if wrong and not records and len(widths) == 1 and broken is None:
        # No row fits the header, and all agree with each other: the header is elsewhere.
        line, record = wrong[0]
        raise TrialInputError(
            f"{path}: row {header_row} (the header) has {_fields_of(width)} but every row below "
            f"it has {len(record)}: if the column names are on line {line}, set `header_row: "
            f"{line}` for this file; otherwise check the delimiter"
        )
    cut_off = last_wrong and broken is None and not body.endswith(("\n", "\r"))
    for k, (line, record) in enumerate(wrong):
        final = cut_off and k == len(wrong) - 1
        problems.add(_wrong_width(path, line, record, width, delimiter, final))
    if broken:
        problems.add(broken)
    problems.raise_if_any()
    columns = [pa.array([r[i] or None for r in records], pa.string()) for i in range(width)]
    return columns, np.array(rows, dtype=np.int64)


def _fields_of(n: int) -> str:
    return f"{n} field" + ("" if n == 1 else "s")


def _wrong_width(path, line, record, width, delimiter, final) -> str:
    text = delimiter.join(record)
    preview = text if len(text) <= 30 else text[:27] + "..."
    message = (
        f"{path}: line {line}: {_fields_of(len(record))} where the header has {width} "
        f"(the line starts {preview!r})"
    )
    if final and len(record) < width:
        return message + "; the file ends inside this row, without a line break: it looks cut off"
    if len(record) > width:
        name = DELIMITERS.get(delimiter, repr(delimiter))
        return message + f"; a value that contains a {name} must be in quotes"
    return message + "; every row needs one field per column, empty or not"


def _check_final_row(path, text, header, columns, rows) -> None:
    """A file that stops right after a delimiter, without a line break, lost its last value."""
    if text.endswith(("\n", "\r")) or not len(rows) or not header[-1].strip():
        return
    if not columns[-1][len(rows) - 1].is_valid:
        raise TrialInputError(
            f"{path}: line {rows[-1]}: the file ends right after a delimiter, without a line "
            f"break: it looks cut off (the value of column {header[-1].strip()!r} is missing)"
        )


# --- Excel workbooks --------------------------------------------------------------------


def _cell_text(value) -> str | None:
    """A cell as the text a CSV export of it would hold."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if hasattr(value, "isoformat"):  # dates and times
        return value.isoformat()
    return str(value)


def _open_sheet(path: Path, data: bytes, sheet):
    import openpyxl

    try:  # from the bytes: openpyxl refuses a workbook by its file name (a .csv holding one)
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (
        Exception
    ) as error:  # damaged zips and workbooks fail in many ways; all mean "cannot read"
        raise TrialInputError(
            f"{path}: cannot be read as an Excel workbook ({type(error).__name__}: {error}); "
            f"is it damaged or cut off? Save it again as .xlsx or CSV UTF-8"
        ) from None
    names = book.sheetnames
    if isinstance(sheet, int) and not 0 <= sheet < len(names):
        chosen = None
    else:
        chosen = names[sheet] if isinstance(sheet, int) else (sheet if sheet in names else None)
    if chosen is None:
        book.close()
        raise TrialInputError(
            f"{path}: no sheet {sheet!r} (`sheet`, a name or 0-based index); the workbook has "
            f"{', '.join(repr(n) for n in names)}"
        )
    return book, chosen


def _read_workbook(path: Path, data: bytes, source: dict):
    book, chosen = _open_sheet(path, data, source["sheet"])
    try:
        cells = list(book[chosen].iter_rows(values_only=True))
    except Exception as error:  # a damaged sheet: same reasoning as opening the book
        raise TrialInputError(
            f"{path}: sheet {chosen!r} cannot be read ({type(error).__name__}: {error})"
        ) from None
    finally:
        book.close()
    header_row = source["header_row"]
    if len(cells) < header_row:
        raise TrialInputError(
            f"{path}: sheet {chosen!r} has {len(cells)} row(s), but `header_row` is {header_row}"
        )
    header = [_cell_text(v) or "" for v in cells[header_row - 1]]
    data = cells[header_row:]
    columns = [
        pa.array([_cell_text(r[i]) if i < len(r) else None for r in data], pa.string())
        for i in range(len(header))
    ]
    rows = np.arange(len(data), dtype=np.int64) + header_row + 1
    notes = ["Excel workbook", f"sheet {chosen!r}", f"header row {header_row}"]
    if path.suffix.lower() not in {".xlsx", ".xlsm"}:
        notes.insert(0, f"named {path.suffix} but holds an Excel workbook")
    return header, columns, rows, notes


# --- help when the header is not where it is expected -----------------------------------


def row_holding(source: dict | str | Path, name: str, rows: int = 30) -> int | None:
    """The first row (of the first `rows`) with a cell equal to `name`, ignoring case and
    spaces: where the header is when a title row sits above it. None when there is none."""
    source = as_source(source)
    path = Path(source["path"])
    wanted = name.strip().lower()
    try:
        data = path.read_bytes()
        if data.startswith(_ZIP):
            book, chosen = _open_sheet(path, data, source["sheet"])
            try:
                lines = [
                    [_cell_text(v) or "" for v in r]
                    for r in book[chosen].iter_rows(max_row=rows, values_only=True)
                ]
            finally:
                book.close()
        else:
            text = _decode(path, data, source["encoding"])[0]
            lines = []
            for line in islice(io.StringIO(text, newline=""), rows):
                lines.append([c for d in (source["delimiter"] or ",;\t") for c in line.split(d)])
    except TrialInputError:
        return None
    for number, cells in enumerate(lines, 1):
        if any(c.strip().strip('"').lower() == wanted for c in cells):
            return number
    return None
