"""Exports whose columns are not named like the registry, and answers given as labels: the YAML
maps them (`columns`, `levels`, `answer_labels`, `missing_codes`), and the tables read are the
same as from a file named and coded like the registry."""

from __future__ import annotations

import pandas as pd
import pytest

from trialeval import ingest
from trialeval.errors import TrialInputError

FLOURISHING = {  # the registry's response scale of the Flourishing Scale
    1: "Strongly disagree",
    2: "Disagree",
    3: "Slightly disagree",
    4: "Mixed or neither agree nor disagree",
    5: "Slightly agree",
    6: "Agree",
    7: "Strongly agree",
}


def _renamed(wave: pd.DataFrame) -> pd.DataFrame:
    """The wave as a survey tool names it: Q5_1.. for Flourishing, SC01.. for SCS-SF, an id
    column of its own and metadata columns nothing reads."""
    out = wave.rename(
        columns={
            "pid": "Participant",
            **{f"fs_{i}": f"Q5_{i}" for i in range(1, 9)},
            **{f"scs_{i}": f"SC{i:02d}" for i in range(1, 13)},
        }
    )
    out.insert(1, "StartDate", "2024-01-01 10:00")
    out["Duration (in seconds)"] = 300
    return out


def test_templates_and_explicit_maps_read_the_same_answers(tiny):
    expected = ingest.ingest(tiny.spec())
    for name in tiny.waves:
        tiny.waves[name] = _renamed(tiny.waves[name])
    columns = {
        "flourishing": "Q5_{item}",
        "scs_sf": {i: f"SC{i:02d}" for i in range(1, 13)},  # explicit map item -> column
    }
    tiny.trial["timepoints"][0]["file"] = {
        "path": "wave0.csv",
        "id_column": "Participant",
        "columns": columns,
    }
    tiny.trial["timepoints"][1]["file"] = {
        "path": "wave1.csv",
        "id_column": "Participant",
        "columns": {"flourishing": "Q5_{item}", "scs_sf": "SC{item:02d}"},  # zero-padded
    }
    participants, items = ingest.ingest(tiny.spec())
    pd.testing.assert_frame_equal(participants, expected[0])
    # the items table keeps the registry's column names, whatever the export called them
    pd.testing.assert_frame_equal(items, expected[1])


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"flourishing": "Q5"}, "template 'Q5' has no {item}, so every item of flourishing"),
        ({"flourishing": "Q5_{n}"}, "template 'Q5_{n}' cannot name item '1' (KeyError: 'n')"),
        ({"scs_sf": {1: "SC01"}}, "no column given for items ['2', '3'"),
        ({"scs_sf": {13: "x"}}, "items ['13'] are not items of scs_sf"),
        ({"mbi": "Q_{item}"}, "['mbi'] are not instruments of this trial's outcomes"),
        (
            {"flourishing": "Q{item}", "scs_sf": "Q{item}"},
            "scs_1 and fs_1 are both read from column 'Q1'",
        ),
    ],
)
def test_column_mapping_mistakes_are_config_errors(tiny, columns, message):
    tiny.trial["timepoints"][1]["file"] = {"path": "wave1.csv", "columns": columns}
    with pytest.raises(TrialInputError) as info:
        tiny.spec()
    assert "timepoints[1].file.columns" in str(info.value)
    assert message in str(info.value)


def test_instruments_sharing_an_item_must_map_it_alike(tiny):
    tiny.trial["outcomes"] += [
        {"id": "ee", "instrument": "mbi", "subscale": "ee"},
        {"id": "burnout", "instrument": "mbi_2item", "category": "burnout"},
    ]
    tiny.trial["timepoints"][1]["file"] = {"path": "wave1.csv", "columns": {"mbi": "Q1_{item}"}}
    with pytest.raises(TrialInputError, match=r"item column mbi_8 .* mapped to both 'Q1_8'"):
        tiny.spec()


def _as_labels(wave: pd.DataFrame, items) -> pd.DataFrame:
    """Answers written as a choice-text export writes them, case and spacing varied."""
    out = wave.astype(object)
    for k, column in enumerate(items):
        label = out[column].map(FLOURISHING)
        out[column] = label.str.upper() if k % 3 == 0 else label.str.replace(" ", "  ")
    return out


def test_labels_read_as_codes_ignoring_case_and_spaces(tiny):
    expected = ingest.ingest(tiny.spec())
    fs = [f"fs_{i}" for i in range(1, 9)]
    tiny.waves["wave0.csv"] = _as_labels(tiny.waves["wave0.csv"], fs)
    tiny.waves["wave1.csv"] = _as_labels(tiny.waves["wave1.csv"], fs[:4])  # labels and codes
    _, items = ingest.ingest(tiny.spec())
    pd.testing.assert_frame_equal(items, expected[1])


def test_unknown_label_names_file_row_column_and_label(tiny):
    wave = tiny.waves["wave0.csv"].astype(object)
    wave.loc[2, "fs_4"] = "Sometimes"
    tiny.waves["wave0.csv"] = wave
    with pytest.raises(TrialInputError) as info:
        ingest.ingest(tiny.spec())
    assert (
        "wave0.csv: row 4, column 'fs_4' (participant P3, timepoint 't0'): 'Sometimes' is not a "
        "number, nor one of the answer labels; expected a whole number from 1 to 7 or one of "
        "'Strongly disagree', 'Disagree', 'Slightly disagree', 'Mixed or neither agree nor "
        "disagree', 'Slightly agree', 'Agree', 'Strongly agree' (ignoring case and spaces)"
    ) in str(info.value)


def test_trial_labels_replace_the_registry_labels(tiny):
    """A translated survey: the trial's labels are read, the registry's English ones are not."""
    french = ["Pas du tout d'accord", "Pas d'accord", "Plutôt pas d'accord", "Mitigé"]
    french += ["Plutôt d'accord", "D'accord", "Tout à fait d'accord"]
    tiny.trial["answer_labels"] = {"flourishing": dict(enumerate(french, start=1))}
    expected = ingest.ingest(tiny.spec())
    wave = tiny.waves["wave0.csv"].astype(object)
    wave["fs_1"] = wave["fs_1"].map(lambda code: french[code - 1])
    tiny.waves["wave0.csv"] = wave
    _, items = ingest.ingest(tiny.spec())
    pd.testing.assert_frame_equal(items, expected[1])
    wave.loc[0, "fs_2"] = "Agree"
    with pytest.raises(TrialInputError, match=r"'Agree' is not a number, nor one of .*'Mitigé'"):
        ingest.ingest(tiny.spec())


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({0: "Zéro"}, "code 0 ('Zéro') is not an answer from 1 to 7 (item_range)"),
        ({1: "Non", 2: " non "}, "codes 1 and 2 have the same label ' non '"),
    ],
)
def test_trial_label_mistakes_are_config_errors(tiny, labels, message):
    tiny.trial["answer_labels"] = {"flourishing": labels}
    with pytest.raises(TrialInputError, match="answer_labels.flourishing") as info:
        tiny.spec()
    assert message in str(info.value)


def test_missing_codes_of_file_and_instrument_are_missing_and_counted(tiny):
    tiny.trial["instruments"] = {}
    wave = tiny.waves["wave0.csv"].astype(object)
    wave.loc[0, "fs_1"] = "-99"  # the file's code
    wave.loc[1, "fs_2"] = "Prefer not to answer"  # the file's code, as text
    wave.loc[3, "scs_3"] = "-99.0"  # matched by value
    tiny.waves["wave0.csv"] = wave
    tiny.trial["timepoints"][0]["file"] = {
        "path": "wave0.csv",
        "missing_codes": [-99, "prefer not to answer"],
    }
    tally: dict = {}
    _, items = ingest.ingest(tiny.spec(), tally)
    t0 = items[items["timepoint"] == "t0"].set_index("participant_id")
    assert pd.isna(t0.at["P1", "fs_1"]) and pd.isna(t0.at["P2", "fs_2"])
    assert pd.isna(t0.at["P4", "scs_3"])
    assert tally["t0"]["missing_code_answers"] == 3
    assert tally["t1"]["missing_code_answers"] == 0


def test_an_instruments_own_missing_code(tiny):
    scale = {
        "label": "Climate (4 items)",
        "item_prefix": "cl_",
        "items": 4,
        "item_range": [1, 5],
        "missing_codes": [9, "Does not apply"],
        "subscales": {"total": {"items": "all"}},
    }
    tiny.trial["instruments"] = {"climate": scale}
    tiny.trial["outcomes"].append({"id": "climate", "instrument": "climate", "subscale": "total"})
    for k, wave in enumerate(tiny.waves.values()):
        for i in range(1, 5):
            wave[f"cl_{i}"] = (wave.index + i + k) % 5 + 1
        wave["cl_1"] = wave["cl_1"].astype(object)
        wave.loc[0, "cl_1"] = 9 if k == 0 else "does not apply"
    tally: dict = {}
    _, items = ingest.ingest(tiny.spec(), tally)
    assert items["cl_1"].isna().sum() == 2
    assert [tally[t]["missing_code_answers"] for t in ("t0", "t1")] == [1, 1]


def test_an_exposure_needs_one_fully_labelled_item(tiny):
    """The MBI has labels now, but a multi-item subscale is still no ordinal exposure."""
    tiny.trial.update(design="cross_sectional")
    tiny.trial.pop("arms")
    tiny.trial["timepoints"] = tiny.trial["timepoints"][:1]
    tiny.trial["outcomes"] = [
        {"id": "burnout", "instrument": "mbi_2item", "category": "burnout"},
        {"id": "ee", "instrument": "mbi", "subscale": "ee"},
    ]
    tiny.trial["analyses"] = {"association": {"outcome": "burnout", "exposures": ["ee"]}}
    tiny.trial.pop("analysis_sets")
    with pytest.raises(TrialInputError, match=r"exposures: 'ee' must be the id of an outcome"):
        tiny.spec()
