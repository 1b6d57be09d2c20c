"""A Document as Markdown for a code-hosting site: figures as relative links,
long tables folded in <details> (GitHub renders both)."""

from __future__ import annotations

import os
from pathlib import Path

from profiler.report.document import (
    Alert,
    Bullets,
    Code,
    Document,
    Image,
    Links,
    Paragraph,
    Strong,
    Table,
)


def cell(text) -> str:
    """A table cell: pipes escaped, on one line; a Strong cell in bold."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return f"**{out}**" if isinstance(text, Strong) else out


def _table(t: Table) -> str:
    lines = ["| " + " | ".join(cell(c) for c in t.columns) + " |",
             "|" + "|".join("---:" if j in t.numeric else "---"
                            for j in range(len(t.columns))) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    table = "\n".join(lines)
    if t.collapsed:
        return f"<details><summary>{t.caption or 'table'}</summary>\n\n{table}\n\n</details>"
    return (f"{t.caption}\n\n" if t.caption else "") + table


def _block(block, folder: Path) -> str:
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {i}" for i in block.items)
    if isinstance(block, Alert):
        return f"> **{block.label}** {block.text}"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Image):
        link = Path(os.path.relpath(block.path, folder)).as_posix()
        return f"![{block.title}]({link})\n\n*{block.title}.* {block.caption}".rstrip()
    if isinstance(block, Links):
        return "\n".join(f"- [{text}]({href}) {note}".rstrip() for text, href, note in block.items)
    if isinstance(block, Code):
        return (f"<details><summary>{block.summary}</summary>\n\n```{block.language}\n"
                f"{block.text.rstrip()}\n```\n\n</details>")
    raise TypeError(f"unknown block {type(block).__name__}")


def render(doc: Document, folder: Path) -> str:
    """The Markdown text of ``doc`` for a file in ``folder`` (image links are relative to it)."""
    parts = [f"# {doc.title}"] + ([f"_{doc.subtitle}_"] if doc.subtitle else [])
    for s in doc.sections:
        parts.append(f"## {s.title}")
        parts += [_block(b, folder) for b in s.blocks]
    return "\n\n".join(parts) + "\n"
