"""The report's figures: with sectionfigures.py, the only modules that import matplotlib
and seaborn.

Each ``plot_*`` function takes analysis tables and returns a matplotlib Figure,
or None when the run has nothing to show for it; ``draw_figures`` saves them as
PNG into RUN_DIR/figures/. Latency is drawn in ms and memory in MiB, on log
axes wherever cost spans orders of magnitude (seq_len 32..2048 is 64×, latency
of an O(n²) curve 4096×).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: figures only go to files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter  # noqa: E402

from profiler.analyze.tables import SERIES, curve_names, ok  # noqa: E402

DPI = 100
MS, MIB = 1e3, 2.0 ** 20
# Status colours: green ran, red/orange ran out of memory/time, grey not attempted.
STATUS_COLORS = {"ok": "#4daf4a", "oom": "#e41a1c", "timeout": "#ff7f00",
                 "crashed": "#984ea3", "error": "#a65628", "skipped": "#bdbdbd",
                 "missing": "#ffffff"}


@dataclass(frozen=True)
class Figure:
    """A saved figure: its file (relative to RUN_DIR) and what it shows."""

    name: str
    path: str  # "figures/<name>.png"
    title: str
    caption: str


def _labelled(df: pd.DataFrame) -> pd.DataFrame:
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


def contended_at_max_threads(df: pd.DataFrame) -> pd.DataFrame:
    """Ok rows flagged contended, at their device's largest thread count among ok rows
    (the rows the latency figure shows): drawn hollow, never fitted."""
    ran = df[df["status"] == "ok"]
    if ran.empty:
        return ran
    top = ran.groupby("device")["threads"].transform("max")
    return ran[ran["contended"] & (ran["threads"] == top)]


def _palette(curves) -> dict:
    names = sorted(set(curves))
    return dict(zip(names, sns.color_palette("colorblind", n_colors=len(names)), strict=False))


def _log2_x(ax, ns) -> None:
    """Log-2 x axis with a tick at every measured n, written as plain numbers."""
    ns = sorted({int(n) for n in ns})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(ns))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.tick_params(axis="x", labelrotation=45)


def _reference_slopes(ax, ns, y_low: float) -> None:
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


def _loglog_grid(data: pd.DataFrame, y: str, ylabel: str, palette: dict):
    """seaborn relplot: y vs seq_len, hue=model, style=batch, facets phase × device."""
    g = sns.relplot(data=data, x="seq_len", y=y, hue="model", style="batch", kind="line",
                    markers=True, dashes=False, row="phase", col="device", palette=palette,
                    height=3.6, aspect=1.35, facet_kws={"sharey": False, "sharex": False})
    g.set(yscale="log")
    g.set_axis_labels("sequence length n (tokens)", ylabel)
    g.set_titles("{row_name} · {col_name}")
    for ax in g.axes.flat:
        _log2_x(ax, data["seq_len"])
    return g


def plot_latency(df: pd.DataFrame, exps: pd.DataFrame):
    """Latency vs seq_len, log-log, with fitted power laws and reference slopes 1 and 2."""
    data = _labelled(max_threads(ok(df)))
    if data.empty:
        return None
    data["latency_ms"] = data["latency_s"] * MS
    palette = _palette(data["model"])
    g = _loglog_grid(data, "latency_ms", "latency per call (ms)", palette)
    flagged = _labelled(contended_at_max_threads(df))
    fits = _labelled(max_threads(exps)) if not exps.empty else exps
    for (phase, device), ax in g.axes_dict.items():
        facet = data[(data["phase"] == phase) & (data["device"] == device)]
        if facet.empty:
            continue
        _reference_slopes(ax, facet["seq_len"], facet["latency_ms"].min())
        mine = fits[(fits["phase"] == phase) & (fits["device"] == device)] \
            if not fits.empty else fits
        lines = []
        for _, f in mine.iterrows():
            upper = f["upper_points"] > 0
            k = f["k_upper"] if upper else f["k"]
            pre = f["upper_prefactor"] if upper else f["prefactor"]
            x = np.array([f["upper_n_min"] if upper else f["n_min"], f["n_max"]], dtype=float)
            ax.plot(x, pre * x ** k * MS, color=palette[f["model"]], linestyle="--",
                    linewidth=1.0, alpha=0.8)
            lines.append(f"{f['model']} B={int(f['batch_size'])}: k={k:.2f}"
                         f" (n≥{int(x[0])})")
        hollow = flagged[(flagged["phase"] == phase) & (flagged["device"] == device)]
        if len(hollow):  # contended points: shown, hollow, and in no fit
            ax.scatter(hollow["seq_len"], hollow["latency_s"] * MS, s=60, linewidths=1.4,
                       facecolors="none", marker="o", zorder=5,
                       edgecolors=[palette.get(m, "0.4") for m in hollow["model"]])
            lines.append(f"hollow: {len(hollow)} contended (not fitted)")
        # exponents in a box rather than at line ends, where close curves overprint
        ax.text(0.03, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", ha="left",
                fontsize=8, bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "0.8"})
    g.figure.suptitle("Latency vs sequence length (log-log; dashed: power-law fit, "
                      "dotted: slopes 1 and 2)", y=1.02)
    return g.figure


def plot_memory(df: pd.DataFrame):
    """Peak memory vs seq_len, log-log, with reference slopes; None without memory data."""
    data = _labelled(max_threads(ok(df, "peak_memory_bytes")))
    if data.empty:
        return None
    data["memory_mib"] = data["peak_memory_bytes"] / MIB
    g = _loglog_grid(data, "memory_mib", "peak memory above baseline (MiB)",
                     _palette(data["model"]))
    for (phase, device), ax in g.axes_dict.items():
        facet = data[(data["phase"] == phase) & (data["device"] == device)]
        if not facet.empty:
            _reference_slopes(ax, facet["seq_len"], facet["memory_mib"].min())
    g.figure.suptitle("Peak memory vs sequence length (log-log; dotted: slopes 1 and 2)",
                      y=1.02)
    return g.figure


def plot_throughput(batch: pd.DataFrame):
    """Tokens/s vs batch size at up to three sequence lengths; None with one batch size."""
    if batch.empty or batch["batch_size"].nunique() < 2:
        return None
    data = _labelled(max_threads(batch))
    common = sorted(set.intersection(*(set(s["seq_len"]) for _, s in data.groupby("model"))))
    ns = sorted({common[0], common[len(common) // 2], common[-1]}) if common else []
    data = data[data["seq_len"].isin(ns)].copy()
    if data.empty:
        return None
    data["n"] = [f"n={int(n)}" for n in data["seq_len"]]
    g = sns.relplot(data=data, x="batch_size", y="tokens_per_s", hue="model", style="n",
                    kind="line", markers=True, dashes=False, col="phase", row="device",
                    palette=_palette(data["model"]), height=3.6, aspect=1.2,
                    facet_kws={"sharey": False})
    g.set(yscale="log")
    g.set_axis_labels("batch size B (sequences)", "throughput (tokens/s)")
    g.set_titles("{col_name} · {row_name}")
    for ax in g.axes.flat:
        _log2_x(ax, data["batch_size"])
    g.figure.suptitle("Throughput vs batch size (log-log)", y=1.02)
    return g.figure


def plot_quadratic_share(shares: pd.DataFrame):
    """The fitted share c·n²/(a+b·n+c·n²) of latency vs seq_len, in %."""
    if shares.empty:
        return None
    data = _labelled(max_threads(shares))
    data["share_pct"] = data["quadratic_share"] * 100
    g = sns.relplot(data=data, x="seq_len", y="share_pct", hue="model", style="batch",
                    kind="line", markers=True, dashes=False, row="phase", col="device",
                    palette=_palette(data["model"]), height=3.4, aspect=1.35)
    g.set(ylim=(-3, 103))
    g.set_axis_labels("sequence length n (tokens)", "quadratic share of latency (%)")
    g.set_titles("{row_name} · {col_name}")
    for ax in g.axes.flat:
        _log2_x(ax, data["seq_len"])
        ax.axhline(50, color="0.6", linestyle=":", linewidth=1)
    g.figure.suptitle("Share of the c·n² term in the fit a + b·n + c·n²", y=1.02)
    return g.figure


def plot_thread_speedup(threads: pd.DataFrame):
    """Speedup of the largest over the smallest thread count vs seq_len; None with one count."""
    if threads.empty:
        return None
    data = threads[threads["threads"] != threads["base_threads"]]
    data = _labelled(data[data["threads"] == data.groupby("device")["threads"]
                          .transform("max")])
    if data.empty:
        return None
    g = sns.relplot(data=data, x="seq_len", y="speedup", hue="model", style="batch",
                    kind="line", markers=True, dashes=False, row="device", col="phase",
                    palette=_palette(data["model"]), height=3.4, aspect=1.35)
    t0, t1 = int(data["base_threads"].min()), int(data["threads"].max())
    g.set_axis_labels("sequence length n (tokens)", f"speedup {t1} vs {t0} threads (×)")
    g.set_titles("{col_name} · {row_name}")
    for ax in g.axes.flat:
        _log2_x(ax, data["seq_len"])
        ax.axhline(1.0, color="0.4", linestyle=":", linewidth=1)
        ax.axhline(t1 / t0, color="0.6", linestyle="--", linewidth=1)
        ax.text(ax.get_xlim()[0], t1 / t0, f" ideal {t1 / t0:g}×", va="bottom",
                fontsize=8, color="0.4")
    g.figure.suptitle(f"Thread speedup: latency at {t0} thread(s) / latency at {t1}", y=1.02)
    return g.figure


def plot_status_map(df: pd.DataFrame, missing: pd.DataFrame):
    """Which (seq_len, batch) points ran, per model (columns) and phase/threads (rows)."""
    if df.empty:
        return None
    cells = df[SERIES + ["seq_len", "status"]].copy()
    if not missing.empty and set(SERIES + ["seq_len"]) <= set(missing.columns):
        cells = pd.concat([cells, missing[SERIES + ["seq_len"]].assign(status="missing")])
    cells["panel"] = [f"{p} · {d} · {int(t)} thr" for p, d, t in
                      zip(cells["phase"], cells["device"], cells["threads"], strict=True)]
    models, panels = sorted(cells["model"].unique()), sorted(cells["panel"].unique())
    ns = sorted(cells["seq_len"].unique())
    batches = sorted(cells["batch_size"].unique())
    codes = {s: i for i, s in enumerate(STATUS_COLORS)}
    cmap = ListedColormap(list(STATUS_COLORS.values()))
    fig, axes = plt.subplots(len(panels), len(models), squeeze=False,
                             figsize=(0.62 * len(ns) * len(models) + 1.5,
                                      (0.42 * len(batches) + 0.9) * len(panels) + 0.6))
    for i, panel in enumerate(panels):
        for j, model in enumerate(models):
            sub = cells[(cells["panel"] == panel) & (cells["model"] == model)]
            # one cell per (batch, n); several dtypes/attentions: the first status wins
            grid = (sub.drop_duplicates(["batch_size", "seq_len"])
                    .pivot(index="batch_size", columns="seq_len", values="status")
                    .reindex(index=batches, columns=ns))
            grid = grid.astype(object)  # an all-empty panel comes back as floats
            text = grid.map(lambda s: "—" if not isinstance(s, str) else "" if s == "ok" else s)
            sns.heatmap(grid.map(lambda s: codes.get(s, np.nan)).astype(float), ax=axes[i][j],
                        cmap=cmap, vmin=-0.5, vmax=len(codes) - 0.5, cbar=False,
                        annot=text.to_numpy(), fmt="", annot_kws={"fontsize": 7},
                        linewidths=1, linecolor="white")
            ax = axes[i][j]
            ax.grid(False)
            ax.set_title(f"{model} · {panel}", fontsize=9)
            ax.set_xlabel("sequence length n" if i == len(panels) - 1 else "")
            ax.set_ylabel("batch B" if j == 0 else "")
            ax.tick_params(axis="both", labelsize=8, labelrotation=0)
    fig.legend(handles=[Patch(facecolor=c, edgecolor="0.5", label=s)
                        for s, c in STATUS_COLORS.items()],
               loc="upper center", ncol=len(STATUS_COLORS), bbox_to_anchor=(0.5, 1.0),
               frameon=False, fontsize=8)
    fig.suptitle("Status of every (seq_len, batch) point ('—': not in the records)", y=1.04)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


def draw_figures(tables: dict, fig_dir: Path) -> list[Figure]:
    """Render every figure the run has data for into ``fig_dir``; the list of those saved.

    ``tables`` holds the analysis frames: records, exponents, batch, threads,
    shares, missing (see profiler.report.build)."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob("*.png"):
        old.unlink()  # figures of an earlier render that this one may not produce
    records = tables["records"]
    plan = [
        ("latency_vs_seq_len", "Latency vs sequence length",
         "Median latency per call, log-log. Dashed lines: power law fitted over the upper "
         "half of n, labelled with its exponent k; dotted: slopes 1 (linear) and 2 "
         "(quadratic) for reference.",
         lambda: plot_latency(records, tables["exponents"])),
        ("throughput_vs_batch", "Throughput vs batch size",
         "Tokens per second against batch size at the smallest, middle and largest n that "
         "every model ran. A parallel model's line rises with B; flat means no gain.",
         lambda: plot_throughput(tables["batch"])),
        ("memory_vs_seq_len", "Peak memory vs sequence length",
         "Peak memory above the baseline, log-log, with slopes 1 and 2 for reference.",
         lambda: plot_memory(records)),
        ("quadratic_share", "Share of the quadratic term",
         "Fraction of latency that is c·n² in the non-negative fit a + b·n + c·n²; above "
         "the dotted 50% line the quadratic (attention) term dominates.",
         lambda: plot_quadratic_share(tables["shares"])),
        ("status_map", "Status map",
         "Every (seq_len, batch) point per model: ok, oom, timeout, skipped, error, "
         "crashed, or never recorded.",
         lambda: plot_status_map(records, tables["missing"])),
        ("thread_speedup", "Thread speedup",
         "Latency with the fewest threads divided by latency with the most; dotted: no "
         "gain, dashed: ideal.",
         lambda: plot_thread_speedup(tables["threads"])),
    ]
    # imported here: sectionfigures builds on this module's helpers
    from profiler.report.sectionfigures import section_plan

    plan += section_plan(tables)
    saved = []
    for name, title, caption, draw in plan:
        fig = draw()
        if fig is None:
            continue
        fig.savefig(fig_dir / f"{name}.png", dpi=DPI, bbox_inches="tight")
        plt.close(fig)
        saved.append(Figure(name, f"figures/{name}.png", title, caption))
    return saved
