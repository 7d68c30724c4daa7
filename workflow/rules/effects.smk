rule effects:
    """Stack every analysis into results/<trial>/effects.csv, with multiplicity-adjusted P."""
    input:
        unpack(analysis_parts),
        unpack(analysis_inputs),
        settings=settings_file("effects"),
        code="workflow/scripts/effects.py",
        library=library("estimands", "model_n"),
    output:
        effects=report(
            f"{RESULTS}/{{trial}}/effects.csv",
            caption="../report/effects.rst",
            category="{trial}",
            subcategory="Effects",
        ),
        model_n=f"{RESULTS}/{{trial}}/model_n.csv",
        means=f"{RESULTS}/{{trial}}/tables/adjusted_means.csv",
        diagnostics=f"{RESULTS}/{{trial}}/tables/model_diagnostics.csv",
        change_scores=f"{RESULTS}/{{trial}}/tables/prepost_summary.csv",
        association_counts=f"{RESULTS}/{{trial}}/tables/association_counts.csv",
        cohort_summary=f"{RESULTS}/{{trial}}/tables/cohort_summary.csv",
        sensitivity_means=f"{RESULTS}/{{trial}}/tables/sensitivity_means.csv",
        sensitivity_diagnostics=f"{RESULTS}/{{trial}}/tables/sensitivity_diagnostics.csv",
        estimands=f"{RESULTS}/{{trial}}/estimands.json",
    log:
        f"{RESULTS}/{{trial}}/logs/effects.log",
    conda:
        ENV
    script:
        "../scripts/effects.py"
