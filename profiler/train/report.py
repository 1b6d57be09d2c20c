"""report.md and report.html of the train experiment, from a TrainRun alone.

The content is built once as a Document (report/document.py) and written by the
report writers: Markdown links figures/*.png, HTML embeds them as base64 data URIs
so that the file opens offline on its own.
"""

from __future__ import annotations

from pathlib import Path

from profiler.report.document import Document, Image, Paragraph, Section, Table
from profiler.report.writer import FORMATS, write_document
from profiler.train.data import BATCH_SIZE, TRAIN_WINDOWS, WINDOW
from profiler.train.experiment import LR
from profiler.train.figures import LABELS, claims_figure, training_figure
from profiler.train.models import BATCH_BUG, HEADS, HIDDEN, LAYERS, VARIANTS
from profiler.train.probes import RECALL_BATCH, RECALL_LR, RECALL_TEST, VOCAB
from profiler.train.rundir import TrainRun
from profiler.train.summary import claims, mean_curve, recall_by_k, results_table

FIGURES = "figures"
GRADIENT_DISTANCES = (0, 1, 2, 4, 8, 16)  # columns of the gradient table, plus the first input


def _pm(mean: float, std: float | None, fmt: str = "{:.4f}") -> str:
    return fmt.format(mean) + ("" if std is None else " ± " + fmt.format(std))


def build_document(run: TrainRun, figures: dict[str, Path]) -> Document:
    """The report's content, format-neutral."""
    table = results_table(run.train)
    first = run.train[0]
    env = run.env
    variant = first.get("variant", "default")  # runs from before variants: the default
    hyper = VARIANTS[variant]
    seeds = len({r["seed"] for r in run.train})
    setup = [
        Paragraph(
            "Next-step prediction on y = sin(x) + 0.1·N(0,1), 1000 points over x in [0, 50]: "
            f"windows of {WINDOW} values predict the next one, the first {TRAIN_WINDOWS} "
            f"windows train and the remaining {len(run.test_set['x'])} test. Batch "
            f"{BATCH_SIZE}, shuffled; Adam, lr {LR}; {first['epochs']} epochs; "
            f"{seeds} seed(s) (a seed fixes the initial weights "
            f"and the batch order; the data are the same for all seeds). LSTM: hidden "
            f"{HIDDEN}, {LAYERS} layers, linear head on the last step. Transformer: linear "
            f"projection to {HIDDEN}, learned positional embedding, {LAYERS} encoder layers "
            f"with {HEADS} heads, feed-forward {hyper['ff']}, dropout {hyper['dropout']}, "
            f"linear head on the last position. Both batch_first. "
            + ("These are the classic script's own Transformer hyper-parameters "
               "(--as-published: nn.TransformerEncoderLayer's defaults), with batch_first "
               "fixed." if variant == "as-published" else
               "The classic script used feed-forward 2048 and dropout 0.1 "
               "(nn.TransformerEncoderLayer's defaults; run with --as-published for "
               "those); 256 keeps the two families within a factor ~2 in parameters, and "
               "dropout 0 keeps masks out of the timing.")),
        Paragraph(
            "Timing: time.perf_counter around each epoch's forward, backward and optimizer "
            "steps (garbage collector off, device synchronised before reading the clock). "
            "Drawing the shuffled batches from the DataLoader is timed separately "
            "(\"data loading\") and is not in the training time. Time per epoch is the median "
            "epoch of each seed (epoch 1 includes warm-up), then mean ± std over seeds; every "
            "raw epoch time is in train.jsonl and train_epochs.csv. The test MSE is that of "
            "the model after the last epoch; it is also recorded after every epoch (dashed "
            "in the loss panel), because it jitters from epoch to epoch."),
    ]
    results = [
        Table(["model", "params", "test MSE (mean ± std over seeds)", "naive baseline MSE",
               "seeds below baseline", "test MSE jitter, last 5 epochs (std)",
               "time per epoch (ms)", "total training time (s)", "data loading (s)"],
              [[LABELS[r["family"]], f"{r['params']:,}", _pm(r["test_mse"], r["test_mse_std"]),
                f"{r['baseline_mse']:.4f}", f"{r['seeds_below_baseline']}/{r['seeds']}",
                f"{r['test_mse_jitter']:.4f}",
                _pm(r["epoch_s"] * 1e3, r["epoch_s_std"] and r["epoch_s_std"] * 1e3, "{:.1f}"),
                _pm(r["train_s"], r["train_s_std"], "{:.2f}"), f"{r['data_s']:.2f}"]
               for r in table]),
        Image(figures["training"],
              "Training loss, training time, test predictions and prediction error"),
    ]
    verdicts = [
        Table(["claim", "measured", "verdict"],
              [[c["claim"], c["measured"], c["verdict"]]
               for c in claims(table, run.gradient, run.recall)]),
        Image(figures["claims"], "Gradient norm vs distance and recall accuracy vs distance"),
        Paragraph("Not measured here: streaming (per-token latency and state memory when "
                  "decoding token by token) is the sweep's decode phase; sequential vs "
                  "parallel execution (batch and thread speedup over sequence length) is the "
                  "sweep's scaling report."),
    ]
    sections = [Section("Setup", setup), Section("Results", results),
                Section("The textbook claims, measured", verdicts)]
    sections += [s for s in (_batch_bug_section(table), _recall_section(run),
                             _gradient_section(run)) if s is not None]
    sections.append(Section("Environment", [Table(["key", "value"],
                                                  [[k, str(v)] for k, v in env.items()])]))
    return Document("LSTM vs Transformer: the classic sine-wave experiment", "", sections)


def _batch_bug_section(table: list[dict]) -> Section | None:
    """What the classic script's missing batch_first costs (``train --with-batch-bug``)."""
    by = {r["family"]: r for r in table}
    bug, tf = by.get(BATCH_BUG), by.get("transformer")
    if not bug or not tf:
        return None
    base = bug["baseline_mse"]
    return Section("The classic script's batch_first flaw, measured", [
        Paragraph("The same Transformer built without batch_first=True, as the classic script "
                  "built it: the encoder reads the (batch, time, feature) input as (time, batch, "
                  "feature), so at each position it attends across the other windows of the "
                  "batch (32 in training, all 180 test windows at once in testing) and never "
                  "over time; the head reads the last position, which then has seen only the "
                  "last value of each window. Trained and tested exactly like the others."),
        Table(["model", "test MSE (mean ± std over seeds)", "/ naive baseline MSE",
               "seeds below the baseline"],
              [[LABELS[r["family"]], _pm(r["test_mse"], r["test_mse_std"]),
                f"{r['test_mse'] / base:.2f}x", f"{r['seeds_below_baseline']}/{r['seeds']}"]
               for r in (tf, bug)]),
    ])


def _recall_section(run: TrainRun) -> Section | None:
    if not run.recall:
        return None
    lstm, tf = recall_by_k(run.recall, "lstm"), recall_by_k(run.recall, "transformer")
    r0 = run.recall[0]
    return Section("Recall k steps back", [
        Paragraph(f"A sequence of k+1 random symbols (one-hot, {VOCAB} symbols, chance "
                  f"{r0['chance']:.3f}) is read; at the last position the model must name "
                  f"the first symbol, k steps back. Each (model, k, seed) trains from scratch "
                  f"for {r0['steps']} Adam steps (lr {RECALL_LR}, batch {RECALL_BATCH}) and is "
                  f"tested on {RECALL_TEST} held-out sequences: the accuracy is what this "
                  f"fixed budget buys, not a capacity limit."),
        Table(["k", "LSTM accuracy", "Transformer accuracy"],
              [[str(k), _pm(*lstm[k], "{:.3f}"), _pm(*tf[k], "{:.3f}")]
               for k in lstm if k in tf]),
    ])


def _gradient_section(run: TrainRun) -> Section | None:
    rows = []
    for task in ("sine", "recall"):
        for family in ("lstm", "transformer"):
            for stage in ("init", "trained"):
                curve = mean_curve(run.gradient, task, family, stage)
                if curve:
                    rows.append([f"{task} (n={len(curve)})", LABELS[family], stage]
                                + [f"{curve[k]:.2e}" if k < len(curve) else ""
                                   for k in GRADIENT_DISTANCES]
                                + [f"{curve[-1]:.2e} (k={len(curve) - 1})"])
    if not rows:
        return None
    return Section("Gradient norm by distance", [
        Paragraph("Mean over test samples (and seeds) of ‖dŷ/dx_(n-k)‖, k = 0 being the last "
                  "input. Sine models: the 180 test windows; recall models (longest k): 200 "
                  "held-out sequences, Frobenius norm of the Jacobian of the logits."),
        Table(["task", "model", "stage"] + [f"k={k}" for k in GRADIENT_DISTANCES]
              + ["first input"], rows),
    ])


def write_report(out: Path, run: TrainRun) -> tuple[Path, Path]:
    """Render figures/, report.md and report.html into ``out``."""
    fig_dir = out / FIGURES
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = {"training": training_figure(run, fig_dir / "training.png"),
               "claims": claims_figure(run, fig_dir / "claims.png")}
    page, md = write_document(build_document(run, figures), out / "report", FORMATS)
    return md, page
