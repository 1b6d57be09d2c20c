"""The "Memory" section: how peak memory grows with n (an LSTM's activations ∝ n, a
math-attention Transformer's scores ∝ n²), per curve, with its figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from profiler.analyze import tables as A
from profiler.report import plotting
from profiler.report.document import Bullets, Paragraph, Section
from profiler.report.formats import fmt_bytes, fmt_exp, fmt_n
from profiler.report.frames import by_curve, largest_common_n, where
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


def memory_per_token(inputs: ReportInputs) -> pd.DataFrame:
    """Per curve and phase at the reference device, dtype, threads and batch: peak memory
    divided by the tokens of one call (batch × n) at the largest n both curve families
    ran. Flat across n for a model whose memory is ∝ n; growing ∝ n for n² scores."""
    ref = inputs.reference
    if ref is None:
        return pd.DataFrame()
    ran = where(A.ok(inputs.records, "peak_memory_bytes"), device=ref["device"],
                dtype=ref["dtype"], threads=ref["threads"], batch_size=ref["batch_size"])
    ran = ran[ran["phase"] != "decode"]  # a decode call makes one token per row, not n
    rows = []
    for _, g in ran.groupby("phase"):
        n = largest_common_n(g)
        at = g[g["seq_len"] == n]
        rows.append(at.assign(bytes_per_token=at["peak_memory_bytes"]
                              / (at["batch_size"] * at["seq_len"])))
    return by_curve(pd.concat(rows)) if rows else pd.DataFrame()


def per_token_sentences(inputs: ReportInputs) -> list[str]:
    """'Peak memory per token at n = 2048 (batch 8, inference): 8 KiB for lstm, ...'."""
    table = memory_per_token(inputs)
    out = []
    for phase, g in table.groupby("phase", sort=False) if not table.empty else ():
        parts = [f"{fmt_bytes(r['bytes_per_token'])} for {r['curve']}" for _, r in g.iterrows()]
        out.append(f"Peak memory per token at n = {fmt_n(g['seq_len'].iloc[0])} (batch "
                   f"{fmt_n(g['batch_size'].iloc[0])}, {phase}): {', '.join(parts)}.")
    return out


def plot_memory(df: pd.DataFrame):
    """Peak memory vs seq_len, log-log, with reference slopes; None without memory data."""
    data = plotting.labelled(plotting.max_threads(A.ok(df, "peak_memory_bytes")))
    if data.empty:
        return None
    data["memory_mib"] = data["peak_memory_bytes"] / plotting.MIB
    g = plotting.loglog_grid(data, "memory_mib", "peak memory above baseline (MiB)",
                             plotting.palette(data["model"]))
    g.figure.suptitle("Peak memory vs sequence length\n(log-log; dotted: slopes 1 and 2)",
                      y=1.06)  # two lines: see scaling.plot_latency
    return g.figure


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    sentences = memory_sentences(inputs) + per_token_sentences(inputs)
    blocks = [Bullets(sentences)] if sentences else []
    blocks += plotting.image(
        plot_memory(inputs.records), fig_dir, "memory_vs_seq_len",
        "Peak memory vs sequence length",
        "Peak memory above the baseline, log-log, with slopes 1 and 2 for reference.")
    return Section("Memory", blocks or [Paragraph("Memory not available: no ok record has a "
                                                  "peak memory.")])


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """The memory exponent over the upper half of n; peak memory per token."""
    per_token = memory_per_token(inputs)
    per_token = where(per_token, phase=inputs.reference["phase"]) if len(per_token) else per_token
    return [ComparisonRow(
        "Peak memory per token at the largest shared n", per_token,
        lambda r: f"{fmt_bytes(r['bytes_per_token'])} (n = {fmt_n(r['seq_len'])})"),
        ComparisonRow(
        "Memory exponent k, upper half of n", where(inputs.memory_exponents, **inputs.reference),
        lambda r: f"{fmt_exp(r['k_upper'])}, n ≥ {fmt_n(r['upper_n_min'])}"
        if r["upper_points"] else fmt_exp(r["k"]))]
