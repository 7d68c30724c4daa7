"""Score intervals for proportions and their difference (numpy and scipy.special only).

- `wilson_interval`: the Wilson (1927) score interval of one proportion, without continuity
  correction, as R's `prop.test(x, n, correct = FALSE)$conf.int`: the p with
  |phat - p| = z sqrt(p (1 - p) / n), i.e.

      (phat + z^2 / 2n -+ z sqrt(phat (1 - phat) / n + z^2 / 4n^2)) / (1 + z^2 / n).

- `newcombe_difference`: the difference of two independent proportions p1 - p2 with
  Newcombe's hybrid score interval (Newcombe 1998, Stat Med 17:873-890, method 10), built
  from each proportion's Wilson interval (l_i, u_i):

      lower = d - sqrt((p1 - l1)^2 + (u2 - p2)^2),
      upper = d + sqrt((u1 - p1)^2 + (p2 - l2)^2).

  It stays inside [-1, 1], is defined with zero events (or all events) in a group, and its
  coverage is close to nominal in small samples, where the Wald interval is not.

A group without participants has no proportion: its interval is NaN.
"""

from __future__ import annotations

import math

from scipy import special

__all__ = ["newcombe_difference", "wilson_interval"]


def _z(alpha: float) -> float:
    return float(special.ndtri(1 - alpha / 2))


def wilson_interval(events: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval (no continuity correction) for events / n; (nan, nan) if n = 0."""
    if not 0 <= events <= n:
        raise ValueError(f"events must be between 0 and n (got {events} of {n})")
    if n == 0:
        return math.nan, math.nan
    z = _z(alpha)
    p = events / n
    z2n = z * z / n
    centre = p + z2n / 2
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    low, high = (centre - half) / (1 + z2n), (centre + half) / (1 + z2n)
    # at 0 and n events the limits are exactly 0 and 1 (rounding may leave 1e-17 either side)
    return (0.0 if events == 0 else low), (1.0 if events == n else high)


def newcombe_difference(
    events_1: int, n_1: int, events_2: int, n_2: int, alpha: float = 0.05
) -> dict[str, float]:
    """p1 - p2 with Newcombe's hybrid score CI (method 10, from Wilson intervals without
    continuity correction): {estimate, ci_low, ci_high, p1, p2}; NaN when a group is empty."""
    l1, u1 = wilson_interval(events_1, n_1, alpha)
    l2, u2 = wilson_interval(events_2, n_2, alpha)
    if n_1 == 0 or n_2 == 0:
        return dict.fromkeys(("estimate", "ci_low", "ci_high", "p1", "p2"), math.nan)
    p1, p2 = events_1 / n_1, events_2 / n_2
    d = p1 - p2
    return {
        "estimate": d,
        "ci_low": d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        "ci_high": d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
        "p1": p1,
        "p2": p2,
    }
