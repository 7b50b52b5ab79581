"""Constant padding of the trailing axes of a tensor (Lasagne's ``theano_extensions.padding``).

``pad`` computes the padded tensor and ``padded_shape`` its static shape; ``PadLayer``
(:mod:`symdl.layers.shape`) is built on the two, so the layer and the function read widths the
same way: an int pads every axis after the first ``batch_ndim`` on both sides; a sequence gives
per axis an int or a pair ``(before, after)`` and may name fewer axes than there are (the first
ones after the batch axes, as Lasagne's).

>>> import numpy as np, symdl.tensor as T
>>> x = T.fmatrix('x')
>>> pad(x, 1, val=7).eval({x: np.zeros((2, 2), 'float32')})    # axis 0 is the batch
array([[7., 0., 0., 7.],
       [7., 0., 0., 7.]], dtype=float32)
>>> pad(x, [(0, 1), (2, 0)], batch_ndim=0).eval({x: np.ones((1, 1), 'float32')})
array([[0., 0., 1.],
       [0., 0., 0.]], dtype=float32)
>>> padded_shape((None, 3, 8, 8), (1, (2, 0)), batch_ndim=2)
(None, 3, 10, 10)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import TypeMismatch

__all__ = ["pad", "pad_widths", "padded_shape"]


def pad_widths(width: int | Sequence[Any], ndim: int, batch_ndim: int, who: str = "pad") -> list[tuple[int, int]]:
    """``(before, after)`` for each padded axis of an ``ndim``-d tensor, in order from axis
    ``batch_ndim``; shorter than ``ndim - batch_ndim`` when ``width`` names fewer axes.

    >>> pad_widths(2, 4, 2), pad_widths([1, (0, 3)], 4, 1)
    ([(2, 2), (2, 2)], [(1, 1), (0, 3)])
    """
    count = ndim - batch_ndim
    entries = [width] * count if isinstance(width, int | np.integer) else list(width)
    if len(entries) > count:
        raise ValueError(
            f"{who}: {len(entries)} widths for the {count} axes after batch_ndim={batch_ndim} of a {ndim}-d tensor"
        )
    widths = []
    for axis, entry in enumerate(entries, start=batch_ndim):
        pair = (entry, entry) if isinstance(entry, int | np.integer) else tuple(entry)
        if len(pair) != 2 or not all(isinstance(v, int | np.integer) and v >= 0 for v in pair):
            raise ValueError(f"{who}: widths must be non-negative ints or pairs of them, got {entry!r} for axis {axis}")
        widths.append((int(pair[0]), int(pair[1])))
    return widths


def padded_shape(shape: Sequence[Any], width: int | Sequence[Any], batch_ndim: int = 1) -> tuple:
    """The shape of ``pad(x, width, batch_ndim=batch_ndim)`` for an ``x`` of ``shape`` (entries
    ``None`` where unknown stay ``None``)."""
    out = list(shape)
    for axis, (before, after) in enumerate(pad_widths(width, len(out), batch_ndim), start=batch_ndim):
        if out[axis] is not None:
            out[axis] = out[axis] + before + after
    return tuple(out)


def pad(x: Any, width: int | Sequence[Any], val: Any = 0, batch_ndim: int = 1) -> Any:
    """``x`` padded with ``val`` on both sides of the axes after the first ``batch_ndim``.

    Parameters
    ----------
    x : symbolic tensor
    width : int (every padded axis, both sides), or per padded axis an int or a pair
        ``(before, after)``; a sequence may name fewer axes than there are.
    val : the value of the padding (cast to ``x``'s dtype).
    batch_ndim : how many leading axes are left alone.

    The result has ``x``'s dtype and a static shape wherever ``x`` has one (``x`` itself when
    every width is 0); its gradient is the gradient of the padded result cropped back to ``x``.
    """
    import symdl.tensor as T
    from symdl.tensor.shape import shape_tuple

    x = T.as_tensor_variable(x)
    widths = pad_widths(width, x.ndim, batch_ndim)
    if isinstance(val, T.Variable) and val.ndim != 0:
        raise TypeMismatch(f"pad: the padding value must be a scalar, got {val.type}")
    if all(w == (0, 0) for w in widths):
        return x
    dims = list(shape_tuple(x))
    index: list[Any] = [slice(None)] * x.ndim
    for axis, (before, after) in enumerate(widths, start=batch_ndim):
        index[axis] = slice(before, before + dims[axis])
        dims[axis] = dims[axis] + before + after
    out = T.alloc(T.cast(val, x.dtype), *dims)
    return T.set_subtensor(out[tuple(index)], x)
