"""The "Summary" section: how many points ran, failed or were never recorded."""

from __future__ import annotations

from pathlib import Path

from profiler.analyze.tables import status_counts
from profiler.report.document import Paragraph, Section
from profiler.report.inputs import ReportInputs


def status_line(counts: dict, n_missing: int) -> str:
    """'112 points: 107 ok, 2 oom, 1 timeout, 1 skipped, 1 never recorded.'"""
    total = sum(counts.values())
    parts = [f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: kv[0] != "ok")]
    if n_missing:
        parts.append(f"{n_missing} never recorded")
    text = f"{total + n_missing} points: " + ", ".join(parts) + "."
    if n_missing or set(counts) - {"ok"}:
        text += " This run is partial: see 'What is missing'; fits use the ok points only."
    return text


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    counts = status_counts(inputs.records)
    blocks = [Paragraph(status_line(counts, len(inputs.missing_points)))]
    if not counts.get("ok"):
        blocks.append(Paragraph("No point ran successfully, so there is nothing to fit."))
    return Section("Summary", blocks)
