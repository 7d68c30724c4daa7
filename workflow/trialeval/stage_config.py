"""What each stage of the pipeline reads of a resolved trial spec.

A rule given the whole trial would re-run on any edit: a new `power.n_sims` would refit every
model. Each rule is given only the view of its stage: the power block goes to the power rules
alone, the mixed-model block to the mixed-model jobs, and presentation-only fields (titles,
colours, outcome and covariate labels) to tables, figures and the report.

The views reach the jobs as small JSON files, `<results>/<trial>/stage_config/<stage>.json`,
written when the DAG is built and rewritten only when their content changes; each is an input
of its stage's rule, so Snakemake re-runs exactly the jobs whose view changed. Not as params:
to compare params Snakemake imports pandas, a second of every no-op run (measured 2026-12-02).
Imported when the DAG is built: standard library only.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

# Top-level keys no stage but the listed ones reads (the power rules get the power block).
_ONLY_FOR = {
    "power": set(),
    "title": {"tables", "figures", "report"},
    "registration": {"tables", "figures", "report"},
    "multiplicity": {"effects", "tables", "figures", "report"},
    # the analyses read alpha from config.yaml (_OPTIONS); the tables' words name it
    "alpha": {"tables", "figures", "report"},
    # disclosure control: the jobs that print counts, and the one that plans the suppressions
    "disclosure": {"tables", "figures", "report", "disclosure"},
    "site_labels": {"tables", "figures", "report", "disclosure"},
    # the flow diagram's extra boxes (trialeval.config._resolve_flow): ingest reads and checks
    # their columns, analysis_sets counts them, the figure and report word their footnotes
    "flow": {"ingest", "analysis_sets", "figures", "report"},
    # the event columns ingest carries (each analysis reads its own events from its estimand)
    "intercurrent_columns": {"ingest"},
    # programme-evaluation surveys and free text (trialeval.evaluation_config)
    # (the evaluation job's settings are written by workflow/rules/evaluation.smk)
    "respondent_groups": {"report"},
    "evaluation_instruments": {"report"},
    "free_text": {"report"},
}
# Presentation fields inside lists and maps of the spec: read by tables, figures and report.
_PRESENTATION = {
    "arms": ("colour",),
    "outcomes": ("label",),
    "covariates": ("label", "summary", "levels"),
    "instruments": ("label", "source"),
}
# (the disclosure job builds Table 1 as the tables job does, to read its counts)
_PRESENTING = {"tables", "figures", "report", "disclosure"}
# Arm and visit labels also appear in consort.json and in the notes of effects.csv, so the
# analysis stages read them; ingest and scoring do not.
_UNLABELLED = {"ingest": ("arms", "timepoints"), "score": ("arms", "timepoints")}
# Which blocks of `analyses` an analysis stage reads (the others read all of them).
_ANALYSES_BLOCKS = {
    "ingest": (),
    "score": (),
    "analysis_sets": ("analysis_sets",),
    "mixed_model": ("analysis_sets", "mixed_model", "estimand"),
    "prepost": ("analysis_sets", "prepost", "estimand"),
    "association": ("analysis_sets", "association"),
    "cohort": ("analysis_sets", "cohort"),
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
    "cohort",
    "effects",
    "tables",
    "figures",
    "report",
    "disclosure",
)


# One job per named sensitivity analysis: its view is of that analysis (`analysis=` its name).
SENSITIVITY = "sensitivity"


def for_stage(spec: dict, stage: str, analysis: str | None = None) -> dict:
    """The part of a resolved trial spec that ``stage`` reads (a new dict; spec unchanged).

    Stage `sensitivity` takes the name of one sensitivity analysis: its view is the mixed
    model's, with `analyses` holding that analysis alone, shaped as the primary's blocks
    (analysis_sets, mixed_model, estimand, and the primary's prepost for categories) plus
    `analysis` (name, label, outcomes, covariates, ...), so editing one sensitivity analysis
    re-runs only its job and the models run on it unchanged."""
    if stage == SENSITIVITY:
        return _sensitivity_view(spec, analysis)
    if stage not in STAGES:
        raise ValueError(
            f"unknown stage {stage!r}; expected one of {', '.join(STAGES)} or {SENSITIVITY}"
        )
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


def _sensitivity_view(spec: dict, name: str | None) -> dict:
    chosen = [a for a in spec["analyses"].get("sensitivity", []) if a["name"] == name]
    if not chosen:
        known = [a["name"] for a in spec["analyses"].get("sensitivity", [])]
        raise ValueError(f"no sensitivity analysis {name!r}; the trial has {known}")
    analysis = chosen[0]
    view = for_stage(spec, "mixed_model")
    view["analyses"] = {
        "analysis_sets": list(analysis["analysis_sets"]),
        "mixed_model": copy.deepcopy(analysis["mixed_model"]),
        "prepost": copy.deepcopy(spec["analyses"]["prepost"]),
        "estimand": copy.deepcopy(analysis["estimand"]),
        # name, label, outcomes, covariates and any option a later block adds (imputation)
        "analysis": {
            k: copy.deepcopy(v)
            for k, v in analysis.items()
            if k not in ("analysis_sets", "mixed_model", "estimand")
        },
    }
    return view


# Global options (config.yaml) each stage reads, beside its view of the trial.
_OPTIONS = {
    "mixed_model": ("alpha",),
    "prepost": ("alpha",),
    "association": ("alpha",),
    "cohort": ("alpha",),
    "effects": ("multiplicity",),
    SENSITIVITY: ("alpha",),
}


def stage_settings(
    spec: dict,
    stage: str,
    options: dict,
    kinds: list[str] | None = None,
    analysis: str | None = None,
) -> dict:
    """What a job of `stage` is given: `trial`, the stage's view of the trial spec (of one
    named `analysis` for stage sensitivity); the global `options` the stage reads; and, for
    tables and figures, the `kinds` the design calls for."""
    settings = {"trial": for_stage(spec, stage, analysis)}
    settings.update({name: options[name] for name in _OPTIONS.get(stage, ())})
    if kinds is not None:
        settings["kinds"] = list(kinds)
    return settings


def write_settings(settings: dict, path: str | Path) -> bool:
    """Write `settings` as JSON to `path` unless the file already holds exactly that (so its
    modification time, which Snakemake compares with the outputs', moves only on a change).
    Atomic. Returns whether the file was written."""
    # key order kept: the order of instruments, outcomes and arms is the order of the output
    text = json.dumps(settings, indent=1, allow_nan=False) + "\n"
    if json.loads(text) != settings:
        # a tuple or a non-string key would reach the job changed: a bug here, not the user's
        raise ValueError(f"{path}: settings do not survive JSON unchanged")
    path = Path(path)
    if path.is_file() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(tmp, path)
    return True


def read_settings(path: str | Path) -> dict:
    """A job's settings, as write_settings wrote them."""
    return json.loads(Path(path).read_text())


def _without_presentation(view: dict, unlabelled: tuple[str, ...]) -> dict:
    view = copy.deepcopy(view)
    for key in sorted({*_PRESENTATION, *unlabelled}):
        fields = _PRESENTATION.get(key, ()) + (("label",) if key in unlabelled else ())
        entries = view.get(key)
        if isinstance(entries, dict):
            entries = entries.values()
        for entry in entries or ():
            if key == "covariates" and entry.get("levels"):
                # the levels' order is the models' (the first is the reference level:
                # labels.level_order), their labels presentation: each level keeps its id
                entry["order"] = {level: level for level in entry["levels"]}
            for field in fields:
                entry.pop(field, None)
            if "order" in entry:
                entry["levels"] = entry.pop("order")
    return view
