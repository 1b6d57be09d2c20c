"""Compare two run directories point by point: did NEW get slower than BASE?

Pipeline of plain functions: load both runs -> match points -> estimate each
ratio new/base of median latency with a bootstrap interval -> classify ->
render (rich table, Markdown, HTML). ``compare_command`` returns the exit
status: 1 when any point regressed, 0 otherwise; bad input raises UsageError.

When is a point "regressed beyond the threshold with significance"? Both:
  * practical: the point estimate of new/base exceeds 1 + threshold, and
  * statistical: the 95% bootstrap interval of the ratio lies entirely above 1.
This is the rule of asv's ``compare`` (factor and significance). The stricter
rule "interval's lower bound > 1 + threshold" misses real 10-20% slowdowns
whenever a point has few or noisy samples; the looser "interval above 1"
alone flags the 1-3% drift that separates any two runs on one machine. The
interval only knows within-run noise, not run-to-run drift: that is what the
threshold is for. Under pure noise a point is flagged with probability at
most ~2.5% (one tail of a 95% interval), so a sweep with many noisy points
can still raise a false alarm: such points are marked "noisy" in the note.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from profiler.errors import UsageError
from profiler.records import NOISY_REL_IQR, Point
from profiler.store import ENV_FILE, load_env, load_results

# Bootstrap resamples: 2000 puts the 2.5%/97.5% percentiles within ~0.5% of
# their limit for 20-200 samples, and takes ~5 ms per point.
RESAMPLES = 2000
SEED = 0  # fixed: the same two runs always give the same verdicts
CONFIDENCE = 0.95
# With fewer samples a side the bootstrap interval is meaningless (one sample
# gives a zero-width interval), so no significance is claimed.
MIN_SAMPLES = 5

# env.json keys whose difference makes timings incomparable (warned loudly),
# and keys that differ by design between a baseline and a candidate (shown).
# "devices" is compared by name only: its per-GPU "state" (clocks, temperature)
# differs between any two runs.
WARN_KEYS = ("torch", "cuda", "cudnn", "nvidia_driver", "python", "numpy", "mkldnn", "host",
             "cpu", "cpu_count", "devices")
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
    base_median: float | None = None
    new_median: float | None = None
    ratio: float | None = None  # new / base of the median latency
    lo: float | None = None  # CONFIDENCE interval of ratio
    hi: float | None = None


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

    A point recorded twice (a resumed run) keeps its last row."""
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


def ratio_interval(base: np.ndarray, new: np.ndarray, resamples: int = RESAMPLES,
                   seed: int = SEED) -> tuple[float, float, float]:
    """median(new) / median(base) and its percentile-bootstrap interval.

    Both runs are resampled independently (they are independent measurements)."""
    rng = np.random.default_rng(seed)
    ratio = float(np.median(new) / np.median(base))
    # Blocks bound the (resamples, n) index matrix to ~32 MB for huge sample counts.
    block = max(1, min(resamples, 4_000_000 // max(base.size, new.size)))
    ratios = []
    for start in range(0, resamples, block):
        b = min(block, resamples - start)
        mb = np.median(base[rng.integers(0, base.size, (b, base.size))], axis=1)
        mn = np.median(new[rng.integers(0, new.size, (b, new.size))], axis=1)
        ratios.append(mn / mb)
    tail = (1 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(np.concatenate(ratios), [tail, 100 - tail])
    return ratio, float(lo), float(hi)


def classify(ratio: float, lo: float, hi: float, threshold: float) -> str:
    """regressed / improved / unchanged under the rule in the module docstring."""
    if ratio > 1 + threshold and lo > 1:
        return "regressed"
    # Symmetric in log space: a 5% threshold means new faster than base / 1.05.
    if ratio < 1 / (1 + threshold) and hi < 1:
        return "improved"
    return "unchanged"


def _samples(row: dict) -> np.ndarray:
    return np.asarray([s for s in row.get("latency_samples_s") or [] if s is not None],
                      dtype=float)


def _median(a: np.ndarray) -> float | None:
    return float(np.median(a)) if a.size else None


def _is_noisy(a: np.ndarray) -> bool:
    q25, med, q75 = np.quantile(a, [0.25, 0.5, 0.75])
    return med <= 0 or (q75 - q25) / med >= NOISY_REL_IQR


def compare_pair(key: str, base: dict, new: dict, threshold: float) -> Comparison:
    """Compare one point present in both runs."""
    p = _point(new)
    common = dict(key=key, label=p.label(), sort_key=_sort_key(p))
    bs, ns = base.get("status", "ok"), new.get("status", "ok")
    b, n = _samples(base), _samples(new)
    common.update(base_median=_median(b), new_median=_median(n))
    if bs != "ok" or ns != "ok":
        # A point that ran before and fails now is a regression (an OOM is the
        # worst slowdown); "skipped" is a budget decision, not a failure.
        if bs == "ok" and ns != "skipped":
            return Comparison(**common, verdict="regressed", note=f"new failed: {ns}")
        if ns == "ok" and bs != "skipped":
            return Comparison(**common, verdict="improved", note=f"base failed: {bs}")
        return Comparison(**common, verdict="not-comparable", note=f"base {bs}, new {ns}")
    if min(b.size, n.size) < MIN_SAMPLES or np.median(b) <= 0:
        return Comparison(**common, verdict="inconclusive",
                          note=f"too few samples ({b.size} base, {n.size} new)")
    ratio, lo, hi = ratio_interval(b, n)
    noisy = [side for side, a in (("base", b), ("new", n)) if _is_noisy(a)]
    return Comparison(**common, verdict=classify(ratio, lo, hi, threshold),
                      note=f"noisy {' and '.join(noisy)}" if noisy else "",
                      ratio=ratio, lo=lo, hi=hi)


def _sort_key(p: Point) -> tuple:
    return (p.model, p.phase, p.device, p.dtype, p.threads, p.attention, p.batch_size,
            p.seq_len)


def compare_runs(base: dict[str, dict], new: dict[str, dict],
                 threshold: float) -> list[Comparison]:
    """Every point of either run, compared, in a stable (model, phase, ..., n) order."""
    out = []
    for key in base.keys() | new.keys():
        if key in base and key in new:
            out.append(compare_pair(key, base[key], new[key], threshold))
            continue
        only = "only-in-base" if key in base else "only-in-new"
        row = base.get(key) or new[key]
        p = _point(row)
        med = _median(_samples(row))
        out.append(Comparison(key=key, label=p.label(), sort_key=_sort_key(p), verdict=only,
                              note="" if row.get("status", "ok") == "ok" else row["status"],
                              base_median=med if key in base else None,
                              new_median=None if key in base else med))
    return sorted(out, key=lambda c: c.sort_key)


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


def compare_command(args) -> int:
    """`python -m profiler compare BASE NEW`: print, maybe write a file, exit 1 on regression."""
    from profiler import compare_render  # rich/HTML only when rendering

    threshold = parse_threshold(args.threshold)
    fmt = (args.format or "table").lower()
    if fmt not in ("table", "md", "html"):
        raise UsageError(f"--format {args.format!r}: expected table, md or html")
    base_dir, new_dir = Path(args.base), Path(args.new)
    base, new = load_run(base_dir), load_run(new_dir)
    out = None
    if fmt != "table":
        out = Path(args.out) if args.out else new_dir / f"compare.{fmt}"
        if not out.parent.is_dir():
            raise UsageError(f"--out {out}: directory {out.parent} does not exist")
    comps = compare_runs(base, new, threshold)
    warnings, info = env_differences(base_dir, new_dir, base, new)
    for w in warnings:
        print(f"WARNING: runs differ: {w}", file=sys.stderr)
    ctx = compare_render.Context(base=str(base_dir), new=str(new_dir), threshold=threshold,
                                 warnings=warnings, info=info)
    compare_render.print_table(comps, ctx)
    if out is not None:
        text = (compare_render.markdown(comps, ctx) if fmt == "md"
                else compare_render.html(comps, ctx))
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}")
    return 1 if any(c.verdict == "regressed" for c in comps) else 0
