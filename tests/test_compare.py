"""`python -m profiler compare` on synthetic run directories written here.

Samples come from seeded generators, so every verdict is deterministic; the
noise level (lognormal, ~5% spread, 30 samples, a few outliers) is what the
adaptive timer leaves on a quiet CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest

from profiler import compare
from profiler.cli import main
from profiler.errors import UsageError
from profiler.records import Point, result_row

# The shape profiler.envinfo writes (abridged).
ENV = {"host": "box", "python": "3.12.3", "torch": "2.13.0+cpu", "cuda": None, "cudnn": None,
       "cpu": "Xeon", "git_commit": "aaaa", "collected_at": "2026-01-01T00:00:00+00:00",
       "devices": [{"device": "cpu", "name": "Xeon", "cores": 2},
                   {"device": "cuda:0", "name": "H100", "state": {"sm_clock_mhz": 1980}}]}


def grid(models=("lstm", "transformer"), seq_lens=(64, 128, 256), phases=("inference",
                                                                          "train_step")):
    return [Point(model=m, seq_len=n, batch_size=4, device="cpu", dtype="float32", threads=2,
                  phase=ph) for m in models for ph in phases for n in seq_lens]


def samples(rng, median_s, n=30, spread=0.05):
    """Lognormal timings around median_s with one slow outlier in ten (a GC, a context switch)."""
    s = median_s * rng.lognormal(0.0, spread, n)
    s[rng.random(n) < 0.1] *= 1.5
    return s.tolist()


def base_latency(p: Point) -> float:
    return 1e-5 * p.seq_len * (3 if p.phase == "train_step" else 1)


def write_run(path, points, seed, slow=None, env=ENV, status=None, **row_fields):
    """A run directory: results.jsonl (+ env.json); slow maps point -> latency factor."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "results.jsonl", "w") as f:
        for p in points:
            st = (status or {}).get(p, "ok")
            lat = base_latency(p) * (slow or {}).get(p, 1.0)
            fields = dict(family=p.model, status=st, **row_fields)
            if st == "ok":
                fields["latency_samples_s"] = samples(rng, lat)
                fields["latency_s"] = float(np.median(fields["latency_samples_s"]))
            else:
                fields["error"] = st
            f.write(json.dumps(result_row(p, **fields)) + "\n")
    if env is not None:
        (path / "env.json").write_text(json.dumps(env))
    return path


def by_label(comps):
    return {c.label: c for c in comps}


def test_planted_slowdown_flags_exactly_those_points(tmp_path, capsys):
    points = grid()
    slowed = {points[1]: 1.2, points[7]: 1.2, points[11]: 1.2}
    base = write_run(tmp_path / "base", points, seed=1)
    new = write_run(tmp_path / "new", points, seed=2, slow=slowed)

    assert main(["compare", str(base), str(new)]) == 1
    comps = compare.compare_runs(compare.load_run(base), compare.load_run(new), 0.05)
    flagged = {c.label for c in comps if c.verdict == "regressed"}
    assert flagged == {p.label() for p in slowed}
    for c in comps:
        if c.verdict == "regressed":
            assert c.lo < 1.2 < c.hi and 1.1 < c.ratio < 1.3
        else:
            assert c.verdict == "unchanged" and c.lo < 1 < c.hi
    out = capsys.readouterr().out
    assert "3 regressed, 9 unchanged" in out


def test_noise_only_exits_zero(tmp_path, capsys):
    points = grid()
    base = write_run(tmp_path / "base", points, seed=3)
    new = write_run(tmp_path / "new", points, seed=4)
    assert main(["compare", str(base), str(new)]) == 0
    assert "12 unchanged" in capsys.readouterr().out


def test_false_alarm_rate_under_noise_is_small_and_power_is_high():
    # 400 independent noise-only pairs: the rule promises <= 2.5% false alarms
    # per point; the same pairs with a planted 20% slowdown must all be caught.
    rng = np.random.default_rng(5)
    false_alarms = caught = 0
    for _ in range(400):
        b, n = np.array(samples(rng, 1e-3)), np.array(samples(rng, 1e-3))
        for factor in (1.0, 1.2):
            verdict = compare.classify(*compare.ratio_interval(b, factor * n, 1000), 0.05)
            if verdict == "regressed":
                false_alarms += factor == 1.0
                caught += factor == 1.2
    assert false_alarms <= 10
    assert caught == 400


def test_threshold_decides_small_slowdowns(tmp_path):
    # A clear (significant) 3% slowdown: within a 5% threshold, beyond a 1% one.
    points = grid(models=("lstm",), phases=("inference",), seq_lens=(64,))
    rng = np.random.default_rng(6)
    b = np.array(samples(rng, 1e-3, n=400, spread=0.01))
    n = 1.03 * np.array(samples(rng, 1e-3, n=400, spread=0.01))
    ratio, lo, hi = compare.ratio_interval(b, n)
    assert lo > 1
    assert compare.classify(ratio, lo, hi, 0.05) == "unchanged"
    assert compare.classify(ratio, lo, hi, 0.01) == "regressed"
    base = write_run(tmp_path / "base", points, seed=7)
    new = write_run(tmp_path / "new", points, seed=8, slow={points[0]: 1.2})
    assert main(["compare", str(base), str(new), "--threshold", "25%"]) == 0
    assert main(["compare", str(base), str(new), "--threshold", "0.1"]) == 1


def test_improvement_is_reported_and_passes(tmp_path):
    points = grid()
    base = write_run(tmp_path / "base", points, seed=9)
    new = write_run(tmp_path / "new", points, seed=10, slow={points[0]: 0.8})
    assert main(["compare", str(base), str(new)]) == 0
    comps = by_label(compare.compare_runs(compare.load_run(base), compare.load_run(new), 0.05))
    assert comps[points[0].label()].verdict == "improved"
    assert sum(c.verdict == "improved" for c in comps.values()) == 1


def test_mismatched_grids_report_only_in_base_and_new(tmp_path, capsys):
    base = write_run(tmp_path / "base", grid(seq_lens=(64, 128)), seed=11)
    new = write_run(tmp_path / "new", grid(seq_lens=(128, 256)), seed=12)
    assert main(["compare", str(base), str(new)]) == 0
    comps = compare.compare_runs(compare.load_run(base), compare.load_run(new), 0.05)
    verdicts = {(c.sort_key[-1], c.verdict) for c in comps}
    assert verdicts == {(64, "only-in-base"), (128, "unchanged"), (256, "only-in-new")}
    assert "4 unchanged, 4 only-in-base, 4 only-in-new" in capsys.readouterr().out


def test_failures_on_either_side(tmp_path):
    points = grid(models=("lstm",), phases=("train_step",))  # n = 64, 128, 256
    base = write_run(tmp_path / "base", points, seed=13, status={points[1]: "timeout",
                                                                 points[2]: "oom"})
    new = write_run(tmp_path / "new", points, seed=14, status={points[0]: "oom",
                                                               points[2]: "oom"})
    comps = compare.compare_runs(compare.load_run(base), compare.load_run(new), 0.05)
    got = [(c.verdict, c.note) for c in comps]
    assert got == [("regressed", "new failed: oom"), ("improved", "base failed: timeout"),
                   ("not-comparable", "base oom, new oom")]
    assert main(["compare", str(base), str(new)]) == 1


def test_skipped_and_few_samples_are_not_regressions(tmp_path):
    points = grid(models=("lstm",), phases=("inference",), seq_lens=(64,))
    base = write_run(tmp_path / "base", points, seed=15)
    new = write_run(tmp_path / "new", points, seed=16, status={points[0]: "skipped"})
    assert main(["compare", str(base), str(new)]) == 0
    row = result_row(points[0], status="ok", latency_samples_s=[2e-3, 2e-3])  # 2x, 2 samples
    c = compare.compare_pair(points[0].point_id, result_row(points[0], status="ok",
                             latency_samples_s=[1e-3] * 2), row, 0.05)
    assert c.verdict == "inconclusive" and "too few samples" in c.note


def test_rows_without_point_id_match_by_point_fields(tmp_path):
    points = grid(models=("lstm",), phases=("inference",))
    base = write_run(tmp_path / "base", points, seed=17)
    lines = (base / "results.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    for r in rows:
        del r["point_id"], r["attention"]  # an older writer: default attention
    (base / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    new = write_run(tmp_path / "new", points, seed=18)
    comps = compare.compare_runs(compare.load_run(base), compare.load_run(new), 0.05)
    assert [c.verdict for c in comps] == ["unchanged"] * 3


def test_env_differences_warn_loudly_on_stderr_and_in_files(tmp_path, capsys):
    points = grid(models=("lstm",), phases=("inference",), seq_lens=(64,))
    base = write_run(tmp_path / "base", points, seed=19, device_name="Xeon")
    env = dict(ENV, torch="2.14.0+cpu", git_commit="bbbb", host=None)
    del env["cpu"]  # a key on one side only is not compared
    new = write_run(tmp_path / "new", points, seed=20, env=env, device_name="EPYC")
    for fmt in ("md", "html"):
        assert main(["compare", str(base), str(new), "--format", fmt]) == 0
        err = capsys.readouterr().err
        assert "WARNING: runs differ: torch: 2.13.0+cpu -> 2.14.0+cpu" in err
        assert "host: box -> null" in err
        assert "device_name: Xeon -> EPYC" in err
        assert "git_commit" not in err and "cpu:" not in err
        text = (new / f"compare.{fmt}").read_text()
        assert "WARNING: runs differ:" in text and "2.14.0+cpu" in text
        assert "git_commit: aaaa -&gt; bbbb" in text if fmt == "html" else "aaaa -> bbbb" in text
    assert "<script" not in text and "http" not in text  # self-contained


def test_device_name_change_warns_but_gpu_state_does_not(tmp_path, capsys):
    points = grid(models=("lstm",), phases=("inference",), seq_lens=(64,))
    base = write_run(tmp_path / "base", points, seed=28)
    devices = [ENV["devices"][0], {"device": "cuda:0", "name": "H100", "state": {"x": 1}}]
    new = write_run(tmp_path / "new", points, seed=29,
                    env=dict(ENV, devices=devices, collected_at="later"))
    assert main(["compare", str(base), str(new)]) == 0
    assert capsys.readouterr().err == ""
    devices[1] = {"device": "cuda:0", "name": "A100"}
    write_run(new, points, seed=29, env=dict(ENV, devices=devices))
    assert main(["compare", str(base), str(new)]) == 0
    err = capsys.readouterr().err
    assert "WARNING: runs differ: devices: " in err and "cuda:0 A100" in err


def test_same_env_no_warning_and_missing_env_warns(tmp_path, capsys):
    points = grid(models=("lstm",), phases=("inference",), seq_lens=(64,))
    base = write_run(tmp_path / "base", points, seed=21)
    new = write_run(tmp_path / "new", points, seed=22)
    assert main(["compare", str(base), str(new)]) == 0
    assert "WARNING" not in capsys.readouterr().err
    (new / "env.json").unlink()
    assert main(["compare", str(base), str(new)]) == 0
    assert "has no env.json" in capsys.readouterr().err


def test_markdown_and_html_files(tmp_path):
    points = grid()
    base = write_run(tmp_path / "base", points, seed=23)
    new = write_run(tmp_path / "new", points, seed=24, slow={points[3]: 1.5})
    out = tmp_path / "report.md"
    assert main(["compare", str(base), str(new), "--format", "md", "--out", str(out)]) == 1
    md = out.read_text()
    assert md.count("**regressed**") == 1 and points[3].label() in md
    table_rows = [line for line in md.splitlines() if line.startswith("| lstm")
                  or line.startswith("| transformer")]
    assert len(table_rows) == 12
    assert main(["compare", str(base), str(new), "--format", "html"]) == 1
    page = (new / "compare.html").read_text()
    assert page.count("<tr class='regressed'>") == 1


@pytest.mark.parametrize("make_args, message", [
    (lambda t: [str(t / "nope"), str(t / "new")], "no such run directory"),
    (lambda t: [str(t / "empty"), str(t / "new")], "not a run directory (no results.jsonl)"),
    (lambda t: [str(t / "new"), str(t / "new"), "--threshold", "5"], "ambiguous"),
    (lambda t: [str(t / "new"), str(t / "new"), "--threshold", "x%"], "expected a percentage"),
    (lambda t: [str(t / "new"), str(t / "new"), "--format", "pdf"], "expected table, md or html"),
    (lambda t: [str(t / "new"), str(t / "new"), "--threshold", "nan%"], "between 0% and 1000%"),
    (lambda t: [str(t / "new"), str(t / "new"), "--threshold", "inf%"], "between 0% and 1000%"),
    (lambda t: [str(t / "new"), str(t / "new"), "--threshold=-5%"], "between 0% and 1000%"),
    (lambda t: [str(t / "new"), str(t / "new"), "--format", "md", "--out",
                str(t / "no" / "x.md")], "does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, make_args, message):
    write_run(tmp_path / "new", grid(seq_lens=(64,)), seed=25)
    (tmp_path / "empty").mkdir()
    assert main(["compare", *make_args(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


@pytest.mark.parametrize("line, message", [
    (b"{not json\n", "not a JSON record"),
    (b"[1, 2]\n", "expected a JSON object, got list"),
    (b'{"model": "caf\xff"}\n', "not UTF-8 text"),
    (b"[" * 100000 + b"\n", "not a JSON record (nested too deeply)"),
])
def test_corrupt_results_line_is_exit_2(tmp_path, capsys, line, message):
    run = write_run(tmp_path / "base", grid(seq_lens=(64,)), seed=26)
    with open(run / "results.jsonl", "ab") as f:
        f.write(line)
    assert main(["compare", str(run), str(run)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("text, value", [("5%", 0.05), ("0.05", 0.05), ("12.5%", 0.125),
                                         ("0", 0.0)])
def test_parse_threshold(text, value):
    assert compare.parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["5", "-1%", "abc", "2000%"])
def test_parse_threshold_rejects(text):
    with pytest.raises(UsageError):
        compare.parse_threshold(text)


def test_bootstrap_is_deterministic_and_brackets_known_ratio():
    rng = np.random.default_rng(27)
    b = rng.lognormal(0, 0.05, 50)
    n = 1.2 * rng.lognormal(0, 0.05, 50)
    first, second = compare.ratio_interval(b, n), compare.ratio_interval(b, n)
    assert first == second
    ratio, lo, hi = first
    assert ratio == pytest.approx(np.median(n) / np.median(b))
    assert lo < ratio < hi and lo < 1.2 < hi and hi - lo < 0.1


@pytest.mark.parametrize("ratio, lo, hi, verdict", [
    (1.08, 1.02, 1.14, "regressed"),  # beyond 5% and significant, though lo < 1.05
    (1.08, 0.99, 1.17, "unchanged"),  # beyond 5% but the interval reaches 1: noise
    (1.03, 1.01, 1.05, "unchanged"),  # significant but within the threshold: drift
    (0.92, 0.88, 0.98, "improved"),  # 1/0.92 = 1.087 > 1.05, interval below 1
    (0.96, 0.93, 0.99, "unchanged"),  # 1/0.96 = 1.042 < 1.05
])
def test_classify_rule(ratio, lo, hi, verdict):
    assert compare.classify(ratio, lo, hi, 0.05) == verdict
