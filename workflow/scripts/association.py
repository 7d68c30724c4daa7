"""Rule association: logistic regression of the binary outcome on each exposure."""

from trialeval import association
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    association.run(
        snakemake.params.trial,
        paths={name: snakemake.input[name] for name in ("scores", "participants", "sets")},
        alpha=snakemake.params.alpha,
        outputs={name: snakemake.output[name] for name in ("effects", "counts")},
    )
