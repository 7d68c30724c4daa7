# The ingest package: the validation and one reader per export format.
INGEST_CODE = [
    "exports",
    "estimands",
    "ingest/__init__",
    "ingest/sources",
    "ingest/answers",
    "ingest/validate",
    "ingest/csv_excel",
    "ingest/redcap",
    "ingest/qualtrics",
    "ingest/spss_stata",
]


rule ingest:
    """Read the participants file and every wave's export, whatever tool wrote them; normalise
    ids; validate answers; count what was left out (previews, forms not complete, missing
    codes)."""
    input:
        unpack(raw_inputs),
        settings=settings_file("ingest"),
        code="workflow/scripts/ingest.py",
        library=library(*INGEST_CODE),
    output:
        participants=f"{RESULTS}/{{trial}}/interim/participants.parquet",
        responses=f"{RESULTS}/{{trial}}/interim/items.parquet",
        counts=f"{RESULTS}/{{trial}}/interim/ingest_counts.json",
        covariate_labels=f"{RESULTS}/{{trial}}/interim/covariate_labels.json",
    log:
        f"{RESULTS}/{{trial}}/logs/ingest.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "../scripts/ingest.py"
