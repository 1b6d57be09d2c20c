"""Derived numbers: means and spreads, and the verdicts of the claims table."""

import pytest

from profiler.train.models import BATCH_BUG
from profiler.train.summary import claims, far_near_ratio, mean_std, recall_by_k, results_table


def _rec(family, seed, mse, epoch_s, test_curve=(0.3, 0.2, 0.1)):
    return {"family": family, "seed": seed, "params": 10, "epochs": 3, "threads": 1,
            "test_mse": mse,
            "test_mse_by_epoch": list(test_curve),
            "baseline_mse": 0.02, "epoch_compute_s": [epoch_s * 5, epoch_s, epoch_s],
            "epoch_data_s": [0.01, 0.01, 0.01], "train_loss": [0.3, 0.2, 0.1]}


def test_mean_std_by_hand():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([5.0]) == (5.0, None)


def test_results_table():
    rows = results_table([_rec("lstm", 0, 0.010, 0.1), _rec("lstm", 1, 0.012, 0.3),
                          _rec("transformer", 0, 0.030, 0.2)])
    lstm, tf = rows
    assert lstm["test_mse"] == pytest.approx(0.011)
    assert lstm["test_mse_std"] == pytest.approx(0.0014142, rel=1e-4)
    assert lstm["epoch_s"] == pytest.approx(0.2)  # mean of the per-seed medians 0.1 and 0.3
    assert lstm["train_s"] == pytest.approx((0.7 + 2.1) / 2)
    assert lstm["seeds_below_baseline"] == 2 and tf["seeds_below_baseline"] == 0
    assert tf["test_mse_std"] is None


def test_claim_verdicts_follow_the_numbers():
    table = results_table([_rec("lstm", 0, 0.010, 0.1), _rec("lstm", 1, 0.011, 0.1),
                           _rec("transformer", 0, 0.030, 0.2),
                           _rec("transformer", 1, 0.031, 0.2)])
    gradient = [
        {"task": "recall", "family": "lstm", "stage": "init", "grad_norm": [1.0, 0.1, 1e-4]},
        {"task": "recall", "family": "transformer", "stage": "init",
         "grad_norm": [1.0, 0.5, 0.5]},
    ]
    recall = [{"family": f, "k": k, "seed": 0, "accuracy": a, "chance": 0.125, "steps": 5}
              for f, k, a in [("lstm", 2, 1.0), ("lstm", 8, 0.2),
                              ("transformer", 2, 1.0), ("transformer", 8, 0.95)]]
    verdicts = [r["verdict"] for r in claims(table, gradient, recall)]
    assert len(verdicts) == 5
    # Baseline 0.02: the LSTM (0.0105) beats it, the Transformer (0.0305) does not.
    assert verdicts[0] == "not supported"
    # MSE 0.0105 vs 0.0305, far beyond the seed spread: the LSTM is more accurate.
    assert verdicts[1].startswith("contradicted")
    assert verdicts[2].startswith("not at n = 20")  # LSTM epoch 0.1 s < Transformer 0.2 s
    assert verdicts[3] == "supported"  # LSTM 1e-4 far/near, Transformer 0.5
    assert verdicts[4].startswith("supported")  # recall 0.95 vs 0.2 at k = 8
    assert far_near_ratio([2.0, 1.0, 0.5]) == 0.25
    assert recall_by_k(recall, "lstm") == {2: (1.0, None), 8: (0.2, None)}


def test_baseline_verdict_on_the_mean_but_not_every_seed():
    table = results_table([_rec("lstm", 0, 0.010, 0.1), _rec("lstm", 1, 0.011, 0.1),
                           _rec("transformer", 0, 0.012, 0.2),
                           _rec("transformer", 1, 0.021, 0.2, test_curve=(0.1, 0.3, 0.5))])
    assert table[1]["seeds_below_baseline"] == 1
    # Jitter: population std of the last epochs' test MSE, mean over seeds.
    assert table[1]["test_mse_jitter"] == pytest.approx((0.08165 + 0.16330) / 2, rel=1e-3)
    assert claims(table, [], [])[0]["verdict"] == "supported on the mean, not on every seed"


def test_no_vanishing_verdict_when_the_lstm_gradient_survives():
    gradient = [
        {"task": "recall", "family": "lstm", "stage": "init", "grad_norm": [1.0, 0.5]},
        {"task": "recall", "family": "transformer", "stage": "init", "grad_norm": [1.0, 0.5]},
    ]
    (row,) = claims([], gradient, [])
    assert row["verdict"].startswith("not shown")


@pytest.mark.parametrize("bug_mses, verdict", [
    ((0.025, 0.030), "supported: with the flaw the Transformer does not beat the naive"),
    ((0.016, 0.017), "partly: it costs accuracy beyond the seed spread"),
    ((0.0105, 0.0110), "not shown: with the flaw the Transformer is within the seed spread"),
])
def test_batch_bug_claim_against_the_baseline(bug_mses, verdict):
    # baseline 0.02 (_rec); the fixed Transformer 0.010 and 0.012
    train = [_rec("lstm", 0, 0.010, 0.1), _rec("transformer", 0, 0.010, 0.2),
             _rec("transformer", 1, 0.012, 0.2)]
    train += [_rec(BATCH_BUG, seed, mse, 0.2) for seed, mse in enumerate(bug_mses)]
    table = results_table(train)
    assert [r["family"] for r in table] == ["lstm", "transformer", BATCH_BUG]
    row = next(r for r in claims(table, [], []) if "batch_first" in r["claim"])
    assert row["verdict"].startswith(verdict)
    ratio = sum(bug_mses) / 2 / 0.02
    assert f"the flawed model's MSE is {ratio:.2f}x the naive baseline's (fixed: 0.55x)" \
        in row["measured"]
    below = sum(m < 0.02 for m in bug_mses)
    assert f"seeds below the baseline: {below}/2 with the flaw, 2/2 fixed" in row["measured"]


def test_no_batch_bug_claim_without_the_family():
    table = results_table([_rec("lstm", 0, 0.010, 0.1), _rec("transformer", 0, 0.010, 0.2)])
    assert not any("batch_first" in r["claim"] for r in claims(table, [], []))


def test_batch_bug_claim_needs_a_fixed_model_that_beats_the_baseline():
    table = results_table([_rec("transformer", 0, 0.025, 0.2), _rec(BATCH_BUG, 0, 0.03, 0.2)])
    (row,) = claims(table, [], [])
    assert row["verdict"].startswith("inconclusive: the fixed Transformer does not beat")
