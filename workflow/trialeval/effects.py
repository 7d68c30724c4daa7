"""The effects schema (one long table per trial) and multiplicity adjustment.

Every analysis stage returns rows with EFFECT_COLUMNS; `combine` stacks them in the trial
file's outcome order and fills p_adjusted. Column meanings:

- analysis_name: `primary` (the analyses blocks of the trial file) or the name of a
  sensitivity analysis (analyses.sensitivity[].name)
- analysis: mixed_model | ancova | mmrm | clda | prepost | association | cohort_comparison;
  categories of randomized trials: risk_ratio | risk_difference | logistic
- estimand: diff_in_change, diff_in_means, adjusted_diff, hodges_lehmann_shift,
  adjusted_mean_difference, risk_ratio, risk_difference (no P: a Newcombe CI),
  adjusted_odds_ratio (randomized categories, cohort comparisons), odds_ratio (association);
  cohort comparisons (trialeval.cohort) also prevalence_trend (Cochran-Armitage, more than
  two cohorts) and linear_trend (linear contrast of adjusted cohort means)
- exposure: for association rows, the exposure (an outcome id) the odds ratio is of; empty
  otherwise
- contrast: `<arm> - <control arm>` (arm ids from the trial file; a cohort comparison's
  `<cohort> - <reference cohort>`, and `linear trend: <cohorts in time order>` for its trend
  rows; for odds ratios the level labels, `<level> - <reference level>`)
- estimate, ci_low, ci_high: on the natural scale (ratios as ratios); se: standard error of
  the estimate, for ratios of its logarithm (method says so); df: Satterthwaite or residual df
  (NaN for z-based and rank-based results)
- n: participants contributing to the estimate, of n_analysis_set in the analysis set (the
  number consort.json reports as analysed); n_obs: observations in the model
- method: the model or test, in words; note: anything the reader must know (boundary fits,
  separation, why a row could not be estimated)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EFFECT_COLUMNS = [
    "trial",
    "outcome",
    "role",
    "analysis_name",
    "analysis",
    "estimand",
    "exposure",
    "contrast",
    "timepoint",
    "analysis_set",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "p_adjusted",
    "n",
    "n_analysis_set",
    "n_obs",
    "method",
    "note",
]


# The side tables the effects rule stacks next to effects.csv, each written with its header
# even when no analysis produced a row (an ANCOVA has no per-visit means).
DIAGNOSTIC_COLUMNS = [
    "trial",
    "outcome",
    "analysis_set",
    "analysis",
    "method",
    "n",
    "n_analysis_set",
    "n_obs",
    "n_sites",
    "sd_participant",
    "sd_site",
    "n_groups",
    "sd_group",
    "icc_group",
    "icc_site",
    "sd_residual",
    "reml_loglik",
    "converged",
    "boundary",
    "message",
    "covariance",
]
# An adjusted-means row's change from baseline: the arm's adjusted mean change from the
# baseline visit to the row's visit, L(visit) - L(baseline) for the same arm and covariate
# setting, with its SE, df and CI (blank at baseline and for a model without a baseline mean).
CHANGE_COLUMNS = ["change_estimate", "change_se", "change_df", "change_ci_low", "change_ci_high"]
MEANS_COLUMNS = [
    "trial",
    "outcome",
    "analysis_set",
    "arm",
    "timepoint",
    "estimate",
    "se",
    "df",
    "ci_low",
    "ci_high",
    "n_observed",
    *CHANGE_COLUMNS,
]
PREPOST_SUMMARY_COLUMNS = [
    "outcome",
    "timepoint",
    "analysis_set",
    "arm",
    "n",
    "median",
    "q1",
    "q3",
    "mean",
    "sd",
    "n_events",
    "proportion",
    # the ANCOVA's adjusted mean change per arm (emmeans' default weights; trialeval.prepost)
    "adjusted_change",
    "adjusted_change_ci_low",
    "adjusted_change_ci_high",
]
# tables/cohort_summary.csv: per outcome, analysis set and cohort (trialeval.cohort)
COHORT_SUMMARY_COLUMNS = [
    "outcome",
    "analysis_set",
    "cohort",
    "n",
    "events",
    "proportion",
    "ci_low",
    "ci_high",
    "median",
    "q1",
    "q3",
    "mean",
    "sd",
]
ASSOCIATION_COUNTS_COLUMNS = [
    "outcome",
    "exposure",
    "analysis_set",
    "level",
    "label",
    "n",
    "events",
    "proportion",
]


def effects_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows (dicts with any subset of EFFECT_COLUMNS) as a frame with every column."""
    frame = pd.DataFrame(rows, columns=EFFECT_COLUMNS)
    for column in ("estimate", "se", "ci_low", "ci_high", "df", "p_value", "p_adjusted"):
        frame[column] = frame[column].astype(float)
    return frame


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (as R's p.adjust(p, "holm"))."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (as R's p.adjust(p, "BH"))."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")[::-1]
    ranked = p[order] * m / np.arange(m, 0, -1)
    out = np.empty(m)
    out[order] = np.minimum(np.minimum.accumulate(ranked), 1.0)
    return out


ADJUSTERS = {"holm": holm, "fdr_bh": benjamini_hochberg}


def adjust(
    effects: pd.DataFrame,
    method: str,
    primary: str | None = None,
    measures: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Fill p_adjusted: secondary outcomes adjusted within each family of rows sharing
    analysis name, analysis, estimand, exposure, contrast, timepoint and analysis set (a
    sensitivity analysis is never a member of the primary's families).

    So each effect measure of a binary outcome is its own family: the risk ratios (the
    primary measure) form the family they always did, the adjusted odds ratios another, and
    the risk differences (no P) none.

    Primary outcomes are unadjusted unless `primary` (the trial's
    analyses.multiplicity.primary) is "any": success on any primary comparison then needs
    the adjustment across primary outcomes and arms. The comparisons that decide success are
    each outcome's primary effect measure (`measures`: a score's and a binary outcome's, see
    primary_measures), so those rows form one family per analysis name, visit and set,
    whatever their measure; a primary outcome's supportive measures (the other effect of
    model repeated, odds ratios) are adjusted among themselves, per measure. "all"
    (intersection-union) needs none."""
    out = effects.copy()
    out["p_adjusted"] = out["p_value"]
    if method == "none":
        return out
    family = ["analysis", "estimand", "exposure", "contrast", "timepoint", "analysis_set"]
    family = (["analysis_name"] if "analysis_name" in out else []) + family
    _adjust_families(out, out["role"] == "secondary", family, method)
    if primary == "any":
        primary_rows = out["role"] == "primary"
        deciding = primary_rows & out["estimand"].isin(measures)
        joint = [k for k in family if k not in ("analysis", "estimand", "exposure", "contrast")]
        _adjust_families(out, deciding, joint, method)
        per_measure = [k for k in family if k != "contrast"]
        _adjust_families(out, primary_rows & ~deciding, per_measure, method)
    return out


def primary_measures(spec: dict) -> tuple[str, ...]:
    """The effect measures whose P values decide a randomized trial's success (Table 2's
    measures with a P value): the score outcomes' primary effect and the binary outcomes'
    risk ratio. Other designs: none named, so `adjust` keeps each measure its own family."""
    from trialeval.config import primary_effect

    score = primary_effect(spec)
    return (score, "risk_ratio") if score else ()


def adjust_trial(effects: pd.DataFrame, spec: dict, method: str) -> pd.DataFrame:
    """`adjust` with the trial's own rule for primary outcomes and its deciding measures."""
    return adjust(effects, method, primary_rule(spec), primary_measures(spec))


def _adjust_families(out: pd.DataFrame, rows: pd.Series, family: list[str], method: str) -> None:
    """p_adjusted of `rows` with a P value, adjusted within each `family` (in place)."""
    chosen = rows & out["p_value"].notna()
    for _, index in out[chosen].groupby(family, dropna=False).groups.items():
        out.loc[index, "p_adjusted"] = ADJUSTERS[method](out.loc[index, "p_value"].to_numpy())


def primary_rule(spec: dict) -> str | None:
    """The trial's analyses.multiplicity.primary: "all", "any" or None (not stated)."""
    return ((spec.get("analyses") or {}).get("multiplicity") or {}).get("primary")


def primary_adjusted(spec: dict) -> bool:
    """Whether effects.csv's p_adjusted of primary outcomes is adjusted (`adjust`): rule "any"
    with a correction configured (config.yaml's multiplicity, holm by default)."""
    return primary_rule(spec) == "any" and (spec.get("multiplicity") or "holm") != "none"


def _read_all(paths: list[str], columns: list[str]) -> pd.DataFrame:
    """The parts stacked; with no rows at all, an empty table that still has its header."""
    from trialeval.io import read_csv

    frames = [read_csv(p) for p in paths]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)


def order_effects(effects: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Rows in reading order, whatever order the jobs ran in: the primary analysis, then the
    sensitivity analyses in the trial file's order; within one, primary outcomes first, then the
    trial file's outcome order; within an outcome, the exposure order of the trial file, then
    the analysis-set order. A stable sort keeps each analysis's own row order (arms as listed,
    visits in time order) inside those groups."""
    outcomes = sorted(spec["outcomes"], key=lambda o: o["role"] != "primary")
    association = spec["analyses"].get("association") or {}
    named = ["primary"] + [a["name"] for a in spec["analyses"].get("sensitivity") or []]
    ranks = {
        **({"analysis_name": named} if "analysis_name" in effects else {}),
        "outcome": [o["id"] for o in outcomes],
        "exposure": association.get("exposures", []),
        "analysis_set": spec["analyses"]["analysis_sets"],
    }
    keys = []
    frame = effects.copy()
    for column, order in ranks.items():
        rank = {value: i for i, value in enumerate(order)}
        frame[f"_{column}"] = frame[column].map(rank).fillna(len(rank))
        keys.append(f"_{column}")
    frame = frame.sort_values(keys, kind="stable")
    return frame.drop(columns=keys).reset_index(drop=True)


# the jobs writing a model_n part (every analysis job)
MODEL_N_JOBS = ("mixed_model", "prepost", "association", "cohort", "sensitivity")
SENSITIVITY_MEANS_COLUMNS = ["analysis_name", *MEANS_COLUMNS]
SENSITIVITY_DIAGNOSTIC_COLUMNS = ["analysis_name", *DIAGNOSTIC_COLUMNS]


def run(
    spec: dict,
    parts: dict[str, list[str]],
    multiplicity: str,
    outputs: dict,
    paths: dict[str, str] | None = None,
) -> None:
    """Rule entry: stack every analysis part into the trial's long results files; with the
    analysis data (`paths`: scores, participants, sets), also estimands.json (each analysis's
    estimand and what its intercurrent events set aside)."""
    from trialeval.io import write_csv
    from trialeval.model_n import MODEL_N_COLUMNS

    def kind(analysis: str, suffix: str) -> list[str]:
        return [p for p in parts.get(analysis, []) if p.endswith(suffix)]

    effect_files = kind("mixed_model", ".effects.csv") + kind("prepost", ".effects.csv")
    effect_files += kind("association", "effects.csv") + kind("cohort", ".effects.csv")
    effects = _read_all(effect_files, EFFECT_COLUMNS)
    effects["analysis_name"] = "primary"
    sensitivity = _read_all(kind("sensitivity", ".effects.csv"), EFFECT_COLUMNS)
    frames = [f for f in (effects, sensitivity) if len(f)]
    stacked = pd.concat(frames, ignore_index=True) if frames else effects
    effects = effects_frame(stacked.to_dict("records"))
    effects = adjust_trial(order_effects(effects, spec), spec, multiplicity)
    write_csv(effects, outputs["effects"])
    sides = {
        # every job's fits: the primary analysis's, the survey's, each sensitivity analysis's
        "model_n": (
            [p for a in MODEL_N_JOBS for p in kind(a, "model_n.csv")],
            MODEL_N_COLUMNS,
        ),
        "means": (kind("mixed_model", ".means.csv"), MEANS_COLUMNS),
        "diagnostics": (kind("mixed_model", ".diagnostics.csv"), DIAGNOSTIC_COLUMNS),
        "change_scores": (kind("prepost", ".summary.csv"), PREPOST_SUMMARY_COLUMNS),
        "association_counts": (kind("association", "counts.csv"), ASSOCIATION_COUNTS_COLUMNS),
        "cohort_summary": (kind("cohort", ".summary.csv"), COHORT_SUMMARY_COLUMNS),
        "sensitivity_means": (kind("sensitivity", ".means.csv"), SENSITIVITY_MEANS_COLUMNS),
        "sensitivity_diagnostics": (
            kind("sensitivity", ".diagnostics.csv"),
            SENSITIVITY_DIAGNOSTIC_COLUMNS,
        ),
    }
    for name, (paths_of, columns) in sides.items():
        if name in outputs:
            write_csv(_read_all(paths_of, columns), outputs[name])
    if "model_n" in outputs:  # the n printed is the n each fit used
        from trialeval.model_n import check_association_counts, check_effects_n

        model_n = _read_all(sides["model_n"][0], MODEL_N_COLUMNS)
        check_effects_n(effects, model_n, [a["id"] for a in spec["arms"]])
        counts = _read_all(sides["association_counts"][0], ASSOCIATION_COUNTS_COLUMNS)
        check_association_counts(counts, model_n)
    if paths is not None and "estimands" in outputs:
        from trialeval.estimands import has_events, set_aside_counts
        from trialeval.io import read_analysis_data, write_json

        data = (None, None)
        if has_events(spec):  # the data are read only when some strategy sets anything aside
            data = read_analysis_data(paths["scores"], paths["participants"], paths["sets"])
        write_json(set_aside_counts(spec, *data), outputs["estimands"])


# The tipping-point table and figure show, per analysis, outcome, analysis set and contrast,
# one estimand at one visit (tipping_point.csv holds them all): the first of these estimands
# the model gives, at the last post visit (ANCOVA over every post visit: all_post).
TIPPING_ESTIMANDS = ("diff_in_means", "adjusted_diff")
TIPPING_BLOCK = ["analysis_name", "outcome", "analysis_set", "contrast"]


def tipping_shown(imputation: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The rows of the sensitivity analyses' every-delta tables (sensitivity.<name>.
    imputation.csv, stacked) the tipping-point table and figure show, in the trial file's
    order (analyses, outcomes, sets), deltas ascending."""
    order = {tp["id"]: i for i, tp in enumerate(spec["timepoints"])} | {"all_post": 10**6}
    rows = []
    for _, block in imputation.groupby(TIPPING_BLOCK, sort=False):
        present = [e for e in TIPPING_ESTIMANDS if (block["estimand"] == e).any()]
        chosen = block[block["estimand"] == (present[0] if present else block["estimand"].iloc[0])]
        last = max(chosen["timepoint"], key=lambda tp: order.get(tp, -1))
        rows.append(chosen[chosen["timepoint"] == last].sort_values("delta", kind="stable"))
    if not rows:
        return imputation.iloc[0:0]
    shown = pd.concat(rows, ignore_index=True)
    named = [a["name"] for a in spec["analyses"].get("sensitivity") or []]
    outcomes = sorted(spec["outcomes"], key=lambda o: o["role"] != "primary")
    ranks = {
        "analysis_name": named,
        "outcome": [o["id"] for o in outcomes],
        "analysis_set": spec["analyses"]["analysis_sets"],
    }
    keys = []
    for column, values in ranks.items():
        rank = {v: i for i, v in enumerate(values)}
        shown[f"_{column}"] = shown[column].map(rank).fillna(len(rank))
        keys.append(f"_{column}")
    shown = shown.sort_values(keys, kind="stable").drop(columns=keys)
    return shown.reset_index(drop=True)
