"""The run directory: the contract between the sweep and everything after it.

    RUN_DIR/sweep.toml     the exact spec that ran
    RUN_DIR/env.json       machine and software (see envinfo.py)
    RUN_DIR/results.jsonl  one JSON object per measured point; append-only, flushed per line
    RUN_DIR/results.csv    the same rows for spreadsheets (raw samples as a JSON list)
    RUN_DIR/traces/  figures/  report.html  report.md

Readers (report, compare) only need ``load_results`` (the record per point); they
must cope with a run that was interrupted (a last line cut short) or is still being
written.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
from pathlib import Path

from profiler.errors import UsageError
from profiler.records import RESULT_FIELDS

SWEEP_FILE = "sweep.toml"
ENV_FILE = "env.json"
RESULTS_FILE = "results.jsonl"
CSV_FILE = "results.csv"
LOCK_FILE = ".lock"
PEAK_FILE = "peak.json"  # matmul FLOP/s reference per (device, dtype, threads)
TRACES_DIR = "traces"  # Chrome/Perfetto traces, one per traced point
TRACE_INDEX = "traces/index.jsonl"  # one row per trace: the point, file, op table


def load_history(run_dir: str | Path) -> list[dict]:
    """Every complete line of RUN_DIR/results.jsonl, in file order: a point measured
    again (the second pass) has a line per attempt. A last line without its newline
    (a sweep killed mid-write) is ignored."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise UsageError(f"{run_dir}: not a run directory (no {RESULTS_FILE})")
    return read_jsonl(path)


def load_results(run_dir: str | Path) -> list[dict]:
    """The record of every point: the last line per point_id, where the point first
    appeared (results.jsonl is append-only; a later attempt supersedes)."""
    return latest(load_history(run_dir))


def latest(rows: list[dict]) -> list[dict]:
    """The last row per point_id, in the order points first appeared: a point measured
    again (second pass, resume) has several lines and the last one is the record."""
    last: dict = {}
    for i, row in enumerate(rows):
        last[row.get("point_id") or i] = row  # rows of older writers have no point_id
    return list(last.values())


def load_traces(run_dir: str | Path) -> list[dict]:
    """Rows of RUN_DIR/traces/index.jsonl ([] when nothing was traced)."""
    path = Path(run_dir) / TRACE_INDEX
    return read_jsonl(path) if path.is_file() else []


def load_peaks(run_dir: str | Path) -> list[dict]:
    """RUN_DIR/peak.json ([] when absent)."""
    return read_json(Path(run_dir) / PEAK_FILE, [])


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``path`` whole or not at all: a temporary file beside it, fsync, rename.

    A reader (a browser on report.html, `report` on env.json, a resumed sweep)
    sees the old file or the new one, never half of one, even if the process is
    killed mid-write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """``write_bytes`` for UTF-8 text."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, data) -> Path:
    """``write_text`` of indented JSON."""
    return write_text(path, json.dumps(data, indent=2) + "\n")


def append_jsonl(path: Path, row: dict) -> None:
    """Append one JSON line and make it durable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict]:
    """Complete JSON lines of ``path``; a last line cut short by a kill is ignored."""
    rows = []
    with open(path, encoding="utf-8") as f:
        try:
            lines = list(f)
        except UnicodeDecodeError as e:
            raise UsageError(f"{path}: not UTF-8 text (at byte {e.start})") from None
    for lineno, line in enumerate(lines, 1):
        if not line.endswith("\n"):
            break  # cut short by a kill; resume truncates it
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            raise UsageError(f"{path}:{lineno}: not a JSON record "
                             f"({getattr(e, 'msg', 'nested too deeply')})") from None
        if not isinstance(row, dict):
            raise UsageError(f"{path}:{lineno}: expected a JSON object, got "
                             f"{type(row).__name__}")
        rows.append(row)
    return rows


def read_json(path: Path, default):
    """A JSON file of the run directory, ``default`` when absent; UsageError when broken."""
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise UsageError(f"{path}: not a JSON file ({type(e).__name__})") from None


def load_env(run_dir: str | Path) -> dict:
    """RUN_DIR/env.json, or {} when it is missing."""
    return read_json(Path(run_dir) / ENV_FILE, {})


def write_csv(run_dir: str | Path, rows: list[dict]) -> Path:
    """results.csv: one row per record, lists as JSON text."""
    path = Path(run_dir) / CSV_FILE
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(RESULT_FIELDS), extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v
                        for k, v in row.items()})
    return path


def check_new_dir(flag: str, path: Path) -> None:
    """``path`` is a directory, or one can be made there; UsageError otherwise. Checked
    before anything is written, so a bad --out fails with nothing created."""
    try:
        if path.exists() and not path.is_dir():
            raise UsageError(f"{flag} {path}: exists and is not a directory")
        parent = path
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise UsageError(f"{flag} {path}: {parent} is not a directory")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"{flag} {path}: {parent} is not writable")
    except OSError as e:  # e.g. a name too long for the file system
        raise UsageError(f"{flag} {path}: {e.strerror}") from None


class RunStore:
    """Writer side of a run directory: exclusive lock, append-only results."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self._lock = None
        self._results = None

    def open(self) -> RunStore:
        """Create the directory, take the lock (or refuse), repair a cut last line."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"{self.dir}: cannot create the run directory ({e.strerror})") \
                from None
        self._lock = open(self.dir / LOCK_FILE, "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "?"
            self._lock.close()
            self._lock = None
            raise UsageError(f"{self.dir}: another sweep (pid {holder}) is writing this "
                             "run directory; wait for it or choose another --out") from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        self._truncate_partial_line()
        self._results = open(self.dir / RESULTS_FILE, "a", encoding="utf-8")
        return self

    def _truncate_partial_line(self) -> None:
        path = self.dir / RESULTS_FILE
        if not path.exists():
            return
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def append(self, row: dict) -> None:
        """Write one record as one line and make it durable before going on."""
        self._results.write(json.dumps(row, separators=(",", ":")) + "\n")
        self._results.flush()
        os.fsync(self._results.fileno())

    def rewrite(self, rows: list[dict]) -> None:
        """Replace results.jsonl with ``rows``, atomically, under the lock: the one
        non-append write (a resume dropping rows that stood in for lost points)."""
        path = self.dir / RESULTS_FILE
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
            f.flush()
            os.fsync(f.fileno())
        self._results.close()
        os.replace(tmp, path)
        self._results = open(path, "a", encoding="utf-8")

    def close(self) -> None:
        if self._results:
            self._results.close()
            self._results = None
        if self._lock:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __enter__(self) -> RunStore:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
