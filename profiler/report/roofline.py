"""The roofline part of the Efficiency section: arithmetic intensity (analytic FLOPs /
analytic bytes moved) against the machine's matmul peak and copy bandwidth, and which
bound each point is under (opanalysis.roofline).

Blocks say "not available" when the run lacks the data: records from before
``bytes_moved``, or a peak.json without ``bandwidth_bytes_per_s``.
"""

from __future__ import annotations

import pandas as pd

from profiler.analyze.operators import LATENCY_BOUND_FRACTION
from profiler.analyze.tables import SERIES
from profiler.report.document import Bullets, Image, Paragraph, fmt_bytes, missing
from profiler.report.findings import _curves

FIGURE = "roofline"
BOUNDS = ("compute-bound", "memory-bound", "latency-bound")


def fmt_bandwidth(v) -> str:
    """Bytes/s in decimal units, as datasheets give them: 22.2 GB/s, 3.35 TB/s."""
    if missing(v):
        return "–"
    for unit, size in (("TB/s", 1e12), ("GB/s", 1e9), ("MB/s", 1e6)):
        if v >= size:
            return f"{v / size:.3g} {unit}"
    return f"{v:.3g} B/s"


def fmt_intensity(v) -> str:
    return "–" if missing(v) else f"{float(v):.3g} FLOP/byte"


def fmt_bound(v) -> str:
    """The class, or '–' where there is none (pandas keeps a missing one as NaN)."""
    return v if isinstance(v, str) else "–"


def bandwidth_line(p: dict) -> str:
    """' Copy bandwidth 22.2 GB/s (256 MiB copy, read + write); datasheet 3.35 TB/s.'"""
    bw = p.get("bandwidth_bytes_per_s")
    if not bw:
        return " Copy bandwidth: not measured (a peak.json from before it)."
    text = (f" Copy bandwidth {fmt_bandwidth(bw)} ({fmt_bytes(p.get('copy_bytes'))} copy, "
            "read + write counted)")
    ds = p.get("datasheet_bandwidth_bytes_per_s")
    return text + (f"; datasheet {fmt_bandwidth(ds)}." if ds else ".")


def roofline_sentences(roof: pd.DataFrame, ref: dict) -> list[str]:
    """Per curve at the reference config: intensity from the smallest to the largest n,
    and at the largest n the share of its roofline bound and its class."""
    from profiler.report.profiling import _pct, at_reference, fmt_flops

    data = at_reference(roof, ref)
    data = data[data["bound"].notna()] if not data.empty else data
    out = []
    for curve, sub in _curves(data).groupby("curve", sort=False) if not data.empty else ():
        sub = sub.sort_values("seq_len")
        a, b = sub.iloc[0], sub.iloc[-1]
        text = f"Roofline, {curve} {ref['phase']}, B={int(b['batch_size'])}: "
        text += (fmt_intensity(b["arithmetic_intensity"]) if len(sub) == 1 else
                 f"{fmt_intensity(a['arithmetic_intensity'])} at n={a['seq_len']} → "
                 f"{fmt_intensity(b['arithmetic_intensity'])} at n={b['seq_len']}")
        text += (f" (machine balance {fmt_intensity(b['machine_balance'])}); at n={b['seq_len']} "
                 f"it moves ≥ {fmt_bytes(b['bytes_moved'])} per call and its "
                 f"{fmt_flops(b['flops_per_s'])} is {_pct(b['roofline_fraction'])} of its "
                 f"{fmt_flops(b['roofline_flops_per_s'])} roofline bound: {b['bound']}")
        out.append(text + ".")
    return out


def class_counts(roof: pd.DataFrame) -> list[str]:
    """'lstm B=1: 14 latency-bound; transformer B=8: 9 compute-bound, 2 memory-bound' over
    every point with a roofline (all phases, threads, dtypes)."""
    data = roof[roof["bound"].notna()]
    parts = []
    for (curve, batch), g in _curves(data).groupby(["curve", "batch_size"], sort=False):
        counts = g["bound"].value_counts()
        parts.append(f"{curve} B={int(batch)}: " + ", ".join(
            f"{counts[c]} {c}" for c in BOUNDS if c in counts))
    return parts


def roofline_blocks(t: dict, figs: dict) -> list:
    """Paragraph, figure and sentences of the roofline, or a 'not available' line."""
    roof = t.get("roofline", pd.DataFrame())
    if roof.empty:
        return [Paragraph("Roofline not available: no ok record has `bytes_moved` (runs "
                          "from before the bytes estimate, or models without a formula).")]
    if roof["bound"].isna().all():
        return [Paragraph("Roofline not available: no copy bandwidth in peak.json for "
                          "these devices (no peak.json, or one from before the bandwidth "
                          "reference).")]
    blocks = [Paragraph(
        "Roofline. Arithmetic intensity = analytic FLOPs / `bytes_moved`, an analytic lower "
        "bound of the bytes a call reads and writes (weights once; every op's inputs and "
        "output once; the math attention kernel's n×n scores and probabilities; backward "
        "2×, a train step 3× the forward plus Adam's 7 passes over the parameters), so the "
        "intensity is an upper bound. A point's roofline bound is min(matmul peak, "
        "intensity × copy bandwidth): below the machine balance peak / bandwidth it is "
        "memory-bound, above it compute-bound; below "
        f"{LATENCY_BOUND_FRACTION:.0%} of its bound it is latency-bound: neither FLOPs nor "
        "bytes explain its time, dependent steps and per-op overhead do (the LSTM's n "
        "sequential small GEMMs, whose recurrent weights stay in cache).")]
    if FIGURE in figs:
        blocks.append(Image(figs[FIGURE].path, figs[FIGURE].title, figs[FIGURE].caption))
    sentences = roofline_sentences(roof, t["ref"]) if t.get("ref") is not None else []
    counts = class_counts(roof)
    if counts:
        sentences.append("Bounds over every point with a roofline: " + "; ".join(counts) + ".")
    blocks.append(Bullets(sentences))
    return blocks


def lookup(roof: pd.DataFrame) -> dict:
    """Roofline rows by (SERIES..., seq_len), for the efficiency table's columns."""
    return {tuple(r[k] for k in SERIES) + (int(r["seq_len"]),): r for _, r in roof.iterrows()}


def comparison_rows(t: dict, ref: dict) -> list[tuple[str, pd.DataFrame, object]]:
    """A row of the LSTM-vs-Transformer table: intensity and bound at the largest n."""
    from profiler.report.profiling import _pct, at_reference

    roof = at_reference(t.get("roofline", pd.DataFrame()), ref)
    roof = roof[roof["bound"].notna()] if not roof.empty else roof
    if roof.empty:
        return []
    last = roof.loc[roof.groupby(["model", "attention"])["seq_len"].idxmax()]
    return [("Roofline at largest n: intensity, % of bound, class", last,
             lambda r: f"{fmt_intensity(r['arithmetic_intensity'])} at n={r['seq_len']}, "
                       f"{_pct(r['roofline_fraction'])}: {r['bound']}")]
