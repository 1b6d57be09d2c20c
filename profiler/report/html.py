"""A Document as one self-contained HTML page: figures inlined as data: URIs, no
script, no external stylesheet or font, so it opens offline from any disk."""

from __future__ import annotations

import base64
import re
from html import escape
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

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a;
       margin: 0; background: #fafafa; }
main { max-width: 1200px; margin: 0 auto; padding: 1.5em 2em 4em; background: #fff; }
h1 { margin-bottom: 0.1em; } .sub { color: #666; margin-top: 0; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
nav ol { columns: 2; }
.scroll { overflow-x: auto; margin: 0.8em 0; }
table { border-collapse: collapse; font-size: 13px; }
caption { caption-side: top; text-align: left; color: #444; padding: 0.3em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } tr:nth-child(even) td { background: #fcfcfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 14px; }
details { margin: 0.8em 0; } summary { cursor: pointer; color: #245; }
pre { background: #f5f5f5; padding: 0.8em; overflow-x: auto; }
.alert { background: #fff3cd; border: 2px solid #d39e00; padding: 0.5em 1em; margin: 0.5em 0; }
"""


def slug(text: str) -> str:
    """An id for a section title: lower case, dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def data_uri(path: Path) -> str:
    """The file as a base64 data: URI (PNG)."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _cell(cell, numeric: bool) -> str:
    text = f"<strong>{escape(cell.text)}</strong>" if isinstance(cell, Strong) \
        else escape(str(cell))
    return f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    classes = t.row_classes or [""] * len(t.rows)
    body = "".join((f'<tr class="{escape(cls)}">' if cls else "<tr>")
                   + "".join(_cell(c, j in t.numeric) for j, c in enumerate(row)) + "</tr>"
                   for row, cls in zip(t.rows, classes, strict=True))
    caption = "" if t.collapsed or not t.caption else f"<caption>{escape(t.caption)}</caption>"
    html = (f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")
    if t.collapsed:
        return f"<details><summary>{escape(t.caption or 'table')}</summary>{html}</details>"
    return html


def _block(block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Alert):
        return (f'<div class="alert"><strong>{escape(block.label)}</strong> '
                f"{escape(block.text)}</div>")
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Image):
        caption = f" {escape(block.caption)}" if block.caption else ""
        return (f'<figure><img src="{data_uri(block.path)}" alt="{escape(block.title)}">'
                f"<figcaption><b>{escape(block.title)}.</b>{caption}</figcaption></figure>")
    if isinstance(block, Links):
        return "<ul>" + "".join(f'<li><a href="{escape(href)}">{escape(text)}</a> {escape(note)}'
                                "</li>" for text, href, note in block.items) + "</ul>"
    if isinstance(block, Code):
        return (f"<details><summary>{escape(block.summary)}</summary>"
                f"<pre><code>{escape(block.text)}</code></pre></details>")
    raise TypeError(f"unknown block {type(block).__name__}")


def render(doc: Document) -> str:
    """The page: title, the first section (what a reader sees first: in a report, the
    answer), then a contents list of the others, then the others."""
    toc = "".join(f'<li><a href="#{slug(s.title)}">{escape(s.title)}</a></li>'
                  for s in doc.sections[1:])
    parts = [f'<section id="{slug(s.title)}"><h2>{escape(s.title)}</h2>'
             + "\n".join(_block(b) for b in s.blocks) + "</section>"
             for s in doc.sections]
    subtitle = f'<p class="sub">{escape(doc.subtitle)}</p>' if doc.subtitle else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            # an empty icon: without it a browser asks the server (or disk) for /favicon.ico
            f'<link rel="icon" href="data:,">'
            f"<title>{escape(doc.title)}</title><style>{CSS}{doc.style}</style></head>\n"
            f"<body><main><h1>{escape(doc.title)}</h1>"
            f"{subtitle}" + "\n".join(parts[:1])
            + (f"\n<nav><ol>{toc}</ol></nav>\n" if len(parts) > 1 else "")
            + "\n".join(parts[1:]) + "\n</main></body></html>\n")
