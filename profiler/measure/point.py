"""Measure one point: build the model, warm up, sample, then one untimed profiled
pass for memory and kernel names. Returns a result row; never prints or plots.

Runs inside a worker process (worker.py), one point at a time.
"""

from __future__ import annotations

import math
import socket
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import torch

from profiler.measure import contention, kernels, memory, nvml, timing
from profiler.measure.flops import count_point
from profiler.measure.stats import summarize
from profiler.measure.timing import TimingConfig
from profiler.models.families import build_model, count_params
from profiler.models.steps import ATTENTION_BACKENDS, make_step, phase_bytes
from profiler.records import Point, result_row

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    from profiler.measure.envinfo import cpu_model

    return cpu_model()


def is_oom(exc: BaseException) -> bool:
    """CUDA OOM, or the CPU allocator failing (it raises a plain RuntimeError)."""
    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


def attention_unavailable(point: Point) -> str | None:
    """Why the point's forced SDPA backend cannot run on its device, or None."""
    if point.attention in ("default", "math"):
        return None
    if not point.device.startswith("cuda"):
        if point.attention == "flash":
            return None  # CPU has a flash kernel
        return f"attention backend {point.attention!r} does not exist on cpu"
    member = ATTENTION_BACKENDS[point.attention]
    from torch.nn.attention import SDPBackend

    if not hasattr(SDPBackend, member):
        return f"attention backend {point.attention!r} not in this torch"
    return None


def build_step(point: Point, model_section: dict):
    """(model, step) for ``point``: threads set first, before any work (docs/measurement.md),
    then a seeded model on the device and the phase's callables on fresh inputs."""
    torch.set_num_threads(point.threads)
    torch.manual_seed(0)
    model = build_model(point.model, model_section, point.device, TORCH_DTYPES[point.dtype])
    step = make_step(model, point.phase, point.batch_size, point.seq_len, point.device,
                     point.attention)
    return model, step


def measure_point(point: Point, model_section: dict, cfg: TimingConfig,
                  max_time_s: float | None = None, run_id: str | None = None,
                  instance: int = 0, trace_path: str | None = None) -> dict:
    """One instance of ``point`` as a result row: status ok, oom or error (never raises).

    An instance is a fresh model on fresh inputs, warmed up and sampled for its share
    (1 / cfg.instances) of the point's sampling time; instances.combine makes the
    point's row from them. Only instance 0 runs the untimed profiled pass (memory,
    operators, which kernel ran): the others would repeat it. With ``trace_path`` that
    pass is also exported as the point's trace (``trace_file``): a warm step, as a
    separate traced pass would record, without building and running the model again."""
    t_point = time.perf_counter()
    common = dict(run_id=run_id, host=socket.gethostname(),
                  timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    why_not = attention_unavailable(point)
    if why_not:
        return result_row(point, status="skipped", error=why_not, **common)
    model = None
    try:
        model, step = build_step(point, model_section)
        fields = dict(family=getattr(model, "family", "custom"), params=count_params(model),
                      device_name=device_name(point.device), **common)
        timer = timing.make_timer(point.device)
        share = 1.0 / max(1, cfg.instances)
        budget_s = min(cfg.max_time_s, max_time_s or math.inf) * share
        waits = contention.wait_source()
        try:
            samples = timing.sample(step.run, step.setup, step.needs_setup, timer, cfg,
                                    max_time_s=budget_s, min_time_s=cfg.min_time_s * share,
                                    threads=point.threads, waits=waits)
        finally:
            if waits is not None:
                waits.close()
        st = summarize(samples.per_call_s)
        contended = dict(contention=samples.contention,
                         contended_samples=samples.contended_samples,
                         contended=samples.contended, instance_medians_s=[st.median],
                         instance_sizes=[st.n], instances=1)
        if instance > 0:  # latency only; instance 0 carries memory, operators and kernels
            return result_row(
                point, status="ok", **fields, latency_s=st.min, latency_median_s=st.median,
                latency_iqr_s=st.iqr,
                latency_mean_s=st.mean, latency_min_s=st.min, latency_rel_iqr=st.rel_iqr,
                noisy=st.noisy, latency_samples_s=samples.per_call_s,
                calls_per_sample=samples.calls_per_sample, samples=st.n,
                warmup_calls=samples.warmup_calls, timer=timer.name,
                measured_s=samples.measured_s, point_wall_s=time.perf_counter() - t_point,
                **contended)
        mem = memory.measure_memory(step.run, step.setup, point.device,
                                    Path(trace_path) if trace_path else None,
                                    typical_s=st.median)
        nvml_bytes = None
        if point.device.startswith("cuda"):
            nvml_bytes = nvml.process_used_bytes(torch.device(point.device).index or 0)
        tokens = step.tokens_per_call or point.tokens
        ran = kernels.detect_kernels(mem.op_names)
        # the n×n scores count only where the math kernel really ran (CUDA may fall back)
        attn = "math" if ran["attention_kernel"] == "sdpa-math" else "flash"
        # analytic, or counted over one untimed call (flops.py)
        flops, flops_source, flops_note = count_point(model, point, step, attn)
        nbytes = phase_bytes(model, point.phase, point.batch_size, point.seq_len,
                             TORCH_DTYPES[point.dtype].itemsize, attn)
        return result_row(
            point, status="ok", **fields,
            latency_s=st.min, latency_median_s=st.median, latency_iqr_s=st.iqr,
            latency_mean_s=st.mean,
            latency_min_s=st.min, latency_rel_iqr=st.rel_iqr, noisy=st.noisy,
            latency_samples_s=samples.per_call_s, calls_per_sample=samples.calls_per_sample,
            samples=st.n, warmup_calls=samples.warmup_calls,
            tokens_per_s=tokens / st.min, state_bytes=step.state_bytes,
            flops=flops, flops_per_s=flops / st.min if flops else None,
            flops_source=flops_source, flops_note=flops_note,
            bytes_moved=nbytes, arithmetic_intensity=flops / nbytes if flops and nbytes else None,
            peak_memory_bytes=mem.peak_bytes, peak_memory_reserved_bytes=mem.reserved_bytes,
            memory_source=mem.source, nvml_used_bytes=nvml_bytes,
            timer=timer.name, measured_s=samples.measured_s, ops=mem.ops,
            trace_file=Path(trace_path).name if trace_path else None,
            point_wall_s=time.perf_counter() - t_point,
            **ran, **contended,
        )
    except NotImplementedError as exc:  # e.g. a user model without decode support
        return result_row(point, status="skipped", error=f"not supported: {exc}", **common)
    except Exception as exc:  # a failure is data: recorded, and the sweep goes on
        status = "oom" if is_oom(exc) else "error"
        last = traceback.extract_tb(exc.__traceback__)[-1:] or None
        where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
        msg = (str(exc).strip().splitlines() or [""])[0][:300]
        return result_row(point, status=status, error=f"{type(exc).__name__}: {msg}{where}",
                          point_wall_s=time.perf_counter() - t_point, **common)
    finally:
        del model
        if point.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()


def trace_point(point: Point, model_section: dict, path: str, wait: int, warmup: int,
                active: int) -> dict:
    """Export a Chrome/Perfetto trace of ``point`` (untimed) and return its op table."""
    from profiler.measure.opprofile import trace

    _, step = build_step(point, model_section)
    t0 = time.perf_counter()
    ops = trace(step.run, step.setup, point.device, Path(path), wait, warmup, active)
    return {"point_id": point.point_id, "file": Path(path).name, "active_steps": active,
            "ops": ops, "wall_s": time.perf_counter() - t0}
