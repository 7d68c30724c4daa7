"""Rule ingest: validate the raw exports and write the participants and items tables."""

from trialeval import ingest
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    ingest.run(
        snakemake.params.trial,
        participants_out=snakemake.output.participants,
        items_out=snakemake.output.responses,
    )
