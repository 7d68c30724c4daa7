"""pyproject.toml (pip) and environment.yml (conda) must install the same packages."""

from __future__ import annotations

import re
import tomllib

import yaml

from conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_pyproject_and_environment_list_the_same_packages():
    with open(ROOT / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    pip_names = {_name(r) for r in project["dependencies"]}
    for extra in ("test", "slurm"):
        pip_names |= {_name(r) for r in project["optional-dependencies"][extra]}

    with open(ROOT / "environment.yml") as handle:
        env = yaml.safe_load(handle)
    conda_names = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    conda_names -= {"python", "pip"}

    assert pip_names == conda_names, (
        f"only in pyproject.toml: {sorted(pip_names - conda_names)}; "
        f"only in environment.yml: {sorted(conda_names - pip_names)}"
    )
    # the conda environment installs the library itself from the checkout
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section
