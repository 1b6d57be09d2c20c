"""The sweep's progress bar: drawn between points, never by a thread of its own while a
worker measures beside it on the same cores."""

from __future__ import annotations

import io
import re
import time

from rich.console import Console
from rich.text import Text

from profiler.records import Point
from profiler.run.progress import SweepProgress

POINT = Point(model="lstm", seq_len=64, batch_size=8, device="cpu", dtype="float32",
              threads=2, phase="inference", attention="default")


def drawn_bar(total: int, title: str, width: int) -> tuple[SweepProgress, io.StringIO]:
    """A sweep's bar drawn into a string, as a terminal ``width`` columns wide."""
    out = io.StringIO()
    return SweepProgress(total=total, title=title, console=Console(
        file=out, force_terminal=True, width=width)), out


def last_line(out: io.StringIO) -> str:
    """The text of the bar as last drawn, without its colours."""
    drawn = [Text.from_ansi(line).plain for line in out.getvalue().replace("\r", "\n").splitlines()]
    return [line for line in drawn if line.strip()][-1]


def test_the_bar_is_drawn_when_it_changes_and_not_while_a_point_is_measured():
    bar, out = drawn_bar(2, "sweep t", width=200)
    point = POINT
    with bar:
        bar.start(point)  # drawn at once, before the point is sent to a worker
        assert point.label() in out.getvalue()
        drawn = len(out.getvalue())
        time.sleep(0.35)  # the worker measures: rich's own thread would redraw 3 times
        assert len(out.getvalue()) == drawn
        bar.done({"status": "ok"})
        assert "1/2" in out.getvalue()[drawn:]


def test_the_train_bar_is_drawn_by_its_loop_at_most_ten_times_a_second():
    from profiler.train.command import Ticker, progress_bar

    out = io.StringIO()
    progress = progress_bar(Console(file=out, force_terminal=True, width=120))
    with progress:
        task = progress.add_task("train lstm seed 0", total=50)
        tick = Ticker(progress, task, interval_s=0.2)
        tick()  # the first epoch is drawn at once
        assert "1/50" in out.getvalue()
        drawn = len(out.getvalue())
        time.sleep(0.35)  # an epoch runs: rich's own thread would redraw 3 times
        assert len(out.getvalue()) == drawn
        tick()  # 0.35 s after the last draw: drawn
        assert "2/50" in out.getvalue()[drawn:]
        drawn = len(out.getvalue())
        for _ in range(10):  # ten probe steps within 0.2 s: counted, not drawn
            tick()
        assert len(out.getvalue()) == drawn
        assert progress.tasks[0].completed == 12


def test_in_80_columns_the_label_is_cut_short_and_the_counts_stay_whole():
    bar, out = drawn_bar(120, "sweep default", width=80)
    point = Point(model="transformer", seq_len=2048, batch_size=8, device="cpu",
                  dtype="float32", threads=1, phase="train_step", attention="default")
    with bar:
        for _ in range(37):
            bar.done({"status": "ok"})
        bar.start(point)
    last = last_line(out)
    assert "37/120" in last and "eta" in last and "sweep default" in last
    assert last.rstrip().endswith("…") and "transformer" in last
    assert len(last.rstrip()) <= 80


def test_after_the_first_pass_the_bar_says_what_runs_and_gives_no_estimate():
    bar, out = drawn_bar(4, "sweep default", width=120)
    with bar:
        for _ in range(2):
            bar.start(POINT)
            time.sleep(0.1)
            bar.done({"status": "ok"})
        assert "eta 0:00:0" in last_line(out)  # half the points in 0.2 s: 0.2 s left
        for _ in range(2):
            bar.done({"status": "ok"})
        bar.phase("more instances")  # 4/4, and the rounds have only begun
        time.sleep(1.0)
        bar.start(POINT)
        assert "sweep default · more instances" in last_line(out)
        assert "4/4" in last_line(out) and "eta -:--:--" in last_line(out)
        assert re.search(r" 0:00:0[1-9] ", last_line(out))  # the clock runs on past the count
