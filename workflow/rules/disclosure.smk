# Disclosure control (config `disclosure: {min_cell: k}`): one job per trial chooses, from the
# counts of every shared count table, which to withhold; the tables, figures and report jobs
# read its plan, so a count is withheld alike everywhere. Absent when disclosure is off.
if DISCLOSURE is not None:

    rule disclosure:
        """results/<trial>/interim/disclosure.json: the trial's suppression plan."""
        input:
            unpack(disclosure_inputs),
            settings=settings_file("disclosure"),
            code="workflow/scripts/disclosure.py",
            library=library(
                "disclosure", "tables", "formatting", "estimands", "model_n", "labels"
            ),
        output:
            f"{RESULTS}/{{trial}}/interim/disclosure.json",
        log:
            f"{RESULTS}/{{trial}}/logs/disclosure.log",
        conda:
            ENV
        resources:
            mem_mb=1000,
            runtime=10,
        script:
            "../scripts/disclosure.py"
