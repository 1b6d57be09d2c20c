"""Measure again, in the run that made them, the points a comparison called regressed.

Two runs of unchanged code on a shared machine disagree at a point now and then by
15-50%, with both instances of one side slow: a worker process keeps a speed of its
own for its life, and the host has slow spells that no counter in the guest shows
(docs/measurement.md). Over 42 ordered pairs of seven idle `default` runs of this
code, `compare` called 12 such points regressed. A slower code path slows every new
instance; a slow process or spell does not repeat on demand. So `compare --confirm`
takes ``[timing].instances`` more instances of each regressed point of NEW, in fresh
processes, one round over the points at a time (a spell lasts seconds), and pools
them with the point's earlier instances. The floor, the fastest of them, can only
come down; the comparison is then made again.

The new rows are appended to NEW's results.jsonl (attempt + 1, remeasure_reason
"confirm"), so the run directory keeps every measurement and readers take the last.
Only latency is measured: memory, operators and kernels stay the first pass's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from profiler.errors import UsageError
from profiler.measure import instances
from profiler.measure.worker import Worker
from profiler.records import point_of
from profiler.run import runner, store
from profiler.run.spec import SweepSpec, load_spec

REASON = "confirm"


def run_spec(run_dir: Path) -> SweepSpec:
    """The spec a run was measured with (its sweep.toml); UsageError without one."""
    path = run_dir / store.SWEEP_FILE
    if not path.is_file():
        raise UsageError(f"{run_dir}: no {store.SWEEP_FILE}, so its points cannot be "
                         "measured again (--confirm)")
    return load_spec(str(path))


def measure_again(spec: SweepSpec, rows: list[dict], workers: list[Worker],
                  on_start: Callable[[dict], None] = lambda r: None) -> list[dict]:
    """Each ok row of ``rows`` with ``[timing].instances`` more instances, taken in
    rounds (one instance of every row, then the next), pooled with its own
    (instances.combine). A row whose new instance fails keeps what it had: the failure
    is not the comparison's question."""
    latest = {r["point_id"]: r for r in rows if r.get("status") == "ok"}
    attempt = {pid: (r.get("attempt") or 1) + 1 for pid, r in latest.items()}
    for round_index in range(max(1, spec.timing.instances)):
        for k, (pid, row) in enumerate(list(latest.items())):
            on_start(row)
            new = runner.measure_instances(point_of(row), spec, workers, row["run_id"],
                                           first=round_index + k, upto=1, latency_only=True)
            if new["status"] != "ok":
                del latest[pid]  # its earlier record stands; nothing new to append
                continue
            latest[pid] = instances.pool(row, new)
    return [dict(row, attempt=attempt[pid], remeasure_reason=REASON)
            for pid, row in latest.items()]


def confirm_points(run_dir: str | Path, point_ids: list[str],
                   workers: list[Worker] | None = None,
                   on_start: Callable[[dict], None] = lambda r: None) -> list[dict]:
    """Measure ``point_ids`` of the run in ``run_dir`` again (measure_again) and append
    the new rows to its results.jsonl (and results.csv). Returns the new rows.
    ``workers``: the measuring processes (None: fresh ones, closed at the end)."""
    run_dir = Path(run_dir)
    spec = run_spec(run_dir)
    wanted = set(point_ids)
    with store.RunStore(run_dir) as out:
        rows = [r for r in out.rows() if r.get("point_id") in wanted]
        own = workers is None
        if own:
            workers = runner.for_latency_only(
                runner.make_workers(processes=runner.latency_pool_size(spec.timing),
                                    timing=spec.timing,
                                    fork=runner.forkable(point_of(r) for r in rows)), rows)
            runner.start_workers(workers)
        try:
            new_rows = measure_again(spec, rows, workers, on_start)
        finally:
            if own:
                for worker in workers:
                    worker.close()
        for row in new_rows:
            out.append(row)
        store.write_csv(run_dir, out.rows())
    return new_rows
