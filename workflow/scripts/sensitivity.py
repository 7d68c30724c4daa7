"""Rule sensitivity: every outcome of one named sensitivity analysis."""

from trialeval import sensitivity
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    sensitivity.run(
        snakemake.params.trial,
        paths={name: snakemake.input[name] for name in ("scores", "participants", "sets")},
        alpha=snakemake.params.alpha,
        outputs={name: snakemake.output[name] for name in ("effects", "means", "diagnostics")},
    )
