"""Rule association: logistic regression of the binary outcome on each exposure."""

from trialeval import association
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    association.run(
        snakemake.params.trial,
        scores_path=snakemake.input.scores,
        participants_path=snakemake.input.participants,
        sets_path=snakemake.input.sets,
        alpha=snakemake.params.alpha,
        effects_out=snakemake.output.effects,
        counts_out=snakemake.output.counts,
    )
