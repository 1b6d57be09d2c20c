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
from profiler.report import answer, render_report

DATA = Path(__file__).parent / "data"
RUN = DATA / "run_small"
FIGURES = {"headline", "latency_vs_seq_len", "throughput_vs_batch", "memory_vs_seq_len",
           "quadratic_share", "status_map", "thread_speedup", "time_by_category",
           "flops_efficiency", "decode_vs_context", "roofline"}


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


def test_sections_in_reading_order_and_the_answer_first(rendered):
    md = (rendered / "report.md").read_text()
    assert re.findall(r"^## (.*)$", md, re.M) == [
        answer.TITLE, "Environment and method", "LSTM vs Transformer, measured",
        "Scaling with sequence length", "Parallelism", "Recurrent and parallel: the scan",
        "Memory", "Frontiers", "Where the time goes", "Efficiency", "Roofline",
        "Attention backends", "Streaming", "Traces", "What is missing",
        "Run health: contended, noisy and re-measured points", "All results"]
    assert _section(md, answer.TITLE).strip().startswith(
        "168 points: 163 ok, 2 oom, 1 skipped, 1 timeout, 1 never recorded. This run is "
        "partial: see 'What is missing'; fits use the ok points only.\n\n![")
    html = (rendered / "report.html").read_text()
    assert html.count('<a href="traces/') == 11  # linked in place, not embedded


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


def test_run_without_ops_peak_or_traces_says_not_available(tmp_path):
    run = tmp_path / "old"
    _write_run(run, [{k: v for k, v in r.items() if k != "ops"}
                     for r in _rows(lambda r: r["threads"] == 2 and r["batch_size"] == 8
                                    and r["phase"] == "inference")])
    render_report(run)
    md = (run / "report.md").read_text()
    assert "Operator breakdown not available" in _section(md, "Where the time goes")
    assert "Matmul peak: not available (no peak.json" in _section(md, "Efficiency")
    assert "Roofline not available: no copy bandwidth" in _section(md, "Roofline")
    assert "Traces not available" in _section(md, "Traces")
    assert "Backend comparison not available" in _section(md, "Attention backends")
    assert "Streaming decode not available" in _section(md, "Streaming")
    figures = {p.stem for p in (run / "figures").glob("*.png")}
    assert "time_by_category" not in figures
    assert "flops_efficiency" in figures  # FLOPs are in the records; only the peak is missing
    assert "<h2>Where the time goes</h2>" in (run / "report.html").read_text()


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
    md = (run / "report.md").read_text()
    assert "Roofline not available: no ok record has `bytes_moved`" in _section(md, "Roofline")
    eff = _section(md, "Efficiency")
    assert "Copy bandwidth: not measured" in eff
    assert "| – | – | – |" in eff  # intensity, % of roofline, bound
    assert not (run / "figures" / "roofline.png").exists()
    assert (run / "figures" / "flops_efficiency.png").exists()


def test_unreadable_spec_renders_with_a_note(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    (run / "sweep.toml").write_text('name = "small"\n[grid]\nmodel = ["lstm"]\n')  # no seq_len
    render_report(run, formats=("md",))
    env = _section((run / "report.md").read_text(), "Environment and method")
    assert ("sweep.toml could not be read as a sweep (" in env
            and "[grid].seq_len: missing (expected a list)), so grid points with no record are "
                "not listed." in env)
    assert "1 never recorded" not in (run / "report.md").read_text()


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


def test_the_first_screen_is_the_headline_figure_then_the_verdict_table(rendered):
    """Before any other table or list, in both formats: the status line, the headline
    figure, the verdict table (the contents list comes after the answer)."""
    html = (rendered / "report.html").read_text()
    body = html.split("<body>", 1)[1]
    first_img = body.index("<img")
    first_table = body.index("<table")
    assert 'alt="LSTM vs Transformer: latency against sequence length"' in body[first_img:
                                                                             first_table]
    assert "<th>verdict</th>" in body[first_table:body.index("</table>")]
    before = body[:first_table]
    assert "<ul" not in before and "<ol" not in before and "<nav" not in before
    md = (rendered / "report.md").read_text()
    first_md_table = md.index("\n| ")
    assert md.index("![LSTM vs Transformer: latency against sequence length]") < first_md_table
    assert md[first_md_table:].startswith("\n| claim | what the textbooks say | measured here |")
    assert not re.search(r"^(- |\d+\. )", md[:first_md_table], re.M)  # no list before it


def test_a_batch_has_the_same_marker_a_curve_and_a_phase_the_same_place_in_every_figure():
    import matplotlib.pyplot as plt
    import pandas as pd

    from profiler.report import plotting

    # rows in the order a sweep might write them: B=8 and transformer first; B=16
    # after B=8 in number, before it in text
    rows = [(p, m, b, n) for p in ("train_step", "inference") for m in ("transformer", "lstm")
            for b in (8, 16, 1) for n in (32, 64)]
    data = pd.DataFrame(rows, columns=["phase", "model", "batch_size", "seq_len"]).assign(
        latency_ms=lambda d: d["seq_len"] * d["batch_size"] * 1e-2,
        device="cpu", batch=lambda d: [f"B={b}" for b in d["batch_size"]])
    assert plotting.legend_orders(data) == {"hue_order": ["lstm", "transformer"],
                                            "style_order": ["B=1", "B=8", "B=16"]}
    g = plotting.loglog_grid(data, "latency_ms", "ms", plotting.palette(data["model"]))
    texts = [t.get_text() for t in g.legend.get_texts()]
    assert texts == ["model", "lstm", "transformer", "batch", "B=1", "B=8", "B=16"]
    # rows of panels in the order a sweep runs the phases
    assert [ax.get_title() for ax in g.axes.flat] == ["inference · cpu", "train_step · cpu"]
    plt.close(g.figure)


@pytest.mark.parametrize("models, phases", [(["lstm"], ["inference"]),
                                            (["lstm", "mingru", "transformer"],
                                             ["inference", "train_step"])])
def test_the_status_maps_title_and_legend_sit_just_above_its_panels(models, phases):
    import matplotlib.pyplot as plt
    import pandas as pd

    from profiler.report.frontiers import plot_status_map

    rows = [dict(model=m, batch_size=b, device="cpu", dtype="float32", threads=t, phase=p,
                 attention="default", seq_len=n, status="ok")
            for m in models for p in phases for t in (1, 2) for b in (1, 8)
            for n in (32, 128, 512)]
    fig = plot_status_map(pd.DataFrame(rows), pd.DataFrame())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    legend = fig.legends[0].get_window_extent(renderer)
    panels = max(ax.title.get_window_extent(renderer).y1 for ax in fig.axes)
    # top to bottom: title, legend, the first row of panels' titles, without overlap ...
    assert title.y0 >= legend.y1 - 1 and legend.y0 >= panels - 1
    # ... and no empty band between them: under 0.25 in from the legend to the panels
    assert legend.y0 - panels < 0.25 * fig.dpi
    plt.close(fig)
