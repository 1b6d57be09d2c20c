import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from profiler.errors import UsageError
from profiler.models.families import build_model, count_params


def counted_flops(model, tokens) -> int:
    with FlopCounterMode(display=False) as counter:
        model(tokens)
    return counter.get_total_flops()


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_recurrent_flops_equal_counter_on_native_kernel(name):
    # oneDNN's fused RNN is invisible to FlopCounterMode; the native cell loop is mm/addmm.
    model = build_model(name, {"hidden": 24, "layers": 2, "vocab": 40})
    tokens = torch.randint(0, 40, (3, 17))
    with torch.backends.mkldnn.flags(enabled=False), torch.no_grad():
        assert counted_flops(model, tokens) == model.flops(3, 17)


@pytest.mark.parametrize("causal", [False, True])
def test_transformer_flops_equal_counter_on_math_sdpa(causal):
    model = build_model("transformer", {"d_model": 32, "heads": 4, "layers": 2, "ff": 48,
                                        "vocab": 50, "causal": causal})
    tokens = torch.randint(0, 50, (2, 33))
    with sdpa_kernel(SDPBackend.MATH), torch.no_grad():
        counted = counted_flops(model, tokens)
    # causal: the math kernel computes the full n x n product and masks it, same FLOPs
    assert counted == model.flops(2, 33, attention_kernel="math")


def test_flops_attention_term_is_quadratic():
    model = build_model("transformer", {})
    linear_part = model.flops(1, 1000) - model.flops(1, 500) * 2  # only n^2 survives
    d, layers = model.cfg.d_model, model.cfg.layers
    assert linear_part == layers * 4 * d * (1000**2 - 2 * 500**2)


@pytest.mark.parametrize("name", ["transformer", "lstm", "gru"])
@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
def test_sample_i_independent_of_sample_j(name, positions):
    hyper = {"positions": positions, "max_len": 64} if name == "transformer" else {}
    if name != "transformer" and positions == "learned":
        pytest.skip("positions are a transformer option")
    torch.manual_seed(0)
    model = build_model(name, hyper).eval()
    tokens = torch.randint(0, 256, (4, 20))
    changed = tokens.clone()
    changed[2] = torch.randint(0, 256, (20,))  # change sample j=2 only
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    for i in (0, 1, 3):
        torch.testing.assert_close(a[i], b[i], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a[2], b[2])


def test_param_counts_by_hand():
    lstm = build_model("lstm", {"hidden": 8, "layers": 1, "vocab": 10})
    # embedding 10*8, LSTM 4*8*(8+8) + 2 biases 4*8*2, head 8*10 + 10
    assert count_params(lstm) == 80 + 4 * 8 * 16 + 64 + 90


def test_user_factory_and_errors(in_repo):
    model = build_model("mine", {"factory": "tests.fake_models:broken", "at": 99})
    assert model.family == "custom" and model.at == 99
    with pytest.raises(UsageError, match="no 'nope'"):
        build_model("m", {"factory": "tests.fake_models:nope"})
    with pytest.raises(UsageError, match="cannot import"):
        build_model("m", {"factory": "no_such_pkg.mod:f"})
    with pytest.raises(UsageError, match="expected a torch.nn.Module"):
        build_model("m", {"factory": "tests.fake_models:not_a_module"})
