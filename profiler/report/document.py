"""The report as plain data: sections of blocks that the HTML and Markdown writers render.

Building the content once and writing it twice keeps the two formats saying
the same thing. Numbers are formatted here, with their units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    """A table of already formatted cells (strings)."""

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    collapsed: bool = False  # HTML: inside <details>; Markdown: too (GitHub renders it)


@dataclass
class Image:
    path: str  # relative to RUN_DIR, e.g. "figures/latency_vs_seq_len.png"
    title: str
    caption: str


@dataclass
class Links:
    """Links to files of the run directory, one per line: (text, path relative to RUN_DIR,
    note after the link). The HTML links them in place; they are not embedded."""

    items: list[tuple[str, str, str]]


@dataclass
class Code:
    text: str
    summary: str  # shown on the collapsed <details>


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


def missing(value) -> bool:
    """None or NaN: a value the run does not have."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_time(seconds) -> str:
    """Seconds with a readable unit: 812 µs, 3.41 ms, 1.27 s."""
    if missing(seconds):
        return "–"
    s = float(seconds)
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_bytes(n) -> str:
    """Bytes in KiB/MiB/GiB (binary units, as allocators count)."""
    if missing(n):
        return "–"
    n = float(n)
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_rate(tokens_per_s) -> str:
    """Tokens per second: 4.3k, 1.2M."""
    if missing(tokens_per_s):
        return "–"
    v = float(tokens_per_s)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if v >= size:
            return f"{v / size:.3g}{unit}"
    return f"{v:.3g}"


def fmt_exp(k, low=None, high=None) -> str:
    """An exponent with its 95% interval: 1.02 (95% 0.99–1.05)."""
    if missing(k):
        return "–"

    def two(v) -> str:  # no "-0.00" for a flat curve's slope of -1e-4
        return f"{round(float(v), 2) + 0.0:.2f}"

    if missing(low) or missing(high):
        return two(k)
    return f"{two(k)} (95% {two(low)}–{two(high)})"


def fmt_n(n) -> str:
    """A sequence length (or any count) as an integer, or '–'."""
    if missing(n):
        return "–"
    if isinstance(n, float) and math.isinf(n):
        return "∞"
    return f"{int(round(float(n)))}"


def fmt_x(ratio) -> str:
    """A ratio as 1.85×."""
    return "–" if missing(ratio) else f"{float(ratio):.2f}×"


def fmt_pct(share) -> str:
    """A fraction as a percentage."""
    return "–" if missing(share) else f"{100 * float(share):.0f}%"
