"""The classic experiment: train one model family with one seed, measure it, return a record.

Timing protocol (per epoch, time.perf_counter):
  * data_s: drawing the epoch's shuffled batches from the DataLoader (and moving
    them to the device) — reported separately, not part of the compute time;
  * compute_s: forward + backward + Adam step over those batches, with the garbage
    collector off and the device synchronised before the clock is read.
Epoch 1 includes one-off warm-up (oneDNN primitive creation), so the summary
uses the median epoch; every raw epoch time is kept in the record.
This module measures and returns plain records; it never prints or plots.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from profiler.train.data import SineData, naive_predictions, train_loader
from profiler.train.models import build_model, parameter_count

LR = 1e-3  # Adam learning rate of the classic experiment


@dataclass(frozen=True)
class TrainRecord:
    """One trained (family, seed): raw per-epoch measurements and the test outcome."""

    family: str
    seed: int
    params: int
    epochs: int
    device: str
    threads: int  # torch.get_num_threads() while training
    train_loss: list[float]  # mean training MSE of each epoch, len == epochs
    epoch_compute_s: list[float]  # forward+backward+step seconds per epoch
    epoch_data_s: list[float]  # seconds per epoch spent drawing and moving batches
    test_mse_by_epoch: list[float]  # test MSE after each epoch (evaluated outside the timing)
    test_mse: float  # on the 180 test windows, after the last epoch
    baseline_mse: float  # naive "last value" predictor on the same windows
    test_predictions: list[float]  # (180,) model output per test window
    variant: str = "default"  # the Transformer's hyper-parameters (models.VARIANTS)

    def to_dict(self) -> dict:
        return asdict(self)


def init_model(family: str, seed: int, **kwargs) -> nn.Module:
    """The model ``family`` as initialised by ``seed`` (same seed -> same weights)."""
    torch.manual_seed(seed)
    return build_model(family, **kwargs)


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so that the clock reads finished work (CUDA is async)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mse(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    return float(((predictions - targets) ** 2).mean())


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Model outputs for ``inputs`` (N, T, 1) -> (N, 1) on the CPU, in eval mode."""
    model.eval()
    return model(inputs.to(device)).cpu()


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, loader,
                device: torch.device) -> tuple[float, float, float]:
    """One epoch; returns (mean train loss, compute seconds, data seconds)."""
    model.train()
    t0 = time.perf_counter()
    batches = [(xb.to(device), yb.to(device)) for xb, yb in loader]  # (32, 20, 1), (32, 1)
    synchronize(device)
    t1 = time.perf_counter()
    total = torch.zeros((), device=device)  # summed on the device: no sync per step
    gc.disable()
    try:
        for xb, yb in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(xb)
        synchronize(device)
        t2 = time.perf_counter()
    finally:
        gc.enable()
    count = sum(len(xb) for xb, _ in batches)
    return float(total) / count, t2 - t1, t1 - t0


def train_model(family: str, seed: int, data: SineData, epochs: int,
                device: torch.device | str = "cpu",
                on_epoch: Callable[[], None] | None = None,
                variant: str = "default") -> tuple[TrainRecord, nn.Module]:
    """Train ``family`` from ``seed`` for ``epochs`` with Adam; return the record and the model.

    ``seed`` fixes the initial weights and the shuffling order; the data set is
    the same for every seed. ``on_epoch`` is called after each epoch (progress)."""
    device = torch.device(device)
    model = init_model(family, seed, variant=variant).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loader = train_loader(data, seed)
    losses, compute_s, data_s, test_curve = [], [], [], []
    for _ in range(epochs):
        loss, c, d = train_epoch(model, optimizer, loader, device)
        losses.append(loss)
        compute_s.append(c)
        data_s.append(d)
        # Tracked because the Transformer's test MSE jumps from epoch to epoch under
        # constant-lr Adam (0.012 <-> 0.029 measured); the last epoch alone can mislead.
        test_curve.append(mse(predict(model, data.test_inputs, device), data.test_targets))
        if on_epoch:
            on_epoch()
    predictions = predict(model, data.test_inputs, device)  # (180, 1)
    record = TrainRecord(
        family=family, seed=seed, params=parameter_count(model), epochs=epochs,
        device=str(device), threads=torch.get_num_threads(),
        train_loss=losses, epoch_compute_s=compute_s, epoch_data_s=data_s,
        test_mse_by_epoch=test_curve, test_mse=mse(predictions, data.test_targets),
        baseline_mse=mse(naive_predictions(data.test_inputs), data.test_targets),
        test_predictions=predictions.squeeze(-1).tolist(), variant=variant,
    )
    return record, model
