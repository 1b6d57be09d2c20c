"""Runner logic: prediction and pruning (pure), and the failure paths through a real
worker process with deliberately failing models (tests/fake_models.py)."""

import math

import pytest

from profiler.measure import instances
from profiler.records import Point, point_of, result_row
from profiler.run import quality
from profiler.run.runner import Curve, predict_latency, run_points, skip_reason
from profiler.run.spec import parse_spec


def test_predict_power_law_through_last_two():
    assert predict_latency([], 64) is None
    assert predict_latency([(100, 2.0)], 400) == pytest.approx(8.0)  # one point: linear
    # 1 s at 100, 4 s at 200 -> exponent 2 -> 16 s at 400
    assert predict_latency([(50, 0.3), (100, 1.0), (200, 4.0)], 400) == pytest.approx(16.0)
    # exponent clamped to [1, 3]: flat launch-bound curves are still assumed to grow
    assert predict_latency([(100, 1.0), (200, 1.0)], 400) == pytest.approx(2.0)
    assert predict_latency([(100, 1.0), (200, 100.0)], 400) == pytest.approx(800.0)


def test_prediction_takes_the_steepest_slope_its_sibling_curves_showed_over_the_step():
    from profiler.run.runner import sibling_slopes

    # t = a n + b n^2, quadratic term equal to the linear one at n = 512: the slope over
    # 128 -> 512 is 1.34, over 512 -> 2048 1.66. The last slope alone predicts 64% of
    # the truth at 2048; a sibling that already measured 512 -> 2048 gives it exactly.
    def cost(n, scale=1.0):
        return scale * (1e-5 * n + 1e-5 * n * n / 512)

    def point(batch, threads, n, model="transformer"):
        return Point(model, n, batch, "cpu", "float32", threads, "train_step")

    own = [(n, cost(n, 8)) for n in (128, 512)]
    assert predict_latency(own, 2048) < 0.65 * cost(2048, 8)
    curves = {point(8, 1, 0).series: Curve(measured=own),
              point(1, 1, 0).series: Curve(measured=[(n, cost(n)) for n in (512, 2048)]),
              point(1, 2, 0).series: Curve(measured=[(512, 1.0)]),  # no 2048: no slope
              point(1, 1, 0, "lstm").series: Curve(measured=[(512, 1.0), (2048, 64.0)])}
    slopes = sibling_slopes(curves, point(8, 1, 2048))
    assert slopes == [pytest.approx(math.log(cost(2048) / cost(512)) / math.log(4))]
    assert predict_latency(own, 2048, slopes) == pytest.approx(cost(2048, 8))
    # a shallower sibling does not lower the curve's own slope
    assert predict_latency(own, 2048, [0.5]) == predict_latency(own, 2048)
    # nothing measured on the point's own curve yet: no step to compare
    assert sibling_slopes(curves, point(8, 2, 2048)) == []


def test_skip_reasons():
    p = Point("lstm", 400, 1, "cpu", "float32", 1, "inference")
    assert skip_reason(p, Curve(measured=[(100, 0.01), (200, 0.02)]), 5.0, 8) is None
    why = skip_reason(p, Curve(measured=[(100, 0.1), (200, 0.4)]), 5.0, 8)
    assert why.startswith("predicted 12.8 s for 8 calls") and "point budget 5 s" in why
    assert skip_reason(p, Curve(stopped_by="oom at seq_len=200"), 5.0, 8) == \
        "oom at seq_len=200"


def test_calls_per_point_from_timing():
    from profiler.measure.timing import TimingConfig
    from profiler.run.runner import calls_per_point

    # per instance 2 warm-up calls + a floor of 3 samples, then 1 profiled pass
    assert calls_per_point(TimingConfig(warmup_calls=2, min_samples=5, instances=1)) == 6
    assert calls_per_point(TimingConfig(warmup_calls=2, min_samples=5, instances=2)) == 11
    # a third instance is taken only where it fits the budget: the prediction counts two
    assert calls_per_point(TimingConfig(warmup_calls=1, min_samples=1, instances=3)) == 5


def test_prediction_learns_from_the_floor_not_the_median():
    from profiler.run.runner import _learn

    curves = {}
    p = Point("lstm", 100, 1, "cpu", "float32", 1, "inference")
    _learn(curves, result_row(p, status="ok", latency_s=0.01, latency_median_s=1.5))
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
    from profiler.run.grid import expand

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
    from profiler.run.grid import expand

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
    from profiler.run.grid import expand

    points = expand(spec)
    done = [result_row(points[0], status="ok", latency_s=0.001),
            result_row(points[1], status="oom", error="x")]
    rows = []
    run_points(spec, points, done, rows.append, "test")
    assert [(r["seq_len"], r["status"], r["error"]) for r in rows] == \
        [(128, "skipped", "oom at seq_len=64")]


def test_sweep_time_limit_leaves_the_rest_for_resume():
    from profiler.run.grid import expand
    from tests.fake_workers import ScriptedWorker

    spec = parse_spec("[grid]\nmodel=['lstm']\nseq_len=[8, 16, 32, 64, 128, 256]\n"
                      "[budget]\nsweep_seconds = 0.5\nremeasure_seconds = 0\n")
    # every instance takes 0.2 s and succeeds
    slow = [ScriptedWorker(lambda p, i, pid: [1e-4] * 5, sleep_s=0.2)]
    rows = []
    summary = run_points(spec, expand(spec), [], rows.append, "t", workers=slow)
    # first instances start while under 0.5 s: at 0, 0.2 and 0.4 s; the points started
    # are finished (their other two instances); the other 3 are left, not written
    assert [r["seq_len"] for r in rows] == [8, 16, 32]
    assert [r["instances"] for r in rows] == [3, 3, 3]
    assert summary.not_run == 3 and summary.counts == {"ok": 3}
    # a resume (its own 0.5 s) with the first three done runs exactly the rest
    more = []
    summary = run_points(spec, expand(spec), rows, more.append, "t", workers=slow)
    assert [r["seq_len"] for r in more] == [64, 128, 256] and summary.not_run == 0


# --- instances and the second pass, driven by scripted workers -----------------------

INSTANCE_SPEC = """
[grid]
model = ["lstm"]
seq_len = [64, 128, 256, 512]
[budget]
remeasure_seconds = {remeasure}
[timing]
instances = 2
max_instances = 4
instance_rtol = 0.05
"""


def _run(script, remeasure=30.0, n_workers=2, wall_s=0.01):
    return _run_spec(parse_spec(INSTANCE_SPEC.format(remeasure=remeasure)), script,
                     n_workers, wall_s)


def _run_spec(spec, script, n_workers=2, wall_s=0.01):
    """(rows, summary, log, workers) of ``spec``'s grid measured by scripted workers."""
    from profiler.run.grid import expand
    from tests.fake_workers import ScriptedWorker

    log = []
    workers = [ScriptedWorker(script, log=log, wall_s=wall_s) for _ in range(n_workers)]
    rows = []
    summary = run_points(spec, expand(spec), [], rows.append, "t", workers=workers)
    return rows, summary, log, workers


def _linear(point):
    return point.seq_len * 1e-5  # seconds: a clean linear curve


def test_agreeing_instances_alternate_processes_and_need_no_second_pass():
    from tests.fake_workers import around

    rows, summary, log, workers = _run(lambda p, i, pid: around(_linear(p)))
    assert [r["instances"] for r in rows] == [2] * 4 and summary.remeasured == 0
    # interleaved in time: instance 0 of every point, then instance 1 of every point
    assert [i for _, i, _ in log] == [0] * 4 + [1] * 4
    assert [w.calls for w in workers] == [  # and in different processes, by point index
        [(r["point_id"], k) for r, k in ((rows[0], 0), (rows[2], 0), (rows[1], 1),
                                         (rows[3], 1))],
        [(r["point_id"], k) for r, k in ((rows[1], 0), (rows[3], 0), (rows[0], 1),
                                         (rows[2], 1))]]
    assert all(r["attempt"] == 1 for r in rows)


def test_a_slow_spell_falls_on_one_instance_and_is_outvoted():
    from tests.fake_workers import around

    calls = []

    def script(p, i, pid):
        # the machine is 50% slow for two consecutive calls, seen by no counter
        calls.append(p.seq_len)
        spell = len(calls) in (3, 4) and pid == 1
        return around(_linear(p) * (1.5 if spell else 1.0))

    rows, _, _, _ = _run(script, remeasure=0.0)
    # back to back, both instances of n=128 would have been in the spell; interleaved,
    # n=256 and n=512 each have one slow instance, and a third confirms the fast floor
    assert [r["instances"] for r in rows] == [2, 2, 3, 3]
    assert [r["latency_s"] for r in rows] == pytest.approx([_linear(r) for r in
                                                            map(point_of, rows)], rel=2e-3)


def test_a_run_stopped_after_the_first_pass_is_completed_on_resume():
    from profiler.run.grid import expand
    from tests.fake_workers import ScriptedWorker, around, instance_row

    spec = parse_spec(INSTANCE_SPEC.format(remeasure=0.0))
    points = expand(spec)
    # what Ctrl-C during the completing pass leaves: first-pass rows of one instance
    done = [dict(instance_row(p, around(_linear(p))), attempt=1) for p in points]
    log, rows = [], []
    run_points(spec, points, done, rows.append, "t", workers=[ScriptedWorker(
        lambda p, i, pid: around(_linear(p)), log=log)])
    assert [i for _, i, _ in log] == [1] * 4  # only the missing instance of each
    assert [(r["point_id"], r["instances"], r["attempt"]) for r in rows] == [
        (p.point_id, 2, 1) for p in points]


def test_ctrl_c_in_the_completing_pass_writes_the_first_pass_rows():
    from profiler.run.grid import expand
    from tests.fake_workers import ScriptedWorker, around

    def script(p, i, pid):
        if i == 1 and p.seq_len == 256:
            raise KeyboardInterrupt
        return around(_linear(p))

    spec = parse_spec(INSTANCE_SPEC.format(remeasure=0.0))
    rows = []
    summary = run_points(spec, expand(spec), [], rows.append, "t",
                         workers=[ScriptedWorker(script)])
    assert summary.interrupted and summary.not_run == 0
    # 64 and 128 completed; 256 and 512 kept as far as they got, for --resume
    assert [(r["seq_len"], r["instances"]) for r in rows] == [(64, 2), (128, 2), (256, 1),
                                                              (512, 1)]


def test_a_planted_slow_instance_brings_more_instances_then_a_second_pass():
    from tests.fake_workers import around

    def script(p, i, pid):
        # at n=256 the first processes run slower with every instance (1, 1.25, 1.5,
        # 1.75 x, like the 28.75 ms process): no second instance reproduces the floor.
        # Fresh processes (pid 2, after the second pass restarts them) are clean.
        slow = 1.0 + 0.25 * i if p.seq_len == 256 and pid == 1 else 1.0
        return around(_linear(p) * slow)

    rows, summary, log, workers = _run(script)
    first = {r["seq_len"]: r for r in rows if r["attempt"] == 1}
    assert first[256]["instances"] == 4  # the floor unconfirmed: up to max_instances
    assert first[128]["instances"] == 2
    again = [r for r in rows if r["attempt"] == 2]
    assert [r["seq_len"] for r in again] == [256]
    assert again[0]["remeasure_reason"] == "instances disagree"
    # the record holds both attempts' instances: 4 from the first pass (three slow), 2
    # new, which confirm the floor
    assert again[0]["instances"] == 6
    assert again[0]["latency_s"] == pytest.approx(256e-5, rel=2e-3)
    assert instances.floor_confirmed(again[0], rtol=0.05)
    assert sorted(again[0]["instance_medians_s"])[-2:] == pytest.approx([1.5 * 256e-5,
                                                                         1.75 * 256e-5])
    assert summary.remeasured == 1
    # the second pass ran in fresh processes, latency only: no instance 0, whose
    # profiled pass (memory, operators, kernels) the first pass already ran
    assert all(pid == 2 and i >= 1 for pid_id, i, pid in log[-2:])


def test_a_points_instances_run_in_different_processes_of_the_pool():
    from tests.fake_workers import around

    def script(p, i, pid):  # no floor is ever reproduced: each takes max_instances (4)
        return around(_linear(p) * (1.0 + 0.2 * i))

    rows, _, _, workers = _run(script, remeasure=0.0, n_workers=4)
    assert [r["instances"] for r in rows] == [4] * 4
    for w in workers:  # each worker saw each point once: four processes, four draws
        ids = [pid for pid, _ in w.calls]
        assert sorted(ids) == sorted(set(ids)) and len(ids) == 4
    # the point's index rotates where it starts: point k's instance 0 is in worker k
    starts = [next(pid for pid, i in w.calls if i == 0) for w in workers]
    assert starts == [r["point_id"] for r in rows]


def test_extra_instances_are_taken_in_rounds_never_back_to_back():
    from tests.fake_workers import around

    def script(p, i, pid):  # n=128 and n=512 never reproduce a floor; n=64 and n=256 do
        wobble = 0.2 * i if p.seq_len in (128, 512) else 0.0
        return around(_linear(p) * (1.0 + wobble))

    rows, _, log, _ = _run(script, remeasure=0.0)
    n_of = {r["point_id"]: r["seq_len"] for r in rows}
    # a round of every point, then rounds of the disagreeing ones only: a point's
    # instances are a round apart, so one slow spell of the machine cannot cover two
    assert [(n_of[pid], i) for pid, i, _ in log] == [
        (64, 0), (128, 0), (256, 0), (512, 0), (64, 1), (128, 1), (256, 1), (512, 1),
        (128, 2), (512, 2), (128, 3), (512, 3)]
    # rows are written as they complete: the agreeing ones after the second round
    assert [(r["seq_len"], r["instances"]) for r in rows] == [(64, 2), (256, 2), (128, 4),
                                                              (512, 4)]


def test_more_instances_only_while_one_more_fits_in_the_point_budget():
    from tests.fake_workers import around

    def script(p, i, pid):  # every point disagrees
        return around(_linear(p) * (1.0 + 0.2 * (i % 2)))

    # point_seconds is 5 s (the default). Instances of 2 s: a third would end at 6 s, so
    # none is taken. Of 1.6 s: a third ends at 4.8 s, a fourth would end at 6.4 s.
    rows, _, _, _ = _run(script, remeasure=0.0, wall_s=2.0)
    assert [r["instances"] for r in rows] == [2] * 4
    rows, _, _, _ = _run(script, remeasure=0.0, wall_s=1.6)
    assert [r["instances"] for r in rows] == [3] * 4


def test_instances_beyond_two_only_where_they_fit_in_the_point_budget():
    from tests.fake_workers import around

    # [timing].instances = 3 and every point agrees with itself. Instances of 2 s: the
    # first two always (4 s), a third would end at 6 s > point_seconds (5 s). Of 1.6 s:
    # the third ends at 4.8 s, and agreeing instances want no fourth.
    for wall_s, taken in ((2.0, 2), (1.6, 3)):
        spec = parse_spec(INSTANCE_SPEC.format(remeasure=0.0).replace(
            "instances = 2", "instances = 3"))
        rows, _, log, _ = _run_spec(spec, lambda p, i, pid: around(_linear(p)), wall_s=wall_s)
        assert [r["instances"] for r in rows] == [taken] * 4
        assert sorted({i for _, i, _ in log}) == list(range(taken))


def test_a_skip_never_rests_on_one_slow_instance():
    from profiler.run.grid import expand
    from tests.fake_workers import ScriptedWorker, around

    # 5 s a call per 1024 tokens; a point costs 5 calls at least (2
    # instances x (1 warm-up + 1 sample) + 1 profiled pass), the budget is 30 s: n=512
    # (2.5 s, its floor confirmed) predicts n=2048 at 10 s a call, 50 s: skipped; n=1024
    # at 5 s a call, 25 s: run. Unless n=512's first instance ran in a 2x slow process:
    # then 50 s predicted, and n=1024 would be skipped on it.
    spec = parse_spec("[grid]\nmodel=['lstm']\nseq_len=[512, 1024, 2048]\n"
                      "[budget]\npoint_seconds = 30.0\ntimeout_seconds = 60.0\n"
                      "remeasure_seconds = 0\n[timing]\nmin_samples = 1\nwarmup_calls = 1\n")

    def script(p, i, pid):
        slow = 2.0 if (p.seq_len, i) == (512, 0) else 1.0
        return around(5.0 * p.seq_len / 1024 * slow)

    log = []
    workers = [ScriptedWorker(script, log=log) for _ in range(2)]
    rows = []
    run_points(spec, expand(spec), [], rows.append, "t", workers=workers)
    status = {r["seq_len"]: r["status"] for r in rows}
    assert status == {512: "ok", 1024: "ok", 2048: "skipped"}
    # n=512's other instances were taken before n=1024 was decided on
    order = [(_n(rows, pid), i) for pid, i, _ in log]
    assert order[:4] == [(512, 0), (512, 1), (512, 2), (1024, 0)]
    assert "predicted 50.0 s" in next(r["error"] for r in rows if r["seq_len"] == 2048)


def test_a_skip_never_rests_on_a_sibling_curves_slow_instance():
    from profiler.run.grid import expand
    from tests.fake_workers import ScriptedWorker, around

    # linear, 5 s a call per 1024 tokens, at 1 and 2 threads alike; a point costs 5 calls
    # at least, the budget is 30 s. n=1024 at 2 threads is predicted from its n=512
    # (2.5 s) and the slope its 1-thread sibling showed over 512 -> 1024: 1, so 5 s a
    # call, 25 s: run. Unless the sibling's n=1024 first instance ran 2.5x slow: a slope
    # of log2(5) = 2.32, 12.5 s a call, 62.5 s, and the point would be skipped on it.
    spec = parse_spec("[grid]\nmodel=['lstm']\nseq_len=[512, 1024]\nthreads=[1, 2]\n"
                      "[budget]\npoint_seconds = 30.0\ntimeout_seconds = 60.0\n"
                      "remeasure_seconds = 0\n[timing]\nmin_samples = 1\nwarmup_calls = 1\n")

    def script(p, i, pid):
        slow = 2.5 if (p.seq_len, p.threads, i) == (1024, 1, 0) else 1.0
        return around(5.0 * p.seq_len / 1024 * slow)

    log = []
    workers = [ScriptedWorker(script, log=log) for _ in range(2)]
    rows = []
    run_points(spec, expand(spec), [], rows.append, "t", workers=workers)
    by = {(r["seq_len"], r["threads"]): r for r in rows}
    assert {k: r["status"] for k, r in by.items()} == {
        (512, 1): "ok", (1024, 1): "ok", (512, 2): "ok", (1024, 2): "ok"}
    assert by[(1024, 1)]["latency_s"] == pytest.approx(5.0, rel=1e-2)  # its floor
    # the sibling's n=1024 got its other instances before n=1024 at 2 threads began
    ids = {r["point_id"]: (r["seq_len"], r["threads"]) for r in rows}
    order = [(ids[pid], i) for pid, i, _ in log]
    first_of_decided = order.index(((1024, 2), 0))
    assert {((1024, 1), 1), ((1024, 1), 2)} <= set(order[:first_of_decided])


def _n(rows, point_id):
    return next(r["seq_len"] for r in rows if r["point_id"] == point_id)


def test_the_pool_has_one_process_per_instance_within_bounds():
    from profiler.measure.timing import TimingConfig
    from profiler.run.runner import MAX_PROCESSES, MIN_PROCESSES, pool_size

    assert pool_size(TimingConfig(instances=2, max_instances=4)) == 4
    assert pool_size(TimingConfig(instances=1, max_instances=1)) == MIN_PROCESSES
    assert pool_size(TimingConfig(instances=2, max_instances=8)) == 8 == MAX_PROCESSES


def test_a_planted_non_monotone_curve_is_measured_again():
    from tests.fake_workers import around

    def script(p, i, pid):
        # n=128 measured 2.5x too slow in the first pass's processes: above n=256
        bump = p.seq_len == 128 and pid == 1
        return around(_linear(p) * (2.5 if bump else 1.0))

    rows, summary, _, _ = _run(script)
    again = {r["seq_len"]: r for r in rows if r["attempt"] == 2}
    assert set(again) == {128, 256}  # which one is wrong is not known: both
    assert {r["remeasure_reason"] for r in again.values()} == {"breaks its curve"}
    assert again[128]["latency_s"] == pytest.approx(128e-5, rel=2e-3)
    assert again[256]["latency_s"] == pytest.approx(256e-5, rel=2e-3)
    assert not quality.curve_breakers([again[128], again[256]], rtol=0.05)


def test_contended_points_come_first_and_the_pass_keeps_its_budget():
    from tests.fake_workers import around

    def script(p, i, pid):
        return around(_linear(p)), (pid == 1 and p.seq_len in (64, 512))

    rows, summary, _, _ = _run(script)
    again = [r for r in rows if r["attempt"] == 2]
    assert [r["seq_len"] for r in again] == [64, 512]
    # a contended point's earlier instances measured the neighbour: they are dropped
    assert all(r["remeasure_reason"] == "contended" and r["contended"] is False
               and r["instances"] == 2 for r in again)
    # no time for a second pass: the flagged rows stay, flagged
    rows, summary, _, _ = _run(script, remeasure=0.0)
    assert summary.remeasured == 0
    assert [r["seq_len"] for r in rows if r["contended"]] == [64, 512]


def test_a_second_attempt_slower_than_the_first_never_replaces_its_floor():
    from tests.fake_workers import around

    def script(p, i, pid):
        # the first pass: n=64 contended, n=256 fine but breaking its curve against a
        # slow n=128; the second pass's fresh processes (pid 2) run in a slow spell for
        # n=64 and n=256 (2x, no wait to show it; one of n=256's new instances beside
        # a neighbour too), n=128 comes out right
        value = _linear(p) * (2.5 if pid == 1 and p.seq_len == 128 else 1.0)
        if pid == 2 and p.seq_len in (64, 256):
            value = _linear(p) * 2.0
        return around(value), ((pid == 1 and p.seq_len == 64)
                               or (pid == 2 and p.seq_len == 256 and i == 2))

    rows, summary, _, _ = _run(script)
    again = {r["seq_len"]: r for r in rows if r["attempt"] == 2}
    assert {n: r["remeasure_reason"] for n, r in again.items()} == {
        64: "contended", 128: "breaks its curve", 256: "breaks its curve"}
    # slower than before: pooled, the first floor stands, and so does its flag (n=256's
    # contended new instance, slower than the floor, does not flag a floor it did not set)
    assert again[64]["latency_s"] == pytest.approx(64e-5, rel=2e-3)
    assert again[64]["contended"] is True and again[64]["instances"] == 4
    assert again[256]["latency_s"] == pytest.approx(256e-5, rel=2e-3)
    assert again[256]["contended"] is False and again[256]["instances"] == 4
    # faster than before: the new instances replace the old ones
    assert again[128]["latency_s"] == pytest.approx(128e-5, rel=2e-3)
    assert again[128]["instances"] == 2


def test_resume_runs_the_second_pass_and_attempts_are_bounded():
    from profiler.run.grid import expand
    from profiler.run.quality import MAX_ATTEMPTS
    from tests.fake_workers import ScriptedWorker, around

    spec = parse_spec(INSTANCE_SPEC.format(remeasure=30.0))
    always = [ScriptedWorker(lambda p, i, pid: (around(_linear(p)), p.seq_len == 64))
              for _ in range(2)]
    rows = []
    for _ in range(MAX_ATTEMPTS + 2):  # the first run, then resumes
        run_points(spec, expand(spec), rows, rows.append, "t", workers=always)
    attempts = [r["attempt"] for r in rows if r["seq_len"] == 64]
    assert attempts == list(range(1, MAX_ATTEMPTS + 1))


def test_the_second_pass_takes_one_new_instance_per_fresh_process():
    from tests.fake_workers import around

    # n=256 disagrees with itself in every process, first pass and second: the second
    # pass's two fresh processes (instances = 2) give it two new instances, not the
    # four max_instances would allow; a process's second instance is not a new draw
    def script(p, i, pid):
        return around(_linear(p) * (1.0 + 0.2 * i if p.seq_len == 256 else 1.0))

    rows, _, log, _ = _run(script)
    again = [r for r in rows if r["attempt"] == 2]
    assert [(r["seq_len"], r["instances"]) for r in again] == [(256, 4 + 2)]
    second = [i for pid_id, i, pid in log if pid == 2]
    assert second == [1, 2]


def test_a_failed_second_attempt_keeps_the_first_attempts_numbers():
    from tests.fake_workers import around

    # n=256 contended in the first processes; the second pass's fresh process crashes
    def script(p, i, pid):
        if pid == 2 and p.seq_len == 256:
            return "crashed", "worker killed by SIGSEGV"
        return around(_linear(p)), (pid == 1 and p.seq_len == 256)

    rows, summary, _, _ = _run(script)
    first, second = [r for r in rows if r["seq_len"] == 256]
    assert second["status"] == "ok" and second["attempt"] == 2
    assert second["remeasure_error"] == "crashed: worker killed by SIGSEGV"
    assert second["remeasure_reason"] == "contended"
    for key in ("latency_s", "latency_samples_s", "instances", "contended"):
        assert second[key] == first[key]  # the first attempt's numbers, still flagged
    assert summary.counts["ok"] == 4 and summary.remeasured == 1
    # resumed: the third attempt measures it (10% slower: pooled with the first's
    # instances), and the failure note is not carried on
    from profiler.run.grid import expand
    from tests.fake_workers import ScriptedWorker

    spec = parse_spec(INSTANCE_SPEC.format(remeasure=30.0))
    fine = [ScriptedWorker(lambda p, i, pid: around(_linear(p) * 1.1)) for _ in range(2)]
    more = []
    run_points(spec, expand(spec), rows, more.append, "t", workers=fine)
    (third,) = more
    assert third["attempt"] == 3 and third["status"] == "ok"
    assert third["remeasure_error"] is None
    assert third["instances"] == first["instances"] + 2  # pooled


def test_the_display_is_told_when_the_first_pass_ends_and_the_second_begins():
    from profiler.run.grid import expand
    from tests.fake_workers import ScriptedWorker, around

    def run(script):
        spec = parse_spec(INSTANCE_SPEC.format(remeasure=30.0))
        events = []
        run_points(spec, expand(spec), [], lambda row: None, "t",
                   on_start=lambda p: events.append(p.seq_len), on_phase=events.append,
                   workers=[ScriptedWorker(script), ScriptedWorker(script)])
        return events

    # all agree: the rounds that take the second instances, and no second pass
    assert run(lambda p, i, pid: around(_linear(p))) == [
        64, 128, 256, 512, "more instances", 64, 128, 256, 512]
    # n=256 contended in the first processes: measured again at the end
    events = run(lambda p, i, pid: (around(_linear(p)), pid == 1 and p.seq_len == 256))
    # (its two instances in rounds, each named as it starts)
    assert events[events.index("second pass"):] == ["second pass", 256, 256]


def test_the_second_pass_takes_its_instances_in_rounds_until_its_time_is_up(monkeypatch):
    import profiler.run.runner as runner_mod
    from tests.fake_workers import around

    clock = [0.0]
    monkeypatch.setattr(runner_mod.time, "perf_counter", lambda: clock[0])

    def script(p, i, pid):
        if pid == 2:
            clock[0] += 1.0  # each instance of the second pass takes 1 s
        return around(_linear(p)), (pid == 1 and p.seq_len in (64, 512))

    # instances back to back fall in one slow spell together: a round apart, not
    rows, summary, log, _ = _run(script)
    assert [(r["seq_len"], r["instances"]) for r in rows if r["attempt"] == 2] == [
        (64, 2), (512, 2)]
    by_n = {r["point_id"]: r["seq_len"] for r in rows}
    assert [(by_n[pid_id], i) for pid_id, i, pid in log if pid == 2] == [
        (64, 1), (512, 1), (64, 2), (512, 2)]
    # 2.5 s: n=64 gets its second instance at 2 s, n=512 none at 3 s; one new instance
    # confirms nothing, so n=512 keeps its first-pass row, flagged
    clock[0] = 0.0
    rows, summary, log, _ = _run(script, remeasure=2.5)
    assert [(r["seq_len"], r["instances"]) for r in rows if r["attempt"] == 2] == [(64, 2)]
    assert summary.remeasured == 1
    assert [r["contended"] for r in rows if r["seq_len"] == 512] == [True]
