# One job per trial writes all of its layout's tables (its design's, and
# the tipping point's with multiple imputation): a table takes milliseconds, a job's
# start-up (Python, pandas, python-docx) about a second, so tables share a job.
for layout, items in LAYOUTS.items():
    kinds = items["tables"] + items["supplementary_tables"]

    rule:
        name:
            f"tables_{layout}"
        input:
            unpack(partial(stage_inputs, names=inputs_of(TABLE_INPUTS, kinds))),
            unpack(disclosure_plan),
            settings=settings_file("tables"),
            code="workflow/scripts/tables.py",
            library=library(
                "tables",
                "formatting",
                "estimands",
                "disclosure",
                "cohort_tables",
                "labels",
            ),
        output:
            [
                (
                    report(
                        f"{RESULTS}/{{trial}}/tables/{kind}.{ext}",
                        caption=f"../report/tables/{kind}.rst",
                        category="{trial}",
                        subcategory="Tables",
                    )
                    if ext == "html"
                    else f"{RESULTS}/{{trial}}/tables/{kind}.{ext}"
                )
                for kind in kinds
                for ext in TABLE_FORMATS
            ],
        log:
            f"{RESULTS}/{{trial}}/logs/tables.log",
        wildcard_constraints:
            trial=trials_of_layout(layout),
        conda:
            ENV
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            tables_dir=lambda wildcards, output: str(Path(output[0]).parent),
        script:
            "../scripts/tables.py"
