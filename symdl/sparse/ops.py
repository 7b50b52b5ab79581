"""The ops behind ``symdl.sparse``: each works on the dense arrays of a compressed sparse row
(CSR) matrix, ``data`` (the stored values), ``indices`` (their columns, int32), ``indptr`` (where
each row starts in ``data``, int32) and ``shape`` (an int64 pair), so a compiled graph holds only
tensors. A CSC matrix is the CSR matrix of its transpose, and uses the same ops.

Kernels are NumPy: segment sums (``np.add.reduceat``) for products by rows, unbuffered scatter-adds
(``np.add.at``) for products by columns, ``np.take`` for gathers. Duplicate entries (several
values stored for one position) add up, as in SciPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


# ---------------------------------------------------------------- NumPy kernels
def row_of_each_entry(indptr: np.ndarray) -> np.ndarray:
    """The row of every stored entry: ``rows[k]`` is the i with ``indptr[i] <= k < indptr[i+1]``."""
    counts = np.diff(indptr)
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def _row_sums(contributions: np.ndarray, indptr: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[i] = sum(contributions[indptr[i]:indptr[i+1]])`` (rows without entries stay 0)."""
    if contributions.shape[0] == 0:
        return out
    starts = indptr[:-1]
    nonempty = indptr[1:] > starts
    if nonempty.all():
        out[...] = np.add.reduceat(contributions, starts, axis=0)
    else:
        out[nonempty] = np.add.reduceat(contributions, starts[nonempty], axis=0)
    return out


def _scatter_add(out: np.ndarray, positions: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``out[positions[k]] += values[k]`` for every k, repeated positions included."""
    if out.ndim == 1:
        np.add.at(out, positions, values)
    else:  # NumPy's fast path is one-dimensional: scatter into the flat array
        width = out.shape[1]
        flat = (positions.astype(np.int64)[:, None] * width + np.arange(width)).reshape(-1)
        np.add.at(out.reshape(-1), flat, values.reshape(-1))
    return out


def csr_matmul(
    data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, n_cols: int, b: np.ndarray, transpose: bool, dtype: Any
) -> np.ndarray:
    """``A @ b`` (or ``A.T @ b``) for the CSR matrix ``A`` of ``n_cols`` columns."""
    n_rows = len(indptr) - 1
    out_rows = n_cols if transpose else n_rows
    out = np.zeros((out_rows,) + b.shape[1:], dtype=dtype)
    if len(data) == 0:
        return out
    weights = data if b.ndim == 1 else data[:, None]
    if not transpose:
        return _row_sums(weights * np.take(b, indices, axis=0), indptr, out)
    rows = row_of_each_entry(indptr)
    return _scatter_add(out, indices, (weights * np.take(b, rows, axis=0)).astype(dtype, copy=False))


def sampled_dot(indices: np.ndarray, indptr: np.ndarray, x: np.ndarray, y: np.ndarray, dtype: Any) -> np.ndarray:
    """``out[k] = x[row k] . y[column k]`` for every stored entry k (a product sampled at them)."""
    rows = row_of_each_entry(indptr)
    products = np.take(x, rows, axis=0) * np.take(y, indices, axis=0)
    return np.asarray(products if x.ndim == 1 else products.sum(axis=1), dtype=dtype)


# ---------------------------------------------------------------- checks
def _parts(data: Any, indices: Any, indptr: Any, shape: Any) -> list[Variable]:
    data, indices, indptr, shape = (as_tensor_variable(v) for v in (data, indices, indptr, shape))
    if data.ndim != 1:
        raise ShapeError(f"sparse values must be a vector, got {data.type} ({describe(data)})")
    for name, v in (("indices", indices), ("indptr", indptr)):
        if v.ndim != 1 or v.dtype != "int32":
            raise TypeMismatch(f"sparse {name} must be an int32 vector, got {v.type} ({describe(v)})")
    if shape.ndim != 1 or shape.dtype != "int64" or shape.type.shape[0] not in (None, 2):
        raise TypeMismatch(f"a sparse shape must be an int64 pair, got {shape.type} ({describe(shape)})")
    return [data, indices, indptr, shape]


# ---------------------------------------------------------------- ops
class CSRMatMul(Op):
    """``A @ b`` (``transpose=False``) or ``A.T @ b`` for a CSR matrix ``A`` (data, indices,
    indptr, shape) and a dense vector or matrix ``b``.

    Gradients: of ``b``, the product by the other orientation (``A.T @ g`` or ``A @ g``); of the
    values, the product of ``g`` and ``b`` sampled at the stored entries (``SampledDot``).
    """

    __props__ = ("transpose", "static_shape")

    def __init__(self, transpose: bool = False, static_shape: tuple = (None, None)):
        self.transpose = bool(transpose)
        self.static_shape = tuple(static_shape)

    def make_node(self, data: Any, indices: Any, indptr: Any, shape: Any, b: Any) -> Apply:
        from symdl.tensor.elemwise import cast

        parts = _parts(data, indices, indptr, shape)
        b = as_tensor_variable(b)
        if b.ndim not in (1, 2):
            raise ShapeError(f"a sparse matrix multiplies a vector or a matrix, got {b.type} ({describe(b)})")
        dtype = str(np.result_type(parts[0].dtype, b.dtype))
        parts[0] = cast(parts[0], dtype)
        b = cast(b, dtype)
        rows, cols = self.static_shape[::-1] if self.transpose else self.static_shape
        if cols is not None and b.type.shape[0] not in (None, cols):
            raise ShapeError(
                f"sparse dot: a matrix of {cols} columns cannot multiply {b.type} ({describe(b)}): "
                f"{cols} vs {b.type.shape[0]}"
            )
        return Apply(self, [*parts, b], [TensorType(dtype, (rows,) + b.type.shape[1:])])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        data, indices, indptr, shape, b = inputs
        inner = int(shape[0]) if self.transpose else int(shape[1])
        if b.shape[0] != inner:
            raise ShapeError(f"sparse dot: a {tuple(int(d) for d in shape)} matrix cannot multiply shape {b.shape}")
        dtype = node.outputs[0].dtype
        return [csr_matmul(data, indices, indptr, int(shape[1]), b, self.transpose, dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shape = node.inputs[3]
        return [[shape[1] if self.transpose else shape[0]] + list(input_shapes[4])[1:]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        data, indices, indptr, shape, b = inputs
        (g,) = grads
        g_b = CSRMatMul(not self.transpose, self.static_shape)(data, indices, indptr, shape, g)
        x, y = (b, g) if self.transpose else (g, b)
        g_data = SampledDot()(indices, indptr, x, y)
        return [g_data, None, None, None, g_b]

    def __str__(self) -> str:
        return "sparse_dot_transposed" if self.transpose else "sparse_dot"


class SampledDot(Op):
    """``out[k] = x[row k] . y[column k]`` at every stored entry k of a CSR pattern (indices,
    indptr): the gradient of a sparse product with respect to the sparse values.

    Gradients: ``x`` gets ``S @ y`` and ``y`` gets ``S.T @ x``, with ``S`` the sparse matrix of
    the pattern holding ``g``.
    """

    def make_node(self, indices: Any, indptr: Any, x: Any, y: Any) -> Apply:
        from symdl.tensor.elemwise import cast

        x, y = as_tensor_variable(x), as_tensor_variable(y)
        if x.ndim != y.ndim or x.ndim not in (1, 2):
            raise ShapeError(f"sampled_dot takes two vectors or two matrices, got {x.type} and {y.type}")
        dtype = str(np.result_type(x.dtype, y.dtype))
        indices, indptr = as_tensor_variable(indices), as_tensor_variable(indptr)
        return Apply(self, [indices, indptr, cast(x, dtype), cast(y, dtype)], [TensorType(dtype, indices.type.shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        indices, indptr, x, y = inputs
        return [sampled_dot(indices, indptr, x, y, node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.shape import shape_i, stack

        indices, indptr, x, y = inputs
        (g,) = grads
        shape = stack([shape_i(x, 0), shape_i(y, 0)])
        g_x = CSRMatMul(False)(g, indices, indptr, shape, y)
        g_y = CSRMatMul(True)(g, indices, indptr, shape, x)
        return [None, None, g_x, g_y]

    def __str__(self) -> str:
        return "sampled_dot"


class DenseFromSparse(Op):
    """The dense matrix of a CSR matrix (duplicate entries add up).

    Gradient of the values: ``g`` gathered at the stored entries.
    """

    __props__ = ("static_shape",)

    def __init__(self, static_shape: tuple = (None, None)):
        self.static_shape = tuple(static_shape)

    def make_node(self, data: Any, indices: Any, indptr: Any, shape: Any) -> Apply:
        parts = _parts(data, indices, indptr, shape)
        return Apply(self, parts, [TensorType(parts[0].dtype, self.static_shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        data, indices, indptr, shape = inputs
        n_rows, n_cols = (int(d) for d in shape)
        out = np.zeros(n_rows * n_cols, dtype=node.outputs[0].dtype)
        if len(data):
            np.add.at(out, row_of_each_entry(indptr) * n_cols + indices, data)
        return [out.reshape(n_rows, n_cols)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shape = node.inputs[3]
        return [[shape[0], shape[1]]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        data, indices, indptr, shape = inputs
        return [gather_entries(grads[0], indices, indptr), None, None, None]

    def __str__(self) -> str:
        return "dense_from_sparse"


def entry_rows(indptr: Variable) -> Variable:
    """The row of each stored entry of a CSR pattern, symbolically."""
    from symdl.tensor.creation import arange
    from symdl.tensor.extra_ops import diff
    from symdl.tensor.shape import repeat, shape_i

    return repeat(arange(shape_i(indptr, 0) - 1), diff(indptr), axis=0)


def gather_entries(dense: Variable, indices: Variable, indptr: Variable) -> Variable:
    """``dense[row k, column k]`` for every stored entry k of a CSR pattern."""
    return dense[entry_rows(indptr), indices]


class CSRFromDense(Op):
    """The CSR arrays (data, indices, indptr) of a dense matrix: its non-zero entries, row by row.
    How many there are depends on the values.

    Gradient: ``g_data`` written back at the positions it came from.
    """

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim != 2:
            raise ShapeError(f"a sparse matrix is made from a matrix, got {x.type} ({describe(x)})")
        rows = x.type.shape[0]
        outs = [
            TensorType(x.dtype, (None,)),
            TensorType("int32", (None,)),
            TensorType("int32", (None if rows is None else rows + 1,)),
        ]
        return Apply(self, [x], outs)

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        (x,) = inputs
        if x.shape[0] * max(x.shape[1], 1) >= 2**31:
            raise ShapeError(f"csr_from_dense: a {x.shape} matrix is too large for int32 indices")
        rows, cols = np.nonzero(x)
        indptr = np.zeros(x.shape[0] + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=x.shape[0]), out=indptr[1:])
        return [x[rows, cols], cols.astype(np.int32), indptr]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.elemwise import cast, neq
        from symdl.tensor.reduction import sum as tsum

        nnz = cast(tsum(neq(node.inputs[0], 0)), "int64")
        return [[nnz], [nnz], [input_shapes[0][0] + 1]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.shape import shape

        (x,) = inputs
        g_data = grads[0]
        if g_data is None:
            from symdl.tensor.creation import zeros_like

            return [zeros_like(x)]
        _, indices, indptr = outputs
        return [DenseFromSparse(x.type.shape)(g_data, indices, indptr, shape(x))]

    def __str__(self) -> str:
        return "csr_from_dense"
