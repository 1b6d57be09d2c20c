"""pytest-benchmark setup: fixed thread count, torch/device facts in machine_info.

Run through nox (``nox -s benchmark``); the default ``pytest`` only collects tests/."""

from __future__ import annotations

import os

import pytest
import torch

# Intra-op threads for every CPU benchmark, fixed so a baseline and a candidate
# split the work the same way. 1 by default: on the 2-core CI machine with other
# work running, 2 threads made unchanged runs up to 100x slower than their
# baseline (OpenMP threads waiting on a busy core), 1 thread at most 1.7x.
# Set BENCH_THREADS=2 or more on a quiet machine to cover intra-op parallelism.
THREADS = int(os.environ.get("BENCH_THREADS", "1"))


def pytest_configure(config):
    # Before any torch work: the first op may fix the pool size (docs/measurement.md).
    torch.set_num_threads(THREADS)


def _device_names() -> dict:
    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"cuda": cuda} if cuda else {}


def pytest_benchmark_update_machine_info(config, machine_info):
    """Save torch versions, threads and device names with every benchmark run."""
    cpu = machine_info.get("cpu") or {}
    machine_info["torch"] = {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
    }
    machine_info["devices"] = {"cpu": cpu.get("brand_raw") or machine_info.get("processor"),
                               **_device_names()}


def pytest_benchmark_compare_machine_info(config, benchmarksession, machine_info,
                                          compared_benchmark):
    """Name the torch/device differences in one line each; pytest-benchmark's own
    warning dumps both whole machine_info dicts, where a version bump is easy to miss."""
    saved = compared_benchmark.get("machine_info", {})
    for key in ("torch", "devices", "node"):
        if saved.get(key) != machine_info.get(key):
            benchmarksession.logger.warning(
                f"BASELINE DIFFERS in {key}: saved {saved.get(key)} now {machine_info.get(key)}")


@pytest.fixture
def bench_threads() -> int:
    """The thread count, set again per test: a test that changed it must not leak it."""
    torch.set_num_threads(THREADS)
    return THREADS
