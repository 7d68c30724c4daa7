"""Programme-evaluation surveys: who was invited and who responded, per respondent group, and
each evaluation item summarised on its own: n/N agreeing (N: respondents who answered the
item) with a Wilson 95% CI (trialeval.proportions, as R's prop.test(correct = FALSE)), and the
full distribution of answers.

A respondent group is a roster (who was invited) and a response file (one row per
respondent); "responded" is a roster id with at least one answer (an evaluation item or a
free-text question). Answers may be codes or the levels' labels (matched ignoring case and
spaces, as the instruments' answers are); any other answer, an id not on the roster or an id
twice stops the run with one message naming file, row, column and value (a spreadsheet row,
header included).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialeval.config import normalise_label
from trialeval.errors import Problems, TrialInputError
from trialeval.proportions import wilson_interval

HEADER_ROW = 1  # rows are numbered as a spreadsheet shows them: header row 1, data from 2
FIRST_ROW = HEADER_ROW + 1  # the spreadsheet row of a frame's index 0


def read_sheet(path: str | Path) -> pd.DataFrame:
    """A CSV or .xlsx as text, blanks as empty strings, headers stripped."""
    path = Path(path)
    if not path.is_file():
        raise TrialInputError(f"{path}: file not found")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.map(lambda v: str(v).strip())


def _require(frame: pd.DataFrame, columns: list[str], path, what: str) -> None:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise TrialInputError(
            f"{path}: no column {absent[0]!r} ({what}); the header (row {HEADER_ROW}) holds "
            f"{', '.join(map(repr, frame.columns)) or 'nothing'}"
        )


def _ids(frame: pd.DataFrame, column: str, path) -> pd.Series:
    ids = frame[column]
    problems = Problems()
    for row, value in ids.items():
        if not value:
            problems.add(f"{path}: row {row + FIRST_ROW}, column {column!r}: empty; expected an id")
    for row, value in ids[ids.duplicated() & (ids != "")].items():
        first = int(ids.index[ids == value][0]) + FIRST_ROW
        problems.add(
            f"{path}: row {row + FIRST_ROW}, column {column!r}: {value!r} is also on row {first}; "
            f"one row per person"
        )
    problems.raise_if_any()
    return ids


def read_roster(group: dict) -> list[str]:
    """The ids of everyone invited, in roster order."""
    frame = read_sheet(group["roster"])
    _require(frame, [group["id_column"]], group["roster"], "respondent ids: `id_column`")
    return list(_ids(frame, group["id_column"], group["roster"]))


def read_responses(group: dict, columns: list[str], roster: list[str]) -> pd.DataFrame:
    """The response file's answer `columns`, indexed by respondent id, rows in file order, and
    its spreadsheet row numbers in column `_row`."""
    path, id_column = group["file"], group["id_column"]
    frame = read_sheet(path)
    _require(frame, [id_column, *columns], path, "respondent id or an item of the group")
    ids = _ids(frame, id_column, path)
    invited = set(roster)
    strangers = [(row, v) for row, v in ids.items() if v not in invited]
    if strangers:
        row, value = strangers[0]
        more = f" (and {len(strangers) - 1} more)" if len(strangers) > 1 else ""
        raise TrialInputError(
            f"{path}: row {row + FIRST_ROW}, column {id_column!r}: {value!r}{more} is not on "
            f"the roster {group['roster']}; expected the id of someone invited"
        )
    out = frame[columns].copy()
    out["_row"] = frame.index + FIRST_ROW
    out.index = pd.Index(ids, name="respondent")
    return out


def answer_codes(values: pd.Series, rows: pd.Series, inst: dict, missing: list, where) -> pd.Series:
    """An item's answers as level codes (text), None where not answered; an answer that is
    neither a code nor a label of the instrument's levels is a problem naming its row."""
    levels = inst["levels"]
    by_label = {normalise_label(label): code for code, label in levels.items()}
    missing_text = {normalise_label(m) for m in [*missing, *inst["missing_codes"]]}
    problems = Problems()
    codes = []
    for value, row in zip(values, rows, strict=True):
        code = _as_code(value, levels, by_label, missing_text)
        if code is False:
            problems.add(
                f"{where}: row {row}, column {values.name!r}: {value!r} is not an answer of "
                f"{inst['id']}; expected a code or label of {_scale(levels)}"
            )
            code = None
        codes.append(code)
    problems.raise_if_any()
    return pd.Series(codes, index=values.index, name=values.name, dtype=object)


def _as_code(value: str, levels: dict, by_label: dict, missing_text: set):
    """The level code of one answer, None for no answer, False for an unknown answer."""
    if value == "" or normalise_label(value) in missing_text:
        return None
    try:
        code = f"{float(value):g}"
    except ValueError:
        return by_label.get(normalise_label(value), False)
    return code if code in levels else False


def _scale(levels: dict) -> str:
    return ", ".join(f"{code} {label}" for code, label in levels.items())


def item_summary(codes: pd.Series, inst: dict, alpha: float = 0.05) -> dict:
    """One item: N answered, n agreeing, their proportion with its Wilson CI, and the count
    of every level (in scale order) under `levels`."""
    answered = codes.dropna()
    n = len(answered)
    agree = int(answered.isin(inst["agree"]).sum())
    low, high = wilson_interval(agree, n, alpha)
    counts = {code: int((answered == code).sum()) for code in inst["levels"]}
    return {
        "answered": n,
        "not_answered": len(codes) - n,
        "agreeing": agree,
        "proportion": agree / n if n else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "levels": counts,
    }


def group_answers(group: dict, instruments: dict, free_columns: list[str]):
    """(roster, responses, {instrument: {item id: codes}}) of one respondent group."""
    roster = read_roster(group)
    items = [i["column"] for inst_id in group["instruments"] for i in instruments[inst_id]["items"]]
    frame = read_responses(group, list(dict.fromkeys(items + free_columns)), roster)
    problems = Problems()
    coded: dict[str, dict[str, pd.Series]] = {}
    for inst_id in group["instruments"]:
        inst = instruments[inst_id]
        coded[inst_id] = {}
        for item in inst["items"]:
            try:
                coded[inst_id][item["id"]] = answer_codes(
                    frame[item["column"]],
                    frame["_row"],
                    inst,
                    group["missing_codes"],
                    group["file"],
                )
            except TrialInputError as error:
                problems.absorb(error)
    problems.raise_if_any()
    return roster, frame, coded


def responded(frame: pd.DataFrame, coded: dict, free_columns: list[str]) -> pd.Series:
    """Per respondent of the response file: answered at least one item or free-text question."""
    answered = pd.Series(False, index=frame.index)
    for items in coded.values():
        for codes in items.values():
            answered |= codes.notna()
    for column in free_columns:
        answered |= frame[column] != ""
    return answered


def response_rate(group: dict, roster: list[str], answered: pd.Series, alpha=0.05) -> dict:
    """Invited, responded and their proportion (with its Wilson CI) for one group."""
    invited, n = len(roster), int(answered.sum())
    low, high = wilson_interval(n, invited, alpha)
    return {
        "group": group["id"],
        "group_label": group["label"],
        "invited": invited,
        "responded": n,
        "proportion": n / invited if invited else float("nan"),
        "ci_low": low,
        "ci_high": high,
    }


def summarise_group(group: dict, instruments: dict, coded: dict, respondents, alpha: float):
    """(items, answers) of one group, respondents only (a non-respondent answered nothing):
    one row per item, and one row per item x level with its count (scale order)."""
    items, answers = [], []
    for inst_id in group["instruments"]:
        inst = instruments[inst_id]
        for item in inst["items"]:
            summary = item_summary(coded[inst_id][item["id"]][respondents], inst, alpha)
            key = {"group": group["id"], "instrument": inst_id, "item": item["id"]}
            for code, n in summary.pop("levels").items():
                level = {
                    "code": code,
                    "label": inst["levels"][code],
                    "agree": code in inst["agree"],
                }
                answers.append({**key, **level, "n": n})
            items.append({**key, "statement": item["label"], **summary})
    return pd.DataFrame(items), pd.DataFrame(answers)


def _free_columns(spec: dict, group: dict) -> list[str]:
    """The response-file columns of the free-text questions a group was asked."""
    questions = (spec["free_text"] or {}).get("questions", [])
    return [q["column"] for q in questions if q["id"] in group["questions"]]


def _write_group(group, instruments, summary, rate, number, results: Path, alpha, plan) -> None:
    """A group's items table (four formats) and its diverging bar chart, their counts through
    disclosure control's `plan`."""
    from trialeval import evaluation_figures, evaluation_tables
    from trialeval.tables import write_table

    items, answers = summary
    stem = f"evaluation_{group['id']}"
    full, formatted, title, footnote = evaluation_tables.item_table(
        group, instruments, items, answers, rate, number, alpha, plan
    )
    write_table(full, formatted, results / "tables" / stem, title=title, footnote=footnote)
    evaluation_figures.run(group, instruments, items, answers, results / "figures" / stem, plan)


def run(settings: dict, *, results: str | Path) -> None:
    """Rule entry (rule evaluation_<trial>): per respondent group its items table and figure;
    the response rates; every item's distribution (tables/evaluation_answers.csv); with
    free-text questions the coding sheet and the private key file, and with a coded sheet the
    themes table. Tables are numbered as the report shows them, from `first_table`: response
    rates, each group's items, themes. With disclosure control on, the counts of all of them
    are planned together (trialeval.disclosure.evaluation_plan) before any is written."""
    from trialeval import disclosure, evaluation_tables
    from trialeval.io import write_csv
    from trialeval.tables import write_table

    spec, alpha, first = settings["trial"], settings["alpha"], settings["first_table"]
    results, instruments = Path(results), spec["evaluation_instruments"]
    frames, rates, summaries = {}, [], []
    for group in spec["respondent_groups"]:
        columns = _free_columns(spec, group)
        roster, frame, coded = group_answers(group, instruments, columns)
        answered = responded(frame, coded, columns)
        rates.append(response_rate(group, roster, answered, alpha))
        summaries.append(
            summarise_group(group, instruments, coded, answered[answered].index, alpha)
        )
        frames[group["id"]] = frame[answered]
    themes = _free_text(spec, frames, results) if spec["free_text"] else None
    plan = disclosure.evaluation_plan(spec, rates, summaries, themes)
    for k, (group, summary) in enumerate(zip(spec["respondent_groups"], summaries, strict=True)):
        _write_group(group, instruments, summary, rates[k], first + 1 + k, results, alpha, plan)
    distributions = pd.concat([s[1] for s in summaries], ignore_index=True)
    answers_csv = results / "tables" / "evaluation_answers.csv"
    write_csv(evaluation_tables.masked_answers(distributions, plan), answers_csv)
    full, formatted, title, footnote = evaluation_tables.response_rate_table(
        rates, first, alpha, plan
    )
    write_table(
        full, formatted, results / "tables" / "response_rates", title=title, footnote=footnote
    )
    if themes is not None:
        number = first + 1 + len(rates)
        table = evaluation_tables.themes_table(
            themes, spec["free_text"], spec["respondent_groups"], number, plan
        )
        write_table(*table[:2], results / "tables" / "themes", title=table[2], footnote=table[3])


def _free_text(spec: dict, frames: dict, results: Path):
    """The key file and the coding sheet written; the coded themes' counts (None without a
    coded sheet)."""
    from trialeval import free_text

    free, groups = spec["free_text"], spec["respondent_groups"]
    key_file = results / "interim" / free_text.KEY_FILE
    key = free_text.load_key(key_file, free["key_seed"])
    answers = free_text.collect_answers(key, groups, frames, free["questions"])
    free_text.write_key(key_file, key, answers)
    free_text.write_coding_sheet(answers, results / "coding" / "coding_sheet")
    if not free["coded_sheet"]:
        return None
    coded = free_text.read_coded(
        free["coded_sheet"], answers, free["codebook"], spec["config_file"]
    )
    return free_text.theme_counts(answers, coded, free, groups)


def check_inputs(spec: dict, key_file: str | Path) -> None:
    """Read every respondent group's roster and answers and the coded sheet as rule
    evaluation_<trial> will (run when the DAG is built, so bad input stops the run before any
    job); raises TrialInputError listing the problems. The coded sheet is checked once its
    response ids exist: with `key_seed`, or after the first run wrote the key file."""
    from trialeval import free_text

    free, problems, frames = spec["free_text"], Problems(), {}
    for group in spec["respondent_groups"]:
        columns = _free_columns(spec, group)
        try:
            _, frame, coded = group_answers(group, spec["evaluation_instruments"], columns)
            frames[group["id"]] = frame[responded(frame, coded, columns)]
        except TrialInputError as error:
            problems.absorb(error)
    problems.raise_if_any()
    if not free or not free["coded_sheet"]:
        return
    if free["key_seed"] is None and not Path(key_file).is_file():
        return
    key = free_text.load_key(key_file, free["key_seed"])
    answers = free_text.collect_answers(key, spec["respondent_groups"], frames, free["questions"])
    free_text.read_coded(free["coded_sheet"], answers, free["codebook"], spec["config_file"])
