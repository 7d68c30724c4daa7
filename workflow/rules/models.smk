# One job per trial and analysis, fitting every outcome: a demo fit takes milliseconds and a
# job's start-up (Python, pandas, scipy) more than a second.
rule mixed_model:
    """Every score outcome's linear mixed model (REML, Satterthwaite df) on every analysis
    set."""
    input:
        unpack(analysis_inputs),
        code="workflow/scripts/mixed_model.py",
        library=library(
            "models",
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
    log:
        f"{RESULTS}/{{trial}}/logs/mixed_model.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/mixed_model.tsv"
    conda:
        ENV
    params:
        trial=trial_spec("mixed_model"),
        alpha=config["alpha"],
    script:
        "../scripts/mixed_model.py"


rule prepost:
    """Every outcome's pre/post analysis: change scores, Wilcoxon / Hodges-Lehmann, adjusted
    mean difference; risk ratios for categories (randomized trials: also risk differences
    and adjusted odds ratios)."""
    input:
        unpack(analysis_inputs),
        code="workflow/scripts/prepost.py",
        library=library("prepost", "proportions", "regression"),
    output:
        effects=f"{RESULTS}/{{trial}}/parts/prepost.effects.csv",
        summary=f"{RESULTS}/{{trial}}/parts/prepost.summary.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/prepost.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/prepost.tsv"
    conda:
        ENV
    params:
        trial=trial_spec("prepost"),
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
        effects=f"{RESULTS}/{{trial}}/parts/association.effects.csv",
        counts=f"{RESULTS}/{{trial}}/parts/association.counts.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/association.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/association.tsv"
    conda:
        ENV
    params:
        trial=trial_spec("association"),
        alpha=config["alpha"],
    script:
        "../scripts/association.py"
