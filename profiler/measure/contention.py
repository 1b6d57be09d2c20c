"""Contention: how long this process's threads waited for a core, read per sample.

On a shared machine the largest error is another process taking a core, not the
timer. Linux keeps, per thread, ``/proc/self/task/<tid>/schedstat`` =
``on-cpu-ns wait-ns timeslices``; the growth of wait-ns summed over the process's
threads across one timed sample is the time that sample spent in the run queue.
On 2 cores, a 35 ms sample of 2-thread matmuls waited 0.04 ms when the machine was
quiet and 47 ms in an 80 ms sample beside one busy process (docs/measurement.md).

A wait share (wait / (wall x threads)) above a few percent means the sample timed
the neighbour, not the model. Where the OS has no such counter the share is None:
"not known", never 0.
"""

from __future__ import annotations

import os

TASK_DIR = "/proc/self/task"


class SchedstatWait:
    """Summed run-queue wait of every thread of this process, in nanoseconds.

    File descriptors are kept open per thread and re-read from offset 0 (a few us a
    read); threads that start later (a thread pool) are picked up at the next read."""

    name = "schedstat"

    def __init__(self, task_dir: str = TASK_DIR):
        self.task_dir = task_dir
        self._fds: dict[str, int] = {}  # tid -> open schedstat file

    def read_ns(self) -> int:
        total = 0
        tids = os.listdir(self.task_dir)
        for tid in tids:
            fd = self._fds.get(tid)
            try:
                if fd is None:
                    fd = os.open(f"{self.task_dir}/{tid}/schedstat", os.O_RDONLY)
                    self._fds[tid] = fd
                total += int(os.pread(fd, 128, 0).split()[1])
            except (OSError, IndexError, ValueError):
                self._forget(tid)
        for tid in set(self._fds) - set(tids):
            self._forget(tid)
        return total

    def _forget(self, tid: str) -> None:
        fd = self._fds.pop(tid, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for tid in list(self._fds):
            self._forget(tid)


def wait_source() -> SchedstatWait | None:
    """The run-queue wait counter of this OS, or None where there is none (not Linux,
    or a kernel built without schedstats)."""
    try:
        source = SchedstatWait()
        source.read_ns()
        return source
    except OSError:
        return None


def wait_share(wait_ns: int, wall_s: float, threads: int) -> float:
    """Share of the sample's thread time (wall x threads) spent waiting for a core."""
    if wall_s <= 0:
        return 0.0
    return max(0, wait_ns) * 1e-9 / (wall_s * max(1, threads))
