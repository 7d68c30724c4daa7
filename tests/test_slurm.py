"""The power target through a real SLURM scheduler (profiles/slurm) gives the local run's bytes.

Needs a running SLURM (`tests/cluster/local-slurm.sh` starts a one-node one, as root) and the
slurm extra (`pip install -e ".[slurm]"`). Marked `slurm`, so not in the default run:

    tests/cluster/local-slurm.sh && python -m pip install -e ".[slurm]" && CI=true pytest -m slurm

Without SLURM the test is skipped with the reason, except under CI=true, where it fails: CI
must exercise the real executor.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slurm

PROJECT = ("Snakefile", "config", "data", "workflow", "profiles")
# The power target's outputs (power_chunk's parts and power_summary's tables and figure).
POWER_OUTPUTS = (
    "coaching_rct/power.csv",
    "coaching_rct/power_summary.csv",
    "coaching_rct/figures/power_curve.png",
    "coaching_rct/figures/power_curve.svg",
)


def _missing() -> str | None:
    """Why the real scheduler cannot be used here, or None."""
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        return "no sbatch/squeue on PATH (start one with tests/cluster/local-slurm.sh)"
    sinfo = subprocess.run(["sinfo", "--noheader"], capture_output=True, text=True)
    if sinfo.returncode != 0 or not sinfo.stdout.strip():
        return f"SLURM does not answer sinfo: {sinfo.stderr.strip()[:200]}"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return 'the SLURM executor is not installed (pip install -e ".[slurm]")'
    return None


@pytest.fixture(scope="module")
def scheduler():
    reason = _missing()
    if reason and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the SLURM test cannot run: {reason}")
    if reason:
        pytest.skip(reason)


def _copy(target: Path) -> Path:
    target.mkdir()
    for name in PROJECT:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, target / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, target / name)
    return target


def _snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", *args, "power"]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def test_power_through_slurm_equals_the_local_run(scheduler, tmp_path):
    local = _copy(tmp_path / "local")
    cluster = _copy(tmp_path / "cluster")
    _snakemake(local, "--cores", "2")
    run = _snakemake(cluster, "--workflow-profile", "profiles/slurm")
    assert "SLURM jobid" in run.stdout + run.stderr  # submitted, not run locally
    chunks = sorted(p.relative_to(local) for p in local.glob("results/*/parts/power/*.csv"))
    assert chunks
    for path in [*chunks, *(Path("results") / name for name in POWER_OUTPUTS)]:
        assert (cluster / path).read_bytes() == (local / path).read_bytes(), path
