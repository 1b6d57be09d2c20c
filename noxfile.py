"""nox sessions: one short session per job.

The CPU build of torch must be installed before the project, or pip pulls a
multi-GB CUDA build: each session installs ``torch==$TORCH_SPEC`` first.
"""

from __future__ import annotations

import os
import shutil
import sys

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

# CPU wheel on CI machines; set TORCH_SPEC (e.g. "torch" with an index URL) elsewhere.
TORCH = os.environ.get("TORCH_SPEC", "torch==2.13.0")


def _install(session: nox.Session, extra: str = "test") -> None:
    session.install(TORCH)
    session.install("-e", f".[{extra}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (CUDA tests skip without a GPU)."""
    _install(session)
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "profiler", "tests", "benchmarks", "noxfile.py")


# Regression benchmarks (docs/regressions.md), run by benchmarks/gate.py. Baselines
# and history live in .benchmarks/ (git-ignored).
def _metric(args: list[str]) -> str:
    """The value of --metric in the session's arguments (walltime when absent)."""
    for i, arg in enumerate(args):
        if arg.startswith("--metric="):
            return arg.split("=", 1)[1]
        if arg == "--metric" and i + 1 < len(args):
            return args[i + 1]
    return "walltime"


@nox.session
def benchmark(session: nox.Session) -> None:
    """Regression benchmarks: autosave; `-- baseline` / `-- compare` [--metric instructions]."""
    # One session with modes rather than several sessions: each nox session gets
    # its own virtualenv, and each would install torch again.
    args = list(session.posargs)
    mode = args.pop(0) if args[:1] in (["baseline"], ["compare"]) else "run"
    if mode != "run" and _metric(args) == "instructions" and shutil.which("valgrind") is None:
        # Before installing anything: say how to get it, exit 2 (bad setup, not a regression).
        print("error: valgrind is not installed: the instruction gate counts instructions "
              "under callgrind. Install it (Debian/Ubuntu: sudo apt-get install valgrind; "
              "Fedora: sudo dnf install valgrind) or use --metric walltime.", file=sys.stderr)
        sys.exit(2)
    _install(session)
    session.run("python", "benchmarks/gate.py", mode, *args)


@nox.session
def contention(session: nox.Session) -> None:
    """A 2-thread grid idle, then beside a CPU-burning child: flagged or within 15%."""
    _install(session)
    session.run("python", "benchmarks/contention.py", *session.posargs)


@nox.session
def browser(session: nox.Session) -> None:
    """Render the saved test run's report and check it offline in headless Chromium."""
    _install(session)
    run = os.path.join(session.create_tmp(), "run_small")
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree("tests/data/run_small", run)
    session.run("python", "-m", "profiler", "report", run)
    # posargs: another run directory's report, e.g. `nox -s browser -- reports/default-...`
    if session.posargs:
        run = session.posargs[0]
        session.run("python", "-m", "profiler", "report", run)
    session.run("python", "tests/browser_check.py", os.path.join(run, "report.html"),
                "--self-test", "--screenshot", os.path.join(run, "first-screen.png"))
