rule mixed_model:
    """One outcome's linear mixed model (REML, Satterthwaite df) on every analysis set."""
    input:
        unpack(analysis_inputs),
        code="workflow/scripts/mixed_model.py",
        library=library(
            "models",
            "models_mmrm",
            "mixed",
            "mixed_levels",
            "regression",
            "mmrm/__init__",
            "mmrm/covariance",
            "mmrm/fit",
            "mmrm/df",
        ),
    output:
        effects=f"{RESULTS}/{{trial}}/parts/mixed_model/{{outcome}}.effects.csv",
        means=f"{RESULTS}/{{trial}}/parts/mixed_model/{{outcome}}.means.csv",
        diagnostics=f"{RESULTS}/{{trial}}/parts/mixed_model/{{outcome}}.diagnostics.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/mixed_model/{{outcome}}.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/mixed_model/{{outcome}}.tsv"
    conda:
        ENV
    params:
        trial=trial_spec,
        alpha=config["alpha"],
    script:
        "../scripts/mixed_model.py"


rule prepost:
    """One outcome's pre/post analysis: change scores, Wilcoxon / Hodges-Lehmann, adjusted
    mean difference; risk ratios for categories."""
    input:
        unpack(analysis_inputs),
        code="workflow/scripts/prepost.py",
        library=library("prepost", "regression"),
    output:
        effects=f"{RESULTS}/{{trial}}/parts/prepost/{{outcome}}.effects.csv",
        summary=f"{RESULTS}/{{trial}}/parts/prepost/{{outcome}}.summary.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/prepost/{{outcome}}.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/prepost/{{outcome}}.tsv"
    conda:
        ENV
    params:
        trial=trial_spec,
        alpha=config["alpha"],
    script:
        "../scripts/prepost.py"


rule association:
    """Logistic regression of a binary outcome on each ordinal exposure (cross-sectional)."""
    input:
        unpack(analysis_inputs),
        code="workflow/scripts/association.py",
        library=library("association", "regression"),
    output:
        effects=f"{RESULTS}/{{trial}}/parts/association/effects.csv",
        counts=f"{RESULTS}/{{trial}}/parts/association/counts.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/association.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/association.tsv"
    conda:
        ENV
    params:
        trial=trial_spec,
        alpha=config["alpha"],
    script:
        "../scripts/association.py"
