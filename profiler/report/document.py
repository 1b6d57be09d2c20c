"""A document as plain data: sections of blocks, rendered by html.py and markdown.py.

Every report (the sweep's, the training experiment's, a run comparison) is built
once as a Document and written twice, so the two formats say the same thing.
Blocks hold text that is already formatted (report/formats.py); the writers only
lay it out and escape it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Strong:
    """A table cell in bold (a verdict that must not be missed)."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Alert:
    """A boxed line the reader must not miss: a bold label, then the text."""

    label: str  # e.g. "WARNING: runs differ:"
    text: str


@dataclass
class Table:
    """A table of already formatted cells (strings, or Strong)."""

    columns: list[str]
    rows: list[list]
    caption: str = ""
    collapsed: bool = False  # HTML: inside <details>; Markdown: too (GitHub renders it)
    numeric: frozenset[int] = frozenset()  # columns aligned right (numbers)
    row_classes: list[str] = field(default_factory=list)  # HTML: a class per row ("" none)


@dataclass
class Image:
    path: Path  # the PNG on disk: Markdown links it (relative), HTML embeds it
    title: str
    caption: str = ""


@dataclass
class Links:
    """Links to files beside the document, one per line: (text, path relative to the
    document's folder, note after the link). Linked in place, never embedded."""

    items: list[tuple[str, str, str]]


@dataclass
class Code:
    text: str
    summary: str  # shown on the collapsed <details>
    language: str = "toml"  # Markdown's fence


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]
    style: str = ""  # more CSS for the HTML (e.g. colours of row classes)


def images(doc: Document) -> list[Path]:
    """The image files a document shows, in reading order."""
    return [b.path for s in doc.sections for b in s.blocks if isinstance(b, Image)]
