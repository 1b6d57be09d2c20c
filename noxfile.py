"""nox sessions: one short session per job.

The CPU build of torch must be installed before the project, or pip pulls a
multi-GB CUDA build: each session installs ``torch==$TORCH_SPEC`` first.
"""

from __future__ import annotations

import os
from pathlib import Path

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


# Regression benchmarks (docs/regressions.md). History and baselines live in
# .benchmarks/<machine id>/ (git-ignored). max-time 0.5 s and 5 rounds keep the
# 12 CPU benchmarks at ~15-20 s on 2 cores; GC off so a collection cycle never
# lands inside one round.
BENCH_ARGS = ("benchmarks", "--benchmark-storage=file://.benchmarks", "--benchmark-disable-gc",
              "--benchmark-max-time=0.5", "--benchmark-min-rounds=5")


def _newest_baseline(session: nox.Session) -> Path:
    baselines = sorted(Path(".benchmarks").glob("*/*_baseline.json"),
                       key=lambda p: p.stat().st_mtime)
    if not baselines:
        session.error("no baseline in .benchmarks: run `nox -s benchmark -- baseline` first")
    return baselines[-1].resolve()


@nox.session
def benchmark(session: nox.Session) -> None:
    """Regression benchmarks: autosave; `-- baseline` saves one, `-- compare` gates on it."""
    # One session with modes rather than three sessions: each nox session gets
    # its own virtualenv, and each would install torch again.
    rest = list(session.posargs)  # anything else goes to pytest, e.g. -k lstm
    mode = rest.pop(0) if rest[:1] in (["baseline"], ["compare"]) else "run"
    if mode == "baseline":
        args = ["--benchmark-save=baseline", *rest]
    elif mode == "compare":
        # A whole percentage: pytest-benchmark reads "median:10%"; "median:0.1" means seconds.
        threshold = os.environ.get("BENCH_THRESHOLD", "10%").strip().rstrip("%")
        if not threshold.isdigit():
            session.error(f"BENCH_THRESHOLD={threshold!r}: expected a whole percentage like 10%")
        args = [f"--benchmark-compare={_newest_baseline(session)}",
                f"--benchmark-compare-fail=median:{threshold}%", *rest]
    else:
        args = ["--benchmark-autosave", *rest]
    _install(session)
    session.run("pytest", *BENCH_ARGS, *args)


@nox.session
def contention(session: nox.Session) -> None:
    """A 2-thread grid idle, then beside a CPU-burning child: flagged or within 15%."""
    _install(session)
    session.run("python", "benchmarks/contention.py", *session.posargs)


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
