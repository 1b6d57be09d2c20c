"""Timers and the adaptive sampling loop (one loop for CPU and CUDA; the timer differs).

A sample is the mean per-call time of a block of ``calls_per_sample`` calls,
like torch.utils.benchmark's blocked_autorange; every sample is kept.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from profiler.stats import summarize

# Even a point that runs past its time gets this many samples: one is not a latency.
MIN_SAMPLES_FLOOR = 3


class CpuTimer:
    """Wall clock on the calling thread: CPU work is synchronous."""

    name = "perf_counter_ns"

    def time(self, fn: Callable[[], object], calls: int) -> float:
        """Seconds for ``calls`` calls of fn."""
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        return (time.perf_counter_ns() - t0) * 1e-9


class CudaTimer:
    """CUDA events on the current stream: kernel launches are asynchronous, so the
    host clock would measure launch time, not execution (MEASUREMENT.md)."""

    name = "cuda_event"

    def __init__(self, device):
        import torch

        self.torch = torch
        self.device = torch.device(device)

    def time(self, fn: Callable[[], object], calls: int) -> float:
        torch = self.torch
        stream = torch.cuda.current_stream(self.device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record(stream)
        for _ in range(calls):
            fn()
        end.record(stream)
        end.synchronize()  # wait for the work before reading the clock
        return start.elapsed_time(end) * 1e-3  # ms -> s


def make_timer(device: str):
    return CudaTimer(device) if device.startswith("cuda") else CpuTimer()


@dataclass(frozen=True)
class TimingConfig:
    """How long and how often to sample one point (the [timing] section)."""

    warmup_s: float = 0.2  # warm up at least this long (oneDNN/cuDNN pick kernels per shape)
    warmup_calls: int = 2  # ... and at least this many calls
    min_time_s: float = 0.2  # sample at least this long ...
    max_time_s: float = 2.0  # ... and at most this long (capped by the point budget)
    min_samples: int = 5
    max_samples: int = 1000
    target_rel_iqr: float = 0.05  # stop early once IQR/median is below this
    block_s: float = 0.002  # a sample is a block of calls lasting about this long
    # A sample whose threads spent more than this share of (wall time x threads) waiting
    # for a core is not a measurement of the model: it is discarded and taken again.
    contention_threshold: float = 0.05
    instances: int = 2  # independent instances per point: fresh model, inputs and process
    max_instances: int = 4  # more instances, up to this, while they disagree ...
    instance_rtol: float = 0.05  # ... i.e. their medians spread wider than this (relative)


@dataclass(frozen=True)
class Samples:
    per_call_s: list[float]  # one entry per sample: block time / calls_per_sample
    calls_per_sample: int
    warmup_calls: int
    measured_s: float  # seconds spent inside timed samples (for the efficiency figure)


def sample(run: Callable[[], object], setup: Callable[[], object], needs_setup: bool,
           timer, cfg: TimingConfig, max_time_s: float | None = None) -> Samples:
    """Warm up, then take samples until precise enough or out of time; keep them all."""
    max_time_s = min(cfg.max_time_s, max_time_s or math.inf)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a sample is noise, not model cost
    try:
        warm_times, t_start = [], time.perf_counter()
        while (len(warm_times) < cfg.warmup_calls
               or time.perf_counter() - t_start < cfg.warmup_s):
            setup()
            warm_times.append(timer.time(run, 1))
            # never fewer than warmup_calls: the first call of a shape builds its kernels
            if len(warm_times) >= cfg.warmup_calls and time.perf_counter() - t_start > max_time_s:
                break
        # the last warm-up calls estimate the steady per-call cost
        per_call = min(warm_times[-3:])
        calls = 1 if needs_setup else max(1, int(cfg.block_s / max(per_call, 1e-9)))

        samples, measured, t_start = [], 0.0, time.perf_counter()
        next_check = cfg.min_samples
        while True:
            setup()
            block = timer.time(run, calls)
            measured += block
            samples.append(block / calls)
            elapsed = time.perf_counter() - t_start
            if len(samples) >= cfg.max_samples:
                break
            # out of time: stop, but never with fewer than MIN_SAMPLES_FLOOR samples
            if elapsed >= max_time_s and len(samples) >= min(MIN_SAMPLES_FLOOR, cfg.min_samples):
                break
            if len(samples) >= next_check and elapsed >= cfg.min_time_s:
                if summarize(samples).rel_iqr < cfg.target_rel_iqr:
                    break
                next_check = len(samples) + max(1, len(samples) // 10)
        return Samples(samples, calls, len(warm_times), measured)
    finally:
        if gc_was_enabled:
            gc.enable()
