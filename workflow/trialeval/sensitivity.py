"""Named sensitivity analyses (analyses.sensitivity in the trial file): one job each.

A job gets the view of its analysis alone (trialeval.stage_config, stage `sensitivity`),
shaped as the primary analysis's blocks, so the primary's functions run on it unchanged:
score outcomes of a randomized trial through trialeval.models (its mixed_model options,
analysis sets and covariates), categories through trialeval.prepost (the risk ratio per post
visit), each reading its data through trialeval.estimands.analysis_data, which applies the
analysis's intercurrent events. Every row gets analysis_name = the analysis's name.

`analysis_effects` is where an analysis option that changes how the data are analysed
(multiple imputation, say) would be read: `view["analyses"]["analysis"]` carries every key of
the analysis that is not a model block.
"""

from __future__ import annotations

import pandas as pd

from trialeval.effects import DIAGNOSTIC_COLUMNS, EFFECT_COLUMNS, MEANS_COLUMNS


def analysis_effects(
    view: dict, outcome_id: str, paths: dict[str, str], alpha: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One outcome under one sensitivity analysis: (effects, means, diagnostics), every row
    with analysis_name. Scores get the mixed model, categories the risk ratio."""
    from trialeval import models, prepost
    from trialeval.config import outcome_analyses

    name = view["analyses"]["analysis"]["name"]
    if outcome_id in outcome_analyses(view)["mixed_model"]:
        effects, means, diagnostics = models.outcome_effects(view, outcome_id, paths, alpha)
    else:
        effects, _ = prepost.outcome_effects(view, outcome_id, paths, alpha)
        means, diagnostics = (
            pd.DataFrame(columns=MEANS_COLUMNS),
            pd.DataFrame(columns=DIAGNOSTIC_COLUMNS),
        )
    return tuple(frame.assign(analysis_name=name) for frame in (effects, means, diagnostics))


def run(view: dict, *, paths: dict[str, str], alpha: float, outputs: dict[str, str]) -> None:
    """Rule entry: every outcome of one sensitivity analysis. ``outputs``: effects, means,
    diagnostics (each with analysis_name as its first column)."""
    from trialeval.io import write_csv

    fits = [
        analysis_effects(view, outcome_id, paths, alpha)
        for outcome_id in view["analyses"]["analysis"]["outcomes"]
    ]
    tables = {"effects": EFFECT_COLUMNS, "means": MEANS_COLUMNS, "diagnostics": DIAGNOSTIC_COLUMNS}
    for i, (name, columns) in enumerate(tables.items()):
        frames = [fit[i] for fit in fits]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        if "analysis_name" not in frame:
            frame["analysis_name"] = pd.Series(dtype=object)
        ordered = ["analysis_name", *[c for c in columns if c != "analysis_name"]]
        write_csv(frame[ordered], outputs[name])
