"""Specialize: gemm, gemv and dot from their elementwise spellings."""

import numpy as np

import symdl
import symdl.tensor as T
from symdl.tensor.blas import Gemm, gemm


def test_scaled_dot_plus_scaled_term_becomes_gemm(rw):
    a, b, c = T.dmatrix("a"), T.dmatrix("b"), T.dmatrix("c")
    before, after = rw.compile([a, b, c], 2.0 * T.dot(a, b) + 3.0 * c)
    assert rw.ops(before) == ["dot", "mul", "mul", "add"]
    assert rw.ops(after) == ["gemm"]
    rng = np.random.default_rng(0)
    rw.same(before, after, rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=(2, 4)))


def test_dot_plus_bias_row_becomes_gemm(rw):
    x, w, b = T.dmatrix("x"), T.dmatrix("w"), T.dvector("b")
    before, after = rw.compile([x, w, b], T.dot(x, w) + b)
    assert rw.ops(after) == ["gemm"]
    rng = np.random.default_rng(1)
    rw.same(before, after, rng.normal(size=(2, 3)), rng.normal(size=(3, 4)), rng.normal(size=4))


def test_sgd_update_becomes_gemm(rw):
    x, g, w = T.dmatrix("x"), T.dmatrix("g"), T.dmatrix("w")
    before, after = rw.compile([x, g, w], w - 0.1 * T.dot(x.T, g))
    assert "gemm" in rw.ops(after) and "dot" not in rw.ops(after)
    rng = np.random.default_rng(2)
    rw.same(before, after, rng.normal(size=(5, 3)), rng.normal(size=(5, 4)), rng.normal(size=(3, 4)))


def test_matrix_vector_product_plus_vector_becomes_gemv(rw):
    a, v, y = T.dmatrix("a"), T.dvector("v"), T.dvector("y")
    before, after = rw.compile([a, v, y], y + 0.5 * T.dot(a, v))
    assert rw.ops(after) == ["gemv"]
    rng = np.random.default_rng(3)
    rw.same(before, after, rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=3))


def test_dot_used_elsewhere_is_not_duplicated_into_gemm(rw):
    a, b, c = T.dmatrix("a"), T.dmatrix("b"), T.dmatrix("c")
    d = T.dot(a, b)
    _, after = rw.compile([a, b, c], [d + c, T.exp(d)])
    assert "gemm" not in rw.ops(after)


def test_sum_of_vector_product_becomes_dot(rw):
    x = T.dvector("x")
    y = T.exp(x)
    before, after = rw.compile([x], T.sum(x * y))
    assert rw.ops(before) == ["exp", "mul", "sum"]
    assert rw.ops(after) == ["exp", "dot"]
    rw.same(before, after, np.array([0.5, 1.0, -2.0]))


def test_gemm_op_computes_and_differentiates():
    from symdl.testing import verify_grad

    rng = np.random.default_rng(4)
    pts = [rng.normal(size=(1, 3)), np.array(2.0), rng.normal(size=(2, 4)), rng.normal(size=(4, 3)), np.array(-1.5)]
    value = gemm.perform(None, [p.copy() for p in pts])[0]
    np.testing.assert_allclose(value, -1.5 * pts[0] + 2.0 * pts[2] @ pts[3])
    verify_grad(lambda c, al, a, b, be: Gemm()(c, al, a, b, be), pts, mode="py")


def test_gemm_op_runs_in_a_function():
    c, a, b = T.dmatrix("c"), T.dmatrix("a"), T.dmatrix("b")
    out = gemm(c, T.constant(np.float64(1.0)), a, b, T.constant(np.float64(2.0)))
    f = symdl.function([c, a, b], out, mode="py")
    np.testing.assert_allclose(f(np.ones((2, 2)), np.eye(2), np.eye(2)), 2 + np.eye(2))
