"""The "Streaming" section: the decode phase, one generated token at context length n.

The textbook claim it tests: an LSTM streams at a constant cost per token with a
fixed-size (h, c) state, while a causal Transformer with a KV cache pays per token
in proportion to the context and its cache grows with n. Reads ReportInputs.decode
(analyze.tables.decode_scaling) and draws the decode figure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from profiler.analyze.tables import ok
from profiler.report import plotting
from profiler.report.document import Bullets, Paragraph, Section, Table
from profiler.report.formats import (
    fmt_bytes,
    fmt_exp,
    fmt_n,
    fmt_rate,
    fmt_threads,
    fmt_time,
    missing,
)
from profiler.report.frames import by_curve, where
from profiler.report.inputs import ComparisonRow, ReportInputs


def _k(r, prefix: str) -> str:
    """The exponent over all n with its interval, and the upper-range one when it differs."""
    text = fmt_exp(r[f"{prefix}_k"], r[f"{prefix}_k_low"], r[f"{prefix}_k_high"])
    up = r[f"{prefix}_k_upper"]
    if not missing(up) and r[f"{prefix}_upper_n_min"] > r["n_min"]:
        text += f"; n^{up:.2f} for n ≥ {fmt_n(r[f'{prefix}_upper_n_min'])}"
    return text


def _k_short(r) -> str:
    """'0.45; 0.68 for n ≥ 256': whole range, then the upper range when there is one."""
    text = fmt_exp(r["latency_k"])
    if not missing(r["latency_k_upper"]) and r["latency_upper_n_min"] > r["n_min"]:
        text += f"; {fmt_exp(r['latency_k_upper'])} for n ≥ {fmt_n(r['latency_upper_n_min'])}"
    return text


def state_text(r) -> str:
    """'8 KiB at every n' for a constant state, else '520 KiB → 32 MiB'."""
    a, b = r["state_min_n_bytes"], r["state_max_n_bytes"]
    if missing(a) or missing(b):
        return "not recorded"
    if a == b:
        return f"{fmt_bytes(a)} at every n"
    return f"{fmt_bytes(a)} at n={r['n_min']} → {fmt_bytes(b)} at n={r['n_max']}"


def decode_sentences(dec: pd.DataFrame) -> list[str]:
    """One sentence per (device, batch, dtype) at the device's most threads (the table
    has the others): every model's per-token latency and state from the smallest to the
    largest context, with exponents."""
    out = []
    dec = dec[dec["threads"] == dec.groupby("device")["threads"].transform("max")]
    for (device, batch, threads, dtype), g in dec.groupby(
            ["device", "batch_size", "threads", "dtype"], sort=True):
        parts = []
        for _, r in by_curve(g).iterrows():
            parts.append(
                f"{r['curve']} takes {fmt_time(r['latency_min_n_s'])} per token at "
                f"n={r['n_min']} and {fmt_time(r['latency_max_n_s'])} at n={r['n_max']} "
                f"(per-token latency ∝ n^k, k = {_k_short(r)}) and carries {state_text(r)} "
                f"(∝ n^{fmt_exp(r['state_k'])})")
        out.append(f"Decoding at batch {batch} on {device} ({fmt_threads(threads)}, {dtype}): "
                   + "; ".join(parts) + ".")
    return out


def plot_decode(records: pd.DataFrame):
    """Per-token decode latency and carried state vs context length; None without decode."""
    data = ok(records)
    data = data[data["phase"] == "decode"]
    if data.empty or "state_bytes" not in data:
        return None
    data = plotting.labelled(plotting.max_threads(data))
    data["latency_ms"] = data["latency_s"] * plotting.MS
    data["state_kib"] = pd.to_numeric(data["state_bytes"], errors="coerce") / 1024
    return plotting.metric_panels(
        data, "model", [("latency_ms", "latency per generated token (ms)"),
                        ("state_kib", "state carried (KiB)")],
        "Streaming decode: cost per token vs context length n (log-log; dotted: slopes 1 "
        "and 2)", "context length n (tokens)")


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    dec = inputs.decode
    if dec.empty:
        return Section("Streaming", [Paragraph(
            "Streaming decode not available: this run has no ok record of the decode "
            "phase. Add \"decode\" to the phase axis of the sweep's [grid] to measure the "
            "per-token cost and carried state at each context length.")])
    blocks = [Paragraph(
        "Decode: the context of n tokens is read once (untimed), then one token is "
        "generated per call; latency is seconds per generated token, throughput "
        "B / latency. The LSTM carries its (h, c) state, a causal Transformer its KV cache "
        "(keys and values of every past position, in every layer).")]
    blocks += plotting.image(
        plot_decode(inputs.records), fig_dir, "decode_vs_context", "Streaming decode",
        "Per generated token at context length n: latency, and the state carried between "
        "tokens (LSTM: its (h, c); Transformer: its KV cache).")
    blocks.append(Bullets(decode_sentences(dec)))
    rows = [[r["curve"], r["device"], fmt_n(r["batch_size"]), fmt_n(r["threads"]),
             f"{r['n_min']}–{r['n_max']}", fmt_time(r["latency_min_n_s"]),
             fmt_time(r["latency_max_n_s"]), _k(r, "latency"), state_text(r),
             fmt_exp(r["state_k"]), fmt_rate(r["tokens_per_s_max_n"])]
            for _, r in by_curve(dec).iterrows()]
    blocks.append(Table(["model", "device", "batch", "threads", "context n",
                         "per token, smallest n", "per token, largest n",
                         "latency k (95%)", "state", "state k", "tokens/s at largest n"],
                        rows, "Per-token latency ∝ n^k and state bytes ∝ n^k over the "
                              "context length."))
    return Section("Streaming", blocks)


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """Rows for the LSTM-vs-Transformer table, at the reference device/threads/dtype and
    the reference batch (else the largest decode batch)."""
    ref = inputs.reference
    dec = where(inputs.decode, device=ref["device"], threads=ref["threads"], dtype=ref["dtype"])
    if dec.empty:
        return []
    batch = ref["batch_size"] if (dec["batch_size"] == ref["batch_size"]).any() \
        else dec["batch_size"].max()
    dec = dec[dec["batch_size"] == batch]
    return [
        ComparisonRow(f"Per-token decode cost vs context n (batch {batch})", dec,
                      lambda r: f"{fmt_time(r['latency_min_n_s'])} at n={r['n_min']} → "
                                f"{fmt_time(r['latency_max_n_s'])} at n={r['n_max']} "
                                f"(k = {_k_short(r)})"),
        ComparisonRow(f"State memory growth in decode (batch {batch})", dec,
                      lambda r: f"{state_text(r)} (k = {fmt_exp(r['state_k'])})"),
    ]
