"""A peak-FLOP/s reference per (device, dtype, threads): a large matmul, measured.

Achieved FLOP/s of a point divided by this says how far the model is from what
the machine does on its best-case kernel. On GPUs the datasheet figure is
recorded beside it where known (dense, no sparsity), since a 1-second matmul
rarely reaches it.
"""

from __future__ import annotations

import torch

from profiler.stats import summarize
from profiler.timing import TimingConfig, make_timer, sample

# Dense tensor-core / vector peaks in FLOP/s from vendor datasheets (SXM parts).
# Key: substring of torch.cuda.get_device_name(); value: dtype -> FLOP/s.
DATASHEET_FLOPS = {
    "H200": {"bfloat16": 989e12, "float16": 989e12, "float32": 67e12},
    "H100": {"bfloat16": 989e12, "float16": 989e12, "float32": 67e12},
    "A100": {"bfloat16": 312e12, "float16": 312e12, "float32": 19.5e12},
    "L4": {"bfloat16": 121e12, "float16": 121e12, "float32": 30.3e12},
    "V100": {"float16": 125e12, "float32": 15.7e12},
}


def datasheet_flops(device_name: str, dtype: str) -> float | None:
    for key, table in DATASHEET_FLOPS.items():
        if key in device_name:
            return table.get(dtype)
    return None


def matmul_size(device: str) -> int:
    """Square matmul side: big enough to be compute-bound, small enough for seconds."""
    return 8192 if device.startswith("cuda") else 1024


def measure_peak(device: str, dtype: str, threads: int, n: int | None = None,
                 cfg: TimingConfig | None = None) -> dict:
    """Achieved FLOP/s of an n x n x n matmul (2 n^3 FLOPs) in ``dtype`` on ``device``."""
    from profiler.measure import TORCH_DTYPES, device_name

    torch.set_num_threads(threads)
    n = n or matmul_size(device)
    a = torch.randn(n, n, device=device).to(TORCH_DTYPES[dtype])
    b = torch.randn(n, n, device=device).to(TORCH_DTYPES[dtype])
    cfg = cfg or TimingConfig(warmup_s=0.2, min_time_s=0.3, max_time_s=1.5)
    samples = sample(lambda: torch.mm(a, b), lambda: None, False, make_timer(device), cfg)
    st = summarize(samples.per_call_s)
    name = device_name(device)
    return {"device": device, "device_name": name, "dtype": dtype, "threads": threads,
            "matmul_n": n, "flops_per_s": 2 * n**3 / st.median, "latency_s": st.median,
            "samples": st.n, "datasheet_flops_per_s": datasheet_flops(name, dtype)}
