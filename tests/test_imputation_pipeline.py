"""Multiple imputation wired into a named sensitivity analysis, end to end (issue 13): the
configuration matrix's `sensitivity_imputation` trial (a primary repeated model with a binary
category outcome; a hypothetical-strategy analysis; `mi_delta`, multiple imputation after a
hypothetical strategy on a delta grid; `mi_carried`, an MMRM on imputations with the shift
carried over and a while-on-treatment strategy) through Snakemake twice. Checks that
effects.csv, the tipping-point table and figure and the report have them, that Table 2 and
the report print each estimand, that a seed gives the same bytes on a second run, and that
the pipeline's numbers equal trialeval.imputation.mixed_model_imputation called directly on
the interim data (the wiring loses nothing)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from config_matrix import imputation_cell
from conftest import ROOT
from trialeval.errors import TrialInputError
from trialeval.estimands import apply_intercurrent_events, cells_after
from trialeval.imputation import mixed_model_imputation
from trialeval.io import in_set, read_analysis_data, set_members

CELL = imputation_cell()
TRIAL = CELL.id
RUNS = ("results_a", "results_b")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("imputation")
    shutil.copy(ROOT / "Snakefile", root / "Snakefile")
    shutil.copytree(
        ROOT / "workflow", root / "workflow", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "config" / "trials").mkdir(parents=True)
    for name in ("instruments.yaml", "config.yaml"):
        shutil.copy(ROOT / "config" / name, root / "config" / name)
    CELL.write(root)
    for results in RUNS:
        config = root / f"{results}.yaml"
        options = {"alpha": 0.05, "multiplicity": "holm", "trials": [TRIAL]}
        config.write_text(yaml.safe_dump({**options, "results_dir": results}))
        process = subprocess.run(
            [sys.executable, "-m", "snakemake", "all", "--cores", "2", "--configfile", str(config)],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert process.returncode == 0, process.stderr[-4000:]
    return root


def _out(project, path: str, results: str = RUNS[0]):
    return project / results / TRIAL / path


def _analysis(name: str) -> dict:
    return next(a for a in CELL.trial["analyses"]["sensitivity"] if a["name"] == name)


def test_effects_have_every_analysis_and_the_mi_method(project):
    effects = pd.read_csv(_out(project, "effects.csv"))
    names = ["primary", "hypothetical", "mi_delta", "mi_carried"]
    assert list(dict.fromkeys(effects["analysis_name"])) == names
    by_name = {n: effects[effects["analysis_name"] == n] for n in names}
    # the binary outcome: risk ratios in the primary and hypothetical analyses; the MI
    # analyses impute scores only (its default outcomes leave the category out)
    for name in ("primary", "hypothetical"):
        assert set(by_name[name]["outcome"]) == {"flourishing", "burnout"}
    for name in ("mi_delta", "mi_carried"):
        rows = by_name[name]
        assert set(rows["outcome"]) == {"flourishing"} and rows["estimate"].notna().all()
    assert (
        by_name["mi_delta"]["method"]
        .str.endswith(
            "multiple imputation under MAR by arm (m = 5, seed 11), Rubin's rules, Barnard-Rubin df"
        )
        .all()
    )
    assert by_name["mi_carried"]["method"].str.contains(r"MMRM.*\(m = 3, seed 5\)").all()
    # every observation of the set is in each completed data set: 27 participants x 3 visits
    assert (by_name["mi_delta"]["n_obs"] == 3 * by_name["mi_delta"]["n"]).all()


def test_a_seed_gives_the_same_bytes(project):
    for path in (
        "effects.csv",
        "tables/tipping_point.csv",
        "tables/tipping_point.md",
        "tables/tipping_point.docx",
        "figures/tipping_point.png",
        "figures/tipping_point.svg",
    ):
        first, second = (_out(project, path, r).read_bytes() for r in RUNS)
        assert first == second, path


def test_the_pipeline_equals_the_library_called_directly(project):
    """The interim data, the analysis's strategy applied by hand, the itt set, and
    mixed_model_imputation with the analysis's options: every delta's pooled numbers as
    tipping_point.csv has them, and delta 0 as effects.csv has it."""
    results = _out(project, "interim")
    scores, participants = read_analysis_data(
        *(str(results / f) for f in ("scores.parquet", "participants.parquet")),
        str(results / "analysis_sets.parquet"),
        "flourishing",
    )
    spec_path = _out(project, "stage_config/sensitivity.mi_delta.json")
    view = yaml.safe_load(spec_path.read_text())["trial"]  # JSON is YAML
    outcome = next(o for o in view["outcomes"] if o["id"] == "flourishing")
    tipping = pd.read_csv(_out(project, "tables/tipping_point.csv"))
    effects = pd.read_csv(_out(project, "effects.csv"))
    columns = ["estimate", "se", "df", "ci_low", "ci_high", "p_value"]
    close = {"rtol": 1e-9, "atol": 1e-9}  # the CSV files keep 10 significant digits
    options = {
        "mi_delta": {"model": "repeated", "site": "random", "propagate": False, "exclude": None},
        "mi_carried": {"model": "mmrm", "site": "fixed", "propagate": True},
    }
    for name, option in options.items():
        analysis = _analysis(name)
        events = analysis["estimand"]["intercurrent_events"]
        mine, _ = apply_intercurrent_events(scores, participants, events, view)
        if "exclude" not in option:  # while on treatment: visits after the event not analysed
            option["exclude"] = cells_after(participants, events, view, "while_on_treatment")
            assert len(option["exclude"])
        members = set_members(participants, "itt", "flourishing")
        mi = analysis["imputation"]
        pooled, _ = mixed_model_imputation(
            mine[in_set(mine["participant_id"], members["participant_id"])],
            members,
            view,
            outcome,
            analysis_set="itt",
            covariates=("age",),
            m=mi["m"],
            seed=mi["seed"],
            deltas=mi["delta"],
            **option,
        )
        assert sorted(set(pooled["delta"])) == sorted({0.0, *map(float, mi["delta"])})
        got = tipping[tipping["analysis_name"] == name].reset_index(drop=True)
        np.testing.assert_allclose(got[columns], pooled[columns], **close)
        mar = pooled[pooled["delta"] == 0.0].reset_index(drop=True)
        rows = effects[effects["analysis_name"] == name].reset_index(drop=True)
        np.testing.assert_allclose(rows[columns], mar[columns], **close)
        assert rows["timepoint"].tolist() == mar["timepoint"].tolist()


def test_tipping_point_table_figure_and_report(project):
    table = _out(project, "tables/tipping_point.md").read_text()
    assert "Multiple imputation with delta adjustment (tipping point)" in table
    for label in [a["label"] for a in CELL.trial["analyses"]["sensitivity"][1:]]:
        assert f"| {label}: Flourishing" in table
    assert table.count("0 (MAR)") == 2 and ("Tipping point δ" in table or "No tipping" in table)
    for ext in ("csv", "html", "docx"):
        assert _out(project, f"tables/tipping_point.{ext}").stat().st_size > 0
    full = pd.read_csv(_out(project, "tables/tipping_point.csv"))
    # every estimand and visit, every delta, with the tipping point and its note per contrast
    mi_delta = full[full["analysis_name"] == "mi_delta"]
    assert len(mi_delta) == 4 * 4  # 2 estimands x 2 visits x deltas -6, -3, 0, 3
    assert mi_delta["tipping_note"].notna().all()
    notes = yaml.safe_load(_out(project, "figures/notes.json").read_text())
    assert notes["tipping_point"] == []
    assert _out(project, "figures/tipping_point.png").read_bytes()[:4] == b"\x89PNG"
    assert (
        b"est-mi_delta-flourishing-itt-coach"
        in _out(project, "figures/tipping_point.svg").read_bytes()
    )
    report = (project / RUNS[0] / "report.html").read_text()
    assert "<h3>Multiple imputation and tipping point</h3>" in report
    assert "Multiple imputation with delta adjustment (tipping point)" in report
    assert re.search(r'alt="Figure \d+\. Tipping point: pooled estimate', report)  # its caption


def test_table_2_and_the_report_print_each_estimand(project):
    # Table 2 holds the primary analysis; each sensitivity analysis is in Table S1.
    table2 = _out(project, "tables/effects_table.md").read_text()
    table_s1 = _out(project, "tables/effects_supplement.md").read_text()
    report = (project / RUNS[0] / "report.html").read_text()
    labels = ["primary analysis", *(a["label"] for a in CELL.trial["analyses"]["sensitivity"])]
    assert "Estimand, primary analysis: population: allocated students" in table2
    for label in labels:
        assert f"Estimand, {label}: population: allocated students" in report, label
    for label in labels[1:]:
        assert f"Estimand, {label}: population: allocated students" in table_s1, label
        assert f"Sensitivity analysis: {label}" in table_s1
        assert f"Sensitivity analysis: {label}" not in table2


def test_trials_without_imputation_keep_their_tables_and_figures():
    from trialeval.config import report_items

    plain = {"design": "rct", "analyses": {"sensitivity": [{"name": "a"}]}}
    assert "tipping_point" not in report_items(plain)["tables"]
    assert "tipping_point" not in report_items({"design": "rct"})["figures"]
    with_mi = {"design": "rct", "analyses": {"sensitivity": [{"name": "a", "imputation": {}}]}}
    assert report_items(with_mi)["tables"][-1] == report_items(with_mi)["figures"][-1]


@pytest.mark.parametrize(
    "imputation, outcomes, message",
    [
        ({"m": 5}, ["burnout"], r"sensitivity\[0\]\.outcomes: \['burnout'\] are category"),
        ({"m": 1}, None, r"imputation\.m.*1 is less than the minimum of 2"),
        ({"delta": []}, None, r"imputation\.delta"),
        ({"seeds": 3}, None, r"imputation.*seeds"),
    ],
)
def test_imputation_config_errors(tiny, imputation, outcomes, message):
    analysis = {"name": "mi", "imputation": imputation}
    if outcomes:
        tiny.trial["outcomes"].append(
            {"id": "burnout", "instrument": "mbi_2item", "category": "burnout", "role": "secondary"}
        )
        analysis["outcomes"] = outcomes
    tiny.trial["analyses"] = {"sensitivity": [analysis]}
    with pytest.raises(TrialInputError, match=message):
        tiny.spec()


def test_imputation_defaults_resolve(tiny):
    tiny.trial["analyses"] = {"sensitivity": [{"name": "mi", "imputation": {"delta": [-2, 0]}}]}
    [analysis] = tiny.spec()["analyses"]["sensitivity"]
    assert analysis["imputation"] == {
        "m": 50,
        "seed": 20240101,
        "delta": [-2.0, 0.0],
        "propagate": False,
    }


def test_every_sensitivity_rows_n_is_its_fits(project):
    """model_n.csv holds each sensitivity analysis's fits under its name (a multiple
    imputation's: its first completed data set's, every participant of the set with the
    model's covariates); every effects row's n, the primary's and each sensitivity
    analysis's, is its fit's arms summed; Table S1 (its Markdown, and the report's copy of
    its HTML) prints, in each sensitivity analysis's block, those n."""
    from trialeval.model_n import effect_n

    effects = pd.read_csv(_out(project, "effects.csv"))
    model_n = pd.read_csv(_out(project, "model_n.csv"))
    arms = [a["id"] for a in CELL.trial["arms"]]
    names = ["primary", "hypothetical", "mi_delta", "mi_carried"]
    assert list(dict.fromkeys(model_n["analysis_name"])) == names
    for row in effects[effects["n"].notna()].to_dict("records"):
        assert row["n"] == effect_n(model_n, row, arms), row
    # the imputed analyses' fits, counted here from the interim files: every itt member with
    # the model's covariates (and site, fixed in mi_carried), all imputed; mi_carried's
    # while-on-treatment strategy then removes every visit after the event, so the MMRM has
    # nothing after baseline of those who stopped at baseline (P004, P022; P013)
    _, people = read_analysis_data(
        *(str(_out(project, f"interim/{f}.parquet")) for f in ("scores", "participants")),
        str(_out(project, "interim/analysis_sets.parquet")),
    )
    covariates = CELL.trial["analyses"]["mixed_model"]["covariates"]
    stopped = people["intercurrent:stopped"].fillna("").str.lower()
    for name, extra, kept in (
        ("mi_delta", [], stopped == stopped),
        ("mi_carried", ["site"], stopped != "baseline"),
    ):
        members = set_members(people[kept], "itt").dropna(subset=[*covariates, *extra])
        expected = members["arm"].value_counts().to_dict()
        fit = model_n[model_n["analysis_name"] == name]
        assert set(fit["outcome"]) == {"flourishing"}, name
        assert dict(zip(fit["arm"], fit["n"], strict=True)) == expected, name
    # Table S1: each sensitivity analysis's blocks (one per visit) print its rows' n
    md = _out(project, "tables/effects_supplement.md").read_text().splitlines()
    labels = {a["name"]: a["label"] for a in CELL.trial["analyses"]["sensitivity"]}
    for name, label in labels.items():
        printed, inside = [], False
        for line in md:
            if line.startswith("| **"):  # a block's heading
                inside = f"Sensitivity analysis: {label}," in line
            elif inside and line.startswith("|"):
                cell = line.strip("|").split("|")[-1].strip()
                printed += [int(cell.replace(",", ""))] if cell else []
        fitted = effects.loc[effects["analysis_name"] == name, "n"].astype(int)
        assert printed and sorted(printed) == sorted(fitted), name
    report = (project / RUNS[0] / "report.html").read_text()
    assert _out(project, "tables/effects_supplement.html").read_text().strip() in report
