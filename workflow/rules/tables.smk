rule table:
    """One manuscript table (CSV at full precision; Markdown, HTML and Word formatted)."""
    input:
        unpack(table_inputs),
        code="workflow/scripts/table.py",
        library=library("tables"),
    output:
        csv=f"{RESULTS}/{{trial}}/tables/{{table}}.csv",
        md=f"{RESULTS}/{{trial}}/tables/{{table}}.md",
        html=report(
            f"{RESULTS}/{{trial}}/tables/{{table}}.html",
            caption="../report/table.rst",
            category="{trial}",
            subcategory="Tables",
        ),
        docx=f"{RESULTS}/{{trial}}/tables/{{table}}.docx",
    log:
        f"{RESULTS}/{{trial}}/logs/tables/{{table}}.log",
    conda:
        ENV
    params:
        trial=trial_spec,
        stem=lambda wildcards, output: output.csv[: -len(".csv")],
    script:
        "../scripts/table.py"
