"""The benchmark command at tiny sizes: report structure and agreement (never timing).

No R needed: lme4 is replaced by a stand-in where a test needs its numbers (the real R call
runs only from the command line, python -m trialeval.benchmark --lme4-up-to N)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trialeval import benchmark

SIZES = [200, 400]


@pytest.fixture(scope="module")
def rows() -> list[benchmark.BenchRow]:
    return benchmark.run_benchmark(SIZES, repeat=1, memory=False)


def test_one_row_per_model_and_size(rows):
    assert [(r.model, r.n_participants) for r in rows] == [
        (model, n) for model in benchmark.MODELS for n in SIZES
    ]
    for r in rows:
        assert 0.7 * 3 * r.n_participants < r.n_obs < 0.95 * 3 * r.n_participants  # ~15% missing
        assert r.fast_s > 0 and r.fast_repeats == 1
        assert r.sm_s is not None and r.sm_s > 0  # statsmodels always runs at these sizes
        assert r.sm_converged
        assert r.lme4_s is None  # lme4 only when asked for (lme4_up_to)


def test_peak_memory_of_one_fit_in_a_fresh_process():
    memory = benchmark._peak_memory("fast", "participant", 200, benchmark.SEED)
    assert memory.peak_bytes >= memory.before_bytes > 10_000_000  # an interpreter with numpy


def test_estimates_agree_with_statsmodels(rows):
    """Same data, same model: fixed effects agree to well within 1e-4 of their SE."""
    for r in rows:
        assert r.max_diff_se < 1e-4, (r.model, r.n_participants, r.max_diff_se)
        fast, sm = r.estimates["fast"], r.estimates["statsmodels"]
        assert list(fast.index) == list(sm.index) == benchmark.COLUMNS
        assert np.all(np.isfinite(sm.to_numpy()))


def test_report_layout(rows):
    text = benchmark.format_report(rows, memory=False)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert set(lines[header + 1]) <= {"-", " "}
    table = lines[header + 2 : header + 2 + len(rows)]
    assert [line.split()[0] for line in table] == [r.model for r in rows]
    # Aligned: every table line as long as the separator, except for stripped trailing blanks.
    assert all(len(line) <= len(lines[header + 1]) for line in table)
    assert "lme4: not run (--lme4-up-to 0)" in text
    assert "BLAS threads" in text
    verdicts = lines[-6:]
    assert [line.split(":")[0] for line in verdicts] == [
        ">= 100x faster than statsmodels at 40,000",
        ">= 50x faster than lme4 at 40,000 and 400,000, both models",
        "per-participant time at 400,000 within 1.2x of 4,000's",
        "400,000 participants nested in sites in <= 0.5 s",
        "peak memory < 2 GB at 400,000",
        "1,000,000 participants x 3 visits in a process peaking <= 4 GB, data included",
    ]
    assert all("not measured" in line for line in verdicts)  # sizes 4,000+ were not run


def test_verdicts_from_made_up_rows():
    """Verdict logic on hand-made rows (no fitting, no clock)."""
    mem = benchmark.Memory(peak_bytes=500_000_000, before_bytes=300_000_000)
    big = benchmark.Memory(peak_bytes=3_000_000_000, before_bytes=3_000_000_000)

    def row(model, n, fast_s, sm_s=None, lme4_s=None, memory=mem):
        return benchmark.BenchRow(model, n, 3 * n, fast_s, 1, memory, sm_s, lme4_s=lme4_s)

    rows = [
        row("participant", 4_000, 0.010),
        row("participant", 40_000, 0.020, sm_s=4.0, lme4_s=1.2),
        row("participant", 400_000, 2.0, lme4_s=21.0),
        row("participant", 1_000_000, 1.0, memory=big),
        row("nested", 4_000, 0.020),
        row("nested", 40_000, 0.050, lme4_s=4.5),
        row("nested", 400_000, 0.40, lme4_s=59.0),
    ]
    speed, lme4, flat, nested, memory, million = benchmark.verdicts(rows)
    assert speed.endswith("yes (200x, participant model)")
    assert lme4 == (
        ">= 50x faster than lme4 at 40,000 and 400,000, both models: no (participant 40,000 "
        "60x, participant 400,000 10x, nested 40,000 90x, nested 400,000 148x)"
    )
    assert flat.endswith("no (participant 2.00, nested 0.20)")
    assert nested.endswith("yes (0.400 s)")
    assert memory.startswith("peak memory < 2 GB at 400,000: yes (participant 500 MB")
    assert million.endswith("yes (participant 3.00 GB)")


def test_lme4_output_is_read_under_the_engine_names():
    text = (
        "version 4.2.2 1.1.31\n"
        "seconds 0.25 3\n"
        "fixef (Intercept)=20.1 arm=0.5 visit1=0.4 visit2=0.8 arm:visit1=0.01 arm:visit2=0.6\n"
    )
    result = benchmark.parse_lme4_output(text)
    assert (result.seconds, result.repeats) == (0.25, 3)
    assert result.version == "R 4.2.2, lme4 1.1.31"
    assert list(result.fixef.index) == benchmark.COLUMNS
    assert result.fixef[benchmark.INTERACTION] == 0.6


def test_lme4_columns_from_a_stand_in(monkeypatch):
    """With lme4 available (here a stand-in returning the fast engine's estimates shifted by
    one SE), the row gets lme4's time, the ratio and the difference in SEs."""
    monkeypatch.setattr(benchmark, "lme4_status", lambda: None)

    def fake_lme4(data, model, repeat):
        fit = benchmark.fit_reml(data["score"], benchmark.design_matrix(data), data["participant"])
        se = np.sqrt(np.diag(fit.cov_params.to_numpy()))
        fixef = pd.Series(fit.params.to_numpy() + se, index=benchmark.COLUMNS)
        return benchmark.Lme4Result(1.5, 1, fixef, "R x, lme4 y")

    monkeypatch.setattr(benchmark, "lme4_fit", fake_lme4)
    (row,) = benchmark.run_benchmark(
        [200],
        models=["participant"],
        repeat=1,
        memory=False,
        lme4_up_to=200,
        skip_statsmodels_above=0,
        statsmodels_budget_s=0.0,
    )
    assert row.lme4_s == 1.5 and row.lme4_ratio == pytest.approx(1.5 / row.fast_s)
    assert row.lme4_diff_se == pytest.approx(1.0, rel=1e-6)
    assert "lme4: R x, lme4 y" in benchmark.format_report([row], memory=False, lme4_up_to=200)


def test_without_r_the_report_says_so(monkeypatch):
    monkeypatch.setattr(benchmark, "lme4_status", lambda: "Rscript not found")
    (row,) = benchmark.run_benchmark(
        [100],
        models=["participant"],
        repeat=1,
        memory=False,
        lme4_up_to=1_000,
        skip_statsmodels_above=0,
        statsmodels_budget_s=0.0,
    )
    assert row.lme4_s is None
    report = benchmark.format_report([row], memory=False, lme4_up_to=1_000)
    assert "lme4: not run (Rscript not found)." in report


def test_million_row_runs_in_a_fresh_process():
    """The --million row (here at 300 participants): a subprocess's time and whole peak."""
    row = benchmark._million_row("participant", 300, benchmark.SEED)
    assert row.n_participants == 300 and 600 < row.n_obs < 900 and row.fast_s > 0
    assert row.fast_memory.peak_bytes > 10_000_000
    assert "data included" in row.note


def test_statsmodels_is_skipped_when_extrapolation_says_minutes(monkeypatch):
    """Above the skip size, statsmodels runs only if its predicted time fits the budget."""
    calls = []
    monkeypatch.setattr(benchmark, "statsmodels_fit", lambda *a, **k: calls.append(a) or _Fake())
    rows = benchmark.run_benchmark(
        [100, 200],
        models=["participant"],
        repeat=1,
        skip_statsmodels_above=100,
        statsmodels_budget_s=0.0,
        memory=False,
    )
    assert rows[0].sm_s is not None and rows[1].sm_s is None
    assert rows[1].note.startswith("statsmodels skipped: estimated")
    assert "statsmodels skipped" in benchmark.format_report(rows, memory=False)


class _Fake:
    """Stands in for a statsmodels result."""

    converged = True

    @property
    def fe_params(self):
        return pd.Series(0.0, index=benchmark.COLUMNS)


def test_cli_rejects_bad_sizes():
    with pytest.raises(SystemExit):
        benchmark.main(["--sizes", "5"])
