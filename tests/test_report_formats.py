"""Every formatter of report/formats.py on hand-computed values, at the unit boundaries."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from profiler.report.document import Paragraph, Table
from profiler.report.formats import (
    CURVE_COLUMNS,
    column,
    fmt_bandwidth,
    fmt_bytes,
    fmt_exp,
    fmt_flops,
    fmt_intensity,
    fmt_n,
    fmt_pct,
    fmt_pct2,
    fmt_rate,
    fmt_threads,
    fmt_time,
    fmt_x,
    frame_table,
    missing,
)

NAN = float("nan")


@pytest.mark.parametrize("fmt", [fmt_time, fmt_bytes, fmt_rate, fmt_flops, fmt_bandwidth,
                                 fmt_intensity, fmt_exp, fmt_n, fmt_x, fmt_pct, fmt_pct2])
def test_a_value_the_run_does_not_have_is_a_dash(fmt):
    assert fmt(None) == fmt(NAN) == "–"


def test_missing():
    assert missing(None) and missing(NAN) and not missing(0) and not missing("") \
        and not missing(0.0)


@pytest.mark.parametrize("seconds, text", [
    (812e-6, "812 µs"), (0.5e-6, "0.5 µs"), (0.000999, "999 µs"),   # below 1 ms: µs
    (1e-3, "1 ms"), (3.4149e-3, "3.41 ms"), (0.999, "999 ms"),      # 3 significant digits
    (1.0, "1 s"), (1.2749, "1.27 s"), (125.0, "125 s"),
])
def test_fmt_time(seconds, text):
    assert fmt_time(seconds) == text


@pytest.mark.parametrize("n, text", [
    (0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (8192, "8 KiB"),
    (264 * 1024, "264 KiB"), (2 ** 20, "1 MiB"), (16.5 * 2 ** 20, "16.5 MiB"),
    (3 * 2 ** 30, "3 GiB"),
])
def test_fmt_bytes_in_binary_units(n, text):
    assert fmt_bytes(n) == text


@pytest.mark.parametrize("v, text", [(950, "950"), (4300, "4.3k"), (1_234_567, "1.23M")])
def test_fmt_rate(v, text):
    assert fmt_rate(v) == text


@pytest.mark.parametrize("v, text", [
    (500, "500 FLOP/s"), (850e6, "850 MFLOP/s"), (88e9, "88 GFLOP/s"),
    (17.24e9, "17.2 GFLOP/s"), (989e12, "989 TFLOP/s"),
])
def test_fmt_flops_in_decimal_units(v, text):
    assert fmt_flops(v) == text


@pytest.mark.parametrize("v, text", [
    (900, "900 B/s"), (12e9, "12 GB/s"), (22.2e9, "22.2 GB/s"), (3.35e12, "3.35 TB/s"),
    (5e6, "5 MB/s"),
])
def test_fmt_bandwidth_in_decimal_units(v, text):
    assert fmt_bandwidth(v) == text


def test_fmt_intensity():
    assert fmt_intensity(88e9 / 12e9) == "7.33 FLOP/byte"


def test_fmt_exp_with_and_without_its_interval():
    assert fmt_exp(1.0234, 0.987, 1.051) == "1.02 (95% 0.99–1.05)"
    assert fmt_exp(2.0) == "2.00"
    assert fmt_exp(1.5, NAN, 1.7) == "1.50"  # half an interval is no interval
    assert fmt_exp(-1e-4) == "0.00"  # no "-0.00" for a flat curve


def test_fmt_n_counts():
    assert fmt_n(2048) == "2048" and fmt_n(423.6) == "424" and fmt_n(math.inf) == "∞"


def test_ratios_and_percentages():
    assert fmt_x(1.849) == "1.85×" and fmt_x(0.5) == "0.50×"
    assert fmt_pct(0.834) == "83%" and fmt_pct(1.0) == "100%" and fmt_pct(0.004) == "0%"
    # two significant digits below 10%, whole from there up: never "1e+02%"
    assert fmt_pct2(0.008) == "0.8%" and fmt_pct2(0.0236) == "2.4%"
    assert fmt_pct2(0.1196) == "12%" and fmt_pct2(1.0) == "100%" and fmt_pct2(0.0996) == "10%"


def test_fmt_threads():
    assert fmt_threads(1) == "1 thread" and fmt_threads(2.0) == "2 threads"


def test_frame_table_formats_each_row_and_says_when_empty():
    df = pd.DataFrame({"model": ["lstm", "transformer"], "attention": ["default", "math"],
                       "phase": ["inference"] * 2, "device": ["cpu"] * 2,
                       "batch_size": [8, 8], "threads": [2.0, 2.0],
                       "latency_s": [0.00123, None]})
    table = frame_table(df, CURVE_COLUMNS + [column("latency_s", fmt_time)], "Latency:")
    assert isinstance(table, Table) and table.caption == "Latency:"
    assert table.columns == ["model", "phase", "device", "batch", "threads", "latency_s"]
    assert table.rows == [["lstm", "inference", "cpu", "8", "2", "1.23 ms"],
                          ["transformer [math]", "inference", "cpu", "8", "2", ""]]
    empty = frame_table(df.iloc[:0], CURVE_COLUMNS, "Latency:", "none.")
    assert isinstance(empty, Paragraph) and empty.text == "Latency: none."
