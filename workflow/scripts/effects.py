"""Rule effects: stack every analysis into effects.csv and the model tables."""

from trialeval import effects
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    effects.run(
        snakemake.params.trial,
        parts={
            name: list(snakemake.input[name]) for name in ("mixed_model", "prepost", "association")
        },
        multiplicity=snakemake.params.multiplicity,
        outputs=dict(snakemake.output.items()),
    )
