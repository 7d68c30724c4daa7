"""Rules figures_<design>: every figure of one trial, as PNG and SVG."""

from pathlib import Path

from trialeval import figures
from trialeval.io import log_to

STAGE_INPUTS = {k: v for k, v in snakemake.input.items() if k not in ("code", "library")}

with log_to(snakemake.log[0]):
    for kind in snakemake.params.kinds:
        figures.run(
            snakemake.params.trial,
            kind,
            inputs=STAGE_INPUTS,
            out_stem=str(Path(snakemake.params.figures_dir) / kind),
        )
