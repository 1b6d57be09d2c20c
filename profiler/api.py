"""The public Python API: run a sweep, open a run directory, compare two runs.

A facade over the layers, as HTA's ``TraceAnalysis`` is over its analyzers: run/
measures, analyze/ computes, report/ renders, and a user learns four names::

    import profiler

    run = profiler.sweep("smoke", out="reports/demo", model=["lstm"], seq_len=[16, 32])
    run.records          # DataFrame: the record per point (latency_s, tokens_per_s, ...)
    run.fits             # DataFrame: latency ∝ n^k per curve, with a 95% interval
    run.report()         # report.html, report.md and figures/ in run.dir

    base = profiler.load("reports/baseline")
    result = profiler.compare(base, run)       # or run.compare(base)
    result.regressed, result.summary           # True/False, '1 regressed, 3 unchanged'

``python -m profiler`` is a thin layer over these functions. Bad input is a
``UsageError`` (one line naming the file, key or value), raised before anything is
written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from profiler.analyze import compare as comparing
from profiler.analyze import tables
from profiler.analyze.compare import Comparison
from profiler.errors import UsageError
from profiler.run import spec as specs
from profiler.run import store
from profiler.run import sweep as sweeping
from profiler.run.runner import RunSummary
from profiler.run.spec import SweepSpec

__all__ = ["Run", "RunComparison", "compare", "load", "sweep"]

# 10%: medians of separate processes of one point spread by about +-3% on an idle
# machine; at 5% a 30-point sweep of unchanged code was flagged about once in eight
# compares, at 10% about never, and a 20% slowdown is still caught (docs/regressions.md).
DEFAULT_THRESHOLD = 0.10


class Run:
    """A run directory, read when asked: a run still being written shows its latest state.

    ``dir``      the run directory (RUN_DIR)
    ``summary``  what this session's sweep did (RunSummary: counts, interrupted, ...);
                 None for a run opened with ``load``
    ``report_paths``  the report files ``sweep(report=True)`` wrote, else []

    >>> run = profiler.load("tests/data/run_small")                  # doctest: +SKIP
    >>> run.records.groupby("model")["latency_s"].median()           # doctest: +SKIP
    """

    def __init__(self, run_dir: str | Path, summary: RunSummary | None = None,
                 spec: SweepSpec | None = None):
        self.dir = Path(run_dir)
        self.summary = summary
        self.report_paths: list[Path] = []
        self._spec = spec  # the spec a sweep() ran, before it is read back

    def __repr__(self) -> str:
        return f"Run({str(self.dir)!r})"

    @property
    def spec(self) -> SweepSpec:
        """The spec that ran (RUN_DIR/sweep.toml, parsed and validated)."""
        if self._spec is None:
            self._spec = specs.load_spec(str(self.dir / store.SWEEP_FILE))
        return self._spec

    @property
    def rows(self) -> list[dict]:
        """The record of every point as plain dicts: the last line per point_id."""
        return store.load_results(self.dir)

    @property
    def history(self) -> list[dict]:
        """Every line of results.jsonl, in order: a point measured again (second pass,
        resume) has a line per attempt."""
        return store.load_history(self.dir)

    @property
    def records(self) -> pd.DataFrame:
        """The record per point as a DataFrame (every RESULT_FIELD; a failed point's
        latency is NaN). Columns: model, family, seq_len, batch_size, phase, status,
        latency_s, latency_samples_s, tokens_per_s, peak_memory_bytes, flops, ..."""
        return tables.records_frame(self.rows)

    @property
    def env(self) -> dict:
        """RUN_DIR/env.json: host, torch/CUDA versions, devices, git commit ({} if absent)."""
        return store.load_env(self.dir)

    @property
    def fits(self) -> pd.DataFrame:
        """The fitted latency exponents: latency ∝ n^k per curve (model, device, batch,
        phase, dtype, threads, attention) with its 95% interval (k_low, k_high) and the
        asymptotic exponent over the upper range (k_upper). Contended points are left out."""
        return tables.exponents(self.records)

    def report(self, formats: Sequence[str] = ("html", "md"),
               train_dir: str | Path | None = None) -> list[Path]:
        """Render RUN_DIR/report.html, report.md and figures/ from the records (nothing is
        measured); the paths written. ``train_dir``: a ``profiler train`` output whose
        claims join the report (default: RUN_DIR/train/ when present)."""
        from profiler.report import render_report  # matplotlib: only when a report is made

        return render_report(self.dir, tuple(formats), train_dir)

    def compare(self, base: Run | str | Path, threshold: float | str = DEFAULT_THRESHOLD,
                allow_spec_change: bool = False, confirm: bool = False) -> RunComparison:
        """This run against a baseline: ``profiler.compare(base, self, ...)``."""
        return compare(base, self, threshold, allow_spec_change, confirm)


def load(run_dir: str | Path) -> Run:
    """Open a run directory written by ``sweep`` (or ``python -m profiler sweep``).

    >>> run = profiler.load("reports/default-20260101-120000")       # doctest: +SKIP
    >>> run.fits[["model", "phase", "k", "k_low", "k_high"]]         # doctest: +SKIP

    UsageError when ``run_dir`` does not exist or holds no results.jsonl. A partial
    run (interrupted, or still being written) is a run."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    if not (path / store.RESULTS_FILE).is_file():
        raise UsageError(f"{run_dir}: not a run directory (no {store.RESULTS_FILE})")
    return Run(path)


def _option_pairs(options: Mapping[str, object] | Sequence[str] | None) -> list[str]:
    """executor_options as the command line's KEY=VALUE strings."""
    if options is None:
        return []
    if isinstance(options, Mapping):
        return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in options.items()]
    return [str(o) for o in options]


def sweep(spec_or_preset: str | Path | SweepSpec | None = None, out: str | Path | None = None,
          *, resume: bool = False, progress: bool = False, report: bool = True,
          profile: str | None = None, executor: str = "local",
          executor_options: Mapping[str, object] | Sequence[str] | None = None,
          **overrides) -> Run:
    """Measure a sweep and return its Run.

    ``spec_or_preset``: a preset name ("smoke", "default", ...; see sweeps/), a path to
    a sweep TOML file, or a SweepSpec; None: "default", or on ``resume`` the run's own
    sweep.toml. ``out``: the run directory (None: reports/<name>-<timestamp>).
    ``overrides``: grid axes by name, each replacing that axis, validated as in a
    sweep file: ``seq_len=[64, 128]``, ``model=["lstm"]``, ``threads=[1]``,
    ``device=["cuda"]``. ``profile``: which points get a trace ("ends", "all", "none").
    ``executor="submitit"`` with ``executor_options={"cluster": "local", "shards": 2}``
    runs the points as submitit jobs (README: Slurm). ``report``: render the report
    at the end (when a point came out ok and the sweep was not interrupted).

    >>> run = profiler.sweep("smoke", out="reports/demo", model=["lstm"],
    ...                      phase=["inference"], seq_len=[16, 32])   # doctest: +SKIP
    >>> run.summary.counts                                           # doctest: +SKIP
    {'ok': 2}

    Bad input (unknown preset or axis, a value out of range, a model that cannot be
    built, an ``out`` holding results without ``resume``) is a UsageError before
    anything is written. A failing point is data (its ``status``), not an exception;
    Ctrl-C stops the sweep with ``run.summary.interrupted`` set and ``resume=True``
    continues it."""
    opts = None
    resolve = specs.resolve_devices
    if executor != "local" or executor_options:
        from profiler.run import distributed

        # no submitit: UsageError before any work
        opts = distributed.executor_options(executor, _option_pairs(executor_options))
        resolve = lambda s: distributed.resolve_devices(s, opts)  # noqa: E731
    spec = sweeping.choose_spec(spec_or_preset, out, resume, overrides, profile, resolve)
    if opts is not None:
        distributed.check_executor(opts, spec)
    run_dir = sweeping.choose_run_dir(out, spec, resume)
    if opts is not None:
        summary = distributed.run_sweep_distributed(spec, run_dir, opts, resume=resume,
                                                    progress=progress)
    else:
        summary = sweeping.run_sweep(spec, run_dir, resume=resume, progress=progress)
    run = Run(run_dir, summary, spec)
    if report and not summary.interrupted and \
            (run_dir / store.RESULTS_FILE).exists() and \
            any(r["status"] == "ok" for r in run.rows):
        run.report_paths = run.report()
    return run


@dataclass(frozen=True)
class RunComparison:
    """Two runs point by point (analyze/compare.py has the rule).

    ``rows``: one Comparison per point (verdict regressed / improved / unchanged /
    inconclusive / not-comparable / only-in-base / only-in-new, ratio new/base and the
    instance range); ``warnings``: differences that make timings incomparable (machine,
    torch, spec keys when allowed); ``info``: differences by design (git commit);
    ``notes``: what the comparison did besides comparing (--confirm's measurements)."""

    base: Path
    new: Path
    threshold: float
    rows: tuple[Comparison, ...]
    warnings: tuple[str, ...] = ()
    info: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def regressed(self) -> bool:
        """Did any point get slower beyond the noise of its instances and the threshold?"""
        return any(c.verdict == "regressed" for c in self.rows)

    @property
    def summary(self) -> str:
        """'2 regressed, 10 unchanged, 1 only-in-new'."""
        return comparing.summary(list(self.rows))

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame, one column per Comparison field."""
        return pd.DataFrame([c.__dict__ for c in self.rows])


def _threshold(value: float | str) -> float:
    if isinstance(value, str):
        return comparing.parse_threshold(value)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not (math.isfinite(value) and 0 <= value < 10):
        raise UsageError(f"threshold {value!r}: expected a fraction from 0 to 10 "
                         "(0.1 is 10%), or a string like '10%'")
    return float(value)


def _dir_of(run: Run | str | Path) -> Path:
    return run.dir if isinstance(run, Run) else Path(run)


def compare(base: Run | str | Path, new: Run | str | Path,
            threshold: float | str = DEFAULT_THRESHOLD,
            allow_spec_change: bool = False, confirm: bool = False,
            on_start: Callable[[dict], None] = lambda r: None) -> RunComparison:
    """Did ``new`` get slower than ``base``? Point by point, from independent instances.

    A point *regressed* when every new instance is slower than every base instance by
    more than ``threshold`` (0.10 or "10%"). Runs whose sweep.toml differ in
    [models], [timing] or [budget] are refused (UsageError naming every key) unless
    ``allow_spec_change``; then the differences are warnings.

    ``confirm``: measure the regressed points of ``new`` again on this machine, in fresh
    processes, and judge again (run/confirm.py); the new rows are appended to ``new``.
    ``on_start(row)`` as each of those measurements starts.

    >>> result = profiler.compare("reports/base", "reports/new")      # doctest: +SKIP
    >>> result.regressed, result.summary                              # doctest: +SKIP
    (False, '12 unchanged')
    """
    t = _threshold(threshold)
    base_dir, new_dir = _dir_of(base), _dir_of(new)
    base_rows, new_rows = comparing.load_run(base_dir), comparing.load_run(new_dir)
    spec_diffs, spec_warnings = comparing.spec_differences(base_dir, new_dir)
    if spec_diffs and not allow_spec_change:
        raise UsageError(f"the runs were measured with different specs: {'; '.join(spec_diffs)}"
                         " (pass --allow-spec-change to compare them anyway)")
    # the budget of the new run (a different one is refused above, or allowed by the user)
    budget = comparing.point_budget(new_dir)
    rows = comparing.compare_runs(base_rows, new_rows, t, budget)
    asked, measured = set(), 0  # --confirm: points measured again, rows they gave
    while confirm:
        # Judged again, the runs' drift may come out narrower (a confirmed point no
        # longer widens it) and call another point regressed: it is measured too, so
        # every point left regressed was measured again. Each point at most once.
        todo = [c.key for c in rows if c.verdict == "regressed" and c.key not in asked]
        if not todo:
            break
        from profiler.run.confirm import confirm_points  # measuring: torch, workers

        asked.update(todo)
        measured += len(confirm_points(new_dir, todo, on_start=on_start))
        new_rows = comparing.load_run(new_dir)
        rows = comparing.compare_runs(base_rows, new_rows, t, budget)
    warnings, info = comparing.env_differences(base_dir, new_dir, base_rows, new_rows)
    notes = []
    regressed = sum(c.verdict == "regressed" for c in rows)
    if confirm:
        notes.append(f"--confirm measured {measured} of {len(asked)} regressed points of NEW "
                     "again (their instances pooled with the earlier ones); "
                     f"{regressed} still regressed")
    elif regressed:
        notes.append(comparing.unconfirmed_note(regressed, base_rows, new_rows))
    warnings = [f"sweep.toml {d}" for d in spec_diffs] + spec_warnings + warnings
    return RunComparison(base=base_dir, new=new_dir, threshold=t, rows=tuple(rows),
                         warnings=tuple(warnings), info=tuple(info), notes=tuple(notes))
