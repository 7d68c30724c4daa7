"""Rule power_chunk: simulate and analyse one chunk of trials at one size."""

from trialeval import power
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    power.run_chunk(
        snakemake.params.plan,
        point=snakemake.wildcards.point,
        chunk=int(snakemake.wildcards.chunk),
        diagnostics_path=snakemake.input.get("diagnostics"),
        out=snakemake.output.sims,
    )
