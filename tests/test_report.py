"""The report rendered from the saved synthetic run in tests/data/run_small (no measuring).

tests/data/make_run.py writes that directory; its latencies follow known laws,
so the findings the report states can be checked against them.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from profiler.cli import main
from profiler.errors import UsageError
from profiler.report import render_report

DATA = Path(__file__).parent / "data"
RUN = DATA / "run_small"
FIGURES = {"latency_vs_seq_len", "throughput_vs_batch", "memory_vs_seq_len", "quadratic_share",
           "status_map", "thread_speedup", "time_by_category", "flops_efficiency",
           "decode_vs_context", "roofline"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("report") / "run_small"
    shutil.copytree(RUN, run)
    written = render_report(run)
    assert {p.name for p in written} >= {"report.html", "report.md"}
    return run


def test_saved_run_matches_its_generator(tmp_path):
    sys.path.insert(0, str(DATA))
    try:
        import make_run
    finally:
        sys.path.remove(str(DATA))
    out = make_run.write_run(tmp_path / "run")
    for name in ("env.json", "sweep.toml", "peak.json"):
        assert (out / name).read_bytes() == (RUN / name).read_bytes(), name
    traces = sorted(p.name for p in (RUN / "traces").iterdir())
    assert sorted(p.name for p in (out / "traces").iterdir()) == traces
    for name in traces:
        assert (out / "traces" / name).read_bytes() == (RUN / "traces" / name).read_bytes()
    # record by record, on the saved fields: a field added to RESULT_FIELDS later
    # (None in a regenerated row) does not make the saved run stale
    new, saved = (_records(p / "results.jsonl") for p in (out, RUN))
    assert len(new) == len(saved) == 168  # 167 points, one measured twice
    for a, b in zip(new, saved, strict=True):
        assert {k: a.get(k) for k in b} == b
        assert all(a[k] is None for k in set(a) - set(b))


def _records(path: Path) -> list[dict]:
    """Complete lines of a results.jsonl (the cut-short last line left out)."""
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]]


def test_every_figure_exists_and_is_referenced(rendered):
    pngs = {p.stem: p for p in (rendered / "figures").glob("*.png")}
    assert set(pngs) == FIGURES
    md = (rendered / "report.md").read_text()
    html = (rendered / "report.html").read_text()
    for name, path in pngs.items():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"](figures/{name}.png)" in md
    assert html.count("<img ") == len(pngs)


def test_every_html_image_is_embedded(rendered):
    html = (rendered / "report.html").read_text()
    srcs = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert len(srcs) == len(FIGURES)
    embedded = set()
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        embedded.add(base64.b64decode(src.split(",", 1)[1]))
    # each is byte for byte one of the PNG files, none twice
    assert embedded == {p.read_bytes() for p in (rendered / "figures").glob("*.png")}
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing to fetch: opens offline


def test_markdown_links_resolve(rendered):
    md = (rendered / "report.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", md)
    assert len(links) >= len(FIGURES)
    for link in links:
        assert not link.startswith(("/", "http")), link
        assert (rendered / link).is_file(), link


def test_report_states_the_planted_findings(rendered):
    md = (rendered / "report.md").read_text()
    # batch 8 inference, 2 threads: LSTM linear, Transformer quadratic at large n, crossing
    line = next(s for s in md.splitlines() if s.startswith("- On cpu, batch 8, inference"))
    lstm = float(re.search(r"lstm latency grows as n\^([\d.]+)", line).group(1))
    trf = float(re.search(r"transformer as n\^[\d.]+ \(95% [^)]*\) over n = 32–2048 and "
                          r"n\^([\d.]+)", line).group(1))
    assert 0.85 <= lstm <= 1.15 and trf >= 1.4
    cross = float(re.search(r"transformer becomes slower than lstm at n ≈ (\d+)", line).group(1))
    assert 300 <= cross <= 500  # the laws of make_run.py cross near 420
    assert "fits O(n) best" in md and "fits O(n²) best" in md
    assert "Sequential floor: lstm at batch 1" in md


def test_report_says_what_is_missing_and_what_is_noisy(rendered):
    md = (rendered / "report.md").read_text()
    assert "168 points: 163 ok, 2 oom, 1 skipped, 1 timeout, 1 never recorded" in md
    missing = md.split("## What is missing")[1].split("## Run health")[0]
    for status in ("oom", "timeout", "skipped"):
        assert f"| {status} |" in missing
    assert "| lstm | 2048 | 8 | cpu | float32 | 2 | train_step |" in missing
    frontiers = md.split("## Frontiers")[1].split("## What is missing")[0]
    assert "| 1024 | 2048 | oom: RuntimeError" in frontiers
    assert "| 1024 | 2048 | missing" in frontiers
    noisy = md.split("## Run health")[1].split("## All results")[0]
    assert re.search(r"\| lstm \| inference \| cpu \| 1 \| 2 \| 32 \|", noisy)


def test_html_folds_the_full_table_without_raw_samples(rendered):
    html = (rendered / "report.html").read_text()
    details = html.split("<h2>All results</h2>")[1]
    assert details.lstrip().startswith("<details><summary>Every record (167 rows")
    assert details.count("<tr>") == 168  # header + 167 records
    samples = json.loads((RUN / "results.jsonl").read_text().splitlines()[0])["latency_samples_s"]
    assert "latency_samples_s" not in html and repr(samples[0]) not in html
    assert "env.json" in html and "torch" in html and "perf_counter_ns" in html


def _write_run(run: Path, rows: list[dict]) -> None:
    run.mkdir(parents=True)
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _rows(keep) -> list[dict]:
    rows = [json.loads(line) for line in (RUN / "results.jsonl").read_text().splitlines()[:-1]]
    return [r for r in rows if keep(r)]


def test_partial_run_without_env_or_spec_renders(tmp_path):
    run = tmp_path / "partial"
    _write_run(run, _rows(lambda r: r["threads"] == 2 and r["batch_size"] == 8
                          and r["phase"] == "train_step"))
    render_report(run, formats=("md",))
    md = (run / "report.md").read_text()
    assert "env.json is missing" in md
    assert "13 points: 12 ok, 1 oom." in md and "This run is partial" in md
    assert "Only one batch size ran." in md and "Only one thread count ran." in md
    assert not (run / "report.html").exists()
    figures = {p.stem for p in (run / "figures").glob("*.png")}
    # no peak.json, so no bandwidth: no roofline either
    assert figures == FIGURES - {"throughput_vs_batch", "thread_speedup", "decode_vs_context",
                                 "roofline"}
    for link in re.findall(r"\]\(([^)\s]+)\)", md):
        assert (run / link).is_file()


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}\n")[1].split("\n## ")[0]


def test_where_the_time_goes_and_efficiency(rendered):
    md = (rendered / "report.md").read_text()
    where = _section(md, "Where the time goes")
    assert "](figures/time_by_category.png)" in where and "untimed profiled pass" in where
    # make_run.py: the c·n² term is attention: 8% of the profiled time at n=32, 83% at 2048
    line = next(s for s in where.splitlines() if s.startswith("- transformer inference, B=8"))
    low, high = map(int, re.search(r"attention is (\d+)% of profiled time at n=32 and "
                                   r"(\d+)% at n=2048", line).groups())
    assert low < 15 and high > 75
    assert re.search(r"- lstm inference, B=8: recurrent is [6-9]\d% .* and [6-9]\d% at n=2048",
                     where)
    assert "| lstm | inference n=2048 B=8 | trace lstm_inference_n2048" in where
    assert "| aten::_scaled_dot_product_flash_attention_for_cpu | attention |" in where
    eff = _section(md, "Efficiency")
    assert "cpu float32 2 threads (AMD EPYC 7B13 (2 cores)): 88 GFLOP/s on a 1024³ matmul" in eff
    assert "](figures/flops_efficiency.png)" in eff
    m = re.search(r"- lstm inference, B=8: [\d.]+ GFLOP/s at n=32 to ([\d.]+) GFLOP/s at "
                  r"n=2048, [\d.]+% to ([\d.]+)% of the machine's 88 GFLOP/s matmul peak", eff)
    assert m and m.group(2) == f"{float(m.group(1)) / 88 * 100:.2g}"  # 2 significant digits
    summary = _section(md, "Summary")
    assert "Where the time goes: transformer inference, B=8: attention is" in summary
    assert "Achieved FLOP/s: lstm inference, B=8:" in summary
    table = _section(md, "LSTM vs Transformer, measured")
    assert re.search(r"\| Share of profiled time in its core kernel \(attention / recurrent\) "
                     r"\| recurrent \d+% at n=32 → \d+% at n=2048 \| attention", table)
    assert "| Achieved FLOP/s at largest n (% of matmul peak) |" in table


def test_traces_are_linked_with_how_to_open_them(rendered):
    md = (rendered / "report.md").read_text()
    traces = _section(md, "Traces")
    links = re.findall(r"\]\((traces/[^)]+\.json)\)", traces)
    assert len(links) == 11 and all((rendered / link).is_file() for link in links)
    for link in links:  # each opens as a Chrome trace with operator events
        events = json.loads((rendered / link).read_text())["traceEvents"]
        assert any(e["name"].startswith("aten::") and e["ph"] == "X" for e in events)
    assert "chrome://tracing" in traces and "works offline" in traces
    assert "https://ui.perfetto.dev" in traces
    assert "lstm train_step n=1024 B=8 cpu: trace failed (timeout" in traces
    html = (rendered / "report.html").read_text()
    assert html.count('<a href="traces/') == 11
    assert "## Attention backends" in md and "Backend comparison not available" in md


def test_run_without_ops_peak_or_traces_says_not_available(tmp_path):
    run = tmp_path / "old"
    _write_run(run, [{k: v for k, v in r.items() if k != "ops"}
                     for r in _rows(lambda r: r["threads"] == 2 and r["batch_size"] == 8
                                    and r["phase"] == "inference")])
    render_report(run)
    md = (run / "report.md").read_text()
    assert "Operator breakdown not available" in _section(md, "Where the time goes")
    assert "Matmul peak: not available (no peak.json" in _section(md, "Efficiency")
    assert "Roofline not available: no copy bandwidth" in _section(md, "Efficiency")
    assert "Traces not available" in _section(md, "Traces")
    assert "Backend comparison not available" in _section(md, "Attention backends")
    assert "Streaming decode not available" in _section(md, "Streaming")
    figures = {p.stem for p in (run / "figures").glob("*.png")}
    assert "time_by_category" not in figures
    assert "flops_efficiency" in figures  # FLOPs are in the records; only the peak is missing
    assert "<h2>Where the time goes</h2>" in (run / "report.html").read_text()


def test_roofline_figure_sentences_and_classes(rendered):
    md = (rendered / "report.md").read_text()
    eff = _section(md, "Efficiency")
    assert "](figures/roofline.png)" in eff
    assert "Copy bandwidth 12 GB/s (256 MiB copy, read + write counted)" in eff
    # make_run.py: 88 GFLOP/s / 12 GB/s = 7.33 FLOP/byte; the intensity quoted at n=2048 is
    # the record's flops / bytes_moved
    rec = next(r for r in _rows(lambda r: r["model"] == "transformer" and r["seq_len"] == 2048
                                and r["batch_size"] == 8 and r["threads"] == 2
                                and r["phase"] == "inference"))
    line = next(s for s in eff.splitlines()
                if s.startswith("- Roofline, transformer inference, B=8: "))
    assert f"→ {rec['flops'] / rec['bytes_moved']:.3g} FLOP/byte at n=2048" in line
    assert "(machine balance 7.33 FLOP/byte)" in line and line.endswith(": compute-bound.")
    # the sequential LSTM at batch 1 runs at a few % of its roof: its 28 inference and
    # train_step points are latency-bound; decode (14) reads the weights for one token
    assert "lstm B=1: 14 memory-bound, 28 latency-bound;" in eff
    assert re.search(r"\| lstm \| inference \| cpu \| 1 \| 2 \| 2048 \| .* \| [\d.]+ FLOP/byte "
                     r"\| [\d.]+% \| latency-bound \|", eff)
    table = _section(md, "LSTM vs Transformer, measured")
    assert re.search(r"\| Roofline at largest n: intensity, % of bound, class \| [\d.]+ "
                     r"FLOP/byte at n=2048, \d+%: compute-bound \|", table)


def test_old_run_without_bytes_or_bandwidth_renders(tmp_path):
    run = tmp_path / "old"
    _write_run(run, [{k: v for k, v in r.items() if k not in ("bytes_moved",
                                                              "arithmetic_intensity")}
                     for r in _rows(lambda r: r["batch_size"] == 8 and r["threads"] == 2
                                    and r["phase"] == "inference")])
    peaks = json.loads((RUN / "peak.json").read_text())
    old = [{k: v for k, v in p.items() if "bandwidth" not in k and k != "copy_bytes"}
           for p in peaks]
    (run / "peak.json").write_text(json.dumps(old))
    render_report(run, formats=("md",))
    eff = _section((run / "report.md").read_text(), "Efficiency")
    assert "Roofline not available: no ok record has `bytes_moved`" in eff
    assert "Copy bandwidth: not measured" in eff
    assert "| – | – | – |" in eff  # intensity, % of roofline, bound
    assert not (run / "figures" / "roofline.png").exists()
    assert (run / "figures" / "flops_efficiency.png").exists()


def test_streaming_section_and_comparison_rows(rendered):
    md = (rendered / "report.md").read_text()
    stream = _section(md, "Streaming")
    assert "](figures/decode_vs_context.png)" in stream
    line = next(s for s in stream.splitlines() if s.startswith("- Decoding at batch 8 on cpu"))
    # make_run.py: the LSTM's (h, c) is 2 layers x 2 x (B=8, H=64) fp32 = 8 KiB at every n;
    # the KV cache 2 layers x (K, V) x 8 x (n + 1) x 64 fp32: 264 KiB at n=32, 16 MiB at 2048
    assert "lstm takes" in line and "carries 8 KiB at every n (∝ n^0.00)" in line
    assert "carries 264 KiB at n=32 → 16 MiB at n=2048 (∝ n^0.99)" in line
    lstm_k = float(re.search(r"lstm takes .*? k = (-?[\d.]+);", line).group(1))
    trf_k = float(re.search(r"transformer takes .*? k = [\d.]+; ([\d.]+) for n ≥", line)
                  .group(1))
    assert abs(lstm_k) < 0.05 and trf_k > 0.5  # flat vs growing with the cache
    table = _section(md, "LSTM vs Transformer, measured")
    assert re.search(r"\| Per-token decode cost vs context n \(batch 8\) \| [\d.]+ µs at n=32 → "
                     r"[\d.]+ µs at n=2048 \(k = 0.00; 0.00 for n ≥ 256\) \| ", table)
    assert ("| State memory growth in decode (batch 8) | 8 KiB at every n (k = 0.00) | "
            "264 KiB at n=32 → 16 MiB at n=2048 (k = 0.99) |") in table
    # decode curves are fitted on their own: a phase of the exponent table, not mixed in
    exps = _section(md, "Scaling exponents")
    assert re.search(r"\| transformer \| decode \| cpu \| 8 \| 2 \| 32–2048 \| 0\.[3-6]", exps)


def test_backend_comparison_section(tmp_path):
    from tests.test_opanalysis import write_backend_run

    run = write_backend_run(tmp_path / "backends")
    render_report(run, formats=("md",))
    back = _section((run / "report.md").read_text(), "Attention backends")
    assert "](figures/attention_backends.png)" in back
    assert "peak memory grows as n^1.00 with flash, n^2.00 with math; at n=2048" in back
    assert "efficient skipped (attention backend 'efficient' does not exist on cpu)" in back


def test_run_where_nothing_ran_renders(tmp_path):
    run = tmp_path / "failed"
    _write_run(run, _rows(lambda r: r["status"] != "ok"))
    render_report(run)
    md = (run / "report.md").read_text()
    assert "No point ran successfully" in md and "4 points: 2 oom" in md
    assert [p.stem for p in (run / "figures").glob("*.png")] == ["status_map"]


def test_bad_run_dir_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(UsageError, match="no such run directory"):
        render_report(tmp_path / "nope")
    with pytest.raises(UsageError, match="not a run directory"):
        render_report(tmp_path)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run directory (no results.jsonl)" in err
    assert main(["report", str(RUN), "--format", "pdf"]) == 2
    assert "unknown report format ['pdf']" in capsys.readouterr().err


def test_run_health_counts_contended_precision_and_second_pass(rendered):
    md = (rendered / "report.md").read_text()
    health = md.split("## Run health")[1].split("## All results")[0]
    assert "Contended: 1 of 163 ok points" in health
    assert "| transformer | inference | cpu | 8 | 2 | 512 |" in health.split("Points with")[0]
    assert re.search(r"Precision: \d+% of 163 ok points have a 95% interval", health)
    assert "Measured again by the second pass: 1 points (1 noisy)" in health


@pytest.mark.parametrize("name, content, message", [
    ("env.json", b"{", "env.json: not a JSON file"),
    ("peak.json", b"\xff", "peak.json: not a JSON file"),
    ("results.jsonl", b"\xff\n", "results.jsonl: not UTF-8 text"),
])
def test_broken_run_file_is_one_line_and_writes_nothing(tmp_path, capsys, name, content,
                                                        message):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    (run / name).write_bytes(content)
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (run / "report.html").exists() and not (run / "figures").exists()
