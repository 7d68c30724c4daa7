"""SYNTHETIC demo trials whose raw data are survey tools' own exports, made from the simulated
data of a CSV demo trial (trialeval.simulate):

- coaching_redcap: coaching_rct as a REDCap longitudinal project's "CSV raw" record export (a
  row per record x event: a participant-record event with the enrolment, randomization and
  disposition forms and a repeating session log, then the baseline and month-4 survey events,
  sites as data access groups) plus its data dictionary. Besides coaching_rct's answers it has
  month-4 forms that participants started but never completed (status Incomplete): they are
  left out and counted.
- mentorship_qualtrics: mentorship_prepost's two MBI waves as Qualtrics "Use choice text"
  exports (three header rows, metadata, the id in an embedded-data field), with preview and
  test responses, unfinished responses and "Prefer not to answer" for some skipped items.

Every value the pipeline scores is the source trial's, so each trial reads to the source's
tables and its effects.csv equals the source's but for the `trial` column (tests check it).
Conversion noise (which forms were started, response ids, durations) has its own seed.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np
import pandas as pd

from trialeval import simulate

EXPORTED = {"coaching_redcap": "coaching_rct", "mentorship_qualtrics": "mentorship_prepost"}
SEEDS = {"coaching_redcap": 20261127, "mentorship_qualtrics": 20261128}


def _item_value(item):
    return int(item) if str(item).isdigit() else item


def export_columns(cfg: dict, registry: dict, name: str) -> list[tuple[str, str]]:
    """[(registry column, export column)] of one instrument, by the trial file's `columns`."""
    file = cfg["timepoints"][0]["file"]
    template = (file.get("columns") or {}).get(name) if isinstance(file, dict) else None
    inst = registry[name]
    out = []
    for item in simulate.item_ids(inst):
        column = f"{inst['item_prefix']}{item}"
        out.append((column, template.format(item=_item_value(item)) if template else column))
    return out


def _text(value) -> str:
    """A cell as the tools write it: whole numbers without decimals, missing as empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


# --- REDCap -----------------------------------------------------------------------------------

RECORD_FORMS = {
    "enrolment": [("arm", "radio"), ("age", "text"), ("gender", "dropdown"), ("year", "dropdown")],
    "disposition": [
        ("withdrew_consent", "yesno"),
        ("sessions_attended", "text"),
        ("disposition_reason", "dropdown"),
    ],
}
SESSION_LOG = "session_log"
FORM_OF = {"mbi": "mbi", "cips": "cips", "miss_hp": "miss_hp", "scs_sf": "scs_sf"}
STARTED_NOT_COMPLETED = 8  # month-4 MBI forms begun by non-responders, left Incomplete


def _choices(codes: dict) -> str:
    return " | ".join(f"{code}, {label}" for code, label in codes.items())


def _item_choices(inst: dict) -> str:
    """A REDCap radio field of an instrument's answers: every code labelled (codes the
    registry leaves unlabelled are labelled by their number, as REDCap needs a label)."""
    lo, hi = (int(v) for v in inst["item_range"])
    levels = {int(k): v for k, v in (inst.get("levels") or {}).items()}
    return _choices({code: levels.get(code, str(code)) for code in range(lo, hi + 1)})


def _record_choices(people: pd.DataFrame, cfg: dict) -> dict[str, dict]:
    """Codes of the coded participant fields: the arm in the trial file's order, levels of
    the categorical covariates in sorted order."""
    arms = {str(k): a["id"].title() for k, a in enumerate(cfg["arms"], start=1)}
    out = {"arm": arms}
    for name in ("gender", "year"):
        out[name] = {str(k): v for k, v in enumerate(sorted(people[name].unique()), start=1)}
    reasons = sorted(r for r in people["disposition_reason"].unique() if r)
    out["disposition_reason"] = {str(k): v for k, v in enumerate(reasons, start=1)}
    return out


DICTIONARY_COLUMNS = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]
RECORD_LABELS = {
    "arm": "Randomized arm",
    "age": "Age (years)",
    "gender": "Gender",
    "year": "Year of study",
    "withdrew_consent": "Withdrew consent for data use",
    "sessions_attended": "Coaching sessions attended",
    "disposition_reason": "Reason for withdrawal or loss to follow-up",
}
VALIDATION = {"age": ("integer", "16", "80"), "sessions_attended": ("integer", "0", "20")}


def _field(name, form, kind, label, choices="", validation=("", "", "")) -> dict:
    row = dict.fromkeys(DICTIONARY_COLUMNS, "")
    row.update(zip(DICTIONARY_COLUMNS[:2], (name, form), strict=True))
    row.update({"Field Type": kind, "Field Label": label})
    row["Choices, Calculations, OR Slider Labels"] = choices
    row.update(zip(DICTIONARY_COLUMNS[7:10], validation, strict=True))
    return row


def redcap_dictionary(cfg: dict, registry: dict, choices: dict) -> pd.DataFrame:
    """The project's data dictionary, with REDCap's eighteen columns."""
    rows = [_field("record_id", "enrolment", "text", "Record ID")]
    for form, fields in RECORD_FORMS.items():
        for name, kind in fields:
            text = _choices(choices[name]) if name in choices else ""
            validation = VALIDATION.get(name, ("", "", ""))
            rows.append(_field(name, form, kind, RECORD_LABELS[name], text, validation))
    rows.append(
        _field("session_date", SESSION_LOG, "text", "Session date", "", ("date_ymd", "", ""))
    )
    for name in simulate.trial_instruments(cfg):
        inst = registry[name]
        for k, (_, field) in enumerate(export_columns(cfg, registry, name), start=1):
            label = f"{inst['label']}: item {k}"  # item text is licensed: never stored
            rows.append(_field(field, FORM_OF.get(name, name), "radio", label, _item_choices(inst)))
    return pd.DataFrame(rows, columns=DICTIONARY_COLUMNS)


def _coded(values: pd.Series, codes: dict) -> pd.Series:
    by_label = {label.lower(): code for code, label in codes.items()}
    return values.map(lambda v: by_label[str(v).lower()])


def _record_rows(people: pd.DataFrame, cfg: dict, choices: dict, event: str, rng) -> list[dict]:
    """The participant-record event's row of every record, and its session-log instances."""
    source_id, arm, site = "participant_id", "arm", "institution"
    coded = {name: _coded(people[name], choices[name]) for name in ("gender", "year")}
    # a reason not recorded is an empty field
    reason_codes = {label: code for code, label in choices["disposition_reason"].items()}
    arm_codes = {a["id"]: str(k) for k, a in enumerate(cfg["arms"], start=1)}
    rows = []
    for i, person in people.iterrows():
        sessions = person["sessions_attended"]
        row = {
            "record_id": person[source_id],
            "redcap_event_name": event,
            "redcap_data_access_group": person[site],
            "arm": arm_codes[person[arm]],
            "age": person["age"],
            "gender": coded["gender"][i],
            "year": coded["year"][i],
            "enrolment_complete": "2",
            "withdrew_consent": "1" if person["withdrew_consent"] == "yes" else "0",
            "sessions_attended": sessions,
            "disposition_reason": reason_codes.get(person["disposition_reason"], ""),
            "disposition_complete": "2",
        }
        rows.append(row)
        n = 0 if pd.isna(sessions) else int(sessions)
        dates = np.sort(rng.integers(0, 120, n)) if n else []
        for k, day in enumerate(dates, start=1):
            rows.append(
                {
                    "record_id": person[source_id],
                    "redcap_event_name": event,
                    "redcap_repeat_instrument": SESSION_LOG,
                    "redcap_repeat_instance": k,
                    "redcap_data_access_group": person[site],
                    "session_date": str(np.datetime64("2023-09-25") + int(day)),
                    f"{SESSION_LOG}_complete": "2",
                }
            )
    return rows


def _survey_rows(wave: pd.DataFrame, event: str, forms: dict, sites: dict) -> list[dict]:
    """One row per response: the answers under the project's field names; a form with any
    answer is Complete, an untouched one Incomplete (a response with every form empty was
    still submitted: all Complete)."""
    rows = []
    for _, answer in wave.iterrows():
        record = str(answer["participant_id"]).strip().upper()
        row = {"record_id": record, "redcap_event_name": event}
        row["redcap_data_access_group"] = sites[record]
        touched = {}
        for form, columns in forms.items():
            values = {field: answer[column] for column, field in columns}
            row.update(values)
            touched[form] = any(not pd.isna(v) for v in values.values())
        everything_empty = not any(touched.values())
        for form in forms:
            row[f"{form}_complete"] = "2" if touched[form] or everything_empty else "0"
        rows.append(row)
    return rows


def _started_rows(people, answered_last, event, forms, registry, sites, rng) -> list[dict]:
    """Month-4 MBI forms begun by participants who never submitted the survey: Incomplete."""
    eligible = people.loc[
        (people["withdrew_consent"] == "no") & ~people["participant_id"].isin(answered_last),
        "participant_id",
    ]
    chosen = np.sort(rng.choice(eligible.to_numpy(), STARTED_NOT_COMPLETED, replace=False))
    lo, hi = (int(v) for v in registry["mbi"]["item_range"])
    rows = []
    for record in chosen:
        row = {"record_id": record, "redcap_event_name": event}
        row["redcap_data_access_group"] = sites[record]
        begun = forms["mbi"][: int(rng.integers(3, 12))]
        row.update({field: int(rng.integers(lo, hi + 1)) for _, field in begun})
        row.update({f"{form}_complete": "0" for form in forms})
        rows.append(row)
    return rows


def redcap_project(result: dict, source_cfg: dict, cfg: dict, registry: dict, rng) -> dict:
    """{file name: frame}: the record export and the data dictionary of coaching_redcap."""
    _, people = result["participants"]
    events = [tp["file"]["event"] for tp in cfg["timepoints"]]
    record_event = cfg["data"]["participants"]["event"]
    forms = {
        FORM_OF.get(name, name): export_columns(cfg, registry, name)
        for name in simulate.trial_instruments(cfg)
    }
    choices = _record_choices(people, cfg)
    sites = dict(zip(people["participant_id"], people["institution"], strict=True))
    rows = _record_rows(people, cfg, choices, record_event, rng)
    waves = [result["files"][tp["file"]] for tp in source_cfg["timepoints"]]
    for wave, event in zip(waves, events, strict=True):
        rows += _survey_rows(wave, event, forms, sites)
    answered_last = set(waves[-1]["participant_id"].str.strip().str.upper())
    rows += _started_rows(people, answered_last, events[-1], forms, registry, sites, rng)
    order = {event: k for k, event in enumerate([record_event, *events])}
    columns = ["record_id", "redcap_event_name", "redcap_repeat_instrument"]
    columns += ["redcap_repeat_instance", "redcap_data_access_group"]
    for form, fields in RECORD_FORMS.items():
        columns += [name for name, _ in fields] + [f"{form}_complete"]
    columns += ["session_date", f"{SESSION_LOG}_complete"]
    for form, fields in forms.items():
        columns += [field for _, field in fields] + [f"{form}_complete"]
    export = pd.DataFrame(rows, columns=columns)
    key = pd.DataFrame(
        {
            "record": export["record_id"],
            "event": export["redcap_event_name"].map(order),
            "instance": pd.to_numeric(export["redcap_repeat_instance"]).fillna(0),
        }
    )
    export = export.loc[key.sort_values(["record", "event", "instance"], kind="stable").index]
    export = export.map(_text).reset_index(drop=True)
    return {
        cfg["timepoints"][0]["file"]["path"]: export,
        cfg["timepoints"][0]["file"]["dictionary"]: redcap_dictionary(cfg, registry, choices),
    }


# --- Qualtrics --------------------------------------------------------------------------------

DECLINED = "Prefer not to answer"
P_DECLINED = 0.3  # skipped answers exported as the survey's "prefer not to answer" choice
PREVIEWS = {0: 2, 1: 1}  # preview responses per wave (the survey tested before launch)
TESTS = {0: 1, 1: 0}  # "generate test responses" per wave


def _response_id(rng) -> str:
    alphabet = np.array(list(string.ascii_letters + string.digits))
    return "R_" + "".join(rng.choice(alphabet, 15))


def _qualtrics_rows(wave, id_column, mapping, labels, rng) -> list[dict]:
    rows = []
    for _, answer in wave.iterrows():
        end = pd.Timestamp(answer["submitted_at"])
        duration = int(rng.integers(240, 900))
        skipped = [c for c, _ in mapping if pd.isna(answer[c])]
        row = {
            "StartDate": str(end - pd.Timedelta(seconds=duration)),
            "EndDate": str(end),
            "Status": "IP Address",
            "Progress": "100" if len(skipped) < 5 else str(int(100 - 3 * len(skipped))),
            "Duration (in seconds)": str(duration),
            "Finished": "True" if len(skipped) < 5 else "False",
            "RecordedDate": str(end + pd.Timedelta(seconds=1)),
            "ResponseId": _response_id(rng),
            "DistributionChannel": "email",
            "UserLanguage": "EN",
        }
        for column, field in mapping:
            value = answer[column]
            if pd.isna(value):
                row[field] = DECLINED if rng.random() < P_DECLINED else ""
            else:
                row[field] = labels[str(int(value))]
        row[id_column] = answer["student_id"]
        rows.append(row)
    return rows


def _trial_rows(kind: str, n: int, mapping, labels, first: pd.Timestamp, rng) -> list[dict]:
    """Preview or test responses: before the launch, no real participant."""
    rows = []
    for k in range(n):
        start = first - pd.Timedelta(days=2, hours=k)
        row = {
            "StartDate": str(start),
            "EndDate": str(start + pd.Timedelta(minutes=3)),
            "Status": {"preview": "Survey Preview", "test": "Survey Test"}[kind],
            "Progress": "100",
            "Duration (in seconds)": "180",
            "Finished": "True",
            "RecordedDate": str(start + pd.Timedelta(minutes=3, seconds=1)),
            "ResponseId": _response_id(rng),
            "DistributionChannel": kind,
            "UserLanguage": "EN",
        }
        codes = list(labels)
        row.update({field: labels[codes[int(rng.integers(len(codes)))]] for _, field in mapping})
        row["StudentID"] = "" if kind == "preview" else "TEST-0001"
        rows.append(row)
    return rows


def qualtrics_waves(result: dict, source_cfg: dict, cfg: dict, registry: dict, rng) -> dict:
    """{file name: frame}: the roster (as in the source) and one choice-text export per wave."""
    part_file, people = result["participants"]
    mapping = export_columns(cfg, registry, "mbi")
    labels = {k: v for k, v in registry["mbi"]["levels"].items()}
    labels = {str(k): v for k, v in labels.items()}
    files = {cfg["data"]["participants"]: people}
    for w, (src, tp) in enumerate(zip(source_cfg["timepoints"], cfg["timepoints"], strict=True)):
        wave = result["files"][src["file"]]
        file = tp["file"]
        id_column = file["id_column"]
        rows = _qualtrics_rows(wave, id_column, mapping, labels, rng)
        first = pd.Timestamp(wave["submitted_at"].min())
        rows += _trial_rows("preview", PREVIEWS[w], mapping, labels, first, rng)
        rows += _trial_rows("test", TESTS[w], mapping, labels, first, rng)
        frame = pd.DataFrame(rows).sort_values("RecordedDate", kind="stable")
        files[file["path"]] = _with_header_rows(frame, registry["mbi"]["label"])
    return files


def _with_header_rows(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Qualtrics' rows 2 and 3: question text and ImportIds."""
    questions, imports = {}, {}
    for column in frame.columns:
        if column.startswith("Q1_"):
            questions[column] = f"{label} - item {column[3:]}"  # no item text (licensed)
            imports[column] = json.dumps({"ImportId": f"QID1_{column[3:]}"})
        else:
            questions[column] = column
            imports[column] = json.dumps({"ImportId": column[0].lower() + column[1:]})
    return pd.concat([pd.DataFrame([questions, imports]), frame], ignore_index=True)


# --- the trials -------------------------------------------------------------------------------

CONVERT = {"coaching_redcap": redcap_project, "mentorship_qualtrics": qualtrics_waves}


def simulate_exported(trial: str, config_dir: Path) -> tuple[dict, dict]:
    """(result, cfg) of an exported trial: the source trial's simulation, converted."""
    source = EXPORTED[trial]
    result, source_cfg = simulate.simulate_trial(source, config_dir)
    cfg, registry = simulate.load_config(config_dir, trial)
    rng = np.random.default_rng(SEEDS[trial])
    files = CONVERT[trial](result, source_cfg, cfg, registry, rng)
    return {"files": files, "effects": result["effects"], "source": source}, cfg


def _readme(trial: str, cfg: dict, files: dict) -> str:
    source = EXPORTED[trial]
    lines = [f"# {trial}: SYNTHETIC data", "", f"{cfg['title']}.", ""]
    lines += [
        "Every file in this folder is simulated: these are not study data and describe no",
        "real person. The participants and answers are those of the simulated",
        f"`{source}` (same seed); here they are written as the survey tool exports them, so",
        f"the pipeline reads them to {source}'s tables and gives the same effects.",
        "",
    ]
    if trial == "coaching_redcap":
        export = files[cfg["timepoints"][0]["file"]["path"]]
        events = export["redcap_event_name"].value_counts()
        repeating = int((export["redcap_repeat_instrument"] != "").sum())
        lines += [
            f'- `{cfg["timepoints"][0]["file"]["path"]}`: a REDCap "CSV raw" record export,',
            f"  {len(export)} rows (record x event):",
            *(f"  {event}: {events[event]} rows" for event in events.index),
            f"  ({repeating} of them repeating session-log instances, not survey waves).",
            "- Sites are data access groups; arm, gender, year and the disposition reason are",
            "  coded fields (the dictionary's choices label them); CIPS items are named",
            "  cips01 ... cips20.",
            f"- {STARTED_NOT_COMPLETED} month-4 MBI forms were begun by participants who never",
            "  submitted the survey (status Incomplete): not scored, counted in consort.json.",
            f"- `{cfg['timepoints'][0]['file']['dictionary']}`: the project's data dictionary.",
        ]
    else:
        lines += [f"- `{cfg['data']['participants']}`: the roster, as in {source}."]
        for w, tp in enumerate(cfg["timepoints"]):
            frame = files[tp["file"]["path"]].iloc[2:]
            lines.append(
                f"- `{tp['file']['path']}`: Qualtrics choice-text export, {len(frame)} "
                f"responses,\n  of which {PREVIEWS[w]} preview and {TESTS[w]} test (left out "
                f'and counted);\n  "{DECLINED}" for some skipped items.'
            )
    lines += ["- `truth.yaml`: the true effects, those of " + source + ".", ""]
    lines += [
        f"Made by `workflow/trialeval/simulate_exports.py` from {source} (seed "
        f"{simulate.SEEDS[source]}),",
        f"conversion seed {SEEDS[trial]}. Regenerate byte for byte from the repository root:",
        "",
        f"    {simulate.REGENERATE.format(trial=trial)}",
        "",
    ]
    return "\n".join(lines)


def write_exported(trial: str, result: dict, cfg: dict, out_dir: Path) -> list[Path]:
    """Write the exports, truth.yaml (the source trial's) and README.md into out_dir/trial/."""
    folder = out_dir / trial
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in result["files"].items():
        simulate.write_table(frame, folder / name)
        written.append(folder / name)
    source = result["source"]
    how = f"The true effects of {source}, whose simulated data these exports hold.\n"
    header = simulate.TRUTH_HEADER.format(how=how + simulate.TRUTH_HOW[source])
    simulate.write_truth(folder / "truth.yaml", trial, header, result["effects"], seed_of=source)
    (folder / "README.md").write_text(_readme(trial, cfg, result["files"]), newline="\n")
    return written + [folder / "truth.yaml", folder / "README.md"]
