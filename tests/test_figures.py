"""Figures: each kind renders from the pipeline's own outputs, draws exactly their numbers,
meets the journal style and writes byte-identical files run after run.

The inputs are built once per module by the library's rule entries (ingest, scoring, analysis
sets, models, effects) on the three demo trials, into a temporary folder: no snakemake, and
nothing read from results/.
"""

from __future__ import annotations

import copy
import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import ErrorbarContainer
from matplotlib.patches import FancyBboxPatch
from matplotlib.text import Text

from conftest import ROOT, demo_spec, run_front_stages
from trialeval import association, effects, figures, models
from trialeval import model_n as model_n_module
from trialeval import prepost as prepost_module
from trialeval.config import outcome_analyses, report_items
from trialeval.errors import TrialInputError
from trialeval.formatting import DASH, format_p
from trialeval.labels import analysis_set_label
from trialeval.tables import estimate_decimals

# the names the figure rule passes (workflow/rules/common.smk, FIGURE_INPUTS)
FIGURE_INPUTS = {
    "consort": ["consort", "scores", "sets", "model_n"],
    "trajectories": ["means", "consort"],
    "forest": ["effects", "scores", "sets", "model_n"],
    "change_distributions": ["scores", "sets"],
    "odds_ratio_forest": ["effects", "association_counts"],
}
TRIALS = ("coaching_rct", "mentorship_prepost", "belonging_survey")
CASES = [
    (trial, kind)
    for trial, design in (
        ("coaching_rct", "rct"),
        ("mentorship_prepost", "quasi_experimental"),
        ("belonging_survey", "cross_sectional"),
    )
    for kind in report_items({"design": design})["figures"]
]


def demo_specs() -> dict[str, dict]:
    return {trial: demo_spec(trial) for trial in TRIALS}


def build_outputs(spec: dict, out: Path, alpha: float = 0.05) -> dict[str, str]:
    """Every stage output the figures read, written by the library's rule entries."""
    paths = {
        "participants": out / "interim/participants.parquet",
        "items": out / "interim/items.parquet",
        "scores": out / "interim/scores.parquet",
        "sets": out / "interim/analysis_sets.parquet",
        "consort": out / "consort.json",
        "effects": out / "effects.csv",
        "model_n": out / "model_n.csv",
        "means": out / "tables/adjusted_means.csv",
        "prepost_summary": out / "tables/prepost_summary.csv",
        "association_counts": out / "tables/association_counts.csv",
    }
    run_front_stages(spec, paths, out, out / "tables/reliability.csv")
    inputs = {name: str(paths[name]) for name in ("scores", "participants", "sets")}
    analyses = {
        "mixed_model": (models, ("effects", "means", "diagnostics", "model_n")),
        "prepost": (prepost_module, ("effects", "summary", "model_n")),
        "association": (association, ("effects", "counts", "model_n")),
    }
    plan = outcome_analyses(spec)
    runs = {**plan, "association": spec["analyses"]["association"]}
    parts: dict[str, list[str]] = {}
    for analysis, (module, kinds) in analyses.items():
        files = {k: str(out / f"parts/{analysis}.{k}.csv") for k in kinds}
        if runs[analysis]:
            module.run(spec, paths=inputs, alpha=alpha, outputs=files)
        parts[analysis] = list(files.values()) if runs[analysis] else []
    effects.run(
        spec,
        parts,
        "holm",
        {
            "effects": str(paths["effects"]),
            "model_n": str(paths["model_n"]),
            "means": str(paths["means"]),
            "diagnostics": str(out / "tables/model_diagnostics.csv"),
            "change_scores": str(paths["prepost_summary"]),
            "association_counts": str(paths["association_counts"]),
        },
    )
    return {name: str(path) for name, path in paths.items()}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """{trial: {"spec": ..., "paths": {name: path}}} for the three demo trials."""
    root = tmp_path_factory.mktemp("figure_inputs")
    return {
        trial: {"spec": spec, "paths": build_outputs(spec, root / trial)}
        for trial, spec in demo_specs().items()
    }


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def read_csv(path) -> pd.DataFrame:
    return pd.read_csv(path)


def draw(demo, trial: str, kind: str):
    """The figure as run() draws it, from the same inputs."""
    spec, paths = demo[trial]["spec"], demo[trial]["paths"]
    if kind == "consort":
        consort = json.loads(Path(paths["consort"]).read_text())
        return figures.plot_consort(spec, consort, model_n(demo, trial))
    if kind == "trajectories":
        return figures.plot_trajectories(spec, read_csv(paths["means"]))
    if kind == "forest":
        return figures.plot_forest(
            spec,
            read_csv(paths["effects"]),
            scores=pd.read_parquet(paths["scores"]),
            sets=pd.read_parquet(paths["sets"]),
        )
    if kind == "change_distributions":
        return figures.plot_change_distributions(
            spec, pd.read_parquet(paths["scores"]), pd.read_parquet(paths["sets"])
        )
    return figures.plot_odds_ratios(
        spec, read_csv(paths["effects"]), read_csv(paths["association_counts"])
    )


def test_effects_n_is_the_sum_of_the_models_arms(demo):
    """Every mixed-model and pre/post row of effects.csv: n = the participants per arm its fit
    reported (model_n.csv), summed over its arms (a mixed model's every arm)."""
    checked = set()
    for trial in demo:
        paths, arms = demo[trial]["paths"], [a["id"] for a in demo[trial]["spec"]["arms"]]
        reported = read_csv(paths["model_n"])
        table = read_csv(paths["effects"])
        for row in table[table["analysis"] != "association"].to_dict("records"):
            assert row["n"] == model_n_module.effect_n(reported, row, arms), row
            checked.add(row["analysis"])
    assert {"mixed_model", "prepost", "risk_ratio", "logistic"} <= checked


def test_forest_pairs_and_consort_print_the_models_reported_n():
    """A 3-arm trial whose models reported a: 5, b: 7, c: 2 (say some left out for a missing
    covariate): the forest's n of b - a is 5 + 7 = 12, of c - a 5 + 2 = 7, and the CONSORT
    analysed n are the reported ones, not a recount of the scores (which here has nobody)."""
    spec = {
        "design": "rct",
        "baseline": "t0",
        "arms": [{"id": a} for a in "abc"],
        "analyses": {"mixed_model": {"model": "repeated"}},
        "outcomes": [{"id": "ee", "role": "primary", "kind": "score"}],
    }
    base = {"trial": "t", "analysis_set": "itt", "outcome": "ee"}
    counts = {"a": 5, "b": 7, "c": 2}
    reported = model_n_module.model_n_frame(
        model_n_module.model_n_rows(base, "mixed_model", counts)
    )
    continuous = pd.DataFrame({"outcome": ["ee", "ee"], "contrast": ["b - a", "c - a"]})
    pairs = figures._pair_n(spec, continuous, "itt", reported)
    assert pairs == {("ee", "b - a"): 12, ("ee", "c - a"): 7}
    consort = {"allocated": {"a": 9, "b": 9, "c": 9}, "analysed": {"itt": {}}}
    spec["analyses"]["analysis_sets"] = ["itt"]
    shown = figures.primary_model_n(spec, consort, reported)
    assert shown == {"itt": {"ee": {"a": 5, "b": 7, "c": 2}}}


def model_n(demo, trial: str) -> dict:
    spec, paths = demo[trial]["spec"], demo[trial]["paths"]
    return figures.primary_model_n(
        spec,
        json.loads(Path(paths["consort"]).read_text()),
        read_csv(paths["model_n"]),
    )


def texts(fig) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def numbers(strings: list[str]) -> set[int]:
    """Every integer printed, thousands separators removed."""
    found = set()
    for s in strings:
        found.update(int(m.replace(",", "")) for m in re.findall(r"\d[\d,]*", s))
    return found


def by_gid(fig) -> dict[str, object]:
    """Drawn data lines (and scatter collections) by their gid."""
    found = {}
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections]:
            if artist.get_gid():
                found[artist.get_gid()] = artist
    return found


def errorbars(fig) -> dict[str, ErrorbarContainer]:
    return {
        c.lines[0].get_gid(): c
        for ax in fig.axes
        for c in ax.containers
        if isinstance(c, ErrorbarContainer) and c.lines[0].get_gid()
    }


def bar_ends(container: ErrorbarContainer, axis: int) -> list[tuple[float, float]]:
    """(low, high) of each error bar along axis 0 (x) or 1 (y)."""
    (bars,) = container.lines[2]
    return [tuple(sorted(seg[:, axis])) for seg in bars.get_segments()]


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


# --------------------------------------------------------------------------------------
# Every figure kind renders, to both formats, at journal width
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("trial", "kind"), CASES)
def test_run_writes_png_and_svg_at_column_width(demo, tmp_path, trial, kind):
    paths = demo[trial]["paths"]
    inputs = {name: paths[name] for name in FIGURE_INPUTS[kind]}  # only what the rule passes
    figures.run(demo[trial]["spec"], kind, inputs=inputs, out_stem=str(tmp_path / kind))
    png, svg = tmp_path / f"{kind}.png", tmp_path / f"{kind}.svg"
    assert png.stat().st_size > 10_000 and svg.stat().st_size > 10_000
    width_px, _ = png_size(png)
    assert width_px in (round(3.5 * 300), round(7.2 * 300))  # 300 dpi, one or two columns
    assert svg.read_text().lstrip().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == [png.name, svg.name]  # no temp files
    assert not plt.get_fignums()  # run() closes its figure


@pytest.mark.parametrize(("trial", "kind"), CASES)
def test_text_is_at_least_7pt_and_inside_the_figure(demo, trial, kind):
    fig = draw(demo, trial, kind)
    width = fig.get_size_inches()[0]
    assert width in (figures.SINGLE_COLUMN, figures.DOUBLE_COLUMN)
    fig.set_dpi(figures.DPI)  # text metrics as in the PNG (hinted glyphs are wider at 300 dpi)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text().strip():
            assert text.get_fontsize() >= 7, text.get_text()
            assert text.get_fontfamily() == ["sans-serif"]
    # everything drawn (tick labels, axis labels, legends, texts outside the axes) fits the
    # figure: nothing clipped at the edges
    drawn, frame = fig.get_tightbbox(renderer), fig.bbox_inches
    tol = 1e-9  # inches: float rounding of an axes spanning the whole figure
    assert drawn.x0 >= frame.x0 - tol and drawn.x1 <= frame.x1 + tol, drawn
    assert drawn.y0 >= frame.y0 - tol and drawn.y1 <= frame.y1 + tol, drawn


def drawn_texts(fig) -> list[Text]:
    """Text artists actually drawn: non-empty, visible, and for tick labels only ticks inside
    the view limits (matplotlib keeps stale labels for the others)."""
    ticks = {}
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                inside = lo - 1e-9 * (hi - lo) <= tick.get_loc() <= hi + 1e-9 * (hi - lo)
                for label in (tick.label1, tick.label2):
                    ticks[id(label)] = inside and axis.get_visible() and ax.axison
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and ticks.get(id(t), True)
    ]


@pytest.mark.parametrize(("trial", "kind"), CASES)
def test_no_text_overlaps_other_text(demo, trial, kind):
    fig = draw(demo, trial, kind)
    fig.set_dpi(figures.DPI)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = [(t.get_text(), t.get_window_extent(renderer).padded(-0.5)) for t in drawn_texts(fig)]
    for i, (text_a, a) in enumerate(found):
        for text_b, b in found[i + 1 :]:
            assert not a.overlaps(b), (text_a, text_b)


def test_unknown_kind_is_refused(demo, tmp_path):
    with pytest.raises(ValueError, match="unknown figure 'violin'"):
        figures.run(demo["coaching_rct"]["spec"], "violin", inputs={}, out_stem=str(tmp_path / "x"))


# --------------------------------------------------------------------------------------
# CONSORT
# --------------------------------------------------------------------------------------


def consort_numbers(consort: dict, sets=("itt", "per_protocol", "complete_case")) -> set[int]:
    """Every count of consort.json the flow diagram shows: the analysis sets only those the
    trial configures (`sets`)."""
    keys = ("enrolled", "allocated", "withdrawn", "assessed", "not_assessed")
    keys += ("no_data_at_any_timepoint",)
    found: set[int] = set()

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        else:
            found.add(int(value))

    for key in keys:
        walk(consort[key])
    for key in ("analysed", "excluded_from"):
        walk({k: v for k, v in consort[key].items() if k in sets})
    return found


@pytest.mark.parametrize("trial", TRIALS)
def test_consort_shows_every_count_of_consort_json(demo, trial):
    consort = json.loads(Path(demo[trial]["paths"]["consort"]).read_text())
    shown = numbers(texts(draw(demo, trial, "consort")))
    configured = demo[trial]["spec"]["analyses"]["analysis_sets"]
    assert consort_numbers(consort, configured) <= shown


def boxes(fig) -> list:
    return [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]


@pytest.mark.parametrize("trial", TRIALS)
def test_consort_boxes_hold_their_text_and_do_not_overlap(demo, trial):
    fig = draw(demo, trial, "consort")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    extents = [p.get_window_extent(renderer) for p in boxes(fig)]
    for i, a in enumerate(extents):
        for b in extents[i + 1 :]:
            overlap = min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)
            assert min(overlap) <= 0, "boxes overlap"
    # every line of box text lies inside exactly one box
    for text in fig.axes[0].texts:
        if not text.get_text() or text.get_fontsize() < figures.FONT_SIZE:  # footnote
            continue
        box = text.get_window_extent(renderer)
        inside = [e for e in extents if e.x0 <= box.x0 and box.x1 <= e.x1 and e.y0 <= box.y0]
        inside = [e for e in inside if box.y1 <= e.y1]
        assert len(inside) == 1, text.get_text()


def centre(box) -> tuple[float, float]:
    return (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2


def test_consort_arm_columns_carry_their_own_numbers(demo):
    """Each arm's boxes (allocation, follow-up, analysis) print that arm's counts."""
    consort = json.loads(Path(demo["coaching_rct"]["paths"]["consort"]).read_text())
    fig = draw(demo, "coaching_rct", "consort")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for arm, label in consort["arms"].items():
        title = next(t for t in fig.axes[0].texts if t.get_text() == f"Allocated to {label}")
        column = next(
            p.get_window_extent(renderer)
            for p in boxes(fig)
            if p.get_window_extent(renderer).contains(*centre(title.get_window_extent(renderer)))
        )
        in_column = [
            t.get_text()
            for t in fig.axes[0].texts
            if column.x0 <= t.get_window_extent(renderer).x0 <= column.x1
        ]
        assert f"n\u00a0=\u00a0{consort['allocated'][arm]}" in in_column
        joined = "\n".join(in_column)
        assert f"Withdrew consent for data use: n\u00a0=\u00a0{consort['withdrawn'][arm]}" in joined
        for tp in consort["timepoints"]:
            assert f"Assessed: n\u00a0=\u00a0{consort['assessed'][tp][arm]}" in joined
            assert f"n\u00a0=\u00a0{consort['not_assessed'][tp][arm]}" in joined
        for name, counts in consort["analysed"].items():
            label_set = analysis_set_label(name, demo["coaching_rct"]["spec"])
            assert f"{label_set}: n\u00a0=\u00a0{counts[arm]}" in joined
            if name in consort["excluded_from"]:
                excluded = consort["excluded_from"][name][arm]
                assert (
                    f"{label_set}: n\u00a0=\u00a0{counts[arm]} (excluded n\u00a0=\u00a0{excluded})"
                    in joined
                )


def test_survey_consort_is_surveyed_responded_analysed(demo):
    consort = json.loads(Path(demo["belonging_survey"]["paths"]["consort"]).read_text())
    shown = texts(draw(demo, "belonging_survey", "consort"))
    joined = "\n".join(shown)
    for title in ("Surveyed", "Responded", "Analysed", "Not analysed"):
        assert title in shown
    assert f"n\u00a0=\u00a0{consort['enrolled']:,}" in joined
    assert f"n\u00a0=\u00a0{consort['assessed']['survey']['all']:,}" in joined
    assert f"n\u00a0=\u00a0{consort['not_assessed']['survey']['all']:,}" in joined
    assert "Allocated" not in joined  # no arms in a survey


# --------------------------------------------------------------------------------------
# Forest plot: standardized points equal effects.csv / the hand-computed baseline SD
# --------------------------------------------------------------------------------------


def hand_baseline_sd(scores: pd.DataFrame, sets: pd.DataFrame, baseline: str) -> dict:
    """Pooled within-arm SD from first principles: squared deviations from each arm's mean,
    summed over arms, over (N - number of arms)."""
    members = sets.loc[sets["itt"], ["participant_id", "arm"]]
    data = scores[(scores["timepoint"] == baseline) & scores["score"].notna()]
    data = data.drop(columns=["arm"]).merge(members, on="participant_id")
    result = {}
    for outcome, rows in data.groupby("outcome"):
        ss, n, k = 0.0, 0, 0
        for _, arm_rows in rows.groupby("arm"):
            x = arm_rows["score"].to_numpy(dtype=float)
            ss += float(((x - x.mean()) ** 2).sum())
            n, k = n + len(x), k + 1
        result[outcome] = (ss / (n - k)) ** 0.5
    return result


@pytest.mark.parametrize("trial", ["coaching_rct", "mentorship_prepost"])
def test_forest_points_are_effects_per_baseline_sd(demo, trial):
    spec, paths = demo[trial]["spec"], demo[trial]["paths"]
    table = read_csv(paths["effects"])
    scores, sets = pd.read_parquet(paths["scores"]), pd.read_parquet(paths["sets"])
    sd = hand_baseline_sd(scores, sets, spec["baseline"])
    computed = figures.baseline_sd(spec, scores, sets)
    for outcome, value in sd.items():
        if outcome in computed:
            assert computed[outcome] == pytest.approx(value, rel=1e-12)

    fig = draw(demo, trial, "forest")
    drawn = errorbars(fig)
    itt = table[table["analysis_set"] == "itt"]
    wanted = {
        "rct": {"diff_in_change", "risk_ratio"},
        "quasi_experimental": {"adjusted_mean_difference", "hodges_lehmann_shift", "risk_ratio"},
    }[spec["design"]]
    rows = itt[itt["estimand"].isin(wanted)]
    assert len(rows) == len(drawn) > 0  # one point per effect of interest, nothing else
    ratios = rows.loc[rows["estimand"] == "risk_ratio", "analysis"]
    analysis = {"rct": "risk_ratio", "quasi_experimental": "prepost"}[spec["design"]]
    assert len(ratios) > 0 and (ratios == analysis).all()  # randomized: an analysis of its own
    for _, row in rows.iterrows():
        contrast = row["contrast"].replace(" ", "")
        gid = f"forest-{row['outcome']}-{row['estimand']}-{row['timepoint']}-{contrast}"
        container = drawn[gid]
        scale = 1.0 if row["estimand"] == "risk_ratio" else sd[row["outcome"]]
        (x,) = container.lines[0].get_xdata()
        assert x == pytest.approx(row["estimate"] / scale, rel=1e-9)
        ((low, high),) = bar_ends(container, 0)
        assert low == pytest.approx(row["ci_low"] / scale, rel=1e-9)
        assert high == pytest.approx(row["ci_high"] / scale, rel=1e-9)
        # primary: filled marker; secondary: open
        face = to_hex(container.lines[0].get_markerfacecolor())
        assert (face != "#ffffff") == (row["role"] == "primary")
    # the estimates printed are the raw ones
    shown = "\n".join(texts(fig))
    for _, row in rows.iterrows():
        digits = estimate_decimals(spec, row["outcome"], row["estimand"])
        raw = figures._estimate_ci(row["estimate"], row["ci_low"], row["ci_high"], digits)
        assert raw in shown
        assert figures.format_p(row["p_value"]) in shown


def test_forest_axes_reference_lines_and_primary_labels(demo):
    fig = draw(demo, "coaching_rct", "forest")
    # continuous outcomes in two panels (lower is better, higher is better), then the ratios
    *continuous, ratios = fig.axes
    assert len(continuous) == 2
    assert all(ax.get_xscale() == "linear" for ax in continuous) and ratios.get_xscale() == "log"
    assert "standardized (per baseline sd)" in continuous[0].get_xlabel().lower()
    for ax, ref in [*((c, 0.0) for c in continuous), (ratios, 1.0)]:
        verticals = [ln for ln in ax.lines if list(ln.get_xdata()) == [ref, ref]]
        assert verticals, "reference line missing"
        low, high = ax.get_xlim()
        for container in ax.containers:
            for seg in container.lines[2][0].get_segments():
                assert low <= seg[:, 0].min() and seg[:, 0].max() <= high  # no CI clipped
    spec = demo["coaching_rct"]["spec"]
    labels = {
        t.get_text().replace("\n", " "): t.get_fontweight() for ax in continuous for t in ax.texts
    }
    for outcome in spec["outcomes"]:
        if outcome["kind"] == "score":
            weight = labels[outcome["label"]]
            assert (weight == "bold") == (outcome["role"] == "primary"), outcome["id"]
    # the width allows every continuous outcome's label on one line (2.1 in wrapped "Moral
    # injury symptoms (MISS-HP total)")
    drawn = {t.get_text() for ax in continuous for t in ax.texts}
    assert {o["label"] for o in spec["outcomes"] if o["kind"] == "score"} <= drawn


def test_forest_needs_scores_to_standardize(demo):
    spec, paths = demo["coaching_rct"]["spec"], demo["coaching_rct"]["paths"]
    with pytest.raises(ValueError, match="baseline SD"):
        figures.plot_forest(spec, read_csv(paths["effects"]))


# --------------------------------------------------------------------------------------
# Trajectories, change distributions, odds ratios
# --------------------------------------------------------------------------------------


def test_trajectory_points_are_the_adjusted_means(demo):
    spec, paths = demo["coaching_rct"]["spec"], demo["coaching_rct"]["paths"]
    means = read_csv(paths["means"])
    means = means[means["analysis_set"] == "itt"]
    fig = draw(demo, "coaching_rct", "trajectories")
    drawn = errorbars(fig)
    order = [tp["id"] for tp in spec["timepoints"]]
    scores = [o for o in spec["outcomes"] if o["kind"] == "score"]
    assert len(drawn) == len(scores) * len(spec["arms"])
    for outcome in scores:
        for arm in spec["arms"]:
            rows = means[(means["outcome"] == outcome["id"]) & (means["arm"] == arm["id"])]
            rows = rows.set_index("timepoint").loc[order]
            container = drawn[f"trajectory-{outcome['id']}-{arm['id']}"]
            np.testing.assert_allclose(container.lines[0].get_ydata(), rows["estimate"])
            ends = np.array(bar_ends(container, 1))
            np.testing.assert_allclose(ends[:, 0], rows["ci_low"])
            np.testing.assert_allclose(ends[:, 1], rows["ci_high"])
    # y labels: outcome label and instrument range; x: the timepoint labels; one legend
    ylabels = [ax.get_ylabel().replace("\n", " ") for ax in fig.axes if ax.get_ylabel()]
    assert ylabels[0] == "Emotional exhaustion (MBI, 0\u201354)"
    assert len(ylabels) == len(scores)
    ticks = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_xticklabels()]
    assert ticks == [tp["label"] for tp in spec["timepoints"]]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + fig.legends
    assert len(legends) == 1
    assert [t.get_text() for t in legends[0].get_texts()] == [a["label"] for a in spec["arms"]]
    # the coaching model has no covariates: its means are model-estimated, not adjusted
    assert not spec["analyses"]["mixed_model"].get("covariates")
    assert legends[0].get_title().get_text() == "Model-estimated mean (95% CI)"


def test_arms_differ_in_colour_and_marker_okabe_ito_by_default():
    spec = {"arms": [{"id": "a", "label": "A"}, {"id": "b"}, {"id": "c", "colour": "#123456"}]}
    styles = figures.arm_styles(spec)
    assert styles["a"]["colour"] == figures.OKABE_ITO[0]
    assert styles["b"]["colour"] == figures.OKABE_ITO[1]
    assert styles["c"]["colour"] == "#123456"  # the trial file's colour wins
    assert len({s["marker"] for s in styles.values()}) == 3
    assert styles["b"]["label"] == "b"


def test_change_distributions_match_the_prepost_summary(demo):
    spec, paths = demo["mentorship_prepost"]["spec"], demo["mentorship_prepost"]["paths"]
    summary = read_csv(paths["prepost_summary"])
    summary = summary[(summary["analysis_set"] == "itt") & summary["median"].notna()]
    scores, sets = pd.read_parquet(paths["scores"]), pd.read_parquet(paths["sets"])
    fig = draw(demo, "mentorship_prepost", "change_distributions")
    drawn = by_gid(fig)
    labels = {a["id"]: a["label"] for a in spec["arms"]}
    ticks = {
        ax.get_title().replace("\n", " "): [t.get_text() for t in ax.get_xticklabels()]
        for ax in fig.axes
    }
    for _, row in summary.iterrows():
        outcome = next(o for o in spec["outcomes"] if o["id"] == row["outcome"])
        key = f"{row['outcome']}-{row['timepoint']}-{row['arm']}"
        median = drawn[f"median-{key}"]
        assert list(median.get_ydata()) == [pytest.approx(row["median"])] * 2
        points = drawn[f"change-{key}"].get_offsets()
        assert len(points) == row["n"]
        # the change scores, by hand from the interim scores
        members = sets.loc[sets["itt"] & (sets["arm"] == row["arm"]), "participant_id"]
        mine = scores[
            (scores["outcome"] == row["outcome"]) & scores["participant_id"].isin(members)
        ]
        wide = mine.pivot(index="participant_id", columns="timepoint", values="score")
        change = (wide[row["timepoint"]] - wide[spec["baseline"]]).dropna()
        np.testing.assert_allclose(np.sort(points[:, 1]), np.sort(change.to_numpy()))
        tick = next(
            t
            for t in ticks[figures.outcome_axis_label(spec, outcome)]
            if t.replace("\n", " ").startswith(labels[row["arm"]])
        )
        assert tick.endswith(f"(n = {row['n']})")


def test_odds_ratio_points_reference_and_counts(demo):
    spec, paths = demo["belonging_survey"]["spec"], demo["belonging_survey"]["paths"]
    table = read_csv(paths["effects"])
    counts = read_csv(paths["association_counts"])
    fig = draw(demo, "belonging_survey", "odds_ratio_forest")
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    drawn, lines = errorbars(fig), by_gid(fig)
    ors = table[(table["estimand"] == "odds_ratio") & (table["analysis_set"] == "itt")]
    assert len(drawn) == len(ors)
    for _, row in ors.iterrows():
        level = counts[
            (counts["exposure"] == row["exposure"])
            & (counts["label"] == row["contrast"].split(" - ")[0])
        ].iloc[0]
        container = drawn[f"or-{row['exposure']}-{level['level']}"]
        (x,) = container.lines[0].get_xdata()
        assert x == pytest.approx(row["estimate"], rel=1e-9)
        ((low, high),) = bar_ends(container, 0)
        assert (low, high) == (pytest.approx(row["ci_low"]), pytest.approx(row["ci_high"]))
    shown = texts(fig)
    for exposure in spec["analyses"]["association"]["exposures"]:
        reference = counts[counts["exposure"] == exposure].sort_values("level").iloc[0]
        marker = lines[f"or-{exposure}-{reference['level']}-reference"]
        assert list(marker.get_xdata()) == [1.0]
        assert f"{reference['label']} (reference)" in shown
    for _, level in counts.iterrows():
        assert f"{level['n']:,}" in shown  # n per level
        # events (%): the percentage without a "%" of its own, as the tables' n (%) cells
        assert f"{level['events']:,} ({100 * level['events'] / level['n']:.1f})" in shown
        assert not any(s.startswith(f"{level['events']:,} (") and "%" in s for s in shown)


# --------------------------------------------------------------------------------------
# More arms and visits than the demo: layouts still fit
# --------------------------------------------------------------------------------------


def three_arms_three_visits(demo):
    """The coaching outputs extended by a second intervention arm and a month-8 visit (made
    up from the month-4 and coaching rows): spec, adjusted means, effects, consort."""
    spec = copy.deepcopy(demo["coaching_rct"]["spec"])
    paths = demo["coaching_rct"]["paths"]
    spec["arms"].insert(1, {"id": "peer", "label": "Peer support", "control": False})
    spec["timepoints"].append({"id": "month8", "label": "Month 8 (follow-up)", "baseline": False})
    means = read_csv(paths["means"])
    peer = means[means["arm"] == "coaching"].assign(arm="peer")
    peer[["estimate", "ci_low", "ci_high"]] += 0.5
    means = pd.concat([means, peer], ignore_index=True)
    means = pd.concat(
        [means, means[means["timepoint"] == "month4"].assign(timepoint="month8")],
        ignore_index=True,
    )
    table = read_csv(paths["effects"])
    halved = table.assign(contrast="peer - control")
    halved[["estimate", "ci_low", "ci_high"]] *= 0.5
    table = pd.concat([table, halved], ignore_index=True)
    table = pd.concat([table, table.assign(timepoint="month8")], ignore_index=True)
    consort = json.loads(Path(paths["consort"]).read_text())

    def add_peer(node):
        if isinstance(node, dict):
            if "coaching" in node:
                node["peer"] = node["coaching"]
            for value in node.values():
                add_peer(value)

    add_peer(consort)
    consort["allocated"] = {a: consort["allocated"][a] for a in ("coaching", "peer", "control")}
    consort["timepoints"]["month8"] = "Month 8 (follow-up)"
    for key in ("assessed", "not_assessed"):
        consort[key]["month8"] = dict(consort[key]["month4"])
    return spec, means, table, consort


def test_three_arms_and_three_visits_fit(demo):
    spec, means, table, consort = three_arms_three_visits(demo)
    paths = demo["coaching_rct"]["paths"]
    scores, sets = pd.read_parquet(paths["scores"]), pd.read_parquet(paths["sets"])
    reported = read_csv(paths["model_n"])  # the peer arm's models as the coached arm's
    reported = pd.concat(
        [reported, reported[reported["arm"] == "coaching"].assign(arm="peer")], ignore_index=True
    )
    drawn = {
        "trajectories": figures.plot_trajectories(spec, means),
        "forest": figures.plot_forest(spec, table, scores=scores, sets=sets, model_n=reported),
        "consort": figures.plot_consort(spec, consort),
    }
    forest = errorbars(drawn["forest"])
    rows = table[
        (table["analysis_set"] == "itt") & table["estimand"].isin(["diff_in_change", "risk_ratio"])
    ]
    assert len(forest) == len(rows)  # every visit x contrast
    # several contrasts: each arm's points in its own colour
    colours = {to_hex(c.lines[0].get_markeredgecolor()) for c in forest.values()}
    # the control keeps slot 1 (vermilion): the arms take slots 0 and 2
    assert colours == {figures.OKABE_ITO[0].lower(), figures.OKABE_ITO[2].lower()}
    assert len(errorbars(drawn["trajectories"])) == 7 * 3
    assert consort_numbers(consort) <= numbers(texts(drawn["consort"]))
    for fig in drawn.values():
        fig.set_dpi(figures.DPI)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        found = [t.get_window_extent(renderer).padded(-0.5) for t in drawn_texts(fig)]
        assert not any(a.overlaps(b) for i, a in enumerate(found) for b in found[i + 1 :])
        box, frame = fig.get_tightbbox(renderer), fig.bbox_inches
        assert frame.x0 - 1e-9 <= box.x0 and box.x1 <= frame.x1 + 1e-9


# --------------------------------------------------------------------------------------
# What cannot be drawn is said, in the figure and to the report
# --------------------------------------------------------------------------------------


def fits_and_reads(fig) -> str:
    """All drawn text, after checking it stays inside the figure and nothing overlaps."""
    fig.set_dpi(figures.DPI)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = [(t.get_text(), t.get_window_extent(renderer).padded(-0.5)) for t in drawn_texts(fig)]
    for i, (text_a, a) in enumerate(found):
        for text_b, b in found[i + 1 :]:
            assert not a.overlaps(b), (text_a, text_b)
    box, frame = fig.get_tightbbox(renderer), fig.bbox_inches
    assert frame.x0 - 1e-9 <= box.x0 and box.x1 <= frame.x1 + 1e-9, box
    assert frame.y0 - 1e-9 <= box.y0 and box.y1 <= frame.y1 + 1e-9, box
    return " ".join(text.replace("\n", " ") for text, _ in found)


def test_ancova_trajectories_say_why_there_are_no_means(demo, tmp_path):
    spec = copy.deepcopy(demo["coaching_rct"]["spec"])
    spec["analyses"]["mixed_model"]["model"] = "ancova"
    means = tmp_path / "adjusted_means.csv"
    pd.DataFrame(columns=effects.MEANS_COLUMNS).to_csv(means, index=False)  # header only
    consort = demo["coaching_rct"]["paths"]["consort"]
    notes = figures.run(
        spec,
        "trajectories",
        inputs={"means": str(means), "consort": consort},
        out_stem=str(tmp_path / "trajectories"),
    )
    assert notes == [
        "No adjusted means: the ANCOVA model (analyses.mixed_model.model: ancova) estimates "
        "one baseline-adjusted difference per arm, not a mean per visit; its effects are in "
        "the forest plot and the effects table."
    ]
    assert (tmp_path / "trajectories.png").stat().st_size > 0
    drawn = fits_and_reads(figures.plot_trajectories(spec, pd.read_csv(means)))
    assert "the ANCOVA model" in drawn and "not a mean per visit" in drawn


def test_trajectories_of_an_arm_without_follow_up(demo):
    spec, paths = demo["coaching_rct"]["spec"], demo["coaching_rct"]["paths"]
    means = read_csv(paths["means"])
    gap = (means["arm"] == "coaching") & (means["timepoint"] == "month4")
    means.loc[gap, ["estimate", "se", "df", "ci_low", "ci_high"]] = np.nan
    means.loc[gap, "n_observed"] = 0
    consort = json.loads(Path(paths["consort"]).read_text())
    assert figures.trajectory_gaps(spec, means, "itt", consort) == [
        "Group coaching: no participant has a score at Month 4 (end of programme), so no "
        "adjusted mean is drawn there."
    ]
    fig = figures.plot_trajectories(spec, means, "itt", consort)
    line = errorbars(fig)["trajectory-ee-coaching"].lines[0]
    baseline = means[(means["outcome"] == "ee") & (means["arm"] == "coaching")]
    assert line.get_ydata()[0] == baseline.iloc[0]["estimate"]  # baseline drawn
    assert np.isnan(line.get_ydata()[1])  # month 4: nothing
    assert "Not drawn: Group coaching: no participant has a score at Month 4" in fits_and_reads(fig)


def test_trajectories_of_an_arm_that_withdrew(demo):
    spec, paths = demo["coaching_rct"]["spec"], demo["coaching_rct"]["paths"]
    means = read_csv(paths["means"])
    gone = means["arm"] == "coaching"
    means.loc[gone, ["estimate", "se", "df", "ci_low", "ci_high"]] = np.nan
    means.loc[gone, "n_observed"] = 0
    consort = json.loads(Path(paths["consort"]).read_text())
    consort["withdrawn"]["coaching"] = consort["allocated"]["coaching"]  # 197 of 197
    consort["analysed"]["itt"]["coaching"] = 0
    expected = (
        "Group coaching: nobody is in the intention-to-treat set (197 of 197 allocated "
        "withdrew consent), so nothing is drawn for this arm."
    )
    assert figures.trajectory_gaps(spec, means, "itt", consort) == [expected]
    drawn = fits_and_reads(figures.plot_trajectories(spec, means, "itt", consort))
    assert "nobody is in the intention-to-treat set" in drawn


def test_forest_without_estimates_says_why(demo):
    spec, paths = demo["coaching_rct"]["spec"], demo["coaching_rct"]["paths"]
    table = read_csv(paths["effects"])
    reason = "not estimable: no Group coaching participant has a score at Month 4"
    table[["estimate", "ci_low", "ci_high", "p_value", "p_adjusted"]] = np.nan
    table["note"] = reason
    scores, sets = pd.read_parquet(paths["scores"]), pd.read_parquet(paths["sets"])
    rows = table[
        (table["analysis_set"] == "itt") & table["estimand"].isin(["diff_in_change", "risk_ratio"])
    ]
    assert figures.forest_gaps(spec, table) == [
        f"{len(rows)} of {len(rows)} effects have no estimate ({reason}): their rows show no point."
    ]
    fig = figures.plot_forest(spec, table, scores=scores, sets=sets)
    drawn = fits_and_reads(fig)
    assert "not estimable" in drawn and reason in drawn
    assert not errorbars(fig)  # no point, no bar
    # nothing at all to draw: a figure that says so
    empty = figures.plot_forest(spec, table.iloc[:0], scores=scores, sets=sets)
    assert "No effects were estimated in the intention-to-treat set." in fits_and_reads(empty)


def test_change_distributions_with_nobody_observed_twice(demo):
    spec, paths = demo["mentorship_prepost"]["spec"], demo["mentorship_prepost"]["paths"]
    scores = pd.read_parquet(paths["scores"])
    sets = pd.read_parquet(paths["sets"])
    baseline_only = scores[scores["timepoint"] == spec["baseline"]]
    fig = figures.plot_change_distributions(spec, baseline_only, sets)
    assert "No change scores: no participant of the all-enrolled set" in fits_and_reads(fig)
    # one arm without change scores: drawn for the other, said for it
    mentored = sets.loc[sets["arm"] == "mentored", "participant_id"]
    partial = scores[~(scores["participant_id"].isin(mentored) & (scores["timepoint"] == "post"))]
    fig = figures.plot_change_distributions(spec, partial, sets)
    assert "Resident mentor: no participant has a score at Start of rotation and at a later" in (
        fits_and_reads(fig)
    )


# --------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("trial", "kind"), CASES)
def test_saving_twice_gives_identical_bytes(demo, tmp_path, trial, kind):
    fig = draw(demo, trial, kind)
    figures.save(fig, tmp_path / "first")
    figures.save(fig, tmp_path / "second")
    for ext in ("png", "svg"):
        first, second = (tmp_path / f"{s}.{ext}" for s in ("first", "second"))
        assert first.read_bytes() == second.read_bytes(), ext
    svg = (tmp_path / "first.svg").read_text()
    assert "<dc:date>" not in svg and "Matplotlib" not in svg  # no date, no version


FRESH = """
import json, sys
from trialeval import figures
for spec, kind, inputs, stem in json.load(open(sys.argv[1])):
    figures.run(spec, kind, inputs=inputs, out_stem=stem)
"""


def test_a_fresh_process_writes_the_same_bytes(demo, tmp_path):
    jobs, stems = [], []
    for trial, kind in CASES:
        spec, paths = demo[trial]["spec"], demo[trial]["paths"]
        inputs = {name: paths[name] for name in FIGURE_INPUTS[kind]}
        here, there = (str(tmp_path / f"{trial}-{kind}-{w}") for w in ("here", "there"))
        figures.run(spec, kind, inputs=inputs, out_stem=here)
        jobs.append([spec, kind, inputs, there])
        stems.append((here, there))
    job = tmp_path / "jobs.json"
    job.write_text(json.dumps(jobs))
    done = subprocess.run(
        [sys.executable, "-c", FRESH, str(job)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for here, there in stems:
        for ext in ("svg", "png"):
            same = Path(f"{here}.{ext}").read_bytes() == Path(f"{there}.{ext}").read_bytes()
            assert same, f"{here}.{ext}"


# --------------------------------------------------------------------------------------
# Read as a reader would: the SVG's text (matplotlib writes each text as a comment before
# its glyph paths, and an artist's gid as its group's id)
# --------------------------------------------------------------------------------------


def svg_of(fig, tmp_path: Path, name: str = "figure") -> str:
    figures.save(fig, tmp_path / name)
    return (tmp_path / f"{name}.svg").read_text()


def svg_texts(svg: str) -> list[str]:
    return [t.strip() for t in re.findall(r"<!-- (.*?) -->", svg, flags=re.S)]


def svg_panels(svg: str) -> list[list[str]]:
    """The texts of each axes of the SVG, in drawing order."""
    return [svg_texts(chunk) for chunk in re.split(r'<g id="axes_\d+">', svg)[1:]]


def svg_gid_text(svg: str, gid: str) -> str:
    """The text of the artist with this gid (its group's first comment)."""
    start = svg.index(f'<g id="{gid}">')
    return re.search(r"<!-- (.*?) -->", svg[start:], flags=re.S).group(1).strip()


def test_forest_favours_each_side_by_direction(demo, tmp_path):
    """Emotional exhaustion (lower is better): left of 0 favours coaching; personal
    accomplishment (higher is better): right of 0 favours coaching; the high-EE category
    (fewer is better): left of 1 favours coaching. In the SVG, and placed on that side of
    the reference line."""
    fig = draw(demo, "coaching_rct", "forest")
    panels = svg_panels(svg_of(fig, tmp_path))
    by_row = {
        "Emotional exhaustion": ("\u2190 Favours Group coaching", "Favours Control \u2192"),
        "Personal accomplishment": ("\u2190 Favours Control", "Favours Group coaching \u2192"),
        "High emotional exhaustion (EE \u2265\u00a027)": (
            "\u2190 Favours Group coaching",
            "Favours Control \u2192",
        ),
    }
    for row, (left, right) in by_row.items():
        (panel,) = [p for p in panels if row in p]
        assert left in panel and right in panel, row
        assert [t for t in panel if "Favours" in t] == [left, right]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax, ref in zip(fig.axes, (0.0, 0.0, 1.0), strict=True):
        at = ax.transData.transform((ref, 0))[0]
        sides = {t.get_gid(): t.get_window_extent(renderer) for t in ax.texts if t.get_gid()}
        assert sides["favours-left"].x1 < at < sides["favours-right"].x0


def test_forest_names_the_shared_contrast_and_visit_once(demo, tmp_path):
    """coaching_rct has one contrast and one post visit: its three panels (two directions of
    continuous outcomes, the risk ratios) share them, so the figure says them once, above
    the first panel, and no panel title repeats them."""
    texts = svg_texts(svg_of(draw(demo, "coaching_rct", "forest"), tmp_path))
    heading = "Group coaching vs Control, Month 4 (end of programme)"
    assert sum(heading in t for t in texts) == 1
    assert sum("Month 4" in t for t in texts) == 1
    titles = [t for t in texts if t.startswith(("Continuous outcomes", "Binary outcomes"))]
    assert len(titles) == 3 and not any("vs Control" in t for t in titles)


def _plot_inches(fig) -> list[float]:
    """The width in inches of each forest panel's plot area."""
    return [ax.get_position().width * fig.get_size_inches()[0] for ax in fig.axes]


def test_forest_labels_widen_into_the_plot_before_they_wrap(demo, tmp_path):
    """coaching_rct's longest label (2.8 in of text) fits on one line once the plot gives up
    room, down to MIN_PLOT_W (here about 1.1 in, where it kept 1.6 before; figures whose labels
    fit keep their layout): one text element, no line break. A label that would need the
    plot narrower than MIN_PLOT_W still wraps, the plot at MIN_PLOT_W."""
    fig = draw(demo, "coaching_rct", "forest")
    widths = _plot_inches(fig)
    assert figures.MIN_PLOT_W <= min(widths) < 1.6
    texts = svg_texts(svg_of(fig, tmp_path))
    label = "Frequent or intense impostor experiences (CIPS &gt;\u00a060)"  # figures.pretty
    assert label in texts
    assert not [t for t in texts if t.startswith("(CIPS")]
    # the ratio axis keeps a tick below 1 at this width (_side_ticks): 0.75, 1, 1.5
    (ratio_panel,) = [p for p in svg_panels(svg_of(fig, tmp_path, "again")) if label in p]
    assert [t for t in ratio_panel if t in ("0.75", "1", "1.5")] == ["0.75", "1", "1.5"]
    spec = copy.deepcopy(demo["coaching_rct"]["spec"])
    long = "Frequent or intense impostor experiences reported at the end of the programme"
    outcome = next(o for o in spec["outcomes"] if o["id"] == "impostor_frequent")
    outcome["label"] = f"{long} (CIPS > 60)"
    paths = demo["coaching_rct"]["paths"]
    fig = figures.plot_forest(
        spec,
        read_csv(paths["effects"]),
        scores=pd.read_parquet(paths["scores"]),
        sets=pd.read_parquet(paths["sets"]),
    )
    assert min(_plot_inches(fig)) == pytest.approx(figures.MIN_PLOT_W, abs=1e-9)
    texts = svg_texts(svg_of(fig, tmp_path, "long"))
    assert f"{long} (CIPS &gt;\u00a060)" not in texts
    (wrapped,) = [t for t in texts if t.startswith("Frequent or intense")]
    assert long.startswith(wrapped) and len(wrapped) < len(long)


def test_forest_without_a_direction_states_none(demo, tmp_path):
    """An instrument whose registry entry has no higher_is_better: no favours line, and the
    outcomes stay in one panel per kind."""
    spec = copy.deepcopy(demo["coaching_rct"]["spec"])
    for inst in spec["instruments"].values():
        for entry in [*inst["subscales"].values(), *inst["categories"].values()]:
            entry["higher_is_better"] = None
    paths = demo["coaching_rct"]["paths"]
    fig = figures.plot_forest(
        spec,
        read_csv(paths["effects"]),
        scores=pd.read_parquet(paths["scores"]),
        sets=pd.read_parquet(paths["sets"]),
    )
    assert len(fig.axes) == 2
    assert not [t for t in svg_texts(svg_of(fig, tmp_path)) if "Favours" in t]


def test_consort_of_a_prepost_study_assigns_and_shows_configured_sets(demo, tmp_path):
    spec = demo["mentorship_prepost"]["spec"]
    assert spec["design"] == "quasi_experimental"
    shown = svg_texts(svg_of(draw(demo, "mentorship_prepost", "consort"), tmp_path))
    joined = " ".join(shown)
    assert "Assigned to Resident mentor" in shown and "Assignment" in shown
    assert "allocat" not in joined.lower()
    # analysis_sets: [itt] in the trial file
    assert "Per protocol" not in joined and "Complete case" not in joined


@pytest.mark.parametrize(
    ("trial", "estimand"),
    [("coaching_rct", "diff_in_change"), ("mentorship_prepost", "adjusted_mean_difference")],
)
def test_consort_analysed_is_each_primary_models_n(demo, tmp_path, trial, estimand):
    """Per configured set and primary outcome, the arms' n in the diagram add up to the n of
    the model in effects.csv; the others of the set are shown apart, without data."""
    spec, paths = demo[trial]["spec"], demo[trial]["paths"]
    consort = json.loads(Path(paths["consort"]).read_text())
    table = read_csv(paths["effects"])
    counts = model_n(demo, trial)
    shown = svg_texts(svg_of(draw(demo, trial, "consort"), tmp_path))
    labels = {o["id"]: o["label"] for o in spec["outcomes"]}
    assert set(counts) == set(spec["analyses"]["analysis_sets"])
    for name, outcomes in counts.items():
        for outcome, by_arm in outcomes.items():
            row = table[
                (table["analysis_set"] == name)
                & (table["outcome"] == outcome)
                & (table["estimand"] == estimand)
            ]
            assert sum(by_arm.values()) == int(row["n"].iloc[0]), (name, outcome)
            for arm, n in by_arm.items():
                others = consort["analysed"][name][arm] - n
                line = f"{labels[outcome]}: n\u00a0=\u00a0{n} (no data: {others})"
                assert line in shown, line


def test_survey_consort_response_rate_and_models_at_double_width(demo, tmp_path):
    fig = draw(demo, "belonging_survey", "consort")
    assert fig.get_size_inches()[0] == figures.DOUBLE_COLUMN  # as the trials' diagrams
    shown = svg_texts(svg_of(fig, tmp_path))
    assert "Response rate: 55.9%" in shown  # 1,261 of 2,257 responded: 55.87%
    table = read_csv(demo["belonging_survey"]["paths"]["effects"])
    labels = {o["id"]: o["label"] for o in demo["belonging_survey"]["spec"]["outcomes"]}
    rows = table[(table["estimand"] == "odds_ratio") & (table["role"] == "primary")]
    for exposure, part in rows.groupby("exposure"):
        assert f"{labels[exposure]}: n\u00a0=\u00a0{int(part['n'].iloc[0]):,}" in shown


def test_trajectories_show_the_observed_n_per_arm_per_visit(demo, tmp_path):
    """The n under each visit, by hand: members of the ITT set with the outcome scored there."""
    spec, paths = demo["coaching_rct"]["spec"], demo["coaching_rct"]["paths"]
    scores, sets = pd.read_parquet(paths["scores"]), pd.read_parquet(paths["sets"])
    itt = set(sets.loc[sets["itt"], "participant_id"])
    fig = draw(demo, "coaching_rct", "trajectories")
    svg = svg_of(fig, tmp_path)
    checked = 0
    for outcome in [o for o in spec["outcomes"] if o["kind"] == "score"]:
        for arm in spec["arms"]:
            for tp in spec["timepoints"]:
                mine = scores[
                    (scores["outcome"] == outcome["id"])
                    & (scores["arm"] == arm["id"])
                    & (scores["timepoint"] == tp["id"])
                    & scores["score"].notna()
                    & scores["participant_id"].isin(itt)
                ]
                gid = f"n-{outcome['id']}-{arm['id']}-{tp['id']}"
                assert svg_gid_text(svg, gid) == f"{mine['participant_id'].nunique():,}", gid
                checked += 1
    assert checked == 7 * 2 * 2


def test_trajectory_axes_span_a_fifth_of_the_scale_at_least(demo):
    spec = demo["coaching_rct"]["spec"]
    fig = draw(demo, "coaching_rct", "trajectories")
    scored = [o for o in spec["outcomes"] if o["kind"] == "score"]
    for ax, outcome in zip(fig.axes, scored, strict=False):
        lo, hi = spec["instruments"][outcome["instrument"]]["subscales"][outcome["name"]]["range"]
        bottom, top = ax.get_ylim()
        assert top - bottom >= figures.MIN_SPAN * (hi - lo) - 1e-9, outcome["id"]
    # depersonalization (0-30): a one-point change is at most a sixth of the panel
    dp = fig.axes[[o["id"] for o in scored].index("dp")]
    assert 1 / np.diff(dp.get_ylim())[0] <= 1 / 6


@pytest.mark.parametrize(
    "trial, kind",
    [("coaching_rct", "trajectories"), ("mentorship_prepost", "change_distributions")],
)
def test_whole_point_scores_tick_at_whole_numbers(demo, tmp_path, trial, kind):
    """A sum score (MBI, CIPS, Flourishing totals: whole points) and its change tick at whole
    numbers, read from the SVG's tick labels (no "32.5"); the SCS-SF mean may tick at 0.1."""
    spec = demo[trial]["spec"]
    fig = draw(demo, trial, kind)
    scored = [o for o in spec["outcomes"] if o["kind"] == "score"]
    panels = svg_panels(svg_of(fig, tmp_path))
    decimal = re.compile(r"^\u2212?\d+\.\d+$")
    whole = [o for o in scored if estimate_decimals(spec, o["id"]) == 1]
    assert whole
    for outcome, ax, shown in zip(scored, fig.axes, panels, strict=False):
        lo, hi = ax.get_ylim()
        ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
        if outcome in whole:
            assert all(float(t).is_integer() for t in ticks), (outcome["id"], ticks)
            assert not [t for t in shown if decimal.match(t)], (outcome["id"], shown)
            assert len(ticks) >= 3, (outcome["id"], ticks)  # still a readable scale


def test_arm_styles_keep_the_control_whatever_the_number_of_arms():
    two = [{"id": "a", "control": False}, {"id": "ctl", "control": True}]
    three = [{"id": "a", "control": False}, {"id": "b", "control": False}, two[1]]
    first, second = figures.arm_styles({"arms": two}), figures.arm_styles({"arms": three})
    assert first["ctl"] == {**second["ctl"], "label": "ctl"}
    assert first["a"]["colour"] == second["a"]["colour"] == figures.OKABE_ITO[0]
    assert second["b"]["colour"] == figures.OKABE_ITO[2]  # not the control's
    assert len({s["marker"] for s in second.values()}) == 3


def tipping_rows(outcomes: list[str]) -> pd.DataFrame:
    """A made-up every-delta table (pooled rows as sensitivity.<name>.imputation.csv has)."""
    rows = []
    for outcome in outcomes:
        for delta in (-4.0, -2.0, 0.0):
            estimate = 1.5 + 0.5 * delta
            rows.append(
                {
                    "analysis_name": "mi",
                    "outcome": outcome,
                    "analysis_set": "itt",
                    "contrast": "coaching - control",
                    "estimand": "diff_in_change",
                    "timepoint": "month4",
                    "delta": delta,
                    "estimate": estimate,
                    "ci_low": estimate - 1.2,
                    "ci_high": estimate + 1.2,
                    "p_value": 0.01 * 2 ** (delta + 4),
                    "alpha": 0.05,
                    "tipping_delta": -2.0,
                    "tipping_note": "",
                }
            )
    return pd.DataFrame(rows)


def test_tipping_point_says_what_a_negative_shift_means_per_outcome(demo, tmp_path):
    spec = copy.deepcopy(demo["coaching_rct"]["spec"])
    spec["analyses"]["sensitivity"] = [
        {"name": "mi", "label": "Multiple imputation", "outcomes": ["ee", "flourishing"]}
    ]
    fig = figures.plot_tipping_point(spec, tipping_rows(["ee", "flourishing"]))
    panels = svg_panels(svg_of(fig, tmp_path))
    joined = [" ".join(p) for p in panels]
    ee, flourishing = joined[0], joined[2]  # rows: estimate panel, P panel
    assert "Emotional exhaustion" in ee and "that is better" in ee and "worse" not in ee
    assert "Flourishing" in flourishing and "that is worse" in flourishing
    assert "did worse" not in " ".join(joined)
    from trialeval.direction import negative_shift_words

    assert negative_shift_words(spec, ["ee", "flourishing"]) == (
        ", which is worse for Flourishing (FS total) (higher is better) and better for "
        "Emotional exhaustion (lower is better)"
    )
    # the report's reading guide says the same, not "did worse" for every outcome
    from trialeval.report import _imputation_section

    spec["analyses"]["sensitivity"][0]["imputation"] = {"m": 5, "seed": 1, "delta": [-2, 0]}
    guide = _imputation_section(spec)
    assert "did worse" not in guide
    assert "scored lower than MAR predicts, which is worse for Flourishing" in guide


def test_power_curve_labels_effects_and_monte_carlo_band(tmp_path):
    """Labels of the trial file (not ids), each arm's assumed effect, and the band of a
    simulated power equal to the target: Wilson 95% for 800 of 1,000, by hand
    (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n) = 0.7740810354 to
    0.8236229096, as R's print(prop.test(800, 1000, correct = FALSE)$conf.int, digits = 10);
    tolerance 1e-9."""
    from trialeval.power.figure import _figure_title, plot_power, save_figure

    plan = {
        "design": "rct",
        "arms": [
            {"id": "ctl", "label": "Usual teaching", "control": True, "effects": {}},
            {
                "id": "coach",
                "label": "Group coaching",
                "control": False,
                "colour": figures.OKABE_ITO[0],
                "marker": "o",
                "effects": {"sc": 0.3},
            },
        ],
        "visits": ["base", "m4"],
        "visit_labels": {"base": "Baseline", "m4": "Month 4"},
        "attrition": [0.25],
        "outcomes": [{"id": "sc", "label": "Self-compassion"}],
        "estimand": "diff_in_change",
        "sample_sizes": [100, 200],
        "n_sims": 1000,
        "alpha": 0.05,
        "target_power": 0.8,
    }
    power = pd.DataFrame(
        {
            "outcome": "sc",
            "arm": "coach",
            "n_total": [100, 200],
            "power": [0.6, 0.85],
            "ci_low": [0.57, 0.83],
            "ci_high": [0.63, 0.87],
            "icc": np.nan,
            "sd_cluster": np.nan,
            "sd_participant": 0.4,
            "sd_residual": 0.3,
        }
    )
    summary = pd.DataFrame({"outcome": ["sc"], "arm": ["coach"], "smallest_n_total": [200]})
    fig = plot_power(power, summary, plan, _figure_title(plan))
    band = next(p for p in fig.axes[0].patches if p.get_gid() == "target-band")
    extent = band.get_bbox()  # a Rectangle: x in axes fraction, y in power
    assert (extent.y0, extent.y1) == (
        pytest.approx(0.7740810354, abs=1e-9),
        pytest.approx(0.8236229096, abs=1e-9),
    )
    save_figure(fig, tmp_path / "power")
    shown = " ".join(svg_texts((tmp_path / "power.svg").read_text()))
    # d = 0.3 / sqrt(0.4^2 + 0.3^2) = 0.3 / 0.5 = 0.6 (3 significant digits: no decimals
    # in this plan)
    coaching = "Group coaching: +0.3 points (d\u00a0=\u00a0+0.60); N = 200"
    for label in ("Self-compassion", coaching, "Month 4 vs Baseline"):
        assert label in shown
    assert "Arm vs Usual teaching" in shown and "Monte Carlo 95%" in shown
    for ident in ("coach", "ctl", "m4", "base", "sc"):  # as words ("score" is not "sc")
        assert not re.search(rf"\b{ident}\b", shown), ident


def test_forest_n_of_a_multi_arm_trial_counts_the_two_arms_compared(demo, tmp_path):
    """Three arms (half the coached relabelled peer support): each continuous row's n is the
    participants of its two arms in its model, as model_n.csv gives them per arm (here by
    hand: those with the outcome scored at some visit, as the repeated model uses them; the
    mixed model of all arms reports them all in effects.csv); the risk ratios' n already
    count the two arms."""
    spec = copy.deepcopy(demo["coaching_rct"]["spec"])
    paths = demo["coaching_rct"]["paths"]
    spec["arms"].insert(1, {"id": "peer", "label": "Peer support", "control": False})
    scores, sets = pd.read_parquet(paths["scores"]), pd.read_parquet(paths["sets"])
    coached = sorted(sets.loc[sets["arm"] == "coaching", "participant_id"])
    peer = set(coached[::2])
    for frame in (scores, sets):
        frame["arm"] = frame["arm"].astype(str).where(~frame["participant_id"].isin(peer), "peer")
    table = read_csv(paths["effects"])
    table = pd.concat([table, table.assign(contrast="peer - control")], ignore_index=True)
    itt = set(sets.loc[sets["itt"], "participant_id"])
    arm_of = sets.set_index("participant_id")["arm"]
    rows = []
    for outcome in [o["id"] for o in spec["outcomes"] if o["kind"] == "score"]:
        scored = scores[(scores["outcome"] == outcome) & scores["score"].notna()]
        used = arm_of[sorted(set(scored["participant_id"]) & itt)]
        counts = {a["id"]: int((used == a["id"]).sum()) for a in spec["arms"]}
        base = {"trial": "coaching_rct", "analysis_set": "itt", "outcome": outcome}
        rows += model_n_module.model_n_rows(base, "mixed_model", counts)
    reported = model_n_module.model_n_frame(rows)
    fig = figures.plot_forest(spec, table, scores=scores, sets=sets, model_n=reported)
    checked = 0
    for ax in fig.axes[:-1]:  # the continuous panels
        for container in ax.containers:
            gid = container.lines[0].get_gid()
            outcome = gid.split("-")[1]
            contrast = "peer - control" if gid.endswith("peer-control") else "coaching - control"
            pair = set(contrast.split(" - "))
            scored = scores[
                (scores["outcome"] == outcome)
                & scores["score"].notna()
                & scores["participant_id"].isin(itt)
            ]["participant_id"].unique()
            hand = sum(arm_of[p] in pair for p in scored)
            y = container.lines[0].get_ydata()[0]
            cells = sorted(
                (t.get_position()[0], t.get_text())
                for t in ax.texts
                if t.get_position()[1] == y and t.get_position()[0] > 1
            )
            assert cells[0][1] == f"{hand:,}", gid
            checked += 1
    assert checked == 2 * 7
    # under disclosure control two pairs and Table 2's total would give each arm's model n:
    # every continuous row prints effects.csv's n (the model's, every arm), and says so
    fig = figures.plot_forest(spec, table, scores=scores, sets=sets, pairwise_n=False)
    ee = table[(table["outcome"] == "ee") & (table["estimand"] == "diff_in_change")]
    shown = svg_texts(svg_of(fig, tmp_path))
    assert shown.count(f"{int(ee['n'].iloc[0]):,}") >= 2  # both contrasts of ee
    assert not any(t == f"{hand:,}" for t in shown if hand != int(ee["n"].iloc[0]))
    assert any("participants in the model (every arm, as in Table 2)" in t for t in shown)


def test_report_shows_figures_at_one_scale(tmp_path):
    """A single-column figure is embedded at half the width of a double-column one (144 CSS
    px per inch: 3.5 in -> 504, 7.2 in -> 1037), so its type is the same size, not doubled."""
    from trialeval.report import _embed_png

    for width, pixels in ((figures.SINGLE_COLUMN, 504), (figures.DOUBLE_COLUMN, 1037)):
        fig = figures.plot_message("Nothing to draw", ["A sentence."], width=width)
        figures.save(fig, tmp_path / "figure")
        embedded = _embed_png(tmp_path / "figure.png", "Figure 1. Nothing to draw")
        assert f' width="{pixels}" ' in embedded and 'alt="Figure 1. Nothing to draw"' in embedded


def test_model_n_under_disclosure_control_is_withheld_with_its_others():
    """min_cell 5: a model n of 3 prints "<5"; n 40 of a set of 42 (2 without data, so
    n = 42 - 2 would give the 2 away) prints "≥5"; n 30 of 40 prints as is."""
    from trialeval.disclosure import Plan

    consort = {"analysed": {"itt": {"a": 5, "b": 42, "c": 40}}}
    model_n = {"itt": {"ee": {"a": 3, "b": 40, "c": 30}}}
    shown = figures._withheld_model_n(model_n, consort, Plan(min_cell=5))
    assert shown == {"itt": {"ee": {"a": "<5", "b": "\u22655", "c": 30}}}
    assert figures._withheld_model_n(model_n, consort, Plan()) == model_n  # off: unchanged
    # c's set count withheld as a complement (40 printed "≥5"): its n 30 and 10 without data
    # would add up to it, so the n is withheld too
    keys = frozenset(f"analysed/itt/{arm}" for arm in "abc")
    plan = Plan(min_cell=5, status={"analysed/itt/c": "complementary"}, registered=keys)
    assert figures._withheld_model_n(model_n, consort, plan)["itt"]["ee"]["c"] == "\u22655"


def test_disclosure_control_withholds_the_figures_counts(demo, tmp_path):
    """With disclosure on (a plan in the inputs), the trajectories print no observed n and the
    change distributions neither n nor countable points; the notes say why. Off: both shown."""
    plan = tmp_path / "disclosure.json"
    plan.write_text(json.dumps({"min_cell": 5, "suppressed": {}, "registered": []}))
    for trial, kind in (
        ("coaching_rct", "trajectories"),
        ("mentorship_prepost", "change_distributions"),
    ):
        paths = demo[trial]["paths"]
        inputs = {name: str(paths[name]) for name in ("means", "consort", "scores", "sets")}
        for on in (False, True):
            given = {**inputs, "disclosure": str(plan)} if on else inputs
            stem = tmp_path / f"{kind}-{on}"
            figures.run(demo[trial]["spec"], kind, inputs=given, out_stem=str(stem))
            svg = Path(f"{stem}.svg").read_text()
            if kind == "trajectories":
                assert ('id="n-ee-coaching-baseline"' in svg) is not on
                said = "Participants observed per visit not shown (disclosure control)."
            else:
                assert ('id="change-pa-' in svg) is not on
                assert ("(n = " in svg) is not on
                said = "Individual changes and n not shown (disclosure control)."
            assert (said in " ".join(svg_texts(svg)).replace("\n", " ")) is on


def test_model_n_is_read_never_recounted():
    """A pre/post trial's CONSORT n is its ANCOVA's at the last post visit, as model_n.csv
    says (here 4 + 3, though the rank test used 5 + 3); an outcome without model_n rows is an
    error naming the trial, set and outcome, not a recount of the scores."""
    spec = {
        "id": "t",
        "design": "quasi_experimental",
        "baseline": "t0",
        "timepoints": [{"id": "t0"}, {"id": "t1"}, {"id": "t2"}],
    }
    base = {"trial": "t", "analysis_set": "itt", "outcome": "ee"}
    rows = []
    for post, ancova in (("t1", {"a": 9, "b": 9}), ("t2", {"a": 4, "b": 3})):
        rows += model_n_module.model_n_rows(
            base, "prepost", {"a": 5, "b": 3}, "hodges_lehmann_shift", post
        )
        rows += model_n_module.model_n_rows(
            base, "prepost", ancova, "adjusted_mean_difference", post
        )
    reported = model_n_module.model_n_frame(rows)
    used = model_n_module.model_used(reported, spec, "itt", "ee", ["a", "b"])
    assert used == {"a": 4, "b": 3}
    with pytest.raises(
        TrialInputError, match=r"model_n.csv: no row for analysis set 'pp', outcome 'ee'"
    ):
        model_n_module.model_used(reported, spec, "pp", "ee", ["a", "b"])


def test_forest_prints_no_adjusted_p_for_primary_outcomes(demo):
    """P adj. of a primary outcome is a dash, as in Table 2 (primary outcomes are not
    adjusted for multiplicity); a secondary outcome's is effects.csv's Holm-adjusted P."""
    spec = demo["coaching_rct"]["spec"]
    rows = read_csv(demo["coaching_rct"]["paths"]["effects"])
    eff = rows[(rows["analysis_set"] == "itt") & (rows["estimand"] == "diff_in_change")]
    if "analysis_name" in eff:
        eff = eff[eff["analysis_name"].fillna("primary") == "primary"]
    rows = figures._forest_rows(spec, eff, ["diff_in_change"], None, {})
    by_gid = {figures._effect_gid(e): e for _, e in eff.iterrows()}
    roles = set()
    for row in rows:
        if row.gid not in by_gid:
            continue
        effect = by_gid[row.gid]
        roles.add(effect["role"])
        expected = DASH if effect["role"] == "primary" else format_p(effect["p_adjusted"])
        assert row.cells[-1] == expected, row.label
    assert roles == {"primary", "secondary"}
