"""The train output directory: what the experiment writes and what the report reads.

    OUT/env.json            torch version, threads, device, machine
    OUT/train.jsonl         one TrainRecord per (family, seed): raw per-epoch times, losses,
                            test predictions
    OUT/train.csv           one row per (family, seed): the scalar fields
    OUT/train_epochs.csv    one row per (family, seed, epoch): loss, test MSE, compute_s, data_s
    OUT/test_set.csv        the test windows' x, truth and naive prediction
    OUT/probes.json         {"gradient": [GradientRecord...], "recall": [RecallRecord...]}
    OUT/gradient.csv        one row per (task, family, stage, seed, distance)
    OUT/recall.csv          one row per (family, k, seed)
    OUT/figures/  report.html  report.md

The report is rebuilt from these files alone (``load_run``), without training again.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from profiler.errors import UsageError
from profiler.train.data import SineData, naive_predictions

ENV_FILE = "env.json"
TRAIN_FILE = "train.jsonl"
TRAIN_CSV = "train.csv"
EPOCHS_CSV = "train_epochs.csv"
TEST_SET_CSV = "test_set.csv"
PROBES_FILE = "probes.json"
GRADIENT_CSV = "gradient.csv"
RECALL_CSV = "recall.csv"


@dataclass(frozen=True)
class TrainRun:
    """Everything the report needs, as plain dicts and lists."""

    env: dict
    train: list[dict]  # TrainRecord.to_dict() rows
    test_set: dict  # {"x": [...], "truth": [...], "naive": [...]}
    gradient: list[dict]  # GradientRecord.to_dict() rows
    recall: list[dict]  # RecallRecord.to_dict() rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        path.write_text("")
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_set_of(data: SineData) -> dict:
    """The test windows as plain lists, for plots of predictions over x."""
    return {"x": data.test_x.tolist(), "truth": data.test_targets.squeeze(-1).tolist(),
            "naive": naive_predictions(data.test_inputs).squeeze(-1).tolist()}


def save_run(out: Path, run: TrainRun) -> None:
    """Write every file of the output directory except figures and reports."""
    out.mkdir(parents=True, exist_ok=True)
    (out / ENV_FILE).write_text(json.dumps(run.env, indent=2) + "\n")
    with open(out / TRAIN_FILE, "w", encoding="utf-8") as f:
        for row in run.train:
            f.write(json.dumps(row) + "\n")
    _write_csv(out / TRAIN_CSV, [{k: v for k, v in r.items() if not isinstance(v, list)}
                                 for r in run.train])
    _write_csv(out / EPOCHS_CSV, [
        {"family": r["family"], "seed": r["seed"], "epoch": e + 1, "train_loss": loss,
         "test_mse": r["test_mse_by_epoch"][e], "compute_s": r["epoch_compute_s"][e],
         "data_s": r["epoch_data_s"][e]}
        for r in run.train for e, loss in enumerate(r["train_loss"])])
    t = run.test_set
    _write_csv(out / TEST_SET_CSV, [{"x": x, "truth": y, "naive": n} for x, y, n
                                    in zip(t["x"], t["truth"], t["naive"], strict=True)])
    (out / PROBES_FILE).write_text(json.dumps({"gradient": run.gradient, "recall": run.recall},
                                              indent=1) + "\n")
    _write_csv(out / GRADIENT_CSV, [
        {"task": g["task"], "family": g["family"], "stage": g["stage"], "seed": g["seed"],
         "seq_len": g["seq_len"], "distance": k, "grad_norm": v}
        for g in run.gradient for k, v in enumerate(g["grad_norm"])])
    _write_csv(out / RECALL_CSV, run.recall)


def load_run(out: Path) -> TrainRun:
    """Read an output directory written by ``save_run``."""
    if not (out / TRAIN_FILE).is_file():
        raise UsageError(f"{out}: not a train output directory (no {TRAIN_FILE})")
    env = json.loads((out / ENV_FILE).read_text()) if (out / ENV_FILE).is_file() else {}
    train = [json.loads(line) for line in (out / TRAIN_FILE).read_text().splitlines() if line]
    with open(out / TEST_SET_CSV, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    test_set = {k: [float(r[k]) for r in rows] for k in ("x", "truth", "naive")}
    probes = json.loads((out / PROBES_FILE).read_text())
    return TrainRun(env=env, train=train, test_set=test_set, gradient=probes["gradient"],
                    recall=probes["recall"])
