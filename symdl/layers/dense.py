"""Fully connected layers: ``DenseLayer``, and ``NINLayer`` (a dense layer at every position)."""

from __future__ import annotations

from typing import Any

import numpy as np

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.layers.base import Layer
from symdl.tensor.shape import shape_tuple

__all__ = ["DenseLayer", "NINLayer"]


class DenseLayer(Layer):
    """A fully connected layer: ``nonlinearity(dot(input, W) + b)``.

    Parameters
    ----------
    incoming : Layer or tuple
        The input layer or its shape.
    num_units : int
        The number of output units.
    W : initializer, array or shared variable
        Weights of shape ``(num_inputs, num_units)``; default ``init.GlorotUniform()``.
    b : initializer, array, shared variable or None
        Biases of shape ``(num_units,)``, not regularizable; ``None`` for no bias.
    nonlinearity : callable or None
        Applied to the output; ``None`` means linear. Default ``rectify``.
    num_leading_axes : int
        How many leading axes are kept (the rest is flattened into the inputs of each unit);
        negative values count from the end.

    Examples
    --------
    >>> from symdl import layers
    >>> net = layers.DenseLayer(layers.InputLayer((None, 1, 8, 8)), num_units=100)
    >>> net.output_shape, net.W.get_value().shape
    ((None, 100), (64, 100))
    """

    def __init__(
        self,
        incoming: Any,
        num_units: int,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Any = nonlinearities.rectify,
        num_leading_axes: int = 1,
        **kwargs: Any,
    ):
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.num_units = num_units
        ndim = len(self.input_shape)
        if num_leading_axes >= ndim:
            raise ValueError(
                f"DenseLayer: got num_leading_axes={num_leading_axes} for a {ndim}-dimensional input "
                f"{self.input_shape}, leaving no trailing axes for the dot product"
            )
        if num_leading_axes < -ndim:
            raise ValueError(
                f"DenseLayer: got num_leading_axes={num_leading_axes} for a {ndim}-dimensional input "
                f"{self.input_shape}, requesting more trailing axes than there are input dimensions"
            )
        # Kept as given (negative counts from the end), as Lasagne: the layer then also applies
        # to inputs with more leading axes.
        self.num_leading_axes = num_leading_axes
        if any(s is None for s in self.input_shape[num_leading_axes:]):
            raise ValueError(
                f"DenseLayer requires a fixed input shape (except for the leading axes) to size its weights: "
                f"got {self.input_shape} for num_leading_axes={num_leading_axes}"
            )
        num_inputs = int(np.prod(self.input_shape[num_leading_axes:]))
        self.W = self.add_param(W, (num_inputs, num_units), name="W")
        self.b = None if b is None else self.add_param(b, (num_units,), name="b", regularizable=False)

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[: self.num_leading_axes]) + (self.num_units,)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        num_leading_axes = self.num_leading_axes
        if num_leading_axes < 0:
            num_leading_axes += input.ndim
        if input.ndim > num_leading_axes + 1:
            input = T.flatten(input, num_leading_axes + 1)
        activation = T.dot(input, self.W)
        if self.b is not None:
            activation = activation + self.b
        return self.nonlinearity(activation)


class NINLayer(Layer):
    """Network-in-network: a dense layer applied at every position, mixing the channels (axis 1)
    of each pixel, like a 1x1 convolution: ``nonlinearity(W^T x[b, :, i, j] + b)``.

    Parameters
    ----------
    incoming : Layer or tuple
        The input layer or its shape ``(batch, channels, ...)``; the channel count must be known.
    num_units : int
        The number of output channels.
    untie_biases : bool
        One bias per output channel (False) or per channel and position (True: ``b`` has shape
        ``(num_units,) + input_shape[2:]``, which must then be known).
    W : initializer, array or shared variable
        Weights of shape ``(channels, num_units)``; default ``init.GlorotUniform()``.
    b : initializer, array, shared variable or None
        Biases, not regularizable; ``None`` for no bias.
    nonlinearity : callable or None
        Applied to the output; ``None`` means linear. Default ``rectify``.

    Examples
    --------
    >>> from symdl import layers
    >>> net = layers.NINLayer(layers.InputLayer((None, 16, 8, 8)), num_units=4)
    >>> net.output_shape, net.W.get_value().shape
    ((None, 4, 8, 8), (16, 4))
    """

    def __init__(
        self,
        incoming: Any,
        num_units: int,
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Any = nonlinearities.rectify,
        **kwargs: Any,
    ):
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.num_units = num_units
        self.untie_biases = untie_biases
        if len(self.input_shape) < 2 or self.input_shape[1] is None:
            raise ValueError(f"NINLayer needs a known channel count (axis 1); input shape {self.input_shape}")
        self.W = self.add_param(W, (self.input_shape[1], num_units), name="W")
        if b is None:
            self.b = None
        else:
            b_shape = (num_units,) + tuple(self.input_shape[2:]) if untie_biases else (num_units,)
            if any(s is None for s in b_shape):
                raise ValueError(f"NINLayer with untie_biases=True needs known spatial sizes; input {self.input_shape}")
            self.b = self.add_param(b, b_shape, name="b", regularizable=False)

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.num_units) + tuple(input_shape[2:])

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        input = T.as_tensor_variable(input)
        if input.ndim == 2:
            activation = T.dot(input, self.W)
        else:
            # (units, channels) @ (batch, channels, positions): one batched product, no transposes.
            shape = shape_tuple(input)
            flat = T.reshape(input, (shape[0], shape[1], -1))
            activation = T.reshape(T.matmul(self.W.T, flat), (shape[0], self.num_units) + shape[2:])
        if self.b is not None:
            spatial = input.ndim - 2
            if self.untie_biases:
                activation = activation + self.b.dimshuffle("x", *range(spatial + 1))
            else:
                activation = activation + self.b.dimshuffle("x", 0, *("x",) * spatial)
        return self.nonlinearity(activation)
