"""Sweep files (TOML): load, validate strictly, resolve presets, write back.

Every problem is a UsageError naming the file, the key and what was expected;
unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from profiler.errors import UsageError
from profiler.measure.timing import TimingConfig
from profiler.models.families import BUILTIN, build_model, config_keys
from profiler.models.steps import ATTENTION_BACKENDS
from profiler.records import PHASES
from profiler.run.grid import expand

DTYPES = ("float32", "float16", "bfloat16")

# axis -> (element type, default values when the axis is left out)
AXES = {
    "model": (str, None),
    "seq_len": (int, None),
    "batch_size": (int, (1,)),
    "device": (str, ("cpu",)),
    "dtype": (str, ("float32",)),
    "threads": (int, (1,)),
    "phase": (str, ("inference",)),
    "attention": (str, ("default",)),
}


@dataclass(frozen=True)
class Budget:
    """Time limits (the [budget] section)."""

    point_seconds: float = 5.0  # a point predicted to take longer than this is skipped
    timeout_seconds: float = 120.0  # a point still running after this is killed: "timeout"
    sweep_seconds: float = 0.0  # stop starting points after this long (0 = no limit)
    # second pass: seconds spent measuring again points that came out contended, noisy,
    # with disagreeing instances, or out of line with their curve (0 = no second pass)
    remeasure_seconds: float = 30.0


@dataclass(frozen=True)
class ProfileConfig:
    """Which points get a torch.profiler trace (the [profile] section); untimed."""

    points: str = "ends"  # "ends": smallest and largest seq_len that ran per model/device;
    #                        "all": every ok point; "none"
    wait: int = 1  # torch.profiler.schedule: steps skipped, ...
    warmup: int = 1  # ... profiled but discarded, ...
    active: int = 2  # ... and recorded into the trace


PROFILE_POINTS = ("ends", "all", "none")

# --- what each key accepts ---------------------------------------------------------------
# A value of the wrong type never gets here (see _section); these are the ranges.

MAX_SECONDS = 1e8  # ~3 years; a longer wait overflows the worker pipe's poll (64-bit ns)
MAX_INT = 2**63 - 1  # TOML integers are 64-bit
MAX_AXIS_INT = 2**31 - 1  # seq_len, batch_size, threads reach torch as C ints
MAX_LAYERS = 1000  # the meta-device check builds every layer (~1 ms each)
NAME_RE = r"[A-Za-z0-9_.-]+"  # sweep and model names: they become file names


@dataclass(frozen=True)
class Rule:
    """What one key accepts: ``expected`` is said back to the user when ``ok`` fails."""

    expected: str
    ok: Callable[[object], bool]


SECONDS_POSITIVE = Rule(f"a number of seconds > 0 and <= {MAX_SECONDS:g}",
                        lambda v: 0 < v <= MAX_SECONDS)
SECONDS = Rule(f"a number of seconds >= 0 and <= {MAX_SECONDS:g}",
               lambda v: 0 <= v <= MAX_SECONDS)
POSITIVE = Rule("a finite number > 0", lambda v: 0 < v < math.inf)
FRACTION = Rule("a number in (0, 1]", lambda v: 0 < v <= 1)
COUNT = Rule("an integer >= 0", lambda v: 0 <= v <= MAX_INT)
COUNT_1 = Rule("an integer >= 1", lambda v: 1 <= v <= MAX_INT)
BOOL = Rule("true or false", lambda v: True)  # the type check (_section) is the rule
POSITIVE_INT = Rule("a positive integer", lambda v: 1 <= v <= MAX_INT)
# Each instance of a point runs in a process of its own (runner.pool_size): more
# instances than processes would measure one process twice and count it as two draws.
MAX_INSTANCES = 8
INSTANCE_COUNT = Rule(f"an integer from 1 to {MAX_INSTANCES} (each instance of a point "
                      "runs in a measuring process of its own)",
                      lambda v: 1 <= v <= MAX_INSTANCES)

# Every field of Budget, TimingConfig and ProfileConfig has a rule (a test checks it).
RULES = {
    "budget": {
        "point_seconds": SECONDS_POSITIVE,
        "timeout_seconds": SECONDS_POSITIVE,
        "sweep_seconds": SECONDS,  # 0 = no limit
        "remeasure_seconds": SECONDS,  # 0 = no second pass
    },
    "timing": {
        "warmup_s": SECONDS,
        "warmup_calls": COUNT,  # 0 only with warmup_s > 0: see _check_relations
        "min_time_s": SECONDS,
        "max_time_s": SECONDS_POSITIVE,
        "min_samples": COUNT_1,
        "max_samples": COUNT_1,
        "target_rel_iqr": POSITIVE,
        "target_median_se": POSITIVE,
        "block_s": SECONDS_POSITIVE,
        "contention_threshold": FRACTION,
        "contended_share": FRACTION,
        "instances": INSTANCE_COUNT,
        "max_instances": INSTANCE_COUNT,
        "instance_rtol": POSITIVE,
        "huge_pages": BOOL,
        "keep_freed_memory": BOOL,
    },
    "profile": {
        "points": Rule(f"one of {', '.join(PROFILE_POINTS)}", lambda v: v in PROFILE_POINTS),
        "wait": COUNT,
        "warmup": COUNT,
        "active": COUNT_1,
    },
}

# Keys that must agree, checked once each is in range: (section, key, relation, other).
RELATIONS = (
    ("budget", "timeout_seconds", ">", "point_seconds"),  # else every point times out
    ("timing", "max_time_s", ">=", "min_time_s"),
    ("timing", "max_time_s", ">=", "block_s"),  # one sample must fit in the time
    ("timing", "max_samples", ">=", "min_samples"),
    ("timing", "max_instances", ">=", "instances"),
)
_WORDS = {">": "more than", ">=": "at least", "<": "less than", "<=": "at most"}
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">="}
_OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}

# Hyper-parameters of the built-in models beyond "a positive integer" / their type.
MODEL_RULES = {
    "layers": Rule(f"an integer from 1 to {MAX_LAYERS}", lambda v: 1 <= v <= MAX_LAYERS),
    # 1.0 would zero every activation in train mode
    "dropout": Rule("a number in [0, 1)", lambda v: 0 <= v < 1),
    "positions": Rule("'sinusoidal' or 'learned'", lambda v: v in ("sinusoidal", "learned")),
}


@dataclass(frozen=True)
class SweepSpec:
    name: str
    grid: dict[str, tuple]  # axis -> values, in the order given
    models: dict[str, dict]  # model name -> its [models.NAME] section
    budget: Budget = field(default_factory=Budget)
    timing: TimingConfig = field(default_factory=TimingConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    description: str = ""
    source: str = "<memory>"  # where the spec came from, for messages


def sweeps_dirs() -> list[Path]:
    """Where presets live: ./sweeps, then the sweeps/ beside the package."""
    here = Path(__file__).resolve().parents[2] / "sweeps"  # profiler/run/spec.py -> repo
    return [Path.cwd() / "sweeps", here]


def preset_names() -> list[str]:
    names = set()
    for d in sweeps_dirs():
        names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


def resolve_spec_path(spec: str) -> Path:
    """A path to a TOML file, or the name of a preset."""
    path = Path(spec)
    try:
        if path.suffix == ".toml" or path.exists():
            if not path.is_file():
                raise UsageError(f"{spec}: no such sweep file")
            return path
    except OSError as e:  # e.g. a name too long for the file system
        raise UsageError(f"{spec}: cannot read ({e.strerror})") from None
    if re.fullmatch(NAME_RE, spec):
        for d in sweeps_dirs():
            candidate = d / f"{spec}.toml"
            if candidate.is_file():
                return candidate
    raise UsageError(f"unknown preset {spec!r}; presets: {', '.join(preset_names()) or 'none'}"
                     " (or give a path to a .toml file)")


def load_spec(spec: str) -> SweepSpec:
    path = resolve_spec_path(spec)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = data.decode("utf-8-sig")  # "-sig": the byte-order mark some editors write
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                         f"{e.start}); save the file as UTF-8") from None
    return parse_spec(text, str(path))


def parse_spec(text: str, source: str = "<string>") -> SweepSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{source}: TOML syntax error: {e}") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays/tables
        raise UsageError(f"{source}: TOML nested too deeply") from None
    return validate(data, source)


def _err(source: str, key: str, expected: str, got) -> UsageError:
    return UsageError(f"{source}: {key}: expected {expected}, got {got!r}")


def _first_line(exc: BaseException) -> str:
    """An exception as one short line (torch appends C++ stack traces to some)."""
    return (str(exc).strip().splitlines() or [""])[0][:300]


def _check_keys(source: str, where: str, table: dict, allowed) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise UsageError(f"{source}: unknown key {where}{unknown[0]!r}; "
                         f"expected one of: {', '.join(sorted(allowed))}")


def _is(value, typ) -> bool:
    if typ is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, typ)


def _axis(source: str, axis: str, raw) -> tuple:
    typ, _ = AXES[axis]
    values = raw if isinstance(raw, list) else [raw]
    key = f"[grid].{axis}"
    kind = {int: "positive integers", str: "strings"}[typ]
    if axis == "model":
        kind = "model names (letters, digits, '.', '_' or '-')"
    if not values:
        raise _err(source, key, f"a non-empty list of {kind}", raw)
    for v in values:
        if not _is(v, typ) or (typ is int and v <= 0) or (typ is str and not v) \
                or (axis == "model" and not re.fullmatch(NAME_RE, v)):
            raise _err(source, key, f"a list of {kind}", v)
        if typ is int and v > MAX_AXIS_INT:
            raise _err(source, key, "integers below 2**31 (torch takes them as C ints)", v)
    if len(set(values)) != len(values):
        raise _err(source, key, "distinct values", raw)
    allowed = {"dtype": DTYPES, "phase": PHASES, "attention": tuple(ATTENTION_BACKENDS)}
    if axis in allowed:
        for v in values:
            if v not in allowed[axis]:
                raise _err(source, key, f"one of {', '.join(allowed[axis])}", v)
    return tuple(values)


def _check_plain(source: str, key: str, value) -> None:
    """A factory's keyword argument: anything TOML holds that to_toml can write back."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _err(source, key, "a finite number", value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise _err(source, key, "an integer that fits in 64 bits", value)
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_plain(source, f"{key}[{i}]", item)
    elif isinstance(value, dict):
        for k, item in value.items():
            _check_plain(source, f"{key}.{_toml_key(k)}", item)  # quoted: one line
    elif not isinstance(value, bool | int | float | str | datetime.date | datetime.time):
        raise _err(source, key, "a TOML value", value)


def _model_section(source: str, name: str, section) -> dict:
    if not re.fullmatch(NAME_RE, name):  # checked first: the name goes into messages
        raise _err(source, "[models]", "model names of letters, digits, '.', '_' or '-'", name)
    where = f"[models.{name}]"
    if not isinstance(section, dict):
        raise _err(source, where, "a table", section)
    if "factory" in section:
        factory = section["factory"]
        if not isinstance(factory, str) or not re.fullmatch(r"\w+(\.\w+)*:\w+", factory):
            raise _err(source, f"{where}.factory", "'package.module:function'", factory)
        for k, v in section.items():  # the rest are the factory's keyword arguments
            _check_plain(source, f"{where}.{_toml_key(k)}", v)
        return dict(section)
    base = section.get("base", name)
    if not isinstance(base, str) or base not in BUILTIN:
        if "base" in section:
            raise _err(source, f"{where}.base", f"one of {', '.join(BUILTIN)}", base)
        raise UsageError(f"{source}: {where}: unknown model {name!r}; give 'base' (one of "
                         f"{', '.join(BUILTIN)}) or 'factory' ('package.module:function')")
    keys = config_keys(base)
    _check_keys(source, f"{where}.", section, [*keys, "base"])
    for k, v in section.items():
        if k == "base":
            continue
        if not _is(v, keys[k]):
            raise _err(source, f"{where}.{k}", keys[k].__name__, v)
        rule = MODEL_RULES.get(k, POSITIVE_INT if keys[k] is int else None)
        if rule is not None and not rule.ok(v):
            raise _err(source, f"{where}.{k}", rule.expected, v)
    return dict(section)


def _section(source: str, name: str, raw, cls):
    """A flat table validated against the fields of dataclass ``cls`` and RULES[name]."""
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise _err(source, f"[{name}]", "a table", raw)
    types = {f.name: type(f.default) for f in dataclasses.fields(cls)}
    _check_keys(source, f"[{name}].", raw, types)
    for k, v in raw.items():
        rule = RULES[name][k]
        if types[k] is int and _is(v, int) and abs(v) > MAX_INT:
            raise _err(source, f"[{name}].{k}", "an integer that fits in 64 bits", v)
        if not _is(v, types[k]) or not rule.ok(v):
            raise _err(source, f"[{name}].{k}", rule.expected, v)
    obj = cls(**raw)
    _check_relations(source, name, raw, obj)
    return obj


def _check_relations(source: str, name: str, raw: dict, obj) -> None:
    """RELATIONS between the keys of one section (``raw``: the keys the file set)."""
    if name == "timing" and obj.warmup_calls == 0 and obj.warmup_s == 0:
        raise _err(source, "[timing].warmup_calls", "at least 1 when [timing].warmup_s = 0 "
                   "(the sampler sizes its blocks from the warm-up calls)", obj.warmup_calls)
    for section, key, op, other in RELATIONS:
        if section != name:
            continue
        a, b = getattr(obj, key), getattr(obj, other)
        if _OPS[op](a, b):
            continue
        if key not in raw and other in raw:  # name the key the file set
            key, other, op, a, b = other, key, _FLIP[op], b, a
        raise _err(source, f"[{name}].{key}", f"{_WORDS[op]} [{name}].{other} = {b!r}", a)


def _check_positions(source: str, grid: dict, models: dict) -> None:
    """Learned positions: a table of max_len rows must cover the longest sequence."""
    longest = max(grid["seq_len"]) + ("decode" in grid["phase"])  # decode writes slot n
    for m in grid["model"]:
        section = models.get(m, {})
        if "factory" in section or section.get("base", m) != "transformer":
            continue
        cfg = BUILTIN["transformer"][0](**{k: v for k, v in section.items() if k != "base"})
        if cfg.positions == "learned" and cfg.max_len < longest:
            why = "[grid].seq_len + 1 for decode" if "decode" in grid["phase"] else \
                "[grid].seq_len"
            raise _err(source, f"[models.{m}].max_len",
                       f"at least {longest} with learned positions (the longest {why})",
                       cfg.max_len)


def validate(data: dict, source: str) -> SweepSpec:
    _check_keys(source, "", data, ["name", "description", "grid", "models", "budget", "timing",
                                   "profile"])
    stem = Path(source).stem
    name = data.get("name", stem if re.fullmatch(NAME_RE, stem) else "sweep")
    if not isinstance(name, str) or not re.fullmatch(NAME_RE, name):
        raise _err(source, "name", "letters, digits, '.', '_' or '-'", name)
    grid_raw = data.get("grid")
    if not isinstance(grid_raw, dict):
        raise _err(source, "[grid]", "a table with at least model and seq_len", grid_raw)
    _check_keys(source, "[grid].", grid_raw, AXES)
    grid = {}
    for axis, (_, default) in AXES.items():
        if axis in grid_raw:
            grid[axis] = _axis(source, axis, grid_raw[axis])
        elif default is None:
            raise UsageError(f"{source}: [grid].{axis}: missing (expected a list)")
        else:
            grid[axis] = default
    models_raw = data.get("models", {})
    if not isinstance(models_raw, dict):
        raise _err(source, "[models]", "tables [models.NAME]", models_raw)
    models = {n: _model_section(source, n, s) for n, s in models_raw.items()}
    for m in grid["model"]:
        if m not in models and m not in BUILTIN:
            known = sorted(set(BUILTIN) | set(models))
            raise UsageError(f"{source}: [grid].model: unknown model {m!r}; known: "
                             f"{', '.join(known)} (or add a [models.{m}] section)")
    _check_positions(source, grid, models)
    budget = _section(source, "budget", data.get("budget"), Budget)
    timing = _section(source, "timing", data.get("timing"), TimingConfig)
    profile = _section(source, "profile", data.get("profile"), ProfileConfig)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _err(source, "description", "a string", description)
    spec = SweepSpec(name=name, grid=grid, models=models, budget=budget, timing=timing,
                     profile=profile, description=description, source=source)
    if not expand(spec):  # only the attention axis drops points: recurrent models ignore it
        raise _err(source, "[grid].attention", "'default' among the values when every model "
                   "is an LSTM or GRU (they run attention 'default' only)",
                   list(grid["attention"]))
    return spec


def check_models(spec: SweepSpec) -> None:
    """Build every model of the grid once on the meta device (no memory, no time), so that
    a model's own checks, or a factory that cannot be imported or fails, stop the sweep
    with one line before anything runs. UsageError naming the file and the model."""
    import torch

    # a factory imports in the parent as in the worker: from the sweep's working directory
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in spec.grid["model"]:
        section = spec.models.get(name, {})
        try:
            model = _build_on_meta(name, section)
            for dtype in spec.grid["dtype"]:
                model.to(dtype=getattr(torch, dtype))
        except UsageError as e:
            raise UsageError(f"{spec.source}: model {name!r}: {e}") from None
        except Exception as e:  # anything the model or factory raises is the user's to fix
            factory = f"factory {section['factory']!r} failed: " if "factory" in section else ""
            raise UsageError(f"{spec.source}: model {name!r}: {factory}{type(e).__name__}: "
                             f"{_first_line(e)}") from None


def _build_on_meta(name: str, section: dict):
    import torch

    try:
        with torch.device("meta"):  # parameters get shapes, not memory
            return build_model(name, section, device="meta")
    except UsageError:
        raise
    except Exception:
        if "factory" not in section:
            raise
        # A factory may do what the meta device cannot (read a checkpoint, call .item()):
        # build it once for real on the CPU; if that fails too, its error is the user's.
        return build_model(name, section)


def check_axis(label: str, axis: str, values) -> tuple:
    """One grid axis as validate checks it, errors naming ``label`` (e.g. '--device')."""
    if axis not in AXES:
        raise UsageError(f"{label}: unknown grid axis {axis!r}; expected one of: "
                         f"{', '.join(AXES)}")
    return _axis(label, axis, list(values) if isinstance(values, tuple) else values)


def with_grid(spec: SweepSpec, axes: dict, label: str = "overrides") -> SweepSpec:
    """The spec with these grid axes replaced (``{"seq_len": [64, 128]}``), validated as
    a sweep file is: the spec is written back to its TOML data, the axes replaced and the
    whole validated again, so what an axis implies (known models, learned positions
    long enough, points left after the attention axis) is checked too. Errors name
    ``label``; the spec keeps its source."""
    unknown = sorted(set(axes) - set(AXES))
    if unknown:
        raise UsageError(f"{label}: unknown grid axis {unknown[0]!r}; expected one of: "
                         f"{', '.join(AXES)}")
    data = tomllib.loads(to_toml(spec))
    data["grid"].update({axis: list(v) if isinstance(v, tuple) else v
                         for axis, v in axes.items()})
    return dataclasses.replace(validate(data, label), source=spec.source)


def with_profile(spec: SweepSpec, points: str) -> SweepSpec:
    """The spec with [profile].points replaced (--profile)."""
    if points not in PROFILE_POINTS:
        raise UsageError(f"--profile: expected one of {', '.join(PROFILE_POINTS)}, got {points!r}")
    return dataclasses.replace(spec, profile=dataclasses.replace(spec.profile, points=points))


def resolve_devices(spec: SweepSpec) -> SweepSpec:
    """Replace 'auto' and check every device exists here; UsageError otherwise."""
    import torch

    n_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    available = ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(n_cuda)] if n_cuda else [])
    resolved = []
    for dev in spec.grid["device"]:
        if dev == "auto":
            dev = "cuda" if n_cuda else "cpu"
        if dev not in available:
            raise UsageError(f"{spec.source}: device {dev!r} is not available here; "
                             f"available: {', '.join(available)}")
        if dev not in resolved:
            resolved.append(dev)
    return dataclasses.replace(spec, grid=dict(spec.grid, device=tuple(resolved)))


def _toml_str(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(k: str) -> str:
    """A bare key where TOML allows one, else a quoted one (a '.' would nest tables)."""
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else _toml_str(k)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)  # validate refuses nan and inf; repr reads back exactly
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, datetime.date | datetime.time):  # datetime is a date too
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # a factory argument written as an inline table
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(spec: SweepSpec) -> str:
    """The spec as TOML that parse_spec reads back to an equal spec."""
    lines = [f"name = {_toml_value(spec.name)}"]
    if spec.description:
        lines.append(f"description = {_toml_value(spec.description)}")
    lines += ["", "[grid]"] + [f"{k} = {_toml_value(list(v))}" for k, v in spec.grid.items()]
    for name, section in spec.models.items():
        lines += ["", f"[models.{_toml_key(name)}]"] + [f"{_toml_key(k)} = {_toml_value(v)}"
                                                        for k, v in section.items()]
    for title, obj in (("budget", spec.budget), ("timing", spec.timing),
                       ("profile", spec.profile)):
        lines += ["", f"[{title}]"] + [f"{f.name} = {_toml_value(getattr(obj, f.name))}"
                                       for f in dataclasses.fields(obj)]
    return "\n".join(lines) + "\n"
