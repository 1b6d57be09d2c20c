"""Training one (family, seed): determinism and the record's contents."""

import pytest
import torch

from profiler.train.data import naive_predictions, sine_data
from profiler.train.experiment import mse, train_model


@pytest.fixture(scope="module")
def data():
    return sine_data()


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_same_seed_gives_identical_losses(family, data):
    a, _ = train_model(family, 3, data, epochs=2)
    b, _ = train_model(family, 3, data, epochs=2)
    assert a.train_loss == b.train_loss
    assert a.test_mse == b.test_mse and a.test_predictions == b.test_predictions
    c, _ = train_model(family, 4, data, epochs=2)
    assert c.train_loss != a.train_loss  # the seed matters, so equality above means something


def test_record_contents(data):
    epochs = []
    rec, model = train_model("lstm", 0, data, epochs=2, on_epoch=lambda: epochs.append(1))
    assert len(epochs) == 2
    assert len(rec.train_loss) == len(rec.epoch_compute_s) == len(rec.epoch_data_s) == 2
    assert len(rec.test_mse_by_epoch) == 2 and rec.test_mse_by_epoch[-1] == rec.test_mse
    assert all(t > 0 for t in rec.epoch_compute_s + rec.epoch_data_s)
    assert rec.threads == torch.get_num_threads() and rec.device == "cpu"
    assert len(rec.test_predictions) == 180
    # test_mse is the MSE of the stored predictions against the test targets.
    pred = torch.tensor(rec.test_predictions).unsqueeze(-1)
    assert rec.test_mse == pytest.approx(mse(pred, data.test_targets), rel=1e-6)
    assert rec.baseline_mse == pytest.approx(
        mse(naive_predictions(data.test_inputs), data.test_targets))
    assert 0.015 < rec.baseline_mse < 0.03  # ~2 * 0.1^2 noise + the step's drift
    # Training reduces the loss.
    assert rec.train_loss[1] < rec.train_loss[0]


def test_mse_by_hand():
    assert mse(torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [1.0]])) == 2.5
