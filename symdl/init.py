"""Parameter initializers, with Lasagne's names: each is a callable ``init(shape) -> float32 array``.

Layers accept an initializer, a NumPy array, a shared variable or any callable taking a shape
wherever a parameter is expected (``DenseLayer(l, 10, W=init.HeNormal(gain='relu'))``).
Random draws come from :func:`get_rng`, a ``numpy.random.RandomState`` that
:func:`set_rng` replaces (for reproducible networks), as ``lasagne.random`` does.

>>> import numpy as np
>>> from symdl import init
>>> init.set_rng(np.random.RandomState(0))
>>> w = init.GlorotUniform()((64, 32))
>>> w.dtype, w.shape, bool(abs(w).max() <= np.sqrt(6 / 96))
(dtype('float32'), (64, 32), True)
>>> init.Constant(0.5)((2,))
array([0.5, 0.5], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.config import config

__all__ = [
    "Initializer",
    "Constant",
    "Normal",
    "Uniform",
    "Glorot",
    "GlorotNormal",
    "GlorotUniform",
    "He",
    "HeNormal",
    "HeUniform",
    "Orthogonal",
    "Sparse",
    "get_rng",
    "set_rng",
]

_rng: Any = np.random.RandomState()


def get_rng() -> Any:
    """The random generator that initializers and dropout seeds are drawn from."""
    return _rng


def set_rng(new_rng: Any) -> None:
    """Replace the generator (a ``numpy.random.RandomState`` or ``Generator``) for reproducible runs."""
    global _rng
    _rng = new_rng


def _floatX(arr: Any) -> np.ndarray:
    return np.asarray(arr, dtype=config.floatX)


def _gain(gain: float | str) -> float:
    if gain == "relu":
        return float(np.sqrt(2.0))
    return float(gain)


class Initializer:
    """Base class: subclasses implement ``sample(shape)``; calling the object samples."""

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        return self.sample(tuple(shape))

    def sample(self, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Constant(Initializer):
    """Every entry equals ``val`` (biases: ``Constant(0.)``)."""

    def __init__(self, val: float = 0.0):
        self.val = val

    def sample(self, shape: tuple[int, ...]) -> np.ndarray:
        return _floatX(np.full(shape, self.val))


class Normal(Initializer):
    """Draws from a normal distribution with mean ``mean`` and standard deviation ``std``."""

    def __init__(self, std: float = 0.01, mean: float = 0.0):
        self.std = std
        self.mean = mean

    def sample(self, shape: tuple[int, ...]) -> np.ndarray:
        return _floatX(get_rng().normal(self.mean, self.std, size=shape))


class Uniform(Initializer):
    """Draws uniformly from ``[-range, range]``, from ``range=(low, high)``, or, with ``std``,
    from the interval around ``mean`` that has that standard deviation."""

    def __init__(self, range: float | tuple[float, float] = 0.01, std: float | None = None, mean: float = 0.0):
        if std is not None:
            a, b = mean - np.sqrt(3) * std, mean + np.sqrt(3) * std
        elif isinstance(range, tuple | list):
            a, b = range
        else:
            a, b = -range, range
        self.range = (float(a), float(b))

    def sample(self, shape: tuple[int, ...]) -> np.ndarray:
        return _floatX(get_rng().uniform(low=self.range[0], high=self.range[1], size=shape))


def _scaled_sample(init: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Draw from ``init.initializer(std=...)`` with the standard deviation ``init.std(shape)``
    (the ``sample`` of Glorot and He, which Lasagne derives from Initializer directly)."""
    if init.c01b and len(shape) != 4:
        raise RuntimeError("If c01b is True, only shapes of length 4 are accepted")
    if not init.c01b and len(shape) < 2:
        raise RuntimeError(f"{type(init).__name__} only works with shapes of length >= 2, got {shape}")
    return init.initializer(std=init.gain * init.std(shape)).sample(shape)


class Glorot(Initializer):
    """Glorot/Xavier scaling: ``std = gain * sqrt(2 / ((fan_in + fan_out) * receptive_field))``,
    with fan_in, fan_out the first two axes of the shape (``(n_in, n_out)`` for dense weights,
    ``(n_filters, n_channels, h, w)`` for convolutions), drawn from ``initializer(std=...)``
    (``Normal`` or ``Uniform``). ``gain='relu'`` means sqrt(2)."""

    def __init__(self, initializer: type, gain: float | str = 1.0, c01b: bool = False):
        self.initializer = initializer
        self.gain = _gain(gain)
        self.c01b = c01b

    sample = _scaled_sample

    def std(self, shape: tuple[int, ...]) -> float:
        if self.c01b:
            n1, n2, receptive_field_size = shape[0], shape[3], shape[1] * shape[2]
        else:
            n1, n2, receptive_field_size = shape[0], shape[1], int(np.prod(shape[2:]))
        return float(np.sqrt(2.0 / ((n1 + n2) * receptive_field_size)))


class GlorotNormal(Glorot):
    """:class:`Glorot` scaling with normally distributed weights."""

    def __init__(self, gain: float | str = 1.0, c01b: bool = False):
        super().__init__(Normal, gain, c01b)


class GlorotUniform(Glorot):
    """:class:`Glorot` scaling with uniformly distributed weights (the default of dense and conv layers)."""

    def __init__(self, gain: float | str = 1.0, c01b: bool = False):
        super().__init__(Uniform, gain, c01b)


class He(Initializer):
    """He scaling: ``std = gain * sqrt(1 / fan_in)``, fan_in being ``shape[0]`` for 2-d shapes and
    the product of ``shape[1:]`` for convolution filters, drawn from ``initializer(std=...)``.
    ``gain='relu'`` means sqrt(2)."""

    def __init__(self, initializer: type, gain: float | str = 1.0, c01b: bool = False):
        self.initializer = initializer
        self.gain = _gain(gain)
        self.c01b = c01b

    sample = _scaled_sample

    def std(self, shape: tuple[int, ...]) -> float:
        if self.c01b:
            fan_in = int(np.prod(shape[:3]))
        elif len(shape) == 2:
            fan_in = shape[0]
        else:
            fan_in = int(np.prod(shape[1:]))
        return float(np.sqrt(1.0 / fan_in))


class HeNormal(He):
    """:class:`He` scaling with normally distributed weights."""

    def __init__(self, gain: float | str = 1.0, c01b: bool = False):
        super().__init__(Normal, gain, c01b)


class HeUniform(He):
    """:class:`He` scaling with uniformly distributed weights."""

    def __init__(self, gain: float | str = 1.0, c01b: bool = False):
        super().__init__(Uniform, gain, c01b)


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``; shapes of more than 2 axes are flattened to
    ``(shape[0], prod(shape[1:]))``. ``gain='relu'`` means sqrt(2)."""

    def __init__(self, gain: float | str = 1.0):
        self.gain = _gain(gain)

    def sample(self, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) < 2:
            raise RuntimeError(f"Orthogonal only works with shapes of length >= 2, got {shape}")
        flat_shape = (shape[0], int(np.prod(shape[1:])))
        a = get_rng().normal(0.0, 1.0, flat_shape)
        u, _, v = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat_shape else v
        return _floatX(self.gain * q.reshape(shape))


class Sparse(Initializer):
    """A 2-d weight matrix where each column has ``int(sparsity * n_inputs)`` nonzero entries,
    drawn from a normal distribution of standard deviation ``std``."""

    def __init__(self, sparsity: float = 0.1, std: float = 0.01):
        self.sparsity = sparsity
        self.std = std

    def sample(self, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) != 2:
            raise RuntimeError(f"Sparse only works with 2-d shapes, got {shape}")
        n_inputs, n_outputs = shape
        size = int(self.sparsity * n_inputs)
        w = np.zeros(shape, dtype=config.floatX)
        for k in range(n_outputs):
            indices = np.arange(n_inputs)
            get_rng().shuffle(indices)
            w[indices[:size], k] = get_rng().normal(0.0, self.std, size=size)
        return w
