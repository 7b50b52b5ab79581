"""NumPy functions that are not elementwise, reductions or linear algebra (Theano's
``tensor.extra_ops``): cumulative sums and products, differences, counting, sorted search,
unique values, diagonal filling, selection by a condition, and flat/multi index conversion.

``repeat``, ``squeeze`` and ``to_one_hot`` live with the shape and creation ops and are
re-exported here under Theano's module path.

>>> import numpy as np, symdl.tensor as T
>>> from symdl.tensor import extra_ops
>>> x = T.dvector('x')
>>> extra_ops.cumsum(x).eval({x: np.array([1.0, 2.0, 3.0])})
array([1., 3., 6.])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.creation import to_one_hot
from symdl.tensor.shape import repeat, squeeze
from symdl.tensor.type import INT_DTYPES, TensorType
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


def _axis(x: Variable, axis: int, opname: str) -> int:
    from symdl.tensor.reduction import normalize_axis

    return normalize_axis(axis, x.ndim, opname, x)[0]


def _flip(x: Variable, axis: int) -> Variable:
    return x[(slice(None),) * axis + (slice(None, None, -1),)]


def _int_tensor(x: Any, opname: str, what: str) -> Variable:
    x = as_tensor_variable(x)
    if x.dtype not in INT_DTYPES and x.dtype != "bool":
        raise TypeMismatch(f"{opname}: {what} must be integers, got {x.type} ({describe(x)})")
    return x


# ---------------------------------------------------------------- cumulative sum and product
class CumOp(Op):
    """``np.cumsum`` (``mode='add'``) or ``np.cumprod`` (``mode='mul'``) along ``axis``.

    Gradient of the sum: the reversed cumulative sum of ``g``. Of the product:
    ``reverse_cumsum(g * out) / x``, which (as in Theano) is undefined where ``x`` is 0.
    """

    __props__ = ("axis", "mode")
    view_map: dict = {}  # a new array (read by the execution planner)

    def __init__(self, axis: int, mode: str = "add"):
        if mode not in ("add", "mul"):
            raise ValueError(f"CumOp: mode must be 'add' or 'mul', got {mode!r}")
        self.axis, self.mode = int(axis), mode

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        fn = np.cumsum if self.mode == "add" else np.cumprod
        dtype = fn(np.zeros(1, dtype=x.dtype)).dtype  # NumPy's accumulator: small integers widen
        return Apply(self, [x], [TensorType(dtype, x.type.shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        fn = np.cumsum if self.mode == "add" else np.cumprod
        return [fn(inputs[0], axis=self.axis, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        (x,), (out,), (g,) = inputs, outputs, grads
        if self.mode == "add":
            return [_flip(CumOp(self.axis)(_flip(g, self.axis)), self.axis)]
        return [_flip(CumOp(self.axis)(_flip(g * out, self.axis)), self.axis) / x]

    def __str__(self) -> str:
        return f"{'cumsum' if self.mode == 'add' else 'cumprod'}{{axis={self.axis}}}"


def _cumulative(x: Any, axis: int | None, mode: str, opname: str) -> Variable:
    from symdl.tensor.shape import flatten

    x = as_tensor_variable(x)
    if axis is None:
        x, axis = flatten(x), 0
    if x.ndim == 0:
        raise ShapeError(f"{opname}: axis {axis} is out of range for a scalar ({describe(x)})")
    return CumOp(_axis(x, axis, opname), mode)(x)


def cumsum(x: Any, axis: int | None = None) -> Variable:
    """Cumulative sum along ``axis`` (of the flattened tensor when None), ``np.cumsum``.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dmatrix('x')
    >>> T.cumsum(x, axis=1).eval({x: np.ones((2, 3))})
    array([[1., 2., 3.],
           [1., 2., 3.]])
    """
    return _cumulative(x, axis, "add", "cumsum")


def cumprod(x: Any, axis: int | None = None) -> Variable:
    """Cumulative product along ``axis`` (of the flattened tensor when None), ``np.cumprod``.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> T.cumprod(x).eval({x: np.array([1.0, 2.0, 3.0])})
    array([1., 2., 6.])
    """
    return _cumulative(x, axis, "mul", "cumprod")


def diff(x: Any, n: int = 1, axis: int = -1) -> Variable:
    """The ``n``-th discrete difference along ``axis``, ``np.diff``.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> T.diff(x).eval({x: np.array([1.0, 4.0, 9.0])})
    array([3., 5.])
    """
    x = as_tensor_variable(x)
    if x.ndim == 0:
        raise ShapeError(f"diff needs at least a 1-d tensor, got a scalar ({describe(x)})")
    if int(n) < 0:
        raise ValueError(f"diff: order n must be non-negative, got {n}")
    axis = _axis(x, axis, "diff")
    head = (slice(None),) * axis
    for _ in range(int(n)):
        x = x[head + (slice(1, None),)] - x[head + (slice(None, -1),)]
    return x


# ---------------------------------------------------------------- counting and searching
class BinCount(Op):
    """``np.bincount(x, weights, minlength)``: how often each non-negative integer occurs in
    ``x`` (or the sum of ``weights`` there). Its length depends on the values.

    Gradient (of the weights): ``g[x]``.
    """

    __props__ = ("minlength",)

    def __init__(self, minlength: int = 0):
        self.minlength = int(minlength)

    def make_node(self, x: Any, weights: Any = None) -> Apply:
        from symdl.tensor.elemwise import cast

        x = _int_tensor(x, "bincount", "the values")
        if x.ndim != 1:
            raise ShapeError(f"bincount takes a vector, got {x.type} ({describe(x)})")
        inputs = [x]
        dtype = "int64"
        if weights is not None:
            weights = as_tensor_variable(weights)
            if weights.ndim != 1:
                raise ShapeError(f"bincount: weights must be a vector, got {weights.type} ({describe(weights)})")
            if x.type.shape[0] is not None and weights.type.shape[0] not in (None, x.type.shape[0]):
                raise ShapeError(
                    f"bincount: {weights.type.shape[0]} weights for {x.type.shape[0]} values ({describe(weights)})"
                )
            inputs.append(cast(weights, "float64"))  # NumPy sums the weights in double
            dtype = "float64"
        return Apply(self, inputs, [TensorType(dtype, (None,))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x = inputs[0]
        weights = inputs[1] if len(inputs) > 1 else None
        if x.size and x.min() < 0:
            raise ValueError(f"bincount: the values must be non-negative, got {x.min()}")
        return [np.bincount(x, weights, self.minlength).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.elemwise import cast, maximum
        from symdl.tensor.reduction import max as tmax
        from symdl.tensor.shape import concatenate
        from symdl.tensor.var import constant

        # max(x) + 1, or 0 for an empty x (the -1 appended), and at least minlength.
        values = concatenate([cast(node.inputs[0], "int64"), constant(np.array([-1], dtype="int64"))])
        return [[maximum(tmax(values) + 1, self.minlength)]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        if len(inputs) == 1:
            return [None]
        return [None, grads[0][inputs[0]]]

    def __str__(self) -> str:
        return "bincount"


def bincount(x: Any, weights: Any = None, minlength: int | None = None, assert_nonneg: bool = False) -> Variable:
    """How often each value of the non-negative integer vector ``x`` occurs (the sum of
    ``weights`` there, if given), ``np.bincount``; at least ``minlength`` entries. A negative
    value raises when the function runs (``assert_nonneg`` is accepted for Theano's signature).

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.lvector('x')
    >>> T.bincount(x, minlength=4).eval({x: np.array([0, 2, 2])})
    array([1, 0, 2, 0])
    """
    op = BinCount(minlength or 0)
    return op(x) if weights is None else op(x, weights)


class SearchSorted(Op):
    """``np.searchsorted(x, v, side, sorter)``: where to insert ``v`` in the sorted vector ``x``
    to keep it sorted (int64 indices of ``v``'s shape; no gradient)."""

    __props__ = ("side",)
    differentiable = False

    def __init__(self, side: str = "left"):
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        self.side = side

    def make_node(self, x: Any, v: Any, sorter: Any = None) -> Apply:
        x, v = as_tensor_variable(x), as_tensor_variable(v)
        if x.ndim != 1:
            raise ShapeError(f"searchsorted: the sorted array must be a vector, got {x.type} ({describe(x)})")
        inputs = [x, v]
        if sorter is not None:
            sorter = _int_tensor(sorter, "searchsorted", "sorter")
            if sorter.ndim != 1:
                raise ShapeError(f"searchsorted: sorter must be a vector, got {sorter.type} ({describe(sorter)})")
            inputs.append(sorter)
        return Apply(self, inputs, [TensorType("int64", v.type.shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, v = inputs[:2]
        sorter = inputs[2] if len(inputs) > 2 else None
        return [np.asarray(np.searchsorted(x, v, self.side, sorter), dtype="int64")]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[1])]

    def __str__(self) -> str:
        return f"searchsorted{{side={self.side!r}}}"


def searchsorted(x: Any, v: Any, side: str = "left", sorter: Any = None) -> Variable:
    """Indices where the values ``v`` would go in the sorted vector ``x``, ``np.searchsorted``.

    >>> import numpy as np, symdl.tensor as T
    >>> x, v = T.dvector('x'), T.dvector('v')
    >>> T.searchsorted(x, v).eval({x: np.array([1.0, 2.0, 3.0]), v: np.array([2.5, 0.0])})
    array([2, 0])
    """
    return SearchSorted(side)(x, v) if sorter is None else SearchSorted(side)(x, v, sorter)


class Unique(Op):
    """``np.unique`` with its optional outputs (index, inverse, counts; int64). The output sizes
    depend on the values. No gradient: which elements survive is a discrete choice."""

    __props__ = ("return_index", "return_inverse", "return_counts", "axis")
    differentiable = False

    def __init__(
        self, return_index: bool = False, return_inverse: bool = False, return_counts: bool = False, axis: Any = None
    ):
        self.return_index, self.return_inverse = bool(return_index), bool(return_inverse)
        self.return_counts = bool(return_counts)
        self.axis = None if axis is None else int(axis)

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if self.axis is None:
            values = TensorType(x.dtype, (None,))
            inverse_shape: tuple = (None,) * x.ndim
        else:
            axis = _axis(x, self.axis, "unique")
            if axis != self.axis:
                return Unique(self.return_index, self.return_inverse, self.return_counts, axis).make_node(x)
            values = TensorType(x.dtype, tuple(None if i == axis else d for i, d in enumerate(x.type.shape)))
            inverse_shape = (x.type.shape[axis],)
        outs = [values]
        if self.return_index:
            outs.append(TensorType("int64", (None,)))
        if self.return_inverse:
            outs.append(TensorType("int64", inverse_shape))
        if self.return_counts:
            outs.append(TensorType("int64", (None,)))
        return Apply(self, [x], outs)

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        result = np.unique(
            inputs[0],
            return_index=self.return_index,
            return_inverse=self.return_inverse,
            return_counts=self.return_counts,
            axis=self.axis,
        )
        result = result if isinstance(result, tuple) else (result,)
        return [np.asarray(result[0])] + [np.asarray(r, dtype="int64") for r in result[1:]]

    def __str__(self) -> str:
        return "unique"


def unique(
    ar: Any, return_index: bool = False, return_inverse: bool = False, return_counts: bool = False, axis: Any = None
) -> Any:
    """The sorted unique values of ``ar`` (of the flattened tensor, or the unique slices along
    ``axis``), with the optional index, inverse and counts outputs of ``np.unique``.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.lvector('x')
    >>> values, counts = T.unique(x, return_counts=True)
    >>> counts.eval({x: np.array([3, 1, 3])})
    array([1, 2])
    """
    out = Unique(return_index, return_inverse, return_counts, axis)(ar)
    return tuple(out) if isinstance(out, list) else out


# ---------------------------------------------------------------- diagonals and selection
class FillDiagonal(Op):
    """``a`` with diagonal ``offset`` set to the scalar ``val`` (``np.fill_diagonal`` for offset
    0, where a tensor of more than 2 dimensions must have all dimensions equal).

    Gradient: ``g`` with that diagonal zeroed for ``a``; the sum of ``g`` on it for ``val``.
    """

    __props__ = ("offset",)

    def __init__(self, offset: int = 0):
        self.offset = int(offset)

    def make_node(self, a: Any, val: Any) -> Apply:
        from symdl.tensor.elemwise import _resolve_weak, cast

        a, val = as_tensor_variable(a), as_tensor_variable(val)
        a, val = _resolve_weak([a, val], "fill_diagonal")
        if a.ndim < 2:
            raise ShapeError(f"fill_diagonal takes a tensor of at least 2 dimensions, got {a.type} ({describe(a)})")
        if val.ndim != 0:
            raise ShapeError(f"fill_diagonal: val must be a scalar, got {val.type} ({describe(val)})")
        if a.ndim > 2:
            if self.offset:
                raise ShapeError(f"fill_diagonal: an offset needs a matrix, got {a.type} ({describe(a)})")
            known = {d for d in a.type.shape if d is not None}
            if len(known) > 1:
                raise ShapeError(
                    f"fill_diagonal: a {a.ndim}-d tensor must have all dimensions equal, got {a.type} ({describe(a)})"
                )
        dtype = str(np.result_type(a.dtype, val.dtype))
        if dtype != a.dtype:
            a = cast(a, dtype)
        return Apply(self, [a, cast(val, dtype)], [a.type])

    def _positions(self, shape: tuple) -> tuple:
        if len(shape) > 2:
            steps = np.arange(min(shape))
            return (steps,) * len(shape)
        rows, cols = shape
        length = max(0, min(rows + min(self.offset, 0), cols - max(self.offset, 0)))
        steps = np.arange(length)
        return steps + max(-self.offset, 0), steps + max(self.offset, 0)

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        a, val = inputs
        if a.ndim > 2 and len(set(a.shape)) > 1:
            raise ShapeError(f"fill_diagonal: a {a.ndim}-d array must have all dimensions equal, got shape {a.shape}")
        out = a.copy()
        out[self._positions(a.shape)] = val
        return [out]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.reduction import sum as tsum

        (a, _), (g,) = inputs, grads
        if a.ndim > 2:
            from symdl.tensor.creation import arange
            from symdl.tensor.shape import shape_i

            steps = arange(shape_i(a, 0))
            on_diagonal = g[(steps,) * a.ndim]
        else:
            from symdl.tensor.nlinalg import extract_diag

            on_diagonal = extract_diag(g, self.offset)
        return [FillDiagonal(self.offset)(g, 0), tsum(on_diagonal)]

    def __str__(self) -> str:
        return "fill_diagonal" if not self.offset else f"fill_diagonal{{offset={self.offset}}}"


def fill_diagonal(a: Any, val: Any) -> Variable:
    """``a`` with its main diagonal set to the scalar ``val`` (a copy: ``np.fill_diagonal`` works
    in place). A tensor of more than 2 dimensions must have all dimensions equal.

    >>> import numpy as np, symdl.tensor as T
    >>> a = T.dmatrix('a')
    >>> T.fill_diagonal(a, 5.0).eval({a: np.zeros((2, 3))})
    array([[5., 0., 0.],
           [0., 5., 0.]])
    """
    return FillDiagonal(0)(a, val)


def fill_diagonal_offset(a: Any, val: Any, offset: int) -> Variable:
    """The matrix ``a`` with diagonal ``offset`` (above the main one if positive) set to ``val``."""
    return FillDiagonal(offset)(a, val)


def compress(condition: Any, x: Any, axis: int | None = None) -> Variable:
    """The slices of ``x`` along ``axis`` (of the flattened ``x`` when None) where the boolean
    vector ``condition`` is True, ``np.compress``; a shorter ``condition`` drops the rest.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dmatrix('x')
    >>> T.compress(np.array([False, True]), x, axis=0).eval({x: np.arange(6.0).reshape(3, 2)})
    array([[2., 3.]])
    """
    from symdl.tensor.elemwise import cast
    from symdl.tensor.shape import flatten, shape_i

    condition, x = as_tensor_variable(condition), as_tensor_variable(x)
    if condition.ndim != 1:
        raise ShapeError(f"compress: condition must be a vector, got {condition.type} ({describe(condition)})")
    if condition.dtype != "bool":
        condition = cast(condition, "bool")
    if axis is None:
        x, axis = flatten(x), 0
    axis = _axis(x, axis, "compress")
    head = (slice(None),) * axis
    kept = x[head + (slice(None, shape_i(condition, 0)),)]
    return kept[head + (condition,)]


# ---------------------------------------------------------------- index conversion
def _dims_vector(dims: Any, opname: str) -> tuple[Variable, int]:
    from symdl.tensor.shape import _as_shape_vector

    if isinstance(dims, Variable):
        vector = _int_tensor(dims, opname, "dims")
        if vector.ndim != 1 or vector.type.shape[0] is None:
            raise ShapeError(f"{opname}: dims must be a vector of known length, got {vector.type} ({describe(vector)})")
        from symdl.tensor.elemwise import cast

        return cast(vector, "int64"), vector.type.shape[0]
    vector, _ = _as_shape_vector(dims)
    return vector, vector.type.shape[0]


class UnravelIndex(Op):
    """``np.unravel_index(indices, dims, order)``: one int64 array of coordinates per dimension."""

    __props__ = ("order",)
    differentiable = False

    def __init__(self, order: str = "C"):
        if order not in ("C", "F"):
            raise ValueError(f"unravel_index: order must be 'C' or 'F', got {order!r}")
        self.order = order

    def make_node(self, indices: Any, dims: Any) -> Apply:
        indices = _int_tensor(indices, "unravel_index", "indices")
        dims, n = _dims_vector(dims, "unravel_index")
        return Apply(self, [indices, dims], [TensorType("int64", indices.type.shape) for _ in range(n)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        indices, dims = inputs
        coords = np.unravel_index(indices, tuple(int(d) for d in dims), order=self.order)
        return [np.asarray(c, dtype="int64") for c in coords]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0]) for _ in node.outputs]

    def __str__(self) -> str:
        return "unravel_index"


def unravel_index(indices: Any, dims: Any, order: str = "C") -> tuple[Variable, ...]:
    """The coordinates of flat ``indices`` in an array of shape ``dims``, ``np.unravel_index``:
    a tuple with one int64 tensor per dimension (``dims`` needs a known length).

    >>> import numpy as np, symdl.tensor as T
    >>> i = T.lvector('i')
    >>> rows, cols = T.unravel_index(i, (3, 4))
    >>> cols.eval({i: np.array([5, 11])})
    array([1, 3])
    """
    out = UnravelIndex(order)(indices, dims)
    return tuple(out) if isinstance(out, list) else (out,)


class RavelMultiIndex(Op):
    """``np.ravel_multi_index(multi_index, dims, mode, order)``: flat int64 indices from one
    integer tensor of coordinates per dimension (their shapes broadcast)."""

    __props__ = ("mode", "order")
    differentiable = False

    def __init__(self, mode: str = "raise", order: str = "C"):
        if mode not in ("raise", "wrap", "clip"):
            raise ValueError(f"ravel_multi_index: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
        if order not in ("C", "F"):
            raise ValueError(f"ravel_multi_index: order must be 'C' or 'F', got {order!r}")
        self.mode, self.order = mode, order

    def make_node(self, *inputs: Any) -> Apply:
        from symdl.tensor.elemwise import broadcast_static_shapes

        *coords, dims = inputs
        coords = [_int_tensor(c, "ravel_multi_index", "the coordinates") for c in coords]
        dims, n = _dims_vector(dims, "ravel_multi_index")
        if n != len(coords):
            raise ShapeError(f"ravel_multi_index: {len(coords)} coordinate arrays for {n} dimensions")
        shape = broadcast_static_shapes("ravel_multi_index", coords)
        return Apply(self, [*coords, dims], [TensorType("int64", shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        *coords, dims = inputs
        flat = np.ravel_multi_index(tuple(coords), tuple(int(d) for d in dims), mode=self.mode, order=self.order)
        return [np.asarray(flat, dtype="int64")]

    def __str__(self) -> str:
        return "ravel_multi_index"


def ravel_multi_index(multi_index: Sequence[Any], dims: Any, mode: str = "raise", order: str = "C") -> Variable:
    """Flat indices into an array of shape ``dims`` from a sequence of coordinate tensors (one
    per dimension), ``np.ravel_multi_index``.

    >>> import numpy as np, symdl.tensor as T
    >>> r, c = T.lvector('r'), T.lvector('c')
    >>> T.ravel_multi_index((r, c), (3, 4)).eval({r: np.array([1, 2]), c: np.array([1, 3])})
    array([ 5, 11])
    """
    return RavelMultiIndex(mode, order)(*multi_index, dims)


__all__ = [
    "bincount",
    "compress",
    "cumprod",
    "cumsum",
    "diff",
    "fill_diagonal",
    "fill_diagonal_offset",
    "ravel_multi_index",
    "repeat",
    "searchsorted",
    "squeeze",
    "to_one_hot",
    "unique",
    "unravel_index",
]


# ---------------------------------------------------------------- C implementations
# input dtype -> the accumulator dtype the runtime's cumulate entry takes it to
_CUMULATE_C = {"float32": "float32", "float64": "float64", "int64": "int64", "int32": "int64"}


@register_impl("c", CumOp)
def _cumulative_in_c(node: Apply, c: Any) -> str | None:
    x, out = node.inputs[0], node.outputs[0]
    if _CUMULATE_C.get(x.dtype) != out.dtype:
        return None
    mul = int(node.op.mode == "mul")
    return c.call("cumulate", c.slot(x), c.slot(out), node.op.axis, mul, c.dtype_code(out.dtype))
