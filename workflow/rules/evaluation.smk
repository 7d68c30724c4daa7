# Programme-evaluation surveys and free text (trials with `respondent_groups`): one job per
# trial reads each group's roster and responses, writes the items table and figure per group,
# the response rates, the coding sheet of the free-text answers and, with a coded sheet, the
# themes table. The private key of the response ids (interim/free_text_key.json) is not an
# output: Snakemake removes outputs before a job re-runs, and a new key would orphan the
# coded sheet.
include: "evaluation_common.smk"


# One rule per trial: each trial's groups give it its own set of output files.
for trial in EVALUATION_TRIALS:

    rule:
        name:
            f"evaluation_{trial}"
        input:
            raw=evaluation_files(TRIALS[trial]),
            settings=f"{RESULTS}/{trial}/stage_config/evaluation.json",
            code="workflow/scripts/evaluation.py",
            library=library(
                "evaluation",
                "evaluation_config",
                "evaluation_tables",
                "evaluation_figures",
                "disclosure",
                "free_text",
                "proportions",
                "tables",
                "figures",
                "formatting",
            ),
        output:
            evaluation_rule_outputs(trial),
        log:
            f"{RESULTS}/{trial}/logs/evaluation.log",
        conda:
            ENV
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            results=lambda wildcards, output: str(Path(output[0]).parents[1]),
        script:
            "../scripts/evaluation.py"
