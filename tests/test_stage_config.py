"""Each stage's view of a resolved trial spec and the settings file its rule reads."""

from __future__ import annotations

import copy

import pytest

from conftest import demo_spec
from trialeval.stage_config import (
    STAGES,
    for_stage,
    read_settings,
    stage_settings,
    write_settings,
)


@pytest.fixture(scope="module")
def spec():
    return demo_spec("coaching_rct")


def test_only_the_power_rules_see_the_power_block(spec):
    assert spec["power"]
    for stage in STAGES:
        assert "power" not in for_stage(spec, stage), stage


def test_presentation_fields_reach_only_tables_figures_and_report(spec):
    for stage in STAGES:
        view = for_stage(spec, stage)
        # the disclosure job builds Table 1 as the tables job does: labels, not the title
        presenting = stage in {"tables", "figures", "report", "disclosure"}
        assert ("title" in view) == (stage in {"tables", "figures", "report"}), stage
        assert all(("label" in o) == presenting for o in view["outcomes"]), stage
        assert all(("label" in c) == presenting for c in view["covariates"]), stage
        assert all(("colour" in a) == presenting for a in view["arms"]), stage
        assert all(("source" in i) == presenting for i in view["instruments"].values()), stage


def test_disclosure_control_reaches_only_the_jobs_printing_counts(spec):
    """config `disclosure` (added to every spec by load_trials): a new k re-runs the tables,
    figures, report and the plan, never a model."""
    assert spec["disclosure"] == {"min_cell": None}
    for stage in STAGES:
        seen = "disclosure" in for_stage(spec, stage)
        assert seen == (stage in {"tables", "figures", "report", "disclosure"}), stage


def test_arm_labels_reach_the_analyses_but_not_ingest(spec):
    """Analyses name arms in notes and consort.json; ingest and scoring do not."""
    assert all("label" not in a for a in for_stage(spec, "ingest")["arms"])
    assert all("label" not in t for t in for_stage(spec, "score")["timepoints"])
    labels = [a["label"] for a in for_stage(spec, "mixed_model")["arms"]]
    assert labels == ["Group coaching", "Control"]


def test_each_analysis_sees_its_blocks_of_analyses(spec):
    primary = {"analysis_sets", "mixed_model", "estimand"}
    assert set(for_stage(spec, "mixed_model")["analyses"]) == primary
    # a randomized trial's categories: logistic regression on the mixed model's covariates
    prepost = for_stage(spec, "prepost")["analyses"]
    assert set(prepost) == {"analysis_sets", "prepost", "estimand", "mixed_model"}
    assert set(prepost["mixed_model"]) == {"covariates", "site"}
    assert set(for_stage(spec, "association")["analyses"]) == {"analysis_sets", "association"}
    assert for_stage(spec, "ingest")["analyses"] == {}
    assert for_stage(spec, "tables")["analyses"] == spec["analyses"]


def test_views_leave_the_spec_unchanged(spec):
    before = copy.deepcopy(spec)
    for stage in STAGES:
        for_stage(spec, stage)
    assert spec == before


def test_an_unknown_stage_is_refused(spec):
    with pytest.raises(ValueError, match="unknown stage 'models'"):
        for_stage(spec, "models")


def test_stages_of_a_grouped_trial_see_the_group_and_site_terms(spec):
    grouped = {**spec, "group_column": "coach_group"}
    grouped["analyses"] = {
        **spec["analyses"],
        "mixed_model": {**spec["analyses"]["mixed_model"], "groups": {"arms": ["coaching"]}},
    }
    delivery = {"groups": {"arms": ["coaching"]}, "site": "random"}
    for stage in ("ingest", "analysis_sets", "prepost"):
        expected = delivery
        if stage == "prepost":
            expected = {**delivery, "covariates": spec["analyses"]["mixed_model"]["covariates"]}
        assert for_stage(grouped, stage)["analyses"]["mixed_model"] == expected, stage
    assert for_stage(spec, "analysis_sets")["analyses"] == {
        "analysis_sets": ["itt", "per_protocol", "complete_case"]
    }


def _with_sensitivity(spec):
    named = {
        "name": "hypo",
        "label": "Hypothetical",
        "outcomes": ["wellbeing"],
        "analysis_sets": ["itt"],
        "mixed_model": {**spec["analyses"]["mixed_model"], "site": "fixed"},
        "covariates": [],
        "estimand": {
            "population": "p",
            "variable": "v",
            "summary": "s",
            "intercurrent_events": [
                {"event": "stopped", "column": "stop", "strategy": "hypothetical"}
            ],
        },
    }
    other = {**copy.deepcopy(named), "name": "other", "label": "Other"}
    return {
        **spec,
        "analyses": {**spec["analyses"], "sensitivity": [named, other]},
        "intercurrent_columns": ["stop"],
    }


def test_a_sensitivity_job_sees_its_analysis_alone_shaped_as_the_primary(spec):
    spec = _with_sensitivity(spec)
    view = for_stage(spec, "sensitivity", analysis="hypo")
    assert set(view["analyses"]) == {
        "analysis_sets",
        "mixed_model",
        "prepost",
        "estimand",
        "analysis",
    }
    assert view["analyses"]["mixed_model"]["site"] == "fixed"
    assert view["analyses"]["analysis"] == {
        "name": "hypo",
        "label": "Hypothetical",
        "outcomes": ["wellbeing"],
        "covariates": [],
    }
    assert "intercurrent_columns" not in view and "power" not in view
    # the rest is the mixed-model job's view
    mixed = for_stage(spec, "mixed_model")
    assert {k: v for k, v in view.items() if k != "analyses"} == {
        k: v for k, v in mixed.items() if k != "analyses"
    }


def test_editing_one_sensitivity_analysis_changes_only_its_view(spec):
    """Snakemake re-runs a job when its settings file changes: an edit of one named analysis
    must leave the primary's and the other named analysis's views as they were."""
    before = _with_sensitivity(spec)
    after = copy.deepcopy(before)
    after["analyses"]["sensitivity"][0]["estimand"]["intercurrent_events"][0]["strategy"] = (
        "while_on_treatment"
    )
    after["analyses"]["sensitivity"][0]["mixed_model"]["model"] = "ancova"
    for stage in ("mixed_model", "prepost", "analysis_sets", "ingest", "score"):
        assert for_stage(before, stage) == for_stage(after, stage), stage
    assert for_stage(before, "sensitivity", analysis="other") == for_stage(
        after, "sensitivity", analysis="other"
    )
    assert for_stage(before, "sensitivity", analysis="hypo") != for_stage(
        after, "sensitivity", analysis="hypo"
    )
    # nor does any sensitivity analysis reach the primary jobs
    assert "sensitivity" not in for_stage(before, "mixed_model")["analyses"]


def test_a_sensitivity_jobs_settings_carry_alpha(spec):
    settings = stage_settings(
        _with_sensitivity(spec), "sensitivity", {"alpha": 0.01}, analysis="hypo"
    )
    assert settings["alpha"] == 0.01
    assert settings["trial"]["analyses"]["analysis"]["name"] == "hypo"


def test_an_unknown_sensitivity_analysis_is_refused(spec):
    with pytest.raises(ValueError, match="no sensitivity analysis 'nope'"):
        for_stage(_with_sensitivity(spec), "sensitivity", analysis="nope")


def test_settings_carry_the_view_and_only_the_options_a_stage_reads(spec):
    options = {"alpha": 0.05, "multiplicity": "holm"}
    assert stage_settings(spec, "mixed_model", options) == {
        "trial": for_stage(spec, "mixed_model"),
        "alpha": 0.05,
    }
    assert set(stage_settings(spec, "effects", options)) == {"trial", "multiplicity"}
    assert set(stage_settings(spec, "score", options)) == {"trial"}
    tables = stage_settings(spec, "tables", options, kinds=("table1", "effects_table"))
    assert tables["kinds"] == ["table1", "effects_table"]


def test_a_settings_file_is_rewritten_only_when_its_content_changes(tmp_path, spec):
    """Snakemake compares the file's modification time with the outputs': an unchanged
    rewrite would re-run the stage on every call."""
    path = tmp_path / "stage_config" / "mixed_model.json"
    settings = stage_settings(spec, "mixed_model", {"alpha": 0.05})
    assert write_settings(settings, path)
    assert read_settings(path) == settings
    assert list(read_settings(path)["trial"]["instruments"]) == list(spec["instruments"])
    assert not write_settings(copy.deepcopy(settings), path)
    settings["alpha"] = 0.01
    assert write_settings(settings, path)
    assert read_settings(path)["alpha"] == 0.01
    assert [p.name for p in path.parent.iterdir()] == ["mixed_model.json"]  # no temp file left


def test_settings_that_json_would_change_are_refused(tmp_path):
    with pytest.raises(ValueError, match="do not survive JSON"):
        write_settings({"trial": {"visits": ("baseline", "month4")}}, tmp_path / "x.json")
    with pytest.raises(ValueError, match="do not survive JSON"):
        write_settings({"trial": {1: "a"}}, tmp_path / "y.json")
    assert not list(tmp_path.iterdir())
