"""Rule prepost: every outcome's pre/post analysis on every analysis set."""

from trialeval import prepost
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    prepost.run(
        snakemake.params.trial,
        paths={name: snakemake.input[name] for name in ("scores", "participants", "sets")},
        alpha=snakemake.params.alpha,
        outputs={name: snakemake.output[name] for name in ("effects", "summary")},
    )
