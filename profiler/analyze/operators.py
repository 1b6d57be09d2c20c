"""Where the time goes and how close to the machine's peak: pure functions on records.

Inputs are the frame of ``analysis.records_frame`` (its ``ops`` column holds the op
table of each point's untimed profiled pass, see opprofile.op_table), the rows of
peak.json (``store.load_peaks``) and of traces/index.jsonl (``store.load_traces``).
Every function returns a DataFrame (empty, with its columns, when the run has no
such data: older runs have no ``ops``, no peak.json, no traces, no ``bytes_moved``).
Nothing here plots or formats.
"""

from __future__ import annotations

import math

import pandas as pd

from profiler.analyze import tables as A
from profiler.measure import memory
from profiler.measure.opprofile import CATEGORIES, category_shares

# The torch.profiler schedule's step marker ("ProfilerStep#3") in traces: its self time
# is the Python between operators, not an operator, so top-operator lists leave it out.
STEP_MARKER = "ProfilerStep"

# pass_ratio: the profiled pass's operator time over the point's typical call (NaN for
# the backward phase, whose pass includes its forward). pass_stalled: the pass was
# stalled (measure.memory.stalled) even when taken twice (memory.unhurried_pass), and
# one operator holds the stall.
SHARE_COLUMNS = A.SERIES + ["family", "seq_len", "category", "share", "self_s", "clock",
                            "pass_ratio", "pass_stalled"]
EFFICIENCY_COLUMNS = A.SERIES + ["family", "seq_len", "flops_per_s", "peak_flops_per_s",
                                 "peak_fraction", "matmul_n", "datasheet_flops_per_s",
                                 "datasheet_fraction"]
ROOFLINE_COLUMNS = A.SERIES + ["family", "seq_len", "flops_per_s", "bytes_moved",
                                "arithmetic_intensity", "peak_flops_per_s",
                                "bandwidth_bytes_per_s", "machine_balance",
                                "roofline_flops_per_s", "roofline_fraction", "roof", "bound"]
# Below this fraction of its roofline bound a point is "latency-bound": neither the FLOPs
# nor the bytes explain its time; dependent steps, launches or framework overhead do
# (the LSTM's n sequential small GEMMs at batch 1).
LATENCY_BOUND_FRACTION = 0.10
TOP_COLUMNS = ["model", "family", "attention", "device", "phase", "dtype", "threads",
               "batch_size", "seq_len", "source", "rank", "name", "category", "calls",
               "self_s", "share"]
BACKEND_COLUMNS = ["model", "family", "device", "batch_size", "phase", "dtype", "threads",
                   "attention", "n_common", "latency_s", "peak_memory_bytes", "k_latency",
                   "k_memory", "n_max"]


def _ops(value) -> list[dict]:
    """An ``ops`` cell as a list of op rows ([] for None/NaN from older runs)."""
    return [o for o in value if isinstance(o, dict)] if isinstance(value, list) else []


def op_clock(ops: list[dict]) -> str:
    """The clock to share time by: device time when any op has some (CUDA), else CPU.

    On a GPU an op's CPU self time is its launch, not its work; on CPU there is
    no device time."""
    return "self_device_s" if any((o.get("self_device_s") or 0) > 0 for o in ops) \
        else "self_cpu_s"


def shares_of(ops: list[dict]) -> tuple[dict[str, float], float, str]:
    """(share per category, total self time in s, clock) of one op table."""
    ops = [o for o in ops if not str(o.get("name", "")).startswith(STEP_MARKER)]
    clock = op_clock(ops)
    # a category this version does not know (a newer run) counts as "other"
    known = [{**o, "category": o.get("category") if o.get("category") in CATEGORIES
              else "other", clock: o.get(clock) or 0.0} for o in ops]
    total = sum(o[clock] for o in known)
    return category_shares(known, clock), total, clock


def time_shares(df: pd.DataFrame) -> pd.DataFrame:
    """Long table: per ok record with ops, the share of profiled self time per category.

    Shares come from the untimed profiled pass (for ``backward`` it includes the
    forward the backward needs); latency never does."""
    out = []
    for _, r in df[df["status"] == "ok"].iterrows():
        shares, total, clock = shares_of(_ops(r["ops"]))
        if total <= 0:
            continue
        key = {k: r[k] for k in A.SERIES}
        typical = r.get("latency_median_s") or r.get("latency_s")
        ratio = (total / typical if typical and typical > 0 and r["phase"] != "backward"
                 else math.nan)
        was_stalled = not math.isnan(ratio) and memory.stalled(total, typical)
        for cat in CATEGORIES:
            out.append({**key, "family": r["family"], "seq_len": int(r["seq_len"]),
                        "category": cat, "share": shares[cat], "self_s": shares[cat] * total,
                        "clock": clock, "pass_ratio": ratio, "pass_stalled": was_stalled})
    return pd.DataFrame(out, columns=SHARE_COLUMNS)


def valid_peaks(peaks: list[dict]) -> dict[tuple, dict]:
    """peak.json rows that measured something, by (device, dtype, threads)."""
    out = {}
    for p in peaks if isinstance(peaks, list) else []:
        if isinstance(p, dict) and not p.get("error") and (p.get("flops_per_s") or 0) > 0:
            out[(p.get("device"), p.get("dtype"), int(p.get("threads") or 0))] = p
    return out


def _peak_for(table: dict, device, dtype, threads) -> dict | None:
    """The peak measured for (device, dtype, threads); on CUDA the thread count of the
    host does not change a GPU matmul, so any thread count of that device will do."""
    found = table.get((device, dtype, int(threads)))
    if found is None and str(device).startswith("cuda"):
        found = next((p for (d, t, _), p in sorted(table.items(), key=str)
                      if d == device and t == dtype), None)
    return found


def efficiency(df: pd.DataFrame, peaks: list[dict]) -> pd.DataFrame:
    """Per ok record with achieved FLOP/s: the fraction of the measured matmul peak of
    its (device, dtype, threads), and of the datasheet peak where one is known."""
    table = valid_peaks(peaks)
    rows = A.ok(df, "flops_per_s")
    out = []
    for _, r in rows.iterrows():
        peak = _peak_for(table, r["device"], r["dtype"], r["threads"]) or {}
        pf = peak.get("flops_per_s") or math.nan
        ds = peak.get("datasheet_flops_per_s") or math.nan
        out.append({**{k: r[k] for k in A.SERIES}, "family": r["family"],
                    "seq_len": int(r["seq_len"]), "flops_per_s": float(r["flops_per_s"]),
                    "peak_flops_per_s": pf, "peak_fraction": r["flops_per_s"] / pf,
                    "matmul_n": peak.get("matmul_n") or math.nan,
                    "datasheet_flops_per_s": ds, "datasheet_fraction": r["flops_per_s"] / ds})
    return pd.DataFrame(out, columns=EFFICIENCY_COLUMNS)


def roofline_bound(intensity: float, achieved: float, peak: float,
                   bandwidth: float) -> tuple[float, str, str]:
    """(roofline bound in FLOP/s, roof, class) of one point.

    bound = min(peak, intensity × bandwidth) (FLOP/byte × byte/s = FLOP/s); the roof is
    "memory" when intensity < machine balance = peak / bandwidth, else "compute". The
    class is "latency-bound" when achieved < LATENCY_BOUND_FRACTION × bound, else
    "<roof>-bound". Intensity is an upper bound (bytes_moved is a lower bound), so a
    point called compute-bound may still touch more memory than counted."""
    bound = min(peak, intensity * bandwidth)
    roof = "memory" if intensity < peak / bandwidth else "compute"
    cls = "latency-bound" if achieved < LATENCY_BOUND_FRACTION * bound else f"{roof}-bound"
    return bound, roof, cls


def roofline(df: pd.DataFrame, peaks: list[dict]) -> pd.DataFrame:
    """Per ok record with FLOPs and bytes_moved: its intensity, the roofline bound of its
    (device, dtype, threads) from peak.json's matmul peak and copy bandwidth, the fraction
    of that bound achieved and its class. Without a bandwidth (a peak.json from before
    it) the roofline columns are NaN / None; records from before bytes_moved are left out."""
    table = valid_peaks(peaks)
    if "arithmetic_intensity" not in df:
        return pd.DataFrame(columns=ROOFLINE_COLUMNS)
    rows = A.ok(A.ok(df, "flops_per_s"), "arithmetic_intensity")
    out = []
    for _, r in rows.iterrows():
        peak = _peak_for(table, r["device"], r["dtype"], r["threads"]) or {}
        pf, bw = peak.get("flops_per_s") or 0.0, peak.get("bandwidth_bytes_per_s") or 0.0
        ai, achieved = float(r["arithmetic_intensity"]), float(r["flops_per_s"])
        bound, roof, cls = (roofline_bound(ai, achieved, pf, bw) if pf > 0 and bw > 0
                            else (math.nan, None, None))
        out.append({**{k: r[k] for k in A.SERIES}, "family": r["family"],
                    "seq_len": int(r["seq_len"]), "flops_per_s": achieved,
                    "bytes_moved": float(r["bytes_moved"]), "arithmetic_intensity": ai,
                    "peak_flops_per_s": pf or math.nan, "bandwidth_bytes_per_s": bw or math.nan,
                    "machine_balance": pf / bw if pf > 0 and bw > 0 else math.nan,
                    "roofline_flops_per_s": bound, "roofline_fraction": achieved / bound,
                    "roof": roof, "bound": cls})
    return pd.DataFrame(out, columns=ROOFLINE_COLUMNS)


def top_operators(df: pd.DataFrame, traces: list[dict], ref: dict, k: int = 8) -> pd.DataFrame:
    """The ``k`` operators with the most self time per model, at the largest n that ran.

    Per model: the reference device/phase/dtype/threads, its largest batch and the
    default attention (else the first). The op table is the trace's when that point
    was traced (more steps, less noise; time per step = total / active steps), else
    the record's own profiled pass."""
    by_point = {t.get("point_id"): t for t in traces
                if isinstance(t, dict) and not t.get("error") and _ops(t.get("ops"))}
    ran = df[(df["status"] == "ok") & df["ops"].map(lambda v: bool(_ops(v)))]
    for col in ("device", "phase", "dtype", "threads"):
        ran = ran[ran[col] == ref[col]]
    out = []
    for model, sub in ran.groupby("model", sort=True):
        sub = sub[sub["batch_size"] == sub["batch_size"].max()]
        attn = "default" if (sub["attention"] == "default").any() else sorted(sub["attention"])[0]
        sub = sub[sub["attention"] == attn]
        r = sub.loc[sub["seq_len"].idxmax()]
        trace = by_point.get(r["point_id"])
        if trace is not None:
            ops, steps = _ops(trace["ops"]), int(trace.get("active_steps") or 1)
            source = f"trace {trace.get('file')} ({steps} steps)"
        else:
            ops, steps, source = _ops(r["ops"]), 1, "profiled pass (1 step)"
        ops = [o for o in ops if not str(o.get("name", "")).startswith(STEP_MARKER)]
        clock = op_clock(ops)
        total = sum(o.get(clock) or 0.0 for o in ops)
        ranked = sorted(ops, key=lambda o: -(o.get(clock) or 0.0))[:k]
        for i, o in enumerate(ranked, 1):
            out.append({"model": model, "family": r["family"], "attention": attn,
                        "device": r["device"], "phase": r["phase"], "dtype": r["dtype"],
                        "threads": int(r["threads"]), "batch_size": int(r["batch_size"]),
                        "seq_len": int(r["seq_len"]), "source": source, "rank": i,
                        "name": o.get("name"), "category": o.get("category"),
                        "calls": (o.get("calls") or 0) / steps,
                        "self_s": (o.get(clock) or 0.0) / steps,
                        "share": (o.get(clock) or 0.0) / total if total > 0 else math.nan})
    return pd.DataFrame(out, columns=TOP_COLUMNS)


def backend_comparison(df: pd.DataFrame) -> pd.DataFrame:
    """Attention backends side by side, per curve config where several ran ok: latency
    and peak memory at the largest n all of them reached, and their exponents in n.

    The memory exponent is the point: math SDPA materialises the n×n scores (k≈2),
    flash attention streams them (k≈1)."""
    ran = A.ok(df)
    keys = ["model", "device", "batch_size", "phase", "dtype", "threads"]
    lat = A.exponents(ran)
    mem = A.exponents(ran, "peak_memory_bytes")
    out = []
    for key, sub in ran.groupby(keys, sort=True):
        if sub["attention"].nunique() < 2:
            continue
        common = set.intersection(*(set(g["seq_len"]) for _, g in sub.groupby("attention")))
        n = max(common) if common else math.nan
        where = dict(zip(keys, key, strict=True))
        for attn, g in sub.groupby("attention", sort=True):
            at_n = g[g["seq_len"] == n]
            out.append({**where, "family": g["family"].iloc[0], "attention": attn,
                        "n_common": n,
                        "latency_s": at_n["latency_s"].median() if len(at_n) else math.nan,
                        "peak_memory_bytes": at_n["peak_memory_bytes"].median()
                        if len(at_n) else math.nan,
                        "k_latency": _exponent(lat, where, attn),
                        "k_memory": _exponent(mem, where, attn),
                        "n_max": int(g["seq_len"].max())})
    return pd.DataFrame(out, columns=BACKEND_COLUMNS)


def _exponent(exps: pd.DataFrame, where: dict, attention: str) -> float:
    """The upper-range exponent of one curve (whole range with < 3 points), or NaN."""
    if exps.empty:
        return math.nan
    sub = exps[exps["attention"] == attention]
    for k, v in where.items():
        sub = sub[sub[k] == v]
    if sub.empty:
        return math.nan
    r = sub.iloc[0]
    return float(r["k_upper"] if r["upper_points"] else r["k"])


def skipped_backends(df: pd.DataFrame) -> pd.DataFrame:
    """Attention values recorded as skipped because the device lacks them, with the reason
    (measure.attention_unavailable words it "attention backend ... does not exist ...")."""
    sub = df[(df["status"] == "skipped")
             & df["error"].fillna("").str.startswith("attention backend")]
    return (sub[["model", "device", "attention", "error"]].drop_duplicates(
        ["model", "device", "attention"]).sort_values(["model", "device", "attention"])
        .reset_index(drop=True))
