"""The configuration matrix, end to end: every option the schemas accept, on small seeded
trials (tests/config_matrix.py), through the whole DAG in one Snakemake call, plus one call per
other level of the global options. Checks: every job succeeds, the report has every trial, the
CONSORT counts reconcile with every model's n and with Table 1, and every effect that could not
be estimated says why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from config_matrix import (
    AGE_LABEL,
    RCT_FACTORS,
    RCT_ROWS,
    SPSS_GENDER_LABEL,
    SPSS_NOT_SAID_ROWS,
    all_cells,
    redcap_people_source,
    uncovered_pairs,
)
from conftest import ROOT
from trialeval.io import set_column

SCHEMAS = ROOT / "workflow" / "schemas"
CELLS = all_cells()
# The global options' levels: the main call (every cell), one more small call, and the demo's
# config/config.yaml (multiplicity holm), which tests/test_pipeline.py runs end to end.
GLOBAL_RUNS = {
    "main": {"alpha": 0.05, "multiplicity": "fdr_bh", "trials": [c.id for c in CELLS]},
    # with disclosure control (k = 5): the plan job, and every table, figure and report
    # printing through it (tests/test_disclosure.py checks what they print)
    "none": {
        "alpha": 0.01,
        "multiplicity": "none",
        "trials": ["rct_9"],
        "disclosure": {"min_cell": 5},
    },
}
DEMO_CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def _snakemake(workdir: Path, config: Path, *targets: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            *targets,
            "--cores",
            "2",
            "--keep-going",
            # Each scheduling round Snakemake sizes every input of every ready job (hundreds
            # here); measured, that kept its own process busy for ~100 s CPU of a ~400 s run.
            # Choosing among 4 ready jobs and greedily (no ILP solver process) is enough for 2
            # cores: jobs are independent, outputs do not depend on the order.
            "--scheduler",
            "greedy",
            "--scheduler-subsample",
            "4",
            "--configfile",
            str(config),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=1800,  # a hung run fails; a machine under load may need more than 15 min
    )


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """Every cell written to a copy of the project and run; {run name: (config, process)}."""
    root = tmp_path_factory.mktemp("matrix")
    shutil.copy(ROOT / "Snakefile", root / "Snakefile")
    shutil.copytree(
        ROOT / "workflow", root / "workflow", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "config" / "trials").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "instruments.yaml", root / "config" / "instruments.yaml")
    shutil.copy(ROOT / "config" / "config.yaml", root / "config" / "config.yaml")
    for cell in CELLS:
        cell.write(root)
    runs = {}
    for name, options in GLOBAL_RUNS.items():
        config = {**options, "results_dir": f"results_{name}"}
        path = root / f"config_{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        targets = ["all", "power"] if name == "main" else ["all"]
        runs[name] = (config, _snakemake(root, path, *targets))
    return root, runs


def _failures(process: subprocess.CompletedProcess) -> str:
    rules = sorted(set(re.findall(r"Error in rule (\S+):", process.stderr)))
    return f"failed rules {rules}\n{process.stderr[-4000:]}"


def test_rct_rows_cover_every_pair_of_levels():
    assert uncovered_pairs(RCT_ROWS, RCT_FACTORS) == []


def test_every_job_succeeds(matrix):
    _, runs = matrix
    for name, (_, process) in runs.items():
        assert process.returncode == 0, f"{name}: {_failures(process)}"


def test_report_has_a_section_per_trial(matrix):
    root, runs = matrix
    for config, _ in runs.values():
        report = (root / config["results_dir"] / "report.html").read_text()
        for trial in config["trials"]:
            title = next(c.trial["title"] for c in CELLS if c.id == trial)
            assert title.split(":")[0] in report, trial


def _results(root: Path, trial: str) -> Path:
    return root / "results_main" / trial


def _set_size(consort: dict, analysis_set: str, outcome: str) -> int:
    """The set's size as consort.json reports it (complete case: per outcome)."""
    by_outcome = consort["analysed_by_outcome"].get(analysis_set, {})
    counts = by_outcome.get(outcome, consort["analysed"][analysis_set])
    return sum(counts.values())


def _flow_counts_reconcile(cell, consort: dict, people: pd.DataFrame) -> None:
    """The `flow` block's counts: assessed = enrolled + excluded; received + not received =
    allocated in each delivering arm (counted here from the participants file); withdrawn and
    not assessed at the last visit = the sums of their reasons."""
    flow = cell.trial["flow"]
    screening = consort["eligibility"]
    assert screening["assessed"] == consort["enrolled"] + screening["excluded"]
    assert screening["excluded_reasons"] == flow["excluded"]
    arms = flow["received"].get("arms") or [a["id"] for a in cell.trial["arms"][1:]]
    assert list(consort["received"]) == arms
    column = cell.trial["data"]["arm_column"]
    for arm in arms:
        mine = people[people[column] == arm]
        got = int((mine[flow["received"]["column"]] >= flow["received"]["at_least"]).sum())
        assert consort["received"][arm] == got
        assert got + consort["not_received"][arm] == consort["allocated"][arm]
    if "reason_column" not in flow:
        return
    last = cell.trial["timepoints"][-1]["id"]
    for arm in consort["allocated"]:
        withdrawn = consort["withdrawn_reasons"].values()
        assert sum(c[arm] for c in withdrawn) == consort["withdrawn"][arm]
        lost = consort["not_assessed_reasons"][last].values()
        assert sum(c[arm] for c in lost) == consort["not_assessed"][last][arm]


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_counts_reconcile(matrix, cell):
    """consort.json: allocated = withdrawn + itt; every model's n_analysis_set is its set's size
    and its n the set's participants the model can use; Table 1's n is the itt set (a cohort
    comparison's: each cohort's respondents)."""
    root, _ = matrix
    results = _results(root, cell.id)
    consort = json.loads((results / "consort.json").read_text())
    source = cell.trial["data"]["participants"]
    people = cell.files[source["path"] if isinstance(source, dict) else source]
    if "redcap_event_name" in people:  # a REDCap export: a row per record x event
        people = people.drop_duplicates(cell.trial["data"]["id_column"])
    assert consort["enrolled"] == len(people)
    for arm, n in consort["allocated"].items():
        assert n == consort["withdrawn"][arm] + consort["analysed"]["itt"][arm] + (
            consort["not_assessed"][consort_timepoint(cell)][arm]
            if cell.trial["design"] == "cross_sectional"
            else 0
        )

    if "flow" in cell.trial:
        _flow_counts_reconcile(cell, consort, people)

    effects = pd.read_csv(results / "effects.csv")
    assert not effects.empty
    sets = pd.read_parquet(results / "interim" / "analysis_sets.parquet")
    scores = pd.read_csv(results / "scores.csv", dtype={"participant_id": str})
    baseline = next(t["id"] for t in cell.trial["timepoints"] if t.get("baseline"))
    setting_aside = _analyses_setting_aside(cell)
    for row in effects.itertuples():
        assert row.n_analysis_set == _set_size(consort, row.analysis_set, row.outcome), row
        assert row.n <= row.n_analysis_set, row
        if row.analysis_name in setting_aside:
            continue  # its scores are not scores.csv's: test_estimands_reconcile_with_models
        flag = set_column(row.analysis_set, row.outcome)
        members = set(sets.loc[sets[flag], "participant_id"])
        assert len(members) == row.n_analysis_set, row
        observed = scores[
            (scores["outcome"] == row.outcome)
            & scores["score"].notna()
            & scores["participant_id"].isin(members)
        ]
        if row.analysis in ("mixed_model", "clda"):  # every visit: anyone with a score
            assert row.n == observed["participant_id"].nunique(), row
        elif row.analysis in ("ancova", "mmrm"):  # a baseline and at least one post score
            at_baseline = set(observed.loc[observed["timepoint"] == baseline, "participant_id"])
            later = set(observed.loc[observed["timepoint"] != baseline, "participant_id"])
            assert row.n == len(at_baseline & later), row

    table1 = pd.read_csv(results / "tables" / "table1.csv", dtype={"group": str})
    n_row = table1[(table1["variable"] == "n") & (table1["group"] != "overall")]
    itt = consort["analysed"]["itt"]
    if cell.trial["design"] == "cohort_comparison":  # Table 1 describes the respondents
        itt = consort["assessed"][consort_timepoint(cell)]
    for group, value in zip(n_row["group"], n_row["value"], strict=True):
        if group in itt:
            assert int(value) == itt[group], (group, value)


def test_redcap_participant_fields_read_to_the_csv_trials_tables(tmp_path):
    """export_redcap_people (one REDCap export: allocation on the baseline event, disposition
    on a study-exit event, an event schedule per REDCap arm) reads to the same participants
    and items as the CSV trial it holds, so its effects are that trial's; the dictionary
    labels age, which the trial file does not."""
    from trialeval import ingest
    from trialeval.config import load_trials

    source = redcap_people_source()
    cell = next(c for c in CELLS if c.id == "export_redcap_people")
    for each in (source, cell):
        each.write(tmp_path)
    config = {
        "trials": [source.id, cell.id],
        "trials_dir": str(tmp_path / "config" / "trials"),
        "instruments": str(ROOT / "config" / "instruments.yaml"),
        "raw_dir": str(tmp_path / "data" / "raw"),
        "results_dir": str(tmp_path / "results"),
    }
    specs = load_trials(config, SCHEMAS)
    want_people, want_items = ingest.ingest(specs[source.id])
    labels: dict = {}
    people, items = ingest.ingest(specs[cell.id], labels=labels)
    pd.testing.assert_frame_equal(people, want_people)
    pd.testing.assert_frame_equal(items, want_items)
    assert people["withdrawn"].sum() == 1  # the flag is on the study-exit event only
    assert labels == {"age": AGE_LABEL}


def _table1_rows(root: Path, trial: str) -> pd.DataFrame:
    return pd.read_csv(_results(root, trial) / "tables" / "table1.csv", dtype={"level": str})


def _table1_text(root: Path, trial: str) -> str:
    """Table 1 as printed (Markdown): its row labels."""
    return (_results(root, trial) / "tables" / "table1.md").read_text()


def test_participants_from_survey_tool_files_reach_consort_and_table1(matrix):
    """REDCap fields of the export: the withdrawal on its own event counted in consort.json,
    age labelled by the dictionary (HTML removed), gender by the trial file (which wins over
    the dictionary's "Gender identity"). SPSS: gender labelled by its variable label, its
    user-missing "prefer not to say" counted missing in Table 1, never a level."""
    root, _ = matrix
    consort = json.loads((_results(root, "export_redcap_people") / "consort.json").read_text())
    source = redcap_people_source().files["participants.csv"]
    withdrawn = source.loc[source["withdrew"] == "yes", "arm"].value_counts().to_dict()
    assert {a: n for a, n in consort["withdrawn"].items() if n} == withdrawn
    shown = _table1_text(root, "export_redcap_people")
    assert "| Gender, n (%) |" in shown and f"| {AGE_LABEL}, mean (SD) |" in shown
    assert "Gender identity" not in shown

    assert f"| {SPSS_GENDER_LABEL}, n (%) |" in _table1_text(root, "export_spss")
    table1 = _table1_rows(root, "export_spss")
    gender = table1[table1["variable"] == "gender"]
    assert set(gender["level"].dropna()) == {"F", "M", "NB", "missing"}
    missing = gender[(gender["characteristic"] == "Missing") & (gender["group"] == "overall")]
    assert missing["value"].tolist() == [len(SPSS_NOT_SAID_ROWS)]


def consort_timepoint(cell) -> str:
    return cell.trial["timepoints"][0]["id"]


def _analyses_setting_aside(cell) -> set[str]:
    """Names of the analyses whose estimand changes the data (a strategy other than treatment
    policy): their models do not see scores.csv as it is."""
    analyses = cell.trial.get("analyses", {})
    named = [("primary", analyses.get("estimand"))] + [
        (a["name"], a.get("estimand")) for a in analyses.get("sensitivity", [])
    ]
    return {
        name
        for name, estimand in named
        if any(
            e["strategy"] != "treatment_policy"
            for e in (estimand or {}).get("intercurrent_events", [])
        )
    }


SENSITIVITY_CELLS = [c for c in CELLS if c.trial.get("analyses", {}).get("sensitivity")]


@pytest.mark.parametrize("cell", SENSITIVITY_CELLS, ids=lambda c: c.id)
def test_estimands_reconcile_with_models(matrix, cell):
    """Every named analysis is in effects.csv; a hypothetical or while-on-treatment mixed
    model on the itt set has the primary's observations less those estimands.json says its
    strategy set aside; composite adds to the risk ratio's n exactly the failures it added."""
    results = _results(matrix[0], cell.id)
    effects = pd.read_csv(results / "effects.csv")
    estimands = json.loads((results / "estimands.json").read_text())
    names = ["primary", *(a["name"] for a in cell.trial["analyses"]["sensitivity"])]
    assert list(dict.fromkeys(effects["analysis_name"])) == names
    assert [k for k in estimands if k != "definitions"] == names
    primary = effects[(effects["analysis_name"] == "primary") & (effects["analysis_set"] == "itt")]
    for analysis in cell.trial["analyses"]["sensitivity"]:
        rows = effects[
            (effects["analysis_name"] == analysis["name"]) & (effects["analysis_set"] == "itt")
        ]
        for event in estimands[analysis["name"]]["intercurrent_events"]:
            if not any(event["participants"].values()):  # an event column without events
                assert not any(
                    n
                    for a in event["observations"].values()
                    for c in a.values()
                    for n in c.values()
                )
            for outcome, actions in event["observations"].items():
                mine, theirs = (
                    rows[rows["outcome"] == outcome],
                    primary[primary["outcome"] == outcome],
                )
                if not len(mine) or mine["analysis"].iloc[0] != theirs["analysis"].iloc[0]:
                    continue  # another model: other rows
                for action, counts in actions.items():
                    if (
                        action in ("set_missing", "excluded")
                        and mine["analysis"].iloc[0] == "mixed_model"
                        and not analysis.get("imputation")  # n_obs: of a completed data set
                    ):
                        assert theirs["n_obs"].iloc[0] - mine["n_obs"].iloc[0] == sum(
                            counts.values()
                        )
                    if action == "added_as_failure":  # last visit: everyone after an event
                        last = mine["timepoint"].iloc[-1]
                        gained = (
                            mine.loc[mine["timepoint"] == last, "n"].iloc[0]
                            - theirs.loc[theirs["timepoint"] == last, "n"].iloc[0]
                        )
                        assert 0 < gained <= sum(counts.values())


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_every_effect_is_estimated_or_says_why(matrix, cell):
    effects = pd.read_csv(_results(matrix[0], cell.id) / "effects.csv")
    missing = effects[effects["estimate"].isna()]
    assert missing["note"].fillna("").astype(str).str.len().gt(0).all(), missing
    for analysis_set in cell.trial.get("analyses", {}).get("analysis_sets", ["itt"]):
        if cell.trial["design"] != "cross_sectional" or analysis_set != "per_protocol":
            assert analysis_set in set(effects["analysis_set"]), analysis_set


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c.id)
def test_every_effect_is_in_table_2_or_table_s1(matrix, cell):
    """A randomized trial's effects.csv rows are split between Table 2 (the primary effect
    measures: `analyses.estimand.effect` where the trial names one) and Table S1, each row in
    one; the other designs print every row in their one model table."""
    base = _results(matrix[0], cell.id)
    effects = pd.read_csv(base / "effects.csv")
    spec = cell.trial
    if spec["design"] not in ("rct", "cluster_rct") or effects.empty:
        return
    main = pd.read_csv(base / "tables" / "effects_table.csv")
    further = base / "tables" / "effects_supplement.csv"
    further = pd.read_csv(further) if further.is_file() else main.iloc[0:0]
    shown = len(main) + len(further)
    # The adherence rule sits at the trial's analysis_sets.per_protocol; without one the
    # per-protocol set equals ITT and its rows are left out of both tables.
    rule = (spec.get("analysis_sets") or {}).get("per_protocol")
    per_protocol_hidden = not rule and "itt" in set(effects["analysis_set"])
    hidden = (effects["analysis_set"] == "per_protocol").sum() if per_protocol_hidden else 0
    assert shown == len(effects) - hidden
    scores = main[main["estimand"].isin(["diff_in_change", "diff_in_means", "adjusted_diff"])]
    named = ((spec.get("analyses") or {}).get("estimand") or {}).get("effect")
    model = ((spec.get("analyses") or {}).get("mixed_model") or {}).get("model", "repeated")
    expected = named or ("diff_in_change" if model == "repeated" else "adjusted_diff")
    assert set(scores["estimand"]) <= {expected}
    assert set(main["analysis_name"].fillna("primary")) <= {"primary"}


def test_power_plan_runs(matrix):
    power = pd.read_csv(_results(matrix[0], "own_instrument") / "power.csv")
    assert set(power["outcome"]) == {"flourishing", "climate"}
    assert power["power"].between(0, 1).all()
    # the trial names analyses.estimand.effect diff_in_means; the plan names none
    assert (power["estimand"] == "diff_in_means").all()


@pytest.mark.parametrize("cell", ["cluster_repeated", "cluster_ancova"])
def test_cluster_power_plan_runs(matrix, cell):
    """The cluster cells' power plans: a row per clusters per arm and intervention arm, the
    ICC given or (cluster_repeated, from_fit) the fitted model's, icc_site of its diagnostics."""
    results = _results(matrix[0], cell)
    plan = next(c.trial["power"] for c in CELLS if c.id == cell)
    power = pd.read_csv(results / "power.csv")
    arms = len(plan["arms"]) - 1
    assert power["clusters_per_arm"].tolist() == sorted(plan["clusters_per_arm"] * arms)
    assert (power["cluster_size"] == plan["cluster_size"]).all()
    assert power["power"].between(0, 1).all() and (power["n_failed"] == 0).all()
    if plan["outcomes"][0].get("from_fit"):
        diagnostics = pd.read_csv(results / "tables" / "model_diagnostics.csv")
        fitted = diagnostics[
            (diagnostics["analysis_set"] == "itt") & (diagnostics["analysis"] == "mixed_model")
        ].iloc[0]
        assert power["icc"].iloc[0] == pytest.approx(fitted["icc_site"], rel=1e-6)
    else:
        assert (power["icc"] == plan["outcomes"][0]["icc"]).all()
    summary = pd.read_csv(results / "power_summary.csv")
    assert len(summary) == arms


def test_multiplicity_levels_reach_effects(matrix):
    """fdr_bh (main call): secondary outcomes' P adjusted within each family (same analysis,
    estimand, contrast, timepoint, set) as statsmodels' multipletests(method="fdr_bh") = R's
    p.adjust(p, "BH"); primary outcomes unadjusted. none: every P as it is."""
    from statsmodels.stats.multitest import multipletests

    root, _ = matrix
    effects = pd.read_csv(_results(root, "own_instrument") / "effects.csv")
    secondary = effects[(effects["role"] == "secondary") & effects["p_value"].notna()]
    family = ["analysis", "estimand", "contrast", "timepoint", "analysis_set"]
    sizes = []
    for _, rows in secondary.groupby(family):
        expected = multipletests(rows["p_value"], method="fdr_bh")[1]
        assert rows["p_adjusted"].to_numpy() == pytest.approx(expected, rel=1e-9)
        sizes.append(len(rows))
    assert max(sizes) >= 2  # some family has several outcomes to adjust
    primary = effects[effects["role"] == "primary"].dropna(subset=["p_value"])
    assert (primary["p_adjusted"] == primary["p_value"]).all()
    none = pd.read_csv(root / "results_none" / "rct_9" / "effects.csv")
    secondary = none[none["role"] == "secondary"].dropna(subset=["p_value"])
    assert len(secondary) and (secondary["p_adjusted"] == secondary["p_value"]).all()


def test_primary_rule_any_adjusts_primary_p_across_arms_and_all_does_not(matrix):
    """analyses.multiplicity.primary: rct_0 (`any`, three arms, fdr_bh in the main call):
    each primary family (visit and set; the deciding measures together, the two arms
    together) adjusted as
    R's p.adjust(p, "BH"), and Table 2's note says so; rct_1 (`all`): unadjusted, and the
    note names the intersection-union test."""
    from statsmodels.stats.multitest import multipletests

    from trialeval.effects import primary_measures

    root, _ = matrix
    effects = pd.read_csv(_results(root, "rct_0") / "effects.csv")
    primary = effects[(effects["role"] == "primary") & effects["p_value"].notna()].copy()
    # the deciding measures (rct_0's primary effect, model ancova's adjusted difference; a
    # binary outcome's risk ratio) are one family; each supportive measure its own
    rct_0 = next(c for c in CELLS if c.id == "rct_0").trial
    assert primary_measures(rct_0) == ("adjusted_diff", "risk_ratio")
    deciding = primary["estimand"].isin(primary_measures(rct_0))
    primary["family"] = primary["estimand"].where(~deciding, "deciding")
    sizes = []
    for _, rows in primary.groupby(["analysis_name", "family", "timepoint", "analysis_set"]):
        expected = multipletests(rows["p_value"], method="fdr_bh")[1]
        assert rows["p_adjusted"].to_numpy() == pytest.approx(expected, rel=1e-9)
        sizes.append(len(rows))
    assert max(sizes) == 2  # coach and peer against control
    note = (_results(root, "rct_0") / "tables" / "effects_table.md").read_text()
    assert (
        "The trial succeeds if any primary comparison is significant at α = 0.05, so P values "
        "for primary outcomes are adjusted across the primary outcomes and arms by the "
        "Benjamini-Hochberg false discovery rate, which controls the false discovery rate, not "
        "the familywise error rate."
    ) in note
    assert "Adjusted P: primary outcomes' P values are adjusted by the Benjamini" in note
    effects = pd.read_csv(_results(root, "rct_1") / "effects.csv")
    primary = effects[(effects["role"] == "primary") & effects["p_value"].notna()]
    assert len(primary) and (primary["p_adjusted"] == primary["p_value"]).all()
    note = (_results(root, "rct_1") / "tables" / "effects_table.md").read_text()
    assert "(intersection–union test), so P values for primary outcomes are not adjusted." in note


def test_intervals_and_their_words_follow_alpha(matrix):
    """config.yaml's alpha: the `none` run (alpha 0.01) computes rct_9's intervals at 99% and
    every shared output says 99%, never 95%. The risk ratio's Wald CI is z-based on the log
    scale, so its log width is the main run's (alpha 0.05) times z(0.995) / z(0.975) =
    2.575829 / 1.959964 = 1.314223 (scipy.stats.norm.ppf; R: qnorm(0.995) / qnorm(0.975))."""
    root, _ = matrix
    wide = pd.read_csv(root / "results_none" / "rct_9" / "effects.csv")
    usual = pd.read_csv(_results(root, "rct_9") / "effects.csv")
    width = {}
    for name, effects in (("wide", wide), ("usual", usual)):
        rr = effects[(effects["estimand"] == "risk_ratio") & effects["ci_low"].notna()]
        width[name] = np.log(rr["ci_high"].to_numpy()) - np.log(rr["ci_low"].to_numpy())
    assert len(width["wide"]) and width["wide"] == pytest.approx(
        1.3142227734115084 * width["usual"], rel=1e-9
    )
    results = root / "results_none"
    shared = [results / "report.html", *sorted((results / "rct_9" / "tables").glob("*.md"))]
    shared += sorted((results / "rct_9" / "tables").glob("*.html"))
    shared += sorted((results / "rct_9" / "figures").glob("*.svg"))  # text kept as comments
    for path in shared:
        text = path.read_text()
        assert "95% CI" not in text and "95% confidence" not in text, path.name
    table2 = (results / "rct_9" / "tables" / "effects_table.md").read_text()
    assert "(99% CI)" in table2 and "Estimates with 99% confidence intervals (CI)." in table2
    assert "Difference (99% CI)" in (results / "rct_9" / "figures" / "forest.svg").read_text()


def test_disclosure_plan_reaches_tables_figures_and_report(matrix):
    """The `none` run has disclosure control on (k = 5): its plan is written and every output
    that withholds a count carries the note (what they print: tests/test_disclosure.py)."""
    root, _ = matrix
    results = root / "results_none"
    plan = json.loads((results / "rct_9" / "interim" / "disclosure.json").read_text())
    assert plan["min_cell"] == 5 and plan["registered"]
    note = "Counts from 1 to 4 are shown as"
    consort = json.loads((results / "rct_9" / "consort.json").read_text())
    small = [n for n in consort["withdrawn"].values() if 0 < n < 5]
    if small:  # withdrawals below 5: the CONSORT figure and the report withhold them
        # (the SVG draws text as paths, each line named in a comment; narrow boxes wrap)
        svg = (results / "rct_9" / "figures" / "consort.svg").read_text()
        assert "n\u00a0&lt;\u00a05" in svg  # "n < 5", not "n = <5"
        assert note in (results / "report.html").read_text()
    for kind in ("table1", "missingness_table", "effects_table"):  # Table 2: binary n/N
        md = (results / "rct_9" / "tables" / f"{kind}.md").read_text()
        withheld = "<5" in md.split("\n\n")[1] or "≥5" in md
        assert (note in md) == withheld, kind


# --- every option of every schema is used by some cell -------------------------------------


def _load(name: str) -> dict:
    """A schema file with every `$ref` (to another file, or `#/$defs/...`) replaced by what it
    points at, so the walkers below see one tree."""
    root = yaml.safe_load((SCHEMAS / name).read_text())
    return _inline(root, root)


def _inline(node, root: dict):
    if isinstance(node, list):
        return [_inline(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target, _, pointer = node["$ref"].partition("#")
        if target:
            root = yaml.safe_load((SCHEMAS / target).read_text())
        document = root
        for key in filter(None, pointer.split("/")):
            document = document[key]
        return _inline(document, root)
    return {key: _inline(value, root) for key, value in node.items() if key != "$defs"}


def _resolve(schema: dict) -> dict:
    return schema


def schema_options(schema: dict, path: str = "") -> set[str]:
    """Every key path, enum level, alternative type and `true` of a boolean the schema allows."""
    schema = _resolve(schema)
    out = set()
    for level in schema.get("enum", []):
        out.add(f"{path}={level}")
    types = schema.get("type")
    if isinstance(types, list):
        out |= {f"{path}:{t}" for t in types}
    if types == "boolean":
        out.add(f"{path}=True")
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        if "type" in branch:
            out.add(f"{path}:{branch['type']}")
        out |= schema_options({k: v for k, v in branch.items() if k != "type"}, path)
    for key, sub in schema.get("properties", {}).items():
        out.add(f"{path}.{key}")
        out |= schema_options(sub, f"{path}.{key}")
    if isinstance(schema.get("additionalProperties"), dict):
        out |= schema_options(schema["additionalProperties"], f"{path}.*")
    if isinstance(schema.get("items"), dict):
        out |= schema_options(schema["items"], f"{path}[]")
    return out


def _json_type(value, allowed) -> str:
    if value is None:  # e.g. disclosure.min_cell: null (off), as the demo's config.yaml says
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if "integer" in allowed else "number"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(value), "?")


def used_options(value, schema: dict, path: str = "") -> set[str]:
    """The options of `schema_options` that one config value uses."""
    schema = _resolve(schema)
    out = set()
    if "enum" in schema:
        out.add(f"{path}={value}")
    types = schema.get("type")
    branches = [b for b in schema.get("oneOf", []) if "type" in b]
    if isinstance(types, list):
        out.add(f"{path}:{_json_type(value, types)}")
    if value is True and types == "boolean":
        out.add(f"{path}=True")
    for branch in branches:
        if _json_type(value, [branch["type"]]) == branch["type"]:
            out.add(f"{path}:{branch['type']}")
            out |= used_options(value, {k: v for k, v in branch.items() if k != "type"}, path)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, sub in value.items():
            if key in properties:
                out.add(f"{path}.{key}")
                out |= used_options(sub, properties[key], f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                out |= used_options(sub, schema["additionalProperties"], f"{path}.*")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for element in value:
            out |= used_options(element, schema["items"], f"{path}[]")
    return out


def test_every_trial_schema_option_is_used_by_a_cell():
    schema = _load("trial.schema.yaml")
    used = set().union(*(used_options(c.trial, schema) for c in CELLS))
    # a trial's own instruments take the registry's keys: the instrument test covers those.
    # The participants file and the waves share one file definition ($defs/file): a key
    # used on either counts for both (the survey-tool formats are used on waves).
    used |= {o.replace(".timepoints[].file", ".data.participants") for o in used}
    # Likewise the primary and the named sensitivity analyses share the mixed-model and the
    # estimand definitions ($defs/mixed_model, $defs/estimand): a key or level used in
    # either counts for both (each sensitivity key of its own is still required).
    shared = {
        ".analyses.sensitivity[].mixed_model": ".analyses.mixed_model",
        ".analyses.sensitivity[].estimand": ".analyses.estimand",
    }
    for named, primary in shared.items():
        used |= {o.replace(named, primary) for o in used if o.startswith(named)}
        used |= {o.replace(primary, named) for o in used if o.startswith(primary)}
    unused = {o for o in schema_options(schema) - used if not o.startswith(".instruments.*.")}
    assert sorted(unused) == []


def test_every_instrument_schema_option_is_used_by_a_cell():
    entry = _load("instruments.schema.yaml")["additionalProperties"]
    registry = yaml.safe_load((ROOT / "config" / "instruments.yaml").read_text())
    instruments = {}
    for cell in CELLS:
        instruments.update(cell.trial.get("instruments", {}))
        for outcome in cell.trial["outcomes"]:
            if outcome["instrument"] in registry:
                instruments[outcome["instrument"]] = registry[outcome["instrument"]]
    used = set().union(*(used_options(i, entry) for i in instruments.values()))
    assert sorted(schema_options(entry) - used) == []


def test_every_global_option_is_used_by_a_run():
    schema = _load("config.schema.yaml")
    used = set().union(
        *(
            used_options(
                {**o, "results_dir": "r", "trials_dir": "t", "instruments": "i", "raw_dir": "d"},
                schema,
            )
            for o in [*GLOBAL_RUNS.values(), DEMO_CONFIG]
        )
    )
    assert sorted(schema_options(schema) - used) == []


# --- public trial data, configured by YAML only, against R ---------------------------------

REFERENCE = pd.read_csv(Path(__file__).parent / "data" / "public" / "public_reference.csv")


@pytest.mark.parametrize(
    "ref",
    REFERENCE.to_dict("records"),
    ids=lambda r: f"{r['trial']}-{r['estimand']}-{r['contrast']}",
)
def test_public_trial_matches_r(matrix, ref):
    """effects.csv of a public trial equals R's numbers (tests/data/public/make_public_trials.R,
    R call in the reference file's r_call column). Tolerances: estimates, SEs and P 1e-6
    relative (lmer's optimiser stops at ~1e-7; OLS and glm agree to rounding); Satterthwaite df
    1e-4 relative; Hodges-Lehmann CI limits 1e-4 (R finds them with uniroot, tol 1e-4)."""
    effects = pd.read_csv(_results(matrix[0], f"public_{ref['trial']}") / "effects.csv")
    row = effects[
        (effects["outcome"] == ref["outcome"])
        & (effects["estimand"] == ref["estimand"])
        & (effects["contrast"] == ref["contrast"])
        & (effects["analysis_set"] == "itt")
    ]
    assert len(row) == 1, effects[["outcome", "estimand", "contrast"]]
    row = row.iloc[0]
    assert row["timepoint"] == ref["timepoint"]
    assert row["n"] == ref["n"]
    assert row["estimate"] == pytest.approx(ref["estimate"], rel=1e-6)
    assert row["p_value"] == pytest.approx(ref["p_value"], rel=1e-5)
    ci_tol = 1e-4 if ref["estimand"] == "hodges_lehmann_shift" else 1e-6
    assert row["ci_low"] == pytest.approx(ref["ci_low"], rel=ci_tol, abs=ci_tol)
    assert row["ci_high"] == pytest.approx(ref["ci_high"], rel=ci_tol, abs=ci_tol)
    if not pd.isna(ref["se"]):
        assert row["se"] == pytest.approx(ref["se"], rel=1e-5)
    if not pd.isna(ref["df"]):
        assert row["df"] == pytest.approx(ref["df"], rel=1e-4)
