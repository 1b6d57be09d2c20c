"""The "Textbook claims, measured" section: the claims of `python -m profiler train`
beside the sweep's measurements.

The training experiment writes its own folder; when the sweep report is given one
(``report RUN_DIR --train DIR``, or a folder RUN_DIR/train/ made with
``train --out RUN_DIR/train``), its claims table joins the report. Without one the
section is left out.
"""

from __future__ import annotations

import os
from pathlib import Path

from profiler.report.document import Links, Paragraph, Section, Table
from profiler.report.inputs import ReportInputs
from profiler.train.summary import claims, results_table


def section(inputs: ReportInputs, fig_dir: Path) -> Section | None:
    """Claim / measured / verdict rows from the train folder, or None without one."""
    run = inputs.train
    if run is None:
        return None
    rows = claims(results_table(run.train), run.gradient, run.recall)
    blocks = [
        Paragraph("From the training experiment (`python -m profiler train`): the classic "
                  "sine-wave next-step task and a recall-at-distance probe. Each verdict rests "
                  "on the numbers beside it."),
        Table(["claim", "measured", "verdict"],
              [[r["claim"], r["measured"], r["verdict"]] for r in rows]),
    ]
    report = inputs.train_dir / "report.html"
    if report.is_file():
        rel = Path(os.path.relpath(report, inputs.run_dir)).as_posix()
        blocks.append(Links([("the training report", rel, "figures and per-seed results")]))
    return Section("Textbook claims, measured", blocks)
