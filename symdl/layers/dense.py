"""``DenseLayer``: a fully connected layer."""

from __future__ import annotations

from typing import Any

import numpy as np

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.layers.base import Layer

__all__ = ["DenseLayer"]


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
                f"DenseLayer: num_leading_axes={num_leading_axes} leaves no axes for the inputs of the units "
                f"(input shape {self.input_shape})"
            )
        if num_leading_axes < -ndim:
            raise ValueError(f"DenseLayer: num_leading_axes={num_leading_axes} is out of range for {ndim} axes")
        if num_leading_axes < 0:
            num_leading_axes += ndim
        self.num_leading_axes = num_leading_axes
        if any(s is None for s in self.input_shape[num_leading_axes:]):
            raise ValueError(
                f"DenseLayer: the input shape {self.input_shape} must be known past the first "
                f"{num_leading_axes} axes to size the weights"
            )
        num_inputs = int(np.prod(self.input_shape[num_leading_axes:]))
        self.W = self.add_param(W, (num_inputs, num_units), name="W")
        self.b = None if b is None else self.add_param(b, (num_units,), name="b", regularizable=False)

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[: self.num_leading_axes]) + (self.num_units,)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        if input.ndim > self.num_leading_axes + 1:
            input = T.flatten(input, self.num_leading_axes + 1)
        activation = T.dot(input, self.W)
        if self.b is not None:
            activation = activation + self.b
        return self.nonlinearity(activation)
