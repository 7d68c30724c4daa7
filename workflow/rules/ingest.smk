rule ingest:
    """Read the participants file and every wave's export; normalise ids; validate answers."""
    input:
        unpack(raw_inputs),
        code="workflow/scripts/ingest.py",
        library=library("ingest", "exports"),
    output:
        participants=f"{RESULTS}/{{trial}}/interim/participants.parquet",
        responses=f"{RESULTS}/{{trial}}/interim/items.parquet",
    log:
        f"{RESULTS}/{{trial}}/logs/ingest.log",
    conda:
        ENV
    params:
        trial=trial_spec,
    script:
        "../scripts/ingest.py"
