"""Render a run-vs-run comparison: rich table (stdout), Markdown, self-contained HTML.

Only formats ``compare.Comparison`` records; computes nothing. Markdown and HTML are
one Document (report/document.py) written by the same writers as every report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable

from profiler.analyze.compare import Comparison, summary
from profiler.report import html as html_writer
from profiler.report import markdown as markdown_writer
from profiler.report.document import (
    Alert,
    Bullets,
    Document,
    Paragraph,
    Section,
    Strong,
    Table,
)
from profiler.report.formats import fmt_time

COLORS = {"regressed": "bold red", "improved": "green", "unchanged": "", "inconclusive": "yellow",
          "not-comparable": "yellow", "only-in-base": "cyan", "only-in-new": "cyan"}


@dataclass(frozen=True)
class Context:
    """What the reader needs besides the rows: which runs, which rule, what differs."""

    base: str
    new: str
    threshold: float
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was done besides comparing

    def rule(self) -> str:
        t = self.threshold
        return (f"each instance counts by its floor (fastest sample); new/base: of the "
                f"points' floors; regressed: every new instance > {1 + t:.3g} x every base "
                f"instance (instance "
                f"range above {1 + t:.3g}); improved: range below {1 / (1 + t):.3g}; "
                "inconclusive: new/base beyond those but the ranges overlap, within the "
                "runs' drift (3 sigma of new/base over the points of the same device and "
                "threads), or contended")


def _cells(c: Comparison) -> list[str]:
    ratio = "-" if c.ratio is None else f"{c.ratio:.3f}"
    interval = "-" if c.lo is None else f"[{c.lo:.3f}, {c.hi:.3f}]"
    return [c.label, fmt_time(c.base_latency), fmt_time(c.new_latency), ratio, interval,
            f"{c.base_instances}/{c.new_instances}", c.verdict, c.note]


HEADERS = ["point", "base floor", "new floor", "new/base", "instance range",
           "instances", "verdict", "note"]  # instances: base/new
VERDICT_COLUMN = HEADERS.index("verdict")
NUMERIC = {1, 2, 3, 4, 5}  # right-aligned columns

# Row colours of the HTML table, by verdict (td: above the striping of even rows).
STYLE = """
tr.regressed td { background: #f8d7da; font-weight: bold; } tr.improved td { background: #d4edda; }
tr.inconclusive td, tr.not-comparable td { background: #fff3cd; }
tr.only-in-base td, tr.only-in-new td { background: #e2f0fb; }
"""


def print_table(comps: list[Comparison], ctx: Context, console: Console | None = None) -> None:
    """The comparison as a rich table on stdout, with the rule and a summary line."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console.width = 160  # CI logs: 80 columns would wrap every row
    table = RichTable(title=f"{ctx.new} vs {ctx.base}", caption=ctx.rule())
    for j, h in enumerate(HEADERS):
        table.add_column(h, justify="right" if j in NUMERIC else "left")
    for c in comps:
        table.add_row(*_cells(c), style=COLORS.get(c.verdict, ""))
    console.print(table)
    for line in ctx.info:
        console.print(f"note: runs differ: {line}", markup=False)
    for line in ctx.notes:
        console.print(f"note: {line}", markup=False)
    console.print(summary(comps), markup=False)


def document(comps: list[Comparison], ctx: Context) -> Document:
    """Warnings first, then the rule, the summary and one table row per point (a
    regression's verdict in bold, every row coloured by its verdict in HTML)."""
    rows = []
    for c in comps:
        cells: list = _cells(c)
        if c.verdict == "regressed":
            cells[VERDICT_COLUMN] = Strong(cells[VERDICT_COLUMN])
        rows.append(cells)
    runs = ([Alert("WARNING: runs differ:", w) for w in ctx.warnings]
            + [Paragraph(f"note: runs differ: {i}") for i in ctx.info]
            + [Paragraph(f"note: {n}") for n in ctx.notes]
            + [Bullets([f"base: {ctx.base}", f"new: {ctx.new}", f"rule: {ctx.rule()}",
                        f"summary: {summary(comps)}"])])
    points = Table(HEADERS, rows, numeric=frozenset(NUMERIC),
                   row_classes=[c.verdict for c in comps])
    return Document("Run comparison", f"{ctx.new} vs {ctx.base}",
                    [Section("Runs", runs), Section("Points", [points])], style=STYLE)


def markdown(comps: list[Comparison], ctx: Context) -> str:
    """compare.md (no figures: links need no folder)."""
    return markdown_writer.render(document(comps, ctx), Path("."))


def html(comps: list[Comparison], ctx: Context) -> str:
    """compare.html: one self-contained page (inline CSS, no scripts, no links)."""
    return html_writer.render(document(comps, ctx))
