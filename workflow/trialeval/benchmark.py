"""Benchmark the fast REML engine (trialeval.mixed) against statsmodels' MixedLM.

    python -m trialeval.benchmark [--sizes 400 4000 40000 400000] [--repeat 3]
                                  [--skip-statsmodels-above 40000]

Two models on simulated two-arm trials with 3 visits (~15% of visits missing, seeded):

- ``participant``: score ~ arm * visit + (1 | participant)
- ``nested``:      score ~ arm * visit + (1 | participant) + (1 | site), 20 sites

Fast engine: ``fit_reml`` + the Satterthwaite contrast of the arm-by-last-visit interaction
(the design matrix is built before the clock starts). statsmodels: ``smf.mixedlm(formula,
data)`` + ``fit(reml=True)`` with its default optimiser (nested: ``groups=site``,
``vc_formula={"participant": "0 + C(participant)"}``). Both run in this process, one after the
other on the same data, so machine load affects both; the ratio is what to read.

Peak memory: each fit is run once more, untimed, in a fresh subprocess that simulates the same
data, resets the kernel's peak-RSS mark just before the fit (Linux ``/proc/self/clear_refs``)
and reads it after (``VmHWM`` in /proc/self/status; elsewhere ``ru_maxrss``): the peak resident
set of the whole process (interpreter, imports, data and fit) during the fit, and what the fit
added to the resident set it started from. (tracemalloc was not used: it slows statsmodels'
many small allocations by an order of magnitude, so a 40,000-participant statsmodels run would
take many minutes.)

BLAS threads: by default the CLI pins OpenBLAS/MKL/OpenMP to one thread (``--blas-threads``)
before numpy loads. On a small, shared machine multi-threaded BLAS makes the many small matrix
products of both engines several times slower and the timings erratic (measured here: 32 ms
vs 7.5 ms for the 400-participant fast fit); the pipeline's jobs run one per core anyway.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _pin_blas_threads(argv: Sequence[str]) -> None:
    """Apply --blas-threads N (default 1; 0 leaves the environment) before numpy loads."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--blas-threads", type=int, default=1)
    known, _ = pre.parse_known_args(argv)
    if known.blas_threads > 0:
        for var in BLAS_THREAD_VARS:
            os.environ[var] = str(known.blas_threads)


if __name__ == "__main__":
    # BLAS reads its thread count once, when numpy is first imported (just below).
    _pin_blas_threads(sys.argv[1:])

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from trialeval.mixed import contrast, fit_reml  # noqa: E402

__all__ = ["BenchRow", "format_report", "main", "run_benchmark", "simulate"]

MODELS = ("participant", "nested")
FORMULA = "score ~ arm * C(visit)"
# Column names as statsmodels' formula names them, so estimates are matched by name.
INTERACTION = "arm:C(visit)[T.2]"  # arm by last visit: the contrast that is timed
COLUMNS = ["Intercept", "C(visit)[T.1]", "C(visit)[T.2]", "arm", "arm:C(visit)[T.1]", INTERACTION]
N_VISITS = 3
N_SITES = 20
P_MISSING = 0.15
SEED = 20260401
DEFAULT_SIZES = (400, 4_000, 40_000, 400_000)
# statsmodels above these sizes runs only if its extrapolated time is within the budget.
SKIP_ABOVE = {"participant": 40_000, "nested": 4_000}
STATSMODELS_BUDGET_S = 120.0
# A first fit shorter than this is repeated (--repeat) and the median taken.
REPEAT_BELOW_S = 2.0
# "Flat" per-participant time: 400,000 may cost at most this times 4,000's per participant.
FLAT_RATIO = 1.5
TARGET_SPEEDUP = 100.0
MEMORY_LIMIT = 2 * 1024**3


@dataclass(frozen=True)
class Memory:
    """Peak resident set of a subprocess during one fit, and its resident set just before."""

    peak_bytes: int
    before_bytes: int

    @property
    def fit_bytes(self) -> int:
        return max(self.peak_bytes - self.before_bytes, 0)


@dataclass
class BenchRow:
    """One model at one size: seconds, ratio, agreement and peak memory of both engines."""

    model: str
    n_participants: int
    n_obs: int
    fast_s: float
    fast_repeats: int
    fast_memory: Memory | None = None
    sm_s: float | None = None
    sm_repeats: int = 0
    sm_memory: Memory | None = None
    sm_converged: bool | None = None
    max_diff_se: float | None = None
    note: str = ""
    estimates: dict = field(default_factory=dict, repr=False)

    @property
    def ratio(self) -> float | None:
        return None if self.sm_s is None else self.sm_s / self.fast_s

    @property
    def fast_us_per_participant(self) -> float:
        return 1e6 * self.fast_s / self.n_participants


# --------------------------------------------------------------------------------------------
# Data and the two engines
# --------------------------------------------------------------------------------------------


def simulate(n_participants: int, nested: bool, seed: int = SEED) -> pd.DataFrame:
    """Long data: participant, site, arm (0/1), visit (0..2), score; ~15% of visits missing.

    Sites are always drawn (so both models see the same participants); the site effect is
    added only for the nested model.
    """
    rng = np.random.default_rng([seed, n_participants, int(nested)])
    pid = np.repeat(np.arange(n_participants), N_VISITS)
    visit = np.tile(np.arange(N_VISITS), n_participants)
    arm = rng.integers(0, 2, n_participants)[pid].astype(float)
    site = rng.integers(0, N_SITES, n_participants)[pid]
    score = (
        20.0
        + 0.5 * arm
        + 0.4 * visit
        + 0.6 * arm * (visit == N_VISITS - 1)
        + rng.normal(0.0, 3.0, n_participants)[pid]
        + rng.normal(0.0, 2.5, pid.size)
    )
    if nested:
        score += rng.normal(0.0, 1.0, N_SITES)[site]
    kept = rng.random(pid.size) >= P_MISSING
    return pd.DataFrame(
        {
            "participant": pid[kept],
            "site": site[kept],
            "arm": arm[kept],
            "visit": visit[kept],
            "score": score[kept],
        }
    )


def design_matrix(data: pd.DataFrame) -> np.ndarray:
    """Treatment-coded arm * visit, columns in statsmodels' order (COLUMNS)."""
    visit = data["visit"].to_numpy()
    arm = data["arm"].to_numpy(dtype=float)
    v1 = (visit == 1).astype(float)
    v2 = (visit == 2).astype(float)
    return np.column_stack([np.ones(len(data)), v1, v2, arm, arm * v1, arm * v2])


def fast_fit(y: np.ndarray, x: np.ndarray, groups: np.ndarray, sites: np.ndarray | None):
    """What is timed for the fast engine: the REML fit and one Satterthwaite contrast."""
    fit = fit_reml(y, x, groups, sites=sites, column_names=COLUMNS)
    con = contrast(fit, pd.Series({INTERACTION: 1.0}))
    return fit, con


def statsmodels_fit(data: pd.DataFrame, nested: bool):
    """What is timed for statsmodels: building the model from the formula, and the REML fit."""
    import statsmodels.formula.api as smf

    with warnings.catch_warnings():
        # Convergence and boundary warnings are reported through `converged`, not printed.
        warnings.simplefilter("ignore")
        if nested:
            model = smf.mixedlm(
                FORMULA,
                data,
                groups="site",
                re_formula="1",
                vc_formula={"participant": "0 + C(participant)"},
            )
        else:
            model = smf.mixedlm(FORMULA, data, groups="participant")
        return model.fit(reml=True)


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, int, object]:
    """Median wall time of ``fn`` (repeated only when one call is short) and its result."""
    t0 = time.perf_counter()
    result = fn()
    times = [time.perf_counter() - t0]
    if times[0] < REPEAT_BELOW_S:
        for _ in range(repeat - 1):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times), result


def _maxrss_bytes() -> int:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _status_bytes(field: str) -> int | None:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in bytes; None without /proc."""
    try:
        with open("/proc/self/status") as handle:
            kb = next(int(line.split()[1]) for line in handle if line.startswith(f"{field}:"))
    except (OSError, StopIteration, ValueError):
        return None
    return kb * 1024


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark VmHWM (Linux: clear_refs 5).

    Without the reset, a transient peak of imports or data simulation would hide the fit's.
    ru_maxrss cannot be used instead: across fork + exec it keeps the parent's resident set,
    so a fresh child launched by a large benchmark process would report the parent's size.
    """
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def memory_child(engine: str, model: str, n: int, seed: int) -> dict:
    """Run one fit in this (fresh) process; return the peak RSS during the fit and the RSS
    just before it (both of the whole process: interpreter, imports, data)."""
    nested = model == "nested"
    data = simulate(n, nested, seed)
    if engine == "fast":
        y, x = data["score"].to_numpy(), design_matrix(data)
        groups = data["participant"].to_numpy()
        sites = data["site"].to_numpy() if nested else None
        del data

        def run():
            return fast_fit(y, x, groups, sites)
    else:
        import statsmodels.formula.api  # noqa: F401  (imports are not the fit's memory)

        def run():
            return statsmodels_fit(data, nested)

    if _reset_peak_rss() and (before := _status_bytes("VmRSS")) is not None:
        run()
        return {"before_bytes": before, "peak_bytes": _status_bytes("VmHWM")}
    # No /proc (not Linux): the process's lifetime peak, and its peak before the fit.
    before = _maxrss_bytes()
    run()
    return {"before_bytes": before, "peak_bytes": _maxrss_bytes()}


def _peak_memory(engine: str, model: str, n: int, seed: int) -> Memory:
    """Peak memory of one fit, measured in a fresh subprocess (see the module docstring)."""
    code = (
        "import json, sys; from trialeval.benchmark import memory_child; "
        "print(json.dumps(memory_child(*sys.argv[1:3], int(sys.argv[3]), int(sys.argv[4]))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, engine, model, str(n), str(seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    return Memory(**json.loads(done.stdout.strip().splitlines()[-1]))


def _predict_seconds(history: list[tuple[int, float]], n: int) -> tuple[float | None, float]:
    """Extrapolate statsmodels' time to n from its measured sizes (power law, log-log).

    With one measured size, cost is assumed linear (exponent 1): an optimistic guess.
    Returns (seconds or None without any measurement, exponent).
    """
    if not history:
        return None, math.nan
    (n0, t0) = history[-1]
    if len(history) == 1:
        return t0 * n / n0, 1.0
    (n1, t1) = history[-2]
    exponent = max(math.log(t0 / t1) / math.log(n0 / n1), 1.0)
    return t0 * (n / n0) ** exponent, exponent


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def run_benchmark(
    sizes: Sequence[int] = DEFAULT_SIZES,
    *,
    models: Sequence[str] = MODELS,
    repeat: int = 3,
    skip_statsmodels_above: int | None = None,
    skip_nested_statsmodels_above: int | None = None,
    statsmodels_budget_s: float = STATSMODELS_BUDGET_S,
    memory: bool = True,
    seed: int = SEED,
    log: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Fit every model at every size with both engines; one BenchRow per (model, size).

    statsmodels is skipped (with a note) above ``skip_statsmodels_above`` participants
    (``skip_nested_statsmodels_above`` for the nested model) when its time, extrapolated from
    the sizes already measured, exceeds ``statsmodels_budget_s``.
    """
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; expected some of {list(MODELS)}")
    limits = dict(SKIP_ABOVE)
    if skip_statsmodels_above is not None:
        limits["participant"] = skip_statsmodels_above
    if skip_nested_statsmodels_above is not None:
        limits["nested"] = skip_nested_statsmodels_above
    log = log or (lambda _msg: None)
    _warm_up()
    rows = []
    for model in models:
        history: list[tuple[int, float]] = []  # (participants, statsmodels seconds)
        for n in sorted(sizes):
            row = _bench_one(
                model, n, repeat, seed, memory, limits[model], statsmodels_budget_s, history, log
            )
            if row.sm_s is not None:
                history.append((n, row.sm_s))
            rows.append(row)
    return rows


def _bench_one(
    model: str,
    n: int,
    repeat: int,
    seed: int,
    memory: bool,
    skip_above: int,
    budget_s: float,
    history: list[tuple[int, float]],
    log: Callable[[str], None],
) -> BenchRow:
    """Both engines on one simulated data set."""
    nested = model == "nested"
    data = simulate(n, nested, seed)
    y = data["score"].to_numpy()
    x = design_matrix(data)
    groups = data["participant"].to_numpy()
    sites = data["site"].to_numpy() if nested else None

    def run_fast():
        return fast_fit(y, x, groups, sites)

    def run_statsmodels():
        return statsmodels_fit(data, nested)

    fast_s, fast_rep, (fit, _) = _timed(run_fast, repeat)
    row = BenchRow(model, n, len(data), fast_s, fast_rep)
    if memory:
        row.fast_memory = _peak_memory("fast", model, n, seed)
    log(f"{model} n={n:,}: fast {fast_s:.3f} s")

    predicted, exponent = _predict_seconds(history, n)
    if n > skip_above and (predicted is None or predicted > budget_s):
        how = (
            "no smaller size measured"
            if predicted is None
            else f"estimated {_duration(predicted)} (time ~ n^{exponent:.1f})"
        )
        row.note = f"statsmodels skipped: {how}"
        log(f"{model} n={n:,}: {row.note}")
        return row

    sm_s, sm_rep, result = _timed(run_statsmodels, repeat)
    row.sm_s, row.sm_repeats = sm_s, sm_rep
    row.sm_converged = bool(result.converged)
    fe = result.fe_params.reindex(COLUMNS)
    se = np.sqrt(np.diag(fit.cov_params.to_numpy()))
    row.max_diff_se = float(np.max(np.abs(fit.params.to_numpy() - fe.to_numpy()) / se))
    row.estimates = {"fast": fit.params, "statsmodels": fe}
    if not row.sm_converged:
        row.note = "statsmodels reports no convergence"
    log(f"{model} n={n:,}: statsmodels {sm_s:.3f} s ({sm_s / fast_s:.0f}x)")
    if memory:
        row.sm_memory = _peak_memory("statsmodels", model, n, seed)
    return row


def _warm_up() -> None:
    """One tiny fit per engine, so imports and first-call set-up are not timed."""
    data = simulate(60, True, seed=1)
    fast_fit(data["score"].to_numpy(), design_matrix(data), data["participant"].to_numpy(), None)
    statsmodels_fit(data, nested=False)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

HEADER = (
    "model",
    "participants",
    "obs",
    "fast s",
    "fast us/participant",
    "statsmodels s",
    "ratio",
    "max |diff|/SE",
    "fast peak MB (+fit)",
    "statsmodels peak MB (+fit)",
)


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def table_rows(rows: Sequence[BenchRow]) -> list[tuple[str, ...]]:
    """The report's table as strings (header first)."""
    out = [HEADER]
    for r in rows:
        out.append(
            (
                r.model,
                f"{r.n_participants:,}",
                f"{r.n_obs:,}",
                f"{r.fast_s:.3f}" + ("" if r.fast_repeats == 1 else f" (med {r.fast_repeats})"),
                f"{r.fast_us_per_participant:.2f}",
                "skipped"
                if r.sm_s is None
                else f"{r.sm_s:.2f}" + ("" if r.sm_repeats == 1 else f" (med {r.sm_repeats})"),
                _fmt(r.ratio, ".0f") + ("" if r.ratio is None else "x"),
                _fmt(r.max_diff_se, ".1e"),
                _memory_cell(r.fast_memory),
                _memory_cell(r.sm_memory),
            )
        )
    return out


def _memory_cell(memory: Memory | None) -> str:
    if memory is None:
        return "-"
    return f"{memory.peak_bytes / 1e6:.0f} (+{memory.fit_bytes / 1e6:.0f})"


def _align(table: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[j]) for row in table) for j in range(len(table[0]))]
    lines = []
    for i, row in enumerate(table):
        cells = [
            c.ljust(w) if j == 0 else c.rjust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _find(rows: Sequence[BenchRow], model: str, n: int) -> BenchRow | None:
    return next((r for r in rows if r.model == model and r.n_participants == n), None)


def verdicts(rows: Sequence[BenchRow]) -> list[str]:
    """One line per target: speed-up at 40,000, flat per-participant cost, memory at 400,000."""
    lines = []
    at = _find(rows, "participant", 40_000)
    label = ">= 100x faster than statsmodels at 40,000"
    if at is None or at.ratio is None:
        lines.append(f"{label}: not measured (needs size 40000 with statsmodels)")
    else:
        ok = at.ratio >= TARGET_SPEEDUP
        nested_at = _find(rows, "nested", 40_000)
        extra = ""
        if nested_at is not None and nested_at.ratio is not None:
            extra = f"; nested {nested_at.ratio:.0f}x"
        lines.append(
            f"{label}: {'yes' if ok else 'no'} ({at.ratio:.0f}x, participant model{extra})"
        )

    label = "per-participant time flat 4,000 -> 400,000"
    ratios = {}
    for model in MODELS:
        small, large = _find(rows, model, 4_000), _find(rows, model, 400_000)
        if small and large:
            ratios[model] = large.fast_us_per_participant / small.fast_us_per_participant
    if not ratios:
        lines.append(f"{label}: not measured (needs sizes 4000 and 400000)")
    else:
        worst = max(ratios.values())
        detail = ", ".join(f"{m} {v:.2f}" for m, v in ratios.items())
        lines.append(f"{label}: {'yes' if worst <= FLAT_RATIO else 'no'} ({detail})")

    label = "peak memory < 2 GB at 400,000"
    peaks = {
        m: r.fast_memory.peak_bytes
        for m in MODELS
        if (r := _find(rows, m, 400_000)) is not None and r.fast_memory is not None
    }
    if not peaks:
        lines.append(f"{label}: not measured (needs size 400000 and memory measurement)")
    else:
        worst = max(peaks.values())
        detail = ", ".join(f"{m} {v / 1e6:.0f} MB" for m, v in peaks.items())
        lines.append(
            f"{label}: {'yes' if worst < MEMORY_LIMIT else 'no'} ({detail}: fast engine, "
            "whole-process peak RSS)"
        )
    return lines


def format_report(rows: Sequence[BenchRow], memory: bool = True) -> str:
    """Aligned table, notes and the verdict lines."""
    notes = [
        f"- {r.model} n={r.n_participants:,}: {r.note}" for r in rows if r.note
    ]  # skipped or unconverged statsmodels fits
    parts = [
        "Fast REML engine (fit_reml + Satterthwaite contrast of arm x last visit) vs statsmodels "
        "MixedLM (smf.mixedlm + fit(reml=True), default optimiser), same process, same data.",
        "participant: score ~ arm * visit + (1 | participant); nested: + (1 | site), "
        f"{N_SITES} sites. {N_VISITS} visits, ~{P_MISSING:.0%} missing.",
        "ratio = statsmodels s / fast s; max |diff|/SE = largest |fixed-effect difference| "
        "/ fast engine's SE.",
        (
            "Peak memory: peak RSS (VmHWM, reset just before the fit) of a fresh subprocess "
            "running the fit once, untimed: whole-process peak MB during the fit (+ MB the fit "
            "added)."
            if memory
            else "Peak memory: not measured (--no-memory)."
        ),
        "",
        _align(table_rows(rows)),
    ]
    if notes:
        parts += ["", "Notes:", *notes]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    parts += [
        "",
        f"Whole benchmark process max RSS: {rss:,.0f} MB (includes data and both engines).",
        f"Python {platform.python_version()}, numpy {np.__version__}, {_load()}, {_blas_threads()}",
        "",
        *verdicts(rows),
    ]
    return "\n".join(parts)


def _blas_threads() -> str:
    value = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    return f"BLAS threads {value}" if value else "BLAS threads: library default"


def _load() -> str:
    try:
        return f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end"
    except (OSError, AttributeError):
        return ""


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trialeval.benchmark",
        description="Time the fast REML engine against statsmodels MixedLM on simulated trials.",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=list(DEFAULT_SIZES),
        help="participant counts (default: %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help=f"runs per fit when one run takes < {REPEAT_BELOW_S:g} s; the median is reported",
    )
    parser.add_argument(
        "--skip-statsmodels-above",
        type=int,
        default=SKIP_ABOVE["participant"],
        metavar="N",
        help="participant model: above N participants statsmodels runs only if its "
        "extrapolated time is within --statsmodels-budget (default: %(default)s)",
    )
    parser.add_argument(
        "--skip-nested-statsmodels-above",
        type=int,
        default=SKIP_ABOVE["nested"],
        metavar="N",
        help="the same for the nested model (default: %(default)s)",
    )
    parser.add_argument(
        "--statsmodels-budget",
        type=float,
        default=STATSMODELS_BUDGET_S,
        metavar="SECONDS",
        help="longest extrapolated statsmodels fit run above the skip sizes (default: %(default)s)",
    )
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the memory subprocesses (each fit runs once more)",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        metavar="N",
        help="BLAS/OpenMP threads for both engines, set before numpy loads (0: leave the "
        "environment as it is; default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(n < 10 for n in args.sizes):
        parser.error("--repeat must be >= 1 and every size >= 10")

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    rows = run_benchmark(
        args.sizes,
        models=args.models,
        repeat=args.repeat,
        skip_statsmodels_above=args.skip_statsmodels_above,
        skip_nested_statsmodels_above=args.skip_nested_statsmodels_above,
        statsmodels_budget_s=args.statsmodels_budget,
        memory=not args.no_memory,
        seed=args.seed,
        log=progress,
    )
    print(format_report(rows, memory=not args.no_memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
