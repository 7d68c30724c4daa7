# Shared set-up: validate the configuration, resolve each trial, cross-check the raw data.
# All of this runs when the DAG is built, so a bad config or export stops the run before any
# job starts, with a message naming the file and the key or column.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

# The importable library lives in workflow/: importable here and, through PYTHONPATH, in every
# job's script (also in a per-rule conda env), with or without `pip install -e .`.
LIBRARY_DIR = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, LIBRARY_DIR)
os.environ.update(PYTHONPATH=LIBRARY_DIR)
ENV = "../envs/trialeval.yaml"
# Floor modules every stage stands on; `library(...)` adds a stage's own modules.
FLOOR = ("__init__", "errors", "config", "io", "design", "effects")


def library(*modules):
    """Library source files a rule's script runs, declared as inputs: a code change re-runs
    exactly the jobs it affects."""
    return [f"workflow/trialeval/{m}.py" for m in (*FLOOR, *modules)]


from trialeval.config import load_trials, outcome_analyses  # noqa: E402
from trialeval.ingest import check_inputs  # noqa: E402

SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"
validate(config, schema=SCHEMAS / "config.schema.yaml")
RESULTS = config["results_dir"]

TRIALS = load_trials(config, SCHEMAS)
for spec in TRIALS.values():
    check_inputs(spec)


wildcard_constraints:
    trial="|".join(TRIALS),
    outcome="[A-Za-z][A-Za-z0-9_]*",


def trial_spec(wildcards):
    """The resolved trial spec, passed to scripts through params (a change re-runs them)."""
    return TRIALS[wildcards.trial]


def raw_inputs(wildcards):
    """Every raw file and config file a trial's ingest reads."""
    spec = TRIALS[wildcards.trial]
    return {
        "participants": spec["participants_file"],
        "waves": [tp["file"] for tp in spec["timepoints"]],
        "trial_config": spec["config_file"],
        "instruments": config["instruments"],
    }


def analysis_inputs(wildcards):
    """Inputs of every analysis rule: scores, participants and analysis-set flags."""
    trial = f"{RESULTS}/{wildcards.trial}"
    return {
        "scores": f"{trial}/interim/scores.parquet",
        "participants": f"{trial}/interim/participants.parquet",
        "sets": f"{trial}/interim/analysis_sets.parquet",
    }


def analysis_parts(wildcards):
    """Every per-outcome (and per-trial) analysis output of a trial, by the design's plan."""
    spec = TRIALS[wildcards.trial]
    parts = f"{RESULTS}/{wildcards.trial}/parts"
    plan = outcome_analyses(spec)
    files = {
        "mixed_model": [
            f"{parts}/mixed_model/{o}.{kind}.csv"
            for o in plan["mixed_model"]
            for kind in ("effects", "means", "diagnostics")
        ],
        "prepost": [
            f"{parts}/prepost/{o}.{kind}.csv"
            for o in plan["prepost"]
            for kind in ("effects", "summary")
        ],
        "association": [],
    }
    if spec["analyses"]["association"]:
        files["association"] = [
            f"{parts}/association/effects.csv",
            f"{parts}/association/counts.csv",
        ]
    return files
