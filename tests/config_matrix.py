"""The configuration matrix: small seeded trials that together use every option the schemas
accept, and the edge trials a real study produces. tests/test_config_matrix.py runs the whole
DAG on all of them at once and checks that every job succeeds and the counts reconcile.

A cell is a trial file (YAML as a user writes it) plus the raw exports it reads, both built here
from a few high-level choices. The rct cells form a pairwise covering array over
model x site x covariates x arms x analysis sets (checked by a test, so an edit cannot lose a
pair); quasi-experimental and cross-sectional cells take every level of the factors that apply
to them. A new schema option must be used by some cell: test_config_matrix.py walks the schemas
and fails on any key or enum level no cell uses.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

# rct factors and their levels (the pairwise array below covers every pair).
MODELS = ("repeated", "ancova_1post", "ancova_2post")
SITES = ("random", "fixed", "none")
COVARIATES = ("none", "numeric", "categorical", "both")
ARMS = (2, 3)
SETS = {
    "itt": ["itt"],
    "all": ["itt", "per_protocol", "complete_case"],
    "pp_cc": ["per_protocol", "complete_case"],
}
RCT_FACTORS = {
    "covariates": COVARIATES,
    "model": MODELS,
    "site": SITES,
    "sets": tuple(SETS),
    "arms": ARMS,
}
# (covariates, model, site, sets, arms): 12 rows, the smallest pairwise array for 4 x 3 x 3.
RCT_ROWS = [
    ("categorical", "ancova_1post", "random", "all", 3),
    ("numeric", "repeated", "fixed", "pp_cc", 3),
    ("categorical", "repeated", "none", "itt", 2),
    ("none", "ancova_2post", "random", "pp_cc", 2),
    ("both", "ancova_2post", "fixed", "all", 2),
    ("both", "ancova_1post", "none", "pp_cc", 3),
    ("none", "ancova_1post", "fixed", "itt", 3),
    ("numeric", "ancova_2post", "none", "itt", 2),
    ("both", "repeated", "random", "itt", 3),
    ("none", "repeated", "none", "all", 3),
    ("categorical", "ancova_2post", "fixed", "pp_cc", 3),
    ("numeric", "ancova_1post", "random", "all", 2),
]

ARM_IDS = ["ctl", "coach", "peer"]  # the first is the control arm
# analyses.multiplicity.primary of two three-arm rows (two primary comparisons each): success
# on any of them (primary P adjusted across the arms) or only on all (not adjusted)
PRIMARY_RULES = {0: "any", 1: "all"}
SITE_IDS = ["s1", "s2", "s3"]


@dataclass
class Cell:
    """One matrix trial: its id, its trial file and its raw exports {file name: frame}."""

    id: str
    trial: dict
    files: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Excel files: {file name: sheet name}
    excel: dict[str, str] = field(default_factory=dict)
    # CSV files written otherwise than comma-separated UTF-8 with the header on row 1:
    # {file name: {"delimiter": ..., "encoding": ..., "title_rows": n}}
    formats: dict[str, dict] = field(default_factory=dict)

    def write(self, root: Path) -> None:
        """Write the trial file and exports into a project copy at `root` (a `data.dir` is
        relative to the project, the default folder is data/raw/<trial>)."""
        trials_dir = root / "config" / "trials"
        trials_dir.mkdir(parents=True, exist_ok=True)
        (trials_dir / f"{self.id}.yaml").write_text(yaml.safe_dump(self.trial, sort_keys=False))
        data = self.trial["data"]
        data_dir = root / data["dir"] if "dir" in data else root / "data" / "raw" / self.id
        data_dir.mkdir(parents=True, exist_ok=True)
        for name, frame in self.files.items():
            if name in self.excel:
                frame.to_excel(data_dir / name, sheet_name=self.excel[name], index=False)
                continue
            form = self.formats.get(name, {})
            text = frame.to_csv(index=False, sep=form.get("delimiter", ","))
            titles = "".join(f"Export title line {k}\n" for k in range(form.get("title_rows", 0)))
            (data_dir / name).write_bytes((titles + text).encode(form.get("encoding", "utf-8")))


def _covariates(level: str, summary: str = "mean_sd") -> list[dict]:
    numeric = {"name": "age", "label": "Age, years", "type": "numeric", "summary": summary}
    categorical = {"name": "gender", "label": "Gender", "type": "categorical"}
    return {
        "none": [],
        "numeric": [numeric],
        "categorical": [categorical],
        "both": [numeric, categorical],
    }[level]


def _participants(
    rng, n: int, arms: list[str], sites: list[str] | None, *, id_column: str = "pid"
) -> pd.DataFrame:
    """Allocated participants: arm in blocks, site, age, gender with a sparse level,
    a consent-withdrawal flag (one yes) and sessions attended."""
    arm = [arms[k % len(arms)] for k in range(n)]
    frame = pd.DataFrame(
        {
            id_column: [f"P{k:03d}" for k in range(n)],
            "arm": arm,
            "age": np.round(rng.normal(26, 2.5, n), 1),
            # NB is rare (about 1 in 12): a sparse level of a categorical covariate
            "gender": rng.choice(["F", "M", "NB"], size=n, p=[0.5, 0.42, 0.08]),
            "withdrew": ["yes" if k == n - 1 else "no" for k in range(n)],
            "sessions": rng.integers(0, 5, n),
        }
    )
    if sites:
        # arms cycle within site blocks: every site has every arm (arm and site not aliased)
        frame.insert(2, "site", [sites[(k // len(arms)) % len(sites)] for k in range(n)])
    return frame


def _answers(rng, ids, arm, *, shift: float, items: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """One wave: a latent level per participant moves every item; intervention arms `shift`."""
    latent = rng.normal(0, 1, len(ids)) + shift * (np.asarray(arm) != ARM_IDS[0])
    rows = {"pid": list(ids)}
    for column, (lo, hi) in items.items():
        mid = (lo + hi) / 2
        value = np.rint(mid + latent * (hi - lo) / 5 + rng.normal(0, 0.8, len(ids)))
        rows[column] = np.clip(value, lo, hi).astype(int)
    return pd.DataFrame(rows)


FLOURISHING = {f"fs_{i}": (1, 7) for i in range(1, 9)}
BURNOUT = {"mbi_8": (0, 6), "mbi_10": (0, 6)}
BELONGING = {f"belong_{c}": (1, 4) for c in ("school", "organization", "community")}


def _waves(
    rng,
    participants: pd.DataFrame,
    timepoints: list[str],
    items: dict,
    *,
    response: float = 0.85,
    silent_arm: str | None = None,
) -> dict[str, pd.DataFrame]:
    """One export per timepoint: about `response` of participants answer each follow-up
    (everyone but two at baseline); `silent_arm` gives no follow-up response at all."""
    waves = {}
    for t, tp in enumerate(timepoints):
        answered = rng.random(len(participants)) < (0.95 if t == 0 else response)
        if t > 0 and silent_arm:
            answered &= participants["arm"].to_numpy() != silent_arm
        rows = participants[answered]
        frame = _answers(rng, rows.iloc[:, 0], rows["arm"], shift=0.5 * t, items=items).rename(
            columns={"pid": participants.columns[0]}
        )
        # a few unanswered items: scores are prorated or, below min_answered, missing
        for column in list(items)[:2]:
            frame.loc[frame.sample(frac=0.1, random_state=t).index, column] = pd.NA
        waves[f"wave_{tp}.csv"] = frame
    return waves


def _arms(arm_ids: list[str]) -> list[dict]:
    """Arms as a trial file lists them, the first (ARM_IDS[0]) the control."""
    return [
        {"id": a, "label": a.title(), **({"control": True} if a == ARM_IDS[0] else {})}
        for a in arm_ids
    ]


def _primary_flourishing() -> dict:
    """The matrix trials' primary outcome (a new dict each time: cells edit their own)."""
    return {
        "id": "flourishing",
        "instrument": "flourishing",
        "subscale": "total",
        "role": "primary",
    }


def _timepoints(names: list[str], *, files: dict[str, object] | None = None) -> list[dict]:
    out = []
    for t, name in enumerate(names):
        entry = {"id": name, "label": name.replace("_", " ").title(), "file": f"wave_{name}.csv"}
        if t == 0:
            entry["baseline"] = True
        if files and name in files:
            entry["file"] = files[name]
        out.append(entry)
    return out


def scores_only(cell: Cell) -> Cell:
    """The cell without its category outcome: a trial's risk ratios are one more job, and a
    few cells with them cover that path (the matrix must stay within minutes)."""
    cell.trial["outcomes"] = [o for o in cell.trial["outcomes"] if "category" not in o]
    return cell


def rct_cell(k: int, covariates: str, model: str, site: str, sets: str, arms: int) -> Cell:
    """One row of the rct pairwise array."""
    rng = np.random.default_rng(1000 + k)
    arm_ids = ARM_IDS[:arms]
    # site `none` alternates between a trial without a site column and one that has sites
    # but leaves them out of the model; row 0 has a site with a single participant.
    with_sites = site != "none" or k % 2 == 0
    participants = _participants(rng, 14 * arms, arm_ids, SITE_IDS if with_sites else None)
    if k == 0:
        participants.loc[participants.index[-2], "site"] = "s4"
    names = ["baseline", "month4"] + (["month8"] if model != "ancova_1post" else [])
    waves = _waves(rng, participants, names, {**FLOURISHING, **BURNOUT})
    covs = _covariates(covariates, "median_iqr" if k % 3 == 0 else "mean_sd")
    trial = {
        "title": f"Matrix rct {k}: {model}, site {site}, covariates {covariates}, {arms} arms",
        "design": "rct",
        "registration": "synthetic configuration-matrix trial",
        "data": {
            "participants": "participants.csv",
            "id_column": "pid",
            "arm_column": "arm",
            "withdrawal_column": "withdrew",
        },
        "arms": _arms(arm_ids),
        "timepoints": _timepoints(names),
        "covariates": covs,
        "outcomes": [
            _primary_flourishing(),
            {
                "id": "burnout",
                "instrument": "mbi_2item",
                "category": "burnout",
                "label": "Burnout (2-item screen)",
                "role": "secondary",
            },
        ],
        "analyses": {
            "analysis_sets": SETS[sets],
            "mixed_model": {
                "model": "repeated" if model == "repeated" else "ancova",
                "site": site,
                "covariates": [c["name"] for c in covs],
            },
        },
    }
    if k in PRIMARY_RULES:
        trial["analyses"]["multiplicity"] = {"primary": PRIMARY_RULES[k]}
    if with_sites:
        trial["data"]["site_column"] = "site"
        if k != 0:
            trial["sites"] = SITE_IDS
        if k == 1:  # sites with labels, one without, one as a plain id
            trial["sites"] = [{"id": "s1", "label": "North campus"}, {"id": "s2"}, "s3"]
    if k == 2:  # labels for two of gender's three levels (NB prints as written)
        trial["covariates"][0]["levels"] = {"M": "Man", "F": "Woman"}
    if "per_protocol" in SETS[sets] and k % 2 == 1:
        rule = {"column": "sessions", "at_least": 2}
        if arms == 3:
            rule["arms"] = ["coach"]
        trial["analysis_sets"] = {"per_protocol": rule}
    if k == 1:
        trial["arms"][1]["colour"] = "#0072B2"
    cell = Cell(f"rct_{k}", trial, {"participants.csv": participants, **waves})
    if k == 3:  # the follow-up wave as an Excel file, its first sheet by index
        cell.files["wave_month4.xlsx"] = cell.files.pop("wave_month4.csv")
        cell.excel["wave_month4.xlsx"] = "Responses"
        trial["timepoints"][1]["file"] = "wave_month4.xlsx"
        trial["data"]["sheet"] = 0
        # the participants as a workbook too, their sheet by name
        cell.files["participants.xlsx"] = cell.files.pop("participants.csv")
        cell.excel["participants.xlsx"] = "Roster"
        trial["data"]["participants"] = {"path": "participants.xlsx", "sheet": "Roster"}
    if k == 1:
        trial["data"]["participants"] = {"path": "participants.csv", "delimiter": ","}
    return cell


def quasi_cell(k: int, covariates: str, site: str, sets: str, arms: int) -> Cell:
    """Pre/post with controls; site is a confounder, a column left out, or absent."""
    rng = np.random.default_rng(2000 + k)
    arm_ids = ARM_IDS[:arms]
    participants = _participants(
        rng, 15 * arms, arm_ids, SITE_IDS[:2] if site != "absent" else None, id_column="student"
    )
    participants = participants.rename(columns={"arm": "group"})
    names = ["pre", "post"]
    # row 0 adds a registry instrument with reverse-keyed items scored as a mean
    extra = {f"scs_{i}": (1, 5) for i in range(1, 13)} if k == 0 else {}
    waves = _waves(
        rng,
        participants.rename(columns={"group": "arm"}),
        names,
        {**FLOURISHING, **BURNOUT, **extra},
    )
    covs = _covariates(covariates)
    trial = {
        "title": f"Matrix pre/post {k}: covariates {covariates}, site {site}, {arms} arms",
        "design": "quasi_experimental",
        "data": {
            "participants": "participants.csv",
            "id_column": "student",
            "arm_column": "group",
            "withdrawal_column": "withdrew",
        },
        "arms": _arms(arm_ids),
        "timepoints": _timepoints(names),
        "covariates": covs,
        "outcomes": [
            _primary_flourishing(),
            {"id": "burnout", "instrument": "mbi_2item", "category": "burnout"},
        ]
        + (
            [{"id": "self_compassion", "instrument": "scs_sf", "subscale": "total"}]
            if extra
            else []
        ),
        "analyses": {
            "analysis_sets": SETS[sets],
            "prepost": {
                "confounders": [c["name"] for c in covs]
                + (["site"] if site == "confounder" else [])
            },
        },
    }
    if site != "absent":
        trial["data"]["site_column"] = "site"
    if "per_protocol" in SETS[sets]:
        trial["analysis_sets"] = {"per_protocol": {"column": "sessions", "at_least": 1}}
    for name, frame in waves.items():
        waves[name] = frame.rename(columns={"pid": "student"})
    return Cell(f"quasi_{k}", trial, {"participants.csv": participants, **waves})


def survey_cell(k: int, covariates: str, sets: str, with_site: bool) -> Cell:
    """Cross-sectional survey: a frame of 70 surveyed, about 60% respond."""
    rng = np.random.default_rng(3000 + k)
    frame = _participants(rng, 70, ["all"], SITE_IDS if with_site else None).drop(
        columns=["arm", "sessions"]
    )
    respond = rng.random(len(frame)) < 0.6
    wave = _answers(
        rng,
        frame.loc[respond, "pid"],
        ["all"] * int(respond.sum()),
        shift=0.0,
        items={**BURNOUT, **BELONGING},
    )
    covs = _covariates(covariates)
    trial = {
        "title": f"Matrix survey {k}: covariates {covariates}",
        "design": "cross_sectional",
        "data": {
            "participants": "surveyed.csv",
            "id_column": "pid",
            "withdrawal_column": "withdrew",
        },
        "timepoints": [{"id": "survey", "file": "responses.csv", "baseline": True}],
        "covariates": covs,
        "outcomes": [
            {"id": "burnout", "instrument": "mbi_2item", "category": "burnout", "role": "primary"},
            {"id": "belong_school", "instrument": "belonging", "subscale": "school"},
            {"id": "belong_org", "instrument": "belonging", "subscale": "organization"},
        ],
        "analyses": {
            "analysis_sets": SETS[sets] if sets != "pp_cc" else ["complete_case"],
            "association": {
                "outcome": "burnout",
                "exposures": ["belong_school", "belong_org"],
                "covariates": [c["name"] for c in covs],
            },
        },
    }
    if with_site:
        trial["data"]["site_column"] = "site"
    return Cell(f"survey_{k}", trial, {"surveyed.csv": frame, "responses.csv": wave})


PHQ2 = {"phq_1": (0, 3), "phq_2": (0, 3)}


def cohort_cell(k: int, cohorts: list, covariates: str, sets: str) -> Cell:
    """Cohort comparison: 25-30 students per cohort (about 80% respond), a PHQ-2 screen (a
    category and its total score) and flourishing; later cohorts answer lower PHQ-2 items."""
    rng = np.random.default_rng(5000 + k)
    n = 28 * len(cohorts)
    frame = _participants(rng, n, [str(c) for c in cohorts], None).drop(columns=["sessions"])
    frame = frame.rename(columns={"arm": "entry"})
    respond = rng.random(n) < 0.8
    step = frame["entry"].map({str(c): i for i, c in enumerate(cohorts)}).to_numpy()
    wave = _answers(
        rng,
        frame.loc[respond, "pid"],
        ["ctl"] * int(respond.sum()),
        shift=0.0,
        items={**PHQ2, **FLOURISHING},
    )
    wave[list(PHQ2)] = np.clip(wave[list(PHQ2)] - step[respond, None] // 2, 0, 3)
    covs = _covariates(covariates)
    trial = {
        "title": f"Matrix cohorts {k}: {len(cohorts)} cohorts, covariates {covariates}",
        "design": "cohort_comparison",
        "data": {"participants": "roster.csv", "id_column": "pid", "withdrawal_column": "withdrew"},
        "cohort": {"column": "entry", "order": list(cohorts), "reference": cohorts[0]},
        "timepoints": [{"id": "survey", "file": "survey.csv", "baseline": True}],
        "covariates": covs,
        "outcomes": [
            {"id": "depression", "instrument": "phq2", "category": "positive", "role": "primary"},
            {"id": "phq2_total", "instrument": "phq2", "subscale": "total"},
            {"id": "flourishing", "instrument": "flourishing", "subscale": "total"},
        ],
        "analyses": {
            "analysis_sets": SETS[sets],
            "cohort": {"covariates": [c["name"] for c in covs]},
        },
    }
    if k == 0:
        trial["cohort"]["labels"] = {str(c): f"Class of {c}" for c in cohorts}
    return Cell(f"cohort_{k}", trial, {"roster.csv": frame, "survey.csv": wave})


COHORT_ROWS = [  # (cohorts in time order (the first is the reference), covariates, sets)
    (["2019", "2021"], "both", "itt"),
    ([2018, 2019, 2020], "none", "all"),
]


def edge_cells() -> list[Cell]:
    """Trials a real study produces that the demo never does."""
    cells = []
    # An arm with no follow-up response at all (three arms, repeated model, random site).
    rng = np.random.default_rng(4001)
    participants = _participants(rng, 42, ARM_IDS, SITE_IDS)
    cell = rct_cell(90, "both", "repeated", "random", "all", 3)
    names = [tp["id"] for tp in cell.trial["timepoints"]]
    waves = _waves(rng, participants, names, {**FLOURISHING, **BURNOUT}, silent_arm="peer")
    cell.id = "edge_no_followup"
    cell.trial["title"] = "Edge: one arm without any follow-up response"
    cell.files = {"participants.csv": participants, **waves}
    cells.append(cell)

    # Every participant of one arm withdrew consent (ANCOVA with two post visits).
    cell = rct_cell(91, "numeric", "ancova_2post", "fixed", "all", 3)
    cell.id = "edge_arm_withdrawn"
    cell.trial["title"] = "Edge: every participant of one arm withdrew"
    people = cell.files["participants.csv"]
    people.loc[people["arm"] == "peer", "withdrew"] = "yes"
    cells.append(cell)

    # Pre-scored outcomes only, one site, Excel exports on named sheets in their own folder,
    # and the trial's own instrument with bands.
    rng = np.random.default_rng(4003)
    participants = _participants(rng, 40, ARM_IDS[:2], ["only_site"])
    files = {"participants.xlsx": participants}
    for t, tp in enumerate(["baseline", "week6"]):
        answered = participants[rng.random(40) < (0.95 if t == 0 else 0.8)]
        shift = 1.5 * t * (answered["arm"] != "ctl")
        files[f"{tp}.xlsx"] = pd.DataFrame(
            {
                "pid": answered["pid"],
                "recommend": np.clip(np.rint(rng.normal(6 + shift, 2)), 0, 10).astype(int),
                # a pre-scored mean of items: answers with decimals
                "stress_total": np.clip(np.round(rng.normal(18 - 2 * shift, 6), 1), 0, 40),
            }
        )
    trial = {
        "title": "Edge: pre-scored outcomes only, one site, Excel exports",
        "design": "rct",
        "data": {
            "dir": "edge_prescored_files",
            "participants": {"path": "participants.xlsx", "sheet": 0},
            "id_column": "pid",
            "site_column": "site",
            "sheet": "export",
        },
        "arms": [{"id": "ctl", "control": True}, {"id": "coach"}],
        "sites": ["only_site"],
        "timepoints": [
            {
                "id": "baseline",
                "file": {"path": "baseline.xlsx", "sheet": "export"},
                "baseline": True,
            },
            {"id": "week6", "file": {"path": "week6.xlsx", "sheet": 0}},
        ],
        "outcomes": [
            {"id": "recommend", "instrument": "recommend", "subscale": "score", "role": "primary"},
            {"id": "stress", "instrument": "stress_scale", "subscale": "score"},
        ],
        "instruments": {
            "stress_scale": {
                "label": "Perceived stress (pre-scored total, 0-40)",
                "source": "synthetic",
                "prescored": {"column": "stress_total", "range": [0, 40]},
                "decimals": True,
            }
        },
        "analyses": {"mixed_model": {"site": "random"}},
        # a planned trial against a new control arm, one attrition rate for every post visit
        "power": {
            "arms": [
                {"id": "waitlist", "new": True, "control": True, "ratio": 1},
                {"id": "coach", "ratio": 1, "effects": {"recommend": 1.0}},
            ],
            "attrition": 0.2,
            "outcomes": [{"id": "recommend", "sd_participant": 1.5, "sd_residual": 1.5}],
            "estimand": "diff_in_means",
            "sample_sizes": [30],
            "n_sims": 10,
            "chunk_size": 10,
        },
    }
    cells.append(Cell("edge_prescored", trial, files, excel={name: "export" for name in files}))
    return cells


def own_instrument_cell() -> Cell:
    """A trial defining its own item-level instrument (reverse keys, mean scoring, a cut-off
    category, bands, answer levels) in the trial file; power block with a new arm."""
    cell = rct_cell(92, "numeric", "repeated", "random", "itt", 2)
    cell.id = "own_instrument"
    cell.trial["title"] = "Own instrument and a power plan"
    instrument = {
        "label": "Peer-support climate (4 items)",
        "source": "synthetic",
        "item_prefix": "psc_",
        "items": ["c1", "c2", "c3", "c4"],
        "item_range": [1, 5],
        "reverse": ["c2"],
        "min_answered": 0.75,
        "levels": {1: "Never", 2: "Rarely", 3: "Sometimes", 4: "Often", 5: "Always"},
        "subscales": {
            "total": {"label": "Peer-support climate (sum)", "items": "all", "scoring": "sum"},
            "mean": {
                "label": "Peer-support climate (mean)",
                "items": ["c1", "c3", "c4"],
                "scoring": "mean",
            },
        },
        "categories": {
            "low": {"label": "Low climate (sum <= 9)", "subscale": "total", "at_most": 9},
            # a category of good climate: more is better (the registry has only problems)
            "any_always": {
                "label": "Any item always",
                "any_item": ["c1", "c3"],
                "at_least": 5,
                "higher_is_better": True,
            },
        },
        "bands": {
            "subscale": "total",
            "levels": [
                {"label": "Low (<= 9)", "at_most": 9},
                {"label": "Middle (10-14)", "at_most": 14},
                {"label": "High (>= 15)", "at_most": 20},
            ],
        },
    }
    cell.trial["instruments"] = {"peer_climate": instrument}
    cell.formats["participants.csv"] = {"delimiter": "\t"}
    cell.trial["data"]["participants"] = {"path": "participants.csv", "delimiter": "\t"}
    cell.trial["outcomes"] += [
        {"id": "climate", "instrument": "peer_climate", "subscale": "total"},
        {"id": "climate_mean", "instrument": "peer_climate", "subscale": "mean"},
        {"id": "climate_low", "instrument": "peer_climate", "category": "low"},
        {"id": "climate_always", "instrument": "peer_climate", "category": "any_always"},
        {"id": "climate_band", "instrument": "peer_climate", "category": "bands"},
    ]
    rng = np.random.default_rng(4004)
    people = cell.files["participants.csv"]
    for name, frame in list(cell.files.items()):
        if name.startswith("wave_"):
            extra = _answers(
                rng,
                frame["pid"],
                people.set_index("pid").loc[frame["pid"], "arm"],
                shift=0.3,
                items={f"psc_c{i}": (1, 5) for i in range(1, 5)},
            )
            cell.files[name] = frame.merge(extra, on="pid")
    # the primary effect named, so the plan (no estimand of its own) tests it, not rct's
    # default diff_in_change
    cell.trial["analyses"]["estimand"] = {"effect": "diff_in_means"}
    cell.trial["power"] = {
        "arms": [
            {"id": "ctl", "ratio": 1},
            {"id": "coach", "ratio": 1, "effects": {"flourishing": 3.0, "climate": 1.0}},
            {
                "id": "newpeer",
                "new": True,
                "label": "New peer arm",
                "ratio": 2,
                "colour": "#D55E00",
                "effects": {"flourishing": 2.0, "climate": 0.5},
            },
        ],
        "visits": ["baseline", "month4", "month8"],
        "attrition": [0.1, 0.2],
        "outcomes": [
            {"id": "flourishing", "from_fit": True},
            {"id": "climate", "sd_participant": 2.0, "sd_residual": 2.5},
        ],
        "sample_sizes": [40, 80],
        "n_sims": 20,
        "chunk_size": 10,
        "alpha": 0.05,
        "seed": 7,
        "target_power": 0.8,
    }
    return cell


QUASI_ROWS = [  # (covariates, site, sets, arms): every level of each factor at least once
    ("none", "confounder", "itt", 2),
    ("numeric", "unadjusted", "all", 3),
    ("categorical", "absent", "pp_cc", 2),
    ("both", "confounder", "all", 3),
]
SURVEY_ROWS = [  # (covariates, sets, with_site)
    ("none", "itt", True),
    ("numeric", "all", False),
    ("categorical", "pp_cc", True),
    ("both", "itt", False),
]


COVARIANCES = (
    "unstructured",
    "toeplitz",
    "toeplitz_heterogeneous",
    "ar1",
    "ar1_heterogeneous",
    "compound_symmetry",
    "compound_symmetry_heterogeneous",
)


def mmrm_cells() -> list[Cell]:
    """`model: mmrm` with each covariance structure (baseline + two post visits), in one trial:
    two arms, site left out and Satterthwaite df for the primary analysis (unstructured) and
    half the other structures; the other half as named sensitivity analyses with the fixed
    site and Kenward-Roger df, each changing only the model's options (the same fit, one job
    each instead of a trial's seven). The ar1 one's estimand has an intercurrent-event column
    without any event (a hypothetical strategy that sets nothing aside)."""
    cell = scores_only(rct_cell(93, "numeric", "repeated", "fixed", "itt", 2))
    mixed = cell.trial["analyses"]["mixed_model"]
    mixed.update(model="mmrm", covariance=COVARIANCES[0], site="none", df="satterthwaite")
    kenward_roger = {"site": "fixed", "df": "kenward_roger"}
    cell.trial["analyses"]["sensitivity"] = [
        {
            "name": covariance,
            "mixed_model": {
                "covariance": covariance,
                **(kenward_roger if k % 2 == 0 else {}),
            },
        }
        for k, covariance in enumerate(COVARIANCES[1:])
    ]
    cell.files["participants.csv"]["stopped"] = ""
    ar1 = next(a for a in cell.trial["analyses"]["sensitivity"] if a["name"] == "ar1")
    ar1["estimand"] = _estimand("hypothetical")
    cell.id = "mmrm_0"
    cell.trial["title"] = (
        f"Matrix mmrm 0: {', '.join(COVARIANCES)}; df satterthwaite and kenward_roger; "
        "an event column without any event"
    )
    return [cell]


def clda_cells() -> list[Cell]:
    """`model: clda`: three arms, two post visits, site random, both covariate kinds, every
    analysis set, with the burnout category (its risk ratio, risk difference and odds ratio);
    an edge trial: two arms, one post visit, a single site (no site variance to estimate:
    the fit goes on without it and says so), no covariates, delivery groups in the coached arm;
    and (a sensitivity analysis of the first) clda with an unstructured covariance,
    Kenward-Roger df, the burnout category's binary measures adjusted for a categorical
    covariate and the fixed site."""
    cell = rct_cell(110, "both", "repeated", "random", "all", 3)
    cell.trial["analyses"]["mixed_model"]["model"] = "clda"
    cell.id = "clda_0"
    cell.trial["title"] = "Matrix clda 0: site random, covariates both, 3 arms"

    edge = rct_cell(111, "none", "ancova_1post", "random", "itt", 2)
    edge.trial["analyses"]["mixed_model"].update(model="clda", groups={"arms": ["coach"]})
    people = edge.files["participants.csv"]
    people["site"] = "s1"
    coached = people["arm"] == "coach"
    people.loc[coached, "delivery"] = [f"G{k % 3 + 1}" for k in range(int(coached.sum()))]
    edge.trial["sites"] = ["s1"]
    edge.trial["data"]["group_column"] = "delivery"
    edge.id = "clda_edge"
    edge.trial["title"] = "Matrix clda edge: one site, one post visit, no covariates, groups"

    # clda with an unstructured covariance over every visit (the MMRM engine), Kenward-Roger
    # df, site fixed, a categorical covariate (the burnout category's binary measures adjusted
    # for it and the site): a named sensitivity analysis of clda_0, on intention-to-treat
    cell.trial["analyses"]["sensitivity"] = [
        {
            "name": "clda_unstructured",
            "label": "cLDA, unstructured covariance over every visit",
            "mixed_model": {
                "model": "clda",
                "covariance": "unstructured",
                "df": "kenward_roger",
                "site": "fixed",
            },
            "covariates": ["gender"],
            "analysis_sets": ["itt"],
        }
    ]
    cell.trial["title"] += "; cLDA unstructured covariance, KR df"
    return [cell, scores_only(edge)]


def with_read_options(cell: Cell, other: Cell) -> None:
    """Exports read through the per-file options (the Excel sheets by name and index are in
    rct_3 and edge_prescored): in a pre/post `cell`, semicolons and cp1252, tabs, pipes, title
    rows above the header, missing codes as numbers and as text; in a randomized `other`, a
    title row, declared UTF-8 and UTF-8 with a byte-order mark, a covariate range."""
    cell.trial["title"] += "; read options: semicolons, cp1252, tabs, pipes, missing codes"
    people = cell.files["participants.csv"].astype(object)
    people.loc[people.index[3], "age"] = -99  # declared missing: the participant is left out
    people.loc[people.index[5], "gender"] = "N/A"
    people.loc[people.index[7], "gender"] = "Femme (é)"  # cp1252 text
    cell.files["participants.csv"] = people
    cell.formats["participants.csv"] = {"delimiter": ";", "encoding": "cp1252"}
    cell.trial["data"]["participants"] = {
        "path": "participants.csv",
        "delimiter": ";",
        "encoding": "cp1252",
        "missing_codes": [-99, "N/A"],
    }
    pre = cell.files["wave_pre.csv"].astype(object)
    pre.loc[pre.index[2], "fs_3"] = -99
    post = cell.files["wave_post.csv"].astype(object)
    post.loc[post.index[1], "fs_4"] = "Prefer not to answer"
    cell.files.update({"wave_pre.csv": pre, "wave_post.csv": post})
    cell.formats["wave_pre.csv"] = {"delimiter": "\t"}
    cell.formats["wave_post.csv"] = {"delimiter": "|", "title_rows": 2}
    cell.trial["timepoints"][0]["file"] = {
        "path": "wave_pre.csv",
        "delimiter": "\t",
        "missing_codes": [-99],
    }
    cell.trial["timepoints"][1]["file"] = {
        "path": "wave_post.csv",
        "delimiter": "|",
        "header_row": 3,
        "missing_codes": ["Prefer not to answer"],
    }

    other.trial["title"] += "; read options: a title row, UTF-8 declared, a covariate range"
    other.formats["participants.csv"] = {"title_rows": 1, "delimiter": "|"}
    other.trial["data"]["participants"] = {
        "path": "participants.csv",
        "header_row": 2,
        "delimiter": "|",
        "encoding": "utf-8",
    }
    other.formats["wave_month4.csv"] = {"encoding": "utf-8-sig"}  # with a byte-order mark
    other.trial["timepoints"][1]["file"] = {
        "path": "wave_month4.csv",
        "delimiter": ",",
        "encoding": "utf-8-sig",
    }
    other.trial["covariates"][0]["range"] = [18, 40]
    other.formats["wave_baseline.csv"] = {"delimiter": ";"}
    other.trial["timepoints"][0]["file"] = {"path": "wave_baseline.csv", "delimiter": ";"}


def _stopped(participants: pd.DataFrame, visits: list[str]) -> list[str]:
    """An intercurrent-event column: the visit at which a participant stopped the
    intervention (every 4th at the first follow-up, one written in capitals, every 9th at
    baseline), empty otherwise."""
    out = []
    for k in range(len(participants)):
        if k % 9 == 4:
            out.append(visits[0])  # an event at baseline: every later visit is after it
        elif k % 4 == 1:
            out.append(visits[1].upper() if k == 1 else visits[1])
        else:
            out.append("")
    return out


def _estimand(strategy: str, *, summary: str = "difference in means between arms") -> dict:
    return {
        "population": "allocated students",
        "variable": "flourishing at each follow-up visit",
        "summary": summary,
        "intercurrent_events": [
            {"event": "stopped the intervention", "column": "stopped", "strategy": strategy}
        ],
    }


def sensitivity_cells() -> list[Cell]:
    """Named sensitivity analyses and estimands, in one trial: every intercurrent-event
    strategy (composite on the burnout category), the primary's estimand, a sensitivity
    analysis changing the model and one the analysis sets and covariates, and multiple
    imputation (`imputation_cell`'s two, on intention-to-treat). An event column entirely
    empty is mmrm_0's."""
    cell = rct_cell(120, "numeric", "repeated", "random", "all", 2)
    cell.id = "sensitivity_strategies"
    cell.trial["title"] = "Matrix sensitivity analyses: every intercurrent-event strategy"
    people = cell.files["participants.csv"]
    visits = [tp["id"] for tp in cell.trial["timepoints"]]
    people["stopped"] = _stopped(people, visits)
    analyses = cell.trial["analyses"]
    # the primary effect named: Table 2 and the forest show the difference in means
    analyses["estimand"] = {**_estimand("treatment_policy"), "effect": "diff_in_means"}
    analyses["sensitivity"] = [
        {
            "name": "hypothetical",
            "label": "Had no one stopped",
            "analysis_sets": ["itt", "per_protocol"],
            "estimand": _estimand("hypothetical"),
        },
        {
            "name": "while_on_treatment",
            "label": "While on the intervention",
            "mixed_model": {"model": "ancova", "site": "fixed"},
            "covariates": [],
            "analysis_sets": ["complete_case"],
            "outcomes": ["flourishing"],
            "estimand": _estimand("while_on_treatment"),
        },
        {
            "name": "composite",
            "label": "Stopping counted as burnout",
            "outcomes": ["burnout"],
            "estimand": _estimand("composite", summary="risk ratio of burnout"),
        },
    ]

    # multiple imputation next to the strategies (imputation_cell's, which
    # tests/test_imputation_pipeline.py runs on its own), on intention-to-treat only
    imputed = [a for a in imputation_cell().trial["analyses"]["sensitivity"] if a.get("imputation")]
    analyses["sensitivity"] += [{**a, "analysis_sets": ["itt"]} for a in imputed]
    cell.trial["title"] += "; multiple imputation and tipping point"
    return [cell]


def imputation_cell() -> Cell:
    """Multiple imputation (issue 13) next to a hypothetical-strategy analysis: a primary
    repeated model with a binary category outcome; `mi_delta` imputes after a hypothetical
    strategy (MAR after the event) on a delta grid, its category outcome left to the risk
    ratio; `mi_carried` an MMRM with the shift carried into later visits, visits after a
    while-on-treatment event imputed and then removed. Small m: the matrix stays fast."""
    cell = rct_cell(122, "numeric", "repeated", "random", "itt", 2)
    cell.id = "sensitivity_imputation"
    cell.trial["title"] = "Matrix sensitivity analyses: multiple imputation and tipping point"
    people = cell.files["participants.csv"]
    people["stopped"] = _stopped(people, [tp["id"] for tp in cell.trial["timepoints"]])
    analyses = cell.trial["analyses"]
    # the default primary effect, named
    analyses["estimand"] = {**_estimand("treatment_policy"), "effect": "diff_in_change"}
    analyses["sensitivity"] = [
        {
            "name": "hypothetical",
            "label": "Had no one stopped",
            "estimand": _estimand("hypothetical"),
        },
        {
            "name": "mi_delta",
            "label": "Multiple imputation, delta-adjusted",
            "estimand": _estimand("hypothetical"),
            "imputation": {"m": 5, "seed": 11, "delta": [-6, -3, 3], "propagate": False},
        },
        {
            "name": "mi_carried",
            "label": "MMRM on imputations, shift carried over",
            "outcomes": ["flourishing"],
            "mixed_model": {"model": "mmrm", "site": "fixed"},
            "estimand": _estimand("while_on_treatment"),
            "imputation": {"m": 3, "seed": 5, "delta": [-4], "propagate": True},
        },
    ]
    return cell


EVALUATION_LEVELS = {1: "Not at all", 2: "A little", 3: "Quite a bit", 4: "Very much"}
THEMES = ("support", "time")


def _evaluation_answers(rng, ids: list[str], columns: dict[str, tuple[int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {c: rng.integers(lo, hi + 1, len(ids)).astype(str) for c, (lo, hi) in columns.items()}
    )
    frame.insert(0, "id", ids)
    return frame


def evaluation_cell() -> Cell:
    """A pre/post trial with programme-evaluation surveys of two respondent groups (one an
    Excel file with labels and missing codes), two free-text questions (one asked of one
    group) and a coded sheet: every key of respondent_groups, free_text and the evaluation
    instruments."""
    from trialeval import free_text

    cell = quasi_cell(4, "none", "confounder", "itt", 2)
    cell.id = "evaluation_0"
    rng = np.random.default_rng(4017)
    people = cell.files["participants.csv"]
    mentees = list(people.loc[people["group"] != "ctl", "student"])
    mentors = [f"M{k:02d}" for k in range(12)]
    items = {"pg_1": (1, 4), "pg_2": (1, 4), "pg_3": (1, 4)}
    mine = _evaluation_answers(rng, mentees[:-3], {**items, "yn_again": (0, 1)})
    mine = mine.rename(columns={"id": "student"})
    mine.loc[0, "pg_1"] = "very much"  # a label, any case
    mine.loc[1, "pg_2"] = "9"  # the instrument's missing code
    mine.loc[2, "yn_again"] = "Prefer not to say"  # the group's
    mine.loc[3, "pg_3"] = "99"  # the group's, a number
    mine["best"] = [
        f"Mentee answer {k} about the sessions" if k % 3 else "" for k in range(len(mine))
    ]
    mine["change"] = [f"Mentee wish {k}" if k % 2 else "" for k in range(len(mine))]
    theirs = _evaluation_answers(rng, mentors[:9], items).rename(columns={"id": "mentor"})
    theirs["best"] = [f"Mentor answer {k}" for k in range(len(theirs))]
    key = free_text._demo_key(5)
    coded = [
        {"response_id": free_text.response_id(key, g, q, pid), "themes": THEMES[k % 2]}
        for g, frame, column in (("mentees", mine, "student"), ("mentors", theirs, "mentor"))
        for q in ("best", "change")
        if q in frame
        for k, (pid, text) in enumerate(zip(frame[column], frame[q], strict=True))
        if text
    ]
    cell.trial["instruments"] = {
        "programme": {
            "label": "Programme evaluation",
            "evaluation": True,
            "items": 3,
            "item_prefix": "pg_",
            "item_range": [1, 4],
            "levels": EVALUATION_LEVELS,
            "agree": [3, 4],
            "missing_codes": [9],
            "item_labels": {1: "The sessions helped me", 2: "I would take part again"},
        },
        "again": {
            "label": "Again",
            "evaluation": True,
            "items": ["again"],
            "item_prefix": "yn_",
            "item_range": [0, 1],
            "levels": {0: "No", 1: "Yes"},
            "agree": [1],
        },
    }
    cell.trial["respondent_groups"] = [
        {
            "id": "mentees",
            "label": "Coached participants",
            "roster": "mentee_roster.csv",
            "file": "mentee_survey.xlsx",
            "instruments": ["programme", "again"],
            "missing_codes": ["Prefer not to say", 99],
        },
        {
            "id": "mentors",
            "id_column": "mentor",
            "roster": "mentors.csv",
            "file": "mentor_survey.csv",
            "instruments": ["programme"],
        },
    ]
    cell.trial["free_text"] = {
        "questions": [
            {"id": "best", "label": "Best part?", "column": "best"},
            {"id": "change", "label": "What to change?", "column": "change", "groups": ["mentees"]},
        ],
        "codebook": [{"code": "support", "label": "Support"}, {"code": "time", "label": "Time"}],
        "coded_sheet": "coded.csv",
        "key_seed": 5,
    }
    cell.trial["data"]["synthetic"] = True  # key_seed is refused otherwise
    cell.files.update(
        {
            "mentee_roster.csv": pd.DataFrame({"student": mentees}),
            "mentee_survey.xlsx": mine,
            "mentors.csv": pd.DataFrame({"mentor": mentors}),
            "mentor_survey.csv": theirs,
            "coded.csv": pd.DataFrame(coded),
        }
    )
    cell.excel["mentee_survey.xlsx"] = "responses"
    return cell


FLOW_REASONS = ["Moved away", "Too busy", "leave of absence", ""]  # "" not recorded


def with_flow(cell: Cell, excluded: dict[str, int], received: dict, reasons: bool) -> Cell:
    """The cell with a `flow` block: assessed for eligibility = its participants + the
    excluded, `received` as given and, with `reasons`, a reason column (a reason for every
    participant, blank for some: counted only for withdrawals and those not assessed at the
    last visit), drawn from their own seed so the cell's other data stay as they are."""
    people = cell.files["participants.csv"]
    flow = {
        "assessed_for_eligibility": len(people) + sum(excluded.values()),
        "excluded": excluded,
        "received": received,
    }
    if reasons:
        rng = np.random.default_rng(len(cell.id) + len(people))
        people["why_left"] = rng.choice(FLOW_REASONS, len(people), p=[0.3, 0.3, 0.2, 0.2])
        flow["reason_column"] = "why_left"
    cell.trial["flow"] = flow
    return cell


def all_cells() -> list[Cell]:
    cells = [rct_cell(k, *row) for k, row in enumerate(RCT_ROWS)]
    # the CONSORT flow block: a three-arm trial with two delivering arms and every key (in
    # the disclosure-control run too), and a pre/post trial's (received: the default arms)
    screening = {"Did not meet inclusion criteria": 7, "Declined to participate": 3}
    with_flow(cells[9], screening, {"column": "sessions", "at_least": 1, "arms": ARM_IDS[1:]}, True)
    # risk ratios of randomized trials: in rows with each model and both arm counts
    cells = [c if k in (0, 1, 7, 9) else scores_only(c) for k, c in enumerate(cells)]
    # the default primary effect, named (sensitivity_strategies names diff_in_means)
    cells[8].trial["analyses"]["estimand"] = {
        "population": "allocated students",
        "variable": "flourishing at each follow-up visit",
        "summary": "difference between arms in the change from baseline",
        "effect": "diff_in_change",
    }
    quasi = [quasi_cell(k, *row) for k, row in enumerate(QUASI_ROWS)]
    with_flow(
        quasi[0], {"Declined to participate": 4}, {"column": "sessions", "at_least": 2}, False
    )
    with_read_options(quasi[1], cells[7])
    cells += quasi
    cells += [survey_cell(k, *row) for k, row in enumerate(SURVEY_ROWS)]
    # an association exposure from a participants-file column (a categorical covariate)
    survey = next(c for c in cells if c.id == "survey_3")  # adjusted for age only then
    survey.trial["analyses"]["association"]["exposures"].append(
        {"column": "gender", "reference": "M"}
    )
    survey.trial["analyses"]["association"]["covariates"] = ["age"]
    cells += [cohort_cell(k, *row) for k, row in enumerate(COHORT_ROWS)]
    cells += edge_cells()
    cells.append(own_instrument_cell())
    cells.append(evaluation_cell())
    cells += mmrm_cells() + clda_cells() + public_cells() + group_cells() + export_cells()
    return cells + sensitivity_cells()


def uncovered_pairs(rows, factors: dict[str, tuple]) -> list[tuple]:
    """Pairs of levels of two factors that no row combines (empty for a covering array)."""
    names = list(factors)
    missing = []
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        seen = {(row[i], row[j]) for row in rows}
        missing += [(a, x, b, y) for x in factors[a] for y in factors[b] if (x, y) not in seen]
    return missing


PUBLIC = Path(__file__).parent / "data" / "public"


def _public_files(trial: str) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_csv(p, dtype=str) for p in sorted((PUBLIC / trial).glob("*.csv"))}


def public_cells() -> list[Cell]:
    """Public trial data (made by tests/data/public/make_public_trials.R, which also writes R's
    reference values), configured by YAML only, as a new user would."""
    btheb = {
        "title": "Beat the Blues (HSAUR3::BtheB)",
        "design": "rct",
        "registration": "Proudfoot et al., Br J Psychiatry 2004; data from R package HSAUR3",
        "data": {"participants": "participants.csv", "id_column": "subject"},
        "arms": [
            {"id": "btheb", "label": "Beat the Blues"},
            {"id": "tau", "label": "Treatment as usual", "control": True},
        ],
        "timepoints": [
            {"id": "pre", "file": "bdi_pre.csv", "baseline": True},
            *({"id": m, "file": f"bdi_{m}.csv"} for m in ("m2", "m3", "m5", "m8")),
        ],
        "covariates": [
            {"name": "drug", "type": "categorical"},
            {"name": "length", "type": "categorical"},
        ],
        "instruments": {
            "bdi": {
                "label": "Beck Depression Inventory",
                "source": "HSAUR3",
                "prescored": {"column": "bdi", "range": [0, 63]},
            }
        },
        "outcomes": [{"id": "bdi", "instrument": "bdi", "subscale": "score", "role": "primary"}],
        "analyses": {
            "analysis_sets": ["itt"],
            "mixed_model": {"model": "ancova", "covariates": ["drug", "length"]},
        },
    }
    anorexia = {
        "title": "Anorexia treatments (MASS::anorexia)",
        "design": "quasi_experimental",
        "data": {"participants": "participants.csv", "id_column": "patient"},
        "arms": [
            {"id": "cbt", "label": "Cognitive behavioural"},
            {"id": "family", "label": "Family therapy"},
            {"id": "control", "label": "Control", "control": True},
        ],
        "timepoints": [
            {"id": "pre", "file": "weight_pre.csv", "baseline": True},
            {"id": "post", "file": "weight_post.csv"},
        ],
        "instruments": {
            "weight": {
                "label": "Weight, lb",
                "source": "MASS",
                "prescored": {"column": "weight", "range": [60, 110]},
                "decimals": True,
            }
        },
        "outcomes": [
            {"id": "weight", "instrument": "weight", "subscale": "score", "role": "primary"}
        ],
        "analyses": {"analysis_sets": ["itt"]},
    }
    birthwt = {
        "title": "Low birth weight (MASS::birthwt)",
        "design": "cross_sectional",
        "data": {"participants": "mothers.csv", "id_column": "mother"},
        "timepoints": [{"id": "survey", "file": "births.csv", "baseline": True}],
        "covariates": [
            {"name": "age", "type": "numeric"},
            {"name": "lwt", "type": "numeric"},
            {"name": "smoke", "type": "categorical"},
            {"name": "ht", "type": "categorical"},
        ],
        "instruments": {
            "low_bw": {
                "label": "Birth weight < 2.5 kg",
                "items": ["low"],
                "item_range": [0, 1],
                "subscales": {"low": {"items": "all"}},
                "categories": {
                    "low": {"label": "Low birth weight", "subscale": "low", "at_least": 1}
                },
            },
            "race": {
                "label": "Race",
                "items": ["race"],
                "item_range": [1, 3],
                "levels": {1: "White", 2: "Black", 3: "Other"},
                "subscales": {"race": {"items": "all"}},
            },
        },
        "outcomes": [
            {"id": "low", "instrument": "low_bw", "category": "low", "role": "primary"},
            {"id": "race", "instrument": "race", "subscale": "race"},
        ],
        "analyses": {
            "analysis_sets": ["itt"],
            "association": {
                "outcome": "low",
                "exposures": ["race"],
                "covariates": ["age", "lwt", "smoke", "ht"],
            },
        },
    }
    return [
        Cell(f"public_{name}", trial, _public_files(name))
        for name, trial in (("btheb", btheb), ("anorexia", anorexia), ("birthwt", birthwt))
    ]


# --- delivery groups and cluster-randomized trials ----------------------------------------

REFERENCE = Path(__file__).parent / "data" / "reference"
# Which fit in tests/data/reference/groups_lmer.json (groups_ref.R) each group cell reproduces.
GROUP_REFERENCE = {
    "groups_site_random": "repeated_site_random",
    "groups_site_fixed_age": "repeated_site_fixed_age",
    "groups_ancova": "ancova",
    "groups_ancova_1post": "ancova_one_post_site",
}
# Cluster-randomized cells (12 sites randomized 6 : 6) and their fits in groups_lmer.json.
CLUSTER_REFERENCE = {"cluster_repeated": "cluster_repeated", "cluster_ancova": "cluster_ancova"}


def _reference_trial(name: str, timepoints: list[str]) -> tuple[dict, dict[str, pd.DataFrame]]:
    """A trial file's common part and the exports of a simulated trial of groups_ref.R: the
    participants file (arm, site, group, age) and one export per timepoint with a pre-scored
    `score`."""
    long = pd.read_csv(REFERENCE / f"{name}.csv", keep_default_na=False)
    keep = [c for c in ("participant_id", "arm", "site", "group", "age") if c in long]
    files = {"participants.csv": long[keep].drop_duplicates("participant_id")}
    for tp in timepoints:
        rows = long.loc[long["timepoint"] == tp, ["participant_id", "score"]]
        files[f"score_{tp}.csv"] = rows
    arms = ["control", *sorted(set(long["arm"]) - {"control"})]
    trial = {
        "design": "rct",
        "registration": "simulated by tests/data/reference/groups_ref.R",
        "data": {"participants": "participants.csv", "site_column": "site"},
        "arms": [{"id": a, **({"control": True} if a == "control" else {})} for a in arms],
        "timepoints": [
            {"id": tp, "file": f"score_{tp}.csv", **({"baseline": True} if t == 0 else {})}
            for t, tp in enumerate(timepoints)
        ],
        "instruments": {
            "wellbeing": {
                "label": "Wellbeing score",
                "source": "simulated",
                "prescored": {"column": "score", "range": [0, 60]},
                "decimals": True,
            }
        },
        "outcomes": [
            {"id": "wellbeing", "instrument": "wellbeing", "subscale": "score", "role": "primary"}
        ],
    }
    return trial, files


def group_cells() -> list[Cell]:
    """Partially nested trials (14 coaching groups; groups_ref.R) configured in YAML only, each
    the data of one lmer fit in groups_lmer.json (GROUP_REFERENCE): site random with the
    default grouped arms; site fixed with a covariate and the grouped arms named; ANCOVA over
    two post visits; ANCOVA with one post visit and site random."""
    visits = ["baseline", "month2", "month4"]
    cells = []
    for cell_id, reference in GROUP_REFERENCE.items():
        one_post = reference == "ancova_one_post_site"
        trial, files = _reference_trial(
            "groups_trial", ["baseline", "month4"] if one_post else visits
        )
        trial["title"] = f"Matrix groups: lmer fit {reference}"
        trial["data"]["group_column"] = "group"
        mixed = {
            "model": "ancova" if reference.startswith("ancova") else "repeated",
            "site": "fixed" if cell_id == "groups_site_fixed_age" else "random",
        }
        if cell_id == "groups_site_fixed_age":
            trial["covariates"] = [{"name": "age", "type": "numeric"}]
            mixed["covariates"] = ["age"]
            mixed["groups"] = {"arms": ["coaching"]}
        if reference == "ancova":
            mixed["site"] = "none"
        trial["analyses"] = {"analysis_sets": ["itt"], "mixed_model": mixed}
        cells.append(Cell(cell_id, trial, files))
    return cells + cluster_cells()


# Power plans of the cluster cells: the fitted variance components and ICC with the default
# estimand (diff_in_means) and equal clusters; given ones, clusters of varying size, attrition
# and diff_in_change.
CLUSTER_POWER = {
    "cluster_repeated": {
        "arms": [{"id": "control"}, {"id": "coaching", "effects": {"wellbeing": 3.0}}],
        "outcomes": [{"id": "wellbeing", "from_fit": True}],
        "clusters_per_arm": [4, 8],
        "cluster_size": 20,
        "n_sims": 20,
        "chunk_size": 20,
        "seed": 12,
    },
    "cluster_ancova": {
        "arms": [
            {"id": "control"},
            {"id": "coaching", "effects": {"wellbeing": 2.0}},
            {
                "id": "peer_circle",
                "new": True,
                "label": "Peer circle",
                "effects": {"wellbeing": 1.0},
            },
        ],
        "visits": ["baseline", "month4"],
        "attrition": 0.15,
        "outcomes": [{"id": "wellbeing", "sd_participant": 4.6, "sd_residual": 4.2, "icc": 0.05}],
        "estimand": "diff_in_change",
        "clusters_per_arm": [3, 6],
        "cluster_size": 15,
        "cluster_size_cv": 0.5,
        "n_sims": 20,
        "chunk_size": 20,
    },
}


def cluster_cells() -> list[Cell]:
    """Cluster-randomized trials (design cluster_rct; groups_ref.R's cluster_trial.csv): the
    repeated-measures model and the one-post-visit ANCOVA, site random by default; each with
    a cluster-randomized power plan (CLUSTER_POWER)."""
    cells = []
    for cell_id, reference in CLUSTER_REFERENCE.items():
        trial, files = _reference_trial("cluster_trial", ["baseline", "month4"])
        trial.update(title=f"Matrix cluster trial: lmer fit {reference}", design="cluster_rct")
        model = "ancova" if reference == "cluster_ancova" else "repeated"
        trial["analyses"] = {"analysis_sets": ["itt"], "mixed_model": {"model": model}}
        trial["power"] = CLUSTER_POWER[cell_id]
        cells.append(Cell(cell_id, trial, files))
    return cells


# --- exports as survey tools write them (trialeval.ingest readers) --------------------------

# The registry's labels of the Flourishing Scale and MBI answers, and a translation of the
# former (a trial's `answer_labels`).
FS_ENGLISH = {
    1: "Strongly disagree",
    2: "Disagree",
    3: "Slightly disagree",
    4: "Mixed or neither agree nor disagree",
    5: "Slightly agree",
    6: "Agree",
    7: "Strongly agree",
}
MBI_ENGLISH = {
    0: "Never",
    1: "A few times a year or less",
    2: "Once a month or less",
    3: "A few times a month",
    4: "Once a week",
    5: "A few times a week",
    6: "Every day",
}
FS_SPANISH = {
    1: "Muy en desacuerdo",
    2: "En desacuerdo",
    3: "Algo en desacuerdo",
    4: "Ni de acuerdo ni en desacuerdo",
    5: "Algo de acuerdo",
    6: "De acuerdo",
    7: "Muy de acuerdo",
}


def _mapped_cell() -> Cell:
    """Columns not named like the registry (templates, an explicit map, the file's own id
    column), answers as labels in a translation, missing codes of the file and of the
    trial's own instrument."""
    cell = rct_cell(100, "numeric", "repeated", "random", "itt", 2)
    cell.id = "export_mapped"
    cell.trial["title"] = "Exports: mapped columns, translated labels, missing codes"
    rng = np.random.default_rng(5000)
    climate = {
        "label": "Peer climate (3 items)",
        "source": "synthetic",
        "item_prefix": "cl_",
        "items": 3,
        "item_range": [1, 5],
        "missing_codes": [9, "Does not apply"],
        "subscales": {"total": {"items": "all", "scoring": "mean"}},
    }
    cell.trial["instruments"] = {"climate": climate}
    cell.trial["outcomes"].append({"id": "climate", "instrument": "climate", "subscale": "total"})
    cell.trial["answer_labels"] = {"flourishing": FS_SPANISH}
    names = {"pid": "respondent", "mbi_8": "burnout_q1", "mbi_10": "burnout_q2"}
    names.update({f"fs_{i}": f"FS{i:02d}" for i in range(1, 9)})
    for t, tp in enumerate(cell.trial["timepoints"]):
        name = tp["file"]
        wave = cell.files[name].rename(columns=names).astype(object)
        for i in range(1, 4):
            wave[f"climate{i}"] = rng.integers(1, 6, len(wave)).astype(object)
        wave.loc[wave.index[:3], "climate1"] = 9  # the instrument's missing codes
        wave.loc[wave.index[3], "climate2"] = "does not apply"
        if t == 0:  # answers as the translated labels, a few declined
            for i in range(1, 9):
                wave[f"FS{i:02d}"] = wave[f"FS{i:02d}"].map(FS_SPANISH).astype(object)
            wave.loc[wave.index[::7], "FS03"] = "Prefiero no contestar"
        wave.loc[wave.index[1], "burnout_q2"] = -99
        wave.insert(1, "StartDate", "2024-03-01")  # a column nothing reads
        cell.files[name] = wave
        tp["file"] = {
            "path": name,
            "format": "table",
            "id_column": "respondent",
            "missing_codes": [-99, "Prefiero no contestar"],
            "columns": {
                "flourishing": "FS{item:02d}",
                "mbi_2item": {8: "burnout_q1", 10: "burnout_q2"},
                "climate": "climate{item}",
            },
        }
    return cell


REDCAP_FORMS = {"flourishing": list(FLOURISHING), "burnout": list(BURNOUT)}
STATUS_LEVELS = ("complete", "unverified", "any")


def _redcap_dictionary() -> pd.DataFrame:
    """The matrix project's data dictionary (the columns the reader uses, as REDCap names
    them); Flourishing choices as the registry labels them, burnout items coded 0-6."""
    fs = " | ".join(f"{k}, {v}" for k, v in FS_ENGLISH.items())
    mbi = " | ".join(f"{k}, {v}" for k, v in MBI_ENGLISH.items())
    rows = [(c, "flourishing", "radio", f"Flourishing item {c[3:]}", fs) for c in FLOURISHING]
    rows += [(c, "burnout", "radio", f"Burnout item {c[4:]}", mbi) for c in BURNOUT]
    columns = ["Variable / Field Name", "Form Name", "Field Type", "Field Label"]
    return pd.DataFrame(rows, columns=[*columns, "Choices, Calculations, OR Slider Labels"])


def _redcap_cell() -> Cell:
    """Every wave in one REDCap longitudinal export (a row per record x event, sites as data
    access groups), with its dictionary; each timepoint counts other form statuses; forms
    left Incomplete or Unverified with answers, and a repeating instrument's rows."""
    cell = rct_cell(101, "both", "repeated", "random", "all", 3)
    cell.id = "export_redcap"
    cell.trial["title"] = "Exports: a REDCap longitudinal export and its dictionary"
    rng = np.random.default_rng(5001)
    rows = []
    for t, tp in enumerate(cell.trial["timepoints"]):
        event = f"{tp['id']}_arm_1"
        wave = cell.files.pop(tp["file"])
        status = np.where(rng.random(len(wave)) < 0.1, "1", "2")  # some Unverified
        for k, (_, answer) in enumerate(wave.iterrows()):
            row = {"pid": answer["pid"], "redcap_event_name": event}
            row.update({c: answer[c] for form in REDCAP_FORMS.values() for c in form})
            row.update(flourishing_complete=status[k], burnout_complete="2")
            rows.append(row)
        # a form begun, never completed; a session-log instance (not a wave)
        rows.append({"pid": "P001", "redcap_event_name": event, "redcap_repeat_instrument": "log"})
        started = cell.files["participants.csv"]["pid"].iloc[-3 - t]
        if started not in set(wave["pid"]):
            rows.append(
                {
                    "pid": started,
                    "redcap_event_name": event,
                    "fs_1": 4,
                    "flourishing_complete": "0",
                    "burnout_complete": "0",
                }
            )
        tp["file"] = {
            "path": "redcap_export.csv",
            "dictionary": "redcap_dictionary.csv",
            "event": event,
            "forms_complete": STATUS_LEVELS[t],
        }
    columns = ["pid", "redcap_event_name", "redcap_repeat_instrument"]
    for form, fields in REDCAP_FORMS.items():
        columns += [*fields, f"{form}_complete"]
    cell.trial["timepoints"][0]["file"]["format"] = "redcap"
    cell.files["redcap_export.csv"] = pd.DataFrame(rows, columns=columns)
    cell.files["redcap_dictionary.csv"] = _redcap_dictionary()
    return cell


def _qualtrics(wave: pd.DataFrame, *, choice_text: bool, rng) -> pd.DataFrame:
    """A wave as a Qualtrics export: question text and ImportId rows, a preview and a test
    response first, answers as codes or as the registry's labels, the id embedded data."""
    answers = wave.rename(columns={"student": "ExternalReference"}).astype(object)
    if choice_text:
        for column in FLOURISHING:
            answers[column] = answers[column].map(FS_ENGLISH, na_action="ignore")
    status = {"0": "IP Address", "1": "Survey Preview", "2": "Survey Test"}
    fake = {c: 4 if c in FLOURISHING else 3 for c in [*FLOURISHING, *BURNOUT]}
    trial_rows = pd.DataFrame([{**fake, "ExternalReference": ""}] * 2)
    frame = pd.concat([trial_rows, answers], ignore_index=True)
    codes = ["1", "2"] + ["0"] * len(answers)
    frame.insert(0, "Status", [status[c] for c in codes] if choice_text else codes)
    frame.insert(1, "Finished", np.where(rng.random(len(frame)) < 0.1, "0", "1"))
    frame.insert(2, "ResponseId", [f"R_{k:06d}" for k in range(len(frame))])
    questions = {c: f"Question {c}" for c in frame.columns}
    imports = {c: f'{{"ImportId":"QID_{c}"}}' for c in frame.columns}
    return pd.concat([pd.DataFrame([questions, imports]), frame], ignore_index=True)


def _qualtrics_cell() -> Cell:
    """Pre/post waves as Qualtrics exports (numeric values, then choice text), the id in
    ExternalReference; one declared `format: qualtrics`, the other detected."""
    cell = quasi_cell(104, "numeric", "confounder", "itt", 2)
    cell.id = "export_qualtrics"
    cell.trial["title"] = "Exports: Qualtrics pre/post waves, numeric and choice text"
    rng = np.random.default_rng(5002)
    for t, tp in enumerate(cell.trial["timepoints"]):
        name = f"qualtrics_{tp['id']}.csv"
        cell.files[name] = _qualtrics(cell.files.pop(tp["file"]), choice_text=t == 1, rng=rng)
        tp["file"] = {"path": name, "id_column": "ExternalReference"}
    cell.trial["timepoints"][0]["file"]["format"] = "qualtrics"
    return cell


@dataclass
class StatisticsFileCell(Cell):
    """A cell some of whose files are SPSS .sav or Stata .dta (written with pyreadstat):
    {file name: writer options (value labels, missing values)}; the frames are in `files`."""

    statistics_files: dict[str, dict] = field(default_factory=dict)

    def write(self, root: Path) -> None:
        import pyreadstat

        super().write(root)
        data = self.trial["data"]
        data_dir = root / data["dir"] if "dir" in data else root / "data" / "raw" / self.id
        for name, options in self.statistics_files.items():
            writer = pyreadstat.write_sav if name.endswith(".sav") else pyreadstat.write_dta
            writer(self.files[name], data_dir / name, **options)


SPSS_GENDER_LABEL = "Gender identity"  # its variable label; the trial file gives none
SPSS_NOT_SAID = 9.0  # gender "Prefer not to say": a user-missing value
SPSS_NOT_SAID_ROWS = [2, 11, 30]


def _spss_cell() -> StatisticsFileCell:
    """A survey whose frame and responses are SPSS files: gender and belonging coded with
    value labels, a user-missing "refused" code (99) on the belonging items and "prefer not
    to say" (9) on gender; gender named in Table 1 by its variable label."""
    base = survey_cell(105, "categorical", "itt", False)
    frame = base.files["surveyed.csv"].copy()
    genders = {"F": 1.0, "M": 2.0, "NB": 3.0}
    frame["gender"] = frame["gender"].map(genders)
    frame.loc[SPSS_NOT_SAID_ROWS, "gender"] = SPSS_NOT_SAID
    wave = base.files["responses.csv"].copy()
    items = [*BURNOUT, *BELONGING]
    wave[items] = wave[items].astype(float)
    wave.loc[wave.index[::9], "belong_school"] = 99.0
    belonging = {1.0: "Very weak", 2.0: "Somewhat weak", 3.0: "Somewhat strong"}
    belonging.update({4.0: "Very strong", 99.0: "Refused"})
    cell = StatisticsFileCell("export_spss", base.trial, {"surveyed.sav": frame})
    cell.files["responses.sav"] = wave
    cell.trial["title"] = "Exports: SPSS files with value labels and user-missing values"
    cell.trial["data"]["participants"] = "surveyed.sav"
    cell.trial["timepoints"][0]["file"] = {"path": "responses.sav", "format": "spss"}
    del cell.trial["covariates"][0]["label"]
    gender_labels = {v: k for k, v in genders.items()} | {SPSS_NOT_SAID: "Prefer not to say"}
    cell.statistics_files = {
        "surveyed.sav": {
            "variable_value_labels": {"gender": gender_labels},
            "missing_ranges": {"gender": [SPSS_NOT_SAID]},
            "column_labels": {"gender": SPSS_GENDER_LABEL},
        },
        "responses.sav": {
            "variable_value_labels": {c: belonging for c in BELONGING},
            "missing_ranges": {c: [99.0] for c in BELONGING},
        },
    }
    return cell


def _stata_cell() -> StatisticsFileCell:
    """An rct whose participants and waves are Stata files: arms coded 1-3 and labelled with
    the arm ids, extended missing values (.r) as refusals."""
    base = rct_cell(106, "numeric", "ancova_1post", "none", "itt", 3)
    people = base.files["participants.csv"].copy()
    arm_codes = {a: float(k) for k, a in enumerate(ARM_IDS, start=1)}
    people["arm"] = people["arm"].map(arm_codes)
    cell = StatisticsFileCell("export_stata", base.trial, {"participants.dta": people})
    cell.trial["title"] = "Exports: Stata files, labelled arms and extended missing values"
    cell.trial["data"]["participants"] = "participants.dta"
    options = {
        "participants.dta": {
            "variable_value_labels": {"arm": {v: k.upper() for k, v in arm_codes.items()}}
        }
    }
    for t, tp in enumerate(cell.trial["timepoints"]):
        wave = base.files[tp["file"]].copy()
        items = [*FLOURISHING, *BURNOUT]
        wave[items] = wave[items].astype(float)
        wave["fs_3"] = wave["fs_3"].astype(object)
        wave.loc[wave.index[1 + t], "fs_3"] = "r"  # .r: refused
        name = f"wave_{tp['id']}.dta"
        cell.files[name] = wave
        options[name] = {"missing_user_values": {"fs_3": ["r"]}}
        tp["file"] = {"path": name, "format": "stata"} if t else name
    cell.statistics_files = options
    return cell


# A REDCap project with an event schedule per randomized arm (arm 1: ctl, arm 2: coach):
# enrolment and randomization on the baseline event, disposition on a study-exit event.
PEOPLE_ARMS = {"ctl": "1", "coach": "2"}
PEOPLE_GENDERS = {"F": "1", "M": "2", "NB": "3"}
AGE_LABEL = "Age at enrolment (years)"  # the dictionary's; the trial file gives age no label


def redcap_people_source() -> Cell:
    """The CSV trial that export_redcap_people holds as one REDCap export."""
    return scores_only(rct_cell(107, "both", "ancova_1post", "random", "all", 2))


def _people_dictionary() -> pd.DataFrame:
    fs = " | ".join(f"{k}, {v}" for k, v in FS_ENGLISH.items())
    mbi = " | ".join(f"{k}, {v}" for k, v in MBI_ENGLISH.items())
    genders = " | ".join(f"{v}, {k}" for k, v in PEOPLE_GENDERS.items())
    rows = [
        ("pid", "enrolment", "text", "Record ID", ""),
        ("arm", "enrolment", "radio", "Randomized to", "1, Ctl | 2, Coach"),
        ("age", "enrolment", "text", f"<b>{AGE_LABEL}</b>", ""),
        ("gender", "enrolment", "dropdown", "Gender identity", genders),
        ("withdrew", "disposition", "yesno", "Withdrew consent", ""),
        ("sessions", "disposition", "text", "Sessions attended", ""),
    ]
    rows += [(c, "flourishing", "radio", f"Flourishing item {c[3:]}", fs) for c in FLOURISHING]
    rows += [(c, "burnout", "radio", f"Burnout item {c[4:]}", mbi) for c in BURNOUT]
    columns = ["Variable / Field Name", "Form Name", "Field Type", "Field Label"]
    return pd.DataFrame(rows, columns=[*columns, "Choices, Calculations, OR Slider Labels"])


def _people_rows(person, answers: dict[str, pd.Series | None]) -> list[dict]:
    """One record's rows: baseline (enrolment + survey forms), month 4 when answered, exit."""
    arm = PEOPLE_ARMS[person["arm"]]
    common = {"pid": person["pid"], "redcap_data_access_group": person["site"]}
    rows = []
    for event, answer in answers.items():
        row = {**common, "redcap_event_name": f"{event}_arm_{arm}"}
        if event == "baseline":
            row.update(arm=arm, age=person["age"], gender=PEOPLE_GENDERS[person["gender"]])
            row["enrolment_complete"] = "2"
        elif answer is None:
            continue  # month 4 not answered: no row
        for form, fields in REDCAP_FORMS.items():
            if answer is not None:
                row.update({c: answer[c] for c in fields})
            row[f"{form}_complete"] = "0" if answer is None else "2"
        rows.append(row)
    withdrew = {"yes": "1", "no": "0"}[person["withdrew"]]
    exit_row = {**common, "redcap_event_name": f"study_exit_arm_{arm}", "withdrew": withdrew}
    rows.append({**exit_row, "sessions": person["sessions"], "disposition_complete": "2"})
    return rows


def _redcap_people_cell() -> Cell:
    """Participants and waves in one REDCap longitudinal export with an event schedule per
    REDCap arm: the arm, site (data access group), age and gender on the baseline event,
    withdrawal and sessions on a study-exit event, merged per record (no `event`); each
    timepoint reads its event in both arms. Age is labelled by the dictionary in Table 1,
    gender by the trial file (which wins)."""
    base = redcap_people_source()
    trial = yaml.safe_load(yaml.safe_dump(base.trial))
    trial["title"] = "Exports: participants from REDCap fields on several events"
    del next(c for c in trial["covariates"] if c["name"] == "age")["label"]
    common = {"path": "redcap_export.csv", "dictionary": "redcap_dictionary.csv"}
    trial["data"].update(participants=dict(common), site_column="redcap_data_access_group")
    waves = {tp["id"]: base.files[tp["file"]].set_index("pid") for tp in trial["timepoints"]}
    for tp in trial["timepoints"]:
        tp["file"] = {**common, "event": [f"{tp['id']}_arm_{n}" for n in (1, 2)]}
    rows = []
    for _, person in base.files["participants.csv"].iterrows():
        answers = {
            tp: wave.loc[person["pid"]] if person["pid"] in wave.index else None
            for tp, wave in waves.items()
        }
        rows += _people_rows(person, answers)
    columns = ["pid", "redcap_event_name", "redcap_data_access_group"]
    columns += ["arm", "age", "gender", "enrolment_complete"]
    columns += ["withdrew", "sessions", "disposition_complete"]
    for form, fields in REDCAP_FORMS.items():
        columns += [*fields, f"{form}_complete"]
    files = {
        "redcap_export.csv": pd.DataFrame(rows, columns=columns),
        "redcap_dictionary.csv": _people_dictionary(),
    }
    return Cell("export_redcap_people", trial, files)


def export_cells() -> list[Cell]:
    """Exports as REDCap, Qualtrics, SPSS and Stata write them, and columns and answers not
    named or coded like the registry, configured by YAML only."""
    return [
        _mapped_cell(),
        _redcap_cell(),
        _redcap_people_cell(),
        _qualtrics_cell(),
        _spss_cell(),
        _stata_cell(),
    ]
