"""Write a Document as report.html and/or report.md, each whole or not at all."""

from __future__ import annotations

from pathlib import Path

from profiler.report import html, markdown
from profiler.report.document import Document
from profiler.run.store import write_text

FORMATS = ("html", "md")


def write_document(doc: Document, stem: Path, formats=FORMATS) -> list[Path]:
    """Write ``stem``.html and/or ``stem``.md (atomically: a reader never sees half a
    file); the paths written."""
    written = []
    if "html" in formats:
        written.append(write_text(stem.with_suffix(".html"), html.render(doc)))
    if "md" in formats:
        written.append(write_text(stem.with_suffix(".md"), markdown.render(doc, stem.parent)))
    return written
