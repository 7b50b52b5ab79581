"""The ``Layer`` and ``MergeLayer`` base classes and parameter creation.

A layer knows its input layer(s) and output shape, owns its parameters (shared variables in
``layer.params``, each with a set of tags) and turns an input expression into an output
expression in ``get_output_for``. Writing a new layer means writing those two methods:

>>> import symdl.tensor as T
>>> from symdl import layers
>>> class Double(layers.Layer):
...     def get_output_for(self, input, **kwargs):
...         return 2 * input
>>> net = Double(layers.InputLayer((None, 3)))
>>> net.output_shape
(None, 3)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symdl.config import config
from symdl.sharedvar import SharedVariable, shared

__all__ = ["Layer", "MergeLayer", "create_param", "as_pair", "broadcast_pattern"]

Shape = tuple[int | None, ...]


class Layer:
    """Base class of layers with one input.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding this one, or the expected input shape (``None`` for unknown sizes).
    name : str, optional
        A name for the layer; parameter names are prefixed with it (``"dense1.W"``).
    """

    def __init__(self, incoming: Layer | Sequence[int | None], name: str | None = None):
        if isinstance(incoming, Layer):
            self.input_shape: Shape = incoming.output_shape
            self.input_layer: Layer | None = incoming
        else:
            self.input_shape = tuple(incoming)
            self.input_layer = None
        self.name = name
        self.params: OrderedDict[SharedVariable, set[str]] = OrderedDict()
        self.get_output_kwargs: list[str] = []
        if any(d is not None and d <= 0 for d in self.input_shape):
            raise ValueError(
                f"cannot create {self._label()} with a non-positive input shape {self.input_shape}; "
                "a previous layer shrank its input to nothing (check filter, pool and crop sizes)"
            )

    def _label(self) -> str:
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def __repr__(self) -> str:
        return f"<{self._label()} output_shape={self.output_shape}>"

    @property
    def output_shape(self) -> Shape:
        """The shape of this layer's output (``None`` where the size is only known at run time)."""
        return tuple(self.get_output_shape_for(self.input_shape))

    def get_params(self, unwrap_shared: bool = True, **tags: bool) -> list[SharedVariable]:
        """This layer's parameters; ``trainable=True`` keeps those with the tag, ``trainable=False``
        those without it (any tag works the same way). Parameters are always shared variables
        here, so ``unwrap_shared`` (Lasagne's) changes nothing."""
        only = {tag for tag, value in tags.items() if value}
        exclude = {tag for tag, value in tags.items() if not value}
        return [p for p, ptags in self.params.items() if only <= ptags and not (ptags & exclude)]

    def get_output_shape_for(self, input_shape: Shape) -> Shape:
        """The output shape for an input of ``input_shape``; override when the layer changes it."""
        return input_shape

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        """The symbolic output for the symbolic ``input``; every layer implements it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_output_for")

    def add_param(self, spec: Any, shape: Sequence[int], name: str | None = None, **tags: bool) -> SharedVariable:
        """Create a parameter from ``spec`` (an initializer, array or shared variable) of ``shape``
        and register it with tags; ``trainable`` and ``regularizable`` default to True."""
        if name is not None and self.name is not None:
            name = f"{self.name}.{name}"
        param = create_param(spec, shape, name)
        tags.setdefault("trainable", True)
        tags.setdefault("regularizable", True)
        self.params[param] = {tag for tag, value in tags.items() if value}
        return param


class MergeLayer(Layer):
    """Base class of layers with several inputs: ``get_output_for`` receives a list of inputs,
    ``get_output_shape_for`` a list of shapes."""

    def __init__(self, incomings: Sequence[Layer | Sequence[int | None]], name: str | None = None):
        self.input_shapes: list[Shape] = [
            inc.output_shape if isinstance(inc, Layer) else tuple(inc) for inc in incomings
        ]
        self.input_layers: list[Layer | None] = [inc if isinstance(inc, Layer) else None for inc in incomings]
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self) -> Shape:
        return tuple(self.get_output_shape_for(self.input_shapes))

    def get_output_shape_for(self, input_shapes: list[Shape]) -> Shape:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} does not implement get_output_shape_for")

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} does not implement get_output_for")


def create_param(spec: Any, shape: Sequence[int], name: str | None = None) -> SharedVariable:
    """A shared variable of ``shape`` from ``spec``: an existing shared variable (used as is, so
    layers can share weights), a NumPy array, or a callable such as an initializer that takes
    the shape. Float arrays become floatX.

    >>> from symdl import init
    >>> create_param(init.Constant(1.0), (2, 3), 'W').get_value().shape
    (2, 3)
    """
    shape = tuple(int(d) for d in shape)
    if any(d <= 0 for d in shape):
        raise ValueError(f"cannot create parameter {name or ''} with a non-positive shape {shape}")
    if isinstance(spec, SharedVariable):
        value = spec.get_value(borrow=True)
        if value.shape != shape:
            raise ValueError(f"parameter {spec.name or name or ''} has shape {value.shape}, expected {shape}")
        return spec
    if isinstance(spec, np.ndarray):
        value = spec
    elif isinstance(spec, Callable):
        value = np.asarray(spec(shape))
    else:
        raise TypeError(
            f"cannot create parameter {name or ''} from {type(spec).__name__}: give an initializer "
            "(symdl.init), a NumPy array or a shared variable"
        )
    if value.shape != shape:
        raise ValueError(f"parameter {name or ''}: the value has shape {value.shape}, expected {shape}")
    if value.dtype.kind == "f":
        value = value.astype(config.floatX, copy=False)
    # A parameter's shape never changes: saying so lets the compiler fuse and plan with it.
    return shared(value, name=name, shape=value.shape)


def as_pair(value: Any, what: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (filter sizes, strides, pads), else ValueError naming ``what``.

    >>> as_pair(3, 'filter_size'), as_pair((2, 1), 'stride')
    ((3, 3), (2, 1))
    """
    if isinstance(value, int | np.integer):
        return (int(value), int(value))
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


def broadcast_pattern(ndim: int, shared_axes: Sequence[int]) -> list[int | str]:
    """The dimshuffle pattern that spreads a parameter over ``ndim`` axes, broadcasting it along
    ``shared_axes`` (per-channel biases and batch-norm scales).

    >>> broadcast_pattern(4, (0, 2, 3))
    ['x', 0, 'x', 'x']
    """
    kept = iter(range(ndim))
    return ["x" if axis in shared_axes else next(kept) for axis in range(ndim)]
