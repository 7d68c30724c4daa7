"""The `power:` block of a trial file, resolved and checked against the trial.

Split from trialeval.power because the block is resolved when the DAG is built, for every
Snakemake call: this module needs the standard library only, where trialeval.power (the
simulation) imports pandas and numpy (about 0.7 s per call, measured).
"""

from __future__ import annotations

import math

from trialeval.errors import TrialInputError

# The palette of trialeval.figures (standard library only), so an arm keeps its colour and
# marker across figures.
from trialeval.palette import MARKERS, OKABE_ITO, arm_slots, slot_style

CLUSTER = "cluster_rct"
# The estimand tested when the block names none: for a cluster plan the difference in means,
# which the ICC drives (the cluster intercept cancels from a participant's change).
DEFAULT_ESTIMAND = {CLUSTER: "diff_in_means"}


# --------------------------------------------------------------------------------------
# The power block: resolve and cross-check against the trial
# --------------------------------------------------------------------------------------


def resolve_power(
    raw: dict,
    *,
    arms: list[dict],
    outcomes: list[dict],
    timepoints: list[dict],
    design: str,
    analyses: dict,
    where: str,
) -> dict:
    """Resolve a schema-validated `power` block against the resolved trial (its arms, outcomes,
    timepoints, design and analyses). Raises TrialInputError naming the file and key.

    Returns {design, arms: [{id, label, ratio, control, new, colour, marker, effects: {outcome:
    value}}] (control first, then the intervention arms as listed), control_arm, visits,
    visit_labels ({visit id: the trial's label}), attrition (one cumulative fraction per post
    visit), outcomes: [{id, label, from_fit, sd_participant, sd_residual, icc}], estimand,
    sample_sizes (ascending; empty for a cluster plan), clusters_per_arm (ascending; empty
    unless cluster plan), cluster_size, cluster_size_cv, points (chunk-file labels of the
    sizes scanned: n<N> or k<clusters>), n_sims, chunk_size, n_chunks, alpha, seed,
    target_power, from_fit (whether any outcome reads the fitted model)}.
    """
    key = f"{where}: power"
    cluster = design == CLUSTER
    planned_outcomes = _resolve_outcomes(raw, outcomes, design, analyses, key)
    outcome_ids = [o["id"] for o in planned_outcomes]
    planned = _resolve_arms(raw, arms, outcome_ids, cluster, key)
    controls = [a["id"] for a in planned if a["control"]]
    visits, attrition = _resolve_visits(raw, timepoints, key)
    sizes = _resolve_sizes(raw, planned, cluster, key)
    n_sims = int(raw.get("n_sims", 1000))
    chunk_size = int(raw.get("chunk_size", 250))
    return {
        "design": design,
        "arms": planned,
        "control_arm": controls[0],
        "visits": visits,
        "visit_labels": {t["id"]: t.get("label", t["id"]) for t in timepoints if t["id"] in visits},
        "attrition": attrition,
        "outcomes": planned_outcomes,
        "estimand": _resolve_estimand(raw, design, analyses, key),
        **sizes,
        "n_sims": n_sims,
        "chunk_size": chunk_size,
        "n_chunks": -(-n_sims // chunk_size),
        "alpha": float(raw.get("alpha", 0.05)),
        "seed": int(raw.get("seed", 1)),
        "target_power": float(raw.get("target_power", 0.8)),
        "from_fit": any(o["from_fit"] for o in planned_outcomes),
    }


def _resolve_estimand(raw: dict, design: str, analyses: dict, key: str) -> str:
    """The estimand the plan tests: the block's own, else the primary effect measure the
    trial names (analyses.estimand.effect), else the design's default. A plan powers the
    primary analysis, so a block naming another effect than the trial's is refused."""
    named = ((analyses or {}).get("estimand") or {}).get("effect")
    planned = raw.get("estimand")
    if planned and named and planned != named:
        raise TrialInputError(
            f"{key}.estimand: {planned!r} is not the trial's primary effect measure "
            f"(analyses.estimand.effect: {named!r}); a power plan tests the primary effect, so "
            f"remove power.estimand or give it {named!r}"
        )
    return planned or named or DEFAULT_ESTIMAND.get(design, "diff_in_change")


def _resolve_outcomes(raw: dict, outcomes: list[dict], design: str, analyses: dict, key: str):
    """The planned outcomes with their variance components (or from_fit)."""
    trial_outcomes = {o["id"]: o for o in outcomes}
    scores = [o["id"] for o in outcomes if o["kind"] == "score"]
    cluster = design == CLUSTER
    raw_outcomes = raw.get("outcomes") or []
    if not raw_outcomes:
        raise TrialInputError(f"{key}.outcomes: list at least one score outcome of the trial")
    planned = []
    for j, out in enumerate(raw_outcomes):
        okey = f"{key}.outcomes[{j}] ({out['id']})"
        outcome = trial_outcomes.get(out["id"])
        if outcome is None:
            raise TrialInputError(
                f"{okey}: {out['id']!r} is not an outcome of the trial; expected one of the "
                f"score outcomes {scores}"
            )
        if outcome["kind"] != "score":
            raise TrialInputError(
                f"{okey}: {out['id']!r} is a {outcome['kind']} outcome; power is simulated for "
                f"score outcomes (the mixed model), expected one of {scores}"
            )
        from_fit = bool(out.get("from_fit", False))
        given = [k for k in ("sd_participant", "sd_residual") if k in out]
        if from_fit and given:
            raise TrialInputError(
                f"{okey}: give either from_fit: true or sd_participant and sd_residual, not both "
                f"(found {given})"
            )
        if not from_fit and len(given) < 2:
            missing = sorted({"sd_participant", "sd_residual"} - set(given))
            raise TrialInputError(
                f"{okey}: {', '.join(missing)} missing; give sd_participant and sd_residual, or "
                f"from_fit: true to take them from the trial's fitted model"
            )
        if "icc" in out and not cluster:
            raise TrialInputError(
                f"{okey}.icc: an ICC belongs to a cluster-randomized plan (design cluster_rct); "
                f"this trial's design is {design}"
            )
        if cluster and "icc" not in out and not from_fit:
            raise TrialInputError(
                f"{okey}: icc missing; a cluster-randomized plan needs the ICC (the cluster's "
                f"share of the variance of one score), or from_fit: true to take it from the "
                f"trial's fitted model"
            )
        if from_fit:
            mixed = analyses["mixed_model"]
            if (
                design not in ("rct", CLUSTER)
                or mixed["model"] != "repeated"
                or "itt" not in analyses["analysis_sets"]
            ):
                raise TrialInputError(
                    f"{okey}.from_fit: needs the trial's repeated-measures mixed model on the itt "
                    f"set (design rct or cluster_rct, analyses.mixed_model.model repeated, itt "
                    f"among analyses.analysis_sets); give sd_participant and sd_residual instead"
                )
        planned.append(
            {
                "id": out["id"],
                "label": outcome["label"],
                "from_fit": from_fit,
                "sd_participant": None if from_fit else float(out["sd_participant"]),
                "sd_residual": None if from_fit else float(out["sd_residual"]),
                "icc": float(out["icc"]) if "icc" in out else None,
            }
        )
    _unique_ids([o["id"] for o in planned], f"{key}.outcomes", "outcome")
    return planned


def _resolve_arms(raw: dict, arms: list[dict], outcome_ids: list[str], cluster: bool, key: str):
    """The planned arms, control first, with colours, markers and expected effects."""
    trial_arms = {a["id"]: (i, a) for i, a in enumerate(arms)}
    slots = arm_slots(arms)
    raw_arms = raw.get("arms") or []
    if len(raw_arms) < 2:
        raise TrialInputError(f"{key}.arms: list at least two arms, one of them the control")
    planned = []
    used_colours = set()
    for i, arm in enumerate(raw_arms):
        akey = f"{key}.arms[{i}] ({arm['id']})"
        if cluster and "ratio" in arm:
            raise TrialInputError(
                f"{akey}.ratio: a cluster-randomized plan gives every arm clusters_per_arm "
                f"clusters; leave ratio out"
            )
        if not cluster and "ratio" not in arm:
            raise TrialInputError(
                f"{akey}: ratio is missing; give the arm's allocation ratio (e.g. 1 for equal "
                f"allocation)"
            )
        known = trial_arms.get(arm["id"])
        new = bool(arm.get("new", False))
        if known is None and not new:
            raise TrialInputError(
                f"{akey}: {arm['id']!r} is not an arm of the trial (arms: {list(trial_arms)}); "
                f"mark a planned new arm with `new: true`"
            )
        if known is not None and new:
            raise TrialInputError(
                f"{akey}: {arm['id']!r} is already an arm of the trial; remove `new: true`"
            )
        if known is not None:
            _, trial_arm = known
            control = trial_arm["control"]
            if "control" in arm and bool(arm["control"]) != control:
                raise TrialInputError(
                    f"{akey}.control: whether an arm of the trial is the control comes from the "
                    f"trial's `arms` ({arm['id']!r} has control: {str(control).lower()})"
                )
            label = arm.get("label", trial_arm["label"])
            style = slot_style(slots[arm["id"]])
            colour = arm.get("colour") or trial_arm.get("colour") or style["colour"]
            marker = style["marker"]
        else:
            control = bool(arm.get("control", False))
            label = arm.get("label", arm["id"])
            colour = arm.get("colour")
            marker = None
        effects = {str(k): float(v) for k, v in (arm.get("effects") or {}).items()}
        _check_effects(effects, control, outcome_ids, akey)
        if colour:
            used_colours.add(colour)
        planned.append(
            {
                "id": arm["id"],
                "label": label,
                "ratio": float(arm.get("ratio", 1.0)),
                "control": control,
                "new": new,
                "colour": colour,
                "marker": marker,
                "effects": effects,
            }
        )
    _unique_ids([a["id"] for a in planned], f"{key}.arms", "arm")
    controls = [a["id"] for a in planned if a["control"]]
    if len(controls) != 1:
        raise TrialInputError(
            f"{key}.arms: exactly one arm must be the control (the trial's control arm, or a new "
            f"arm with control: true), found {len(controls)} ({', '.join(controls) or 'none'})"
        )
    # New arms: the next palette colours and markers nobody uses yet.
    free = iter([c for c in OKABE_ITO if c not in used_colours] + OKABE_ITO)
    taken = {a["marker"] for a in planned if a["marker"]}
    free_markers = iter([m for m in MARKERS if m not in taken] + MARKERS)
    for arm in planned:
        arm["colour"] = arm["colour"] or next(free)
        arm["marker"] = arm["marker"] or next(free_markers)
    planned.sort(key=lambda a: not a["control"])  # control first (the model's reference)
    return planned


def _check_effects(effects: dict, control: bool, outcome_ids: list[str], akey: str) -> None:
    if control and effects:
        raise TrialInputError(
            f"{akey}.effects: the control arm has no effects (effects are differences in "
            f"change from baseline versus the control arm)"
        )
    if control:
        return
    unknown = [o for o in effects if o not in outcome_ids]
    if unknown:
        raise TrialInputError(
            f"{akey}.effects: {unknown} are not outcomes of the power block; expected "
            f"some of {outcome_ids}"
        )
    missing = [o for o in outcome_ids if o not in effects]
    if missing:
        raise TrialInputError(
            f"{akey}.effects: no expected effect for outcome(s) {missing}; give one per "
            f"outcome of the power block (0 for none)"
        )


def _resolve_visits(raw: dict, timepoints: list[dict], key: str) -> tuple[list[str], list]:
    """Visit ids (baseline first) and the cumulative attrition per post visit."""
    visits = list(raw.get("visits") or [])
    if not visits:
        base = [t["id"] for t in timepoints if t["baseline"]]
        visits = base + [t["id"] for t in timepoints if not t["baseline"]]
    _unique_ids(visits, f"{key}.visits", "visit")
    if len(visits) < 2:
        raise TrialInputError(f"{key}.visits: a baseline and at least one later visit are needed")

    attrition = raw.get("attrition", 0.0)
    n_post = len(visits) - 1
    if isinstance(attrition, list):
        if len(attrition) != n_post:
            raise TrialInputError(
                f"{key}.attrition: one fraction per post-baseline visit ({n_post}: "
                f"{visits[1:]}), got {len(attrition)}"
            )
        if any(b < a for a, b in zip(attrition, attrition[1:], strict=False)):
            raise TrialInputError(
                f"{key}.attrition: fractions missing must not decrease over visits (dropout is "
                f"monotone), got {attrition}"
            )
        attrition = [float(a) for a in attrition]
    else:
        attrition = [float(attrition)] * n_post
    if not all(0.0 <= a < 1.0 for a in attrition):
        raise TrialInputError(f"{key}.attrition: fractions must be in [0, 1), got {attrition}")
    return visits, attrition


_CLUSTER_KEYS = ("clusters_per_arm", "cluster_size", "cluster_size_cv")


def _resolve_sizes(raw: dict, planned: list[dict], cluster: bool, key: str) -> dict:
    """The sizes scanned: total sample sizes, or (cluster plan) clusters per arm and the
    cluster size; with the chunk-file label of each."""
    if not cluster:
        stray = [k for k in _CLUSTER_KEYS if k in raw]
        if stray:
            raise TrialInputError(
                f"{key}.{stray[0]}: clusters belong to a cluster-randomized plan (design "
                f"cluster_rct); give sample_sizes (total participants) for this trial"
            )
        sizes = raw.get("sample_sizes") or []
        if not sizes:
            raise TrialInputError(f"{key}.sample_sizes: list the total sample sizes to simulate")
        sizes = sorted({int(n) for n in sizes})
        ratios = [a["ratio"] for a in planned]
        smallest = allocation(sizes[0], ratios)
        if min(smallest) < 2:
            raise TrialInputError(
                f"{key}.sample_sizes: total {sizes[0]} gives arms of {smallest} participants "
                f"({[a['id'] for a in planned]}); every arm needs at least 2"
            )
        return {
            "sample_sizes": sizes,
            "clusters_per_arm": [],
            "cluster_size": None,
            "cluster_size_cv": None,
            "points": [f"n{n}" for n in sizes],
        }
    if "sample_sizes" in raw:
        raise TrialInputError(
            f"{key}.sample_sizes: a cluster-randomized plan (design cluster_rct) is sized in "
            f"clusters; give clusters_per_arm (a list to scan) and cluster_size instead"
        )
    for name in ("clusters_per_arm", "cluster_size"):
        if name not in raw:
            raise TrialInputError(
                f"{key}.{name}: missing; a cluster-randomized plan needs clusters_per_arm (the "
                f"numbers of clusters per arm to simulate) and cluster_size (participants per "
                f"cluster)"
            )
    clusters = sorted({int(k) for k in raw["clusters_per_arm"]})
    return {
        "sample_sizes": [],
        "clusters_per_arm": clusters,
        "cluster_size": int(raw["cluster_size"]),
        "cluster_size_cv": float(raw.get("cluster_size_cv", 0.0)),
        "points": [f"k{k}" for k in clusters],
    }


def _unique_ids(values, key: str, what: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise TrialInputError(f"{key}: {what} {v!r} is listed twice; ids must be unique")
        seen.add(v)


def allocation(n_total: int, ratios) -> list[int]:
    """Arm sizes: n_total split by the ratios, remainders to the largest fractions (ties to the
    earlier arm)."""
    ratios = [float(r) for r in ratios]
    exact = [n_total * r / sum(ratios) for r in ratios]
    sizes = [math.floor(x) for x in exact]
    order = sorted(range(len(ratios)), key=lambda k: (-(exact[k] - sizes[k]), k))
    for k in order[: n_total - sum(sizes)]:
        sizes[k] += 1
    return sizes
