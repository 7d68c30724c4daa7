"""Linear mixed-effects models for randomized trials (design `rct`).

`model: repeated` (default): every visit including baseline,
    score ~ arm * visit + covariates [+ site] + (1 | participant)   [+ (1 | site) if random],
REML. Estimands per post-baseline visit and intervention arm: `diff_in_change` (the arm-by-visit
interaction) and `diff_in_means` (difference in model-estimated means at that visit, as emmeans
gives). Missing visits are left to the likelihood (MAR): every analysis-set participant with at
least one observed score is in the model, in the allocated arm.

`model: ancova`: post-baseline visits only, the participant's baseline score as a covariate,
    score ~ arm + baseline + visit + covariates [+ site] + (1 | participant),
estimand `adjusted_diff`. With one post visit there is no within-participant replication:
the rows are participants, so with `site: random` the model is score ~ arm + baseline +
covariates + (1 | site), the sites being the groups, and otherwise ordinary least squares
(stated in `method`). Participants without a baseline score cannot be adjusted for it and are
left out (counted in `note`).

Fits use the REML engine in trialeval.mixed; contrasts carry Satterthwaite df.

Columns of the fixed-effects design without data (an arm nobody of which is in the set or
observed, an arm-by-visit cell nobody was observed in) are dropped as lmer drops them; what
then cannot be estimated (emmeans' "nonEst": the contrasts and adjusted means needing them) is
reported as a row without an estimate whose `note` names the arm and visit without data.

`model: clda` (constrained longitudinal data analysis): every visit including baseline is the
response, as in `repeated`, but the arms share one baseline mean (randomization makes them
equal in expectation), so the arm enters only at the post-baseline visits:
    score ~ visit + arm:visit (post visits only) + covariates [+ site] + (1 | participant)
                                                                     [+ (1 | site) if random],
REML. The arm effect at a post visit (estimand `adjusted_diff`, analysis `clda`) is its
arm-by-visit coefficient: the difference in means at that visit, which under the constraint is
also the difference in change from baseline. Participants without a baseline score stay in the
model (their baseline is left to the likelihood), unlike `ancova`. Within-participant
correlation is a random intercept; with `covariance:` (unstructured, ...) the residual
covariance over every visit instead, fitted by the MMRM engine
(trialeval.models_mmrm.clda_covariance_effects).

`model: mmrm` (a mixed model for repeated measures, trialeval.mmrm) lives in
trialeval.models_mmrm.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from trialeval.delivery import GROUP
from trialeval.design import (
    Factor,
    Interaction,
    Numeric,
    average_row,
    covariate_terms,
    design_matrix,
)
from trialeval.effects import DIAGNOSTIC_COLUMNS, EFFECT_COLUMNS, MEANS_COLUMNS, effects_frame
from trialeval.formatting import participant_count
from trialeval.mixed import contrast, fit_reml
from trialeval.model_n import arm_counts, model_n_frame, model_n_rows
from trialeval.regression import drop_aliased, ols


def _model_data(scores, participants, spec, covariates, site, groups=False):
    """Observed scores joined to the analysis set's participants and covariates.

    Rows with a missing covariate cannot enter the model; they are dropped and counted."""
    keep = ["participant_id", "arm", *covariates]
    if site != "none":
        keep.append("site")
    if groups:
        keep.append(GROUP)
    data = scores[["participant_id", "timepoint", "score"]].merge(
        participants[keep], on="participant_id", how="inner", validate="m:1"
    )
    data = data[data["score"].notna()]
    complete = data[[*covariates, *(["site"] if site != "none" else [])]].notna().all(axis=1)
    dropped = int(data.loc[~complete, "participant_id"].nunique())
    return data[complete].reset_index(drop=True), dropped


def _terms(spec, data, covariates, site, *, with_visit: bool, interaction: bool):
    arms = [spec["control_arm"]] + [a["id"] for a in spec["arms"] if not a["control"]]
    arm = Factor("arm", tuple(arms))
    post = [tp["id"] for tp in spec["timepoints"] if not tp["baseline"]]
    visit = Factor("timepoint", tuple(([spec["baseline"]] if interaction else []) + post))
    cov_specs = [c for c in spec["covariates"] if c["name"] in covariates]
    adjust = covariate_terms(data, cov_specs, ("site",) if site == "fixed" else (), spec)
    terms = [arm]
    if with_visit:
        terms.append(visit)
    if interaction:
        terms.append(Interaction(arm, visit))
    return arm, visit, terms, adjust


def _vector(names: list[str], weights: dict[str, float]) -> np.ndarray:
    index = {name: j for j, name in enumerate(names)}
    vector = np.zeros(len(names))
    for name, weight in weights.items():
        if name in index:  # a level absent from the data contributes no column
            vector[index[name]] += weight
    return vector


def _method(kind: str, covariates, site, n_sites, groups: bool = False) -> str:
    """The model in words and as its formula (covariates joined by + as in the formula)."""
    adjust = "".join(f" + {term}" for term in [*covariates, *(["site"] if site == "fixed" else [])])
    site_term = " + (1 | site)" if site == "random" and n_sites else ""
    group_term = " + (0 + grouped_post | group)" if groups else ""
    random = "(1 | participant)" + group_term + site_term
    return {
        "repeated": f"LMM, REML: score ~ arm * visit{adjust} + {random}; Satterthwaite df",
        "clda": (
            "cLDA (constrained longitudinal data analysis; baseline means constrained equal "
            f"across arms), LMM, REML: score ~ visit + arm:post-visit{adjust} + {random}; "
            "Satterthwaite df"
        ),
        "ancova": (
            f"LMM, REML: score ~ arm + baseline + visit{adjust} + {random}; Satterthwaite df"
        ),
        "ancova_by_site": (
            "LMM, REML (one post visit, participants grouped by site): "
            f"score ~ arm + baseline{adjust} + (1 | site); Satterthwaite df"
        ),
        "ancova_by_group": (
            "LMM, REML (one post visit, participants grouped by delivery group): "
            f"score ~ arm + baseline{adjust} + (0 + grouped | group){site_term}; "
            "Satterthwaite df"
        ),
        "ols": f"OLS (one post visit): score ~ arm + baseline{adjust}",
    }[kind]


def _delivery(data: pd.DataFrame, spec: dict, groups: bool) -> tuple[dict, str]:
    """fit_reml's delivery-group arguments for the model rows (empty without groups), and a
    note when fewer than 2 groups are left in the data (the group term is then left out).

    The group term sits on a grouped participant's post-baseline rows: groups form when
    delivery starts, so baseline scores share no group effect."""
    if not groups:
        return {}, ""
    labels = data[GROUP].astype(str)
    if labels[labels != ""].nunique() < 2:
        return {}, "fewer than 2 delivery groups: no group random effect"
    post = (labels != "") & (data["timepoint"] != spec["baseline"])
    return {
        "delivery_groups": labels.to_numpy(object),
        "group_covariate": post.to_numpy(dtype=float),
    }, ""


def mixed_model_effects(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    spec: dict,
    outcome: dict,
    *,
    analysis_set: str,
    model: str = "repeated",
    site: str = "none",
    covariates: tuple[str, ...] = (),
    alpha: float = 0.05,
    covariance: str | None = None,
    df: str = "satterthwaite",
    groups: bool = False,
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Fit one outcome's mixed model on one analysis set.

    scores: long rows of this outcome (participant_id, timepoint, score); participants: the
    analysis set (participant_id, arm, site, covariates, delivery_group with `groups`).
    Returns (effects, adjusted means, diagnostics); a model that cannot be fitted yields rows
    whose `note` says why. `covariance` and `df` apply to model mmrm, and to model clda when
    `covariance` is not None (then the MMRM engine's residual covariance over every visit
    replaces the random intercept); `groups` adds the delivery-group term
    (trialeval.delivery) to models repeated, clda (random intercept) and ancova.
    `model_n`, if given, collects the participants the fit used per arm
    (trialeval.model_n.model_n_rows; every model).
    """
    if model == "mmrm" or (model == "clda" and covariance is not None):
        # Imported here: models_mmrm builds on this module's helpers.
        from trialeval.models_mmrm import clda_covariance_effects, mmrm_effects

        fit = mmrm_effects if model == "mmrm" else clda_covariance_effects
        return fit(
            scores,
            participants,
            spec,
            outcome,
            analysis_set=analysis_set,
            site=site,
            covariates=covariates,
            covariance=covariance or "unstructured",
            df=df,
            alpha=alpha,
            model_n=model_n,
        )
    m = _model_input(
        scores, participants, spec, outcome, analysis_set, model, site, covariates, groups
    )
    m.alpha = alpha
    if model_n is not None:
        analysis = {"repeated": "mixed_model"}.get(model, model)
        model_n += model_n_rows(
            m.base, analysis, arm_counts(m.data, [a["id"] for a in spec["arms"]])
        )
    if model == "ancova":
        return _ancova_effects(m)
    return _repeated_effects(m, clda=model == "clda")


def _model_input(
    scores, participants, spec, outcome, analysis_set, model, site, covariates, groups
):
    """What every random-intercept model of one outcome needs: the model rows (`data`, for
    ancova the post visits with the baseline score as a column), the rows' shared fields
    (`base`), the note of who was left out and of the random effects the data cannot carry."""
    covariates = list(covariates)
    if site != "none" and "site" not in participants:
        site = "none"
    base = {
        "trial": spec["id"],
        "outcome": outcome["id"],
        "role": outcome["role"],
        "analysis_set": analysis_set,
        "n_analysis_set": int(participants["participant_id"].nunique()),
    }
    groups = groups and GROUP in participants
    data, dropped = _model_data(scores, participants, spec, covariates, site, groups)
    note = f"{participant_count(dropped)} left out for missing covariates" if dropped else ""
    post = [tp["id"] for tp in spec["timepoints"] if not tp["baseline"]]
    if model == "ancova":
        data, no_baseline = _with_baseline_column(data, spec["baseline"])
        if no_baseline:
            note = _joined(note, f"{participant_count(no_baseline)} without a baseline score")
    n = int(data["participant_id"].nunique())
    n_sites = int(data["site"].nunique()) if site == "random" else None
    no_site_effect = ""
    if site == "random" and (n_sites or 0) < 2:
        no_site_effect = "fewer than 2 sites: no site random effect"
    elif model == "ancova" and len(post) == 1 and n_sites == n:
        # one row per participant: a site of one row cannot separate site from residual
        no_site_effect = "one participant per site: no site random effect"
    if no_site_effect:
        site, n_sites = "none", None
        note = _joined(note, no_site_effect)
    delivery, no_group_effect = _delivery(data, spec, groups)
    return SimpleNamespace(
        spec=spec,
        outcome=outcome,
        analysis_set=analysis_set,
        base=base,
        data=data,
        members=set(participants["arm"]),
        note=_joined(note, no_group_effect),
        post=post,
        intervention=[a["id"] for a in spec["arms"] if not a["control"]],
        control=spec["control_arm"],
        covariates=covariates,
        site=site,
        n_sites=n_sites,
        delivery=delivery,
        groups=bool(delivery),
        diagnostics={**base, "n": n, "n_obs": len(data), "n_sites": n_sites},
        alpha=0.05,
    )


def _joined(*notes: str) -> str:
    return "; ".join(filter(None, notes))


def _with_baseline_column(data: pd.DataFrame, baseline_id: str) -> tuple[pd.DataFrame, int]:
    """ancova's rows: the post visits, with the baseline score as a column; participants
    without one cannot be adjusted for it and are left out (their number returned)."""
    baseline = data.loc[data["timepoint"] == baseline_id, ["participant_id", "score"]]
    data = data[data["timepoint"] != baseline_id].merge(
        baseline.rename(columns={"score": "baseline_score"}), on="participant_id", how="left"
    )
    no_baseline = int(data.loc[data["baseline_score"].isna(), "participant_id"].nunique())
    return data[data["baseline_score"].notna()].reset_index(drop=True), no_baseline


def _row(m, analysis, estimand, contrast_id, timepoint, result, method, note) -> dict:
    n, n_obs = m.diagnostics["n"], m.diagnostics["n_obs"]
    return _contrast_row(
        m.base, analysis, estimand, contrast_id, timepoint, result, n, n_obs, method, note
    )


def _failed(m, reason: str, analysis: str, method: str):
    """Rows that say why the model could not be fitted; the run goes on."""
    if analysis == "mixed_model":
        estimands, timepoints = ["diff_in_change", "diff_in_means"], m.post
    elif analysis == "clda":
        estimands, timepoints = ["adjusted_diff"], m.post
    else:  # ancova: one arm effect, at the single post visit or over all of them
        estimands, timepoints = ["adjusted_diff"], [m.post[0] if len(m.post) == 1 else "all_post"]
    rows = [
        {
            **m.base,
            "analysis": analysis,
            "estimand": estimand,
            "contrast": f"{arm} - {m.control}",
            "timepoint": tp,
            "n": m.diagnostics["n"],
            "n_obs": m.diagnostics["n_obs"],
            "method": method,
            "note": _joined(m.note, f"not estimated: {reason}"),
        }
        for arm in m.intervention
        for tp in timepoints
        for estimand in estimands
    ]
    diag = {**m.diagnostics, "analysis": analysis, "method": method, "converged": False}
    diag["message"] = reason
    return effects_frame(rows), _means_frame([]), _diag_frame([diag])


def _ancova_kind(m, with_visit: bool) -> tuple[str, str | None, str | None, str | None]:
    """(kind, units, sites, label) of the ancova fit. One post visit: one row per
    participant, so no participant intercept; with site random the sites are the groups of a
    random-intercept LMM, otherwise it is OLS. With delivery groups and one post visit, the
    groups (and sites) are the levels."""
    if with_visit:
        return "ancova", "participant_id", "site", "participant"
    if m.groups:
        return "ancova_by_group", None, "site", "group"
    if m.site == "random":
        return "ancova_by_site", "site", None, "site"
    return "ols", None, None, None


def _ancova_effects(m):
    data, spec = m.data, m.spec
    with_visit = len(m.post) > 1
    _, _, terms, adjust = _terms(
        spec, data, m.covariates, m.site, with_visit=with_visit, interaction=False
    )
    terms = [terms[0], Numeric("baseline_score"), *terms[1:], *adjust]
    kind, units, sites, label = _ancova_kind(m, with_visit)
    method = _method(kind, m.covariates, m.site, m.n_sites, m.groups)
    timepoint = m.post[0] if len(m.post) == 1 else "all_post"
    if m.diagnostics["n"] == 0:
        return _failed(
            m, "no participant has a baseline and a post-baseline score", "ancova", method
        )
    X, names = design_matrix(data, terms)
    design = drop_aliased(X, names)
    y = data["score"].to_numpy(dtype=float)
    try:
        if kind == "ols":
            table = ols(y, design.X, design.names, alpha=m.alpha)
        else:
            fit = fit_reml(
                y,
                design.X,
                data[units].to_numpy() if units else None,
                sites=data[sites].to_numpy() if m.site == "random" and sites else None,
                column_names=design.names,
                group_label=label,
                **m.delivery,
            )
    except (ValueError, np.linalg.LinAlgError) as error:
        return _failed(m, str(error), "ancova", method)
    rows = []
    for a in m.intervention:
        weights = design.restrict(_vector(names, {f"arm[{a}]": 1.0}))
        if weights is None:
            cells = [(a, tp) for tp in m.post] + [(m.control, tp) for tp in m.post]
            result = NOT_ESTIMABLE
            row_note = _gap_note(spec, data, m.members, cells, m.note, "and a baseline score")
        elif kind == "ols":
            result, row_note = _ols_contrast(table, f"arm[{a}]"), m.note
        else:
            result, row_note = contrast(fit, weights, alpha=m.alpha), _fit_note(m.note, fit)
        rows.append(
            _row(
                m,
                "ancova",
                "adjusted_diff",
                f"{a} - {m.control}",
                timepoint,
                result,
                method,
                row_note,
            )
        )
    if kind == "ols":
        diag = {**m.diagnostics, "analysis": "ancova", "method": method}
        diag.update(converged=True, boundary=False, message="closed form")
        diag["sd_residual"] = table.attrs["sigma"]
    else:
        diag = _diagnostics(m.diagnostics, "ancova", method, fit)
        if kind == "ancova_by_site":  # the engine's groups are the sites here
            diag.update(sd_site=diag["sd_participant"], sd_participant=np.nan)
            diag.update(_iccs(np.nan, None, diag["sd_site"], diag["sd_residual"]))
    diag["message"] = _dropped_message(diag["message"], design)
    return effects_frame(rows), _means_frame([]), _diag_frame([diag])


def _repeated_effects(m, clda: bool):
    """Models repeated (arm * visit) and clda (no arm main effect: the arms share the
    baseline mean), every visit the response, a random participant intercept."""
    data, spec = m.data, m.spec
    arm, visit, terms, adjust = _terms(
        spec, data, m.covariates, m.site, with_visit=True, interaction=True
    )
    analysis = "clda" if clda else "mixed_model"
    if clda:
        terms = [t for t in terms if t is not arm]
    method = _method("clda" if clda else "repeated", m.covariates, m.site, m.n_sites, m.groups)
    if m.diagnostics["n"] == 0:
        return _failed(m, "no participant has an observed score", analysis, method)
    X, names = design_matrix(data, [*terms, *adjust])
    design = drop_aliased(X, names)
    try:
        fit = fit_reml(
            data["score"].to_numpy(dtype=float),
            design.X,
            data["participant_id"].to_numpy(),
            sites=data["site"].to_numpy() if m.site == "random" else None,
            column_names=design.names,
            **m.delivery,
        )
    except (ValueError, np.linalg.LinAlgError) as error:
        return _failed(m, str(error), analysis, method)
    fit_note = _fit_note(m.note, fit)

    def estimate(weights: dict[str, float], cells: list[tuple[str, str]]):
        """The contrast and its note; not estimable when the cells it needs have no data."""
        restricted = design.restrict(_vector(names, weights))
        if restricted is None:
            return NOT_ESTIMABLE, _gap_note(spec, data, m.members, cells, fit_note)
        return contrast(fit, restricted, alpha=m.alpha), fit_note

    rows = []
    baseline = spec["baseline"]
    for a in m.intervention:
        for tp in m.post:
            interaction = f"arm[{a}]:timepoint[{tp}]"
            if clda:  # the arm-by-visit coefficient is the whole effect at that visit
                results = [("adjusted_diff", estimate({interaction: 1.0}, [(a, tp)]))]
            else:
                cells = [(a, baseline), (a, tp), (m.control, baseline), (m.control, tp)]
                change = estimate({interaction: 1.0}, cells)
                means = estimate({f"arm[{a}]": 1.0, interaction: 1.0}, [(a, tp), (m.control, tp)])
                results = [("diff_in_change", change), ("diff_in_means", means)]
            for estimand, (result, row_note) in results:
                rows.append(
                    _row(m, analysis, estimand, f"{a} - {m.control}", tp, result, method, row_note)
                )
    means_rows = _adjusted_means(m, arm, visit, average_row(data, adjust), estimate, clda)
    diag = _diagnostics(m.diagnostics, analysis, method, fit)
    diag["message"] = _dropped_message(diag["message"], design)
    return effects_frame(rows), _means_frame(means_rows), _diag_frame([diag])


def _adjusted_means(m, arm, visit, setting: dict, estimate, clda: bool) -> list[dict]:
    """Adjusted means per arm per visit, covariates set as emmeans does by default; a cell
    without data has no estimable mean (NaN, n_observed 0), as emmeans' "nonEst". Each post
    visit's row also has the arm's mean change from baseline (change_* columns)."""
    baseline = m.spec["baseline"]
    observed = m.data.groupby(["arm", "timepoint"])["participant_id"].nunique()
    rows = []
    for a in arm.levels:
        cells = {}
        for tp in visit.levels:
            weights = {"Intercept": 1.0, **setting}
            if a != m.control and not clda:
                weights[f"arm[{a}]"] = 1.0
            if tp != baseline:
                weights[f"timepoint[{tp}]"] = 1.0
                if a != m.control:
                    weights[f"arm[{a}]:timepoint[{tp}]"] = 1.0
            cells[tp] = weights
        for tp, weights in cells.items():
            result, _ = estimate(weights, [(a, tp)])
            change = {}
            if tp != baseline:
                change_weights = change_from_baseline(weights, cells[baseline])
                change = change_columns(estimate(change_weights, [(a, baseline), (a, tp)])[0])
            rows.append(
                {
                    "trial": m.spec["id"],
                    "outcome": m.outcome["id"],
                    "analysis_set": m.analysis_set,
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


# A contrast the design cannot estimate (emmeans' "nonEst"): the row is kept, its note says why.
NOT_ESTIMABLE = SimpleNamespace(
    estimate=np.nan, se=np.nan, df=np.nan, ci_low=np.nan, ci_high=np.nan, p_value=np.nan
)


def change_from_baseline(visit: dict[str, float], baseline: dict[str, float]) -> dict[str, float]:
    """The weights of an arm's mean change from baseline: its mean at the visit minus its
    mean at baseline (same arm, same covariate setting), L(visit) - L(baseline)."""
    names = dict.fromkeys([*visit, *baseline])
    return {name: visit.get(name, 0.0) - baseline.get(name, 0.0) for name in names}


def change_columns(result) -> dict:
    """An adjusted-means row's change_* columns (CHANGE_COLUMNS) from the change's contrast."""
    return {
        f"change_{key}": getattr(result, key)
        for key in ("estimate", "se", "df", "ci_low", "ci_high")
    }


def _ols_contrast(table: pd.DataFrame, term: str) -> SimpleNamespace:
    row = table.loc[term]
    return SimpleNamespace(
        **{k: row[k] for k in ("estimate", "se", "df", "ci_low", "ci_high")}, p_value=row["p_value"]
    )


def _gap_note(spec: dict, data: pd.DataFrame, members, cells, note: str, extra: str = "") -> str:
    """Why a contrast over (arm, visit) cells is not estimable: an arm with nobody in the
    analysis set (`members`, its arm ids), or the cells without a score."""
    arm_labels = {a["id"]: a.get("label", a["id"]) for a in spec["arms"]}
    tp_labels = {tp["id"]: tp.get("label", tp["id"]) for tp in spec["timepoints"]}
    observed = set(zip(data["arm"], data["timepoint"], strict=True))
    seen_arms = set(data["arm"])
    with_extra = f" {extra}" if extra else ""
    reasons = []
    for a in dict.fromkeys(a for a, _ in cells):
        empty = [tp_labels[tp] for b, tp in cells if b == a and (a, tp) not in observed]
        if a not in members:
            reasons.append(f"no {arm_labels[a]} participant is in the analysis set")
        elif a not in seen_arms and not extra:  # no visit at all: naming them says nothing
            reasons.append(f"no {arm_labels[a]} participant has a score")
        elif empty:
            reasons.append(
                f"no {arm_labels[a]} participant has a score at {' or '.join(empty)}{with_extra}"
            )
    reason = "; ".join(reasons) or "aliased with other terms of the model"
    return "; ".join(filter(None, [note, f"not estimable: {reason}"]))


def _dropped_message(message: str, design) -> str:
    if not design.aliased:
        return message
    dropped = ", ".join(design.aliased)
    return "; ".join(filter(None, [message, f"columns without data dropped (as lmer): {dropped}"]))


def _fit_note(note: str, fit) -> str:
    extra = []
    if fit.boundary:
        extra.append("a variance component is estimated at zero (boundary fit)")
    if not fit.converged:
        extra.append(f"optimiser did not converge: {fit.message}")
    return "; ".join(filter(None, [note, *extra]))


def _contrast_row(
    base, analysis, estimand, contrast_label, timepoint, result, n, n_obs, method, note
) -> dict:
    return {
        **base,
        "analysis": analysis,
        "estimand": estimand,
        "contrast": contrast_label,
        "timepoint": timepoint,
        "estimate": result.estimate,
        "se": result.se,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "df": result.df,
        "p_value": result.p_value,
        "n": n,
        "n_obs": n_obs,
        "method": method,
        "note": note,
    }


def _diagnostics(diagnostics: dict, analysis: str, method: str, fit) -> dict:
    return {
        **diagnostics,
        "analysis": analysis,
        "method": method,
        "sd_participant": fit.sd_participant,
        "sd_site": fit.sd_site,
        "n_groups": fit.n_delivery_groups,
        "sd_group": fit.sd_group,
        **_iccs(fit.sd_participant, fit.sd_group, fit.sd_site, fit.sd_residual),
        "sd_residual": fit.sd_residual,
        "reml_loglik": fit.reml_loglik,
        "converged": fit.converged,
        "boundary": fit.boundary,
        "message": fit.message,
    }


def _iccs(sd_participant, sd_group, sd_site, sd_residual) -> dict:
    """Intraclass correlations of group and site: each one's share of the variance of one
    observation (for a group, a grouped participant's post-baseline score)."""
    parts = [sd_participant, sd_group, sd_site, sd_residual]
    total = sum(0.0 if v is None or np.isnan(v) else v**2 for v in parts)
    return {
        "icc_group": np.nan if sd_group is None else sd_group**2 / total,
        "icc_site": np.nan if sd_site is None else sd_site**2 / total,
    }


def _means_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=MEANS_COLUMNS)


def _diag_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=DIAGNOSTIC_COLUMNS)


def outcome_effects(
    spec: dict,
    outcome_id: str,
    paths: dict[str, str],
    alpha: float,
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One outcome's mixed model on every configured analysis set: (effects, means,
    diagnostics). ``paths``: the stage files scores, participants and sets; `model_n`
    collects each fit's participants per arm (mixed_model_effects)."""
    from trialeval.estimands import analysis_data
    from trialeval.io import in_set, set_members

    outcome = next(o for o in spec["outcomes"] if o["id"] == outcome_id)
    options = spec["analyses"]["mixed_model"]
    # the analysis's estimand: intercurrent-event strategies applied to the scores
    scores, participants = analysis_data(spec, paths, outcome_id)
    parts = []
    for analysis_set in spec["analyses"]["analysis_sets"]:
        members = set_members(participants, analysis_set, outcome_id)
        parts.append(
            mixed_model_effects(
                scores[in_set(scores["participant_id"], members["participant_id"])],
                members,
                spec,
                outcome,
                analysis_set=analysis_set,
                alpha=alpha,
                model_n=model_n,
                **model_arguments(options),
            )
        )
    return tuple(pd.concat(frames, ignore_index=True) for frames in zip(*parts, strict=True))


def model_arguments(options: dict) -> dict:
    """The model keywords of mixed_model_effects (and of the imputation analysis, which fits
    the same model) from a resolved mixed_model block."""
    return {
        "model": options["model"],
        "site": options["site"],
        "covariates": tuple(options["covariates"]),
        "covariance": options.get("covariance"),
        "df": options.get("df", "satterthwaite"),
        "groups": options.get("groups") is not None,
    }


def run(spec: dict, *, paths: dict[str, str], alpha: float, outputs: dict[str, str]) -> None:
    """Rule entry: the mixed model of every outcome the design fits one (a trial's fits share
    one job: a demo fit takes milliseconds, a job's start-up more than a second).
    ``outputs``: effects, means, diagnostics and model_n (participants per arm of each fit)."""
    from trialeval.config import outcome_analyses
    from trialeval.io import write_csv

    model_n: list[dict] = []
    fits = [
        outcome_effects(spec, outcome_id, paths, alpha, model_n)
        for outcome_id in outcome_analyses(spec)["mixed_model"]
    ]
    write_csv(model_n_frame(model_n), outputs["model_n"])
    tables = {"effects": EFFECT_COLUMNS, "means": MEANS_COLUMNS, "diagnostics": DIAGNOSTIC_COLUMNS}
    for i, (name, columns) in enumerate(tables.items()):
        frames = [fit[i] for fit in fits]
        write_csv(
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns),
            outputs[name],
        )
