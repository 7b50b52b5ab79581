"""Every update rule against the same rule written in NumPy, for a few steps on a quadratic."""

from collections import OrderedDict

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import updates

A = np.array([[1.0, 2.0, 0.5], [3.0, 0.1, 1.5]], dtype=np.float32)
C = np.array([[0.3, -0.2, 0.1], [-1.0, 0.5, 0.0]], dtype=np.float32)
W0 = np.array([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]], dtype=np.float32)
B0 = np.array([0.5, -0.5], dtype=np.float32)
STEPS = 4


def loss_and_grads(w, b):
    """loss = sum(A w^2)/2 + sum(C w) + sum(b^4)/4; its gradients in NumPy (float64)."""
    return A * w + C, b**3


def symbolic_setup():
    w = symdl.shared(W0, name="w")
    b = symdl.shared(B0, name="b")
    loss = (w**2 * A).sum() / 2 + (w * C).sum() + (b**4).sum() / 4
    return w, b, loss


def run(rule, **kwargs):
    w, b, loss = symbolic_setup()
    upd = rule(loss, [w, b], **kwargs)
    assert isinstance(upd, OrderedDict)
    step = symdl.function([], loss, updates=upd, mode="py")
    history = []
    for _ in range(STEPS):
        step()
        assert w.get_value().dtype == np.float32 and b.get_value().dtype == np.float32
        history.append((w.get_value(), b.get_value()))
    return history


def reference(step_fn):
    """Apply ``step_fn(param, grad, state, t) -> new param`` to both parameters in float64."""
    params = [W0.astype(np.float64), B0.astype(np.float64)]
    states = [{}, {}]
    history = []
    for t in range(1, STEPS + 1):
        grads = loss_and_grads(*params)
        params = [step_fn(p, g, s, t) for p, g, s in zip(params, grads, states)]
        history.append(tuple(params))
    return history


def assert_same(got, want):
    for (gw, gb), (ww, wb) in zip(got, want):
        np.testing.assert_allclose(gw, ww, rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(gb, wb, rtol=2e-5, atol=2e-6)


def test_sgd_matches_numpy():
    assert_same(run(updates.sgd, learning_rate=0.1), reference(lambda p, g, s, t: p - 0.1 * g))


def test_momentum_matches_numpy():
    def step(p, g, s, t):
        s["v"] = 0.9 * s.get("v", 0) - 0.1 * g
        return p + s["v"]

    assert_same(run(updates.momentum, learning_rate=0.1, momentum=0.9), reference(step))


def test_nesterov_momentum_matches_numpy():
    def step(p, g, s, t):
        s["v"] = 0.9 * s.get("v", 0) - 0.1 * g
        return p + 0.9 * s["v"] - 0.1 * g

    assert_same(run(updates.nesterov_momentum, learning_rate=0.1, momentum=0.9), reference(step))


def test_adagrad_matches_numpy():
    def step(p, g, s, t):
        s["acc"] = s.get("acc", 0) + g**2
        return p - 0.5 * g / np.sqrt(s["acc"] + 1e-6)

    assert_same(run(updates.adagrad, learning_rate=0.5), reference(step))


def test_rmsprop_matches_numpy():
    def step(p, g, s, t):
        s["acc"] = 0.9 * s.get("acc", 0) + 0.1 * g**2
        return p - 0.01 * g / np.sqrt(s["acc"] + 1e-6)

    assert_same(run(updates.rmsprop, learning_rate=0.01), reference(step))


def test_adadelta_matches_numpy():
    def step(p, g, s, t):
        s["acc"] = 0.95 * s.get("acc", 0) + 0.05 * g**2
        update = g * np.sqrt(s.get("delta", 0) + 1e-6) / np.sqrt(s["acc"] + 1e-6)
        s["delta"] = 0.95 * s.get("delta", 0) + 0.05 * update**2
        return p - 1.0 * update

    assert_same(run(updates.adadelta), reference(step))


def adam_like(kind):
    def step(p, g, s, t):
        s["m"] = 0.9 * s.get("m", 0) + 0.1 * g
        if kind == "adamax":
            s["u"] = np.maximum(0.999 * s.get("u", 0), np.abs(g))
            return p - 0.002 / (1 - 0.9**t) * s["m"] / (s["u"] + 1e-8)
        s["v"] = 0.999 * s.get("v", 0) + 0.001 * g**2
        v = s["v"]
        if kind == "amsgrad":
            s["vhat"] = v = np.maximum(s.get("vhat", 0), s["v"])
        a_t = 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        return p - a_t * s["m"] / (np.sqrt(v) + 1e-8)

    return step


def test_adam_matches_numpy():
    assert_same(run(updates.adam, learning_rate=0.01), reference(adam_like("adam")))


def test_adamax_matches_numpy():
    assert_same(run(updates.adamax), reference(adam_like("adamax")))


def test_amsgrad_matches_numpy():
    assert_same(run(updates.amsgrad, learning_rate=0.01), reference(adam_like("amsgrad")))


def test_apply_momentum_only_to_given_params():
    w, b, loss = symbolic_setup()
    upd = updates.apply_momentum(updates.sgd(loss, [w, b], 0.1), params=[w])
    assert len(upd) == 3  # w, b and w's velocity
    assert all(v.dtype == "float32" for v in upd.values())


def test_learning_rate_may_be_a_shared_variable_changed_between_calls():
    w = symdl.shared(np.array([1.0], np.float32), name="w")
    lr = symdl.shared(0.1)
    assert lr.dtype == "float32"
    step = symdl.function([], updates=updates.sgd((w**2).sum(), [w], lr), mode="py")
    step()
    np.testing.assert_allclose(w.get_value(), [0.8])
    lr.set_value(np.float32(0.25))
    step()
    np.testing.assert_allclose(w.get_value(), [0.4])


def test_numpy_float64_hyperparameters_do_not_upcast_float32_parameters():
    w = symdl.shared(np.ones(3, np.float32), name="w")
    upd = updates.nesterov_momentum((w**2).sum(), [w], np.float64(0.1), momentum=np.float64(0.9))
    assert all(v.dtype == "float32" for v in upd.values())


def test_gradients_can_be_given_instead_of_a_loss():
    w = symdl.shared(np.ones(2, np.float32), name="w")
    g = T.constant(np.array([1.0, -1.0], np.float32))
    upd = updates.sgd([g], [w], 0.5)
    symdl.function([], updates=upd, mode="py")()
    np.testing.assert_allclose(w.get_value(), [0.5, 1.5])


def test_params_must_be_shared_variables():
    with pytest.raises(ValueError, match="shared variables"):
        updates.sgd(T.fscalar("c"), [T.fvector("v")], 0.1)


def test_norm_constraint_rescales_columns_above_the_maximum():
    W = np.array([[3.0, 0.3], [4.0, 0.4]], np.float32)  # column norms 5 and 0.5
    x = T.fmatrix("x")
    out = symdl.function([x], updates.norm_constraint(x, 1.0), mode="py")(W)
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), [1.0, 0.5], rtol=1e-5)


def test_norm_constraint_of_filters_runs_over_all_but_the_first_axis():
    filters = np.random.default_rng(0).normal(size=(4, 2, 3, 3)).astype(np.float32) * 10
    x = T.ftensor4("x")
    out = symdl.function([x], updates.norm_constraint(x, 2.0), mode="py")(filters)
    np.testing.assert_allclose(np.sqrt((out**2).sum(axis=(1, 2, 3))), 2.0, rtol=1e-5)


def test_total_norm_constraint_scales_all_tensors_together():
    a, b = T.fvector("a"), T.fvector("b")
    scaled, norm = updates.total_norm_constraint([a, b], 1.0, return_norm=True)
    outs = symdl.function([a, b], [*scaled, norm], mode="py")(np.array([3.0], np.float32), np.array([4.0], np.float32))
    np.testing.assert_allclose(outs[0], [0.6], rtol=1e-5)
    np.testing.assert_allclose(outs[1], [0.8], rtol=1e-5)
    np.testing.assert_allclose(outs[2], 5.0)


def test_a_list_of_gradients_is_returned_itself():
    w = symdl.shared(np.ones(2, np.float32))
    grads = [T.constant(np.ones(2, np.float32))]
    assert updates.get_or_compute_grads(grads, [w]) is grads
    with pytest.raises(ValueError, match="1 gradients for 2 parameters"):
        updates.get_or_compute_grads(grads, [w, w])


def test_an_integer_loss_has_zero_gradients_with_a_warning():
    a, b = symdl.shared(1, name="a"), symdl.shared(np.ones(2, np.float32), name="b")
    with pytest.warns(UserWarning, match="int64: an integer-valued loss"):
        ga, gb = updates.get_or_compute_grads(a + T.cast(b.sum(), "int64"), [a, b])
    assert symdl.function([], [ga, gb], mode="py")()[1].tolist() == [0.0, 0.0]


def test_norm_constraint_needs_norm_axes_beyond_5d():
    with pytest.raises(ValueError, match="Unsupported tensor dimensionality 6"):
        updates.norm_constraint(T.tensor(ndim=6), 1.0)
    x = T.tensor(ndim=6)
    assert updates.norm_constraint(x, np.float64(1.0), norm_axes=(1, 2)).dtype == "float32"
