"""NVML is optional: no driver, an old binding or a failing call means "not available"."""

import sys
import types

import pytest

from profiler.measure import nvml


class FakeNVMLError(Exception):
    pass


def fake_pynvml(init_raises: bool):
    mod = types.ModuleType("pynvml")
    mod.NVMLError = FakeNVMLError

    def init():
        if init_raises:
            raise FakeNVMLError("NVML Shared Library Not Found")

    mod.nvmlInit = init
    mod.nvmlSystemGetDriverVersion = lambda: b"580.1"
    return mod


@pytest.fixture
def fresh_nvml(monkeypatch):
    monkeypatch.setattr(nvml, "_initialised", None)
    return monkeypatch


def test_no_driver_is_not_available(fresh_nvml):
    fresh_nvml.setitem(sys.modules, "pynvml", fake_pynvml(init_raises=True))
    assert nvml.driver_version() is None
    assert nvml.process_used_bytes(0) is None
    assert nvml.device_state(0) is None


def test_binding_not_installed(fresh_nvml):
    fresh_nvml.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    assert nvml.driver_version() is None and nvml.process_used_bytes(0) is None


def test_driver_present_but_device_lookup_fails(fresh_nvml):
    # e.g. torch without CUDA: the UUID lookup raises, which must not fail a point
    fresh_nvml.setitem(sys.modules, "pynvml", fake_pynvml(init_raises=False))
    assert nvml.driver_version() == "580.1"
    assert nvml.process_used_bytes(0) is None
    assert nvml.device_state(0) is None
