"""What every report topic reads: the run directory, loaded once, and the analysis
tables that more than one topic quotes, computed once on first use.

A topic module (scaling.py, memory.py, ...) takes a ReportInputs and reads its
attributes; a table only one topic needs is computed in that topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from profiler.analyze import operators as O
from profiler.analyze import tables as A
from profiler.errors import UsageError
from profiler.records import PHASES
from profiler.run.spec import parse_spec
from profiler.run.store import SWEEP_FILE, load_env, load_peaks, load_results, load_traces
from profiler.train.rundir import TRAIN_FILE, TrainRun, load_run

TRAIN_DIR = "train"  # RUN_DIR/train/ joins the report without --train


class ComparisonRow(NamedTuple):
    """A row a topic adds to the LSTM-vs-Transformer table: its name, a frame with a row
    per curve (model, attention, family columns) and the cell text of such a row."""

    name: str
    frame: pd.DataFrame
    cell: Callable[[pd.Series], str]


@dataclass(eq=False)
class ReportInputs:
    """A run directory as the report reads it. Nothing here is measured again."""

    run_dir: Path
    records: pd.DataFrame  # the last record per point (analyze.tables.records_frame)
    grid: dict[str, list]  # sweep.toml's [grid], every axis a list ({} without a spec)
    spec_text: str  # sweep.toml as it ran ("" when absent)
    spec_note: str  # why sweep.toml could not be read as a sweep ("" when it could)
    env: dict  # env.json ({} when absent)
    peaks: list[dict]  # peak.json: matmul FLOP/s and copy bandwidth per device/dtype/threads
    traces: list[dict]  # traces/index.jsonl: one row per traced point
    train: TrainRun | None = None  # a `profiler train` run whose claims join the report
    train_dir: Path | None = None

    @cached_property
    def ok(self) -> pd.DataFrame:
        """The records that ran."""
        return self.records[self.records["status"] == "ok"]

    @cached_property
    def reference(self) -> dict | None:
        """The configuration comparisons are made at (None without records)."""
        return reference(self.records) if len(self.records) else None

    @cached_property
    def exponents(self) -> pd.DataFrame:
        """latency ∝ n^k per curve, whole and upper range of n."""
        return A.exponents(self.records)

    @cached_property
    def memory_exponents(self) -> pd.DataFrame:
        """peak memory ∝ n^k per curve, with a ``curve`` column."""
        mem = A.exponents(self.records, "peak_memory_bytes")
        return mem.assign(curve=A.curve_names(mem)) if not mem.empty else mem

    @cached_property
    def decompositions(self) -> pd.DataFrame:
        """a + b·n + c·n² and the complexity class per curve."""
        return A.decompositions(self.records)

    @cached_property
    def intervals(self) -> pd.DataFrame:
        """The 95% interval of every ok point's latency, from its instances."""
        return A.intervals(self.records)

    @cached_property
    def crossovers(self) -> pd.DataFrame:
        """Where curves of different families cross."""
        return A.crossovers(self.records)

    @cached_property
    def batch_scaling(self) -> pd.DataFrame:
        """Throughput gain over the smallest batch."""
        return A.batch_scaling(self.records)

    @cached_property
    def thread_scaling(self) -> pd.DataFrame:
        """Speedup over the fewest threads."""
        return A.thread_scaling(self.records)

    @cached_property
    def frontiers(self) -> pd.DataFrame:
        """The largest n each curve reached and what happened to the next."""
        seq_lens = self.grid.get("seq_len")
        return A.frontiers(self.records, list(seq_lens) if seq_lens else None)

    @cached_property
    def missing_points(self) -> pd.DataFrame:
        """Grid points with no record."""
        return A.missing_points(self.records, self.grid)

    @cached_property
    def decode(self) -> pd.DataFrame:
        """Per-token latency and state vs context length (the decode phase)."""
        return A.decode_scaling(self.records)

    @cached_property
    def scan(self) -> pd.DataFrame:
        """Scan vs recurrence: every curve at its best thread count at a shared n."""
        return A.scan_comparison(self.records, self.exponents)

    @cached_property
    def op_shares(self) -> pd.DataFrame:
        """Shares of profiled time by operator category."""
        return O.time_shares(self.records)

    @cached_property
    def efficiency(self) -> pd.DataFrame:
        """Achieved FLOP/s against the matmul peak."""
        return O.efficiency(self.records, self.peaks)

    @cached_property
    def roofline(self) -> pd.DataFrame:
        """Arithmetic intensity, roofline bound and class per point."""
        return O.roofline(self.records, self.peaks)


def reference(records: pd.DataFrame) -> dict:
    """The configuration comparisons are made at: first device, inference (or the
    first phase), largest batch, most threads, the most common dtype."""
    ran = records[records["status"] == "ok"]
    ran = ran if len(ran) else records
    device = sorted(ran["device"].unique())[0]
    ran = ran[ran["device"] == device]
    phases = list(ran["phase"].unique())
    order = [p for p in PHASES if p in phases] + sorted(p for p in phases if p not in PHASES)
    phase = "inference" if "inference" in phases else order[0]
    return {"device": device, "phase": phase, "batch_size": int(ran["batch_size"].max()),
            "threads": int(ran["threads"].max()), "dtype": ran["dtype"].mode().iloc[0]}


def read_spec(run_dir: Path) -> tuple[dict[str, list], str, str]:
    """(grid, sweep.toml text, note) of a run directory. The grid comes from the spec
    as the sweep validated it; a sweep.toml that no longer parses (hand-edited, or from
    an older version) leaves the grid empty and says why in the note."""
    path = run_dir / SWEEP_FILE
    if not path.is_file():
        return {}, "", ""
    text = path.read_text(encoding="utf-8", errors="replace")  # shown as text only
    try:
        spec = parse_spec(text, str(path))
    except UsageError as e:
        return {}, text, (f"sweep.toml could not be read as a sweep ({e}), so grid points "
                          "with no record are not listed.")
    return {axis: list(values) for axis, values in spec.grid.items()}, text, ""


def find_train_dir(run_dir: Path, train_dir: str | Path | None) -> Path | None:
    """The train folder to include: the one given, else RUN_DIR/train/ if it holds a run."""
    if train_dir is not None:
        return Path(train_dir)
    candidate = run_dir / TRAIN_DIR
    return candidate if (candidate / TRAIN_FILE).is_file() else None


def load_inputs(run_dir: Path, train_dir: str | Path | None = None) -> ReportInputs:
    """Read a run directory (and a train folder): every read happens here, before the
    report writes anything. No results.jsonl, or one that is not JSON lines, is a
    UsageError; a missing or unreadable env.json, peak.json or traces/ is 'not available'."""
    records = A.records_frame(load_results(run_dir))
    grid, spec_text, spec_note = read_spec(run_dir)
    try:
        env = load_env(run_dir)
    except (json.JSONDecodeError, OSError):
        env = {"note": "env.json could not be read"}
    try:
        peaks = load_peaks(run_dir)
    except (json.JSONDecodeError, OSError):
        peaks = []
    try:
        traces = load_traces(run_dir)
    except (UsageError, OSError):
        traces = []
    train_dir = find_train_dir(run_dir, train_dir)
    train = load_run(train_dir) if train_dir is not None else None  # UsageError without one
    return ReportInputs(run_dir=run_dir, records=records, grid=grid, spec_text=spec_text,
                        spec_note=spec_note,
                        env=env if isinstance(env, dict) else {"env": env},
                        peaks=peaks if isinstance(peaks, list) else [],
                        traces=traces or [], train=train, train_dir=train_dir)
