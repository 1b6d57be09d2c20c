"""`compare --confirm`: the regressed points of NEW measured again, in fresh processes,
and judged again. Scripted workers play the machine: a slow spell that does not
repeat, and a slower code path that does."""

from __future__ import annotations

import json

import pytest

from profiler import api
from profiler.analyze import compare
from profiler.cli import main
from profiler.errors import UsageError
from profiler.measure import instances
from profiler.run import confirm, runner
from tests.compare_runs import base_latency, grid, write_run
from tests.fake_workers import ScriptedWorker, around


@pytest.fixture
def runs(tmp_path):
    """base, and new with two points 1.3x slow in all their instances: ``spell`` (the
    machine's, it will not repeat) and ``slower`` (the code's, it will)."""
    points = grid()
    spell, slower = points[1], points[7]
    base = write_run(tmp_path / "base", points, seed=1)
    new = write_run(tmp_path / "new", points, seed=2, slow={spell: 1.3, slower: 1.3})
    return base, new, spell, slower


def scripted(monkeypatch, slower, log):
    """Fresh measuring processes: clean, except that ``slower`` stays 1.3x slow."""
    def script(p, i, pid):
        return around(base_latency(p) * (1.3 if p == slower else 1.0))

    workers = [ScriptedWorker(script, log=log) for _ in range(2)]
    monkeypatch.setattr(runner, "make_workers", lambda **kwargs: workers)
    return workers


def verdicts(base, new):
    comps = compare.compare_runs(compare.load_run(base), compare.load_run(new), 0.10)
    return {c.label: c.verdict for c in comps}


def test_a_spell_is_cleared_and_a_slower_code_path_stays_regressed(runs, monkeypatch, capsys):
    base, new, spell, slower = runs
    before = verdicts(base, new)
    assert before[spell.label()] == before[slower.label()] == "regressed"
    log = []
    scripted(monkeypatch, slower, log)

    assert main(["compare", str(base), str(new), "--confirm"]) == 1
    out = capsys.readouterr()
    assert f"measuring again: {spell.label()}" in out.err
    assert "--confirm measured 2 of 2 regressed points of NEW again" in out.out
    assert "1 still regressed" in out.out
    after = verdicts(base, new)
    assert after[spell.label()] == "unchanged" and after[slower.label()] == "regressed"
    assert {k: v for k, v in after.items() if k not in (spell.label(), slower.label())} == \
        {k: v for k, v in before.items() if k not in (spell.label(), slower.label())}
    # [timing].instances (3) more of each, in rounds: spell, slower, spell, slower, ...;
    # latency only (no instance 0, whose profiled pass the sweep already ran)
    assert [pid for pid, _, _ in log] == [spell.point_id, slower.point_id] * 3
    assert all(i >= 1 for _, i, _ in log)
    # appended, not rewritten: the first rows stay; the new ones pool 3 + 3 instances
    lines = [json.loads(x) for x in (new / "results.jsonl").read_text().splitlines()]
    assert len(lines) == len(grid()) + 2
    again = {r["point_id"]: r for r in lines[-2:]}
    for p in (spell, slower):
        r = again[p.point_id]
        assert r["attempt"] == 2 and r["remeasure_reason"] == confirm.REASON
        assert r["instances"] == 6 and len(instances.floors(r)) == 6
    assert again[spell.point_id]["latency_s"] == pytest.approx(base_latency(spell), rel=2e-3)
    assert (new / "results.csv").is_file()


def test_nothing_is_measured_without_a_regression_or_without_the_flag(runs, monkeypatch):
    base, new, spell, slower = runs
    log = []
    scripted(monkeypatch, slower, log)
    result = api.compare(base, new)  # no --confirm: judged as recorded, and pointed to it
    assert result.regressed and not log
    assert len(result.notes) == 1 and result.notes[0].startswith(
        "2 regressed points not measured again: --confirm measures them again")
    result = api.compare(base, base, confirm=True)  # nothing regressed: nothing to measure
    assert not result.regressed and not log
    assert result.notes == ("--confirm measured 0 of 0 regressed points of NEW again (their "
                            "instances pooled with the earlier ones); 0 still regressed",)


def test_confirm_needs_the_runs_spec(runs, monkeypatch):
    base, new, spell, slower = runs
    (new / "sweep.toml").unlink()
    scripted(monkeypatch, slower, [])
    with pytest.raises(UsageError, match="no sweep.toml, so its points cannot be measured"):
        api.compare(base, new, confirm=True)
    assert main(["compare", str(base), str(new), "--confirm"]) == 2


def test_a_point_the_second_judgement_calls_regressed_is_measured_too(runs, monkeypatch):
    # Judged again, the runs' drift can come out narrower and call another point
    # regressed; it is measured as well, and no point twice.
    base, new, spell, slower = runs
    from profiler.analyze.compare import Comparison

    def judged(*verdicts):
        return [Comparison(key=k, label=k, sort_key=(k,), verdict=v) for k, v in verdicts]

    rounds = iter([judged(("a", "regressed"), ("b", "unchanged")),
                   judged(("a", "unchanged"), ("b", "regressed")),
                   judged(("a", "regressed"), ("b", "unchanged"))])
    monkeypatch.setattr(compare, "compare_runs", lambda *a, **k: next(rounds))
    asked = []
    monkeypatch.setattr(confirm, "confirm_points",
                        lambda run_dir, ids, on_start=None: asked.append(ids) or ids)
    result = api.compare(base, new, confirm=True)
    assert asked == [["a"], ["b"]]  # "a", regressed again at the end, is not taken twice
    assert [c.verdict for c in result.rows] == ["regressed", "unchanged"]
    assert result.notes[0].startswith("--confirm measured 2 of 2 regressed points")
    assert result.notes[0].endswith("1 still regressed")


def test_confirm_forks_its_fresh_processes_for_cpu_points(runs, monkeypatch):
    # the same rule as the sweep's (runner.forkable): these runs are on the CPU
    base, new, spell, slower = runs
    asked = []

    def make_workers(**kwargs):
        asked.append(kwargs["fork"])
        return [ScriptedWorker(lambda p, i, pid: around(base_latency(p))) for _ in range(2)]

    monkeypatch.setattr(runner, "make_workers", make_workers)
    confirm.confirm_points(new, [spell.point_id])
    assert asked == [True]
