"""A sweep on this machine: which spec, which run directory, then one measuring job
(run/job.py) for every point of the grid, in this process.

    choose_spec -> choose_run_dir -> run_sweep        (profiler.sweep() composes them;
                                                       --executor submitit: distributed.py)
Nothing here prints or renders: the API renders the report, the CLI the summary.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path

from profiler.errors import UsageError
from profiler.run import grid, job, store
from profiler.run import spec as specs
from profiler.run.runner import RunSummary

SpecLike = str | Path | specs.SweepSpec


def _asked_spec(spec_or_preset: SpecLike) -> specs.SweepSpec:
    if isinstance(spec_or_preset, specs.SweepSpec):
        return spec_or_preset
    return specs.load_spec(str(spec_or_preset))


def choose_spec(spec_or_preset: SpecLike | None = None, out: str | Path | None = None,
                resume: bool = False, grid_overrides: dict | None = None,
                profile: str | None = None,
                resolve=specs.resolve_devices) -> specs.SweepSpec:
    """The spec to run: ``spec_or_preset`` (a preset name, a TOML path or a SweepSpec;
    None: preset 'default') with ``grid_overrides`` (axis -> values) and ``profile``
    ([profile].points) applied. On resume, the run's own sweep.toml: a spec or
    overrides given too must come out the same. ``resolve`` checks the devices (for
    --executor submitit: as a job will see them); every model is built once on the
    meta device. UsageError (nothing written) for any problem."""
    def asked(base: specs.SweepSpec) -> specs.SweepSpec:
        if grid_overrides:
            base = specs.with_grid(base, grid_overrides)
        if profile:
            base = specs.with_profile(base, profile)
        return base

    if resume:
        saved = Path(out) / store.SWEEP_FILE if out is not None else None
        if saved is None:
            raise UsageError("--resume needs --out RUN_DIR (the run to continue)")
        if not saved.is_file():
            raise UsageError(f"{out}: nothing to resume (no {store.SWEEP_FILE})")
        spec = specs.load_spec(str(saved))
        if spec_or_preset is not None or grid_overrides or profile:
            wanted = resolve(asked(_asked_spec(spec_or_preset) if spec_or_preset is not None
                                   else spec))
            if specs.to_toml(wanted) != specs.to_toml(spec):
                what = spec_or_preset if spec_or_preset is not None else "the overrides"
                raise UsageError(f"{what}: differs from the spec of the run in {saved}; "
                                 "resume without a spec to continue that run")
    else:
        spec = asked(_asked_spec("default" if spec_or_preset is None else spec_or_preset))
    if grid_overrides and "device" in grid_overrides and not resume:
        # the devices came from --device: one that is not here is the flag's error
        spec = dataclasses.replace(resolve(dataclasses.replace(spec, source="--device")),
                                   source=spec.source)
    else:
        spec = resolve(spec)
    specs.check_models(spec)  # every model builds (on the meta device) before any point runs
    return spec


def choose_run_dir(out: str | Path | None, spec: specs.SweepSpec, resume: bool = False) -> Path:
    """``out``, checked (a directory can be made there; without resume it holds no
    results yet), or reports/<name>-<timestamp>."""
    if out is not None:
        run_dir = Path(out)
        store.check_new_dir("--out", run_dir)
        if not resume and (run_dir / store.RESULTS_FILE).exists():
            raise UsageError(f"--out {run_dir}: already holds results; pass --resume to "
                             "continue that run, or choose another directory")
        return run_dir
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("reports") / f"{spec.name}-{stamp}"


def run_sweep(spec: specs.SweepSpec, run_dir: Path, resume: bool = False,
              progress: bool = True) -> RunSummary:
    """Measure the grid of ``spec`` into ``run_dir`` (locked while it runs): one
    measuring job for all points, in this process."""
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    points = grid.expand(spec)
    with store.RunStore(run_dir) as out:
        done_rows = out.rows() if resume else []
        if resume and (run_dir / "shards").is_dir():
            from profiler.run.shards import reconcile  # a distributed run: fold in its shard files

            done_rows = reconcile(run_dir, out)
        store.write_text(run_dir / store.SWEEP_FILE, specs.to_toml(spec))
        from profiler.measure.envinfo import collect_env
        from profiler.measure.worker import timing_environment

        store.save_env(run_dir, collect_env(timing_environment(spec.timing)), resume)
        done_ids = {r["point_id"] for r in done_rows}
        bar = None
        if progress:
            from profiler.run.progress import SweepProgress

            todo = sum(p.point_id not in done_ids for p in points)
            bar = SweepProgress(total=todo, title=f"sweep {spec.name}").__enter__()
        try:
            summary = job.run_job(spec, points, done_rows, out, run_dir.name,
                                  known_peaks=store.load_peaks(run_dir),
                                  traced={t["point_id"] for t in store.load_traces(run_dir)},
                                  display=bar)
        finally:
            if bar:
                bar.__exit__(None, None, None)
        store.write_csv(run_dir, out.rows())
    # efficiency is judged against the whole sweep, reference and traces included
    summary.wall_s = time.perf_counter() - t0
    return summary
