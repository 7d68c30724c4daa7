"""Which direction of an outcome is the better one, from the instrument registry's
`higher_is_better` (per subscale and per category), and the words figures and the report
use for it: which side of a forest axis favours which arm, what a shift of imputed values
means. An outcome whose registry entry states no direction gets no such words."""

from __future__ import annotations

__all__ = ["favours", "higher_is_better", "negative_shift_words", "shift_meaning"]


def higher_is_better(spec: dict, outcome: dict) -> bool | None:
    """True / False from the registry entry of the outcome's subscale or category; None when
    the entry does not say (and for bands, which have no better end)."""
    inst = spec.get("instruments", {}).get(outcome.get("instrument"), {})
    kind = "subscales" if outcome.get("kind") == "score" else "categories"
    entry = inst.get(kind, {}).get(outcome.get("name"), {})
    value = entry.get("higher_is_better")
    return None if value is None else bool(value)


def favours(direction: bool | None, arm: str, control: str) -> tuple[str, str] | None:
    """(left, right) texts under an axis of `arm - control` differences or `arm / control`
    ratios: higher is better puts the intervention arm on the right. None: no direction."""
    if direction is None:
        return None
    right, left = (arm, control) if direction else (control, arm)  # right: arm higher
    return f"\u2190 Favours {left}", f"Favours {right} \u2192"


def shift_meaning(direction: bool | None) -> str:
    """What a negative shift of imputed scores assumes, for one outcome: 'lower scores than
    MAR predicts, that is worse' (higher is better), '..., that is better' (lower is
    better), or just 'lower scores than MAR predicts' (direction not stated)."""
    lower = "lower scores than MAR predicts"
    if direction is None:
        return lower
    return f"{lower}, that is {'worse' if direction else 'better'}"


def negative_shift_words(spec: dict, outcome_ids: list[str]) -> str:
    """For the report: ', which is worse for A and B (higher is better) and better for C
    (lower is better)' over the outcomes whose registry entry states a direction; '' when
    none does."""
    outcomes = {o["id"]: o for o in spec["outcomes"]}
    groups: dict[bool, list[str]] = {True: [], False: []}
    for outcome_id in dict.fromkeys(outcome_ids):
        outcome = outcomes.get(outcome_id)
        direction = higher_is_better(spec, outcome) if outcome else None
        if direction is not None:
            groups[direction].append(outcome["label"])
    parts = []
    if groups[True]:
        parts.append(f"worse for {_and(groups[True])} (higher is better)")
    if groups[False]:
        parts.append(f"better for {_and(groups[False])} (lower is better)")
    return f", which is {' and '.join(parts)}" if parts else ""


def _and(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
