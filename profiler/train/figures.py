"""The PNG figures of the train report; the only module of train/ that plots (with the
report's theme and PNG writer, report/plotting.py).

training.png: training loss, training time, test predictions vs truth, error over x.
claims.png:   gradient norm by distance (sine and recall models), recall accuracy vs k.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402

from profiler.report import plotting  # noqa: E402
from profiler.train.models import BATCH_BUG, FAMILIES  # noqa: E402
from profiler.train.rundir import TrainRun  # noqa: E402
from profiler.train.summary import mean_curve, recall_by_k, results_table  # noqa: E402

COLORS = {"lstm": "tab:blue", "transformer": "tab:orange", BATCH_BUG: "tab:red",
          "naive": "tab:gray"}
LABELS = {"lstm": "LSTM", "transformer": "Transformer",
          BATCH_BUG: "Transformer, batch_first missing", "naive": "naive (last value)"}
DPI = 110
ERROR_SMOOTHING = 15  # test windows (about 0.75 rad of x) per point of the error curve


def _families(run: TrainRun) -> list[str]:
    return [f for f in FAMILIES + (BATCH_BUG,) if any(r["family"] == f for r in run.train)]


def training_figure(run: TrainRun, path: Path) -> Path:
    """The four-panel figure of the classic experiment."""
    plotting.set_theme()
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    _loss_panel(axes[0, 0], run)
    _time_panel(axes[0, 1], run)
    _prediction_panel(axes[1, 0], run)
    _error_panel(axes[1, 1], run)
    fig.tight_layout()
    return plotting.write_png(fig, path, dpi=DPI, tight=False)


def _loss_panel(ax, run: TrainRun) -> None:
    for family in _families(run):
        losses = np.array([r["train_loss"] for r in run.train if r["family"] == family])
        epochs = np.arange(1, losses.shape[1] + 1)  # losses: (seeds, epochs)
        seeds = f"{len(losses)} seed" + ("s" if len(losses) > 1 else "")
        ax.plot(epochs, losses.mean(0), color=COLORS[family], marker="o", ms=3,
                label=f"{LABELS[family]} training loss (mean of {seeds})")
        ax.fill_between(epochs, losses.min(0), losses.max(0), color=COLORS[family], alpha=0.2)
        tests = [r["test_mse_by_epoch"] for r in run.train if r["family"] == family]
        for i, curve in enumerate(tests):  # one thin line per seed: the jitter is the point
            ax.plot(epochs, curve, color=COLORS[family], ls="--", lw=0.9, alpha=0.7,
                    label=f"{LABELS[family]} test MSE, per seed" if i == 0 else None)
    baseline = run.train[0]["baseline_mse"]
    ax.axhline(baseline, color=COLORS["naive"], ls="--",
               label=f"naive baseline, test MSE {baseline:.3g}")
    ax.set(yscale="log", xlabel="epoch", ylabel="MSE (log scale)",
           title="Training loss (band: min-max over seeds) and test MSE after each epoch")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=9)


def _time_panel(ax, run: TrainRun) -> None:
    table = results_table(run.train)
    names = [LABELS[r["family"]].replace(", ", ",\n") for r in table]  # room under a bar
    compute = [r["train_s"] for r in table]
    errors = [r["train_s_std"] or 0 for r in table]
    data = [r["data_s"] for r in table]
    colors = [COLORS[r["family"]] for r in table]
    ax.bar(names, compute, yerr=errors, color=colors, capsize=6,
           label="forward + backward + step")
    ax.bar(names, data, bottom=compute, color="lightgray", hatch="//",
           label="data loading (timed apart)")
    for i, r in enumerate(table):
        ax.annotate(f"{r['train_s']:.2f} s\n{r['epoch_s'] * 1e3:.0f} ms/epoch (median)",
                    (i, compute[i] + errors[i] + data[i]), xytext=(0, 6),
                    textcoords="offset points", ha="center", fontsize=9)
    ax.set_ylim(0, 1.3 * max(c + e + d for c, e, d in zip(compute, errors, data, strict=True)))
    threads = run.train[0]["threads"]
    threads = f"{threads} thread" + ("s" if threads > 1 else "")
    ax.set(ylabel="total training time (s)",
           title=f"Training time, {run.train[0]['epochs']} epochs "
                 f"({run.train[0]['device']}, {threads}; bar: mean ± std over seeds)")
    ax.title.set_fontsize(11)
    ax.legend(fontsize=9, loc="upper left")


def _first_seed_predictions(run: TrainRun, family: str) -> tuple[int, np.ndarray]:
    rec = min((r for r in run.train if r["family"] == family), key=lambda r: r["seed"])
    return rec["seed"], np.array(rec["test_predictions"])


def _prediction_panel(ax, run: TrainRun) -> None:
    x, truth = np.array(run.test_set["x"]), np.array(run.test_set["truth"])
    ax.plot(x, truth, "k.", ms=4, label="truth: sin(x) + noise")
    ax.plot(x, np.sin(x), color="k", lw=0.8, alpha=0.5, label="sin(x)")
    for family in _families(run):
        seed, pred = _first_seed_predictions(run, family)
        ax.plot(x, pred, color=COLORS[family], lw=1.6, label=f"{LABELS[family]} (seed {seed})")
    ax.set(xlabel="x (radians; test windows)", ylabel="y",
           title="Test predictions vs truth (one step ahead)")
    ax.legend(fontsize=9, loc="upper left", ncol=2)


def _moving_mean(values: np.ndarray, width: int = ERROR_SMOOTHING) -> np.ndarray:
    """Centered moving mean (shorter windows at the ends), same length as ``values``."""
    kernel = np.ones(width)
    return np.convolve(values, kernel, "same") / np.convolve(np.ones_like(values), kernel, "same")


def _error_panel(ax, run: TrainRun) -> None:
    x, truth = np.array(run.test_set["x"]), np.array(run.test_set["truth"])
    series = [("naive", np.array(run.test_set["naive"]), "")]
    for family in _families(run):
        seed, pred = _first_seed_predictions(run, family)
        series.append((family, pred, f" (seed {seed})"))
    for name, pred, note in series:
        squared = (pred - truth) ** 2  # (180,) per test window
        ax.plot(x, _moving_mean(squared), color=COLORS[name], lw=1.6,
                label=f"{LABELS[name]}{note}, test MSE {squared.mean():.3g}")
    top = max(_moving_mean((p - truth) ** 2).max() for _, p, _ in series)
    ax.set_ylim(top=top * 3)  # headroom for the legend above the curves (log scale)
    ax.set(yscale="log", xlabel="x (radians; test windows)",
           ylabel="squared error (log scale)",
           title=f"Prediction error over time (moving mean over {ERROR_SMOOTHING} windows)")
    ax.legend(fontsize=9, loc="upper left")


def claims_figure(run: TrainRun, path: Path) -> Path:
    """Gradient norm vs distance (sine models, recall models) and recall accuracy vs k."""
    plotting.set_theme()
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    for ax, task in zip(axes[:2], ("sine", "recall"), strict=True):
        _gradient_panel(ax, run, task)
    _recall_panel(axes[2], run)
    fig.tight_layout()
    return plotting.write_png(fig, path, dpi=DPI, tight=False)


def _gradient_panel(ax, run: TrainRun, task: str) -> None:
    seq_len = None
    for family in _families(run):
        for stage, style in (("init", "--"), ("trained", "-")):
            curve = mean_curve(run.gradient, task, family, stage)
            if not curve:
                continue
            seq_len = len(curve)
            ax.plot(range(len(curve)), curve, style, color=COLORS[family], marker=".",
                    label=f"{LABELS[family]}, {'at init' if stage == 'init' else 'trained'}")
    what = "sine models, window" if task == "sine" else "recall models, sequence"
    ax.set(yscale="log", xlabel="distance k (0 = last input x_n)",
           ylabel="mean ‖dŷ / dx_(n-k)‖ (log scale)",
           title=f"Gradient norm vs distance ({what} {seq_len})")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(fontsize=9)


def _recall_panel(ax, run: TrainRun) -> None:
    for family in _families(run):
        acc = recall_by_k(run.recall, family)
        if not acc:
            continue
        ks = list(acc)
        ax.plot(ks, [m for m, _ in acc.values()], color=COLORS[family], marker="o",
                label=LABELS[family])
        points = [(r["k"], r["accuracy"]) for r in run.recall if r["family"] == family]
        ax.scatter(*zip(*points, strict=True), color=COLORS[family], alpha=0.35, s=14)
    if run.recall:
        ax.axhline(run.recall[0]["chance"], color=COLORS["naive"], ls="--",
                   label=f"chance (1/{round(1 / run.recall[0]['chance'])})")
        steps = run.recall[0]["steps"]
    else:
        steps = "?"
    ks = sorted({r["k"] for r in run.recall}) or [1]
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set(xlabel="distance k (recall the symbol k steps back; log scale)",
           ylabel="test accuracy", ylim=(0, 1.05),
           title=f"Recall accuracy vs distance ({steps} Adam steps each)\n"
                 "line: mean over seeds; dots: single seeds")
    ax.legend(fontsize=9, loc="lower left", bbox_to_anchor=(0.0, 0.16))
