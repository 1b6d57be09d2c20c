"""The records that flow between layers: a point to measure and its result row.

A point is one cell of the sweep grid (one phase of one model at one size on one
device). A result is one row of ``results.jsonl``: the point's fields, the raw
latency samples, and everything derived from them. Statistics are derived from
the raw samples (see ``stats.py``); a reader can always recompute them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

# Phases of a training/inference step, in the order a sweep runs them.
PHASES = ("inference", "forward", "backward", "train_step", "decode")

# ``status`` of a result row. A failure is data, not a crash of the sweep.
STATUSES = ("ok", "oom", "timeout", "crashed", "error", "skipped")

# Relative IQR (IQR / median) at or above which a point is flagged noisy.
NOISY_REL_IQR = 0.10


@dataclass(frozen=True)
class Point:
    """One grid point: what to build, how big, where, and which phase to time."""

    model: str  # name in the sweep file (``lstm``, ``transformer``, ``gru`` or a user's)
    seq_len: int  # tokens per sequence, n
    batch_size: int  # sequences per step, B
    device: str  # "cpu", "cuda", "cuda:1", ...
    dtype: str  # "float32", "bfloat16", "float16"
    threads: int  # CPU intra-op threads (torch.set_num_threads); recorded on CUDA too
    phase: str  # one of PHASES
    attention: str = "default"  # SDPA backend: default/math/flash/efficient/cudnn

    @property
    def tokens(self) -> int:
        """Tokens processed by one step: B * n."""
        return self.seq_len * self.batch_size

    @property
    def series(self) -> tuple:
        """The curve this point lies on: everything but seq_len."""
        return (self.model, self.batch_size, self.device, self.dtype, self.threads,
                self.phase, self.attention)

    @property
    def point_id(self) -> str:
        """Stable id of the point: the same grid cell always gets the same id."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def label(self) -> str:
        """Short human-readable name, for progress bars and file names."""
        return (f"{self.model} {self.phase} n={self.seq_len} B={self.batch_size} "
                f"{self.device} {self.dtype} t={self.threads}"
                + ("" if self.attention == "default" else f" attn={self.attention}"))

    def slug(self) -> str:
        """File-name-safe label, e.g. for traces."""
        return (f"{self.model}_{self.phase}_n{self.seq_len}_b{self.batch_size}_"
                f"{self.device.replace(':', '')}_{self.dtype}_t{self.threads}_{self.attention}")


# Every field a result row carries, in the order results.csv writes them.
# Fields that could not be measured honestly are None ("not available").
RESULT_FIELDS = (
    # identity
    "run_id", "point_id", "model", "family", "params", "seq_len", "batch_size", "tokens",
    "device", "device_name", "dtype", "threads", "phase", "attention",
    # outcome
    "status", "error",
    # latency of one call of the phase, seconds; derived from latency_samples_s.
    # latency_s is the floor: the fastest kept sample of any instance (instances.py);
    # latency_median_s the typical call: the median of the instance medians
    "latency_s", "latency_median_s", "latency_iqr_s", "latency_mean_s", "latency_min_s",
    "latency_rel_iqr",
    "noisy", "latency_samples_s", "calls_per_sample", "samples", "warmup_calls",
    # replication: latency_samples_s holds the instances' kept samples one after another,
    # instance_sizes[i] of them for instance i
    "instances", "instance_medians_s", "instance_sizes",
    # contention (contention.py): run-queue wait / (wall x threads) over the kept samples
    # (None: the OS has no counter), samples over the threshold, and whether too few
    # clean samples were left (a flagged number: kept out of fits)
    "contention", "contended_samples", "contended",
    # 1 for the first measurement; 2+ when the second pass measured the point again
    # (results.jsonl keeps both; readers take the last line per point_id), and why;
    # remeasure_error: that attempt failed ("crashed: ...") and these are the numbers
    # of the attempt before
    "attempt", "remeasure_reason", "remeasure_error",
    # throughput and work
    "tokens_per_s", "flops", "flops_per_s",
    # where flops came from: "analytic" (the model's formula), "counted" (FlopCounterMode
    # over one untimed call), "none" (flops_note says why); see flops.py
    "flops_source", "flops_note",
    # analytic lower bound of the bytes one call reads and writes (models.py bytes_moved,
    # steps.py phase_bytes), and flops / bytes_moved in FLOP/byte: the roofline's x
    "bytes_moved", "arithmetic_intensity",
    # memory, bytes, above the baseline before the step
    "peak_memory_bytes", "peak_memory_reserved_bytes", "memory_source", "nvml_used_bytes",
    # decode: bytes of the state carried between tokens ((h, c) or the KV cache)
    "state_bytes",
    # what ran
    "kernel", "recurrent_kernel", "attention_kernel", "timer",
    # self time per operator of the untimed profiled pass: [{name, category, calls,
    # self_cpu_s, self_device_s}] (opprofile.py); shares only, never latency
    "ops",
    # the Chrome/Perfetto trace of that profiled pass, a file in traces/ (None: not traced
    # there; a trace target that was not gets its own traced pass, runner.run_traces)
    "trace_file",
    # bookkeeping
    "measured_s", "point_wall_s", "host", "timestamp",
)


def result_row(point: Point, **fields) -> dict:
    """A result row for ``point`` with every field present (missing ones None)."""
    row = dict.fromkeys(RESULT_FIELDS)
    row.update(asdict(point))
    row["point_id"] = point.point_id
    row["tokens"] = point.tokens
    unknown = set(fields) - set(RESULT_FIELDS)
    if unknown:
        raise KeyError(f"unknown result fields: {sorted(unknown)}")
    row.update(fields)
    return row


def point_of(row: dict) -> Point:
    """The Point a result row was measured for."""
    return Point(**{k: row[k] for k in Point.__dataclass_fields__})
