"""Benchmark the whole pipeline: a cold run and a no-op re-run, beside Snakemake's own floor.

    python -m trialeval.benchmark_pipeline [--trials coaching_rct mentorship_prepost
        belonging_survey] [--repeat 3] [--cores 4] [--scale N] [--slurm]

Run from the project's top folder. The project (Snakefile, config, data, workflow, profiles)
is copied to a temporary folder, so results/ and .snakemake/ of the checkout are not touched.
In the same run it times:

- baseline: a no-op re-run of a one-rule workflow (Snakemake's start-up, DAG build and plugin
  scan alone; what no workflow can go below on this machine);
- cold: the named trials from nothing (wall seconds, and CPU seconds of Snakemake and of all
  its jobs), with the number of jobs;
- no-op: the same call again, `--repeat` times (median), and its ratio to the baseline;
- with `--scale N`: the coaching_scale trial with N participants x 3 waves
  (`python -m trialeval.simulate --scale N`), cold, the simulation not timed;
- with `--slurm`: the `power` target from cold, locally and through SLURM
  (`--workflow-profile profiles/slurm`; needs a running SLURM, e.g. tests/cluster/local-slurm.sh,
  and the slurm extra), each in its own copy.

Wall time moves with the machine's load: the load average is printed at the start and end.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ORIGINAL_DEMO = ("coaching_rct", "mentorship_prepost", "belonging_survey")
PROJECT = ("Snakefile", "config", "data", "workflow", "profiles", "pyproject.toml")
ONE_RULE = 'rule a:\n    output:\n        "a.txt",\n    shell:\n        "touch {output}"\n'


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], cwd: Path) -> dict:
    """Wall and CPU seconds (the command and everything it started) of one call."""
    cpu, start = _children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{done.stderr[-3000:]}")
    return {"wall": wall, "cpu": _children_cpu() - cpu, "log": done.stdout + done.stderr}


def snakemake(cores: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", str(cores), *extra]


def copy_project(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in PROJECT:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.is_file():
            shutil.copy2(path, target / name)
    return target


def baseline_noop(folder: Path, repeat: int) -> float:
    """Median wall seconds of a no-op re-run of a one-rule workflow."""
    (folder / "Snakefile").write_text(ONE_RULE)
    timed(snakemake(1), folder)
    return statistics.median(timed(snakemake(1), folder)["wall"] for _ in range(repeat))


def jobs_run(log: str) -> str:
    """The "<n> of <n> jobs done" count of the last progress line, as printed."""
    lines = [line for line in log.splitlines() if "jobs done" in line or "steps" in line]
    return lines[-1].strip() if lines else "?"


def run(
    project: Path,
    trials: list[str],
    *,
    repeat: int,
    cores: int,
    scale: int | None,
    slurm: bool = False,
):
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="trialeval-bench-") as tmp:
        tmp = Path(tmp)
        floor = baseline_noop(Path(tempfile.mkdtemp(dir=tmp)), repeat)
        copy = copy_project(project, tmp / "project")
        trial_list = "trials=[" + ",".join(f'"{t}"' for t in trials) + "]"
        call = snakemake(cores, "--config", trial_list)
        cold = timed(call, copy)
        noops = [timed(call, copy)["wall"] for _ in range(repeat)]
        rows = [
            ("baseline: one-rule workflow, no-op", floor, None, ""),
            (f"cold: {', '.join(trials)}", cold["wall"], cold["cpu"], jobs_run(cold["log"])),
            ("no-op re-run, same call", statistics.median(noops), None, ""),
        ]
        if scale:
            rows.append(scale_run(copy, tmp, scale, cores))
        if slurm:
            rows += power_runs(project, tmp, cores)
    print(f"load average at start {load_start[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    print(f"{'what':<58} {'wall s':>8} {'CPU s':>8} {'x baseline':>11}  jobs")
    for what, wall, cpu, jobs in rows:
        cpu_text = f"{cpu:8.1f}" if cpu is not None else f"{'':8}"
        print(f"{what:<58} {wall:8.2f} {cpu_text} {wall / floor:11.2f}  {jobs}")


def scale_run(copy: Path, tmp: Path, n: int, cores: int) -> tuple:
    raw = tmp / "scale"
    subprocess.run(
        [sys.executable, "-m", "trialeval.simulate", "--scale", str(n), "--out", str(raw)],
        cwd=copy,
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(copy / "workflow")},
    )
    extra = ['trials=["coaching_scale"]', f"raw_dir={raw}", f"results_dir={tmp / 'scale_out'}"]
    result = timed(snakemake(cores, "--config", *extra), copy)
    return (
        f"cold: coaching_scale, {n:,} participants x 3 waves",
        result["wall"],
        result["cpu"],
        jobs_run(result["log"]),
    )


def power_runs(project: Path, tmp: Path, cores: int) -> list[tuple]:
    """The power target from cold, locally and through the SLURM profile."""
    rows = []
    for name, extra in (
        ("local", ["--cores", str(cores)]),
        ("SLURM, profiles/slurm", ["--workflow-profile", "profiles/slurm"]),
    ):
        copy = copy_project(project, tmp / f"power-{len(rows)}")
        command = [sys.executable, "-m", "snakemake", *extra, "power"]
        result = timed(command, copy)
        rows.append((f"cold: power target, {name}", result["wall"], None, jobs_run(result["log"])))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", nargs="+", default=list(ORIGINAL_DEMO))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=4)
    parser.add_argument("--scale", type=int, help="also run coaching_scale with N participants")
    parser.add_argument("--slurm", action="store_true", help="also the power target via SLURM")
    args = parser.parse_args(argv)
    project = Path.cwd()
    if not (project / "Snakefile").is_file():
        raise SystemExit("run from the project's top folder (the one holding the Snakefile)")
    run(
        project,
        args.trials,
        repeat=args.repeat,
        cores=args.cores,
        scale=args.scale,
        slurm=args.slurm,
    )


if __name__ == "__main__":
    main()
