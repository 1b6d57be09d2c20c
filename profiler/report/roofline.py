"""The "Roofline" section: arithmetic intensity (analytic FLOPs / analytic bytes moved)
against the machine's matmul peak and copy bandwidth, and which bound each point is
under (analyze.operators.roofline).

Says "not available" when the run lacks the data: records from before
``bytes_moved``, or a peak.json without ``bandwidth_bytes_per_s``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from profiler.analyze.operators import LATENCY_BOUND_FRACTION
from profiler.analyze.tables import curve_names
from profiler.records import PHASES
from profiler.report import plotting
from profiler.report.document import Bullets, Paragraph, Section
from profiler.report.formats import fmt_bytes, fmt_flops, fmt_intensity, fmt_pct2
from profiler.report.frames import at_reference, by_curve
from profiler.report.inputs import ComparisonRow, ReportInputs

TITLE = "Roofline"
BOUNDS = ("compute-bound", "memory-bound", "latency-bound")


def roofline_sentences(roof: pd.DataFrame, ref: dict) -> list[str]:
    """Per curve at the reference config: intensity from the smallest to the largest n,
    and at the largest n the share of its roofline bound and its class."""
    data = at_reference(roof, ref)
    data = data[data["bound"].notna()] if not data.empty else data
    out = []
    for curve, sub in by_curve(data).groupby("curve", sort=False) if not data.empty else ():
        sub = sub.sort_values("seq_len")
        a, b = sub.iloc[0], sub.iloc[-1]
        text = f"Roofline, {curve} {ref['phase']}, B={int(b['batch_size'])}: "
        text += (fmt_intensity(b["arithmetic_intensity"]) if len(sub) == 1 else
                 f"{fmt_intensity(a['arithmetic_intensity'])} at n={a['seq_len']} → "
                 f"{fmt_intensity(b['arithmetic_intensity'])} at n={b['seq_len']}")
        text += (f" (machine balance {fmt_intensity(b['machine_balance'])}); at n={b['seq_len']} "
                 f"it moves ≥ {fmt_bytes(b['bytes_moved'])} per call and its "
                 f"{fmt_flops(b['flops_per_s'])} is {fmt_pct2(b['roofline_fraction'])} of its "
                 f"{fmt_flops(b['roofline_flops_per_s'])} roofline bound: {b['bound']}")
        out.append(text + ".")
    return out


def class_counts(roof: pd.DataFrame) -> list[str]:
    """'lstm B=1: 14 latency-bound; transformer B=8: 9 compute-bound, 2 memory-bound' over
    every point with a roofline (all phases, threads, dtypes)."""
    data = roof[roof["bound"].notna()]
    parts = []
    for (curve, batch), g in by_curve(data).groupby(["curve", "batch_size"], sort=False):
        counts = g["bound"].value_counts()
        parts.append(f"{curve} B={int(batch)}: " + ", ".join(
            f"{counts[c]} {c}" for c in BOUNDS if c in counts))
    return parts


def plot_roofline(roof: pd.DataFrame):
    """Log-log roofline per device and dtype (largest threads): achieved FLOP/s against
    arithmetic intensity, with the roof min(peak, intensity × bandwidth) and, dotted, 10%
    of it (below: latency-bound); None without a bandwidth."""
    data = plotting.max_threads(roof[roof["bound"].notna()]) if not roof.empty else roof
    if data.empty:
        return None
    data = data.assign(curve=curve_names(data))
    colors = plotting.palette(data["curve"])
    phases = [p for p in PHASES if p in set(data["phase"])]
    markers = dict(zip(phases, "osD^vP", strict=False))
    panels = sorted(set(zip(data["device"], data["dtype"], strict=True)))
    fig, axes = plt.subplots(1, len(panels), squeeze=False, figsize=(6.2 * len(panels), 4.6))
    for ax, (device, dtype) in zip(axes[0], panels, strict=True):
        sub = data[(data["device"] == device) & (data["dtype"] == dtype)]
        for (curve, phase, _), g in sub.groupby(["curve", "phase", "batch_size"], sort=True):
            g = g.sort_values("seq_len")  # a thin line follows each curve as n grows
            ax.plot(g["arithmetic_intensity"], g["flops_per_s"] / 1e9, color=colors[curve],
                    marker=markers[phase], markersize=5, linewidth=0.8, alpha=0.85)
        peak, bw = sub["peak_flops_per_s"].iloc[0], sub["bandwidth_bytes_per_s"].iloc[0]
        lo = min(sub["arithmetic_intensity"].min(), peak / bw) / 3
        hi = max(sub["arithmetic_intensity"].max(), peak / bw) * 3
        x = np.geomspace(lo, hi, 200)
        roofline_y = np.minimum(peak, x * bw) / 1e9
        ax.plot(x, roofline_y, color="0.2", linewidth=1.6)
        ax.plot(x, roofline_y * 0.1, color="0.5", linewidth=1, linestyle=":")
        ax.axvline(peak / bw, color="0.5", linewidth=0.8, linestyle="--")
        ax.text(0.98, 0.03, f"peak {peak / 1e9:.3g} GFLOP/s, copy {bw / 1e9:.3g} GB/s\n"
                f"balance {peak / bw:.3g} FLOP/byte", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=8, color="0.3")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        plotting.plain_log_y(ax)
        threads = int(sub["threads"].iloc[0])
        ax.set_title(f"{device} · {dtype} · {threads} thread{'' if threads == 1 else 's'}",
                     fontsize=10)
        ax.set_xlabel("arithmetic intensity (FLOP/byte, analytic)")
        ax.set_ylabel("achieved GFLOP/s")
    handles = ([plt.Line2D([], [], color=colors[c], linewidth=2, label=c) for c in colors]
               + [plt.Line2D([], [], color="0.3", marker=markers[p], linestyle="", label=p)
                  for p in phases]
               + [plt.Line2D([], [], color="0.5", linestyle=":", label="10% of roof")])
    axes[0][-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                       frameon=False)
    fig.suptitle("Roofline: achieved FLOP/s vs arithmetic intensity (log-log)", y=1.0)
    fig.tight_layout()
    return fig


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    roof = inputs.roofline
    if roof.empty:
        return Section(TITLE, [Paragraph(
            "Roofline not available: no ok record has `bytes_moved` (runs from before the "
            "bytes estimate, or models without a formula).")])
    if roof["bound"].isna().all():
        return Section(TITLE, [Paragraph(
            "Roofline not available: no copy bandwidth in peak.json for these devices (no "
            "peak.json, or one from before the bandwidth reference).")])
    blocks = [Paragraph(
        "Arithmetic intensity = analytic FLOPs / `bytes_moved`, an analytic lower "
        "bound of the bytes a call reads and writes (weights once; every op's inputs and "
        "output once; the math attention kernel's n×n scores and probabilities; backward "
        "2×, a train step 3× the forward plus Adam's 7 passes over the parameters), so the "
        "intensity is an upper bound. A point's roofline bound is min(matmul peak, "
        "intensity × copy bandwidth): below the machine balance peak / bandwidth it is "
        "memory-bound, above it compute-bound; below "
        f"{LATENCY_BOUND_FRACTION:.0%} of its bound it is latency-bound: neither FLOPs nor "
        "bytes explain its time, dependent steps and per-op overhead do (the LSTM's n "
        "sequential small GEMMs, whose recurrent weights stay in cache).")]
    blocks += plotting.image(
        plot_roofline(roof), fig_dir, "roofline", TITLE,
        "Achieved FLOP/s against analytic arithmetic intensity (FLOPs / a lower bound of the "
        "bytes moved) per point; one line per curve, phase and batch, following n. Solid: the "
        "roof min(matmul peak, intensity × copy bandwidth); dashed: the machine balance; "
        "dotted: 10% of the roof, below which a point is latency-bound.")
    sentences = roofline_sentences(roof, inputs.reference) if inputs.reference else []
    counts = class_counts(roof)
    if counts:
        sentences.append("Bounds over every point with a roofline: " + "; ".join(counts) + ".")
    blocks.append(Bullets(sentences))
    return Section(TITLE, blocks)


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """Intensity, share of the bound and class at each curve's largest n."""
    roof = at_reference(inputs.roofline, inputs.reference)
    roof = roof[roof["bound"].notna()] if not roof.empty else roof
    if roof.empty:
        return []
    last = roof.loc[roof.groupby(["model", "attention"])["seq_len"].idxmax()]
    return [ComparisonRow("Roofline at largest n: intensity, % of bound, class", last,
                          lambda r: f"{fmt_intensity(r['arithmetic_intensity'])} at "
                                    f"n={r['seq_len']}, {fmt_pct2(r['roofline_fraction'])}: "
                                    f"{r['bound']}")]
