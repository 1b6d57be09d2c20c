"""Analysis on synthetic records with known answers (no measuring, no plotting)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from profiler.analyze import fit
from profiler.analyze import tables as A
from profiler.records import Point, result_row

NS = [32, 64, 128, 256, 512, 1024, 2048]


def row(model, n, latency, *, family=None, batch=1, threads=2, phase="inference",
        status="ok", memory=None, error=None):
    """A result row as the worker writes it (latency None unless status is ok)."""
    p = Point(model=model, seq_len=n, batch_size=batch, device="cpu", dtype="float32",
              threads=threads, phase=phase)
    lat = latency if status == "ok" else None
    return result_row(p, family=family or model, status=status, error=error, latency_s=lat,
                      tokens_per_s=batch * n / lat if lat else None,
                      peak_memory_bytes=memory, noisy=False)


def frame(rows):
    return A.records_frame(rows)


def noisy(y, rng, sigma=0.01):
    """Multiply by log-normal noise of ``sigma`` (1% by default), as timing jitter does."""
    return np.asarray(y) * rng.lognormal(0.0, sigma, size=len(y))


# --- fit.py: plain arrays ----------------------------------------------------

def test_t_quantiles_match_tables():
    assert fit.t975(1) == pytest.approx(12.706)
    assert fit.t975(10) == pytest.approx(2.228)
    assert fit.t975(35) == pytest.approx(2.030, abs=2e-3)  # tables: 2.030
    assert fit.t975(10_000) == pytest.approx(1.960, abs=1e-3)
    assert math.isnan(fit.t975(0))


@pytest.mark.parametrize("k", [0.5, 1.0, 1.5, 2.0])
def test_power_law_exponent_recovered_within_002(k):
    rng = np.random.default_rng(1)
    n = np.array(NS * 3, dtype=float)  # three samples per n
    y = noisy(2e-6 * n ** k, rng)
    f = fit.fit_power_law(n, y)
    assert abs(f.exponent - k) <= 0.02
    assert f.ci_low < k < f.ci_high
    assert f.ci_high - f.ci_low < 0.05
    assert (f.n_min, f.n_max, f.points) == (32, 2048, 21)


def test_power_law_interval_is_a_t_interval():
    # 3 points: slope 1 through (1,1),(2,2), off at 4; compare with the textbook formula.
    n, y = np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 5.0])
    x, v = np.log(n), np.log(y)
    slope, intercept = np.polyfit(x, v, 1)
    se = math.sqrt(((v - (intercept + slope * x)) ** 2).sum() / 1 / ((x - x.mean()) ** 2).sum())
    f = fit.fit_power_law(n, y)
    assert f.exponent == pytest.approx(slope)
    assert f.ci_high - f.exponent == pytest.approx(12.706 * se)


def test_power_law_ignores_non_positive_and_needs_two_n():
    assert fit.fit_power_law([32, 64], [1.0, float("nan")]) is None
    assert fit.fit_power_law([32, 32], [1.0, 2.0]) is None
    f = fit.fit_power_law([32, 64, 128, 256], [1.0, 2.0, 0.0, None])
    assert f.points == 2 and f.exponent == pytest.approx(1.0) and math.isnan(f.ci_low)


def test_upper_range_is_upper_half_with_at_least_three_points():
    assert fit.upper_range(NS) == [256, 512, 1024, 2048]
    assert fit.upper_range([32, 64, 128, 256]) == [64, 128, 256]
    assert fit.upper_range([32, 64]) == []


def test_nnls_exact_and_kkt():
    n = np.array(NS, dtype=float)
    a = np.column_stack([np.ones_like(n), n, n * n])
    assert fit.nnls(a, a @ [3.0, 2.0, 0.5]) == pytest.approx([3.0, 2.0, 0.5])
    # concave data: unconstrained least squares wants c < 0; NNLS must clamp it
    y = 1 + 2 * n - 0.0005 * n * n
    assert np.linalg.lstsq(a, y, rcond=None)[0][2] < 0
    x = fit.nnls(a, y)
    grad = a.T @ (a @ x - y)  # KKT: zero where x > 0, non-negative where x = 0
    assert np.all(x >= 0) and x[2] == 0
    scale = np.abs(a.T @ y)
    assert np.all(np.abs(grad[x > 0]) <= 1e-8 * scale[x > 0])
    assert np.all(grad[x == 0] >= 0)


def test_decomposition_shares_and_overtake():
    a, b, c = 1e-4, 1e-6, 2e-9  # s, s/token, s/token²
    n = np.array(NS, dtype=float)
    d = fit.fit_decomposition(n, a + b * n + c * n * n)
    assert (d.a, d.b, d.c) == pytest.approx((a, b, c), rel=1e-6)
    assert d.quadratic_share(1000) == pytest.approx(2e-3 / (1e-4 + 1e-3 + 2e-3), rel=1e-6)
    assert d.quadratic_overtakes_linear == pytest.approx(500, rel=1e-6)  # b/c
    assert d.r2 == pytest.approx(1.0)
    lin = fit.fit_decomposition(n, 5e-5 + 1e-6 * n)
    assert lin.c == pytest.approx(0, abs=1e-15) and lin.quadratic_share(2048) < 1e-6


@pytest.mark.parametrize("name, law", [
    ("O(1)", lambda n: 3e-3 + 0 * n),
    ("O(n)", lambda n: 1e-5 * n),
    ("O(n)", lambda n: 5e-5 + 1e-5 * n),  # an LSTM: fixed cost plus linear
    ("O(n log n)", lambda n: 1e-6 * n * np.log2(n)),
    ("O(n²)", lambda n: 1e-8 * n * n),
    ("O(n²)", lambda n: 2e-4 + 1e-6 * n + 1e-8 * n * n),  # a Transformer at large n
])
def test_complexity_class_selected(name, law):
    rng = np.random.default_rng(2)
    n = np.array(NS, dtype=float)
    cx = fit.fit_complexity(n, noisy(law(n), rng))
    assert cx.name == name
    assert cx.r2 == max(cx.r2_by_class.values())


def test_crossings_interpolate_in_log_space():
    n = np.array(NS, dtype=float)
    # 1e-5·n and 1e-7·n² cross at n = 100 exactly; log-log interpolation is exact for power laws
    assert fit.crossings(n, 1e-5 * n, 1e-7 * n * n) == [pytest.approx(100.0)]
    assert fit.crossings(n, 1e-3 * n, 1e-7 * n * n) == []


# --- analysis.py: DataFrames of records ---------------------------------------

def lstm_and_transformer(batch=1, threads=2, phase="inference", rng=None):
    rng = rng or np.random.default_rng(3)
    n = np.array(NS, dtype=float)
    lstm = noisy(1e-5 * n, rng)
    trf = noisy(1e-7 * n * n, rng)
    return ([row("lstm", int(k), float(v), batch=batch, threads=threads, phase=phase)
             for k, v in zip(n, lstm, strict=True)]
            + [row("transformer", int(k), float(v), batch=batch, threads=threads, phase=phase)
               for k, v in zip(n, trf, strict=True)])


def test_exponents_per_series_ignore_failed_rows():
    rows = lstm_and_transformer()
    rows.append(row("transformer", 4096, None, status="oom", error="out of memory"))
    ex = A.exponents(frame(rows)).set_index("model")
    assert abs(ex.loc["lstm", "k"] - 1.0) <= 0.02
    assert abs(ex.loc["transformer", "k"] - 2.0) <= 0.02
    assert abs(ex.loc["transformer", "k_upper"] - 2.0) <= 0.02
    assert ex.loc["transformer", "n_max"] == 2048 and ex.loc["transformer", "upper_n_min"] == 256


def test_asymptotic_exponent_sees_through_fixed_cost():
    n = np.array(NS, dtype=float)
    # 200 µs fixed cost + quadratic: the whole range reads n^1.32, the upper half n^1.88
    rows = [row("transformer", int(k), float(2e-4 + 1e-8 * k * k)) for k in n]
    ex = A.exponents(frame(rows)).iloc[0]
    assert ex["k"] < 1.4 and ex["k_upper"] > 1.85


def test_memory_exponent():
    rows = [row("transformer", n, 1e-3, memory=1000 * n * n) for n in NS]
    ex = A.exponents(frame(rows), "peak_memory_bytes").iloc[0]
    assert ex["k"] == pytest.approx(2.0)


def test_records_frame_blanks_failed_latency_and_keeps_last_duplicate():
    bad = row("lstm", 64, 1.0)
    bad["status"], bad["latency_s"] = "timeout", 9.0  # a number must not leak into fits
    first, again = row("lstm", 32, 1.0), row("lstm", 32, 2.0)
    df = frame([first, bad, again])
    assert len(df) == 2
    assert df.set_index("seq_len").loc[32, "latency_s"] == 2.0
    assert math.isnan(df.set_index("seq_len").loc[64, "latency_s"])


def test_decompositions_flag_fixed_cost_regime():
    a, b, c = 1e-4, 1e-6, 2e-9
    rows = [row("transformer", n, a + b * n + c * n * n) for n in NS]
    d = A.decompositions(frame(rows)).iloc[0]
    # fixed share at n=64: 1e-4 / (1e-4 + 6.4e-5 + 8.2e-6) = 0.58; at n=128: 0.38
    assert d["fixed_dominates_to"] == 64
    assert d["n_quadratic_over_linear"] == pytest.approx(500, rel=1e-6)
    assert d["complexity"] == "O(n²)"
    shares = A.quadratic_shares(frame(rows), A.decompositions(frame(rows)))
    at = shares.set_index("seq_len").loc[512]
    total = a + b * 512 + c * 512 ** 2
    assert at["quadratic_share"] == pytest.approx(c * 512 ** 2 / total, rel=1e-6)
    assert at["fixed_share"] + at["linear_share"] + at["quadratic_share"] == pytest.approx(1)


def test_planted_crossover_found():
    rows = lstm_and_transformer(batch=8) + lstm_and_transformer(batch=1)
    cx = A.crossovers(frame(rows))
    assert len(cx) == 2
    for _, c in cx.iterrows():
        assert c["n_cross"] == pytest.approx(100, rel=0.03)  # 1% noise on both curves
        assert c["slower_after"] == "transformer"


def test_no_crossover_in_range_and_same_family_not_compared():
    n = np.array(NS, dtype=float)
    rows = ([row("lstm", int(k), 1e-3 * k) for k in n]
            + [row("gru", int(k), 2e-3 * k, family="lstm") for k in n]
            + [row("transformer", int(k), 1e-7 * k * k) for k in n])
    cx = A.crossovers(frame(rows))
    assert set(zip(cx["curve_a"], cx["curve_b"], strict=True)) == {
        ("gru", "transformer"), ("lstm", "transformer")}
    assert cx["crossings"].map(len).eq(0).all()
    assert set(cx["faster_throughout"]) == {"transformer"}


def test_batch_scaling_efficiency():
    # latency flat in B: perfectly parallel (efficiency 1); latency ∝ B: serial (1/8)
    rows = [row("transformer", 256, 1e-3, batch=b) for b in (1, 8)]
    rows += [row("lstm", 256, 1e-3 * b, batch=b) for b in (1, 8)]
    bs = A.batch_scaling(frame(rows)).set_index(["model", "batch_size"])
    assert bs.loc[("transformer", 8), "speedup"] == pytest.approx(8)
    assert bs.loc[("transformer", 8), "efficiency"] == pytest.approx(1)
    assert bs.loc[("lstm", 8), "efficiency"] == pytest.approx(1 / 8)


def test_thread_scaling_and_sequential_floor():
    rows = [row("lstm", n, 20e-6 * n, threads=1) for n in NS]
    rows += [row("lstm", n, 16e-6 * n, threads=2) for n in NS]
    df = frame(rows)
    ts = A.thread_scaling(df)
    two = ts[ts["threads"] == 2]
    assert np.allclose(two["speedup"], 1.25) and np.allclose(two["efficiency"], 0.625)
    fl = A.sequential_floor(df).set_index("threads")
    assert fl.loc[1, "per_step_s"] == pytest.approx(20e-6)
    assert fl.loc[2, "per_step_s"] == pytest.approx(16e-6)
    assert A.thread_scaling(frame([row("lstm", n, 1e-3) for n in NS])).empty


def test_frontiers_say_why_the_next_point_did_not_run():
    rows = [row("transformer", n, 1e-3) for n in (32, 64, 128)]
    rows += [row("transformer", 256, None, status="oom", error="CUDA out of memory"),
             row("transformer", 512, None, status="skipped")]
    rows += [row("lstm", n, 1e-3) for n in (32, 64, 128, 256)]  # 512 never recorded
    rows += [row("gru", n, 1e-3) for n in (32, 64, 128, 256, 512)]
    rows += [row("big", 32, None, status="timeout")]
    fr = A.frontiers(frame(rows), [32, 64, 128, 256, 512]).set_index("model")
    assert fr.loc["transformer", "largest_ok"] == 128
    assert fr.loc["transformer", "next_status"] == "oom"
    assert fr.loc["transformer", "next_error"] == "CUDA out of memory"
    assert fr.loc["lstm", "next_status"] == "missing" and fr.loc["lstm", "next_n"] == 512
    assert fr.loc["gru", "largest_ok"] == 512 and pd.isna(fr.loc["gru", "next_status"])
    assert math.isnan(fr.loc["big", "largest_ok"]) and fr.loc["big", "next_status"] == "timeout"


def test_missing_points_from_grid():
    rows = [row("lstm", n, 1e-3, batch=b) for n in (32, 64) for b in (1, 8)][:-1]
    grid = {"model": ["lstm"], "seq_len": [32, 64], "batch_size": [1, 8], "threads": [2],
            "name": "ignored"}
    miss = A.missing_points(frame(rows), grid)
    assert miss[["model", "seq_len", "batch_size"]].values.tolist() == [["lstm", 64, 8]]
    assert A.missing_points(frame(rows), {}).empty


# --- clean points only: a contended point rests no fit ------------------------------

def test_a_contended_point_is_kept_out_of_fits_and_crossovers():
    # an exact linear LSTM and quadratic Transformer; one Transformer point doubled by a
    # busy neighbour (and flagged): the fits must see the true laws, not the neighbour
    rows = [row("lstm", n, 1e-4 * n, family="lstm") for n in NS]
    rows += [row("transformer", n, 1e-7 * n * n, family="transformer") for n in NS]
    bad = next(r for r in rows if r["model"] == "transformer" and r["seq_len"] == 2048)
    bad.update(latency_s=bad["latency_s"] * 0.25, contended=True, contention=0.5)
    df = frame(rows)
    assert len(A.ok(df)) == 2 * len(NS) - 1
    assert list(A.contended_points(df)["seq_len"]) == [2048]
    exps = A.exponents(df).set_index("model")
    assert exps.loc["transformer", "k"] == pytest.approx(2.0, abs=1e-9)
    # with the flag ignored, the neighbour's number would bend the curve
    bad["contended"] = False
    assert A.exponents(frame(rows)).set_index("model").loc["transformer", "k"] < 1.9
    # not known (no counter) is not flagged
    bad["contended"] = None
    assert len(A.ok(frame(rows))) == 2 * len(NS)


def test_intervals_take_the_typical_gap_of_the_clean_points_of_a_noise_level():
    rows = []
    # instance floors (seconds; 3 samples each, the floor first): gaps ln(1.02),
    # ln(1.04), and ln(2) at the contended point, which stays out of the typical gap
    for n, floors in ((64, [1.0, 1.02]), (128, [2.08, 2.0, 2.5]), (256, [4.0, 8.0])):
        r = row("lstm", n, min(floors))
        r.update(latency_samples_s=[x * f for x in floors for f in (1.0, 1.01, 1.02)],
                 instance_sizes=[3] * len(floors), contended=(n == 256))
        rows.append(r)
    out = A.intervals(frame(rows)).set_index("point_id")
    # the median of the two clean gaps, counted three times (stats.TYPICAL_GAPS)
    typical = 3 * (math.log(1.02) + math.log(1.04)) / 2
    first = out.loc[rows[0]["point_id"]]
    half = math.log(1.02) + typical
    assert first["ci_low_s"] == pytest.approx(math.exp(-half))
    assert first["ci_high_s"] == pytest.approx(math.exp(half))
    assert first["ci_rel"] == pytest.approx(math.exp(half) - 1)
    second = out.loc[rows[1]["point_id"]]  # the slow third instance does not widen it
    assert second["ci_high_s"] == pytest.approx(2.0 * math.exp(math.log(1.04) + typical))
    third = out.loc[rows[2]["point_id"]]  # contended: its own gap still counts for itself
    assert third["ci_high_s"] == pytest.approx(8.0 * math.exp(typical))
    # an older run's latency_s is the median of its instances: the interval is still
    # the floor's, and measured from it
    rows[0]["latency_s"] = 1.01
    older = A.intervals(frame(rows)).set_index("point_id").loc[rows[0]["point_id"]]
    assert older["ci_rel"] == pytest.approx(math.exp(half) - 1)
