"""Benchmark the fast REML engine (trialeval.mixed) against statsmodels' MixedLM and lme4.

    python -m trialeval.benchmark [--sizes 400 4000 40000 400000] [--repeat 3]
                                  [--skip-statsmodels-above 40000] [--lme4-up-to 40000]
                                  [--million]

Everything the README's performance table reports, in one run (about 10 minutes here):

    python -m trialeval.benchmark --lme4-up-to 400000 --million

Two models on simulated two-arm trials with 3 visits (~15% of visits missing, seeded):

- ``participant``: score ~ arm * visit + (1 | participant)
- ``nested``:      score ~ arm * visit + (1 | participant) + (1 | site), 20 sites

Fast engine: ``fit_reml`` + the Satterthwaite contrast of the arm-by-last-visit interaction
(the design matrix is built before the clock starts). statsmodels: ``smf.mixedlm(formula,
data)`` + ``fit(reml=True)`` with its default optimiser (nested: ``groups=site``,
``vc_formula={"participant": "0 + C(participant)"}``). Both run in this process, one after the
other on the same data, so machine load affects both; the ratio is what to read.

lme4 (when ``Rscript`` and the R package lme4 are installed; otherwise the report says so and
the benchmark goes on): the same data, written once to a CSV file (not timed), read by an R
process that times ``lmer(score ~ arm * visit + (1 | participant) [+ (1 | site)], REML = TRUE)``
alone with ``system.time`` (default optimiser and settings), repeated like the engine's fits
when short, median taken. Only up to ``--lme4-up-to`` participants, since lme4 needs about a
minute for 400,000 nested participants.

``--million``: one more fit of each model at 1,000,000 participants x 3 visits, each in a fresh
subprocess, reporting the time of the fit and the peak resident memory of that whole process
(data simulation and design matrix included).

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
import functools
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
FLAT_RATIO = 1.2
TARGET_SPEEDUP = 100.0  # vs statsmodels at 40,000
TARGET_LME4_SPEEDUP = 50.0  # vs lme4 at 40,000 and 400,000, both models
NESTED_400K_LIMIT_S = 0.5
MEMORY_LIMIT = 2 * 1024**3  # at 400,000
MILLION = 1_000_000
MILLION_MEMORY_LIMIT = 4 * 1024**3
DEFAULT_LME4_UP_TO = 40_000
# lme4's fixed-effect names -> the engine's (statsmodels') names
LME4_NAMES = {
    "(Intercept)": "Intercept",
    "visit1": "C(visit)[T.1]",
    "visit2": "C(visit)[T.2]",
    "arm": "arm",
    "arm:visit1": "arm:C(visit)[T.1]",
    "arm:visit2": INTERACTION,
}
LME4_SCRIPT = r"""
# Rscript lme4_fit.R data.csv participant|nested repeats repeat_below_s
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(lme4))
d <- read.csv(args[1])
d$visit <- factor(d$visit)
d$participant <- factor(d$participant)
d$site <- factor(d$site)
form <- if (args[2] == "nested") {
  score ~ arm * visit + (1 | participant) + (1 | site)
} else {
  score ~ arm * visit + (1 | participant)
}
times <- c()
for (i in seq_len(as.integer(args[3]))) {
  times[i] <- system.time(fit <- lmer(form, data = d, REML = TRUE))[["elapsed"]]
  if (times[1] >= as.numeric(args[4])) break
}
cat("version", paste(R.version$major, R.version$minor, sep = "."),
    as.character(packageVersion("lme4")), "\n")
cat("seconds", median(times), length(times), "\n")
cat("fixef", sprintf("%s=%.17g", names(fixef(fit)), fixef(fit)), "\n")
"""


@dataclass(frozen=True)
class Memory:
    """Peak resident set of a subprocess during one fit, and its resident set just before."""

    peak_bytes: int
    before_bytes: int
    whole_process: bool = False  # the process's lifetime peak (the --million rows)

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
    lme4_s: float | None = None
    lme4_repeats: int = 0
    lme4_diff_se: float | None = None
    lme4_version: str = ""
    note: str = ""
    estimates: dict = field(default_factory=dict, repr=False)

    @property
    def ratio(self) -> float | None:
        return None if self.sm_s is None else self.sm_s / self.fast_s

    @property
    def lme4_ratio(self) -> float | None:
        return None if self.lme4_s is None else self.lme4_s / self.fast_s

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


@functools.cache
def lme4_status() -> str | None:
    """None when Rscript can load lme4; otherwise why lme4 cannot run."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "Rscript not found"
    check = 'quit(status = if (requireNamespace("lme4", quietly = TRUE)) 0 else 1)'
    done = subprocess.run([rscript, "-e", check], capture_output=True, check=False)
    return None if done.returncode == 0 else "the R package lme4 is not installed"


@dataclass(frozen=True)
class Lme4Result:
    seconds: float  # median of the timed lmer() calls
    repeats: int
    fixef: pd.Series  # under the engine's names
    version: str  # "R 4.2.2, lme4 1.1-31"


def lme4_fit(data: pd.DataFrame, model: str, repeat: int) -> Lme4Result:
    """Time lmer() on ``data`` in an R process (see the module docstring); the CSV file it
    reads is written before, untimed."""
    with tempfile.TemporaryDirectory(prefix="trialeval-lme4-") as tmp:
        csv, script = Path(tmp) / "data.csv", Path(tmp) / "lme4_fit.R"
        data.to_csv(csv, index=False)
        script.write_text(LME4_SCRIPT)
        args = [str(script), str(csv), model, str(repeat), str(REPEAT_BELOW_S)]
        done = subprocess.run(
            [shutil.which("Rscript") or "Rscript", *args],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"lme4 failed: {done.stderr.strip()[-300:]}")
    return parse_lme4_output(done.stdout)


def parse_lme4_output(text: str) -> Lme4Result:
    """The lines the R script prints: version, seconds (median, repeats), fixef name=value."""
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line.strip()}
    seconds, repeats = lines["seconds"]
    fixef = dict(item.split("=") for item in lines["fixef"])
    r_version, lme4_version = lines["version"]
    return Lme4Result(
        seconds=float(seconds),
        repeats=int(repeats),
        fixef=pd.Series({LME4_NAMES[k]: float(v) for k, v in fixef.items()}).reindex(COLUMNS),
        version=f"R {r_version}, lme4 {lme4_version}",
    )


def million_child(model: str, n: int, seed: int) -> dict:
    """One fit at n participants in this (fresh) process: its seconds and the peak resident
    set of the whole process so far (data simulation, design matrix and fit)."""
    nested = model == "nested"
    data = simulate(n, nested, seed)  # kept alive: the data count towards the peak
    y, x = data["score"].to_numpy(), design_matrix(data)
    groups = data["participant"].to_numpy()
    sites = data["site"].to_numpy() if nested else None
    t0 = time.perf_counter()
    fit, _ = fast_fit(y, x, groups, sites)
    seconds = time.perf_counter() - t0
    peak = _status_bytes("VmHWM") or _maxrss_bytes()
    return {"seconds": seconds, "peak_bytes": peak, "n_obs": fit.n_obs}


def _million_row(model: str, n: int, seed: int) -> BenchRow:
    code = (
        "import json, sys; from trialeval.benchmark import million_child; "
        "print(json.dumps(million_child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, model, str(n), str(seed)],
        check=True,
        capture_output=True,
        text=True,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return BenchRow(
        model,
        n,
        out["n_obs"],
        out["seconds"],
        1,
        fast_memory=Memory(out["peak_bytes"], out["peak_bytes"], whole_process=True),
        note="one fit in a fresh process; its peak is the whole process's, data included",
    )


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
    lme4_up_to: int = 0,
    million: bool = False,
    seed: int = SEED,
    log: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Fit every model at every size with each engine; one BenchRow per (model, size).

    statsmodels is skipped (with a note) above ``skip_statsmodels_above`` participants
    (``skip_nested_statsmodels_above`` for the nested model) when its time, extrapolated from
    the sizes already measured, exceeds ``statsmodels_budget_s``. lme4 runs at sizes up to
    ``lme4_up_to`` when available (lme4_status). ``million`` adds one row per model at
    1,000,000 participants (fast engine only, fresh subprocess, see million_child).
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
            if n <= lme4_up_to and lme4_status() is None:
                _add_lme4(row, repeat, seed, log)
            rows.append(row)
        if million:
            rows.append(_million_row(model, MILLION, seed))
            log(f"{model} n={MILLION:,}: fast {rows[-1].fast_s:.3f} s (fresh process)")
    return rows


def _add_lme4(row: BenchRow, repeat: int, seed: int, log: Callable[[str], None]) -> None:
    """lme4 on the data of ``row`` (simulated again: same seed, same data)."""
    data = simulate(row.n_participants, row.model == "nested", seed)
    try:
        result = lme4_fit(data, row.model, repeat)
    except RuntimeError as error:
        row.note = "; ".join(filter(None, [row.note, str(error)]))
        return
    row.lme4_s, row.lme4_repeats, row.lme4_version = result.seconds, result.repeats, result.version
    fast, se = row.estimates["fast"], row.estimates["se"]
    row.lme4_diff_se = float(np.max(np.abs(fast - result.fixef) / se))
    log(f"{row.model} n={row.n_participants:,}: lme4 {result.seconds:.3f} s")


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
    se = pd.Series(np.sqrt(np.diag(fit.cov_params.to_numpy())), index=COLUMNS)
    row.estimates = {"fast": fit.params, "se": se}
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
    row.max_diff_se = float(np.max(np.abs(fit.params.to_numpy() - fe.to_numpy()) / se.to_numpy()))
    row.estimates["statsmodels"] = fe
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
    "lme4 s",
    "lme4 ratio",
    "lme4 |diff|/SE",
    "fast peak MB (+fit)",
    "statsmodels peak MB (+fit)",
)


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def _seconds(value: float | None, repeats: int, missing: str) -> str:
    if value is None:
        return missing
    return f"{value:.3f}" + ("" if repeats == 1 else f" (med {repeats})")


def table_rows(rows: Sequence[BenchRow]) -> list[tuple[str, ...]]:
    """The report's table as strings (header first)."""
    out = [HEADER]
    for r in rows:
        out.append(
            (
                r.model,
                f"{r.n_participants:,}",
                f"{r.n_obs:,}",
                _seconds(r.fast_s, r.fast_repeats, "-"),
                f"{r.fast_us_per_participant:.2f}",
                _seconds(r.sm_s, r.sm_repeats, "skipped"),
                _fmt(r.ratio, ".0f") + ("" if r.ratio is None else "x"),
                _fmt(r.max_diff_se, ".1e"),
                _seconds(r.lme4_s, r.lme4_repeats, "-"),
                _fmt(r.lme4_ratio, ".0f") + ("" if r.lme4_ratio is None else "x"),
                _fmt(r.lme4_diff_se, ".1e"),
                _memory_cell(r.fast_memory),
                _memory_cell(r.sm_memory),
            )
        )
    return out


def _memory_cell(memory: Memory | None) -> str:
    if memory is None:
        return "-"
    if memory.whole_process:
        return f"{memory.peak_bytes / 1e6:.0f} (whole)"
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


def _verdict(label: str, ok: bool | None, detail: str, missing: str) -> str:
    if ok is None:
        return f"{label}: not measured ({missing})"
    return f"{label}: {'yes' if ok else 'no'} ({detail})"


def verdicts(rows: Sequence[BenchRow]) -> list[str]:
    """One line per target (README "Performance"; the speed issue's targets)."""
    lines = []
    at = _find(rows, "participant", 40_000)
    ok = detail = None
    if at is not None and at.ratio is not None:
        ok = at.ratio >= TARGET_SPEEDUP
        nested_at = _find(rows, "nested", 40_000)
        extra = ""
        if nested_at is not None and nested_at.ratio is not None:
            extra = f"; nested {nested_at.ratio:.0f}x"
        detail = f"{at.ratio:.0f}x, participant model{extra}"
    lines.append(
        _verdict(
            ">= 100x faster than statsmodels at 40,000",
            ok,
            detail,
            "needs size 40000 with statsmodels",
        )
    )

    cells = [
        (m, n, r.lme4_ratio)
        for m in MODELS
        for n in (40_000, 400_000)
        if (r := _find(rows, m, n)) is not None and r.lme4_ratio is not None
    ]
    complete = len(cells) == 2 * len(MODELS)
    lines.append(
        _verdict(
            ">= 50x faster than lme4 at 40,000 and 400,000, both models",
            all(v >= TARGET_LME4_SPEEDUP for *_, v in cells) if complete else None,
            ", ".join(f"{m} {n:,} {v:.0f}x" for m, n, v in cells),
            "needs sizes 40000 and 400000 with --lme4-up-to 400000 and lme4 installed",
        )
    )

    ratios = {}
    for model in MODELS:
        small, large = _find(rows, model, 4_000), _find(rows, model, 400_000)
        if small and large:
            ratios[model] = large.fast_us_per_participant / small.fast_us_per_participant
    lines.append(
        _verdict(
            f"per-participant time at 400,000 within {FLAT_RATIO}x of 4,000's",
            max(ratios.values()) <= FLAT_RATIO if ratios else None,
            ", ".join(f"{m} {v:.2f}" for m, v in ratios.items()),
            "needs sizes 4000 and 400000",
        )
    )

    nested = _find(rows, "nested", 400_000)
    lines.append(
        _verdict(
            f"400,000 participants nested in sites in <= {NESTED_400K_LIMIT_S} s",
            None if nested is None else nested.fast_s <= NESTED_400K_LIMIT_S,
            "" if nested is None else f"{nested.fast_s:.3f} s",
            "needs size 400000",
        )
    )

    peaks = {
        m: r.fast_memory.peak_bytes
        for m in MODELS
        if (r := _find(rows, m, 400_000)) is not None and r.fast_memory is not None
    }
    lines.append(
        _verdict(
            "peak memory < 2 GB at 400,000",
            max(peaks.values()) < MEMORY_LIMIT if peaks else None,
            ", ".join(f"{m} {v / 1e6:.0f} MB" for m, v in peaks.items())
            + ": fast engine, whole-process peak RSS",
            "needs size 400000 and memory measurement",
        )
    )

    million = {
        m: r.fast_memory.peak_bytes
        for m in MODELS
        if (r := _find(rows, m, MILLION)) is not None and r.fast_memory is not None
    }
    lines.append(
        _verdict(
            "1,000,000 participants x 3 visits in a process peaking <= 4 GB, data included",
            max(million.values()) <= MILLION_MEMORY_LIMIT if million else None,
            ", ".join(f"{m} {v / 1e9:.2f} GB" for m, v in million.items()),
            "needs --million",
        )
    )
    return lines


def lme4_line(rows: Sequence[BenchRow], lme4_up_to: int) -> str:
    """What the lme4 columns are, or why they are empty."""
    measured = [r for r in rows if r.lme4_s is not None]
    if measured:
        return (
            f"lme4: {measured[0].lme4_version}, lmer(REML = TRUE), default optimiser; only the "
            "lmer() call timed (system.time), data read from a CSV file before; "
            "lme4 ratio = lme4 s / fast s; up to "
            f"{lme4_up_to:,} participants (--lme4-up-to)."
        )
    if lme4_up_to <= 0:
        return "lme4: not run (--lme4-up-to 0)."
    why = lme4_status()
    return f"lme4: not run ({why})." if why else "lme4: not run (no size within --lme4-up-to)."


def format_report(rows: Sequence[BenchRow], memory: bool = True, lme4_up_to: int = 0) -> str:
    """Aligned table, notes and the verdict lines."""
    notes = [
        f"- {r.model} n={r.n_participants:,}: {r.note}" for r in rows if r.note
    ]  # skipped or unconverged statsmodels fits, lme4 failures, the million rows
    parts = [
        "Fast REML engine (fit_reml + Satterthwaite contrast of arm x last visit) vs statsmodels "
        "MixedLM (smf.mixedlm + fit(reml=True), default optimiser), same process, same data.",
        "participant: score ~ arm * visit + (1 | participant); nested: + (1 | site), "
        f"{N_SITES} sites. {N_VISITS} visits, ~{P_MISSING:.0%} missing.",
        "ratio = statsmodels s / fast s; max |diff|/SE = largest |fixed-effect difference| "
        "/ fast engine's SE.",
        lme4_line(rows, lme4_up_to),
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
    parser.add_argument(
        "--lme4-up-to",
        type=int,
        default=DEFAULT_LME4_UP_TO,
        metavar="N",
        help="run lme4 (when Rscript and lme4 are installed) at sizes up to N participants; "
        "0: never (default: %(default)s; 400000 measures the issue's targets, about 2 more "
        "minutes)",
    )
    parser.add_argument(
        "--million",
        action="store_true",
        help="also fit each model at 1,000,000 participants x 3 visits in a fresh process and "
        "report its time and the process's peak memory (data included)",
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
        lme4_up_to=args.lme4_up_to,
        million=args.million,
        seed=args.seed,
        log=progress,
    )
    print(format_report(rows, memory=not args.no_memory, lme4_up_to=args.lme4_up_to))
    return 0


if __name__ == "__main__":
    sys.exit(main())
