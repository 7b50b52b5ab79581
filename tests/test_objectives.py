"""Losses and metrics against NumPy, and symdl.losses as an alias."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import objectives

P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.4, 0.3]], np.float32)
Y = np.array([0, 1, 1], np.int32)


def run(expr, inputs, values):
    return symdl.function(inputs, expr, mode="py")(*values)


def test_categorical_crossentropy_of_labels_and_of_one_hot_rows():
    p, y, t = T.fmatrix("p"), T.ivector("y"), T.fmatrix("t")
    want = -np.log(P[np.arange(3), Y])
    np.testing.assert_allclose(run(objectives.categorical_crossentropy(p, y), [p, y], [P, Y]), want, rtol=1e-6)
    onehot = np.eye(3, dtype=np.float32)[Y]
    np.testing.assert_allclose(run(objectives.categorical_crossentropy(p, t), [p, t], [P, onehot]), want, rtol=1e-6)


def test_categorical_crossentropy_of_softmax_is_finite_for_huge_logits():
    z, y = T.fmatrix("z"), T.ivector("y")
    loss = objectives.categorical_crossentropy(T.nnet.softmax(z), y).mean()
    g = symdl.grad(loss, z)
    value, grad = symdl.function([z, y], [loss, g], mode="py")(
        np.array([[1e4, 0.0]], np.float32), np.array([1], np.int32)
    )
    assert np.isfinite(value) and np.isfinite(grad).all()


def test_binary_crossentropy_and_accuracy():
    p, t = T.fvector("p"), T.fvector("t")
    pv, tv = np.array([0.9, 0.2, 0.6], np.float32), np.array([1, 0, 0], np.float32)
    want = -(tv * np.log(pv) + (1 - tv) * np.log(1 - pv))
    np.testing.assert_allclose(run(objectives.binary_crossentropy(p, t), [p, t], [pv, tv]), want, rtol=1e-5)
    np.testing.assert_array_equal(run(objectives.binary_accuracy(p, t), [p, t], [pv, tv]), [1, 1, 0])


def test_squared_error_and_aggregate_modes():
    a, b, w = T.fvector("a"), T.fvector("b"), T.fvector("w")
    av, bv, wv = np.array([1, 2, 3], np.float32), np.array([1, 0, 0], np.float32), np.array([1, 1, 0], np.float32)
    se = objectives.squared_error(a, b)
    np.testing.assert_allclose(run(se, [a, b], [av, bv]), [0, 4, 9])
    assert run(objectives.aggregate(se), [a, b], [av, bv]) == pytest.approx(13 / 3)
    assert run(objectives.aggregate(se, mode="sum"), [a, b], [av, bv]) == pytest.approx(13)
    assert run(objectives.aggregate(se, w, mode="normalized_sum"), [a, b, w], [av, bv, wv]) == pytest.approx(2)
    with pytest.raises(ValueError, match="require weights"):
        objectives.aggregate(se, mode="normalized_sum")


def test_categorical_accuracy_top1_and_top2_is_floatX():
    p, y = T.fmatrix("p"), T.ivector("y")
    top1 = run(objectives.categorical_accuracy(p, y), [p, y], [P, Y])
    assert top1.dtype == np.float32
    np.testing.assert_array_equal(top1, [1, 0, 1])
    np.testing.assert_array_equal(run(objectives.categorical_accuracy(p, y, top_k=2), [p, y], [P, Y]), [1, 1, 1])


def test_multiclass_hinge_loss_matches_numpy():
    p, y = T.fmatrix("p"), T.ivector("y")
    correct = P[np.arange(3), Y]
    rest = np.where(np.eye(3, dtype=bool)[Y], -np.inf, P).max(axis=1)
    want = np.maximum(0, rest - correct + 1)
    np.testing.assert_allclose(run(objectives.multiclass_hinge_loss(p, y), [p, y], [P, Y]), want, rtol=1e-6)


def test_binary_hinge_loss_with_log_odds():
    p, t = T.fvector("p"), T.fvector("t")
    pv, tv = np.array([2.0, -0.5, 0.3], np.float32), np.array([1, 0, 0], np.float32)
    want = np.maximum(0, 1 - (2 * tv - 1) * pv)
    got = run(objectives.binary_hinge_loss(p, t, log_odds=True), [p, t], [pv, tv])
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_symdl_losses_has_every_function_of_symdl_objectives():
    import symdl.losses
    import symdl.objectives

    assert symdl.losses.__all__ == symdl.objectives.__all__
    for name in symdl.objectives.__all__:
        assert getattr(symdl.losses, name) is getattr(symdl.objectives, name)


@pytest.mark.parametrize("delta", [0.5, 1.0])
def test_huber_loss_is_quadratic_then_linear(delta):
    a, b = T.fmatrix("a"), T.fmatrix("b")
    rng = np.random.default_rng(0)
    av, bv = rng.uniform(-2, 2, (4, 5)).astype(np.float32), rng.uniform(-2, 2, (4, 5)).astype(np.float32)
    d = np.abs(av - bv)
    want = np.where(d <= delta, 0.5 * d**2, delta * (d - delta / 2))
    got = run(objectives.huber_loss(a, b, delta), [a, b], [av, bv])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    col, t = T.fmatrix("col", shape=(None, 1)), T.fvector("t")
    assert objectives.huber_loss(col, t).type.shape == (None, 1)


def test_aggregate_builds_the_graph_a_user_would_write():
    from symdl.graph import is_same_graph

    x, w = T.matrix("x"), T.matrix("w")
    assert is_same_graph(objectives.aggregate(x), x.mean())
    assert is_same_graph(objectives.aggregate(x, w, "sum"), (x * w).sum())
    assert is_same_graph(objectives.aggregate(x, w, "normalized_sum"), (x * w).sum() / w.sum())
