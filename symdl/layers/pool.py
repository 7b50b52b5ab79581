"""Pooling layers: ``MaxPool2DLayer``, ``Pool2DLayer`` (max or average) and ``GlobalPoolLayer``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import symdl.tensor as T
from symdl.layers.base import Layer, as_pair

__all__ = ["Pool2DLayer", "MaxPool2DLayer", "GlobalPoolLayer", "pool_output_length"]


def pool_output_length(
    input_length: int | None, pool_size: int, stride: int, pad: int, ignore_border: bool
) -> int | None:
    """Output length of one axis of a pooling (Lasagne's formula).

    >>> pool_output_length(24, 2, 2, 0, True), pool_output_length(7, 2, 2, 0, True), pool_output_length(7, 2, 2, 0, False)
    (12, 3, 4)
    """
    if input_length is None or pool_size is None:
        return None
    if ignore_border:
        length = input_length + 2 * pad - pool_size + 1
        return (length + stride - 1) // stride
    if pad:
        raise ValueError("padding needs ignore_border=True")
    if stride >= pool_size:
        return (input_length + stride - 1) // stride
    return max(0, (input_length - pool_size + stride - 1) // stride) + 1


class Pool2DLayer(Layer):
    """2-d pooling over the last two axes.

    Parameters
    ----------
    pool_size : int or (int, int)
    stride : int, pair or None
        Defaults to ``pool_size`` (non-overlapping windows).
    pad : int or pair
        Zero padding (needs ``ignore_border=True``).
    ignore_border : bool
        True drops a partial window at the border; False pools it too.
    mode : 'max', 'average_inc_pad' or 'average_exc_pad'
        Max pooling, or averages that count padding or not.

    >>> from symdl import layers
    >>> layers.Pool2DLayer(layers.InputLayer((None, 20, 24, 24)), 2, mode='average_inc_pad').output_shape
    (None, 20, 12, 12)
    """

    def __init__(
        self,
        incoming: Any,
        pool_size: Any,
        stride: Any = None,
        pad: Any = (0, 0),
        ignore_border: bool = True,
        mode: str = "max",
        **kwargs: Any,
    ):
        super().__init__(incoming, **kwargs)
        if len(self.input_shape) != 4:
            raise ValueError(f"{type(self).__name__} needs a 4-d input, got shape {self.input_shape}")
        if mode not in ("max", "sum", "average_inc_pad", "average_exc_pad"):
            raise ValueError(f"{type(self).__name__}: unknown mode {mode!r}")
        self.pool_size = as_pair(pool_size, "Pool2DLayer: pool_size")
        self.stride = self.pool_size if stride is None else as_pair(stride, "Pool2DLayer: stride")
        self.pad = as_pair(pad, "Pool2DLayer: pad")
        self.ignore_border = ignore_border
        self.mode = mode
        if any(s is not None and s <= 0 for s in self.output_shape):
            raise ValueError(
                f"{type(self).__name__}: a pool of size {self.pool_size} does not fit the input of shape {self.input_shape}"
            )

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        sizes = [
            pool_output_length(n, p, s, pad, self.ignore_border)
            for n, p, s, pad in zip(input_shape[2:], self.pool_size, self.stride, self.pad)
        ]
        return (*input_shape[:2], *sizes)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return T.nnet.pool_2d(
            input, ws=self.pool_size, ignore_border=self.ignore_border, stride=self.stride, pad=self.pad, mode=self.mode
        )


class MaxPool2DLayer(Pool2DLayer):
    """2-d max pooling (``Pool2DLayer`` with ``mode='max'``).

    >>> from symdl import layers
    >>> layers.MaxPool2DLayer(layers.InputLayer((None, 20, 24, 24)), pool_size=2).output_shape
    (None, 20, 12, 12)
    """

    def __init__(
        self,
        incoming: Any,
        pool_size: Any,
        stride: Any = None,
        pad: Any = (0, 0),
        ignore_border: bool = True,
        **kwargs: Any,
    ):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class GlobalPoolLayer(Layer):
    """Pools each channel over all its positions: ``(batch, channels, ...) -> (batch, channels)``
    with ``pool_function`` (``T.mean`` by default; ``T.max`` for global max pooling).

    >>> from symdl import layers
    >>> layers.GlobalPoolLayer(layers.InputLayer((None, 32, 7, 7))).output_shape
    (None, 32)
    """

    def __init__(self, incoming: Any, pool_function: Callable = T.mean, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.pool_function = pool_function

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[:2])

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return self.pool_function(T.flatten(input, 3), axis=2)
