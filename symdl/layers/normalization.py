"""Batch normalization: ``BatchNormLayer`` and the ``batch_norm()`` wrapper."""

from __future__ import annotations

from typing import Any

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.layers.base import Layer, broadcast_pattern
from symdl.layers.special import NonlinearityLayer
from symdl.sharedvar import SharedVariable

__all__ = ["BatchNormLayer", "batch_norm"]


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
        Learned shift and scale (``None`` to leave out); trainable, not regularizable.
    mean, inv_std : initializer, array or shared variable
        Running averages; not trainable.

    Examples
    --------
    >>> from symdl import layers
    >>> l = layers.BatchNormLayer(layers.InputLayer((None, 16, 6, 6)))
    >>> [p.get_value().shape for p in l.get_params()], len(l.get_params(trainable=True))
    ([(16,), (16,), (16,), (16,)], 2)
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
                f"BatchNormLayer needs known sizes on the axes it does not normalize over; input shape "
                f"{self.input_shape}, axes {self.axes}"
            )
        self.beta = None if beta is None else self.add_param(beta, shape, "beta", trainable=True, regularizable=False)
        self.gamma = (
            None if gamma is None else self.add_param(gamma, shape, "gamma", trainable=True, regularizable=False)
        )
        self.mean = self.add_param(mean, shape, "mean", trainable=False, regularizable=False)
        self.inv_std = self.add_param(inv_std, shape, "inv_std", trainable=False, regularizable=False)

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


def batch_norm(layer: Layer, **kwargs: Any) -> Layer:
    """Insert batch normalization after ``layer``, the way it is usually done.

    **This changes** ``layer``: its bias is removed (batch normalization's ``beta`` takes its
    place) and its nonlinearity is set to the identity and moved to a ``NonlinearityLayer``
    after the ``BatchNormLayer``. Returns that last layer (or the ``BatchNormLayer`` when the
    layer was linear). Keyword arguments go to ``BatchNormLayer``.

    >>> from symdl import layers
    >>> dense = layers.DenseLayer(layers.InputLayer((None, 10)), 20)
    >>> net = layers.batch_norm(dense)
    >>> type(net).__name__, type(net.input_layer).__name__, dense.b
    ('NonlinearityLayer', 'BatchNormLayer', None)
    """
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = nonlinearities.identity
    if getattr(layer, "b", None) is not None:
        del layer.params[layer.b]
        layer.b = None
    bn_name = kwargs.pop("name", None) or (layer.name and f"{layer.name}_bn")
    bn = BatchNormLayer(layer, name=bn_name, **kwargs)
    if nonlinearity is None or nonlinearity is nonlinearities.identity:
        return bn
    return NonlinearityLayer(bn, nonlinearity, name=bn_name and f"{bn_name}_nonlin")
