"""Which direction of an outcome is the better one, from the instrument registry's
`higher_is_better` (per subscale and per category), and the words figures and the report
use for it: which side of a forest axis favours which arm, what a shift of imputed values
means. An outcome whose registry entry states no direction gets no such words."""

from __future__ import annotations

__all__ = ["favours", "higher_is_better", "shift_meaning"]


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


def shift_meaning(direction: bool | None, arm: str) -> str:
    """What a negative shift of the imputed `arm` values assumes, in words for this outcome."""
    lower = (
        f"a negative shift assumes that the unobserved {arm} participants scored lower than "
        "MAR predicts"
    )
    if direction is None:
        return lower
    return f"{lower}, that is, {'worse' if direction else 'better'}"
