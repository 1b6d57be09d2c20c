"""The sampling loop, driven by a fake timer: no wall-clock luck."""

import pytest

from profiler.measure.timing import TimingConfig, sample


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


def test_noisy_samples_stop_once_their_median_is_known():
    # calls of 0.9, 0.95, 1.0, 1.05, 1.1 ms in turn: IQR/median 10% never reaches the
    # 5% target, but the median's standard error 1.2533 * 0.1 / 1.349 / sqrt(n) falls
    # below 1% from n = 87 on
    pattern = (0.9e-3, 0.95e-3, 1.0e-3, 1.05e-3, 1.1e-3)
    cfg = dict(warmup_s=0.0, warmup_calls=1, min_time_s=0.0, max_time_s=60, min_samples=5,
               max_samples=400, block_s=0.0, target_rel_iqr=0.05)
    s = sample(lambda: None, lambda: None, False, FakeTimer(lambda i: pattern[i % 5]),
               TimingConfig(**cfg, target_median_se=0.01))
    assert 87 <= len(s.per_call_s) <= 96  # checked every ~10% more samples
    s = sample(lambda: None, lambda: None, False, FakeTimer(lambda i: pattern[i % 5]),
               TimingConfig(**cfg, target_median_se=1e-6))
    assert len(s.per_call_s) == 400


def test_slow_calls_still_get_every_warmup_call_and_the_sample_floor(monkeypatch):
    # each call takes 5 s of (fake) time but the point may only take 1 s: the warm-up
    # floor and the 3-sample floor still hold, so no latency rests on a cold call
    import profiler.measure.timing

    clock = [0.0]

    class SlowTimer(FakeTimer):
        def time(self, fn, calls):
            clock[0] += 5.0 * calls
            return super().time(fn, calls)

    monkeypatch.setattr(profiler.measure.timing.time, "perf_counter", lambda: clock[0])
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=2, min_time_s=0.0, max_time_s=1.0,
                       min_samples=5)
    s = sample(lambda: None, lambda: None, False, SlowTimer(lambda i: 5.0), cfg)
    assert s.warmup_calls == 2
    assert len(s.per_call_s) == 3


# --- contention: a fake wait counter drives discard, retake and flagging ---------------

class ClockTimer(FakeTimer):
    """A fake timer that also advances a fake clock by the time it reports."""

    def __init__(self, per_call, clock):
        super().__init__(per_call)
        self.clock = clock

    def time(self, fn, calls):
        t = super().time(fn, calls)
        self.clock[0] += t
        return t


class FakeWaits:
    """Run-queue wait that makes sample k wait ``shares[k]`` of its thread time.

    The sampler reads it before and after each timed block, so reads alternate."""

    def __init__(self, shares, clock, threads):
        self.shares, self.clock, self.threads = shares, clock, threads
        self.total_ns, self.reads, self.t0 = 0, 0, 0.0

    def read_ns(self):
        if self.reads % 2 == 0:
            self.t0 = self.clock[0]
        else:
            k = self.reads // 2
            share = self.shares(k) if callable(self.shares) else self.shares[k]
            self.total_ns += round(share * (self.clock[0] - self.t0) * self.threads * 1e9)
        self.reads += 1
        return self.total_ns


def _fake_clock(monkeypatch):
    import profiler.measure.timing

    clock = [0.0]
    monkeypatch.setattr(profiler.measure.timing.time, "perf_counter", lambda: clock[0])
    return clock


def test_contended_samples_are_discarded_and_taken_again(monkeypatch):
    clock = _fake_clock(monkeypatch)
    # samples 1 and 3 waited 40% of their thread time (over the 5% threshold)
    waits = FakeWaits([0.01, 0.40, 0.0, 0.40, 0.02, 0.0], clock, threads=2)
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=1, min_time_s=0.0, max_time_s=100,
                       min_samples=3, target_rel_iqr=0.05, contention_threshold=0.05,
                       contended_share=0.5)
    s = sample(lambda: None, lambda: None, True, ClockTimer(lambda i: 0.01, clock), cfg,
               threads=2, waits=waits)
    # three clean samples (0, 2, 4) with IQR 0 stop it; the two contended were retaken
    assert waits.reads == 2 * 5
    assert s.per_call_s == [0.01, 0.01, 0.01]
    assert s.contended_samples == 2 and s.contended is False
    # contention over the kept samples: (0.01 + 0 + 0.02) / 3 of their thread time
    assert abs(s.contention - 0.01) < 1e-9
    assert abs(s.measured_s - 0.03) < 1e-12  # discarded samples are not measurement


def test_a_point_without_enough_clean_samples_is_flagged_contended(monkeypatch):
    clock = _fake_clock(monkeypatch)
    waits = FakeWaits(lambda k: 0.5, clock, threads=2)  # every sample waited half its time
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=1, min_time_s=0.0, max_time_s=1.0,
                       min_samples=5, contention_threshold=0.05)
    s = sample(lambda: None, lambda: None, True, ClockTimer(lambda i: 0.1, clock), cfg,
               threads=2, waits=waits)
    # retakes may take sampling to 1 s + max(1 s, 3 x 0.1 s) = 2 s: 20 samples, none clean
    assert len(s.per_call_s) == 20 and s.contended_samples == 20
    assert s.contended is True  # the number is kept, and flagged
    assert abs(s.contention - 0.5) < 1e-9


def test_one_clean_sample_short_of_the_floor_is_still_flagged(monkeypatch):
    clock = _fake_clock(monkeypatch)
    # slow calls (1 s) in a 1 s budget: give-up at 1 + max(1, 3) = 4 s; two clean only
    waits = FakeWaits([0.0, 0.3, 0.0, 0.3, 0.3, 0.3], clock, threads=1)
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=1, min_time_s=0.0, max_time_s=1.0,
                       min_samples=5)
    s = sample(lambda: None, lambda: None, True, ClockTimer(lambda i: 1.0, clock), cfg,
               threads=1, waits=waits)
    assert len(s.per_call_s) == 4 and s.contended is True and s.contended_samples == 2


@pytest.mark.parametrize("every, flagged", [(2, True), (4, True), (6, False), (10, False)])
def test_a_neighbour_busy_through_the_sampling_flags_the_point(every, flagged, monkeypatch):
    # every k-th sample waited 40%: 1/2 and 1/4 of the samples discarded are over the
    # 20% share (a neighbour there most of the time), 1/6 and 1/10 are not; the clean
    # samples are plenty either way
    clock = _fake_clock(monkeypatch)
    waits = FakeWaits(lambda k: 0.4 if k % every == every - 1 else 0.0, clock, threads=2)
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=1, min_time_s=0.0, max_time_s=1.0,
                       min_samples=3, max_samples=60, target_rel_iqr=1e-9,
                       target_median_se=1e-9)
    # calls of 10, 11 and 12 ms: never precise enough to stop before max_samples
    timer = ClockTimer(lambda i: 0.01 * (1 + 0.1 * (i % 3)), clock)
    s = sample(lambda: None, lambda: None, True, timer, cfg, threads=2, waits=waits)
    taken = len(s.per_call_s) + (0 if s.contended else s.contended_samples)
    assert taken == 60 and s.contended_samples == 60 // every
    assert s.contended is flagged
    # a flagged point keeps every sample; a clean one only its clean samples
    assert len(s.per_call_s) == (60 if flagged else 60 - 60 // every)


@pytest.mark.parametrize("shares, taken, flagged", [
    ([0.0, 0.4, 0.0, 0.0], 4, False),  # one discard of four: retaken, the point is clean
    ([0.0, 0.4, 0.4, 0.0, 0.0], 5, False),  # two of five: as the idle background does
    ([0.0, 0.4, 0.4, 0.4, 0.0, 0.0], 6, True),  # three of six: a neighbour stayed
])
def test_the_idle_background_of_discards_does_not_flag_a_point(shares, taken, flagged,
                                                               monkeypatch):
    # calls of 0.1 s in 0.3 s of sampling: an instance of a large point takes 3-6 samples,
    # where one discard alone is over the 20% share
    clock = _fake_clock(monkeypatch)
    waits = FakeWaits(shares, clock, threads=2)
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=1, min_time_s=0.0, max_time_s=0.3,
                       min_samples=3, target_rel_iqr=1e-9, target_median_se=1e-9)
    s = sample(lambda: None, lambda: None, True, ClockTimer(lambda i: 0.1, clock), cfg,
               threads=2, waits=waits)
    assert waits.reads == 2 * taken and s.contended_samples == taken - 3
    assert s.contended is flagged
    assert len(s.per_call_s) == (taken if flagged else 3)


def test_without_a_wait_counter_contention_is_not_known(monkeypatch):
    clock = _fake_clock(monkeypatch)
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=1, min_time_s=0.0, min_samples=3)
    s = sample(lambda: None, lambda: None, True, ClockTimer(lambda i: 0.01, clock), cfg)
    assert s.contention is None and s.contended is None and s.contended_samples == 0


def test_instance_share_of_min_time_is_honoured(monkeypatch):
    clock = _fake_clock(monkeypatch)
    # 10 ms calls, noisy enough never to stop early: min_time_s=0.2 explicitly halved
    timer = ClockTimer(lambda i: 0.01 if i % 2 else 0.02, clock)
    cfg = TimingConfig(warmup_s=0.0, warmup_calls=1, min_time_s=0.2, max_time_s=0.1,
                       min_samples=3, block_s=0.0)
    s = sample(lambda: None, lambda: None, False, timer, cfg, max_time_s=0.1)
    assert 0.1 <= s.measured_s < 0.13  # stopped by the 0.1 s (per-instance) limit
