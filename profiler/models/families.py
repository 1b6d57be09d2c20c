"""The models a sweep builds: LSTM, GRU, Transformer and minGRU/minLSTM (minrnn.py)
language models of the same outer shape (token ids in, logits out), plus a user's own
via a factory.

Every model takes token ids ``(B, n)`` and returns logits ``(B, n, vocab)``.
Built-in models carry ``family`` and ``flops(batch, seq_len)``: the analytic
forward FLOPs (multiply-add = 2 FLOPs), because counters see 0 for the fast
kernels a sweep hits (oneDNN LSTM, CPU flash attention); a model without the method
is counted instead (flops.py).
``bytes_moved(batch, seq_len, dtype_bytes, attention_kernel)`` is a lower bound of
the memory traffic of one forward (weights read once, every op reads its inputs and
writes its output once), so FLOPs / bytes is an upper bound of the arithmetic
intensity: it places a point on the roofline (compute- or memory-bound).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from profiler.errors import UsageError
from profiler.models.minrnn import MinRNNConfig, MinRNNLM

TOKEN_ID_BYTES = 8  # token ids are int64


@dataclass(frozen=True)
class RecurrentConfig:
    vocab: int = 256  # token ids in [0, vocab); embedding and output head sizes
    hidden: int = 64  # hidden size H; the embedding width too, so the input size I = H
    layers: int = 2  # stacked recurrent layers


@dataclass(frozen=True)
class TransformerConfig:
    vocab: int = 256  # token ids in [0, vocab)
    d_model: int = 64  # model width d
    heads: int = 4  # attention heads; d_model must divide by it
    layers: int = 2  # encoder blocks
    ff: int = 256  # feed-forward width
    # 0.0 for cost sweeps: attention dropout materialises n x n masks and made a
    # train step ~10x slower at n=4096 here (docs/measurement.md); make it an axis if wanted.
    dropout: float = 0.0
    positions: str = "sinusoidal"  # "sinusoidal" (no parameters) or "learned"
    max_len: int = 65536  # table size for learned positions (parameters grow with it)
    causal: bool = False  # causal mask (decoder-style) instead of bidirectional


class RecurrentLM(nn.Module):
    """Embedding -> nn.LSTM / nn.GRU (batch_first) -> linear head."""

    def __init__(self, cfg: RecurrentConfig, cell: str):
        super().__init__()
        self.cfg, self.family = cfg, cell
        self.embed = nn.Embedding(cfg.vocab, cfg.hidden)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(cfg.hidden, cfg.hidden, cfg.layers, batch_first=True)
        self.head = nn.Linear(cfg.hidden, cfg.vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)  # (B, n, H)
        y, _ = self.rnn(x)  # (B, n, H): sequential over n inside the kernel
        return self.head(y)  # (B, n, V)

    def flops(self, batch: int, seq_len: int) -> int:
        """Forward FLOPs: per layer 2*n*B*G*H*(I+H) for G gates, plus the head."""
        c, gates = self.cfg, {"lstm": 4, "gru": 3}[self.family]
        rnn = c.layers * 2 * seq_len * batch * gates * c.hidden * (c.hidden + c.hidden)
        return rnn + 2 * batch * seq_len * c.hidden * c.vocab

    # Streaming: the whole past lives in a fixed-size state, whatever the context n.
    def decode_init(self, tokens: torch.Tensor):
        """Read the context (B, n); the state is (h, c) for LSTM, h for GRU: (layers, B, H)."""
        _, state = self.rnn(self.embed(tokens))
        return state

    def decode_step(self, token: torch.Tensor, state) -> torch.Tensor:
        """Logits (B, 1, V) of the next token after ``token`` (B, 1); ``state`` is kept as
        it was, so every call decodes at the same context length."""
        y, _ = self.rnn(self.embed(token), state)
        return self.head(y)

    def decode_flops(self, batch: int, context: int) -> int:
        """One generated token: one time step of every layer, plus the head (no n term)."""
        return self.flops(batch, 1)

    def bytes_moved(self, batch: int, seq_len: int, dtype_bytes: int,
                    attention_kernel: str | None = None) -> int:
        """Lower bound of the bytes one forward reads and writes (no attention: the
        kernel argument is unused).

        Ops at module granularity, each reading its inputs and writing its output once
        (B = batch, n = seq_len, H = hidden, V = vocab, s = dtype_bytes):
          embedding  (B, n) int64 ids -> (B, n, H)      8·B·n + s·B·n·H
          layer l    (B, n, H) -> (B, n, H)             s·B·n·2H, for each of L layers
          head       (B, n, H) -> (B, n, V)             s·B·n·(H + V)
        Weights once: every parameter but the embedding table, of which only the
        looked-up rows are read (at most min(B·n, V) rows of H).
        Why a lower bound: the fused kernel's gate pre-activations (B, n, G·H) and the
        per-step h, c are not counted, and W_hh (G·H × H) is counted once though each of
        the n steps reads it. At H=64 that matrix is 64 KiB in fp32 and stays in cache,
        so here caches do make DRAM traffic about this small, but the bound is loose as
        a cost model: the n dependent small GEMMs wait on each other, and the LSTM is
        latency-bound, not bandwidth-bound, whatever its intensity says."""
        c, B, n, H, s = self.cfg, batch, seq_len, self.cfg.hidden, dtype_bytes
        weights = s * (count_params(self) - c.vocab * H + min(B * n, c.vocab) * H)
        activations = s * B * n * (H + c.layers * 2 * H + H + c.vocab)
        return weights + TOKEN_ID_BYTES * B * n + activations

    def decode_bytes(self, batch: int, context: int, dtype_bytes: int) -> int:
        """One generated token: a one-step forward plus reading the carried state once,
        (h, c) for LSTM or h for GRU, each (layers, B, H): no n term."""
        states = 2 if self.family == "lstm" else 1
        return (self.bytes_moved(batch, 1, dtype_bytes)
                + states * self.cfg.layers * batch * self.cfg.hidden * dtype_bytes)


class EncoderBlock(nn.Module):
    """Pre-norm encoder block on F.scaled_dot_product_attention.

    Written out rather than nn.TransformerEncoderLayer so that the attention
    kernel is chosen deliberately (sdpa_kernel) and never by the eval "fast
    path", which is slower at long n on CPU (docs/measurement.md) and hides behind hooks."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.heads, self.dropout, self.causal = cfg.heads, cfg.dropout, cfg.causal
        self.norm1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.ff), nn.GELU(),
                                nn.Linear(cfg.ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def _heads(self, x: torch.Tensor):
        """q, k, v as (B, heads, n, d/heads): attention mixes positions within a sequence."""
        B, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=2)  # 3 x (B, n, d)
        return (t.view(B, n, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))

    def _finish(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        B, n, d = x.shape
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(B, n, d)))
        return x + self.drop(self.ff(self.norm2(x)))

    def forward(self, x: torch.Tensor, cache=None) -> torch.Tensor:
        """x (B, n, d). With ``cache`` = (K, V) each (B, heads, capacity, d/heads), the
        keys and values are stored there too (a causal prefill for decoding)."""
        q, k, v = self._heads(x)
        if cache is not None:
            n = x.shape[1]
            cache[0][:, :, :n], cache[1][:, :, :n] = k, v
        a = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0,
            is_causal=self.causal or cache is not None)
        return self._finish(x, a)

    def forward_cached(self, x: torch.Tensor, cache, pos: int) -> torch.Tensor:
        """One new position: x (B, 1, d) attends over the cached 0..pos-1 and itself."""
        q, k, v = self._heads(x)
        cache[0][:, :, pos], cache[1][:, :, pos] = k[:, :, 0], v[:, :, 0]
        a = F.scaled_dot_product_attention(q, cache[0][:, :, : pos + 1],
                                           cache[1][:, :, : pos + 1])
        return self._finish(x, a)


def sinusoidal_positions(n: int, d: int, device, dtype, start: int = 0) -> torch.Tensor:
    """(n, d) fixed positions start..start+n-1 from "Attention is all you need"."""
    pos = torch.arange(start, start + n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32)
                     * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d, device=device, dtype=torch.float32)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return pe.to(dtype)


class TransformerLM(nn.Module):
    """Embedding + positions -> encoder blocks -> norm -> linear head."""

    family = "transformer"

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if cfg.d_model % cfg.heads:
            raise UsageError(f"transformer: d_model={cfg.d_model} is not divisible by "
                             f"heads={cfg.heads}")
        if cfg.positions not in ("sinusoidal", "learned"):
            raise UsageError(f"transformer: positions must be 'sinusoidal' or 'learned', "
                             f"got {cfg.positions!r}")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos = nn.Embedding(cfg.max_len, cfg.d_model) if cfg.positions == "learned" else None
        self.blocks = nn.ModuleList(EncoderBlock(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab)

    def _embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token + position embeddings for positions start..start+n-1: (B, n, d)."""
        n = tokens.shape[1]
        x = self.embed(tokens)
        if self.pos is not None:
            if start + n > self.cfg.max_len:
                raise ValueError(f"seq_len {start + n} > max_len {self.cfg.max_len} "
                                 "of learned positions")
            return x + self.pos(torch.arange(start, start + n, device=tokens.device))
        return x + sinusoidal_positions(n, self.cfg.d_model, x.device, x.dtype, start)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self._embed(tokens)  # (B, n, d)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # (B, n, V)

    # Streaming with a KV cache: each new token attends over all n cached positions,
    # so its cost and the cache grow linearly with the context.
    def decode_init(self, tokens: torch.Tensor) -> dict:
        """Causal prefill of the context (B, n); the cache holds n + 1 positions per layer."""
        B, n = tokens.shape
        shape = (B, self.cfg.heads, n + 1, self.cfg.d_model // self.cfg.heads)
        x, caches = self._embed(tokens), []
        for block in self.blocks:
            cache = (x.new_empty(shape), x.new_empty(shape))
            x = block(x, cache)
            caches.append(cache)
        return {"kv": caches, "pos": n}

    def decode_step(self, token: torch.Tensor, state: dict) -> torch.Tensor:
        """Logits (B, 1, V) for the token after ``token`` (B, 1), written at slot n of the
        cache each call (so every call decodes at the same context length)."""
        x = self._embed(token, start=state["pos"])
        for block, cache in zip(self.blocks, state["kv"], strict=True):
            x = block.forward_cached(x, cache, state["pos"])
        return self.head(self.norm(x))

    def decode_flops(self, batch: int, context: int) -> int:
        """One generated token at context n: projections and FF for 1 position, and
        q·Kᵀ + a·V over n + 1 positions (4·B·(n+1)·d per layer), plus the head."""
        c, B, d = self.cfg, batch, self.cfg.d_model
        per_layer = 8 * B * d * d + 4 * B * (context + 1) * d + 4 * B * d * c.ff
        return c.layers * per_layer + 2 * B * d * c.vocab

    def flops(self, batch: int, seq_len: int, attention_kernel: str | None = "flash") -> int:
        """Forward FLOPs: per layer QKV 6Bnd², out-proj 2Bnd², QKᵀ+AV 4B·pairs·d, FF 4Bnd·ff;
        head. pairs = n² query-key pairs; with ``causal`` a fused kernel (flash,
        memory-efficient, cuDNN) visits only the unmasked n(n+1)/2, while the "math" kernel
        multiplies all n² and masks afterwards: FLOPs as the kernel does them."""
        c, B, n, d = self.cfg, batch, seq_len, self.cfg.d_model
        pairs = n * (n + 1) // 2 if c.causal and attention_kernel != "math" else n * n
        per_layer = 8 * B * n * d * d + 4 * B * pairs * d + 4 * B * n * d * c.ff
        return c.layers * per_layer + 2 * B * n * d * c.vocab

    def bytes_moved(self, batch: int, seq_len: int, dtype_bytes: int,
                    attention_kernel: str | None = "flash") -> int:
        """Lower bound of the bytes one forward reads and writes.

        Every op reads its inputs and writes its output once; in elements per position
        (B·n positions, d = d_model, s = dtype_bytes), per layer:
          norm1 d→d, qkv d→3d, attention 3d→d, proj d→d, residual add 2d→d,
          norm2 d→d, ff1 d→ff, gelu ff→ff, ff2 ff→d, residual add 2d→d
          = reads 12d + 2ff + writes 10d + 2ff = 22d + 4ff
        and outside the layers: embedding →d, position add 2d→d, final norm d→d,
        head d→V = 7d + V; plus the int64 ids and the (n, d) position table read once.
        Weights once: every parameter but the embedding tables, of which only the
        looked-up rows are read (min(B·n, V) token rows; learned positions: n rows).
        ``attention_kernel`` "math" materialises the scores S = QKᵀ and P = softmax(S),
        (B, heads, n, n) each, written once and read once: + 4·B·heads·n² elements per
        layer. Flash attention keeps its tiles of S on chip and adds nothing (any other
        kernel name counts as flash).
        Why a lower bound: the heads transpose's copies, the math kernel's scaled q, a
        causal mask and other temporaries are not counted, and caches can only lower DRAM
        traffic further (when a working set, e.g. the weights, fits)."""
        c, B, n, d, s = self.cfg, batch, seq_len, self.cfg.d_model, dtype_bytes
        tables = c.vocab * d + (c.max_len * d if self.pos is not None else 0)
        weights = s * (count_params(self) - tables + min(B * n, c.vocab) * d + n * d)
        per_position = c.layers * (22 * d + 4 * c.ff) + 7 * d + c.vocab
        scores = c.layers * 4 * B * c.heads * n * n if attention_kernel == "math" else 0
        return weights + TOKEN_ID_BYTES * B * n + s * (B * n * per_position + scores)

    def decode_bytes(self, batch: int, context: int, dtype_bytes: int) -> int:
        """One generated token at context n: a one-position forward (whose attention
        reads its own k, v) plus the other n cached positions' K and V read once,
        (B, heads, n, d/heads) each per layer: grows ∝ n, like the KV cache."""
        cache = self.cfg.layers * 2 * batch * context * self.cfg.d_model * dtype_bytes
        return self.bytes_moved(batch, 1, dtype_bytes) + cache


BUILTIN = {
    "lstm": (RecurrentConfig, lambda cfg: RecurrentLM(cfg, "lstm")),
    "gru": (RecurrentConfig, lambda cfg: RecurrentLM(cfg, "gru")),
    "transformer": (TransformerConfig, TransformerLM),
    # recurrent and parallel: a scan over time in training, an O(1) state in decoding
    "mingru": (MinRNNConfig, lambda cfg: MinRNNLM(cfg, "mingru")),
    "minlstm": (MinRNNConfig, lambda cfg: MinRNNLM(cfg, "minlstm")),
}


def config_keys(builtin: str) -> dict[str, type]:
    """Hyper-parameter names of a built-in model and their types."""
    cfg_cls = BUILTIN[builtin][0]
    return {f.name: type(f.default) for f in fields(cfg_cls)}


def load_factory(path: str):
    """Import ``package.module:function``; UsageError naming what is wrong."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"factory {path!r}: expected 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # ImportError, or whatever the module raises while it loads
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"factory {path!r}: cannot import {module_name!r} "
                         f"({type(e).__name__}: {why})") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UsageError(f"factory {path!r}: module {module_name!r} has no {attr!r}") from None


def build_model(name: str, section: dict | None, device: str = "cpu",
                dtype: torch.dtype = torch.float32) -> nn.Module:
    """Build the model ``name`` of a sweep from its [models.NAME] section.

    ``section`` holds hyper-parameters; ``base`` names a built-in to vary
    (``[models.lstm_wide] base = "lstm"``), ``factory`` a user's function that
    takes the remaining keys as keyword arguments and returns an nn.Module."""
    section = dict(section or {})
    factory = section.pop("factory", None)
    base = section.pop("base", name)
    if factory is not None:
        model = load_factory(factory)(**section)
        if not isinstance(model, nn.Module):
            raise UsageError(f"factory {factory!r} returned {type(model).__name__}, "
                             "expected a torch.nn.Module")
        if not hasattr(model, "family"):
            model.family = "custom"
    else:
        cfg_cls, make = BUILTIN[base]
        model = make(cfg_cls(**section))
    return model.to(device=device, dtype=dtype)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_hyper(model: nn.Module, section: dict) -> dict:
    """The hyper-parameters that built ``model``: its config, or the factory's keys."""
    cfg = getattr(model, "cfg", None)
    if cfg is not None and hasattr(cfg, "__dataclass_fields__"):
        return {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    return dict(section)
