"""Shards of a distributed sweep: how points are split, the job that measures one
shard, and the shard files the parent merges into results.jsonl.

    RUN_DIR/shards/s<session>-<k>.jsonl         rows, appended + fsynced by the job only
    RUN_DIR/shards/s<session>-<k>.env.json      the measuring host's env + job ids, pid, GPU
    RUN_DIR/shards/s<session>-<k>.summary.json  what run_points returned (absent: it died)
    RUN_DIR/shards/s<session>-<k>.log           the job's measuring-worker log
    RUN_DIR/shards/s<session>-<k>.peak.json     matmul reference, .traces.jsonl trace index
    RUN_DIR/shards/s<session>-<k>.lock          held by the job while it runs

A job writes only its own files, so jobs on many hosts never contend for one lock
and never interleave lines; the parent is the only writer of results.jsonl. Once
submitit says a job is over *and* its lock is free, its shard file is final. A job
measures as a local sweep does (run/job.py), into a ShardSink; every write goes
through run/store.py.

A job that dies leaves its unmeasured points as `crashed` rows whose error starts
with JOB_DIED. Unlike a worker crash (the point killed its process), a job death
is the cluster's doing (time limit, preemption, node failure, scancel), so
--resume drops those rows (kept in shards/superseded.jsonl) and measures the
points again; every point still ends up exactly once in results.jsonl.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from profiler.errors import UsageError
from profiler.records import Point
from profiler.run import job, store
from profiler.run.spec import SweepSpec

SHARDS_DIR = "shards"
NAME = re.compile(r"s(\d+)-(\d+)")  # s<session>-<k>; each run or resume is a new session
SESSION_FILE = "session.json"  # the current session: jobs of older ones stop at start
SUPERSEDED_FILE = "superseded.jsonl"  # placeholders a resume replaced (not a shard file)
JOB_DIED = "job died before measuring this point"


@dataclass(frozen=True)
class Shard:
    name: str  # file stem under RUN_DIR/shards/: s<session>-<k>
    points: tuple[Point, ...]  # whole curves, in the grid's small -> large order
    gpu: int | None = None  # cluster=local: the machine's GPU this job sees


def make_shards(points: list[Point], n_shards: int, session: int = 1,
                gpus: tuple[int, ...] = ()) -> list[Shard]:
    """Split points into at most n_shards bins of whole curves (Point.series), balanced
    by work, each keeping the given small -> large order so pruning works inside a bin."""
    curves: dict[tuple, list[Point]] = {}
    for p in points:
        curves.setdefault(p.series, []).append(p)
    bins: list[list[Point]] = [[] for _ in range(min(n_shards, len(curves)))]
    load = [0] * len(bins)
    # Largest curve first into the lightest bin (LPT). Work ~ tokens is rough (attention
    # grows as n^2), but the point budget caps what any one point can cost.
    for pts in sorted(curves.values(), key=lambda c: -sum(p.tokens for p in c)):
        i = load.index(min(load))
        bins[i].extend(pts)
        load[i] += sum(p.tokens for p in pts)
    rank = {p.point_id: k for k, p in enumerate(points)}
    return [Shard(f"s{session}-{k}", tuple(sorted(b, key=lambda p: rank[p.point_id])),
                  gpus[k] if gpus else None) for k, b in enumerate(bins)]


# --- the job: runs on the cluster node (or a local subprocess) -------------------------


def shard_path(run_dir, name: str, suffix: str) -> Path:
    return Path(run_dir) / SHARDS_DIR / f"{name}{suffix}"


def shard_names(run_dir, suffix: str = ".jsonl") -> list[str]:
    """Names of the shards that have a ``suffix`` file (s<session>-<k> only)."""
    found = (Path(run_dir) / SHARDS_DIR).glob(f"s*-*{suffix}")
    return sorted(n for n in (p.name[: -len(suffix)] for p in found) if NAME.fullmatch(n))


def current_session(run_dir) -> int:
    path = Path(run_dir) / SHARDS_DIR / SESSION_FILE
    return store.read_json(path, {}).get("session", 0)


class ShardSink:
    """Where a shard job puts what it measures (run/job.Sink): its own files under
    RUN_DIR/shards/, and the run's traces/ (one file per point, no two jobs share one).
    ``done_rows``: earlier rows of its curves; ``known_peaks``: the run's reference so far."""

    def __init__(self, run_dir, name: str, done_rows: list[dict], known_peaks: list[dict]):
        self.run_dir, self.name = Path(run_dir), name
        self.done_rows, self.known_peaks = done_rows, known_peaks
        self.rows_path = shard_path(run_dir, name, ".jsonl")

    @property
    def log_path(self) -> Path:
        return shard_path(self.run_dir, self.name, ".log")

    @property
    def traces_dir(self) -> Path:
        return self.run_dir / store.TRACES_DIR

    def own_rows(self) -> list[dict]:
        """Rows this shard's file holds (a requeued job continues its own file)."""
        return store.read_jsonl(self.rows_path) if self.rows_path.exists() else []

    def rows(self) -> list[dict]:
        return store.latest(self.done_rows + self.own_rows())

    def append(self, row: dict) -> None:
        store.append_jsonl(self.rows_path, row)

    def write_peaks(self, peaks: list[dict]) -> None:
        """Only the references this job measured: the parent merges (merge_extras)."""
        store.write_json(shard_path(self.run_dir, self.name, ".peak.json"),
                         peaks[len(self.known_peaks):])

    def append_trace(self, row: dict) -> None:
        store.append_jsonl(shard_path(self.run_dir, self.name, ".traces.jsonl"), row)


def run_shard(spec: SweepSpec, shard: Shard, done_rows: list[dict], run_dir: str,
              run_id: str, known_peaks: list[dict], traced: set[str]) -> dict:
    """The job: a measuring job (run/job.py) on the shard's points, into the shard's own
    files. ``done_rows``: earlier rows of its curves, for pruning."""
    t0 = time.perf_counter()
    if shard.gpu is not None:
        # Before anything touches CUDA; the Worker inherits it. submitit's LocalExecutor
        # would give every job the same GPUs, so the job picks its own.
        os.environ["CUDA_VISIBLE_DEVICES"] = str(shard.gpu)
    # Without locks on the file system, the parent trusts submitit's job state alone.
    lock = store.take_lock(shard_path(run_dir, shard.name, ".lock"))
    try:
        # Lock first, then the session: a resume bumps the session before it checks the
        # locks, so a job of an older session either blocks that resume or stops here.
        session = int(NAME.fullmatch(shard.name).group(1))
        if current_session(run_dir) != session:
            return dict(superseded=True)
        import torch

        from profiler.measure.envinfo import collect_env
        from profiler.measure.worker import timing_environment

        job_env = {k: os.environ[k] for k in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID",
                                              "SUBMITIT_LOCAL_JOB_ID", "CUDA_VISIBLE_DEVICES")
                   if k in os.environ}
        env = dict(collect_env(timing_environment(spec.timing)),
                   job=dict(job_env, pid=os.getpid(), shard=shard.name,
                            points=len(shard.points)))
        store.write_json(shard_path(run_dir, shard.name, ".env.json"), env)
        if any(p.device == "cuda" for p in shard.points) and not torch.cuda.is_available():
            raise RuntimeError(f"no CUDA device visible on {env['host']} (CUDA_VISIBLE_DEVICES="
                               f"{os.environ.get('CUDA_VISIBLE_DEVICES')!r}); give each job "
                               "one GPU: --executor-opt gpus_per_node=1")
        sink = ShardSink(run_dir, shard.name, done_rows, known_peaks)
        summary = job.run_job(spec, list(shard.points), done_rows + sink.own_rows(), sink,
                              run_id, known_peaks, traced)
        result = dict(counts=summary.counts, not_run=summary.not_run,
                      measured_s=summary.measured_s, wall_s=time.perf_counter() - t0,
                      interrupted=summary.interrupted)
        store.write_json(shard_path(run_dir, shard.name, ".summary.json"), result)
        return result
    finally:
        lock.close()


# --- reading shard files, merging, resuming ----------------------------------------------


def is_placeholder(row: dict) -> bool:
    """A `crashed` row the parent wrote for a point its dead job never measured."""
    return row.get("status") == "crashed" and (row.get("error") or "").startswith(JOB_DIED)


def lock_held(run_dir, name: str) -> bool:
    """Is a job still running (or lingering) on this shard?"""
    return store.is_locked(shard_path(run_dir, name, ".lock"))


class ShardReader:
    """New complete lines of shard files, read incrementally (a job may be mid-write)."""

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.offsets: dict[str, int] = {}
        self.lines: dict[str, int] = {}  # shard name -> rows read so far

    def new_rows(self) -> list[dict]:
        rows = []
        for name in shard_names(self.run_dir):
            path = shard_path(self.run_dir, name, ".jsonl")
            start = self.offsets.get(name, 0)
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
            end = data.rfind(b"\n") + 1  # a last line without "\n" is still being written
            self.offsets[name] = start + end
            for line in data[:end].splitlines():
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise UsageError(f"{path}: not a JSON record ({e.msg})") from None
                self.lines[name] = self.lines.get(name, 0) + 1
        return rows


def start_session(run_dir: Path) -> int:
    """A new session number (shard names s<session>-<k>); refuses while an older job runs.
    Jobs of older sessions that start later stop at once (see run_shard)."""
    session = current_session(run_dir) + 1
    store.write_json(Path(run_dir) / SHARDS_DIR / SESSION_FILE, {"session": session})
    running = [n for n in shard_names(run_dir, ".lock") if lock_held(run_dir, n)]
    if running:
        job = store.read_json(shard_path(run_dir, running[0], ".env.json"), {}).get("job", {})
        raise UsageError(f"{run_dir}: shard {running[0]} is still being measured (job "
                         f"{job.get('SLURM_JOB_ID') or job.get('SUBMITIT_LOCAL_JOB_ID') or '?'}"
                         f", pid {job.get('pid', '?')}); wait for it or cancel it, then --resume")
    return session


def reconcile(run_dir: Path, out: store.RunStore) -> list[dict]:
    """--resume of a distributed run: fold in shard rows the parent never merged (it was
    killed) and drop the placeholders of points dead jobs left, so they run again.
    Returns the rows that count as done."""
    start_session(run_dir)  # fence off jobs of earlier sessions before reading their files
    # every line, superseded attempts included: a rewrite must not lose history
    rows = store.load_history(run_dir) if (run_dir / store.RESULTS_FILE).exists() else []
    keep = [r for r in rows if not is_placeholder(r)]
    dropped = [r for r in rows if is_placeholder(r)]
    attempts = {r["point_id"]: r.get("attempt") or 1 for r in keep}
    added = []
    for row in ShardReader(run_dir).new_rows():
        if _is_new(row, attempts):
            attempts[row["point_id"]] = row.get("attempt") or 1
            added.append(row)
    if dropped:
        store.append_jsonl(Path(run_dir) / SHARDS_DIR / SUPERSEDED_FILE, *dropped)
        out.rewrite(keep + added)  # the one non-append write, atomic, under the run's lock
    else:
        for row in added:
            out.append(row)
    merge_extras(run_dir)
    return keep + added


def merge_extras(run_dir: Path) -> None:
    """Fold the shards' own files into the run's: env.json["hosts"][host] (the env of each
    measuring host, with the shards it ran; per-job details stay in the shard's env.json),
    peak.json and traces/index.jsonl (first one of each wins)."""
    run_dir = Path(run_dir)
    env = store.load_env(run_dir)
    hosts = env.setdefault("hosts", {})
    for name in shard_names(run_dir, ".env.json"):
        host_env = store.read_json(shard_path(run_dir, name, ".env.json"), {})
        host_env.pop("job", None)
        entry = hosts.setdefault(host_env["host"], dict(host_env, shards=[]))
        if name not in entry["shards"]:
            entry["shards"].append(name)
    store.write_json(run_dir / store.ENV_FILE, env)
    peaks = store.load_peaks(run_dir)
    keys = {(p["device"], p["dtype"], p["threads"]) for p in peaks}
    for name in shard_names(run_dir, ".peak.json"):
        for p in store.read_json(shard_path(run_dir, name, ".peak.json"), []):
            if (p["device"], p["dtype"], p["threads"]) not in keys:
                keys.add((p["device"], p["dtype"], p["threads"]))
                peaks.append(p)
    if peaks:
        store.write_json(run_dir / store.PEAK_FILE, peaks)
    traced = {t["point_id"] for t in store.load_traces(run_dir)}
    for name in shard_names(run_dir, ".traces.jsonl"):
        for row in store.read_jsonl(shard_path(run_dir, name, ".traces.jsonl")):
            if row["point_id"] not in traced:
                traced.add(row["point_id"])
                store.append_jsonl(run_dir / store.TRACE_INDEX, row)


def _is_new(row: dict, attempts: dict[str, int]) -> bool:
    """A point not merged yet, or a later attempt (the second pass) of one that was."""
    seen = attempts.get(row["point_id"])
    return seen is None or (row.get("attempt") or 1) > seen


class Merger:
    """Shard rows -> results.jsonl, each point once plus the second pass's later attempts;
    ``rows``: the first measurements written this session."""

    def __init__(self, run_dir: Path, out: store.RunStore, done_ids: set[str]):
        self.reader = ShardReader(run_dir)
        self.out = out
        self.ids = set(done_ids)
        self.attempts: dict[str, int] = {}  # point_id -> latest attempt merged this session
        self.rows: list[dict] = []
        self.remeasured = 0

    def pull(self) -> None:
        for row in self.reader.new_rows():
            if row["point_id"] not in self.ids:
                self.write(row)
            elif _is_new(row, self.attempts) and (row.get("attempt") or 1) > 1:
                self.out.append(row)  # the second pass: supersedes the earlier line
                self.attempts[row["point_id"]] = row["attempt"]
                self.remeasured += 1

    def write(self, row: dict) -> None:
        self.out.append(row)
        self.ids.add(row["point_id"])
        self.attempts[row["point_id"]] = row.get("attempt") or 1
        self.rows.append(row)
