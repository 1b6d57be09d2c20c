"""The "Efficiency" section: achieved FLOP/s (the FLOPs of a call / its latency (the floor))
against a matmul in the same dtype on the same device and threads (peak.json), and
where each model's FLOPs came from.

Reads ReportInputs.efficiency (analyze.operators.efficiency); the table's intensity and
bound columns come from ReportInputs.roofline (see roofline.py for what they mean).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from profiler.analyze.tables import SERIES
from profiler.report import plotting
from profiler.report.document import Bullets, Paragraph, Section, Table
from profiler.report.formats import (
    fmt_bandwidth,
    fmt_bytes,
    fmt_flops,
    fmt_intensity,
    fmt_n,
    fmt_pct2,
    missing,
)
from profiler.report.frames import at_reference, by_curve
from profiler.report.inputs import ComparisonRow, ReportInputs


def bandwidth_line(p: dict) -> str:
    """' Copy bandwidth 22.2 GB/s (256 MiB copy, read + write); datasheet 3.35 TB/s.'"""
    bw = p.get("bandwidth_bytes_per_s")
    if not bw:
        return " Copy bandwidth: not measured (a peak.json from before it)."
    text = (f" Copy bandwidth {fmt_bandwidth(bw)} ({fmt_bytes(p.get('copy_bytes'))} copy, "
            "read + write counted)")
    ds = p.get("datasheet_bandwidth_bytes_per_s")
    return text + (f"; datasheet {fmt_bandwidth(ds)}." if ds else ".")


def peak_lines(peaks: list[dict]) -> list[str]:
    """One line per entry of peak.json: the matmul FLOP/s and copy bandwidth measured."""
    out = []
    for p in peaks:
        threads = p.get("threads")
        where_ = f"{p.get('device')} {p.get('dtype')} {threads} thread{'' if threads == 1 else 's'}"
        if p.get("error") or not p.get("flops_per_s"):
            out.append(f"{where_}: not measured ({p.get('error') or 'no figure'}).")
            continue
        text = (f"{where_} ({p.get('device_name') or '?'}): {fmt_flops(p['flops_per_s'])} on "
                f"a {p.get('matmul_n')}³ matmul")
        ds = p.get("datasheet_flops_per_s")
        text += f"; datasheet {fmt_flops(ds)}." if ds else "; no datasheet figure."
        out.append(text + bandwidth_line(p))
    return out


def flops_source_lines(records: pd.DataFrame) -> list[str]:
    """Where each model's FLOPs came from (the records' flops_source), and why a model
    has none; [] for a run from before flops_source."""
    ran = records[records["status"] == "ok"]
    if "flops_source" not in ran or ran["flops_source"].isna().all():
        return []
    words = {"analytic": "analytic (the model's formula)",
             "counted": "counted (FlopCounterMode over one untimed call)",
             "none": "not available"}
    out = []
    for model, g in ran.groupby("model", sort=True):
        sources = [s for s in words if (g["flops_source"] == s).any()]
        text = f"FLOPs of {model}: " + ", ".join(words[s] for s in sources)
        notes = sorted(set(g.loc[g["flops_source"] == "none", "flops_note"].dropna()))
        out.append(text + (f" ({'; '.join(notes)})" if notes else "") + ".")
    return out


def efficiency_sentences(eff: pd.DataFrame, ref: dict) -> list[str]:
    """Per curve at the reference config: achieved FLOP/s from the smallest to the largest
    n, and as a fraction of the matmul (and datasheet) peak."""
    data = at_reference(eff, ref)
    out = []
    for curve, sub in by_curve(data).groupby("curve", sort=False) if not data.empty else ():
        sub = sub.sort_values("seq_len")
        a, b = sub.iloc[0], sub.iloc[-1]
        one = len(sub) == 1  # a curve that stopped at its first n: no "from ... to"
        text = (f"{curve} {ref['phase']}, B={int(b['batch_size'])}: "
                + (f"{fmt_flops(b['flops_per_s'])} at n={b['seq_len']}" if one else
                   f"{fmt_flops(a['flops_per_s'])} at n={a['seq_len']} to "
                   f"{fmt_flops(b['flops_per_s'])} at n={b['seq_len']}"))
        if not missing(b["peak_fraction"]):
            text += (f", {'' if one else fmt_pct2(a['peak_fraction']) + ' to '}"
                     f"{fmt_pct2(b['peak_fraction'])} of the machine's "
                     f"{fmt_flops(b['peak_flops_per_s'])} matmul peak")
        else:
            text += " (no matmul peak measured for this device/dtype/threads)"
        if not missing(b["datasheet_fraction"]):
            text += (f" ({fmt_pct2(b['datasheet_fraction'])} of the datasheet figure at "
                     f"n={b['seq_len']})")
        out.append(text + ".")
    return out


def _lines(ax, data: pd.DataFrame, y: str, colors: dict) -> None:
    """One line per (curve, batch) of ``y`` vs seq_len: colour = curve, marker = batch."""
    markers = dict(zip(sorted(data["batch_size"].unique()), "osD^v", strict=False))
    for (curve, b), g in data.groupby(["model", "batch_size"], sort=True):
        g = g.sort_values("seq_len")
        ax.plot(g["seq_len"], g[y], color=colors[curve], marker=markers[b], markersize=5,
                label=f"{curve} B={int(b)}")
    plotting.plain_log_y(ax)
    plotting.log2_x(ax, data["seq_len"])


def plot_efficiency(eff: pd.DataFrame):
    """Achieved FLOP/s vs seq_len with the matmul peak, and the percentage of that peak;
    None without FLOP counts."""
    data = plotting.labelled(plotting.max_threads(eff))
    if data.empty:
        return None
    data["gflops"] = data["flops_per_s"] / 1e9
    data["pct"] = data["peak_fraction"] * 100
    has_peak = data["pct"].notna().any()
    colors = plotting.palette(data["model"])
    rows = plotting.panel_rows(data)
    fig, axes = plt.subplots(len(rows), 2 if has_peak else 1, squeeze=False,
                             figsize=(10 if has_peak else 5.5, 2.9 * len(rows) + 0.6))
    for i, (phase, device) in enumerate(rows):
        sub = data[(data["phase"] == phase) & (data["device"] == device)]
        ax = axes[i][0]
        _lines(ax, sub, "gflops", colors)
        for col, style, text in (("peak_flops_per_s", "--", "matmul peak"),
                                 ("datasheet_flops_per_s", ":", "datasheet peak")):
            for v in sub[col].dropna().unique():
                ax.axhline(v / 1e9, color="0.4", linestyle=style, linewidth=1)
                ax.text(ax.get_xlim()[0], v / 1e9, f" {text} {v / 1e9:.3g} GFLOP/s",
                        va="bottom", fontsize=8, color="0.3")
        ax.set_title(f"achieved · {phase} · {device}", fontsize=10)
        ax.set_ylabel("achieved GFLOP/s")
        if has_peak:
            _lines(axes[i][1], sub[sub["pct"].notna()], "pct", colors)
            axes[i][1].set_title(f"share of matmul peak · {phase} · {device}", fontsize=10)
            axes[i][1].set_ylabel("% of matmul peak")
        for ax in axes[i]:
            ax.set_xlabel("sequence length n (tokens)" if i == len(rows) - 1 else "")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle("Achieved FLOP/s vs sequence length (log-log)", y=1.0)
    fig.tight_layout()
    return fig


def efficiency_table(eff: pd.DataFrame, roof: pd.DataFrame) -> Table:
    """Achieved FLOP/s at the largest n of each curve, with its roofline columns."""
    last = eff.loc[eff.groupby(SERIES, dropna=False)["seq_len"].idxmax()]
    by_point = {tuple(r[k] for k in SERIES) + (int(r["seq_len"]),): r
                for _, r in roof.iterrows()}
    rows = []
    for _, r in by_curve(last).iterrows():
        rl = by_point.get(tuple(r[k] for k in SERIES) + (int(r["seq_len"]),), {})
        bound = rl.get("bound")
        rows.append([r["curve"], r["phase"], r["device"], fmt_n(r["batch_size"]),
                     fmt_n(r["threads"]), fmt_n(r["seq_len"]), fmt_flops(r["flops_per_s"]),
                     fmt_pct2(r["peak_fraction"]), fmt_pct2(r["datasheet_fraction"]),
                     fmt_intensity(rl.get("arithmetic_intensity")),
                     fmt_pct2(rl.get("roofline_fraction")),
                     bound if isinstance(bound, str) else "–"])  # pandas keeps a missing one NaN
    return Table(["model", "phase", "device", "batch", "threads", "largest n", "achieved",
                  "% of matmul peak", "% of datasheet", "intensity", "% of roofline", "bound"],
                 rows, "Achieved FLOP/s at the largest n of each curve; intensity and bound "
                       "from the roofline (– where the run has no bytes or bandwidth).")


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    eff, peaks = inputs.efficiency, inputs.peaks
    blocks = [Paragraph("Achieved FLOP/s = the FLOPs of a call (matrix products, counted as "
                        "the kernel runs them: a causal fused attention kernel visits n(n+1)/2 "
                        "query-key pairs) / its latency (the floor), compared with a large matmul "
                        "in the same dtype on the same device and threads, measured at sweep "
                        "start (peak.json)."),
              Bullets((["Matmul peak: " + s for s in peak_lines(peaks)] if peaks else
                       ["Matmul peak: not available (no peak.json in this run)."])
                      + flops_source_lines(inputs.records))]
    if eff.empty:
        blocks.append(Paragraph("Efficiency not available: no ok record has FLOP counts."))
        return Section("Efficiency", blocks)
    blocks += plotting.image(
        plot_efficiency(eff), fig_dir, "flops_efficiency",
        "Achieved FLOP/s and share of the matmul peak",
        "Analytic FLOPs / latency (the floor); dashed: the matmul peak measured at sweep start "
        "for the same device, dtype and threads (dotted: the datasheet figure, where known).")
    if inputs.reference is not None:
        blocks.append(Bullets(efficiency_sentences(eff, inputs.reference)
                              or ["No curve at the reference configuration has FLOPs."]))
    blocks.append(efficiency_table(eff, inputs.roofline))
    return Section("Efficiency", blocks)


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """Achieved FLOP/s at each curve's largest n, as a share of the matmul peak."""
    eff = at_reference(inputs.efficiency, inputs.reference)
    if eff.empty:
        return []
    last = eff.loc[eff.groupby(["model", "attention"])["seq_len"].idxmax()]
    return [ComparisonRow("Achieved FLOP/s at largest n (% of matmul peak)", last,
                          lambda r: f"{fmt_flops(r['flops_per_s'])} at n={r['seq_len']} "
                                    f"({fmt_pct2(r['peak_fraction'])})")]
