"""Property test of sweep-file validation: any value, of any type, for any key (or a few
keys at once) is either refused with one line naming the file, or gives a valid spec:
one with points to run, whose models build, and that --resume reads back unchanged.

In-process (validate + check_models, as `sweep` calls them), so hundreds of examples
take seconds; tests/test_bad_inputs.py checks the same contract through the real CLI."""

from __future__ import annotations

import copy
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.errors import UsageError
from profiler.measure.timing import TimingConfig
from profiler.models.families import config_keys
from profiler.run.grid import expand
from profiler.run.spec import (
    AXES,
    Budget,
    ProfileConfig,
    check_models,
    parse_spec,
    to_toml,
    validate,
)

SOURCE = "prop.toml"

# A small valid sweep with every kind of model: built-in, variant and factory.
BASE = {
    "name": "prop",
    "description": "property test",
    "grid": {"model": ["lstm", "transformer", "mine"], "seq_len": [8, 16],
             "phase": ["inference"]},
    "models": {
        "lstm": {"hidden": 8, "layers": 1},
        "transformer": {"d_model": 8, "heads": 2, "layers": 1, "ff": 16},
        "mine": {"factory": "tests.fake_models:broken", "at": 99},
    },
    "budget": {"point_seconds": 2.0, "timeout_seconds": 30.0},
    "timing": {"warmup_s": 0.0, "min_time_s": 0.0, "max_time_s": 0.1},
    "profile": {"points": "none"},
}

# Every key a sweep file can hold, and the sections themselves.
KEYS = (
    [("name",), ("description",), ("grid",), ("models",), ("budget",), ("timing",),
     ("profile",), ("models", "lstm"), ("models", "mine", "extra"), ("colour",)]
    + [("grid", axis) for axis in AXES]
    + [("models", "lstm", k) for k in [*config_keys("lstm"), "base"]]
    + [("models", "transformer", k) for k in [*config_keys("transformer"), "base"]]
    + [("models", "mine", k) for k in ("factory", "at")]
    + [(section, f.name) for section, cls in (("budget", Budget), ("timing", TimingConfig),
                                              ("profile", ProfileConfig))
       for f in dataclasses.fields(cls)]
)

DELETE = object()  # a mutation that removes the key

# What tomllib can return: numbers (huge, NaN, ±inf), booleans, strings (empty,
# non-ASCII), dates and times, and arrays and tables of those.
SCALARS = st.one_of(
    st.integers(),
    st.sampled_from([0, 1, -1, 2, 1000, 1001, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**30]),
    st.floats(),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1e-300, 1e300, float("nan"), float("inf"),
                     float("-inf")]),
    st.booleans(),
    st.text(max_size=6),
    st.sampled_from(["", "é", "lstm", "gru", "transformer", "mine", "math", "flash", "ends",
                     "learned", "cpu", "auto", "cuda:99", "decode", "float16", "a/b",
                     "tests.fake_models:broken", "tests.fake_models:raises", "no.such:f"]),
    st.dates(), st.times(), st.datetimes(),
)
# Keys of generated tables: any text, and some that look like ours or break a line.
TABLE_KEYS = st.one_of(st.text(max_size=4), st.sampled_from(
    ["lstm", "transformer", "hidden", "layers", "a\nb", "x.y", "", "\"", "é"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TABLE_KEYS, inner, max_size=3)),
    max_leaves=5)


def mutate(data: dict, key: tuple, value) -> None:
    table = data
    for part in key[:-1]:
        table = table.get(part)
        if not isinstance(table, dict):
            return  # an earlier mutation replaced the table: nothing to set
    if value is DELETE:
        table.pop(key[-1], None)
    else:
        table[key[-1]] = value


def refused_in_one_line_or_valid(data: dict) -> None:
    try:
        spec = validate(data, SOURCE)
        check_models(spec)
    except UsageError as e:
        message = str(e)
        assert message.startswith(f"{SOURCE}: ") and "\n" not in message, message
        return
    assert expand(spec)  # something to run
    assert parse_spec(to_toml(spec), SOURCE) == spec  # what --resume reads back


def test_the_base_sweep_is_valid(in_repo):
    refused_in_one_line_or_valid(copy.deepcopy(BASE))
    validate(copy.deepcopy(BASE), SOURCE)


FAST = settings(max_examples=1000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@FAST
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_value_for_any_key(in_repo, key, value):
    data = copy.deepcopy(BASE)
    mutate(data, key, value)
    refused_in_one_line_or_valid(data)


@FAST
@given(changes=st.lists(st.tuples(st.sampled_from(KEYS), st.one_of(VALUES, st.just(DELETE))),
                        min_size=1, max_size=4))
def test_several_keys_at_once(in_repo, changes):
    """Relations between keys (min <= max, timeouts above budgets, an empty grid)."""
    data = copy.deepcopy(BASE)
    for key, value in changes:
        mutate(data, key, value)
    refused_in_one_line_or_valid(data)


@pytest.mark.parametrize("section, cls", [("budget", Budget), ("timing", TimingConfig),
                                          ("profile", ProfileConfig)])
def test_every_key_has_a_rule(section, cls):
    from profiler.run.spec import RULES

    assert set(RULES[section]) == {f.name for f in dataclasses.fields(cls)}
