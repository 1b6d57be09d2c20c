"""Measuring processes forked from the fork server (measure/forkserver.py): forked, not
spawned, where their points are on the CPU; from a server with one thread; with the
server's environment, or spawned; in the sweep's directory; and dead when the sweep
dies.

Each check runs in a fresh Python, which starts a server of its own: the server of
this test process, if one runs, started with whatever variables its first worker had.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from profiler.records import Point
from profiler.run import runner

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the fork server is Linux only")

PRELUDE = """
import json, os, sys
from profiler.measure.timing import TimingConfig
from profiler.measure.worker import Worker, process_environment
from profiler.records import Point

def parent_of(pid):
    return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])

def environ_of(pid):
    raw = open(f"/proc/{pid}/environ").read().split("\\0")
    return dict(kv.split("=", 1) for kv in raw if "=" in kv)

POINT = Point(model="lstm", seq_len=8, batch_size=1, device="cpu", dtype="float32",
              threads=1, phase="inference")
SECTION = {"hidden": 8, "layers": 1}
TIMING = TimingConfig(warmup_s=0.0, warmup_calls=1, min_time_s=0.01, max_time_s=0.02,
                      instances=1)
"""


def _python(script: str, cwd=None) -> dict:
    """Run PRELUDE + ``script`` in a fresh Python; the JSON it prints last."""
    done = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(script)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_cpu_worker_is_forked_from_the_server_with_the_variables_it_asked_for():
    out = _python("""
        if __name__ == "__main__":
            w = Worker(fork=True)  # huge pages and kept freed memory, the defaults
            forked = w.forked
            outcome, row = w.measure(POINT, SECTION, TIMING, max_time_s=1.0, timeout_s=120,
                                     run_id="t", instance=1)
            server = parent_of(w.pid)
            print(json.dumps(dict(forked=forked, me=os.getpid(), server=server,
                                  server_parent=parent_of(server), status=row["status"],
                                  environ=environ_of(w.pid),
                                  wanted=process_environment(True, True))))
        """)
    assert out["forked"] and out["status"] == "ok"
    # forked by a server the sweep started, not by the sweep itself
    assert out["server"] != out["me"] and out["server_parent"] == out["me"]
    # the server started with the variables a measuring process must have from its start
    assert out["wanted"].items() <= out["environ"].items()


def test_the_server_stays_single_threaded_so_its_forks_are_safe():
    # fork copies only the calling thread: the child of a process with a thread pool
    # (OpenMP's, OpenBLAS's, the profiler's) has the pool's state and locks without its
    # threads, and Python 3.12+ warns on fork from a process with threads. The server
    # only imports; its workers start their own thread pools after the fork.
    out = _python("""
        import dataclasses

        def threads_of(pid):
            status = open(f"/proc/{pid}/status").read()
            return int(status.split("Threads:")[1].split()[0])

        if __name__ == "__main__":
            w = Worker(fork=True)
            point = dataclasses.replace(POINT, threads=2)  # the worker starts a pool of 2
            outcome, row = w.measure(point, SECTION, TIMING, max_time_s=1.0, timeout_s=120,
                                     run_id="t", instance=1)
            server = parent_of(w.pid)
            print(json.dumps(dict(forked=w.forked, status=row["status"],
                                  worker_threads=threads_of(w.pid),
                                  server_threads=threads_of(server))))
        """)
    assert out["forked"] and out["status"] == "ok"
    assert out["worker_threads"] >= 2  # the check can see threads where there are some
    assert out["server_threads"] == 1


def test_a_worker_asking_for_other_variables_than_the_servers_is_spawned():
    out = _python("""
        if __name__ == "__main__":
            first = Worker(fork=True, huge_pages=True)
            first.wait_ready()  # the server starts with huge pages on
            other = Worker(fork=True, huge_pages=False)
            same = Worker(fork=True, huge_pages=True)
            gpu = Worker(fork=False)  # runner.forkable: not for a CUDA point
            for w in (other, same, gpu):
                w.wait_ready()
            print(json.dumps(dict(me=os.getpid(), forked=[w.forked for w in (other, same, gpu)],
                                  parents=[parent_of(w.pid) for w in (other, same, gpu)],
                                  thp=environ_of(other.pid)["THP_MEM_ALLOC_ENABLE"])))
        """)
    assert out["forked"] == [False, True, False]
    me = out["me"]
    assert out["parents"][0] == me and out["parents"][1] != me and out["parents"][2] == me
    assert out["thp"] == "0"


def test_a_variable_the_sweep_changed_after_the_server_started_reaches_its_workers():
    # a forked worker has the server's environment: one the sweep's process changed
    # since (between two sweeps of one Python session) must reach the worker, so it is
    # spawned; with the environment as the server had it, workers are forked again
    out = _python("""
        if __name__ == "__main__":
            first = Worker(fork=True)
            first.wait_ready()  # the server starts without the variable
            os.environ["PROFILER_TEST_SETTING"] = "changed"
            changed = Worker(fork=True)
            forked = [changed.forked]
            changed.wait_ready()
            del os.environ["PROFILER_TEST_SETTING"]
            restored = Worker(fork=True)
            forked.append(restored.forked)
            restored.wait_ready()
            print(json.dumps(dict(me=os.getpid(), forked=forked,
                                  parents=[parent_of(w.pid) for w in (changed, restored)],
                                  setting=environ_of(changed.pid).get("PROFILER_TEST_SETTING"),
                                  server=parent_of(first.pid))))
        """)
    assert out["forked"] == [False, True]
    assert out["parents"] == [out["me"], out["server"]]
    assert out["setting"] == "changed"


def test_a_forked_worker_works_in_the_sweeps_directory_not_the_servers(tmp_path):
    # multiprocessing moves a forked process to its parent's directory, as a spawned one
    # starts there: relative paths (the log, traces) are the sweep's
    (tmp_path / "later").mkdir()
    out = _python("""
        if __name__ == "__main__":
            first = Worker(fork=True)
            first.wait_ready()  # the server starts here, in the directory we were given
            os.chdir("later")
            w = Worker(log_path="worker.log", fork=True)  # relative: the sweep's directory
            outcome, row = w.measure(POINT, SECTION, TIMING, max_time_s=1.0, timeout_s=120,
                                     run_id="t", instance=1)
            print(json.dumps(dict(forked=w.forked, status=row["status"])))
        """, cwd=tmp_path)
    assert out == {"forked": True, "status": "ok"}
    assert (tmp_path / "later" / "worker.log").exists()
    assert not (tmp_path / "worker.log").exists()


def _gone(pid: int) -> bool:
    """Has process ``pid`` ended (exited, or a zombie waiting for its reaper)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_server_and_its_busy_workers_die_with_the_sweep_even_by_sigkill(in_repo):
    # The worker is inside a point (a model that sleeps an hour), so only the kernel can
    # end it: the sweep's death kills the server (its parent), whose death kills it.
    script = PRELUDE + textwrap.dedent("""
        import threading, time
        if __name__ == "__main__":
            w = Worker(fork=True)
            w.wait_ready()
            hang = Point(model="hang", seq_len=8, batch_size=1, device="cpu",
                         dtype="float32", threads=1, phase="inference")
            threading.Thread(target=w.measure, daemon=True,
                             args=(hang, {"factory": "tests.fake_models:hang", "at": 8},
                                   TIMING, 1.0, 600, "t", 1)).start()
            time.sleep(2)  # building the model and into its first call
            print(json.dumps(dict(worker=w.pid, server=parent_of(w.pid))), flush=True)
            time.sleep(120)
        """)
    sweep = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             cwd=in_repo)
    pids = None
    try:
        pids = json.loads(sweep.stdout.readline())
        assert not _gone(pids["worker"]) and not _gone(pids["server"])
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (_gone(pids["worker"])
                                                  and _gone(pids["server"])):
            time.sleep(0.1)
        assert _gone(pids["server"]), "the fork server outlived the sweep"
        assert _gone(pids["worker"]), "a forked worker outlived the sweep"
    finally:
        sweep.kill()
        sweep.wait(30)
        for pid in pids.values() if pids else ():  # where the test failed: no orphans left
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_only_cpu_points_are_forkable():
    def at(device: str) -> Point:
        return Point(model="lstm", seq_len=8, batch_size=1, device=device, dtype="float32",
                     threads=1, phase="inference")

    assert runner.forkable([at("cpu"), at("cpu")])
    assert not runner.forkable([at("cpu"), at("cuda:0")])
    assert runner.forkable([])  # nothing to measure: nothing to protect either
