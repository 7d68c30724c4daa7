"""Writing outputs atomically (nothing half-written is left behind), job logs, and reading the
interim tables of earlier stages. Raw exports are read by trialeval.exports."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from trialeval.errors import TrialInputError

_UMASK = os.umask(0)
os.umask(_UMASK)


def _atomic_target(path: str | Path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
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
        if tmp.exists():
            tmp.unlink()


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """CSV with fixed line endings and full float precision, written atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", float_format="%.10g")


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
