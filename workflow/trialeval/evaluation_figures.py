"""Diverging stacked bar charts of the programme-evaluation items, one figure per respondent
group (figures/evaluation_<group>.{png,svg}), in the house style of trialeval.figures (fonts,
palette, deterministic PNG and SVG).

Each item is a bar of the shares of its answers (of the respondents who answered it): the
agreeing answers to the right of zero, the others to the left, each side ordered from the
centre outwards; on a scale with a middle answer (one more non-agreeing level than agreeing
ones, the one next to the agreeing block, e.g. "Neutral" on a 5-point scale with agree
[4, 5]) that answer straddles zero, half on each side. An instrument per panel, each with
its legend; n/N (%) agreeing at the right of each bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import LinearSegmentedColormap, to_hex
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

from trialeval.disclosure import merged_shares
from trialeval.figures import (
    DOUBLE_COLUMN,
    SMALL_FONT,
    _footnote,
    _styled,
    plt,
    save,
    text_width,
    wrap,
)
from trialeval.tables import format_number

AGREE_COLOURS = ("#A6D4F2", "#0072B2")  # light to dark: Okabe-Ito blue
DISAGREE_COLOURS = ("#F5C28F", "#D55E00")  # light to dark: Okabe-Ito vermillion
NEUTRAL = "#BBBBBB"
LABEL_W = 2.6  # inches of item labels
NOTE_W = 1.0  # inches of n/N (%) at the right
ROW_H = 0.32
WHITE = {"facecolor": "white", "edgecolor": "none", "pad": 1}  # text over the zero line


def sides(levels: list[str], agree: list[str]) -> tuple[list[str], list[str], str | None]:
    """(right, left, middle): the agreeing and other levels, each ordered from the centre
    outwards, and the middle answer straddling zero (or None)."""
    right = [c for c in levels if c in agree]
    others = [c for c in levels if c not in agree]
    top = levels[-len(right) :] == right
    right = right if top else right[::-1]
    left = others[::-1] if top else others
    middle = None
    if len(left) == len(right) + 1:
        middle, left = left[0], left[1:]
    return right, left, middle


def _ramp(pair: tuple[str, str], n: int) -> list[str]:
    cmap = LinearSegmentedColormap.from_list("ramp", list(pair))
    return [to_hex(cmap(x)) for x in np.linspace(0, 1, n)] if n > 1 else [pair[1]]


def level_colours(right: list[str], left: list[str], middle) -> dict[str, str]:
    colours = dict(zip(right, _ramp(AGREE_COLOURS, len(right)), strict=True))
    colours.update(zip(left, _ramp(DISAGREE_COLOURS, len(left)), strict=True))
    if middle is not None:
        colours[middle] = NEUTRAL
    return colours


def _shares(answers: pd.DataFrame, item: str) -> dict[str, float]:
    mine = answers[answers["item"] == item]
    total = mine["n"].sum()
    return {
        c: (100 * n / total if total else 0.0) for c, n in zip(mine["code"], mine["n"], strict=True)
    }


def _withheld(plan, row, answers: pd.DataFrame) -> bool:
    """Whether disclosure control withholds a count of the item: its bar is not drawn (its
    shares with the printed counts would give the count back)."""
    from trialeval.evaluation_tables import _item_marks, level_count

    mine = answers[answers["item"] == row["item"]].to_dict("records")
    return any(_item_marks(row, plan)) or any(not level_count(plan, a).isdigit() for a in mine)


MERGED_MARK = "\u2021"  # a bar merged into three blocks (figure note)
# merged blocks: the middle of each side's ramp, hatched (no single answer's colour)
MERGED = {"agree": _ramp(AGREE_COLOURS, 3)[1], "middle": NEUTRAL}
MERGED["other"] = _ramp(DISAGREE_COLOURS, 3)[1]
MERGED_LABELS = {"agree": "Agreeing (merged)", "other": "Not agreeing (merged)"}
HATCH = {"hatch": "////", "edgecolor": "white", "linewidth": 0}


def _merged(plan, row) -> bool:
    """Whether disclosure control prints a withheld bar merged into three blocks."""
    from trialeval.disclosure import evaluation_key

    key = evaluation_key("item", row["group"], row["instrument"], row["item"])
    return key in getattr(plan, "merged", ())


def _merged_bar(ax, y: float, share: dict, straddles: bool) -> None:
    """A bar of three blocks: agreeing right of zero, the others left, the middle answer (when
    the scale has one) straddling zero, in the darkest colour of each side."""
    start = -share["middle"] / 2 if straddles else 0.0
    for block in ("middle", "agree") if straddles else ("agree",):
        style = HATCH if block == "agree" else {"linewidth": 0}
        ax.barh(y, share[block], left=start, color=MERGED[block], height=0.7, **style)
        start += share[block]
    left = (-share["middle"] / 2 if straddles else 0.0) - share["other"]
    ax.barh(y, share["other"], left=left, color=MERGED["other"], height=0.7, **HATCH)


def figure_note(plan, items: pd.DataFrame, answers: pd.DataFrame) -> str | None:
    """What disclosure control changed in the figure, in words (None: nothing)."""
    rows = [row for _, row in items.iterrows()] if plan is not None else []
    merged = [_merged(plan, row) for row in rows if _withheld(plan, row, answers)]
    if not merged:
        return None
    k = plan.min_cell
    parts = []
    if any(merged):
        parts.append(
            f"{MERGED_MARK} Answers shown merged into agreeing, the middle answer and not "
            "agreeing: the counts of single answers are withheld for disclosure control "
            f"(counts from 1 to {k - 1}, and those withheld with them)."
        )
    if not all(merged):
        parts.append(
            "Counts withheld: the item's answers are not drawn, as even merged into three "
            "blocks they would give a withheld count back (disclosure control)."
        )
    return " ".join(parts)


def _note(plan, row) -> str:
    """n/N (%) agreeing at the right of a bar; the markers, without %, when withheld."""
    from trialeval.evaluation_tables import _item_marks

    agree, answered = _item_marks(row, plan)
    note = f"{agree or row['agreeing']}/{answered or row['answered']}"
    if row["answered"] and not (agree or answered):
        # one decimal, as the evaluation table prints it (the decimals rule, README)
        note += f" ({format_number(100 * row['proportion'], 1)}%)"
    return note


def _bar(ax, y: float, share: dict, sides_: tuple, colours: dict) -> None:
    """One item's diverging bar: agreeing answers right of zero, the others left, the middle
    answer (if any) straddling zero."""
    right, left, middle = sides_
    centre = [middle] if middle is not None else []
    start = -share[middle] / 2 if middle is not None else 0.0
    for code in centre + right:
        ax.barh(y, share[code], left=start, color=colours[code], height=0.7, linewidth=0)
        start += share[code]
    start = -share[middle] / 2 if middle is not None else 0.0
    for code in left:
        start -= share[code]
        ax.barh(y, share[code], left=start, color=colours[code], height=0.7, linewidth=0)


def _draw_panel(ax, inst: dict, items: pd.DataFrame, answers: pd.DataFrame, plan=None) -> dict:
    """One instrument's items as bars; returns the colour of each answer. An item with a
    count withheld by disclosure control (`plan`) has no bar, "counts withheld" in its place."""
    from trialeval.disclosure import OFF

    plan = OFF if plan is None else plan
    right, left, middle = sides(list(inst["levels"]), inst["agree"])
    colours = level_colours(right, left, middle)
    for y, (_, row) in enumerate(items.iterrows()):
        note = _note(plan, row)
        if not _withheld(plan, row, answers):
            _bar(ax, y, _shares(answers, row["item"]), (right, left, middle), colours)
        elif _merged(plan, row):
            _merged_bar(ax, y, merged_shares(row, answers), middle is not None)
            note += f" {MERGED_MARK}"
        else:
            ax.text(0, y, "counts withheld", ha="center", va="center", color="#555555", bbox=WHITE)
        ax.text(1.02, y, note, transform=ax.get_yaxis_transform(), va="center", ha="left")
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels(["\n".join(wrap(s, LABEL_W - 0.1)) for s in items["statement"]])
    ax.set_ylim(len(items) - 0.5, -0.5)
    ax.set_xlim(-100, 100)
    ax.axvline(0, color="#333333", linewidth=0.6)
    ticks = [-100, -50, 0, 50, 100]
    ax.set_xticks(ticks, [f"{abs(t)}" for t in ticks])
    ax.set_title(inst["label"], loc="left", fontweight="bold", pad=4)
    return colours


def _legend(ax, inst: dict, colours: dict, below: float, merged: bool = False) -> None:
    """The answers' legend `below` inches under the axes, centred, in scale order
    along the rows, in as many columns as fit the figure."""
    labels = list(inst["levels"].values())
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[c]) for c in inst["levels"]]
    if merged:  # the merged bars' blocks (hatched)
        labels += list(MERGED_LABELS.values())
        handles += [
            plt.Rectangle((0, 0), 1, 1, facecolor=MERGED[b], **HATCH) for b in MERGED_LABELS
        ]
    ncol = _columns(labels)
    rows = -(-len(labels) // ncol)
    # matplotlib fills the columns first: this order reads along the rows
    order = [r * ncol + c for c in range(ncol) for r in range(rows) if r * ncol + c < len(labels)]
    offset = ScaledTranslation(0, -below, ax.figure.dpi_scale_trans)
    ax.legend(
        [handles[k] for k in order],
        [labels[k] for k in order],
        loc="upper center",
        bbox_to_anchor=(0.5, 0),
        # centred on the figure (it may be wider than the bars), just under this panel
        bbox_transform=blended_transform_factory(ax.figure.transFigure, ax.transAxes + offset),
        ncol=ncol,
        frameon=False,
        handlelength=1,
        handletextpad=0.4,
        columnspacing=1.0,
        borderaxespad=0,
        borderpad=0,
    )


def _columns(labels: list[str]) -> int:
    """The most legend columns whose widest entries fit the figure's width."""
    entries = [text_width(label) + 0.3 for label in labels]
    for ncol in range(len(labels), 1, -1):
        if sum(max(entries[c::ncol]) for c in range(ncol)) <= DOUBLE_COLUMN - 0.3:
            return ncol
    return 1


def _merged_panel(plan, items: pd.DataFrame, answers: pd.DataFrame, inst_id: str) -> bool:
    """Whether an instrument's panel has a bar merged into three blocks (its legend says so)."""
    if plan is None:
        return False
    mine = answers[answers["instrument"] == inst_id]
    shown = items[items["instrument"] == inst_id]
    return any(_withheld(plan, row, mine) and _merged(plan, row) for _, row in shown.iterrows())


def _panel_heights(
    group: dict, items: pd.DataFrame, instruments: dict, merged: dict | None = None
) -> list[dict]:
    """Per instrument, in inches: title, bars, axis (ticks, and the x label under the last
    panel) and legend (with the merged blocks' entries where `merged`)."""
    panels = []
    for k, inst_id in enumerate(group["instruments"]):
        statements = items.loc[items["instrument"] == inst_id, "statement"]
        lines = max([len(wrap(s, LABEL_W - 0.1)) for s in statements] or [1])
        labels = list(instruments[inst_id]["levels"].values())
        labels += list(MERGED_LABELS.values()) if (merged or {}).get(inst_id) else []
        rows = -(-len(labels) // _columns(labels))
        last = k == len(group["instruments"]) - 1
        panels.append(
            {
                "title": 0.25,
                "bars": max(len(statements), 1) * max(ROW_H, 0.14 * lines + 0.06),
                "axis": 0.42 if last else 0.24,
                "legend": 0.17 * rows + 0.12,
            }
        )
    return panels


@_styled
def plot_evaluation(group: dict, instruments: dict, items, answers, plan=None):
    """One respondent group's evaluation items as diverging stacked bars, a panel per
    instrument, laid out in inches."""
    merged = {i: _merged_panel(plan, items, answers, i) for i in group["instruments"]}
    panels = _panel_heights(group, items, instruments, merged)
    note = figure_note(plan, items, answers)
    lines = wrap(note, DOUBLE_COLUMN - 0.2, SMALL_FONT) if note else []
    foot = 0.12 + SMALL_FONT / 62 * len(lines) if lines else 0.0
    height = 0.05 + sum(sum(p.values()) for p in panels) + foot
    fig = plt.figure(figsize=(DOUBLE_COLUMN, height))
    if lines:
        _footnote(fig, note, 0.1)
    top, width = height - 0.05, DOUBLE_COLUMN - LABEL_W - NOTE_W
    for k, (inst_id, panel) in enumerate(zip(group["instruments"], panels, strict=True)):
        bottom = top - panel["title"] - panel["bars"]
        ax = fig.add_axes(
            (
                LABEL_W / DOUBLE_COLUMN,
                bottom / height,
                width / DOUBLE_COLUMN,
                panel["bars"] / height,
            )
        )
        inst = instruments[inst_id]
        mine = answers[answers["instrument"] == inst_id]
        colours = _draw_panel(ax, inst, items[items["instrument"] == inst_id], mine, plan)
        if k == len(panels) - 1:
            ax.set_xlabel("Respondents who answered the item, %", labelpad=2)
        _legend(ax, inst, colours, panel["axis"], merged[inst_id])
        top = bottom - panel["axis"] - panel["legend"]
    return fig


def run(group: dict, instruments: dict, items, answers, stem, plan=None) -> None:
    fig = plot_evaluation(group, instruments, items, answers, plan)
    save(fig, stem)
    plt.close(fig)
