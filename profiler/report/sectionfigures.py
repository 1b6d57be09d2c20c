"""Figures shown inside their own report sections rather than in "Figures": where the
time goes (operator categories), efficiency against the matmul peak, the roofline,
attention backends and streaming decode. Built on figures.py's helpers and saved by its
``draw_figures``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display: figures only go to files (as in figures.py)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from profiler.analyze.tables import curve_names, ok  # noqa: E402
from profiler.measure.opprofile import CATEGORIES  # noqa: E402
from profiler.records import PHASES  # noqa: E402
from profiler.report.figures import (  # noqa: E402
    MIB,
    MS,
    _labelled,
    _log2_x,
    _palette,
    _reference_slopes,
    max_threads,
)

# One colour per operator category, the same in every panel and run.
CATEGORY_COLORS = dict(zip(CATEGORIES, sns.color_palette("colorblind", len(CATEGORIES)),
                           strict=True))


def _panel_rows(data: pd.DataFrame) -> list[tuple[str, str]]:
    """(phase, device) of each row of panels, phases in the order a sweep runs them."""
    pairs = set(zip(data["phase"], data["device"], strict=True))
    rank = {p: i for i, p in enumerate(PHASES)}
    return sorted(pairs, key=lambda pd_: (rank.get(pd_[0], len(PHASES)), pd_))


def _one_config(df: pd.DataFrame) -> pd.DataFrame:
    """Rows at the largest threads per device, the most common dtype and each curve's
    (and phase's) largest batch: one bar or line per n."""
    data = max_threads(df)
    if data.empty:
        return data
    data = data[data["dtype"] == data["dtype"].mode().iloc[0]]
    top = data.groupby(["model", "attention", "phase", "device"])["batch_size"].transform("max")
    return data[data["batch_size"] == top]


def plot_time_shares(shares: pd.DataFrame):
    """Stacked shares of profiled self time by operator category vs seq_len, one panel
    per curve (columns) and phase (rows); None without op tables."""
    data = _one_config(shares)
    if data.empty:
        return None
    data = data.assign(curve=curve_names(data))
    curves, rows = sorted(data["curve"].unique()), _panel_rows(data)
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
            ax.set_xticks(x, [str(int(n)) for n in table.index], rotation=45)
            ax.set_ylim(0, 100)
            batch = f"B={int(sub['batch_size'].iloc[0])}" if len(sub) else ""
            ax.set_title(f"{curve} · {phase} · {device} {batch}", fontsize=9)
            ax.set_xlabel("sequence length n (tokens)" if i == len(rows) - 1 else "")
            ax.set_ylabel("share of self time (%)" if j == 0 else "")
            ax.grid(False, axis="x")
    fig.legend(handles=[Patch(facecolor=CATEGORY_COLORS[c], label=c) for c in used],
               loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
               title="operator category")
    fig.suptitle("Where the time goes: share of profiled self time by operator category",
                 y=1.0)
    fig.tight_layout()
    return fig


def _lines(ax, data: pd.DataFrame, y: str, palette: dict) -> None:
    """One line per (curve, batch) of ``y`` vs seq_len: colour = curve, marker = batch."""
    markers = dict(zip(sorted(data["batch_size"].unique()), "osD^v", strict=False))
    for (curve, b), g in data.groupby(["model", "batch_size"], sort=True):
        g = g.sort_values("seq_len")
        ax.plot(g["seq_len"], g[y], color=palette[curve], marker=markers[b], markersize=5,
                label=f"{curve} B={int(b)}")
    _plain_log_y(ax)
    _log2_x(ax, data["seq_len"])


def _plain_log_y(ax) -> None:
    """Log y axis with ticks at 1, 2, 5 × 10^k written as plain numbers (0.5, 20), not 2×10^1."""
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()  # after plotting: 1-2-5 ticks crowd an axis of many decades
    subs = (1.0, 2.0, 5.0) if hi / lo < 10 ** 2.5 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def plot_efficiency(eff: pd.DataFrame):
    """Achieved FLOP/s vs seq_len with the matmul peak, and the percentage of that peak;
    None without FLOP counts."""
    data = _labelled(max_threads(eff))
    if data.empty:
        return None
    data["gflops"] = data["flops_per_s"] / 1e9
    data["pct"] = data["peak_fraction"] * 100
    has_peak = data["pct"].notna().any()
    palette = _palette(data["model"])
    rows = _panel_rows(data)
    fig, axes = plt.subplots(len(rows), 2 if has_peak else 1, squeeze=False,
                             figsize=(10 if has_peak else 5.5, 2.9 * len(rows) + 0.6))
    for i, (phase, device) in enumerate(rows):
        sub = data[(data["phase"] == phase) & (data["device"] == device)]
        ax = axes[i][0]
        _lines(ax, sub, "gflops", palette)
        for col, style, text in (("peak_flops_per_s", "--", "matmul peak"),
                                 ("datasheet_flops_per_s", ":", "datasheet peak")):
            for v in sub[col].dropna().unique():
                ax.axhline(v / 1e9, color="0.4", linestyle=style, linewidth=1)
                ax.text(ax.get_xlim()[0], v / 1e9, f" {text} {v / 1e9:.3g} GFLOP/s",
                        va="bottom", fontsize=8, color="0.3")
        ax.set_title(f"achieved · {phase} · {device}", fontsize=10)
        ax.set_ylabel("achieved GFLOP/s")
        if has_peak:
            _lines(axes[i][1], sub[sub["pct"].notna()], "pct", palette)
            axes[i][1].set_title(f"share of matmul peak · {phase} · {device}", fontsize=10)
            axes[i][1].set_ylabel("% of matmul peak")
        for ax in axes[i]:
            ax.set_xlabel("sequence length n (tokens)" if i == len(rows) - 1 else "")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle("Achieved FLOP/s vs sequence length (log-log)", y=1.0)
    fig.tight_layout()
    return fig


def plot_roofline(roof: pd.DataFrame):
    """Log-log roofline per device and dtype (largest threads): achieved FLOP/s against
    arithmetic intensity, with the roof min(peak, intensity × bandwidth) and, dotted, 10%
    of it (below: latency-bound); None without a bandwidth."""
    data = max_threads(roof[roof["bound"].notna()]) if not roof.empty else roof
    if data.empty:
        return None
    data = data.assign(curve=curve_names(data))
    palette = _palette(data["curve"])
    phases = [p for p in PHASES if p in set(data["phase"])]
    markers = dict(zip(phases, "osD^vP", strict=False))
    panels = sorted(set(zip(data["device"], data["dtype"], strict=True)))
    fig, axes = plt.subplots(1, len(panels), squeeze=False, figsize=(6.2 * len(panels), 4.6))
    for ax, (device, dtype) in zip(axes[0], panels, strict=True):
        sub = data[(data["device"] == device) & (data["dtype"] == dtype)]
        for (curve, phase, _), g in sub.groupby(["curve", "phase", "batch_size"], sort=True):
            g = g.sort_values("seq_len")  # a thin line follows each curve as n grows
            ax.plot(g["arithmetic_intensity"], g["flops_per_s"] / 1e9, color=palette[curve],
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
        _plain_log_y(ax)
        threads = int(sub["threads"].iloc[0])
        ax.set_title(f"{device} · {dtype} · {threads} thread{'' if threads == 1 else 's'}",
                     fontsize=10)
        ax.set_xlabel("arithmetic intensity (FLOP/byte, analytic)")
        ax.set_ylabel("achieved GFLOP/s")
    handles = ([plt.Line2D([], [], color=palette[c], linewidth=2, label=c) for c in palette]
               + [plt.Line2D([], [], color="0.3", marker=markers[p], linestyle="", label=p)
                  for p in phases]
               + [plt.Line2D([], [], color="0.5", linestyle=":", label="10% of roof")])
    axes[0][-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                       frameon=False)
    fig.suptitle("Roofline: achieved FLOP/s vs arithmetic intensity (log-log)", y=1.0)
    fig.tight_layout()
    return fig


def _metric_panels(data: pd.DataFrame, hue: str, metrics: list[tuple[str, str]], title: str,
                   xlabel: str = "sequence length n (tokens)"):
    """relplot with one column per metric (y, label), rows = phase · device, log-log,
    slopes 1 and 2 drawn on every panel."""
    long = data.melt(id_vars=[c for c in data.columns if c not in [m for m, _ in metrics]],
                     value_vars=[m for m, _ in metrics], var_name="metric", value_name="y")
    long = long[long["y"] > 0]
    labels = dict(metrics)
    long["metric"] = long["metric"].map(labels)
    long["panel"] = long["phase"] + " · " + long["device"]
    g = sns.relplot(data=long, x="seq_len", y="y", hue=hue, style="batch", kind="line",
                    markers=True, dashes=False, col="metric", row="panel",
                    col_order=[labels[m] for m, _ in metrics],
                    palette=_palette(long[hue]), height=3.4, aspect=1.3,
                    facet_kws={"sharey": False, "sharex": False})
    g.set_titles("{row_name}")
    bottom = set(g.axes[-1])
    for (panel, metric), ax in g.axes_dict.items():
        facet = long[(long["panel"] == panel) & (long["metric"] == metric)]
        _plain_log_y(ax)
        _log2_x(ax, long["seq_len"])
        # the x label on the bottom row only: above, it would run into the next row's title
        ax.set_xlabel(xlabel if ax in bottom else "")
        ax.set_ylabel(metric)
        if not facet.empty:
            _reference_slopes(ax, facet["seq_len"], facet["y"].min())
    g.figure.subplots_adjust(hspace=0.45, wspace=0.3)
    g.figure.suptitle(title, y=1.05)
    return g.figure


def plot_backends(records: pd.DataFrame, backends: pd.DataFrame):
    """Latency and peak memory vs seq_len per attention backend; None with one backend."""
    if backends.empty:
        return None
    data = ok(records)
    data = data[data["model"].isin(backends["model"].unique())]
    data = _labelled(max_threads(data)).assign(attention=lambda d: d["attention"].astype(str))
    data["latency_ms"] = data["latency_s"] * MS
    data["memory_mib"] = data["peak_memory_bytes"] / MIB
    data["attention"] = data["model"].str.split(" ").str[0] + " " + data["attention"]
    return _metric_panels(data, "attention", [("latency_ms", "latency per call (ms)"),
                                              ("memory_mib", "peak memory (MiB)")],
                          "Attention backends: latency and peak memory vs n (log-log; "
                          "dotted: slopes 1 and 2)")


def plot_decode(records: pd.DataFrame):
    """Per-token decode latency and carried state vs context length; None without decode."""
    data = ok(records)
    data = data[data["phase"] == "decode"]
    if data.empty or "state_bytes" not in data:
        return None
    data = _labelled(max_threads(data))
    data["latency_ms"] = data["latency_s"] * MS
    data["state_kib"] = pd.to_numeric(data["state_bytes"], errors="coerce") / 1024
    return _metric_panels(data, "model", [("latency_ms", "latency per generated token (ms)"),
                                          ("state_kib", "state carried (KiB)")],
                          "Streaming decode: cost per token vs context length n (log-log; "
                          "dotted: slopes 1 and 2)", "context length n (tokens)")


def section_plan(tables: dict) -> list[tuple]:
    """(name, title, caption, draw) of each figure; profiling.FIGURES lists the names."""
    records = tables["records"]
    empty = pd.DataFrame()
    return [
        ("time_by_category", "Where the time goes",
         "Share of self time per operator category in each point's untimed profiled pass "
         "(for backward the pass includes its forward), at each curve's largest batch.",
         lambda: plot_time_shares(tables.get("op_shares", empty))),
        ("flops_efficiency", "Achieved FLOP/s and share of the matmul peak",
         "Analytic FLOPs / median latency; dashed: the matmul peak measured at sweep start "
         "for the same device, dtype and threads (dotted: the datasheet figure, where known).",
         lambda: plot_efficiency(tables.get("efficiency", empty))),
        ("roofline", "Roofline",
         "Achieved FLOP/s against analytic arithmetic intensity (FLOPs / a lower bound of the "
         "bytes moved) per point; one line per curve, phase and batch, following n. Solid: the "
         "roof min(matmul peak, intensity × copy bandwidth); dashed: the machine balance; "
         "dotted: 10% of the roof, below which a point is latency-bound.",
         lambda: plot_roofline(tables.get("roofline", empty))),
        ("attention_backends", "Attention backends",
         "Latency and peak memory per SDPA backend on the same grid; the math backend "
         "materialises the n×n scores (memory ∝ n²), flash attention does not (∝ n).",
         lambda: plot_backends(records, tables.get("backends", empty))),
        ("decode_vs_context", "Streaming decode",
         "Per generated token at context length n: latency, and the state carried between "
         "tokens (LSTM: its (h, c); Transformer: its KV cache).",
         lambda: plot_decode(records)),
    ]
