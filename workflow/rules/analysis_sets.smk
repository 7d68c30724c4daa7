rule analysis_sets:
    """Intention-to-treat, per-protocol and complete-case sets (per outcome, from the scores);
    CONSORT counts."""
    input:
        participants=rules.ingest.output.participants,
        responses=rules.ingest.output.responses,
        counts=rules.ingest.output.counts,
        scores=rules.score.output.scores,
        settings=settings_file("analysis_sets"),
        code="workflow/scripts/analysis_sets.py",
        library=library("analysis_sets"),
    output:
        sets=f"{RESULTS}/{{trial}}/interim/analysis_sets.parquet",
        consort=f"{RESULTS}/{{trial}}/consort.json",
    log:
        f"{RESULTS}/{{trial}}/logs/analysis_sets.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/analysis_sets.py"
