"""The check run when the DAG is built: every input of every trial is read as ingest reads it
(headers, ids, answers, covariates), so all the problems of all trials are reported before any
job starts, as one short list.

Reading everything on every snakemake call would make a no-op re-run slow, so a passed check
leaves a stamp per trial: a hash of the resolved trial spec, of each raw file's path, size and
modification time, and of the checking code. While the stamp matches, nothing is read again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from trialeval.config import raw_files
from trialeval.errors import Problems

# The library files whose code decides what passes the check (ingest/ is a package).
CHECKING_CODE = ("errors", "config", "exports", "io", "checks", "estimands")


def checking_code() -> list[Path]:
    here = Path(__file__).parent
    return [here / f"{m}.py" for m in CHECKING_CODE] + sorted((here / "ingest").glob("*.py"))


def fingerprint(view: dict, code: list[Path], files: list[str]) -> str | None:
    """A stamp's hash: of `view` (the settings the check reads), the checking code and each
    file's path, size and modification time; None when a file is missing (check it again)."""
    digest = hashlib.sha256(json.dumps(view, sort_keys=True, default=str).encode())
    for module in code:
        digest.update(module.read_bytes())
    for path in files:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _fingerprint(spec: dict) -> str | None:
    """What a passed check of the trial's raw exports depends on."""
    return fingerprint(spec, checking_code(), raw_files(spec))


def check_trials(specs: dict[str, dict], stamp_dir: str | Path) -> None:
    """Check every trial whose inputs changed since its last passed check; raise one
    TrialInputError listing every problem found (the first SHOWN, then a count)."""
    stamp_dir = Path(stamp_dir)
    problems = Problems()
    for trial_id, spec in specs.items():
        stamp = stamp_dir / f"{trial_id}.inputs-checked"
        key = _fingerprint(spec)
        if key is not None and stamp.is_file() and stamp.read_text() == key:
            continue
        from trialeval.ingest import check_inputs  # pandas and pyarrow only when needed

        before = problems.total
        check_inputs(spec, problems)
        if problems.total == before and key is not None:
            stamp_dir.mkdir(parents=True, exist_ok=True)
            partial = stamp.with_name(f".{stamp.name}.{os.getpid()}")
            partial.write_text(key)
            os.replace(partial, stamp)  # cluster jobs parse the Snakefile too, maybe at once
        elif stamp.is_file():
            stamp.unlink()
    problems.raise_if_any()
