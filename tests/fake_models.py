"""Deliberately failing models for the runner's failure paths (used via factory paths).

Each takes token ids (B, n) and fails once n reaches ``at``: OOM, a hang, or a
process-killing abort. Below ``at`` they are a tiny real model."""

import os
import time

import torch
from torch import nn


class _Failing(nn.Module):
    family = "custom"

    def __init__(self, at: int, how: str):
        super().__init__()
        self.at, self.how = at, how
        self.embed = nn.Embedding(16, 8)
        self.vocab = 16

    def forward(self, tokens):
        if tokens.shape[1] >= self.at:
            if self.how == "oom":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64.00 GiB")
            if self.how == "cpu_oom":
                raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to "
                                   "allocate 68719476736 bytes.")
            if self.how == "hang":
                time.sleep(3600)
            if self.how == "crash":
                os.abort()
            if self.how == "error":
                raise ValueError("this model is broken on purpose")
        return self.embed(tokens)


def oom(at: int = 64):
    return _Failing(at, "oom")


def cpu_oom(at: int = 64):
    return _Failing(at, "cpu_oom")


def hang(at: int = 64):
    return _Failing(at, "hang")


def crash(at: int = 64):
    return _Failing(at, "crash")


def broken(at: int = 64):
    return _Failing(at, "error")


def not_a_module():
    return 42


def raises():
    raise RuntimeError("this factory is broken on purpose")


def needs_real_tensors():
    """Reads a tensor's value while building: fine on the CPU, impossible on the meta
    device (the sweep's model check then builds it for real)."""
    scale = torch.ones(1)
    assert scale.item() == 1.0
    return nn.Linear(4, 4)


def chatty(message: str = "built", at: int = 10**9):
    """A tiny working model that prints ``message`` to stdout as it is built: in a worker,
    stdout is a file, so the line sits in Python's buffer until something flushes it."""
    print(message)
    return _Failing(at, "error")
