"""Tests for trialeval.disclosure: the suppression plan and the shared outputs it reaches.

The proof that no withheld count can be derived: for every withheld fact the feasible
interval given every printed count, every sum of every table of the trial, and what the
markers say ("<k": 1 to k - 1; "≥k": at least k) is computed by a linear program written
here, independent of the library's audit, and must be at least 1 wide (the fact can take two
or more values). Hand-made tables check the rules; the coaching demo with a site of 4
participants added to Table 1 checks the outputs in every format.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from conftest import demo_spec, run_front_stages
from trialeval import disclosure, figures, report, tables
from trialeval.disclosure import Counts, add_table


def intervals(counts: Counts, status: dict, k: int) -> dict:
    """{withheld key: (min, max)} by LP over every sum; printed facts fixed at their values."""
    unknown = sorted({*status, *counts.hidden})
    index = {key: i for i, key in enumerate(unknown)}
    rows, rhs = [], []
    for total, parts in counts.sums:
        row, known = np.zeros(len(unknown)), 0.0
        for term, sign in [(total, -1.0), *[(p, 1.0) for p in parts]]:
            if term in index:
                row[index[term]] += sign
            else:
                known += sign * counts.values[term]
        rows.append(row)
        rhs.append(-known)
    bounds = [
        (1, k - 1) if status.get(key) == "primary" else (k, None) if key in status else (0, None)
        for key in unknown
    ]
    out = {}
    for key in status:
        c = np.zeros(len(unknown))
        c[index[key]] = 1
        low = linprog(c, A_eq=np.array(rows), b_eq=rhs, bounds=bounds, method="highs")
        high = linprog(-c, A_eq=np.array(rows), b_eq=rhs, bounds=bounds, method="highs")
        assert low.status == 0 and high.status in (0, 3)  # feasible; max may be unbounded
        out[key] = (low.fun, np.inf if high.status == 3 else -high.fun)
    return out


def assert_protected(counts: Counts, status: dict, k: int) -> None:
    for key, (low, high) in intervals(counts, status, k).items():
        assert high - low >= 1 - 1e-9, (key, counts.values[key], low, high)
        assert low - 1e-9 <= counts.values[key] <= high + 1e-9  # the truth is feasible


def site_by_arm(counts: Counts, sites: dict[str, tuple[int, int]]) -> None:
    """A site x arm table with row, column and grand totals (keys as Table 1 names them)."""
    cells = {}
    for site, values in sites.items():
        for arm, n in zip(("a", "b"), values, strict=True):
            cells[(site, arm)] = (f"site={site}/{arm}", n)
    rows = {s: (f"site={s}/overall", sum(v)) for s, v in sites.items()}
    cols = {arm: (f"itt/{arm}", sum(v[j] for v in sites.values())) for j, arm in enumerate("ab")}
    grand = ("itt/overall", sum(map(sum, sites.values())))
    add_table(counts, cells, row_totals=rows, col_totals=cols, grand=grand)


def test_a_site_of_four_is_withheld_with_its_complements():
    # site S: 2 + 2 = 4 fellows, k = 5. Primary: S/a, S/b, S/overall (1-4). Row S has all
    # three unknown; columns a and b each have one unknown (S/a, S/b), so the next-smallest
    # printed cell of each column is withheld: T/a (12 < 30) and T/b (13 < 31); the Overall
    # column (the row totals, summing to the grand total 88) has one unknown, S/overall =
    # 88 - 25 - 61, so T/overall (25 < 61) goes too.
    counts = Counts()
    site_by_arm(counts, {"S": (2, 2), "T": (12, 13), "U": (30, 31)})
    status = disclosure.plan(counts, 5)
    assert status == {
        "site=S/a": "primary",
        "site=S/b": "primary",
        "site=S/overall": "primary",
        "site=T/a": "complementary",
        "site=T/b": "complementary",
        "site=T/overall": "complementary",
    }
    assert_protected(counts, status, 5)
    # by hand: S/a + S/b = S/overall <= 4 with S/b >= 1, so S/a <= 3; S/a + T/a = 14 with
    # T/a >= 5 allows it: S/a in [1, 3] (the true 2 inside)
    assert intervals(counts, status, 5)["site=S/a"] == pytest.approx((1, 3))


def test_zeros_print_and_are_never_complements():
    # a zero names no one; a complement printed "≥5" must be 5 or more
    counts = Counts()
    site_by_arm(counts, {"S": (3, 0), "T": (0, 9), "U": (7, 6)})
    status = disclosure.plan(counts, 5)
    assert "site=S/b" not in status and "site=T/a" not in status
    assert all(counts.values[k] >= 5 for k, how in status.items() if how == "complementary")
    assert_protected(counts, status, 5)


def test_a_total_shared_with_another_table_is_protected_across_tables():
    # Table A: the site table, arm totals itt/a = 14, itt/b = 44. Table B (CONSORT):
    # allocated = withdrawn + itt per arm, withdrawn a = 1. With itt/a printed in Table A and
    # allocated/a in Table B, withdrawn/a = 15 - 14: one of them must go.
    counts = Counts()
    site_by_arm(counts, {"S": (6, 20), "T": (8, 24)})
    for arm, withdrawn in (("a", 1), ("b", 6)):
        counts.add(f"withdrawn/{arm}", withdrawn)
        counts.add(f"allocated/{arm}", withdrawn + counts.values[f"itt/{arm}"])
        counts.add_sum(f"allocated/{arm}", [f"withdrawn/{arm}", f"itt/{arm}"])
    status = disclosure.plan(counts, 5)
    assert status["withdrawn/a"] == "primary"
    assert {"allocated/a", "itt/a"} & set(status)
    assert_protected(counts, status, 5)


def test_a_bridge_between_two_suppression_cycles_is_found_by_the_audit():
    # Two 2x2 blocks of withheld cells joined by one cell: each row and column has two
    # unknowns, so the one-sum-at-a-time rule is satisfied, yet the joining cell follows
    # from the totals of one block. The audit must widen it.
    counts = Counts()
    values = {
        ("r1", "c1"): 2, ("r1", "c2"): 6, ("r1", "c5"): 50,
        ("r2", "c1"): 7, ("r2", "c2"): 8, ("r2", "c3"): 3, ("r2", "c5"): 50,
        ("r3", "c3"): 9, ("r3", "c4"): 2, ("r3", "c5"): 50,
        ("r4", "c3"): 6, ("r4", "c4"): 7, ("r4", "c5"): 50,
    }  # fmt: skip
    cells = {w: (f"{w[0]}.{w[1]}", v) for w, v in values.items()}
    rows = {
        r: (f"{r}.total", sum(v for (rr, _), v in values.items() if rr == r))
        for r in "r1 r2 r3 r4".split()
    }
    cols = {
        c: (f"total.{c}", sum(v for (_, cc), v in values.items() if cc == c))
        for c in "c1 c2 c3 c4 c5".split()
    }
    add_table(counts, cells, row_totals=rows, col_totals=cols)
    status = disclosure.plan(counts, 5)
    assert {"r1.c1", "r2.c3", "r3.c4"} <= {k for k, how in status.items() if how == "primary"}
    assert_protected(counts, status, 5)


@pytest.mark.parametrize("seed", range(12))
def test_random_tables_no_withheld_count_can_be_derived(seed):
    # small random site x arm tables (many counts below k) sharing their arm totals with a
    # completion table: assessed + not assessed = itt per arm, and the overall column.
    rng = np.random.default_rng(seed)
    k = int(rng.choice([5, 11]))
    sites = {f"s{i}": tuple(int(x) for x in rng.integers(0, 16, size=2)) for i in range(4)}
    counts = Counts()
    site_by_arm(counts, sites)
    for arm in ("a", "b"):
        itt = counts.values[f"itt/{arm}"]
        missed = int(rng.integers(0, min(itt, 8) + 1))
        cells = {("assessed", arm): (f"assessed/{arm}", itt - missed)}
        cells[("not", arm)] = (f"not_assessed/{arm}", missed)
        add_table(counts, cells, col_totals={arm: (f"itt/{arm}", itt)})
    status = disclosure.plan(counts, k)
    assert all(0 < counts.values[key] < k for key, h in status.items() if h == "primary")
    assert all(counts.values[key] >= k for key, h in status.items() if h == "complementary")
    assert_protected(counts, status, k)


def test_one_fact_has_one_value():
    counts = Counts()
    counts.add("itt/a", 10)
    with pytest.raises(ValueError, match="'itt/a' is 10 in one table and 11"):
        counts.add("itt/a", 11)


def test_off_prints_every_count():
    assert disclosure.OFF.count("x", 2) == "2" and not disclosure.OFF.on


# --------------------------------------------------------------------------------------
# A trial with a site of four: every shared output
# --------------------------------------------------------------------------------------

SMALL_SITE = "annex"
K = 5


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    """The coaching demo with 4 participants moved to a new site and the site shown in
    Table 1 (as a stratification factor), k = 5: inputs, plan and tables written."""
    out = tmp_path_factory.mktemp("disclosure")
    spec = demo_spec("coaching_rct")
    spec["disclosure"] = {"min_cell": K}
    interim = out / "interim"
    interim.mkdir()
    paths = {
        name: interim / f"{name}.parquet" for name in ("participants", "items", "scores", "sets")
    }
    paths["consort"] = out / "consort.json"
    run_front_stages(spec, paths, out, out / "reliability.csv")
    participants = pd.read_parquet(paths["participants"])
    sets = pd.read_parquet(paths["sets"])
    itt = sets.loc[sets["itt"], "participant_id"]
    moved = participants["participant_id"].isin(itt.iloc[[0, 1, -1, -2]])
    participants.loc[moved, "site"] = SMALL_SITE
    participants.to_parquet(paths["participants"])
    spec["covariates"].append(
        {"name": "site", "label": "Site", "label_given": True, "type": "categorical",
         "summary": "mean_sd", "range": None}
    )  # fmt: skip
    (interim / "covariate_labels.json").write_text("{}")
    inputs = {name: str(paths[name]) for name in ("participants", "scores", "sets", "consort")}
    inputs["covariate_labels"] = str(interim / "covariate_labels.json")
    before = hashlib.sha256(paths["consort"].read_bytes()).hexdigest()
    kinds = ["table1", "missingness_table"]
    counts = disclosure.trial_counts(spec, kinds, inputs)
    inputs["disclosure"] = str(interim / "disclosure.json")
    disclosure.write_plan(counts, K, inputs["disclosure"])
    for kind in kinds:
        tables.run(spec, kind, inputs=inputs, out_stem=str(out / kind))
    figures.run(spec, "consort", inputs=inputs, out_stem=str(out / "consort"))
    return spec, out, inputs, counts, moved.sum(), before


def test_the_trial_plan_protects_every_withheld_count(small_site):
    _, _, inputs, counts, moved, _ = small_site
    assert moved == 4
    plan = json.loads(Path(inputs["disclosure"]).read_text())
    assert plan["min_cell"] == K
    assert_protected(counts, plan["suppressed"], K)
    assert plan["suppressed"][f"table1/site={SMALL_SITE}/overall"] == "primary"


def _site_row(frame: pd.DataFrame) -> list[str]:
    row = frame[frame["Characteristic"].str.strip() == SMALL_SITE.capitalize()]
    assert len(row) == 1
    return list(row.iloc[0, 1:4])


def test_table1_prints_the_small_site_as_below_k_in_every_format(small_site):
    spec, out, inputs, _, _, _ = small_site
    full, formatted, _, _ = tables.build(spec, "table1", inputs)
    full, formatted, footnote = disclosure.apply(spec, "table1", full, formatted, "", inputs)
    cells = _site_row(formatted)
    assert all(c in ("<5", "≥5") for c in cells) and cells[-1] == "<5"  # 4 overall
    assert "Counts from 1 to 4 are shown as <5" in footnote
    md = (out / "table1.md").read_text()
    line = next(x for x in md.splitlines() if SMALL_SITE.capitalize() in x)
    assert "&lt;5" in line and not any(ch.isdigit() and ch != "5" for ch in line)
    html_text = (out / "table1.html").read_text()
    row = html_text[html_text.index(SMALL_SITE.capitalize()) :].split("</tr>")[0]
    assert "&lt;5" in row and "(" not in row  # no count, no percentage
    with zipfile.ZipFile(out / "table1.docx") as docx:
        xml = docx.read("word/document.xml").decode()
    row = xml[xml.index(SMALL_SITE.capitalize()) :].split("</w:tr>")[0]
    assert "&lt;5" in row
    csv = pd.read_csv(out / "table1.csv")
    site = csv[(csv["variable"] == "site") & (csv["level"] == SMALL_SITE)]
    counted = site[site["statistic"].isin(["count", "percent"])]
    assert counted["value"].isna().all() and (site["disclosure"].dropna() != "").all()


def test_consort_figure_and_report_do_not_show_small_counts(small_site):
    spec, out, inputs, _, _, before = small_site
    consort = json.loads(Path(inputs["consort"]).read_text())
    assert consort["withdrawn"] == {"coaching": 2, "control": 2}  # the analyst's file, whole
    assert hashlib.sha256(Path(inputs["consort"]).read_bytes()).hexdigest() == before
    svg = (out / "consort.svg").read_text()
    assert "Withdrew consent for data use: n\u00a0=\u00a0&lt;5" in svg
    assert "n\u00a0=\u00a02<" not in svg and "n\u00a0=\u00a02)" not in svg
    plan = disclosure.load(inputs["disclosure"])
    shown = report._consort_summary(disclosure.published_consort(consort, plan))
    withdrew = shown[shown.index("Withdrew consent") :].split("</tr>")[0]
    assert withdrew.count("&lt;5") == 2 and "<td>2</td>" not in withdrew


def test_completion_table_withholds_what_the_plan_withholds(small_site):
    spec, out, inputs, _, _, _ = small_site
    plan = disclosure.load(inputs["disclosure"])
    csv = pd.read_csv(out / "missingness_table.csv")
    for _, record in csv.iterrows():
        key = disclosure.missingness_key(spec, record["row"], record["group"])
        if plan.hides(key):
            assert np.isnan(record["count"] if record["row"] != "analysed" else record["n"])


def test_prepost_counts_print_through_the_plan(tmp_path):
    # category at post: arm a 3 of 40 with the event (3 < 5: "<5"; the 37 without it print
    # nowhere, so 40 may print: events in [1, 4] whatever the intruder does), arm b 20/38;
    # a score's n of 4 in arm a: "<5".
    summary = pd.DataFrame(
        [
            {"outcome": "high", "timepoint": "post", "analysis_set": "itt", "arm": "a",
             "n": 40, "n_events": 3, "proportion": 3 / 40},
            {"outcome": "high", "timepoint": "post", "analysis_set": "itt", "arm": "b",
             "n": 38, "n_events": 20, "proportion": 20 / 38},
            {"outcome": "ee", "timepoint": "post", "analysis_set": "itt", "arm": "a",
             "n": 4, "n_events": np.nan, "proportion": np.nan},
        ]
    )  # fmt: skip
    summary.to_csv(tmp_path / "prepost_summary.csv", index=False)
    counts = Counts()
    disclosure.prepost_facts({}, {"prepost_summary": tmp_path / "prepost_summary.csv"}, counts)
    status = disclosure.plan(counts, K)
    assert status == {
        "prepost/itt/ee/post/a/n": "primary",
        "prepost/itt/high/post/a/events": "primary",
    }
    assert_protected(counts, status, K)
    plan = disclosure.Plan(K, status, frozenset(counts.values))
    rows = summary.to_dict("records")
    assert disclosure._prepost_cell(plan, rows[0], "3/40 (7.5)") == "<5/40"
    assert disclosure._prepost_cell(plan, rows[1], "20/38 (52.6)") is None
    assert disclosure._prepost_cell(plan, rows[2], "1.0 (0.0 to 2.0); n = 4") == (
        "1.0 (0.0 to 2.0); n = <5"
    )


def test_the_plan_is_byte_identical_from_run_to_run(small_site, tmp_path):
    spec, _, inputs, _, _, _ = small_site
    kinds = ["table1", "missingness_table"]
    again = tmp_path / "disclosure.json"
    disclosure.write_plan(disclosure.trial_counts(spec, kinds, inputs), K, again)
    assert again.read_bytes() == Path(inputs["disclosure"]).read_bytes()
