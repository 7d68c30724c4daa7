"""The synthetic demo data: reproducible byte for byte, matching the config, with sane truth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from trialeval import simulate, simulate_exports

# The CSV demo trials and those written, from their simulated data, as survey tools export them.
ALL_TRIALS = simulate.TRIALS + tuple(simulate_exports.EXPORTED)
ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
CONFIG = ROOT / "config"


def load(trial: str) -> tuple[dict, dict]:
    return simulate.load_config(CONFIG, trial)


def read(path: Path) -> pd.DataFrame:
    """Read an export as the pipeline does: every cell as text, empty cells missing."""
    if path.suffix == ".xlsx":
        return pd.read_excel(path, dtype=str)
    return pd.read_csv(path, dtype=str, keep_default_na=False).replace("", pd.NA)


def wave_files(trial: str) -> list[Path]:
    cfg, _ = load(trial)
    return [RAW / trial / tp["file"] for tp in cfg["timepoints"]]


def ids(trial: str, path: Path) -> pd.Series:
    cfg, _ = load(trial)
    return read(path)[cfg["data"]["id_column"]]


def truth(trial: str) -> dict:
    with open(RAW / trial / "truth.yaml") as handle:
        return yaml.safe_load(handle)


def effect(trial: str, outcome: str, estimand: str, contrast: str | None = None) -> dict:
    hits = [
        e
        for e in truth(trial)["effects"]
        if e["outcome"] == outcome
        and e["estimand"] == estimand
        and (contrast is None or e["contrast"] == contrast)
    ]
    assert len(hits) == 1, (trial, outcome, estimand, contrast)
    return hits[0]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """Regenerate with the documented command, in a fresh process as a user would run it."""
    out = tmp_path_factory.mktemp("raw")
    command = [sys.executable, "-m", "trialeval.simulate", "--out", str(out)]
    subprocess.run(
        [*command, "--config-dir", str(CONFIG)],
        check=True,
        capture_output=True,
    )
    return out


# --- reproducibility -------------------------------------------------------------------------


@pytest.mark.parametrize("trial", ALL_TRIALS)
def test_regeneration_is_byte_identical(regenerated, trial):
    committed = sorted(p.relative_to(RAW / trial) for p in (RAW / trial).rglob("*") if p.is_file())
    fresh = sorted(
        p.relative_to(regenerated / trial) for p in (regenerated / trial).rglob("*") if p.is_file()
    )
    assert committed == fresh
    assert {"truth.yaml", "README.md"} <= {p.name for p in committed}
    for rel in committed:
        same = (RAW / trial / rel).read_bytes() == (regenerated / trial / rel).read_bytes()
        assert same, f"{trial}/{rel} differs from its regenerated copy"


def test_readmes_say_synthetic():
    for trial in ALL_TRIALS:
        text = (RAW / trial / "README.md").read_text()
        assert "SYNTHETIC" in text
        assert f"python -m trialeval.simulate --out data/raw --trial {trial}" in text


def test_text_files_use_unix_line_endings():
    for path in RAW.rglob("*"):
        if path.suffix in {".csv", ".yaml", ".md"}:
            assert b"\r" not in path.read_bytes(), path


# --- counts ------------------------------------------------------------------------------------


def test_coaching_counts():
    cfg, _ = load("coaching_rct")
    data = cfg["data"]
    part = read(RAW / "coaching_rct" / data["participants"])
    assert len(part) == 390
    assert part[data["arm_column"]].value_counts().to_dict() == {"coaching": 197, "control": 193}
    assert part[data["site_column"]].nunique() == 7
    assert set(part[data["site_column"]]) == set(simulate.site_ids(cfg))
    sizes = part[data["site_column"]].value_counts()
    assert sizes.min() >= 30 and sizes.max() <= 90
    withdrawn = part[part[data["withdrawal_column"]] == "yes"]
    assert withdrawn[data["arm_column"]].value_counts().to_dict() == {"coaching": 2, "control": 2}

    age = part["age"].astype(int)
    assert age.between(22, 38).all()
    assert set(part["gender"]) <= {"woman", "man", "nonbinary"}
    assert set(part["year"]) == {"MS1", "MS2", "MS3", "MS4"}
    coached = part[data["arm_column"]] == "coaching"
    sessions = part["sessions_attended"]
    assert sessions[~coached].isna().all()
    s = sessions[coached].astype(int)
    assert s.between(0, 6).all()
    assert 0.1 <= (s < 3).mean() <= 0.3


def test_coaching_responses_and_attrition():
    cfg, _ = load("coaching_rct")
    data = cfg["data"]
    part = read(RAW / "coaching_rct" / data["participants"])
    base_file, m4_file = wave_files("coaching_rct")
    base, month4 = set(ids("coaching_rct", base_file)), set(ids("coaching_rct", m4_file))
    assert 0.94 <= len(base) / 390 <= 0.99
    lost = 1 - len(base & month4) / len(base)
    assert 0.15 <= lost <= 0.30
    withdrawn = set(part.loc[part[data["withdrawal_column"]] == "yes", data["id_column"]])
    assert withdrawn <= base  # in the baseline export: the pipeline must drop them
    assert not withdrawn & month4
    assert (base | month4) <= set(part[data["id_column"]])


def test_coaching_attrition_is_more_likely_with_high_baseline_ee():
    _, registry = load("coaching_rct")
    ee = simulate.make_scale(registry, "mbi", "ee")
    base_file, m4_file = wave_files("coaching_rct")
    base = read(base_file).set_index("participant_id")
    score = base[list(ee.columns)].astype(float).mean(axis=1)
    stayed = base.index.isin(set(ids("coaching_rct", m4_file)))
    assert score[~stayed].mean() > score[stayed].mean()


def test_mentorship_counts():
    cfg, _ = load("mentorship_prepost")
    data = cfg["data"]
    part = read(RAW / "mentorship_prepost" / data["participants"])
    assert len(part) == 135
    assert part[data["arm_column"]].value_counts().to_dict() == {"control": 84, "mentored": 51}
    assert set(part[data["site_column"]]) == {"inst_1", "inst_2"}
    assert part[data["id_column"]].str.fullmatch(r"EM-\d{3}").all()
    pre_file, post_file = wave_files("mentorship_prepost")
    pre = set(ids("mentorship_prepost", pre_file))
    post = set(ids("mentorship_prepost", post_file).str.strip().str.upper())
    assert 0.08 <= 1 - len(pre & post) / len(pre) <= 0.25


def test_belonging_counts():
    cfg, _ = load("belonging_survey")
    frame = read(RAW / "belonging_survey" / cfg["data"]["participants"])
    assert len(frame) == 2257
    assert frame[cfg["data"]["id_column"]].is_unique
    assert set(frame["level"]) == {"student", "resident", "fellow"}
    resp = ids("belonging_survey", wave_files("belonging_survey")[0])
    assert len(resp) == 1261 and resp.is_unique
    assert set(resp) <= set(frame[cfg["data"]["id_column"]])


# --- item columns and ranges ---------------------------------------------------------------------


def registry_columns(trial: str) -> dict[str, tuple[list[str], float, float]]:
    """Instrument -> (item columns, min, max), straight from the registry."""
    cfg, registry = load(trial)
    out = {}
    for o in cfg["outcomes"]:
        inst = registry[o["instrument"]]
        if "prescored" in inst:
            lo, hi = inst["prescored"]["range"]
            out[o["instrument"]] = ([inst["prescored"]["column"]], lo, hi)
            continue
        items = inst["items"]
        items = range(1, items + 1) if isinstance(items, int) else items
        lo, hi = inst["item_range"]
        out[o["instrument"]] = ([f"{inst['item_prefix']}{i}" for i in items], lo, hi)
    return out


@pytest.mark.parametrize("trial", simulate.TRIALS)
def test_every_item_column_present_and_in_range(trial):
    instruments = registry_columns(trial)
    for path in wave_files(trial):
        frame = read(path)
        for columns, lo, hi in instruments.values():
            missing = [c for c in columns if c not in frame.columns]
            assert not missing, (path.name, missing)
            values = frame[columns].apply(pd.to_numeric, errors="raise").to_numpy(dtype=float)
            answered = values[~np.isnan(values)]
            assert (answered == np.round(answered)).all(), path.name
            assert answered.min() >= lo and answered.max() <= hi, path.name
        items = frame[[c for cols, _, _ in instruments.values() for c in cols]]
        skipped = items.isna().to_numpy().mean()
        assert 0.005 <= skipped <= 0.05, (path.name, skipped)


def test_reverse_keyed_items_agree_with_the_rest_after_keying():
    _, registry = load("coaching_rct")
    frame = read(wave_files("coaching_rct")[0])
    for name in ("miss_hp", "scs_sf"):
        scale = simulate.make_scale(registry, name, "total")
        keyed = frame[list(scale.columns)].astype(float)
        for column, rev in zip(scale.columns, scale.reverse, strict=True):
            if rev:
                keyed[column] = scale.lo + scale.hi - keyed[column]
        total = keyed.sum(axis=1)
        for column in scale.columns:
            assert keyed[column].corr(total - keyed[column]) > 0.2, (name, column)


def test_subscales_have_realistic_alpha():
    cfg, registry = load("coaching_rct")
    frame = read(wave_files("coaching_rct")[0])
    for scale in simulate.trial_scales(cfg, registry):
        items = frame[list(scale.columns)].astype(float).dropna()
        rev = np.array(scale.reverse)
        items.loc[:, rev] = scale.lo + scale.hi - items.loc[:, rev]
        k = scale.k
        alpha = k / (k - 1) * (1 - items.var().sum() / items.sum(axis=1).var())
        assert 0.65 <= alpha <= 0.95, (scale.key, alpha)


# --- messy ids --------------------------------------------------------------------------------


def test_mentorship_post_ids_are_messy_but_all_enrolled():
    cfg, _ = load("mentorship_prepost")
    enrolled = set(read(RAW / "mentorship_prepost" / "participants.csv")[cfg["data"]["id_column"]])
    pre_file, post_file = wave_files("mentorship_prepost")
    raw = ids("mentorship_prepost", post_file)
    clean = raw.str.strip().str.upper()
    messy = raw != clean
    assert messy.sum() >= 10
    assert (raw != raw.str.strip()).any() and (raw.str.strip() != clean).any()
    assert set(clean) <= enrolled and clean.is_unique
    pre = ids("mentorship_prepost", pre_file)
    assert (pre == pre.str.strip().str.upper()).all()


# --- truth ------------------------------------------------------------------------------------


def test_truth_headers_and_seeds():
    for trial in simulate.TRIALS:
        text = (RAW / trial / "truth.yaml").read_text()
        assert text.startswith("# SYNTHETIC")
        doc = truth(trial)
        assert doc["trial"] == trial and doc["seed"] == simulate.SEEDS[trial]


def test_coaching_truth():
    cfg, _ = load("coaching_rct")
    continuous = ["ee", "dp", "pa", "impostor", "moral_injury", "self_compassion", "flourishing"]
    assert [o["id"] for o in cfg["outcomes"] if "subscale" in o] == continuous
    for outcome in continuous:
        for estimand in ("diff_in_change", "diff_in_means"):
            e = effect("coaching_rct", outcome, estimand)
            assert e["contrast"] == "coaching - control" and e["timepoint"] == "month4"
            assert e["mc_se"] < 0.01
            if outcome not in ("self_compassion", "flourishing"):
                assert abs(e["value"]) < 0.01, e
    assert effect("coaching_rct", "self_compassion", "diff_in_change")["value"] == pytest.approx(
        0.30, abs=0.03
    )
    assert effect("coaching_rct", "flourishing", "diff_in_means")["value"] == pytest.approx(
        3.0, abs=0.3
    )


def test_mentorship_truth():
    assert effect("mentorship_prepost", "pa", "diff_in_change")["value"] == pytest.approx(
        2.0, abs=0.2
    )
    for outcome in ("ee", "dp"):
        assert abs(effect("mentorship_prepost", outcome, "diff_in_change")["value"]) < 0.05
    for outcome in ("high_ee", "high_dp", "low_pa"):
        e = effect("mentorship_prepost", outcome, "risk_ratio")
        assert e["timepoint"] == "post" and e["contrast"] == "mentored - control"
        assert 0.3 < e["value"] < 1.5
    # Mentoring raises accomplishment, so fewer mentored students have low PA.
    assert effect("mentorship_prepost", "low_pa", "risk_ratio")["value"] < 0.9


def test_belonging_truth():
    _, registry = load("belonging_survey")
    labels = registry["belonging"]["levels"]
    ors = [
        effect("belonging_survey", "burnout", "odds_ratio", f"{labels[k]} - {labels[1]}")["value"]
        for k in (2, 3, 4)
    ]
    assert all(e["timepoint"] == "survey" for e in truth("belonging_survey")["effects"])
    assert 1 > ors[0] > ors[1] > ors[2] > 0


def test_belonging_burnout_items():
    """Items 8 and 10 are skipped together (never alone); burnout falls with belonging."""
    frame = read(wave_files("belonging_survey")[0])
    pair = frame[["mbi_8", "mbi_10"]].astype(float)
    assert (pair.isna().sum(axis=1) != 1).all()
    burnout = (pair >= 4).any(axis=1)[pair.notna().all(axis=1)]
    org = frame.loc[burnout.index, "belong_organization"].astype(float)
    rates = burnout.groupby(org).mean()
    assert rates.loc[1.0] > rates.loc[4.0]
