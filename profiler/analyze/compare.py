"""Compare two run directories point by point: did NEW get slower than BASE?

Pipeline of plain functions: load both runs -> refuse when their sweep.toml
differ where it matters -> match points -> per point, the ratio new/base and an
interval from the *instances* of both runs -> classify -> render (rich table,
Markdown, HTML: report/compare.py). A regression makes the command exit 1;
bad input raises UsageError (exit 2).

Why instances and not samples: the samples of one process agree with each
other to 1-2% even when that whole process is 20-50% off. The same point
measured in five processes gave medians of 18.65, 18.68, 18.09, 19.50 and
28.75 ms. A bootstrap over one process's samples claimed a precision the next
process did not have: two runs of unchanged code came out 25 regressed and 39
improved. An instance is one independent measurement (fresh process, model and
inputs) and its floor, the fastest of its kept samples, is one number; how far
those numbers spread is the noise between runs. A point's latency is the fastest of
its instance floors (measure/instances.py): interference only adds time.

The rule, per point, with t the threshold (default 10%):
  ratio = min(new instance floors) / min(base instance floors)
  lo    = min(new) / max(base)    the fastest new instance against the slowest base one
  hi    = max(new) / min(base)
  regressed     lo > 1 + t: every new instance is more than t slower than every
                base instance. lo <= ratio, so the ratio is beyond the threshold
                too, and by more than the spread of the instances on both sides.
  improved      hi < 1 / (1 + t), the mirror image.
  inconclusive  the ratio is beyond the threshold but the instance ranges
                overlap that far (the noise is as large as the change), or a
                side was measured under contention (its threads waited for a
                core), or a side has no instance with enough samples.
  unchanged     otherwise.
Interference on a shared machine only ever adds time, mostly to one process at
a time; a slower code path slows every instance. Requiring all instances to
agree is what separates the two. With two instances a side and the five
medians above as the noise, no split of them into a base and a new run is
flagged, and a 20% slowdown is caught whenever the base instances are free of
the slow process (tests/test_compare.py).

Drift. A virtual machine can run a whole stretch of one run 20-30% slower than the
other, on every process alike, with no counter in the guest showing it: two runs of
unchanged code *here* had two 2-thread points with both instances 20-25% slower in
the new run (docs/measurement.md). So the runs' drift is measured too (runs_drift):
per device and thread count, how far log(new/base) strays from the median of its
model and phase, over every matched point (at least DRIFT_MIN_POINTS). A point whose
|log ratio| is within DRIFT_Z sigma of no change is "inconclusive" ("within the
runs' drift"), whatever its instances say: with 2 instances a side, the instance
ranges cannot see a spell that lasts longer than a round.

Sigma comes from the 90th percentile of those deviations, not their median: between
two runs of unchanged code they are heavy-tailed, a tight core and about one point
in eight 15-35% off. The median absolute deviation saw only the core (sigma 3-5% at
1 thread) and put those points at 4-7 sigma: three were called regressed. Each
model and phase is centred on its own median, so a change to one model's code, or
to one phase, moves that median and does not widen the spread; a change common to
every point (the machine, or the code, got slower everywhere) moves every median.
Either is still judged by the instance rule.

Records written before instances existed hold one process's samples: one
instance. With one instance on both sides lo = hi = ratio, so the rule is the
threshold alone, and the note says that the run-to-run noise is unknown ("noise unknown").
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from profiler.errors import UsageError
from profiler.measure import instances
from profiler.measure.timing import MIN_SAMPLES_FLOOR
from profiler.records import Point
from profiler.run.store import ENV_FILE, SWEEP_FILE, load_env, load_results

# Drift: the spread of log(new/base) over a group's matched points needs this many
# points to be known, and a point is within the drift inside this many sigma of no
# change (one-sided 0.13% per point for a normal spread).
DRIFT_MIN_POINTS = 20  # a 90th percentile of fewer is one or two points
DRIFT_Z = 3.0
# sigma from the 90th percentile of absolute deviations: for a normal, it is 1.645 sigma
DRIFT_QUANTILE, Q90_TO_SIGMA = 0.90, 1 / 1.6449

# An instance counts when its median rests on at least as many samples as the
# sampler ever stops at (it may stop at MIN_SAMPLES_FLOOR when out of time):
# one number for both, so a slow point is never "too few samples" by design.
MIN_SAMPLES = MIN_SAMPLES_FLOOR

# env.json keys whose difference makes timings incomparable (warned loudly),
# and keys that differ by design between a baseline and a candidate (shown).
# "devices" is compared by name only: its per-GPU "state" (clocks, temperature)
# differs between any two runs.
WARN_KEYS = ("torch", "cuda", "cudnn", "nvidia_driver", "python", "numpy", "mkldnn", "host",
             "cpu", "cpu_count", "devices", "transparent_huge_pages", "measuring_process_env")
INFO_KEYS = ("git_commit", "profiler_version", "platform")

VERDICTS = ("regressed", "improved", "unchanged", "inconclusive", "not-comparable",
            "only-in-base", "only-in-new")


@dataclass(frozen=True)
class Comparison:
    """One matched (or unmatched) point of two runs; latencies in seconds."""

    key: str  # point_id
    label: str
    sort_key: tuple
    verdict: str  # one of VERDICTS
    note: str = ""
    base_latency: float | None = None  # the floor: fastest of the instance floors
    new_latency: float | None = None
    ratio: float | None = None  # new / base of those floors
    lo: float | None = None  # min(new instances) / max(base instances)
    hi: float | None = None  # max(new instances) / min(base instances)
    base_instances: int = 0  # instances that counted on each side
    new_instances: int = 0


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05. A bare number >= 1 is refused: 5 could mean 5% or 500%."""
    s = str(text).strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise UsageError(f"--threshold {text!r}: expected a percentage like 5% "
                         "or a fraction like 0.05") from None
    if not s.endswith("%") and value >= 1:
        raise UsageError(f"--threshold {text!r}: ambiguous, write {s}% or {value / 100:g}")
    if not 0 <= value < 10:
        raise UsageError(f"--threshold {text!r}: must be between 0% and 1000%")
    return value


def _point(row: dict) -> Point:
    """The row's Point; Point fields with defaults (attention) may be missing."""
    fields = Point.__dataclass_fields__
    return Point(**{k: row[k] for k in fields if k in row})


def load_run(run_dir: str | Path) -> dict[str, dict]:
    """Rows of a run keyed by point_id (recomputed from the Point fields when absent).

    A point recorded twice (a resumed run, a second attempt) keeps its last row."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    rows = {}
    for i, row in enumerate(load_results(path), 1):
        try:
            key = row.get("point_id") or _point(row).point_id
        except TypeError:
            raise UsageError(f"{path}/results.jsonl: record {i} has neither point_id nor "
                             "the point fields (model, seq_len, ...)") from None
        rows[key] = row
    return rows


def instance_floors(row: dict) -> np.ndarray:
    """The floor (fastest kept sample, seconds per call) of each instance of ``row`` that
    rests on at least MIN_SAMPLES samples.

    A row without per-instance samples but with ``instance_medians_s`` takes those
    medians as its instances' values; a row written before instances existed is one
    instance (its samples)."""
    samples = row.get("latency_samples_s")
    if samples:
        kept = [min(s) for s in instances.split(row) if len(s) >= MIN_SAMPLES and min(s) > 0]
        return np.asarray(kept, dtype=float)
    medians = row.get("instance_medians_s") or []
    sizes = row.get("instance_sizes")
    if not sizes or len(sizes) != len(medians):
        sizes = [MIN_SAMPLES] * len(medians)  # sizes unknown: trust the writer
    kept = [m for m, k in zip(medians, sizes, strict=True) if m is not None and m > 0
            and k >= MIN_SAMPLES]
    return np.asarray(kept, dtype=float)


def ratio_interval(base: np.ndarray, new: np.ndarray) -> tuple[float, float, float]:
    """(ratio, lo, hi) of the rule in the module docstring, from instance floors."""
    ratio = float(new.min() / base.min())
    return ratio, float(new.min() / base.max()), float(new.max() / base.min())


def classify(ratio: float, lo: float, hi: float, threshold: float) -> str:
    """regressed / improved / inconclusive / unchanged under the rule in the module docstring."""
    up, down = 1 + threshold, 1 / (1 + threshold)  # symmetric in log space
    if lo > up:
        return "regressed"
    if hi < down:
        return "improved"
    if ratio > up or ratio < down:
        return "inconclusive"  # a change as large as the threshold, but within the noise
    return "unchanged"


def _floor(a: np.ndarray) -> float | None:
    return float(a.min()) if a.size else None


def _took_over(row: dict, point_seconds: float | None) -> bool:
    """Did an ok row take longer than the point budget (all its instances' wall time)?"""
    return point_seconds is not None and (row.get("point_wall_s") or 0.0) > point_seconds


def point_budget(run_dir: str | Path) -> float | None:
    """[budget].point_seconds of a run's sweep.toml; None without a readable one."""
    from profiler.run.spec import load_spec  # spec imports torch-side modules; only here

    try:
        return load_spec(str(Path(run_dir) / SWEEP_FILE)).budget.point_seconds
    except UsageError:
        return None


def _over_budget(row: dict) -> bool:
    """A row skipped because its predicted time exceeded the point budget (runner.py)."""
    return row.get("status") == "skipped" and "budget" in (row.get("error") or "")


def _failure_verdict(base: dict, new: dict, point_seconds: float | None = None
                     ) -> tuple[str, str]:
    """(verdict, note) for a point that is not ok on at least one side. ``point_seconds``:
    the runs' point budget ([budget].point_seconds), None where not known."""
    bs, ns = base.get("status", "ok"), new.get("status", "ok")
    # A point that ran before and fails now is a regression (an OOM is the worst
    # slowdown); so is one now skipped because it is predicted to exceed the point
    # budget: the budget is the same (spec check), so its curve got slower. A skip
    # for another reason (its curve stopped at an OOM below it) is not comparable:
    # the failure itself is flagged at its own point.
    if bs == "ok" and ns != "skipped":
        return "regressed", f"new failed: {ns}"
    # ... unless the side that ran it took longer than the budget itself: the budget skip
    # is predicted from the curve's smaller points, and a point near the budget is
    # skipped in one run and squeezed in, over the budget, in the other.
    if bs == "ok" and _over_budget(new):
        if _took_over(base, point_seconds):
            return "inconclusive", (f"new skipped: over the point budget, which base "
                                    f"exceeded too ({base['point_wall_s']:.3g} s)")
        return "regressed", "new skipped: over the point budget"
    if ns == "ok" and bs != "skipped":
        return "improved", f"base failed: {bs}"
    if ns == "ok" and _over_budget(base):
        if _took_over(new, point_seconds):
            return "inconclusive", (f"base skipped: over the point budget, which new "
                                    f"exceeded too ({new['point_wall_s']:.3g} s)")
        return "improved", "base skipped: over the point budget"
    return "not-comparable", f"base {bs}, new {ns}"


def compare_pair(key: str, base: dict, new: dict, threshold: float,
                 drift: float | None = None, point_seconds: float | None = None
                 ) -> Comparison:
    """Compare one point present in both runs. ``drift``: sigma of log(new/base) over
    the point's group (runs_drift), or None where not known; ``point_seconds``: the
    runs' point budget (_failure_verdict)."""
    p = _point(new)
    b, n = instance_floors(base), instance_floors(new)
    common = dict(key=key, label=p.label(), sort_key=_sort_key(p), base_latency=_floor(b),
                  new_latency=_floor(n), base_instances=int(b.size),
                  new_instances=int(n.size))
    if base.get("status", "ok") != "ok" or new.get("status", "ok") != "ok":
        verdict, note = _failure_verdict(base, new, point_seconds)
        return Comparison(**common, verdict=verdict, note=note)
    if not b.size or not n.size:
        return Comparison(**common, verdict="inconclusive",
                          note=f"too few samples (fewer than {MIN_SAMPLES} per instance)")
    ratio, lo, hi = ratio_interval(b, n)
    verdict = classify(ratio, lo, hi, threshold)
    notes = []
    contended = [side for side, row in (("base", base), ("new", new)) if row.get("contended")]
    if contended:
        # Its threads waited for a core: the numbers measure the machine, not the model.
        verdict = "inconclusive"
        notes.append(f"contended {' and '.join(contended)}")
    elif verdict == "inconclusive":
        notes.append("instances overlap")
    elif (verdict in ("regressed", "improved") and drift is not None
          and abs(np.log(ratio)) <= DRIFT_Z * drift):
        verdict = "inconclusive"
        notes.append(f"within the runs' drift (±{np.expm1(DRIFT_Z * drift):.0%} at "
                     f"{DRIFT_Z:g} sigma)")
    single = [side for side, a in (("base", b), ("new", n)) if a.size == 1]
    if single:
        notes.append(f"1 instance in {' and '.join(single)}: noise unknown")
    return Comparison(**common, verdict=verdict, note="; ".join(notes), ratio=ratio, lo=lo,
                      hi=hi)


def _sort_key(p: Point) -> tuple:
    return (p.model, p.phase, p.device, p.dtype, p.threads, p.attention, p.batch_size,
            p.seq_len)


def _drift_group(row: dict) -> tuple:
    """Points whose run-to-run drift is alike: one device and thread count."""
    p = _point(row)
    return p.device, p.threads


def runs_drift(base: dict[str, dict], new: dict[str, dict]) -> dict[tuple, float]:
    """Per _drift_group: sigma of log(new/base) for unchanged code (module docstring),
    from the matched ok points with instances on both sides: each (model, phase)'s log
    ratios about their own median, pooled; sigma = their DRIFT_QUANTILE absolute
    deviation as a normal's sigma. Groups of fewer than DRIFT_MIN_POINTS deviations
    (a model and phase with one point has none) are left out."""
    logs: dict[tuple, dict[tuple, list[float]]] = {}
    for key in base.keys() & new.keys():
        b, n = base[key], new[key]
        if b.get("status", "ok") != "ok" or n.get("status", "ok") != "ok":
            continue
        bi, ni = instance_floors(b), instance_floors(n)
        if bi.size and ni.size:
            p = _point(n)
            logs.setdefault(_drift_group(n), {}).setdefault((p.model, p.phase), []).append(
                float(np.log(ni.min() / bi.min())))
    out = {}
    for group, curves in logs.items():
        deviations = [abs(v - np.median(values)) for values in curves.values()
                      if len(values) >= 2 for v in values]
        if len(deviations) >= DRIFT_MIN_POINTS:
            out[group] = Q90_TO_SIGMA * float(np.quantile(deviations, DRIFT_QUANTILE))
    return out


def floor_spread(rows: dict[str, dict]) -> float | None:
    """Median over a run's ok points of (slowest / fastest instance floor) - 1: how far
    apart its processes measured the same point (2-9% in quiet hours here, 15-36% in
    noisy ones). None where no point has two instances."""
    spreads = []
    for row in rows.values():
        floors = instance_floors(row)
        if row.get("status", "ok") == "ok" and floors.size >= 2 and floors.min() > 0:
            spreads.append(floors.max() / floors.min() - 1)
    return float(np.median(spreads)) if spreads else None


def unconfirmed_note(regressed: int, base: dict[str, dict], new: dict[str, dict]) -> str:
    """The note under a comparison that found ``regressed`` points without --confirm,
    with each run's floor_spread. A slow spell of the machine can cover every instance
    of a point: two runs of the same code, one in a noisy hour, gave five such
    regressions, and --confirm cleared all five (docs/regressions.md)."""
    spreads = [f"{side} {spread:.0%}" for side, spread in
               (("BASE", floor_spread(base)), ("NEW", floor_spread(new))) if spread is not None]
    note = (f"{regressed} regressed point{'s' if regressed > 1 else ''} not measured again: "
            "--confirm measures them again on this machine, in fresh processes, and keeps "
            "only what repeats")
    if spreads:
        note += (f" (median spread of the instance floors: {', '.join(spreads)}; a quiet "
                 "machine's is under 10%)")
    return note


def compare_runs(base: dict[str, dict], new: dict[str, dict], threshold: float,
                 point_seconds: float | None = None) -> list[Comparison]:
    """Every point of either run, compared, in a stable (model, phase, ..., n) order.
    ``point_seconds``: the runs' point budget, where known (point_budget)."""
    out = []
    drift = runs_drift(base, new)
    for key in base.keys() | new.keys():
        if key in base and key in new:
            out.append(compare_pair(key, base[key], new[key], threshold,
                                    drift.get(_drift_group(new[key])), point_seconds))
            continue
        only = "only-in-base" if key in base else "only-in-new"
        row = base.get(key) or new[key]
        p = _point(row)
        inst = instance_floors(row)
        med = _floor(inst)
        out.append(Comparison(key=key, label=p.label(), sort_key=_sort_key(p), verdict=only,
                              note="" if row.get("status", "ok") == "ok" else row["status"],
                              base_latency=med if key in base else None,
                              new_latency=None if key in base else med,
                              base_instances=inst.size if key in base else 0,
                              new_instances=0 if key in base else inst.size))
    return sorted(out, key=lambda c: c.sort_key)


# Sections of sweep.toml whose difference makes two runs incomparable. [timing]
# decides how each point is measured; [models] what is measured under a given
# point_id (the id names the model, not its layers); [budget] which points are
# skipped or killed, and a budget skip counts as a regression. Not compared:
# name and description (labels), [profile] (traces are taken after the timed
# points, in their own calls) and [grid] (a point in one grid only is shown as
# only-in-base / only-in-new, never matched).
SPEC_SECTIONS = ("models", "timing", "budget")


def _spec_fields(spec) -> dict[str, object]:
    """'[timing].max_time_s' -> value for every compared key of a parsed spec."""
    flat = {}
    for section in ("timing", "budget"):
        for k, v in dataclasses.asdict(getattr(spec, section)).items():
            flat[f"[{section}].{k}"] = v
    for name, table in spec.models.items():
        for k, v in table.items():
            flat[f"[models.{name}].{k}"] = v
    return flat


def spec_differences(base_dir: Path, new_dir: Path) -> tuple[list[str], list[str]]:
    """(differences, warnings): every key of SPEC_SECTIONS that differs between the
    two runs' sweep.toml ('[timing].max_time_s: 2.0 -> 1.0'), read through
    parse_spec so that defaults count the same as keys written out.

    Models are compared when both grids have them: only their points can match.
    A run without sweep.toml, or one that no longer parses, is a warning."""
    from profiler.run.spec import parse_spec  # spec imports torch-side modules; only here

    specs, warnings = [], []
    for d in (base_dir, new_dir):
        path = Path(d) / SWEEP_FILE
        if not path.is_file():
            warnings.append(f"{d} has no {SWEEP_FILE}: cannot check that both runs used the "
                            "same models, timing and budget")
            continue
        try:
            specs.append(parse_spec(path.read_text(encoding="utf-8"), str(path)))
        except UsageError as e:
            warnings.append(f"cannot read {path} to check the specs: {e}")
    if len(specs) < 2:
        return [], warnings
    base_spec, new_spec = specs
    shared = set(base_spec.grid["model"]) & set(new_spec.grid["model"])

    def keep(key: str) -> bool:
        return not key.startswith("[models.") or key[8:].split("]")[0] in shared

    b, n = _spec_fields(base_spec), _spec_fields(new_spec)
    unset = "(unset)"
    diffs = [f"{k}: {_show(b.get(k, unset))} -> {_show(n.get(k, unset))}"
             for k in sorted(b.keys() | n.keys()) if keep(k) and b.get(k, unset) != n.get(k, unset)]
    return diffs, warnings


def _comparable_env(env: dict) -> dict:
    """The watched env.json keys, nested dicts flattened ('torch.version'), and
    'devices' reduced to their names ({'device': 'cuda:0', 'name': 'H100'} -> 'cuda:0 H100')."""
    flat = {}
    for key, value in env.items():
        if key == "devices" and isinstance(value, list):
            value = [f"{d.get('device', '?')} {d.get('name', '?')}" if isinstance(d, dict)
                     else d for d in value]
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in _comparable_env(value).items()})
        else:
            flat[key] = value
    return flat


def _show(v) -> str:
    s = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return s if len(s) <= 60 else s[:57] + "..."


def env_differences(base_dir: Path, new_dir: Path, base_rows: dict, new_rows: dict,
                    ) -> tuple[list[str], list[str]]:
    """(warnings, info): what differs between the two runs' machines and software.

    Only keys present on both sides are compared, so older or newer env.json
    layouts never fail a comparison; a missing env.json is itself a warning."""
    warnings, info = [], []
    envs = []
    for d in (base_dir, new_dir):
        env = _comparable_env(load_env(d))
        if not env:
            warnings.append(f"{d} has no {ENV_FILE}: cannot check that the runs used the "
                            "same machine and software")
        envs.append(env)
    base_env, new_env = envs
    for key in sorted(base_env.keys() & new_env.keys()):
        if base_env[key] == new_env[key]:
            continue
        top = key.split(".")[0]
        line = f"{key}: {_show(base_env[key])} -> {_show(new_env[key])}"
        if top in WARN_KEYS:
            warnings.append(line)
        elif top in INFO_KEYS:
            info.append(line)
    # Rows name their device too; this catches a changed GPU even without env.json.
    for key in sorted(base_rows.keys() & new_rows.keys()):
        b, n = base_rows[key].get("device_name"), new_rows[key].get("device_name")
        if b and n and b != n:
            warnings.append(f"device_name: {b} -> {n} (e.g. {_point(new_rows[key]).label()})")
            break
    return warnings, info


def summary(comps: list[Comparison]) -> str:
    """'2 regressed, 10 unchanged, 1 only-in-new'."""
    counts = {v: sum(c.verdict == v for c in comps) for v in VERDICTS}
    return ", ".join(f"{n} {v}" for v, n in counts.items() if n) or "no points"
