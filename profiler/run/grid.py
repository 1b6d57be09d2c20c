"""Expand a sweep spec into points, ordered small -> large."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from profiler.records import PHASES, Point

if TYPE_CHECKING:  # spec.py expands grids to validate them: no import back at run time
    from profiler.run.spec import SweepSpec


def is_recurrent(spec: SweepSpec, model: str) -> bool:
    """A built-in LSTM/GRU/minGRU/minLSTM (or a variant of one), known without building it."""
    section = spec.models.get(model, {})
    return "factory" not in section and section.get("base", model) in ("lstm", "gru", "mingru",
                                                                        "minlstm")


def expand(spec: SweepSpec) -> list[Point]:
    """Every point of the grid (the product of its axes), smallest work first.

    Within a curve (same model, batch, device, ...) seq_len grows, so the runner
    has measured the smaller points before it predicts a larger one's cost."""
    axes = list(spec.grid)
    points = [Point(**dict(zip(axes, values, strict=True)))
              for values in itertools.product(*(spec.grid[a] for a in axes))]
    # the attention axis means nothing to a recurrent model: keep only its default
    points = [p for p in points if p.attention == "default" or not is_recurrent(spec, p.model)]
    order = {name: i for i, name in enumerate(spec.grid["model"])}
    return sorted(points, key=lambda p: (p.tokens, p.seq_len, p.device, p.dtype, p.threads,
                                         order[p.model], PHASES.index(p.phase), p.attention))
