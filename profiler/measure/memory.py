"""Peak memory of one step, and the names of the kernels that ran (one untimed pass).

CPU: torch has no allocator statistics, and RSS is only an upper bound (glibc
keeps freed memory). The profiler's allocation events (profile_memory=True) give
the bytes torch allocated and freed, in order; their running sum's maximum is
the peak above the baseline at the start of the step.
CUDA: the caching allocator's peak allocated (tensors) and reserved (cache),
minus the baseline before the step, plus NVML's per-process view where a driver
exists (it includes the CUDA context).
"""

from __future__ import annotations

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


def profiled_pass(run: Callable[[], object], setup: Callable[[], object], with_memory: bool,
                  device: str = "cpu", trace_path: Path | None = None
                  ) -> tuple[int | None, frozenset[str], list[dict]]:
    """Run setup+run once under torch.profiler: CPU allocation peak, op names, op table;
    with ``trace_path``, the same pass is exported there as a Chrome/Perfetto trace.

    setup is profiled too: for the backward phase the forward's activations are
    what the backward needs, so they belong in its peak (and its ops are listed)."""
    with profile(activities=activities(device), profile_memory=with_memory) as prof:
        setup()
        run()
    if trace_path is not None:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace_path))
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
    return peak, frozenset(names), op_table(prof)


def measure_memory(run: Callable[[], object], setup: Callable[[], object],
                   device: str, trace_path: Path | None = None) -> MemoryResult:
    """Peak memory of one call and the ops that ran; never used for timing.
    ``trace_path``: also export the profiled pass as a trace (opprofile.trace's format)."""
    if not device.startswith("cuda"):
        peak, names, ops = profiled_pass(run, setup, with_memory=True, trace_path=trace_path)
        return MemoryResult(peak, None, "torch.profiler allocations (cpu)", names, ops)
    _, names, ops = profiled_pass(run, setup, with_memory=False, device=device,
                                  trace_path=trace_path)
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
