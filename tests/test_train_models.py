"""The two families: shapes, parameter counts and batch independence.

A classic bug of this experiment is attention (or recurrence) running across the
batch instead of along the sequence; each sample's prediction must depend on that
sample alone. The negative controls rebuild exactly that bug and check that the
test catches it."""

import pytest
import torch

from profiler.train.models import (
    BATCH_BUG,
    LSTMModel,
    TransformerModel,
    build_model,
    parameter_count,
)


def _changes_other_samples(model, i=5, j=0) -> bool:
    """Does changing sample j of the batch change the prediction for sample i?"""
    torch.manual_seed(1)
    x = torch.randn(8, 20, 1)  # (B, T, C)
    model.eval()
    with torch.no_grad():
        before = model(x)
        x2 = x.clone()
        x2[j] = torch.randn(20, 1) * 3
        after = model(x2)
    assert not torch.allclose(before[j], after[j]), "sample j itself must change"
    return not torch.allclose(before[i], after[i], rtol=0, atol=1e-6)


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_prediction_depends_only_on_its_own_sample(family):
    torch.manual_seed(0)
    model = build_model(family)
    for i, j in [(5, 0), (0, 7), (3, 4)]:
        assert not _changes_other_samples(model, i, j)


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_batch_independence_in_train_mode_too(family):
    torch.manual_seed(0)
    model = build_model(family).train()
    x = torch.randn(4, 20, 1)
    y1 = model(x)
    x[2] += 1.0
    y2 = model(x)
    assert torch.allclose(y1[[0, 1, 3]], y2[[0, 1, 3]], atol=1e-6)


def test_control_transformer_attending_across_the_batch_is_caught():
    torch.manual_seed(0)
    model = TransformerModel()
    for layer in model.encoder.layers:
        layer.self_attn.batch_first = False  # the bug: (B, T, C) read as (T, B, C)
    assert _changes_other_samples(model)


def test_control_lstm_recurring_across_the_batch_is_caught():
    torch.manual_seed(0)
    model = LSTMModel()
    model.lstm.batch_first = False  # the bug: the batch becomes the time axis
    assert _changes_other_samples(model, i=5, j=0)


def test_shapes_and_parameter_counts():
    x = torch.randn(3, 20, 1)
    lstm, tf = build_model("lstm"), build_model("transformer")
    assert lstm(x).shape == tf(x).shape == (3, 1)
    # LSTM: layer 1 4H(I+H)+8H, layer 2 4H(2H)+8H, head H+1, with H=64, I=1.
    h = 64
    assert parameter_count(lstm) == (4 * h * (1 + h) + 8 * h) + (4 * h * 2 * h + 8 * h) + h + 1
    assert parameter_count(tf) > parameter_count(lstm)


def test_multi_output_models_and_max_len():
    tf = build_model("transformer", input_size=8, output_size=8, max_len=9)
    assert tf(torch.randn(2, 9, 8)).shape == (2, 8)
    with pytest.raises(ValueError, match="max_len"):
        tf(torch.randn(2, 10, 8))
    with pytest.raises(ValueError, match="unknown family"):
        build_model("gru")


def test_as_published_variant_has_the_scripts_hyper_parameters_and_batch_first():
    torch.manual_seed(0)
    default, published = build_model("transformer"), build_model("transformer",
                                                                  variant="as-published")
    for model, ff, dropout in ((default, 256, 0.0), (published, 2048, 0.1)):
        for layer in model.encoder.layers:
            assert layer.linear1.out_features == ff and layer.dropout.p == dropout
            assert layer.self_attn.batch_first
    # two layers of two (64 x ff) linear maps with biases: the extra width, by hand
    extra = 2 * (2 * 64 * (2048 - 256) + (2048 - 256))
    assert parameter_count(published) - parameter_count(default) == extra
    for i, j in [(5, 0), (0, 7)]:  # batch_first fixed: no mixing across the batch
        assert not _changes_other_samples(published, i, j)


@pytest.mark.parametrize("variant", ["default", "as-published"])
def test_batch_bug_family_keeps_the_flaw(variant):
    torch.manual_seed(0)
    model = build_model(BATCH_BUG, variant=variant)
    assert not any(layer.self_attn.batch_first for layer in model.encoder.layers)
    assert _changes_other_samples(model)  # it attends across the batch
    # the same weights with batch_first set would not mix samples: the flag is the flaw
    for layer in model.encoder.layers:
        layer.self_attn.batch_first = True
    assert not _changes_other_samples(model)


def test_unknown_variant():
    with pytest.raises(ValueError, match="unknown variant"):
        build_model("transformer", variant="published")
