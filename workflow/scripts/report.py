"""Rule report: results/report.html."""

from trialeval import report
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

with log_to(snakemake.log[0]):
    report.run(
        SETTINGS["trials"],
        results_dir=snakemake.params.results,
        provenance_path=snakemake.input.provenance,
        out=snakemake.output[0],
    )
