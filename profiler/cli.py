"""Command line: a thin pipeline over plain functions (parse -> load -> run -> save -> report).

Bad input (UsageError) is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from profiler.errors import UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2) instead of a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


_FMT = argparse.ArgumentDefaultsHelpFormatter


def _add_sweep(sub) -> None:
    p = sub.add_parser(
        "sweep", formatter_class=_FMT,
        help="measure latency, throughput and memory over a grid of points",
        description="Run a sweep: every point of the grid is measured in an isolated worker "
                    "process and appended to RUN_DIR/results.jsonl; a report is written at the "
                    "end. PRESET_OR_FILE is a preset name (see sweeps/) or a TOML file.")
    p.add_argument("spec", nargs="?", default=None, metavar="PRESET_OR_FILE",
                   help="preset name or path to a sweep TOML file (default: preset 'default'; "
                        "with --resume: the run's own sweep.toml)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="run directory (default: reports/<name>-<timestamp>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out: points already recorded are not measured "
                        "again")
    p.add_argument("--device", action="append", metavar="DEV", default=None,
                   help="replace the grid's device axis (repeatable): cpu, cuda, cuda:1, auto")
    p.add_argument("--profile", choices=("ends", "all", "none"), default=None,
                   help="which points get a torch.profiler trace in RUN_DIR/traces/ (default: "
                        "the file's [profile].points, else 'ends': smallest and largest seq_len "
                        "per model and device)")
    p.add_argument("--no-report", action="store_true", help="do not render the report at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--executor", choices=("local", "submitit"), default="local",
                   help="where points run: 'local' (this machine) or 'submitit' (shard jobs on "
                        "Slurm or as local processes; needs pip install \".[slurm]\")")
    p.add_argument("--executor-opt", action="append", metavar="KEY=VALUE", default=None,
                   help="submitit setting (repeatable): cluster=auto|slurm|local|debug, "
                        "shards=N, gpus=0,1,... (cluster=local), or any key of submitit's "
                        "update_parameters, e.g. slurm_partition=gpu, timeout_min=60")
    p.set_defaults(func=_run_sweep)


def _run_sweep(args) -> int:
    from profiler.run.sweep import run_sweep_command

    return run_sweep_command(args)


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report", formatter_class=_FMT,
        help="render the HTML/Markdown report of a run directory (no measuring)",
        description="Fit scaling laws and render RUN_DIR/report.html, RUN_DIR/report.md and "
                    "RUN_DIR/figures/ from the records alone. Works on partial runs.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `sweep`")
    p.add_argument("--format", default="html,md", help="comma-separated: html, md")
    p.add_argument("--train", metavar="DIR", default=None,
                   help="a `train` output folder whose textbook claims join the report "
                        "(default: RUN_DIR/train/ when present)")
    p.set_defaults(func=_run_report)


def _run_report(args) -> int:
    from profiler.report import report_command

    return report_command(args)


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare", formatter_class=_FMT,
        help="compare two runs point by point; exit 1 on a regression beyond the noise",
        description="Match points between BASE_RUN and NEW_RUN and classify each from the "
                    "medians of its independent instances: regressed when every new instance "
                    "is slower than every base instance by more than the threshold. Exit 1 "
                    "when any point regressed, 0 otherwise, 2 on bad input or when the runs' "
                    "sweep.toml differ in [models], [timing] or [budget].")
    p.add_argument("base", metavar="BASE_RUN")
    p.add_argument("new", metavar="NEW_RUN")
    # 10%: medians of separate processes of one point spread by about +-3% on an idle
    # machine; at 5% a 30-point sweep of unchanged code was flagged about once in eight
    # compares (simulated from five real process medians), at 10% about never, and a
    # 20% slowdown is still caught (docs/regressions.md).
    p.add_argument("--threshold", default="10%",
                   help="smallest slowdown that counts as a regression (e.g. 10%% or 0.1)")
    p.add_argument("--allow-spec-change", action="store_true",
                   help="compare runs whose sweep.toml differ in [models], [timing] or "
                        "[budget] (the differences are printed as warnings)")
    p.add_argument("--format", default="table", help="table, md or html (md/html write a file)")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="where md/html go (default: NEW_RUN/compare.md or .html)")
    p.set_defaults(func=_run_compare)


def _run_compare(args) -> int:
    from profiler.report.compare import compare_command

    return compare_command(args)


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", formatter_class=_FMT,
        help="reproduce the classic LSTM-vs-Transformer sine-wave training experiment",
        description="Train an LSTM and a Transformer on next-step prediction of a noisy sine "
                    "wave over several seeds, measure time per epoch and test MSE, probe "
                    "long-range gradients, and write a figure and a report.")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="output directory (default: reports/train-<timestamp>)")
    p.add_argument("--epochs", type=int, default=20, help="training epochs per model and seed")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, auto")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU intra-op threads (1: these models are too small to gain from more, "
                        "and extra threads stall whenever another process holds a core)")
    p.add_argument("--as-published", action="store_true",
                   help="the classic script's Transformer: feed-forward 2048 and dropout 0.1 "
                        "(nn.TransformerEncoderLayer's defaults) instead of 256 and 0, "
                        "with batch_first fixed")
    p.add_argument("--with-batch-bug", action="store_true",
                   help="also train the Transformer without batch_first=True, the script's "
                        "flaw (it attends across the batch instead of over time), to measure "
                        "what it costs against the naive baseline")
    p.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from profiler.train import train_command

    return train_command(args)


def _add_env(sub) -> None:
    p = sub.add_parser("env", formatter_class=_FMT,
                       help="print the environment a run records in env.json",
                       description="Print machine, torch/CUDA/cuDNN versions, devices, threads "
                                   "and git commit: what every run saves as env.json.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_run_env)


def _run_env(args) -> int:
    from profiler.measure.envinfo import env_command

    return env_command(args)


def _add_models(sub) -> None:
    p = sub.add_parser("models", formatter_class=_FMT,
                       help="list the models of a preset with their parameter counts",
                       description="List the models a sweep would build, with their "
                                   "hyper-parameters and parameter counts.")
    p.add_argument("spec", nargs="?", default="default", metavar="PRESET_OR_FILE",
                   help="preset name or sweep TOML file whose hyper-parameters to use")
    p.set_defaults(func=_run_models)


def _run_models(args) -> int:
    """`python -m profiler models`: the spec's models with their parameter counts."""
    from rich.console import Console
    from rich.table import Table

    from profiler.models.families import build_model, count_params, model_hyper
    from profiler.run.spec import check_models, load_spec

    spec = load_spec(args.spec)
    check_models(spec)  # a model that cannot be built: one line, as for `sweep`
    table = Table(title=f"models of sweep {spec.name!r} ({spec.source})")
    for col in ("name", "family", "params", "hyper-parameters"):
        table.add_column(col, justify="right" if col == "params" else "left")
    for name in spec.grid["model"]:
        section = spec.models.get(name, {})
        model = build_model(name, section)
        hyper = ", ".join(f"{k}={v}" for k, v in model_hyper(model, section).items())
        table.add_row(name, model.family, f"{count_params(model):,}", hyper)
    Console().print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m profiler",
        description="Scaling-analysis profiler for sequence models: how LSTM and Transformer "
                    "cost grows with sequence length, batch size and hardware, measured.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__import__('profiler').__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in (_add_sweep, _add_report, _add_compare, _add_train, _add_env, _add_models):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        # one line, whatever text a library put into the message
        print("error: " + "; ".join(str(e).strip().splitlines()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
