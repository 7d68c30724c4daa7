"""Rule evaluation: programme-evaluation surveys (per respondent group) and free text."""

from trialeval import evaluation
from trialeval.io import log_to
from trialeval.stage_config import read_settings

with log_to(snakemake.log[0]):
    evaluation.run(read_settings(snakemake.input.settings), results=snakemake.params.results)
