"""Linear-algebra stabilizations (symdl.rewrite.linalg): the graph before and after, equal values,
and the accuracy the rewrite buys."""

import numpy as np

import symdl
import symdl.tensor as T
from symdl.tensor import nlinalg, slinalg


def spd(n, seed=0, scale=1.0):
    a = np.random.default_rng(seed).standard_normal((n, n))
    return scale * (a @ a.T + n * np.eye(n))


def test_log_det_becomes_slogdet(rw):
    x = T.dmatrix("x")
    before, after = rw.compile([x], [T.log(nlinalg.det(x)), T.log(T.abs(nlinalg.det(x)))])
    assert rw.ops(before).count("det") == 2
    assert "det" not in rw.ops(after) and "slogdet" in rw.ops(after)
    rw.same(before, after, spd(3))
    big = 1e3 * np.eye(200)  # det overflows float64
    assert np.isinf(before(big)[0])
    np.testing.assert_allclose(after(big), [200 * np.log(1e3)] * 2)
    negative = np.array([[0.0, 1.0], [1.0, 0.0]])  # det = -1: log gives NaN, log of abs gives 0
    value, absolute = after(negative)
    assert np.isnan(value) and absolute == 0.0


def test_the_gradient_of_log_det_does_not_overflow():
    x = T.dmatrix("x")
    cost = T.log(nlinalg.det(x))
    f = symdl.function([x], symdl.grad(cost, x))
    big = 1e3 * np.eye(200)
    np.testing.assert_allclose(f(big), np.linalg.inv(big).T)
    assert "det" not in [str(n.op) for n in f.graph.toposort()]


def test_inverse_times_b_becomes_solve(rw):
    a, b, m = T.dmatrix("a"), T.dvector("b"), T.dmatrix("m")
    stack, rhs = T.dtensor3("stack"), T.dtensor3("rhs")
    inv = nlinalg.matrix_inverse
    outputs = [T.dot(inv(a), b), inv(a) @ m, m @ inv(a), b @ inv(a), inv(a).T @ m, inv(stack) @ rhs]
    before, after = rw.compile([a, b, m, stack, rhs], outputs)
    assert "matrix_inverse" in rw.ops(before)
    assert "matrix_inverse" not in rw.ops(after)
    assert rw.ops(after).count("solve") == len(outputs)
    rng = np.random.default_rng(1)
    values = [spd(3), rng.standard_normal(3), rng.standard_normal((3, 3))]
    values += [np.stack([spd(3, 2), spd(3, 3)]), rng.standard_normal((2, 3, 4))]
    rw.same(before, after, *values, rtol=1e-9, atol=1e-12)


def test_solve_is_more_accurate_than_the_inverse_on_an_ill_conditioned_matrix(rw):
    a, b = T.dmatrix("a"), T.dvector("b")
    before, after = rw.compile([a, b], T.dot(nlinalg.matrix_inverse(a), b))
    n = 12
    hilbert = 1.0 / (np.arange(n)[:, None] + np.arange(n)[None, :] + 1)  # condition number ~1e16
    x = np.ones(n)
    rhs = hilbert @ x
    residual_inv = np.linalg.norm(hilbert @ before(hilbert, rhs) - rhs)
    residual_solve = np.linalg.norm(hilbert @ after(hilbert, rhs) - rhs)
    assert residual_solve < residual_inv / 10


def test_solve_with_a_cholesky_factor_becomes_a_triangular_solve(rw):
    a, b = T.dmatrix("a"), T.dmatrix("b")
    low, up = slinalg.cholesky(a), slinalg.cholesky(a, lower=False)
    outputs = [slinalg.solve(low, b), slinalg.solve(low.T, b), slinalg.solve(up, b), slinalg.solve(up.T, b)]
    before, after = rw.compile([a, b], outputs)
    assert rw.ops(before).count("solve") == 4
    assert "solve" not in rw.ops(after) and sum(op.startswith("solve_triangular") for op in rw.ops(after)) == 4
    rw.same(before, after, spd(4), np.random.default_rng(2).standard_normal((4, 2)), rtol=1e-9, atol=1e-12)


def test_symmetric_solves_and_cholesky_of_a_gram_matrix_are_left_alone(rw):
    a, b, x = T.dmatrix("a"), T.dvector("b"), T.dmatrix("x")
    outputs = [slinalg.solve(slinalg.cholesky(a), b, assume_a="pos"), slinalg.cholesky(x @ x.T)]
    before, after = rw.compile([a, b, x], outputs)
    assert "solve{assume_a='pos'}" in rw.ops(after)
    assert "cholesky" in rw.ops(after) and rw.ops(after).count("cholesky") == 2
    rw.same(before, after, spd(3), np.ones(3), np.random.default_rng(3).standard_normal((3, 3)))


def test_the_rewrites_can_be_excluded_by_tag():
    a, b = T.dmatrix("a"), T.dvector("b")
    f = symdl.function([a, b], T.dot(nlinalg.matrix_inverse(a), b), mode="py", optimizer_excluding="linalg")
    assert "matrix_inverse" in [str(n.op) for n in f.graph.toposort()]
