"""The mentorship demo's programme-evaluation surveys (synthetic): the mentored students'
survey (51 invited, 48 responding) and the resident mentors' (59 invited, 37 responding),
each with Likert items whose counts echo the published study ("most students felt the
programme positively impacted their rotation (39/48) and decreased stress (28/48)"; "34/37 of
mentors enjoyed participating"), a free-text question to both groups and one to the students,
and the coded sheet of the free-text answers (themes as the generator chose them).

Counts per answer are fixed below and dealt to respondents at random (seed EVALUATION_SEED);
free-text answers are sentences built from phrases per theme. Called by
trialeval.simulate.simulate_mentorship; the files land in data/raw/mentorship_prepost/.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EVALUATION_SEED = 20261202
# must equal free_text.key_seed in config/trials/mentorship_prepost.yaml
KEY_SEED = 17
FILES = {
    "mentees": ("mentee_roster.csv", "mentee_evaluation.csv"),
    "mentors": ("mentor_roster.csv", "mentor_evaluation.csv"),
}
N_MENTORS, MENTORS_RESPONDING = 59, 37
MENTEES_RESPONDING = 48
# counts of answers 1..5 (Strongly disagree .. Strongly agree); fewer than the respondents:
# the rest skipped the item
MENTEE_ITEMS = {
    "ev_rotation": (1, 2, 6, 20, 19),  # 39/48 agree
    "ev_stress": (2, 6, 12, 18, 10),  # 28/48
    "ev_team": (1, 1, 5, 21, 19),  # 40/47 (one skipped)
    "ev_recommend": (0, 1, 4, 15, 28),  # 43/48
}
MENTOR_ITEMS = {
    "ev_enjoyed": (0, 1, 2, 14, 20),  # 34/37
    "ev_workload": (3, 8, 7, 12, 7),  # 19/37
}
MENTOR_AGAIN = (4, 33)  # No, Yes: "Would you mentor again?"
LIKERT = ("Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree")
# free-text phrases per theme: an answer joins one phrase of each of its themes
PHRASES = {
    "feedback": (
        "my mentor went through my case presentations and told me exactly what to tighten",
        "getting honest comments on my notes after every shift",
        "watching how a senior resident reasons through an undifferentiated patient",
    ),
    "career": (
        "advice on how to approach residency applications in emergency medicine",
        "hearing how my mentor chose a program and what interviews were like",
        "a frank talk about which letters of recommendation would matter",
    ),
    "wellbeing": (
        "someone checking in on me after a hard resuscitation",
        "being told it was normal to feel overwhelmed in the first week",
        "a person to ask about sleep after the run of night shifts",
    ),
    "belonging": (
        "being introduced to the nurses and attendings by name on day one",
        "feeling that the department expected me and had a place for me",
        "being invited to the resident teaching sessions as one of the team",
    ),
    "time": (
        "more protected time with my mentor, our shifts rarely overlapped",
        "scheduling the meetings was hard around clinical duties",
        "a fixed weekly slot instead of finding time ad hoc",
    ),
}
THEME_WEIGHTS = {  # how often each theme comes up, per group and question
    ("mentees", "most_valuable"): (0.45, 0.35, 0.30, 0.40, 0.05),
    ("mentors", "most_valuable"): (0.55, 0.30, 0.15, 0.20, 0.10),
    ("mentees", "suggestions"): (0.15, 0.15, 0.10, 0.05, 0.70),
}
P_ANSWERS_TEXT = 0.8
README_LINES = [
    "- Programme evaluation (trialeval.simulate_evaluation): `mentee_roster.csv` (the 51",
    "  mentored students invited) and `mentee_evaluation.csv` (48 responding, and one who",
    "  opened the survey and answered nothing; answers as codes 1-5); `mentor_roster.csv`",
    "  (59 resident mentors) and `mentor_evaluation.csv` (37 responding; answers as labels).",
    "  Free-text answers are sentences made from phrases per theme; `coded_themes.csv` holds",
    "  the themes of every answer but two (coding under way), keyed by response id.",
]
UNCODED = 2  # answers left out of the coded sheet (coding still under way)


def _deal(counts, n: int, rng) -> np.ndarray:
    """The answers 1..k (counts of each) and blanks for the rest, in random order."""
    answers = np.concatenate([np.full(c, code, dtype=object) for code, c in enumerate(counts, 1)])
    answers = np.concatenate([answers, np.full(n - len(answers), "", dtype=object)])
    return rng.permutation(answers)


def _text(themes: list[str], rng) -> str:
    parts = [PHRASES[t][rng.integers(len(PHRASES[t]))] for t in themes]
    text = "; and ".join(parts)
    return text[0].upper() + text[1:] + "."


def _free_answers(group: str, question: str, n: int, rng) -> tuple[list[str], list[list[str]]]:
    weights = THEME_WEIGHTS[(group, question)]
    texts, themes = [], []
    for _ in range(n):
        if rng.random() > P_ANSWERS_TEXT:
            texts.append("")
            themes.append([])
            continue
        chosen = [t for t, w in zip(PHRASES, weights, strict=True) if rng.random() < w]
        chosen = chosen or [list(PHRASES)[int(np.argmax(weights))]]
        texts.append(_text(chosen, rng))
        themes.append(chosen)
    return texts, themes


def _respondents(roster: list[str], n: int, rng) -> list[str]:
    return sorted(rng.choice(roster, size=n, replace=False).tolist())


def _mentee_file(ids: list[str], id_column: str, rng) -> tuple[pd.DataFrame, dict]:
    frame = pd.DataFrame({id_column: ids})
    for column, counts in MENTEE_ITEMS.items():
        frame[column] = _deal(counts, len(ids), rng)
    themes = {}
    for question in ("most_valuable", "suggestions"):
        frame[question], themes[question] = _free_answers("mentees", question, len(ids), rng)
    return frame, themes


def _mentor_file(ids: list[str], rng) -> tuple[pd.DataFrame, dict]:
    """Answers as the survey tool's labels ("Agree"), not codes."""
    frame = pd.DataFrame({"mentor_id": ids})
    for column, counts in MENTOR_ITEMS.items():
        codes = _deal(counts, len(ids), rng)
        frame[column] = [LIKERT[c - 1] if c != "" else "" for c in codes]
    again = _deal(MENTOR_AGAIN, len(ids), rng)
    frame["ev_again"] = [{1: "No", 2: "Yes"}[c] for c in again]
    texts, themes = _free_answers("mentors", "most_valuable", len(ids), rng)
    frame["most_valuable"] = texts
    return frame, {"most_valuable": themes}


def _coded_sheet(answered: list[tuple[str, str, str, list[str]]], rng) -> pd.DataFrame:
    """response_id, themes for every free-text answer but UNCODED of them."""
    from trialeval.free_text import _demo_key, response_id

    key = _demo_key(KEY_SEED)
    rows = [
        {"response_id": response_id(key, g, q, pid), "themes": "; ".join(t)}
        for g, q, pid, t in answered
        if t
    ]
    keep = np.sort(rng.permutation(len(rows))[UNCODED:])
    return pd.DataFrame([rows[k] for k in keep]).sort_values("response_id", ignore_index=True)


def evaluation_files(participants: pd.DataFrame, cfg: dict) -> dict[str, pd.DataFrame]:
    """{file name: frame}: rosters, response files and the coded sheet."""
    rng = np.random.default_rng(EVALUATION_SEED)
    data = cfg["data"]
    treated = next(a["id"] for a in cfg["arms"] if not a.get("control"))
    mentees = sorted(
        participants.loc[participants[data["arm_column"]] == treated, data["id_column"]]
    )
    mentors = [f"RES-{k:03d}" for k in range(1, N_MENTORS + 1)]
    # one more mentee opened the survey and answered nothing: in the file, not a respondent
    chosen = rng.choice(mentees, size=MENTEES_RESPONDING + 1, replace=False).tolist()
    mentee_frame, mentee_themes = _mentee_file(sorted(chosen[1:]), data["id_column"], rng)
    mentee_frame.loc[len(mentee_frame)] = [chosen[0], *[""] * (mentee_frame.shape[1] - 1)]
    for question in mentee_themes:
        mentee_themes[question].append([])
    order = mentee_frame[data["id_column"]].argsort(kind="stable").to_numpy()
    mentee_frame = mentee_frame.iloc[order].reset_index(drop=True)
    mentee_themes = {q: [t[k] for k in order] for q, t in mentee_themes.items()}
    mentor_frame, mentor_themes = _mentor_file(_respondents(mentors, MENTORS_RESPONDING, rng), rng)
    answered = [
        (group, q, pid, themes[q][k])
        for group, frame, themes, id_col in (
            ("mentees", mentee_frame, mentee_themes, data["id_column"]),
            ("mentors", mentor_frame, mentor_themes, "mentor_id"),
        )
        for q in themes
        for k, pid in enumerate(frame[id_col])
    ]
    return {
        FILES["mentees"][0]: pd.DataFrame({data["id_column"]: mentees}),
        FILES["mentees"][1]: mentee_frame,
        FILES["mentors"][0]: pd.DataFrame({"mentor_id": mentors}),
        FILES["mentors"][1]: mentor_frame,
        "coded_themes.csv": _coded_sheet(answered, rng),
    }
