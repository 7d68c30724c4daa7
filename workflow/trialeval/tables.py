"""Manuscript tables, drawn from the pipeline's outputs (never recomputed on the side).

Each builder returns `(full, formatted)`: `full` is a tidy frame at full precision (the CSV),
`formatted` a frame of strings as a journal prints them (Markdown, HTML, Word). Table 1 is
the one table computed here, from the scored data, participants and analysis-set flags.
`formatted.attrs["headings"]` ({row: HEADING or SUBHEADING}) marks block heading rows, which
the writers print spanning the table, bold or italic; `formatted.attrs["footnotes"]` holds the
notes its markers point to.

Printing rules (one helper each):

- P values (`format_p`), AMA style: "<.001" below .001; 3 decimals below .01 (".002"); else 2
  decimals (".04"), no leading zero. Two exceptions: when 2 decimals would print ".05", 3 are
  printed (".048", ".052"), so the side of .05 is never hidden by rounding; above .99, ">.99"
  (never "1.00", which would claim certainty). Adjusted P values follow the same rules.
- One decimals rule (`estimate_decimals`), from the outcome's scale: one decimal more than the
  scale's resolution, for estimates, CIs, adjusted means, means, SDs and medians alike: 1 for
  a score in whole points (MBI and CIPS sums, a single 1-4 item), 2 for a finer one (the mean
  of the SCS-SF's 12 items); 2 for ratios; 1 for
  percentages, risk differences (in percentage points) and numeric covariates.
- Risk differences print in percentage points (`in_percentage_points`; the row label says so),
  1 decimal: 0.0833 (CI -0.05 to 0.21) prints "8.3 (−5.0 to 21.0)". The table's CSV holds them
  in percentage points too; effects.csv keeps proportions.
- Rounding is half up (`formatting.rounded`): 0.125 prints 0.13, -0.125 −0.13, as R's printed
  tables and a reader rounding by hand do (Python's format() would print 0.12).
- Negative numbers carry a true minus sign (U+2212) in the printed tables; the CSV holds plain
  numbers. A missing number prints as an em dash; when the effects row says why (`note`), a
  superscript letter points to the note in the footnote.
- Intervals print as "a to b" (a hyphen would be ambiguous next to negative numbers).
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from trialeval import disclosure
from trialeval.config import (
    RANDOMIZED,
    has_effects_supplement,
    primary_effect,
    with_export_labels,
)
from trialeval.delivery import cluster_sizes, size_text, unit_columns
from trialeval.effects import PREPOST_SUMMARY_COLUMNS, primary_adjusted, primary_rule
from trialeval.formatting import (
    DASH,
    MINUS,
    format_p,
    group_thousands,
    is_missing,
    nowrap_html,
    rounded,
)
from trialeval.io import atomic_path, read_csv, write_csv
from trialeval.labels import (
    SET_LABELS,
    analysis_set_label,
    ci_level,
    clean_registry_label,
    covariate_term,
    level_label,
    level_order,
    method_text,
    per_protocol_not_shown,
    primary_set_definition,
    primary_set_words,
    score_decimals,
    set_name,
    shown_sets,
)
from trialeval.method_prose import journal_method

EN_DASH = "\u2013"  # number ranges: "0–54"
INDENT = "\u00a0" * 4  # level rows under a variable; non-breaking, so Markdown keeps it
# Superscript letters for footnote markers (Unicode has no superscript q).
MARKERS = "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ"

ESTIMAND_LABELS = {
    "diff_in_change": "Difference in change from baseline",
    "diff_in_means": "Difference in means",
    "adjusted_diff": "Adjusted mean difference",
    "adjusted_mean_difference": "Adjusted mean difference",
    "hodges_lehmann_shift": "Hodges-Lehmann shift",
    "risk_ratio": "Risk ratio (unadjusted)",
    "risk_difference": "Risk difference (unadjusted)",
    "adjusted_odds_ratio": "Odds ratio (adjusted)",
    "odds_ratio": "Odds ratio",
}
RATIO_ESTIMANDS = {"risk_ratio", "odds_ratio", "adjusted_odds_ratio"}
# effects.csv holds risk differences (and the cohorts' trend in prevalence) as proportions;
# every shared table, its CSV included, holds and prints them in percentage points
PERCENT_POINT_ESTIMANDS = frozenset({"risk_difference", "prevalence_trend"})
PERCENT_POINT_COLUMNS = ("estimate", "se", "ci_low", "ci_high")
# the printed row label says the unit (ESTIMAND_LABELS stays the measure's name in prose)
ROW_LABELS = {"risk_difference": "Risk difference, percentage points (unadjusted)"}
MULTIPLICITY_TEXT = {
    "holm": "Holm's method",
    "fdr_bh": "the Benjamini-Hochberg false discovery rate",
}
KINDS = (
    "table1",
    "effects_table",
    "prepost_table",
    "association_table",
    "cohort_table",
    "effects_supplement",
    "reliability_table",
    "missingness_table",
    "tipping_point",
)
# python-docx stamps the time of writing; a fixed one keeps the .docx byte-identical.
FIXED_TIME = datetime(2000, 1, 1, 0, 0, 0, tzinfo=UTC)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# --------------------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------------------


def format_number(x, decimals: int) -> str:
    """`x` to `decimals` places, halves rounded up (`formatting.rounded`: 0.125 -> "0.13"),
    with a true minus sign; NaN as an em dash; never "−0.0"."""
    if is_missing(x):
        return DASH
    x = float(x)
    if np.isinf(x):
        return "∞" if x > 0 else f"{MINUS}∞"
    return rounded(x, decimals).replace("-", MINUS)  # halves up; -0.04 to 1 decimal is 0.0


def in_percentage_points(rows: pd.DataFrame) -> pd.DataFrame:
    """Effects rows with the risk differences' estimate, SE and CI times 100 (percentage
    points), as the shared tables print and hold them; other rows as they are."""
    out = rows.copy()
    scaled = out["estimand"].isin(PERCENT_POINT_ESTIMANDS)
    for column in [c for c in PERCENT_POINT_COLUMNS if c in out]:
        values = pd.to_numeric(out[column]).astype(float)
        out[column] = values.where(~scaled, values.map(_times_100))
    return out


def _times_100(x: float) -> float:
    """100 x with the decimal point moved (-0.2825 -> -28.25, where the float product is
    -28.249999999999996 and would print −28.2)."""
    return x if not np.isfinite(x) else float(Decimal(repr(float(x))).scaleb(2))


def format_ci(estimate, low, high, decimals: int) -> str:
    """Estimate and CI as "x (a to b)", all three to the same decimals; NaN as a dash."""
    if is_missing(estimate):
        return DASH
    if is_missing(low) or is_missing(high):
        return format_number(estimate, decimals)
    parts = (format_number(v, decimals) for v in (estimate, low, high))
    return "{} ({} to {})".format(*parts)


def format_iqr(median, q1, q3, decimals: int) -> str:
    """Median and interquartile range as "m [q1, q3]": brackets and a comma, so it never reads
    as a CI ("x (a to b)")."""
    q = [format_number(v, decimals) for v in (median, q1, q3)]
    return f"{q[0]} [{q[1]}, {q[2]}]"


def format_count_percent(count, total, decimals: int = 1) -> str:
    """Count and percent of `total` as "n (%)"; a dash when there is no denominator."""
    if is_missing(count):
        return DASH
    if is_missing(total) or total == 0:
        return f"{int(count)} ({DASH})"
    return f"{int(count)} ({format_number(100 * count / total, decimals)})"


def estimate_decimals(spec: dict, outcome_id: str, estimand: str | None = None) -> int:
    """Decimals for an outcome's numbers (estimates, CIs, means, SDs, medians alike), one more
    than the resolution of its scale: 1 for a scale scored in whole points (a sum of
    whole-number items, a single whole-number item), 2 for a finer one (a mean of several
    items, items not in whole numbers); 2 for ratios and for an outcome that is not a score
    (a proportion); 1 for a risk difference, printed in percentage points. Percentages print
    with 1 (`format_count_percent`)."""
    if estimand in RATIO_ESTIMANDS:
        return 2
    if estimand in PERCENT_POINT_ESTIMANDS:
        return 1
    outcome = _outcome(spec, outcome_id)
    if outcome is None or outcome["kind"] != "score":
        return 2
    return score_decimals(spec["instruments"][outcome["instrument"]], outcome["name"])


def typographic(text: str) -> str:
    """Printed labels: ">=" as "≥", "<=" as "≤"."""
    return text.replace(">=", "≥").replace("<=", "≤")


class Notes:
    """Footnote markers: each distinct note gets the next superscript letter."""

    def __init__(self):
        self.texts: list[str] = []

    def mark(self, note) -> str:
        if is_missing(note) or not str(note).strip():
            return ""
        note = str(note).strip()
        if note not in self.texts:
            self.texts.append(note)
        return MARKERS[self.texts.index(note) % len(MARKERS)]

    def lines(self) -> list[str]:
        return [f"{MARKERS[i % len(MARKERS)]} {_sentence(t)}" for i, t in enumerate(self.texts)]


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _lower_first(text: str) -> str:
    """Lower-case the first letter ("Start of rotation" -> "start of rotation"), not acronyms."""
    if len(text) > 1 and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _display_level(level) -> str:
    text = str(level)
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------
# Standardized mean differences
# --------------------------------------------------------------------------------------


def smd_numeric(x1, x0) -> float:
    """(m1 - m0) / sqrt((s1^2 + s0^2) / 2), SDs with ddof = 1, missing values dropped."""
    x1 = pd.Series(x1, dtype=float).dropna().to_numpy()
    x0 = pd.Series(x0, dtype=float).dropna().to_numpy()
    if len(x1) < 2 or len(x0) < 2:
        return float("nan")
    pooled = np.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2)
    diff = x1.mean() - x0.mean()
    if pooled == 0:
        return 0.0 if diff == 0 else float("inf")
    return float(diff / pooled)


def smd_categorical(x1, x0, levels=None) -> float:
    """Multivariate SMD of Yang & Dalton (2012): sqrt((p1 - p0)' S^+ (p1 - p0)).

    p are the proportions of the non-reference levels (the first of `levels`, default the
    sorted levels seen in either arm), S the mean of the two arms' multinomial covariance
    matrices diag(p) - p p'. A pseudo-inverse keeps it defined when a level is empty in one
    arm (or both). If the arms differ along a direction in which neither varies (complete
    separation, e.g. every participant in level A in one arm and in level B in the other)
    the SMD is infinite. With two levels it is (p1 - p0) / sqrt((p1 q1 + p0 q0) / 2) in
    absolute value.
    """
    x1 = pd.Series(x1, dtype=object).dropna().astype(str)
    x0 = pd.Series(x0, dtype=object).dropna().astype(str)
    if levels is None:
        levels = sorted(set(x1) | set(x0))
    levels = [str(level) for level in levels]
    if len(x1) == 0 or len(x0) == 0 or len(levels) < 2:
        return float("nan")
    p1 = np.array([(x1 == level).mean() for level in levels[1:]])
    p0 = np.array([(x0 == level).mean() for level in levels[1:]])
    cov = (np.diag(p1) - np.outer(p1, p1) + np.diag(p0) - np.outer(p0, p0)) / 2
    diff = p1 - p0
    inverse = np.linalg.pinv(cov)
    # The part of the difference outside the range of S: no variance to scale it by.
    outside = diff - cov @ inverse @ diff
    if np.abs(outside).max() > 1e-10:
        return float("inf")
    return float(np.sqrt(max(diff @ inverse @ diff, 0.0)))


def smd_binary(x1, x0) -> float:
    """SMD of a 0/1 variable: Yang & Dalton with the one non-reference level (unsigned, as
    for every categorical variable): |p1 - p0| / sqrt((p1 q1 + p0 q0) / 2)."""
    x1 = pd.Series(x1, dtype=float).dropna().map(lambda v: f"{v:g}")
    x0 = pd.Series(x0, dtype=float).dropna().map(lambda v: f"{v:g}")
    return smd_categorical(x1, x0, ["0", "1"])


# --------------------------------------------------------------------------------------
# Labels from the trial spec
# --------------------------------------------------------------------------------------


def _outcome(spec: dict, outcome_id: str) -> dict | None:
    return next((o for o in spec["outcomes"] if o["id"] == outcome_id), None)


def _score_range(spec: dict, outcome: dict) -> tuple[float, float]:
    inst = spec["instruments"][outcome["instrument"]]
    lo, hi = inst["subscales"][outcome["name"]]["range"]
    return float(lo), float(hi)


def instrument_abbreviation(inst: dict) -> str:
    """The instrument's short name: "MBI" from "Maslach Burnout Inventory, ...", "MISS-HP"
    from "... (MISS-HP)"; "" when the label has none to offer (a single-item measure)."""
    label = inst["label"]
    found = re.search(r"\(([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)\)", label)
    if found:
        return found.group(1)
    head = re.split(r"[,(]", label)[0]
    words = head.split()
    acronyms = [w for w in words if len(w) > 1 and w.isupper()]
    if acronyms:
        return acronyms[0]
    initials = [part[0] for w in words for part in w.split("-") if part[:1].isupper()]
    return "".join(initials) if len(initials) > 1 else ""


def outcome_label(spec: dict, outcome_id: str) -> str:
    """The outcome's label; a score also names its instrument and possible range, e.g.
    "Emotional exhaustion (MBI, 0–54)" or "Impostor phenomenon (CIPS total, 20–100)": a
    range of numbers takes an en dash (a hyphen where the label was typed with one)."""
    outcome = _outcome(spec, outcome_id)
    if outcome is None:  # an association exposure from a participants-file column
        return exposure_column_label(spec, outcome_id)
    label = clean_registry_label(outcome["label"])
    if outcome["kind"] != "score":
        return label
    lo, hi = _score_range(spec, outcome)
    scale = f"{lo:g}".replace("-", MINUS) + EN_DASH + f"{hi:g}".replace("-", MINUS)
    label = label.replace(f"{lo:g}-{hi:g}", scale)
    if scale in label:
        return label
    if label.endswith(")"):  # the label already names the instrument: add the range inside
        return f"{label[:-1]}, {scale})"
    abbreviation = instrument_abbreviation(spec["instruments"][outcome["instrument"]])
    return f"{label} ({', '.join(p for p in (abbreviation, scale) if p)})"


def category_definitions(spec: dict, outcome_ids) -> str:
    """The registry's `definition` of each category among `outcome_ids`, once each, after the
    category's name (its label without the parenthesis): "Burnout: emotional exhaustion (item
    8) or ... at least weekly (...)."; "" when none has one (nothing is printed)."""
    sentences = []
    for oid in dict.fromkeys(o for o in outcome_ids if o):
        outcome = _outcome(spec, oid)
        if outcome is None or outcome["kind"] != "category":
            continue
        category = spec["instruments"][outcome["instrument"]]["categories"][outcome["name"]]
        if category.get("definition"):
            name = typographic(clean_registry_label(outcome["label"])).split(" (")[0]
            sentences.append(f"{name}: {typographic(category['definition']).rstrip('.')}.")
    return " ".join(dict.fromkeys(sentences))


def exposure_column_label(spec: dict, column: str) -> str:
    """A participants-file column's label: the covariate's, else the column name."""
    labels = {c["name"]: c.get("label", c["name"]) for c in spec.get("covariates", [])}
    return labels.get(column, str(column))


def _arm_labels(spec: dict) -> dict[str, str]:
    return {a["id"]: a["label"] for a in spec["arms"]}


def _timepoint_labels(spec: dict) -> dict[str, str]:
    return {t["id"]: t["label"] for t in spec["timepoints"]}


def contrast_label(spec: dict, contrast: str, exposure=None) -> str:
    """The printed contrast: "coaching - control" -> "Group coaching vs Control". Odds-ratio
    contrasts hold level labels already ("Very strong - Very weak" -> "Very strong vs Very
    weak") and are prefixed with the exposure."""
    arms = _arm_labels(spec)
    for arm in arms:
        for other in arms:
            if contrast == f"{arm} - {other}":
                return f"{arms[arm]} vs {arms[other]}"
    text = str(contrast).replace(" - ", " vs ", 1)
    if not is_missing(exposure) and exposure:
        return f"{outcome_label(spec, exposure)}: {text}"
    return text


def analysis_set_definition(spec: dict, name: str) -> str:
    """Who is in analysis set `name`, in the design's own words (trialeval.labels)."""
    members = primary_set_words(spec)[1]
    surveys = ("cross_sectional", "cohort_comparison")  # no adherence: the same people
    if name == "itt" or (name == "per_protocol" and spec["design"] in surveys):
        return primary_set_definition(spec)
    if name == "per_protocol":
        rule = spec.get("per_protocol")
        if not rule:
            return f"no adherence rule configured, so the same as {_set_label('itt', spec).lower()}"
        arms = _arm_labels(spec)
        who = ", ".join(arms.get(a, a) for a in rule["arms"])
        column = rule["column"].replace("_", " ")
        return f"{members}, restricted in {who} to those with {column} ≥ {rule['at_least']:g}"
    if name == "complete_case":
        return f"{members} with the outcome scored at every timepoint"
    return name


def _set_label(name: str, spec: dict | None = None) -> str:
    """An analysis set's label; with `spec`, the primary set in the design's words."""
    return analysis_set_label(name, spec) if spec is not None else SET_LABELS.get(name, str(name))


# --------------------------------------------------------------------------------------
# Table 1
# --------------------------------------------------------------------------------------


def table1(
    spec: dict,
    participants: pd.DataFrame,
    sets: pd.DataFrame,
    scores: pd.DataFrame,
    analysis_set: str = "itt",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Baseline characteristics by arm and overall, for one analysis set (see module doc).

    A cross-sectional survey describes its whole sampling frame instead (everyone surveyed,
    less consent withdrawals): respondents, non-respondents and everyone, on the frame's
    variables; its survey measures among respondents only. A cohort comparison describes
    each cohort's respondents, without outcome rows (see `_describes_outcomes`).

    `full` is long: row (of `formatted`), variable, characteristic, level, group (arm id,
    "respondents" / "non_respondents", "overall", or "<arm> - <control>" for an SMD),
    statistic, value.
    """
    data = _table1_people(spec, participants, sets, analysis_set)
    table = _Table1(spec, _table1_groups(spec))
    _add_size_rows(table, spec, data)
    # the site, where participants were allocated (randomized) within sites
    if _site_rows(spec, data):
        table.labelled_rows(data, "site", "Site")
    for covariate in spec["covariates"]:
        name, label = covariate["name"], covariate["label"]
        if covariate["type"] == "numeric":
            summary = covariate.get("summary", "mean_sd")
            table.numeric_rows(name, label, data, name, summary, 1)
        else:
            table.labelled_rows(data, name, label)
    if _describes_outcomes(spec):
        _add_baseline_outcome_rows(table, spec, data, scores)
    return table.frames()


def _is_survey(spec: dict) -> bool:
    return spec["design"] == "cross_sectional"


def _is_cohort(spec: dict) -> bool:
    return spec["design"] == "cohort_comparison"


def _describes_outcomes(spec: dict) -> bool:
    """Whether Table 1 has outcome rows. A trial's baseline outcome measures describe the
    groups before the intervention; a cohort comparison surveys each cohort once, so its
    outcome measures are the compared quantity itself, summarised and compared in Table 2
    (cohort_table) only: Table 1 describes the respondents it compares (the people, not the
    result), and an SMD there would present the result as an imbalance."""
    return not _is_cohort(spec)


def _table1_people(spec: dict, participants, sets, analysis_set: str) -> pd.DataFrame:
    """One row per participant Table 1 describes: the analysis set (a survey: everyone
    surveyed less withdrawals; a cohort comparison: the set's respondents, those its models
    compare) with its responded_* flags and participant columns, and `group`, the column of
    the table they fall in (their arm or cohort; respondents or non_respondents)."""
    baseline_flag = f"responded_{spec['baseline']}"
    survey = _is_survey(spec)
    chosen = ~sets["withdrawn"] if survey else sets[analysis_set].astype(bool)
    if _is_cohort(spec):
        chosen = chosen & sets[baseline_flag].astype(bool)
    flags = sets.loc[chosen]
    keep = ["participant_id", "arm"] + [c for c in flags if c.startswith("responded_")]
    data = flags[keep].merge(
        participants.drop(columns=["arm"], errors="ignore"),
        on="participant_id",
        how="left",
        validate="1:1",
    )
    if survey:
        responded = data[baseline_flag].astype(bool)
        data["group"] = np.where(responded, "respondents", "non_respondents")
    else:
        data["group"] = data["arm"]
    return data


def _table1_groups(spec: dict) -> list[tuple[str, str]]:
    """Table 1's columns as (group, printed label): the arms, and Overall when there are
    several; a survey's respondents, non-respondents and everyone surveyed."""
    if _is_survey(spec):
        return [
            ("respondents", "Respondents"),
            ("non_respondents", "Non-respondents"),
            ("overall", "Everyone surveyed"),
        ]
    groups = [(a["id"], a["label"]) for a in spec["arms"]]
    if len(groups) > 1:
        groups.append(("overall", "Overall"))
    return groups


def _members(group: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of one column of Table 1 ("overall": every row)."""
    return frame if group == "overall" else frame[frame["group"] == group]


def _count_summary(k: int, n: int) -> tuple[dict, str]:
    """({count, n, percent}, "k (%)") of k of n (percent NaN without a denominator)."""
    return {"count": k, "n": n, "percent": 100 * k / n if n else np.nan}, format_count_percent(k, n)


def _numeric_summary(values: pd.Series, how: str, decimals: int) -> tuple[dict, str]:
    """The statistics of one numeric column of one group ({n, missing, mean, sd, median, q1,
    q3}) and its printed cell: "mean (SD)", or "median [q1, q3]" for median_iqr; a dash
    when no value is seen."""
    seen = values.dropna()
    q1, median, q3 = np.quantile(seen, [0.25, 0.5, 0.75]) if len(seen) else (np.nan,) * 3
    mean = seen.mean() if len(seen) else np.nan
    sd = seen.std(ddof=1) if len(seen) > 1 else np.nan
    stats = {"n": len(seen), "missing": int(values.isna().sum()), "mean": mean}
    stats.update(sd=sd, median=median, q1=q1, q3=q3)
    if not len(seen):
        return stats, DASH
    if how == "median_iqr":  # brackets: an IQR never printed like a CI
        return stats, format_iqr(median, q1, q3, decimals)
    return stats, f"{format_number(mean, decimals)} ({format_number(sd, decimals)})"


class _Table1:
    """Table 1 as it is built, row by row: `printed` the rows of `formatted` (one column per
    group, then one SMD column per intervention arm), `records` the long rows of `full`.

    `shown` are the groups a row is computed for (the others' cells stay empty): every group,
    except a survey's measures, which are among its respondents only.
    """

    def __init__(self, spec: dict, groups: list[tuple[str, str]]):
        self.spec = spec
        self.groups = groups
        self.shown = list(groups)
        self.control = spec.get("control_arm")
        self.treated = [a for a in spec["arms"] if self.control and a["id"] != self.control]
        self.smd_columns = {
            a["id"]: (
                "SMD"
                if len(self.treated) == 1
                else f"SMD, {a['label']} vs {_arm_labels(spec)[self.control]}"
            )
            for a in self.treated
        }
        self.printed: list[dict] = []
        self.records: list[dict] = []

    def add(self, variable, characteristic, level, cells, stats, smds=None, indent=False):
        """One printed row; `cells`: {group: text}; `stats`: {group: {statistic: value}};
        `smds`: {arm: value} (None: the SMD cells are empty)."""
        row = len(self.printed)
        line = {"Characteristic": (INDENT if indent else "") + typographic(characteristic)}
        for group, label in self.groups:
            line[label] = cells.get(group, "")
        for arm, column in self.smd_columns.items():
            value = (smds or {}).get(arm)
            line[column] = "" if smds is None else format_number(value, 2)
        self.printed.append(line)
        base = {"row": row, "variable": variable, "characteristic": characteristic}
        for group, values in stats.items():
            for statistic, value in values.items():
                self.records.append(
                    {**base, "level": level, "group": group, "statistic": statistic, "value": value}
                )
        for arm, value in (smds or {}).items():
            self.records.append(
                {
                    **base,
                    "level": level,
                    "group": f"{arm} - {self.control}",
                    "statistic": "smd",
                    "value": value,
                }
            )

    def _smds(self, smd, frame: pd.DataFrame, column: str, *levels) -> dict:
        """{intervention arm: smd(its values, the control arm's values[, levels])}."""
        if not self.treated:
            return {}
        control = _members(self.control, frame)[column]
        return {
            a["id"]: smd(_members(a["id"], frame)[column], control, *levels) for a in self.treated
        }

    def numeric_rows(self, variable, label, frame, column, how, decimals):
        """A numeric characteristic: mean (SD) or median (IQR) per group, SMDs, and how many
        are missing (when any are)."""
        stats, cells = {}, {}
        for g, _ in self.shown:
            stats[g], cells[g] = _numeric_summary(
                _members(g, frame)[column].astype(float), how, decimals
            )
        suffix = "median [IQR]" if how == "median_iqr" else "mean (SD)"
        smds = self._smds(smd_numeric, frame, column)
        self.add(variable, f"{label}, {suffix}", "", cells, stats, smds)
        self.missing_row(variable, frame, column)

    def missing_row(self, variable, frame, column):
        """The indented Missing row of a characteristic, only when someone's value is missing."""
        missing = {g: int(_members(g, frame)[column].isna().sum()) for g, _ in self.shown}
        if any(missing.values()):
            cells = {g: str(k) for g, k in missing.items()}
            stats = {g: {"count": k} for g, k in missing.items()}
            self.add(variable, "Missing", "missing", cells, stats, indent=True)

    def categorical_rows(self, variable, label, frame, column, levels, names=None):
        """A categorical characteristic: a row with its SMDs, then n (%) of each level (of
        those with a value; `names`: {level: printed name}) and the Missing row."""
        names = names or {}
        self.add(
            variable,
            f"{label}, n (%)",
            "",
            {},
            {},
            self._smds(smd_categorical, frame, column, levels),
        )
        for level in levels:
            stats, cells = {}, {}
            for g, _ in self.shown:
                values = _members(g, frame)[column].dropna().astype(str)
                stats[g], cells[g] = _count_summary(int((values == level).sum()), len(values))
            name = names.get(level, _display_level(level))
            self.add(variable, name, level, cells, stats, indent=True)
        self.missing_row(variable, frame, column)

    def binary_row(self, variable, label, frame):
        """A 0/1 outcome in one row: n (%) with the event, of those with a value."""
        stats, cells = {}, {}
        for g, _ in self.shown:
            values = _members(g, frame)["score"].dropna()
            stats[g], cells[g] = _count_summary(int((values == 1).sum()), len(values))
        smds = self._smds(smd_binary, frame, "score")
        self.add(variable, f"{label}, n (%)", "1", cells, stats, smds)
        self.missing_row(variable, frame, "score")

    def labelled_rows(self, data, name, label):
        """A categorical characteristic (a covariate, the site): its levels as labelled."""
        values = data[name].astype(object).where(data[name].notna())
        frame = data.assign(**{name: values.map(lambda v: v if is_missing(v) else str(v))})
        levels = level_order(self.spec, name, frame[name].dropna().unique())
        names = {level: level_label(self.spec, name, level) for level in levels}
        self.categorical_rows(name, label, frame, name, levels, names)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(full, formatted), as table1 returns them."""
        formatted = pd.DataFrame(self.printed).fillna("")
        full = pd.DataFrame(
            self.records,
            columns=["row", "variable", "characteristic", "level", "group", "statistic", "value"],
        )
        full["value"] = full["value"].astype(float)
        return full, formatted


TABLE1_UNIT_LABELS = {
    "delivery_groups": "Delivery groups, n; participants per group, median (range)",
    "clusters": "Clusters (sites), n; participants per cluster, median (range)",
}


def _add_size_rows(table: _Table1, spec: dict, data: pd.DataFrame) -> None:
    """The first rows: participants per column (the analysis set: equals consort.json
    analysed[analysis_set] per arm; for a survey its respondents, non-respondents and
    everyone not withdrawn), delivery groups and (cluster_rct) clusters with their sizes in
    this set, and a survey's response rate of everyone surveyed."""
    counts = {g: len(_members(g, data)) for g, _ in table.groups}
    cells = {g: str(n) for g, n in counts.items()}
    table.add("n", "Participants, n", "", cells, {g: {"n": n} for g, n in counts.items()})
    for key, column in unit_columns(spec, data).items():
        sizes = cluster_sizes(data, column, [a["id"] for a in spec["arms"]])
        cells = {g: size_text(sizes[g]) or DASH for g, _ in table.groups}
        stats = {
            g: {k: sizes[g][k] for k in ("n", "median", "min", "max")}
            for g, _ in table.groups
            if sizes[g]["n"]
        }
        table.add(key, TABLE1_UNIT_LABELS[key], "", cells, stats)
    if _is_survey(spec):
        responded = data[f"responded_{spec['baseline']}"]
        stats, cell = _count_summary(int(responded.sum()), len(data))
        table.add(
            "responded", "Responded to the survey, n (%)", "", {"overall": cell}, {"overall": stats}
        )


def _add_baseline_outcome_rows(table: _Table1, spec: dict, data, scores) -> None:
    """A heading, then every outcome at baseline: a score as mean (SD), a category as n (%)
    with it, bands as n (%) per band. A survey's measures are among its respondents only."""
    at_baseline = scores.loc[scores["timepoint"] == spec["baseline"]]
    if _is_survey(spec):
        people = data[data[f"responded_{spec['baseline']}"].astype(bool)]
        table.shown = [table.groups[0]]
        heading = "Survey measures (respondents)"
    else:
        people = data
        heading = f"Outcome measures at {_lower_first(_timepoint_labels(spec)[spec['baseline']])}"
    table.add("", heading, "", {}, {})
    for outcome in spec["outcomes"]:
        oid = outcome["id"]
        values = at_baseline.loc[at_baseline["outcome"] == oid, ["participant_id", "score"]]
        frame = people[["participant_id", "group"]].merge(
            values, on="participant_id", how="left", validate="1:1"
        )
        label = outcome_label(spec, oid)
        if outcome["kind"] == "score":
            table.numeric_rows(oid, label, frame, "score", "mean_sd", estimate_decimals(spec, oid))
        elif outcome["kind"] == "category":
            table.binary_row(oid, label, frame)
        else:  # bands: ordered levels 1..k
            bands = spec["instruments"][outcome["instrument"]]["bands"]["levels"]
            names = {str(i + 1): b["label"] for i, b in enumerate(bands)}
            coded = frame["score"].map(lambda v: v if is_missing(v) else f"{v:g}")
            table.categorical_rows(
                oid, label, frame.assign(score=coded), "score", list(names), names
            )


def _site_rows(spec: dict, data: pd.DataFrame) -> bool:
    """Whether Table 1 shows the site rows: participants allocated to arms within sites (rct,
    quasi_experimental) with a site column; a cluster_rct counts its clusters instead."""
    design_ok = spec["design"] in ("rct", "quasi_experimental")
    return design_ok and bool(spec.get("site_column")) and "site" in data


# --------------------------------------------------------------------------------------
# Effects, pre/post, association
# --------------------------------------------------------------------------------------


def _effect_labels(spec: dict, effects: pd.DataFrame) -> pd.DataFrame:
    """Effects rows with the printed labels alongside (the `full` of the effects tables)."""
    timepoints = _timepoint_labels(spec)
    out = in_percentage_points(effects)
    out["outcome_label"] = [outcome_label(spec, o) for o in out["outcome"]]
    labels = ESTIMAND_LABELS | ROW_LABELS
    out["estimand_label"] = out["estimand"].map(labels).fillna(out["estimand"])
    out["contrast_label"] = [
        contrast_label(spec, c, e) for c, e in zip(out["contrast"], out["exposure"], strict=True)
    ]
    out["timepoint_label"] = out["timepoint"].map(timepoints).fillna(out["timepoint"])
    out["analysis_set_label"] = [_set_label(s, spec) for s in out["analysis_set"]]
    return out


def _estimate_cell(spec: dict, row, notes: Notes) -> str:
    decimals = estimate_decimals(spec, row["outcome"], row["estimand"])
    text = format_ci(row["estimate"], row["ci_low"], row["ci_high"], decimals)
    return text + notes.mark(row["note"])


# Table 2 layout (CONSORT 2025 outcomes item: each group's result, then the effect with its
# precision). Blocks of rows, each under a heading row: the primary analysis on each analysis
# set in order (intention-to-treat first), then each named sensitivity analysis's sets. The
# per-protocol and complete-case blocks stay in Table 2, after the intention-to-treat block,
# rather than in a supplementary table: they are the trial's prespecified supportive analyses
# of the same outcomes and read best beside the primary block; the report's S-numbers belong
# to tables only the report has, and a manuscript that wants them in its supplement moves the
# whole block (its heading row and rows) unchanged. Within a block: the outcomes in effects
# order, their role as a sub-heading; an outcome row holds each group's result (when it is
# the same for each of the outcome's effect rows), indented rows below it the effect measures.
# The contrast is in the effect column's header when the table has one, the follow-up visit
# in the title when there is one; the estimand is in the footnotes.
HEADING, SUBHEADING = 1, 2  # formatted.attrs["headings"]: row -> level (bold, italic)
SET_BLOCK = {"per_protocol": "Per-protocol set", "complete_case": "Complete-case set"}
MEAN_ESTIMANDS = {"diff_in_change", "diff_in_means", "adjusted_diff"}


def _block_label(spec: dict, name: str, analysis_set: str, timepoint: str | None) -> str:
    label = SET_BLOCK.get(analysis_set) or _upper_first(set_name(analysis_set, spec))
    if name != "primary":
        analysis = _analysis_labels(spec).get(name, name)
        label = f"Sensitivity analysis: {analysis}, {label[:1].lower()}{label[1:]}"
    return label if timepoint is None else f"{label}, {_lower_first(timepoint)}"


def _single_contrast(spec: dict, full: pd.DataFrame) -> tuple[str, str] | None:
    """The (arm, control) of the table's one arm contrast, or None with several."""
    contrasts = list(dict.fromkeys(full["contrast"]))
    arms = _arm_labels(spec)
    if len(contrasts) != 1:
        return None
    pair = str(contrasts[0]).split(" - ")
    return (pair[0], pair[1]) if len(pair) == 2 and all(a in arms for a in pair) else None


def _effect_header(spec: dict, full: pd.DataFrame) -> str:
    """ "Difference, A − B (95% CI)" (the run's level, ci_level); "Difference or ratio, A vs
    B" when ratios are beside differences; without the contrast when there are several (each
    row names its own)."""
    pair = _single_contrast(spec, full)
    ratios = full["estimand"].isin(RATIO_ESTIMANDS).any()
    ci = f"({ci_level(spec)} CI)"
    if pair is None:
        return f"Difference or ratio {ci}" if ratios else f"Difference {ci}"
    arms = _arm_labels(spec)
    if ratios:
        what = (
            "Difference or ratio" if not full["estimand"].isin(RATIO_ESTIMANDS).all() else "Ratio"
        )
        return f"{what}, {arms[pair[0]]} vs {arms[pair[1]]} {ci}"
    return f"Difference, {arms[pair[0]]} {MINUS} {arms[pair[1]]} {ci}"


def _group_cell(spec: dict, row, means, summary, arm: str, plan=disclosure.OFF) -> str:
    """One group's result for an effects row: n/N (%) at follow-up (binary outcomes; through
    disclosure control's `plan`: "<5/40", no percentage, when a count is withheld), the
    adjusted mean (95% CI) at follow-up (a mixed model; beside the difference in change, the
    adjusted mean change from baseline to follow-up), median (IQR) or mean (SD) change (the
    pre/post rank test, the ANCOVA of change); "" where the outputs have none."""
    kind = (_outcome(spec, row["outcome"]) or {}).get("kind")
    key = {"outcome": row["outcome"], "analysis_set": row["analysis_set"], "arm": arm}
    key["timepoint"] = row["timepoint"]
    name = row["analysis_name"]
    if kind == "score" and row["estimand"] in MEAN_ESTIMANDS:
        frame = means[_analysis_names(means) == name] if len(means) else means
    elif name == "primary":
        frame = summary
    else:
        return ""
    found = frame[(frame[list(key)] == pd.Series(key)).all(axis=1)] if len(frame) else frame
    if found.empty:
        return ""
    s = found.iloc[0]
    decimals = estimate_decimals(spec, row["outcome"])
    if kind != "score":
        if is_missing(s["n_events"]):
            return DASH
        events, n = int(s["n_events"]), int(s["n"])
        text = f"{events}/{n} ({format_number(100 * events / n, 1) if n else DASH})"
        return disclosure.binary_cell(plan, s, text)
    if row["estimand"] == "diff_in_change" and _has_change(frame):
        return format_ci(s["change_estimate"], s["change_ci_low"], s["change_ci_high"], decimals)
    if row["estimand"] in MEAN_ESTIMANDS:
        return format_ci(s["estimate"], s["ci_low"], s["ci_high"], decimals)
    if row["estimand"] == "hodges_lehmann_shift":
        return format_iqr(s["median"], s["q1"], s["q3"], decimals)
    if _has_adjusted_change(frame):  # the ANCOVA's adjusted mean change, as its difference
        keys = ("adjusted_change", "adjusted_change_ci_low", "adjusted_change_ci_high")
        return format_ci(*(s[k] for k in keys), decimals)
    return f"{format_number(s['mean'], decimals)} ({format_number(s['sd'], decimals)})"


def _has_adjusted_change(summary: pd.DataFrame) -> bool:
    """Whether prepost_summary has the ANCOVA's adjusted mean change per arm (outputs written
    before it have the unadjusted mean (SD) only)."""
    return "adjusted_change" in summary and summary["adjusted_change"].notna().any()


def _has_change(means: pd.DataFrame) -> bool:
    """Whether the means output has each arm's change from baseline (the change_* columns;
    outputs written before them have only the means)."""
    return "change_estimate" in means


# A measure row whose group cells hold each group's result is labelled by that result (the
# effect is in the effect column, whose header says what it is); the pre/post analyses also
# say which is primary (module _prepost_roles). {ci}: the run's confidence level (ci_level).
GROUP_ROW_LABELS = {
    "diff_in_change": "Change from baseline, adjusted mean ({ci} CI)",
    "diff_in_means": "At follow-up, adjusted mean ({ci} CI)",
    "adjusted_diff": "At follow-up, adjusted mean ({ci} CI)",
    "adjusted_mean_difference": "Mean (SD) change; adjusted difference",
    "hodges_lehmann_shift": "Median [IQR] change; Hodges–Lehmann shift",
}
# An outcome with one mean-based measure, its group results on its row: what both are
# ("Emotional exhaustion (MBI, 0–54), change from baseline": each group's change, and the
# effect their difference).
ONE_ROW_WORDS = {
    "diff_in_change": "change from baseline",
    "diff_in_means": "at follow-up",
    "adjusted_diff": "at follow-up, adjusted for baseline",
}
# Within an outcome, the order of its measure rows (others keep effects.csv's order): the
# pre/post ANCOVA (the primary analysis) before the rank-based shift, as in the forest plot.
MEASURE_ORDER = {"adjusted_mean_difference": 0, "hodges_lehmann_shift": 1}
PREPOST_ROLES = {"adjusted_mean_difference": "primary", "hodges_lehmann_shift": "supportive"}


def _measure_label(spec: dict, row, several_contrasts: bool, grouped: bool = False) -> str:
    """The measure row's label: the effect's name, or with group results on the row (`grouped`)
    what they are; a pre/post score's analysis says whether it is the primary one."""
    label = row["estimand_label"]
    if grouped and row["estimand"] in GROUP_ROW_LABELS:
        label = GROUP_ROW_LABELS[row["estimand"]]
        if row["estimand"] == "diff_in_change" and not row.get("_change_cells", True):
            label = GROUP_ROW_LABELS["diff_in_means"]
        if row["estimand"] == "adjusted_mean_difference" and row.get("_adjusted_cells"):
            label = "Adjusted mean change ({ci} CI)"
        if row.get("analysis") in MODEL_ANALYSES and not mixed_model_adjusts(spec):
            label = label.replace("adjusted mean", "model-estimated mean")
        label = label.replace("{ci}", ci_level(spec))
    if row.get("analysis") == "prepost" and row["estimand"] in PREPOST_ROLES:
        label += f", {PREPOST_ROLES[row['estimand']]} analysis"
    return f"{label}, {row['contrast_label']}" if several_contrasts else label


# the mixed-model analyses whose group cells are the model's means per arm and visit
MODEL_ANALYSES = ("mixed_model", "clda", "mmrm")


def mixed_model_adjusts(spec: dict) -> bool:
    """Whether the mixed model adjusts for covariates (or fixed sites): without them its
    means per arm and visit are model-estimated, not covariate-adjusted, and say so."""
    mixed = spec.get("analyses", {}).get("mixed_model") or {}
    return bool(mixed.get("covariates")) or mixed.get("site") == "fixed"


def effects_table(
    spec: dict,
    effects: pd.DataFrame,
    means: pd.DataFrame | None = None,
    summary: pd.DataFrame | None = None,
    plan: disclosure.Plan = disclosure.OFF,
    model_n: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2 (layout above); `plan`: disclosure control of the groups' n/N. `means`: the
    adjusted means per arm and visit (adjusted_means, with sensitivity_means under their
    analysis_name); `summary`: prepost_summary (change per arm, events at follow-up);
    `model_n`: model_n.csv, each group's n of a randomized trial's primary score models (CONSORT
    asks for the number analysed per group). `full` is one row per effects row, labels
    alongside."""
    full = _effect_labels(spec, effects.reset_index(drop=True))
    full["analysis_name"] = _analysis_names(full)
    means = pd.DataFrame() if means is None else means
    summary = pd.DataFrame() if summary is None else summary
    compared = {arm for c in full["contrast"] for arm in str(c).split(" - ")}
    arms = [a for a in spec["arms"] if a["id"] in compared]
    effect = _effect_header(spec, full)
    several = _single_contrast(spec, full) is None
    several_visits = full["timepoint"].nunique() > 1
    notes = Notes()
    printed, headings = [], {}
    keys = ["analysis_name", "analysis_set"] + (["timepoint"] if several_visits else [])
    nested = _nested_outcomes(full, keys)
    for block_key, block in full.groupby(keys, sort=False):
        timepoint = block["timepoint_label"].iloc[0] if several_visits else None
        headings[len(printed)] = HEADING
        printed.append({"Outcome": _block_label(spec, block_key[0], block_key[1], timepoint)})
        role = None
        for _, rows in block.groupby("outcome", sort=False):
            if rows["role"].iloc[0] != role:
                role = rows["role"].iloc[0]
                count = block.loc[block["role"] == role, "outcome"].nunique()
                headings[len(printed)] = SUBHEADING
                printed.append({"Outcome": f"{str(role).capitalize()} outcome" + "s" * (count > 1)})
            groups = (means, summary, plan, model_n)
            nest = rows["outcome"].iloc[0] in nested
            printed += _outcome_rows(spec, rows, arms, effect, several, notes, groups, nest)
    columns = ["Outcome", *(a["label"] for a in arms), effect, "P", "Adjusted P", "n"]
    formatted = pd.DataFrame(printed, columns=columns).fillna("")
    formatted.attrs["headings"] = headings
    formatted.attrs["footnotes"] = notes.lines()
    if plan.on and _withheld_in(formatted[[*(a["label"] for a in arms), "n"]], plan):
        formatted.attrs["footnotes"].append(plan.note())
    return full, formatted


def adjusted_p(spec: dict, row) -> str:
    """A row's adjusted P; a dash for a primary outcome's, which is not adjusted unless the
    trial's rule for its primary comparisons is "any" (trialeval.effects.adjust)."""
    if row["role"] == "primary" and not primary_adjusted(spec):
        return DASH
    return format_p(row["p_adjusted"])


def _withheld_in(cells: pd.DataFrame, plan: disclosure.Plan) -> bool:
    """Whether some of `cells` (group columns: counts, means, CIs; the n) prints a marker."""
    marks = (f"<{plan.min_cell}", f"\u2265{plan.min_cell}")
    return any(m in str(v) for v in cells.to_numpy().ravel() for m in marks)


def _nested_outcomes(full: pd.DataFrame, keys: list[str]) -> set:
    """The outcomes printed as a heading row with indented measure rows in every block: those
    with several rows (measures or contrasts) in some block. A reader compares blocks row by
    row, so an outcome nested in one block (per-protocol: change and follow-up) is nested in
    the others too, even where it has one measure there (intention-to-treat in Table S1)."""
    counts = full.groupby([*keys, "outcome"], sort=False).size()
    return set(counts[counts > 1].index.get_level_values("outcome"))


def _outcome_rows(spec, rows, arms, effect, several, notes, groups, nest=False) -> list[dict]:
    """An outcome's printed rows: its label with the groups' results, then one indented row
    per effect measure (on the outcome's own row when it has one, unless `nest`: the layout
    its other blocks have, _nested_outcomes)."""
    label = typographic(rows["outcome_label"].iloc[0])
    rank = [MEASURE_ORDER.get(e, 0) for e in rows["estimand"]]
    rows = rows.iloc[np.argsort(rank, kind="stable")]
    lines, measures = _measure_lines(spec, rows, arms, effect, notes, groups)
    names = [a["label"] for a in arms]
    groups_per_line = [tuple(line[name] for name in names) for line in lines]
    # the same group results for each measure (or one measure): once, on the outcome's row;
    # a nested outcome's one measure whose group results it names keeps them on its row, as
    # where the other blocks have two ("At follow-up, adjusted mean (95% CI)")
    shared = len(lines) == 1 or len(set(groups_per_line)) == 1
    if nest and len(lines) == 1 and measures[0]["estimand"] in GROUP_ROW_LABELS:
        shared = not any(groups_per_line[0])
    for line, row in zip(lines, measures, strict=True):
        row["_change_cells"] = _has_change(groups[0]) if len(groups[0]) else True
        row["_adjusted_cells"] = _has_adjusted_change(groups[1])
        grouped = not shared and any(line[name] for name in names)
        line["Outcome"] = INDENT + _measure_label(spec, row, several, grouped)
    if len(lines) == 1 and not nest:  # one measure: it is named after the outcome, on one row
        said = _lower_first(lines[0]["Outcome"].lstrip(chr(160)))
        if any(groups_per_line[0]) and measures[0]["estimand"] in ONE_ROW_WORDS:
            said = ONE_ROW_WORDS[measures[0]["estimand"]]  # what the group cells and effect are
            if measures[0]["estimand"] == "diff_in_change" and not measures[0]["_change_cells"]:
                said = ONE_ROW_WORDS["diff_in_means"]
        lines[0]["Outcome"] = f"{label}, {said}"
        return lines
    head = {"Outcome": label}
    if shared:
        head.update(dict(zip(names, groups_per_line[0], strict=True)))
        for line in lines:
            line.update(dict.fromkeys(names, ""))
    return [head, *lines]


def _measure_lines(spec, rows, arms, effect, notes, groups) -> tuple[list[dict], list]:
    """One printed line per effects row of an outcome (its label left to _outcome_rows):
    each group's result with its n analysed, the effect, P, adjusted P and n; and the rows."""
    lines, measures = [], []
    for _, row in rows.iterrows():
        line = {"Outcome": ""}
        arm_n = _arms_model_n(spec, row, [a["id"] for a in arms], groups[3])
        for arm in arms:
            cell = _group_cell(spec, row, *groups[:2], arm["id"], groups[2])
            if cell and arm["id"] in arm_n:  # the number analysed in the group
                key = disclosure.model_key(row["analysis_set"], row["outcome"], arm["id"])
                cell += f", n = {groups[2].count(key, arm_n[arm['id']])}"
            line[arm["label"]] = cell
        line[effect] = _estimate_cell(spec, row, notes)
        line["P"] = format_p(row["p_value"])
        line["Adjusted P"] = adjusted_p(spec, row)
        # the model's n through disclosure control's plan ("<5", "≥5" where withheld)
        n_key = disclosure.effects_n_key(row)
        line["n"] = DASH if is_missing(row["n"]) else groups[2].count(n_key, row["n"])
        lines.append(line)
        measures.append(row.copy())
    return lines, measures


def _arms_model_n(spec: dict, row, arms: list[str], model_n: pd.DataFrame | None) -> dict:
    """{arm: n} the primary model of a randomized trial's score outcome used (model_n.csv),
    for its group cells; {} for other rows (binary outcomes carry n/N, sensitivity analyses
    and the non-randomized designs' group results say their n otherwise)."""
    if (
        model_n is None
        or spec.get("design") not in RANDOMIZED
        or row.get("analysis") not in MODEL_ANALYSES
        or row["analysis_name"] != "primary"  # filled in by effects_table
    ):
        return {}
    from trialeval.model_n import model_used

    return model_used(model_n, spec, row["analysis_set"], row["outcome"], arms)


def _analysis_names(effects: pd.DataFrame) -> pd.Series:
    """effects' analysis_name, `primary` where missing (rows built before it existed)."""
    names = effects.get("analysis_name", pd.Series(None, index=effects.index, dtype=object))
    return names.astype(object).where(names.notna(), "primary")


def _analysis_labels(spec: dict) -> dict[str, str]:
    named = spec.get("analyses", {}).get("sensitivity") or []
    return {"primary": "Primary analysis", **{a["name"]: a["label"] for a in named}}


# the mixed_model block's options (trial.schema.yaml $defs/mixed_model) in words
MODEL_WORDS = {
    "repeated": "repeated-measures mixed model",
    "ancova": "ANCOVA",
    "mmrm": "MMRM",
    "clda": "cLDA model",
}
SITE_WORDS = {"random": "site random", "fixed": "site fixed", "none": "no site term"}


def estimand_footnotes(spec: dict, names) -> list[str]:
    """Each analysis's estimand once (those of `names`, in the trial file's order), and how a
    sensitivity analysis differs from the primary (model, sets, covariates)."""
    from trialeval.estimands import estimand_lines

    analyses = spec.get("analyses", {})
    names = set(names)
    lines = []
    if "primary" in names:
        label = "primary analysis" if analyses.get("sensitivity") else "this analysis"
        lines += estimand_lines(label, analyses.get("estimand"))
    for analysis in analyses.get("sensitivity") or []:
        if analysis["name"] not in names:
            continue
        mm = analysis["mixed_model"]
        sets = ", ".join(_set_label(s, spec).lower() for s in analysis["analysis_sets"])
        covariates = ", ".join(covariate_term(spec, c) for c in analysis["covariates"]) or "none"
        scores = [
            o for o in analysis["outcomes"] if (_outcome(spec, o) or {}).get("kind") == "score"
        ]
        model = (
            f"{MODEL_WORDS[mm['model']]}, {SITE_WORDS[mm['site']]}, covariates {covariates}; "
            if scores
            else ""
        )
        lines.append(
            f"Sensitivity analysis {analysis['label']}: {model}"
            f"analysis set{'s' if ',' in sets else ''} {sets}."
        )
        lines += estimand_lines(analysis["label"], analysis["estimand"]) or [
            f"Estimand, {analysis['label']}: as the primary analysis's, without intercurrent "
            "events."
        ]
    return lines


def _delta_text(delta) -> str:
    return DASH if is_missing(delta) else f"{float(delta):g}".replace("-", MINUS)


def tipping_point_table(spec: dict, imputation: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The delta-adjusted multiple imputation of each sensitivity analysis with `imputation`:
    per analysis, outcome, analysis set and contrast (the difference in means at the last
    visit; trialeval.effects.tipping_shown) a heading row stating the tipping point, then one
    row per delta with the pooled estimate (95% CI, at the run's level), P and the fraction
    of missing information. `full` is every row of every estimand and visit, labelled."""
    from trialeval.effects import TIPPING_BLOCK, tipping_shown

    estimate_column = f"Estimate ({ci_level(spec)} CI)"
    full = imputation.copy()
    full["exposure"] = ""
    full = _effect_labels(spec, full).drop(columns="exposure")
    shown = _effect_labels(spec, tipping_shown(imputation, spec).assign(exposure=""))
    labels = _analysis_labels(spec)
    notes = Notes()
    printed = []
    for _, block in shown.groupby(TIPPING_BLOCK, sort=False):
        first = block.iloc[0]
        where = (
            f"{labels.get(first['analysis_name'], first['analysis_name'])}: "
            f"{typographic(first['outcome_label'])}, {first['contrast_label']}, "
            f"{_lower_first(first['estimand_label'])} at {first['timepoint_label']} "
            f"({first['analysis_set_label'].lower()})"
        )
        tipping = first["tipping_delta"]
        said = (
            f"Tipping point δ = {_delta_text(tipping)}"
            if not is_missing(tipping)
            else "No tipping point in the grid"
        )
        note = str(first["tipping_note"]) if not is_missing(first["tipping_note"]) else ""
        printed.append({"Delta": f"{where}. {said}" + (f" ({note})" if note else "")})
        for _, row in block.iterrows():
            decimals = estimate_decimals(spec, row["outcome"], row["estimand"])
            text = format_ci(row["estimate"], row["ci_low"], row["ci_high"], decimals)
            printed.append(
                {
                    "Delta": _delta_text(row["delta"]) + (" (MAR)" if row["delta"] == 0 else ""),
                    estimate_column: text + notes.mark(row["note"]),
                    "P": format_p(row["p_value"]),
                    "Fraction of missing information": format_number(row["fmi"], 2),
                    "Imputations": str(int(row["m"])),
                }
            )
    columns = ["Delta", estimate_column, "P", "Fraction of missing information"]
    columns.append("Imputations")
    formatted = pd.DataFrame(printed, columns=columns).fillna("")
    formatted.attrs["footnotes"] = notes.lines()
    return full, formatted


# Columns the pre/post table adds only when they vary: {header: effects column}.
PREPOST_OPTIONAL = {
    "Timepoint": "timepoint",
    "Analysis set": "analysis_set",
    "Contrast": "contrast",
}
PREPOST_EFFECTS = [
    # (estimands, estimate column, P column): rank-based or risk ratio, then the ANCOVA;
    # {ci}: the run's confidence level (ci_level)
    (
        ("hodges_lehmann_shift", "risk_ratio"),
        "Hodges-Lehmann shift or risk ratio ({ci} CI)",
        "P (Wilcoxon or z test)",
    ),
    (("adjusted_mean_difference",), "Adjusted mean difference ({ci} CI)", "P (ANCOVA)"),
]


def prepost_table(
    spec: dict, prepost_summary: pd.DataFrame, effects: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per outcome: the arms' median (IQR) change (scores) or n/N (%) at post (categories),
    the Hodges-Lehmann shift or risk ratio, and the adjusted mean difference (scores).
    Scores and categories are two panels, each in the effects' (reading) order."""
    rows = in_percentage_points(effects[effects["analysis"] == "prepost"].reset_index(drop=True))
    arms = _arm_labels(spec)
    timepoints = _timepoint_labels(spec)
    keys = ["outcome", "timepoint", "analysis_set"]
    blocks = rows[keys + ["contrast"]].drop_duplicates().reset_index(drop=True)
    optional = [h for h, c in PREPOST_OPTIONAL.items() if blocks[c].nunique() > 1]
    kinds = blocks["outcome"].map({o["id"]: o["kind"] for o in spec["outcomes"]})
    posts = list(dict.fromkeys(blocks["timepoint"]))
    post = _lower_first(timepoints.get(posts[0], posts[0])) if len(posts) == 1 else "follow-up"
    baseline = _lower_first(timepoints[spec["baseline"]])
    headings = {
        "score": f"Change from {baseline} to {post}, median [IQR]",
        "category": f"At {post}, n/N (%)",
    }
    notes = Notes()
    printed, records = [], []
    for kind, heading in headings.items():
        panel = blocks[kinds == kind]
        if panel.empty:
            continue
        printed.append({"Outcome": heading})
        shown = set()  # with several contrasts, the arms' summaries print once per outcome
        previous = None
        for _, block in panel.iterrows():
            oid = block["outcome"]
            # the outcome prints once per block of rows (analysis sets, timepoints, contrasts)
            label = INDENT + typographic(outcome_label(spec, oid)) if oid != previous else ""
            previous = oid
            line = {"Outcome": label}
            labels = {
                "Timepoint": timepoints.get(block["timepoint"], block["timepoint"]),
                "Analysis set": _set_label(block["analysis_set"], spec),
                "Contrast": contrast_label(spec, block["contrast"]),
            }
            line.update({h: labels[h] for h in optional})
            group = tuple(block[keys])
            summary = prepost_summary[(prepost_summary[keys] == block[keys]).all(axis=1)]
            for _, s in summary.iterrows():
                if s["arm"] not in arms or group in shown:
                    continue
                line[arms[s["arm"]]] = _prepost_summary_cell(spec, oid, kind, s)
                records.append({"record": "arm summary", **s.to_dict()})
            shown.add(group)
            here = rows[(rows[keys + ["contrast"]] == block[keys + ["contrast"]]).all(axis=1)]
            records += _prepost_effect_cells(spec, here, line, notes)
            printed.append(line)
    columns = ["Outcome", *optional, *arms.values()]
    columns += [c.replace("{ci}", ci_level(spec)) for _, *pair in PREPOST_EFFECTS for c in pair]
    formatted = pd.DataFrame(printed, columns=columns).fillna("")
    # no score outcome: no ANCOVA, so no empty columns for it
    formatted = formatted.loc[:, (formatted != "").any(axis=0) | (formatted.columns == "Outcome")]
    formatted.attrs["footnotes"] = notes.lines()
    full = pd.DataFrame(records, columns=PREPOST_COLUMNS[:1] + PREPOST_COLUMNS[2:])
    full.insert(1, "outcome_label", [outcome_label(spec, o) for o in full["outcome"]])
    return full, formatted


def _prepost_effect_cells(spec: dict, here: pd.DataFrame, line: dict, notes: Notes) -> list:
    """Fill `line` with one block's effects (PREPOST_EFFECTS' columns, the CI at the run's
    level) from its effects rows `here`; returns their `full` records."""
    records = []
    for estimands, estimate_column, p_column in PREPOST_EFFECTS:
        found = here[here["estimand"].isin(estimands)]
        if found.empty:
            continue
        effect = found.iloc[0]
        line[estimate_column.replace("{ci}", ci_level(spec))] = _estimate_cell(spec, effect, notes)
        line[p_column] = format_p(effect["p_value"])
        records.append({"record": "effect", **effect.to_dict()})
    return records


def _prepost_summary_cell(spec: dict, oid: str, kind: str, s: pd.Series) -> str:
    """An arm's median (IQR) change and n (scores), or events/n (%) at post (categories)."""
    if kind == "score":
        decimals = estimate_decimals(spec, oid)
        return f"{format_iqr(s['median'], s['q1'], s['q3'], decimals)}; n = {int(s['n'])}"
    if is_missing(s["n_events"]):
        return DASH
    return f"{int(s['n_events'])}/{int(s['n'])} ({format_number(100 * s['proportion'], 1)})"


# The prepost table's CSV: one row per arm summary and per effect, in the printed order:
# the change-score summary's columns, then the effect's.
PREPOST_COLUMNS = [
    "record",
    "outcome_label",
    *PREPOST_SUMMARY_COLUMNS,
    *("contrast", "estimand", "estimate", "ci_low", "ci_high", "p_value", "p_adjusted"),
    *("method", "note"),
]


def association_table(
    spec: dict, effects: pd.DataFrame, association_counts: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per exposure and level: n, events (%), adjusted odds ratio (95% CI, the run's level), P;
    the reference level prints "1 (reference)"."""
    ors = effects[(effects["estimand"] == "odds_ratio") & (effects["analysis"] == "association")]
    options = spec["analyses"].get("association") or {}
    outcome_id = options.get("outcome") or (ors["outcome"].iloc[0] if len(ors) else "")
    event_label = typographic(_outcome(spec, outcome_id)["label"]) if outcome_id else "Events"
    several_sets = association_counts["analysis_set"].nunique() > 1
    notes = Notes()
    printed, records = [], []
    or_column = f"Odds ratio ({ci_level(spec)} CI)"
    # a secondary outcome's P values are adjusted for multiplicity: show both
    adjusted = bool((ors["role"] == "secondary").any())
    events_column = f"{event_label.split(' (')[0]}, n (%)"
    order = list(dict.fromkeys(association_counts["exposure"]))
    exposures = [e for e in options.get("exposures", []) if e in order]
    exposures += [e for e in order if e not in exposures]
    for analysis_set in association_counts["analysis_set"].drop_duplicates():
        for exposure in exposures:
            counts = association_counts[
                (association_counts["exposure"] == exposure)
                & (association_counts["analysis_set"] == analysis_set)
            ]
            here = ors[(ors["exposure"] == exposure) & (ors["analysis_set"] == analysis_set)]
            heading = outcome_label(spec, exposure)
            if several_sets:
                heading += f" ({_set_label(analysis_set, spec)})"
            printed.append({"Exposure and level": typographic(heading)})
            # contrast "<level> - <reference>": the OR row of each non-reference level
            by_level = {str(r["contrast"]).split(" - ")[0]: r for r in here.to_dict("records")}
            for _, count in counts.iterrows():
                label = str(count["label"])
                line = {
                    "Exposure and level": INDENT + label,
                    "n": str(int(count["n"])),
                    events_column: format_count_percent(count["events"], count["n"]),
                }
                record = {
                    "exposure": exposure,
                    "exposure_label": outcome_label(spec, exposure),
                    **count.drop(labels=["exposure"]).to_dict(),
                }
                _odds_ratio_cells(spec, by_level.get(label), line, record, or_column, notes)
                printed.append(line)
                records.append(record)
    columns = ["Exposure and level", "n", events_column, or_column, "P"]
    columns += ["Adjusted P"] if adjusted else []
    formatted = pd.DataFrame(printed, columns=columns).fillna("")
    formatted.attrs["footnotes"] = notes.lines()
    return pd.DataFrame(records), formatted


def _odds_ratio_cells(spec, effect, line: dict, record: dict, or_column: str, notes) -> None:
    """A level's odds ratio, P and adjusted P into its printed `line` and CSV `record`; the
    reference level (no `effect`) prints "1 (reference)"."""
    if effect is None:
        line[or_column], line["P"], line["Adjusted P"] = "1 (reference)", "", ""
        record.update(reference=True, estimate=1.0)
        return
    line[or_column] = _estimate_cell(spec, effect, notes)
    line["P"] = format_p(effect["p_value"])
    line["Adjusted P"] = format_p(effect["p_adjusted"])
    record.update(
        reference=False,
        **{k: effect[k] for k in ("estimate", "ci_low", "ci_high", "p_value")},
        p_adjusted=effect["p_adjusted"],
        note=effect["note"],
    )


# --------------------------------------------------------------------------------------
# Reliability and completion
# --------------------------------------------------------------------------------------


def reliability_table(spec: dict, reliability: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cronbach's alpha per subscale (rows) per timepoint (columns), "0.88 (n = 308)"."""
    timepoints = _timepoint_labels(spec)
    present = list(dict.fromkeys(reliability["timepoint"])) if len(reliability) else []
    order = [t for t in timepoints if t in present] + [t for t in present if t not in timepoints]
    columns = ["Subscale", "Items"] + [timepoints.get(t, t) for t in order]
    printed = []
    for (inst_id, _), rows in reliability.groupby(
        ["instrument", "subscale"], sort=False, dropna=False
    ):
        inst = spec["instruments"].get(inst_id)
        label = str(rows["label"].iloc[0])
        abbreviation = instrument_abbreviation(inst) if inst else ""
        if abbreviation and abbreviation not in label:
            label = f"{label} ({abbreviation})"
        line = {"Subscale": label, "Items": str(int(rows["n_items"].iloc[0]))}
        for _, row in rows.iterrows():
            line[timepoints.get(row["timepoint"], row["timepoint"])] = (
                f"{format_number(row['alpha'], 2)} (n = {int(row['n_complete'])})"
            )
        printed.append(line)
    formatted = pd.DataFrame(printed, columns=columns).fillna(DASH)
    full = reliability.copy()
    full["timepoint_label"] = full["timepoint"].map(timepoints).fillna(full["timepoint"])
    if full.empty:
        formatted.attrs["footnotes"] = [
            "No outcome is measured with a multi-item subscale, so internal consistency is not "
            "estimable."
        ]
    return full, formatted


def missingness_table(spec: dict, consort: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Completion by arm and timepoint: assessed / analysed (intention-to-treat) n (%)."""
    arms = list(consort["arms"].items())
    groups = arms + ([("overall", "Overall")] if len(arms) > 1 else [])
    surveyed = spec["design"] == "cross_sectional"
    # a cohort comparison's primary set is everyone surveyed (its non-respondents too)
    frame = "Surveyed, n" if surveyed or spec["design"] == "cohort_comparison" else None
    # N: the itt set; for a survey (whose itt is its respondents) everyone surveyed
    itt = dict(consort["analysed"]["itt"])
    if surveyed:
        itt = {a: consort["allocated"][a] - consort["withdrawn"][a] for a in itt}
    itt["overall"] = sum(itt.values())

    def count(table: dict, arm: str) -> int:
        return sum(table.values()) if arm == "overall" else int(table[arm])

    rows = [("analysed", frame or f"{_upper_first(set_name('itt', spec))}, n", None)]
    rows += [
        (
            f"assessed_{t}",
            "Responded to the survey"
            if len(consort["timepoints"]) == 1
            else f"Responded at {_lower_first(label)}",
            consort["assessed"][t],
        )
        for t, label in consort["timepoints"].items()
    ]
    if len(consort["timepoints"]) > 1:
        every = consort["analysed"]["complete_case"]
        rows.append(("complete_case", "Responded at every timepoint", every))
        # an outcome's complete case (scored at every timepoint) where it has fewer
        by_outcome = consort.get("analysed_by_outcome", {}).get("complete_case", {})
        rows += [
            (
                f"complete_case:{o}",
                f"{INDENT}{typographic(outcome_label(spec, o))} scored at every timepoint",
                counts,
            )
            for o, counts in by_outcome.items()
            if counts != every
        ]
        rows.append(("no_data", "Responded at no timepoint", consort["no_data_at_any_timepoint"]))
    printed, records = [], []
    for key, label, table in rows:
        line = {"": label if table is None else f"{label}, n/N (%)"}
        for arm, arm_label in groups:
            n = itt[arm]
            if table is None:
                line[arm_label] = str(n)
                records.append({"row": key, "group": arm, "count": n, "n": n, "percent": 100.0})
                continue
            k = count(table, arm)
            pct = 100 * k / n if n else np.nan
            line[arm_label] = f"{k}/{n} ({format_number(pct, 1)})"
            records.append({"row": key, "group": arm, "count": k, "n": n, "percent": pct})
        printed.append(line)
    formatted = pd.DataFrame(printed)
    formatted.columns = ["Survey completion"] + [label for _, label in groups]
    return pd.DataFrame(records), formatted


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


# (≥: a count withheld by disclosure control, "≥5")
NUMERIC_CELL = re.compile(r"^[\d<>.\u2212\u2014\u221e\u2265]")


def _right_aligned(formatted: pd.DataFrame) -> list[bool]:
    """Columns of numbers (every non-empty cell starts like a number) align right."""
    flags = []
    for j in range(formatted.shape[1]):
        cells = [str(v) for v in formatted.iloc[:, j] if str(v)]
        flags.append(j > 0 and bool(cells) and all(NUMERIC_CELL.match(c) for c in cells))
    return flags


# Markdown passes raw HTML through, and cells hold text from the exports and the trial file
# (levels, labels): what CommonMark would read as markup becomes an entity, and nothing else,
# so "<.001", "<11" (a withheld count) and "≥5" print as typed in the .md itself. "<" starts
# a tag, comment or autolink only before a letter, "/", "!" or "?"; "&" an entity only before
# a letter or "#"; ">" matters only opening a line (a block quote). In cells the inline markup
# characters are backslash-escaped, so a level prints as typed rather than as emphasis, code
# or a link; "|" would end the cell.
MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]~|])")
MARKDOWN_HTML = re.compile(r"&(?=[A-Za-z#])|<(?=[A-Za-z/!?])|^(?P<lead>[ \t]*)>", re.M)
MARKDOWN_ENTITIES = {"&": "&amp;", "<": "&lt;"}


def _markdown_text(text) -> str:
    """Title and footnote prose: markup characters as entities where Markdown would read them
    as HTML (MARKDOWN_HTML), the pipeline's own markup ("a * b") kept."""

    def entity(found: re.Match) -> str:
        lead = found.group("lead")
        return MARKDOWN_ENTITIES[found.group()] if lead is None else f"{lead}&gt;"

    return MARKDOWN_HTML.sub(entity, str(text))


def _markdown_cell(text) -> str:
    """A cell never opens a line ("| " comes first): a leading ">" (">.99") stays as typed."""
    text = MARKDOWN_HTML.sub(lambda m: MARKDOWN_ENTITIES.get(m.group(), m.group()), str(text))
    return MARKDOWN_INLINE.sub(r"\\\1", text).replace("\n", " ")


def _markdown(formatted: pd.DataFrame, title: str, footnote: str) -> str:
    cell = _markdown_cell
    header = "| " + " | ".join(map(cell, formatted.columns)) + " |"
    rule = "|" + "|".join("---:" if r else ":---" for r in _right_aligned(formatted)) + "|"
    headings = formatted.attrs.get("headings", {})
    body = []
    for i, row in enumerate(formatted.to_numpy()):
        cells = list(map(cell, row))
        if i in headings:  # a block heading: emphasised, the other cells empty
            mark = "**" if headings[i] == HEADING else "*"
            cells = [f"{mark}{cells[0]}{mark}"] + [""] * (len(cells) - 1)
        body.append("| " + " | ".join(cells) + " |")
    parts = [f"### {_markdown_text(title)}", "", header, rule, *body, ""]
    parts += [_markdown_text(p) for para in footnote.split("\n") if para for p in (para, "")]
    return "\n".join(parts)


def _html(formatted: pd.DataFrame, title: str, footnote: str) -> str:
    """The table as an HTML fragment; in its cells ranges, CIs and "≥n" / "<k" in nowrap spans
    (`formatting.nowrap_html`), so a narrow screen wraps the words around them only (the
    caption and notes are prose, left to wrap)."""
    esc = nowrap_html
    cell = "padding:2px 8px;border-bottom:1px solid #ddd;"
    align = ["right" if r else "left" for r in _right_aligned(formatted)]
    # numbers never wrap ("28.3 (25.9 to" over "30.6)"); the label column wraps instead
    wrap = [";white-space:nowrap" if a == "right" else "" for a in align]
    label_width = ";min-width:12em"  # so the labels wrap rather than the numbers
    head = "".join(
        f'<th style="padding:2px 8px;border-bottom:2px solid #333;text-align:{align[i]}'
        f'{label_width if i == 0 else ""}">{esc(str(c))}</th>'
        for i, c in enumerate(formatted.columns)
    )
    headings = formatted.attrs.get("headings", {})
    body = []
    for k, row in enumerate(formatted.to_numpy()):
        if k in headings:  # a block heading spans the table
            emphasis = "font-weight:bold" if headings[k] == HEADING else "font-style:italic"
            body.append(
                f'<tr><td colspan="{formatted.shape[1]}" style="{cell}{emphasis};'
                f'padding-top:6px">{esc(str(row[0]))}</td></tr>'
            )
            continue
        tds = "".join(
            f'<td style="{cell}text-align:{align[i]}{wrap[i]}">{esc(str(v))}</td>'
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{tds}</tr>")
    notes = "<br>".join(html.escape(p) for p in footnote.split("\n") if p)  # prose: wraps
    return (
        '<table style="border-collapse:collapse;font-family:sans-serif;font-size:0.9em">\n'
        f'<caption style="caption-side:top;text-align:left;font-weight:bold;'
        f'padding-bottom:6px">{html.escape(title)}</caption>\n'
        f"<thead><tr>{head}</tr></thead>\n"
        "<tbody>\n" + "\n".join(body) + "\n</tbody>\n"
        f'<tfoot><tr><td colspan="{formatted.shape[1]}" style="padding:6px 8px;'
        f'font-size:0.85em;border-top:2px solid #333"><div class="table-notes">{notes}</div>'
        "</td></tr></tfoot>\n"
        "</table>\n"
    )


def _grouped(formatted: pd.DataFrame) -> pd.DataFrame:
    """The columns of numbers with thousands separators (1,234), in every printed format
    alike; the CSV keeps plain numbers, the labels (and any year in them) stay as written."""
    grouped = formatted.copy()
    for j, numbers in enumerate(_right_aligned(formatted)):
        if numbers:
            grouped.iloc[:, j] = formatted.iloc[:, j].map(group_thousands)
    grouped.attrs = dict(formatted.attrs)
    return grouped


# Word tables as journals set them. Lengths in twips (1/1440 in), Word's own unit, so widths
# add up exactly. US Letter with 1 in margins: 6.5 in of text width, 9 in on a landscape page.
TWIPS_PER_INCH = 1440
TEXT_WIDTH = {"portrait": int(6.5 * TWIPS_PER_INCH), "landscape": 9 * TWIPS_PER_INCH}
CELL_PADDING = 2 * 108  # Word's default left + right cell margins
LABEL_MIN = int(1.75 * TWIPS_PER_INCH)  # the label column wraps rather than going narrower
TEXT_COLUMN_MAX = 2 * TWIPS_PER_INCH  # a prose column (not numbers) wraps beyond this
LEVEL_INDENT = 180  # one em at 9 pt per indentation level (INDENT in the other formats)
TABLE_PT, NOTE_PT = 9, 8
# Arial, named (not the template's theme font): journals accept it, and its metrics are the
# ones _text_twips estimates; where Arial is missing (Linux) LibreOffice uses the metrically
# identical Liberation Sans. With the theme's Cambria replaced by a wider serif font, columns
# sized for it wrapped numbers ("37" / "0").
FONT = "Arial"


# Advance widths of Arial (= Liberation Sans, metrically identical), in 1/1000 em, of the
# printable ASCII characters " " to "~" in order, regular and bold; read from the font's hmtx
# table with fontTools (checked against the positions of the words LibreOffice prints in the
# PDF of a demo table: "25.0 (19.0 to 30.0), n = 85" is 103.8 pt at 9 pt, as summed here).
ARIAL_ASCII = (
    "278 278 355 556 556 889 667 191 333 333 389 584 278 333 278 278 556 556 556 556 556 556 "
    "556 556 556 556 278 278 584 584 584 556 1015 667 667 722 722 667 611 778 722 278 500 667 "
    "556 833 722 778 667 778 722 667 611 722 667 944 667 667 611 278 278 278 469 556 333 556 "
    "556 500 556 556 278 556 556 222 222 500 222 833 556 556 556 556 333 500 278 556 500 722 "
    "500 500 500 334 260 334 584"
)
ARIAL_BOLD_ASCII = (
    "278 333 474 556 556 889 722 238 333 333 389 584 278 333 278 278 556 556 556 556 556 556 "
    "556 556 556 556 333 333 584 584 584 611 975 722 722 722 722 667 611 778 722 278 556 722 "
    "611 833 722 778 667 778 722 667 611 722 667 944 667 667 611 333 278 333 584 556 333 556 "
    "611 556 611 556 333 611 611 278 278 556 278 889 611 611 611 611 389 556 333 611 556 778 "
    "556 556 500 389 280 389 584"
)
# the tables' non-ASCII characters (same in bold): minus, ≥, ≤, em and en dash, no-break
# space, ∞, ², ×; a footnote letter is set as a superscript (about 2/3 of a letter)
ARIAL_OTHER = {"\u2212": 584, "≥": 549, "≤": 549, "—": 1000, "–": 556, "\u00a0": 278}
ARIAL_OTHER |= {"∞": 713, "²": 333, "×": 584, **dict.fromkeys(MARKERS, 370)}


def _arial_widths(table: str) -> dict[str, int]:
    return {chr(32 + k): int(w) for k, w in enumerate(table.split())} | ARIAL_OTHER


ARIAL = {False: _arial_widths(ARIAL_ASCII), True: _arial_widths(ARIAL_BOLD_ASCII)}


def _text_twips(text: str, bold: bool = False) -> int:
    """Printed width of `text` at 9 pt in Arial, from its advance widths (ARIAL), 4% to
    spare: a cell exactly as wide as its text wraps the last word in LibreOffice, and Word
    rounds glyph widths to its layout grid. A character not in the table counts as wide as
    a capital."""
    widths = ARIAL[bold]
    em = TABLE_PT * 20  # twips per em
    return -(-sum(widths.get(c, 722) for c in text) * em * 104 // 100_000)


def _set_font(document, name: str) -> None:
    """Every run of the document in `name`: the default run font (docDefaults) and the Normal
    style, theme-font attributes removed (they would take precedence over the name)."""
    from docx.oxml.ns import qn

    defaults = document.styles.element.find(qn("w:docDefaults"))
    targets = [document.styles["Normal"].element.get_or_add_rPr()]
    if defaults is not None:
        run_defaults = defaults.find(qn("w:rPrDefault"))
        if run_defaults is not None and run_defaults.find(qn("w:rPr")) is not None:
            targets.append(run_defaults.find(qn("w:rPr")))
    for rpr in targets:
        fonts = rpr.find(qn("w:rFonts"))
        if fonts is None:
            fonts = rpr.makeelement(qn("w:rFonts"), {})
            rpr.insert(0, fonts)
        for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
            fonts.attrib.pop(qn(theme), None)
        for slot in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
            fonts.set(qn(slot), name)


def _indent_level(label: str) -> int:
    """How many INDENTs a label starts with (its non-breaking spaces, in Word an indent)."""
    spaces = len(label) - len(label.lstrip("\u00a0"))
    return -(-spaces // len(INDENT))


def _column_widths(rows: list[list[str]], right: list[bool]) -> tuple[list[int], str]:
    """Column widths (twips) and the page orientation. Each column needs its longest cell
    (headers may wrap between words); numbers get what they need, the label column what it
    needs up to the rest of the text width; landscape when that leaves the label column too
    narrow. When
    even landscape is too narrow, prose columns wrap first (down to their longest word),
    then the label column (down to its longest word); number columns keep their width
    unless they alone overflow the page, when every column but the label is scaled."""
    header, body = rows[0], rows[1:]
    need, least = [], []
    for j, title in enumerate(header):
        cells = [str(r[j]) for r in body]
        if j == 0:
            widths = [
                _text_twips(c.lstrip("\u00a0")) + LEVEL_INDENT * _indent_level(c) for c in cells
            ]
        else:
            widths = [_text_twips(c) for c in cells]
        words = [_text_twips(w, bold=True) for w in str(title).split()]
        # a number column's header wraps to HEADER_LINES lines at most
        fit = [_header_twips(str(title))] if j and right[j] else words
        width = max(widths + fit + [0]) + CELL_PADDING
        need.append(width if j == 0 or right[j] else min(width, TEXT_COLUMN_MAX))
        longest_word = max([_text_twips(w) for c in cells for w in c.split()] + words + [0])
        least.append(need[-1] if right[j] else min(need[-1], longest_word + CELL_PADDING))
    others = sum(need[1:])
    label = min(need[0], LABEL_MIN)
    orientation = "portrait" if others + label <= TEXT_WIDTH["portrait"] else "landscape"
    total = TEXT_WIDTH[orientation]
    if others + label <= total:
        # the label column as wide as its longest label, up to the rest of the text width: a
        # short table is narrower than the page rather than its labels far from the numbers
        widths = [min(need[0], total - others), *need[1:]]
        return _unwrapped_headers(widths, header, right, total), orientation
    prose = [j for j in range(1, len(need)) if not right[j]]
    fixed = sum(need[j] for j in range(1, len(need)) if right[j])
    shrink = sum(need[j] - least[j] for j in prose)
    excess = others + label - total
    widths = list(need)
    widths[0] = label
    if shrink >= excess:  # the prose columns give up room in proportion to their slack
        for j in prose:
            widths[j] = need[j] - -(-(need[j] - least[j]) * excess // shrink)
        return widths, orientation
    # Numbers do not wrap (a wrapped n reads "37" over "0"): the label column gives up room
    # next, down to its longest word.
    for j in prose:
        widths[j] = least[j]
    room = total - fixed - sum(least[j] for j in prose)
    if room >= least[0]:
        widths[0] = room
        return widths, orientation
    # More numbers than a landscape page holds: every column but the label shares the page.
    scale = (total - label) / (fixed + sum(least[j] for j in prose))
    for j in range(1, len(need)):
        widths[j] = int((need[j] if right[j] else least[j]) * scale)
    return widths, orientation


HEADER_LINES = 3  # a number column's header wraps to 3 lines at most


def _header_lines(words: list[str], room: int) -> int:
    """Lines a bold header of `words` takes wrapped greedily at `room` twips (Word's way)."""
    lines, line = 0, ""
    for word in words:
        wider = f"{line} {word}" if line else word
        if line and _text_twips(wider, bold=True) > room:
            lines, line = lines + 1, word
        else:
            line = wider
    return lines + bool(line)


def _header_twips(title: str, lines: int = HEADER_LINES) -> int:
    """The narrowest text width at which `title` (bold) wraps to `lines` lines at most: the
    width of one of its runs of words, the shortest that is enough and holds its widest word
    (narrower, Word breaks the word itself: "Adju-sted P")."""
    words = title.split()
    widest = max((_text_twips(w, bold=True) for w in words), default=0)
    runs = {
        _text_twips(" ".join(words[i:k]), bold=True)
        for i in range(len(words))
        for k in range(i + 1, len(words) + 1)
    }
    runs = sorted(w for w in runs if w >= widest)
    return next((w for w in runs if _header_lines(words, w) <= lines), max(runs, default=0))


def _unwrapped_headers(widths: list[int], header: list[str], right: list[bool], total: int):
    """What the text width leaves over widens the number columns whose header would wrap
    ("Graded" over "(2019)"), each to its header's width, in proportion when short."""
    more = [
        max(0, _text_twips(str(h), bold=True) + CELL_PADDING - w) if right[j] else 0
        for j, (h, w) in enumerate(zip(header, widths, strict=True))
    ]
    spare = total - sum(widths)
    if not sum(more) or spare <= 0:
        return widths
    share = min(1.0, spare / sum(more))
    return [w + int(m * share) for w, m in zip(widths, more, strict=True)]


def _border(tag: str, size: int | None = None):
    """A border element: a single rule of `size` eighths of a point, or none ("nil")."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    element = OxmlElement(f"w:{tag}")
    if size is None:
        element.set(qn("w:val"), "nil")
    else:
        for key, value in (("val", "single"), ("sz", str(size)), ("space", "0"), ("color", "auto")):
            element.set(qn(f"w:{key}"), value)
    return element


def _three_line_rules(table) -> None:
    """Rules above and below the table (1 pt) and under the header row (0.5 pt), no others.
    python-docx has no border API: w:tblBorders in the table's properties, w:tcBorders in
    each header cell's, inserted where the schema orders them."""
    from docx.oxml import OxmlElement

    borders = OxmlElement("w:tblBorders")
    for tag, size in (("top", 8), ("left", None), ("bottom", 8), ("right", None)):
        borders.append(_border(tag, size))
    borders.append(_border("insideH"))
    borders.append(_border("insideV"))
    table._tbl.tblPr.insert_element_before(
        borders, "w:shd", "w:tblLayout", "w:tblCellMar", "w:tblLook", "w:tblCaption"
    )
    for cell in table.rows[0].cells:
        cell_borders = OxmlElement("w:tcBorders")
        cell_borders.append(_border("bottom", 4))
        cell._tc.get_or_add_tcPr().insert_element_before(
            cell_borders, "w:shd", "w:noWrap", "w:tcMar", "w:textDirection", "w:vAlign"
        )


def _docx_bytes(formatted: pd.DataFrame, title: str, footnote: str) -> bytes:
    """A Word document with the title, a three-line table sized to its content and the
    notes below it, byte-identical run to run."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Inches, Pt, Twips

    rows = [
        [str(v) for v in formatted.columns],
        *[[str(v) for v in r] for r in formatted.to_numpy()],
    ]
    right = _right_aligned(formatted)
    headings = {i + 1: level for i, level in formatted.attrs.get("headings", {}).items()}
    # a heading row spans the table, so it does not widen the label column
    sized = [[""] * len(r) if i in headings else r for i, r in enumerate(rows)]
    widths, orientation = _column_widths(sized, right)
    document = Document()
    _set_font(document, FONT)
    section = document.sections[0]
    section.left_margin = section.right_margin = Inches(1)
    if orientation == "landscape":
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
    heading = document.add_paragraph(style=_caption_style(document))
    _add_text(heading, title)
    heading.paragraph_format.keep_with_next = True  # the title stays on the table's page
    table = document.add_table(rows=len(rows), cols=len(widths))  # no style: no rules but ours
    table.autofit = False  # fixed layout: Word keeps the widths below
    table._tbl.tblPr.find(qn("w:tblW")).set(qn("w:type"), "dxa")
    table._tbl.tblPr.find(qn("w:tblW")).set(qn("w:w"), str(sum(widths)))
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Twips(width)
    _three_line_rules(table)
    table.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))  # repeats per page
    # row.cells, not table.cell(i, j): the latter rescans the whole table on every call
    for i, (row, values) in enumerate(zip(table.rows, rows, strict=True)):
        if i in headings:
            _heading_row(row, values[0], headings[i])
            continue
        for j, (cell, value) in enumerate(zip(row.cells, values, strict=True)):
            cell.width = Twips(widths[j])
            paragraph = cell.paragraphs[0]
            layout = paragraph.paragraph_format
            layout.space_after, layout.line_spacing = Pt(0), 1.0
            following = rows[i + 1][0] if i + 1 < len(rows) else ""
            if i > 0 and _indent_level(following) > _indent_level(values[0]):
                layout.keep_with_next = True  # a label stays on the page of its levels
            if j == 0 and i > 0 and _indent_level(value):  # a real indent, not spaces
                layout.left_indent = Twips(LEVEL_INDENT * _indent_level(value))
                value = value.lstrip("\u00a0")
            _add_text(paragraph, value, TABLE_PT, bold=i == 0)
            if right[j]:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            _mark_size(paragraph, TABLE_PT)
    # table notes: smaller paragraphs set directly under the table
    for k, para in enumerate(p for p in footnote.split("\n") if p):
        note = document.add_paragraph()
        _add_text(note, para, NOTE_PT)
        layout = note.paragraph_format
        layout.space_before, layout.space_after, layout.line_spacing = (
            Pt(3 if k == 0 else 0),
            Pt(0),
            1.0,
        )
    properties = document.core_properties
    properties.created = properties.modified = properties.last_printed = FIXED_TIME
    properties.title = title
    raw = io.BytesIO()
    document.save(raw)
    return _normalise_zip(raw.getvalue())


# Word sets a footnote mark as a superscript run of the letter (Arial has no glyphs for most
# of the Unicode superscript letters, ᵃ among them: Word would substitute another font).
MARKER_LETTERS = dict(zip(MARKERS, "abcdefghijklmnoprstuvwxyz", strict=True))
MARKER_SPLIT = re.compile(f"([{MARKERS}]+)")
CAPTION_PT = 10


def _add_text(paragraph, text: str, points=None, *, bold=None, italic=None) -> None:
    """`text` as runs of the paragraph: `points` in size (the style's when None), each
    footnote marker a superscript run of its letter."""
    from docx.shared import Pt

    for k, piece in enumerate(MARKER_SPLIT.split(text)):
        if not piece:
            continue
        marker = k % 2 == 1  # split() puts the captured markers at the odd places
        run = paragraph.add_run("".join(MARKER_LETTERS[c] for c in piece) if marker else piece)
        run.font.superscript = True if marker else None
        if points is not None:
            run.font.size = Pt(points)
        if bold is not None:
            run.bold = bold
        if italic is not None:
            run.italic = italic


def _caption_style(document):
    """Word's built-in "Caption" style for the table's title (so Word's list of tables and
    cross-references find it), set as the title was: bold, black (not the template's blue),
    CAPTION_PT, kept with the table."""
    from docx.shared import Pt, RGBColor

    style = document.styles["Caption"]
    style.font.bold, style.font.italic = True, False
    style.font.size = Pt(CAPTION_PT)
    style.font.color.rgb = RGBColor(0, 0, 0)
    style.paragraph_format.keep_with_next = True
    style.paragraph_format.space_after = Pt(6)
    return style


def _mark_size(paragraph, points: int) -> None:
    """The paragraph mark in `points` too: an empty cell's line would otherwise be as tall as
    the template's 11 pt, and a row of empty cells (a label above its levels) stand out."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    marks = OxmlElement("w:rPr")
    for tag in ("w:sz", "w:szCs"):
        size = OxmlElement(tag)
        size.set(qn("w:val"), str(2 * points))
        marks.append(size)
    paragraph._p.get_or_add_pPr().append(marks)


def _heading_row(row, text: str, level: int) -> None:
    """A block heading: its cells merged into one spanning the table, bold (a block) or
    italic (a sub-heading), kept with the rows under it."""
    from docx.shared import Pt

    cells = row.cells
    merged = cells[0].merge(cells[-1]) if len(cells) > 1 else cells[0]
    paragraph = merged.paragraphs[0]
    layout = paragraph.paragraph_format
    layout.space_after, layout.line_spacing, layout.keep_with_next = Pt(0), 1.0, True
    layout.space_before = Pt(3 if level == HEADING else 0)
    if level == HEADING:
        _add_text(paragraph, text, TABLE_PT, bold=True)
    else:
        _add_text(paragraph, text, TABLE_PT, italic=True)
    _mark_size(paragraph, TABLE_PT)


def _normalise_zip(data: bytes) -> bytes:
    """The same zip with fixed entry times, attributes and compression, members in order."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        with zipfile.ZipFile(out, "w") as target:
            for info in source.infolist():
                entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.create_system = 3
                entry.external_attr = 0o644 << 16
                target.writestr(entry, source.read(info.filename), compresslevel=6)
    return out.getvalue()


def write_table(
    full: pd.DataFrame, formatted: pd.DataFrame, stem: str | Path, *, title: str, footnote: str
) -> None:
    """stem.csv (full precision), stem.md, stem.html and stem.docx, each written atomically."""
    stem = str(stem)
    write_csv(full, f"{stem}.csv")
    formatted = _grouped(formatted)
    texts = {
        ".md": _markdown(formatted, title, footnote),
        ".html": _html(formatted, title, footnote),
    }
    for suffix, text in texts.items():
        with atomic_path(stem + suffix) as tmp:
            tmp.write_bytes(text.encode("utf-8"))
    with atomic_path(stem + ".docx") as tmp:
        tmp.write_bytes(_docx_bytes(formatted, title, footnote))


# --------------------------------------------------------------------------------------
# Titles, footnotes and the rule entry
# --------------------------------------------------------------------------------------


def multiplicity_rule(effects: pd.DataFrame, spec: dict) -> str:
    """The multiplicity rule in words: spec["multiplicity"] when given, else the method that
    reproduces effects.p_adjusted (the pipeline's config is not part of the trial spec)."""
    from trialeval.effects import adjust_trial, primary_measures

    method = spec.get("multiplicity")
    if method is None and len(effects):
        secondary = effects["role"] == "secondary"
        if not secondary.any() and primary_rule(spec) != "any":
            return "All outcomes are primary; P values are not adjusted."
        for candidate in ("holm", "fdr_bh", "none"):
            redone = adjust_trial(effects, spec, candidate)["p_adjusted"]
            if np.allclose(
                redone.to_numpy(dtype=float),
                effects["p_adjusted"].to_numpy(dtype=float),
                equal_nan=True,
            ):
                method = candidate
                break
    if method == "none":
        return "P values are not adjusted for multiplicity."
    how = MULTIPLICITY_TEXT.get(method, "a multiplicity correction")
    families = (
        "(the outcomes' primary effect measures together, each supportive measure among "
        "its own), within each visit and analysis set"
        if primary_measures(spec)
        else "within each effect measure, visit and analysis set"
    )
    primary = (
        f"primary outcomes' P values are adjusted by {how} across the primary outcomes and "
        f"arms {families}; "
        if primary_adjusted({**spec, "multiplicity": method})
        else f"{DASH} for primary outcomes, which are not adjusted for multiplicity; "
    )
    return (
        f"Adjusted P: {primary}"
        f"secondary outcomes' P values are adjusted by {how} within each family of "
        "secondary outcomes sharing the analysis, effect measure, comparison, visit and "
        "analysis set."
    )


def primary_comparisons(effects: pd.DataFrame) -> int:
    """The primary comparisons of the primary analysis: its (primary outcome, contrast)
    pairs (an association's exposure levels are not comparisons of arms)."""
    if not {"role", "analysis", "outcome", "contrast"} <= set(effects.columns):
        return 0  # not effects.csv's rows (a summary's own frame)
    chosen = (effects["role"] == "primary") & (effects["analysis"] != "association")
    rows = effects[chosen & (_analysis_names(effects) == "primary")]
    return len(rows[["outcome", "contrast"]].drop_duplicates())


PRIMARY_CONTROL = {
    "holm": "controls the familywise error rate",
    "fdr_bh": "controls the false discovery rate, not the familywise error rate",
}


def primary_multiplicity(spec: dict, effects: pd.DataFrame) -> str:
    """How the trial decides success across several primary comparisons (primary outcomes or
    arms), from analyses.multiplicity.primary; "" with a single primary comparison."""
    if primary_comparisons(effects) < 2:
        return ""
    rule = primary_rule(spec)
    alpha = f"α = {spec.get('alpha', 0.05):g}"
    if rule is None:
        return (
            "How multiplicity across primary comparisons is handled is not stated in the "
            "configuration."
        )
    if rule == "all":
        return (
            f"The trial succeeds only if every primary comparison is significant at {alpha} "
            "(intersection–union test), so P values for primary outcomes are not adjusted."
        )
    method = spec.get("multiplicity") or "holm"
    line = f"The trial succeeds if any primary comparison is significant at {alpha}"
    if method == "none":
        return line + (
            "; P values for primary outcomes are not adjusted (no correction is configured), "
            "so the familywise error rate across them is not controlled."
        )
    return line + (
        ", so P values for primary outcomes are adjusted across the primary outcomes and arms "
        f"by {MULTIPLICITY_TEXT[method]}, which {PRIMARY_CONTROL[method]}."
    )


def _methods(spec: dict, effects: pd.DataFrame) -> list[str]:
    """The models (effects.method), each once, with the estimands it gives; outcome and
    timepoint ids are generalised so one model fitted to many outcomes prints once."""
    estimands: dict[str, list[str]] = {}
    # the primary analysis's model first (MEASURE_ORDER), as Table 2 and the forest show them
    rank = [MEASURE_ORDER.get(e, 2) for e in effects["estimand"]]  # then the rest, in order
    for _, row in effects.iloc[np.argsort(rank, kind="stable")].iterrows():
        text = str(row["method"])
        if row["analysis"] == "association":
            text = re.sub(rf"\b{re.escape(str(row['exposure']))}\b", "exposure", text)
        else:
            text = re.sub(rf"\b{re.escape(str(row['outcome']))}\b", "outcome", text)
            text = re.sub(rf"\b{re.escape(str(row['timepoint']))}\b", "follow-up", text)
            text = re.sub(rf"\b{re.escape(str(spec['baseline']))}\b", "baseline", text)
        label = ESTIMAND_LABELS.get(row["estimand"], row["estimand"])
        estimands.setdefault(text, [])
        if label not in estimands[text]:
            estimands[text].append(label)
    covariates = {c["name"]: _lower_first(c["label"]) for c in spec.get("covariates") or []}
    return [
        f"{', '.join(labels[:1] + [_lower_first(x) for x in labels[1:]])}: ".replace(
            "Hodges-Lehmann", "Hodges–Lehmann"
        )
        + f"{journal_method(method_text(spec, text), covariates)}."
        for text, labels in estimands.items()
    ]


def shown_rows(spec: dict, frame: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The rows of an effects-like frame (an analysis_set column) the shared outputs show, and
    whether some were left out: per analysis, the per-protocol rows where that set equals the
    intention-to-treat set (no adherence rule) and the analysis has intention-to-treat rows too."""
    if frame.empty or "analysis_set" not in frame:
        return frame, False
    names = _analysis_names(frame)
    keep = pd.Series(True, index=frame.index)
    for _, index in frame.groupby(names, sort=False).groups.items():
        sets = frame.loc[index, "analysis_set"]
        keep[index] = sets.isin(shown_sets(spec, sets))
    return frame[keep].reset_index(drop=True), not keep.all()


def multi_arm_rule(spec: dict, effects: pd.DataFrame) -> str:
    """How multiplicity across arms is handled, when several arms are compared with the
    control: each contrast is a family of its own (trialeval.effects.adjust), so nothing is
    adjusted across arms."""
    arms = [a for a in spec.get("arms") or [] if a["id"] != spec.get("control_arm")]
    compared = effects.loc[effects["analysis"] != "association", "contrast"]
    if len(arms) < 2 or compared.nunique() < 2:
        return ""
    shown = ", ".join(contrast_label(spec, c) for c in dict.fromkeys(compared))
    whose = "the comparisons"
    if primary_adjusted(spec):  # the primary outcomes' are adjusted across arms (rule "any")
        if not (effects["role"] == "secondary").any():
            return ""
        whose = "secondary outcomes' comparisons"
    return (
        f"Multiple arms: {whose} ({shown}) are not adjusted for multiplicity across "
        "arms; each comparison forms its own family."
    )


def _sets_line(spec: dict, names) -> str:
    parts = [f"{_set_label(n, spec).lower()} ({analysis_set_definition(spec, n)})" for n in names]
    return f"Analysis set{'s' if len(parts) > 1 else ''}: " + "; ".join(parts) + "."


def _title(spec: dict, kind: str, text: str) -> str:
    name = table_name(spec, kind)
    return f"{name}. {text}" if name != "the table" else text


def table_name(spec: dict, kind: str) -> str:
    """How other outputs refer to table `kind`: "Table 2" (its number), "Table S1" (a
    supplementary table's), else "the table"."""
    from trialeval.config import report_items

    items = report_items(spec)
    if kind in items["tables"]:
        return f"Table {items['tables'].index(kind) + 1}"
    if kind in items["supplementary_tables"]:
        return f"Table S{items['supplementary_tables'].index(kind) + 1}"
    return "the table"


def _report_tables(spec: dict) -> list[str]:
    from trialeval.config import report_items

    return report_items(spec)["tables"]


def _read_effects(path: str) -> pd.DataFrame:
    from trialeval.effects import EFFECT_COLUMNS, effects_frame

    frame = read_csv(path)
    if frame.empty:
        return effects_frame([])
    frame["exposure"] = frame["exposure"].astype(object).where(frame["exposure"].notna(), "")
    frame["note"] = frame["note"].astype(object).where(frame["note"].notna(), "")
    return frame[EFFECT_COLUMNS]


def build(spec: dict, kind: str, inputs: dict[str, str]):
    """(full, formatted, title, footnote) of one table from the pipeline's files."""
    if kind not in KINDS:
        raise ValueError(f"unknown table {kind!r}; expected one of {', '.join(KINDS)}")
    builders = {
        "table1": _build_table1,
        "missingness_table": _build_missingness_table,
        "reliability_table": _build_reliability_table,
        "tipping_point": _tipping_point_build,
        "cohort_table": _build_cohort_table,
    }
    return builders.get(kind, _build_model_table)(spec, kind, inputs)


def _group_word(spec: dict) -> str:
    """What the table's columns are: arms, groups or cohorts."""
    if spec["design"] == "cohort_comparison":
        return "cohort"
    return "arm" if spec["design"] in RANDOMIZED else "group"


def _build_table1(spec: dict, kind: str, inputs: dict):
    group = _group_word(spec)
    if "covariate_labels" in inputs:
        labels = json.loads(Path(inputs["covariate_labels"]).read_text())
        spec = with_export_labels(spec, labels)
    full, formatted = table1(
        spec,
        pd.read_parquet(inputs["participants"]),
        pd.read_parquet(inputs["sets"]),
        pd.read_parquet(inputs["scores"]),
    )
    if "consort" in inputs:
        _check_n(spec, full, json.loads(Path(inputs["consort"]).read_text()))
    if spec["design"] == "cross_sectional":
        title = _title(spec, kind, "Characteristics of everyone surveyed, by response")
        scope = (
            "Everyone surveyed (the sampling frame, less consent withdrawals), respondents "
            "and non-respondents, on the frame's variables; survey measures are "
            "summarised among respondents."
        )
    elif _is_cohort(spec):
        title = _title(spec, kind, "Characteristics of respondents by cohort")
        scope = (
            "Respondents: the members of each cohort invited to the survey who returned it, "
            "less consent withdrawals; the participants the cohort comparisons use. The "
            f"outcomes are summarised and compared in {table_name(spec, 'cohort_table')}."
        )
    else:
        when = "Baseline characteristics"
        title = _title(spec, kind, f"{when} by {group} ({set_name('itt', spec)})")
        scope = f"{_upper_first(set_name('itt', spec))}: {analysis_set_definition(spec, 'itt')}."
    lines = [scope]
    why = (
        "too few items answered to score"
        if spec["design"] == "cross_sectional"
        else "no response at that timepoint, or too few items answered to score"
    )
    lines.append(
        "Percentages are of participants with a value. Missing: counts of participants "
        "without a value"
        + (f" (for outcome measures: {why})." if _describes_outcomes(spec) else ".")
    )
    if any(c.get("summary") == "median_iqr" for c in spec["covariates"]):
        lines.append("Median [IQR]: median [25th percentile, 75th percentile].")
    if _describes_outcomes(spec):
        lines.append(category_definitions(spec, [o["id"] for o in spec["outcomes"]]))
    if spec.get("control_arm"):
        lines.append(
            "SMD: standardized mean difference vs "
            f"{_arm_labels(spec)[spec['control_arm']]}: for numeric variables "
            "(m1 − m0) / √((s1² + s0²) / 2) with means and SDs (also where medians are "
            "shown), signed; for categorical and yes/no variables the multivariate SMD of "
            "Yang and Dalton (2012), √((p1 − p0)′ S⁻¹ (p1 − p0)), which has no sign."
        )
    footnote = "\n".join(line for line in lines if line)
    return full, formatted, title, footnote


def _build_missingness_table(spec: dict, kind: str, inputs: dict):
    group = _group_word(spec)
    consort = json.loads(Path(inputs["consort"]).read_text())
    full, formatted = missingness_table(spec, consort)
    title = _title(
        spec,
        kind,
        "Survey response"
        if spec["design"] == "cross_sectional"
        else f"Survey completion by {group}"
        + (" and timepoint" if len(consort["timepoints"]) > 1 else ""),
    )
    who = (
        "everyone surveyed, less consent withdrawals"
        if spec["design"] == "cross_sectional"
        else f"the {set_name('itt', spec)} ({analysis_set_definition(spec, 'itt')})"
    )
    footnote = f"N: {who}; n: those who returned the survey at that timepoint."
    if full["row"].str.startswith("complete_case:").any():
        footnote += (
            " Indented rows: participants with that outcome scored (enough items answered)"
            " at every timepoint, where fewer than those who returned every survey; they are"
            " the complete-case set of that outcome's analyses."
        )
        listed = set(full.loc[full["row"].str.startswith("complete_case:"), "row"])
        unlisted = [
            typographic(outcome_label(spec, o))
            for o in consort.get("analysed_by_outcome", {}).get("complete_case", {})
            if f"complete_case:{o}" not in listed
        ]
        if unlisted:  # said, so that a missing row does not read as an outcome left out
            footnote += (
                " Outcomes without an indented row, scored whenever the survey was returned"
                " (their complete-case set is those who returned every survey): "
                + ", ".join(unlisted)
                + "."
            )
    return full, formatted, title, footnote


def _build_reliability_table(spec: dict, kind: str, inputs: dict):
    full, formatted = reliability_table(spec, read_csv(inputs["reliability"]))
    title = _title(spec, kind, "Internal consistency of each subscale (Cronbach's alpha)")
    lines = formatted.attrs.get("footnotes", []) or [
        "Cronbach's alpha on the responses with every item of the subscale answered (n), "
        "reverse-keyed items recoded first; participants who withdrew consent excluded."
    ]
    return full, formatted, title, "\n".join(lines)


def _build_cohort_table(spec: dict, kind: str, inputs: dict):
    """Design cohort_comparison (trialeval.cohort_tables)."""
    from trialeval.cohort_tables import build_table

    return build_table(spec, inputs)


SIGN_NOTE = (
    "Differences are the first-named group minus the second; ratios the first over the second."
)


def _build_model_table(spec: dict, kind: str, inputs: dict):
    """Table 2 (effects_table), the pre/post table and the association table: the rows of
    effects.csv the table shows, and the notes every model table has."""
    effects, left_out = shown_rows(spec, _read_effects(inputs["effects"]))
    if kind == "effects_table" and has_effects_supplement(spec):
        left_out = False  # the per-protocol rows would be in Table S1, which says so
    # disclosure control: no estimate from withheld counts, no small count in a note
    effects = disclosure.shared_effects(effects, disclosure.load(inputs.get("disclosure")))
    parts = {
        "effects_table": _effects_table_parts,
        "effects_supplement": _effects_table_parts,
        "prepost_table": _prepost_table_parts,
        "association_table": _association_table_parts,
    }[kind]
    full, formatted, effects, title, extra = parts(spec, kind, inputs, effects)
    lines = _model_table_notes(spec, kind, effects, formatted, left_out, extra)
    return full, formatted, title, "\n".join(lines)


# Table 2 of a randomized trial holds the primary analysis's primary effect measures in its
# first analysis set (CONSORT's outcome item: each group's result and the effect with its
# precision, absolute and relative for binary outcomes); everything else the trial estimates
# is Table S1: model repeated's second effect, the adjusted odds ratios, the further analysis
# sets, the named sensitivity analyses. A manuscript prints Table 2 and puts S1 in its
# supplement; one table holding all of it ran to three pages for the demo trial.
TABLE2_BINARY = ("risk_ratio", "risk_difference")


def split_effects(spec: dict, effects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Table 2's rows, Table S1's) of effects.csv's shown rows; every row in Table 2 for a
    design without the split (non-randomized ones, whose Table 2 has one analysis set)."""
    primary = primary_effect(spec)
    if primary is None or effects.empty:
        return effects, effects.iloc[0:0]
    first = shown_sets(spec, spec["analyses"]["analysis_sets"])[0]
    main = (
        (_analysis_names(effects) == "primary")
        & (effects["analysis_set"] == first)
        & effects["estimand"].isin([primary, *TABLE2_BINARY])
    )
    return effects[main], effects[~main]


def _further_words(spec: dict, further: pd.DataFrame) -> str:
    """What Table S1 holds, for its title: "difference in means, adjusted odds ratios,
    per-protocol and complete-case sets, sensitivity analyses"."""
    names = _analysis_names(further)
    first = shown_sets(spec, spec["analyses"]["analysis_sets"])[0]
    primary_rows = further[(names == "primary") & (further["analysis_set"] == first)]
    words = [
        _lower_first(ESTIMAND_LABELS[e])
        for e in ("diff_in_change", "diff_in_means")
        if e in set(primary_rows["estimand"])
    ]
    if (primary_rows["estimand"] == "adjusted_odds_ratio").any():
        words.append("adjusted odds ratios")
    sets = [s for s in dict.fromkeys(further.loc[names == "primary", "analysis_set"]) if s != first]
    if sets:
        labels = [
            _lower_first(_block_label(spec, "primary", s, None)[: -len(" set")]) for s in sets
        ]
        joined = ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else labels[0]
        words.append(f"{joined} set{'s' * (len(sets) > 1)}")
    if (names != "primary").any():
        count = names[names != "primary"].nunique()
        words.append("sensitivity analys" + ("es" if count > 1 else "is"))
    return ", ".join(words)


def _effects_table_parts(spec: dict, kind: str, inputs: dict, effects: pd.DataFrame):
    main, further = split_effects(spec, effects)
    effects = main if kind == "effects_table" else further
    means, summary = _group_inputs(inputs)
    plan = disclosure.load(inputs.get("disclosure"))
    model_n = read_csv(inputs["model_n"]) if inputs.get("model_n") else None
    full, formatted = effects_table(spec, effects, means, summary, plan, model_n)
    what = "Estimated effects" if spec["design"] in RANDOMIZED else "Group comparisons"
    visits = list(dict.fromkeys(full["timepoint_label"]))
    at = f" at {_lower_first(visits[0])}" if len(visits) == 1 else ""
    title = _title(spec, kind, f"{what} on each outcome{at}")
    if kind == "effects_supplement":
        title = _title(spec, kind, f"Further estimates on each outcome{at}: ")
        title += _further_words(spec, further)
    extra = [" ".join(_group_footnotes(spec, full, means, summary))]
    extra.append(f"{SIGN_NOTE[:-1]}; n: participants contributing to the estimate.")
    return full, formatted, effects, title, extra


def _prepost_table_parts(spec: dict, kind: str, inputs: dict, effects: pd.DataFrame):
    group = _group_word(spec)
    summary, _ = shown_rows(spec, read_csv(inputs["prepost_summary"]))
    full, formatted = prepost_table(spec, summary, effects)
    effects = effects[effects["analysis"] == "prepost"]
    title = _title(spec, kind, f"Change in each outcome by {group}")
    extra = [SIGN_NOTE]
    return full, formatted, effects, title, extra


def _association_table_parts(spec: dict, kind: str, inputs: dict, effects: pd.DataFrame):
    counts, _ = shown_rows(spec, read_csv(inputs["association_counts"]))
    full, formatted = association_table(spec, effects, counts)
    effects = effects[effects["analysis"] == "association"]
    outcome = _outcome(spec, spec["analyses"]["association"]["outcome"])
    label = _lower_first(typographic(outcome["label"]))
    title = _title(spec, kind, f"Adjusted odds ratios of {label} by level of each exposure")
    extra = ["Odds ratios are of each level against the reference level."]
    return full, formatted, effects, title, extra


def _model_table_notes(spec, kind, effects, formatted, left_out: bool, extra: list) -> list:
    """The notes of a model table: sets, methods, CIs, the table's own lines, multiplicity,
    estimands and the formatter's footnotes."""
    lines = [_sets_line(spec, list(dict.fromkeys(effects["analysis_set"])))]
    lines += [per_protocol_not_shown(spec)] if left_out else []
    # one paragraph of methods: each model once, then which measure or analysis is primary
    methods = _methods(spec, effects) + _primary_measures(spec, effects, kind)
    intervals = f"Estimates with {ci_level(spec)} confidence intervals (CI)."
    lines += [" ".join([intervals, *methods])]
    lines += extra
    lines.append(category_definitions(spec, [*effects["outcome"], *effects["exposure"]]))
    if kind == "effects_table":  # success across primary comparisons, then Adjusted P's rule
        lines.append(primary_multiplicity(spec, effects))
    if "Adjusted P" in formatted.columns:
        rule = multiplicity_rule(effects, spec)
        if (_analysis_names(effects) != "primary").any():
            rule += " A sensitivity analysis forms families of its own."
        lines.append(rule)
    elif kind == "prepost_table" and "effects_table" in _report_tables(spec):
        table = _report_tables(spec).index("effects_table") + 1
        lines.append(
            f"P values here are not adjusted for multiplicity; Table {table} gives adjusted P."
        )
    elif kind == "association_table" and len(effects):
        lines.append(_association_multiplicity(spec, effects))
    elif len(effects) and (effects["role"] == "primary").all():
        lines.append("P values are not adjusted for multiplicity (primary outcome).")
    else:
        lines.append("P values are not adjusted for multiplicity.")
    if kind == "effects_table" and multi_arm_rule(spec, effects):
        lines.append(multi_arm_rule(spec, effects))
    if "analysis_name" in effects:
        lines += estimand_footnotes(spec, _analysis_names(effects))
    # the lettered notes in one paragraph
    lines += [" ".join(formatted.attrs["footnotes"])] if formatted.attrs.get("footnotes") else []
    return [line for line in lines if line]


def _primary_measures(spec: dict, effects: pd.DataFrame, kind: str = "effects_table") -> list:
    """Which effect is primary where the trial estimates several for one outcome: a
    randomized trial's score effect (model repeated's two), a binary outcome's risk ratio
    (beside the risk difference and adjusted odds ratio), and a non-randomized comparison's
    adjusted mean difference (beside the Hodges–Lehmann shift); where Table 2 and Table S1
    each have their part of them."""
    lines = []
    analyses = set(effects["analysis"])
    split = spec["design"] in RANDOMIZED and has_effects_supplement(spec)
    supplement = table_name(spec, "effects_supplement")
    lines += _primary_score_measure(spec, effects, kind, supplement) if split else []
    if analyses & {"risk_difference", "logistic"}:
        odds = "the adjusted odds ratio"
        if split and kind == "effects_table":
            odds += f" ({supplement})"
        line = (
            "For binary outcomes the unadjusted risk ratio is the primary effect measure; the "
            f"risk difference and {odds} are supportive."
        )
        lines.append(line)
    estimands = set(effects.loc[effects["analysis"] == "prepost", "estimand"])
    if {"adjusted_mean_difference", "hodges_lehmann_shift"} <= estimands:
        confounders = (spec["analyses"].get("prepost") or {}).get("confounders") or []
        adjusted = ", ".join(covariate_term(spec, c) for c in confounders)
        lines.append(
            "For scores the primary analysis is the adjusted mean difference (analysis of "
            "covariance): the groups were not randomized, so the comparison is adjusted for "
            "the baseline score"
            + (f" and the prespecified confounders ({adjusted})" if adjusted else "")
            + "; the Hodges–Lehmann shift (unadjusted, rank-based) is a supportive analysis."
        )
    return lines


def _primary_score_measure(spec: dict, effects, kind: str, supplement: str) -> list[str]:
    """The primary effect measure of a randomized trial's scores, and where the other one of
    model repeated is."""
    kinds = effects["outcome"].map({o["id"]: o["kind"] for o in spec["outcomes"]})
    if not (kinds == "score").any():
        return []
    primary = primary_effect(spec)
    stated = (spec["analyses"].get("estimand") or {}).get("effect")
    line = f"For scores the primary effect measure is the {_lower_first(ESTIMAND_LABELS[primary])}"
    line += " (as the trial's estimand states)" if stated else ""
    if primary in ("diff_in_change", "diff_in_means"):
        other = _lower_first(
            ESTIMAND_LABELS["diff_in_means" if primary == "diff_in_change" else "diff_in_change"]
        )
        line += (
            f"; the {other}, from the same model, is in {supplement}"
            if kind == "effects_table"
            else f"; the {other} is from the same model, and is supportive"
        )
    return [line + "."]


def _association_multiplicity(spec: dict, effects: pd.DataFrame) -> str:
    """How the association table handles multiplicity: its P values are unadjusted, across
    the exposures (each its own model) and their levels; the outcome's role said."""
    outcome = _outcome(spec, effects["outcome"].iloc[0]) or {"label": "The outcome"}
    label = typographic(outcome["label"]).split(" (")[0]
    k, m = effects["exposure"].nunique(), len(effects)
    role = "the primary outcome" if (effects["role"] == "primary").all() else "an outcome"
    across = (
        f"the {k} exposures (each in its own model) and their levels"
        if k > 1
        else ("the levels of the exposure")
    )
    return (
        f"Multiplicity: {label} is {role}; the {m} odds ratios' P values are not adjusted for "
        f"multiple comparisons across {across}."
    )


def _group_inputs(inputs: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 2's group results: the adjusted means (primary, then the sensitivity analyses'
    under their analysis_name) and prepost_summary; empty frames for files not given."""
    frames = []
    for key in ("means", "sensitivity_means"):
        if key in inputs:
            frame = read_csv(inputs[key])
            if "analysis_name" not in frame:
                frame.insert(0, "analysis_name", "primary")
            frames.append(frame)
    means = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    summary = read_csv(inputs["prepost_summary"]) if "prepost_summary" in inputs else None
    return means, pd.DataFrame() if summary is None else summary


def _without_means(rows: pd.DataFrame, means: pd.DataFrame) -> bool:
    """Whether some of `rows` (effects) has no adjusted means to show beside it."""
    keys = ["analysis_name", "outcome", "analysis_set", "timepoint"]
    if means.empty:
        return not rows.empty
    have = set(means.assign(analysis_name=_analysis_names(means))[keys].itertuples(index=False))
    return any(tuple(r) not in have for r in rows[keys].itertuples(index=False))


def _mean_cells_note(spec: dict, scores: pd.DataFrame, means: pd.DataFrame) -> str:
    """What a mixed model's group cells hold, for the effects the table has: each group's
    mean at follow-up (beside a difference in means), its mean change (beside a difference
    in change)."""
    adjusts = mixed_model_adjusts(spec)
    weights = (
        " (numeric covariates at their mean, categorical ones weighted equally over their levels)"
        if adjusts
        else ""
    )
    which = "adjusted" if adjusts else "model-estimated"
    ci = f"({ci_level(spec)} CI)"
    estimands = set(scores["estimand"])
    change = "diff_in_change" in estimands and _has_change(means)
    sentences = []
    if estimands - {"diff_in_change"} or ("diff_in_change" in estimands and not change):
        sentences.append(
            f"each group's {which} mean {ci} at follow-up from the same model{weights}; "
            "the difference in means is their difference."
        )
    if change:
        said = "beside the difference in change from baseline, " if sentences else ""
        sentences.append(
            f"{said}each group's {which} mean change from baseline to follow-up {ci}"
            f"{'' if sentences else ' from the same model' + weights}; the difference in "
            "change is their difference."
        )
    elif "diff_in_change" in estimands:
        sentences.append(
            f"the difference in change from baseline also subtracts each group's {which} "
            f"baseline mean; without each group's {which} change and its CI, the columns "
            "show the mean at follow-up for it too."
        )
    text = "Group columns, scores: " + sentences[0]
    text += "".join(" " + _upper_first(x) for x in sentences[1:])
    if spec.get("design") in RANDOMIZED:  # the number analysed per group (_arms_model_n)
        text += " After each result, n: the group's participants in the primary analysis's model."
    if _without_means(scores[scores["estimand"].isin(MEAN_ESTIMANDS)], means):
        text += (
            " Blank where the model output has no group means (an ANCOVA, an analysis of "
            "multiple imputations)."
        )
    return text


def _group_footnotes(
    spec: dict, full: pd.DataFrame, means: pd.DataFrame, summary: pd.DataFrame | None = None
) -> list[str]:
    """What the group columns of Table 2 hold, for the kinds of rows it has."""
    kinds = full["outcome"].map({o["id"]: o["kind"] for o in spec["outcomes"]})
    scores, estimands = full[kinds == "score"], set(full["estimand"])
    summary = pd.DataFrame() if summary is None else summary
    lines = []
    if scores["estimand"].isin(MEAN_ESTIMANDS).any():
        lines.append(_mean_cells_note(spec, scores, means))
    if "adjusted_mean_difference" in estimands and _has_adjusted_change(summary):
        lines.append(
            "Group columns, scores: beside the adjusted mean difference each group's adjusted "
            f"mean change from baseline ({ci_level(spec)} CI) from the same analysis of "
            "covariance, with the baseline score and covariates at their means over the "
            "participants analysed (the average prediction had everyone been in that group); "
            "the adjusted mean difference is their difference."
            + (
                " Beside the Hodges–Lehmann shift each group's median [interquartile range, "
                "IQR] change, unadjusted."
                if "hodges_lehmann_shift" in estimands
                else ""
            )
        )
    elif "hodges_lehmann_shift" in estimands:
        lines.append(
            "Group columns, scores: beside the adjusted mean difference each group's "
            "unadjusted mean (SD) change from baseline; beside the Hodges–Lehmann shift its "
            "median [interquartile range, IQR] change."
        )
    if (kinds != "score").any():
        lines.append(
            "Group columns, binary outcomes: participants with the event/participants "
            "observed at follow-up (%)."
        )
    if (full["analysis_name"] != "primary").any() and (kinds != "score").any():
        lines.append(
            "A sensitivity analysis's binary outcomes have no group counts in the outputs (blank)."
        )
    return lines


def _tipping_point_build(spec: dict, kind: str, inputs: dict):
    """The tipping-point table from the sensitivity analyses' every-delta parts."""
    paths = inputs["imputation"]
    # one part per analysis with imputation (each with its header, rows or not)
    frames = [read_csv(p) for p in ([paths] if isinstance(paths, str) else list(paths))]
    imputation, left_out = shown_rows(spec, pd.concat(frames, ignore_index=True))
    plan = disclosure.load(inputs.get("disclosure"))
    for column in ("note", "tipping_note"):
        imputation[column] = imputation[column].astype(object).where(imputation[column].notna(), "")
        # disclosure control: no count of participants below k in a note
        imputation[column] = [disclosure.shared_note(n, plan) for n in imputation[column]]
    full, formatted = tipping_point_table(spec, imputation)
    title = _title(spec, kind, "Multiple imputation with delta adjustment (tipping point)")
    named = [a for a in spec["analyses"].get("sensitivity") or [] if a.get("imputation")]
    lines = [per_protocol_not_shown(spec)] if left_out else []
    for analysis in named:
        mi = analysis["imputation"]
        how = "carried into later visits" if mi["propagate"] else "not carried into later visits"
        lines.append(
            f"{analysis['label']}: {mi['m']} imputations (seed {mi['seed']}) under missing at "
            "random by arm, sequentially by visit; each completed data set analysed with the "
            f"mixed model {analysis['mixed_model']['model']}; Rubin's rules with Barnard-Rubin "
            f"degrees of freedom. Delta: added to every imputed post-baseline value of the "
            f"intervention arm(s) ({how}); 0 is missing at random."
        )
    lines.append(
        "Intercurrent events: observations after a hypothetical-strategy event are set to "
        "missing and imputed (missing at random after the event); visits after a "
        "while-on-treatment event are imputed with the rest of the participant's scores but "
        "removed from every completed data set before it is analysed."
    )
    lines += [
        "Negative delta: the intervention arm's missing participants assumed to score lower "
        "than missing at random predicts (for an outcome where higher is better, against the "
        "intervention). Tipping point: the delta of smallest size in the grid at which the "
        "conclusion under missing at random (P below alpha or not) changes; no interpolation "
        "between grid points.",
        "Shown: the difference in means at the last visit (ANCOVA: the adjusted difference); "
        "tipping_point.csv has every estimand and visit.",
        f"Estimates with {ci_level(spec)} confidence intervals. P values are not adjusted for "
        "multiplicity.",
    ]
    lines += estimand_footnotes(spec, [a["name"] for a in named])
    lines += formatted.attrs.get("footnotes", [])
    return full, formatted, title, "\n".join(lines)


def _check_n(spec: dict, full: pd.DataFrame, consort: dict) -> None:
    """Table 1's n row must equal consort.json's analysed (itt) counts; a survey's, its
    respondents (analysed), non-respondents (not assessed) and everyone not withdrawn; a
    cohort comparison's, each cohort's respondents (assessed) and their sum."""
    n = full[(full["variable"] == "n") & (full["statistic"] == "n")].set_index("group")["value"]
    expected = consort["analysed"]["itt"]
    if _is_cohort(spec):
        expected = dict(consort["assessed"][spec["baseline"]])
        expected["overall"] = sum(expected.values()) if len(expected) > 1 else None
        expected = {g: c for g, c in expected.items() if c is not None}
    if spec["design"] == "cross_sectional":
        group = next(iter(consort["allocated"]))
        survey = next(iter(consort["timepoints"]))
        expected = {
            "respondents": consort["analysed"]["itt"][group],
            "non_respondents": consort["not_assessed"][survey][group],
            "overall": consort["allocated"][group] - consort["withdrawn"][group],
        }
    wrong = {a: (int(n.get(a, -1)), c) for a, c in expected.items() if int(n.get(a, -1)) != c}
    if wrong:
        raise ValueError(f"Table 1 n per column differs from consort.json: {wrong}")


def run(spec: dict, kind: str, *, inputs: dict[str, str], out_stem: str) -> None:
    """Rule entry: build one table from the pipeline's files and write its four formats."""
    full, formatted, title, footnote = build(spec, kind, dict(inputs))
    # disclosure control (config `disclosure`): withheld counts as "<k", the note added
    full, formatted, footnote = disclosure.apply(spec, kind, full, formatted, footnote, inputs)
    write_table(full, formatted, out_stem, title=title, footnote=footnote)
