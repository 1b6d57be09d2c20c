"""One measuring job: the reference, the points, the second pass and the traces of a
set of points, into one sink. The sequence exists only here.

    local sweep (sweep.py)      one job for every point of the grid, in this process,
                                into the run directory itself (store.RunStore)
    shard job (shards.py)       one job per shard, on a cluster node or a local process,
                                into the shard's own files (shards.ShardSink)

Both see the same order: peaks (matmul FLOP/s reference, once per device, dtype and
threads) -> one instance of every point, small to large, with budgets and pruning ->
the rest of each point's instances (runner.complete) -> second pass (runner.remeasure)
-> one untimed traced pass per trace target not traced yet (the planned targets, and
the point below each largest n, export their trace from the profiled pass of their
first instance: runner.planned_traces).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from profiler.records import Point
from profiler.run import runner
from profiler.run.runner import RunSummary
from profiler.run.spec import SweepSpec


class Sink(Protocol):
    """Where a job's results go (every write through run/store.py)."""

    @property
    def log_path(self) -> Path: ...  # the measuring processes' stdout/stderr

    @property
    def traces_dir(self) -> Path: ...  # traces/<point slug>.json

    def append(self, row: dict) -> None: ...  # one record, first or later attempt

    def rows(self) -> list[dict]: ...  # the record per point so far (trace targets)

    def write_peaks(self, peaks: list[dict]) -> None: ...  # known + newly measured

    def append_trace(self, row: dict) -> None: ...  # one trace index row


class Display(Protocol):
    """What a job tells a progress display (run/progress.SweepProgress)."""

    def start(self, point: Point) -> None: ...

    def done(self, row: dict) -> None: ...

    def note(self, text: str) -> None: ...

    def phase(self, text: str) -> None: ...  # after the first pass: what runs now


def restrict(spec: SweepSpec, points: Iterable[Point]) -> SweepSpec:
    """The spec with its device/dtype/threads axes cut to what ``points`` use, in the
    grid's order: the reference a job measures is the one its points need."""
    points = list(points)
    axes = {a: tuple(v for v in spec.grid[a] if any(getattr(p, a) == v for p in points))
            for a in ("device", "dtype", "threads")}
    return dataclasses.replace(spec, grid=dict(spec.grid, **axes))


def run_job(spec: SweepSpec, points: list[Point], done_rows: list[dict], sink: Sink,
            run_id: str, known_peaks: list[dict], traced: set[str],
            display: Display | None = None) -> RunSummary:
    """Measure ``points`` into ``sink``: reference, points (those not in ``done_rows``,
    which also tell pruning what earlier sessions learnt), second pass, traces (targets
    among ``points`` not in ``traced``). Ctrl-C at any step is an interrupted summary,
    not an exception: what was written stays valid and --resume continues it."""
    done_ids = {r["point_id"] for r in done_rows}
    todo = sum(p.point_id not in done_ids for p in points)
    workers = runner.make_workers(log_path=str(sink.log_path),
                                  processes=runner.pool_size(spec.timing), timing=spec.timing,
                                  fork=runner.forkable(points))
    worker = workers[0]  # the reference and the traces need one process
    note = display.note if display else (lambda text: None)
    summary = None
    try:
        note("starting the measuring processes")
        runner.start_workers(workers)
        note("measuring the matmul FLOP/s reference")
        peaks = runner.measure_peaks(restrict(spec, points), worker, known_peaks)
        sink.write_peaks(peaks)
        # the reference's timed samples are measurement too (the roofline's ceiling)
        reference_s = sum(p.get("measured_s") or 0.0 for p in peaks[len(known_peaks):])
        hooks = (dict(on_start=display.start, on_done=display.done, on_phase=display.phase)
                 if display else {})
        ends, spares = runner.planned_traces(spec, points)
        planned = ends | spares
        traced = set(traced)  # a copy: the caller's set stays as it was given
        spare_rows: dict[str, dict] = {}  # indexed once they turn out to be targets

        def trace_to(point: Point) -> str | None:
            if point.point_id in traced or point.point_id not in planned:
                return None
            return str(sink.traces_dir / f"{point.slug()}.json")

        def on_trace(point: Point, row: dict) -> None:
            if point.point_id in ends:
                sink.append_trace(runner.trace_index_row(point, row))
                traced.add(point.point_id)
            else:
                spare_rows[point.point_id] = runner.trace_index_row(point, row)

        summary = runner.run_points(spec, points, done_rows, sink.append, run_id,
                                    workers=workers, trace_to=trace_to, on_trace=on_trace,
                                    **hooks)
        summary.measured_s += reference_s
        if not summary.interrupted and spec.profile.points != "none":
            # Ends are picked among the sink's curves: a group of curves split over
            # shards may get a trace in each.
            ids = {p.point_id for p in points}
            targets = [t for t in runner.trace_targets(spec, sink.rows()) if t.point_id in ids]
            for t in targets:
                if t.point_id in spare_rows:
                    sink.append_trace(spare_rows[t.point_id])
                    traced.add(t.point_id)
            if display and targets:
                display.phase("traces")
            runner.run_traces(spec, targets, worker, sink.traces_dir, traced,
                              sink.append_trace,
                              on_start=lambda p: note(f"tracing {p.label()}"))
    except KeyboardInterrupt:  # before the points, or while tracing after them
        if summary is None:
            summary = RunSummary(not_run=todo)
        summary.interrupted = True
    finally:
        for w in workers:
            w.close()
    return summary
