"""Loops on the C backend: the loop runs in the generated driver with its body inline, no
Python per step; the values are the py backend's."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.scan_module import Scan


@pytest.fixture
def perform_calls(monkeypatch):
    calls = []
    original = Scan.perform
    monkeypatch.setattr(
        Scan, "perform", lambda self, node, inputs: calls.append(self.name) or original(self, node, inputs)
    )
    return calls


def _rnn(x, h0, w):
    hs, _ = symdl.scan(lambda v, h, w: T.tanh(h * w + v), sequences=x, outputs_info=h0, non_sequences=w)
    return hs


def test_a_long_loop_and_its_gradient_run_with_no_python_per_step(perform_calls):
    x, h0, w = T.dvector("x"), T.dscalar("h0"), T.dscalar("w")
    hs = _rnn(x, h0, w)
    cost = (hs**2).sum()
    outputs = [hs, *symdl.grad(cost, [x, h0, w])]
    f = symdl.function([x, h0, w], outputs, mode="c")
    xv = np.sin(np.arange(2000.0))
    got = f(xv, 0.5, 0.9)
    assert perform_calls == []
    assert "for (int64_t t_" in f.source()
    assert {backend for _, backend, _, _ in f.profile().rows} == {"c"}
    expected = symdl.function([x, h0, w], outputs, mode="py")(xv, 0.5, 0.9)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_a_loop_of_no_steps_runs_its_perform(perform_calls):
    x, h0, w = T.dvector("x"), T.dscalar("h0"), T.dscalar("w")
    f = symdl.function([x, h0, w], _rnn(x, h0, w), mode="c")
    out = f(np.zeros(0), 0.5, 0.9)
    assert out.shape == (0,) and perform_calls == ["scan"]


def test_taps_keep_rows_while_loops_and_nested_loops_match_the_py_backend(perform_calls):
    x, init = T.dvector("x"), T.dvector("init")
    ys, _ = symdl.scan(lambda xm, xp, y2, y1: T.sin(xm * y1) + xp * y2, sequences=dict(input=x, taps=[-1, 1]),
                       outputs_info=dict(initial=init, taps=[-2, -1]))  # fmt: skip
    s = T.dscalar("s")
    doubled, _ = symdl.scan(lambda v: (v * 2, symdl.until(v * 2 > 40)), outputs_info=s, n_steps=100)
    m = T.dmatrix("m")
    row_sums, _ = symdl.map(lambda row: symdl.reduce(lambda v, acc: acc + v * v, row, T.constant(0.0))[0], m)
    outputs = [ys, ys[-1], ys[-2], doubled, row_sums]
    values = [np.linspace(-1, 1, 9), np.array([0.3, -0.2]), 3.0, np.arange(12.0).reshape(3, 4)]
    got = symdl.function([x, init, s, m], outputs, mode="c")(*values)
    assert perform_calls == []
    expected = symdl.function([x, init, s, m], outputs, mode="py")(*values)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_a_step_that_changes_a_state_shape_is_a_clear_error_on_c():
    x = T.dvector("x")
    h0 = T.dvector("h0")
    hs, _ = symdl.scan(lambda v, h: T.concatenate([h, [v]]), sequences=x, outputs_info=h0)
    f = symdl.function([x, h0], hs, mode="c")
    with pytest.raises(symdl.errors.ShapeError, match="keeps its shape"):
        f(np.ones(3), np.zeros(2))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_computed_in_their_store_rows_match_a_numpy_loop(dtype, perform_calls):
    # Each step's new values are computed in the rows that keep them: a state that is also a
    # per-step output, a transposed view of a computed value, a state keeping only its last row
    # (a ring of rows), and a second call that must not overwrite the first call's results.
    x = T.tensor3("x", dtype=dtype)
    h0, c0, w = T.matrix("h0", dtype=dtype), T.matrix("c0", dtype=dtype), T.matrix("w", dtype=dtype)

    def step(row, h, c, w):
        new_h = T.tanh(T.dot(h, w) + row)
        new_c = c * 0.5 + new_h
        return [new_h, new_c, new_h, new_c.T]

    (hs, cs, hs_again, cts), _ = symdl.scan(step, sequences=x, outputs_info=[h0, c0, None, None], non_sequences=w)
    f = symdl.function([x, h0, c0, w], [hs, cs[-1], hs_again, cts], mode="c")
    rng = np.random.default_rng(7)
    values = [rng.standard_normal(shape).astype(dtype) for shape in [(5, 3, 3), (3, 3), (3, 3), (3, 3)]]

    def numpy_loop(x, h, c, w):
        hs, cts = [], []
        for row in x:
            h = np.tanh(h @ w + row)
            c = c * 0.5 + h
            hs.append(h)
            cts.append(c.T)
        return [np.stack(hs), c, np.stack(hs), np.stack(cts)]

    _two_calls_match(f, numpy_loop, values, 2.0, dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12))
    assert perform_calls == []


def _two_calls_match(f, numpy_loop, values, scale, tol):
    """``f`` gives ``numpy_loop``'s results for ``values``, then for them scaled, and the second
    call leaves the first call's results as they were."""
    first = f(*values)
    kept = [a.copy() for a in first]
    second = f(*[v * scale for v in values])
    for got, want in zip(first, numpy_loop(*values)):
        np.testing.assert_allclose(got, want, **tol)
    for got, want in zip(first, kept):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(second, numpy_loop(*[v * scale for v in values])):
        np.testing.assert_allclose(got, want, **tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_pieces_of_a_concatenated_output_are_computed_in_their_parts_of_its_row(dtype, axis, perform_calls):
    # A per-step output concatenating elementwise results (an LSTM gradient's four gates) has
    # each piece computed in its part of the output's row: the values are NumPy's, on every axis,
    # stored forwards and backwards, over two calls
    x, h0 = T.tensor3("x", dtype=dtype, shape=(None, 2, 3)), T.matrix("h0", dtype=dtype, shape=(2, 3))

    def step(row, h):
        new_h = T.tanh(row + h)
        return [new_h, T.concatenate([T.exp(row) * h, new_h * 2, T.sqr(row)], axis=axis)]

    (hs, joined), _ = symdl.scan(step, sequences=x, outputs_info=[h0, None])
    f = symdl.function([x, h0], [hs, joined, joined[::-1]], mode="c")
    assert "target_part" in f.source()
    rng = np.random.default_rng(11)

    def numpy_loop(x, h):
        hs, joined = [], []
        for row in x:
            pieces = [np.exp(row) * h]
            h = np.tanh(row + h)
            joined.append(np.concatenate(pieces + [h * 2, row**2], axis=axis))
            hs.append(h)
        return [np.stack(hs), np.stack(joined), np.stack(joined)[::-1]]

    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12)
    for steps in (4, 1, 6):
        values = [rng.standard_normal((steps, 2, 3)).astype(dtype), rng.standard_normal((2, 3)).astype(dtype)]
        _two_calls_match(f, numpy_loop, values, 0.5, tol)
    assert perform_calls == []


def test_a_loop_that_fails_in_a_step_leaves_the_next_call_right():
    x, i = T.dmatrix("x"), T.lvector("i")
    picks, _ = symdl.scan(
        lambda k, acc, x: acc + x[k] * 2, sequences=i, outputs_info=T.zeros_like(x[0]), non_sequences=x
    )
    f = symdl.function([x, i], picks, mode="c")
    xv = np.arange(6.0).reshape(3, 2)
    with pytest.raises(IndexError):
        f(xv, np.array([0, 5, 1]))
    np.testing.assert_allclose(f(xv, np.array([2, 1])), np.cumsum(xv[[2, 1]] * 2, axis=0))
