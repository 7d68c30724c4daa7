"""Ingest: id normalisation, withdrawals, and one test per bad input (message + no output)."""

from __future__ import annotations

import pandas as pd
import pytest

from trialeval import ingest
from trialeval.errors import TrialInputError
from trialeval.ingest import check_inputs, normalise_ids


def test_normalise_ids():
    got = normalise_ids(pd.Series([" cr-0001", "CR-0001 ", "cr 0001", "Cr-0002"]))
    assert got.tolist() == ["CR-0001", "CR-0001", "CR0001", "CR-0002"]


def test_ingest_tiny_trial(tiny):
    spec = tiny.spec()
    participants, items = ingest.ingest(spec)
    assert participants["participant_id"].tolist() == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert participants["withdrawn"].tolist() == [False, False, True, False, False, False]
    # P3 withdrew consent: the t0 response is not carried forward; messy ids at t1 matched
    assert sorted(zip(items["participant_id"], items["timepoint"], strict=True)) == [
        ("P1", "t0"),
        ("P2", "t0"),
        ("P2", "t1"),
        ("P4", "t0"),
        ("P5", "t0"),
        ("P5", "t1"),
    ]
    assert items.loc[0, "scs_1"] == 1 + (0 + 0 + 1) % 5  # P1, wave0 value from the fixture


def test_excel_export_is_read(tiny):
    tiny.trial["timepoints"][1]["file"] = "wave1.xlsx"
    tiny.write()
    tiny.waves["wave1.csv"].to_excel(tiny.data_dir / "wave1.xlsx", index=False)
    _, items = ingest.ingest(tiny.spec())
    assert (items["timepoint"] == "t1").sum() == 2


def run_to(tmp_path, spec):
    outputs = [tmp_path / "out" / "participants.parquet", tmp_path / "out" / "items.parquet"]
    with pytest.raises(TrialInputError) as info:
        ingest.run(spec, *map(str, outputs))
    assert not any(p.exists() for p in outputs), "a failed ingest must write nothing"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    return str(info.value)


def test_duplicate_participant_id(tiny, tmp_path):
    tiny.participants.loc[4, "pid"] = " p1"
    message = run_to(tmp_path, tiny.spec())
    assert "participants.csv" in message
    assert "participant id 'P1' appears 2 times (rows 2, 6)" in message
    # P5's row now holds P1, so P5's answers are reported too (every problem, not the first)
    assert "wave0.csv: row 6, column 'pid': participant id 'P5' is not enrolled" in message


def test_export_id_not_enrolled(tiny, tmp_path):
    tiny.waves["wave1.csv"].loc[1, "pid"] = "P99"
    message = run_to(tmp_path, tiny.spec())
    assert "wave1.csv: row 3, column 'pid': participant id 'P99' is not enrolled" in message


def test_arm_not_in_config(tiny, tmp_path):
    tiny.participants.loc[2, "arm"] = "coaching"
    with pytest.raises(TrialInputError) as info:
        check_inputs(tiny.spec())
    message = str(info.value)
    assert "participants.csv: row 4, column 'arm' (participant P3): arm 'coaching'" in message
    assert "expected one of peer, ctl" in message


def test_timepoint_file_missing(tiny, tmp_path):
    spec = tiny.spec()
    (tiny.data_dir / "wave1.csv").unlink()
    with pytest.raises(TrialInputError, match=r"wave1.csv: export for timepoint 't1' not found"):
        check_inputs(spec)
    assert "export for timepoint 't1' not found" in run_to(tmp_path, spec)


def test_item_column_missing(tiny, tmp_path):
    tiny.waves["wave0.csv"] = tiny.waves["wave0.csv"].drop(columns=["fs_3"])
    spec = tiny.spec()
    with pytest.raises(TrialInputError) as info:
        check_inputs(spec)
    assert "wave0.csv: item columns missing for timepoint 't0': fs_3" in str(info.value)
    assert "fs_3" in run_to(tmp_path, spec)


def test_out_of_range_answer(tiny, tmp_path):
    tiny.waves["wave1.csv"].loc[1, "scs_4"] = 7
    message = run_to(tmp_path, tiny.spec())
    assert "wave1.csv: row 3, column 'scs_4' (participant P5, timepoint 't1'): '7'" in message
    assert "'7' is out of range; expected a whole number from 1 to 5 (scs_sf answers)" in message


def test_non_numeric_answer(tiny, tmp_path):
    tiny.waves["wave0.csv"]["fs_2"] = tiny.waves["wave0.csv"]["fs_2"].astype(object)
    tiny.waves["wave0.csv"].loc[0, "fs_2"] = "often"
    message = run_to(tmp_path, tiny.spec())
    # the Flourishing Scale has answer labels (config/instruments.yaml): 'often' is not one
    assert (
        "wave0.csv: row 2, column 'fs_2' (participant P1, timepoint 't0'): 'often' is not a "
        "number, nor one of the answer labels; expected a whole number from 1 to 7 or one of "
        "'Strongly disagree', 'Disagree'," in message
    )
    assert "`missing_codes`" in message


def test_duplicate_response_in_a_wave(tiny, tmp_path):
    tiny.waves["wave1.csv"].loc[1, "pid"] = "P2"
    assert "answered timepoint 't1' more than once (rows 2, 3)" in run_to(tmp_path, tiny.spec())


def test_site_not_listed(tiny):
    tiny.participants.loc[0, "site"] = "s9"
    with pytest.raises(TrialInputError, match=r"site 's9' is not listed in `sites`"):
        check_inputs(tiny.spec())


def test_bad_withdrawal_flag(tiny):
    tiny.participants.loc[0, "withdrew"] = "maybe"
    with pytest.raises(
        TrialInputError, match=r"row 2, column 'withdrew' \(participant P1\): 'maybe'"
    ):
        check_inputs(tiny.spec())


def test_excel_and_csv_exports_read_alike(tiny):
    """An .xlsx written from a CSV reads to the same text, with the same row numbers."""
    from conftest import ROOT
    from trialeval.exports import read_export

    wave = tiny.waves["wave0.csv"]
    wave.to_csv(tiny.data_dir / "wave0.csv", index=False)
    wave.to_excel(tiny.data_dir / "wave0.xlsx", index=False)
    csv, xlsx = (read_export(tiny.data_dir / f"wave0.{ext}") for ext in ("csv", "xlsx"))
    pd.testing.assert_frame_equal(csv, xlsx)
    assert csv.index.tolist() == [2, 3, 4, 5, 6]
    demo = read_export(ROOT / "data/raw/coaching_rct/survey_month4.xlsx")
    assert len(demo) == 285 and demo.index[0] == 2


def test_check_at_dag_build_lists_every_trial_and_skips_unchanged_inputs(tmp_path):
    """The DAG-build check reports the problems of all trials at once; a passed check is
    stamped and not repeated until an input (here a file's modification time) changes."""
    import os

    from conftest import TinyTrial
    from trialeval.checks import check_trials

    first, second = TinyTrial(tmp_path / "a"), TinyTrial(tmp_path / "b")
    specs = {"a": first.spec(), "b": second.spec()}
    stamps = tmp_path / "stamps"
    check_trials(specs, stamps)
    assert sorted(p.name for p in stamps.iterdir()) == ["a.inputs-checked", "b.inputs-checked"]

    wave = first.data_dir / "wave1.csv"
    seen = os.stat(wave)
    wave.write_bytes(wave.read_bytes().replace(b"p2 ,5", b"p2 ,9"))  # same size
    os.utime(wave, ns=(seen.st_atime_ns, seen.st_mtime_ns))
    check_trials(specs, stamps)  # stamped: not read again

    os.utime(wave)  # a new modification time: read again
    (second.data_dir / "participants.csv").write_text("pid,arm\n")
    with pytest.raises(TrialInputError) as info:
        check_trials(specs, stamps)
    message = str(info.value)
    assert message.startswith("2 problems in the input data:")
    assert "a/data/raw/tiny/wave1.csv: row 2, column 'scs_1'" in message
    assert "b/data/raw/tiny/participants.csv: no data rows" in message
    assert not (stamps / "a.inputs-checked").exists()
