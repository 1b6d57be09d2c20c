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
