"""The run directory: the contract between the sweep and everything after it.

    RUN_DIR/sweep.toml     the exact spec that ran
    RUN_DIR/env.json       machine and software (see envinfo.py)
    RUN_DIR/results.jsonl  one JSON object per measured point; append-only, flushed per line
    RUN_DIR/results.csv    the same rows for spreadsheets (raw samples as a JSON list)
    RUN_DIR/peak.json      matmul FLOP/s and bandwidth reference
    RUN_DIR/worker.log     the measuring processes' stdout/stderr
    RUN_DIR/traces/  shards/  figures/  report.html  report.md

Every file of a run directory is written here: whole files atomically (a temporary
file beside it, fsync, rename: ``write_bytes``), JSON-lines files by appending whole
lines, each fsynced. Readers (report, compare) only need ``load_results`` (the
record per point); they must cope with a run that was interrupted (a last line cut
short) or is still being written.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from pathlib import Path
from typing import IO

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
WORKER_LOG = "worker.log"  # the measuring processes' stdout/stderr (torch warnings, crashes)


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


def append_jsonl(path: Path, *rows: dict) -> None:
    """Append one JSON line per row and make them durable. A reader sees whole lines
    only (``read_jsonl`` ignores a last line without its newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
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


def save_env(run_dir: str | Path, env: dict, resume: bool = False) -> Path:
    """RUN_DIR/env.json. On resume the first session's env stays and this session's
    is added under "resumed": the numbers already recorded were taken under the first."""
    path = Path(run_dir) / ENV_FILE
    if resume and path.exists():
        first = read_json(path, {})
        env = dict(first, resumed=[*first.get("resumed", []), env])
    return write_json(path, env)


def write_csv(run_dir: str | Path, rows: list[dict]) -> Path:
    """results.csv: one row per record, lists as JSON text."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(RESULT_FIELDS), extrasaction="ignore")
    w.writeheader()
    for row in rows:
        w.writerow({k: json.dumps(v) if isinstance(v, list | dict) else v
                    for k, v in row.items()})
    return write_text(Path(run_dir) / CSV_FILE, buf.getvalue())


def take_lock(path: str | Path) -> IO:
    """Open ``path`` (made if absent) and take an exclusive lock on it without waiting;
    the lock lasts until the returned file is closed. Where it cannot be had (a file
    system without locks) the file is returned unlocked: the caller's other fences
    (a shard's session number) still hold."""
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass
    return f


def is_locked(path: str | Path) -> bool:
    """Does a process hold the lock on ``path`` (take_lock)? False when it is absent."""
    path = Path(path)
    if not path.exists():
        return False
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


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
    """Writer side of a run directory: exclusive lock, append-only results.

    Also where a measuring job (run/job.py) of a local sweep puts what it measures:
    records (``append``), the reference (``write_peaks``), the trace index
    (``append_trace``), its workers' log (``log_path``)."""

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
        self._results.close()
        try:
            write_text(path, "".join(json.dumps(row, separators=(",", ":")) + "\n"
                                     for row in rows))
        finally:  # the old file, or the new one: appends go on either way
            self._results = open(path, "a", encoding="utf-8")

    # --- a measuring job's outputs (run/job.py) -----------------------------------------

    @property
    def log_path(self) -> Path:
        return self.dir / WORKER_LOG

    @property
    def traces_dir(self) -> Path:
        return self.dir / TRACES_DIR

    def rows(self) -> list[dict]:
        """The record of every point so far."""
        return load_results(self.dir) if (self.dir / RESULTS_FILE).exists() else []

    def write_peaks(self, peaks: list[dict]) -> None:
        """peak.json: every reference of the run (earlier sessions' included)."""
        write_json(self.dir / PEAK_FILE, peaks)

    def append_trace(self, row: dict) -> None:
        append_jsonl(self.dir / TRACE_INDEX, row)

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
