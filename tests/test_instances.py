"""Replication: instances agreeing or not, the row they make, and the interval from
instances (hand-computed numbers)."""

import math

import pytest

from profiler.measure import instances, stats
from profiler.records import Point
from tests.fake_workers import instance_row

P = Point("lstm", 1024, 8, "cpu", "float32", 1, "inference")


def test_spread_and_disagreement():
    assert instances.spread([18.0]) == 0.0
    assert instances.spread([18.0, 19.0, 20.0]) == pytest.approx(2.0 / 19.0)
    same = [instance_row(P, [0.0186, 0.0187, 0.0188]), instance_row(P, [0.0185, 0.0186])]
    assert not instances.disagree(same, rtol=0.05)
    # the fifth process of docs/measurement.md: 28.75 ms against 18.65 ms
    slow = [instance_row(P, [0.01865] * 3), instance_row(P, [0.02875] * 3)]
    assert instances.disagree(slow, rtol=0.05)
    # a spread within the instances' own noise (rel IQR 0.5) is not disagreement
    noisy = [instance_row(P, [0.01, 0.02, 0.03]), instance_row(P, [0.012, 0.022, 0.032])]
    assert not instances.disagree(noisy, rtol=0.05)
    # ... but noisy samples, many of them, pin their median down: IQR/median 10% over
    # 201 samples is a standard error of 1.2533 * 0.1 / 1.349 / sqrt(201) = 0.66%, so
    # medians 6% apart disagree (the IQR alone would have called it noise)
    many = [instance_row(P, [m * (0.9 + 0.2 * i / 200) for i in range(201)])
            for m in (1.0, 1.06)]
    assert many[0]["latency_rel_iqr"] == pytest.approx(0.1)
    assert instances.own_noise(many[0]) == pytest.approx(1.2533 * 0.1 / 1.349 / 201**0.5)
    assert instances.disagree(many, rtol=0.05)


def test_combine_takes_the_median_of_instance_medians():
    a = instance_row(P, [1.0, 2.0, 3.0], contention=0.01)  # median 2, measured 6 s
    b = instance_row(P, [4.0, 5.0, 6.0, 7.0], contention=0.04)  # median 5.5, measured 22 s
    c = instance_row(P, [2.5, 2.5, 2.5], contention=0.0)  # median 2.5, measured 7.5 s
    row = instances.combine([a, b, c])
    assert row["instance_medians_s"] == [2.0, 5.5, 2.5]
    assert row["latency_s"] == 2.5  # median of the medians, not of the pooled samples (3.0)
    assert row["instance_sizes"] == [3, 4, 3] and row["instances"] == 3
    assert row["latency_samples_s"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 2.5, 2.5, 2.5]
    assert row["samples"] == 10 and row["latency_min_s"] == 1.0
    assert row["tokens_per_s"] == pytest.approx(P.tokens / 2.5)
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


def test_t_quantiles():
    assert stats.t975(1) == 12.706 and stats.t975(30) == 2.042
    # Cornish-Fisher beyond the table: t(60) = 2.0003, t(120) = 1.9799
    assert stats.t975(60) == pytest.approx(2.0003, abs=1e-3)
    assert stats.t975(120) == pytest.approx(1.9799, abs=1e-3)


def test_pooled_variance_and_interval_by_hand():
    # five two-instance points; one had a slow process (1.5x): a robust pool ignores it
    pts = [[1.0, 1.02], [2.0, 2.08], [3.0, 3.03], [4.0, 4.04], [1.0, 1.5]]
    var, df = stats.pooled_log_variance(pts)
    # residuals |y - mean| * sqrt(2) = |d| / sqrt(2), twice per point; sorted, the 5th and
    # 6th of the ten are both ln(1.02) / sqrt(2)
    sigma = 1.4826 * math.log(1.02) / math.sqrt(2)
    assert var == pytest.approx(sigma**2)
    assert df == 2  # round(0.37 * 5): the MAD's efficiency
    lo, hi = stats.instance_interval([1.0, 1.02], (var, df))
    center = math.log(1.01)  # median of two = their mean
    own = math.log(1.02) ** 2 / 2
    half = 4.303 * math.sqrt(max(var, own) / 2)
    assert lo == pytest.approx(math.exp(center - half))
    assert hi == pytest.approx(math.exp(center + half))
    # the slow-process point keeps its own, wider, variance
    lo2, hi2 = stats.instance_interval([1.0, 1.5], (var, df))
    assert (hi2 - lo2) > (hi - lo) * 5
    # a non-robust pool would have let it widen every interval
    plain = sum(math.log(b / a) ** 2 / 2 for a, b in pts) / 5
    assert plain > 10 * var
    assert stats.pooled_log_variance([[1.0], [2.0]]) is None
    assert stats.instance_interval([1.0, 1.01], None) is None


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
