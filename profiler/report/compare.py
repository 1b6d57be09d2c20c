"""Render a run-vs-run comparison: rich table (stdout), Markdown, self-contained HTML.

Only formats ``compare.Comparison`` records; computes nothing."""

from __future__ import annotations

import html as _html
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from profiler.analyze.compare import Comparison, summary

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

    def rule(self) -> str:
        t = self.threshold
        return (f"regressed: every new instance > {1 + t:.3g} x every base instance (instance "
                f"range above {1 + t:.3g}); improved: range below {1 / (1 + t):.3g}; "
                "inconclusive: new/base beyond those but the ranges overlap, or contended")


def fmt_seconds(s: float | None) -> str:
    """0.00123 -> '1.23 ms'."""
    if s is None:
        return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _cells(c: Comparison) -> list[str]:
    ratio = "-" if c.ratio is None else f"{c.ratio:.3f}"
    interval = "-" if c.lo is None else f"[{c.lo:.3f}, {c.hi:.3f}]"
    return [c.label, fmt_seconds(c.base_median), fmt_seconds(c.new_median), ratio, interval,
            f"{c.base_instances}/{c.new_instances}", c.verdict, c.note]


HEADERS = ["point", "base median", "new median", "new/base", "instance range",
           "instances", "verdict", "note"]  # instances: base/new
VERDICT_COLUMN = HEADERS.index("verdict")
NUMERIC = {1, 2, 3, 4, 5}  # right-aligned columns


def print_table(comps: list[Comparison], ctx: Context, console: Console | None = None) -> None:
    """The comparison as a rich table on stdout, with the rule and a summary line."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console.width = 160  # CI logs: 80 columns would wrap every row
    table = Table(title=f"{ctx.new} vs {ctx.base}", caption=ctx.rule())
    for j, h in enumerate(HEADERS):
        table.add_column(h, justify="right" if j in NUMERIC else "left")
    for c in comps:
        table.add_row(*_cells(c), style=COLORS.get(c.verdict, ""))
    console.print(table)
    for line in ctx.info:
        console.print(f"note: runs differ: {line}", markup=False)
    console.print(summary(comps), markup=False)


def markdown(comps: list[Comparison], ctx: Context) -> str:
    """compare.md: warnings first, then the rule, the summary and one table row per point."""
    lines = ["# Run comparison", "", f"- base: `{ctx.base}`", f"- new: `{ctx.new}`",
             f"- rule: {ctx.rule()}", f"- summary: **{summary(comps)}**", ""]
    for w in ctx.warnings:
        lines.append(f"> **WARNING: runs differ:** {w}")
    for i in ctx.info:
        lines.append(f"> note: runs differ: {i}")
    if ctx.warnings or ctx.info:
        lines.append("")
    lines += ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for c in comps:
        cells = [x.replace("|", "\\|") for x in _cells(c)]
        if c.verdict == "regressed":
            cells[VERDICT_COLUMN] = f"**{cells[VERDICT_COLUMN]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.warning{background:#fff3cd;border:2px solid #d39e00;padding:.5em 1em;margin:.5em 0}
tr.regressed{background:#f8d7da;font-weight:bold}tr.improved{background:#d4edda}
tr.inconclusive,tr.not-comparable{background:#fff3cd}
tr.only-in-base,tr.only-in-new{background:#e2f0fb}"""


def html(comps: list[Comparison], ctx: Context) -> str:
    """compare.html: one self-contained page (inline CSS, no scripts, no links)."""
    e = _html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Run comparison</title>",
             f"<style>{_CSS}</style></head><body><h1>Run comparison</h1>",
             f"<p>base: <code>{e(ctx.base)}</code><br>new: <code>{e(ctx.new)}</code><br>"
             f"rule: {e(ctx.rule())}<br>summary: <b>{e(summary(comps))}</b></p>"]
    for w in ctx.warnings:
        parts.append(f"<div class='warning'><b>WARNING: runs differ:</b> {e(w)}</div>")
    for i in ctx.info:
        parts.append(f"<p>note: runs differ: {e(i)}</p>")
    parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEADERS) + "</tr>")
    for c in comps:
        tds = "".join(f"<td class='num'>{e(x)}</td>" if j in NUMERIC else f"<td>{e(x)}</td>"
                      for j, x in enumerate(_cells(c)))
        parts.append(f"<tr class='{c.verdict}'>{tds}</tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"
