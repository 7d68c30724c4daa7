"""Estimands: intercurrent-event strategies (trialeval.estimands), their configuration, the
event columns through ingest, and named sensitivity analyses run on the tiny trial."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_wave
from trialeval import analysis_sets, config, effects, ingest, instruments, models, sensitivity
from trialeval.errors import TrialInputError
from trialeval.estimands import (
    apply_intercurrent_events,
    event_column,
    set_aside_counts,
)
from trialeval.stage_config import for_stage

# --------------------------------------------------------------------------------------
# The transform, by hand
# --------------------------------------------------------------------------------------

SPEC = {
    "timepoints": [{"id": "t0"}, {"id": "t1"}, {"id": "t2"}],
    "arms": [{"id": "a"}, {"id": "c"}],
    "outcomes": [{"id": "score", "kind": "score"}, {"id": "case", "kind": "category"}],
}
# A: event at t1 (t2 after it); B: event at baseline (t1 and t2 after it); C: no event;
# D: event at t2 (nothing after it). B has no t2 response.
PEOPLE = pd.DataFrame(
    {
        "participant_id": ["A", "B", "C", "D"],
        "arm": ["a", "a", "c", "c"],
        event_column("stop"): ["t1", "t0", None, "t2"],
    }
)


def _long(outcome: str, values: dict) -> pd.DataFrame:
    rows = [
        {"participant_id": p, "arm": arm, "timepoint": tp, "outcome": outcome, "score": v}
        for (p, arm), visits in values.items()
        for tp, v in visits.items()
    ]
    return pd.DataFrame(rows)


SCORES = _long(
    "score",
    {
        ("A", "a"): {"t0": 10.0, "t1": 11.0, "t2": 12.0},
        ("B", "a"): {"t0": 20.0, "t1": 21.0},
        ("C", "c"): {"t0": 30.0, "t1": 31.0, "t2": 32.0},
        ("D", "c"): {"t0": 40.0, "t1": np.nan, "t2": 42.0},
    },
)
CASES = _long(
    "case",
    {
        ("A", "a"): {"t0": 0.0, "t1": 0.0, "t2": 0.0},
        ("B", "a"): {"t0": 1.0, "t1": 0.0},
        ("C", "c"): {"t0": 0.0, "t1": 1.0, "t2": 0.0},
        ("D", "c"): {"t0": 0.0, "t1": 0.0},
    },
)


def _event(strategy: str) -> list[dict]:
    return [{"event": "stopped coaching", "column": "stop", "strategy": strategy}]


def _values(frame: pd.DataFrame) -> dict:
    return {(r.participant_id, r.timepoint): r.score for r in frame.itertuples()}


def test_treatment_policy_keeps_everything_and_counts_what_came_after():
    out, [count] = apply_intercurrent_events(SCORES, PEOPLE, _event("treatment_policy"), SPEC)
    pd.testing.assert_frame_equal(out, SCORES)
    # after the event: A at t2, B at t1 (observed); D's event at t2 has nothing after it
    assert count["observations"] == {"score": {"used_as_observed": {"a": 2, "c": 0}}}
    assert count["participants"] == {"a": 2, "c": 1}


def test_hypothetical_sets_what_came_after_to_missing():
    out, [count] = apply_intercurrent_events(SCORES, PEOPLE, _event("hypothetical"), SPEC)
    values = _values(out)
    assert len(out) == len(SCORES)  # rows kept: an imputation would fill them
    assert np.isnan(values[("A", "t2")]) and np.isnan(values[("B", "t1")])
    assert values[("A", "t1")] == 11.0  # the event's own visit is before the event
    assert values[("B", "t0")] == 20.0 and values[("D", "t2")] == 42.0
    assert _values(out.dropna()) == {
        k: v for k, v in _values(SCORES.dropna()).items() if k not in {("A", "t2"), ("B", "t1")}
    }
    assert count["observations"] == {"score": {"set_missing": {"a": 2, "c": 0}}}


def test_while_on_treatment_removes_what_came_after():
    out, [count] = apply_intercurrent_events(SCORES, PEOPLE, _event("while_on_treatment"), SPEC)
    assert set(_values(out)) == set(_values(SCORES)) - {("A", "t2"), ("B", "t1")}
    assert count["observations"] == {"score": {"excluded": {"a": 2, "c": 0}}}


def test_composite_counts_the_event_as_failure_at_every_later_visit():
    out, [count] = apply_intercurrent_events(CASES, PEOPLE, _event("composite"), SPEC)
    values = _values(out)
    # A: t2 observed 0 -> 1; B: t1 observed 0 -> 1, t2 not observed -> added as 1
    assert values[("A", "t2")] == 1.0 and values[("B", "t1")] == 1.0
    assert values[("B", "t2")] == 1.0
    assert values[("A", "t1")] == 0.0 and values[("C", "t2")] == 0.0  # C: no event
    assert ("D", "t2") not in values  # D's event at the last visit: nothing after it
    assert len(out) == len(CASES) + 1
    assert count["observations"] == {
        "case": {"set_to_failure": {"a": 2, "c": 0}, "added_as_failure": {"a": 1, "c": 0}}
    }
    added = out[(out["participant_id"] == "B") & (out["timepoint"] == "t2")]
    assert added["arm"].tolist() == ["a"]
    # rows stay in participant and visit order
    assert out.loc[out["participant_id"] == "B", "timepoint"].tolist() == ["t0", "t1", "t2"]


def test_events_apply_in_order_and_are_not_counted_twice():
    people = PEOPLE.assign(**{event_column("rescue"): ["t0", None, None, None]})
    events = _event("while_on_treatment") + [
        {"event": "rescue medication", "column": "rescue", "strategy": "hypothetical"}
    ]
    out, counts = apply_intercurrent_events(SCORES, people, events, SPEC)
    # A's t2 went with the first event; the second finds only A's t1
    assert counts[1]["observations"] == {"score": {"set_missing": {"a": 1, "c": 0}}}
    assert np.isnan(_values(out)[("A", "t1")])


def test_no_events_leave_the_frame_as_it_is():
    out, counts = apply_intercurrent_events(SCORES, PEOPLE, [], SPEC)
    assert out is SCORES and counts == []


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


def _three_waves(tiny):
    """The tiny trial with a third wave and an event column: P1 stopped at t1, P2 at t0
    (written ' T0 ': case and spaces ignored), P3 (withdrew) at t0, P6 (never answered) at
    t1."""
    tiny.trial["timepoints"].append({"id": "t2", "file": "wave2.csv"})
    tiny.waves["wave1.csv"] = tiny_wave(["P1", "P2", "P5"], 3)
    tiny.waves["wave2.csv"] = tiny_wave(["P1", "P2", "P4", "P5"], 6)
    tiny.participants["stopped"] = ["t1", " T0 ", "t0", "", "", "t1"]
    return tiny


def _estimand(strategy: str) -> dict:
    return {
        "population": "students randomized",
        "variable": "self-compassion at each visit",
        "summary": "difference in means",
        "intercurrent_events": [
            {"event": "stopped peer support", "column": "stopped", "strategy": strategy}
        ],
    }


def test_a_sensitivity_analysis_takes_what_it_does_not_give_from_the_primary(tiny):
    tiny.trial["analyses"] = {
        "analysis_sets": ["itt", "per_protocol"],
        "mixed_model": {"model": "ancova", "site": "fixed", "covariates": ["age"]},
        "sensitivity": [
            {"name": "repeated_model", "mixed_model": {"model": "repeated"}},
            {
                "name": "no_age",
                "label": "Unadjusted",
                "covariates": [],
                "analysis_sets": ["per_protocol"],
            },
        ],
    }
    first, second = tiny.spec()["analyses"]["sensitivity"]
    assert first["mixed_model"] == {
        "model": "repeated",
        "site": "fixed",
        "covariates": ["age"],
        "covariance": "unstructured",
        "df": "satterthwaite",
    }
    assert first["analysis_sets"] == ["itt"] and first["label"] == "repeated_model"
    assert first["outcomes"] == ["sc", "fl"] and first["estimand"] is None
    assert second["mixed_model"]["model"] == "ancova" and second["covariates"] == []
    assert second["analysis_sets"] == ["per_protocol"]


@pytest.mark.parametrize(
    "analyses, message",
    [
        (
            {"estimand": _estimand("composite")},
            r"analyses\.estimand\.intercurrent_events\[0\]\.strategy: composite applies to "
            r"binary \(category\) outcomes only.*score outcome\(s\) sc, fl",
        ),
        (
            {
                "sensitivity": [
                    {"name": "c", "outcomes": ["sc"], "estimand": _estimand("composite")}
                ]
            },
            r"analyses\.sensitivity\[0\]\.estimand\.intercurrent_events\[0\]\.strategy: "
            r"composite applies",
        ),
        ({"sensitivity": [{"name": "primary"}]}, r"sensitivity\[0\]\.name: 'primary' names"),
        (
            {"sensitivity": [{"name": "a"}, {"name": "a"}]},
            r"sensitivity analysis 'a' is listed twice",
        ),
        (
            {"sensitivity": [{"name": "a", "covariates": [], "mixed_model": {"covariates": []}}]},
            r"sensitivity\[0\]: both covariates and mixed_model\.covariates",
        ),
        (
            {"sensitivity": [{"name": "a", "covariates": ["height"]}]},
            r"analyses\.sensitivity\[0\]\.mixed_model\.covariates names \['height'\]",
        ),
        (
            {"sensitivity": [{"name": "a", "mixed_model": {"model": "mmrm", "site": "random"}}]},
            r"analyses\.sensitivity\[0\]\.mixed_model\.site: random is not available",
        ),
        ({"sensitivity": [{"name": "a", "outcomes": ["zz"]}]}, r"outcomes names \['zz'\]"),
        ({"sensitivity": [{"name": "bad-name"}]}, r"does not match"),
        (
            {"mixed_model": {"model": "ancova"}, "estimand": {"effect": "diff_in_means"}},
            r"analyses\.estimand\.effect: 'diff_in_means' chooses between the two effects of "
            r"model repeated .*model ancova estimates one effect",
        ),
        (
            {"sensitivity": [{"name": "a", "estimand": {"effect": "diff_in_change"}}]},
            r"analyses\.sensitivity\[0\]\.estimand\.effect: a sensitivity analysis estimates "
            r"the primary analysis's effect measure",
        ),
        ({"estimand": {"effect": "diff_in_ratio"}}, r"is not one of"),
    ],
)
def test_configuration_errors_name_the_key(tiny, analyses, message):
    tiny.trial["analyses"] = analyses
    with pytest.raises(TrialInputError, match=message):
        tiny.spec()


def test_the_primary_effect_defaults_to_the_difference_in_change(tiny):
    """config.primary_effect: model repeated's two effects, the difference in change unless
    the estimand names the other; the other models' one effect; none without the model."""
    assert config.primary_effect(tiny.spec()) == "diff_in_change"
    tiny.trial["analyses"] = {"estimand": {"effect": "diff_in_means"}}
    assert config.primary_effect(tiny.spec()) == "diff_in_means"
    tiny.trial["analyses"] = {"mixed_model": {"model": "mmrm", "site": "fixed"}}
    assert config.primary_effect(tiny.spec()) == "adjusted_diff"
    assert config.primary_effect({"design": "quasi_experimental"}) is None


def test_the_event_columns_reach_ingest_alone(tiny):
    tiny.trial["analyses"] = {
        "estimand": _estimand("hypothetical"),
        "sensitivity": [{"name": "wot", "estimand": _estimand("while_on_treatment")}],
    }
    spec = _three_waves(tiny).spec()
    assert spec["intercurrent_columns"] == ["stopped"]
    assert for_stage(spec, "ingest")["intercurrent_columns"] == ["stopped"]
    assert "intercurrent_columns" not in for_stage(spec, "mixed_model")


# --------------------------------------------------------------------------------------
# Ingest
# --------------------------------------------------------------------------------------


def test_ingest_carries_the_event_visits(tiny):
    tiny.trial["analyses"] = {"estimand": _estimand("hypothetical")}
    participants, _ = ingest.ingest(_three_waves(tiny).spec())
    column = participants["intercurrent:stopped"]
    visits = {
        p: v for p, v in zip(participants["participant_id"], column, strict=True) if pd.notna(v)
    }
    assert visits == {"P1": "t1", "P2": "t0", "P3": "t0", "P6": "t1"}  # P4, P5: no event


def test_an_event_value_that_is_not_a_timepoint_stops_the_run(tiny):
    tiny.trial["analyses"] = {"estimand": _estimand("hypothetical")}
    _three_waves(tiny).participants["stopped"] = ["t1", "month 4", "", "", "", ""]
    with pytest.raises(TrialInputError) as error:
        ingest.ingest(tiny.spec())
    assert str(error.value) == (
        f"{tiny.data_dir}/participants.csv: row 3, column 'stopped' (participant P2): "
        "'month 4' is not a timepoint id; expected the timepoint at which the intercurrent "
        f"event happened, one of t0, t1, t2 (timepoints in {tiny.root}/config/trials/tiny.yaml), "
        "or empty for no event"
    )


def test_a_missing_event_column_is_named(tiny):
    tiny.trial["analyses"] = {"estimand": _estimand("hypothetical")}
    _three_waves(tiny)
    tiny.participants = tiny.participants.drop(columns="stopped")
    with pytest.raises(TrialInputError, match=r"column 'stopped' not found \(an estimand's"):
        ingest.ingest(tiny.spec())


# --------------------------------------------------------------------------------------
# Counts and models on the tiny trial
# --------------------------------------------------------------------------------------


def _stages(tiny, tmp_path):
    """The interim files of the tiny trial, as the pipeline writes them."""
    spec = tiny.spec()
    participants, items = ingest.ingest(spec)
    scores = instruments.score_outcomes(items, spec)
    keep = ["participant_id", "arm", "site"]
    scores = scores.merge(participants[keep], on="participant_id", how="left")
    sets = analysis_sets.analysis_sets(participants, items, spec, scores)
    paths = {name: str(tmp_path / f"{name}.parquet") for name in ("scores", "participants")}
    paths["sets"] = str(tmp_path / "sets.parquet")
    scores.to_parquet(paths["scores"])
    participants.to_parquet(paths["participants"])
    sets.to_parquet(paths["sets"])
    return spec, paths


def test_set_aside_counts_on_the_tiny_trial_by_hand(tiny, tmp_path):
    """itt: P1, P2 (peer), P4, P5, P6 (control); P3 withdrew. Stopped: P1 at t1 (its t2
    response after it), P2 at baseline (t1 and t2 after it), P3 (withdrew: not counted), P6
    at t1 (never answered: nothing after it)."""
    tiny.trial["analyses"] = {
        "estimand": _estimand("treatment_policy"),
        "sensitivity": [
            {
                "name": "hypo",
                "label": "Had they not stopped",
                "estimand": _estimand("hypothetical"),
            },
            {"name": "wot", "outcomes": ["sc"], "estimand": _estimand("while_on_treatment")},
        ],
    }
    spec, paths = _stages(_three_waves(tiny), tmp_path)
    from trialeval.io import read_analysis_data

    counts = set_aside_counts(
        spec, *read_analysis_data(paths["scores"], paths["participants"], paths["sets"])
    )
    assert list(counts) == ["primary", "hypo", "wot", "definitions"]
    three = {"peer": 3, "ctl": 0}  # P1 at t2, P2 at t1 and t2
    for name, action, outcomes in (
        ("primary", "used_as_observed", ["sc", "fl"]),
        ("hypo", "set_missing", ["sc", "fl"]),
        ("wot", "excluded", ["sc"]),
    ):
        [event] = counts[name]["intercurrent_events"]
        assert event["participants"] == {"peer": 2, "ctl": 1}, name
        assert event["observations"] == {o: {action: three} for o in outcomes}, name
    assert counts["hypo"]["label"] == "Had they not stopped"
    assert counts["primary"]["estimand"]["population"] == "students randomized"


def test_hypothetical_and_while_on_treatment_fit_the_model_on_the_data_left(tiny, tmp_path):
    """A sensitivity analysis's mixed model equals the primary's model fitted to the scores
    with the observations after the event removed by hand; analysis_name is its name."""
    tiny.trial["analyses"] = {
        "analysis_sets": ["itt"],
        "mixed_model": {"site": "none"},
        "sensitivity": [
            {"name": "hypo", "estimand": _estimand("hypothetical")},
            {"name": "wot", "estimand": _estimand("while_on_treatment")},
        ],
    }
    spec, paths = _stages(_three_waves(tiny), tmp_path)
    scores = pd.read_parquet(paths["scores"])
    after = {("P1", "t2"), ("P2", "t1"), ("P2", "t2")}
    pairs = zip(scores["participant_id"], scores["timepoint"], strict=True)
    keep = np.array([(p, t) not in after for p, t in pairs])
    by_hand = tmp_path / "by_hand.parquet"
    scores[keep].to_parquet(by_hand)
    expected, _, _ = models.outcome_effects(spec, "sc", {**paths, "scores": str(by_hand)}, 0.05)
    for name in ("hypo", "wot"):
        view = for_stage(spec, "sensitivity", analysis=name)
        got, _, diagnostics = sensitivity.analysis_effects(view, "sc", paths, 0.05)
        assert (got["analysis_name"] == name).all()
        assert diagnostics["n_obs"].tolist() == [len(scores[keep & (scores["outcome"] == "sc")])]
        columns = ["estimate", "se", "df", "p_value", "n", "n_obs"]
        pd.testing.assert_frame_equal(got[columns], expected[columns])
    primary, _, _ = models.outcome_effects(spec, "sc", paths, 0.05)
    assert primary["n_obs"].iloc[0] == expected["n_obs"].iloc[0] + 3


def test_each_sensitivity_analysis_reports_its_own_model_n(tiny, tmp_path):
    """The sensitivity job's model_n part: each fit's participants per arm under the
    analysis's name, merged by the effects job beside the primary's and checked against
    every effects row. By hand (itt: P1, P2 peer; P4, P5, P6 control, P6 never answered):
    the primary model and `hypo` (P2's later visits set missing, its baseline kept) 2 + 2;
    `aged`, adjusted for age, which P4 has not given, 2 + 1. A sensitivity row whose n is
    not its fit's stops the effects job, naming the analysis."""
    tiny.trial["analyses"] = {
        "analysis_sets": ["itt"],
        "mixed_model": {"site": "none"},
        "sensitivity": [
            {"name": "hypo", "estimand": _estimand("hypothetical")},
            {"name": "aged", "outcomes": ["sc"], "covariates": ["age"]},
        ],
    }
    _three_waves(tiny).participants.loc[3, "age"] = None  # P4
    spec, paths = _stages(tiny, tmp_path)
    parts: dict[str, list[str]] = {"mixed_model": [], "sensitivity": []}
    primary = {k: str(tmp_path / f"mixed_model.{k}.csv") for k in ("effects", "means")}
    primary |= {k: str(tmp_path / f"mixed_model.{k}.csv") for k in ("diagnostics", "model_n")}
    models.run(spec, paths=paths, alpha=0.05, outputs=primary)
    parts["mixed_model"] = list(primary.values())
    for name in ("hypo", "aged"):
        kinds = ("effects", "means", "diagnostics", "model_n", "imputation")
        outputs = {k: str(tmp_path / f"sensitivity.{name}.{k}.csv") for k in kinds}
        view = for_stage(spec, "sensitivity", analysis=name)
        sensitivity.run(view, paths=paths, alpha=0.05, outputs=outputs)
        parts["sensitivity"] += [v for k, v in outputs.items() if k != "imputation"]
    out = {"effects": str(tmp_path / "effects.csv"), "model_n": str(tmp_path / "model_n.csv")}
    effects.run(spec, parts, "holm", out)
    reported = pd.read_csv(out["model_n"])
    by_fit = {
        (name, outcome): dict(zip(rows["arm"], rows["n"], strict=True))
        for (name, outcome), rows in reported.groupby(["analysis_name", "outcome"], sort=False)
    }
    assert by_fit == {
        ("primary", "sc"): {"peer": 2, "ctl": 2},
        ("primary", "fl"): {"peer": 2, "ctl": 2},
        ("hypo", "sc"): {"peer": 2, "ctl": 2},
        ("hypo", "fl"): {"peer": 2, "ctl": 2},
        ("aged", "sc"): {"peer": 2, "ctl": 1},
    }
    assert set(reported["analysis"]) == {"mixed_model"}
    stacked = pd.read_csv(out["effects"])
    aged = stacked[stacked["analysis_name"] == "aged"]
    assert len(aged) and (aged["n"] == 3).all()
    assert (stacked.loc[stacked["analysis_name"] != "aged", "n"] == 4).all()
    wrong = pd.read_csv(tmp_path / "sensitivity.aged.effects.csv").assign(n=4)
    wrong.to_csv(tmp_path / "sensitivity.aged.effects.csv", index=False)
    with pytest.raises(AssertionError, match=r"effects.csv's n 4 of aged / itt / sc .* fit's 3"):
        effects.run(spec, parts, "holm", out)


def test_an_event_column_entirely_empty_changes_nothing(tiny, tmp_path):
    tiny.trial["analyses"] = {
        "analysis_sets": ["itt"],
        "mixed_model": {"site": "none"},
        "sensitivity": [{"name": "hypo", "estimand": _estimand("hypothetical")}],
    }
    _three_waves(tiny).participants["stopped"] = ""
    spec, paths = _stages(tiny, tmp_path)
    primary, _, _ = models.outcome_effects(spec, "sc", paths, 0.05)
    view = for_stage(spec, "sensitivity", analysis="hypo")
    got, _, _ = sensitivity.analysis_effects(view, "sc", paths, 0.05)
    columns = ["estimate", "se", "df", "p_value", "n_obs"]
    pd.testing.assert_frame_equal(got[columns], primary[columns])


def test_sensitivity_rows_form_their_own_multiplicity_families():
    rows = []
    for name in ("primary", "hypo"):
        for outcome, p in (("a", 0.01), ("b", 0.04)):
            rows.append(
                {
                    "trial": "t",
                    "outcome": outcome,
                    "role": "secondary",
                    "analysis_name": name,
                    "analysis": "mixed_model",
                    "estimand": "diff_in_means",
                    "contrast": "x - c",
                    "timepoint": "t1",
                    "analysis_set": "itt",
                    "p_value": p,
                }
            )
    adjusted = effects.adjust(effects.effects_frame(rows), "holm")
    # two families of two (Holm: 0.02, 0.04), not one of four (0.04, 0.08, ...)
    assert adjusted["p_adjusted"].tolist() == pytest.approx([0.02, 0.04, 0.02, 0.04])


# --------------------------------------------------------------------------------------
# Tables and report
# --------------------------------------------------------------------------------------


def test_sensitivity_rows_print_in_a_block_of_their_own_with_each_estimand(tiny):
    from trialeval import tables

    tiny.trial["analyses"] = {
        "estimand": _estimand("treatment_policy"),
        "sensitivity": [
            {"name": "hypo", "label": "Had they not stopped", "estimand": _estimand("hypothetical")}
        ],
    }
    spec = _three_waves(tiny).spec()
    rows = [
        {
            "trial": "tiny",
            "outcome": outcome,
            "role": "primary" if outcome == "sc" else "secondary",
            "analysis_name": name,
            "analysis": "mixed_model",
            "estimand": "diff_in_means",
            "contrast": "peer - ctl",
            "timepoint": "t1",
            "analysis_set": "itt",
            "estimate": 1.0,
            "ci_low": 0.0,
            "ci_high": 2.0,
            "p_value": 0.04,
            "p_adjusted": 0.04,
            "n": 4,
            "note": "",
        }
        for name in ("primary", "hypo")
        for outcome in ("sc", "fl")
    ]
    full, formatted = tables.effects_table(spec, effects.effects_frame(rows))
    assert len(full) == 4 and full["analysis_name"].tolist() == ["primary"] * 2 + ["hypo"] * 2
    # each analysis a block under its heading row, the roles as sub-headings
    assert formatted["Outcome"].tolist()[0] == "Intention-to-treat set"
    at = (
        formatted["Outcome"]
        .tolist()
        .index("Sensitivity analysis: Had they not stopped, intention-to-treat set")
    )
    assert formatted.attrs["headings"][at] == tables.HEADING
    assert formatted.iloc[at].drop("Outcome").eq("").all()
    headings = [formatted["Outcome"][k] for k in formatted.attrs["headings"]]
    assert headings == [
        "Intention-to-treat set",
        "Primary outcome",
        "Secondary outcome",
        "Sensitivity analysis: Had they not stopped, intention-to-treat set",
        "Primary outcome",
        "Secondary outcome",
    ]
    lines = tables.estimand_footnotes(spec, full["analysis_name"])
    assert lines == [
        "Estimand, primary analysis: population: students randomized; variable: "
        "self-compassion at each visit; intercurrent events: stopped peer support (treatment "
        "policy (observations after the event used as observed)); summary measure: difference "
        "in means.",
        "Sensitivity analysis Had they not stopped: repeated-measures mixed model, site random, "
        "covariates none; analysis set intention-to-treat.",
        "Estimand, Had they not stopped: population: students randomized; variable: "
        "self-compassion at each visit; intercurrent events: stopped peer support "
        "(hypothetical (observations after the event set to missing; missing at random given "
        "earlier observations)); summary measure: difference in means.",
    ]


def test_trials_without_estimands_print_nothing_new(tiny):
    from trialeval import tables

    spec = tiny.spec()
    assert tables.estimand_footnotes(spec, ["primary"]) == []


def test_the_report_counts_what_each_strategy_set_aside(tmp_path):
    from trialeval import report

    counts = {
        "primary": {"label": "Primary analysis", "estimand": None, "intercurrent_events": []},
        "hypo": {
            "label": "Had they not stopped",
            "estimand": _estimand("hypothetical"),
            "intercurrent_events": [
                {
                    "event": "stopped peer support",
                    "column": "stopped",
                    "strategy": "hypothetical",
                    "participants": {"peer": 2, "ctl": 1},
                    "observations": {"sc": {"set_missing": {"peer": 3, "ctl": 0}}},
                }
            ],
        },
        "definitions": {},
    }
    path = tmp_path / "estimands.json"
    path.write_text(__import__("json").dumps(counts))
    analyses = report._estimands(path)
    assert list(analyses) == ["primary", "hypo"]
    html = report._estimand_section(analyses, {"peer": "Peer support", "ctl": "Control"})
    # the primary's estimand is stated once, at the top of the section (_design_summary)
    assert "Primary analysis" not in html and "Had they not stopped" in html
    assert (
        "<td>sc: observed after the event and set to missing (hypothetical)</td>"
        "<td>3</td><td>0</td>"
    ) in html
    assert "participants with the event</td><td>2</td><td>1</td>" in html
    # nothing stated anywhere: the report says nothing about estimands
    path.write_text(__import__("json").dumps({"primary": counts["primary"], "definitions": {}}))
    assert report._estimands(path) == {}


def test_a_pre_post_trials_primary_estimand_applies_in_the_pre_post_job(
    tiny, tmp_path, monkeypatch
):
    """quasi_experimental: the pre/post job sees the scores with the primary's hypothetical
    strategy applied (P1's t2, P2's t1 and t2 set to missing)."""
    from trialeval import prepost

    tiny.trial["design"] = "quasi_experimental"
    tiny.trial["analyses"] = {"analysis_sets": ["itt"], "estimand": _estimand("hypothetical")}
    spec, paths = _stages(_three_waves(tiny), tmp_path)
    seen = []

    def record(scores, members, spec, outcome, **options):
        seen.append(scores)
        return effects.effects_frame([]), pd.DataFrame()

    monkeypatch.setattr(prepost, "prepost_effects", record)
    prepost.outcome_effects(spec, "sc", paths, 0.05)
    scores = seen[0]
    missing = scores.loc[scores["score"].isna(), ["participant_id", "timepoint"]]
    assert set(map(tuple, missing.to_numpy())) == {("P1", "t2"), ("P2", "t1"), ("P2", "t2")}


def test_sensitivity_analyses_are_for_randomized_designs(tiny):
    tiny.trial["design"] = "quasi_experimental"
    tiny.trial["analyses"] = {"sensitivity": [{"name": "a"}]}
    with pytest.raises(TrialInputError, match=r"analyses\.sensitivity: named sensitivity"):
        tiny.spec()


def test_composite_adds_no_failure_for_a_participant_who_withdrew_consent():
    people = PEOPLE.assign(withdrawn=[False, True, False, False])
    out, [count] = apply_intercurrent_events(CASES, people, _event("composite"), SPEC)
    assert ("B", "t2") not in _values(out)  # B withdrew: nothing of theirs is added
    assert count["observations"]["case"]["added_as_failure"] == {"a": 0, "c": 0}
