"""Benchmark the MMRM engine (trialeval.mmrm) beside the random-intercept engine (trialeval.mixed).

    python -m trialeval.benchmark_mmrm [--sizes 1000 10000 100000] [--visits 4]
                                       [--covariance unstructured] [--blas-threads 1]

Simulated two-arm trials, ``visits`` post-baseline visits with AR(1) correlation 0.8 and
rising variances, monotone dropout (about 8% per visit) plus 5% intermittent misses, seeded.
Both engines fit score ~ arm * visit on the same data in the same run, one after the other:
``fit_mmrm`` (REML, residual covariance ``covariance``) and ``fit_reml`` (REML, + (1 |
participant)), each with the Satterthwaite contrast of the arm difference at the last visit.
The design matrix is built before the clock starts. Printed: seconds of each, the MMRM's
number of visit patterns, and the last-visit difference (estimate, SE, df) from each model.
BLAS is pinned to one thread by default (as the pipeline's jobs are), before numpy loads.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __name__ == "__main__":  # BLAS reads its thread count when numpy is first imported
    _pre = argparse.ArgumentParser(add_help=False)
    _pre.add_argument("--blas-threads", type=int, default=1)
    _threads = _pre.parse_known_args(sys.argv[1:])[0].blas_threads
    if _threads > 0:
        for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[_var] = str(_threads)

import numpy as np  # noqa: E402

from trialeval.mixed import contrast as ri_contrast  # noqa: E402
from trialeval.mixed import fit_reml  # noqa: E402
from trialeval.mmrm import contrast, fit_mmrm  # noqa: E402

SEED = 20260611
DEFAULT_SIZES = (1_000, 10_000, 100_000)


def simulate(n_participants: int, visits: int, seed: int = SEED):
    """(y, X, participant, visit, column names) of the observed rows, no effect of arm."""
    rng = np.random.default_rng(seed)
    lag = np.abs(np.subtract.outer(np.arange(visits), np.arange(visits)))
    sd = np.linspace(6.0, 9.0, visits)
    cov = np.outer(sd, sd) * 0.8**lag
    scores = rng.multivariate_normal(np.linspace(30, 27, visits), cov, size=n_participants)
    arm = rng.integers(0, 2, n_participants)
    dropout = rng.geometric(0.08, n_participants)  # first visit missed for good (1-based)
    observed = (np.arange(visits)[None, :] + 1 < dropout[:, None]) | (np.arange(visits) == 0)
    observed &= rng.random((n_participants, visits)) > 0.05
    pid, vis = np.nonzero(observed)
    columns = [np.ones(pid.size), arm[pid].astype(float)]
    names = ["Intercept", "arm"]
    for v in range(1, visits):
        columns.append((vis == v).astype(float))
        names.append(f"visit[{v}]")
    for v in range(1, visits):
        columns.append(arm[pid] * (vis == v))
        names.append(f"arm:visit[{v}]")
    return scores[pid, vis], np.column_stack(columns), pid, vis, names


def bench_one(n: int, visits: int, covariance: str) -> dict:
    y, X, pid, vis, names = simulate(n, visits)
    last = np.zeros(len(names))
    last[names.index("arm")] = last[names.index(f"arm:visit[{visits - 1}]")] = 1.0

    start = time.perf_counter()
    fit = fit_mmrm(y, X, pid, vis, covariance=covariance, column_names=names)
    mmrm = contrast(fit, last)
    mmrm_s = time.perf_counter() - start

    start = time.perf_counter()
    ri = ri_contrast(fit_reml(y, X, pid, column_names=names), last)
    ri_s = time.perf_counter() - start
    return {
        "n": n,
        "n_obs": y.size,
        "patterns": fit.n_patterns,
        "converged": fit.converged,
        "mmrm_s": mmrm_s,
        "ri_s": ri_s,
        "mmrm": mmrm,
        "ri": ri,
    }


def format_rows(rows: list[dict], visits: int, covariance: str) -> str:
    head = (
        f"MMRM ({covariance}, {visits} visits) vs random intercept, score ~ arm * visit, "
        "same data, same run; last-visit arm difference (no true effect)\n"
        f"{'participants':>12} {'obs':>8} {'patterns':>8} {'MMRM s':>8} {'RI s':>8} "
        f"{'MMRM est (se, df)':>26} {'RI est (se, df)':>26}"
    )
    lines = [head]
    for r in rows:
        m, i = r["mmrm"], r["ri"]
        lines.append(
            f"{r['n']:>12,} {r['n_obs']:>8,} {r['patterns']:>8} {r['mmrm_s']:>8.2f} "
            f"{r['ri_s']:>8.2f} {f'{m.estimate:.3f} ({m.se:.3f}, {m.df:.0f})':>26} "
            f"{f'{i.estimate:.3f} ({i.se:.3f}, {i.df:.0f})':>26}"
            + ("" if r["converged"] else "  (MMRM did not converge)")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--visits", type=int, default=4)
    parser.add_argument("--covariance", default="unstructured")
    parser.add_argument("--blas-threads", type=int, default=1, help="0: leave the environment")
    args = parser.parse_args(argv)
    rows = [bench_one(n, args.visits, args.covariance) for n in args.sizes]
    print(format_rows(rows, args.visits, args.covariance))
    return 0


if __name__ == "__main__":
    sys.exit(main())
