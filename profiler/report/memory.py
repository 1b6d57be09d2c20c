"""The "Memory" section: how peak memory grows with n (an LSTM's activations ∝ n, a
math-attention Transformer's scores ∝ n²), per curve, with its figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from profiler.analyze import tables as A
from profiler.report import plotting
from profiler.report.document import Bullets, Paragraph, Section
from profiler.report.formats import fmt_exp, fmt_n
from profiler.report.frames import by_curve, where
from profiler.report.inputs import ComparisonRow, ReportInputs


def memory_sentences(inputs: ReportInputs) -> list[str]:
    """Per phase at the reference device, threads and batch: each curve's exponent of peak
    memory over the upper range of n."""
    ref = inputs.reference
    if ref is None:
        return []
    mem = where(inputs.memory_exponents, device=ref["device"], threads=ref["threads"],
                batch_size=ref["batch_size"])
    out = []
    for phase, g in mem.groupby("phase") if not mem.empty else ():
        parts = [f"n^{r['k_upper'] if r['upper_points'] else r['k']:.2f} for {r['curve']}"
                 for _, r in by_curve(g).iterrows()]
        out.append(f"Peak memory ({ref['device']}, batch {ref['batch_size']}, {phase}) grows "
                   f"as {', '.join(parts)} over the upper range of n.")
    return out


def plot_memory(df: pd.DataFrame):
    """Peak memory vs seq_len, log-log, with reference slopes; None without memory data."""
    data = plotting.labelled(plotting.max_threads(A.ok(df, "peak_memory_bytes")))
    if data.empty:
        return None
    data["memory_mib"] = data["peak_memory_bytes"] / plotting.MIB
    g = plotting.loglog_grid(data, "memory_mib", "peak memory above baseline (MiB)",
                             plotting.palette(data["model"]))
    g.figure.suptitle("Peak memory vs sequence length (log-log; dotted: slopes 1 and 2)",
                      y=1.02)
    return g.figure


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    sentences = memory_sentences(inputs)
    blocks = [Bullets(sentences)] if sentences else []
    blocks += plotting.image(
        plot_memory(inputs.records), fig_dir, "memory_vs_seq_len",
        "Peak memory vs sequence length",
        "Peak memory above the baseline, log-log, with slopes 1 and 2 for reference.")
    return Section("Memory", blocks or [Paragraph("Memory not available: no ok record has a "
                                                  "peak memory.")])


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """The memory exponent over the upper half of n."""
    return [ComparisonRow(
        "Memory exponent k, upper half of n", where(inputs.memory_exponents, **inputs.reference),
        lambda r: f"{fmt_exp(r['k_upper'])}, n ≥ {fmt_n(r['upper_n_min'])}"
        if r["upper_points"] else fmt_exp(r["k"]))]
