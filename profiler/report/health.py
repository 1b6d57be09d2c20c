"""The "Run health" section: how clean the measurements are. Points that could not get
a core to themselves (contended: kept out of every fit), the precision of the intervals
from the instances, what the second pass measured again, and noisy points."""

from __future__ import annotations

from pathlib import Path

from profiler.analyze import tables as A
from profiler.records import NOISY_REL_IQR, point_of
from profiler.report.document import Bullets, Section
from profiler.report.formats import CURVE_COLUMNS, fmt_n, fmt_pct, fmt_time, frame_table
from profiler.report.inputs import ReportInputs


def health_lines(inputs: ReportInputs, n_contended: int) -> list[str]:
    """Contention, precision from instances, second pass."""
    ran = inputs.ok
    if not len(ran):
        return []
    lines = [
        f"Contended: {n_contended} of {len(ran)} ok points were measured beside a busy "
        "neighbour (too few samples free of run-queue wait, or too many retaken); they are "
        "drawn hollow and no fit, crossover or finding rests on them."
        if ran["contention"].notna().any() else
        "Contention: not known (this OS gives no per-thread run-queue wait), so no "
        "point could be checked for a busy neighbour."]
    ci = inputs.intervals["ci_rel"].dropna()
    if len(ci):
        lines.append(f"Precision: {(ci <= 0.05).mean():.0%} of {len(ci)} ok points have a "
                     "95% interval within ±5% of their latency (interval from the "
                     "instances: the gap from the floor to the second-fastest instance, "
                     "plus three times the median gap of the points of the same device "
                     f"and thread count; median half-width {ci.median():.1%}).")
    again = ran[ran["attempt"].fillna(1) > 1]
    if len(again):
        why = again["remeasure_reason"].value_counts()
        lines.append(f"Measured again by the second pass: {len(again)} points ("
                     + ", ".join(f"{v} {k}" for k, v in why.items()) + ").")
    failed = ran[ran["remeasure_error"].notna()]
    if len(failed):
        lines.append(f"{len(failed)} of them failed when measured again and keep the "
                     "numbers of the attempt before: " + "; ".join(
                         f"{point_of(r).label()} ({r['remeasure_error']})"
                         for r in failed.to_dict("records")) + ".")
    return lines


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    contended = A.contended_points(inputs.records)
    lines = health_lines(inputs, len(contended))
    c_cols = CURVE_COLUMNS + [("n", lambda r: fmt_n(r["seq_len"])),
                              ("latency", lambda r: fmt_time(r["latency_s"])),
                              ("contention", lambda r: fmt_pct(r["contention"])),
                              ("samples over threshold", lambda r: fmt_n(r["contended_samples"]))]
    n_cols = CURVE_COLUMNS + [("n", lambda r: fmt_n(r["seq_len"])),
                              ("latency", lambda r: fmt_time(r["latency_s"])),
                              ("IQR/median", lambda r: fmt_pct(r["latency_rel_iqr"])),
                              ("samples", lambda r: fmt_n(r["samples"]))]
    return Section("Run health: contended, noisy and re-measured points",
                   ([Bullets(lines)] if lines else []) + [
        frame_table(contended, c_cols, "Contended points (kept out of every fit):", "none."),
        frame_table(A.noisy_points(inputs.records), n_cols,
                    f"Points with IQR/median ≥ {NOISY_REL_IQR:.0%}; they stay in the fits, but "
                    "read them with care.", "none."),
    ])
