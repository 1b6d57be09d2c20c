"""Peak memory of one step, and the names of the kernels that ran (one untimed pass;
two where the host stalled the first: SLOW_PASS).

CPU: torch has no allocator statistics, and RSS is only an upper bound (glibc
keeps freed memory). The profiler's allocation events (profile_memory=True) give
the bytes torch allocated and freed, in order; their running sum's maximum is
the peak above the baseline at the start of the step.
CUDA: the caching allocator's peak allocated (tensors) and reserved (cache),
minus the baseline before the step, plus NVML's per-process view where a driver
exists (it includes the CUDA context).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.profiler import profile

from profiler.measure.opprofile import activities, op_table


@dataclass(frozen=True)
class MemoryResult:
    peak_bytes: int | None  # tensors allocated above the baseline during the step
    reserved_bytes: int | None  # CUDA allocator cache above the baseline (None on CPU)
    source: str  # how it was measured
    op_names: frozenset[str]  # every operator the profiled pass saw
    ops: list[dict]  # self time per (operator, category) of that pass (opprofile.op_table)


def peak_from_allocations(events: list[tuple[int, int]]) -> int:
    """Max running sum of (time_ns, signed bytes) allocation events, floored at 0."""
    total = peak = 0
    for _, nbytes in sorted(events):
        total += nbytes
        peak = max(peak, total)
    return peak


# A profiled pass is one call, and the host's noise that the samples' floor leaves
# out lands on it whole: over four `default` runs here, the ops of 10-23% of the
# passes of points of 5 ms or more added up to over 1.3 times the point's typical
# call (up to 6 times), and the excess sat in one operator (a log-softmax backward
# at 59 ms of a 100 ms LSTM step), which the report then showed as the step's cost.
# Undisturbed, they add up to 0.9-1.1 times it. A pass slower than this many typical
# calls, and by more than STALL_S, is taken once more, and the faster of the two kept.
SLOW_PASS = 1.3
# The profiler's own cost, a few microseconds an operator call over the hundreds of
# calls of a small step, put the passes of 1-3 ms points at up to 2-4 times their call
# in `default` runs here: 1-2 ms, never a stall (those were 20-300 ms), and the same in
# a second pass.
STALL_S = 0.005


def stalled(pass_s: float, typical_s: float) -> bool:
    """Was a profiled pass of ``pass_s`` seconds stalled, against a typical call of
    ``typical_s``? (SLOW_PASS, STALL_S)"""
    return pass_s > SLOW_PASS * typical_s and pass_s - typical_s > STALL_S


@dataclass(frozen=True)
class ProfiledPass:
    peak_bytes: int | None  # CPU allocation peak (None without with_memory)
    op_names: frozenset[str]
    ops: list[dict]  # opprofile.op_table
    run_s: float  # host seconds of run() inside the pass (synchronised on CUDA)
    prof: profile  # to export as a trace


def profiled_pass(run: Callable[[], object], setup: Callable[[], object], with_memory: bool,
                  device: str = "cpu") -> ProfiledPass:
    """Run setup+run once under torch.profiler: CPU allocation peak, op names, op table,
    and how long run() took under it.

    setup is profiled too: for the backward phase the forward's activations are
    what the backward needs, so they belong in its peak (and its ops are listed)."""
    with profile(activities=activities(device), profile_memory=with_memory) as prof:
        setup()
        t0 = time.perf_counter()
        run()
        if device.startswith("cuda"):
            torch.cuda.synchronize(torch.device(device))
        run_s = time.perf_counter() - t0
    allocations, names = [], set()
    # kineto_results keeps the raw allocation records ("[memory]" events with a
    # signed byte count) in time order; function_events folds them into ops.
    for ev in prof.profiler.kineto_results.events():
        name = ev.name()
        if name == "[memory]":
            if ev.device_type() == torch.autograd.DeviceType.CPU:
                allocations.append((ev.start_ns(), ev.nbytes()))
        else:
            names.add(name)
    peak = peak_from_allocations(allocations) if with_memory else None
    return ProfiledPass(peak, frozenset(names), op_table(prof), run_s, prof)


def unhurried_pass(run: Callable[[], object], setup: Callable[[], object], with_memory: bool,
                   device: str, typical_s: float | None, trace_path: Path | None
                   ) -> ProfiledPass:
    """profiled_pass, once more where run() stalled against ``typical_s`` (the call's
    typical latency, seconds; None: no second pass), keeping the faster.
    ``trace_path``: the kept pass is exported there as a Chrome/Perfetto trace."""
    kept = profiled_pass(run, setup, with_memory, device)
    if typical_s and stalled(kept.run_s, typical_s):
        kept = min(kept, profiled_pass(run, setup, with_memory, device), key=lambda p: p.run_s)
    if trace_path is not None:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        kept.prof.export_chrome_trace(str(trace_path))
    return kept


def measure_memory(run: Callable[[], object], setup: Callable[[], object],
                   device: str, trace_path: Path | None = None,
                   typical_s: float | None = None) -> MemoryResult:
    """Peak memory of one call and the ops that ran; never used for timing.
    ``trace_path``: also export the profiled pass as a trace (opprofile.trace's format).
    ``typical_s``: the call's typical latency (seconds), to take a slowed pass again
    (unhurried_pass)."""
    if not device.startswith("cuda"):
        p = unhurried_pass(run, setup, True, device, typical_s, trace_path)
        return MemoryResult(p.peak_bytes, None, "torch.profiler allocations (cpu)",
                            p.op_names, p.ops)
    p = unhurried_pass(run, setup, False, device, typical_s, trace_path)
    names, ops = p.op_names, p.ops
    dev = torch.device(device)
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    base_alloc = torch.cuda.memory_allocated(dev)
    base_reserved = torch.cuda.memory_reserved(dev)
    setup()
    run()
    torch.cuda.synchronize(dev)
    peak = torch.cuda.max_memory_allocated(dev) - base_alloc
    reserved = torch.cuda.max_memory_reserved(dev) - base_reserved
    return MemoryResult(peak, max(reserved, 0), "cuda caching allocator", names, ops)
