"""Scoring checked against hand computations (reverse keys, missing-item rule, cut-offs, alpha)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT
from trialeval.config import resolve_instrument
from trialeval.instruments import cronbach_alpha, score_instrument

NAN = np.nan


@pytest.fixture(scope="module")
def registry():
    with open(ROOT / "config" / "instruments.yaml") as handle:
        raw = yaml.safe_load(handle)
    # the schema's defaults (reverse: [], min_answered: 0.8) are filled by resolve_instrument
    return {k: resolve_instrument(k, v, "config/instruments.yaml") for k, v in raw.items()}


def answers(instrument: dict, rows: list[dict]) -> pd.DataFrame:
    """Rows of {item id: answer}; unanswered items are NaN."""
    columns = {item["id"]: item["column"] for item in instrument["items"]}
    return pd.DataFrame(
        [{columns[i]: row.get(i, NAN) for i in columns} for row in rows], dtype=float
    )


def score(instrument, rows, kind, name):
    return score_instrument(answers(instrument, rows), instrument)[(kind, name)][0]


def test_scs_sf_reverse_keys_and_mean(registry):
    scs = registry["scs_sf"]
    all_twos = {str(i): 2 for i in range(1, 13)}
    pattern = dict(zip(map(str, range(1, 13)), [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2], strict=True))
    got = score(scs, [all_twos, pattern], "score", "total")
    # all 2s: items 1,4,8,9,11,12 reverse to 6 - 2 = 4 -> (6*2 + 6*4) / 12 = 3.0
    # pattern: keyed 5,2,3,2,5,1,2,3,2,5,5,4 -> sum 39 -> mean 39 / 12 = 3.25
    assert got == pytest.approx([3.0, 3.25], abs=1e-12)


def test_miss_hp_reverse_keys_and_cutoff(registry):
    miss = registry["miss_hp"]
    threes = {str(i): 3 for i in range(1, 11)}
    high = {str(i): 6 for i in range(1, 11)} | {"5": 1, "6": 1, "7": 1, "10": 1}
    total = score(miss, [threes, high], "score", "total")
    # threes: 6 items x 3 + 4 reversed items x (11 - 3 = 8) = 18 + 32 = 50
    # high: 6 x 6 + 4 x (11 - 1 = 10) = 36 + 40 = 76
    assert total == pytest.approx([50, 76])
    flag = score(miss, [threes, {str(i): 1 for i in range(1, 11)}], "category", "moral_injury")
    # all 1s: 6 x 1 + 4 x 10 = 46 >= 36 -> 1; 50 >= 36 -> 1
    assert flag.tolist() == [1.0, 1.0]
    low = {str(i): 1 for i in range(1, 11)} | {"5": 10, "6": 10, "7": 10, "10": 10}
    # 6 x 1 + 4 x 1 = 10 < 36 -> 0
    assert score(miss, [low], "category", "moral_injury").tolist() == [0.0]


def test_missing_item_rule_prorates_sum_scores(registry):
    fs = registry["flourishing"]  # 8 items, min_answered 0.8 -> at least 6.4, i.e. 7 answered
    seven = {str(i): 4 for i in range(1, 8)}  # item 8 skipped
    six = {str(i): 4 for i in range(1, 7)}
    uneven = {str(i): v for i, v in zip(range(1, 8), [7, 7, 7, 7, 7, 7, 1], strict=True)}
    got = score(fs, [seven, six, uneven], "score", "total")
    # seven answered: mean 4 x 8 items = 32; six answered: below the rule -> missing;
    # uneven: (6 x 7 + 1) / 7 x 8 = 43 / 7 x 8 = 49.142857...
    assert got[0] == pytest.approx(32.0)
    assert np.isnan(got[1])
    assert got[2] == pytest.approx(43 / 7 * 8)


def test_mbi_subscales_and_cutoffs(registry):
    mbi = registry["mbi"]
    ee_items = [1, 2, 3, 6, 8, 13, 14, 16, 20]
    pa_items = [4, 7, 9, 12, 17, 18, 19, 21]
    # EE exactly 27 (nine items of 3), PA exactly 33 (seven 4s and one 5), DP 9 (5 items: 2,2,2,2,1)
    row = {str(i): 3 for i in ee_items} | {str(i): 4 for i in pa_items} | {"21": 5}
    row |= {"5": 2, "10": 2, "11": 2, "15": 2, "22": 1}
    lower = row | {"1": 2}  # EE 26
    scales = score_instrument(answers(mbi, [row, lower]), mbi)
    assert scales[("score", "ee")][0].tolist() == [27, 26]
    assert scales[("score", "pa")][0].tolist() == [33, 33]
    assert scales[("score", "dp")][0].tolist() == [9, 9]
    assert scales[("category", "high_ee")][0].tolist() == [1.0, 0.0]  # EE >= 27
    assert scales[("category", "low_pa")][0].tolist() == [1.0, 1.0]  # PA <= 33
    assert scales[("category", "high_dp")][0].tolist() == [0.0, 0.0]  # DP >= 10
    # EE with two of nine items skipped: 7 answered < 0.8 x 9 = 7.2 -> missing
    sparse = {k: v for k, v in row.items() if k not in {"1", "2"}}
    assert np.isnan(score(mbi, [sparse], "score", "ee")[0])
    # one skipped: 8 of 9 answered, mean 3 -> prorated 27
    assert score(mbi, [{k: v for k, v in row.items() if k != "1"}], "score", "ee")[0] == 27


def test_two_item_burnout(registry):
    two = registry["mbi_2item"]
    rows = [{"8": 4, "10": 0}, {"8": 3, "10": 6}, {"8": 3, "10": 3}, {"8": 4}, {"8": 3}, {}]
    got = score(two, rows, "category", "burnout")
    # weekly or more (>= 4) on either item -> 1; both answered below 4 -> 0;
    # one item below 4 and the other skipped -> unknown
    assert got.tolist()[:4] == [1.0, 1.0, 0.0, 1.0]
    assert np.isnan(got[4]) and np.isnan(got[5])


def test_cips_bands(registry):
    cips = registry["cips"]

    def total(t):  # 20 items summing to t: t - 20 points spread over items from 1
        base = [1] * 20
        extra = t - 20
        for i in range(20):
            step = min(4, extra)
            base[i] += step
            extra -= step
        return {str(i + 1): v for i, v in enumerate(base)}

    rows = [total(t) for t in (40, 41, 60, 61, 80, 81, 100)]
    assert score(cips, rows, "score", "total").tolist() == [40, 41, 60, 61, 80, 81, 100]
    # bands <= 40, 41-60, 61-80, > 80
    assert score(cips, rows, "bands", "bands").tolist() == [1, 2, 2, 3, 3, 4, 4]


def test_prescored_single_column(registry):
    rec = registry["recommend"]
    got = score(rec, [{"recommend": 7}, {}], "score", "score")
    assert got[0] == 7 and np.isnan(got[1])


def test_prescored_total_with_a_cut_off_and_bands():
    """A depression total already scored in one column, with a cut-off (>= 14) and bands."""
    phq = resolve_instrument(
        "depression",
        {
            "label": "Depression total (pre-scored)",
            "prescored": {"column": "dep_total", "range": [0, 27]},
            "categories": {"depressed": {"subscale": "score", "at_least": 14}},
            "bands": {
                "subscale": "score",
                "levels": [
                    {"label": "minimal", "at_most": 4},
                    {"label": "mild", "at_most": 13},
                    {"label": "moderate or worse", "at_most": 27},
                ],
            },
        },
        "tiny.yaml",
    )
    rows = [{"dep_total": v} for v in (0, 4, 5, 13, 13.5, 14, 27)] + [{}]
    # the score is the column itself; missing stays missing
    assert score(phq, rows, "score", "score")[:7].tolist() == [0, 4, 5, 13, 13.5, 14, 27]
    # >= 14: only 14 and 27 are positive; 13.5 is below the cut-off; a missing score has none
    depressed = score(phq, rows, "category", "depressed")
    assert depressed[:7].tolist() == [0, 0, 0, 0, 0, 1, 1] and np.isnan(depressed[7])
    # bands: <= 4 -> 1, 5-13 -> 2, above 13 -> 3
    bands = score(phq, rows, "bands", "bands")
    assert bands[:7].tolist() == [1, 1, 2, 2, 3, 3, 3] and np.isnan(bands[7])


def test_cronbach_alpha_by_hand():
    values = np.array([[1, 2, 3], [2, 3, 3], [3, 3, 4], [4, 5, 5]], dtype=float)
    # item variances 5/3, 19/12, 11/12 (sum 25/6); totals 6, 8, 10, 14 have variance 35/3;
    # alpha = 3/2 * (1 - (25/6) / (35/3)) = 3/2 * (1 - 5/14) = 27/28
    alpha, n = cronbach_alpha(values)
    assert alpha == pytest.approx(27 / 28, abs=1e-12)
    assert n == 4
    # incomplete rows are left out (listwise), so adding one changes nothing
    with_gap = np.vstack([values, [np.nan, 1, 1]])
    assert cronbach_alpha(with_gap) == (pytest.approx(27 / 28, abs=1e-12), 4)
    # the covariance-matrix form of the same statistic
    cov = np.cov(values, rowvar=False)
    assert alpha == pytest.approx(3 / 2 * (1 - np.trace(cov) / cov.sum()), abs=1e-12)
    assert np.isnan(cronbach_alpha(values[:1])[0])
