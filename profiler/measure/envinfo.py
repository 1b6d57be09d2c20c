"""The environment a run was measured in (env.json), and `python -m profiler env`."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from profiler.measure import nvml


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


THP_MODE_FILE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def transparent_huge_pages(path: Path = THP_MODE_FILE) -> str | None:
    """The kernel's transparent huge page mode ("always", "madvise" or "never": the
    bracketed word of the file); None where there is no such file (not Linux).
    [timing].huge_pages asks for them with madvise: "never" refuses."""
    try:
        text = path.read_text()
    except OSError:
        return None
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else None


CPU_SYSFS = Path("/sys/devices/system/cpu")
_SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def last_level_cache_bytes(root: Path = CPU_SYSFS) -> int | None:
    """Bytes of all the CPU's last-level caches together (each counted once, however
    many cores share it: two sockets' L3s count twice); None where sysfs does not say
    (not Linux, some containers)."""
    caches: dict[str, int] = {}  # shared_cpu_list -> size, at the deepest level seen
    deepest = 0
    for index in root.glob("cpu[0-9]*/cache/index[0-9]*"):
        try:
            level = int((index / "level").read_text())
            if (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip()  # "32768K"
            unit = _SIZE_UNITS.get(text[-1:], 1)
            size = int(text[:-1] if unit > 1 else text) * unit
            shared = (index / "shared_cpu_list").read_text().strip()
        except (OSError, ValueError):
            continue
        if level > deepest:
            deepest, caches = level, {}
        if level == deepest and size:
            caches[shared] = size
    return sum(caches.values()) or None


def git_commit() -> str | None:
    """HEAD of the checkout the package runs from, '+dirty' if modified; None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=5)
        if head.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=5).stdout
        return head.stdout.strip() + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def collect_env(process_env: dict[str, str] | None = None) -> dict:
    """Machine, software versions, devices and threads, as plain JSON-able values.
    ``process_env``: the variables a run's measuring processes start with
    (worker.process_environment: what page size and which glibc heap the samples ran
    on), recorded as measuring_process_env so that compare can tell runs apart by them."""
    import numpy
    import torch

    devices = [{"device": "cpu", "name": cpu_model(), "cores": os.cpu_count(),
                "last_level_cache_bytes": last_level_cache_bytes()}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices.append({"device": f"cuda:{i}", "name": p.name,
                            "total_memory_bytes": p.total_memory,
                            "capability": f"{p.major}.{p.minor}",
                            "multiprocessors": p.multi_processor_count,
                            "state": nvml.device_state(i)})
    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "nvidia_driver": nvml.driver_version(),
        "numpy": numpy.__version__,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "transparent_huge_pages": transparent_huge_pages(),
        "devices": devices,
        "git_commit": git_commit(),
        "profiler_version": __import__("profiler").__version__,
        "collected_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    } | ({"measuring_process_env": dict(process_env)} if process_env is not None else {})


def env_command(args) -> int:
    env = collect_env()
    if args.json:
        print(json.dumps(env, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="environment (what env.json records)", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in env.items():
        if key == "devices":
            value = "\n".join(f"{d['device']}: {d['name']}" for d in value)
        table.add_row(key, str(value))
    Console().print(table)
    return 0
