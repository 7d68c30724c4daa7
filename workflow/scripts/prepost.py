"""Rule prepost: every outcome's pre/post analysis on every analysis set."""

from trialeval import prepost
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

with log_to(snakemake.log[0]):
    prepost.run(
        SETTINGS["trial"],
        paths={name: snakemake.input[name] for name in ("scores", "participants", "sets")},
        alpha=SETTINGS["alpha"],
        outputs={name: snakemake.output[name] for name in ("effects", "summary", "model_n")},
    )
