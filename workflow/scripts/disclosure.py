"""Rule disclosure: the suppression plan of one trial's shared outputs."""

from trialeval import disclosure
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

STAGE_INPUTS = {
    k: v for k, v in snakemake.input.items() if k not in ("settings", "code", "library")
}

with log_to(snakemake.log[0]):
    spec = SETTINGS["trial"]
    counts = disclosure.trial_counts(spec, SETTINGS["kinds"], STAGE_INPUTS)
    disclosure.write_plan(counts, spec["disclosure"]["min_cell"], snakemake.output[0])
