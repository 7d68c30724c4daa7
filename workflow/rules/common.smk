# Shared set-up: validate the configuration, resolve each trial, check the raw data.
# All of this runs when the DAG is built, so a bad config or export stops the run before any
# job starts, with one line per problem naming the file and the key, row, column or value.
import os
import sys
from functools import partial
from pathlib import Path

# The importable library lives in workflow/: importable here and, through PYTHONPATH, in every
# job's script (also in a per-rule conda env), with or without `pip install -e .`.
LIBRARY_DIR = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, LIBRARY_DIR)
# One BLAS thread per job: Snakemake already runs jobs in parallel, and jobs that each start a
# thread per core oversubscribe the machine (measured: 1.4x slower at 100,000 participants).
os.environ.update(PYTHONPATH=LIBRARY_DIR, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
ENV = "../envs/trialeval.yaml"
# Floor modules every stage stands on; `library(...)` adds a stage's own modules.
FLOOR = ("__init__", "errors", "config", "io", "design", "effects", "delivery")


def library(*modules):
    """Library source files a rule's script runs, declared as inputs: a code change re-runs
    exactly the jobs it affects."""
    return [f"workflow/trialeval/{m}.py" for m in (*FLOOR, *modules)]


from trialeval.checks import check_trials  # noqa: E402
from trialeval.config import (  # noqa: E402
    check_config,
    has_effects_supplement,
    has_imputation,
    has_reliability,
    load_trials,
    outcome_analyses,
    raw_files,
    report_items,
)
from trialeval.errors import TrialInputError  # noqa: E402
from trialeval.evaluation_config import evaluation_files  # noqa: E402
from trialeval.stage_config import (  # noqa: E402
    for_stage,
    stage_settings,
    write_settings,
)

SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"

try:
    check_config(config, SCHEMAS / "config.schema.yaml", list(workflow.configfiles))
    TRIALS = load_trials(config, SCHEMAS)
    # Every input of every trial read as ingest reads it (a stamp skips unchanged inputs).
    check_trials(TRIALS, stamp_dir=Path(".snakemake") / "trialeval")
except TrialInputError as error:
    # The problems alone: a Python stack would bury them, and they are all the user needs.
    print(error, file=sys.stderr)
    sys.exit(1)
RESULTS = config["results_dir"]
# disclosure control of the shared outputs (workflow/rules/disclosure.smk); None when off
DISCLOSURE = (config.get("disclosure") or {}).get("min_cell")


def settings_file(stage):
    """Input function: the trial's settings file for ``stage`` (its view of the trial spec and
    the global options it reads, written below). Snakemake re-runs a job when it changes, so an
    edit re-runs only the stages that read it."""
    return lambda wildcards: f"{RESULTS}/{wildcards.trial}/stage_config/{stage}.json"


def raw_inputs(wildcards):
    """Every raw file a trial's ingest reads. The trial and instrument YAML files are not
    inputs: what ingest reads of them arrives, resolved, in its settings file."""
    return {"raw": raw_files(TRIALS[wildcards.trial])}


def analysis_inputs(wildcards):
    """Inputs of every analysis rule: scores, participants and analysis-set flags."""
    trial = f"{RESULTS}/{wildcards.trial}"
    return {
        "scores": f"{trial}/interim/scores.parquet",
        "participants": f"{trial}/interim/participants.parquet",
        "sets": f"{trial}/interim/analysis_sets.parquet",
    }


def analyses_run(spec):
    """Which analysis jobs (one per analysis, fitting every outcome) a trial has."""
    plan = outcome_analyses(spec)
    return {
        "mixed_model": bool(plan["mixed_model"]),
        "prepost": bool(plan["prepost"]),
        "association": bool(spec["analyses"]["association"]),
        "cohort": spec["design"] == "cohort_comparison",
    }


ANALYSIS_PARTS = {
    "mixed_model": ("effects", "means", "diagnostics", "model_n"),
    "prepost": ("effects", "summary", "model_n"),
    "association": ("effects", "counts", "model_n"),
    "cohort": ("effects", "summary", "model_n"),
}
SENSITIVITY_PARTS = ("effects", "means", "diagnostics", "model_n")


def analysis_parts(wildcards):
    """Every analysis output of a trial, by the design's plan; and each named sensitivity
    analysis's (one job each)."""
    spec = TRIALS[wildcards.trial]
    runs = analyses_run(spec)
    parts = f"{RESULTS}/{wildcards.trial}/parts"
    return {
        **{
            analysis: (
                [f"{parts}/{analysis}.{kind}.csv" for kind in kinds]
                if runs[analysis]
                else []
            )
            for analysis, kinds in ANALYSIS_PARTS.items()
        },
        "sensitivity": [
            f"{parts}/sensitivity.{a['name']}.{kind}.csv"
            for a in spec["analyses"]["sensitivity"]
            for kind in SENSITIVITY_PARTS
        ],
    }


# Outputs of earlier stages that tables and figures are drawn from, by name.
STAGE_OUTPUTS = {
    "participants": "interim/participants.parquet",
    "covariate_labels": "interim/covariate_labels.json",
    "sets": "interim/analysis_sets.parquet",
    "scores": "interim/scores.parquet",
    "effects": "effects.csv",
    "model_n": "model_n.csv",
    "consort": "consort.json",
    "estimands": "estimands.json",
    "means": "tables/adjusted_means.csv",
    "sensitivity_means": "tables/sensitivity_means.csv",
    "reliability": "tables/reliability.csv",
    "prepost_summary": "tables/prepost_summary.csv",
    "association_counts": "tables/association_counts.csv",
    "cohort_summary": "tables/cohort_summary.csv",
    # a list: the imputation part of each sensitivity analysis with multiple imputation
    "imputation": None,
}
TABLE_INPUTS = {
    "table1": ["participants", "covariate_labels", "sets", "scores", "consort"],
    "effects_table": [
        "effects",
        "means",
        "sensitivity_means",
        "prepost_summary",
        "model_n",
    ],
    "effects_supplement": [
        "effects",
        "means",
        "sensitivity_means",
        "prepost_summary",
        "model_n",
    ],
    "prepost_table": ["prepost_summary", "effects"],
    "association_table": ["effects", "association_counts"],
    "cohort_table": ["effects", "cohort_summary"],
    "reliability_table": ["reliability"],
    "missingness_table": ["consort"],
    "tipping_point": ["imputation"],
}
FIGURE_INPUTS = {
    "consort": ["consort", "scores", "sets", "model_n"],
    "trajectories": ["means", "consort"],
    "forest": ["effects", "scores", "sets", "model_n"],
    "change_distributions": ["scores", "sets"],
    "odds_ratio_forest": ["effects", "association_counts", "covariate_labels"],
    "cohort_prevalence": ["effects", "cohort_summary"],
    "tipping_point": ["imputation"],
}


def stage_inputs(wildcards, names):
    """Named outputs of earlier stages of one trial (what tables and figures are drawn from)."""
    return {
        name: (
            imputation_parts(wildcards.trial)
            if name == "imputation"
            else f"{RESULTS}/{wildcards.trial}/{STAGE_OUTPUTS[name]}"
        )
        for name in names
    }


def imputation_parts(trial):
    """The every-delta tables of a trial's sensitivity analyses with multiple imputation."""
    return [
        f"{RESULTS}/{trial}/parts/sensitivity.{a['name']}.imputation.csv"
        for a in TRIALS[trial]["analyses"]["sensitivity"]
        if a.get("imputation")
    ]


def disclosure_plan(wildcards):
    """The trial's suppression plan, an input of every job printing counts (when on)."""
    if DISCLOSURE is None:
        return {}
    return {"disclosure": f"{RESULTS}/{wildcards.trial}/interim/disclosure.json"}


def disclosure_inputs(wildcards):
    """What the disclosure job reads: the inputs of the trial's count tables (and consort)."""
    from trialeval.disclosure import source_inputs

    kinds = report_items(TRIALS[wildcards.trial])["tables"]
    return stage_inputs(wildcards, source_inputs(kinds))


def inputs_of(needs, kinds):
    """The union, in a stable order, of the stage outputs some tables or figures need."""
    return sorted({name for kind in kinds for name in needs[kind]})


def layout_of(spec):
    """The name of a trial's set of tables and figures (its tables and figures rules): the
    design's, or the design's with the tipping-point table and figure (some sensitivity
    analysis has multiple imputation), without the reliability table (no outcome with a
    multi-item subscale), with Table S1 (further estimates beside Table 2's). Rule outputs
    are static, hence one rule per layout.
    """
    return (
        spec["design"]
        + ("_imputation" if has_imputation(spec) else "")
        + ("" if has_reliability(spec) else "_no_reliability")
        + ("_supplement" if has_effects_supplement(spec) else "")
    )


# {layout: the report_items of its trials}, and which trials have each layout
LAYOUTS = {layout_of(spec): report_items(spec) for spec in TRIALS.values()}
LAYOUTS = {layout: LAYOUTS[layout] for layout in sorted(LAYOUTS)}


def trials_of_layout(layout):
    """Wildcard pattern matching the trials of one layout."""
    return "|".join(t for t, spec in TRIALS.items() if layout_of(spec) == layout)


def trial_outputs(trial):
    """Every table and figure file one trial's design calls for (requested by the all target)."""
    items = report_items(TRIALS[trial])
    base = f"{RESULTS}/{trial}"
    return (
        [
            f"{base}/tables/{t}.{ext}"
            for t in items["tables"] + items["supplementary_tables"]
            for ext in TABLE_FORMATS
        ]
        + [
            f"{base}/figures/{f}.{ext}"
            for f in items["figures"]
            for ext in FIGURE_FORMATS
        ]
        + [f"{base}/figures/notes.json"]
    )


TABLE_FORMATS = ("csv", "md", "html", "docx")
FIGURE_FORMATS = ("png", "svg")


def provenance_inputs(wildcards):
    """Every raw input and config file of the run, and the demo's truth files."""
    raw, truth = [], []
    for spec in TRIALS.values():
        raw += raw_files(spec) + evaluation_files(spec)
        candidate = Path(spec["data_dir"]) / "truth.yaml"
        if candidate.is_file():
            truth.append(str(candidate))
    configs = [
        config["instruments"],
        *(spec["config_file"] for spec in TRIALS.values()),
    ]
    configs += [str(p) for p in workflow.configfiles]
    return {"raw": sorted(set(raw)), "config": sorted(set(configs)), "truth": truth}


# Power simulation (workflow/rules/power.smk): trials whose file has a `power` block.
POWER_TRIALS = [t for t, spec in TRIALS.items() if spec.get("power")]


def power_fit_inputs(wildcards):
    """The fitted model's diagnostics, when an outcome takes its variance components from it."""
    if not TRIALS[wildcards.trial]["power"]["from_fit"]:
        return {}
    return {"diagnostics": f"{RESULTS}/{wildcards.trial}/tables/model_diagnostics.csv"}


def power_chunks(wildcards):
    """Every chunk of simulated trials of a trial's power block: size x chunk (a size is
    n<total N>, or k<clusters per arm> in a cluster-randomized plan)."""
    plan = TRIALS[wildcards.trial]["power"]
    return [
        f"{RESULTS}/{wildcards.trial}/parts/power/{point}.chunk{c}.csv"
        for point in plan["points"]
        for c in range(plan["n_chunks"])
    ]


def write_stage_settings():
    """Every job's settings file, written now (when the DAG is built) and rewritten only when
    its content changes (trialeval.stage_config)."""
    options = {"alpha": config["alpha"], "multiplicity": config["multiplicity"]}
    for trial, spec in TRIALS.items():
        items = report_items(spec)
        stages = ["ingest", "score", "analysis_sets", "effects", "tables", "figures"]
        stages += [analysis for analysis, runs in analyses_run(spec).items() if runs]
        if DISCLOSURE is not None:
            stages.append("disclosure")
        for stage in stages:
            kinds = items.get("tables" if stage == "disclosure" else stage)
            if stage == "tables":
                kinds = kinds + items["supplementary_tables"]
            settings = stage_settings(spec, stage, options, kinds=kinds)
            write_settings(settings, f"{RESULTS}/{trial}/stage_config/{stage}.json")
        for named in spec["analyses"][
            "sensitivity"
        ]:  # one job per sensitivity analysis
            settings = stage_settings(
                spec, "sensitivity", options, analysis=named["name"]
            )
            path = f"{RESULTS}/{trial}/stage_config/sensitivity.{named['name']}.json"
            write_settings(settings, path)
        if spec.get("power"):
            power = {"plan": spec["power"]}
            write_settings(power, f"{RESULTS}/{trial}/stage_config/power.json")
    views = {trial: for_stage(spec, "report") for trial, spec in TRIALS.items()}
    write_settings({"trials": views}, f"{RESULTS}/stage_config/report.json")
    write_settings(
        {"repo": workflow.basedir}, f"{RESULTS}/stage_config/provenance.json"
    )


write_stage_settings()
