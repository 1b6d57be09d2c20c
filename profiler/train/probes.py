"""The textbook claims about long-range dependency, measured.

(a) Gradient by distance: the mean over samples of ||d y_hat / d x_{n-k}||, one value
    per distance k = 0 (the last input x_n) ... n-1 (the first input), for a model at
    initialisation and after training.
(b) Recall: a synthetic task whose answer lies exactly k steps back. A sequence of
    k+1 random symbols (one-hot, VOCAB of them) is read, and at the last position the
    model must name the *first* symbol. Every family gets the same fixed training
    budget (RECALL_STEPS Adam steps of RECALL_BATCH sequences), so the accuracy
    reads "what this budget buys at distance k", not a capacity limit.
This module measures and returns plain records; it never prints or plots.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from profiler.train.experiment import init_model

VOCAB = 8  # symbols; chance accuracy is 1/8
RECALL_KS = (2, 4, 8, 16, 32)  # distances probed; sequence length is k + 1
# Adam steps per (family, k, seed). Measured on 2 CPU cores: all RECALL_KS for both
# families take about 15 s per seed (the Transformer at k=32 about 3 s of it).
RECALL_STEPS = 200
RECALL_BATCH = 32  # sequences per step
RECALL_LR = 3e-3  # higher than the sine experiment's 1e-3: the budget is short
RECALL_TEST = 1000  # held-out sequences per k
TEST_SEED = 10_000  # generator of the held-out sequences (same for every family and seed)


@dataclass(frozen=True)
class GradientRecord:
    """||dy/dx_{n-k}|| for k = 0 .. seq_len-1 (index = distance k)."""

    task: str  # "sine" or "recall"
    family: str
    stage: str  # "init" or "trained"
    seed: int
    seq_len: int
    grad_norm: list[float]  # (seq_len,) mean over samples; grad_norm[k] is distance k

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RecallRecord:
    """Test accuracy of one (family, k, seed) on the recall task."""

    family: str
    k: int
    seed: int
    steps: int
    accuracy: float  # fraction of RECALL_TEST held-out sequences recalled correctly
    chance: float  # 1 / VOCAB
    final_loss: float  # cross-entropy of the last training batch, nats
    train_s: float  # wall seconds of the training loop (perf_counter)

    def to_dict(self) -> dict:
        return asdict(self)


def gradient_by_distance(model: nn.Module, inputs: torch.Tensor) -> list[float]:
    """Mean over samples of the Jacobian norm ||d y_hat / d x_{n-k}||_F, one value per k.

    inputs: (B, T, I). Summing y_hat over the batch before differentiating gives each
    sample's own gradient because samples are independent (tested in test_train_models).
    Multi-output models (B, O) loop over the O outputs; the squared norms add."""
    model.eval()
    x = inputs.detach().clone().requires_grad_(True)  # (B, T, I)
    with torch.enable_grad():
        y = model(x)  # (B, O)
        squared = torch.zeros(x.shape[:2], dtype=x.dtype, device=x.device)  # (B, T)
        for o in range(y.shape[1]):
            (g,) = torch.autograd.grad(y[:, o].sum(), x, retain_graph=o + 1 < y.shape[1])
            squared += g.pow(2).sum(-1)  # (B, T): summed over input features
    per_position = squared.sqrt().mean(0)  # (T,), position t = 0 .. T-1
    return per_position.flip(0).tolist()  # index k = distance from the last input


def recall_batch(batch: int, k: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """k+1 random symbols per sequence: one-hot inputs (B, k+1, VOCAB), targets (B,) = first."""
    symbols = torch.randint(0, VOCAB, (batch, k + 1), generator=generator)  # (B, k+1)
    return nn.functional.one_hot(symbols, VOCAB).float(), symbols[:, 0]


def recall_model(family: str, k: int, seed: int, variant: str = "default") -> nn.Module:
    """A fresh recall model for distance k (initialised by ``seed``)."""
    return init_model(family, seed, input_size=VOCAB, output_size=VOCAB, max_len=k + 1,
                      variant=variant)


def recall_test_set(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out sequences for distance k: (RECALL_TEST, k+1, VOCAB), (RECALL_TEST,)."""
    return recall_batch(RECALL_TEST, k, torch.Generator().manual_seed(TEST_SEED + k))


def train_recall(family: str, k: int, seed: int, steps: int = RECALL_STEPS,
                 on_step: Callable[[], None] | None = None,
                 variant: str = "default") -> tuple[RecallRecord, nn.Module]:
    """Train ``family`` on recall at distance k for ``steps`` steps; return the record and model.

    Runs on the CPU: the probe is sized for it (a few seconds per k)."""
    model = recall_model(family, k, seed, variant)
    optimizer = torch.optim.Adam(model.parameters(), lr=RECALL_LR)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    loss = torch.tensor(float("nan"))  # reported as the final loss when steps == 0
    t0 = time.perf_counter()
    for _ in range(steps):
        x, target = recall_batch(RECALL_BATCH, k, gen)  # (64, k+1, 8), (64,)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), target)
        loss.backward()
        optimizer.step()
        if on_step:
            on_step()
    train_s = time.perf_counter() - t0
    x, target = recall_test_set(k)
    model.eval()
    with torch.no_grad():
        accuracy = float((model(x).argmax(-1) == target).float().mean())
    record = RecallRecord(family=family, k=k, seed=seed, steps=steps, accuracy=accuracy,
                          chance=1 / VOCAB, final_loss=float(loss.detach()), train_s=train_s)
    return record, model
