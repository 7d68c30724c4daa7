"""Disclosure control: small counts in shared outputs print as "<k" (config `disclosure`).

A table shared with a department can identify a person: a site with four fellows, a
gender level with two residents. With `disclosure: {min_cell: k}` in config.yaml every count
of the trial's shared count tables (Table 1, the survey-completion, pre/post and association
tables, Table 2's n/N of binary outcomes and its model n, the forest plot's n, the cohort
table and figure, the CONSORT diagram and the report's participant flow and model
diagnostics) that is at least 1 and below k prints as "<k". Complementary suppression then
withholds enough other counts that none can be worked out from the totals, within a table
and across the trial's tables.

The model of a trial's counts (`Counts`):

- a *fact* is one count of participants, named by a key that is the same in every table
  that prints it ("analysed/itt/coaching" is Table 1's n, the CONSORT box and the
  completion table's N); a fact is withheld or printed alike everywhere;
- a *sum* says a fact is the sum of others (a column total, the Overall column, allocated =
  withdrawn + intention-to-treat); an intruder with the printed cells can solve these;
- a *hidden* fact prints nowhere but enters sums (Table 1's participants without a yes/no
  characteristic: the column's n less the yes and the missing).

Rules (`plan`):

- primary: a fact with 0 < n < k, printed or hidden (a hidden one may be derived);
- zeros print. A zero names no one: "0 of the 4 fellows at site A are LGBTQ+" is said of a
  group whose total (4) is itself withheld; of a group of k or more it says what the
  threshold accepts. Since zeros print, a withheld count is known to be at least 1;
- complementary: solving the sums one at a time (a sum with one unknown term gives it, and
  what it gives is known to the next sums, through hidden facts too), no withheld fact may be
  reached; where one is, the printed fact of at least k that the derivation used and that
  appears in the fewest sums (then the smallest, then by key) is withheld, to a fixed point.
  Then every withheld fact is audited by linear programming over every sum of every table of
  the trial (`feasible_intervals`); where one is still pinned to a single value (two
  suppression cycles joined by one cell pass the one-sum rule), the printed fact of its sums
  that widens it is withheld and the audit repeats. Last, each complementary suppression a
  later choice made redundant prints again (`_release`), so that none can be printed alone;
- primary suppressions print "<k"; complementary ones "≥k" (they are k or more: printing
  "<k" would be false). What the markers say (a "<k" is 1 to k - 1, a "≥k" at least k) is
  what the audit assumes the intruder knows;
- a percentage prints only with its count and its denominator (a percentage of a printed
  count gives its denominator back), and Table 1 prints no SMD for a variable with a withheld
  percentage.

The counts of the trial file's `flow` block (consort.json `eligibility`, `received` /
`not_received`, `withdrawn_reasons`, `not_assessed_reasons`) are consort facts with their
sums (`_flow_facts`): assessed for eligibility = enrolled + excluded, excluded = its reasons,
a delivering arm's allocated = received + not received, withdrawn and not assessed at the
last timepoint = their reasons.

The n of the model rows (Table 2, the forest plot, the model diagnostics) are counts like any
other: each effects row's n is a fact (`effects_n_key`), the sum of the arms' model n or N,
linked to the rows of its analysis set and outcome with the same n and, through the arms'
model n (`model_n_facts`), to the analysis sets' counts and to the other sets' models.

Not withheld: model estimates (effects, adjusted means, CIs, P values), Table 1's means and
SDs, and the analyst's files (effects.csv, consort.json, interim/, parts/), which stay
complete. A percentage with a Wilson CI (cohort table, evaluation tables) goes with its
withheld count; a figure of percentages leaves the point or bar out
(cohort_tables.withhold_prevalence, evaluation_figures._withheld), an evaluation bar printing
merged into three blocks where that is safe (`merge_blocks`).

An estimate that is a function of counts alone (unadjusted risk ratio and difference, the
cohort trend, an odds ratio without covariates: `estimate_count_keys`) prints as a dash
where a count it uses is withheld, and the notes of shared outputs print no small count
(`shared_effects`, `shared_note`). The report's participants with an intercurrent event
are facts of the plan (`intercurrent_facts`), the observations after it printed beside them
(`observation_count`).

The programme-evaluation tables share no count with the trial's: the evaluation job plans
them itself (`evaluation_plan`, over `evaluation_facts`).

Registering a new count table (an evaluation table, say): write `facts(spec, inputs,
counts)` adding the table's cells and totals with `add_table` (keys shared with the facts
other tables print, e.g. `consort_key("analysed", "itt", arm)`), put it in `SOURCES` under
the table's kind with the stage inputs it reads (common.smk gives the disclosure job the
inputs of the kinds a trial has), and print each cell through the plan: `plan =
load(inputs.get("disclosure"))`, `plan.count(key, n)`, `plan.hides(key)` before printing a
percentage; or add a masker to `apply`, which tables.run calls for every table. A count no
source registered, printed through the plan, gets the primary rule alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from trialeval.errors import TrialInputError

PLAN_VERSION = 1


# --------------------------------------------------------------------------------------
# The facts of a trial's count tables
# --------------------------------------------------------------------------------------


@dataclass
class Counts:
    """Named counts and the sums that link them (module doc)."""

    values: dict[str, int] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)
    sums: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # facts a complement avoids as if they were in one more sum (an evaluation item's
    # agreeing count and middle answer: withholding an answer beside the withheld one instead
    # keeps the item's n/N agreeing and lets its bar print merged, evaluation_counts)
    keep: set[str] = field(default_factory=set)
    # facts a reader looks for first (Table 2's n of each model, printed also by the forest
    # plot and the model diagnostics): a complement avoids them as if in two more sums, taking
    # the CONSORT diagram's counts beside them where either will do
    wanted: set[str] = field(default_factory=set)

    def add(self, key: str, value, *, hidden: bool = False) -> str:
        """Add a fact (once; the same key again must have the same value). A fact printed
        anywhere is not hidden."""
        value = int(value)
        if key in self.values and self.values[key] != value:
            raise ValueError(
                f"disclosure: count {key!r} is {self.values[key]} in one table and {value} "
                "in another; one fact must have one value"
            )
        if key not in self.values:
            self.values[key] = value
            if hidden:
                self.hidden.add(key)
        elif not hidden:
            self.hidden.discard(key)
        return key

    def add_sum(self, total: str, parts: Iterable[str]) -> None:
        """values[total] == sum(values[parts]); checked, since a wrong sum would mislead the
        audit."""
        parts = tuple(parts)
        if not parts:
            return
        got = sum(self.values[p] for p in parts)
        if got != self.values[total]:
            raise ValueError(
                f"disclosure: {total!r} = {self.values[total]}, but its parts "
                f"{', '.join(parts)} sum to {got}"
            )
        entry = (total, parts)
        if entry not in self.sums:
            self.sums.append(entry)

    def add_sum_if_equal(self, total: str, parts: Iterable[str]) -> None:
        """A sum that holds in these data (some hold by design only for some designs)."""
        parts = tuple(parts)
        if parts and sum(self.values[p] for p in parts) == self.values[total]:
            self.add_sum(total, parts)


Cell = tuple[str, int]  # (key, value)


def add_table(
    counts: Counts,
    cells: Mapping[tuple[str, str], Cell],
    *,
    row_totals: Mapping[str, Cell] | None = None,
    col_totals: Mapping[str, Cell] | None = None,
    grand: Cell | None = None,
    hidden: Iterable[str] = (),
) -> None:
    """Register one count table: `cells` {(row, column): (key, n)}, the row and column totals
    {row or column: (key, n)} and the grand total, each total the sum of its cells (a row or
    column without a total is not summed). `hidden`: keys printed nowhere."""
    hidden = set(hidden)
    entries = [*cells.values(), *(row_totals or {}).values(), *(col_totals or {}).values()]
    for key, value in [*entries, *([grand] if grand else [])]:
        counts.add(key, value, hidden=key in hidden)
    for r, (key, _) in (row_totals or {}).items():
        counts.add_sum(key, [k for (cr, _), (k, _) in cells.items() if cr == r])
    for c, (key, _) in (col_totals or {}).items():
        counts.add_sum(key, [k for (_, cc), (k, _) in cells.items() if cc == c])
    if grand is not None:
        for totals in (row_totals, col_totals):
            if totals:
                counts.add_sum(grand[0], [k for k, _ in totals.values()])


# --------------------------------------------------------------------------------------
# Choosing the suppressions
# --------------------------------------------------------------------------------------


def plan(counts: Counts, k: int) -> dict[str, str]:
    """{key: "primary" | "complementary"} for the facts to suppress (module doc); a hidden
    fact that is sensitive is listed as "primary" (it prints nowhere)."""
    status = {key: "primary" for key, n in sorted(counts.values.items()) if 0 < n < k}
    while True:
        _complete(counts, status, k)
        intervals = feasible_intervals(counts, status, k)
        pinned = [key for key, (lo, hi) in intervals.items() if hi - lo < 1 - 1e-9]
        if not pinned:
            _release(counts, status, k)
            return dict(sorted(status.items()))
        status[_repair(counts, status, k, pinned[0])] = "complementary"


def _release(counts: Counts, status: dict[str, str], k: int) -> None:
    """Print again each complementary suppression the plan no longer needs: the greedy
    choices are made one at a time, and a later one can make an earlier one redundant (at
    k = 11 the mentorship demo withheld 51 counts it did not need). Table 2's n first, then
    the largest; a count is released when, printed, no withheld fact is derived one sum at
    a time and the audit of its linked sums leaves every withheld fact at least 1 wide."""
    order = sorted(
        (key for key, how in status.items() if how == "complementary"),
        key=lambda key: (key not in counts.wanted, -counts.values[key], key),
    )
    for key in order:
        unknown = {*status, *counts.hidden}
        component = next(c for c in _components(counts, unknown) if key in c["variables"])
        trial = {other: how for other, how in status.items() if other != key}
        if _derivation(counts, trial) is not None:
            continue
        # printing `key` changes only the sums it was linked through
        linked = [v for v in component["variables"] if v in trial]
        intervals = feasible_intervals(counts, trial, k, linked)
        if all(high - low >= 1 - 1e-9 for low, high in intervals.values()):
            del status[key]


def _complete(counts: Counts, status: dict[str, str], k: int) -> None:
    """Complementary suppression to a fixed point: solving the sums one at a time (a sum with
    one unknown term gives it, known then to the next sums) never reaches a sensitive fact;
    where it would, the smallest printed fact of at least k that the derivation used is
    suppressed."""
    while True:
        found = _derivation(counts, status)
        if found is None:
            return
        key, support = found
        choice = _smallest_printed(counts, status, k, support)
        if choice is None:
            choice = _repair(counts, status, k, key)
        status[choice] = "complementary"


def _derivation(counts: Counts, status: Mapping[str, str]) -> tuple[str, set] | None:
    """(sensitive fact, the printed facts its derivation used) for the first sensitive fact
    that solving the sums one at a time derives, or None."""
    known = {key for key in counts.values if key not in status and key not in counts.hidden}
    support = {key: {key} for key in known}
    changed = True
    while changed:
        changed = False
        for total, parts in counts.sums:
            terms = (total, *parts)
            unknown = [t for t in terms if t not in known]
            if len(unknown) != 1:
                continue
            used = set().union(*(support[t] for t in terms if t != unknown[0]))
            if status.get(unknown[0]) == "primary":
                return unknown[0], used
            known.add(unknown[0])
            support[unknown[0]] = used
            changed = True
    return None


def _smallest_printed(counts, status, k, terms) -> str | None:
    """The printed fact of at least k among `terms` in the fewest sums (suppressing it
    spreads least), then the smallest, then by key."""
    options = sorted(_cost(counts, t) for t in set(terms) if _choosable(counts, status, k, t))
    return options[0][-1] if options else None


def _choosable(counts, status, k, key) -> bool:
    return key not in status and key not in counts.hidden and counts.values[key] >= k


def _cost(counts: Counts, key: str) -> tuple[int, int, str]:
    spread = sum(key == total or key in parts for total, parts in counts.sums)
    avoid = (key in counts.keep) + 2 * (key in counts.wanted)
    return (spread + avoid, counts.values[key], key)


def _repair(counts: Counts, status: dict[str, str], k: int, key: str) -> str:
    """The printed fact (of at least k) to suppress so that `key` is no longer pinned: of the
    printed facts in the sums linked to it, smallest first, the first that widens its
    interval; else the smallest of them."""
    unknown = {*status, *counts.hidden}
    component = next(c for c in _components(counts, unknown) if key in c["variables"])
    terms = {t for total, parts in component["sums"] for t in (total, *parts)}
    options = sorted(_cost(counts, t) for t in terms if _choosable(counts, status, k, t))
    if not options:
        # a setting a user chose (min_cell too large for this trial): one line, no stack
        raise TrialInputError(
            f"config.yaml: disclosure.min_cell = {k}: the count {key!r} cannot be protected "
            f"(no printed count of at least {k} shares a total with it); choose a smaller "
            "min_cell for this trial"
        )
    for *_, option in options:
        trial = {**status, option: "complementary"}
        low, high = feasible_intervals(counts, trial, k, [key])[key]
        if high - low >= 1 - 1e-9:
            return option
    return options[0][-1]


def sensitive(counts: Counts, status: Mapping[str, str], k: int) -> list[str]:
    """Facts the audit protects: every withheld one (primary, printed or hidden, and
    complementary: a "≥k" must not be worked out either)."""
    return sorted(status)


def feasible_intervals(
    counts: Counts, status: Mapping[str, str], k: int, keys: Iterable[str] | None = None
) -> dict[str, tuple[float, float]]:
    """{key: (lowest, highest)} value each fact of `keys` (default: the sensitive ones) can
    take given every printed fact, every sum, and what the markers say (a "<k" is 1 to k - 1,
    a "≥k" at least k, a hidden fact at least 0): the intruder's linear-programming bounds,
    over the sums linked to the key through unknown facts."""
    keys = list(sensitive(counts, status, k) if keys is None else keys)
    unknown = {*status, *counts.hidden}
    out = {}
    for component in _components(counts, unknown):
        for key in keys:
            if key in component["variables"]:
                out[key] = _interval(counts, status, k, component, key)
    for key in keys:  # printed, or in no sum
        if key not in out:
            value = counts.values[key]
            out[key] = (value, value) if key not in unknown else _alone(status.get(key), k)
    return dict(sorted(out.items()))


def _alone(how: str | None, k: int) -> tuple[float, float]:
    low, high = _bounds(how, k)
    return (low, float("inf") if high is None else high)


def _components(counts: Counts, unknown: set[str]) -> list[dict]:
    """The sums grouped by the unknown facts they share: {"variables": [...], "sums": [...]}."""
    parent: dict[str, str] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    linked = []
    for total, parts in counts.sums:
        terms = [t for t in (total, *parts) if t in unknown]
        if not terms:
            continue
        linked.append((total, parts))
        for t in terms[1:]:
            parent[find(t)] = find(terms[0])
    groups: dict[str, dict] = {}
    for total, parts in linked:
        root = find(next(t for t in (total, *parts) if t in unknown))
        group = groups.setdefault(root, {"variables": set(), "sums": []})
        group["sums"].append((total, parts))
        group["variables"] |= {t for t in (total, *parts) if t in unknown}
    return [
        {"variables": sorted(g["variables"]), "sums": g["sums"]} for _, g in sorted(groups.items())
    ]


def _interval(counts, status, k, component, key) -> tuple[float, float]:
    import numpy as np
    from scipy.optimize import linprog

    variables = component["variables"]
    index = {v: i for i, v in enumerate(variables)}
    rows, rhs = [], []
    for total, parts in component["sums"]:
        row, known = np.zeros(len(variables)), 0
        for term, sign in [(total, -1), *[(p, 1) for p in parts]]:
            if term in index:
                row[index[term]] += sign
            else:
                known += sign * counts.values[term]
        rows.append(row)
        rhs.append(-known)
    bounds = [_bounds(status.get(v), k) for v in variables]
    c = np.zeros(len(variables))
    c[index[key]] = 1
    ends = []
    for sign in (1, -1):
        result = linprog(
            sign * c, A_eq=np.array(rows), b_eq=np.array(rhs), bounds=bounds, method="highs"
        )
        if result.status == 3:  # unbounded: only above
            ends.append(float("inf"))
        elif not result.success:
            raise ValueError(f"disclosure audit failed for {key!r}: {result.message}")
        else:
            ends.append(sign * result.fun)
    return (ends[0], ends[1])


def _bounds(how: str | None, k: int) -> tuple[float, float | None]:
    if how == "primary":
        return (1, k - 1)
    if how == "complementary":
        return (k, None)
    return (0, None)  # hidden


# --------------------------------------------------------------------------------------
# Facts of the shared count tables
# --------------------------------------------------------------------------------------


OVERALL = "overall"


def consort_key(*path: str) -> str:
    """The key of a consort.json count, e.g. consort_key("analysed", "itt", "coaching")."""
    return "/".join(str(p) for p in path)


def consort_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """consort.json's counts per arm and overall, and the sums the CONSORT diagram, the
    report's participant flow and the completion table show."""
    consort = json.loads(Path(inputs["consort"]).read_text())
    arms = list(consort["allocated"])
    for path, table in _consort_families(consort):
        cells = {(a, "n"): (consort_key(*path, a), table[a]) for a in arms}
        total = {"n": (consort_key(*path, OVERALL), sum(table.values()))} if len(arms) > 1 else {}
        add_table(counts, cells, col_totals=total)
    enrolled = counts.add(enrolled_key(consort), consort["enrolled"])
    counts.add_sum_if_equal(enrolled, [consort_key("allocated", a) for a in arms])
    for a in [*arms, OVERALL] if len(arms) > 1 else arms:
        _arm_sums(consort, counts, a)
    _flow_facts(consort, counts)


def _flow_facts(consort: dict, counts: Counts) -> None:
    """The counts of the trial file's `flow` block (analysis_sets.flow_counts) and their sums:
    assessed for eligibility = enrolled + excluded, excluded = its reasons; in each delivering
    arm allocated = received + not received; withdrawn, and not assessed at the last
    timepoint, = their reasons."""
    for path, table in _flow_families(consort):
        for leaf, n in table.items():
            counts.add(consort_key(*path, leaf), n)
    screening = consort.get("eligibility")
    if screening:
        counts.add_sum(
            consort_key("eligibility", "assessed"),
            [enrolled_key(consort), consort_key("eligibility", "excluded")],
        )
        reasons = [
            consort_key("eligibility", "excluded_reasons", r) for r in screening["excluded_reasons"]
        ]
        counts.add_sum(consort_key("eligibility", "excluded"), reasons)
    for arm in consort.get("received", {}):
        parts = [consort_key("received", arm), consort_key("not_received", arm)]
        counts.add_sum(consort_key("allocated", arm), parts)
    by_reason = [(("withdrawn",), ("withdrawn_reasons",), consort.get("withdrawn_reasons", {}))]
    by_reason += [
        (("not_assessed", t), ("not_assessed_reasons", t), reasons)
        for t, reasons in consort.get("not_assessed_reasons", {}).items()
    ]
    for total, path, reasons in by_reason:
        for arm in consort["allocated"]:
            parts = [consort_key(*path, r, arm) for r in reasons]
            counts.add_sum(consort_key(*total, arm), parts)


def _flow_families(consort: dict):
    """(path, {leaf: n}) of the `flow` block's counts the outputs print, each fact keyed
    consort_key(*path, leaf): the screening counts (leaves assessed, excluded, and each
    exclusion reason), received and not received per delivering arm, and per reason the
    consent withdrawals and those not assessed at the last timepoint, per arm."""
    screening = consort.get("eligibility")
    if screening:
        yield ("eligibility",), {k: screening[k] for k in ("assessed", "excluded")}
        yield ("eligibility", "excluded_reasons"), screening["excluded_reasons"]
    for key in ("received", "not_received"):
        if key in consort:
            yield (key,), consort[key]
    for reason, table in consort.get("withdrawn_reasons", {}).items():
        yield ("withdrawn_reasons", reason), table
    for t, reasons in consort.get("not_assessed_reasons", {}).items():
        for reason, table in reasons.items():
            yield ("not_assessed_reasons", t, reason), table


def _arm_sums(consort: dict, counts: Counts, a: str) -> None:
    """The sums of one arm's (or Overall's) consort counts."""

    def key(*path):
        return consort_key(*path, a)

    itt = key("analysed", "itt")
    # the frame: allocated less withdrawn (a survey's everyone surveyed)
    frame = counts.add(
        key("frame"),
        counts.values[key("allocated")] - counts.values[key("withdrawn")],
        hidden=True,
    )
    counts.add_sum(key("allocated"), [key("withdrawn"), frame])
    counts.add_sum_if_equal(frame, [itt])
    for t in consort["timepoints"]:
        parts = [key("assessed", t), key("not_assessed", t)]
        counts.add_sum_if_equal(itt, parts)
        counts.add_sum_if_equal(frame, parts)
    for name in consort.get("excluded_from", {}):
        counts.add_sum_if_equal(itt, [key("analysed", name), key("excluded_from", name)])
    for o in consort.get("analysed_by_outcome", {}).get("complete_case", {}):
        cc = key("analysed_by_outcome", "complete_case", o)
        rest = counts.add(f"{cc}/not", counts.values[itt] - counts.values[cc], hidden=True)
        counts.add_sum(itt, [cc, rest])


def enrolled_key(consort: dict) -> str:
    """Enrolled is allocated overall (several arms) or the one group's allocated count."""
    arms = list(consort["allocated"])
    if len(arms) > 1 and consort["enrolled"] == sum(consort["allocated"].values()):
        return consort_key("allocated", OVERALL)
    if len(arms) == 1 and consort["enrolled"] == consort["allocated"][arms[0]]:
        return consort_key("allocated", arms[0])
    return "enrolled"


def _consort_families(consort: dict):
    """(path, {arm: n}) of every per-arm count of consort.json the outputs print."""
    yield ("allocated",), consort["allocated"]
    yield ("withdrawn",), consort["withdrawn"]
    for t in consort["timepoints"]:
        yield ("assessed", t), consort["assessed"][t]
        yield ("not_assessed", t), consort["not_assessed"][t]
    yield ("no_data_at_any_timepoint",), consort.get("no_data_at_any_timepoint", {})
    for name, table in consort["analysed"].items():
        yield ("analysed", name), table
    for name, table in consort.get("excluded_from", {}).items():
        yield ("excluded_from", name), table
    for o, table in consort.get("analysed_by_outcome", {}).get("complete_case", {}).items():
        yield ("analysed_by_outcome", "complete_case", o), table
    for o, table in consort.get("post_without_baseline", {}).items():
        yield ("post_without_baseline", o), table


def table1_group_keys(spec: dict, consort: dict) -> dict[str, str]:
    """Table 1's columns as consort facts: each arm's (and Overall's) intention-to-treat n; a
    survey's respondents, non-respondents and everyone surveyed; a cohort comparison's
    respondents per cohort (assessed at its one survey) and overall."""
    arms = list(consort["allocated"])
    if spec["design"] == "cohort_comparison":
        t = next(iter(consort["timepoints"]))
        keys = {a: consort_key("assessed", t, a) for a in arms}
        return {**keys, OVERALL: consort_key("assessed", t, OVERALL)} if len(arms) > 1 else keys
    if spec["design"] == "cross_sectional":
        group, t = arms[0], next(iter(consort["timepoints"]))
        return {
            "respondents": consort_key("analysed", "itt", group),
            "non_respondents": consort_key("not_assessed", t, group),
            OVERALL: consort_key("frame", group),
        }
    keys = {a: consort_key("analysed", "itt", a) for a in arms}
    if len(arms) > 1:
        keys[OVERALL] = consort_key("analysed", "itt", OVERALL)
    return keys


def table1_key(variable: str, level: str, group: str) -> str:
    return f"table1/{variable}={level}/{group}"


def table1_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """Table 1's counts: per variable a table of levels (and Missing) by column, each column
    summing to the column's n, Overall the sum of the arms; the part of a yes/no or numeric
    variable's column not printed (without the characteristic, with a value) is hidden."""
    from trialeval.tables import build

    full = build(spec, "table1", dict(inputs))[0]
    consort = json.loads(Path(inputs["consort"]).read_text())
    for layout in table1_layout(spec, full, consort):
        add_table(counts, **layout)


def table1_layout(spec: dict, full, consort: dict) -> list[dict]:
    """add_table arguments of every count variable of Table 1's `full` frame: levels (and
    Missing) by column; with an Overall column, the arms' cells with Overall as row totals."""
    groups = table1_group_keys(spec, consort)
    n = full[(full["variable"] == "n") & (full["statistic"] == "n")]
    totals = {g: int(v) for g, v in zip(n["group"], n["value"], strict=True)}
    layouts = []
    found = full[(full["statistic"] == "count") & (full["variable"] != "responded")]
    for variable, rows in found.groupby("variable", sort=False):
        cells = {
            (str(level), g): (table1_key(variable, level, g), int(v))
            for level, g, v in zip(rows["level"], rows["group"], rows["value"], strict=True)
        }
        present = [g for g in totals if any(cg == g for _, cg in cells)]
        levels = list(dict.fromkeys(level for level, _ in cells))
        hidden = []
        if set(levels) - {"missing"} <= {"1"}:  # yes/no or numeric: the rest of the column
            rest = "0" if "1" in levels else "observed"
            for g in present:
                value = totals[g] - sum(v for (_, cg), (_, v) in cells.items() if cg == g)
                cells[(rest, g)] = (table1_key(variable, rest, g), value)
                hidden.append(table1_key(variable, rest, g))
            levels.append(rest)
        col_totals = {g: (groups[g], totals[g]) for g in present}
        if OVERALL in present and len(present) > 1:
            layouts.append(
                {
                    "cells": {w: c for w, c in cells.items() if w[1] != OVERALL},
                    "row_totals": {level: cells[(level, OVERALL)] for level in levels},
                    "col_totals": {g: t for g, t in col_totals.items() if g != OVERALL},
                    "grand": col_totals[OVERALL],
                    "hidden": hidden,
                }
            )
        else:
            layouts.append({"cells": cells, "col_totals": col_totals, "hidden": hidden})
    return layouts


def missingness_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """The completion table prints consort.json's counts (registered by consort_facts)."""


def association_key(analysis_set: str, exposure: str, level: str, what: str) -> str:
    return f"association/{analysis_set}/{exposure}={level}/{what}"


def association_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """The association table's n and events per exposure level, non-events hidden."""
    from trialeval.io import read_csv

    frame = read_csv(inputs["association_counts"])
    for (analysis_set, exposure), rows in frame.groupby(["analysis_set", "exposure"], sort=False):
        cells, row_totals, hidden = {}, {}, []
        for _, row in rows.iterrows():
            level = str(row["label"])
            where = (analysis_set, exposure, level)
            events, n = int(row["events"]), int(row["n"])
            cells[(level, "events")] = (association_key(*where, "events"), events)
            cells[(level, "non_events")] = (association_key(*where, "non_events"), n - events)
            row_totals[level] = (association_key(*where, "n"), n)
            hidden.append(association_key(*where, "non_events"))
        add_table(counts, cells, row_totals=row_totals, hidden=hidden)


def prepost_key(summary: Mapping, what: str) -> str:
    """A pre/post table count: an arm's n (or events, non-events) of one outcome's summary."""
    where = (summary["analysis_set"], summary["outcome"], summary["timepoint"], summary["arm"])
    return "prepost/" + "/".join(str(w) for w in where) + f"/{what}"


def prepost_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """The pre/post table's n per arm (scores: n = ...) and events / n (categories), the
    non-events hidden."""
    from trialeval.io import read_csv

    for summary in read_csv(inputs["prepost_summary"]).to_dict("records"):
        n = prepost_key(summary, "n")
        if _missing(summary["n_events"]):
            counts.add(n, summary["n"])
            continue
        events = (prepost_key(summary, "events"), int(summary["n_events"]))
        rest = (prepost_key(summary, "non_events"), int(summary["n"]) - events[1])
        cells = {("arm", "events"): events, ("arm", "non_events"): rest}
        add_table(counts, cells, row_totals={"arm": (n, summary["n"])}, hidden=[rest[0]])


def effects_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """Table 2's per-arm n/N of binary outcomes at follow-up: prepost_summary's events and n
    (the pre/post table's facts, under its keys), and the n of every effects row
    (`effects_n_facts`); a binary row's n that is the two arms' N summed is that sum."""
    from trialeval.io import read_csv

    kinds = {o["id"]: o["kind"] for o in spec.get("outcomes", [])}
    summaries = read_csv(inputs["prepost_summary"]).to_dict("records")
    binary = [s for s in summaries if kinds.get(s["outcome"]) != "score"]
    for summary in binary:
        if not _missing(summary["n_events"]):
            _binary_cell_facts(counts, summary)
    if "effects" not in inputs:
        return
    effects = read_csv(inputs["effects"])
    canonical = effects_n_facts(effects, counts)
    for row in effects.to_dict("records"):
        if kinds.get(row["outcome"]) == "score" or _missing(row.get("n")):
            continue
        if _analysis_name(row) != "primary":
            continue
        where = {k: row[k] for k in ("analysis_set", "outcome", "timepoint")}
        arms = str(row["contrast"]).split(" - ")
        parts = [prepost_key({**where, "arm": a}, "n") for a in arms]
        if len(arms) == 2 and all(p in counts.values for p in parts):
            counts.add_sum_if_equal(canonical[effects_n_key(row)], parts)


def _analysis_name(row: Mapping) -> str:
    name = row.get("analysis_name")
    return "primary" if name is None or _missing(name) or name == "" else str(name)


def effects_n_key(row: Mapping) -> str:
    """The fact of an effects row's n, as Table 2, the forest plot and the model diagnostics
    print it: "effects/<set>/<outcome>/<timepoint>/<estimand>/<contrast>/n" (a sensitivity
    analysis's rows with its name first)."""
    where = [row[k] for k in ("analysis_set", "outcome", "timepoint", "estimand", "contrast")]
    name = _analysis_name(row)
    path = where if name == "primary" else [name, *where]
    return "effects/" + "/".join(str(w) for w in path) + "/n"


def effects_n_facts(effects, counts: Counts) -> dict[str, str]:
    """Every effects row's n as a fact (Table 2 prints each, the primary analysis's and the
    sensitivity analyses'); {row's key: the key its sums go to}. The rows of one analysis set
    and outcome with the same n (the estimands of one model, its visits, a sensitivity
    analysis of the same participants) are one count to a reader: each is linked to the
    first of them by a one-term sum, so they are withheld together, and only that first
    enters the sum of the arms. Table 2's n are what a reader looks for (`wanted`)."""
    first: dict[tuple, str] = {}
    canonical = {}
    for row in effects.to_dict("records"):
        if _missing(row.get("n")):
            continue
        key = counts.add(effects_n_key(row), row["n"])
        counts.wanted.add(key)
        canonical[key] = first.setdefault((row["analysis_set"], row["outcome"], int(row["n"])), key)
        if canonical[key] != key:
            counts.add_sum(key, [canonical[key]])
    return canonical


def model_n_key(effects, analysis_set: str, outcome: str, n) -> str | None:
    """The fact a model's n prints under where a table has no effects row of its own (the
    model diagnostics): the first effects row of that set and outcome with that n; None
    (the primary rule alone) when there is none."""
    if _missing(n):
        return None
    for row in effects.to_dict("records"):
        same = row["analysis_set"] == analysis_set and row["outcome"] == outcome
        if same and not _missing(row.get("n")) and int(row["n"]) == int(n):
            return effects_n_key(row)
    return None


def _binary_cell_facts(counts: Counts, summary: Mapping) -> None:
    """events / n of one arm's binary summary, the non-events hidden (keys of prepost_key)."""
    n = prepost_key(summary, "n")
    events = (prepost_key(summary, "events"), int(summary["n_events"]))
    rest = (prepost_key(summary, "non_events"), int(summary["n"]) - events[1])
    cells = {("arm", "events"): events, ("arm", "non_events"): rest}
    add_table(counts, cells, row_totals={"arm": (n, summary["n"])}, hidden=[rest[0]])


def binary_cell(plan: Plan, summary: Mapping, text: str) -> str:
    """Table 2's n/N (%) of one arm through the plan: "<5/40" (no percentage) when a count
    is withheld, else `text`."""
    shown = _prepost_cell(plan, summary, text)
    return text if shown is None else shown


def cohort_key(summary: Mapping, what: str) -> str:
    """A cohort-table count: one cohort's n (or events, non-events) of an outcome."""
    where = (summary["analysis_set"], summary["outcome"], summary["cohort"])
    return "cohort/" + "/".join(str(w) for w in where) + f"/{what}"


def cohort_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """The cohort table's n/N per cohort (binary outcomes; non-events hidden) and the n of
    each score's summary. A cohort's N equal to its consort count of the analysis set, or to
    its respondents (consort `assessed`), is registered as that same number (a one-term
    sum), as an intruder may assume it."""
    from trialeval.io import read_csv

    frame = read_csv(inputs["cohort_summary"], dtype={"cohort": str})
    for summary in frame.to_dict("records"):
        n = cohort_key(summary, "n")
        if int(summary["n"]) == 0:
            continue  # prints a dash
        if "events" in summary and not _missing(summary["events"]):
            events = (cohort_key(summary, "events"), int(summary["events"]))
            rest = (cohort_key(summary, "non_events"), int(summary["n"]) - events[1])
            cells = {("cohort", "events"): events, ("cohort", "non_events"): rest}
            add_table(counts, cells, row_totals={"cohort": (n, summary["n"])}, hidden=[rest[0]])
        else:
            counts.add(n, summary["n"])
        # the same number as the set's consort count, or as the cohort's respondents (the
        # flow diagram's and Table 1's n: an outcome every respondent has scored)
        for same in (
            consort_key("analysed", summary["analysis_set"], summary["cohort"]),
            consort_key("assessed", spec.get("baseline"), summary["cohort"]),
        ):
            if same in counts.values:
                counts.add_sum_if_equal(n, [same])
        _cohort_n_sums(counts, summary, n)


def _cohort_n_sums(counts: Counts, summary: Mapping, n: str) -> None:
    """A cohort's N of an outcome (the cohort table) = the respondents of its adjusted model
    (the flow's analysed, when model_n_facts registered it) + those it left out for a missing
    covariate (hidden: printed nowhere)."""
    model = model_key(summary["analysis_set"], summary["outcome"], summary["cohort"])
    if model not in counts.values or counts.values[model] > counts.values[n]:
        return
    rest = counts.values[n] - counts.values[model]
    if rest == 0:
        counts.add_sum_if_equal(n, [model])
        return
    counts.add(f"{model}/missing_covariate", rest, hidden=True)
    counts.add_sum(n, [model, f"{model}/missing_covariate"])


def cohort_marks(plan: Plan, summary: Mapping) -> tuple[str | None, str | None]:
    """(events marker, n marker) of one cohort's summary; None where it prints."""
    events = None
    if "events" in summary and not _missing(summary["events"]):
        events = plan.marker(cohort_key(summary, "events"), summary["events"])
    return events, plan.marker(cohort_key(summary, "n"), summary["n"])


def evaluation_key(*path) -> str:
    """A programme-evaluation count: ("rate", group, "invited"), ("item", group,
    instrument, item, "answered" | "agreeing" | "level=<code>"), ("theme", question, group,
    "answered" | "coded" | "theme=<code>")."""
    return "evaluation/" + "/".join(str(p) for p in path)


def evaluation_facts(rates: list[dict], summaries: list, themes, counts: Counts) -> None:
    """The evaluation job's count tables (its own plan; they share no count with the trial's
    tables): per group invited = responded + not responding; per item responded = answered +
    not answered, answered = the sum of its answers, agreeing = the sum of the agree codes;
    per free-text question and group responded >= answered >= coded >= each theme's n (an
    answer may mention several themes: each theme on its own)."""
    for rate in rates:
        g = rate["group"]
        cells = {
            ("rate", "responded"): (evaluation_key("rate", g, "responded"), rate["responded"]),
            ("rate", "not"): (evaluation_key("rate", g, "not_responded"), _rest(rate)),
        }
        total = {"rate": (evaluation_key("rate", g, "invited"), rate["invited"])}
        add_table(
            counts, cells, row_totals=total, hidden=[evaluation_key("rate", g, "not_responded")]
        )
    for items, answers in summaries:
        for item in items.to_dict("records"):
            _item_facts(counts, item, answers)
    for row in [] if themes is None else themes.to_dict("records"):
        _theme_facts(counts, row)


def _rest(rate: dict) -> int:
    return int(rate["invited"]) - int(rate["responded"])


def _item_facts(counts: Counts, item: dict, answers) -> None:
    where = ("item", item["group"], item["instrument"], item["item"])
    mine = answers[
        (answers["instrument"] == item["instrument"]) & (answers["item"] == item["item"])
    ]
    cells = {
        (where, f"level={c}"): (evaluation_key(*where, f"level={c}"), n)
        for c, n in zip(mine["code"], mine["n"], strict=True)
    }
    answered = counts.add(evaluation_key(*where, "answered"), item["answered"])
    add_table(counts, cells, row_totals={where: (answered, item["answered"])})
    agreeing = counts.add(evaluation_key(*where, "agreeing"), item["agreeing"])
    agree_codes = mine.loc[mine["agree"].astype(bool), "code"]
    counts.add_sum(agreeing, [evaluation_key(*where, f"level={c}") for c in agree_codes])
    not_answered = counts.add(evaluation_key(*where, "not_answered"), item["not_answered"])
    counts.add_sum(evaluation_key("rate", item["group"], "responded"), [answered, not_answered])


def _theme_facts(counts: Counts, row: dict) -> None:
    where = ("theme", row["question"], row["group"])
    answered = counts.add(evaluation_key(*where, "answered"), row["answered"])
    coded = counts.add(evaluation_key(*where, "coded"), row["coded"])
    theme = counts.add(evaluation_key(*where, f"theme={row['theme']}"), row["n"])
    slack = [
        (evaluation_key("rate", row["group"], "responded"), answered, "unanswered"),
        (answered, coded, "uncoded"),
        (coded, theme, f"not_theme={row['theme']}"),
    ]
    for total, part, name in slack:
        rest = counts.add(
            evaluation_key(*where, name), counts.values[total] - counts.values[part], hidden=True
        )
        counts.add_sum(total, [part, rest])


def evaluation_plan(spec: dict, rates: list[dict], summaries: list, themes) -> Plan:
    """The evaluation tables' plan (OFF when the trial's disclosure control is off)."""
    k = (spec.get("disclosure") or {}).get("min_cell")
    if k is None:
        return OFF
    counts, status, merged = evaluation_counts(rates, summaries, themes, k)
    return Plan(k, status, frozenset(counts.values), merged)


# kind -> (function adding the kind's facts, the stage inputs it reads); consort always runs.
SOURCES: dict[str, tuple[Callable, tuple[str, ...]]] = {
    "consort": (consort_facts, ("consort",)),
    "table1": (table1_facts, ("participants", "covariate_labels", "sets", "scores", "consort")),
    "missingness_table": (missingness_facts, ("consort",)),
    "association_table": (association_facts, ("association_counts",)),
    "prepost_table": (prepost_facts, ("prepost_summary",)),
    "effects_table": (effects_facts, ("prepost_summary", "effects")),
    "cohort_table": (cohort_facts, ("cohort_summary",)),
}


def source_inputs(kinds: Iterable[str]) -> list[str]:
    """The stage inputs the disclosure job of a trial with these table kinds reads (and the
    report's: consort, estimands)."""
    kinds = ["consort", "estimands", "model_n", *kinds]
    return sorted({name for kind in kinds if kind in SOURCES for name in SOURCES[kind][1]})


def trial_counts(spec: dict, kinds: Iterable[str], inputs: Mapping) -> Counts:
    counts = Counts()
    for kind in ["consort", "estimands", "model_n", *kinds]:
        if kind in SOURCES:
            SOURCES[kind][0](spec, inputs, counts)
    return counts


# --------------------------------------------------------------------------------------
# The plan file and printing through it
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The trial's suppressions as every shared-output job reads them (min_cell None: off).
    A registered key prints unless `status` suppresses it; a count no source registered gets
    the primary rule alone ("<k" from 1 to k - 1, no complementary suppression)."""

    min_cell: int | None = None
    status: Mapping[str, str] = field(default_factory=dict)
    registered: frozenset = frozenset()
    # evaluation items whose bar prints in three blocks (evaluation_plan): evaluation_key
    # ("item", group, instrument, item)
    merged: frozenset = frozenset()

    @property
    def on(self) -> bool:
        return self.min_cell is not None

    def marker(self, key: str | None, n=None) -> str | None:
        """ "<k" (primary), "≥k" (complementary) or None (printed)."""
        if not self.on:
            return None
        how = self.status.get(key) if key is not None else None
        if how == "primary":
            return f"<{self.min_cell}"
        if how == "complementary":
            return f"≥{self.min_cell}"
        if key in self.registered or n is None or _missing(n):
            return None
        return f"<{self.min_cell}" if 0 < int(n) < self.min_cell else None

    def hides(self, key: str | None, n=None) -> bool:
        return self.marker(key, n) is not None

    def count(self, key: str | None, n) -> str:
        """A count as printed: its marker, or the number."""
        return self.marker(key, n) or f"{int(n)}"

    def note(self) -> str:
        """The footnote of every output with withheld counts."""
        k = self.min_cell
        return (
            f"Counts from 1 to {k - 1} are shown as <{k} to protect confidentiality; counts "
            f"shown as ≥{k} are {k} or more, withheld so that a smaller count cannot be "
            "worked out from the totals; a percentage is left out where its count or its "
            "denominator is withheld."
        )


OFF = Plan()


def _missing(n) -> bool:
    try:
        return bool(n != n)  # NaN
    except TypeError:  # pandas' NA (a nullable integer column's empty cell)
        return True


def write_plan(counts: Counts, k: int, path: str | Path) -> None:
    """results/<trial>/interim/disclosure.json: the suppressions and every registered key."""
    from trialeval.io import write_json

    write_json(
        {
            "version": PLAN_VERSION,
            "min_cell": k,
            "suppressed": plan(counts, k),
            "registered": sorted(counts.values),
        },
        path,
    )


def trial_plan(spec: dict, trial_dir: str | Path) -> Plan:
    """The report's plan of one trial: results/<trial>/interim/disclosure.json when the
    trial's settings turn disclosure control on (a stale file from an earlier run is not
    read when it is off)."""
    if (spec.get("disclosure") or {}).get("min_cell") is None:
        return OFF
    return load(Path(trial_dir) / "interim" / "disclosure.json")


def load(path: str | Path | None) -> Plan:
    """The plan a disclosure job wrote; OFF without a path (disclosure control off)."""
    if path is None:
        return OFF
    data = json.loads(Path(path).read_text())
    return Plan(data["min_cell"], data["suppressed"], frozenset(data["registered"]))


# --------------------------------------------------------------------------------------
# Applying the plan to the shared outputs
# --------------------------------------------------------------------------------------


def apply(spec: dict, kind: str, full, formatted, footnote: str, inputs: Mapping):
    """(full, formatted, footnote) of one table as shared: its withheld counts replaced by
    their markers (`full`: the value emptied, the marker in a `disclosure` column) and the
    note added. Unchanged when disclosure control is off or the kind has no counts."""
    plan = load(inputs.get("disclosure"))
    maskers = {
        "table1": mask_table1,
        "missingness_table": mask_missingness,
        "association_table": mask_association,
        "prepost_table": mask_prepost,
        "effects_table": mask_effects,
        "effects_supplement": mask_effects,
    }
    if not plan.on or kind not in maskers:
        return full, formatted, footnote
    consort = json.loads(Path(inputs["consort"]).read_text()) if "consort" in inputs else {}
    full, formatted, withheld = maskers[kind](spec, full, formatted.copy(), plan, consort)
    if withheld and plan.note() not in (footnote or ""):
        footnote = f"{footnote}\n{plan.note()}" if footnote else plan.note()
    return full, formatted, footnote


def _percent_text(count: str, pct) -> str:
    from trialeval.tables import format_number

    return f"{count} ({format_number(pct, 1)})"


WITHHELD = "withheld"  # a statistic left out of a CSV because it would give a count back


def mask_table1(spec: dict, full, formatted, plan: Plan, consort: dict):
    """Table 1 through the plan: counts, Missing and the n row; a percentage only with its
    count and denominator (the column's n less its Missing) printed; no SMD for a variable
    with a percentage withheld (the SMD is of the proportions)."""
    groups = table1_group_keys(spec, consort)
    order = list(full.loc[full["variable"] == "n", "group"])
    column = {g: formatted.columns[1 + i] for i, g in enumerate(order)}
    full = full.copy()
    full["disclosure"] = ""
    proportions_withheld = set()
    cells = full.groupby(["row", "variable", "level", "group"], sort=False)
    for (row, variable, level, group), rows in cells:
        if group not in groups:  # an SMD
            continue
        values = dict(zip(rows["statistic"], rows["value"], strict=True))
        marks = _table1_marks(plan, groups, (variable, level, group), values)
        for statistic, mark in marks.items():
            at = rows.index[rows["statistic"] == statistic][0]
            full.loc[at, ["value", "disclosure"]] = [float("nan"), mark]
        text = _table1_cell(variable, marks, values)
        if text is not None:
            formatted.at[row, column[group]] = text
        if "percent" in marks:
            proportions_withheld.add(variable)
    _withhold_smds(full, formatted, proportions_withheld)
    return full, formatted, bool((full["disclosure"] != "").any())


def _table1_marks(plan: Plan, groups: dict, where: tuple, values: dict) -> dict[str, str]:
    """{statistic: "<k", "≥k" or "withheld"} for the statistics of one Table 1 cell that do
    not print."""
    variable, level, group = where
    if variable == "n":
        marks = {"n": plan.marker(groups[group], values["n"])}
    elif variable == "responded":  # the survey's respondents, of everyone surveyed
        count = plan.marker(groups["respondents"], values["count"])
        total = plan.hides(groups[OVERALL])
        marks = {"count": count, "n": total and WITHHELD, "percent": (count or total) and WITHHELD}
    else:
        missing = plan.marker(table1_key(variable, "missing", group))
        denominator = plan.hides(groups[group]) or missing is not None
        count = None
        if "count" in values:
            count = plan.marker(table1_key(variable, level, group), values["count"])
        marks = {
            "count": count,
            "percent": WITHHELD if count or denominator else None,
            "n": WITHHELD if denominator else None,  # those with a value: n less Missing
            "missing": missing,
        }
    return {s: m for s, m in marks.items() if s in values and m}


def _table1_cell(variable: str, marks: dict, values: dict) -> str | None:
    """A Table 1 cell's printed text when the plan changes it (None: as built)."""
    if variable == "n":
        return marks.get("n")
    if "count" in marks:
        return marks["count"]
    if "percent" in marks:
        return str(int(values["count"]))  # the count alone
    return None


def _withhold_smds(full, formatted, variables: set) -> None:
    from trialeval.tables import DASH as TABLE_DASH

    smds = [c for c in formatted.columns if str(c).startswith("SMD")]
    for variable in sorted(variables):
        at = full[(full["variable"] == variable) & (full["statistic"] == "smd")].index
        full.loc[at, ["value", "disclosure"]] = [float("nan"), WITHHELD]
        for row in full.loc[at, "row"]:
            formatted.loc[row, smds] = TABLE_DASH


def missingness_key(spec: dict, row: str, group: str) -> str:
    """A completion-table row's count as a consort fact."""
    if row == "analysed":
        return consort_key(
            "frame" if spec["design"] == "cross_sectional" else "analysed",
            *([] if spec["design"] == "cross_sectional" else ["itt"]),
            group,
        )
    if row.startswith("assessed_"):
        return consort_key("assessed", row[len("assessed_") :], group)
    if row == "complete_case":
        return consort_key("analysed", "complete_case", group)
    if row.startswith("complete_case:"):
        return consort_key("analysed_by_outcome", "complete_case", row.split(":", 1)[1], group)
    if row == "no_data":
        return consort_key("no_data_at_any_timepoint", group)
    raise ValueError(f"disclosure: unknown completion-table row {row!r}")


def mask_missingness(spec: dict, full, formatted, plan: Plan, consort: dict):
    """The completion table through the plan: n, N and the percentage of each cell."""
    full = full.copy()
    full["disclosure"] = ""
    rows = list(dict.fromkeys(full["row"]))
    groups = list(dict.fromkeys(full["group"]))
    for index, record in full.iterrows():
        i, j = rows.index(record["row"]), 1 + groups.index(record["group"])
        count_key = missingness_key(spec, record["row"], record["group"])
        total_key = missingness_key(spec, "analysed", record["group"])
        count_mark = plan.marker(count_key, record["count"])
        total_mark = plan.marker(total_key, record["n"])
        if record["row"] == "analysed":
            if total_mark:
                formatted.iat[i, j] = total_mark
                full.loc[index, ["count", "n", "percent"]] = float("nan")
                full.at[index, "disclosure"] = total_mark
            continue
        if not (count_mark or total_mark):
            continue
        count = count_mark or str(int(record["count"]))
        total = total_mark or str(int(record["n"]))
        formatted.iat[i, j] = f"{count}/{total}"
        if count_mark:
            full.at[index, "count"] = float("nan")
        if total_mark:
            full.at[index, "n"] = float("nan")
        full.at[index, "percent"] = float("nan")
        full.at[index, "disclosure"] = count_mark or WITHHELD
    return full, formatted, bool((full["disclosure"] != "").any())


def mask_association(spec: dict, full, formatted, plan: Plan, consort: dict):
    """The association table through the plan: each level's n and events (%)."""
    full = full.copy()
    full["disclosure"] = ""
    events_column = formatted.columns[2]
    level_rows = [i for i in formatted.index if str(formatted.at[i, "n"])]
    for i, (index, record) in zip(level_rows, full.iterrows(), strict=True):
        where = (record["analysis_set"], record["exposure"], str(record["label"]))
        n_mark = plan.marker(association_key(*where, "n"), record["n"])
        events_mark = plan.marker(association_key(*where, "events"), record["events"])
        if n_mark:
            formatted.at[i, "n"] = n_mark
            full.at[index, "n"] = float("nan")
        if events_mark or n_mark:
            formatted.at[i, events_column] = events_mark or str(int(record["events"]))
            if events_mark:
                full.at[index, "events"] = float("nan")
            full.at[index, "disclosure"] = events_mark or n_mark
            if "percent" in full.columns:
                full.at[index, "percent"] = float("nan")
    return full, formatted, bool((full["disclosure"] != "").any())


def mask_prepost(spec: dict, full, formatted, plan: Plan, consort: dict):
    """The pre/post table through the plan: each arm's n (scores) and events/n (categories).
    An arm column's filled cells are its "arm summary" records of `full`, in order."""
    full = full.copy()
    full["disclosure"] = ""
    for arm in spec["arms"]:
        if arm["label"] not in formatted.columns:
            continue
        rows = [i for i in formatted.index if str(formatted.at[i, arm["label"]])]
        records = full.index[(full["record"] == "arm summary") & (full["arm"] == arm["id"])]
        for i, at in zip(rows, records, strict=True):
            text = _prepost_cell(plan, full.loc[at], str(formatted.at[i, arm["label"]]))
            if text is None:
                continue
            formatted.at[i, arm["label"]] = text
            full.loc[at, ["n", "n_events", "proportion"]] = float("nan")
            full.at[at, "disclosure"] = WITHHELD
    # the effect records' n (the CSV's only) are Table 2's: as Table 2 prints them
    for at in full.index[full["record"] == "effect"]:
        n = full.at[at, "n"]
        marker = None if _missing(n) else plan.marker(effects_n_key(full.loc[at]), n)
        if marker:
            full.at[at, "n"], full.at[at, "disclosure"] = float("nan"), marker
    return full, formatted, bool((full["disclosure"] != "").any())


def mask_effects(spec: dict, full, formatted, plan: Plan, consort: dict):
    """Table 2's `full` (its CSV) through the plan: a withheld n emptied, its marker in the
    `disclosure` column, with the row's observations (at most n times the visits: they would
    bound it) and its analysis set's n where that is withheld. `formatted` prints its n
    through the plan already (tables.effects_table)."""
    full = full.copy()
    full["disclosure"] = ""
    counts = [c for c in ("n", "n_obs", "n_analysis_set") if c in full]
    for column in counts:  # whole numbers that can be emptied (printed "370", not "370.0")
        full[column] = full[column].astype("Int64")
    for index, row in full.iterrows():
        if "n_analysis_set" in full and not _missing(row["n_analysis_set"]):
            if plan.hides(_set_key(row["analysis_set"], row["outcome"], OVERALL)):
                full.at[index, "n_analysis_set"] = None
        marker = None if _missing(row["n"]) else plan.marker(effects_n_key(row), row["n"])
        if marker:
            for column in ("n", "n_obs"):
                if column in full:
                    full.at[index, column] = None
            full.at[index, "disclosure"] = marker
    return full, formatted, bool((full["disclosure"] != "").any())


def _prepost_cell(plan: Plan, summary, text: str) -> str | None:
    """One arm summary as printed through the plan (None: unchanged)."""
    n = plan.marker(prepost_key(summary, "n"), summary["n"])
    if _missing(summary["n_events"]):
        return None if n is None else text.rsplit("; n = ", 1)[0] + f"; {n_text(n, 0)}"
    events = plan.marker(prepost_key(summary, "events"), summary["n_events"])
    if n is None and events is None:
        return None
    return f"{events or int(summary['n_events'])}/{n or int(summary['n'])}"


def n_text(marker: str | None, n) -> str:
    """ "n = 12", or a withheld n as "n < 5" / "n ≥ 5" (not "n = <5")."""
    return f"n {marker[0]} {marker[1:]}" if marker else f"n = {int(n)}"


def published_consort(consort: dict, plan: Plan) -> dict:
    """consort.json as the CONSORT diagram and the report print it: each withheld count
    replaced by its marker (a string), and `disclosure_note` set when any is."""
    import copy

    if not plan.on:
        return consort
    out = copy.deepcopy(consort)
    withheld = False
    for path, table in [*_consort_families(consort), *_flow_families(consort)]:
        target = out
        for step in path:
            target = target.setdefault(step, {})
        for arm, n in table.items():
            marker = plan.marker(consort_key(*path, arm), n)
            if marker:
                target[arm], withheld = marker, True
    marker = plan.marker(enrolled_key(consort), consort["enrolled"])
    if marker:
        out["enrolled"], withheld = marker, True
    # cluster and delivery-group sizes are counts of participants (one cluster of 3 is its
    # arm's allocated 3; two clusters' min + max are): only the number of units is printed
    for key in ("clusters", "delivery_groups"):
        for arm, units in out.get(key, {}).get("allocated", {}).items():
            if units and units.get("n"):
                out[key]["allocated"][arm] = {"n": units["n"], "sizes_withheld": True}
                withheld = True
    if withheld:
        out["disclosure_note"] = plan.note()
    return out


# --------------------------------------------------------------------------------------
# Estimates computed from counts (unadjusted risk ratio, risk difference, trend)
# --------------------------------------------------------------------------------------

# An unadjusted estimate is a function of the counts it is computed from: a risk ratio
# (a/n1)/(c/n2) with n1, n2 and c printed gives a back. Where a count it uses is withheld,
# the estimate, its CI and P print as a dash (model estimates adjusted for covariates, which
# no table's counts determine, still print: module doc).
FROM_COUNTS = {"risk_ratio", "risk_difference", "prevalence_trend"}
ESTIMATE_NOTE = "not shown: computed from counts withheld for disclosure control"


def _from_counts(row: Mapping) -> bool:
    """Whether an effects row's estimate is a closed-form function of per-group counts: the
    unadjusted risk ratio, risk difference and trend, and an odds ratio of a logistic fit on
    one factor without covariates (the cohort comparison's or an association's: then the
    cross-product ratio of the counts)."""
    if row.get("estimand") in FROM_COUNTS:
        return True
    method = str(row.get("method", ""))
    return row.get("estimand") in ("adjusted_odds_ratio", "odds_ratio") and (
        "unadjusted (no covariates)" in method or "), unadjusted;" in method
    )


def estimate_count_keys(row: Mapping) -> list[str]:
    """The count facts an unadjusted effects row is computed from: each compared group's
    events and n, as Table 2 / the pre-post table (prepost_key), the cohort table
    (cohort_key) or the association table (association_key) print them; [] for a model
    estimate."""
    if not _from_counts(row):
        return []
    contrast = str(row.get("contrast", ""))
    if row.get("analysis") == "association":  # levels "label - reference" of one exposure
        where = (row["analysis_set"], row["exposure"])
        levels = contrast.split(" - ")
        return [association_key(*where, level, w) for level in levels for w in ("events", "n")]
    if row.get("analysis") == "cohort_comparison":
        if contrast.startswith("linear trend: "):
            groups = contrast[len("linear trend: ") :].split(", ")
        else:
            groups = contrast.split(" - ")
        where = {"analysis_set": row["analysis_set"], "outcome": row["outcome"]}
        return [cohort_key({**where, "cohort": g}, w) for g in groups for w in ("events", "n")]
    where = {k: row[k] for k in ("analysis_set", "outcome", "timepoint")}
    arms = contrast.split(" - ")
    return [prepost_key({**where, "arm": a}, w) for a in arms for w in ("events", "n")]


def withholds_estimate(plan: Plan, row: Mapping) -> bool:
    """Whether an effects row prints as a dash: an unadjusted estimate using a withheld count."""
    return plan.on and any(plan.hides(key) for key in estimate_count_keys(row))


def withhold_estimates(effects, plan: Plan):
    """effects rows as a shared table prints them: the estimate, CI, SE and P of each row
    `withholds_estimate` names emptied, the note saying why (the analyst's effects.csv keeps
    them)."""
    if not plan.on or effects.empty:
        return effects
    out = effects.copy()
    gone = [withholds_estimate(plan, row) for row in out.to_dict("records")]
    columns = ["estimate", "se", "ci_low", "ci_high", "p_value", "p_adjusted"]
    columns = [c for c in columns if c in out]
    out.loc[gone, columns] = float("nan")
    if "note" in out:
        out["note"] = out["note"].astype(object)
        out.loc[gone, "note"] = ESTIMATE_NOTE
    return out


# --------------------------------------------------------------------------------------
# Notes of the shared outputs (separation, participants left out)
# --------------------------------------------------------------------------------------

_SEPARATION_COUNTS = [
    # the numbers of a separated level, which may be a withheld or complementary count
    (r"all 0 events among its \d+ participants", "all 0 events among its participants"),
    (r"all (\d+) of its \1 participants had the event", "all of its participants had the event"),
    (r"fitted probabilities of 0 or 1 for \d+ participants", "fitted probabilities of 0 or 1"),
]
_PARTICIPANT_COUNT = r"\b(\d+) (participants\b|participant\(s\)|participant\b)"


def shared_note(note, plan: Plan):
    """An effects note as a shared output prints it under disclosure control: a separation
    message without its counts (a level's participants may be a count the plan withholds,
    "<k" or "≥k"), and any other count of participants below k as "fewer than k"; unchanged
    when disclosure control is off (effects.csv keeps the whole note)."""
    import re

    if not plan.on or not isinstance(note, str) or not note:
        return note
    for pattern, words in _SEPARATION_COUNTS:
        note = re.sub(pattern, words, note)

    def fewer(match) -> str:
        n = int(match[1])
        return f"fewer than {plan.min_cell} participants" if 0 < n < plan.min_cell else match[0]

    return re.sub(_PARTICIPANT_COUNT, fewer, note)


def shared_effects(effects, plan: Plan):
    """effects.csv as the shared tables and figures read it: estimates from withheld counts
    emptied (withhold_estimates) and every note through `shared_note`."""
    if not plan.on:
        return effects
    out = withhold_estimates(effects, plan)
    if "note" in out:
        out["note"] = [shared_note(n, plan) for n in out["note"]]
    return out


# --------------------------------------------------------------------------------------
# The report's intercurrent events (estimands.json)
# --------------------------------------------------------------------------------------


def intercurrent_key(*path) -> str:
    """A count of the report's intercurrent-event table: ("participants", column, arm)."""
    return "estimands/" + "/".join(str(p) for p in path)


def intercurrent_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """Per intercurrent event (its column) and arm the participants with it, of the arm's
    intention-to-treat n (consort: with + without = itt, without hidden). The observations set
    aside print through `observation_count`."""
    if "estimands" not in inputs:
        return
    analyses = json.loads(Path(inputs["estimands"]).read_text())
    for name, analysis in analyses.items():
        if name == "definitions":
            continue
        for event in analysis.get("intercurrent_events") or []:
            for arm, n in event["participants"].items():
                _event_participants(counts, event["column"], arm, n)


def _event_participants(counts: Counts, column: str, arm: str, n) -> str:
    key = counts.add(intercurrent_key("participants", column, arm), n)
    itt = consort_key("analysed", "itt", arm)
    if itt in counts.values and counts.values[itt] >= counts.values[key]:
        rest = intercurrent_key("participants", column, f"{arm}/without")
        counts.add(rest, counts.values[itt] - counts.values[key], hidden=True)
        counts.add_sum(itt, [key, rest])
    return key


def observation_count(plan: Plan, column: str, arm: str, n) -> str:
    """An arm's observations after an intercurrent event as the report prints them: through
    the primary rule ("<k"); where the arm's participants with the event are withheld, a
    count of k or more as a dash (the observations are at most those participants times the
    visits after the event: "≥k" observations would bound a withheld count from below)."""
    shown = plan.count(None, n)
    if plan.hides(intercurrent_key("participants", column, arm)) and shown == f"{int(n)}":
        return shown if int(n) == 0 else DASH_WITHHELD
    return shown


# a count not shown (observation_count): formatting.DASH, not imported (this module is
# imported when the DAG is built: standard library only at the top)
DASH_WITHHELD = "\u2014"


# the report's intercurrent-event table (estimands.json, when the disclosure job has it)
SOURCES["estimands"] = (intercurrent_facts, ("estimands",))


# --------------------------------------------------------------------------------------
# The models' n per arm (CONSORT's "analysed" lines) and Table 2's n of score outcomes
# --------------------------------------------------------------------------------------

# Table 2 prints each model's n, the arms' model n summed; the CONSORT diagram prints the
# primary outcomes' model n per arm beside those without data. With both, Table 2's n less
# the printed arms gives a withheld arm's model n back, so the arms' model n are facts of the
# plan, each arm's analysis set the model n plus those without data, and Table 2's n (every
# analysis set's) their sum: intention-to-treat's n less per-protocol's is those with data left
# out of per protocol (a hidden fact per arm, `_nested_model_sums`).


def model_key(analysis_set: str, outcome: str, arm: str) -> str:
    return f"model/{analysis_set}/{outcome}/{arm}"


def no_data_key(model: str) -> str:
    """The flow diagrams' "no data" beside a model n (`model_key`): the set's (a cohort's
    respondents') others."""
    return f"{model}/no_data"


def model_n_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """Per configured analysis set, score outcome and arm the participants its model used
    (trialeval.model_n), with the sums they enter; Table 2's n of each primary-analysis score
    row as the sum of its arms, where the counts agree (a model that left participants out
    for a missing covariate has no such sum). A cohort comparison: its flow's analysed and
    no-data counts (`_cohort_model_facts`)."""
    if not {"effects", "model_n"} <= set(inputs):
        return
    if spec["design"] == "cohort_comparison":
        _cohort_model_facts(spec, inputs, counts)
        return
    if spec["design"] not in ("rct", "cluster_rct", "quasi_experimental"):
        return
    from trialeval.io import read_csv
    from trialeval.model_n import model_used

    consort = json.loads(Path(inputs["consort"]).read_text())
    # as the figures print them: the participants each model reported using, per arm
    reported = read_csv(inputs["model_n"])
    arms = list(consort["allocated"])
    names = [
        s for s in spec["analyses"].get("analysis_sets") or ["itt"] if s in consort["analysed"]
    ]
    for outcome in [o for o in spec["outcomes"] if o["kind"] == "score"]:
        # CONSORT prints a primary outcome's model n and "no data" per arm; a randomized
        # trial's Table 2 every score outcome's model n per arm (its group cells); a pre/post
        # study's secondary ones are printed nowhere (Table 2 gives their sum)
        hidden = outcome["role"] != "primary" and spec["design"] not in ("rct", "cluster_rct")
        for name in names:
            used = model_used(reported, spec, name, outcome["id"], arms)
            for arm, n in used.items():
                key = counts.add(model_key(name, outcome["id"], arm), n, hidden=hidden)
                # the diagram's "no data": the set's others (those of the complete-case set
                # without this outcome at every visit among them)
                set_key = consort_key("analysed", name, arm)
                _model_set_sum(counts, set_key, key, no_data_key(key), hidden)
                if name == "complete_case":  # and the outcome's own complete-case set
                    cc = _set_key(name, outcome["id"], arm)
                    _model_set_sum(counts, cc, key, f"{key}/not_in_set", hidden=True)
        for name in names:
            _nested_model_sums(counts, name, outcome["id"], arms)
    _table2_score_n(spec, read_csv(inputs["effects"]), arms, counts)


def _cohort_model_facts(spec: dict, inputs: Mapping, counts: Counts) -> None:
    """The cohort flow's analysed counts: per primary outcome and cohort the respondents its
    adjusted model used (model_n.csv, in the flow's set) and beside them the cohort's other
    respondents ("no data"), the two summing to its respondents (consort `assessed`).
    cohort_facts links them to the cohort table's N (`_cohort_n_sums`)."""
    from trialeval.cohort_flow import primary_outcomes, primary_set
    from trialeval.io import read_csv
    from trialeval.model_n import model_used

    consort = json.loads(Path(inputs["consort"]).read_text())
    reported = read_csv(inputs["model_n"], dtype={"arm": str})
    name, cohorts = primary_set(spec), list(consort["allocated"])
    for outcome in primary_outcomes(spec):
        for cohort, n in model_used(reported, spec, name, outcome, cohorts).items():
            key = counts.add(model_key(name, outcome, cohort), n)
            responded = consort_key("assessed", spec["baseline"], cohort)
            _model_set_sum(counts, responded, key, no_data_key(key), hidden=False)


def _set_key(analysis_set: str, outcome: str, arm: str) -> str:
    """The consort count of the set a model of `outcome` draws on: the complete-case set is
    per outcome (those with it scored at every timepoint)."""
    if analysis_set == "complete_case":
        return consort_key("analysed_by_outcome", "complete_case", outcome, arm)
    return consort_key("analysed", analysis_set, arm)


def _model_set_sum(counts: Counts, set_key: str, key: str, rest: str, hidden: bool) -> None:
    """The arm's set = its model n + the rest of the set (`rest`, a fact)."""
    n = counts.values[key]
    if set_key in counts.values and counts.values[set_key] >= n:
        counts.add(rest, counts.values[set_key] - n, hidden=hidden)
        counts.add_sum(set_key, [key, rest])


def _nested_model_sums(counts: Counts, name: str, outcome: str, arms: list[str]) -> None:
    """A supportive set's model (per protocol, complete case) is of intention-to-treat
    participants: per arm, intention-to-treat's model n = this set's + those with data not in
    it, a count of participants (hidden: Table 2's two n give its sum over the arms)."""
    for arm in arms if name != "itt" else []:
        itt, own = model_key("itt", outcome, arm), model_key(name, outcome, arm)
        if itt in counts.values and own in counts.values:
            rest = counts.values[itt] - counts.values[own]
            if rest >= 0:
                counts.add(f"{itt}/not_in/{name}", rest, hidden=True)
                counts.add_sum(itt, [own, f"{itt}/not_in/{name}"])


def _table2_score_n(spec: dict, effects, arms: list[str], counts: Counts) -> None:
    """Table 2's n of each primary-analysis score row, every analysis set's, a fact
    (`effects_n_facts`) and, where the counts agree, the sum of the arms' model n."""
    canonical = effects_n_facts(effects, counts)
    kinds = {o["id"]: o["kind"] for o in spec["outcomes"]}
    for row in effects.to_dict("records"):
        if kinds.get(row["outcome"]) != "score" or _missing(row.get("n")):
            continue
        if _analysis_name(row) != "primary":
            continue
        parts = [model_key(row["analysis_set"], row["outcome"], a) for a in arms]
        if all(p in counts.values for p in parts):
            counts.add_sum_if_equal(canonical[effects_n_key(row)], parts)


SOURCES["model_n"] = (model_n_facts, ("consort", "effects", "model_n"))


# --------------------------------------------------------------------------------------
# Evaluation bars merged into three blocks
# --------------------------------------------------------------------------------------


def evaluation_counts(rates: list[dict], summaries: list, themes, k: int):
    """(counts, status, merged) of the evaluation job: its tables' facts and plan, then the
    items whose withheld bar may print merged into three blocks (agreeing, the middle answer,
    not agreeing: `merge_blocks`), their not-agreeing counts added to `counts`."""
    counts = Counts()
    evaluation_facts(rates, summaries, themes, counts)
    counts.keep = _kept_for_merging(summaries)
    status = plan(counts, k)
    merged = set()
    for items, answers in summaries:
        for item in items.to_dict("records"):
            if merge_blocks(counts, status, k, item, answers):
                merged.add(evaluation_key(*_item_path(item)))
    return counts, status, frozenset(merged)


def _kept_for_merging(summaries: list) -> set[str]:
    """The agreeing fact and the middle answer's level fact of every item."""
    keys = set()
    for items, answers in summaries:
        for item in items.to_dict("records"):
            middle = _blocks(item, answers)[3]
            keys.add(evaluation_key(*_item_path(item), "agreeing"))
            if middle is not None:
                keys.add(evaluation_key(*_item_path(item), f"level={middle}"))
    return keys


def _item_path(item: Mapping) -> tuple:
    return ("item", item["group"], item["instrument"], item["item"])


def _blocks(item: Mapping, answers):
    """(the item's answer rows, its codes in scale order, the codes not agreeing apart from
    the middle answer, the middle answer or None), by evaluation_figures.sides."""
    from trialeval.evaluation_figures import sides

    mine = answers[
        (answers["instrument"] == item["instrument"]) & (answers["item"] == item["item"])
    ]
    codes = [str(c) for c in mine["code"]]
    agree = [str(c) for c, a in zip(mine["code"], mine["agree"], strict=True) if bool(a)]
    _, left, middle = sides(codes, agree)
    return mine, codes, left, middle


def merge_blocks(counts: Counts, status: Mapping[str, str], k: int, item, answers) -> bool:
    """Whether an item whose bar the plan withholds (a count of its answers withheld) prints
    merged: its answered, agreeing and middle-answer counts print, its not-agreeing count
    (the other answers) is 0 or at least k, and with that count printed (summing to the
    answered with the other two) the audit still finds every withheld count unpinned. The
    not-agreeing fact and its sums are then added to `counts`."""
    where = _item_path(item)
    _, codes, left, middle = _blocks(item, answers)
    level = {c: evaluation_key(*where, f"level={c}") for c in codes}
    answered, agreeing = (evaluation_key(*where, w) for w in ("answered", "agreeing"))
    if not any(key in status for key in [answered, agreeing, *level.values()]):
        return False  # the bar prints whole
    shown = [answered, agreeing, *([level[middle]] if middle is not None else [])]
    rest = sum(counts.values[level[c]] for c in left)
    if any(key in status for key in shown) or 0 < rest < k or not left:
        return False
    import copy

    trial = copy.deepcopy(counts)
    not_agreeing = trial.add(evaluation_key(*where, "not_agreeing"), rest)
    trial.add_sum(not_agreeing, [level[c] for c in left])
    trial.add_sum(answered, [agreeing, *shown[2:], not_agreeing])
    if _derivation(trial, status) is not None:
        return False
    if any(hi - lo < 1 - 1e-9 for lo, hi in feasible_intervals(trial, status, k).values()):
        return False
    counts.values, counts.hidden, counts.sums = trial.values, trial.hidden, trial.sums
    return True


def merged_shares(item: Mapping, answers) -> dict[str, float] | None:
    """{"agree", "middle", "other": % of the answered} of an item's merged bar; the middle
    share is 0 on a scale without a middle answer."""
    mine, codes, _, middle = _blocks(item, answers)
    n = dict(zip(codes, mine["n"], strict=True))
    total = int(item["answered"])
    if not total:
        return None
    middle_n = int(n[middle]) if middle is not None else 0
    other = total - int(item["agreeing"]) - middle_n
    return {
        "agree": 100 * int(item["agreeing"]) / total,
        "middle": 100 * middle_n / total,
        "other": 100 * other / total,
    }
