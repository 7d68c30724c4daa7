# Trial-evaluation pipeline: raw survey exports -> scores, analysis sets, effects.
# Which trials run and global options: config/config.yaml. One YAML per trial: config/trials/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/scoring.smk"
include: "workflow/rules/analysis_sets.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/effects.smk"


rule all:
    default_target: True
    input:
        expand(f"{RESULTS}/{{trial}}/scores.csv", trial=TRIALS),
        expand(f"{RESULTS}/{{trial}}/tables/reliability.csv", trial=TRIALS),
        expand(f"{RESULTS}/{{trial}}/consort.json", trial=TRIALS),
        expand(f"{RESULTS}/{{trial}}/effects.csv", trial=TRIALS),
