"""Operator shares, efficiency against the matmul peak, top operators and the attention
backend comparison, on the saved synthetic run (tests/data/run_small) and small hand-made
records; no measuring."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from profiler.analyze import operators as O
from profiler.analyze.tables import records_frame
from profiler.records import Point, result_row
from profiler.run.store import load_peaks, load_results, load_traces

RUN = Path(__file__).parent / "data" / "run_small"
REF = {"device": "cpu", "phase": "inference", "batch_size": 8, "threads": 2,
       "dtype": "float32"}


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    return records_frame(load_results(RUN))


def _curve(df, model, phase="inference", batch=8, threads=2):
    return df[(df["model"] == model) & (df["phase"] == phase) & (df["batch_size"] == batch)
              & (df["threads"] == threads)]


def test_shares_sum_to_one_and_attention_grows_with_n(records):
    shares = O.time_shares(records)
    assert set(shares["clock"]) == {"self_cpu_s"}  # a CPU run has no device time
    per_point = shares.groupby(O.A.SERIES + ["seq_len"])["share"].sum()
    assert len(per_point) == (records["status"] == "ok").sum()
    assert per_point.to_numpy() == pytest.approx(1.0)
    attn = _curve(shares, "transformer").query("category == 'attention'").sort_values("seq_len")
    assert attn["share"].is_monotonic_increasing
    assert attn["share"].iloc[0] < 0.15 and attn["share"].iloc[-1] > 0.6
    rec = _curve(shares, "lstm").query("category == 'recurrent'")["share"]
    assert rec.min() > 0.6 and rec.max() - rec.min() < 0.2  # flat: the recurrence is all of it
    assert _curve(shares, "lstm").query("category == 'attention'")["share"].max() == 0


def test_shares_use_device_time_when_there_is_some():
    ops = [{"name": "aten::mm", "category": "projection_ff", "calls": 1, "self_cpu_s": 9.0,
            "self_device_s": 1.0},
           {"name": "aten::_flash_attention_forward", "category": "attention", "calls": 1,
            "self_cpu_s": 1.0, "self_device_s": 3.0},
           {"name": "ProfilerStep#2", "category": "other", "calls": 1, "self_cpu_s": 50.0,
            "self_device_s": 0.0},
           {"name": "aten::new_op", "category": "a_future_category", "calls": 1,
            "self_cpu_s": 0.0, "self_device_s": 0.0}]
    shares, total, clock = O.shares_of(ops)
    assert clock == "self_device_s" and total == 4.0
    assert shares["attention"] == 0.75 and shares["projection_ff"] == 0.25
    cpu_only = [{**o, "self_device_s": 0.0} for o in ops]
    shares, total, clock = O.shares_of(cpu_only)
    assert clock == "self_cpu_s" and total == 10.0  # the step marker is not an operator
    assert shares["projection_ff"] == 0.9


def test_percent_of_peak_by_hand(records):
    eff = O.efficiency(records, load_peaks(RUN))
    row = _curve(eff, "transformer").query("seq_len == 1024").iloc[0]
    rec = _curve(records, "transformer").query("seq_len == 1024").iloc[0]
    by_hand = rec["flops"] / rec["latency_s"] / 88e9  # peak.json: 88 GFLOP/s at 2 threads
    assert row["peak_fraction"] == pytest.approx(by_hand, rel=1e-12)
    assert row["peak_flops_per_s"] == 88e9 and math.isnan(row["datasheet_fraction"])
    one = _curve(eff, "lstm", threads=1).query("seq_len == 256").iloc[0]
    assert one["peak_flops_per_s"] == 45e9  # matched on threads, not just the device
    assert (eff["peak_fraction"] < 1).all() and (eff["peak_fraction"] > 0).all()


def _row(device="cpu", threads=2, flops_per_s=22e9, **kw):
    point = Point(model="m", seq_len=64, batch_size=1, device=device, dtype="float32",
                  threads=threads, phase="inference", **kw)
    return result_row(point, status="ok", family="transformer", latency_s=1.0,
                      flops=flops_per_s, flops_per_s=flops_per_s)


def test_efficiency_matching_and_datasheet():
    peaks = [{"device": "cpu", "dtype": "float32", "threads": 2, "flops_per_s": 88e9,
              "matmul_n": 1024},
             {"device": "cpu", "dtype": "float32", "threads": 1, "error": "timeout: 60 s"},
             {"device": "cuda", "dtype": "float32", "threads": 8, "flops_per_s": 50e9,
              "matmul_n": 8192, "datasheet_flops_per_s": 67e12 / 1000}]
    df = records_frame([_row(), _row(threads=1), _row("cuda", threads=2, flops_per_s=10e9)])
    eff = O.efficiency(df, peaks).set_index(["device", "threads"])
    assert eff.loc[("cpu", 2), "peak_fraction"] == pytest.approx(0.25)
    assert math.isnan(eff.loc[("cpu", 1), "peak_fraction"])  # its peak failed: no figure
    # a GPU matmul does not depend on host threads: the cuda peak at 8 threads applies
    assert eff.loc[("cuda", 2), "peak_fraction"] == pytest.approx(0.2)
    assert eff.loc[("cuda", 2), "datasheet_fraction"] == pytest.approx(10e9 / 67e9)
    assert O.efficiency(df, []).loc[:, "peak_fraction"].isna().all()


def test_top_operators_prefer_the_trace_per_step(records):
    traces = load_traces(RUN)
    top = O.top_operators(records, traces, REF, k=3)
    assert list(top["model"].unique()) == ["lstm", "transformer"]
    assert (top.groupby("model")["rank"].max() == 3).all()
    assert set(top["seq_len"]) == {2048} and set(top["batch_size"]) == {8}
    trf = top[top["model"] == "transformer"].iloc[0]
    assert trf["source"].startswith("trace transformer_inference_n2048_b8_cpu_float32_t2")
    assert trf["name"] == "aten::_scaled_dot_product_flash_attention_for_cpu"
    assert "ProfilerStep*" not in set(top["name"])
    # the trace covers 2 steps: per step, it equals the record's own one-step pass
    rec = _curve(records, "transformer").query("seq_len == 2048").iloc[0]
    own = {o["name"]: o for o in rec["ops"]}[trf["name"]]
    assert trf["self_s"] == pytest.approx(own["self_cpu_s"], rel=1e-6)
    assert trf["calls"] == own["calls"]
    alone = O.top_operators(records, [], REF, k=3)
    assert set(alone["source"]) == {"profiled pass (1 step)"}
    assert alone["self_s"].tolist() == pytest.approx(top["self_s"].tolist(), rel=1e-6)


def test_runs_without_ops_give_empty_tables(records):
    old = records.assign(ops=None)
    assert O.time_shares(old).empty and list(O.time_shares(old)) == O.SHARE_COLUMNS
    assert O.top_operators(old, load_traces(RUN), REF).empty


def _stall_rows() -> list[dict]:
    """Points whose profiled pass's operators add up to ``ops_s`` against a typical call
    of ``typical_s``: a 100 ms step stalled to 200 ms, a 2 ms step at twice its call
    (the profiler's own cost), a 100 ms step at 1.2x, and a backward (its pass holds
    the forward too)."""
    rows = []
    for n, phase, typical_s, ops_s in ((512, "inference", 0.1, 0.2),
                                       (32, "inference", 0.002, 0.004),
                                       (1024, "inference", 0.1, 0.12),
                                       (512, "backward", 0.1, 0.3)):
        point = Point(model="lstm", seq_len=n, batch_size=8, device="cpu", dtype="float32",
                      threads=2, phase=phase)
        ops = [{"name": "aten::mkldnn_rnn_layer", "category": "recurrent", "calls": 1,
                "self_cpu_s": ops_s * 0.75, "self_device_s": 0.0},
               {"name": "aten::_log_softmax", "category": "loss", "calls": 1,
                "self_cpu_s": ops_s * 0.25, "self_device_s": 0.0}]
        rows.append(result_row(point, status="ok", family="lstm", latency_s=typical_s * 0.9,
                               latency_median_s=typical_s, ops=ops))
    return rows


def test_a_stalled_profiled_pass_is_told_from_the_profilers_own_cost():
    from profiler.report import time_breakdown as T

    shares = O.time_shares(records_frame(_stall_rows()))
    by_point = shares.drop_duplicates(["phase", "seq_len"]).set_index(["phase", "seq_len"])
    assert by_point["pass_ratio"].to_dict() == pytest.approx(
        {("inference", 512): 2.0, ("inference", 32): 2.0, ("inference", 1024): 1.2,
         ("backward", 512): math.nan}, nan_ok=True)
    assert by_point["pass_stalled"].to_dict() == {
        ("inference", 512): True, ("inference", 32): False, ("inference", 1024): False,
        ("backward", 512): False}
    (line,) = T.stalled_sentence(shares)
    assert line.startswith("Hatched: the profiled pass of 1 point(s) took more than 1.3 "
                           "times their typical call")
    assert line.endswith(": lstm inference n=512 B=8 (2.0×).")
    fig = T.plot_time_shares(shares)
    assert "pass stalled (> 1.3 calls)" in [t.get_text() for t in fig.legends[0].get_texts()]
    hatched = [p for ax in fig.axes for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 1
    assert T.stalled_sentence(shares[shares["seq_len"] != 512]) == []


def _backend_rows() -> list[dict]:
    """math SDPA keeps the n×n scores (memory ∝ n²), flash does not (∝ n); one skipped."""
    rows = []
    for attention in ("math", "flash", "efficient"):
        for n in (256, 512, 1024, 2048):
            point = Point(model="transformer", seq_len=n, batch_size=4, device="cpu",
                          dtype="float32", threads=2, phase="inference", attention=attention)
            if attention == "efficient":
                rows.append(result_row(point, status="skipped",
                                       error="attention backend 'efficient' does not exist on cpu"))
                continue
            mem = 64 * n * n * 16 if attention == "math" else 64 * n * 1024
            rows.append(result_row(point, status="ok", family="transformer",
                                   latency_s=1e-7 * n * n * (1.2 if attention == "math" else 1),
                                   peak_memory_bytes=mem))
    return rows


def test_backend_comparison_memory_exponents():
    df = records_frame(_backend_rows())
    back = O.backend_comparison(df).set_index("attention")
    assert list(back.index) == ["flash", "math"]
    assert back.loc["math", "k_memory"] == pytest.approx(2.0)
    assert back.loc["flash", "k_memory"] == pytest.approx(1.0)
    assert back.loc["math", "k_latency"] == pytest.approx(2.0)
    assert (back["n_common"] == 2048).all()
    assert back.loc["math", "peak_memory_bytes"] == 64 * 2048 * 2048 * 16
    skipped = O.skipped_backends(df)
    assert skipped[["attention", "error"]].values.tolist() == [
        ["efficient", "attention backend 'efficient' does not exist on cpu"]]
    assert O.backend_comparison(df[df["attention"] == "flash"]).empty


def write_backend_run(run: Path) -> Path:
    """A run directory holding only the backend rows (for the report test)."""
    run.mkdir(parents=True)
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _backend_rows()))
    return run
