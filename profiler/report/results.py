"""The "All results" section: every record as one folded table (the raw samples stay
in results.jsonl)."""

from __future__ import annotations

from pathlib import Path

from profiler.report.document import Section
from profiler.report.formats import (
    column,
    fmt_bytes,
    fmt_n,
    fmt_pct,
    fmt_rate,
    fmt_time,
    frame_table,
)
from profiler.report.inputs import ReportInputs

# The columns shown, in order.
COLUMNS = ["model", "phase", "seq_len", "batch_size", "device", "dtype", "threads",
           "attention", "status", "latency_s", "latency_rel_iqr", "noisy", "samples",
           "tokens_per_s", "peak_memory_bytes", "kernel", "error"]
FORMAT = {"latency_s": fmt_time, "latency_rel_iqr": fmt_pct, "tokens_per_s": fmt_rate,
          "peak_memory_bytes": fmt_bytes, "seq_len": fmt_n, "batch_size": fmt_n,
          "threads": fmt_n, "samples": fmt_n}


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    records = inputs.records
    rows = records.sort_values(["model", "phase", "device", "threads", "batch_size", "seq_len"])
    return Section("All results", [frame_table(
        rows, [column(c, FORMAT.get(c, str)) for c in COLUMNS],
        f"Every record ({len(records)} rows; raw samples in results.jsonl).", "no records.",
        collapsed=True)])
