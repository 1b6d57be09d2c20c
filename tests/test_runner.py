"""Runner logic: prediction and pruning (pure), and the failure paths through a real
worker process with deliberately failing models (tests/fake_models.py)."""

import pytest

from profiler.records import Point, result_row
from profiler.runner import Curve, predict_latency, run_points, skip_reason
from profiler.spec import parse_spec


def test_predict_power_law_through_last_two():
    assert predict_latency([], 64) is None
    assert predict_latency([(100, 2.0)], 400) == pytest.approx(8.0)  # one point: linear
    # 1 s at 100, 4 s at 200 -> exponent 2 -> 16 s at 400
    assert predict_latency([(50, 0.3), (100, 1.0), (200, 4.0)], 400) == pytest.approx(16.0)
    # exponent clamped to [1, 3]: flat launch-bound curves are still assumed to grow
    assert predict_latency([(100, 1.0), (200, 1.0)], 400) == pytest.approx(2.0)
    assert predict_latency([(100, 1.0), (200, 100.0)], 400) == pytest.approx(800.0)


def test_skip_reasons():
    p = Point("lstm", 400, 1, "cpu", "float32", 1, "inference")
    assert skip_reason(p, Curve(measured=[(100, 0.01), (200, 0.02)]), 5.0, 8) is None
    why = skip_reason(p, Curve(measured=[(100, 0.1), (200, 0.4)]), 5.0, 8)
    assert why.startswith("predicted 12.8 s for 8 calls") and "point budget 5 s" in why
    assert skip_reason(p, Curve(stopped_by="oom at seq_len=200"), 5.0, 8) == \
        "oom at seq_len=200"


def test_calls_per_point_from_timing():
    from profiler.runner import calls_per_point
    from profiler.timing import TimingConfig

    # 2 warm-up calls + a floor of 3 samples + 1 profiled pass
    assert calls_per_point(TimingConfig(warmup_calls=2, min_samples=5)) == 6
    assert calls_per_point(TimingConfig(warmup_calls=1, min_samples=1)) == 3


def test_prediction_learns_from_the_fastest_sample():
    from profiler.runner import _learn

    curves = {}
    p = Point("lstm", 100, 1, "cpu", "float32", 1, "inference")
    _learn(curves, result_row(p, status="ok", latency_s=1.5, latency_min_s=0.01))
    assert curves[p.series].measured == [(100, 0.01)]


SPEC = """
name = "fail"
[grid]
model = ["{model}"]
seq_len = [16, 64, 128]
phase = ["inference"]
[models.{model}]
factory = "tests.fake_models:{factory}"
[budget]
point_seconds = 2.0
timeout_seconds = {timeout}
[timing]
warmup_s = 0.0
min_time_s = 0.0
max_time_s = 0.05
"""


def sweep_with(factory, timeout=30.0):
    spec = parse_spec(SPEC.format(model=factory, factory=factory, timeout=timeout))
    from profiler.grid import expand

    rows = []
    summary = run_points(spec, expand(spec), [], rows.append, "test")
    return rows, summary


def by_n(rows):
    return {r["seq_len"]: r for r in rows}


@pytest.mark.parametrize("factory", ["oom", "cpu_oom"])
def test_oom_is_recorded_and_prunes_larger(in_repo, factory):
    rows, summary = sweep_with(factory)
    r = by_n(rows)
    assert r[16]["status"] == "ok" and r[16]["latency_s"] > 0
    assert r[64]["status"] == "oom" and "allocate" in r[64]["error"]
    assert r[128]["status"] == "skipped" and r[128]["error"] == "oom at seq_len=64"
    assert summary.counts == {"ok": 1, "oom": 1, "skipped": 1}


def test_hang_becomes_timeout_and_sweep_goes_on(in_repo):
    # 8 s: the healthy first point (profiler start-up included) must fit on a busy CI core
    rows, _ = sweep_with("hang", timeout=8.0)
    r = by_n(rows)
    assert r[16]["status"] == "ok"
    assert r[64]["status"] == "timeout" and "8 s" in r[64]["error"]
    assert r[128]["status"] == "skipped"


def test_crash_is_recorded_and_worker_restarted(in_repo):
    spec = parse_spec(SPEC.format(model="crash", factory="crash", timeout=30.0)
                      .replace('model = ["crash"]', 'model = ["crash", "fine"]')
                      + '[models.fine]\nbase = "lstm"\nhidden = 8\n')
    from profiler.grid import expand

    rows = []
    run_points(spec, expand(spec), [], rows.append, "test")
    crash = {r["seq_len"]: r for r in rows if r["model"] == "crash"}
    fine = {r["seq_len"]: r for r in rows if r["model"] == "fine"}
    assert crash[64]["status"] == "crashed" and "SIGABRT" in crash[64]["error"]
    assert crash[128]["status"] == "skipped"
    # the points after the crash ran in a fresh worker
    assert [fine[n]["status"] for n in (16, 64, 128)] == ["ok"] * 3


def test_error_is_data(in_repo):
    rows, _ = sweep_with("broken")
    r = by_n(rows)
    assert r[64]["status"] == "error"
    assert r[64]["error"].startswith("ValueError: this model is broken on purpose")
    assert r[128]["status"] == "error"  # an error does not prune: it may be size-specific


def test_resume_skips_done_points_and_keeps_pruning():
    spec = parse_spec(SPEC.format(model="oom", factory="oom", timeout=30.0))
    from profiler.grid import expand

    points = expand(spec)
    done = [result_row(points[0], status="ok", latency_s=0.001),
            result_row(points[1], status="oom", error="x")]
    rows = []
    run_points(spec, points, done, rows.append, "test")
    assert [(r["seq_len"], r["status"], r["error"]) for r in rows] == \
        [(128, "skipped", "oom at seq_len=64")]


class SlowFakeWorker:
    """Stands in for the measuring process: every point takes 0.2 s and succeeds."""

    def measure(self, point, section, timing, max_time_s, timeout_s, run_id):
        import time

        time.sleep(0.2)
        return "ok", result_row(point, status="ok", latency_s=1e-4, run_id=run_id)

    def close(self):
        pass


def test_sweep_time_limit_leaves_the_rest_for_resume():
    from profiler.grid import expand

    spec = parse_spec("[grid]\nmodel=['lstm']\nseq_len=[8, 16, 32, 64, 128, 256]\n"
                      "[budget]\nsweep_seconds = 0.5\n")
    rows = []
    summary = run_points(spec, expand(spec), [], rows.append, "t", worker=SlowFakeWorker())
    # points start while under 0.5 s: at 0, 0.2 and 0.4 s; the other 3 are left, not written
    assert [r["seq_len"] for r in rows] == [8, 16, 32]
    assert summary.not_run == 3 and summary.counts == {"ok": 3}
    # a resume (its own 0.5 s) with the first three done runs exactly the rest
    more = []
    summary = run_points(spec, expand(spec), rows, more.append, "t", worker=SlowFakeWorker())
    assert [r["seq_len"] for r in more] == [64, 128, 256] and summary.not_run == 0
