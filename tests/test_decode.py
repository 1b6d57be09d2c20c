"""The decode phase: correct incremental outputs, and the state each family carries."""

import pytest
import torch

from profiler.measure.point import measure_point
from profiler.measure.timing import TimingConfig
from profiler.models.families import build_model
from profiler.models.steps import make_step
from profiler.records import Point


@pytest.mark.parametrize("name, hyper", [
    ("lstm", {"hidden": 16}), ("gru", {"hidden": 16}),
    ("transformer", {"d_model": 32, "heads": 4, "causal": True}),
    ("transformer", {"d_model": 32, "heads": 4, "causal": True, "positions": "learned",
                     "max_len": 64}),
])
def test_decode_step_equals_full_causal_forward(name, hyper):
    torch.manual_seed(0)
    model = build_model(name, hyper).eval()
    tokens = torch.randint(0, 256, (3, 21))
    with torch.no_grad():
        full = model(tokens)[:, -1]  # (B, V): last position of the whole sequence
        state = model.decode_init(tokens[:, :20])
        step = model.decode_step(tokens[:, 20:], state)[:, 0]
    torch.testing.assert_close(step, full, rtol=1e-4, atol=1e-5)


def state_bytes(name, n, batch=2):
    model = build_model(name, {"hidden": 16} if name == "lstm" else {"d_model": 32})
    return make_step(model, "decode", batch, n, "cpu").state_bytes


def test_lstm_state_is_constant_in_n():
    # (h, c), each (layers=2, B=2, H=16) float32
    assert {state_bytes("lstm", n) for n in (8, 64, 512)} == {2 * 2 * 2 * 16 * 4}


def test_kv_cache_grows_linearly_in_n():
    # K and V per layer: (B=2, heads=4, n+1, 8) float32 -> 2 * layers * B * (n+1) * d * 4
    for n in (8, 64, 512):
        assert state_bytes("transformer", n) == 2 * 2 * 2 * (n + 1) * 32 * 4


def test_decode_records():
    cfg = TimingConfig(warmup_s=0.0, min_time_s=0.02, max_time_s=0.1)
    rows = {m: measure_point(Point(m, 128, 2, "cpu", "float32", 1, "decode"), {}, cfg)
            for m in ("lstm", "transformer")}
    for row in rows.values():
        assert row["status"] == "ok", row["error"]
        assert row["tokens_per_s"] == pytest.approx(2 / row["latency_s"])  # B tokens a call
        assert row["state_bytes"] > 0 and row["flops"] > 0
    model = build_model("transformer", {})
    assert rows["transformer"]["flops"] == model.decode_flops(2, 128)
    # the attention term of one token is linear in the context
    assert model.decode_flops(2, 1000) - model.decode_flops(2, 500) == 2 * 4 * 2 * 500 * 64


def test_model_without_decode_is_skipped(in_repo):
    row = measure_point(Point("mine", 16, 1, "cpu", "float32", 1, "decode"),
                        {"factory": "tests.fake_models:broken", "at": 999}, TimingConfig())
    assert row["status"] == "skipped" and row["error"].startswith("not supported")
