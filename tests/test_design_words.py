"""Each design in its own words, and the cohort comparison's outputs for its design, read from
the files the rule entries write (docx XML, SVG text, HTML, Markdown, CSV).

A randomized trial's primary set is intention-to-treat (CONSORT's term, the only spelling);
a non-randomized design's is named by who is in it (trialeval.labels.PRIMARY_SET_WORDS) and
its people are assigned, not allocated or randomized. The cohort comparison's flow is a
survey's per cohort (surveyed -> responded -> analysed), its counts those of Table 1 and Table
2; its Table 1 describes respondents without outcome rows; its prevalence figure is the
project's 7.2 in wide with each cohort's n.

The inputs are built once per module by the library's rule entries on the demo trials, into
a temporary folder (no snakemake, nothing read from results/).
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from html import unescape
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, demo_spec, run_front_stages
from trialeval import cohort, disclosure, effects, figures, prepost, report, tables
from trialeval.config import report_items

NON_RANDOMIZED = ("mentorship_prepost", "curriculum_passfail")
# words a non-randomized design's outputs never print (word-bounded, any case)
RANDOMIZED_WORDS = re.compile(
    r"\b(intention[- ]to[- ]treat|intent[- ]to[- ]treat|ITT|allocat\w*|(?<!non-)randomi[sz]\w*)\b",
    re.I,
)


def build(spec: dict, out: Path, plan: Path | None = None) -> dict[str, Path]:
    """Every stage output the tables and figures read, then every table and figure of the
    trial written by tables.run and figures.run (through `plan` when given)."""
    paths = {
        "participants": out / "interim/participants.parquet",
        "covariate_labels": out / "interim/covariate_labels.json",
        "items": out / "interim/items.parquet",
        "scores": out / "interim/scores.parquet",
        "sets": out / "interim/analysis_sets.parquet",
        "consort": out / "consort.json",
        "effects": out / "effects.csv",
        "model_n": out / "model_n.csv",
        "means": out / "tables/adjusted_means.csv",
        "prepost_summary": out / "tables/prepost_summary.csv",
        "cohort_summary": out / "tables/cohort_summary.csv",
        "reliability": out / "tables/reliability.csv",
    }
    run_front_stages(spec, paths, out, paths["reliability"])
    data = {k: str(paths[k]) for k in ("scores", "participants", "sets")}
    modules = {
        "cohort": (cohort, ("effects", "summary", "model_n")),
        "prepost": (prepost, ("effects", "summary", "model_n")),
    }
    name = "cohort" if spec["design"] == "cohort_comparison" else "prepost"
    module, kinds = modules[name]
    files = {k: str(out / f"parts/{name}.{k}.csv") for k in kinds}
    module.run(spec, paths=data, alpha=0.05, outputs=files)
    sides = {
        "effects": paths["effects"],
        "model_n": paths["model_n"],
        "means": paths["means"],
        "diagnostics": out / "tables/model_diagnostics.csv",
        "change_scores": paths["prepost_summary"],
        "cohort_summary": paths["cohort_summary"],
    }
    effects.run(spec, {name: list(files.values())}, "holm", {k: str(v) for k, v in sides.items()})
    inputs = {k: str(v) for k, v in paths.items() if Path(v).exists()}
    if plan is not None:
        inputs["disclosure"] = str(plan)
    items = report_items(spec)
    for kind in items["tables"]:
        if kind in ("table1", "cohort_table", "missingness_table", "prepost_table"):
            tables.run(spec, kind, inputs=inputs, out_stem=str(out / "tables" / kind))
    for kind in items["figures"]:
        if kind in ("consort", "cohort_prevalence", "forest"):
            figures.run(spec, kind, inputs=inputs, out_stem=str(out / "figures" / kind))
    return paths


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("design_words")
    out = {}
    for trial in (*NON_RANDOMIZED, "coaching_rct"):
        spec = demo_spec(trial)
        if trial == "coaching_rct":  # its own words are checked in its tables only
            out[trial] = {"spec": spec, "dir": None}
            continue
        build(spec, root / trial)
        out[trial] = {"spec": spec, "dir": root / trial}
    return out


def docx_text(path: Path) -> str:
    """The visible text of a .docx: its document.xml's runs joined, tags removed."""
    with zipfile.ZipFile(path) as docx:
        xml = docx.read("word/document.xml").decode("utf-8")
    return unescape(re.sub(r"<[^>]+>", " ", xml))


def svg_text(path: Path) -> str:
    """The text matplotlib draws as paths, from the comments it writes beside each string."""
    return "\n".join(unescape(t) for t in re.findall(r"<!-- (.*?) -->", path.read_text(), re.S))


def shown_text(trial_dir: Path) -> dict[str, str]:
    """Every table (docx, html, md) and figure (svg) a reader sees, by file name."""
    texts = {}
    for path in sorted((trial_dir / "tables").glob("*")):
        if path.suffix == ".docx":
            texts[path.name] = docx_text(path)
        elif path.suffix in (".html", ".md"):
            texts[path.name] = unescape(re.sub(r"<[^>]+>", " ", path.read_text()))
    for path in sorted((trial_dir / "figures").glob("*.svg")):
        texts[path.name] = svg_text(path)
    return texts


# --------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trial, label",
    [("mentorship_prepost", "All enrolled"), ("curriculum_passfail", "All surveyed")],
)
def test_non_randomized_outputs_never_speak_of_allocation(demo, trial, label):
    texts = shown_text(demo[trial]["dir"])
    assert {"table1.docx", "table1.html", "table1.md", "consort.svg"} <= set(texts)
    for name, text in texts.items():
        found = RANDOMIZED_WORDS.findall(text)
        assert not found, f"{name}: {found}"
    joined = "\n".join(texts.values())
    # the primary set is named, in the design's words, where the outputs name it
    assert label in joined or label.lower().replace(" ", "-", 1) in joined


def test_the_prepost_study_assigns_and_names_its_set(demo):
    d = demo["mentorship_prepost"]["dir"]
    consort = svg_text(d / "figures" / "consort.svg")
    assert "Assigned to Resident mentor" in consort and "Assignment" in consort
    assert "All enrolled: every enrolled participant in the group assigned" in consort
    assert "No data at any timepoint (kept in all-enrolled set)" in consort
    md = (d / "tables" / "table1.md").read_text()
    assert "### Table 1. Baseline characteristics by group (all-enrolled set)" in md
    assert "All-enrolled set: every enrolled participant in the group assigned" in md
    missing = pd.read_csv(d / "tables" / "missingness_table.csv")
    assert (d / "tables" / "missingness_table.md").read_text().count("All-enrolled set, n") == 1
    assert set(missing["row"]) >= {"analysed"}


def test_the_participant_flow_table_of_the_report_uses_each_designs_words(demo):
    """The report's participant flow (its HTML) says allocated only for a randomized trial."""
    for trial, first, set_row in (
        ("mentorship_prepost", "Assigned", "Analysed: all-enrolled set"),
        ("curriculum_passfail", "Surveyed", "All-surveyed set"),
    ):
        spec = demo[trial]["spec"]
        consort = json.loads((demo[trial]["dir"] / "consort.json").read_text())
        rows = re.findall(r"<tr><td>([^<]*)</td>", report._consort_summary(consort, spec=spec))
        assert rows[0] == first and set_row in rows
        assert not any(RANDOMIZED_WORDS.search(unescape(r)) for r in rows), rows
    spec = demo["coaching_rct"]["spec"]
    consort = {
        "arms": {"a": "A", "b": "B"},
        "allocated": {"a": 10, "b": 9},
        "withdrawn": {"a": 0, "b": 1},
        "timepoints": {"t0": "Baseline"},
        "assessed": {"t0": {"a": 10, "b": 8}},
        "analysed": {"itt": {"a": 10, "b": 8}},
    }
    rows = re.findall(r"<tr><td>([^<]*)</td>", report._consort_summary(consort, spec=spec))
    assert rows[0] == "Allocated" and "Analysed: intention-to-treat set" in rows


def test_one_spelling_intention_to_treat_in_code_docs_and_captions():
    """CONSORT's "intention-to-treat": never "intent-to-treat" in the library, rules, report
    captions, config or README (what users read)."""
    places = [ROOT / "README.md", ROOT / "config" / "README.md", ROOT / "pyproject.toml"]
    places += list((ROOT / "workflow").rglob("*.py")) + list((ROOT / "workflow").rglob("*.smk"))
    places += list((ROOT / "workflow" / "report").rglob("*.rst"))
    wrong = [p for p in places if re.search(r"intent-to-treat", p.read_text(), re.I)]
    assert not wrong


# --------------------------------------------------------------------------------------
# The cohort comparison: flow, Table 1, prevalence figure
# --------------------------------------------------------------------------------------


def _n(text: str, label: str) -> list[int]:
    """Every count printed as "<label>: n = k" (or on the line after "<label>")."""
    pattern = rf"{re.escape(label)}(?:: |\n)n\u00a0=\u00a0([0-9,]+)"
    return [int(m.replace(",", "")) for m in re.findall(pattern, text)]


def test_cohort_flow_is_surveyed_responded_analysed_and_reconciles(demo):
    d = demo["curriculum_passfail"]["dir"]
    consort = json.loads((d / "consort.json").read_text())
    flow = svg_text(d / "figures" / "consort.svg")
    cohorts = list(consort["allocated"])
    # a survey's flow per cohort: no allocation, no follow-up, no one "kept" in a set
    for gone in ("Follow-up", "Enrolment", "kept in", "Allocated", "Intention"):
        assert gone not in flow
    for stage in ("Cohort", "Response", "Analysis"):
        assert stage in flow.splitlines()
    surveyed, responded = _n(flow, "Surveyed"), _n(flow, "Responded")
    assert surveyed == [consort["allocated"][c] for c in cohorts] == [112, 108]
    assert responded == [consort["assessed"]["survey"][c] for c in cohorts] == [85, 91]
    assert _n(flow, "Did not respond") == [27, 17]
    # surveyed = responded + did not respond + withdrew, per cohort
    withdrew = _n(flow, "Withdrew consent")
    assert [r + n + w for r, n, w in zip(responded, [27, 17], withdrew, strict=True)] == surveyed
    # response rate by hand: 85 / 112 = 75.89%, 91 / 108 = 84.26%
    assert re.findall(r"Response rate: ([0-9.]+)%", flow) == ["75.9", "84.3"]
    # analysed: Table 1's respondents (its n row) and Table 2's N of the primary outcome
    table1 = pd.read_csv(d / "tables" / "table1.csv", dtype={"group": str})
    n_row = table1[(table1["variable"] == "n") & (table1["statistic"] == "n")]
    t1 = dict(zip(n_row["group"], n_row["value"].astype(int), strict=True))
    assert [t1[c] for c in cohorts] == responded and t1["overall"] == sum(responded)
    table2 = (d / "tables" / "cohort_table.md").read_text()
    row = next(line for line in table2.splitlines() if line.startswith("| Positive depression"))
    big_n = [int(m) for m in re.findall(r"\d+/(\d+) \(", row)]
    analysed = _n(flow, "Positive depression screen (PHQ-2 ≥\u00a03)")
    assert analysed == big_n == [85, 91]
    assert flow.count("(no data: 0)") == 2  # every respondent has the screen scored
    # the adjusted model used every respondent of both cohorts (effects.csv n)
    eff = pd.read_csv(d / "effects.csv")
    odds = eff[(eff["outcome"] == "depression") & (eff["estimand"] == "adjusted_odds_ratio")]
    assert odds["n"].tolist() == [sum(analysed)]


@pytest.fixture(scope="module")
def unanswered(tmp_path_factory):
    """The curriculum trial with a copy of its exports edited: the first 2019 respondent
    left both PHQ-2 items blank (the screen unscored), the first three 2021 respondents
    their age (a covariate of the adjusted models). Built by the rule entries, as `demo`."""
    root = tmp_path_factory.mktemp("unanswered")
    raw = root / "raw"
    shutil.copytree(ROOT / "data" / "raw" / "curriculum_passfail", raw / "curriculum_passfail")
    roster = pd.read_csv(raw / "curriculum_passfail/roster.csv", dtype=str)
    survey = pd.read_csv(raw / "curriculum_passfail/survey.csv", dtype=str)
    year = dict(zip(roster["student_id"], roster["class_year"], strict=True))
    answered = list(dict.fromkeys(survey["student_id"]))
    first_2019 = next(s for s in answered if year[s] == "2019")
    no_age = [s for s in answered if year[s] == "2021"][:3]
    survey.loc[survey["student_id"] == first_2019, ["phq_1", "phq_2"]] = None
    roster.loc[roster["student_id"].isin(no_age), "age"] = None
    survey.to_csv(raw / "curriculum_passfail/survey.csv", index=False)
    roster.to_csv(raw / "curriculum_passfail/roster.csv", index=False)
    spec = demo_spec("curriculum_passfail", raw_dir=raw)
    build(spec, root / "out")
    return spec, root / "out"


def test_cohort_flow_analysed_is_the_adjusted_models_n(unanswered):
    """Table 2's N per cohort (cohort_summary.csv: every respondent with the screen scored)
    and the adjusted model's n (model_n.csv: those of them with every covariate) differ once
    a respondent leaves a covariate out: by hand 85 - 1 = 84 and 91 in Table 2, 84 and
    91 - 3 = 88 in the odds ratio's model. The flow prints the model's n, its "no data" the
    other respondents (1: unscored; 3: no age), and the odds ratio's n is their sum."""
    spec, d = unanswered
    summary = pd.read_csv(d / "tables" / "cohort_summary.csv", dtype={"cohort": str})
    depression = summary[summary["outcome"] == "depression"]
    assert dict(zip(depression["cohort"], depression["n"], strict=True)) == {
        "2019": 84,
        "2021": 91,
    }
    model_n = pd.read_csv(d / "model_n.csv", dtype={"arm": str})
    odds = model_n[
        (model_n["outcome"] == "depression") & (model_n["estimand"] == "adjusted_odds_ratio")
    ]
    assert dict(zip(odds["arm"], odds["n"], strict=True)) == {"2019": 84, "2021": 88}
    flow = svg_text(d / "figures" / "consort.svg")
    assert _n(flow, "Responded") == [85, 91]
    label = "Positive depression screen (PHQ-2 ≥\u00a03)"
    assert _n(flow, label) == [84, 88]
    assert "n\u00a0=\u00a084 (no data: 1)" in flow and "n\u00a0=\u00a088 (no data: 3)" in flow
    # the footnote (wrapped over lines) says what no data covers
    assert "to score, or a covariate not answered" in " ".join(flow.split())
    effects = pd.read_csv(d / "effects.csv")
    rows = effects[effects["outcome"] == "depression"].set_index("estimand")["n"]
    assert rows["adjusted_odds_ratio"] == 84 + 88 and rows["risk_difference"] == 84 + 91


def cohort_inputs(d: Path) -> dict[str, str]:
    """A cohort trial's results folder `d` as the disclosure and figure jobs get it (the
    files that exist)."""
    inputs = {
        "consort": d / "consort.json",
        "participants": d / "interim/participants.parquet",
        "covariate_labels": d / "interim/covariate_labels.json",
        "sets": d / "interim/analysis_sets.parquet",
        "scores": d / "interim/scores.parquet",
        "cohort_summary": d / "tables/cohort_summary.csv",
        "effects": d / "effects.csv",
        "model_n": d / "model_n.csv",
        "estimands": d / "estimands.json",
    }
    return {k: str(v) for k, v in inputs.items() if v.exists()}


def test_cohort_flow_withholds_a_small_no_data_with_a_count_that_gives_it_back(
    unanswered, tmp_path
):
    """At k = 5 the flow's no data (1 and 3) are withheld: neither prints, and of each
    cohort's responded, analysed and no data (responded = analysed + no data) not all
    print; Table 2's N (84, 91) less the model's n gives no one back a withheld count: the
    plan's audit finds every withheld count unpinned."""
    spec, d = unanswered
    spec = dict(spec, disclosure={"min_cell": 5})
    inputs = cohort_inputs(d)
    counts = disclosure.trial_counts(spec, report_items(spec)["tables"], inputs)
    plan_path = tmp_path / "disclosure.json"
    disclosure.write_plan(counts, 5, plan_path)
    plan = disclosure.load(plan_path)
    inputs["disclosure"] = str(plan_path)
    figures.run(spec, "consort", inputs=inputs, out_stem=str(tmp_path / "f"))
    flow = svg_text(tmp_path / "f.svg")
    assert "(no data:" not in flow
    assert plan.note() in " ".join(flow.split())  # said where only an analysed n is withheld
    for year, n in (("2019", 84), ("2021", 88)):
        model = disclosure.model_key("itt", "depression", year)
        assert counts.values[model] == n
        assert plan.hides(disclosure.no_data_key(model))
        shown = [
            not plan.hides(key)
            for key in (disclosure.consort_key("assessed", "survey", year), model)
        ]
        assert not all(shown), year
        # what a reader can work out of it from every printed count: not its value
        no_data = disclosure.no_data_key(model)
        low, high = disclosure.feasible_intervals(counts, plan.status, 5, [no_data])[no_data]
        assert high - low >= 1, (year, low, high)


def test_cohort_table1_describes_respondents_without_outcomes(demo):
    spec = demo["curriculum_passfail"]["spec"]
    d = demo["curriculum_passfail"]["dir"]
    md = (d / "tables" / "table1.md").read_text()
    docx = docx_text(d / "tables" / "table1.docx")
    outcome_words = ("PHQ-2", "depression", "exhaustion", "Outcome measures")
    for text in (md, docx):
        assert "Characteristics of respondents by cohort" in text
        assert not any(w.lower() in text.lower() for w in outcome_words)
    table1 = pd.read_csv(d / "tables" / "table1.csv", dtype={"group": str, "level": str})
    assert set(table1["variable"]) == {"n", "age", "gender"}
    # by hand from the raw files: respondents are the roster members with a survey row
    raw = ROOT / "data" / "raw" / "curriculum_passfail"
    roster = pd.read_csv(raw / "roster.csv", dtype={"class_year": str})
    answered = set(pd.read_csv(raw / "survey.csv")["student_id"])
    respondents = roster[roster["student_id"].isin(answered)]
    for cohort_id, people in respondents.groupby("class_year"):
        age = table1[(table1["variable"] == "age") & (table1["group"] == cohort_id)]
        stats = dict(zip(age["statistic"], age["value"], strict=True))
        # table1.csv keeps 10 significant digits: agreement to 1e-7 on values near 24 and 2
        assert abs(float(stats["mean"]) - people["age"].mean()) < 1e-7
        assert abs(float(stats["sd"]) - people["age"].std(ddof=1)) < 1e-7
        men = table1[
            (table1["variable"] == "gender")
            & (table1["group"] == cohort_id)
            & (table1["level"] == "man")
            & (table1["statistic"] == "count")
        ]
        assert int(men["value"].iloc[0]) == int((people["gender"] == "man").sum())
    # the outcomes' summaries are Table 2's alone, and one kind per outcome: scores as mean
    # (SD), the summary the adjusted mean difference beside it compares; binary outcomes n/N
    table2 = (d / "tables" / "cohort_table.md").read_text()
    assert "median" not in table2.lower()
    scores = [o for o in spec["outcomes"] if o["kind"] == "score"]
    assert table2.count(", mean (SD) |") == len(scores)  # one row label each


def test_cohort_prevalence_is_double_column_with_n_per_cohort(demo):
    d = demo["curriculum_passfail"]["dir"]
    svg = (d / "figures" / "cohort_prevalence.svg").read_text()
    width = float(re.search(r'<svg[^>]*\bwidth="([0-9.]+)pt"', svg).group(1))
    assert width == pytest.approx(figures.DOUBLE_COLUMN * 72)  # 7.2 in = 518.4 pt
    png = (d / "figures" / "cohort_prevalence.png").read_bytes()
    assert int.from_bytes(png[16:20], "big") == round(figures.DOUBLE_COLUMN * figures.DPI)
    summary = pd.read_csv(d / "tables" / "cohort_summary.csv", dtype={"cohort": str})
    text = svg_text(d / "figures" / "cohort_prevalence.svg")
    labels = {"2019": "Graded (2019)", "2021": "Pass/fail (2021)"}
    for cohort_id, label in labels.items():
        n = summary[(summary["cohort"] == cohort_id) & (summary["outcome"] == "depression")]["n"]
        assert f"{label}, n\u00a0=\u00a0{int(n.iloc[0])}" in text


def test_cohort_flow_prints_its_counts_through_the_disclosure_plan(demo, tmp_path):
    """At k = 20 the non-respondents of 2021 (17) are withheld: the flow prints "<20" and
    withholds what would give it back (its cohort's responded or surveyed count, and the
    response rate), as the plan's audit requires; Table 1's n is the same fact as the flow's
    responded count and prints as the plan says."""
    spec = dict(demo["curriculum_passfail"]["spec"], disclosure={"min_cell": 20})
    d = demo["curriculum_passfail"]["dir"]
    inputs = cohort_inputs(d)
    kinds = report_items(spec)["tables"]
    plan_path = tmp_path / "disclosure.json"
    disclosure.write_plan(disclosure.trial_counts(spec, kinds, inputs), 20, plan_path)
    plan = disclosure.load(plan_path)
    inputs["disclosure"] = str(plan_path)
    figures.run(spec, "consort", inputs=inputs, out_stem=str(tmp_path / "consort"))
    tables.run(spec, "table1", inputs=inputs, out_stem=str(tmp_path / "table1"))
    flow = svg_text(tmp_path / "consort.svg")
    assert "Did not respond: n\u00a0<\u00a020" in flow  # 17
    assert "n\u00a0=\u00a017" not in flow
    # no complete triple surveyed = responded + did not respond prints for 2021
    shown_21 = [
        not plan.hides(disclosure.consort_key(*path, "2021"))
        for path in (("allocated",), ("assessed", "survey"))
    ]
    assert not all(shown_21)
    assert "Response rate: \u2013" in flow  # a withheld count: no rate
    # Table 1's n of 2021 is the flow's responded count: both print or both are withheld
    md = (tmp_path / "table1.md").read_text()
    n_row = next(line for line in md.splitlines() if line.startswith("| Participants, n"))
    responded = plan.count(disclosure.consort_key("assessed", "survey", "2021"), 91)
    assert n_row.split("|")[3].strip() == responded
    assert ("Responded\nn\u00a0=\u00a091" in flow) == (responded == "91")
    # Table 2's N of a cohort is its respondents when all have the outcome scored: the same
    # fact, so it is withheld with them (85 printed beside a withheld "Responded" gives it back)
    tables.run(spec, "cohort_table", inputs=inputs, out_stem=str(tmp_path / "cohort_table"))
    table2 = (tmp_path / "cohort_table.md").read_text()
    row = next(line for line in table2.splitlines() if line.startswith("| Positive depression"))
    big_n = [cell.strip().split("/")[1] for cell in row.split("|")[2:4]]
    assert big_n == [
        plan.count(disclosure.consort_key("assessed", "survey", c), n)
        for c, n in (("2019", 85), ("2021", 91))
    ]
    analysed = re.findall(r"PHQ-2 ≥\u00a03\)\nn\u00a0(\S+)\u00a0(\S+)", flow)
    assert [v if m == "=" else f"{m}{v}" for m, v in analysed] == big_n
    # the cohort table's CSV: an effect whose cohorts' N are withheld keeps no n (the N summed,
    # 85 + 91 = 176, would give a withheld one back); where both N print, the n stays
    full = pd.read_csv(tmp_path / "cohort_table.csv", dtype={"cohort": str})
    for outcome, rows in full.groupby("outcome"):
        summaries = rows[rows["kind"] == "summary"].to_dict("records")
        effects = rows[rows["kind"] == "effect"]
        hidden = any(
            plan.hides(disclosure.cohort_key(r, "n"), r["n"])
            or plan.hides(disclosure.consort_key("analysed", "itt", r["cohort"]))
            for r in summaries
        )
        assert effects["n"].isna().all() == hidden, outcome
        if hidden:
            assert effects[["n_obs", "n_analysis_set"]].isna().all().all()
            assert (effects["disclosure"] == "n withheld").all()
    assert full.loc[full["kind"] == "effect", "n"].isna().any()  # the case arises at k = 20


def test_cohort_table_names_its_primary_effect_measure(demo):
    """The cohorts were not randomized: the table says the regressions on cohort (adjusted
    for the curriculum trial's covariates) are primary, in the design's own words, and the
    unadjusted risk difference and risk ratio descriptive, once, in its methods paragraph."""
    d = demo["curriculum_passfail"]["dir"]
    table2 = (d / "tables" / "cohort_table.md").read_text()
    said = (
        "Primary effect measure: for binary outcomes the odds ratio of the logistic "
        "regression and for scores the mean difference of the linear regression, adjusted "
        "for the covariates, in which the cohorts may differ. The unadjusted risk "
        "difference and risk ratio are descriptive."
    )
    assert table2.count(said) == 1
