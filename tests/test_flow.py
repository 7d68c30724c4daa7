"""The trial file's `flow` block: screening counts, intervention received and reasons for
withdrawal and loss to follow-up, counted by hand on a small trial and read back from what a
user sees (consort.json, the CONSORT figure's SVG text, the report's participant flow)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import tiny_wave
from trialeval import analysis_sets, figures, ingest, report
from trialeval.errors import TrialInputError

NBSP = "\u00a0"
SCREENING = {"Did not meet inclusion criteria": 5, "Declined to participate": 2, "Other reasons": 1}


def flow_trial(tiny):
    """The tiny trial with 12 participants (P1-P3 and P7-P9 peer support, P4-P6 and P10-P12
    control), a reason column `why` and a `flow` block: 20 assessed, 8 excluded (5 + 2 + 1),
    received = at least 1 session in the peer arm.

    Withdrew: P3 (peer, "Moved away") and P10 (control, no reason). Answered t1: P2 and P5
    only, so not assessed at t1: peer P1 ("moved away"), P7 ("Too busy"), P8 (blank), P9
    ("Illness"); control P4 ("Too busy"), P6 ("too busy"), P11 ("Illness"), P12 (blank).
    P2 answered t1 and has a reason ("Too busy"): not counted. Sessions (peer): P1 3, P2 1,
    P3 0, P7 missing, P8 2, P9 0: received P1, P2, P8 (3), not received P3, P7, P9 (3)."""
    extra = pd.DataFrame(
        {
            "pid": [f"P{k}" for k in range(7, 13)],
            "arm": ["peer"] * 3 + ["ctl"] * 3,
            "site": ["s1", "s2", "s1", "s2", "s1", "s2"],
            "withdrew": ["no", "no", "no", "yes", "no", "no"],
            "age": [30, 31, 32, 33, 34, 35],
            "sessions": [None, 2, 0, None, None, None],
        }
    )
    people = pd.concat([tiny.participants, extra], ignore_index=True)
    why = {"P1": "moved away", "P2": "Too busy", "P3": "Moved away", "P4": "Too busy"}
    why |= {"P6": "too busy", "P7": "Too busy", "P9": "Illness", "P11": "Illness"}
    people["why"] = people["pid"].map(why)
    tiny.participants = people
    tiny.waves["wave0.csv"] = tiny_wave(["P1", "P2", "P3", "P4", "P5", "P7", "P11"], 0)
    tiny.trial["flow"] = {
        "assessed_for_eligibility": 20,
        "excluded": dict(SCREENING),
        "received": {"column": "sessions", "at_least": 1, "arms": ["peer"]},
        "reason_column": "why",
    }
    return tiny


def consort_of(spec: dict) -> dict:
    participants, items = ingest.ingest(spec)
    sets = analysis_sets.analysis_sets(participants, items, spec)
    return analysis_sets.consort_counts(sets, spec, participants)


def test_flow_counts_by_hand(tiny):
    consort = consort_of(flow_trial(tiny).spec())
    assert consort["enrolled"] == 12
    assert consort["eligibility"] == {
        "assessed": 20,
        "excluded": 8,
        "excluded_reasons": SCREENING,
    }
    assert list(consort["eligibility"]["excluded_reasons"]) == list(SCREENING)  # file order
    assert consort["allocated"] == {"peer": 6, "ctl": 6}
    assert consort["received"] == {"peer": 3} and consort["not_received"] == {"peer": 3}
    assert consort["withdrawn"] == {"peer": 1, "ctl": 1}
    assert consort["withdrawn_reasons"] == {
        "Moved away": {"peer": 1, "ctl": 0},
        "Reason not recorded": {"peer": 0, "ctl": 1},
    }
    assert consort["not_assessed"]["t1"] == {"peer": 4, "ctl": 4}
    reasons = consort["not_assessed_reasons"]["t1"]
    # most frequent first ("too busy" capitalised is "Too busy"), not recorded last
    assert list(reasons) == ["Too busy", "Illness", "Moved away", "Reason not recorded"]
    assert reasons == {
        "Too busy": {"peer": 1, "ctl": 2},
        "Illness": {"peer": 1, "ctl": 1},
        "Moved away": {"peer": 1, "ctl": 0},
        "Reason not recorded": {"peer": 1, "ctl": 1},
    }
    assert "a missing value counts as not received" in consort["definitions"]["received"]


def test_without_a_flow_block_consort_json_has_no_flow_keys(tiny):
    consort = consort_of(tiny.spec())
    flow_keys = {"eligibility", "received", "not_received", "withdrawn_reasons"}
    assert not flow_keys & set(consort) and "not_assessed_reasons" not in consort
    assert not {"eligibility", "received", "reasons"} & set(consort["definitions"])


def test_inconsistent_screening_counts_are_refused_naming_file_key_and_values(tiny):
    trial = flow_trial(tiny)
    trial.trial["flow"]["assessed_for_eligibility"] = 21
    spec = trial.spec()
    with pytest.raises(TrialInputError) as info:
        ingest.ingest(spec)
    message = str(info.value)
    assert "tiny.yaml: flow: assessed_for_eligibility 21 less excluded 8 (5 + 2 + 1) is 13" in (
        message
    )
    assert "participants.csv lists 12 enrolled participants" in message
    assert len(message.strip().splitlines()) <= 2  # the problem count line, then the problem
    # the check run when the DAG is built reads the participants file as ingest does
    with pytest.raises(TrialInputError, match="assessed_for_eligibility 21 less excluded 8"):
        ingest.check_inputs(spec)


def test_excluded_more_than_assessed_is_refused_with_the_trial(tiny):
    trial = flow_trial(tiny)
    trial.trial["flow"]["assessed_for_eligibility"] = 7
    with pytest.raises(TrialInputError, match=r"tiny.yaml: flow.excluded: 8 excluded .* 7"):
        trial.spec()


def test_flow_is_refused_for_a_survey_design(tiny):
    trial = flow_trial(tiny)
    trial.trial["design"] = "cross_sectional"
    del trial.trial["arms"], trial.trial["analysis_sets"]
    with pytest.raises(TrialInputError, match="tiny.yaml: flow: design cross_sectional"):
        trial.spec()


def test_a_missing_received_column_is_named(tiny):
    trial = flow_trial(tiny)
    trial.trial["flow"]["received"]["column"] = "sessions_attended"
    with pytest.raises(TrialInputError, match=r"column 'sessions_attended' not found "):
        ingest.ingest(trial.spec())
    with pytest.raises(TrialInputError, match=r"flow.received.column in .*tiny.yaml"):
        ingest.ingest(trial.spec())


def test_excluded_needs_assessed_for_eligibility(tiny):
    trial = flow_trial(tiny)
    del trial.trial["flow"]["assessed_for_eligibility"]
    with pytest.raises(TrialInputError, match="'excluded' is given without 'assessed_for_eli"):
        trial.spec()


@pytest.fixture
def flow_figure(tiny, tmp_path):
    """The CONSORT figure of the flow trial, written as the figure rule writes it."""
    spec = flow_trial(tiny).spec()
    path = tmp_path / "consort.json"
    path.write_text(json.dumps(consort_of(spec)))
    figures.run(spec, "consort", inputs={"consort": str(path)}, out_stem=str(tmp_path / "c"))
    return spec, path, (tmp_path / "c.svg").read_text()


def test_the_figure_prints_every_flow_count(flow_figure):
    _, _, svg = flow_figure
    for line in [
        "Assessed for eligibility",
        f"n{NBSP}={NBSP}20",
        f"Excluded: n{NBSP}={NBSP}8",
        f"Did not meet inclusion criteria: n{NBSP}={NBSP}5",
        f"Declined to participate: n{NBSP}={NBSP}2",
        f"Other reasons: n{NBSP}={NBSP}1",
        "Enrolled and randomized",
        f"Received allocated intervention: n{NBSP}={NBSP}3",
        f"Did not receive allocated intervention: n{NBSP}={NBSP}3",
        f"Too busy: n{NBSP}={NBSP}2",  # control, not assessed at t1
        f"Reason not recorded: n{NBSP}={NBSP}1",
    ]:
        assert line in svg, line
    footnote = " ".join(_box_lines(svg)[-4:])
    assert "Peer support participants with sessions ≥ 1 (a missing value counts as not" in (
        footnote
    )
    assert "Reasons under consent withdrawals and under not assessed at" in footnote
    # the control arm delivers nothing: one received line, in the peer arm's box
    assert svg.count("Received allocated intervention: n") == 1


def _box_lines(svg: str) -> list[str]:
    """The figure's text lines in drawing order (the SVG names each in a comment)."""
    import re

    return re.findall(r"<!-- (.*?) -->", svg)


def test_reasons_sit_under_their_lines_in_each_arm(flow_figure):
    _, _, svg = flow_figure
    lines = _box_lines(svg)
    withdrew = [i for i, t in enumerate(lines) if t.startswith("Withdrew consent")]
    assert len(withdrew) == 2
    # peer: withdrew 1 (Moved away); ... not assessed at t1: Too busy, Illness, Moved away,
    # not recorded, one each; control: withdrew 1 (not recorded); t1: Too busy 2, Illness 1,
    # not recorded 1 (no Moved away: zero)
    peer = lines[withdrew[0] : withdrew[0] + 12]
    assert peer[1] == f"Moved away: n{NBSP}={NBSP}1"
    t1 = peer.index(f"Not assessed (lost to follow-up): n{NBSP}={NBSP}4")
    assert peer[t1 + 1 : t1 + 5] == [
        f"{r}: n{NBSP}={NBSP}1"
        for r in ("Too busy", "Illness", "Moved away", "Reason not recorded")
    ]
    control = lines[withdrew[1] : withdrew[1] + 12]
    assert control[1] == f"Reason not recorded: n{NBSP}={NBSP}1"
    t1 = control.index(f"Not assessed (lost to follow-up): n{NBSP}={NBSP}4")
    assert control[t1 + 1 : t1 + 4] == [
        f"Too busy: n{NBSP}={NBSP}2",
        f"Illness: n{NBSP}={NBSP}1",
        f"Reason not recorded: n{NBSP}={NBSP}1",
    ]


def test_the_report_participant_flow_prints_every_flow_count(flow_figure):
    spec, path, _ = flow_figure
    html = report._consort_summary(json.loads(Path(path).read_text()), "Flow", spec)
    # (label, row) in order: a reason is an indented row (class "sub") under the line it
    # breaks down, so the same reason under two lines is told apart by its position
    rows = [(r.split("</td>")[0].split(">")[-1], r) for r in html.split("<tr>") if "</td>" in r]
    labels = [label for label, _ in rows]

    def row(label: str, after: str | None = None) -> str:
        start = labels.index(after) if after else 0
        return rows[labels.index(label, start)][1]

    assert '<td colspan="2">20</td>' in row("Assessed for eligibility")
    assert '<td colspan="2">8</td>' in row("Excluded")
    assert row("Did not meet inclusion criteria", "Excluded").startswith(
        '<td class="sub">Did not meet inclusion criteria</td><td colspan="2">5</td>'
    )
    assert '<td colspan="2">12</td>' in row("Enrolled and randomized")
    assert "<td>3</td><td>—</td>" in row("Received allocated intervention")
    assert "<td>3</td><td>—</td>" in row("Did not receive allocated intervention")
    assert "<td>4</td><td>4</td>" in row("Not assessed at t1")
    assert '<td class="sub">Too busy</td><td>1</td><td>2</td>' in row(
        "Too busy", "Not assessed at t1"
    )
    assert "<td>1</td><td>0</td>" in row("Moved away", "Withdrew consent")
    assert "<td>0</td><td>1</td>" in row("Reason not recorded", "Withdrew consent")
    assert labels.index("Reason not recorded") < labels.index("Not assessed at t1")


def test_a_non_randomized_trial_says_assigned(tiny, tmp_path):
    trial = flow_trial(tiny)
    trial.trial["design"] = "quasi_experimental"
    spec = trial.spec()
    path = tmp_path / "consort.json"
    path.write_text(json.dumps(consort_of(spec)))
    figures.run(spec, "consort", inputs={"consort": str(path)}, out_stem=str(tmp_path / "c"))
    lines = _box_lines((tmp_path / "c.svg").read_text())
    assert f"Received assigned intervention: n{NBSP}={NBSP}3" in lines
    assert "Enrolled" in lines and "Assessed for eligibility" in lines
    html = report._consort_summary(json.loads(path.read_text()), "Flow", spec)
    assert '<tr><td>Enrolled</td><td colspan="2">12</td></tr>' in html
    assert "Did not receive assigned intervention" in html


def test_reason_codes_without_labels_are_refused_naming_the_column(tiny):
    """A reason column of bare codes (a REDCap raw export read without its dictionary, or a
    plain CSV of codes) would print "2: n = 3" in the diagram: the run stops with one line
    naming the file, column, key, how many cells, the first codes and what is expected. A
    declared missing code is not a reason, so it is not refused."""
    trial = flow_trial(tiny)
    codes = {"moved away": "1", "Moved away": "1", "Too busy": "2", "too busy": "2"}
    trial.participants["why"] = trial.participants["why"].map(lambda v: codes.get(v, v))
    trial.participants.loc[trial.participants["pid"] == "P8", "why"] = "-99"
    trial.trial["data"]["participants"] = {"path": "participants.csv", "missing_codes": [-99]}
    with pytest.raises(TrialInputError) as info:
        ingest.ingest(trial.spec())
    message = str(info.value).strip().splitlines()[-1].strip()
    assert "tiny/participants.csv: column 'why' (flow.reason_column in " in message
    # P1, P2, P3 "1" or "2"; P4, P6, P7 "2": 6 cells; Illness (P9, P11) is text
    assert "6 cells hold a bare number with no label (1, 2)" in message, message
    assert "expected the reason as it should print" in message
    assert "-99" not in message


def test_an_unknown_received_arm_is_named_with_the_arms_expected(tiny):
    trial = flow_trial(tiny)
    trial.trial["flow"]["received"]["arms"] = ["pear"]
    with pytest.raises(TrialInputError) as info:
        trial.spec()
    assert str(info.value).endswith(
        "tiny.yaml: flow.received.arms names unknown arms ['pear']; expected ids of `arms`: "
        "peer, ctl"
    ), str(info.value)


def test_assessed_without_excluded_says_both_are_given_together(tiny):
    """The schema's dependentRequired, in words a trial file's author reads: which key is
    given, which is missing, and `excluded: {}` for a trial that excluded no one."""
    trial = flow_trial(tiny)
    del trial.trial["flow"]["excluded"]
    with pytest.raises(TrialInputError) as info:
        trial.spec()
    message = str(info.value)
    assert message.endswith(
        "at flow: 'assessed_for_eligibility' is given without 'excluded'; expected both "
        "(excluded: {} when no one was excluded)"
    ), message
    assert len(message.splitlines()) == 1
