"""The report's programme-evaluation section of a trial with respondent groups: the response
rates, each group's items table and diverging bar chart, and the themes of the free-text
answers. Read from the files rule evaluation_<trial> wrote; the answers themselves are
never shown."""

from __future__ import annotations

from pathlib import Path

from trialeval.evaluation_config import evaluation_outputs


def evaluation_section(spec: dict, trial_dir: Path, first_figure: int, scroll, embed) -> str:
    """HTML of the section; its figures are numbered from `first_figure` on. `scroll` wraps
    a table, `embed` makes a figure of a PNG and its caption (the report's own helpers)."""
    made = evaluation_outputs(spec)
    tables = trial_dir / "tables"
    parts = [
        "<h3>Programme evaluation</h3>",
        scroll((tables / "response_rates.html").read_text()),
    ]
    for number, group in enumerate(spec["respondent_groups"], start=first_figure):
        parts.append(scroll((tables / f"evaluation_{group['id']}.html").read_text()))
        caption = (
            f"Figure {number}. Programme evaluation, {group['label']}: the answers to each "
            "item, agreeing answers right of zero (% of those who answered the item)"
        )
        parts.append(embed(trial_dir / "figures" / f"evaluation_{group['id']}.png", caption))
    if "themes" in made["tables"]:
        parts.append("<h3>Free-text answers: coded themes</h3>")
        parts.append(scroll((tables / "themes.html").read_text()))
    if spec.get("free_text"):
        parts.append(
            '<p class="note">The free-text answers themselves are not shown: they are in the '
            "coding sheet (results/&lt;trial&gt;/coding/), under response ids that only the "
            "private key file (interim/free_text_key.json) turns back into respondents.</p>"
        )
    return "\n".join(parts)
