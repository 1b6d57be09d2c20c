"""The two model families of the classic experiment, built from torch.nn parts.

Both map (B, T, input_size) to (B, output_size) from the last time step, with
``batch_first=True``. By default dropout is 0 in both (the timing is not inflated by
dropout masks) and the Transformer's feed-forward is 256 wide.

The classic script itself used nn.TransformerEncoderLayer's defaults, feed-forward 2048
and dropout 0.1, and left out ``batch_first=True``: its encoder read (B, T, C) as
(T, B, C) and attended across the batch, at each time step, instead of over time.
VARIANTS names both settings (``train --as-published``); the family BATCH_BUG keeps the
flaw on purpose (``train --with-batch-bug``) to measure what it costs.
"""

from __future__ import annotations

import torch
from torch import nn

HIDDEN = 64  # LSTM hidden size and Transformer d_model
LAYERS = 2
HEADS = 4
# Feed-forward width of each encoder layer. nn.TransformerEncoderLayer's default
# is 2048; 256 (4 x d_model, as in the sweep presets) keeps the two families
# within a factor ~2 in parameters (about 50k vs 100k) and the run within budget.
FF = 256
# Transformer hyper-parameters per variant: this experiment's default, and the classic
# script's own (nn.TransformerEncoderLayer's defaults), with batch_first fixed.
VARIANTS = {"default": {"ff": FF, "dropout": 0.0},
            "as-published": {"ff": 2048, "dropout": 0.1}}


class LSTMModel(nn.Module):
    """2-layer LSTM, linear head on the last step's hidden state."""

    family = "lstm"

    def __init__(self, input_size: int = 1, output_size: int = 1, hidden: int = HIDDEN,
                 layers: int = LAYERS):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, H)
        return self.head(out[:, -1, :])  # (B, output_size)


class TransformerModel(nn.Module):
    """Input projection + learned positions, 2 encoder layers, linear head on the last position.

    No attention mask: the whole window is visible, as in the classic experiment,
    and the readout is the last position."""

    family = "transformer"

    def __init__(self, input_size: int = 1, output_size: int = 1, max_len: int = 20,
                 d_model: int = HIDDEN, heads: int = HEADS, layers: int = LAYERS, ff: int = FF,
                 dropout: float = 0.0, batch_first: bool = True):
        super().__init__()
        self.max_len = max_len
        self.proj = nn.Linear(input_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        # batch_first=False is the classic script's flaw, kept only for BATCH_BUG
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=ff, dropout=dropout,
                                           batch_first=batch_first)
        # enable_nested_tensor only matters with padding masks, which we never pass.
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        if t > self.max_len:
            raise ValueError(f"sequence length {t} > max_len {self.max_len}")
        positions = torch.arange(t, device=x.device)  # (T,)
        h = self.proj(x) + self.pos(positions)  # (B, T, C) + (T, C)
        h = self.encoder(h)  # (B, T, C): attention runs over T within each sample
        return self.head(h[:, -1, :])  # (B, output_size)


FAMILIES = ("lstm", "transformer")
# The Transformer with the classic script's missing batch_first: attention across the batch.
BATCH_BUG = "transformer_batch_bug"


def build_model(family: str, input_size: int = 1, output_size: int = 1,
                max_len: int = 20, variant: str = "default") -> nn.Module:
    """A fresh model of ``family`` (initialised from torch's current RNG state); ``variant``
    picks the Transformer's hyper-parameters (VARIANTS)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {tuple(VARIANTS)}")
    if family == "lstm":
        return LSTMModel(input_size, output_size)
    if family in ("transformer", BATCH_BUG):
        return TransformerModel(input_size, output_size, max_len=max_len, **VARIANTS[variant],
                                batch_first=family == "transformer")
    raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES + (BATCH_BUG,)}")


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
