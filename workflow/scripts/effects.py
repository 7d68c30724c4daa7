"""Rule effects: stack every analysis into effects.csv and the model tables."""

from trialeval import effects
from trialeval.io import log_to

PARTS = ("mixed_model", "prepost", "association", "sensitivity")

with log_to(snakemake.log[0]):
    effects.run(
        snakemake.params.trial,
        parts={name: list(snakemake.input[name]) for name in PARTS},
        multiplicity=snakemake.params.multiplicity,
        outputs=dict(snakemake.output.items()),
        paths={name: snakemake.input[name] for name in ("scores", "participants", "sets")},
    )
