"""Named sensitivity analyses (analyses.sensitivity in the trial file): one job each.

A job gets the view of its analysis alone (trialeval.stage_config, stage `sensitivity`),
shaped as the primary analysis's blocks, so the primary's functions run on it unchanged:
score outcomes of a randomized trial through trialeval.models (its mixed_model options,
analysis sets and covariates), categories through trialeval.prepost (the risk ratio per post
visit), each reading its data through trialeval.estimands.analysis_data, which applies the
analysis's intercurrent events. Every row gets analysis_name = the analysis's name.

An analysis with `imputation` (view["analyses"]["analysis"]["imputation"]: m, seed, delta,
propagate) runs its score outcomes through trialeval.imputation.mixed_model_imputation: the
scores after its intercurrent-event strategies (hypothetical: set to missing, so imputed),
imputed m times per delta, each completed data set fitted with the analysis's mixed model
and pooled by Rubin's rules. effects.csv gets the delta 0 (MAR) rows; the job's imputation
part every delta with the tipping point (the tipping_point table and figure). Visits after a
while-on-treatment event are imputed with the rest of the trajectory but removed from every
completed data set before it is analysed. config refuses imputation for category outcomes.

The job's model_n part (trialeval.model_n) holds the participants each of its fits used per
arm, under the analysis's name. A multiple imputation's n: the participants of its first
completed data set's fit (every completed data set, of every delta, has the same ones):
every member of the analysis set with the model's covariates observed, their missing scores
imputed (one missing a covariate is not imputed, and the model drops them), less those the
model drops once a while-on-treatment strategy has removed the visits after the event (an
event at baseline leaves an MMRM or ANCOVA nothing after baseline). The pooled rows' n in
effects.csv is that fit's.
"""

from __future__ import annotations

import pandas as pd

from trialeval.effects import DIAGNOSTIC_COLUMNS, EFFECT_COLUMNS, MEANS_COLUMNS, effects_frame

TIPPING_KEYS = ["analysis", "estimand", "contrast", "timepoint"]


def _imputation_columns() -> list[str]:
    from trialeval.imputation import MI_COLUMNS

    return ["analysis_name", *MI_COLUMNS, "tipping_delta", "tipping_note", "alpha"]


def analysis_effects(
    view: dict,
    outcome_id: str,
    paths: dict[str, str],
    alpha: float,
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One outcome under one sensitivity analysis: (effects, means, diagnostics), every row
    with analysis_name. Scores get the mixed model (on multiple imputations when the analysis
    has `imputation`: see `imputation_effects`), categories the risk ratio. `model_n`, if
    given, collects the participants each fit used per arm."""
    from trialeval import models, prepost
    from trialeval.config import outcome_analyses

    name = view["analyses"]["analysis"]["name"]
    empty = (pd.DataFrame(columns=MEANS_COLUMNS), pd.DataFrame(columns=DIAGNOSTIC_COLUMNS))
    if outcome_id in outcome_analyses(view)["mixed_model"]:
        if view["analyses"]["analysis"].get("imputation"):
            effects = imputation_effects(view, outcome_id, paths, alpha, model_n)[0]
            means, diagnostics = empty
        else:
            fitted = models.outcome_effects(view, outcome_id, paths, alpha, model_n)
            effects, means, diagnostics = fitted
    else:
        effects, _ = prepost.outcome_effects(view, outcome_id, paths, alpha, model_n)
        means, diagnostics = empty
    return tuple(frame.assign(analysis_name=name) for frame in (effects, means, diagnostics))


def imputation_effects(
    view: dict,
    outcome_id: str,
    paths: dict[str, str],
    alpha: float,
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One score outcome's multiple imputation on each of the analysis's sets: (effects rows
    of the MAR result, delta 0; every delta's pooled rows with the tipping point). `model_n`
    collects the participants per arm of each set's first completed data set's fit."""
    from trialeval.estimands import analysis_data, cells_after, events_of
    from trialeval.imputation import mixed_model_imputation
    from trialeval.io import in_set, set_members
    from trialeval.models import model_arguments

    analysis = view["analyses"]["analysis"]
    options, mi = view["analyses"]["mixed_model"], analysis["imputation"]
    outcome = next(o for o in view["outcomes"] if o["id"] == outcome_id)
    scores, participants = analysis_data(view, paths, outcome_id)
    events = events_of(view["analyses"].get("estimand"))
    exclude = cells_after(participants, events, view, "while_on_treatment")
    pooled = []
    for analysis_set in view["analyses"]["analysis_sets"]:
        members = set_members(participants, analysis_set, outcome_id)
        table, tipping = mixed_model_imputation(
            scores[in_set(scores["participant_id"], members["participant_id"])],
            members,
            view,
            outcome,
            analysis_set=analysis_set,
            alpha=alpha,
            **model_arguments(options),
            m=mi["m"],
            seed=mi["seed"],
            deltas=mi["delta"],
            propagate=mi["propagate"],
            exclude=exclude,
            model_n=model_n,
        )
        tipping = tipping.rename(columns={"note": "tipping_note"})
        pooled.append(table.merge(tipping, on=TIPPING_KEYS, how="left", validate="m:1"))
    table = pd.concat(pooled, ignore_index=True).assign(analysis_name=analysis["name"], alpha=alpha)
    table = table[_imputation_columns()]
    mar = table[table["delta"] == 0.0]
    effects = effects_frame(
        mar[[c for c in EFFECT_COLUMNS if c in mar]].assign(exposure="").to_dict("records")
    )
    return effects, table.reset_index(drop=True)


def run(view: dict, *, paths: dict[str, str], alpha: float, outputs: dict[str, str]) -> None:
    """Rule entry: every outcome of one sensitivity analysis. ``outputs``: effects, means,
    diagnostics (each with analysis_name as its first column), model_n (the participants each
    fit used, per arm, under the analysis's name) and imputation (every delta's pooled rows;
    header only for an analysis without imputation)."""
    from trialeval.config import outcome_analyses
    from trialeval.io import write_csv
    from trialeval.model_n import model_n_frame

    analysis = view["analyses"]["analysis"]
    imputed = analysis.get("imputation") and outcome_analyses(view)["mixed_model"]
    fits, delta_tables, model_n = [], [], []
    for outcome_id in analysis["outcomes"]:
        if imputed and outcome_id in imputed:
            effects, table = imputation_effects(view, outcome_id, paths, alpha, model_n)
            empty = (pd.DataFrame(columns=MEANS_COLUMNS), pd.DataFrame(columns=DIAGNOSTIC_COLUMNS))
            fits.append(tuple(f.assign(analysis_name=analysis["name"]) for f in (effects, *empty)))
            delta_tables.append(table)
        else:
            fits.append(analysis_effects(view, outcome_id, paths, alpha, model_n))
    write_csv(model_n_frame(model_n, analysis["name"]), outputs["model_n"])
    tables = {"effects": EFFECT_COLUMNS, "means": MEANS_COLUMNS, "diagnostics": DIAGNOSTIC_COLUMNS}
    for i, (name, columns) in enumerate(tables.items()):
        frames = [fit[i] for fit in fits]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        if "analysis_name" not in frame:
            frame["analysis_name"] = pd.Series(dtype=object)
        ordered = ["analysis_name", *[c for c in columns if c != "analysis_name"]]
        write_csv(frame[ordered], outputs[name])
    if "imputation" in outputs:
        columns = _imputation_columns()
        frame = pd.concat(delta_tables, ignore_index=True) if delta_tables else None
        write_csv(pd.DataFrame(columns=columns) if frame is None else frame, outputs["imputation"])
