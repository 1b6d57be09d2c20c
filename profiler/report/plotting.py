"""What every figure shares: the theme, colours per curve, log axes written as plain
numbers, reference slopes, the rows a figure shows, and saving a figure as a PNG.

The topic modules draw their own figures with these; with train/figures.py they are
the only modules that import matplotlib and seaborn. Latency is drawn in ms and
memory in MiB, on log axes wherever cost spans orders of magnitude (seq_len 32..2048
is 64×, latency of an O(n²) curve 4096×).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: figures only go to files (before any figure exists)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FuncFormatter,
    LogLocator,
    NullFormatter,
    NullLocator,
    ScalarFormatter,
)

from profiler.analyze.tables import curve_names  # noqa: E402
from profiler.records import PHASES  # noqa: E402
from profiler.report.document import Image  # noqa: E402
from profiler.run.store import write_bytes  # noqa: E402

DPI = 100
MS, MIB = 1e3, 2.0 ** 20  # seconds -> ms, bytes -> MiB


def set_theme() -> None:
    """The look of every figure: seaborn's white grid, notebook sizes."""
    sns.set_theme(style="whitegrid", context="notebook")


def prepare(fig_dir: Path) -> None:
    """Set the theme and empty ``fig_dir`` of an earlier render's PNGs (this render may
    not draw all of them)."""
    set_theme()
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob("*.png"):
        old.unlink()


def write_png(fig, path: Path, dpi: int = DPI, tight: bool = True) -> Path:
    """Render ``fig`` to PNG bytes, write them atomically to ``path`` and close the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, **({"bbox_inches": "tight"} if tight else {}))
    plt.close(fig)
    return write_bytes(path, buf.getvalue())


def image(fig, fig_dir: Path, name: str, title: str, caption: str) -> list[Image]:
    """``fig`` saved as fig_dir/name.png, as a one-Image list; [] when ``fig`` is None
    (the run has nothing to draw)."""
    if fig is None:
        return []
    return [Image(write_png(fig, fig_dir / f"{name}.png"), title, caption)]


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    """Add the legend columns: ``model`` (with a non-default attention) and ``batch``."""
    out = df.copy()
    out["model"] = curve_names(out)
    out["batch"] = [f"B={int(b)}" for b in out["batch_size"]]
    return out


def max_threads(df: pd.DataFrame) -> pd.DataFrame:
    """Rows at each device's largest thread count (the thread figure shows the others)."""
    if df.empty:
        return df
    top = df.groupby("device")["threads"].transform("max")
    return df[df["threads"] == top]


def legend_orders(data: pd.DataFrame, hue: str = "model") -> dict:
    """relplot's hue_order and style_order: curve names sorted, batches by size, so a
    curve has the same place and a batch the same marker in every figure (seaborn
    otherwise takes them in the order the rows come)."""
    batches = sorted(set(data["batch"]), key=lambda b: int(b.removeprefix("B=")))
    return {"hue_order": sorted(set(data[hue])), "style_order": batches}


def phase_order(data: pd.DataFrame) -> list[str]:
    """The phases of ``data`` in the order a sweep runs them (relplot's row_order)."""
    return list(dict.fromkeys(p for p, _ in panel_rows(data)))


def palette(curves) -> dict:
    """One colour per curve name, the same for the same set of names."""
    names = sorted(set(curves))
    return dict(zip(names, sns.color_palette("colorblind", n_colors=len(names)), strict=False))


def panel_rows(data: pd.DataFrame) -> list[tuple[str, str]]:
    """(phase, device) of each row of panels, phases in the order a sweep runs them."""
    pairs = set(zip(data["phase"], data["device"], strict=True))
    rank = {p: i for i, p in enumerate(PHASES)}
    return sorted(pairs, key=lambda pd_: (rank.get(pd_[0], len(PHASES)), pd_))


def log2_x(ax, ns) -> None:
    """Log-2 x axis with a tick at every measured n, written as plain numbers."""
    ns = sorted({int(n) for n in ns})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ns))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.tick_params(axis="x", labelrotation=45)


def plain_log_y(ax) -> None:
    """Log y axis with ticks at 1, 2, 5 × 10^k written as plain numbers (0.5, 20), not 2×10^1."""
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()  # after plotting: 1-2-5 ticks crowd an axis of many decades
    subs = (1.0, 2.0, 5.0) if hi / lo < 10 ** 2.5 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def reference_slopes(ax, ns, y_low: float) -> None:
    """Grey lines of slope 1 and 2 from the lowest point, clipped to the data's y range."""
    lo, hi = ax.get_ylim()
    n0, n1 = min(ns), max(ns)
    x = np.array([n0, n1], dtype=float)
    for k, text in ((1, "∝ n"), (2, "∝ n²")):
        y = y_low * (x / n0) ** k
        ax.plot(x, y, color="0.45", linestyle=":", linewidth=1.2, zorder=0)
        # label just inside where the line leaves the plot (or at its end)
        x_end = min(n1, n0 * (hi / y_low) ** (1 / k)) / 1.1
        ax.text(x_end, y_low * (x_end / n0) ** k, text, color="0.35", fontsize=9,
                ha="left", va="top")
    ax.set_ylim(lo, hi)


def loglog_grid(data: pd.DataFrame, y: str, ylabel: str, colors: dict):
    """seaborn relplot: y vs seq_len, hue=model, style=batch, facets phase × device,
    dotted slopes 1 and 2 on every panel."""
    g = sns.relplot(data=data, x="seq_len", y=y, hue="model", style="batch", kind="line",
                    markers=True, dashes=False, row="phase", col="device", palette=colors,
                    height=3.6, aspect=1.35, facet_kws={"sharey": False, "sharex": False},
                    row_order=phase_order(data), **legend_orders(data))
    g.set(yscale="log")
    g.set_axis_labels("sequence length n (tokens)", ylabel)
    g.set_titles("{row_name} · {col_name}")
    for ax in g.axes.flat:
        log2_x(ax, data["seq_len"])
    for (phase, device), ax in g.axes_dict.items():
        facet = data[(data["phase"] == phase) & (data["device"] == device)]
        if not facet.empty:
            reference_slopes(ax, facet["seq_len"], facet[y].min())
    return g


def metric_panels(data: pd.DataFrame, hue: str, metrics: list[tuple[str, str]], title: str,
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
                    palette=palette(long[hue]), height=3.4, aspect=1.3,
                    facet_kws={"sharey": False, "sharex": False}, **legend_orders(long, hue))
    g.set_titles("{row_name}")
    bottom = set(g.axes[-1])
    for (panel, metric), ax in g.axes_dict.items():
        facet = long[(long["panel"] == panel) & (long["metric"] == metric)]
        plain_log_y(ax)
        log2_x(ax, long["seq_len"])
        # the x label on the bottom row only: above, it would run into the next row's title
        ax.set_xlabel(xlabel if ax in bottom else "")
        ax.set_ylabel(metric)
        if not facet.empty:
            reference_slopes(ax, facet["seq_len"], facet["y"].min())
    g.figure.subplots_adjust(hspace=0.45, wspace=0.3)
    g.figure.suptitle(title, y=1.05)
    return g.figure
