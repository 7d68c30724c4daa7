"""Integration: the whole DAG on the embedded demo, in a temporary copy of the project."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, demo_spec
from trialeval import figures, tables

PROJECT_PARTS = ["Snakefile", "profiles", "config", "workflow", "data"]


def copy_project(dest: Path) -> Path:
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, dest / part)
    return dest


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = copy_project(tmp_path_factory.mktemp("demo"))
    done = snakemake(workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    (workdir / "console.txt").write_text(done.stdout + done.stderr)
    return workdir


def test_a_cold_run_prints_a_short_view(demo_run):
    """The project's logger plugin (profiles/default): job count, progress in tenths and the
    log's path, at most 40 lines for the whole demo; the full log is in .snakemake/log/."""
    lines = (demo_run / "console.txt").read_text().splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    assert any(line.endswith("jobs to run; full log in .snakemake/log/") for line in lines)
    assert any(line.startswith("Complete log(s): ") for line in lines)
    assert [line for line in lines if "jobs done" in line][-1].endswith("(100%)")
    full_log = next((demo_run / ".snakemake" / "log").glob("*.snakemake.log")).read_text()
    assert "rule ingest:" in full_log  # what the console leaves out is in the log


def test_demo_writes_scores_reliability_and_consort(demo_run):
    for trial in ("coaching_rct", "mentorship_prepost", "belonging_survey"):
        results = demo_run / "results" / trial
        assert (results / "scores.csv").stat().st_size > 0
        assert (results / "consort.json").is_file()
        reliability = pd.read_csv(results / "tables" / "reliability.csv")
        if trial != "belonging_survey":  # single-item belonging contexts have no alpha
            assert reliability["alpha"].between(0.5, 0.97).all(), reliability


def test_coaching_consort_reconciles_with_data(demo_run):
    consort = json.loads((demo_run / "results/coaching_rct/consort.json").read_text())
    raw = pd.read_csv(ROOT / "data/raw/coaching_rct/participants.csv")
    assert consort["allocated"] == {"coaching": 197, "control": 193}
    assert consort["allocated"] == raw["arm"].value_counts().to_dict()
    withdrawn = raw.loc[raw["withdrew_consent"] == "yes", "arm"].value_counts().to_dict()
    assert consort["withdrawn"] == {arm: withdrawn.get(arm, 0) for arm in consort["allocated"]}
    for arm, n in consort["allocated"].items():
        itt = consort["analysed"]["itt"][arm]
        assert n == consort["withdrawn"][arm] + itt
        for tp in consort["assessed"]:
            assert consort["assessed"][tp][arm] + consort["not_assessed"][tp][arm] == itt
    # assessed = distinct respondents per wave in the scores, withdrawn participants excluded
    scores = pd.read_csv(demo_run / "results/coaching_rct/scores.csv")
    respondents = scores.groupby(["timepoint", "arm"])["participant_id"].nunique()
    for (tp, arm), n in respondents.items():
        assert consort["assessed"][tp][arm] == n
    sets = pd.read_parquet(demo_run / "results/coaching_rct/interim/analysis_sets.parquet")
    assert not set(scores["participant_id"]) & set(sets.loc[sets["withdrawn"], "participant_id"])


def test_survey_consort_counts_surveyed_and_responded(demo_run):
    consort = json.loads((demo_run / "results/belonging_survey/consort.json").read_text())
    assert consort["allocated"] == {"all": 2257}
    assert consort["assessed"] == {"survey": {"all": 1261}}
    # a survey analyses its respondents: surveyed = withdrawn + non-respondents + analysed
    assert consort["analysed"]["itt"] == {"all": 1261}
    assert consort["not_assessed"] == {"survey": {"all": 2257 - 1261}}


def test_cohort_consort_defines_the_set_in_cohort_terms(demo_run):
    """A cohort comparison has no arms to be allocated or assigned to: consort.json and the
    CONSORT figure define the primary set by cohort membership."""
    trial = demo_run / "results" / "curriculum_passfail"
    consort = json.loads((trial / "consort.json").read_text())
    assert consort["definitions"]["itt"].startswith("every member of each cohort")
    svg = (trial / "figures" / "consort.svg").read_text()
    assert "every member of each cohort" in svg
    assert "allocated arm" not in svg and "assigned arm" not in svg


def test_rerun_has_nothing_to_do(demo_run):
    dry = snakemake(demo_run, "-n")
    assert dry.returncode == 0, dry.stderr
    assert "Nothing to be done" in dry.stdout + dry.stderr


def _jobs_to_rerun(workdir: Path) -> set[str]:
    """The rules `snakemake -n` would run (from its job-stats table)."""
    dry = snakemake(workdir, "-n", "--quiet", "rules")
    assert dry.returncode == 0, dry.stderr[-3000:]
    table = (dry.stdout + dry.stderr).split("Job stats:")[-1].splitlines()
    return {line.split()[0] for line in table if line.split() and line.split()[-1].isdigit()} - {
        "total"
    }


# Edits to the coaching trial's file and the rules each may re-run (`all` is the target).
EDITS = {
    "power block": (
        ("n_sims: 1000", "n_sims: 1200"),
        {"provenance", "report"},
    ),
    "title": (
        ("title: Web-based group coaching", "title: Group coaching"),
        {"tables_rct_supplement", "figures_rct_supplement", "provenance", "report"},
    ),
    "covariate label": (
        ("label: Age, years", "label: Age (years)"),
        {"tables_rct_supplement", "figures_rct_supplement", "provenance", "report"},
    ),
    # site fixed also enters the logistic regression of the trial's categories (prepost)
    "analysis option": (
        ("site: random", "site: fixed"),
        {
            "mixed_model",
            "prepost",
            "effects",
            "tables_rct_supplement",
            "figures_rct_supplement",
            "provenance",
            "report",
        },
    ),
    # a named sensitivity analysis is a job of its own: the primary's jobs are not re-run
    "sensitivity analysis added": (
        (
            "  analysis_sets: [itt, per_protocol, complete_case]\n",
            "  analysis_sets: [itt, per_protocol, complete_case]\n"
            "  sensitivity:\n    - {name: site_fixed, mixed_model: {site: fixed}}\n",
        ),
        {
            "sensitivity",
            "effects",
            "tables_rct_supplement",
            "figures_rct_supplement",
            "provenance",
            "report",
        },
    ),
}


@pytest.mark.parametrize("edit", EDITS)
def test_an_edit_reruns_only_the_jobs_that_read_it(demo_run, edit):
    """Each rule gets only the part of the trial file it reads (trialeval.stage_config), so
    Snakemake's params trigger re-runs exactly the stages an edit concerns."""
    (old, new), expected = EDITS[edit]
    trial_file = demo_run / "config/trials/coaching_rct.yaml"
    original, stat = trial_file.read_text(), trial_file.stat()
    assert old in original
    try:
        trial_file.write_text(original.replace(old, new, 1))
        assert _jobs_to_rerun(demo_run) - {"all"} == expected
    finally:  # as it was, modification time included: the other tests share this run
        trial_file.write_text(original)
        os.utime(trial_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))


# A two-output job that, while writing its second output through atomic_path, kills its
# whole Snakemake run with kill -9 (as `kill -9 -<pgid>` or a power cut would), unless the
# file "survive" exists.
KILLED_JOB = """
import os, pathlib, signal
from trialeval.io import atomic_path
with atomic_path("out/a.txt") as tmp:
    tmp.write_text("a")
with atomic_path("out/b.txt") as tmp:
    tmp.write_text("half")
    if not pathlib.Path("survive").exists():
        os.killpg(os.getpgid(0), signal.SIGKILL)
    tmp.write_text("b")
"""
KILLED_SNAKEFILE = """
rule both:
    output:
        "out/a.txt",
        "out/b.txt",
    shell:
        "PYTHON job.py"
"""


def test_rerun_after_kill_9_redoes_the_job_and_leaves_no_temporary(tmp_path):
    """The project's profile (rerun-incomplete) lets the re-run redo a job whose run was
    killed after one of its outputs was in place; the re-run removes the killed temporary."""
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    (tmp_path / "job.py").write_text(KILLED_JOB)
    (tmp_path / "Snakefile").write_text(KILLED_SNAKEFILE.replace("PYTHON", sys.executable))
    command = [sys.executable, "-m", "snakemake", "--cores", "1"]
    killed = subprocess.run(command, cwd=tmp_path, capture_output=True, start_new_session=True)
    assert killed.returncode == -9
    out = tmp_path / "out"
    assert (out / "a.txt").exists() and not (out / "b.txt").exists()
    assert len(list(out.glob(".b.txt.*.tmp"))) == 1  # what kill -9 leaves
    (tmp_path / "survive").touch()
    # Snakemake's lock outlives a kill -9 of Snakemake itself; --unlock is its documented cure
    unlock = subprocess.run([*command, "--unlock"], cwd=tmp_path, capture_output=True)
    assert unlock.returncode == 0
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-3000:]  # not IncompleteFilesException
    assert (out / "b.txt").read_text() == "b"
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]


def test_bad_export_stops_before_any_output(tmp_path):
    """Damaged exports of two trials: one short list of problems before any job starts, each
    naming file, row, column and value, with no Python stack and no Snakemake job report."""
    workdir = copy_project(tmp_path)
    export = workdir / "data/raw/mentorship_prepost/mbi_post.csv"
    frame = pd.read_csv(export, dtype=str, keep_default_na=False)
    frame.loc[3, "mbi_7"] = "9"
    frame.loc[6, "mbi_2"] = "2.5"
    frame.to_csv(export, index=False)
    participants = workdir / "data/raw/coaching_rct/participants.csv"
    frame = pd.read_csv(participants, dtype=str, keep_default_na=False)
    frame.loc[2, "age"] = "inf"
    frame.to_csv(participants, index=False)
    done = snakemake(workdir)
    shown = done.stdout + done.stderr
    assert done.returncode != 0
    assert "3 problems in the input data:" in done.stderr
    assert (
        "data/raw/mentorship_prepost/mbi_post.csv: row 5, column 'mbi_7' (participant EM-"
        in done.stderr
    )
    assert "timepoint 'post'): '9' is out of range; expected a whole number from 0 to 6" in shown
    assert "row 8, column 'mbi_2'" in shown and "'2.5' is not a whole number" in shown
    assert "coaching_rct/participants.csv: row 4, column 'age'" in shown
    assert "'inf' is not a finite number" in shown
    assert "Traceback" not in shown and "message: None" not in shown
    assert 'File "' not in shown  # no stack of any kind
    assert not (workdir / "results").exists()


def test_config_error_stops_before_any_job(tmp_path):
    workdir = copy_project(tmp_path)
    trial_file = workdir / "config/trials/coaching_rct.yaml"
    trial_file.write_text(trial_file.read_text().replace("subscale: ee,", "subscale: eee,"))
    done = snakemake(workdir)
    assert done.returncode != 0
    assert "config/trials/coaching_rct.yaml" in done.stderr
    assert "subscale 'eee' is not a subscale of mbi" in done.stderr
    assert not (workdir / "results").exists()


# truth.yaml estimands -> the effects.csv rows that estimate them
ESTIMATED_BY = {
    "diff_in_change": {
        "mixed_model": ["diff_in_change"],
        "prepost": ["adjusted_mean_difference", "hodges_lehmann_shift"],
    },
    "diff_in_means": {"mixed_model": ["diff_in_means"]},
    "risk_ratio": {"prepost": ["risk_ratio"], "cohort_comparison": ["risk_ratio"]},
    "risk_difference": {"cohort_comparison": ["risk_difference"]},
    "odds_ratio": {"association": ["odds_ratio"]},
}


def test_effects_recover_the_demo_truth(demo_run):
    """Every true effect: within 3 SE of the ITT estimate, and inside its 95% CI for the large
    majority (SE of a ratio on the log scale; for Hodges-Lehmann, CI half-width / 1.96)."""
    import numpy as np
    import yaml

    z, inside = [], []
    for trial in ("coaching_rct", "mentorship_prepost", "belonging_survey", "curriculum_passfail"):
        effects = pd.read_csv(demo_run / "results" / trial / "effects.csv", dtype={"exposure": str})
        truth = yaml.safe_load((ROOT / "data/raw" / trial / "truth.yaml").read_text())
        for effect in truth["effects"]:
            rows = effects[
                (effects["outcome"] == effect["outcome"])
                & (effects["timepoint"] == effect["timepoint"])
                & (effects["contrast"] == effect["contrast"])
                & (effects["analysis_set"] == "itt")
                & (effects["exposure"].fillna("belonging_organization") == "belonging_organization")
            ]
            wanted = ESTIMATED_BY[effect["estimand"]]
            rows = rows[
                [
                    e in wanted.get(a, [])
                    for a, e in zip(rows["analysis"], rows["estimand"], strict=True)
                ]
            ]
            assert len(rows) >= 1, (trial, effect)
            for row in rows.itertuples():
                ratio = row.estimand in ("risk_ratio", "odds_ratio")
                est, true = (
                    (np.log(row.estimate), np.log(effect["value"]))
                    if ratio
                    else (row.estimate, effect["value"])
                )
                se = row.se if np.isfinite(row.se) else (row.ci_high - row.ci_low) / (2 * 1.959964)
                z.append(abs(est - true) / se)
                inside.append(row.ci_low <= effect["value"] <= row.ci_high)
    assert len(z) >= 25
    assert max(z) < 3, z
    assert np.mean(inside) >= 0.85, inside


def test_counts_reconcile_between_consort_and_models(demo_run):
    """Every model's analysis-set size is the number consort.json reports as analysed (for
    complete case, that outcome's count), and no model uses more participants than the set
    holds."""
    for trial in ("coaching_rct", "mentorship_prepost", "belonging_survey", "curriculum_passfail"):
        consort = json.loads((demo_run / "results" / trial / "consort.json").read_text())
        effects = pd.read_csv(demo_run / "results" / trial / "effects.csv")
        by_outcome = consort["analysed_by_outcome"]["complete_case"]
        for row in effects.itertuples():
            counts = (
                by_outcome[row.outcome]
                if row.analysis_set == "complete_case"
                else consort["analysed"][row.analysis_set]
            )
            assert row.n_analysis_set == sum(counts.values())
            assert row.n <= row.n_analysis_set


DEMO_TRIALS = (
    "coaching_rct",
    "coaching_redcap",
    "mentorship_prepost",
    "mentorship_qualtrics",
    "belonging_survey",
    "curriculum_passfail",
)


def test_every_printed_n_is_the_n_its_model_used(demo_run):
    """Every demo trial: each effects.csv row with an n prints the sum of its fit's
    model_n.csv arms (the two arms compared, a mixed model's every arm, a survey exposure's
    every level); the CONSORT diagram's analysed lines under each set are the primary fit's
    model_n per arm (a pre/post trial's ANCOVA). The survey's are read in
    `test_the_surveys_printed_n_are_its_fits`, a sensitivity analysis's in
    tests/test_imputation_pipeline.py (no demo trial has one)."""
    from trialeval.model_n import effect_n, model_used

    checked, drawn = set(), 0
    for trial in DEMO_TRIALS:
        base = demo_run / "results" / trial
        spec, effects = demo_spec(trial), pd.read_csv(base / "effects.csv")
        model_n = pd.read_csv(base / "model_n.csv")
        arms = [a["id"] for a in spec["arms"]]
        for row in effects[effects["n"].notna()].to_dict("records"):
            assert row["n"] == effect_n(model_n, row, arms), (trial, row)
            checked.add((spec["design"], row["analysis"]))
        if spec["design"] not in ("rct", "quasi_experimental"):
            continue
        svg = (base / "figures/consort.svg").read_text()
        consort = json.loads((base / "consort.json").read_text())
        for outcome in [o for o in spec["outcomes"] if o["role"] == "primary"]:
            label = figures.pretty(outcome["label"])
            for name in spec["analyses"]["analysis_sets"]:
                used = model_used(model_n, spec, name, outcome["id"], arms)
                for arm, n in used.items():
                    size = consort["analysed"][name][arm]
                    line = f"{label}: n\u00a0=\u00a0{n:,} (no data: {size - n:,})"
                    assert f"<!-- {line} -->" in svg, (trial, name, arm, line)
                    drawn += 1
    assert {("rct", "mixed_model"), ("quasi_experimental", "prepost")} <= checked
    assert ("cohort_comparison", "cohort_comparison") in checked
    assert ("rct", "risk_ratio") in checked and ("rct", "logistic") in checked
    assert ("cross_sectional", "association") in checked
    assert drawn >= 8


def test_the_surveys_printed_n_are_its_fits(demo_run):
    """The survey: each exposure level's n in the association table (its Markdown, and the
    report's copy of its HTML) and the odds-ratio forest (SVG text) is the respondents of
    that level in the exposure's fit (model_n.csv), and the CONSORT diagram's n of each
    exposure's model their sum, effects.csv's n of its odds ratios."""
    base = demo_run / "results" / "belonging_survey"
    spec = demo_spec("belonging_survey")
    exposures = spec["analyses"]["association"]["exposures"]
    model_n = pd.read_csv(base / "model_n.csv")
    fits = model_n[model_n["analysis"] == "association"]
    assert set(fits["analysis_name"]) == {"primary"} and set(fits["exposure"]) == set(exposures)
    expected = [
        (exposure, str(row["arm"]), int(row["n"]))
        for exposure in exposures
        for row in fits[fits["exposure"] == exposure].to_dict("records")
    ]
    assert len(expected) == 4 * len(exposures)
    # the association table: a heading row per exposure (no n), then its levels
    printed, heading = [], -1
    for line in (base / "tables/association_table.md").read_text().splitlines()[4:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 2:
            continue
        if not cells[1]:
            heading += 1
            continue
        printed.append((exposures[heading], cells[0], int(cells[1])))
    assert printed == expected
    report = (demo_run / "results" / "report.html").read_text()
    assert (base / "tables/association_table.html").read_text().strip() in report
    # the forest: each level's name (the reference's with "(reference)"), then its n
    texts = re.findall(r"<!-- (.*?) -->", (base / "figures/odds_ratio_forest.svg").read_text())
    levels = {label for _, label, _ in expected}
    drawn = [
        (texts[i].removesuffix(" (reference)"), int(texts[i + 1].replace(",", "")))
        for i in range(len(texts) - 1)
        if texts[i].removesuffix(" (reference)") in levels
    ]
    assert drawn == [(label, n) for _, label, n in expected]
    consort = " ".join(re.findall(r"<!-- (.*?) -->", (base / "figures/consort.svg").read_text()))
    effects = pd.read_csv(base / "effects.csv")
    for exposure in exposures:
        n = int(fits.loc[fits["exposure"] == exposure, "n"].sum())
        label = figures.pretty(next(o["label"] for o in spec["outcomes"] if o["id"] == exposure))
        assert f"{label}: n\u00a0=\u00a0{n:,}" in consort, (exposure, n)
        assert set(effects.loc[effects["exposure"] == exposure, "n"]) == {n}


def test_table_2_gives_each_groups_number_analysed(demo_run):
    """CONSORT's outcomes item: each group's number analysed. The coaching trial's Table 2
    (and Table S1's further sets) print, after each score outcome's group result, the
    participants of that group in the primary model (model_n.csv), which sum to the row's
    n; binary rows keep their n/N."""
    from trialeval.model_n import model_used

    base = demo_run / "results" / "coaching_rct"
    spec = demo_spec("coaching_rct")
    model_n = pd.read_csv(base / "model_n.csv")
    arms = {a["label"]: a["id"] for a in spec["arms"]}
    labels = {  # a score row of Table 2: "<label>, change from baseline"
        f"{tables.typographic(o['label'])}, change from baseline": o
        for o in spec["outcomes"]
        if o["kind"] == "score"
    }
    checked = 0
    for kind in ("effects_table", "effects_supplement"):
        table = pd.read_csv(base / "tables" / f"{kind}.csv")
        shown = table[table["estimand"].isin(["diff_in_change", "diff_in_means"])]
        for row in shown[shown["analysis_name"].fillna("primary") == "primary"].to_dict("records"):
            used = model_used(
                model_n, spec, row["analysis_set"], row["outcome"], list(arms.values())
            )
            assert sum(used.values()) == row["n"], row
            checked += 1
        md = (base / "tables" / f"{kind}.md").read_text()
        if kind == "effects_table":
            header = next(line for line in md.splitlines() if line.startswith("| Outcome"))
            columns = [c.strip() for c in header.strip("|").split("|")]
            for line in md.splitlines():
                cells = [c.strip() for c in line.strip("|").split("|")]
                name = cells[0]
                if name not in labels:
                    continue
                used = model_used(model_n, spec, "itt", labels[name]["id"], list(arms.values()))
                for column, cell in zip(columns[1:3], cells[1:3], strict=True):
                    assert cell.endswith(f", n = {used[arms[column]]}"), (line, column)
                assert sum(used.values()) == int(cells[-1])
                checked += 1
    assert checked >= 7 + 7  # the seven scores in Table 2's rows and in effects_table.csv
    binary = (base / "tables" / "effects_table.md").read_text()
    assert "| High emotional exhaustion (EE ≥ 27) | 74/144 (51.4) | 71/133 (53.4) |" in binary


def _s1_blocks(rows: list[tuple[str, bool, bool]]) -> dict[str, list]:
    """{block heading: [(outcome row, has group cells, [measure rows])]} of Table S1, from its
    printed rows as (label, indented, group cells printed); a heading row starts a block, an
    italic role row (Primary outcomes) is skipped."""
    blocks: dict[str, list] = {}
    for label, indented, filled in rows:
        if label.endswith(" set"):
            block = blocks.setdefault(label, [])
        elif label.endswith(("outcome", "outcomes")) and not filled:
            continue
        elif indented:
            block[-1][2].append(label)
        else:
            block.append((label, filled, []))
    return blocks


def _s1_rows_md(path: Path) -> list[tuple[str, bool, bool]]:
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")][1:]
    cells = [[c.strip(" ") for c in line.strip("|").split(" | ")] for line in lines]
    return [
        (c[0].strip("\u00a0*"), c[0].startswith("\u00a0"), any(x.strip() for x in c[1:3]))
        for c in cells
    ]


def _s1_rows_html(path: Path) -> list[tuple[str, bool, bool]]:
    import html
    import re

    body = path.read_text().split("<tbody>")[1].split("</tbody>")[0]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c))
            for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
        ]
        filled = any(c.strip() for c in cells[1:3])  # a heading row is one cell
        rows.append((cells[0].strip("\u00a0"), cells[0].startswith("\u00a0"), filled))
    return rows


def _s1_rows_docx(path: Path) -> list[tuple[str, bool, bool]]:
    import docx

    (table,) = docx.Document(str(path)).tables
    rows = []
    for row in table.rows[1:]:
        first = row.cells[0]
        indent = first.paragraphs[0].paragraph_format.left_indent
        merged = len({id(c._tc) for c in row.cells}) == 1  # a heading spanning the row
        filled = not merged and any(c.text.strip() for c in row.cells[1:3])
        rows.append((first.text, bool(indent), filled))
    return rows


def test_table_s1_blocks_share_one_layout(demo_run):
    """Table S1 of the coaching trial: the per-protocol block prints each outcome as a row
    with indented measure rows, so the intention-to-treat block does too (a reader compares
    the blocks row by row): the same outcome rows, each with its measure rows, whose labels
    are among the per-protocol block's for that outcome, group results on the same rows
    (scores: on the measure row; binary outcomes: n/N on the outcome's row). In the .md,
    .html and .docx alike."""
    base = demo_run / "results/coaching_rct/tables"
    readers = {"md": _s1_rows_md, "html": _s1_rows_html, "docx": _s1_rows_docx}
    for ext, reader in readers.items():
        blocks = _s1_blocks(reader(base / f"effects_supplement.{ext}"))
        assert list(blocks) == ["Intention-to-treat set", "Per-protocol set", "Complete-case set"]
        itt, pp = blocks["Intention-to-treat set"], blocks["Per-protocol set"]
        assert [o[0] for o in itt] == [o[0] for o in pp], ext  # the same outcome rows
        assert len(itt) == 11  # the 7 scores and 4 binary outcomes
        for (label, filled, measures), (_, pp_filled, pp_measures) in zip(itt, pp, strict=True):
            assert "," not in label.split(")")[-1], (ext, label)  # no "..., at follow-up"
            assert len(measures) == 1 and measures[0] in pp_measures, (ext, label, measures)
            assert filled == pp_filled, (ext, label)
        ee, high_ee = itt[0], itt[7]
        assert ee == ("Emotional exhaustion (MBI, 0–54)", False,
                      ["At follow-up, model-estimated mean (95% CI)"])  # fmt: skip
        assert high_ee == ("High emotional exhaustion (EE ≥ 27)", True, ["Odds ratio (adjusted)"])
    # the numbers stay: EE's measure row in the .md as effects_supplement.csv has it
    md = (base / "effects_supplement.md").read_text()
    csv = pd.read_csv(base / "effects_supplement.csv")
    ee = csv[(csv["outcome"] == "ee") & (csv["analysis_set"] == "itt")].iloc[0]
    row = next(line for line in md.splitlines() if "At follow-up, model-estimated" in line)
    assert row.split(" | ")[3] == tables.format_ci(ee["estimate"], ee["ci_low"], ee["ci_high"], 1)
    # Table 2 (one block) keeps a score's one measure on the outcome's row
    assert (
        "| Emotional exhaustion (MBI, 0–54), change from baseline |"
        in (base / "effects_table.md").read_text()
    )


def _parse_interval(text: str) -> tuple[float, float, float]:
    """'−0.5 (−2.4 to 1.5)ᵃ' -> (-0.5, -2.4, 1.5)."""
    import re

    numbers = re.findall(r"[−-]?\d+(?:\.\d+)?", text.replace("\u2212", "-"))
    return tuple(float(n.replace("\u2212", "-")) for n in numbers[:3])


def test_tables_agree_with_effects_csv(demo_run):
    """The printed effects tables (Markdown) and their CSVs carry effects.csv's numbers: the
    CSV at full precision, the Markdown rounded to the printed decimals; a randomized trial's
    rows split between Table 2 and Table S1, every effects.csv row in one of them."""
    for trial in ("coaching_rct", "mentorship_prepost"):
        base = demo_run / "results" / trial
        effects = pd.read_csv(base / "effects.csv")
        parts = tables.split_effects(demo_spec(trial), effects)
        kinds = ["effects_table", "effects_supplement"][: 2 if len(parts[1]) else 1]
        assert (base / "tables/effects_supplement.csv").is_file() == (len(kinds) == 2)
        assert sum(len(p) for p in parts) == len(effects)
        for kind, rows in zip(kinds, parts, strict=False):
            _table_matches(base, kind, rows.reset_index(drop=True))


def _table_matches(base, kind: str, effects: pd.DataFrame) -> None:
    table_csv = pd.read_csv(base / f"tables/{kind}.csv")
    # the table holds risk differences in percentage points (effects.csv: proportions)
    effects = tables.in_percentage_points(effects)
    for column in ("estimate", "ci_low", "ci_high", "p_value", "p_adjusted", "n"):
        if column in tables.PERCENT_POINT_COLUMNS:  # x 100, to the CSV's 10 digits
            same = np.allclose(table_csv[column], effects[column], rtol=1e-9, equal_nan=True)
            assert same, (kind, column)
        else:
            assert table_csv[column].equals(effects[column]), (kind, column)
    lines = (base / f"tables/{kind}.md").read_text().splitlines()
    table = [[c.strip() for c in line.split("|")[1:-1]] for line in lines if line[:1] == "|"]
    # the effect column: "Difference, <arm> − <control> (95% CI)" or "Difference or ratio"
    at = next(j for j, h in enumerate(table[0]) if h.startswith(("Difference", "Ratio")))
    cells = [r[at] for r in table[2:] if r[at]]
    # printed by analysis and set (blocks), then outcome, in effects.csv's order within
    # but the pre/post ANCOVA (primary) before the Hodges-Lehmann shift (tables.MEASURE_ORDER)
    blocks = effects.groupby(["analysis_name", "analysis_set"], sort=False)
    rank = effects["estimand"].map(tables.MEASURE_ORDER).fillna(0)
    in_order = pd.concat(
        g.loc[rank[g.index].sort_values(kind="stable").index]
        for _, b in blocks
        for _, g in b.groupby("outcome", sort=False)
    )
    assert len(cells) == len(effects)
    for cell, row in zip(cells, in_order.itertuples(), strict=True):
        if " to " not in cell:  # an estimate without a CI (a dash)
            continue
        printed = _parse_interval(cell)
        decimals = len(cell.strip().split(" ")[0].split(".")[1]) if "." in cell else 0
        for value, shown in zip((row.estimate, row.ci_low, row.ci_high), printed, strict=True):
            assert abs(value - shown) <= 0.5 * 10**-decimals + 1e-9, (cell, value)


def test_outputs_are_deterministic(demo_run, tmp_path):
    """A second run from scratch in another folder gives byte-identical tables (all formats),
    SVG and PNG figures, effects.csv and the report."""
    second = copy_project(tmp_path)
    done = snakemake(second)
    assert done.returncode == 0, done.stderr[-3000:]
    compared = 0
    for trial in ("coaching_rct", "mentorship_prepost", "belonging_survey"):
        for pattern in ("tables/*", "figures/*", "effects.csv", "consort.json"):
            for first in sorted((demo_run / "results" / trial).glob(pattern)):
                other = second / "results" / trial / first.relative_to(demo_run / "results" / trial)
                assert first.read_bytes() == other.read_bytes(), f"{trial}: {first.name} differs"
                compared += 1
    report = (demo_run / "results/report.html").read_bytes()
    assert report == (second / "results/report.html").read_bytes()
    assert compared > 60


def test_snakemake_report_has_captions(demo_run):
    """`snakemake --report results/report.zip` works and carries the figure captions."""
    import zipfile

    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--report", "results/report.zip"],
        cwd=demo_run,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with zipfile.ZipFile(demo_run / "results/report.zip") as archive:
        page = next(n for n in archive.namelist() if n.endswith("report.html"))
        text = archive.read(page).decode()
    assert "Satterthwaite df" in text and "CONSORT" in text


def test_report_is_self_contained(demo_run):
    """report.html opens offline: every figure embedded, no external resource."""
    import re

    page = (demo_run / "results/report.html").read_text()
    # rct: consort, trajectories, forest; pre/post: consort, forest, change; survey: consort,
    # ORs; cohorts: consort, prevalence; the REDCap copy of the rct and the Qualtrics copy of
    # the pre/post study as theirs (+ 2: mentorship_prepost's evaluation figures, one per
    # respondent group)
    assert page.count("data:image/png;base64,") == 3 + 3 + 2 + 2 + 3 + 3 + 2
    assert not re.search(r'(src|href)="(https?:)?//', page)
    trials = ["coaching_rct", "mentorship_prepost", "belonging_survey", "curriculum_passfail"]
    for trial in [*trials, "coaching_redcap", "mentorship_qualtrics"]:
        assert f'<section id="{trial}">' in page


def test_ancova_with_an_arm_without_follow_up_runs_to_the_report(tiny, tmp_path):
    """A tiny ANCOVA trial whose peer arm has no follow-up responses: every job succeeds, the
    tables keep their headers, the figures draw what exists and the report says what could
    not be drawn and why; the models' set sizes are consort.json's."""
    from conftest import tiny_wave

    ids = [f"P{i}" for i in range(1, 13)]
    tiny.participants = pd.DataFrame(
        {
            "pid": ids,
            "arm": ["peer"] * 6 + ["ctl"] * 6,
            "site": ["s1", "s2"] * 6,
            "withdrew": ["no"] * 12,
            "age": range(20, 32),
            "sessions": [3] * 6 + [None] * 6,
        }
    )
    tiny.waves = {"wave0.csv": tiny_wave(ids, 0), "wave1.csv": tiny_wave(ids[6:], 3)}
    tiny.trial["analyses"] = {"mixed_model": {"model": "ancova"}}
    tiny.write()
    for part in ("Snakefile", "workflow"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / part)
    (tmp_path / "config" / "config.yaml").write_text(json.dumps(tiny.config))
    done = snakemake(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    results = tmp_path / "results"
    means = (results / "tiny/tables/adjusted_means.csv").read_text()
    assert means.startswith("trial,outcome,analysis_set,arm,timepoint,estimate")  # header kept
    notes = json.loads((results / "tiny/figures/notes.json").read_text())
    assert notes["trajectories"][0].startswith("No adjusted means: the ANCOVA model")
    reason = "no Peer support participant has a score at t1 and a baseline score"
    assert reason in notes["forest"][0]
    page = (results / "report.html").read_text()
    assert "Not drawn: No adjusted means: the ANCOVA model" in page and reason in page
    consort = json.loads((results / "tiny/consort.json").read_text())
    effects = pd.read_csv(results / "tiny/effects.csv")
    assert effects["estimate"].isna().all()
    # nobody of the peer arm returned both surveys: its complete-case set is empty
    said = effects.set_index("analysis_set")["note"]
    assert said[["itt", "per_protocol"]].str.contains(reason).all()
    assert said[["complete_case"]].str.contains("no Peer support participant is in the").all()
    for row in effects.itertuples():
        counts = consort["analysed"][row.analysis_set]
        if row.analysis_set == "complete_case":
            counts = consort["analysed_by_outcome"]["complete_case"][row.outcome]
        assert row.n_analysis_set == sum(counts.values())


def _shared_texts(results: Path) -> dict[str, str]:
    """Every shared output as text: tables (a .docx's XML), figures and the report."""
    import zipfile

    paths = [results / "report.html"]
    for trial_dir in sorted(p for p in results.iterdir() if p.is_dir()):
        paths += sorted((trial_dir / "tables").glob("*")) + sorted(
            (trial_dir / "figures").glob("*")
        )
    texts = {}
    for path in paths:
        if path.suffix == ".docx":
            with zipfile.ZipFile(path) as archive:
                text = " ".join(
                    archive.read(n).decode(errors="replace") for n in archive.namelist()
                )
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        texts[str(path)] = text.casefold()
    return texts


def test_free_text_never_reaches_shared_outputs(demo_run):
    """Every free-text answer of the mentorship demo, and each of its clauses, is absent from
    every table, figure and the report (the coding sheet in coding/ is not shared)."""
    raw = demo_run / "data" / "raw" / "mentorship_prepost"
    answers = set()
    for name, columns in (
        ("mentee_evaluation.csv", ["most_valuable", "suggestions"]),
        ("mentor_evaluation.csv", ["most_valuable"]),
    ):
        frame = pd.read_csv(raw / name, dtype=str, keep_default_na=False)
        answers |= {a for c in columns for a in frame[c] if a}
    clauses = {c.strip(" .") for a in answers for c in a.split("; and ")}
    assert len(answers) > 40  # distinct answers (some are the same sentence)
    texts = _shared_texts(demo_run / "results")
    assert any(p.endswith("themes.html") for p in texts)
    leaks = [(t, p) for t in answers | clauses for p, text in texts.items() if t.casefold() in text]
    assert leaks == []
    sheet = pd.read_csv(demo_run / "results/mentorship_prepost/coding/coding_sheet.csv")
    assert set(sheet["answer"]) == answers  # ... while the coding sheet has them all


def test_evaluation_tables_and_figures_number_on_from_the_designs(demo_run):
    """The mentorship section: the design's Tables 1-4 (the pre/post table, a repeat of
    Table 2, is left out), then response rates (5), the two groups' items (6, 7) and the
    themes (8), as their files print them; Figures 1-3, then the two groups' bar charts (4,
    5)."""
    import html
    import re

    page = (demo_run / "results/report.html").read_text()
    start = page.index('<section id="mentorship_prepost">')
    section = page[start : page.index("</section>", start)]
    captions = [html.unescape(c) for c in re.findall(r"<caption[^>]*>(.*?)</caption>", section)]
    numbered = [c.split(".")[0] for c in captions if re.match(r"Table \d+\. ", c)]
    assert numbered == [f"Table {k}" for k in range(1, 9)]
    assert [c.split(".")[0] for c in captions[:8]] == numbered  # before Tables S1, S2, ...
    assert captions[4].startswith("Table 5. Response to the programme-evaluation surveys")
    assert captions[7] == "Table 8. Themes of the free-text answers"
    assert re.findall(r"<figcaption>Figure (\d+)\. ", section) == ["1", "2", "3", "4", "5"]
    rates = pd.read_csv(demo_run / "results/mentorship_prepost/tables/response_rates.csv")
    assert rates[["invited", "responded"]].values.tolist() == [[51, 48], [59, 37]]
