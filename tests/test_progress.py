"""The sweep's progress bar: drawn between points, never by a thread of its own while a
worker measures beside it on the same cores."""

from __future__ import annotations

import io
import time

from rich.console import Console

from profiler.records import Point
from profiler.run.progress import SweepProgress


def test_the_bar_is_drawn_when_it_changes_and_not_while_a_point_is_measured():
    out = io.StringIO()
    bar = SweepProgress(total=2, title="sweep t",
                        console=Console(file=out, force_terminal=True, width=200))
    point = Point(model="lstm", seq_len=64, batch_size=8, device="cpu", dtype="float32",
                  threads=2, phase="inference", attention="default")
    with bar:
        bar.start(point)  # drawn at once, before the point is sent to a worker
        assert point.label() in out.getvalue()
        drawn = len(out.getvalue())
        time.sleep(0.35)  # the worker measures: rich's own thread would redraw 3 times
        assert len(out.getvalue()) == drawn
        bar.done({"status": "ok"})
        assert "1/2" in out.getvalue()[drawn:]
