"""Stand-ins for the measuring process: instance rows with scripted samples, so the
runner's replication, retake and second-pass logic can be driven deterministically."""

from __future__ import annotations

import statistics
import time

from profiler.measure.stats import summarize
from profiler.records import result_row


def instance_row(point, samples, contended=False, contention=0.001, run_id="t",
                 wall_s=0.01):
    """A row as measure.measure_point returns it for one instance."""
    st = summarize(samples)
    return result_row(
        point, status="ok", run_id=run_id, family="fake", latency_s=st.min,
        latency_median_s=st.median, latency_iqr_s=st.iqr, latency_mean_s=st.mean,
        latency_min_s=st.min,
        latency_rel_iqr=st.rel_iqr, noisy=st.noisy, latency_samples_s=list(samples),
        samples=st.n, tokens_per_s=point.tokens / st.min, measured_s=sum(samples),
        point_wall_s=wall_s, instance_medians_s=[st.median], instance_sizes=[st.n],
        instances=1, contention=contention, contended_samples=3 if contended else 0,
        contended=contended)


class ScriptedWorker:
    """Answers each measure call with ``script(point, instance, pid)`` -> samples (or
    (samples, contended), or a (outcome, detail) failure such as ("crashed", "...")
    as Worker.measure reports one); ``pid`` counts process starts: close() ends a
    process."""

    def __init__(self, script, sleep_s=0.0, log=None, wall_s=0.01):
        self.script = script
        self.wall_s = wall_s  # each instance's point_wall_s
        self.sleep_s = sleep_s
        self.pid = 1
        self.log = log if log is not None else []  # (point_id, instance, pid) per call
        self.calls = []  # (point_id, instance) of this worker's calls

    def start(self):
        pass  # a scripted worker has no process to spawn

    def wait_ready(self):
        pass

    def measure(self, point, section, timing, max_time_s, timeout_s, run_id, instance=0,
                trace_path=None):
        if self.sleep_s:
            time.sleep(self.sleep_s)
        self.log.append((point.point_id, instance, self.pid))
        self.calls.append((point.point_id, instance))
        out = self.script(point, instance, self.pid)
        if isinstance(out, tuple) and isinstance(out[0], str):
            return out  # the process failed: crashed, timeout
        samples, contended = out if isinstance(out, tuple) else (out, False)
        row = instance_row(point, samples, contended=contended, run_id=run_id,
                           wall_s=self.wall_s)
        if trace_path:  # as measure_point: the profiled pass exported the trace
            row.update(trace_file=trace_path.rsplit("/", 1)[-1], ops=[])
        return "ok", row

    def close(self):
        self.pid += 1  # the next call runs in a fresh process


def around(value, rel=0.001, n=5):
    """n samples within ±rel of value (median exactly value)."""
    return [value * (1 + rel * (i - n // 2) / max(1, n // 2)) for i in range(n)]


def median_of(samples):
    return statistics.median(samples)
