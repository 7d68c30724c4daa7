"""Rule score: outcome scores and Cronbach's alpha."""

from trialeval import instruments
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

with log_to(snakemake.log[0]):
    instruments.run(
        SETTINGS["trial"],
        items_path=snakemake.input.responses,
        participants_path=snakemake.input.participants,
        scores_out=snakemake.output.scores,
        scores_csv_out=snakemake.output.scores_csv,
        reliability_out=snakemake.output.reliability,
    )
