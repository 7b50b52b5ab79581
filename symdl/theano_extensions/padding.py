"""Constant padding of the trailing axes of a tensor (Lasagne's ``theano_extensions.padding``).

>>> import numpy as np, symdl.tensor as T
>>> x = T.fmatrix('x')
>>> pad(x, 1, val=7).eval({x: np.zeros((2, 2), 'float32')})    # axis 0 is the batch
array([[7., 0., 0., 7.],
       [7., 0., 0., 7.]], dtype=float32)
>>> pad(x, [(0, 1), (2, 0)], batch_ndim=0).eval({x: np.ones((1, 1), 'float32')})
array([[0., 0., 1.],
       [0., 0., 0.]], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symdl.errors import TypeMismatch

__all__ = ["pad"]


def pad(x: Any, width: int | Sequence[Any], val: Any = 0, batch_ndim: int = 1) -> Any:
    """``x`` padded with ``val`` on both sides of every axis after the first ``batch_ndim``.

    Parameters
    ----------
    x : symbolic tensor
    width : int, or one entry per padded axis: an int (both sides) or a pair ``(before, after)``.
    val : the value of the padding (cast to ``x``'s dtype).
    batch_ndim : how many leading axes are left alone.

    The result has ``x``'s dtype and a static shape wherever ``x`` has one; its gradient is the
    gradient of the padded result cropped back to ``x``.
    """
    import symdl.tensor as T
    from symdl.tensor.shape import shape_tuple

    x = T.as_tensor_variable(x)
    padded_ndim = x.ndim - batch_ndim
    widths = [width] * padded_ndim if isinstance(width, int) else list(width)
    if len(widths) != padded_ndim:
        raise ValueError(
            f"pad: {len(widths)} widths for the {padded_ndim} axes after batch_ndim={batch_ndim} of a {x.ndim}-d tensor"
        )
    if isinstance(val, T.Variable) and val.ndim != 0:
        raise TypeMismatch(f"pad: the padding value must be a scalar, got {val.type}")
    dims = list(shape_tuple(x))
    index: list[Any] = [slice(None)] * x.ndim
    for k, w in enumerate(widths):
        before, after = (w, w) if isinstance(w, int) else tuple(w)
        if before < 0 or after < 0:
            raise ValueError(f"pad: widths must be non-negative, got {w} for axis {k + batch_ndim}")
        axis = k + batch_ndim
        index[axis] = slice(before, before + dims[axis])
        dims[axis] = dims[axis] + before + after
    out = T.alloc(T.cast(val, x.dtype), *dims)
    return T.set_subtensor(out[tuple(index)], x)
