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

from profiler.measure.contention import wait_share
from profiler.measure.stats import summarize

# Even a point that runs past its time gets this many samples: one is not a latency.
MIN_SAMPLES_FLOOR = 3
# A point is flagged for the share of its samples discarded (contended_share) only from
# this many on. Idle, the sweep's own parent and kernel threads make a sample wait now
# and then, the more the longer it is: over eleven idle `default` sweeps here, 0.1-0.3%
# of 1-thread samples and 0.75%, 1.3% and 2.6% of 2-thread samples of points under
# 1 ms, 10 ms and 100 ms. An instance of a 10-100 ms point takes 4-10 samples, where
# two discards are 20-50%: from two on, 8 of those 208 points x runs were flagged, and
# every one of their floors lay within 0-10% of the point's clean floors in the other
# runs. At 2.6%, three discards among 10 samples happen to 0.2% of instances by chance
# (two to 2.6%); beside a busy neighbour, points discarded 33-95% of their samples.
MIN_DISCARDS_TO_FLAG = 3


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
    host clock would measure launch time, not execution (docs/measurement.md)."""

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
    # sampling time of a whole point, shared equally by its instances:
    min_time_s: float = 0.2  # sample at least this long ...
    max_time_s: float = 2.0  # ... and at most this long (capped by the point budget)
    min_samples: int = 5  # per instance
    max_samples: int = 1000  # per instance
    target_rel_iqr: float = 0.05  # stop early once IQR/median is below this ...
    # ... or once the median is known this well (relative standard error): a point's
    # precision comes from its instances, and more samples from one process only
    # refine that process's median (docs/measurement.md)
    target_median_se: float = 0.01
    block_s: float = 0.002  # a sample is a block of calls lasting about this long
    # A sample whose threads spent more than this share of (wall time x threads) waiting
    # for a core is not a measurement of the model: it is discarded and taken again.
    contention_threshold: float = 0.05
    # ... and a point whose discarded samples are more than this share of all it took is
    # flagged even with enough clean ones: a neighbour busy through the sampling slows the
    # samples between its bursts too (shared caches, memory bandwidth, a core's sibling),
    # with no wait to show it. Idle, at most 9% of a point's samples were discarded over
    # six default sweeps here; beside one busy process, 33-95% (docs/measurement.md).
    contended_share: float = 0.2  # (three discards at least: MIN_DISCARDS_TO_FLAG)
    # independent instances per point (fresh model, inputs and process); those beyond
    # the first two only where they fit in the point budget (runner._wants_another)
    instances: int = 3
    max_instances: int = 4  # more instances, up to this, until a second one reaches ...
    instance_rtol: float = 0.05  # ... the floor within this (relative)
    # Tensors of 2 MB and more on transparent huge pages in the measuring processes
    # (PyTorch's THP_MEM_ALLOC_ENABLE; Linux only, a no-op where THP is "never"). With
    # 4 KB pages a large point's speed was the process's luck: an LSTM step at 105-123 ms
    # in six processes, 82-85 ms in six with huge pages (docs/measurement.md).
    # Where a VM hands freed memory back to its host, each fresh huge page is slow to
    # fault in: 5 points of efficiency on `default` there (docs/measurement.md).
    huge_pages: bool = True
    # glibc's malloc keeps freed memory for reuse in the measuring processes (every
    # block from its heap, no trimming: worker.KEEP_FREED_MEMORY_ENV). By default it
    # maps a large block afresh on every call until its own threshold has risen past
    # it (never past 32 MiB), and hands the heap's top back, so a large step faults its
    # memory in again and again. An LSTM train step (batch 8, n = 2048, 2 threads) in
    # seven fresh processes each way: by default its later calls ran 95-108 ms in four
    # and 138-145 ms in three; kept, 91-101 ms in all seven. At n = 4096 its blocks
    # pass 32 MiB: their floors were 194-231 ms in 13 of 14 processes with a 32 MiB
    # threshold, 186-198 ms in 12 of 14 with every block from the heap
    # (docs/measurement.md).
    keep_freed_memory: bool = True


@dataclass(frozen=True)
class Samples:
    per_call_s: list[float]  # kept samples, in time order: block time / calls_per_sample
    calls_per_sample: int
    warmup_calls: int
    measured_s: float  # seconds inside the kept samples (for the efficiency figure)
    # Run-queue wait / (wall x threads) over the kept samples; None: the OS has no counter.
    contention: float | None = None
    contended_samples: int = 0  # samples whose wait share was over the threshold
    # True: too few clean samples, so the kept ones include contended ones (a flagged
    # number); False: every kept sample is clean; None: no counter, not known.
    contended: bool | None = None


@dataclass
class _Taken:
    """One timed sample while sampling: its per-call time and its wait evidence."""

    per_call_s: float
    block_s: float  # the timer's seconds for the whole block
    wait_ns: int  # run-queue wait of the process's threads during the block
    thread_s: float  # host wall time of the block x threads
    contended: bool  # its wait share was over the threshold


def _warm_up(run, setup, timer, cfg: TimingConfig, max_time_s: float) -> list[float]:
    """Warm-up call times: at least warmup_calls calls and warmup_s seconds."""
    warm_times, t_start = [], time.perf_counter()
    while (len(warm_times) < cfg.warmup_calls
           or time.perf_counter() - t_start < cfg.warmup_s):
        setup()
        warm_times.append(timer.time(run, 1))
        # never fewer than warmup_calls: the first call of a shape builds its kernels
        if len(warm_times) >= cfg.warmup_calls and time.perf_counter() - t_start > max_time_s:
            break
    return warm_times


def sample(run: Callable[[], object], setup: Callable[[], object], needs_setup: bool,
           timer, cfg: TimingConfig, max_time_s: float | None = None,
           min_time_s: float | None = None, threads: int = 1, waits=None) -> Samples:
    """Warm up, then take samples until precise enough or out of time; keep them all.

    ``waits`` (contention.SchedstatWait or a fake with ``read_ns()``) is read around
    every block: a sample whose wait share exceeds cfg.contention_threshold is
    discarded and taken again. Retakes may stretch sampling to twice its time; if
    fewer than the sample floor came out clean by then, or more than
    cfg.contended_share of the samples taken were discarded, every sample is kept and
    the result says ``contended``: a flagged number, never passed off as a clean one."""
    max_time_s = min(cfg.max_time_s, max_time_s or math.inf)
    min_time_s = cfg.min_time_s if min_time_s is None else min_time_s
    floor = min(MIN_SAMPLES_FLOOR, cfg.min_samples)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a sample is noise, not model cost
    try:
        warm_times = _warm_up(run, setup, timer, cfg, max_time_s)
        # the last warm-up calls estimate the steady per-call cost
        per_call = min(warm_times[-3:])
        calls = 1 if needs_setup else max(1, int(cfg.block_s / max(per_call, 1e-9)))
        # retakes get as long again as sampling, and room for the floor of slow calls
        give_up_s = max_time_s + max(max_time_s, floor * per_call * calls)

        taken: list[_Taken] = []  # every sample, in time order
        clean: list[float] = []  # per-call seconds of the clean ones
        t_start = time.perf_counter()
        next_check = cfg.min_samples
        while True:
            setup()
            w0 = waits.read_ns() if waits is not None else 0
            t0 = time.perf_counter()
            block = timer.time(run, calls)
            wall = time.perf_counter() - t0
            wait_ns = max(0, waits.read_ns() - w0) if waits is not None else 0
            share = wait_share(wait_ns, wall, threads)
            t = _Taken(block / calls, block, wait_ns, wall * max(1, threads),
                       contended=share > cfg.contention_threshold)
            taken.append(t)
            if not t.contended:
                clean.append(t.per_call_s)
            elapsed = time.perf_counter() - t_start
            if len(taken) >= cfg.max_samples:
                break
            # out of time: stop, but never with fewer than `floor` clean samples ...
            if elapsed >= max_time_s and len(clean) >= floor:
                break
            # ... unless retakes ran out of time too: then the point is contended
            if elapsed >= give_up_s and len(taken) >= floor:
                break
            if len(clean) >= next_check and elapsed >= min_time_s:
                st = summarize(clean)
                if st.rel_iqr < cfg.target_rel_iqr or st.rel_median_se < cfg.target_median_se:
                    break
                next_check = len(clean) + max(1, len(clean) // 10)
        discarded = len(taken) - len(clean)
        contended = len(clean) < floor or (discarded >= MIN_DISCARDS_TO_FLAG and
                                           discarded > cfg.contended_share * len(taken))
        kept = taken if contended else [t for t in taken if not t.contended]
        thread_s = sum(t.thread_s for t in kept)
        contention = (sum(t.wait_ns for t in kept) * 1e-9 / thread_s
                      if waits is not None and thread_s > 0 else None)
        return Samples(per_call_s=[t.per_call_s for t in kept], calls_per_sample=calls,
                       warmup_calls=len(warm_times),
                       measured_s=sum(t.block_s for t in kept), contention=contention,
                       contended_samples=sum(t.contended for t in taken),
                       contended=contended if waits is not None else None)
    finally:
        if gc_was_enabled:
            gc.enable()
