"""A peak-FLOP/s and a memory-bandwidth reference per (device, dtype, threads): a large
matmul and a large copy, measured.

Achieved FLOP/s of a point divided by this says how far the model is from what
the machine does on its best-case kernel. On GPUs the datasheet figure is
recorded beside it where known (dense, no sparsity), since a 1-second matmul
rarely reaches it. The two together are the roofline: a point whose arithmetic
intensity (FLOP/byte) is below peak / bandwidth is memory-bound.
"""

from __future__ import annotations

import torch

from profiler.measure.envinfo import last_level_cache_bytes
from profiler.measure.stats import summarize
from profiler.measure.timing import TimingConfig, make_timer, sample

# Dense tensor-core / vector peaks in FLOP/s from vendor datasheets (SXM parts).
# Key: substring of torch.cuda.get_device_name(); value: dtype -> FLOP/s.
DATASHEET_FLOPS = {
    "H200": {"bfloat16": 989e12, "float16": 989e12, "float32": 67e12},
    "H100": {"bfloat16": 989e12, "float16": 989e12, "float32": 67e12},
    "A100": {"bfloat16": 312e12, "float16": 312e12, "float32": 19.5e12},
    "L4": {"bfloat16": 121e12, "float16": 121e12, "float32": 30.3e12},
    "V100": {"float16": 125e12, "float32": 15.7e12},
}


# HBM bandwidth in bytes/s from vendor datasheets; first substring of the device name
# that matches wins (the H100 PCIe has HBM2e at 2.0 TB/s; a bare "H100" is the SXM part).
DATASHEET_BANDWIDTH = (("H100 PCIe", 2.0e12), ("H100", 3.35e12), ("H200", 4.8e12),
                       ("A100-SXM4-80GB", 2.0e12), ("A100 80GB", 2.0e12))


def datasheet_bandwidth(device_name: str) -> float | None:
    return next((bw for key, bw in DATASHEET_BANDWIDTH if key in device_name), None)


def datasheet_flops(device_name: str, dtype: str) -> float | None:
    for key, table in DATASHEET_FLOPS.items():
        if key in device_name:
            return table.get(dtype)
    return None


# Sampling for the reference kernels: each call is long (10-20 ms for the CPU matmul and
# copy), so a short run suffices: 0.2-0.6 s gives 10-60 samples, and sampling stops
# once the median is known to 1% (it took 5.3 s for 1 and 2 threads at 0.3-1.5 s).
REFERENCE_TIMING = TimingConfig(warmup_s=0.05, min_time_s=0.2, max_time_s=0.6)


def matmul_size(device: str) -> int:
    """Square matmul side: big enough to be compute-bound, small enough for seconds."""
    return 8192 if device.startswith("cuda") else 1024


# STREAM's rule for a bandwidth figure: each array at least 4 times the last-level
# caches together, so the copy streams from memory. Here (one 32 MiB L3) 128 MiB
# buffers measured the same as 256 MiB ones (25-31 GB/s at 1 thread in five processes
# each way) and take half as long to fault in: on a VM that hands freed memory back to
# its host, 2-3 s for the two 256 MiB buffers (docs/measurement.md).
LLC_MULTIPLE = 4
MIN_COPY_BYTES, MAX_COPY_BYTES = 64 << 20, 1 << 30  # bounds; 256 MiB if the LLC is unknown


def copy_size(device: str, llc_bytes: int | None = None) -> int:
    """Bytes of each copied buffer: far beyond the last-level cache (tens of MiB on a
    CPU, 50 MiB of L2 on an H100), so the copy streams from memory. On a CPU,
    LLC_MULTIPLE times the last-level caches (``llc_bytes``; read from sysfs if None)."""
    if device.startswith("cuda"):
        return 2 << 30
    llc = llc_bytes or last_level_cache_bytes()
    if not llc:
        return 256 << 20
    return min(MAX_COPY_BYTES, max(MIN_COPY_BYTES, LLC_MULTIPLE * llc))


def measure_bandwidth(device: str, threads: int, nbytes: int | None = None,
                      cfg: TimingConfig | None = None) -> dict:
    """Memory bandwidth in bytes/s of ``dst.copy_(src)`` of an ``nbytes`` buffer.

    A copy reads nbytes and writes nbytes: 2·nbytes per call. With write-allocate
    caches a CPU's DRAM also reads the destination's lines before writing them (3·nbytes),
    so this figure is what a streaming op achieves, a little below the raw bus rate."""
    torch.set_num_threads(threads)
    nbytes = nbytes or copy_size(device)
    src = torch.ones(nbytes // 4, device=device)  # fp32, every page touched before timing
    dst = torch.zeros_like(src)
    cfg = cfg or REFERENCE_TIMING
    samples = sample(lambda: dst.copy_(src), lambda: None, False, make_timer(device), cfg)
    st = summarize(samples.per_call_s)
    moved = 2 * src.numel() * src.element_size()
    return {"copy_bytes": src.numel() * src.element_size(),
            "bandwidth_bytes_per_s": moved / st.median, "copy_latency_s": st.median,
            "copy_measured_s": samples.measured_s}


def measure_peak(device: str, dtype: str, threads: int, n: int | None = None,
                 cfg: TimingConfig | None = None, copy_bytes: int | None = None) -> dict:
    """Achieved FLOP/s of an n x n x n matmul (2 n^3 FLOPs) in ``dtype`` on ``device``,
    and the memory bandwidth of a large copy (``measure_bandwidth``) beside it."""
    from profiler.measure.point import TORCH_DTYPES, device_name

    torch.set_num_threads(threads)
    n = n or matmul_size(device)
    a = torch.randn(n, n, device=device).to(TORCH_DTYPES[dtype])
    b = torch.randn(n, n, device=device).to(TORCH_DTYPES[dtype])
    cfg = cfg or REFERENCE_TIMING
    samples = sample(lambda: torch.mm(a, b), lambda: None, False, make_timer(device), cfg)
    st = summarize(samples.per_call_s)
    name = device_name(device)
    copy = measure_bandwidth(device, threads, copy_bytes, cfg)
    copy_measured_s = copy.pop("copy_measured_s")
    return {"device": device, "device_name": name, "dtype": dtype, "threads": threads,
            "matmul_n": n, "flops_per_s": 2 * n**3 / st.median, "latency_s": st.median,
            "samples": st.n, "datasheet_flops_per_s": datasheet_flops(name, dtype),
            **copy, "datasheet_bandwidth_bytes_per_s": datasheet_bandwidth(name),
            # seconds inside the matmul's and the copy's timed samples: measurement,
            # for the sweep's efficiency figure (runner.RunSummary)
            "measured_s": samples.measured_s + copy_measured_s}
