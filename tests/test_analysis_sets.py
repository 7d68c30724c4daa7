"""Analysis sets and CONSORT counts on the tiny trial, counted by hand."""

from __future__ import annotations

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
