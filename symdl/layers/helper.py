"""Functions over whole networks: outputs, shapes, parameters, saving and loading.

A network is given by its output layer (or a list of output layers); these functions walk
back through ``input_layer``/``input_layers`` to find the rest.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from difflib import get_close_matches
from typing import Any, NamedTuple

import numpy as np

import symdl.tensor as T
from symdl.config import config
from symdl.errors import ShapeError
from symdl.graph.basic import Variable
from symdl.layers.base import Layer, MergeLayer
from symdl.layers.input import InputLayer
from symdl.sharedvar import SharedVariable
from symdl.utils import as_theano_expression, inspect_kwargs, unique

__all__ = [
    "get_all_layers",
    "get_output",
    "get_output_shape",
    "get_all_params",
    "count_params",
    "get_all_param_values",
    "set_all_param_values",
    "set_trainable",
    "save_params",
    "load_params",
]


def _incoming(layer: Any) -> list[Any]:
    # Duck typing, as Lasagne: a MergeLayer has input_layers, a Layer input_layer (None when it
    # was created from a shape), an InputLayer neither.
    if hasattr(layer, "input_layers"):
        return list(layer.input_layers)
    if hasattr(layer, "input_layer"):
        return [layer.input_layer]
    return []


def _as_list(layer_or_layers: Any) -> tuple[list[Any], bool]:
    """The layers given, and whether they came as a collection (a list, tuple or other iterable)."""
    if isinstance(layer_or_layers, list | tuple) or (
        isinstance(layer_or_layers, Iterable) and not hasattr(layer_or_layers, "output_shape")
    ):
        return list(layer_or_layers), True
    return [layer_or_layers], False


def get_all_layers(layer: Any, treat_as_input: Iterable[Any] | None = None) -> list[Any]:
    """Every layer the given layer(s) depend on, and themselves, in a topological order: a
    layer comes after every layer its input depends on.

    Layers in ``treat_as_input`` are included but not looked through (unless another path
    needs the layers below them).

    >>> from symdl import layers
    >>> l_in = layers.InputLayer((None, 4))
    >>> net = layers.DenseLayer(layers.DenseLayer(l_in, 8), 2)
    >>> [type(lay).__name__ for lay in layers.get_all_layers(net)]
    ['InputLayer', 'DenseLayer', 'DenseLayer']
    """
    outputs, _ = _as_list(layer)
    # A layer is "seen" once its inputs are queued, and "done" once it is in the order; layers
    # treated as inputs count as seen from the start, so their inputs are never queued.
    seen: set[Any] = set(treat_as_input or ())
    done: set[Any] = set()
    order: list[Any] = []
    # Iterative depth-first search (deep networks do not hit the recursion limit); the top of
    # the stack is its end.
    stack: list[Any] = list(reversed(outputs))
    while stack:
        lay = stack[-1]
        if lay is None:
            stack.pop()
        elif lay not in seen:
            seen.add(lay)
            stack.extend(reversed(_incoming(lay)))
        else:
            # Either its inputs are done, or this is a cycle: it goes in the order either way.
            stack.pop()
            if lay not in done:
                done.add(lay)
                order.append(lay)
    return order


def _as_expression(value: Any) -> Any:
    """A given input as an expression; data that is float becomes floatX (a float32 network fed
    NumPy's float64 stays float32)."""
    if isinstance(value, Variable):
        return value
    expr = as_theano_expression(value)
    if expr.dtype in ("float16", "float64") and expr.dtype != config.floatX:
        expr = T.constant(expr.data.astype(config.floatX))
    return expr


def _check_input_keys(given: Mapping) -> None:
    for key in given:
        if key is not None and not isinstance(key, Layer):
            raise TypeError(
                f"the keys of an inputs/input_shapes dict must be layers (or None for a layer created from a "
                f"shape), got {type(key).__name__}: {key!r}"
            )


def get_output(layer_or_layers: Any, inputs: Any = None, **kwargs: Any) -> Any:
    """The symbolic output of a layer (or a list of outputs for a list of layers).

    Parameters
    ----------
    layer_or_layers : Layer or list of Layer
        The layer(s) whose output to compute.
    inputs : symbolic tensor, array or dict, optional
        What to feed in instead of the ``InputLayer``'s variable: one expression (for a network
        with one input) or a ``{layer: expression}`` dict, which may also replace inner layers
        (the key ``None`` feeds a layer created from a shape).
    deterministic : bool
        ``False`` (every layer's default) gives the *training* output: dropout drops units and
        batch normalization uses batch statistics (and updates its running averages).
        **Use** ``deterministic=True`` **for validation, testing and prediction**: forgetting it
        silently leaves dropout on and gives noisy, too-low accuracies.
    **kwargs
        Passed to every layer's ``get_output_for`` (e.g. ``deterministic``,
        ``batch_norm_use_averages``); a keyword that no layer takes gets a warning naming the
        closest one that does.

    Examples
    --------
    >>> import numpy as np, symdl
    >>> from symdl import layers
    >>> l_in = layers.InputLayer((None, 4))
    >>> net = layers.DenseLayer(layers.DropoutLayer(l_in, p=0.5), 2)
    >>> train_out = layers.get_output(net)                     # dropout on
    >>> test_out = layers.get_output(net, deterministic=True)  # dropout off
    >>> predict = symdl.function([l_in.input_var], test_out)
    >>> predict(np.ones((3, 4), 'float32')).shape
    (3, 2)
    """
    layers, many = _as_list(layer_or_layers)
    given = inputs if isinstance(inputs, Mapping) else {}
    _check_input_keys(given)
    all_layers = get_all_layers(layers, given.keys())
    outputs: dict[Any, Any] = {
        lay: lay.input_var for lay in all_layers if isinstance(lay, InputLayer) and lay not in given
    }
    if isinstance(inputs, Mapping):
        outputs.update((lay, _as_expression(expr)) for lay, expr in given.items())
    elif inputs is not None:
        if len(outputs) > 1:
            raise ValueError(
                "get_output: the network has several input layers; pass inputs as a {layer: expression} dict"
            )
        for lay in outputs:
            outputs[lay] = _as_expression(inputs)
    accepted = {"deterministic"}
    for lay in all_layers:
        if lay in outputs:
            continue
        try:
            if isinstance(lay, MergeLayer):
                layer_inputs: Any = [outputs[inc] for inc in lay.input_layers]
            else:
                layer_inputs = outputs[lay.input_layer]
        except KeyError:
            raise ValueError(
                f"get_output: {lay!r} was created from a shape, so nothing feeds it; build it on an "
                "InputLayer, or give the output of the layer below it in inputs={layer: expression}"
            ) from None
        outputs[lay] = lay.get_output_for(layer_inputs, **kwargs)
        try:
            accepted.update(inspect_kwargs(lay.get_output_for))
        except (TypeError, ValueError):
            pass  # not introspectable (a builtin, say): its keywords stay unknown
        accepted.update(getattr(lay, "get_output_kwargs", ()))
    _warn_unused(set(kwargs) - accepted, accepted)
    result = [outputs[lay] for lay in layers]
    return result if many else result[0]


def _warn_unused(unused: set[str], accepted: set[str]) -> None:
    if not unused:
        return
    lines = []
    for name in sorted(unused):
        close = get_close_matches(name, accepted)
        lines.append(f"{name} (perhaps you meant {close[0]})" if close else name)
    warnings.warn("get_output() was called with unused kwargs:\n\t" + "\n\t".join(lines), UserWarning, stacklevel=3)


def get_output_shape(layer_or_layers: Any, input_shapes: Any = None) -> Any:
    """The output shape(s) of the layer(s), optionally for other ``input_shapes`` (a shape, or a
    ``{layer: shape}`` dict) than the ones the network was built for.

    >>> from symdl import layers
    >>> net = layers.DenseLayer(layers.InputLayer((None, 4)), 2)
    >>> layers.get_output_shape(net), layers.get_output_shape(net, (16, 4))
    ((None, 2), (16, 2))
    """
    layers, many = _as_list(layer_or_layers)
    if input_shapes is None or (isinstance(input_shapes, Mapping) and not input_shapes):
        result = [lay.output_shape for lay in layers]
        return result if many else result[0]
    given = input_shapes if isinstance(input_shapes, Mapping) else {}
    _check_input_keys(given)
    all_layers = get_all_layers(layers, given.keys())
    shapes: dict[Any, Any] = {lay: lay.shape for lay in all_layers if isinstance(lay, InputLayer) and lay not in given}
    if isinstance(input_shapes, Mapping):
        shapes.update(given)
    else:
        if len(shapes) > 1:
            raise ValueError("get_output_shape: the network has several inputs; pass a {layer: shape} dict")
        for lay in shapes:
            shapes[lay] = input_shapes
    for lay in all_layers:
        if lay in shapes:
            continue
        try:
            if isinstance(lay, MergeLayer):
                shapes[lay] = lay.get_output_shape_for([shapes[inc] for inc in lay.input_layers])
            else:
                shapes[lay] = lay.get_output_shape_for(shapes[lay.input_layer])
        except KeyError:
            raise ValueError(
                f"get_output_shape: {lay!r} was created from a shape; give its input shape in "
                "input_shapes={layer: shape}"
            ) from None
    result = [shapes[lay] for lay in layers]
    return result if many else result[0]


def get_all_params(layer: Any, unwrap_shared: bool = True, **tags: bool) -> list[Any]:
    """The parameters of every layer of the network, each once, inputs first.

    Tags filter: ``trainable=True`` keeps only parameters that are trained (what an update rule
    needs), ``regularizable=True`` only those a weight penalty applies to. A parameter given as
    an expression counts as the shared variables in it (tagged as the expression), or as the
    expression itself with ``unwrap_shared=False``.

    >>> from symdl import layers
    >>> net = layers.DenseLayer(layers.InputLayer((None, 4)), 2)
    >>> layers.get_all_params(net), layers.get_all_params(net, regularizable=True)
    ([W, b], [W])
    """
    return unique(p for lay in get_all_layers(layer) for p in lay.get_params(unwrap_shared=unwrap_shared, **tags))


def count_params(layer: Any, **tags: bool) -> int:
    """The number of scalar parameters of the network (filtered by ``tags`` as in get_all_params).

    >>> from symdl import layers
    >>> layers.count_params(layers.DenseLayer(layers.InputLayer((None, 4)), 2))
    10
    """
    return int(sum(p.get_value(borrow=True).size for p in get_all_params(layer, **tags)))


def get_all_param_values(layer: Any, **tags: bool) -> list[np.ndarray]:
    """The values (NumPy arrays) of get_all_params, in the same order."""
    return [p.get_value() for p in get_all_params(layer, **tags)]


def _owners(layer: Any) -> dict[SharedVariable, Any]:
    owners: dict[SharedVariable, Any] = {}
    for lay in get_all_layers(layer):
        for p in lay.get_params():
            owners.setdefault(p, lay)
    return owners


def set_all_param_values(layer: Any, values: Sequence[np.ndarray], **tags: bool) -> None:
    """Set the parameters of the network from a list of arrays in get_all_params order.

    Raises ValueError naming the layer and parameter when the count or a shape does not match.
    """
    layer, _ = _as_list(layer)  # walked twice below
    params = get_all_params(layer, **tags)
    values = list(values)
    if len(params) != len(values):
        raise ValueError(f"set_all_param_values: the network has {len(params)} parameters, got {len(values)} values")
    owners = _owners(layer)
    for k, (p, v) in enumerate(zip(params, values)):
        v = np.asarray(v)
        expected = p.get_value(borrow=True).shape
        if v.shape != expected:
            raise ShapeError(
                f"set_all_param_values: value {k} has shape {v.shape} but parameter {p.name or k} of "
                f"{owners[p]._label()} has shape {expected}"
            )
    for p, v in zip(params, values):
        p.set_value(np.asarray(v, dtype=p.dtype))


def set_trainable(layer: Any, trainable: bool) -> None:
    """Freeze (``False``) or unfreeze (``True``) the layer(s) and every layer below them.

    Freezing removes the ``trainable`` tag, so ``get_all_params(net, trainable=True)`` (and so an
    update rule) leaves those parameters alone; unfreezing restores the tag only on parameters
    that were frozen this way (batch-norm statistics stay untrainable).

    >>> from symdl import layers
    >>> hidden = layers.DenseLayer(layers.InputLayer((None, 4)), 8)
    >>> head = layers.DenseLayer(hidden, 2)
    >>> layers.set_trainable(hidden, False)
    >>> layers.get_all_params(head, trainable=True)
    [W, b]
    >>> len(layers.get_all_params(head))
    4
    """
    for lay in get_all_layers(layer):
        for ptags in lay.params.values():
            if not trainable and "trainable" in ptags:
                ptags.discard("trainable")
                ptags.add("frozen")
            elif trainable and "frozen" in ptags:
                ptags.discard("frozen")
                ptags.add("trainable")


def save_params(layer: Layer | Sequence[Layer], path: str | os.PathLike) -> None:
    """Save every parameter value of the network to an ``.npz`` file keyed by parameter name.

    A parameter's key is its name (``"conv1.W"`` for the ``W`` of a layer named ``conv1``) when
    the name is unique in the network; an unnamed parameter, or one whose name several share
    (the ``W`` of unnamed layers), gets its position too (``"W#2"``). Name your layers to load
    parameters by name into another network (:func:`load_params`, a new head on a pretrained
    body). The file holds plain NumPy arrays, so it loads on any device.

    >>> import os, tempfile, numpy as np
    >>> from symdl import layers
    >>> net = layers.DenseLayer(layers.DenseLayer(layers.InputLayer((None, 4)), 8, name='hidden'), 2)
    >>> path = os.path.join(tempfile.mkdtemp(), 'net.npz')
    >>> layers.save_params(net, path)
    >>> np.load(path).files
    ['hidden.W', 'hidden.b', 'W', 'b']
    """
    params = get_all_params(layer)
    keys = _param_keys(params)
    np.savez(path, **{key: p.get_value() for key, p in zip(keys, params)})


def _param_keys(params: Sequence[SharedVariable]) -> list[str]:
    counts: dict[str | None, int] = {}
    for p in params:
        counts[p.name] = counts.get(p.name, 0) + 1
    return [p.name if p.name and counts[p.name] == 1 else f"{p.name or 'param'}#{k}" for k, p in enumerate(params)]


class LoadedParams(NamedTuple):
    """What :func:`load_params` found: the network's parameter names missing from the file,
    and the file's names the network does not have."""

    missing: list[str]
    unexpected: list[str]


def load_params(layer: Layer | Sequence[Layer], path: str | os.PathLike, strict: bool = True) -> LoadedParams:
    """Load parameter values from an ``.npz`` file into the network, by parameter name.

    Files written by :func:`save_params` are matched by name (see there for the keys). Files in
    Lasagne's layout (``arr_0``, ``arr_1``, ... as ``np.savez(path, *get_all_param_values(net))``
    writes, and symdl's own before names) load in ``get_all_params`` order.

    Parameters
    ----------
    layer : Layer or list of Layer
        The network.
    path : str or path
        The ``.npz`` file.
    strict : bool
        True (the default): every parameter of the network must be in the file and every array
        of the file must belong to the network, or nothing loads and ValueError lists the
        names. False: load the names both have, and report the others in the returned value
        (a pretrained body under a new head: the head's names are missing, the old head's
        unexpected).

    Returns
    -------
    LoadedParams
        ``missing`` and ``unexpected`` names (both empty after a strict load).

    Raises
    ------
    ValueError
        Names do not match (strict), or the count does not (Lasagne's layout).
    ShapeError
        A parameter of the file has another shape than the network's; the message names the
        parameter and its layer.

    Examples
    --------
    >>> import os, tempfile
    >>> from symdl import layers
    >>> def body():
    ...     return layers.DenseLayer(layers.InputLayer((None, 4)), 8, name='body')
    >>> path = os.path.join(tempfile.mkdtemp(), 'pretrained.npz')
    >>> layers.save_params(layers.DenseLayer(body(), 3, name='old_head'), path)
    >>> layers.load_params(layers.DenseLayer(body(), 5, name='new_head'), path, strict=False)
    LoadedParams(missing=['new_head.W', 'new_head.b'], unexpected=['old_head.W', 'old_head.b'])
    """
    with np.load(path) as data:
        stored = {key: data[key] for key in data.files}
    params = get_all_params(layer)
    keys = _param_keys(params)
    positional = [f"arr_{k}" for k in range(len(stored))]
    if list(stored) == positional and not set(keys) & set(positional):
        set_all_param_values(layer, list(stored.values()))
        return LoadedParams([], [])
    missing = [key for key in keys if key not in stored]
    unexpected = [key for key in stored if key not in set(keys)]
    if strict and (missing or unexpected):

        def listed(names: list[str]) -> str:
            return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "") or "none"

        hint = (
            " (unnamed parameters are keyed by position: name the layers to load across networks)"
            if any("#" in key for key in missing + unexpected)
            else ""
        )
        raise ValueError(
            f"load_params: {path} does not match the network: missing {listed(missing)}; unexpected "
            f"{listed(unexpected)}{hint}. Pass strict=False to load the names both have."
        )
    owners = _owners(layer)
    found = [(key, p) for key, p in zip(keys, params) if key in stored]
    for key, p in found:
        expected = p.get_value(borrow=True).shape
        if stored[key].shape != expected:
            raise ShapeError(
                f"load_params: {key} in {path} has shape {stored[key].shape} but parameter {key} of "
                f"{owners[p]._label()} has shape {expected}"
            )
    for key, p in found:
        p.set_value(np.asarray(stored[key], dtype=p.dtype))
    return LoadedParams(missing, unexpected)
