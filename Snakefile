# Trial-evaluation pipeline: raw survey exports -> scores, analysis sets, effects, tables,
# figures and a report.
# Which trials run and global options: config/config.yaml. One YAML per trial: config/trials/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    trial="|".join(TRIALS),


include: "workflow/rules/ingest.smk"
include: "workflow/rules/scoring.smk"
include: "workflow/rules/analysis_sets.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/effects.smk"
include: "workflow/rules/disclosure.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/power.smk"


# Jobs that take well under a second of work beside their start-up run where Snakemake runs
# (with a cluster executor, on the submitting node) rather than waiting for the scheduler.
localrules:
    all,
    effects,
    provenance,
    report,
    power,


rule all:
    default_target: True
    input:
        expand(f"{RESULTS}/{{trial}}/scores.csv", trial=TRIALS),
        expand(f"{RESULTS}/{{trial}}/tables/reliability.csv", trial=TRIALS),
        expand(f"{RESULTS}/{{trial}}/consort.json", trial=TRIALS),
        expand(f"{RESULTS}/{{trial}}/effects.csv", trial=TRIALS),
        [path for trial in TRIALS for path in trial_outputs(trial)],
        f"{RESULTS}/report.html",
        f"{RESULTS}/provenance.json",
