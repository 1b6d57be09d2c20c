"""The "Traces" section: links to the Chrome/Perfetto traces of selected points
(traces/index.jsonl), and how to open them offline."""

from __future__ import annotations

from pathlib import Path

from profiler.report.document import Bullets, Links, Paragraph, Section
from profiler.report.inputs import ReportInputs


def section(inputs: ReportInputs, fig_dir: Path) -> Section:
    if not inputs.traces:
        return Section("Traces", [Paragraph(
            "Traces not available: this run has no traces/index.jsonl (a run from before "
            "tracing, or [profile] points = \"none\").")])
    links, other = [], []
    for r in sorted(inputs.traces, key=lambda r: tuple(str(r.get(k)) for k in
                                                       ("model", "device", "phase"))
                    + (r.get("seq_len") or 0, r.get("batch_size") or 0)):
        label = (f"{r.get('model')} {r.get('phase')} n={r.get('seq_len')} "
                 f"B={r.get('batch_size')} {r.get('device')}")
        name = r.get("file")
        if r.get("error"):
            other.append(f"{label}: trace failed ({r['error']}).")
        elif name and (inputs.run_dir / "traces" / name).is_file():
            links.append((name, f"traces/{name}", f"— {label}, {r.get('active_steps')} "
                                                  "profiled steps"))
        else:
            other.append(f"{label}: trace file {name} is missing from traces/.")
    blocks = [Paragraph(
        "Chrome/Perfetto traces of selected points, untimed ([profile] points: \"ends\", "
        "the default, is the smallest and largest n of each model and phase at the "
        "largest batch; \"all\" is every point). With one traced step "
        "([profile] active = 1) a point's trace is its profiled pass, after its timed "
        "samples; otherwise, or where a point became a target only after the sweep, a "
        "separate run (torch.profiler schedule: wait, warm-up, then the active steps). "
        "To open one: "
        "in Chrome or Chromium go to chrome://tracing and press Load (works offline), or "
        "drag the file onto https://ui.perfetto.dev (a web page: needs the network to load "
        "the UI; the trace stays on your machine).")]
    if links:
        blocks.append(Links(links))
    if other:
        blocks.append(Bullets(other))
    return Section("Traces", blocks)
