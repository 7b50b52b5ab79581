"""Helpers for rewrite tests: compile with and without rewriting, list the ops, compare values."""

import numpy as np
import pytest

import symdl


class RewriteChecker:
    """Compiles a graph with ``optimizer='none'`` (before) and rewritten (after) on the py backend."""

    def compile(self, inputs, outputs, excluding=("fusion",), **kw):
        after = symdl.function(inputs, outputs, mode="py", optimizer_excluding=list(excluding), **kw)
        before = symdl.function(inputs, outputs, mode="py", optimizer="none", **kw)
        return before, after

    @staticmethod
    def ops(fn):
        return [str(n.op) for n in fn.graph.toposort()]

    @staticmethod
    def same(before, after, *values, rtol=1e-5, atol=1e-6):
        a, b = before(*values), after(*values)
        if not isinstance(a, list):
            a, b = [a], [b]
        for x, y in zip(a, b):
            assert np.shape(x) == np.shape(y)
            assert np.asarray(x).dtype == np.asarray(y).dtype
            np.testing.assert_allclose(y, x, rtol=rtol, atol=atol)


@pytest.fixture
def rw():
    return RewriteChecker()
