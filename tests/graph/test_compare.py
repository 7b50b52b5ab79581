"""Structural comparison of graphs: equal_computations and is_same_graph (Theano's)."""

import numpy as np

import symdl
import symdl.tensor as T
from symdl.graph import equal_computations, is_same_graph


def test_graphs_built_alike_are_the_same():
    x, w = T.matrix("x"), T.matrix("w")
    assert is_same_graph(x.mean(), x.mean())
    assert is_same_graph((x * w).sum() / w.sum(), (x * w).sum() / w.sum())
    assert is_same_graph(x, x)


def test_different_ops_inputs_leaves_or_constants_differ():
    x, y = T.matrix("x"), T.matrix("y")
    assert not is_same_graph(x.mean(), x.sum())
    assert not is_same_graph(x + y, y + x)
    assert not is_same_graph(x * 2, x * 3)
    assert not is_same_graph(T.matrix("a"), T.matrix("a"))
    assert not is_same_graph(x.sum(axis=0), x.sum(axis=1))
    assert not equal_computations([x, y], [x])


def test_constants_compare_by_value_and_givens_pair_leaves():
    x, y = T.vector("x"), T.vector("y")
    assert is_same_graph(x + np.ones(3), x + np.ones(3))
    assert is_same_graph(T.exp(x) * 2, T.exp(y) * 2, givens={x: y})
    assert not is_same_graph(T.exp(x) * x, T.exp(y) * x, givens={x: y})
    assert equal_computations([x + 1, y], [y + 1, x], [x, y], [y, x])


def test_shared_subgraphs_and_deep_chains():
    x = symdl.shared(np.zeros(2), name="x")
    a = b = x
    for _ in range(5000):  # deeper than the recursion limit
        a, b = a * 1.5 + a, b * 1.5 + b
    assert is_same_graph(a, b)
    assert not is_same_graph(a, b + 0)
