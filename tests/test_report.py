"""The report page read as HTML: tables scroll in their own box, figures shrink to the width,
tables and figures are numbered, Debian's `tidy -errors` finds no error and (with Chromium) the
page is no wider than a phone's window.

The trial folder is written here from the demo trial's spec (tables by the same writer the
pipeline uses, tiny PNGs), so the test needs no pipeline run and takes well under a second.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from conftest import CHROMIUM, chromium_attribute, demo_spec
from trialeval import labels, report, tables
from trialeval.config import report_items

# a 1 x 1 PNG: the report only embeds the bytes
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _write_trial(trial_dir: Path, spec: dict) -> None:
    """The files report.trial_section reads, with one table far wider than a phone."""
    arms = {a["id"]: a["label"] for a in spec["arms"]}
    counts = dict.fromkeys(arms, 10)
    consort = {
        "arms": arms,
        "timepoints": {t["id"]: t["label"] for t in spec["timepoints"]},
        "allocated": counts,
        "withdrawn": dict.fromkeys(arms, 0),
        "assessed": {t["id"]: counts for t in spec["timepoints"]},
        "analysed": {"itt": counts, "per_protocol": counts, "complete_case": counts},
        "analysed_by_outcome": {"complete_case": {"ee": dict.fromkeys(arms, 9)}},
        "post_without_baseline": {"ee": dict.fromkeys(arms, 1)},
    }
    control = spec["control_arm"] or next(iter(arms))
    effects = pd.DataFrame(
        {
            "outcome": ["ee"],
            "analysis_name": ["primary"],
            "analysis": ["ancova"],
            "estimand": ["adjusted_mean_difference"],
            "exposure": [""],
            "timepoint": [spec["timepoints"][-1]["id"]],
            "analysis_set": [spec["analyses"]["analysis_sets"][0]],
            "method": [
                f"ANCOVA: OLS of the change in ee on arm (reference {control}), adjusted for "
                "gender (reference man); t-based CI"
            ],
        }
    )

    (trial_dir / "tables").mkdir(parents=True)
    (trial_dir / "figures").mkdir()
    (trial_dir / "consort.json").write_text(json.dumps(consort))
    effects.to_csv(trial_dir / "effects.csv", index=False)
    items = report_items(spec)
    for kind in items["tables"] + items["supplementary_tables"]:
        wide = pd.DataFrame(
            {f"Column {j}": ["-0.5 (-2.4 to 1.5)", "12.3 (10.1 to 14.5)"] for j in range(14)}
        )
        title = tables._title(spec, kind, f"Title of {kind}")
        # notes of a methods paragraph's length, wider than a phone if left unwrapped
        html_text = tables._html(wide, title, "A footnote of the table's methods. " * 12)
        (trial_dir / "tables" / f"{kind}.html").write_text(html_text)
    for kind in items["figures"]:
        (trial_dir / "figures" / f"{kind}.png").write_bytes(PNG)
    (trial_dir / "figures" / "notes.json").write_text("{}")
    diagnostics = pd.DataFrame(
        {
            "outcome": ["ee", "ee"],
            "analysis_set": ["itt", "per_protocol"],
            "n": [20, 18],
            "n_obs": [38, 34],
            "sd_participant": [8.1, 8.0],
            "sd_site": [1.9, 0.0],
            "sd_group": [None, None],
            "icc_group": [None, None],
            "icc_site": [0.04, 0.0],
            "sd_residual": [5.8, 5.7],
            "method": ["LMM, REML: score ~ arm * visit + (1 | participant) + (1 | site)"] * 2,
            "converged": [True, True],
            "boundary": [False, True],
        }
    )
    diagnostics.to_csv(trial_dir / "tables" / "model_diagnostics.csv", index=False)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, str, dict]:
    root = tmp_path_factory.mktemp("report")
    spec = demo_spec("coaching_rct")
    _write_trial(root / spec["id"], spec)
    text = report.build({spec["id"]: spec}, root, {"git": {"commit": "abc"}})
    path = root / "report.html"
    path.write_text(text, encoding="utf-8")
    return path, text, spec


class _Tree(HTMLParser):
    """For each <table> and <img>, the open elements around it (tag, class)."""

    def __init__(self):
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.tables: list[list[tuple[str, str]]] = []
        self.images = 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(list(self.stack))
        if tag == "img":
            self.images += 1
        if tag not in ("img", "br", "meta", "col"):
            self.stack.append((tag, dict(attrs).get("class") or ""))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass


def test_every_table_scrolls_in_its_own_box_and_images_shrink(page):
    _, text, _ = page
    tree = _Tree()
    tree.feed(text)
    assert len(tree.tables) >= 6 and tree.images >= 3
    for around in tree.tables:
        assert around[-1] == ("div", "table-scroll"), around
    style = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
    assert re.search(r"\.table-scroll \{[^}]*overflow-x: auto", style)
    # a scrolled table's caption and notes stay on the screen, wrapped to the box's width
    # (measured in Chromium: test_table_captions_and_notes_wrap_within_their_scrolling_box)
    sticky = r"\.table-scroll caption, \.table-scroll \.table-notes \{[^}]*"
    assert re.search(sticky + r"position: sticky; left: 0;", style)
    assert re.search(sticky + r"max-width: 100cqi;", style)
    assert '<div class="table-notes">' in text
    assert re.search(r"(?<![\w.-])img \{[^}]*max-width: 100%", style)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text


def test_tables_keep_their_own_numbers_and_figures_are_numbered(page):
    _, text, spec = page
    captions = [html.unescape(c) for c in re.findall(r"<caption[^>]*>(.*?)</caption>", text)]
    items = report_items(spec)
    numbered = [c for c in captions if re.match(r"Table \d+\. ", c)]
    # the tables' own numbers (as in their .docx), in the order shown
    assert numbered == [f"Table {k}. Title of {t}" for k, t in enumerate(items["tables"], 1)]
    extra = [c.split(".")[0] for c in captions if c.startswith("Table S")]
    # further estimates (the pipeline's Table S1), participant flow, model diagnostics
    assert extra == ["Table S1", "Table S2", "Table S3"]
    assert [c.split(". ")[1] for c in captions if c.startswith("Table S")][:2] == [
        "Title of effects_supplement",
        "Participant flow",
    ]
    assert len(captions) == len(numbered) + len(extra)  # nothing unnumbered
    figures = re.findall(r"<figcaption>Figure (\d+)\. ", text)
    assert figures == [str(k) for k in range(1, len(items["figures"]) + 1)]


def test_the_report_order_agrees_with_the_tables_numbering():
    # trialeval.tables numbers by report_items; the report shows OWN_SECTION items last
    for design in ("rct", "cluster_rct", "quasi_experimental", "cross_sectional"):
        spec = {"design": design, "analyses": {"sensitivity": [{"imputation": {"m": 5}}]}}
        items = report_items(spec)
        assert report.shown_order(items["tables"]) == items["tables"]
        assert report.shown_order(items["figures"]) == items["figures"]


@pytest.mark.skipif(shutil.which("tidy") is None, reason="tidy is not installed (apt tidy)")
def test_tidy_finds_no_errors(page):
    path, _, _ = page
    done = subprocess.run(
        ["tidy", "-errors", "-q", str(path)], capture_output=True, text=True, check=False
    )
    # tidy exits 0 when clean, 1 with warnings only, 2 with errors
    assert done.returncode in (0, 1), done.stderr
    assert "Error:" not in done.stderr, done.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_page_is_no_wider_than_a_phone(page, tmp_path):
    """At 390 px (in an iframe of that width: headless windows are at least 500 px wide) the
    page's scroll width stays within the window; the wide tables scroll in their boxes."""
    path, text, _ = page
    width = 390
    probe = tmp_path / "probe.html"
    probe.write_text(
        "<!DOCTYPE html><html><body style='margin:0'>"
        f'<iframe id="f" style="border:0;width:{width}px;height:900px" '
        f'srcdoc="{html.escape(text, quote=True)}"></iframe>'
        '<script>document.getElementById("f").onload = function () {'
        "var d = this.contentDocument.documentElement;"
        'document.body.setAttribute("data-width", d.scrollWidth + "/" + '
        "this.contentWindow.innerWidth); };</script></body></html>",
        encoding="utf-8",
    )
    measured = chromium_attribute(probe, tmp_path / "chromium", f"{width},1000", "data-width")
    scroll_width, window = map(int, measured.split("/"))
    assert window == width
    assert scroll_width <= width


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.parametrize("width", [390, 800])
def test_table_captions_and_notes_wrap_within_their_scrolling_box(page, tmp_path, width):
    """A table wider than the text scrolls in its box; its caption and notes (prose) wrap to
    the box's width instead of running as wide as the table, so no line of them is cut at
    the box's edge: each one's right edge within the box's, for every table of the page
    (before: Table 2's notes ran to the table's width, cut at 800 and 390 px)."""
    path, text, _ = page
    probe = tmp_path / "probe.html"
    measure = (
        "var d = this.contentDocument, out = [];"
        "d.querySelectorAll('.table-scroll').forEach(function (box) {"
        "  var edge = box.getBoundingClientRect().right;"
        "  box.querySelectorAll('caption, tfoot td').forEach(function (e) {"
        "    var r = d.createRange(); r.selectNodeContents(e); var right = 0;"  # its lines
        "    Array.from(r.getClientRects()).forEach(function (l) {"
        "      right = Math.max(right, l.right); });"
        "    out.push(Math.round(right - edge)); }); });"
        "document.body.setAttribute('data-over', out.join(' '));"
    )
    probe.write_text(
        "<!DOCTYPE html><html><body style='margin:0'>"
        f'<iframe id="f" style="border:0;width:{width}px;height:900px" '
        f'srcdoc="{html.escape(text, quote=True)}"></iframe>'
        f'<script>document.getElementById("f").onload = function () {{{measure}}};</script>'
        "</body></html>",
        encoding="utf-8",
    )
    measured = chromium_attribute(probe, tmp_path / "chromium", "1000,1000", "data-over")
    over = [int(v) for v in measured.split()]
    assert len(over) >= 2 * text.count('class="table-scroll"') - 2  # captions and notes
    assert max(over) <= 0, over


# --- labels, not ids; what has no content is left out ---------------------------------------


def _table(text: str, caption: str) -> str:
    """The HTML of the table whose caption starts with `caption` ("Table S. Participant
    flow": whatever its S number, which follows the trial's supplementary tables)."""
    pattern = re.escape(f"<caption>{caption}").replace("Table\\ S\\.", r"Table\ S\d+\.")
    start = re.search(pattern, text).start()
    return text[text.rindex("<table", 0, start) : text.index("</table>", start)]


def _section(root: Path, spec: dict) -> str:
    _write_trial(root / spec["id"], spec)
    return report.trial_section(spec, root / spec["id"])


def test_flow_summary_and_diagnostics_print_labels(page):
    _, text, spec = page
    # the text as read: the nowrap spans around ranges ("0–54") left out
    flow = html.unescape(re.sub(r"</?span[^>]*>", "", _table(text, "Table S. Participant flow")))
    assert "Analysed: intention-to-treat set" in flow and "Analysed: per protocol set" in flow
    assert "Analysed: complete case, Emotional exhaustion (MBI, 0–54) scored at every" in flow
    assert "Emotional exhaustion (MBI, 0–54): scored after baseline, not at baseline" in flow
    for raw in ("itt", "per_protocol", "complete_case", "ee"):
        assert not re.search(rf">{raw}\b|Analysed: {raw}", flow), raw
    # the primary analysis's estimand and models once, at the top of the section
    top = text[text.index(f'<section id="{spec["id"]}">') : text.index("<h3>Participant flow")]
    assert top.count("<dt>Estimand</dt>") == top.count("<dt>Models</dt>") == 1
    assert "on arm (reference: Control), adjusted for gender (reference: Man)" in top
    assert text.count("<dt>Estimand</dt>") == 1
    diagnostics = html.unescape(_table(text, "Table S. Model diagnostics"))
    headers = re.findall(r"<th>(.*?)</th>", diagnostics)
    assert headers[:4] == ["Outcome", "Analysis set", "Participants", "Observations"]
    assert headers[-2:] == ["Converged", "Variance at zero"]
    cells = re.findall(r"<td>(.*?)</td>", diagnostics)
    assert "Emotional exhaustion (MBI, 0–54)" in cells and "Per protocol" in cells
    assert "True" not in cells and "False" not in cells and {"yes", "no"} <= set(cells)
    assert "ee" not in cells and "itt" not in cells


def test_per_protocol_without_a_rule_is_left_out_and_said_once(tmp_path):
    spec = {**demo_spec("coaching_rct"), "per_protocol": None}
    text = html.unescape(_section(tmp_path, spec))
    assert text.count(labels.PER_PROTOCOL_NOT_SHOWN) == 1
    assert "per protocol" not in _table(text, "Table S. Participant flow").lower()
    assert "Per protocol" not in _table(text, "Table S. Model diagnostics")


def test_a_trial_without_multi_item_subscales_has_no_reliability_table(tmp_path):
    spec = demo_spec("belonging_survey")
    text = html.unescape(_section(tmp_path, spec))
    assert "Internal consistency" not in re.sub(r"<p class=\"note\">.*?</p>", "", text)
    assert text.count(report.NO_RELIABILITY) == 1
    assert "reliability_table" not in report_items(spec)["tables"]


# --- order, figures as links, labels only ------------------------------------------------------


def test_numbered_tables_come_before_the_report_only_ones(page):
    _, text, _ = page
    captions = re.findall(r"<caption[^>]*>Table (S?\d+)\. ", text)
    main = [c for c in captions if not c.startswith("S")]
    assert main == sorted(main, key=int) and main[0] == "1"
    first_s = next(k for k, c in enumerate(captions) if c.startswith("S"))
    assert all(c.startswith("S") for c in captions[first_s:]), captions  # S1 after Table n
    assert captions[first_s] == "S1"


class _Figures(HTMLParser):
    """Each <figure>'s links (href), image alt text and caption text."""

    def __init__(self):
        super().__init__()
        self.figures: list[dict] = []
        self.in_link = self.in_caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self.figures.append({"hrefs": [], "alt": None, "caption": "", "linked": False})
        elif self.figures and tag == "a":
            self.figures[-1]["hrefs"].append(attrs["href"])
            self.in_link = True
        elif self.figures and tag == "img":
            self.figures[-1]["alt"] = attrs.get("alt")
            self.figures[-1]["linked"] = self.in_link
        elif tag == "figcaption":
            self.in_caption = True

    def handle_endtag(self, tag):
        if tag == "a":
            self.in_link = False
        elif tag == "figcaption":
            self.in_caption = False

    def handle_data(self, data):
        if self.figures and self.in_caption:
            self.figures[-1]["caption"] += data


def test_each_figure_links_to_its_full_size_file_and_its_alt_is_its_caption(page):
    path, text, spec = page
    (path.parent / spec["id"] / "figures" / "forest.svg").write_text("<svg/>")
    text = report.build({spec["id"]: spec}, path.parent, {"git": {"commit": "abc"}})
    parser = _Figures()
    parser.feed(text)
    shown = report.shown_order(report_items(spec)["figures"])
    assert len(parser.figures) == len(shown)
    for k, (figure, found) in enumerate(zip(shown, parser.figures, strict=True), start=1):
        png = f"{spec['id']}/figures/{figure}.png"
        assert found["linked"] and found["hrefs"][0] == png  # the image opens the full size
        assert (path.parent / png).is_file()  # relative to results/, where report.html is
        caption = f"Figure {k}. {report.FIGURE_TITLES[figure]}"
        assert found["alt"].startswith(caption)
        assert re.match(
            rf"{re.escape(caption.rstrip('.'))}(; primary analysis)?\. Full size: PNG",
            found["caption"],
        )
        assert figure not in found["alt"]  # the caption, not the figure's id
        svg = f"{spec['id']}/figures/{figure}.svg"
        assert (svg in found["hrefs"]) == (figure == "forest")  # an SVG only where written


def _summary(text: str) -> dict[str, str]:
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html.unescape(text)))


def test_the_design_summary_prints_labels_without_an_id_after_them(tmp_path):
    spec = demo_spec("coaching_rct")
    rows = _summary(_section(tmp_path / "a", spec))
    assert rows["Arms"] == ", ".join(a["label"] for a in spec["arms"])
    assert rows["Timepoints"] == ", ".join(t["label"] for t in spec["timepoints"])
    # the labels say "Control" and "Baseline" already: no "Control (control)", no extra row
    assert "Control arm" not in rows and "Baseline" not in rows
    renamed = {
        **spec,
        "arms": [{**a, "label": "Usual supervision"} if a["control"] else a for a in spec["arms"]],
        "timepoints": [
            {**t, "label": "Start of rotation"} if t["baseline"] else t for t in spec["timepoints"]
        ],
    }
    text = _section(tmp_path / "b", renamed)
    rows = _summary(text)
    assert rows["Control arm"] == "Usual supervision" and rows["Baseline"] == "Start of rotation"
    assert not re.search(r"\((control|baseline|reference)\)", html.unescape(text))


def test_report_counts_print_with_thousands_separators(tmp_path):
    spec = demo_spec("coaching_rct")
    _write_trial(tmp_path / spec["id"], spec)
    trial = tmp_path / spec["id"]
    consort = json.loads((trial / "consort.json").read_text())
    consort["allocated"] = dict.fromkeys(consort["allocated"], 1261)
    (trial / "consort.json").write_text(json.dumps(consort))
    diagnostics = pd.read_csv(trial / "tables" / "model_diagnostics.csv")
    diagnostics["n_obs"] = [2257, 1999]
    diagnostics.to_csv(trial / "tables" / "model_diagnostics.csv", index=False)
    text = report.trial_section(spec, trial)
    flow = _table(text, "Table S. Participant flow")
    assert "<tr><td>Allocated</td>" + "<td>1,261</td>" * len(spec["arms"]) + "</tr>" in flow
    cells = re.findall(r"<td>(.*?)</td>", _table(text, "Table S. Model diagnostics"))
    assert "2,257" in cells and "1,999" in cells and "2257" not in cells


@pytest.mark.parametrize(
    ("trial", "figure", "caption"),
    [
        ("coaching_rct", "consort", "Participant flow (CONSORT)"),
        ("mentorship_prepost", "consort", "Participant flow"),
        ("mentorship_prepost", "change_distributions", "Change from baseline by group"),
        ("curriculum_passfail", "consort", "Participant flow"),
        (
            "belonging_survey",
            "odds_ratio_forest",
            "Odds ratios of burnout (EE item 8 or DP item 10 weekly or more) by exposure level",
        ),
    ],
)
def test_figure_captions_speak_in_the_designs_terms(trial, figure, caption):
    """A non-randomized study's flow is not a CONSORT diagram and compares groups; the
    odds-ratio forest names the trial's own association outcome (not a fixed 'burnout')."""
    assert report._caption(figure, {}, demo_spec(trial)) == caption


def test_odds_ratio_caption_follows_the_configured_outcome():
    spec = {
        "design": "cross_sectional",
        "analyses": {"association": {"outcome": "dep"}},
        "outcomes": [{"id": "dep", "label": "PHQ-2 positive screen"}],
    }
    caption = report._caption("odds_ratio_forest", {}, spec)
    assert caption == "Odds ratios of PHQ-2 positive screen by exposure level"


def test_a_design_without_mixed_models_has_no_diagnostics_section(page, tmp_path):
    """A design without mixed models (pre/post, survey, cohort comparison) writes
    model_diagnostics.csv as its header only: the report leaves the section out instead of a
    heading over "No mixed models" (here the coaching trial's files with such a file); a
    trial with mixed models keeps it."""
    spec = demo_spec("coaching_rct")
    trial_dir = tmp_path / spec["id"]
    _write_trial(trial_dir, spec)
    header = (trial_dir / "tables" / "model_diagnostics.csv").read_text().splitlines()[0]
    (trial_dir / "tables" / "model_diagnostics.csv").write_text(header + "\n")
    text = report.build({spec["id"]: spec}, tmp_path, {"git": {"commit": "abc"}})
    assert "Model diagnostics" not in text and "No mixed models" not in text
    assert "<h3>Model diagnostics</h3>" in page[1]


def test_the_diagnostics_note_counts_fits_in_the_singular_or_plural(page):
    # the fixture's diagnostics: two fits, the per-protocol one at a boundary
    assert '<p class="note warn">1 fit at a boundary (a variance component' in page[1]
    assert "fit(s)" not in page[1]
