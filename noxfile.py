"""nox sessions: one short session per job.

The CPU build of torch must be installed before the project, or pip pulls a
multi-GB CUDA build: each session installs ``torch==$TORCH_SPEC`` first.
"""

from __future__ import annotations

import os

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
    session.run("ruff", "check", "profiler", "tests", "noxfile.py")


@nox.session
def browser(session: nox.Session) -> None:
    """Render the saved test run's report and check it offline in headless Chromium."""
    import shutil  # local: only this session copies files

    _install(session)
    run = os.path.join(session.create_tmp(), "run_small")
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree("tests/data/run_small", run)
    session.run("python", "-m", "profiler", "report", run)
    session.run("python", "tests/browser_check.py", os.path.join(run, "report.html"),
                "--self-test")
