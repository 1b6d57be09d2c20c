"""The classic data set: next-step prediction on a noisy sine wave.

1000 points x = linspace(0, 50), y = sin(x) + 0.1 * N(0, 1); every window of
WINDOW consecutive values predicts the value right after it. The first
TRAIN_WINDOWS windows train, the rest (180) test. The noise is drawn from its
own seeded generator, so the data set is the same for every training seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset

POINTS = 1000  # samples of the sine wave
X_MAX = 50.0  # x runs over [0, 50] (radians): about 8 periods
NOISE_STD = 0.1  # std of the additive Gaussian noise on y
WINDOW = 20  # input values per sample, n
TRAIN_WINDOWS = 800  # the first 800 windows train, the remaining 180 test
BATCH_SIZE = 32
DATA_SEED = 0  # seed of the noise; fixed so that training seeds only vary init and order


@dataclass(frozen=True)
class SineData:
    """The series and its windows, split into train and test."""

    x: torch.Tensor  # (POINTS,) abscissa
    y: torch.Tensor  # (POINTS,) noisy sine
    train_inputs: torch.Tensor  # (800, WINDOW, 1)
    train_targets: torch.Tensor  # (800, 1)
    test_inputs: torch.Tensor  # (180, WINDOW, 1)
    test_targets: torch.Tensor  # (180, 1)
    test_x: torch.Tensor  # (180,) abscissa of each test target, for plots over "time"


def noisy_sine(points: int = POINTS, seed: int = DATA_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """x = linspace(0, 50, points), y = sin(x) + 0.1 * N(0, 1), float32."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.linspace(0.0, X_MAX, points)
    y = torch.sin(x) + NOISE_STD * torch.randn(points, generator=gen)
    return x, y


def windows(y: torch.Tensor, window: int = WINDOW) -> tuple[torch.Tensor, torch.Tensor]:
    """All windows y[i:i+window] -> y[i+window]: inputs (N, window, 1), targets (N, 1)."""
    count = len(y) - window  # 980 for the defaults
    inputs = torch.stack([y[i:i + window] for i in range(count)]).unsqueeze(-1)
    targets = y[window:].unsqueeze(-1)
    return inputs, targets


def sine_data(seed: int = DATA_SEED) -> SineData:
    """The noisy sine wave, windowed and split (first TRAIN_WINDOWS train, rest test)."""
    x, y = noisy_sine(seed=seed)
    inputs, targets = windows(y)
    return SineData(
        x=x, y=y,
        train_inputs=inputs[:TRAIN_WINDOWS], train_targets=targets[:TRAIN_WINDOWS],
        test_inputs=inputs[TRAIN_WINDOWS:], test_targets=targets[TRAIN_WINDOWS:],
        test_x=x[WINDOW + TRAIN_WINDOWS:],
    )


def train_loader(data: SineData, seed: int, batch_size: int = BATCH_SIZE) -> DataLoader:
    """Shuffled training batches; the order depends only on ``seed``."""
    dataset = TensorDataset(data.train_inputs, data.train_targets)
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=gen)


def naive_predictions(inputs: torch.Tensor) -> torch.Tensor:
    """The baseline: predict the last value of each window. (N, T, 1) -> (N, 1)."""
    return inputs[:, -1, :]
