"""Run directories for the comparison tests: records that follow the instance contract
(per-instance samples, medians and sizes), an env.json and a sweep.toml, with
seeded process-to-process noise and planted slowdowns."""

from __future__ import annotations

import json

import numpy as np

from profiler.records import Point, result_row

# The shape profiler.measure.envinfo writes (abridged).
ENV = {"host": "box", "python": "3.12.3", "torch": "2.13.0+cpu", "cuda": None, "cudnn": None,
       "cpu": "Xeon", "git_commit": "aaaa", "collected_at": "2026-01-01T00:00:00+00:00",
       "devices": [{"device": "cpu", "name": "Xeon", "cores": 2},
                   {"device": "cuda:0", "name": "H100", "state": {"sm_clock_mhz": 1980}}]}

SPEC = """name = "t"
[grid]
model = ["lstm", "transformer"]
seq_len = [64, 128, 256]
[models.lstm]
hidden = 64
layers = 2
[timing]
max_time_s = 1.0
"""


def grid(models=("lstm", "transformer"), seq_lens=(64, 128, 256), phases=("inference",
                                                                          "train_step")):
    return [Point(model=m, seq_len=n, batch_size=4, device="cpu", dtype="float32", threads=2,
                  phase=ph) for m in models for ph in phases for n in seq_lens]


def process_medians(rng, median_s, k, sigma=0.015, slow_share=0.0, slow=1.5):
    """Medians of k separate processes: lognormal around median_s, and with
    probability slow_share a process that is ``slow`` times slower as a whole."""
    m = median_s * rng.lognormal(0.0, sigma, k)
    return m * np.where(rng.random(k) < slow_share, slow, 1.0)


def instance_fields(rng, levels, per_instance=8, spread=0.015):
    """The record fields of instances at these levels (seconds): samples within ~spread
    of each level (a few outliers, as a GC or a context switch leaves, only ever
    slower), flat and sized."""
    samples, medians = [], []
    for m in levels:
        s = m * rng.lognormal(0.0, spread, per_instance)
        s[rng.random(per_instance) < 0.1] *= 1.5
        samples += s.tolist()
        medians.append(float(np.median(s)))
    return dict(latency_samples_s=samples, latency_s=min(samples),
                instance_medians_s=medians,
                instance_sizes=[per_instance] * len(levels), contended=False, attempt=1)


def row_of(p: Point, status="ok", **fields) -> dict:
    """result_row plus the instance fields, which older RESULT_FIELDS do not list."""
    extra = {k: fields.pop(k) for k in ("instance_medians_s", "instance_sizes", "contended",
                                        "contention", "contended_samples", "attempt")
             if k in fields}
    row = result_row(p, status=status, family=p.model, **fields)
    row.update(extra)
    return row


def base_latency(p: Point) -> float:
    return 1e-5 * p.seq_len * (3 if p.phase == "train_step" else 1)


def write_run(path, points, seed, slow=None, env=ENV, status=None, instances=3, sigma=0.015,
              spec=SPEC, **row_fields):
    """A run directory: results.jsonl, env.json and sweep.toml (None leaves a file out);
    slow maps point -> latency factor."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "results.jsonl", "w") as f:
        for p in points:
            st = (status or {}).get(p, "ok")
            fields = dict(row_fields)
            if st == "ok":
                lat = base_latency(p) * (slow or {}).get(p, 1.0)
                fields.update(instance_fields(rng, process_medians(rng, lat, instances, sigma)))
            else:
                fields["error"] = st
            f.write(json.dumps(row_of(p, st, **fields)) + "\n")
    if env is not None:
        (path / "env.json").write_text(json.dumps(env))
    if spec is not None:
        (path / "sweep.toml").write_text(spec)
    return path
