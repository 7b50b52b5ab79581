"""Special-purpose layers: ``NonlinearityLayer``, ``BiasLayer``, ``ScaleLayer`` (and
``standardize``), ``ExpressionLayer``, ``InverseLayer``, the rectifiers with learned or random
slopes ``ParametricRectifierLayer`` (``prelu``) and ``RandomizedRectifierLayer`` (``rrelu``), and
the spatial transformers ``TransformerLayer`` and ``TPSTransformerLayer`` (defined in
``symdl.layers.transformer``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.config import config
from symdl.graph.basic import Variable
from symdl.layers.base import Layer, MergeLayer, broadcast_pattern
from symdl.tensor.nnet.basic import leaky_relu

__all__ = [
    "NonlinearityLayer",
    "BiasLayer",
    "ScaleLayer",
    "standardize",
    "ExpressionLayer",
    "InverseLayer",
    "TransformerLayer",
    "TPSTransformerLayer",
    "ParametricRectifierLayer",
    "prelu",
    "RandomizedRectifierLayer",
    "rrelu",
]


def _shared_axes(shared_axes: Any, ndim: int, allow_all: bool = False) -> tuple[int, ...]:
    """The axes a parameter is shared over: 'auto' is every axis but the second (per channel, or
    per unit for dense layers), 'all' every axis, an int one axis."""
    if shared_axes == "auto":
        return (0,) + tuple(range(2, ndim))
    if allow_all and shared_axes == "all":
        return tuple(range(ndim))
    if isinstance(shared_axes, int | np.integer):
        return (int(shared_axes),)
    return tuple(shared_axes)


def _param_shape(layer: Layer, shared_axes: tuple[int, ...], what: str) -> list[int]:
    """The input's sizes on the axes not in ``shared_axes``, which must be known."""
    shape = [size for axis, size in enumerate(layer.input_shape) if axis not in shared_axes]
    if any(size is None for size in shape):
        raise ValueError(
            f"{type(layer).__name__} needs specified input sizes for all axes that {what} are not shared over; "
            f"input shape {layer.input_shape}, shared axes {shared_axes}"
        )
    return shape


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


class BiasLayer(Layer):
    """Adds a learned bias (not regularizable), shared over ``shared_axes``: 'auto' shares it
    over every axis but the second (one bias per channel, or per unit for dense layers), an int
    or a tuple of ints names the axes. ``b=None`` makes the layer pass its input unchanged.

    >>> from symdl import layers
    >>> layers.BiasLayer((20, 30, 40, 50), shared_axes=(0, 2)).b.get_value().shape
    (30, 50)
    """

    def __init__(self, incoming: Any, b: Any = init.Constant(0.0), shared_axes: Any = "auto", **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape))
        if b is None:
            self.b = None
        else:
            self.b = self.add_param(b, _param_shape(self, self.shared_axes, "biases"), name="b", regularizable=False)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        if self.b is None:
            return input
        return input + self.b.dimshuffle(broadcast_pattern(input.ndim, self.shared_axes))


class ScaleLayer(Layer):
    """Multiplies by learned scales (not regularizable), shared over ``shared_axes`` as in
    ``BiasLayer``.

    >>> from symdl import layers
    >>> layers.ScaleLayer((20, 30, 40, 50), shared_axes=(0, 2)).scales.get_value().shape
    (30, 50)
    """

    def __init__(self, incoming: Any, scales: Any = init.Constant(1.0), shared_axes: Any = "auto", **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape))
        shape = _param_shape(self, self.shared_axes, "scales")
        self.scales = self.add_param(scales, shape, name="scales", regularizable=False)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return input * self.scales.dimshuffle(broadcast_pattern(input.ndim, self.shared_axes))


def standardize(layer: Any, offset: Any, scale: Any, shared_axes: Any = "auto") -> ScaleLayer:
    """Subtract a fixed ``offset`` and divide by a fixed ``scale`` (statistics of the training set,
    for instance), shared over ``shared_axes`` as in ``BiasLayer``: a ``BiasLayer`` and a
    ``ScaleLayer`` whose parameters are not trainable.

    >>> import numpy as np
    >>> from symdl import layers
    >>> data = np.random.default_rng(0).normal(3.0, 2.0, size=(100, 5)).astype('float32')
    >>> l_in = layers.InputLayer((None, 5))
    >>> l_std = layers.standardize(l_in, data.mean(axis=0), data.std(axis=0), shared_axes=0)
    >>> out = layers.get_output(l_std).eval({l_in.input_var: data})
    >>> bool(np.allclose(out.mean(axis=0), 0, atol=1e-5)), layers.get_all_params(l_std, trainable=True)
    (True, [])
    """
    layer = BiasLayer(layer, -offset, shared_axes)
    layer.params[layer.b].discard("trainable")
    one = np.asarray(1, dtype=getattr(scale, "dtype", config.floatX))
    layer = ScaleLayer(layer, one / scale, shared_axes)
    layer.params[layer.scales].discard("trainable")
    return layer


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
        if isinstance(self._output_shape, str) and self._output_shape == "auto":
            probe = T.tensor(shape=input_shape)
            return tuple(self.function(probe).type.shape)
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        return tuple(self._output_shape)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return self.function(input)


class InverseLayer(MergeLayer):
    """The transpose of another layer: the gradient of ``layer``'s output with respect to its
    input, applied to this layer's input (a transposed ``DenseLayer``, a transposed convolution,
    unpooling), for autoencoders with tied weights. The inverted layer's nonlinearity and bias
    take part through their derivatives.

    Parameters
    ----------
    incoming : Layer or tuple
        The input, shaped as ``layer``'s output.
    layer : Layer
        The layer to invert; the output is shaped as its input.

    >>> from symdl import layers
    >>> l_in = layers.InputLayer((None, 12))
    >>> dense = layers.DenseLayer(l_in, 3)
    >>> layers.InverseLayer(dense, dense).output_shape
    (None, 12)
    """

    def __init__(self, incoming: Any, layer: Layer, **kwargs: Any):
        super().__init__([incoming, layer, layer.input_layer], **kwargs)

    def get_output_shape_for(self, input_shapes: list[tuple]) -> tuple:  # type: ignore[override]
        return input_shapes[2]

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        from symdl.gradient import grad

        input, layer_out, layer_in = inputs
        return grad(None, wrt=layer_in, known_grads={layer_out: input})


class ParametricRectifierLayer(Layer):
    """The parametric rectifier (He et al., 2015): ``max(x, 0) + alpha * min(x, 0)`` with learned
    slopes ``alpha`` (not regularizable).

    Parameters
    ----------
    alpha : initializer, array or shared variable
        Initial slopes, of the input's shape without ``shared_axes``; default 0.25.
    shared_axes : 'auto', 'all', int or tuple of ints
        Axes sharing one slope: 'auto' every axis but the second (one slope per channel or unit),
        'all' every axis (a single scalar slope).

    >>> from symdl import layers
    >>> layers.ParametricRectifierLayer((20, 3, 28, 28), shared_axes=(0, 3)).alpha.get_value().shape
    (3, 28)
    """

    def __init__(self, incoming: Any, alpha: Any = init.Constant(0.25), shared_axes: Any = "auto", **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape), allow_all=True)
        shape = _param_shape(self, self.shared_axes, "alphas")
        self.alpha = self.add_param(alpha, shape, name="alpha", regularizable=False)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        input = T.as_tensor_variable(input)
        return leaky_relu(input, self.alpha.dimshuffle(broadcast_pattern(input.ndim, self.shared_axes)))


def _replace_nonlinearity(layer: Any) -> None:
    if getattr(layer, "nonlinearity", None) is not None:
        layer.nonlinearity = nonlinearities.identity


def prelu(layer: Layer, **kwargs: Any) -> ParametricRectifierLayer:
    """Put a ``ParametricRectifierLayer`` on ``layer`` in place of its nonlinearity (which this
    sets to the identity). Keyword arguments go to the new layer.

    >>> from symdl import layers
    >>> dense = layers.DenseLayer(layers.InputLayer((None, 10)), 5)
    >>> layers.prelu(dense).alpha.get_value().shape, dense.nonlinearity is layers.special.nonlinearities.identity
    ((5,), True)
    """
    _replace_nonlinearity(layer)
    return ParametricRectifierLayer(layer, **kwargs)


class RandomizedRectifierLayer(Layer):
    """The randomized leaky rectifier (Xu et al., 2015): in training, negative inputs are scaled
    by slopes drawn uniformly from ``[lower, upper)`` at every call; with ``deterministic=True``
    by their mean ``(lower + upper) / 2``.

    Parameters
    ----------
    lower, upper : float or scalar tensor
        The range of the random slopes.
    shared_axes : 'auto', 'all', int or tuple of ints
        Axes sharing one random slope, as in ``ParametricRectifierLayer``.

    >>> from symdl import layers
    >>> layers.RandomizedRectifierLayer((None, 3, 8, 8)).shared_axes
    (0, 2, 3)
    """

    def __init__(self, incoming: Any, lower: Any = 0.3, upper: Any = 0.8, shared_axes: Any = "auto", **kwargs: Any):
        super().__init__(incoming, **kwargs)
        from symdl.layers.noise import _random_stream

        if not isinstance(lower, Variable) and not isinstance(upper, Variable) and lower > upper:
            raise ValueError(
                f"RandomizedRectifierLayer: the upper bound ({upper}) must not be below the lower bound ({lower})"
            )
        self._srng = _random_stream()
        self.lower, self.upper = lower, upper
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape), allow_all=True)

    def get_output_for(self, input: Any, deterministic: bool = False, **kwargs: Any) -> Any:
        input = T.as_tensor_variable(input)
        fixed = not isinstance(self.lower, Variable) and not isinstance(self.upper, Variable)
        if deterministic or (fixed and self.lower == self.upper):
            return leaky_relu(input, (self.lower + self.upper) / 2)
        dtype = input.dtype if input.type.is_float else config.floatX
        # One slope per position of the axes not shared, broadcast over the shared ones.
        kept = [axis for axis in range(input.ndim) if axis not in self.shared_axes]
        size = [self.input_shape[a] if self.input_shape[a] is not None else input.shape[a] for a in kept]
        slopes = self._srng.uniform(size, low=self.lower, high=self.upper, dtype=dtype)
        return leaky_relu(input, slopes.dimshuffle(broadcast_pattern(input.ndim, self.shared_axes)))


def rrelu(layer: Layer, **kwargs: Any) -> RandomizedRectifierLayer:
    """Put a ``RandomizedRectifierLayer`` on ``layer`` in place of its nonlinearity (which this
    sets to the identity). Keyword arguments go to the new layer."""
    _replace_nonlinearity(layer)
    return RandomizedRectifierLayer(layer, **kwargs)


from symdl.layers.transformer import TPSTransformerLayer, TransformerLayer  # noqa: E402 -- after Layer's users
