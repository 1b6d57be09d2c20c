"""Every number the reports print, with its unit; and a frame as a Table of such cells.

One formatter per kind of quantity, used by every document (sweep, train, compare),
so that a latency reads the same everywhere. A value the run does not have (None,
NaN) prints as "–".
"""

from __future__ import annotations

import math
from collections.abc import Callable

from profiler.analyze.tables import curve_name
from profiler.report.document import Paragraph, Table

NONE = "–"  # a value the run does not have


def missing(value) -> bool:
    """None or NaN: a value the run does not have."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_time(seconds) -> str:
    """Seconds with a readable unit: 812 µs, 3.41 ms, 1.27 s."""
    if missing(seconds):
        return NONE
    s = float(seconds)
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_bytes(n) -> str:
    """Bytes in KiB/MiB/GiB (binary units, as allocators count)."""
    if missing(n):
        return NONE
    n = float(n)
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_rate(tokens_per_s) -> str:
    """Tokens per second: 4.3k, 1.2M."""
    if missing(tokens_per_s):
        return NONE
    v = float(tokens_per_s)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if v >= size:
            return f"{v / size:.3g}{unit}"
    return f"{v:.3g}"


def fmt_flops(v) -> str:
    """FLOP/s with a decimal unit: 3.2 GFLOP/s, 850 MFLOP/s."""
    if missing(v):
        return NONE
    for unit, size in (("TFLOP/s", 1e12), ("GFLOP/s", 1e9), ("MFLOP/s", 1e6)):
        if v >= size:
            return f"{v / size:.3g} {unit}"
    return f"{v:.3g} FLOP/s"


def fmt_bandwidth(v) -> str:
    """Bytes/s in decimal units, as datasheets give them: 22.2 GB/s, 3.35 TB/s."""
    if missing(v):
        return NONE
    for unit, size in (("TB/s", 1e12), ("GB/s", 1e9), ("MB/s", 1e6)):
        if v >= size:
            return f"{v / size:.3g} {unit}"
    return f"{v:.3g} B/s"


def fmt_intensity(v) -> str:
    """Arithmetic intensity: 7.33 FLOP/byte."""
    return NONE if missing(v) else f"{float(v):.3g} FLOP/byte"


def fmt_exp(k, low=None, high=None) -> str:
    """An exponent with its 95% interval: 1.02 (95% 0.99–1.05)."""
    if missing(k):
        return NONE

    def two(v) -> str:  # no "-0.00" for a flat curve's slope of -1e-4
        return f"{round(float(v), 2) + 0.0:.2f}"

    if missing(low) or missing(high):
        return two(k)
    return f"{two(k)} (95% {two(low)}–{two(high)})"


def fmt_n(n) -> str:
    """A sequence length (or any count) as an integer, or '–'."""
    if missing(n):
        return NONE
    if isinstance(n, float) and math.isinf(n):
        return "∞"
    return f"{int(round(float(n)))}"


def fmt_x(ratio) -> str:
    """A ratio as 1.85×."""
    return NONE if missing(ratio) else f"{float(ratio):.2f}×"


def fmt_pct(share) -> str:
    """A fraction as a whole percentage: 0.834 -> 83%."""
    return NONE if missing(share) else f"{100 * float(share):.0f}%"


def fmt_pct2(share) -> str:
    """A fraction as a percentage with 2 significant digits below 10% (0.8%, 2.4%) and
    whole from there up (12%, 100%, not 1e+02%): for shares of a peak, often small."""
    if missing(share):
        return NONE
    pct = 100 * float(share)
    return f"{pct:.2g}%" if pct < 9.95 else f"{pct:.0f}%"


def fmt_threads(n) -> str:
    """'1 thread', '2 threads'."""
    return f"{int(n)} thread" + ("" if int(n) == 1 else "s")


def fmt_text(value) -> str:
    """A text cell: '' for a value the run does not have, else the value as text."""
    return "" if missing(value) else str(value)


# A table column: (title, cell text of a row).
Column = tuple[str, Callable[[object], str]]


def column(name: str, fmt: Callable = str) -> Column:
    """The frame's column ``name``, formatted, '' where a row has none."""
    return name, lambda r: "" if missing(r[name]) else fmt(r[name])


# The columns that say which curve a row is on.
CURVE_COLUMNS: list[Column] = [
    ("model", lambda r: curve_name(r["model"], r["attention"])),
    ("phase", lambda r: r["phase"]),
    ("device", lambda r: r["device"]),
    ("batch", lambda r: fmt_n(r["batch_size"])),
    ("threads", lambda r: fmt_n(r["threads"])),
]


def frame_table(df, columns: list[Column], caption: str = "", empty: str = "none",
                collapsed: bool = False) -> Table | Paragraph:
    """One row per row of ``df`` with the given columns; a sentence "caption empty"
    when ``df`` has no row."""
    if df is None or df.empty:
        return Paragraph(f"{caption} {empty}".strip())
    rows = [[str(cell(r)) for _, cell in columns] for _, r in df.iterrows()]
    return Table([title for title, _ in columns], rows, caption, collapsed)
