rule figure:
    """One figure, as PNG (300 dpi) and SVG."""
    input:
        unpack(figure_inputs),
        code="workflow/scripts/figure.py",
        library=library("figures"),
    output:
        png=report(
            f"{RESULTS}/{{trial}}/figures/{{figure}}.png",
            caption="../report/figure.rst",
            category="{trial}",
            subcategory="Figures",
        ),
        svg=f"{RESULTS}/{{trial}}/figures/{{figure}}.svg",
    log:
        f"{RESULTS}/{{trial}}/logs/figures/{{figure}}.log",
    conda:
        ENV
    params:
        trial=trial_spec,
        stem=lambda wildcards, output: output.png[: -len(".png")],
    script:
        "../scripts/figure.py"
