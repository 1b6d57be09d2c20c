"""The report layer: a run directory in, report.html, report.md and figures/ out.

    render_report(run_dir)            # what `sweep` calls at its end
    python -m profiler report RUN_DIR # what a user calls (cli.py, through api.Run.report)

Nothing is measured: every number comes from RUN_DIR/results.jsonl. One module per
topic (scaling.py, memory.py, ...) computes, words and draws its section; build.py
orders them.
"""

from __future__ import annotations

from pathlib import Path

from profiler.errors import UsageError
from profiler.report.writer import FORMATS


def render_report(run_dir: str | Path, formats=FORMATS,
                  train_dir: str | Path | None = None) -> list[Path]:
    """Analyse RUN_DIR and write its report files and figures; the paths written.

    Works on a partial run; a directory without results.jsonl is a UsageError.
    ``train_dir``: a `profiler train` output whose claims join the report
    (default: RUN_DIR/train/ when it holds one)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise UsageError(f"unknown report format {sorted(unknown) or '(none)'}; "
                         f"choose from {', '.join(FORMATS)}")
    from profiler.report.build import build_report  # imported here: matplotlib is slow

    return build_report(run_dir, formats, train_dir)
