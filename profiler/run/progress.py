"""A rich progress bar for a sweep: current point, done/total, elapsed, ETA."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from profiler.records import Point


class SweepProgress:
    def __init__(self, total: int, title: str):
        self._progress = Progress(
            TextColumn("[bold]{task.fields[title]}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.description}"), transient=False)
        self._task = self._progress.add_task("", total=total, title=title)
        self.failures = 0

    def start(self, point: Point) -> None:
        self._progress.update(self._task, description=point.label())

    def note(self, text: str) -> None:
        """Say what runs besides the points (peak FLOP/s reference, traces)."""
        self._progress.update(self._task, description=text)

    def done(self, row: dict) -> None:
        if row["status"] not in ("ok", "skipped"):
            self.failures += 1
            self._progress.console.print(f"[yellow]{row['status']}[/yellow] "
                                         f"{row['model']} {row['phase']} n={row['seq_len']} "
                                         f"B={row['batch_size']}: {row['error']}")
        self._progress.advance(self._task)

    def __enter__(self) -> SweepProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()
