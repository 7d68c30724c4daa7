"""Rules figures_<design>: every figure of one trial, as PNG and SVG, and notes.json saying
what each figure could not draw and why."""

from pathlib import Path

from trialeval import figures
from trialeval.io import log_to, write_json
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

STAGE_INPUTS = {
    k: v for k, v in snakemake.input.items() if k not in ("settings", "code", "library")
}

with log_to(snakemake.log[0]):
    notes = {
        kind: figures.run(
            SETTINGS["trial"],
            kind,
            inputs=STAGE_INPUTS,
            out_stem=str(Path(snakemake.params.figures_dir) / kind),
        )
        for kind in SETTINGS["kinds"]
    }
    write_json(notes, snakemake.output.notes)
