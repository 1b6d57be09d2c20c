"""store.load_results: the record of a point is its last line."""

from __future__ import annotations

import json

from profiler.records import Point, result_row
from profiler.store import load_history, load_results, read_jsonl


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
