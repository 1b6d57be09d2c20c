"""Independent instances of one point: their floors, whether two of them agree on it,
and the one row they make.

Within one process the samples of a point agree to 1-2% while the process as a whole
can be off by tens of percent: the same LSTM point measured in five worker processes
gave medians of 18.1-19.5 ms four times and 28.75 ms once (docs/measurement.md). A
point is therefore measured in several instances (a fresh model on fresh inputs, each
in a different worker process, interleaved in time).

Its latency is its *floor*: the fastest kept sample of any instance (a sample is
already the mean of a block of calls, and clean of run-queue wait). The machine's
interference only ever adds time: a busy neighbour, or a slow spell of the host that
no counter in the guest shows, slows whole instances by 10-100%, and sometimes
several of a point's instances. The median of the instances then moves with how many
fell in a spell; the floor does not. Over five recorded pairs of idle `default` runs,
floors agreed within 10% on 96% of points at 1 and 2 threads, instance medians on 89%
and 74%. The typical latency, the median of the instance medians, is kept beside it
(latency_median_s). The floor is *confirmed* once a second instance comes within the
noise of it (floor_confirmed); until then more instances are taken, up to a bound.
"""

from __future__ import annotations

import math
import statistics

from profiler.measure.stats import summarize
from profiler.records import NOISY_REL_IQR

# Two medians with one standard error e each differ by more than 3e (2.1 standard
# deviations of their difference) about 1 time in 30 by sampling noise alone; a floor
# is held to the same allowance.
NOISE_MULTIPLE = 3.0


def split(row: dict) -> list[list[float]]:
    """The kept samples of each instance of a row (one list for an older row)."""
    samples = row.get("latency_samples_s")
    samples = samples if isinstance(samples, list) else []  # NaN in a frame's missing cell
    sizes = row.get("instance_sizes")
    sizes = sizes if isinstance(sizes, list) and sizes else [len(samples)]
    out, start = [], 0
    for n in sizes:
        out.append(samples[start:start + n])
        start += n
    return out


def floors(row: dict) -> list[float]:
    """The fastest kept sample of each instance of a row, in instance order."""
    return [min(s) for s in split(row) if s]


def own_noise(row: dict) -> float:
    """The largest relative standard error of one instance's median: the noise each
    median carries alone (stats.SampleStats.rel_median_se)."""
    return max((summarize(s).rel_median_se for s in split(row) if s), default=0.0)


def floor_gap(values: list[float]) -> float:
    """log(second fastest / fastest) of instance floors: how closely a second,
    independent instance reproduced the floor. NaN with fewer than two."""
    if len(values) < 2:
        return math.nan
    a, b = sorted(values)[:2]
    return math.log(b / a) if a > 0 else math.inf


def floor_confirmed(row: dict, rtol: float) -> bool:
    """Have two instances of an ok row reached its floor, within ``rtol`` (relative) or,
    if wider, within 3 times their own medians' noise (a block of few samples)?
    With one instance it is not."""
    gap = floor_gap(floors(row))
    return not math.isnan(gap) and math.expm1(gap) <= max(rtol, NOISE_MULTIPLE * own_noise(row))


def slower_than(new: dict, old: dict, rtol: float) -> bool:
    """Is the floor of ``new``, a later attempt at a point, above the floor of ``old``
    by more than ``rtol`` (relative)? The machine's interference only adds time, so
    such an attempt did not reach a speed the point was measured at, however well its
    instances agree with each other. (No allowance for the instances' own noise: that
    is the noise of a median, and a sample at the old floor was measured.)"""
    before, after = old.get("latency_s"), new.get("latency_s")
    if not before or not after:
        return False
    return after / before - 1 > rtol


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
    kernels). Samples are concatenated in instance order; statistics are recomputed.
    latency_s is the floor (module docstring); the rates are at the floor."""
    first = rows[0]
    medians = [m for r in rows for m in r["instance_medians_s"]]
    sizes = [n for r in rows for n in r["instance_sizes"]]
    samples = [s for r in rows for s in r["latency_samples_s"]]
    st = summarize(samples)
    latency = st.min  # the fastest kept sample of any instance
    # scatter within a process, the typical instance's: the spread between processes is
    # what instance_medians_s shows, and the floor does not move with it
    rel_iqr = statistics.median(summarize(s).rel_iqr for r in rows for s in split(r) if s)
    median = statistics.median(medians)
    # contention over every kept sample: weight each instance by its sampled time
    shares = [(r["contention"], r["measured_s"] or 0.0) for r in rows]
    weight = sum(w for _, w in shares)
    contention = (None if any(c is None for c, _ in shares) or weight <= 0
                  else sum(c * w for c, w in shares) / weight)
    flags = [r["contended"] for r in rows]
    tokens = tokens_per_call(first)  # decode: tokens per call, not B * n
    return dict(
        first,
        latency_s=latency, latency_median_s=median, latency_iqr_s=rel_iqr * median,
        latency_mean_s=st.mean, latency_min_s=st.min, latency_rel_iqr=rel_iqr,
        noisy=rel_iqr >= NOISY_REL_IQR,
        latency_samples_s=samples, samples=st.n,
        instances=len(medians), instance_medians_s=medians, instance_sizes=sizes,
        contention=contention,
        contended_samples=sum(r["contended_samples"] or 0 for r in rows),
        contended=None if any(f is None for f in flags) else any(flags),
        remeasure_error=None,  # made of ok instances: an earlier attempt's failure is not its
        tokens_per_s=tokens / latency,
        flops_per_s=first["flops"] / latency if first.get("flops") else None,
        measured_s=sum(r["measured_s"] or 0.0 for r in rows),
        point_wall_s=sum(r["point_wall_s"] or 0.0 for r in rows),
    )


def pool(old: dict, new: dict) -> dict:
    """``old``'s row with a later attempt's instances (``new``) added: combine. Where
    the old floor stands, so does its flag, clean or contended: a contended new
    instance, slower than the floor, does not flag a floor it did not set."""
    row = combine([old, new])
    if old["latency_s"] <= new["latency_s"]:
        row["contended"] = old.get("contended")
    return row
