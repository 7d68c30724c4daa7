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
    trials can tell apart from it); each arm's assumed effect (in points and standardized)
    and smallest size reaching the target in the legend; under the legends what the
    simulation assumed (SDs, correlation between visits, the ICC) and what the error bars
    and band are; labels of the trial file, not ids."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from trialeval.figures import wrap

    outcomes = plan["outcomes"]
    assumed = assumed_components(power, plan)
    with matplotlib.rc_context(STYLE):
        width = 3.5 if len(outcomes) == 1 else 7.2
        notes = wrap(_assumptions_note(plan, assumed), width - 0.3, 7.0)
        fig, axes = plt.subplots(
            1,
            len(outcomes),
            figsize=(width, 3.9 + len(notes) * NOTE_LINE_H),
            sharey=True,
            squeeze=False,
            layout="constrained",
        )
        column, sizes = _scanned(plan)
        band = wilson_interval(round(plan["target_power"] * plan["n_sims"]), plan["n_sims"])
        for ax, outcome in zip(axes[0], outcomes, strict=True):
            ax.axhspan(*band, color="0.88", linewidth=0, zorder=0, gid="target-band")
            ax.axhline(plan["target_power"], color="0.35", linestyle="--", linewidth=0.8)
            ax.axhline(plan["alpha"], color="0.6", linestyle=":", linewidth=0.8)
            _arm_curves(ax, power, summary, plan, outcome, assumed[outcome["id"]])
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
            lines = [line for part in title.split("\n") for line in wrap(part, width - 0.3)]
            fig.suptitle("\n".join(lines), fontsize=FONT_SIZE)
        # under the legends, in the layout (constrained layout makes room for it)
        fig.supxlabel("\n".join(notes), x=0.01, ha="left", fontsize=7.0, linespacing=1.2)
    return fig


def _arm_curves(ax, power, summary, plan, outcome, components: dict) -> None:
    """Each intervention arm's power (Wilson 95% CI) against size, dodged a little so the
    intervals do not hide each other; its label says the assumed effect (and standardized,
    over the SD of one score in `components`) and the smallest size reaching the target."""
    column, sizes = _scanned(plan)
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
            label=f"{arm['label']}: {_effect_words(arm, outcome, components['sd'])}; {reached}",
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


def _effect_words(arm: dict, outcome: dict, sd: float | None = None) -> str:
    """The assumed effect of an arm on an outcome, e.g. '+3.0 points (d = 0.51)' on a
    whole-point scale and '+0.30 points (d = 0.53)' on a mean of items: the outcome's decimals
    (the tables' rule, from the plan; 3 significant digits for a plan written without them),
    and d, the effect over `sd` (the SD of one score the simulation assumed), to 2 decimals."""
    effect = arm.get("effects", {}).get(outcome["id"])
    if effect is None:
        return "no effect assumed"
    text = _signed(effect, outcome.get("decimals"))
    if sd is not None and np.isfinite(sd) and sd > 0:
        text += f" points (d\u00a0=\u00a0{_signed(effect / sd, 2)})"
    else:
        text += " points"
    return text.replace("-", "\u2212")


def _signed(value: float, decimals: int | None) -> str:
    """`value` with its sign, halves up to `decimals` (formatting.rounded, as the tables
    round); 3 significant digits without decimals."""
    if decimals is None:
        return f"{value:+.3g}"
    text = rounded(value, decimals)
    return text if text.startswith("-") else f"+{text}"


NOTE_LINE_H = 0.14  # inches the figure grows per line of its note


def assumed_components(power: pd.DataFrame, plan: dict) -> dict[str, dict]:
    """{outcome: {sd_participant, sd_residual, sd_cluster, icc, sd, rho}} as the simulation
    used them (power.csv, given or from the fitted model): sd the SD of one score (all
    components), rho the correlation of two visits of one participant (the random intercepts'
    share of that variance: participant and cluster, constant over visits)."""
    out = {}
    for outcome in plan["outcomes"]:
        rows = power[power["outcome"] == outcome["id"]]
        first = rows.iloc[0] if len(rows) else pd.Series(dtype=float)
        parts = {  # NaN where a column is empty (icc, sd_cluster of an rct plan)
            k: float(pd.to_numeric(first.get(k), errors="coerce"))
            for k in ("sd_participant", "sd_residual", "sd_cluster", "icc")
        }
        cluster = parts["sd_cluster"] if np.isfinite(parts["sd_cluster"]) else 0.0
        shared = cluster**2 + parts["sd_participant"] ** 2
        variance = shared + parts["sd_residual"] ** 2
        parts["sd"] = float(np.sqrt(variance))
        parts["rho"] = float(shared / variance) if variance > 0 else np.nan
        out[outcome["id"]] = parts
    return out


def _assumptions_note(plan: dict, assumed: dict[str, dict]) -> str:
    """What the simulation assumed per outcome and what the bars and band are, e.g.
    "Assumed, from this trial's fitted model: Self-compassion (SCS-SF mean), SD of one score
    0.57 (between participants 0.43, within 0.37), correlation between a participant's
    visits 0.57; ... d: the effect over that SD. Error bars: ..."."""
    fitted = [bool(o.get("from_fit")) for o in plan["outcomes"]]
    parts = []
    for outcome in plan["outcomes"]:
        c = assumed[outcome["id"]]
        decimals = outcome.get("decimals")
        sd = {k: _number(c[k], decimals) for k in ("sd", "sd_participant", "sd_residual")}
        within = f"between participants {sd['sd_participant']}, within {sd['sd_residual']}"
        if plan.get("design") == CLUSTER:
            within = f"between clusters {_number(c['sd_cluster'], decimals)}, {within}"
            within += f"; ICC {c['icc']:.3g}"
        if outcome.get("from_fit") and not all(fitted):
            within += ", from this trial's fitted model"
        parts.append(
            f"{outcome['label']}, SD of one score {sd['sd']} ({within}), correlation between "
            f"a participant's visits {c['rho']:.2f}"
        )
    source = ", from this trial's fitted model" if all(fitted) else ""
    return (
        f"Assumed{source}: {'; '.join(parts)}. d: the effect over that SD. Error bars: Monte "
        f"Carlo 95% CI (Wilson) of each power from its {plan['n_sims']:,} simulated trials; "
        "band: the same interval for a true power at the target."
    )


def _number(value: float, decimals: int | None) -> str:
    """A positive SD to the outcome's decimals (3 significant digits without them)."""
    if decimals is None:
        return f"{value:.3g}"
    return rounded(value, decimals)


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
