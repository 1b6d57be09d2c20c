"""NVML (nvidia-ml-py), thin and optional: every function returns None without a driver.

These readings are diagnostics beside the measurement: whatever fails in them (no
driver, an old binding without a call, torch without CUDA for the UUID lookup)
returns None and never turns a measured point into an error.

Without a driver nvmlInit raises pynvml.NVMLError (LibraryNotFound /
DriverNotLoaded): that means "not available", never a crash."""

from __future__ import annotations

import os

_initialised: bool | None = None


def _nvml():
    """The pynvml module, initialised once; None when NVML cannot be used."""
    global _initialised
    try:
        import pynvml
    except ImportError:
        return None
    if _initialised is None:
        try:
            pynvml.nvmlInit()
            _initialised = True
        except pynvml.NVMLError:
            _initialised = False
    return pynvml if _initialised else None


def _handle(pynvml, device_index: int):
    """NVML handle of torch's cuda:device_index, matched by UUID (indices differ
    under CUDA_VISIBLE_DEVICES)."""
    import torch

    uuid = str(torch.cuda.get_device_properties(device_index).uuid)
    uuid = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
    return pynvml.nvmlDeviceGetHandleByUUID(uuid)


def process_used_bytes(device_index: int) -> int | None:
    """GPU memory the driver charges to this process (CUDA context included), or None."""
    pynvml = _nvml()
    if pynvml is None:
        return None
    try:
        handle = _handle(pynvml, device_index)
        for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == os.getpid():
                return proc.usedGpuMemory  # may be None (e.g. inside containers)
    except Exception:  # noqa: BLE001 - diagnostics only: any failure means "not available"
        return None
    return None


def device_state(device_index: int) -> dict | None:
    """Clocks (MHz), temperature (C), power (W) and throttle reasons, or None."""
    pynvml = _nvml()
    if pynvml is None:
        return None
    try:
        h = _handle(pynvml, device_index)
        return {
            "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
            "mem_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
            "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
            "power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
            "throttle_reasons": int(pynvml.nvmlDeviceGetCurrentClocksEventReasons(h)),
        }
    except Exception:  # noqa: BLE001 - diagnostics only: any failure means "not available"
        return None


def driver_version() -> str | None:
    pynvml = _nvml()
    if pynvml is None:
        return None
    try:
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else v
    except pynvml.NVMLError:
        return None
