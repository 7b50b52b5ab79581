"""The ``Layer`` and ``MergeLayer`` base classes (parameters come from ``symdl.utils.create_param``).

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
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.graph.basic import Variable
from symdl.utils import collect_shared_vars, create_param

__all__ = ["Layer", "MergeLayer", "create_param", "as_pair", "broadcast_pattern"]

Shape = tuple[int | None, ...]


def _is_layer(incoming: Any) -> bool:
    """A layer is anything with an ``output_shape`` (Lasagne's duck typing: tests pass mocks);
    a shape is a tuple or list of sizes."""
    return not isinstance(incoming, tuple | list) and hasattr(incoming, "output_shape")


def _checked_shape(layer: Any, shape: Any) -> Any:
    """``shape`` as a layer's output shape; a symbolic one (a ``x.shape`` given by mistake) raises."""
    if isinstance(shape, Variable) or any(isinstance(d, Variable) for d in shape):
        raise ValueError(
            f"{type(layer).__name__}.get_output_shape_for() returned a symbolic output shape {shape!r}; "
            "shapes must be tuples of ints for known sizes and None for sizes known only at run time"
        )
    return shape


class Layer:
    """Base class of layers with one input.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding this one (anything with an ``output_shape``), or the expected input
        shape (``None`` for unknown sizes).
    name : str, optional
        A name for the layer; parameter names are prefixed with it (``"dense1.W"``).
    """

    def __init__(self, incoming: Any, name: str | None = None):
        if _is_layer(incoming):
            self.input_shape: Shape = incoming.output_shape
            self.input_layer: Any = incoming
        else:
            self.input_shape = tuple(incoming)
            self.input_layer = None
        self.name = name
        self.params: OrderedDict[Any, set[str]] = OrderedDict()
        self.get_output_kwargs: list[str] = []
        if any(d is not None and d <= 0 for d in self.input_shape):
            raise ValueError(
                f"cannot create {self._label()} with a non-positive input shape {self.input_shape}; "
                "a previous layer shrank its input to nothing (check filter, pool and crop sizes)"
            )

    def _label(self) -> str:
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def __repr__(self) -> str:
        try:
            shape = self.output_shape
        except Exception:
            # repr must not fail, even half-built or with a broken get_output_shape_for.
            return f"<{self._label()}>"
        return f"<{self._label()} output_shape={shape}>"

    @property
    def output_shape(self) -> Shape:
        """The shape of this layer's output (``None`` where the size is only known at run time)."""
        shape = _checked_shape(self, self.get_output_shape_for(self.input_shape))
        return tuple(shape)

    def get_params(self, unwrap_shared: bool = True, **tags: bool) -> list[Any]:
        """This layer's parameters: ``trainable=True`` keeps those with the tag, ``trainable=False``
        those without it (any tag works the same way).

        A parameter given as an expression (``W=T.exp(w)``) is returned as the shared variables
        it depends on, unless ``unwrap_shared=False``; tags filter the expressions.
        """
        only = {tag for tag, value in tags.items() if value}
        exclude = {tag for tag, value in tags.items() if not value}
        params = [p for p, ptags in self.params.items() if only <= ptags and not (ptags & exclude)]
        return collect_shared_vars(params) if unwrap_shared else params

    def get_output_shape_for(self, input_shape: Shape) -> Shape:
        """The output shape for an input of ``input_shape``; override when the layer changes it."""
        return input_shape

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        """The symbolic output for the symbolic ``input``; every layer implements it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_output_for")

    def add_param(self, spec: Any, shape: Sequence[int], name: str | None = None, **tags: bool) -> Any:
        """Create a parameter from ``spec`` (an initializer, array, shared variable or expression;
        see :func:`create_param`) of ``shape`` and register it with tags; ``trainable`` and
        ``regularizable`` default to True."""
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

    def __init__(self, incomings: Sequence[Any], name: str | None = None):
        self.input_shapes: list[Shape] = [inc.output_shape if _is_layer(inc) else tuple(inc) for inc in incomings]
        self.input_layers: list[Any] = [inc if _is_layer(inc) else None for inc in incomings]
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self) -> Shape:
        shape = _checked_shape(self, self.get_output_shape_for(self.input_shapes))
        return tuple(shape)

    def get_output_shape_for(self, input_shapes: list[Shape]) -> Shape:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} does not implement get_output_shape_for")

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} does not implement get_output_for")


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
