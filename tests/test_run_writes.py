"""Who writes a run directory, and how: run/store.py only, whole files atomically,
JSON-lines by appending; and one measuring job (run/job.py) for a local sweep and for
every shard of a distributed one."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from profiler.records import Point
from profiler.run import job, runner, store
from profiler.run import shards as S
from profiler.run.grid import expand
from profiler.run.runner import RunSummary
from profiler.run.spec import parse_spec
from profiler.run.sweep import run_sweep
from tests.fake_workers import ScriptedWorker, around

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "profiler"
# Writers of their own outputs, not of a run directory's files (report/ moves to
# store.write_* on its own branch; train/ writes its own output folder).
EXEMPT = ("run/store.py", "report/", "train/")
# Allowed one by one, with the reason. Not visible here at all: torch.profiler writing
# a trace file (measure/opprofile.py), which the trace index only names once written.
ALLOWED = {
    # worker.log: the worker's fds 1 and 2 appended to a file (torch writes C++
    # warnings straight to them); an append stream of the measuring process, which
    # lies below run/ and cannot call the store.
    ("measure/worker.py", "os.open for writing"),
}
WRITE_METHODS = ("write_text", "write_bytes", "to_csv", "to_json", "savefig")
OS_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_APPEND", "O_CREAT", "O_TRUNC")


def _mode(call: ast.Call):
    """The mode argument of an open(...) call: a str, None when absent ('r'), or the
    expression itself when it is not a constant."""
    node = call.args[1] if len(call.args) >= 2 else next(
        (kw.value for kw in call.keywords if kw.arg == "mode"), None)
    if node is None:
        return None
    return node.value if isinstance(node, ast.Constant) else node


def file_writes(source: str) -> list[str]:
    """Every call in ``source`` that writes a file: x.write_text/write_bytes (and pandas'
    or matplotlib's writers), open(...) for writing or appending, json.dump."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) \
            else None
        receiver = f.value.id if isinstance(f, ast.Attribute) and \
            isinstance(f.value, ast.Name) else None
        if isinstance(f, ast.Attribute) and name in WRITE_METHODS and receiver != "store":
            found.append(f"line {node.lineno}: .{name}(")
        elif name == "open" and receiver == "os":
            if any(flag in ast.unparse(node) for flag in OS_WRITE_FLAGS):
                found.append(f"line {node.lineno}: os.open for writing")
        elif name in ("open", "fdopen"):
            mode = _mode(node)
            if isinstance(mode, ast.AST):
                found.append(f"line {node.lineno}: open() with a mode that is not a constant")
            elif mode and any(c in mode for c in "wax+"):
                found.append(f"line {node.lineno}: open(..., {mode!r})")
        elif name == "dump" and isinstance(f, ast.Attribute) and \
                isinstance(f.value, ast.Name) and f.value.id == "json":
            found.append(f"line {node.lineno}: json.dump(")
    return found


def test_the_write_finder_finds_each_kind_of_write():
    planted = ("import json, os\n"
               "def f(p, data, fh, df):\n"
               "    p.write_text('x')\n"
               "    (p / 'a').write_bytes(b'x')\n"
               "    open(p, 'w')\n"
               "    open(p, mode='ab')\n"
               "    open(p, 'r+')\n"
               "    json.dump(data, fh)\n"
               "    df.to_csv(p)\n"
               "    os.fdopen(3, 'w')\n"
               "    os.open(p, os.O_WRONLY | os.O_CREAT)\n"
               "    open(p, data)\n")
    assert len(file_writes(planted)) == 10
    reads = ("import json\n"
             "from profiler.run import store\n"
             "def g(p):\n"
             "    open(p).read()\n"
             "    open(p, 'rb').read()\n"
             "    json.dumps({})\n"
             "    json.load(open(p, encoding='utf-8'))\n"
             "    store.write_json(p, {})\n"
             "    store.write_text(p, '')\n"
             "    store.append_jsonl(p, {})\n"
             "    os.open(p, os.O_RDONLY)\n")
    assert file_writes(reads) == []


def test_only_the_store_writes_run_directory_files():
    """Everything outside run/store.py (and the report and train layers, which write
    their own outputs) writes through store.write_* / append_jsonl / RunStore."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(EXEMPT):
            continue
        offenders += [f"profiler/{rel} {w}" for w in file_writes(path.read_text("utf-8"))
                      if (rel, w.split(": ", 1)[1]) not in ALLOWED]
    assert offenders == []


# --- atomic: the old file or the new one, never half -------------------------------------


def _replace_fails(monkeypatch):
    def killed(src, dst):  # as if the process died before the rename
        raise OSError("killed")

    monkeypatch.setattr(store.os, "replace", killed)


def test_results_csv_is_whole_or_nothing(tmp_path, monkeypatch):
    p = Point("lstm", 16, 1, "cpu", "float32", 1, "inference")
    from profiler.records import result_row

    store.write_csv(tmp_path, [result_row(p, status="ok", latency_s=1.0)])
    before = (tmp_path / store.CSV_FILE).read_text()
    _replace_fails(monkeypatch)
    with pytest.raises(OSError):
        store.write_csv(tmp_path, [result_row(p, status="ok", latency_s=2.0)] * 50)
    assert (tmp_path / store.CSV_FILE).read_text() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == [store.CSV_FILE]  # no temp left


def test_a_rewrite_of_results_is_whole_or_nothing(tmp_path, monkeypatch):
    with store.RunStore(tmp_path) as out:
        out.append({"point_id": "a"})
        out.append({"point_id": "b"})
        _replace_fails(monkeypatch)
        with pytest.raises(OSError):
            out.rewrite([{"point_id": "c"}])
        monkeypatch.undo()
        out.append({"point_id": "d"})  # appends go on after a failed rewrite
        assert [r["point_id"] for r in store.load_history(tmp_path)] == ["a", "b", "d"]
        out.rewrite([{"point_id": "e"}])
        out.append({"point_id": "f"})
    assert [r["point_id"] for r in store.load_history(tmp_path)] == ["e", "f"]


def test_shard_session_env_and_peaks_are_replaced_whole(tmp_path, monkeypatch):
    S.start_session(tmp_path)
    store.write_json(tmp_path / store.ENV_FILE, {"host": "login1"})
    shards = tmp_path / "shards"
    store.write_json(shards / "s1-0.env.json", {"host": "gpu07", "job": {}})
    store.write_json(shards / "s1-0.peak.json", [{"device": "cpu", "dtype": "float32",
                                                  "threads": 1, "flops_per_s": 1.0}])
    _replace_fails(monkeypatch)
    with pytest.raises(OSError):
        S.start_session(tmp_path)
    with pytest.raises(OSError):
        S.merge_extras(tmp_path)
    assert S.current_session(tmp_path) == 1
    assert json.loads((tmp_path / store.ENV_FILE).read_text()) == {"host": "login1"}
    assert not (tmp_path / store.PEAK_FILE).exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


# --- one measuring job, two callers ------------------------------------------------------

TINY = """name = "tiny"
[grid]
model = ["lstm"]
seq_len = [16, 32]
"""


class Recorder:
    """A fake job.run_job: writes through its sink as a real job does, and says so."""

    def __init__(self):
        self.calls = []

    def __call__(self, spec, points, done_rows, sink, run_id, known_peaks, traced,
                 display=None):
        self.calls.append((type(sink).__name__, [p.point_id for p in points]))
        from profiler.records import result_row

        sink.write_peaks(known_peaks + [{"device": "cpu", "dtype": "float32", "threads": 1,
                                         "flops_per_s": 1e9}])
        for p in points:
            sink.append(result_row(p, status="ok", latency_s=1e-3))
        sink.append_trace({"point_id": points[0].point_id, "path": "t.json"})
        return RunSummary(counts={"ok": len(points)})


def _whole_file_writes(monkeypatch) -> list[Path]:
    written = []
    real = store.write_bytes

    def spy(path, data):
        written.append(Path(path))
        return real(path, data)

    monkeypatch.setattr(store, "write_bytes", spy)
    return written


# Appended line by line (fsynced), or a lock: never replaced whole.
APPENDED = {"results.jsonl", ".lock", "worker.log", "index.jsonl", "s1-0.jsonl",
            "s1-0.traces.jsonl", "s1-0.lock"}


def test_a_local_sweep_is_one_job_and_writes_whole_files_atomically(tmp_path, monkeypatch):
    fake = Recorder()
    monkeypatch.setattr(job, "run_job", fake)
    written = _whole_file_writes(monkeypatch)
    spec = parse_spec(TINY)
    run_sweep(spec, tmp_path, progress=False)
    assert fake.calls == [("RunStore", [p.point_id for p in expand(spec)])]
    files = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert {p.name for p in files} >= {"sweep.toml", "env.json", "peak.json", "results.csv",
                                       "results.jsonl", "index.jsonl"}
    assert {p for p in files if p.name not in APPENDED} == set(written)


def test_a_shard_is_the_same_job_into_its_own_files(tmp_path, monkeypatch):
    fake = Recorder()
    monkeypatch.setattr(job, "run_job", fake)
    written = _whole_file_writes(monkeypatch)
    spec = parse_spec(TINY)
    points = tuple(expand(spec))
    S.start_session(tmp_path)
    result = S.run_shard(spec, S.Shard("s1-0", points), [], str(tmp_path), "r", [], set())
    assert result["counts"] == {"ok": 2}
    assert fake.calls == [("ShardSink", [p.point_id for p in points])]
    files = {p for p in tmp_path.rglob("*") if p.is_file()}
    assert {p.name for p in files} >= {"s1-0.jsonl", "s1-0.env.json", "s1-0.peak.json",
                                       "s1-0.summary.json", "s1-0.traces.jsonl"}
    assert {p for p in files if p.name not in APPENDED} == set(written)
    assert not (tmp_path / "results.jsonl").exists()  # the parent merges, not the job


class JobWorker(ScriptedWorker):
    """ScriptedWorker that also answers the reference and trace calls; every call is
    logged as (kind, point_id or key)."""

    def __init__(self, script, events, reference_s=0.0):
        super().__init__(script)
        self.events = events
        self.reference_s = reference_s  # seconds inside the reference's timed samples

    def measure(self, point, *args, **kwargs):
        self.events.append(("measure", point.point_id))
        return super().measure(point, *args, **kwargs)

    def call(self, task, timeout):
        if task["kind"] == "peak":
            a = task["args"]
            self.events.append(("peak", (a["device"], a["dtype"], a["threads"])))
            return "ok", {**a, "flops_per_s": 1e9, "measured_s": self.reference_s}
        self.events.append(("trace", task["point"]["seq_len"]))
        return "ok", {"path": task["args"]["path"], "ops": []}


class ListSink:
    def __init__(self, tmp_path, events):
        self.log_path, self.traces_dir = tmp_path / "log", tmp_path / "traces"
        self.events, self.lines = events, []

    def append(self, row):
        self.events.append(("row", row["point_id"], row["attempt"]))
        self.lines.append(row)

    def rows(self):
        return store.latest(self.lines)

    def write_peaks(self, peaks):
        self.events.append(("peaks", len(peaks)))

    def append_trace(self, row):
        self.events.append(("trace row", row["seq_len"]))


def test_the_job_runs_reference_points_second_pass_and_traces_in_that_order(tmp_path,
                                                                           monkeypatch):
    spec = parse_spec(TINY + "[models.lstm]\nhidden = 8\nlayers = 1\n"
                      "[budget]\nremeasure_seconds = 30.0\n")
    a, b = expand(spec)  # n = 16, 32

    def script(point, instance, pid):  # n=32 faster than n=16: breaks its curve once
        if point.seq_len == 32 and pid == 1:
            return around(0.5e-3)
        return around(1e-3 * point.seq_len / 16)

    events = []
    workers = [JobWorker(script, events), JobWorker(script, events)]
    monkeypatch.setattr(runner, "make_workers", lambda **kwargs: workers)
    sink = ListSink(tmp_path, events)
    summary = job.run_job(spec, [a, b], [], sink, "r", known_peaks=[], traced=set())
    assert not summary.interrupted and summary.remeasured == 2
    kinds = [e[0] for e in events]
    assert events[:2] == [("peak", ("cpu", "float32", 1)), ("peaks", 1)]
    first_trace = kinds.index("trace")
    rows = [e for e in events if e[0] == "row"]
    assert [(pid, attempt) for _, pid, attempt in rows] == [
        (a.point_id, 1), (b.point_id, 1), (a.point_id, 2), (b.point_id, 2)]
    assert all(kinds.index("row") < i for i, k in enumerate(kinds) if k == "trace")
    assert max(i for i, k in enumerate(kinds) if k == "row") < first_trace
    assert [e for e in events if e[0] == "trace row"] == [("trace row", 16),
                                                          ("trace row", 32)]


def test_the_references_timed_samples_count_as_measurement(tmp_path, monkeypatch):
    spec = parse_spec(TINY + "[models.lstm]\nhidden = 8\nlayers = 1\n"
                      "[budget]\nremeasure_seconds = 0.0\n")
    points = expand(spec)
    measured = {}
    for known in ([], [{"device": "cpu", "dtype": "float32", "threads": 1,
                        "flops_per_s": 1e9, "measured_s": 0.25}]):
        events = []
        workers = [JobWorker(lambda p, i, pid: around(1e-3), events, reference_s=0.25)
                   for _ in range(2)]
        monkeypatch.setattr(runner, "make_workers", lambda ws=workers, **kwargs: ws)
        summary = job.run_job(spec, points, [], ListSink(tmp_path, events), "r",
                              known_peaks=known, traced=set())
        measured[len(known)] = summary.measured_s
    # measured now: its 0.25 s count; known from an earlier session: measured then
    assert measured[0] - measured[1] == pytest.approx(0.25)
    assert measured[1] > 0  # the points' own samples


def test_planned_trace_targets_are_traced_by_their_profiled_pass_not_again(tmp_path,
                                                                          monkeypatch):
    # one-step traces ([profile].active = 1): n=16 and n=32 are the ends of the curve
    spec = parse_spec(TINY + "[models.lstm]\nhidden = 8\nlayers = 1\n"
                      "[profile]\nactive = 1\n")
    a, b = expand(spec)
    events = []
    workers = [JobWorker(lambda p, i, pid: around(1e-3 * p.seq_len), events)
               for _ in range(2)]
    monkeypatch.setattr(runner, "make_workers", lambda **kwargs: workers)
    traced = []
    sink = ListSink(tmp_path, events)
    sink.append_trace = traced.append
    job.run_job(spec, [a, b], [], sink, "r", known_peaks=[], traced=set())
    assert "trace" not in [e[0] for e in events]  # no separate traced pass
    assert [(r["point_id"], r["file"], r["source"]) for r in traced] == [
        (p.point_id, f"{p.slug()}.json", "profiled pass") for p in (a, b)]
    # already traced (a resumed run): neither pass traces it again
    traced.clear()
    events.clear()
    sink = ListSink(tmp_path, events)
    sink.append_trace = traced.append
    job.run_job(spec, [a, b], [], sink, "r", known_peaks=[], traced={a.point_id})
    assert [r["point_id"] for r in traced] == [b.point_id]
    assert "trace" not in [e[0] for e in events]


def test_a_target_known_only_after_the_sweep_gets_its_own_traced_pass(tmp_path, monkeypatch):
    spec = parse_spec(TINY + "[models.lstm]\nhidden = 8\nlayers = 1\n"
                      "[profile]\nactive = 1\n")
    a, b = expand(spec)
    events = []

    class FailsAt32(JobWorker):  # the planned end n=32 fails: n=16 becomes the only end
        def measure(self, point, *args, **kwargs):
            if point.seq_len == 32:
                return "crashed", "worker killed by SIGSEGV"
            return super().measure(point, *args, **kwargs)

    workers = [FailsAt32(lambda p, i, pid: around(1e-3), events) for _ in range(2)]
    monkeypatch.setattr(runner, "make_workers", lambda **kwargs: workers)
    traced = []
    sink = ListSink(tmp_path, events)
    sink.append_trace = traced.append
    job.run_job(spec, [a, b], [], sink, "r", known_peaks=[], traced=set())
    assert [r["point_id"] for r in traced] == [a.point_id]  # from a's profiled pass
    assert [e for e in events if e[0] == "trace"] == []  # n=16 is traced already


def test_the_point_below_a_skipped_largest_n_is_traced_by_its_profiled_pass(tmp_path,
                                                                           monkeypatch):
    spec = parse_spec(TINY.replace("[16, 32]", "[16, 32, 64]")
                      + "[models.lstm]\nhidden = 8\nlayers = 1\n[profile]\nactive = 1\n"
                      + "[budget]\npoint_seconds = 0.05\ntimeout_seconds = 1.0\n")
    a, b, c = expand(spec)
    events = []
    # 1 ms a call at n=16, predicted 2 ms at n=32 (it runs: 10 ms); from there n=64 is
    # predicted at 80 ms a call (slope 3, the clamp), over the 50 ms budget: skipped
    workers = [JobWorker(lambda p, i, pid: around(1e-3 if p.seq_len == 16 else 1e-2),
                         events) for _ in range(2)]
    monkeypatch.setattr(runner, "make_workers", lambda **kwargs: workers)
    traced = []
    sink = ListSink(tmp_path, events)
    sink.append_trace = traced.append
    job.run_job(spec, [a, b, c], [], sink, "r", known_peaks=[], traced=set())
    assert {r["point_id"]: r["status"] for r in sink.rows()}[c.point_id] == "skipped"
    # n=32, the spare below the largest n, exported its trace in its profiled pass and
    # is indexed now that it is the curve's largest ok n; no separate traced pass
    assert [(r["point_id"], r["source"]) for r in traced] == [
        (a.point_id, "profiled pass"), (b.point_id, "profiled pass")]
    assert "trace" not in [e[0] for e in events]


def test_a_spare_trace_stays_out_of_the_index_when_the_largest_n_ran(tmp_path, monkeypatch):
    spec = parse_spec(TINY.replace("[16, 32]", "[16, 32, 64]")
                      + "[models.lstm]\nhidden = 8\nlayers = 1\n[profile]\nactive = 1\n")
    a, b, c = expand(spec)
    events = []
    workers = [JobWorker(lambda p, i, pid: around(1e-3 * p.seq_len / 16), events)
               for _ in range(2)]
    monkeypatch.setattr(runner, "make_workers", lambda **kwargs: workers)
    traced = []
    sink = ListSink(tmp_path, events)
    sink.append_trace = traced.append
    job.run_job(spec, [a, b, c], [], sink, "r", known_peaks=[], traced=set())
    assert [r["point_id"] for r in traced] == [a.point_id, c.point_id]
    rows = {r["point_id"]: r for r in sink.rows()}
    assert rows[b.point_id]["trace_file"] == f"{b.slug()}.json"  # its pass exported it


def test_ctrl_c_during_the_reference_is_an_interrupted_summary(tmp_path, monkeypatch):
    class Interrupted(JobWorker):
        def call(self, task, timeout):
            raise KeyboardInterrupt

    events = []
    monkeypatch.setattr(runner, "make_workers",
                        lambda **kwargs: [Interrupted(None, events)])
    spec = parse_spec(TINY)
    summary = job.run_job(spec, expand(spec), [], ListSink(tmp_path, events), "r", [], set())
    assert summary.interrupted and summary.not_run == 2 and events == []


def test_the_job_forks_its_processes_only_where_every_point_is_on_the_cpu(tmp_path,
                                                                         monkeypatch):
    # forkserver.py: a CUDA check in the fork server would leave its children unable to
    # use the GPU, so a job with a CUDA point spawns its processes
    spec = parse_spec(TINY + "[models.lstm]\nhidden = 8\nlayers = 1\n"
                      "[budget]\nremeasure_seconds = 0.0\n")
    cpu = expand(spec)
    asked = []

    def make_workers(**kwargs):
        asked.append(kwargs["fork"])
        return [JobWorker(lambda p, i, pid: around(1e-3), []) for _ in range(2)]

    monkeypatch.setattr(runner, "make_workers", make_workers)
    for points in (cpu, [cpu[0], dataclasses.replace(cpu[1], device="cuda:0")]):
        job.run_job(spec, points, [], ListSink(tmp_path, []), "r", known_peaks=[],
                    traced=set())
    assert asked == [True, False]
