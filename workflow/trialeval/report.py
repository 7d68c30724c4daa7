"""The report: one self-contained HTML page (figures embedded) with a section per trial.

Everything shown is read from files the pipeline already wrote: tables as their HTML, figures
as their PNG (embedded as data URIs, so the page opens offline) with what each could not draw
(figures/notes.json), consort.json, the model diagnostics and provenance.json. Nothing is
recomputed here. The page carries no timestamp (provenance.json does), so the same inputs give
the same bytes.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
from pathlib import Path

import pandas as pd

from trialeval import disclosure
from trialeval.config import RANDOMIZED, has_reliability, report_items
from trialeval.delivery import size_text
from trialeval.direction import negative_shift_words
from trialeval.formatting import DASH, group_thousands, nowrap_html, significant
from trialeval.labels import (
    analysis_set_label,
    ci_level,
    per_protocol_not_shown,
    set_name,
    shown_sets,
)

DESIGN_WORDS = {
    "rct": "randomized controlled trial",
    "cluster_rct": "cluster-randomized trial (sites randomized)",
    "quasi_experimental": "non-randomized (quasi-experimental) pre/post comparison",
    "cross_sectional": "cross-sectional survey",
    "cohort_comparison": "comparison of successive cohorts (different people, each surveyed once)",
}
FIGURE_TITLES = {
    "consort": "Participant flow (CONSORT)",
    "trajectories": "Adjusted means by arm and timepoint (mixed model, intention-to-treat set)",
    "forest": "Effects across outcomes (intention-to-treat set)",
    "change_distributions": "Change from baseline by arm",
    "odds_ratio_forest": "Odds ratios of the outcome by exposure level",
    "cohort_prevalence": "Prevalence of each binary outcome by cohort (Wilson {ci} CI)",
    "tipping_point": (
        "Tipping point: pooled estimate (left) and P (right) of the multiple imputation "
        "against the shift delta of the imputed intervention-arm values"
    ),
}
# Tables and figures shown in a section of their own rather than with the others.
OWN_SECTION = {"tipping_point"}
# The page is never wider than the window: a table wider than the text scrolls sideways in
# its own box (.table-scroll), figures shrink to the width, long words break.
STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0;
       color: #1a1a1a; line-height: 1.45; overflow-wrap: break-word; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
.table-scroll { max-width: 100%; overflow-x: auto; margin: .5rem 0 1rem; }
.table-scroll table { margin: 0; }
/* a scrolling table need not squeeze its words into one-word lines */
.table-scroll th, .table-scroll td { min-width: 4.5rem; }
.table-scroll tr > :first-child { min-width: 8rem; }  /* the labels */
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 6px; }
/* a table wider than the text scrolls; its caption and notes stay in view, wrapped to the
   box's width (cqi: the .table-scroll container; 100vw where container units are unknown) */
.table-scroll { container-type: inline-size; }
.table-scroll caption, .table-scroll .table-notes { position: sticky; left: 0;
  box-sizing: border-box; max-width: calc(100vw - 2rem); max-width: 100cqi; }
.table-scroll .table-notes { max-width: calc(100cqi - 16px); }  /* the cell's padding */
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #0072B2; padding-bottom: .2rem;
     margin-top: 3rem; } h3 { margin-top: 2rem; }
nav ul { columns: 2; } figure { margin: 1rem 0; } img { max-width: 100%; height: auto; }
figure img { border: 1px solid #ddd; } figcaption { font-size: .9rem; color: #444; }
.full-size { white-space: nowrap; }  /* the links to the full-size PNG and SVG */
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid #ccc; padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
td[style*="text-align:right"] { white-space: nowrap; }  /* keep "x (a to b)" on one line */
/* a count table (the participant flow): counts right-aligned, a count of the whole trial
   centred across the arms, a reason indented under the line it breaks down */
table.counts td + td, table.counts th + th { text-align: right; }
table.counts td[colspan] { text-align: center; } table.counts td.sub { padding-left: 1.75rem; }
.nowrap { white-space: nowrap; }  /* a range, CI, "≥n" or "<k" inside wrapping text */
.note { font-size: .85rem; color: #555; } .warn { color: #8a4b00; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.summary dt { font-weight: 600; } dl.summary dd { margin: 0; min-width: 0; }
/* phone widths: narrower margins, one column of contents */
@media (max-width: 600px) { main { padding: 1rem .75rem 3rem; } nav ul { columns: 1; }
  dl.summary { grid-template-columns: 1fr; } dl.summary dd { margin-bottom: .5rem; } }
"""


NO_RELIABILITY = (
    "No outcome is measured with a multi-item subscale, so internal consistency (Cronbach's "
    "alpha) is not estimable and no reliability table is shown."
)
DIAGNOSTIC_COLUMNS = {  # model_diagnostics.csv column: printed header
    "outcome": "Outcome",
    "analysis_set": "Analysis set",
    "n": "Participants",
    "n_obs": "Observations",
    "sd_participant": "SD, participant",
    "sd_site": "SD, site",
    "sd_group": "SD, delivery group",
    "icc_group": "ICC, delivery group",
    "icc_site": "ICC, site",
    "sd_residual": "SD, residual",
    "converged": "Converged",
    "boundary": "Variance at zero",
}


def _scroll(table: str) -> str:
    """A table in a box of the text's width that scrolls sideways when the table is wider."""
    return f'<div class="table-scroll">{table}</div>'


def _caption_tag(text: str) -> str:
    return f"<caption>{html.escape(text)}</caption>"


def _design_title(figure: str, spec: dict) -> str:
    """FIGURE_TITLES[figure] in the trial's terms: a non-randomized study's flow is not a
    CONSORT diagram and compares groups, not arms; the odds-ratio forest names the trial's
    own association outcome."""
    randomized = spec.get("design", "rct") in ("rct", "cluster_rct")
    if figure == "consort" and not randomized:
        return "Participant flow"
    if figure == "change_distributions" and not randomized:
        return "Change from baseline by group"
    if figure == "odds_ratio_forest":
        association = (spec.get("analyses") or {}).get("association") or {}
        outcome = next(
            (o for o in spec.get("outcomes", []) if o["id"] == association.get("outcome")), None
        )
        if outcome is None:
            return "Odds ratios of the outcome by exposure level"
        label = outcome["label"]  # "Burnout (...)" lower-cased, "PHQ-2 ..." kept
        label = label[0].lower() + label[1:] if label[1:2].islower() else label
        return f"Odds ratios of {label} by exposure level"
    return FIGURE_TITLES[figure]


def _caption(figure: str, estimands: dict, spec: dict | None = None) -> str:
    """A figure's caption, the primary set in the design's words (`spec`); the model figures
    draw the primary analysis (whose estimand and model the section states once, at its top)."""
    title = _design_title(figure, spec or {})
    title = title.replace("intention-to-treat set", set_name("itt", spec))
    title = title.replace("{ci}", ci_level(spec))  # the run's confidence level: "(Wilson 99% CI)"
    if figure in ("trajectories", "forest", "odds_ratio_forest") and estimands.get("primary"):
        return f"{title}; primary analysis."
    return title


# CSS pixels per inch of figure: a double-column figure (7.2 in) just fills the text width, so
# a single-column one (3.5 in) shows at half of it, its type the same size as the others'
FIGURE_PX_PER_INCH = 144
FIGURE_DPI = 300  # trialeval.figures.DPI (not imported: it loads matplotlib)


def _embed_png(path: Path, alt: str) -> str:
    """The PNG as a data URI (the page opens offline), `alt` its caption, shown at the width
    its size in inches gives (FIGURE_PX_PER_INCH)."""
    raw = path.read_bytes()
    data = base64.b64encode(raw).decode("ascii")
    width = ""
    if raw[:8] == b"\x89PNG\r\n\x1a\n":  # the width is in the IHDR chunk
        pixels = int.from_bytes(raw[16:20], "big")
        width = f' width="{round(pixels / FIGURE_DPI * FIGURE_PX_PER_INCH)}"'
    return f'<img alt="{html.escape(alt)}"{width} src="data:image/png;base64,{data}">'


def _figure_html(path: Path, caption: str) -> str:
    """A figure with its caption. On a phone a double-column figure shrinks to a third of its
    size, its type too small to read: the image links to the full-size PNG beside the page
    (results/<trial>/figures/, relative to results/report.html), and the caption to the
    SVG, which stays sharp at any zoom."""
    href = f"{path.parent.parent.name}/figures/{path.name}"
    links = [f'<a href="{html.escape(href)}">PNG</a>']
    if path.with_suffix(".svg").is_file():
        links.append(f'<a href="{html.escape(href[:-4])}.svg">SVG</a>')
    return (
        f'<figure><a href="{html.escape(href)}">{_embed_png(path, caption)}</a>'
        f"<figcaption>{html.escape(caption.rstrip('.'))}. "
        f'<span class="full-size">Full size: {", ".join(links)}.</span></figcaption></figure>'
    )


def _design_summary(spec: dict, effects: pd.DataFrame | None = None) -> str:
    """The trial at a glance, and the primary analysis (its estimand and models) stated once
    for the whole section."""
    from trialeval.tables import (
        analysis_set_definition,
        category_definitions,
        outcome_label,
        typographic,
    )

    cohorts = spec["design"] == "cohort_comparison"  # its cohorts are the arms
    arms = ", ".join(a["label"] for a in spec["arms"])
    timepoints = ", ".join(t["label"] for t in spec["timepoints"])
    labels = {o["id"]: typographic(outcome_label(spec, o["id"])) for o in spec["outcomes"]}
    primary = [labels[o["id"]] for o in spec["outcomes"] if o["role"] == "primary"]
    secondary = [labels[o["id"]] for o in spec["outcomes"] if o["role"] != "primary"]
    configured = spec["analyses"]["analysis_sets"]
    sets = "; ".join(
        f"{analysis_set_label(s, spec)} ({analysis_set_definition(spec, s)})"
        for s in shown_sets(spec, configured)
    )
    if shown_sets(spec, configured) != configured:
        sets += f". {per_protocol_not_shown(spec)}"
    rows = [
        ("Design", DESIGN_WORDS[spec["design"]]),
        ("Cohorts (in time order)" if cohorts else "Arms", arms),
        *_roles(
            spec, *(("Reference cohort", "reference") if cohorts else ("Control arm", "control"))
        ),
        ("Timepoints", timepoints),
        *_roles(spec, "Baseline", "baseline"),
        ("Primary outcomes", ", ".join(primary) or "none"),
        ("Secondary outcomes", ", ".join(secondary) or "none"),
        # the categories' definitions once, above the tables and figures that show them
        *_definitions(category_definitions(spec, [o["id"] for o in spec["outcomes"]])),
        ("Analysis sets", sets),
        *_primary_analysis(spec, effects),
    ]
    if spec["registration"]:
        rows.append(("Registration / source", spec["registration"]))
    # a list value prints one item a line (the models, one per effect measure)
    items = "".join(
        f"<dt>{html.escape(k)}</dt><dd>"
        + ("<br>".join(map(html.escape, v)) if isinstance(v, list) else html.escape(v))
        + "</dd>"
        for k, v in rows
    )
    return f'<dl class="summary">{items}</dl>'


def _definitions(text: str) -> list[tuple[str, str]]:
    return [("Definitions", text)] if text else []


def _roles(spec: dict, role: str, word: str) -> list[tuple[str, str]]:
    """(role, the labels of the control arm, reference cohort or baseline timepoint): labels
    only, in a row of their own rather than "Control (control)" after the label; left out
    where every such label says `word` already ("Control", "Baseline"), and for the baseline
    of a single timepoint (nothing to compare it with)."""
    if word == "baseline":
        if len(spec["timepoints"]) < 2:
            return []
        named = [t["label"] for t in spec["timepoints"] if t["baseline"]]
    else:
        named = [a["label"] for a in spec["arms"] if a["control"]]
    if not named or all(word in label.lower() for label in named):
        return []
    return [(role, ", ".join(named))]


SPLIT_TABLES = ("effects_table", "effects_supplement")


def _measure_words(rows: pd.DataFrame) -> str:
    """The effect measures of some effects rows, once each: "Risk ratio (unadjusted), ..."."""
    from trialeval.tables import ESTIMAND_LABELS, _lower_first

    measures = [ESTIMAND_LABELS.get(e, e) for e in dict.fromkeys(rows["estimand"])]
    return ", ".join(measures[:1] + [_lower_first(m) for m in measures[1:]])


def _primary_analysis(spec: dict, effects: pd.DataFrame | None) -> list[tuple[str, object]]:
    """("Estimand", ...) and ("Models", ...) of the primary analysis in its primary analysis
    set, from effects.csv (the models as the tables' footnotes describe them)."""
    from trialeval.estimands import estimand_lines
    from trialeval.tables import (
        _lower_first,
        _methods,
        primary_multiplicity,
        split_effects,
        table_name,
    )

    if effects is None or effects.empty:
        return []
    names = effects["analysis_name"] if "analysis_name" in effects else "primary"
    primary_set = spec["analyses"]["analysis_sets"][0]
    rows = effects[(names == "primary") & (effects["analysis_set"] == primary_set)]
    if rows.empty:
        return []
    stated = estimand_lines("primary analysis", spec["analyses"].get("estimand"))
    main, further = split_effects(spec, rows)
    measures = _measure_words(main)
    further_words = _measure_words(further)
    if further_words:  # a randomized trial's Table 2 has the primary measures, S1 the rest
        main_name, further_name = (table_name(spec, k) for k in SPLIT_TABLES)
        measures += f" ({main_name}); also {_lower_first(further_words)} ({further_name})"
    where = set_name(primary_set, spec)
    estimand = (
        " ".join(stated)
        if stated
        else (
            "Not stated in the trial file: no intercurrent events, every observation used as "
            "observed."
        )
    )
    estimand += f" Effect measures ({where}): {measures}."
    rule = primary_multiplicity(spec, rows)  # "" with a single primary comparison
    return [
        ("Estimand", estimand),
        *([("Multiplicity", rule)] if rule else []),
        ("Models", _methods(spec, rows)),
    ]


def _consort_summary(consort: dict, caption: str = "Participant flow", spec=None) -> str:
    """consort.json's counts per arm, labelled; of the analysis sets those the trial
    analyses and shows (`spec`; every set in consort.json without it)."""
    from trialeval.tables import outcome_label, typographic

    arms = list(consort["allocated"])
    labels = consort["arms"]

    def outcome(oid: str) -> str:
        return typographic(outcome_label(spec, oid)) if spec else oid

    sets = list(consort["analysed"])
    if spec:
        sets = shown_sets(spec, [s for s in spec["analyses"]["analysis_sets"] if s in sets])
    head = "".join(f"<th>{html.escape(labels[a])}</th>" for a in arms)
    words = _flow_words(spec)
    lines = [*_screening_rows(consort, spec), (words[0], consort["allocated"])]
    lines += _received_rows(consort, arms, spec)
    lines.append(("Withdrew consent", consort["withdrawn"]))
    lines += _reason_rows(consort.get("withdrawn_reasons", {}))
    for tp, counts in consort["assessed"].items():
        lines.append((f"{words[1]}: {consort['timepoints'][tp]}", counts))
    lines += _lost_reason_rows(consort)
    for name in sets:
        said = f"{words[2]}{set_name(name, spec)}"
        lines.append((said[:1].upper() + said[1:], consort["analysed"][name]))
    # each outcome's complete case (scored at every timepoint), where it has fewer
    by_outcome = consort.get("analysed_by_outcome", {}).get("complete_case", {})
    every = consort["analysed"].get("complete_case")
    for oid, counts in by_outcome.items():
        if "complete_case" in sets and counts != every:
            lines.append(
                (f"Analysed: complete case, {outcome(oid)} scored at every timepoint", counts)
            )
    # scored after baseline only: left out of baseline-adjusted models and change scores
    for oid, counts in consort.get("post_without_baseline", {}).items():
        if any(counts.values()):
            lines.append((f"{outcome(oid)}: scored after baseline, not at baseline", counts))
    # delivery groups / clusters: number and sizes, as allocated
    for key, what in (("delivery_groups", "Delivery groups"), ("clusters", "Clusters (sites)")):
        if key in consort:
            sizes = consort[key]["allocated"]
            lines.append(
                (f"{what}: n; size median (range)", {a: size_text(sizes[a]) for a in arms})
            )
    body = "".join(
        f"<tr>{_flow_label(name)}{_flow_cells(counts, arms)}</tr>" for name, counts in lines
    )
    return (
        f'<table class="counts">{_caption_tag(caption)}<thead><tr><th></th>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


class _Reason(str):
    """A participant-flow label that breaks down the line above it (a reason for exclusion,
    withdrawal or loss to follow-up): printed indented under that line."""


def _flow_label(name: str) -> str:
    indent = ' class="sub"' if isinstance(name, _Reason) else ""
    return f"<td{indent}>{nowrap_html(name)}</td>"


def _flow_cells(counts, arms: list[str]) -> str:
    """A row's cells: one per arm, or one across the arms for a count of the whole trial (the
    screening counts, those enrolled)."""
    if not isinstance(counts, dict):
        return f'<td colspan="{len(arms)}">{nowrap_html(group_thousands(counts))}</td>'
    return "".join(f"<td>{nowrap_html(group_thousands(counts[a]))}</td>" for a in arms)


def _screening_rows(consort: dict, spec: dict | None) -> list[tuple[str, object]]:
    """Assessed for eligibility, excluded (and per reason), enrolled: counts of the whole
    trial (the trial file's `flow` block), before the arms' rows."""
    counts = consort.get("eligibility")
    if not counts:
        return []
    randomized = (spec or {}).get("design", "rct") in RANDOMIZED
    return [
        ("Assessed for eligibility", counts["assessed"]),
        ("Excluded", counts["excluded"]),
        *((_Reason(r), n) for r, n in counts["excluded_reasons"].items()),
        ("Enrolled and randomized" if randomized else "Enrolled", consort["enrolled"]),
    ]


def _received_rows(consort: dict, arms: list[str], spec: dict | None) -> list:
    """Received / did not receive the intervention, in the delivering arms (a dash in the
    others)."""
    if "received" not in consort:
        return []
    given = "allocated" if (spec or {}).get("design", "rct") in RANDOMIZED else "assigned"
    rows = []
    for key, said in (("received", "Received"), ("not_received", "Did not receive")):
        counts = {a: consort[key].get(a, DASH) for a in arms}
        rows.append((f"{said} {given} intervention", counts))
    return rows


def _reason_rows(reasons: dict) -> list:
    return [(_Reason(reason), counts) for reason, counts in reasons.items()]


def _lost_reason_rows(consort: dict) -> list:
    """Not assessed at the last timepoint, then per reason (with a reason column)."""
    rows = []
    for tp, reasons in consort.get("not_assessed_reasons", {}).items():
        head = f"Not assessed at {consort['timepoints'][tp]}"
        rows += [(head, consort["not_assessed"][tp]), *_reason_rows(reasons)]
    return rows


def _flow_words(spec: dict | None) -> tuple[str, str, str]:
    """The participant flow's first row, its per-timepoint rows and the prefix of its set
    rows, in the design's words: a randomized trial allocates, a non-randomized one assigns,
    a survey (and each cohort of a cohort comparison) surveys, and a cohort comparison's
    primary set holds its non-respondents, who are not analysed."""
    design = (spec or {}).get("design", "rct")
    if design in ("cross_sectional", "cohort_comparison"):
        return "Surveyed", "Responded", "Analysed: " if design == "cross_sectional" else ""
    return (
        ("Allocated" if design in ("rct", "cluster_rct") else "Assigned"),
        "Assessed",
        "Analysed: ",
    )


def _yes_no(value) -> str:
    return "yes" if str(value).strip().lower() in ("true", "1", "yes") else "no"


def _count_text(value) -> str:
    """A count as the tables print it (1,234); a disclosure marker ("<5", "≥5") or a dash
    as it is."""
    if pd.isna(value):
        return ""
    try:
        return f"{int(float(value)):,}"
    except ValueError:
        return str(value)


def _diagnostics(
    frame: pd.DataFrame,
    caption: str = "Model diagnostics",
    spec=None,
    plan=disclosure.OFF,
    effects=None,
) -> str:
    """The mixed models' fit (model_diagnostics.csv, some rows), one row per outcome and
    analysis set shown, labelled: sizes, variance components (SDs on the score's scale),
    ICCs, and yes/no for convergence and a variance estimated at zero. `plan`: disclosure
    control of the n (as Table 2 prints them, found in `effects`)."""
    from trialeval.tables import outcome_label, shown_rows, typographic

    if spec:
        frame, _ = shown_rows(spec, frame)
    columns = [
        c
        for c in DIAGNOSTIC_COLUMNS
        if c in frame
        and (c not in ("sd_site", "sd_group", "icc_group", "icc_site") or frame[c].notna().any())
    ]
    shown = frame[columns].copy()
    shown, withheld = _planned_n(shown, frame, plan, effects)
    if spec:
        shown["outcome"] = [typographic(outcome_label(spec, o)) for o in shown["outcome"]]
    shown["analysis_set"] = [analysis_set_label(s, spec) for s in shown["analysis_set"]]
    for column in ("sd_participant", "sd_site", "sd_group", "icc_group", "icc_site", "sd_residual"):
        if column not in shown:
            continue
        shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else significant(v, 3))
    for column in ("converged", "boundary"):
        shown[column] = shown[column].map(_yes_no)
    for column in [c for c in ("n", "n_obs") if c in shown]:  # 1,234 as in the tables
        shown[column] = shown[column].map(_count_text)
    # the outcome prints once, over the rows of its analysis sets
    shown["outcome"] = shown["outcome"].where(shown["outcome"] != shown["outcome"].shift(), "")
    shown = shown.rename(columns=DIAGNOSTIC_COLUMNS)
    flagged = frame[(~frame["converged"].astype(bool)) | frame["boundary"].astype(bool)]
    note = (
        f'<p class="note warn">{len(flagged)} fit{"s" * (len(flagged) != 1)} at a boundary '
        "(a variance component estimated at zero: Variance at zero, yes) or not converged "
        "(Converged, no); "
        f"the optimiser's messages are in model_diagnostics.csv.</p>"
        if len(flagged)
        else '<p class="note">Every model converged to an interior optimum.</p>'
    )
    methods = list(dict.fromkeys(frame["method"])) if "method" in frame else []
    if spec and len(methods) == 1:
        from trialeval.labels import method_text

        note += f'<p class="note">Model: {html.escape(method_text(spec, str(methods[0])))}.</p>'
    note += (
        '<p class="note">SD: standard deviation of each variance component, on the scale of '
        "the outcome; ICC: the site's (or delivery group's) share of the variance of one "
        "observation.</p>"
    )
    if withheld:
        note += f'<p class="note">{html.escape(plan.note())}</p>'
    table = shown.to_html(index=False, border=0, escape=True)
    # pandas writes no caption; the table's number and title go in as its first child
    table = table.replace(">", ">" + _caption_tag(caption), 1)
    return note + _scroll(table)


def _planned_n(shown: pd.DataFrame, frame: pd.DataFrame, plan, effects) -> tuple:
    """The diagnostics' n through disclosure control's plan, under the fact Table 2 prints
    it as (disclosure.model_n_key): a withheld n as its marker, its observations as a dash
    (at most n times the visits, they would bound it); and whether any is withheld."""
    if not plan.on or "n" not in shown:
        return shown, False
    effects = pd.DataFrame(columns=["analysis_set", "outcome", "n"]) if effects is None else effects
    shown = shown.astype({c: object for c in ("n", "n_obs") if c in shown})
    withheld = False
    for index, row in frame.iterrows():
        key = disclosure.model_n_key(effects, row["analysis_set"], row["outcome"], row["n"])
        mark = None if pd.isna(row["n"]) else plan.marker(key, row["n"])
        if mark:
            shown.at[index, "n"] = mark
            if "n_obs" in shown:
                shown.at[index, "n_obs"] = disclosure.DASH_WITHHELD
            withheld = True
    return shown, withheld


def _effects(path: Path) -> pd.DataFrame | None:
    """effects.csv of a trial (None when absent): the primary analysis's models and effect
    measures, stated once at the top of its section."""
    from trialeval.io import read_csv

    return read_csv(path) if path.is_file() else None


def _estimands(path: Path) -> dict:
    """estimands.json's analyses when any states an estimand or a sensitivity analysis is
    configured; {} otherwise (the report then says nothing about estimands)."""
    if not path.is_file():
        return {}
    analyses = {k: v for k, v in json.loads(path.read_text()).items() if k != "definitions"}
    if len(analyses) <= 1 and not any(a["estimand"] for a in analyses.values()):
        return {}
    return analyses


def _estimand_section(
    analyses: dict, arms: dict[str, str], numbers=None, spec=None, plan=disclosure.OFF
) -> str:
    """Each analysis's estimand once, and per intercurrent event the participants with it and
    the observations its strategy set aside, per arm (intention-to-treat set). `numbers` yields
    the tables' numbers ("S2", ...); `spec` labels the outcomes."""
    from trialeval.estimands import ACTION_WORDS, estimand_lines
    from trialeval.tables import outcome_label, typographic

    parts = ["<h3>Estimands and intercurrent events</h3>"]
    head = "".join(f"<th>{html.escape(label)}</th>" for label in arms.values())
    for name, analysis in analyses.items():
        lines = estimand_lines(analysis["label"], analysis["estimand"]) or [
            f"Estimand, {analysis['label']}: no intercurrent events stated."
        ]
        if name != "primary":  # the primary's is stated at the top of the section
            parts.append(f"<p>{html.escape(' '.join(lines))}</p>")
        rows = []
        for event in analysis["intercurrent_events"]:
            what = f"{event['event']} ({event['strategy']}, column {event['column']})"
            column = event["column"]
            rows.append((f"{what}: participants with the event", event["participants"], column))
            for outcome, actions in event["observations"].items():
                for action, counts in actions.items():
                    label = typographic(outcome_label(spec, outcome)) if spec else outcome
                    rows.append((f"{label}: {ACTION_WORDS[action]}", counts, column, "seen"))
        if rows:
            body = "".join(
                f"<tr><td>{nowrap_html(row[0])}</td>"
                # through disclosure control's plan (`plan`; off by default): "<k", "≥k"
                + "".join(
                    f"<td>{nowrap_html(group_thousands(_intercurrent_cell(plan, row, a)))}</td>"
                    for a in arms
                )
                + "</tr>"
                for row in rows
            )
            number = next(numbers) if numbers is not None else None
            title = f"Intercurrent events, {analysis['label']}"
            caption = _caption_tag(f"Table {number}. {title}" if number else title)
            parts.append(
                _scroll(
                    f"<table>{caption}<thead><tr><th>{html.escape(analysis['label'])}</th>"
                    f"{head}</tr></thead><tbody>{body}</tbody></table>"
                )
            )
    parts.append(
        '<p class="note">After the event: visits strictly after the visit recorded in the '
        f"event's column. Counted over the {set_name('itt', spec)} (estimands.json).</p>"
    )
    if plan.on:
        parts += _intercurrent_notes(plan, parts)
    return "\n".join(parts)


def _intercurrent_notes(plan, parts: list[str]) -> list[str]:
    """Disclosure control's notes under the intercurrent-event tables, where they apply."""
    marks = (f"&lt;{plan.min_cell}", f"\u2265{plan.min_cell}")
    notes = [plan.note()] if any(m in part for part in parts for m in marks) else []
    if any(f"<td>{disclosure.DASH_WITHHELD}</td>" in part for part in parts):
        notes.append(
            f"{disclosure.DASH_WITHHELD}: observations after the event not shown where the "
            "arm's participants with the event are withheld (they would bound that count)."
        )
    return [f'<p class="note">{html.escape(n)}</p>' for n in notes]


def _intercurrent_cell(plan, row: tuple, arm: str) -> str:
    """One arm's cell of an intercurrent-event table row (text, counts, event column[,
    "seen"]): the participants with the event (a fact of disclosure control's plan) or the
    observations set aside after it (disclosure.observation_count)."""
    _, counts, column, *seen = row
    n = counts.get(arm, 0)
    if seen:
        return disclosure.observation_count(plan, column, arm, n)
    return plan.count(disclosure.intercurrent_key("participants", column, arm), n)


def _imputation_section(spec: dict) -> str:
    """The heading and reading guide of the multiple-imputation (tipping point) results; what
    a negative delta means is said per outcome, from the registry's higher_is_better."""
    named = [a for a in spec["analyses"].get("sensitivity") or [] if a.get("imputation")]
    scored = {o["id"] for o in spec["outcomes"] if o["kind"] == "score"}
    imputed = [o for a in named for o in a.get("outcomes", []) if o in scored]
    what = "; ".join(
        f"{a['label']}: m = {a['imputation']['m']}, seed {a['imputation']['seed']}, "
        f"delta {', '.join(f'{d:g}' for d in a['imputation']['delta'])}"
        for a in named
    )
    return (
        "<h3>Multiple imputation and tipping point</h3>"
        f'<p class="note">{html.escape(what)}. Missing scores are imputed under missing at '
        "random (MAR) by arm, each completed data set analysed with the analysis's mixed "
        "model and the results pooled by Rubin's rules (Barnard-Rubin df); the delta 0 row "
        "is the MAR result, also in effects.csv. Each delta shifts every imputed "
        "post-baseline value of the intervention arm(s): a negative delta assumes that the "
        "intervention-arm participants who were not observed scored lower than MAR predicts"
        f"{html.escape(negative_shift_words(spec, imputed))}. "
        "The tipping point is the smallest such shift in the grid at which the conclusion "
        "under MAR changes (P crosses alpha); a tipping point far outside plausible "
        "departures from MAR means the conclusion is robust to missing data.</p>"
    )


def shown_order(items: list[str]) -> list[str]:
    """Tables or figures in the order the section shows them: OWN_SECTION ones last. The table
    files number themselves by report_items (trialeval.tables._title), so the report does not
    renumber them; report_items lists the OWN_SECTION ones last, and the two orders agree."""
    return [i for i in items if i not in OWN_SECTION] + [i for i in items if i in OWN_SECTION]


def trial_section(spec: dict, trial_dir: Path) -> str:
    """One trial's section, from the files under results/<trial>/. Its tables keep the numbers
    their files print (Table 1, Table 2, ... as in the .docx) and come first, in that order;
    the figures follow, Figure 1, Figure 2, ... in the order shown; the tables only the report
    has (participant flow, intercurrent events, model diagnostics) close the section as
    Tables S1, S2, ..., so no S table comes before Table 1."""
    items = report_items(spec)
    estimands = _estimands(trial_dir / "estimands.json")
    figure_number = {f: k for k, f in enumerate(shown_order(items["figures"]), start=1)}
    parts = [
        f'<section id="{spec["id"]}"><h2>{html.escape(spec["title"])}</h2>',
        _design_summary(spec, _effects(trial_dir / "effects.csv")),
        "<h3>Tables</h3>",
    ]
    for table in items["tables"]:
        if table not in OWN_SECTION:
            parts.append(_scroll((trial_dir / "tables" / f"{table}.html").read_text()))
    if not has_reliability(spec):
        parts.append(f'<p class="note">{html.escape(NO_RELIABILITY)}</p>')
    parts.append("<h3>Figures</h3>")
    notes = json.loads((trial_dir / "figures" / "notes.json").read_text())

    def figure_html(figure: str) -> None:
        caption = f"Figure {figure_number[figure]}. {_caption(figure, estimands, spec)}"
        parts.append(_figure_html(trial_dir / "figures" / f"{figure}.png", caption))
        if notes.get(figure):
            said = " ".join(notes[figure])
            parts.append(f'<p class="note warn">Not drawn: {html.escape(said)}</p>')

    for figure in items["figures"]:
        if figure not in OWN_SECTION:
            figure_html(figure)
    if "tipping_point" in items["tables"]:
        parts.append(_imputation_section(spec))
        parts.append(_scroll((trial_dir / "tables" / "tipping_point.html").read_text()))
        figure_html("tipping_point")
    if spec.get("respondent_groups"):
        from trialeval.evaluation_report import evaluation_section

        first = len(figure_number) + 1
        parts.append(evaluation_section(spec, trial_dir, first, _scroll, _figure_html))
    parts += _supplementary_tables(items, trial_dir)
    parts += _report_only_tables(spec, trial_dir, estimands, len(items["supplementary_tables"]))
    parts.append("</section>")
    return "\n".join(parts)


def _supplementary_tables(items: dict, trial_dir: Path) -> list[str]:
    """The supplementary tables the pipeline writes (Table S1, further estimates: numbered
    by their files, as Tables 1, 2, ...)."""
    if not items["supplementary_tables"]:
        return []
    parts = ["<h3>Further estimates</h3>"]
    for table in items["supplementary_tables"]:
        parts.append(_scroll((trial_dir / "tables" / f"{table}.html").read_text()))
    return parts


def _report_only_tables(spec: dict, trial_dir: Path, estimands: dict, after: int = 0) -> list:
    """Tables S(after + 1), ...: participant flow, intercurrent events, model diagnostics,
    numbered after the `after` supplementary tables the pipeline writes."""
    consort = json.loads((trial_dir / "consort.json").read_text())
    # disclosure control (config `disclosure`): withheld counts as their markers
    plan = disclosure.trial_plan(spec, trial_dir)
    consort = disclosure.published_consort(consort, plan)
    extra = (f"S{k}" for k in itertools.count(after + 1))
    parts = [
        "<h3>Participant flow</h3>",
        _scroll(_consort_summary(consort, f"Table {next(extra)}. Participant flow", spec)),
    ]
    if consort.get("disclosure_note"):
        parts.append(f'<p class="note">{html.escape(consort["disclosure_note"])}</p>')
    if estimands:
        parts.append(_estimand_section(estimands, consort["arms"], extra, spec, plan))
    from trialeval.io import read_csv

    frame = read_csv(trial_dir / "tables" / "model_diagnostics.csv")
    if frame.empty:  # no mixed model fitted (pre/post, survey, cohort comparison): no section
        return parts
    parts.append("<h3>Model diagnostics</h3>")
    diagnostics = f"Table {next(extra)}. Model diagnostics (one row per fitted mixed model)"
    effects = _effects(trial_dir / "effects.csv")
    parts.append(_diagnostics(frame, diagnostics, spec, plan, effects))
    return parts


def build(specs: dict[str, dict], results_dir: str | Path, provenance: dict) -> str:
    results_dir = Path(results_dir)
    toc = "".join(
        f'<li><a href="#{tid}">{html.escape(spec["title"])}</a></li>' for tid, spec in specs.items()
    )
    sections = "\n".join(trial_section(spec, results_dir / tid) for tid, spec in specs.items())
    commit = provenance.get("git", {}).get("commit", "unknown")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trial evaluation report</title><style>{STYLE}</style></head>
<body><main>
<h1>Trial evaluation report</h1>
<p class="note">Produced by the trialeval pipeline (<code>snakemake --cores 4</code>) from the
raw exports and YAML configuration; code version {html.escape(str(commit))}. Every number below
is read from results/&lt;trial&gt;/effects.csv, consort.json and the tables; input checksums,
package versions and the time of the run are in results/provenance.json.</p>
<nav><ul>{toc}</ul></nav>
{sections}
</main></body></html>
"""


def run(specs: dict[str, dict], results_dir: str, provenance_path: str, out: str) -> None:
    """Rule entry: write results/report.html."""
    from trialeval.io import atomic_path

    provenance = json.loads(Path(provenance_path).read_text())
    page = build(specs, results_dir, provenance)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
