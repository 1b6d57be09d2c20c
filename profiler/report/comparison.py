"""The "LSTM vs Transformer, measured" section: one table, a column per curve at the
reference configuration, a row per measured quantity.

Every topic with something to say per curve adds its rows (``comparison_rows``); this
module only lays them out, in the order of ROW_TOPICS.
"""

from __future__ import annotations

from pathlib import Path

from profiler.report import (
    efficiency,
    frontiers,
    memory,
    parallelism,
    roofline,
    scaling,
    scan,
    streaming,
    time_breakdown,
)
from profiler.report.document import Paragraph, Section, Table
from profiler.report.frames import by_curve, where
from profiler.report.inputs import ComparisonRow, ReportInputs

TITLE = "LSTM vs Transformer, measured"
# The topics whose rows the table shows, in the order they appear.
ROW_TOPICS = (scaling, memory, frontiers, parallelism, scan, time_breakdown, efficiency,
              roofline, streaming)


def comparison_table(inputs: ReportInputs, curves: list[str],
                     rows: list[ComparisonRow]) -> Table:
    """A column per curve, a row per ComparisonRow, each cell a measured number ('not
    measured' where the run has none)."""
    ref = inputs.reference
    cells = {c: {} for c in curves}
    for row in rows:
        for _, r in by_curve(row.frame).iterrows() if not row.frame.empty else ():
            if r["curve"] in cells:
                cells[r["curve"]][row.name] = row.cell(r)
    names = list(dict.fromkeys(k for c in curves for k in cells[c]))
    return Table(["measured", *curves],
                 [[name] + [cells[c].get(name, "not measured") for c in curves]
                  for name in names],
                 caption=f"At {ref['device']}, {ref['phase']}, batch {ref['batch_size']}, "
                         f"{ref['threads']} threads, {ref['dtype']} unless the row says "
                         "otherwise.")


def section(inputs: ReportInputs, fig_dir: Path) -> Section | None:
    """The table of every curve with an exponent at the reference configuration; None
    when there is no such curve."""
    ref = inputs.reference
    exps = where(inputs.exponents, **ref) if ref is not None else inputs.exponents
    if ref is None or exps.empty:
        return None
    rows = [row for topic in ROW_TOPICS for row in topic.comparison_rows(inputs)]
    table = comparison_table(inputs, list(by_curve(exps)["curve"]), rows)
    return Section(TITLE, [Paragraph("Each cell is a number from this run ('not measured' "
                                     "where the run has none)."), table])
