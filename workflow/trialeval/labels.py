"""Printed labels of a trial's ids, for every shared output (tables, report, figures).

The pipeline's files (effects.csv, consort.json, model_diagnostics.csv) keep ids; what a reader
sees prints the trial file's labels instead: arms, timepoints, outcomes, analysis sets,
covariates and their levels (`covariates[].levels`), sites (`sites[].label`). Each helper
falls back to a readable form of the id when the trial file gives no label.
"""

from __future__ import annotations

import re

SET_LABELS = {
    "itt": "Intent-to-treat",
    "per_protocol": "Per protocol",
    "complete_case": "Complete case",
}
PER_PROTOCOL_NOT_SHOWN = (
    "Per-protocol set not shown: no adherence rule is configured "
    "(analysis_sets.per_protocol), so it equals the intent-to-treat set."
)


def analysis_set_label(name) -> str:
    """The printed label of an analysis set ("itt" -> "Intent-to-treat"), else the name."""
    return SET_LABELS.get(str(name), str(name))


def arm_label(spec: dict, arm) -> str:
    return next((a["label"] for a in spec.get("arms") or [] if a["id"] == arm), str(arm))


def timepoint_label(spec: dict, timepoint) -> str:
    found = (t["label"] for t in spec.get("timepoints") or [] if t["id"] == timepoint)
    return next(found, str(timepoint))


def display_level(level) -> str:
    """A level without a label: as written, first letter capitalised ("man" -> "Man")."""
    text = str(level)
    return text[:1].upper() + text[1:]


def covariate(spec: dict, name: str) -> dict | None:
    return next((c for c in spec.get("covariates") or [] if c["name"] == name), None)


def covariate_term(spec: dict, name: str) -> str:
    """A covariate (or "site") as running text names it: its label up to the first comma,
    first letter lower-cased ("Age, years" -> "age", "Year of study" -> "year of study")."""
    if name == "site":
        return "site"
    found = covariate(spec, name)
    if found is None:
        return str(name)
    head = found["label"].split(",")[0].strip() or name
    return head[0].lower() + head[1:] if len(head) > 1 and head[1].islower() else head


def level_label(spec: dict, name: str, level) -> str:
    """The printed label of one level of covariate `name` (or of a site, name "site")."""
    if name == "site":
        return site_label(spec, level)
    found = covariate(spec, name) or {}
    return (found.get("levels") or {}).get(str(level)) or display_level(level)


def level_order(spec: dict, name: str, seen) -> list[str]:
    """The levels of covariate `name` in print order: those the trial file labels, in its
    order, then any others seen in the data, sorted."""
    seen = sorted({str(v) for v in seen})
    if name == "site":
        listed = [s for s in spec.get("sites") or [] if s in seen]
    else:
        listed = [k for k in ((covariate(spec, name) or {}).get("levels") or {}) if k in seen]
    return listed + [v for v in seen if v not in listed]


def site_label(spec: dict, site) -> str:
    return (spec.get("site_labels") or {}).get(str(site)) or str(site)


def clean_registry_label(text: str) -> str:
    """A registry label as a table prints it: registry notes such as "pre-scored" removed
    ("Likelihood to recommend (0-10, pre-scored)" -> "Likelihood to recommend (0-10)")."""
    text = re.sub(r",\s*pre-?scored\b", "", str(text), flags=re.IGNORECASE)
    text = re.sub(r"\bpre-?scored\b,?\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\(\s*\)", "", text)
    return re.sub(r"\s+\)", ")", re.sub(r"\(\s+", "(", text)).strip()


def per_protocol_is_itt(spec: dict) -> bool:
    """Whether the per-protocol set equals the intent-to-treat set (no adherence rule)."""
    return not spec.get("per_protocol")


def shown_sets(spec: dict, present) -> list[str]:
    """The analysis sets of `present` a shared output shows: the per-protocol set is left out
    when it equals intent-to-treat (no adherence rule) and intent-to-treat is shown."""
    present = list(dict.fromkeys(present))
    if per_protocol_is_itt(spec) and "itt" in present:
        return [s for s in present if s != "per_protocol"]
    return present


def method_text(spec: dict, text: str) -> str:
    """A model description of effects.csv ("... on arm (reference control), adjusted for
    age (linear), gender (reference man), site (reference inst_1)") with labels for the ids:
    "... on arm (reference: Control), adjusted for age (linear), gender (reference: Man),
    site (reference: Institution 1)"."""
    control = spec.get("control_arm")
    if control:
        text = text.replace(f"(reference {control})", f"(reference: {arm_label(spec, control)})")
    names = [c["name"] for c in spec.get("covariates") or []] + ["site"]
    for name in sorted(names, key=len, reverse=True):
        term = covariate_term(spec, name)
        text = re.sub(
            rf"\b{re.escape(name)} \(reference ([^)]*)\)",
            lambda m, name=name, term=term: (
                f"{term} (reference: {level_label(spec, name, m.group(1))})"
            ),
            text,
        )
        text = re.sub(rf"\b{re.escape(name)} \((linear|a single level)", rf"{term} (\1", text)
    return re.sub(r"\(reference (?!:)", "(reference: ", text)


def score_decimals(instrument: dict, subscale: str) -> int:
    """Decimals of a score's numbers (README, "Decimals: one rule everywhere"): one more than
    the resolution of its scale, 1 for whole points, 2 for a finer scale. The resolution is
    the smallest step between two scores of a complete response: 1 for a sum of whole-number
    items, 1/k for the mean of k such items, below 1 when the answers need not be whole
    numbers (`decimals: true`, a pre-scored mean) or the item range is not. Standard library
    only: the trial's power plan takes its decimals from here when the DAG is built."""
    lo, hi = (float(v) for v in instrument.get("item_range", (0, 1)))
    whole = lo.is_integer() and hi.is_integer() and not instrument.get("decimals")
    step = 1.0 if whole else 0.1
    sub = instrument["subscales"][subscale]
    k = len(sub.get("items") or [1])
    resolution = step / k if sub.get("scoring") == "mean" and k > 1 else step
    return 1 if resolution >= 1 else 2
