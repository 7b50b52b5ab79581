"""ifelse: a lazy branch, on every backend, with gradients and several outputs."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import TypeMismatch
from symdl.ifelse import IfElse, ifelse
from symdl.testing import verify_grad

MODES = ["py", "c"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_branch_the_condition_selects(mode, dtype):
    a, b = T.scalar("a", dtype=dtype), T.scalar("b", dtype=dtype)
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    f = symdl.function([a, b, x, y], ifelse(T.lt(a, b), T.exp(x).sum(), (y * 2).max()), mode=mode)
    xv, yv = np.array([0.0, 1.0], dtype), np.array([3.0, -1.0], dtype)
    assert float(f(1, 2, xv, yv)) == pytest.approx(1 + np.e, rel=1e-6)
    assert float(f(2, 1, xv, yv)) == 6.0


@pytest.mark.parametrize("mode", MODES)
def test_only_the_branch_taken_is_computed(mode):
    x, i = T.dvector("x"), T.lscalar("i")
    # the other branch indexes out of range: computing it would raise
    f = symdl.function([x, i], ifelse(T.lt(i, x.shape[0]), x[i], x[i - 10] * 2), mode=mode)
    assert float(f(np.arange(3.0), 1)) == 1.0
    with pytest.raises(IndexError):
        f(np.arange(3.0), 4)  # the branch taken is the one that reads out of range


def test_the_c_backend_runs_both_branches_in_the_module():
    x, y = T.dvector("x"), T.dvector("y")
    f = symdl.function([x, y], ifelse(T.gt(x.sum(), 0), T.tanh(x), T.sin(y)), mode="c")
    assert "if (" in f.source() and "A->py(" not in f.source()
    np.testing.assert_allclose(f(np.ones(2), np.zeros(2)), np.tanh(np.ones(2)))
    np.testing.assert_allclose(f(-np.ones(2), np.ones(2)), np.sin(np.ones(2)))


@pytest.mark.parametrize("mode", MODES)
def test_several_outputs_and_branches_that_are_inputs(mode):
    c, x, y = T.bscalar("c"), T.dvector("x"), T.dvector("y")
    p, q = ifelse(c, [x, x + y], [y, x * y])
    f = symdl.function([c, x, y], [p, q], mode=mode)
    xv, yv = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    got = f(1, xv, yv)
    np.testing.assert_allclose(got[0], xv)
    np.testing.assert_allclose(got[1], xv + yv)
    got = f(0, xv, yv)
    np.testing.assert_allclose(got[0], yv)
    np.testing.assert_allclose(got[1], xv * yv)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_flow_through_the_branch_taken(mode):
    rng = np.random.default_rng(0)
    x, w = T.dvector("x"), T.dvector("w")
    cost = ifelse(T.gt(w.sum(), 0), (T.sin(x) * w).sum(), (x**2).sum())
    gx, gw = symdl.grad(cost, [x, w])
    f = symdl.function([x, w], [gx, gw], mode=mode)
    xv = rng.normal(size=3)
    got = f(xv, np.ones(3))
    np.testing.assert_allclose(got[0], np.cos(xv))
    np.testing.assert_allclose(got[1], np.sin(xv))
    got = f(xv, -np.ones(3))
    np.testing.assert_allclose(got[0], 2 * xv)
    np.testing.assert_allclose(got[1], 0.0)
    for sign in (1.0, -1.0):
        verify_grad(lambda x, sign=sign: ifelse(T.constant(sign) > 0, T.tanh(x) * 3, T.exp(x)), [xv], mode=mode)


def test_work_both_branches_need_runs_once_before_the_node():
    x = T.dvector("x")
    shared_work = T.exp(x)
    out = ifelse(T.gt(x.sum(), 0), shared_work.sum(), shared_work.max())
    node = out.owner
    assert isinstance(node.op, IfElse)
    assert shared_work in node.inputs  # computed outside, read by both


def test_branches_of_different_types_are_an_error():
    x, y = T.dvector("x"), T.dmatrix("y")
    with pytest.raises(TypeMismatch, match="test_ifelse.py"):
        ifelse(T.constant(True), x, y)
