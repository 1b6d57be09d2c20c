"""The regression benchmark suite (benchmarks/) still runs against the current
models and steps: CI does not run the benchmarks, so API drift is caught here."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def load_conftest():
    spec = importlib.util.spec_from_file_location("bench_conftest",
                                                  ROOT / "benchmarks" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_machine_info_names_torch_threads_and_devices():
    conftest = load_conftest()
    info = {"cpu": {"brand_raw": "Some CPU"}}
    conftest.pytest_benchmark_update_machine_info(None, info)
    assert info["torch"]["version"] == torch.__version__
    assert info["torch"]["threads"] == torch.get_num_threads()
    assert info["devices"]["cpu"] == "Some CPU"
    assert ("cuda" in info["devices"]) == torch.cuda.is_available()


@pytest.mark.slow
def test_suite_runs_once_per_benchmark():
    # --benchmark-disable: each benchmarked callable runs once, untimed (seconds).
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider",
         "-k", "cpu and B8-n64", "--benchmark-disable"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "4 passed" in proc.stdout


# --- the gates (benchmarks/gate.py, benchmarks/callgrind.py) -------------------------------

BENCH_DIR = ROOT / "benchmarks"
# One point measured in five separate processes on an idle machine (ms): four agree
# within +-4%, one is 54% slower as a whole (the same data tests/test_compare.py replays).
REPLAYED_MS = (18.65, 18.68, 18.09, 19.50, 28.75)


def load_bench(name: str):
    """benchmarks/<name>.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def gate(tmp_path, monkeypatch):
    module = load_bench("gate")
    monkeypatch.setattr(module, "BASELINES", {"walltime": tmp_path / "walltime.json",
                                              "instructions": tmp_path / "instructions.json"})
    monkeypatch.delenv("BENCH_THRESHOLD", raising=False)
    return module


def test_walltime_gate_on_replayed_processes(gate):
    base = {"step": [x * 1e-3 for x in REPLAYED_MS]}
    # Its noise floor: 3 median absolute deviations (0.59 ms) over the median (18.68 ms);
    # the slow process does not move it, where the range would be 57%.
    assert gate.noise_floor(base["step"]) == pytest.approx(3 * 0.59 / 18.68)
    # Unchanged code: any 3 of the five processes as the new instances, and all five.
    subsets = [*itertools.combinations(REPLAYED_MS, 3), REPLAYED_MS]
    for new in subsets:
        [row] = gate.judge(base, {"step": [x * 1e-3 for x in new]}, 0.10)
        assert row.verdict == "unchanged", new
        assert row.used == 0.10 and row.noise < 0.10
    # The same with a planted 20% slowdown: always caught.
    for new in subsets:
        [row] = gate.judge(base, {"step": [1.2e-3 * x for x in new]}, 0.10)
        assert row.verdict == "regressed", new
    # One process a side, as pytest-benchmark's own compare did: a false alarm.
    [row] = gate.judge({"step": [18.09e-3]}, {"step": [28.75e-3]}, 0.10)
    assert row.verdict == "regressed" and row.noise == 0


def test_walltime_gate_under_synthetic_process_noise(gate):
    # 300 gates of 12 benchmarks, 5 processes a side. Each process is off as a whole
    # (2.7% lognormal, one in ten x1.5: it slows all of its benchmarks), each benchmark
    # by 1% more. Unchanged code rarely fails; a 20% slowdown is rarely missed.
    rng = np.random.default_rng(7)
    sigma = float(np.std(np.log(REPLAYED_MS[:4])))

    def suite(factor=1.0):
        procs = np.where(rng.random(5) < 0.1, 1.5, 1.0) * rng.lognormal(0, sigma, 5)
        return {f"b{j}": list(factor * (j + 1) * 1e-3 * procs * rng.lognormal(0, 0.01, 5))
                for j in range(12)}

    false_fails = missed = 0
    for _ in range(300):
        base = suite()
        false_fails += any(r.verdict == "regressed" for r in gate.judge(base, suite(), 0.1))
        missed += not any(r.verdict == "regressed" for r in gate.judge(base, suite(1.2), 0.1))
    # Both happen when 3 or more of 5 processes on one side were slow (1 in 100
    # gates at this rate): the median of the instances is then a slow one.
    assert false_fails <= 9  # 3%
    assert missed <= 9


def test_noise_floor_raises_the_threshold_and_is_printed(gate):
    noisy = [1.0, 1.1, 0.9, 1.15, 0.85]  # 10% median absolute deviation: a floor of 30%
    rows = gate.judge({"noisy": noisy, "quiet": [1.0, 1.01, 0.99]},
                      {"noisy": [1.25] * 3, "quiet": [1.25] * 3, "new": [1.0]}, 0.10)
    by_name = {r.name: r for r in rows}
    assert by_name["noisy"].verdict == "unchanged" and by_name["noisy"].used == pytest.approx(0.3)
    assert by_name["quiet"].verdict == "regressed" and by_name["quiet"].used == 0.10
    assert by_name["new"].verdict == "only-in-new"
    text = gate.render(rows, "walltime", 0.10)
    noisy_line = next(line for line in text.splitlines() if line.startswith("noisy"))
    assert "30.0%" in noisy_line and "unchanged" in noisy_line
    assert "1 regressed" in text.splitlines()[-1]


def test_instances_merge_from_pytest_benchmark_json(gate, tmp_path):
    for i, medians in enumerate(([0.010, 0.020], [0.012, 0.018])):
        data = {"machine_info": {"node": "box"}, "benchmarks": [
            {"fullname": f"benchmarks/test_steps.py::test_step[{name}]", "stats": {"median": m}}
            for name, m in zip(("a", "b"), medians, strict=True)]}
        (tmp_path / f"i{i}.json").write_text(json.dumps(data))
    read = [gate.read_instance(tmp_path / f"i{i}.json") for i in range(2)]
    assert read[0][1] == {"node": "box"}
    merged = gate.merge([medians for medians, _ in read])
    assert merged == {"benchmarks/test_steps.py::test_step[a]": [0.010, 0.012],
                      "benchmarks/test_steps.py::test_step[b]": [0.020, 0.018]}


def test_walltime_baseline_then_compare_exit_status(gate, monkeypatch, capsys):
    runs = iter([({"a": [1.0, 1.02, 0.98]}, {"node": "box"}),
                 ({"a": [1.01, 0.99]}, {"node": "box"}),
                 ({"a": [1.3, 1.31]}, {"node": "other"})])
    monkeypatch.setattr(gate, "measure_walltime", lambda k, args: next(runs))
    assert gate.main(["compare"]) == 2  # no baseline yet
    assert "no walltime baseline" in capsys.readouterr().err
    assert gate.main(["baseline", "--instances", "3"]) == 0
    assert gate.main(["compare"]) == 0
    assert gate.main(["compare"]) == 1
    captured = capsys.readouterr()
    assert "WARNING: BASELINE DIFFERS in node: saved box now other" in captured.err
    assert "regressed" in captured.out and "noise floor" in captured.out
    assert gate.main(["compare", "--threshold", "x"]) == 2
    assert gate.main(["compare", "--metric", "instructions", "-k", "lstm"]) == 2


def test_instruction_gate_without_valgrind_says_how_to_install_and_exits_2(gate, monkeypatch,
                                                                          capsys):
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    import callgrind

    monkeypatch.setattr(callgrind.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit) as exc:
        gate.main(["baseline", "--metric", "instructions"])
    assert exc.value.code == 2
    assert "apt-get install valgrind" in capsys.readouterr().err


def test_callgrind_dumps_map_to_benchmarks_in_order(tmp_path):
    callgrind = load_bench("callgrind")
    for part, total in ((1, 3000), (2, 9000)):
        (tmp_path / f"callgrind.out.77.{part}").write_text(
            f"# callgrind format\nversion: 1\npart: {part}\nevents: Ir\nsummary: {total}\n"
            f"\nfn=(1) main\n0 {total}\n\ntotals: {total}\n")
    (tmp_path / "callgrind.out.77").write_text("events: Ir\ntotals: 0\n")  # at exit: no part
    counts = callgrind.parse_dumps(tmp_path)
    assert counts == {1: 3000, 2: 9000}
    assert callgrind.per_call(["a", "b"], counts, 3) == {"a": [1000.0], "b": [3000.0]}
    with pytest.raises(ValueError, match="no dump for part"):
        callgrind.per_call(["a", "b", "c"], counts, 3)


def test_extra_layer_and_layers_knobs(monkeypatch):
    monkeypatch.setenv("BENCH_LAYERS", "6")
    monkeypatch.setenv("BENCH_INJECT_EXTRA_LAYER", "1")
    steps = load_bench("test_steps")
    assert {c["layers"] for c in steps.model_configs().values()} == {7}
    monkeypatch.delenv("BENCH_LAYERS")
    monkeypatch.delenv("BENCH_INJECT_EXTRA_LAYER")
    steps = load_bench("test_steps")
    assert steps.model_configs() == steps.MODELS


def test_injected_slowdown_is_relative(monkeypatch):
    monkeypatch.setenv("BENCH_INJECT_SLOWDOWN", "50%")
    steps = load_bench("test_steps")
    call = steps.timed_call(lambda: time.sleep(0.02), "cpu")
    t0 = time.perf_counter()
    call()
    assert time.perf_counter() - t0 >= 0.03  # 20 ms of work and 10 ms more


@pytest.mark.slow
def test_callgrind_suite_runs_without_valgrind(tmp_path):
    # Outside valgrind the hooks do nothing: every benchmark of the instruction gate
    # still builds and runs once, which catches API drift without the minutes of
    # valgrind. RUN_VALGRIND_TESTS=1 below runs the real thing.
    proc = subprocess.run([sys.executable, "benchmarks/callgrind.py", "--inside", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = json.loads((tmp_path / "names.json").read_text())["names"]
    assert len(names) == 8 and "cpu lstm train_step B2-n128" in names


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RUN_VALGRIND_TESTS") != "1",
                    reason="minutes under valgrind; set RUN_VALGRIND_TESTS=1")
def test_callgrind_counts_every_benchmark(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    import callgrind

    counts, info = callgrind.measure()
    assert len(counts) == 8 and all(c[0] > 1e6 for c in counts.values())
    assert info["config"]["threads"] == 1
