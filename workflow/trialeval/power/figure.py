"""The power-curve figure (PNG 300 dpi and SVG with reproducible bytes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trialeval.formatting import rounded
from trialeval.power.summary import _scanned
from trialeval.power_plan import CLUSTER
from trialeval.proportions import wilson_interval

FONT_SIZE = 7.5
STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # bundled with matplotlib: same glyphs everywhere
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": 7.0,
    "ytick.labelsize": 7.0,
    "legend.fontsize": 7.0,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.0,
    "savefig.dpi": 300,
    "savefig.facecolor": "white",
    # Text as paths and a fixed hash salt: SVG bytes repeat across runs and machines.
    "svg.fonttype": "path",
    "svg.hashsalt": "trialeval-power",
}


def plot_power(power: pd.DataFrame, summary: pd.DataFrame, plan: dict, title: str = ""):
    """Power curves: one panel per outcome, power against total N (a cluster plan: clusters per
    arm) per intervention arm with Wilson 95% CIs; the target as a dashed line in a grey band,
    the Monte Carlo 95% interval of a simulated power equal to the target (what the n_sims
    trials can tell apart from it); each arm's assumed effect and smallest size reaching the
    target in the legend; labels of the trial file, not ids."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outcomes = plan["outcomes"]
    with matplotlib.rc_context(STYLE):
        width = 3.5 if len(outcomes) == 1 else 7.2
        fig, axes = plt.subplots(
            1, len(outcomes), figsize=(width, 3.9), sharey=True, squeeze=False, layout="constrained"
        )
        column, sizes = _scanned(plan)
        band = wilson_interval(round(plan["target_power"] * plan["n_sims"]), plan["n_sims"])
        for ax, outcome in zip(axes[0], outcomes, strict=True):
            ax.axhspan(*band, color="0.88", linewidth=0, zorder=0, gid="target-band")
            ax.axhline(plan["target_power"], color="0.35", linestyle="--", linewidth=0.8)
            ax.axhline(plan["alpha"], color="0.6", linestyle=":", linewidth=0.8)
            _arm_curves(ax, power, summary, plan, outcome, column, sizes)
            ax.set_title(_panel_title(outcome, power))
            ax.set_xticks(sizes)
            ax.tick_params(axis="x", labelrotation=45 if len(sizes) > 6 else 0)
            cluster = plan.get("design") == CLUSTER
            ax.set_xlabel("Clusters per arm (k)" if cluster else "Total sample size (all arms)")
            ax.set_ylim(0, 1.02)
            ax.set_yticks(np.linspace(0, 1, 6))
            ax.grid(axis="y", color="0.9", linewidth=0.5)
            _legend(ax, plan)
        axes[0][0].set_ylabel("Power")
        axes[0][0].annotate(
            f"\u03b1 = {plan['alpha']:g}",
            (sizes[0], plan["alpha"]),
            xytext=(0, 2.5),
            textcoords="offset points",
            va="bottom",
            fontsize=7.0,
            color="0.45",
        )
        if title:
            from trialeval.figures import wrap

            lines = [line for part in title.split("\n") for line in wrap(part, width - 0.3)]
            fig.suptitle("\n".join(lines), fontsize=FONT_SIZE)
    return fig


def _arm_curves(ax, power, summary, plan, outcome, column, sizes) -> None:
    """Each intervention arm's power (Wilson 95% CI) against size, dodged a little so the
    intervals do not hide each other; its label says the assumed effect and the smallest
    size reaching the target."""
    cluster = plan.get("design") == CLUSTER
    arms = plan["arms"][1:]
    span = (sizes[-1] - sizes[0]) or sizes[0]
    offsets = (np.arange(len(arms)) - (len(arms) - 1) / 2) * 0.008 * span
    for j, arm in enumerate(arms):
        part = power[(power["outcome"] == outcome["id"]) & (power["arm"] == arm["id"])]
        part = part.sort_values(column)
        x = part[column].to_numpy(float) + offsets[j]
        y = part["power"].to_numpy()
        smallest = summary[(summary["outcome"] == outcome["id"]) & (summary["arm"] == arm["id"])][
            "smallest_clusters_per_arm" if cluster else "smallest_n_total"
        ].iloc[0]
        unit = "k" if cluster else "N"
        reached = f"{unit} = {int(smallest)}" if pd.notna(smallest) else "not reached"
        ax.errorbar(
            x,
            y,
            yerr=[y - part["ci_low"].to_numpy(), part["ci_high"].to_numpy() - y],
            color=arm["colour"],
            marker=arm["marker"],
            markersize=4,
            capsize=2,
            elinewidth=0.8,
            label=f"{arm['label']}: {_effect_words(arm, outcome)}; {reached}",
        )


def _legend(ax, plan: dict) -> None:
    """The arms' legend, with the target and its Monte Carlo band as its last entry."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    cluster = plan.get("design") == CLUSTER
    handles, labels = ax.get_legend_handles_labels()
    target = (
        Patch(facecolor="0.88", edgecolor="none"),
        Line2D([], [], color="0.35", linestyle="--", linewidth=0.8),
    )
    handles.append(target)
    labels.append(f"Target {plan['target_power']:.0%} (band: Monte Carlo 95%)")
    ax.legend(
        handles,
        labels,
        title=(
            f"Arm vs {plan['arms'][0]['label']}: assumed effect; smallest\n"
            f"{'k' if cluster else 'N'} for {plan['target_power']:.0%} power"
        ),
        title_fontsize=7.0,
        # under the axis: inside it the legend would hide curves (more so with the band)
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        frameon=False,
    )


def save_figure(fig, stem: str | Path) -> None:
    """stem.png (300 dpi) and stem.svg, written atomically, bytes free of dates and versions."""
    import matplotlib
    import matplotlib.pyplot as plt

    from trialeval.io import atomic_path

    with matplotlib.rc_context(STYLE):
        with atomic_path(f"{stem}.png") as tmp:
            fig.savefig(tmp, format="png", metadata={"Software": None})
        with atomic_path(f"{stem}.svg") as tmp:
            fig.savefig(tmp, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def _cluster_words(plan: dict) -> str:
    """The planned clusters' size in words, e.g. 'clusters of 20 participants (mean, CV 0.4)'."""
    words = f"clusters of {plan['cluster_size']} participants"
    if plan["cluster_size_cv"]:
        words += f" (mean, CV {plan['cluster_size_cv']:g})"
    return words


def _panel_title(outcome: dict, power: pd.DataFrame) -> str:
    """The outcome's label, with its ICC in a cluster plan."""
    icc = power.loc[power["outcome"] == outcome["id"], "icc"]
    if icc.empty or icc.isna().all():
        return outcome["label"]
    return f"{outcome['label']} (ICC {float(icc.iloc[0]):.3g})"


def _effect_words(arm: dict, outcome: dict) -> str:
    """The assumed effect of an arm on an outcome, e.g. '+3.0 points' on a whole-point scale
    and '+0.30 points' on a mean of items: the outcome's decimals (the tables' rule, from
    the plan; 3 significant digits for a plan written without them)."""
    effect = arm.get("effects", {}).get(outcome["id"])
    if effect is None:
        return "no effect assumed"
    decimals = outcome.get("decimals")
    if decimals is None:
        text = f"{effect:+.3g}"
    else:  # halves up, as the tables round (formatting.rounded)
        text = rounded(effect, decimals)
        text = text if text.startswith("-") else f"+{text}"
    return f"{text} points".replace("-", "\u2212")


def _figure_title(plan: dict) -> str:
    attrition = plan["attrition"][-1]
    labels = plan.get("visit_labels", {})
    last, first = (labels.get(v, v) for v in (plan["visits"][-1], plan["visits"][0]))
    if plan["estimand"] == "diff_in_means":
        what = f"Difference in means at {last}"
    else:
        what = f"Difference in change, {last} vs {first}"
    missing = f"{attrition:.0%} missing at the last visit"
    if len(plan["arms"]) > 2:  # several comparisons with the control: alpha is each one's
        missing = f"per comparison (not adjusted across arms), {missing}"
    if plan.get("design") == CLUSTER:  # short lines: the figure may be one panel wide
        return (
            f"{what},\ntwo-sided \u03b1\u00a0=\u00a0{plan['alpha']:g}, {missing},\n"
            f"randomized in {_cluster_words(plan)},\n"
            f"{plan['n_sims']:,} simulated trials per k"
        )
    return (
        f"{what}: two-sided \u03b1\u00a0=\u00a0{plan['alpha']:g}, {missing}, "
        f"{plan['n_sims']:,} simulated trials per N; assumed effects in the legends"
    )
