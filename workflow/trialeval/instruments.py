"""Instrument scoring and reliability.

Scoring follows the registry (config/instruments.yaml), resolved by trialeval.config:
- reverse-keyed items are recoded as (min + max - answer);
- a subscale is scored when at least `min_answered` of its items are answered; a `sum` score is
  prorated (mean of the answered items x number of items), a `mean` score is the mean of the
  answered items; otherwise it is missing;
- a category is 1/0 from a cut-off on a subscale, or 1 when any of `any_item` reaches its
  threshold (0 only when all of them are answered and none does);
- bands are the ordered levels 1..k of a subscale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Fractions compared with a little slack: 0.8 of 10 items is 8 answered, not 7.9999.
_EPS = 1e-9


def keyed_items(items: pd.DataFrame, instrument: dict) -> np.ndarray:
    """The instrument's answers as an (n, k) float array, reverse keys applied, NaN = skipped."""
    lo, hi = instrument["item_range"]
    columns = [item["column"] for item in instrument["items"]]
    values = items[columns].to_numpy(dtype=float, copy=True)
    reverse = np.array([item["reverse"] for item in instrument["items"]])
    values[:, reverse] = lo + hi - values[:, reverse]
    return values


def subscale_scores(values: np.ndarray, positions: list[int], scoring: str, min_answered: float):
    """Score one subscale from keyed answers; returns (score, n_answered) arrays."""
    block = values[:, positions]
    answered = ~np.isnan(block)
    n_answered = answered.sum(axis=1)
    k = len(positions)
    total = np.where(answered, block, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n_answered
    score = mean * k if scoring == "sum" else mean
    enough = n_answered >= min_answered * k - _EPS
    return np.where(enough & (n_answered > 0), score, np.nan), n_answered


def _category(values, positions_of, scores, rule) -> np.ndarray:
    if rule["subscale"] is not None:
        score = scores[rule["subscale"]]
        hit = (
            score >= rule["at_least"] if rule["at_least"] is not None else score <= rule["at_most"]
        )
        return np.where(np.isnan(score), np.nan, hit.astype(float))
    block = values[:, [positions_of[i] for i in rule["any_item"]]]
    with np.errstate(invalid="ignore"):
        any_hit = (block >= rule["at_least"]).any(axis=1)
    all_answered = ~np.isnan(block).any(axis=1)
    return np.where(any_hit, 1.0, np.where(all_answered, 0.0, np.nan))


def _bands(score: np.ndarray, levels: list[dict]) -> np.ndarray:
    uppers = np.array([level["at_most"] for level in levels], dtype=float)
    level = np.searchsorted(uppers, score, side="left") + 1.0
    return np.where(np.isnan(score) | (level > len(levels)), np.nan, level)


def score_instrument(items: pd.DataFrame, instrument: dict) -> dict[tuple[str, str], tuple]:
    """All scales of one instrument: {(kind, name): (score array, n_answered or None)}."""
    values = keyed_items(items, instrument)
    positions_of = {item["id"]: j for j, item in enumerate(instrument["items"])}
    scales: dict[tuple[str, str], tuple] = {}
    scores = {}
    for name, sub in instrument["subscales"].items():
        positions = [positions_of[i] for i in sub["items"]]
        score, n_answered = subscale_scores(
            values, positions, sub["scoring"], instrument["min_answered"]
        )
        scores[name] = score
        scales[("score", name)] = (score, n_answered)
    for name, rule in instrument["categories"].items():
        scales[("category", name)] = (_category(values, positions_of, scores, rule), None)
    if instrument["bands"]:
        bands = instrument["bands"]
        scales[("bands", "bands")] = (_bands(scores[bands["subscale"]], bands["levels"]), None)
    return scales


def score_outcomes(items: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Long table of outcome scores: participant_id, timepoint, outcome, score, n_answered.

    One row per response and outcome, in the trial file's outcome order; a missing score
    (too few items answered) stays as a row with score NaN, so every response is visible.
    """
    by_instrument = {
        inst_id: score_instrument(items, inst) for inst_id, inst in spec["instruments"].items()
    }
    frames = []
    for outcome in spec["outcomes"]:
        score, n_answered = by_instrument[outcome["instrument"]][(outcome["kind"], outcome["name"])]
        frames.append(
            pd.DataFrame(
                {
                    "participant_id": items["participant_id"].to_numpy(),
                    "timepoint": items["timepoint"].to_numpy(),
                    "outcome": outcome["id"],
                    "score": score,
                    # categories and bands have no item count of their own
                    "n_answered": (
                        n_answered.astype(float)
                        if n_answered is not None
                        else np.full(len(items), np.nan)
                    ),
                }
            )
        )
    scores = pd.concat(frames, ignore_index=True)
    scores["n_answered"] = scores["n_answered"].astype("Int64")
    return scores


def cronbach_alpha(values: np.ndarray) -> tuple[float, int]:
    """Cronbach's alpha of an (n, k) item array on its complete rows; returns (alpha, n used).

    alpha = k / (k - 1) * (1 - sum of item variances / variance of the total), variances with
    ddof = 1. NaN when fewer than 2 complete rows or 2 items, or the total has no variance.
    """
    complete = values[~np.isnan(values).any(axis=1)]
    n, k = complete.shape
    if n < 2 or k < 2:
        return float("nan"), n
    item_var = complete.var(axis=0, ddof=1).sum()
    total_var = complete.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return float("nan"), n
    return float(k / (k - 1) * (1 - item_var / total_var)), n


def reliability(items: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Cronbach's alpha per multi-item subscale per timepoint (reverse keys applied)."""
    rows = []
    timepoints = [tp["id"] for tp in spec["timepoints"]]
    for inst_id, inst in spec["instruments"].items():
        positions_of = {item["id"]: j for j, item in enumerate(inst["items"])}
        for tp in timepoints:
            wave = items[items["timepoint"] == tp]
            values = keyed_items(wave, inst)
            for name, sub in inst["subscales"].items():
                if len(sub["items"]) < 2:
                    continue
                alpha, n = cronbach_alpha(values[:, [positions_of[i] for i in sub["items"]]])
                rows.append(
                    {
                        "instrument": inst_id,
                        "subscale": name,
                        "label": sub["label"],
                        "timepoint": tp,
                        "n_items": len(sub["items"]),
                        "n_complete": n,
                        "n_responses": len(wave),
                        "alpha": alpha,
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "instrument",
            "subscale",
            "label",
            "timepoint",
            "n_items",
            "n_complete",
            "n_responses",
            "alpha",
        ],
    )


def run(
    spec: dict,
    items_path: str,
    participants_path: str,
    scores_out: str,
    scores_csv_out: str,
    reliability_out: str,
) -> None:
    """Rule entry: score every outcome and write scores (parquet + CSV) and reliability."""
    from trialeval.io import write_csv, write_parquet

    items = pd.read_parquet(items_path)
    participants = pd.read_parquet(participants_path)
    scores = score_outcomes(items, spec)
    keep = ["participant_id", "arm"] + (["site"] if "site" in participants else [])
    scores = scores.merge(participants[keep], on="participant_id", how="left", validate="m:1")
    scores = scores[keep + ["timepoint", "outcome", "score", "n_answered"]]
    write_parquet(scores, scores_out)
    write_csv(scores, scores_csv_out)
    write_csv(reliability(items, spec), reliability_out)
