"""Analysis sets and CONSORT counts on the tiny trial, counted by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from trialeval import ingest
from trialeval.analysis_sets import analysis_sets, consort_counts


def test_sets_and_consort_by_hand(tiny):
    spec = tiny.spec()
    participants, items = ingest.ingest(spec)
    sets = analysis_sets(participants, items, spec).set_index("participant_id")
    # P3 withdrew; P6 never answered but stays in ITT; P2 attended 1 < 2 sessions
    assert sets.index[sets["itt"]].tolist() == ["P1", "P2", "P4", "P5", "P6"]
    assert sets.index[sets["per_protocol"]].tolist() == ["P1", "P4", "P5", "P6"]
    assert sets.index[sets["complete_case"]].tolist() == ["P2", "P5"]

    consort = consort_counts(sets.reset_index(), spec)
    assert consort["allocated"] == {"peer": 3, "ctl": 3}
    assert consort["withdrawn"] == {"peer": 1, "ctl": 0}
    assert consort["assessed"] == {"t0": {"peer": 2, "ctl": 2}, "t1": {"peer": 1, "ctl": 1}}
    assert consort["not_assessed"] == {"t0": {"peer": 0, "ctl": 1}, "t1": {"peer": 1, "ctl": 2}}
    assert consort["no_data_at_any_timepoint"] == {"peer": 0, "ctl": 1}
    assert consort["analysed"] == {
        "itt": {"peer": 2, "ctl": 3},
        "per_protocol": {"peer": 1, "ctl": 3},
        "complete_case": {"peer": 1, "ctl": 1},
    }
    assert consort["excluded_from"]["per_protocol"] == {"peer": 1, "ctl": 0}


def test_without_adherence_rule_per_protocol_is_itt(tiny):
    del tiny.trial["analysis_sets"]
    spec = tiny.spec()
    participants, items = ingest.ingest(spec)
    sets = analysis_sets(participants, items, spec)
    assert sets["per_protocol"].equals(sets["itt"])
    assert "equals itt" in consort_counts(sets, spec)["definitions"]["per_protocol"]


def test_complete_case_is_per_outcome_and_reconciles_with_the_models(tiny, tmp_path):
    """P2 and P5 returned both surveys, but P5's t1 flourishing has 5 of 8 items answered
    (< 0.8): P5 is complete case for self-compassion, not for flourishing; every model's
    n_analysis_set is that outcome's consort.json count."""
    from trialeval import analysis_sets as sets_module
    from trialeval import instruments, models

    wave1 = tiny.waves["wave1.csv"]
    wave1.loc[wave1["pid"] == " P5", ["fs_1", "fs_2", "fs_3"]] = None
    spec = tiny.spec()
    paths = {n: str(tmp_path / f"{n}.parquet") for n in ("participants", "items", "scores")}
    paths |= {"sets": str(tmp_path / "sets.parquet"), "consort": str(tmp_path / "consort.json")}
    ingest.run(spec, paths["participants"], paths["items"])
    instruments.run(
        spec,
        paths["items"],
        paths["participants"],
        paths["scores"],
        str(tmp_path / "scores.csv"),
        str(tmp_path / "reliability.csv"),
    )
    sets_module.run(
        spec,
        paths["participants"],
        paths["items"],
        paths["sets"],
        paths["consort"],
        scores_path=paths["scores"],
    )
    sets = pd.read_parquet(paths["sets"]).set_index("participant_id")
    assert sets.index[sets["complete_case"]].tolist() == ["P2", "P5"]  # every survey returned
    assert sets.index[sets["complete_case:sc"]].tolist() == ["P2", "P5"]
    assert sets.index[sets["complete_case:fl"]].tolist() == ["P2"]  # P5's t1 fl unscored
    consort = json.loads(Path(paths["consort"]).read_text())
    assert consort["analysed"]["complete_case"] == {"peer": 1, "ctl": 1}
    assert consort["analysed_by_outcome"]["complete_case"] == {
        "sc": {"peer": 1, "ctl": 1},
        "fl": {"peer": 1, "ctl": 0},
    }
    kinds = ("effects", "means", "diagnostics", "model_n")
    out = {k: str(tmp_path / f"mixed_model.{k}.csv") for k in kinds}
    inputs = {k: paths[k] for k in ("scores", "participants", "sets")}
    models.run(spec, paths=inputs, alpha=0.05, outputs=out)
    for outcome in ("sc", "fl"):
        effects = pd.read_csv(out["effects"]).query("outcome == @outcome").set_index("analysis_set")
        counts = consort["analysed_by_outcome"]["complete_case"][outcome]
        assert (effects.loc["complete_case", "n_analysis_set"] == sum(counts.values())).all()
        assert (effects.loc["itt", "n_analysis_set"] == 5).all()  # P1, P2, P4, P5, P6


def test_post_scores_without_a_baseline_score_are_counted_per_outcome(tiny):
    """P5 (control) answered both waves, but too few flourishing items at t0 (5 of 8 < 0.8):
    flourishing scored at t1 only. By hand: consort counts P5 under post_without_baseline for
    fl (ctl 1), nobody for sc; the ANCOVA of fl leaves P5 out and says so."""
    from trialeval import instruments, models

    wave0 = tiny.waves["wave0.csv"]
    wave0.loc[wave0["pid"] == "P5", ["fs_1", "fs_2", "fs_3"]] = None
    spec = tiny.spec()
    participants, items = ingest.ingest(spec)
    scores = instruments.score_outcomes(items, spec)
    sets = analysis_sets(participants, items, spec, scores)
    consort = consort_counts(sets, spec)
    assert consort["post_without_baseline"] == {
        "sc": {"peer": 0, "ctl": 0},
        "fl": {"peer": 0, "ctl": 1},
    }
    members = participants.merge(sets.drop(columns=["arm", "withdrawn"]), on="participant_id")
    members = members[members["itt"]]
    effects, _, _ = models.mixed_model_effects(
        scores[scores["outcome"] == "fl"],
        members,
        spec,
        {"id": "fl", "role": "secondary"},
        analysis_set="itt",
        model="ancova",
    )
    # with baseline and t1 flourishing: P2 only (P1, P4 lost at t1; P5 without baseline)
    assert effects.loc[0, "n"] == 1
    assert "1 participant without a baseline score" in effects.loc[0, "note"]
