"""Writing outputs atomically (nothing half-written is left behind), job logs, and reading the
interim tables of earlier stages. Raw exports are read by trialeval.exports.

Every CSV the pipeline writes goes through `write_csv`, which neutralises text cells a
spreadsheet would run as a formula; the pipeline reads its own CSVs back with `read_csv`,
which undoes it, so ids and levels round-trip exactly.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_datetime64_any_dtype, is_numeric_dtype

from trialeval.errors import TrialInputError

_UMASK = os.umask(0)
os.umask(_UMASK)


# --------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------
# A temporary beside the target (same filesystem, so os.replace is atomic) is removed when the
# block fails (exception, Ctrl-C) or the process gets SIGTERM, which is how Snakemake stops
# its jobs. kill -9 cannot be caught: its leftover is removed by the next write of the same
# target, which a re-run always makes, since the killed job's outputs are missing or marked
# incomplete (profiles/default sets rerun-incomplete).

_OPEN_TEMPS: dict[Path, int] = {}  # this process's temporaries in use -> pid that made them


def _remove_stale_temps(final: Path) -> None:
    """Remove temporaries of `final` left by a killed writer. Snakemake runs one job per
    output at a time (and locks the working directory), so any temporary of this target that
    is not this process's own belongs to a dead job."""
    prefix = f".{final.name}."
    for stale in final.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        # mkstemp's random part has no dot: ".a.csv.x.<random>.tmp" is a.csv.x's, not a.csv's
        ours = "." not in stale.name[len(prefix) : -len(".tmp")]
        if ours and stale not in _OPEN_TEMPS:
            stale.unlink(missing_ok=True)


def _remove_temps_on_sigterm(signum, frame) -> None:
    for tmp, pid in list(_OPEN_TEMPS.items()):
        if pid == os.getpid():  # a forked child must not remove its parent's files
            tmp.unlink(missing_ok=True)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # then die of the signal, as without the handler


def _install_sigterm_cleanup() -> None:
    """Once, from the main thread, unless someone else already handles SIGTERM. SIGINT needs
    nothing: Python raises KeyboardInterrupt and atomic_path's `finally` removes the file."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _remove_temps_on_sigterm)


def _atomic_target(path: str | Path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _install_sigterm_cleanup()
    _remove_stale_temps(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    _OPEN_TEMPS[Path(tmp)] = os.getpid()
    return path, Path(tmp)


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path next to `path`; move it into place only if the block succeeds."""
    final, tmp = _atomic_target(path)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; outputs are ordinary files
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
        _OPEN_TEMPS.pop(tmp, None)


# --------------------------------------------------------------------------------------
# CSV: spreadsheet formula injection
# --------------------------------------------------------------------------------------
# Excel and LibreOffice run a cell that starts with = + - @ (or tab / carriage return) as a
# formula, so a covariate level "=HYPERLINK(...)" in an export would run on opening the
# table. OWASP's advice: prefix such a text cell with a single quote. Numbers are left as
# they are ("-0.45", "+1", "1e-3": a spreadsheet reads them as the number they are); numeric
# columns are never looked at. Cells already starting with quotes before such a character get
# one more, so `read_csv` can drop exactly one and every value round-trips.
_FORMULA_START = re.compile(r"'*[=+\-@\t\r]")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def neutralise_cell(text: str) -> str:
    """A text cell as written to CSV: quoted when a spreadsheet would run it as a formula."""
    if _FORMULA_START.match(text) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def restore_cell(text: str) -> str:
    """The inverse of `neutralise_cell`."""
    return text[1:] if text.startswith("'") and _FORMULA_START.match(text) else text


def _map_text(frame: pd.DataFrame, convert) -> pd.DataFrame:
    """`frame` with `convert` applied to its column names and to the text cells of its
    non-numeric columns; the same frame when nothing changes (the usual case)."""
    columns = [convert(c) if isinstance(c, str) else c for c in frame.columns]
    out = frame if columns == list(frame.columns) else frame.set_axis(columns, axis=1)
    for j in range(out.shape[1]):
        column = out.iloc[:, j]
        if is_numeric_dtype(column) or is_datetime64_any_dtype(column):
            continue
        changed = {}
        for value in pd.unique(column.dropna()):  # ids repeat over rows: look at each once
            if isinstance(value, str) and (converted := convert(value)) != value:
                changed[value] = converted
        if changed:
            out = out.copy(deep=False) if out is frame else out
            if isinstance(column.dtype, pd.CategoricalDtype):  # new values need no category
                column = column.astype(object)
            out.isetitem(j, column.replace(changed))
    return out


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """CSV with fixed line endings and full float precision, text cells neutralised against
    formula injection, written atomically."""
    safe = _map_text(frame, neutralise_cell)
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False, lineterminator="\n", float_format="%.10g")


def read_csv(path: str | Path, **kwargs) -> pd.DataFrame:
    """A CSV the pipeline wrote, with the text as it was before `write_csv`; an empty file
    (a stage with nothing to report) is an empty frame."""
    try:
        frame = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    return _map_text(frame, restore_cell)


def write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def write_json(obj, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextmanager
def log_to(path: str | Path | None):
    """Send the library's log records to a rule's log file for the duration of a job."""
    logger = logging.getLogger("trialeval")
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler()
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger
    except TrialInputError as error:  # the problems are the whole story: no stack
        logger.error("%s", error)
        raise
    except Exception:
        logger.exception("job failed")
        raise
    finally:
        logger.removeHandler(handler)
        handler.close()


def read_analysis_data(
    scores_path: str, participants_path: str, sets_path: str, outcome: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inputs of every analysis stage: (scores, participants with analysis-set flags).

    scores are long (participant_id, arm, site, timepoint, outcome, score), restricted to one
    outcome when given; participants carry covariates and one boolean column per set.
    """
    filters = [("outcome", "==", outcome)] if outcome is not None else None
    scores = pd.read_parquet(scores_path, filters=filters)
    participants = pd.read_parquet(participants_path)
    sets = pd.read_parquet(sets_path).drop(columns=["arm", "withdrawn"])
    return scores, participants.merge(sets, on="participant_id", how="left", validate="1:1")


def set_column(analysis_set: str, outcome: str | None = None) -> str:
    """The flag column of an analysis set for one outcome's analyses: complete case is per
    outcome (the outcome observed at every timepoint); the other sets are per participant."""
    if analysis_set == "complete_case" and outcome is not None:
        return f"complete_case:{outcome}"
    return analysis_set


def set_members(participants: pd.DataFrame, analysis_set: str, outcome: str | None = None):
    """The rows of `participants` (carrying the analysis-set flags) in the set an analysis of
    `outcome` uses."""
    column = set_column(analysis_set, outcome)
    if column not in participants:
        raise ValueError(
            f"no analysis-set flag {column!r}: build the sets with the scores "
            "(trialeval.analysis_sets.analysis_sets(..., scores))"
        )
    return participants[participants[column].astype(bool)]


def in_set(values: pd.Series, members) -> np.ndarray:
    """Boolean mask: which `values` are among `members`.

    pandas 3's Series.isin converts text values one at a time (1 s for 300,000 ids); Arrow's
    hash-based is_in does the same in milliseconds. Missing values are never members.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    value_set = pa.array(
        pd.Series(list(members) if isinstance(members, set) else members), type=pa.string()
    )
    mask = pc.is_in(pa.array(values.astype("string"), type=pa.string()), value_set=value_set)
    return mask.fill_null(False).to_numpy(zero_copy_only=False)
