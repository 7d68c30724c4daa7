"""Qualtrics CSV exports: the tiny trial's waves as Qualtrics writes them (three header rows,
metadata columns, the participant id in an embedded-data field, preview and test responses),
with numeric values and with choice text, read to the same tables as the CSV files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from trialeval import ingest
from trialeval.errors import TrialInputError

SCS = [f"scs_{i}" for i in range(1, 13)]
FS = [f"fs_{i}" for i in range(1, 9)]
FS_LABELS = [
    "Strongly disagree",
    "Disagree",
    "Slightly disagree",
    "Mixed or neither agree nor disagree",
    "Slightly agree",
    "Agree",
    "Strongly agree",
]
SCS_ENDS = {1: "Almost never", 5: "Almost always"}
METADATA = ["StartDate", "EndDate", "Status", "Progress", "Duration (in seconds)", "Finished"]
METADATA += ["RecordedDate", "ResponseId", "DistributionChannel", "UserLanguage"]
COLUMNS = {**{c: f"Q1_{c[4:]}" for c in SCS}, **{c: f"Q2_{c[3:]}" for c in FS}}


def _response(k: int, answers: dict, *, status: str = "0", channel: str = "anonymous") -> dict:
    return {
        "StartDate": f"2024-02-0{1 + k % 9} 09:00:00",
        "EndDate": f"2024-02-0{1 + k % 9} 09:06:00",
        "Status": status,
        "Progress": "100",
        "Duration (in seconds)": "360",
        "Finished": "1",
        "RecordedDate": f"2024-02-0{1 + k % 9} 09:06:01",
        "ResponseId": f"R_{k:04d}abcdEFGH",
        "DistributionChannel": channel,
        "UserLanguage": "EN",
        **answers,
    }


def export(wave: pd.DataFrame, *, choice_text: bool) -> pd.DataFrame:
    """One wave as a Qualtrics export: rows 2 and 3 are the question text and ImportIds; a
    preview and a test response (no real participant) come first; the second response is
    unfinished (kept: its answered items still score)."""
    rows = []
    extra = {COLUMNS[c]: "3" for c in SCS + FS}
    rows.append(_response(90, {**extra, "pid": ""}, status="1", channel="preview"))
    rows.append(_response(91, {**extra, "pid": "P1"}, status="2", channel="test"))
    for k, (_, answer) in enumerate(wave.iterrows()):
        row = {COLUMNS[c]: str(answer[c]) for c in SCS + FS}
        row["pid"] = answer["pid"]
        rows.append(_response(k, row))
    rows[3]["Finished"], rows[3]["Progress"] = "0", "85"
    frame = pd.DataFrame(rows)
    if choice_text:
        frame["Status"] = frame["Status"].map(
            {"0": "IP Address", "1": "Survey Preview", "2": "Survey Test"}
        )
        frame["Finished"] = frame["Finished"].map({"1": "True", "0": "False"})
        for c in FS:
            frame[COLUMNS[c]] = frame[COLUMNS[c]].map(lambda v: FS_LABELS[int(v) - 1])
        for c in SCS:
            frame[COLUMNS[c]] = frame[COLUMNS[c]].map(lambda v: SCS_ENDS.get(int(v), v))
    questions = {c: c for c in METADATA} | {"pid": "pid"}
    questions.update({COLUMNS[c]: f"Self-compassion - item {c[4:]}" for c in SCS})
    questions.update({COLUMNS[c]: f"Flourishing - statement {c[3:]}" for c in FS})
    imports = {c: json.dumps({"ImportId": c[0].lower() + c[1:]}) for c in frame.columns}
    imports.update({COLUMNS[c]: json.dumps({"ImportId": f"QID{c}"}) for c in SCS + FS})
    imports["pid"] = json.dumps({"ImportId": "pid"})
    return pd.concat([pd.DataFrame([questions, imports]), frame], ignore_index=True)


def as_qualtrics(tiny, *, choice_text: bool) -> None:
    for tp in tiny.trial["timepoints"]:
        name = tp["file"]
        export(tiny.waves[name], choice_text=choice_text).to_csv(
            tiny.data_dir / f"qualtrics_{name}", index=False
        )
        tp["file"] = {
            "path": f"qualtrics_{name}",
            "id_column": "pid",
            "columns": {"scs_sf": "Q1_{item}", "flourishing": "Q2_{item}"},
        }


@pytest.mark.parametrize("choice_text", [False, True], ids=["numeric", "choice_text"])
def test_qualtrics_exports_read_like_the_csv_files(tiny, choice_text):
    participants, items = ingest.ingest(tiny.spec())
    as_qualtrics(tiny, choice_text=choice_text)
    tally: dict = {}
    got_participants, got_items = ingest.ingest(tiny.spec(), tally)
    pd.testing.assert_frame_equal(got_items, items)
    pd.testing.assert_frame_equal(got_participants, participants)
    for tp in ("t0", "t1"):  # one preview and one test response per wave: left out, counted
        assert tally[tp]["preview_responses"] == 1 and tally[tp]["test_responses"] == 1


def test_a_bad_answer_names_the_spreadsheet_row(tiny):
    as_qualtrics(tiny, choice_text=True)
    path = tiny.data_dir / "qualtrics_wave1.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[4, "Q2_3"] = "Agree strongly"  # P2's response, on the 6th row of the file
    frame.to_csv(path, index=False)
    with pytest.raises(TrialInputError) as info:
        ingest.ingest(tiny.spec())
    assert (
        "qualtrics_wave1.csv: row 6, column 'Q2_3' (participant P2, timepoint 't1'): 'Agree "
        "strongly' is not a number, nor one of the answer labels"
    ) in str(info.value)


def test_a_file_declared_qualtrics_without_its_header_rows(tiny):
    tiny.trial["timepoints"][0]["file"] = {"path": "wave0.csv", "format": "qualtrics"}
    with pytest.raises(TrialInputError) as info:
        ingest.ingest(tiny.spec())
    assert (
        "wave0.csv: not a Qualtrics export as expected; expected Qualtrics' header rows as "
        'Qualtrics writes them: names, question text and {"ImportId": ...} cells (rows 1-3), '
        "or, from the legacy exporter, names (V1 ... V10 in older exports) and then the "
        "question text with ResponseID under V1 (rows 1-2)"
    ) in str(info.value)


LEGACY = ["ResponseID", "ResponseSet", "Name", "ExternalDataReference", "EmailAddress"]
LEGACY += ["IPAddress", "Status", "StartDate", "EndDate", "Finished"]


def legacy_export(wave: pd.DataFrame, *, v_names: bool) -> pd.DataFrame:
    """One wave as the legacy exporter wrote it (choice text): two header rows, the names
    (V1 ... V10 for the metadata in older exports) and the question text, where the metadata
    are named again; the id in ExternalDataReference; a preview (Status 1) and a test
    (Status 2) response first, the second real response unfinished."""
    current = export(wave, choice_text=True).iloc[2:].reset_index(drop=True)
    meta = pd.DataFrame(
        {
            "ResponseID": current["ResponseId"],
            "ResponseSet": "Default Response Set",
            "Name": "Anonymous",
            "ExternalDataReference": current["pid"],
            "EmailAddress": "",
            "IPAddress": "192.0.2.1",
            "Status": ["1", "2"] + ["0"] * (len(current) - 2),
            "StartDate": current["StartDate"],
            "EndDate": current["EndDate"],
            "Finished": current["Finished"].map({"True": "1", "False": "0"}),
        }
    )
    answers = current[[COLUMNS[c] for c in SCS + FS]]
    frame = pd.concat([meta, answers], axis=1)
    names = dict(zip(LEGACY, V_NAMES if v_names else LEGACY, strict=True))
    questions = {names[c]: c for c in LEGACY}
    questions.update({COLUMNS[c]: f"Self-compassion - item {c[4:]}" for c in SCS})
    questions.update({COLUMNS[c]: f"Flourishing - statement {c[3:]}" for c in FS})
    frame = frame.rename(columns=names)
    return pd.concat([pd.DataFrame([questions]), frame], ignore_index=True)


V_NAMES = [f"V{k}" for k in range(1, 11)]


def as_legacy(tiny, *, v_names: bool) -> None:
    for tp in tiny.trial["timepoints"]:
        name = tp["file"]
        legacy_export(tiny.waves[name], v_names=v_names).to_csv(
            tiny.data_dir / f"legacy_{name}", index=False
        )
        tp["file"] = {
            "path": f"legacy_{name}",
            "id_column": "ExternalDataReference",  # V4 in the older exports: read by its name
            "columns": {"scs_sf": "Q1_{item}", "flourishing": "Q2_{item}"},
        }


@pytest.mark.parametrize("v_names", [True, False], ids=["V1-V10", "named"])
def test_legacy_exports_read_like_the_csv_files(tiny, v_names):
    participants, items = ingest.ingest(tiny.spec())
    as_legacy(tiny, v_names=v_names)
    tally: dict = {}
    got_participants, got_items = ingest.ingest(tiny.spec(), tally)
    pd.testing.assert_frame_equal(got_items, items)
    pd.testing.assert_frame_equal(got_participants, participants)
    for tp in ("t0", "t1"):  # Status 1 and 2: left out, counted
        assert tally[tp]["preview_responses"] == 1 and tally[tp]["test_responses"] == 1


def test_a_legacy_export_without_its_second_header_row_is_not_guessed(tiny):
    """V1 ... V10 without row 2 naming them: a legacy export whose question-text row was
    deleted, or a plain table with such names; the run stops rather than guess, and
    `format: table` is the way to say it is a plain table."""
    as_legacy(tiny, v_names=True)
    path = tiny.data_dir / "legacy_wave0.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.iloc[1:].to_csv(path, index=False)
    message = _problem(tiny)
    assert (
        "legacy_wave0.csv: columns V1 ... V10, as the legacy Qualtrics exporter names its "
        "first columns, but row 2 does not name them (ResponseID under V1); expected "
        "Qualtrics' header rows as Qualtrics writes them"
    ) in message
    assert "or set `format: table` for this file if it is a plain table" in message
    assert "legacy_wave1.csv" not in message  # the intact wave reads


@pytest.mark.parametrize("declared", [False, True], ids=["detected", "format: qualtrics"])
def test_an_export_whose_importid_row_was_deleted_is_not_guessed(tiny, declared):
    as_qualtrics(tiny, choice_text=True)
    path = tiny.data_dir / "qualtrics_wave1.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.drop(index=1).to_csv(path, index=False)  # row 3 of the file: the ImportIds
    if declared:
        tiny.trial["timepoints"][1]["file"]["format"] = "qualtrics"
    assert (
        "qualtrics_wave1.csv: "
        + ("not a Qualtrics export as expected (" if declared else "")
        + "Qualtrics metadata columns (ResponseId, Status, Finished) and their question text "
        "on row 2, but no ImportId row 3"
    ) in _problem(tiny)


def _problem(tiny) -> str:
    with pytest.raises(TrialInputError) as info:
        ingest.ingest(tiny.spec())
    return str(info.value)
