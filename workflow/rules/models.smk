# One job per trial and analysis, fitting every outcome: a demo fit takes milliseconds and a
# job's start-up (Python, pandas, scipy) more than a second.
rule mixed_model:
    """Every score outcome's linear mixed model (REML, Satterthwaite df) on every analysis
    set."""
    input:
        unpack(analysis_inputs),
        settings=settings_file("mixed_model"),
        code="workflow/scripts/mixed_model.py",
        library=library(
            "models",
            "model_n",
            "estimands",
            "models_mmrm",
            "mixed",
            "mixed_cells",
            "mixed_levels",
            "regression",
            "mmrm/__init__",
            "mmrm/covariance",
            "mmrm/fit",
            "mmrm/df",
        ),
    output:
        effects=f"{RESULTS}/{{trial}}/parts/mixed_model.effects.csv",
        means=f"{RESULTS}/{{trial}}/parts/mixed_model.means.csv",
        diagnostics=f"{RESULTS}/{{trial}}/parts/mixed_model.diagnostics.csv",
        model_n=f"{RESULTS}/{{trial}}/parts/mixed_model.model_n.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/mixed_model.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/mixed_model.tsv"
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/mixed_model.py"


rule prepost:
    """Every outcome's pre/post analysis: change scores, Wilcoxon / Hodges-Lehmann, adjusted
    mean difference; risk ratios for categories (randomized trials: also risk differences
    and adjusted odds ratios)."""
    input:
        unpack(analysis_inputs),
        settings=settings_file("prepost"),
        code="workflow/scripts/prepost.py",
        library=library("prepost", "model_n", "proportions", "estimands", "regression"),
    output:
        effects=f"{RESULTS}/{{trial}}/parts/prepost.effects.csv",
        summary=f"{RESULTS}/{{trial}}/parts/prepost.summary.csv",
        model_n=f"{RESULTS}/{{trial}}/parts/prepost.model_n.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/prepost.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/prepost.tsv"
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=20,
    script:
        "../scripts/prepost.py"


rule association:
    """Logistic regression of a binary outcome on each ordinal exposure (cross-sectional)."""
    input:
        unpack(analysis_inputs),
        settings=settings_file("association"),
        code="workflow/scripts/association.py",
        library=library("association", "model_n", "regression"),
    output:
        effects=f"{RESULTS}/{{trial}}/parts/association.effects.csv",
        counts=f"{RESULTS}/{{trial}}/parts/association.counts.csv",
        model_n=f"{RESULTS}/{{trial}}/parts/association.model_n.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/association.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/association.tsv"
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=20,
    script:
        "../scripts/association.py"


# One job per trial and named sensitivity analysis: its settings file holds that analysis
# alone (stage_config, stage sensitivity), so editing one re-runs only its job.
rule sensitivity:
    """Every outcome of one named sensitivity analysis (analyses.sensitivity): its own
    mixed-model options, analysis sets, covariates and estimand."""
    input:
        unpack(analysis_inputs),
        settings=f"{RESULTS}/{{trial}}/stage_config/sensitivity.{{name}}.json",
        code="workflow/scripts/sensitivity.py",
        library=library(
            "sensitivity",
            "model_n",
            "estimands",
            "models",
            "models_mmrm",
            "prepost",
            "proportions",
            "mixed",
            "mixed_cells",
            "mixed_levels",
            "regression",
            "mmrm/__init__",
            "mmrm/covariance",
            "mmrm/fit",
            "mmrm/df",
            "imputation/__init__",
            "imputation/engine",
            "imputation/rubin",
            "imputation/sensitivity",
        ),
    output:
        effects=f"{RESULTS}/{{trial}}/parts/sensitivity.{{name}}.effects.csv",
        means=f"{RESULTS}/{{trial}}/parts/sensitivity.{{name}}.means.csv",
        diagnostics=f"{RESULTS}/{{trial}}/parts/sensitivity.{{name}}.diagnostics.csv",
        model_n=f"{RESULTS}/{{trial}}/parts/sensitivity.{{name}}.model_n.csv",
        # every delta's pooled multiple-imputation rows (header only without imputation)
        imputation=f"{RESULTS}/{{trial}}/parts/sensitivity.{{name}}.imputation.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/sensitivity.{{name}}.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/sensitivity.{{name}}.tsv"
    wildcard_constraints:
        name="[A-Za-z][A-Za-z0-9_]*",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/sensitivity.py"
