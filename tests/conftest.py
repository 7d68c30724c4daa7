"""Shared fixtures: a tiny, hand-checkable trial written to a temporary folder."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trialeval.config import load_trials

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "workflow" / "schemas"


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium_attribute(page: Path, profile: Path, window: str, attribute: str) -> str:
    """Load `page` in headless Chromium at `window` ("W,H") and return the value its script
    set as body's `attribute` (the page measures itself: line boxes, scroll width)."""
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={window}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(rf'{attribute}="([^"]*)"', done.stdout)
    assert found, done.stderr[-2000:]
    return found.group(1)


def half_up(x, decimals: int) -> float:
    """`x` rounded as the tables print it: halves up (away from zero) on its decimal digits as
    written (repr), 1.25 -> 1.3 and 2.675 -> 2.68 (round() gives 1.2 and 2.67)."""
    step = Decimal(1).scaleb(-decimals)
    return float(Decimal(repr(float(x))).quantize(step, rounding=ROUND_HALF_UP))


def tiny_trial_config() -> dict:
    """Two arms, two waves, self-compassion (reverse keys, mean) and flourishing (sum)."""
    return {
        "title": "Tiny trial",
        "design": "rct",
        "data": {
            "participants": "participants.csv",
            "id_column": "pid",
            "arm_column": "arm",
            "site_column": "site",
            "withdrawal_column": "withdrew",
        },
        "arms": [{"id": "peer", "label": "Peer support"}, {"id": "ctl", "control": True}],
        "sites": ["s1", "s2"],
        "timepoints": [
            {"id": "t0", "file": "wave0.csv", "baseline": True},
            {"id": "t1", "file": "wave1.csv"},
        ],
        "covariates": [{"name": "age", "type": "numeric"}],
        "outcomes": [
            {"id": "sc", "instrument": "scs_sf", "subscale": "total", "role": "primary"},
            {"id": "fl", "instrument": "flourishing", "subscale": "total"},
        ],
        "analysis_sets": {"per_protocol": {"column": "sessions", "at_least": 2}},
    }


def tiny_participants() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pid": ["P1", "P2", "P3", "P4", "P5", "P6"],
            "arm": ["peer", "peer", "peer", "ctl", "ctl", "ctl"],
            "site": ["s1", "s1", "s2", "s2", "s1", "s2"],
            "withdrew": ["no", "no", "yes", "no", "", "no"],
            "age": [24, 25, 26, 27, 28, 29],
            "sessions": [3, 1, 0, None, None, None],
        }
    )


def tiny_wave(ids: list[str], base: int) -> pd.DataFrame:
    rows = []
    for k, pid in enumerate(ids):
        row = {"pid": pid}
        row.update({f"scs_{i}": 1 + (base + k + i) % 5 for i in range(1, 13)})
        row.update({f"fs_{i}": 1 + (base + 2 * k + i) % 7 for i in range(1, 9)})
        rows.append(row)
    return pd.DataFrame(rows)


class TinyTrial:
    """A trial folder in tmp_path with a config.yaml pointing at it; edit, then `specs()`."""

    def __init__(self, root: Path):
        self.root = root
        self.data_dir = root / "data" / "raw" / "tiny"
        self.data_dir.mkdir(parents=True)
        (root / "config" / "trials").mkdir(parents=True)
        shutil.copy(ROOT / "config" / "instruments.yaml", root / "config" / "instruments.yaml")
        self.trial = tiny_trial_config()
        self.participants = tiny_participants()
        # P6 never answers; P1 and P4 are lost at t1; P3 withdrew but is in the t0 export.
        self.waves = {
            "wave0.csv": tiny_wave(["P1", "P2", "P3", "P4", "P5"], 0),
            "wave1.csv": tiny_wave(["p2 ", " P5"], 3),
        }

    @property
    def config(self) -> dict:
        return {
            "trials": ["tiny"],
            "trials_dir": str(self.root / "config" / "trials"),
            "instruments": str(self.root / "config" / "instruments.yaml"),
            "raw_dir": str(self.root / "data" / "raw"),
            "results_dir": str(self.root / "results"),
            "alpha": 0.05,
            "multiplicity": "holm",
        }

    def write_config(self) -> TinyTrial:
        with open(self.root / "config" / "trials" / "tiny.yaml", "w") as handle:
            yaml.safe_dump(self.trial, handle, sort_keys=False)
        return self

    def write(self) -> TinyTrial:
        self.write_config()
        self.participants.to_csv(self.data_dir / "participants.csv", index=False)
        for name, frame in self.waves.items():
            frame.to_csv(self.data_dir / name, index=False)
        return self

    def spec(self) -> dict:
        self.write()
        return load_trials(self.config, SCHEMAS)["tiny"]


@pytest.fixture
def tiny(tmp_path) -> TinyTrial:
    return TinyTrial(tmp_path)


def demo_spec(trial: str, raw_dir: Path | None = None) -> dict:
    """The resolved spec of one committed demo trial, loaded as the Snakefile loads it (its
    exports read from `raw_dir`, a copy to edit, when given)."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config.update(
        trials=[trial],
        trials_dir=str(ROOT / "config" / "trials"),
        instruments=str(ROOT / "config" / "instruments.yaml"),
        raw_dir=str(raw_dir or ROOT / "data" / "raw"),
        results_dir="results",
    )
    return load_trials(config, SCHEMAS)[trial]


def demo_trial(trial: str):
    """(spec, participants, items, scores, sets) of a demo trial, built by the library."""
    from trialeval import analysis_sets, ingest, instruments

    spec = demo_spec(trial)
    participants, items = ingest.ingest(spec)
    scores = instruments.score_outcomes(items, spec)
    sets = analysis_sets.analysis_sets(participants, items, spec, scores)
    return spec, participants, items, scores, sets


def run_front_stages(spec: dict, paths: dict[str, Path], out: Path, reliability: Path) -> None:
    """Ingest, scoring and analysis sets of one trial by the library's rule entries, into
    paths["participants"], ["items"], ["scores"], ["sets"], ["consort"] (scores.csv in out)."""
    from trialeval import analysis_sets, ingest, instruments

    ingest.run(spec, str(paths["participants"]), str(paths["items"]))
    instruments.run(
        spec,
        str(paths["items"]),
        str(paths["participants"]),
        str(paths["scores"]),
        str(out / "scores.csv"),
        str(reliability),
    )
    analysis_sets.run(
        spec,
        str(paths["participants"]),
        str(paths["items"]),
        str(paths["sets"]),
        str(paths["consort"]),
        scores_path=str(paths["scores"]),
    )


def association_outputs(spec: dict, scores: pd.DataFrame, members: pd.DataFrame):
    """(effects, counts) of a survey's association analysis as the pipeline stacks them:
    each configured exposure's logistic fits, P values Holm-adjusted across them."""
    from trialeval.association import association_effects
    from trialeval.effects import adjust

    options = spec["analyses"]["association"]
    effects, counts = [], []
    for exposure in options["exposures"]:
        rows, count = association_effects(
            scores,
            members,
            spec,
            outcome=options["outcome"],
            exposure=exposure,
            covariates=options["covariates"],
            alpha=0.05,
        )
        effects.append(rows)
        counts.append(count)
    effects = adjust(pd.concat(effects, ignore_index=True), "holm")
    return effects, pd.concat(counts, ignore_index=True)


def prepost_outputs(spec: dict, scores: pd.DataFrame, members: pd.DataFrame):
    """(effects, summary) of a pre/post trial's analyses as the pipeline stacks them: each
    outcome at its post visit on the intention-to-treat members, adjusted for the trial's
    confounders, in effects.csv's order with Holm-adjusted P values."""
    from trialeval.effects import adjust, order_effects
    from trialeval.prepost import prepost_effects

    effects, summaries = [], []
    for outcome in spec["outcomes"]:
        rows, summary = prepost_effects(
            scores[scores["outcome"] == outcome["id"]],
            members,
            spec,
            outcome,
            post="post",
            analysis_set="itt",
            alpha=0.05,
            confounders=spec["analyses"]["prepost"]["confounders"],
        )
        effects.append(rows)
        summaries.append(summary)
    effects = adjust(order_effects(pd.concat(effects, ignore_index=True), spec), "holm")
    return effects, pd.concat(summaries, ignore_index=True)
