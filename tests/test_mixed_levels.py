"""Tests for delivery groups in the REML engine (trialeval.mixed_levels via trialeval.mixed).

The partially nested model of group-delivered interventions,
    score ~ arm * visit + (1 | participant) + (0 + gpost | group) [+ (1 | site)],
with gpost = 1 on a grouped participant's post-baseline rows and an ungrouped participant its
own group, is checked against lme4 1.1-31 + lmerTest 3.1-3 (R 4.2.2) on a simulated trial
with 14 coaching groups (tests/data/reference/groups_ref.R writes the data and
groups_lmer.json; each test repeats its lmer call). Tolerances: estimates within 1e-5 SE,
SEs within 1e-5 relative, Satterthwaite df within 1e-4 relative (measured: 5e-7, 3e-7 and
2e-6). The covariance algebra is also checked against dense matrices built by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trialeval.mixed import contrast, fit_reml
from trialeval.mixed_levels import nested_levels

REF = Path(__file__).parent / "data" / "reference"
EST_SE = 1e-5  # |estimate - R| / R's SE
SE_REL = 1e-5
DF_REL = 1e-4


@pytest.fixture(scope="module")
def lmer() -> dict:
    return json.loads((REF / "groups_lmer.json").read_text())


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    data = pd.read_csv(REF / "groups_trial.csv", keep_default_na=False)
    data["gpost"] = ((data["group"] != "") & (data["timepoint"] != "baseline")).astype(float)
    return data


def r_design(data: pd.DataFrame, names: list[str]) -> np.ndarray:
    """R's model.matrix columns from lme4's fixef names (armX, timepointY, siteZ, a:b, age)."""
    columns = []
    for name in names:
        column = np.ones(len(data))
        for part in name.split(":") if name != "(Intercept)" else []:
            for factor in ("arm", "timepoint", "site"):
                if part.startswith(factor) and part != factor:
                    column = column * (data[factor] == part[len(factor) :]).to_numpy()
                    break
            else:
                column = column * data[part].to_numpy(float)
        columns.append(column)
    return np.column_stack(columns)


def fit_like_r(reference: dict, data: pd.DataFrame, *, participants: bool, site: bool, cov):
    names = list(reference["fixef"])
    return fit_reml(
        data["score"].to_numpy(float),
        r_design(data, names),
        data["participant_id"].to_numpy() if participants else None,
        sites=data["site"].to_numpy() if site else None,
        column_names=names,
        delivery_groups=data["group"].to_numpy(object),
        group_covariate=cov,
    )


def assert_matches(fit, reference: dict, components: dict[str, str]) -> None:
    beta = np.array(list(reference["fixef"].values()))
    se = np.array(list(reference["se"].values()))
    assert np.all(np.abs(fit.params.to_numpy() - beta) <= EST_SE * se)
    assert np.sqrt(np.diag(fit.cov_params.to_numpy())) == pytest.approx(se, rel=SE_REL)
    for field, r_name in components.items():
        assert getattr(fit, field) == pytest.approx(reference["sd"][r_name], rel=1e-5)
    assert fit.sd_residual == pytest.approx(reference["sd"]["Residual"], rel=1e-5)
    assert fit.reml_loglik == pytest.approx(reference["reml_loglik"], abs=1e-6)
    assert fit.n_obs == reference["n_obs"]
    for c in reference["contrasts"]:
        result = contrast(fit, pd.Series(c["L"]))
        assert abs(result.estimate - c["estimate"]) <= EST_SE * c["se"], c["name"]
        assert result.se == pytest.approx(c["se"], rel=SE_REL), c["name"]
        assert result.df == pytest.approx(c["df"], rel=DF_REL), c["name"]
        assert result.p_value == pytest.approx(c["p"], rel=1e-3, abs=1e-8), c["name"]


def test_partially_nested_repeated_matches_lmer(trial, lmer):
    # lmer(score ~ arm * timepoint + (1 | participant_id) + (0 + gpost | dgroup), REML = TRUE)
    # with lmerTest::contest1D(fit, L, ddf = "Satterthwaite") for diff_in_change (arm:visit)
    # and diff_in_means (arm + arm:visit) per intervention arm and post visit
    fit = fit_like_r(lmer["repeated"], trial, participants=True, site=False, cov=trial["gpost"])
    sds = {"sd_participant": "participant_id", "sd_group": "dgroup"}
    assert_matches(fit, lmer["repeated"], sds)
    assert fit.n_delivery_groups == 14
    assert fit.converged and not fit.boundary
    # the group term costs the coached arm most of its df, not the ungrouped arm
    df = {c["name"]: c["df"] for c in lmer["repeated"]["contrasts"]}
    assert df["diff_in_change:coaching:month4"] < 40 < 400 < df["diff_in_change:selfguided:month4"]


def test_partially_nested_with_site_random_matches_lmer(trial, lmer):
    # lmer(score ~ arm * timepoint + (1 | participant_id) + (0 + gpost | dgroup) + (1 | site))
    reference = lmer["repeated_site_random"]
    fit = fit_like_r(reference, trial, participants=True, site=True, cov=trial["gpost"])
    assert_matches(
        fit,
        reference,
        {"sd_participant": "participant_id", "sd_group": "dgroup", "sd_site": "site"},
    )
    assert fit.n_sites == 4


def test_partially_nested_with_site_fixed_and_covariate_matches_lmer(trial, lmer):
    # lmer(score ~ arm * timepoint + age + site + (1 | participant_id) + (0 + gpost | dgroup))
    reference = lmer["repeated_site_fixed_age"]
    fit = fit_like_r(reference, trial, participants=True, site=False, cov=trial["gpost"])
    assert_matches(fit, reference, {"sd_participant": "participant_id", "sd_group": "dgroup"})


@pytest.fixture(scope="module")
def ancova_rows(trial) -> pd.DataFrame:
    baseline = trial.loc[trial["timepoint"] == "baseline", ["participant_id", "score"]]
    post = trial[trial["timepoint"] != "baseline"]
    return post.merge(baseline.rename(columns={"score": "baseline"}), on="participant_id")


def test_partially_nested_ancova_matches_lmer(ancova_rows, lmer):
    # lmer(score ~ arm + baseline + timepoint + (1 | participant_id) + (0 + gpost | dgroup))
    # on the post-baseline rows with the participant's baseline score
    reference = lmer["ancova"]
    post = ancova_rows["gpost"]
    fit = fit_like_r(reference, ancova_rows, participants=True, site=False, cov=post)
    assert_matches(fit, reference, {"sd_participant": "participant_id", "sd_group": "dgroup"})


@pytest.mark.parametrize("site", [False, True])
def test_ancova_one_post_visit_with_groups_matches_lmer(ancova_rows, lmer, site):
    # one row per participant, no participant intercept:
    # lmer(score ~ arm + baseline + (0 + grouped | dgroup) [+ (1 | site)]) on month-4 rows
    rows = ancova_rows[ancova_rows["timepoint"] == "month4"].reset_index(drop=True)
    reference = lmer["ancova_one_post_site" if site else "ancova_one_post"]
    grouped = (rows["group"] != "").astype(float)
    fit = fit_like_r(reference, rows, participants=False, site=site, cov=grouped)
    assert_matches(fit, reference, {"sd_group": "dgroup", **({"sd_site": "site"} if site else {})})
    assert np.isnan(fit.sd_participant)


def test_levels_with_intercepts_reproduce_the_site_model(trial):
    # (1 | participant) + (1 | site) written as nested levels (the "groups" being the sites,
    # covariate 1) must be the random-intercept engine's nested fit
    names = ["(Intercept)", "armcoaching", "armselfguided", "timepointmonth2", "timepointmonth4"]
    X = r_design(trial, names)
    y = trial["score"].to_numpy(float)
    ids, sites = trial["participant_id"].to_numpy(), trial["site"].to_numpy()
    direct = fit_reml(y, X, ids, sites=sites, column_names=names)
    as_levels = fit_reml(
        y, X, ids, column_names=names, delivery_groups=sites, group_covariate=np.ones(len(y))
    )
    assert as_levels.params.to_numpy() == pytest.approx(direct.params.to_numpy(), rel=1e-9)
    assert as_levels.cov_params.to_numpy() == pytest.approx(direct.cov_params.to_numpy(), rel=1e-7)
    assert as_levels.sd_group == pytest.approx(direct.sd_site, rel=1e-7)
    assert as_levels.reml_loglik == pytest.approx(direct.reml_loglik, abs=1e-9)
    for name in names[1:]:
        a, b = contrast(as_levels, pd.Series({name: 1.0})), contrast(direct, pd.Series({name: 1.0}))
        assert a.df == pytest.approx(b.df, rel=1e-6)


def test_covariance_pieces_match_dense_matrices():
    # Hand computation: H = I + sum_k theta_k^2 Z_k Z_k' built densely and inverted.
    rng = np.random.default_rng(7)
    n, p = 30, 2
    participant = np.repeat(np.arange(10), 3)
    group = np.repeat(np.arange(5), 6)
    site = np.repeat([0, 0, 0, 1, 1], 6)
    post = np.tile([0.0, 1.0, 1.0], 10)
    data = rng.normal(size=(n, p + 1))
    levels = [
        ("participant", participant, np.ones(n)),
        ("group", group, post * (group < 3)),
        ("site", site, np.ones(n)),
    ]
    theta = np.array([0.7, 0.5, 0.3])
    logdet, q, rows = nested_levels(data, levels, 0.0).pieces(theta)
    z = []
    for _, codes, covariate in levels:
        block = np.zeros((n, codes.max() + 1))
        block[np.arange(n), codes] = covariate
        z.append(block)
    h = np.eye(n) + sum(t**2 * zk @ zk.T for zk, t in zip(z, theta, strict=True))
    h_inv = np.linalg.inv(h)
    assert logdet == pytest.approx(np.linalg.slogdet(h)[1], rel=1e-12)
    assert q == pytest.approx(data.T @ h_inv @ data, rel=1e-12, abs=1e-14)
    for zk, (gram, trace) in zip(z, rows, strict=True):
        zw = zk.T @ h_inv @ data  # Z_k' H^-1 [X y]; the pieces carry its Gram matrix
        assert gram == pytest.approx(zw.T @ zw, rel=1e-12, abs=1e-14)
        assert trace == pytest.approx(np.trace(zk.T @ h_inv @ zk), rel=1e-12)


def _fit(trial, **changes):
    names = ["(Intercept)", "armcoaching", "armselfguided"]
    args = {
        "groups": trial["participant_id"].to_numpy(),
        "sites": None,
        "delivery_groups": trial["group"].to_numpy(object),
        "group_covariate": trial["gpost"].to_numpy(),
    }
    args.update(changes)
    groups = args.pop("groups")
    return fit_reml(
        trial["score"].to_numpy(float), r_design(trial, names), groups, column_names=names, **args
    )


def test_group_spanning_two_sites_is_an_error_naming_it(trial):
    sites = trial["site"].to_numpy().copy()
    sites[np.flatnonzero(trial["group"].to_numpy() == "G03")[0]] = "s_other"
    # (that participant is now in two sites as well; the group is checked first)
    with pytest.raises(ValueError, match=r"group\(s\) \['G03'\] span more than one site"):
        _fit(trial, sites=sites)


def test_participant_in_two_groups_is_an_error(trial):
    groups = trial["group"].to_numpy(object).copy()
    rows = np.flatnonzero(trial["participant_id"].to_numpy() == "P081")
    assert groups[rows[0]] != ""
    groups[rows[-1]] = "G14"
    with pytest.raises(ValueError, match=r"participant\(s\) \['P081'\] appear in more than one"):
        _fit(trial, delivery_groups=groups)


def test_group_term_on_ungrouped_rows_and_too_few_groups_are_errors(trial):
    with pytest.raises(ValueError, match="must be 0 on rows without a delivery group"):
        _fit(trial, group_covariate=np.ones(len(trial)))
    one_group = np.where(trial["group"].to_numpy(object) != "", "G01", "")
    with pytest.raises(ValueError, match="need at least 2 delivery groups"):
        _fit(trial, delivery_groups=one_group)
    with pytest.raises(ValueError, match="needs group_covariate"):
        _fit(trial, group_covariate=None)
