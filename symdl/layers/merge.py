"""Layers that combine several inputs: ``ConcatLayer``, ``ElemwiseMergeLayer``, ``ElemwiseSumLayer``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import reduce
from typing import Any

import symdl.tensor as T
from symdl.layers.base import MergeLayer

__all__ = ["ConcatLayer", "concat", "ElemwiseMergeLayer", "ElemwiseSumLayer"]


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


class ConcatLayer(MergeLayer):
    """Concatenates its inputs along ``axis``; the other axes must match.

    >>> from symdl import layers
    >>> a, b = layers.InputLayer((None, 3)), layers.InputLayer((None, 5))
    >>> layers.ConcatLayer([a, b]).output_shape
    (None, 8)
    """

    def __init__(self, incomings: Sequence[Any], axis: int = 1, cropping: None = None, **kwargs: Any):
        if cropping is not None:
            raise ValueError("ConcatLayer: cropping is not supported; crop the inputs with SliceLayer first")
        super().__init__(incomings, **kwargs)
        self.axis = axis
        self.output_shape  # noqa: B018 -- checks the input shapes now

    def get_output_shape_for(self, input_shapes: list[tuple]) -> tuple:  # type: ignore[override]
        axis = self.axis % len(input_shapes[0])
        sizes = _merge_sizes(self, input_shapes, skip_axis=axis)
        along = [s[axis] for s in input_shapes]
        sizes[axis] = None if any(s is None for s in along) else sum(along)
        return tuple(sizes)

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        return T.concatenate(inputs, axis=self.axis)


concat = ConcatLayer


class ElemwiseMergeLayer(MergeLayer):
    """Combines same-shaped inputs with a binary ``merge_function`` (e.g. ``T.mul``, ``T.maximum``)."""

    def __init__(self, incomings: Sequence[Any], merge_function: Callable, cropping: None = None, **kwargs: Any):
        if cropping is not None:
            raise ValueError(f"{type(self).__name__}: cropping is not supported; crop the inputs with SliceLayer first")
        super().__init__(incomings, **kwargs)
        self.merge_function = merge_function
        self.output_shape  # noqa: B018 -- checks the input shapes now

    def get_output_shape_for(self, input_shapes: list[tuple]) -> tuple:  # type: ignore[override]
        return tuple(_merge_sizes(self, input_shapes))

    def get_output_for(self, inputs: list[Any], **kwargs: Any) -> Any:  # type: ignore[override]
        return reduce(self.merge_function, inputs)


class ElemwiseSumLayer(ElemwiseMergeLayer):
    """Sums its inputs, each times its coefficient (``coeffs``: one number or one per input), as in
    residual connections.

    >>> from symdl import layers
    >>> a, b = layers.InputLayer((None, 3)), layers.InputLayer((None, 3))
    >>> layers.ElemwiseSumLayer([a, b], coeffs=[1, -1]).output_shape
    (None, 3)
    """

    def __init__(self, incomings: Sequence[Any], coeffs: Any = 1, cropping: None = None, **kwargs: Any):
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
