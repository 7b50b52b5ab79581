"""Noise layers, active only in training: ``DropoutLayer`` (alias ``dropout``) and
``GaussianNoiseLayer``. Both pass their input through unchanged when the output is built with
``get_output(..., deterministic=True)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symdl.init import get_rng
from symdl.layers.base import Layer

__all__ = ["DropoutLayer", "dropout", "GaussianNoiseLayer"]


def _random_stream() -> Any:
    from symdl.tensor.random import RandomStream

    # Seeded from symdl.init.get_rng(), so set_rng makes the masks reproducible too.
    return RandomStream(int(get_rng().randint(1, 2147462579)))


def _noise_shape(input: Any, shared_axes: Sequence[int]) -> tuple[Any, ...]:
    return tuple(1 if axis in shared_axes else input.shape[axis] for axis in range(input.ndim))


class DropoutLayer(Layer):
    """Sets each input to zero with probability ``p`` during training.

    Parameters
    ----------
    p : float
        The probability of dropping a unit.
    rescale : bool
        Divide the kept inputs by ``1 - p`` (inverted dropout), so that nothing needs rescaling
        at test time.
    shared_axes : tuple of ints
        Axes along which the same mask is used (``(2, 3)`` drops whole feature maps).

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
        if not 0 <= p < 1:
            raise ValueError(f"DropoutLayer: p must be in [0, 1), got {p}")
        self._srng = _random_stream()
        self.p = p
        self.rescale = rescale
        self.shared_axes = tuple(a % len(self.input_shape) for a in shared_axes)

    def get_output_for(self, input: Any, deterministic: bool = False, **kwargs: Any) -> Any:
        if deterministic or self.p == 0:
            return input
        retain_prob = 1 - self.p
        if self.rescale:
            input = input / retain_prob
        mask = self._srng.binomial(_noise_shape(input, self.shared_axes), p=retain_prob, dtype=input.dtype)
        return input * mask


dropout = DropoutLayer


class GaussianNoiseLayer(Layer):
    """Adds zero-mean Gaussian noise of standard deviation ``sigma`` during training."""

    def __init__(self, incoming: Any, sigma: float = 0.1, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self._srng = _random_stream()
        self.sigma = sigma

    def get_output_for(self, input: Any, deterministic: bool = False, **kwargs: Any) -> Any:
        if deterministic or self.sigma == 0:
            return input
        return input + self._srng.normal(_noise_shape(input, ()), avg=0.0, std=self.sigma, dtype=input.dtype)
