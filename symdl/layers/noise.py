"""Noise layers, active only in training: ``DropoutLayer`` (alias ``dropout``, and the variants
``dropout_channels`` / ``spatial_dropout`` and ``dropout_locations``) and ``GaussianNoiseLayer``.
They pass their input through unchanged when the output is built with
``get_output(..., deterministic=True)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symdl.graph.basic import Variable
from symdl.init import get_rng
from symdl.layers.base import Layer

__all__ = [
    "DropoutLayer",
    "dropout",
    "dropout_channels",
    "spatial_dropout",
    "dropout_locations",
    "GaussianNoiseLayer",
]


def _random_stream() -> Any:
    from symdl.tensor.random import RandomStream

    # Seeded from symdl.init.get_rng(), so set_rng makes the masks reproducible too.
    return RandomStream(int(get_rng().randint(1, 2147462579)))


def _noise_shape(input: Any, shared_axes: Sequence[int]) -> tuple[Any, ...]:
    shared = {axis % input.ndim for axis in shared_axes}
    return tuple(1 if axis in shared else input.shape[axis] for axis in range(input.ndim))


class DropoutLayer(Layer):
    """Sets each input to zero with probability ``p`` during training.

    Parameters
    ----------
    p : float or scalar tensor
        The probability of dropping a unit.
    rescale : bool
        Divide the kept inputs by ``1 - p`` (inverted dropout), so that nothing needs rescaling
        at test time.
    shared_axes : tuple of ints
        Axes along which the same mask is used (``(2, 3)`` drops whole feature maps; negative
        axes count from the end).

    Notes
    -----
    The mask is random in the *training* output only: remember
    ``get_output(net, deterministic=True)`` for validation and prediction, or dropout stays on.
    The masks are drawn by a ``symdl.tensor.random.RandomStream`` seeded from
    ``symdl.init.get_rng()``; each call of a compiled function draws new ones.

    Examples
    --------
    >>> from symdl import layers
    >>> l = layers.DropoutLayer(layers.InputLayer((None, 100)), p=0.5)
    >>> l.output_shape
    (None, 100)
    """

    def __init__(
        self, incoming: Any, p: float = 0.5, rescale: bool = True, shared_axes: Sequence[int] = (), **kwargs: Any
    ):
        super().__init__(incoming, **kwargs)
        if not isinstance(p, Variable) and not 0 <= p < 1:
            raise ValueError(f"DropoutLayer: p must be in [0, 1), got {p}")
        self._srng = _random_stream()
        self.p = p
        self.rescale = rescale
        self.shared_axes = tuple(shared_axes)

    def get_output_for(self, input: Any, deterministic: bool = False, **kwargs: Any) -> Any:
        if deterministic or (not isinstance(self.p, Variable) and self.p == 0):
            return input
        retain_prob = 1 - self.p
        if self.rescale:
            input = input / retain_prob
        mask = self._srng.binomial(_noise_shape(input, self.shared_axes), p=retain_prob, dtype=input.dtype)
        return input * mask


dropout = DropoutLayer


def dropout_channels(incoming: Any, *args: Any, **kwargs: Any) -> DropoutLayer:
    """Dropout of whole channels: a ``DropoutLayer`` whose mask is shared over every axis past
    the second (``spatial_dropout`` is the same function; Tompson et al., 2015).

    >>> from symdl import layers
    >>> layers.dropout_channels(layers.InputLayer((None, 16, 8, 8)), p=0.2).shared_axes
    (2, 3)
    """
    ndim = len(getattr(incoming, "output_shape", incoming))
    kwargs["shared_axes"] = tuple(range(2, ndim))
    return DropoutLayer(incoming, *args, **kwargs)


spatial_dropout = dropout_channels


def dropout_locations(incoming: Any, *args: Any, **kwargs: Any) -> DropoutLayer:
    """Dropout of whole positions: a ``DropoutLayer`` whose mask is shared over the channels
    (axis 1), so every channel of a dropped pixel (or sequence step) is zeroed together.

    >>> from symdl import layers
    >>> layers.dropout_locations(layers.InputLayer((None, 16, 8, 8))).shared_axes
    (1,)
    """
    kwargs["shared_axes"] = (1,)
    return DropoutLayer(incoming, *args, **kwargs)


class GaussianNoiseLayer(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``sigma`` (a float or a scalar tensor)
    during training; with ``deterministic=True`` the input passes unchanged.

    >>> from symdl import layers
    >>> layers.GaussianNoiseLayer(layers.InputLayer((None, 10)), sigma=0.5).output_shape
    (None, 10)
    """

    def __init__(self, incoming: Any, sigma: float = 0.1, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self._srng = _random_stream()
        self.sigma = sigma

    def get_output_for(self, input: Any, deterministic: bool = False, **kwargs: Any) -> Any:
        if deterministic or (not isinstance(self.sigma, Variable) and self.sigma == 0):
            return input
        return input + self._srng.normal(_noise_shape(input, ()), avg=0.0, std=self.sigma, dtype=input.dtype)
