rule cohort:
    """Cohort comparison (design cohort_comparison): every outcome by cohort against the
    reference cohort, on every analysis set."""
    input:
        unpack(analysis_inputs),
        settings=settings_file("cohort"),
        code="workflow/scripts/cohort.py",
        library=library("cohort", "model_n", "proportions", "prepost", "regression"),
    output:
        effects=f"{RESULTS}/{{trial}}/parts/cohort.effects.csv",
        summary=f"{RESULTS}/{{trial}}/parts/cohort.summary.csv",
        model_n=f"{RESULTS}/{{trial}}/parts/cohort.model_n.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/cohort.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/cohort.tsv"
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=20,
    script:
        "../scripts/cohort.py"
