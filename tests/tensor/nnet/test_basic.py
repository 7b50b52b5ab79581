"""Activations, softmax, log-softmax and the cross-entropies against NumPy formulas written here,
their gradients by finite differences, and their numerical stability at extreme inputs."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.tensor import nnet
from symdl.testing import compare_with_numpy, verify_grad


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


ACTIVATIONS = {
    "relu": (nnet.relu, lambda x: np.maximum(x, 0)),
    "leaky_relu": (lambda x: nnet.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    "relu_alpha": (lambda x: nnet.relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (nnet.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    "selu": (nnet.selu, lambda x: nnet.SELU_SCALE * np.where(x > 0, x, nnet.SELU_ALPHA * np.expm1(x))),
    "softsign": (nnet.softsign, lambda x: x / (1 + np.abs(x))),
    "hard_sigmoid": (nnet.hard_sigmoid, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    "sigmoid": (nnet.sigmoid, np_sigmoid),
    "softplus": (nnet.softplus, lambda x: np.log1p(np.exp(x))),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_matches_numpy_and_keeps_dtype(backend, name, dtype):
    build, reference = ACTIVATIONS[name]
    x = np.random.default_rng(0).normal(scale=3, size=(4, 5)).astype(dtype)

    def ref(v):
        return reference(v.astype("float64")).astype(dtype)

    compare_with_numpy(build, ref, [x], backends=[backend], rtol=1e-5 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradient(backend, name):
    build, _ = ACTIVATIONS[name]
    # Away from the kinks at 0 and at +-2.5 (hard_sigmoid), where finite differences straddle them.
    x = np.array([[-3.1, -1.7, -0.4, 0.3], [0.9, 1.6, 2.2, 3.4]])
    verify_grad(build, [x], mode=backend)


def test_relu_gradient_at_zero_is_zero(backend):
    x = T.dvector("x")
    g = symdl.grad(nnet.relu(x).sum(), x)
    assert symdl.function([x], g, mode=backend)(np.array([-1.0, 0.0, 1.0])).tolist() == [0.0, 0.0, 1.0]


def test_elu_gradient_is_finite_for_large_inputs(backend):
    x = T.dvector("x")
    g = symdl.grad(nnet.elu(x).sum(), x)
    out = symdl.function([x], g, mode=backend)(np.array([-1000.0, 1000.0]))
    np.testing.assert_allclose(out, [0.0, 1.0])


@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1)])
def test_softmax_and_log_softmax_match_numpy(backend, shape, axis):
    x = np.random.default_rng(1).normal(size=shape)
    compare_with_numpy(lambda v: nnet.softmax(v, axis), lambda v: np_softmax(v, axis), [x], backends=[backend])
    compare_with_numpy(lambda v: nnet.log_softmax(v, axis), lambda v: np_log_softmax(v, axis), [x], backends=[backend])
    verify_grad(lambda v: nnet.softmax(v, axis), [x], mode=backend)
    verify_grad(lambda v: nnet.log_softmax(v, axis), [x], mode=backend)


def test_softmax_over_an_empty_axis_is_empty(backend):
    # found by symdl.fuzz (seed 1, graph 102): the py backend raised NumPy's zero-size maximum error
    x = T.dmatrix("x")
    f = symdl.function([x], [nnet.softmax(x), nnet.log_softmax(x), nnet.softmax(x, axis=0)], mode=backend)
    for out in f(np.zeros((2, 0))):
        assert out.shape == (2, 0) and out.dtype == "float64"


def test_softmax_keeps_static_shape_and_float32():
    x = T.tensor3("x", shape=(None, 4, 7))
    assert nnet.softmax(x).type == x.type
    assert nnet.log_softmax(x, axis=1).type == x.type
    assert isinstance(nnet.softmax(x).owner.op, nnet.Softmax) and nnet.softmax(x).owner.op.axis == 2


def test_softmax_of_huge_logits_is_finite(backend):
    x = T.fmatrix("x")
    f = symdl.function([x], [nnet.softmax(x), nnet.log_softmax(x)], mode=backend)
    logits = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 1e4]], dtype="float32")
    sm, lsm = f(logits)
    assert np.isfinite(sm).all() and np.isfinite(lsm).all()
    np.testing.assert_allclose(sm, [[1, 0, 0], [1 / 3] * 3], rtol=1e-6)
    np.testing.assert_allclose(lsm[0], [0, -1e4, -2e4], rtol=1e-6)


def test_softmax_rejects_scalars_and_bad_axes():
    with pytest.raises(ShapeError):
        nnet.softmax(T.scalar())
    with pytest.raises(ShapeError):
        nnet.softmax(T.matrix(), axis=2)


# ---------------------------------------------------------------- cross-entropies
def np_cce_labels(p, y):
    return -np.log(np.take_along_axis(p, y[..., None], axis=-1)[..., 0])


def np_cce_probs(p, t):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(t > 0, t * np.log(p), 0).sum(axis=-1)


def test_categorical_crossentropy_with_labels_and_probabilities_matches_numpy(backend):
    rng = np.random.default_rng(2)
    p = np_softmax(rng.normal(size=(5, 4)))
    y = np.array([0, 3, 1, 1, 2], dtype="int32")
    t = rng.dirichlet(np.ones(4), size=5)
    compare_with_numpy(nnet.categorical_crossentropy, np_cce_labels, [p, y], backends=[backend])
    compare_with_numpy(nnet.categorical_crossentropy, np_cce_probs, [p, t], backends=[backend])


def test_categorical_crossentropy_handles_leading_axes(backend):
    rng = np.random.default_rng(3)
    p = np_softmax(rng.normal(size=(2, 3, 4)))
    y = rng.integers(0, 4, size=(2, 3))
    compare_with_numpy(nnet.categorical_crossentropy, np_cce_labels, [p, y], backends=[backend])
    out = nnet.categorical_crossentropy(T.tensor3(shape=(2, 3, 4)), T.lmatrix(shape=(2, 3)))
    assert out.type.shape == (2, 3)


def test_crossentropy_with_zero_probability_is_inf_only_where_numpy_says_so(backend):
    p = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    y = np.array([0, 1], dtype="int32")
    t = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    P, Y, Tt = T.dmatrix("p"), T.ivector("y"), T.dmatrix("t")
    f = symdl.function(
        [P, Y, Tt], [nnet.categorical_crossentropy(P, Y), nnet.categorical_crossentropy(P, Tt)], mode=backend
    )
    by_label, by_prob = f(p, y, t)
    assert by_label[0] == np.inf and by_label[1] == pytest.approx(np.log(2))
    # 0 * log(0) counts 0 (the limit), so only the row whose target sits on a 0 probability is inf.
    assert by_prob[0] == 0.0 and by_prob[1] == np.inf
    # Where the loss is finite, so is its gradient: 0 for the classes whose target is 0.
    g = symdl.function([P, Tt], symdl.grad(nnet.categorical_crossentropy(P, Tt).sum(), P), mode=backend)(p[:1], t[:1])
    assert g.tolist() == [[0.0, -1.0, 0.0]]


def test_categorical_crossentropy_gradients(backend):
    rng = np.random.default_rng(4)
    p = rng.uniform(0.1, 1.0, size=(3, 4))
    t = rng.dirichlet(np.ones(4), size=3)
    y = T.constant(np.array([2, 0, 3], dtype="int32"))
    verify_grad(lambda a: nnet.CategoricalCrossentropy()(a, y), [p], mode=backend)
    verify_grad(lambda a, b: nnet.CategoricalCrossentropy()(a, b), [p, t], mode=backend)


def test_crossentropy_of_softmax_builds_the_fused_op():
    x, y = T.matrix("x"), T.ivector("y")
    ce = nnet.categorical_crossentropy(nnet.softmax(x), y)
    assert isinstance(ce.owner.op, nnet.SoftmaxCrossentropyWithLogits) and ce.owner.inputs[0] is x
    # Softmax over another axis is not the fused op's softmax.
    ce0 = nnet.categorical_crossentropy(nnet.softmax(x, axis=0), T.matrix())
    assert isinstance(ce0.owner.op, nnet.CategoricalCrossentropy)


@pytest.mark.parametrize("targets", ["labels", "probabilities"])
def test_softmax_crossentropy_with_logits_matches_numpy_and_its_gradient_checks(backend, targets):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 5))
    if targets == "labels":
        y = np.array([4, 0, 2, 2], dtype="int64")
        compare_with_numpy(
            nnet.softmax_crossentropy_with_logits,
            lambda a, b: np_cce_labels(np_softmax(a), b),
            [x, y],
            backends=[backend],
        )
        const = T.constant(y)
        verify_grad(lambda a: nnet.softmax_crossentropy_with_logits(a, const), [x], mode=backend)
    else:
        t = rng.dirichlet(np.ones(5), size=4)
        compare_with_numpy(
            nnet.softmax_crossentropy_with_logits,
            lambda a, b: np_cce_probs(np_softmax(a), b),
            [x, t],
            backends=[backend],
        )
        verify_grad(nnet.softmax_crossentropy_with_logits, [x, t], mode=backend)


def test_fused_crossentropy_is_stable_for_huge_logits(backend):
    x, y = T.fmatrix("x"), T.ivector("y")
    loss = nnet.categorical_crossentropy(nnet.softmax(x), y)
    f = symdl.function([x, y], [loss, symdl.grad(loss.sum(), x)], mode=backend)
    value, grad = f(np.array([[1e4, 0.0, -1e4]], "float32"), np.array([2], "int32"))
    assert value[0] == pytest.approx(2e4) and np.isfinite(grad).all()
    np.testing.assert_allclose(grad, [[1.0, 0.0, -1.0]])


def test_crossentropy_errors_name_shapes():
    with pytest.raises(ShapeError, match="labels"):
        nnet.categorical_crossentropy(T.matrix(shape=(3, 4)), T.imatrix())
    with pytest.raises(ShapeError, match="axis 0"):
        nnet.categorical_crossentropy(T.matrix(shape=(3, 4)), T.ivector(shape=(2,)))
    with pytest.raises(ShapeError, match="axis 1"):
        nnet.categorical_crossentropy(T.matrix(shape=(3, 4)), T.matrix(shape=(3, 5)))


def test_out_of_range_label_raises(backend):
    p, y = T.dmatrix(), T.ivector()
    f = symdl.function([p, y], nnet.categorical_crossentropy(p, y), mode=backend)
    with pytest.raises(IndexError, match="label 3"):
        f(np.full((1, 3), 1 / 3), np.array([3], "int32"))


def test_binary_crossentropy_matches_numpy_and_is_exact_at_zero_and_one(backend):
    rng = np.random.default_rng(6)
    o = rng.uniform(0.05, 0.95, size=(3, 4))
    t = rng.uniform(size=(3, 4))
    compare_with_numpy(
        nnet.binary_crossentropy, lambda a, b: -(b * np.log(a) + (1 - b) * np.log(1 - a)), [o, t], backends=[backend]
    )
    verify_grad(nnet.binary_crossentropy, [o, t], mode=backend)
    out_var, target_var = T.dvector(), T.dvector()
    f = symdl.function([out_var, target_var], nnet.binary_crossentropy(out_var, target_var), mode=backend)
    out = f(np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0, 0.0]))
    assert out.tolist() == [0.0, 0.0, np.inf, np.inf]


def test_binary_crossentropy_of_sigmoid_is_the_stable_form(backend):
    x, t = T.dvector("x"), T.dvector("t")
    loss = nnet.binary_crossentropy(nnet.sigmoid(x), t)
    f = symdl.function([x, t], [loss, symdl.grad(loss.sum(), x)], mode=backend)
    value, grad = f(np.array([1e4, -1e4, 0.0]), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(value, [1e4, 0.0, np.log(2)])
    np.testing.assert_allclose(grad, [1.0, 0.0, -0.5])


def test_sigmoid_binary_crossentropy_matches_numpy_and_gradient(backend):
    rng = np.random.default_rng(7)
    x = rng.normal(scale=3, size=(3, 4))
    t = rng.uniform(size=(3, 4))
    compare_with_numpy(
        nnet.sigmoid_binary_crossentropy,
        lambda a, b: -(b * np.log(np_sigmoid(a)) + (1 - b) * np.log(1 - np_sigmoid(a))),
        [x, t],
        backends=[backend],
        rtol=1e-9,
    )
    verify_grad(nnet.sigmoid_binary_crossentropy, [x, t], mode=backend)


def test_categorical_accuracy(backend):
    p, y = T.dmatrix(), T.ivector()
    f = symdl.function([p, y], nnet.categorical_accuracy(p, y), mode=backend)
    assert f(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1], "int32")).tolist() == [1.0, 0.0]
