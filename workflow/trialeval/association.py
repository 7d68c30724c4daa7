"""Association of an ordinal exposure with a binary outcome (design `cross_sectional`).

Logistic regression of the outcome (a 0/1 category) on the levels of a single-item exposure
(treatment coded, the lowest level as reference) plus covariates, among participants with the
outcome, the exposure and every covariate observed. An exposure may instead be a categorical
participants-file column (analyses.association.exposures[] as {column, reference}: a
categorical covariate): its levels as found in the data, the chosen reference first, then the
others sorted. Odds ratios with Wald CIs, as R's
`glm(outcome ~ factor(exposure) + covariates, family = binomial)` with `exp(confint.default())`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialeval.design import Factor, adjustment_terms, describe_terms, design_matrix
from trialeval.effects import ASSOCIATION_COUNTS_COLUMNS as COUNTS_COLUMNS
from trialeval.effects import effects_frame
from trialeval.labels import level_order
from trialeval.model_n import arm_counts, model_n_frame, model_n_rows
from trialeval.regression import logistic

__all__ = ["COUNTS_COLUMNS", "association_effects", "run"]


def _outcome(spec: dict, outcome_id: str) -> dict:
    for outcome in spec["outcomes"]:
        if outcome["id"] == outcome_id:
            return outcome
    raise ValueError(
        f"outcome {outcome_id!r} is not an outcome of trial {spec['id']!r}; expected one of "
        f"{[o['id'] for o in spec['outcomes']]}"
    )


def _exposure_levels(spec: dict, exposure: dict) -> dict[str, str]:
    """{score value as text ('1'..): label}, lowest level first."""
    levels = spec["instruments"][exposure["instrument"]]["levels"]
    if exposure["kind"] != "score" or not levels:
        raise ValueError(
            f"exposure {exposure['id']!r} must be a score of an instrument with `levels` "
            f"(a single ordinal item); instrument {exposure['instrument']!r} has none"
        )
    return {key: levels[key] for key in sorted(levels, key=float)}


def _column_exposure(data: pd.DataFrame, spec: dict, column: str, reference: str):
    """(the exposure's values as text, {level key: label}) of a participants-file column
    exposure: keys 1..k with the reference first, then the other levels in the trial's level
    order (`labels.level_order`, as Table 1 prints them)."""
    values = data[column].astype(object).where(data[column].notna())
    values = values.map(lambda v: v if pd.isna(v) else str(v))
    found = [v for v in level_order(spec, column, values.dropna()) if v != reference]
    if reference not in set(values.dropna()):
        raise ValueError(
            f"exposure {column!r}: no participant at the reference level {reference!r}; levels "
            f"in the data: {found}"
        )
    labels = [reference, *found]
    return values, {str(k): label for k, label in enumerate(labels, start=1)}


def association_effects(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    spec: dict,
    *,
    outcome: str,
    exposure: str,
    covariates: list[str],
    alpha: float,
    analysis_set: str = "itt",
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Odds ratios of `outcome` for each exposure level vs the lowest, adjusted for
    `covariates` (covariate names and/or "site"), and counts per exposure level.

    `scores`: long rows (participant_id, timepoint, outcome, score); `participants`: the
    analysis set with the covariate columns. `model_n`, if given, collects the respondents
    the fit used per exposure level (trialeval.model_n.model_n_rows, the levels' labels as
    its arms): the association counts' n, from the same rows.
    """
    outcome_spec = _outcome(spec, outcome)
    if outcome_spec["kind"] != "category":
        raise ValueError(f"outcome {outcome!r} must be a 0/1 category, not {outcome_spec['kind']}")
    columns = ((spec.get("analyses") or {}).get("association") or {}).get("exposure_columns") or {}
    timepoint = spec["baseline"]  # a cross-sectional survey's single wave
    if exposure in columns:
        data = _data(scores, participants, timepoint, [outcome], covariates)
        data[exposure], levels = _column_exposure(data, spec, exposure, columns[exposure])
        data = data.dropna(subset=[exposure]).reset_index(drop=True)
    else:
        levels = _exposure_levels(spec, _outcome(spec, exposure))
        data = _data(scores, participants, timepoint, [outcome, exposure], covariates)
        keys = data[exposure].map(lambda v: f"{v:g}")
        unknown = sorted(set(keys) - set(levels))
        if unknown:
            raise ValueError(
                f"exposure {exposure!r} has values {unknown} that are not levels {sorted(levels)}"
            )
        data[exposure] = keys.map(levels)
    present = [label for label in levels.values() if (data[exposure] == label).any()]
    reference = next(iter(levels.values()))

    counts = []
    for key, label in levels.items():
        y = data.loc[data[exposure] == label, outcome].to_numpy(dtype=float)
        counts.append(
            {
                "outcome": outcome,
                "exposure": exposure,
                "analysis_set": analysis_set,
                "level": key,
                "label": label,
                "n": len(y),
                "events": int(y.sum()),
                "proportion": y.mean() if len(y) else np.nan,
            }
        )
    counts_frame = pd.DataFrame(counts, columns=COUNTS_COLUMNS)

    notes = []
    if present and present[0] != reference:
        notes.append(f"no participant at the lowest level {reference!r}: reference {present[0]!r}")
        reference = present[0]
    terms = adjustment_terms(data, spec, covariates)
    adjusted = f", adjusted for {describe_terms(terms)}" if terms else ", unadjusted"
    method = (
        f"logistic regression (maximum likelihood) of {outcome} on {exposure} levels "
        f"(reference {reference}){adjusted}; odds ratio = exp(coefficient), Wald CI and z test; "
        f"se is the SE of log(odds ratio)"
    )
    table, not_estimable = None, {}
    try:
        X, names = design_matrix(data, [Factor(exposure, tuple(present)), *terms])
        fit = logistic(data[outcome].to_numpy(dtype=float), X, names, alpha=alpha)
        table, not_estimable = fit.table, fit.not_estimable
        if fit.separation:
            notes.append(f"separation: {fit.separation}")
        if not fit.converged:
            notes.append(f"the fit did not converge in {fit.iterations} iterations")
    except ValueError as error:
        notes.append(f"model not estimable: {error}")

    rows = []
    for label in levels.values():
        if label == reference:
            continue
        term = f"{exposure}[{label}]"
        row = {"exposure": exposure, "contrast": f"{label} - {reference}", "note": "; ".join(notes)}
        if term in not_estimable:
            row["note"] = "; ".join([f"not estimable: {not_estimable[term]}", *notes])
        if table is not None and term in table.index:
            fit_row = table.loc[term]
            row.update(
                estimate=np.exp(fit_row["estimate"]),
                se=fit_row["se"],
                ci_low=np.exp(fit_row["ci_low"]),
                ci_high=np.exp(fit_row["ci_high"]),
                p_value=fit_row["p_value"],
            )
        elif label not in present:
            row["note"] = "; ".join([f"no participant at level {label!r}", *notes])
        rows.append(row)
    common = {
        "trial": spec["id"],
        "outcome": outcome,
        "role": outcome_spec["role"],
        "analysis": "association",
        "estimand": "odds_ratio",
        "timepoint": timepoint,
        "analysis_set": analysis_set,
        "df": np.nan,
        "n": len(data),
        "n_obs": len(data),
        "method": method,
    }
    if model_n is not None:
        used = arm_counts(data.assign(arm=data[exposure]), list(levels.values()))
        model_n += model_n_rows(common, "association", used, "odds_ratio", timepoint, exposure)
    return effects_frame([{**common, **row} for row in rows]), counts_frame


def _data(scores, participants, timepoint, outcomes: list[str], covariates) -> pd.DataFrame:
    """One row per participant with every one of `outcomes` scored at `timepoint` and every
    covariate observed: the outcomes' scores beside the participants' columns."""
    chosen = scores[(scores["timepoint"] == timepoint) & scores["outcome"].isin(outcomes)]
    wide = chosen.pivot(index="participant_id", columns="outcome", values="score")
    wide = wide.reindex(columns=outcomes).dropna().reset_index()
    data = wide.merge(participants, on="participant_id", how="inner")
    adjust_columns = [c for c in covariates if c in data.columns]
    return data.dropna(subset=adjust_columns).reset_index(drop=True)


def run(spec: dict, *, paths: dict[str, str], alpha: float, outputs: dict[str, str]) -> None:
    """Rule entry: the configured outcome on each exposure (analyses.association), on every
    configured analysis set. ``paths``: scores, participants, sets; ``outputs``: effects,
    counts, model_n (the respondents each exposure's fit used, per level)."""
    from trialeval.io import read_analysis_data, set_members, write_csv

    options = spec["analyses"]["association"]
    scores, participants = read_analysis_data(paths["scores"], paths["participants"], paths["sets"])
    effects, counts, model_n = [], [], []
    for analysis_set in spec["analyses"]["analysis_sets"]:
        members = set_members(participants, analysis_set, options["outcome"])
        for exposure in options["exposures"]:
            frames = association_effects(
                scores,
                members,
                spec,
                outcome=options["outcome"],
                exposure=exposure,
                covariates=list(options["covariates"]),
                alpha=alpha,
                analysis_set=analysis_set,
                model_n=model_n,
            )
            effects.append(frames[0].assign(n_analysis_set=len(members)))
            counts.append(frames[1])
    write_csv(pd.concat(effects, ignore_index=True), outputs["effects"])
    write_csv(pd.concat(counts, ignore_index=True), outputs["counts"])
    write_csv(model_n_frame(model_n), outputs["model_n"])
