"""Measuring processes forked from a server that has imported torch once.

A spawned measuring process imports torch and torch._dynamo afresh: 2.4 s of CPU each
on the 2-core machine, so 4.9 s of wall time to start a sweep's four processes and
3.5-4.7 s again for the second pass's three (docs/measurement.md). multiprocessing's
"forkserver" start method pays that import once, in a server process, and forks every
later process from it in milliseconds.

A forked process is still a fresh instance: its model, inputs and every tensor it
measures are allocated in it afresh, on physical memory of its own. What it shares
with its siblings is the server's state before any tensor work: imported modules, and
no OpenMP, profiler or CUDA state, which would not survive a fork. That is why the
server only imports, and why only CPU sweeps fork (a CUDA check in an import would
leave the children unable to use the GPU).

The server stays single-threaded: a fork copies only the calling thread, so the child
of a process with a thread pool has the pool's state (and any lock its threads held)
without its threads. With one 2-thread op run in the server before it forked, its
worker hung in a 2-thread point until the point's timeout. (Python 3.12 and later
warn on a fork from a process with threads; this one has none.)

The server, and so every process forked from it, has the environment it started with.
The variables a measuring process must have from its start (worker.process_environment:
huge pages, malloc) are read once, at the first allocation, which the server makes. So
a server serves only workers whose environment (the sweep process's, with their
variables) is the one it started with; any other worker is spawned, and so sees what
the sweep's process changed since (say, an OpenMP setting between two sweeps in one
Python session): a change costs the start-up of spawned processes, never a process
with the wrong environment. One server per sweep process (multiprocessing keeps one).

Either way a measuring process dies with its parent (die_with_parent), and the server
with the sweep.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.forkserver
import os
import signal
import sys

# The environment variable that tells this module, imported as the server's preload, that
# it is in the server (its value is the pid of the sweep that started it). Elsewhere the
# module imports nothing heavy.
SERVER_PARENT_ENV = "PROFILER_FORK_SERVER_PARENT"
# What the server imports before it forks anything (what a measuring process needs).
PRELOAD = ("torch", "torch._dynamo", "profiler.measure.point", "profiler.measure.peak")

# The environment (environment_for) the running server started with; None: none started
# by this process yet.
_server_environment: dict[str, str] | None = None


def environment_for(variables: dict[str, str]) -> dict[str, str]:
    """The environment a measuring process with ``variables`` gets: this process's as it
    is now, with them (a spawned process inherits it)."""
    env = dict(os.environ, **variables)
    env.pop(SERVER_PARENT_ENV, None)  # set only while a worker starts (server_environment)
    return env


def usable(variables: dict[str, str]) -> bool:
    """Can a process with ``variables`` be forked from this process's server? Linux
    only (the server dies with the sweep by prctl, as workers do); and the server, once
    started, only for the environment it started with (environment_for)."""
    if sys.platform != "linux" or "forkserver" not in mp.get_all_start_methods():
        return False
    return _server_environment is None or _server_environment == environment_for(variables)


def context(variables: dict[str, str]):
    """The forkserver context for processes with ``variables``; the first call sets the
    server's preload and records its environment. The server itself starts at the first
    process started through the context (worker.Worker.start), inside those variables
    and SERVER_PARENT_ENV (server_environment)."""
    global _server_environment
    if _server_environment is None:
        multiprocessing.forkserver.set_forkserver_preload([__name__])
        _server_environment = environment_for(variables)
    return mp.get_context("forkserver")


def server_environment(variables: dict[str, str]) -> dict[str, str]:
    """The variables a forked worker's start sets around it: if the server starts (or
    starts again, after dying) then, it starts with them and knows it is the server."""
    return dict(variables, **{SERVER_PARENT_ENV: str(os.getpid())})


def die_with_parent(parent_pid: int | None = None) -> None:
    """Linux: have the kernel kill this process when its parent dies (even by SIGKILL),
    so an orphan never goes on burning the cores of the next measurement. The parent
    is the sweep for a spawned worker, the fork server for a forked one (which itself
    dies with the sweep); None: whoever started this process."""
    parent_pid = os.getppid() if parent_pid is None else parent_pid
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return  # not Linux: the worker exits at its next recv/send instead
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _prepare_server(parent_pid: int) -> None:
    """In the server, at its preload: die with the sweep, then import."""
    die_with_parent(parent_pid)
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)


if os.environ.get(SERVER_PARENT_ENV) == str(os.getppid()):  # in the server only
    _prepare_server(os.getppid())
