"""Word tables as journals set them (issue 16): three rules, columns sized to their content,
indentation as paragraph formatting, notes as paragraphs under the table. Read from the
.docx XML itself."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest

from trialeval import tables

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
M = "\u2212"
NBSP = "\u00a0"


def table1_like(columns: int = 3) -> pd.DataFrame:
    """A variable with indented levels, a long label and numeric columns."""
    data = {
        "Characteristic": [
            "Age, years, mean (SD)",
            "Training level, n (%)",
            tables.INDENT + "Postgraduate year 1",
            tables.INDENT + "Postgraduate year 2 or later",
        ],
        "Coaching (n = 40)": ["28.1 (2.3)", "", "20 (50.0%)", "20 (50.0%)"],
        "Control (n = 41)": ["27.9 (2.5)", "", "21 (51.2%)", "20 (48.8%)"],
        "SMD": ["0.08", "", "0.02", ""],
    }
    for k in range(3, columns):
        data[f"Arm {k} (n = 40)"] = [f"{M}0.5 ({M}2.4 to 1.5)"] * 4
    return pd.DataFrame(data)


def write(tmp_path, formatted, footnote="Values are n (%) unless stated.\nᵃ A second note."):
    stem = tmp_path / "table1"
    full = pd.DataFrame({"x": [1]})
    tables.write_table(full, formatted, stem, title="Table 1. Baseline", footnote=footnote)
    with zipfile.ZipFile(stem.with_suffix(".docx")) as archive:
        from lxml import etree

        return etree.fromstring(archive.read("word/document.xml")), stem


def rules(element, path: str) -> dict[str, str]:
    """Border tag -> "single" / "nil" of the (first) border element at `path`."""
    found = element.find(path)
    assert found is not None, path
    return {child.tag.removeprefix(W): child.get(f"{W}val") for child in found}


def test_three_line_table_no_grid_style(tmp_path):
    root, _ = write(tmp_path, table1_like())
    (tbl,) = root.iter(f"{W}tbl")
    assert tbl.find(f"{W}tblPr/{W}tblStyle") is None  # not "Table Grid": no style at all
    assert rules(tbl, f"{W}tblPr/{W}tblBorders") == {
        "top": "single",
        "left": "nil",
        "bottom": "single",
        "right": "nil",
        "insideH": "nil",
        "insideV": "nil",
    }
    rows = tbl.findall(f"{W}tr")
    # the header rule: a bottom border in every header cell, and in no other cell
    for cell in rows[0].findall(f"{W}tc"):
        assert rules(cell, f"{W}tcPr/{W}tcBorders") == {"bottom": "single"}
    assert all(cell.find(f"{W}tcPr/{W}tcBorders") is None for r in rows[1:] for cell in r)
    assert rows[0].find(f"{W}trPr/{W}tblHeader") is not None  # repeats on a new page
    styles = zipfile.ZipFile(tmp_path / "table1.docx").read("word/document.xml")
    assert b"TableGrid" not in styles


def widths(tbl) -> tuple[list[int], list[list[int]]]:
    grid = [int(c.get(f"{W}w")) for c in tbl.find(f"{W}tblGrid")]
    cells = [
        [int(tc.find(f"{W}tcPr/{W}tcW").get(f"{W}w")) for tc in tr.findall(f"{W}tc")]
        for tr in tbl.findall(f"{W}tr")
    ]
    return grid, cells


def test_columns_sized_to_content_fixed_layout_within_text_width(tmp_path):
    root, _ = write(tmp_path, table1_like())
    (tbl,) = root.iter(f"{W}tbl")
    assert tbl.find(f"{W}tblPr/{W}tblLayout").get(f"{W}type") == "fixed"  # autofit off
    grid, cells = widths(tbl)
    assert all(row == grid for row in cells)  # every cell carries its column's width
    table_width = tbl.find(f"{W}tblPr/{W}tblW")
    assert table_width.get(f"{W}type") == "dxa" and int(table_width.get(f"{W}w")) == sum(grid)
    assert sum(grid) < 6.5 * 1440  # within the portrait text width (1 in margins)
    label, coaching, control, smd = grid
    assert label > coaching and label > smd  # the label column is the wide one
    # ... as wide as its longest label (a level: its text and one indent), no wider: the
    # numbers stand next to their labels rather than across an empty page
    level = tables._text_twips("Postgraduate year 2 or later") + tables.LEVEL_INDENT
    assert label == max(level, tables._text_twips("Training level, n (%)")) + tables.CELL_PADDING
    assert smd < coaching  # "0.08" needs less room than "20 (50.0%)" / "Coaching"
    # each numeric column: its longest entry or, with the page's room to spare, its whole
    # header on one line ("Coaching (n = 40)", not "Coaching" over "(n = 40)"), no more
    for width, longest, head in (
        (coaching, "20 (50.0%)", "Coaching (n = 40)"),
        (smd, "0.08", "SMD"),
    ):
        needed = max(tables._text_twips(longest), tables._text_twips(head, bold=True))
        assert width == needed + tables.CELL_PADDING
    section = root.find(f"{W}body/{W}sectPr")
    assert section.find(f"{W}pgSz").get(f"{W}orient") in (None, "portrait")


def test_wide_table_turns_landscape_and_fits(tmp_path):
    root, _ = write(tmp_path, table1_like(columns=8))
    (tbl,) = root.iter(f"{W}tbl")
    grid, _ = widths(tbl)
    assert sum(grid) <= 9 * 1440  # landscape text width
    page = root.find(f"{W}body/{W}sectPr/{W}pgSz")
    assert page.get(f"{W}orient") == "landscape"
    assert int(page.get(f"{W}w")) > int(page.get(f"{W}h"))


def cell_paragraph(tbl, row: int, col: int = 0):
    tc = tbl.findall(f"{W}tr")[row].findall(f"{W}tc")[col]
    (p,) = tc.findall(f"{W}p")
    return p, "".join(t.text or "" for t in p.iter(f"{W}t"))


def test_indentation_is_paragraph_formatting_not_spaces(tmp_path):
    root, _ = write(tmp_path, table1_like())
    (tbl,) = root.iter(f"{W}tbl")
    for row in (3, 4):  # the level rows (row 0 is the header)
        p, text = cell_paragraph(tbl, row)
        assert NBSP not in text and text.startswith("Postgraduate year")
        indent = p.find(f"{W}pPr/{W}ind")
        assert int(indent.get(f"{W}left")) == tables.LEVEL_INDENT
    for row in (1, 2):  # variable rows: flush left
        p, text = cell_paragraph(tbl, row)
        assert p.find(f"{W}pPr/{W}ind") is None and not text.startswith(NBSP)
    assert NBSP not in "".join(t.text or "" for t in tbl.iter(f"{W}t"))


def test_notes_are_small_paragraphs_directly_after_the_table(tmp_path):
    root, _ = write(tmp_path, table1_like())
    body = list(root.find(f"{W}body"))
    tags = [e.tag.removeprefix(W) for e in body]
    at = tags.index("tbl")
    assert tags[: at + 3] == ["p", "tbl", "p", "p"]  # title, table, the two notes
    notes = body[at + 1 : at + 3]
    texts = ["".join(t.text for t in n.iter(f"{W}t")) for n in notes]
    assert texts == ["Values are n (%) unless stated.", "a A second note."]  # "a": superscript
    for note in notes:  # 8 pt (half-points) against the table's 9 pt
        assert {s.get(f"{W}val") for s in note.iter(f"{W}sz")} == {"16"}
    (tbl,) = root.iter(f"{W}tbl")
    assert "A second note" not in "".join(t.text or "" for t in tbl.iter(f"{W}t"))
    table_sizes = {s.get(f"{W}val") for s in tbl.iter(f"{W}sz")}
    assert table_sizes == {"18"}  # border sizes are w:sz attributes, not w:sz elements


@pytest.mark.parametrize("footnote", ["", "One note."])
def test_other_formats_keep_nbsp_indent(tmp_path, footnote):
    """Only Word changes: Markdown and HTML still carry the non-breaking indent."""
    _, stem = write(tmp_path, table1_like(), footnote=footnote)
    assert f"| {tables.INDENT}Postgraduate year 1 |" in stem.with_suffix(".md").read_text()
    assert f"{tables.INDENT}Postgraduate year 1" in stem.with_suffix(".html").read_text()


def effects_like(prose_columns: int, numeric_columns: int) -> pd.DataFrame:
    data = {"Outcome": ["Emotional exhaustion (MBI, 0–54)", ""]}
    for k in range(prose_columns):
        data[f"Contrast {k}"] = ["Group coaching vs Control, month 4 (end of programme)"] * 2
    for k in range(numeric_columns):
        data[f"Estimate {k} (95% CI)"] = [f"{M}0.5 ({M}2.4 to 1.5)", "0.6 (0.1 to 1.2)"]
    return pd.DataFrame(data)


def test_too_wide_prose_wraps_first_numbers_keep_their_width(tmp_path):
    root, _ = write(tmp_path, effects_like(prose_columns=4, numeric_columns=3))
    (tbl,) = root.iter(f"{W}tbl")
    grid, _ = widths(tbl)
    assert sum(grid) <= 9 * 1440
    estimate = tables._text_twips(f"{M}0.5 ({M}2.4 to 1.5)") + tables.CELL_PADDING
    assert grid[-3:] == [estimate] * 3  # estimates do not wrap
    assert all(w < tables.TEXT_COLUMN_MAX for w in grid[1:5])  # the prose columns gave way


def test_the_label_gives_way_before_numbers_wrap(tmp_path):
    """Prose at its longest word and the numbers still overflow with the label at LABEL_MIN:
    the label narrows (to its longest word) and the numbers keep their width. (Seen on the
    demo's Table 2 before: n = 370 printed as "37" over "0".)"""
    root, _ = write(tmp_path, effects_like(prose_columns=4, numeric_columns=4))
    (tbl,) = root.iter(f"{W}tbl")
    grid, _ = widths(tbl)
    estimate = tables._text_twips(f"{M}0.5 ({M}2.4 to 1.5)") + tables.CELL_PADDING
    assert sum(grid) <= 9 * 1440
    assert grid[-4:] == [estimate] * 4
    longest_label_word = tables._text_twips("exhaustion") + tables.CELL_PADDING
    assert longest_label_word <= grid[0] < tables.LABEL_MIN


def test_far_too_wide_still_fits_the_landscape_page(tmp_path):
    root, _ = write(tmp_path, effects_like(prose_columns=2, numeric_columns=12))
    (tbl,) = root.iter(f"{W}tbl")
    grid, _ = widths(tbl)
    assert sum(grid) <= 9 * 1440 and grid[0] == tables.LABEL_MIN


def with_headings() -> pd.DataFrame:
    """Table 2's shape: a block heading (bold), a sub-heading (italic), an outcome row with
    the groups' results and an indented effect row."""
    formatted = pd.DataFrame(
        {
            "Outcome": [
                "Intention-to-treat set, a block heading far longer than any label of the table",
                "Primary outcomes",
                "Emotional exhaustion (MBI, 0–54)",
                tables.INDENT + "Difference in means",
            ],
            "Coaching": ["", "", "28.3 (25.9 to 30.6)", ""],
            "Control": ["", "", "27.7 (25.4 to 30.1)", ""],
            f"Difference, Coaching {M} Control (95% CI)": ["", "", "", "0.6 (0.1 to 1.2)"],
        }
    )
    formatted.attrs["headings"] = {0: tables.HEADING, 1: tables.SUBHEADING}
    return formatted


def test_heading_rows_span_the_table_bold_or_italic(tmp_path):
    formatted = with_headings()
    root, stem = write(tmp_path, formatted)
    (tbl,) = root.iter(f"{W}tbl")
    rows = tbl.findall(f"{W}tr")
    for row, flag in ((1, "b"), (2, "i")):  # header row 0; the two heading rows
        (tc,) = rows[row].findall(f"{W}tc")  # one cell spanning the four columns
        assert tc.find(f"{W}tcPr/{W}gridSpan").get(f"{W}val") == "4"
        (run,) = tc.iter(f"{W}r")
        assert run.find(f"{W}rPr/{W}{flag}") is not None
        assert run.find(f"{W}rPr/{W}{'i' if flag == 'b' else 'b'}") is None
        assert tc.find(f"{W}p/{W}pPr/{W}keepNext") is not None  # kept with the rows below
    assert all(cell.find(f"{W}tcPr/{W}tcBorders") is None for r in rows[1:] for cell in r)
    # the outcome row's empty effect cell: its paragraph mark in 9 pt (18 half-points), so
    # the row is no taller than the others; the row is kept with its indented row
    empty = rows[3].findall(f"{W}tc")[3].find(f"{W}p/{W}pPr")
    assert empty.find(f"{W}rPr/{W}sz").get(f"{W}val") == "18"
    assert empty.find(f"{W}keepNext") is not None
    assert rows[4].findall(f"{W}tc")[0].find(f"{W}p/{W}pPr/{W}keepNext") is None
    # the long heading does not widen the label column: sized as without it
    grid, _ = widths(tbl)
    plain = formatted.copy()
    plain.iloc[0, 0] = ""
    plain.attrs["headings"] = formatted.attrs["headings"]
    (tmp_path / "plain").mkdir()
    other, _ = write(tmp_path / "plain", plain)
    (other_tbl,) = other.iter(f"{W}tbl")
    assert grid == widths(other_tbl)[0]
    md = stem.with_suffix(".md").read_text()
    assert "| **Intention-to-treat set, a block heading" in md and "| *Primary outcomes* |" in md
    page = stem.with_suffix(".html").read_text()
    assert '<td colspan="4" style="' in page and "font-weight:bold" in page
    assert "font-style:italic" in page


def runs(paragraph) -> list[tuple[str, bool]]:
    """(text, superscript) of each run of a paragraph."""
    return [
        (
            "".join(t.text or "" for t in r.iter(f"{W}t")),
            r.find(f"{W}rPr/{W}vertAlign") is not None
            and r.find(f"{W}rPr/{W}vertAlign").get(f"{W}val") == "superscript",
        )
        for r in paragraph.iter(f"{W}r")
    ]


def test_footnote_marks_are_superscript_runs_not_unicode_letters(tmp_path):
    """Arial has no glyph for most Unicode superscript letters (ᵃ, ᶜ, ...): Word would set
    them in a fallback font. Each mark is a run of the plain letter, w:vertAlign
    superscript, in the cells, the heading rows and the notes."""
    formatted = with_headings()
    formatted.iloc[2, 3] = f"{tables.DASH}ᵃ"  # a missing estimate pointing to note a
    formatted.iloc[0, 0] = "Intention-to-treat setᵇ"
    root, _ = write(tmp_path, formatted, footnote="ᵃ No events.\nᵇ Every participant.")
    (tbl,) = root.iter(f"{W}tbl")
    rows = tbl.findall(f"{W}tr")
    (cell,) = rows[3].findall(f"{W}tc")[3].findall(f"{W}p")
    assert runs(cell) == [(tables.DASH, False), ("a", True)]
    (heading,) = rows[1].findall(f"{W}tc")[0].findall(f"{W}p")
    assert runs(heading) == [("Intention-to-treat set", False), ("b", True)]
    body = list(root.find(f"{W}body"))
    notes = body[[e.tag for e in body].index(f"{W}tbl") + 1 :][:2]
    assert [runs(n) for n in notes] == [
        [("a", True), (" No events.", False)],
        [("b", True), (" Every participant.", False)],
    ]
    xml = zipfile.ZipFile(tmp_path / "table1.docx").read("word/document.xml").decode()
    assert not set(tables.MARKERS) & set(xml)  # no Unicode superscript letter is left


def test_the_title_is_a_word_caption_kept_with_the_table(tmp_path):
    root, _ = write(tmp_path, table1_like())
    body = list(root.find(f"{W}body"))
    title = body[0]
    assert body[1].tag == f"{W}tbl"
    assert title.find(f"{W}pPr/{W}pStyle").get(f"{W}val") == "Caption"
    assert title.find(f"{W}pPr/{W}keepNext") is not None
    assert "".join(t.text for t in title.iter(f"{W}t")) == "Table 1. Baseline"
    from lxml import etree

    styles = etree.fromstring(zipfile.ZipFile(tmp_path / "table1.docx").read("word/styles.xml"))
    (caption,) = [s for s in styles.iter(f"{W}style") if s.get(f"{W}styleId") == "Caption"]
    assert caption.find(f"{W}rPr/{W}b") is not None  # bold, black, 10 pt (20 half-points)
    assert caption.find(f"{W}rPr/{W}color").get(f"{W}val") == "000000"
    assert caption.find(f"{W}rPr/{W}sz").get(f"{W}val") == "20"
    assert caption.find(f"{W}pPr/{W}keepNext") is not None
