"""Rules tables_<design>: every table of one trial, each in four formats."""

from pathlib import Path

from trialeval import tables
from trialeval.io import log_to
from trialeval.stage_config import read_settings

SETTINGS = read_settings(snakemake.input.settings)

STAGE_INPUTS = {
    k: v for k, v in snakemake.input.items() if k not in ("settings", "code", "library")
}

with log_to(snakemake.log[0]):
    for kind in SETTINGS["kinds"]:
        tables.run(
            SETTINGS["trial"],
            kind,
            inputs=STAGE_INPUTS,
            out_stem=str(Path(snakemake.params.tables_dir) / kind),
        )
