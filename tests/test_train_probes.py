"""The long-range probes: gradient norm by distance and the recall task."""

import math

import torch
from torch import nn

from profiler.train.models import build_model
from profiler.train.probes import VOCAB, gradient_by_distance, recall_batch, train_recall


class _Weighted(nn.Module):
    """y = sum_t w_t * x_t: the gradient wrt x_t is w_t for every sample."""

    def __init__(self, weights):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(weights))

    def forward(self, x):  # (B, T, 1) -> (B, 1)
        return (x[..., 0] * self.w).sum(-1, keepdim=True)


def test_distance_zero_is_the_last_input():
    norms = gradient_by_distance(_Weighted([1.0, -2.0, 3.0, 4.0]), torch.randn(5, 4, 1))
    assert norms == [4.0, 3.0, 2.0, 1.0]  # k = 0 is x_n, k = 3 is x_1; norms are |w|


def test_multi_output_adds_squared_norms():
    class TwoOut(nn.Module):
        def forward(self, x):  # (B, T, 1) -> (B, 2): outputs 3 x_last and 4 x_last
            return torch.cat([3 * x[:, -1], 4 * x[:, -1]], dim=-1)

    assert gradient_by_distance(TwoOut(), torch.randn(2, 3, 1)) == [5.0, 0.0, 0.0]


def test_tiny_models_give_one_finite_value_per_distance():
    for family in ("lstm", "transformer"):
        torch.manual_seed(0)
        model = build_model(family, input_size=3, output_size=2, max_len=7)
        norms = gradient_by_distance(model, torch.randn(4, 7, 3))
        assert len(norms) == 7
        assert all(math.isfinite(v) and v >= 0 for v in norms)
        assert norms[0] > 0


def test_recall_target_is_the_first_symbol():
    x, target = recall_batch(16, 5, torch.Generator().manual_seed(0))
    assert x.shape == (16, 6, VOCAB)
    assert torch.equal(x[:, 0].argmax(-1), target)
    assert torch.all(x.sum(-1) == 1)  # one-hot


def test_recall_is_learned_at_short_distance():
    record, _ = train_recall("transformer", 2, seed=0, steps=60)
    assert record.k == 2 and record.steps == 60 and record.chance == 1 / VOCAB
    assert record.accuracy > 0.5  # far above chance (0.125)
    untrained, _ = train_recall("transformer", 2, seed=0, steps=0)
    assert untrained.accuracy < 0.4
