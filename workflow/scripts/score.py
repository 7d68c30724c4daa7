"""Rule score: outcome scores and Cronbach's alpha."""

from trialeval import instruments
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    instruments.run(
        snakemake.params.trial,
        items_path=snakemake.input.responses,
        participants_path=snakemake.input.participants,
        scores_out=snakemake.output.scores,
        scores_csv_out=snakemake.output.scores_csv,
        reliability_out=snakemake.output.reliability,
    )
