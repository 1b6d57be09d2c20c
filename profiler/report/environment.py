"""The "Environment and method" section: env.json, how a point was timed and fitted,
and the sweep.toml that ran."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from profiler.records import NOISY_REL_IQR
from profiler.report.document import Bullets, Code, Paragraph, Section, Table
from profiler.report.formats import fmt_n
from profiler.report.inputs import ReportInputs


def flatten(value, prefix="") -> list[tuple[str, str]]:
    """env.json as (dotted key, text) pairs, whatever its shape."""
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return [kv for i, v in enumerate(value) for kv in flatten(v, f"{prefix}{i}.")]
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    text = "–" if value is None else str(value)
    return [(prefix.rstrip("."), text if len(text) <= 160 else text[:157] + "...")]


def method_lines(records: pd.DataFrame) -> list[str]:
    """Devices, timer, how latency and its noise are taken, memory, kernels, fits."""
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
    return [
        "Devices: " + ", ".join(f"{d} ({n})" if isinstance(n, str) else str(d)
                                for d, n in names.items()),
        f"Timer: {values('timer')}; warm-up calls per point: {span('warmup_calls')}; "
        f"calls per sample: {span('calls_per_sample')}.",
        "Latency is the floor of each point: the fastest clean sample over its instances "
        "(interference only adds time; the typical call, the median of the instance "
        "medians, is latency_median_s in the records). Each instance is a "
        "fresh model on fresh inputs, each in a different worker process "
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
    ]


def _kernels(rows: pd.DataFrame) -> str:
    names = sorted(str(k) for k in rows["kernel"].dropna().unique())
    return ", ".join(names) or "not recorded"


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    blocks = []
    if inputs.env:
        blocks.append(Table(["env.json", "value"], [[k, v] for k, v in flatten(inputs.env)]))
    else:
        blocks.append(Paragraph("env.json is missing: the environment was not recorded."))
    blocks.append(Bullets(method_lines(inputs.records)))
    if inputs.spec_note:
        blocks.append(Paragraph(inputs.spec_note))
    if inputs.spec_text:
        blocks.append(Code(inputs.spec_text, "sweep.toml (the exact spec that ran)"))
    return Section("Environment and method", blocks)
