"""Scaling-analysis profiler for sequence models (LSTM vs Transformer and your own)."""

__version__ = "0.1.0"
