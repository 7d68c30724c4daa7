"""Rule table: one manuscript table in four formats."""

from trialeval import tables
from trialeval.io import log_to

STAGE_INPUTS = {k: v for k, v in snakemake.input.items() if k not in ("code", "library")}

with log_to(snakemake.log[0]):
    tables.run(
        snakemake.params.trial,
        snakemake.wildcards.table,
        inputs=STAGE_INPUTS,
        out_stem=snakemake.params.stem,
    )
