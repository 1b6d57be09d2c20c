"""Picking the rows a sentence or table quotes from an analysis frame.

Every function takes a frame of profiler.analyze (one row per curve, or per curve
and n) and returns some of its rows; none formats or plots.
"""

from __future__ import annotations

import pandas as pd

from profiler.analyze.tables import RECURRENT, SCAN, curve_names


def where(df: pd.DataFrame, **eq) -> pd.DataFrame:
    """Rows of ``df`` whose columns equal the given values (columns it lacks are ignored)."""
    if df.empty:
        return df
    for k, v in eq.items():
        if k in df:
            df = df[df[k] == v]
    return df


def at_reference(df: pd.DataFrame, ref: dict, phase: str | None = None) -> pd.DataFrame:
    """Rows at the reference device/threads/dtype (and phase), each curve at its largest
    batch: the configuration the sentences quote."""
    if df.empty:
        return df
    sub = where(df, device=ref["device"], threads=ref["threads"], dtype=ref["dtype"],
                phase=phase or ref["phase"])
    if sub.empty:
        return sub
    top = sub.groupby(["model", "attention"])["batch_size"].transform("max")
    return sub[sub["batch_size"] == top]


def by_curve(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``curve`` (model [+ attention]) and sort: sequential recurrent families first,
    then the scan families, then the rest (attention, a user's)."""
    out = df.copy()
    out["curve"] = curve_names(out)
    rank = [0 if f in RECURRENT else 1 if f in SCAN else 2 for f in out["family"]]
    return out.assign(_rank=rank).sort_values(["_rank", "curve"]).drop(columns="_rank")


def largest_common_n(df: pd.DataFrame) -> int:
    """The largest seq_len every model has in ``df`` (or the largest any has)."""
    sets = [set(g["seq_len"]) for _, g in df.groupby("model")]
    common = set.intersection(*sets) if sets else set()
    return int(max(common) if common else df["seq_len"].max())


def beyond_base(df: pd.DataFrame, col: str, base: str) -> pd.DataFrame:
    """Rows whose ``col`` differs from the ``base`` column (a gain over itself is 1×)."""
    return df[df[col] != df[base]] if not df.empty else df
