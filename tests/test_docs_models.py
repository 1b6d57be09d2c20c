"""The worked example of docs/models.md, run as a user would: the GPT file and sweep file
copied out of the page, the model built through the factory path with a tiny config."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest
import torch

from profiler.cli import main
from profiler.measure.flops import causal_pairs
from profiler.measure.point import measure_point
from profiler.measure.timing import TimingConfig
from profiler.models.families import build_model
from profiler.records import Point
from profiler.run.spec import parse_spec, to_toml
from profiler.run.store import load_results

DOC = Path(__file__).resolve().parent.parent / "docs" / "models.md"
TINY = {"n_layer": 2, "n_embd": 16, "n_head": 2, "n_positions": 64, "vocab_size": 40}


def examples() -> dict[str, str]:
    """The fenced blocks marked '<!-- example: NAME -->' in docs/models.md, by NAME."""
    text = DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- example: (\S+) -->\n```\w+\n(.*?)```", text, re.S))


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A directory holding the page's files, as the user's working directory."""
    for name, code in examples().items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mygpt", None)


def test_the_page_has_both_files():
    assert set(examples()) == {"mygpt.py", "gpt.toml"}


def test_example_decode_matches_its_forward(user_dir):
    torch.manual_seed(0)
    model = build_model("gpt", {"factory": "mygpt:build", **TINY}).eval()
    assert model.family == "gpt" and not hasattr(model, "flops")
    tokens = torch.randint(0, 40, (3, 13))
    with torch.no_grad():
        full = model(tokens)[:, -1]
        state = model.decode_init(tokens[:, :12])
        step = model.decode_step(tokens[:, 12:], state)[:, 0]
        again = model.decode_step(tokens[:, 12:], state)[:, 0]  # the state did not move
    torch.testing.assert_close(step, full, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(again, step)


def expected_forward_flops(B: int, n: int) -> int:
    """By hand for TINY: per layer qkv, proj, mlp, and causal attention over n(n+1)/2
    pairs (the CPU flash kernel); the head."""
    d, layers, V = TINY["n_embd"], TINY["n_layer"], TINY["vocab_size"]
    per_layer = 2 * B * n * d * (3 * d + d + 4 * d + 4 * d) + 4 * B * d * causal_pairs(n, n)
    return layers * per_layer + 2 * B * n * d * V


def test_example_through_the_factory_path(user_dir):
    section = {"factory": "mygpt:build", **TINY}
    cfg = TimingConfig(warmup_s=0.0, min_time_s=0.02, max_time_s=0.1)
    rows = {phase: measure_point(Point("gpt", 32, 2, "cpu", "float32", 1, phase), section, cfg)
            for phase in ("inference", "train_step", "decode")}
    for row in rows.values():
        assert row["status"] == "ok", row["error"]
        assert row["family"] == "gpt" and row["flops_source"] == "counted"
        assert row["flops"] > 0 and row["bytes_moved"] is None  # no formula: no roofline
    assert rows["inference"]["attention_kernel"] == "sdpa-flash-cpu"
    assert rows["inference"]["flops"] == expected_forward_flops(2, 32)
    assert rows["train_step"]["flops"] == 3 * expected_forward_flops(2, 32)
    # decode: one token's layers, and attention over the n + 1 cached positions
    d, layers, V = TINY["n_embd"], TINY["n_layer"], TINY["vocab_size"]
    assert rows["decode"]["flops"] == (layers * (2 * 2 * d * 12 * d + 4 * 2 * d * 33)
                                       + 2 * 2 * d * V)
    # the KV cache: K and V per layer, (B, heads, n + 1, d / heads) float32
    assert rows["decode"]["state_bytes"] == layers * 2 * 2 * 33 * d * 4


@pytest.mark.slow
def test_example_sweep_file_runs_with_a_tiny_config(user_dir):
    spec = parse_spec((user_dir / "gpt.toml").read_text(), "gpt.toml")
    assert spec.models["gpt"]["factory"] == "mygpt:build"
    tiny = dataclasses.replace(
        spec, models={"gpt": {**spec.models["gpt"], **TINY}},
        grid=dict(spec.grid, seq_len=(16, 32), batch_size=(1,), threads=(1,)),
        timing=TimingConfig(warmup_s=0.0, min_time_s=0.02, max_time_s=0.1))
    (user_dir / "tiny.toml").write_text(to_toml(tiny))
    out = user_dir / "run"
    assert main(["sweep", "tiny.toml", "--out", str(out), "--no-report", "--quiet",
                 "--profile", "none"]) == 0
    rows = load_results(out)  # the record per point (the second pass may add lines)
    assert len(rows) == 6  # 2 n x 3 phases, measured in a worker process
    for r in rows:
        assert r["status"] == "ok", r["error"]
        assert r["flops_source"] == "counted" and r["flops"] > 0
