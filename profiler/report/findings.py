"""Headline findings as sentences with numbers, and the LSTM-vs-Transformer table.

Everything here reads the analysis tables (see ``build.analyse``) and returns
text; every number in it comes from this run.
"""

from __future__ import annotations

import pandas as pd

from profiler.analyze.tables import RECURRENT, SCAN, curve_names
from profiler.records import PHASES
from profiler.report.document import (
    Table,
    fmt_exp,
    fmt_n,
    fmt_pct,
    fmt_rate,
    fmt_time,
    fmt_x,
    missing,
)


def reference(records: pd.DataFrame) -> dict:
    """The configuration comparisons are made at: first device, inference (or the
    first phase), largest batch, most threads, the most common dtype."""
    ran = records[records["status"] == "ok"]
    ran = ran if len(ran) else records
    device = sorted(ran["device"].unique())[0]
    ran = ran[ran["device"] == device]
    phases = list(ran["phase"].unique())
    order = [p for p in PHASES if p in phases] + sorted(p for p in phases if p not in PHASES)
    phase = "inference" if "inference" in phases else order[0]
    return {"device": device, "phase": phase, "batch_size": int(ran["batch_size"].max()),
            "threads": int(ran["threads"].max()), "dtype": ran["dtype"].mode().iloc[0]}


def where(df: pd.DataFrame, **eq) -> pd.DataFrame:
    """Rows of ``df`` whose columns equal the given values (columns it lacks are ignored)."""
    if df.empty:
        return df
    for k, v in eq.items():
        if k in df:
            df = df[df[k] == v]
    return df


def _curves(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``curve`` (model [+ attention]) and sort: sequential recurrent families first,
    then the scan families, then the rest (attention, a user's)."""
    out = df.copy()
    out["curve"] = curve_names(out)
    out["_rank"] = [0 if f in RECURRENT else 1 if f in SCAN else 2 for f in out["family"]]
    return out.sort_values(["_rank", "curve"])


def _threads(n) -> str:
    return f"{int(n)} thread" + ("" if int(n) == 1 else "s")


def _context(device, batch, phase, threads, multi_threads: bool) -> str:
    text = f"On {device}, batch {batch}, {phase}"
    return text + (f" ({_threads(threads)})" if multi_threads else "")


def exponent_sentences(t: dict) -> list[str]:
    """One sentence per (device, batch, phase) at the most threads: exponents and crossover."""
    exps = t["exponents"]
    if exps.empty:
        return []
    multi = t["records"]["threads"].nunique() > 1
    top = exps[exps["threads"] == exps.groupby("device")["threads"].transform("max")]
    out = []
    for (device, batch, phase, threads), g in top.groupby(
            ["device", "batch_size", "phase", "threads"], sort=True):
        parts = []
        for i, (_, r) in enumerate(_curves(g).iterrows()):
            text = (f"{r['curve']} latency grows as n^{fmt_exp(r['k'], r['k_low'], r['k_high'])}"
                    if i == 0 else
                    f"{r['curve']} as n^{fmt_exp(r['k'], r['k_low'], r['k_high'])}")
            text += f" over n = {r['n_min']}–{r['n_max']}"
            if r["upper_points"] and r["upper_n_min"] > r["n_min"]:
                text += (f" and n^{fmt_exp(r['k_upper'], r['k_upper_low'], r['k_upper_high'])}"
                         f" for n ≥ {fmt_n(r['upper_n_min'])}")
            parts.append(text)
        cross = where(t["crossovers"], device=device, batch_size=batch, phase=phase,
                      threads=threads)
        for _, c in cross.iterrows():
            parts.append(crossover_text(c))
        out.append(f"{_context(device, batch, phase, threads, multi)}: " + "; ".join(parts) + ".")
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


def other_sentences(t: dict, ref: dict) -> list[str]:
    """Decomposition, fixed cost, sequential floor, batch, threads, memory, frontier."""
    out = []
    ctx = f"{ref['device']}, batch {ref['batch_size']}, {ref['phase']}"
    decs = _curves(where(t["decompositions"], **ref)) if not t["decompositions"].empty else None
    if decs is not None:
        for _, d in decs.iterrows():
            text = (f"{d['curve']} ({ctx}) fits {d['complexity']} best (R² "
                    f"{d['complexity_r2']:.3f}); in a + b·n + c·n² the quadratic term is "
                    f"{fmt_pct(d['quadratic_share_at_max'])} of latency at n = {d['n_max']}")
            over = d["n_quadratic_over_linear"]
            if over <= d["n_max"]:
                text += f" and overtakes the linear term at n ≈ {fmt_n(over)}"
            out.append(text + ".")
    fixed = t["decompositions"]
    if not fixed.empty:
        fixed = _curves(fixed[fixed["fixed_dominates_to"].notna()])
        items = [f"{d['curve']} batch {d['batch_size']} {d['phase']} {_threads(d['threads'])} "
                 f"up to n = {fmt_n(d['fixed_dominates_to'])} (a = {fmt_time(d['a_s'])})"
                 for _, d in fixed.iterrows()]
        if items:
            out.append("Fixed cost a ≥ 50% of latency (launch/framework bound: that range "
                       "measures overhead, not scaling) for " + "; ".join(items) + ".")
    floor = where(t["floor"], device=ref["device"], phase=ref["phase"], threads=ref["threads"])
    for _, f in _curves(floor).iterrows() if not floor.empty else ():
        out.append(f"Sequential floor: {f['curve']} at batch 1 takes {fmt_time(f['per_step_s'])} "
                   f"per time step ({ref['device']}, {ref['phase']}, n = {f['n_from']}–"
                   f"{f['n_to']}, median of latency/n).")
    out += _gain_sentences(t, ref)
    mem = where(t["memory_exponents"], device=ref["device"], threads=ref["threads"],
                batch_size=ref["batch_size"])
    for phase, g in mem.groupby("phase") if not mem.empty else ():
        parts = [f"n^{r['k_upper'] if r['upper_points'] else r['k']:.2f} for {r['curve']}"
                 for _, r in _curves(g).iterrows()]
        out.append(f"Peak memory ({ref['device']}, batch {ref['batch_size']}, {phase}) grows "
                   f"as {', '.join(parts)} over the upper range of n.")
    front = t["frontiers"]
    if not front.empty:
        short = _curves(front[front["next_status"].notna()])
        if len(short):
            items = [f"{r['curve']} {r['phase']} batch {r['batch_size']} "
                     f"({_threads(r['threads'])}) at n = {fmt_n(r['largest_ok'])} "
                     f"(next: {r['next_status']})" for _, r in short.iterrows()]
            out.append(f"{len(short)} of {len(front)} curves stop before the end of the "
                       f"grid: " + "; ".join(items) + ".")
    return out


def _gain_sentences(t: dict, ref: dict) -> list[str]:
    out = []
    batch = where(t["batch"], device=ref["device"], phase=ref["phase"], threads=ref["threads"])
    batch = batch[batch["batch_size"] != batch["base_batch"]] if not batch.empty else batch
    if not batch.empty:
        n = _largest_common_n(batch)
        rows = _curves(where(batch, seq_len=n, batch_size=batch["batch_size"].max()))
        parts = [f"{fmt_x(r['speedup'])} for {r['curve']} (efficiency {fmt_pct(r['efficiency'])})"
                 for _, r in rows.iterrows()]
        if parts:
            b0, b1 = rows["base_batch"].iloc[0], rows["batch_size"].iloc[0]
            out.append(f"From batch {b0} to {b1} at n = {n} ({ref['phase']}), throughput "
                       f"rises " + ", ".join(parts) + "; efficiency 100% would mean latency "
                       "does not grow with the batch.")
    thr = where(t["threads"], device=ref["device"], phase=ref["phase"])
    thr = thr[thr["threads"] != thr["base_threads"]] if not thr.empty else thr
    if not thr.empty:
        n = _largest_common_n(thr)
        rows = _curves(where(thr, seq_len=n))
        parts = [f"{r['curve']} batch {r['batch_size']} {fmt_x(r['speedup'])}"
                 for _, r in rows.iterrows()]
        out.append(f"{int(rows['threads'].max())} threads vs {int(rows['base_threads'].min())} "
                   f"at n = {n} ({ref['phase']}): " + ", ".join(parts)
                   + " (below 1× means slower with more threads).")
    return out


def _largest_common_n(df: pd.DataFrame) -> int:
    """The largest seq_len every model has in ``df`` (or the largest any has)."""
    sets = [set(g["seq_len"]) for _, g in df.groupby("model")]
    common = set.intersection(*sets) if sets else set()
    return int(max(common) if common else df["seq_len"].max())


def comparison_table(t: dict, ref: dict, extra=()) -> Table | None:
    """LSTM vs Transformer (every curve at the reference config), each cell a measured number.

    ``extra``: more rows from other report modules, as (row name, frame, cell text)."""
    exps = where(t["exponents"], **ref)
    if exps.empty:
        return None
    curves = list(_curves(exps)["curve"])
    cells = {c: {} for c in curves}

    def put(row_name, frame, text):
        for _, r in _curves(frame).iterrows() if not frame.empty else ():
            if r["curve"] in cells:
                cells[r["curve"]][row_name] = text(r)

    steps = where(t["per_token"], device=ref["device"], phase=ref["phase"],
                  threads=ref["threads"], dtype=ref["dtype"])
    rows_step = []
    for _, g in _curves(steps).groupby("curve") if not steps.empty else ():
        g = g.sort_values("seq_len")
        a, b = g.iloc[len(g) // 2], g.iloc[-1]
        rows_step.append({**b.to_dict(), "text": f"{fmt_time(a['per_step_s'])} at n={a['seq_len']}"
                          f" → {fmt_time(b['per_step_s'])} at n={b['seq_len']} "
                          f"(×{b['per_step_s'] / a['per_step_s']:.2f})"})
    put("Latency per position at batch 1 (flat: sequential floor)",
        pd.DataFrame(rows_step), lambda r: r["text"])
    put(f"Time exponent k, all n (batch {ref['batch_size']})", exps,
        lambda r: fmt_exp(r["k"], r["k_low"], r["k_high"]))
    put("Time exponent k, upper half of n (asymptotic)", exps,
        lambda r: f"{fmt_exp(r['k_upper'], r['k_upper_low'], r['k_upper_high'])}, "
                  f"n ≥ {fmt_n(r['upper_n_min'])}")
    decs = where(t["decompositions"], **ref)
    put("Best complexity class (R²)", decs,
        lambda r: f"{r['complexity']} ({r['complexity_r2']:.3f})")
    put("Quadratic share of latency at largest n", decs,
        lambda r: f"{fmt_pct(r['quadratic_share_at_max'])} at n={r['n_max']}")
    put("Memory exponent k, upper half of n", where(t["memory_exponents"], **ref),
        lambda r: f"{fmt_exp(r['k_upper'])}, n ≥ {fmt_n(r['upper_n_min'])}"
        if r["upper_points"] else fmt_exp(r["k"]))
    batch = where(t["batch"], device=ref["device"], phase=ref["phase"], threads=ref["threads"],
                  dtype=ref["dtype"])
    batch = batch[batch["batch_size"] != batch["base_batch"]] if not batch.empty else batch
    if not batch.empty:
        n = _largest_common_n(batch)
        put("Throughput gain from largest batch (efficiency)",
            where(batch, seq_len=n, batch_size=batch["batch_size"].max()),
            lambda r: f"{fmt_x(r['speedup'])} B={r['base_batch']}→{r['batch_size']} at n={n} "
                      f"({fmt_pct(r['efficiency'])})")
    thr = where(t["threads"], device=ref["device"], phase=ref["phase"],
                batch_size=ref["batch_size"], dtype=ref["dtype"])
    thr = thr[thr["threads"] != thr["base_threads"]] if not thr.empty else thr
    if not thr.empty:
        n = _largest_common_n(thr)
        put("Thread speedup (efficiency)", where(thr, seq_len=n),
            lambda r: f"{fmt_x(r['speedup'])} {r['base_threads']}→{r['threads']} threads at "
                      f"n={n} ({fmt_pct(r['efficiency'])})")
    put(f"Largest n that ran (batch {ref['batch_size']})", where(t["frontiers"], **ref),
        lambda r: fmt_n(r["largest_ok"]) + ("" if missing(r["next_status"]) else
                                            f" (next: {r['next_status']})"))
    ran = where(t["records"], **ref)
    ran = ran[ran["status"] == "ok"]
    if not ran.empty:
        n = _largest_common_n(ran)
        put(f"Latency at n={n}; throughput", where(ran, seq_len=n),
            lambda r: f"{fmt_time(r['latency_s'])}; {fmt_rate(r['tokens_per_s'])} tokens/s")
    for row_name, frame, text in extra:
        put(row_name, frame, text)
    names = list(dict.fromkeys(k for c in curves for k in cells[c]))
    rows = [[name] + [cells[c].get(name, "not measured") for c in curves] for name in names]
    return Table(["measured", *curves], rows,
                 caption=f"At {ref['device']}, {ref['phase']}, batch {ref['batch_size']}, "
                         f"{ref['threads']} threads, {ref['dtype']} unless the row says "
                         "otherwise.")


def headline_sentences(t: dict) -> list[str]:
    """All headline findings, most important first."""
    if t["records"].empty:
        return []
    ref = reference(t["records"])
    return exponent_sentences(t) + other_sentences(t, ref)
