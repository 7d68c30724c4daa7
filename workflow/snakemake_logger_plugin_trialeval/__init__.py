"""Snakemake logger plugin `trialeval`: a short console view of a pipeline run.

Snakemake's own view lists every job with all of its inputs (library modules are inputs, so
about 13 paths a job): some 600 lines for the demo. This view prints the number of jobs, a
progress line per tenth of them, every warning and error in Snakemake's own words, other
messages (lint, "Nothing to be done", where the complete log is), but not the per-job
narrative or the scheduler's chatter. Dry runs (`-n`) print as Snakemake prints them, since
their point is the plan. The complete log of every run is still written to .snakemake/log/.

The project's default profile (profiles/default/config.yaml) selects it; `pip install -e .`
installs it (Snakemake finds logger plugins by this module name).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

# Events of the per-job narrative that this view leaves to the log file.
_PER_JOB = {
    LogEvent.WORKFLOW_STARTED,
    LogEvent.JOB_INFO,
    LogEvent.JOB_STARTED,
    LogEvent.JOB_FINISHED,
    LogEvent.GROUP_INFO,
    LogEvent.SHELLCMD,
    LogEvent.RESOURCES_INFO,
    LogEvent.RULEGRAPH,
    LogEvent.DEBUG_DAG,
}
# Plain messages of the scheduler that say nothing to a reader; any other message is shown
# (e.g. "Nothing to be done", the log's path, `--lint` and `--summary` output).
_SCHEDULER_CHATTER = (
    "Assuming unrestricted shared filesystem",
    "Building DAG of jobs",
    "Using shell:",
    "Provided cores:",
    "Rules claiming more threads",
    "Conda environments: ignored",
    "Singularity containers: ignored",
    "Select jobs to execute",
    "Execute ",
    "Waiting at most",
)


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    pass


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self.stream = sys.stdout if self.common_settings.stdout else sys.stderr
        self.tenths_shown = -1

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's filter: honours --quiet, --verbose and --printshellcmds

    @property
    def has_formatter(self) -> bool:
        return False  # Snakemake's formatter, for the errors shown in its own words

    @property
    def needs_rulegraph(self) -> bool:
        return False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self._line(record)
            if line:
                self.stream.write(line + "\n")
                self.stream.flush()
        except Exception:
            self.handleError(record)

    def _line(self, record: logging.LogRecord) -> str | None:
        event = getattr(record, "event", None)
        if self.common_settings.dryrun or record.levelno >= logging.WARNING:
            return self.format(record)
        if event == LogEvent.RUN_INFO:
            stats = getattr(record, "stats", {})
            total = stats.get("total", sum(stats.values()))
            return f"{total} jobs to run; full log in .snakemake/log/"
        if event == LogEvent.PROGRESS:
            return self._progress(record.done, record.total)
        if event in _PER_JOB:
            return None
        message = record.getMessage() if record.msg else ""
        return None if not message or message.startswith(_SCHEDULER_CHATTER) else message

    def _progress(self, done: int, total: int) -> str | None:
        tenths = 10 * done // max(total, 1)
        if tenths == self.tenths_shown:
            return None
        self.tenths_shown = tenths
        return f"{done} of {total} jobs done ({100 * done // max(total, 1)}%)"
