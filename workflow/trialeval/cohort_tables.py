"""The cohort comparison's table (cohort_table) and figure (cohort_prevalence), drawn from
effects.csv and tables/cohort_summary.csv (trialeval.cohort); nothing is re-estimated.

Table: per outcome (primary first) and analysis set, one row of per-cohort summaries (binary
outcomes: n/N (%) with the Wilson 95% CI; scores: median (IQR)), then one indented row per
estimate: risk difference and risk ratio (unadjusted), adjusted odds ratio, trend across
cohorts; for scores the adjusted mean difference and the linear trend.

Figure: the prevalence of each binary outcome per cohort with its Wilson 95% CI, cohorts in
time order, the reference cohort first-named in the legend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialeval import disclosure
from trialeval.formatting import DASH, format_p
from trialeval.labels import ci_level, method_text
from trialeval.method_prose import journal_method

KIND_TABLE = "cohort_table"
KIND_FIGURE = "cohort_prevalence"
ROW_LABELS = {
    "risk_difference": "Risk difference, percentage points (unadjusted)",
    "risk_ratio": "Risk ratio (unadjusted)",
    "adjusted_odds_ratio": "Odds ratio (adjusted)",
    "prevalence_trend": "Trend across cohorts, percentage points per cohort (unadjusted)",
    "adjusted_mean_difference": "Mean difference (adjusted)",
    "linear_trend": "Linear trend, change in mean per cohort (adjusted)",
}
UNADJUSTED_LABELS = {
    "adjusted_odds_ratio": "Odds ratio (no covariates)",
    "adjusted_mean_difference": "Mean difference (no covariates)",
    "linear_trend": "Linear trend, change in mean per cohort (no covariates)",
}
# risk differences and the trend slope are proportions in effects.csv: the table (its CSV too)
# holds and prints them in percentage points (tables.in_percentage_points)
ESTIMAND_ORDER = list(ROW_LABELS)


def _labels(spec: dict) -> dict[str, str]:
    return {a["id"]: a["label"] for a in spec["arms"]}


def _summary_cell(spec: dict, outcome: dict, row: pd.Series, plan=disclosure.OFF) -> str:
    """A cohort's n/N (%; CI) or median (IQR), n; through disclosure control's `plan` a
    withheld count prints as its marker, without the percentage and CI (they give it back)."""
    from trialeval.tables import estimate_decimals, format_number

    if row["n"] == 0:
        return DASH
    events, n = disclosure.cohort_marks(plan, row)
    if outcome["kind"] == "category" and (events or n):
        return f"{events or int(row['events'])}/{n or int(row['n'])}"
    if outcome["kind"] == "category":
        percent = format_number(100 * row["proportion"], 1)
        low, high = (format_number(100 * row[k], 1) for k in ("ci_low", "ci_high"))
        return f"{int(row['events'])}/{int(row['n'])} ({percent}; {low} to {high})"
    decimals = estimate_decimals(spec, outcome["id"])
    # the mean (SD), the summary the (adjusted) mean difference beside it compares
    mean, sd = (format_number(row[k], decimals) for k in ("mean", "sd"))
    return f"{mean} ({sd}), {disclosure.n_text(n, row['n'])}"


def _estimate_cell(spec: dict, row: pd.Series, notes) -> str:
    """The estimate (CI); `row` in percentage points where it is a risk difference or the
    trend (`tables.in_percentage_points`)."""
    from trialeval.tables import RATIO_ESTIMANDS, estimate_decimals, format_ci

    ratio = "adjusted_odds_ratio" if row["estimand"] in RATIO_ESTIMANDS else None
    decimals = estimate_decimals(spec, row["outcome"], ratio or row["estimand"])
    text = format_ci(row["estimate"], row["ci_low"], row["ci_high"], decimals)
    return text + notes.mark(row["note"])


def _row_label(spec: dict, row: pd.Series, several: bool) -> str:
    unadjusted = "no covariates" in str(row["method"]) or "unadjusted (no" in str(row["method"])
    labels = UNADJUSTED_LABELS if unadjusted else {}
    label = labels.get(row["estimand"], ROW_LABELS.get(row["estimand"], row["estimand"]))
    if several and " - " in str(row["contrast"]):
        first, second = str(row["contrast"]).split(" - ")
        names = _labels(spec)
        label += f", {names.get(first, first)} vs {names.get(second, second)}"
    return label


def _summary_line(spec: dict, outcome: dict, rows: pd.DataFrame, plan) -> tuple[dict, list]:
    """An outcome's row in one analysis set, what it summarises in its label (the CI at the
    run's level), each cohort's summary in its column; and their `full` records, masked."""
    from trialeval.tables import outcome_label, typographic

    names = _labels(spec)
    what = f"n/N (%; {ci_level(spec)} CI)" if outcome["kind"] == "category" else "mean (SD)"
    line = {"Outcome": typographic(f"{outcome_label(spec, outcome['id'])}, {what}")}
    records = []
    for _, row in rows.iterrows():
        line[names.get(row["cohort"], row["cohort"])] = _summary_cell(spec, outcome, row, plan)
        record = {"kind": "summary", **row.to_dict()}
        record["cohort_label"] = names.get(row["cohort"], row["cohort"])
        records.append(_masked(record, plan))
    return line, records


def _effect_rows(spec: dict, effects: pd.DataFrame, several: bool, notes) -> tuple[list, list]:
    """(printed rows, `full` records) of one outcome's estimates in one analysis set, in
    ESTIMAND_ORDER: an indented row each, the estimate with its CI at the run's level."""
    from trialeval.tables import INDENT, adjusted_p, typographic

    effects = effects.assign(
        _rank=effects["estimand"].map({e: i for i, e in enumerate(ESTIMAND_ORDER)})
    )
    printed, records = [], []
    for _, row in effects.sort_values("_rank", kind="stable").iterrows():
        label = _row_label(spec, row, several)
        printed.append(
            {
                "Outcome": INDENT + typographic(label),
                f"Estimate ({ci_level(spec)} CI)": _estimate_cell(spec, row, notes),
                "P": format_p(row["p_value"]),
                "Adjusted P": adjusted_p(spec, row),
            }
        )
        records.append({"kind": "effect", **row.drop(labels="_rank").to_dict(), "label": label})
    return printed, records


def cohort_table(
    spec: dict, effects: pd.DataFrame, summary: pd.DataFrame, plan=disclosure.OFF
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(full, formatted): `full` is the effects rows and summary rows with their printed
    labels; `formatted` one printed row per outcome and per estimate. `plan`: disclosure
    control (withheld counts, and their percentages and CIs, are emptied in `full` too, the
    marker in its `disclosure` column)."""
    from trialeval.tables import HEADING, SUBHEADING, Notes, _set_label, in_percentage_points

    names = _labels(spec)
    cohorts = list(names)
    eff = in_percentage_points(effects[effects["analysis"] == "cohort_comparison"])
    adjusted = bool((eff["role"] == "secondary").any())
    several_sets = summary["analysis_set"].nunique() > 1
    several_contrasts = len(cohorts) > 2
    notes = Notes()
    printed, records, headings = [], [], {}
    outcomes = sorted(spec["outcomes"], key=lambda o: o["role"] != "primary")
    for analysis_set in spec["analyses"]["analysis_sets"]:
        shown = [
            o
            for o in outcomes
            if ((summary["outcome"] == o["id"]) & (summary["analysis_set"] == analysis_set)).any()
        ]
        if several_sets and shown:
            headings[len(printed)] = HEADING
            printed.append({"Outcome": f"{_set_label(analysis_set, spec)} set"})
        role = None
        for outcome in shown:
            rows = summary[
                (summary["outcome"] == outcome["id"]) & (summary["analysis_set"] == analysis_set)
            ]
            if outcome["role"] != role:  # the Primary / Secondary sub-headings of Table 2
                role = outcome["role"]
                count = sum(o["role"] == role for o in shown)
                headings[len(printed)] = SUBHEADING
                printed.append({"Outcome": f"{str(role).capitalize()} outcome" + "s" * (count > 1)})
            line, summaries = _summary_line(spec, outcome, rows, plan)
            printed.append(line)
            records += summaries
            withheld = plan.on and any(
                plan.hides(disclosure.cohort_key(r, "n"), r["n"])
                or plan.hides(disclosure.consort_key("analysed", analysis_set, r["cohort"]))
                for r in rows.to_dict("records")
            )
            mine = eff[(eff["outcome"] == outcome["id"]) & (eff["analysis_set"] == analysis_set)]
            effect_lines, effect_records = _effect_rows(spec, mine, several_contrasts, notes)
            printed += effect_lines
            records += [_masked_effect(r, withheld, plan) for r in effect_records]
    columns = ["Outcome", *[names[c] for c in cohorts], f"Estimate ({ci_level(spec)} CI)", "P"]
    columns += ["Adjusted P"] if adjusted else []
    formatted = pd.DataFrame(printed, columns=columns).fillna("")
    formatted.attrs["footnotes"] = notes.lines()
    formatted.attrs["headings"] = headings
    full = pd.DataFrame(records)
    if plan.on and "disclosure" in full and (full["disclosure"].fillna("") != "").any():
        formatted.attrs["footnotes"].append(plan.note())
    return full, formatted


def _masked(record: dict, plan) -> dict:
    """A summary record of `full` as shared: withheld counts (and, for a binary outcome,
    the proportion and its CI) emptied, the marker in `disclosure`."""
    if not plan.on:
        return record
    events, n = disclosure.cohort_marks(plan, record)
    record["disclosure"] = events or n or ""
    if events or n:
        gone = ["events", "proportion", "ci_low", "ci_high"] if "events" in record else []
        for column in [*(["events"] if events else []), *(["n"] if n else []), *gone[1:]]:
            record[column] = float("nan")
    return record


def _masked_effect(record: dict, withheld: bool, plan) -> dict:
    """An effect record of `full` as shared: where a cohort's N of the outcome (or its set's
    count) is withheld, the effect's n, observations and set size are emptied too (the
    cohorts' N summed, or the adjusted model's n beside them, would bound it)."""
    if withheld:
        record.update(n=float("nan"), n_obs=float("nan"), n_analysis_set=float("nan"))
        record["disclosure"] = "n withheld"
    return record


def _methods(spec: dict, effects: pd.DataFrame) -> list[str]:
    """Each model or test (effects.method) once, outcome ids generalised, cohort ids printed
    as their labels."""
    import re

    names = _labels(spec)
    cohort_ids = re.compile(r"\b(" + "|".join(re.escape(c) for c in names) + r")\b")
    seen: dict[str, None] = {}
    for _, row in effects.iterrows():
        text = re.sub(rf"\b{re.escape(str(row['outcome']))}\b", "the outcome", str(row["method"]))
        text = cohort_ids.sub(lambda m: names[m.group(1)], text)
        text = re.sub(r"chi-square [0-9.e+-]+ on 1 df; ", "", text)
        text = method_text(spec, text)  # covariate references by label, "(reference: Man)"
        text = journal_method(text)  # a methods sentence: no formulas or software
        seen.setdefault(text[:1].upper() + text[1:] + ".")
    return list(seen)


def _primary_measures_words(spec: dict, effects: pd.DataFrame) -> str:
    """Which effect measure is primary: the regression on cohort, since the cohorts were not
    randomized (a decision, as the pre/post ANCOVA is: README); the unadjusted risk
    difference and risk ratio describe. Adjusted only with analyses.cohort.covariates."""
    adjusted = bool(((spec.get("analyses") or {}).get("cohort") or {}).get("covariates"))
    binary = (effects["estimand"] == "adjusted_odds_ratio").any()
    score = (effects["estimand"] == "adjusted_mean_difference").any()
    how = (
        "adjusted for the covariates, in which the cohorts may differ"
        if adjusted
        else ("without covariates (none configured)")
    )
    measures = [
        *(["for binary outcomes the odds ratio of the logistic regression"] if binary else []),
        *(["for scores the mean difference of the linear regression"] if score else []),
    ]
    if not measures:
        return ""
    described = " The unadjusted risk difference and risk ratio are descriptive." if binary else ""
    return f"Primary effect measure: {' and '.join(measures)}, {how}.{described}"


def build_table(spec: dict, inputs: dict[str, str]):
    """(full, formatted, title, footnote) of the cohort table, for trialeval.tables.build."""
    from trialeval.io import read_csv
    from trialeval.tables import (
        _read_effects,
        _sets_line,
        _title,
        category_definitions,
        multiplicity_rule,
        primary_multiplicity,
    )

    effects = _read_effects(inputs["effects"])
    effects = effects[effects["analysis"] == "cohort_comparison"]
    summary = read_csv(inputs["cohort_summary"], dtype={"cohort": str})
    plan = disclosure.load(inputs.get("disclosure"))
    # no estimate from withheld counts, no small count in a note (disclosure control)
    effects = disclosure.shared_effects(effects, plan)
    full, formatted = cohort_table(spec, effects, summary, plan)
    reference = _labels(spec)[spec["control_arm"]]
    title = _title(spec, KIND_TABLE, f"Outcomes by cohort, compared with {reference}")
    lines = [_sets_line(spec, list(dict.fromkeys(effects["analysis_set"])))]
    # the set holds the non-respondents too: say whom each cohort's N counts
    lines.append(
        "Each cohort's N: its respondents with the outcome scored; the adjusted models use "
        "those of them with every covariate answered."
    )
    lines.append(
        f"Binary outcomes: n/N (%; Wilson {ci_level(spec)} CI without continuity correction) "
        "per cohort; "
        "scores: mean (SD) per cohort, unadjusted. Differences are the later-named "
        f"cohort minus {reference}, ratios the later-named over {reference}."
    )
    lines += [" ".join([*_methods(spec, effects), _primary_measures_words(spec, effects)])]
    lines.append(category_definitions(spec, effects["outcome"]))
    lines.append(primary_multiplicity(spec, effects))
    if "Adjusted P" in formatted.columns:
        lines.append(multiplicity_rule(effects, spec))
    else:
        lines.append("P values are not adjusted for multiplicity.")
    lines += formatted.attrs.get("footnotes", [])
    return full, formatted, title, "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------


def plot_prevalence(spec: dict, summary: pd.DataFrame, analysis_set: str = "itt"):
    """The figure under the house style (trialeval.figures.STYLE); see _draw_prevalence."""
    import matplotlib

    from trialeval import figures

    with matplotlib.rc_context(figures.STYLE):
        return _draw_prevalence(spec, summary, analysis_set)


def _draw_prevalence(spec: dict, summary: pd.DataFrame, analysis_set: str):
    """Prevalence (%) of each binary outcome per cohort with its Wilson 95% CI: one row per
    outcome, cohorts side by side in time order, one colour and marker per cohort."""
    from trialeval import figures

    names = _labels(spec)
    binary = [o for o in spec["outcomes"] if o["kind"] == "category"]
    binary.sort(key=lambda o: o["role"] != "primary")
    rows = summary[summary["analysis_set"] == analysis_set] if len(summary) else summary
    if not binary or rows.empty:
        return figures.plot_message(
            "Prevalence by cohort: nothing to draw", ["No binary outcome was summarised."]
        )
    cohorts = list(names)
    height = 0.9 + 0.45 * len(binary) * max(1, len(cohorts) / 2)
    # the project's figure width (the other designs' figures are double-column)
    fig, ax = figures.plt.subplots(figsize=(figures.DOUBLE_COLUMN, height))
    step = 0.7 / max(1, len(cohorts))
    for i, cohort in enumerate(cohorts):
        colour = figures.OKABE_ITO[i % len(figures.OKABE_ITO)]
        marker = figures.MARKERS[i % len(figures.MARKERS)]
        ys, xs, lows, highs, ns = [], [], [], [], []
        for j, outcome in enumerate(binary):
            row = rows[(rows["outcome"] == outcome["id"]) & (rows["cohort"] == cohort)]
            if row.empty or row["n"].iloc[0] == 0:
                continue
            ys.append(j + (i - (len(cohorts) - 1) / 2) * step)
            xs.append(100 * row["proportion"].iloc[0])
            lows.append(100 * row["ci_low"].iloc[0])
            highs.append(100 * row["ci_high"].iloc[0])
            ns.append(int(row["n"].iloc[0]))
        xs_, err = np.array(xs), np.array([np.subtract(xs, lows), np.subtract(highs, xs)])
        ax.errorbar(
            xs_,
            ys,
            xerr=err if len(xs) else None,
            fmt=marker,
            color=colour,
            capsize=2,
            markersize=4.5,
            linewidth=1,
            label=_legend_label(names[cohort], ns),
        )
        if len(set(ns)) > 1:  # the n differs between outcomes: beside each point
            for x, y, n in zip(highs, ys, ns, strict=True):
                ax.annotate(
                    f"n\u00a0=\u00a0{n:,}",
                    (x, y),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=figures.SMALL_FONT,
                    color=colour,
                )
    ax.set_yticks(range(len(binary)))
    ax.set_yticklabels([figures.pretty(o["label"]) for o in binary])
    ax.invert_yaxis()
    ax.set_xlim(0, None)
    ax.set_xlabel(f"Prevalence, % (Wilson {ci_level(spec)} CI)")
    ax.legend(
        frameon=False,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=min(len(cohorts), 4),
        fontsize=figures.SMALL_FONT,
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def _legend_label(name: str, ns: list[int]) -> str:
    """A cohort's legend entry with its n (respondents with the outcome scored), when the
    same for every outcome drawn; else the n stands beside each point."""
    return f"{name}, n\u00a0=\u00a0{ns[0]:,}" if len(set(ns)) == 1 else name


def plot(spec: dict, inputs: dict[str, str]):
    """(figure, notes) for trialeval.figures.run."""
    from trialeval.io import read_csv

    summary = read_csv(inputs["cohort_summary"], dtype={"cohort": str})
    notes = []
    if not any(o["kind"] == "category" for o in spec["outcomes"]):
        notes = ["The trial has no binary outcome: no prevalence to draw."]
    summary, withheld = withhold_prevalence(summary, disclosure.load(inputs.get("disclosure")))
    if withheld:
        notes.append(withheld)
    return plot_prevalence(spec, summary), notes


def withhold_prevalence(summary: pd.DataFrame, plan) -> tuple[pd.DataFrame, str | None]:
    """The figure's summary without the cohorts whose events or N disclosure control
    withholds (marked n = 0: not drawn; a prevalence with its CI gives both back), and the
    note saying so (None when none is)."""
    if not plan.on or summary.empty:
        return summary, None
    gone = [any(disclosure.cohort_marks(plan, r)) for r in summary.to_dict("records")]
    if not any(gone):
        return summary, None
    summary = summary.assign(n=summary["n"].where(~pd.Series(gone, index=summary.index), 0))
    return summary, (
        "Prevalences whose count is withheld by disclosure control (counts below "
        f"{plan.min_cell}, and those withheld with them) are not drawn."
    )
