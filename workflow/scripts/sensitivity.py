"""Rule sensitivity: every outcome of one named sensitivity analysis."""

from trialeval import sensitivity
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)
SENSITIVITY_OUTPUTS = ("effects", "means", "diagnostics", "model_n", "imputation")

with log_to(snakemake.log[0]):
    sensitivity.run(
        SETTINGS["trial"],
        paths={name: snakemake.input[name] for name in ("scores", "participants", "sets")},
        alpha=SETTINGS["alpha"],
        outputs={name: snakemake.output[name] for name in SENSITIVITY_OUTPUTS},
    )
