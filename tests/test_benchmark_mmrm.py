"""The MMRM benchmark command at a tiny size: both engines run on the same data and the
report has one row per size (structure only, never timing)."""

from __future__ import annotations

from trialeval import benchmark_mmrm


def test_report_has_both_engines_on_the_same_rows():
    row = benchmark_mmrm.bench_one(300, visits=4, covariance="unstructured")
    assert row["converged"] and 2 <= row["patterns"] <= 15
    assert 0.6 * 1200 < row["n_obs"] < 1200
    # same contrast, same data: the two models' estimates are close, not equal
    assert abs(row["mmrm"].estimate - row["ri"].estimate) < row["mmrm"].se
    text = benchmark_mmrm.format_rows([row], 4, "unstructured")
    assert text.splitlines()[2].split()[0] == "300"
