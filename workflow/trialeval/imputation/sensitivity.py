"""Delta-adjusted multiple imputation and the tipping point, for any analysis and for the
project's primary mixed model.

Every delta of a grid is analysed on imputations made from the same random draws (common
random numbers, see `engine.impute`): the imputations for delta d are those for 0 shifted
(or, with `propagate`, drawn from the same variates), so the pooled estimate moves smoothly
with delta instead of jumping with fresh Monte Carlo noise at each grid point, and the
tipping point does not depend on which grid point happened to draw favourably.

The tipping point is read off the grid: the result under MAR (delta 0, always computed and
included in the table) gives the conclusion (P < alpha or not); the tipping point is the
delta of smallest absolute value in the grid at which the conclusion changes, i.e. at which
P reaches alpha (or, for a result not significant under MAR, falls below it). None, with a
note, when no delta of the grid changes it. There is no interpolation between grid points.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from trialeval.imputation.engine import (
    ImputationData,
    completed_frames,
    imputation_data,
    impute,
)
from trialeval.imputation.rubin import pool

__all__ = [
    "TIPPING_COLUMNS",
    "completed_by_delta",
    "find_tipping_point",
    "mixed_model_imputation",
    "tipping_point",
]

POOLED_COLUMNS = [
    "estimate",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "p_value",
    "within",
    "between",
    "total",
    "riv",
    "fmi",
    "dfcom",
    "m",
]
TIPPING_COLUMNS = ["delta", *POOLED_COLUMNS, "note"]


def _grid(deltas: Iterable[float]) -> list[float]:
    """The delta grid, sorted, with 0 (MAR, the reference) included."""
    grid = sorted({float(d) for d in deltas} | {0.0})
    if not all(np.isfinite(grid)):
        raise ValueError(f"delta values must be finite numbers, got {grid}")
    return grid


def completed_by_delta(
    data: ImputationData,
    deltas: Iterable[float],
    *,
    m: int,
    seed: int,
    propagate: bool = False,
    iterations: int = 10,
) -> Iterator[tuple[float, np.ndarray]]:
    """(delta, completed (m, n, T) array) for each delta of the grid (sorted, 0 included),
    all from the same random draws."""
    grid = _grid(deltas)
    if propagate:  # the shift feeds later visits' draws: impute again, from the same variates
        options = {"propagate": True, "iterations": iterations}
        for delta in grid:
            yield delta, impute(data, m=m, seed=seed, delta=delta, **options)
        return
    base = impute(data, m=m, seed=seed, iterations=iterations)
    moved = data.missing & data.shifted[:, None]
    moved[:, 0] = False  # the baseline is never shifted
    for delta in grid:
        yield delta, base + delta * moved


def _pool_or_note(estimates, ses, dfs, dfcom, alpha) -> tuple[dict, str]:
    """Pooled values (NaN when some imputation has no estimate) and a note saying why."""
    q, se, df = (np.asarray(v, dtype=float) for v in (estimates, ses, dfs))
    bad = ~(np.isfinite(q) & np.isfinite(se) & (se > 0))
    if bad.any():
        empty = dict.fromkeys(POOLED_COLUMNS, np.nan) | {"m": len(q)}
        return empty, f"not estimated in {int(bad.sum())} of {len(q)} imputations"
    if dfcom is None:
        dfcom = float(np.mean(df)) if np.isfinite(df).all() else np.inf
    pooled = pool(q, se**2, dfcom=dfcom, alpha=alpha).as_dict()
    return {k: pooled[k] for k in POOLED_COLUMNS}, ""


def find_tipping_point(table: pd.DataFrame, alpha: float = 0.05) -> tuple[float | None, str]:
    """The tipping point of a pooled-by-delta table (columns delta, p_value): the delta of
    smallest |delta| at which the MAR conclusion (P < alpha at delta 0) changes, and a note."""
    rows = table.dropna(subset=["p_value"])
    reference = rows[rows["delta"] == 0.0]
    if reference.empty:
        return None, "no tipping point: no pooled result under MAR (delta 0)"
    significant = bool(reference["p_value"].iloc[0] < alpha)
    changed = rows[(rows["p_value"] < alpha) != significant]
    low, high = table["delta"].min(), table["delta"].max()
    if changed.empty:
        state = "below" if significant else "at or above"
        return None, f"P stays {state} {alpha:g} at every delta from {low:g} to {high:g}"
    order = np.lexsort((changed["delta"].to_numpy(), changed["delta"].abs().to_numpy()))
    delta = float(changed["delta"].iloc[order[0]])
    if significant:
        return delta, f"P reaches {alpha:g} at delta {delta:g}"
    return delta, f"not significant under MAR; P falls below {alpha:g} at delta {delta:g}"


def tipping_point(
    analyse: Callable[[pd.DataFrame], tuple[float, float, float]],
    data: ImputationData,
    deltas: Iterable[float],
    *,
    m: int,
    seed: int,
    alpha: float = 0.05,
    propagate: bool = False,
    iterations: int = 10,
    dfcom: float | None = None,
) -> tuple[pd.DataFrame, float | None, str]:
    """Delta-adjusted MI of one contrast: (table, tipping point, note).

    `analyse` fits one completed long score frame (see `completed_frames`) and returns the
    contrast's (estimate, se, df). The table has a row per delta (the grid sorted, 0
    included): delta, the pooled estimate, se, df, ci_low, ci_high, p_value, within, between,
    total, riv, fmi, dfcom, m and a note. `dfcom`: the complete-data df for Barnard-Rubin;
    None takes the mean of the df `analyse` returns on the m completed data sets.
    """
    rows = []
    for delta, completed in completed_by_delta(
        data, deltas, m=m, seed=seed, propagate=propagate, iterations=iterations
    ):
        fits = [analyse(frame) for frame in completed_frames(data, completed)]
        pooled, note = _pool_or_note(*zip(*fits, strict=True), dfcom, alpha)
        rows.append({"delta": delta, **pooled, "note": note})
    table = pd.DataFrame(rows, columns=TIPPING_COLUMNS)
    tipping, note = find_tipping_point(table, alpha)
    return table, tipping, note


KEY = ["analysis", "estimand", "contrast", "timepoint"]
MI_COLUMNS = [
    "trial",
    "outcome",
    "role",
    "analysis_set",
    *KEY,
    "delta",
    *POOLED_COLUMNS,
    "n",
    "n_obs",
    "n_analysis_set",
    "method",
    "note",
]


def mixed_model_imputation(
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
    covariance: str = "unstructured",
    df: str = "satterthwaite",
    groups: bool = False,
    m: int = 50,
    seed: int = 1,
    deltas: Iterable[float] = (0.0,),
    propagate: bool = False,
    iterations: int = 10,
    dfcom: str = "completed",
    exclude: pd.DataFrame | None = None,
    refit: bool = True,
    model_n: list[dict] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The primary mixed model (`models.mixed_model_effects`, same arguments) on m
    delta-adjusted imputations per delta, pooled by Rubin's rules: (pooled, tipping).

    The imputation conditions on the model's covariates, and on site as a factor when the
    model has site (fixed or random). `dfcom`: "completed" (the model's Satterthwaite df of
    each contrast on the completed data, averaged over the m imputations) or "observed" (its
    df in the primary fit on the observed data, smaller and so more conservative).
    `exclude` (participant_id, timepoint rows): cells removed from every completed data set
    before it is analysed, imputed or not (a while-on-treatment strategy's visits after the
    event: imputed as part of the trajectory, never analysed).
    `refit` (model repeated without delivery groups): the completed data sets share every
    row but the score, so the design is built once and only the REML fit and contrasts are
    redone per data set (`_repeated_refitter`); the numbers are those of the full call
    (tests/test_imputation.py), the rows' notes those of each delta's first data set.
    pooled: one row per delta and contrast (MI_COLUMNS); tipping: per contrast the tipping
    point (`tipping_delta`, NaN when none) and its note. `model_n`, if given, collects the
    participants per arm of the first completed data set's fit (trialeval.model_n): every
    completed data set has the same participants, those the pooled rows' n counts.
    """
    from trialeval.models import mixed_model_effects  # models imports a lot; keep it lazy

    def fit(frame, collect=None):
        effects, _, _ = mixed_model_effects(
            frame,
            participants,
            spec,
            outcome,
            analysis_set=analysis_set,
            model=model,
            site=site,
            covariates=tuple(covariates),
            alpha=alpha,
            covariance=covariance,
            df=df,
            groups=groups,
            model_n=collect,
        )
        return effects.set_index(KEY)

    if dfcom not in ("completed", "observed"):
        raise ValueError(f"dfcom must be 'completed' or 'observed', got {dfcom!r}")
    data = imputation_data(
        scores, participants, spec, covariates=tuple(covariates), site=site != "none"
    )
    observed_df = fit(scores)["df"] if dfcom == "observed" else None
    mi = (
        f"multiple imputation under MAR by arm (m = {m}, seed {seed}), Rubin's rules, "
        "Barnard-Rubin df"
    )

    def shift_words(delta: float) -> str:
        if delta == 0.0:
            return ""
        carried = " and carried into later visits" if propagate else ""
        return (
            f"; imputed values of the intervention arms shifted by {delta:g} at every post "
            f"visit{carried}"
        )

    keep = _keep_cells(exclude)
    fast, collect = None, model_n
    notes = "; ".join(data.notes)
    rows = []
    for delta, completed in completed_by_delta(
        data, deltas, m=m, seed=seed, propagate=propagate, iterations=iterations
    ):
        frames = [f if keep is None else f[keep(f)] for f in completed_frames(data, completed)]
        first = fit(frames[0], collect)
        collect = None  # the first delta's first data set: the participants of every one
        if fast is None and refit and model == "repeated" and not groups:
            fast = _repeated_refitter(frames[0], participants, spec, site, covariates, alpha)
        if fast is not None and list(first.index) == fast.keys:
            values = np.stack([fast(frame) for frame in frames])  # (m, contrasts, 3)
        else:
            fits = [first, *(fit(frame) for frame in frames[1:])]
            values = np.stack([f[["estimate", "se", "df"]].to_numpy(float) for f in fits])
        for k, key in enumerate(first.index):
            per = pd.DataFrame(values[:, k, :], columns=["estimate", "se", "df"])
            given = None
            if observed_df is not None:
                given = observed_df.get(key, np.nan)
                given = float(given) if np.isfinite(given) else None
            pooled, note = _pool_or_note(per["estimate"], per["se"], per["df"], given, alpha)
            row = first.loc[key]
            fit_note = row["note"] if isinstance(row["note"], str) else ""
            rows.append(
                {
                    **{k: row[k] for k in ("trial", "outcome", "role", "analysis_set")},
                    **dict(zip(KEY, key, strict=True)),
                    "delta": delta,
                    **pooled,
                    **{k: row[k] for k in ("n", "n_obs", "n_analysis_set")},
                    "method": f"{row['method']}; {mi}{shift_words(delta)}",
                    "note": "; ".join(filter(None, [notes, fit_note, note])),
                }
            )
    pooled = pd.DataFrame(rows, columns=MI_COLUMNS)
    tipping = []
    for key, table in pooled.groupby(KEY, sort=False):
        delta, note = find_tipping_point(table, alpha)
        tipping.append({**dict(zip(KEY, key, strict=True)), "tipping_delta": delta, "note": note})
    tipping = pd.DataFrame(tipping, columns=[*KEY, "tipping_delta", "note"])
    tipping["tipping_delta"] = tipping["tipping_delta"].astype(float)
    return pooled, tipping


def _keep_cells(exclude: pd.DataFrame | None):
    """None when nothing is excluded, else a function giving the mask of a completed frame's
    rows to keep."""
    if exclude is None or not len(exclude):
        return None
    out = set(zip(exclude["participant_id"], exclude["timepoint"], strict=True))

    def keep(frame: pd.DataFrame) -> np.ndarray:
        pairs = zip(frame["participant_id"], frame["timepoint"], strict=True)
        return np.array([p not in out for p in pairs], dtype=bool)

    return keep


def _repeated_refitter(template, participants, spec, site, covariates, alpha):
    """For model repeated: a function of a completed score frame laid out as `template`
    (same participant and visit per row) giving its contrasts' (estimate, se, df), in the
    order of `models.mixed_model_effects` (attribute `keys`). The design (merge, covariate
    coding, aliased columns, contrast vectors) is built once from `template` with the steps
    of that function; a frame with another layout, or a fit that fails, gives NaN rows (the
    pooling then says in how many imputations nothing was estimated)."""
    from trialeval.design import design_matrix
    from trialeval.mixed import contrast, fit_reml
    from trialeval.models import _model_data, _terms, _vector
    from trialeval.regression import drop_aliased

    covariates = list(covariates)
    if site != "none" and "site" not in participants:
        site = "none"
    # the scores replaced by their row numbers: which template rows the model keeps, in order
    probe = template.assign(score=np.arange(len(template), dtype=float))
    data, _ = _model_data(probe, participants, spec, covariates, site)
    if site == "random" and data["site"].nunique() < 2:
        site = "none"
    rows = data["score"].to_numpy(dtype=int)
    _, _, terms, adjust = _terms(spec, data, covariates, site, with_visit=True, interaction=True)
    X, names = design_matrix(data, [*terms, *adjust])
    design = drop_aliased(X, names)
    units = data["participant_id"].to_numpy()
    sites = data["site"].to_numpy() if site == "random" else None
    control = spec["control_arm"]
    keys, weights = [], []
    for a in [a["id"] for a in spec["arms"] if not a["control"]]:
        for tp in [tp["id"] for tp in spec["timepoints"] if not tp["baseline"]]:
            interaction = f"arm[{a}]:timepoint[{tp}]"
            for estimand, vector in (
                ("diff_in_change", {interaction: 1.0}),
                ("diff_in_means", {f"arm[{a}]": 1.0, interaction: 1.0}),
            ):
                keys.append(("mixed_model", estimand, f"{a} - {control}", tp))
                weights.append(design.restrict(_vector(names, vector)))
    ids, visits = template["participant_id"].to_numpy(), template["timepoint"].to_numpy()
    nothing = np.full((len(keys), 3), np.nan)

    def refit(frame: pd.DataFrame) -> np.ndarray:
        same = len(frame) == len(ids) and (frame["participant_id"].to_numpy() == ids).all()
        if not same or not (frame["timepoint"].to_numpy() == visits).all():
            return nothing
        y = frame["score"].to_numpy(dtype=float)[rows]
        try:
            fit = fit_reml(y, design.X, units, sites=sites, column_names=design.names)
        except (ValueError, np.linalg.LinAlgError):
            return nothing
        out = nothing.copy()
        for k, w in enumerate(weights):
            if w is not None:
                result = contrast(fit, w, alpha=alpha)
                out[k] = (result.estimate, result.se, result.df)
        return out

    refit.keys = keys
    return refit
