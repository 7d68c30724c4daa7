"""The tables of the programme-evaluation surveys and coded themes, each written in the four
formats of the manuscript tables (trialeval.tables.write_table): per respondent group its
items (n/N agreeing, Wilson 95% CI, the distribution of answers), the response rates, and the
themes of the free-text answers per question and group. Only counts and labels from the
trial file: no free text."""

from __future__ import annotations

import pandas as pd

from trialeval import disclosure
from trialeval.disclosure import evaluation_key
from trialeval.formatting import DASH
from trialeval.labels import confidence_words
from trialeval.tables import (
    INDENT,
    _lower_first,
    format_count_percent,
    format_number,
    typographic,
)


def _wilson(alpha: float) -> str:
    return f"{confidence_words(alpha)} CI: Wilson score interval without continuity correction."


def _percent_ci(low, high) -> str:
    if pd.isna(low):
        return DASH
    return f"{format_number(100 * low, 1)} to {format_number(100 * high, 1)}"


def _agreeing(row, plan) -> str:
    """n/N (%) agreeing; "<5/12" without the percentage when a count is withheld."""
    if not row["answered"]:
        return DASH
    agree, answered = _item_marks(row, plan)
    if agree or answered:
        return f"{agree or row['agreeing']}/{answered or row['answered']}"
    return f"{row['agreeing']}/{row['answered']} ({format_number(100 * row['proportion'], 1)})"


def _item_where(row) -> tuple:
    return ("item", row["group"], row["instrument"], row["item"])


def _item_marks(row, plan) -> tuple[str | None, str | None]:
    """(agreeing marker, answered marker) of one item; None where it prints."""
    where = _item_where(row)
    return (
        plan.marker(evaluation_key(*where, "agreeing"), row["agreeing"]),
        plan.marker(evaluation_key(*where, "answered"), row["answered"]),
    )


def level_count(plan, answer) -> str:
    """One answer's count as printed (its marker when withheld)."""
    where = ("item", answer["group"], answer["instrument"], answer["item"])
    return plan.count(evaluation_key(*where, f"level={answer['code']}"), answer["n"])


def masked_answers(answers: pd.DataFrame, plan) -> pd.DataFrame:
    """evaluation_answers.csv as shared: withheld counts emptied, markers in `disclosure`."""
    if not plan.on:
        return answers
    out = answers.copy()
    marks = [level_count(plan, a) for a in answers.to_dict("records")]
    out["disclosure"] = [m if not m.isdigit() else "" for m in marks]
    out["n"] = out["n"].astype(float).where(out["disclosure"] == "")
    return out


def _masked_items(items: pd.DataFrame, plan) -> pd.DataFrame:
    """The items table's `full` as shared: a withheld answered or agreeing count emptied with
    the proportion and CI (they give it back), and the not-answered count when withheld."""
    if not plan.on or items.empty:
        return items
    out = items.copy().astype({c: float for c in ("answered", "agreeing", "not_answered")})
    out["disclosure"] = ""
    for i, row in items.iterrows():
        agree, answered = _item_marks(row, plan)
        missing = plan.marker(
            evaluation_key(*_item_where(row), "not_answered"), row["not_answered"]
        )
        for column, mark in (
            ("agreeing", agree),
            ("answered", answered),
            ("not_answered", missing),
        ):
            if mark:
                out.at[i, column] = float("nan")
        if agree or answered:
            out.loc[i, ["proportion", "ci_low", "ci_high"]] = float("nan")
        out.at[i, "disclosure"] = agree or answered or (missing and disclosure.WITHHELD) or ""
    return out


def _or(words: list[str]) -> str:
    """ "4", "4 or 5", "3, 4 or 5"."""
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def _end(code: str, levels: dict) -> str:
    """One end of a scale as a note prints it: "1 (strongly disagree)", or the code alone
    when the scale does not label it."""
    label = levels.get(code)
    return f"{code} ({_lower_first(label)})" if label else code


def scale_words(inst: dict) -> str:
    """What counts as agreeing, on which scale, in words a manuscript can carry: "4 or 5 on a
    1 (strongly disagree) to 5 (strongly agree) scale". The ends are the item range's (the
    instrument's levels' first and last codes where it has none)."""
    levels = inst["levels"]
    codes = [f"{v:g}" for v in inst["range"]] if "range" in inst else list(levels)
    lo, hi = _end(codes[0], levels), _end(codes[-1], levels)
    return f"{_or(list(inst['agree']))} on a {lo} to {hi} scale"


def agree_note(group: dict, instruments: dict) -> str:
    """The note's "Agreeing: ..." sentence: the scale and its agreeing answers, per instrument
    (named by its label) when the group was asked several."""
    ids = group["instruments"]
    if len(ids) == 1:
        return f"Agreeing: {scale_words(instruments[ids[0]])}."
    parts = [f"{scale_words(instruments[i])} ({instruments[i]['label']})" for i in ids]
    return f"Agreeing: {'; '.join(parts)}."


def item_table(
    group: dict,
    instruments: dict,
    items,
    answers,
    rate: dict,
    number: int,
    alpha=0.05,
    plan=disclosure.OFF,
):
    """(full, formatted, title, footnote) of one group's evaluation items, counts through
    disclosure control's `plan`."""
    ci = f"{confidence_words(alpha)} CI, %"
    lines = []
    for inst_id in group["instruments"]:
        inst = instruments[inst_id]
        scale = " / ".join(inst["levels"].values())
        lines.append(
            {
                "Item": typographic(inst["label"]),
                "N answered": "",
                "Agreeing, n/N (%)": "",
                ci: "",
                "Answers, n": scale,
            }
        )
        for _, row in items[items["instrument"] == inst_id].iterrows():
            mine = answers[(answers["instrument"] == inst_id) & (answers["item"] == row["item"])]
            shown = not any(_item_marks(row, plan))
            lines.append(
                {
                    "Item": INDENT + typographic(row["statement"]),
                    "N answered": _item_marks(row, plan)[1] or str(row["answered"]),
                    "Agreeing, n/N (%)": _agreeing(row, plan),
                    ci: _percent_ci(row["ci_low"], row["ci_high"]) if shown else DASH,
                    "Answers, n": " / ".join(level_count(plan, a) for a in mine.to_dict("records")),
                }
            )
    invited, responded = _rate_marks(rate, plan)
    share = "" if invited or responded else f" ({format_number(100 * rate['proportion'], 1)}%)"
    lines_of_note = [
        f"{group['label']}: {invited or rate['invited']} invited, "
        f"{responded or rate['responded']} responded{share}. N answered: respondents who "
        f"answered the item. {agree_note(group, instruments)}",
        "Answers, n: the count of each answer, in the order of the scale above.",
        _wilson(alpha),
    ]
    formatted = pd.DataFrame(lines)
    if plan.on and _shows_marker(formatted, plan, invited or responded):
        lines_of_note.append(plan.note())
    count = disclosure.n_text(responded, rate["responded"])  # "n = 12", "n < 5"
    title = f"Table {number}. Programme evaluation, {group['label']} ({count})"
    return _masked_items(items, plan), formatted, title, "\n".join(lines_of_note)


def _rate_marks(rate: dict, plan) -> tuple[str | None, str | None]:
    """(invited marker, responded marker) of one group; None where it prints."""
    return (
        plan.marker(evaluation_key("rate", rate["group"], "invited"), rate["invited"]),
        plan.marker(evaluation_key("rate", rate["group"], "responded"), rate["responded"]),
    )


def _shows_marker(formatted: pd.DataFrame, plan, also=None) -> bool:
    marks = (f"<{plan.min_cell}", f"\u2265{plan.min_cell}")
    cells = [str(v) for v in formatted.to_numpy().ravel()]
    return bool(also) or any(m in c for c in cells for m in marks)


def response_rate_table(rates: list[dict], number: int, alpha=0.05, plan=disclosure.OFF):
    """(full, formatted, title, footnote): invited, responded (%) and its CI per group; a
    withheld count prints as its marker, without the percentage and CI."""
    ci = f"{confidence_words(alpha)} CI, %"
    marks = [_rate_marks(r, plan) for r in rates]
    formatted = pd.DataFrame(
        {
            "Respondent group": [r["group_label"] for r in rates],
            "Invited, n": [m[0] or str(r["invited"]) for r, m in zip(rates, marks, strict=True)],
            "Responded, n (%)": [
                m[1] or str(r["responded"])
                if any(m)
                else format_count_percent(r["responded"], r["invited"])
                for r, m in zip(rates, marks, strict=True)
            ],
            ci: [
                DASH if any(m) else _percent_ci(r["ci_low"], r["ci_high"])
                for r, m in zip(rates, marks, strict=True)
            ],
        }
    )
    footnote = (
        "Invited: the group's roster. Responded: answered at least one evaluation item or "
        "free-text question. " + _wilson(alpha)
    )
    full = pd.DataFrame(rates)
    if plan.on and any(any(m) for m in marks):
        footnote += "\n" + plan.note()
        full = full.astype({"invited": float, "responded": float})
        full["disclosure"] = [m[1] or m[0] or "" for m in marks]
        for i, (invited, responded) in enumerate(marks):
            columns = ["invited"] * bool(invited) + ["responded"] * bool(responded)
            if invited or responded:
                full.loc[i, [*columns, "proportion", "ci_low", "ci_high"]] = float("nan")
    return (
        full,
        formatted,
        f"Table {number}. Response to the programme-evaluation surveys",
        footnote,
    )


def themes_table(counts: pd.DataFrame, free: dict, groups: list[dict], number: int, plan=None):
    """(full, formatted, title, footnote) of the coded themes: per question the answers and
    coded answers per group, then each theme's n (%) of the coded answers; counts through
    disclosure control's `plan` (a withheld count as its marker, without its percentage)."""
    plan = disclosure.OFF if plan is None else plan
    labels = {g["id"]: g["label"] for g in groups}
    shown = [g["id"] for g in groups if (counts["group"] == g["id"]).any()]
    lines = []
    for q in free["questions"]:
        mine = counts[counts["question"] == q["id"]]
        lines.append({"Question and theme": q["label"], **dict.fromkeys(shown, "")})
        first = mine.drop_duplicates("group").set_index("group")
        for what, column in (("Answered, N", "answered"), ("Coded, N", "coded")):
            cells = {
                g: _theme_count(plan, first.loc[g], column) if g in first.index else DASH
                for g in shown
            }
            lines.append({"Question and theme": INDENT + what, **cells})
        for theme in free["codebook"]:
            rows = mine[mine["theme"] == theme["code"]].set_index("group")
            cells = {g: _theme_cell(plan, rows.loc[g]) if g in rows.index else DASH for g in shown}
            lines.append({"Question and theme": INDENT + theme["label"] + ", n (%)", **cells})
    formatted = pd.DataFrame(lines).rename(columns=labels)
    footnote = (
        "Themes coded by people from the free-text answers (codebook in the trial file); an "
        "answer may mention several. n: respondents whose answer mentions the theme; %: of the "
        f"coded answers. {DASH}: the group was not asked the question."
    )
    full = _masked_themes(counts, plan)
    if plan.on and "disclosure" in full and (full["disclosure"] != "").any():
        footnote += "\n" + plan.note()
    title = f"Table {number}. Themes of the free-text answers"
    return full, formatted, title, footnote


def _theme_marks(plan, row) -> dict[str, str | None]:
    """{column: marker or None} of one question x group x theme row's counts."""
    where = ("theme", row["question"], row["group"])
    return {
        "answered": plan.marker(evaluation_key(*where, "answered"), row["answered"]),
        "coded": plan.marker(evaluation_key(*where, "coded"), row["coded"]),
        "n": plan.marker(evaluation_key(*where, f"theme={row['theme']}"), row["n"]),
    }


def _theme_count(plan, row, column: str) -> str:
    return _theme_marks(plan, {**row, "group": row.name})[column] or str(int(row[column]))


def _theme_cell(plan, row) -> str:
    """A theme's n (%) of the coded answers; its marker, or n alone, when either is withheld."""
    marks = _theme_marks(plan, {**row, "group": row.name})
    if marks["n"] or marks["coded"]:
        return marks["n"] or str(int(row["n"]))
    return format_count_percent(row["n"], row["coded"])


def _masked_themes(counts: pd.DataFrame, plan) -> pd.DataFrame:
    """The themes' `full` as shared: withheld counts and their proportions emptied."""
    if not plan.on or counts.empty:
        return counts
    out = counts.copy().astype({c: float for c in ("n", "coded", "answered")})
    out["disclosure"] = ""
    for i, row in counts.iterrows():
        marks = _theme_marks(plan, row)
        for column, mark in marks.items():
            if mark:
                out.at[i, column] = float("nan")
        if marks["n"] or marks["coded"]:
            out.at[i, "proportion"] = float("nan")
        out.at[i, "disclosure"] = marks["n"] or marks["coded"] or marks["answered"] or ""
    return out
