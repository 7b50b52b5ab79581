"""symdl.fuzz: a differential fuzzer of symdl's backends against NumPy.

``python -m symdl.fuzz --graphs 300 --seed 0`` draws random graphs (elementwise ops on special
values, broadcasting, dtypes and weak scalars, reductions, indexing, shapes, dot, conv and pool,
softmax, and gradients checked by finite differences), runs each on every backend and on a NumPy
reference of the same graph, and prints each failure, shrunk, as a ready-to-paste pytest test.
See docs/reliability.md.
"""
