"""Normalization layers: ``BatchNormLayer`` (and the ``batch_norm()`` wrapper),
``StandardizationLayer`` (and the ``instance_norm()`` and ``layer_norm()`` wrappers) and
``LocalResponseNormalization2DLayer``."""

from __future__ import annotations

from typing import Any

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.layers.base import Layer, broadcast_pattern
from symdl.layers.special import BiasLayer, NonlinearityLayer, ScaleLayer
from symdl.sharedvar import SharedVariable
from symdl.tensor.nnet.lrn import local_response_normalization

__all__ = [
    "LocalResponseNormalization2DLayer",
    "BatchNormLayer",
    "batch_norm",
    "StandardizationLayer",
    "instance_norm",
    "layer_norm",
]


def _alias(var: SharedVariable) -> SharedVariable:
    """A second shared variable over the same storage as ``var``. Giving the alias a default
    update changes ``var``'s value in training functions only, not in every function using it."""
    alias = SharedVariable(var.type, var.container[0], name=var.name)
    alias.container = var.container
    return alias


class BatchNormLayer(Layer):
    """Batch normalization (Ioffe and Szegedy, 2015):
    ``y = (x - mean) * inv_std * gamma + beta``, with statistics over ``axes``.

    In training (``get_output(net)``) it normalizes with the batch's mean and variance and moves
    the running averages ``mean``, ``inv_std`` towards them by ``alpha`` each time a compiled
    training function runs. With ``get_output(net, deterministic=True)`` it uses the running
    averages, so evaluation does not depend on the batch.

    Parameters
    ----------
    axes : 'auto' or tuple of ints
        Axes to normalize over; 'auto' is every axis but the second (per channel, or per unit
        for dense layers).
    epsilon : float
        Added to the variance for stability.
    alpha : float
        Weight of the new batch in the running averages.
    beta, gamma : initializer, array, shared variable or None
        Learned shift and scale (``None`` to leave out); trainable, and ``gamma`` regularizable
        (as Lasagne).
    mean, inv_std : initializer, array or shared variable
        Running averages; not trainable, tagged ``batch_norm_stat``.

    Examples
    --------
    >>> from symdl import layers
    >>> l = layers.BatchNormLayer(layers.InputLayer((None, 16, 6, 6)))
    >>> [p.get_value().shape for p in l.get_params()], len(l.get_params(trainable=True))
    ([(16,), (16,), (16,), (16,)], 2)
    >>> [p.name for p in l.get_params(batch_norm_stat=True)]
    ['mean', 'inv_std']
    """

    def __init__(
        self,
        incoming: Any,
        axes: Any = "auto",
        epsilon: float = 1e-4,
        alpha: float = 0.1,
        beta: Any = init.Constant(0.0),
        gamma: Any = init.Constant(1.0),
        mean: Any = init.Constant(0.0),
        inv_std: Any = init.Constant(1.0),
        **kwargs: Any,
    ):
        super().__init__(incoming, **kwargs)
        axes_given = axes
        if axes == "auto":
            axes = (0,) + tuple(range(2, len(self.input_shape)))
        elif isinstance(axes, int):
            axes = (axes,)
        self.axes = tuple(axes)
        self.epsilon = epsilon
        self.alpha = alpha
        shape = [size for axis, size in enumerate(self.input_shape) if axis not in self.axes]
        if any(size is None for size in shape):
            raise ValueError(
                f"BatchNormLayer needs specified input sizes for all axes not normalized over; input shape "
                f"{self.input_shape}, axes {self.axes}"
            )
        self.beta = None if beta is None else self.add_param(beta, shape, "beta", trainable=True, regularizable=False)
        self.gamma = (
            None if gamma is None else self.add_param(gamma, shape, "gamma", trainable=True, regularizable=True)
        )
        stat = {"trainable": False, "regularizable": False, "batch_norm_stat": True}
        self.mean = self.add_param(mean, shape, "mean", **stat)
        self.inv_std = self.add_param(inv_std, shape, "inv_std", **stat)
        self._check_axes(axes_given)

    def _check_axes(self, axes: Any) -> None:
        """Where a subclass refuses some ``self.axes`` (``axes``: the argument as given)."""

    def get_output_for(
        self,
        input: Any,
        deterministic: bool = False,
        batch_norm_use_averages: bool | None = None,
        batch_norm_update_averages: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        use_averages = deterministic if batch_norm_use_averages is None else batch_norm_use_averages
        update_averages = (not deterministic) if batch_norm_update_averages is None else batch_norm_update_averages
        batch_mean = T.mean(input, axis=self.axes)
        batch_inv_std = 1 / T.sqrt(T.var(input, axis=self.axes) + self.epsilon)
        mean, inv_std = (self.mean, self.inv_std) if use_averages else (batch_mean, batch_inv_std)
        if update_averages:
            running_mean, running_inv_std = _alias(self.mean), _alias(self.inv_std)
            running_mean.default_update = (1 - self.alpha) * running_mean + self.alpha * batch_mean
            running_inv_std.default_update = (1 - self.alpha) * running_inv_std + self.alpha * batch_inv_std
            # Tie the aliases into the output so every function computing it applies their updates.
            mean = mean + 0 * running_mean
            inv_std = inv_std + 0 * running_inv_std
        pattern = broadcast_pattern(input.ndim, self.axes)
        scale = inv_std if self.gamma is None else self.gamma * inv_std
        shift = -mean * scale if self.beta is None else self.beta - mean * scale
        return input * scale.dimshuffle(*pattern) + shift.dimshuffle(*pattern)


def _take_over(layer: Layer) -> Any:
    """Remove ``layer``'s bias and set its nonlinearity to the identity (the wrappers below put
    normalization between the two); return the nonlinearity, ``None`` if it has none."""
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = nonlinearities.identity
    if getattr(layer, "b", None) is not None:
        del layer.params[layer.b]
        layer.b = None
    return nonlinearity


def _with_nonlinearity(layer: Layer, nonlinearity: Any, name: str | None) -> Layer:
    if nonlinearity is None or nonlinearity is nonlinearities.identity:
        return layer
    return NonlinearityLayer(layer, nonlinearity, name=name and f"{name}_nonlin")


def _wrapper_name(layer: Layer, kwargs: dict, suffix: str) -> str | None:
    """The ``name`` keyword if given, else the wrapped layer's name with ``suffix``, else None."""
    name = getattr(layer, "name", None)
    return kwargs.pop("name", None) or (name and f"{name}{suffix}")


def batch_norm(layer: Layer, **kwargs: Any) -> Layer:
    """Insert batch normalization after ``layer``, the way it is usually done.

    **This changes** ``layer``: its bias is removed (batch normalization's ``beta`` takes its
    place) and its nonlinearity is set to the identity and moved to a ``NonlinearityLayer``
    after the ``BatchNormLayer``. Returns that last layer (or the ``BatchNormLayer`` when the
    layer was linear). Keyword arguments go to ``BatchNormLayer``; the new layers are named
    after ``name`` if given, else after the wrapped layer (``'fc_bn'``, ``'fc_bn_nonlin'``).

    >>> from symdl import layers
    >>> dense = layers.DenseLayer(layers.InputLayer((None, 10)), 20)
    >>> net = layers.batch_norm(dense)
    >>> type(net).__name__, type(net.input_layer).__name__, dense.b
    ('NonlinearityLayer', 'BatchNormLayer', None)
    """
    return insert_batch_norm(layer, BatchNormLayer, **kwargs)


def insert_batch_norm(layer: Layer, layer_class: type[BatchNormLayer], **kwargs: Any) -> Layer:
    """``batch_norm`` with a ``layer_class`` (``BatchNormLayer`` or a subclass such as
    :class:`symdl.layers.dnn.BatchNormDNNLayer`) built from ``kwargs``."""
    nonlinearity = _take_over(layer)
    name = _wrapper_name(layer, kwargs, "_bn")
    return _with_nonlinearity(layer_class(layer, name=name, **kwargs), nonlinearity, name)


class StandardizationLayer(Layer):
    """Normalizes each example to zero mean and unit variance over ``axes``:
    ``(x - mean) / sqrt(var + epsilon)``, with no parameters and the same computation in
    training and evaluation (instance and layer normalization; Ulyanov et al., 2016; Ba et
    al., 2016).

    Parameters
    ----------
    axes : 'auto', 'spatial', 'features', int or tuple of ints
        'spatial': every axis past the second (per example and channel: instance
        normalization); 'features': every axis but the first (per example: layer
        normalization); 'auto': 'spatial', or axis 1 for 2-d inputs.
    epsilon : float
        Added to the variance for stability.

    >>> import numpy as np
    >>> from symdl import layers
    >>> l_in = layers.InputLayer((None, 2))
    >>> out = layers.get_output(layers.StandardizationLayer(l_in, epsilon=0.0))
    >>> out.eval({l_in.input_var: np.float32([[1, 3], [5, 4]])})
    array([[-1.,  1.],
           [ 1., -1.]], dtype=float32)
    """

    def __init__(self, incoming: Any, axes: Any = "auto", epsilon: float = 1e-4, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        ndim = len(self.input_shape)
        if axes == "auto":
            axes = (1,) if ndim == 2 else tuple(range(2, ndim))
        elif axes == "spatial":
            axes = tuple(range(2, ndim))
        elif axes == "features":
            axes = tuple(range(1, ndim))
        elif isinstance(axes, int):
            axes = (axes,)
        self.axes = tuple(axes)
        self.epsilon = epsilon

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        centred = input - T.mean(input, axis=self.axes, keepdims=True)
        variance = T.mean(T.sqr(centred), axis=self.axes, keepdims=True)
        return centred * (1 / T.sqrt(variance + self.epsilon))


def instance_norm(layer: Layer, learn_scale: bool = True, learn_bias: bool = True, **kwargs: Any) -> Layer:
    """Insert instance normalization after ``layer``: a ``StandardizationLayer`` over the spatial
    axes, then (optionally) a learned per-channel ``ScaleLayer`` and ``BiasLayer``, then the
    layer's nonlinearity. **This changes** ``layer`` as ``batch_norm`` does (bias removed,
    nonlinearity moved). Keyword arguments go to ``StandardizationLayer``; the new layers are
    named ``name``, ``name_scale``, ``name_bias``, ``name_nonlin`` (``name`` defaults to the
    layer's name plus ``'_in'``).

    >>> from symdl import layers
    >>> conv = layers.Conv2DLayer(layers.InputLayer((None, 3, 8, 8)), 4, 3)
    >>> [type(l).__name__ for l in layers.get_all_layers(layers.instance_norm(conv))][2:]
    ['StandardizationLayer', 'ScaleLayer', 'BiasLayer', 'NonlinearityLayer']
    """
    nonlinearity = _take_over(layer)
    name = _wrapper_name(layer, kwargs, "_in")
    layer = StandardizationLayer(layer, axes="spatial", name=name, **kwargs)
    if learn_scale:
        layer = ScaleLayer(layer, shared_axes="auto", name=name and f"{name}_scale")
    if learn_bias:
        layer = BiasLayer(layer, shared_axes="auto", name=name and f"{name}_bias")
    return _with_nonlinearity(layer, nonlinearity, name)


def layer_norm(layer: Layer, **kwargs: Any) -> Layer:
    """Insert layer normalization after ``layer``: a ``StandardizationLayer`` over every axis but
    the first, a learned ``ScaleLayer`` and ``BiasLayer`` (per channel, or per unit for dense
    layers), then the layer's nonlinearity. Changes ``layer`` and names the new layers as
    ``instance_norm`` does, with the suffix ``'_ln'``.

    >>> from symdl import layers
    >>> dense = layers.DenseLayer(layers.InputLayer((None, 10)), 20, name='fc')
    >>> [l.name for l in layers.get_all_layers(layers.layer_norm(dense))][1:]
    ['fc', 'fc_ln', 'fc_ln_scale', 'fc_ln_bias', 'fc_ln_nonlin']
    """
    nonlinearity = _take_over(layer)
    name = _wrapper_name(layer, kwargs, "_ln")
    layer = StandardizationLayer(layer, axes="features", name=name, **kwargs)
    layer = ScaleLayer(layer, shared_axes="auto", name=name and f"{name}_scale")
    layer = BiasLayer(layer, shared_axes="auto", name=name and f"{name}_bias")
    return _with_nonlinearity(layer, nonlinearity, name)


class LocalResponseNormalization2DLayer(Layer):
    """Local response normalization across channels (Krizhevsky et al., 2012), as Lasagne's and
    cuda-convnet's: ``x / (k + alpha * sum of the squares of the n channels around) ** beta``.

    Parameters
    ----------
    incoming : Layer or tuple
        Input of shape ``(batch, channels, rows, cols)``.
    alpha, k, beta : float
        Scale (not divided by ``n``), offset and exponent of the divisor.
    n : int
        The odd number of channels in each window.

    >>> from symdl import layers
    >>> layers.LocalResponseNormalization2DLayer(layers.InputLayer((None, 16, 8, 8))).output_shape
    (None, 16, 8, 8)
    """

    def __init__(self, incoming: Any, alpha: float = 1e-4, k: float = 2, beta: float = 0.75, n: int = 5, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        if n % 2 == 0:
            raise NotImplementedError(f"LocalResponseNormalization2DLayer only works with odd n, got {n}")
        self.alpha, self.k, self.beta, self.n = alpha, k, beta, n

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return local_response_normalization(input, self.n, self.k, self.alpha, self.beta)
