"""Validation: the participants table and each wave's responses, from any export, checked
cell by cell into the tidy tables ingest writes (see trialeval.ingest).

Every problem found is collected, not only the first: each names the file, the row (as the
tool shows it: a spreadsheet row, header included; a SPSS case), the column, the value and
what was expected, and the run stops with the list (TrialInputError). An answer is missing
when its cell is empty or holds one of the file's or the instrument's `missing_codes`; an
answer given as a label is read as its code (trialeval.ingest.answers); any other value that
is not a valid answer of the item is an error (text, "nan", "inf", decimals on an instrument
without `decimals: true`, values outside the item's range).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from trialeval.config import (
    FLOW_REASON,
    FLOW_RECEIVED,
    SINGLE_GROUP,
    eligibility_problem,
    flow_columns,
    item_columns,
    normalise_label,
)
from trialeval.delivery import GROUP, check_clusters, read_group_column
from trialeval.errors import Problems, TrialInputError
from trialeval.estimands import event_column
from trialeval.exports import row_holding
from trialeval.ingest import answers
from trialeval.ingest.sources import Export, read_source
from trialeval.io import in_set

log = logging.getLogger(__name__)

# "checked" / "unchecked": a REDCap checkbox in a labels export
YES = {"yes", "y", "true", "t", "1", "1.0", "checked"}
NO = {"no", "n", "false", "f", "0", "0.0", "", "unchecked"}
LARGEST = 1e15  # bound of numbers without a declared upper bound (see Rule)
MISSING_HINT = (
    "; leave the cell empty for a missing value, or declare the codes that mean missing "
    "(such as -99 or 'N/A') in `missing_codes` of this file"
)


def normalise_ids(ids: pd.Series) -> pd.Series:
    """Ids as the pipeline compares them: no whitespace, upper case (' cr-0001 ' -> 'CR-0001').

    By Arrow: pandas applies the regular expression one id at a time (0.3 s per 100,000)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(ids.array, type=pa.string()) if len(ids) else pa.array([], pa.string())
    clean = pc.utf8_upper(pc.replace_substring_regex(text, r"\s+", ""))
    return pd.Series(pd.arrays.ArrowExtensionArray(clean), index=ids.index, name=ids.name)


def _as_str(ids: pd.Series) -> pd.Series:
    """Normalised ids in the interim tables' text type, indexed 0..n-1 like the tables."""
    return ids.astype("str").reset_index(drop=True)


@contextmanager
def _collecting(problems: Problems | None):
    """The caller's collector, or one of our own that raises what it found at the end."""
    own = problems is None
    problems = Problems() if own else problems
    yield problems
    if own:
        problems.raise_if_any()


def _each(problems: Problems, mask: pd.Series, message: Callable[[int], str]) -> None:
    """One problem per row where `mask` holds; only the messages shown are built."""
    rows = mask.index[mask.to_numpy(dtype=bool)]
    problems.extend((message(row) for row in rows), len(rows))


def _read(
    source: dict, used: set[str], problems: Problems, answers: Collection[str] = ()
) -> Export | None:
    try:
        return read_source(source, used, answers)
    except TrialInputError as error:
        problems.absorb(error)
        return None


def _missing_columns(raw, source, columns: dict[str, str], config_file) -> list[str]:
    """One problem per required column not in the header, with where the header may be."""
    path = source["path"]
    absent = [c for c in columns if c not in raw.columns]
    out = []
    for column in absent:
        message = f"{path}: column {column!r} not found ({columns[column]} in {config_file})"
        near = [c for c in raw.columns if c.lower() == column.lower()]
        if near:
            message += f"; there is {near[0]!r} (names are case-sensitive)"
        out.append(message)
    if absent and len(absent) == len(columns):  # nothing found: is the header lower down?
        row = row_holding(source, absent[0])
        if row and row != source["header_row"]:
            out = [
                f"{path}: column {absent[0]!r} not found in row {source['header_row']} "
                f"(`header_row`); row {row} holds it: set `header_row: {row}` for this file "
                f"in {config_file}"
            ]
        else:
            shown = ", ".join(repr(c) for c in list(raw.columns)[:8])
            out[0] += f"; the header (row {source['header_row']}) holds {shown}"
    return out


# --- numbers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """What a valid number in a column is; `what` says what the column holds (for messages).

    Without an upper bound, magnitudes of LARGEST or more are rejected too: no covariate is
    that large, and sums of such values (means, SDs) lose every digit or overflow."""

    what: str
    whole: bool = False
    lo: float | None = None
    hi: float | None = None

    def expected(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        if self.lo is not None and self.hi is not None:
            return f"{kind} from {self.lo:g} to {self.hi:g}"
        if self.lo is not None:
            return f"{kind} of {self.lo:g} or more, below {LARGEST:g}"
        return f"{kind} of magnitude below {LARGEST:g} (a `range` would check it closer)"

    def why(self, value) -> tuple[str, bool]:
        """(what is wrong with a value `parse_numbers` rejected, whether it is text at all)."""
        number = pd.to_numeric(pd.Series([str(value).strip()]), errors="coerce").iloc[0]
        if pd.isna(number):
            return "not a number", True
        if not np.isfinite(number):
            return "not a finite number", False
        if self.whole and number != round(number):
            return "not a whole number", False
        return "out of range", False


def _is_number(code) -> bool:
    try:
        float(code)
    except (TypeError, ValueError):
        return False
    return not isinstance(code, bool)


def _numbers_or_nan(text, missing_codes):
    """(floats, missing) of a text column with spaces, missing codes or bad cells."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(text)
    missing = pc.fill_null(pc.equal(text, ""), True)
    codes = [str(c).strip().lower() for c in missing_codes]
    if codes:
        coded = pc.is_in(pc.utf8_lower(text), value_set=pa.array(codes, pa.string()))
        missing = pc.or_(missing, pc.fill_null(coded, False))
    candidates = pc.if_else(missing, pa.scalar(None, pa.string()), text)
    try:
        number = pc.cast(candidates, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        number = pd.to_numeric(candidates.to_pandas(), errors="coerce").to_numpy(float)
    return number, missing


def parse_numbers(column: pd.Series, missing_codes, rule: Rule) -> tuple[np.ndarray, pd.Series]:
    """(values, bad): text cells as floats, NaN where missing (empty or a missing code), and
    a mask of the cells that are neither missing nor valid under `rule` ("nan" and "inf" are
    not numbers here).

    Arrow parses the column in one vectorised pass; pandas only when some cell is not a
    number (to find which)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(column.array, type=pa.string())
    if not missing_codes:  # the common case: every non-empty cell is a bare number
        try:
            number = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
            missing = pc.is_null(text)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            number = None
    if missing_codes or number is None:
        number, missing = _numbers_or_nan(text, missing_codes)
    present = ~missing.to_numpy(zero_copy_only=False)
    numeric_codes = [float(c) for c in missing_codes if _is_number(c)]
    if numeric_codes:
        present &= ~np.isin(number, numeric_codes)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(number)
        if rule.whole:
            ok &= number == np.round(number)
        if rule.lo is not None:
            ok &= number >= rule.lo
        if rule.hi is not None:
            ok &= number <= rule.hi
        else:
            ok &= np.abs(number) < LARGEST
    bad = present & ~ok
    return np.where(present & ok, number, np.nan), pd.Series(bad, index=column.index)


def _valid_numbers(problems, raw, column, source, rule: Rule, who, **answers_of) -> np.ndarray:
    """The column as floats; one problem per cell that is neither missing nor valid, naming
    file, row, column, value (`who(row)` says whose it is) and what was expected. For survey
    answers, `answers_of` holds `codes` (the missing codes), `scale` (answers.Scale: labels
    read as their codes) and `tally` (counts answers given as a missing code)."""
    codes = answers_of.get("codes", source["missing_codes"])
    scale = answers_of.get("scale")
    text = raw[column]
    values, bad = parse_numbers(text, codes, rule)
    if scale is not None and scale.codes and bad.any():
        text = answers.decode(text, scale.codes)
        values, bad = parse_numbers(text, codes, rule)
    tally = answers_of.get("tally")
    if tally is not None and codes:
        given = text.notna().to_numpy(bool) & (text.str.strip() != "").fillna(False).to_numpy()
        coded = int((given & np.isnan(values) & ~bad.to_numpy()).sum())
        tally["missing_code_answers"] = tally.get("missing_code_answers", 0) + coded

    def message(row) -> str:
        value = raw.at[row, column]
        reason, is_text = rule.why(value)
        expected = f"{rule.expected()} ({rule.what})"
        if is_text and scale is not None and scale.codes:
            reason = "not a number, nor one of the answer labels"
            expected = (
                f"{rule.expected()} or one of {scale.listing} (ignoring case and spaces) "
                f"({rule.what})"
            )
        return (
            f"{source['path']}: row {row}, column {column!r} ({who(row)}): {value!r} is "
            f"{reason}; expected {expected}" + (MISSING_HINT if is_text else "")
        )

    _each(problems, bad, message)
    return values


# --- the participants file ----------------------------------------------------------------


def read_participants(
    spec: dict, problems: Problems | None = None, labels: dict[str, str] | None = None
) -> pd.DataFrame | None:
    """Read and validate the participants file; return the participants table (None when the
    file cannot be read at all; every problem goes to `problems`, or is raised). `labels`
    receives the export's labels of the covariates the trial file gives no `label`."""
    with _collecting(problems) as problems:
        return _participants(spec, problems, {} if labels is None else labels)


# Formats whose variable labels name a covariate in a table (REDCap field labels, SPSS /
# Stata variable labels); Qualtrics' row 2 is the question as asked, not a name for a table.
VARIABLE_LABELS = {"redcap", "spss", "stata"}


def _covariate_labels(spec: dict, export: Export) -> dict[str, str]:
    if export.format not in VARIABLE_LABELS:
        return {}
    return {
        c["name"]: export.codebook[c["name"]]
        for c in spec["covariates"]
        if not c["label_given"] and export.codebook.get(c["name"])
    }


def _participants(spec: dict, problems: Problems, labels: dict) -> pd.DataFrame | None:
    source = spec["participants_source"]
    path, cfg = source["path"], spec["config_file"]
    id_column = source["id_column"]
    own_id = "data.participants.id_column" if id_column != spec["id_column"] else None
    required = {id_column: own_id or "data.id_column"}
    for column, key in [
        (spec["arm_column"], "data.arm_column"),
        (spec["site_column"], "data.site_column"),
        (spec.get("group_column"), "data.group_column"),
        (spec["withdrawal_column"], "data.withdrawal_column"),
    ]:
        if column:
            required[column] = key
    for cov in spec["covariates"]:
        required[cov["name"]] = "covariates"
    if spec["per_protocol"]:
        required[spec["per_protocol"]["column"]] = "analysis_sets.per_protocol.column"
    for column in spec.get("intercurrent_columns", []):
        required.setdefault(column, "an estimand's intercurrent_events[].column")
    for column, key in flow_columns(spec).items():
        required.setdefault(column, key)
    export = _read(source, set(required), problems)
    if export is None:
        return None
    raw = export.frame
    labels.update(_covariate_labels(spec, export))
    if labels:
        shown = "; ".join(f"{c} = {t!r}" for c, t in labels.items())
        log.info("%s: covariates labelled as the export labels them: %s", path, shown)
    absent = _missing_columns(raw, source, required, cfg)
    if absent:
        for message in absent:
            problems.add(message)
        return None

    ids = normalise_ids(raw[id_column])
    _each(
        problems,
        ids.isna() | (ids == ""),
        lambda r: (
            f"{path}: row {r}, column {id_column!r}: empty participant id; every "
            f"enrolled participant needs an id"
        ),
    )
    _duplicates(
        problems,
        ids,
        lambda first, rows: (
            f"{path}: participant id {first!r} appears {len(rows)} times (rows "
            f"{_listed(rows)}); ids must be unique after removing spaces and case"
        ),
    )
    out = pd.DataFrame({"participant_id": _as_str(ids)})

    arm_ids = [a["id"] for a in spec["arms"]]
    # a cohort comparison's cohorts are its arms (trialeval.config)
    arm, listed = ("cohort", "cohort.order") if spec.get("cohort") else ("arm", "arms")
    article = "a" if spec.get("cohort") else "an"
    if spec["arm_column"]:
        col = spec["arm_column"]
        arms = _arms(raw[col], export.labels.get(col, {}), arm_ids)
        _each(
            problems,
            arms.isna() | ~arms.isin(arm_ids),
            lambda r: (
                f"{path}: row {r}, column {col!r} (participant {ids.at[r]}): {arm} "
                f"{raw.at[r, col]!r} is not {article} {arm} of the trial; expected one of "
                f"{', '.join(arm_ids)} ({listed} in {cfg})"
            ),
        )
        out["arm"] = arms.astype(str).to_numpy()
        missing_arms = sorted(set(arm_ids) - set(arms.dropna().unique()))
        if missing_arms:
            problems.add(
                f"{path}: no participant is allocated to {arm}(s) {', '.join(missing_arms)} "
                f"listed in {cfg} ({listed}); check the {arm} ids in column {col!r}"
            )
    else:
        out["arm"] = SINGLE_GROUP

    if spec["site_column"]:
        col = spec["site_column"]
        sites = _labelled(raw[col], export.labels.get(col))
        listed = spec["sites"]
        _each(
            problems,
            sites.isna() | (sites == ""),
            lambda r: (
                f"{path}: row {r}, column {col!r} (participant {ids.at[r]}): the site is empty"
            ),
        )
        if listed:
            _each(
                problems,
                sites.notna() & (sites != "") & ~sites.isin(listed),
                lambda r: (
                    f"{path}: row {r}, column {col!r} (participant {ids.at[r]}): site "
                    f"{sites[r]!r} is not listed in `sites` of {cfg}; expected one of "
                    f"{', '.join(listed)}"
                ),
            )
        out["site"] = sites.astype(str).to_numpy()

    if spec["design"] == "cluster_rct" and "site" in out:  # sites are the clusters
        check_clusters(out["arm"].to_numpy(), out["site"].to_numpy(), spec, problems)
    if spec.get("group_column"):  # delivery groups, checked against arms and sites
        out[GROUP] = read_group_column(
            raw[spec["group_column"]],
            ids,
            out["arm"].to_numpy(),
            out["site"].to_numpy() if "site" in out else None,
            spec,
            problems,
        )

    if spec["withdrawal_column"]:
        col = spec["withdrawal_column"]
        flags = raw[col].fillna("").astype(str).str.strip().str.lower()
        _each(
            problems,
            ~flags.isin(YES | NO),
            lambda r: (
                f"{path}: row {r}, column {col!r} (participant {ids.at[r]}): "
                f"{raw.at[r, col]!r} is not a yes/no value; expected yes/no, true/false or 1/0 "
                f"(empty means no)"
            ),
        )
        out["withdrawn"] = flags.isin(YES).to_numpy()
    else:
        out["withdrawn"] = False

    codes = [str(c).strip().lower() for c in source["missing_codes"]]

    def whose(row) -> str:
        return f"participant {ids.at[row]}"

    for cov in spec["covariates"]:
        name = cov["name"]
        if cov["type"] == "numeric":
            lo, hi = cov["range"] or (None, None)
            what = f"covariate {name!r}" + (" and its `range`" if cov["range"] else "")
            out[name] = _valid_numbers(problems, raw, name, source, Rule(what, lo=lo, hi=hi), whose)
        else:
            text = _labelled(raw[name], export.labels.get(name))
            missing = (text == "") | text.str.lower().isin(codes)
            out[name] = text.mask(missing.fillna(True)).to_numpy()
    if spec["per_protocol"]:
        col = spec["per_protocol"]["column"]
        rule = Rule("adherence for the per-protocol rule", lo=0)
        out["adherence"] = _valid_numbers(problems, raw, col, source, rule, whose)
    for col in spec.get("intercurrent_columns", []):
        out[event_column(col)] = _event_visits(raw, col, export, source, spec, problems, whose)
    if spec.get("flow"):
        _flow(spec, raw, export, out, problems, whose)
    return out


def _flow(spec: dict, raw, export: Export, out: pd.DataFrame, problems: Problems, whose) -> None:
    """The `flow` block's columns, into `out`: the received measure (numbers of 0 or more, as
    the per-protocol adherence column), the reason (text, codes shown by their labels; empty
    or a missing code: None); and the check that those assessed for eligibility less those
    excluded are those enrolled (the file's rows)."""
    flow, source = spec["flow"], spec["participants_source"]
    if flow["received"]:
        rule = Rule("intervention received, flow.received", lo=0)
        column = flow["received"]["column"]
        out[FLOW_RECEIVED] = _valid_numbers(problems, raw, column, source, rule, whose)
    if flow["reason_column"]:
        column = flow["reason_column"]
        codes = {str(c).strip().lower() for c in source["missing_codes"]}
        text = _labelled(raw[column], export.labels.get(column))
        missing = (text == "") | text.str.lower().isin(codes)
        reasons = text.mask(missing.fillna(True))
        _unlabelled_reasons(reasons, column, spec, problems)
        out[FLOW_REASON] = reasons.to_numpy()
    problem = eligibility_problem(spec, len(out))
    if problem:
        problems.add(problem)


def _unlabelled_reasons(reasons: pd.Series, column: str, spec: dict, problems: Problems) -> None:
    """One problem when reasons are bare numbers: codes the export does not label (a REDCap
    raw export read without its dictionary, a CSV of codes) would print as "2: n = 3"."""
    numbers = reasons.dropna()
    numbers = numbers[numbers.map(_is_number)]
    if numbers.empty:
        return
    shown = sorted(dict.fromkeys(numbers), key=float)[:5]
    problems.add(
        f"{spec['participants_source']['path']}: column {column!r} (flow.reason_column in "
        f"{spec['config_file']}): {len(numbers)} cells hold a bare number with no label "
        f"({', '.join(shown)}{' ...' if numbers.nunique() > 5 else ''}); expected the reason "
        "as it should print, or codes the export labels (a REDCap export with its data "
        "dictionary, `dictionary` of data.participants; SPSS or Stata value labels)"
    )


def _event_visits(raw, col, export, source, spec, problems, whose) -> np.ndarray:
    """An intercurrent event's column: the timepoint id of the visit at which it happened
    (ids compared ignoring case and surrounding spaces), None where empty or a missing code."""
    ids = [tp["id"] for tp in spec["timepoints"]]
    by_key = {tp.casefold(): tp for tp in ids}
    codes = {str(c).strip().casefold() for c in source["missing_codes"]}
    text = _labelled(raw[col], export.labels.get(col)).fillna("").astype(str).str.strip()
    empty = (text == "") | text.str.casefold().isin(codes)
    visits = text.str.casefold().map(by_key)
    _each(
        problems,
        ~empty & visits.isna(),
        lambda r: (
            f"{source['path']}: row {r}, column {col!r} ({whose(r)}): {raw.at[r, col]!r} is not "
            f"a timepoint id; expected the timepoint at which the intercurrent event happened, "
            f"one of {', '.join(ids)} (timepoints in {spec['config_file']}), or empty for no "
            "event"
        ),
    )
    return visits.where(~empty, None).astype(object).to_numpy()


def _arms(column: pd.Series, labels: dict[str, str], arm_ids: list[str]) -> pd.Series:
    """Allocated arms as arm ids: the cell itself, or the label the export gives its code
    when that label is an arm id (ignoring case and spaces: code 1 labelled 'Coaching' is
    arm `coaching`)."""
    by_label = {normalise_label(a): a for a in arm_ids}
    ids = set(arm_ids)

    def arm(value):
        if value is None or value.strip() in ids:
            return value if value is None else value.strip()
        label = labels.get(answers.code_text(value))
        return by_label.get(normalise_label(label), value.strip()) if label else value.strip()

    return answers.each_value(column, arm).astype("string")


def _labelled(column: pd.Series, labels: dict[str, str] | None) -> pd.Series:
    """A text column (site, categorical covariate) trimmed, codes shown by their labels."""
    text = column.astype("string").str.strip()
    return answers.as_labels(text, labels).astype("string") if labels else text


def _listed(rows) -> str:
    return ", ".join(str(r) for r in rows)


def _duplicates(problems: Problems, ids: pd.Series, message) -> None:
    """One problem per id that appears on more than one row, naming the rows."""
    dup = ids[ids.duplicated(keep=False) & ids.notna() & (ids != "")]
    groups = dup.groupby(dup.to_numpy(), sort=False).groups
    problems.extend((message(first, list(rows)) for first, rows in groups.items()), len(groups))


# --- one wave's export ------------------------------------------------------------------


def read_wave(
    spec: dict,
    timepoint: dict,
    enrolled: Collection[str] | None,
    problems: Problems | None = None,
    tally: dict[str, int] | None = None,
) -> pd.DataFrame | None:
    """Read one wave's export: ids normalised and enrolled (not checked when `enrolled` is
    None), answers numeric and valid. None when the file cannot be read at all. `tally`
    receives what was left out before validation (preview responses, forms not complete)
    and the answers given as a missing code, by reason."""
    with _collecting(problems) as problems:
        return _wave(spec, timepoint, enrolled, problems, {} if tally is None else tally)


def _log_codebook(path: str, export: Export, columns) -> None:
    """What the export says each item column asked (Qualtrics question text, REDCap field
    label, SPSS / Stata variable label): the log keeps it as the wave's codebook."""
    known = {c: export.codebook[c] for c in dict.fromkeys(columns) if export.codebook.get(c)}
    if known:
        log.info("%s: codebook: %s", path, "; ".join(f"{c} = {t!r}" for c, t in known.items()))


def _item_map(spec: dict, source: dict) -> dict[str, str]:
    """{registry item column: export column}; a source resolved without `columns` reads the
    registry's names."""
    mapping = source.get("columns") or {}
    return {column: mapping.get(column, column) for column in item_columns(spec)}


def _wave(spec, timepoint, enrolled, problems, tally) -> pd.DataFrame | None:
    source = timepoint["source"]
    path, cfg, tp = source["path"], spec["config_file"], timepoint["id"]
    if not Path(path).is_file():
        problems.add(f"{path}: export for timepoint {tp!r} not found (timepoints in {cfg})")
        return None
    id_column = source["id_column"]
    id_key = "data.id_column" if id_column == spec["id_column"] else "the file's id_column"
    mapping = _item_map(spec, source)
    export = _read(source, {id_column, *mapping.values()}, problems, answers=mapping.values())
    if export is None:
        return None
    raw = export.frame
    if id_column not in raw.columns:
        for message in _missing_columns(raw, source, {id_column: id_key}, cfg):
            problems.add(message)
        return None
    absent = [c for c in dict.fromkeys(mapping.values()) if c not in raw.columns]
    if absent:
        shown = ", ".join(absent[:10]) + (" ..." if len(absent) > 10 else "")
        problems.add(
            f"{path}: item columns missing for timepoint {tp!r}: {shown} ({len(absent)} of "
            f"the {len(set(mapping.values()))} item columns the outcomes need; `columns` of "
            f"the file says where each instrument's items are)"
        )
        return None
    for reason, n in export.excluded.items():
        tally[reason] = tally.get(reason, 0) + n
    _log_codebook(path, export, mapping.values())

    ids = normalise_ids(raw[id_column])
    _each(
        problems,
        ids.isna() | (ids == ""),
        lambda r: f"{path}: row {r}, column {id_column!r}: empty participant id",
    )
    if enrolled is not None:
        unknown = pd.Series(~in_set(ids, enrolled), index=ids.index) & ids.notna() & (ids != "")
        _each(
            problems,
            unknown,
            lambda r: (
                f"{path}: row {r}, column {id_column!r}: participant id "
                f"{raw.at[r, id_column]!r} is not enrolled (not in {spec['participants_file']})"
            ),
        )
    _duplicates(
        problems,
        ids,
        lambda first, rows: (
            f"{path}: participant {first!r} answered timepoint {tp!r} more "
            f"than once (rows {_listed(rows)}); keep one response per participant"
        ),
    )

    values = {}
    counted: set[str] = set()

    def whose(row) -> str:
        return f"participant {ids.at[row]}, timepoint {tp!r}"

    for inst in spec["instruments"].values():
        lo, hi = inst["item_range"]
        rule = Rule(f"{inst['id']} answers", whole=not inst["decimals"], lo=lo, hi=hi)
        codes = [*source["missing_codes"], *inst.get("missing_codes", [])]
        for item in inst["items"]:
            column = mapping[item["column"]]
            own = export.labels.get(column)
            where = f"{export.labels_from}: {column!r}"
            coding = [
                answers.coding_problem(own, inst, codes, where) if own else None,
                answers.range_problem(export.ranges.get(column, (None, None)), inst, where),
            ]
            for problem in filter(None, coding):
                problems.add(problem)
            scale = answers.scale_of(inst["levels"], own)
            first = column not in counted  # mbi and mbi_2item share mbi_8: count it once
            counted.add(column)
            values[item["column"]] = _valid_numbers(
                problems,
                raw,
                column,
                source,
                rule,
                whose,
                codes=codes,
                scale=scale,
                tally=tally if first else None,
            )
            if first:
                coded = export.missing_by_code.get(column, 0)
                tally["missing_code_answers"] = tally.get("missing_code_answers", 0) + coded
    frame = pd.DataFrame(values)
    frame.insert(0, "timepoint", tp)
    frame.insert(0, "participant_id", _as_str(ids))
    return frame
