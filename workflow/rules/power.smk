# Power simulation for a planned trial (the `power` block of a trial file). Its own target,
# `snakemake --cores 4 power`, not part of `all`. Simulations are split into chunks per sample
# size so --cores spreads them; results do not depend on the split (seeds per simulated trial).


# The power package (trialeval/power/): simulation, the batched fits, chunks, summary, figure.
POWER_CODE = [
    f"power/{module}"
    for module in (
        "__init__",
        "simulation",
        "fast_fit",
        "chunks",
        "summary",
        "figure",
        "run",
    )
]


rule power_chunk:
    """One chunk of simulated trials at one size (point: n<total N>, or k<clusters per arm>
    for a cluster-randomized plan), each analysed with the pipeline's repeated-measures model
    (REML, Satterthwaite df; with the cluster random intercept for a cluster plan): one row
    per trial x outcome x intervention arm."""
    input:
        unpack(power_fit_inputs),
        settings=settings_file("power"),
        code="workflow/scripts/power_chunk.py",
        library=library(
            *POWER_CODE,
            "power_plan",
            "proportions",
            "cluster_reml",
            "mixed",
            "mixed_cells",
            "mixed_levels",
        ),
    output:
        sims=f"{RESULTS}/{{trial}}/parts/power/{{point}}.chunk{{chunk}}.csv",
    log:
        f"{RESULTS}/{{trial}}/logs/power/{{point}}.chunk{{chunk}}.log",
    benchmark:
        f"{RESULTS}/{{trial}}/benchmarks/power/{{point}}.chunk{{chunk}}.tsv"
    wildcard_constraints:
        point=r"[nk]\d+",
        chunk=r"\d+",
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=30,
    script:
        "../scripts/power_chunk.py"


rule power_summary:
    """Power per size (total N, or clusters per arm), arm and outcome with Monte Carlo 95% CI;
    the smallest size reaching the target power; the power-curve figure."""
    input:
        chunks=power_chunks,
        settings=settings_file("power"),
        code="workflow/scripts/power_summary.py",
        library=library(
            *POWER_CODE,
            "power_plan",
            "proportions",
            "cluster_reml",
            "mixed",
            "mixed_cells",
            "mixed_levels",
        ),
    output:
        power=f"{RESULTS}/{{trial}}/power.csv",
        summary=f"{RESULTS}/{{trial}}/power_summary.csv",
        png=report(
            f"{RESULTS}/{{trial}}/figures/power_curve.png",
            caption="../report/power.rst",
            category="{trial}",
            subcategory="Power",
        ),
        svg=f"{RESULTS}/{{trial}}/figures/power_curve.svg",
    log:
        f"{RESULTS}/{{trial}}/logs/power_summary.log",
    conda:
        ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        stem=lambda wildcards, output: output.png[: -len(".png")],
    script:
        "../scripts/power_summary.py"


rule power:
    """Target: power simulation of every trial with a `power` block."""
    input:
        expand(f"{RESULTS}/{{trial}}/power.csv", trial=POWER_TRIALS),
        expand(f"{RESULTS}/{{trial}}/power_summary.csv", trial=POWER_TRIALS),
        expand(
            f"{RESULTS}/{{trial}}/figures/power_curve.{{ext}}",
            trial=POWER_TRIALS,
            ext=("png", "svg"),
        ),
