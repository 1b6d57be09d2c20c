"""Isolation: points run in a worker process, restarted when it dies or hangs.

A segfault or abort kills only the worker (status "crashed"); a point still
running after its timeout is killed ("timeout"); the sweep goes on in a new worker.
A worker is forked from a server that has imported torch once (forkserver.py) where
its points are all on the CPU; otherwise it is spawned: a fresh interpreter, safe
with CUDA (a fork after CUDA's start is not).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import time
from dataclasses import asdict

from profiler.measure import forkserver
from profiler.measure.timing import TimingConfig
from profiler.records import Point

STARTUP_TIMEOUT_S = 120.0  # importing torch (and creating a CUDA context) can be slow
# PyTorch's CPU allocator reads this once, at its first allocation: it must be in the
# process's environment from the start (TimingConfig.huge_pages says why).
HUGE_PAGES_ENV = "THP_MEM_ALLOC_ENABLE"
# glibc's malloc reads these at its first call (TimingConfig.keep_freed_memory says why).
KEEP_FREED_MEMORY_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # blocks under 32 MiB from the heap, a fixed
    #                                           threshold (glibc raises its own as it frees)
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),  # never hand the heap's top back to the system
    "MALLOC_TOP_PAD_": str(256 << 20),  # and grow it 256 MiB at a time (address space only)
    # and never map a block on its own: 32 MiB is the highest threshold glibc takes, and
    # a larger block that the heap's top cannot serve (an LSTM train step's at batch 8,
    # n = 4096) would be mapped, faulted in and unmapped again on every call
    "MALLOC_MMAP_MAX_": "0",
}


def process_environment(huge_pages: bool, keep_freed_memory: bool) -> dict[str, str]:
    """The variables a measuring process starts with ([timing].huge_pages and
    keep_freed_memory); with keep_freed_memory false, glibc's are left as they are."""
    env = {HUGE_PAGES_ENV: "1" if huge_pages else "0"}
    return env | (KEEP_FREED_MEMORY_ENV if keep_freed_memory else {})


def timing_environment(timing: TimingConfig) -> dict[str, str]:
    """process_environment for a sweep's [timing] (what env.json records)."""
    return process_environment(timing.huge_pages, timing.keep_freed_memory)


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """``values`` in os.environ while a child is spawned (it inherits the environ),
    restored after."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def _first_profile() -> None:
    """Pay torch.profiler's one-time start-up (about 1 s of CPU per process on the
    2-core machine) now, while the pool starts together, not inside the first point's
    profiled pass, one process after another."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True):
        torch.ones(1).add_(1)


def _first_optimizer() -> None:
    """Pay the import that the first torch.optim optimizer makes lazily (torch._dynamo:
    1.0-1.5 s of CPU per process on the 2-core machine) now, while the processes start
    together, not inside the build of each fresh process's first train step, one
    process after another. torch.profiler's start-up (_first_profile) imports it too."""
    import torch._dynamo  # noqa: F401


def _exit() -> None:
    """End the process at once. The interpreter's teardown with torch loaded took 0.8 s
    of CPU per process here, paid one process after another at every close; a worker
    has nothing to finalise (its rows are sent, its log lines are on disk once
    flushed)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    with contextlib.suppress(Exception):  # C++ libraries' buffered stdio, as exit() would
        import ctypes

        ctypes.CDLL(None).fflush(None)
    os._exit(0)


def _worker_main(conn, cwd: str, log_path: str | None, parent_pid: int | None,
                 warm_profiler: bool = True, warm_optimizer: bool = True) -> None:
    forkserver.die_with_parent(parent_pid)
    # Ctrl-C is the parent's to handle; it stops us cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if log_path:
        # torch/kineto write warnings straight to fds 1 and 2; keep them out of the
        # progress display but on disk, next to the results, for when a point fails.
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # user factories 'pkg.mod:fn' import as from the sweep's cwd
    from profiler.measure import peak
    from profiler.measure import point as measure

    if warm_optimizer:
        _first_optimizer()
    if warm_profiler:
        _first_profile()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            _exit()  # parent gone
        if task is None:
            _exit()
        kind = task.pop("kind")
        if kind == "measure":
            row = measure.measure_point(Point(**task["point"]), task["model_section"],
                                        TimingConfig(**task["timing"]), task["max_time_s"],
                                        task["run_id"], task["instance"],
                                        task.get("trace_path"))
        else:  # "trace" / "peak": untimed extras; an exception is reported, not fatal
            try:
                if kind == "trace":
                    row = measure.trace_point(Point(**task["point"]), task["model_section"],
                                              **task["args"])
                else:
                    row = peak.measure_peak(**task["args"])
            except Exception as exc:
                row = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        try:
            conn.send(row)
        except (BrokenPipeError, OSError):
            _exit()  # parent gone


class Worker:
    """A measuring process; ``measure`` returns (outcome, row_or_detail)."""

    def __init__(self, log_path: str | None = None, huge_pages: bool = True,
                 keep_freed_memory: bool = True, fork: bool = False):
        self.log_path = log_path
        # [timing].huge_pages and keep_freed_memory: set in the process's environment
        self.environment = process_environment(huge_pages, keep_freed_memory)
        # fork from the server (forkserver.py) where it can give that environment: a
        # worker whose points are all on the CPU (runner.forkable)
        self.fork = fork
        # pay torch.profiler's start-up before "ready" (False: a process that will run no
        # profiled pass, or lazily, at its first) ...
        self.warm_profiler = True
        # ... and the first optimizer's import (False: a process that builds no train step)
        self.warm_optimizer = True
        self._proc = None
        self._conn = None
        self.pid = None

    @property
    def forked(self) -> bool:
        """Will start() fork this worker from the server (else spawn it)?"""
        return self.fork and forkserver.usable(self.environment)

    def start(self) -> None:
        """Start the process without waiting for it: several workers start at once
        (runner.start_workers), then each is waited for before it measures."""
        if self._proc is not None and self._proc.is_alive():
            return
        if self.forked:
            ctx = forkserver.context(self.environment)
            environment = forkserver.server_environment(self.environment)
            parent_pid = None  # the server's: die_with_parent reads it in the worker
        else:
            ctx, environment, parent_pid = mp.get_context("spawn"), self.environment, os.getpid()
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_worker_main, daemon=True, name="profiler-worker",
                                 args=(child, os.getcwd(), self.log_path, parent_pid,
                                       self.warm_profiler, self.warm_optimizer))
        with _environment(environment):
            self._proc.start()
        child.close()
        self._conn = parent
        self.pid = None

    def wait_ready(self) -> None:
        """Block until the process has imported torch and said it is ready."""
        if self._proc is None:
            self.start()
        if self.pid is not None:
            return
        if not self._conn.poll(STARTUP_TIMEOUT_S):
            self.stop()
            raise RuntimeError("measuring worker did not start")
        _, self.pid = self._conn.recv()

    def measure(self, point: Point, model_section: dict, timing: TimingConfig,
                max_time_s: float, timeout_s: float, run_id: str,
                instance: int = 0, trace_path: str | None = None) -> tuple[str, object]:
        """("ok", row) | ("timeout", seconds) | ("crashed", exit description)."""
        task = dict(kind="measure", point=asdict(point), model_section=model_section,
                    timing=asdict(timing), max_time_s=max_time_s, run_id=run_id,
                    instance=instance, trace_path=trace_path)
        return self.call(task, timeout_s)

    def call(self, task: dict, timeout_s: float) -> tuple[str, object]:
        """Send one task; ("ok", reply) | ("timeout", seconds) | ("crashed", why)."""
        if self._proc is None or not self._proc.is_alive():
            self.start()
        self.wait_ready()
        self._conn.send(task)
        t0 = time.monotonic()
        try:
            ready = self._conn.poll(timeout_s)
            if ready:
                return "ok", self._conn.recv()
        except (EOFError, OSError):
            pass
        if self._proc.is_alive() and time.monotonic() - t0 >= timeout_s:
            self.stop()
            return "timeout", timeout_s
        self._proc.join(5)
        code = self._proc.exitcode
        self._proc, self._conn, self.pid = None, None, None
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return "crashed", f"worker killed by {name}"
        return "crashed", f"worker exited with status {code}"

    def stop(self) -> None:
        """Kill the worker (a hung point cannot be interrupted politely)."""
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(10)
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn, self.pid = None, None, None

    def close(self) -> None:
        """Ask the worker to exit, then make sure it did."""
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(5)
            except (BrokenPipeError, OSError):
                pass
        self.stop()
