"""The "Recurrent and parallel" section: three ways over time, side by side.

Linear and sequential (the LSTM: n dependent steps), quadratic and parallel (the
Transformer: all n² pairs at once), linear and parallel (minGRU / minLSTM: gates from x_t
only, so the recurrence is an associative scan). The claim tested, from Feng et al. (2024):
the scan trains much faster than the recurrence at long n. Reads ReportInputs.scan
(analyze.tables.scan_comparison): every curve at its best thread count at the largest n
the scan and the recurrence share.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from profiler.analyze.tables import SCAN
from profiler.report.document import Bullets, Paragraph, Section, Table
from profiler.report.formats import fmt_exp, fmt_n, fmt_threads, fmt_time, fmt_x, missing
from profiler.report.frames import by_curve, where
from profiler.report.inputs import ComparisonRow, ReportInputs

# The phase the headline quotes: the training step is where the scan is meant to win.
HEADLINE_PHASE = "train_step"


def _versus(r) -> str:
    """'2.10× faster than lstm' / '2.08× slower than lstm' / '' for the recurrence itself;
    'not run at n = 4096' for a curve that stopped before the shared n."""
    if r["seq_len"] != r["n_star"]:
        return f"at n = {r['seq_len']}: not run at n = {r['n_star']}"
    if r["curve"] == r["recurrent_curve"]:
        return ""
    ratio = r["vs_recurrent"]
    if ratio >= 1:
        return f"{fmt_x(ratio)} faster than {r['recurrent_curve']}"
    return f"{fmt_x(1 / ratio)} slower than {r['recurrent_curve']}"


def _latency_part(r) -> str:
    """'mingru 120 ms (2 threads, 2.10× faster than lstm)'."""
    versus = _versus(r)
    return (f"{r['curve']} {fmt_time(r['latency_s'])} ({fmt_threads(r['threads'])}"
            + (f", {versus})" if versus else ")"))


def _exponent(r) -> str:
    """The upper-range exponent where there is one, else the whole-range one."""
    if not missing(r["k_upper"]):
        return f"n^{fmt_exp(r['k_upper'])} for n ≥ {fmt_n(r['upper_n_min'])}"
    if missing(r["k"]):
        return "no fit (fewer than 2 n)"
    return f"n^{fmt_exp(r['k'])}"


def scan_sentences(scan: pd.DataFrame, phase: str | None = None) -> list[str]:
    """One sentence per (device, dtype, phase, batch): each curve's best latency and
    threads at the shared n, its ratio to the recurrence, and every curve's exponent."""
    if scan.empty:
        return []
    data = scan if phase is None else scan[scan["phase"] == phase]
    out = []
    for (device, dtype, ph, batch), g in data.groupby(["device", "dtype", "phase",
                                                        "batch_size"], sort=True):
        g = by_curve(g)
        n = int(g["n_star"].iloc[0])
        parts = [_latency_part(r) for _, r in g.iterrows()]
        exps = "; ".join(f"{r['curve']} {_exponent(r)}" for _, r in g.iterrows())
        out.append(f"{ph} on {device} ({dtype}), batch {batch}, n = {n}, each family at "
                   f"its best thread count: " + ", ".join(parts) + ". Latency exponents at "
                   f"those thread counts: {exps}.")
    return out


def headline_sentences(scan: pd.DataFrame) -> list[str]:
    """The section's lead: the scan families and the recurrence (not the Transformer) in
    the training step if the run has one, else in every phase."""
    if scan.empty:
        return []
    phase = HEADLINE_PHASE if (scan["phase"] == HEADLINE_PHASE).any() else None
    scan = scan[scan["family"].isin(SCAN) | (scan["curve"] == scan["recurrent_curve"])]
    return ["Scan vs recurrence: " + s for s in scan_sentences(scan, phase)]


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    scan = inputs.scan
    title = "Recurrent and parallel: the scan"
    if scan.empty:
        return Section(title, [Paragraph(
            "Not available: this run has no minGRU/minLSTM curve next to an LSTM/GRU curve "
            "at a common n. Add \"mingru\" to the sweep's [grid].model (as the default "
            "preset does) to compare a parallel scan over time with the sequential "
            "recurrence.")])
    blocks = [Bullets(headline_sentences(scan)), Paragraph(
        "Three ways over time. The LSTM is linear and sequential: step t waits for step "
        "t−1. The Transformer is quadratic and parallel: all n² query-key pairs at once. "
        "minGRU (Feng et al., 2024, \"Were RNNs All We Needed?\") is linear and parallel: "
        "its gates read x_t only, never h_{t−1}, so h_t = a_t·h_{t−1} + b_t is an "
        "associative recurrence that a parallel scan solves in 2·log2(n) levels; decoding "
        "still carries a fixed-size h. Each curve is taken at its best thread count (the "
        "lowest latency at that n), so the comparison is of each family at its own best "
        "on this machine."),
              Bullets(scan_sentences(scan))]
    rows = [[r["device"], r["phase"], fmt_n(r["batch_size"]), fmt_n(r["seq_len"]),
             r["curve"], r["family"],
             f"{int(r['threads'])} (of {int(r['threads_tried'])} tried)",
             fmt_time(r["latency_s"]),
             "1.00× (reference)" if r["curve"] == r["recurrent_curve"]
             else fmt_x(r["vs_recurrent"]) if r["seq_len"] == r["n_star"]
             else f"– (not run at n = {r['n_star']})",
             fmt_exp(r["k"], r["k_low"], r["k_high"]),
             fmt_exp(r["k_upper"], r["k_upper_low"], r["k_upper_high"])]
            for _, r in by_curve(scan).sort_values(["device", "phase", "batch_size"],
                                                  kind="stable").iterrows()]
    blocks.append(Table(["device", "phase", "batch", "n", "model", "family", "best threads",
                         "latency", "speed vs the recurrence (×, > 1 faster)",
                         "k, all n (95%)", "k, upper n (95%)"], rows,
                        "At the largest n the scan and the recurrence both ran (a curve that "
                        "stopped earlier: at its own largest n); exponents of latency ∝ n^k at "
                        "each curve's best thread count."))
    return Section(title, blocks)


def comparison_rows(inputs: ReportInputs) -> list[ComparisonRow]:
    """A row for the LSTM-vs-Transformer table: the training step (else the reference
    phase) at the shared n and the reference batch, each curve at its best threads."""
    ref = inputs.reference
    scan = where(inputs.scan, device=ref["device"], dtype=ref["dtype"])
    if scan.empty:
        return []
    phase = HEADLINE_PHASE if (scan["phase"] == HEADLINE_PHASE).any() else ref["phase"]
    scan = scan[scan["phase"] == phase]
    batch = ref["batch_size"] if (scan["batch_size"] == ref["batch_size"]).any() \
        else scan["batch_size"].max()
    scan = scan[scan["batch_size"] == batch]
    if scan.empty:
        return []
    n, rec = int(scan["n_star"].iloc[0]), scan["recurrent_curve"].iloc[0]
    return [ComparisonRow(
        f"{phase} at n={n}, batch {batch}, best thread count: latency, speed vs {rec}", scan,
        lambda r: f"{fmt_time(r['latency_s'])} ({fmt_threads(r['threads'])}), "
                  f"{fmt_x(r['vs_recurrent'])}" if r["seq_len"] == n else
                  f"not run at n={n} (largest: {r['seq_len']})")]
