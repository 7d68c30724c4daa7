"""Numbers as a journal prints them (issue 16, the editor's review): half-up rounding, risk
differences in percentage points, ranges and CIs kept on one line in HTML, one order of a
covariate's levels, Word headers of at most 3 lines. Each test reads the rendered output
(Markdown, the table's CSV, HTML, the .docx XML) and checks values worked out by hand."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile

import numpy as np
import pandas as pd
import pytest
from lxml import etree
from test_tables import tiny_spec

from conftest import CHROMIUM, association_outputs, chromium_attribute, demo_spec, demo_trial
from trialeval import design, figures, formatting, report, tables
from trialeval.effects import effects_frame

M = "\u2212"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
NOWRAP = '<span class="nowrap" style="white-space:nowrap">'
TIDY = shutil.which("tidy")


# --- half-up rounding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, decimals, printed, python",
    [
        (0.125, 2, "0.13", "0.12"),  # a binary tie: format() rounds to even
        (2.675, 2, "2.68", "2.67"),  # stored as 2.67499999...: the printed digits round up
        (-0.125, 2, "-0.13", "-0.12"),  # halves away from zero
        (1.25, 1, "1.3", "1.2"),
        (0.35, 1, "0.4", "0.3"),  # stored as 0.34999999...
        (-0.04, 1, "0.0", "-0.0"),  # never "-0.0"
        (-0.0, 2, "0.00", "-0.00"),
        (12345.5, 0, "12346", "12346"),
        (0.0449, 2, "0.04", "0.04"),
    ],
)
def test_rounded_is_half_up_on_the_printed_digits(x, decimals, printed, python):
    assert formatting.rounded(x, decimals) == printed
    assert f"{x:.{decimals}f}" == python  # what format() prints instead
    assert formatting.rounded(np.float64(x), decimals) == printed  # numpy scalars alike


def test_significant_figures_round_half_up():
    assert formatting.significant(0.1235, 3) == "0.124"  # f"{0.1235:.3g}" is 0.123
    assert formatting.significant(9.995, 3) == "10"  # f"{9.995:.3g}" is 9.99
    assert formatting.significant(12.345, 3) == "12.3"
    assert formatting.significant(0.04, 3) == "0.04"  # no trailing zeros, as format()'s g
    assert formatting.significant(0.0, 3) == "0"


def test_p_values_and_figure_numbers_round_half_up():
    assert formatting.format_p(0.125) == ".13"  # f"{0.125:.2f}" is 0.12
    assert formatting.format_p(0.0455) == ".046"  # below .05 either way, 3 decimals
    assert figures._num(-0.125, 2) == f"{M}0.13"
    assert figures._estimate_ci(1.25, 0.35, 2.25, 1) == "1.3 (0.4 to 2.3)"


# --- a Table 2 by hand, read back from every format -----------------------------------------


def _effects() -> pd.DataFrame:
    base = {"contrast": "tx - ctl", "timepoint": "t1", "analysis_set": "itt", "note": ""}
    flag = {**base, "outcome": "flag", "role": "secondary", "n": 30}
    rows = [
        {
            **base,
            "outcome": "wb",
            "role": "primary",
            "analysis": "mixed_model",
            "estimand": "diff_in_change",
            "estimate": 1.25,
            "ci_low": -0.35,
            "ci_high": 2.85,
            "p_value": 0.125,
            "p_adjusted": 0.125,
            "n": 40,
        },
        {
            **flag,
            "analysis": "risk_ratio",
            "estimand": "risk_ratio",
            "estimate": 1.125,
            "ci_low": 0.455,
            "ci_high": 2.675,
            "p_value": 0.6,
            "p_adjusted": 0.6,
        },
        {
            **flag,
            "analysis": "risk_difference",
            "estimand": "risk_difference",
            "estimate": 0.0833,
            "ci_low": -0.05,
            "ci_high": 0.21,
            "p_value": np.nan,
            "p_adjusted": np.nan,
        },
    ]
    return effects_frame(rows)


@pytest.fixture(scope="module")
def table2(tmp_path_factory):
    spec = tiny_spec()
    effects = _effects()
    summary = pd.DataFrame(
        {
            "outcome": ["flag", "flag"],
            "timepoint": ["t1", "t1"],
            "analysis_set": ["itt", "itt"],
            "arm": ["tx", "ctl"],
            "n": [16, 8],
            "n_events": [2, 1],  # 12.5% each: a tie at 1 decimal
            "proportion": [0.125, 0.125],
        }
    )
    full, formatted = tables.effects_table(spec, effects, None, summary)
    stem = tmp_path_factory.mktemp("table2") / "effects_table"
    tables.write_table(full, formatted, stem, title="Table 2. Effects", footnote="A note.")
    return stem, effects


def _markdown_rows(stem) -> dict[str, list[str]]:
    lines = stem.with_suffix(".md").read_text().splitlines()
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines if line[:1] == "|"]
    return {row[0].replace("\u00a0", " ").strip(): row[1:] for row in cells[2:]}


def test_table2_markdown_rounds_half_up_and_prints_percentage_points(table2):
    stem, effects = table2
    rows = _markdown_rows(stem)
    # 0-40 whole-point score: 1 decimal; 1.25 -> 1.3, -0.35 -> −0.4, 2.85 -> 2.9 (format()
    # gives 1.2, −0.3 and 2.9); P 0.125 -> .13
    wb = rows["Wellbeing (WI, 0–40), difference in change from baseline"]
    assert wb[2:4] == ["1.3 (−0.4 to 2.9)", ".13"]
    # each group 12.5% at 1 decimal: 12.5 exactly, so no tie here; 2/16 and 1/8
    flag = rows["Low wellbeing (WB ≤ 12)"]
    assert flag[:2] == ["2/16 (12.5)", "1/8 (12.5)"]
    # ratio, 2 decimals: 1.125 -> 1.13, 0.455 -> 0.46, 2.675 -> 2.68
    assert rows["Risk ratio (unadjusted)"][2] == "1.13 (0.46 to 2.68)"
    # risk difference 0.0833 (-0.05 to 0.21) in percentage points: 8.33 (-5 to 21), 1 decimal
    rd = rows["Risk difference, percentage points (unadjusted)"]
    assert rd[2] == "8.3 (−5.0 to 21.0)"
    assert effects.loc[2, "estimate"] == 0.0833  # the input (effects.csv) is left alone


def test_table2_csv_holds_percentage_points_with_the_label(table2):
    stem, _ = table2
    csv = pd.read_csv(stem.with_suffix(".csv")).set_index("estimand")
    rd = csv.loc["risk_difference"]
    assert [rd["estimate"], rd["ci_low"], rd["ci_high"]] == pytest.approx([8.33, -5.0, 21.0])
    assert rd["estimand_label"] == "Risk difference, percentage points (unadjusted)"
    # the other rows at full precision, as effects.csv holds them
    assert csv.loc["risk_ratio", "estimate"] == 1.125
    assert csv.loc["diff_in_change", "ci_low"] == -0.35


def test_table2_html_keeps_cis_and_comparisons_on_one_line(table2):
    stem, _ = table2
    text = stem.with_suffix(".html").read_text()
    assert f"{NOWRAP}8.3 (−5.0 to 21.0)</span>" in text
    assert f"{NOWRAP}1.3 (−0.4 to 2.9)</span>" in text
    assert f"(WB {NOWRAP}≤ 12</span>)" in text  # "≤" never apart from "12"
    assert f"(WI, {NOWRAP}0–40</span>)" in text  # the range, not the words around it
    # a cell without a break inside gets no span
    assert "<span" not in re.search(r">40<", text).group()


def test_table2_docx_prints_the_same_numbers(table2):
    stem, _ = table2
    with zipfile.ZipFile(stem.with_suffix(".docx")) as archive:
        xml = archive.read("word/document.xml").decode()
    assert "8.3 (−5.0 to 21.0)" in xml and "1.13 (0.46 to 2.68)" in xml
    assert "Risk difference, percentage points (unadjusted)" in xml


@pytest.mark.skipif(TIDY is None, reason="tidy is not installed (apt tidy)")
def test_table_html_is_valid_under_tidy(table2, tmp_path):
    stem, _ = table2
    page = tmp_path / "page.html"
    page.write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>t</title></head>'
        f"<body>{stem.with_suffix('.html').read_text()}</body></html>",
        encoding="utf-8",
    )
    done = subprocess.run([TIDY, "-errors", "-q", str(page)], capture_output=True, text=True)
    assert done.returncode in (0, 1) and "Error:" not in done.stderr, done.stderr


# --- cohort table: the risk difference and trend in percentage points, CSV included --------


def test_cohort_table_csv_and_markdown_in_percentage_points():
    from trialeval.cohort_tables import cohort_table

    spec = demo_spec("curriculum_passfail")
    effects = effects_frame(
        [
            {
                "outcome": "depression",
                "role": "primary",
                "analysis": "cohort_comparison",
                "estimand": "risk_difference",
                "contrast": "2021 - 2019",
                "timepoint": "survey",
                "analysis_set": "itt",
                "estimate": -0.1795,
                "ci_low": -0.2825,
                "ci_high": -0.0808,
                "n": 176,
                "note": "",
                "method": "unadjusted risk difference",
            }
        ]
    )
    summary = pd.DataFrame(
        {
            "outcome": ["depression"] * 2,
            "analysis_set": ["itt"] * 2,
            "cohort": ["2019", "2021"],
            "n": [85, 91],
            "events": [34, 20],
            "proportion": [34 / 85, 20 / 91],
            "ci_low": [0.3, 0.14],
            "ci_high": [0.5, 0.31],
        }
    )
    full, formatted = cohort_table(spec, effects, summary)
    row = formatted[formatted["Outcome"].str.contains("Risk difference")].iloc[0]
    # -0.1795 -> -17.95 -> −18.0 (half up; -17.95 is stored as -17.949999..., repr -17.95);
    # -0.2825 -> −28.3, -0.0808 -> −8.1
    assert row["Estimate (95% CI)"] == f"{M}18.0 ({M}28.3 to {M}8.1)"
    assert "percentage points" in row["Outcome"]
    effect = full[full["kind"] == "effect"].iloc[0]
    assert [effect["estimate"], effect["ci_low"]] == pytest.approx([-17.95, -28.25])


# --- the report's HTML: nowrap spans, their stylesheet rule, tidy, one line at 390 px --------


def _report(tmp_path, table2) -> str:
    from test_report import _write_trial

    stem, _ = table2
    spec = demo_spec("coaching_rct")
    trial_dir = tmp_path / spec["id"]
    _write_trial(trial_dir, spec)
    shutil.copy(stem.with_suffix(".html"), trial_dir / "tables" / "effects_table.html")
    text = report.build({spec["id"]: spec}, tmp_path, {"git": {"commit": "abc"}})
    (tmp_path / "report.html").write_text(text, encoding="utf-8")
    return text


def test_report_wraps_ranges_in_nowrap_spans_and_styles_them(tmp_path, table2):
    text = _report(tmp_path, table2)
    style = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
    assert re.search(r"\.nowrap \{ white-space: nowrap; \}", style)
    assert f"{NOWRAP}8.3 (−5.0 to 21.0)</span>" in text
    if TIDY:
        done = subprocess.run(
            [TIDY, "-errors", "-q", str(tmp_path / "report.html")], capture_output=True, text=True
        )
        assert done.returncode in (0, 1) and "Error:" not in done.stderr, done.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_a_ci_in_a_narrow_table_cell_stays_on_one_line_at_390px(tmp_path):
    """A label cell squeezed to 6em at 390 px: its words wrap, the CI in it does not (one
    line box per nowrap span, read from the DOM)."""
    cell = formatting.nowrap_html("Difference in change −0.5 (−2.4 to 1.5) at month 4")
    probe = tmp_path / "probe.html"
    probe.write_text(
        f"<!DOCTYPE html><html><head><style>{report.STYLE}</style></head><body>"
        f'<table style="width:6em"><tr><td id="c">{cell}</td></tr></table>'
        "<script>var s = document.querySelector('#c span');"
        "document.body.setAttribute('data-rects', s.getClientRects().length + '/' + "
        "Math.round(document.querySelector('#c').getBoundingClientRect().height));"
        "</script></body></html>",
        encoding="utf-8",
    )
    measured = chromium_attribute(probe, tmp_path / "chromium", "390,800", "data-rects")
    rects, height = map(int, measured.split("/"))
    assert rects == 1  # the CI: one line box
    assert height > 40  # while the words around it wrapped onto several lines


# --- one order of a covariate's levels -------------------------------------------------------


def test_factor_levels_follow_the_trial_file_then_sorted():
    spec = {"covariates": [{"name": "gender", "levels": {"woman": "Woman", "man": "Man"}}]}
    frame = pd.DataFrame({"gender": ["man", "x", "woman", "other", "man"]})
    # listed levels in the trial file's order, then the others sorted; the first the reference
    factor = design.factor_from_data(frame, "gender", spec=spec)
    assert factor.levels == ("woman", "man", "other", "x")
    assert design.describe_terms([factor]) == "gender (reference woman)"
    assert design.factor_from_data(frame, "gender").levels == ("man", "other", "woman", "x")


@pytest.fixture(scope="module")
def belonging():
    spec, participants, _, scores, sets = demo_trial("belonging_survey")
    members = participants[participants["participant_id"].isin(sets["participant_id"])]
    return spec, participants, scores, sets, members


def test_table1_and_model_notes_use_one_level_order(belonging):
    spec, participants, scores, sets, members = belonging
    _, formatted = tables.table1(spec, participants, sets, scores)
    names = [n.replace("\u00a0", " ").strip() for n in formatted["Characteristic"]]
    at = names.index("Gender, n (%)")
    assert names[at + 1 : at + 4] == ["Woman", "Man", "Nonbinary"]  # the trial file's order
    at = next(i for i, n in enumerate(names) if n.startswith("Training level"))
    assert names[at + 1 : at + 4] == ["Medical student", "Resident", "Fellow"]
    # the models' reference level: the first of the same order (not the sorted "fellow", "man")
    effects, _ = association_outputs(spec, scores, members)
    method = effects["method"].iloc[0]
    assert "level (reference student)" in method and "gender (reference woman)" in method


# --- Word: a number column's header in at most 3 lines --------------------------------------


def _written_grid(formatted: pd.DataFrame, tmp_path):
    """The .docx table write_table makes of `formatted`: its w:tbl and column widths (twips)."""
    stem = tmp_path / "t"
    tables.write_table(pd.DataFrame({"x": [1]}), formatted, stem, title="Table 2", footnote="")
    with zipfile.ZipFile(stem.with_suffix(".docx")) as archive:
        root = etree.fromstring(archive.read("word/document.xml"))
    (tbl,) = root.iter(f"{W}tbl")
    return tbl, [int(c.get(f"{W}w")) for c in tbl.find(f"{W}tblGrid")]


def _lines(title: str, room: int) -> int:
    """Lines of `title` wrapped word by word at `room` twips (bold Arial, as the writer
    measures it), counted here independently of the writer's own wrapping."""
    lines = [""]
    for word in title.split():
        candidate = f"{lines[-1]} {word}".strip()
        if lines[-1] and tables._text_twips(candidate, bold=True) > room:
            lines.append(word)
        else:
            lines[-1] = candidate
    return len(lines)


def test_docx_number_headers_wrap_to_three_lines_at_most(tmp_path):
    """Six number columns under long headers: a landscape page with little to spare, so each
    header wraps; to 3 lines at most, where columns sized to their cells and longest header
    word (the rule before) wrapped it to 5."""
    headers = [f"Difference or ratio, Group coaching {k} vs Control (95% CI)" for k in range(6)]
    formatted = pd.DataFrame(
        {"Outcome": ["Emotional exhaustion (MBI, 0–54)"]}
        | {h: ["0.2 (−1.2 to 1.6)"] for h in headers}
    )
    tbl, grid = _written_grid(formatted, tmp_path)
    heads = [
        "".join(t.text for t in tc.iter(f"{W}t")) for tc in tbl.find(f"{W}tr").findall(f"{W}tc")
    ]
    assert heads[1:] == headers
    assert sum(grid) <= 9 * 1440  # within the landscape text width
    cells = tables._text_twips("0.2 (−1.2 to 1.6)")
    for header, width in zip(headers, grid[1:], strict=True):
        room = width - tables.CELL_PADDING
        assert _lines(header, room) <= 3, (header, width)
        assert _lines(header, cells) >= 4  # sized to its cells alone: 4 lines or more
        assert room < tables._text_twips(header, bold=True)  # still wrapped: no room to spare


def test_docx_header_words_are_never_broken(tmp_path):
    """Table 2's short header with one long word ("Adjusted P") over narrow cells (".42"):
    the column holds its widest bold word, so Word wraps between words and never breaks one
    ("Adju / sted / P" before, at 690 twips for the 801 "Adjusted" needs)."""
    formatted = pd.DataFrame(
        {
            "Outcome": ["Moral injury symptoms (MISS-HP total, 10–100), change from baseline"],
            "Group coaching": ["−1.5 (−3.1 to 0.1)"],
            "Control": ["0.0 (−1.7 to 1.6)"],
            "Difference or ratio, Group coaching vs Control (95% CI)": ["−1.5 (−3.8 to 0.8)"],
            "P": [".21"],
            "Adjusted P": [".42"],
            "n": ["373"],
        }
    )
    tbl, grid = _written_grid(formatted, tmp_path)
    room = grid[5] - tables.CELL_PADDING  # Adjusted P (477 twips before the fix)
    assert tables._text_twips("Adjusted", bold=True) <= room
    assert _lines("Adjusted P", room) <= 2


def test_counts_of_participants_in_notes_are_singular_or_plural():
    """Table notes say "1 participant", "10 participants", never "participant(s)"."""
    from trialeval.formatting import participant_count

    assert [participant_count(n) for n in (0, 1, 2, 10)] == [
        "0 participants",
        "1 participant",
        "2 participants",
        "10 participants",
    ]
