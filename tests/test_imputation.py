"""Multiple imputation for sensitivity analyses (trialeval.imputation).

Rubin's rules and the Barnard-Rubin df: by hand on fixed numbers, and against R's
mice::pool.scalar (tests/data/reference/imputation_pool_ref.R, R 4.2.2, mice 3.15.0; closed
formulas, so the tolerance is rounding: 1e-9 relative). The imputation itself is random: it is
compared in distribution with mice's `norm` method on the same data
(tests/data/reference/imputation_mice_ref.R, Monte Carlo tolerances in the test); other tests
check determinism, the delta adjustment's bookkeeping, both missingness patterns, and (slow)
that it recovers a known MAR truth on simulated data, a smoke test.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import ROOT
from trialeval import imputation as mi

REFERENCE = ROOT / "tests" / "data" / "reference"


# ----------------------------------------------------------------------------------------
# Rubin's rules
# ----------------------------------------------------------------------------------------


def test_pool_by_hand():
    q = np.array([1.0, 2.0, 3.0, 2.0])
    u = np.array([0.5, 0.7, 0.6, 0.6])
    dfcom = 30.0
    got = mi.pool(q, u, dfcom=dfcom, alpha=0.05)
    m = 4
    qbar = 2.0  # (1 + 2 + 3 + 2) / 4
    ubar = 0.6  # (0.5 + 0.7 + 0.6 + 0.6) / 4
    b = (1 + 0 + 1 + 0) / (m - 1)  # sum of squared deviations / (m - 1) = 2/3
    t = ubar + (1 + 1 / m) * b  # 0.6 + 1.25 * 2/3
    r = (1 + 1 / m) * b / ubar
    lam = (1 + 1 / m) * b / t
    df_old = (m - 1) / lam**2
    df_obs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    df = df_old * df_obs / (df_old + df_obs)
    fmi = (r + 2 / (df + 3)) / (r + 1)
    half = stats.t.ppf(0.975, df) * np.sqrt(t)
    assert got.estimate == pytest.approx(qbar, rel=1e-12)
    assert got.within == pytest.approx(ubar, rel=1e-12)
    assert got.between == pytest.approx(b, rel=1e-12)
    assert got.total == pytest.approx(t, rel=1e-12)
    assert got.se == pytest.approx(np.sqrt(t), rel=1e-12)
    assert got.riv == pytest.approx(r, rel=1e-12)
    assert got.lambda_ == pytest.approx(lam, rel=1e-12)
    assert got.df == pytest.approx(df, rel=1e-12)
    assert got.fmi == pytest.approx(fmi, rel=1e-12)
    assert got.ci_low == pytest.approx(qbar - half, rel=1e-10)
    assert got.ci_high == pytest.approx(qbar + half, rel=1e-10)
    assert got.p_value == pytest.approx(2 * stats.t.sf(qbar / np.sqrt(t), df), rel=1e-10)
    assert got.dfcom == dfcom and got.m == m
    # the Barnard-Rubin df never exceeds the complete-data df (nor the large-sample df)
    assert got.df < min(dfcom, df_old)


def test_pool_without_between_variance_and_with_infinite_dfcom():
    # B = 0: lambda is floored at 1e-4 inside the df, as mice:::barnard.rubin does
    got = mi.pool([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], dfcom=50)
    lam = 1e-4
    df_old, df_obs = 2 / lam**2, 51 / 53 * 50 * (1 - lam)
    assert got.between == 0 and got.riv == 0 and got.lambda_ == 0
    assert got.df == pytest.approx(df_old * df_obs / (df_old + df_obs), rel=1e-12)
    # dfcom infinite: Rubin's (1987) df (m - 1) / lambda^2
    got = mi.pool([1.0, 3.0], [1.0, 1.0])
    lam = 1.5 * 2.0 / (1.0 + 1.5 * 2.0)
    assert got.df == pytest.approx(1 / lam**2, rel=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        mi.pool([1.0], [1.0])


@pytest.mark.parametrize("case", ["moderate", "small_dfcom", "infinite_dfcom", "no_between", "m50"])
def test_pool_matches_mice_pool_scalar(case):
    ref = json.loads((REFERENCE / "imputation_pool.json").read_text())[case]
    dfcom = float(ref["dfcom"])  # "Inf" for n = Inf
    got = mi.pool(ref["Q"], ref["U"], dfcom=dfcom)
    # pool.scalar(Q, U, n, k): qbar, ubar, b, t, df (barnard.rubin, dfcom = n - k), r, fmi;
    # CI qbar +- qt(0.975, df) sqrt(t), P 2 * pt(-|qbar| / sqrt(t), df)
    for ours, theirs in [
        ("estimate", "qbar"),
        ("within", "ubar"),
        ("between", "b"),
        ("total", "t"),
        ("df", "df"),
        ("riv", "r"),
        ("fmi", "fmi"),
        ("se", "se"),
        ("ci_low", "ci_low"),
        ("ci_high", "ci_high"),
        ("p_value", "p_value"),
    ]:
        assert getattr(got, ours) == pytest.approx(ref[theirs], rel=1e-9, abs=1e-14), ours
    assert got.m == ref["m"]


# ----------------------------------------------------------------------------------------
# A small simulated trial: baseline + post visits, MAR dropout on the last observed score
# ----------------------------------------------------------------------------------------


def trial_spec(n_post: int) -> dict:
    return {
        "id": "sim",
        "control_arm": "ctl",
        "arms": [{"id": "ctl", "control": True}, {"id": "coach", "control": False}],
        "baseline": "t0",
        "timepoints": [{"id": f"t{k}", "baseline": k == 0} for k in range(n_post + 1)],
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "gender", "type": "categorical"},
        ],
    }


def simulate(
    n_per_arm=60,
    n_post=3,
    seed=1,
    *,
    dropout=0.15,
    intermittent=0.0,
    missing_baseline=0.0,
    effect=-2.0,
    rho=0.7,
):
    """(scores, participants, full) of a 2-arm trial; `full` has every score before
    missingness. Dropout at a visit is more likely the higher the last observed score (MAR);
    `intermittent`: the share of visits missed at random by participants still in."""
    rng = np.random.default_rng(seed)
    n = 2 * n_per_arm
    arm = np.repeat(["ctl", "coach"], n_per_arm)
    age = rng.normal(25, 3, n).round(1)
    gender = rng.choice(["man", "woman", "nonbinary"], n, p=[0.45, 0.5, 0.05])
    site = rng.choice(["s1", "s2", "s3"], n)
    t = n_post + 1
    y = np.empty((n, t))
    level = 20 + 0.3 * (age - 25) + 1.5 * (gender == "woman")
    y[:, 0] = level + rng.normal(0, 5, n)
    for k in range(1, t):
        mean = level + (effect * k / n_post) * (arm == "coach")
        y[:, k] = mean + rho * (y[:, k - 1] - level) + rng.normal(0, 5 * np.sqrt(1 - rho**2), n)
    seen = np.ones((n, t), dtype=bool)
    present = np.ones(n, dtype=bool)  # not dropped out
    last = y[:, 0].copy()  # the last observed score: dropout depends on it only (MAR)
    for k in range(1, t):
        z = (last - 20) / 5
        drop = rng.random(n) < 1 / (1 + np.exp(-(np.log(dropout / (1 - dropout)) + 1.2 * z)))
        present &= ~drop
        seen[:, k] = present & (rng.random(n) >= intermittent)  # an intermittent miss: MCAR
        last = np.where(seen[:, k], y[:, k], last)
    if missing_baseline:
        seen[:, 0] &= rng.random(n) >= missing_baseline
    ids = np.array([f"P{i:04d}" for i in range(n)])
    full = pd.DataFrame(
        {
            "participant_id": np.repeat(ids, t),
            "timepoint": np.tile([f"t{k}" for k in range(t)], n),
            "score": y.ravel().round(2),
            "seen": seen.ravel(),
        }
    )
    participants = pd.DataFrame(
        {"participant_id": ids, "arm": arm, "age": age, "gender": gender, "site": site}
    )
    scores = full[full["seen"]].drop(columns="seen").reset_index(drop=True)
    return scores, participants, full


def prepared(scores, participants, n_post=3, **kw):
    return mi.imputation_data(
        scores, participants, trial_spec(n_post), covariates=("age", "gender"), **kw
    )


def test_layout_and_monotone_patterns():
    scores, participants, _ = simulate()
    data = prepared(scores, participants, site=True)
    assert data.visits == ("t0", "t1", "t2", "t3")
    assert data.y.shape == (120, 4) and data.z_names[:2] == ["Intercept", "age"]
    assert {"gender[woman]", "site[s2]"} <= set(data.z_names)
    assert data.shifted.sum() == 60 and set(data.arms[data.shifted]) == {"coach"}
    assert mi.is_monotone(data.missing) and data.missing[:, 1:].sum() > 0
    completed = mi.impute(data, m=5, seed=3)
    assert completed.shape == (5, 120, 4) and np.isfinite(completed).all()
    observed = ~data.missing
    assert (completed[:, observed] == data.y[observed]).all()  # observed values untouched
    assert completed[:, data.missing].std() > 0  # imputations differ between data sets


def test_non_monotone_and_missing_baseline():
    scores, participants, _ = simulate(seed=2, intermittent=0.15, missing_baseline=0.1)
    # one participant with no score at all, one with a missing covariate
    scores = scores[scores["participant_id"] != "P0003"]
    participants.loc[participants["participant_id"] == "P0005", "age"] = np.nan
    data = prepared(scores, participants)
    assert not mi.is_monotone(data.missing)
    assert np.isnan(data.y[:, 0]).any()
    assert "P0005" not in data.participant_ids and data.n_not_imputed == 1
    assert data.missing[list(data.participant_ids).index("P0003")].all()
    completed = mi.impute(data, m=4, seed=5, iterations=5)
    assert np.isfinite(completed).all()
    frames = list(mi.completed_frames(data, completed))
    assert len(frames) == 4
    frame = frames[0]
    # every imputed participant has every visit; the one not imputed keeps its observed rows
    assert len(frame[frame["participant_id"] != "P0005"]) == 119 * 4
    kept = frame[frame["participant_id"] == "P0005"]
    original = scores[scores["participant_id"] == "P0005"]
    assert (~kept["imputed"]).all() and len(kept) == len(original)
    assert frame["imputed"].sum() == data.missing.sum()


def test_intermittent_value_uses_the_later_visit():
    """A visit missed between two observed ones is drawn from the FCS conditional given both
    neighbours: with strongly correlated visits it tracks the later observed score."""
    scores, participants, full = simulate(n_per_arm=150, seed=4, intermittent=0.3, rho=0.95)
    data = prepared(scores, participants)
    completed = mi.impute(data, m=10, seed=1).mean(axis=0)
    truth = full.pivot(index="participant_id", columns="timepoint", values="score")
    truth = truth.loc[data.participant_ids].to_numpy()
    gap = data.missing[:, 1] & ~data.missing[:, 2] & ~data.missing[:, 0]
    assert gap.sum() > 20
    corr = np.corrcoef(completed[gap, 1], truth[gap, 1])[0, 1]
    assert corr > 0.8


def test_visit_nobody_observed_and_a_level_only_among_the_missing():
    scores, participants, _ = simulate(seed=12)
    coach = set(participants.loc[participants["arm"] == "coach", "participant_id"])
    gone = scores["participant_id"].isin(coach) & (scores["timepoint"] == "t3")
    # the only nonbinary participants of the control arm all miss t2: their dummy is aliased
    # in that visit's regression (no data), and is dropped there as lm would drop it
    control = participants["arm"] == "ctl"
    participants.loc[control, "gender"] = participants.loc[control, "gender"].replace(
        "nonbinary", "man"
    )
    few = participants.index[control][:3]
    participants.loc[few, "gender"] = "nonbinary"
    late = scores["participant_id"].isin(participants.loc[few, "participant_id"])
    late &= scores["timepoint"].isin(["t2", "t3"])
    data = prepared(scores[~gone & ~late], participants)
    assert data.notes == ("arm coach: nobody observed at t3: not imputed",)
    completed = mi.impute(data, m=3, seed=1)
    assert np.isnan(completed[:, data.shifted, 3]).all()  # left missing, for the model to see
    assert np.isfinite(np.delete(completed, 3, axis=2)).all()
    assert np.isfinite(completed[:, ~data.shifted, 3]).all()
    frame = next(mi.completed_frames(data, completed))
    assert not ((frame["timepoint"] == "t3") & frame["participant_id"].isin(coach)).any()


@pytest.mark.parametrize("pattern", ["monotone", "non_monotone"])
def test_imputations_are_distributed_as_mice_norm(pattern):
    """Against mice's `norm` on the same data, per arm (imputation_mice_ref.R: visits in
    order; monotone: each on the covariates and earlier visits, maxit = 1; non-monotone: on all
    other visits, FCS, maxit = 20). Imputations are random, so the comparison is of their
    distributions (mice: 400 imputations, here 200), per arm and visit: the mean over
    imputations of the completed-data mean (Rubin's Qbar) within 4 Monte Carlo SEs, its
    variance over imputations (B) within 4 Monte Carlo SDs of log(B) (sqrt(2 / (m - 1)) each),
    and the mean completed-data SD within 4 Monte Carlo SEs."""
    ref = pd.DataFrame(json.loads((REFERENCE / "imputation_mice.json").read_text()))
    ref = ref[ref["pattern"] == pattern].set_index(["arm", "visit"])
    trial = pd.read_csv(REFERENCE / "imputation_trial.csv")
    trial = trial[trial["pattern"] == pattern]
    visits = ["t0", "t1", "t2", "t3"]
    scores = trial.melt("participant_id", visits, var_name="timepoint", value_name="score")
    participants = trial[["participant_id", "arm", "age", "gender"]]
    data = prepared(scores, participants)
    m, m_mice = 200, ref["m"].iloc[0]
    completed = mi.impute(data, m=m, seed=7)
    log_b_sd = np.sqrt(2 / (m - 1) + 2 / (m_mice - 1))
    for (arm, visit), r in ref.iterrows():
        rows, j = data.arms == arm, visits.index(visit)
        assert data.missing[rows, j].sum() == r["n_missing"]
        means = completed[:, rows, j].mean(axis=1)
        sds = completed[:, rows, j].std(axis=1, ddof=1)
        if r["n_missing"] == 0:  # nothing to impute: the observed mean
            assert np.ptp(means) == 0 and means[0] == pytest.approx(r["qbar"], rel=1e-12)
            continue
        mc_se = np.sqrt(means.var(ddof=1) / m + r["b"] / m_mice)
        assert abs(means.mean() - r["qbar"]) < 4 * mc_se, (arm, visit)
        assert abs(np.log(means.var(ddof=1) / r["b"])) < 4 * log_b_sd, (arm, visit)
        mc_se = np.sqrt(sds.var(ddof=1) / m + r["sd_var"] / m_mice)
        assert abs(sds.mean() - r["sd_mean"]) < 4 * mc_se, (arm, visit)


def test_same_seed_same_imputations_whatever_the_row_order():
    scores, participants, _ = simulate(seed=6, intermittent=0.1, missing_baseline=0.05)
    first = mi.impute(prepared(scores, participants), m=6, seed=11)
    again = mi.impute(prepared(scores, participants), m=6, seed=11)
    reordered = scores.sample(frac=1, random_state=1), participants.sample(frac=1, random_state=2)
    shuffled = mi.impute(prepared(*reordered), m=6, seed=11)
    assert np.array_equal(first, again)
    assert np.array_equal(first, shuffled)
    assert not np.array_equal(first, mi.impute(prepared(scores, participants), m=6, seed=12))


def test_delta_shifts_only_imputed_post_values_of_the_intervention_arm():
    scores, participants, _ = simulate(seed=7, intermittent=0.1, missing_baseline=0.1)
    data = prepared(scores, participants)
    plain = mi.impute(data, m=5, seed=2)
    by_delta = dict(mi.completed_by_delta(data, [-2.0, 1.5], m=5, seed=2))
    assert sorted(by_delta) == [-2.0, 0.0, 1.5]  # 0 (MAR) always included
    assert np.array_equal(by_delta[0.0], plain)  # delta 0 is the plain MI
    assert np.array_equal(mi.impute(data, m=5, seed=2, delta=0.0, propagate=True), plain)
    moved = data.missing & data.shifted[:, None]
    moved[:, 0] = False
    for delta in (-2.0, 1.5):
        assert np.array_equal(by_delta[delta], plain + delta * moved)  # same draws, shifted
        assert np.array_equal(mi.impute(data, m=5, seed=2, delta=delta), by_delta[delta])


def test_propagated_delta_accumulates_over_later_visits():
    scores, participants, _ = simulate(n_per_arm=80, seed=8)  # monotone dropout
    data = prepared(scores, participants)
    plain = mi.impute(data, m=5, seed=4)
    shifted = mi.impute(data, m=5, seed=4, delta=-3.0, propagate=True)
    diff = shifted - plain
    control = ~data.shifted
    assert (diff[:, control] == 0).all() and (diff[:, ~data.missing] == 0).all()
    # first missed visit of an intervention participant observed just before: exactly delta
    # (same draws, same regression: the fit for a visit uses observed rows only here)
    first = data.shifted & data.missing[:, 2] & ~data.missing[:, 1]
    np.testing.assert_allclose(diff[:, first, 2], -3.0, rtol=1e-9)
    # a later visit carries the shift through the regression on the shifted visit
    later = data.shifted & data.missing[:, 1] & data.missing[:, 3]
    assert later.any()
    assert (diff[:, later, 3] < -3.5).all()


def test_tipping_point_with_a_simple_analysis():
    scores, participants, _ = simulate(n_per_arm=100, seed=9, effect=-4.0)
    data = prepared(scores, participants)

    coach = set(participants.loc[participants["arm"] == "coach", "participant_id"])

    def last_visit_difference(frame):
        """Difference in means at the last visit (unpooled SE): (estimate, se, df)."""
        last = frame[frame["timepoint"] == "t3"]
        treated = last["participant_id"].isin(coach).to_numpy()
        a, c = last["score"].to_numpy()[treated], last["score"].to_numpy()[~treated]
        se = np.sqrt(a.var(ddof=1) / len(a) + c.var(ddof=1) / len(c))
        return a.mean() - c.mean(), se, len(a) + len(c) - 2

    grid = [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0]
    table, tipping, note = mi.tipping_point(last_visit_difference, data, grid, m=10, seed=1)
    assert list(table.columns) == mi.TIPPING_COLUMNS
    assert list(table["delta"]) == [0.0, *grid]
    assert (table["dfcom"] == 198).all() and (table["m"] == 10).all()
    # common random numbers: each estimate is the MAR one plus delta times the share of
    # the intervention arm imputed at t3, exactly (the same draws shifted)
    share = data.missing[data.shifted, 3].mean()
    np.testing.assert_allclose(
        table["estimate"], table["estimate"].iloc[0] + table["delta"] * share, rtol=1e-9
    )
    assert table["p_value"].iloc[0] < 0.05
    reached = table.loc[table["p_value"] >= 0.05, "delta"]
    assert tipping == reached.min() and tipping in grid
    assert note == f"P reaches 0.05 at delta {tipping:g}"


def test_find_tipping_point_rules():
    table = pd.DataFrame(
        {"delta": [-2.0, -1.0, 0.0, 1.0, 2.0], "p_value": [0.2, 0.06, 0.01, 0.03, 0.04]}
    )
    assert mi.find_tipping_point(table, 0.05) == (-1.0, "P reaches 0.05 at delta -1")
    table["p_value"] = [0.01, 0.02, 0.03, 0.04, 0.045]
    assert mi.find_tipping_point(table, 0.05) == (
        None,
        "P stays below 0.05 at every delta from -2 to 2",
    )
    table["p_value"] = [0.5, 0.4, 0.3, 0.2, 0.01]  # not significant under MAR
    delta, note = mi.find_tipping_point(table, 0.05)
    assert delta == 2.0 and note.startswith("not significant under MAR")


def test_primary_mixed_model_on_imputations():
    """The convenience pools the pipeline's own mixed model (models.mixed_model_effects)."""
    from trialeval.models import mixed_model_effects

    n_post = 2
    scores, participants, _ = simulate(n_per_arm=40, n_post=n_post, seed=10)
    spec = trial_spec(n_post)
    outcome = {"id": "ee", "role": "primary"}
    options = dict(analysis_set="itt", model="mmrm", site="none", covariates=("age",))
    pooled, tipping = mi.mixed_model_imputation(
        scores, participants, spec, outcome, **options, m=2, seed=5, deltas=[2.0]
    )
    assert list(pooled.columns) == mi.MI_COLUMNS
    assert set(pooled["timepoint"]) == {"t1", "t2"} and set(pooled["delta"]) == {0.0, 2.0}
    assert (pooled["n"] == 80).all() and (pooled["n_analysis_set"] == 80).all()
    assert len(tipping) == 2 and "multiple imputation" in pooled["method"].iloc[0]
    # the MAR rows are Rubin's rules over the model fitted on each completed data set
    data = mi.imputation_data(scores, participants, spec, covariates=("age",))
    fits = [
        mixed_model_effects(frame, participants, spec, outcome, **options)[0].set_index("timepoint")
        for frame in mi.completed_frames(data, mi.impute(data, m=2, seed=5))
    ]
    expected = mi.pool(
        [f.loc["t2", "estimate"] for f in fits],
        [f.loc["t2", "se"] ** 2 for f in fits],
        dfcom=np.mean([f.loc["t2", "df"] for f in fits]),
    )
    got = pooled[(pooled["delta"] == 0.0) & (pooled["timepoint"] == "t2")].iloc[0]
    assert got["estimate"] == pytest.approx(expected.estimate, rel=1e-12)
    assert got["se"] == pytest.approx(expected.se, rel=1e-12)
    assert got["df"] == pytest.approx(expected.df, rel=1e-12)
    # dfcom "observed": the primary fit's Satterthwaite df on the observed data
    observed = mixed_model_effects(scores, participants, spec, outcome, **options)[0]
    pooled, _ = mi.mixed_model_imputation(
        scores, participants, spec, outcome, **options, m=2, seed=5, dfcom="observed"
    )
    np.testing.assert_allclose(pooled["dfcom"], observed["df"], rtol=1e-12)


def test_model_n_of_an_imputation_is_its_completed_data_sets_participants():
    """A multiple imputation's n (model_n): the participants of the first completed data
    set's fit, collected once for every delta and imputation. By hand: 40 per arm; control's
    P0000 and P0001 have no score at all (imputed from arm and covariates: in), the coached
    P0040-P0042 no age (not imputed; the model drops them): control 40, coached 37, the
    pooled rows' n 77; the observed-data fit has control 38."""
    from trialeval.models import mixed_model_effects

    scores, participants, _ = simulate(n_per_arm=40, n_post=2, seed=10)
    scores = scores[~scores["participant_id"].isin(["P0000", "P0001"])]
    no_age = participants["participant_id"].isin(["P0040", "P0041", "P0042"])
    participants.loc[no_age, "age"] = np.nan
    spec, outcome = trial_spec(2), {"id": "ee", "role": "primary"}
    options = dict(analysis_set="itt", model="repeated", site="none", covariates=("age",))
    collected: list[dict] = []
    pooled, _ = mi.mixed_model_imputation(
        scores,
        participants,
        spec,
        outcome,
        **options,
        m=2,
        seed=5,
        deltas=[2.0],
        model_n=collected,
    )
    assert [(r["arm"], r["n"]) for r in collected] == [("ctl", 40), ("coach", 37)]
    assert {r["analysis"] for r in collected} == {"mixed_model"}
    assert (pooled["n"] == 77).all() and set(pooled["delta"]) == {0.0, 2.0}
    observed: list[dict] = []
    mixed_model_effects(scores, participants, spec, outcome, **options, model_n=observed)
    assert [(r["arm"], r["n"]) for r in observed] == [("ctl", 38), ("coach", 37)]


@pytest.mark.parametrize("site", ["none", "fixed", "random"])
def test_refit_of_the_repeated_model_equals_the_full_call(site):
    """The design built once and only the score refitted (`refit`, the default for model
    repeated) gives the numbers of mixed_model_effects called on every completed data set,
    also with visits removed from every completed data set (`exclude`)."""
    n_post = 2
    scores, participants, _ = simulate(n_per_arm=30, n_post=n_post, seed=12)
    participants = participants.assign(site=[f"s{k % 3}" for k in range(len(participants))])
    spec = trial_spec(n_post)
    outcome = {"id": "ee", "role": "primary"}
    options = dict(analysis_set="itt", model="repeated", site=site, covariates=("age",))
    exclude = pd.DataFrame(
        {"participant_id": participants["participant_id"][:5], "timepoint": "t2"}
    )
    runs = [
        mi.mixed_model_imputation(
            scores,
            participants,
            spec,
            outcome,
            **options,
            m=3,
            seed=2,
            deltas=[-1.0],
            exclude=exclude,
            refit=refit,
        )[0]
        for refit in (True, False)
    ]
    columns = ["estimate", "se", "df", "ci_low", "ci_high", "p_value", "fmi"]
    np.testing.assert_allclose(runs[0][columns], runs[1][columns], rtol=1e-10, atol=1e-12)
    pd.testing.assert_frame_equal(runs[0].drop(columns=columns), runs[1].drop(columns=columns))


# ----------------------------------------------------------------------------------------
# Truth recovery (smoke test on simulated data, not a reference)
# ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_imputation_recovers_a_mar_truth():
    """Dropout more likely after a high score (MAR on the previous visit) biases the observed
    last-visit means downwards; the MI means of the completed data are near the truth."""
    n_post = 3
    scores, participants, full = simulate(
        n_per_arm=1500, n_post=n_post, seed=2026, dropout=0.2, intermittent=0.05
    )
    data = prepared(scores, participants, n_post)
    completed = mi.impute(data, m=20, seed=1)
    truth = full.pivot(index="participant_id", columns="timepoint", values="score")
    truth = truth.loc[data.participant_ids, "t3"].to_numpy()
    for arm in ("ctl", "coach"):
        rows = data.arms == arm
        true_mean = truth[rows].mean()
        se = truth[rows].std() / np.sqrt(rows.sum())
        observed = data.y[rows, 3]
        complete_case = np.nanmean(observed)
        imputed = completed[:, rows, 3].mean()
        print(f"{arm}: truth {true_mean:.2f}, complete case {complete_case:.2f}, MI {imputed:.2f}")
        assert np.isnan(observed).mean() > 0.3
        assert true_mean - complete_case > 5 * se  # complete case biased (low scorers stay)
        assert abs(imputed - true_mean) < 2.5 * se  # MI near the truth
