"""Sweep files (TOML): load, validate strictly, resolve presets, write back.

Every problem is a UsageError naming the file, the key and what was expected;
unknown keys are errors, not silently ignored.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from profiler.errors import UsageError
from profiler.models import BUILTIN, config_keys
from profiler.records import PHASES
from profiler.steps import ATTENTION_BACKENDS
from profiler.timing import TimingConfig

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
    here = Path(__file__).resolve().parent.parent / "sweeps"
    return [Path.cwd() / "sweeps", here]


def preset_names() -> list[str]:
    names = set()
    for d in sweeps_dirs():
        names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


def resolve_spec_path(spec: str) -> Path:
    """A path to a TOML file, or the name of a preset."""
    path = Path(spec)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UsageError(f"{spec}: no such sweep file")
        return path
    if re.fullmatch(r"[A-Za-z0-9_.-]+", spec):
        for d in sweeps_dirs():
            candidate = d / f"{spec}.toml"
            if candidate.is_file():
                return candidate
    raise UsageError(f"unknown preset {spec!r}; presets: {', '.join(preset_names()) or 'none'}"
                     " (or give a path to a .toml file)")


def load_spec(spec: str) -> SweepSpec:
    path = resolve_spec_path(spec)
    return parse_spec(path.read_text(encoding="utf-8"), str(path))


def parse_spec(text: str, source: str = "<string>") -> SweepSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{source}: TOML syntax error: {e}") from None
    return validate(data, source)


def _err(source: str, key: str, expected: str, got) -> UsageError:
    return UsageError(f"{source}: {key}: expected {expected}, got {got!r}")


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
    kind = "positive integers" if typ is int else "strings"
    if not values:
        raise _err(source, key, f"a non-empty list of {kind}", raw)
    for v in values:
        if not _is(v, typ) or (typ is int and v <= 0) or (typ is str and not v):
            raise _err(source, key, f"a list of {kind}", v)
    if len(set(values)) != len(values):
        raise _err(source, key, "distinct values", raw)
    allowed = {"dtype": DTYPES, "phase": PHASES, "attention": tuple(ATTENTION_BACKENDS)}
    if axis in allowed:
        for v in values:
            if v not in allowed[axis]:
                raise _err(source, key, f"one of {', '.join(allowed[axis])}", v)
    return tuple(values)


def _model_section(source: str, name: str, section) -> dict:
    where = f"[models.{name}]"
    if not isinstance(section, dict):
        raise _err(source, where, "a table", section)
    if "factory" in section:
        if not isinstance(section["factory"], str):
            raise _err(source, f"{where}.factory", "'package.module:function'",
                       section["factory"])
        return dict(section)  # the rest are the factory's keyword arguments
    base = section.get("base", name)
    if base not in BUILTIN:
        if "base" in section:
            raise _err(source, f"{where}.base", f"one of {', '.join(BUILTIN)}", base)
        raise UsageError(f"{source}: {where}: unknown model {name!r}; give 'base' (one of "
                         f"{', '.join(BUILTIN)}) or 'factory' ('package.module:function')")
    keys = config_keys(base)
    _check_keys(source, f"{where}.", section, [*keys, "base"])
    for k, v in section.items():
        if k != "base" and not _is(v, keys[k]):
            raise _err(source, f"{where}.{k}", keys[k].__name__, v)
        if keys.get(k) in (int,) and v <= 0:
            raise _err(source, f"{where}.{k}", "a positive integer", v)
    return dict(section)


def _section(source: str, name: str, raw, cls):
    """A flat table of numbers validated against the fields of dataclass ``cls``."""
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise _err(source, f"[{name}]", "a table", raw)
    types = {f.name: type(f.default) for f in dataclasses.fields(cls)}
    _check_keys(source, f"[{name}].", raw, types)
    for k, v in raw.items():
        if types[k] is str:
            if not isinstance(v, str):
                raise _err(source, f"[{name}].{k}", "a string", v)
        elif not _is(v, types[k]) or v < 0:
            raise _err(source, f"[{name}].{k}", f"a non-negative {types[k].__name__}", v)
    return cls(**raw)


def validate(data: dict, source: str) -> SweepSpec:
    _check_keys(source, "", data, ["name", "description", "grid", "models", "budget", "timing",
                                   "profile"])
    stem = Path(source).stem
    name = data.get("name", stem if re.fullmatch(r"[A-Za-z0-9_.-]+", stem) else "sweep")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
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
    budget = _section(source, "budget", data.get("budget"), Budget)
    timing = _section(source, "timing", data.get("timing"), TimingConfig)
    profile = _section(source, "profile", data.get("profile"), ProfileConfig)
    if profile.points not in PROFILE_POINTS:
        raise _err(source, "[profile].points", f"one of {', '.join(PROFILE_POINTS)}",
                   profile.points)
    if profile.active < 1:
        raise _err(source, "[profile].active", "at least 1", profile.active)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _err(source, "description", "a string", description)
    return SweepSpec(name=name, grid=grid, models=models, budget=budget, timing=timing,
                     profile=profile, description=description, source=source)


def with_devices(spec: SweepSpec, devices: list[str]) -> SweepSpec:
    """The spec with its device axis replaced (--device)."""
    grid = dict(spec.grid, device=_axis("--device", "device", list(devices)))
    return dataclasses.replace(spec, grid=grid)


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


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(spec: SweepSpec) -> str:
    """The spec as TOML that parse_spec reads back to an equal spec."""
    lines = [f"name = {_toml_value(spec.name)}"]
    if spec.description:
        lines.append(f"description = {_toml_value(spec.description)}")
    lines += ["", "[grid]"] + [f"{k} = {_toml_value(list(v))}" for k, v in spec.grid.items()]
    for name, section in spec.models.items():
        lines += ["", f"[models.{name}]"] + [f"{k} = {_toml_value(v)}"
                                             for k, v in section.items()]
    for title, obj in (("budget", spec.budget), ("timing", spec.timing),
                       ("profile", spec.profile)):
        lines += ["", f"[{title}]"] + [f"{f.name} = {_toml_value(getattr(obj, f.name))}"
                                       for f in dataclasses.fields(obj)]
    return "\n".join(lines) + "\n"
