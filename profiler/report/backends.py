"""The "Attention backends" section: with several `attention` values, latency and peak
memory vs n per SDPA backend and their exponents (math ∝ n² in memory, flash ∝ n), and
the backends the device lacks.

Reads analyze.operators.backend_comparison and skipped_backends.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from profiler.analyze import operators as O
from profiler.analyze.tables import ok
from profiler.report import plotting
from profiler.report.document import Bullets, Paragraph, Section, Table
from profiler.report.formats import fmt_bytes, fmt_exp, fmt_n, fmt_time
from profiler.report.inputs import ReportInputs

TITLE = "Attention backends"


def backend_sentences(back: pd.DataFrame) -> list[str]:
    """Per model and configuration: memory exponent per backend, and latency and memory
    at the largest n they all reached."""
    out = []
    for (model, device, batch, phase, threads), g in back.groupby(
            ["model", "device", "batch_size", "phase", "threads"], sort=True):
        mem = ", ".join(f"n^{fmt_exp(r['k_memory'])} with {r['attention']}"
                        for _, r in g.iterrows())
        at = "; ".join(f"{r['attention']} {fmt_time(r['latency_s'])}, "
                       f"{fmt_bytes(r['peak_memory_bytes'])}" for _, r in g.iterrows())
        out.append(f"{model} {phase} on {device}, B={batch}, {threads} threads: peak memory "
                   f"grows as {mem}; at n={fmt_n(g['n_common'].iloc[0])}: {at}.")
    return out


def plot_backends(records: pd.DataFrame, backends: pd.DataFrame):
    """Latency and peak memory vs seq_len per attention backend; None with one backend."""
    if backends.empty:
        return None
    data = ok(records)
    data = data[data["model"].isin(backends["model"].unique())]
    data = plotting.labelled(plotting.max_threads(data)).assign(
        attention=lambda d: d["attention"].astype(str))
    data["latency_ms"] = data["latency_s"] * plotting.MS
    data["memory_mib"] = data["peak_memory_bytes"] / plotting.MIB
    data["attention"] = data["model"].str.split(" ").str[0] + " " + data["attention"]
    return plotting.metric_panels(data, "attention",
                                  [("latency_ms", "latency per call (ms)"),
                                   ("memory_mib", "peak memory (MiB)")],
                                  "Attention backends: latency and peak memory vs n (log-log; "
                                  "dotted: slopes 1 and 2)")


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    back, skipped = O.backend_comparison(inputs.records), O.skipped_backends(inputs.records)
    skip = [f"{r['model']} on {r['device']}: {r['attention']} skipped ({r['error']})"
            for _, r in skipped.iterrows()]
    if back.empty:
        return Section(TITLE, [Paragraph(
            "Backend comparison not available: this run has one attention backend per "
            "model. Add e.g. attention = [\"math\", \"flash\"] to the sweep's [grid] to "
            "compare the O(n²)-memory math kernel with flash attention's O(n).")]
            + ([Bullets(skip)] if skip else []))
    rows = [[r["model"], r["phase"], r["device"], fmt_n(r["batch_size"]), fmt_n(r["threads"]),
             r["attention"], fmt_exp(r["k_latency"]), fmt_exp(r["k_memory"]),
             fmt_n(r["n_common"]), fmt_time(r["latency_s"]), fmt_bytes(r["peak_memory_bytes"]),
             fmt_n(r["n_max"])] for _, r in back.iterrows()]
    blocks = plotting.image(
        plot_backends(inputs.records, back), fig_dir, "attention_backends", TITLE,
        "Latency and peak memory per SDPA backend on the same grid; the math backend "
        "materialises the n×n scores (memory ∝ n²), flash attention does not (∝ n).")
    blocks += [
        Bullets(backend_sentences(back)),
        Table(["model", "phase", "device", "batch", "threads", "attention", "latency k",
               "memory k", "at n", "latency", "peak memory", "largest n"], rows,
              "Exponents over the upper half of n (whole range with fewer than 3 points); "
              "latency and memory at the largest n every backend reached.")]
    return Section(TITLE, blocks + ([Bullets(skip)] if skip else []))
