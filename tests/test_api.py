"""The Python API (profiler/api.py): the README's example, overrides, load, compare,
and the CLI as a layer over it."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import profiler
from profiler import api
from profiler.cli import main
from profiler.errors import UsageError
from profiler.measure.worker import process_environment
from profiler.records import point_of, result_row
from profiler.run import store
from profiler.run.grid import expand
from profiler.run.runner import RunSummary
from profiler.run.spec import to_toml

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "tests" / "data" / "run_small"


def readme_example() -> str:
    """The first ```python block of the README's "Python API" section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the Python API section has no python example"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_example_runs_and_measures(tmp_path, monkeypatch):
    code = readme_example()
    assert 'out="reports/api-demo"' in code  # relative: it lands in tmp_path
    monkeypatch.chdir(tmp_path)  # presets come from the sweeps/ beside the package
    namespace: dict = {}
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(compile(code, "README.md", "exec"), namespace)
    run = namespace["run"]
    assert isinstance(run, profiler.Run)
    assert run.dir == Path("reports/api-demo")
    assert (tmp_path / "reports" / "api-demo" / "results.jsonl").is_file()
    records = profiler.load(tmp_path / "reports" / "api-demo").records
    assert len(records) == 2 and set(records["seq_len"]) == {16, 32}
    assert (records["status"] == "ok").all(), list(records["error"])
    assert (records["latency_s"] > 0).all()
    fits = run.fits
    assert list(fits["model"]) == ["lstm"] and math.isfinite(fits["k"].iloc[0])
    for name in ("report.html", "report.md", "sweep.toml", "env.json", "results.csv"):
        assert (run.dir / name).is_file(), name
    # the variables the measuring processes started with, as the preset's [timing] asks
    timing = run.spec.timing
    assert profiler.load(run.dir).env["measuring_process_env"] == process_environment(
        timing.huge_pages, timing.keep_freed_memory)
    printed = stdout.getvalue()
    assert "report.html" in printed and "latency_s" in printed


# --- sweep(): overrides ----------------------------------------------------------------


def test_an_unknown_override_is_named_with_the_valid_axes(tmp_path, in_repo):
    out = tmp_path / "run"
    with pytest.raises(UsageError) as e:
        profiler.sweep("smoke", out=out, seqlen=[16])
    message = str(e.value)
    assert "unknown grid axis 'seqlen'" in message
    assert "seq_len" in message and "batch_size" in message and "threads" in message
    assert not out.exists()


@pytest.mark.parametrize("override, expected", [
    (dict(seq_len=[16, -4]), "overrides: [grid].seq_len: expected a list of positive "
                             "integers, got -4"),
    (dict(seq_len=[]), "overrides: [grid].seq_len: expected a non-empty list"),
    (dict(model=["rnn9"]), "unknown model 'rnn9'"),
    (dict(phase=["fwd"]), "[grid].phase: expected one of inference"),
    (dict(threads=[1.5]), "[grid].threads: expected a list of positive integers, got 1.5"),
])
def test_override_values_are_checked_as_a_sweep_file_is(tmp_path, in_repo, override,
                                                         expected):
    out = tmp_path / "run"
    with pytest.raises(UsageError, match=re.escape(expected)):
        profiler.sweep("smoke", out=out, **override)
    assert not out.exists()


LEARNED = """name = "learned"
[grid]
model = ["transformer"]
seq_len = [16]
[models.transformer]
d_model = 16
heads = 2
layers = 1
positions = "learned"
max_len = 32
"""


def test_overrides_revalidate_the_whole_spec(tmp_path):
    """A seq_len longer than the learned position table is refused: the override goes
    through the file's validation, not an axis check of its own."""
    path = tmp_path / "learned.toml"
    path.write_text(LEARNED)
    with pytest.raises(UsageError, match=r"\[models.transformer\].max_len: expected at "
                                         r"least 64"):
        profiler.sweep(str(path), out=tmp_path / "run", seq_len=[16, 64])


def fake_run_sweep(calls, latency=lambda p: 1e-4 * p.seq_len, status="ok"):
    """sweep.run_sweep minus the measuring: every point ok with ``latency(point)`` s."""

    def run_sweep(spec, run_dir, resume=False, progress=True):
        calls.append(dict(spec=spec, run_dir=run_dir, resume=resume, progress=progress))
        with store.RunStore(run_dir) as out:
            for p in expand(spec):
                lat = latency(p)
                out.append(result_row(p, status=status, latency_s=lat if status == "ok"
                                      else None, error=None if status == "ok" else "boom",
                                      instance_medians_s=[lat, lat], instances=2))
        return RunSummary(counts={status: len(expand(spec))})

    return run_sweep


def test_overrides_reach_the_run_and_the_fits(tmp_path, in_repo, monkeypatch):
    import profiler.run.sweep

    calls = []
    monkeypatch.setattr(profiler.run.sweep, "run_sweep", fake_run_sweep(calls))
    run = profiler.sweep("smoke", out=tmp_path / "run", model=["lstm"], phase=["inference"],
                         seq_len=(16, 32, 64), report=False)
    (call,) = calls
    assert call["spec"].grid["model"] == ("lstm",)
    assert call["spec"].grid["seq_len"] == (16, 32, 64)
    assert call["spec"].grid["batch_size"] == (2,)  # the preset's other axes stay
    assert call["spec"].source.endswith("smoke.toml")
    assert (call["run_dir"], call["resume"], call["progress"]) == (tmp_path / "run", False,
                                                                    False)
    assert run.spec is call["spec"] and run.summary.counts == {"ok": 3}
    assert list(run.records["seq_len"]) == [16, 32, 64]
    (fit,) = run.fits.itertuples()
    assert (fit.model, fit.phase) == ("lstm", "inference")
    assert fit.k == pytest.approx(1.0)  # latency planted ∝ n
    assert run.report_paths == []


@pytest.mark.parametrize("status, rendered", [("ok", True), ("error", False)])
def test_the_report_is_rendered_when_a_point_is_ok(tmp_path, in_repo, monkeypatch, status,
                                                   rendered):
    import profiler.report
    import profiler.run.sweep

    monkeypatch.setattr(profiler.run.sweep, "run_sweep", fake_run_sweep([], status=status))
    rendered_dirs = []

    def render_report(run_dir, formats, train_dir=None):
        rendered_dirs.append((Path(run_dir), formats))
        return [Path(run_dir) / "report.html"]

    monkeypatch.setattr(profiler.report, "render_report", render_report)
    run = profiler.sweep("smoke", out=tmp_path / "run", model=["lstm"], phase=["inference"],
                         seq_len=[16])
    assert rendered_dirs == ([(tmp_path / "run", ("html", "md"))] if rendered else [])
    assert run.report_paths == ([tmp_path / "run" / "report.html"] if rendered else [])


def test_without_out_the_run_lands_in_reports(tmp_path, in_repo, monkeypatch):
    import profiler.run.sweep

    calls = []
    monkeypatch.setattr(profiler.run.sweep, "run_sweep", fake_run_sweep(calls))
    monkeypatch.chdir(tmp_path)
    run = profiler.sweep("smoke", model=["lstm"], phase=["inference"], seq_len=[16],
                         report=False)
    assert run.dir.parent == Path("reports")
    assert re.fullmatch(r"smoke-\d{8}-\d{6}", run.dir.name)


def test_resume_takes_the_runs_spec_and_refuses_another(tmp_path, in_repo, monkeypatch):
    import profiler.run.sweep

    calls = []
    monkeypatch.setattr(profiler.run.sweep, "run_sweep", fake_run_sweep(calls))
    out = tmp_path / "run"
    first = profiler.sweep("smoke", out=out, model=["lstm"], phase=["inference"],
                           seq_len=[16, 32], report=False)
    store.write_text(out / store.SWEEP_FILE, to_toml(first.spec))  # as run_sweep does
    with pytest.raises(UsageError, match="already holds results; pass --resume"):
        profiler.sweep("smoke", out=out, report=False)
    again = profiler.sweep(out=out, resume=True, report=False)
    assert to_toml(calls[-1]["spec"]) == to_toml(first.spec) and calls[-1]["resume"]
    assert again.dir == out
    with pytest.raises(UsageError, match="differs from the spec of the run"):
        profiler.sweep(out=out, resume=True, seq_len=[64])
    with pytest.raises(UsageError, match="nothing to resume"):
        profiler.sweep(out=tmp_path / "empty", resume=True)


# --- load() and Run --------------------------------------------------------------------


def test_load_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(UsageError, match="no such run directory"):
        profiler.load(tmp_path / "nope")
    with pytest.raises(UsageError, match=r"not a run directory \(no results.jsonl\)"):
        profiler.load(tmp_path)


def test_a_saved_run_reads_back(tmp_path):
    run = profiler.load(RUN)
    text = (RUN / "results.jsonl").read_text()
    complete = text[: text.rfind("\n") + 1].splitlines()  # the saved run ends mid-line
    assert len(run.history) == len(complete)
    ids = {json.loads(line)["point_id"] for line in complete}
    assert len(run.records) == len(run.rows) == len(ids) < len(complete)
    failed = run.records[run.records["status"] != "ok"]
    assert len(failed) and failed["latency_s"].isna().all()  # no number leaks from failures
    assert run.spec.name == "small" and run.env["torch"] == json.loads(
        (RUN / "env.json").read_text())["torch"]
    assert {"lstm", "transformer"} <= set(run.fits["model"])
    assert run.fits["k"].notna().all()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "results.jsonl").write_text("")
    assert list(profiler.load(empty).fits.columns[:2]) == ["model", "device"]  # no rows
    with pytest.raises(UsageError, match="no such sweep file"):
        _ = profiler.load(empty).spec


# --- compare() ---------------------------------------------------------------------------


def test_a_run_compared_with_itself_has_no_regression():
    result = profiler.compare(RUN, profiler.load(RUN))
    rows = profiler.load(RUN).rows
    clean = sum(r["status"] == "ok" and not r.get("contended") for r in rows)
    assert not result.regressed
    assert [c.verdict for c in result.rows].count("unchanged") == clean
    assert {c.verdict for c in result.rows} <= {"unchanged", "inconclusive", "not-comparable"}
    assert result.summary.startswith(f"{clean} unchanged")
    assert result.warnings == () and result.threshold == 0.10


def doctored_copy(tmp_path, factor=1.5, count=3) -> tuple[Path, set[str]]:
    """run_small with ``count`` clean ok points made ``factor`` times slower (every
    instance and sample); the labels of those points."""
    new = tmp_path / "new"
    shutil.copytree(RUN, new)
    lines = store.read_jsonl(new / "results.jsonl")
    slow = [r["point_id"] for r in profiler.load(RUN).rows
            if r["status"] == "ok" and not r.get("contended")][:: 40][:count]
    for r in lines:
        if r["point_id"] in slow:
            for key in ("latency_s", "latency_min_s", "latency_mean_s", "latency_iqr_s"):
                r[key] *= factor
            for key in ("latency_samples_s", "instance_medians_s"):
                r[key] = [x * factor for x in r[key]]
    (new / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    labels = {point_of(r).label() for r in lines if r["point_id"] in slow}
    return new, labels


def test_a_doctored_copy_with_slower_instances_regresses(tmp_path):
    new, slowed = doctored_copy(tmp_path)
    result = profiler.load(new).compare(RUN)  # new against the saved run as baseline
    assert result.regressed
    assert {c.label for c in result.rows if c.verdict == "regressed"} == slowed
    assert result.summary.startswith("3 regressed")
    # 50% slower is within a 60% threshold
    assert not profiler.compare(RUN, new, threshold="60%").regressed
    assert profiler.compare(RUN, new, threshold=0.2).regressed
    assert not profiler.compare(new, RUN).regressed  # the other way round it improved


def test_a_spec_change_is_refused_unless_allowed(tmp_path):
    new = tmp_path / "new"
    shutil.copytree(RUN, new)
    toml = (new / "sweep.toml").read_text()
    (new / "sweep.toml").write_text(toml.replace("point_seconds = 5.0", "point_seconds = 9.0"))
    with pytest.raises(UsageError, match=r"\[budget\].point_seconds: 5.0 -> 9.0"):
        profiler.compare(RUN, new)
    result = profiler.compare(RUN, new, allow_spec_change=True)
    assert "sweep.toml [budget].point_seconds: 5.0 -> 9.0" in result.warnings


@pytest.mark.parametrize("threshold, message", [
    (10, "expected a fraction"), ("5", "ambiguous"), (float("nan"), "expected a fraction"),
    (-0.1, "expected a fraction"), (True, "expected a fraction")])
def test_a_bad_threshold_is_a_usage_error(threshold, message):
    with pytest.raises(UsageError, match=message):
        profiler.compare(RUN, RUN, threshold=threshold)


# --- the package and the CLI ---------------------------------------------------------------


def test_import_profiler_stays_light():
    """The API is imported on first use: `import profiler` and --help load no torch."""
    code = ("import sys, profiler\n"
            "from profiler.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'pandas', 'profiler.api') if m in sys.modules]\n"
            "assert heavy == [], heavy\n"
            "assert profiler.load.__module__ == 'profiler.api'\n"
            "try:\n    profiler.nothing\nexcept AttributeError as e:\n"
            "    assert 'nothing' in str(e)\nelse:\n    raise SystemExit('no AttributeError')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert set(profiler.__all__) >= {"sweep", "load", "compare", "Run", "RunComparison"}


@pytest.mark.parametrize("argv, name", [
    (["sweep", "smoke", "--quiet"], "sweep"),
    (["report", str(RUN)], "load"),
    (["compare", str(RUN), str(RUN)], "compare"),
])
def test_the_cli_goes_through_the_api(argv, name, monkeypatch, capsys, in_repo):
    def via_api(*args, **kwargs):
        raise UsageError(f"reached api.{name}")

    monkeypatch.setattr(api, name, via_api)
    assert main(argv) == 2
    assert f"reached api.{name}" in capsys.readouterr().err
