"""What each stage of the pipeline reads of a resolved trial spec.

Snakemake re-runs a job when its params change, so a rule given the whole trial would re-run
on any edit: a new `power.n_sims` would refit every model. Each rule is given only the view
of its stage: the power block goes to the power rules alone, the mixed-model block to the
mixed-model jobs, and presentation-only fields (titles, colours, outcome and covariate labels)
to tables, figures and the report. Imported when the DAG is built: standard library only.
"""

from __future__ import annotations

import copy

# Top-level keys no stage but the listed ones reads (the power rules get the power block).
_ONLY_FOR = {
    "power": set(),
    "title": {"tables", "figures", "report"},
    "registration": {"tables", "figures", "report"},
    "multiplicity": {"effects", "tables", "figures", "report"},
}
# Presentation fields inside lists and maps of the spec: read by tables, figures and report.
_PRESENTATION = {
    "arms": ("colour",),
    "outcomes": ("label",),
    "covariates": ("label", "summary"),
    "instruments": ("label", "source"),
}
_PRESENTING = {"tables", "figures", "report"}
# Arm and visit labels also appear in consort.json and in the notes of effects.csv, so the
# analysis stages read them; ingest and scoring do not.
_UNLABELLED = {"ingest": ("arms", "timepoints"), "score": ("arms", "timepoints")}
# Which blocks of `analyses` an analysis stage reads (the others read all of them).
_ANALYSES_BLOCKS = {
    "ingest": (),
    "score": (),
    "analysis_sets": ("analysis_sets",),
    "mixed_model": ("analysis_sets", "mixed_model"),
    "prepost": ("analysis_sets", "prepost"),
    "association": ("analysis_sets", "association"),
}
# Delivery groups are checked and counted (trialeval.delivery) against the arms delivered in
# groups and the site term, wherever the trial has groups.
_DELIVERY_TERMS = ("groups", "site")
# The logistic regression of a randomized trial's categories (prepost stage) adjusts for the
# mixed model's covariates, and its site when fixed (trialeval.prepost.binary_covariates).
_BINARY_TERMS = ("covariates", "site")
_RANDOMIZED = ("rct", "cluster_rct")
STAGES = (
    "ingest",
    "score",
    "analysis_sets",
    "mixed_model",
    "prepost",
    "association",
    "effects",
    "tables",
    "figures",
    "report",
)


def for_stage(spec: dict, stage: str) -> dict:
    """The part of a resolved trial spec that ``stage`` reads (a new dict; spec unchanged)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    view = {
        key: value for key, value in spec.items() if key not in _ONLY_FOR or stage in _ONLY_FOR[key]
    }
    if stage not in _PRESENTING:
        view = _without_presentation(view, _UNLABELLED.get(stage, ()))
    if stage in _ANALYSES_BLOCKS and isinstance(view.get("analyses"), dict):
        keep = _ANALYSES_BLOCKS[stage]
        view["analyses"] = {k: v for k, v in view["analyses"].items() if k in keep}
        if spec.get("group_column") and "mixed_model" not in keep:
            mixed = spec["analyses"]["mixed_model"]
            view["analyses"]["mixed_model"] = {k: mixed[k] for k in _DELIVERY_TERMS}
        if stage == "prepost" and spec.get("design") in _RANDOMIZED:
            mixed = spec["analyses"]["mixed_model"]
            terms = {k: mixed[k] for k in _BINARY_TERMS}
            view["analyses"]["mixed_model"] = {**view["analyses"].get("mixed_model", {}), **terms}
    return view


def _without_presentation(view: dict, unlabelled: tuple[str, ...]) -> dict:
    view = copy.deepcopy(view)
    for key in sorted({*_PRESENTATION, *unlabelled}):
        fields = _PRESENTATION.get(key, ()) + (("label",) if key in unlabelled else ())
        entries = view.get(key)
        if isinstance(entries, dict):
            entries = entries.values()
        for entry in entries or ():
            for field in fields:
                entry.pop(field, None)
    return view
