"""Rule mixed_model: every score outcome's linear mixed model on every analysis set."""

from trialeval import models
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    models.run(
        snakemake.params.trial,
        paths={name: snakemake.input[name] for name in ("scores", "participants", "sets")},
        alpha=snakemake.params.alpha,
        outputs={name: snakemake.output[name] for name in ("effects", "means", "diagnostics")},
    )
