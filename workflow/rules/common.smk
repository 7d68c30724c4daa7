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

from trialeval.config import load_trials  # noqa: E402
from trialeval.ingest import check_inputs  # noqa: E402

SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"
validate(config, schema=SCHEMAS / "config.schema.yaml")
RESULTS = config["results_dir"]

TRIALS = load_trials(config, SCHEMAS)
for spec in TRIALS.values():
    check_inputs(spec)


wildcard_constraints:
    trial="|".join(TRIALS),


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
