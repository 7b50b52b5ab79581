"""Nonlinearities against their NumPy formulas, keeping float32."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import nonlinearities as nl

X = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0], [1.0, -1.0, 2.0, -2.0, 0.1]], np.float32)

CASES = {
    "sigmoid": (nl.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (nl.tanh, np.tanh),
    "rectify": (nl.rectify, lambda x: np.maximum(x, 0)),
    "leaky_rectify": (nl.leaky_rectify, lambda x: np.where(x > 0, x, 0.01 * x)),
    "very_leaky_rectify": (nl.very_leaky_rectify, lambda x: np.where(x > 0, x, x / 3)),
    "LeakyRectify(0.2)": (nl.LeakyRectify(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (nl.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    "selu": (nl.selu, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    "softplus": (nl.softplus, lambda x: np.log1p(np.exp(x))),
    "linear": (nl.linear, lambda x: x),
    "identity": (nl.identity, lambda x: x),
    "ScaledTanH": (nl.ScaledTanH(2 / 3, 1.7159), lambda x: 1.7159 * np.tanh(2 / 3 * x)),
    "softmax": (nl.softmax, lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_nonlinearity_matches_numpy_and_keeps_float32(name):
    fn, ref = CASES[name]
    x = T.fmatrix("x")
    out = symdl.function([x], fn(x), mode="py")(X)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref(X.astype(np.float64)), rtol=1e-5, atol=1e-6)
