"""The scale trial generator (`python -m trialeval.simulate --scale N --out DIR`) at a small N."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from trialeval import simulate
from trialeval.config import item_columns, load_trials

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config"
N = 2_000
FILES = [
    "participants.csv",
    "survey_baseline.csv",
    "survey_month4.csv",
    "survey_month12.csv",
    "truth.yaml",
    "README.md",
]


def read(path: Path) -> pd.DataFrame:
    """As the pipeline reads an export: every cell as text, empty cells missing."""
    return pd.read_csv(path, dtype=str, keep_default_na=False).replace("", pd.NA)


@pytest.fixture(scope="module")
def scale_dir(tmp_path_factory) -> Path:
    """Written by the documented command, in a fresh process."""
    out = tmp_path_factory.mktemp("scale")
    subprocess.run(
        [sys.executable, "-m", "trialeval.simulate", "--scale", str(N), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def spec(scale_dir) -> dict:
    """The scale trial's config resolved the way the workflow does, raw_dir = the output."""
    config = {
        "trials": [simulate.SCALE_TRIAL],
        "trials_dir": str(CONFIG / "trials"),
        "instruments": str(CONFIG / "instruments.yaml"),
        "raw_dir": str(scale_dir),
    }
    return load_trials(config, ROOT / "workflow" / "schemas")[simulate.SCALE_TRIAL]


def test_writes_the_expected_files(scale_dir):
    folder = scale_dir / simulate.SCALE_TRIAL
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert "SYNTHETIC" in (folder / "README.md").read_text()
    truth = yaml.safe_load((folder / "truth.yaml").read_text())
    assert truth["trial"] == simulate.SCALE_TRIAL and truth["seed"] == simulate.SCALE_SEED
    assert {e["timepoint"] for e in truth["effects"]} == {"month12"}


def test_config_has_three_waves_and_forty_sites(spec, scale_dir):
    assert [tp["id"] for tp in spec["timepoints"]] == ["baseline", "month4", "month12"]
    assert all(tp["file"].endswith(".csv") for tp in spec["timepoints"])
    assert len(spec["sites"]) == 40
    assert Path(spec["data_dir"]) == scale_dir / simulate.SCALE_TRIAL
    assert spec["analyses"]["mixed_model"]["site"] == "random"


def test_participants(spec):
    part = read(Path(spec["participants_file"]))
    assert len(part) == N and part["participant_id"].is_unique
    arms = part["arm"].value_counts().to_dict()
    assert arms == {"coaching": N // 2, "control": N // 2}
    assert set(part["institution"]) == set(spec["sites"])
    sizes = part["institution"].value_counts()
    assert sizes.max() > 1.5 * sizes.min()  # unequal sites
    # Randomized within site: about half of every site is coached.
    coached = (part["arm"] == "coaching").groupby(part["institution"]).mean()
    assert coached.between(0.4, 0.6).all()
    withdrawn = part[part["withdrew_consent"] == "yes"]
    assert withdrawn["arm"].value_counts().to_dict() == {"coaching": 10, "control": 10}
    assert part.loc[part["arm"] == "control", "sessions_attended"].isna().all()


def test_waves_items_and_ranges(spec):
    part = read(Path(spec["participants_file"]))
    enrolled = set(part["participant_id"])
    withdrawn = set(part.loc[part["withdrew_consent"] == "yes", "participant_id"])
    columns = item_columns(spec)
    assert len(columns) == 72  # MBI 22, CIPS 20, MISS-HP 10, SCS-SF 12, Flourishing 8
    sizes = {}
    for tp in spec["timepoints"]:
        frame = read(Path(tp["file"]))
        assert list(frame.columns[:4]) == [
            "response_id",
            "participant_id",
            "submitted_at",
            "finished",
        ]
        assert list(frame.columns[4:]) == columns
        ids = frame["participant_id"]
        assert ids.is_unique and set(ids) <= enrolled
        if not tp["baseline"]:
            assert not set(ids) & withdrawn
        sizes[tp["id"]] = len(frame)
        for inst in spec["instruments"].values():
            lo, hi = inst["item_range"]
            cols = [item["column"] for item in inst["items"]]
            values = frame[cols].astype(float).to_numpy()
            answered = values[~np.isnan(values)]
            assert (answered == np.round(answered)).all()
            assert answered.min() >= lo and answered.max() <= hi, (tp["id"], inst["id"])
        skipped = frame[columns].isna().to_numpy().mean()
        assert 0.005 <= skipped <= 0.05, (tp["id"], skipped)
    # ~97% at baseline, later waves lose more with time.
    assert 0.94 * N <= sizes["baseline"] <= 0.99 * N
    assert sizes["baseline"] > sizes["month4"] > sizes["month12"] > 0.5 * N


def test_deterministic_for_a_seed(tmp_path, scale_dir):
    """The same seed rewrites every byte; another seed gives other data."""
    small = 400
    for seed, name in ((simulate.SCALE_SEED, "a"), (simulate.SCALE_SEED, "b"), (7, "c")):
        simulate.generate_scale(small, tmp_path / name, CONFIG, seed, mc_draws=2_000)
    for file in FILES:
        a, b = (tmp_path / d / simulate.SCALE_TRIAL / file for d in ("a", "b"))
        assert a.read_bytes() == b.read_bytes(), file
    c = tmp_path / "c" / simulate.SCALE_TRIAL / "survey_baseline.csv"
    assert (
        c.read_bytes()
        != (tmp_path / "a" / simulate.SCALE_TRIAL / "survey_baseline.csv").read_bytes()
    )


def test_scale_needs_an_output_folder():
    """Never written into the repository's data/raw by default."""
    with pytest.raises(SystemExit):
        simulate.main(["--scale", "500"])
    assert not (ROOT / "data" / "raw" / simulate.SCALE_TRIAL).exists()


def test_scale_trial_is_not_a_demo_trial():
    assert simulate.SCALE_TRIAL not in simulate.TRIALS
    config = yaml.safe_load((CONFIG / "config.yaml").read_text())
    assert simulate.SCALE_TRIAL not in config["trials"]
