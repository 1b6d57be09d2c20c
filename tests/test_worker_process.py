"""The measuring process's start and exit: what it pays before it says it is ready, and
that it exits at once without losing what it wrote."""

from __future__ import annotations

import subprocess
import sys

from profiler.measure.timing import TimingConfig
from profiler.measure.worker import Worker
from profiler.records import Point
from profiler.run import runner


def _fresh_python(script: str) -> None:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_first_optimizer_imports_dynamo_and_a_warmed_worker_has_paid_it():
    # why a fresh process warms the optimizer: torch.optim imports torch._dynamo at the
    # first optimizer it builds (1.0-1.5 s of CPU here), inside a train step's build
    _fresh_python("import sys, torch\n"
                  "assert 'torch._dynamo' not in sys.modules\n"
                  "torch.optim.Adam([torch.zeros(1, requires_grad=True)])\n"
                  "assert 'torch._dynamo' in sys.modules, 'the optimizer no longer imports it'\n")
    _fresh_python("import sys\n"
                  "from profiler.measure.worker import _first_optimizer\n"
                  "assert 'torch._dynamo' not in sys.modules\n"
                  "_first_optimizer()\n"
                  "assert 'torch._dynamo' in sys.modules\n")


def test_latency_only_workers_warm_the_optimizer_only_for_train_steps():
    for phases, train in ((["inference", "train_step"], True), (["inference", "decode"], False),
                          ([], False)):
        workers = runner.for_latency_only(runner.make_workers(processes=2),
                                          [{"phase": p} for p in phases])
        assert [(w.warm_profiler, w.warm_optimizer) for w in workers] == [(False, train)] * 2
    # the sweep's own pool pays both, while it starts together
    assert all(w.warm_profiler and w.warm_optimizer for w in runner.make_workers(processes=2))


def test_a_worker_exits_at_once_and_its_printed_lines_reach_its_log(tmp_path, monkeypatch,
                                                                    in_repo):
    # a file, not a terminal: the worker's print() stays in Python's buffer until flushed
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    log = tmp_path / "worker.log"
    worker = Worker(log_path=str(log))
    worker.warm_profiler = worker.warm_optimizer = False
    point = Point(model="chatty", seq_len=8, batch_size=1, device="cpu", dtype="float32",
                  threads=1, phase="inference", attention="default")
    timing = TimingConfig(warmup_s=0.0, warmup_calls=1, min_time_s=0.01, max_time_s=0.02,
                          instances=1)
    outcome, row = worker.measure(point, {"factory": "tests.fake_models:chatty",
                                          "message": "chatty model built"},
                                  timing, max_time_s=1.0, timeout_s=60, run_id="t",
                                  instance=1)
    assert outcome == "ok" and row["status"] == "ok", row
    process = worker._proc
    worker.close()
    assert process.exitcode == 0  # it exited when asked: close did not have to kill it
    assert "chatty model built" in log.read_text()
