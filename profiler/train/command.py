"""`python -m profiler train`: validate -> train -> probe -> save -> report.

Each step is a plain function; only this module drives the progress bar."""

from __future__ import annotations

import math
import os
import platform
import time
from datetime import datetime
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from profiler.errors import UsageError
from profiler.run.store import check_new_dir
from profiler.train import probes
from profiler.train.data import sine_data
from profiler.train.experiment import init_model, train_model
from profiler.train.models import BATCH_BUG, FAMILIES, VARIANTS
from profiler.train.rundir import TrainRun, save_run, test_set_of
from profiler.train.summary import results_table

GRADIENT_SAMPLES = 200  # recall test sequences used by the gradient probe
# Intra-op threads for training and probes. The models are tiny (50k / 100k parameters,
# batch 32, n = 20): on a 2-core machine 1 -> 2 threads changed an epoch by under 10%
# (LSTM 130 vs 140 ms, Transformer 344 vs 374 ms), while with another process on the
# cores 2 threads made single LSTM epochs over 100x slower (0.14 s -> 24 s: every
# parallel region waits for a descheduled thread). Thread scaling is the sweep's job.
TRAIN_THREADS = 1


def resolve_device(name: str) -> torch.device:
    """cpu, cuda, cuda:N or auto (cuda when available) -> a usable device, else UsageError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r}: expected cpu, cuda, cuda:N or auto") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise UsageError(f"--device {name!r}: expected cpu, cuda, cuda:N or auto")
    if not torch.cuda.is_available():
        raise UsageError(f"--device {name!r}: CUDA is not available on this machine")
    if (device.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return device


def progress_bar(console: Console) -> Progress:
    """The train command's bar, drawn by the training loop itself (Ticker), never by
    rich's own thread: redrawing ten times a second, that thread would take the GIL
    inside the timed epochs and probe steps of this very process."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, disable=not console.is_terminal,
                    auto_refresh=False)


class Ticker:
    """Advance one task of ``progress`` per call and redraw, at most every ``interval_s``
    seconds: called between epochs and between probe steps, outside any step."""

    def __init__(self, progress: Progress, task, interval_s: float = 0.1):
        self.progress, self.task, self.interval_s = progress, task, interval_s
        self._drawn_at = -math.inf

    def __call__(self) -> None:
        self.progress.advance(self.task)
        now = time.perf_counter()
        if now - self._drawn_at >= self.interval_s:
            self.progress.refresh()
            self._drawn_at = now


def check_args(args) -> tuple[Path, torch.device]:
    """The output directory and device, or UsageError for bad input."""
    if args.epochs < 1:
        raise UsageError(f"--epochs must be >= 1 (got {args.epochs})")
    if args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1 (got {args.seeds})")
    cores = os.cpu_count() or 1
    if not 1 <= getattr(args, "threads", 1) <= cores:  # more only stalls (TRAIN_THREADS)
        raise UsageError(f"--threads must be between 1 and the {cores} CPUs here "
                         f"(got {args.threads})")
    out = Path(args.out) if args.out else Path(
        "reports", f"train-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    check_new_dir("--out", out)  # now, not after minutes of training
    return out, resolve_device(args.device)


def environment(device: torch.device) -> dict:
    """What the report prints under "Environment"."""
    return {
        "torch": torch.__version__, "python": platform.python_version(),
        "platform": platform.platform(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
        "device": str(device),
        "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                        else platform.processor() or platform.machine()),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "timestamp": datetime.now().isoformat(timespec="seconds"),
        # Other processes on the machine slow every timing here: keep the evidence.
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }


def run_probes(seeds: list[int], trained_sine: dict, data, step,
               variant: str = "default") -> tuple[list, list]:
    """Gradient-by-distance on the sine models and on the longest recall task; recall vs k.

    ``trained_sine`` maps (family, seed) to the trained sine model; probes run on CPU."""
    gradient, recall = [], []
    for (family, seed), model in trained_sine.items():
        for stage, m in (("init", init_model(family, seed, variant=variant)),
                         ("trained", model.cpu())):
            gradient.append(_gradient_record("sine", family, stage, seed, m, data.test_inputs))
    # Read at call time (not imported by value) so that tests can shrink the probe.
    ks, steps = probes.RECALL_KS, probes.RECALL_STEPS
    probe_inputs = probes.recall_test_set(max(ks))[0][:GRADIENT_SAMPLES]  # (200, k+1, VOCAB)
    for family in FAMILIES:
        for seed in seeds:
            for k in ks:
                record, model = probes.train_recall(family, k, seed, steps, on_step=step,
                                                    variant=variant)
                recall.append(record.to_dict())
                if k == max(ks):
                    init = probes.recall_model(family, k, seed, variant)
                    for stage, m in (("init", init), ("trained", model)):
                        gradient.append(_gradient_record("recall", family, stage, seed, m,
                                                         probe_inputs))
    return gradient, recall


def _gradient_record(task, family, stage, seed, model, inputs) -> dict:
    norms = probes.gradient_by_distance(model, inputs)
    return probes.GradientRecord(task=task, family=family, stage=stage, seed=seed,
                                 seq_len=inputs.shape[1], grad_norm=norms).to_dict()


def train_command(args) -> int:
    """Train both families over the seeds (and the batch-bug Transformer if asked), run the
    probes, save, render the report."""
    # Imported here: matplotlib and seaborn are only needed once there is something to render.
    from profiler.train.report import write_report

    out, device = check_args(args)
    # Set before any work (oneDNN sizes its pools on first use); recorded in env.json
    # and in every record. See TRAIN_THREADS for why not all cores.
    torch.set_num_threads(getattr(args, "threads", TRAIN_THREADS))
    started = time.perf_counter()
    load_at_start = round(os.getloadavg()[0], 2)
    data = sine_data()
    seeds = list(range(args.seeds))
    variant = "as-published" if getattr(args, "as_published", False) else "default"
    # the flawed copy trains on the sine task only: the probes assume samples independent
    families = FAMILIES + ((BATCH_BUG,) if getattr(args, "with_batch_bug", False) else ())
    train_rows, trained = [], {}
    console = Console(stderr=True)
    progress = progress_bar(console)
    with progress:
        bar = progress.add_task("train", total=len(families) * len(seeds) * args.epochs)
        for family in families:
            for seed in seeds:
                progress.update(bar, description=f"train {family} seed {seed}", refresh=True)
                record, model = train_model(family, seed, data, args.epochs, device,
                                            on_epoch=Ticker(progress, bar), variant=variant)
                train_rows.append(record.to_dict())
                if family in FAMILIES:
                    trained[(family, seed)] = model
        probe_bar = progress.add_task("probes (recall task)",
                                      total=len(FAMILIES) * len(seeds)
                                      * len(probes.RECALL_KS) * probes.RECALL_STEPS)
        gradient, recall = run_probes(seeds, trained, data,
                                      step=Ticker(progress, probe_bar), variant=variant)
    env = environment(device)
    env["transformer_variant"] = variant
    env["transformer_hyper"] = VARIANTS[variant]
    env["loadavg_1m_at_start"] = load_at_start
    env["measure_s"] = round(time.perf_counter() - started, 1)  # training + probes, seconds
    run = TrainRun(env=env, train=train_rows, test_set=test_set_of(data),
                   gradient=gradient, recall=recall)
    save_run(out, run)
    write_report(out, run)
    for row in results_table(train_rows):
        print(f"{row['family']:>11}: test MSE {row['test_mse']:.4f} "
              f"(naive {row['baseline_mse']:.4f}), {row['epoch_s'] * 1e3:.0f} ms/epoch")
    print(f"measured in {env['measure_s']:.0f} s; wrote {out / 'report.html'} and "
          f"{out / 'report.md'}")
    return 0
