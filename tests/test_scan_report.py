"""The third family in the report: a synthetic run with lstm, transformer and mingru
(tests/data/make_run.py, THREE_FAMILIES) rendered, and the scan comparison on hand-made
records where the best thread count differs per family."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.analyze import tables as A
from profiler.records import Point, result_row
from profiler.report import render_report
from profiler.report import scan as scan_topic
from profiler.report.inputs import ReportInputs
from profiler.report.scan import scan_sentences

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def make_run():
    sys.path.insert(0, str(DATA))
    try:
        import make_run
    finally:
        sys.path.remove(str(DATA))
    return make_run


@pytest.fixture(scope="module")
def three(tmp_path_factory, make_run) -> tuple[Path, str]:
    run = make_run.write_run(tmp_path_factory.mktemp("three") / "run",
                             models=make_run.THREE_FAMILIES)
    render_report(run)
    return run, (run / "report.md").read_text()


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}\n")[1].split("\n## ")[0]


def _best(rows: list[dict], model: str, phase: str, batch: int, n: int) -> dict:
    """The record with the lowest latency over thread counts, by hand."""
    cands = [r for r in rows if (r["model"], r["phase"], r["batch_size"], r["seq_len"],
                                 r["status"]) == (model, phase, batch, n, "ok")]
    return min(cands, key=lambda r: r["latency_s"])


def test_three_columns_and_the_scan_row(three):
    _, md = three
    table = _section(md, "LSTM vs Transformer, measured")
    assert "| measured | lstm | mingru | transformer |" in table  # sequential, scan, attention
    assert re.search(r"\| Share of profiled time in its core kernel \(attention / recurrent\) "
                     r"\| recurrent \d+% .* \| recurrent \d+% .* \| attention", table)
    row = next(line for line in table.splitlines() if line.startswith("| train_step at n="))
    assert row.startswith("| train_step at n=1024, batch 8, best thread count: latency, "
                          "speed vs lstm | ")
    assert re.search(r"\| [\d.]+ ms \(\d threads?\), 1\.00× \| [\d.]+ ms \(\d threads?\), "
                     r"2\.\d\d× \| ", row)


def test_scan_section_ratio_and_exponents(three, make_run):
    run, md = three
    rows = make_run.make_rows(np.random.default_rng(0), make_run.THREE_FAMILIES)  # as written
    section = _section(md, "Recurrent and parallel: the scan")
    # batch 1: the LSTM's best is 1 thread (2 threads slow its tiny GEMMs), minGRU's 2
    line = next(s for s in section.splitlines()
                if s.startswith("- train_step on cpu (float32), batch 1, n = 2048"))
    lstm, mingru = (_best(rows, m, "train_step", 1, 2048) for m in ("lstm", "mingru"))
    assert (lstm["threads"], mingru["threads"]) == (1, 2)
    ratio = lstm["latency_s"] / mingru["latency_s"]
    assert 8 < ratio < 20  # make_run.py's laws: 8 µs per LSTM step vs ~0.6 µs per position
    assert f"mingru {mingru['latency_s'] * 1e3:.3g} ms (2 threads, {ratio:.2f}× faster than lstm)" \
        in line
    assert f"lstm {lstm['latency_s'] * 1e3:.3g} ms (1 thread)" in line
    # the exponents of all three families, each at its best thread count
    k = {m: float(x) for m, x in re.findall(r"(lstm|mingru|transformer) n\^([\d.]+) for n ≥",
                                            line)}
    assert set(k) == {"lstm", "mingru", "transformer"}
    assert 0.9 < k["lstm"] < 1.1 and k["mingru"] < 1.1 and k["transformer"] > 1.2
    # batch 8, train step: the LSTM stops at 1024 (skipped/missing above), so n = 1024
    assert "- train_step on cpu (float32), batch 8, n = 1024, each family" in section
    assert "| cpu | train_step | 1 | 2048 | mingru | mingru | 2 (of 2 tried) |" in section
    # the section opens with the claim: the scan and the recurrence in the training step
    lead = section.strip().split("\n\n")[0]
    assert lead.startswith("- Scan vs recurrence: train_step on cpu (float32), batch 1, n = 2048")
    assert "transformer" not in lead and "inference" not in lead


def test_crossovers_are_pairwise_and_named(three):
    _, md = three
    scaling = _section(md, "Scaling with sequence length")
    cross = scaling.split("Where curves of different families cross")[1]
    for pair in ("lstm vs mingru", "lstm vs transformer", "mingru vs transformer"):
        assert f"| {pair} |" in cross
    assert "no crossover of lstm and mingru in n = 32–2048 (mingru is faster throughout)" \
        in scaling
    assert re.search(r"transformer becomes slower than lstm at n ≈ \d+", scaling)


def test_figures_and_streaming_have_the_third_family(three):
    run, md = three
    stream = _section(md, "Streaming")
    assert re.search(r"\| mingru \| cpu \| 8 \| 2 \| .* \| 4 KiB at every n \| 0\.00 \|", stream)
    pngs = {p.stem for p in (run / "figures").glob("*.png")}
    assert {"latency_vs_seq_len", "decode_vs_context", "time_by_category"} <= pngs
    exps = _section(md, "Scaling with sequence length")
    assert "| mingru | train_step | cpu | 8 | 2 |" in exps


def _inputs(records: pd.DataFrame, where: Path) -> ReportInputs:
    return ReportInputs(run_dir=where, records=records, grid={}, spec_text="", spec_note="",
                        env={}, peaks=[], traces=[])


def test_without_a_scan_family_the_section_says_not_available(tmp_path):
    rows = [_row("lstm", "lstm", 1, n, 1e-3 * n) for n in (64, 128)]
    (block,) = scan_topic.section(_inputs(A.records_frame(rows), tmp_path), tmp_path).blocks
    assert block.text.startswith("Not available: this run has no minGRU/minLSTM curve")


def _row(model, family, threads, n, latency, batch=8, phase="train_step"):
    point = Point(model=model, seq_len=n, batch_size=batch, device="cpu", dtype="float32",
                  threads=threads, phase=phase)
    return result_row(point, status="ok", family=family, latency_s=latency,
                      tokens_per_s=batch * n / latency)


def test_scan_comparison_takes_each_family_at_its_best_threads():
    rows = []
    for n, scale in ((1024, 1.0), (2048, 2.0), (4096, 4.0)):
        rows += [_row("lstm", "lstm", 1, n, 0.10 * scale), _row("lstm", "lstm", 2, n,
                                                                0.12 * scale),
                 _row("mingru", "mingru", 1, n, 0.08 * scale),
                 _row("mingru", "mingru", 2, n, 0.05 * scale)]
    rows.append(_row("transformer", "transformer", 2, 2048, 0.5))  # no n = 4096
    df = A.records_frame(rows)
    scan = A.scan_comparison(df, A.exponents(df))
    got = scan.set_index("model")
    assert set(got.index) == {"lstm", "mingru", "transformer"} and set(scan["n_star"]) == {4096}
    assert got.loc["lstm", "threads"] == 1 and got.loc["mingru", "threads"] == 2
    assert got.loc["mingru", "vs_recurrent"] == pytest.approx(0.40 / 0.20)
    assert got.loc["mingru", "k"] == pytest.approx(1.0)  # the 2-thread curve: 0.05·n/1024
    # a curve that stopped before n* is shown at its own largest n, with no ratio
    assert got.loc["transformer", "seq_len"] == 2048
    assert np.isnan(got.loc["transformer", "vs_recurrent"])
    (line,) = scan_sentences(scan)
    assert line.startswith("train_step on cpu (float32), batch 8, n = 4096, each family at its "
                           "best thread count: lstm 400 ms (1 thread), mingru 200 ms (2 threads, "
                           "2.00× faster than lstm), transformer 500 ms (2 threads, at n = 2048: "
                           "not run at n = 4096). Latency exponents")
    assert line.endswith("mingru n^1.00 for n ≥ 1024; transformer no fit (fewer than 2 n).")
    # no scan family: nothing to compare
    no_scan = A.records_frame([r for r in rows if r["model"] != "mingru"])
    assert A.scan_comparison(no_scan, A.exponents(no_scan)).empty
    assert _inputs(no_scan, Path(".")).scan.empty
