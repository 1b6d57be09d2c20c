"""Each report topic on the saved run tests/data/run_small (no measuring): its section
renders, and the numbers it states are those make_run.py planted.

One test (or a few) per topic module, in the report's reading order; a topic's own
assertions live here, the whole report's (files, figures, HTML) in test_report.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from profiler.report import (
    answer,
    backends,
    claims,
    comparison,
    efficiency,
    environment,
    frontiers,
    health,
    markdown,
    memory,
    missing,
    parallelism,
    plotting,
    results,
    roofline,
    scaling,
    streaming,
    time_breakdown,
    traces,
)
from profiler.report.build import TOPICS
from profiler.report.document import Document, Image, Section
from profiler.report.formats import fmt_bytes
from profiler.report.inputs import load_inputs

RUN = Path(__file__).parent / "data" / "run_small"


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    """Where the figures go (the saved run stays untouched); Markdown links resolve from here."""
    folder = tmp_path_factory.mktemp("topics")
    plotting.prepare(folder / "figures")
    return folder


@pytest.fixture(scope="module")
def inputs():
    return load_inputs(RUN)


@pytest.fixture(scope="module")
def sections(inputs, out) -> dict:
    """Every topic's section, drawn once."""
    return {topic: topic.section(inputs, out / "figures") for topic in TOPICS}


def md(section: Section, out: Path) -> str:
    return markdown.render(Document("t", "", [section]), out)


def _rows(keep) -> list[dict]:
    rows = [json.loads(line) for line in (RUN / "results.jsonl").read_text().splitlines()[:-1]]
    return [r for r in rows if keep(r)]


@pytest.mark.parametrize("topic", TOPICS, ids=lambda t: t.__name__.rsplit(".", 1)[1])
def test_every_topic_renders_its_section_on_the_saved_run(sections, topic, out):
    section = sections[topic]
    if topic is claims:  # run_small has no train folder: the section is left out
        assert section is None
        return
    assert section.title and section.blocks
    assert md(section, out).startswith(f"# t\n\n## {section.title}\n\n")
    for block in section.blocks:
        if isinstance(block, Image):
            assert block.path.parent == out / "figures" and block.path.is_file()


def test_comparison_rows_name_curves_of_the_table(inputs):
    curves = {"lstm", "transformer"}
    for topic in comparison.ROW_TOPICS:
        for row in topic.comparison_rows(inputs):
            assert row.name and set(row.frame["model"]) <= curves, (topic.__name__, row.name)
            assert all(row.cell(r) for _, r in row.frame.iterrows())


def test_the_first_screen_opens_with_the_status_line(sections):
    section = sections[answer]
    assert [section.blocks[0].text] == [
        "168 points: 163 ok, 2 oom, 1 skipped, 1 timeout, 1 never recorded. This run is "
        "partial: see 'What is missing'; fits use the ok points only."]


def test_environment_lists_env_method_and_spec(sections, out):
    text = md(sections[environment], out)
    assert "| torch |" in text and "perf_counter_ns" in text
    assert "<summary>sweep.toml (the exact spec that ran)</summary>" in text
    assert 'name = "small"' in text and "could not be read as a sweep" not in text


def test_comparison_table_has_a_row_from_each_topic(sections, out):
    table = md(sections[comparison], out)
    assert "| measured | lstm | transformer |" in table
    assert re.search(r"\| Share of profiled time in its core kernel \(attention / recurrent\) "
                     r"\| recurrent \d+% at n=32 → \d+% at n=2048 \| attention", table)
    assert "| Achieved FLOP/s at largest n (% of matmul peak) |" in table
    assert re.search(r"\| Roofline at largest n: intensity, % of bound, class \| [\d.]+ "
                     r"FLOP/byte at n=2048, \d+%: compute-bound \|", table)
    assert re.search(r"\| Per-token decode cost vs context n \(batch 8\) \| [\d.]+ µs at n=32 → "
                     r"[\d.]+ µs at n=2048 \(k = 0.00; 0.00 for n ≥ 256\) \| ", table)
    assert ("| State memory growth in decode (batch 8) | 8 KiB at every n (k = 0.00) | "
            "264 KiB at n=32 → 16 MiB at n=2048 (k = 0.99) |") in table
    # each row's cell is written after every topic has given its rows: each keeps its own n
    assert re.search(r"\| Throughput gain from largest batch \(efficiency\) \| [\d.]+× B=1→8 at "
                     r"n=2048 \(\d+%\) \|", table)
    assert re.search(r"\| Thread speedup \(efficiency\) \| [\d.]+× 1→2 threads at n=1024 ", table)


def test_scaling_states_the_planted_laws_and_crossover(sections, out):
    text = md(sections[scaling], out)
    assert text.index("- On cpu, batch") < text.index("](figures/latency_vs_seq_len.png)")
    assert "](figures/quadratic_share.png)" in text
    # batch 8 inference, 2 threads: LSTM linear, Transformer quadratic at large n, crossing
    line = next(s for s in text.splitlines() if s.startswith("- On cpu, batch 8, inference"))
    lstm = float(re.search(r"lstm latency grows as n\^([\d.]+)", line).group(1))
    trf = float(re.search(r"transformer as n\^[\d.]+ \(95% [^)]*\) over n = 32–2048 and "
                          r"n\^([\d.]+)", line).group(1))
    assert 0.85 <= lstm <= 1.15 and trf >= 1.4
    cross = float(re.search(r"transformer becomes slower than lstm at n ≈ (\d+)", line).group(1))
    assert 300 <= cross <= 500  # the laws of make_run.py cross near 420
    assert "fits O(n) best" in text and "fits O(n²) best" in text
    assert "- Fixed cost a ≥ 50% of latency" in text
    # decode curves are fitted on their own: a phase of the exponent table, not mixed in
    assert re.search(r"\| transformer \| decode \| cpu \| 8 \| 2 \| 32–2048 \| 0\.[3-6]", text)
    assert "| cpu | 8 | inference | 2 | lstm vs transformer | n ≈ " in text  # crossovers


def test_parallelism_states_floor_and_gains(sections, out):
    text = md(sections[parallelism], out)
    assert "- Sequential floor: lstm at batch 1 takes" in text
    assert re.search(r"- From batch 1 to 8 at n = 2048 \(inference\), throughput rises "
                     r"[\d.]+× for lstm \(efficiency (9\d|100)%\)", text)
    assert "](figures/throughput_vs_batch.png)" in text
    assert "](figures/thread_speedup.png)" in text


def test_memory_per_token_at_the_largest_shared_n(sections, out):
    # by hand from results.jsonl: the train step at batch 8, 2 threads ran to n = 1024
    # for both families (the Transformer's n = 2048 ran out of memory)
    rows = _rows(lambda r: r["phase"] == "train_step" and r["batch_size"] == 8
                 and r["threads"] == 2 and r["seq_len"] == 1024 and r["status"] == "ok")
    per_token = {r["model"]: r["peak_memory_bytes"] / (8 * 1024) for r in rows}
    assert set(per_token) == {"lstm", "transformer"}
    text = md(sections[memory], out)
    assert (f"- Peak memory per token at n = 1024 (batch 8, train_step): "
            f"{fmt_bytes(per_token['lstm'])} for lstm, "
            f"{fmt_bytes(per_token['transformer'])} for transformer.") in text
    assert "decode): " not in text.split("Peak memory per token", 1)[1]  # one token per call
    row = next(r for r in memory.comparison_rows(load_inputs(RUN))
               if r.name == "Peak memory per token at the largest shared n")
    assert sorted(row.frame["phase"]) == ["inference", "inference"]  # the reference phase


def test_memory_states_exponents(sections, out):
    text = md(sections[memory], out)
    m = re.search(r"- Peak memory \(cpu, batch 8, decode\) grows as n\^([\d.]+) for lstm, "
                  r"n\^([\d.]+) for transformer", text)
    assert m and float(m.group(1)) < 0.05 < float(m.group(2))  # (h, c) vs the KV cache
    assert "](figures/memory_vs_seq_len.png)" in text


def test_frontiers_say_why_curves_stop(sections, out):
    text = md(sections[frontiers], out)
    assert "| 1024 | 2048 | oom: RuntimeError" in text
    assert "| 1024 | 2048 | missing" in text
    assert "- 5 of 24 curves stop before the end of the grid" in text
    assert "](figures/status_map.png)" in text


def test_where_the_time_goes(sections, out):
    where = md(sections[time_breakdown], out)
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


def test_efficiency_against_the_matmul_peak(sections, out):
    eff = md(sections[efficiency], out)
    assert "cpu float32 2 threads (AMD EPYC 7B13 (2 cores)): 88 GFLOP/s on a 1024³ matmul" in eff
    assert "Copy bandwidth 12 GB/s (256 MiB copy, read + write counted)" in eff
    assert "](figures/flops_efficiency.png)" in eff
    m = re.search(r"- lstm inference, B=8: [\d.]+ GFLOP/s at n=32 to ([\d.]+) GFLOP/s at "
                  r"n=2048, [\d.]+% to ([\d.]+)% of the machine's 88 GFLOP/s matmul peak", eff)
    assert m and m.group(2) == f"{float(m.group(1)) / 88 * 100:.2g}"  # 2 significant digits
    # the roofline's columns: the LSTM at batch 1 runs at a few % of its roof
    assert re.search(r"\| lstm \| inference \| cpu \| 1 \| 2 \| 2048 \| .* \| [\d.]+ FLOP/byte "
                     r"\| [\d.]+% \| latency-bound \|", eff)


def test_roofline_figure_sentences_and_classes(sections, out):
    roof = md(sections[roofline], out)
    assert "](figures/roofline.png)" in roof
    # make_run.py: 88 GFLOP/s / 12 GB/s = 7.33 FLOP/byte; the intensity quoted at n=2048 is
    # the record's flops / bytes_moved
    rec = next(r for r in _rows(lambda r: r["model"] == "transformer" and r["seq_len"] == 2048
                                and r["batch_size"] == 8 and r["threads"] == 2
                                and r["phase"] == "inference"))
    line = next(s for s in roof.splitlines()
                if s.startswith("- Roofline, transformer inference, B=8: "))
    assert f"→ {rec['flops'] / rec['bytes_moved']:.3g} FLOP/byte at n=2048" in line
    assert "(machine balance 7.33 FLOP/byte)" in line and line.endswith(": compute-bound.")
    # the sequential LSTM at batch 1 runs at a few % of its roof: its 28 inference and
    # train_step points are latency-bound; decode (14) reads the weights for one token
    assert "lstm B=1: 14 memory-bound, 28 latency-bound;" in roof


def test_backends_without_a_backend_axis(sections, out):
    assert "Backend comparison not available" in md(sections[backends], out)


def test_backend_comparison_section(tmp_path):
    from tests.test_opanalysis import write_backend_run

    run = write_backend_run(tmp_path / "backends")
    plotting.prepare(run / "figures")
    back = md(backends.section(load_inputs(run), run / "figures"), run)
    assert "](figures/attention_backends.png)" in back
    assert "peak memory grows as n^1.00 with flash, n^2.00 with math; at n=2048" in back
    assert "efficient skipped (attention backend 'efficient' does not exist on cpu)" in back


def test_streaming_per_token_cost_and_state(sections, out):
    stream = md(sections[streaming], out)
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


def test_traces_are_linked_with_how_to_open_them(sections, out):
    text = md(sections[traces], out)
    links = re.findall(r"\]\((traces/[^)]+\.json)\)", text)
    assert len(links) == 11 and all((RUN / link).is_file() for link in links)
    for link in links:  # each opens as a Chrome trace with operator events
        events = json.loads((RUN / link).read_text())["traceEvents"]
        assert any(e["name"].startswith("aten::") and e["ph"] == "X" for e in events)
    assert "chrome://tracing" in text and "works offline" in text
    assert "https://ui.perfetto.dev" in text
    assert "lstm train_step n=1024 B=8 cpu: trace failed (timeout" in text


def test_missing_lists_failed_and_never_recorded_points(sections, out):
    text = md(sections[missing], out)
    for status in ("oom", "timeout", "skipped"):
        assert f"| {status} |" in text
    assert "| lstm | 2048 | 8 | cpu | float32 | 2 | train_step |" in text


def test_health_counts_contended_precision_and_second_pass(sections, out):
    text = md(sections[health], out)
    assert "Contended: 1 of 163 ok points" in text
    assert "| transformer | inference | cpu | 8 | 2 | 512 |" in text.split("Points with")[0]
    assert re.search(r"Precision: \d+% of 163 ok points have a 95% interval", text)
    assert "Measured again by the second pass: 1 points (1 noisy)" in text
    noisy = text.split("Points with")[1]
    assert re.search(r"\| lstm \| inference \| cpu \| 1 \| 2 \| 32 \|", noisy)


def test_health_names_a_point_whose_second_attempt_failed(tmp_path):
    import dataclasses

    inputs = load_inputs(RUN)
    records = inputs.records.copy()
    for text in ("remeasure_reason", "remeasure_error"):  # all None in the saved run
        records[text] = records[text].astype(object)
    i = records.index[records["status"] == "ok"][0]
    records.loc[i, "attempt"] = 2
    records.loc[i, "remeasure_reason"] = "noisy"
    records.loc[i, "remeasure_error"] = "timeout: still running after 120 s; worker killed"
    lines = health.health_lines(dataclasses.replace(inputs, records=records), 0)
    r = records.loc[i]
    assert (f"1 of them failed when measured again and keep the numbers of the attempt "
            f"before: {r['model']} {r['phase']} n={r['seq_len']} B={r['batch_size']} "
            f"{r['device']} {r['dtype']} t={r['threads']} (timeout: still running after "
            "120 s; worker killed).") in lines
    # none failed: no such line
    assert not any("failed when measured again" in line for line in health.health_lines(
        inputs, 0))


def test_results_fold_every_record(sections):
    (table,) = sections[results].blocks
    assert table.collapsed and len(table.rows) == 167
    assert table.caption.startswith("Every record (167 rows")
