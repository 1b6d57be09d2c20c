"""Instructions per call of the benchmark steps, counted by callgrind in ONE process.

Instruction counts do not change with load on the machine, so this gate holds
on a shared CI runner where wall time cannot. Importing torch under valgrind
takes about a minute, so every benchmark runs in the same process:

    valgrind --tool=callgrind --collect-atstart=no python benchmarks/callgrind.py --inside DIR

Inside, each benchmark is built and warmed up with collection off; then
torch._C._valgrind_toggle() starts collecting, CALLS calls run, and
torch._C._valgrind_toggle_and_dump_stats() stops and writes one dump file per
benchmark (callgrind.out.<pid>.<part>, parts in benchmark order). ``measure``
starts that process and reads the dumps. Only the standard library at the top:
gate.py imports this module in the parent, which never imports torch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Small shapes: under callgrind a call runs ~50x slower, and small shapes still
# run every kernel path of the model (oneDNN LSTM, SDPA, the optimizer step).
SIZES = ((4, 32), (2, 128))
PHASES = ("inference", "train_step")
WARMUP_CALLS = 3  # oneDNN primitives and allocator caches are built per shape, uncounted
CALLS = 3  # counted calls per benchmark; the count is per call
NAMES_FILE = "names.json"
VALGRIND_MISSING = ("valgrind is not installed: the instruction gate runs the benchmarks "
                    "under callgrind. Install it (Debian/Ubuntu: sudo apt-get install "
                    "valgrind; Fedora: sudo dnf install valgrind) or use --metric walltime.")


def valgrind_command(out_dir: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--collect-atstart=no",
            f"--callgrind-out-file={out_dir}/callgrind.out.%p",
            sys.executable, str(Path(__file__).resolve()), "--inside", str(out_dir)]


def parse_dumps(out_dir: Path) -> dict[int, int]:
    """{part: instructions} from callgrind.out.<pid>.<part> files (the 'totals:' line)."""
    counts = {}
    for path in Path(out_dir).glob("callgrind.out.*.*"):
        part = int(path.name.rsplit(".", 1)[1])
        match = re.search(r"^totals:\s*(\d+)", path.read_text(errors="replace"), re.M)
        if match is None:
            raise ValueError(f"{path}: no 'totals:' line; not a callgrind dump?")
        counts[part] = int(match.group(1))
    return counts


def per_call(names: list[str], counts: dict[int, int], calls: int) -> dict[str, list[float]]:
    """Benchmark name -> [instructions per call]: dump part i+1 belongs to names[i]."""
    missing = [i + 1 for i in range(len(names)) if i + 1 not in counts]
    if missing:
        raise ValueError(f"callgrind wrote no dump for part(s) {missing} of {len(names)}")
    return {name: [counts[i + 1] / calls] for i, name in enumerate(names)}


def measure() -> tuple[dict[str, list[float]], dict]:
    """Run every benchmark under callgrind; ({name: [instructions per call]}, info).

    Exits 2 with the install line when valgrind is missing."""
    if shutil.which("valgrind") is None:
        print(f"error: {VALGRIND_MISSING}", file=sys.stderr)
        raise SystemExit(2)
    with tempfile.TemporaryDirectory(prefix="callgrind-") as tmp:
        out = Path(tmp)
        print("counting instructions under callgrind (about a minute to import torch)",
              flush=True)
        env = dict(os.environ, PYTHONHASHSEED="0")  # same dict layouts, same code paths
        proc = subprocess.run(valgrind_command(out), env=env, cwd=HERE.parent,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
            raise SystemExit(1)
        meta = json.loads((out / NAMES_FILE).read_text())
        counts = per_call(meta["names"], parse_dumps(out), meta["calls"])
    return counts, {"config": meta["config"], "torch": meta["config"]["torch"]}


def run_inside(out_dir: Path) -> None:
    """In the process under valgrind: count each benchmark, write the names in dump order."""
    import gc

    import conftest  # benchmarks/conftest.py: the suite's thread count
    import test_steps
    import torch

    from profiler.models.families import build_model
    from profiler.models.steps import make_step

    if not torch._C._valgrind_supported_platform():
        raise SystemExit("this torch build has no valgrind hooks")
    torch.set_num_threads(conftest.THREADS)  # BENCH_THREADS, as in the wall-time suite
    gc.disable()  # a collection inside a counted region would be counted
    names = []
    for model_name, config in test_steps.model_configs().items():
        for phase in PHASES:
            for batch, seq_len in SIZES:
                torch.manual_seed(0)
                model = build_model(model_name, config, "cpu", torch.float32)
                step = make_step(model, phase, batch, seq_len, "cpu")
                for _ in range(WARMUP_CALLS):
                    step.run()
                torch._C._valgrind_toggle()
                for _ in range(CALLS):
                    step.run()
                torch._C._valgrind_toggle_and_dump_stats()
                names.append(f"cpu {model_name} {phase} B{batch}-n{seq_len}")
    config = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "models": test_steps.model_configs(), "sizes": SIZES, "calls": CALLS,
              "python": sys.version.split()[0]}
    (out_dir / NAMES_FILE).write_text(json.dumps({"names": names, "calls": CALLS,
                                                  "config": config}))


if __name__ == "__main__":
    if sys.argv[1:2] != ["--inside"] or len(sys.argv) != 3:
        sys.exit("usage: python benchmarks/callgrind.py --inside DIR (under valgrind; "
                 "normally started by benchmarks/gate.py)")
    sys.path.insert(0, str(HERE.parent))  # profiler, from the repository
    run_inside(Path(sys.argv[2]))
