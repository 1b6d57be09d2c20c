"""minGRU / minLSTM: the parallel scan against the step-by-step recurrence, the decode state,
batch independence, and FLOPs and bytes against counters and hand counts."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from profiler.measure.point import measure_point
from profiler.measure.timing import TimingConfig
from profiler.models.families import build_model, count_params
from profiler.models.minrnn import parallel_scan
from profiler.models.steps import make_step
from profiler.records import Point

CELLS = ["mingru", "minlstm"]


def recurrence(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t one step at a time, the definition the scan must match."""
    h, out = torch.zeros_like(b[:, 0]), []
    for t in range(b.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 64, 301, 1024])
def test_scan_equals_the_recurrence(n):
    gen = torch.Generator().manual_seed(n)
    a = torch.rand(3, n, 5, generator=gen, dtype=torch.float64)  # gates in (0, 1)
    b = torch.randn(3, n, 5, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(parallel_scan(a, b), recurrence(a, b), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [2, 6, 13])
def test_scan_gradients(n):
    gen = torch.Generator().manual_seed(n)
    a = torch.rand(2, n, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, n, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(parallel_scan, (a, b))
    (ga, gb) = torch.autograd.grad(parallel_scan(a, b).sum(), (a, b))
    (ra, rb) = torch.autograd.grad(recurrence(a, b).sum(), (a, b))
    torch.testing.assert_close((ga, gb), (ra, rb))


def test_scan_in_float32_stays_near_eps_at_long_n():
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(2, 4096, 8, generator=gen, dtype=torch.float64)
    b = torch.rand(2, 4096, 8, generator=gen, dtype=torch.float64)
    ref = recurrence(a, b)
    got = parallel_scan(a.float(), b.float()).double()
    assert ((got - ref).abs() / ref.abs()).max() < 1e-5  # a log-space scan: ~4e-4 here


def layer_by_steps(layer, x: torch.Tensor) -> torch.Tensor:
    """A layer's output computed from its own gates with the textbook formulas, one step at
    a time (independent of ``coefficients`` and of the scan)."""
    parts = layer.proj(x).chunk(3 if layer.cell == "minlstm" else 2, dim=-1)
    if layer.cell == "mingru":
        k_h, k_z = parts
        z = torch.sigmoid(k_z)
        a, b = 1 - z, z * k_h
    else:
        k_h, k_f, k_i = parts
        f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
        a, b = f / (f + i), i / (f + i) * k_h
    return recurrence(a, b)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("n", [1, 5, 33, 256])
def test_layer_forward_equals_its_sequential_definition(cell, n):
    torch.manual_seed(0)
    model = build_model(cell, {"hidden": 16, "layers": 2, "vocab": 30}).eval()
    x = torch.randn(2, n, 16)
    with torch.no_grad():
        for layer in model.layers:
            torch.testing.assert_close(layer(x), layer_by_steps(layer, x), rtol=1e-5,
                                       atol=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_decode_step_equals_full_forward(cell):
    torch.manual_seed(0)
    model = build_model(cell, {"hidden": 16}).eval()
    tokens = torch.randint(0, 256, (3, 21))
    with torch.no_grad():
        full = model(tokens)[:, -1]  # (B, V): last position of the whole sequence
        state = model.decode_init(tokens[:, :20])
        step = model.decode_step(tokens[:, 20:], state)[:, 0]
    torch.testing.assert_close(step, full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_decode_state_is_constant_in_n(cell):
    model = build_model(cell, {"hidden": 16, "layers": 2})
    sizes = {make_step(model, "decode", 2, n, "cpu").state_bytes for n in (8, 64, 512)}
    assert sizes == {2 * 2 * 16 * 4}  # h: (layers=2, B=2, H=16) float32


@pytest.mark.parametrize("cell", CELLS)
def test_sample_i_independent_of_sample_j(cell):
    torch.manual_seed(0)
    model = build_model(cell, {}).train()  # train mode too: nothing mixes the batch
    tokens = torch.randint(0, 256, (4, 40))
    changed = tokens.clone()
    changed[2] = torch.randint(0, 256, (40,))
    a, b = model(tokens), model(changed)
    for i in (0, 1, 3):
        torch.testing.assert_close(a[i], b[i], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a[2], b[2])


@pytest.mark.parametrize("cell", CELLS)
def test_output_at_t_depends_on_the_past_only(cell):
    torch.manual_seed(0)
    model = build_model(cell, {}).eval()
    tokens = torch.randint(0, 256, (2, 30))
    changed = tokens.clone()
    changed[:, 20] = (changed[:, 20] + 1) % 256
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    torch.testing.assert_close(a[:, :20], b[:, :20])  # causal: t < 20 cannot see t = 20
    assert not torch.allclose(a[:, 20:], b[:, 20:])


@pytest.mark.parametrize("cell", CELLS)
def test_flops_equal_flop_counter(cell):
    model = build_model(cell, {"hidden": 24, "layers": 3, "vocab": 40})
    tokens = torch.randint(0, 40, (3, 17))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(tokens)
    assert counter.get_total_flops() == model.flops(3, 17) > 0
    state = model.decode_init(tokens)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.decode_step(tokens[:, -1:], state)
    assert counter.get_total_flops() == model.decode_flops(3, 17) == model.flops(3, 1)


def test_params_and_bytes_by_hand():
    H, V, B, N, S = 8, 16, 1, 4, 4
    model = build_model("mingru", {"hidden": H, "layers": 1, "vocab": V})
    # embedding V·H, one layer's map H -> 2H with bias, head H·V + V
    assert count_params(model) == V * H + (H * 2 * H + 2 * H) + (H * V + V) == 416
    weights = 416 - V * H + B * N * H  # the embedding's looked-up rows only
    # per position: embedding writes H; map reads H writes 2H; scan reads 2H writes H;
    # head reads H writes V
    per_position = H + (H + 2 * H) + (2 * H + H) + (H + V)
    assert model.bytes_moved(B, N, S) == S * weights + 8 * B * N + S * B * N * per_position
    # decode: a one-position forward plus h (layers, B, H) read once
    assert model.decode_bytes(B, 1000, S) == model.bytes_moved(B, 1, S) + S * 1 * B * H


@pytest.mark.parametrize("phase", ["inference", "train_step", "decode"])
def test_measured_record(phase):
    cfg = TimingConfig(warmup_s=0.0, min_time_s=0.02, max_time_s=0.1)
    row = measure_point(Point("mingru", 64, 2, "cpu", "float32", 1, phase), {"hidden": 16}, cfg)
    assert row["status"] == "ok", row["error"]
    assert row["family"] == "mingru" and row["flops"] > 0 and row["bytes_moved"] > 0
    assert row["recurrent_kernel"] is None and row["attention_kernel"] is None
    ops = {o["name"]: o["category"] for o in row["ops"]}
    if phase != "decode":  # the scan's ops are filed under the recurrence
        assert ops["parallel_scan"] == "recurrent" and ops["aten::addcmul"] == "recurrent"
