"""Each stage's view of a resolved trial spec (what its rule gets through params)."""

from __future__ import annotations

import copy

import pytest

from conftest import demo_spec
from trialeval.stage_config import STAGES, for_stage


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
        presenting = stage in {"tables", "figures", "report"}
        assert ("title" in view) == presenting, stage
        assert all(("label" in o) == presenting for o in view["outcomes"]), stage
        assert all(("label" in c) == presenting for c in view["covariates"]), stage
        assert all(("colour" in a) == presenting for a in view["arms"]), stage
        assert all(("source" in i) == presenting for i in view["instruments"].values()), stage


def test_arm_labels_reach_the_analyses_but_not_ingest(spec):
    """Analyses name arms in notes and consort.json; ingest and scoring do not."""
    assert all("label" not in a for a in for_stage(spec, "ingest")["arms"])
    assert all("label" not in t for t in for_stage(spec, "score")["timepoints"])
    labels = [a["label"] for a in for_stage(spec, "mixed_model")["arms"]]
    assert labels == ["Group coaching", "Control"]


def test_each_analysis_sees_its_blocks_of_analyses(spec):
    assert set(for_stage(spec, "mixed_model")["analyses"]) == {"analysis_sets", "mixed_model"}
    # a randomized trial's categories: logistic regression on the mixed model's covariates
    prepost = for_stage(spec, "prepost")["analyses"]
    assert set(prepost) == {"analysis_sets", "prepost", "mixed_model"}
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
