"""Local response normalization (Krizhevsky et al., 2012) across channels, and the op it rests on.

``local_response_normalization(x, n, k, alpha, beta)`` divides each activation by
``(k + alpha * sum of the squares of the n neighbouring channels) ** beta``. The sum over a
window of channels is the op ``WindowSum``; the rest is elementwise, so it fuses on every
backend and the gradient comes from the chain rule: ``WindowSum`` is linear, and since its
window is centred and zero-padded it is its own adjoint.

>>> import numpy as np, symdl.tensor as T
>>> x = T.dtensor4('x')
>>> window_sum(x, 3).eval({x: np.arange(4.0).reshape(1, 4, 1, 1)}).ravel()
array([1., 3., 6., 5.])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.config import config
from symdl.errors import ShapeError
from symdl.graph.basic import Apply, Op, Variable
from symdl.tensor import elemwise as ew
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


def window_sum_np(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """NumPy: the sum over a centred window of odd ``size`` along ``axis``, zeros past the ends."""
    half = size // 2
    length = x.shape[axis]
    out = np.zeros_like(x)
    # Each offset adds one shifted copy of x (a few for usual windows): exact, unlike differences
    # of a cumulative sum, which lose the small channels next to large ones in float32.
    for offset in range(-half, half + 1):
        lo, hi = max(0, -offset), min(length, length - offset)
        if lo >= hi:
            continue
        dst = [slice(None)] * x.ndim
        src = [slice(None)] * x.ndim
        dst[axis], src[axis] = slice(lo, hi), slice(lo + offset, hi + offset)
        out[tuple(dst)] += x[tuple(src)]
    return out


class WindowSum(Op):
    """``out[..., i, ...] = sum(x[..., j, ...] for |j - i| <= size // 2)`` along ``axis``, with
    zeros past both ends; ``size`` is odd. Output of ``x``'s type.

    Linear and self-adjoint (the window is symmetric): its gradient is ``WindowSum`` of the output
    gradient.
    """

    __props__ = ("size", "axis")
    view_map: dict = {}  # a new array (read by the execution planner)

    def __init__(self, size: int, axis: int):
        if not isinstance(size, int | np.integer) or size < 1 or size % 2 == 0:
            raise ValueError(f"window_sum: size must be a positive odd int, got {size!r}")
        self.size, self.axis = int(size), int(axis)

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.ndim:
            raise ShapeError(f"window_sum: axis {self.axis} is out of range for {x.type} ({describe(x)})")
        return Apply(self, [x], [x.type])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [window_sum_np(inputs[0], self.size, self.axis)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        return [self(grads[0])]

    def __str__(self) -> str:
        return f"window_sum{{size={self.size}, axis={self.axis}}}"


def window_sum(x: Any, size: int, axis: int = 1) -> Variable:
    """Sum ``x`` over a centred window of odd ``size`` along ``axis`` (channels by default),
    counting zeros past the ends, as a moving sum that keeps the length."""
    x = as_tensor_variable(x)
    return WindowSum(size, axis % x.ndim if x.ndim else axis)(x)


def local_response_normalization(
    x: Any, n: int = 5, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, axis: int = 1
) -> Variable:
    """Local response normalization across channels, as Lasagne's and cuda-convnet's:
    ``x / (k + alpha * window_sum(x ** 2, n)) ** beta`` (``alpha`` is not divided by ``n``).

    Parameters
    ----------
    x : tensor (NCHW images: normalized across axis 1)
    n : the odd number of channels in each window
    k, alpha, beta : the offset, scale and exponent of the divisor
    axis : the channel axis

    Examples
    --------
    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dtensor4('x')
    >>> out = local_response_normalization(x, n=3, k=1.0, alpha=1.0, beta=1.0)
    >>> out.eval({x: np.array([1.0, 2.0]).reshape(1, 2, 1, 1)}).ravel()
    array([0.16666667, 0.33333333])
    """
    if n % 2 == 0:
        raise ValueError(f"local_response_normalization: n must be odd, got {n}")
    x = as_tensor_variable(x)
    if not x.type.is_float:
        x = ew.cast(x, config.floatX)
    scale = k + alpha * window_sum(ew.sqr(x), n, axis)
    return x / scale**beta


__all__ = ["WindowSum", "local_response_normalization", "window_sum"]
