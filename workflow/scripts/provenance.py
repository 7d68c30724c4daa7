"""Rule provenance: results/provenance.json."""

from trialeval import provenance
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    provenance.run(
        inputs=[*snakemake.input.raw, *snakemake.input.config],
        repo=snakemake.params.repo,
        truth_files=list(snakemake.input.truth),
        out=snakemake.output[0],
    )
