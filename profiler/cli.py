"""Command line: a thin layer over the Python API (profiler/api.py).

Each command parses its arguments, calls the API (``sweep``, ``load(...).report``,
``compare``) and prints: the sweep summary, the report paths, the comparison table.
Nothing here measures or analyses. Exit status: 0 ok; 1 a regression (compare) or no
point ok (sweep); 2 bad input, as one line on stderr, never a traceback; 130 Ctrl-C.
Heavy modules (torch, pandas) are imported by the command that needs them, so
``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from profiler.errors import UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2) instead of a usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _FMT(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows an option's default, except where there is none to show (None, a
    flag's False) or the help already says what it is."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


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
    """`python -m profiler sweep`: api.sweep, then the summary; exit 1 when no point is ok."""
    from profiler import api
    from profiler.run.spec import check_axis

    overrides = {}
    if args.device:  # checked here too, so that the message names the flag
        overrides["device"] = check_axis("--device", "device", args.device)
    t0 = time.perf_counter()
    run = api.sweep(args.spec, args.out, resume=args.resume,
                    progress=not args.quiet and sys.stderr.isatty(), report=not args.no_report,
                    profile=args.profile, executor=args.executor,
                    executor_options=args.executor_opt, **overrides)
    summary = run.summary
    for line in summary.failures:  # plain lines, not rich: a line must stay one line
        print(f"failed: {line}", file=sys.stderr)
    rows = run.rows  # this session's and, on --resume, the earlier ones
    print_summary(run, rows, time.perf_counter() - t0)
    if summary.interrupted:
        return 130
    if not any(r["status"] == "ok" for r in rows):  # nothing measured is a failure (CI)
        print_failures(run.spec.name, rows)
        return 1
    return 0


def print_failures(name: str, rows: list[dict]) -> None:
    """Why no point came out ok: each distinct status and message once, with its count."""
    counts = Counter((r["status"], r.get("error") or "(no message)") for r in rows)
    print(f"sweep {name}: no point came out ok ({len(rows)} recorded)"
          + (":" if rows else "; continue with --resume"), file=sys.stderr)
    for (status, error), n in counts.most_common():
        print(f"  {n:>4} x {status}: {error}", file=sys.stderr)


def print_summary(run, rows: list[dict], total_s: float) -> None:
    """Points by status, the second pass, contended points, time and efficiency, paths."""
    from rich.console import Console

    from profiler.run.quality import is_flagged
    from profiler.run.store import RESULTS_FILE

    summary = run.summary
    console = Console(soft_wrap=True)  # paths and figures stay on one line when piped
    counts = ", ".join(f"{summary.counts.get(s, 0)} {s}" for s in
                       ("ok", "oom", "timeout", "crashed", "error", "skipped")
                       if summary.counts.get(s) or s == "ok")
    console.print(f"[bold]sweep {run.spec.name}[/bold]: {counts}"
                  + (f", {summary.not_run} not run" if summary.not_run else "")
                  + (" [yellow](interrupted)[/yellow]" if summary.interrupted else ""))
    if summary.remeasured:
        console.print(f"second pass: {summary.remeasured} points measured again "
                      "(contended, out of line with their curve, disagreeing or noisy)")
    flagged = sum(map(is_flagged, rows))
    if flagged:
        console.print(f"[yellow]{flagged} points contended[/yellow]: a busy neighbour "
                      "took the cores; they are kept out of every fit (see the report's "
                      "Run health)")
    if summary.not_run or summary.interrupted:
        console.print(f"continue with: python -m profiler sweep --resume --out {run.dir}")
    console.print(f"time {total_s:.1f} s; measurement efficiency "
                  f"{summary.efficiency:.0%} (time inside timed samples / sweep wall time)")
    console.print(f"results: {run.dir / RESULTS_FILE}")
    for path in run.report_paths:
        if path.suffix in (".html", ".md"):
            console.print(f"report:  {path}")


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
    """`python -m profiler report RUN_DIR`: render, print where the report went."""
    from profiler import api

    run = api.load(args.run_dir)
    formats = tuple(f.strip() for f in str(args.format).split(",") if f.strip())
    for path in run.report(formats, args.train):
        if path.suffix in (".html", ".md"):
            print(path)
    return 0


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare", formatter_class=_FMT,
        help="compare two runs point by point; exit 1 on a regression beyond the noise",
        description="Match points between BASE_RUN and NEW_RUN and classify each from the "
                    "floors (fastest samples) of its independent instances: regressed when "
                    "every new instance "
                    "is slower than every base instance by more than the threshold, and by "
                    "more than the runs' drift (3 sigma of new/base over the points of the "
                    "same device and threads). Exit 1 "
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
    p.add_argument("--confirm", action="store_true",
                   help="measure each regressed point of NEW_RUN again on this machine "
                        "([timing].instances more instances, fresh processes; appended to "
                        "NEW_RUN) and judge again: a slow process or spell of the machine "
                        "rarely repeats, a slower code path does")
    p.add_argument("--format", default="table", help="table, md or html (md/html write a file)")
    p.add_argument("--out", metavar="FILE", default=None,
                   help="where md/html go (default: NEW_RUN/compare.md or .html)")
    p.set_defaults(func=_run_compare)


def _run_compare(args) -> int:
    """`python -m profiler compare BASE NEW`: print, maybe write a file, exit 1 on regression."""
    from pathlib import Path

    from profiler import api
    from profiler.records import point_of
    from profiler.report.compare import Context, html, markdown, print_table
    from profiler.run.store import write_text

    fmt = (args.format or "table").lower()
    if fmt not in ("table", "md", "html"):
        raise UsageError(f"--format {args.format!r}: expected table, md or html")
    out = None
    if fmt != "table":
        out = Path(args.out) if args.out else Path(args.new) / f"compare.{fmt}"
        if args.out and not out.parent.is_dir():  # before --confirm measures anything
            raise UsageError(f"--out {out}: directory {out.parent} does not exist")

    def measuring(row: dict) -> None:
        print(f"measuring again: {point_of(row).label()}", file=sys.stderr, flush=True)

    result = api.compare(args.base, args.new, args.threshold, args.allow_spec_change,
                         confirm=args.confirm, on_start=measuring)
    for w in result.warnings:
        print(f"WARNING: runs differ: {w}", file=sys.stderr)
    ctx = Context(base=str(result.base), new=str(result.new), threshold=result.threshold,
                  warnings=list(result.warnings), info=list(result.info),
                  notes=list(result.notes))
    rows = list(result.rows)
    print_table(rows, ctx)
    if out is not None:
        write_text(out, markdown(rows, ctx) if fmt == "md" else html(rows, ctx))
        print(f"wrote {out}")
    return 1 if result.regressed else 0


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
