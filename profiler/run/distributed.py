"""`sweep --executor submitit`: a sweep's points as shard jobs on Slurm or local processes.

    parent (this process)                        shard job (shards.run_shard, via submitit)
    expand grid -> shards of whole curves  --->  job.run_job on its points, own Workers
    poll jobs; merge shard files into      <---  RUN_DIR/shards/<shard>.jsonl (+ .env.json)
      results.jsonl, dedup by point_id

submitit is imported only here and only when chosen. Its logs and pickles go to
RUN_DIR/submitit/<job id>/. File layout and resume semantics: see shards.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from profiler.errors import UsageError
from profiler.records import Point, point_of, result_row
from profiler.run import grid, store
from profiler.run import spec as specs
from profiler.run.runner import RunSummary
from profiler.run.shards import (
    JOB_DIED,
    Merger,
    Shard,
    current_session,
    is_placeholder,
    lock_held,
    make_shards,
    merge_extras,
    reconcile,
    run_shard,
    shard_path,
    start_session,
)

SUBMITIT_DIR = "submitit"  # submitit's pickles and job logs: RUN_DIR/submitit/<job id>/
INSTALL_HINT = '--executor submitit needs the submitit package: pip install ".[slurm]"'
CLUSTERS = ("auto", "slurm", "local", "debug")
# Job time limits, minutes. Slurm: an hour is accepted by most partitions, and a job
# cut by it leaves its points to --resume. Local processes have no queue to please.
DEFAULT_TIMEOUT_MIN = {"slurm": 60, "local": 24 * 60, "debug": 24 * 60}
STOP_WAIT_S = 30.0  # after Ctrl-C: how long to wait for cancelled jobs to release their shards


def import_submitit():
    """submitit, imported only when chosen; UsageError with the install line otherwise."""
    try:
        import submitit
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return submitit


@dataclass
class ExecutorOptions:
    """--executor-opt KEY=VALUE: our own keys, the rest go to executor.update_parameters."""

    cluster: str = "auto"  # submitit's choice: slurm where `srun` exists, else local processes
    shards: int | None = None  # None: one per (model, device), or one per GPU with `gpus`
    gpus: tuple[int, ...] = ()  # cluster=local: this machine's GPUs, one job on each
    params: dict = field(default_factory=dict)


def _value(key: str, text: str):
    """'60' -> 60, '2.5' -> 2.5, 'true' -> True, '[0,1]' -> [0, 1], 'gpu' -> 'gpu'."""
    try:
        # JSON would read NaN and Infinity as numbers: no scheduler setting means those
        value = json.loads(text, parse_constant=lambda c: _bad_number(key, c))
    except (json.JSONDecodeError, RecursionError):
        return text
    if key == "timeout_min" and (isinstance(value, bool) or not isinstance(value, int | float)
                                 or not 0 < value <= 10**8):
        raise UsageError(f"--executor-opt timeout_min={text}: expected minutes > 0")
    return value


def _bad_number(key: str, text: str):
    raise UsageError(f"--executor-opt {key}={text}: expected a finite number")


def parse_options(pairs: list[str] | None) -> ExecutorOptions:
    opts = ExecutorOptions()
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--executor-opt {pair!r}: expected KEY=VALUE, e.g. timeout_min=60")
        key, text = key.strip(), text.strip()
        if key == "cluster":
            if text not in CLUSTERS:
                raise UsageError(f"--executor-opt cluster={text}: expected one of "
                                 + ", ".join(CLUSTERS))
            opts.cluster = text
        elif key == "shards":
            # ASCII digits only: str.isdigit() also takes '²', which int() refuses
            if not re.fullmatch(r"[0-9]{1,6}", text) or int(text) < 1:
                raise UsageError(f"--executor-opt shards={text}: expected a whole number >= 1")
            opts.shards = int(text)
        elif key == "gpus":
            gpus = [g.strip() for g in text.strip("[]").split(",") if g.strip()]
            if not all(re.fullmatch(r"[0-9]{1,4}", g) for g in gpus) or not gpus \
                    or len(set(gpus)) != len(gpus):
                raise UsageError(f"--executor-opt gpus={text}: expected distinct GPU indices "
                                 "like 0,1,2,3")
            opts.gpus = tuple(int(g) for g in gpus)
        else:
            opts.params[key] = _value(key, text)
    if opts.gpus and opts.cluster != "local":
        raise UsageError("--executor-opt gpus=... is for cluster=local (one machine); on Slurm "
                         "each job gets its GPU from gpus_per_node")
    return opts


def executor_options(executor: str, pairs: list[str] | None) -> ExecutorOptions:
    """--executor submitit [--executor-opt ...]; UsageError for options without it,
    or without submitit installed."""
    if executor not in ("local", "submitit"):
        raise UsageError(f"--executor {executor!r}: expected local or submitit")
    if executor != "submitit":
        raise UsageError("--executor-opt needs --executor submitit")
    import_submitit()
    return parse_options(pairs)


def resolve_devices(spec: specs.SweepSpec, opts: ExecutorOptions) -> specs.SweepSpec:
    """Devices as a job sees them: 'cpu', or 'cuda' for the one GPU it is given.

    Not checked against this machine: a Slurm login node often has no GPU at all.
    A job without the GPU its points need fails with that message instead."""
    import torch

    asked = opts.params.get("gpus_per_node")
    gpu_jobs = bool(opts.gpus) or (isinstance(asked, int) and asked > 0) \
        or torch.cuda.is_available()
    resolved = []
    for dev in spec.grid["device"]:
        if dev == "auto":
            dev = "cuda" if gpu_jobs else "cpu"
        if dev.startswith("cuda:"):
            raise UsageError(f"{spec.source}: device {dev!r}: with --executor submitit each job "
                             "sees one GPU, as 'cuda'; use device 'cuda' (shards spread the "
                             "curves over GPUs)")
        if dev not in ("cpu", "cuda"):
            raise UsageError(f"{spec.source}: device {dev!r}: expected cpu, cuda or auto")
        if dev not in resolved:
            resolved.append(dev)
    return dataclasses.replace(spec, grid=dict(spec.grid, device=tuple(resolved)))


# --- the parent: submit, watch, merge ---------------------------------------------------


def make_executor(submitit, run_dir: Path, opts: ExecutorOptions, spec: specs.SweepSpec):
    """submitit's AutoExecutor with the user's parameters (checked before anything runs)."""
    try:
        executor = submitit.AutoExecutor(folder=str(run_dir / SUBMITIT_DIR / "%j"),
                                         cluster=None if opts.cluster == "auto" else opts.cluster)
        timeout = DEFAULT_TIMEOUT_MIN.get(executor.cluster, 60)
        executor.update_parameters(**{"timeout_min": timeout, "name": f"sweep-{spec.name}",
                                      **opts.params})
    except (AssertionError, NameError, ValueError, RuntimeError, TypeError) as e:
        raise UsageError(f"--executor submitit: {_first_line(e)}") from None
    return executor


def check_executor(opts: ExecutorOptions, spec: specs.SweepSpec) -> None:
    """Bad executor parameters as a UsageError before the run directory exists: submitit
    makes its folder as the executor is made, so this one is made in a throwaway one."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="profiler-check-") as tmp:
        make_executor(import_submitit(), Path(tmp), opts, spec)


def job_gpus(cluster: str, opts: ExecutorOptions, points: list[Point]) -> tuple[int, ...]:
    """cluster=local: the GPUs to put one job on each (default: every GPU here)."""
    if cluster != "local" or not any(p.device == "cuda" for p in points):
        return ()
    gpus = opts.gpus
    if not gpus:
        import torch

        gpus = tuple(range(torch.cuda.device_count()))
    if not gpus:
        raise UsageError("cluster=local: the grid has cuda points but this machine has no GPU")
    if opts.shards and opts.shards > len(gpus):
        raise UsageError(f"--executor-opt shards={opts.shards} > {len(gpus)} GPUs: cluster=local "
                         "starts every job at once, and two jobs on one GPU would time each other")
    return gpus


@dataclass
class JobState:
    shard: Shard
    job: object  # a submitit Job
    state: str = "queued"  # queued -> running -> done | failed
    host: str | None = None
    error: str | None = None
    summary: dict | None = None  # what run_shard returned (absent when the job died)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _job_error(js: JobState) -> str:
    """One line: what submitit says of the job, and the last line of its stderr."""
    if js.summary:  # it returned, but run_points saw SIGINT (cancel, preemption)
        return f"job {js.job.job_id} of shard {js.shard.name} was interrupted"
    try:
        state = js.job.state
        log = js.job.stderr() or ""
    except Exception:  # a reason is nice to have; the rows are what matter
        state, log = "UNKNOWN", ""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and "submitit INFO" not in ln]
    last = f": {lines[-1][:200]}" if lines else ""
    return (f"job {js.job.job_id} of shard {js.shard.name} stopped before finishing it "
            f"(submitit state {state}){last}; log {js.job.paths.stderr}")


def _update(js: JobState, run_dir: Path, merge: Merger, run_id: str) -> None:
    name = js.shard.name
    env_path = shard_path(run_dir, name, ".env.json")
    if js.host is None and env_path.exists():
        js.host, js.state = store.read_json(env_path, {}).get("host"), "running"
    summary_path = shard_path(run_dir, name, ".summary.json")
    try:  # its summary is proof enough (submitit's result pickle may lag on NFS)
        finished = summary_path.exists() or js.job.done()
    except Exception:  # a flaky sacct: ask again at the next poll
        finished = False
    if not finished or lock_held(run_dir, name):
        return  # a process may still append to the shard file
    merge.pull()  # the shard file is final now
    js.summary = store.read_json(summary_path, None)
    if js.summary and not js.summary.get("interrupted"):
        js.state = "done"
        return
    js.state, js.error = "failed", _job_error(js)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for p in js.shard.points:
        if p.point_id not in merge.ids:
            merge.write(result_row(p, status="crashed", run_id=run_id, host=js.host,
                                   timestamp=now,
                                   error=f"{JOB_DIED} ({js.error}); --resume measures it"))


def _watch(jobs: list[JobState], run_dir: Path, merge: Merger, view, poll_s: float) -> bool:
    """Poll until every job is over; True when Ctrl-C stopped it (jobs cancelled)."""
    try:
        while True:
            merge.pull()  # results.jsonl follows the jobs, not just their ends
            for js in jobs:
                if js.state in ("queued", "running"):
                    _update(js, run_dir, merge, run_dir.name)
            if view:
                view.update(jobs, merge)
            if all(js.state in ("done", "failed") for js in jobs):
                return False
            time.sleep(poll_s)
    except KeyboardInterrupt:
        for js in jobs:
            if js.state in ("queued", "running"):
                try:
                    js.job.cancel(check=False)
                except Exception:  # best effort; resume refuses while one runs
                    pass
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline and any(lock_held(run_dir, js.shard.name)
                                                  for js in jobs):
            time.sleep(0.2)
        merge.pull()
        return True


class JobsView:
    """rich live view: a line per job (state, host, points done) over a bar of all points."""

    STYLE = {"queued": "dim", "running": "cyan", "done": "green", "failed": "red"}

    def __init__(self, total: int, title: str, console=None):
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn())
        self.task = self.bar.add_task("", total=total)
        # Drawn at each poll (update), not by rich's refresh thread: with local jobs the
        # measuring processes share this machine's cores, and a redraw four times a
        # second is a neighbour they would wait for.
        self.live = Live(self.bar, auto_refresh=False, console=console)

    def update(self, jobs: list[JobState], merge: Merger) -> None:
        from rich.console import Group
        from rich.table import Table

        table = Table("shard", "job", "state", "host", "points", box=None)
        for js in jobs:
            table.add_row(js.shard.name, str(js.job.job_id),
                          f"[{self.STYLE[js.state]}]{js.state}", js.host or "",
                          f"{merge.reader.lines.get(js.shard.name, 0)}/{len(js.shard.points)}")
        self.bar.update(self.task, completed=len(merge.rows))
        self.live.update(Group(table, self.bar), refresh=True)

    def __enter__(self) -> JobsView:
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()


def _submit(executor, shards: list[Shard], spec, done_rows: list[dict], run_dir: Path,
            opts: ExecutorOptions) -> list[JobState]:
    peaks = store.load_peaks(run_dir)  # measured before a resume: not measured again
    traced = {t["point_id"] for t in store.load_traces(run_dir)}
    jobs = []
    for shard in shards:
        # One GPU per job when its points need one; the user's own settings win.
        params = {"cpus_per_task": max(p.threads for p in shard.points),
                  "gpus_per_node": int(any(p.device == "cuda" for p in shard.points))}
        executor.update_parameters(**{k: opts.params.get(k, v) for k, v in params.items()})
        series = {p.series for p in shard.points}
        known = [r for r in done_rows if point_of(r).series in series]  # what pruning knew
        try:
            job = executor.submit(run_shard, spec, shard, known, str(run_dir), run_dir.name,
                                  peaks, traced)
        except Exception as e:  # sbatch refused: say why, in one line
            for js in jobs:
                js.job.cancel(check=False)
            raise UsageError(f"submitting shard {shard.name} failed: {_first_line(e)}") from None
        jobs.append(JobState(shard, job))
    return jobs


def _write_env(run_dir: Path, resume: bool, cluster: str, opts: ExecutorOptions) -> None:
    """env.json of the submitting host (each measuring host goes under "hosts")."""
    from profiler.measure.envinfo import collect_env

    env = dict(collect_env(), executor=dict(name="submitit", cluster=cluster,
                                            params=opts.params, gpus=list(opts.gpus)))
    store.save_env(run_dir, env, resume)


def _summarize(jobs: list[JobState], merge: Merger, todo: list[Point], run_dir: Path,
               interrupted: bool) -> RunSummary:
    summary = RunSummary(interrupted=interrupted, remeasured=merge.remeasured,
                         failures=_job_failures(jobs, merge))
    for row in merge.rows:
        summary.counts[row["status"]] = summary.counts.get(row["status"], 0) + 1
    summary.not_run = (sum(p.point_id not in merge.ids for p in todo) if interrupted
                       else sum((js.summary or {}).get("not_run", 0) for js in jobs))
    # Device-seconds, not the parent's wall time: efficiency stays "time inside timed
    # samples / time the devices were held" however many jobs ran side by side. A job's
    # own count of its samples includes its reference and its second pass, as a local
    # sweep's does; the first rows alone would leave both out.
    for js in jobs:
        if js.summary:
            summary.wall_s += js.summary["wall_s"]
            summary.measured_s += js.summary.get("measured_s") or 0.0
        else:  # a dead job: from its env.json to its last row
            env, rows = (shard_path(run_dir, js.shard.name, s) for s in (".env.json", ".jsonl"))
            if env.exists() and rows.exists():
                summary.wall_s += max(0.0, rows.stat().st_mtime - env.stat().st_mtime)
                summary.measured_s += _rows_measured_s(store.read_jsonl(rows))
    return summary


def _rows_measured_s(rows: list[dict]) -> float:
    """Seconds inside the timed samples of a dead job's rows: each point's latest row
    (a second pass's row holds the instances of both attempts)."""
    latest = {r["point_id"]: r for r in rows if not is_placeholder(r)}
    return sum(r.get("measured_s") or 0.0 for r in latest.values())


def run_sweep_distributed(spec: specs.SweepSpec, run_dir: Path, opts: ExecutorOptions,
                          resume: bool = False, progress: bool = True) -> RunSummary:
    """Measure the grid of ``spec`` into ``run_dir`` as submitit jobs, one per shard."""
    submitit = import_submitit()
    points = grid.expand(spec)
    executor = make_executor(submitit, run_dir, opts, spec)  # bad options: before any write
    gpus = job_gpus(executor.cluster, opts, points)
    with store.RunStore(run_dir) as out:
        if resume:
            done_rows = reconcile(run_dir, out)  # also starts a session, fencing older jobs
        else:
            done_rows = []
            start_session(run_dir)
        store.write_text(run_dir / store.SWEEP_FILE, specs.to_toml(spec))
        _write_env(run_dir, resume, executor.cluster, opts)
        done = {r["point_id"] for r in done_rows}
        todo = [p for p in points if p.point_id not in done]
        # Default: one job per GPU (cluster=local), else one per (model, device) curve group.
        n_shards = opts.shards or len(gpus) or len({(p.model, p.device) for p in todo}) or 1
        shards = make_shards(todo, n_shards, current_session(run_dir), gpus)
        jobs = _submit(executor, shards, spec, done_rows, run_dir, opts)
        merge = Merger(run_dir, out, done)
        poll_s = 5.0 if executor.cluster == "slurm" else 0.5  # sacct is rate-limited anyway
        if progress:
            title = f"sweep {spec.name} · submitit/{executor.cluster} · {len(jobs)} jobs"
            with JobsView(len(todo), title) as view:
                interrupted = _watch(jobs, run_dir, merge, view, poll_s)
        else:
            interrupted = _watch(jobs, run_dir, merge, None, poll_s)
        merge_extras(run_dir)
        store.write_csv(run_dir, store.load_results(run_dir))
    return _summarize(jobs, merge, todo, run_dir, interrupted)


def _job_failures(jobs: list[JobState], merge: Merger) -> list[str]:
    """One line per failed job: why, and how many of its points it left as crashed."""
    lines = []
    for js in jobs:
        if js.state == "failed":
            ids = {p.point_id for p in js.shard.points}
            lost = sum(is_placeholder(r) and r["point_id"] in ids for r in merge.rows)
            lines.append(f"{js.error}; {lost} of its points recorded as crashed, --resume "
                         "measures them again")
    return lines
