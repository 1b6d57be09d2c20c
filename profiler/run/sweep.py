"""`python -m profiler sweep`: load spec -> expand grid -> run -> save -> report."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from profiler.errors import UsageError
from profiler.run import grid, quality, runner, store
from profiler.run import spec as specs
from profiler.run.runner import RunSummary

WORKER_LOG = "worker.log"  # the measuring processes' stdout/stderr (torch warnings, crashes)


def choose_spec(args, resolve=specs.resolve_devices) -> specs.SweepSpec:
    """The spec to run: the preset/file given, or on --resume the run's own sweep.toml;
    ``resolve`` checks its devices (for --executor submitit: as a job will see them)."""
    saved = Path(args.out) / store.SWEEP_FILE if args.out else None
    if args.resume:
        if not args.out:
            raise UsageError("--resume needs --out RUN_DIR (the run to continue)")
        if not saved.is_file():
            raise UsageError(f"{args.out}: nothing to resume (no {store.SWEEP_FILE})")
        spec = specs.load_spec(str(saved))
        if args.spec is not None:
            asked = specs.load_spec(args.spec)
            if args.device:
                asked = specs.with_devices(asked, args.device)
            asked = resolve(asked)
            if specs.to_toml(asked) != specs.to_toml(spec):
                raise UsageError(f"{args.spec}: differs from the spec of the run in {saved}; "
                                 "resume without a spec to continue that run")
    else:
        spec = specs.load_spec(args.spec or "default")
        if args.device:
            spec = specs.with_devices(spec, args.device)
        if getattr(args, "profile", None):
            spec = specs.with_profile(spec, args.profile)
    spec = resolve(spec)
    specs.check_models(spec)  # every model builds (on the meta device) before any point runs
    return spec


def choose_run_dir(args, spec: specs.SweepSpec) -> Path:
    if args.out:
        run_dir = Path(args.out)
        store.check_new_dir("--out", run_dir)
        if not args.resume and (run_dir / store.RESULTS_FILE).exists():
            raise UsageError(f"--out {run_dir}: already holds results; pass --resume to "
                             "continue that run, or choose another directory")
        return run_dir
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("reports") / f"{spec.name}-{stamp}"


def run_sweep(spec: specs.SweepSpec, run_dir: Path, resume: bool = False,
              progress: bool = True) -> RunSummary:
    """Measure the grid of ``spec`` into ``run_dir`` (locked while it runs)."""
    t0 = time.perf_counter()
    points = grid.expand(spec)
    with store.RunStore(run_dir) as out:
        done_rows = store.load_results(run_dir) if resume and \
            (run_dir / store.RESULTS_FILE).exists() else []
        if resume and (run_dir / "shards").is_dir():
            from profiler.run.shards import reconcile  # a distributed run: fold in its shard files

            done_rows = reconcile(run_dir, out)
        (run_dir / store.SWEEP_FILE).write_text(specs.to_toml(spec), encoding="utf-8")
        from profiler.measure.envinfo import collect_env

        env = collect_env()
        env_path = run_dir / store.ENV_FILE
        if resume and env_path.exists():  # keep the first session's env, add this one
            first = json.loads(env_path.read_text())
            env = dict(first, resumed=[*first.get("resumed", []), env])
        env_path.write_text(json.dumps(env, indent=2), encoding="utf-8")
        run_id = run_dir.name
        done_ids = {r["point_id"] for r in done_rows}
        todo = sum(p.point_id not in done_ids for p in points)
        workers = runner.make_workers(log_path=str(run_dir / WORKER_LOG))
        worker = workers[0]  # the reference and the traces need one process
        bar = None
        if progress:
            from profiler.run.progress import SweepProgress

            bar = SweepProgress(total=todo, title=f"sweep {spec.name}").__enter__()
        summary = None
        try:
            if bar:
                bar.note("measuring the matmul FLOP/s reference")
            peaks = runner.measure_peaks(spec, worker, store.load_peaks(run_dir))
            (run_dir / store.PEAK_FILE).write_text(json.dumps(peaks, indent=2))
            hooks = dict(on_start=bar.start, on_done=bar.done) if bar else {}
            summary = runner.run_points(spec, points, done_rows, out.append, run_id,
                                        workers=workers, **hooks)
            if not summary.interrupted and spec.profile.points != "none":
                targets = runner.trace_targets(spec, store.load_results(run_dir))
                traced = {t["point_id"] for t in store.load_traces(run_dir)}
                index = run_dir / store.TRACE_INDEX
                runner.run_traces(spec, targets, worker, run_dir / store.TRACES_DIR, traced,
                                  lambda row: store.append_jsonl(index, row),
                                  on_start=(lambda p: bar.note(f"tracing {p.label()}"))
                                  if bar else (lambda p: None))
        except KeyboardInterrupt:  # before the points, or while tracing after them
            if summary is None:
                summary = runner.RunSummary(not_run=todo)
            summary.interrupted = True
        finally:
            for w in workers:
                w.close()
            if bar:
                bar.__exit__(None, None, None)
        store.write_csv(run_dir, store.load_results(run_dir))
    # efficiency is judged against the whole sweep, reference and traces included
    summary.wall_s = time.perf_counter() - t0
    return summary


def run_sweep_command(args) -> int:
    opts = None
    if getattr(args, "executor", "local") != "local" or getattr(args, "executor_opt", None):
        from profiler.run import distributed

        opts = distributed.options_from_args(args)  # no submitit: exit 2 before any work
    spec = choose_spec(args, (lambda s: distributed.resolve_devices(s, opts)) if opts is not None
                       else specs.resolve_devices)
    if opts is not None:
        distributed.check_executor(opts, spec)
    run_dir = choose_run_dir(args, spec)
    t0 = time.perf_counter()
    progress = not args.quiet and sys.stderr.isatty()
    if opts is not None:
        summary = distributed.run_sweep_distributed(spec, run_dir, opts, resume=args.resume,
                                                    progress=progress)
    else:
        summary = run_sweep(spec, run_dir, resume=args.resume, progress=progress)
    rows = store.load_results(run_dir)  # this session's and, on --resume, the earlier ones
    any_ok = any(r["status"] == "ok" for r in rows)
    report_paths = []
    if not args.no_report and not summary.interrupted and any_ok:
        from profiler.report import render_report

        report_paths = render_report(run_dir, ("html", "md"))
    print_summary(spec, run_dir, summary, time.perf_counter() - t0, report_paths)
    if summary.interrupted:
        return 130
    if not any_ok:  # nothing measured is a failure, whatever the reasons (CI must see it)
        print_failures(spec, rows)
        return 1
    return 0


def print_failures(spec, rows: list[dict]) -> None:
    """Why no point came out ok: each distinct status and message once, with its count."""
    counts = Counter((r["status"], r.get("error") or "(no message)") for r in rows)
    print(f"sweep {spec.name}: no point came out ok ({len(rows)} recorded)"
          + (":" if rows else "; continue with --resume"), file=sys.stderr)
    for (status, error), n in counts.most_common():
        print(f"  {n:>4} x {status}: {error}", file=sys.stderr)


def print_summary(spec, run_dir: Path, summary: RunSummary, total_s: float,
                  report_paths) -> None:
    from rich.console import Console

    console = Console(soft_wrap=True)  # paths and figures stay on one line when piped
    counts = ", ".join(f"{summary.counts.get(s, 0)} {s}" for s in
                       ("ok", "oom", "timeout", "crashed", "error", "skipped")
                       if summary.counts.get(s) or s == "ok")
    console.print(f"[bold]sweep {spec.name}[/bold]: {counts}"
                  + (f", {summary.not_run} not run" if summary.not_run else "")
                  + (" [yellow](interrupted)[/yellow]" if summary.interrupted else ""))
    if summary.remeasured:
        console.print(f"second pass: {summary.remeasured} points measured again "
                      "(contended, out of line with their curve, disagreeing or noisy)")
    if (run_dir / store.RESULTS_FILE).exists():
        rows = store.load_results(run_dir)
        flagged = sum(map(quality.is_flagged, rows))
        if flagged:
            console.print(f"[yellow]{flagged} points contended[/yellow]: a busy neighbour "
                          "took the cores; they are kept out of every fit (see the report's "
                          "Run health)")
    if summary.not_run or summary.interrupted:
        console.print(f"continue with: python -m profiler sweep --resume --out {run_dir}")
    console.print(f"time {total_s:.1f} s; measurement efficiency "
                  f"{summary.efficiency:.0%} (time inside timed samples / sweep wall time)")
    console.print(f"results: {run_dir / store.RESULTS_FILE}")
    for path in report_paths:
        if path.suffix in (".html", ".md"):
            console.print(f"report:  {path}")
