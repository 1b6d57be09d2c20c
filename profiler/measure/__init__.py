"""How one point is measured, inside a worker process: timers, samples, contention,
instances, memory, FLOPs, kernels, traces and the machine's environment."""
