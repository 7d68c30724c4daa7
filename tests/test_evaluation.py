"""Programme-evaluation surveys (trialeval.evaluation) and free-text themes
(trialeval.free_text) on tiny hand-checkable files; Wilson intervals against R."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from trialeval import evaluation, free_text
from trialeval.errors import TrialInputError
from trialeval.evaluation_config import resolve_evaluation, resolve_evaluation_instrument
from trialeval.evaluation_figures import sides

REFERENCE = Path(__file__).parent / "data" / "reference"
LIKERT = {1: "Strongly disagree", 2: "Disagree", 3: "Neutral", 4: "Agree", 5: "Strongly agree"}
INSTRUMENT = {
    "label": "Programme evaluation",
    "evaluation": True,
    "items": ["helped", "again"],
    "item_prefix": "ev_",
    "item_range": [1, 5],
    "levels": LIKERT,
    "agree": [4, 5],
    "item_labels": {"helped": "The programme helped me"},
}


def _inst():
    return resolve_evaluation_instrument("prog", INSTRUMENT, "instruments.yaml")


def _group(tmp_path: Path, responses: list[list[str]], roster=("a", "b", "c", "d", "e")):
    """A group of five invited (a..e); `responses` rows: id, ev_helped, ev_again, comment."""
    pd.DataFrame({"pid": list(roster)}).to_csv(tmp_path / "roster.csv", index=False)
    columns = ["pid", "ev_helped", "ev_again", "comment"]
    pd.DataFrame(responses, columns=columns).to_csv(tmp_path / "answers.csv", index=False)
    return {
        "id": "mentees",
        "label": "Mentees",
        "id_column": "pid",
        "roster": str(tmp_path / "roster.csv"),
        "file": str(tmp_path / "answers.csv"),
        "instruments": ["prog"],
        "missing_codes": ["Prefer not to say"],
        "questions": ["best"],
    }


# a: 4, 5; b: 2, skipped; c: "agree" (a label, any case), 1; d: opened and answered nothing
# (or "Prefer not to say", a missing code); e: not in the file.
ROWS = [
    ["a", "4", "5", "The night shift debriefs"],
    ["b", "2", "", ""],
    ["c", "agree", "1", "=HYPERLINK(x)"],
    ["d", "", "Prefer not to say", ""],
]


def test_counts_by_hand(tmp_path):
    group = _group(tmp_path, ROWS)
    instruments = {"prog": _inst()}
    roster, frame, coded = evaluation.group_answers(group, instruments, ["comment"])
    answered = evaluation.responded(frame, coded, ["comment"])
    assert list(answered[answered].index) == ["a", "b", "c"]
    rate = evaluation.response_rate(group, roster, answered)
    assert (rate["invited"], rate["responded"]) == (5, 3)
    items, answers = evaluation.summarise_group(
        group, instruments, coded, answered[answered].index, 0.05
    )
    helped = items.set_index("item").loc["helped"]
    # helped: 4, 2, 4 -> N 3, agreeing 2 (codes 4 and 5); again: 5, (skipped), 1 -> N 2, 1
    assert (helped["answered"], helped["agreeing"], helped["not_answered"]) == (3, 2, 0)
    assert helped["statement"] == "The programme helped me"
    again = items.set_index("item").loc["again"]
    assert (again["answered"], again["agreeing"], again["not_answered"]) == (2, 1, 1)
    assert again["statement"] == "ev_again"  # no item label: the column
    distribution = answers[answers["item"] == "helped"].set_index("code")["n"].to_dict()
    assert distribution == {"1": 0, "2": 1, "3": 0, "4": 2, "5": 0}


def test_wilson_intervals_equal_rs_prop_test():
    """R: prop.test(x, n, correct = FALSE)$conf.int (evaluation_wilson_ref.R), to 1e-6."""
    inst = _inst()
    for ref in json.loads((REFERENCE / "evaluation_wilson.json").read_text()):
        x, n = ref["x"], ref["n"]
        codes = pd.Series(["5"] * x + ["1"] * (n - x), dtype=object)
        got = evaluation.item_summary(codes, inst)
        assert got["agreeing"] == x and got["answered"] == n
        assert got["ci_low"] == pytest.approx(ref["low"], abs=1e-6)
        assert got["ci_high"] == pytest.approx(ref["high"], abs=1e-6)


def test_an_unknown_answer_names_file_row_column_and_scale(tmp_path):
    group = _group(tmp_path, [["a", "4", "6", ""], ["b", "Sometimes", "1", ""]])
    with pytest.raises(TrialInputError) as error:
        evaluation.group_answers(group, {"prog": _inst()}, ["comment"])
    text = str(error.value)
    assert f"{group['file']}: row 2, column 'ev_again': '6' is not an answer of prog" in text
    assert "row 3, column 'ev_helped': 'Sometimes'" in text
    assert "expected a code or label of 1 Strongly disagree, 2 Disagree" in text


def test_a_respondent_not_on_the_roster_or_twice_stops(tmp_path):
    group = _group(tmp_path, [["a", "4", "5", ""], ["zz", "4", "5", ""]])
    with pytest.raises(TrialInputError, match=r"row 3, column 'pid': 'zz' is not on the roster"):
        evaluation.group_answers(group, {"prog": _inst()}, ["comment"])
    group = _group(tmp_path, [["a", "4", "5", ""], ["a", "4", "5", ""]])
    with pytest.raises(TrialInputError, match=r"row 3, column 'pid': 'a' is also on row 2"):
        evaluation.group_answers(group, {"prog": _inst()}, ["comment"])


def test_resolution_checks_agree_codes_and_instrument_kinds():
    with pytest.raises(TrialInputError, match=r"prog.agree: 6 not codes of its levels"):
        resolve_evaluation_instrument("prog", {**INSTRUMENT, "agree": [6]}, "t.yaml")
    trial = {
        "outcomes": [{"id": "o", "instrument": "prog"}],
        "respondent_groups": [],
    }
    available = {"prog": (INSTRUMENT, "t.yaml"), "mbi": ({"label": "MBI"}, "i.yaml")}
    with pytest.raises(TrialInputError, match=r"'prog' is an evaluation instrument"):
        resolve_evaluation(trial, available, data_dir=Path("d"), id_column="pid", where="t.yaml")
    trial = {
        "outcomes": [],
        "respondent_groups": [
            {"id": "g", "roster": "r.csv", "file": "f.csv", "instruments": ["mbi"]}
        ],
    }
    with pytest.raises(TrialInputError, match=r"'mbi' is not an evaluation instrument"):
        resolve_evaluation(trial, available, data_dir=Path("d"), id_column="pid", where="t.yaml")


def test_a_fixed_free_text_key_is_refused_for_study_data():
    # a key_seed lets anyone recompute the response ids from participant ids: synthetic only
    available = {"prog": (INSTRUMENT, "t.yaml")}
    group = {"id": "g", "roster": "r.csv", "file": "f.csv", "instruments": ["prog"]}
    free = {
        "questions": [{"id": "best", "label": "Best part?", "column": "best"}],
        "codebook": [{"code": "time", "label": "Time"}],
        "key_seed": 7,
    }
    trial = {"data": {}, "outcomes": [], "respondent_groups": [group], "free_text": free}
    where = {"data_dir": Path("d"), "id_column": "pid", "where": "t.yaml"}
    with pytest.raises(TrialInputError, match=r"t.yaml: free_text.key_seed: .*synthetic: true"):
        resolve_evaluation(trial, available, **where)
    trial["data"]["synthetic"] = True
    assert resolve_evaluation(trial, available, **where)["free_text"]["key_seed"] == 7


# --- free text ---------------------------------------------------------------------------

FREE = {
    "questions": [
        {"id": "best", "label": "Best part?", "column": "comment", "groups": ["mentees"]}
    ],
    "codebook": [{"code": "debrief", "label": "Debriefs"}, {"code": "other", "label": "Other"}],
}


def _exported(tmp_path):
    group = _group(tmp_path, ROWS)
    _, frame, _ = evaluation.group_answers(group, {"prog": _inst()}, ["comment"])
    key = free_text.load_key(tmp_path / "key.json", seed=None)
    answers = free_text.collect_answers(key, [group], {"mentees": frame}, FREE["questions"])
    return group, key, answers


def test_coding_sheet_has_response_ids_and_no_respondent_ids(tmp_path):
    group, key, answers = _exported(tmp_path)
    sheet = free_text.coding_sheet(answers)
    assert list(sheet.columns) == ["response_id", "group", "question", "answer", "themes"]
    assert sorted(sheet["answer"]) == ["=HYPERLINK(x)", "The night shift debriefs"]
    assert not set(sheet.to_numpy().ravel()) & {"a", "b", "c", "d", "e"}
    # the id is an HMAC of group, question and respondent under the key, not of the id alone
    assert free_text.response_id(key, "mentees", "best", "a") in set(sheet["response_id"])
    assert free_text.response_id(key, "mentees", "other", "a") not in set(sheet["response_id"])
    free_text.write_key(tmp_path / "key.json", key, answers)
    kept = json.loads((tmp_path / "key.json").read_text())
    assert {v["respondent"] for v in kept["responses"].values()} == {"a", "c"}
    assert free_text.load_key(tmp_path / "key.json", seed=None) == key  # read back, not redrawn
    free_text.write_coding_sheet(answers, tmp_path / "sheet")
    csv_text = (tmp_path / "sheet.csv").read_text()
    assert "'=HYPERLINK(x)" in csv_text  # CSV injection neutralised (trialeval.io.write_csv)
    xlsx = pd.read_excel(tmp_path / "sheet.xlsx", dtype=str)
    assert "=HYPERLINK(x)" in set(xlsx["answer"])  # text, not a formula


def _coded(tmp_path, rows: list[list[str]]) -> Path:
    path = tmp_path / "coded.csv"
    pd.DataFrame(rows, columns=["response_id", "themes"]).to_csv(path, index=False)
    return path


def test_themes_counted_by_hand(tmp_path):
    group, key, answers = _exported(tmp_path)
    a = free_text.response_id(key, "mentees", "best", "a")
    c = free_text.response_id(key, "mentees", "best", "c")
    path = _coded(tmp_path, [[a, "debrief; other"], [c, "other"]])
    coded = free_text.read_coded(path, answers, FREE["codebook"], "t.yaml")
    assert coded == {a: ["debrief", "other"], c: ["other"]}
    counts = free_text.theme_counts(answers, coded, FREE, [group]).set_index("theme")
    # 2 answered, 2 coded; debrief 1 of 2, other 2 of 2
    assert counts.loc["debrief", ["n", "coded", "answered"]].tolist() == [1, 2, 2]
    assert counts.loc["other", "n"] == 2 and counts.loc["other", "proportion"] == 1.0


def test_coded_sheet_errors_name_file_row_column_value_and_expected(tmp_path):
    group, key, answers = _exported(tmp_path)
    a = free_text.response_id(key, "mentees", "best", "a")
    path = _coded(tmp_path, [[a, "debrief"], ["Rnot-an-id", "other"]])
    with pytest.raises(TrialInputError) as error:
        free_text.read_coded(path, answers, FREE["codebook"], "t.yaml")
    assert str(error.value) == (
        f"{path}: row 3, column 'response_id': 'Rnot-an-id' is not a response id of the coding "
        "sheet; expected an id exported to coding/coding_sheet.csv"
    )
    path = _coded(tmp_path, [[a, "debrief; mentoring"]])
    with pytest.raises(TrialInputError) as error:
        free_text.read_coded(path, answers, FREE["codebook"], "t.yaml")
    assert str(error.value) == (
        f"{path}: row 2, column 'themes': 'mentoring' is not a theme code of the codebook "
        "(free_text.codebook in t.yaml); expected one of debrief, other"
    )
    path = _coded(tmp_path, [[a, "debrief"], [a, "other"]])
    with pytest.raises(TrialInputError, match=r"row 3, column 'response_id': .* also on row 2"):
        free_text.read_coded(path, answers, FREE["codebook"], "t.yaml")
    pd.DataFrame({"response_id": [a]}).to_csv(tmp_path / "bare.csv", index=False)
    with pytest.raises(TrialInputError, match=r"bare.csv: no column 'themes'"):
        free_text.read_coded(tmp_path / "bare.csv", answers, FREE["codebook"], "t.yaml")


def test_diverging_bars_put_agreeing_answers_right_and_the_middle_across_zero():
    # 5-point, agree 4-5: right 4, 5; left 2, 1 (from the centre out); 3 straddles zero
    assert sides(["1", "2", "3", "4", "5"], ["4", "5"]) == (["4", "5"], ["2", "1"], "3")
    assert sides(["0", "1"], ["1"]) == (["1"], ["0"], None)  # yes / no
    assert sides(["1", "2", "3", "4", "5"], ["5"]) == (["5"], ["4", "3", "2", "1"], None)
    assert sides(["1", "2", "3"], ["1"]) == (["1"], ["3"], "2")  # agreeing at the low end


def test_bad_coded_sheet_stops_the_dag_build_and_a_passed_check_is_stamped(tmp_path):
    """check_evaluation runs when the DAG is built: one line naming the coded sheet's row."""
    from trialeval.evaluation_config import check_evaluation

    group = _group(tmp_path, ROWS)
    free = {**FREE, "coded_sheet": str(tmp_path / "coded.csv"), "key_seed": 3}
    spec = {
        "respondent_groups": [group],
        "evaluation_instruments": {"prog": _inst()},
        "free_text": free,
        "config_file": "t.yaml",
    }
    key = free_text._demo_key(3)
    good = free_text.response_id(key, "mentees", "best", "a")
    _coded(tmp_path, [[good, "other"], [free_text.response_id(key, "mentees", "best", "b"), "x"]])
    stamps = tmp_path / "stamps"
    with pytest.raises(TrialInputError, match=r"coded.csv: row 3, column 'response_id'"):
        check_evaluation({"t": spec}, str(tmp_path / "results"), stamps)
    assert not (stamps / "t.evaluation-checked").exists()
    _coded(tmp_path, [[good, "other"]])
    check_evaluation({"t": spec}, str(tmp_path / "results"), stamps)
    assert (stamps / "t.evaluation-checked").is_file()


def test_the_bar_chart_is_byte_identical_run_to_run(tmp_path):
    from trialeval import evaluation_figures

    group = _group(tmp_path, ROWS)
    instruments = {"prog": _inst()}
    _, frame, coded = evaluation.group_answers(group, instruments, ["comment"])
    answered = evaluation.responded(frame, coded, ["comment"])
    items, answers = evaluation.summarise_group(
        group, instruments, coded, answered[answered].index, 0.05
    )
    for stem in ("one", "two"):
        evaluation_figures.run(group, instruments, items, answers, tmp_path / stem)
    for ext in ("png", "svg"):
        assert (tmp_path / f"one.{ext}").read_bytes() == (tmp_path / f"two.{ext}").read_bytes()
