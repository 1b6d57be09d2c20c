"""`python -m profiler train` end to end (tiny), and bad input."""

import json
import re

import pytest

from profiler.cli import main
from profiler.train import probes
from profiler.train.report import write_report
from profiler.train.rundir import load_run


@pytest.fixture
def tiny_probes(monkeypatch):
    monkeypatch.setattr(probes, "RECALL_KS", (2, 4))
    monkeypatch.setattr(probes, "RECALL_STEPS", 3)


def test_train_writes_records_figures_and_reports(tmp_path, tiny_probes, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "1", "--seeds", "1"]) == 0
    for name in ("env.json", "train.jsonl", "train.csv", "train_epochs.csv", "test_set.csv",
                 "probes.json", "gradient.csv", "recall.csv", "report.md", "report.html",
                 "figures/training.png", "figures/claims.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    env = json.loads((out / "env.json").read_text())
    assert env["threads"] >= 1 and env["device"] == "cpu" and env["torch"]
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [(r["family"], r["seed"]) for r in rows] == [("lstm", 0), ("transformer", 0)]
    assert all(len(r["epoch_compute_s"]) == 1 for r in rows)
    run = load_run(out)
    assert {(g["task"], g["family"], g["stage"]) for g in run.gradient} == {
        (t, f, s) for t in ("sine", "recall") for f in ("lstm", "transformer")
        for s in ("init", "trained")}
    assert all(len(g["grad_norm"]) == g["seq_len"] for g in run.gradient)
    assert [(r["family"], r["k"]) for r in run.recall] == [
        ("lstm", 2), ("lstm", 4), ("transformer", 2), ("transformer", 4)]
    md = (out / "report.md").read_text()
    assert "![" in md and "(figures/training.png)" in md and "(figures/claims.png)" in md
    assert "| LSTM | 50,497 |" in md and "naive baseline" in md
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 2 and 'src="figures/' not in html
    assert "wrote" in capsys.readouterr().out


def test_as_published_with_the_batch_bug(tmp_path, tiny_probes):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "1", "--seeds", "1",
                 "--as-published", "--with-batch-bug"]) == 0
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [(r["family"], r["variant"]) for r in rows] == [
        ("lstm", "as-published"), ("transformer", "as-published"),
        ("transformer_batch_bug", "as-published")]
    env = json.loads((out / "env.json").read_text())
    assert env["transformer_variant"] == "as-published"
    assert env["transformer_hyper"] == {"ff": 2048, "dropout": 0.1}
    # the flawed copy mixes samples: it is kept out of the per-sample probes
    run = load_run(out)
    assert {g["family"] for g in run.gradient} == {"lstm", "transformer"}
    assert {r["family"] for r in run.recall} == {"lstm", "transformer"}
    md = (out / "report.md").read_text()
    assert "feed-forward 2048, dropout 0.1" in md and "--as-published" in md
    assert "## The classic script's batch_first flaw, measured" in md
    assert re.search(r"\| Transformer, batch_first missing \| [\d.]+ \| [\d.]+x \| [01]/1 \|",
                     md)
    assert "| Without batch_first=True (the classic script) the encoder attends" in md


def test_report_is_rebuilt_from_the_directory_alone(tmp_path, tiny_probes):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "1", "--seeds", "1"]) == 0
    first = (out / "report.md").read_text()
    (out / "report.md").unlink()
    (out / "figures" / "training.png").unlink()
    write_report(out, load_run(out))
    assert (out / "report.md").read_text() == first
    assert (out / "figures" / "training.png").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "--epochs"),
    (["--seeds", "0"], "--seeds"),
    (["--threads", "0"], "--threads"),
    (["--threads", "100000"], "--threads must be between 1 and the"),
    (["--device", "tpu"], "--device"),
    (["--device", "cuda:99"], "--device"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    assert main(["train", "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()  # nothing measured, nothing written


def test_out_that_is_a_file_is_bad_input(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("")
    assert main(["train", "--out", str(path), "--epochs", "1"]) == 2
    assert "not a directory" in capsys.readouterr().err
    # below a file: refused before training, not when the results are saved
    assert main(["train", "--out", str(path / "run"), "--epochs", "1"]) == 2
    assert f"{path} is not a directory" in capsys.readouterr().err


def test_sweep_report_gains_the_claims(tmp_path, tiny_probes, capsys):
    """A train folder at RUN_DIR/train/ (or --train DIR) adds the claims to the sweep report."""
    import shutil
    from pathlib import Path

    run = tmp_path / "run"
    shutil.copytree(Path(__file__).parent / "data" / "run_small", run)
    assert main(["report", str(run), "--format", "md"]) == 0
    assert "Textbook claims" not in (run / "report.md").read_text()

    assert main(["train", "--out", str(run / "train"), "--epochs", "1", "--seeds", "1"]) == 0
    assert main(["report", str(run)]) == 0
    md, page = (run / "report.md").read_text(), (run / "report.html").read_text()
    for text in (md, page):
        assert "Textbook claims, measured" in text
        assert "Both models beat the naive baseline" in text
    assert "(train/report.html)" in md  # the link resolves from the run directory
    assert (run / "train" / "report.html").is_file()

    capsys.readouterr()
    assert main(["report", str(run), "--train", str(tmp_path / "nowhere")]) == 2
    assert "not a train output directory" in capsys.readouterr().err
