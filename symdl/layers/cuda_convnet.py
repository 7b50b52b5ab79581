"""Lasagne's cuda-convnet layers (``lasagne.layers.cuda_convnet``) on any device:
``Conv2DCCLayer``, ``MaxPool2DCCLayer``, ``NINLayer_c01b`` and the layout shuffles
``ShuffleBC01ToC01BLayer`` / ``ShuffleC01BToBC01Layer`` (aliases ``bc01_to_c01b`` /
``c01b_to_bc01``).

Lasagne wraps Alex Krizhevsky's cuda-convnet kernels (through pylearn2) in these classes. Here
they compute the same with symdl's ``conv2d`` and ``pool_2d``, so a program written for them
ports unchanged. They keep Lasagne's interface and restrictions: square filters, strides,
padding and pools, a multiple of 16 filters, 1, 2, 3 or a multiple of 4 input channels, no
padding and no ``ignore_border`` for the pooling, filters not flipped by default, and an
optional c01b layout (``dimshuffle=False``: channels, rows, columns, batch).

>>> from symdl import layers
>>> from symdl.layers import cuda_convnet as cc
>>> l_in = layers.InputLayer((None, 3, 32, 32))
>>> conv = cc.Conv2DCCLayer(l_in, 32, 5, pad='same')
>>> conv.output_shape, conv.flip_filters
((None, 32, 32, 32), False)
>>> cc.MaxPool2DCCLayer(conv, 3, stride=2).output_shape
(None, 32, 16, 16)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.layers.base import Layer
from symdl.layers.conv import BaseConvLayer
from symdl.layers.pool import pool_output_length
from symdl.tensor.nnet.pool import pool_2d
from symdl.utils import as_tuple

__all__ = [
    "CCLayer",
    "Conv2DCCLayer",
    "MaxPool2DCCLayer",
    "NINLayer_c01b",
    "ShuffleBC01ToC01BLayer",
    "ShuffleC01BToBC01Layer",
    "bc01_to_c01b",
    "c01b_to_bc01",
]

_C01B_TO_BC01 = (3, 0, 1, 2)
_BC01_TO_C01B = (1, 2, 3, 0)


def _permuted(shape: tuple, axes: tuple[int, ...]) -> tuple:
    """``shape`` with its entries in the order ``axes`` (a shape's ``dimshuffle``)."""
    return tuple(shape[a] for a in axes)


def _plus_c01b_bias(out: Any, b: Any, untie_biases: bool) -> Any:
    """``out``, a c01b tensor, plus the biases ``b``: one per channel, or with ``untie_biases``
    one per channel and position, ``(channels, rows, cols)``; ``out`` itself when ``b`` is None."""
    if b is None:
        return out
    return out + (b.dimshuffle(0, 1, 2, "x") if untie_biases else b.dimshuffle(0, "x", "x", "x"))


class CCLayer(Layer):
    """Base class of Lasagne's cuda-convnet layers (for ``isinstance`` checks)."""


class Conv2DCCLayer(CCLayer, BaseConvLayer):
    """2-d convolution with the interface of Lasagne's cuda-convnet layer.

    Parameters as :class:`symdl.layers.Conv2DLayer`, except:

    W : filters ``(num_filters, channels, rows, cols)``, or ``(channels, rows, cols,
        num_filters)`` with ``dimshuffle=False``; Glorot-uniform by default.
    dimshuffle : bool
        True (the default) takes and gives bc01 tensors; False c01b ones (channels, rows,
        columns, batch), parameters included.
    flip_filters : bool
        False by default (cross-correlation, as cuda-convnet).
    partial_sum : int
        cuda-convnet's memory/speed trade-off; kept for compatibility, without effect here.

    Raises ``RuntimeError`` for the settings cuda-convnet does not support (see the module).

    >>> from symdl import layers
    >>> from symdl.layers.cuda_convnet import Conv2DCCLayer
    >>> c01b = Conv2DCCLayer(layers.InputLayer((4, 32, 32, 128)), 16, 3, dimshuffle=False)
    >>> c01b.output_shape, c01b.W.get_value().shape
    ((16, 30, 30, 128), (4, 3, 3, 16))
    """

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        stride: Any = (1, 1),
        pad: Any = 0,
        untie_biases: bool = False,
        W: Any = None,
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        dimshuffle: bool = True,
        flip_filters: bool = False,
        partial_sum: int | None = 1,
        **kwargs: Any,
    ):
        if W is None:
            W = init.GlorotUniform(c01b=not dimshuffle)
        self.dimshuffle = dimshuffle
        super().__init__(
            incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity, flip_filters, n=2,
            **kwargs,
        )  # fmt: skip
        self.partial_sum = partial_sum
        if self.filter_size[0] != self.filter_size[1]:
            raise RuntimeError(f"Conv2DCCLayer only supports square filters, but filter_size={self.filter_size}")
        if self.stride[0] != self.stride[1]:
            raise RuntimeError(f"Conv2DCCLayer only supports square strides, but stride={self.stride}")
        if self.num_filters % 16:
            raise RuntimeError(
                f"Conv2DCCLayer requires num_filters to be a multiple of 16, but num_filters is {self.num_filters}"
            )
        channels = self.num_input_channels
        if not (channels < 4 or channels % 4 == 0):
            raise RuntimeError(
                f"Conv2DCCLayer requires the number of input channels to be 1, 2, 3 or a multiple of 4, but it is "
                f"{channels}"
            )
        if isinstance(self.pad, tuple) and self.pad[0] != self.pad[1]:
            raise RuntimeError(f"Conv2DCCLayer only supports square padding, but pad={self.pad}")

    @property
    def num_input_channels(self) -> int | None:
        return self.input_shape[1] if self.dimshuffle else self.input_shape[0]

    def get_W_shape(self) -> tuple:
        if self.dimshuffle:
            return super().get_W_shape()
        return (self.num_input_channels // self.num_groups, *self.filter_size, self.num_filters)

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        if self.dimshuffle:
            return super().get_output_shape_for(input_shape)
        return _permuted(super().get_output_shape_for(_permuted(input_shape, _C01B_TO_BC01)), _BC01_TO_C01B)

    def add_param(self, spec: Any, shape: Any, name: str | None = None, **tags: bool) -> Any:
        # In c01b the base class's untied bias shape, (filters, *output_shape[2:]), would take the
        # wrong axes: the biases are (filters, rows, cols) in both layouts.
        if name == "b" and self.untie_biases and not self.dimshuffle:
            shape = (self.num_filters, *self.output_shape[1:3])
        return super().add_param(spec, shape, name, **tags)

    def convolve(self, input: Any, **kwargs: Any) -> Any:
        W = self.W
        if not self.dimshuffle:
            input, W = input.dimshuffle(*_C01B_TO_BC01), W.dimshuffle(*_C01B_TO_BC01)
        conved = T.nnet.conv2d(input, W, **self._convolution_kwargs())
        return conved if self.dimshuffle else conved.dimshuffle(*_BC01_TO_C01B)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        if self.dimshuffle:
            return super().get_output_for(input, **kwargs)
        conved = self.convolve(T.as_tensor_variable(input), **kwargs)
        return self.nonlinearity(_plus_c01b_bias(conved, self.b, self.untie_biases))


class MaxPool2DCCLayer(CCLayer):
    """2-d max pooling with the interface of Lasagne's cuda-convnet layer: square pools, the
    same stride along both axes (at most the pool size), partial windows at the border kept
    (``ignore_border=False`` only), no padding, and ``dimshuffle=False`` for c01b tensors.

    >>> from symdl import layers
    >>> from symdl.layers.cuda_convnet import MaxPool2DCCLayer
    >>> MaxPool2DCCLayer(layers.InputLayer((4, 12, 12, 16)), 2, dimshuffle=False).output_shape
    (4, 6, 6, 16)
    """

    def __init__(
        self,
        incoming: Any,
        pool_size: Any,
        stride: Any = None,
        ignore_border: bool = False,
        dimshuffle: bool = True,
        **kwargs: Any,
    ):
        pad = kwargs.pop("pad", 0)
        if as_tuple(pad, 2) != (0, 0):
            raise NotImplementedError("MaxPool2DCCLayer does not support padding")
        super().__init__(incoming, **kwargs)
        pool_size = as_tuple(pool_size, 2)
        if pool_size[0] != pool_size[1]:
            raise NotImplementedError(
                f"MaxPool2DCCLayer only supports square pooling regions, but pool_size={pool_size}"
            )
        self.pool_size = int(pool_size[0])
        if stride is None:
            self.stride = self.pool_size
        else:
            stride = as_tuple(stride, 2)
            if stride[0] != stride[1]:
                raise NotImplementedError(
                    f"MaxPool2DCCLayer only supports using the same stride in both directions but stride={stride}"
                )
            self.stride = int(stride[0])
        if self.stride > self.pool_size:
            raise NotImplementedError("MaxPool2DCCLayer only supports stride <= pool_size.")
        if ignore_border:
            raise NotImplementedError("MaxPool2DCCLayer does not support ignore_border=True.")
        self.dimshuffle = dimshuffle

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        shape = list(input_shape)
        spatial = (2, 3) if self.dimshuffle else (1, 2)
        for axis in spatial:
            shape[axis] = pool_output_length(shape[axis], self.pool_size, self.stride, 0, False)
        return tuple(shape)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        input = T.as_tensor_variable(input)
        if not self.dimshuffle:
            input = input.dimshuffle(*_C01B_TO_BC01)
        size, step = (self.pool_size,) * 2, (self.stride,) * 2
        pooled = pool_2d(input, ws=size, stride=step, ignore_border=False)
        return pooled if self.dimshuffle else pooled.dimshuffle(*_BC01_TO_C01B)


class _LayoutShuffleLayer(Layer):
    """Reorders the axes of 4-d inputs as ``_axes`` says (set by the subclass)."""

    _axes: tuple[int, ...]

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        return _permuted(input_shape, self._axes)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return T.as_tensor_variable(input).dimshuffle(*self._axes)


class ShuffleBC01ToC01BLayer(_LayoutShuffleLayer):
    """Moves the batch axis last: bc01 to c01b.

    >>> from symdl import layers
    >>> ShuffleBC01ToC01BLayer(layers.InputLayer((1, 2, 3, 4))).output_shape
    (2, 3, 4, 1)
    """

    _axes = _BC01_TO_C01B


class ShuffleC01BToBC01Layer(_LayoutShuffleLayer):
    """Moves the batch axis first: c01b to bc01.

    >>> from symdl import layers
    >>> ShuffleC01BToBC01Layer(layers.InputLayer((1, 2, 3, 4))).output_shape
    (4, 1, 2, 3)
    """

    _axes = _C01B_TO_BC01


bc01_to_c01b = ShuffleBC01ToC01BLayer
c01b_to_bc01 = ShuffleC01BToBC01Layer


class NINLayer_c01b(Layer):
    """Network-in-network layer on c01b tensors: a dense layer applied to the channels at every
    position (a 1x1 convolution): ``(channels, rows, cols, batch) -> (num_units, rows, cols,
    batch)`` with weights ``(num_units, channels)``.

    >>> from symdl import layers
    >>> l = NINLayer_c01b(layers.InputLayer((3, 4, 5, None)), 8, untie_biases=True)
    >>> l.output_shape, l.W.get_value().shape, l.b.get_value().shape
    ((8, 4, 5, None), (8, 3), (8, 4, 5))
    """

    def __init__(
        self,
        incoming: Any,
        num_units: int,
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        **kwargs: Any,
    ):
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.num_units = num_units
        self.untie_biases = untie_biases
        self.W = self.add_param(W, (num_units, self.input_shape[0]), name="W")
        if b is None:
            self.b = None
        else:
            shape = (num_units, *self.output_shape[1:-1]) if untie_biases else (num_units,)
            self.b = self.add_param(b, shape, name="b", regularizable=False)

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        return (self.num_units, *input_shape[1:])

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        out = T.tensordot(self.W, input, axes=[[1], [0]])
        return self.nonlinearity(_plus_c01b_bias(out, self.b, self.untie_biases))
