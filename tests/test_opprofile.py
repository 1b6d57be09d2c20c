"""Operator categories on real passes of small models, traces, peak FLOP/s, backends."""

import json
import time

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from profiler.measure.opprofile import category_of_name, category_shares, op_table, trace
from profiler.measure.peak import measure_peak
from profiler.measure.point import measure_point
from profiler.measure.timing import TimingConfig
from profiler.models.families import build_model
from profiler.models.steps import make_step
from profiler.records import Point
from profiler.run.grid import expand
from profiler.run.spec import parse_spec


def shares(name, phase, n, attention="default", batch=2):
    torch.set_num_threads(1)
    model = build_model(name, {})
    step = make_step(model, phase, batch, n, "cpu", attention)
    step.setup()
    step.run()  # warm: oneDNN builds primitives on first use
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step.setup()
        step.run()
    ops = op_table(prof)
    return category_shares(ops), ops


def test_names_alone():
    assert category_of_name("aten::_softmax") == "attention"
    assert category_of_name("SoftmaxBackward0") == "attention"
    assert category_of_name("aten::_log_softmax") == "loss"
    assert category_of_name("aten::mkldnn_rnn_layer_backward") == "recurrent"
    assert category_of_name("autograd::engine::evaluate_function: AddmmBackward0") \
        == "projection_ff"
    assert category_of_name("aten::native_layer_norm") == "normalization"
    assert category_of_name("NativeLayerNormBackward0") == "normalization"
    assert category_of_name("aten::t") == "data_movement"
    assert category_of_name("aten::tanh") == "elementwise"  # not caught by "aten::t"
    assert category_of_name("Optimizer.step#Adam.step") == "optimizer"
    assert category_of_name("aten::empty") is None


def test_lstm_time_is_the_recurrent_kernel():
    s, ops = shares("lstm", "inference", 256)
    assert max(s, key=s.get) == "recurrent" and s["recurrent"] > 0.5
    assert s["attention"] == 0.0
    assert abs(sum(s.values()) - 1) < 1e-9


def test_transformer_attention_share_grows_with_n():
    # math SDPA makes the n x n work explicit: its share must grow from n=32 to n=1024
    small, _ = shares("transformer", "inference", 32, "math")
    large, ops = shares("transformer", "inference", 1024, "math")
    assert large["attention"] > small["attention"] + 0.1
    # the bmm/softmax inside SDPA are attention, not projections (outermost-op rule)
    assert {r["category"] for r in ops if r["name"] == "aten::bmm"} == {"attention"}
    assert large["other"] < 0.05


def test_train_step_categories_cover_the_step():
    s, ops = shares("transformer", "train_step", 128)
    for category in ("attention", "projection_ff", "normalization", "optimizer", "loss"):
        assert s[category] > 0, category
    assert s["other"] < 0.05


def test_trace_is_chrome_json_with_the_kernels(tmp_path):
    model = build_model("lstm", {"hidden": 16})
    step = make_step(model, "inference", 2, 32, "cpu")
    path = tmp_path / "t.json"
    ops = trace(step.run, step.setup, "cpu", path, wait=1, warmup=1, active=2)
    data = json.loads(path.read_text())
    names = [e.get("name", "") for e in data["traceEvents"]]
    assert sum(n.startswith("ProfilerStep#") for n in names) == 2  # the active steps only
    assert any("mkldnn_rnn_layer" in n or "aten::lstm" in n for n in names)
    assert any(r["category"] == "recurrent" for r in ops)


def test_peak_flops_positive_and_plausible():
    t0 = time.perf_counter()
    peak = measure_peak("cpu", "float32", 1, n=256,
                        cfg=TimingConfig(warmup_s=0.05, min_time_s=0.1, max_time_s=0.5))
    wall_s = time.perf_counter() - t0
    # the matmul and the copy each sample at least 0.1 s, nearly all of it in timed
    # blocks; their timed samples are part of the call's time, never more
    assert 0.15 < peak["measured_s"] < wall_s
    assert "copy_measured_s" not in peak
    # an n x n x n matmul is n^3 multiply-adds: 2 * 256^3 FLOPs per call, by hand
    assert peak["flops_per_s"] * peak["latency_s"] == pytest.approx(2 * 256**3, rel=1e-9)
    # a 2-core laptop does ~1e10; no CPU core does 1e13 fp32
    assert 1e8 < peak["flops_per_s"] < 1e13
    assert peak["matmul_n"] == 256 and peak["samples"] >= 3
    assert peak["datasheet_flops_per_s"] is None  # no datasheet for a CPU


@pytest.mark.parametrize("attention", ["efficient", "cudnn"])
def test_missing_backend_is_skipped_not_a_crash(attention):
    if torch.cuda.is_available():
        pytest.skip("these backends may exist on CUDA")
    row = measure_point(Point("transformer", 32, 1, "cpu", "float32", 1, "inference",
                              attention), {}, TimingConfig())
    assert row["status"] == "skipped"
    assert row["error"] == f"attention backend {attention!r} does not exist on cpu"


def test_cpu_backends_run_and_are_recorded():
    cfg = TimingConfig(warmup_s=0.0, min_time_s=0.02, max_time_s=0.1)
    rows = {a: measure_point(Point("transformer", 64, 1, "cpu", "float32", 1, "inference", a),
                             {}, cfg) for a in ("math", "flash")}
    assert rows["math"]["attention_kernel"] == "sdpa-math"
    assert rows["flash"]["attention_kernel"] == "sdpa-flash-cpu"


def test_attention_axis_not_applied_to_recurrent_models():
    spec = parse_spec("[grid]\nmodel=['lstm','transformer']\nseq_len=[8]\n"
                      "attention=['default','math','flash']\n")
    got = sorted((p.model, p.attention) for p in expand(spec))
    assert got == [("lstm", "default"), ("transformer", "default"), ("transformer", "flash"),
                   ("transformer", "math")]


def _reference_table(prof):
    """op_table the slow way, from torch's FunctionEvent tree: (name, category) ->
    (calls, self seconds), the category of the outermost categorised ancestor."""
    table = {}
    for ev in prof.events():
        if ev.name == "[memory]":
            continue
        category, node = None, ev
        while node is not None:
            category = category_of_name(node.name) or category
            node = node.cpu_parent
        calls, self_s = table.get((ev.name, category or "other"), (0, 0.0))
        table[(ev.name, category or "other")] = (calls + 1,
                                                 self_s + ev.self_cpu_time_total * 1e-6)
    return table


@pytest.mark.parametrize("name", ["mingru", "transformer", "lstm"])
def test_the_cpu_op_table_from_raw_events_matches_torchs_event_tree(name):
    torch.set_num_threads(1)
    model = build_model(name, {})
    step = make_step(model, "train_step", 2, 64, "cpu", "default")
    step.setup()
    step.run()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step.setup()
        step.run()
    fast = {(r["name"], r["category"]): (r["calls"], r["self_cpu_s"]) for r in op_table(prof)}
    slow = _reference_table(prof)
    assert fast.keys() == slow.keys() and len(fast) > 20
    for key, (calls, self_s) in slow.items():
        assert fast[key][0] == calls, key
        assert fast[key][1] == pytest.approx(self_s, abs=2e-6), key  # µs rounding
