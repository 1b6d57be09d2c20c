"""FLOPs for any model: the formulas registered for kernels FlopCounterMode cannot see,
causal attention counted as the kernel runs it, and where each record's count came from."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from profiler.measure import flops as flops_module
from profiler.measure.flops import causal_pairs, count_point, counted
from profiler.measure.point import measure_point
from profiler.measure.timing import TimingConfig
from profiler.models.families import build_model
from profiler.models.steps import make_step
from profiler.records import RESULT_FIELDS, Point
from tests.user_models import causal_attention, gru_lm, lstm_lm

FAST = TimingConfig(warmup_s=0.0, min_time_s=0.02, max_time_s=0.1)


def plain_counter(fn, formulas=None) -> tuple[int, set[str]]:
    """torch's FlopCounterMode (alone, or with ``formulas``), and the ops it charged."""
    with FlopCounterMode(display=False, custom_mapping=formulas or {}) as counter:
        fn()
    return counter.get_total_flops(), {str(k) for k in counter.get_flop_counts()["Global"]}


def rnn_flops(gates, embed, hidden, layers, directions, B, n) -> int:
    """Per layer and direction 2·n·B·G·H·(I + H), I = the layer's input width."""
    total = 0
    for layer in range(layers):
        inputs = embed if layer == 0 else hidden * directions
        total += directions * 2 * n * B * gates * hidden * (inputs + hidden)
    return total


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_onednn_lstm_is_counted_like_the_native_cell(bidirectional, batch_first):
    model = lstm_lm(embed=10, hidden=16, layers=2, vocab=32, bidirectional=bidirectional,
                    batch_first=batch_first).eval()
    tokens = torch.randint(0, 32, (3, 19))
    with torch.no_grad():
        seen, _ = plain_counter(lambda: model(tokens))  # oneDNN's layer: 0 without ours
        ours, ops = plain_counter(lambda: model(tokens), flops_module.FORMULAS)
        assert "aten.mkldnn_rnn_layer" in ops  # oneDNN ran and was charged
        assert ours == counted(lambda: model(tokens))
        with torch.backends.mkldnn.flags(enabled=False):  # the native cell: mm/addmm it knows
            native, native_ops = plain_counter(lambda: model(tokens))
    directions = 2 if bidirectional else 1
    head = 2 * 3 * 19 * (16 * directions) * 32  # (B·n, H·directions) x (H·directions, V)
    assert seen == head  # without the formula only the head is seen
    assert "aten.addmm" in native_ops
    assert ours == native == head + rnn_flops(4, 10, 16, 2, directions, 3, 19)


def test_gru_is_counted_with_three_gates():
    model = gru_lm(embed=10, hidden=16, layers=2, vocab=32).eval()
    tokens = torch.randint(0, 32, (2, 11))
    with torch.no_grad():
        with torch.backends.mkldnn.flags(enabled=False):
            native, _ = plain_counter(lambda: model(tokens))
        ours = counted(lambda: model(tokens))
    assert ours == native == 2 * 2 * 11 * 16 * 32 + rnn_flops(3, 10, 16, 2, 1, 2, 11)


@pytest.mark.parametrize("n_q, n_k", [(1, 1), (5, 5), (33, 33), (3, 8), (8, 3)])
def test_causal_pairs_by_brute_force(n_q, n_k):
    mask = torch.ones(n_q, n_k, dtype=torch.bool).tril()  # SDPA's is_causal mask
    assert causal_pairs(n_q, n_k) == int(mask.sum())


def test_causal_flash_counts_the_pairs_it_visits():
    model = causal_attention(d=16, heads=2, vocab=32).eval()
    tokens = torch.randint(0, 32, (2, 33))
    with torch.no_grad():
        flash = counted(lambda: model(tokens))  # CPU flash kernel, causal
        with sdpa_kernel(SDPBackend.MATH):
            math = counted(lambda: model(tokens))  # all n² pairs, masked afterwards
    linear = 2 * 2 * 33 * 16 * 48 + 2 * 2 * 33 * 16 * 32  # qkv and head
    # QKᵀ and PV: 2·B·heads·pairs·(d_qk + d_v), d = 8 per head
    assert math == linear + 2 * 2 * 2 * 33 * 33 * (8 + 8)
    assert flash == linear + 2 * 2 * 2 * (33 * 34 // 2) * (8 + 8)


@pytest.mark.parametrize("causal", [False, True])
def test_transformer_analytic_count_follows_the_kernel(causal):
    model = build_model("transformer", {"d_model": 32, "heads": 4, "layers": 2, "ff": 48,
                                        "vocab": 50, "causal": causal}).eval()
    tokens = torch.randint(0, 50, (2, 33))
    with torch.no_grad():
        flash = counted(lambda: model(tokens))
        with sdpa_kernel(SDPBackend.MATH):
            math, _ = plain_counter(lambda: model(tokens))  # torch's own formulas only
    assert model.flops(2, 33, attention_kernel="math") == math
    assert model.flops(2, 33) == model.flops(2, 33, attention_kernel="flash") == flash
    pairs = 33 * 34 // 2 if causal else 33 * 33
    assert math - flash == 2 * 4 * 2 * (33 * 33 - pairs) * 32  # layers · 4·B·d per pair


def test_count_point_sources(in_repo, monkeypatch):
    point = Point("x", 16, 2, "cpu", "float32", 1, "train_step")
    builtin = build_model("lstm", {"hidden": 8})
    step = make_step(builtin, "train_step", 2, 16, "cpu")
    assert count_point(builtin, point, step, "flash") == (3 * builtin.flops(2, 16),
                                                          "analytic", None)
    user = lstm_lm()
    flops, source, note = count_point(user, point, make_step(user, "train_step", 2, 16, "cpu"),
                                      "flash")
    one_forward = counted(lambda: user(torch.randint(0, 32, (2, 16))))
    assert (flops, source, note) == (3 * one_forward, "counted", None)
    embedding_only = build_model("m", {"factory": "tests.fake_models:broken", "at": 999})
    flops, source, note = count_point(embedding_only, point, step, "flash")
    assert (flops, source) == (None, "none") and "counted 0 FLOPs" in note

    def fails(fn):
        raise RuntimeError("no meta kernel for aten::foo\nmore")

    monkeypatch.setattr(flops_module, "counted", fails)
    flops, source, note = count_point(user, point, step, "flash")
    assert (flops, source) == (None, "none")
    assert note == "FlopCounterMode failed: RuntimeError: no meta kernel for aten::foo"


@pytest.mark.parametrize("phase", ["inference", "train_step", "decode"])
def test_factory_model_records_have_counted_flops(in_repo, phase):
    section = {"factory": "tests.user_models:lstm_lm", "hidden": 16}
    row = measure_point(Point("mine", 32, 2, "cpu", "float32", 1, phase), section, FAST)
    assert row["status"] == "ok", row["error"]
    assert row["flops_source"] == "counted" and row["flops_note"] is None
    model = lstm_lm(hidden=16)
    per_layer = rnn_flops(4, 12, 16, 2, 1, 2, 1 if phase == "decode" else 32)
    head = 2 * 2 * (1 if phase == "decode" else 32) * 16 * 32
    assert row["flops"] == (per_layer + head) * (3 if phase == "train_step" else 1)
    assert row["flops_per_s"] == pytest.approx(row["flops"] / row["latency_s"])
    assert not hasattr(model, "flops")


def test_builtin_records_say_analytic():
    row = measure_point(Point("transformer", 32, 1, "cpu", "float32", 1, "inference"),
                        {"d_model": 16, "heads": 2, "causal": True}, FAST)
    assert row["status"] == "ok" and row["flops_source"] == "analytic"
    model = build_model("transformer", {"d_model": 16, "heads": 2, "causal": True})
    assert row["attention_kernel"] == "sdpa-flash-cpu"
    assert row["flops"] == model.flops(1, 32, "flash") < model.flops(1, 32, "math")
    assert {"flops_source", "flops_note"} <= set(RESULT_FIELDS)


def test_report_says_where_each_models_flops_came_from():
    from profiler.analyze.tables import records_frame
    from profiler.records import result_row
    from profiler.report.efficiency import flops_source_lines

    def row(model, n, **kw):
        return result_row(Point(model, n, 1, "cpu", "float32", 1, "inference"), status="ok",
                          latency_s=1e-3, **kw)

    rows = [row("lstm", 8, flops=10, flops_source="analytic"),
            row("mine", 8, flops=20, flops_source="counted"),
            row("odd", 8, flops_source="none", flops_note="FlopCounterMode failed: X"),
            row("odd", 16, flops=5, flops_source="counted")]
    assert flops_source_lines(records_frame(rows)) == [
        "FLOPs of lstm: analytic (the model's formula).",
        "FLOPs of mine: counted (FlopCounterMode over one untimed call).",
        "FLOPs of odd: counted (FlopCounterMode over one untimed call), not available "
        "(FlopCounterMode failed: X).",
    ]
    old = [{k: v for k, v in r.items() if not k.startswith("flops_")} for r in rows]
    assert flops_source_lines(records_frame(old)) == []  # a run from before flops_source
