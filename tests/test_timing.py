"""The sampling loop, driven by a fake timer: no wall-clock luck."""

from profiler.timing import TimingConfig, sample


class FakeTimer:
    """Returns scripted seconds per call; counts calls like a real timer would run them."""

    name = "fake"

    def __init__(self, per_call):
        self.per_call = per_call  # function: call index -> seconds
        self.calls = 0

    def time(self, fn, calls):
        total = 0.0
        for _ in range(calls):
            fn()
            total += self.per_call(self.calls)
            self.calls += 1
        return total


def test_blocks_sized_from_warmup_and_samples_kept():
    ran = []
    timer = FakeTimer(lambda i: 0.0005)  # 0.5 ms per call
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=3, min_time_s=0.0, max_time_s=10,
                       min_samples=5, target_rel_iqr=0.05, block_s=0.002)
    s = sample(lambda: ran.append(1), lambda: None, False, timer, cfg)
    assert s.warmup_calls == 3
    assert s.calls_per_sample == 4  # 2 ms block / 0.5 ms per call
    assert s.per_call_s == [0.0005] * 5  # stops at min_samples: IQR is 0
    assert len(ran) == 3 + 5 * 4
    assert abs(s.measured_s - 0.0005 * 20) < 1e-12


def test_setup_forces_single_calls_and_runs_before_each():
    order = []
    timer = FakeTimer(lambda i: 0.01)
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=2, min_time_s=0.0, min_samples=3)
    s = sample(lambda: order.append("run"), lambda: order.append("setup"), True, timer, cfg)
    assert s.calls_per_sample == 1
    assert order == ["setup", "run"] * (2 + len(s.per_call_s))


def test_noisy_samples_continue_until_max_samples():
    # alternating 1 ms / 2 ms: IQR/median stays ~0.67 > target, so it never stops early
    timer = FakeTimer(lambda i: 0.001 if i % 2 else 0.002)
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=2, min_time_s=0.0, max_time_s=60,
                       min_samples=5, max_samples=40, block_s=0.0)
    s = sample(lambda: None, lambda: None, False, timer, cfg)
    assert len(s.per_call_s) == 40
    assert set(s.per_call_s) == {0.001, 0.002}


def test_slow_calls_still_get_every_warmup_call_and_the_sample_floor(monkeypatch):
    # each call takes 5 s of (fake) time but the point may only take 1 s: the warm-up
    # floor and the 3-sample floor still hold, so no latency rests on a cold call
    import profiler.timing

    clock = [0.0]

    class SlowTimer(FakeTimer):
        def time(self, fn, calls):
            clock[0] += 5.0 * calls
            return super().time(fn, calls)

    monkeypatch.setattr(profiler.timing.time, "perf_counter", lambda: clock[0])
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=2, min_time_s=0.0, max_time_s=1.0,
                       min_samples=5)
    s = sample(lambda: None, lambda: None, False, SlowTimer(lambda i: 5.0), cfg)
    assert s.warmup_calls == 2
    assert len(s.per_call_s) == 3
