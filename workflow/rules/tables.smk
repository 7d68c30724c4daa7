# One job per trial writes all of its design's tables: a table takes milliseconds, a job's
# start-up (Python, pandas, python-docx) about a second, so tables share a job.
for design in DESIGNS:
    kinds = report_items({"design": design})["tables"]

    rule:
        name:
            f"tables_{design}"
        input:
            unpack(partial(stage_inputs, names=inputs_of(TABLE_INPUTS, kinds))),
            settings=settings_file("tables"),
            code="workflow/scripts/tables.py",
            library=library("tables", "formatting", "estimands"),
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
            trial=trials_of(design),
        conda:
            ENV
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            tables_dir=lambda wildcards, output: str(Path(output[0]).parent),
        script:
            "../scripts/tables.py"
