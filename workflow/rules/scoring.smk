rule score:
    """Score every outcome (reverse keys, missing-item rule, cut-offs); Cronbach's alpha."""
    input:
        responses=rules.ingest.output.responses,
        participants=rules.ingest.output.participants,
        settings=settings_file("score"),
        code="workflow/scripts/score.py",
        library=library("instruments"),
    output:
        scores=f"{RESULTS}/{{trial}}/interim/scores.parquet",
        scores_csv=f"{RESULTS}/{{trial}}/scores.csv",
        reliability=report(
            f"{RESULTS}/{{trial}}/tables/reliability.csv",
            caption="../report/reliability.rst",
            category="{trial}",
            subcategory="Reliability",
        ),
    log:
        f"{RESULTS}/{{trial}}/logs/score.log",
    conda:
        ENV
    script:
        "../scripts/score.py"
