"""The one exception bad input raises, and the collector that lets a run report every problem
it finds at once instead of stopping at the first."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

# Problems listed in full; beyond this a run reports how many more there are.
SHOWN = 20


class TrialInputError(ValueError):
    """A config file or raw export is not what the pipeline expects.

    Each problem is one line that names the file, the key / row / column, the value and what
    was expected, so a researcher can fix the input without reading code. `more` counts
    problems found beyond the ones listed.
    """

    def __init__(self, problems: str | Iterable[str], more: int = 0):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.more = more
        super().__init__(describe(self.problems, more))


def describe(problems: list[str], more: int = 0) -> str:
    """One problem as itself; several as a count and one indented line each."""
    if len(problems) == 1 and not more:
        return problems[0]
    total = len(problems) + more
    lines = [
        f"{total} problems in the input data" + (f", the first {len(problems)}:" if more else ":")
    ]
    lines += [f"  {p}" for p in problems]
    if more:
        lines.append(f"  ... and {more} more")
    return "\n".join(lines)


class Problems:
    """Collects input problems: the first SHOWN in full, the rest counted."""

    def __init__(self, limit: int = SHOWN):
        self.limit = limit
        self.shown: list[str] = []
        self.more = 0
        self._seen: set[str] = set()

    @property
    def total(self) -> int:
        return len(self.shown) + self.more

    def __bool__(self) -> bool:
        return self.total > 0

    def add(self, problem: str) -> None:
        """One problem; the very same line again (one export read for two timepoints finds
        its problems twice) is not listed twice."""
        if problem in self._seen:
            return
        self._seen.add(problem)
        if len(self.shown) < self.limit:
            self.shown.append(problem)
        else:
            self.more += 1

    def extend(self, problems: Iterable[str], total: int) -> None:
        """Add `total` problems, of which only as many messages are built as will be shown."""
        room = max(self.limit - len(self.shown), 0)
        taken = list(islice(problems, min(room, total)))
        self.shown.extend(taken)
        self.more += total - len(taken)

    def absorb(self, error: TrialInputError) -> None:
        for problem in error.problems:
            self.add(problem)
        self.more += error.more

    def raise_if_any(self) -> None:
        if self:
            raise TrialInputError(self.shown, self.more)
