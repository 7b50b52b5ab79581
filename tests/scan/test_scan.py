"""symdl.scan: Theano's tutorial loops, taps, directions, while loops, shared and random state,
gradients (BPTT, truncated), Rop, against plain Python loops."""

from collections import OrderedDict

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import MissingInputError, TypeMismatch
from symdl.testing import verify_grad

MODES = ["py", "c"]


def _rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- Theano's tutorial
@pytest.mark.parametrize("mode", MODES)
def test_power_by_iteration(mode):
    A, k = T.dvector("A"), T.iscalar("k")
    result, updates = symdl.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A), non_sequences=A, n_steps=k)
    power = symdl.function([A, k], result[-1], updates=updates, mode=mode)
    np.testing.assert_allclose(power(np.arange(10.0), 2), np.arange(10.0) ** 2)
    np.testing.assert_allclose(power(np.arange(10.0), 5), np.arange(10.0) ** 5)


@pytest.mark.parametrize("mode", MODES)
def test_polynomial_evaluation(mode):
    coefficients, x = T.dvector("coefficients"), T.dscalar("x")
    components, _ = symdl.scan(
        lambda c, power, x: c * x**power, sequences=[coefficients, T.arange(1000)], non_sequences=x
    )
    polynomial = symdl.function([coefficients, x], components.sum(), mode=mode)
    c = np.array([1.0, 0.0, 2.0])
    assert float(polynomial(c, 3.0)) == pytest.approx(1 + 2 * 9.0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tanh_rnn_matches_a_python_loop(mode, dtype):
    rng = _rng()
    x, h0 = T.matrix("x", dtype=dtype), T.vector("h0", dtype=dtype)
    W, U = T.matrix("W", dtype=dtype), T.matrix("U", dtype=dtype)
    hs, _ = symdl.scan(lambda x_t, h, W, U: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=x, outputs_info=h0,
                       non_sequences=[W, U])  # fmt: skip
    f = symdl.function([x, h0, W, U], hs, mode=mode)
    xv, h0v = rng.normal(size=(7, 3)).astype(dtype), rng.normal(size=4).astype(dtype)
    Wv, Uv = (rng.normal(size=(3, 4)) * 0.5).astype(dtype), (rng.normal(size=(4, 4)) * 0.5).astype(dtype)
    h, expected = h0v, []
    for t in range(7):
        h = np.tanh(xv[t] @ Wv + h @ Uv)
        expected.append(h)
    got = f(xv, h0v, Wv, Uv)
    assert got.dtype == dtype and got.shape == (7, 4)
    np.testing.assert_allclose(
        got, expected, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6 if dtype == "float32" else 0
    )


@pytest.mark.parametrize("mode", MODES)
def test_until_makes_a_while_loop(mode):
    x = T.dscalar("x")
    values, _ = symdl.scan(lambda v: (v * 2, symdl.until(v * 2 > 40)), outputs_info=x, n_steps=100)
    f = symdl.function([x], values, mode=mode)
    np.testing.assert_allclose(f(3.0), [6, 12, 24, 48])
    np.testing.assert_allclose(f(100.0), [200])
    from symdl.scan_module import until

    assert until is symdl.until


# ---------------------------------------------------------------- taps and directions
@pytest.mark.parametrize("mode", MODES)
def test_sequence_and_output_taps(mode):
    x, init = T.dvector("x"), T.dvector("init")
    # y_t = x_{t-1} + 2 x_{t+1} + y_{t-2} - y_{t-1}
    ys, _ = symdl.scan(
        lambda xm, xp, y2, y1: xm + 2 * xp + y2 - y1,
        sequences=dict(input=x, taps=[-1, 1]),
        outputs_info=dict(initial=init, taps=[-2, -1]),
    )
    f = symdl.function([x, init], ys, mode=mode)
    xv, initv = np.arange(8.0) ** 2, np.array([0.5, -1.0])
    y, expected = list(initv), []
    for t in range(len(xv) - 2):
        value = xv[t] + 2 * xv[t + 2] + y[-2] - y[-1]
        y.append(value)
        expected.append(value)
    np.testing.assert_allclose(f(xv, initv), expected)
    verify_grad(
        lambda x, init: symdl.scan(lambda xm, xp, y2, y1: T.sin(xm * y1) + xp * y2,
                                   sequences=dict(input=x, taps=[-1, 1]),
                                   outputs_info=dict(initial=init, taps=[-2, -1]))[0],
        [np.linspace(-1, 1, 6), np.array([0.3, -0.2])], mode=mode,
    )  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_go_backwards_and_outputs_not_fed_back(mode):
    x = T.dvector("x")
    (running, doubled), _ = symdl.scan(
        lambda v, total: (total + v, v * 2), sequences=x, outputs_info=[T.constant(0.0), None], go_backwards=True
    )
    f = symdl.function([x], [running, doubled], mode=mode)
    got = f(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(got[0], [3.0, 5.0, 6.0])
    np.testing.assert_allclose(got[1], [6.0, 4.0, 2.0])


@pytest.mark.parametrize("mode", MODES)
def test_map_reduce_foldl_foldr(mode):
    x = T.dvector("x")
    squares, _ = symdl.map(lambda v: v * v, x)
    total, _ = symdl.reduce(lambda v, acc: acc + v, x, T.constant(0.0))
    left, _ = symdl.foldl(lambda v, acc: acc * 2 + v, x, T.constant(0.0))
    right, _ = symdl.foldr(lambda v, acc: acc * 2 + v, x, T.constant(0.0))
    f = symdl.function([x], [squares, total, left, right], mode=mode)
    got = f(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(got[0], [1, 4, 9])
    assert float(got[1]) == 6.0
    assert float(got[2]) == ((1 * 2 + 2) * 2 + 3)
    assert float(got[3]) == ((3 * 2 + 2) * 2 + 1)


# ---------------------------------------------------------------- shared state
@pytest.mark.parametrize("mode", MODES)
def test_shared_variables_updated_in_the_body_are_carried_and_returned_as_updates(mode):
    counter = symdl.shared(np.float64(0.0), name="counter")
    x = T.dvector("x")

    def step(v):
        return v * counter, OrderedDict([(counter, counter + 1)])

    scaled, updates = symdl.scan(step, sequences=x)
    assert list(updates) == [counter]
    f = symdl.function([x], scaled, updates=updates, mode=mode)
    np.testing.assert_allclose(f(np.ones(3)), [0.0, 1.0, 2.0])
    assert float(counter.get_value()) == 3.0
    np.testing.assert_allclose(f(np.ones(2)), [3.0, 4.0])


@pytest.mark.parametrize("mode", MODES)
def test_random_draws_in_the_body_advance_the_stream(mode):
    srng = T.random.RandomStream(seed=3)
    x = T.dvector("x")
    noisy, updates = symdl.scan(lambda v: v + srng.normal(()), sequences=x)
    f = symdl.function([x], noisy, updates=updates, mode=mode)
    a, b = f(np.zeros(4)), f(np.zeros(4))
    assert len(set(np.round(a, 12))) == 4  # a new draw every step
    assert not np.allclose(a, b)  # and a new one every call
    g = symdl.function([x], noisy, mode=mode)  # the stream's default update is the loop's too
    assert not np.allclose(g(np.zeros(4)), g(np.zeros(4)))


def test_strict_refuses_variables_not_listed():
    x, w = T.dvector("x"), T.dscalar("w")
    with pytest.raises(MissingInputError, match="w"):
        symdl.scan(lambda v: v * w, sequences=x, strict=True)
    out, _ = symdl.scan(lambda v, w: v * w, sequences=x, non_sequences=w, strict=True)
    assert float(symdl.function([x, w], out.sum())(np.ones(3), 2.0)) == 6.0


def test_an_output_of_another_type_than_its_initial_value_names_both_and_the_users_line():
    x = T.fvector("x")
    h0 = T.fscalar("h0")
    with pytest.raises(TypeMismatch) as info:
        symdl.scan(lambda v, h: T.cast(v, "float64") + h, sequences=x, outputs_info=h0)  # the user's line
    message = str(info.value)
    assert "float64" in message and "float32" in message and "test_scan.py" in message


def test_a_size_one_dimension_against_an_unknown_one_is_not_a_type_error():
    # Theano's most common scan error: "broadcastable" patterns that differ
    x = T.dmatrix("x")
    h0 = T.dmatrix("h0", shape=(1, None))
    hs, _ = symdl.scan(lambda v, h: h + v, sequences=x, outputs_info=h0)
    f = symdl.function([x, h0], hs)
    np.testing.assert_allclose(f(np.ones((3, 2)), np.zeros((1, 2))), [[[1, 1]], [[2, 2]], [[3, 3]]])


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("mode", MODES)
def test_bptt_matches_finite_differences(mode):
    rng = _rng()

    def rnn(x, h0, W, U):
        hs, _ = symdl.scan(lambda x_t, h, W, U: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=x, outputs_info=h0,
                           non_sequences=[W, U])  # fmt: skip
        return hs

    values = [rng.normal(size=(5, 3)), rng.normal(size=4), rng.normal(size=(3, 4)) * 0.5, rng.normal(size=(4, 4)) * 0.5]
    verify_grad(rnn, values, mode=mode)


def test_truncated_gradient_flows_through_the_last_steps_only():
    x, h0 = T.dvector("x"), T.dscalar("h0")
    w = T.dscalar("w")
    hs, _ = symdl.scan(lambda v, h, w: h * w + v, sequences=x, outputs_info=h0, non_sequences=w, truncate_gradient=2)
    gx, gh0 = symdl.grad(hs[-1], [x, h0])
    f = symdl.function([x, h0, w], [gx, gh0])
    got_x, got_h0 = f(np.ones(5), 1.0, 3.0)
    np.testing.assert_allclose(got_x, [0, 0, 0, 3, 1])  # d h_4 / d x_3 = w, / d x_4 = 1, earlier: cut
    assert float(got_h0) == 0.0


def test_rop_through_a_loop_is_a_hessian_vector_product():
    x, v = T.dvector("x"), T.dvector("v")
    hs, _ = symdl.scan(lambda a, h: T.sin(a) * h + a, sequences=x, outputs_info=T.constant(1.0))
    cost = hs[-1] ** 2
    hv = symdl.Rop(symdl.grad(cost, x), x, v)
    hess = symdl.hessian(cost, x)
    f = symdl.function([x, v], [hv, hess], mode="py")
    xv, vv = np.array([0.3, -0.4, 0.8]), np.array([1.0, 0.5, -2.0])
    got_hv, got_hess = f(xv, vv)
    np.testing.assert_allclose(got_hv, got_hess @ vv, rtol=1e-8)
    # the Hessian by finite differences of the gradient
    g = symdl.function([x], symdl.grad(cost, x), mode="py")
    eps = 1e-6
    numeric = np.stack([(g(xv + eps * e) - g(xv - eps * e)) / (2 * eps) for e in np.eye(3)])
    np.testing.assert_allclose(got_hess, numeric, rtol=1e-5, atol=1e-7)


def test_gradients_through_a_while_loop_and_map():
    x = T.dvector("x")
    squares, _ = symdl.map(lambda v: v**3, x)
    verify_grad(lambda x: symdl.map(lambda v: T.exp(v) * v, x)[0], [np.linspace(-1, 1, 4)])
    g = symdl.function([x], symdl.grad(squares.sum(), x))
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [3.0, 12.0])
    s = T.dscalar("s")
    values, _ = symdl.scan(lambda v: (v * 1.5, symdl.until(v > 5)), outputs_info=s, n_steps=10)
    gs = symdl.function([s], symdl.grad(values[-1], s))
    assert float(gs(1.0)) == pytest.approx(1.5**5)  # 1.5, 2.25, 3.375, 5.06, 7.59: five steps


def test_a_listed_non_sequence_used_directly_by_fn_is_fine_under_strict():
    W = symdl.shared(np.eye(2) * 2, name="W")
    x = T.dmatrix("x")
    out, _ = symdl.scan(lambda x_t, *_: T.dot(x_t, W), sequences=x, non_sequences=[W], strict=True)
    np.testing.assert_allclose(symdl.function([x], out)(np.ones((3, 2))), np.full((3, 2), 2.0))
