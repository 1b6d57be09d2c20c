"""Users' own models for the factory path, without ``flops()``: their FLOPs are counted.

Token ids (B, n) in, logits (B, n, vocab) out, like the built-ins."""

import torch.nn.functional as F
from torch import nn


class RNNLM(nn.Module):
    """Embedding (width ``embed``) -> nn.LSTM / nn.GRU -> head; decode support included."""

    def __init__(self, cell: str, embed: int, hidden: int, layers: int, vocab: int,
                 bidirectional: bool, batch_first: bool):
        super().__init__()
        self.family, self.vocab, self.batch_first = cell, vocab, batch_first
        self.embed = nn.Embedding(vocab, embed)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(embed, hidden, layers, batch_first=batch_first,
                       bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), vocab)

    def _run(self, x, state=None):
        x = x if self.batch_first else x.transpose(0, 1)  # (n, B, E) for a seq-first RNN
        y, state = self.rnn(x, state)
        return (y if self.batch_first else y.transpose(0, 1)), state

    def forward(self, tokens):
        return self.head(self._run(self.embed(tokens))[0])

    def decode_init(self, tokens):
        return self._run(self.embed(tokens))[1]

    def decode_step(self, token, state):
        return self.head(self._run(self.embed(token), state)[0])


def lstm_lm(embed=12, hidden=16, layers=2, vocab=32, bidirectional=False, batch_first=True):
    return RNNLM("lstm", embed, hidden, layers, vocab, bidirectional, batch_first)


def gru_lm(embed=12, hidden=16, layers=2, vocab=32, bidirectional=False, batch_first=True):
    return RNNLM("gru", embed, hidden, layers, vocab, bidirectional, batch_first)


class CausalAttentionLM(nn.Module):
    """One causal self-attention layer on F.scaled_dot_product_attention, no decode."""

    family = "attention"

    def __init__(self, d: int, heads: int, vocab: int):
        super().__init__()
        self.heads, self.vocab = heads, vocab
        self.embed = nn.Embedding(vocab, d)
        self.qkv = nn.Linear(d, 3 * d)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens):
        x = self.embed(tokens)  # (B, n, d)
        B, n, d = x.shape
        q, k, v = (t.view(B, n, self.heads, d // self.heads).transpose(1, 2)
                   for t in self.qkv(x).split(d, dim=2))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, heads, n, d/heads)
        return self.head(a.transpose(1, 2).reshape(B, n, d))


def causal_attention(d=16, heads=2, vocab=32):
    return CausalAttentionLM(d, heads, vocab)
