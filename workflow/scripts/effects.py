"""Rule effects: stack every analysis into effects.csv and the model tables."""

from trialeval import effects
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

PARTS = ("mixed_model", "prepost", "association", "cohort", "sensitivity")

with log_to(snakemake.log[0]):
    effects.run(
        SETTINGS["trial"],
        parts={name: list(snakemake.input[name]) for name in PARTS},
        multiplicity=SETTINGS["multiplicity"],
        outputs=dict(snakemake.output.items()),
        paths={name: snakemake.input[name] for name in ("scores", "participants", "sets")},
    )
