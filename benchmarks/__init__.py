"""Benchmarks of symdl against its peers (NumPy, PyTensor, JAX, PyTorch).

Run ``python -m benchmarks`` from the repository root (``--help`` for the options). Every benchmark
runs for every framework in a subprocess of its own, so imports and thread pools cannot interfere;
see ``benchmarks/harness.py`` for the method and ``benchmarks/RESULTS.md`` for the latest table.
"""
