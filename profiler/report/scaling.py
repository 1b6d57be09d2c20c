"""The "Scaling with sequence length" section: how latency grows with n.

The exponent k of latency ∝ n^k per curve (whole range and upper half of n), the fit
a + b·n + c·n² with the share of its quadratic term, the complexity class, where the
fixed cost dominates, and where curves of different families cross; the latency and
quadratic-share figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from profiler.analyze import tables as A
from profiler.report import plotting
from profiler.report.document import Bullets, Section
from profiler.report.formats import (
    CURVE_COLUMNS,
    fmt_exp,
    fmt_n,
    fmt_pct,
    fmt_rate,
    fmt_threads,
    fmt_time,
    fmt_x,
    frame_table,
    missing,
)
from profiler.report.frames import by_curve, largest_common_n, where
from profiler.report.inputs import ComparisonRow, ReportInputs

TITLE = "Scaling with sequence length"


def exponent_sentences(inputs: ReportInputs) -> list[str]:
    """One sentence per (device, batch, phase) at the most threads: exponents and crossover."""
    exps = inputs.exponents
    if exps.empty:
        return []
    multi = inputs.records["threads"].nunique() > 1
    top = exps[exps["threads"] == exps.groupby("device")["threads"].transform("max")]
    out = []
    for (device, batch, phase, threads), g in top.groupby(
            ["device", "batch_size", "phase", "threads"], sort=True):
        parts = []
        for i, (_, r) in enumerate(by_curve(g).iterrows()):
            text = (f"{r['curve']} latency grows as n^{fmt_exp(r['k'], r['k_low'], r['k_high'])}"
                    if i == 0 else
                    f"{r['curve']} as n^{fmt_exp(r['k'], r['k_low'], r['k_high'])}")
            text += f" over n = {r['n_min']}–{r['n_max']}"
            if r["upper_points"] and r["upper_n_min"] > r["n_min"]:
                text += (f" and n^{fmt_exp(r['k_upper'], r['k_upper_low'], r['k_upper_high'])}"
                         f" for n ≥ {fmt_n(r['upper_n_min'])}")
            parts.append(text)
        cross = where(inputs.crossovers, device=device, batch_size=batch, phase=phase,
                      threads=threads)
        parts += [crossover_text(c) for _, c in cross.iterrows()]
        context = f"On {device}, batch {batch}, {phase}"
        if multi:
            context += f" ({fmt_threads(threads)})"
        out.append(f"{context}: " + "; ".join(parts) + ".")
    return out


def crossover_text(c) -> str:
    """'transformer becomes slower than lstm at n ≈ 423' or 'no crossover of lstm and
    mingru in n = 32–2048 (...)'."""
    if c["crossings"]:
        slower = c["slower_after"]
        other = c["curve_b"] if slower == c["curve_a"] else c["curve_a"]
        return f"{slower} becomes slower than {other} at n ≈ {fmt_n(c['n_cross'])}"
    # with three families a sentence holds several pairs: name the pair
    return (f"no crossover of {c['curve_a']} and {c['curve_b']} in n = {c['n_min']}–"
            f"{c['n_max']} ({c['faster_throughout']} is faster throughout)")


def decomposition_sentences(inputs: ReportInputs) -> list[str]:
    """At the reference configuration: the best class and the quadratic term's share per
    curve; then every curve whose fixed cost dominates a range of n."""
    ref, decs = inputs.reference, inputs.decompositions
    if ref is None or decs.empty:
        return []
    out = []
    ctx = f"{ref['device']}, batch {ref['batch_size']}, {ref['phase']}"
    for _, d in by_curve(where(decs, **ref)).iterrows():
        text = (f"{d['curve']} ({ctx}) fits {d['complexity']} best (R² "
                f"{d['complexity_r2']:.3f}); in a + b·n + c·n² the quadratic term is "
                f"{fmt_pct(d['quadratic_share_at_max'])} of latency at n = {d['n_max']}")
        over = d["n_quadratic_over_linear"]
        if over <= d["n_max"]:
            text += f" and overtakes the linear term at n ≈ {fmt_n(over)}"
        out.append(text + ".")
    fixed = by_curve(decs[decs["fixed_dominates_to"].notna()])
    items = [f"{d['curve']} batch {d['batch_size']} {d['phase']} {fmt_threads(d['threads'])} "
             f"up to n = {fmt_n(d['fixed_dominates_to'])} (a = {fmt_time(d['a_s'])})"
             for _, d in fixed.iterrows()]
    if items:
        out.append("Fixed cost a ≥ 50% of latency (launch/framework bound: that range "
                   "measures overhead, not scaling) for " + "; ".join(items) + ".")
    return out


def contended_at_max_threads(df: pd.DataFrame) -> pd.DataFrame:
    """Ok rows flagged contended, at their device's largest thread count among ok rows
    (the rows the latency figure shows): drawn hollow, never fitted."""
    ran = df[df["status"] == "ok"]
    if ran.empty:
        return ran
    top = ran.groupby("device")["threads"].transform("max")
    return ran[ran["contended"] & (ran["threads"] == top)]


def plot_latency(df: pd.DataFrame, exps: pd.DataFrame):
    """Latency vs seq_len, log-log, with fitted power laws and reference slopes 1 and 2."""
    data = plotting.labelled(plotting.max_threads(A.ok(df)))
    if data.empty:
        return None
    data["latency_ms"] = data["latency_s"] * plotting.MS
    colors = plotting.palette(data["model"])
    g = plotting.loglog_grid(data, "latency_ms", "latency per call (ms)", colors)
    flagged = plotting.labelled(contended_at_max_threads(df))
    fits = plotting.labelled(plotting.max_threads(exps)) if not exps.empty else exps
    for (phase, device), ax in g.axes_dict.items():
        facet = data[(data["phase"] == phase) & (data["device"] == device)]
        if facet.empty:
            continue
        mine = fits[(fits["phase"] == phase) & (fits["device"] == device)] \
            if not fits.empty else fits
        lines = []
        for _, f in mine.iterrows():
            upper = f["upper_points"] > 0
            k = f["k_upper"] if upper else f["k"]
            pre = f["upper_prefactor"] if upper else f["prefactor"]
            x = np.array([f["upper_n_min"] if upper else f["n_min"], f["n_max"]], dtype=float)
            ax.plot(x, pre * x ** k * plotting.MS, color=colors[f["model"]], linestyle="--",
                    linewidth=1.0, alpha=0.8)
            lines.append(f"{f['model']} B={int(f['batch_size'])}: k={k:.2f}"
                         f" (n≥{int(x[0])})")
        hollow = flagged[(flagged["phase"] == phase) & (flagged["device"] == device)]
        if len(hollow):  # contended points: shown, hollow, and in no fit
            ax.scatter(hollow["seq_len"], hollow["latency_s"] * plotting.MS, s=60,
                       linewidths=1.4, facecolors="none", marker="o", zorder=5,
                       edgecolors=[colors.get(m, "0.4") for m in hollow["model"]])
            lines.append(f"hollow: {len(hollow)} contended (not fitted)")
        # exponents in a box rather than at line ends, where close curves overprint
        ax.text(0.03, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", ha="left",
                fontsize=8, bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "0.8"})
    # two lines: one would be wider than a one-column grid and leave a gap before the legend
    g.figure.suptitle("Latency vs sequence length\n(log-log; dashed: power-law fit, "
                      "dotted: slopes 1 and 2)", y=1.06)
    return g.figure


def plot_quadratic_share(shares: pd.DataFrame):
    """The fitted share c·n²/(a+b·n+c·n²) of latency vs seq_len, in %."""
    if shares.empty:
        return None
    data = plotting.labelled(plotting.max_threads(shares))
    data["share_pct"] = data["quadratic_share"] * 100
    g = sns.relplot(data=data, x="seq_len", y="share_pct", hue="model", style="batch",
                    kind="line", markers=True, dashes=False, row="phase", col="device",
                    palette=plotting.palette(data["model"]), height=3.4, aspect=1.35,
                    row_order=plotting.phase_order(data), **plotting.legend_orders(data))
    g.set(ylim=(-3, 103))
    g.set_axis_labels("sequence length n (tokens)", "quadratic share of latency (%)")
    g.set_titles("{row_name} · {col_name}")
    for ax in g.axes.flat:
        plotting.log2_x(ax, data["seq_len"])
        ax.axhline(50, color="0.6", linestyle=":", linewidth=1)
    g.figure.suptitle("Share of the c·n² term in the fit a + b·n + c·n²", y=1.02)
    return g.figure


def exponent_table(inputs: ReportInputs):
    """latency ∝ n^k per curve, with the upper-range memory exponent beside it."""
    exps, mem = inputs.exponents, inputs.memory_exponents
    key = ["model", "attention", "phase", "device", "batch_size", "threads", "dtype"]
    if not exps.empty and not mem.empty:
        exps = exps.merge(mem[key + ["k_upper", "k"]].rename(
            columns={"k_upper": "mem_k_upper", "k": "mem_k"}), on=key, how="left")
    columns = CURVE_COLUMNS + [
        ("n range", lambda r: f"{r['n_min']}–{r['n_max']}"),
        ("k, all n (95%)", lambda r: fmt_exp(r["k"], r["k_low"], r["k_high"])),
        ("k, upper n (95%)", lambda r: fmt_exp(r["k_upper"], r["k_upper_low"], r["k_upper_high"])),
        ("upper from n", lambda r: fmt_n(r["upper_n_min"])),
        ("R² (log-log)", lambda r: f"{r['r2']:.3f}"),
        ("memory k, upper n", lambda r: fmt_exp(r.get("mem_k_upper", float("nan")))),
    ]
    return frame_table(exps, columns, "Latency ∝ n^k per curve; the upper range gives the "
                       "asymptotic exponent (fixed costs flatten the small-n end).",
                       "No curve has 2 ok points.")


def decomposition_table(decs: pd.DataFrame):
    columns = CURVE_COLUMNS + [
        ("a (fixed)", lambda r: fmt_time(r["a_s"])),
        ("b (per token)", lambda r: fmt_time(r["b_s"])),
        ("c (per token²)", lambda r: "0" if r["c_s"] == 0 else f"{r['c_s'] * 1e9:.3g} ns"),
        ("c·n² > b·n from n", lambda r: "never" if r["c_s"] == 0
         else fmt_n(r["n_quadratic_over_linear"])),
        ("quadratic share at largest n", lambda r: f"{fmt_pct(r['quadratic_share_at_max'])} "
                                                   f"(n={r['n_max']})"),
        ("fixed cost ≥ 50% up to n", lambda r: fmt_n(r["fixed_dominates_to"])
         if not missing(r["fixed_dominates_to"]) else "–"),
        ("class (R²)", lambda r: f"{r['complexity']} ({r['complexity_r2']:.3f})"),
    ]
    return frame_table(decs, columns, "latency ≈ a + b·n + c·n² (non-negative fit); "
                       "where the fixed cost a dominates, latency is launch/overhead bound.",
                       "No curve has 3 ok points.")


def crossover_table(cross: pd.DataFrame):
    columns = [
        ("device", lambda r: r["device"]), ("batch", lambda r: fmt_n(r["batch_size"])),
        ("phase", lambda r: r["phase"]), ("threads", lambda r: fmt_n(r["threads"])),
        ("curves", lambda r: f"{r['curve_a']} vs {r['curve_b']}"),
        ("crossover", lambda r: f"n ≈ {fmt_n(r['n_cross'])}, {r['slower_after']} slower "
         "beyond" if r["crossings"] else f"none in n = {r['n_min']}–{r['n_max']}"),
        ("latency ratio at largest common n (a/b)",
         lambda r: f"{fmt_x(r['ratio_at_max'])} at n={r['n_max']}"),
    ]
    return frame_table(cross, columns, "Where curves of different families cross, "
                       "interpolated in log-log space.", "No two families share 2 ok seq_lens.")


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    sentences = exponent_sentences(inputs) + decomposition_sentences(inputs)
    blocks = [Bullets(sentences)] if sentences else []
    blocks += plotting.image(
        plot_latency(inputs.records, inputs.exponents), fig_dir, "latency_vs_seq_len",
        "Latency vs sequence length",
        "Latency per call (the floor over the point's instances), log-log. Dashed lines: "
        "power law fitted over the upper half of n, labelled with its exponent k; dotted: "
        "slopes 1 (linear) and 2 (quadratic) for reference.")
    blocks += plotting.image(
        plot_quadratic_share(A.quadratic_shares(inputs.records, inputs.decompositions)),
        fig_dir, "quadratic_share", "Share of the quadratic term",
        "Fraction of latency that is c·n² in the non-negative fit a + b·n + c·n²; above "
        "the dotted 50% line the quadratic (attention) term dominates.")
    blocks += [exponent_table(inputs), decomposition_table(inputs.decompositions),
               crossover_table(inputs.crossovers)]
    return Section(TITLE, blocks)


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """Exponents, class, quadratic share, and latency and throughput at a shared n."""
    ref = inputs.reference
    exps, decs = where(inputs.exponents, **ref), where(inputs.decompositions, **ref)
    rows = [
        ComparisonRow(f"Time exponent k, all n (batch {ref['batch_size']})", exps,
                      lambda r: fmt_exp(r["k"], r["k_low"], r["k_high"])),
        ComparisonRow("Time exponent k, upper half of n (asymptotic)", exps,
                      lambda r: f"{fmt_exp(r['k_upper'], r['k_upper_low'], r['k_upper_high'])}, "
                                f"n ≥ {fmt_n(r['upper_n_min'])}"),
        ComparisonRow("Best complexity class (R²)", decs,
                      lambda r: f"{r['complexity']} ({r['complexity_r2']:.3f})"),
        ComparisonRow("Quadratic share of latency at largest n", decs,
                      lambda r: f"{fmt_pct(r['quadratic_share_at_max'])} at n={r['n_max']}"),
    ]
    ran = where(inputs.ok, **ref)
    if not ran.empty:
        n = largest_common_n(ran)
        rows.append(ComparisonRow(
            f"Latency at n={n}; throughput", where(ran, seq_len=n),
            lambda r: f"{fmt_time(r['latency_s'])}; {fmt_rate(r['tokens_per_s'])} tokens/s"))
    return rows
