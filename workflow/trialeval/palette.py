"""Arm colours, markers and line styles, the same in every figure whatever the number of arms:
the control arm always takes the second slot (vermilion, square, dashed), the intervention
arms the other slots in the trial file's order (the first: blue, circle, solid). An arm's
`colour` in the trial file overrides its colour only."""

from __future__ import annotations

__all__ = ["LINESTYLES", "MARKERS", "OKABE_ITO", "arm_slots"]

# Okabe & Ito (2008) colour-blind-safe palette, ordered for contrast against white: sky blue
# and yellow come last because thin lines and small markers in them are hard to see.
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<"]
LINESTYLES = ["-", "--", ":", "-."]
CONTROL_SLOT = 1


def arm_slots(arms: list[dict]) -> dict[str, int]:
    """{arm id: palette slot}: the control arm (`control: true`) slot 1, the other arms slots
    0, 2, 3, ... in order. Without a control arm (a survey's one group), slots by order."""
    if not any(a.get("control") for a in arms):
        return {a["id"]: i for i, a in enumerate(arms)}
    free = (i for i in range(10_000) if i != CONTROL_SLOT)
    return {a["id"]: CONTROL_SLOT if a.get("control") else next(free) for a in arms}


def slot_style(slot: int) -> dict[str, str]:
    """Colour, marker and line style of a palette slot (cycling past the palette's end)."""
    return {
        "colour": OKABE_ITO[slot % len(OKABE_ITO)],
        "marker": MARKERS[slot % len(MARKERS)],
        "linestyle": LINESTYLES[slot % len(LINESTYLES)],
    }
