"""Scaling-analysis profiler for sequence models (LSTM vs Transformer and your own).

The public API (profiler/api.py)::

    import profiler
    run = profiler.sweep("smoke", out="reports/demo", seq_len=[16, 32])
    run.records, run.fits, run.report()
    profiler.compare(profiler.load("reports/base"), run).regressed

Its names are imported on first use (PEP 562), so ``import profiler`` and
``python -m profiler --help`` do not import torch or pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

_API = ("sweep", "load", "compare", "Run", "RunComparison")
__all__ = [*_API, "__version__"]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports them
    from profiler.api import Run, RunComparison, compare, load, sweep  # noqa: F401


def __getattr__(name: str):
    if name in _API:
        from profiler import api

        return getattr(api, name)
    raise AttributeError(f"module 'profiler' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
