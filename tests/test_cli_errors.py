"""Every bad input: one line on stderr naming the problem, exit status 2, no traceback."""

import pytest

from profiler.cli import main

GOOD = """
name = "t"
[grid]
model = ["lstm"]
seq_len = [8]
"""


def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def write(tmp_path, text, name="s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, expected", [
    ("name = 't'\n[grid\nmodel = 1", "TOML syntax error"),
    ("name = 't'\n[grid]\nmodel = ['lstm']\nseq_len = [8]\nsequence = [1]",
     "unknown key [grid].'sequence'"),
    ("colour = 'red'\n" + GOOD, "unknown key 'colour'"),
    (GOOD + "[models.lstm]\nhidden = 'big'\n", "[models.lstm].hidden: expected int, got 'big'"),
    (GOOD + "[models.lstm]\nwidth = 3\n", "unknown key [models.lstm].'width'"),
    ("[grid]\nmodel = ['lstm']\nseq_len = []\n", "[grid].seq_len: expected a non-empty list"),
    ("[grid]\nmodel = ['lstm']\nseq_len = [8, -4]\n", "expected a list of positive integers, "
                                                      "got -4"),
    ("[grid]\nmodel = ['lstm']\nseq_len = [8]\nbatch_size = [0]\n", "[grid].batch_size"),
    ("[grid]\nmodel = ['lstm']\nseq_len = [8.5]\n", "got 8.5"),
    ("[grid]\nmodel = ['rnn9']\nseq_len = [8]\n", "unknown model 'rnn9'; known: gru, lstm, "
                                                  "mingru, minlstm, transformer"),
    ("[grid]\nmodel = ['lstm']\nseq_len = [8]\ndtype = ['float8']\n", "one of float32"),
    ("[grid]\nmodel = ['lstm']\nseq_len = [8]\nphase = ['fwd']\n", "one of inference"),
    ("[grid]\nmodel = ['lstm']\n", "[grid].seq_len: missing"),
    (GOOD + "[budget]\npoint_seconds = -1\n", "[budget].point_seconds: expected a number of "
                                              "seconds > 0"),
    (GOOD + "[budget]\nhurry = 1\n", "unknown key [budget].'hurry'"),
    ("[grid]\nmodel = ['lstm']\nseq_len = [8]\ndevice = ['tpu']\n", "device 'tpu' is not "
                                                                   "available here; available: "
                                                                   "cpu"),
])
def test_bad_sweep_file(tmp_path, capsys, text, expected):
    path = write(tmp_path, text)
    code, err = run_cli(capsys, "sweep", path, "--out", str(tmp_path / "run"), "--no-report")
    assert code == 2
    assert expected in err
    assert path in err  # names the file
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_toml_syntax_error_names_the_line(tmp_path, capsys):
    path = write(tmp_path, 'name = "t"\n\n[grid]\nmodel = ["lstm"] x\nseq_len = [8]\n')
    code, err = run_cli(capsys, "sweep", path)
    assert code == 2 and "line 4" in err


def test_unknown_preset_lists_presets(capsys, in_repo):
    code, err = run_cli(capsys, "sweep", "nosuchpreset")
    assert code == 2
    assert "unknown preset 'nosuchpreset'; presets: backends, default, gpu, smoke, streaming" in err


def test_missing_file(capsys, tmp_path):
    code, err = run_cli(capsys, "sweep", str(tmp_path / "nope.toml"))
    assert code == 2 and "no such sweep file" in err


def test_unavailable_device_flag(capsys, in_repo):
    import torch

    if torch.cuda.is_available():
        pytest.skip("cuda exists here")
    code, err = run_cli(capsys, "sweep", "smoke", "--device", "cuda")
    assert code == 2 and "--device: device 'cuda' is not available here; available: cpu" in err
    assert "smoke.toml" not in err  # the flag asked for it, not the preset


def test_out_with_results_needs_resume(tmp_path, capsys, in_repo):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.jsonl").write_text("")
    code, err = run_cli(capsys, "sweep", "smoke", "--out", str(out))
    assert code == 2 and "already holds results; pass --resume" in err


@pytest.mark.parametrize("argv, expected", [
    (["--device", ""], "--device: [grid].device: expected a list of strings, got ''"),
    (["--out", "{tmp}/file/run"], "file is not a directory"),
    (["--out", "{tmp}/" + "x" * 300], "File name too long"),
])
def test_bad_sweep_flag(tmp_path, capsys, argv, expected):
    (tmp_path / "file").write_text("")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    code, err = run_cli(capsys, "sweep", write(tmp_path, GOOD), "--quiet", *argv)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "s.toml"]  # nothing made


def test_resume_without_run(tmp_path, capsys):
    code, err = run_cli(capsys, "sweep", "--resume", "--out", str(tmp_path / "x"))
    assert code == 2 and "nothing to resume" in err


def test_bad_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--frobnicate"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --frobnicate" in err and len(err.strip().splitlines()) == 1


def test_every_command_has_help(capsys):
    for cmd in ("sweep", "report", "compare", "train", "env", "models"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: python -m profiler " + cmd)
        # a default is shown once, and only where there is one
        flat = " ".join(out.split())
        assert "(default: None)" not in flat and "(default: False)" not in flat
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    assert "(default: 10%)" in " ".join(capsys.readouterr().out.split())


def test_models_lists_param_counts(capsys, in_repo):
    assert main(["models", "smoke"]) == 0
    out = capsys.readouterr().out
    from profiler.models.families import build_model, count_params

    n = count_params(build_model("lstm", {"hidden": 32, "layers": 1}))
    assert f"{n:,}" in out and "transformer" in out


def test_env_json(capsys):
    import json

    assert main(["env", "--json"]) == 0
    env = json.loads(capsys.readouterr().out)
    import torch

    assert env["torch"] == torch.__version__ and env["devices"][0]["device"] == "cpu"
