"""The participants each fit used, per arm (results/<trial>/model_n.csv).

Every analysis job counts them from the rows it passes to the fit (`arm_counts`), never from
the scores: a participant the fit dropped (a missing covariate or confounder) is not counted.
A row names its fit by trial, analysis name (`primary`, or a sensitivity analysis's name),
analysis set, outcome, analysis, estimand, exposure and timepoint; a mixed model (repeated,
cLDA, ANCOVA, MMRM) is one fit over every estimand and visit, so its estimand and timepoint
are blank. The pre/post job writes one fit per post visit and method (ANCOVA,
Hodges-Lehmann, risk ratio, risk difference, logistic regression), the cohort job one per
estimand, the survey's association job one per exposure (its "arms" the exposure's levels,
by label), each sensitivity analysis's job its fits under its name (a multiple imputation's:
the fit of its first completed data set, whose participants every completed data set has;
trialeval.sensitivity says who they are).

effects.csv's n of a row is the sum of its fit's arms (`effect_arms`: the two arms compared,
or every arm for a mixed model and a trend across cohorts, every level for an association).
The CONSORT diagram's "analysed" lines, the cohort flow's, the forest plot's n of a
multi-arm trial's comparisons and the disclosure plan read each outcome's primary fit
(`primary_fit`) here; a fitted outcome without its rows is an error, never a recount.
"""

from __future__ import annotations

import pandas as pd

from trialeval.config import RANDOMIZED
from trialeval.errors import TrialInputError

MODEL_N_COLUMNS = [
    "trial",
    "analysis_name",
    "analysis_set",
    "outcome",
    "analysis",
    "estimand",
    "exposure",
    "timepoint",
    "arm",
    "n",
]
PRIMARY = "primary"
# analyses fitted once over every arm, estimand and visit (effects.csv's n: every arm)
MIXED_ANALYSES = ("mixed_model", "ancova", "mmrm", "clda")
TREND_ESTIMANDS = ("prevalence_trend", "linear_trend")
# a survey's odds ratios: one fit per exposure over every level (effects.csv's n: all levels)
ASSOCIATION = "association"
# the cohort comparison's adjusted model of an outcome kind: the fit that drops respondents
# missing a covariate (its unadjusted estimates use every respondent with the outcome)
COHORT_MODEL = {"score": "adjusted_mean_difference", "category": "adjusted_odds_ratio"}


def arm_counts(data: pd.DataFrame, arms) -> dict[str, int]:
    """{arm: participants} in the rows actually passed to a fit (columns participant_id,
    arm); every arm in `arms`, 0 where none."""
    counts = data.groupby("arm", observed=True)["participant_id"].nunique()
    return {a: int(counts.get(a, 0)) for a in arms}


def model_n_rows(
    base: dict,
    analysis: str,
    counts: dict[str, int],
    estimand: str = "",
    timepoint: str = "",
    exposure: str = "",
) -> list[dict]:
    """model_n.csv's rows of one fit: `base` gives trial, analysis_set and outcome; estimand
    and timepoint name a fit of one estimand at one visit (blank: every one of the fit);
    exposure a survey's association fit (its counts per exposure level)."""
    keys = {k: base[k] for k in ("trial", "analysis_set", "outcome")}
    fit = {
        "analysis": analysis,
        "estimand": estimand,
        "exposure": exposure,
        "timepoint": timepoint,
    }
    return [{**keys, **fit, "arm": a, "n": n} for a, n in counts.items()]


def model_n_frame(rows: list[dict], analysis_name: str = PRIMARY) -> pd.DataFrame:
    """The rows as model_n.csv's columns, each of the analysis `analysis_name` (a job's
    fits are of one analysis: the primary one's jobs, or one sensitivity analysis)."""
    frame = pd.DataFrame(rows, columns=MODEL_N_COLUMNS)
    frame["analysis_name"] = analysis_name
    frame["exposure"] = frame["exposure"].fillna("")
    return frame


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype(str) == "")


def _text(value) -> str:
    """A key's value as text, a missing one (NaN, None) blank."""
    return "" if value is None or pd.isna(value) else str(value)


def analysis_names(model_n: pd.DataFrame) -> pd.Series:
    """Each row's analysis name, `primary` where blank (frames built without it)."""
    if "analysis_name" not in model_n:
        return pd.Series(PRIMARY, index=model_n.index)
    return model_n["analysis_name"].where(~_blank(model_n["analysis_name"]), PRIMARY)


def fit_rows(model_n: pd.DataFrame, row: dict) -> pd.DataFrame:
    """The model_n rows of the fit behind one effects.csv row: same analysis name (blank:
    primary), set, outcome, analysis and exposure (blank in both but for an association);
    a blank estimand or timepoint in model_n: the fit gives every one."""
    if model_n is None or model_n.empty:
        return pd.DataFrame(columns=MODEL_N_COLUMNS)
    same = (
        (analysis_names(model_n) == (_text(row.get("analysis_name")) or PRIMARY))
        & (model_n["analysis_set"] == row["analysis_set"])
        & (model_n["outcome"] == row["outcome"])
        & (model_n["analysis"] == row["analysis"])
    )
    exposure = model_n["exposure"] if "exposure" in model_n else pd.Series("", model_n.index)
    same &= exposure.map(_text) == _text(row.get("exposure"))
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
    """The n an effects row must print: its fit's participants over `effect_arms` (an
    association's: over every exposure level of its fit, its rows' "arms")."""
    rows = fit_rows(model_n, row)
    if rows.empty:
        raise TrialInputError(_missing(row["trial"], row["analysis_set"], row["outcome"]))
    counts = dict(zip(rows["arm"].astype(str), rows["n"].astype(int), strict=False))
    if row["analysis"] == ASSOCIATION:
        return sum(counts.values())
    return sum(counts.get(a, 0) for a in effect_arms(row, arms))


def primary_fit(spec: dict, outcome: dict | None = None) -> dict:
    """Which fit's arms the CONSORT diagram, the cohort flow, the forest and the disclosure
    plan print for an outcome: the mixed model of a randomized trial's score (blank
    estimand); the pre/post ANCOVA (Table 2's primary measure) at the last post visit; a
    cohort comparison's adjusted model of the outcome (`COHORT_MODEL`: the fit that leaves
    out respondents missing a covariate) at the survey wave."""
    if spec["design"] in RANDOMIZED:
        return {"estimand": ""}
    if spec["design"] == "cohort_comparison":
        kind = (outcome or {}).get("kind", "score")
        estimand = COHORT_MODEL.get(kind, COHORT_MODEL["score"])
        fit = {"analysis": "cohort_comparison", "estimand": estimand}
        return {**fit, "timepoint": spec["baseline"]}
    posts = [tp["id"] for tp in spec["timepoints"] if tp["id"] != spec["baseline"]]
    return {"analysis": "prepost", "estimand": "adjusted_mean_difference", "timepoint": posts[-1]}


def model_used(
    model_n: pd.DataFrame | None, spec: dict, analysis_set: str, outcome_id: str, arms
) -> dict[str, int]:
    """{arm: n} of one outcome's primary fit (`primary_fit`; the primary analysis's, not a
    sensitivity analysis's) in one analysis set, as model_n.csv reports it; its absence is an
    error naming the trial, set and outcome."""
    rows = pd.DataFrame(columns=MODEL_N_COLUMNS) if model_n is None else model_n
    if len(rows):
        rows = rows[(rows["analysis_set"] == analysis_set) & (rows["outcome"] == outcome_id)]
        rows = rows[analysis_names(rows) == PRIMARY]
        outcome = next((o for o in spec.get("outcomes", []) if o["id"] == outcome_id), None)
        for key, value in primary_fit(spec, outcome).items():
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


def check_effects_n(effects: pd.DataFrame, model_n: pd.DataFrame, arms) -> None:
    """Every effects row with an n prints the n its fit used (`effect_n`): the primary
    analysis's, each sensitivity analysis's (a multiple imputation's: its first completed
    data set's fit) and the survey's odds ratios (every level of the exposure's fit). The
    analysis jobs write both from the same rows, so a difference is a programming error."""
    for row in effects[effects["n"].notna()].to_dict("records"):
        expected = effect_n(model_n, row, arms)
        assert int(row["n"]) == expected, (
            f"{row['trial']}: effects.csv's n {int(row['n'])} of "
            f"{_text(row.get('analysis_name')) or PRIMARY} / {row['analysis_set']} / "
            f"{row['outcome']} / {row['analysis']} / {row['estimand']} / "
            f"{_text(row.get('exposure'))} / {row['timepoint']} / {row['contrast']} is not its "
            f"fit's {expected} (model_n.csv)"
        )


def check_association_counts(counts: pd.DataFrame, model_n: pd.DataFrame) -> None:
    """The association table's and the odds-ratio forest's n per exposure level
    (tables/association_counts.csv) are the levels of the exposure's fit in model_n.csv:
    both are counted from the rows passed to the fit, so a difference is a programming
    error."""
    fits = model_n[model_n["analysis"] == ASSOCIATION]
    fits = fits[analysis_names(fits) == PRIMARY]
    reported = {
        (str(r["analysis_set"]), str(r["exposure"]), str(r["arm"])): int(r["n"])
        for r in fits.to_dict("records")
    }
    for row in counts.to_dict("records"):
        key = (str(row["analysis_set"]), str(row["exposure"]), str(row["label"]))
        assert reported.get(key) == int(row["n"]), (
            f"association_counts.csv's n {int(row['n'])} of {' / '.join(key)} is not its "
            f"fit's {reported.get(key)} (model_n.csv)"
        )
