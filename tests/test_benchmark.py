"""The benchmark command at tiny sizes: report structure and agreement (never timing)."""

from __future__ import annotations

import numpy as np
import pytest

from trialeval import benchmark

SIZES = [200, 400]


@pytest.fixture(scope="module")
def rows() -> list[benchmark.BenchRow]:
    return benchmark.run_benchmark(SIZES, repeat=1, memory=True)


def test_one_row_per_model_and_size(rows):
    assert [(r.model, r.n_participants) for r in rows] == [
        (model, n) for model in benchmark.MODELS for n in SIZES
    ]
    for r in rows:
        assert 0.7 * 3 * r.n_participants < r.n_obs < 0.95 * 3 * r.n_participants  # ~15% missing
        assert r.fast_s > 0 and r.fast_repeats == 1
        assert r.sm_s is not None and r.sm_s > 0  # statsmodels always runs at these sizes
        assert r.sm_converged
        assert r.fast_memory.peak_bytes > 0 and r.sm_memory.peak_bytes > 0


def test_estimates_agree_with_statsmodels(rows):
    """Same data, same model: fixed effects agree to well within 1e-4 of their SE."""
    for r in rows:
        assert r.max_diff_se < 1e-4, (r.model, r.n_participants, r.max_diff_se)
        fast, sm = r.estimates["fast"], r.estimates["statsmodels"]
        assert list(fast.index) == list(sm.index) == benchmark.COLUMNS
        assert np.all(np.isfinite(sm.to_numpy()))


def test_report_layout(rows):
    text = benchmark.format_report(rows)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert set(lines[header + 1]) <= {"-", " "}
    table = lines[header + 2 : header + 2 + len(rows)]
    assert [line.split()[0] for line in table] == [r.model for r in rows]
    # Aligned: every table line as long as the separator, except for stripped trailing blanks.
    assert all(len(line) <= len(lines[header + 1]) for line in table)
    assert "VmHWM" in text  # says how memory was measured
    assert "BLAS threads" in text
    verdicts = lines[-3:]
    assert verdicts[0].startswith(">= 100x faster than statsmodels at 40,000: ")
    assert verdicts[1].startswith("per-participant time flat 4,000 -> 400,000: ")
    assert verdicts[2].startswith("peak memory < 2 GB at 400,000: ")
    assert all("not measured" in line for line in verdicts)  # sizes 40,000+ were not run


def test_verdicts_from_made_up_rows():
    """Verdict logic on hand-made rows (no fitting, no clock)."""
    mem = benchmark.Memory(peak_bytes=500_000_000, before_bytes=300_000_000)
    rows = [
        benchmark.BenchRow("participant", 4_000, 10_000, 0.10, 3, mem, 5.0, 1),
        benchmark.BenchRow("participant", 40_000, 100_000, 0.20, 1, mem, 40.0, 1),
        benchmark.BenchRow("participant", 400_000, 1_000_000, 20.0, 1, mem),
        benchmark.BenchRow("nested", 4_000, 10_000, 0.20, 3, mem, 30.0, 1),
        benchmark.BenchRow("nested", 400_000, 1_000_000, 5.0, 1, mem),
    ]
    speed, flat, memory = benchmark.verdicts(rows)
    assert speed.endswith("yes (200x, participant model)")
    assert flat.startswith("per-participant time flat 4,000 -> 400,000: no (participant 2.00")
    assert "nested 0.25" in flat
    assert memory.startswith("peak memory < 2 GB at 400,000: yes (participant 500 MB")


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
        import pandas as pd

        return pd.Series(0.0, index=benchmark.COLUMNS)


def test_cli_rejects_bad_sizes():
    with pytest.raises(SystemExit):
        benchmark.main(["--sizes", "5"])
