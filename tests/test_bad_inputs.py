"""The corpus of bad sweep files, tests/bad_inputs/: each is refused before anything runs,
with exit status 2, one line naming the file and the problem, no traceback, and the
--out directory never created. A file's first line holds the fragment its message must
contain: ``# expect: ...``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.cli import main

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = sorted(CORPUS.glob("*.toml"))


def expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


def test_the_corpus_covers_enough_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_bad_sweep_file_is_refused_before_anything_runs(path, tmp_path, capsys, in_repo):
    out = tmp_path / "run"
    code = main(["sweep", str(path), "--out", str(out), "--no-report", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert str(path) in err  # names the file
    assert expected(path) in err, err
    assert not out.exists()  # no run directory, lock or env.json


@pytest.mark.parametrize("name", ["heads_do_not_divide_d_model", "factory_raises",
                                  "dropout_above_one"])
def test_models_command_refuses_them_alike(name, capsys, in_repo):
    path = CORPUS / f"{name}.toml"
    assert main(["models", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected(path) in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["not_utf8", "timeout_nan", "factory_module_fails_to_import"])
def test_real_cli_prints_one_line_and_exits_2(name, tmp_path, in_repo):
    """The same through `python -m profiler` in its own process: what a user's CI sees."""
    path = CORPUS / f"{name}.toml"
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(in_repo))
    proc = subprocess.run([sys.executable, "-m", "profiler", "sweep", str(path), "--out",
                           str(out), "--quiet"], capture_output=True, text=True, env=env,
                          cwd=in_repo, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert expected(path) in proc.stderr
    assert not out.exists()
