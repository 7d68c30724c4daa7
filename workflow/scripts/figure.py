"""Rule figure: one figure as PNG and SVG."""

from trialeval import figures
from trialeval.io import log_to

STAGE_INPUTS = {k: v for k, v in snakemake.input.items() if k not in ("code", "library")}

with log_to(snakemake.log[0]):
    figures.run(
        snakemake.params.trial,
        snakemake.wildcards.figure,
        inputs=STAGE_INPUTS,
        out_stem=snakemake.params.stem,
    )
