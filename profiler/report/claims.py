"""The textbook claims from `python -m profiler train`, as a section of the sweep report.

The training experiment writes its own folder; when the sweep report is given one
(``report RUN_DIR --train DIR``, or a folder RUN_DIR/train/ made with
``train --out RUN_DIR/train``), its claims table joins the sweep's measurements.
"""

from __future__ import annotations

import os
from pathlib import Path

from profiler.report.document import Links, Paragraph, Section, Table
from profiler.train.rundir import TRAIN_FILE, load_run
from profiler.train.summary import claims, results_table

DEFAULT_DIR = "train"  # RUN_DIR/train/ is picked up without --train


def find_train_dir(run_dir: Path, train_dir: str | Path | None) -> Path | None:
    """The train folder to include: the one given, else RUN_DIR/train/ if it holds a run."""
    if train_dir is not None:
        return Path(train_dir)
    candidate = run_dir / DEFAULT_DIR
    return candidate if (candidate / TRAIN_FILE).is_file() else None


def claims_section(run_dir: Path, train_dir: Path | None) -> Section | None:
    """Claim / measured / verdict rows from the train folder, or None without one."""
    if train_dir is None:
        return None
    run = load_run(train_dir)  # a folder without train.jsonl is a UsageError
    rows = claims(results_table(run.train), run.gradient, run.recall)
    blocks = [
        Paragraph("From the training experiment (`python -m profiler train`): the classic "
                  "sine-wave next-step task and a recall-at-distance probe. Each verdict rests "
                  "on the numbers beside it."),
        Table(["claim", "measured", "verdict"],
              [[r["claim"], r["measured"], r["verdict"]] for r in rows]),
    ]
    report = train_dir / "report.html"
    if report.is_file():
        rel = Path(os.path.relpath(report, run_dir)).as_posix()
        blocks.append(Links([("the training report", rel, "figures and per-seed results")]))
    return Section("Textbook claims, measured", blocks)
