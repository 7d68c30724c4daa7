"""Rule mixed_model: one outcome's linear mixed model on every analysis set."""

from trialeval import models
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    models.run(
        snakemake.params.trial,
        snakemake.wildcards.outcome,
        scores_path=snakemake.input.scores,
        participants_path=snakemake.input.participants,
        sets_path=snakemake.input.sets,
        alpha=snakemake.params.alpha,
        effects_out=snakemake.output.effects,
        means_out=snakemake.output.means,
        diagnostics_out=snakemake.output.diagnostics,
    )
