"""Seeded SYNTHETIC raw exports for the curriculum-change demo (design cohort_comparison).

    python -m trialeval.simulate_cohort --out data/raw [--config-dir config]

A school switches from graded to pass/fail preclinical grading; the class surveyed under
grades (2019) is compared with the class surveyed one year after the change (2021): different
students, one survey each. Echoing the published pass/fail evaluations (depressive symptoms in
about 27% of graded students and 6% after the change; less emotional exhaustion), with small
cohorts so the demo run stays fast.

Data-generating process, per student of the roster (class_year, age, gender; about 85%
respond):
- a positive PHQ-2 screen (total >= 3) is drawn FIRST with the cohort's probability
  (PREVALENCE, independent of age and gender), then the two items are drawn consistent with
  it (rejection), so the true prevalences, risk difference and risk ratio are exact;
- MBI emotional exhaustion: a latent item level, normal with the cohort's mean (EE_LEVEL) and
  sd 1, answers rint(level + noise) clipped to 0-6; depersonalization and personal
  accomplishment items from latent levels that do not differ by cohort; about 1% of MBI
  answers skipped.

Item columns and ranges come from config/instruments.yaml, file and column names from
config/trials/curriculum_passfail.yaml. Rerunning rewrites every file byte for byte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

TRIAL = "curriculum_passfail"
SEED = 20261202
PARAMS = {
    "roster": {"2019": 112, "2021": 108},
    "respond": 0.85,
    "prevalence": {"2019": 0.27, "2021": 0.06},  # positive PHQ-2 screen
    "ee_level": {"2019": 3.0, "2021": 2.4},  # latent EE item level (0-6 scale)
    "gender": (["woman", "man", "nonbinary"], [0.52, 0.45, 0.03]),
    "skip": 0.01,
    "survey_start": {"2019": "2019-03-04", "2021": "2021-03-01"},
}
REGENERATE = "python -m trialeval.simulate_cohort --out data/raw"


def _roster(cfg: dict, p: dict, rng: np.random.Generator) -> pd.DataFrame:
    data, column = cfg["data"], cfg["cohort"]["column"]
    cohorts = [str(c) for c in cfg["cohort"]["order"]]
    year = np.repeat(cohorts, [p["roster"][c] for c in cohorts])
    n = len(year)
    labels, probs = p["gender"]
    return pd.DataFrame(
        {
            data["id_column"]: [f"MS{k + 1:04d}" for k in rng.permutation(n)],
            column: year,
            "age": np.round(rng.normal(24.5, 2.0, n), 0).astype(int),
            "gender": rng.choice(labels, size=n, p=probs),
        }
    )


def _phq_items(positive: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(item 1, item 2), 0-3 each, with total >= 3 exactly where `positive`."""
    out = np.zeros((len(positive), 2), dtype=int)
    todo = np.ones(len(positive), dtype=bool)
    while todo.any():
        idx = np.flatnonzero(todo)
        mean = np.where(positive[idx, None], 1.9, 0.6)
        shared = rng.normal(0, 0.8, (len(idx), 1))  # one person level moves both items
        pair = mean + shared + rng.normal(0, 0.5, (len(idx), 2))
        pair = np.clip(np.rint(pair), 0, 3).astype(int)
        ok = (pair.sum(axis=1) >= 3) == positive[idx]
        out[idx[ok]] = pair[ok]
        todo[idx[ok]] = False
    return out


def _mbi_items(registry: dict, level_ee: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    mbi = registry["mbi"]
    lo, hi = mbi["item_range"]
    n = len(level_ee)
    levels = {
        "ee": level_ee,
        "dp": rng.normal(1.8, 1.0, n),
        "pa": rng.normal(4.3, 0.8, n),
    }
    answers = {}
    for item in range(1, mbi["items"] + 1):
        subscale = next(s for s, d in mbi["subscales"].items() if item in d["items"])
        value = np.rint(levels[subscale] + rng.normal(0, 0.9, n))
        answers[f"{mbi['item_prefix']}{item}"] = np.clip(value, lo, hi)
    return pd.DataFrame(answers)


def simulate(cfg: dict, registry: dict, p: dict = PARAMS) -> dict:
    """{participants, survey, counts} of the demo, from its seed."""
    rng = np.random.default_rng(SEED)
    roster = _roster(cfg, p, rng)
    id_column, column = cfg["data"]["id_column"], cfg["cohort"]["column"]
    responded = roster[rng.random(len(roster)) < p["respond"]].reset_index(drop=True)
    year = responded[column].to_numpy()
    positive = rng.random(len(year)) < np.vectorize(p["prevalence"].get)(year)
    phq = _phq_items(positive, rng)
    level = np.vectorize(p["ee_level"].get)(year) + rng.normal(0, 1.0, len(year))
    mbi = _mbi_items(registry, level, rng)
    mbi = mbi.mask(rng.random(mbi.shape) < p["skip"])
    day = rng.integers(0, 21, len(year))
    start = np.vectorize(p["survey_start"].get)(year).astype("datetime64[D]")
    seconds = rng.integers(8 * 3600, 22 * 3600, len(year))
    submitted = start + day.astype("timedelta64[D]") + seconds.astype("timedelta64[s]")
    survey = pd.DataFrame(
        {
            id_column: responded[id_column],
            "submitted_at": pd.Series(submitted).dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "finished": "True",
            "phq_1": phq[:, 0],
            "phq_2": phq[:, 1],
        }
    )
    survey = pd.concat([survey, mbi.astype("Int64")], axis=1)
    survey = survey.sort_values(["submitted_at", id_column], kind="stable").reset_index(drop=True)
    survey.insert(0, "response_id", [f"R_{i + 1:05d}" for i in range(len(survey))])
    counts = {
        c: {
            "roster": int((roster[column] == c).sum()),
            "responded": int((year == c).sum()),
            "positive": int(positive[year == c].sum()),
        }
        for c in p["roster"]
    }
    return {"participants": roster, "survey": survey, "counts": counts}


def _truth(cfg: dict, p: dict) -> str:
    reference = str(cfg["cohort"]["reference"])
    later = [str(c) for c in cfg["cohort"]["order"] if str(c) != reference]
    outcome = next(o["id"] for o in cfg["outcomes"] if o.get("category") == "positive")
    lines = [
        "# SYNTHETIC DATA - true effects of the simulated cohorts in this folder (not study",
        "# results). Written by `python -m trialeval.simulate_cohort`; do not edit by hand.",
        "# Exact: the positive screen is drawn with each cohort's probability, independent of",
        "# the covariates, so the risk difference and risk ratio are those of the probabilities.",
        f"trial: {TRIAL}",
        f"seed: {SEED}",
        "effects:",
    ]
    p0 = p["prevalence"][reference]
    for cohort in later:
        p1 = p["prevalence"][cohort]
        for estimand, value in (("risk_difference", p1 - p0), ("risk_ratio", p1 / p0)):
            lines.append(
                f"  - {{outcome: {outcome}, estimand: {estimand}, contrast: {cohort} - "
                f"{reference}, timepoint: {cfg['timepoints'][0]['id']}, "
                f"value: {round(value, 4) + 0.0:.4f}, mc_se: 0.00000}}"
            )
    return "\n".join(lines) + "\n"


def _readme(result: dict, cfg: dict) -> str:
    c = result["counts"]
    cohorts = ", ".join(
        f"{k}: {v['roster']} students, {v['responded']} responded, {v['positive']} screened "
        f"positive"
        for k, v in c.items()
    )
    return (
        f"# {TRIAL}: SYNTHETIC data\n\n"
        f"{cfg['title']}.\n\n"
        "Every file in this folder is simulated: these are not study data and describe no\n"
        "real person.\n\n"
        f"- `{cfg['data']['participants']}`: the roster of both classes (class_year, age,\n"
        f"  gender). {cohorts}.\n"
        f"- `{cfg['timepoints'][0]['file']}`: one survey per student (PHQ-2 items 1-2, all 22\n"
        "  MBI items, ~1% of MBI answers skipped), survey-tool metadata columns.\n"
        "- The positive PHQ-2 screen (total >= 3) is drawn first with probability 0.27\n"
        "  (2019, graded) or 0.06 (2021, pass/fail); emotional exhaustion is lower after the\n"
        "  change (latent item level 3.0 vs 2.4).\n"
        "- `truth.yaml`: the true risk difference and risk ratio.\n\n"
        f"Made by `workflow/trialeval/simulate_cohort.py`, seed {SEED}. Regenerate byte for\n"
        "byte from the repository root:\n\n"
        f"    {REGENERATE}\n"
    )


def write(out_dir: Path, config_dir: Path) -> Path:
    cfg = yaml.safe_load((config_dir / "trials" / f"{TRIAL}.yaml").read_text())
    registry = yaml.safe_load((config_dir / "instruments.yaml").read_text())
    result = simulate(cfg, registry)
    folder = out_dir / TRIAL
    folder.mkdir(parents=True, exist_ok=True)
    frames = {
        cfg["data"]["participants"]: result["participants"],
        cfg["timepoints"][0]["file"]: result["survey"],
    }
    for name, frame in frames.items():
        frame.to_csv(folder / name, index=False, lineterminator="\n")
    (folder / "truth.yaml").write_text(_truth(cfg, PARAMS), newline="\n")
    (folder / "README.md").write_text(_readme(result, cfg), newline="\n")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/raw"))
    parser.add_argument("--config-dir", type=Path, default=Path("config"))
    args = parser.parse_args(argv)
    print(write(args.out, args.config_dir))


if __name__ == "__main__":
    main()
