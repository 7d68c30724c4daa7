"""trialeval: reproducible evaluation of wellbeing-intervention trials for medical learners.

One module per pipeline stage (ingest, with exports reading the raw files; instruments,
analysis_sets, models, prepost, association, effects, tables, figures, report, provenance,
power, simulate) on a small shared floor (errors, config, io, design, formatting, regression,
mixed); checks runs ingest's reading of every input when the DAG is built. Stages do not import
each other sideways; data flow one way: raw exports -> items -> scores -> analysis sets ->
effects -> tables/figures -> report.
"""

__version__ = "0.1.0"
