"""Layers that rearrange their input: ``ReshapeLayer``, ``FlattenLayer``, ``DimshuffleLayer``,
``PadLayer``, ``SliceLayer`` (and Lasagne's lower-case aliases ``reshape``, ``flatten``,
``dimshuffle``, ``pad``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import symdl.tensor as T
from symdl.graph.basic import Variable
from symdl.layers.base import Layer
from symdl.theano_extensions import padding

__all__ = [
    "ReshapeLayer",
    "reshape",
    "FlattenLayer",
    "flatten",
    "DimshuffleLayer",
    "dimshuffle",
    "PadLayer",
    "pad",
    "SliceLayer",
]


class ReshapeLayer(Layer):
    """Reshapes the input to ``shape``.

    Entries of ``shape`` are positive sizes, one ``-1`` (inferred), ``[i]``, meaning the size of
    input axis ``i`` (useful for the unknown batch size), or symbolic int scalars.

    >>> from symdl import layers
    >>> l = layers.ReshapeLayer(layers.InputLayer((None, 64)), ([0], 1, 8, -1))
    >>> l.output_shape
    (None, 1, 8, 8)
    """

    def __init__(self, incoming: Any, shape: Sequence[Any], **kwargs: Any):
        super().__init__(incoming, **kwargs)
        shape = tuple(shape)
        for s in shape:
            if isinstance(s, list):
                if len(s) != 1 or not isinstance(s[0], int | np.integer) or s[0] < 0:
                    raise ValueError("ReshapeLayer: input references must be single-element lists of ints >= 0")
            elif isinstance(s, Variable):
                if s.ndim != 0 or np.dtype(s.dtype).kind not in "iu":
                    raise ValueError(f"ReshapeLayer: a symbolic size must be an integer scalar, got {s.type}")
            elif not isinstance(s, int | np.integer) or s == 0 or s < -1:
                raise ValueError(f"ReshapeLayer: sizes must be positive ints, -1, [axis] or int scalars, got {s!r}")
        if sum(1 for s in shape if isinstance(s, int | np.integer) and s == -1) > 1:
            raise ValueError("ReshapeLayer: shape cannot contain more than one -1")
        self.shape = shape
        self.output_shape  # noqa: B018 -- checks the sizes now, where the user built the layer

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        # Symbolic sizes (a shape computed from a variable's .shape) count as unknown.
        input_shape = tuple(None if isinstance(d, Variable) else d for d in input_shape)
        output: list[Any] = list(self.shape)
        masked_in = list(input_shape)
        masked_out = list(output)
        for dim, o in enumerate(output):
            if isinstance(o, list):
                if o[0] >= len(input_shape):
                    raise ValueError(
                        f"ReshapeLayer: the shape {self.shape} refers to [{o[0]}], but the input shape "
                        f"{input_shape} has {len(input_shape)} axes"
                    )
                output[dim] = masked_out[dim] = input_shape[o[0]]
                if input_shape[o[0]] is None and masked_in[o[0]] is None:
                    # An unknown size copied through (the first time) cancels out of the size check.
                    masked_in[o[0]] = masked_out[dim] = 1
            elif isinstance(o, Variable):
                output[dim] = masked_out[dim] = None
        in_size = None if any(d is None for d in masked_in) else int(np.prod(masked_in))
        out_size = None if any(d is None for d in masked_out) else int(np.prod(masked_out))
        if -1 in output:
            dim = output.index(-1)
            if in_size is None or out_size is None:
                output[dim] = None
                out_size = None
            else:
                output[dim] = in_size // -out_size
                out_size = -out_size * output[dim]
        if in_size is not None and out_size is not None and in_size != out_size:
            raise ValueError(
                f"ReshapeLayer: an input of shape {input_shape} cannot be reshaped to {self.shape}: the total "
                f"sizes do not match ({in_size} elements do not fit {out_size})"
            )
        return tuple(output)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        shape = [input.shape[o[0]] if isinstance(o, list) else o for o in self.shape]
        return T.reshape(input, shape, ndim=len(shape))


reshape = ReshapeLayer


class FlattenLayer(Layer):
    """Keeps the first ``outdim - 1`` axes and flattens the rest into one.

    >>> from symdl import layers
    >>> layers.FlattenLayer(layers.InputLayer((None, 16, 4, 4))).output_shape
    (None, 256)
    """

    def __init__(self, incoming: Any, outdim: int = 2, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        if outdim < 1:
            raise ValueError(f"FlattenLayer: outdim must be >= 1, got {outdim}")
        self.outdim = outdim

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        to_flatten = input_shape[self.outdim - 1 :]
        size = None if any(s is None for s in to_flatten) else int(np.prod(to_flatten))
        return tuple(input_shape[: self.outdim - 1]) + (size,)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return T.flatten(input, self.outdim)


flatten = FlattenLayer


class DimshuffleLayer(Layer):
    """Reorders axes and adds broadcastable ones (``'x'``), as ``tensor.dimshuffle``; an axis left
    out must have size 1.

    >>> from symdl import layers
    >>> layers.DimshuffleLayer(layers.InputLayer((None, 3, 5)), (0, 2, 'x', 1)).output_shape
    (None, 5, 1, 3)
    """

    def __init__(self, incoming: Any, pattern: Sequence[int | str], **kwargs: Any):
        super().__init__(incoming, **kwargs)
        used = set()
        for p in pattern:
            if isinstance(p, int | np.integer):
                if p in used:
                    raise ValueError(f"DimshuffleLayer: axis {p} appears twice in {tuple(pattern)}")
                used.add(int(p))
            elif p != "x":
                raise ValueError(f"DimshuffleLayer: pattern entries must be ints or 'x', got {p!r}")
        self.pattern = tuple(pattern)
        self.output_shape  # noqa: B018 -- checks the pattern against the input shape now

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        output = []
        for p in self.pattern:
            if p == "x":
                output.append(1)
            elif p >= len(input_shape):
                raise ValueError(
                    f"DimshuffleLayer: pattern {self.pattern} names axis {p} of a {len(input_shape)}-d input"
                )
            else:
                output.append(input_shape[p])
        for axis, size in enumerate(input_shape):
            if axis not in self.pattern and size is not None and size != 1:
                raise ValueError(
                    f"DimshuffleLayer: pattern {self.pattern} drops axis {axis} of size {size}; only size-1 axes can go"
                )
        return tuple(output)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return input.dimshuffle(self.pattern)


dimshuffle = DimshuffleLayer


class PadLayer(Layer):
    """Pads the trailing axes (all but the first ``batch_ndim``) with ``val``, through
    :func:`symdl.theano_extensions.padding.pad` (as Lasagne's).

    Parameters
    ----------
    width : int, or per padded axis an int or a pair ``(before, after)``
        How many entries to add on each side; a sequence may name fewer axes than there are,
        the first ones after the batch axes.
    val : float
        The value of the padding.
    batch_ndim : int
        How many leading axes are left alone (2: batch and channels of images).

    >>> from symdl import layers
    >>> layers.PadLayer(layers.InputLayer((None, 3, 8, 8)), width=(1, (2, 0))).output_shape
    (None, 3, 10, 10)
    """

    def __init__(self, incoming: Any, width: Any, val: float = 0, batch_ndim: int = 2, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.width = width
        self.val = val
        self.batch_ndim = batch_ndim

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        return padding.padded_shape(input_shape, self.width, self.batch_ndim)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return padding.pad(input, self.width, self.val, self.batch_ndim)


pad = PadLayer


class SliceLayer(Layer):
    """Takes ``indices`` (an int, which removes the axis, or a slice) along ``axis``.

    >>> from symdl import layers
    >>> l_in = layers.InputLayer((None, 10))
    >>> layers.SliceLayer(l_in, slice(2, 8, 2)).output_shape, layers.SliceLayer(l_in, 0).output_shape
    ((None, 3), (None,))
    """

    def __init__(self, incoming: Any, indices: int | slice, axis: int = -1, **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.slice = indices
        self.axis = axis

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        output = list(input_shape)
        if isinstance(self.slice, int | np.integer):
            del output[self.axis]
        elif input_shape[self.axis] is not None:
            output[self.axis] = len(range(*self.slice.indices(input_shape[self.axis])))
        else:
            output[self.axis] = None
        return tuple(output)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        axis = self.axis % input.ndim
        return input[(slice(None),) * axis + (self.slice,)]
