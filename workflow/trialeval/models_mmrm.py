"""The models stage's `model: mmrm` branch: a mixed model for repeated measures.

Post-baseline visits, the participant's baseline score as a covariate with a visit-specific
slope, the residual covariance within participant of a configured structure (no random
effects), REML:

    score ~ arm * visit + baseline * visit + covariates [+ site],

visits categorical, in the trial file's order. Estimand `adjusted_diff` per post-baseline
visit and intervention arm: the LS-mean difference against control as emmeans computes it
(covariates at their means, factor levels weighted equally; the settings cancel in a
difference), with Satterthwaite or Kenward-Roger df. Adjusted means per arm per visit go to
the means table. Participants without a baseline score cannot enter a baseline-adjusted model:
they are left out and counted in `note`.

Convergence: an unstructured fit that fails falls back along FALLBACK (each structure needs
fewer parameters than the one before); the structure used is in `method`, and every attempt in
the diagnostics message.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from trialeval.design import Factor, Interaction, Numeric, average_row, design_matrix
from trialeval.effects import effects_frame
from trialeval.formatting import participant_count
from trialeval.mmrm import contrast, fit_mmrm
from trialeval.model_n import arm_counts, model_n_rows
from trialeval.models import (
    NOT_ESTIMABLE,
    _contrast_row,
    _diag_frame,
    _dropped_message,
    _gap_note,
    _means_frame,
    _model_data,
    _terms,
    _vector,
    change_columns,
    change_from_baseline,
)
from trialeval.regression import drop_aliased

FALLBACK = (
    "unstructured",
    "toeplitz_heterogeneous",
    "ar1_heterogeneous",
    "compound_symmetry_heterogeneous",
)
DF_WORDS = {"satterthwaite": "Satterthwaite df", "kenward_roger": "Kenward-Roger df (SAS ddfm=kr)"}


@dataclass(frozen=True)
class _NumericByVisit:
    """A numeric column times each non-reference visit indicator (baseline * visit slopes)."""

    column: str
    visit: Factor

    def names(self) -> list[str]:
        return [f"{self.column}:{name}" for name in self.visit.names()]

    def indicators(self, frame: pd.DataFrame) -> np.ndarray:
        values = frame[[self.column]].to_numpy(dtype=float)
        return values * self.visit.indicators(frame)


def _with_baseline(data: pd.DataFrame, baseline_visit: str) -> tuple[pd.DataFrame, int]:
    """Post-baseline rows with the participant's baseline score; participants who have a
    post-baseline score but no baseline score are dropped and counted."""
    baseline = data.loc[data["timepoint"] == baseline_visit, ["participant_id", "score"]]
    post = data[data["timepoint"] != baseline_visit].merge(
        baseline.rename(columns={"score": "baseline_score"}), on="participant_id", how="left"
    )
    missing = post["baseline_score"].isna()
    return post[~missing].reset_index(drop=True), int(post.loc[missing, "participant_id"].nunique())


def _candidates(covariance: str) -> tuple[str, ...]:
    return FALLBACK[FALLBACK.index(covariance) :] if covariance in FALLBACK else (covariance,)


def _fit_with_fallback(y, X, names, data, visits, covariance):
    """The first structure of the ladder that fits and converges; (fit or None, attempts)."""
    attempts = []
    for structure in _candidates(covariance):
        try:
            fit = fit_mmrm(
                y,
                X,
                data["participant_id"].to_numpy(),
                data["timepoint"].to_numpy(),
                covariance=structure,
                column_names=names,
                visits=visits,
            )
        except (ValueError, np.linalg.LinAlgError) as error:
            attempts.append(f"{structure}: {error}")
            continue
        attempts.append(f"{structure}: {fit.message}")
        if fit.converged:
            return fit, attempts
    return None, attempts


def _fit_design(data: pd.DataFrame, terms: list, visits, covariance: str):
    """(fit or None, what each attempt said, kept design, every column name) of the
    terms' design matrix (aliased columns dropped) under the fallback ladder."""
    X, names = design_matrix(data, terms)
    design = drop_aliased(X, names)
    try:
        fit, attempts = _fit_with_fallback(
            data["score"].to_numpy(dtype=float), design.X, design.names, data, visits, covariance
        )
    except ValueError as error:  # e.g. a visit no one attended
        return None, [str(error)], design, names
    return fit, attempts, design, names


def _method(covariates, site, structure, requested, df, n_visits) -> str:
    adjust = ", ".join([*covariates, *(["site (fixed)"] if site == "fixed" else [])])
    text = "MMRM, REML: score ~ arm * visit + baseline * visit" + (f" + {adjust}" if adjust else "")
    if n_visits == 1:
        text += "; one post-baseline visit: a single residual variance (the ANCOVA, by OLS)"
    else:
        text += f"; {structure} covariance within participant"
        if structure != requested:
            text += f" ({requested} did not converge)"
    return f"{text}; {DF_WORDS[df]}"


def mmrm_effects(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    spec: dict,
    outcome: dict,
    *,
    analysis_set: str,
    site: str = "none",
    covariates: tuple[str, ...] = (),
    covariance: str = "unstructured",
    df: str = "satterthwaite",
    alpha: float = 0.05,
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Fit one outcome's MMRM on one analysis set; (effects, adjusted means, diagnostics),
    with rows saying why when no structure of the ladder can be fitted. `model_n`, if given,
    collects the participants the fit used per arm (trialeval.model_n.model_n_rows)."""
    covariates = list(covariates)
    if site != "none" and "site" not in participants:
        site = "none"
    if site == "random":  # refused by the config check; a direct caller gets the same answer
        raise ValueError("model mmrm takes site fixed or none, not random")
    m = _mmrm_data(scores, participants, spec, outcome, analysis_set, covariates, site)
    if model_n is not None:
        model_n += model_n_rows(m.base, "mmrm", arm_counts(m.data, [a["id"] for a in spec["arms"]]))
    diagnostics = {**m.base, "n": m.n, "n_obs": m.n_obs, "n_sites": None, "analysis": "mmrm"}

    fit, attempts = None, ["no post-baseline scores with a baseline score"]
    if m.n_obs:
        fit, attempts, design, names = _fit_design(m.data, m.terms, m.visit.levels, covariance)
    if fit is None:
        method = _method(covariates, site, covariance, covariance, df, len(m.visit.levels))
        rows = _mmrm_unfitted_rows(m, method, attempts[-1])
        diag = {**diagnostics, "method": method, "converged": False, "covariance": covariance}
        diag["message"] = " | ".join(attempts)
        return effects_frame(rows), _means_frame([]), _diag_frame([diag])

    method = _method(covariates, site, fit.structure, covariance, df, len(m.visit.levels))
    effects_rows = _mmrm_effect_rows(m, fit, design, names, method, df, alpha)
    means_rows = _adjusted_means(
        fit, design, names, m.data, m.arm, m.visit, m.adjust, {**m.base, "df": df}, alpha
    )
    diag = {
        **diagnostics,
        "method": method,
        "sd_residual": float(np.sqrt(np.mean(np.diag(fit.covariance)))),
        "reml_loglik": fit.reml_loglik,
        "converged": True,
        "boundary": False,
        "covariance": fit.structure,
        "message": _dropped_message(" | ".join(attempts), design),
    }
    return effects_frame(effects_rows), _means_frame(means_rows), _diag_frame([diag])


def _mmrm_data(scores, participants, spec, outcome, analysis_set, covariates, site):
    """The MMRM's rows (post visits of participants with a baseline score and complete
    covariates, the baseline score a column), terms and the note of who was left out."""
    base = {
        "trial": spec["id"],
        "outcome": outcome["id"],
        "role": outcome["role"],
        "analysis_set": analysis_set,
        "n_analysis_set": int(participants["participant_id"].nunique()),
    }
    data, dropped = _model_data(scores, participants, spec, covariates, site)
    data, no_baseline = _with_baseline(data, spec["baseline"])
    notes = [f"{participant_count(dropped)} left out for missing covariates" if dropped else ""]
    if no_baseline:
        notes.append(f"{participant_count(no_baseline)} without a baseline score left out")
    arm, visit, terms, adjust = _terms(
        spec, data, covariates, site, with_visit=True, interaction=False
    )
    # A visit nobody attended has no covariance parameters to estimate: it leaves the model
    # and its rows say so; an arm (or arm-by-visit cell) without data loses its columns as
    # in the other models, and what needed them is reported not estimable.
    spec_visits = list(visit.levels)
    empty_visits = [v for v in visit.levels if v not in set(data["timepoint"])]
    if empty_visits and len(empty_visits) < len(visit.levels):
        visit = Factor("timepoint", tuple(v for v in visit.levels if v not in empty_visits))
        terms = [arm, visit]
    terms = [*terms, Interaction(arm, visit), Numeric("baseline_score")]
    terms += [_NumericByVisit("baseline_score", visit), *adjust]
    return SimpleNamespace(
        spec=spec,
        base=base,
        data=data,
        members=set(participants["arm"]),
        note="; ".join(filter(None, notes)),
        arm=arm,
        visit=visit,
        terms=terms,
        adjust=adjust,
        spec_visits=spec_visits,
        empty_visits=empty_visits,
        n=int(data["participant_id"].nunique()),
        n_obs=len(data),
    )


def _mmrm_unfitted_rows(m, method: str, reason: str) -> list[dict]:
    """One effects row per intervention arm and visit, no numbers: `reason` says why."""
    return [
        {
            **m.base,
            "analysis": "mmrm",
            "estimand": "adjusted_diff",
            "contrast": f"{a} - {m.arm.levels[0]}",
            "timepoint": tp,
            "n": m.n,
            "n_obs": m.n_obs,
            "method": method,
            "note": "; ".join(filter(None, [m.note, f"not estimated: {reason}"])),
        }
        for a in m.arm.levels[1:]
        for tp in m.spec_visits
    ]


def _mmrm_effect_rows(m, fit, design, names, method, df, alpha) -> list[dict]:
    """The arm difference in LS means at each visit; not estimable (with a note naming the
    cells without data) at a visit nobody attended or where the design lost its columns."""
    control = m.arm.levels[0]
    rows = []
    for a in m.arm.levels[1:]:
        for tp in m.spec_visits:
            weights = design.restrict(
                _vector(names, {f"arm[{a}]": 1.0, f"arm[{a}]:timepoint[{tp}]": 1.0})
            )
            if tp in m.empty_visits or weights is None:
                cells = [(a, tp), (control, tp)]
                result = NOT_ESTIMABLE
                row_note = _gap_note(
                    m.spec, m.data, m.members, cells, m.note, "and a baseline score"
                )
            else:
                result, row_note = contrast(fit, weights, df=df, alpha=alpha), m.note
            rows.append(
                _contrast_row(
                    m.base,
                    "mmrm",
                    "adjusted_diff",
                    f"{a} - {control}",
                    tp,
                    result,
                    m.n,
                    m.n_obs,
                    method,
                    row_note,
                )
            )
    return rows


def _adjusted_means(fit, design, names, data, arm, visit, adjust, base, alpha) -> list[dict]:
    """LS means per arm per post visit, covariates (and the baseline score) at their mean over
    the model's rows and factor levels weighted equally, as emmeans sets them; a cell without
    data has no estimable mean (NaN, n_observed 0)."""
    setting = {"Intercept": 1.0, **average_row(data, [Numeric("baseline_score"), *adjust])}
    observed = data.groupby(["arm", "timepoint"])["participant_id"].nunique()
    rows = []
    for a in arm.levels:
        for tp in visit.levels:
            weights = dict(setting)
            weights.update({f"arm[{a}]": 1.0, f"arm[{a}]:timepoint[{tp}]": 1.0})
            weights[f"timepoint[{tp}]"] = 1.0
            weights[f"baseline_score:timepoint[{tp}]"] = setting["baseline_score"]
            restricted = design.restrict(_vector(names, weights))
            result = (
                NOT_ESTIMABLE
                if restricted is None
                else contrast(fit, restricted, df=base["df"], alpha=alpha)
            )
            rows.append(
                {
                    "trial": base["trial"],
                    "outcome": base["outcome"],
                    "analysis_set": base["analysis_set"],
                    "arm": a,
                    "timepoint": tp,
                    "estimate": result.estimate,
                    "se": result.se,
                    "df": result.df,
                    "ci_low": result.ci_low,
                    "ci_high": result.ci_high,
                    "n_observed": int(observed.get((a, tp), 0)),
                }
            )
    return rows


def _clda_method(covariates, site, structure, requested, df) -> str:
    adjust = "".join(f" + {c}" for c in [*covariates, *(["site"] if site == "fixed" else [])])
    text = (
        "cLDA (constrained longitudinal data analysis; baseline means constrained equal across "
        f"arms), REML: score ~ visit + arm:post-visit{adjust}; {structure} covariance within "
        "participant over every visit, baseline included"
    )
    if structure != requested:
        text += f" ({requested} did not converge)"
    return f"{text}; {DF_WORDS[df]}"


def clda_covariance_effects(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    spec: dict,
    outcome: dict,
    *,
    analysis_set: str,
    site: str = "none",
    covariates: tuple[str, ...] = (),
    covariance: str = "unstructured",
    df: str = "satterthwaite",
    alpha: float = 0.05,
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """`model: clda` with a `covariance:` structure: every visit (baseline included) is the
    response, the arms share the baseline mean (no baseline arm term), and the residual
    covariance over all visits is the configured structure (the MMRM engine, no random
    effects, with its fallback ladder):

        score ~ visit + arm:visit (post visits only) + covariates [+ site],

    estimand `adjusted_diff` per post visit and arm (its arm-by-visit coefficient), analysis
    `clda`. Participants without a baseline score stay in (the likelihood uses what they have).
    Returns (effects, adjusted means, diagnostics); when no structure of the ladder can be
    fitted, effects rows that say why, no means, and every attempt in the diagnostics.
    `model_n`, if given, collects the participants the fit used per arm.
    """
    covariates = list(covariates)
    if site != "none" and "site" not in participants:
        site = "none"
    if site == "random":  # refused by the config check; a direct caller gets the same answer
        raise ValueError("model clda with a covariance structure takes site fixed or none")
    model = _clda_data(scores, participants, spec, outcome, analysis_set, covariates, site)
    if model_n is not None:
        arms = [a["id"] for a in spec["arms"]]
        model_n += model_n_rows(model.base, "clda", arm_counts(model.data, arms))
    diagnostics = {
        **model.base,
        "n": model.n,
        "n_obs": model.n_obs,
        "n_sites": None,
        "analysis": "clda",
    }
    fitted, attempts = _fit_clda(model, covariance)
    if fitted is None:
        method = _clda_method(covariates, site, covariance, covariance, df)
        rows = _clda_unfitted_rows(model, method, attempts[-1])
        diag = {**diagnostics, "method": method, "converged": False, "covariance": covariance}
        diag["message"] = " | ".join(attempts)
        return effects_frame(rows), _means_frame([]), _diag_frame([diag])

    method = _clda_method(covariates, site, fitted.fit.structure, covariance, df)
    effects_rows = _clda_effect_rows(model, fitted, method, df, alpha)
    means_rows = _clda_mean_rows(model, fitted, df, alpha)
    diag = {
        **diagnostics,
        "method": method,
        "sd_residual": float(np.sqrt(np.mean(np.diag(fitted.fit.covariance)))),
        "reml_loglik": fitted.fit.reml_loglik,
        "converged": True,
        "boundary": False,
        "covariance": fitted.fit.structure,
        "message": _dropped_message(" | ".join(attempts), fitted.design),
    }
    return effects_frame(effects_rows), _means_frame(means_rows), _diag_frame([diag])


@dataclass(frozen=True, eq=False)
class _CldaData:
    """One outcome's cLDA model before the fit: its rows and terms, and what every row says."""

    spec: dict
    base: dict  # the columns every effects and diagnostics row starts with
    data: pd.DataFrame  # the model's rows: every visit, baseline included
    members: set  # the arms someone in the analysis set is in
    note: str  # the participants left out, for every effects row ("" when none)
    arm: Factor  # control first
    visit: Factor  # the visits in the model (every visit but those nobody attended)
    adjust: list  # the covariate (and fixed site) terms
    post: list[str]  # the post-baseline visits of the trial, attended or not: one row each
    empty_visits: list[str]  # visits nobody attended: their rows are not estimable
    n: int  # participants in the model
    n_obs: int  # observations in the model


@dataclass(frozen=True, eq=False)
class _FittedClda:
    """A converged cLDA fit with its design: `names` are every column of the design matrix,
    `design` the columns kept once aliased ones are dropped (trialeval.regression)."""

    fit: object
    design: object
    names: list[str]

    def weights(self, coefficients: dict[str, float]) -> np.ndarray | None:
        """A linear function {column: weight} over the kept columns; None if not estimable."""
        return self.design.restrict(_vector(self.names, coefficients))

    def estimate(self, coefficients: dict[str, float], df: str, alpha: float):
        """The linear function's estimate, SE, df and CI (NOT_ESTIMABLE when it is not)."""
        weights = self.weights(coefficients)
        return NOT_ESTIMABLE if weights is None else contrast(self.fit, weights, df=df, alpha=alpha)


def _clda_data(scores, participants, spec, outcome, analysis_set, covariates, site) -> _CldaData:
    """The cLDA's rows (scores of the analysis set's participants with complete covariates)
    and terms; a visit nobody attended has no covariance parameters, so it leaves the model
    (unless no visit was attended) and its rows say so."""
    base = {
        "trial": spec["id"],
        "outcome": outcome["id"],
        "role": outcome["role"],
        "analysis_set": analysis_set,
        "n_analysis_set": int(participants["participant_id"].nunique()),
    }
    data, dropped = _model_data(scores, participants, spec, covariates, site)
    arm, visit, _, adjust = _terms(spec, data, covariates, site, with_visit=True, interaction=True)
    post = [v for v in visit.levels if v != spec["baseline"]]
    empty_visits = [v for v in visit.levels if v not in set(data["timepoint"])]
    if empty_visits and len(empty_visits) < len(visit.levels):
        visit = Factor("timepoint", tuple(v for v in visit.levels if v not in empty_visits))
    return _CldaData(
        spec=spec,
        base=base,
        data=data,
        members=set(participants["arm"]),
        note=f"{participant_count(dropped)} left out for missing covariates" if dropped else "",
        arm=arm,
        visit=visit,
        adjust=adjust,
        post=post,
        empty_visits=empty_visits,
        n=int(data["participant_id"].nunique()),
        n_obs=len(data),
    )


def _fit_clda(model: _CldaData, covariance: str) -> tuple[_FittedClda | None, list[str]]:
    """score ~ visit + arm:visit + adjust, fitted with the first structure of the fallback
    ladder that converges; (fitted or None, what each attempt said)."""
    if not model.n_obs:
        return None, ["no scores"]
    if model.spec["baseline"] not in model.visit.levels:
        return None, ["no baseline scores"]
    # arm:visit has no baseline columns (its reference level): the arms share the baseline mean
    terms = [model.visit, Interaction(model.arm, model.visit), *model.adjust]
    fit, attempts, design, names = _fit_design(model.data, terms, model.visit.levels, covariance)
    return (None if fit is None else _FittedClda(fit, design, names)), attempts


def _clda_unfitted_rows(model: _CldaData, method: str, reason: str) -> list[dict]:
    """One effects row per intervention arm and post visit, no numbers: `reason` says why."""
    control = model.arm.levels[0]
    return [
        {
            **model.base,
            "analysis": "clda",
            "estimand": "adjusted_diff",
            "contrast": f"{a} - {control}",
            "timepoint": tp,
            "n": model.n,
            "n_obs": model.n_obs,
            "method": method,
            "note": "; ".join(filter(None, [model.note, f"not estimated: {reason}"])),
        }
        for a in model.arm.levels[1:]
        for tp in model.post
    ]


def _clda_effect_rows(model: _CldaData, fitted: _FittedClda, method, df, alpha) -> list[dict]:
    """`adjusted_diff` per intervention arm and post visit: the arm-by-visit coefficient (the
    arms share the baseline mean). A visit nobody attended, or an aliased coefficient, is not
    estimable and its note says which cell had no scores."""
    control = model.arm.levels[0]
    rows = []
    for a in model.arm.levels[1:]:
        for tp in model.post:
            weights = fitted.weights({f"arm[{a}]:timepoint[{tp}]": 1.0})
            if tp in model.empty_visits or weights is None:
                result = NOT_ESTIMABLE
                note = _gap_note(model.spec, model.data, model.members, [(a, tp)], model.note)
            else:
                result, note = contrast(fitted.fit, weights, df=df, alpha=alpha), model.note
            label = f"{a} - {control}"
            rows.append(
                _contrast_row(
                    model.base,
                    "clda",
                    "adjusted_diff",
                    label,
                    tp,
                    result,
                    model.n,
                    model.n_obs,
                    method,
                    note,
                )
            )
    return rows


def _clda_mean_rows(model: _CldaData, fitted: _FittedClda, df, alpha) -> list[dict]:
    """Adjusted means per arm per visit, covariates at their mean over the model's rows and
    factor levels weighted equally (as emmeans sets them); one baseline mean shared by the
    arms. A post visit's row also has the arm's mean change from baseline (change_* columns)."""
    setting = {"Intercept": 1.0, **average_row(model.data, model.adjust)}
    observed = model.data.groupby(["arm", "timepoint"])["participant_id"].nunique()
    baseline = model.spec["baseline"]
    rows = []
    for a in model.arm.levels:
        cells = {}
        for tp in model.visit.levels:
            weights = dict(setting)
            if tp != baseline:
                weights.update({f"timepoint[{tp}]": 1.0, f"arm[{a}]:timepoint[{tp}]": 1.0})
            cells[tp] = weights
        for tp, weights in cells.items():
            result = fitted.estimate(weights, df, alpha)
            change = {}
            if tp != baseline:
                change_weights = change_from_baseline(weights, cells[baseline])
                change = change_columns(fitted.estimate(change_weights, df, alpha))
            rows.append(
                {
                    "trial": model.base["trial"],
                    "outcome": model.base["outcome"],
                    "analysis_set": model.base["analysis_set"],
                    "arm": a,
                    "timepoint": tp,
                    "estimate": result.estimate,
                    "se": result.se,
                    "df": result.df,
                    "ci_low": result.ci_low,
                    "ci_high": result.ci_high,
                    "n_observed": int(observed.get((a, tp), 0)),
                    **change,
                }
            )
    return rows
