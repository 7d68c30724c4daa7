"""Rule power_chunk: simulate and analyse one chunk of trials at one size."""

from trialeval import power
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

with log_to(snakemake.log[0]):
    power.run_chunk(
        SETTINGS["plan"],
        point=snakemake.wildcards.point,
        chunk=int(snakemake.wildcards.chunk),
        diagnostics_path=snakemake.input.get("diagnostics"),
        out=snakemake.output.sims,
    )
