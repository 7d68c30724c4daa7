# Helpers of the evaluation rules (workflow/rules/evaluation.smk): their output files, their
# settings files and the check of their inputs, all run when the DAG is built.
from trialeval.config import report_items
from trialeval.evaluation_config import (
    SPEC_KEYS,
    check_evaluation,
    evaluation_files,
    evaluation_outputs,
)

EVALUATION_TRIALS = [t for t, spec in TRIALS.items() if spec.get("respondent_groups")]


def evaluation_paths(trial):
    """Every file the evaluation job of a trial writes (none without respondent groups)."""
    spec = TRIALS[trial]
    if not spec.get("respondent_groups"):
        return []
    made = evaluation_outputs(spec)
    base = f"{RESULTS}/{trial}"
    paths = [
        f"{base}/tables/{t}.{ext}" for t in made["tables"] for ext in TABLE_FORMATS
    ]
    paths += [
        f"{base}/figures/{f}.{ext}" for f in made["figures"] for ext in FIGURE_FORMATS
    ]
    paths.append(f"{base}/tables/evaluation_answers.csv")
    if spec.get("free_text"):
        paths += [f"{base}/coding/coding_sheet.{ext}" for ext in ("csv", "xlsx")]
    return paths


def write_evaluation_settings():
    """The evaluation job's settings: its keys of the trial spec, alpha, and the number of
    its first table (after the design's tables, so the report's numbers do not clash).
    """
    for trial in EVALUATION_TRIALS:
        spec = TRIALS[trial]
        view = {k: spec[k] for k in ("id", "title", "config_file", *SPEC_KEYS)}
        view["disclosure"] = spec.get("disclosure")  # the evaluation tables' own plan
        settings = {
            "trial": view,
            "alpha": config["alpha"],
            "first_table": len(report_items(spec)["tables"]) + 1,
        }
        write_settings(settings, f"{RESULTS}/{trial}/stage_config/evaluation.json")


write_evaluation_settings()
# Rosters, answers and coded sheets read as the jobs will: bad input stops the run here, before
# any job, with one line per problem.
try:
    check_evaluation(TRIALS, RESULTS, stamp_dir=Path(".snakemake") / "trialeval")
except TrialInputError as error:
    print(error, file=sys.stderr)
    sys.exit(1)


REPORTED = {".html": "tables", ".png": "figures"}


def evaluation_rule_outputs(trial):
    """The evaluation rule's outputs, the HTML tables and PNG figures marked for Snakemake's
    report (never the coding sheet: it holds the free text)."""
    return [
        (
            _reported(path, trial)
            if Path(path).suffix in REPORTED and "/coding/" not in path
            else path
        )
        for path in evaluation_paths(trial)
    ]


def _reported(path, trial):
    kind = REPORTED[Path(path).suffix]
    caption = f"../report/{kind}/evaluation.rst"
    return report(path, caption=caption, category=trial, subcategory=kind.capitalize())
