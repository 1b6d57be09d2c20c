"""The regression gates behind `nox -s benchmark` (docs/regressions.md).

    python benchmarks/gate.py run      [pytest args]   one pytest-benchmark run, autosaved
    python benchmarks/gate.py baseline [--metric walltime|instructions] [--instances K]
    python benchmarks/gate.py compare  [--metric walltime|instructions] [--instances K]
                                       [--threshold 10%] [pytest args]

Wall time: one pytest-benchmark process is not a replicate. Its rounds agree
with each other while the whole process is off by 20-50%, so a baseline of one
process fails the next process on unchanged code. Here every baseline and
every compare runs the suite in K separate processes (instances) and keeps
each benchmark's median per process. A benchmark regressed when the median of
its new instances exceeds the median of its baseline instances by more than
max(threshold, the noise floor of the baseline's instances).

Instructions: the suite's steps at small shapes run once, in one process under
callgrind (benchmarks/callgrind.py), and each benchmark's instructions per call
are compared with the threshold alone: two runs agree to well under 1%
whatever else the machine does.

Exit status: 0 pass, 1 a benchmark regressed (or the suite failed), 2 bad
input (no baseline, valgrind missing). Only the standard library at the top:
the noxfile's interpreter reads this file's numbers without torch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / ".benchmarks"  # git-ignored, like pytest-benchmark's own history
BASELINES = {"walltime": STORE / "walltime-baseline.json",
             "instructions": STORE / "instructions-baseline.json"}
# Whole percentages. Wall time: above the +-3% that separate processes of one
# benchmark show on a quiet machine. Instructions: two runs of unchanged code
# agree to ~0.2%, and a change in work worth catching is a few percent.
DEFAULT_THRESHOLDS = {"walltime": "10%", "instructions": "2%"}
DEFAULT_INSTANCES = 5  # processes per baseline and per compare (wall time)
# The noise floor is NOISE_MADS median absolute deviations of the baseline's
# instance medians, relative to their median: a spread measure that one slow
# process out of five does not move, where the range would follow it.
NOISE_MADS = 3.0
# pytest-benchmark settings of one instance: rounds within 0.5 s (at least 5),
# GC off so a collection never lands inside a round.
BENCH_ARGS = ("benchmarks/test_steps.py", "--benchmark-storage=file://.benchmarks",
              "--benchmark-disable-gc", "--benchmark-max-time=0.5",
              "--benchmark-min-rounds=5", "-p", "no:cacheprovider", "-q")


@dataclass(frozen=True)
class Row:
    """One benchmark judged: centers in seconds (wall time) or instructions per call."""

    name: str
    verdict: str  # regressed, improved, unchanged, only-in-base, only-in-new
    base: float | None = None
    new: float | None = None
    ratio: float | None = None  # new / base
    noise: float | None = None  # relative noise floor from the baseline's instances
    used: float | None = None  # max(threshold, noise): the threshold this benchmark got
    base_instances: int = 0
    new_instances: int = 0


def parse_percent(text: str) -> float:
    """'10%' -> 0.10; a bare fraction like 0.1 is accepted too."""
    s = str(text).strip()
    value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    if not 0 <= value < 10 or (not s.endswith("%") and value >= 1):
        raise ValueError(f"threshold {text!r}: expected a percentage like 10%")
    return value


def noise_floor(instances: list[float]) -> float:
    """NOISE_MADS median absolute deviations of the instances over their median (0 for one)."""
    if len(instances) < 2:
        return 0.0
    center = statistics.median(instances)
    mad = statistics.median(abs(x - center) for x in instances)
    return NOISE_MADS * mad / center


def judge(base: dict[str, list[float]], new: dict[str, list[float]],
          threshold: float) -> list[Row]:
    """Every benchmark of either side: regressed when median(new)/median(base) exceeds
    1 + max(threshold, noise floor of base), improved in the mirror case (symmetric in
    log space); a benchmark on one side only is reported, never failed."""
    rows = []
    for name in sorted(base.keys() | new.keys()):
        b, n = base.get(name) or [], new.get(name) or []
        if not b or not n:
            only = "only-in-base" if b else "only-in-new"
            rows.append(Row(name, only, base=statistics.median(b) if b else None,
                            new=statistics.median(n) if n else None,
                            base_instances=len(b), new_instances=len(n)))
            continue
        center_b, center_n = statistics.median(b), statistics.median(n)
        ratio = center_n / center_b
        noise = noise_floor(b)
        used = max(threshold, noise)
        verdict = ("regressed" if ratio > 1 + used
                   else "improved" if ratio < 1 / (1 + used) else "unchanged")
        rows.append(Row(name, verdict, center_b, center_n, ratio, noise, used, len(b), len(n)))
    return rows


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    if metric == "instructions":
        return f"{value:,.0f}"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if value >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value / 1e-9:.4g} ns"


def render(rows: list[Row], metric: str, threshold: float) -> str:
    """A plain-text table (CI logs) with the noise floor used per benchmark, and a summary."""
    unit = "instructions/call" if metric == "instructions" else "median of instances"
    head = ["benchmark", f"base ({unit})", "new", "new/base", "noise floor", "threshold used",
            "instances base/new", "verdict"]
    body = [[r.name.split("::")[-1], _fmt(r.base, metric), _fmt(r.new, metric),
             "-" if r.ratio is None else f"{r.ratio:.4f}",
             "-" if r.noise is None else f"{r.noise:.1%}",
             "-" if r.used is None else f"{r.used:.1%}",
             f"{r.base_instances}/{r.new_instances}", r.verdict] for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in [head, *body]]
    counts = {}
    for r in rows:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    lines.append(f"{metric}: threshold {threshold:.1%}, noise floor = {NOISE_MADS:g} median "
                 "absolute deviations of the baseline's instances; "
                 + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    return "\n".join(lines)


# --- wall time: pytest-benchmark in separate processes ----------------------------------

def read_instance(path: Path) -> tuple[dict[str, float], dict]:
    """{benchmark fullname: median seconds} and the machine_info of one --benchmark-json."""
    data = json.loads(Path(path).read_text())
    medians = {b["fullname"]: b["stats"]["median"] for b in data.get("benchmarks", [])}
    return medians, data.get("machine_info", {})


def merge(instances: list[dict[str, float]]) -> dict[str, list[float]]:
    """Per benchmark, its median from each instance that ran it, in instance order."""
    merged: dict[str, list[float]] = {}
    for medians in instances:
        for name, value in medians.items():
            merged.setdefault(name, []).append(value)
    return merged


def measure_walltime(k: int, pytest_args: list[str]) -> tuple[dict[str, list[float]], dict]:
    """Run the suite in k fresh processes; (instances per benchmark, machine_info)."""
    medians, info = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for i in range(k):
            out = Path(tmp) / f"instance-{i}.json"
            cmd = [sys.executable, "-m", "pytest", *BENCH_ARGS, f"--benchmark-json={out}",
                   *pytest_args]
            # Output only on failure: five of pytest-benchmark's tables would bury the verdict.
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
                raise SystemExit(1)  # the suite itself failed: nothing to compare
            one, info = read_instance(out)
            medians.append(one)
            print(f"instance {i + 1}/{k}: {len(one)} benchmarks in a fresh process", flush=True)
    return merge(medians), info


def _machine_differences(saved: dict, now: dict) -> list[str]:
    """Lines naming what differs in torch versions, devices, host (the conftest's keys)
    and, for instructions, the suite's configuration (models, shapes, threads)."""
    return [f"BASELINE DIFFERS in {key}: saved {saved.get(key)} now {now.get(key)}"
            for key in ("torch", "devices", "node", "config") if saved.get(key) != now.get(key)]


# --- the two commands --------------------------------------------------------------------

def _measure(metric: str, k: int, pytest_args: list[str]) -> tuple[dict, dict]:
    if metric == "instructions":
        import callgrind  # benchmarks/ is on sys.path when this file runs as a script

        return callgrind.measure()
    return measure_walltime(k, pytest_args)


def baseline(metric: str, k: int, pytest_args: list[str]) -> int:
    instances, info = _measure(metric, k, pytest_args)
    path = BASELINES[metric]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metric": metric, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                                "instances": instances, "machine_info": info}, indent=1))
    print(f"saved {metric} baseline of {len(instances)} benchmarks to {path}")
    for name, values in sorted(instances.items()):
        print(f"  {name}: noise floor {noise_floor(values):.1%} over {len(values)} instance(s)")
    return 0


def compare(metric: str, k: int, threshold: float, pytest_args: list[str]) -> int:
    path = BASELINES[metric]
    if not path.is_file():
        print(f"error: no {metric} baseline at {path}: run `nox -s benchmark -- baseline"
              f" --metric {metric}` first", file=sys.stderr)
        return 2
    saved = json.loads(path.read_text())
    instances, info = _measure(metric, k, pytest_args)
    for line in _machine_differences(saved.get("machine_info", {}), info):
        print(f"WARNING: {line}", file=sys.stderr)
    rows = judge(saved["instances"], instances, threshold)
    print(render(rows, metric, threshold))
    return 1 if any(r.verdict == "regressed" for r in rows) else 0


def run(pytest_args: list[str]) -> int:
    """One pytest-benchmark process, saved to the history in .benchmarks/."""
    cmd = [sys.executable, "-m", "pytest", *BENCH_ARGS, "--benchmark-autosave", *pytest_args]
    return subprocess.run(cmd, cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    # allow_abbrev off: an unknown option is pytest's, never a prefix of ours
    p = argparse.ArgumentParser(prog="benchmarks/gate.py", description=__doc__.split("\n")[0],
                                allow_abbrev=False)
    p.add_argument("mode", choices=("run", "baseline", "compare"))
    p.add_argument("--metric", choices=tuple(BASELINES), default="walltime")
    p.add_argument("--instances", type=int,
                   default=int(os.environ.get("BENCH_INSTANCES", DEFAULT_INSTANCES)),
                   help="wall time: separate pytest-benchmark processes per baseline/compare")
    p.add_argument("--threshold", default=None,
                   help="smallest slowdown that fails compare (default: BENCH_THRESHOLD, "
                        "else 10%% for walltime, 2%% for instructions)")
    args, pytest_args = p.parse_known_args(argv)
    if args.mode == "run":
        return run(pytest_args)
    try:
        threshold = parse_percent(args.threshold or os.environ.get("BENCH_THRESHOLD")
                                  or DEFAULT_THRESHOLDS[args.metric])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.instances < 1:
        print("error: --instances must be at least 1", file=sys.stderr)
        return 2
    if args.metric == "instructions" and pytest_args:
        print(f"error: --metric instructions takes no pytest arguments: {pytest_args}",
              file=sys.stderr)
        return 2
    if args.mode == "baseline":
        return baseline(args.metric, args.instances, pytest_args)
    return compare(args.metric, args.instances, threshold, pytest_args)


if __name__ == "__main__":
    sys.exit(main())
