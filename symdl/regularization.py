"""Weight penalties with Lasagne's names: add them to a loss.

By default only parameters tagged ``regularizable`` are penalized (weights, not biases or
batch-norm parameters).

>>> import symdl.tensor as T
>>> from symdl import layers, regularization
>>> net = layers.DenseLayer(layers.InputLayer((None, 4)), 3)
>>> penalty = regularization.regularize_network_params(net, regularization.l2)
>>> [p.name for p in layers.get_all_params(net, regularizable=True)]
['W']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import symdl.tensor as T

__all__ = [
    "l1",
    "l2",
    "apply_penalty",
    "regularize_layer_params",
    "regularize_layer_params_weighted",
    "regularize_network_params",
]

_REGULARIZABLE = {"regularizable": True}


def l1(x: Any) -> Any:
    """Sum of absolute values."""
    return T.sum(abs(x))


def l2(x: Any) -> Any:
    """Sum of squares (no 1/2 factor, as in Lasagne)."""
    return T.sum(x**2)


def apply_penalty(tensor_or_tensors: Any, penalty: Callable, **kwargs: Any) -> Any:
    """``penalty`` of one tensor, or the sum of the penalties of a list of tensors."""
    if isinstance(tensor_or_tensors, list | tuple):
        return sum(penalty(x, **kwargs) for x in tensor_or_tensors)
    return penalty(tensor_or_tensors, **kwargs)


def regularize_layer_params(
    layer: Any, penalty: Callable, tags: Mapping[str, bool] = _REGULARIZABLE, **kwargs: Any
) -> Any:
    """Penalty of the parameters of one layer (or a list of layers), not of their inputs."""
    layer_list = layer if isinstance(layer, list | tuple) else [layer]
    params = [p for lay in layer_list for p in lay.get_params(**tags)]
    return apply_penalty(params, penalty, **kwargs)


def regularize_layer_params_weighted(
    layers: Mapping[Any, float], penalty: Callable, tags: Mapping[str, bool] = _REGULARIZABLE, **kwargs: Any
) -> Any:
    """Sum over ``{layer: coefficient}`` of coefficient times the penalty of the layer's parameters."""
    return sum(coeff * apply_penalty(layer.get_params(**tags), penalty, **kwargs) for layer, coeff in layers.items())


def regularize_network_params(
    layer: Any, penalty: Callable, tags: Mapping[str, bool] = _REGULARIZABLE, **kwargs: Any
) -> Any:
    """Penalty of every parameter of the network ending at ``layer``."""
    from symdl.layers import get_all_params

    return apply_penalty(get_all_params(layer, **tags), penalty, **kwargs)
