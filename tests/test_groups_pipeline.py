"""Delivery groups and cluster trials configured in YAML only, through the pipeline's stages.

The trials are the configuration-matrix cells of tests/config_matrix.py (`group_cells`), the
simulated data of tests/data/reference/groups_ref.R; each stage runs as its rule runs it
(ingest, scoring, analysis sets, the mixed model, Table 1), and effects match lme4 1.1-31 +
lmerTest 3.1-3 (R 4.2.2; the lmer call of each fit is its `formula` in groups_lmer.json and
in groups_ref.R). Tolerances: estimates within 1e-5 of R's SE, SEs 1e-5 and Satterthwaite df
1e-4 relative.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from config_matrix import CLUSTER_REFERENCE, GROUP_REFERENCE, group_cells
from conftest import ROOT, run_front_stages
from trialeval import figures, ingest, models, report, tables
from trialeval.config import load_trials
from trialeval.errors import TrialInputError
from trialeval.formatting import DASH
from trialeval.io import read_csv

SCHEMAS = ROOT / "workflow" / "schemas"
LMER = json.loads((ROOT / "tests/data/reference/groups_lmer.json").read_text())
CELLS = {cell.id: cell for cell in group_cells()}


def _spec(root: Path, cell) -> dict:
    cell.write(root)
    instruments_file = root / "config" / "instruments.yaml"
    if not instruments_file.exists():
        shutil.copy(ROOT / "config" / "instruments.yaml", instruments_file)
    config = {
        "trials": [cell.id],
        "trials_dir": str(root / "config" / "trials"),
        "instruments": str(instruments_file),
        "raw_dir": str(root / "data" / "raw"),
        "results_dir": str(root / "results"),
    }
    return load_trials(config, SCHEMAS)[cell.id]


def run_stages(root: Path, cell) -> tuple[dict, dict[str, Path]]:
    """The stages up to the mixed model, by the library's rule entries."""
    spec = _spec(root, cell)
    out = root / "results" / cell.id
    paths = {
        name: out / f"{name}.{ext}"
        for name, ext in (
            ("participants", "parquet"),
            ("items", "parquet"),
            ("scores", "parquet"),
            ("sets", "parquet"),
            ("consort", "json"),
            ("effects", "csv"),
            ("means", "csv"),
            ("diagnostics", "csv"),
            ("model_n", "csv"),
        )
    }
    run_front_stages(spec, paths, out, out / "reliability.csv")
    models.run(
        spec,
        paths={k: str(paths[k]) for k in ("scores", "participants", "sets")},
        alpha=0.05,
        outputs={k: str(paths[k]) for k in ("effects", "means", "diagnostics", "model_n")},
    )
    return spec, paths


def _r_name(row) -> str:
    arm = row["contrast"].split(" - ")[0]
    if row["estimand"] == "adjusted_diff":
        return f"adjusted_diff:{arm}"
    return f"{row['estimand']}:{arm}:{row['timepoint']}"


@pytest.mark.parametrize("cell_id", list(GROUP_REFERENCE))
def test_group_trial_from_yaml_matches_lmer(tmp_path, cell_id):
    # R: each fit's formula in groups_lmer.json, lmerTest::contest1D(..., "Satterthwaite")
    reference = LMER[GROUP_REFERENCE[cell_id]]
    _, paths = run_stages(tmp_path, CELLS[cell_id])
    effects = read_csv(paths["effects"])
    by_name = {c["name"]: c for c in reference["contrasts"]}
    assert len(effects) == len(by_name)
    for _, row in effects.iterrows():
        expected = by_name[_r_name(row)]
        assert abs(row["estimate"] - expected["estimate"]) <= 1e-5 * expected["se"]
        assert row["se"] == pytest.approx(expected["se"], rel=1e-5)
        assert row["df"] == pytest.approx(expected["df"], rel=1e-4)
        assert row["n_obs"] == reference["n_obs"]
        assert "(0 + grouped" in row["method"]
    diagnostics = read_csv(paths["diagnostics"]).iloc[0]
    assert diagnostics["n_groups"] == 14
    assert diagnostics["sd_group"] == pytest.approx(reference["sd"]["dgroup"], rel=1e-5)
    sds = reference["sd"]
    total = sum(v**2 for v in sds.values())
    assert diagnostics["icc_group"] == pytest.approx(sds["dgroup"] ** 2 / total, rel=1e-5)


def _edited(cell, edit):
    trial = yaml.safe_load(yaml.safe_dump(cell.trial))
    edit(trial)
    return type(cell)(cell.id, trial, {k: v.copy() for k, v in cell.files.items()})


def test_group_spanning_two_sites_stops_the_run_naming_it(tmp_path):
    cell = CELLS["groups_site_random"]
    participants = cell.files["participants.csv"]
    moved = participants.index[participants["group"] == "G05"][0]
    broken = _edited(cell, lambda trial: None)
    broken.files["participants.csv"].loc[moved, "site"] = "s4"
    spec = _spec(tmp_path, broken)
    with pytest.raises(TrialInputError, match=r"group 'G05' has participants in 2 sites"):
        ingest.ingest(spec)
    # with site fixed the groups need not nest in sites
    fixed = _edited(broken, lambda t: t["analyses"]["mixed_model"].update(site="fixed"))
    ingest.ingest(_spec(tmp_path / "fixed", fixed))


def test_group_in_an_arm_not_delivered_in_groups_is_an_error(tmp_path):
    cell = _edited(
        CELLS["groups_site_fixed_age"],
        lambda t: t["analyses"]["mixed_model"].update(groups={"arms": ["selfguided"]}),
    )
    spec = _spec(tmp_path, cell)
    with pytest.raises(TrialInputError, match=r"column 'group' \(participant P081\): group 'G01' "):
        ingest.ingest(spec)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t["analyses"]["mixed_model"].update(model="mmrm", site="fixed"),
            "not available with analyses.mixed_model.model: mmrm",
        ),
        (
            lambda t: t["analyses"]["mixed_model"].update(
                model="clda", site="fixed", covariance="unstructured"
            ),
            "not available with analyses.mixed_model.model: clda with covariance",
        ),
        (
            lambda t: t["data"].pop("group_column"),
            "analyses.mixed_model.groups needs data.group_column",
        ),
        (
            lambda t: t["analyses"]["mixed_model"].update(groups={"arms": ["coached"]}),
            r"groups.arms names \['coached'\], which are not arms",
        ),
    ],
)
def test_config_refuses_what_the_models_cannot_fit(tmp_path, edit, message):
    cell = _edited(CELLS["groups_site_fixed_age"], edit)
    with pytest.raises(TrialInputError, match=message):
        _spec(tmp_path, cell)


def test_groups_in_consort_table1_and_report(tmp_path):
    # groups_ref.R: 14 coaching groups of sizes 4, 5, 5, 6, 6, 7, 7, 7, 8, 8, 8, 9, 8, 10
    # (median 7, range 4 to 10); control and selfguided are not grouped
    spec, paths = run_stages(tmp_path, CELLS["groups_site_random"])
    participants = pd.read_parquet(paths["participants"])
    assert (participants["delivery_group"] != "").sum() == 98
    assert set(participants.loc[participants["arm"] != "coaching", "delivery_group"]) == {""}
    assert spec["analyses"]["mixed_model"]["groups"] == {"arms": None}

    consort = json.loads(paths["consort"].read_text())
    coached = {"n": 14, "median": 7.0, "min": 4, "max": 10, "ungrouped": 0}
    assert consort["delivery_groups"]["allocated"]["coaching"] == coached
    assert consort["delivery_groups"]["itt"]["control"]["n"] == 0
    assert consort["delivery_groups"]["itt"]["control"]["ungrouped"] == 80
    assert "clusters" not in consort

    sets = pd.read_parquet(paths["sets"])
    scores = pd.read_parquet(paths["scores"])
    full, formatted = tables.table1(spec, participants, sets, scores)
    row = formatted[formatted["Characteristic"].str.startswith("Delivery groups")].iloc[0]
    assert row["coaching"] == "14; 7 (4 to 10)"
    assert row["control"] == DASH
    assert row["Overall"] == "14; 7 (4 to 10)"
    stats = full[(full["variable"] == "delivery_groups") & (full["group"] == "coaching")]
    assert dict(zip(stats["statistic"], stats["value"], strict=True)) == {
        "n": 14,
        "median": 7,
        "min": 4,
        "max": 10,
    }
    page = report._consort_summary(consort)
    assert "Delivery groups: n; size median (range)" in page and "14; 7 (4 to 10)" in page


# --- cluster-randomized trials ----------------------------------------------------------------


@pytest.mark.parametrize("cell_id", list(CLUSTER_REFERENCE))
def test_cluster_trial_from_yaml_matches_lmer(tmp_path, cell_id):
    # R: lmer(score ~ arm * timepoint + (1 | participant_id) + (1 | site)) and
    # lmer(post ~ arm + baseline + (1 | site)) on cluster_trial.csv; contest1D Satterthwaite.
    # The ANCOVA's site variance is at the boundary (lmer: 4.8e-8, here exactly 0), where
    # the df are the residual df in both.
    reference = LMER[CLUSTER_REFERENCE[cell_id]]
    spec, paths = run_stages(tmp_path, CELLS[cell_id])
    effects = read_csv(paths["effects"])
    by_name = {c["name"]: c for c in reference["contrasts"]}
    assert len(effects) == len(by_name)
    for _, row in effects.iterrows():
        expected = by_name[_r_name(row)]
        assert abs(row["estimate"] - expected["estimate"]) <= 1e-5 * expected["se"]
        assert row["se"] == pytest.approx(expected["se"], rel=1e-5)
        assert row["df"] == pytest.approx(expected["df"], rel=1e-4)
        assert "(1 | site)" in row["method"]
    diagnostics = read_csv(paths["diagnostics"]).iloc[0]
    assert diagnostics["n_sites"] == 12
    assert diagnostics["sd_site"] == pytest.approx(reference["sd"]["site"], rel=1e-5, abs=1e-6)
    if cell_id == "cluster_repeated":
        # the difference in means at month 4 is between clusters: df follow the 12 clusters
        assert by_name["diff_in_means:coaching:month4"]["df"] < 12


def test_cluster_trial_counts_clusters_in_consort_and_table1(tmp_path):
    # groups_ref.R: sites c01..c12 alternate control / coaching, 8 to 25 participants each
    spec, paths = run_stages(tmp_path, CELLS["cluster_repeated"])
    participants = pd.read_parquet(paths["participants"])
    sizes = participants.groupby(["arm", "site"]).size()
    consort = json.loads(paths["consort"].read_text())
    for arm in ("control", "coaching"):
        counted = consort["clusters"]["allocated"][arm]
        assert counted["n"] == 6
        assert counted["median"] == float(sizes[arm].median())
        assert (counted["min"], counted["max"]) == (sizes[arm].min(), sizes[arm].max())
        assert consort["allocated"][arm] == sizes[arm].sum()
    assert "delivery_groups" not in consort
    sets = pd.read_parquet(paths["sets"])
    scores = pd.read_parquet(paths["scores"])
    _, formatted = tables.table1(spec, participants, sets, scores)
    row = formatted[formatted["Characteristic"].str.startswith("Clusters (sites)")].iloc[0]
    coached = sizes["coaching"]
    assert row["coaching"] == f"6; {coached.median():g} ({coached.min()} to {coached.max()})"
    assert row["Overall"].startswith("12; ")
    assert "Clusters (sites): n; size median (range)" in report._consort_summary(consort)
    # the CONSORT diagram's allocation box
    line = f"in 6 clusters of {coached.min()}\u2013{coached.max()} participants"
    assert figures._unit_lines(consort, "coaching") == [(line, "normal", 0)]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t["analyses"]["mixed_model"].update(site="fixed"),
            "site: fixed is not available with design cluster_rct",
        ),
        (
            lambda t: t["analyses"]["mixed_model"].update(model="mmrm"),
            "mmrm is not available with design cluster_rct",
        ),
        (
            lambda t: t["analyses"]["mixed_model"].update(model="clda", covariance="ar1"),
            "clda with covariance is not available with design cluster_rct",
        ),
        (lambda t: t["data"].pop("site_column"), "design cluster_rct needs data.site_column"),
    ],
)
def test_cluster_config_refuses_models_without_the_site_intercept(tmp_path, edit, message):
    with pytest.raises(TrialInputError, match=message):
        _spec(tmp_path, _edited(CELLS["cluster_repeated"], edit))


def test_cluster_trial_with_a_site_in_two_arms_stops_the_run(tmp_path):
    cell = _edited(CELLS["cluster_repeated"], lambda t: None)
    participants = cell.files["participants.csv"]
    participants.loc[participants.index[participants["site"] == "c01"][0], "arm"] = "coaching"
    with pytest.raises(TrialInputError, match=r"site 'c01' has participants in 2 arms"):
        ingest.ingest(_spec(tmp_path, cell))


def test_fewer_than_two_groups_in_a_set_leave_the_group_term_out(tmp_path):
    # e.g. a per-protocol set keeping one coaching group: the model is fitted without the
    # group term, and its rows say so
    spec, paths = run_stages(tmp_path, CELLS["groups_ancova"])
    participants = pd.read_parquet(paths["participants"])
    members = participants[participants["delivery_group"].isin(["", "G01"])]
    scores = pd.read_parquet(paths["scores"])
    scores = scores[scores["participant_id"].isin(members["participant_id"])]
    effects, _, diagnostics = models.mixed_model_effects(
        scores,
        members,
        spec,
        spec["outcomes"][0],
        analysis_set="per_protocol",
        model="ancova",
        groups=True,
    )
    assert effects["estimate"].notna().all()
    assert effects["note"].str.contains("fewer than 2 delivery groups: no group").all()
    assert not effects["method"].str.contains("group").any()
    assert diagnostics["sd_group"].isna().all()


def test_a_declared_missing_code_in_the_group_column_means_not_grouped(tmp_path):
    def declare(trial):
        trial["data"]["participants"] = {"path": "participants.csv", "missing_codes": ["none"]}

    cell = _edited(CELLS["groups_site_fixed_age"], declare)  # groups.arms: [coaching]
    participants = cell.files["participants.csv"]
    participants.loc[participants["arm"] == "control", "group"] = "None"
    table, _ = ingest.ingest(_spec(tmp_path, cell))
    assert set(table.loc[table["arm"] == "control", "delivery_group"]) == {""}
