"""The participant flow of a cohort comparison (design `cohort_comparison`): a survey's flow
per cohort, not a trial's.

Each cohort is a different set of people surveyed once, so there is no allocation and no
follow-up: per cohort, surveyed (every member of the cohort in the participants file) ->
responded (with the response rate; those who did not respond or withdrew consent apart) ->
analysed (per primary outcome, the respondents its adjusted model used: model_n.csv's
participants per cohort of the fit, trialeval.model_n.primary_fit; "no data" the other
respondents, without it scored or missing a covariate the model adjusts for). The counts are
consort.json's (surveyed = allocated, responded = assessed at the survey) and model_n.csv's
(analysed), so they reconcile with Table 1 (the respondents) and with the adjusted estimates'
n; Table 2's N per cohort (tables/cohort_summary.csv, every respondent with the outcome
scored) is that n and those missing a covariate. Every count goes through the disclosure
plan (disclosure.model_n_facts registers the analysed and no-data counts).
"""

from __future__ import annotations

import pandas as pd

from trialeval import disclosure
from trialeval.formatting import rounded


def analysed_counts(spec: dict, model_n: pd.DataFrame, analysis_set: str, plan) -> dict:
    """{primary outcome: {cohort: n or its disclosure marker}}: the respondents each primary
    outcome's adjusted model used (model_n.csv, `primary_outcomes`)."""
    from trialeval.model_n import model_used

    cohorts = [a["id"] for a in spec["arms"]]
    counts: dict[str, dict] = {}
    for outcome in primary_outcomes(spec):
        used = model_used(model_n, spec, analysis_set, outcome, cohorts)
        counts[outcome] = {
            cohort: plan.marker(disclosure.model_key(analysis_set, outcome, cohort), n) or n
            for cohort, n in used.items()
        }
    return counts


def primary_set(spec: dict) -> str:
    """The analysis set the flow is drawn for: the first configured."""
    return (spec["analyses"].get("analysis_sets") or ["itt"])[0]


def primary_outcomes(spec: dict) -> list[str]:
    """The primary outcomes the cohort comparison fits (scores and categories)."""
    from trialeval.cohort import analysed_outcomes

    fitted = set(analysed_outcomes(spec))
    return [o["id"] for o in spec["outcomes"] if o["role"] == "primary" and o["id"] in fitted]


def _no_data(responded, n, plan, key: str) -> str:
    """ " (no data: k)": respondents not in the model (`key`: its model n's fact), when
    both counts print and the plan prints the difference (it withholds one of the three
    where that is small)."""
    if isinstance(responded, str) or isinstance(n, str):
        return ""
    rest = responded - n
    if plan.marker(disclosure.no_data_key(key), rest):
        return ""
    return f" (no data: {rest:,})"


def _rate(surveyed, responded) -> str:
    if isinstance(surveyed, str) or isinstance(responded, str) or not surveyed:
        return "\u2013"
    return f"{rounded(100 * responded / surveyed, 1)}%"


def cohort_boxes(spec: dict, consort: dict, analysed: dict, plan, width: float) -> list[list]:
    """Per cohort the three boxes' lines: surveyed, responded, analysed."""
    from trialeval.figures import _n, pretty

    tp = next(iter(consort["timepoints"]))
    labels = {o["id"]: pretty(o["label"]) for o in spec["outcomes"]}
    columns = []
    for cohort in consort["allocated"]:
        surveyed = consort["allocated"][cohort]
        responded = consort["assessed"][tp][cohort]
        head = [
            (consort["arms"].get(cohort, cohort), "bold", 0),
            (f"Surveyed: {_n(surveyed)}", "normal", 0),
        ]
        response = [
            ("Responded", "bold", 0),
            (_n(responded), "normal", 0),
            (f"Response rate: {_rate(surveyed, responded)}", "normal", 0),
            # beside the respondents, not under a "Not analysed" heading: a box titled
            # Responded that lists the non-respondents under it read as if they responded
            (f"Did not respond: {_n(consort['not_assessed'][tp][cohort])}", "normal", 0),
            (f"Withdrew consent: {_n(consort['withdrawn'][cohort])}", "normal", 0),
        ]
        lines = [("Analysed", "bold", 0)]
        for outcome, by_cohort in analysed.items():
            n = by_cohort.get(cohort, 0)
            key = disclosure.model_key(primary_set(spec), outcome, cohort)
            lines.append((labels.get(outcome, outcome), "normal", 0))
            lines.append((f"{_n(n)}{_no_data(responded, n, plan, key)}", "normal", 1))
        if not analysed:
            lines.append(("no primary outcome summarised", "normal", 0))
        columns.append([head, response, lines])
    return columns


def footnote(spec: dict, consort: dict, analysed: dict | None = None, plan=disclosure.OFF) -> str:
    """What the flow's counts are; the disclosure note where a count of it is withheld
    (consort's, or an analysed count: a marker in `analysed`)."""
    from trialeval.labels import primary_set_definition
    from trialeval.tables import table_name

    text = (
        f"Surveyed: {primary_set_definition(spec)}. Response rate: respondents of those "
        "surveyed. Analysed, per primary outcome: the respondents in its adjusted model, "
        "with it scored and every covariate answered (each cohort's N in "
        f"{table_name(spec, 'cohort_table')} and its unadjusted estimates count every "
        "respondent with it scored); no data: the other respondents (too few items answered "
        "to score, or a covariate not answered). "
        f"{table_name(spec, 'table1')} describes the respondents."
    )
    withheld = any(isinstance(n, str) for by in (analysed or {}).values() for n in by.values())
    if consort.get("disclosure_note") or (withheld and plan.on):
        text += f" {consort.get('disclosure_note') or plan.note()}"
    return text


def plot_flow(spec: dict, consort: dict, analysed: dict, plan=disclosure.OFF):
    """The flow diagram: one column per cohort in time order, three stages, the footnote."""
    from trialeval import figures as f

    width, margin, gap = f.DOUBLE_COLUMN, 0.08, 0.18
    cohorts = list(consort["allocated"])
    x_start = margin + f.STAGE_W
    col_w = (width - x_start - margin - gap * (len(cohorts) - 1)) / len(cohorts)
    columns = cohort_boxes(spec, consort, analysed, plan, col_w)
    rows = [[f._box(c[i], col_w, "center" if i < 2 else "left") for c in columns] for i in range(3)]
    y = margin
    for row in rows:  # each stage's boxes share one height
        height = max(b.height for b in row)
        for i, box in enumerate(row):
            box.x0, box.top, box.height = x_start + i * (col_w + gap), y, height
        y += height + f.ROW_GAP
    note = f.wrap(footnote(spec, consort, analysed, plan), width - 2 * margin, f.SMALL_FONT)
    fig_h = y - f.ROW_GAP + 0.12 + len(note) * f.SMALL_FONT * 1.3 / 72 + margin
    fig = f.plt.figure(figsize=(width, fig_h))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, fig_h)
    ax.axis("off")
    for stage, row in zip(["Cohort", "Response", "Analysis"], rows, strict=True):
        f._stage(ax, stage, row[0].top, row[0].bottom, fig_h, margin)
        for box in row:
            f._draw_box(ax, box, fig_h)
    for upper, lower in zip(rows[:-1], rows[1:], strict=True):
        for a, b in zip(upper, lower, strict=True):
            f._arrow(ax, (a.centre, a.bottom), (b.centre, b.top), fig_h)
    f._consort_note(ax, note, margin, fig_h - (rows[-1][0].bottom + 0.12))
    return fig


def plot(spec: dict, consort_path: str, inputs: dict[str, str]):
    """The figure for trialeval.figures.run: consort.json as published, the analysed counts
    from model_n.csv, both through the disclosure plan."""
    import json
    from pathlib import Path

    from trialeval.figures import STYLE
    from trialeval.io import read_csv

    plan = disclosure.load(inputs.get("disclosure"))
    consort = json.loads(Path(consort_path).read_text())
    model_n = read_csv(inputs["model_n"], dtype={"arm": str})
    analysed = analysed_counts(spec, model_n, primary_set(spec), plan)
    consort = disclosure.published_consort(consort, plan)
    import matplotlib

    with matplotlib.rc_context(STYLE):
        return plot_flow(spec, consort, analysed, plan)
