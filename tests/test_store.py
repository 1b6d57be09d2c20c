"""store.load_results: the record of a point is its last line."""

from __future__ import annotations

import json

import pytest

from profiler.records import Point, result_row
from profiler.run.store import load_history, load_results, read_jsonl


def test_last_line_per_point_wins_in_first_position(tmp_path):
    a, b = (Point(model="lstm", seq_len=n, batch_size=1, device="cpu", dtype="float32",
                  threads=1, phase="inference") for n in (8, 16))
    lines = [result_row(a, status="ok", latency_s=2.0), result_row(b, status="ok"),
             result_row(a, status="ok", latency_s=1.0),  # a measured again: attempt 2
             {"model": "old", "latency_s": 3.0}, {"model": "old", "latency_s": 4.0}]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    rows = load_results(tmp_path)
    assert [r.get("point_id") for r in rows] == [a.point_id, b.point_id, None, None]
    assert rows[0]["latency_s"] == 1.0
    assert [r["latency_s"] for r in rows[2:]] == [3.0, 4.0]  # no point_id: every row kept
    assert len(read_jsonl(tmp_path / "results.jsonl")) == 5  # the history stays readable
    assert [r.get("latency_s") for r in load_history(tmp_path)] == [2.0, None, 1.0, 3.0, 4.0]


def test_write_text_is_whole_or_nothing(tmp_path, monkeypatch):
    from profiler.run import store

    path = tmp_path / "sub" / "report.html"
    store.write_text(path, "old")
    assert path.read_text() == "old"

    def killed(src, dst):  # the rename never happens: as if killed before it
        raise OSError("killed")

    monkeypatch.setattr(store.os, "replace", killed)
    with pytest.raises(OSError):
        store.write_text(path, "new and longer")
    assert path.read_text() == "old"  # never half of the new file
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]  # no temp left
    monkeypatch.undo()
    store.write_json(path, {"a": 1})
    assert path.read_text() == '{\n  "a": 1\n}\n'
