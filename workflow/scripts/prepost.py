"""Rule prepost: one outcome's pre/post analysis on every analysis set."""

from trialeval import prepost
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    prepost.run(
        snakemake.params.trial,
        snakemake.wildcards.outcome,
        scores_path=snakemake.input.scores,
        participants_path=snakemake.input.participants,
        sets_path=snakemake.input.sets,
        alpha=snakemake.params.alpha,
        effects_out=snakemake.output.effects,
        summary_out=snakemake.output.summary,
    )
