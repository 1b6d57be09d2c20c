"""The sine data set: shapes, splits, seeding, the naive baseline."""

import torch

from profiler.train.data import (
    BATCH_SIZE,
    TRAIN_WINDOWS,
    WINDOW,
    naive_predictions,
    noisy_sine,
    sine_data,
    train_loader,
    windows,
)


def test_shapes_and_split():
    d = sine_data()
    assert d.x.shape == d.y.shape == (1000,)
    assert d.train_inputs.shape == (800, 20, 1) and d.train_targets.shape == (800, 1)
    assert d.test_inputs.shape == (180, 20, 1) and d.test_targets.shape == (180, 1)
    assert d.test_x.shape == (180,)
    # The first test window starts right after the last training window.
    assert torch.equal(d.test_inputs[0, :, 0], d.y[TRAIN_WINDOWS:TRAIN_WINDOWS + WINDOW])
    assert float(d.test_x[0]) == float(d.x[TRAIN_WINDOWS + WINDOW])


def test_window_predicts_the_next_value():
    y = torch.arange(30.0)
    inputs, targets = windows(y, window=20)
    assert inputs.shape == (10, 20, 1)
    assert inputs[3, :, 0].tolist() == list(range(3, 23))
    assert targets[3].item() == 23.0


def test_noise_is_seeded_and_about_0_1():
    x, y1 = noisy_sine(seed=0)
    _, y2 = noisy_sine(seed=0)
    _, y3 = noisy_sine(seed=1)
    assert torch.equal(y1, y2) and not torch.equal(y1, y3)
    assert float(x[0]) == 0.0 and abs(float(x[-1]) - 50.0) < 1e-5
    noise_std = float((y1 - torch.sin(x)).std())
    assert 0.08 < noise_std < 0.12


def test_loader_order_depends_only_on_the_seed():
    d = sine_data()

    def first_batch(seed):
        return next(iter(train_loader(d, seed)))[0]

    assert first_batch(0).shape == (BATCH_SIZE, WINDOW, 1)
    assert torch.equal(first_batch(0), first_batch(0))
    assert not torch.equal(first_batch(0), first_batch(1))
    # Shuffled: not the first 32 windows in order.
    assert not torch.equal(first_batch(0), d.train_inputs[:BATCH_SIZE])
    assert sum(len(xb) for xb, _ in train_loader(d, 0)) == TRAIN_WINDOWS


def test_naive_baseline_is_the_last_value():
    inputs = torch.tensor([[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]])  # (2, 3, 1)
    assert naive_predictions(inputs).tolist() == [[3.0], [6.0]]
