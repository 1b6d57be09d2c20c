"""Run points through a worker: order, budgets, pruning, failures as data, resume.

The runner decides *whether* and *where* a point runs; measure.py decides *how*.
It reports progress through callbacks and never prints.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from profiler.measure import instances
from profiler.measure.timing import MIN_SAMPLES_FLOOR, TimingConfig
from profiler.measure.worker import Worker
from profiler.records import Point, point_of, result_row
from profiler.run import quality
from profiler.run.spec import MAX_INSTANCES, SweepSpec

# A point's instances run in different processes of a pool of max_instances of them
# (at least MIN_PROCESSES; the spec allows at most spec.MAX_INSTANCES). A worker process
# has a speed of its own that lasts its life: the same LSTM point measured 50 ms in one
# process and 58-62 ms in three others, four instances each (docs/measurement.md).
# Instances in one process are one draw of that speed; four processes give a
# disagreeing point four draws.
MIN_PROCESSES, MAX_PROCESSES = 2, MAX_INSTANCES
# Second-pass reasons whose earlier instances join the new record. Not "contended" (they
# measured the neighbour) nor "breaks its curve" (they agreed with each other and the
# curve says they are wrong), unless the new attempt came out slower than they did
# (instances.slower_than): then it was slowed too, and the floor stays the earlier one.
POOLED_REASONS = ("instances disagree", "noisy")


# Every point gets this many instances (or [timing].instances if fewer), whatever they
# cost; instances beyond it only while one more fits in [budget].point_seconds.
ALWAYS_TAKEN = 2


def calls_per_point(timing: TimingConfig) -> int:
    """The fewest calls a point costs: per instance it always takes (ALWAYS_TAKEN)
    warm-up and the sample floor, then one profiled pass. Turns a predicted per-call
    latency into a predicted point time."""
    per_instance = timing.warmup_calls + min(MIN_SAMPLES_FLOOR, timing.min_samples)
    return min(timing.instances, ALWAYS_TAKEN) * per_instance + 1


@dataclass
class Curve:
    """What the runner knows of one curve (a Point.series) so far."""

    measured: list[tuple[int, float]] = field(default_factory=list)  # (seq_len, latency_s)
    stopped_by: str | None = None  # why larger seq_len are not run


def _slope(a: tuple[int, float], b: tuple[int, float]) -> float | None:
    """Log-log slope between two (seq_len, latency) points; None where undefined."""
    (n0, t0), (n1, t1) = a, b
    if n1 > n0 and t0 > 0 and t1 > 0:
        return math.log(t1 / t0) / math.log(n1 / n0)
    return None


def predict_latency(measured: list[tuple[int, float]], seq_len: int,
                    sibling_slopes: Iterable[float] = ()) -> float | None:
    """Per-call latency at seq_len, extrapolated as a power law from the last point.

    The exponent is the steepest of the last two points' slope and ``sibling_slopes``:
    the slopes sibling curves (the same model and phase at another batch or thread
    count) showed over the same step of n. How a cost grows with n is the model's at
    that n, and a curve turning quadratic steepens where its own last slope cannot
    see it: a Transformer train step (batch 8, 1 thread) was predicted from its 128 ->
    512 slope (1.37) at 7 s of a 10 s budget and took 13.6 s (slope 1.77); its batch-1
    sibling had already shown 1.65 over 512 -> 2048. Clamped to [1, 3]; from one
    point, linear. None without data."""
    if not measured:
        return None
    pts = sorted(measured)
    n1, t1 = pts[-1]
    slopes = [k for k in [_slope(pts[-2], pts[-1]) if len(pts) >= 2 else None,
                          *sibling_slopes] if k is not None]
    k = min(3.0, max(1.0, *slopes)) if slopes else 1.0
    return t1 * (seq_len / n1) ** k


def _sibling_key(series: tuple) -> tuple:
    """A curve's series (records.Point.series) without its batch size and threads."""
    model, _batch, device, dtype, _threads, phase, attention = series
    return model, device, dtype, phase, attention


def _sibling_steps(curves: dict[tuple, Curve], point: Point
                   ) -> tuple[int | None, list[tuple[tuple, dict[int, float]]]]:
    """The last measured n of ``point``'s curve (None: nothing measured), and the
    (series, {seq_len: latency}) of each curve of its model, phase, device, dtype and
    attention at another batch size or thread count that measured both that n and
    point.seq_len."""
    own = curves.get(point.series)
    if own is None or not own.measured:
        return None, []
    last = max(own.measured)[0]
    key = _sibling_key(point.series)
    steps = []
    for series, curve in curves.items():
        at = dict(curve.measured)
        if series != point.series and _sibling_key(series) == key and last in at \
                and point.seq_len in at:
            steps.append((series, at))
    return last, steps


def sibling_slopes(curves: dict[tuple, Curve], point: Point) -> list[float]:
    """Slopes of the curves of ``point``'s model, phase, device, dtype and attention at
    other batch sizes and thread counts, over the step from its curve's last measured
    n to point.seq_len, where such a curve measured both ends (_sibling_steps)."""
    last, steps = _sibling_steps(curves, point)
    slopes = (_slope((last, at[last]), (point.seq_len, at[point.seq_len])) for _, at in steps)
    return [k for k in slopes if k is not None]


def skip_reason(point: Point, curve: Curve, budget_s: float, calls: int,
                slopes: Iterable[float] = ()) -> str | None:
    """Why not to run ``point`` (``calls`` calls at least), or None to run it.
    ``slopes``: its sibling curves' slopes over the same step (sibling_slopes)."""
    if curve.stopped_by:
        return curve.stopped_by
    predicted = predict_latency(curve.measured, point.seq_len, slopes)
    if predicted is not None and predicted * calls > budget_s:
        return (f"predicted {predicted * calls:.1f} s for {calls} calls "
                f"(~{predicted:.3g} s/call) > point budget {budget_s:g} s")
    return None


@dataclass
class RunSummary:
    counts: dict[str, int] = field(default_factory=dict)
    not_run: int = 0  # points left for a later --resume (sweep time limit, interrupt)
    remeasured: int = 0  # points measured again by the second pass
    measured_s: float = 0.0  # seconds inside timed samples
    wall_s: float = 0.0
    interrupted: bool = False
    failures: list[str] = field(default_factory=list)  # distributed: a line per job that died

    @property
    def efficiency(self) -> float:
        """Measurement efficiency: time inside timed samples / wall time of the sweep."""
        return self.measured_s / self.wall_s if self.wall_s > 0 else 0.0


def measure_instances(point: Point, spec: SweepSpec, workers: list[Worker],
                      run_id: str, first: int = 0, upto: int = 1,
                      earlier: dict | None = None, trace_path: str | None = None,
                      latency_only: bool = False) -> dict:
    """The row of one point measured in independent instances.

    Instance k runs in ``workers[(first + k) % len(workers)]``: up to the pool's size,
    each instance of a point is in a different process, and ``first`` (the point's
    index) rotates which processes a point starts in. Instances are taken until the
    row has ``upto``, counting those of ``earlier`` (the point's row so far): the
    passes take one at a time, in rounds over their points. The first failure
    (oom, error, timeout, crash) is the point's row: a failure is data. ``trace_path``:
    instance 0's profiled pass also exports the point's trace there. ``latency_only``: no
    instance runs the profiled pass (the second pass keeps the first pass's)."""
    timing, budget = spec.timing, spec.budget
    rows: list[dict] = [earlier] if earlier else []

    def taken() -> int:
        return sum(r.get("instances") or 1 for r in rows)

    while taken() < upto:
        worker = workers[(first + taken()) % len(workers)]
        outcome, detail = worker.measure(
            point, spec.models.get(point.model, {}), timing, max_time_s=budget.point_seconds,
            timeout_s=budget.timeout_seconds, run_id=run_id,
            instance=taken() + (1 if latency_only else 0),
            trace_path=trace_path if taken() == 0 else None)
        if outcome == "timeout":
            return result_row(point, status="timeout", run_id=run_id,
                              error=f"still running after {detail:g} s; worker killed")
        if outcome != "ok":
            return result_row(point, status="crashed", run_id=run_id, error=detail)
        if detail["status"] != "ok":
            return detail
        rows.append(detail)
    return instances.combine(rows)


def pool_size(timing: TimingConfig) -> int:
    """How many measuring processes: one per instance a point may take, within bounds."""
    return min(MAX_PROCESSES, max(MIN_PROCESSES, timing.max_instances))


def latency_pool_size(timing: TimingConfig) -> int:
    """How many fresh processes measure latency only (the second pass, --confirm): one
    per instance a point takes, at least MIN_PROCESSES."""
    return max(MIN_PROCESSES, timing.instances)


def forkable(points: Iterable[Point]) -> bool:
    """May the processes measuring ``points`` be forked from the fork server
    (measure/forkserver.py)? Where all are on the CPU: a CUDA check in the server would
    leave its children unable to use the GPU."""
    return all(p.device == "cpu" for p in points)


def make_workers(log_path: str | None = None, processes: int = MIN_PROCESSES,
                 timing: TimingConfig = TimingConfig(), fork: bool = False) -> list[Worker]:
    """The measuring processes (not started: start_workers starts them together), with
    the environment ``timing`` asks for (huge_pages, keep_freed_memory); ``fork``: from
    the fork server (forkable), not spawned."""
    return [Worker(log_path=log_path, huge_pages=timing.huge_pages,
                   keep_freed_memory=timing.keep_freed_memory, fork=fork)
            for _ in range(processes)]


def for_latency_only(workers: list[Worker], rows: Iterable[dict]) -> list[Worker]:
    """``workers``, set to start for measuring the latency of ``rows``' points only (the
    second pass, --confirm): no profiled pass, so no profiler start-up, and the first
    optimizer's import only where a train step will be built."""
    train = any(r.get("phase") == "train_step" for r in rows)
    for worker in workers:
        worker.warm_profiler = False  # a trace after them warms it up lazily
        worker.warm_optimizer = train
    return workers


def start_workers(workers: list[Worker]) -> None:
    """Start every worker at once and wait until all are ready: spawned ones import
    torch in parallel (half the start-up on 2 cores), and no point is measured while
    another process is still starting beside it."""
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.wait_ready()


def run_points(spec: SweepSpec, points: list[Point], done_rows: Iterable[dict],
               write: Callable[[dict], None], run_id: str,
               on_start: Callable[[Point], None] = lambda p: None,
               on_done: Callable[[dict], None] = lambda r: None,
               on_phase: Callable[[str], None] = lambda text: None,
               workers: list[Worker] | None = None,
               trace_to: Callable[[Point], str | None] = lambda p: None,
               on_trace: Callable[[Point, dict], None] = lambda p, r: None) -> RunSummary:
    """Measure every point not already in ``done_rows``; each row goes to ``write``.
    ``trace_to(point)``: where its first instance's profiled pass exports the point's
    trace (None: nowhere); ``on_trace(point, row)`` once a trace was written.

    A point's instances are interleaved in time: the first pass takes one instance of
    every point, then ``complete`` takes the rest in rounds, a round apart. A slow spell
    of the machine that no counter sees then falls on one instance, where the
    instances' disagreement shows it, not on all of them. An ok point's row is written once it is
    complete (or, on Ctrl-C, as far as it got); a failure at once. Last, the second
    pass (``remeasure``) within ``[budget].remeasure_seconds``."""
    t0 = time.perf_counter()
    summary = RunSummary()
    curves: dict[tuple, Curve] = {}
    latest = {row["point_id"]: row for row in done_rows}  # resume: what the runner knew
    for row in latest.values():
        _learn(curves, row)
    held: set[str] = set()  # points whose first-pass row is not written yet
    index = {p.point_id: i for i, p in enumerate(points)}  # where each point's instances start
    own_workers = workers is None
    if own_workers:
        workers = make_workers(processes=pool_size(spec.timing), timing=spec.timing,
                               fork=forkable(points))
        start_workers(workers)
    budget = spec.budget
    try:
        for i, point in enumerate(points):
            if point.point_id in latest:
                continue
            if budget.sweep_seconds and time.perf_counter() - t0 > budget.sweep_seconds:
                summary.not_run = sum(p.point_id not in latest for p in points[i:])
                break
            on_start(point)
            curve = curves.setdefault(point.series, Curve())
            reason = skip_reason(point, curve, budget.point_seconds, calls_per_point(spec.timing),
                                 sibling_slopes(curves, point))
            bases = _bases(point, curves, held, index) if reason and not curve.stopped_by \
                else []
            if bases:
                # A prediction extrapolates the last point's floor, which after the
                # first pass is one instance's: a slow process's floor predicted a
                # Transformer train step (batch 8, n = 2048, 2 threads) at 1.32 s a call,
                # twice what it takes. A sibling curve's slope, from its points' first
                # instances, is as fragile: it predicted a Transformer inference step
                # (batch 8, n = 4096, 2 threads) at 1.21 s a call and skipped it, where
                # other runs measured 0.76 s. Before skipping on them, those points get
                # the rest of their instances, now.
                for j, basis in bases:
                    while basis.point_id in held:
                        summary.measured_s += _take_next(spec, j, basis, latest, held, workers,
                                                         write, run_id, summary.counts,
                                                         {basis.point_id})
                    _learn(curves, latest[basis.point_id])
                reason = skip_reason(point, curve, budget.point_seconds,
                                     calls_per_point(spec.timing), sibling_slopes(curves, point))
            if reason:
                row = result_row(point, status="skipped", error=reason, run_id=run_id)
            else:
                row = measure_instances(point, spec, workers, run_id, first=i, upto=1,
                                        trace_path=trace_to(point))
                if row["status"] == "ok" and row.get("trace_file"):
                    on_trace(point, row)
            row["attempt"] = 1
            if _wants_another(row, spec):
                held.add(point.point_id)
            else:
                write(row)
            latest[point.point_id] = row
            _learn(curves, row)
            summary.counts[row["status"]] = summary.counts.get(row["status"], 0) + 1
            summary.measured_s += row.get("measured_s") or 0.0
            on_done(row)
        # the progress bar counts first measurements: these passes only name their point
        if held:
            on_phase("more instances")
        summary.measured_s += complete(spec, points, latest, held, workers, write, run_id,
                                       summary.counts, on_start)
        if not summary.not_run:
            wanted = {p.point_id for p in points}
            rows = [r for pid, r in latest.items() if pid in wanted]
            summary.remeasured, extra_s = remeasure(spec, rows, workers, write, run_id,
                                                    on_start, on_phase=on_phase)
            summary.measured_s += extra_s
    except KeyboardInterrupt:
        summary.interrupted = True
        summary.not_run = sum(p.point_id not in latest for p in points)
        for point in points:  # valid rows of fewer instances: --resume completes them
            if point.point_id in held:
                write(latest[point.point_id])
    finally:
        if own_workers:
            for worker in workers:
                worker.close()
        summary.wall_s = time.perf_counter() - t0
    return summary


def _wants_another(row: dict | None, spec: SweepSpec) -> bool:
    """Does an ok row want one more instance in this pass? Always while it has fewer
    than ALWAYS_TAKEN (or ``[timing].instances`` if fewer). Beyond that only while one
    more, at their mean cost, still fits in ``[budget].point_seconds``: then up to
    ``[timing].instances``, and on up to ``max_instances`` while they disagree on their
    floor (instances.floor_confirmed: no second instance reproduced it). Rows of older
    runs, without the field, are complete."""
    if row is None or row["status"] != "ok" or row.get("instances") is None:
        return False
    timing, taken = spec.timing, row["instances"]
    if taken < min(timing.instances, ALWAYS_TAKEN):
        return True
    spent = row.get("point_wall_s") or 0.0
    if spent + spent / taken > spec.budget.point_seconds:
        return False
    return taken < timing.instances or (
        taken < timing.max_instances
        and not instances.floor_confirmed(row, timing.instance_rtol))


def complete(spec: SweepSpec, points: list[Point], latest: dict[str, dict], held: set[str],
             workers: list[Worker], write: Callable[[dict], None], run_id: str,
             counts: dict[str, int], on_start: Callable[[Point], None] = lambda p: None
             ) -> float:
    """Take the rest of the instances of every point in ``latest`` that wants another
    (_wants_another), in rounds: each round takes one more instance of every such point,
    in grid order. A point's instances are then a whole round apart in time: the
    machine's slow spells last seconds (docs/measurement.md), and two instances taken
    back to back fall in the same spell, where their agreement proves nothing.

    A row is written once it wants no more instances, same attempt; until then it stays
    in ``held`` (Ctrl-C writes it as far as it got). ``counts`` follows a point whose
    next instance failed. Returns the seconds inside the new instances' timed samples."""
    measured = 0.0
    counted = set(held)  # measured first in this session, so already in counts
    while True:
        due = [(i, p) for i, p in enumerate(points) if _wants_another(latest.get(p.point_id), spec)]
        if not due:
            return measured
        for i, point in due:
            on_start(point)
            measured += _take_next(spec, i, point, latest, held, workers, write, run_id,
                                   counts, counted)


def _take_next(spec: SweepSpec, i: int, point: Point, latest: dict[str, dict], held: set[str],
               workers: list[Worker], write: Callable[[dict], None], run_id: str,
               counts: dict[str, int], counted: set[str]) -> float:
    """One more instance of ``point`` (the ``i``-th of the grid), pooled into its row in
    ``latest``; the row is written once it wants no more (else it stays in ``held``).
    ``counts`` follows a point of ``counted`` whose new instance failed. Returns the
    seconds inside the new instance's timed samples."""
    old = latest[point.point_id]
    row, measured = _one_more(point, spec, workers, run_id, i, old)
    row["attempt"] = old.get("attempt") or 1
    latest[point.point_id] = row
    if row["status"] != "ok" and point.point_id in counted:
        counts["ok"] -= 1
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    if _wants_another(row, spec):
        held.add(point.point_id)
    else:
        write(row)
        held.discard(point.point_id)
    return measured


def _one_more(point: Point, spec: SweepSpec, workers: list[Worker], run_id: str, first: int,
              earlier: dict | None, latency_only: bool = False) -> tuple[dict, float]:
    """``earlier`` (the point's row so far, or None) with one more instance, and the
    seconds inside that instance's timed samples (none if it failed: its row is the
    point's then)."""
    taken = earlier["instances"] if earlier else 0
    row = measure_instances(point, spec, workers, run_id, first=first, earlier=earlier,
                            upto=taken + 1, latency_only=latency_only)
    if row["status"] != "ok":
        return row, 0.0
    return row, (row.get("measured_s") or 0.0) - ((earlier or {}).get("measured_s") or 0.0)


def _bases(point: Point, curves: dict[tuple, Curve], held: set[str],
           index: dict[str, int]) -> list[tuple[int, Point]]:
    """(grid index, point) of each point ``point``'s prediction rests on while it still
    wants instances (in ``held``): the last measured point of its curve, which the
    prediction extrapolates, and both ends of the step of each sibling curve whose slope
    it may take (_sibling_steps)."""
    last, steps = _sibling_steps(curves, point)
    if last is None:
        return []
    wanted = [dataclasses.replace(point, seq_len=last)]
    for series, _ in steps:
        # a sibling differs in batch size and threads only (_sibling_key, Point.series)
        wanted += [dataclasses.replace(point, batch_size=series[1], threads=series[4],
                                       seq_len=n) for n in (last, point.seq_len)]
    return [(index[p.point_id], p) for p in wanted if p.point_id in held and p.point_id in index]


def remeasure(spec: SweepSpec, rows: list[dict], workers: list[Worker],
              write: Callable[[dict], None], run_id: str,
              on_start: Callable[[Point], None] = lambda p: None,
              on_done: Callable[[dict], None] = lambda r: None,
              on_phase: Callable[[str], None] = lambda text: None) -> tuple[int, float]:
    """The second pass: measure again the points quality.remeasure_plan names, in fresh
    worker processes, while ``[budget].remeasure_seconds`` lasts (their start-up
    included). Each new row is appended with ``attempt`` one higher; it supersedes the
    old row by point_id, and for POOLED_REASONS holds the instances of both attempts,
    as it does for any reason where its floor came out slower than the old one: a
    second attempt never passes a slower floor off as the point's (the old row's flag
    stays with it).

    The points that fit the pass (by their first-pass wall time) get their instances in
    rounds (_rounds), as the first pass completes its points; no instance starts once
    the pass's time is up, and a point left with one new instance keeps its old row.

    A new attempt that fails (crash, timeout, OOM, error) does not undo the first: the
    point keeps the old row's numbers, appended with the failure in
    ``remeasure_error``.

    Only latency is measured again: memory, operators and kernels come from the first
    pass's profiled pass (instances.with_profile). So the fresh processes skip
    torch.profiler's start-up, and there are only ``[timing].instances`` of them (at
    least 2): the pool's other processes stay closed.
    Returns (points measured again, seconds inside their timed samples)."""
    limit = spec.budget.remeasure_seconds
    plan = quality.remeasure_plan(rows, spec.timing.instance_rtol)
    if not plan or limit <= 0:
        return 0, 0.0
    on_phase("second pass")
    # the pass's seconds include starting its fresh processes
    t0 = time.perf_counter()
    for worker in workers:  # fresh processes: a slow process must not be measured twice
        worker.close()
    fresh = for_latency_only(workers[:latency_pool_size(spec.timing)],
                             (old for old, _ in plan))
    start_workers(fresh)
    # what fits, by each point's first-pass wall time (its profiled pass included, so
    # an overestimate): the plan's order, skipping a point that would overrun the pass
    chosen, planned = [], time.perf_counter() - t0
    for old, reason in plan:
        cost = old.get("point_wall_s") or 0.0
        if planned + cost <= limit:
            chosen.append((old, reason))
            planned += cost
    new, measured = _rounds(spec, [point_of(old) for old, _ in chosen], fresh, run_id,
                            on_start, deadline=t0 + limit)
    count = 0
    for old, reason in chosen:
        row = new.get(old["point_id"])
        if row is None:
            continue  # the pass ran out of time before two of its instances: old stands
        if row["status"] != "ok":
            # The first attempt measured the point; a crash, hang or OOM of a fresh
            # process is recorded on its row, and its numbers stand.
            row = dict(old, remeasure_error=f"{row['status']}: {row.get('error')}")
        else:
            pooled = reason in POOLED_REASONS or instances.slower_than(
                row, old, spec.timing.instance_rtol)
            if pooled and old.get("instance_medians_s"):
                # Instances that disagreed were clean measurements too: the new record's
                # floor is over both attempts' instances, and a second instance near it
                # may now confirm it. A slower attempt was slowed (a spell over all its
                # instances): the old floor stands, flagged if it was.
                row = instances.pool(old, row)
            else:
                row = instances.with_profile(row, old)
        row["attempt"] = (old.get("attempt") or 1) + 1
        row["remeasure_reason"] = reason
        write(row)
        count += 1
        on_done(row)
    return count, measured


def _rounds(spec: SweepSpec, points: list[Point], workers: list[Worker], run_id: str,
            on_start: Callable[[Point], None], deadline: float
            ) -> tuple[dict[str, dict], float]:
    """Latency-only instances of ``points`` in rounds, as the first pass completes its
    points: one instance of every point that wants another (_wants_another), then the
    next, and at most one per process of ``workers``. Instances taken back to back
    fell in one slow spell of the host together (docs/measurement.md); a round apart,
    a spell falls on one of them. No instance starts after ``deadline`` (perf_counter
    seconds). Returns ({point_id: new row}, the seconds inside their timed samples); a
    point left with fewer than two new instances (or ``[timing].instances`` if fewer)
    is left out; a failed instance's row is its point's."""
    rows: dict[str, dict] = {}
    wanting = list(enumerate(points))
    measured = 0.0
    while wanting:
        for k, point in list(wanting):
            if time.perf_counter() > deadline:
                wanting = []
                break
            on_start(point)
            row, seconds = _one_more(point, spec, workers, run_id, k,
                                     rows.get(point.point_id), latency_only=True)
            measured += seconds
            rows[point.point_id] = row
            # one new instance per fresh process: a process's second would not be a draw
            if (row["status"] != "ok" or row["instances"] >= len(workers)
                    or not _wants_another(row, spec)):
                wanting.remove((k, point))
    needed = max(1, min(spec.timing.instances, ALWAYS_TAKEN))
    return {pid: row for pid, row in rows.items()
            if row["status"] != "ok" or row["instances"] >= needed}, measured


def measure_peaks(spec: SweepSpec, worker: Worker, known: list[dict]) -> list[dict]:
    """Peak matmul FLOP/s per (device, dtype, threads) of the grid, measured once each
    (``known``: already measured, e.g. before a resume). Returns ``known`` followed by
    the references measured now (run_job counts those as this session's measurement)."""
    have = {(p["device"], p["dtype"], p["threads"]) for p in known}
    peaks = list(known)
    for device in spec.grid["device"]:
        for dtype in spec.grid["dtype"]:
            # on CUDA the CPU thread count does not change the matmul: measure once
            threads = spec.grid["threads"] if device == "cpu" else spec.grid["threads"][:1]
            for t in threads:
                if (device, dtype, t) in have:
                    continue
                outcome, reply = worker.call({"kind": "peak", "args": {
                    "device": device, "dtype": dtype, "threads": t}}, spec.budget.timeout_seconds)
                if outcome == "ok":
                    peaks.append(reply if "error" not in reply else
                                 {"device": device, "dtype": dtype, "threads": t, **reply})
                else:
                    peaks.append({"device": device, "dtype": dtype, "threads": t,
                                  "error": f"{outcome}: {reply}"})
    return peaks


def planned_traces(spec: SweepSpec, points: list[Point]) -> tuple[set[str], set[str]]:
    """point_ids whose profiled pass exports their trace: (the trace targets if every
    point comes out ok, spares). A spare is the point below the largest n of a target
    curve: the largest is the one the budget skips (a batch-8 Transformer at n = 4096
    on a CPU), and the spare is then the target, traced already; otherwise its file is
    written and left out of the index. Needs a one-step trace ([profile].active = 1;
    that pass comes after the samples, so the step is warm). A target that only shows
    after the sweep (two largest n skipped) is traced by run_traces, separately."""
    if spec.profile.active != 1:
        return set(), set()
    ends = trace_targets(spec, [result_row(p, status="ok") for p in points])
    spares = set()
    for series in {t.series for t in ends}:
        curve = sorted((p for p in points if p.series == series), key=lambda p: p.seq_len)
        if len(curve) >= 3:
            spares.add(curve[-2].point_id)
    return {t.point_id for t in ends}, spares


def trace_index_row(point: Point, row: dict) -> dict:
    """The trace index row (traces/index.jsonl) of a trace taken in ``row``'s profiled
    pass; the same fields as run_traces writes."""
    return {**asdict(point), "point_id": point.point_id, "file": row["trace_file"],
            "active_steps": 1, "ops": row["ops"], "source": "profiled pass"}


def trace_targets(spec: SweepSpec, rows: list[dict]) -> list[Point]:
    """Points to trace: per (model, device, phase), the smallest and largest seq_len that
    ran ok, at the largest batch ("ends"); every ok point ("all"); none ("none")."""
    ok = [point_of(r) for r in rows if r["status"] == "ok"]
    if spec.profile.points == "none":
        return []
    if spec.profile.points == "all":
        return sorted(ok, key=lambda p: (p.tokens, p.seq_len))
    groups: dict[tuple, list[Point]] = {}
    for p in ok:
        groups.setdefault((p.model, p.device, p.phase), []).append(p)
    targets = []
    for points in groups.values():
        batch = max(p.batch_size for p in points)
        first = [p for p in points if p.batch_size == batch and p.dtype == points[0].dtype
                 and p.threads == points[0].threads and p.attention == points[0].attention]
        first.sort(key=lambda p: p.seq_len)
        targets += [first[0]] + ([first[-1]] if len(first) > 1 else [])
    return sorted(targets, key=lambda p: (p.tokens, p.seq_len))


def run_traces(spec: SweepSpec, targets: list[Point], worker: Worker, traces_dir,
               done_ids: set[str], write: Callable[[dict], None],
               on_start: Callable[[Point], None] = lambda p: None) -> int:
    """Trace each target not yet traced; one index row per trace goes to ``write``."""
    count = 0
    for point in targets:
        if point.point_id in done_ids:
            continue
        on_start(point)
        path = str(traces_dir / f"{point.slug()}.json")
        p = spec.profile
        outcome, reply = worker.call({
            "kind": "trace", "point": asdict(point),
            "model_section": spec.models.get(point.model, {}),
            "args": {"path": path, "wait": p.wait, "warmup": p.warmup, "active": p.active}},
            spec.budget.timeout_seconds)
        if outcome != "ok":
            reply = {"error": f"{outcome}: {reply}"}
        write({**asdict(point), "point_id": point.point_id, **reply})
        count += 1
    return count


def _learn(curves: dict[tuple, Curve], row: dict) -> None:
    """Update the curve of ``row``: its latency (in place of an earlier one at its
    seq_len), or that larger points must not run."""
    point = point_of(row)
    curve = curves.setdefault(point.series, Curve())
    curve.measured = [m for m in curve.measured if m[0] != point.seq_len]
    status = row["status"]
    # the floor (the fastest sample) predicts best: a burst of load elsewhere on the
    # machine inflates the median of a noisy point and would skip the rest of its curve
    latency = row.get("latency_s")
    if status == "ok" and latency:
        curve.measured.append((point.seq_len, latency))
    elif status in ("oom", "timeout", "crashed") and not curve.stopped_by:
        curve.stopped_by = f"{status} at seq_len={point.seq_len}"
    elif status == "skipped" and not curve.stopped_by and "budget" in (row.get("error") or ""):
        curve.stopped_by = f"over the point budget from seq_len={point.seq_len}"
