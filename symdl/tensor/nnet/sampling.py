"""Bilinear sampling of images at arbitrary points (spatial transformer networks), and the
gather / scatter-add pair of ops it is built on.

``bilinear_sample(input, grid)`` reads each image of ``input`` (NCHW) at the points of ``grid``
(``(N, out_rows, out_cols, 2)``, ``(x, y)`` in [-1, 1] from the first to the last pixel centre, as
PyTorch's ``grid_sample`` with ``align_corners=True``), mixing the four pixels around each point.
The pixel lookup is the op ``BatchGather``; the corner indices and the bilinear weights are
elementwise expressions of the grid, so the gradient with respect to the grid (a piecewise
linear function of it) comes from the chain rule, and the gradient with respect to the image is
``BatchScatterAdd``, the adjoint of the lookup. The two ops are each other's gradients, so
sampling can be differentiated any number of times.

``affine_grid(theta, rows, cols)`` is the sampling grid of an affine transformation (the
spatial transformer of Jaderberg et al., 2015).

>>> import numpy as np, symdl.tensor as T
>>> img = T.dtensor4('img')
>>> grid = T.dtensor4('grid')
>>> out = bilinear_sample(img, grid)
>>> image = np.arange(4.0).reshape(1, 1, 2, 2)
>>> out.eval({img: image, grid: np.array([[[[0.0, 0.0], [1.0, -1.0]]]])})
array([[[[1.5, 1. ]]]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Op, Variable
from symdl.tensor import elemwise as ew
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable, constant
from symdl.utils import describe

BORDER_MODES = ("nearest", "mirror", "wrap")


def _same_batch(what: str, first: Variable, second: Variable) -> int | None:
    """The batch size (axis 0) both operands share, if known; ShapeError if they differ."""
    a, b = first.type.shape[0], second.type.shape[0]
    if a is not None and b is not None and a != b:
        raise ShapeError(
            f"{what}: batch sizes differ: {first.type} ({describe(first)}) and {second.type} ({describe(second)})"
        )
    return a if a is not None else b


def _check_indices(idx: Variable, what: str) -> None:
    if idx.ndim != 2 or np.dtype(idx.dtype).kind not in "iu":
        raise TypeMismatch(
            f"{what}: the indices must be a matrix of integers (batch, k), got {idx.type} ({describe(idx)})"
        )


class BatchGather(Op):
    """``out[b, c, k] = x[b, c, idx[b, k]]``: inputs ``x`` of shape ``(batch, channels, n)`` and
    integer ``idx`` of shape ``(batch, k)`` with entries in ``[0, n)``; output ``(batch,
    channels, k)`` of ``x``'s dtype. Each batch entry has its own indices, shared by its channels
    (pixels of an image looked up in every channel at once).

    Gradient with respect to ``x``: ``BatchScatterAdd`` of the output gradient to the same indices.
    """

    __props__ = ()
    view_map: dict = {}  # a new array (read by the execution planner)

    def make_node(self, x: Any, idx: Any) -> Apply:
        x, idx = as_tensor_variable(x), as_tensor_variable(idx)
        if x.ndim != 3:
            raise ShapeError(f"batch_gather: x must be 3-d (batch, channels, n), got {x.type} ({describe(x)})")
        _check_indices(idx, "batch_gather")
        batch = _same_batch("batch_gather", x, idx)
        return Apply(self, [x, idx], [TensorType(x.dtype, (batch, x.type.shape[1], idx.type.shape[1]))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, idx = inputs
        if x.shape[0] != idx.shape[0]:
            raise ShapeError(f"batch_gather: {x.shape[0]} images but indices for {idx.shape[0]}")
        if idx.size and (idx.min() < 0 or idx.max() >= x.shape[2]):
            raise IndexError(f"batch_gather: indices must lie in [0, {x.shape[2]}), got [{idx.min()}, {idx.max()}]")
        return [np.take_along_axis(x, idx[:, None, :], axis=2)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        x_shape, idx_shape = input_shapes
        return [[x_shape[0], x_shape[1], idx_shape[1]]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.shape import shape_i

        x, idx = inputs
        if not x.type.is_float:
            return [None, None]
        return [BatchScatterAdd()(grads[0], idx, shape_i(x, 2)), None]

    def __str__(self) -> str:
        return "batch_gather"


class BatchScatterAdd(Op):
    """The adjoint of ``BatchGather``: ``out[b, c, idx[b, k]] += g[b, c, k]`` into zeros of shape
    ``(batch, channels, n)``. Inputs ``g`` of shape ``(batch, channels, k)``, integer ``idx`` of
    shape ``(batch, k)`` and the scalar ``n``; output of ``g``'s dtype. Repeated indices add up.

    Gradient with respect to ``g``: ``BatchGather`` of the output gradient at the same indices.
    """

    __props__ = ()
    view_map: dict = {}  # a new array (read by the execution planner)

    def make_node(self, g: Any, idx: Any, n: Any) -> Apply:
        g, idx, n = as_tensor_variable(g), as_tensor_variable(idx), as_tensor_variable(n)
        if g.ndim != 3:
            raise ShapeError(f"batch_scatter_add: g must be 3-d (batch, channels, k), got {g.type} ({describe(g)})")
        _check_indices(idx, "batch_scatter_add")
        if n.ndim != 0 or np.dtype(n.dtype).kind not in "iu":
            raise TypeMismatch(f"batch_scatter_add: n must be an integer scalar, got {n.type} ({describe(n)})")
        batch = _same_batch("batch_scatter_add", g, idx)
        k = g.type.shape[2]
        if k is not None and idx.type.shape[1] is not None and k != idx.type.shape[1]:
            raise ShapeError(
                f"batch_scatter_add: {shape_str(g.type.shape)} values for {shape_str(idx.type.shape)} indices"
            )
        size = int(n.data) if isinstance(n, Constant) else None
        return Apply(self, [g, idx, n], [TensorType(g.dtype, (batch, g.type.shape[1], size))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        g, idx, n = inputs
        n = int(n)
        batch, channels, k = g.shape
        if idx.shape != (batch, k):
            raise ShapeError(f"batch_scatter_add: values of shape {g.shape} for indices of shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"batch_scatter_add: indices must lie in [0, {n}), got [{idx.min()}, {idx.max()}]")
        # One bincount over the flattened (batch, channel, position) index: vectorized, and it
        # adds repeated indices (np.add.at does too, an order of magnitude slower).
        rows = (np.arange(batch)[:, None] * channels + np.arange(channels)[None, :]) * n
        flat = rows[:, :, None] + idx[:, None, :]
        total = np.bincount(flat.ravel(), weights=g.ravel(), minlength=batch * channels * n)
        return [total.reshape(batch, channels, n).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        g_shape, _, _ = input_shapes
        return [[g_shape[0], g_shape[1], node.inputs[2]]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        g, idx, _ = inputs
        if not g.type.is_float:
            return [None, None, None]
        return [BatchGather()(grads[0], idx), None, None]

    def __str__(self) -> str:
        return "batch_scatter_add"


def batch_gather(x: Any, idx: Any) -> Variable:
    """``x[b, c, idx[b, k]]`` for every ``b, c, k`` (see ``BatchGather``).

    >>> import numpy as np, symdl.tensor as T
    >>> x, idx = T.dtensor3('x'), T.lmatrix('idx')
    >>> batch_gather(x, idx).eval({x: np.arange(6.0).reshape(1, 2, 3), idx: [[2, 0]]})
    array([[[2., 0.],
            [5., 3.]]])
    """
    return BatchGather()(x, idx)


def _border_index(corner: Variable, size: Any, border_mode: str) -> Variable:
    """Integer pixel indices in ``[0, size)`` for the float pixel positions ``corner``."""
    if border_mode == "nearest":
        inside = ew.clip(corner, 0, size - 1)
    elif border_mode == "mirror":
        # Reflection about the first and last pixels has period 2 (size - 1); a one-pixel axis
        # reflects everything onto pixel 0.
        period = max(2 * (size - 1), 1) if isinstance(size, float) else ew.maximum(2 * (size - 1), 1)
        inside = ew.minimum(ew.mod(corner, period), ew.mod(-corner, period))
    else:
        inside = ew.mod(corner, size)
    return ew.cast(inside, "int64")


def bilinear_sample(input: Any, grid: Any, border_mode: str = "nearest") -> Variable:
    """Sample the images ``input`` at the points ``grid`` by bilinear interpolation.

    Parameters
    ----------
    input : 4-d float tensor ``(batch, channels, rows, cols)``
    grid : 4-d float tensor ``(batch, out_rows, out_cols, 2)``: for each output pixel, the
        ``(x, y)`` position to read, with -1 and 1 the centres of the first and last column (``x``)
        or row (``y``).
    border_mode : where points outside the image read: 'nearest' (the closest edge pixel),
        'mirror' (the image reflected about its edge pixels) or 'wrap' (the image repeated), as
        Lasagne's ``TransformerLayer``.

    Returns
    -------
    ``(batch, channels, out_rows, out_cols)``, of the result dtype of ``input`` and ``grid``.
    Differentiable with respect to both (the gradient with respect to ``grid`` is that of the
    piecewise bilinear interpolant; it jumps where a point crosses a pixel centre).

    Examples
    --------
    >>> import numpy as np, symdl.tensor as T
    >>> img, grid = T.dtensor4('img'), T.dtensor4('grid')
    >>> out = bilinear_sample(img, grid, border_mode='wrap')
    >>> out.eval({img: np.array([[[[0.0, 10.0]]]]), grid: np.array([[[[2.0, 0.0]]]])})
    array([[[[5.]]]])
    """
    from symdl.tensor.reduction import sum as tsum
    from symdl.tensor.shape import reshape, shape_tuple, stack

    if border_mode not in BORDER_MODES:
        raise ValueError(f"bilinear_sample: border_mode must be one of {BORDER_MODES}, got {border_mode!r}")
    input, grid = as_tensor_variable(input), as_tensor_variable(grid)
    if input.ndim != 4 or not input.type.is_float:
        raise TypeMismatch(
            f"bilinear_sample: input must be a 4-d float tensor (batch, channels, rows, cols), got {input.type} "
            f"({describe(input)})"
        )
    if grid.ndim != 4 or not grid.type.is_float or grid.type.shape[3] not in (2, None):
        raise TypeMismatch(
            f"bilinear_sample: grid must be a 4-d float tensor (batch, out_rows, out_cols, 2), got {grid.type} "
            f"({describe(grid)})"
        )
    _same_batch("bilinear_sample", input, grid)
    batch, channels, rows, cols = shape_tuple(input)
    out_rows, out_cols = shape_tuple(grid)[1:3]
    ftype = grid.dtype

    def as_float(size: Any) -> Any:
        return float(size) if isinstance(size, int) else ew.cast(size, ftype)

    # Pixel coordinates: -1 -> 0, 1 -> size - 1.
    x = (grid[:, :, :, 0] + 1) * ((as_float(cols) - 1) / 2)
    y = (grid[:, :, :, 1] + 1) * ((as_float(rows) - 1) / 2)
    x0, y0 = ew.floor(x), ew.floor(y)
    fx, fy = x - x0, y - y0
    col0, col1 = (_border_index(c, as_float(cols), border_mode) for c in (x0, x0 + 1))
    row0, row1 = (_border_index(r, as_float(rows), border_mode) for r in (y0, y0 + 1))
    corners = stack([row0 * cols + col0, row0 * cols + col1, row1 * cols + col0, row1 * cols + col1], axis=1)
    weights = stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], axis=1)
    # Batch sizes from each operand, so that BatchGather sees (and reports) a mismatch.
    grid_batch = shape_tuple(grid)[0]
    pixels = BatchGather()(reshape(input, (batch, channels, rows * cols)), reshape(corners, (grid_batch, -1)))
    pixels = reshape(pixels, (grid_batch, channels, 4, out_rows, out_cols))
    return tsum(pixels * weights.dimshuffle(0, "x", 1, 2, 3), axis=2)


def linspace_minus1_1(n: Any, dtype: str) -> Variable:
    """``np.linspace(-1, 1, n)`` for an int or a symbolic int ``n`` (``[-1]`` when ``n`` is 1)."""
    from symdl.tensor.creation import arange

    if isinstance(n, int | np.integer):
        return constant(np.linspace(-1, 1, int(n)).astype(dtype))
    step = 2 / ew.cast(ew.maximum(n - 1, 1), dtype)
    return arange(n, dtype=dtype) * step - 1


def affine_grid(theta: Any, rows: Any, cols: Any) -> Variable:
    """The sampling grid ``(batch, rows, cols, 2)`` of the affine maps ``theta`` (``(batch, 2, 3)``
    or ``(batch, 6)``): output pixel ``(x_t, y_t)``, on a regular grid over [-1, 1]^2, reads
    input position ``theta @ (x_t, y_t, 1)``. ``rows`` and ``cols`` are ints or symbolic ints.

    >>> import numpy as np, symdl.tensor as T
    >>> theta = T.dmatrix('theta')
    >>> affine_grid(theta, 1, 3).eval({theta: [[2.0, 0, 0, 0, 1, 0]]})[0, 0]
    array([[-2.,  0.],
           [ 0.,  0.],
           [ 2.,  0.]])
    """
    from symdl.tensor.blas import dot
    from symdl.tensor.shape import broadcast_to, concatenate, reshape, shape_i

    theta = as_tensor_variable(theta)
    if not theta.type.is_float or theta.ndim not in (2, 3) or theta.type.shape[-1] not in (None, 3, 6):
        raise TypeMismatch(f"affine_grid: theta must be (batch, 2, 3) or (batch, 6) floats, got {theta.type}")
    dtype = theta.dtype
    xs, ys = linspace_minus1_1(cols, dtype), linspace_minus1_1(rows, dtype)
    # (3, rows * cols): the homogeneous coordinates (x_t, y_t, 1) of every output pixel, row-major.
    if isinstance(rows, int | np.integer) and isinstance(cols, int | np.integer):
        gx, gy = np.meshgrid(xs.data, ys.data)
        base: Any = constant(np.stack([gx.ravel(), gy.ravel(), np.ones(gx.size, dtype)]).astype(dtype))
    else:
        from symdl.tensor.creation import ones

        gx = broadcast_to(xs.dimshuffle("x", "x", 0), (1, rows, cols))
        gy = broadcast_to(ys.dimshuffle("x", 0, "x"), (1, rows, cols))
        base = reshape(concatenate([gx, gy, ones((1, rows, cols), dtype)], axis=0), (3, -1))
    batch = shape_i(theta, 0)
    # One product for the whole batch: (batch * 2, 3) @ (3, rows * cols).
    points = dot(reshape(theta, (-1, 3)), base)
    return reshape(points, (batch, 2, rows, cols)).dimshuffle(0, 2, 3, 1)


__all__ = [
    "BORDER_MODES",
    "BatchGather",
    "BatchScatterAdd",
    "affine_grid",
    "batch_gather",
    "bilinear_sample",
    "linspace_minus1_1",
]
