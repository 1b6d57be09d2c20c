"""[timing].keep_freed_memory: the measuring processes start with glibc's malloc told
to keep freed memory for reuse, and glibc then serves a large block from its heap."""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing as mp
import os
import subprocess
import sys

import pytest

from profiler.measure import worker as worker_mod
from profiler.measure.timing import TimingConfig
from profiler.run import runner
from profiler.run.spec import parse_spec


class FakeProcess:
    """Stands in for a spawned process: notes glibc's variables as the child inherits them."""

    seen: list = []

    def __init__(self, **kwargs):
        pass

    def start(self):
        FakeProcess.seen.append({k: os.environ.get(k) for k in worker_mod.KEEP_FREED_MEMORY_ENV})


def test_the_worker_is_spawned_with_the_setting_and_the_parent_keeps_its_own(monkeypatch):
    monkeypatch.setenv("MALLOC_TOP_PAD_", "parent's")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    for keep, expected in ((True, worker_mod.KEEP_FREED_MEMORY_ENV),
                           (False, {"MALLOC_MMAP_THRESHOLD_": None,
                                    "MALLOC_TRIM_THRESHOLD_": os.environ.get(
                                        "MALLOC_TRIM_THRESHOLD_"),
                                    "MALLOC_TOP_PAD_": "parent's",
                                    "MALLOC_MMAP_MAX_": os.environ.get(
                                        "MALLOC_MMAP_MAX_")})):
        w = runner.make_workers(processes=1, timing=TimingConfig(keep_freed_memory=keep))[0]
        FakeProcess.seen = []
        monkeypatch.setattr(mp.get_context("spawn"), "Process", FakeProcess)
        w.start()
        assert FakeProcess.seen == [expected]
        # restored: the parent's own value, and unset what was unset
        assert os.environ["MALLOC_TOP_PAD_"] == "parent's"
        assert "MALLOC_MMAP_THRESHOLD_" not in os.environ


def test_the_setting_is_on_by_default_and_can_be_turned_off():
    grid = 'name = "t"\n[grid]\nmodel = ["lstm"]\nseq_len = [8]\n'
    assert parse_spec(grid).timing.keep_freed_memory is True
    off = parse_spec(grid + "[timing]\nkeep_freed_memory = false\n")
    assert off.timing.keep_freed_memory is False


# Bytes of a malloc'd block of sys.argv[1] bytes that glibc served with a mapping of its own.
MAPPED = """
import ctypes, sys
libc = ctypes.CDLL("libc.so.6")
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
before = libc.mallinfo2().hblkhd
p = libc.malloc(int(sys.argv[1]))
print(libc.mallinfo2().hblkhd - before)  # bytes in mmap-ed blocks since
"""
SMALL = 8 << 20  # above glibc's starting mmap threshold (128 KiB), below 32 MiB
# above 32 MiB, the highest threshold glibc accepts, and more than the heap's top keeps
# spare (MALLOC_TOP_PAD_, 256 MiB): only address space, never touched
LARGE = 512 << 20


@pytest.mark.skipif(not sys.platform.startswith("linux")
                    or not hasattr(ctypes.CDLL(ctypes.util.find_library("c")), "mallinfo2"),
                    reason="glibc with mallinfo2 (2.33+) only")
def test_glibc_serves_a_large_block_from_its_heap_only_when_told():
    def mapped(env, size):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        out = subprocess.run([sys.executable, "-c", MAPPED, str(size)], env=clean | env,
                             capture_output=True, text=True, check=True).stdout
        return int(out)

    kept = worker_mod.process_environment(True, True)
    for size in (SMALL, LARGE):
        assert mapped({}, size) >= size  # by default: its own mapping, unmapped when freed
        assert mapped(kept, size) == 0  # from the heap
    # the threshold alone stops at 32 MiB: the larger block needs MALLOC_MMAP_MAX_=0
    threshold_only = {k: v for k, v in kept.items() if k != "MALLOC_MMAP_MAX_"}
    assert mapped(threshold_only, SMALL) == 0
    assert mapped(threshold_only, LARGE) >= LARGE
