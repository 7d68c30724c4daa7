"""Rule report: results/report.html."""

from trialeval import report
from trialeval.io import log_to

with log_to(snakemake.log[0]):
    report.run(
        snakemake.params.trials,
        results_dir=snakemake.params.results,
        provenance_path=snakemake.input.provenance,
        out=snakemake.output[0],
    )
