"""Trial configuration: load and schema-validate the YAML files, resolve each trial file against
the instrument registry, and cross-check what can be checked without the data (the checks
against the raw files are trialeval.checks, run when the DAG is built).

`resolve_trial` turns the YAML of one trial into a plain, fully resolved dict (the *trial spec*)
that reaches every rule script through `params:`. Its shape:

    id, title, design, config_file, data_dir, participants_file, participants_source, sheet,
    id_column, arm_column, site_column, group_column, withdrawal_column,
    arms: [{id, label, control, colour}], control_arm, sites (ids or None), site_labels,
    timepoints: [{id, label, file, source, baseline}], baseline,
    covariates: [{name, label, type, summary, range, levels ({level: label})}],
    outcomes: [{id, label, instrument, kind (score|category|bands), name, role}],
    instruments: {id: resolved instrument (see `resolve_instrument`)},
    (`file` / `participants_file` are paths; `source` / `participants_source` how to read them:
     {path, sheet, header_row, encoding, delimiter, missing_codes, format, id_column, columns,
      event, dictionary, forms_complete}: see trialeval.exports and trialeval.ingest;
     `columns` maps each registry item column the outcomes need to its column in the export)
    per_protocol: {column, at_least, arms} | None,
    flow: {assessed_for_eligibility (int | None), excluded {reason: n}, received
           ({column, at_least, arms} | None), reason_column (str | None)}, only when the trial
          file has a `flow` block,
    analyses: {...},
    power: the resolved `power` block (see trialeval.power_plan.resolve_power) | None,
    multiplicity: the global correction from config.yaml (added by `load_trials`),
    alpha: the two-sided significance level from config.yaml (added by `load_trials`),
    disclosure: {min_cell: k, or None when off} from config.yaml (added by `load_trials`)

Every failure raises TrialInputError naming the file and the key or column.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from trialeval.errors import TrialInputError
from trialeval.evaluation_config import resolve_evaluation
from trialeval.labels import score_decimals

DESIGNS_WITH_CONTROL = {"rct", "cluster_rct", "quasi_experimental"}
# Randomized designs: mixed models for score outcomes (cluster_rct randomizes whole sites).
RANDOMIZED = {"rct", "cluster_rct"}
FORMATS = ("table", "redcap", "qualtrics", "spss", "stata")
# Cross-sectional surveys have no arms: everyone is one group with this id.
SINGLE_GROUP = "all"
# A cohort comparison's groups are its cohorts (made into arms: trialeval.cohort).
COHORT_COMPARISON = "cohort_comparison"
# Designs with one survey wave per participant.
ONE_WAVE = {"cross_sectional", COHORT_COMPARISON}
BANDS = "bands"
PRESCORED_SUBSCALE = "score"


def _item_ids(items) -> list[str]:
    if isinstance(items, int):
        return [str(i) for i in range(1, items + 1)]
    return [str(i) for i in items]


def _direction(block: dict) -> dict:
    """{"higher_is_better": value} when the block states a direction, else nothing."""
    return {"higher_is_better": block["higher_is_better"]} if "higher_is_better" in block else {}


def _prescored_as_items(inst_id: str, spec: dict, where: str) -> dict:
    """A pre-scored instrument as a one-item instrument whose one subscale, `score`, is the
    column itself; its cut-off categories and bands apply to that score."""
    clash = [key for key in ("items", "item_range", "subscales") if key in spec]
    if clash:
        raise TrialInputError(
            f"{where}: {inst_id} has `prescored` and {', '.join(clash)}; a pre-scored "
            f"instrument is one column (its subscale is `{PRESCORED_SUBSCALE}`): drop "
            f"{', '.join(clash)} or `prescored`"
        )
    column = spec["prescored"]["column"]
    lo, hi = spec["prescored"]["range"]
    return {
        "label": spec["label"],
        "source": spec.get("source", ""),
        "item_prefix": "",
        "items": [column],
        "item_range": [lo, hi],
        "min_answered": 1.0,
        "levels": spec.get("levels"),
        "subscales": {
            PRESCORED_SUBSCALE: {
                "label": spec["label"],
                "items": [column],
                "scoring": "sum",
                **_direction(spec["prescored"]),
            }
        },
        "categories": spec.get("categories", {}),
        **({"bands": spec["bands"]} if "bands" in spec else {}),
    }


def resolve_instrument(inst_id: str, spec: dict, where: str) -> dict:
    """Expand one registry entry: item ids as strings, export columns, subscale score ranges.

    Returns {id, label, source, item_range, decimals, min_answered, levels (answer code as
             text -> label), missing_codes,
             items: [{id, column, reverse}],
             subscales: {id: {label, items, scoring, range, higher_is_better}},
             categories: {id: {label, definition, subscale, any_item, at_least, at_most,
             higher_is_better}}, bands}; higher_is_better is None where the registry
             states no direction.
    """
    decimals = bool(spec.get("decimals", False))
    if "prescored" in spec:
        spec = _prescored_as_items(inst_id, spec, where)
    ids = _item_ids(spec["items"])
    known = set(ids)
    lo, hi = (float(v) for v in spec["item_range"])
    if lo >= hi:
        raise TrialInputError(f"{where}: {inst_id}.item_range must be [lowest, highest]")
    reverse = set(_item_ids(spec.get("reverse", [])))
    if reverse - known:
        raise TrialInputError(
            f"{where}: {inst_id}.reverse names items {sorted(reverse - known)} that are not "
            f"items of the instrument"
        )
    prefix = spec.get("item_prefix", "")
    here = f"{where}: {inst_id}"
    subscales = _subscales(spec["subscales"], ids, lo, hi, here)
    categories = _categories(spec.get("categories", {}), subscales, known, here)
    levels = _levels(spec.get("levels") or {}, lo, hi, f"{where}: {inst_id}.levels")
    bands = _bands(spec.get("bands"), subscales, here)
    return {
        "id": inst_id,
        "label": spec["label"],
        "source": spec.get("source", ""),
        "item_range": [lo, hi],
        "decimals": decimals,
        "min_answered": float(spec.get("min_answered", 0.8)),
        "levels": levels,
        "missing_codes": list(spec.get("missing_codes", [])),
        "items": [{"id": i, "column": f"{prefix}{i}", "reverse": i in reverse} for i in ids],
        "subscales": subscales,
        "categories": categories,
        "bands": bands,
    }


def _subscales(entries: dict, ids: list[str], lo: float, hi: float, where: str) -> dict:
    """{id: {label, items, scoring, range, higher_is_better}}: a sum's range is the item
    range times its number of items, a mean's the item range."""
    subscales = {}
    for sub_id, sub in entries.items():
        sub_items = ids if sub["items"] == "all" else _item_ids(sub["items"])
        unknown = [i for i in sub_items if i not in set(ids)]
        if unknown:
            raise TrialInputError(
                f"{where}.subscales.{sub_id} names items {unknown} that are not "
                f"items of the instrument"
            )
        scoring = sub.get("scoring", "sum")
        k = len(sub_items)
        subscales[sub_id] = {
            "label": sub.get("label", sub_id),
            "items": sub_items,
            "scoring": scoring,
            "range": [lo * k, hi * k] if scoring == "sum" else [lo, hi],
            "higher_is_better": sub.get("higher_is_better"),
        }
    return subscales


def _categories(entries: dict, subscales: dict, known: set, where: str) -> dict:
    """{id: {label, definition, subscale, any_item, at_least, at_most, higher_is_better}}: a
    cut-off on one subscale (exactly one of at_least, at_most) or any of some items endorsed;
    definition None where the registry gives none."""
    categories = {}
    for cat_id, cat in entries.items():
        if cat_id == BANDS:
            raise TrialInputError(f"{where}.categories: '{BANDS}' is a reserved id")
        if "subscale" in cat and cat["subscale"] not in subscales:
            raise TrialInputError(
                f"{where}.categories.{cat_id}.subscale {cat['subscale']!r} is not a "
                f"subscale of the instrument; expected one of {sorted(subscales)}"
            )
        if "subscale" in cat and ("at_least" in cat) == ("at_most" in cat):
            raise TrialInputError(
                f"{where}.categories.{cat_id} needs exactly one of at_least, at_most"
            )
        any_item = _item_ids(cat["any_item"]) if "any_item" in cat else None
        if any_item and set(any_item) - known:
            raise TrialInputError(
                f"{where}.categories.{cat_id}.any_item names unknown items "
                f"{sorted(set(any_item) - known)}"
            )
        categories[cat_id] = {
            "label": cat.get("label", cat_id),
            "definition": cat.get("definition"),
            "subscale": cat.get("subscale"),
            "any_item": any_item,
            "at_least": cat.get("at_least"),
            "at_most": cat.get("at_most"),
            "higher_is_better": cat.get("higher_is_better"),
        }
    return categories


def _bands(bands: dict | None, subscales: dict, where: str) -> dict | None:
    """The ordered severity bands of one subscale (upper limits increasing), or None."""
    if bands is None:
        return None
    if bands["subscale"] not in subscales:
        raise TrialInputError(f"{where}.bands.subscale {bands['subscale']!r} is not a subscale")
    uppers = [level["at_most"] for level in bands["levels"]]
    if uppers != sorted(uppers):
        raise TrialInputError(f"{where}.bands.levels must be in increasing order")
    return {"subscale": bands["subscale"], "levels": list(bands["levels"])}


def normalise_label(label) -> str:
    """An answer label as exports are matched to it: case and every space ignored, so
    'Every day', 'every  day' and 'EVERY DAY' are one label."""
    return "".join(str(label).split()).casefold()


def _levels(levels: dict, lo: float, hi: float, where: str) -> dict[str, str]:
    """Answer labels, code as text -> label: codes within the item range, labels distinct."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for code, label in levels.items():
        try:
            value = float(code)
        except (TypeError, ValueError):
            value = float("nan")
        if not lo <= value <= hi:
            raise TrialInputError(
                f"{where}: code {code!r} ({label!r}) is not an answer from {lo:g} to {hi:g} "
                f"(item_range)"
            )
        key = normalise_label(label)
        if key in seen:
            raise TrialInputError(
                f"{where}: codes {seen[key]} and {code} have the same label {label!r} (labels "
                f"are compared ignoring case and spaces); an export's label would be ambiguous"
            )
        text = f"{value:g}"
        seen[key], out[text] = text, str(label)
    return out


def _unique(values, what: str, where: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise TrialInputError(f"{where}: {what} {v!r} is listed twice; ids must be unique")
        seen.add(v)


def resolve_trial(
    trial_id: str,
    trial: dict,
    registry: dict,
    *,
    config_file: str,
    registry_file: str,
    raw_dir: str = "data/raw",
) -> dict:
    """Resolve a schema-validated trial dict into the trial spec (see module docstring).

    Checks everything that can be checked without the data: outcome instruments and subscales
    exist, exactly one baseline timepoint, exactly one control arm where the design needs one,
    ids unique, per-protocol arms known. The steps run in a fixed order (a file with several
    faults is told the first one met), each a helper below.
    """
    where = config_file
    design, data = trial["design"], trial["data"]
    data_dir = Path(data.get("dir", Path(raw_dir) / trial_id))
    sheet = data.get("sheet", 0)
    id_column = data.get("id_column", "participant_id")

    available = _available_instruments(trial, registry, registry_file, where)
    cohort = _resolve_cohort(trial, where)
    arms, arm_column, control_arm = _resolve_arms(trial, cohort, where)
    timepoints, baseline = _resolve_timepoints(trial, data_dir, sheet, id_column, where)
    outcomes, instruments = _resolve_outcomes(trial, available, registry_file, where)
    _answer_labels(trial.get("answer_labels") or {}, instruments, f"{where}: answer_labels")
    _fill_item_columns(trial, timepoints, instruments, where)
    per_protocol = _resolve_per_protocol(trial, arms, where)
    flow = _resolve_flow(trial, arms, where)
    analyses = _resolve_analyses(trial, outcomes, instruments, where)
    data_source = _data_source_keys(data, data_dir, sheet, id_column, arm_column, where)
    covariates = [_resolve_covariate(c, where) for c in trial.get("covariates", [])]
    # respondent groups, evaluation instruments, free text: only when the trial has them
    evaluation = resolve_evaluation(
        trial, available, data_dir=data_dir, id_column=id_column, where=where
    )
    power = _power_plan(trial, arms, outcomes, timepoints, analyses, where)
    if power:  # the legend's assumed effects print by the decimals rule (labels.score_decimals)
        of = {o["id"]: o for o in outcomes}
        for planned in power["outcomes"]:
            outcome = of[planned["id"]]
            instrument = instruments[outcome["instrument"]]
            planned["decimals"] = score_decimals(instrument, outcome["name"])

    return {
        "id": trial_id,
        "title": trial["title"],
        "design": design,
        "registration": trial.get("registration", ""),
        "config_file": config_file,
        **data_source,
        "arms": arms,
        "control_arm": control_arm,
        **_sites(trial.get("sites"), where),
        "timepoints": timepoints,
        "baseline": baseline,
        "covariates": covariates,
        "outcomes": outcomes,
        "instruments": instruments,
        "per_protocol": per_protocol,
        "analyses": analyses,
        "power": power,
        **({"cohort": cohort} if cohort is not None else {}),
        # only with a `flow` block: other trials' specs (and their jobs' settings) keep theirs
        **({"flow": flow} if flow is not None else {}),
        # only with intercurrent events: other trials' specs (and ingest's params) keep theirs
        **({"intercurrent_columns": events} if (events := intercurrent_columns(analyses)) else {}),
        **evaluation,
    }


def _available_instruments(
    trial: dict, registry: dict, registry_file: str, where: str
) -> dict[str, tuple[dict, str]]:
    """The instruments the trial's outcomes may name: {id: (raw entry, file defining it)},
    the registry's and the trial file's own `instruments` (which may not reuse a registry id)."""
    own = trial.get("instruments") or {}
    clash = sorted(set(own) & set(registry))
    if clash:
        raise TrialInputError(
            f"{where}: instruments {clash} are already defined in {registry_file}; give the "
            f"trial's own instrument another id"
        )
    available = {k: (v, registry_file) for k, v in registry.items()}
    available.update({k: (v, where) for k, v in own.items()})
    return available


def _arm(arm_id: str, label: str, control: bool, colour) -> dict:
    return {"id": arm_id, "label": label, "control": control, "colour": colour}


def _resolve_arms(trial: dict, cohort: dict | None, where: str) -> tuple[list, str | None, str]:
    """(arms [{id, label, control, colour}], the arm column or None, the control arm id or
    None). A survey without arms is one group; a cohort comparison's cohorts are its groups."""
    design, raw_arms = trial["design"], trial.get("arms")
    if cohort is not None:
        arms = [
            _arm(c, cohort["labels"].get(c, c), c == cohort["reference"], None)
            for c in cohort["order"]
        ]
        arm_column = cohort["column"]
    elif raw_arms is None:
        if design in DESIGNS_WITH_CONTROL:
            raise TrialInputError(f"{where}: design {design!r} needs `arms` with a control arm")
        arms = [_arm(SINGLE_GROUP, "All participants", False, None)]
        arm_column = None
    else:
        arms = [
            _arm(a["id"], a.get("label", a["id"]), bool(a.get("control")), a.get("colour"))
            for a in raw_arms
        ]
        arm_column = trial["data"].get("arm_column", "arm")
    _unique([a["id"] for a in arms], "arm", f"{where}: arms")
    controls = [a["id"] for a in arms if a["control"]]
    if design in DESIGNS_WITH_CONTROL and len(controls) != 1:
        raise TrialInputError(
            f"{where}: arms: design {design!r} needs exactly one arm with `control: true`, "
            f"found {len(controls)} ({', '.join(controls) or 'none'})"
        )
    if design in DESIGNS_WITH_CONTROL and len(arms) < 2:
        raise TrialInputError(f"{where}: arms: design {design!r} needs at least two arms")
    return arms, arm_column, controls[0] if controls else None


def _resolve_timepoints(
    trial: dict, data_dir: Path, sheet, id_column: str, where: str
) -> tuple[list[dict], str]:
    """(timepoints [{id, label, file, source, baseline}], the baseline timepoint's id): exactly
    one baseline, and a later wave unless the design has one wave. `source.columns` is still
    empty (filled in by `_fill_item_columns` once the instruments are known)."""
    design = trial["design"]
    timepoints = []
    for i, t in enumerate(trial["timepoints"]):
        source = _source(t["file"], data_dir, sheet, id_column, f"{where}: timepoints[{i}].file")
        timepoints.append(
            {
                "id": t["id"],
                "label": t.get("label", t["id"]),
                "file": source["path"],
                "source": source,
                "baseline": bool(t.get("baseline")),
            }
        )
    _unique([t["id"] for t in timepoints], "timepoint", f"{where}: timepoints")
    baselines = [t["id"] for t in timepoints if t["baseline"]]
    if len(baselines) != 1:
        raise TrialInputError(
            f"{where}: timepoints: exactly one timepoint needs `baseline: true`, found "
            f"{len(baselines)} ({', '.join(baselines) or 'none'})"
        )
    if design not in ONE_WAVE and len(timepoints) < 2:
        raise TrialInputError(
            f"{where}: timepoints: design {design!r} needs a baseline and at least one later wave"
        )
    return timepoints, baselines[0]


def _resolve_outcomes(
    trial: dict, available: dict, registry_file: str, where: str
) -> tuple[list[dict], dict[str, dict]]:
    """(outcomes [{id, label, instrument, kind, name, role}], {id: resolved instrument}): only
    the instruments some outcome names are resolved, in the order the outcomes first name
    them (that order is the spec's `instruments`)."""
    instruments: dict[str, dict] = {}
    outcomes = []
    for i, out in enumerate(trial["outcomes"]):
        key = f"{where}: outcomes[{i}] ({out['id']})"
        inst_id = out["instrument"]
        if inst_id not in available:
            raise TrialInputError(
                f"{key}: instrument {inst_id!r} is not in {registry_file} nor in the trial's "
                f"`instruments`; expected one of {sorted(available)}"
            )
        if inst_id not in instruments:
            spec, source = available[inst_id]
            instruments[inst_id] = resolve_instrument(inst_id, spec, source)
        kind, name, label = _outcome_measure(out, instruments[inst_id], key)
        outcomes.append(
            {
                "id": out["id"],
                "label": out.get("label", label),
                "instrument": inst_id,
                "kind": kind,
                "name": name,
                "role": out.get("role", "secondary"),
            }
        )
    _unique([o["id"] for o in outcomes], "outcome", f"{where}: outcomes")
    return outcomes, instruments


def _outcome_measure(out: dict, inst: dict, key: str) -> tuple[str, str, str]:
    """(kind, name, default label) of one outcome: a subscale score, a cut-off category or
    the instrument's bands; `key` names the outcome in the error."""
    inst_id = inst["id"]
    if "subscale" in out:
        name = out["subscale"]
        if name not in inst["subscales"]:
            raise TrialInputError(
                f"{key}: subscale {name!r} is not a subscale of {inst_id}; expected one of "
                f"{sorted(inst['subscales'])}"
            )
        return "score", name, inst["subscales"][name]["label"]
    name = out["category"]
    if name == BANDS and inst["bands"]:
        return "bands", name, f"{inst['label']} band"
    if name in inst["categories"]:
        return "category", name, inst["categories"][name]["label"]
    expected = sorted(inst["categories"]) + ([BANDS] if inst["bands"] else [])
    raise TrialInputError(
        f"{key}: category {name!r} is not a category of {inst_id}; expected one of {expected}"
    )


def _fill_item_columns(trial: dict, timepoints: list[dict], instruments: dict, where: str) -> None:
    """Set each timepoint's `source.columns` ({registry item column: export column}) from its
    `file.columns` mapping; in place, as it needs the instruments the outcomes resolved."""
    for i, (t, tp) in enumerate(zip(trial["timepoints"], timepoints, strict=True)):
        mapping = t["file"].get("columns") if isinstance(t["file"], dict) else None
        tp["source"]["columns"] = _item_columns(
            mapping or {}, instruments, f"{where}: timepoints[{i}].file.columns"
        )


def _resolve_per_protocol(trial: dict, arms: list[dict], where: str) -> dict | None:
    """analysis_sets.per_protocol as {column, at_least, arms} (arms default: every arm but the
    control); None without one."""
    rule = (trial.get("analysis_sets") or {}).get("per_protocol")
    if not rule:
        return None
    return _threshold_rule(rule, arms, "analysis_sets.per_protocol", where)


def _threshold_rule(rule: dict, arms: list[dict], key: str, where: str) -> dict:
    """A {column, at_least, arms} rule on a participants-file column (per protocol, flow
    received), its arms defaulting to every arm but the control."""
    rule_arms = rule.get("arms") or [a["id"] for a in arms if not a["control"]]
    unknown = sorted(set(rule_arms) - {a["id"] for a in arms})
    if unknown:
        raise TrialInputError(
            f"{where}: {key}.arms names unknown arms {unknown}; expected ids of `arms`: "
            f"{', '.join(a['id'] for a in arms)}"
        )
    return {"column": rule["column"], "at_least": float(rule["at_least"]), "arms": rule_arms}


# Designs whose flow diagram is enrolment -> allocation (or assignment) -> follow-up: the
# designs `flow` applies to (a survey's and a cohort comparison's flow starts at the surveyed).
FLOW_DESIGNS = ("rct", "cluster_rct", "quasi_experimental")


# The participants table's columns of the `flow` block (trialeval.analysis_sets counts them).
FLOW_RECEIVED, FLOW_REASON = "flow_received", "flow_reason"


def flow_columns(spec: dict) -> dict[str, str]:
    """{participants-file column: trial-file key} of the `flow` block's columns."""
    flow = spec.get("flow") or {}
    out = {}
    if flow.get("received"):
        out[flow["received"]["column"]] = "flow.received.column"
    if flow.get("reason_column"):
        out[flow["reason_column"]] = "flow.reason_column"
    return out


def eligibility_problem(spec: dict, enrolled: int) -> str | None:
    """The one-line problem when flow.assessed_for_eligibility less the sum of flow.excluded
    is not the number enrolled (the participants file's rows); None when it is, or without
    those keys."""
    flow = spec.get("flow") or {}
    assessed = flow.get("assessed_for_eligibility")
    if assessed is None:
        return None
    excluded = flow["excluded"]
    if assessed - sum(excluded.values()) == enrolled:
        return None
    parts = " + ".join(str(n) for n in excluded.values()) or "0"
    return (
        f"{spec['config_file']}: flow: assessed_for_eligibility {assessed} less excluded "
        f"{sum(excluded.values())} ({parts}) is {assessed - sum(excluded.values())}, but "
        f"{spec['participants_source']['path']} lists {enrolled} enrolled participants (rows); "
        "expected assessed_for_eligibility = enrolled + the sum of excluded"
    )


def _resolve_flow(trial: dict, arms: list[dict], where: str) -> dict | None:
    """The `flow` block as {assessed_for_eligibility, excluded ({reason: n}, in the file's
    order), received ({column, at_least, arms} | None), reason_column}; None without one."""
    raw = trial.get("flow")
    if raw is None:
        return None
    if trial["design"] not in FLOW_DESIGNS:
        raise TrialInputError(
            f"{where}: flow: design {trial['design']} has no enrolment and allocation boxes "
            f"(its flow diagram starts at those surveyed); `flow` is for designs "
            f"{', '.join(FLOW_DESIGNS)}: remove it"
        )
    assessed = raw.get("assessed_for_eligibility")
    excluded = {str(reason): int(n) for reason, n in (raw.get("excluded") or {}).items()}
    if assessed is not None and sum(excluded.values()) > assessed:
        raise TrialInputError(
            f"{where}: flow.excluded: {sum(excluded.values())} excluded "
            f"({' + '.join(map(str, excluded.values()))}) is more than "
            f"flow.assessed_for_eligibility {assessed}"
        )
    received = raw.get("received")
    return {
        "assessed_for_eligibility": None if assessed is None else int(assessed),
        "excluded": excluded,
        "received": _threshold_rule(received, arms, "flow.received", where) if received else None,
        "reason_column": raw.get("reason_column"),
    }


def _data_source_keys(data: dict, data_dir: Path, sheet, id_column: str, arm_column, where: str):
    """The spec's keys on where the data are and which columns hold what: data_dir,
    participants_file / participants_source (the participants file's read spec), sheet,
    id_column, arm_column, site_column, group_column, withdrawal_column (in that order)."""
    participants = _source(
        data["participants"], data_dir, sheet, id_column, f"{where}: data.participants"
    )
    if isinstance(data["participants"], dict) and "columns" in data["participants"]:
        raise TrialInputError(
            f"{where}: data.participants.columns: `columns` maps instrument items to the "
            f"columns of a survey export (timepoints[].file); participants-file columns are "
            f"named by data.*_column and covariates[].name"
        )
    return {
        "data_dir": str(data_dir),
        "participants_file": participants["path"],
        "participants_source": participants,
        "sheet": sheet,
        "id_column": id_column,
        "arm_column": arm_column,
        "site_column": data.get("site_column"),
        "group_column": data.get("group_column"),
        "withdrawal_column": data.get("withdrawal_column"),
    }


def _resolve_covariate(covariate: dict, where: str) -> dict:
    """One covariates[] entry as {name, label, label_given, type, summary, range, levels}."""
    c = covariate
    if "range" in c and (c["type"] != "numeric" or c["range"][0] >= c["range"][1]):
        raise TrialInputError(
            f"{where}: covariates ({c['name']}): `range` is [lowest, highest] of a numeric "
            f"covariate"
        )
    return {
        "name": c["name"],
        "label": c.get("label", c["name"]),
        # without one, the export's variable label is used (with_export_labels)
        "label_given": "label" in c,
        "type": c["type"],
        "summary": c.get("summary", "mean_sd"),
        "range": [float(v) for v in c["range"]] if "range" in c else None,
        "levels": _level_labels(c, where),
    }


def _power_plan(trial, arms, outcomes, timepoints, analyses, where) -> dict | None:
    """The resolved `power` block (trialeval.power_plan.resolve_power); None without one."""
    if trial.get("power") is None:
        return None
    # Imported only for trials that plan one (standard library only, like this module).
    from trialeval.power_plan import resolve_power

    return resolve_power(
        trial["power"],
        arms=arms,
        outcomes=outcomes,
        timepoints=timepoints,
        design=trial["design"],
        analyses=analyses,
        where=where,
    )


def _resolve_cohort(trial: dict, where: str) -> dict | None:
    """The `cohort` block of a cohort_comparison ({column, order, reference, labels}, cohorts as
    text); None for other designs, which must not have one."""
    raw = trial.get("cohort")
    if trial["design"] != COHORT_COMPARISON:
        if raw is not None:
            raise TrialInputError(
                f"{where}: cohort: only design {COHORT_COMPARISON} has cohorts; remove `cohort` "
                f"or set design: {COHORT_COMPARISON}"
            )
        return None
    if raw is None:
        raise TrialInputError(
            f"{where}: design {COHORT_COMPARISON} needs `cohort` (column, order, reference)"
        )
    if trial.get("arms") is not None:
        raise TrialInputError(
            f"{where}: arms: a {COHORT_COMPARISON} has no arms (its cohorts, cohort.order, are "
            "the groups); remove `arms`"
        )
    order = [str(c) for c in raw["order"]]
    _unique(order, "cohort", f"{where}: cohort.order")
    reference = str(raw["reference"])
    if reference not in order:
        raise TrialInputError(
            f"{where}: cohort.reference {reference!r} is not one of cohort.order {order}"
        )
    labels = {str(k): v for k, v in (raw.get("labels") or {}).items()}
    unknown = sorted(set(labels) - set(order))
    if unknown:
        raise TrialInputError(
            f"{where}: cohort.labels names {unknown}, which are not in cohort.order {order}"
        )
    return {"column": raw["column"], "order": order, "reference": reference, "labels": labels}


def _source(entry: str | dict, data_dir: Path, sheet, id_column: str, where: str) -> dict:
    """A `file` of the trial file (a path, or an object with read options) as the read spec
    trialeval.ingest takes: paths joined to the data folder, every option filled in (`format`
    None means detected; `columns` is filled in once the instruments are known)."""
    entry = {"path": entry} if isinstance(entry, str) else entry
    encoding = entry.get("encoding")
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise TrialInputError(
                f"{where}.encoding: unknown encoding {encoding!r}; expected a Python codec "
                f"name such as utf-8, cp1252, latin-1 or utf-16"
            ) from None
    dictionary = entry.get("dictionary")
    return {
        "path": str(data_dir / entry["path"]),
        "sheet": entry.get("sheet", sheet),
        "header_row": int(entry.get("header_row", 1)),
        "encoding": encoding,
        "delimiter": entry.get("delimiter"),
        "missing_codes": list(entry.get("missing_codes", [])),
        "format": entry.get("format"),
        "id_column": entry.get("id_column", id_column),
        "columns": {},
        "event": _listed(entry.get("event")),
        "dictionary": str(data_dir / dictionary) if dictionary else None,
        "forms_complete": entry.get("forms_complete", "complete"),
    }


def _level_labels(covariate: dict, where: str) -> dict[str, str]:
    """covariates[].levels as {level: label}, keys as text (YAML reads 1 or yes otherwise)."""
    levels = covariate.get("levels") or {}
    if levels and covariate["type"] != "categorical":
        raise TrialInputError(
            f"{where}: covariates ({covariate['name']}): `levels` labels the levels of a "
            f"categorical covariate, not a {covariate['type']} one"
        )
    return {str(level): str(label) for level, label in levels.items()}


def _sites(entries, where: str) -> dict:
    """`sites` (ids, or {id, label} objects) as the spec's sites (ids, or None when not
    given) and site_labels ({id: label}, for the ids given a label)."""
    if entries is None:
        return {"sites": None, "site_labels": {}}
    ids = [e if isinstance(e, str) else e["id"] for e in entries]
    _unique(ids, "site", f"{where}: sites")
    labels = {e["id"]: e["label"] for e in entries if isinstance(e, dict) and "label" in e}
    return {"sites": ids, "site_labels": labels}


def with_export_labels(spec: dict, labels: dict[str, str]) -> dict:
    """The spec with the covariates the trial file gives no `label` labelled as the export
    labels them (`labels`: covariate -> REDCap field label or SPSS / Stata variable label,
    written by ingest); a label in the trial file wins."""
    covariates = [
        {**c, "label": labels[c["name"]]} if not c["label_given"] and labels.get(c["name"]) else c
        for c in spec["covariates"]
    ]
    return {**spec, "covariates": covariates}


def _listed(value) -> list[str]:
    """A key that takes one name or a list of them (`event`), as a list (empty when absent)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _item_value(item_id: str):
    """An item id as a column template sees it: a number when it is one ('cips{item:02d}')."""
    return int(item_id) if item_id.isdigit() else item_id


def _instrument_columns(rule, inst: dict, where: str) -> dict[str, str]:
    """{registry column: export column} of one instrument's items under one `columns` rule:
    none (the registry's item_prefix + item), a template, or an explicit item -> column map."""
    items = inst["items"]
    if rule is None:
        return {item["column"]: item["column"] for item in items}
    if isinstance(rule, dict):
        rule = {str(k): str(v) for k, v in rule.items()}
        ids = [item["id"] for item in items]
        unknown = [k for k in rule if k not in ids]
        absent = [i for i in ids if i not in rule]
        if unknown or absent:
            raise TrialInputError(
                f"{where}.{inst['id']}: "
                + (f"items {unknown} are not items of {inst['id']}; " if unknown else "")
                + (f"no column given for items {absent}; " if absent else "")
                + f"an explicit map names the column of every item ({', '.join(ids)})"
            )
        return {item["column"]: rule[item["id"]] for item in items}
    if "{" not in rule:
        if len(items) == 1:  # one column (a pre-scored total, a single item): its name
            return {items[0]["column"]: rule}
        raise TrialInputError(
            f"{where}.{inst['id']}: template {rule!r} has no {{item}}, so every item of "
            f"{inst['id']} would be read from one column; e.g. 'Q1_{{item}}' or "
            f"'cips{{item:02d}}' (or an explicit map item -> column)"
        )
    out = {}
    for item in items:
        try:
            out[item["column"]] = rule.format(item=_item_value(item["id"]))
        except (KeyError, IndexError, ValueError) as error:
            raise TrialInputError(
                f"{where}.{inst['id']}: template {rule!r} cannot name item {item['id']!r} "
                f"({type(error).__name__}: {error}); the one field is {{item}}, e.g. "
                f"'Q1_{{item}}' or 'cips{{item:02d}}' (zero-padded numbers)"
            ) from None
    return out


def _item_columns(mapping: dict, instruments: dict, where: str) -> dict[str, str]:
    """{registry column: export column} of every item column the trial's outcomes need."""
    unknown = sorted(set(mapping) - set(instruments))
    if unknown:
        raise TrialInputError(
            f"{where}: {unknown} are not instruments of this trial's outcomes; expected some "
            f"of {sorted(instruments)}"
        )
    out: dict[str, str] = {}
    for inst_id, inst in instruments.items():
        for column, export in _instrument_columns(mapping.get(inst_id), inst, where).items():
            if out.setdefault(column, export) != export:  # e.g. mbi and mbi_2item share mbi_8
                raise TrialInputError(
                    f"{where}: item column {column} (also an item of {inst_id}) is mapped to "
                    f"both {out[column]!r} and {export!r}; map every instrument holding it alike"
                )
    by_export: dict[str, str] = {}
    for column, export in out.items():
        if by_export.setdefault(export, column) != column:
            raise TrialInputError(
                f"{where}: {by_export[export]} and {column} are both read from column "
                f"{export!r}; every item needs its own column"
            )
    return out


def _answer_labels(overrides: dict, instruments: dict, where: str) -> None:
    """The trial's own answer labels (a translation, say) replace the registry's."""
    for inst_id, labels in overrides.items():
        if inst_id not in instruments:
            raise TrialInputError(
                f"{where}.{inst_id}: not an instrument of this trial's outcomes; expected one "
                f"of {sorted(instruments)}"
            )
        inst = instruments[inst_id]
        inst["levels"] = _levels(labels, *inst["item_range"], f"{where}.{inst_id}")


def _resolve_analyses(trial: dict, outcomes: list[dict], instruments: dict, where: str) -> dict:
    """Analysis options with defaults, cross-checked against covariates and outcomes."""
    raw = trial.get("analyses") or {}
    covariates = {c["name"] for c in trial.get("covariates", [])}
    site = trial["data"].get("site_column")

    def known(names, key, allow_site=False):
        allowed = covariates | ({"site"} if allow_site and site else set())
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise TrialInputError(
                f"{where}: analyses.{key} names {unknown}, which are not configured covariates"
                f"{' (or site)' if allow_site else ''}; expected some of {sorted(allowed)}"
            )
        return list(names)

    prepost = raw.get("prepost") or {}
    resolved = {
        "analysis_sets": list(raw.get("analysis_sets") or ["itt", "per_protocol", "complete_case"]),
        "mixed_model": _resolve_mixed_model(
            trial, raw.get("mixed_model") or {}, "analyses.mixed_model", known, where
        ),
        "prepost": {
            "confounders": known(prepost.get("confounders", []), "prepost.confounders", True)
        },
        "association": None,
        # how success across several primary comparisons is decided (None: not stated)
        "multiplicity": {"primary": (raw.get("multiplicity") or {}).get("primary")},
    }
    analysed = [o for o in outcomes if o["id"] in _analysed_outcomes(trial["design"], outcomes)]
    resolved["estimand"] = _resolve_estimand(
        raw.get("estimand"), "analyses.estimand", analysed, trial["design"], where
    )
    _check_effect(resolved, trial["design"], where)
    resolved["sensitivity"] = _resolve_sensitivity(trial, resolved, outcomes, known, where)
    if trial["design"] == COHORT_COMPARISON:
        options = raw.get("cohort") or {}
        covariates_ = known(options.get("covariates", []), "cohort.covariates", True)
        resolved["cohort"] = {"covariates": covariates_}
    elif (raw.get("cohort") or {}).get("covariates"):  # the schema fills in an empty block
        raise TrialInputError(
            f"{where}: analyses.cohort: only design {COHORT_COMPARISON} has a cohort comparison"
        )
    association = raw.get("association")
    if trial["design"] == COHORT_COMPARISON and association:
        raise TrialInputError(
            f"{where}: analyses.association: design {COHORT_COMPARISON} compares its cohorts "
            "(analyses.cohort); the association analysis is for design cross_sectional"
        )
    if trial["design"] == "cross_sectional" and not association:
        raise TrialInputError(
            f"{where}: design cross_sectional needs analyses.association (outcome, exposures)"
        )
    if association:
        by_id = {o["id"]: o for o in outcomes}
        target = by_id.get(association["outcome"])
        if target is None or target["kind"] != "category":
            raise TrialInputError(
                f"{where}: analyses.association.outcome {association['outcome']!r} must be the id "
                f"of a category outcome; categories: "
                f"{[o['id'] for o in outcomes if o['kind'] == 'category']}"
            )
        columns = _exposure_columns(trial, association["exposures"], where)
        for exposure in association["exposures"]:
            if isinstance(exposure, dict):
                continue
            out = by_id.get(exposure)
            inst = instruments.get(out["instrument"]) if out else None
            if out is None or out["kind"] != "score" or not _ordinal_item(inst, out["name"]):
                raise TrialInputError(
                    f"{where}: analyses.association.exposures: {exposure!r} must be the id of an "
                    f"outcome scored from a single item with `levels` (e.g. belonging)"
                )
        resolved["association"] = {
            "outcome": association["outcome"],
            "exposures": [
                e["column"] if isinstance(e, dict) else e for e in association["exposures"]
            ],
            "covariates": known(association.get("covariates", []), "association.covariates"),
        }
        if columns:  # only then: other trials' specs keep their keys
            resolved["association"]["exposure_columns"] = columns
    return resolved


def _exposure_columns(trial: dict, exposures: list, where: str) -> dict[str, str]:
    """{column: reference level} of the exposures given as participants-file columns (each a
    categorical covariate: the columns ingest reads)."""
    categorical = {c["name"] for c in trial.get("covariates", []) if c["type"] == "categorical"}
    columns = {}
    for j, exposure in enumerate(exposures):
        if not isinstance(exposure, dict):
            continue
        column = exposure["column"]
        if column not in categorical:
            raise TrialInputError(
                f"{where}: analyses.association.exposures[{j}].column: {column!r} must be a "
                f"categorical covariate (covariates[].name with type categorical; add it there "
                f"to read it from the participants file); expected one of {sorted(categorical)}"
            )
        columns[column] = str(exposure["reference"])
    named = [e["column"] for e in exposures if isinstance(e, dict)]
    _unique(named, "exposure column", f"{where}: analyses.association.exposures")
    return columns


def _resolve_mixed_model(trial: dict, mixed: dict, key: str, known, where: str) -> dict:
    """One mixed-model block (the primary's, or a sensitivity analysis's merged over it) with
    its defaults; `key` names it in errors."""
    site = trial["data"].get("site_column")
    resolved = {
        "model": mixed.get("model", "repeated"),
        "site": _mixed_model_site(mixed, site, where, trial["design"], key),
        "covariates": known(
            mixed.get("covariates", []), f"{key.removeprefix('analyses.')}.covariates"
        ),
        # clda: a random intercept unless a structure is named (then the MMRM engine)
        "covariance": mixed.get("covariance")
        if mixed.get("model") == "clda"
        else mixed.get("covariance", "unstructured"),
        "df": mixed.get("df", "satterthwaite"),
    }
    groups = _mixed_model_groups(trial, mixed, where, key)
    if groups is not None:  # only with data.group_column: other trials' specs keep their keys
        resolved["groups"] = groups
    return resolved


# ICH E9(R1) strategies for intercurrent events (trialeval.estimands applies them).
STRATEGIES = ("treatment_policy", "hypothetical", "while_on_treatment", "composite")
PRIMARY_ANALYSIS = "primary"


def _analysed_outcomes(design: str, outcomes: list[dict]) -> list[str]:
    """Ids of the outcomes an analysis of the design fits (config.outcome_analyses)."""
    plan = outcome_analyses({"design": design, "outcomes": outcomes})
    return plan["mixed_model"] + plan["prepost"]


def _resolve_estimand(raw, key: str, analysed: list[dict], design: str, where: str):
    """{population, variable, summary, intercurrent_events: [{event, column, strategy}]}, or
    None when the analysis states no estimand. Composite is refused for score outcomes (its
    failure is a binary outcome's positive level)."""
    if raw is None:
        return None
    events = []
    for j, event in enumerate(raw.get("intercurrent_events") or []):
        at = f"{where}: {key}.intercurrent_events[{j}]"
        if design in ONE_WAVE:
            raise TrialInputError(
                f"{at}: a {design.replace('_', ' ')} has one wave, so no observation comes after "
                "an intercurrent event; remove intercurrent_events"
            )
        scores = [o["id"] for o in analysed if o["kind"] == "score"]
        if event["strategy"] == "composite" and scores:
            raise TrialInputError(
                f"{at}.strategy: composite applies to binary (category) outcomes only (the "
                f"event counts as the category's positive level); this analysis fits the score "
                f"outcome(s) {', '.join(scores)}. Use hypothetical or while_on_treatment for "
                "scores, or run the composite strategy in a sensitivity analysis whose "
                "`outcomes` are categories"
            )
        events.append({k: event[k] for k in ("event", "column", "strategy")})
    _unique([e["event"] for e in events], "intercurrent event", f"{where}: {key}")
    _unique([e["column"] for e in events], "intercurrent event column", f"{where}: {key}")
    if raw.get("effect") and key != "analyses.estimand":
        raise TrialInputError(
            f"{where}: {key}.effect: a sensitivity analysis estimates the primary analysis's "
            "effect measure; name it once, in analyses.estimand.effect"
        )
    return {
        "population": raw.get("population", ""),
        "variable": raw.get("variable", ""),
        "summary": raw.get("summary", ""),
        "effect": raw.get("effect"),
        "intercurrent_events": events,
    }


# The mixed model's effects of arm per post visit (trialeval.models): model repeated
# estimates two, the others one (the baseline-adjusted difference).
TWO_EFFECT_MODEL = "repeated"
DEFAULT_EFFECT = "diff_in_change"


def _check_effect(analyses: dict, design: str, where: str) -> None:
    """analyses.estimand.effect chooses between model repeated's two effects: refused where
    the primary analysis has one (another model, a design without the mixed model)."""
    effect = (analyses["estimand"] or {}).get("effect")
    model = analyses["mixed_model"]["model"]
    if effect is None or (design in RANDOMIZED and model == TWO_EFFECT_MODEL):
        return
    which = (
        f"model {model} estimates one effect of arm per visit (the baseline-adjusted difference)"
        if design in RANDOMIZED
        else f"design {design} has no mixed model"
    )
    raise TrialInputError(
        f"{where}: analyses.estimand.effect: {effect!r} chooses between the two effects of "
        f"model repeated (diff_in_change, diff_in_means); {which}, so remove effect"
    )


def primary_effect(spec: dict) -> str | None:
    """The primary analysis's effect measure of score outcomes in a randomized design
    (effects.csv's estimand): analyses.estimand.effect with model repeated (default
    diff_in_change), adjusted_diff with the other models; None for other designs."""
    if spec.get("design") not in RANDOMIZED:
        return None
    analyses = spec.get("analyses") or {}
    model = (analyses.get("mixed_model") or {}).get("model", TWO_EFFECT_MODEL)
    if model != TWO_EFFECT_MODEL:
        return "adjusted_diff"
    return (analyses.get("estimand") or {}).get("effect") or DEFAULT_EFFECT


def _resolve_sensitivity(trial: dict, primary: dict, outcomes: list[dict], known, where: str):
    """The named sensitivity analyses, each resolved against the primary analysis:
    [{name, label, outcomes, analysis_sets, mixed_model, covariates, estimand}]."""
    raw = (trial.get("analyses") or {}).get("sensitivity") or []
    if raw and trial["design"] not in RANDOMIZED:
        raise TrialInputError(
            f"{where}: analyses.sensitivity: named sensitivity analyses are run for randomized "
            f"designs (rct, cluster_rct); design {trial['design']!r} has none"
        )
    primary_mixed = (trial.get("analyses") or {}).get("mixed_model") or {}
    analysed = _analysed_outcomes(trial["design"], outcomes)
    by_id = {o["id"]: o for o in outcomes}
    resolved = []
    for i, analysis in enumerate(raw):
        key = f"analyses.sensitivity[{i}]"
        name = analysis["name"]
        if name == PRIMARY_ANALYSIS:
            raise TrialInputError(
                f"{where}: {key}.name: {PRIMARY_ANALYSIS!r} names the primary analysis "
                "(analyses.mixed_model and the other blocks); give this one another name"
            )
        own = analysis.get("mixed_model") or {}
        if "covariates" in analysis and "covariates" in own:
            raise TrialInputError(
                f"{where}: {key}: both covariates and mixed_model.covariates are given; give "
                "the analysis's covariates once (covariates)"
            )
        merged = {**primary_mixed, **own}
        if "covariates" in analysis:
            merged["covariates"] = analysis["covariates"]
        chosen = analysis.get("outcomes") or analysed
        unknown = [o for o in chosen if o not in analysed]
        if unknown:
            raise TrialInputError(
                f"{where}: {key}.outcomes names {unknown}, which are not outcomes this design "
                f"analyses; expected some of {analysed}"
            )
        imputation = analysis.get("imputation")
        if imputation is not None:
            chosen = _imputed_outcomes(analysis, chosen, by_id, f"{where}: {key}")
        mixed = _resolve_mixed_model(trial, merged, f"{key}.mixed_model", known, where)
        extra = {} if imputation is None else {"imputation": _resolve_imputation(imputation)}
        resolved.append(
            {
                "name": name,
                "label": analysis.get("label", name),
                "outcomes": list(chosen),
                "analysis_sets": list(
                    analysis.get("analysis_sets") or primary["analysis_sets"][:1]
                ),
                "mixed_model": mixed,
                "covariates": list(mixed["covariates"]),
                "estimand": _resolve_estimand(
                    analysis.get("estimand"),
                    f"{key}.estimand",
                    [by_id[o] for o in chosen],
                    trial["design"],
                    where,
                ),
                **extra,
            }
        )
    _unique([a["name"] for a in resolved], "sensitivity analysis", f"{where}: analyses.sensitivity")
    return resolved


def _imputed_outcomes(analysis: dict, chosen: list[str], by_id: dict, at: str) -> list[str]:
    """The outcomes of an analysis with multiple imputation: its score outcomes. Without
    `outcomes` the categories are left out (they keep the primary's risk ratio); a category
    named in `outcomes` is refused: the imputation model is a linear regression of scores."""
    categories = [o for o in chosen if by_id[o]["kind"] == "category"]
    if categories and analysis.get("outcomes"):
        raise TrialInputError(
            f"{at}.outcomes: {categories} are category (binary) outcomes, which multiple "
            "imputation (imputation:) does not impute (its model is a linear regression of "
            "scores); list score outcomes only, or run the categories in another sensitivity "
            "analysis without imputation"
        )
    scores = [o for o in chosen if by_id[o]["kind"] == "score"]
    if not scores:
        raise TrialInputError(
            f"{at}.imputation: this analysis has no score outcome to impute; expected a "
            "design with score outcomes analysed by the mixed model"
        )
    return scores


def _resolve_imputation(raw: dict) -> dict:
    """{m, seed, delta (sorted, each once, 0 included: the MAR result), propagate}."""
    deltas = sorted({float(d) for d in raw["delta"]} | {0.0})
    return {
        "m": int(raw["m"]),
        "seed": int(raw["seed"]),
        "delta": deltas,
        "propagate": bool(raw["propagate"]),
    }


def intercurrent_columns(analyses: dict) -> list[str]:
    """Participants-file columns of every intercurrent event of the primary and sensitivity
    analyses, each once, in the order the trial file names them (ingest reads them)."""
    estimands = [analyses.get("estimand")] + [
        a["estimand"] for a in analyses.get("sensitivity", [])
    ]
    columns = [e["column"] for est in estimands if est for e in est["intercurrent_events"]]
    return list(dict.fromkeys(columns))


def _ordinal_item(inst: dict, subscale: str) -> bool:
    """Whether a subscale is one item whose every answer has a label (an ordinal exposure)."""
    lo, hi = inst["item_range"]
    codes = {f"{v:g}" for v in range(int(lo), int(hi) + 1)}
    one_item = len(inst["subscales"][subscale]["items"]) == 1
    return one_item and not inst["decimals"] and codes <= set(inst["levels"])


def _residual_covariance(mixed: dict) -> str | None:
    """The model whose within-participant correlation is a residual covariance structure
    (no random effects): mmrm, or clda with `covariance:`; None for the others."""
    if mixed.get("model") == "mmrm":
        return "mmrm"
    if mixed.get("model") == "clda" and mixed.get("covariance"):
        return "clda with covariance"
    return None


def _mixed_model_groups(
    trial: dict, mixed: dict, where: str, key: str = "analyses.mixed_model"
) -> dict | None:
    """Which arms are delivered in groups ({"arms": ids, or None for every arm with group
    values}), or None without data.group_column; combinations the models cannot fit are
    refused here, before any job runs."""
    column = trial["data"].get("group_column")
    groups = mixed.get("groups")
    if not column:
        if groups is not None:
            raise TrialInputError(
                f"{where}: {key}.groups needs data.group_column (the "
                "participants-file column naming each participant's delivery group)"
            )
        return None
    if trial["design"] not in RANDOMIZED:
        raise TrialInputError(
            f"{where}: data.group_column: delivery groups enter the mixed models of design rct; "
            f"design {trial['design']!r} has none (remove data.group_column)"
        )
    if _residual_covariance(mixed):
        raise TrialInputError(
            f"{where}: data.group_column is not available with {key}.model: "
            f"{_residual_covariance(mixed)} (a residual covariance structure, no random effects "
            "to carry a delivery-group term); use model: repeated, ancova or clda without "
            "covariance, which take the group random intercept"
        )
    arms = (groups or {}).get("arms")
    if arms is not None:
        known = [a["id"] for a in trial.get("arms", [])]
        unknown = [a for a in arms if a not in known]
        if unknown:
            raise TrialInputError(
                f"{where}: {key}.groups.arms names {unknown}, which are not arms "
                f"of the trial; expected some of {known}"
            )
    return {"arms": None if arms is None else list(arms)}


def _cluster_site(mixed: dict, site_column, where: str, key: str) -> str:
    """A cluster-randomized trial's site: the unit of randomization, so a random intercept."""
    if not site_column:
        raise TrialInputError(
            f"{where}: design cluster_rct needs data.site_column: the sites are the clusters "
            "randomized"
        )
    if _residual_covariance(mixed):
        raise TrialInputError(
            f"{where}: {key}.model: {_residual_covariance(mixed)} is not "
            "available with design cluster_rct (its clusters need the site random intercept, "
            "and a residual covariance structure has no random effects); use model: repeated, "
            "ancova or clda without covariance"
        )
    site = mixed.get("site", "random")
    if site != "random":
        raise TrialInputError(
            f"{where}: {key}.site: {site} is not available with design "
            "cluster_rct: participants of a cluster share it, so the model needs the site "
            "random intercept (site: random, the default); a site factor would be aliased "
            "with the arm"
        )
    return site


def _mixed_model_site(
    mixed: dict, site_column, where: str, design: str = "rct", key: str = "analyses.mixed_model"
) -> str:
    """How site enters the mixed model: random by default, fixed for model mmrm (and clda
    with a covariance structure).

    An MMRM with a site random intercept would put a second, between-participant covariance
    on top of the within-participant one; that is not what trialeval.mmrm fits (and with an
    unstructured covariance the two are not separately identified), so it is refused.
    """
    if design == "cluster_rct":
        return _cluster_site(mixed, site_column, where, key)
    if not site_column:
        return "none"
    structured = _residual_covariance(mixed)
    site = mixed.get("site", "fixed" if structured else "random")
    if structured and site == "random":
        raise TrialInputError(
            f"{where}: {key}.site: random is not available with model: "
            f"{structured} (it models all within-participant correlation by its residual "
            "covariance and has no random effects; a site random intercept on top would not be "
            "separately identified from an unstructured covariance); use site: fixed (a site "
            "factor, the default here) or none"
        )
    return site


def item_columns(spec: dict) -> list[str]:
    """Every registry item column the trial's outcomes need, in registry order (the columns
    of the interim items table; a timepoint's `source.columns` says where each is exported)."""
    columns: list[str] = []
    for inst in spec["instruments"].values():
        columns.extend(item["column"] for item in inst["items"])
    return columns


def raw_files(spec: dict) -> list[str]:
    """Every raw file a trial reads, once each, in reading order: the participants file, the
    waves' exports and any data dictionary (one REDCap export may serve them all)."""
    sources = [spec["participants_source"], *(tp["source"] for tp in spec["timepoints"])]
    paths = [s["path"] for s in sources] + [s["dictionary"] for s in sources if s["dictionary"]]
    return list(dict.fromkeys(paths))


def _schema_error(message: str) -> str:
    """The reason and the key path (e.g. `power.alpha`) of a schema validation failure."""
    reason = message.split("\n\nFailed validating")[0].strip()
    reason = reason.removeprefix("Error validating config file.").strip()
    reason = reason.removeprefix("ValidationError:").strip()
    reason = _dependency_words(reason)
    found = re.search(r"On instance((?:\[[^\]]+\])*):", message)
    if found and found.group(1):
        keys = re.findall(r"\[([^\]]+)\]", found.group(1))
        path = ".".join(k.strip("'\"") if not k.isdigit() else f"[{k}]" for k in keys)
        return f"at {path.replace('.[', '[')}: {reason}"
    return reason


# what a key given without its partner (schema dependentRequired) may be instead
DEPENDENCY_HINTS = {"excluded": "excluded: {} when no one was excluded"}


def _dependency_words(reason: str) -> str:
    """jsonschema's "'b' is a dependency of 'a'" (dependentRequired) as a trial file's author
    reads it: which key is given, which is missing, and what is expected."""
    found = re.fullmatch(r"'([^']+)' is a dependency of '([^']+)'", reason)
    if not found:
        return reason
    missing, given = found.groups()
    hint = f" ({DEPENDENCY_HINTS[missing]})" if missing in DEPENDENCY_HINTS else ""
    return f"'{given}' is given without '{missing}'; expected both{hint}"


def load_yaml(path: str | Path, schema: str | Path) -> dict:
    """Read a YAML config file and validate it against `schema`, filling defaults."""
    import yaml

    from trialeval.schemas import ValidationError, validate

    path = Path(path)
    if not path.is_file():
        raise TrialInputError(f"{path}: file not found")
    try:
        with open(path) as handle:
            # libyaml when available: the pure-Python loader is most of the DAG build time
            content = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as error:
        raise TrialInputError(f"{path}: not valid YAML: {error}") from None
    try:
        validate(content, schema)
    except ValidationError as error:
        raise TrialInputError(
            f"{path}: does not match {Path(schema).name}: {_schema_error(str(error))}"
        ) from None
    return content


def check_config(config: dict, schema: str | Path, files: list[str]) -> None:
    """Validate the run's config (config.yaml and --config) against `schema`, filling defaults."""
    from trialeval.schemas import ValidationError, validate

    try:
        validate(config, schema)
    except ValidationError as error:
        source = " + ".join([*files, "--config"]) if files else "config"
        raise TrialInputError(
            f"{source}: does not match {Path(schema).name}: {_schema_error(str(error))}"
        ) from None


def load_trials(config: dict, schemas_dir: str | Path) -> dict[str, dict]:
    """Resolve every trial named in a validated config.yaml into its trial spec."""
    schemas_dir = Path(schemas_dir)
    registry_file = config["instruments"]
    registry = load_yaml(registry_file, schemas_dir / "instruments.schema.yaml")
    specs = {}
    for trial_id in config["trials"]:
        trial_file = f"{config['trials_dir']}/{trial_id}.yaml"
        specs[trial_id] = resolve_trial(
            trial_id,
            load_yaml(trial_file, schemas_dir / "trial.schema.yaml"),
            registry,
            config_file=trial_file,
            registry_file=registry_file,
            raw_dir=config["raw_dir"],
        )
        # global options the stages report (tables name the multiplicity rule)
        specs[trial_id]["multiplicity"] = config.get("multiplicity", "holm")
        specs[trial_id]["alpha"] = config.get("alpha", 0.05)
        # disclosure control of the shared outputs (read by tables, figures, report)
        specs[trial_id]["disclosure"] = {
            "min_cell": (config.get("disclosure") or {}).get("min_cell")
        }
    return specs


def outcome_analyses(spec: dict) -> dict[str, list[str]]:
    """Which per-outcome analysis each outcome gets, by design: {analysis: [outcome ids]}.

    rct: scores -> mixed_model, categories -> prepost (risk ratio per post visit, reported
    with analysis `risk_ratio`);
    quasi_experimental: scores and categories -> prepost; cross_sectional and
    cohort_comparison: none per outcome (the association analysis, or the cohort comparison,
    runs once per trial). Bands are descriptive only.
    """
    plan: dict[str, list[str]] = {"mixed_model": [], "prepost": []}
    for outcome in spec["outcomes"]:
        if outcome["kind"] == "bands" or spec["design"] in ONE_WAVE:
            continue
        if spec["design"] in RANDOMIZED and outcome["kind"] == "score":
            plan["mixed_model"].append(outcome["id"])
        else:
            plan["prepost"].append(outcome["id"])
    return plan


def report_items(spec: dict) -> dict[str, list[str]]:
    """The tables and figures a trial's design calls for (each one rule, one set of files)."""
    design = spec["design"]
    tables = ["table1"]
    figures = ["consort"]
    if design in RANDOMIZED:
        tables += ["effects_table"]
        figures += ["trajectories", "forest"]
    elif design == "quasi_experimental":
        # Table 2 has every pre/post estimate and the groups' change: the pre/post table
        # (trialeval.tables.prepost_table) would repeat it, so the report leaves it out
        tables += ["effects_table"]
        figures += ["forest", "change_distributions"]
    elif design == COHORT_COMPARISON:
        tables += ["cohort_table"]
        figures += ["cohort_prevalence"]
    else:
        tables += ["association_table"]
        figures += ["odds_ratio_forest"]
    # an empty reliability table has no content: the report says why instead
    tables += ["reliability_table"] if has_reliability(spec) else []
    tables += ["missingness_table"]
    if has_imputation(spec):  # a tipping-point table and figure only where some MI is run
        tables.append("tipping_point")
        figures.append("tipping_point")
    # Table S1: Table 2's further estimates (trialeval.tables.split_effects)
    supplementary = ["effects_supplement"] if has_effects_supplement(spec) else []
    return {"tables": tables, "supplementary_tables": supplementary, "figures": figures}


def has_effects_supplement(spec: dict) -> bool:
    """Whether a resolved randomized trial has estimates beyond Table 2's (the primary
    analysis's primary effect measures in its first analysis set): model repeated's second
    effect, the categories' adjusted odds ratios, further analysis sets shown, or named
    sensitivity analyses."""
    from trialeval.labels import shown_sets

    if spec.get("design") not in RANDOMIZED:
        return False
    analyses = spec.get("analyses") or {}
    model = (analyses.get("mixed_model") or {}).get("model", TWO_EFFECT_MODEL)
    scores = [o for o in spec.get("outcomes") or [] if o.get("kind") == "score"]
    categories = [o for o in spec.get("outcomes") or [] if o.get("kind") == "category"]
    sets = shown_sets(spec, analyses.get("analysis_sets") or ["itt"])
    return bool(
        (scores and model == TWO_EFFECT_MODEL)
        or categories
        or len(sets) > 1
        or analyses.get("sensitivity")
    )


def has_reliability(spec: dict) -> bool:
    """Whether some outcome of a resolved spec is measured with a multi-item subscale (whose
    internal consistency trialeval.instruments.reliability estimates); True for a spec
    that does not say (a design alone, subscales without their items)."""
    subscales = [
        s for i in (spec.get("instruments") or {}).values() for s in i["subscales"].values()
    ]
    if "instruments" not in spec or any("items" not in s for s in subscales):
        return True
    return any(len(s["items"]) >= 2 for s in subscales)


def has_imputation(spec: dict) -> bool:
    """Whether some named sensitivity analysis of a resolved spec has multiple imputation."""
    named = (spec.get("analyses") or {}).get("sensitivity") or []
    return any(a.get("imputation") is not None for a in named)
