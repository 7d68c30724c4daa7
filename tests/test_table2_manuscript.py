"""Table 2 as a manuscript prints it (editor's review): group columns that match the effect
beside them, medians with IQRs that never read as CIs, no adjusted P for primary outcomes,
the primary pre/post analysis first and named, notes in a journal's words. Each test builds
a demo trial's table with the pipeline's own entry (tables.run) and reads the written .docx
(python-docx), HTML or SVG."""

from __future__ import annotations

import re
from pathlib import Path

import docx
import pandas as pd
import pytest

from conftest import association_outputs, demo_trial, half_up, prepost_outputs
from trialeval import figures, tables
from trialeval.cohort import analysed_outcomes, cohort_effects
from trialeval.config import report_items
from trialeval.effects import adjust, order_effects
from trialeval.models import mixed_model_effects
from trialeval.prepost import prepost_effects

M, DASH = "\u2212", "\u2014"
# words of software and formulas a journal's reader should not meet in a table's notes
JARGON = ["~", "(1 |", "R:", "R's", "wilcox", "emmeans", "exp(", "se is", "LMM", "REML", "OLS"]


def members(participants, sets):
    return participants[
        participants["participant_id"].isin(sets.loc[sets["itt"], "participant_id"])
    ]


def docx_rows(path) -> tuple[list[list[str]], list[str]]:
    """(table rows as cell texts, note paragraphs after the title) of a written .docx."""
    document = docx.Document(str(path))
    (table,) = document.tables
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    notes = [p.text for p in document.paragraphs[1:] if p.text.strip()]
    return rows, notes


def number(text: str) -> float:
    return float(text.replace(M, "-"))


@pytest.fixture(scope="module")
def mentorship(tmp_path_factory):
    """The mentorship demo's effects and change summary as the prepost stage writes them, and
    its Table 2 written by tables.run."""
    spec, participants, _, scores, sets = demo_trial("mentorship_prepost")
    itt = members(participants, sets)
    effects, summary = prepost_outputs(spec, scores, itt)
    out = tmp_path_factory.mktemp("mentorship")
    effects.to_csv(out / "effects.csv", index=False)
    summary.to_csv(out / "prepost_summary.csv", index=False)
    inputs = {
        "effects": str(out / "effects.csv"),
        "prepost_summary": str(out / "prepost_summary.csv"),
    }
    tables.run(spec, "effects_table", inputs=inputs, out_stem=str(out / "effects_table"))
    return spec, effects, summary, out, (scores, sets)


def test_mentorship_group_cells_match_the_effect_beside_them(mentorship):
    """The ANCOVA row (primary analysis, first, as in the forest plot) holds each group's
    mean (SD) change and says so; the Hodges-Lehmann row (supportive) its median [IQR]; the
    printed numbers are prepost_summary's and effects.csv's, rounded to 1 decimal (MBI)."""
    spec, effects, summary, out, _ = mentorship
    rows, notes = docx_rows(out / "effects_table.docx")
    labels = [r[0].strip() for r in rows]
    at = labels.index("Personal accomplishment (MBI, 0–48)")
    ancova, shift = rows[at + 1], rows[at + 2]
    assert ancova[0].strip() == "Adjusted mean change (95% CI), primary analysis"
    assert shift[0].strip() == "Median [IQR] change; Hodges–Lehmann shift, supportive analysis"
    pa = summary[summary["outcome"] == "pa"].set_index("arm")
    # the ANCOVA's adjusted mean change per arm, checked against R 4.2.2, emmeans 1.8.4-1:
    # fit <- lm(change ~ arm + baseline + age + gender + site, d)  (PA, ITT, n = 110; arm,
    # gender, site references control, man, inst_1); coef armmentored 3.025283;
    # summary(emmeans(fit, ~ arm, weights = "proportional")): control 1.102724 (0.0585303 to
    # 2.146919), mentored 4.128007 (2.7113381 to 5.544676), SE 0.5265630 / 0.7143935, df 104
    r_values = {
        "control": (1.102724, 0.0585303, 2.146919),
        "mentored": (4.128007, 2.7113381, 5.544676),
    }
    keys = ["adjusted_change", "adjusted_change_ci_low", "adjusted_change_ci_high"]
    for arm, expected in r_values.items():
        assert pa.loc[arm, keys].astype(float).tolist() == pytest.approx(expected, abs=1e-6)
    gap = pa.loc["mentored", "adjusted_change"] - pa.loc["control", "adjusted_change"]
    ancova_effect = effects[
        (effects["outcome"] == "pa") & (effects["estimand"] == "adjusted_mean_difference")
    ]
    assert gap == pytest.approx(ancova_effect["estimate"].iloc[0], abs=1e-10)
    assert ancova[1:3] == ["4.1 (2.7 to 5.5)", "1.1 (0.1 to 2.1)"]
    for column, arm in ((1, "mentored"), (2, "control")):
        s = pa.loc[arm]
        # a median [Q1, Q3]: brackets and a comma, never "a to b" (that is a CI)
        iqr = re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", shift[column])
        assert iqr, shift[column]
        assert [number(g) for g in iqr.groups()] == pytest.approx(
            [half_up(s[k], 1) for k in ("median", "q1", "q3")], abs=1e-9
        )
    # by hand (mentorship demo, ITT): mentored change median 5, Q1 1.64, Q3 7.5
    assert shift[1] == "5.0 [1.6, 7.5]"
    # the effect column beside them: effects.csv's ANCOVA and shift (3.03 (1.25 to 4.80), 3)
    pa_effects = effects[effects["outcome"] == "pa"].set_index("estimand")
    for row, estimand in ((ancova, "adjusted_mean_difference"), (shift, "hodges_lehmann_shift")):
        found = re.fullmatch(r"(\S+) \((\S+) to (\S+)\)", row[3])
        expected = [
            half_up(pa_effects.loc[estimand, k], 1) for k in ("estimate", "ci_low", "ci_high")
        ]
        assert [number(g) for g in found.groups()] == pytest.approx(expected, abs=1e-9)
    assert rows[0][3] == "Difference or ratio, Resident mentor vs Usual supervision (95% CI)"
    text = " ".join(notes)
    assert "the primary analysis is the adjusted mean difference (analysis of covariance)" in text
    assert "median [interquartile range, IQR]" in text
    assert (
        "adjusted mean change from baseline (95% CI) from the same analysis of covariance" in text
    )


def test_mentorship_adjusted_p_is_a_dash_for_the_primary_outcome(mentorship):
    spec, effects, _, out, _ = mentorship
    rows, notes = docx_rows(out / "effects_table.docx")
    header = rows[0]
    p, adjusted = header.index("P"), header.index("Adjusted P")
    # a heading row is one merged cell (python-docx repeats its text in every column)
    measured = [r for r in rows[1:] if r[p] and r[p] != r[0]]
    assert len(measured) == len(effects) == 9
    # Table 2's order: per outcome the ANCOVA, then the shift (effects.csv has them reversed)
    order = {"adjusted_mean_difference": 0, "hodges_lehmann_shift": 1, "risk_ratio": 0}
    printed = effects.assign(_k=effects["estimand"].map(order))
    printed = pd.concat(
        g.sort_values("_k", kind="stable") for _, g in printed.groupby("outcome", sort=False)
    )
    for row, (_, effect) in zip(measured, printed.iterrows(), strict=True):
        assert row[p] == tables.format_p(effect["p_value"])
        if effect["role"] == "primary":
            assert row[adjusted] == DASH  # primary outcomes are not adjusted
        else:
            assert row[adjusted] == tables.format_p(effect["p_adjusted"])
    # PA is primary: its two rows; EE's ANCOVA P .26 Holm-adjusted with DP's .78: 2 x .26 = .53
    assert [r[adjusted] for r in measured[:2]] == [DASH, DASH]
    assert measured[2][adjusted] == ".53"
    assert any(n.startswith(f"Adjusted P: {DASH} for primary outcomes") for n in notes)


def test_mentorship_notes_are_methods_sentences_not_code(mentorship):
    _, _, _, out, _ = mentorship
    _, notes = docx_rows(out / "effects_table.docx")
    text = " ".join(notes)
    for word in JARGON:
        assert word not in text, word
    # the models said once each, in words
    assert text.count("analysis of covariance (ordinary least squares)") == 1
    assert text.count("Wilcoxon rank-sum test") == 1
    assert len(notes) <= 6


def test_the_pre_post_table_is_not_in_the_report_it_would_repeat_table_2():
    spec = demo_trial("mentorship_prepost")[0]
    assert report_items(spec)["tables"][:2] == ["table1", "effects_table"]
    assert "prepost_table" not in report_items(spec)["tables"]


@pytest.fixture(scope="module")
def coaching(tmp_path_factory):
    """The coaching demo's Table 2 for two scores (one primary) and one binary outcome, from
    the pipeline's model and prepost entries, written by tables.run."""
    spec, participants, _, scores, sets = demo_trial("coaching_rct")
    itt = members(participants, sets)
    rows, means = [], []
    for oid in ("ee", "self_compassion"):
        outcome = next(o for o in spec["outcomes"] if o["id"] == oid)
        effects, adjusted_means, _ = mixed_model_effects(
            scores[scores["outcome"] == oid], itt, spec, outcome, analysis_set="itt", site="random"
        )
        rows.append(effects)
        means.append(adjusted_means)
    binary, summary = prepost_effects(
        scores[scores["outcome"] == "high_ee"],
        itt,
        spec,
        next(o for o in spec["outcomes"] if o["id"] == "high_ee"),
        post="month4",
        analysis_set="itt",
        alpha=0.05,
        confounders=[],
    )
    rows.append(binary)
    effects = adjust(order_effects(pd.concat(rows, ignore_index=True), spec), "holm")
    out = tmp_path_factory.mktemp("coaching")
    effects.to_csv(out / "effects.csv", index=False)
    pd.concat(means, ignore_index=True).to_csv(out / "means.csv", index=False)
    summary.to_csv(out / "prepost_summary.csv", index=False)
    inputs = {k: str(out / f"{k}.csv") for k in ("effects", "means", "prepost_summary")}
    for kind in ("effects_table", "effects_supplement"):
        tables.run(spec, kind, inputs=inputs, out_stem=str(out / kind))
    return spec, effects, out


def _ci(row, decimals: int) -> str:
    return tables.format_ci(row["estimate"], row["ci_low"], row["ci_high"], decimals)


def test_coaching_rows_are_labelled_by_the_group_result(coaching):
    """Table 2: each score outcome on one row, labelled by what its group cells hold (each
    arm's model-estimated mean change) beside the difference in change, the primary effect;
    the differences are in the column whose header says "Difference"."""
    _, effects, out = coaching
    rows, _ = docx_rows(out / "effects_table.docx")
    labels = [r[0].strip() for r in rows]
    assert not any(label.startswith("Difference in") for label in labels)
    at = labels.index("Emotional exhaustion (MBI, 0–54), change from baseline")
    assert rows[0][3].startswith("Difference or ratio, Group coaching vs Control")
    # EE by hand (test_tables): coaching 1.9 (0.6 to 3.2), control 2.4 (1.0 to 3.7), -0.5
    assert rows[at][1:4] == ["1.9 (0.6 to 3.2)", "2.4 (1.0 to 3.7)", f"{M}0.5 ({M}2.4 to 1.5)"]
    # EE is primary: its adjusted P a dash; self-compassion's the Holm-adjusted P
    assert rows[at][5] == DASH
    sc = effects[(effects["outcome"] == "self_compassion")]
    sc = sc[sc["estimand"] == "diff_in_change"]
    at = labels.index("Self-compassion (SCS-SF mean, 1–5), change from baseline")
    assert rows[at][5] == tables.format_p(sc["p_adjusted"].iloc[0])


def test_table_2_has_the_primary_effects_and_table_s1_the_others(coaching):
    """The randomized trial's two score effects are no longer both in Table 2: the difference
    in change (the primary effect measure, by default) is; the difference in means at
    follow-up, from the same model, is in Table S1 with the adjusted odds ratio. Every
    effects row is in exactly one of the two tables."""
    spec, effects, out = coaching
    main, _ = docx_rows(out / "effects_table.docx")
    further, notes = docx_rows(out / "effects_supplement.docx")
    ee = effects[effects["outcome"] == "ee"].set_index("estimand")
    main_rows = {r[0].strip(): r for r in main}
    further_rows = {r[0].strip(): r for r in further}
    assert "Emotional exhaustion (MBI, 0–54), at follow-up" not in main_rows
    at_follow_up = further_rows["Emotional exhaustion (MBI, 0–54), at follow-up"]
    assert at_follow_up[3] == _ci(ee.loc["diff_in_means"], 1)
    assert main_rows["Emotional exhaustion (MBI, 0–54), change from baseline"][3] == _ci(
        ee.loc["diff_in_change"], 1
    )
    # binary: risk ratio and risk difference in Table 2, the adjusted odds ratio in S1
    odds = effects[effects["estimand"] == "adjusted_odds_ratio"].iloc[0]
    assert not any("Odds ratio" in label for label in main_rows)
    label = "High emotional exhaustion (EE ≥ 27), odds ratio (adjusted)"
    assert further_rows[label][3].startswith(_ci(odds, 2))
    assert any(label.endswith("Risk ratio (unadjusted)") for label in main_rows)
    # one row per effect across the two tables (score and binary rows, headings apart)
    effect_rows = [r for r in main[1:] + further[1:] if r[3] and r[3] != r[0]]  # not headings
    assert len(effect_rows) == len(effects)
    assert further[0][0] == "Outcome"
    text = " ".join(notes)
    assert "primary effect measure is the difference in change from baseline" in text
    assert "the difference in means is from the same model, and is supportive" in text


def test_the_trial_file_names_the_primary_effect(coaching, tmp_path):
    """analyses.estimand.effect: diff_in_means puts the difference in means in Table 2 and
    the forest plot, and the difference in change in Table S1; the note says the estimand
    states it."""
    import copy

    spec, effects, out = coaching
    spec = copy.deepcopy(spec)
    spec["analyses"]["estimand"] = {
        "population": "",
        "variable": "",
        "summary": "",
        "effect": "diff_in_means",
        "intercurrent_events": [],
    }
    inputs = {k: str(out / f"{k}.csv") for k in ("effects", "means", "prepost_summary")}
    for kind in ("effects_table", "effects_supplement"):
        tables.run(spec, kind, inputs=inputs, out_stem=str(tmp_path / kind))
    main, notes = docx_rows(tmp_path / "effects_table.docx")
    further, _ = docx_rows(tmp_path / "effects_supplement.docx")
    ee = effects[effects["outcome"] == "ee"].set_index("estimand")
    row = next(r for r in main if r[0].startswith("Emotional exhaustion"))
    assert row[0] == "Emotional exhaustion (MBI, 0–54), at follow-up"
    assert row[3] == _ci(ee.loc["diff_in_means"], 1)
    row = next(r for r in further if r[0].startswith("Emotional exhaustion"))
    assert row[0] == "Emotional exhaustion (MBI, 0–54), change from baseline"
    text = " ".join(notes)
    assert "primary effect measure is the difference in means (as the trial's estimand" in text
    assert figures.continuous_estimands(spec) == ("diff_in_means",)


def test_coaching_notes_are_few_and_say_each_thing_once(coaching):
    _, _, out = coaching
    _, notes = docx_rows(out / "effects_table.docx")
    text = " ".join(notes)
    for word in JARGON:
        assert word not in text, word
    assert len(notes) <= 6, notes  # was 12 here (17 with the full trial's lettered notes)
    assert text.count("linear mixed model") == 1
    assert text.count("95% confidence intervals") == 1
    assert text.count("primary effect measure") == 2  # the scores', the binary outcomes'
    assert text.count("Holm") == 1
    # lettered notes in one paragraph
    assert sum(n[:1] in tables.MARKERS for n in notes) <= 1


def test_curriculum_table_has_role_subheads_means_and_no_adjusted_p_for_primary(tmp_path):
    spec, participants, _, scores, sets = demo_trial("curriculum_passfail")
    itt = members(participants, sets)
    covariates = list(spec["analyses"]["cohort"]["covariates"])
    frames = [
        cohort_effects(scores, itt, spec, oid, covariates=covariates, alpha=0.05)
        for oid in analysed_outcomes(spec)
    ]
    effects = adjust(pd.concat([f[0] for f in frames], ignore_index=True), "holm")
    summary = pd.concat([f[1] for f in frames], ignore_index=True)
    effects.to_csv(tmp_path / "effects.csv", index=False)
    summary.to_csv(tmp_path / "cohort_summary.csv", index=False)
    inputs = {"effects": str(tmp_path / "effects.csv")}
    inputs["cohort_summary"] = str(tmp_path / "cohort_summary.csv")
    tables.run(spec, "cohort_table", inputs=inputs, out_stem=str(tmp_path / "cohort_table"))
    rows, notes = docx_rows(tmp_path / "cohort_table.docx")
    labels = [r[0].strip() for r in rows]
    assert labels[1] == "Primary outcome" and "Secondary outcomes" in labels
    # the sub-headings are italic (as Table 2's of the other designs)
    html = (tmp_path / "cohort_table.html").read_text()
    assert re.search(r'colspan="6" style="[^"]*font-style:italic[^"]*">Primary outcome<', html)
    # and in the .docx: one cell spanning the row, its text in italics
    document = docx.Document(str(tmp_path / "cohort_table.docx"))
    head = document.tables[0].rows[1]
    assert len({id(c._tc) for c in head.cells}) == 1
    assert all(run.italic for run in head.cells[0].paragraphs[0].runs)
    adjusted = rows[0].index("Adjusted P")
    primary = labels.index("Secondary outcomes")
    assert [r[adjusted] for r in rows[2:primary] if r[adjusted]] == [DASH] * 3
    # a score: mean (SD) per cohort beside the adjusted mean difference, not a median
    at = next(i for i, label in enumerate(labels) if label.startswith("Emotional exhaustion"))
    assert labels[at].endswith("mean (SD)")
    ee = summary[summary["outcome"] == "exhaustion"].set_index("cohort")
    cell = re.fullmatch(r"(\S+) \((\S+)\), n = (\d+)", rows[at][1])
    assert [number(g) for g in cell.groups()] == pytest.approx(
        [half_up(ee.loc["2019", "mean"], 1), half_up(ee.loc["2019", "sd"], 1), ee.loc["2019", "n"]]
    )
    text = " ".join(notes)
    for word in JARGON:
        assert word not in text, word


def test_belonging_states_its_multiplicity_and_the_forest_its_sides(tmp_path):
    spec, participants, _, scores, sets = demo_trial("belonging_survey")
    itt = members(participants, sets)
    effects, counts = association_outputs(spec, scores, itt)
    effects.to_csv(tmp_path / "effects.csv", index=False)
    counts.to_csv(tmp_path / "association_counts.csv", index=False)
    inputs = {k: str(tmp_path / f"{k}.csv") for k in ("effects", "association_counts")}
    tables.run(spec, "association_table", inputs=inputs, out_stem=str(tmp_path / "assoc"))
    _, notes = docx_rows(tmp_path / "assoc.docx")
    assert (
        "Multiplicity: Burnout is the primary outcome; the 9 odds ratios' P values are not "
        "adjusted for multiple comparisons across the 3 exposures (each in its own model) and "
        "their levels."
    ) in notes
    # the forest: under the axis which side is lower odds, as the other forests' favours line
    fig = figures.plot_odds_ratios(spec, effects, counts)
    figures.save(fig, tmp_path / "forest")
    svg = (tmp_path / "forest.svg").read_text()
    assert 'id="favours-left"' in svg and 'id="favours-right"' in svg
    assert "Lower odds of burnout" in svg and "Higher odds of burnout" in svg
    assert "not adjusted for multiplicity" in svg


def test_table_2_and_the_forest_plot_give_the_analyses_in_the_same_order(mentorship, tmp_path):
    """Per outcome the ANCOVA (primary) then the Hodges-Lehmann shift, in the .docx rows and
    in the forest plot's SVG text (drawn top to bottom in that order)."""
    spec, effects, _, out, (scores, sets) = mentorship
    rows, _ = docx_rows(out / "effects_table.docx")
    table_order = [
        "ANCOVA" if "Adjusted mean change" in r[0] else "HL"
        for r in rows
        if "Adjusted mean change" in r[0] or "Hodges–Lehmann shift," in r[0]
    ]
    assert table_order == ["ANCOVA", "HL"] * 3
    figures.save(figures.plot_forest(spec, effects, scores=scores, sets=sets), tmp_path / "forest")
    svg = (tmp_path / "forest.svg").read_text()
    marks = re.findall(r"Mean difference \(ANCOVA\)|Median shift \(Hodges–Lehmann\)", svg)
    # three outcomes, then the legend's two entries
    drawn = ["ANCOVA" if m.startswith("Mean") else "HL" for m in marks]
    assert drawn[:6] == table_order


def test_outputs_without_the_adjusted_changes_label_the_unadjusted_mean_sd(mentorship):
    """A prepost_summary written before the adjusted_change columns: the ANCOVA row shows
    each group's unadjusted mean (SD) change, and its label and the notes say so."""
    spec, effects, summary, _, _ = mentorship
    old = summary.drop(columns=[c for c in summary if c.startswith("adjusted_change")])
    full, formatted = tables.effects_table(spec, effects, None, old)
    rows = formatted.set_index(formatted["Outcome"].str.strip())
    label = "Mean (SD) change; adjusted difference, primary analysis"
    pa = rows.loc[label].iloc[0]  # PA's row: the first outcome
    s = old[(old["outcome"] == "pa") & (old["arm"] == "mentored")].iloc[0]
    # mentored PA change: mean 4.311355, SD 4.992247 -> "4.3 (5.0)"
    assert pa["Resident mentor"] == "4.3 (5.0)" == f"{s['mean']:.1f} ({s['sd']:.1f})"
    notes = " ".join(tables._group_footnotes(spec, full, pd.DataFrame(), old))
    assert "unadjusted mean (SD) change from baseline" in notes


def test_group_means_are_adjusted_only_where_the_model_adjusts():
    """A mixed model without covariates (or fixed sites) estimates each group's mean: the
    row says "model-estimated mean"; with covariates, "adjusted mean"."""
    row = {"estimand": "diff_in_means", "estimand_label": "Difference in means"}
    row.update(analysis="mixed_model", contrast_label="A vs B")
    for mixed, words in (
        ({"covariates": [], "site": "random"}, "At follow-up, model-estimated mean (95% CI)"),
        ({"covariates": ["age"]}, "At follow-up, adjusted mean (95% CI)"),
        ({"covariates": [], "site": "fixed"}, "At follow-up, adjusted mean (95% CI)"),
    ):
        spec = {"analyses": {"mixed_model": mixed}}
        assert tables._measure_label(spec, row, False, grouped=True) == words


def _shown_text(stem) -> dict[str, str]:
    """The .md, .html and .docx of a written table as a reader sees their text."""
    import html as html_module
    import zipfile

    with zipfile.ZipFile(f"{stem}.docx") as z:
        xml = z.read("word/document.xml").decode("utf-8")
    page = open(f"{stem}.html", encoding="utf-8").read()
    return {
        "md": open(f"{stem}.md", encoding="utf-8").read(),
        "html": html_module.unescape(re.sub(r"<[^>]+>", "", page)),
        "docx": html_module.unescape(re.sub(r"<[^>]+>", "", xml)),
    }


def test_tables_write_the_runs_confidence_level(coaching, mentorship, tmp_path):
    """At alpha 0.1 the builders write "90% CI" themselves (labels.ci_level): the effect
    column's header, the group rows' labels, the notes, in every format; no "95%" anywhere.
    (The words only: the intervals are the fixtures', computed at 0.05.)"""
    import copy

    for name, (spec, out), kinds in (
        ("coaching", (coaching[0], coaching[2]), ("effects_table", "effects_supplement")),
        ("mentorship", (mentorship[0], mentorship[3]), ("effects_table",)),
    ):
        spec = copy.deepcopy(spec)
        spec["alpha"] = 0.1
        inputs = {k: str(out / f"{k}.csv") for k in ("effects", "means", "prepost_summary")}
        inputs = {k: v for k, v in inputs.items() if Path(v).is_file()}
        for kind in kinds:
            full, formatted, title, footnote = tables.build(spec, kind, inputs)
            header = [c for c in formatted.columns if "CI)" in c]
            assert header and all(c.endswith("(90% CI)") for c in header), (name, header)
            assert "Estimates with 90% confidence intervals (CI)." in footnote
            stem = tmp_path / f"{name}_{kind}"
            tables.run(spec, kind, inputs=inputs, out_stem=str(stem))
            for ext, text in _shown_text(stem).items():
                assert "95%" not in text, (name, kind, ext)
                assert "90% CI" in text, (name, kind, ext)
        if name == "coaching":  # the group columns' note, in the words of the level
            assert (
                "each group's model-estimated mean change from baseline to follow-up (90% CI)"
                in (_shown_text(tmp_path / "coaching_effects_table")["md"])
            )
        else:  # the ANCOVA's group row and its note
            md = _shown_text(tmp_path / "mentorship_effects_table")["md"]
            assert "Adjusted mean change (90% CI), primary analysis" in md
            assert "adjusted mean change from baseline (90% CI) from the same analysis" in md
