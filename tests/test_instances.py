"""Replication: instances agreeing or not, the row they make, and the interval from
instances (hand-computed numbers)."""

import math

import pytest

from profiler.measure import instances, stats
from profiler.records import Point
from tests.fake_workers import instance_row

P = Point("lstm", 1024, 8, "cpu", "float32", 1, "inference")


def test_floors_and_when_a_second_instance_confirms_one():
    row = instances.combine([instance_row(P, [0.0190, 0.0187, 0.0189]),
                             instance_row(P, [0.0186, 0.0188])])
    assert instances.floors(row) == [0.0187, 0.0186]
    assert instances.floor_gap([0.0187, 0.0186]) == pytest.approx(math.log(0.0187 / 0.0186))
    assert math.isnan(instances.floor_gap([0.0186]))
    assert instances.floor_confirmed(row, rtol=0.05)
    # one instance confirms nothing, however tight its samples
    assert not instances.floor_confirmed(instance_row(P, [0.0186] * 9), rtol=0.05)
    # the fifth process of docs/measurement.md: 28.75 ms against 18.65 ms
    slow = instances.combine([instance_row(P, [0.01865] * 3), instance_row(P, [0.02875] * 3)])
    assert not instances.floor_confirmed(slow, rtol=0.05)
    # ... and a third instance near the fast one confirms it: the slow one no longer counts
    third = instances.combine([slow, instance_row(P, [0.0188] * 3)])
    assert instances.floor_confirmed(third, rtol=0.05)
    assert third["latency_s"] == 0.01865
    # floors 20% apart within the instances' own noise (rel IQR 0.5, 3 samples) agree
    noisy = instances.combine([instance_row(P, [0.01, 0.02, 0.03]),
                               instance_row(P, [0.012, 0.022, 0.032])])
    assert instances.floor_confirmed(noisy, rtol=0.05)
    # ... but noisy samples, many of them, pin their median down: IQR/median 10% over
    # 201 samples is a standard error of 1.2533 * 0.1 / 1.349 / sqrt(201) = 0.66%, so
    # floors 6% apart are not the same floor (the IQR alone would have called it noise)
    many = [instance_row(P, [m * (0.9 + 0.2 * i / 200) for i in range(201)])
            for m in (1.0, 1.06)]
    assert many[0]["latency_rel_iqr"] == pytest.approx(0.1)
    assert instances.own_noise(many[0]) == pytest.approx(1.2533 * 0.1 / 1.349 / 201**0.5)
    assert not instances.floor_confirmed(instances.combine(many), rtol=0.05)


def test_a_later_attempt_is_slower_beyond_rtol_however_noisy():
    old = instances.combine([instance_row(P, [0.0024, 0.0025]), instance_row(P, [0.0025])])
    # the second pass of the README's run: 5.06-5.18 ms against a floor of 2.40 ms
    spell = instances.combine([instance_row(P, [0.00518, 0.0053]),
                               instance_row(P, [0.00506, 0.0051])])
    assert instances.slower_than(spell, old, rtol=0.05)
    assert not instances.slower_than(old, spell, rtol=0.05)  # faster: never "slower"
    assert not instances.slower_than(instance_row(P, [0.00250] * 3), old, rtol=0.05)  # 4%
    # 20% slower, within 3 standard errors of its own median (3 samples, rel IQR 0.5):
    # the old floor is a sample that was measured, and this attempt never reached it
    noisy = instance_row(P, [0.00288, 0.00576, 0.00864])
    assert instances.own_noise(noisy) * 3 > 0.2
    assert instances.slower_than(noisy, old, rtol=0.05)
    assert not instances.slower_than(dict(spell, latency_s=None), old, rtol=0.05)


def test_combine_takes_the_floor_and_keeps_the_median_of_instance_medians():
    a = instance_row(P, [1.0, 2.0, 3.0], contention=0.01)  # median 2, measured 6 s
    b = instance_row(P, [4.0, 5.0, 6.0, 7.0], contention=0.04)  # median 5.5, measured 22 s
    c = instance_row(P, [2.5, 2.5, 2.5], contention=0.0)  # median 2.5, measured 7.5 s
    row = instances.combine([a, b, c])
    assert row["instance_medians_s"] == [2.0, 5.5, 2.5]
    assert row["latency_s"] == 1.0  # the fastest kept sample of any instance
    assert row["latency_median_s"] == 2.5  # median of the medians, not of the samples (3.0)
    assert row["instance_sizes"] == [3, 4, 3] and row["instances"] == 3
    assert row["latency_samples_s"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 2.5, 2.5, 2.5]
    assert row["samples"] == 10 and row["latency_min_s"] == 1.0
    assert instances.floors(row) == [1.0, 4.0, 2.5]
    assert row["tokens_per_s"] == pytest.approx(P.tokens / 1.0)
    # contention weighted by sampled time: (0.01*6 + 0.04*22 + 0*7.5) / 35.5
    assert row["contention"] == pytest.approx((0.06 + 0.88) / 35.5)
    assert row["contended"] is False and row["measured_s"] == pytest.approx(35.5)


def test_combine_flags_a_point_when_any_instance_was_contended():
    a = instance_row(P, [1.0] * 3)
    b = instance_row(P, [1.0] * 3, contended=True)
    assert instances.combine([a, b])["contended"] is True
    c = instance_row(P, [1.0] * 3, contention=None)
    c["contended"] = None
    assert instances.combine([a, c])["contended"] is None  # not known is not clean


def test_pooling_a_later_attempt_keeps_the_flag_of_the_floor_that_stands():
    clean = instances.combine([instance_row(P, [1.0] * 3), instance_row(P, [1.02] * 3)])
    # a contended new instance slower than the clean floor: the floor and its flag stand
    slower = instances.pool(clean, instance_row(P, [1.5] * 3, contended=True))
    assert slower["latency_s"] == 1.0 and slower["contended"] is False
    # (the record still counts the new instance's retaken samples)
    assert slower["instances"] == 3 and slower["contended_samples"] == 3
    # a contended new instance that sets a new floor flags it
    faster = instances.pool(clean, instance_row(P, [0.9] * 3, contended=True))
    assert faster["latency_s"] == 0.9 and faster["contended"] is True
    # a flagged floor stays flagged when the clean new instance is slower
    flagged = instances.combine([instance_row(P, [1.0] * 3, contended=True)])
    assert instances.pool(flagged, instance_row(P, [1.3] * 3))["contended"] is True


def test_floor_interval_by_hand():
    # floors 1.00, 1.03, 1.40 s: the gap is ln(1.03); with a typical gap of 0.02 the
    # half-width is ln(1.03) + 3 x 0.02 = 0.0896 about the fastest: 0.9143 to 1.0937 s
    lo, hi = stats.floor_interval([1.40, 1.00, 1.03], 0.02)
    assert lo == pytest.approx(0.91428, rel=1e-4) and hi == pytest.approx(1.09374, rel=1e-4)
    # the slow instance does not widen it; a floor no second instance came near does
    lo2, hi2 = stats.floor_interval([1.00, 1.40], 0.02)
    assert hi2 == pytest.approx(1.40 * math.exp(0.06))
    assert stats.floor_interval([1.0], 0.02) is None  # one instance: not known
    assert stats.floor_interval([1.0, 1.01], None) is None  # no typical gap


def test_with_profile_keeps_the_profiled_fields_and_recomputes_the_rates():
    # decode: 4 tokens per call (B=4), not B*n; profiled at 2 ms, latency now 4 ms
    p = Point("lstm", 64, 4, "cpu", "float32", 1, "decode")
    profiled = instance_row(p, [0.002] * 3)
    profiled.update(tokens_per_s=4 / 0.002, flops=1e6, flops_per_s=1e6 / 0.002,
                    peak_memory_bytes=12345, kernel="onednn", ops=[{"name": "x"}],
                    trace_file="t.json")
    again = instances.with_profile(instance_row(p, [0.004] * 3), profiled)
    assert again["latency_s"] == 0.004
    assert again["tokens_per_s"] == pytest.approx(1000.0)  # 4 tokens / 4 ms
    assert again["flops_per_s"] == pytest.approx(2.5e8)  # 1e6 FLOP / 4 ms
    assert (again["peak_memory_bytes"], again["kernel"], again["ops"], again["trace_file"]) \
        == (12345, "onednn", [{"name": "x"}], "t.json")
    # the rest is the new measurement's
    assert again["latency_samples_s"] == [0.004] * 3
