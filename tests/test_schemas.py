"""Schema validation with defaults (trialeval.schemas), which replaces snakemake.utils.validate
at DAG build for speed: the same filled-in defaults, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trialeval.schemas import ValidationError, validate

ROOT = Path(__file__).parents[1]
SCHEMAS = ROOT / "workflow" / "schemas"


def _trial(**extra):
    return {
        "title": "t",
        "design": "rct",
        "data": {"participants": "p.csv"},
        "timepoints": [{"id": "baseline", "file": "b.csv"}],
        "outcomes": [{"id": "o", "instrument": "mbi", "subscale": "ee"}],
        **extra,
    }


def test_defaults_are_filled_at_every_level_an_instance_reaches():
    trial = _trial()
    validate(trial, SCHEMAS / "trial.schema.yaml")
    assert trial["data"]["id_column"] == "participant_id"
    assert trial["timepoints"][0]["baseline"] is False  # inside a list's items
    assert trial["analyses"]["analysis_sets"] == ["itt", "per_protocol", "complete_case"]
    # the mixed-model block ($defs/mixed_model, shared with the sensitivity analyses) has no
    # defaults in the schema: trialeval.config applies them, after a sensitivity analysis's
    # keys are merged over the primary's
    assert trial["analyses"]["mixed_model"] == {}
    named = _trial(analyses={"estimand": {}, "sensitivity": [{"name": "s", "estimand": {}}]})
    validate(named, SCHEMAS / "trial.schema.yaml")  # through $refs to $defs
    assert named["analyses"]["estimand"]["intercurrent_events"] == []
    assert named["analyses"]["sensitivity"][0]["estimand"]["intercurrent_events"] == []
    assert "mixed_model" not in named["analyses"]["sensitivity"][0]


@pytest.mark.parametrize(
    ("files", "schema"),
    [
        ("config/trials/*.yaml", "trial.schema.yaml"),
        ("config/instruments.yaml", "instruments.schema.yaml"),
        ("config/config.yaml", "config.schema.yaml"),
    ],
)
def test_the_same_content_as_snakemakes_validate(files, schema):
    """Every config file of the demo comes out as snakemake.utils.validate leaves it."""
    from snakemake.utils import validate as snakemake_validate

    paths = sorted(ROOT.glob(files))
    assert paths
    for path in paths:
        ours, theirs = (yaml.safe_load(path.read_text()) for _ in range(2))
        validate(ours, SCHEMAS / schema)
        snakemake_validate(theirs, str(SCHEMAS / schema))
        assert ours == theirs, path


def test_defaults_are_copies_not_shared_between_files():
    """Schemas are read once per process: a default list edited in one trial must not reach
    the next."""
    first, second = _trial(), _trial()
    validate(first, SCHEMAS / "trial.schema.yaml")
    first["analyses"]["analysis_sets"].append("edited")
    validate(second, SCHEMAS / "trial.schema.yaml")
    assert second["analyses"]["analysis_sets"] == ["itt", "per_protocol", "complete_case"]


def test_an_invalid_value_names_its_key():
    trial = _trial(analyses={"mixed_model": {"model": "anova"}})
    with pytest.raises(ValidationError) as error:
        validate(trial, SCHEMAS / "trial.schema.yaml")
    assert list(error.value.absolute_path) == ["analyses", "mixed_model", "model"]
    assert "'anova' is not one of" in error.value.message


def test_a_bad_run_config_stops_the_dag_build_with_one_line():
    """`--config multiplicity=bonferroni`: one line naming the files, the key and the levels,
    no Python stack (trialeval.config.check_config at DAG build)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--config", "multiplicity=bonferroni"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    expected = (
        "config/config.yaml + --config: does not match config.schema.yaml: at multiplicity: "
        "'bonferroni' is not one of ['holm', 'fdr_bh', 'none']"
    )
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("k", "valid"), [(2, False), (3, True), (None, True)])
def test_disclosure_needs_a_minimum_cell_of_three(k, valid):
    """min_cell 2 would print "<2", which can only be 1: no count could be protected."""
    config = {"trials": ["t"], "disclosure": {"min_cell": k}}
    if valid:
        validate(config, SCHEMAS / "config.schema.yaml")
        return
    with pytest.raises(ValidationError) as error:
        validate(config, SCHEMAS / "config.schema.yaml")
    assert list(error.value.absolute_path) == ["disclosure", "min_cell"]
