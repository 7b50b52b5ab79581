"""Activation functions with Lasagne's names, for layers' ``nonlinearity=`` and for plain maths.

Each is a function of one symbolic tensor returning a symbolic tensor of the same shape and dtype.

>>> import numpy as np, symdl, symdl.tensor as T
>>> from symdl import nonlinearities
>>> x = T.fvector('x')
>>> f = symdl.function([x], [nonlinearities.rectify(x), nonlinearities.leaky_rectify(x)])
>>> [a.tolist() for a in f(np.array([-1.0, 2.0], 'float32'))]
[[0.0, 2.0], [-0.009999999776482582, 2.0]]
"""

from __future__ import annotations

from typing import Any

import symdl.tensor as T

__all__ = [
    "sigmoid",
    "softmax",
    "tanh",
    "ScaledTanH",
    "ScaledTanh",
    "rectify",
    "LeakyRectify",
    "leaky_rectify",
    "very_leaky_rectify",
    "elu",
    "SELU",
    "selu",
    "softplus",
    "linear",
    "identity",
]


def sigmoid(x: Any) -> Any:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, in (0, 1)."""
    return T.sigmoid(x)


def softmax(x: Any) -> Any:
    """Softmax over the last axis: rows become probability distributions.

    ``categorical_crossentropy`` of a softmax output is compiled as one stable fused op.
    """
    return T.nnet.softmax(x)


def tanh(x: Any) -> Any:
    """Hyperbolic tangent, in (-1, 1)."""
    return T.tanh(x)


class ScaledTanH:
    """``scale_out * tanh(scale_in * x)``; LeCun's recommendation is ``ScaledTanH(2/3, 1.7159)``."""

    def __init__(self, scale_in: float = 1.0, scale_out: float = 1.0):
        self.scale_in = scale_in
        self.scale_out = scale_out

    def __call__(self, x: Any) -> Any:
        return T.tanh(x * self.scale_in) * self.scale_out


ScaledTanh = ScaledTanH


def rectify(x: Any) -> Any:
    """Rectified linear unit ``max(x, 0)``."""
    return T.nnet.relu(x)


class LeakyRectify:
    """Leaky rectifier ``x if x > 0 else leakiness * x``."""

    def __init__(self, leakiness: float = 0.01):
        self.leakiness = leakiness

    def __call__(self, x: Any) -> Any:
        return T.nnet.leaky_relu(x, self.leakiness)


leaky_rectify = LeakyRectify()
"""Leaky rectifier with leakiness 0.01."""

very_leaky_rectify = LeakyRectify(1.0 / 3)
"""Leaky rectifier with leakiness 1/3."""


def elu(x: Any) -> Any:
    """Exponential linear unit ``x if x > 0 else exp(x) - 1``."""
    return T.nnet.elu(x)


class SELU:
    """Scaled exponential linear unit ``scale * (x if x > 0 else scale_neg * (exp(x) - 1))``."""

    def __init__(self, scale: float = 1.0, scale_neg: float = 1.0):
        self.scale = scale
        self.scale_neg = scale_neg

    def __call__(self, x: Any) -> Any:
        return self.scale * T.nnet.elu(x, self.scale_neg)


selu = SELU(scale=T.nnet.SELU_SCALE, scale_neg=T.nnet.SELU_ALPHA)
"""SELU with the self-normalizing constants of Klambauer et al. (2017)."""


def softplus(x: Any) -> Any:
    """Smooth rectifier ``log(1 + exp(x))``."""
    return T.softplus(x)


def linear(x: Any) -> Any:
    """The identity: the layer stays linear."""
    return x


identity = linear
