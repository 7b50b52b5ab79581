"""symdl.gradient: grad's full signature (as Theano's), gradient-control ops, jacobian, hessian,
Lop and Rop, the Theano tutorial's examples, and gradients of large graphs."""

import inspect
import re
import warnings

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import DisconnectedInputError, NullGradError, ShapeError, TypeMismatch
from symdl.gradient import NullGradient, grad_not_implemented, grad_undefined
from symdl.graph import Apply, Op, toposort
from symdl.tensor.var import as_tensor_variable


def values(outputs, inputs, *args):
    return symdl.function(inputs, outputs, on_unused_input="ignore")(*args)


# On the NumPy reference backend (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("reference_backend")


class Doubler(Op):
    """2x in the forward pass; its gradient is declared by ``how``."""

    __props__ = ("how",)

    def __init__(self, how):
        self.how = how

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0] * 2]

    def L_op(self, inputs, outputs, grads):
        if self.how == "undefined":
            return [grad_undefined(self, 0, inputs[0], "doubling is a test")]
        if self.how == "not implemented":
            return [grad_not_implemented(self, 0, inputs[0])]
        return super().L_op(inputs, outputs, grads)


# ------------------------------------------------------------------ the Theano tutorial
def test_gradient_of_sum_of_squares_is_2x():
    x = T.dvector("x")
    xv = np.array([-1.5, 0.0, 4.0])
    np.testing.assert_array_equal(values(symdl.grad(T.sum(x**2), x), [x], xv), 2 * xv)
    s = T.dscalar("s")
    assert float(values(symdl.grad(s**2, s), [s], 4.0)) == 8.0


def test_gradient_of_the_logistic_is_s_times_1_minus_s():
    x = T.dmatrix("x")
    s = 1 / (1 + T.exp(-x))
    xv = np.array([[0.0, 1.0], [-1.0, -2.0]])
    sv = 1 / (1 + np.exp(-xv))
    np.testing.assert_allclose(values(symdl.grad(T.sum(s), x), [x], xv), sv * (1 - sv), rtol=1e-14)


def test_jacobian_of_x_squared_is_diag_2x():
    x = T.dvector("x")
    xv = np.array([4.0, 4.0, -1.0])
    np.testing.assert_array_equal(values(symdl.jacobian(x**2, x), [x], xv), np.diag(2 * xv))


def test_hessian_of_sum_of_squares_is_2_identity():
    x = T.dvector("x")
    np.testing.assert_array_equal(values(symdl.hessian(T.sum(x**2), x), [x], np.array([4.0, 4.0, 1.0])), 2 * np.eye(3))


def test_second_derivative_by_grad_of_grad():
    x = T.dscalar("x")
    gx = symdl.grad(x**3, x)
    assert float(values(symdl.grad(gx, x), [x], 2.0)) == 12.0


def test_logistic_regression_with_grad_follows_the_hand_derived_cost_curve():
    # The Theano tutorial's logistic regression, smaller: T.grad against the hand-derived gradient.
    rng = np.random.default_rng(0)
    n, feats, steps = 60, 8, 40
    data_x, data_y = rng.normal(size=(n, feats)), rng.integers(0, 2, n).astype("float64")

    def train(use_grad):
        x, y = T.dmatrix("x"), T.dvector("y")
        w = symdl.shared(np.random.default_rng(1).normal(size=feats), name="w")
        b = symdl.shared(0.0, name="b")
        p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
        xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
        cost = xent.mean() + 0.01 * (w**2).sum()
        if use_grad:
            gw, gb = T.grad(cost, [w, b])
        else:
            gw = T.dot(x.T, p_1 - y) / n + 0.02 * w
            gb = T.cast(T.mean(p_1 - y), b.dtype)
        step = symdl.function([x, y], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
        return [float(step(data_x, data_y)) for _ in range(steps)]

    with_grad, by_hand = train(True), train(False)
    assert with_grad[-1] < with_grad[0]
    np.testing.assert_allclose(with_grad, by_hand, rtol=1e-6)


def test_hessian_of_a_two_layer_mlp_matches_finite_differences_of_its_gradient():
    rng = np.random.default_rng(0)
    n_in, n_hidden, n_out, batch = 3, 4, 3, 5
    sizes = [n_in * n_hidden, n_hidden, n_hidden * n_out, n_out]
    theta = T.dvector("theta")
    x, y = T.dmatrix("x"), T.dmatrix("y")
    bounds = np.cumsum([0, *sizes])
    w1 = T.reshape(theta[bounds[0] : bounds[1]], (n_in, n_hidden))
    b1 = theta[bounds[1] : bounds[2]]
    w2 = T.reshape(theta[bounds[2] : bounds[3]], (n_hidden, n_out))
    b2 = theta[bounds[3] : bounds[4]]
    h = T.tanh(T.dot(x, w1) + b1)
    z = T.dot(h, w2) + b2
    log_p = z - T.log(T.sum(T.exp(z), axis=1, keepdims=True))  # softmax cross-entropy, by hand
    loss = -T.sum(y * log_p) / batch

    xv = rng.normal(size=(batch, n_in))
    yv = np.eye(n_out)[rng.integers(0, n_out, batch)]
    tv = rng.normal(size=bounds[-1]) * 0.5
    hess = values(symdl.hessian(loss, theta), [theta, x, y], tv, xv, yv)
    grad_fn = symdl.function([theta, x, y], symdl.grad(loss, theta))
    eps = 1e-6
    numeric = np.empty_like(hess)
    for i in range(tv.size):
        step = np.zeros_like(tv)
        step[i] = eps
        numeric[:, i] = (grad_fn(tv + step, xv, yv) - grad_fn(tv - step, xv, yv)) / (2 * eps)
    assert hess.shape == (tv.size, tv.size)
    np.testing.assert_allclose(hess, hess.T, atol=1e-10)
    np.testing.assert_allclose(hess, numeric, atol=1e-7)


# ------------------------------------------------------------------ grad's signature
def test_wrt_a_variable_gives_a_variable_and_a_list_or_tuple_the_same_structure():
    x, y = T.dscalar("x"), T.dscalar("y")
    cost = x * y
    single = symdl.grad(cost, x)
    assert isinstance(single, symdl.graph.Variable)
    as_list = symdl.grad(cost, [x, y])
    as_tuple = symdl.grad(cost, (x, y))
    assert isinstance(as_list, list) and isinstance(as_tuple, tuple) and len(as_tuple) == 2
    assert values(as_list, [x, y], 2.0, 3.0) == [3.0, 2.0]
    assert values(list(as_tuple), [x, y], 2.0, 3.0) == [3.0, 2.0]


def test_cost_must_be_a_scalar_and_the_error_names_its_shape():
    x = T.dmatrix("x", shape=(None, 3))
    with pytest.raises(ShapeError, match=r"scalar.*2-d.*\(\?, 3\).*created at test_gradient.py"):
        symdl.grad(x * 2, x)


def test_cost_must_be_a_float():
    i = T.ivector("i")
    with pytest.raises(TypeMismatch, match="must be a float, got int64"):
        symdl.grad(T.sum(i), i)


def test_cost_none_with_known_grads():
    x = T.dvector("x")
    h = T.exp(x)
    g = symdl.grad(None, x, known_grads={h: np.array([1.0, 2.0])})
    np.testing.assert_allclose(values(g, [x], np.array([0.0, 1.0])), [1.0, 2 * np.e])
    with pytest.raises(ValueError, match="known_grads"):
        symdl.grad(None, x)
    with pytest.raises(ShapeError, match="known gradient"):
        symdl.grad(None, x, known_grads={h: np.ones((2, 2))})


def test_known_grads_adds_to_the_cost_gradient():
    x = T.dvector("x")
    h = x * 3
    g = symdl.grad(T.sum(h), x, known_grads={h: T.ones_like(h)})
    np.testing.assert_array_equal(values(g, [x], np.zeros(2)), [6.0, 6.0])


def test_known_grads_of_another_dtype_are_cast_to_the_variable_dtype():
    x = T.fvector("x")
    h = x * 2
    g = symdl.grad(None, x, known_grads={h: np.ones(3)})
    assert g.dtype == "float32"


def test_consider_constant_stops_the_gradient_at_those_variables():
    x = T.dscalar("x")
    y = x**2
    cost = y * x
    g = symdl.grad(cost, x, consider_constant=[y])
    assert float(values(g, [x], 3.0)) == 9.0  # y treated as a constant: d(y * x)/dx = y
    assert float(values(symdl.grad(cost, x), [x], 3.0)) == 27.0


def test_disconnected_input_raises_naming_the_variable_and_the_user_lines():
    x = T.dvector("x")
    w = T.dvector("w")
    created = inspect.currentframe().f_lineno - 1
    cost = T.sum(x**2)
    with pytest.raises(DisconnectedInputError) as info:
        symdl.grad(cost, [x, w])
    called = inspect.currentframe().f_lineno - 1
    message = str(info.value)
    assert f"w created at test_gradient.py:{created}" in message
    assert f"grad called at test_gradient.py:{called}" in message
    assert "x created" not in message


def test_disconnected_inputs_warn_and_ignore():
    x, w = T.dvector("x"), T.dvector("w")
    cost = T.sum(x)
    with pytest.warns(UserWarning, match="does not depend on w"):
        gw = symdl.grad(cost, w, disconnected_inputs="warn")
    np.testing.assert_array_equal(values(gw, [w], np.ones(3)), np.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gw = symdl.grad(cost, w, disconnected_inputs="ignore")
    np.testing.assert_array_equal(values(gw, [w], np.ones(2)), np.zeros(2))


def test_return_disconnected_zero_none_and_disconnected():
    x, w = T.fmatrix("x"), T.fmatrix("w")
    cost = T.sum(x)
    zero = symdl.grad(cost, w, disconnected_inputs="ignore", return_disconnected="zero")
    assert zero.dtype == "float32"
    np.testing.assert_array_equal(values(zero, [w], np.ones((2, 3), "float32")), np.zeros((2, 3)))
    assert symdl.grad(cost, [x, w], disconnected_inputs="ignore", return_disconnected="none")[1] is None
    assert symdl.grad(cost, w, disconnected_inputs="ignore", return_disconnected="disconnected") is None


def test_invalid_option_values_are_rejected():
    x = T.dscalar("x")
    for kw in ({"disconnected_inputs": "skip"}, {"return_disconnected": "zeros"}, {"null_gradients": "warn"}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            symdl.grad(x * 2, x, **kw)
    with pytest.raises(TypeError, match="symbolic variables"):
        symdl.grad(x * 2, np.ones(2))


@pytest.mark.parametrize(
    "how, what", [("undefined", "is undefined: doubling is a test"), ("default", "not implemented")]
)
def test_missing_gradient_raises_naming_the_op_and_the_line_that_applied_it(how, what):
    x = T.dvector("x")
    doubled = Doubler(how)(x)
    cost = T.sum(T.exp(doubled) * 3)
    with pytest.raises(NullGradError) as info:
        symdl.grad(cost, x)
    called = inspect.currentframe().f_lineno - 1
    message = str(info.value)
    # A test-defined op's outputs are created in its make_node, which is user code here.
    assert f"Doubler{{how='{how}'}}, applied at {doubled.trace}," in message
    assert what in message
    assert "x created at test_gradient.py:" in message
    assert f"grad called at test_gradient.py:{called}" in message


def test_missing_gradient_of_a_symdl_op_names_the_user_line_that_applied_it():
    from symdl.tensor.extra_ops import unique

    x = T.dvector("x")
    distinct = unique(T.exp(x))
    applied = inspect.currentframe().f_lineno - 1
    with pytest.raises(NullGradError, match=f"applied at test_gradient.py:{applied},.*not implemented"):
        symdl.grad(T.sum(distinct), x)


def test_a_jacobian_can_be_differentiated_again():
    x = T.dvector("x")
    g = symdl.grad(T.sum(symdl.jacobian(T.exp(x) * x, x)), x)  # d/dx of the trace-free sum of the diagonal
    xv = np.array([0.5, -1.0])
    np.testing.assert_allclose(values(g, [x], xv), np.exp(xv) * (xv + 2))


def test_grad_not_implemented_message():
    x = T.dvector("x")
    with pytest.raises(NullGradError, match="Doubler.*is not implemented: nobody wrote it yet"):
        symdl.grad(T.sum(Doubler("not implemented")(x)), x)


def test_a_null_gradient_wins_over_other_paths_and_can_be_returned():
    x = T.dvector("x")
    cost = T.sum(Doubler("undefined")(x * 2) + x)
    with pytest.raises(NullGradError):
        symdl.grad(cost, x)
    null = symdl.grad(cost, x, null_gradients="return")
    assert isinstance(null, NullGradient) and "doubling is a test" in null.message()


def test_a_null_gradient_that_is_not_needed_is_no_error():
    x, w = T.dvector("x"), T.dvector("w")
    cost = T.sum(Doubler("undefined")(x) + w * 2)
    np.testing.assert_array_equal(values(symdl.grad(cost, w), [x, w], np.zeros(2), np.zeros(2)), [2.0, 2.0])


def test_integer_and_boolean_outputs_are_disconnected():
    x = T.dvector("x")
    through_argmax = T.cast(T.argmax(x), "float64") * T.sum(x * 0)
    with pytest.raises(DisconnectedInputError):
        symdl.grad(T.cast(T.argmax(x), "float64"), x)
    g = symdl.grad(through_argmax, x)
    np.testing.assert_array_equal(values(g, [x], np.array([1.0, 3.0])), [0.0, 0.0])
    with pytest.raises(DisconnectedInputError):
        symdl.grad(T.sum(T.cast(T.gt(x, 0), "float64")), x)
    # The boolean mask carries no gradient, the product still does.
    g = symdl.grad(T.sum(x * T.gt(x, 0)), x)
    np.testing.assert_array_equal(values(g, [x], np.array([-1.0, 2.0])), [0.0, 1.0])


def test_gradient_with_respect_to_an_integer_variable_is_disconnected():
    i = T.ivector("i")
    cost = T.sum(T.cast(i, "float64") ** 2)
    with pytest.raises(DisconnectedInputError, match="not a float type"):
        symdl.grad(cost, i)
    g = symdl.grad(cost, i, disconnected_inputs="ignore")
    np.testing.assert_array_equal(values(g, [i], np.array([1, 2], "int32")), [0, 0])


def test_gradient_of_a_float32_graph_stays_float32():
    x = T.fmatrix("x")
    w = symdl.shared(np.ones((3, 2), "float32"), name="w")
    g = symdl.grad(T.mean(T.tanh(T.dot(x, w)) * 0.5), w)
    assert g.dtype == "float32"


def test_gradient_with_respect_to_the_cost_itself_is_one():
    x = T.dscalar("x")
    cost = x * 3
    assert float(values(symdl.grad(cost, cost), [x], 1.0)) == 1.0


# ------------------------------------------------------------------ gradient control
def test_disconnected_grad_acts_as_a_constant():
    x = T.dscalar("x")
    assert float(values(symdl.grad(x * symdl.disconnected_grad(x), x), [x], 3.0)) == 3.0
    with pytest.raises(DisconnectedInputError):
        symdl.grad(symdl.disconnected_grad(x) * 2, x)
    assert float(values(symdl.disconnected_grad(x) * 2, [x], 3.0)) == 6.0


def test_zero_grad_gives_a_zero_gradient_but_stays_connected():
    x = T.dvector("x")
    g = symdl.grad(T.sum(symdl.zero_grad(x) ** 2), x)
    np.testing.assert_array_equal(values(g, [x], np.array([1.0, 2.0])), [0.0, 0.0])
    g = symdl.grad(T.sum(symdl.zero_grad(x) * x), x)
    np.testing.assert_array_equal(values(g, [x], np.array([1.0, 2.0])), [1.0, 2.0])


def test_grad_clip_clips_the_gradient_flowing_back():
    x = T.dvector("x")
    g = symdl.grad(T.sum(symdl.grad_clip(x, -1.0, 2.0) * np.array([-5.0, 0.5, 5.0])), x)
    np.testing.assert_array_equal(values(g, [x], np.zeros(3)), [-1.0, 0.5, 2.0])
    assert float(values(symdl.grad_clip(x, -1, 1).sum(), [x], np.array([7.0]))) == 7.0
    with pytest.raises(ValueError, match="lower_bound"):
        symdl.grad_clip(x, 1, -1)


# ------------------------------------------------------------------ jacobian, hessian, Lop, Rop
def test_jacobian_of_a_matrix_expression_with_respect_to_a_list():
    x, w = T.dvector("x"), T.dmatrix("w")
    y = T.tanh(T.dot(w, x))[:, None] * np.ones((1, 2))  # a (3, 2) expression, flattened
    jx, jw = symdl.jacobian(y, [x, w])
    xv, wv = np.array([0.5, -1.0]), np.random.default_rng(0).normal(size=(3, 2))
    jxv, jwv = values([jx, jw], [x, w], xv, wv)
    assert jxv.shape == (6, 2) and jwv.shape == (6, 3, 2)
    d = 1 - np.tanh(wv @ xv) ** 2
    expected_x = np.repeat(d[:, None] * wv, 2, axis=0)
    np.testing.assert_allclose(jxv, expected_x)
    expected_w = np.zeros((3, 2, 3, 2))
    for i in range(3):
        expected_w[i, :, i, :] = d[i] * xv
    np.testing.assert_allclose(jwv, expected_w.reshape(6, 3, 2))


def test_jacobian_of_a_scalar_is_its_gradient_and_disconnected_inputs_are_reported():
    x, w = T.dvector("x"), T.dvector("w")
    np.testing.assert_array_equal(values(symdl.jacobian(T.sum(x**2), x), [x], np.array([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(DisconnectedInputError):
        symdl.jacobian(x * 2, w)
    jw = symdl.jacobian(x * 2, w, disconnected_inputs="ignore")
    np.testing.assert_array_equal(values(jw, [x, w], np.ones(2), np.ones(3)), np.zeros((2, 3)))


def test_jacobian_of_an_empty_expression():
    x = T.dvector("x")
    jac = values(symdl.jacobian(x[:0] * 2, x), [x], np.ones(3))
    assert jac.shape == (0, 3)


def test_hessian_with_respect_to_a_list():
    x, y = T.dvector("x"), T.dvector("y")
    cost = T.sum(x**2 * y) + T.sum(y**3)
    hx, hy = symdl.hessian(cost, [x, y])
    xv, yv = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    hxv, hyv = values([hx, hy], [x, y], xv, yv)
    np.testing.assert_allclose(hxv, np.diag(2 * yv))
    np.testing.assert_allclose(hyv, np.diag(6 * yv))


def _small_network():
    x, w = T.dvector("x"), T.dmatrix("w")
    f = T.tanh(T.dot(w, x)) * T.sum(x**2)
    rng = np.random.default_rng(0)
    return x, w, f, rng.normal(size=3), rng.normal(size=(4, 3))


def test_lop_is_v_times_the_jacobian():
    x, w, f, xv, wv = _small_network()
    v = T.dvector("v")
    lx, lw = symdl.Lop(f, [x, w], v)
    jx, jw = symdl.jacobian(f, [x, w])
    vv = np.array([1.0, -2.0, 0.5, 3.0])
    lxv, lwv, jxv, jwv = values([lx, lw, jx, jw], [x, w, v], xv, wv, vv)
    np.testing.assert_allclose(lxv, vv @ jxv)
    np.testing.assert_allclose(lwv, np.tensordot(vv, jwv, 1))


def test_rop_matches_jacobian_times_v_and_finite_differences():
    x, w, f, xv, wv = _small_network()
    vx, vw = T.dvector("vx"), T.dmatrix("vw")
    r = symdl.Rop(f, [x, w], [vx, vw])
    jx, jw = symdl.jacobian(f, [x, w])
    rng = np.random.default_rng(1)
    vxv, vwv = rng.normal(size=3), rng.normal(size=(4, 3))
    rv, jxv, jwv = values([r, jx, jw], [x, w, vx, vw], xv, wv, vxv, vwv)
    np.testing.assert_allclose(rv, jxv @ vxv + np.tensordot(jwv, vwv, 2), rtol=1e-12)
    fn = symdl.function([x, w], f)
    eps = 1e-6
    numeric = (fn(xv + eps * vxv, wv + eps * vwv) - fn(xv - eps * vxv, wv - eps * vwv)) / (2 * eps)
    np.testing.assert_allclose(rv, numeric, rtol=1e-7)


def test_rop_of_a_list_of_expressions_keeps_the_structure():
    x = T.dmatrix("x")
    v = T.dmatrix("v")
    r1, r2 = symdl.Rop([T.exp(x), T.sum(x**2, axis=0)], x, v)
    xv, vv = np.array([[0.0, 1.0], [2.0, -1.0]]), np.array([[1.0, 2.0], [3.0, 4.0]])
    r1v, r2v = values([r1, r2], [x, v], xv, vv)
    np.testing.assert_allclose(r1v, np.exp(xv) * vv)
    np.testing.assert_allclose(r2v, np.sum(2 * xv * vv, axis=0))
    single = symdl.Rop(T.exp(x), x, v)
    assert isinstance(single, symdl.graph.Variable)


def test_rop_of_an_expression_that_does_not_depend_on_wrt_is_zero():
    x, y, v = T.dvector("x"), T.dvector("y"), T.dvector("v")
    np.testing.assert_array_equal(values(symdl.Rop(T.exp(y), x, v), [x, y, v], *np.ones((3, 2))), [0.0, 0.0])
    with pytest.raises(ShapeError, match="eval point"):
        symdl.Rop(T.exp(x), x, T.dmatrix())


# ------------------------------------------------------------------ large graphs
def _elementwise_chain(n):
    x = T.dvector("x")
    y = x
    for k in range(n):
        y = (T.tanh, T.sin, lambda v: v * 1.001, lambda v: v + 0.01)[k % 4](y)
    return x, T.sum(y)


def _chain_derivative(xv, n):
    y, d = xv.copy(), np.ones_like(xv)
    for k in range(n):
        if k % 4 == 0:
            y = np.tanh(y)
            d = d * (1 - y**2)
        elif k % 4 == 1:
            d = d * np.cos(y)
            y = np.sin(y)
        elif k % 4 == 2:
            y, d = y * 1.001, d * 1.001
        else:
            y = y + 0.01
    return d


def _graph_sizes(build, sizes):
    """(forward nodes, forward + gradient nodes) for each size; gradients w.r.t. every input."""
    result = []
    for n in sizes:
        wrt, cost = build(n)
        grads = symdl.grad(cost, wrt if isinstance(wrt, list) else [wrt])
        result.append((len(toposort([cost])), len(toposort(grads))))
    return result


def test_gradient_of_a_10000_node_chain_is_linear_in_size_and_hits_no_recursion_limit():
    (f1, t1), (f2, t2) = _graph_sizes(_elementwise_chain, (2_500, 5_000))
    x, cost = _elementwise_chain(10_000)
    g = symdl.grad(cost, x)
    f4, t4 = len(toposort([cost])), len(toposort([g]))
    assert f4 > 10_000 and t4 < 4 * f4
    assert t4 - t2 == 2 * (t2 - t1)  # every link of the chain adds the same number of gradient nodes
    xv = np.array([0.3, -1.2])
    gradient = symdl.function([x], g, optimizer="none")(xv)  # rewriting is not under test
    np.testing.assert_allclose(gradient, _chain_derivative(xv, 10_000), rtol=1e-9)


def _mlp(n_layers, width=8):
    rng = np.random.default_rng(0)
    x = T.dmatrix("x")
    h, params = x, []
    for k in range(n_layers):
        w = symdl.shared(rng.normal(size=(width, width)) / np.sqrt(width), name=f"w{k}")
        b = symdl.shared(np.zeros(width), name=f"b{k}")
        params += [w, b]
        h = T.tanh(T.dot(h, w) + b)
    return x, params, T.mean(h**2)


def test_gradient_graph_of_a_50_layer_mlp_is_linear_in_its_depth_and_correct():
    (f1, t1), (f2, t2), (f4, t4) = _graph_sizes(lambda n: _mlp(n)[1:], (12, 25, 50))
    assert t4 < 6 * f4
    per_layer = (t2 - t1) / 13
    assert per_layer == int(per_layer) and t4 - t2 == 25 * per_layer  # each layer adds the same count
    x, params, cost = _mlp(50)
    w0 = params[0]
    xv = np.random.default_rng(1).normal(size=(4, 8))
    g = values(symdl.grad(cost, w0), [x], xv)
    fn = symdl.function([x], cost)
    base, eps = w0.get_value(), 1e-6
    for i, j in [(2, 5), (0, 0)]:
        step = np.zeros_like(base)
        step[i, j] = eps
        w0.set_value(base + step)
        plus = float(fn(xv))
        w0.set_value(base - step)
        minus = float(fn(xv))
        np.testing.assert_allclose(g[i, j], (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-13)


# ---------------------------------------------------------------- gradients of saturating forms (issue 17, defect 2)
MODES = ["py", "c"]


def _sigmoid(v):
    e = np.exp(-np.abs(v.astype("float64")))
    return np.where(v >= 0, 1 / (1 + e), e / (1 + e))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_gradient_of_log_sigmoid_is_stable_where_the_sigmoid_saturates(mode, dtype):
    v = T.vector("v", dtype=dtype)
    at = np.array([-1000, -100, -30, -5, 0, 5, 30, 100, 1000], dtype=dtype)
    g_pos, g_neg = (
        symdl.function([v], symdl.grad(T.log(T.sigmoid(v)).sum(), v), mode=mode),
        symdl.function([v], symdl.grad(T.log(1 - T.sigmoid(v)).sum(), v), mode=mode),
    )
    tol = {"float64": 1e-12, "float32": 1e-6, "float16": 1e-3}[dtype]
    np.testing.assert_allclose(g_pos(at), 1 - _sigmoid(at), atol=tol)
    np.testing.assert_allclose(g_neg(at), -_sigmoid(at), atol=tol)
    assert g_pos(at).dtype == dtype


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_gradient_of_hand_written_binary_crossentropy_is_sigmoid_minus_target(mode, dtype):
    v, t = T.vector("v", dtype=dtype), T.vector("t", dtype=dtype)
    p = T.sigmoid(v)
    cost = (-(t * T.log(p) + (1 - t) * T.log(1 - p))).sum()
    f = symdl.function([v, t], symdl.grad(cost, v), mode=mode)
    at = np.array([-1000, 1000, -30, 30, 0.5, -2], dtype=dtype)
    target = np.array([1, 0, 1, 0, 1, 0], dtype=dtype)
    got = f(at, target)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(
        got, _sigmoid(at) - target, atol={"float64": 1e-12, "float32": 1e-6, "float16": 1e-3}[dtype]
    )


def test_gradient_through_a_stable_form_still_reaches_the_sigmoid_when_asked():
    v = T.dvector("v")
    p = T.sigmoid(v)
    gp, gv = symdl.grad(T.log(p).sum(), [p, v])
    at = np.array([-2.0, 0.0, 3.0])
    got_p, got_v = values([gp, gv], [v], at)
    np.testing.assert_allclose(got_p, 1 / _sigmoid(at))
    np.testing.assert_allclose(got_v, 1 - _sigmoid(at))
    # consider_constant blocks the path through the sigmoid: the cost no longer depends on v
    assert symdl.grad(T.log(p).sum(), v, consider_constant=[p], disconnected_inputs="ignore").eval(
        {v: at}
    ).tolist() == [0, 0, 0]


# ---------------------------------------------------------------- the forward's shape checks (issue 17, defect 5)
@pytest.mark.parametrize("mode", MODES)
def test_gradient_of_dot_checks_shapes_the_forward_would_have_checked(mode):
    x, y = T.dmatrix("x"), T.dmatrix("y")
    f = symdl.function([x, y], symdl.grad(T.dot(x, y).sum(), x), mode=mode)
    np.testing.assert_allclose(f(np.ones((3, 4)), np.ones((4, 6))), np.full((3, 4), 6.0))
    with pytest.raises(ShapeError, match=r"dot.*(\(3, 4\).*\(5, 6\)|4 columns.*5 rows)") as info:
        f(np.ones((3, 4)), np.ones((5, 6)))
    assert re.search(r"test_gradient\.py:\d+", str(info.value))


@pytest.mark.parametrize("mode", MODES)
def test_gradient_of_broadcasting_elemwise_checks_shapes(mode):
    x, v = T.dmatrix("x"), T.dvector("v")
    f = symdl.function([x, v], symdl.grad((x * v).sum(), x), mode=mode)
    np.testing.assert_allclose(f(np.ones((2, 3)), np.arange(3.0)), np.tile(np.arange(3.0), (2, 1)))
    with pytest.raises(ShapeError, match="broadcast") as info:
        f(np.ones((2, 3)), np.ones(4))
    assert re.search(r"test_gradient\.py:\d+", str(info.value))


@pytest.mark.parametrize("mode", MODES)
def test_gradient_of_reshape_and_concatenate_check_shapes(mode):
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = symdl.function([a], symdl.grad(T.reshape(a, (3, -1)).sum(), a), mode=mode)
    assert f(np.ones((2, 3))).shape == (2, 3)
    with pytest.raises(ShapeError, match="reshape"):
        f(np.ones((2, 4)))
    g = symdl.function([a, b], symdl.grad(T.concatenate([a, b], axis=0).sum(), a), mode=mode)
    assert g(np.ones((2, 3)), np.ones((1, 3))).shape == (2, 3)
    with pytest.raises(ValueError):
        g(np.ones((2, 3)), np.ones((2, 4)))


def test_shape_checks_are_removed_where_the_forward_is_computed_or_shapes_are_static():
    from symdl.tensor.checks import ShapeCheck

    def checks(fn):
        return sum(isinstance(n.op, ShapeCheck) for n in fn.maker.fgraph.apply_nodes)

    x, y = T.dmatrix("x"), T.dmatrix("y")
    cost = T.dot(x, y).sum()
    assert checks(symdl.function([x, y], symdl.grad(cost, x))) == 1
    assert checks(symdl.function([x, y], [cost, symdl.grad(cost, x)])) == 0
    xs, ys = T.matrix("xs", dtype="float64", shape=(3, 4)), T.matrix("ys", dtype="float64", shape=(4, 5))
    static = symdl.function([xs, ys], symdl.grad(T.dot(xs, ys).sum(), xs), on_unused_input="ignore")
    assert checks(static) == 0
    # a scalar operand cannot conflict: no check at all
    assert not any(isinstance(n.op, ShapeCheck) for n in symdl.graph.toposort([symdl.grad((x * 2.0).sum(), x)]))
