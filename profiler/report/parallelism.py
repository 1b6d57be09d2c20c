"""The "Parallelism" section: what batching and threads buy, and the recurrent models'
sequential floor (latency per time step at batch 1, which no parallelism removes)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns

from profiler.analyze import tables as A
from profiler.report import plotting
from profiler.report.document import Bullets, Section
from profiler.report.formats import (
    CURVE_COLUMNS,
    fmt_n,
    fmt_pct,
    fmt_rate,
    fmt_time,
    fmt_x,
    frame_table,
)
from profiler.report.frames import beyond_base, by_curve, largest_common_n, where
from profiler.report.inputs import ComparisonRow, ReportInputs


def floor_sentences(floor: pd.DataFrame, ref: dict) -> list[str]:
    """'Sequential floor: lstm at batch 1 takes 58 µs per time step (...)' per recurrent curve."""
    floor = where(floor, device=ref["device"], phase=ref["phase"], threads=ref["threads"])
    return [f"Sequential floor: {f['curve']} at batch 1 takes {fmt_time(f['per_step_s'])} "
            f"per time step ({ref['device']}, {ref['phase']}, n = {f['n_from']}–"
            f"{f['n_to']}, median of latency/n)."
            for _, f in (by_curve(floor).iterrows() if not floor.empty else ())]


def gain_sentences(inputs: ReportInputs) -> list[str]:
    """Throughput from the smallest to the largest batch, and latency from the fewest to
    the most threads, at the largest n every model ran (reference device and phase)."""
    ref, out = inputs.reference, []
    batch = where(inputs.batch_scaling, device=ref["device"], phase=ref["phase"],
                  threads=ref["threads"])
    batch = beyond_base(batch, "batch_size", "base_batch")
    if not batch.empty:
        n = largest_common_n(batch)
        rows = by_curve(where(batch, seq_len=n, batch_size=batch["batch_size"].max()))
        parts = [f"{fmt_x(r['speedup'])} for {r['curve']} (efficiency {fmt_pct(r['efficiency'])})"
                 for _, r in rows.iterrows()]
        if parts:
            b0, b1 = rows["base_batch"].iloc[0], rows["batch_size"].iloc[0]
            out.append(f"From batch {b0} to {b1} at n = {n} ({ref['phase']}), throughput "
                       f"rises " + ", ".join(parts) + "; efficiency 100% would mean latency "
                       "does not grow with the batch.")
    thr = where(inputs.thread_scaling, device=ref["device"], phase=ref["phase"])
    thr = beyond_base(thr, "threads", "base_threads")
    if not thr.empty:
        n = largest_common_n(thr)
        rows = by_curve(where(thr, seq_len=n))
        parts = [f"{r['curve']} batch {r['batch_size']} {fmt_x(r['speedup'])}"
                 for _, r in rows.iterrows()]
        out.append(f"{int(rows['threads'].max())} threads vs {int(rows['base_threads'].min())} "
                   f"at n = {n} ({ref['phase']}): " + ", ".join(parts)
                   + " (below 1× means slower with more threads).")
    return out


def plot_throughput(batch: pd.DataFrame):
    """Tokens/s vs batch size at up to three sequence lengths; None with one batch size."""
    if batch.empty or batch["batch_size"].nunique() < 2:
        return None
    data = plotting.labelled(plotting.max_threads(batch))
    common = sorted(set.intersection(*(set(s["seq_len"]) for _, s in data.groupby("model"))))
    ns = sorted({common[0], common[len(common) // 2], common[-1]}) if common else []
    data = data[data["seq_len"].isin(ns)].copy()
    if data.empty:
        return None
    data["n"] = [f"n={int(n)}" for n in data["seq_len"]]
    g = sns.relplot(data=data, x="batch_size", y="tokens_per_s", hue="model", style="n",
                    kind="line", markers=True, dashes=False, col="phase", row="device",
                    palette=plotting.palette(data["model"]), height=3.6, aspect=1.2,
                    facet_kws={"sharey": False}, hue_order=sorted(set(data["model"])),
                    style_order=[f"n={n}" for n in ns])
    g.set(yscale="log")
    g.set_axis_labels("batch size B (sequences)", "throughput (tokens/s)")
    g.set_titles("{col_name} · {row_name}")
    for ax in g.axes.flat:
        plotting.log2_x(ax, data["batch_size"])
    g.figure.suptitle("Throughput vs batch size (log-log)", y=1.02)
    return g.figure


def plot_thread_speedup(threads: pd.DataFrame):
    """Speedup of the largest over the smallest thread count vs seq_len; None with one count."""
    if threads.empty:
        return None
    data = threads[threads["threads"] != threads["base_threads"]]
    data = plotting.labelled(data[data["threads"] == data.groupby("device")["threads"]
                                  .transform("max")])
    if data.empty:
        return None
    g = sns.relplot(data=data, x="seq_len", y="speedup", hue="model", style="batch",
                    kind="line", markers=True, dashes=False, row="device", col="phase",
                    palette=plotting.palette(data["model"]), height=3.4, aspect=1.35,
                    **plotting.legend_orders(data))
    t0, t1 = int(data["base_threads"].min()), int(data["threads"].max())
    g.set_axis_labels("sequence length n (tokens)", f"speedup {t1} vs {t0} threads (×)")
    g.set_titles("{col_name} · {row_name}")
    for ax in g.axes.flat:
        plotting.log2_x(ax, data["seq_len"])
        ax.axhline(1.0, color="0.4", linestyle=":", linewidth=1)
        ax.axhline(t1 / t0, color="0.6", linestyle="--", linewidth=1)
        ax.text(ax.get_xlim()[0], t1 / t0, f" ideal {t1 / t0:g}×", va="bottom",
                fontsize=8, color="0.4")
    g.figure.suptitle(f"Thread speedup: latency at {t0} thread(s) / latency at {t1}", y=1.02)
    return g.figure


def tables(inputs: ReportInputs, floor: pd.DataFrame) -> list:
    """Throughput vs batch, speedup vs threads, and the sequential floor."""
    batch = beyond_base(inputs.batch_scaling, "batch_size", "base_batch")
    thr = beyond_base(inputs.thread_scaling, "threads", "base_threads")
    b_cols = CURVE_COLUMNS[:3] + [("threads", lambda r: fmt_n(r["threads"])),
                                  ("n", lambda r: fmt_n(r["seq_len"])),
                                  ("batch", lambda r: f"{r['base_batch']}→{r['batch_size']}"),
                                  ("tokens/s", lambda r: fmt_rate(r["tokens_per_s"])),
                                  ("throughput gain", lambda r: fmt_x(r["speedup"])),
                                  ("efficiency", lambda r: fmt_pct(r["efficiency"]))]
    t_cols = CURVE_COLUMNS[:4] + [("n", lambda r: fmt_n(r["seq_len"])),
                                  ("threads", lambda r: f"{r['base_threads']}→{r['threads']}"),
                                  ("speedup", lambda r: fmt_x(r["speedup"])),
                                  ("efficiency", lambda r: fmt_pct(r["efficiency"]))]
    f_cols = CURVE_COLUMNS[:3] + [("threads", lambda r: fmt_n(r["threads"])),
                                  ("latency per step, batch 1",
                                   lambda r: fmt_time(r["per_step_s"])),
                                  ("over n", lambda r: f"{r['n_from']}–{r['n_to']}")]
    return [
        frame_table(batch, b_cols, "Throughput vs batch size: gain over the smallest batch; "
                    "efficiency = gain / batch ratio.", "Only one batch size ran."),
        frame_table(thr, t_cols, "Speedup vs CPU threads: latency at the fewest threads / "
                    "latency here.", "Only one thread count ran."),
        frame_table(floor, f_cols, "Sequential floor of the recurrent models: median "
                    "latency / n at batch 1 over the upper range of n.",
                    "No recurrent model ran at batch 1."),
    ]


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    floor = A.sequential_floor(inputs.records)
    ref = inputs.reference
    sentences = floor_sentences(floor, ref) + gain_sentences(inputs) if ref else []
    blocks = [Bullets(sentences)] if sentences else []
    blocks += plotting.image(
        plot_throughput(inputs.batch_scaling), fig_dir, "throughput_vs_batch",
        "Throughput vs batch size",
        "Tokens per second against batch size at the smallest, middle and largest n that "
        "every model ran. A parallel model's line rises with B; flat means no gain.")
    blocks += plotting.image(
        plot_thread_speedup(inputs.thread_scaling), fig_dir, "thread_speedup",
        "Thread speedup",
        "Latency with the fewest threads divided by latency with the most; dotted: no "
        "gain, dashed: ideal.")
    return Section("Parallelism", blocks + tables(inputs, floor))


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """Latency per position at batch 1, and the gains from batch and threads."""
    ref, rows = inputs.reference, []
    steps = where(A.per_token_latency(inputs.records, 1), device=ref["device"],
                  phase=ref["phase"], threads=ref["threads"], dtype=ref["dtype"])
    per_step = []
    for _, g in by_curve(steps).groupby("curve") if not steps.empty else ():
        g = g.sort_values("seq_len")
        a, b = g.iloc[len(g) // 2], g.iloc[-1]
        per_step.append({**b.to_dict(), "text": f"{fmt_time(a['per_step_s'])} at n={a['seq_len']}"
                         f" → {fmt_time(b['per_step_s'])} at n={b['seq_len']} "
                         f"(×{b['per_step_s'] / a['per_step_s']:.2f})"})
    rows.append(ComparisonRow("Latency per position at batch 1 (flat: sequential floor)",
                              pd.DataFrame(per_step), lambda r: r["text"]))
    batch = where(inputs.batch_scaling, device=ref["device"], phase=ref["phase"],
                  threads=ref["threads"], dtype=ref["dtype"])
    batch = beyond_base(batch, "batch_size", "base_batch")
    if not batch.empty:
        n_b = largest_common_n(batch)  # a name of its own: the cell is written later
        rows.append(ComparisonRow(
            "Throughput gain from largest batch (efficiency)",
            where(batch, seq_len=n_b, batch_size=batch["batch_size"].max()),
            lambda r: f"{fmt_x(r['speedup'])} B={r['base_batch']}→{r['batch_size']} at "
                      f"n={n_b} ({fmt_pct(r['efficiency'])})"))
    thr = where(inputs.thread_scaling, device=ref["device"], phase=ref["phase"],
                batch_size=ref["batch_size"], dtype=ref["dtype"])
    thr = beyond_base(thr, "threads", "base_threads")
    if not thr.empty:
        n_t = largest_common_n(thr)
        rows.append(ComparisonRow(
            "Thread speedup (efficiency)", where(thr, seq_len=n_t),
            lambda r: f"{fmt_x(r['speedup'])} {r['base_threads']}→{r['threads']} threads at "
                      f"n={n_t} ({fmt_pct(r['efficiency'])})"))
    return rows
