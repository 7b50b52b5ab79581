"""Layers that apply a function: ``NonlinearityLayer``, ``ExpressionLayer``, ``BiasLayer``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.layers.base import Layer, broadcast_pattern

__all__ = ["NonlinearityLayer", "ExpressionLayer", "BiasLayer"]


class NonlinearityLayer(Layer):
    """Applies ``nonlinearity`` elementwise (``None`` means the identity).

    >>> from symdl import layers, nonlinearities
    >>> layers.NonlinearityLayer(layers.InputLayer((None, 3)), nonlinearities.tanh).output_shape
    (None, 3)
    """

    def __init__(self, incoming: Any, nonlinearity: Callable | None = nonlinearities.rectify, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return self.nonlinearity(input)


class ExpressionLayer(Layer):
    """Applies any symbolic ``function`` of the input.

    ``output_shape`` is ``None`` when the function keeps the shape, a tuple (or a function of the
    input shape) otherwise, or ``'auto'`` to read it from the static shape of the function's
    result on an input of the layer's input shape.

    >>> import symdl.tensor as T
    >>> from symdl import layers
    >>> l = layers.ExpressionLayer(layers.InputLayer((None, 6)), lambda x: x.reshape((-1, 2, 3)), 'auto')
    >>> l.output_shape
    (None, 2, 3)
    """

    def __init__(self, incoming: Any, function: Callable, output_shape: Any = None, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.function = function
        self._output_shape = output_shape

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        if self._output_shape is None:
            return input_shape
        if self._output_shape == "auto":
            probe = T.tensor(shape=input_shape)
            return tuple(self.function(probe).type.shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        return tuple(self._output_shape)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return self.function(input)


class BiasLayer(Layer):
    """Adds a learned bias, one per channel (``shared_axes='auto'`` shares it over every axis but
    the second), then nothing else. ``batch_norm`` users rarely need it."""

    def __init__(self, incoming: Any, b: Any = init.Constant(0.0), shared_axes: Any = "auto", **kwargs: Any):
        super().__init__(incoming, **kwargs)
        if shared_axes == "auto":
            shared_axes = (0,) + tuple(range(2, len(self.input_shape)))
        elif isinstance(shared_axes, int):
            shared_axes = (shared_axes,)
        self.shared_axes = tuple(shared_axes)
        shape = [size for axis, size in enumerate(self.input_shape) if axis not in self.shared_axes]
        if any(size is None for size in shape):
            raise ValueError(f"BiasLayer: the bias shape must be known; input shape is {self.input_shape}")
        self.b = None if b is None else self.add_param(b, shape, name="b", regularizable=False)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        if self.b is None:
            return input
        return input + self.b.dimshuffle(broadcast_pattern(input.ndim, self.shared_axes))
