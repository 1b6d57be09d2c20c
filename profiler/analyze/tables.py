"""Scaling analysis of a run's records: pure functions from a DataFrame to tables.

Every function takes the frame of ``records_frame`` (one row per (point, phase),
columns = RESULT_FIELDS) and returns a new DataFrame; nothing here plots or
formats. A *series* is one curve over seq_len: everything but seq_len fixed.
Failed rows (oom, timeout, ...) carry None latencies and are left out of fits,
but they are what ``frontiers`` and ``missing_points`` are made of.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from profiler.analyze import fit
from profiler.measure import instances, stats
from profiler.records import RESULT_FIELDS

# The columns that identify a curve over seq_len (Point.series, by name).
SERIES = ["model", "device", "batch_size", "phase", "dtype", "threads", "attention"]
# Families whose time steps run one after another (a recurrence).
RECURRENT = ("lstm", "gru")
# Recurrent *and* parallel: a state like an RNN's, but gates that do not read h_{t-1}, so
# training runs a parallel scan over time (minrnn.py).
SCAN = ("mingru", "minlstm")
# A fixed cost a is "dominant" where it is at least half of a + b·n + c·n².
FIXED_DOMINANT_SHARE = 0.5

_NUMERIC = ["params", "seq_len", "batch_size", "tokens", "threads", "latency_s",
            "latency_median_s", "latency_iqr_s", "latency_mean_s", "latency_min_s",
            "latency_rel_iqr",
            "calls_per_sample", "samples", "warmup_calls", "tokens_per_s", "flops",
            "flops_per_s", "peak_memory_bytes", "peak_memory_reserved_bytes",
            "nvml_used_bytes", "measured_s", "point_wall_s", "state_bytes", "bytes_moved",
            "arithmetic_intensity", "contention", "contended_samples", "attempt", "instances"]


def records_frame(rows: list[dict]) -> pd.DataFrame:
    """The records as a DataFrame with every RESULT_FIELD, numeric columns as floats.

    A point recorded twice (a resumed run) keeps its last record."""
    df = pd.DataFrame(rows, columns=list(RESULT_FIELDS))
    for col in _NUMERIC:
        if col in df:  # a field this checkout's RESULT_FIELDS does not have yet
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df["attention"] = df["attention"].fillna("default")
    df["family"] = df["family"].fillna(df["model"])
    df["noisy"] = df["noisy"].fillna(False).astype(bool)
    # None = the OS gave no wait counter: not known, so not flagged (contention says so)
    df["contended"] = df["contended"].eq(True)
    if df["point_id"].notna().all():
        df = df.drop_duplicates("point_id", keep="last")
    # A failed point must not leak a number into a fit.
    df.loc[df["status"] != "ok", ["latency_s", "tokens_per_s"]] = np.nan
    return df.reset_index(drop=True)


def ok(df: pd.DataFrame, metric: str = "latency_s") -> pd.DataFrame:
    """Rows that ran cleanly and have a positive ``metric``: what fits, crossovers and
    findings rest on. A contended row (too few samples free of contention) is left out:
    its number measured the machine's other work, not the model."""
    return df[(df["status"] == "ok") & ~df["contended"] & (df[metric] > 0)]


def contended_points(df: pd.DataFrame) -> pd.DataFrame:
    """Ok rows flagged contended, most contended first: kept out of every fit."""
    sub = df[(df["status"] == "ok") & df["contended"]]
    return sub.sort_values("contention", ascending=False).reset_index(drop=True)


# Points share a noise level when they share a device and a thread count.
NOISE_GROUP = ["device", "threads"]


def intervals(df: pd.DataFrame) -> pd.DataFrame:
    """95% interval of every ok row's latency (its floor), from its instances'
    floors (stats.floor_interval), with the typical gap taken per device and thread
    count over the points not contended. Columns: point_id, ci_low_s, ci_high_s, ci_rel
    (the larger relative distance from the floor); NaN where a row has fewer than two
    instances or its group has no gap."""
    rows = df[df["status"] == "ok"]
    out = []
    for _, sub in _groups(rows, NOISE_GROUP):
        floors = [instances.floors(r) for r in sub.to_dict("records")]
        # a contended point's instances measured the neighbour: not the noise level
        gaps = [instances.floor_gap(f) for f, flagged in zip(floors, sub["contended"],
                                                             strict=True) if flagged is not True]
        gaps = [g for g in gaps if np.isfinite(g)]
        typical = float(np.median(gaps)) if gaps else None
        for (_, r), f in zip(sub.iterrows(), floors, strict=True):
            ci = stats.floor_interval(f, typical)
            lo, hi = ci if ci else (math.nan, math.nan)
            # from the floor (an older run's latency_s is a median); the interval is
            # symmetric in log space, so its upper side is the farther
            rel = hi / min(f) - 1 if ci else math.nan
            out.append({"point_id": r["point_id"], "ci_low_s": lo, "ci_high_s": hi,
                        "ci_rel": rel})
    return pd.DataFrame(out, columns=["point_id", "ci_low_s", "ci_high_s", "ci_rel"])


def _groups(df: pd.DataFrame, keys: list[str]):
    """groupby that yields (dict of key values, sub-frame), sorted, NaN keys kept."""
    for values, sub in df.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        yield dict(zip(keys, values, strict=True)), sub


# The columns of ``exponents``: a run with nothing to fit still has them.
EXPONENT_COLUMNS = [*SERIES, "family", "metric", "k", "k_low", "k_high", "r2", "points",
                    "n_min", "n_max", "prefactor", "k_upper", "k_upper_low", "k_upper_high",
                    "upper_n_min", "upper_points", "upper_prefactor"]


def exponents(df: pd.DataFrame, metric: str = "latency_s") -> pd.DataFrame:
    """Power-law exponent of ``metric`` vs seq_len per series: whole range and upper range
    (columns EXPONENT_COLUMNS; no rows where no series has two seq_len to fit)."""
    out = []
    for key, sub in _groups(ok(df, metric), SERIES):
        full = fit.fit_power_law(sub["seq_len"], sub[metric])
        if full is None:
            continue
        top = fit.upper_range(sub["seq_len"])
        upper = fit.fit_power_law(*_at(sub, top, metric)) if top else None
        out.append({**key, "family": sub["family"].iloc[0], "metric": metric,
                    "k": full.exponent, "k_low": full.ci_low, "k_high": full.ci_high,
                    "r2": full.r2, "points": full.points, "n_min": full.n_min,
                    "n_max": full.n_max, "prefactor": full.prefactor,
                    "k_upper": upper.exponent if upper else math.nan,
                    "k_upper_low": upper.ci_low if upper else math.nan,
                    "k_upper_high": upper.ci_high if upper else math.nan,
                    "upper_n_min": upper.n_min if upper else math.nan,
                    "upper_points": upper.points if upper else 0,
                    "upper_prefactor": upper.prefactor if upper else math.nan})
    return pd.DataFrame(out, columns=EXPONENT_COLUMNS)


def _at(sub: pd.DataFrame, ns: list[int], metric: str):
    rows = sub[sub["seq_len"].isin(ns)]
    return rows["seq_len"], rows[metric]


def decompositions(df: pd.DataFrame) -> pd.DataFrame:
    """latency ≈ a + b·n + c·n² per series, with where c·n² overtakes b·n and where a dominates."""
    out = []
    for key, sub in _groups(ok(df), SERIES):
        dec = fit.fit_decomposition(sub["seq_len"], sub["latency_s"])
        if dec is None:
            continue
        ns = np.sort(sub["seq_len"].to_numpy(dtype=float))
        fixed = ns[dec.fixed_share(ns) >= FIXED_DOMINANT_SHARE]
        cx = fit.fit_complexity(sub["seq_len"], sub["latency_s"])
        out.append({**key, "family": sub["family"].iloc[0], "a_s": dec.a, "b_s": dec.b,
                    "c_s": dec.c, "r2": dec.r2,
                    "n_quadratic_over_linear": dec.quadratic_overtakes_linear,
                    "quadratic_share_at_max": float(dec.quadratic_share(ns[-1])),
                    "n_max": int(ns[-1]),
                    # largest measured n where the fixed cost is still most of the time
                    "fixed_dominates_to": float(fixed.max()) if fixed.size else math.nan,
                    "complexity": cx.name if cx else None,
                    "complexity_r2": cx.r2 if cx else math.nan})
    return pd.DataFrame(out)


def quadratic_shares(df: pd.DataFrame, decs: pd.DataFrame) -> pd.DataFrame:
    """Long table: per series and measured n, the fitted shares of a, b·n and c·n²."""
    out = []
    for _, d in decs.iterrows():
        dec = fit.Decomposition(d["a_s"], d["b_s"], d["c_s"], d["r2"])
        key = {k: d[k] for k in SERIES}
        sub = ok(df)
        for k, v in key.items():
            sub = sub[sub[k] == v]
        for n in sorted(sub["seq_len"].unique()):
            total = float(dec.total(n))
            out.append({**key, "family": d["family"], "seq_len": int(n),
                        "fixed_share": dec.a / total, "linear_share": dec.b * n / total,
                        "quadratic_share": float(dec.quadratic_share(n))})
    return pd.DataFrame(out)


def curve_name(model: str, attention: str) -> str:
    """Name of a curve in tables and legends: the model, plus a non-default attention."""
    return model if attention in (None, "default") else f"{model} [{attention}]"


def curve_names(df: pd.DataFrame) -> list[str]:
    """``curve_name`` of every row."""
    return [curve_name(m, a) for m, a in zip(df["model"], df["attention"], strict=True)]


def crossovers(df: pd.DataFrame) -> pd.DataFrame:
    """Where two curves of different families cross, per device/batch/phase/dtype/threads.

    One row per pair of curves: the crossing n (interpolated in log-log space) and
    which curve is slower beyond it, or "none in range" and which is faster throughout."""
    data = ok(df).assign(curve=curve_names)
    keys = ["device", "batch_size", "phase", "dtype", "threads"]
    out = []
    for key, sub in _groups(data, keys):
        curves = sub.groupby("curve")
        fam = sub.groupby("curve")["family"].first()
        for c1, c2 in itertools.combinations(sorted(fam.index), 2):
            if fam[c1] == fam[c2]:
                continue
            y1 = curves.get_group(c1).groupby("seq_len")["latency_s"].median()
            y2 = curves.get_group(c2).groupby("seq_len")["latency_s"].median()
            common = y1.index.intersection(y2.index).sort_values()
            if len(common) < 2:
                continue
            a, b = y1[common].to_numpy(), y2[common].to_numpy()
            ns = fit.crossings(common.to_numpy(), a, b)
            last_slower = c1 if a[-1] > b[-1] else c2
            first_faster = c1 if a[0] < b[0] else c2
            out.append({**key, "curve_a": c1, "curve_b": c2, "n_min": int(common[0]),
                        "n_max": int(common[-1]), "crossings": ns,
                        "n_cross": ns[-1] if ns else math.nan,
                        "slower_after": last_slower if ns else None,
                        "faster_throughout": None if ns else first_faster,
                        "ratio_at_max": float(a[-1] / b[-1])})
    return pd.DataFrame(out)


def batch_scaling(df: pd.DataFrame) -> pd.DataFrame:
    """Throughput vs batch size per (series without batch, seq_len).

    speedup = tokens/s at B over tokens/s at the smallest B; perfect parallelism
    over the batch (latency flat in B) gives speedup = B/B_min, efficiency 1."""
    keys = [k for k in SERIES if k != "batch_size"] + ["seq_len"]
    out = []
    for key, sub in _groups(ok(df, "tokens_per_s"), keys):
        sub = sub.sort_values("batch_size")
        base = sub.iloc[0]
        for _, r in sub.iterrows():
            speedup = r["tokens_per_s"] / base["tokens_per_s"]
            ideal = r["batch_size"] / base["batch_size"]
            out.append({**key, "family": r["family"], "batch_size": int(r["batch_size"]),
                        "tokens_per_s": r["tokens_per_s"], "latency_s": r["latency_s"],
                        "base_batch": int(base["batch_size"]), "speedup": speedup,
                        "efficiency": speedup / ideal})
    return pd.DataFrame(out)


def thread_scaling(df: pd.DataFrame) -> pd.DataFrame:
    """Speedup vs CPU threads per (series without threads, seq_len); empty with one count."""
    keys = [k for k in SERIES if k != "threads"] + ["seq_len"]
    out = []
    for key, sub in _groups(ok(df), keys):
        if sub["threads"].nunique() < 2:
            continue
        sub = sub.sort_values("threads")
        base = sub.iloc[0]
        for _, r in sub.iterrows():
            speedup = base["latency_s"] / r["latency_s"]
            out.append({**key, "family": r["family"], "threads": int(r["threads"]),
                        "base_threads": int(base["threads"]), "speedup": speedup,
                        "efficiency": speedup / (r["threads"] / base["threads"])})
    return pd.DataFrame(out)


def per_token_latency(df: pd.DataFrame, batch_size: int = 1) -> pd.DataFrame:
    """Latency per time step (latency / n) at one batch size, per series and n.

    For a recurrence at batch 1 this is the sequential floor: every step waits
    for the previous one, so latency/n stays flat however many cores there are."""
    sub = ok(df)
    # a decode row's latency is already per generated token, not per call over n tokens
    sub = sub[(sub["batch_size"] == batch_size) & (sub["phase"] != "decode")]
    out = sub[SERIES + ["family", "seq_len", "latency_s"]].copy()
    out["per_step_s"] = out["latency_s"] / out["seq_len"]
    return out.sort_values(SERIES + ["seq_len"]).reset_index(drop=True)


def sequential_floor(df: pd.DataFrame) -> pd.DataFrame:
    """Per recurrent series at batch 1: median latency per step over the upper range of n."""
    steps = per_token_latency(df, 1)
    steps = steps[steps["family"].isin(RECURRENT)]
    out = []
    for key, sub in _groups(steps, SERIES):
        top = fit.upper_range(sub["seq_len"], min_points=1)
        s = sub[sub["seq_len"].isin(top)]["per_step_s"]
        out.append({**key, "family": sub["family"].iloc[0], "per_step_s": float(s.median()),
                    "n_from": int(min(top)), "n_to": int(max(top))})
    return pd.DataFrame(out)


def _fit_of(exps: pd.DataFrame, key: dict):
    """The row of an ``exponents`` table for one curve (``key``: its SERIES values), or {}
    when the curve has no fit (fewer than 2 points)."""
    match = exps
    for k, v in key.items():
        match = match[match[k] == v] if not match.empty else match
    return match.iloc[0] if not match.empty else {}


def decode_scaling(df: pd.DataFrame) -> pd.DataFrame:
    """Per decode curve: seconds per generated token and state bytes carried between
    tokens vs the context length n, at the smallest and largest n, with exponents.

    k_state ≈ 0 is a fixed-size state (the LSTM's (h, c)); ≈ 1 a KV cache. k_latency
    follows: a token reads the whole cache, so its cost grows with n once the cache
    is large enough to outweigh the per-token projections."""
    sub = df[df["phase"] == "decode"]
    lat, state = exponents(sub), exponents(sub, "state_bytes")
    out = []
    for key, g in _groups(ok(sub), SERIES):
        g = g.sort_values("seq_len")
        a, b = g.iloc[0], g.iloc[-1]
        row = {**key, "family": g["family"].iloc[0], "n_min": int(a["seq_len"]),
               "n_max": int(b["seq_len"]), "points": len(g), "latency_min_n_s": a["latency_s"],
               "latency_max_n_s": b["latency_s"], "state_min_n_bytes": a["state_bytes"],
               "state_max_n_bytes": b["state_bytes"], "tokens_per_s_max_n": b["tokens_per_s"]}
        for prefix, exps in (("latency", lat), ("state", state)):
            r = _fit_of(exps, key)
            for col in ("k", "k_low", "k_high", "k_upper", "upper_n_min"):
                row[f"{prefix}_{col}"] = r.get(col, math.nan)
        out.append(row)
    return pd.DataFrame(out)


def scan_comparison(df: pd.DataFrame, exps: pd.DataFrame) -> pd.DataFrame:
    """The scan against the recurrence (and every other curve), each at its best thread
    count, per (device, dtype, phase, batch) at n* = the largest n where a scan family and
    a sequential recurrent family both ran.

    One row per curve: the thread count with the lowest latency at n* (a curve that
    stopped before n*, e.g. a Transformer over its time budget, at its own largest n,
    ``seq_len``), that latency, ``vs_recurrent`` = the recurrent curve's best latency at n*
    / this one's (> 1: faster than the recurrence; NaN away from n*), and the curve's
    exponents at that thread count (``exps``: the table of ``exponents``). Empty without
    a scan and a recurrent family."""
    data = ok(df[df["phase"] != "decode"]).assign(curve=curve_names)
    keys = ["device", "dtype", "phase", "batch_size"]
    out = []
    for key, sub in _groups(data, keys):
        scan_ns = set(sub[sub["family"].isin(SCAN)]["seq_len"])
        rec_ns = set(sub[sub["family"].isin(RECURRENT)]["seq_len"])
        if not scan_ns & rec_ns:
            continue
        n_star = max(scan_ns & rec_ns)
        best = []
        for _, g in sub.groupby("curve"):
            at = g[g["seq_len"] == min(n_star, g["seq_len"].max())]
            best.append((at.loc[at["latency_s"].idxmin()], at["threads"].nunique()))
        rec = min((r for r, _ in best if r["family"] in RECURRENT and r["seq_len"] == n_star),
                  key=lambda r: r["latency_s"])
        for r, tried in best:
            row = {**key, "seq_len": int(r["seq_len"]), "n_star": int(n_star),
                   "model": r["model"], "attention": r["attention"], "curve": r["curve"],
                   "family": r["family"], "threads": int(r["threads"]), "threads_tried": tried,
                   "latency_s": r["latency_s"], "recurrent_curve": rec["curve"],
                   "recurrent_latency_s": rec["latency_s"],
                   "vs_recurrent": rec["latency_s"] / r["latency_s"]
                   if r["seq_len"] == n_star else math.nan}
            e = _fit_of(exps, {k: r[k] for k in SERIES})  # the curve at those threads
            for col in ("k", "k_low", "k_high", "k_upper", "k_upper_low", "k_upper_high",
                        "upper_n_min", "n_min", "n_max"):
                row[col] = e.get(col, math.nan)
            out.append(row)
    return pd.DataFrame(out)


def frontiers(df: pd.DataFrame, grid_seq_lens: list[int] | None = None) -> pd.DataFrame:
    """Per series: the largest seq_len that ran, and why the next one did not.

    ``next_status`` is the status of the next larger n tried (oom, timeout,
    skipped, ...), "missing" when the grid has a larger n that was never recorded
    (an interrupted run), or None when the largest n of the grid ran."""
    out = []
    for key, sub in _groups(df, SERIES):
        sub = sub.sort_values("seq_len")
        ran = sub[sub["status"] == "ok"]
        largest = ran["seq_len"].max() if len(ran) else 0
        after = sub[sub["seq_len"] > largest]
        nxt = after.iloc[0] if len(after) else None
        next_n, status, error = math.nan, None, None
        if nxt is not None:
            next_n, status, error = nxt["seq_len"], nxt["status"], nxt["error"]
        bigger = [n for n in grid_seq_lens or [] if n > largest]
        if bigger and (nxt is None or min(bigger) < nxt["seq_len"]):
            next_n, status, error = min(bigger), "missing", "no record (run interrupted?)"
        out.append({**key, "family": sub["family"].iloc[0],
                    "largest_ok": largest if len(ran) else math.nan,
                    "next_n": next_n, "next_status": status, "next_error": error,
                    "tried": int(len(sub)), "ok_points": int(len(ran))})
    return pd.DataFrame(out)


def noisy_points(df: pd.DataFrame) -> pd.DataFrame:
    """Rows flagged noisy (IQR/median ≥ 10%), worst first."""
    sub = df[(df["status"] == "ok") & df["noisy"]]
    return sub.sort_values("latency_rel_iqr", ascending=False).reset_index(drop=True)


def status_counts(df: pd.DataFrame) -> dict:
    """{status: count} over all rows."""
    return {str(k): int(v) for k, v in df["status"].value_counts().items()}


def missing_points(df: pd.DataFrame, grid: dict) -> pd.DataFrame:
    """Grid points (product of the sweep's [grid] axes) with no record at all.

    Axes that are not Point fields (or have no list) are ignored; an axis the
    grid leaves out matches anything."""
    axes = {k: v for k, v in grid.items() if k in SERIES + ["seq_len"] and isinstance(v, list)}
    if not axes:
        return pd.DataFrame()
    names = list(axes)
    seen = {tuple(map(_text, row)) for row in df[names].itertuples(index=False, name=None)}
    missing = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())
               if tuple(map(_text, combo)) not in seen]
    out = pd.DataFrame(missing, columns=names)
    for col in SERIES:  # an axis the grid leaves out has one value: the default
        if col not in out:
            out[col] = "default" if col == "attention" else None
    return out


def _text(value) -> str:
    """A grid value as text, so that 8, 8.0 and "8" compare equal."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
