"""Seeded SYNTHETIC raw exports for the three demo trials, with their true effects.

    python -m trialeval.simulate --out data/raw [--trial NAME ...] [--config-dir config]
    python -m trialeval.simulate --scale N --out DIR [--seed S]   (coaching_scale, see below)

Everything written under data/raw/<trial>/ is simulated: participants, survey exports in the
layout a survey tool produces (item columns, metadata columns, skipped items, messy ids), a
truth.yaml with the true effects, and a README.md. Item columns, ranges, reverse keys and
subscales come from config/instruments.yaml; file and column names, arms, sites and timepoints
from config/trials/<trial>.yaml, so the data always match the config.

Data-generating process for the longitudinal trials (coaching_rct, mentorship_prepost): every
scored subscale ("construct") has a latent person level on the item scale,

    level[wave] = mean + sd * (z[wave] + covariate/site shift) + trend[wave] + effect[wave]*treated

where z is standard normal, correlated across constructs, and shares a person part between
waves (correlation `icc`). Item answers are rint(level + item offset + noise), clipped to the
item range; reverse-keyed items are generated in the keyed direction and flipped on output.
Rounding and clipping make the effect on the SCORED outcome differ from the latent shift (the
latent shifts are set so that the scored effects land near their targets), so truth.yaml holds
the effect on the scored outcome, computed by Monte Carlo from the same process (common random
numbers for the arms, `MC_DRAWS` people, its own seed). belonging_survey instead draws its
burnout category from a known logistic model, so its true odds ratios are exact.

Participant counts and the number of waves (= timepoints in the trial yaml) are parameters:
`simulate_coaching(cfg, registry, dict(COACHING, n=...))`.

Seeds are fixed in `SEEDS` / `MC_SEEDS`; rerunning rewrites every file byte for byte.

`--scale N` writes instead the coaching_scale trial (config/trials/coaching_scale.yaml, not a
demo trial): coaching_rct's process with N participants, 40 sites and 3 waves, CSV only, into
DIR/coaching_scale/ (never data/raw unless asked); deterministic for a seed (100,000 x 3: ~8 s).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

# openpyxl serialises XML with lxml when it is installed and with ElementTree otherwise, and the
# two write different bytes. Pin ElementTree (read once, when openpyxl is first imported) so the
# committed .xlsx regenerates byte for byte on any machine; write_xlsx checks it took effect.
os.environ.setdefault("OPENPYXL_LXML", "False")
import openpyxl  # noqa: E402
import openpyxl.xml  # noqa: E402
import pandas as pd
import yaml

from trialeval import simulate_evaluation

TRIALS = ("coaching_rct", "mentorship_prepost", "belonging_survey")
SEEDS = {"coaching_rct": 20261123, "mentorship_prepost": 20261124, "belonging_survey": 20261125}
# The Monte Carlo truth uses its own stream so that changing MC_DRAWS never changes the data.
# (belonging_survey needs none: its true odds ratios are coefficients of the generating model.)
MC_SEEDS = {"coaching_rct": 91123, "mentorship_prepost": 91124}
MC_DRAWS = 200_000

# Survey-tool mess: single skipped items, and whole instrument blocks left empty.
P_SKIP_ITEM = 0.015
P_SKIP_BLOCK = 0.005

# Stamped into the .xlsx so that the workbook bytes do not depend on when it was written.
FIXED_TIME = datetime(2024, 1, 1)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

REPO_ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "python -m trialeval.simulate --out data/raw --trial {trial}"


# --------------------------------------------------------------------------------------------
# Configuration: instruments and scales
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """One scored subscale of an instrument: item columns, range, reverse keys, scoring."""

    instrument: str
    subscale: str
    columns: tuple[str, ...]
    lo: int
    hi: int
    reverse: tuple[bool, ...]
    scoring: str  # "sum" or "mean"

    @property
    def key(self) -> str:
        return f"{self.instrument}.{self.subscale}"

    @property
    def k(self) -> int:
        return len(self.columns)

    def per_item(self, scored: float) -> float:
        """Convert a shift on the scored outcome into a shift of every item."""
        return scored / self.k if self.scoring == "sum" else scored

    def score(self, keyed: np.ndarray) -> np.ndarray:
        """Score complete keyed answers (items on the last axis)."""
        return keyed.sum(axis=-1) if self.scoring == "sum" else keyed.mean(axis=-1)


def item_ids(inst: dict) -> list:
    """`items: N` means 1..N; a list names the items."""
    items = inst["items"]
    return list(range(1, items + 1)) if isinstance(items, int) else list(items)


def instrument_columns(registry: dict, name: str) -> list[str]:
    inst = registry[name]
    if "prescored" in inst:
        return [inst["prescored"]["column"]]
    return [f"{inst['item_prefix']}{i}" for i in item_ids(inst)]


def make_scale(registry: dict, name: str, subscale: str) -> Scale:
    inst = registry[name]
    sub = inst["subscales"][subscale]
    items = item_ids(inst) if sub["items"] == "all" else list(sub["items"])
    reverse = set(inst.get("reverse", []))
    lo, hi = inst["item_range"]
    return Scale(
        instrument=name,
        subscale=subscale,
        columns=tuple(f"{inst['item_prefix']}{i}" for i in items),
        lo=int(lo),
        hi=int(hi),
        reverse=tuple(i in reverse for i in items),
        scoring=sub["scoring"],
    )


def load_config(config_dir: Path, trial: str) -> tuple[dict, dict]:
    """The trial yaml and the instrument registry (plus the trial's own instruments)."""
    with open(config_dir / "trials" / f"{trial}.yaml") as handle:
        cfg = yaml.safe_load(handle)
    with open(config_dir / "instruments.yaml") as handle:
        registry = yaml.safe_load(handle)
    registry.update(cfg.get("instruments") or {})
    return cfg, registry


def trial_instruments(cfg: dict) -> list[str]:
    """Instruments the trial's outcomes use, in order of first mention."""
    return list(dict.fromkeys(o["instrument"] for o in cfg["outcomes"]))


def trial_scales(cfg: dict, registry: dict) -> list[Scale]:
    """Every subscale of every (item-level) instrument the outcomes use."""
    return [
        make_scale(registry, name, sub)
        for name in trial_instruments(cfg)
        if "prescored" not in registry[name]
        for sub in registry[name]["subscales"]
    ]


def outcome_scales(cfg: dict, registry: dict) -> dict[str, tuple[Scale, dict | None]]:
    """Outcome id -> (scale, category definition or None) for subscale-based outcomes."""
    out = {}
    for o in cfg["outcomes"]:
        inst = registry[o["instrument"]]
        if "prescored" in inst:
            continue
        if "category" in o:
            cat = inst["categories"][o["category"]]
            if "subscale" in cat:
                out[o["id"]] = (make_scale(registry, o["instrument"], cat["subscale"]), cat)
        else:
            out[o["id"]] = (make_scale(registry, o["instrument"], o["subscale"]), None)
    return out


def arm_ids(cfg: dict) -> tuple[str, str]:
    """(intervention arm, control arm) ids from the trial yaml."""
    control = next(a["id"] for a in cfg["arms"] if a.get("control"))
    treated = next(a["id"] for a in cfg["arms"] if not a.get("control"))
    return treated, control


# --------------------------------------------------------------------------------------------
# The latent-level model shared by the longitudinal trials
# --------------------------------------------------------------------------------------------


@dataclass
class Design:
    """Generation parameters of a longitudinal trial; one entry per construct (subscale)."""

    scales: list[Scale]
    mean: np.ndarray  # population mean item level (keyed direction)
    sd: np.ndarray  # between-person SD of the item level
    noise: np.ndarray  # SD of item-level noise around the person level
    offsets: list[np.ndarray]  # per-item offsets ("difficulty"), centred
    chol: np.ndarray  # Cholesky factor of the latent correlation between constructs
    icc: float  # latent correlation of a person's level between waves
    trend: np.ndarray  # (waves, constructs) shift for everybody, item units
    effect: np.ndarray  # (waves, constructs) extra shift in the intervention arm, item units

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.scales]


def build_design(
    scales: list[Scale], params: dict, n_waves: int, param_rng: np.random.Generator
) -> Design:
    """Turn the per-trial parameter table into arrays; trend/effect grow linearly to the end."""
    keys = [s.key for s in scales]
    c = len(keys)
    corr = np.eye(c)
    for (a, b), r in params["corr"].items():
        if a in keys and b in keys:
            corr[keys.index(a), keys.index(b)] = corr[keys.index(b), keys.index(a)] = r
    # Fraction of the full trend/effect reached at each wave: 0 at baseline, 1 at the last.
    frac = np.linspace(0.0, 1.0, n_waves)[:, None]
    trend = np.array([s.per_item(params["trend"].get(s.key, 0.0)) for s in scales])
    effect = np.array([s.per_item(params["effect"].get(s.key, 0.0)) for s in scales])
    gen = [params["scales"][k] for k in keys]
    noise = np.array([g[2] for g in gen])
    offsets = []
    for s, sd_noise in zip(scales, noise, strict=True):
        off = param_rng.normal(0.0, 0.3 * sd_noise, s.k)
        offsets.append(off - off.mean())
    return Design(
        scales=scales,
        mean=np.array([g[0] for g in gen]),
        sd=np.array([g[1] for g in gen]),
        noise=noise,
        offsets=offsets,
        chol=np.linalg.cholesky(corr),
        icc=params["icc"],
        trend=frac * trend,
        effect=frac * effect,
    )


def draw_latent(design: Design, n: int, n_waves: int, rng: np.random.Generator) -> np.ndarray:
    """Standardised latent levels (waves, n, constructs): a person part shared across waves."""
    c = len(design.scales)
    person = rng.standard_normal((n, c)) @ design.chol.T
    wave = rng.standard_normal((n_waves, n, c)) @ design.chol.T
    return np.sqrt(design.icc) * person + np.sqrt(1.0 - design.icc) * wave


def levels(design: Design, z: np.ndarray, shift: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Item-scale person levels (waves, n, constructs)."""
    return (
        design.mean
        + design.sd * (z + shift)
        + design.trend[:, None, :]
        + treated[None, :, None] * design.effect[:, None, :]
    )


def keyed_items(level: np.ndarray, noise: np.ndarray, design: Design, c: int) -> np.ndarray:
    """Integer answers (keyed direction) around a level: rint, then clip to the item range."""
    s = design.scales[c]
    x = design.noise[c] * noise  # in place from here on: the Monte Carlo arrays are large
    x += design.offsets[c]
    x += level[..., None]
    np.rint(x, out=x)
    return np.clip(x, s.lo, s.hi, out=x)


def as_answered(keyed: np.ndarray, scale: Scale) -> np.ndarray:
    """Flip reverse-keyed items back to how respondents ticked them."""
    rev = np.array(scale.reverse)
    return np.where(rev, scale.lo + scale.hi - keyed, keyed)


def covariate_shift(people: dict, keys: list[str], table: dict) -> np.ndarray:
    """Standardised level shifts (n, constructs) from covariates.

    `table` maps a column to {value: {construct: shift}} for categories, or to
    ("slope", centre, {construct: shift per unit}) for numbers.
    """
    shift = np.zeros((len(next(iter(people.values()))), len(keys)))
    for column, spec in table.items():
        if isinstance(spec, tuple):
            _, centre, per_unit = spec
            x = people[column].astype(float) - centre
            for key, beta in per_unit.items():
                shift[:, keys.index(key)] += beta * x
        else:
            values, codes = np.unique(people[column], return_inverse=True)
            per_value = np.zeros((len(values), len(keys)))
            for i, value in enumerate(values):
                for key, beta in spec.get(str(value), {}).items():
                    per_value[i, keys.index(key)] = beta
            shift += per_value[codes]
    return shift


def categorical(u: np.ndarray, labels: list, probs: list[float]) -> np.ndarray:
    """Inverse-CDF draw of a categorical variable from uniforms (keeps draws coupled)."""
    cum = np.cumsum(probs) / np.sum(probs)
    idx = np.minimum(np.searchsorted(cum, u, side="right"), len(labels) - 1)
    return np.asarray(labels, dtype=str)[idx]


def draw_uniforms(names: list[str], n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Common random numbers for covariates: uniforms, except `z_*` which are normal."""
    return {
        name: rng.standard_normal(n) if name.startswith("z_") else rng.random(n) for name in names
    }


def mc_scores(
    design: Design,
    arms: list[str],
    people_of: Callable[[dict, str], dict],
    shift_of: Callable[[dict], np.ndarray],
    treated_arm: str,
    n: int,
    n_waves: int,
    seed: int,
    u_names: list[str],
) -> dict[str, dict[str, np.ndarray]]:
    """Scored outcomes (waves, n) per arm and construct, complete items, common random numbers.

    Every simulated person is evaluated in every arm with the same latent draws and the same
    item noise; only the arm's covariate distribution and the intervention effect differ. The
    per-person differences are then iid, which gives a small and honest Monte Carlo SE.
    """
    rng = np.random.default_rng(seed)
    u = draw_uniforms(u_names, n, rng)
    z = draw_latent(design, n, n_waves, rng)
    lev = {}
    for arm in arms:
        people = people_of(u, arm)
        treated = np.full(n, float(arm == treated_arm))
        lev[arm] = levels(design, z, shift_of(people), treated)
    out = {arm: {} for arm in arms}
    for c, s in enumerate(design.scales):
        noise = rng.standard_normal((n_waves, n, s.k))
        for arm in arms:
            out[arm][s.key] = s.score(keyed_items(lev[arm][..., c], noise, design, c))
    return out


def mean_se(x: np.ndarray) -> tuple[float, float]:
    """Monte Carlo mean and its standard error."""
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))


def category_flag(score: np.ndarray, cat: dict) -> np.ndarray:
    """1.0 where a score falls in a registry category (`at_least` / `at_most`)."""
    if "at_least" in cat:
        return (score >= cat["at_least"]).astype(float)
    return (score <= cat["at_most"]).astype(float)


def risk_ratio(flag1: np.ndarray, flag0: np.ndarray) -> tuple[float, float]:
    """Ratio of proportions from coupled draws; SE by the delta method on the log scale."""
    n = len(flag1)
    p1, p0 = flag1.mean(), flag0.mean()
    cov = np.cov(flag1, flag0)
    var_log = (cov[0, 0] / p1**2 + cov[1, 1] / p0**2 - 2 * cov[0, 1] / (p1 * p0)) / n
    rr = p1 / p0
    return float(rr), float(rr * np.sqrt(var_log))


# --------------------------------------------------------------------------------------------
# Survey-export helpers
# --------------------------------------------------------------------------------------------


def skip_answers(
    answers: pd.DataFrame, blocks: list[tuple[list[str], float]], rng: np.random.Generator
) -> pd.DataFrame:
    """Blank ~P_SKIP_ITEM of single answers and ~P_SKIP_BLOCK of whole instrument blocks.

    `blocks` lists (columns, per-item skip probability); a block's items are skipped together.
    """
    out = answers.astype("Int64")
    n = len(out)
    for columns, p_item in blocks:
        block = out[columns].to_numpy(dtype="float64", na_value=np.nan)
        block[rng.random(block.shape) < p_item] = np.nan
        block[rng.random(n) < P_SKIP_BLOCK] = np.nan
        out[columns] = pd.DataFrame(block, index=out.index, columns=columns).astype("Int64")
    return out


def timestamps(start: str, days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """ISO submission times: `start` + `days` + a time of day between 07:00 and 23:00."""
    seconds = np.rint(days * 86400 + 7 * 3600 + rng.random(len(days)) * 16 * 3600)
    stamp = np.datetime64(start, "s") + seconds.astype("timedelta64[s]")
    return np.datetime_as_string(stamp, unit="s")


def export_frame(ids: np.ndarray, id_column: str, submitted: np.ndarray, answers: pd.DataFrame):
    """A survey-tool export: response id, participant id, metadata, then item columns.

    Rows come in submission order (ties by id), as the tool lists them.
    """
    meta = pd.DataFrame(
        {id_column: ids, "submitted_at": submitted, "finished": "True"}, index=answers.index
    )
    frame = pd.concat([meta, answers], axis=1)
    frame = frame.sort_values(["submitted_at", id_column], kind="stable").reset_index(drop=True)
    frame.insert(0, "response_id", [f"R_{i + 1:05d}" for i in range(len(frame))])
    return frame


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", float_format="%.6g")


def write_xlsx(frame: pd.DataFrame, path: Path, sheet: str = "responses") -> None:
    if openpyxl.xml.LXML:
        raise RuntimeError(
            "openpyxl was imported with lxml before trialeval.simulate, so the .xlsx bytes would "
            "differ from the committed ones; run `python -m trialeval.simulate` (a fresh process)"
        )
    """Excel export with fixed document times and zip timestamps, so bytes are reproducible."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append([_cell(v) for v in row])
    wb.properties.creator = "trialeval.simulate"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(_normalise_zip(buffer.getvalue()))


def _cell(value):
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _normalise_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry times/compression; pin docProps/core.xml's timestamps."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            content = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                # openpyxl's save() stamps the current time into dcterms:modified.
                content = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    content,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            zout.writestr(entry, content, compresslevel=6)
    return out.getvalue()


def write_table(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix.lower() == ".xlsx":
        write_xlsx(frame, path)
    else:
        write_csv(frame, path)


def write_truth(
    path: Path, trial: str, header: str, effects: list[dict], seed_of: str | None = None
) -> None:
    """truth.yaml with fixed float formatting (one flow mapping per effect); `seed_of` names
    the simulated trial whose seeds made the data (default `trial` itself)."""
    seeded = seed_of or trial
    lines = [f"# {line}".rstrip() for line in header.strip().splitlines()]
    lines += [f"trial: {trial}", f"seed: {SEEDS[seeded]}"]
    if seeded in MC_SEEDS:
        lines += [f"mc_seed: {MC_SEEDS[seeded]}", f"mc_draws: {MC_DRAWS}"]
    lines.append("effects:")
    for e in effects:
        # Round first so that a tiny negative value is written 0.0000, not -0.0000.
        value, se = round(e["value"], 4) + 0.0, round(e["mc_se"], 5) + 0.0
        lines.append(
            f"  - {{outcome: {e['outcome']}, estimand: {e['estimand']}, "
            f"contrast: {e['contrast']}, timepoint: {e['timepoint']}, "
            f"value: {value:.4f}, mc_se: {se:.5f}}}"
        )
    path.write_text("\n".join(lines) + "\n", newline="\n")


def write_readme(path: Path, trial: str, title: str, body: str) -> None:
    """A short README: SYNTHETIC, what is in the folder, how it was made, how to regenerate."""
    mc = ""
    if trial in MC_SEEDS:
        mc = f"\n(Monte Carlo truth: seed {MC_SEEDS[trial]}, {MC_DRAWS:,} simulated people)"
    text = (
        f"# {trial}: SYNTHETIC data\n\n"
        f"{title}.\n\n"
        f"Every file in this folder is simulated: these are not study data and describe no\n"
        f"real person.\n\n"
        f"{body.strip()}\n\n"
        f"Made by `workflow/trialeval/simulate.py`, seed {SEEDS[trial]}{mc}. Regenerate byte\n"
        f"for byte from the repository root:\n\n"
        f"    {REGENERATE.format(trial=trial)}\n"
    )
    path.write_text(text, newline="\n")


def _check_covariates(cfg: dict, made: list[str]) -> None:
    wanted = [c["name"] for c in cfg.get("covariates", [])]
    missing = [c for c in wanted if c not in made]
    if missing:
        raise ValueError(f"the simulator cannot generate covariate(s) {missing}")


# --------------------------------------------------------------------------------------------
# Shared construct parameters: (mean item level, between-person SD, item noise SD)
# --------------------------------------------------------------------------------------------

# Chosen so that score means/SDs look like published values for medical learners and
# Cronbach's alpha of every subscale lands around 0.75-0.9.
SCALE_PARAMS = {
    "mbi.ee": (2.7, 1.1, 1.2),
    "mbi.dp": (1.5, 0.95, 1.15),
    "mbi.pa": (4.3, 0.7, 1.0),
    "cips.total": (3.0, 0.6, 0.9),
    "miss_hp.total": (2.6, 1.3, 2.0),
    "scs_sf.total": (2.9, 0.55, 0.85),
    "flourishing.total": (5.5, 0.8, 0.9),
}

# Latent correlations (keyed direction: higher = more of the construct).
LATENT_CORR = {
    ("mbi.ee", "mbi.dp"): 0.55,
    ("mbi.ee", "mbi.pa"): -0.30,
    ("mbi.dp", "mbi.pa"): -0.35,
    ("mbi.ee", "cips.total"): 0.40,
    ("mbi.ee", "miss_hp.total"): 0.40,
    ("mbi.ee", "scs_sf.total"): -0.45,
    ("mbi.ee", "flourishing.total"): -0.40,
    ("mbi.dp", "cips.total"): 0.20,
    ("mbi.dp", "miss_hp.total"): 0.40,
    ("mbi.dp", "scs_sf.total"): -0.25,
    ("mbi.dp", "flourishing.total"): -0.30,
    ("mbi.pa", "cips.total"): -0.35,
    ("mbi.pa", "miss_hp.total"): -0.20,
    ("mbi.pa", "scs_sf.total"): 0.30,
    ("mbi.pa", "flourishing.total"): 0.50,
    ("cips.total", "miss_hp.total"): 0.30,
    ("cips.total", "scs_sf.total"): -0.50,
    ("cips.total", "flourishing.total"): -0.40,
    ("miss_hp.total", "scs_sf.total"): -0.30,
    ("miss_hp.total", "flourishing.total"): -0.35,
    ("scs_sf.total", "flourishing.total"): 0.50,
}

# Latent between-wave correlation; item noise brings observed score correlations to ~0.6.
ICC = 0.75


def expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def _ee_z(answers: pd.DataFrame, scale: Scale) -> np.ndarray:
    """Standardised observed (prorated) EE score; 0 when the whole block was skipped."""
    ee = answers[list(scale.columns)].astype("float64").mean(axis=1).to_numpy() * scale.k
    z = (ee - np.nanmean(ee)) / np.nanstd(ee)
    return np.nan_to_num(z, nan=0.0)


def _answers(design: Design, lev: np.ndarray, rng: np.random.Generator, columns: list[str]):
    """Complete answers for every wave: list of (n, items) DataFrames in registry order."""
    n_waves, n, _ = lev.shape
    waves = [{} for _ in range(n_waves)]
    for c, s in enumerate(design.scales):
        noise = rng.standard_normal((n_waves, n, s.k))
        answered = as_answered(keyed_items(lev[..., c], noise, design, c), s)
        for w in range(n_waves):
            waves[w].update(dict(zip(s.columns, answered[w].T, strict=True)))
    return [pd.DataFrame({col: wave[col] for col in columns}).astype(int) for wave in waves]


def _item_columns(cfg: dict, registry: dict) -> list[str]:
    return [c for name in trial_instruments(cfg) for c in instrument_columns(registry, name)]


# --------------------------------------------------------------------------------------------
# Trial 1: coaching_rct (two-arm, seven-site RCT, two waves)
# --------------------------------------------------------------------------------------------

COACHING = {
    "n": 390,
    # Intervention : control allocation (exact at n = 390, proportional for other n).
    "allocation": (197, 193),
    # Unequal site sizes, in the order of `sites:` in the trial yaml (sum 390).
    "site_sizes": (90, 72, 61, 52, 45, 38, 32),
    "withdrawn_per_arm": 2,
    "gender": (["woman", "man", "nonbinary"], [0.55, 0.43, 0.02]),
    "year": (["MS1", "MS2", "MS3", "MS4"], [0.28, 0.27, 0.24, 0.21]),
    # age = 22 + rint(lognormal): right-skewed, median ~25.
    "age_log": (1.0, 0.6),
    # Sessions 0..6 among coached students (~20% below 3).
    "sessions_p": (0.05, 0.07, 0.10, 0.14, 0.19, 0.22, 0.23),
    # Disposition reasons (the trial file's flow.reason_column): of those not assessed at the
    # last wave, and of consent withdrawals; "" is a reason not recorded.
    "lost_reasons": (
        [
            "No response to survey reminders",
            "Leave of absence",
            "Clinical rotation schedule",
            "Transferred to another school",
            "",
        ],
        [0.55, 0.12, 0.12, 0.06, 0.15],
    ),
    "withdrawal_reasons": (["No longer wished to take part", ""], [0.5, 0.5]),
    "scales": SCALE_PARAMS,
    "corr": LATENT_CORR,
    "icc": ICC,
    # Shifts at the last wave in scored units (sum or mean of latent item levels): a secular
    # trend in both arms, and the effect of coaching. Rounding and the ceiling of the items
    # attenuate them, so the effects are set a little larger than the intended scored effects
    # (self-compassion +0.30, flourishing +3.0); truth.yaml has the exact scored values.
    "trend": {"mbi.ee": 1.5, "mbi.dp": 0.5},
    "effect": {"scs_sf.total": 0.315, "flourishing.total": 3.45},
    # Level shifts in construct SDs: {column: {value: {construct: shift}}} for categories,
    # ("slope", centre, {construct: shift per unit}) for numbers; sites get random shifts.
    "covariates": {
        "gender": {
            "woman": {"mbi.ee": 0.20, "cips.total": 0.25, "scs_sf.total": -0.15},
            "nonbinary": {"mbi.ee": 0.30, "miss_hp.total": 0.30, "flourishing.total": -0.30},
        },
        "year": {
            "MS1": {"cips.total": 0.15},
            "MS3": {"mbi.ee": 0.20, "mbi.dp": 0.25, "miss_hp.total": 0.20},
            "MS4": {"mbi.ee": 0.10, "mbi.dp": 0.30, "miss_hp.total": 0.25},
        },
        "age": ("slope", 25.0, {"mbi.pa": 0.03}),
    },
    "site_sd": 0.15,
    # Who answers: ~97% at baseline; later waves lose ~21% of baseline responders, more
    # often with high observed baseline EE (MAR); some baseline non-responders come back.
    "p_baseline": 0.97,
    "attrition": 0.21,
    "attrition_ee_logor": 0.5,  # per SD of observed baseline EE
    "p_late": 0.3,
    "messy_share": 0.0,
    "start": "2023-09-04",
    "window_days": 21,
    "wave_gap_days": 126,  # ~4 months
    "gap_jitter_days": 7,
}


def site_table(p: dict, sites: list[str], keys: list[str], param_rng) -> dict:
    """Covariate shift table plus random site shifts (fixed parameters of the trial)."""
    shifts = param_rng.normal(0.0, p["site_sd"], (len(sites), len(keys)))
    table = dict(p["covariates"])
    table["site"] = {
        site: dict(zip(keys, row, strict=True)) for site, row in zip(sites, shifts, strict=True)
    }
    return table


def _coaching_people(u: dict, p: dict, sites: list[str]) -> dict[str, np.ndarray]:
    """Covariates from common random numbers (the sample overrides site by design)."""
    mu, sigma = p["age_log"]
    return {
        "age": np.clip(22 + np.rint(np.exp(mu + sigma * u["z_age"])), 22, 38).astype(int),
        "gender": categorical(u["gender"], *p["gender"]),
        "year": categorical(u["year"], *p["year"]),
        "site": categorical(u["site"], sites, list(p["site_sizes"])),
    }


def _largest_remainder(total: int, weights) -> np.ndarray:
    """Integer split of `total` proportional to `weights`."""
    w = np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    out = np.floor(raw).astype(int)
    out[np.argsort(-(raw - out), kind="stable")[: total - out.sum()]] += 1
    return out


def _shuffled_ids(prefix: str, n: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Ids numbered in random order, so that they reveal neither site nor arm."""
    pid = np.empty(n, dtype=object)
    pid[rng.permutation(n)] = [f"{prefix}{i + 1:0{width}d}" for i in range(n)]
    return pid


def _baseline_wave(full, pid, withdrawn, day0, cfg, registry, ee_scale, p, rng):
    """The baseline export of a coaching trial (demo or scale): who answers (withdrawn
    participants did, before withdrawing), skipped answers, each responder's standardized
    exhaustion (drives later attrition). Returns (skip blocks, responded, ee_z, files, counts)."""
    tps, id_column = cfg["timepoints"], cfg["data"]["id_column"]
    blocks = [(instrument_columns(registry, i), P_SKIP_ITEM) for i in trial_instruments(cfg)]
    n = len(pid)
    responded = (rng.random(n) < p["p_baseline"]) | withdrawn
    answers = skip_answers(full[0][responded], blocks, rng)
    ee_z = np.zeros(n)
    ee_z[responded] = _ee_z(answers, ee_scale)
    stamps = timestamps(p["start"], day0[responded], rng)
    files = {tps[0]["file"]: export_frame(pid[responded], id_column, stamps, answers)}
    counts = {tps[0]["id"]: int(responded.sum())}
    return blocks, responded, ee_z, files, counts


def wave_exports(
    full: list[pd.DataFrame],
    pid: np.ndarray,
    withdrawn: np.ndarray,
    day0: np.ndarray,
    cfg: dict,
    registry: dict,
    ee_scale: Scale,
    p: dict,
    rng: np.random.Generator,
) -> tuple[dict, dict]:
    """Who answers which wave, with skipped answers, metadata and (later waves) messy ids.

    Withdrawn participants answered the baseline (it is in the export) but no later wave.
    Returns {file name: export} and response counts.
    """
    tps, id_column = cfg["timepoints"], cfg["data"]["id_column"]
    blocks, responded, ee_z, files, counts = _baseline_wave(
        full, pid, withdrawn, day0, cfg, registry, ee_scale, p, rng
    )
    n = len(pid)
    logit0 = np.log(p["attrition"] / (1 - p["attrition"]))
    for w in range(1, len(tps)):
        p_answer = np.where(
            responded, 1 - expit(logit0 + p["attrition_ee_logor"] * ee_z), p["p_late"]
        )
        answered = (rng.random(n) < p_answer) & ~withdrawn
        m = int(answered.sum())
        days = day0[answered] + w * p["wave_gap_days"] + rng.integers(0, p["gap_jitter_days"], m)
        files[tps[w]["file"]] = export_frame(
            messy_ids(pid[answered], p["messy_share"], rng),
            id_column,
            timestamps(p["start"], days, rng),
            skip_answers(full[w][answered], blocks, rng),
        )
        counts[tps[w]["id"]] = m
        counts[f"{tps[w]['id']}_of_baseline"] = int((answered & responded).sum())
    return files, counts


def messy_ids(ids: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Hand-typed ids: a `share` of them lower-cased, padded with spaces, or both."""
    out = ids.astype(object).copy()
    for i in np.flatnonzero(rng.random(len(ids)) < share):
        kind = rng.integers(3)  # 0 lower case, 1 spaces, 2 both
        text = out[i].lower() if kind != 1 else out[i]
        if kind != 0:
            text = " " * rng.integers(0, 3) + text + " " * rng.integers(1, 3)
        out[i] = text
    return out


def longitudinal_truth(
    cfg: dict, registry: dict, scores: dict, continuous: tuple[str, ...], categories: bool
) -> list[dict]:
    """True effects at the last wave from Monte Carlo scores, in the order of `outcomes:`.

    continuous: estimands for subscale outcomes (diff_in_change, diff_in_means);
    categories: add risk_ratio for category outcomes.
    """
    treated, control = arm_ids(cfg)
    last = cfg["timepoints"][-1]["id"]
    effects = []
    for oid, (scale, cat) in outcome_scales(cfg, registry).items():
        y1, y0 = scores[treated][scale.key], scores[control][scale.key]
        values = {}
        if cat is None:
            if "diff_in_change" in continuous:
                values["diff_in_change"] = mean_se((y1[-1] - y1[0]) - (y0[-1] - y0[0]))
            if "diff_in_means" in continuous:
                values["diff_in_means"] = mean_se(y1[-1] - y0[-1])
        elif categories:
            values["risk_ratio"] = risk_ratio(
                category_flag(y1[-1], cat), category_flag(y0[-1], cat)
            )
        for estimand, (value, se) in values.items():
            effects.append(
                {
                    "outcome": oid,
                    "estimand": estimand,
                    "contrast": f"{treated} - {control}",
                    "timepoint": last,
                    "value": value,
                    "mc_se": se,
                }
            )
    return effects


def _coaching_roster(cfg, pid, arm, site, people, arms, n_withdrawn, p, rng):
    """The participants file of a coaching trial (demo or scale): consent withdrawals per arm,
    sessions attended in the treated arm, covariates; returns (frame, withdrawn mask)."""
    treated_arm, control_arm = arms
    data = cfg["data"]
    n = len(pid)
    withdrawn = np.zeros(n, dtype=bool)
    for a in (treated_arm, control_arm):
        withdrawn[rng.choice(np.flatnonzero(arm == a), n_withdrawn, replace=False)] = True
    sessions = pd.array(rng.choice(7, n, p=p["sessions_p"]), dtype="Int64")
    sessions[arm != treated_arm] = pd.NA
    per_protocol = (cfg.get("analysis_sets") or {}).get("per_protocol", {})
    participants = pd.DataFrame(
        {
            data["id_column"]: pid,
            data["arm_column"]: arm,
            data["site_column"]: site,
            "age": people["age"],
            "gender": people["gender"],
            "year": people["year"],
            data["withdrawal_column"]: np.where(withdrawn, "yes", "no"),
            per_protocol.get("column", "sessions_attended"): sessions,
        }
    )
    return participants, withdrawn


def disposition_reasons(
    withdrawn: np.ndarray, answered_last: np.ndarray, p: dict, rng: np.random.Generator
) -> np.ndarray:
    """Why each participant withdrew consent or was not assessed at the last wave (""
    where no reason was recorded, and for everyone else)."""
    reasons = np.full(len(withdrawn), "", dtype=object)
    lost = ~withdrawn & ~answered_last
    for mask, (labels, probs) in ((withdrawn, p["withdrawal_reasons"]), (lost, p["lost_reasons"])):
        reasons[mask] = rng.choice(np.array(labels, dtype=object), int(mask.sum()), p=probs)
    return reasons


def site_ids(cfg: dict) -> list[str]:
    """The trial file's site ids (`sites` entries are ids or {id, label} objects)."""
    return [s if isinstance(s, str) else s["id"] for s in cfg["sites"]]


def simulate_coaching(cfg: dict, registry: dict, p: dict = COACHING) -> dict:
    """Participants, one export per timepoint, and the true effects of coaching_rct."""
    trial = "coaching_rct"
    data = cfg["data"]
    treated_arm, control_arm = arm_ids(cfg)
    sites = site_ids(cfg)
    n_waves, n = len(cfg["timepoints"]), p["n"]
    _check_covariates(cfg, ["age", "gender", "year"])

    seeds = np.random.SeedSequence(SEEDS[trial]).spawn(2)
    param_rng, rng = (np.random.default_rng(s) for s in seeds)
    scales = trial_scales(cfg, registry)
    design = build_design(scales, p, n_waves, param_rng)
    table = site_table(p, sites, design.keys, param_rng)

    def shift_of(people: dict) -> np.ndarray:
        return covariate_shift(people, design.keys, table)

    # Sites of the given sizes (scaled to n), randomized within site, exact arm totals.
    sizes = _largest_remainder(n, p["site_sizes"])
    n_treat_site = _largest_remainder(_largest_remainder(n, p["allocation"])[0], sizes)
    site = np.repeat(sites, sizes)
    arm = np.concatenate(
        [
            rng.permutation([treated_arm] * t + [control_arm] * (m - t))
            for m, t in zip(sizes, n_treat_site, strict=True)
        ]
    )
    u_names = ["gender", "year", "z_age", "site"]
    people = _coaching_people(draw_uniforms(u_names, n, rng), p, sites)
    people["site"] = site
    pid = _shuffled_ids("CR-", n, 4, rng)
    n_withdrawn = p["withdrawn_per_arm"]
    participants, withdrawn = _coaching_roster(
        cfg, pid, arm, site, people, (treated_arm, control_arm), n_withdrawn, p, rng
    )

    z = draw_latent(design, n, n_waves, rng)
    lev = levels(design, z, shift_of(people), (arm == treated_arm).astype(float))
    full = _answers(design, lev, rng, _item_columns(cfg, registry))
    day0 = rng.integers(0, p["window_days"], n)
    ee = next(s for s in scales if s.key == "mbi.ee")
    files, counts = wave_exports(full, pid, withdrawn, day0, cfg, registry, ee, p, rng)
    reason_column = (cfg.get("flow") or {}).get("reason_column")
    if reason_column:  # drawn last: the other files do not depend on it
        last = files[cfg["timepoints"][-1]["file"]][data["id_column"]]
        answered = np.isin(pid, last.str.strip().str.upper().to_numpy())
        participants[reason_column] = disposition_reasons(withdrawn, answered, p, rng)
        counts["reasons"] = int((participants[reason_column] != "").sum())

    # Truth: every simulated person in both arms; randomization makes the arms' populations
    # identical, so diff_in_means and diff_in_change target the same value.
    def people_of(u, _arm):
        return _coaching_people(u, p, sites)

    arms = [treated_arm, control_arm]
    scores = mc_scores(
        design, arms, people_of, shift_of, treated_arm, MC_DRAWS, n_waves, MC_SEEDS[trial], u_names
    )
    effects = longitudinal_truth(
        cfg, registry, scores, ("diff_in_change", "diff_in_means"), categories=False
    )
    return {
        "participants": (data["participants"], _by_id(participants, data["id_column"])),
        "files": files,
        "effects": effects,
        "counts": counts,
    }


def _by_id(frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    return frame.sort_values(id_column, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Trial 2: mentorship_prepost (quasi-experimental, two institutions, pre/post)
# --------------------------------------------------------------------------------------------

MENTORSHIP = {
    # Group sizes per institution, in the order of `sites:` in the trial yaml.
    "sizes": {"treated": (28, 23), "control": (40, 44)},
    # Non-randomized groups differ a bit in who they are (this shifts levels, not change).
    "gender": {
        "treated": (["woman", "man", "nonbinary"], [0.60, 0.38, 0.02]),
        "control": (["woman", "man", "nonbinary"], [0.48, 0.50, 0.02]),
    },
    "age_log": {"treated": (0.95, 0.45), "control": (1.15, 0.45)},  # age = 23 + rint(lognormal)
    "scales": SCALE_PARAMS,
    "corr": LATENT_CORR,
    "icc": ICC,
    # As in COACHING: latent shifts; +2.25 gives a scored PA effect of about +2.0.
    "trend": {"mbi.ee": 2.0, "mbi.dp": 0.5, "mbi.pa": 1.0},
    "effect": {"mbi.pa": 2.25},
    "covariates": {
        "gender": {"woman": {"mbi.ee": 0.20, "mbi.dp": -0.10}},
        "age": ("slope", 26.0, {"mbi.pa": 0.04}),
    },
    "site_sd": 0.15,
    "p_baseline": 0.98,
    "attrition": 0.15,
    "attrition_ee_logor": 0.3,
    "p_late": 0.5,
    "messy_share": 0.35,  # post rows whose id is lower-cased and/or padded with spaces
    "start": "2024-07-01",
    "n_blocks": 4,  # students start in one of four 4-week rotation blocks
    "wave_gap_days": 26,  # the post survey closes the rotation
    "gap_jitter_days": 4,
}


def _mentorship_people(u: dict, group: str, p: dict, sites: list[str]) -> dict:
    """Covariates of one group's population from common random numbers."""
    mu, sigma = p["age_log"][group]
    return {
        "age": np.clip(23 + np.rint(np.exp(mu + sigma * u["z_age"])), 23, 40).astype(int),
        "gender": categorical(u["gender"], *p["gender"][group]),
        "site": categorical(u["site"], sites, list(p["sizes"][group])),
    }


def simulate_mentorship(cfg: dict, registry: dict, p: dict = MENTORSHIP) -> dict:
    """Participants, pre/post MBI exports (messy post ids) and true effects."""
    trial = "mentorship_prepost"
    data = cfg["data"]
    treated_arm, control_arm = arm_ids(cfg)
    group_of = {treated_arm: "treated", control_arm: "control"}
    sites = site_ids(cfg)
    n_waves = len(cfg["timepoints"])
    _check_covariates(cfg, ["age", "gender"])

    seeds = np.random.SeedSequence(SEEDS[trial]).spawn(2)
    param_rng, rng = (np.random.default_rng(s) for s in seeds)
    scales = trial_scales(cfg, registry)
    design = build_design(scales, p, n_waves, param_rng)
    table = site_table(p, sites, design.keys, param_rng)

    def shift_of(people: dict) -> np.ndarray:
        return covariate_shift(people, design.keys, table)

    u_names = ["gender", "z_age", "site"]
    parts = []
    for a in (treated_arm, control_arm):
        sizes = p["sizes"][group_of[a]]
        m = int(sum(sizes))
        part = _mentorship_people(draw_uniforms(u_names, m, rng), group_of[a], p, sites)
        part["site"] = np.repeat(sites, sizes)
        part["arm"] = np.full(m, a)
        parts.append(part)
    people = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    arm = people["arm"]
    n = len(arm)
    pid = _shuffled_ids("EM-", n, 3, rng)
    participants = pd.DataFrame(
        {
            data["id_column"]: pid,
            data["arm_column"]: arm,
            data["site_column"]: people["site"],
            "age": people["age"],
            "gender": people["gender"],
        }
    )

    z = draw_latent(design, n, n_waves, rng)
    lev = levels(design, z, shift_of(people), (arm == treated_arm).astype(float))
    full = _answers(design, lev, rng, _item_columns(cfg, registry))
    day0 = rng.integers(0, p["n_blocks"], n) * 28 + rng.integers(0, 3, n)
    ee = next(s for s in scales if s.key == "mbi.ee")
    no_withdrawals = np.zeros(n, dtype=bool)
    files, counts = wave_exports(full, pid, no_withdrawals, day0, cfg, registry, ee, p, rng)
    # the programme-evaluation surveys, free text and coded sheet (their own seed)
    files.update(simulate_evaluation.evaluation_files(participants, cfg))

    # Truth in each group's own population (its covariate mix), with coupled draws.
    def people_of(u, a):
        return _mentorship_people(u, group_of[a], p, sites)

    arms = [treated_arm, control_arm]
    scores = mc_scores(
        design, arms, people_of, shift_of, treated_arm, MC_DRAWS, n_waves, MC_SEEDS[trial], u_names
    )
    return {
        "participants": (data["participants"], _by_id(participants, data["id_column"])),
        "files": files,
        "effects": longitudinal_truth(cfg, registry, scores, ("diff_in_change",), True),
        "counts": counts,
    }


# --------------------------------------------------------------------------------------------
# Trial 3: belonging_survey (cross-sectional; burnout from a known logistic model)
# --------------------------------------------------------------------------------------------

BELONGING = {
    "n": 2257,
    "n_responded": 1261,
    "level": (["student", "resident", "fellow"], [0.52, 0.34, 0.14]),
    "gender": (["woman", "man", "nonbinary"], [0.52, 0.46, 0.02]),
    # Relative response propensity by level (sampling without replacement, exact total).
    "response_weight": {"student": 0.62, "resident": 0.50, "fellow": 0.45},
    # Latent belonging per context (school, organization, community), cut into 4 levels.
    "belong_corr": ((1.0, 0.60, 0.50), (0.60, 1.0, 0.55), (0.50, 0.55, 1.0)),
    "belong_cuts": (-1.2, -0.3, 0.85),
    "belong_level_shift": {"resident": (0.0, -0.20, 0.10), "fellow": (0.10, -0.10, 0.15)},
    # logit P(burnout) = b0 + b_org[organization level] + b_level + b_gender.
    "b0": 0.35,
    "b_org": (0.0, -0.4, -0.8, -1.2),
    "b_level": {"student": 0.0, "resident": 0.25, "fellow": -0.10},
    "b_gender": {"woman": 0.0, "man": -0.15, "nonbinary": 0.40},
    # Items 8 and 10 given burnout status: means of a correlated normal pair before rounding.
    "items_burnout": (3.6, 2.8),
    "items_no_burnout": (1.6, 0.9),
    "items_sd": (1.3, 1.4),
    "items_corr": 0.5,
    "survey_start": "2024-02-05",
    "window_days": 35,
}


def _pair_given_status(
    burnout: np.ndarray, cut: int, lo: int, hi: int, p: dict, rng: np.random.Generator
) -> np.ndarray:
    """Draw (item 8, item 10) so that burnout <=> at least one item >= cut (rejection)."""
    n = len(burnout)
    out = np.zeros((n, 2))
    todo = np.ones(n, dtype=bool)
    sd = np.array(p["items_sd"])
    chol = np.linalg.cholesky([[1.0, p["items_corr"]], [p["items_corr"], 1.0]])
    while todo.any():
        idx = np.flatnonzero(todo)
        mean = np.where(
            burnout[idx, None], np.array(p["items_burnout"]), np.array(p["items_no_burnout"])
        )
        pair = np.clip(np.rint(mean + sd * (rng.standard_normal((len(idx), 2)) @ chol.T)), lo, hi)
        ok = (pair.max(axis=1) >= cut) == burnout[idx]
        out[idx[ok]] = pair[ok]
        todo[idx[ok]] = False
    return out.astype(int)


def simulate_belonging(cfg: dict, registry: dict, p: dict = BELONGING) -> dict:
    """Sampling frame, responses and the exact odds ratios of the burnout model."""
    trial = "belonging_survey"
    data = cfg["data"]
    tp = cfg["timepoints"][0]
    outcome = next(o["id"] for o in cfg["outcomes"] if o.get("category") == "burnout")
    _check_covariates(cfg, ["level", "gender"])
    rng = np.random.default_rng(SEEDS[trial])
    n = p["n"]

    level = categorical(rng.random(n), *p["level"])
    gender = categorical(rng.random(n), *p["gender"])
    lid = np.array([f"BS-{i + 1:04d}" for i in range(n)], dtype=object)
    surveyed = pd.DataFrame({data["id_column"]: lid, "level": level, "gender": gender})

    # Exactly n_responded respondents; the chance of answering depends on level.
    w = np.array([p["response_weight"][x] for x in level])
    resp = np.sort(rng.choice(n, p["n_responded"], replace=False, p=w / w.sum()))
    m = len(resp)
    lev_r, gen_r = level[resp], gender[resp]

    # Belonging (1..4) per context from correlated latents, cut at fixed thresholds.
    belong = registry["belonging"]
    contexts = list(item_ids(belong))
    latent = rng.standard_normal((m, 3)) @ np.linalg.cholesky(np.array(p["belong_corr"])).T
    for lvl, shift in p["belong_level_shift"].items():
        latent[lev_r == lvl] += np.array(shift)
    b_lo = belong["item_range"][0]
    answers = {
        f"{belong['item_prefix']}{ctx}": b_lo + np.searchsorted(p["belong_cuts"], latent[:, j])
        for j, ctx in enumerate(contexts)
    }
    org = answers[f"{belong['item_prefix']}organization"]

    # Burnout FIRST, from the logistic model; then items 8/10 consistent with it.
    eta = (
        p["b0"]
        + np.array(p["b_org"])[org - b_lo]
        + np.array([p["b_level"][x] for x in lev_r])
        + np.array([p["b_gender"][x] for x in gen_r])
    )
    burnout = rng.random(m) < expit(eta)
    two = registry["mbi_2item"]
    cat = two["categories"]["burnout"]
    lo, hi = two["item_range"]
    pair = _pair_given_status(burnout, cat["at_least"], lo, hi, p, rng)
    two_cols = [f"{two['item_prefix']}{i}" for i in cat["any_item"]]
    answers[two_cols[0]], answers[two_cols[1]] = pair[:, 0], pair[:, 1]

    rec = registry["recommend"]["prescored"]
    r_lo, r_hi = rec["range"]
    school = answers[f"{belong['item_prefix']}school"]
    answers[rec["column"]] = np.clip(
        np.rint(
            7.0
            + 0.7 * (org - 2.5)
            + 0.4 * (school - 2.5)
            - 0.8 * burnout
            + 1.7 * rng.standard_normal(m)
        ),
        r_lo,
        r_hi,
    ).astype(int)

    columns = _item_columns(cfg, registry)
    frame = pd.DataFrame({c: answers[c] for c in columns})
    # Items 8 and 10 are skipped only together: a lone skipped item would make the derived
    # burnout category missing depending on the other answer (not at random).
    blocks = [
        (instrument_columns(registry, name), 0.0 if name == "mbi_2item" else P_SKIP_ITEM)
        for name in trial_instruments(cfg)
    ]
    frame = skip_answers(frame, blocks, rng)
    days = rng.integers(0, p["window_days"], m)
    files = {
        tp["file"]: export_frame(
            lid[resp], data["id_column"], timestamps(p["survey_start"], days, rng), frame
        )
    }

    labels = belong["levels"]
    effects = [
        dict(
            outcome=outcome,
            estimand="odds_ratio",
            contrast=f"{labels[k]} - {labels[b_lo]}",
            timepoint=tp["id"],
            value=float(np.exp(p["b_org"][k - b_lo])),
            mc_se=0.0,
        )
        for k in sorted(labels)
        if k != b_lo
    ]
    return {
        "participants": (data["participants"], surveyed),
        "files": files,
        "effects": effects,
        "counts": {"surveyed": n, "responded": m, "burnout": int(burnout.sum())},
    }


# --------------------------------------------------------------------------------------------
# Writing a trial folder, and the CLI
# --------------------------------------------------------------------------------------------

SIMULATORS = {
    "coaching_rct": simulate_coaching,
    "mentorship_prepost": simulate_mentorship,
    "belonging_survey": simulate_belonging,
}

TRUTH_HEADER = """
SYNTHETIC DATA - true effects of the simulated trial in this folder (not study results).
Written by `python -m trialeval.simulate`; do not edit by hand.
{how}
contrast names the two groups compared (first vs second); estimand says difference or ratio.
"""

SCORED = (
    "value: the effect on the SCORED outcome (instrument scoring of complete items, after\n"
    "reverse keys; rounding and clipping of item answers make it differ from the latent shift),\n"
    "computed by Monte Carlo from the same data-generating process (mc_draws people, mc_seed;\n"
    "common random numbers across arms); mc_se is its Monte Carlo standard error.\n"
)

TRUTH_HOW = {
    "coaching_rct": SCORED
    + (
        "Every simulated person is scored under both arms; randomization makes the arms'\n"
        "populations identical, so diff_in_change = diff_in_means (mc_se 0 where the arms'\n"
        "scores coincide exactly: no effect). The population includes those lost to follow-up."
    ),
    "mentorship_prepost": SCORED
    + (
        "Each group in its own population (its age/gender/institution mix): diff_in_change is\n"
        "E[post - pre | mentored] - E[post - pre | control] (also the target of the\n"
        "Hodges-Lehmann shift and of the baseline-adjusted mean difference: covariates shift\n"
        "levels, not change);\n"
        "risk_ratio is the ratio of the expected proportions in the category at post."
    ),
    "belonging_survey": (
        "Exact: the derived burnout category is generated from a logistic model with these\n"
        "organization-belonging coefficients (adjusted for level and gender); value is\n"
        "exp(coefficient) vs Very weak, so mc_se is 0."
    ),
}


def _readme_body(trial: str, result: dict, cfg: dict) -> str:
    """What is in the folder, with the realised counts."""
    c = result["counts"]
    part_file, part = result["participants"]
    lines = []
    if trial in ("coaching_rct", "mentorship_prepost"):
        data, tps = cfg["data"], cfg["timepoints"]
        first, last = tps[0], tps[-1]
        treated, control = arm_ids(cfg)
        arms = part[data["arm_column"]].value_counts()
        lost = 1 - c[f"{last['id']}_of_baseline"] / c[first["id"]]
        lines.append(
            f"- `{part_file}`: {len(part)} participants, {arms[treated]} {treated} / "
            f"{arms[control]} {control}, {part[data['site_column']].nunique()} sites."
        )
        lines.append(
            f"- `{first['file']}`: {c[first['id']]} responses; `{last['file']}`: "
            f"{c[last['id']]} responses ({lost:.0%} of {first['id']} responders lost)."
        )
    if trial == "coaching_rct":
        lines += [
            "- Randomized within site; 2 per arm withdrew consent: their baseline answers are",
            "  still in the export (the pipeline must drop them). Month-4 loss is more likely",
            "  with high observed baseline exhaustion (missing at random).",
            *_reason_lines(cfg, c),
            "- Item-level MBI, CIPS, MISS-HP, SCS-SF and Flourishing answers, ~1.5% skipped",
            "  items, a few skipped instrument blocks, survey-tool metadata columns.",
            "- True effects: self-compassion +0.30 and flourishing +3.0 with coaching; none on",
            "  burnout, impostor or moral-injury scores (exhaustion rises in both arms).",
        ]
    elif trial == "mentorship_prepost":
        lines += [
            "- Not randomized: the groups differ a little in age and gender; covariates shift",
            "  levels, not change.",
            f"- Ids in `{cfg['timepoints'][-1]['file']}` were typed by hand: many are",
            "  lower case and/or padded with spaces (normalise: strip, upper-case).",
            "- Item-level MBI answers, ~1.5% skipped items, a few skipped blocks.",
            "- True effects: personal accomplishment rises ~2 points more with a mentor; no",
            "  effect on exhaustion or depersonalization.",
            *simulate_evaluation.README_LINES,
        ]
    else:
        responses = cfg["timepoints"][0]["file"]
        lines += [
            f"- `{part_file}`: the sampling frame, {c['surveyed']} learners (level, gender).",
            f"- `{responses}`: {c['responded']} respondents (response depends on level):",
            "  belonging to school, organization and community (1-4), MBI items 8 and 10,",
            "  likelihood to recommend (0-10); ~1.5% skipped answers.",
            "- Burnout (item 8 or 10 >= 4) is drawn FIRST from a logistic model,",
            "  logit P = b0 + b_org[organization belonging] + level + gender, with b_org =",
            "  0, -0.4, -0.8, -1.2; items 8 and 10 are then drawn consistent with it, so the",
            "  model is exactly the data-generating model of the derived category.",
        ]
    how = {
        "coaching_rct": HOW_ITEMS,
        "mentorship_prepost": HOW_ITEMS,
        "belonging_survey": "",
    }[trial]
    return "\n".join(lines) + "\n- `truth.yaml`: the true effects (see its header).\n" + how


def _reason_lines(cfg: dict, counts: dict) -> list[str]:
    """The README's line on the disposition reasons (flow.reason_column), when simulated."""
    column = (cfg.get("flow") or {}).get("reason_column")
    if not column or "reasons" not in counts:
        return []
    return [
        f"- `{column}`: why a participant withdrew consent or was not assessed at the last",
        f"  wave ({counts['reasons']} reasons given; empty: none recorded).",
    ]


HOW_ITEMS = """
How: every subscale has a latent person level (correlated across subscales, a person part
shared between waves); integer item answers are drawn around it with item noise and clipped
to the item range (reverse-keyed items flipped). The true effects in truth.yaml are effects
on the scored outcomes, computed by Monte Carlo from the same process.
"""


def simulate_trial(trial: str, config_dir: Path) -> tuple[dict, dict]:
    cfg, registry = load_config(config_dir, trial)
    return SIMULATORS[trial](cfg, registry), cfg


def write_trial(trial: str, result: dict, cfg: dict, out_dir: Path) -> list[Path]:
    """Write participants, exports, truth.yaml and README.md into out_dir/<trial>/."""
    folder = out_dir / trial
    folder.mkdir(parents=True, exist_ok=True)
    name, participants = result["participants"]
    written = [folder / name]
    write_table(participants, folder / name)
    for fname, frame in result["files"].items():
        write_table(frame, folder / fname)
        written.append(folder / fname)
    header = TRUTH_HEADER.format(how=TRUTH_HOW[trial])
    write_truth(folder / "truth.yaml", trial, header, result["effects"])
    write_readme(folder / "README.md", trial, cfg["title"], _readme_body(trial, result, cfg))
    return written + [folder / "truth.yaml", folder / "README.md"]


def generate(trials, out_dir: Path, config_dir: Path) -> dict[str, dict]:
    """Simulate and write the named trials; return each trial's result."""
    results = {}
    for trial in trials:
        result, cfg = simulate_trial(trial, config_dir)
        write_trial(trial, result, cfg, out_dir)
        results[trial] = result
    return results


# --------------------------------------------------------------------------------------------
# Scale trial: coaching_scale (coaching_rct's design at any size; not part of the demo)
# --------------------------------------------------------------------------------------------

SCALE_TRIAL = "coaching_scale"
SCALE_SEED = 20261126
SCALE_MC_SEED = 91126
SCALE_REGENERATE = "python -m trialeval.simulate --scale {n} --out <dir> --seed {seed}"

# coaching_rct's people, constructs, effects and response process, with 1:1 allocation,
# consent withdrawal in proportion (2 of ~195 per arm), and per-wave timing and attrition.
SCALE = {
    **COACHING,
    "allocation": (1, 1),
    "withdrawn_share": 0.01,
    # Relative site sizes: lognormal weights drawn from the parameter stream (unequal sites).
    "site_size_sd": 0.5,
    # Days after the baseline window at which each later wave opens, and the share of
    # baseline responders lost by each wave (it grows with time since baseline).
    "wave_days": {"month4": 126, "month12": 365},
    "attrition_by_wave": {"month4": 0.21, "month12": 0.32},
}


def _scale_waves(full, pid, withdrawn, day0, cfg, registry, ee_scale, p, rng):
    """Who answers which wave of the scale trial: coaching_rct's process (as in
    `wave_exports`), with per-wave timing and attrition, and no messy ids."""
    tps, id_column = cfg["timepoints"], cfg["data"]["id_column"]
    blocks, responded, ee_z, files, counts = _baseline_wave(
        full, pid, withdrawn, day0, cfg, registry, ee_scale, p, rng
    )
    n = len(pid)
    for w in range(1, len(tps)):
        tp = tps[w]["id"]
        attrition = p["attrition_by_wave"][tp]
        logit0 = np.log(attrition / (1 - attrition))
        p_answer = np.where(
            responded, 1 - expit(logit0 + p["attrition_ee_logor"] * ee_z), p["p_late"]
        )
        answered = (rng.random(n) < p_answer) & ~withdrawn
        m = int(answered.sum())
        days = day0[answered] + p["wave_days"][tp] + rng.integers(0, p["gap_jitter_days"], m)
        files[tps[w]["file"]] = export_frame(
            pid[answered],
            id_column,
            timestamps(p["start"], days, rng),
            skip_answers(full[w][answered], blocks, rng),
        )
        counts[tp] = m
        counts[f"{tp}_of_baseline"] = int((answered & responded).sum())
    return files, counts


def simulate_coaching_scale(
    cfg: dict,
    registry: dict,
    n: int,
    seed: int = SCALE_SEED,
    mc_draws: int = MC_DRAWS,
    p: dict = SCALE,
) -> dict:
    """coaching_rct at n participants, with the sites and timepoints of the trial yaml.

    Same constructs, items, effects and response process as coaching_rct (so every item
    column and range is the same); arms 1:1 within site, unequal site sizes. The truth is a
    Monte Carlo over ``mc_draws`` people (its own stream: fewer draws change only truth.yaml).
    """
    data = cfg["data"]
    treated_arm, control_arm = arm_ids(cfg)
    sites = site_ids(cfg)
    tps = [tp["id"] for tp in cfg["timepoints"]]
    n_waves = len(tps)
    unknown = [tp for tp in tps[1:] if tp not in p["wave_days"]]
    if unknown:
        raise ValueError(f"the scale simulator has no timing for timepoint(s) {unknown}")
    if n < 10 * len(sites):
        raise ValueError(f"--scale {n}: need at least 10 participants per site ({len(sites)})")
    _check_covariates(cfg, ["age", "gender", "year"])

    param_rng, rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    scales = trial_scales(cfg, registry)
    design = build_design(scales, p, n_waves, param_rng)
    table = site_table(p, sites, design.keys, param_rng)
    site_weights = param_rng.lognormal(0.0, p["site_size_sd"], len(sites))

    def shift_of(people: dict) -> np.ndarray:
        return covariate_shift(people, design.keys, table)

    sizes = _largest_remainder(n, site_weights)
    n_treat_site = _largest_remainder(_largest_remainder(n, p["allocation"])[0], sizes)
    site = np.repeat(sites, sizes)
    # Randomized within site: each site's block of arm labels, shuffled.
    arm = np.concatenate(
        [
            rng.permutation(np.repeat([treated_arm, control_arm], [t, m - t]))
            for m, t in zip(sizes, n_treat_site, strict=True)
        ]
    )
    u_names = ["gender", "year", "z_age", "site"]
    people = _coaching_people(draw_uniforms(u_names, n, rng), dict(p, site_sizes=sizes), sites)
    people["site"] = site
    pid = _shuffled_ids("CS-", n, len(str(n)), rng)
    n_withdrawn = max(1, round(p["withdrawn_share"] * n / 2))
    participants, withdrawn = _coaching_roster(
        cfg, pid, arm, site, people, (treated_arm, control_arm), n_withdrawn, p, rng
    )

    z = draw_latent(design, n, n_waves, rng)
    lev = levels(design, z, shift_of(people), (arm == treated_arm).astype(float))
    del z
    full = _answers(design, lev, rng, _item_columns(cfg, registry))
    del lev
    day0 = rng.integers(0, p["window_days"], n)
    ee = next(s for s in scales if s.key == "mbi.ee")
    files, counts = _scale_waves(full, pid, withdrawn, day0, cfg, registry, ee, p, rng)
    del full

    def people_of(u, _arm):
        return _coaching_people(u, dict(p, site_sizes=sizes), sites)

    scores = mc_scores(
        design,
        [treated_arm, control_arm],
        people_of,
        shift_of,
        treated_arm,
        mc_draws,
        n_waves,
        seed + SCALE_MC_SEED,
        u_names,
    )
    effects = longitudinal_truth(
        cfg, registry, scores, ("diff_in_change", "diff_in_means"), categories=False
    )
    counts = {"participants": n, "withdrawn": int(withdrawn.sum()), **counts}
    return {
        "participants": (data["participants"], _by_id(participants, data["id_column"])),
        "files": files,
        "effects": effects,
        "counts": counts,
        "seed": seed,
        "mc_draws": mc_draws,
    }


def write_scale_trial(result: dict, cfg: dict, out_dir: Path) -> list[Path]:
    """Write the scale trial into out_dir/coaching_scale/: CSV only (Excel is too slow)."""
    folder = out_dir / SCALE_TRIAL
    folder.mkdir(parents=True, exist_ok=True)
    name, participants = result["participants"]
    written = []
    for fname, frame in [(name, participants), *result["files"].items()]:
        path = folder / fname
        if path.suffix.lower() != ".csv":
            raise ValueError(f"{fname}: the scale trial writes CSV exports only")
        write_csv(frame, path)
        written.append(path)

    seed, n = result["seed"], result["counts"]["participants"]
    header = [
        "SYNTHETIC DATA - true effects of the simulated scale trial in this folder.",
        f"Written by `{SCALE_REGENERATE.format(n=n, seed=seed)}`.",
        "value: effect on the SCORED outcome at the last wave, by Monte Carlo (mc_draws",
        "people, mc_seed; common random numbers across arms); mc_se: its Monte Carlo SE.",
    ]
    lines = [f"# {line}" for line in header]
    lines += [f"trial: {SCALE_TRIAL}", f"seed: {seed}", f"mc_seed: {seed + SCALE_MC_SEED}"]
    lines += [f"mc_draws: {result['mc_draws']}", "effects:"]
    for e in result["effects"]:
        value, se = round(e["value"], 4) + 0.0, round(e["mc_se"], 5) + 0.0
        lines.append(
            f"  - {{outcome: {e['outcome']}, estimand: {e['estimand']}, "
            f"contrast: {e['contrast']}, timepoint: {e['timepoint']}, "
            f"value: {value:.4f}, mc_se: {se:.5f}}}"
        )
    (folder / "truth.yaml").write_text("\n".join(lines) + "\n", newline="\n")

    c = result["counts"]
    waves = ", ".join(f"`{tp['file']}` {c[tp['id']]:,}" for tp in cfg["timepoints"])
    readme = (
        f"# {SCALE_TRIAL}: SYNTHETIC data\n\n"
        f"{cfg['title']}.\n\n"
        "Every file in this folder is simulated: these are not study data and describe no\n"
        "real person. coaching_rct's data-generating process at scale, for timing the\n"
        "pipeline.\n\n"
        f"- `{name}`: {n:,} participants in {participants[cfg['data']['site_column']].nunique()}"
        f" sites, {c['withdrawn']:,} withdrew consent.\n"
        f"- Responses: {waves}.\n"
        "- `truth.yaml`: the true effects at the last wave.\n\n"
        "Regenerate byte for byte from the repository root:\n\n"
        f"    {SCALE_REGENERATE.format(n=n, seed=seed)}\n"
    )
    (folder / "README.md").write_text(readme, newline="\n")
    return [*written, folder / "truth.yaml", folder / "README.md"]


def generate_scale(
    n: int, out_dir: Path, config_dir: Path, seed: int = SCALE_SEED, mc_draws: int = MC_DRAWS
) -> tuple[dict, list[Path]]:
    """Simulate the scale trial (config/trials/coaching_scale.yaml) with n participants."""
    cfg, registry = load_config(config_dir, SCALE_TRIAL)
    result = simulate_coaching_scale(cfg, registry, n, seed, mc_draws)
    return result, write_scale_trial(result, cfg, out_dir)


def find_root() -> Path:
    """The repository root: from this module's location, else the working directory."""
    if (REPO_ROOT / "config" / "instruments.yaml").is_file():
        return REPO_ROOT
    return Path.cwd()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trialeval.simulate",
        description="Write the SYNTHETIC raw exports, truth.yaml and README.md of the demo trials.",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: <repo>/data/raw)")
    from trialeval import simulate_exports

    exported = tuple(simulate_exports.EXPORTED)
    parser.add_argument(
        "--trial",
        action="append",
        choices=TRIALS + exported,
        help="trial to write (repeatable; default all)",
    )
    parser.add_argument("--config-dir", type=Path, help="default: <repo>/config")
    parser.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help=f"instead of the demo trials, write the {SCALE_TRIAL} trial (coaching_rct's design, "
        f"N participants, the waves and sites of config/trials/{SCALE_TRIAL}.yaml, CSV only) "
        f"into OUT/{SCALE_TRIAL}/; needs --out",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=SCALE_SEED,
        help="seed of the --scale trial (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    root = find_root()
    config_dir = args.config_dir or root / "config"
    if args.scale is not None:
        # The scale data never go into the repository's data/raw unless asked for explicitly.
        if args.out is None:
            parser.error("--scale needs --out (a folder outside the repository, e.g. /tmp/scale)")
        if args.trial:
            parser.error("--scale writes only the scale trial; drop --trial")
        t0 = time.perf_counter()
        result, _ = generate_scale(args.scale, args.out, config_dir, args.seed)
        counts = ", ".join(f"{k}={v}" for k, v in result["counts"].items())
        print(
            f"{SCALE_TRIAL}: {counts} ({time.perf_counter() - t0:.1f} s) -> "
            f"{args.out / SCALE_TRIAL}"
        )
        return 0
    out = args.out or root / "data" / "raw"
    for trial in args.trial or TRIALS + exported:
        t0 = time.perf_counter()
        if trial in exported:  # a CSV demo trial's data as a survey tool exports them
            result, cfg = simulate_exports.simulate_exported(trial, config_dir)
            simulate_exports.write_exported(trial, result, cfg, out)
            counts = f"from {result['source']}"
        else:
            result, cfg = simulate_trial(trial, config_dir)
            write_trial(trial, result, cfg, out)
            counts = ", ".join(f"{k}={v}" for k, v in result["counts"].items())
        print(f"{trial}: {counts} ({time.perf_counter() - t0:.1f} s) -> {out / trial}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
