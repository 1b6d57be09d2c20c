"""--executor submitit: sharding and merging on hand-made run directories (fast), then
real subprocess jobs through submitit's LocalExecutor: the smoke grid in two shards,
and a shard job killed mid-way followed by --resume (slow, ~1 min together)."""

import fcntl
import importlib.util
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from profiler.cli import main
from profiler.errors import UsageError
from profiler.records import Point, result_row
from profiler.run import distributed as D
from profiler.run import shards as S
from profiler.run.grid import expand
from profiler.run.spec import load_spec, parse_spec
from profiler.run.store import RunStore, load_history, load_results, read_jsonl

# The `test` extra installs submitit; the not-installed path is simulated either way.
needs_submitit = pytest.mark.skipif(importlib.util.find_spec("submitit") is None,
                                    reason='needs submitit: pip install ".[slurm]"')


def pts(model="lstm", seq=(16, 32, 64), batch=1, phase="inference"):
    return [Point(model, n, batch, "cpu", "float32", 1, phase) for n in seq]


# --- sharding --------------------------------------------------------------------------


def test_shards_keep_curves_whole_and_small_to_large():
    spec = load_spec("smoke")
    points = expand(spec)
    shards = S.make_shards(points, 3, session=4)
    assert [s.name for s in shards] == ["s4-0", "s4-1", "s4-2"]
    # every point exactly once
    assert sorted(p.point_id for s in shards for p in s.points) == \
        sorted(p.point_id for p in points)
    owner = {}
    for s in shards:
        for p in s.points:
            assert owner.setdefault(p.series, s.name) == s.name  # a curve never splits
        order = [points.index(p) for p in s.points]
        assert order == sorted(order)  # the grid's small -> large order inside a shard


def test_shards_balance_work_and_never_exceed_curves():
    big = pts(seq=(1024, 2048))  # 3072 tokens
    small = [pts(model=m, seq=(16, 32)) for m in ("a", "b", "c")]  # 48 tokens each
    shards = S.make_shards(big + [p for c in small for p in c], 2)
    assert [len(s.points) for s in shards] == [2, 6]  # the big curve alone, the rest together
    assert len(S.make_shards(pts(), 8)) == 1  # one curve: one shard, however many asked
    assert S.make_shards([], 4) == []


def test_local_gpus_one_job_each():
    cuda = [Point("lstm", 16, 1, "cuda", "float32", 1, "inference")]
    opts = D.parse_options(["cluster=local", "gpus=0,2"])
    assert D.job_gpus("local", opts, cuda) == (0, 2)
    assert D.job_gpus("slurm", D.ExecutorOptions(), cuda) == ()
    assert D.job_gpus("local", opts, pts()) == ()  # cpu points need no GPU
    assert [s.gpu for s in S.make_shards(pts() + pts(batch=2), 2, gpus=(0, 2))] == [0, 2]
    with pytest.raises(UsageError, match="two jobs on one GPU"):
        D.job_gpus("local", D.parse_options(["cluster=local", "gpus=0", "shards=2"]), cuda)


# --- options and the command line --------------------------------------------------------


def test_options_split_ours_from_submitits():
    opts = D.parse_options(["cluster=local", "shards=3", "timeout_min=90", "mem_gb=12.5",
                            "slurm_partition=gpu", "slurm_additional_parameters={\"a\": 1}"])
    assert (opts.cluster, opts.shards, opts.gpus) == ("local", 3, ())
    assert opts.params == {"timeout_min": 90, "mem_gb": 12.5, "slurm_partition": "gpu",
                           "slurm_additional_parameters": {"a": 1}}
    for bad, why in [("shards", "KEY=VALUE"), ("shards=0", ">= 1"), ("cluster=k8s", "one of"),
                     ("gpus=a,b", "GPU indices")]:
        with pytest.raises(UsageError, match=why):
            D.parse_options([bad])
    with pytest.raises(UsageError, match="for cluster=local"):
        D.parse_options(["gpus=0,1"])


def test_without_submitit_exit_2_with_install_line(tmp_path, capsys, monkeypatch, in_repo):
    monkeypatch.setitem(sys.modules, "submitit", None)  # what `import submitit` sees uninstalled
    out = tmp_path / "run"
    code = main(["sweep", "smoke", "--out", str(out), "--executor", "submitit", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and 'pip install ".[slurm]"' in err
    assert not out.exists()


@needs_submitit
@pytest.mark.parametrize("argv, why", [
    (["--executor-opt", "shards=2"], "--executor-opt needs --executor submitit"),
    (["--executor", "submitit", "--executor-opt", "cluster=local",
      "--executor-opt", "bogus_key=1"], "Unknown executor 'bogus'"),
    (["--executor", "submitit", "--executor-opt", "cluster=local",
      "--executor-opt", "timeout_min=soon"], "timeout_min"),
    (["--executor", "submitit", "--device", "cuda:1"], "each job sees one GPU"),
    (["--executor", "submitit", "--device", "tpu"], "device 'tpu': expected cpu, cuda or auto"),
    (["--executor", "submitit", "--executor-opt", "shards=\u00b2"],
     "shards=\u00b2: expected a whole number >= 1"),  # '²'.isdigit(), but int() refuses it
    (["--executor", "submitit", "--executor-opt", "cluster=local", "--executor-opt",
      "gpus=0,-1"], "gpus=0,-1: expected distinct GPU indices"),
    (["--executor", "submitit", "--executor-opt", "timeout_min=NaN"],
     "timeout_min=NaN: expected a finite number"),
    (["--executor", "submitit", "--executor-opt", "timeout_min=0"],
     "timeout_min=0: expected minutes > 0"),
    (["--executor", "submitit", "--executor-opt", "cluster=mars"], "cluster=mars: expected one"),
])
def test_bad_executor_input_exits_2_before_measuring(tmp_path, capsys, in_repo, argv, why):
    out = tmp_path / "run"
    assert main(["sweep", "smoke", "--out", str(out), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    assert why in err and err.count("\n") == 1
    assert not out.exists()  # submitit makes its folder with the executor: not before this


def test_jobs_view_shows_states_and_points():
    from rich.console import Console

    class FakeJob:
        job_id = "4242"

    shard = S.Shard("s1-0", tuple(pts()))
    merge = S.Merger(".", out=None, done_ids=set())
    merge.reader.lines["s1-0"] = 2  # rows read so far from s1-0.jsonl
    view = D.JobsView(total=3, title="sweep t")
    view.update([D.JobState(shard, FakeJob(), state="running", host="node7")], merge)
    console = Console(file=io.StringIO(), width=100)
    console.print(view.live.renderable)
    text = console.file.getvalue()
    assert "s1-0" in text and "4242" in text and "running" in text and "node7" in text
    assert "2/3" in text


def test_jobs_view_is_drawn_at_each_poll_and_never_between():
    import time

    from rich.console import Console

    class FakeJob:
        job_id = "4242"

    shard = S.Shard("s1-0", tuple(pts()))
    merge = S.Merger(".", out=None, done_ids=set())
    out = io.StringIO()
    with D.JobsView(total=3, title="sweep t", console=Console(
            file=out, force_terminal=True, width=100)) as view:
        view.update([D.JobState(shard, FakeJob(), state="queued")], merge)
        assert "queued" in out.getvalue()  # drawn by the poll itself
        drawn = len(out.getvalue())
        time.sleep(0.6)  # rich's refresh thread would have drawn twice by now
        assert len(out.getvalue()) == drawn
        merge.reader.lines["s1-0"] = 1
        view.update([D.JobState(shard, FakeJob(), state="running", host="node7")], merge)
        assert "node7" in out.getvalue()[drawn:]


# --- shard files: merge, resume, fencing -------------------------------------------------


def write_lines(path, rows, tail=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)


def test_reconcile_folds_shard_rows_and_frees_lost_points(tmp_path):
    a, b, c, d = pts(seq=(16, 32, 64, 128))
    ok = {p: result_row(p, status="ok", latency_s=0.001) for p in (a, c)}
    lost = result_row(b, status="crashed", error=f"{S.JOB_DIED} (job 7 ended); --resume")
    crash = result_row(d, status="crashed", error="worker killed by SIGSEGV")  # a point's own
    write_lines(tmp_path / "results.jsonl", [ok[a], lost, crash])
    # the parent died before merging c; a is in both; the job was killed mid-line
    write_lines(tmp_path / "shards" / "s1-0.jsonl", [ok[a], ok[c]], tail='{"point_id": "cu')
    with RunStore(tmp_path) as out:
        done = S.reconcile(tmp_path, out)
        out.append({"point_id": "after"})  # the store still appends after the rewrite
    assert [r["point_id"] for r in done] == [a.point_id, d.point_id, c.point_id]
    ids = [r["point_id"] for r in load_results(tmp_path)]
    assert ids == [a.point_id, d.point_id, c.point_id, "after"]
    superseded = read_jsonl(tmp_path / "shards" / S.SUPERSEDED_FILE)
    assert [r["point_id"] for r in superseded] == [b.point_id]
    assert S.current_session(tmp_path) == 1


def test_efficiency_counts_each_jobs_own_samples_and_a_dead_jobs_rows(tmp_path):
    # A job that returned counted its reference and its second pass (9 s of 20 s); a
    # job that died left rows: a point measured twice (the second pass's row holds both
    # attempts' 3 s) and one of 1 s, from env.json at t=100 to its last row at t=110.
    a, b, c, d = pts(seq=(16, 32, 64, 128))
    first = {p: result_row(p, status="ok", latency_s=0.001, measured_s=s, attempt=1)
             for p, s in ((a, 2.0), (c, 1.0), (d, 1.0))}
    again = dict(first[c], attempt=2, measured_s=3.0)
    shard0, shard1 = S.Shard("s1-0", (a, b)), S.Shard("s1-1", (c, d))
    write_lines(tmp_path / "shards" / "s1-1.jsonl", [first[c], first[d], again])
    env = tmp_path / "shards" / "s1-1.env.json"
    env.write_text("{}")
    os.utime(env, (100, 100))
    os.utime(tmp_path / "shards" / "s1-1.jsonl", (110, 110))
    jobs = [D.JobState(shard0, job=None, state="done",
                       summary=dict(counts={"ok": 1}, not_run=0, measured_s=9.0, wall_s=20.0)),
            D.JobState(shard1, job=None, state="failed", error="job died")]
    with RunStore(tmp_path) as out:
        merge = S.Merger(tmp_path, out, set())
        for row in (first[a], first[c], first[d]):
            merge.write(row)
        summary = D._summarize(jobs, merge, [a, b, c, d], tmp_path, interrupted=False)
    assert summary.measured_s == pytest.approx(9.0 + 3.0 + 1.0)
    assert summary.wall_s == pytest.approx(20.0 + 10.0)
    assert summary.counts == {"ok": 3}


def test_resume_refuses_while_a_shard_job_still_runs(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "s1-0.env.json").write_text(json.dumps({"job": {"SLURM_JOB_ID": "991",
                                                              "pid": 5}}))
    with open(shards / "s1-0.lock", "a+") as held:  # as a running job holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        assert S.lock_held(tmp_path, "s1-0")
        with RunStore(tmp_path) as out, pytest.raises(UsageError, match="job 991, pid 5"):
            S.reconcile(tmp_path, out)
    assert not S.lock_held(tmp_path, "s1-0")


def test_job_of_an_older_session_stops_without_measuring(tmp_path):
    S.start_session(tmp_path)
    S.start_session(tmp_path)  # a resume happened while s1-0 sat in the queue
    spec = parse_spec('name = "x"\n[grid]\nmodel = ["lstm"]\nseq_len = [16]\n')
    shard = S.Shard("s1-0", tuple(pts(seq=(16,))))
    assert S.run_shard(spec, shard, [], str(tmp_path), "x", [], set()) == {"superseded": True}
    assert not (tmp_path / "shards" / "s1-0.jsonl").exists()


TINY = """
name = "tiny"
[grid]
model = ["lstm"]
seq_len = [16, 32]
phase = ["inference"]
device = ["cpu"]
[profile]
points = "none"
"""


def test_local_resume_of_a_distributed_run_folds_in_its_shards(tmp_path, in_repo):
    """The parent died before merging; a plain --resume takes the shard rows, measures
    nothing again (all points are there) and so starts no worker at all."""
    spec = parse_spec(TINY)
    (tmp_path / "sweep.toml").write_text(TINY)
    (tmp_path / "results.jsonl").write_text("")
    (tmp_path / "peak.json").write_text(json.dumps(
        [{"device": "cpu", "dtype": "float32", "threads": 1, "flops_per_s": 1e10}]))
    rows = [result_row(p, status="ok", latency_s=0.001) for p in expand(spec)]
    write_lines(tmp_path / "shards" / "s1-0.jsonl", rows)
    assert main(["sweep", "--resume", "--out", str(tmp_path), "--no-report", "--quiet"]) == 0
    assert load_results(tmp_path) == rows


def test_merge_extras_records_each_host_peak_and_trace(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    (tmp_path / "env.json").write_text(json.dumps({"host": "login1"}))
    for k, host in enumerate(("gpu07", "gpu08", "gpu07")):
        (shards / f"s1-{k}.env.json").write_text(json.dumps({"host": host, "job": {"pid": k}}))
        (shards / f"s1-{k}.peak.json").write_text(json.dumps(
            [{"device": "cuda", "dtype": "bfloat16", "threads": 1, "flops_per_s": 1e14 + k}]))
        write_lines(shards / f"s1-{k}.traces.jsonl", [{"point_id": f"p{k}", "path": "t"}])
    S.merge_extras(tmp_path)
    S.merge_extras(tmp_path)  # idempotent: a resume merges again
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["host"] == "login1"
    assert env["hosts"] == {"gpu07": {"host": "gpu07", "shards": ["s1-0", "s1-2"]},
                            "gpu08": {"host": "gpu08", "shards": ["s1-1"]}}
    peaks = json.loads((tmp_path / "peak.json").read_text())
    assert [p["flops_per_s"] for p in peaks] == [1e14]  # one reference per key
    index = read_jsonl(tmp_path / "traces" / "index.jsonl")
    assert [t["point_id"] for t in index] == ["p0", "p1", "p2"]


# --- real jobs through submitit's LocalExecutor ------------------------------------------

FAST_TIMING = "[timing]\nwarmup_s = 0.0\nmin_time_s = 0.03\nmax_time_s = 0.06\n"


def smoke_file(tmp_path, in_repo, second_pass=True):
    """The smoke grid with a shorter [timing] section (and without the second pass,
    where a test counts measurements: each point once)."""
    text = (in_repo / "sweeps" / "smoke.toml").read_text()
    if not second_pass:
        text = text.replace("[budget]\n", "[budget]\nremeasure_seconds = 0.0\n")
    path = tmp_path / "smoke.toml"
    path.write_text(text.split("[timing]")[0] + FAST_TIMING)
    return path


def submitit_args(*opts):
    args = ["--executor", "submitit"]
    for opt in opts:
        args += ["--executor-opt", opt]
    return args


def shard_rows(out):
    return [r for name in S.shard_names(out) for r in read_jsonl(out / "shards" / f"{name}.jsonl")]


@needs_submitit
@pytest.mark.slow
def test_smoke_grid_in_two_local_jobs_matches_the_grid(tmp_path, in_repo):
    spec_path = smoke_file(tmp_path, in_repo)
    out = tmp_path / "run"
    code = main(["sweep", str(spec_path), "--out", str(out), "--no-report", "--quiet",
                 "--profile", "none", *submitit_args("cluster=local", "shards=2")])
    assert code == 0
    lines = load_history(out)
    rows = [r for r in lines if r["attempt"] == 1]
    expected = sorted(p.point_id for p in expand(load_spec(str(spec_path))))
    assert sorted(r["point_id"] for r in rows) == expected  # each point exactly once
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert {(r["host"], r["device"]) for r in rows} == {(socket.gethostname(), "cpu")}
    # two jobs, each with its own file, each point measured by exactly one of them
    assert S.shard_names(out) == ["s1-0", "s1-1"]
    first = [r for r in shard_rows(out) if r["attempt"] == 1]
    assert sorted(r["point_id"] for r in first) == expected
    # the jobs' second passes reach results.jsonl too, after the first measurements
    again = sorted((r["point_id"], r["attempt"]) for r in shard_rows(out) if r["attempt"] > 1)
    assert sorted((r["point_id"], r["attempt"]) for r in lines if r["attempt"] > 1) == again
    env = json.loads((out / "env.json").read_text())
    assert env["executor"]["cluster"] == "local"
    assert env["hosts"][socket.gethostname()]["shards"] == ["s1-0", "s1-1"]
    for name in ("s1-0", "s1-1"):
        job = json.loads((out / "shards" / f"{name}.env.json").read_text())["job"]
        assert job["SUBMITIT_LOCAL_JOB_ID"] and job["points"] == 8
    assert json.loads((out / "peak.json").read_text())[0]["device"] == "cpu"
    assert (out / "results.csv").read_text().count("\n") == len(rows) + 1  # latest per point


@needs_submitit
@pytest.mark.slow
def test_killed_shard_job_then_resume_measures_each_point_once(tmp_path, in_repo):
    spec_path = smoke_file(tmp_path, in_repo, second_pass=False)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "profiler", "sweep", str(spec_path), "--out", str(out),
         "--no-report", "--quiet", "--profile", "none",
         *submitit_args("cluster=local", "shards=2")],
        cwd=in_repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim, deadline = None, time.time() + 150
    while victim is None and time.time() < deadline and proc.poll() is None:
        for name in S.shard_names(out):
            if (out / "shards" / f"{name}.jsonl").read_text().count("\n") >= 2:
                victim = name
                break
        time.sleep(0.02)
    assert victim, "no shard job started writing rows"
    pid = json.loads((out / "shards" / f"{victim}.env.json").read_text())["job"]["pid"]
    os.kill(pid, signal.SIGKILL)  # the job process itself, as a node failure would
    _, err = proc.communicate(timeout=150)
    assert proc.returncode == 0, err
    expected = sorted(p.point_id for p in expand(load_spec(str(spec_path))))
    rows = load_results(out)
    assert sorted(r["point_id"] for r in rows) == expected  # the dead job's points are data
    lost = [r for r in rows if S.is_placeholder(r)]
    assert lost, "the kill should land before the shard finished"
    assert all(r["status"] == "crashed" and "--resume measures it" in r["error"] for r in lost)
    assert f"of shard {victim} stopped before finishing it" in err
    assert "--resume measures them again" in err and err.count("\n") == 1
    before = {r["point_id"]: r for r in rows if not S.is_placeholder(r)}

    # resume in one job of submitit's in-process debug executor: only the lost points run
    assert main(["sweep", "--resume", "--out", str(out), "--no-report", "--quiet",
                 *submitit_args("cluster=debug", "shards=1")]) == 0
    rows = load_results(out)
    assert sorted(r["point_id"] for r in rows) == expected  # nothing lost, nothing twice
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert all(r == before[r["point_id"]] for r in rows if r["point_id"] in before)
    # over all jobs of both sessions, every point was measured exactly once
    assert sorted(r["point_id"] for r in shard_rows(out)) == expected
    assert S.shard_names(out)[-1] == "s2-0" and len(S.shard_names(out)) == 3
    superseded = read_jsonl(out / "shards" / S.SUPERSEDED_FILE)
    assert sorted(r["point_id"] for r in superseded) == sorted(r["point_id"] for r in lost)
    # a further resume finds nothing to do
    assert main(["sweep", "--resume", "--out", str(out), "--no-report", "--quiet",
                 *submitit_args("cluster=debug")]) == 0
    assert len(load_results(out)) == len(expected)
