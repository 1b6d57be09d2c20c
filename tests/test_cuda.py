"""CUDA paths: events, allocator peaks, NVML, cuDNN detection. Skipped without a GPU."""

import pytest
import torch

from profiler.measure import nvml
from profiler.measure.memory import measure_memory
from profiler.measure.point import measure_point
from profiler.measure.timing import CudaTimer, TimingConfig
from profiler.records import Point

pytestmark = pytest.mark.cuda

MIB = 2**20


def test_cuda_event_timer_waits_for_the_work():
    # torch.cuda._sleep spins the GPU for a number of cycles; the host returns at once.
    timer = CudaTimer("cuda")
    short = timer.time(lambda: torch.cuda._sleep(1_000_000), 1)
    long = timer.time(lambda: torch.cuda._sleep(10_000_000), 1)
    assert long > 5 * short > 0


def test_allocator_peak_of_a_known_allocation():
    def run():
        a = torch.empty(256 * MIB, dtype=torch.uint8, device="cuda")
        del a

    mem = measure_memory(run, lambda: None, "cuda")
    assert 256 * MIB <= mem.peak_bytes < 257 * MIB
    assert mem.reserved_bytes >= 0 and mem.source == "cuda caching allocator"


def _in_pid_namespace() -> bool:
    """NVML lists the host's PIDs: inside a container's PID namespace ours is not one."""
    try:
        with open("/proc/self/status") as f:
            return any(line.startswith("NSpid:") and len(line.split()) > 2 for line in f)
    except OSError:
        return False


def test_nvml_reports_on_a_gpu_machine():
    """With a GPU there is a driver, so NVML must answer: None here is a bug, not "n/a"."""
    torch.ones(1, device="cuda")  # a context, so the process shows up
    state = nvml.device_state(0)
    assert state is not None, "NVML returned no device state on a machine with a GPU"
    assert state["sm_clock_mhz"] > 0 and state["mem_clock_mhz"] > 0 and state["power_w"] >= 0
    assert nvml.driver_version()
    used = nvml.process_used_bytes(0)
    if not _in_pid_namespace():
        assert used is not None, "NVML did not list this process on its GPU"
        assert used > 0


@pytest.mark.parametrize("model, kernel", [("lstm", "cudnn"), ("transformer", None)])
def test_measure_point_on_cuda(model, kernel):
    p = Point(model, 256, 4, "cuda", "float16", 1, "train_step")
    row = measure_point(p, {}, TimingConfig(min_time_s=0.05, max_time_s=0.5))
    assert row["status"] == "ok", row["error"]
    assert row["timer"] == "cuda_event" and row["peak_memory_bytes"] > 0
    assert row["peak_memory_reserved_bytes"] is not None
    if kernel:
        assert row["recurrent_kernel"] == kernel
    else:
        assert row["attention_kernel"].startswith("sdpa-")


def test_forced_backends_on_cuda():
    for attention in ("math", "flash", "efficient"):
        p = Point("transformer", 128, 2, "cuda", "bfloat16", 1, "inference", attention)
        row = measure_point(p, {}, TimingConfig(min_time_s=0.02, max_time_s=0.2))
        assert row["status"] == "ok", row["error"]
        expected = {"math": "sdpa-math", "flash": "sdpa-flash",
                    "efficient": "sdpa-efficient"}[attention]
        assert row["attention_kernel"] == expected
