"""Batch normalization against NumPy: dense (axes 0) and conv (axes 0, 2, 3) layouts, both
parameter layouts, running averages, inference mode, and gradients by finite differences."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.tensor.nnet import batch_normalization, batch_normalization_test, batch_normalization_train
from symdl.testing import verify_grad


def np_bn(x, gamma, beta, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta, mean, 1 / np.sqrt(var + eps), var


def expand(p, axes, ndim):
    return np.expand_dims(p, axes) if p.ndim != ndim else p


@pytest.mark.parametrize(
    "shape,axes,reduced",
    [
        ((6, 4), "per-activation", True),
        ((4, 3, 2, 3), "spatial", True),
        ((4, 3, 2, 3), (0, 2, 3), False),
        ((5, 3, 4), (0, 2), True),
    ],
)
def test_batch_normalization_train_matches_numpy(backend, shape, axes, reduced):
    rng = np.random.default_rng(0)
    x = rng.normal(loc=2, scale=3, size=shape)
    ax = {"per-activation": (0,), "spatial": (0, 2, 3)}.get(axes, axes)
    pshape = tuple(1 if i in ax else d for i, d in enumerate(shape))
    if reduced:
        pshape = tuple(d for i, d in enumerate(shape) if i not in ax)
    gamma, beta = rng.normal(size=pshape), rng.normal(size=pshape)
    X = T.tensor("float64", (None,) * len(shape))
    G, B = T.tensor("float64", (None,) * len(pshape)), T.tensor("float64", (None,) * len(pshape))
    out, mean, invstd = batch_normalization_train(X, G, B, axes, epsilon=1e-3)
    got = symdl.function([X, G, B], [out, mean, invstd], mode=backend)(x, gamma, beta)
    ref, ref_mean, ref_invstd, _ = np_bn(x, expand(gamma, ax, x.ndim), expand(beta, ax, x.ndim), ax, 1e-3)
    np.testing.assert_allclose(got[0], ref, rtol=1e-10, atol=1e-12)
    assert got[1].shape == pshape and got[2].shape == pshape
    np.testing.assert_allclose(got[1], ref_mean.reshape(pshape), rtol=1e-12)
    np.testing.assert_allclose(got[2], ref_invstd.reshape(pshape), rtol=1e-10)
    verify_grad(
        lambda a, g, b: batch_normalization_train(a, g, b, axes, epsilon=1e-3)[0],
        [x, gamma, beta],
        mode=backend,
        n_tests=1,
    )


def test_running_averages_follow_theano(backend):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3, 2, 2)).astype("float32")
    running_mean = symdl.shared(np.zeros(3, "float32"), name="running_mean")
    running_var = symdl.shared(np.ones(3, "float32"), name="running_var")
    X = T.tensor4("x")
    out, mean, invstd, new_mean, new_var = batch_normalization_train(
        X, np.ones(3, "float32"), np.zeros(3, "float32"), "spatial", 1e-4, 0.1, running_mean, running_var
    )
    assert out.dtype == mean.dtype == new_mean.dtype == new_var.dtype == "float32"
    f = symdl.function([X], out, updates=[(running_mean, new_mean), (running_var, new_var)], mode=backend)
    f(x)
    np.testing.assert_allclose(running_mean.get_value(), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    unbiased = x.astype("float64").var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(running_var.get_value(), 0.9 + 0.1 * unbiased, rtol=1e-5)


def test_batch_normalization_test_matches_numpy_and_gradients(backend):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 3, 2, 2))
    gamma, beta, mean = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    var = rng.uniform(0.5, 2, size=3)
    X = T.dtensor4("x")
    out = batch_normalization_test(X, gamma, beta, mean, var, "spatial", 1e-4)
    got = symdl.function([X], out, mode=backend)(x)
    e = (slice(None), None, None)
    ref = (x - mean[e]) * gamma[e] / np.sqrt(var[e] + 1e-4) + beta[e]
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    verify_grad(
        lambda a, g, b, m, v: batch_normalization_test(a, g, b, m, v, "spatial"),
        [x, gamma, beta, mean, var],
        mode=backend,
        n_tests=1,
    )


def test_theano_elementwise_batch_normalization(backend):
    X = T.dmatrix("x")
    out = batch_normalization(X, np.array([2.0]), np.array([1.0]), np.array([3.0]), np.array([0.5]))
    assert symdl.function([X], out, mode=backend)(np.array([[4.0]])).tolist() == [[5.0]]


def test_batch_normalization_parameter_errors():
    with pytest.raises(ShapeError, match="gamma must have 1 dimensions"):
        batch_normalization_train(T.tensor4(), T.matrix(), T.vector(), "spatial")
    with pytest.raises(ShapeError, match="size 1 on the normalized axis 0"):
        batch_normalization_train(T.matrix(), T.matrix(shape=(3, 4)), T.matrix(), "per-activation")
