"""Stabilize: unstable formulas become their stable forms, with values (and gradients) finite."""

import numpy as np

import symdl
import symdl.tensor as T


def test_log_one_plus_x_becomes_log1p(rw):
    x = T.dvector("x")
    before, after = rw.compile([x], T.log(1.0 + x))
    assert rw.ops(before) == ["add", "log"]
    assert rw.ops(after) == ["log1p"]
    assert after(np.array([1e-20]))[0] == 1e-20
    rw.same(before, after, np.array([0.5, 3.0]))


def test_hand_written_softplus_is_stable_with_its_gradient():
    x = T.dscalar("x")
    y = T.log(1 + T.exp(x))
    f = symdl.function([x], [y, symdl.grad(y, x)], mode="py")
    value, grad = f(1000.0)
    assert value == 1000.0 and grad == 1.0
    value, grad = f(-3.0)
    np.testing.assert_allclose(value, np.log1p(np.exp(-3.0)))
    np.testing.assert_allclose(grad, 1 / (1 + np.exp(3.0)))
    assert "softplus" in [str(n.op) for n in f.graph.toposort()] or any(
        "softplus" in str(n.op) for n in f.graph.toposort()
    )


def test_hand_written_softplus_is_stable_in_float32():
    x = T.fvector("x")
    y = T.sum(T.log(1 + T.exp(x)))
    f = symdl.function([x], [y, symdl.grad(y, x)], mode="py")
    value, grad = f(np.array([1000.0], "float32"))
    assert value == 1000.0 and grad[0] == 1.0


def test_exp_minus_one_becomes_expm1(rw):
    x = T.dvector("x")
    before, after = rw.compile([x], T.exp(x) - 1.0)
    assert rw.ops(before) == ["exp", "sub"]
    assert rw.ops(after) == ["expm1"]
    assert after(np.array([1e-20]))[0] == 1e-20
    rw.same(before, after, np.array([0.5, 3.0]))


def test_log_sigmoid_becomes_minus_softplus(rw):
    x = T.dvector("x")
    before, after = rw.compile([x], T.log(T.sigmoid(x)))
    assert rw.ops(before) == ["sigmoid", "log"]
    assert rw.ops(after) == ["neg", "softplus", "neg"]
    np.testing.assert_allclose(after(np.array([-1000.0])), [-1000.0])
    rw.same(before, after, np.array([0.5, -3.0]))


def test_log_one_minus_sigmoid_becomes_minus_softplus(rw):
    x = T.dvector("x")
    before, after = rw.compile([x], T.log(1.0 - T.sigmoid(x)))
    assert rw.ops(after) == ["softplus", "neg"]
    np.testing.assert_allclose(after(np.array([1000.0])), [-1000.0])
    rw.same(before, after, np.array([0.5, -3.0]))


def test_hand_written_sigmoid_becomes_sigmoid(rw):
    x = T.dvector("x")
    before, after = rw.compile([x], 1.0 / (1.0 + T.exp(-x)))
    assert rw.ops(after) == ["sigmoid"]
    rw.same(before, after, np.array([0.5, -3.0, 40.0]))


def test_log_sum_exp_is_computed_with_the_maximum_taken_out(rw):
    x = T.dmatrix("x")
    before, after = rw.compile([x], T.log(T.sum(T.exp(x), axis=1)))
    assert rw.ops(before) == ["exp", "sum", "log"]
    assert "max" in rw.ops(after)
    np.testing.assert_allclose(after(np.array([[1000.0, 1000.0]])), [1000.0 + np.log(2.0)])
    rw.same(before, after, np.array([[0.5, -3.0], [1.0, 2.0]]))


def test_log_of_softmax_becomes_log_softmax(rw):
    x = T.dmatrix("x")
    before, after = rw.compile([x], T.log(T.nnet.softmax(x)))
    assert rw.ops(before) == ["softmax", "log"]
    assert rw.ops(after) == ["log_softmax"]
    assert np.isfinite(after(np.array([[1e4, 0.0]]))).all()
    rw.same(before, after, np.array([[0.5, -3.0], [1.0, 2.0]]))


def test_crossentropy_of_softmax_is_fused_and_stable(rw):
    from symdl.tensor.nnet import CategoricalCrossentropy, Softmax

    x, y = T.dmatrix("x"), T.ivector("y")
    ce = CategoricalCrossentropy()(Softmax(1)(x), y)
    before, after = rw.compile([x, y], ce)
    assert rw.ops(before) == ["softmax", "categorical_crossentropy"]
    assert rw.ops(after) == ["softmax_crossentropy_with_logits"]
    labels = np.array([1, 0], "int32")
    rw.same(before, after, np.array([[0.5, -3.0], [1.0, 2.0]]), labels)
    assert np.isfinite(after(np.array([[1e4, 0.0], [0.0, 1e4]]), labels)).all()


def test_crossentropy_of_softmax_at_large_logits_has_finite_loss_and_gradient():
    x, y = T.dmatrix("x"), T.ivector("y")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(x), y).mean()
    f = symdl.function([x, y], [loss, symdl.grad(loss, x)], mode="py")
    value, grad = f(np.array([[1e4, 0.0]]), np.array([1], "int32"))
    assert np.isfinite(value) and np.isfinite(grad).all()


def test_hand_written_log_softmax_crossentropy_has_a_finite_gradient(rw):
    x, y = T.dmatrix("x"), T.ivector("y")
    loss = -T.mean(T.log(T.nnet.softmax(x))[T.arange(y.shape[0]), y])
    g = symdl.grad(loss, x)
    before, after = rw.compile([x, y], [loss, g])
    assert "log_softmax" in rw.ops(after)
    divisions_by_softmax = [
        n
        for n in after.graph.toposort()
        if str(n.op) == "true_div" and str(getattr(n.inputs[1].owner, "op", "")) == "softmax"
    ]
    assert divisions_by_softmax == []
    labels = np.array([1, 0], "int32")
    rw.same(before, after, np.array([[0.5, -3.0], [1.0, 2.0]]), labels)
    value, grad = after(np.array([[1e4, 0.0], [0.0, 3.0]]), labels)
    assert np.isfinite(value) and np.isfinite(grad).all()
    np.testing.assert_allclose(grad[0], [0.5, -0.5])
