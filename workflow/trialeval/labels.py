"""Printed labels of a trial's ids, for every shared output (tables, report, figures).

The pipeline's files (effects.csv, consort.json, model_diagnostics.csv) keep ids; what a reader
sees prints the trial file's labels instead: arms, timepoints, outcomes, analysis sets,
covariates and their levels (`covariates[].levels`), sites (`sites[].label`). Each helper
falls back to a readable form of the id when the trial file gives no label.
"""

from __future__ import annotations

import re

SET_LABELS = {
    "itt": "Intention-to-treat",
    "per_protocol": "Per protocol",
    "complete_case": "Complete case",
}
# The set each primary analysis uses (id "itt" in the pipeline's files) in the design's own
# words: intention-to-treat (CONSORT's term) presumes randomized allocation, so a
# non-randomized design names who is in the set instead. (label, its members in running text)
PRIMARY_SET_WORDS = {
    "rct": ("Intention-to-treat", "intention-to-treat participants"),
    "cluster_rct": ("Intention-to-treat", "intention-to-treat participants"),
    "quasi_experimental": ("All enrolled", "enrolled participants"),
    "cross_sectional": ("All respondents", "respondents"),
    "cohort_comparison": ("All surveyed", "surveyed cohort members"),
}
# who is in the primary set, per design (consort.json's definitions word the randomized case)
PRIMARY_SET_DEFINITIONS = {
    "rct": "every allocated participant in the allocated arm, less consent withdrawals",
    "cluster_rct": "every allocated participant in the allocated arm, less consent withdrawals",
    "quasi_experimental": (
        "every enrolled participant in the group assigned, less consent withdrawals"
    ),
    "cross_sectional": "respondents to the survey, less consent withdrawals",
    "cohort_comparison": (
        "every member of each cohort invited to the survey, less consent withdrawals"
    ),
}
PER_PROTOCOL_NOT_SHOWN = (
    "Per-protocol set not shown: no adherence rule is configured "
    "(analysis_sets.per_protocol), so it equals the intention-to-treat set."
)


def analysis_set_label(name, spec: dict | None = None) -> str:
    """The printed label of an analysis set ("itt" -> "Intention-to-treat"; in a
    non-randomized design, `spec`, its own words: "All enrolled"), else the name."""
    if str(name) == "itt" and spec is not None:
        return primary_set_words(spec)[0]
    return SET_LABELS.get(str(name), str(name))


def primary_set_words(spec: dict) -> tuple[str, str]:
    """(label, members in running text) of the design's primary ("itt") set."""
    return PRIMARY_SET_WORDS.get(spec.get("design"), PRIMARY_SET_WORDS["rct"])


def set_name(name, spec: dict | None = None) -> str:
    """An analysis set as running text names it: "intention-to-treat set", "all-enrolled
    set", "per protocol set" (lower case; the caller capitalises a heading)."""
    label = analysis_set_label(name, spec)
    if label.startswith("All "):  # a compound before "set": "all-enrolled set"
        label = label.replace(" ", "-", 1)
    return f"{label[:1].lower()}{label[1:]} set"


def primary_set_definition(spec: dict) -> str:
    return PRIMARY_SET_DEFINITIONS.get(spec.get("design"), PRIMARY_SET_DEFINITIONS["rct"])


def per_protocol_not_shown(spec: dict | None = None) -> str:
    """PER_PROTOCOL_NOT_SHOWN, naming the primary set in the design's words."""
    label = analysis_set_label("itt", spec).lower()
    return PER_PROTOCOL_NOT_SHOWN.replace("intention-to-treat", label)


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


def level_order(spec: dict | None, name: str, seen) -> list[str]:
    """The levels of covariate `name` (or "site") in print order, the one order of Table 1,
    the models (whose reference level is the first) and the tables and figures of their
    effects: those the trial file lists (`levels`, `sites`), in its order, then any others
    seen in the data, sorted (so every frame gives the same order, whatever its row order).
    Without a spec, the levels sorted."""
    if spec is None:
        return sorted({str(v) for v in seen})
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
    """Whether the per-protocol set equals the intention-to-treat set (no adherence rule)."""
    return not spec.get("per_protocol")


def shown_sets(spec: dict, present) -> list[str]:
    """The analysis sets of `present` a shared output shows: the per-protocol set is left out
    when it equals intention-to-treat (no adherence rule) and intention-to-treat is shown."""
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


MAX_SCORE_DECIMALS = 2  # a finer scale than 0.1 prints no more: 0.08 of a point says nothing


def score_resolution(instrument: dict, subscale: str) -> float:
    """The smallest step between two scores of a complete response: 1 for a sum of
    whole-number items, 1/k for the mean of k such items (0.2 for five 1-5 items), 0.1 (or
    0.1/k) when the answers need not be whole numbers (`decimals: true`, a pre-scored mean) or
    the item range is not."""
    lo, hi = (float(v) for v in instrument.get("item_range", (0, 1)))
    whole = lo.is_integer() and hi.is_integer() and not instrument.get("decimals")
    step = 1.0 if whole else 0.1
    sub = instrument["subscales"][subscale]
    k = len(sub.get("items") or [1])
    return step / k if sub.get("scoring") == "mean" and k > 1 else step


def resolution_decimals(resolution: float) -> int:
    """Decimal places that write `resolution` exactly (1 -> 0, 0.2 -> 1, 0.25 -> 2); one more
    than the cap for a step no short decimal writes (1/12)."""
    for places in range(MAX_SCORE_DECIMALS + 1):
        if abs(round(resolution, places) - resolution) < 1e-9:
            return places
    return MAX_SCORE_DECIMALS + 1


def score_decimals(instrument: dict, subscale: str) -> int:
    """Decimals of a score's numbers (README, "Decimals: one rule everywhere"), in every
    table and figure: min(2, 1 + the decimals of the scale's resolution), so 1 for a score in
    whole points (an MBI sum: resolution 1), 2 for a finer one (the mean of 1-5 items:
    resolution 0.2, 1/12, ...). Standard library only: the trial's power plan takes its
    decimals from here when the DAG is built."""
    resolution = score_resolution(instrument, subscale)
    return min(MAX_SCORE_DECIMALS, 1 + resolution_decimals(resolution))


# Every interval is computed at config.yaml's alpha (load_trials puts it in the spec); each
# builder that prints an interval's level writes ci_level(spec), so no text says "95%" at
# another alpha and none is rewritten afterwards.
DEFAULT_ALPHA = 0.05


def confidence_words(alpha: float) -> str:
    """The confidence level of intervals at `alpha`: "95%" at 0.05, "90%" at 0.1."""
    return f"{round(100 * (1 - alpha), 6):g}%"


def ci_level(spec: dict | None) -> str:
    """The confidence level of the run's intervals (the spec's alpha, 0.05 if none)."""
    return confidence_words((spec or {}).get("alpha", DEFAULT_ALPHA))
