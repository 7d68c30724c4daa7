"""Rule analysis_sets: ITT / per-protocol / complete-case flags and consort.json."""

from trialeval import analysis_sets
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

with log_to(snakemake.log[0]):
    analysis_sets.run(
        SETTINGS["trial"],
        participants_path=snakemake.input.participants,
        items_path=snakemake.input.responses,
        scores_path=snakemake.input.scores,
        counts_path=snakemake.input.counts,
        sets_out=snakemake.output.sets,
        consort_out=snakemake.output.consort,
    )
