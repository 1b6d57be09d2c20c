"""`python -m profiler sweep`: load spec -> expand grid -> run -> save -> report.

The measuring itself is one job (run/job.py) for every point of the grid, in this
process: the same job a shard of a distributed sweep runs for its points."""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from profiler.errors import UsageError
from profiler.run import grid, job, quality, store
from profiler.run import spec as specs
from profiler.run.runner import RunSummary


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
    """Measure the grid of ``spec`` into ``run_dir`` (locked while it runs): one
    measuring job for all points, in this process."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    points = grid.expand(spec)
    with store.RunStore(run_dir) as out:
        done_rows = out.rows() if resume else []
        if resume and (run_dir / "shards").is_dir():
            from profiler.run.shards import reconcile  # a distributed run: fold in its shard files

            done_rows = reconcile(run_dir, out)
        store.write_text(run_dir / store.SWEEP_FILE, specs.to_toml(spec))
        from profiler.measure.envinfo import collect_env

        store.save_env(run_dir, collect_env(), resume)
        done_ids = {r["point_id"] for r in done_rows}
        bar = None
        if progress:
            from profiler.run.progress import SweepProgress

            todo = sum(p.point_id not in done_ids for p in points)
            bar = SweepProgress(total=todo, title=f"sweep {spec.name}").__enter__()
        try:
            summary = job.run_job(spec, points, done_rows, out, run_dir.name,
                                  known_peaks=store.load_peaks(run_dir),
                                  traced={t["point_id"] for t in store.load_traces(run_dir)},
                                  display=bar)
        finally:
            if bar:
                bar.__exit__(None, None, None)
        store.write_csv(run_dir, out.rows())
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
