"""FLOPs of one call of a phase, for any model, and where the number came from.

``count_point`` returns (flops, flops_source, flops_note) for a result row:

  analytic  the model's own formula: ``flops(batch, seq_len)`` of one forward (taking
            ``attention_kernel`` too where it has that parameter) times PHASE_FLOP_FACTOR
            (backward 2x, train step 3x), or ``decode_flops(batch, context)`` for one
            generated token. The built-in models have both.
  counted   a model without a formula (a user's ``factory``): torch's FlopCounterMode over
            one untimed call on the point's own device, dtype, attention backend and input
            shape (a forward, times the same phase factor; for decode one decode_step).
            It runs after the timed samples, so it never touches a timing.
  none      neither worked; flops is None and flops_note says why.

Convention (docs/models.md): matrix products only, a multiply-add is 2 FLOPs, counted as
the kernel runs them. FlopCounterMode sees 0 for some kernels a sweep hits, so they get
formulas here: oneDNN's LSTM layer on CPU (aten::mkldnn_rnn_layer), cuDNN/MIOpen RNNs,
CPU flash attention; and causal attention counts the query-key pairs the kernel visits,
n(n+1)/2 for a fused kernel (flash, memory-efficient, cuDNN), where torch's own formula
charges n². The math kernel multiplies all n² pairs and masks afterwards: there its
bmm's are counted as they run.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from profiler.models.steps import PHASE_FLOP_FACTOR, Step, attention_context, make_inputs
from profiler.records import Point

aten = torch.ops.aten

FLOPS_SOURCES = ("analytic", "counted", "none")


def causal_pairs(n_q: int, n_k: int) -> int:
    """Query-key pairs under SDPA's causal mask (top-left aligned: query i sees keys 0..i)."""
    if n_q <= n_k:
        return n_q * (n_q + 1) // 2
    return n_k * (n_k + 1) // 2 + (n_q - n_k) * n_k


def attention_flops(q_shape, k_shape, v_shape, is_causal: bool) -> int:
    """Q·Kᵀ and P·V of (B, heads, n, d) tensors: 2·B·heads·pairs·(d_qk + d_v)."""
    b, heads, n_q, d_qk = q_shape
    n_k, d_v = k_shape[-2], v_shape[-1]
    pairs = causal_pairs(n_q, n_k) if is_causal else n_q * n_k
    return 2 * b * heads * pairs * (d_qk + d_v)


def _arg(args: tuple, kwargs: dict, index: int, name: str, default):
    """An operator argument given by position or by name."""
    return args[index] if len(args) > index else kwargs.get(name, default)


# FlopCounterMode calls a formula with the operator's arguments, tensors replaced by their
# shapes, and out_shape=; the aten schemas give the argument positions used below.
def _flash_cpu(query, key, value, *args, out_shape=None, **kwargs) -> int:
    # (query, key, value, dropout_p, is_causal, *, attn_mask, scale)
    return attention_flops(query, key, value, _arg(args, kwargs, 1, "is_causal", False))


def _flash_cuda(query, key, value, *args, out_shape=None, **kwargs) -> int:
    # (query, key, value, dropout_p, is_causal, return_debug_mask, *, scale)
    return attention_flops(query, key, value, _arg(args, kwargs, 1, "is_causal", False))


def _efficient_or_cudnn(query, key, value, *args, out_shape=None, **kwargs) -> int:
    # (query, key, value, attn_bias, compute_log_sumexp, dropout_p, is_causal, ...)
    return attention_flops(query, key, value, _arg(args, kwargs, 3, "is_causal", False))


def _steps(input_shape, batch_first: bool) -> tuple[int, int]:
    """(time steps T, batch B) of an RNN kernel's input (T, B, I) or (B, T, I)."""
    return (input_shape[1], input_shape[0]) if batch_first else (input_shape[0],
                                                                 input_shape[1])


def _matrices_flops(steps: int, batch: int, shapes) -> int:
    """Every weight matrix (rows, cols) applied once per step and sequence: 2·T·B·r·c.
    Biases (1-D) are not products; gates count through the rows (4H for an LSTM)."""
    return sum(2 * steps * batch * s[0] * s[1] for s in shapes if len(s) == 2)


def _mkldnn_rnn_layer(input, weight0, weight1, weight2, weight3, hx, cx, reverse,
                      batch_sizes, mode, hidden_size, num_layers, has_biases, bidirectional,
                      batch_first, train, out_shape=None, **kwargs) -> int:
    # oneDNN's LSTM on CPU: one call per layer and direction, W_ih (4H, I) and W_hh (4H, H)
    steps, batch = _steps(input, batch_first)
    return _matrices_flops(steps, batch, [weight0, weight1])


def _cudnn_rnn(input, weight, weight_stride0, weight_buf, hx, cx, mode, hidden_size,
               proj_size, num_layers, batch_first, *args, out_shape=None, **kwargs) -> int:
    # every layer and direction in one call; ``weight`` lists their matrices and biases
    steps, batch = _steps(input, batch_first)
    return _matrices_flops(steps, batch, weight)


def _miopen_rnn(input, weight, weight_stride0, hx, cx, mode, hidden_size, num_layers,
                batch_first, *args, out_shape=None, **kwargs) -> int:
    steps, batch = _steps(input, batch_first)
    return _matrices_flops(steps, batch, weight)


FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _flash_cpu,
    aten._scaled_dot_product_flash_attention: _flash_cuda,
    aten._scaled_dot_product_efficient_attention: _efficient_or_cudnn,
    aten._scaled_dot_product_cudnn_attention: _efficient_or_cudnn,
    aten.mkldnn_rnn_layer: _mkldnn_rnn_layer,
    aten._cudnn_rnn: _cudnn_rnn,
    aten.miopen_rnn: _miopen_rnn,
}


def counted(fn) -> int:
    """FLOPs FlopCounterMode sees while ``fn()`` runs, with the formulas above."""
    with FlopCounterMode(display=False, custom_mapping=FORMULAS) as counter:
        fn()
    return int(counter.get_total_flops())


def analytic_flops(model: nn.Module, phase: str, batch: int, seq_len: int,
                   attention_kernel: str) -> int | None:
    """The model's own count for one call of ``phase``, or None without a formula."""
    if phase == "decode":
        fn = getattr(model, "decode_flops", None)
        return int(fn(batch, seq_len)) if callable(fn) else None
    fn = getattr(model, "flops", None)
    if not callable(fn):
        return None
    takes_kernel = "attention_kernel" in inspect.signature(fn).parameters
    forward = fn(batch, seq_len, attention_kernel=attention_kernel) if takes_kernel \
        else fn(batch, seq_len)
    return int(forward * PHASE_FLOP_FACTOR[phase])


def counted_flops(model: nn.Module, point: Point, step: Step) -> int:
    """One untimed call under FlopCounterMode: decode's own step, else a forward on fresh
    inputs of the point's shape (no autograd graph), times the phase factor."""
    if point.phase == "decode":
        return counted(step.run)  # decode_step on the state read from the context
    tokens, _ = make_inputs(model, point.batch_size, point.seq_len, point.device)

    def forward():
        with torch.inference_mode(), attention_context(point.attention):
            model(tokens)

    return counted(forward) * PHASE_FLOP_FACTOR[point.phase]


def count_point(model: nn.Module, point: Point, step: Step,
                attention_kernel: str) -> tuple[int | None, str, str | None]:
    """(flops, flops_source, flops_note) of one call of ``point``'s phase.

    ``attention_kernel``: "math" where the math SDPA kernel ran (all n² pairs), else
    "flash" (a causal model visits n(n+1)/2 pairs)."""
    found = analytic_flops(model, point.phase, point.batch_size, point.seq_len,
                           attention_kernel)
    if found is not None:
        return found, "analytic", None
    try:
        total = counted_flops(model, point, step)
    except Exception as exc:  # a model the counter cannot run: say so, the point stays ok
        text = (str(exc).strip().splitlines() or [""])[0][:200]
        return None, "none", f"FlopCounterMode failed: {type(exc).__name__}: {text}"
    if total == 0:
        return None, "none", ("FlopCounterMode counted 0 FLOPs: no matrix product, "
                              "convolution or attention kernel it knows ran")
    return total, "counted", None
