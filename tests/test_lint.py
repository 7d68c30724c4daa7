"""Lint and format: ruff, snakefmt and `snakemake --lint` are clean."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

COMMANDS = {
    "ruff check": [sys.executable, "-m", "ruff", "check", "."],
    "ruff format": [sys.executable, "-m", "ruff", "format", "--check", "."],
    "snakefmt": [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "workflow/rules"],
    "snakemake --lint": [sys.executable, "-m", "snakemake", "--lint", "--cores", "1"],
}


@pytest.mark.parametrize("name", COMMANDS)
def test_clean(name):
    done = subprocess.run(COMMANDS[name], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{name}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    if name == "snakemake --lint":
        assert "Congratulations" in done.stdout + done.stderr
