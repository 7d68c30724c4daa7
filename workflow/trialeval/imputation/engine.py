"""Imputation of missing scores under MAR, by arm, sequentially by visit (mice's `norm`).

Per arm separately, the scores form an (n, T) matrix: the baseline, then the post visits in
the trial's order. Each visit j is imputed by a Bayesian linear regression on an intercept,
the configured covariates (categorical ones dummy coded as the models code them: sorted
levels, the first the reference; site as a factor when asked) and the visits before it,
fitted on the participants observed at j. Parameters are drawn from their posterior under
the standard non-informative prior, as mice's `.norm.draw`:

    sigma*^2 = RSS / chi2(df),  df = max(n_obs - p, 1),
    beta*    = beta_hat + sigma* L^-T z,  L L' = X'X,  z ~ N(0, I),

and a missing value is x' beta* + sigma* e, e ~ N(0, 1) (Rubin 1987, p. 167; van Buuren
2018, algorithm 3.1). For monotone data (within the arm, once a participant misses a visit
they miss every later one) one such pass in visit order draws from the exact posterior
predictive distribution: the regression of visit j is then fitted on participants observed at
every earlier visit, so it involves no imputed value.

Non-monotone data (an intermittent missed visit, a missing baseline with later scores) take
fully conditional specification (FCS, chained equations, as mice does): after the sequential
pass as starting values, `iterations` sweeps re-impute every visit with missing values from
all the other visits, earlier and later, and the covariates. Chosen over "impute the
intermittent values first, then the monotone part sequentially" (SAS PROC MI's MCMC
IMPUTE=MONOTONE) because the intermittent value is then conditioned on the later observed
scores of the same participant in the same linear-normal model as everything else; with the
linear regressions of a multivariate normal the chain's conditionals are compatible, and
starting from the sequential pass it settles within a few sweeps.

A missing baseline is imputed like any other visit (from the covariates, and in the FCS
sweeps from the post visits): the primary `repeated` model keeps such participants and
`ancova` / `mmrm` drop them, so imputing it is what keeps them in the intention-to-treat
analysis of the completed data. Participants without any score are imputed from arm and
covariates. Participants with a missing covariate are not imputed (the covariates are not
imputed): their observed rows pass through and the analysis model drops them as the primary
one does, and counts them. A visit nobody in an arm was observed at cannot be imputed in
that arm and stays missing (said in `notes`).

Determinism: participants are put in a canonical order (arm, id) before anything is drawn,
and each arm draws from its own stream, numpy's Generator seeded by SeedSequence(seed,
spawn_key=(arm index,)), all m imputations at once; so a seed gives the same imputations
whatever the input rows' order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialeval.design import covariate_terms, design_matrix
from trialeval.formatting import participant_count
from trialeval.regression import aliased_columns

__all__ = ["ImputationData", "completed_frames", "impute", "imputation_data", "is_monotone"]

# mice's ridge (estimice: ridge = 1e-5 times the diagonal of X'X), used only when X'X of some
# imputation is numerically singular (a near-collinear visit among few observed participants).
_RIDGE = 1e-5


@dataclass(frozen=True, eq=False)
class ImputationData:
    """One outcome's scores in the layout the imputation works on.

    Rows are the participants imputed, in canonical order (arm, participant id); columns the
    visits, baseline first. `y` holds the observed scores (NaN where missing), `z` the
    covariate design (intercept first) named by `z_names`, `shifted` marks the rows of the
    intervention arms (the rows a delta adjustment moves). `passthrough` holds the observed
    rows of participants not imputed (a missing covariate), returned unchanged.
    """

    participant_ids: np.ndarray
    arms: np.ndarray
    visits: tuple[str, ...]
    y: np.ndarray
    z: np.ndarray
    z_names: list[str]
    shifted: np.ndarray
    passthrough: pd.DataFrame
    notes: tuple[str, ...]

    @property
    def missing(self) -> np.ndarray:
        return np.isnan(self.y)

    @property
    def n_not_imputed(self) -> int:
        return int(self.passthrough["participant_id"].nunique())


def imputation_data(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    spec: dict,
    *,
    covariates: tuple[str, ...] = (),
    site: bool = False,
) -> ImputationData:
    """The imputation layout of one outcome, from what `models.mixed_model_effects` takes.

    scores: long rows of this outcome (participant_id, timepoint, score; missing scores may
    be absent or NaN); participants: the analysis set (participant_id, arm, covariates, site).
    `covariates`: names of configured covariates (spec["covariates"]) to condition on;
    `site`: also condition on site as a factor (when the analysis model has site).
    """
    covariates = tuple(covariates)
    site = site and "site" in participants
    visits = (spec["baseline"], *[tp["id"] for tp in spec["timepoints"] if not tp["baseline"]])
    intervention = {a["id"] for a in spec["arms"] if not a["control"]}
    factor_columns = ("site",) if site else ()
    people = participants[["participant_id", "arm", *covariates, *factor_columns]]
    if people["participant_id"].duplicated().any():
        raise ValueError("participants: a participant_id appears more than once")
    complete = people[[*covariates, *factor_columns]].notna().all(axis=1).to_numpy()
    keys = people["arm"].astype(str) + "\x00" + people["participant_id"].astype(str)
    order = np.argsort(keys.to_numpy(dtype=str), kind="stable")
    kept = people.iloc[order[complete[order]]].reset_index(drop=True)
    ids = kept["participant_id"].to_numpy()

    rows = scores[["participant_id", "timepoint", "score"]]
    rows = rows[rows["score"].notna() & rows["timepoint"].isin(visits)]
    if rows.duplicated(["participant_id", "timepoint"]).any():
        raise ValueError("scores: more than one score for a participant and timepoint")
    i = pd.Index(ids).get_indexer(rows["participant_id"])
    j = pd.Index(visits).get_indexer(rows["timepoint"])
    inside = i >= 0
    y = np.full((len(ids), len(visits)), np.nan)
    y[i[inside], j[inside]] = rows["score"].to_numpy(dtype=float)[inside]
    dropped = set(people.loc[~complete, "participant_id"])
    passthrough = rows[rows["participant_id"].isin(dropped)].reset_index(drop=True)

    cov_specs = [c for c in spec["covariates"] if c["name"] in covariates]
    z, z_names = design_matrix(kept, covariate_terms(kept, cov_specs, factor_columns))
    arms = kept["arm"].astype(str).to_numpy()
    notes = []
    if dropped:
        notes.append(f"{participant_count(len(dropped))} with a missing covariate not imputed")
    for arm in np.unique(arms):
        seen = (~np.isnan(y[arms == arm])).any(axis=0)
        never = [v for v, s in zip(visits, seen, strict=True) if not s]
        if never:
            notes.append(f"arm {arm}: nobody observed at {', '.join(never)}: not imputed")
    return ImputationData(
        participant_ids=ids,
        arms=arms,
        visits=visits,
        y=y,
        z=z,
        z_names=z_names,
        shifted=np.isin(arms, sorted(intervention)),
        passthrough=passthrough,
        notes=tuple(notes),
    )


def is_monotone(missing: np.ndarray) -> bool:
    """Every row observed up to some visit and missing after it (in column order)."""
    return bool((np.diff(missing.astype(np.int8), axis=1) >= 0).all())


def impute(
    data: ImputationData,
    *,
    m: int,
    seed: int,
    delta: float = 0.0,
    propagate: bool = False,
    iterations: int = 10,
) -> np.ndarray:
    """m completed score matrices, shape (m, n, T) in the layout of `data`.

    `delta` is added to every imputed post-visit value of the intervention arms (never to an
    observed value, never to the baseline). With `propagate` False the imputation is made
    under MAR and then shifted: each imputed value sits `delta` from its MAR draw, whatever
    the visit. With `propagate` True the shift is applied as each visit is drawn, so later
    visits are imputed conditional on the shifted earlier values (SAS PROC MI's MNAR ADJUST
    with monotone regression; mice's `post` in the FCS sweeps) and the shift accumulates
    through the regression on earlier visits. Either way every delta uses the same random
    draws (common random numbers): a given seed and m give the same variates for any delta.
    """
    if m < 1:
        raise ValueError(f"m must be at least 1, got {m}")
    out = np.empty((m, *data.y.shape))
    for index, arm in enumerate(np.unique(data.arms)):
        rows = data.arms == arm
        shift = float(delta) if data.shifted[rows].any() else 0.0
        stream = np.random.SeedSequence(seed, spawn_key=(index,))
        rng = np.random.Generator(np.random.PCG64(stream))
        during = shift if propagate else 0.0
        arm_data = (data.y[rows], data.z[rows], data.z_names)
        completed = _impute_arm(*arm_data, m, rng, during, iterations)
        if shift and not propagate:
            missing_post = np.isnan(data.y[rows])
            missing_post[:, 0] = False
            completed[:, missing_post] += shift
        out[:, rows] = completed
    return out


def _impute_arm(y, z, z_names, m, rng, shift, iterations) -> np.ndarray:
    """Sequential pass in visit order, then FCS sweeps if the arm's data are not monotone.
    `shift` is added to each post-visit draw as it is made (propagated adjustment)."""
    missing = np.isnan(y)
    usable = [j for j in range(y.shape[1]) if not missing[:, j].all()]
    completed = np.broadcast_to(y, (m, *y.shape)).copy()
    if not usable:
        return completed
    # the covariate columns each visit's regression can use: those not aliased among the
    # participants observed at that visit (R's rule, column order: a level nobody has there)
    z_kept = {j: _kept_columns(z[~missing[:, j]], z_names) for j in usable}
    for j in usable:
        _draw_visit(completed, missing, z, z_kept[j], j, [k for k in usable if k < j], rng, shift)
    if not is_monotone(missing[:, usable]):
        for _ in range(iterations):
            for j in usable:
                others = [k for k in usable if k != j]
                _draw_visit(completed, missing, z, z_kept[j], j, others, rng, shift)
    return completed


def _kept_columns(z_obs: np.ndarray, names: list[str]) -> np.ndarray:
    aliased = set(aliased_columns(z_obs, names))
    return np.array([k for k, name in enumerate(names) if name not in aliased], dtype=int)


def _draw_visit(completed, missing, z, z_cols, j, predictors, rng, shift) -> None:
    """Draw visit j's missing values in all m imputations at once (in place)."""
    mis = missing[:, j]
    if not mis.any():
        return
    obs = ~mis
    m = completed.shape[0]

    def design(rows):
        fixed = np.broadcast_to(z[rows][:, z_cols], (m, int(rows.sum()), len(z_cols)))
        return np.concatenate([fixed, completed[:, rows][:, :, predictors]], axis=2)

    x_obs, x_mis = design(obs), design(mis)
    y_obs = completed[:, obs, j]
    # columns scaled to unit root-mean-square for the conditioning of X'X (predictions and
    # draws do not depend on the scaling)
    scale = np.sqrt((x_obs**2).mean(axis=(0, 1)))
    scale[scale == 0] = 1.0
    x_obs, x_mis = x_obs / scale, x_mis / scale
    n_obs, p = x_obs.shape[1:]
    gram = np.einsum("mnp,mnq->mpq", x_obs, x_obs)
    xty = np.einsum("mnp,mn->mp", x_obs, y_obs)
    try:
        chol = np.linalg.cholesky(gram)
        beta_hat = np.linalg.solve(gram, xty[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        # singular (e.g. fewer participants observed at the visit than predictors): a
        # rounding-level Cholesky can pass where the solve then fails, so both take the ridge
        gram = gram + _RIDGE * np.einsum("mpp->mp", gram)[:, :, None] * np.eye(p)
        chol = np.linalg.cholesky(gram)
        beta_hat = np.linalg.solve(gram, xty[:, :, None])[:, :, 0]
    rss = ((y_obs - np.einsum("mnp,mp->mn", x_obs, beta_hat)) ** 2).sum(axis=1)
    df = max(n_obs - p, 1)
    # draw order fixed: chi-square, coefficient normals, residual normals
    sigma = np.sqrt(rss / rng.chisquare(df, size=m))
    z_beta = rng.standard_normal((m, p))
    noise = rng.standard_normal((m, int(mis.sum())))
    # beta* - beta_hat = sigma* L^-T z has covariance sigma*^2 (X'X)^-1
    step = np.linalg.solve(np.swapaxes(chol, 1, 2), z_beta[:, :, None])[:, :, 0]
    beta = beta_hat + sigma[:, None] * step
    draws = np.einsum("mnp,mp->mn", x_mis, beta) + sigma[:, None] * noise
    completed[:, mis, j] = draws + (shift if j > 0 else 0.0)


def completed_frames(data: ImputationData, completed: np.ndarray):
    """Long score frames (participant_id, timepoint, score, imputed), one per imputation,
    as `models.mixed_model_effects` takes them; participants not imputed keep their observed
    rows, and a value that could not be imputed is left out."""
    n, t = data.y.shape
    ids = np.repeat(data.participant_ids, t)
    visits = np.tile(np.array(data.visits, dtype=object), n)
    imputed = data.missing.ravel()
    passthrough = data.passthrough.assign(imputed=False)
    for scores in completed:
        values = scores.ravel()
        keep = ~np.isnan(values)
        frame = pd.DataFrame(
            {
                "participant_id": ids[keep],
                "timepoint": visits[keep],
                "score": values[keep],
                "imputed": imputed[keep],
            }
        )
        yield pd.concat([frame, passthrough], ignore_index=True) if len(passthrough) else frame
