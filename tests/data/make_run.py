"""Write the small synthetic run directory the report tests render (no measuring).

    /work/venv/bin/python tests/data/make_run.py   # rewrites tests/data/run_small/

Latencies follow known laws with a few % of log-normal noise, so that the report
has something true to find: the LSTM costs a + b·n (sequential over n), the
Transformer a + b·n + c·n² (quadratic attention); at batch 8 the
Transformer becomes the slower one near n≈300-450. The run is *partial* on purpose: an oom, a
timeout and a skipped point, a point never recorded, and a last line cut short
by a kill, as an interrupted sweep leaves it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from profiler.records import Point, result_row  # noqa: E402
from profiler.stats import summarize  # noqa: E402

OUT = Path(__file__).resolve().parent / "run_small"
SEQ_LENS = [32, 64, 128, 256, 512, 1024, 2048]
BATCHES = [1, 8]
THREADS = [1, 2]
PHASES = ["inference", "train_step"]
MODELS = {"lstm": "lstm", "transformer": "transformer"}
PARAMS = {"lstm": 66_560, "transformer": 99_968}
H = 64  # hidden / d_model
TRAIN_FACTOR = 3.0  # a train step costs ~3 forwards (forward + backward ≈ 2× forward)

SWEEP_TOML = """\
name = "small"

[grid]
model      = ["lstm", "transformer"]
seq_len    = [32, 64, 128, 256, 512, 1024, 2048]
batch_size = [1, 8]
device     = ["cpu"]
dtype      = ["float32"]
threads    = [1, 2]
phase      = ["inference", "train_step"]

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
    if model == "lstm":
        # per time step; batch rows share one GEMM, so B=8 costs ~2× B=1, not 8×.
        # 2 threads help a little at B=8 and hurt at B=1 (tiny GEMMs, see MEASUREMENT.md).
        step = 8e-6 * (1 + 0.15 * (b - 1)) * ({1: 1.0, 2: 1.2}[t] if b == 1 else
                                             {1: 1.0, 2: 0.62}[t])
        lat = 60e-6 + step * n
    else:
        speed = {1: 1.0, 2: 1.85}[t]
        lat = 150e-6 + (1.2e-6 * b * n + 2.5e-9 * b * n * n) / speed
    return lat * (TRAIN_FACTOR if phase == "train_step" else 1.0)


def peak_memory(model: str, phase: str, b: int, n: int) -> int:
    """Bytes above baseline: activations linear in B·n; a train step of the Transformer
    also keeps the n×n attention probabilities (4 heads, fp32) for backward."""
    act = b * n * H * 4 * (8 if model == "lstm" else 12)
    if phase == "train_step":
        act *= 3
        if model == "transformer":
            act += 2 * b * 4 * n * n * 4
    return int(1 << 20) + act


def flops(model: str, phase: str, b: int, n: int) -> float:
    """Analytic FLOPs of one call, 2 layers (see MEASUREMENT.md)."""
    if model == "lstm":
        f = 2 * (2 * n * b * 4 * H * (H + H))
    else:
        f = 2 * (2 * b * n * 4 * H * H + 2 * b * n * 2 * H * 256 + 4 * b * n * n * H)
    return f * (TRAIN_FACTOR if phase == "train_step" else 1.0)


def make_rows(rng: np.random.Generator) -> list[dict]:
    rows = []
    stamp = 0
    for model in MODELS:
        for phase in PHASES:
            for t in THREADS:
                for b in BATCHES:
                    for n in SEQ_LENS:
                        key = (model, phase, b, t, n)
                        if key in NEVER_RECORDED:
                            continue
                        stamp += 1
                        rows.append(make_row(rng, key, stamp))
    return rows


def make_row(rng: np.random.Generator, key: tuple, stamp: int) -> dict:
    model, phase, b, t, n = key
    point = Point(model=model, seq_len=n, batch_size=b, device="cpu", dtype="float32",
                  threads=t, phase=phase)
    common = dict(run_id="small-20250101-120000", family=MODELS[model], params=PARAMS[model],
                  device_name="AMD EPYC 7B13 (2 cores)", timer="perf_counter_ns",
                  kernel="onednn" if model == "lstm" else "sdpa-flash-cpu",
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
    st = summarize(samples)
    fl = flops(model, phase, b, n)
    return result_row(
        point, status="ok", error=None,
        latency_s=st.median, latency_iqr_s=st.iqr, latency_mean_s=st.mean,
        latency_min_s=st.min, latency_rel_iqr=st.rel_iqr, noisy=st.noisy,
        latency_samples_s=samples, calls_per_sample=1, samples=st.n, warmup_calls=3,
        tokens_per_s=b * n / st.median, flops=fl, flops_per_s=fl / st.median,
        peak_memory_bytes=peak_memory(model, phase, b, n), peak_memory_reserved_bytes=None,
        memory_source="torch.profiler", nvml_used_bytes=None,
        measured_s=float(sum(samples)), point_wall_s=float(sum(samples)) + 0.3, **common)


def write_run(out: Path = OUT, seed: int = 0) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    rows = make_rows(np.random.default_rng(seed))
    lines = [json.dumps(r, separators=(",", ":")) for r in rows]
    # An interrupted sweep: the last record was cut short mid-write (no newline).
    text = "\n".join(lines) + "\n" + lines[-1][: len(lines[-1]) // 2]
    (out / "results.jsonl").write_text(text, encoding="utf-8")
    (out / "env.json").write_text(json.dumps(ENV, indent=2) + "\n", encoding="utf-8")
    (out / "sweep.toml").write_text(SWEEP_TOML, encoding="utf-8")
    return out


if __name__ == "__main__":
    print(write_run(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
