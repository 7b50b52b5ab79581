"""OpFromGraph: a graph as one op, rewritten, merged, pickled, differentiated and lowered to C."""

import pickle

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import MissingInputError, TypeMismatch
from symdl.testing import verify_grad

RNG = np.random.default_rng(0)


def _affine_tanh():
    x, w, b = T.dmatrix("x"), T.dmatrix("w"), T.dvector("b")
    return symdl.OpFromGraph([x, w, b], [T.tanh(T.dot(x, w) + b)], name="layer"), (x, w, b)


@pytest.mark.parametrize("mode", ["py", "c"])
def test_values_equal_the_graph_it_packages(mode):
    op, _ = _affine_tanh()
    x, w, b = T.dmatrix("x"), T.dmatrix("w"), T.dvector("b")
    f = symdl.function([x, w, b], op(x, w, b) * 2, mode=mode)
    xv, wv, bv = RNG.normal(size=(3, 4)), RNG.normal(size=(4, 2)), RNG.normal(size=2)
    np.testing.assert_allclose(f(xv, wv, bv), np.tanh(xv @ wv + bv) * 2)


def test_several_outputs_and_a_shared_variable_inside():
    s = symdl.shared(np.array([1.0, 2.0]), name="s")
    x = T.dvector("x")
    op = symdl.OpFromGraph([x], [x * s, (x + s).sum()])
    assert op.shared_inputs == [s]
    a = T.dvector("a")
    prod, total = op(a)
    f = symdl.function([a], [prod, total], mode="c")
    got = f(np.array([3.0, 4.0]))
    np.testing.assert_allclose(got[0], [3.0, 8.0])
    assert float(got[1]) == 10.0
    s.set_value(np.array([0.0, 1.0]))
    np.testing.assert_allclose(f(np.array([3.0, 4.0]))[0], [0.0, 4.0])


def test_gradients_reach_inputs_and_shared_variables_and_check_numerically():
    w = symdl.shared(np.array([[0.5, -1.0], [2.0, 0.25]]), name="w")
    x = T.dmatrix("x")
    op = symdl.OpFromGraph([x], [T.sin(T.dot(x, w))])
    a = T.dmatrix("a")
    cost = (op(a) ** 2).sum()
    ga, gw = symdl.grad(cost, [a, w])
    f = symdl.function([a], [ga, gw], mode="c")
    av = RNG.normal(size=(3, 2))
    h = av @ w.get_value()
    dh = 2 * np.sin(h) * np.cos(h)
    got_a, got_w = f(av)
    np.testing.assert_allclose(got_a, dh @ w.get_value().T)
    np.testing.assert_allclose(got_w, av.T @ dh)
    op2, _ = _affine_tanh()
    verify_grad(lambda x, w, b: op2(x, w, b), [RNG.normal(size=(2, 3)), RNG.normal(size=(3, 2)), RNG.normal(size=2)])


def test_rop_and_second_derivatives_go_through_the_gradient_op():
    x = T.dvector("x")
    op = symdl.OpFromGraph([x], [T.exp(x) * x])
    a, v = T.dvector("a"), T.dvector("v")
    f = symdl.function([a, v], [symdl.Rop(op(a), a, v), symdl.hessian(op(a).sum(), a)], mode="py")
    av, vv = np.array([0.5, -1.0]), np.array([1.0, 2.0])
    jv, hess = f(av, vv)
    np.testing.assert_allclose(jv, np.exp(av) * (av + 1) * vv)
    np.testing.assert_allclose(hess, np.diag(np.exp(av) * (av + 2)))


def test_the_inner_graph_is_rewritten_once():
    x, y = T.dvector("x"), T.dvector("y")
    op = symdl.OpFromGraph([x, y], [T.tanh(x * y + T.exp(-x)) * 2])
    plan = op.inner_plan()
    assert [str(n.op).startswith("composite") for n in plan.order] == [True]  # fused into one loop
    assert op.inner_plan() is plan


def test_equal_graphs_make_equal_ops_and_their_applications_merge():
    op1, _ = _affine_tanh()
    op2, _ = _affine_tanh()  # built again: other variables, same structure
    assert op1 == op2 and hash(op1) == hash(op2)
    x, w, b = T.dmatrix("x"), T.dmatrix("w"), T.dvector("b")
    f = symdl.function([x, w, b], op1(x, w, b) + op2(x, w, b), mode="py")
    assert sum(isinstance(n.op, symdl.OpFromGraph) for n in f.graph.toposort()) == 1
    other = symdl.OpFromGraph([x, w, b], [T.tanh(T.dot(x, w) - b)])
    assert other != op1


def test_the_c_backend_runs_the_inner_graph_in_the_module_with_no_python_callback():
    outer_op, _ = _affine_tanh()
    x = T.dmatrix("x")
    nested = symdl.OpFromGraph([x], [outer_op(x, x, x[0]) + 1])  # an OpFromGraph inside another
    a = T.dmatrix("a")
    f = symdl.function([a], nested(a), mode="c")
    av = RNG.normal(size=(3, 3))
    np.testing.assert_allclose(f(av), np.tanh(av @ av + av[0]) + 1)
    assert "A->py(" not in f.source()
    assert {backend for _, backend, _, _ in f.profile().rows} == {"c"}


def test_inline_replaces_the_node_by_its_graph_while_rewriting():
    x = T.dvector("x")
    op = symdl.OpFromGraph([x], [T.exp(x) + 1], inline=True)
    a = T.dvector("a")
    f = symdl.function([a], op(a) * 3, mode="py")
    assert not any(isinstance(n.op, symdl.OpFromGraph) for n in f.graph.toposort())
    np.testing.assert_allclose(f(np.zeros(2)), [6.0, 6.0])


def test_functions_and_ops_pickle_and_resume():
    s = symdl.shared(np.array([2.0, 3.0]), name="s")
    x = T.dvector("x")
    op = symdl.OpFromGraph([x], [x * s + 1])
    a = T.dvector("a")
    f = symdl.function([a], op(a).sum(), mode="c")
    g = pickle.loads(pickle.dumps(f))
    assert float(g(np.ones(2))) == float(f(np.ones(2))) == 7.0
    op_again = pickle.loads(pickle.dumps(op))
    assert op_again == op


def test_graphs_with_an_op_from_graph_have_a_fingerprint_for_the_compile_cache():
    from symdl.backend.c import memo
    from symdl.graph.fg import FunctionGraph

    x = T.dvector("x")
    settings = ("fast_run", (), ())
    keys = []
    for body in (T.exp(x), T.log(x)):
        a = T.dvector("a")
        op = symdl.OpFromGraph([x], [body])
        keys.append(memo.fingerprint(FunctionGraph([a], [op(a)]), settings))
    assert None not in keys and keys[0] != keys[1]


def test_bad_inputs_raise_at_build_time():
    x = T.dvector("x")
    op = symdl.OpFromGraph([x], [x * 2])
    with pytest.raises(TypeMismatch, match="input 0"):
        op(T.dmatrix("m"))
    y = T.dvector("y")
    with pytest.raises(MissingInputError, match="y"):
        symdl.OpFromGraph([x], [x + y])
