"""From a run directory to the report's content: load → analyse → sections.

``analyse`` gathers every analysis table; ``build_document`` turns the tables,
the environment and the figures into a Document the writers render.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from profiler.analyze import operators as O
from profiler.analyze import tables as A
from profiler.errors import UsageError
from profiler.records import NOISY_REL_IQR
from profiler.report import findings, profiling, scan, streaming
from profiler.report.document import (
    Bullets,
    Code,
    Document,
    Image,
    Paragraph,
    Section,
    Table,
    fmt_bytes,
    fmt_exp,
    fmt_n,
    fmt_pct,
    fmt_rate,
    fmt_time,
    fmt_x,
    missing,
)
from profiler.run.spec import tomllib
from profiler.run.store import SWEEP_FILE, load_env, load_peaks, load_results, load_traces

# Columns of the full results table (the raw samples stay in results.jsonl).
FULL_COLUMNS = ["model", "phase", "seq_len", "batch_size", "device", "dtype", "threads",
                "attention", "status", "latency_s", "latency_rel_iqr", "noisy", "samples",
                "tokens_per_s", "peak_memory_bytes", "kernel", "error"]


def load_grid(run_dir: Path) -> tuple[dict, str]:
    """The sweep's [grid] table and the sweep.toml text; ({}, "") when absent or unreadable."""
    path = run_dir / SWEEP_FILE
    if not path.is_file():
        return {}, ""
    text = path.read_text(encoding="utf-8", errors="replace")  # shown as text only
    try:
        grid = tomllib.loads(text).get("grid", {})
    except (tomllib.TOMLDecodeError, RecursionError):
        return {}, text
    return (grid if isinstance(grid, dict) else {}), text


def analyse(records: pd.DataFrame, grid: dict, peaks: list[dict] | None = None,
            traces: list[dict] | None = None) -> dict:
    """Every analysis table of the run, by name (peaks: peak.json, traces: traces/index.jsonl)."""
    decs = A.decompositions(records)
    exps = A.exponents(records)
    seq_lens = grid.get("seq_len") if isinstance(grid.get("seq_len"), list) else None
    ref = findings.reference(records) if len(records) else None
    return {
        "ref": ref,
        "op_shares": O.time_shares(records),
        "efficiency": O.efficiency(records, peaks or []),
        "roofline": O.roofline(records, peaks or []),
        "peaks": peaks or [],
        "top_ops": O.top_operators(records, traces or [], ref) if ref else
        pd.DataFrame(columns=O.TOP_COLUMNS),
        "backends": O.backend_comparison(records),
        "skipped_backends": O.skipped_backends(records),
        "traces": traces or [],
        "decode": A.decode_scaling(records),
        "records": records,
        "exponents": exps,
        "scan": A.scan_comparison(records, exps),
        "memory_exponents": _with_curve(A.exponents(records, "peak_memory_bytes")),
        "decompositions": decs,
        "shares": A.quadratic_shares(records, decs),
        "crossovers": A.crossovers(records),
        "batch": A.batch_scaling(records),
        "threads": A.thread_scaling(records),
        "per_token": A.per_token_latency(records, 1),
        "floor": A.sequential_floor(records),
        "frontiers": A.frontiers(records, seq_lens),
        "noisy": A.noisy_points(records),
        "contended": A.contended_points(records),
        "intervals": A.intervals(records),
        "missing": A.missing_points(records, grid),
    }


def _with_curve(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return df
    return df.assign(curve=A.curve_names(df))


def build_document(run_dir: Path, t: dict, env: dict, spec_text: str, figures) -> Document:
    """The report's sections, in reading order."""
    records = t["records"]
    counts = A.status_counts(records)
    sections = [
        Section("Summary", [Paragraph(status_line(counts, len(t["missing"])))]
                + ([Bullets(findings.headline_sentences(t) + scan.headline_sentences(t)
                            + profiling.headline_sentences(t))]
                   if counts.get("ok") else
                   [Paragraph("No point ran successfully, so there is nothing to fit.")])),
        Section("Environment and method", environment_blocks(env, records, spec_text)),
    ]
    ref = t["ref"]
    table = (findings.comparison_table(t, ref, scan.comparison_rows(t, ref)
                                       + profiling.comparison_rows(t, ref)
                                       + streaming.comparison_rows(t, ref)) if ref else None)
    if table is not None:
        sections.append(Section("LSTM vs Transformer, measured", [
            Paragraph("Each cell is a number from this run ('not measured' where the run "
                      "has none)."),
            table]))
    sections.append(scan.scan_section(t))
    figs = {f.name: f for f in figures}
    sections.append(Section("Figures", [Image(f.path, f.title, f.caption) for f in figures
                                        if f.name not in (*profiling.FIGURES, streaming.FIGURE)]
                            or [Paragraph("No figure: no point ran.")]))
    sections += [
        profiling.where_time_goes_section(t, figs),
        profiling.efficiency_section(t, figs),
        profiling.backends_section(t, figs),
        streaming.streaming_section(t, figs),
        profiling.traces_section(t, run_dir),
        Section("Scaling exponents", [exponent_table(t), decomposition_table(t)]),
        Section("Crossovers", [crossover_table(t)]),
        Section("Parallelism", parallel_tables(t)),
        Section("Frontiers", [frontier_table(t)]),
        Section("What is missing", missing_blocks(t)),
        Section("Run health: contended, noisy and re-measured points", health_blocks(t)),
        Section("All results", [full_table(records)]),
    ]
    title = f"Scaling report: {run_dir.name}"
    run_ids = sorted(records["run_id"].dropna().unique()) if len(records) else []
    return Document(title, "run " + ", ".join(run_ids) if run_ids else str(run_dir), sections)


def status_line(counts: dict, n_missing: int) -> str:
    """'112 points in the grid: 107 ok, 2 oom, 1 timeout, 1 skipped, 1 never recorded.'"""
    total = sum(counts.values())
    parts = [f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: kv[0] != "ok")]
    if n_missing:
        parts.append(f"{n_missing} never recorded")
    text = f"{total + n_missing} points: " + ", ".join(parts) + "."
    if n_missing or set(counts) - {"ok"}:
        text += " This run is partial: see 'What is missing'; fits use the ok points only."
    return text


def _flatten(value, prefix="") -> list[tuple[str, str]]:
    """env.json as (dotted key, text) pairs, whatever its shape."""
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return [kv for i, v in enumerate(value) for kv in _flatten(v, f"{prefix}{i}.")]
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    text = "–" if value is None else str(value)
    return [(prefix.rstrip("."), text if len(text) <= 160 else text[:157] + "...")]


def environment_blocks(env: dict, records: pd.DataFrame, spec_text: str) -> list:
    blocks = []
    if env:
        rows = [[k, v] for k, v in _flatten(env)]
        blocks.append(Table(["env.json", "value"], rows))
    else:
        blocks.append(Paragraph("env.json is missing: the environment was not recorded."))
    ran = records[records["status"] == "ok"]

    def values(col, fmt=str):
        v = ran[col].dropna().unique() if col in ran else []
        return ", ".join(sorted(fmt(x) for x in v)) or "not recorded"

    def span(col):
        v = ran[col].dropna() if col in ran else []
        if not len(v):
            return "not recorded"
        lo, hi = fmt_n(v.min()), fmt_n(v.max())
        return lo if lo == hi else f"{lo}–{hi}"

    samples = ran["samples"].dropna()
    # one entry per device, named where any record names it (failed points carry no name)
    names = records.groupby("device")["device_name"].agg(lambda s: s.dropna().iloc[0]
                                                         if s.notna().any() else None)
    blocks.append(Bullets([
        "Devices: " + ", ".join(f"{d} ({n})" if isinstance(n, str) else str(d)
                                for d, n in names.items()),
        f"Timer: {values('timer')}; warm-up calls per point: {span('warmup_calls')}; "
        f"calls per sample: {span('calls_per_sample')}.",
        "Latency is the median of the instance medians of each point: each instance is a "
        "fresh model on fresh inputs in one of two alternating worker processes "
        + (f"({span('instances')} instances, {fmt_n(samples.min())}–{fmt_n(samples.max())} "
           "samples per point); " if len(samples) else "; ")
        + "a sample whose threads waited for a core more than the contention threshold is "
        f"taken again; a point whose IQR/median ≥ {NOISY_REL_IQR:.0%} is flagged noisy.",
        f"Peak memory source: {values('memory_source')}; bytes above the baseline before "
        "the step.",
        "Kernels: " + "; ".join(f"{m}: {_kernels(g)}" for m, g in ran.groupby("model")) + ".",
        "Fits: power laws by least squares on log n, log latency with 95% t-intervals, over "
        "all n and over the upper half of the n values (≥ 3 points); a + b·n + c·n² by "
        "non-negative least squares on relative residuals; complexity class as "
        "google/benchmark picks it (one coefficient per class, best R²).",
    ]))
    if spec_text:
        blocks.append(Code(spec_text, "sweep.toml (the exact spec that ran)"))
    return blocks


def _kernels(rows: pd.DataFrame) -> str:
    names = sorted(str(k) for k in rows["kernel"].dropna().unique())
    return ", ".join(names) or "not recorded"


def _cells(df: pd.DataFrame, spec: list[tuple[str, object]]) -> list[list[str]]:
    """Rows of formatted cells: spec is (column title, function of a row)."""
    return [[str(f(r)) for _, f in spec] for _, r in df.iterrows()]


def _table(df: pd.DataFrame, spec, caption="", empty="none", collapsed=False) -> Table | Paragraph:
    if df is None or df.empty:
        return Paragraph(f"{caption} {empty}".strip())
    return Table([c for c, _ in spec], _cells(df, spec), caption, collapsed)


def _curve(r) -> str:
    return A.curve_name(r["model"], r["attention"])


_WHERE = [("model", _curve), ("phase", lambda r: r["phase"]), ("device", lambda r: r["device"]),
          ("batch", lambda r: fmt_n(r["batch_size"])), ("threads", lambda r: fmt_n(r["threads"]))]


def exponent_table(t: dict):
    mem = t["memory_exponents"]
    key = ["model", "attention", "phase", "device", "batch_size", "threads", "dtype"]
    exps = t["exponents"]
    if not exps.empty and not mem.empty:
        exps = exps.merge(mem[key + ["k_upper", "k"]].rename(
            columns={"k_upper": "mem_k_upper", "k": "mem_k"}), on=key, how="left")
    spec = _WHERE + [
        ("n range", lambda r: f"{r['n_min']}–{r['n_max']}"),
        ("k, all n (95%)", lambda r: fmt_exp(r["k"], r["k_low"], r["k_high"])),
        ("k, upper n (95%)", lambda r: fmt_exp(r["k_upper"], r["k_upper_low"], r["k_upper_high"])),
        ("upper from n", lambda r: fmt_n(r["upper_n_min"])),
        ("R² (log-log)", lambda r: f"{r['r2']:.3f}"),
        ("memory k, upper n", lambda r: fmt_exp(r.get("mem_k_upper", float("nan")))),
    ]
    return _table(exps, spec, "Latency ∝ n^k per curve; the upper range gives the asymptotic "
                  "exponent (fixed costs flatten the small-n end).", "No curve has 2 ok points.")


def decomposition_table(t: dict):
    spec = _WHERE + [
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
    return _table(t["decompositions"], spec, "latency ≈ a + b·n + c·n² (non-negative fit); "
                  "where the fixed cost a dominates, latency is launch/overhead bound.",
                  "No curve has 3 ok points.")


def crossover_table(t: dict):
    spec = [("device", lambda r: r["device"]), ("batch", lambda r: fmt_n(r["batch_size"])),
            ("phase", lambda r: r["phase"]), ("threads", lambda r: fmt_n(r["threads"])),
            ("curves", lambda r: f"{r['curve_a']} vs {r['curve_b']}"),
            ("crossover", lambda r: f"n ≈ {fmt_n(r['n_cross'])}, {r['slower_after']} slower "
             "beyond" if r["crossings"] else f"none in n = {r['n_min']}–{r['n_max']}"),
            ("latency ratio at largest common n (a/b)",
             lambda r: f"{fmt_x(r['ratio_at_max'])} at n={r['n_max']}")]
    return _table(t["crossovers"], spec, "Where curves of different families cross, "
                  "interpolated in log-log space.", "No two families share 2 ok seq_lens.")


def parallel_tables(t: dict) -> list:
    batch = t["batch"]
    batch = batch[batch["batch_size"] != batch["base_batch"]] if not batch.empty else batch
    thr = t["threads"]
    thr = thr[thr["threads"] != thr["base_threads"]] if not thr.empty else thr
    b_spec = _WHERE[:3] + [("threads", lambda r: fmt_n(r["threads"])),
                           ("n", lambda r: fmt_n(r["seq_len"])),
                           ("batch", lambda r: f"{r['base_batch']}→{r['batch_size']}"),
                           ("tokens/s", lambda r: fmt_rate(r["tokens_per_s"])),
                           ("throughput gain", lambda r: fmt_x(r["speedup"])),
                           ("efficiency", lambda r: fmt_pct(r["efficiency"]))]
    t_spec = _WHERE[:4] + [("n", lambda r: fmt_n(r["seq_len"])),
                           ("threads", lambda r: f"{r['base_threads']}→{r['threads']}"),
                           ("speedup", lambda r: fmt_x(r["speedup"])),
                           ("efficiency", lambda r: fmt_pct(r["efficiency"]))]
    f_spec = _WHERE[:3] + [("threads", lambda r: fmt_n(r["threads"])),
                           ("latency per step, batch 1", lambda r: fmt_time(r["per_step_s"])),
                           ("over n", lambda r: f"{r['n_from']}–{r['n_to']}")]
    return [
        _table(batch, b_spec, "Throughput vs batch size: gain over the smallest batch; "
               "efficiency = gain / batch ratio.", "Only one batch size ran."),
        _table(thr, t_spec, "Speedup vs CPU threads: latency at the fewest threads / "
               "latency here.", "Only one thread count ran."),
        _table(t["floor"], f_spec, "Sequential floor of the recurrent models: median "
               "latency / n at batch 1 over the upper range of n.",
               "No recurrent model ran at batch 1."),
    ]


def frontier_table(t: dict):
    spec = _WHERE + [("largest n that ran", lambda r: fmt_n(r["largest_ok"])),
                     ("next n", lambda r: fmt_n(r["next_n"])),
                     ("why not", lambda r: "— (end of grid)" if missing(r["next_status"])
                      else f"{r['next_status']}" + ("" if missing(r["next_error"])
                                                    else f": {r['next_error']}"))]
    return _table(t["frontiers"], spec, "The largest seq_len that ran per curve and what "
                  "happened to the next one.")


def missing_blocks(t: dict) -> list:
    rec = t["records"]
    failed = rec[rec["status"] != "ok"]
    spec = _WHERE + [("n", lambda r: fmt_n(r["seq_len"])), ("status", lambda r: r["status"]),
                     ("error", lambda r: "" if missing(r["error"]) else str(r["error"]))]
    blocks = [_table(failed, spec, "Points that did not run (their latency is None):",
                     "none: every recorded point ran.")]
    miss = t["missing"]
    m_spec = [(c, _column(c, str)) for c in miss.columns if miss[c].notna().any()]
    blocks.append(_table(miss, m_spec, "Grid points of sweep.toml with no record (an "
                         "interrupted or still running sweep):", "none."))
    return blocks


def health_blocks(t: dict) -> list:
    """How clean the run is: contention, precision from instances, second pass, noise."""
    rec = t["records"]
    ran = rec[rec["status"] == "ok"]
    lines = []
    if len(ran):
        known = ran["contention"].notna()
        lines.append(
            f"Contended: {len(t['contended'])} of {len(ran)} ok points could not collect "
            "enough samples free of contention; they are drawn hollow and no fit, "
            "crossover or finding rests on them." if known.any() else
            "Contention: not known (this OS gives no per-thread run-queue wait), so no "
            "point could be checked for a busy neighbour.")
        ci = t["intervals"]["ci_rel"].dropna()
        if len(ci):
            lines.append(f"Precision: {(ci <= 0.05).mean():.0%} of {len(ci)} ok points have a "
                         "95% interval within ±5% of their latency (interval from the "
                         "instances, between-instance variance pooled per device and thread "
                         f"count; median half-width {ci.median():.1%}).")
        again = ran[ran["attempt"].fillna(1) > 1]
        if len(again):
            why = again["remeasure_reason"].value_counts()
            lines.append(f"Measured again by the second pass: {len(again)} points ("
                         + ", ".join(f"{v} {k}" for k, v in why.items()) + ").")
    spec = _WHERE + [("n", lambda r: fmt_n(r["seq_len"])),
                     ("latency", lambda r: fmt_time(r["latency_s"])),
                     ("contention", lambda r: fmt_pct(r["contention"])),
                     ("samples over threshold", lambda r: fmt_n(r["contended_samples"]))]
    return ([Bullets(lines)] if lines else []) + [
        _table(t["contended"], spec, "Contended points (kept out of every fit):", "none.")
    ] + noisy_blocks(t)


def noisy_blocks(t: dict) -> list:
    spec = _WHERE + [("n", lambda r: fmt_n(r["seq_len"])),
                     ("latency", lambda r: fmt_time(r["latency_s"])),
                     ("IQR/median", lambda r: fmt_pct(r["latency_rel_iqr"])),
                     ("samples", lambda r: fmt_n(r["samples"]))]
    return [_table(t["noisy"], spec, f"Points with IQR/median ≥ {NOISY_REL_IQR:.0%}; they "
                   "stay in the fits, but read them with care.", "none.")]


def _column(name: str, fmt):
    """A cell function: column ``name`` of a row, formatted, '' when missing."""
    return lambda r: "" if missing(r[name]) else fmt(r[name])


def full_table(records: pd.DataFrame):
    fmt = {"latency_s": fmt_time, "latency_rel_iqr": fmt_pct, "tokens_per_s": fmt_rate,
           "peak_memory_bytes": fmt_bytes, "seq_len": fmt_n, "batch_size": fmt_n,
           "threads": fmt_n, "samples": fmt_n}
    spec = [(c, _column(c, fmt.get(c, str))) for c in FULL_COLUMNS]
    return _table(records.sort_values(["model", "phase", "device", "threads", "batch_size",
                                       "seq_len"]), spec,
                  f"Every record ({len(records)} rows; raw samples in results.jsonl).",
                  "no records.", collapsed=True)


def render_inputs(run_dir: Path) -> tuple[dict, dict, str]:
    """Load and analyse a run directory: (tables, env, sweep.toml text)."""
    records = A.records_frame(load_results(run_dir))
    grid, spec_text = load_grid(run_dir)
    try:
        env = load_env(run_dir)
    except (json.JSONDecodeError, OSError):
        env = {"note": "env.json could not be read"}
    # peak.json and traces/ are optional extras: unreadable means "not available"
    try:
        peaks = load_peaks(run_dir)
    except (json.JSONDecodeError, OSError):
        peaks = []
    try:
        traces = load_traces(run_dir)
    except (UsageError, OSError):
        traces = []
    tables = analyse(records, grid, peaks if isinstance(peaks, list) else [], traces)
    return tables, env if isinstance(env, dict) else {"env": env}, spec_text
