"""Contention benchmark (`nox -s contention`): a small 2-thread grid measured on an idle
machine, then again beside a CPU-burning child process that this script starts, bounds
in time and always kills.

Prints, per point: idle and loaded latency, their ratio, and whether the loaded point
was flagged contended; per curve: the fitted exponent idle and loaded (clean points
only). The target (docs/measurement.md): every loaded point is within 15% of its idle
value or flagged. Exit status 1 when a point is neither.

    python benchmarks/contention.py [--out DIR] [--burners 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.analyze import tables as A  # noqa: E402
from profiler.run import spec as specs  # noqa: E402
from profiler.run import store  # noqa: E402
from profiler.run.sweep import run_sweep  # noqa: E402

GRID = """
name = "contention"
[grid]
model      = ["lstm", "transformer"]
seq_len    = [64, 128, 256, 512, 1024]
batch_size = [8]
threads    = [2]
phase      = ["inference"]
[models.lstm]
hidden = 64
layers = 2
[models.transformer]
d_model = 64
heads = 4
layers = 2
ff = 256
dropout = 0.0
[budget]
point_seconds = 5.0
remeasure_seconds = 20.0
[timing]
warmup_s = 0.05
min_time_s = 0.2
max_time_s = 1.0
[profile]
points = "none"
"""
TOLERANCE = 0.15  # a loaded point within 15% of idle needs no flag


def burner(seconds: float) -> subprocess.Popen:
    """A child that burns one core and stops by itself after ``seconds``."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def sweep(spec, run_dir: Path) -> dict[str, dict]:
    """Latest row per point_id of a fresh sweep into run_dir."""
    summary = run_sweep(spec, run_dir, progress=False)
    print(f"  {run_dir.name}: {summary.counts}, {summary.remeasured} measured again, "
          f"{summary.wall_s:.0f} s")
    return {r["point_id"]: r for r in store.latest(store.load_results(run_dir))}


def exponents(rows: dict[str, dict]) -> dict[str, float]:
    """Fitted exponent per model over its clean points."""
    exps = A.exponents(A.records_frame(list(rows.values())))
    return {r["model"]: r["k"] for _, r in exps.iterrows()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="where the two runs go (default: a temporary directory)")
    ap.add_argument("--burners", type=int, default=1, help="CPU-burning children (default 1)")
    args = ap.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="contention-"))
    spec = specs.resolve_devices(specs.parse_spec(GRID, "contention grid"))
    print(f"contention benchmark into {out}")
    t0 = time.perf_counter()
    idle = sweep(spec, out / "idle")
    # the loaded run takes about as long as the idle one; bound the burners generously
    bound = 3 * (time.perf_counter() - t0) + 60
    procs = [burner(bound) for _ in range(args.burners)]
    try:
        time.sleep(0.5)  # let them reach the cores
        loaded = sweep(spec, out / "loaded")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    bad = 0
    print(f"\n{'point':<34} {'idle':>9} {'loaded':>9} {'ratio':>6}  verdict")
    for pid, row in idle.items():
        other = loaded.get(pid)
        if not other or row["status"] != "ok" or other["status"] != "ok":
            continue
        ratio = other["latency_s"] / row["latency_s"]
        if other.get("contended"):
            verdict = "flagged contended"
        elif abs(ratio - 1) <= TOLERANCE:
            verdict = "within 15%"
        else:
            verdict, bad = "NEITHER: off and not flagged", bad + 1
        label = f"{row['model']} n={row['seq_len']} B={row['batch_size']} t={row['threads']}"
        print(f"{label:<34} {row['latency_s'] * 1e3:>7.2f}ms {other['latency_s'] * 1e3:>7.2f}ms "
              f"{ratio:>6.2f}  {verdict}")
    k_idle, k_loaded = exponents(idle), exponents(loaded)
    print("\nexponent k (latency ∝ n^k, clean points only)")
    for model, k in k_idle.items():
        kl = k_loaded.get(model)
        diff = f"{kl - k:+.2f}" if kl is not None else "no clean fit"
        print(f"  {model:<12} idle {k:.2f}  loaded "
              f"{'–' if kl is None else f'{kl:.2f}'}  difference {diff}")
    print(f"\n{bad} point(s) off by more than 15% without a flag")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
