"""The "What is missing" section: points that did not run (oom, timeout, skipped, ...)
and grid points of sweep.toml with no record (an interrupted or still running sweep)."""

from __future__ import annotations

from pathlib import Path

from profiler.report.document import Section
from profiler.report.formats import CURVE_COLUMNS, column, fmt_n, fmt_text, frame_table
from profiler.report.inputs import ReportInputs


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    rec = inputs.records
    failed = rec[rec["status"] != "ok"]
    columns = CURVE_COLUMNS + [("n", lambda r: fmt_n(r["seq_len"])),
                               ("status", lambda r: r["status"]),
                               ("error", lambda r: fmt_text(r["error"]))]
    never = inputs.missing_points
    return Section("What is missing", [
        frame_table(failed, columns, "Points that did not run (their latency is None):",
                    "none: every recorded point ran."),
        frame_table(never, [column(c) for c in never.columns if never[c].notna().any()],
                    "Grid points of sweep.toml with no record (an interrupted or still "
                    "running sweep):", "none."),
    ])
