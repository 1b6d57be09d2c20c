"""Bytes moved (the models' lower bound), the phase multipliers, the copy-bandwidth
reference and the roofline classification: formulas by hand on tiny configs, hand-made
records, and one small real measurement."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from torch import nn

from profiler.analyze import operators as O
from profiler.analyze.tables import records_frame
from profiler.measure.envinfo import last_level_cache_bytes
from profiler.measure.peak import copy_size, datasheet_bandwidth, measure_peak
from profiler.measure.point import measure_point
from profiler.measure.timing import TimingConfig
from profiler.models.families import build_model, count_params
from profiler.models.steps import ADAM_TENSOR_PASSES, phase_bytes
from profiler.records import Point, result_row

S = 4  # fp32 bytes
B, N, D, V = 1, 4, 8, 16  # tiny config: batch, seq_len, width, vocab


def test_lstm_bytes_by_hand():
    model = build_model("lstm", {"hidden": D, "layers": 1, "vocab": V})
    # parameters: embedding V·D, W_ih and W_hh 4D×D, two biases 4D, head D·V + V
    table, dense = V * D, 2 * 4 * D * D + 2 * 4 * D + D * V + V
    assert count_params(model) == table + dense == 848
    weights = dense + B * N * D  # the embedding's looked-up rows only: 4 rows of 8
    ids = 8 * B * N  # int64 token ids
    # per position: embedding writes D; the layer reads D, writes D; head reads D, writes V
    per_position = D + (D + D) + (D + V)
    assert model.bytes_moved(B, N, S) == S * weights + ids + S * B * N * per_position == 3808


def _transformer(**kw):
    return build_model("transformer", {"d_model": D, "heads": 2, "layers": 1, "ff": 16,
                                       "vocab": V, **kw})


def test_transformer_bytes_by_hand_flash_and_math():
    model, ff, heads = _transformer(), 16, 2
    assert count_params(model) == 888
    # each op reads its inputs and writes its output once: (name, read, write) per position
    ops = [("norm1", D, D), ("qkv", D, 3 * D), ("attention", 3 * D, D), ("proj", D, D),
           ("add", 2 * D, D), ("norm2", D, D), ("ff1", D, ff), ("gelu", ff, ff),
           ("ff2", ff, D), ("add", 2 * D, D),
           ("embedding", 0, D), ("positions add", 2 * D, D), ("norm", D, D), ("head", D, V)]
    per_position = sum(r + w for _, r, w in ops)
    assert per_position == 312
    # weights but the token table, + its 4 looked-up rows, + the (n, d) position table
    weights = 888 - V * D + B * N * D + N * D
    flash = S * weights + 8 * B * N + S * B * N * per_position
    assert model.bytes_moved(B, N, S, "flash") == flash == 8320
    # math: S and P, (B, heads, n, n) each, written once and read once
    n2 = 4 * B * heads * N * N
    assert model.bytes_moved(B, N, S, "math") - flash == S * n2 == 512
    assert model.bytes_moved(B, N, S, "sdpa-flash-cpu") == flash  # only "math" adds n²


def test_learned_positions_read_only_their_rows():
    sinus, learned = _transformer(), _transformer(positions="learned", max_len=1000)
    assert count_params(learned) - count_params(sinus) == 1000 * D
    # the 1000-row table is not read whole: the same traffic as the sinusoidal table
    assert learned.bytes_moved(B, N, S) == sinus.bytes_moved(B, N, S)


def test_intensity_grows_with_n_for_the_transformer_not_the_lstm():
    lstm, trf = build_model("lstm", {}), build_model("transformer", {})

    def marginal(m, n, kernel="flash"):  # FLOP/byte of the tokens added from n to 2n
        return ((m.flops(8, 2 * n) - m.flops(8, n))
                / (m.bytes_moved(8, 2 * n, S, kernel) - m.bytes_moved(8, n, S, kernel)))

    # LSTM: per token the same FLOPs and the same bytes at every n
    assert marginal(lstm, 256) == pytest.approx(marginal(lstm, 4096), rel=1e-12)
    whole = [lstm.flops(8, n) / lstm.bytes_moved(8, n, S) for n in (1024, 4096)]
    assert whole[1] / whole[0] < 1.02  # weights amortised already: flat
    # Transformer (flash): bytes ∝ n, FLOPs gain 4·B·n²·d: intensity keeps growing
    assert marginal(trf, 4096) > 4 * marginal(trf, 256)
    t = [trf.flops(8, n) / trf.bytes_moved(8, n, S) for n in (1024, 4096)]
    assert t[1] / t[0] > 1.5
    # math: the n×n scores cap the intensity at d_head / dtype_bytes = 16 / 4 = 4 FLOP/byte
    assert marginal(trf, 1 << 16, "math") == pytest.approx(4.0, rel=0.02)


def test_decode_bytes_state_vs_kv_cache():
    lstm, trf = build_model("lstm", {}), build_model("transformer", {})
    assert lstm.decode_bytes(8, 4096, S) == lstm.decode_bytes(8, 16, S)  # (h, c): no n term
    assert lstm.decode_bytes(8, 16, S) - lstm.bytes_moved(8, 1, S) == S * 2 * 2 * 8 * 64
    # one more cached position: K and V of d each, per layer and sequence
    assert trf.decode_bytes(8, 101, S) - trf.decode_bytes(8, 100, S) == S * 2 * 2 * 8 * 64


def test_phase_bytes_multipliers():
    model = _transformer()
    fwd = model.bytes_moved(2, 8, S, "math")
    assert phase_bytes(model, "inference", 2, 8, S, "math") == fwd
    assert phase_bytes(model, "backward", 2, 8, S, "math") == 2 * fwd
    # Adam: read p, g, m, v and write p, m, v for each of the 888 parameters
    assert ADAM_TENSOR_PASSES == 7
    assert phase_bytes(model, "train_step", 2, 8, S, "math") == 3 * fwd + 7 * 888 * S
    assert phase_bytes(model, "decode", 2, 8, S, None) == model.decode_bytes(2, 8, S)
    assert phase_bytes(nn.Linear(2, 2), "inference", 2, 8, S, None) is None  # no formula


def test_measured_record_has_bytes_and_the_math_n2_term():
    cfg = TimingConfig(warmup_s=0.0, min_time_s=0.02, max_time_s=0.1)
    section = {"d_model": 32, "heads": 2, "layers": 1, "ff": 64}
    rows = {a: measure_point(Point("transformer", 32, 1, "cpu", "float32", 1, "inference", a),
                             section, cfg) for a in ("math", "flash")}
    assert rows["math"]["bytes_moved"] - rows["flash"]["bytes_moved"] == S * 4 * 1 * 2 * 32**2
    for r in rows.values():
        assert r["arithmetic_intensity"] == r["flops"] / r["bytes_moved"]


def test_copy_bandwidth_positive_and_plausible():
    peak = measure_peak("cpu", "float32", 1, n=128, copy_bytes=32 << 20,
                        cfg=TimingConfig(warmup_s=0.05, min_time_s=0.1, max_time_s=0.4))
    assert peak["copy_bytes"] == 32 << 20
    # a copy reads the buffer and writes it: 2 * 32 MiB per call, by hand
    assert peak["bandwidth_bytes_per_s"] * peak["copy_latency_s"] == \
        pytest.approx(2 * (32 << 20), rel=1e-9)
    # DRAM of any CPU moves between ~1 GB/s and ~1 TB/s; a cached copy stays below 1e13
    assert 1e8 < peak["bandwidth_bytes_per_s"] < 1e13
    assert peak["datasheet_bandwidth_bytes_per_s"] is None
    assert datasheet_bandwidth("NVIDIA H100 80GB HBM3") == 3.35e12
    assert datasheet_bandwidth("NVIDIA H100 PCIe") == 2.0e12
    assert datasheet_bandwidth("NVIDIA H200") == 4.8e12
    assert datasheet_bandwidth("NVIDIA A100-SXM4-80GB") == 2.0e12


# peak 100 GFLOP/s, bandwidth 10 GB/s: machine balance 10 FLOP/byte
PEAK, BW = 100e9, 10e9


@pytest.mark.parametrize("intensity, achieved, bound, roof, cls", [
    (2.0, 15e9, 20e9, "memory", "memory-bound"),  # 75% of 2 × 10 GB/s
    (50.0, 60e9, 100e9, "compute", "compute-bound"),
    (10.0, 50e9, 100e9, "compute", "compute-bound"),  # at the balance: not below it
    (50.0, 5e9, 100e9, "compute", "latency-bound"),  # 5% of the roof
    (2.0, 1.9e9, 20e9, "memory", "latency-bound"),  # 9.5% of the memory roof
])
def test_roofline_class_by_hand(intensity, achieved, bound, roof, cls):
    assert O.roofline_bound(intensity, achieved, PEAK, BW) == (pytest.approx(bound), roof, cls)


def _row(model, seq_len, flops_per_s, intensity, threads=2):
    point = Point(model=model, seq_len=seq_len, batch_size=1, device="cpu", dtype="float32",
                  threads=threads, phase="inference")
    return result_row(point, status="ok", family=model, latency_s=1.0, flops=flops_per_s,
                      flops_per_s=flops_per_s,
                      bytes_moved=None if intensity is None else flops_per_s / intensity,
                      arithmetic_intensity=intensity)


def test_roofline_table_matches_peaks_and_skips_old_records():
    df = records_frame([_row("lstm", 64, 2e9, 40.0), _row("transformer", 64, 15e9, 2.0),
                        _row("transformer", 128, 60e9, 50.0),
                        _row("old", 64, 9e9, None),  # recorded before bytes_moved
                        _row("lstm", 64, 2e9, 40.0, threads=1)])
    peaks = [{"device": "cpu", "dtype": "float32", "threads": 2, "flops_per_s": PEAK,
              "bandwidth_bytes_per_s": BW},
             {"device": "cpu", "dtype": "float32", "threads": 1, "flops_per_s": PEAK}]
    roof = O.roofline(df, peaks).set_index(["model", "seq_len", "threads"])
    assert "old" not in roof.index.get_level_values("model")
    lstm = roof.loc[("lstm", 64, 2)]
    assert lstm["bound"] == "latency-bound" and lstm["roofline_fraction"] == pytest.approx(0.02)
    assert lstm["machine_balance"] == pytest.approx(10.0)
    assert roof.loc[("transformer", 64, 2), "bound"] == "memory-bound"
    assert roof.loc[("transformer", 128, 2), "bound"] == "compute-bound"
    # a peak.json entry from before the bandwidth: intensity kept, no class
    one = roof.loc[("lstm", 64, 1)]
    assert pd.isna(one["bound"]) and math.isnan(one["roofline_flops_per_s"])
    assert one["arithmetic_intensity"] == 40.0
    assert O.roofline(df, [])["bound"].isna().all()


def _cache(root, cpu: int, index: int, level: int, kind: str, size: str, shared: str):
    d = root / f"cpu{cpu}" / "cache" / f"index{index}"
    d.mkdir(parents=True)
    for name, text in (("level", f"{level}\n"), ("type", f"{kind}\n"), ("size", f"{size}\n"),
                       ("shared_cpu_list", f"{shared}\n")):
        (d / name).write_text(text)


def test_last_level_caches_are_summed_once_each(tmp_path):
    # two sockets of two cores: private L1s and L2s, one 32 MiB L3 per socket
    for cpu in range(4):
        _cache(tmp_path, cpu, 0, 1, "Data", "32K", str(cpu))
        _cache(tmp_path, cpu, 1, 1, "Instruction", "32K", str(cpu))
        _cache(tmp_path, cpu, 2, 2, "Unified", "1024K", str(cpu))
        _cache(tmp_path, cpu, 3, 3, "Unified", "32768K", "0-1" if cpu < 2 else "2-3")
    assert last_level_cache_bytes(tmp_path) == 2 * (32 << 20)
    assert last_level_cache_bytes(tmp_path / "absent") is None


def test_copy_buffers_are_four_times_the_last_level_caches():
    assert copy_size("cpu", llc_bytes=32 << 20) == 128 << 20
    assert copy_size("cpu", llc_bytes=4 << 20) == 64 << 20  # at least 64 MiB
    assert copy_size("cpu", llc_bytes=1 << 30) == 1 << 30  # at most 1 GiB
    assert copy_size("cuda:0", llc_bytes=32 << 20) == 2 << 30
