rule provenance:
    """Checksums of every raw input and config file, code version, packages, time of run."""
    input:
        unpack(provenance_inputs),
        settings=f"{RESULTS}/stage_config/provenance.json",
        code="workflow/scripts/provenance.py",
        library=library("provenance"),
    output:
        f"{RESULTS}/provenance.json",
    log:
        f"{RESULTS}/logs/provenance.log",
    conda:
        ENV
    script:
        "../scripts/provenance.py"


rule report:
    """results/report.html: one self-contained page with a section per trial."""
    input:
        provenance=rules.provenance.output[0],
        trials=[path for trial in TRIALS for path in trial_outputs(trial)],
        consort=expand(f"{RESULTS}/{{trial}}/consort.json", trial=TRIALS),
        estimands=expand(f"{RESULTS}/{{trial}}/estimands.json", trial=TRIALS),
        diagnostics=expand(
            f"{RESULTS}/{{trial}}/tables/model_diagnostics.csv", trial=TRIALS
        ),
        disclosure=(
            expand(f"{RESULTS}/{{trial}}/interim/disclosure.json", trial=TRIALS)
            if DISCLOSURE is not None
            else []
        ),
        settings=f"{RESULTS}/stage_config/report.json",
        code="workflow/scripts/report.py",
        library=library("report", "estimands", "disclosure"),
    output:
        f"{RESULTS}/report.html",
    log:
        f"{RESULTS}/logs/report.log",
    conda:
        ENV
    params:
        results=lambda wildcards, output: str(Path(output[0]).parent),
    script:
        "../scripts/report.py"
