# One job per trial draws all of its layout's figures (its design's, and the
# tipping point's with multiple imputation) (matplotlib's import alone costs about
# half a second per job).
for layout, items in LAYOUTS.items():
    kinds = items["figures"]

    rule:
        name:
            f"figures_{layout}"
        input:
            unpack(partial(stage_inputs, names=inputs_of(FIGURE_INPUTS, kinds))),
            unpack(disclosure_plan),
            settings=settings_file("figures"),
            code="workflow/scripts/figures.py",
            library=library(
                "figures",
                "formatting",
                "disclosure",
                "cohort_tables",
                "cohort_flow",
                "labels",
                "model_n",
            ),
        output:
            [
                (
                    report(
                        f"{RESULTS}/{{trial}}/figures/{kind}.{ext}",
                        caption=f"../report/figures/{kind}.rst",
                        category="{trial}",
                        subcategory="Figures",
                    )
                    if ext == "png"
                    else f"{RESULTS}/{{trial}}/figures/{kind}.{ext}"
                )
                for kind in kinds
                for ext in FIGURE_FORMATS
            ],
            notes=f"{RESULTS}/{{trial}}/figures/notes.json",
        log:
            f"{RESULTS}/{{trial}}/logs/figures.log",
        wildcard_constraints:
            trial=trials_of_layout(layout),
        conda:
            ENV
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            figures_dir=lambda wildcards, output: str(Path(output[0]).parent),
        script:
            "../scripts/figures.py"
