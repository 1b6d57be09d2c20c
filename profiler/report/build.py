"""From a run directory to its report: load once, let every topic write its section,
write the document.

A topic is a module with ``section(inputs, fig_dir) -> Section | None`` (None: nothing
to say, the section is left out) that computes, words and draws its own findings.
TOPICS is the reading order; a new topic is one line here.
"""

from __future__ import annotations

from pathlib import Path

from profiler.report import (
    answer,
    backends,
    claims,
    comparison,
    efficiency,
    environment,
    frontiers,
    health,
    memory,
    missing,
    parallelism,
    plotting,
    results,
    roofline,
    scaling,
    scan,
    streaming,
    time_breakdown,
    traces,
)
from profiler.report.document import Document, images
from profiler.report.inputs import ReportInputs, load_inputs
from profiler.report.writer import write_document

TOPICS = (
    answer,  # the first screen: how many points ran, headline figure, verdicts, findings
    environment,  # machine, method, the spec
    comparison,  # LSTM vs Transformer, a row from each topic below
    claims,  # the training experiment's claims (with a train folder)
    scaling,  # exponents, a + b·n + c·n², crossovers
    parallelism,  # batch, threads, the sequential floor
    scan,  # recurrent and parallel: minGRU's scan vs the LSTM
    memory,  # peak memory vs n
    frontiers,  # how far n went, status map
    time_breakdown,  # where the time goes, by operator category
    efficiency,  # achieved FLOP/s vs the matmul peak
    roofline,  # intensity vs peak and bandwidth
    backends,  # attention backends
    streaming,  # the decode phase
    traces,  # links to Chrome/Perfetto traces
    missing,  # failed and never recorded points
    health,  # contended, noisy, re-measured points
    results,  # every record
)
FIGURES_DIR = "figures"


def build_document(inputs: ReportInputs, fig_dir: Path) -> Document:
    """Every topic's section, in reading order; their figures are saved into ``fig_dir``."""
    sections = [s for topic in TOPICS if (s := topic.section(inputs, fig_dir)) is not None]
    records = inputs.records
    run_ids = sorted(records["run_id"].dropna().unique()) if len(records) else []
    return Document(f"Scaling report: {inputs.run_dir.name}",
                    "run " + ", ".join(run_ids) if run_ids else str(inputs.run_dir), sections)


def build_report(run_dir: Path, formats, train_dir: str | Path | None = None) -> list[Path]:
    """Read RUN_DIR, draw its figures into RUN_DIR/figures/, write report.html and/or
    report.md; the files written (figures first)."""
    inputs = load_inputs(run_dir, train_dir)  # every read (and its errors) before any write
    fig_dir = run_dir / FIGURES_DIR
    plotting.prepare(fig_dir)
    doc = build_document(inputs, fig_dir)
    return images(doc) + write_document(doc, run_dir / "report", formats)
