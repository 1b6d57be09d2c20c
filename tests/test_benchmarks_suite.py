"""The regression benchmark suite (benchmarks/) still runs against the current
models and steps: CI does not run the benchmarks, so API drift is caught here."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

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
