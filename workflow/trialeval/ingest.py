"""Ingest: read the participants file and one export per wave, normalise ids, validate.

Produces two tables (written to results/<trial>/interim/):
- participants: one row per allocated participant: participant_id, arm, site, covariates,
  withdrawn, adherence (the per-protocol column, when configured);
- items: one row per survey response (participant x timepoint), the item columns the trial's
  instruments need as floats; withdrawn participants' responses are not carried forward.

Raw files are only read. Every problem raises TrialInputError naming the file, the row (counting
the header as row 1, as a spreadsheet does), the column and what was expected.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from trialeval.config import SINGLE_GROUP, item_columns
from trialeval.errors import TrialInputError
from trialeval.io import in_set, read_header, read_table, write_parquet

log = logging.getLogger(__name__)

YES = {"yes", "y", "true", "t", "1", "1.0"}
NO = {"no", "n", "false", "f", "0", "0.0", ""}


def normalise_ids(ids: pd.Series) -> pd.Series:
    """Ids as the pipeline compares them: no whitespace, upper case (' cr-0001 ' -> 'CR-0001')."""
    return ids.astype("string").str.replace(r"\s+", "", regex=True).str.upper()


def _row(index: int) -> int:
    """Spreadsheet row number of a data row (header is row 1)."""
    return int(index) + 2


def _require_columns(frame: pd.DataFrame, columns: dict[str, str], path, config_file) -> None:
    for column, key in columns.items():
        if column not in frame.columns:
            raise TrialInputError(
                f"{path}: column {column!r} not found ({key} in {config_file}); "
                f"columns present: {', '.join(frame.columns[:15])}"
            )


def _numeric(frame: pd.DataFrame, column: str, path, what: str) -> pd.Series:
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    bad = frame[column].notna() & values.isna()
    if bad.any():
        i = bad.idxmax()
        raise TrialInputError(
            f"{path}: row {_row(i)}, column {column!r}: {frame.at[i, column]!r} is not a "
            f"number; expected {what}"
        )
    return values.astype(float)


def read_participants(spec: dict) -> pd.DataFrame:
    """Read and validate the participants file; return the participants table."""
    path = Path(spec["participants_file"])
    cfg = spec["config_file"]
    raw = read_table(path, spec["sheet"])
    required = {spec["id_column"]: "data.id_column"}
    if spec["arm_column"]:
        required[spec["arm_column"]] = "data.arm_column"
    if spec["site_column"]:
        required[spec["site_column"]] = "data.site_column"
    if spec["withdrawal_column"]:
        required[spec["withdrawal_column"]] = "data.withdrawal_column"
    for cov in spec["covariates"]:
        required[cov["name"]] = "covariates"
    if spec["per_protocol"]:
        required[spec["per_protocol"]["column"]] = "analysis_sets.per_protocol.column"
    _require_columns(raw, required, path, cfg)

    ids = normalise_ids(raw[spec["id_column"]])
    empty = ids.isna() | (ids == "")
    if empty.any():
        raise TrialInputError(
            f"{path}: row {_row(empty.idxmax())}: empty participant id in column "
            f"{spec['id_column']!r}; every enrolled participant needs an id"
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        first = ids[dup].iloc[0]
        rows = [_row(i) for i in ids.index[ids == first]]
        raise TrialInputError(
            f"{path}: participant id {first!r} appears {len(rows)} times (rows "
            f"{', '.join(map(str, rows))}); ids must be unique after removing spaces and case"
        )
    out = pd.DataFrame({"participant_id": ids.astype(str)})

    arm_ids = [a["id"] for a in spec["arms"]]
    if spec["arm_column"]:
        arms = raw[spec["arm_column"]].astype("string").str.strip()
        bad = arms.isna() | ~arms.isin(arm_ids)
        if bad.any():
            i = bad.idxmax()
            raise TrialInputError(
                f"{path}: row {_row(i)} (participant {ids[i]}): arm "
                f"{raw.at[i, spec['arm_column']]!r} in column {spec['arm_column']!r} is not an "
                f"arm of the trial; expected one of "
                f"{', '.join(arm_ids)} (arms in {cfg})"
            )
        out["arm"] = arms.astype(str).to_numpy()
    else:
        out["arm"] = SINGLE_GROUP

    if spec["site_column"]:
        sites = raw[spec["site_column"]].astype("string").str.strip()
        if sites.isna().any():
            i = sites.isna().idxmax()
            raise TrialInputError(
                f"{path}: row {_row(i)} (participant {ids[i]}): site column "
                f"{spec['site_column']!r} is empty"
            )
        if spec["sites"]:
            bad = ~sites.isin(spec["sites"])
            if bad.any():
                i = bad.idxmax()
                raise TrialInputError(
                    f"{path}: row {_row(i)} (participant {ids[i]}): site {sites[i]!r} is not "
                    f"listed in `sites` of {cfg}; expected one of {', '.join(spec['sites'])}"
                )
        out["site"] = sites.astype(str).to_numpy()

    if spec["withdrawal_column"]:
        col = spec["withdrawal_column"]
        flags = raw[col].fillna("").astype(str).str.strip().str.lower()
        bad = ~flags.isin(YES | NO)
        if bad.any():
            i = bad.idxmax()
            raise TrialInputError(
                f"{path}: row {_row(i)}, column {col!r}: {raw.at[i, col]!r} is not a yes/no "
                f"value; expected yes/no, true/false or 1/0 (empty means no)"
            )
        out["withdrawn"] = flags.isin(YES).to_numpy()
    else:
        out["withdrawn"] = False

    for cov in spec["covariates"]:
        name = cov["name"]
        if cov["type"] == "numeric":
            out[name] = _numeric(raw, name, path, f"a number for covariate {name!r}").to_numpy()
        else:
            out[name] = raw[name].astype("string").str.strip().to_numpy()
    if spec["per_protocol"]:
        col = spec["per_protocol"]["column"]
        out["adherence"] = _numeric(raw, col, path, "a number (per-protocol rule)").to_numpy()

    missing_arms = sorted(set(arm_ids) - set(out["arm"]))
    if spec["arm_column"] and missing_arms:
        raise TrialInputError(
            f"{path}: no participant is allocated to arm(s) {', '.join(missing_arms)} listed in "
            f"{cfg}; check the arm ids in column {spec['arm_column']!r}"
        )
    return out


def check_inputs(spec: dict) -> None:
    """Checks run when the DAG is built, before any job starts.

    Reads the participants file and only the headers of the wave exports (cheap): arms and
    sites match the config, every export exists with the id column and every item column the
    outcomes need. Answers themselves are checked by `ingest` (inside the job).
    """
    read_participants(spec)
    needed = item_columns(spec)
    for tp in spec["timepoints"]:
        path = Path(tp["file"])
        if not path.is_file():
            raise TrialInputError(
                f"{path}: export for timepoint {tp['id']!r} not found (timepoints in "
                f"{spec['config_file']})"
            )
        header = set(read_header(path, spec["sheet"]))
        if spec["id_column"] not in header:
            raise TrialInputError(
                f"{path}: no participant id column {spec['id_column']!r} (data.id_column in "
                f"{spec['config_file']})"
            )
        missing = [c for c in needed if c not in header]
        if missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise TrialInputError(
                f"{path}: item columns missing for timepoint {tp['id']!r}: {shown} "
                f"({len(missing)} of the {len(needed)} item columns the outcomes need)"
            )


def _answers_as_numbers(column: pd.Series) -> np.ndarray | None:
    """Text answers as floats (blank = NaN), by Arrow in one vectorised pass; None when some
    cell is not a number (the caller then finds and names it)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(pa.array(column.astype("string"), type=pa.string()))
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    try:
        return pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def read_wave(spec: dict, timepoint: dict, enrolled: set[str]) -> pd.DataFrame:
    """Read one wave's export: ids normalised and enrolled, answers numeric and in range."""
    path = Path(timepoint["file"])
    if not path.is_file():
        raise TrialInputError(
            f"{path}: export for timepoint {timepoint['id']!r} not found (timepoints in "
            f"{spec['config_file']})"
        )
    raw = read_table(path, spec["sheet"])
    columns = item_columns(spec)
    _require_columns(
        raw,
        {spec["id_column"]: "data.id_column", **{c: "instrument items" for c in columns}},
        path,
        spec["config_file"],
    )
    ids = normalise_ids(raw[spec["id_column"]])
    empty = ids.isna() | (ids == "")
    if empty.any():
        raise TrialInputError(f"{path}: row {_row(empty.idxmax())}: empty participant id")
    unknown = pd.Series(~in_set(ids, enrolled), index=ids.index)
    if unknown.any():
        i = unknown.idxmax()
        raise TrialInputError(
            f"{path}: row {_row(i)}: participant id {raw.at[i, spec['id_column']]!r} is not "
            f"enrolled (not in {spec['participants_file']}); {int(unknown.sum())} such row(s)"
        )
    dup = ids.duplicated(keep=False)
    if dup.any():
        first = ids[dup].iloc[0]
        rows = [_row(i) for i in ids.index[ids == first]]
        raise TrialInputError(
            f"{path}: participant {first!r} answered timepoint {timepoint['id']!r} more than "
            f"once (rows {', '.join(map(str, rows))}); keep one response per participant"
        )

    values = {}
    for inst in spec["instruments"].values():
        lo, hi = inst["item_range"]
        for item in inst["items"]:
            column = item["column"]
            number = _answers_as_numbers(raw[column])
            if number is not None:
                with np.errstate(invalid="ignore"):
                    out_of_range = (number < lo) | (number > hi)  # NaN compares False
            if number is None or out_of_range.any():
                # Slow path only to find and name the first bad cell.
                text = raw[column].astype("string").str.strip()
                parsed = pd.to_numeric(text, errors="coerce")
                not_number = text.notna() & (text != "") & parsed.isna()
                out_of_range = parsed.notna() & ((parsed < lo) | (parsed > hi))
                i = (not_number | out_of_range).idxmax()
                raise TrialInputError(
                    f"{path}: row {_row(i)}: participant {ids[i]}, timepoint "
                    f"{timepoint['id']!r}, item {column!r} ({inst['id']}): answer "
                    f"{raw.at[i, column]!r} is outside the item's range; expected a number "
                    f"from {lo:g} to {hi:g}"
                )
            values[column] = number
    frame = pd.DataFrame(values)
    frame.insert(0, "timepoint", timepoint["id"])
    frame.insert(0, "participant_id", ids.astype(str).to_numpy())
    return frame


def ingest(spec: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate everything and return (participants, items); nothing is written here."""
    participants = read_participants(spec)
    enrolled = set(participants["participant_id"])
    waves = [read_wave(spec, tp, enrolled) for tp in spec["timepoints"]]
    items = pd.concat(waves, ignore_index=True)
    withdrawn = set(participants.loc[participants["withdrawn"], "participant_id"])
    dropped = in_set(items["participant_id"], withdrawn)
    if dropped.any():
        log.info(
            "%d response(s) of %d participant(s) who withdrew consent are not used",
            int(dropped.sum()),
            len(withdrawn),
        )
    items = items.loc[~dropped].reset_index(drop=True)
    order = {tp["id"]: i for i, tp in enumerate(spec["timepoints"])}
    items = items.sort_values(
        ["participant_id", "timepoint"], key=lambda s: s.map(order) if s.name == "timepoint" else s
    ).reset_index(drop=True)
    participants = participants.sort_values("participant_id").reset_index(drop=True)
    log.info(
        "%s: %d participants, %d responses over %d timepoints",
        spec["id"],
        len(participants),
        len(items),
        len(spec["timepoints"]),
    )
    return participants, items


def run(spec: dict, participants_out: str, items_out: str) -> None:
    """Rule entry: validate all inputs first, then write both tables atomically."""
    participants, items = ingest(spec)
    write_parquet(participants, participants_out)
    write_parquet(items, items_out)
