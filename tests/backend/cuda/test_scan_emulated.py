"""Loops on the CUDA backend, run on the host emulation (see conftest): the body's kernels run
step after step with every value on the device; results match the NumPy reference backend."""

from __future__ import annotations

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError


def both(inputs, outputs, values, updates=None):
    """(CUDA function, its outputs, the py backend's outputs) on the same values."""
    py = symdl.function(inputs, outputs, updates=updates, mode="py")
    expected = py(*values)
    cuda = symdl.function(inputs, outputs, updates=updates, mode="cuda")
    return cuda, cuda(*values), expected


def steps_of(fn):
    return [type(s).__name__ for s in fn.thunk.program.steps]


def test_a_tanh_rnn_and_its_gradient_run_as_inner_graphs_on_the_device(emulated, rng):
    x, h0 = T.tensor3("x"), T.matrix("h0")
    w = symdl.shared(rng.normal(size=(4, 4)).astype("float32") * 0.5, name="w")
    u = symdl.shared(rng.normal(size=(3, 4)).astype("float32") * 0.5, name="u")
    hs, _ = symdl.scan(lambda x_t, h: T.tanh(T.dot(x_t, u) + T.dot(h, w)), sequences=x, outputs_info=h0)
    cost = (hs[-1] ** 2).sum() + hs.mean()
    gw, gu = symdl.grad(cost, [w, u])
    values = [rng.normal(size=(7, 2, 3)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")]
    fn, got, expected = both([x, h0], [hs, cost, gw, gu], values)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=2e-5, atol=2e-6)
    assert "InnerGraphStep" in steps_of(fn)
    body_steps = [
        s
        for step in fn.thunk.program.steps
        if type(step).__name__ == "InnerGraphStep"
        for body in step.bodies
        for s in body.steps
    ]
    assert body_steps and all(s.describe() != "host+xfer" for s in body_steps), [s.label for s in body_steps]


def test_no_value_crosses_to_the_host_per_step(emulated, rng, monkeypatch):
    x = T.matrix("x")
    acc, _ = symdl.scan(lambda x_t, a: a + T.exp(x_t), sequences=x, outputs_info=T.zeros((5,)))
    fn = symdl.function([x], acc[-1], mode="cuda")
    value = rng.normal(size=(40, 5)).astype("float32")
    fn(value)
    moved = []
    to_host, to_device = emulated.to_host, emulated.to_device
    monkeypatch.setattr(emulated, "to_host", lambda a: moved.append(("down", a.shape)) or to_host(a))
    monkeypatch.setattr(emulated, "to_device", lambda a: moved.append(("up", np.shape(a))) or to_device(a))
    got = fn(value)
    np.testing.assert_allclose(got, np.exp(value).sum(axis=0), rtol=1e-5)
    assert len(moved) <= 4, moved  # the input, the result, n_steps: never one per step


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_taps_go_backwards_and_outputs_not_fed_back(emulated, rng, dtype):
    seq = T.tensor(dtype, shape=(None, 3), name="seq")
    init = T.tensor(dtype, shape=(None, 3), name="init")
    (fib, doubled), _ = symdl.scan(
        lambda s_prev, s_next, f2, f1: [f1 + f2 + s_prev * s_next, 2 * f1],
        sequences=dict(input=seq, taps=[-1, 1]),
        outputs_info=[dict(initial=init, taps=[-2, -1]), None],
        go_backwards=True,
    )
    values = [rng.normal(size=(9, 3)).astype(dtype), rng.normal(size=(2, 3)).astype(dtype)]
    _, got, expected = both([seq, init], [fib, doubled], values)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5)


def test_until_stops_the_loop_and_integer_states_stay_on_the_host(emulated):
    x = T.vector("x")

    def step(i, total):
        total = total + x[i]
        return [i + 1, total], symdl.scan_module.until(total > 10)

    (i, total), _ = symdl.scan(step, outputs_info=[T.constant(np.int64(0)), T.constant(np.float32(0))], n_steps=100)
    fn, got, expected = both([x], [i, total], [np.arange(1, 20, dtype="float32")])
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    assert len(got[0]) == 5  # 1 + 2 + 3 + 4 + 5 > 10
    (loop,) = [s for s in fn.thunk.program.steps if type(s).__name__ == "InnerGraphStep"]
    assert loop.out_host == [True, False]


def test_shared_updates_and_random_draws_in_the_body(emulated, rng):
    values = rng.normal(size=(5, 4)).astype("float32")
    results = {}
    for mode in ("py", "cuda"):
        counter = symdl.shared(np.float32(0), name="counter")
        stream = T.random.RandomStream(seed=3)
        x = T.matrix("x")
        out, updates = symdl.scan(
            lambda x_t, stream=stream, counter=counter: (x_t * stream.uniform((4,)), {counter: counter + 1}),
            sequences=x,
        )
        fn = symdl.function([x], out, updates=updates, mode=mode)
        results[mode] = [fn(values), fn(values)]
        assert float(counter.get_value()) == 10.0
    for got, expected in zip(results["cuda"], results["py"]):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert not np.allclose(results["cuda"][0], results["cuda"][1])  # the stream advanced


def test_a_step_that_changes_a_state_shape_is_a_clear_error(emulated):
    h0 = T.vector("h0")
    hs, _ = symdl.scan(lambda h: T.concatenate([h, h]), outputs_info=h0, n_steps=3)
    fn = symdl.function([h0], hs, mode="cuda")
    with pytest.raises(ShapeError, match="keeps its shape"):
        fn(np.ones(2, "float32"))


def test_a_loop_of_no_steps_gives_empty_rows(emulated):
    x = T.matrix("x")
    out, _ = symdl.scan(lambda r: r * 2, sequences=x)
    _, got, expected = both([x], [out], [np.zeros((0, 3), "float32")])
    assert got[0].shape == expected[0].shape == (0, 3)


def test_an_lstm_layer_trains_on_the_device_like_the_py_backend(emulated, rng):
    from symdl import layers as L
    from symdl.updates import sgd

    x, m, y = T.tensor3("x"), T.matrix("m"), T.matrix("y")
    values = [rng.normal(size=(4, 6, 3)).astype("float32"), np.ones((4, 6), "float32"), rng.normal(size=(4, 5))]
    values[1][0, 4:] = 0  # a shorter sequence
    values[2] = values[2].astype("float32")
    losses = {}
    for mode in ("py", "cuda"):
        lstm = L.LSTMLayer(L.InputLayer((None, None, 3), x), 5, mask_input=L.InputLayer((None, None), m))
        start = np.random.default_rng(1)  # the same parameters for both backends
        L.set_all_param_values(
            lstm, [(start.normal(size=p.shape) * 0.3).astype("float32") for p in L.get_all_param_values(lstm)]
        )
        loss = ((L.get_output(lstm)[:, -1] - y) ** 2).mean()
        fn = symdl.function([x, m, y], loss, updates=sgd(loss, L.get_all_params(lstm, trainable=True), 0.5), mode=mode)
        losses[mode] = [float(fn(*values)) for _ in range(3)]
    np.testing.assert_allclose(losses["cuda"], losses["py"], rtol=1e-5)
    assert losses["cuda"][-1] < losses["cuda"][0]
    steps = list(fn.thunk.program.steps)
    steps += [
        b
        for s in fn.thunk.program.steps
        if type(s).__name__ == "InnerGraphStep"
        for body in s.bodies
        for b in body.steps
    ]
    assert [s.label for s in steps if s.describe() == "host+xfer"] == []


def test_ifelse_runs_only_the_taken_branch_on_the_device(emulated, rng, monkeypatch):
    from symdl.ifelse import ifelse

    a, x = T.scalar("a"), T.matrix("x")
    out = ifelse(T.gt(a, 0), T.exp(x).sum(axis=0), T.dot(x, x.T)[0])
    (gx,) = symdl.grad(out.sum(), [x])
    value = rng.normal(size=(3, 3)).astype("float32")
    for cond in (1.0, -1.0):
        fn, got, expected = both([a, x], [out, gx], [np.float32(cond), value])
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    steps = [s for s in fn.thunk.program.steps if type(s).__name__ == "InnerGraphStep"]
    assert steps and all(len(s.bodies) == 2 for s in steps)
    launched = []
    gemm = emulated.gemm
    monkeypatch.setattr(emulated, "gemm", lambda *args: launched.append(args) or gemm(*args))
    fn(np.float32(1.0), value)
    assert launched == []  # the else branch's products never ran


def test_a_jacobian_maps_a_graph_op_over_rows_on_the_device(emulated, rng):
    x = T.vector("x")
    w = symdl.shared(rng.normal(size=(4, 4)).astype("float32"), name="w")
    jac = symdl.jacobian(T.tanh(T.dot(w, x)), x)
    fn, got, expected = both([x], [jac], [rng.normal(size=4).astype("float32")])
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-6)
    assert [s.label for s in fn.thunk.program.steps if s.describe() == "host+xfer"] == []
