"""Rule provenance: results/provenance.json."""

from trialeval import provenance
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

with log_to(snakemake.log[0]):
    provenance.run(
        inputs=[*snakemake.input.raw, *snakemake.input.config],
        repo=SETTINGS["repo"],
        truth_files=list(snakemake.input.truth),
        out=snakemake.output[0],
    )
