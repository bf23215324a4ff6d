"""The simulation: indicators, signals, strategies, the compiled kernels and the metrics.

Pure computation (arrays and frames in, arrays and frames out): nothing here reads or writes
files or the network. Loading prices is :mod:`engine.data`; storage is :mod:`engine.store`.
"""
