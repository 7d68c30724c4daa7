"""`model: mmrm` through the models stage (models.mixed_model_effects) and the config check.

R reference: tests/data/reference/mmrm_ref.R -> mmrm_gls.json (R 4.2.2, nlme 3.1-162,
emmeans 1.8.4-1): gls + emmeans LS-mean differences and LS means, on the seeded 5-visit
trial with dropout (mmrm_dropout.csv) and on the demo coaching trial's emotional exhaustion
(mmrm_demo_ee.csv). Tolerance 1e-4 absolute on estimates and SEs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, SCHEMAS
from trialeval import models_mmrm
from trialeval.config import load_trials
from trialeval.errors import TrialInputError
from trialeval.models import DIAGNOSTIC_COLUMNS, MEANS_COLUMNS, mixed_model_effects

REFERENCE = ROOT / "tests" / "data" / "reference"
GLS = json.loads((REFERENCE / "mmrm_gls.json").read_text())
VISITS = ["baseline", "month1", "month2", "month3", "month6", "month12"]  # not sorted by name
OUTCOME = {"id": "score", "role": "primary"}


def dropout_spec() -> dict:
    return {
        "id": "dropout",
        "control_arm": "ctl",
        "arms": [{"id": a, "control": a == "ctl"} for a in ("ctl", "coach", "peer")],
        "baseline": "baseline",
        "timepoints": [{"id": v, "baseline": v == "baseline"} for v in VISITS],
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "gender", "type": "categorical"},
        ],
    }


def dropout_inputs():
    rows = pd.read_csv(REFERENCE / "mmrm_dropout.csv").rename(columns={"pid": "participant_id"})
    participants = rows[["participant_id", "arm", "site", "age", "gender"]].drop_duplicates()
    return rows[["participant_id", "timepoint", "score"]], participants


@pytest.fixture(scope="module")
def dropout_fit():
    scores, participants = dropout_inputs()
    return mixed_model_effects(
        scores,
        participants,
        dropout_spec(),
        OUTCOME,
        analysis_set="itt",
        model="mmrm",
        site="fixed",
        covariates=("age", "gender"),
    )


def test_dropout_trial_differences_and_means_match_gls_emmeans(dropout_fit):
    # gls(score ~ arm * visit + baseline * visit + age + gender + site, REML,
    #     correlation = corSymm(~ vnum | pid), weights = varIdent(~ 1 | visit));
    # contrast(emmeans(fit, ~ arm | visit), "trt.vs.ctrl"); emmeans(fit, ~ arm | visit)
    effects, means, diagnostics = dropout_fit
    ref = GLS["dropout"]["unstructured"]
    assert list(effects["timepoint"].unique()) == VISITS[1:]
    assert set(effects["analysis"]) == {"mmrm"} and set(effects["estimand"]) == {"adjusted_diff"}
    rows = effects.set_index(["contrast", "timepoint"])
    for want in ref["lsmean_diff"]:
        row = rows.loc[(want["contrast"].replace("-", " - "), want["visit"])]
        assert row["estimate"] == pytest.approx(want["estimate"], abs=1e-4)
        assert row["se"] == pytest.approx(want["se"], abs=1e-4)
        assert 80 < row["df"] < 130  # Satterthwaite, 125 participants
    by_cell = means.set_index(["arm", "timepoint"])
    assert len(means) == 15 and list(means.columns) == MEANS_COLUMNS
    # no baseline mean (baseline is a covariate): no change from baseline columns' values
    assert means.filter(like="change_").isna().all().all()
    for want in ref["lsmeans"]:
        row = by_cell.loc[(want["arm"], want["visit"])]
        assert row["estimate"] == pytest.approx(want["estimate"], abs=1e-4)
        assert row["se"] == pytest.approx(want["se"], abs=1e-4)
    assert (effects["n"] == GLS["dropout"]["n_analysed"]).all()
    assert (effects["n_obs"] == GLS["dropout"]["n_obs"]).all()
    diag = diagnostics.iloc[0]
    assert list(diagnostics.columns) == DIAGNOSTIC_COLUMNS
    assert diag["covariance"] == "unstructured" and bool(diag["converged"])
    assert "unstructured covariance within participant" in effects["method"].iloc[0]
    assert "age, gender, site (fixed)" in effects["method"].iloc[0]


def test_participants_without_a_baseline_score_are_counted(dropout_fit):
    effects, _, _ = dropout_fit
    scores, _ = dropout_inputs()
    has_post = set(scores.loc[scores["timepoint"] != "baseline", "participant_id"])
    has_base = set(scores.loc[scores["timepoint"] == "baseline", "participant_id"])
    missing = len(has_post - has_base)
    assert missing > 0
    assert (
        effects["note"]
        == f"{missing} participant{'s' * (missing != 1)} without a baseline score left out"
    ).all()


def test_demo_trial_one_post_visit_is_the_ancova_of_gls_emmeans():
    # one post visit: gls(score ~ arm + baseline + age + gender + site, REML) = OLS;
    # contrast(emmeans(fit, ~ arm), "trt.vs.ctrl"); df = n - p
    data = pd.read_csv(REFERENCE / "mmrm_demo_ee.csv")
    participants = data[["participant_id", "arm", "site", "age", "gender"]].drop_duplicates()
    spec = {
        "id": "coaching_rct",
        "control_arm": "control",
        "arms": [{"id": "coaching", "control": False}, {"id": "control", "control": True}],
        "baseline": "baseline",
        "timepoints": [{"id": "baseline", "baseline": True}, {"id": "month4", "baseline": False}],
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "gender", "type": "categorical"},
        ],
    }
    ref = GLS["demo_ee"]
    for df_method in ("satterthwaite", "kenward_roger"):
        effects, means, _ = mixed_model_effects(
            data[["participant_id", "timepoint", "score"]],
            participants,
            spec,
            {"id": "ee", "role": "primary"},
            analysis_set="itt",
            model="mmrm",
            site="fixed",
            covariates=("age", "gender"),
            df=df_method,
        )
        row = effects.iloc[0]
        assert (row["contrast"], row["timepoint"]) == ("coaching - control", "month4")
        assert row["estimate"] == pytest.approx(ref["lsmean_diff"]["estimate"], abs=1e-4)
        assert row["se"] == pytest.approx(ref["lsmean_diff"]["se"], abs=1e-4)
        assert row["df"] == pytest.approx(ref["df_residual"], rel=1e-6)
        assert row["n"] == ref["n_analysed"]
        for want in ref["lsmeans"]:
            got = means.set_index("arm").loc[want["arm"]]
            assert got["estimate"] == pytest.approx(want["estimate"], abs=1e-4)
            assert got["se"] == pytest.approx(want["se"], abs=1e-4)


def test_unstructured_failure_falls_back_along_the_ladder(monkeypatch):
    real = models_mmrm.fit_mmrm

    def failing_unstructured(*args, covariance, **kwargs):
        if covariance == "unstructured":
            raise np.linalg.LinAlgError("simulated failure")
        return real(*args, covariance=covariance, **kwargs)

    monkeypatch.setattr(models_mmrm, "fit_mmrm", failing_unstructured)
    scores, participants = dropout_inputs()
    effects, means, diagnostics = mixed_model_effects(
        scores, participants, dropout_spec(), OUTCOME, analysis_set="itt", model="mmrm"
    )
    method = effects["method"].iloc[0]
    assert "toeplitz_heterogeneous covariance within participant" in method
    assert "(unstructured did not converge)" in method
    diag = diagnostics.iloc[0]
    assert diag["covariance"] == "toeplitz_heterogeneous"
    assert diag["message"].startswith("unstructured: simulated failure | toeplitz_heterogeneous:")
    assert effects["estimate"].notna().all() and len(means) == 15


def test_no_structure_fits_gives_rows_saying_why(monkeypatch):
    def never(*args, covariance, **kwargs):
        raise ValueError(f"{covariance} cannot be fitted")

    monkeypatch.setattr(models_mmrm, "fit_mmrm", never)
    scores, participants = dropout_inputs()
    effects, means, diagnostics = mixed_model_effects(
        scores, participants, dropout_spec(), OUTCOME, analysis_set="itt", model="mmrm"
    )
    assert len(effects) == 2 * 5 and effects["estimate"].isna().all()
    assert effects["note"].str.contains("not estimated: compound_symmetry_heterogeneous").all()
    assert means.empty and not bool(diagnostics["converged"].iloc[0])


def _coaching_with(mixed_model: dict, tmp_path):
    trial = yaml.safe_load((ROOT / "config" / "trials" / "coaching_rct.yaml").read_text())
    trial["analyses"]["mixed_model"] = mixed_model
    trial.pop("power")  # its from_fit needs the repeated model
    trials_dir = tmp_path / "trials"
    trials_dir.mkdir(exist_ok=True)
    (trials_dir / "coaching_rct.yaml").write_text(yaml.safe_dump(trial))
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(
        trials=["coaching_rct"],
        trials_dir=str(trials_dir),
        instruments=str(ROOT / "config" / "instruments.yaml"),
        raw_dir=str(ROOT / "data" / "raw"),
        results_dir="results",
    )
    return load_trials(config, SCHEMAS)["coaching_rct"]["analyses"]["mixed_model"]


def test_config_resolves_mmrm_keys_and_refuses_a_random_site(tmp_path):
    resolved = _coaching_with({"model": "mmrm"}, tmp_path)
    assert resolved == {
        "model": "mmrm",
        "site": "fixed",
        "covariates": [],
        "covariance": "unstructured",
        "df": "satterthwaite",
    }
    chosen = {"model": "mmrm", "site": "none", "covariance": "ar1", "df": "kenward_roger"}
    resolved = _coaching_with(chosen, tmp_path)
    assert {k: resolved[k] for k in chosen} == chosen
    assert _coaching_with({"model": "repeated"}, tmp_path)["site"] == "random"
    with pytest.raises(TrialInputError, match="site: random is not available with model: mmrm"):
        _coaching_with({"model": "mmrm", "site": "random"}, tmp_path)
    with pytest.raises(TrialInputError, match="covariance"):
        _coaching_with({"model": "mmrm", "covariance": "banded"}, tmp_path)


def test_arm_without_follow_up_and_empty_visit_are_not_estimable_and_the_rest_unchanged():
    """Peer participants answer only at baseline and nobody is seen at month12. Then peer's
    columns carry no data and month12 has no covariance parameters: the fit must equal, to
    rounding, the MMRM of the same data with the peer arm and the month12 visit removed from
    the trial (by construction, no likelihood term involves them), and the rows that need
    them say why instead of failing."""
    scores, participants = dropout_inputs()
    peer = set(participants.loc[participants["arm"] == "peer", "participant_id"])
    drop = (scores["participant_id"].isin(peer) & (scores["timepoint"] != "baseline")) | (
        scores["timepoint"] == "month12"
    )
    scores = scores[~drop]
    common = dict(analysis_set="itt", model="mmrm", site="fixed", covariates=("age",))
    effects, means, diagnostics = mixed_model_effects(
        scores, participants, dropout_spec(), OUTCOME, **common
    )
    reduced = dropout_spec()
    reduced["arms"] = [a for a in reduced["arms"] if a["id"] != "peer"]
    reduced["timepoints"] = [t for t in reduced["timepoints"] if t["id"] != "month12"]
    keep = ~participants["arm"].eq("peer")
    ref, ref_means, _ = mixed_model_effects(
        scores[~scores["participant_id"].isin(peer)],
        participants[keep],
        reduced,
        OUTCOME,
        **common,
    )
    rows = effects.set_index(["contrast", "timepoint"])
    for row in ref.itertuples():
        ours = rows.loc[(row.contrast, row.timepoint)]
        assert ours["estimate"] == pytest.approx(row.estimate, rel=1e-6)
        assert ours["se"] == pytest.approx(row.se, rel=1e-5)
    peer_rows = effects[effects["contrast"] == "peer - ctl"]
    assert len(peer_rows) == 5 and peer_rows["estimate"].isna().all()
    assert peer_rows["note"].str.contains("not estimable: no peer participant has a score").all()
    late = effects[effects["timepoint"] == "month12"]
    assert late["estimate"].isna().all() and len(late) == 2
    assert "columns without data dropped" in diagnostics.loc[0, "message"]
    assert means.set_index(["arm", "timepoint"]).loc[("peer", "month1"), "n_observed"] == 0


def test_config_resolves_clda_with_and_without_a_covariance_structure(tmp_path):
    """clda alone: the random-intercept model (no covariance; site random by default, as
    repeated). clda with covariance: the MMRM engine, so site fixed by default and a random
    site refused, with the same message as mmrm."""
    plain = _coaching_with({"model": "clda"}, tmp_path)
    assert plain["model"] == "clda" and plain["covariance"] is None
    assert plain["site"] == "random"
    structured = _coaching_with({"model": "clda", "covariance": "unstructured"}, tmp_path)
    assert structured["covariance"] == "unstructured" and structured["site"] == "fixed"
    with pytest.raises(
        TrialInputError, match="site: random is not available with model: clda with covariance"
    ):
        _coaching_with({"model": "clda", "covariance": "ar1", "site": "random"}, tmp_path)
    # mmrm keeps its default structure
    assert _coaching_with({"model": "mmrm"}, tmp_path)["covariance"] == "unstructured"
