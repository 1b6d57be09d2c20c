"""[timing].huge_pages: the measuring processes start with PyTorch's
THP_MEM_ALLOC_ENABLE set, and PyTorch then backs large tensors with huge pages."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys

import pytest

from profiler.measure import worker as worker_mod
from profiler.measure.envinfo import transparent_huge_pages
from profiler.measure.timing import TimingConfig
from profiler.run import runner
from profiler.run.spec import parse_spec


class FakeProcess:
    """Stands in for a spawned process: notes the variable as the child would inherit it."""

    seen: list = []

    def __init__(self, **kwargs):
        pass

    def start(self):
        FakeProcess.seen.append(os.environ.get(worker_mod.HUGE_PAGES_ENV))


@pytest.mark.parametrize("huge_pages, value", [(True, "1"), (False, "0")])
def test_the_worker_is_spawned_with_the_setting_and_the_parent_keeps_its_own(
        huge_pages, value, monkeypatch):
    monkeypatch.setenv(worker_mod.HUGE_PAGES_ENV, "parent's")
    w = runner.make_workers(processes=1, timing=TimingConfig(huge_pages=huge_pages))[0]
    FakeProcess.seen = []
    monkeypatch.setattr(mp.get_context("spawn"), "Process", FakeProcess)
    w.start()
    assert FakeProcess.seen == [value]
    assert os.environ[worker_mod.HUGE_PAGES_ENV] == "parent's"
    monkeypatch.delenv(worker_mod.HUGE_PAGES_ENV)
    w._proc = None
    w.start()
    assert FakeProcess.seen == [value, value]
    assert worker_mod.HUGE_PAGES_ENV not in os.environ  # unset again, not set to ""


def test_the_setting_is_on_by_default_and_can_be_turned_off():
    grid = 'name = "t"\n[grid]\nmodel = ["lstm"]\nseq_len = [8]\n'
    assert parse_spec(grid).timing.huge_pages is True
    assert parse_spec(grid + "[timing]\nhuge_pages = false\n").timing.huge_pages is False


def test_the_kernels_mode_is_read_from_its_file(tmp_path):
    f = tmp_path / "enabled"
    f.write_text("always [madvise] never\n")
    assert transparent_huge_pages(f) == "madvise"
    assert transparent_huge_pages(tmp_path / "absent") is None


ANON_HUGE = """
import torch
x = torch.ones(64 * 2**20 // 4)  # 64 MB, touched
x.add_(1)
for line in open("/proc/self/smaps_rollup"):
    if line.startswith("AnonHugePages:"):
        print(int(line.split()[1]))
"""


@pytest.mark.skipif(transparent_huge_pages() != "madvise",
                    reason="the kernel gives huge pages on madvise only in 'madvise' mode")
def test_pytorch_backs_a_large_tensor_with_huge_pages_only_when_asked():
    def anon_huge_kb(value: str) -> int:
        env = dict(os.environ, **{worker_mod.HUGE_PAGES_ENV: value})
        out = subprocess.run([sys.executable, "-c", ANON_HUGE], env=env, capture_output=True,
                             text=True, timeout=120, check=True).stdout
        return int(out.split()[-1])

    assert anon_huge_kb("0") == 0
    assert anon_huge_kb("1") >= 32 * 1024  # most of the 64 MB on 2 MB pages
