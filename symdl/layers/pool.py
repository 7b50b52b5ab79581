"""Pooling layers (Lasagne's ``lasagne.layers.pool``): ``Pool1DLayer``/``Pool2DLayer``/
``Pool3DLayer`` and their max-pooling forms, ``Upscale1DLayer``/``Upscale2DLayer``/
``Upscale3DLayer``, ``FeaturePoolLayer``, ``FeatureWTALayer``, ``GlobalPoolLayer`` and
``SpatialPyramidPoolingLayer``.

The 1-d and 2-d poolings are ``Pool2d`` nodes (the C backend's pooling kernel); the 3-d ones and
a spatial pyramid over inputs of unknown size are ``Pool`` nodes of
:mod:`symdl.tensor.nnet.pool_nd`.

>>> from symdl import layers
>>> l_in = layers.InputLayer((None, 16, 24, 24))
>>> layers.MaxPool2DLayer(l_in, 2).output_shape
(None, 16, 12, 12)
>>> layers.SpatialPyramidPoolingLayer(l_in, pool_dims=[4, 2, 1]).output_shape
(None, 16, 21)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import symdl.tensor as T
from symdl.layers.base import Layer
from symdl.tensor.nnet.pool import MODES, pool_2d
from symdl.tensor.nnet.pool_nd import pool_3d
from symdl.utils import as_tuple

__all__ = [
    "FeaturePoolLayer",
    "FeatureWTALayer",
    "GlobalPoolLayer",
    "MaxPool1DLayer",
    "MaxPool2DLayer",
    "MaxPool3DLayer",
    "Pool1DLayer",
    "Pool2DLayer",
    "Pool3DLayer",
    "SpatialPyramidPoolingLayer",
    "Upscale1DLayer",
    "Upscale2DLayer",
    "Upscale3DLayer",
    "pool_2d",
    "pool_3d",
    "pool_output_length",
]


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


def _spatial_dims(layer: Layer, n: int, kind: str) -> None:
    if len(layer.input_shape) != n + 2:
        raise ValueError(
            f"Tried to create a {n}D {kind} layer ({type(layer).__name__}) with input shape {layer.input_shape}. "
            f"Expected {n + 2} input dimensions (batchsize, channels, {n} spatial dimension{'s' if n > 1 else ''})."
        )


class _PoolLayer(Layer):
    """Pooling of the last ``n`` axes (``n`` set by the subclass)."""

    n = 2
    # A layer with cuDNN's semantics, which always ignore the border, puts its name here: the
    # name that its error for ignore_border=False gives, also for its subclasses (as Lasagne's).
    _ignores_border_as: str | None = None

    def __init__(
        self,
        incoming: Any,
        pool_size: Any,
        stride: Any = None,
        pad: Any = 0,
        ignore_border: bool = True,
        mode: str = "max",
        **kwargs: Any,
    ):
        if self._ignores_border_as is not None and not ignore_border:
            raise NotImplementedError(f"{self._ignores_border_as} does not support ignore_border=False.")
        super().__init__(incoming, **kwargs)
        _spatial_dims(self, self.n, "pooling")
        if mode not in MODES:
            raise ValueError(f"{type(self).__name__}: unknown mode {mode!r}; expected one of {MODES}")
        self.pool_size = tuple(int(p) for p in as_tuple(pool_size, self.n))
        self.stride = self.pool_size if stride is None else tuple(int(s) for s in as_tuple(stride, self.n))
        self.pad = tuple(int(p) for p in as_tuple(pad, self.n))
        self.ignore_border = ignore_border
        self.mode = mode
        if any(s is not None and s <= 0 for s in self.output_shape):
            raise ValueError(
                f"{type(self).__name__}: a pool of size {self.pool_size} does not fit the input of shape "
                f"{self.input_shape}"
            )

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        sizes = [
            pool_output_length(size, p, s, pad, self.ignore_border)
            for size, p, s, pad in zip(input_shape[-self.n :], self.pool_size, self.stride, self.pad)
        ]
        return (*input_shape[: -self.n], *sizes)


class Pool1DLayer(_PoolLayer):
    """1-d pooling over the last axis of ``(batch, channels, length)`` inputs.

    Parameters
    ----------
    pool_size : int
    stride : int or None
        Defaults to ``pool_size`` (non-overlapping windows).
    pad : int
        Padding on both sides (needs ``ignore_border=True``).
    ignore_border : bool
        True drops a partial window at the end; False pools it too.
    mode : 'max', 'sum', 'average_inc_pad' or 'average_exc_pad'

    >>> from symdl import layers
    >>> layers.Pool1DLayer(layers.InputLayer((None, 4, 23)), 3, ignore_border=False).output_shape
    (None, 4, 8)
    """

    n = 1

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        # A 2-d pooling over a width of 1: the C backend's pooling kernel.
        pooled = pool_2d(
            T.as_tensor_variable(input).dimshuffle(0, 1, 2, "x"),
            ws=(self.pool_size[0], 1),
            stride=(self.stride[0], 1),
            ignore_border=self.ignore_border,
            pad=(self.pad[0], 0),
            mode=self.mode,
        )
        return pooled[:, :, :, 0]


class Pool2DLayer(_PoolLayer):
    """2-d pooling over the last two axes of ``(batch, channels, rows, columns)`` inputs.

    Parameters
    ----------
    pool_size : int or (int, int)
    stride : int, pair or None
        Defaults to ``pool_size`` (non-overlapping windows).
    pad : int or pair
        Padding (needs ``ignore_border=True``; ``-inf`` for max pooling, zeros otherwise).
    ignore_border : bool
        True drops a partial window at the border; False pools it too.
    mode : 'max', 'sum', 'average_inc_pad' or 'average_exc_pad'
        Max pooling, sums, or averages that count the padding or not.

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
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode, **kwargs)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return pool_2d(
            input, ws=self.pool_size, ignore_border=self.ignore_border, stride=self.stride, pad=self.pad, mode=self.mode
        )


class Pool3DLayer(_PoolLayer):
    """3-d pooling over the last three axes of ``(batch, channels, depth, rows, columns)`` inputs.
    Parameters as :class:`Pool2DLayer`, with three entries.

    >>> from symdl import layers
    >>> layers.Pool3DLayer(layers.InputLayer((None, 8, 16, 17, 13)), 2).output_shape
    (None, 8, 8, 8, 6)
    """

    n = 3

    def __init__(
        self,
        incoming: Any,
        pool_size: Any,
        stride: Any = None,
        pad: Any = (0, 0, 0),
        ignore_border: bool = True,
        mode: str = "max",
        **kwargs: Any,
    ):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode, **kwargs)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return pool_3d(
            input, ws=self.pool_size, ignore_border=self.ignore_border, stride=self.stride, pad=self.pad, mode=self.mode
        )


class MaxPool1DLayer(Pool1DLayer):
    """1-d max pooling (``Pool1DLayer`` with ``mode='max'``).

    >>> from symdl import layers
    >>> layers.MaxPool1DLayer(layers.InputLayer((None, 4, 23)), 2).output_shape
    (None, 4, 11)
    """

    def __init__(
        self, incoming: Any, pool_size: Any, stride: Any = None, pad: Any = 0, ignore_border: bool = True, **kwargs: Any
    ):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


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


class MaxPool3DLayer(Pool3DLayer):
    """3-d max pooling (``Pool3DLayer`` with ``mode='max'``).

    >>> from symdl import layers
    >>> layers.MaxPool3DLayer(layers.InputLayer((None, 8, 16, 16, 16)), 2).output_shape
    (None, 8, 8, 8, 8)
    """

    def __init__(
        self,
        incoming: Any,
        pool_size: Any,
        stride: Any = None,
        pad: Any = (0, 0, 0),
        ignore_border: bool = True,
        **kwargs: Any,
    ):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class _UpscaleLayer(Layer):
    """Upscaling of the ``n`` spatial axes by integer factors (``n`` set by the subclass)."""

    n = 2

    def __init__(self, incoming: Any, scale_factor: Any, mode: str = "repeat", **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.scale_factor = tuple(int(f) for f in as_tuple(scale_factor, self.n))
        if min(self.scale_factor) < 1:
            raise ValueError(f"{type(self).__name__}: scale factors must be >= 1, got {self.scale_factor}")
        if mode not in ("repeat", "dilate"):
            raise ValueError(f"{type(self).__name__}: mode must be either 'repeat' or 'dilate', not {mode!r}")
        self.mode = mode

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        sizes = [None if s is None else s * f for s, f in zip(input_shape[2:], self.scale_factor)]
        return (*input_shape[:2], *sizes)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        input = T.as_tensor_variable(input)
        if all(f == 1 for f in self.scale_factor):
            return input
        if self.mode == "repeat":
            for axis, factor in enumerate(self.scale_factor, start=2):
                if factor > 1:
                    input = T.repeat(input, factor, axis)
            return input
        # 'dilate': the input's values at every factor-th position, zeros between them.
        shape = [input.shape[0], input.shape[1]]
        shape += [input.shape[2 + a] * f for a, f in enumerate(self.scale_factor)]
        every = (slice(None), slice(None), *(slice(None, None, f) for f in self.scale_factor))
        return T.set_subtensor(T.zeros(shape, dtype=input.dtype)[every], input)


class Upscale1DLayer(_UpscaleLayer):
    """Upscales ``(batch, channels, length)`` inputs by an integer factor: 'repeat' repeats
    each element, 'dilate' puts ``factor - 1`` zeros after each.

    >>> from symdl import layers
    >>> layers.Upscale1DLayer(layers.InputLayer((None, 4, 10)), 3).output_shape
    (None, 4, 30)
    """

    n = 1


class Upscale2DLayer(_UpscaleLayer):
    """Upscales ``(batch, channels, rows, columns)`` inputs by integer factors (an int or a
    pair): 'repeat' repeats each pixel into a block, 'dilate' keeps it at the block's top-left
    corner with zeros elsewhere.

    >>> from symdl import layers
    >>> layers.Upscale2DLayer(layers.InputLayer((None, 4, 10, 12)), (2, 3)).output_shape
    (None, 4, 20, 36)
    """

    n = 2


class Upscale3DLayer(_UpscaleLayer):
    """Upscales ``(batch, channels, depth, rows, columns)`` inputs by integer factors (as
    :class:`Upscale2DLayer`, three entries).

    >>> from symdl import layers
    >>> layers.Upscale3DLayer(layers.InputLayer((None, 4, 2, 3, 5)), 2).output_shape
    (None, 4, 4, 6, 10)
    """

    n = 3


def _shape_entries(input: Any) -> list:
    return [input.shape[k] for k in range(input.ndim)]


class FeaturePoolLayer(Layer):
    """Pools groups of ``pool_size`` consecutive features along ``axis`` with
    ``pool_function`` (``T.max`` by default: maxout).

    >>> from symdl import layers
    >>> layers.FeaturePoolLayer(layers.InputLayer((None, 12, 5)), 3).output_shape
    (None, 4, 5)
    """

    def __init__(self, incoming: Any, pool_size: int, axis: int = 1, pool_function: Callable = T.max, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.pool_size = pool_size
        self.axis = axis
        self.pool_function = pool_function
        features = self.input_shape[axis]
        if features is not None and features % pool_size:
            raise ValueError(
                f"FeaturePoolLayer: the number of input feature maps ({features}) is not a multiple of the pool "
                f"size (pool_size={pool_size})"
            )

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        shape = list(input_shape)
        if shape[self.axis] is not None:
            shape[self.axis] = shape[self.axis] // self.pool_size
        return tuple(shape)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        input = T.as_tensor_variable(input)
        shape = _shape_entries(input)
        pooled = shape[: self.axis] + [shape[self.axis] // self.pool_size, self.pool_size] + shape[self.axis + 1 :]
        return self.pool_function(T.reshape(input, pooled), axis=self.axis + 1)


class FeatureWTALayer(Layer):
    """Winner takes all: within each group of ``pool_size`` consecutive features along
    ``axis``, keeps the largest (the first one on ties) and sets the others to zero.

    >>> from symdl import layers
    >>> layers.FeatureWTALayer(layers.InputLayer((None, 4, 8)), 2).output_shape
    (None, 4, 8)
    """

    def __init__(self, incoming: Any, pool_size: int, axis: int = 1, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.pool_size = pool_size
        self.axis = axis
        features = self.input_shape[axis]
        if features is not None and features % pool_size:
            raise ValueError(
                f"FeatureWTALayer: the number of input feature maps ({features}) is not a multiple of the pool "
                f"size (pool_size={pool_size})"
            )

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        input = T.as_tensor_variable(input)
        shape = _shape_entries(input)
        grouped = shape[: self.axis] + [shape[self.axis] // self.pool_size, self.pool_size] + shape[self.axis + 1 :]
        winners = T.argmax(T.reshape(input, grouped), axis=self.axis + 1, keepdims=True)
        positions = T.arange(self.pool_size).dimshuffle(
            *["x"] * (self.axis + 1), 0, *["x"] * (input.ndim - self.axis - 1)
        )
        mask = T.reshape(T.eq(winners, positions), shape)
        return input * T.cast(mask, input.dtype)


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


class SpatialPyramidPoolingLayer(Layer):
    """Spatial pyramid pooling (He et al., 2014): pools each channel of ``(batch, channels, rows,
    columns)`` inputs into ``d x d`` bins for every ``d`` in ``pool_dims`` and concatenates them,
    giving ``(batch, channels, sum(d * d))`` whatever the input's spatial size.

    Parameters
    ----------
    pool_dims : list of int
        The number of bins along each axis, per pyramid level.
    mode : 'max', 'sum', 'average_inc_pad' or 'average_exc_pad'
    implementation : 'fast' or 'kaiming'
        'fast' pools with windows of ``ceil(size / d)`` at strides of ``floor(size / d)`` (one
        pooling per level; the windows are symbolic when the input's size is unknown); 'kaiming'
        takes the bins of the paper, ``[floor(i * size / d), ceil((i + 1) * size / d))``, and
        reduces each ('max', or a mean for the average modes).

    >>> from symdl import layers
    >>> layers.SpatialPyramidPoolingLayer(layers.InputLayer((None, 64, None, None)), [1, 2, 4]).output_shape
    (None, 64, 21)
    """

    def __init__(
        self,
        incoming: Any,
        pool_dims: Sequence[int] = (4, 2, 1),
        mode: str = "max",
        implementation: str = "fast",
        **kwargs: Any,
    ):
        super().__init__(incoming, **kwargs)
        if len(self.input_shape) != 4:
            raise ValueError(
                f"Tried to create a SPP layer with input shape {self.input_shape}. Expected 4 input dimensions "
                "(batchsize, channels, 2 spatial dimensions)."
            )
        if implementation not in ("fast", "kaiming"):
            raise ValueError(f"SpatialPyramidPoolingLayer: unsupported implementation {implementation!r}")
        self.mode = mode
        self.implementation = implementation
        self.pool_dims = list(pool_dims)

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        return (input_shape[0], input_shape[1], sum(d * d for d in self.pool_dims))

    def _input_size(self, input: Any) -> tuple:
        """The spatial size: the static one where the layer knows it, else the symbolic one."""
        return tuple(s if s is not None else input.shape[2 + a] for a, s in enumerate(self.input_shape[2:]))

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        if self.implementation == "kaiming" and self.mode not in ("max", "average_inc_pad", "average_exc_pad"):
            raise ValueError(f"Mode must be either 'max', 'average_inc_pad' or 'average_exc_pad'. Got '{self.mode}'")
        input = T.as_tensor_variable(input)
        size = self._input_size(input)
        levels = []
        for d in self.pool_dims:
            if self.implementation == "fast":
                window = tuple((s + d - 1) // d for s in size)
                stride = tuple(s // d for s in size)
                pooled = pool_2d(input, ws=window, stride=stride, ignore_border=True, pad=None, mode=self.mode)
                levels.append(T.flatten(pooled, 3))
            else:
                levels.append(self._kaiming_level(input, size, d))
        return T.concatenate(levels, axis=2)

    def _kaiming_level(self, input: Any, size: tuple, d: int) -> Any:
        reduce = T.max if self.mode == "max" else T.mean
        bins = []
        for i in range(d):
            rows = slice((i * size[0]) // d, ((i + 1) * size[0] + d - 1) // d)
            for j in range(d):
                cols = slice((j * size[1]) // d, ((j + 1) * size[1] + d - 1) // d)
                bins.append(reduce(input[:, :, rows, cols], axis=(2, 3)))
        return T.stack(bins, axis=2)
