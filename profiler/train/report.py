"""report.md and report.html of the train experiment, from a TrainRun alone.

The content is built once as a list of blocks (heading, paragraph, table, image)
and rendered twice: Markdown links figures/*.png, HTML embeds them as base64
data URIs so that the file opens offline on its own.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

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


def build_blocks(run: TrainRun, figures: dict[str, Path]) -> list[tuple]:
    """The report's content, format-neutral."""
    table = results_table(run.train)
    first = run.train[0]
    env = run.env
    variant = first.get("variant", "default")  # runs from before variants: the default
    hyper = VARIANTS[variant]
    blocks: list[tuple] = [
        ("h1", "LSTM vs Transformer: the classic sine-wave experiment"),
        ("p", f"Next-step prediction on y = sin(x) + 0.1·N(0,1), 1000 points over x in [0, 50]: "
              f"windows of {WINDOW} values predict the next one, the first {TRAIN_WINDOWS} "
              f"windows train and the remaining {len(run.test_set['x'])} test. Batch "
              f"{BATCH_SIZE}, shuffled; Adam, lr {LR}; {first['epochs']} epochs; "
              f"{len({r['seed'] for r in run.train})} seed(s) (a seed fixes the initial weights "
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
        ("p", "Timing: time.perf_counter around each epoch's forward, backward and optimizer "
              "steps (garbage collector off, device synchronised before reading the clock). "
              "Drawing the shuffled batches from the DataLoader is timed separately "
              "(\"data loading\") and is not in the training time. Time per epoch is the median "
              "epoch of each seed (epoch 1 includes warm-up), then mean ± std over seeds; every "
              "raw epoch time is in train.jsonl and train_epochs.csv. The test MSE is that of "
              "the model after the last epoch; it is also recorded after every epoch (dashed "
              "in the loss panel), because it jitters from epoch to epoch."),
        ("h2", "Results"),
        ("table",
         ["model", "params", "test MSE (mean ± std over seeds)", "naive baseline MSE",
          "seeds below baseline", "test MSE jitter, last 5 epochs (std)",
          "time per epoch (ms)", "total training time (s)", "data loading (s)"],
         [[LABELS[r["family"]], f"{r['params']:,}", _pm(r["test_mse"], r["test_mse_std"]),
           f"{r['baseline_mse']:.4f}", f"{r['seeds_below_baseline']}/{r['seeds']}",
           f"{r['test_mse_jitter']:.4f}",
           _pm(r["epoch_s"] * 1e3, r["epoch_s_std"] and r["epoch_s_std"] * 1e3, "{:.1f}"),
           _pm(r["train_s"], r["train_s_std"], "{:.2f}"), f"{r['data_s']:.2f}"]
          for r in table]),
        ("img", "Training loss, training time, test predictions and prediction error",
         figures["training"]),
        ("h2", "The textbook claims, measured"),
        ("table", ["claim", "measured", "verdict"],
         [[c["claim"], c["measured"], c["verdict"]]
          for c in claims(table, run.gradient, run.recall)]),
    ]
    blocks += _batch_bug_blocks(table) + _recall_blocks(run) + _gradient_blocks(run)
    blocks += [
        ("img", "Gradient norm vs distance and recall accuracy vs distance", figures["claims"]),
        ("p", "Not measured here: streaming (per-token latency and state memory when decoding "
              "token by token) is the sweep's decode phase; sequential vs parallel execution "
              "(batch and thread speedup over sequence length) is the sweep's scaling report."),
        ("h2", "Environment"),
        ("table", ["key", "value"], [[k, str(v)] for k, v in env.items()]),
    ]
    return blocks


def _batch_bug_blocks(table: list[dict]) -> list[tuple]:
    """What the classic script's missing batch_first costs (``train --with-batch-bug``)."""
    by = {r["family"]: r for r in table}
    bug, tf = by.get(BATCH_BUG), by.get("transformer")
    if not bug or not tf:
        return []
    base = bug["baseline_mse"]
    return [
        ("h2", "The classic script's batch_first flaw, measured"),
        ("p", "The same Transformer built without batch_first=True, as the classic script "
              "built it: the encoder reads the (batch, time, feature) input as (time, batch, "
              "feature), so at each position it attends across the other windows of the "
              "batch (32 in training, all 180 test windows at once in testing) and never "
              "over time; the head reads the last position, which then has seen only the "
              "last value of each window. Trained and tested exactly like the others."),
        ("table", ["model", "test MSE (mean ± std over seeds)", "/ naive baseline MSE",
                   "seeds below the baseline"],
         [[LABELS[r["family"]], _pm(r["test_mse"], r["test_mse_std"]),
           f"{r['test_mse'] / base:.2f}x", f"{r['seeds_below_baseline']}/{r['seeds']}"]
          for r in (tf, bug)]),
    ]


def _recall_blocks(run: TrainRun) -> list[tuple]:
    if not run.recall:
        return []
    lstm, tf = recall_by_k(run.recall, "lstm"), recall_by_k(run.recall, "transformer")
    r0 = run.recall[0]
    return [
        ("h2", "Recall k steps back"),
        ("p", f"A sequence of k+1 random symbols (one-hot, {VOCAB} symbols, chance "
              f"{r0['chance']:.3f}) is read; at the last position the model must name the first "
              f"symbol, k steps back. Each (model, k, seed) trains from scratch for {r0['steps']} "
              f"Adam steps (lr {RECALL_LR}, batch {RECALL_BATCH}) and is tested on "
              f"{RECALL_TEST} held-out sequences: the accuracy is what this fixed budget buys, "
              f"not a capacity limit."),
        ("table", ["k", "LSTM accuracy", "Transformer accuracy"],
         [[str(k), _pm(*lstm[k], "{:.3f}"), _pm(*tf[k], "{:.3f}")] for k in lstm if k in tf]),
    ]


def _gradient_blocks(run: TrainRun) -> list[tuple]:
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
        return []
    return [
        ("h2", "Gradient norm by distance"),
        ("p", "Mean over test samples (and seeds) of ‖dŷ/dx_(n-k)‖, k = 0 being the last "
              "input. Sine models: the 180 test windows; recall models (longest k): 200 "
              "held-out sequences, Frobenius norm of the Jacobian of the logits."),
        ("table", ["task", "model", "stage"] + [f"k={k}" for k in GRADIENT_DISTANCES]
         + ["first input"], rows),
    ]


def to_markdown(blocks: list[tuple], out: Path) -> str:
    lines = []
    for kind, *rest in blocks:
        if kind == "h1":
            lines += [f"# {rest[0]}", ""]
        elif kind == "h2":
            lines += [f"## {rest[0]}", ""]
        elif kind == "p":
            lines += [rest[0], ""]
        elif kind == "table":
            headers, rows = rest
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                      for row in rows]
            lines.append("")
        elif kind == "img":
            lines += [f"![{rest[0]}]({rest[1].relative_to(out).as_posix()})", ""]
    return "\n".join(lines)


def to_html(blocks: list[tuple]) -> str:
    e = html.escape
    body = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{e(rest[0])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(rest[0])}</p>")
        elif kind == "table":
            headers, rows = rest
            head = "".join(f"<th>{e(h)}</th>" for h in headers)
            cells = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                            for row in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode(rest[1].read_bytes()).decode("ascii")
            body.append(f'<img alt="{e(rest[0])}" src="data:image/png;base64,{data}">')
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}"
             "th{background:#f3f3f3}img{max-width:100%}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            "<title>LSTM vs Transformer: train report</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(out: Path, run: TrainRun) -> tuple[Path, Path]:
    """Render figures/, report.md and report.html into ``out``."""
    fig_dir = out / FIGURES
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = {"training": training_figure(run, fig_dir / "training.png"),
               "claims": claims_figure(run, fig_dir / "claims.png")}
    blocks = build_blocks(run, figures)
    md, page = out / "report.md", out / "report.html"
    md.write_text(to_markdown(blocks, out), encoding="utf-8")
    page.write_text(to_html(blocks), encoding="utf-8")
    return md, page
