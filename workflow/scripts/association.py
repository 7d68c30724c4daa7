"""Rule association: logistic regression of the binary outcome on each exposure."""

from trialeval import association
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

with log_to(snakemake.log[0]):
    association.run(
        SETTINGS["trial"],
        paths={name: snakemake.input[name] for name in ("scores", "participants", "sets")},
        alpha=SETTINGS["alpha"],
        outputs={name: snakemake.output[name] for name in ("effects", "counts", "model_n")},
    )
