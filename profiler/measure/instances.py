"""Independent instances of one point: do they agree, and the one row they make.

Within one process the samples of a point agree to 1-2% while the process as a whole
can be off by tens of percent: the same LSTM point measured in five worker processes
gave medians of 18.1-19.5 ms four times and 28.75 ms once (docs/measurement.md). A
point is therefore measured in several instances (a fresh model on fresh inputs, each
in a different worker process, interleaved in time), and its latency is the median of
the instance medians. The interval comes from the instances (stats.instance_interval),
never from the samples of one instance.
"""

from __future__ import annotations

import statistics

from profiler.measure.stats import summarize

# Two medians with one standard error e each differ by more than 3e (2.1 standard
# deviations of their difference) about 1 time in 30 by sampling noise alone.
NOISE_MULTIPLE = 3.0


def spread(medians: list[float]) -> float:
    """(max - min) / median of the instance medians: 0 for one instance."""
    if len(medians) < 2:
        return 0.0
    mid = statistics.median(medians)
    return (max(medians) - min(medians)) / mid if mid > 0 else float("inf")


def split(row: dict) -> list[list[float]]:
    """The kept samples of each instance of a row (one list for an older row)."""
    samples = row.get("latency_samples_s") or []
    sizes = row.get("instance_sizes") or [len(samples)]
    out, start = [], 0
    for n in sizes:
        out.append(samples[start:start + n])
        start += n
    return out


def own_noise(row: dict) -> float:
    """The largest relative standard error of one instance's median: the noise each
    median carries alone (stats.SampleStats.rel_median_se)."""
    return max((summarize(s).rel_median_se for s in split(row) if s), default=0.0)


def disagree(rows: list[dict], rtol: float) -> bool:
    """Do the instances' medians spread wider than ``rtol`` *and* wider than their own
    medians' noise allows? Then another instance is worth taking. ``rows``: one row
    per instance, or a single combined row."""
    medians = [m for r in rows for m in (r.get("instance_medians_s") or [r["latency_s"]])]
    noise = max(own_noise(r) for r in rows)
    return spread(medians) > max(rtol, NOISE_MULTIPLE * noise)


# The fields only instance 0 fills, from its untimed profiled pass (measure_point):
# memory, operators, which kernel ran, the work per call and its trace.
PROFILED_FIELDS = ("flops", "flops_source", "flops_note", "bytes_moved",
                   "arithmetic_intensity", "peak_memory_bytes", "peak_memory_reserved_bytes",
                   "memory_source", "nvml_used_bytes", "state_bytes", "kernel",
                   "recurrent_kernel", "attention_kernel", "ops", "trace_file")


def tokens_per_call(row: dict) -> float:
    """Tokens one call processes: B * n, or B for decode (tokens_per_s x latency)."""
    if row.get("tokens_per_s") is None:
        return row["tokens"]
    return row["tokens_per_s"] * row["latency_s"]


def with_profile(row: dict, profiled: dict) -> dict:
    """``row`` (latency-only instances) with the profiled-pass fields of ``profiled``, an
    earlier row of the same point, and the rates recomputed at row's latency. Memory,
    operators and kernels do not depend on which process measured the latency."""
    out = dict(row, **{k: profiled.get(k) for k in PROFILED_FIELDS})
    out["tokens_per_s"] = tokens_per_call(profiled) / row["latency_s"]
    out["flops_per_s"] = out["flops"] / row["latency_s"] if out.get("flops") else None
    return out


def combine(rows: list[dict]) -> dict:
    """The point's row from its ok instance rows (rows[0] carries memory, operators and
    kernels). Samples are concatenated in instance order; statistics are recomputed."""
    first = rows[0]
    medians = [m for r in rows for m in r["instance_medians_s"]]
    sizes = [n for r in rows for n in r["instance_sizes"]]
    samples = [s for r in rows for s in r["latency_samples_s"]]
    st = summarize(samples)
    latency = statistics.median(medians)
    # contention over every kept sample: weight each instance by its sampled time
    shares = [(r["contention"], r["measured_s"] or 0.0) for r in rows]
    weight = sum(w for _, w in shares)
    contention = (None if any(c is None for c, _ in shares) or weight <= 0
                  else sum(c * w for c, w in shares) / weight)
    flags = [r["contended"] for r in rows]
    tokens = tokens_per_call(first)  # decode: tokens per call, not B * n
    return dict(
        first,
        latency_s=latency, latency_iqr_s=st.iqr, latency_mean_s=st.mean,
        latency_min_s=st.min, latency_rel_iqr=st.rel_iqr, noisy=st.noisy,
        latency_samples_s=samples, samples=st.n,
        instances=len(medians), instance_medians_s=medians, instance_sizes=sizes,
        contention=contention,
        contended_samples=sum(r["contended_samples"] or 0 for r in rows),
        contended=None if any(f is None for f in flags) else any(flags),
        tokens_per_s=tokens / latency,
        flops_per_s=first["flops"] / latency if first.get("flops") else None,
        measured_s=sum(r["measured_s"] or 0.0 for r in rows),
        point_wall_s=sum(r["point_wall_s"] or 0.0 for r in rows),
    )
