"""Free-text answers: exported for coding by people, and their coded themes tabulated.

Every non-empty answer to a free-text question goes to a coding sheet,
results/<trial>/coding/coding_sheet.{csv,xlsx}: one row per answer with a response id, the
group, the question and the text, and nothing else that identifies anyone. The response id is
"R" + the first 12 hex digits of HMAC-SHA256(key, group, question, respondent id): without the
key it cannot be turned back into a respondent id, and the answers of one person to two
questions carry unrelated ids. The key, and the mapping of every response id to its group,
question and respondent, are kept in results/<trial>/interim/free_text_key.json only. The
key is drawn at random the first time and read back afterwards (so ids stay fixed while the
file is kept), or derived from `free_text.key_seed` (synthetic demos, whose coded sheet is
committed).

The coded sheet maps response ids to theme codes of the codebook ("a; b"); each theme is
counted per question and group as the number of respondents whose answer mentions it, and its
share of the coded answers. The text never leaves the coding sheet.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from pathlib import Path

import pandas as pd

from trialeval.errors import Problems, TrialInputError
from trialeval.io import atomic_path, write_csv

KEY_FILE = "free_text_key.json"
SHEET_COLUMNS = ["response_id", "group", "question", "answer", "themes"]
THEME_SEPARATOR = re.compile(r"[;,]")


def _demo_key(seed: int) -> bytes:
    return hashlib.sha256(f"trialeval free-text key seed {seed}".encode()).digest()


def load_key(path: str | Path, seed: int | None) -> bytes:
    """The response-id key: from `seed` when given, else the key file's, else a new random
    one (the caller writes it with the mapping)."""
    if seed is not None:
        return _demo_key(seed)
    path = Path(path)
    if path.is_file():
        return bytes.fromhex(json.loads(path.read_text())["key"])
    return os.urandom(32)


def response_id(key: bytes, group: str, question: str, respondent: str) -> str:
    message = "\0".join((group, question, respondent)).encode()
    return "R" + hmac.new(key, message, hashlib.sha256).hexdigest()[:12]


def collect_answers(key: bytes, groups: list[dict], frames: dict, questions: list[dict]):
    """One row per non-empty answer: response_id, group, question, answer, respondent (the
    last for the key file only). Rows sorted by question, group and response id, so their
    order says nothing about the roster's."""
    rows = []
    for q in questions:
        for group in groups:
            if group["id"] not in q["groups"]:
                continue
            texts = frames[group["id"]][q["column"]]
            for respondent, text in texts[texts != ""].items():
                rid = response_id(key, group["id"], q["id"], str(respondent))
                rows.append(
                    {
                        "response_id": rid,
                        "group": group["id"],
                        "question": q["id"],
                        "answer": text,
                        "respondent": str(respondent),
                    }
                )
    frame = pd.DataFrame(rows, columns=[*SHEET_COLUMNS[:4], "respondent"])
    if frame["response_id"].duplicated().any():  # 48 bits: never in a survey's size
        raise RuntimeError("two answers drew the same response id")
    order = {q["id"]: k for k, q in enumerate(questions)}
    frame["_q"] = frame["question"].map(order)
    return frame.sort_values(["_q", "group", "response_id"]).drop(columns="_q")


def write_key(path: str | Path, key: bytes, answers: pd.DataFrame) -> None:
    """The private key file: the key and every response id's group, question and respondent."""
    mapping = {
        r.response_id: {"group": r.group, "question": r.question, "respondent": r.respondent}
        for r in answers.itertuples()
    }
    text = json.dumps(
        {
            "note": "PRIVATE: turns response ids back into respondent ids. Keep it; never share.",
            "key": key.hex(),
            "responses": dict(sorted(mapping.items())),
        },
        indent=1,
    )
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def coding_sheet(answers: pd.DataFrame) -> pd.DataFrame:
    """What the coders get: response id, group, question, the answer, an empty themes column."""
    return answers.assign(themes="")[SHEET_COLUMNS].reset_index(drop=True)


def write_xlsx(frame: pd.DataFrame, path: str | Path) -> None:
    """The coding sheet as .xlsx, every cell text (an answer starting with "=" is not run as
    a formula), with fixed document times."""
    import datetime
    import io

    import openpyxl

    from trialeval.simulate import _normalise_zip

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "coding"
    for r, row in enumerate([list(frame.columns), *frame.to_numpy().tolist()], start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c, value=str(value))
            cell.data_type = "s"
    fixed = datetime.datetime(2026, 1, 1)
    book.properties.creator = "trialeval"
    book.properties.created = book.properties.modified = fixed
    buffer = io.BytesIO()
    book.save(buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(_normalise_zip(buffer.getvalue()))


def write_coding_sheet(answers: pd.DataFrame, stem: str | Path) -> None:
    sheet = coding_sheet(answers)
    write_csv(sheet, f"{stem}.csv")
    write_xlsx(sheet, f"{stem}.xlsx")


def read_coded(
    path: str | Path, exported: pd.DataFrame, codebook: list[dict], codebook_file: str
) -> dict[str, list[str]]:
    """Response id -> its theme codes (in codebook order), from the coded sheet. Rows with an
    empty themes cell are not coded yet. An unknown response id or theme code, or an id on
    two rows, stops the run naming file, row, column, value and what was expected."""
    from trialeval.evaluation import FIRST_ROW, HEADER_ROW, read_sheet

    frame = read_sheet(path)
    for column in ("response_id", "themes"):
        if column not in frame.columns:
            raise TrialInputError(
                f"{path}: no column {column!r}; the header (row {HEADER_ROW}) holds "
                f"{', '.join(map(repr, frame.columns)) or 'nothing'}; expected the coding "
                f"sheet's columns with the theme codes in `themes`"
            )
    known = set(exported["response_id"])
    order = {t["code"]: k for k, t in enumerate(codebook)}
    problems, seen, coded = Problems(), {}, {}
    for index, rid, cell in frame[["response_id", "themes"]].itertuples():
        row = index + FIRST_ROW
        if rid not in known:
            problems.add(
                f"{path}: row {row}, column 'response_id': {rid!r} is not a response id of the "
                f"coding sheet; expected an id exported to coding/coding_sheet.csv"
            )
            continue
        if rid in seen:
            problems.add(
                f"{path}: row {row}, column 'response_id': {rid!r} is also on row {seen[rid]}; "
                f"expected one row per response (several codes go in one cell, 'a; b')"
            )
            continue
        seen[rid] = row
        codes = [c.strip() for c in THEME_SEPARATOR.split(cell) if c.strip()]
        for code in codes:
            if code not in order:
                problems.add(
                    f"{path}: row {row}, column 'themes': {code!r} is not a theme code of the "
                    f"codebook (free_text.codebook in {codebook_file}); expected one of "
                    f"{', '.join(order)}"
                )
        if codes:
            coded[rid] = sorted(set(codes) & set(order), key=order.get)
    problems.raise_if_any()
    return coded


def theme_counts(exported: pd.DataFrame, coded: dict, spec_free: dict, groups: list[dict]):
    """One row per question x group asked x theme: answered (N non-empty answers), coded (N
    of them coded), n mentioning the theme, its proportion of the coded answers."""
    rows = []
    for q in spec_free["questions"]:
        for group in groups:
            if group["id"] not in q["groups"]:
                continue
            ids = exported.loc[
                (exported["question"] == q["id"]) & (exported["group"] == group["id"]),
                "response_id",
            ]
            done = [coded[r] for r in ids if r in coded]
            for theme in spec_free["codebook"]:
                n = sum(theme["code"] in codes for codes in done)
                rows.append(
                    {
                        "question": q["id"],
                        "group": group["id"],
                        "theme": theme["code"],
                        "theme_label": theme["label"],
                        "n": n,
                        "coded": len(done),
                        "answered": len(ids),
                        "proportion": n / len(done) if done else float("nan"),
                    }
                )
    return pd.DataFrame(rows)
