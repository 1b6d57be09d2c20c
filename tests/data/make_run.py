"""Write the small synthetic run directory the report tests render (no measuring).

    /work/venv/bin/python tests/data/make_run.py   # rewrites tests/data/run_small/

Latencies follow known laws with a few % of log-normal noise, so that the report
has something true to find: the LSTM costs a + b·n (sequential over n), the
Transformer a + b·n + c·n² (quadratic attention); at batch 8 the
Transformer becomes the slower one near n≈300-450. The run is *partial* on purpose: an oom, a
timeout and a skipped point, a point never recorded, and a last line cut short
by a kill, as an interrupted sweep leaves it.

Operator profiling: every ok row has an op table (``ops``) that splits the same laws
into categories (the Transformer's c·n² term is attention, so its share grows with n;
the LSTM's per-step term is the recurrent kernel), peak.json holds a matmul peak per
thread count, and traces/ a tiny Chrome trace per traced point (one trace failed).

Roofline: ``bytes_moved`` comes from the models' own formulas (steps.phase_bytes, flash
attention) and peak.json holds a copy bandwidth per thread count, so the LSTM at
batch 1 lands latency-bound (a few % of its roof) and the long-n Transformer
compute-bound.

Decode (one generated token at context n): the LSTM's cost and (h, c) state are
constant in n; the Transformer reads its KV cache, which grows ∝ n, at a memory
bandwidth, so its per-token cost grows towards ∝ n.

A third family (``write_run(..., models=THREE_FAMILIES)``, used by tests that need it;
run_small keeps two): minGRU, linear and parallel: a + b·n with b well below the LSTM's
per-step cost, that 2 threads lower (the LSTM at batch 1 they raise), and a constant h in
decode.
"""

from __future__ import annotations

import functools
import json
import sys
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from profiler.measure.stats import summarize  # noqa: E402
from profiler.models.families import build_model  # noqa: E402
from profiler.models.steps import phase_bytes  # noqa: E402
from profiler.records import Point, result_row  # noqa: E402
from profiler.run.spec import tomllib  # noqa: E402

OUT = Path(__file__).resolve().parent / "run_small"
SEQ_LENS = [32, 64, 128, 256, 512, 1024, 2048]
BATCHES = [1, 8]
THREADS = [1, 2]
PHASES = ["inference", "train_step", "decode"]
MODELS = {"lstm": "lstm", "transformer": "transformer"}  # name -> family, in run_small
THREE_FAMILIES = {**MODELS, "mingru": "mingru"}
PARAMS = {"lstm": 66_560, "transformer": 99_968, "mingru": 49_664}
H = 64  # hidden / d_model
TRAIN_FACTOR = 3.0  # a train step costs ~3 forwards (forward + backward ≈ 2× forward)
# The laws below in seconds are scaled to what a 2-core CPU measures (docs/measurement.md:
# 323 ms at n=2048, batch 8 for this Transformer), so that achieved FLOP/s stays
# below the matmul peak of peak.json.
LATENCY_SCALE = 6.0
PROFILE_OVERHEAD = 1.3  # a profiled pass is slower than the timed one (docs/measurement.md)
# Matmul peak (1024³ fp32) per thread count, of the order this machine measures.
PEAK_FLOPS = {1: 45e9, 2: 88e9}
# Copy bandwidth (bytes/s, read + write of a 256 MiB copy) per thread count.
PEAK_BANDWIDTH = {1: 9e9, 2: 12e9}
COPY_BYTES = 256 << 20

SWEEP_TOML = """\
name = "small"

[grid]
model      = ["lstm", "transformer"]
seq_len    = [32, 64, 128, 256, 512, 1024, 2048]
batch_size = [1, 8]
device     = ["cpu"]
dtype      = ["float32"]
threads    = [1, 2]
phase      = ["inference", "train_step", "decode"]

[models.lstm]
hidden = 64
layers = 2

[models.transformer]
d_model = 64
heads   = 4
layers  = 2
ff      = 256
dropout = 0.0

[budget]
point_seconds = 5.0
"""
MINGRU_TOML = """
[models.mingru]
hidden = 64
layers = 2
"""


def sweep_toml(models) -> str:
    """run_small's sweep.toml, or the same with the third family added."""
    if "mingru" not in models:
        return SWEEP_TOML
    grid = 'model      = ["lstm", "transformer"]'
    text = SWEEP_TOML.replace(grid, 'model      = ["lstm", "transformer", "mingru"]')
    return text.replace("\n[budget]", MINGRU_TOML + "\n[budget]")

ENV = {
    "host": "ci-runner",
    "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
    "python": "3.11.2",
    "torch": "2.13.0+cpu",
    "cuda": None,
    "cudnn": None,
    "cpu": {"model": "AMD EPYC 7B13", "logical_cores": 2},
    "devices": [{"device": "cpu", "name": "AMD EPYC 7B13 (2 cores)"}],
    "threads": {"torch_num_threads": 2, "interop_threads": 2},
    "mkldnn_enabled": True,
    "git": {"commit": "bc5aaf0", "dirty": False},
    "created": "2025-01-01T12:00:00Z",
}

# (model, phase, batch, threads, n) -> (status, error) for the points that did not run.
FAILED = {
    ("transformer", "train_step", 8, 1, 2048): (
        "oom", "RuntimeError: DefaultCPUAllocator: can't allocate memory"),
    ("transformer", "train_step", 8, 2, 2048): (
        "oom", "RuntimeError: DefaultCPUAllocator: can't allocate memory"),
    ("transformer", "inference", 8, 1, 2048): ("timeout", "point exceeded 60 s"),
    ("lstm", "train_step", 8, 1, 2048): ("skipped", "predicted 7.1 s > budget 5.0 s"),
}
NEVER_RECORDED = {("lstm", "train_step", 8, 2, 2048)}  # the sweep was killed before it
NOISY = {("lstm", "inference", 1, 2, 32)}  # a point disturbed by another process


def true_latency(model: str, phase: str, b: int, t: int, n: int) -> float:
    """Seconds per call of the synthetic laws (numbers of the order of a 2-core CPU)."""
    return sum(cost_terms(model, phase, b, t, n))


def cost_terms(model: str, phase: str, b: int, t: int, n: int) -> tuple[float, float, float]:
    """Seconds of the fixed, linear and quadratic terms of one call."""
    if phase == "decode":
        return decode_terms(model, b, t, n)
    if model == "mingru":
        # per position, parallel over B·H: batch rows cost ~0.8 each, 2 threads 1.7× faster
        terms = (80e-6, 1.0e-6 * (1 + 0.8 * (b - 1)) * n / {1: 1.0, 2: 1.7}[t], 0.0)
    elif model == "lstm":
        # per time step; batch rows share one GEMM, so B=8 costs ~2× B=1, not 8×.
        # 2 threads help a little at B=8 and hurt at B=1 (tiny GEMMs, see docs/measurement.md).
        step = 8e-6 * (1 + 0.15 * (b - 1)) * ({1: 1.0, 2: 1.2}[t] if b == 1 else
                                             {1: 1.0, 2: 0.62}[t])
        terms = (60e-6, step * n, 0.0)
    else:
        speed = {1: 1.0, 2: 1.85}[t]
        terms = (150e-6, 1.2e-6 * b * n / speed, 2.5e-9 * b * n * n / speed)
    factor = LATENCY_SCALE * (TRAIN_FACTOR if phase == "train_step" else 1.0)
    return tuple(x * factor for x in terms)


DECODE_BANDWIDTH = {1: 10e9, 2: 13e9}  # bytes/s a token's cache read streams at


def state_bytes(model: str, b: int, n: int) -> int:
    """Decode state: (h, c) of 2 layers (B, H) fp32; or K and V of 2 layers for n + 1
    positions, (B, heads, n + 1, H / heads) fp32 (steps.py / models.py decode_init)."""
    if model == "lstm":
        return LAYERS * 2 * b * H * 4
    if model == "mingru":  # h alone: (layers, B, H)
        return LAYERS * b * H * 4
    return LAYERS * 2 * b * (n + 1) * H * 4


def decode_terms(model: str, b: int, t: int, n: int) -> tuple[float, float, float]:
    """Seconds per generated token: a fixed step (one time step of every layer, or the
    projections of one position) and, for the KV cache, reading the cache (∝ n)."""
    if model == "lstm":
        return (90e-6 * (1 + 0.1 * (b - 1)) * {1: 1.0, 2: 0.9}[t], 0.0, 0.0)
    if model == "mingru":
        return (70e-6 * (1 + 0.1 * (b - 1)), 0.0, 0.0)
    return (150e-6 * (1 + 0.05 * (b - 1)), state_bytes(model, b, n) / DECODE_BANDWIDTH[t], 0.0)


# How each term of the laws splits into operators: (name, category, calls per layer,
# fraction of the term). The Transformer's quadratic term is its attention core.
OPS = {
    "lstm": {
        "fixed": [("aten::embedding", "data_movement", 0, 0.4), ("aten::empty", "other", 4, 0.6)],
        "linear": [("aten::mkldnn_rnn_layer", "recurrent", 1, 0.82),
                   ("aten::addmm", "projection_ff", 0, 0.12),
                   ("aten::index_select", "data_movement", 0, 0.04),
                   ("aten::add", "elementwise", 0, 0.02)],
    },
    "transformer": {
        "fixed": [("aten::embedding", "data_movement", 0, 0.3), ("aten::empty", "other", 6, 0.7)],
        "linear": [("aten::addmm", "projection_ff", 4, 0.6),
                   ("aten::native_layer_norm", "normalization", 2, 0.1),
                   ("aten::gelu", "elementwise", 1, 0.1), ("aten::add", "elementwise", 2, 0.05),
                   ("aten::transpose", "data_movement", 3, 0.05),
                   ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention", 1, 0.1)],
        "quadratic": [("aten::_scaled_dot_product_flash_attention_for_cpu", "attention", 1, 1.0)],
    },
}
OPS["mingru"] = {
    "fixed": [("aten::embedding", "data_movement", 0, 0.4), ("aten::empty", "other", 4, 0.6)],
    "linear": [("parallel_scan", "recurrent", 1, 0.1), ("aten::addcmul", "recurrent", 12, 0.3),
               ("aten::mul", "recurrent", 12, 0.15), ("aten::stack", "recurrent", 12, 0.1),
               ("aten::addmm", "projection_ff", 1, 0.25),
               ("aten::sigmoid", "elementwise", 2, 0.1)],
}
# Decode: one time step / one position; the Transformer's linear term is its cache read.
DECODE_OPS = {
    "lstm": {"fixed": [("aten::mkldnn_rnn_layer", "recurrent", 1, 0.8),
                       ("aten::addmm", "projection_ff", 0, 0.1),
                       ("aten::embedding", "data_movement", 0, 0.05),
                       ("aten::empty", "other", 4, 0.05)]},
    "transformer": {"fixed": [("aten::addmm", "projection_ff", 4, 0.6),
                              ("aten::native_layer_norm", "normalization", 2, 0.1),
                              ("aten::gelu", "elementwise", 1, 0.1),
                              ("aten::copy_", "data_movement", 2, 0.1),
                              ("aten::_scaled_dot_product_flash_attention_for_cpu",
                               "attention", 1, 0.1)],
                    "linear": [("aten::_scaled_dot_product_flash_attention_for_cpu",
                                "attention", 1, 1.0)]},
}
DECODE_OPS["mingru"] = {"fixed": [("aten::addmm", "projection_ff", 1, 0.5),
                                  ("aten::sigmoid", "elementwise", 2, 0.2),
                                  ("aten::mul", "elementwise", 2, 0.2),
                                  ("aten::embedding", "data_movement", 0, 0.1)]}
# A train step adds the loss and the optimizer (fractions of the fixed term's scale).
TRAIN_OPS = [("aten::_log_softmax", "loss", 1, 0.05), ("Optimizer.step#Adam.step", "optimizer",
                                                        1, 0.08)]
LAYERS = 2


def make_ops(model: str, phase: str, b: int, t: int, n: int, steps: int = 1) -> list[dict]:
    """The op table of a profiled pass of ``steps`` calls (opprofile.op_table's shape)."""
    fixed, linear, quadratic = cost_terms(model, phase, b, t, n)
    table: dict[tuple[str, str], dict] = {}

    def add(name, category, calls, seconds):
        row = table.setdefault((name, category), {"name": name, "category": category,
                                                  "calls": 0, "self_cpu_s": 0.0,
                                                  "self_device_s": 0.0})
        row["calls"] = max(row["calls"], max(calls * LAYERS, 1) * steps)
        row["self_cpu_s"] += seconds * PROFILE_OVERHEAD * steps

    for term, seconds in (("fixed", fixed), ("linear", linear), ("quadratic", quadratic)):
        for name, category, calls, frac in (DECODE_OPS if phase == "decode" else
                                            OPS)[model].get(term, []):
            add(name, category, calls, frac * seconds)
    if phase == "train_step":
        total = fixed + linear + quadratic
        for name, category, calls, frac in TRAIN_OPS:
            add(name, category, calls, frac * total)
    rows = sorted(table.values(), key=lambda r: -r["self_cpu_s"])
    for r in rows:
        r["self_cpu_s"] = round(r["self_cpu_s"], 9)
    return rows


def peak_memory(model: str, phase: str, b: int, n: int) -> int:
    """Bytes above baseline: activations linear in B·n; a train step of the Transformer
    also keeps the n×n attention probabilities (4 heads, fp32) for backward."""
    if phase == "decode":  # one position's activations, and its scores over the cache
        return int(1 << 16) + b * H * 4 * 8 + (b * 4 * (n + 1) * 4 if model == "transformer"
                                                else 0)
    act = b * n * H * 4 * {"lstm": 8, "mingru": 10}.get(model, 12)
    if phase == "train_step":
        act *= 3
        if model == "transformer":
            act += 2 * b * 4 * n * n * 4
    return int(1 << 20) + act


def flops(model: str, phase: str, b: int, n: int) -> float:
    """Analytic FLOPs of one call, 2 layers (see docs/measurement.md); decode: one token."""
    if phase == "decode":  # models.py decode_flops, without the vocabulary head
        if model == "lstm":
            return 2 * (2 * b * 4 * H * (H + H))
        if model == "mingru":
            return 2 * (2 * b * 2 * H * H)
        return 2 * (8 * b * H * H + 4 * b * (n + 1) * H + 4 * b * H * 256)
    if model == "lstm":
        f = 2 * (2 * n * b * 4 * H * (H + H))
    elif model == "mingru":  # two maps of x_t per layer (candidate and gate)
        f = 2 * (2 * n * b * 2 * H * H)
    else:
        f = 2 * (2 * b * n * 4 * H * H + 2 * b * n * 2 * H * 256 + 4 * b * n * n * H)
    return f * (TRAIN_FACTOR if phase == "train_step" else 1.0)


@functools.cache
def built(model: str):
    return build_model(model, tomllib.loads(sweep_toml(THREE_FAMILIES))["models"][model])


def bytes_moved(model: str, phase: str, b: int, n: int) -> int:
    """The models' own lower bound of bytes per call (fp32, flash attention)."""
    return phase_bytes(built(model), phase, b, n, 4, "flash")


def make_rows(rng: np.random.Generator, models=MODELS) -> list[dict]:
    rows = []
    stamp = 0
    for model in models:
        for phase in PHASES:
            for t in THREADS:
                for b in BATCHES:
                    for n in SEQ_LENS:
                        key = (model, phase, b, t, n)
                        if key in NEVER_RECORDED:
                            continue
                        stamp += 1
                        rows.append(make_row(rng, key, stamp))
    for key, reason in REMEASURED.items():
        stamp += 1
        rows.append(dict(make_row(rng, key, stamp), attempt=2, remeasure_reason=reason))
    return rows


# Points a busy neighbour spoiled: flagged contended, drawn hollow, in no fit.
CONTENDED = {("transformer", "inference", 8, 2, 512)}
# Points the second pass measured again (a second row, attempt 2, for the same point).
REMEASURED = {("lstm", "inference", 1, 1, 64): "noisy"}


def make_row(rng: np.random.Generator, key: tuple, stamp: int) -> dict:
    model, phase, b, t, n = key
    point = Point(model=model, seq_len=n, batch_size=b, device="cpu", dtype="float32",
                  threads=t, phase=phase)
    common = dict(run_id="small-20250101-120000", family=THREE_FAMILIES[model],
                  params=PARAMS[model], device_name="AMD EPYC 7B13 (2 cores)",
                  timer="perf_counter_ns",
                  kernel={"lstm": "onednn", "transformer": "sdpa-flash-cpu"}.get(model),
                  recurrent_kernel="mkldnn_rnn_layer" if model == "lstm" else None,
                  attention_kernel="flash" if model == "transformer" else None,
                  host="ci-runner", timestamp=f"2025-01-01T12:{stamp // 60:02d}:{stamp % 60:02d}Z")
    if key in FAILED:
        status, error = FAILED[key]
        return result_row(point, status=status, error=error, point_wall_s=0.0, **common)
    true = true_latency(*key)
    sigma = 0.25 if key in NOISY else 0.02
    count = int(np.clip(0.5 / true, 5, 40))  # adaptive: fewer samples for slow points
    samples = (true * rng.lognormal(0.0, sigma, size=count)).round(9).tolist()
    # two instances (fresh model, alternating processes), each off by its own ~1% (a
    # generator of the point's own, so the samples above stay what they always were)
    half = count // 2
    factors = np.random.default_rng(zlib.crc32(repr(key).encode())).lognormal(0.0, 0.01, 2)
    if key in CONTENDED:  # a busy neighbour doubled every sample of the second instance
        factors[1] = 2.0
    samples = [round(x * float(factors[int(i >= half)]), 9) for i, x in enumerate(samples)]
    sizes = [half, count - half]
    medians = [float(np.median(samples[:half])), float(np.median(samples[half:]))]
    st = summarize(samples)
    latency = float(np.median(medians))
    fl = flops(model, phase, b, n)
    nbytes = bytes_moved(model, phase, b, n)
    decode = phase == "decode"  # latency per generated token; B tokens per call
    return result_row(
        point, status="ok", error=None, ops=make_ops(*key),
        latency_s=latency, latency_iqr_s=st.iqr, latency_mean_s=st.mean,
        latency_min_s=st.min, latency_rel_iqr=st.rel_iqr, noisy=st.noisy,
        latency_samples_s=samples, calls_per_sample=1, samples=st.n, warmup_calls=3,
        instances=2, instance_medians_s=medians, instance_sizes=sizes,
        contention=0.4 if key in CONTENDED else 0.001,
        contended_samples=sizes[1] if key in CONTENDED else 0, contended=key in CONTENDED,
        attempt=1,
        tokens_per_s=(b if decode else b * n) / latency, flops=fl, flops_per_s=fl / latency,
        bytes_moved=nbytes, arithmetic_intensity=fl / nbytes,
        state_bytes=state_bytes(model, b, n) if decode else None,
        peak_memory_bytes=peak_memory(model, phase, b, n), peak_memory_reserved_bytes=None,
        memory_source="torch.profiler", nvml_used_bytes=None,
        measured_s=float(sum(samples)), point_wall_s=float(sum(samples)) + 0.3, **common)


def make_peaks() -> list[dict]:
    """peak.json: a 1024³ fp32 matmul and a 256 MiB copy per thread count (no datasheet
    figure for a CPU)."""
    return [{"device": "cpu", "device_name": "AMD EPYC 7B13 (2 cores)", "dtype": "float32",
             "threads": t, "matmul_n": 1024, "flops_per_s": f, "latency_s": 2 * 1024 ** 3 / f,
             "samples": 7, "datasheet_flops_per_s": None, "copy_bytes": COPY_BYTES,
             "bandwidth_bytes_per_s": PEAK_BANDWIDTH[t],
             "copy_latency_s": 2 * COPY_BYTES / PEAK_BANDWIDTH[t],
             "datasheet_bandwidth_bytes_per_s": None} for t, f in PEAK_FLOPS.items()]


ACTIVE_STEPS = 2
FAILED_TRACE = ("lstm", "train_step", 1024)  # its trace worker timed out


def make_traces(rows: list[dict], models=MODELS) -> tuple[list[dict], dict[str, dict]]:
    """Index rows and trace files: per (model, phase) at batch 8 and 2 threads, the
    smallest and largest n that ran ok (runner.trace_targets' choice)."""
    index, files = [], {}
    for model in models:
        for phase in PHASES:
            ns = sorted(r["seq_len"] for r in rows if r["status"] == "ok" and r["model"] == model
                        and r["phase"] == phase and r["batch_size"] == 8 and r["threads"] == 2)
            for n in (ns[0], ns[-1]):
                point = Point(model=model, seq_len=n, batch_size=8, device="cpu",
                              dtype="float32", threads=2, phase=phase)
                head = {**asdict(point), "point_id": point.point_id}
                if (model, phase, n) == FAILED_TRACE:
                    index.append({**head, "error": "timeout: no reply in 120.0 s"})
                    continue
                ops = make_ops(model, phase, 8, 2, n, steps=ACTIVE_STEPS)
                glue = round(0.03 * sum(o["self_cpu_s"] for o in ops), 9)
                ops.insert(0, {"name": "ProfilerStep*", "category": "other",
                               "calls": ACTIVE_STEPS, "self_cpu_s": glue, "self_device_s": 0.0})
                name = f"{point.slug()}.json"
                index.append({**head, "file": name, "active_steps": ACTIVE_STEPS, "ops": ops,
                              "wall_s": 0.9})
                files[name] = chrome_trace(ops)
    return index, files


def chrome_trace(ops: list[dict]) -> dict:
    """A tiny Chrome trace: the ops of each step laid end to end inside ProfilerStep#k."""
    events, ts = [], 0.0
    for step in range(ACTIVE_STEPS):
        start = ts
        for o in ops[1:]:
            dur = round(o["self_cpu_s"] / ACTIVE_STEPS * 1e6, 3)  # µs, as torch writes them
            events.append({"ph": "X", "cat": "cpu_op", "name": o["name"], "pid": 1, "tid": 1,
                           "ts": round(ts, 3), "dur": dur, "args": {}})
            ts += dur
        events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{step + 2}",
                       "pid": 1, "tid": 1, "ts": round(start, 3), "dur": round(ts - start, 3),
                       "args": {}})
    return {"schemaVersion": 1, "traceEvents": events, "displayTimeUnit": "ms"}


def write_run(out: Path = OUT, seed: int = 0, models=MODELS) -> Path:
    """The run directory; ``models``: MODELS (run_small) or THREE_FAMILIES."""
    out.mkdir(parents=True, exist_ok=True)
    rows = make_rows(np.random.default_rng(seed), models)
    lines = [json.dumps(r, separators=(",", ":")) for r in rows]
    # An interrupted sweep: the last record was cut short mid-write (no newline).
    text = "\n".join(lines) + "\n" + lines[-1][: len(lines[-1]) // 2]
    (out / "results.jsonl").write_text(text, encoding="utf-8")
    (out / "env.json").write_text(json.dumps(ENV, indent=2) + "\n", encoding="utf-8")
    (out / "sweep.toml").write_text(sweep_toml(models), encoding="utf-8")
    (out / "peak.json").write_text(json.dumps(make_peaks(), indent=2) + "\n", encoding="utf-8")
    index, files = make_traces(rows, models)
    (out / "traces").mkdir(exist_ok=True)
    (out / "traces" / "index.jsonl").write_text(
        "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in index), encoding="utf-8")
    for name, trace in files.items():
        (out / "traces" / name).write_text(json.dumps(trace, separators=(",", ":")) + "\n",
                                           encoding="utf-8")
    return out


if __name__ == "__main__":
    print(write_run(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
