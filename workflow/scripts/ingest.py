"""Rule ingest: validate the raw exports and write the participants and items tables."""

import sys

from trialeval import ingest
from trialeval.errors import TrialInputError
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

try:
    with log_to(snakemake.log[0]):
        ingest.run(
            SETTINGS["trial"],
            participants_out=snakemake.output.participants,
            items_out=snakemake.output.responses,
            counts_out=snakemake.output.counts,
            labels_out=snakemake.output.covariate_labels,
        )
except TrialInputError as error:  # one line per problem, without a Python stack
    sys.exit(str(error))
