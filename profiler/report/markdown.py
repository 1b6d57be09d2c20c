"""Write a Document as Markdown for a code-hosting site: figures as relative links
to figures/, long tables folded in <details> (GitHub renders both)."""

from __future__ import annotations

from pathlib import Path

from profiler.report.document import Bullets, Code, Document, Image, Links, Paragraph, Table


def cell(text: str) -> str:
    """A table cell: pipes escaped, on one line."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> str:
    lines = ["| " + " | ".join(cell(c) for c in t.columns) + " |",
             "|" + "|".join("---" for _ in t.columns) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t.rows]
    table = "\n".join(lines)
    if t.collapsed:
        return f"<details><summary>{t.caption or 'table'}</summary>\n\n{table}\n\n</details>"
    return (f"{t.caption}\n\n" if t.caption else "") + table


def _block(block) -> str:
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {i}" for i in block.items)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Image):
        return f"![{block.title}]({block.path})\n\n*{block.title}.* {block.caption}"
    if isinstance(block, Links):
        return "\n".join(f"- [{text}]({href}) {note}".rstrip() for text, href, note in block.items)
    if isinstance(block, Code):
        return (f"<details><summary>{block.summary}</summary>\n\n```toml\n"
                f"{block.text.rstrip()}\n```\n\n</details>")
    raise TypeError(f"unknown block {type(block).__name__}")


def write_markdown(doc: Document, path: Path) -> Path:
    """Render ``doc`` to ``path`` (figure links stay relative to the file's folder)."""
    parts = [f"# {doc.title}", f"_{doc.subtitle}_"]
    for s in doc.sections:
        parts.append(f"## {s.title}")
        parts += [_block(b) for b in s.blocks]
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path
