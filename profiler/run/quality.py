"""Is a measured point clean enough to rest a finding on, and which to measure again.

A point is *flagged* when its number is known to be bad: it could not collect enough
samples free of contention (``contended``). Flagged points stay in the records and
the figures (hollow) but no fit, crossover or finding rests on them.

The second pass (runner.remeasure) measures again, in fresh worker processes and
within ``[budget].remeasure_seconds``, the points that are contended, that break
their curve (a longer n measured faster than a shorter one beyond both points'
instance ranges), whose instances disagree on the floor (no second instance came
within the noise of it), or that are noisy, in that order.
"""

from __future__ import annotations

from profiler.measure import instances
from profiler.records import NOISY_REL_IQR, point_of

MAX_ATTEMPTS = 3  # a point is measured at most this often, however often a run resumes

# Why a point is measured again, most important first.
REASONS = ("contended", "breaks its curve", "instances disagree", "noisy")


def is_flagged(row: dict) -> bool:
    """An ok row whose number is known not to measure the model (contended)."""
    return row.get("status") == "ok" and row.get("contended") is True


def own_reasons(row: dict, rtol: float) -> list[str]:
    """What is wrong with an ok row taken alone (no curve needed)."""
    if row.get("status") != "ok":
        return []
    reasons = []
    if row.get("contended"):
        reasons.append("contended")
    if (row.get("instances") or 1) >= 2 and not instances.floor_confirmed(row, rtol):
        reasons.append("instances disagree")
    if (row.get("latency_rel_iqr") or 0.0) >= NOISY_REL_IQR:
        reasons.append("noisy")
    return reasons


def _range(row: dict) -> tuple[float, float]:
    """Fastest and slowest instance floor of a row (its latency alone without samples)."""
    values = instances.floors(row) or [row["latency_s"]]
    return min(values), max(values)


def curve_breakers(rows: list[dict], rtol: float) -> set[str]:
    """point_ids of ok rows where a longer sequence was measured faster than a shorter
    one on the same curve, beyond both instance ranges and ``rtol``: one of the two is
    wrong, and which one is not known, so both are named."""
    curves: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.get("status") == "ok" and row.get("latency_s"):
            curves.setdefault(point_of(row).series, []).append(row)
    broken = set()
    for curve in curves.values():
        curve.sort(key=lambda r: r["seq_len"])
        for i, short in enumerate(curve):
            lo_short, _ = _range(short)
            for long in curve[i + 1:]:
                _, hi_long = _range(long)
                if long["seq_len"] > short["seq_len"] and hi_long * (1 + rtol) < lo_short:
                    broken.update((short["point_id"], long["point_id"]))
    return broken


def remeasure_plan(rows: list[dict], rtol: float) -> list[tuple[dict, str]]:
    """(row, reason) for each latest row worth measuring again, most important reason
    first and, within a reason, cheapest first (so a bounded pass fixes the most)."""
    broken = curve_breakers(rows, rtol)
    plan = []
    for row in rows:
        if (row.get("attempt") or 1) >= MAX_ATTEMPTS:
            continue
        reasons = own_reasons(row, rtol)
        if row.get("point_id") in broken:
            reasons.append("breaks its curve")
        if reasons:
            reason = min(reasons, key=REASONS.index)
            plan.append((row, reason))
    plan.sort(key=lambda rr: (REASONS.index(rr[1]), rr[0].get("point_wall_s") or 0.0))
    return plan
