"""A rich progress bar for a sweep: current point, done/total, elapsed, ETA.

It is drawn only when it changes, between points, never by a thread of its own: the
sweep's parent shares the cores with the measuring processes. Redrawn ten times a
second (rich's default), it took 1.8% of a core here and tripled the samples
discarded for run-queue wait in a `default` sweep (2.25% against 0.6-0.8%; 3.9%
against 1.0-1.5% at 2 threads), slowing the samples it did not push over the threshold.
"""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from profiler.records import Point


class _TimeElapsed(TimeElapsedColumn):
    """The sweep's time so far. rich stops a task's clock once its count is complete,
    and the count is of the first pass: the rest of the sweep would read as no time."""

    def render(self, task) -> Text:
        if task.elapsed is None:
            return Text("-:--:--", style="progress.elapsed")
        return Text(str(timedelta(seconds=int(task.elapsed))), style="progress.elapsed")


class _TimeRemaining(TimeRemainingColumn):
    """rich's estimate, while it means something: it counts the first pass's points,
    and once the first pass is over (``phase``) the rounds that complete the
    instances and the second pass take as long again as the answers ask for."""

    def render(self, task) -> Text:
        if task.fields.get("phase"):
            return Text("-:--:--", style="progress.remaining")
        return super().render(task)


class SweepProgress:
    def __init__(self, total: int, title: str, console: Console | None = None):
        # The point's label takes what width is left and is cut short with an ellipsis;
        # the counts and times keep theirs (rich squeezes every column of a line that is
        # too wide: in 80 columns they read "120…", "0:…").
        def fixed() -> Column:
            return Column(no_wrap=True)

        self._progress = Progress(
            TextColumn("[bold]{task.fields[title]}", table_column=fixed()),
            BarColumn(bar_width=20, table_column=fixed()),
            MofNCompleteColumn(table_column=fixed()), _TimeElapsed(table_column=fixed()),
            TextColumn("eta", table_column=fixed()), _TimeRemaining(table_column=fixed()),
            TextColumn("{task.description}",
                       table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
            transient=False, auto_refresh=False, expand=True, console=console)
        self._task = self._progress.add_task("", total=total, title=title, phase="")
        self._title = title
        self.failures = 0

    def start(self, point: Point) -> None:
        """Before ``point`` is sent to a worker: nothing is being measured."""
        self._progress.update(self._task, description=point.label(), refresh=True)

    def note(self, text: str) -> None:
        """Say what runs besides the points (peak FLOP/s reference, traces)."""
        self._progress.update(self._task, description=text, refresh=True)

    def phase(self, text: str) -> None:
        """The first pass is over and ``text`` begins (more instances, the second pass):
        the count stays at the points, the estimate of time left is no longer shown."""
        self._progress.update(self._task, title=f"{self._title} · {text}", phase=text,
                              refresh=True)

    def done(self, row: dict) -> None:
        if row["status"] not in ("ok", "skipped"):
            self.failures += 1
            self._progress.console.print(f"[yellow]{row['status']}[/yellow] "
                                         f"{row['model']} {row['phase']} n={row['seq_len']} "
                                         f"B={row['batch_size']}: {row['error']}")
        self._progress.advance(self._task)
        self._progress.refresh()

    def __enter__(self) -> SweepProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()
