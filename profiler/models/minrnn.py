"""minGRU and minLSTM: recurrent *and* parallel over time (Feng et al., 2024, "Were RNNs
All We Needed?", arXiv:2410.01201).

A GRU's gates read h_{t-1}, so step t waits for step t-1. The minimal versions compute
their gates from x_t alone, which leaves a linear recurrence

    h_t = a_t ⊙ h_{t-1} + b_t        a_t, b_t of shape (B, H), known for every t at once

minGRU:  z_t = σ(W_z x_t),  a_t = 1 - z_t,  b_t = z_t ⊙ W_h x_t
minLSTM: f_t = σ(W_f x_t), i_t = σ(W_i x_t), normalised f' = f/(f+i), i' = i/(f+i);
         a_t = f'_t,  b_t = i'_t ⊙ W_h x_t

(biases omitted; the candidate W_h x_t has no tanh, as in the paper). Composing two
steps is again such a step, (a, b) then (a', b') = (a'·a, a'·b + b'): associative, so all
h_t come from a parallel scan instead of n dependent steps.

The scan here pairs neighbouring steps into one, solves the half-length recurrence the
same way, and fills in the other half: 2·log2(n) levels of elementwise work over
(B, n/2^k, H), O(n) work in all. Products of gates in (0, 1) can only shrink towards 0,
so it runs in normal space without overflow; its error against a float64 step-by-step
recurrence stays near float32 eps at any n. (The paper's log-space form, cumsum and
logcumsumexp with a positive candidate g(h̃), loses about eps·0.7·n to cancellation, and
logcumsumexp is a scalar exp and log per element on CPU: most of such a layer's profiled
time here.)

Training and inference run the scan; decoding runs the recurrence one step at a time and
carries h only: (layers, B, H), constant in the context length, like the LSTM's (h, c).
The scan and the gates run in float32, also for bf16/fp16 models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import record_function

# Linear maps of x_t per cell: the candidate h̃ and the gates (z; or f and i).
PROJECTIONS = {"mingru": 2, "minlstm": 3}
# The scan's region name in a profile: opprofile files the ops inside it under "recurrent".
SCAN_REGION = "parallel_scan"


@dataclass(frozen=True)
class MinRNNConfig:
    vocab: int = 256  # token ids in [0, vocab); embedding and output head sizes
    hidden: int = 64  # hidden size H; the embedding width too
    layers: int = 2  # stacked minGRU / minLSTM layers


def parallel_scan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All h_t of h_t = a_t ⊙ h_{t-1} + b_t, h_{-1} = 0, along dim 1 of a, b (B, n, H).

    Steps 2i and 2i+1 make one step (a_{2i+1}·a_{2i}, a_{2i+1}·b_{2i} + b_{2i+1}) whose
    scan gives h at the odd t; then h_{2i} = a_{2i}·h_{2i-1} + b_{2i}. Depth 2·log2(n).
    Views (unflatten/unbind, stack) rather than strided slices: a strided slice's backward
    zero-fills a tensor of the full size, which made the train step about 2x slower."""
    n = a.shape[1]
    if n == 1:
        return b
    if n % 2:  # one more step with a = 1, b = 0 changes nothing before it
        return parallel_scan(F.pad(a, (0, 0, 0, 1), value=1.0), F.pad(b, (0, 0, 0, 1)))[:, :n]
    a0, a1 = a.unflatten(1, (n // 2, 2)).unbind(2)  # even and odd steps: (B, n/2, H) each
    b0, b1 = b.unflatten(1, (n // 2, 2)).unbind(2)
    h_odd = parallel_scan(a1 * a0, torch.addcmul(b1, a1, b0))  # h_1, h_3, ...: (B, n/2, H)
    h_before = F.pad(h_odd, (0, 0, 1, -1))  # h_{2i-1}, with h_{-1} = 0
    h_even = torch.addcmul(b0, a0, h_before)  # h_0, h_2, ...
    return torch.stack([h_even, h_odd], dim=2).flatten(1, 2)  # (B, n, H) in time order


class MinRNNLayer(nn.Module):
    """One minGRU / minLSTM layer, H -> H: a linear map of x_t, then the scan."""

    def __init__(self, hidden: int, cell: str):
        super().__init__()
        self.cell = cell
        self.proj = nn.Linear(hidden, PROJECTIONS[cell] * hidden)  # x_t -> (h̃, gates)

    def coefficients(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """a, b (B, n, H) in float32 from x (B, n, H): the gates see x_t only."""
        parts = self.proj(x).float().chunk(PROJECTIONS[self.cell], dim=-1)
        if self.cell == "mingru":
            k_h, k_z = parts
            return torch.sigmoid(-k_z), torch.sigmoid(k_z) * k_h  # 1 - z, z ⊙ h̃
        k_h, k_f, k_i = parts
        f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
        total = f + i  # normalised so that f' + i' = 1, as the paper's minLSTM
        return f / total, i / total * k_h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, n, H) -> h (B, n, H), every position at once."""
        a, b = self.coefficients(x)
        with record_function(SCAN_REGION):
            return parallel_scan(a, b).to(x.dtype)

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One time step: x (B, 1, H), h (B, H) -> h_t (B, H)."""
        a, b = self.coefficients(x)
        return (a[:, 0] * h.float() + b[:, 0]).to(x.dtype)


class MinRNNLM(nn.Module):
    """Embedding -> minGRU / minLSTM layers -> linear head: the LSTM LM's outer shape
    (no norms, no residuals), with a scan where the LSTM has its sequential kernel."""

    def __init__(self, cfg: MinRNNConfig, cell: str):
        super().__init__()
        self.cfg, self.family = cfg, cell
        self.embed = nn.Embedding(cfg.vocab, cfg.hidden)
        self.layers = nn.ModuleList(MinRNNLayer(cfg.hidden, cell) for _ in range(cfg.layers))
        self.head = nn.Linear(cfg.hidden, cfg.vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)  # (B, n, H)
        for layer in self.layers:
            x = layer(x)  # (B, n, H): a parallel scan over n
        return self.head(x)  # (B, n, V)

    # Streaming: like the LSTM, the whole past lives in h, whatever the context n.
    def decode_init(self, tokens: torch.Tensor) -> torch.Tensor:
        """Read the context (B, n) with the scan; the state is h_n of every layer:
        (layers, B, H)."""
        x, states = self.embed(tokens), []
        for layer in self.layers:
            x = layer(x)
            states.append(x[:, -1])
        return torch.stack(states)

    def decode_step(self, token: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Logits (B, 1, V) of the next token after ``token`` (B, 1), one recurrence step
        per layer; ``state`` is kept as it was, so every call decodes at the same context."""
        x = self.embed(token)  # (B, 1, H)
        for layer, h in zip(self.layers, state, strict=True):
            x = layer.step(x, h)[:, None]  # (B, 1, H)
        return self.head(x)

    def flops(self, batch: int, seq_len: int) -> int:
        """Forward FLOPs of the matrix products: per layer 2·B·n·H·(P·H) for P linear maps
        of x_t, plus the head. The scan's elementwise work (a few multiply-adds per element
        of (B, n, H) per layer, and the sigmoids of the gates) is not counted,
        as for the LSTM's gate nonlinearities and as FlopCounterMode does not."""
        c, p = self.cfg, PROJECTIONS[self.family]
        per_layer = 2 * batch * seq_len * c.hidden * p * c.hidden
        return c.layers * per_layer + 2 * batch * seq_len * c.hidden * c.vocab

    def decode_flops(self, batch: int, context: int) -> int:
        """One generated token: one step of every layer, plus the head (no n term)."""
        return self.flops(batch, 1)

    def bytes_moved(self, batch: int, seq_len: int, dtype_bytes: int,
                    attention_kernel: str | None = None) -> int:
        """Lower bound of the bytes one forward reads and writes (no attention: the
        kernel argument is unused).

        Per position (B·n of them, H = hidden, P = 2 or 3 maps, V = vocab, s = dtype_bytes):
          embedding  -> H;   per layer: projection H -> P·H, scan P·H -> H;   head H -> V
        so s·B·n·(H + L·2(P+1)·H + H + V), plus the int64 ids. Weights once: every
        parameter but the embedding table, of which only the looked-up rows are read.
        Why a lower bound: it is what a fused scan kernel would move; this scan is
        2·log2(n) levels of separate elementwise kernels on float32 halves, quarters, ...
        of (B, n, H), and the gates' sigmoids write their own (B, n, H) temporaries."""
        c, B, n, H, s = self.cfg, batch, seq_len, self.cfg.hidden, dtype_bytes
        p = PROJECTIONS[self.family]
        params = sum(q.numel() for q in self.parameters())
        weights = s * (params - c.vocab * H + min(B * n, c.vocab) * H)
        activations = s * B * n * (H + c.layers * 2 * (p + 1) * H + H + c.vocab)
        return weights + torch.int64.itemsize * B * n + activations  # + the token ids

    def decode_bytes(self, batch: int, context: int, dtype_bytes: int) -> int:
        """One generated token: a one-step forward plus reading h (layers, B, H) once."""
        return (self.bytes_moved(batch, 1, dtype_bytes)
                + self.cfg.layers * batch * self.cfg.hidden * dtype_bytes)
