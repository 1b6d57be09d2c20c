"""The report layer: a run directory in, report.html, report.md and figures/ out.

    render_report(run_dir)            # what `sweep` calls at its end
    python -m profiler report RUN_DIR # what a user calls (report_command)

Nothing is measured: every number comes from RUN_DIR/results.jsonl.
"""

from __future__ import annotations

from pathlib import Path

from profiler.errors import UsageError

FORMATS = ("html", "md")


def render_report(run_dir: str | Path, formats=FORMATS,
                  train_dir: str | Path | None = None) -> list[Path]:
    """Analyse RUN_DIR and write its report files and figures; the paths written.

    Works on a partial run; a directory without results.jsonl is a UsageError.
    ``train_dir``: a `profiler train` output whose claims join the report
    (default: RUN_DIR/train/ when it holds one)."""
    from profiler.report.build import build_document, render_inputs
    from profiler.report.figures import draw_figures
    from profiler.report.html import write_html
    from profiler.report.markdown import write_markdown

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise UsageError(f"unknown report format {sorted(unknown) or '(none)'}; "
                         f"choose from {', '.join(FORMATS)}")
    from profiler.report.claims import claims_section, find_train_dir

    tables, env, spec_text = render_inputs(run_dir)
    claims = claims_section(run_dir, find_train_dir(run_dir, train_dir))
    figures = draw_figures(tables, run_dir / "figures")
    doc = build_document(run_dir, tables, env, spec_text, figures)
    if claims is not None:  # right after the measured LSTM-vs-Transformer comparison
        at = next((i + 1 for i, s in enumerate(doc.sections)
                   if s.title == "LSTM vs Transformer, measured"), 2)
        doc.sections.insert(at, claims)
    written = [run_dir / f.path for f in figures]
    if "html" in formats:
        written.append(write_html(doc, run_dir, run_dir / "report.html"))
    if "md" in formats:
        written.append(write_markdown(doc, run_dir / "report.md"))
    return written


def report_command(args) -> int:
    """`python -m profiler report RUN_DIR [--format html,md]`: print where the report went."""
    formats = tuple(f.strip() for f in str(args.format).split(",") if f.strip())
    written = render_report(args.run_dir, formats, getattr(args, "train", None))
    for path in written:
        if path.suffix in (".html", ".md"):
            print(path)
    return 0
