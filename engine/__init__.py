"""The backtest engine: data loading, strategies, compiled kernels, metrics, storage, CLI."""

__version__ = "0.1.0"
