"""The "Where the time goes" section: each point's profiled self time by operator
category (attention, recurrent, projections, ...), how the shares move with n, and the
top operators at the largest n.

Reads ReportInputs.op_shares (analyze.operators.time_shares); a run from before
operator profiling has no ``ops`` and gets a "not available" line.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch

from profiler.analyze import operators as O
from profiler.analyze.tables import SERIES, curve_names
from profiler.measure.memory import SLOW_PASS
from profiler.measure.opprofile import CATEGORIES
from profiler.records import PHASES
from profiler.report import plotting
from profiler.report.document import Bullets, Paragraph, Section, Table
from profiler.report.formats import fmt_pct, fmt_time
from profiler.report.frames import at_reference, by_curve
from profiler.report.inputs import ComparisonRow, ReportInputs

TITLE = "Where the time goes"
A_POINT = [*SERIES, "seq_len"]  # the columns that name one point of a share table
# The category that tells each family's story: attention grows with n in a Transformer,
# the recurrence is the LSTM's (and GRU's) whole cost, the scan minGRU's / minLSTM's.
STORY_CATEGORY = {"transformer": "attention", "lstm": "recurrent", "gru": "recurrent",
                  "mingru": "recurrent", "minlstm": "recurrent"}
# One colour per operator category, the same in every panel and run.
CATEGORY_COLORS = dict(zip(CATEGORIES, sns.color_palette("colorblind", len(CATEGORIES)),
                           strict=True))


def story_category(family: str, sub: pd.DataFrame) -> str:
    """The category to quote for a curve: its family's, else its largest at the largest n."""
    if family in STORY_CATEGORY:
        return STORY_CATEGORY[family]
    last = sub[sub["seq_len"] == sub["seq_len"].max()]
    return last.loc[last["share"].idxmax(), "category"]


def share_sentences(shares: pd.DataFrame, ref: dict) -> list[str]:
    """'transformer inference, B=8: attention is 4% of profiled time at n=32 and 38% at
    n=4096 (projection_ff 61% → 44%).' per curve and phase at the reference config."""
    out = []
    phases = set(shares["phase"]) if not shares.empty else set()
    for phase in [p for p in PHASES if p in phases] + sorted(phases - set(PHASES)):
        data = at_reference(shares, ref, phase)
        for curve, sub in by_curve(data).groupby("curve", sort=False) if not data.empty else ():
            ns = sorted(sub["seq_len"].unique())
            cat = story_category(sub["family"].iloc[0], sub)
            first, last = (sub[sub["seq_len"] == n].set_index("category")["share"]
                           for n in (ns[0], ns[-1]))
            other = last.drop(cat).idxmax()
            text = (f"{curve} {phase}, B={int(sub['batch_size'].iloc[0])}: {cat} is "
                    f"{fmt_pct(first[cat])} of profiled time at n={ns[0]}")
            if len(ns) > 1:
                text += (f" and {fmt_pct(last[cat])} at n={ns[-1]} (largest other: {other} "
                         f"{fmt_pct(first[other])} → {fmt_pct(last[other])})")
            out.append(text + ".")
    return out


def one_config(df: pd.DataFrame) -> pd.DataFrame:
    """Rows at the largest threads per device, the most common dtype and each curve's
    (and phase's) largest batch: one bar per n."""
    data = plotting.max_threads(df)
    if data.empty:
        return data
    data = data[data["dtype"] == data["dtype"].mode().iloc[0]]
    top = data.groupby(["model", "attention", "phase", "device"])["batch_size"].transform("max")
    return data[data["batch_size"] == top]


def plot_time_shares(shares: pd.DataFrame):
    """Stacked shares of profiled self time by operator category vs seq_len, one panel
    per curve (columns) and phase (rows); None without op tables."""
    data = one_config(shares)
    if data.empty:
        return None
    data = data.assign(curve=curve_names(data))
    curves, rows = sorted(data["curve"].unique()), plotting.panel_rows(data)
    used = [c for c in CATEGORIES if data.loc[data["category"] == c, "share"].max() > 0.005]
    fig, axes = plt.subplots(len(rows), len(curves), squeeze=False, sharey=True,
                             figsize=(3.6 * len(curves) + 1.6, 2.7 * len(rows) + 0.8))
    for i, (phase, device) in enumerate(rows):
        for j, curve in enumerate(curves):
            ax = axes[i][j]
            sub = data[(data["phase"] == phase) & (data["device"] == device)
                       & (data["curve"] == curve)]
            table = sub.pivot_table(index="seq_len", columns="category", values="share",
                                    aggfunc="sum").reindex(columns=used, fill_value=0) * 100
            x = np.arange(len(table))
            bottom = np.zeros(len(table))
            for cat in used:
                ax.bar(x, table[cat].to_numpy(), bottom=bottom, color=CATEGORY_COLORS[cat],
                       width=0.8, edgecolor="white", linewidth=0.5)
                bottom += table[cat].to_numpy()
            stalled = sub.groupby("seq_len")["pass_stalled"].any().reindex(table.index)
            for k in np.flatnonzero(stalled.fillna(False).to_numpy()):
                ax.bar(x[k], 100, width=0.8, fill=False, hatch="///", edgecolor="black",
                       linewidth=0)
            ax.set_xticks(x, [str(int(n)) for n in table.index], rotation=45)
            ax.set_ylim(0, 100)
            batch = f"B={int(sub['batch_size'].iloc[0])}" if len(sub) else ""
            ax.set_title(f"{curve} · {phase} · {device} {batch}", fontsize=9)
            ax.set_xlabel("sequence length n (tokens)" if i == len(rows) - 1 else "")
            ax.set_ylabel("share of self time (%)" if j == 0 else "")
            ax.grid(False, axis="x")
    handles = [Patch(facecolor=CATEGORY_COLORS[c], label=c) for c in used]
    if data["pass_stalled"].any():
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///",
                             label=f"pass stalled (> {SLOW_PASS:g} calls)"))
    fig.legend(handles=handles,
               loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
               title="operator category")
    fig.suptitle("Where the time goes: share of profiled self time by operator category",
                 y=1.0)
    fig.tight_layout()
    return fig


def stalled_sentence(shares: pd.DataFrame) -> list[str]:
    """The points drawn hatched (operators.time_shares' pass_stalled): their profiled
    pass took over SLOW_PASS typical calls even when taken twice, so one operator holds
    a stall the timed samples did not."""
    data = one_config(shares)
    worst = (data[data["pass_stalled"]]
             .drop_duplicates(A_POINT).sort_values("pass_ratio", ascending=False))
    if worst.empty:
        return []
    names = "; ".join(f"{r['model']} {r['phase']} n={r['seq_len']} B={r['batch_size']} "
                      f"({r['pass_ratio']:.1f}×)" for _, r in worst.iterrows())
    return [f"Hatched: the profiled pass of {len(worst)} point(s) took more than "
            f"{SLOW_PASS:g} times their typical call even when taken twice, and the stall "
            "(most often a large allocation faulted in afresh) sits in one operator, whose "
            f"share it overstates: {names}."]


def top_operator_table(top: pd.DataFrame):
    if top.empty:
        return Paragraph("Top operators: not available (no op table at the largest n).")
    # model, point and source once per model (on its first operator), not on every line
    rows = [[r["model"], f"{r['phase']} n={r['seq_len']} B={r['batch_size']}", r["source"]]
            if r["rank"] == 1 else ["", "", ""] for _, r in top.iterrows()]
    for row, (_, r) in zip(rows, top.iterrows(), strict=True):
        row += [str(r["rank"]), r["name"], r["category"], f"{r['calls']:.3g}",
                fmt_time(r["self_s"]), fmt_pct(r["share"])]
    return Table(["model", "point", "op table from", "#", "operator", "category",
                  "calls / step", "self time / step", "share"], rows,
                 "Top operators per model by self time at the largest n that ran "
                 "(profiled, so slower than the timed latency).")


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    shares, ref = inputs.op_shares, inputs.reference
    if shares.empty or ref is None:
        return Section(TITLE, [Paragraph(
            "Operator breakdown not available: no ok record of this run has an op table "
            "(`ops`; runs from before operator profiling have none).")])
    clocks = ", ".join("device time" if c == "self_device_s" else "CPU time"
                       for c in sorted(shares["clock"].unique()))
    blocks = [Paragraph(
        "Self time per operator, grouped into categories, from each point's separate, "
        "untimed profiled pass (one call; for backward the pass includes the forward the "
        "backward needs). Profiling adds overhead, so these are shares, never latencies. "
        f"Clock: {clocks}."
        " An operator nested in another (the bmm inside attention) counts toward the "
        "outer one's category.")]
    blocks += plotting.image(
        plot_time_shares(shares), fig_dir, "time_by_category", TITLE,
        "Share of self time per operator category in each point's untimed profiled pass "
        "(for backward the pass includes its forward), at each curve's largest batch.")
    blocks.append(Bullets((share_sentences(shares, ref) or [
        "No curve at the reference configuration has op tables."])
        + stalled_sentence(shares)))
    blocks.append(top_operator_table(O.top_operators(inputs.records, inputs.traces, ref)))
    return Section(TITLE, blocks)


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """The share of profiled time in each family's core kernel, smallest to largest n."""
    shares = at_reference(inputs.op_shares, inputs.reference)
    rows = []
    for _, sub in by_curve(shares).groupby("curve", sort=False) if not shares.empty else ():
        cat = story_category(sub["family"].iloc[0], sub)
        ns = sorted(sub["seq_len"].unique())
        s = sub[sub["category"] == cat].set_index("seq_len")["share"]
        rows.append({**sub.iloc[0].to_dict(), "text": f"{cat} {fmt_pct(s[ns[0]])} at "
                     f"n={ns[0]} → {fmt_pct(s[ns[-1]])} at n={ns[-1]}"})
    return [ComparisonRow("Share of profiled time in its core kernel (attention / recurrent)",
                          pd.DataFrame(rows), lambda r: r["text"])]
