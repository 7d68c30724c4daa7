"""The demo trials whose raw data are survey tools' own exports (coaching_redcap: a REDCap
longitudinal raw export and its dictionary; mentorship_qualtrics: Qualtrics choice-text waves)
against the CSV trials whose simulated data they hold: the same tables, the same effects, and
what the tools' exports add (forms never completed, preview and test responses, declined
answers) counted and never scored."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, demo_spec
from trialeval import ingest
from trialeval.simulate_exports import EXPORTED

# Spec keys that are about where and how the files are read, not about the analysis.
READING = {"id", "title", "config_file", "data_dir", "participants_file", "participants_source"}
READING |= {"id_column", "arm_column", "site_column", "withdrawal_column", "sheet"}
READING |= {"timepoints", "power", "registration"}


def _analysis_spec(spec: dict) -> dict:
    out = {k: v for k, v in spec.items() if k not in READING}
    out["timepoints"] = [
        {k: tp[k] for k in ("id", "label", "baseline")} for tp in spec["timepoints"]
    ]
    return out


@pytest.mark.parametrize("trial", EXPORTED)
def test_exported_trial_reads_to_its_source_tables(trial):
    source = EXPORTED[trial]
    spec, source_spec = demo_spec(trial), demo_spec(source)
    assert _analysis_spec(spec) == _analysis_spec(source_spec)
    expected = ingest.ingest(source_spec)
    tally: dict = {}
    got = ingest.ingest(spec, tally)
    pd.testing.assert_frame_equal(got[0], expected[0])  # participants
    pd.testing.assert_frame_equal(got[1], expected[1])  # items
    if trial == "coaching_redcap":  # 8 month-4 forms begun, never completed
        assert [tally[t]["forms_not_complete"] for t in ("baseline", "month4")] == [0, 8]
    else:  # previews and a test response per wave; declined answers as a missing code
        assert [tally[t]["preview_responses"] for t in ("pre", "post")] == [2, 1]
        assert [tally[t]["test_responses"] for t in ("pre", "post")] == [1, 0]
        assert all(tally[t]["missing_code_answers"] > 0 for t in ("pre", "post"))


@pytest.mark.slow
def test_exported_trials_give_the_source_trials_effects(tmp_path):
    """effects.csv through the whole pipeline: every column but `trial` equal, numbers to
    1e-12 (about two minutes: `pytest -m slow tests/test_exported_demo.py`)."""
    for part in ["Snakefile", "profiles", "config", "workflow", "data"]:
        source = ROOT / part
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / part)
    trials = [*EXPORTED, *EXPORTED.values()]
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--config", f"trials={trials}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for trial, source in EXPORTED.items():
        got = pd.read_csv(tmp_path / "results" / trial / "effects.csv").drop(columns="trial")
        want = pd.read_csv(tmp_path / "results" / source / "effects.csv").drop(columns="trial")
        assert list(got.columns) == list(want.columns) and len(got) == len(want)
        numbers = want.select_dtypes("number").columns
        pd.testing.assert_frame_equal(got.drop(columns=numbers), want.drop(columns=numbers))
        np.testing.assert_allclose(got[numbers], want[numbers], rtol=1e-12, atol=1e-12)
