"""The "Frontiers" section: how far n went per curve before memory, time or the budget
ran out, and a map of which (n, batch) points ran."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from profiler.analyze.tables import SERIES
from profiler.report import plotting
from profiler.report.document import Bullets, Section
from profiler.report.formats import CURVE_COLUMNS, fmt_n, fmt_threads, frame_table, missing
from profiler.report.frames import by_curve, where
from profiler.report.inputs import ComparisonRow, ReportInputs

# Status colours: green ran, red/orange ran out of memory/time, grey not attempted.
STATUS_COLORS = {"ok": "#4daf4a", "oom": "#e41a1c", "timeout": "#ff7f00",
                 "crashed": "#984ea3", "error": "#a65628", "skipped": "#bdbdbd",
                 "missing": "#ffffff"}


def stop_sentences(front: pd.DataFrame) -> list[str]:
    """'5 of 24 curves stop before the end of the grid: ...'; none when every curve ran to
    its end, or none ran at all."""
    if front.empty or front["largest_ok"].isna().all():
        return []
    short = by_curve(front[front["next_status"].notna()])
    if not len(short):
        return []
    items = [f"{r['curve']} {r['phase']} batch {r['batch_size']} ({fmt_threads(r['threads'])}) "
             f"at n = {fmt_n(r['largest_ok'])} (next: {r['next_status']})"
             for _, r in short.iterrows()]
    return [f"{len(short)} of {len(front)} curves stop before the end of the grid: "
            + "; ".join(items) + "."]


def plot_status_map(df: pd.DataFrame, never: pd.DataFrame):
    """Which (seq_len, batch) points ran, per model (columns) and phase/threads (rows)."""
    if df.empty:
        return None
    cells = df[SERIES + ["seq_len", "status"]].copy()
    if not never.empty and set(SERIES + ["seq_len"]) <= set(never.columns):
        cells = pd.concat([cells, never[SERIES + ["seq_len"]].assign(status="missing")])
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
    # the panels first, then the title and legend in the room left above them (0.5 in)
    room = 0.5 / fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, 0, 1, 1 - room))
    fig.suptitle("Status of every (seq_len, batch) point ('—': not in the records)",
                 y=1.0, va="top")
    fig.legend(handles=[Patch(facecolor=c, edgecolor="0.5", label=s)
                        for s, c in STATUS_COLORS.items()],
               loc="upper center", ncol=len(STATUS_COLORS),
               bbox_to_anchor=(0.5, 1 - 0.45 * room), frameon=False, fontsize=8)
    return fig


def frontier_table(front: pd.DataFrame):
    columns = CURVE_COLUMNS + [
        ("largest n that ran", lambda r: fmt_n(r["largest_ok"])),
        ("next n", lambda r: fmt_n(r["next_n"])),
        ("why not", lambda r: "— (end of grid)" if missing(r["next_status"])
         else f"{r['next_status']}" + ("" if missing(r["next_error"])
                                       else f": {r['next_error']}")),
    ]
    return frame_table(front, columns, "The largest seq_len that ran per curve and what "
                       "happened to the next one.")


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    sentences = stop_sentences(inputs.frontiers)
    blocks = [Bullets(sentences)] if sentences else []
    blocks += plotting.image(
        plot_status_map(inputs.records, inputs.missing_points), fig_dir, "status_map",
        "Status map",
        "Every (seq_len, batch) point per model: ok, oom, timeout, skipped, error, "
        "crashed, or never recorded.")
    return Section("Frontiers", blocks + [frontier_table(inputs.frontiers)])


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """The largest n each curve ran at the reference configuration."""
    ref = inputs.reference
    return [ComparisonRow(
        f"Largest n that ran (batch {ref['batch_size']})", where(inputs.frontiers, **ref),
        lambda r: fmt_n(r["largest_ok"]) + ("" if missing(r["next_status"]) else
                                            f" (next: {r['next_status']})"))]
