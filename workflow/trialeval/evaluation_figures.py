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

from trialeval.figures import DOUBLE_COLUMN, _styled, plt, save, wrap  # noqa: F401

AGREE_COLOURS = ("#A6D4F2", "#0072B2")  # light to dark: Okabe-Ito blue
DISAGREE_COLOURS = ("#F5C28F", "#D55E00")  # light to dark: Okabe-Ito vermillion
NEUTRAL = "#BBBBBB"
LABEL_W = 2.6  # inches of item labels
NOTE_W = 0.85  # inches of n/N (%) at the right
ROW_H = 0.32


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
    return {c: (100 * n / total if total else 0.0) for c, n in zip(mine["code"], mine["n"], strict=True)}


def _draw_panel(ax, inst: dict, items: pd.DataFrame, answers: pd.DataFrame) -> None:
    levels = list(inst["levels"])
    right, left, middle = sides(levels, inst["agree"])
    colours = level_colours(right, left, middle)
    for y, (_, row) in enumerate(items.iterrows()):
        share = _shares(answers, row["item"])
        start = -share[middle] / 2 if middle is not None else 0.0
        for code in ([middle] if middle is not None else []) + right:
            ax.barh(y, share[code], left=start, color=colours[code], height=0.7, linewidth=0)
            start += share[code]
        start = -share[middle] / 2 if middle is not None else 0.0
        for code in left:
            start -= share[code]
            ax.barh(y, share[code], left=start, color=colours[code], height=0.7, linewidth=0)
        note = f"{row['agreeing']}/{row['answered']}"
        if row["answered"]:
            note += f" ({100 * row['proportion']:.0f}%)"
        ax.text(1.02, y, note, transform=ax.get_yaxis_transform(), va="center", ha="left")
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels(["\n".join(wrap(s, LABEL_W - 0.1)) for s in items["statement"]])
    ax.invert_yaxis()
    ax.set_xlim(-100, 100)
    ax.axvline(0, color="#333333", linewidth=0.6)
    ticks = [-100, -50, 0, 50, 100]
    ax.set_xticks(ticks, [f"{abs(t)}" for t in ticks])
    ax.set_title(inst["label"], loc="left", fontweight="bold")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[c]) for c in levels]
    ax.legend(
        handles, list(inst["levels"].values()), loc="upper left", bbox_to_anchor=(0, -0.5 / (len(items) + 1) - 0.12),
        ncol=min(len(levels), 5), frameon=False, handlelength=1, columnspacing=1,
    )


@_styled
def plot_evaluation(group: dict, instruments: dict, items: pd.DataFrame, answers: pd.DataFrame):
    """One respondent group's evaluation items as diverging stacked bars (a panel per
    instrument)."""
    rows = [len(items[items["instrument"] == i]) for i in group["instruments"]]
    heights = [ROW_H * max(r, 1) * max(1, _lines(items, i)) + 0.9 for r, i in zip(rows, group["instruments"], strict=True)]
    fig = plt.figure(figsize=(DOUBLE_COLUMN, sum(heights) + 0.5))
    grid = fig.add_gridspec(len(rows), 1, height_ratios=heights, hspace=0.9)
    left = LABEL_W / DOUBLE_COLUMN
    fig.subplots_adjust(left=left, right=1 - NOTE_W / DOUBLE_COLUMN, top=1 - 0.35 / sum(heights), bottom=0.5 / sum(heights))
    for k, inst_id in enumerate(group["instruments"]):
        ax = fig.add_subplot(grid[k])
        mine = items[items["instrument"] == inst_id]
        _draw_panel(ax, instruments[inst_id], mine, answers[answers["instrument"] == inst_id])
        if k == len(rows) - 1:
            ax.set_xlabel("Respondents who answered the item, %", labelpad=2)
    return fig


def _lines(items: pd.DataFrame, inst_id: str) -> float:
    """Mean number of lines of an instrument's wrapped item labels (row height scales by it)."""
    statements = items.loc[items["instrument"] == inst_id, "statement"]
    if statements.empty:
        return 1.0
    return float(np.mean([len(wrap(s, LABEL_W - 0.1)) for s in statements]))


def run(group: dict, instruments: dict, items: pd.DataFrame, answers: pd.DataFrame, stem) -> None:
    fig = plot_evaluation(group, instruments, items, answers)
    save(fig, stem)
    plt.close(fig)
