"""The demo trials whose raw data are survey tools' own exports (coaching_redcap: a REDCap
longitudinal raw export and its dictionary; mentorship_qualtrics: Qualtrics choice-text waves)
and belonging_survey's data as SPSS files (belonging_spss, written here with value labels and
user-missing codes) against the CSV trials whose simulated data they hold: the same tables,
the same effects, and what the tools' exports add (forms never completed, preview and test
responses, declined answers) counted and never scored."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml

from conftest import ROOT, SCHEMAS, demo_spec
from trialeval import ingest
from trialeval.config import load_trials
from trialeval.evaluation_config import SPEC_KEYS
from trialeval.simulate_exports import EXPORTED

# Spec keys that are about where and how the files are read, not about the analysis.
READING = {"id", "title", "config_file", "data_dir", "participants_file", "participants_source"}
READING |= {"id_column", "arm_column", "site_column", "withdrawal_column", "sheet"}
READING |= {"timepoints", "power", "registration"}
# The programme-evaluation surveys are not part of the analysis (mentorship_prepost has them,
# its Qualtrics copy does not): they never reach ingest, scores or effects.
READING |= set(SPEC_KEYS)


def _analysis_spec(spec: dict) -> dict:
    out = {k: v for k, v in spec.items() if k not in READING}
    out["timepoints"] = [
        {k: tp[k] for k in ("id", "label", "baseline")} for tp in spec["timepoints"]
    ]
    return out


# --- belonging_survey as SPSS files, configured in YAML only --------------------------------

SPSS_TRIAL, SPSS_SOURCE = "belonging_spss", "belonging_survey"
DECLINED, NOT_ASKED = 99.0, -9.0  # the .sav files' user-missing codes (a value, a range)


def _coded(column: pd.Series) -> tuple[pd.Series, dict]:
    """A text column as SPSS codes 1..k and their value labels (the texts, as in the CSV)."""
    labels = {float(k): v for k, v in enumerate(sorted(column.unique()), start=1)}
    return column.map({v: k for k, v in labels.items()}), labels


def write_spss_trial(root: Path) -> dict[str, int]:
    """belonging_survey's frame and responses as .sav files under root/data/raw/belonging_spss
    and its trial file as belonging_spss.yaml: training level and gender coded with value
    labels; every answer labelled as the registry labels it; of the CSV's empty answers, every
    third one the user-missing code 99 ("Prefer not to answer"), every third -9 (in the
    user-missing range -9 to -1, "Not asked"), the others system-missing. Returns the number
    of coded answers (counted as missing codes, never scored)."""
    source = ROOT / "data" / "raw" / SPSS_SOURCE
    folder = root / "data" / "raw" / SPSS_TRIAL
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(source / "surveyed.csv", dtype=str)
    labels = {}
    for name in ("level", "gender"):
        frame[name], labels[name] = _coded(frame[name])
    pyreadstat.write_sav(
        frame,
        folder / "surveyed.sav",
        variable_value_labels=labels,
        column_labels={"level": "Stage of training", "gender": "Gender identity"},
    )
    registry = yaml.safe_load((ROOT / "config" / "instruments.yaml").read_text())
    responses = pd.read_csv(source / "survey_responses.csv", dtype={"finished": str})
    items = ["mbi_8", "mbi_10", "belong_school", "belong_organization", "belong_community"]
    items.append("recommend")
    coded = 0
    for k, name in enumerate(items):
        empty = responses.index[responses[name].isna()]
        responses.loc[empty[k % 3 :: 3], name] = DECLINED
        responses.loc[empty[(k + 1) % 3 :: 3], name] = NOT_ASKED
        coded += len(empty[k % 3 :: 3]) + len(empty[(k + 1) % 3 :: 3])
    missing = {"Prefer not to answer": DECLINED, "Not asked": NOT_ASKED}
    answer_labels = {}
    for name in items:
        inst = "mbi" if name.startswith("mbi") else name.split("_")[0]
        levels = registry.get(inst, {}).get("levels") or {}
        answer_labels[name] = {float(c): v for c, v in levels.items()}
        answer_labels[name].update({code: label for label, code in missing.items()})
    pyreadstat.write_sav(
        responses,
        folder / "survey_responses.sav",
        variable_value_labels=answer_labels,
        missing_ranges={n: [DECLINED, {"lo": NOT_ASKED, "hi": -1.0}] for n in items},
    )
    trial = yaml.safe_load((ROOT / "config" / "trials" / f"{SPSS_SOURCE}.yaml").read_text())
    trial["title"] = "Sense of belonging and burnout, from SPSS files (synthetic demo)"
    trial["data"]["participants"] = "surveyed.sav"
    trial["timepoints"][0]["file"] = "survey_responses.sav"
    trials_dir = root / "config" / "trials"
    trials_dir.mkdir(parents=True, exist_ok=True)
    (trials_dir / f"{SPSS_TRIAL}.yaml").write_text(yaml.safe_dump(trial, sort_keys=False))
    return coded


def test_spss_files_read_to_the_source_trials_tables(tmp_path):
    """belonging_spss: no `format`, no codes in the YAML; the value labels give the levels
    and the user-missing codes are missing, counted, never scored."""
    coded = write_spss_trial(tmp_path)
    config = {
        "trials": [SPSS_TRIAL],
        "trials_dir": str(tmp_path / "config" / "trials"),
        "instruments": str(ROOT / "config" / "instruments.yaml"),
        "raw_dir": str(tmp_path / "data" / "raw"),
        "results_dir": "results",
    }
    spec = load_trials(config, SCHEMAS)[SPSS_TRIAL]
    source_spec = demo_spec(SPSS_SOURCE)
    assert _analysis_spec(spec) == _analysis_spec(source_spec)
    expected = ingest.ingest(source_spec)
    tally: dict = {}
    got = ingest.ingest(spec, tally)
    pd.testing.assert_frame_equal(got[0], expected[0])
    pd.testing.assert_frame_equal(got[1], expected[1])
    assert coded > 20 and tally["survey"]["missing_code_answers"] == coded


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
    1e-12; consort.json counts what the exports left out (about three minutes: `pytest -m
    slow tests/test_exported_demo.py`)."""
    for part in ["Snakefile", "profiles", "config", "workflow", "data"]:
        source = ROOT / part
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / part)
    coded = write_spss_trial(tmp_path)
    pairs = {**EXPORTED, SPSS_TRIAL: SPSS_SOURCE}
    trials = [*pairs, *pairs.values()]
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--config", f"trials={trials}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for trial, source in pairs.items():
        got = pd.read_csv(tmp_path / "results" / trial / "effects.csv").drop(columns="trial")
        want = pd.read_csv(tmp_path / "results" / source / "effects.csv").drop(columns="trial")
        assert list(got.columns) == list(want.columns) and len(got) == len(want)
        numbers = want.select_dtypes("number").columns
        pd.testing.assert_frame_equal(got.drop(columns=numbers), want.drop(columns=numbers))
        np.testing.assert_allclose(got[numbers], want[numbers], rtol=1e-12, atol=1e-12)
    left_out = {
        trial: json.loads((tmp_path / "results" / trial / "consort.json").read_text())[
            "excluded_at_ingest"
        ]
        for trial in pairs
    }
    assert left_out["coaching_redcap"]["month4"]["forms_not_complete"] == 8
    assert [left_out["mentorship_qualtrics"][t]["preview_responses"] for t in ("pre", "post")] == [
        2,
        1,
    ]
    assert left_out[SPSS_TRIAL]["survey"]["missing_code_answers"] == coded
