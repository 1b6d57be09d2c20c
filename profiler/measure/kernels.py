"""Which kernel ran, read from operator names seen in a profiled pass.

It changes the scaling story (docs/measurement.md): oneDNN vs native LSTM differ ~2.7x;
CPU flash attention is O(n) memory, the MATH backend O(n^2)."""

from __future__ import annotations

from collections.abc import Iterable

# (substring of an operator name, label), first match wins. Backward ops share the stems.
RECURRENT_KERNELS = (
    ("mkldnn_rnn", "onednn"),
    ("cudnn_rnn", "cudnn"),
    ("miopen_rnn", "miopen"),
    ("lstm_cell", "native"),
    ("gru_cell", "native"),
    ("aten::lstm", "native"),
    ("aten::gru", "native"),
)
ATTENTION_KERNELS = (
    ("_transformer_encoder_layer_fwd", "encoder-fastpath"),
    ("_native_multi_head_attention", "mha-fastpath"),
    ("flash_attention_for_cpu", "sdpa-flash-cpu"),
    ("_scaled_dot_product_flash_attention", "sdpa-flash"),
    ("_flash_attention", "sdpa-flash"),
    ("_scaled_dot_product_efficient_attention", "sdpa-efficient"),
    ("_efficient_attention", "sdpa-efficient"),
    ("_scaled_dot_product_cudnn_attention", "sdpa-cudnn"),
    ("_scaled_dot_product_attention_math", "sdpa-math"),
)


def _first_match(names: Iterable[str], table) -> str | None:
    names = list(names)
    for stem, label in table:
        if any(stem in n for n in names):
            return label
    return None


def detect_kernels(op_names: Iterable[str]) -> dict:
    """{'recurrent_kernel', 'attention_kernel', 'kernel'} from the ops a pass ran."""
    names = list(op_names)
    rec = _first_match(names, RECURRENT_KERNELS)
    # native LSTM runs aten::lstm too; a fast kernel under it decides the label
    attn = _first_match(names, ATTENTION_KERNELS)
    kernel = "+".join(k for k in (rec, attn) if k) or None
    return {"recurrent_kernel": rec, "attention_kernel": attn, "kernel": kernel}
