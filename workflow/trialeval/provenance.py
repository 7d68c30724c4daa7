"""Provenance of a run: what went in (checksums), what ran it (code, packages), and when."""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import yaml

# The project's dependencies (pyproject.toml), reported with the versions that ran.
PACKAGES = (
    "trialeval",
    "snakemake",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "matplotlib",
    "pyyaml",
    "openpyxl",
    "pyarrow",
    "jsonschema",
    "python-docx",
)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_state(repo: str | Path) -> dict:
    """Commit and whether tracked files differ from it; 'unknown' outside a git checkout."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return done.stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "modified_tracked_files": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return {"commit": "unknown", "modified_tracked_files": None}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def demo_seeds(truth_files: list[str]) -> dict[str, dict]:
    """Seeds of the data generator, read from each trial's truth.yaml (synthetic demo only)."""
    seeds = {}
    for path in truth_files:
        truth = yaml.safe_load(Path(path).read_text())
        seeds[truth["trial"]] = {k: truth[k] for k in ("seed", "mc_seed") if k in truth}
    return seeds


def collect(inputs: list[str], repo: str | Path, truth_files: list[str]) -> dict:
    return {
        "time_of_run_utc": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "inputs_sha256": {path: sha256(path) for path in sorted(set(inputs))},
        "git": git_state(repo),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "seeds": {
            "demo_data": demo_seeds(truth_files),
            "figures": "jittered points drawn with numpy.random.default_rng(0)",
            "analyses": "no randomness: REML, OLS, rank tests and logistic fits are exact",
        },
    }


def run(inputs: list[str], repo: str, truth_files: list[str], out: str) -> None:
    from trialeval.io import write_json

    write_json(collect(inputs, repo, truth_files), out)
