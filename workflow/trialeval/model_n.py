"""The participants each fit used, per arm (results/<trial>/model_n.csv).

Every analysis job counts them from the rows it passes to the fit (`arm_counts`), never from
the scores: a participant the fit dropped (a missing covariate or confounder) is not counted.
A row names its fit by trial, analysis set, outcome, analysis, estimand and timepoint; a
mixed model (repeated, cLDA, ANCOVA, MMRM) is one fit over every estimand and visit, so its
estimand and timepoint are blank. The pre/post job writes one fit per post visit and method
(ANCOVA, Hodges-Lehmann, risk ratio, risk difference, logistic regression), the cohort job
one per estimand.

effects.csv's n of a row is the sum of its fit's arms (`effect_arms`: the two arms compared,
or every arm for a mixed model and a trend across cohorts). The CONSORT diagram's
"analysed" lines, the forest plot's n of a multi-arm trial's comparisons and the disclosure
plan read each outcome's primary fit (`primary_fit`) here; a fitted outcome without its rows
is an error, never a recount.
"""

from __future__ import annotations

import pandas as pd

from trialeval.config import RANDOMIZED
from trialeval.errors import TrialInputError

MODEL_N_COLUMNS = [
    "trial",
    "analysis_set",
    "outcome",
    "analysis",
    "estimand",
    "timepoint",
    "arm",
    "n",
]
# analyses fitted once over every arm, estimand and visit (effects.csv's n: every arm)
MIXED_ANALYSES = ("mixed_model", "ancova", "mmrm", "clda")
TREND_ESTIMANDS = ("prevalence_trend", "linear_trend")


def arm_counts(data: pd.DataFrame, arms) -> dict[str, int]:
    """{arm: participants} in the rows actually passed to a fit (columns participant_id,
    arm); every arm in `arms`, 0 where none."""
    counts = data.groupby("arm", observed=True)["participant_id"].nunique()
    return {a: int(counts.get(a, 0)) for a in arms}


def model_n_rows(
    base: dict, analysis: str, counts: dict[str, int], estimand: str = "", timepoint: str = ""
) -> list[dict]:
    """model_n.csv's rows of one fit: `base` gives trial, analysis_set and outcome; estimand
    and timepoint name a fit of one estimand at one visit (blank: every one of the fit)."""
    keys = {k: base[k] for k in ("trial", "analysis_set", "outcome")}
    fit = {"analysis": analysis, "estimand": estimand, "timepoint": timepoint}
    return [{**keys, **fit, "arm": a, "n": n} for a, n in counts.items()]


def model_n_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=MODEL_N_COLUMNS)


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype(str) == "")


def fit_rows(model_n: pd.DataFrame, row: dict) -> pd.DataFrame:
    """The model_n rows of the fit behind one effects.csv row (a blank estimand or timepoint
    in model_n: the fit gives every one)."""
    if model_n is None or model_n.empty:
        return pd.DataFrame(columns=MODEL_N_COLUMNS)
    same = (
        (model_n["analysis_set"] == row["analysis_set"])
        & (model_n["outcome"] == row["outcome"])
        & (model_n["analysis"] == row["analysis"])
    )
    for key in ("estimand", "timepoint"):
        same &= _blank(model_n[key]) | (model_n[key].astype(str) == str(row[key]))
    return model_n[same]


def effect_arms(row: dict, arms) -> list[str]:
    """The arms whose participants make an effects row's n: every arm for a mixed model and
    a trend across cohorts (one fit over all of them), else the two arms compared."""
    if row["analysis"] in MIXED_ANALYSES or row["estimand"] in TREND_ESTIMANDS:
        return list(arms)
    return [a.strip() for a in str(row["contrast"]).split(" - ")]


def effect_n(model_n: pd.DataFrame, row: dict, arms) -> int:
    """The n an effects row must print: its fit's participants over `effect_arms`."""
    rows = fit_rows(model_n, row)
    if rows.empty:
        raise TrialInputError(_missing(row["trial"], row["analysis_set"], row["outcome"]))
    counts = dict(zip(rows["arm"].astype(str), rows["n"].astype(int), strict=False))
    return sum(counts.get(a, 0) for a in effect_arms(row, arms))


def primary_fit(spec: dict) -> dict:
    """Which fit's arms the CONSORT diagram, the forest and the disclosure plan print for a
    score outcome: the mixed model of a randomized trial (blank estimand); the pre/post
    ANCOVA (Table 2's primary measure) at the last post visit."""
    if spec["design"] in RANDOMIZED:
        return {"estimand": ""}
    posts = [tp["id"] for tp in spec["timepoints"] if tp["id"] != spec["baseline"]]
    return {"analysis": "prepost", "estimand": "adjusted_mean_difference", "timepoint": posts[-1]}


def model_used(
    model_n: pd.DataFrame | None, spec: dict, analysis_set: str, outcome_id: str, arms
) -> dict[str, int]:
    """{arm: n} of one score outcome's primary fit in one analysis set, as model_n.csv
    reports it; its absence is an error naming the trial, set and outcome."""
    rows = pd.DataFrame(columns=MODEL_N_COLUMNS) if model_n is None else model_n
    if len(rows):
        rows = rows[(rows["analysis_set"] == analysis_set) & (rows["outcome"] == outcome_id)]
        for key, value in primary_fit(spec).items():
            column = rows[key]
            rows = rows[_blank(column)] if value == "" else rows[column.astype(str) == value]
    if rows.empty:
        raise TrialInputError(_missing(spec["id"], analysis_set, outcome_id))
    reported = dict(zip(rows["arm"].astype(str), rows["n"].astype(int), strict=True))
    return {a: int(reported.get(a, 0)) for a in arms}


def _missing(trial: str, analysis_set: str, outcome: str) -> str:
    return (
        f"results/{trial}/model_n.csv: no row for analysis set {analysis_set!r}, outcome "
        f"{outcome!r}; expected the participants its fit used per arm (re-run its analysis job)"
    )


# analyses whose jobs write no model_n.csv rows (a survey's exposures: effects.csv's n)
UNREPORTED = ("association",)


def check_effects_n(effects: pd.DataFrame, model_n: pd.DataFrame, arms) -> None:
    """Every primary-analysis effects row with an n prints the n its fit used (`effect_n`):
    the analysis jobs write both from the same rows, so a difference is a programming error."""
    rows = effects[effects["n"].notna() & ~effects["analysis"].isin(UNREPORTED)]
    if "analysis_name" in rows:
        rows = rows[rows["analysis_name"] == "primary"]
    for row in rows.to_dict("records"):
        expected = effect_n(model_n, row, arms)
        assert int(row["n"]) == expected, (
            f"{row['trial']}: effects.csv's n {int(row['n'])} of {row['analysis_set']} / "
            f"{row['outcome']} / {row['analysis']} / {row['estimand']} / {row['timepoint']} / "
            f"{row['contrast']} is not its fit's {expected} (model_n.csv)"
        )
