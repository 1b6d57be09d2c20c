import torch

from profiler.measure.memory import measure_memory, peak_from_allocations

MIB = 2**20


def test_peak_from_allocations_by_hand():
    # +10 at t=1, +5 at t=2 (15), -10 at t=3 (5), +7 at t=4 (12): peak 15; order by time
    events = [(3, -10), (1, 10), (4, 7), (2, 5)]
    assert peak_from_allocations(events) == 15
    assert peak_from_allocations([(1, -8)]) == 0  # frees of older memory never go negative


def test_cpu_peak_of_a_known_allocation():
    def run():
        a = torch.empty(64 * MIB, dtype=torch.uint8)  # 64 MiB
        a.fill_(1)
        del a
        b = torch.empty(16 * MIB, dtype=torch.uint8)  # 16 MiB, after the 64 are freed
        del b

    mem = measure_memory(run, lambda: None, "cpu")
    assert 64 * MIB <= mem.peak_bytes < 64 * MIB + MIB
    assert mem.reserved_bytes is None
    assert "aten::empty" in mem.op_names


def test_cpu_peak_counts_live_tensors_together():
    def run():
        a = torch.empty(8 * MIB, dtype=torch.uint8)
        b = torch.empty(24 * MIB, dtype=torch.uint8)  # both alive: 32 MiB
        del a, b

    assert 32 * MIB <= measure_memory(run, lambda: None, "cpu").peak_bytes < 33 * MIB


def _spiked_run(stalls: dict[int, float]):
    """A call that runs aten::sin on its first call and aten::cos after, and sleeps
    ``stalls[k]`` seconds (a host's stall, no operator) on call k."""
    import time

    calls = []

    def run():
        calls.append(len(calls))
        x = torch.ones(64)
        (x.sin() if len(calls) == 1 else x.cos()).sum()
        time.sleep(stalls.get(len(calls) - 1, 0.0))

    return run, calls


def test_a_profiled_pass_slowed_by_the_host_is_taken_again_and_the_faster_kept(tmp_path):
    import json

    typical = 0.005  # seconds: the call's typical latency, far under the 50 ms stall
    run, calls = _spiked_run({0: 0.05})
    trace = tmp_path / "t.json"
    mem = measure_memory(run, lambda: None, "cpu", trace_path=trace, typical_s=typical)
    assert len(calls) == 2
    assert "aten::cos" in mem.op_names and "aten::sin" not in mem.op_names  # the second
    names = {e.get("name") for e in json.loads(trace.read_text())["traceEvents"]}
    assert "aten::cos" in names and "aten::sin" not in names  # its trace, too
    # both slowed: still two passes, and the first kept where it was the faster
    run, calls = _spiked_run({0: 0.05, 1: 0.2})
    assert "aten::sin" in measure_memory(run, lambda: None, "cpu", typical_s=typical).op_names
    assert len(calls) == 2


def test_a_profiled_pass_within_its_typical_time_is_taken_once():
    run, calls = _spiked_run({})
    measure_memory(run, lambda: None, "cpu", typical_s=1.0)
    assert len(calls) == 1
    run, calls = _spiked_run({0: 0.05})
    measure_memory(run, lambda: None, "cpu")  # no typical latency known: once
    assert len(calls) == 1
    # three times a 1 ms call, but by 2 ms: the profiler's own cost on a small step
    run, calls = _spiked_run({0: 0.002})
    measure_memory(run, lambda: None, "cpu", typical_s=0.001)
    assert len(calls) == 1
