"""Wording a manuscript can carry unchanged (editor's review, issue 16): the evaluation tables'
scale and what counts as agreeing; a category's registry `definition`, printed once; how
success across several primary comparisons is decided (analyses.multiplicity.primary); one
decimals rule for Table 2 and the forest plot. Each test writes the output with the
pipeline's own entry and reads the written file (.docx notes, table cells, SVG, HTML)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import docx
import pandas as pd
import pytest

from conftest import association_outputs, demo_trial
from trialeval import evaluation, figures, tables
from trialeval.effects import adjust, adjust_trial, order_effects
from trialeval.evaluation_config import resolve_evaluation_instrument
from trialeval.evaluation_tables import item_table
from trialeval.labels import resolution_decimals, score_decimals
from trialeval.models import mixed_model_effects
from trialeval.report import _design_summary

DASH = "\u2014"
BURNOUT = (
    "Burnout: emotional exhaustion (item 8) or depersonalization (item 10) at least weekly "
    "(an answer of 4, once a week, or more on the 0–6 scale)."
)


def docx_rows(path) -> tuple[list[list[str]], list[str]]:
    """(table rows as cell texts, note paragraphs after the title) of a written .docx."""
    document = docx.Document(str(path))
    (table,) = document.tables
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    return rows, [p.text for p in document.paragraphs[1:] if p.text.strip()]


def members(participants, sets):
    return participants[
        participants["participant_id"].isin(sets.loc[sets["itt"], "participant_id"])
    ]


# --- 1. evaluation tables: the scale and what counts as agreeing ---------------------------

LIKERT = {1: "Strongly disagree", 2: "Disagree", 3: "Neutral", 4: "Agree", 5: "Strongly agree"}
INSTRUMENTS = {
    "prog": {
        "label": "Programme evaluation",
        "evaluation": True,
        "items": ["helped"],
        "item_prefix": "ev_",
        "item_range": [1, 5],
        "levels": LIKERT,
        "agree": [4, 5],
        "item_labels": {"helped": "The programme helped me"},
    },
    "again": {
        "label": "Mentoring again",
        "evaluation": True,
        "items": ["again"],
        "item_prefix": "ev_",
        "item_range": [0, 1],
        "levels": {0: "No", 1: "Yes"},
        "agree": [1],
    },
}


def _evaluation_table(tmp_path: Path, asked: list[str]) -> tuple[list, list]:
    """A group of four invited (a..d), three answering: helped 4, 2, 5; again 1, 0, 1. Its
    items table written by tables.write_table, as rule evaluation_<trial> writes it."""
    pd.DataFrame({"pid": list("abcd")}).to_csv(tmp_path / "roster.csv", index=False)
    answers = [["a", "4", "1"], ["b", "2", "0"], ["c", "5", "1"]]
    frame = pd.DataFrame(answers, columns=["pid", "ev_helped", "ev_again"])
    frame.to_csv(tmp_path / "answers.csv", index=False)
    group = {
        "id": "mentors",
        "label": "Mentors",
        "id_column": "pid",
        "roster": str(tmp_path / "roster.csv"),
        "file": str(tmp_path / "answers.csv"),
        "instruments": asked,
        "missing_codes": [],
        "questions": [],
    }
    resolved = {k: resolve_evaluation_instrument(k, INSTRUMENTS[k], "x.yaml") for k in asked}
    roster, answered_frame, coded = evaluation.group_answers(group, resolved, [])
    answered = evaluation.responded(answered_frame, coded, [])
    rate = evaluation.response_rate(group, roster, answered)
    items, levels = evaluation.summarise_group(
        group, resolved, coded, answered[answered].index, 0.05
    )
    full, formatted, title, note = item_table(group, resolved, items, levels, rate, 3)
    tables.write_table(full, formatted, tmp_path / "evaluation", title=title, footnote=note)
    return docx_rows(tmp_path / "evaluation.docx")


def test_the_evaluation_note_states_the_scale_and_what_counts_as_agreeing(tmp_path):
    rows, notes = _evaluation_table(tmp_path, ["prog"])
    assert rows[0][:3] == ["Item", "N answered", "Agreeing, n/N (%)"]
    # helped: 4, 2, 5 -> 2 of 3 agreeing (codes 4 and 5), 66.7%
    assert rows[2][1:3] == ["3", "2/3 (66.7)"]
    assert notes[0] == (
        "Mentors: 4 invited, 3 responded (75.0%). N answered: respondents who answered the "
        "item. Agreeing: 4 or 5 on a 1 (strongly disagree) to 5 (strongly agree) scale."
    )


def test_a_group_asked_two_scales_has_each_named(tmp_path):
    rows, notes = _evaluation_table(tmp_path, ["prog", "again"])
    # again: 1, 0, 1 -> 2 of 3 agreeing (code 1, Yes)
    assert rows[-1][1:3] == ["3", "2/3 (66.7)"]
    assert notes[0].endswith(
        "Agreeing: 4 or 5 on a 1 (strongly disagree) to 5 (strongly agree) scale (Programme "
        "evaluation); 1 on a 0 (no) to 1 (yes) scale (Mentoring again)."
    )


# --- 2. a category's definition, printed once -------------------------------------------


@pytest.fixture(scope="module")
def belonging(tmp_path_factory):
    """The belonging survey (primary outcome: the two-item MBI's burnout category): its
    association table and Table 1 written by tables.run, with and without the registry's
    definition."""
    spec, participants, _, scores, sets = demo_trial("belonging_survey")
    effects, counts = association_outputs(spec, scores, members(participants, sets))
    out = tmp_path_factory.mktemp("belonging")
    effects.to_csv(out / "effects.csv", index=False)
    counts.to_csv(out / "association_counts.csv", index=False)
    participants.to_parquet(out / "participants.parquet")
    sets.to_parquet(out / "sets.parquet")
    scores.to_parquet(out / "scores.parquet")
    inputs = {
        "effects": str(out / "effects.csv"),
        "association_counts": str(out / "association_counts.csv"),
        "participants": str(out / "participants.parquet"),
        "sets": str(out / "sets.parquet"),
        "scores": str(out / "scores.parquet"),
    }
    bare = copy.deepcopy(spec)
    bare["instruments"]["mbi_2item"]["categories"]["burnout"]["definition"] = None
    for name, chosen in (("defined", spec), ("bare", bare)):
        for kind in ("association_table", "table1"):
            stem = out / f"{name}_{kind}"
            tables.run(chosen, kind, inputs=inputs, out_stem=str(stem))
    return spec, bare, effects, out


@pytest.mark.parametrize("kind", ["association_table", "table1"])
def test_the_burnout_definition_is_printed_once_in_each_table(belonging, kind):
    _, _, _, out = belonging
    _, notes = docx_rows(out / f"defined_{kind}.docx")
    assert notes.count(BURNOUT) == 1
    assert sum("at least weekly" in n for n in notes) == 1
    # without a definition: the same notes, nothing in its place
    _, bare = docx_rows(out / f"bare_{kind}.docx")
    assert bare == [n for n in notes if n != BURNOUT]


def test_the_report_prints_the_definition_once_above_the_figures(belonging):
    spec, bare, effects, _ = belonging
    summary = _design_summary(spec, effects)
    assert summary.count("at least weekly") == 1
    assert f"<dt>Definitions</dt><dd>{BURNOUT}</dd>" in summary
    assert "Definitions" not in _design_summary(bare, effects)


def test_a_category_without_a_definition_prints_nothing():
    spec = demo_trial("coaching_rct")[0]
    assert tables.category_definitions(spec, ["high_ee", "ee", "not_an_outcome"]) == ""


# --- 3. multiplicity across primary comparisons -------------------------------------------


@pytest.fixture(scope="module")
def coaching_fits():
    """The coaching demo's two primary scores (EE, DP) and one secondary (self-compassion),
    fitted by the pipeline's mixed-model entry on the intention-to-treat set."""
    spec, participants, _, scores, sets = demo_trial("coaching_rct")
    itt = members(participants, sets)
    rows, means = [], []
    for oid in ("ee", "dp", "self_compassion"):
        outcome = next(o for o in spec["outcomes"] if o["id"] == oid)
        effects, adjusted_means, _ = mixed_model_effects(
            scores[scores["outcome"] == oid], itt, spec, outcome, analysis_set="itt", site="random"
        )
        rows.append(effects)
        means.append(adjusted_means)
    effects = pd.concat(rows, ignore_index=True).assign(analysis_name="primary")  # effects.run
    return spec, order_effects(effects, spec), pd.concat(means, ignore_index=True), (scores, sets)


def _table2(tmp_path: Path, spec: dict, effects: pd.DataFrame, means: pd.DataFrame):
    """(rows, notes) of Table 2 written by tables.run from these effects."""
    effects.to_csv(tmp_path / "effects.csv", index=False)
    means.to_csv(tmp_path / "means.csv", index=False)
    inputs = {k: str(tmp_path / f"{k}.csv") for k in ("effects", "means")}
    tables.run(spec, "effects_table", inputs=inputs, out_stem=str(tmp_path / "effects_table"))
    return docx_rows(tmp_path / "effects_table.docx")


def _with_rule(spec: dict, rule: str | None) -> dict:
    spec = copy.deepcopy(spec)
    spec["analyses"]["multiplicity"] = {"primary": rule}
    return spec


ALL = (
    "The trial succeeds only if every primary comparison is significant at α = 0.05 "
    "(intersection–union test), so P values for primary outcomes are not adjusted."
)
ANY_HOLM = (
    "The trial succeeds if any primary comparison is significant at α = 0.05, so P values for "
    "primary outcomes are adjusted across the primary outcomes and arms by Holm's method, "
    "which controls the familywise error rate."
)
UNSTATED = (
    "How multiplicity across primary comparisons is handled is not stated in the configuration."
)


def test_the_demo_states_all_and_table_2_names_the_intersection_union_test(coaching_fits, tmp_path):
    spec, effects, means, _ = coaching_fits
    assert spec["analyses"]["multiplicity"] == {"primary": "all"}  # coaching_rct.yaml
    effects = adjust(effects, "holm", "all")
    rows, notes = _table2(tmp_path, spec, effects, means)
    assert notes.count(ALL) == 1 and UNSTATED not in notes
    assert "for primary outcomes, which are not adjusted for multiplicity" in " ".join(notes)
    adjusted = rows[0].index("Adjusted P")
    labels = [r[0] for r in rows]
    start, end = labels.index("Primary outcomes"), labels.index("Secondary outcome")
    primary = [r[adjusted] for r in rows[start + 1 : end] if r[adjusted]]
    assert primary == [DASH] * 2  # EE's and DP's difference in change: not adjusted
    summary = _design_summary(spec, effects)
    assert f"<dt>Multiplicity</dt><dd>{ALL}</dd>" in summary


def test_any_adjusts_the_primary_p_values_by_holm_and_says_so(coaching_fits, tmp_path):
    spec, effects, means, _ = coaching_fits
    spec = _with_rule(spec, "any")
    adjusted = adjust_trial(effects, spec, "holm")
    rows, notes = _table2(tmp_path, spec, adjusted, means)
    assert notes.count(ANY_HOLM) == 1
    assert (
        "Adjusted P: primary outcomes' P values are adjusted by Holm's method across the "
        "primary outcomes and arms (the outcomes' primary effect measures together, each "
        "supportive measure among its own), within each visit and analysis set; "
        "secondary outcomes' P values are adjusted by Holm's method"
    ) in " ".join(notes)
    # Holm by hand over EE's and DP's difference in change at month 4: the smaller P times
    # 2, the larger max(that, itself)
    change = adjusted[(adjusted["estimand"] == "diff_in_change") & (adjusted["role"] == "primary")]
    p = change.set_index("outcome")["p_value"]
    low, high = sorted(p)
    expected = {o: min(1, 2 * low) if p[o] == low else max(min(1, 2 * low), high) for o in p.index}
    got = change.set_index("outcome")["p_adjusted"]
    assert got.to_dict() == pytest.approx(expected, rel=1e-12)
    column = rows[0].index("Adjusted P")
    for oid, label in (("ee", "Emotional exhaustion"), ("dp", "Depersonalization")):
        at = next(i for i, r in enumerate(rows) if r[0].startswith(label))
        assert tables.format_p(expected[oid]) in [r[column] for r in rows[at : at + 3]]


def test_no_rule_with_two_primary_comparisons_says_it_is_not_stated(coaching_fits, tmp_path):
    spec, effects, means, _ = coaching_fits
    spec = _with_rule(spec, None)
    _, notes = _table2(tmp_path, spec, adjust(effects, "holm"), means)
    assert notes.count(UNSTATED) == 1 and ALL not in notes


def test_one_primary_comparison_says_nothing(coaching_fits, tmp_path):
    spec, effects, means, _ = coaching_fits
    spec = _with_rule(spec, None)
    one = effects[effects["outcome"] != "dp"]
    _, notes = _table2(tmp_path, spec, adjust(one, "holm"), means[means["outcome"] != "dp"])
    text = " ".join(notes)
    assert "primary comparison" not in text and "intersection" not in text
    assert "Multiplicity" not in _design_summary(spec, one)


# --- 4. decimals from the scale, alike in Table 2 and the forest plot ------------------------


def test_score_decimals_are_one_more_than_the_resolution_capped_at_two():
    assert [resolution_decimals(r) for r in (1, 5, 0.5, 0.2, 0.1, 0.25, 1 / 12)] == [
        0,
        0,
        1,
        1,
        1,
        2,
        3,
    ]
    spec = demo_trial("coaching_rct")[0]
    inst = spec["instruments"]
    assert score_decimals(inst["mbi"], "ee") == 1  # a 0-54 sum of whole-number items
    assert score_decimals(inst["scs_sf"], "total") == 2  # the mean of 12 items: 1/12
    five = {"item_range": [1, 5], "subscales": {"m": {"items": list("abcde"), "scoring": "mean"}}}
    assert score_decimals(five, "m") == 2  # the mean of five 1-5 items: resolution 0.2
    one = {"item_range": [1, 4], "subscales": {"s": {"items": ["x"], "scoring": "mean"}}}
    assert score_decimals(one, "s") == 1  # a single 1-4 item


def test_table_2_and_the_forest_print_the_same_estimate_alike(coaching_fits, tmp_path):
    spec, effects, means, (scores, sets) = coaching_fits
    effects = adjust(effects, "holm", "all")
    rows, _ = _table2(tmp_path, spec, effects, means)
    figures.save(figures.plot_forest(spec, effects, scores=scores, sets=sets), tmp_path / "forest")
    svg = (tmp_path / "forest.svg").read_text()
    change = effects[effects["estimand"] == "diff_in_change"]
    for _, row in change.iterrows():
        decimals = tables.estimate_decimals(spec, row["outcome"], row["estimand"])
        text = tables.format_ci(row["estimate"], row["ci_low"], row["ci_high"], decimals)
        # EE and DP in whole points (1 decimal), self-compassion a mean of 12 items (2)
        assert decimals == (2 if row["outcome"] == "self_compassion" else 1)
        assert re.search(rf"\d\.\d{{{decimals}}} \(", text)
        assert any(text in cell for r in rows for cell in r), text
        assert text in svg, text


def test_with_any_the_multi_arm_note_speaks_of_secondary_outcomes_only():
    """Three arms: under `any` the primary outcomes' comparisons are adjusted across arms, so
    the multiple-arms note (nothing adjusted across arms) is about secondary outcomes alone,
    and says nothing when every outcome is primary."""
    spec = _with_rule(demo_trial("coaching_rct")[0], "any")
    spec["arms"] = [*spec["arms"], {"id": "peer", "label": "Peer support", "control": False}]
    contrasts = ["coaching - control", "peer - control"]
    rows = pd.DataFrame(
        {"analysis": "mixed_model", "contrast": contrasts * 2, "role": ["primary"] * 4}
    )
    assert tables.multi_arm_rule(spec, rows) == ""
    rows.loc[2:, "role"] = "secondary"
    assert tables.multi_arm_rule(spec, rows).startswith(
        "Multiple arms: secondary outcomes' comparisons ("
    )
    spec["analyses"]["multiplicity"]["primary"] = "all"
    assert tables.multi_arm_rule(spec, rows).startswith("Multiple arms: the comparisons (")
