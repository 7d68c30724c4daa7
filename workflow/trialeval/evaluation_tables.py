"""The tables of the programme-evaluation surveys and coded themes, each written in the four
formats of the manuscript tables (trialeval.tables.write_table): per respondent group its
items (n/N agreeing, Wilson 95% CI, the distribution of answers), the response rates, and the
themes of the free-text answers per question and group. Only counts and labels from the
trial file: no free text."""

from __future__ import annotations

import pandas as pd

from trialeval.formatting import DASH
from trialeval.tables import INDENT, format_count_percent, format_number, typographic


def _confidence(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


def _wilson(alpha: float) -> str:
    return f"{_confidence(alpha)} CI: Wilson score interval without continuity correction."


def _percent_ci(low, high) -> str:
    if pd.isna(low):
        return DASH
    return f"{format_number(100 * low, 1)} to {format_number(100 * high, 1)}"


def _agreeing(row) -> str:
    if not row["answered"]:
        return DASH
    return f"{row['agreeing']}/{row['answered']} ({format_number(100 * row['proportion'], 1)})"


def _agree_words(inst: dict) -> str:
    return " or ".join(inst["levels"][code] for code in inst["agree"])


def item_table(group: dict, instruments: dict, items, answers, rate: dict, number: int, alpha=0.05):
    """(full, formatted, title, footnote) of one group's evaluation items."""
    ci = f"{_confidence(alpha)} CI, %"
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
            lines.append(
                {
                    "Item": INDENT + typographic(row["statement"]),
                    "N answered": str(row["answered"]),
                    "Agreeing, n/N (%)": _agreeing(row),
                    ci: _percent_ci(row["ci_low"], row["ci_high"]),
                    "Answers, n": " / ".join(str(n) for n in mine["n"]),
                }
            )
    agree = "; ".join(
        f"{_agree_words(instruments[i])} ({instruments[i]['label']})" for i in group["instruments"]
    )
    footnote = "\n".join(
        [
            f"{group['label']}: {rate['invited']} invited, {rate['responded']} responded "
            f"({format_number(100 * rate['proportion'], 1)}%). N answered: respondents who "
            f"answered the item. Agreeing: {agree}.",
            "Answers, n: the count of each answer, in the order of the scale above.",
            _wilson(alpha),
        ]
    )
    title = f"Table {number}. Programme evaluation, {group['label']} (n = {rate['responded']})"
    return items, pd.DataFrame(lines), title, footnote


def response_rate_table(rates: list[dict], number: int, alpha: float = 0.05):
    ci = f"{_confidence(alpha)} CI, %"
    full = pd.DataFrame(rates)
    formatted = pd.DataFrame(
        {
            "Respondent group": [r["group_label"] for r in rates],
            "Invited, n": [str(r["invited"]) for r in rates],
            "Responded, n (%)": [format_count_percent(r["responded"], r["invited"]) for r in rates],
            ci: [_percent_ci(r["ci_low"], r["ci_high"]) for r in rates],
        }
    )
    footnote = (
        "Invited: the group's roster. Responded: answered at least one evaluation item or "
        "free-text question. " + _wilson(alpha)
    )
    return (
        full,
        formatted,
        f"Table {number}. Response to the programme-evaluation surveys",
        footnote,
    )


def themes_table(counts: pd.DataFrame, free: dict, groups: list[dict], number: int):
    """(full, formatted, title, footnote) of the coded themes: per question the answers and
    coded answers per group, then each theme's n (%) of the coded answers."""
    labels = {g["id"]: g["label"] for g in groups}
    shown = [g["id"] for g in groups if (counts["group"] == g["id"]).any()]
    lines = []
    for q in free["questions"]:
        mine = counts[counts["question"] == q["id"]]
        lines.append({"Question and theme": q["label"], **dict.fromkeys(shown, "")})
        first = mine.drop_duplicates("group").set_index("group")
        for what, column in (("Answered, N", "answered"), ("Coded, N", "coded")):
            cells = {g: str(first.at[g, column]) if g in first.index else DASH for g in shown}
            lines.append({"Question and theme": INDENT + what, **cells})
        for theme in free["codebook"]:
            rows = mine[mine["theme"] == theme["code"]].set_index("group")
            cells = {
                g: format_count_percent(rows.at[g, "n"], rows.at[g, "coded"])
                if g in rows.index
                else DASH
                for g in shown
            }
            lines.append({"Question and theme": INDENT + theme["label"] + ", n (%)", **cells})
    formatted = pd.DataFrame(lines).rename(columns=labels)
    footnote = (
        "Themes coded by people from the free-text answers (codebook in the trial file); an "
        "answer may mention several. n: respondents whose answer mentions the theme; %: of the "
        f"coded answers. {DASH}: the group was not asked the question."
    )
    title = f"Table {number}. Themes of the free-text answers"
    return counts, formatted, title, footnote
