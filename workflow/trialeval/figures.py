"""Journal figures, each drawn from the pipeline's own outputs (nothing is re-estimated here).

- plot_consort: participant flow from consort.json;
- plot_trajectories: adjusted means per arm and timepoint (tables/adjusted_means.csv);
- plot_forest: effects across outcomes (effects.csv), continuous effects per baseline SD;
- plot_change_distributions: change from baseline per arm (interim scores and analysis sets);
- plot_odds_ratios: odds ratios per exposure level (effects.csv, tables/association_counts.csv);
- plot_tipping_point: delta-adjusted multiple imputation, pooled estimate and P against the
  shift delta (the sensitivity analyses' imputation parts).

Every `plot_*` returns a Figure 3.5 in (single column) or 7.2 in (double column) wide, fonts
of at least 7 pt, in the Okabe-Ito palette (or the arm's `colour` from the trial file) with a
different marker per arm. `save` writes PNG (300 dpi) and SVG whose bytes depend only on the
figure: fixed font, fixed SVG hash salt, no dates or software versions in the metadata.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib

# Headless and deterministic: the Agg backend must be chosen before pyplot is imported.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import RendererAgg  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import FancyBboxPatch, Rectangle  # noqa: E402
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator  # noqa: E402

from trialeval import disclosure  # noqa: E402
from trialeval.config import RANDOMIZED, primary_effect, with_export_labels  # noqa: E402
from trialeval.direction import favours, higher_is_better, shift_meaning  # noqa: E402
from trialeval.effects import order_effects, primary_adjusted  # noqa: E402
from trialeval.formatting import DASH, format_p, rounded  # noqa: E402
from trialeval.io import atomic_path, in_set, read_csv, set_members  # noqa: E402
from trialeval.labels import (  # noqa: E402
    analysis_set_label,
    ci_level,
    primary_set_words,
    set_name,
)
from trialeval.model_n import model_used  # noqa: E402
from trialeval.palette import MARKERS, OKABE_ITO, arm_slots, slot_style  # noqa: E402, F401
from trialeval.tables import (  # noqa: E402
    adjusted_p,
    estimate_decimals,
    format_number,
    mixed_model_adjusts,
)

__all__ = [
    "KINDS",
    "baseline_sd",
    "plot_change_distributions",
    "plot_consort",
    "plot_forest",
    "plot_odds_ratios",
    "plot_tipping_point",
    "plot_trajectories",
    "run",
    "save",
]

SINGLE_COLUMN = 3.5  # inches: journal single-column width
DOUBLE_COLUMN = 7.2  # inches: journal double-column width
DPI = 300
FONT_FAMILY = "DejaVu Sans"  # bundled with matplotlib: the same glyphs on every machine
FONT_SIZE = 7.5
SMALL_FONT = 7.0  # the smallest text drawn anywhere


STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": [FONT_FAMILY],
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": SMALL_FONT,
    "ytick.labelsize": SMALL_FONT,
    "legend.fontsize": FONT_SIZE,
    "legend.title_fontsize": FONT_SIZE,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 3,
    "ytick.major.size": 3,
    "lines.linewidth": 1.0,
    "axes.unicode_minus": True,
    "axes.formatter.use_locale": False,
    "mathtext.default": "regular",
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    # Text as outlines: identical rendering without the font installed; the salt fixes the
    # ids matplotlib derives for glyphs and clip paths, so SVG bytes repeat across runs.
    "svg.fonttype": "path",
    "svg.hashsalt": "trialeval-figures",
    "svg.image_inline": True,
}

KINDS = (
    "consort",
    "trajectories",
    "forest",
    "change_distributions",
    "odds_ratio_forest",
    "cohort_prevalence",
    "tipping_point",
)

# the pre/post design's two score analyses (the ANCOVA primary, the rank shift supportive)
PREPOST_ESTIMANDS = ("adjusted_mean_difference", "hodges_lehmann_shift")


def continuous_estimands(spec: dict) -> tuple[str, ...]:
    """The score effects a design's forest plot draws: a randomized trial's primary effect
    measure (Table 2's: config.primary_effect), the pre/post design's two analyses."""
    if spec["design"] == "quasi_experimental":
        return PREPOST_ESTIMANDS
    primary = primary_effect(spec)
    return (primary,) if primary else ()


ESTIMAND_LABELS = {
    "diff_in_change": "Difference in change",
    "diff_in_means": "Difference in means",
    "adjusted_diff": "Baseline-adjusted difference",
    "adjusted_mean_difference": "Mean difference (ANCOVA)",
    "hodges_lehmann_shift": "Median shift (Hodges\u2013Lehmann)",
    "risk_ratio": "Risk ratio",
    "odds_ratio": "Odds ratio",
}
ESTIMAND_MARKERS = {"hodges_lehmann_shift": "D"}
MINUS = "\u2212"
NO_ODDS_RATIOS = "No odds ratios were estimated (effects.csv has no association rows)."
EN_DASH = "\u2013"


def _styled(function):
    """Create the figure under the house style (fonts are fixed when text is created)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------


def save(fig, stem: str | Path) -> None:
    """Write `stem`.png (300 dpi) and `stem`.svg, each atomically, with reproducible bytes."""
    with matplotlib.rc_context(STYLE):
        with atomic_path(f"{stem}.png") as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
        with atomic_path(f"{stem}.svg") as tmp:
            # the SVG writer knows no "Software" key; Creator carries the version there
            fig.savefig(tmp, format="svg", metadata={"Date": None, "Creator": None})


# --------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------


def arm_styles(spec: dict) -> dict[str, dict]:
    """{arm id: {label, colour, marker, linestyle}} in the trial file's arm order; the
    control arm's style is the same whatever the number of arms (trialeval.palette)."""
    slots = arm_slots(spec["arms"])
    styles = {}
    for arm in spec["arms"]:
        style = slot_style(slots[arm["id"]])
        styles[arm["id"]] = {
            **style,
            "label": arm.get("label", arm["id"]),
            "colour": arm.get("colour") or style["colour"],
        }
    return styles


def _fmt_range(lo: float, hi: float) -> str:
    return f"{lo:g}{EN_DASH}{hi:g}".replace("-", MINUS)


def outcome_axis_label(spec: dict, outcome: dict) -> str:
    """'Emotional exhaustion (MBI, 0–54)': the outcome label with its instrument's range."""
    inst = spec["instruments"][outcome["instrument"]]
    label = pretty(outcome["label"])
    sub = inst["subscales"].get(outcome["name"])
    if sub is None:
        return label
    span = _fmt_range(*sub["range"])
    if label.endswith(")"):  # labels such as 'Flourishing (FS total)' already name the scale
        return f"{label[:-1]}, {span})"
    short = outcome["instrument"].upper().replace("_", "-")
    return f"{label} ({short}, {span})"


def _num(value: float, digits: int = 2) -> str:
    """As the tables print it (trialeval.tables.format_number: never "−0.0")."""
    return format_number(value, digits)


def _estimate_ci(est: float, lo: float, hi: float, digits: int = 2) -> str:
    if not np.isfinite(est):
        return "not estimable"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{_num(est, digits)} (CI not estimable)"
    return f"{_num(est, digits)} ({_num(lo, digits)} to {_num(hi, digits)})"


def pretty(label: str) -> str:
    """Typeset comparison operators from the trial files (EE >= 27 -> EE ≥ 27)."""
    # a no-break space keeps the operator with its number when labels wrap
    for ascii_op, symbol in (
        (">= ", "\u2265\u00a0"),
        ("<= ", "\u2264\u00a0"),
        ("> ", ">\u00a0"),
        ("< ", "<\u00a0"),
    ):
        label = label.replace(ascii_op, symbol)
    return label.replace(">=", "\u2265").replace("<=", "\u2264")


def _count(n) -> str:
    if isinstance(n, str):  # withheld by disclosure control: its marker ("<5")
        return n
    return f"{int(n):,}"


@functools.lru_cache(maxsize=1)
def _renderer() -> RendererAgg:
    # measured at the PNG resolution: hinting makes text at 72 dpi a few percent narrower
    return RendererAgg(10, 10, DPI)


def text_width(text: str, size: float = FONT_SIZE, weight: str = "normal") -> float:
    """Width of one line of text in inches, in the house font."""
    prop = FontProperties(family=FONT_FAMILY, size=size, weight=weight)
    width, _, _ = _renderer().get_text_width_height_descent(text, prop, ismath=False)
    return width / DPI


def wrap(text: str, width_in: float, size: float = FONT_SIZE, weight: str = "normal") -> list[str]:
    """Greedy word wrap to a width in inches (measured, not counted in characters)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            trial = f"{current} {word}" if current else word
            if current and text_width(trial, size, weight) > 0.98 * width_in:
                lines.append(current)
                current = word
            else:
                current = trial
        lines.append(current)
    return lines


def _label_lines(label: str, width_in: float, size: float = FONT_SIZE) -> list[str]:
    """Wrap an axis label, breaking first before its parenthesis ('Depersonalization' over
    '(MBI, 0-30)') so the scale stays in one piece."""
    if text_width(label, size) <= 0.98 * width_in or " (" not in label:
        return wrap(label, width_in, size)
    head, _, tail = label.rpartition(" (")
    return wrap(head, width_in, size) + wrap(f"({tail}", width_in, size)


def _y_locator(whole: bool = False) -> MaxNLocator:
    """A fixed number of y ticks: matplotlib's default picks more or fewer ticks as the
    layout resizes the axes, which changes label widths and so the layout itself. `whole`:
    a score in whole points ticks at whole numbers (no 32.5 on a 0-48 sum score), by 4
    where the others would tick by 2.5 (by 5 alone a panel could keep only two ticks)."""
    if whole:
        return MaxNLocator(nbins=5, steps=[1, 2, 4, 5, 10], integer=True)
    return MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10])


def _whole_points(spec: dict, outcome: dict) -> bool:
    """Whether the outcome is a score in whole points (one decimal by the decimals rule)."""
    return outcome.get("kind") == "score" and estimate_decimals(spec, outcome["id"]) == 1


def _freeze_layout(fig) -> None:
    """Run the constrained layout once, then fix it: a later draw would iterate again from
    the current positions and could move axes by a pixel, so two saves could differ."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")


def _small_multiples(n: int, labels: list[str], factor: float) -> tuple[int, int, float, float]:
    """(rows, columns, figure width, room per tick label in inches) for n panels whose x axis
    carries `labels`: the grid of `_grid`, with fewer columns while the longest word of a
    label would not fit its share of a panel (neighbouring labels would collide)."""
    nrows, ncols = _grid(n)
    width = SINGLE_COLUMN if ncols <= 2 else DOUBLE_COLUMN
    longest = max(text_width(w, SMALL_FONT) for label in labels for w in label.split()) + 0.04

    def room(cols: int) -> float:  # plot area is about the panel less 0.6 in of y axis
        return factor * (width / cols - 0.6) / len(labels)

    while ncols > 1 and room(ncols) < longest:
        ncols -= 1
        nrows = -(-n // ncols)
    return nrows, ncols, width, room(ncols)


def _grid(n: int) -> tuple[int, int]:
    """(rows, columns) for n small multiples: 1-2 side by side, else 3 or 4 columns, whichever
    leaves fewer empty cells (ties: 4, fewer rows)."""
    if n <= 2:
        return 1, n
    if n == 3:
        return 1, 3
    best = min((-(-n // c) * c - n, -c) for c in (4, 3))
    cols = -best[1]
    return -(-n // cols), cols


def _timepoint_labels(spec: dict) -> dict[str, str]:
    return {tp["id"]: tp.get("label", tp["id"]) for tp in spec["timepoints"]}


# --------------------------------------------------------------------------------------
# Trajectories
# --------------------------------------------------------------------------------------


MIN_SPAN = 0.2  # a trajectories y axis spans at least this fraction of the scale's range
N_LINE = SMALL_FONT * 1.2  # points per line of the n-observed rows under a panel


@_styled
def plot_trajectories(
    spec: dict,
    adjusted_means: pd.DataFrame,
    analysis_set: str = "itt",
    consort: dict | None = None,
    show_n: bool = True,
):
    """Adjusted mean (95% CI) per arm per timepoint, one panel per score outcome.

    Arms are dodged slightly so intervals do not hide each other; each arm has its own colour,
    marker and line style (the same whatever the number of arms); the legend appears once.
    Under each visit, the participants observed there per arm (adjusted means' n_observed),
    in the arm's colour. Each y axis spans at least MIN_SPAN of the scale's range, so a
    small difference does not fill the panel. What cannot be drawn is said under the figure
    (`trajectory_gaps`; consort.json, when given, tells an empty arm's reason). Under
    disclosure control (`show_n` False) the observed n are left out: with the arms' N they
    would give back Table 1's withheld "Missing" counts.
    """
    means = adjusted_means[adjusted_means["analysis_set"] == analysis_set]
    present = set(means["outcome"])
    outcomes = [o for o in spec["outcomes"] if o["kind"] == "score" and o["id"] in present]
    gaps = trajectory_gaps(spec, adjusted_means, analysis_set, consort)
    if not outcomes:
        return plot_message("Adjusted means by arm and visit: nothing to draw", gaps)
    tp_labels = _timepoint_labels(spec)
    timepoints = [tp["id"] for tp in spec["timepoints"] if tp["id"] in set(means["timepoint"])]
    styles = arm_styles(spec)
    arms = [a["id"] for a in spec["arms"]]
    nrows, ncols, width, tick_room = _small_multiples(
        len(outcomes), [tp_labels[t] for t in timepoints], 0.85
    )
    tick_labels = ["\n".join(wrap(tp_labels[t], tick_room, SMALL_FONT)) for t in timepoints]
    tick_lines = max(t.count("\n") + 1 for t in tick_labels)
    panel_h = 1.95 + (len(arms) * N_LINE / 72 if show_n else 0)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, panel_h * nrows), layout="constrained", squeeze=False
    )
    label_room = 1.95 - 0.25 - LINE_H * tick_lines
    for ax, outcome in zip(axes.flat, outcomes, strict=False):
        rows = means[means["outcome"] == outcome["id"]]
        _trajectory_panel(ax, spec, outcome, rows, timepoints, styles)
        ax.set_xticks(np.arange(len(timepoints)), tick_labels)
        ax.set_xlim(-0.5, len(timepoints) - 0.5)
        ax.set_ylabel("\n".join(_label_lines(outcome_axis_label(spec, outcome), label_room)))
        ax.yaxis.set_major_locator(_y_locator(_whole_points(spec, outcome)))
        if show_n:
            _observed_rows(ax, outcome["id"], rows, timepoints, styles, tick_lines)
    spare = list(axes.flat[len(outcomes) :])
    for ax in spare:
        ax.axis("off")
    _trajectory_legend(fig, spare, arms, styles, mixed_model_adjusts(spec), ci_level(spec))
    set_label = _cap(set_name(analysis_set, spec))
    counts = (
        "Numbers under each visit: participants observed there, per arm (in the arm's colour)."
        if show_n
        else "Participants observed per visit not shown (disclosure control)."
    )
    note = f"{set_label}. {counts} Each y axis spans at least {MIN_SPAN:.0%} of its scale's range."
    _not_drawn_footnote(fig, gaps, width, note)
    _freeze_layout(fig)
    return fig


def _trajectory_panel(ax, spec, outcome, rows, timepoints, styles) -> None:
    """One outcome's arms as dodged points with 95% CIs, on a y range of at least MIN_SPAN."""
    arms = list(styles)
    step = 0.12 if len(arms) <= 3 else 0.3 / len(arms)
    offsets = (np.arange(len(arms)) - (len(arms) - 1) / 2) * step
    for k, arm in enumerate(arms):
        data = rows[rows["arm"] == arm].set_index("timepoint").reindex(timepoints)
        est = data["estimate"].to_numpy(dtype=float)
        lo = data["ci_low"].to_numpy(dtype=float)
        hi = data["ci_high"].to_numpy(dtype=float)
        style = styles[arm]
        bars = ax.errorbar(
            np.arange(len(timepoints)) + offsets[k],
            est,
            yerr=np.vstack([est - lo, hi - est]),
            color=style["colour"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            markersize=4,
            capsize=2,
            elinewidth=0.8,
            linewidth=1.0,
            label=style["label"],
        )
        bars.lines[0].set_gid(f"trajectory-{outcome['id']}-{arm}")
    values = rows[["estimate", "ci_low", "ci_high"]].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if len(values):
        scale = spec["instruments"][outcome["instrument"]]["subscales"][outcome["name"]]["range"]
        ax.set_ylim(*_y_range(values.min(), values.max(), scale))


def _y_range(lo: float, hi: float, scale: list[float]) -> tuple[float, float]:
    """The data range padded by 12%, widened about its centre to at least MIN_SPAN of the
    scale's range, and kept inside the scale where the data allow."""
    bottom, top = float(scale[0]), float(scale[1])
    span = max(hi - lo, MIN_SPAN * (top - bottom))
    centre = (lo + hi) / 2
    low, high = centre - span / 2, centre + span / 2
    if low < bottom:
        low, high = bottom, max(bottom + span, hi)
    elif high > top:
        low, high = min(top - span, lo), top
    pad = 0.12 * (high - low)
    return low - pad, high + pad


def _observed_rows(ax, outcome_id, rows, timepoints, styles, tick_lines: int) -> None:
    """Under the tick labels, one line per arm: the participants observed at each visit."""
    below = 3 + 3.5 + tick_lines * SMALL_FONT * 1.2 + 2  # tick, pad, labels (points)
    for k, (arm, style) in enumerate(styles.items()):
        data = rows[rows["arm"] == arm].set_index("timepoint").reindex(timepoints)
        for j, (tp, n) in enumerate(zip(timepoints, data["n_observed"], strict=True)):
            ax.annotate(
                _count(n) if pd.notna(n) else EN_DASH,
                xy=(j, 0),
                xycoords=ax.get_xaxis_transform(),
                xytext=(0, -(below + k * N_LINE)),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=SMALL_FONT,
                color=style["colour"],
                gid=f"n-{outcome_id}-{arm}-{tp}",
            )


def _trajectory_legend(
    fig, spare: list, arms: list[str], styles: dict, adjusted: bool, level: str
) -> None:
    """The arms' legend, once: in an empty cell of the grid, else above the panels."""
    handles = [
        Line2D(
            [],
            [],
            color=styles[a]["colour"],
            marker=styles[a]["marker"],
            linestyle=styles[a]["linestyle"],
            markersize=4,
            label=styles[a]["label"],
        )
        for a in arms
    ]
    # a model without covariates adjusts for nothing: its means are model-estimated (Table 2)
    title = f"Adjusted mean ({level} CI)" if adjusted else f"Model-estimated mean ({level} CI)"
    if spare:
        spare[0].legend(
            handles=handles,
            # right-aligned with the panels above: constrained layout does not size for a
            # legend inside an axes, and the empty cell can be narrower than the legend
            loc="center right",
            bbox_to_anchor=(1, 0.5),
            frameon=False,
            title=title,
            alignment="left",
        )
    else:
        fig.legend(
            handles=handles, loc="outside upper center", ncol=len(arms), frameon=False, title=title
        )


def trajectory_gaps(
    spec: dict, adjusted_means: pd.DataFrame, analysis_set: str = "itt", consort=None
) -> list[str]:
    """What the trajectories figure cannot draw, and why, in sentences (empty: nothing)."""
    means = adjusted_means[adjusted_means["analysis_set"] == analysis_set]
    set_label = set_name(analysis_set, spec)
    if means.empty:
        if spec["analyses"]["mixed_model"]["model"] == "ancova":
            return [
                "No adjusted means: the ANCOVA model (analyses.mixed_model.model: ancova) "
                "estimates one baseline-adjusted difference per arm, not a mean per visit; "
                "its effects are in the forest plot and the effects table."
            ]
        return [
            f"No adjusted means: no mixed model could be fitted in the {set_label} "
            "(tables/model_diagnostics.csv says why)."
        ]
    labels = {o["id"]: pretty(o["label"]) for o in spec["outcomes"]}
    scored = [o["id"] for o in spec["outcomes"] if o["kind"] == "score"]
    notes = []
    unfitted = [labels[o] for o in scored if o not in set(means["outcome"])]
    if unfitted and spec["design"] in RANDOMIZED:
        notes.append(
            f"Not drawn, no mixed model fitted: {', '.join(unfitted)} "
            "(tables/model_diagnostics.csv says why)."
        )
    tp_labels = _timepoint_labels(spec)
    blank = means[means["estimate"].isna()]
    for arm in spec["arms"]:
        rows, blank_rows = means[means["arm"] == arm["id"]], blank[blank["arm"] == arm["id"]]
        if blank_rows.empty:
            continue
        if len(blank_rows) == len(rows) and (rows["n_observed"] == 0).all():
            notes.append(f"{arm['label']}: {_empty_arm(consort, arm['id'], analysis_set)}.")
            continue
        for tp, cell in blank_rows.groupby("timepoint", sort=False):
            which = ""
            if cell["outcome"].nunique() < means["outcome"].nunique():
                which = f" ({', '.join(labels[o] for o in cell['outcome'])})"
            why = (
                f"no participant has a score at {tp_labels.get(tp, tp)}"
                if (cell["n_observed"] == 0).all()
                else f"the mean at {tp_labels.get(tp, tp)} is not estimable"
            )
            notes.append(f"{arm['label']}: {why}{which}, so no adjusted mean is drawn there.")
    return notes


def _empty_arm(consort: dict | None, arm: str, analysis_set: str) -> str:
    """Why an arm has nothing to draw, from the CONSORT counts when they are at hand."""
    design = {"design": (consort or {}).get("design", "rct")}
    set_label = set_name(analysis_set, design)
    if consort is not None and consort["analysed"][analysis_set][arm] == 0:
        withdrawn, allocated = consort["withdrawn"][arm], consort["allocated"][arm]
        spec_randomized = consort.get("design", "rct") in RANDOMIZED
        return (
            f"nobody is in the {set_label} ({_count(withdrawn)} of {_count(allocated)} "
            f"{'allocated' if spec_randomized else 'assigned'} withdrew consent), so nothing is "
            "drawn for this arm"
        )
    return f"no participant of the {set_label} has a score, so nothing is drawn for this arm"


def _not_drawn_footnote(fig, gaps: list[str], width: float, note: str = "") -> None:
    """Say under a (constrained-layout) figure what it could not draw, after `note`."""
    if gaps or note:
        text = " ".join(filter(None, [note, "Not drawn: " + " ".join(gaps) if gaps else ""]))
        fig.supxlabel(
            "\n".join(wrap(text, width - 0.2, SMALL_FONT)),
            x=0.02,
            ha="left",
            fontsize=SMALL_FONT,
            linespacing=1.15,
        )


@_styled
def plot_message(title: str, lines: list[str], width: float = SINGLE_COLUMN):
    """A figure that says in words what could not be drawn and why: written in place of a
    plot whose data hold nothing to draw, so the run, the tables and the report go on."""
    margin = 0.12
    head = wrap(title, width - 2 * margin, FONT_SIZE, "bold")
    body = [line for text in lines for line in wrap(text, width - 2 * margin, FONT_SIZE)]
    line_h = FONT_SIZE * 1.3 / 72
    height = 2 * margin + (len(head) + len(body)) * line_h + 0.1
    fig = plt.figure(figsize=(width, height))
    fig.text(
        margin / width,
        1 - margin / height,
        "\n".join(head),
        ha="left",
        va="top",
        fontweight="bold",
        linespacing=1.3,
    )
    fig.text(
        margin / width,
        1 - (margin + len(head) * line_h + 0.1) / height,
        "\n".join(body),
        ha="left",
        va="top",
        linespacing=1.3,
        gid="not-drawn",
    )
    return fig


# --------------------------------------------------------------------------------------
# Forest plots (effects and odds ratios)
# --------------------------------------------------------------------------------------

ROW_H = 0.2  # inches per single-line row
LINE_H = FONT_SIZE * 1.25 / 72  # extra height per wrapped line
INDENT = 0.12
COLUMN_GAP = 0.14  # inches between text columns
MARKER_SIZE = 4.5
# inches: the forest's plot area never narrower; the label column widens into the plot down
# to it before a label wraps. 1.1 in holds three tick labels 0.3 in apart (_log_axis's
# spacing; the linear axis's ticks space themselves) with a label's width spare at each end,
# and CIs long enough to compare; a narrower plot would trade the data for the labels.
MIN_PLOT_W = 1.1
FAVOURS_TOP = 15.0  # points under the axis line: below the tick labels
FAVOURS_H = 0.14  # inches the favours line adds under an axis


@dataclass
class _Row:
    label: str
    indent: int = 0
    bold: bool = False
    x: float = float("nan")
    lo: float = float("nan")
    hi: float = float("nan")
    marker: str = "o"
    filled: bool = True
    colour: str = "black"
    cells: tuple[str, ...] = ()
    gid: str | None = None
    reference: bool = False
    band: int = 0  # alternate groups are shaded
    lines: tuple[str, ...] = ()
    y: float = 0.0
    height: float = ROW_H


def _layout_rows(rows: list[_Row], label_w: float) -> float:
    """Wrap labels to the label column and give each row its centre (inches from the top);
    returns the panel height."""
    y = 0.0
    for row in rows:
        weight = "bold" if row.bold else "normal"
        row.lines = tuple(wrap(row.label, label_w - row.indent * INDENT - 0.1, weight=weight))
        row.height = ROW_H + (len(row.lines) - 1) * LINE_H
        row.y = y + row.height / 2
        y += row.height
    return y


def _column_anchors(
    headers: list[list[str]], aligns: list[str], panels: list[list[_Row]]
) -> tuple[list[float], float]:
    """Place text columns right of the plot from their widest entry: anchors (inches from
    the plot's right edge; a right-aligned column is anchored at its right end) and the
    total width. Shared by every panel of a figure, so columns line up across panels."""
    anchors, x = [], COLUMN_GAP + 0.06
    for k, align in enumerate(aligns):
        texts = [r.cells[k] for rows in panels for r in rows if k < len(r.cells)]
        widths = [text_width(t) for t in texts] + [text_width(h[k], weight="bold") for h in headers]
        width = max(widths)
        anchors.append(x + width if align == "right" else x)
        x += width + COLUMN_GAP
    return anchors, x - COLUMN_GAP + 0.04


def _log_axis(ax, values: np.ndarray, width_in: float) -> None:
    """Log x axis covering every CI and 1, with plain tick labels (0.5, 1, 2) at least
    0.3 in apart."""
    values = values[values > 0]
    lo, hi = np.log(min(values.min(), 1.0)), np.log(max(values.max(), 1.0))
    pad = max(0.08 * (hi - lo), 0.04)
    lo, hi = min(lo - pad, np.log(0.8)), max(hi + pad, np.log(1.25))
    ax.set_xscale("log")
    ax.set_xlim(np.exp(lo), np.exp(hi))
    # candidates by priority; a tick is kept only if it clears every tick already kept
    candidates = [1, 0.5, 2, 0.1, 10, 0.2, 5, 0.25, 4, 0.75, 1.5, 0.05, 20, 0.01, 100, 3]
    ticks: list[float] = []
    for t in candidates:
        at = (np.log(t) - lo) / (hi - lo) * width_in
        if 0 <= at <= width_in and all(
            abs(at - (np.log(k) - lo) / (hi - lo) * width_in) >= 0.3 for k in ticks
        ):
            ticks.append(t)
    ticks += _side_ticks(candidates, ticks, lo, hi, width_in)
    ticks.sort()
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{t:g}" for t in ticks])


def _draw_forest_panel(
    fig,
    rect: tuple[float, float, float, float],
    rows: list[_Row],
    headers: list[str],
    aligns: list[str],
    anchors: list[float],
    *,
    label_w: float,
    text_w: float,
    log: bool,
    xlabel: str,
    title: list[str],
    favours: tuple[str, str] | None = None,
):
    """One forest panel: labels left, points with CIs, text columns right, headers and a
    title above; under the axis, which side favours which arm (`favours`, when known).
    `rect` is (left, bottom, width, height) of the plotting area in inches; the
    data y axis is in inches from the panel top, so rows and their text line up exactly."""
    fig_w, fig_h = fig.get_size_inches()
    left, bottom, width, height = rect
    ax = fig.add_axes((left / fig_w, bottom / fig_h, width / fig_w, height / fig_h))
    ax.set_ylim(height, 0)
    ax.yaxis.set_major_locator(NullLocator())
    ax.spines["left"].set_visible(False)
    ref = _forest_x_axis(ax, rows, width, log)
    ax.axvline(ref, color="0.3", linewidth=0.7, zorder=1)
    ax.set_xlabel(xlabel, labelpad=4 + (FAVOURS_H * 72 if favours else 0))
    if favours:
        _favours_texts(ax, ref, favours)

    to_axes = 1.0 / width  # inches -> axes fraction
    transform = ax.get_yaxis_transform()  # x in axes fraction, y in data (inches)
    for row in rows:
        if row.band % 2:
            ax.add_patch(
                Rectangle(
                    (-label_w * to_axes, row.y - row.height / 2),
                    (label_w + width + text_w) * to_axes,
                    row.height,
                    transform=transform,
                    facecolor="0.93",
                    edgecolor="none",
                    clip_on=False,
                    zorder=0,
                )
            )
        ax.text(
            (-label_w + 0.04 + row.indent * INDENT) * to_axes,
            row.y,
            "\n".join(row.lines),
            transform=transform,
            ha="left",
            va="center",
            fontweight="bold" if row.bold else "normal",
            linespacing=1.1,
        )
        _forest_point(ax, row, ref)
        for k, cell in enumerate(row.cells):
            ax.text(
                1 + anchors[k] * to_axes,
                row.y,
                cell,
                transform=transform,
                ha=aligns[k],
                va="center",
            )
    for header, align, anchor in zip(headers, aligns, anchors, strict=True):
        ax.text(
            1 + anchor * to_axes,
            -0.06,
            header,
            transform=transform,
            ha=align,
            va="bottom",
            fontweight="bold",
        )
    ax.text(
        (-label_w + 0.04) * to_axes,
        -0.3,
        "\n".join(title),
        transform=transform,
        ha="left",
        va="bottom",
        fontweight="bold",
        linespacing=1.15,
    )
    return ax


LOG_TICK_GAP = 0.06  # inches between two tick labels' edges, at the least


def _side_ticks(candidates, ticks, lo: float, hi: float, width_in: float) -> list[float]:
    """A tick for each side of 1 left without one by the 0.3 in rule (a narrow plot, a short
    range: 1 and 1.5 alone): the first candidate there whose label clears the others' by
    LOG_TICK_GAP, so a ratio below 1 can be read too."""

    def at(t: float) -> float:
        return (np.log(t) - lo) / (hi - lo) * width_in

    def half(t: float) -> float:
        return text_width(f"{t:g}", SMALL_FONT) / 2

    added: list[float] = []
    for below in (True, False):
        if any((t < 1) == below and t != 1 for t in ticks):
            continue
        for t in candidates:
            clears = all(
                abs(at(t) - at(k)) >= half(t) + half(k) + LOG_TICK_GAP for k in ticks + added
            )
            if t != 1 and (t < 1) == below and 0 <= at(t) <= width_in and clears:
                added.append(t)
                break
    return added


def _forest_x_axis(ax, rows: list[_Row], width: float, log: bool) -> float:
    """Set the x axis (log: covering every CI and 1; linear: symmetric about 0, every CI
    inside) and return the reference value."""
    values = np.array([v for r in rows for v in (r.lo, r.hi, r.x) if np.isfinite(v)])
    if log:
        _log_axis(ax, values if len(values) else np.array([0.5, 2.0]), width)
        return 1.0
    span = max(np.max(np.abs(values)) * 1.12 if len(values) else 0.5, 0.25)
    ax.set_xlim(-span, span)
    return 0.0


def _forest_point(ax, row: _Row, ref: float) -> None:
    """A row's point and CI (a reference level: its marker at the reference line)."""
    style = {
        "marker": row.marker,
        "markersize": MARKER_SIZE,
        "markerfacecolor": row.colour if row.filled else "white",
        "markeredgecolor": row.colour,
        "markeredgewidth": 0.9,
        "zorder": 3,
    }
    if row.reference:
        line = ax.plot([ref], [row.y], linestyle="none", **style)[0]
        line.set_gid(row.gid)
    elif np.isfinite(row.x):
        low = max(row.x - row.lo, 0.0) if np.isfinite(row.lo) else 0.0
        high = max(row.hi - row.x, 0.0) if np.isfinite(row.hi) else 0.0
        bars = ax.errorbar(
            [row.x],
            [row.y],
            xerr=[[low], [high]],
            linestyle="none",
            ecolor=row.colour,
            elinewidth=1.0,
            capsize=0,
            **style,
        )
        bars.lines[0].set_gid(row.gid)


def _favours_texts(ax, ref: float, favours: tuple[str, str]) -> None:
    """'← Favours A' ending just left of the reference line, 'Favours B →' starting just
    right of it, on a line of their own under the tick labels."""
    for text, sign, align, side in (
        (favours[0], -1, "right", "left"),
        (favours[1], 1, "left", "right"),
    ):
        ax.annotate(
            text,
            xy=(ref, 0),
            xycoords=ax.get_xaxis_transform(),
            xytext=(sign * 5, -FAVOURS_TOP),
            textcoords="offset points",
            ha=align,
            va="top",
            fontsize=SMALL_FONT,
            gid=f"favours-{side}",
        )


def _label_width(panels: list[dict], room: float) -> float:
    """The label column: as wide as the widest label needs to stay on one line (`wrap` and
    `_layout_rows` leave 2% and 0.1 in spare), at most `room`."""
    widest = max(
        text_width(r.label, weight="bold" if r.bold else "normal") / 0.98 + r.indent * INDENT
        for p in panels
        for r in p["rows"]
    )
    return min(widest + 0.1 + 0.01, room)


def _stack_panels(panels: list[dict], *, aligns, foot_h: float):
    """A double-column figure of forest panels stacked vertically, columns shared; the label
    column as wide as its labels need while the plot keeps MIN_PLOT_W."""
    margin = 0.05
    width = DOUBLE_COLUMN
    anchors, text_w = _column_anchors(
        [p["headers"] for p in panels], aligns, [p["rows"] for p in panels]
    )
    label_w = _label_width(panels, width - text_w - 2 * margin - MIN_PLOT_W)
    heights = [_layout_rows(p["rows"], label_w) for p in panels]
    plot_w = width - label_w - text_w - 2 * margin
    for panel in panels:
        panel["title"] = [
            line
            for text in (panel.get("heading"), panel["title"])
            if text
            for line in wrap(text, width - 2 * margin - 0.04, weight="bold")
        ]
    top = 0.06
    axis_hs = [0.44 + (FAVOURS_H if p.get("favours") else 0) for p in panels]
    title_hs = [0.28 + len(p["title"]) * LINE_H for p in panels]
    fig_h = top + sum(title_hs) + sum(heights) + sum(axis_hs) + foot_h
    fig = plt.figure(figsize=(width, fig_h))
    y = fig_h - top
    for panel, title_h, h, axis_h in zip(panels, title_hs, heights, axis_hs, strict=True):
        y -= title_h + h
        _draw_forest_panel(
            fig,
            (margin + label_w, y, plot_w, h),
            panel["rows"],
            panel["headers"],
            aligns,
            anchors,
            label_w=label_w,
            text_w=text_w,
            log=panel["log"],
            xlabel=panel["xlabel"],
            title=panel["title"],
            favours=panel.get("favours"),
        )
        y -= axis_h
    return fig, margin


def _footnote(fig, text: str, margin: float, bottom: float = 0.05) -> None:
    width, height = fig.get_size_inches()
    fig.text(
        margin / width,
        bottom / height,
        "\n".join(wrap(text, width - 2 * margin, SMALL_FONT)),
        ha="left",
        va="bottom",
        fontsize=SMALL_FONT,
        linespacing=1.15,
    )


def baseline_sd(
    spec: dict, scores: pd.DataFrame, sets: pd.DataFrame | None = None, analysis_set: str = "itt"
) -> pd.Series:
    """Pooled within-arm SD of each score outcome at the baseline timepoint, among members of
    the analysis set: sqrt(sum_arm (n_a - 1) s_a^2 / sum_arm (n_a - 1)), the Cohen's d scale."""
    data = scores[(scores["timepoint"] == spec["baseline"]) & scores["score"].notna()]
    result = {}
    for outcome in spec["outcomes"]:
        if outcome["kind"] != "score":
            continue
        values = data[data["outcome"] == outcome["id"]]
        if sets is not None:
            members = set_members(sets, analysis_set, outcome["id"])[["participant_id", "arm"]]
            values = values.drop(columns=["arm"], errors="ignore").merge(
                members, on="participant_id"
            )
        groups = values.groupby("arm", observed=True)["score"]
        dof = (groups.count() - 1).clip(lower=0)
        ss = (groups.var(ddof=1).fillna(0.0) * dof).sum()
        result[outcome["id"]] = float(np.sqrt(ss / dof.sum())) if dof.sum() > 0 else np.nan
    return pd.Series(result, name="baseline_sd", dtype=float)


def _p_adjusted_words(spec: dict) -> str:
    """The forest's "P adj." in words: primary outcomes adjusted only under the trial's rule
    "any" for its primary comparisons (trialeval.effects.adjust)."""
    if primary_adjusted(spec):
        return (
            " P adj.: adjusted for multiplicity across secondary outcomes, and across the "
            "primary outcomes and arms (success on any primary comparison)."
        )
    return (
        " P adj.: adjusted for multiplicity across secondary outcomes (primary outcomes are "
        "not adjusted)."
    )


def _effect_gid(row) -> str:
    contrast = str(row["contrast"]).replace(" ", "")
    return f"forest-{row['outcome']}-{row['estimand']}-{row['timepoint']}-{contrast}"


def _forest_rows(spec, eff, estimands, sd, colours, pair_n=None) -> list[_Row]:
    """Rows of one panel: one line per outcome when it has one estimate, else a header line
    (the outcome) over one indented line per estimand / visit / contrast. `pair_n`
    {(outcome, contrast): n} replaces effects.csv's n (see `_pair_n`)."""
    pair_n = pair_n or {}
    outcomes = {o["id"]: o for o in spec["outcomes"]}
    tp_labels = _timepoint_labels(spec)
    arm_labels = {a["id"]: a.get("label", a["id"]) for a in spec["arms"]}
    many_tp = eff["timepoint"].nunique() > 1
    many_contrast = eff["contrast"].nunique() > 1
    many_estimand = eff["estimand"].nunique() > 1
    rank = {e: i for i, e in enumerate(estimands)}
    rows: list[_Row] = []
    for band, (outcome_id, group) in enumerate(eff.groupby("outcome", sort=False)):
        outcome = outcomes[outcome_id]
        primary = outcome["role"] == "primary"
        label = pretty(outcome["label"])
        group = group.assign(_rank=group["estimand"].map(rank)).sort_values("_rank", kind="stable")
        single = len(group) == 1
        if not single:
            rows.append(_Row(label, bold=primary, band=band))
        for _, effect in group.iterrows():
            arm = str(effect["contrast"]).split(" - ")[0]
            parts = []
            if many_estimand:
                parts.append(ESTIMAND_LABELS.get(effect["estimand"], effect["estimand"]))
            if many_tp:
                parts.append(tp_labels.get(effect["timepoint"], effect["timepoint"]))
            if many_contrast:
                parts.append(arm_labels.get(arm, arm))
            scale = sd.get(outcome_id, np.nan) if sd is not None else 1.0
            est, lo, hi = (float(effect[c]) for c in ("estimate", "ci_low", "ci_high"))
            n = pair_n.get((outcome_id, effect["contrast"]), effect["n"])
            n = _count(n) if pd.notna(n) else ""
            adjusted = adjusted_p(spec, effect)  # as Table 2 prints it
            p_values = (format_p(effect["p_value"]), adjusted)
            digits = estimate_decimals(spec, outcome_id, effect["estimand"])
            sd_text = "" if sd is None else (_num(scale, digits) if np.isfinite(scale) else EN_DASH)
            rows.append(
                _Row(
                    label if single else ", ".join(parts) or label,
                    indent=0 if single else 1,
                    bold=primary and single,
                    x=est / scale,
                    lo=lo / scale,
                    hi=hi / scale,
                    marker=ESTIMAND_MARKERS.get(effect["estimand"], "o"),
                    filled=primary,
                    colour=colours.get(arm, "black"),
                    cells=(n, sd_text, _effect_text(effect, est, lo, hi, digits), *p_values),
                    gid=_effect_gid(effect),
                    band=band,
                )
            )
    return rows


def _effect_text(effect, est, lo, hi, digits) -> str:
    """The estimate (95% CI) column; a dash for a risk ratio disclosure control withholds."""
    if effect.get("note") == disclosure.ESTIMATE_NOTE:
        return DASH
    return _estimate_ci(est, lo, hi, digits)


def _pair_n(spec, continuous, analysis_set, model_n) -> dict[tuple[str, str], int]:
    """{(outcome, contrast): n} for a randomized trial's mixed models of several arms: the
    participants of the two arms compared, as the risk ratios count them (effects.csv's n
    of a mixed model counts every arm the model was fitted to)."""
    if spec["design"] not in RANDOMIZED or continuous.empty:
        return {}
    arms = [a["id"] for a in spec["arms"]]
    result = {}
    for outcome_id in dict.fromkeys(continuous["outcome"]):
        used = model_used(model_n, spec, analysis_set, outcome_id, arms)
        for contrast in dict.fromkeys(continuous["contrast"]):
            arm, control = contrast.split(" - ")
            result[(outcome_id, contrast)] = used.get(arm, 0) + used.get(control, 0)
    return result


def _by_direction(spec: dict, eff: pd.DataFrame) -> list[tuple[bool | None, pd.DataFrame]]:
    """The effects split by their outcomes' better direction (registry `higher_is_better`),
    in order of first appearance: one forest axis can say which side favours which arm only
    for outcomes that agree on it."""
    if eff.empty:
        return []
    outcomes = {o["id"]: o for o in spec["outcomes"]}
    direction = eff["outcome"].map(lambda o: higher_is_better(spec, outcomes[o]))
    keys = direction.map({True: "higher", False: "lower"}).fillna("unknown")
    return [
        ({"higher": True, "lower": False}.get(key), eff[keys == key]) for key in dict.fromkeys(keys)
    ]


def _kind_words(kind: str, direction: bool | None, whole: pd.DataFrame, part: pd.DataFrame) -> str:
    """'Continuous outcomes' or, when the outcomes of that kind are split by direction,
    'Continuous outcomes, lower is better'."""
    if len(part) == len(whole):
        return kind
    return f"{kind}, " + {True: "higher is better", False: "lower is better"}.get(
        direction, "direction not stated"
    )


def _favours_arms(spec: dict, contrasts: list[str]) -> tuple[str, str]:
    """(intervention, control) as the favours labels name them: the arm's label for one
    contrast, 'intervention' for several (their points are coloured by arm)."""
    labels = {a["id"]: a.get("label", a["id"]) for a in spec["arms"]}
    arms = list(dict.fromkeys(c.split(" - ")[0] for c in contrasts))
    control = contrasts[0].split(" - ")[1] if contrasts else spec.get("control_arm", "")
    arm = labels.get(arms[0], arms[0]) if len(arms) == 1 else "intervention"
    return arm, labels.get(control, control)


def _comparison_words(spec, eff) -> list[str]:
    """['A vs B', 'Month 4'] for effects of one contrast and one visit (either left out
    when the effects have several)."""
    arm_labels = {a["id"]: a.get("label", a["id"]) for a in spec["arms"]}
    tp_labels = _timepoint_labels(spec)
    parts = []
    contrasts = list(dict.fromkeys(eff["contrast"]))
    if len(contrasts) == 1:
        arm, control = contrasts[0].split(" - ")
        parts.append(f"{arm_labels.get(arm, arm)} vs {arm_labels.get(control, control)}")
    timepoints = list(dict.fromkeys(eff["timepoint"]))
    if len(timepoints) == 1:
        parts.append(tp_labels.get(timepoints[0], timepoints[0]))
    return parts


def _panel_title(spec, eff, kind: str, what: str, said: list[str] = ()) -> str:
    """'Continuous outcomes, difference in change from baseline: A vs B, Month 4', without
    what the figure's heading already `said`."""
    parts = [p for p in _comparison_words(spec, eff) if p not in said]
    return f"{kind}, {what}" + (f": {', '.join(parts)}" if parts else "")


PANEL_WHAT = {
    "diff_in_change": "difference in change from baseline",
    "diff_in_means": "difference in means at follow-up",
    "adjusted_diff": "difference adjusted for baseline (ANCOVA, MMRM or cLDA)",
    "adjusted_mean_difference": "difference in change from baseline",
    "hodges_lehmann_shift": "difference in change from baseline",
}


@_styled
def plot_forest(
    spec: dict,
    effects: pd.DataFrame,
    analysis_set: str = "itt",
    *,
    scores: pd.DataFrame | None = None,
    sets: pd.DataFrame | None = None,
    pairwise_n: bool = True,
    model_n: pd.DataFrame | None = None,
    plan: disclosure.Plan = disclosure.OFF,
):
    """Forest plot of the design's effects of interest in one analysis set.

    rct: difference in change at each post visit per contrast; quasi_experimental: ANCOVA
    mean difference and Hodges-Lehmann shift; categories: risk ratios in their own panel on a
    log axis. Continuous effects are divided by the outcome's pooled within-arm baseline SD
    (`baseline_sd`, from `scores` and `sets`) so all outcomes share one axis; the text columns
    give n, that SD, the raw estimate (95% CI), P and multiplicity-adjusted P. Primary
    outcomes: bold label and filled marker; secondary: open marker. `model_n`
    (model_n.csv): each model's participants per arm, the n of a multi-arm comparison.
    `plan`: disclosure control of the n (Table 2's, through the plan: "<5", "≥5").
    """
    eff = effects[effects["analysis_set"] == analysis_set]
    eff = order_effects(eff, spec) if len(eff) else eff
    eff, n_withheld = _planned_n(eff, plan)
    estimands = continuous_estimands(spec)
    continuous = eff[eff["estimand"].isin(estimands)]
    ratios = eff[eff["estimand"] == "risk_ratio"]
    gaps = forest_gaps(spec, effects, analysis_set)
    if continuous.empty and ratios.empty:
        return plot_message("Effects across outcomes: nothing to draw", gaps)
    sd = None
    if not continuous.empty:
        if scores is None:
            raise ValueError(
                "plot_forest standardizes continuous effects by the baseline SD: pass scores= "
                "(interim/scores.parquet) and sets= (interim/analysis_sets.parquet)"
            )
        sd = baseline_sd(spec, scores, sets, analysis_set)
    contrasts = list(dict.fromkeys(eff["contrast"]))
    # several arms: each comparison's n is of its two arms; under disclosure control a mixed
    # model's n of every arm (Table 2's), since two pairs and that total give each arm's n
    pairs = len(contrasts) > 1 and pairwise_n
    panels = _forest_panels(
        spec,
        continuous,
        ratios,
        sd,
        contrasts,
        (scores, sets, model_n) if pairs else None,
        analysis_set,
    )
    n_words = ""
    if len(contrasts) > 1:
        n_words = (
            " n: participants of the two arms compared."
            if pairwise_n
            else " n: continuous outcomes, participants in the model (every arm, as in Table 2);"
            " binary outcomes, participants of the two arms compared."
        )
    footnote = (
        f"{_cap(set_name(analysis_set, spec))}; points and bars: estimate and "
        f"{ci_level(spec)} CI."
        " SD: pooled within-arm SD at baseline, the unit of the standardized axis; difference "
        "in the outcome's own units." + n_words + _p_adjusted_words(spec)
    )
    if gaps:
        footnote += " Not drawn: " + " ".join(gaps)
    if n_withheld:
        footnote += " " + plan.note()
    # the footnote grows upwards from the bottom: room for its lines beyond the usual two
    extra = max(len(wrap(footnote, DOUBLE_COLUMN - 0.1, SMALL_FONT)) - 2, 0) * SMALL_FONT / 62
    aligns = ["right", "right", "left", "right", "right"]
    fig, margin = _stack_panels(panels, aligns=aligns, foot_h=0.64 + extra)
    _forest_legend(fig, continuous, estimands, margin, extra)
    _footnote(fig, footnote, margin)
    return fig


def _planned_n(eff: pd.DataFrame, plan: disclosure.Plan) -> tuple[pd.DataFrame, bool]:
    """The effects with each n as disclosure control prints it (a withheld one as its marker,
    the fact Table 2 prints it under), and whether any is withheld."""
    if not plan.on or eff.empty:
        return eff, False
    marks = [
        None if pd.isna(r["n"]) else plan.marker(disclosure.effects_n_key(r), r["n"])
        for r in eff.to_dict("records")
    ]
    n = [m or v for m, v in zip(marks, eff["n"], strict=True)]
    return eff.assign(n=pd.Series(n, index=eff.index, dtype=object)), any(marks)


def _forest_panels(spec, continuous, ratios, sd, contrasts, pair_data, analysis_set):
    """The panels of the effects forest: continuous outcomes, then binary, each split by the
    outcomes' better direction, each with its favours line. `pair_data` (scores, sets,
    model_n): the
    continuous rows' n counted per pair of arms from model_n (`_pair_n`); None: effects.csv's
    n."""
    estimands = continuous_estimands(spec)
    styles = arm_styles(spec)
    # one contrast: black; several: each intervention arm in its colour (labels say which)
    colours = {}
    if len(contrasts) > 1:
        colours = {c.split(" - ")[0]: styles[c.split(" - ")[0]]["colour"] for c in contrasts}
    favours_arms = _favours_arms(spec, contrasts)
    pair_n = {}
    if pair_data:
        pair_n = _pair_n(spec, continuous, analysis_set, pair_data[2])
    # the contrast and visit every panel shares are said once, above the first panel
    said = _comparison_words(spec, pd.concat([continuous, ratios]))
    panels = []
    for direction, part in _by_direction(spec, continuous):
        what = PANEL_WHAT.get(part["estimand"].iloc[0], "difference")
        kind = _kind_words("Continuous outcomes", direction, continuous, part)
        panels.append(
            {
                "rows": _forest_rows(spec, part, estimands, sd, colours, pair_n),
                "log": False,
                "headers": ["n", "SD", f"Difference ({ci_level(spec)} CI)", "P", "P adj."],
                "title": _panel_title(spec, part, kind, what, said),
                "xlabel": f"Difference, standardized (per baseline SD), {ci_level(spec)} CI",
                "favours": favours(direction, *favours_arms),
            }
        )
    for direction, part in _by_direction(spec, ratios):
        kind = _kind_words("Binary outcomes", direction, ratios, part)
        panels.append(
            {
                "rows": _forest_rows(spec, part, ("risk_ratio",), None, colours),
                "log": True,
                "headers": ["n", "", f"Risk ratio ({ci_level(spec)} CI)", "P", "P adj."],
                "title": _panel_title(spec, part, kind, "risk ratio (unadjusted)", said),
                "xlabel": f"Risk ratio (log scale), {ci_level(spec)} CI",
                "favours": favours(direction, *favours_arms),
            }
        )
    if said and panels:
        panels[0]["heading"] = ", ".join(said)
    return panels


def _forest_legend(fig, continuous, estimands, margin: float, extra: float) -> None:
    """Primary / secondary markers (and the estimands' markers when there are several)."""
    grey = "0.45"
    handles = [
        Line2D([], [], color="black", marker="o", linestyle="none", markersize=MARKER_SIZE),
        Line2D(
            [],
            [],
            color="black",
            marker="o",
            markerfacecolor="white",
            linestyle="none",
            markersize=MARKER_SIZE,
        ),
    ]
    labels = ["Primary outcome (bold label)", "Secondary outcome"]
    if continuous["estimand"].nunique() > 1:
        for estimand in [e for e in estimands if e in set(continuous["estimand"])]:
            handles.append(
                Line2D(
                    [],
                    [],
                    color=grey,
                    marker=ESTIMAND_MARKERS.get(estimand, "o"),
                    linestyle="none",
                    markersize=MARKER_SIZE,
                )
            )
            labels.append(ESTIMAND_LABELS.get(estimand, estimand))
    height = fig.get_size_inches()[1]
    fig.legend(
        handles,
        labels,
        loc="lower left",
        bbox_to_anchor=(margin / DOUBLE_COLUMN, (0.34 + extra) / height),
        ncol=len(labels),
        frameon=False,
        handletextpad=0.3,
        columnspacing=1.4,
        borderaxespad=0,
        borderpad=0,
    )


def _primary_rows(effects: pd.DataFrame) -> pd.DataFrame:
    """The primary analysis's rows: figures draw it; sensitivity analyses are in the tables."""
    if "analysis_name" not in effects:
        return effects
    names = effects["analysis_name"]
    return effects[names.isna() | (names == "primary")].reset_index(drop=True)


def forest_gaps(spec: dict, effects: pd.DataFrame, analysis_set: str = "itt") -> list[str]:
    """What the forest plot cannot draw, and why: effects without an estimate, with the
    reasons their rows give (effects.csv `note`), each reason once."""
    estimands = (*continuous_estimands(spec), "risk_ratio")
    eff = effects[(effects["analysis_set"] == analysis_set) & effects["estimand"].isin(estimands)]
    set_label = set_name(analysis_set, spec)
    if eff.empty:
        return [f"No effects were estimated in the {set_label}."]
    missing = eff[eff["estimate"].isna()]
    if missing.empty:
        return []
    reasons = dict.fromkeys(_why_not(note) for note in missing["note"])
    return [
        f"{len(missing)} of {len(eff)} effects have no estimate ("
        + "; ".join(reasons)
        + "): their rows show no point."
    ]


def _why_not(note) -> str:
    """The part of an effects note that says why there is no estimate."""
    parts = [p.strip() for p in str(note if pd.notna(note) else "").split(";")]
    said = [p for p in parts if p.startswith(("not estimable", "not estimated", "no "))]
    return "; ".join(said or [p for p in parts if p] or ["no reason recorded"])


@_styled
def plot_odds_ratios(
    spec: dict, effects: pd.DataFrame, association_counts: pd.DataFrame, plan=disclosure.OFF
):
    """Odds ratios (95% CI, log axis) of the association outcome per exposure level, grouped
    by exposure; the reference level drawn at 1 and marked '(reference)'; events/n per level
    from the association counts, through disclosure control's `plan` (a withheld count as its
    marker, without the percentage), as the association table prints them."""
    options = spec["analyses"].get("association") or {}
    outcomes = {o["id"]: o for o in spec["outcomes"]}
    eff = effects[(effects["estimand"] == "odds_ratio") & (effects["analysis"] == "association")]
    if eff.empty:
        return plot_message("Odds ratios by exposure level: nothing to draw", [NO_ODDS_RATIOS])
    analysis_set = "itt" if (eff["analysis_set"] == "itt").any() else eff["analysis_set"].iloc[0]
    eff = eff[eff["analysis_set"] == analysis_set]
    counts = association_counts[association_counts["analysis_set"] == analysis_set]
    exposures = [e for e in options.get("exposures", []) if e in set(eff["exposure"])]
    exposures += [e for e in dict.fromkeys(eff["exposure"]) if e not in exposures]
    outcome = outcomes[eff["outcome"].iloc[0]]
    primary = outcome["role"] == "primary"
    digits = estimate_decimals(spec, outcome["id"], "odds_ratio")

    rows: list[_Row] = []
    for band, exposure in enumerate(exposures):
        if exposure in outcomes:
            heading = outcomes[exposure]["label"]
        else:  # a participants-file column
            from trialeval.tables import exposure_column_label

            heading = exposure_column_label(spec, exposure)
        rows.append(_Row(pretty(heading), bold=True, band=band))
        ors = eff[eff["exposure"] == exposure]
        by_label = {str(r["contrast"]).split(" - ")[0]: r for _, r in ors.iterrows()}
        references = {str(c).split(" - ")[1] for c in ors["contrast"]}
        levels = counts[counts["exposure"] == exposure]
        levels = levels.assign(_key=levels["level"].astype(float)).sort_values("_key")
        for _, level in levels.iterrows():
            label = str(level["label"])
            n_text, share = _level_counts(plan, analysis_set, exposure, level)
            gid = f"or-{exposure}-{level['level']}"
            if label in references:
                rows.append(
                    _Row(
                        f"{label} (reference)",
                        indent=1,
                        reference=True,
                        marker="s",
                        filled=False,
                        colour="0.3",
                        cells=(n_text, share, "1 (reference)", ""),
                        gid=f"{gid}-reference",
                        band=band,
                    )
                )
                continue
            effect = by_label.get(label)
            est, lo, hi, p = (
                (float(effect[c]) for c in ("estimate", "ci_low", "ci_high", "p_value"))
                if effect is not None
                else (np.nan,) * 4
            )
            rows.append(
                _Row(
                    label,
                    indent=1,
                    x=est,
                    lo=lo,
                    hi=hi,
                    filled=primary,
                    cells=(
                        n_text,
                        share,
                        _effect_text(effect if effect is not None else {}, est, lo, hi, digits),
                        format_p(p),
                    ),
                    gid=gid,
                    band=band,
                )
            )

    covariates = {c["name"]: c["label"] for c in spec["covariates"]}
    adjusted = [covariates.get(c, c).lower() for c in options.get("covariates", [])]
    name = pretty(outcome["label"])
    panel = {
        "rows": rows,
        "log": True,
        "headers": ["n", "Events (%)", f"Odds ratio ({ci_level(spec)} CI)", "P"],
        "title": f"Odds of {name[0].lower() + name[1:]}, by exposure level",
        "xlabel": f"Odds ratio (log scale), {ci_level(spec)} CI",
        # no arms to favour: which side has lower odds of the outcome than the reference
        "favours": _odds_sides(name),
    }
    aligns = ["right", "right", "left", "right"]
    text = (
        "Logistic regression with the lowest level as reference, "
        + (f"adjusted for {', '.join(adjusted)}" if adjusted else "unadjusted")
        + ". n: respondents at the level with the outcome, exposure and covariates answered; "
        "events: those with the outcome. P values are not adjusted for multiplicity across "
        "exposures or levels." + _withheld_words(plan, rows, eff)
    )
    extra = max(len(wrap(text, DOUBLE_COLUMN - 0.1, SMALL_FONT)) - 2, 0) * SMALL_FONT / 62
    fig, margin = _stack_panels([panel], aligns=aligns, foot_h=0.36 + extra)
    _footnote(fig, text, margin)
    return fig


def _odds_sides(outcome_label: str) -> tuple[str, str]:
    """The texts under an odds-ratio axis (as `favours` for arms): lower odds of the outcome
    than the reference level on the left, higher on the right."""
    short = outcome_label.split(" (")[0]
    short = short[0].lower() + short[1:] if short[1:2].islower() else short
    return f"\u2190 Lower odds of {short}", f"Higher odds of {short} \u2192"


def _withheld_words(plan, rows: list, effects: pd.DataFrame) -> str:
    """The odds-ratio forest's disclosure-control sentences (empty when nothing is withheld)."""
    if not plan.on:
        return ""
    marks = (f"<{plan.min_cell}", f"\u2265{plan.min_cell}")
    words = ""
    if any(m in str(c) for row in rows for c in row.cells for m in marks):
        words += " " + plan.note()
    if (effects["note"] == disclosure.ESTIMATE_NOTE).any():
        words += f" {DASH}: {disclosure.ESTIMATE_NOTE}."
    return words


def _level_counts(plan, analysis_set: str, exposure: str, level) -> tuple[str, str]:
    """(n, events (%)) of one exposure level as the odds-ratio forest prints them."""
    where = (analysis_set, exposure, str(level["label"]))
    n = plan.marker(disclosure.association_key(*where, "n"), level["n"])
    events = plan.marker(disclosure.association_key(*where, "events"), level["events"])
    share = events or f"{int(level['events']):,}"
    if level["n"] > 0 and not (n or events):
        share += f" ({format_number(100 * level['proportion'], 1)})"  # as the table: "(%)" heads it
    return n or _count(level["n"]), share


# --------------------------------------------------------------------------------------
# Change distributions
# --------------------------------------------------------------------------------------


def change_scores(
    spec: dict, scores: pd.DataFrame, sets: pd.DataFrame, analysis_set: str = "itt"
) -> pd.DataFrame:
    """participant_id, arm, outcome, timepoint (post), change: analysis-set members observed
    at baseline and at that post timepoint (as the pre/post analysis uses them)."""
    baseline = spec["baseline"]
    frames = []
    for outcome in spec["outcomes"]:
        if outcome["kind"] != "score":
            continue
        members = set_members(sets, analysis_set, outcome["id"])
        rows = scores[
            (scores["outcome"] == outcome["id"])
            & in_set(scores["participant_id"], members["participant_id"])
        ]
        wide = rows.pivot(index="participant_id", columns="timepoint", values="score")
        for tp in spec["timepoints"]:
            if tp["id"] == baseline or tp["id"] not in wide or baseline not in wide:
                continue
            pair = wide[[baseline, tp["id"]]].dropna()
            frames.append(
                pd.DataFrame(
                    {
                        "participant_id": pair.index.to_numpy(),
                        "outcome": outcome["id"],
                        "timepoint": tp["id"],
                        "change": (pair[tp["id"]] - pair[baseline]).to_numpy(dtype=float),
                    }
                )
            )
    columns = ["participant_id", "arm", "outcome", "timepoint", "change"]
    if not frames:
        return pd.DataFrame(columns=columns)
    arms = sets[["participant_id", "arm"]]
    changes = pd.concat(frames, ignore_index=True).merge(arms, on="participant_id")
    return changes[columns]


@_styled
def plot_change_distributions(
    spec: dict,
    scores: pd.DataFrame,
    sets: pd.DataFrame,
    analysis_set: str = "itt",
    withhold_counts: bool = False,
):
    """Change from baseline (post - baseline) per arm, one panel per score outcome (and post
    timepoint): box plot (median line, quartiles, 1.5 IQR whiskers) over every participant as
    a jittered point; n per arm in the tick labels. Under disclosure control
    (`withhold_counts`) the boxes only: the points could be counted, and the n equal the
    completion table's counts, which may be withheld."""
    changes = change_scores(spec, scores, sets, analysis_set)
    gaps = change_gaps(spec, changes, analysis_set)
    if changes.empty:
        return plot_message("Change from baseline by arm: nothing to draw", gaps)
    tp_labels = _timepoint_labels(spec)
    styles = arm_styles(spec)
    arms = [a["id"] for a in spec["arms"]]
    panels = [
        (o, tp["id"])
        for o in spec["outcomes"]
        if o["kind"] == "score"
        for tp in spec["timepoints"]
        if tp["id"] != spec["baseline"]
    ]
    many_posts = len(spec["timepoints"]) > 2
    nrows, ncols, width, tick_room = _small_multiples(
        len(panels), [styles[a]["label"] + " (n = 000)" for a in arms], 0.8
    )
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, 2.3 * nrows), layout="constrained", squeeze=False
    )
    rng = np.random.default_rng(0)  # jitter: the same picture on every run
    for ax, (outcome, post) in zip(axes.flat, panels, strict=False):
        data = changes[(changes["outcome"] == outcome["id"]) & (changes["timepoint"] == post)]
        ticks = []
        for k, arm in enumerate(arms):
            values = data.loc[data["arm"] == arm, "change"].to_numpy(dtype=float)
            style = styles[arm]
            name = "\n".join(wrap(style["label"], tick_room, SMALL_FONT))
            ticks.append(name if withhold_counts else f"{name}\n(n = {len(values)})")
            if len(values) == 0:
                continue
            box = ax.boxplot(
                [values],
                positions=[k],
                widths=0.55,
                showfliers=False,
                patch_artist=True,
                boxprops={"facecolor": "white", "edgecolor": style["colour"], "linewidth": 1.0},
                whiskerprops={"color": style["colour"], "linewidth": 1.0},
                capprops={"color": style["colour"], "linewidth": 1.0},
                medianprops={"color": "black", "linewidth": 1.6},
                zorder=2,
            )
            box["medians"][0].set_gid(f"median-{outcome['id']}-{post}-{arm}")
            if withhold_counts:
                continue
            points = ax.scatter(
                k + rng.uniform(-0.2, 0.2, len(values)),
                values,
                s=7,
                marker=style["marker"],
                color=style["colour"],
                alpha=0.55,
                linewidths=0,
                zorder=3,
            )
            points.set_gid(f"change-{outcome['id']}-{post}-{arm}")
        ax.axhline(0, color="0.5", linewidth=0.6, linestyle="--", zorder=1)
        ax.set_xticks(range(len(arms)), ticks)
        ax.set_xlim(-0.6, len(arms) - 0.4)
        title = outcome_axis_label(spec, outcome)
        if many_posts:
            title += f", {tp_labels[post]}"
        ax.set_title("\n".join(_label_lines(title, width / ncols - 0.3)), fontsize=FONT_SIZE)
        ax.tick_params(axis="x", length=0)
        ax.set_ylabel("Change from baseline (points)")
        ax.yaxis.set_major_locator(_y_locator(_whole_points(spec, outcome)))
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    withheld = "Individual changes and n not shown (disclosure control)."
    _not_drawn_footnote(fig, gaps, width, withheld if withhold_counts else "")
    _freeze_layout(fig)
    return fig


def change_gaps(spec: dict, changes: pd.DataFrame, analysis_set: str = "itt") -> list[str]:
    """What the change-distribution figure cannot draw: arms without a change score."""
    set_label = set_name(analysis_set, spec)
    baseline = _timepoint_labels(spec)[spec["baseline"]]
    if changes.empty:
        return [
            f"No change scores: no participant of the {set_label} has a score at "
            f"{baseline} and at a later visit."
        ]
    return [
        f"{arm['label']}: no participant has a score at {baseline} and at a later visit, "
        "so no box is drawn."
        for arm in spec["arms"]
        if not (changes["arm"] == arm["id"]).any()
    ]


# --------------------------------------------------------------------------------------
# CONSORT flow diagram
# --------------------------------------------------------------------------------------

BOX_PAD = 0.06  # inches inside a box, around its text
BOX_LINE = FONT_SIZE * 1.32 / 72  # inches per line of box text
ROW_GAP = 0.3  # inches between stages (room for the arrows)
STAGE_W = 0.78  # inches: the stage-label column on the left
STAGE_FILL = "#E6E6E6"


@dataclass
class _Box:
    lines: list[tuple[str, str, int]]  # (text, weight, indent level)
    width: float
    align: str = "left"
    x0: float = 0.0
    top: float = 0.0  # inches from the top of the figure
    height: float = 0.0

    @property
    def centre(self) -> float:
        return self.x0 + self.width / 2

    @property
    def bottom(self) -> float:
        return self.top + self.height


def _box(items: list[tuple[str, str, int]], width: float, align: str = "left") -> _Box:
    """A box whose text is wrapped to its width; its height follows from the lines."""
    lines = []
    for text, weight, indent in items:
        text = re.sub("\u00a0=\u00a0([<\u2265])", "\u00a0\\1\u00a0", text)  # "n < 5", not "n = <5"
        room = width - 2 * BOX_PAD - indent * INDENT
        for k, line in enumerate(wrap(text, room, FONT_SIZE, weight)):
            # continuation lines hang under the first so items stay distinguishable
            lines.append((line, weight, indent + (1 if k and align == "left" else 0)))
    box = _Box(lines, width, align)
    box.height = len(lines) * BOX_LINE + 2 * BOX_PAD
    return box


def _draw_box(ax, box: _Box, fig_h: float, fill: str = "white") -> None:
    bottom = fig_h - box.top - box.height
    ax.add_patch(
        FancyBboxPatch(
            (box.x0, bottom),
            box.width,
            box.height,
            boxstyle="round,pad=0,rounding_size=0.03",
            linewidth=0.7,
            edgecolor="black",
            facecolor=fill,
            gid="consort-box",
        )
    )
    # centre the block of lines vertically (rows share a height; some boxes have fewer lines)
    block = len(box.lines) * BOX_LINE
    first = fig_h - box.top - (box.height - block) / 2 - BOX_LINE / 2
    for i, (text, weight, indent) in enumerate(box.lines):
        x = box.x0 + BOX_PAD + indent * INDENT if box.align == "left" else box.centre
        ax.text(
            x,
            first - i * BOX_LINE,
            text,
            ha="left" if box.align == "left" else "center",
            va="center",
            fontweight=weight,
        )


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], fig_h: float) -> None:
    """Arrow between points given as (x, inches from the top)."""
    ax.annotate(
        "",
        xy=(end[0], fig_h - end[1]),
        xytext=(start[0], fig_h - start[1]),
        arrowprops={
            "arrowstyle": "-|>",
            "color": "black",
            "linewidth": 0.7,
            "mutation_scale": 7,
            "shrinkA": 0,
            "shrinkB": 0,
        },
    )


def _line(ax, xs, tops, fig_h: float) -> None:
    ax.plot(xs, [fig_h - t for t in tops], color="black", linewidth=0.7, solid_capstyle="butt")


def _stage(
    ax, text: str, top: float, bottom: float, fig_h: float, margin: float, width: float = STAGE_W
) -> None:
    box = _box([(text, "bold", 0)], width - 0.08, "center")
    box.x0 = margin
    box.top = (top + bottom) / 2 - box.height / 2
    _draw_box(ax, box, fig_h, STAGE_FILL)


def _words(spec: dict) -> dict[str, str]:
    """The flow diagram's words for the design: a non-randomized study assigns, it does not
    allocate (CONSORT's words are for randomized trials)."""
    if spec["design"] in RANDOMIZED:
        return {
            "enrolled": "Enrolled and randomized",
            "stage": "Allocation",
            "to": "Allocated to",
            "given": "allocated",
        }
    if spec["design"] == "cohort_comparison":  # cohorts are observed, not assigned
        return {"enrolled": "Enrolled", "stage": "Cohort", "to": "", "given": ""}
    return {"enrolled": "Enrolled", "stage": "Assignment", "to": "Assigned to", "given": "assigned"}


def _in_own_terms(spec: dict, text: str) -> str:
    """consort.json's definitions say 'allocated' and 'itt participants'; the figure says
    'ITT participants', and a non-randomized study's 'assigned' and its own set's members
    ("enrolled participants": trialeval.labels)."""
    if spec["design"] in RANDOMIZED:
        return re.sub(r"\bitt\b", "ITT", text)
    text = re.sub(r"\bitt participants\b", primary_set_words(spec)[1], text)
    text = re.sub(r"\bitt\b", analysis_set_label("itt", spec).lower(), text)
    return re.sub(r"\ballocated\b", "assigned", text)


def configured_sets(spec: dict, consort: dict) -> list[str]:
    """The analysis sets the trial file configures (analyses.analysis_sets), in its order."""
    sets = spec["analyses"].get("analysis_sets") or ["itt"]
    return [s for s in sets if s in consort["analysed"]]


def _per_protocol_text(spec: dict, consort: dict) -> str:
    rule = spec.get("per_protocol")
    if not rule:
        return f"no adherence rule configured, so it equals the {set_name('itt', spec)}"
    labels = {a["id"]: a.get("label", a["id"]) for a in spec["arms"]}
    arms = ", ".join(labels.get(a, a) for a in rule["arms"])
    column = rule["column"].replace("_", " ")
    how = "allocated" if spec["design"] in RANDOMIZED else "assigned"
    return f"{arms} participants with {column} \u2265 {rule['at_least']:g}; other arms as {how}"


def _consort_footnote(spec: dict, consort: dict, model_n: dict | None) -> str:
    from trialeval.labels import primary_set_definition

    definitions = {k: _in_own_terms(spec, v) for k, v in consort.get("definitions", {}).items()}
    primary = "Intention-to-treat (ITT)" if spec["design"] in RANDOMIZED else None
    said = {
        "itt": f"{primary or analysis_set_label('itt', spec)}: {primary_set_definition(spec)}.",
        "per_protocol": f"Per protocol: {_per_protocol_text(spec, consort)}.",
        "complete_case": f"Complete case: {definitions.get('complete_case', '')}.",
    }
    parts = [said[name] for name in configured_sets(spec, consort) if name in said]
    parts.append(f"Assessed: {definitions.get('assessed', '')}.")
    parts += _flow_footnote(spec, consort)
    if model_n:
        parts.append(
            "Under each analysis set, the participants each primary outcome's model used (those "
            "with the outcome scored as the model needs it); no data: the others of the set."
        )
    if consort.get("disclosure_note"):
        parts.append(consort["disclosure_note"])
    return " ".join(parts)


def _flow_footnote(spec: dict, consort: dict) -> list[str]:
    """The footnote's sentences on the `flow` block's boxes (none without them)."""
    flow = spec.get("flow") or {}
    given = _words(spec)["given"]
    parts = []
    if "eligibility" in consort:
        parts.append("Assessed for eligibility and excluded: the trial's screening records.")
    rule = flow.get("received")
    if rule and "received" in consort:
        labels = {a["id"]: a.get("label", a["id"]) for a in spec["arms"]}
        arms = ", ".join(labels.get(a, a) for a in rule["arms"])
        column = rule["column"].replace("_", " ")
        parts.append(
            f"Received {given} intervention: {arms} participants with {column} \u2265 "
            f"{rule['at_least']:g} (a missing value counts as not received)."
        )
    if flow.get("reason_column") and "withdrawn_reasons" in consort:
        last = consort["timepoints"][spec["timepoints"][-1]["id"]]
        parts.append(
            f"Reasons under consent withdrawals and under not assessed at {last}: the "
            f"participants file's {flow['reason_column'].replace('_', ' ')} (blank: reason not "
            "recorded)."
        )
    return parts


@_styled
def plot_consort(spec: dict, consort: dict, model_n: dict | None = None):
    """CONSORT flow diagram with every number taken from consort.json (and `model_n`).

    Arms: enrolment (with the trial file's `flow` screening counts, assessed for eligibility
    and the exclusion box beside the arrow) -> allocation, or assignment in a non-randomized
    study (one box per arm; `flow.received`: received the intervention or not) -> follow-up
    (consent withdrawals, assessed and not assessed at every timepoint; `flow.reason_column`:
    the reasons under the withdrawals and the last timepoint's not assessed) ->
    analysis (each configured analysis set, with the number excluded, and under it the n
    each primary outcome's model used; `model_n`, from `primary_model_n`). A single-group
    survey: surveyed -> responded (with the response rate) -> analysed (each primary
    model's n), with the non-respondents in a side box.
    """
    arms = list(consort["allocated"])
    if arms == ["all"] or spec["design"] == "cross_sectional":
        return _consort_survey(spec, consort, model_n)
    return _consort_arms(spec, consort, model_n)


def _unit_lines(consort: dict, arm: str) -> list[tuple[str, str, int]]:
    """The clusters (cluster_rct) and delivery groups an arm was allocated, with their sizes."""
    lines = []
    for key, word in (("clusters", "clusters"), ("delivery_groups", "delivery groups")):
        units = consort.get(key, {}).get("allocated", {}).get(arm)
        if units and units["n"] and units.get("sizes_withheld"):  # disclosure control
            lines.append((f"in {units['n']} {word} (sizes withheld)", "normal", 0))
        elif units and units["n"]:
            sizes = f"{units['min']}\u2013{units['max']}"
            lines.append((f"in {units['n']} {word} of {sizes} participants", "normal", 0))
    return lines


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _n(value) -> str:
    return f"n\u00a0=\u00a0{_count(value)}"


def _reason_lines(reasons: dict, arm: str, indent: int) -> list[tuple[str, str, int]]:
    """One line per reason this arm has (a withheld count, a marker, is listed too)."""
    return [
        (f"{reason}: {_n(counts[arm])}", "normal", indent)
        for reason, counts in reasons.items()
        if isinstance(counts[arm], str) or counts[arm] > 0
    ]


def _follow_up_lines(spec: dict, consort: dict, arm: str) -> list[tuple[str, str, int]]:
    lines = [(f"Withdrew consent for data use: {_n(consort['withdrawn'][arm])}", "normal", 0)]
    lines += _reason_lines(consort.get("withdrawn_reasons", {}), arm, 1)
    lost_reasons = consort.get("not_assessed_reasons", {})
    for tp, tp_label in consort["timepoints"].items():
        lost = "" if tp == spec.get("baseline") else " (lost to follow-up)"
        lines += [
            (tp_label, "bold", 0),
            (f"Assessed: {_n(consort['assessed'][tp][arm])}", "normal", 1),
            (f"Not assessed{lost}: {_n(consort['not_assessed'][tp][arm])}", "normal", 1),
            *_reason_lines(lost_reasons.get(tp, {}), arm, 2),
        ]
    never = consort.get("no_data_at_any_timepoint", {}).get(arm)
    if never is not None:
        kept = "ITT" if spec["design"] in RANDOMIZED else set_name("itt", spec)
        lines.append((f"No data at any timepoint (kept in {kept}): {_n(never)}", "normal", 0))
    return lines


def _both_counts(*values) -> bool:
    """Whether every value is a number (not withheld by disclosure control)."""
    return not any(isinstance(v, str) for v in values)


def _analysis_lines(spec: dict, consort: dict, arm: str, model_n: dict | None) -> list:
    """Each configured analysis set (its n, those excluded from it) and under it, per
    primary outcome, the n its model used and the set's others, without data."""
    labels = {o["id"]: pretty(o["label"]) for o in spec["outcomes"]}
    lines: list[tuple[str, str, int]] = [("Analysed", "bold", 0)]
    for name in configured_sets(spec, consort):
        size = consort["analysed"][name][arm]
        text = f"{analysis_set_label(name, spec)}: {_n(size)}"
        excluded = consort.get("excluded_from", {}).get(name)
        if excluded is not None:
            text += f" (excluded {_n(excluded[arm])})"
        lines.append((text, "normal", 0))
        used = (model_n or {}).get(name, {})
        for outcome, counts in used.items():
            n = counts.get(arm, 0)
            lines.append(
                (
                    f"{labels.get(outcome, outcome)}: {_n(n)}"
                    + (f" (no data: {_count(size - n)})" if _both_counts(size, n) else ""),
                    "normal",
                    1,
                )
            )
        if name == "complete_case" and not used:
            lines += _complete_case_by_outcome(spec, consort, arm)
    return lines


def _consort_arms(spec: dict, consort: dict, model_n: dict | None = None):
    width, margin, gap = DOUBLE_COLUMN, 0.08, 0.18
    arms = list(consort["allocated"])
    labels = consort.get("arms", {})
    words = _words(spec)
    x_start = margin + STAGE_W
    avail = width - x_start - margin
    col_w = (avail - gap * (len(arms) - 1)) / len(arms)

    enrol = _box(
        [(words["enrolled"], "bold", 0), (_n(consort["enrolled"]), "normal", 0)],
        min(2.4, avail),
        "center",
    )
    enrol.x0 = x_start + (avail - enrol.width) / 2
    screening = _screening_boxes(consort, enrol, width - margin)
    rows: list[list[_Box]] = [[], [], []]
    for arm in arms:
        head = [
            (f"{words['to']} {labels.get(arm, arm)}".strip(), "bold", 0),
            (_n(consort["allocated"][arm]), "normal", 0),
            *_unit_lines(consort, arm),
            *_received_lines(consort, arm, words["given"]),
        ]
        rows[0].append(_box(head, col_w, "center"))
        rows[1].append(_box(_follow_up_lines(spec, consort, arm), col_w))
        rows[2].append(_box(_analysis_lines(spec, consort, arm, model_n), col_w))

    # vertical positions (inches from the top), each stage's boxes sharing one height
    enrol.top = _place_screening(screening, margin)
    y = enrol.bottom + ROW_GAP + 0.08
    for row in rows:
        height = max(b.height for b in row)
        for i, box in enumerate(row):
            box.x0, box.top, box.height = x_start + i * (col_w + gap), y, height
        y += height + ROW_GAP
    footnote = wrap(_consort_footnote(spec, consort, model_n), width - 2 * margin, SMALL_FONT)
    fig_h = y - ROW_GAP + 0.12 + len(footnote) * SMALL_FONT * 1.3 / 72 + margin

    fig = plt.figure(figsize=(width, fig_h))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, fig_h)
    ax.axis("off")
    first = screening[0].top if screening else enrol.top
    for stage, (t, b) in zip(
        ["Enrolment", words["stage"], "Follow-up", "Analysis"],
        [(first, enrol.bottom)] + [(r[0].top, r[0].bottom) for r in rows],
        strict=True,
    ):
        _stage(ax, stage, t, b, fig_h, margin)
    _draw_screening(ax, screening, enrol, fig_h)
    _draw_box(ax, enrol, fig_h)
    for row in rows:
        for box in row:
            _draw_box(ax, box, fig_h)
    _arm_arrows(ax, enrol, rows, fig_h)
    _consort_note(ax, footnote, margin, fig_h - (rows[-1][0].bottom + 0.12))
    return fig


def _received_lines(consort: dict, arm: str, given: str) -> list[tuple[str, str, int]]:
    """A delivering arm's received / did not receive lines (`flow.received`); none for the
    other arms, which deliver nothing to receive."""
    if arm not in consort.get("received", {}):
        return []
    return [
        (f"Received {given} intervention: {_n(consort['received'][arm])}", "normal", 0),
        (f"Did not receive {given} intervention: {_n(consort['not_received'][arm])}", "normal", 0),
    ]


def _screening_boxes(consort: dict, enrol: _Box, right: float) -> tuple[_Box, _Box] | None:
    """The CONSORT template's first boxes (`flow.assessed_for_eligibility`): assessed for
    eligibility above the enrolment box, and the exclusion box, with its reasons, right of
    the arrow between them; None without screening counts."""
    counts = consort.get("eligibility")
    if not counts:
        return None
    assessed = _box(
        [("Assessed for eligibility", "bold", 0), (_n(counts["assessed"]), "normal", 0)],
        enrol.width,
        "center",
    )
    assessed.x0 = enrol.x0
    lines = [(f"Excluded: {_n(counts['excluded'])}", "bold", 0)]
    lines += [(f"{r}: {_n(n)}", "normal", 1) for r, n in counts["excluded_reasons"].items()]
    x0 = enrol.centre + 0.3
    excluded = _box(lines, right - x0)
    excluded.x0 = x0
    return assessed, excluded


def _place_screening(screening, margin: float) -> float:
    """Place the screening boxes from the top margin; the enrolment box's top."""
    if screening is None:
        return margin
    assessed, excluded = screening
    assessed.top = margin
    gap = max(ROW_GAP, excluded.height + 0.24)
    excluded.top = assessed.bottom + (gap - excluded.height) / 2
    return assessed.bottom + gap


def _draw_screening(ax, screening, enrol: _Box, fig_h: float) -> None:
    """Assessed -> enrolled, the excluded branching off to the right."""
    if screening is None:
        return
    assessed, excluded = screening
    _draw_box(ax, assessed, fig_h)
    _draw_box(ax, excluded, fig_h)
    _arrow(ax, (enrol.centre, assessed.bottom), (enrol.centre, enrol.top), fig_h)
    middle = excluded.top + excluded.height / 2
    _arrow(ax, (enrol.centre, middle), (excluded.x0, middle), fig_h)


def _arm_arrows(ax, enrol: _Box, rows: list[list[_Box]], fig_h: float) -> None:
    """Enrolment splits to the arms, then each arm flows straight down."""
    split = enrol.bottom + (rows[0][0].top - enrol.bottom) / 2
    _line(ax, [enrol.centre, enrol.centre], [enrol.bottom, split], fig_h)
    _line(ax, [rows[0][0].centre, rows[0][-1].centre], [split, split], fig_h)
    for i in range(len(rows[0])):
        _arrow(ax, (rows[0][i].centre, split), (rows[0][i].centre, rows[0][i].top), fig_h)
        for upper, lower in zip(rows[:-1], rows[1:], strict=True):
            _arrow(ax, (upper[i].centre, upper[i].bottom), (lower[i].centre, lower[i].top), fig_h)


def _consort_note(ax, lines: list[str], margin: float, top: float) -> None:
    ax.text(
        margin,
        top,
        "\n".join(lines),
        ha="left",
        va="top",
        fontsize=SMALL_FONT,
        linespacing=1.2,
    )


def _complete_case_by_outcome(spec: dict, consort: dict, arm: str) -> list:
    """Box lines for the outcomes whose complete-case set (scored at every timepoint) is
    smaller than the per-survey one in this arm: those are the n their analyses use."""
    per_survey = consort["analysed"]["complete_case"][arm]
    by_outcome = consort.get("analysed_by_outcome", {}).get("complete_case", {})
    labels = {o["id"]: pretty(o["label"]) for o in spec["outcomes"]}
    fewer = [(o, counts[arm]) for o, counts in by_outcome.items() if counts[arm] != per_survey]
    if not fewer:
        return []
    lines = [("Scored at every timepoint, where fewer:", "normal", 1)]
    lines += [(f"{labels.get(o, o)}: {_n(n)}", "normal", 2) for o, n in fewer]
    return lines


def primary_model_n(
    spec: dict, consort: dict, model_n: pd.DataFrame | None
) -> dict[str, dict[str, dict[str, int]]]:
    """{analysis set: {primary outcome: {arm: n}}}: the participants each primary outcome's
    model used, per configured analysis set, as `model_n` (model_n.csv) reports them
    (trialeval.model_n.primary_fit: a randomized trial's mixed model, a pre/post trial's
    ANCOVA at the last post visit); they add up to effects.csv's n of that model. A survey
    (one group): each exposure's model's n, its levels' in model_n summed (effects.csv's n of
    its odds ratios, trialeval.model_n.check_effects_n)."""
    primary = [o for o in spec["outcomes"] if o["role"] == "primary" and o["kind"] == "score"]
    if spec["design"] == "cross_sectional" or list(consort["allocated"]) == ["all"]:
        return _survey_model_n(spec, consort, model_n)
    if spec["design"] == "cohort_comparison":  # its analyses are in the cohort table
        return {}
    arms = list(consort["allocated"])
    return {
        name: {o["id"]: model_used(model_n, spec, name, o["id"], arms) for o in primary}
        for name in configured_sets(spec, consort)
    }


def _survey_model_n(spec: dict, consort: dict, model_n: pd.DataFrame | None) -> dict:
    """A survey's primary models: {set: {"outcome|exposure": {"all": n}}}, n the respondents
    of the exposure's fit (model_n.csv: its levels summed)."""
    from trialeval.model_n import ASSOCIATION, MODEL_N_COLUMNS, PRIMARY, analysis_names

    primary = {o["id"] for o in spec["outcomes"] if o["role"] == "primary"}
    fits = pd.DataFrame(columns=MODEL_N_COLUMNS) if model_n is None else model_n
    chosen = (fits["analysis"] == ASSOCIATION) & fits["outcome"].isin(primary)
    fits = fits[chosen & (analysis_names(fits) == PRIMARY)]
    return {
        name: {
            f"{o}|{x}": {"all": int(part["n"].sum())}
            for (o, x), part in fits[fits["analysis_set"] == name].groupby(
                ["outcome", "exposure"], sort=False
            )
        }
        for name in configured_sets(spec, consort)
    }


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _survey_boxes(spec: dict, consort: dict, model_n: dict | None, widths) -> list[_Box]:
    """Surveyed, not analysed (side), responded (with the response rate), analysed."""
    main_w, side_w = widths
    group = next(iter(consort["allocated"]))
    tp = next(iter(consort["timepoints"]))
    primary_set = configured_sets(spec, consort)[0]
    surveyed, responded = consort["enrolled"], consort["assessed"][tp][group]
    shown = surveyed and _both_counts(surveyed, responded)  # a withheld count: no rate
    rate = f"{rounded(100 * responded / surveyed, 1)}%" if shown else EN_DASH
    side = [
        ("Not analysed", "bold", 0),
        (f"Did not respond: {_n(consort['not_assessed'][tp][group])}", "normal", 0),
        (f"Withdrew consent: {_n(consort['withdrawn'][group])}", "normal", 0),
    ]
    analysed = [("Analysed", "bold", 0), (_n(consort["analysed"][primary_set][group]), "normal", 0)]
    labels = {o["id"]: pretty(o["label"]) for o in spec["outcomes"]}
    said = set()
    for key, counts in (model_n or {}).get(primary_set, {}).items():
        outcome, exposure = key.split("|")
        if outcome not in said:
            said.add(outcome)
            analysed.append(
                (f"Models of {_lower_first(labels.get(outcome, outcome))}, by:", "normal", 0)
            )
        analysed.append((f"{labels.get(exposure, exposure)}: {_n(counts[group])}", "normal", 1))
    return [
        _box([("Surveyed", "bold", 0), (_n(surveyed), "normal", 0)], main_w, "center"),
        _box(side, side_w),
        _box(
            [
                ("Responded", "bold", 0),
                (_n(responded), "normal", 0),
                (f"Response rate: {rate}", "normal", 0),
            ],
            main_w,
            "center",
        ),
        _box(analysed, main_w, "center" if not model_n else "left"),
    ]


def _consort_survey(spec: dict, consort: dict, model_n: dict | None = None):
    """The survey's flow at the same width and type size as the trials' diagrams (a
    single-column figure is scaled up in the report, its text larger than the others)."""
    width, margin, stage_w = DOUBLE_COLUMN, 0.08, STAGE_W
    x_start = margin + stage_w
    main_w = 3.3
    side_x0 = x_start + main_w + 0.3
    side_w = min(2.4, width - margin - side_x0)
    surveyed, side, responded, analysed = _survey_boxes(spec, consort, model_n, (main_w, side_w))
    surveyed.top = margin
    gap = max(ROW_GAP, side.height + 0.2)
    responded.top = surveyed.bottom + gap
    side.top = surveyed.bottom + (gap - side.height) / 2
    analysed.top = responded.bottom + ROW_GAP
    for box in (surveyed, responded, analysed):
        box.x0 = x_start
    side.x0 = side_x0
    primary_set = configured_sets(spec, consort)[0]
    definition = _in_own_terms(spec, consort.get("definitions", {}).get(primary_set, ""))
    footnote = wrap(
        f"Analysed: {definition}"
        f" (sampling frame {_n(consort['enrolled'])}); response rate: respondents of those "
        "surveyed. Each model uses the respondents with its outcome, exposure and covariates "
        "answered." + (f" {consort['disclosure_note']}" if consort.get("disclosure_note") else ""),
        width - 2 * margin,
        SMALL_FONT,
    )
    fig_h = analysed.bottom + 0.12 + len(footnote) * SMALL_FONT * 1.3 / 72 + margin

    fig = plt.figure(figsize=(width, fig_h))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, fig_h)
    ax.axis("off")
    for stage, box in zip(
        ["Enrolment", "Response", "Analysis"], [surveyed, responded, analysed], strict=True
    ):
        _stage(ax, stage, box.top, box.bottom, fig_h, margin, stage_w)
    for box in (surveyed, side, responded, analysed):
        _draw_box(ax, box, fig_h)
    _arrow(ax, (surveyed.centre, surveyed.bottom), (responded.centre, responded.top), fig_h)
    mid = side.top + side.height / 2
    _arrow(ax, (surveyed.centre, mid), (side.x0, mid), fig_h)
    _arrow(ax, (responded.centre, responded.bottom), (analysed.centre, analysed.top), fig_h)
    _consort_note(ax, footnote, margin, fig_h - (analysed.bottom + 0.12))
    return fig


# --------------------------------------------------------------------------------------
# Tipping point (delta-adjusted multiple imputation)
# --------------------------------------------------------------------------------------

DELTA = "\u03b4"


def _delta_label(value: float) -> str:
    return f"{value:g}".replace("-", MINUS)


def _read_imputation(paths) -> pd.DataFrame:
    frames = [read_csv(p) for p in ([paths] if isinstance(paths, str) else list(paths))]
    return pd.concat(frames, ignore_index=True)


@_styled
def plot_tipping_point(spec: dict, imputation: pd.DataFrame):
    """Per analysis, outcome, analysis set and contrast (the rows trialeval.effects.
    tipping_shown picks) a row of two panels against the shift delta: the pooled estimate
    with its confidence band and the zero line; and P (log scale) with the alpha line. A
    dotted vertical line marks the tipping point, delta 0 (MAR) a filled marker."""
    from trialeval.effects import TIPPING_BLOCK, tipping_shown

    shown = tipping_shown(imputation, spec)
    if shown.empty:
        return plot_message(
            "Tipping point: nothing to draw",
            ["No sensitivity analysis with multiple imputation produced pooled results."],
        )
    blocks = [b for _, b in shown.groupby(TIPPING_BLOCK, sort=False)]
    fig, axes = plt.subplots(
        len(blocks),
        2,
        figsize=(DOUBLE_COLUMN, 0.5 + 2.1 * len(blocks)),
        layout="constrained",
        squeeze=False,
        gridspec_kw={"width_ratios": [3, 2]},
    )
    for (left, right), block in zip(axes, blocks, strict=True):
        _tipping_estimate(left, block)
        _tipping_p(right, block)
        _tipping_words(spec, left, right, block.iloc[0])
    _freeze_layout(fig)
    return fig


def _tipping_estimate(ax, block: pd.DataFrame) -> None:
    """The pooled estimate and its CI band against delta; MAR (delta 0) filled black."""
    first = block.iloc[0]
    x = block["delta"].to_numpy(float)
    est = block["estimate"].to_numpy(float)
    low, high = block["ci_low"].to_numpy(float), block["ci_high"].to_numpy(float)
    colour = OKABE_ITO[0]
    ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0, zorder=1)
    ax.plot(
        x, est, color=colour, marker="o", markersize=3.5, zorder=3, gid=f"est-{_tip_gid(first)}"
    )
    ax.axhline(0, color="0.35", linewidth=0.7, linestyle="--", zorder=2)
    mar = x == 0
    ax.plot(x[mar], est[mar], "o", color="black", markersize=4.5, zorder=4)
    _tipping_x(ax, x, first["tipping_delta"])
    ax.set_ylabel(f"Pooled estimate ({round(100 * (1 - float(first['alpha'])))}% CI)")
    ax.yaxis.set_major_locator(_y_locator())


def _tipping_p(ax, block: pd.DataFrame) -> None:
    """P (log scale) against delta with the alpha line."""
    first = block.iloc[0]
    x, p = block["delta"].to_numpy(float), block["p_value"].to_numpy(float)
    alpha = float(first["alpha"])
    colour = OKABE_ITO[0]
    ax.plot(x, p, color=colour, marker="o", markersize=3.5, zorder=3, gid=f"p-{_tip_gid(first)}")
    mar = x == 0
    ax.plot(x[mar], p[mar], "o", color="black", markersize=4.5, zorder=4)
    ax.axhline(alpha, color=OKABE_ITO[1], linewidth=0.8, linestyle="--", zorder=2)
    ax.set_yscale("log")
    floor = np.nanmin(np.r_[p[p > 0], alpha]) if np.isfinite(p).any() else alpha
    bottom = max(floor / 3, 1e-12)
    ax.set_ylim(bottom, 1.05)
    ticks = [t for t in (1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0) if t >= bottom]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticklabels([f"{t:g}" for t in ticks])
    ax.text(
        x.max(),
        alpha * 1.15,
        f"\u03b1 = {alpha:g}",
        ha="right",
        va="bottom",
        fontsize=SMALL_FONT,
        color=OKABE_ITO[1],
    )
    _tipping_x(ax, x, first["tipping_delta"])
    ax.set_ylabel("P (Rubin's rules)")


def _tip_gid(first) -> str:
    treated = str(first["contrast"]).split(" - ", 1)[0]
    return f"{first['analysis_name']}-{first['outcome']}-{first['analysis_set']}-{treated}"


def _tipping_x(ax, x: np.ndarray, tipping) -> None:
    """Delta ticks, and the tipping point as a dotted line."""
    if pd.notna(tipping):
        ax.axvline(float(tipping), color="0.2", linewidth=0.7, linestyle=":", zorder=2)
    ax.set_xticks(x, [_delta_label(v) for v in x])


def _tipping_words(spec: dict, left, right, first) -> None:
    """Titles and axis labels of a row: what is shifted, what a negative shift means for this
    outcome (higher_is_better), the tipping point."""
    arms = {a["id"]: a.get("label", a["id"]) for a in spec["arms"]}
    named = {a["name"]: a["label"] for a in spec["analyses"].get("sensitivity") or []}
    outcome = {o["id"]: o for o in spec["outcomes"]}.get(first["outcome"])
    treated, control = str(first["contrast"]).split(" - ", 1)
    meaning = shift_meaning(higher_is_better(spec, outcome) if outcome else None)
    left.set_xlabel(
        f"Shift {DELTA} of imputed {arms.get(treated, treated)} values (points)\n"
        f"{DELTA} < 0: {meaning}"
    )
    right.set_xlabel(f"Shift {DELTA} (points)")  # the narrower panel: said on the left
    what = outcome_axis_label(spec, outcome) if outcome else str(first["outcome"])
    label = named.get(first["analysis_name"], first["analysis_name"])
    estimand = ESTIMAND_LABELS.get(first["estimand"], first["estimand"])
    at = _timepoint_labels(spec).get(first["timepoint"], "all follow-up visits")
    title = (
        f"{label}: {what}; {estimand.lower()}, {arms.get(treated, treated)} \u2212 "
        f"{arms.get(control, control)}, {at}"
    )
    left.set_title(
        "\n".join(wrap(title, DOUBLE_COLUMN * 0.6 - 0.5)), fontsize=FONT_SIZE, loc="left"
    )
    tipping = first["tipping_delta"]
    said = (
        f"Tipping point {DELTA} = {_delta_label(float(tipping))}"
        if pd.notna(tipping)
        else "No tipping point in the grid"
    )
    right.set_title(said, fontsize=FONT_SIZE, loc="left")


# --------------------------------------------------------------------------------------
# Rule entry
# --------------------------------------------------------------------------------------


def _withheld_model_n(model_n: dict | None, consort: dict, plan) -> dict | None:
    """The models' n as the diagram may print them under disclosure control. A model n the
    plan registered (disclosure.model_n_facts) prints as the plan says; where it prints but
    its arm's others without data are withheld, it is given as text, so the diagram leaves
    the others out. Otherwise (a survey's models): a count from 1 to k - 1, one whose set's
    others are (n = set - others), or one of an arm whose set count the plan withholds
    (n + others = the set) is withheld (its marker, "<k" or "≥k")."""
    if not model_n or not plan.on:
        return model_n
    shown: dict = {}
    for name, outcomes in model_n.items():
        shown[name] = {}
        for outcome, by_arm in outcomes.items():
            shown[name][outcome] = {
                arm: _model_n_shown(plan, consort, name, outcome, arm, n)
                for arm, n in by_arm.items()
            }
    return shown


def _model_n_shown(plan, consort: dict, name: str, outcome: str, arm: str, n: int):
    key = disclosure.model_key(name, outcome, arm)
    if key in plan.registered:
        marker = plan.marker(key, n)
        if marker is None and plan.hides(f"{key}/no_data"):
            return f"{n:,}"  # a string: printed as it is, without the others beside it
        return marker or n
    k = plan.min_cell
    size = consort["analysed"].get(name, {}).get(arm)
    others = size - n if isinstance(size, int) and "|" not in outcome else None
    small = 0 < n < k or (others is not None and 0 < others < k)
    small = small or plan.hides(disclosure.consort_key("analysed", name, arm), size)
    return (f"<{k}" if n < k else f"\u2265{k}") if small else n


def _model_n(spec: dict, consort: dict, inputs: dict[str, str]) -> dict | None:
    """The primary models' n for the flow diagram, when the rule passes what it needs."""
    if "model_n" not in inputs:
        return None
    return primary_model_n(spec, consort, _read_model_n(inputs))


def _read_model_n(inputs: dict[str, str]) -> pd.DataFrame | None:
    return read_csv(inputs["model_n"]) if "model_n" in inputs else None


def run(
    spec: dict,
    kind: str,
    *,
    inputs: dict[str, str],
    out_stem: str,
    analysis_set: str = "itt",
) -> list[str]:
    """Rule entry: draw figure `kind` from the named inputs (reading only those it needs) and
    write out_stem.png and out_stem.svg atomically. Returns, in sentences, what the figure
    could not draw and why (the report prints them under the figure); empty when complete.

    consort: consort, and scores, sets, model_n for the primary models' n (optional);
    trajectories: means, consort; forest: effects, scores, sets (model_n);
    change_distributions: scores, sets; odds_ratio_forest: effects, association_counts,
    covariate_labels (optional); tipping_point: imputation (the list of imputation parts).
    """
    notes: list[str] = []
    if kind == "consort" and spec["design"] == "cohort_comparison":  # a survey per cohort
        from trialeval.cohort_flow import plot as plot_cohort_flow

        fig = plot_cohort_flow(spec, inputs["consort"], inputs)
    elif kind == "consort":
        consort = json.loads(Path(inputs["consort"]).read_text())
        model_n = _model_n(spec, consort, inputs)  # from the complete counts
        # disclosure control (config `disclosure`): withheld counts as their markers
        plan = disclosure.load(inputs.get("disclosure"))
        model_n = _withheld_model_n(model_n, consort, plan)
        consort = disclosure.published_consort(consort, plan)
        fig = plot_consort(spec, consort, model_n)
    elif kind == "trajectories":
        means = read_csv(inputs["means"])
        plan = disclosure.load(inputs.get("disclosure"))
        # the notes may name consent counts: as published
        consort = disclosure.published_consort(
            json.loads(Path(inputs["consort"]).read_text()), plan
        )
        show_n = not plan.on
        fig = plot_trajectories(spec, means, analysis_set, consort, show_n=show_n)
        notes = trajectory_gaps(spec, means, analysis_set, consort)
    elif kind == "forest":
        # disclosure control: no risk ratio from withheld counts, no small count in a note
        plan = disclosure.load(inputs.get("disclosure"))
        effects = disclosure.shared_effects(_primary_rows(read_csv(inputs["effects"])), plan)
        fig = plot_forest(
            spec,
            effects,
            analysis_set,
            scores=pd.read_parquet(inputs["scores"]),
            sets=pd.read_parquet(inputs["sets"]),
            pairwise_n=not plan.on,
            model_n=_read_model_n(inputs),
            plan=plan,
        )
        notes = forest_gaps(spec, effects, analysis_set)
    elif kind == "change_distributions":
        scores, sets = pd.read_parquet(inputs["scores"]), pd.read_parquet(inputs["sets"])
        withhold = disclosure.load(inputs.get("disclosure")).on
        fig = plot_change_distributions(spec, scores, sets, analysis_set, withhold)
        notes = change_gaps(spec, change_scores(spec, scores, sets, analysis_set), analysis_set)
    elif kind == "odds_ratio_forest":
        effects = _primary_rows(read_csv(inputs["effects"]))
        if "covariate_labels" in inputs:  # the footnote names the covariates adjusted for
            labels = json.loads(Path(inputs["covariate_labels"]).read_text())
            spec = with_export_labels(spec, labels)
        plan = disclosure.load(inputs.get("disclosure"))
        effects = disclosure.shared_effects(effects, plan)  # as effects: the forest
        counts = read_csv(inputs["association_counts"], dtype={"level": str})
        fig = plot_odds_ratios(spec, effects, counts, plan)
        if not (effects["estimand"] == "odds_ratio").any():
            notes = [NO_ODDS_RATIOS]
    elif kind == "cohort_prevalence":  # design cohort_comparison (trialeval.cohort_tables)
        from trialeval.cohort_tables import plot as plot_cohort

        fig, notes = plot_cohort(spec, inputs)
    elif kind == "tipping_point":
        imputation = _read_imputation(inputs["imputation"])
        fig = plot_tipping_point(spec, imputation)
        if imputation.empty:
            notes = ["No sensitivity analysis with multiple imputation produced pooled results."]
    else:
        raise ValueError(f"unknown figure {kind!r}; expected one of {', '.join(KINDS)}")
    try:
        save(fig, out_stem)
    finally:
        plt.close(fig)
    return notes
