"""REDCap record exports: the tiny trial as a longitudinal REDCap project would export it (one
file, a row per record x event, participants' fields on their own event, the site as the data
access group), raw and with labels, with and without its data dictionary. Each must read to
the same tables as the tiny trial's own CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialeval import ingest
from trialeval.errors import TrialInputError

EVENTS = {"record": "participant_record_arm_1", "t0": "baseline_arm_1", "t1": "month_1_arm_1"}
EVENT_LABELS = {"record": "Participant record", "t0": "Baseline", "t1": "Month 1"}
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
RACE = {"1": "White", "2": "Black", "3": "Asian"}


def dictionary() -> pd.DataFrame:
    """The project's data dictionary, as REDCap's Data Dictionary download writes it."""
    rows = [
        ("record_id", "enrolment", "text", "Record ID", "", "", ""),
        ("arm", "enrolment", "radio", "Allocated arm", "peer, Peer support | ctl, Control", "", ""),
        ("age", "enrolment", "text", "Age (years)", "", "16", "80"),
        (
            "race",
            "enrolment",
            "checkbox",
            "Race",
            " | ".join(f"{k}, {v}" for k, v in RACE.items()),
            "",
            "",
        ),
        ("sessions", "enrolment", "text", "Sessions attended", "", "0", "20"),
        ("withdrew", "enrolment", "yesno", "Withdrew consent", "", "", ""),
    ]
    scs_choices = "1, Almost never | 2, 2 | 3, 3 | 4, 4 | 5, Almost always"
    rows += [(c, "self_compassion", "radio", f"SCS item {c[4:]}", scs_choices, "", "") for c in SCS]
    fs_choices = " | ".join(f"{k}, {v}" for k, v in enumerate(FS_LABELS, start=1))
    rows += [(c, "flourishing_scale", "radio", f"FS item {c[3:]}", fs_choices, "", "") for c in FS]
    columns = [
        "Variable / Field Name",
        "Form Name",
        "Field Type",
        "Field Label",
        "Choices, Calculations, OR Slider Labels",
        "Text Validation Min",
        "Text Validation Max",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(2, "Section Header", "")
    frame["Field Note"] = ""
    return frame


def export(tiny, *, labels: bool = False) -> pd.DataFrame:
    """The tiny trial's participants and waves as one REDCap "CSV raw" (or labels) export.

    Besides the tiny trial's data: a repeating-instrument row (not a wave), P4's baseline
    Flourishing form left Unverified and P6's month-1 Flourishing form Incomplete with
    answers (neither counted), and race as a checkbox field."""
    people = tiny.participants
    rows = []
    for k, person in people.iterrows():
        race = ["1", "0", "0"] if k % 3 else ["1", "0", "1"]
        rows.append(
            {
                "record_id": person["pid"],
                "redcap_event_name": EVENTS["record"],
                "redcap_data_access_group": person["site"],
                "arm": person["arm"],
                "age": person["age"],
                **{f"race___{c}": race[i] for i, c in enumerate(RACE)},
                "sessions": person["sessions"],
                "withdrew": {"yes": "1", "no": "0", "": ""}[person["withdrew"]],
                "enrolment_complete": "2",
            }
        )
        if k == 1:  # a session log: a repeating instrument, not a wave
            rows.append(
                {
                    "record_id": person["pid"],
                    "redcap_event_name": EVENTS["record"],
                    "redcap_repeat_instrument": "session_log",
                    "redcap_repeat_instance": "1",
                    "redcap_data_access_group": person["site"],
                }
            )
    for tp, name in (("t0", "wave0.csv"), ("t1", "wave1.csv")):
        for _, answer in tiny.waves[name].iterrows():
            row = {"record_id": answer["pid"].strip().upper(), "redcap_event_name": EVENTS[tp]}
            row.update({c: str(answer[c]) for c in SCS + FS})
            row.update(self_compassion_complete="2", flourishing_scale_complete="2")
            if tp == "t0" and row["record_id"] == "P4":
                row["flourishing_scale_complete"] = "1"
            rows.append(row)
    rows.append(
        {
            "record_id": "P6",
            "redcap_event_name": EVENTS["t1"],
            **{c: "3" for c in FS[:4]},
            "self_compassion_complete": "0",
            "flourishing_scale_complete": "0",
        }
    )
    columns = ["record_id", "redcap_event_name", "redcap_repeat_instrument"]
    columns += ["redcap_repeat_instance", "redcap_data_access_group", "arm", "age"]
    columns += [f"race___{c}" for c in RACE] + ["sessions", "withdrew", "enrolment_complete"]
    columns += SCS + ["self_compassion_complete"] + FS + ["flourishing_scale_complete"]
    frame = pd.DataFrame(rows, columns=columns).sort_values(
        ["record_id", "redcap_event_name"], key=_event_order, kind="stable"
    )
    frame = frame.replace({"nan": None, "None": None}).astype(object)
    if labels:
        frame = _as_labels(frame)
    return frame


def _event_order(column: pd.Series) -> pd.Series:
    order = {event: i for i, event in enumerate(EVENTS.values())}
    return column.map(order) if column.name == "redcap_event_name" else column


def _as_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """The same export with labels, as "CSV labels" writes it (the column names kept)."""
    out = frame.copy()
    out["redcap_event_name"] = out["redcap_event_name"].map(
        {EVENTS[k]: EVENT_LABELS[k] for k in EVENTS}
    )
    out["arm"] = out["arm"].map({"peer": "Peer support", "ctl": "Control"})
    out["withdrew"] = out["withdrew"].map({"1": "Yes", "0": "No"})
    for c in RACE:
        out[f"race___{c}"] = out[f"race___{c}"].map({"1": "Checked", "0": "Unchecked"})
    status = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}
    for c in ("enrolment_complete", "self_compassion_complete", "flourishing_scale_complete"):
        out[c] = out[c].map(status)
    for c in FS:
        out[c] = out[c].map(lambda v: FS_LABELS[int(v) - 1] if isinstance(v, str) else v)
    for c in SCS:
        out[c] = out[c].replace({"1": "Almost never", "5": "Almost always"})
    return out


def as_redcap(tiny, *, labels=False, with_dictionary=True, events=EVENTS) -> None:
    """Point the tiny trial at its REDCap export (YAML only)."""
    export(tiny, labels=labels).to_csv(tiny.data_dir / "export.csv", index=False)
    dictionary().to_csv(tiny.data_dir / "dictionary.csv", index=False)
    common = {"path": "export.csv"}
    if with_dictionary:
        common["dictionary"] = "dictionary.csv"
    tiny.trial["data"].update(
        participants={**common, "event": events["record"]},
        id_column="record_id",
        site_column="redcap_data_access_group",
    )
    for tp in tiny.trial["timepoints"]:
        tp["file"] = {**common, "event": events[tp["id"]]}
    tiny.write_config()


def expected_tables(tiny):
    """The tiny trial's own tables, less the answers of the forms that do not count."""
    participants, items = ingest.ingest(tiny.spec())
    p4_t0 = (items["participant_id"] == "P4") & (items["timepoint"] == "t0")
    items.loc[p4_t0, FS] = np.nan
    return participants, items


def _read(tiny):
    """(participants, items, counts) of the trial as configured now."""
    tally: dict = {}
    return (*ingest.ingest(tiny.spec(), tally), tally)


@pytest.mark.parametrize(
    ("labels", "with_dictionary", "events"),
    [(False, False, EVENTS), (False, True, EVENTS), (True, True, EVENT_LABELS)],
    ids=["raw", "raw+dictionary", "labels+dictionary"],
)
def test_redcap_export_reads_like_the_csv_files(tiny, labels, with_dictionary, events):
    participants, items = expected_tables(tiny)
    as_redcap(tiny, labels=labels, with_dictionary=with_dictionary, events=events)
    got_participants, got_items, tally = _read(tiny)
    pd.testing.assert_frame_equal(got_items, items)
    pd.testing.assert_frame_equal(got_participants, participants)
    # P4's Unverified baseline form and P6's Incomplete month-1 form: counted, never scored
    assert tally["t0"]["forms_not_complete"] == 1
    assert tally["t1"]["forms_not_complete"] == 1


def test_checkbox_covariate_reads_the_checked_choice(tiny):
    tiny.trial["covariates"].append({"name": "race", "type": "categorical"})
    as_redcap(tiny)
    participants, _, _ = _read(tiny)
    assert participants["race"].tolist() == [
        "more than one" if k % 3 == 0 else "White" for k in range(6)
    ]


def test_unverified_forms_count_when_asked(tiny):
    participants, items = ingest.ingest(tiny.spec())
    as_redcap(tiny)
    for tp in tiny.trial["timepoints"]:
        tp["file"]["forms_complete"] = "unverified"
    tiny.write_config()
    _, got, tally = _read(tiny)
    pd.testing.assert_frame_equal(got, items)  # P4's Unverified form counts
    assert tally["t0"]["forms_not_complete"] == 0


def test_any_status_counts_and_an_incomplete_form_is_a_response(tiny):
    as_redcap(tiny)
    for tp in tiny.trial["timepoints"]:
        tp["file"]["forms_complete"] = "any"
    tiny.write_config()
    _, got, tally = _read(tiny)
    p6 = got[(got["participant_id"] == "P6") & (got["timepoint"] == "t1")]
    assert len(p6) == 1 and p6[FS[:4]].eq(3).all(axis=None)
    assert tally["t1"]["forms_not_complete"] == 0


def _problem(tiny) -> str:
    with pytest.raises(TrialInputError) as info:
        _read(tiny)
    return str(info.value)


def test_a_wave_of_a_longitudinal_export_needs_its_event(tiny):
    as_redcap(tiny)
    del tiny.trial["timepoints"][1]["file"]["event"]
    tiny.write_config()
    assert (
        "export.csv: a longitudinal REDCap export (column redcap_event_name): set `event` for "
        "this timepoint to the event whose rows it reads; the export has "
        "participant_record_arm_1, baseline_arm_1, month_1_arm_1"
    ) in _problem(tiny)


def test_an_event_that_is_not_in_the_export(tiny):
    as_redcap(tiny)
    tiny.trial["timepoints"][1]["file"]["event"] = "month_4_arm_1"
    tiny.write_config()
    assert "no row of event 'month_4_arm_1' (`event`" in _problem(tiny)


def test_a_status_that_is_not_one(tiny):
    frame = export(tiny).reset_index(drop=True)
    p2_t1 = (frame["record_id"] == "P2") & (frame["redcap_event_name"] == EVENTS["t1"])
    row = frame.index[p2_t1]
    frame.loc[row, "flourishing_scale_complete"] = "done"
    as_redcap(tiny)
    frame.to_csv(tiny.data_dir / "export.csv", index=False)
    message = _problem(tiny)
    assert row[0] + 2 == 7  # the spreadsheet row: the header is row 1
    assert (
        "export.csv: row 7, column 'flourishing_scale_complete': 'done' is not a form status"
        in message
    )


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        (
            " | ".join(f"{k}, {v}" for k, v in enumerate(reversed(FS_LABELS), start=1)),
            "'fs_1': code 1 is labelled 'Strongly agree', which is answer 7 of flourishing "
            "(its levels): the coding is reversed or shifted",
        ),
        (
            " | ".join(f"{k}, {v}" for k, v in enumerate(FS_LABELS)),
            "'fs_1': code 0 ('Strongly disagree') is not an answer of flourishing (whole numbers "
            "1 to 7): the export codes this item differently",
        ),
    ],
    ids=["reversed", "shifted"],
)
def test_dictionary_choices_are_checked_against_the_instrument(tiny, choices, message):
    as_redcap(tiny)
    book = dictionary()
    book.loc[book["Variable / Field Name"].isin(FS), "Choices, Calculations, OR Slider Labels"] = (
        choices
    )
    book.to_csv(tiny.data_dir / "dictionary.csv", index=False)
    problems = _problem(tiny)
    assert "dictionary.csv: " + message in problems
    assert problems.count("'fs_1': code") == 1  # one export read for two waves: said once


def test_validation_bounds_are_checked_against_the_range(tiny):
    as_redcap(tiny)
    book = dictionary()
    scs1 = book["Variable / Field Name"] == "scs_1"
    book.loc[scs1, ["Field Type", "Choices, Calculations, OR Slider Labels"]] = ["text", ""]
    book.loc[scs1, ["Text Validation Min", "Text Validation Max"]] = ["1", "7"]
    book.to_csv(tiny.data_dir / "dictionary.csv", index=False)
    assert (
        "dictionary.csv: 'scs_1': the export accepts answers 1 to 7 (validation min / max), but "
        "scs_sf answers are 1 to 5"
    ) in _problem(tiny)


def test_a_file_that_is_not_a_dictionary(tiny):
    as_redcap(tiny)
    tiny.participants.to_csv(tiny.data_dir / "dictionary.csv", index=False)
    assert "dictionary.csv: not a REDCap data dictionary: no column 'Variable / Field Name'" in (
        _problem(tiny)
    )


def test_an_export_with_field_labels_as_headers_says_how_to_export_it(tiny):
    as_redcap(tiny)
    frame = export(tiny).rename(
        columns={"record_id": "Record ID", "redcap_event_name": "Event Name"}
    )
    frame.to_csv(tiny.data_dir / "export.csv", index=False)
    assert "export.csv: the header holds field labels ('Event Name' for redcap_event_name)" in (
        _problem(tiny)
    )


def test_participant_fields_default_to_each_records_first_row(tiny):
    participants, _ = expected_tables(tiny)
    as_redcap(tiny)
    del tiny.trial["data"]["participants"]["event"]  # the record event comes first
    got, _, _ = _read(tiny)
    pd.testing.assert_frame_equal(got, participants)


EXIT = "study_exit_arm_1"


def _disposition_on_a_later_event(tiny) -> pd.DataFrame:
    """The export with withdrawal and sessions on a study-exit event of their own (after the
    surveys), as a project whose disposition form is designated there; unticked checkboxes
    are exported as 0 on every event, as REDCap does."""
    frame = export(tiny)
    record = frame["redcap_event_name"] == EVENTS["record"]
    plain = record & frame["redcap_repeat_instrument"].isna()
    exits = frame.loc[plain, ["record_id", "withdrew", "sessions"]].assign(
        redcap_event_name=EXIT, disposition_complete="2", **{f"race___{c}": "0" for c in RACE}
    )
    frame.loc[record, ["withdrew", "sessions"]] = None
    return pd.concat([frame, exits], ignore_index=True)[[*frame.columns, "disposition_complete"]]


@pytest.mark.parametrize("event", [None, [EVENTS["record"], EXIT]], ids=["every", "listed"])
def test_participant_fields_on_several_events_are_merged_per_record(tiny, event):
    participants, _ = expected_tables(tiny)
    tiny.trial["covariates"].append({"name": "race", "type": "categorical"})
    as_redcap(tiny)
    _disposition_on_a_later_event(tiny).to_csv(tiny.data_dir / "export.csv", index=False)
    del tiny.trial["data"]["participants"]["event"]
    if event:
        tiny.trial["data"]["participants"]["event"] = event
    tiny.write_config()
    got, _, _ = _read(tiny)
    pd.testing.assert_frame_equal(got.drop(columns="race"), participants)
    assert got["race"].tolist() == ["more than one" if k % 3 == 0 else "White" for k in range(6)]
    assert got["withdrawn"].tolist() == [False, False, True, False, False, False]


def test_two_values_of_a_participant_field_name_record_field_and_both(tiny):
    as_redcap(tiny)
    frame = _disposition_on_a_later_event(tiny)
    p2_exit = (frame["record_id"] == "P2") & (frame["redcap_event_name"] == EXIT)
    frame.loc[p2_exit, "age"] = "52"
    frame.to_csv(tiny.data_dir / "export.csv", index=False)
    rows = frame.index[(frame["record_id"] == "P2") & frame["age"].notna()] + 2
    del tiny.trial["data"]["participants"]["event"]
    tiny.write_config()
    assert (
        f"export.csv: record 'P2', field 'age': '25.0' on event 'participant_record_arm_1' "
        f"(row {rows[0]}) but '52' on event 'study_exit_arm_1' (row {rows[1]}); a participant "
        f"field needs one value per record"
    ) in _problem(tiny)


def test_a_timepoint_reads_one_event_per_redcap_arm(tiny):
    """A project with an event schedule per REDCap arm: month 1 is month_1_arm_1 for one
    arm's records and month_1_arm_2 for the other's."""
    participants, items = expected_tables(tiny)
    as_redcap(tiny)
    frame = export(tiny)
    ctl = frame["record_id"].isin(tiny.participants.loc[tiny.participants["arm"] == "ctl", "pid"])
    frame.loc[ctl & (frame["redcap_event_name"] == EVENTS["t1"]), "redcap_event_name"] = (
        "month_1_arm_2"
    )
    frame.to_csv(tiny.data_dir / "export.csv", index=False)
    tiny.trial["timepoints"][1]["file"]["event"] = [EVENTS["t1"], "month_1_arm_2"]
    tiny.write_config()
    got_participants, got_items, tally = _read(tiny)
    pd.testing.assert_frame_equal(got_items, items)
    pd.testing.assert_frame_equal(got_participants, participants)
    assert tally["t1"]["forms_not_complete"] == 1  # P6 (ctl): its form on month_1_arm_2


def test_field_labels_label_covariates_the_trial_file_does_not(tiny):
    """The dictionary's field label (HTML removed) names a covariate the trial file does not
    label; a trial-file label wins; without the dictionary there is no label to use."""
    tiny.trial["covariates"].append({"name": "race", "type": "categorical", "label": "Race"})
    as_redcap(tiny)
    book = dictionary()
    book.loc[book["Variable / Field Name"] == "age", "Field Label"] = "<b>Age</b>&nbsp;(years)"
    book.to_csv(tiny.data_dir / "dictionary.csv", index=False)
    labels: dict = {}
    ingest.ingest(tiny.spec(), labels=labels)
    assert labels == {"age": "Age (years)"}  # race: the trial file's "Race"
    as_redcap(tiny, with_dictionary=False)
    labels = {}
    ingest.ingest(tiny.spec(), labels=labels)
    assert labels == {}
