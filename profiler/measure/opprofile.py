"""Where the time goes: operator breakdown by category, and Chrome/Perfetto traces.

An operator's self time is charged to the category of its *outermost* enclosing
operator that has one: the bmm and softmax inside scaled_dot_product_attention
are attention, the addmm inside nn.LSTM's native cell loop is recurrent, the
foreach kernels inside Adam.step are the optimizer. Backward nodes
("evaluate_function: BmmBackward0") categorise by their forward op's name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, schedule

CATEGORIES = ("attention", "projection_ff", "recurrent", "normalization", "elementwise",
              "data_movement", "loss", "optimizer", "other")

# Operator names are matched lower-cased with "_" removed, so that the aten op
# ("aten::_softmax") and its autograd node ("SoftmaxBackward0") share a stem.
# Short aten names are matched exactly (EXACT) so "aten::t" does not catch "aten::tanh".
EXACT = {
    "aten::mm": "projection_ff",
    "aten::add": "elementwise", "aten::add_": "elementwise", "aten::mul": "elementwise",
    "aten::mul_": "elementwise", "aten::div": "elementwise", "aten::div_": "elementwise",
    "aten::sub": "elementwise", "aten::sum": "elementwise", "aten::exp": "elementwise",
    "aten::sin": "elementwise", "aten::cos": "elementwise", "aten::where": "elementwise",
    "aten::fill_": "elementwise", "aten::zero_": "elementwise", "aten::neg": "elementwise",
    "aten::t": "data_movement", "aten::to": "data_movement", "aten::view": "data_movement",
    "aten::cat": "data_movement", "aten::stack": "data_movement",
    "aten::select": "data_movement", "aten::slice": "data_movement",
}
# (stem, category), first match wins: "logsoftmax" is the loss before "softmax" is attention.
STEMS = (
    ("optimizer.", "optimizer"), ("adam", "optimizer"), ("foreach", "optimizer"),
    ("sgd", "optimizer"), ("accumulategrad", "optimizer"),
    ("crossentropy", "loss"), ("logsoftmax", "loss"), ("nllloss", "loss"),
    ("scaleddotproduct", "attention"), ("flashattention", "attention"),
    ("efficientattention", "attention"), ("cudnnattention", "attention"),
    ("multiheadattention", "attention"), ("softmax", "attention"), ("bmm", "attention"),
    ("rnn", "recurrent"), ("lstm", "recurrent"), ("gru", "recurrent"),
    ("parallelscan", "recurrent"),  # minrnn.SCAN_REGION: the minGRU/minLSTM recurrence
    ("layernorm", "normalization"), ("batchnorm", "normalization"),
    ("rmsnorm", "normalization"), ("groupnorm", "normalization"),
    ("addmm", "projection_ff"), ("linear", "projection_ff"), ("matmul", "projection_ff"),
    ("mmbackward", "projection_ff"),
    ("gelu", "elementwise"), ("relu", "elementwise"), ("sigmoid", "elementwise"),
    ("tanh", "elementwise"), ("dropout", "elementwise"), ("addbackward", "elementwise"),
    ("mulbackward", "elementwise"), ("threshold", "elementwise"),
    ("embedding", "data_movement"), ("copy", "data_movement"), ("transpose", "data_movement"),
    ("permute", "data_movement"), ("contiguous", "data_movement"),
    ("reshape", "data_movement"), ("clone", "data_movement"), ("split", "data_movement"),
    ("index", "data_movement"), ("expand", "data_movement"), ("unsafeview", "data_movement"),
    ("viewbackward", "data_movement"), ("detach", "data_movement"),
)


@cache  # a step has thousands of events but a few dozen names: 10x faster op tables
def category_of_name(name: str) -> str | None:
    """Category of one operator name alone, or None when the name says nothing."""
    if name in EXACT:
        return EXACT[name]
    low = name.lower().replace("_", "")
    for stem, category in STEMS:
        if stem in low:
            return category
    return None


def _category(event) -> str:
    """Category of the outermost enclosing operator that has one (else 'other')."""
    found, ev = None, event
    while ev is not None:
        found = category_of_name(ev.name) or found
        ev = ev.cpu_parent
    return found or "other"


def op_table(prof) -> list[dict]:
    """Self time per (operator, category) of a finished profile, seconds.

    A CPU-only profile is read from kineto's raw events (cpu_op_table): torch's own
    FunctionEvent tree costs 35-50 ms per minGRU/Transformer train step on this
    2-core machine, for every point. With CUDA, torch's tree attributes each kernel's
    device time to the operator that launched it."""
    if ProfilerActivity.CUDA not in prof.activities:
        return cpu_op_table(prof.profiler.kineto_results.events())
    table: dict[tuple[str, str], dict] = {}
    for ev in prof.events():
        if ev.name == "[memory]":
            continue
        row = _row(table, ev.name, _category(ev))
        row["self_cpu_s"] += ev.self_cpu_time_total * 1e-6  # profiler reports microseconds
        row["self_device_s"] += getattr(ev, "self_device_time_total", 0.0) * 1e-6
    return _finish(table)


def cpu_op_table(events) -> list[dict]:
    """op_table from raw kineto events of CPU operators. On one thread operators nest
    as intervals: an operator's parent is the innermost one still open when it
    starts, its self time its duration minus its children's, and its category that
    of its outermost categorised ancestor (as torch's cpu_parent chain gives). An
    operator whose only child has its own name (a redispatch) is one call, as torch
    folds it."""
    ops = sorted((ev.start_thread_id(), ev.start_ns(), -ev.duration_ns(), ev.name())
                 for ev in events if ev.name() != "[memory]"
                 and ev.device_type() == DeviceType.CPU)
    table: dict[tuple[str, str], dict] = {}
    open_ops: list[_Open] = []  # innermost last
    for thread, start, neg_duration, name in ops:
        while open_ops and (open_ops[-1].thread != thread or open_ops[-1].end_ns <= start):
            open_ops.pop().close()
        parent = open_ops[-1] if open_ops else None
        category = (parent.category if parent else None) or category_of_name(name)
        row = _row(table, name, category or "other")
        row["self_cpu_s"] -= neg_duration * 1e-9
        if parent:
            parent.add_child(row, -neg_duration)
        open_ops.append(_Open(thread, start - neg_duration, category, row))
    while open_ops:
        open_ops.pop().close()
    return _finish(table)


class _Open:
    """An operator still open while cpu_op_table walks its thread's events."""

    def __init__(self, thread: int, end_ns: int, category: str | None, row: dict):
        self.thread, self.end_ns, self.category, self.row = thread, end_ns, category, row
        self.child_ns = 0  # time inside children: not the operator's own
        self.children: list[dict] = []  # rows of the direct children (the first two)

    def add_child(self, row: dict, duration_ns: int) -> None:
        self.child_ns += duration_ns
        if len(self.children) < 2:
            self.children.append(row)

    def close(self) -> None:
        self.row["self_cpu_s"] -= self.child_ns * 1e-9
        if len(self.children) == 1 and self.children[0] is self.row:
            self.row["calls"] -= 1  # a redispatch to itself


def _row(table: dict, name: str, category: str, calls: int = 1) -> dict:
    row = table.setdefault((name, category), {"name": name, "category": category, "calls": 0,
                                              "self_cpu_s": 0.0, "self_device_s": 0.0})
    row["calls"] += calls
    return row


def _finish(table: dict) -> list[dict]:
    rows = sorted(table.values(), key=lambda r: -(r["self_cpu_s"] + r["self_device_s"]))
    for r in rows:  # nanosecond resolution is all the profiler has
        r["self_cpu_s"] = round(r["self_cpu_s"], 9)
        r["self_device_s"] = round(r["self_device_s"], 9)
    return rows


def category_shares(ops: list[dict], clock: str = "self_cpu_s") -> dict[str, float]:
    """Fraction of the total self time per category (sums to 1 when there is time)."""
    total = sum(r[clock] for r in ops)
    shares = dict.fromkeys(CATEGORIES, 0.0)
    for r in ops:
        shares[r["category"]] += r[clock] / total if total > 0 else 0.0
    return shares


def activities(device: str) -> list:
    acts = [ProfilerActivity.CPU]
    if device.startswith("cuda"):
        acts.append(ProfilerActivity.CUDA)
    return acts


def trace(run: Callable[[], object], setup: Callable[[], object], device: str, path: Path,
          wait: int = 1, warmup: int = 1, active: int = 2) -> list[dict]:
    """Profile ``active`` steps after ``wait`` + ``warmup`` (torch.profiler schedule),
    export a Chrome/Perfetto trace to ``path``; returns the op table of the active steps.

    Untimed by design: profiling adds 30-100% on op-dense models (docs/measurement.md)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with profile(activities=activities(device),
                 schedule=schedule(wait=wait, warmup=warmup, active=active, repeat=1),
                 on_trace_ready=lambda p: p.export_chrome_trace(str(path))) as prof:
        for _ in range(wait + warmup + active):
            setup()
            run()
            prof.step()
    return op_table(prof)
