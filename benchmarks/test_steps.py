"""Regression benchmarks: one call of a model step at a few fixed sizes.

LSTM and Transformer (the default sweep's hyper-parameters), inference and
train_step, on CPU and, where present, CUDA. Each benchmark saves tokens,
FLOPs, params, the kernel that ran and the thread count in extra_info, so a
saved run explains itself. See docs/regressions.md.
"""

from __future__ import annotations

import os
import time

import pytest
import torch

from profiler.measure import kernels
from profiler.models.families import build_model, count_params
from profiler.models.steps import PHASE_FLOP_FACTOR, make_step

MODELS = {
    "lstm": {"hidden": 64, "layers": 2},
    "transformer": {"d_model": 64, "heads": 4, "layers": 2, "ff": 256, "dropout": 0.0},
}
PHASES = ("inference", "train_step")
# (batch, seq_len): short, medium, long-ish; each step takes ~1-100 ms on 2 cores,
# long enough for a stable median, short enough for the whole suite in < 2 min.
SIZES = ((8, 64), (8, 256), (2, 1024))
# Per-shape warm-up (oneDNN primitives, allocator caches, cuDNN/cuBLAS algorithm
# choice are per shape); pytest-benchmark's own warm-up is off by default.
WARMUP_CALLS = 3

# Only to prove the gates work (docs/regressions.md); never set them for real
# measurements. BENCH_INJECT_SLEEP_MS adds that many milliseconds to every timed
# call; BENCH_INJECT_SLOWDOWN=20% makes every call 20% slower (a busy wait as
# long as 20% of the call itself, like a slower code path); BENCH_INJECT_EXTRA_LAYER=1
# gives every model one more layer (more work, for the instruction gate).
INJECT_SLEEP_S = float(os.environ.get("BENCH_INJECT_SLEEP_MS", "0")) / 1000
INJECT_SLOWDOWN = float(os.environ.get("BENCH_INJECT_SLOWDOWN", "0%").rstrip("%")) / 100
INJECT_EXTRA_LAYER = os.environ.get("BENCH_INJECT_EXTRA_LAYER", "0") == "1"
# BENCH_LAYERS=6: every model a stack of that many layers (the default: MODELS').
LAYERS = int(os.environ["BENCH_LAYERS"]) if os.environ.get("BENCH_LAYERS") else None


def model_configs() -> dict[str, dict]:
    """MODELS with BENCH_LAYERS and BENCH_INJECT_EXTRA_LAYER applied."""
    configs = {}
    for name, config in MODELS.items():
        layers = LAYERS or config["layers"]
        configs[name] = dict(config, layers=layers + INJECT_EXTRA_LAYER)
    return configs

DEVICES = [
    pytest.param("cpu"),
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="no CUDA device")),
]


def timed_call(run, device: str):
    """The callable pytest-benchmark times: one step, finished before the clock stops.

    CUDA launches are asynchronous; without the synchronize the timer would
    measure only the launch of the kernels."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else None

    def call():
        t0 = time.perf_counter()
        run()
        if sync is not None:
            sync()
        if INJECT_SLOWDOWN:
            end = time.perf_counter() + (time.perf_counter() - t0) * INJECT_SLOWDOWN
            while time.perf_counter() < end:
                pass
        if INJECT_SLEEP_S:
            time.sleep(INJECT_SLEEP_S)

    return call


def op_names(run) -> set[str]:
    """Operators one call runs, from an untimed torch.profiler pass (CPU-side ops
    such as aten::mkldnn_rnn_layer name the kernel on CUDA too)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run()
    return {e.name for e in prof.events()}


@pytest.mark.parametrize("batch, seq_len", SIZES, ids=[f"B{b}-n{n}" for b, n in SIZES])
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("model_name", list(MODELS))
@pytest.mark.parametrize("device", DEVICES)
def test_step(benchmark, bench_threads, device, model_name, phase, batch, seq_len):
    torch.manual_seed(0)
    config = model_configs()[model_name]
    model = build_model(model_name, config, device, torch.float32)
    step = make_step(model, phase, batch, seq_len, device)
    assert not step.needs_setup  # inference and train_step time one self-contained call
    call = timed_call(step.run, device)
    for _ in range(WARMUP_CALLS):
        call()
    # One untimed profiled pass names the kernel (oneDNN LSTM, SDPA flash, ...);
    # profiling is never part of the timed calls (it adds 30-100%).
    ran = kernels.detect_kernels(op_names(step.run))
    benchmark.group = f"{device} {model_name} {phase}"
    benchmark.extra_info.update(
        model=model_name, family=model.family, phase=phase, device=device,
        batch_size=batch, seq_len=seq_len, tokens=batch * seq_len,
        params=count_params(model),
        flops=int(model.flops(batch, seq_len) * PHASE_FLOP_FACTOR[phase]),
        kernel=ran["kernel"], recurrent_kernel=ran["recurrent_kernel"],
        attention_kernel=ran["attention_kernel"],
        threads=torch.get_num_threads(), torch=torch.__version__,
        device_name=(torch.cuda.get_device_name(torch.device(device))
                     if device.startswith("cuda") else "cpu"),
        layers=config["layers"], injected_sleep_s=INJECT_SLEEP_S or None,
        injected_slowdown=INJECT_SLOWDOWN or None, injected_extra_layer=INJECT_EXTRA_LAYER,
    )
    assert torch.get_num_threads() == bench_threads
    benchmark(call)
