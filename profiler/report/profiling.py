"""Report sections of operator-level profiling: where the time goes, efficiency against
the machine's matmul peak, attention backends, and links to the traces.

Each ``*_section`` takes the analysis tables (``build.analyse``: op_shares, efficiency,
peaks, top_ops, backends, skipped_backends, traces) and the figures by name, and
returns a Section that says "not available" when the run lacks the data (a run from
before operator profiling has no ops, peak.json or traces/).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from profiler.analyze.tables import SERIES
from profiler.records import PHASES
from profiler.report import roofline
from profiler.report.document import (
    Bullets,
    Image,
    Links,
    Paragraph,
    Section,
    Table,
    fmt_bytes,
    fmt_exp,
    fmt_n,
    fmt_pct,
    fmt_time,
    missing,
)
from profiler.report.findings import _curves, where

# The category that tells each family's story: attention grows with n in a Transformer,
# the recurrence is the LSTM's (and GRU's) whole cost, the scan minGRU's / minLSTM's.
STORY_CATEGORY = {"transformer": "attention", "lstm": "recurrent", "gru": "recurrent",
                  "mingru": "recurrent", "minlstm": "recurrent"}
# Figures drawn by figures.draw_figures that these sections show (not the Figures section).
FIGURES = ("time_by_category", "flops_efficiency", "attention_backends", roofline.FIGURE)


def fmt_flops(v) -> str:
    """FLOP/s with a unit: 3.2 GFLOP/s, 850 MFLOP/s."""
    if missing(v):
        return "–"
    for unit, size in (("TFLOP/s", 1e12), ("GFLOP/s", 1e9), ("MFLOP/s", 1e6)):
        if v >= size:
            return f"{v / size:.3g} {unit}"
    return f"{v:.3g} FLOP/s"


def at_reference(df: pd.DataFrame, ref: dict, phase: str | None = None) -> pd.DataFrame:
    """Rows at the reference device/threads/dtype (and phase), each curve at its largest
    batch: the configuration the sentences quote."""
    if df.empty:
        return df
    sub = where(df, device=ref["device"], threads=ref["threads"], dtype=ref["dtype"],
                phase=phase or ref["phase"])
    if sub.empty:
        return sub
    top = sub.groupby(["model", "attention"])["batch_size"].transform("max")
    return sub[sub["batch_size"] == top]


def _image(figs: dict, name: str) -> list:
    return [Image(figs[name].path, figs[name].title, figs[name].caption)] if name in figs else []


def story_category(family: str, sub: pd.DataFrame) -> str:
    """The category to quote for a curve: its family's, else its largest at the largest n."""
    if family in STORY_CATEGORY:
        return STORY_CATEGORY[family]
    last = sub[sub["seq_len"] == sub["seq_len"].max()]
    return last.loc[last["share"].idxmax(), "category"]


def share_sentences(shares: pd.DataFrame, ref: dict) -> list[str]:
    """'transformer inference, B=8: attention is 4% of profiled time at n=32 and 38% at
    n=4096 (projection_ff 61% → 44%).' per curve and phase at the reference config."""
    out = []
    phases = set(shares["phase"]) if not shares.empty else set()
    for phase in [p for p in PHASES if p in phases] + sorted(phases - set(PHASES)):
        data = at_reference(shares, ref, phase)
        for curve, sub in _curves(data).groupby("curve", sort=False) if not data.empty else ():
            ns = sorted(sub["seq_len"].unique())
            cat = story_category(sub["family"].iloc[0], sub)
            first, last = (sub[sub["seq_len"] == n].set_index("category")["share"]
                           for n in (ns[0], ns[-1]))
            other = last.drop(cat).idxmax()
            text = (f"{curve} {phase}, B={int(sub['batch_size'].iloc[0])}: {cat} is "
                    f"{fmt_pct(first[cat])} of profiled time at n={ns[0]}")
            if len(ns) > 1:
                text += (f" and {fmt_pct(last[cat])} at n={ns[-1]} (largest other: {other} "
                         f"{fmt_pct(first[other])} → {fmt_pct(last[other])})")
            out.append(text + ".")
    return out


def where_time_goes_section(t: dict, figs: dict) -> Section:
    shares, ref = t["op_shares"], t["ref"]
    if shares.empty or ref is None:
        return Section("Where the time goes", [Paragraph(
            "Operator breakdown not available: no ok record of this run has an op table "
            "(`ops`; runs from before operator profiling have none).")])
    clocks = ", ".join("device time" if c == "self_device_s" else "CPU time"
                       for c in sorted(shares["clock"].unique()))
    blocks = [Paragraph(
        "Self time per operator, grouped into categories, from each point's separate, "
        "untimed profiled pass (one call; for backward the pass includes the forward the "
        "backward needs). Profiling adds overhead, so these are shares, never latencies. "
        f"Clock: {clocks}."
        " An operator nested in another (the bmm inside attention) counts toward the "
        "outer one's category.")]
    blocks += _image(figs, "time_by_category")
    blocks.append(Bullets(share_sentences(shares, ref) or ["No curve at the reference "
                                                           "configuration has op tables."]))
    blocks.append(top_operator_table(t["top_ops"]))
    return Section("Where the time goes", blocks)


def top_operator_table(top: pd.DataFrame):
    if top.empty:
        return Paragraph("Top operators: not available (no op table at the largest n).")
    # model, point and source once per model (on its first operator), not on every line
    rows = [[r["model"], f"{r['phase']} n={r['seq_len']} B={r['batch_size']}", r["source"]]
            if r["rank"] == 1 else ["", "", ""] for _, r in top.iterrows()]
    for row, (_, r) in zip(rows, top.iterrows(), strict=True):
        row += [str(r["rank"]), r["name"], r["category"], f"{r['calls']:.3g}",
                fmt_time(r["self_s"]), fmt_pct(r["share"])]
    return Table(["model", "point", "op table from", "#", "operator", "category",
                  "calls / step", "self time / step", "share"], rows,
                 "Top operators per model by self time at the largest n that ran "
                 "(profiled, so slower than the timed latency).")


def peak_lines(peaks: list[dict]) -> list[str]:
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
        out.append(text + roofline.bandwidth_line(p))
    return out


def efficiency_sentences(eff: pd.DataFrame, ref: dict) -> list[str]:
    """Per curve at the reference config: achieved FLOP/s from the smallest to the largest
    n, and as a fraction of the matmul (and datasheet) peak."""
    data = at_reference(eff, ref)
    out = []
    for curve, sub in _curves(data).groupby("curve", sort=False) if not data.empty else ():
        sub = sub.sort_values("seq_len")
        a, b = sub.iloc[0], sub.iloc[-1]
        one = len(sub) == 1  # a curve that stopped at its first n: no "from ... to"
        text = (f"{curve} {ref['phase']}, B={int(b['batch_size'])}: "
                + (f"{fmt_flops(b['flops_per_s'])} at n={b['seq_len']}" if one else
                   f"{fmt_flops(a['flops_per_s'])} at n={a['seq_len']} to "
                   f"{fmt_flops(b['flops_per_s'])} at n={b['seq_len']}"))
        if not missing(b["peak_fraction"]):
            text += (f", {'' if one else _pct(a['peak_fraction']) + ' to '}"
                     f"{_pct(b['peak_fraction'])} of the machine's "
                     f"{fmt_flops(b['peak_flops_per_s'])} matmul peak")
        else:
            text += " (no matmul peak measured for this device/dtype/threads)"
        if not missing(b["datasheet_fraction"]):
            text += (f" ({_pct(b['datasheet_fraction'])} of the datasheet figure at "
                     f"n={b['seq_len']})")
        out.append(text + ".")
    return out


def _pct(v) -> str:
    """A fraction as a percentage with 2 significant digits (0.8%, 12%), whole from 10%
    up (100%, not 1e+02%)."""
    if missing(v):
        return "–"
    pct = 100 * float(v)
    return f"{pct:.2g}%" if pct < 9.95 else f"{pct:.0f}%"


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


def efficiency_section(t: dict, figs: dict) -> Section:
    eff, peaks = t["efficiency"], t["peaks"]
    blocks = [Paragraph("Achieved FLOP/s = the FLOPs of a call (matrix products, counted as "
                        "the kernel runs them: a causal fused attention kernel visits n(n+1)/2 "
                        "query-key pairs) / its median latency, compared with a large matmul "
                        "in the same dtype on the same device and threads, measured at sweep "
                        "start (peak.json)."),
              Bullets((["Matmul peak: " + s for s in peak_lines(peaks)] if peaks else
                       ["Matmul peak: not available (no peak.json in this run)."])
                      + flops_source_lines(t["records"]))]
    if eff.empty:
        blocks.append(Paragraph("Efficiency not available: no ok record has FLOP counts."))
        return Section("Efficiency", blocks)
    blocks += _image(figs, "flops_efficiency")
    if t["ref"] is not None:
        blocks.append(Bullets(efficiency_sentences(eff, t["ref"])
                              or ["No curve at the reference configuration has FLOPs."]))
    blocks += roofline.roofline_blocks(t, figs)
    last = eff.loc[eff.groupby(SERIES, dropna=False)["seq_len"].idxmax()]
    roof = roofline.lookup(t.get("roofline", pd.DataFrame()))
    rows = []
    for _, r in _curves(last).iterrows():
        rl = roof.get(tuple(r[k] for k in SERIES) + (int(r["seq_len"]),), {})
        rows.append([r["curve"], r["phase"], r["device"], fmt_n(r["batch_size"]),
                     fmt_n(r["threads"]), fmt_n(r["seq_len"]), fmt_flops(r["flops_per_s"]),
                     _pct(r["peak_fraction"]), _pct(r["datasheet_fraction"]),
                     roofline.fmt_intensity(rl.get("arithmetic_intensity")),
                     _pct(rl.get("roofline_fraction")), roofline.fmt_bound(rl.get("bound"))])
    blocks.append(Table(["model", "phase", "device", "batch", "threads", "largest n",
                         "achieved", "% of matmul peak", "% of datasheet", "intensity",
                         "% of roofline", "bound"], rows,
                        "Achieved FLOP/s at the largest n of each curve; intensity and bound "
                        "from the roofline (– where the run has no bytes or bandwidth)."))
    return Section("Efficiency", blocks)


def backend_sentences(back: pd.DataFrame) -> list[str]:
    out = []
    for (model, device, batch, phase, threads), g in back.groupby(
            ["model", "device", "batch_size", "phase", "threads"], sort=True):
        mem = ", ".join(f"n^{fmt_exp(r['k_memory'])} with {r['attention']}"
                        for _, r in g.iterrows())
        at = "; ".join(f"{r['attention']} {fmt_time(r['latency_s'])}, "
                       f"{fmt_bytes(r['peak_memory_bytes'])}" for _, r in g.iterrows())
        out.append(f"{model} {phase} on {device}, B={batch}, {threads} threads: peak memory "
                   f"grows as {mem}; at n={fmt_n(g['n_common'].iloc[0])}: {at}.")
    return out


def backends_section(t: dict, figs: dict) -> Section:
    back, skipped = t["backends"], t["skipped_backends"]
    skip = [f"{r['model']} on {r['device']}: {r['attention']} skipped ({r['error']})"
            for _, r in skipped.iterrows()]
    if back.empty:
        return Section("Attention backends", [Paragraph(
            "Backend comparison not available: this run has one attention backend per "
            "model. Add e.g. attention = [\"math\", \"flash\"] to the sweep's [grid] to "
            "compare the O(n²)-memory math kernel with flash attention's O(n).")]
            + ([Bullets(skip)] if skip else []))
    rows = [[r["model"], r["phase"], r["device"], fmt_n(r["batch_size"]), fmt_n(r["threads"]),
             r["attention"], fmt_exp(r["k_latency"]), fmt_exp(r["k_memory"]),
             fmt_n(r["n_common"]), fmt_time(r["latency_s"]), fmt_bytes(r["peak_memory_bytes"]),
             fmt_n(r["n_max"])] for _, r in back.iterrows()]
    blocks = _image(figs, "attention_backends") + [
        Bullets(backend_sentences(back)),
        Table(["model", "phase", "device", "batch", "threads", "attention", "latency k",
               "memory k", "at n", "latency", "peak memory", "largest n"], rows,
              "Exponents over the upper half of n (whole range with fewer than 3 points); "
              "latency and memory at the largest n every backend reached.")]
    return Section("Attention backends", blocks + ([Bullets(skip)] if skip else []))


def traces_section(t: dict, run_dir: Path) -> Section:
    traces = t["traces"]
    if not traces:
        return Section("Traces", [Paragraph(
            "Traces not available: this run has no traces/index.jsonl (a run from before "
            "tracing, or [profile] points = \"none\").")])
    links, other = [], []
    for r in sorted(traces, key=lambda r: tuple(str(r.get(k)) for k in ("model", "device",
                                                                        "phase"))
                    + (r.get("seq_len") or 0, r.get("batch_size") or 0)):
        label = (f"{r.get('model')} {r.get('phase')} n={r.get('seq_len')} "
                 f"B={r.get('batch_size')} {r.get('device')}")
        name = r.get("file")
        if r.get("error"):
            other.append(f"{label}: trace failed ({r['error']}).")
        elif name and (run_dir / "traces" / name).is_file():
            links.append((name, f"traces/{name}", f"— {label}, {r.get('active_steps')} "
                                                  "profiled steps"))
        else:
            other.append(f"{label}: trace file {name} is missing from traces/.")
    blocks = [Paragraph(
        "Chrome/Perfetto traces of selected points, captured in separate untimed runs "
        "(torch.profiler schedule: wait, warm-up, then the active steps). To open one: "
        "in Chrome or Chromium go to chrome://tracing and press Load (works offline), or "
        "drag the file onto https://ui.perfetto.dev (a web page: needs the network to load "
        "the UI; the trace stays on your machine).")]
    if links:
        blocks.append(Links(links))
    if other:
        blocks.append(Bullets(other))
    return Section("Traces", blocks)


def comparison_rows(t: dict, ref: dict) -> list[tuple[str, pd.DataFrame, object]]:
    """Rows for the LSTM-vs-Transformer table: (row name, frame with model/attention/family,
    cell text of a row)."""
    out = []
    shares = at_reference(t["op_shares"], ref)
    rows = []
    for _, sub in _curves(shares).groupby("curve", sort=False) if not shares.empty else ():
        cat = story_category(sub["family"].iloc[0], sub)
        ns = sorted(sub["seq_len"].unique())
        s = sub[sub["category"] == cat].set_index("seq_len")["share"]
        rows.append({**sub.iloc[0].to_dict(), "text": f"{cat} {fmt_pct(s[ns[0]])} at "
                     f"n={ns[0]} → {fmt_pct(s[ns[-1]])} at n={ns[-1]}"})
    out.append(("Share of profiled time in its core kernel (attention / recurrent)",
                pd.DataFrame(rows), lambda r: r["text"]))
    eff = at_reference(t["efficiency"], ref)
    if not eff.empty:
        last = eff.loc[eff.groupby(["model", "attention"])["seq_len"].idxmax()]
        out.append(("Achieved FLOP/s at largest n (% of matmul peak)", last,
                    lambda r: f"{fmt_flops(r['flops_per_s'])} at n={r['seq_len']} "
                              f"({_pct(r['peak_fraction'])})"))
    return out + roofline.comparison_rows(t, ref)


def headline_sentences(t: dict) -> list[str]:
    """For the summary: the core kernel's share of time and the efficiency, at the
    reference phase only (the sections give every phase)."""
    ref = t["ref"]
    if ref is None:
        return []
    shares = where(t["op_shares"], phase=ref["phase"])
    return (["Where the time goes: " + s for s in share_sentences(shares, ref)]
            if not shares.empty else []) \
        + ["Achieved FLOP/s: " + s for s in efficiency_sentences(t["efficiency"], ref)]
