"""Resolve a trial file's programme-evaluation keys (`respondent_groups`, `free_text`) and its
evaluation instruments (`evaluation: true`) into the trial spec, checking what can be checked
without the data. Imported when the DAG is built: standard library only.

Adds to the spec, only when the trial has respondent groups:

    respondent_groups: [{id, label, id_column, roster, file, instruments, missing_codes,
                         questions}]   (roster and file are paths; questions: free-text ids)
    evaluation_instruments: {id: {id, label, source, missing_codes, levels (code as text ->
                             label, in scale order), agree (codes as text),
                             range ([lowest, highest] answer), items: [{id, column, label}]}}
    free_text: {questions: [{id, label, column, groups}], codebook: [{code, label}],
                coded_sheet: path | None, key_seed: int | None} | None
"""

from __future__ import annotations

from pathlib import Path

from trialeval.errors import TrialInputError

# spec keys this module adds (read by the evaluation and report stages only)
SPEC_KEYS = ("respondent_groups", "evaluation_instruments", "free_text")


def _code(value) -> str:
    """An answer code as text, as trialeval.config writes level codes (4.0 -> '4')."""
    return f"{float(value):g}"


def _unique(values, what: str, where: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise TrialInputError(f"{where}: {what} {value!r} is listed twice; ids must be unique")
        seen.add(value)


def resolve_evaluation_instrument(inst_id: str, spec: dict, where: str) -> dict:
    """One evaluation instrument: its items with columns and labels, its levels in scale
    order, the codes counted as agreeing."""
    from trialeval.config import _item_ids, _levels

    if spec.get("subscales") or spec.get("categories") or spec.get("prescored"):
        raise TrialInputError(
            f"{where}: {inst_id} has `evaluation: true` and subscales, categories or prescored; "
            f"an evaluation instrument is summarised item by item: drop them"
        )
    lo, hi = (float(v) for v in spec["item_range"])
    levels = _levels(spec["levels"], lo, hi, f"{where}: {inst_id}.levels")
    levels = dict(sorted(levels.items(), key=lambda kv: float(kv[0])))
    agree = [_code(v) for v in spec["agree"]]
    unknown = [a for a in agree if a not in levels]
    if unknown:
        raise TrialInputError(
            f"{where}: {inst_id}.agree: {', '.join(unknown)} not codes of its levels; expected "
            f"some of {', '.join(levels)}"
        )
    ids = _item_ids(spec["items"])
    labels = {str(k): v for k, v in (spec.get("item_labels") or {}).items()}
    stray = sorted(set(labels) - set(ids))
    if stray:
        raise TrialInputError(
            f"{where}: {inst_id}.item_labels names items {stray} that are not items of the "
            f"instrument; expected some of {ids}"
        )
    prefix = spec.get("item_prefix", "")
    return {
        "id": inst_id,
        "label": spec["label"],
        "source": spec.get("source", ""),
        "missing_codes": list(spec.get("missing_codes", [])),
        "levels": levels,
        "agree": agree,
        "range": [lo, hi],
        "items": [
            {"id": i, "column": f"{prefix}{i}", "label": labels.get(i, f"{prefix}{i}")} for i in ids
        ],
    }


def _instruments(groups: list[dict], available: dict, where: str) -> dict[str, dict]:
    resolved: dict[str, dict] = {}
    for k, group in enumerate(groups):
        for inst_id in group["instruments"]:
            key = f"{where}: respondent_groups[{k}] ({group['id']}).instruments"
            if inst_id not in available:
                raise TrialInputError(
                    f"{key}: {inst_id!r} is not an instrument of the registry nor of the trial's "
                    f"`instruments`; expected one of {sorted(available)}"
                )
            spec, source = available[inst_id]
            if not spec.get("evaluation"):
                raise TrialInputError(
                    f"{key}: {inst_id!r} is not an evaluation instrument (`evaluation: true` in "
                    f"{source}); respondent groups answer evaluation items"
                )
            if inst_id not in resolved:
                resolved[inst_id] = resolve_evaluation_instrument(inst_id, spec, source)
    return resolved


def _free_text(raw: dict | None, group_ids: list[str], data_dir: Path, where: str, synthetic: bool):
    if raw is None:
        return None
    key = f"{where}: free_text"
    _unique([q["id"] for q in raw["questions"]], "question", f"{key}.questions")
    _unique([t["code"] for t in raw["codebook"]], "theme code", f"{key}.codebook")
    questions = []
    for k, q in enumerate(raw["questions"]):
        groups = q.get("groups", group_ids)
        unknown = sorted(set(groups) - set(group_ids))
        if unknown:
            raise TrialInputError(
                f"{key}.questions[{k}] ({q['id']}).groups: {unknown} are not respondent groups; "
                f"expected some of {group_ids}"
            )
        questions.append(
            {"id": q["id"], "label": q["label"], "column": q["column"], "groups": groups}
        )
    sheet = raw.get("coded_sheet")
    if raw.get("key_seed") is not None and not synthetic:
        # a seed in a shared YAML file lets anyone recompute the response ids from the
        # participant ids, undoing the pseudonymisation of the coding sheet
        raise TrialInputError(
            f"{key}.key_seed: a fixed key is for synthetic demos only (anyone with the seed "
            f"could link the coding sheet's answers back to participants); remove key_seed, or "
            f"set data.synthetic: true if these exports are simulated"
        )
    return {
        "questions": questions,
        "codebook": [{"code": t["code"], "label": t["label"]} for t in raw["codebook"]],
        "coded_sheet": str(data_dir / sheet) if sheet else None,
        "key_seed": raw.get("key_seed"),
    }


def resolve_evaluation(
    trial: dict, available: dict, *, data_dir: Path, id_column: str, where: str
) -> dict:
    """The spec keys of SPEC_KEYS for a schema-validated trial file ({} without respondent
    groups). `available`: instrument id -> (its YAML, the file defining it)."""
    for k, out in enumerate(trial.get("outcomes", [])):
        found = available.get(out["instrument"])
        if found and found[0].get("evaluation"):
            raise TrialInputError(
                f"{where}: outcomes[{k}] ({out['id']}): {out['instrument']!r} is an evaluation "
                f"instrument (summarised item by item for respondent_groups), not an outcome"
            )
    raw_groups = trial.get("respondent_groups") or []
    if not raw_groups:
        if trial.get("free_text"):
            raise TrialInputError(
                f"{where}: free_text needs respondent_groups (whose files hold the answers)"
            )
        return {}
    _unique([g["id"] for g in raw_groups], "respondent group", f"{where}: respondent_groups")
    synthetic = bool(trial.get("data", {}).get("synthetic"))
    free = _free_text(
        trial.get("free_text"), [g["id"] for g in raw_groups], data_dir, where, synthetic
    )
    groups = []
    for group in raw_groups:
        asked = [q["id"] for q in (free or {}).get("questions", []) if group["id"] in q["groups"]]
        groups.append(
            {
                "id": group["id"],
                "label": group.get("label", group["id"]),
                "id_column": group.get("id_column", id_column),
                "roster": str(data_dir / group["roster"]),
                "file": str(data_dir / group["file"]),
                "instruments": list(group["instruments"]),
                "missing_codes": list(group.get("missing_codes", [])),
                "questions": asked,
            }
        )
    return {
        "respondent_groups": groups,
        "evaluation_instruments": _instruments(raw_groups, available, where),
        "free_text": free,
    }


def evaluation_files(spec: dict) -> list[str]:
    """Every raw file the evaluation stage reads: rosters, response files, the coded sheet."""
    paths = [p for g in spec.get("respondent_groups", []) for p in (g["roster"], g["file"])]
    sheet = (spec.get("free_text") or {}).get("coded_sheet")
    return list(dict.fromkeys(paths + ([sheet] if sheet else [])))


def evaluation_outputs(spec: dict) -> dict[str, list[str]]:
    """The table and figure stems the evaluation stage writes for a trial: one table and one
    figure per respondent group, the themes table with a coded sheet."""
    groups = [g["id"] for g in spec.get("respondent_groups", [])]
    tables = [f"evaluation_{g}" for g in groups] + ["response_rates"] * bool(groups)
    if (spec.get("free_text") or {}).get("coded_sheet"):
        tables.append("themes")
    return {"tables": tables, "figures": [f"evaluation_{g}" for g in groups]}


# The library files whose code decides what passes the evaluation check.
CHECKING_CODE = ("errors", "config", "evaluation_config", "evaluation", "free_text")


def _fingerprint(spec: dict, key_file: Path) -> str | None:
    """What a passed check depends on; None when an input is missing (check it again)."""
    from trialeval.checks import fingerprint

    view = {k: spec.get(k) for k in SPEC_KEYS}
    code = [Path(__file__).parent / f"{module}.py" for module in CHECKING_CODE]
    files = [*evaluation_files(spec), *([str(key_file)] if key_file.is_file() else [])]
    return fingerprint(view, code, files)


def check_evaluation(specs: dict[str, dict], results: str, stamp_dir: str | Path) -> None:
    """Check the respondent groups' files and coded sheets of every trial whose inputs
    changed since its last passed check (a stamp per trial, as trialeval.checks does);
    raise one TrialInputError listing every problem."""
    from trialeval.errors import Problems

    problems = Problems()
    for trial_id, spec in specs.items():
        if not spec.get("respondent_groups"):
            continue
        key_file = Path(results) / trial_id / "interim" / "free_text_key.json"
        stamp = Path(stamp_dir) / f"{trial_id}.evaluation-checked"
        key = _fingerprint(spec, key_file)
        if key is not None and stamp.is_file() and stamp.read_text() == key:
            continue
        from trialeval.evaluation import check_inputs  # pandas only when needed

        try:
            check_inputs(spec, key_file)
        except TrialInputError as error:
            problems.absorb(error)
            stamp.unlink(missing_ok=True)
            continue
        if key is not None:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(key)
    problems.raise_if_any()
