"""Layers that combine several inputs: ``ConcatLayer`` (alias ``concat``), ``ElemwiseMergeLayer``,
``ElemwiseSumLayer``; and ``autocrop`` / ``autocrop_array_shapes``, which crop inputs of
different sizes to a common one (the ``cropping`` argument of the layers)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from functools import reduce
from typing import Any

import symdl.tensor as T
from symdl.layers.base import MergeLayer
from symdl.tensor.shape import shape_i

__all__ = [
    "autocrop",
    "autocrop_array_shapes",
    "ConcatLayer",
    "concat",
    "ElemwiseMergeLayer",
    "ElemwiseSumLayer",
]

CROP_MODES = ("lower", "center", "upper")


def _crop_modes(cropping: Sequence[str | None], ndim: int) -> list[str | None]:
    """One crop mode per axis (``cropping`` padded with None), each checked."""
    modes = list(cropping)
    if len(modes) > ndim:
        raise ValueError(f"autocrop: {len(modes)} crop modes {tuple(modes)} for inputs of {ndim} axes")
    for mode in modes:
        if mode is not None and mode not in CROP_MODES:
            raise ValueError(f"autocrop: unknown crop mode {mode!r}; use one of {CROP_MODES} or None")
    return modes + [None] * (ndim - len(modes))


def autocrop(inputs: Sequence[Any], cropping: Sequence[str | None] | None) -> list[Any]:
    """Crop tensors of the same number of axes to their smallest size along the axes named in
    ``cropping``: one entry per leading axis, ``None`` (leave the axis alone), ``'lower'`` (keep
    the first elements), ``'center'`` (the middle ones, rounding the offset down) or ``'upper'``
    (the last ones). ``cropping=None`` returns the inputs unchanged.

    >>> import numpy as np, symdl.tensor as T
    >>> a, b = T.constant(np.arange(5.0)), T.constant(np.arange(3.0))
    >>> [x.eval() for x in autocrop([a, b], ['center'])]
    [array([1., 2., 3.]), array([0., 1., 2.])]
    """
    if cropping is None:
        return list(inputs)
    inputs = [T.as_tensor_variable(x) for x in inputs]
    ndims = [x.ndim for x in inputs]
    if len(set(ndims)) != 1:
        raise ValueError(f"autocrop: the inputs have different numbers of axes: {ndims}")
    modes = _crop_modes(cropping, ndims[0])
    index: list[list[Any]] = [[] for _ in inputs]
    for axis, mode in enumerate(modes):
        sizes = [x.type.shape[axis] if x.type.shape[axis] is not None else shape_i(x, axis) for x in inputs]
        if mode is None:
            common: Any = None
        elif all(isinstance(s, int) for s in sizes):
            common = builtins.min(sizes)
        else:
            common = reduce(T.minimum, sizes)
        for entries, size in zip(index, sizes):
            if mode is None or (isinstance(common, int) and size == common):
                entries.append(slice(None))
            elif mode == "lower":
                entries.append(slice(0, common))
            elif mode == "upper":
                entries.append(slice(size - common, None))
            else:
                start = (size - common) // 2
                entries.append(slice(start, start + common))
    return [x if all(s == slice(None) for s in entries) else x[tuple(entries)] for x, entries in zip(inputs, index)]


def autocrop_array_shapes(input_shapes: Sequence[tuple], cropping: Sequence[str | None] | None) -> list[tuple]:
    """The shapes ``autocrop`` gives inputs of ``input_shapes`` (``None`` for unknown sizes).

    >>> autocrop_array_shapes([(1, 5, 8), (2, 3, 9)], [None, 'lower', 'upper'])
    [(1, 3, 8), (2, 3, 8)]
    """
    if cropping is None:
        return [tuple(s) for s in input_shapes]
    ndims = [len(s) for s in input_shapes]
    if len(set(ndims)) != 1:
        raise ValueError(f"autocrop: the inputs have different numbers of axes: {list(input_shapes)}")
    columns = []
    for sizes, mode in zip(zip(*input_shapes), _crop_modes(cropping, ndims[0])):
        if mode is None:
            columns.append(sizes)
        else:
            common = None if any(s is None for s in sizes) else builtins.min(sizes)
            columns.append((common,) * len(sizes))
    return [tuple(shape) for shape in zip(*columns)]


def _merge_sizes(layer: MergeLayer, input_shapes: list[tuple], skip_axis: int | None = None) -> list[Any]:
    """Per axis, the one known size all inputs agree on (``None`` if none is known)."""
    ndims = {len(s) for s in input_shapes}
    if len(ndims) != 1:
        raise ValueError(f"{layer._label()}: inputs have different numbers of axes: {input_shapes}")
    sizes: list[Any] = []
    for axis, column in enumerate(zip(*input_shapes)):
        known = {s for s in column if s is not None}
        if axis != skip_axis and len(known) > 1:
            raise ValueError(f"{layer._label()}: input shapes {input_shapes} disagree on axis {axis}")
        sizes.append(known.pop() if len(known) == 1 else None)
    return sizes


def _check_shapes_now(layer: MergeLayer) -> None:
    """Compute the output shape at construction, where the user built the layer, when the input
    shapes are known (they are not for stand-in input layers such as test mocks)."""
    if all(isinstance(s, tuple) for s in layer.input_shapes):
        layer.output_shape  # noqa: B018


class ConcatLayer(MergeLayer):
    """Concatenates its inputs along ``axis``; the other axes must match (after cropping).

    Parameters
    ----------
    incomings : list of Layer or tuple
    axis : int
        The axis to concatenate along (negative counts from the end).
    cropping : None or list of crop modes
        Crop the inputs to a common size along the other axes first (see ``autocrop``; the
        concatenation axis is never cropped).

    >>> from symdl import layers
    >>> a, b = layers.InputLayer((None, 3)), layers.InputLayer((None, 5))
    >>> layers.ConcatLayer([a, b]).output_shape
    (None, 8)
    """

    def __init__(
        self, incomings: Sequence[Any], axis: int = 1, cropping: Sequence[str | None] | None = None, **kwargs: Any
    ):
        super().__init__(incomings, **kwargs)
        self.axis = axis
        self.cropping = None if cropping is None else list(cropping)
        _check_shapes_now(self)

    def _cropping(self, ndim: int) -> list[str | None] | None:
        """The crop modes, never cropping the concatenation axis."""
        if self.cropping is None:
            return None
        modes = _crop_modes(self.cropping, ndim)
        modes[self.axis % ndim] = None
        return modes

    def get_output_shape_for(self, input_shapes: list[tuple]) -> tuple:  # type: ignore[override]
        input_shapes = autocrop_array_shapes(input_shapes, self._cropping(len(input_shapes[0])))
        axis = self.axis % len(input_shapes[0])
        sizes = _merge_sizes(self, input_shapes, skip_axis=axis)
        along = [s[axis] for s in input_shapes]
        sizes[axis] = None if any(s is None for s in along) else sum(along)
        return tuple(sizes)

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        return T.concatenate(autocrop(inputs, self._cropping(T.as_tensor_variable(inputs[0]).ndim)), axis=self.axis)


concat = ConcatLayer


class ElemwiseMergeLayer(MergeLayer):
    """Combines same-shaped inputs with a binary ``merge_function`` (e.g. ``T.mul``, ``T.maximum``),
    applied from left to right; ``cropping`` as for ``ConcatLayer``."""

    def __init__(
        self,
        incomings: Sequence[Any],
        merge_function: Callable,
        cropping: Sequence[str | None] | None = None,
        **kwargs: Any,
    ):
        super().__init__(incomings, **kwargs)
        self.merge_function = merge_function
        self.cropping = None if cropping is None else list(cropping)
        _check_shapes_now(self)

    def get_output_shape_for(self, input_shapes: list[tuple]) -> tuple:  # type: ignore[override]
        return tuple(_merge_sizes(self, autocrop_array_shapes(input_shapes, self.cropping)))

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        return reduce(self.merge_function, autocrop(inputs, self.cropping))


class ElemwiseSumLayer(ElemwiseMergeLayer):
    """Sums its inputs, each times its coefficient (``coeffs``: one number or one per input), as in
    residual connections.

    >>> from symdl import layers
    >>> a, b = layers.InputLayer((None, 3)), layers.InputLayer((None, 3))
    >>> layers.ElemwiseSumLayer([a, b], coeffs=[1, -1]).output_shape
    (None, 3)
    """

    def __init__(
        self, incomings: Sequence[Any], coeffs: Any = 1, cropping: Sequence[str | None] | None = None, **kwargs: Any
    ):
        super().__init__(incomings, merge_function=T.add, cropping=cropping, **kwargs)
        if isinstance(coeffs, list | tuple):
            if len(coeffs) != len(incomings):
                raise ValueError(f"ElemwiseSumLayer: got {len(coeffs)} coefficients for {len(incomings)} inputs")
            self.coeffs = list(coeffs)
        else:
            self.coeffs = [coeffs] * len(incomings)

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        scaled = [x if c == 1 else x * c for x, c in zip(inputs, self.coeffs)]
        return super().get_output_for(scaled, **kwargs)
