"""One call of a phase, as a pair of callables: ``setup`` (untimed) and ``run`` (timed).

Phases (the ``phase`` axis):
  inference   eval mode, inference_mode: logits = model(tokens)
  forward     train mode, autograd on: loss = loss_fn(model(tokens))
  backward    loss.backward() alone; setup runs the (untimed) forward first
  train_step  zero_grad + forward + backward + Adam step
  decode      one generated token at context length n (seq_len): the context is read
              once (untimed); LSTM carries its (h, c) state, the Transformer a KV cache

Inputs are random token ids generated on the device once, outside the timed region.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# The attention axis: name -> torch SDPBackend member name ("default" = PyTorch's choice).
ATTENTION_BACKENDS = {
    "default": None,
    "math": "MATH",
    "flash": "FLASH_ATTENTION",
    "efficient": "EFFICIENT_ATTENTION",
    "cudnn": "CUDNN_ATTENTION",
}

# Forward-FLOP multipliers: backward costs ~2x forward (grads w.r.t. inputs and
# weights), a train step ~3x (the optimizer's elementwise work is negligible).
PHASE_FLOP_FACTOR = {"inference": 1, "forward": 1, "backward": 2, "train_step": 3}

# Forward-bytes multipliers, lower bounds like the models' bytes_moved. Backward reads
# the saved inputs and the output gradients and writes the input gradients (~2x the
# forward's activation traffic), and reads each weight and writes its gradient (2x the
# forward's weight bytes). A train step is forward + backward (3x), plus Adam.
PHASE_BYTES_FACTOR = {"inference": 1, "forward": 1, "backward": 2, "train_step": 3}
# Adam's step per parameter element: read p, g, m, v and write p, m, v (its state has
# the parameter's dtype); its temporaries (the sqrt(v) denominator) are not counted.
ADAM_TENSOR_PASSES = 7


def phase_bytes(model: nn.Module, phase: str, batch: int, seq_len: int, dtype_bytes: int,
                attention_kernel: str | None) -> int | None:
    """Lower bound of the bytes one call of ``phase`` moves, or None without a formula
    (a user model without ``bytes_moved``/``decode_bytes``)."""
    if phase == "decode":
        fn = getattr(model, "decode_bytes", None)
        return int(fn(batch, seq_len, dtype_bytes)) if fn else None
    fn = getattr(model, "bytes_moved", None)
    if fn is None:
        return None
    total = fn(batch, seq_len, dtype_bytes, attention_kernel) * PHASE_BYTES_FACTOR[phase]
    if phase == "train_step":
        total += ADAM_TENSOR_PASSES * sum(p.numel() for p in model.parameters()) * dtype_bytes
    return int(total)


def tensor_bytes(obj) -> int:
    """Bytes of every tensor in a nest of tuples/lists/dicts (a decode state)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def attention_context(attention: str):
    """Context manager that forces the SDPA backend, or does nothing for "default"."""
    member = ATTENTION_BACKENDS[attention]
    if member is None:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(getattr(SDPBackend, member))


def default_loss(model: nn.Module, out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy for logits (B, n, V); a user model may define .loss()."""
    if hasattr(model, "loss"):
        return model.loss(out, targets)
    if out.dim() == 3 and out.shape[:2] == targets.shape:
        return F.cross_entropy(out.flatten(0, 1).float(), targets.flatten())
    return out.float().square().mean()


@dataclass
class Step:
    """``run`` is what the timer times; ``setup`` runs before each call, untimed.

    ``needs_setup`` tells the sampler that calls cannot be batched into blocks."""

    run: Callable[[], object]
    setup: Callable[[], object]
    needs_setup: bool
    state_bytes: int | None = None  # decode: bytes of the carried state / KV cache
    tokens_per_call: int | None = None  # tokens one call processes (B*n; B for decode)


def _noop() -> None:
    return None


def make_inputs(model: nn.Module, batch_size: int, seq_len: int, device: str,
                seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (B, n) and next-token targets (B, n), generated on the device."""
    vocab = getattr(getattr(model, "cfg", None), "vocab", None) or getattr(model, "vocab", 256)
    gen = torch.Generator(device=device).manual_seed(seed)
    tokens = torch.randint(0, vocab, (batch_size, seq_len), device=device, generator=gen)
    targets = torch.randint(0, vocab, (batch_size, seq_len), device=device, generator=gen)
    return tokens, targets


def make_step(model: nn.Module, phase: str, batch_size: int, seq_len: int, device: str,
              attention: str = "default") -> Step:
    """Build the callables for one phase of ``model`` on fresh inputs."""
    tokens, targets = make_inputs(model, batch_size, seq_len, device)
    ctx = lambda: attention_context(attention)  # noqa: E731 - a fresh context per call

    if phase == "decode":
        if not hasattr(model, "decode_init"):
            raise NotImplementedError(f"{type(model).__name__} has no decode_init/decode_step")
        model.eval()
        with torch.inference_mode():
            state = model.decode_init(tokens)  # read the context once, untimed
        last = tokens[:, -1:]  # (B, 1)

        def run():
            with torch.inference_mode(), ctx():
                return model.decode_step(last, state)

        return Step(run, _noop, needs_setup=False, state_bytes=tensor_bytes(state),
                    tokens_per_call=batch_size)

    if phase == "inference":
        model.eval()

        def run():
            with torch.inference_mode(), ctx():
                return model(tokens)

        return Step(run, _noop, needs_setup=False)

    model.train()

    def loss():
        with ctx():
            return default_loss(model, model(tokens), targets)

    if phase == "forward":
        return Step(loss, _noop, needs_setup=False)

    if phase == "backward":
        state = {}

        def setup():
            model.zero_grad(set_to_none=True)
            state["loss"] = loss()

        def run():
            with ctx():
                state.pop("loss").backward()

        return Step(run, setup, needs_setup=True)

    if phase == "train_step":
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def run():
            opt.zero_grad(set_to_none=True)
            loss().backward()
            opt.step()

        return Step(run, _noop, needs_setup=False)

    raise ValueError(f"unknown phase {phase!r}")
