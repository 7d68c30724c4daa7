"""SPSS .sav and Stata .dta files (written here with pyreadstat): the tiny trial as a
statistician's data files, with value labels and user-defined missing values, reads to the
same tables as the tiny trial's own CSV files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from trialeval import ingest
from trialeval.errors import TrialInputError

SCS = [f"scs_{i}" for i in range(1, 13)]
FS = [f"fs_{i}" for i in range(1, 9)]
FS_LABELS = dict(
    enumerate(
        [
            "Strongly disagree",
            "Disagree",
            "Slightly disagree",
            "Mixed or neither agree nor disagree",
            "Slightly agree",
            "Agree",
            "Strongly agree",
        ],
        start=1,
    )
)
REFUSED = 99  # the files' own "refused" code


def _participants(tiny) -> tuple[pd.DataFrame, dict]:
    """Arm, site and the withdrawal flag as labelled numbers; age -9 means not given."""
    people = tiny.participants.copy()
    people["arm"] = people["arm"].map({"peer": 1.0, "ctl": 2.0})
    people["site"] = people["site"].map({"s1": 1.0, "s2": 2.0})
    people["withdrew"] = people["withdrew"].map({"yes": 1.0, "no": 0.0, "": np.nan})
    people["age"] = people["age"].astype(float)
    people.loc[5, "age"] = -9.0
    labels = {
        "arm": {1.0: "Peer", 2.0: "CTL"},  # labels naming the arm ids (case ignored)
        "site": {1.0: "s1", 2.0: "s2"},
        "withdrew": {1.0: "Yes", 0.0: "No"},
    }
    return people, labels


def _wave(wave: pd.DataFrame, refused: list[tuple[int, str]]) -> pd.DataFrame:
    out = wave.copy()
    out[SCS + FS] = out[SCS + FS].astype(float)
    for row, column in refused:
        out.loc[row, column] = REFUSED
    return out


REFUSED_AT = {"wave0": [(0, "scs_2"), (3, "fs_5")], "wave1": [(1, "fs_1")]}


def as_spss(tiny) -> None:
    people, labels = _participants(tiny)
    pyreadstat.write_sav(
        people,
        tiny.data_dir / "participants.sav",
        variable_value_labels=labels,
        missing_ranges={"age": [{"lo": -9.0, "hi": -1.0}]},
        column_labels={"age": "Age in years"},
    )
    answer_labels = {c: {1.0: "Almost never", 5.0: "Almost always", 99.0: "Refused"} for c in SCS}
    answer_labels.update({c: {**FS_LABELS, 99.0: "Refused"} for c in FS})
    for name, refused in REFUSED_AT.items():
        pyreadstat.write_sav(
            _wave(tiny.waves[f"{name}.csv"], refused),
            tiny.data_dir / f"{name}.sav",
            variable_value_labels=answer_labels,
            missing_ranges=dict.fromkeys(SCS + FS, [float(REFUSED)]),
        )
    tiny.trial["data"]["participants"] = "participants.sav"
    for tp, name in zip(tiny.trial["timepoints"], REFUSED_AT, strict=True):
        tp["file"] = f"{name}.sav"


def as_stata(tiny) -> None:
    """The same in Stata: user-missing answers as the extended missing value .r."""
    people, labels = _participants(tiny)
    people["age"] = people["age"].astype(object)
    people.loc[5, "age"] = "n"  # .n: not given
    pyreadstat.write_dta(
        people,
        tiny.data_dir / "participants.dta",
        variable_value_labels=labels,
        missing_user_values={"age": ["n"]},
    )
    for name, refused in REFUSED_AT.items():
        wave = _wave(tiny.waves[f"{name}.csv"], [])
        for row, column in refused:
            wave[column] = wave[column].astype(object)
            wave.loc[row, column] = "r"
        pyreadstat.write_dta(
            wave,
            tiny.data_dir / f"{name}.dta",
            variable_value_labels={c: FS_LABELS for c in FS},
            missing_user_values={c: ["r"] for c in SCS + FS},
        )
    tiny.trial["data"]["participants"] = {"path": "participants.dta", "format": "stata"}
    for tp, name in zip(tiny.trial["timepoints"], REFUSED_AT, strict=True):
        tp["file"] = {"path": f"{name}.dta", "format": "stata"}


def expected_tables(tiny):
    participants, items = ingest.ingest(tiny.spec())
    participants.loc[participants["participant_id"] == "P6", "age"] = np.nan
    for (tp, refused), ids in zip(REFUSED_AT.items(), (["P1", "P4"], ["P5"]), strict=True):
        timepoint = {"wave0": "t0", "wave1": "t1"}[tp]
        for (_, column), pid in zip(refused, ids, strict=True):
            at = (items["participant_id"] == pid) & (items["timepoint"] == timepoint)
            items.loc[at, column] = np.nan
    return participants, items


@pytest.mark.parametrize("write", [as_spss, as_stata], ids=["spss", "stata"])
def test_spss_and_stata_files_read_like_the_csv_files(tiny, write):
    participants, items = expected_tables(tiny)
    write(tiny)
    tally: dict = {}
    got_participants, got_items = ingest.ingest(tiny.spec(), tally)
    pd.testing.assert_frame_equal(got_items, items)
    pd.testing.assert_frame_equal(got_participants, participants)
    # P1's and P4's refusals at t0 (P3 withdrew), P5's at t1: missing, counted
    assert [tally[t]["missing_code_answers"] for t in ("t0", "t1")] == [2, 1]


def test_value_labels_name_categorical_covariates(tiny):
    tiny.participants["gender"] = [1, 2, 2, 1, 3, 1]
    tiny.trial["covariates"].append({"name": "gender", "type": "categorical"})
    as_spss(tiny)
    people, labels = _participants(tiny)
    people["gender"] = people["gender"].astype(float)
    labels["gender"] = {1.0: "Woman", 2.0: "Man"}  # 3 has no label: shown as its code
    pyreadstat.write_sav(people, tiny.data_dir / "participants.sav", variable_value_labels=labels)
    participants, _ = ingest.ingest(tiny.spec())
    assert participants["gender"].tolist() == ["Woman", "Man", "Man", "Woman", "3", "Woman"]
    assert participants["site"].tolist() == ["s1", "s1", "s2", "s2", "s1", "s2"]


def test_value_labels_that_reverse_the_scale_are_an_error(tiny):
    as_spss(tiny)
    wave = _wave(tiny.waves["wave1.csv"], [])
    reversed_labels = {8.0 - code: label for code, label in FS_LABELS.items()}
    pyreadstat.write_sav(
        wave, tiny.data_dir / "wave1.sav", variable_value_labels={"fs_3": reversed_labels}
    )
    with pytest.raises(TrialInputError) as info:
        ingest.ingest(tiny.spec())
    assert (
        "wave1.sav: 'fs_3': code 7 is labelled 'Strongly disagree', which is answer 1 of "
        "flourishing (its levels): the coding is reversed or shifted"
    ) in str(info.value)


def test_a_bad_answer_names_the_case(tiny):
    as_spss(tiny)
    wave = _wave(tiny.waves["wave0.csv"], [])
    wave.loc[2, "fs_2"] = 2.5
    pyreadstat.write_sav(wave, tiny.data_dir / "wave0.sav")
    with pytest.raises(TrialInputError) as info:
        ingest.ingest(tiny.spec())
    assert (
        "wave0.sav: row 3, column 'fs_2' (participant P3, timepoint 't0'): '2.5' is not a whole "
        "number"
    ) in str(info.value)


def test_a_damaged_or_misdeclared_file_names_the_file(tiny):
    as_spss(tiny)
    data = (tiny.data_dir / "wave0.sav").read_bytes()
    (tiny.data_dir / "wave0.sav").write_bytes(data[: len(data) // 2])
    tiny.trial["timepoints"][1]["file"] = {"path": "wave1.sav", "format": "stata"}
    with pytest.raises(TrialInputError) as info:
        ingest.ingest(tiny.spec())
    message = str(info.value)
    assert "wave0.sav: cannot be read as an SPSS .sav file" in message
    assert "wave1.sav: `format: stata`, but the file is an SPSS .sav file" in message


def _table1_characteristics(spec, participants, items, labels, tmp_path) -> list[str]:
    """Table 1's characteristics as the tables rule builds them from the pipeline's files
    (covariate_labels.json among them)."""
    import json

    from trialeval import analysis_sets, instruments, tables

    scores = instruments.score_outcomes(items, spec)
    sets = analysis_sets.analysis_sets(participants, items, spec, scores)
    inputs = {}
    for name, frame in (("participants", participants), ("sets", sets), ("scores", scores)):
        inputs[name] = str(tmp_path / f"{name}.parquet")
        frame.to_parquet(inputs[name])
    inputs["covariate_labels"] = str(tmp_path / "covariate_labels.json")
    (tmp_path / "covariate_labels.json").write_text(json.dumps(labels))
    full, _, _, _ = tables.build(spec, "table1", inputs)
    return list(dict.fromkeys(full["characteristic"]))


def test_variable_labels_label_covariates_the_trial_file_does_not(tiny, tmp_path):
    """age has no `label` in the tiny trial: Table 1 calls it by its SPSS variable label;
    a label in the trial file wins."""
    as_spss(tiny)
    labels: dict = {}
    spec = tiny.spec()
    participants, items = ingest.ingest(spec, labels=labels)
    assert labels == {"age": "Age in years"}
    shown = _table1_characteristics(spec, participants, items, labels, tmp_path)
    assert "Age in years, mean (SD)" in shown and "age, mean (SD)" not in shown

    tiny.trial["covariates"][0]["label"] = "Age, years"
    labels = {}
    spec = tiny.spec()
    participants, items = ingest.ingest(spec, labels=labels)
    assert labels == {}
    # and were the file's label passed anyway, the trial file's would win
    shown = _table1_characteristics(spec, participants, items, {"age": "Age in years"}, tmp_path)
    assert "Age, years, mean (SD)" in shown and "Age in years, mean (SD)" not in shown
