"""Rule power_summary: power table, smallest sample size per arm and outcome, power curve."""

from trialeval import power
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

with log_to(snakemake.log[0]):
    power.run_summary(
        SETTINGS["plan"],
        snakemake.wildcards.trial,
        chunk_paths=list(snakemake.input.chunks),
        power_out=snakemake.output.power,
        summary_out=snakemake.output.summary,
        figure_stem=snakemake.params.stem,
    )
