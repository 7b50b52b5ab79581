"""Symbolic sparse matrices: a ``SparseVariable`` is a small structure over four tensors (the
values, their column or row indices, the row or column pointers, and the shape), so every op of
a compiled graph stays an op over dense arrays and runs on every backend.

Values come in and go out as SciPy sparse matrices (``pip install symdl[sparse]``); a 4-tuple
``(data, indices, indptr, shape)`` in the variable's format works as an input without SciPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symdl.errors import InputError, ShapeError, TypeMismatch
from symdl.graph.basic import Variable
from symdl.sparse.ops import CSRFromDense, CSRMatMul, DenseFromSparse
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable, constant

FORMATS = ("csr", "csc")


def _scipy_sparse() -> Any:
    try:
        import scipy.sparse
    except ImportError:
        raise ImportError(
            "symdl.sparse: SciPy is needed to make SciPy sparse matrices (a function returning a sparse "
            "matrix, as_sparse_variable of a SciPy matrix): pip install 'symdl[sparse]'"
        ) from None
    return scipy.sparse


def is_scipy_sparse(value: Any) -> bool:
    """Whether ``value`` is a SciPy sparse matrix or array (without importing SciPy)."""
    return type(value).__module__.startswith("scipy.sparse") and hasattr(value, "asformat")


class SparseVariable:
    """A symbolic 2-d sparse matrix in CSR (compressed rows) or CSC (compressed columns) format.

    It is made of four tensors: ``data`` (the stored values), ``indices`` (their column, for CSR,
    or row, for CSC; int32), ``indptr`` (where each row, or column, starts in ``data``; int32) and
    ``shape`` (an int64 pair). Differentiate with respect to the stored values with
    ``symdl.grad(cost, x.data)``: the gradient has the matrix's sparsity pattern.

    >>> import numpy as np, symdl, symdl.sparse as sp, symdl.tensor as T
    >>> x, w = sp.csr_matrix('x', dtype='float64'), T.dvector('w')
    >>> f = symdl.function([x, w], sp.dot(x, w))
    >>> data, indices, indptr = np.array([1.0, 2.0]), np.array([0, 2], 'int32'), np.array([0, 1, 2], 'int32')
    >>> f((data, indices, indptr, (2, 3)), np.array([1.0, 10.0, 100.0]))
    array([  1., 200.])
    """

    is_sparse = True  # tensors hand their arithmetic with it over to it (symdl.tensor.var)

    __array_ufunc__ = None  # NumPy arrays on the left defer to our reflected operators

    def __init__(
        self,
        format: str,
        data: Variable,
        indices: Variable,
        indptr: Variable,
        shape: Variable,
        static_shape: Sequence[int | None] = (None, None),
        name: str | None = None,
    ):
        if format not in FORMATS:
            raise ValueError(f"sparse format must be 'csr' or 'csc', got {format!r}")
        self.format = format
        self.data, self.indices, self.indptr, self.shape = data, indices, indptr, shape
        self.static_shape: tuple[int | None, ...] = tuple(None if d is None else int(d) for d in static_shape)
        self.name = name

    # ------------------------------------------------------------ description
    @property
    def dtype(self) -> str:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return 2

    @property
    def type(self) -> str:
        return f"{self.format}_matrix({self.dtype}, {shape_str(self.static_shape)})"

    def __repr__(self) -> str:
        return self.name or f"<{self.type}>"

    # ------------------------------------------------------------ the CSR view
    def _csr(self) -> tuple[Variable, Variable, Variable, Variable, tuple]:
        """(data, indices, indptr, shape, static shape) of the CSR matrix these arrays hold: the
        matrix itself for CSR, its transpose for CSC."""
        if self.format == "csr":
            return self.data, self.indices, self.indptr, self.shape, self.static_shape
        return self.data, self.indices, self.indptr, self.shape[::-1], self.static_shape[::-1]

    def _with_data(self, data: Variable) -> SparseVariable:
        return SparseVariable(self.format, data, self.indices, self.indptr, self.shape, self.static_shape)

    def _entries_of(self, dense: Variable) -> Variable:
        """The entries of the dense matrix ``dense`` (broadcast to this shape) at the stored
        positions, in the order of ``data``."""
        dense = as_tensor_variable(dense)
        if dense.ndim > 2:
            raise ShapeError(f"a sparse matrix meets a {dense.ndim}-d tensor {dense.type}; at most 2-d")
        if dense.ndim < 2:
            from symdl.tensor.shape import dimshuffle

            dense = dimshuffle(dense, ["x"] * (2 - dense.ndim) + list(range(dense.ndim)))
        for mine, theirs in zip(self.static_shape, dense.type.shape):
            if mine is not None and theirs not in (None, 1, mine):
                raise ShapeError(f"a {self.type} cannot meet a dense {dense.type}: shapes do not broadcast")
        from symdl.tensor.creation import zeros_like

        # The arrays hold the CSR matrix of x (CSR) or of x.T (CSC): read dense the same way.
        view = dense if self.format == "csr" else dense.T
        # Size-1 axes broadcast: index them with zeros, the others with the entries' rows/columns.
        positions = [_rows(self.indptr), self.indices]
        index = tuple(zeros_like(pos) if view.type.shape[axis] == 1 else pos for axis, pos in enumerate(positions))
        return view[index]

    # ------------------------------------------------------------ conversions
    def toarray(self) -> Variable:
        """The dense matrix (duplicate entries add up)."""
        data, indices, indptr, shape, static = self._csr()
        dense = DenseFromSparse(static)(data, indices, indptr, shape)
        return dense if self.format == "csr" else dense.T

    todense = toarray

    def transpose(self) -> SparseVariable:
        """The transpose: the same arrays read in the other format (no computation)."""
        other = "csc" if self.format == "csr" else "csr"
        return SparseVariable(other, self.data, self.indices, self.indptr, self.shape[::-1], self.static_shape[::-1])

    @property
    def T(self) -> SparseVariable:
        return self.transpose()

    def astype(self, dtype: str) -> SparseVariable:
        from symdl.tensor.elemwise import cast

        return self._with_data(cast(self.data, dtype))

    # ------------------------------------------------------------ arithmetic
    def __neg__(self) -> SparseVariable:
        return self._with_data(-self.data)

    def __abs__(self) -> SparseVariable:
        from symdl.tensor.elemwise import abs as tabs

        return self._with_data(tabs(self.data))

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, SparseVariable):
            raise NotImplementedError(
                "sparse * sparse is not implemented; multiply by other.toarray() to keep this pattern"
            )
        other = as_tensor_variable(other)
        if other.ndim == 0:
            return self._with_data(self.data * other)
        return self._with_data(self.data * self._entries_of(other))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> SparseVariable:
        if isinstance(other, SparseVariable):
            raise TypeError("sparse / sparse divides by the zeros of the denominator")
        other = as_tensor_variable(other)
        return self._with_data(self.data / (other if other.ndim == 0 else self._entries_of(other)))

    def __pow__(self, exponent: Any) -> SparseVariable:
        exponent = as_tensor_variable(exponent)
        if exponent.ndim != 0:
            raise ShapeError("a sparse matrix is raised to a scalar power only")
        return self._with_data(self.data**exponent)

    def __add__(self, other: Any) -> Variable:
        if isinstance(other, SparseVariable):
            return self.toarray() + other.toarray()
        return self.toarray() + other

    __radd__ = __add__

    def __sub__(self, other: Any) -> Variable:
        return self + (-other)

    def __rsub__(self, other: Any) -> Variable:
        return -self + other

    def __matmul__(self, other: Any) -> Variable:
        return dot(self, other)

    def __rmatmul__(self, other: Any) -> Variable:
        return dot(other, self)

    def dot(self, other: Any) -> Variable:
        return dot(self, other)

    def sum(self, axis: int | None = None) -> Variable:
        return sp_sum(self, axis)

    # ------------------------------------------------------------ function boundary
    def symdl_parts(self) -> list[Variable]:
        """The tensors that stand for this matrix in a compiled function."""
        return [self.data, self.indices, self.indptr, self.shape]

    def symdl_split(self, value: Any) -> list[np.ndarray]:
        """A SciPy sparse matrix (converted to this format if needed) or a 4-tuple
        ``(data, indices, indptr, shape)`` in this format, as checked arrays for the parts."""
        return split_value(value, self.format, self.static_shape, self.name or "a sparse input")

    def symdl_join(self, values: Sequence[np.ndarray]) -> Any:
        """The SciPy sparse matrix of computed parts."""
        data, indices, indptr, shape = values
        sparse = _scipy_sparse()
        make = sparse.csr_matrix if self.format == "csr" else sparse.csc_matrix
        return make((data, indices, indptr), shape=tuple(int(d) for d in shape))

    def eval(self, inputs: dict | None = None) -> Any:
        """Compile and run this matrix on ``{variable: value}`` inputs (slow; for the REPL)."""
        from symdl.compile.function import function

        inputs = inputs or {}
        return function(list(inputs), self, on_unused_input="ignore")(*inputs.values())


def split_value(value: Any, format: str, static_shape: Sequence[int | None], what: str) -> list[np.ndarray]:
    """``[data, indices, indptr, shape]`` of a SciPy sparse matrix (converted to ``format`` if
    needed) or of a 4-tuple in ``format``, checked for consistency (InputError otherwise)."""
    if is_scipy_sparse(value):
        if value.format != format:
            value = value.asformat(format)
        data, indices, indptr, shape = value.data, value.indices, value.indptr, value.shape
    elif isinstance(value, tuple | list) and len(value) == 4:
        data, indices, indptr, shape = value
    else:
        raise InputError(
            f"{what} expects a SciPy sparse matrix or a (data, indices, indptr, shape) tuple in "
            f"{format} format, got {type(value).__name__}"
        )
    shape = tuple(int(d) for d in shape)
    if len(shape) != 2:
        raise InputError(f"{what} expects a 2-d sparse matrix, got shape {shape}")
    for want, got in zip(static_shape, shape):
        if want is not None and want != got:
            raise InputError(f"{what} expects shape {shape_str(tuple(static_shape))}, got {shape}")
    data, indices, indptr = np.asarray(data), _as_int32(indices, what, "indices"), _as_int32(indptr, what, "indptr")
    major, minor = shape if format == "csr" else shape[::-1]
    consistent = data.ndim == 1 and indices.shape == data.shape and indptr.shape == (major + 1,)
    if not consistent or indptr[0] != 0 or indptr[-1] != len(data) or np.any(np.diff(indptr) < 0):
        raise InputError(
            f"{what}: inconsistent {format} arrays for shape {shape}: {data.size} values, {indices.size} "
            f"indices, {indptr.size} pointers (expected {major + 1}, from 0 up to the number of values)"
        )
    if len(indices) and (indices.min() < 0 or indices.max() >= minor):
        raise InputError(f"{what}: an index is out of range for shape {shape}")
    return [data, indices, indptr, np.array(shape, dtype=np.int64)]


def _as_int32(values: Any, what: str, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype == np.int32:
        return arr
    if arr.dtype.kind not in "iu":
        raise InputError(f"{what}: {name} must be integers, got {arr.dtype}")
    if arr.size and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
        raise InputError(f"{what}: {name} do not fit in int32")
    return arr.astype(np.int32)


def _rows(indptr: Variable) -> Variable:
    from symdl.sparse.ops import entry_rows

    return entry_rows(indptr)


def is_sparse_variable(x: Any) -> bool:
    """Whether ``x`` is a symbolic sparse matrix."""
    return isinstance(x, SparseVariable)


# ---------------------------------------------------------------- constructors
def matrix(
    format: str, name: str | None = None, dtype: str | None = None, shape: Sequence[int | None] = (None, None)
) -> SparseVariable:
    """A symbolic sparse matrix input in ``format`` ('csr' or 'csc') of ``dtype`` (default floatX)."""
    from symdl.config import config

    if format not in FORMATS:
        raise ValueError(f"sparse format must be 'csr' or 'csc', got {format!r}")
    dtype = dtype or config.floatX
    shape = tuple(shape)
    if len(shape) != 2:
        raise ShapeError(f"a sparse matrix has 2 dimensions, got shape {shape}")
    label = name or format
    major = shape[0] if format == "csr" else shape[1]
    data = TensorType(dtype, (None,)).make_variable(f"{label}.data")
    indices = TensorType("int32", (None,)).make_variable(f"{label}.indices")
    indptr = TensorType("int32", (None if major is None else major + 1,)).make_variable(f"{label}.indptr")
    shape_var = TensorType("int64", (2,)).make_variable(f"{label}.shape")
    return SparseVariable(format, data, indices, indptr, shape_var, shape, name)


def csr_matrix(
    name: str | None = None, dtype: str | None = None, shape: Sequence[int | None] = (None, None)
) -> SparseVariable:
    """A symbolic CSR (compressed sparse row) matrix input, Theano's ``sparse.csr_matrix``.

    >>> import symdl.sparse as sp
    >>> sp.csr_matrix('x', shape=(None, 1000))
    x
    """
    return matrix("csr", name, dtype, shape)


def csc_matrix(
    name: str | None = None, dtype: str | None = None, shape: Sequence[int | None] = (None, None)
) -> SparseVariable:
    """A symbolic CSC (compressed sparse column) matrix input, Theano's ``sparse.csc_matrix``."""
    return matrix("csc", name, dtype, shape)


def _from_parts(format: str, data: Any, indices: Any, indptr: Any, shape: Any) -> SparseVariable:
    from symdl.tensor.elemwise import cast
    from symdl.tensor.shape import _as_shape_vector

    shape_vector, static = _as_shape_vector(shape)
    if shape_vector.type.shape[0] not in (None, 2):
        raise ShapeError(f"a sparse matrix has 2 dimensions, got a shape of {shape_vector.type.shape[0]} entries")
    index_parts = []
    for what, v in (("indices", indices), ("indptr", indptr)):
        v = as_tensor_variable(v)
        if v.ndim != 1 or (v.dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint16")):
            raise TypeMismatch(f"sparse {what} must be an integer vector, got {v.type}")
        index_parts.append(cast(v, "int32"))
    data = as_tensor_variable(data)
    if data.ndim != 1:
        raise ShapeError(f"sparse values must be a vector, got {data.type}")
    return SparseVariable(format, data, *index_parts, shape_vector, static or (None, None))


def CSR(data: Any, indices: Any, indptr: Any, shape: Any) -> SparseVariable:
    """A CSR matrix from symbolic (or constant) parts: values, their columns, row pointers and
    the shape (Theano's ``sparse.CSR``); ``csm_properties`` takes one apart."""
    return _from_parts("csr", data, indices, indptr, shape)


def CSC(data: Any, indices: Any, indptr: Any, shape: Any) -> SparseVariable:
    """A CSC matrix from symbolic (or constant) parts: values, their rows, column pointers and
    the shape (Theano's ``sparse.CSC``)."""
    return _from_parts("csc", data, indices, indptr, shape)


def csm_properties(x: SparseVariable) -> tuple[Variable, Variable, Variable, Variable]:
    """``(data, indices, indptr, shape)`` of a sparse matrix (Theano's ``csm_properties``).

    >>> import numpy as np, symdl.sparse as sp, symdl.tensor as T
    >>> d = T.dvector('d')
    >>> x = sp.CSR(d, [0, 1], [0, 1, 2], (2, 2))
    >>> (x * 2).toarray().eval({d: np.array([1.0, 3.0])})
    array([[2., 0.],
           [0., 6.]])
    """
    x = as_sparse_variable(x)
    return x.data, x.indices, x.indptr, x.shape


def as_sparse_variable(x: Any, name: str | None = None) -> SparseVariable:
    """``x`` as a symbolic sparse matrix: a SparseVariable passes through; a SciPy sparse matrix
    becomes a constant (CSC stays CSC, other formats become CSR)."""
    if isinstance(x, SparseVariable):
        return x
    if not is_scipy_sparse(x):
        raise TypeMismatch(f"as_sparse_variable takes a sparse matrix, got {type(x).__name__}")
    fmt = x.format if x.format in FORMATS else "csr"
    parts = split_value(x, fmt, (None, None), name or "as_sparse_variable")
    return SparseVariable(fmt, *[constant(p) for p in parts], static_shape=x.shape, name=name)


as_sparse = as_sparse_variable


def _from_dense(x: Any, format: str) -> SparseVariable:
    from symdl.tensor.shape import shape as shape_of

    x = as_tensor_variable(x)
    if x.ndim != 2:
        raise ShapeError(f"{format}_from_dense takes a matrix, got {x.type}")
    source = x if format == "csr" else x.T
    data, indices, indptr = CSRFromDense()(source)
    return SparseVariable(format, data, indices, indptr, shape_of(x), x.type.shape)


def csr_from_dense(x: Any) -> SparseVariable:
    """The CSR matrix of the non-zero entries of the dense matrix ``x``.

    >>> import numpy as np, symdl.sparse as sp, symdl.tensor as T
    >>> x = T.dmatrix('x')
    >>> sp.csr_from_dense(x).data.eval({x: np.array([[0.0, 2.0], [3.0, 0.0]])})
    array([2., 3.])
    """
    return _from_dense(x, "csr")


def csc_from_dense(x: Any) -> SparseVariable:
    """The CSC matrix of the non-zero entries of the dense matrix ``x``."""
    return _from_dense(x, "csc")


def dense_from_sparse(x: SparseVariable) -> Variable:
    """The dense matrix of a sparse one (Theano's ``dense_from_sparse``; also ``x.toarray()``)."""
    return as_sparse_variable(x).toarray()


# ---------------------------------------------------------------- products and sums
def structured_dot(a: SparseVariable, b: Any) -> Variable:
    """``a @ b`` for a sparse matrix ``a`` and a dense vector or matrix ``b``, as a dense tensor.

    Gradients reach ``b`` and the stored values ``a.data`` (with ``a``'s pattern: zeros of ``a``
    stay zeros, hence "structured").
    """
    a = as_sparse_variable(a)
    b = as_tensor_variable(b)
    data, indices, indptr, shape, static = a._csr()
    if a.format == "csr":
        return CSRMatMul(False, static)(data, indices, indptr, shape, b)
    # a is CSC: its arrays hold a.T as CSR, and a @ b = (a.T).T @ b.
    return CSRMatMul(True, static)(data, indices, indptr, shape, b)


def dot(a: Any, b: Any) -> Variable:
    """The product of a sparse and a dense operand (in either order), as a dense tensor.

    >>> import numpy as np, symdl, symdl.sparse as sp, symdl.tensor as T
    >>> x, w = sp.csr_matrix('x', dtype='float64'), T.dmatrix('w')
    >>> f = symdl.function([x, w], sp.dot(w, x))
    >>> f((np.array([5.0]), np.array([1], 'int32'), np.array([0, 1], 'int32'), (1, 2)), np.ones((3, 1)))
    array([[0., 5.],
           [0., 5.],
           [0., 5.]])
    """
    if isinstance(a, SparseVariable) and isinstance(b, SparseVariable):
        raise NotImplementedError("sparse @ sparse is not implemented; convert one operand with .toarray()")
    if isinstance(a, SparseVariable):
        return structured_dot(a, b)
    if isinstance(b, SparseVariable):
        a = as_tensor_variable(a)
        if a.ndim == 1:
            return structured_dot(b.T, a)
        return structured_dot(b.T, a.T).T
    if is_scipy_sparse(a) or is_scipy_sparse(b):
        return dot(
            as_sparse_variable(a) if is_scipy_sparse(a) else a, as_sparse_variable(b) if is_scipy_sparse(b) else b
        )
    raise TypeError("symdl.sparse.dot needs a sparse operand; use symdl.tensor.dot for dense ones")


def sp_sum(x: SparseVariable, axis: int | None = None, sparse_grad: bool = True) -> Variable:
    """The sum of all entries (``axis=None``), of each column (0) or of each row (1), dense.
    The gradient reaches only the stored values (``sparse_grad`` is accepted for Theano).

    >>> import numpy as np, symdl.sparse as sp
    >>> x = sp.csr_matrix('x', dtype='float64')
    >>> value = (np.array([1.0, 2.0, 3.0]), np.array([0, 1, 1], 'int32'), np.array([0, 1, 3], 'int32'), (2, 2))
    >>> sp.sp_sum(x, axis=0).eval({x: value})
    array([1., 5.])
    """
    from symdl.tensor.creation import ones
    from symdl.tensor.reduction import sum as tsum

    x = as_sparse_variable(x)
    if axis is None:
        return tsum(x.data)
    if axis not in (0, 1, -1, -2):
        raise ShapeError(f"sp_sum: axis must be None, 0 or 1 for a matrix, got {axis}")
    if axis % 2 == 1:
        return structured_dot(x, ones((x.shape[1],), dtype=x.dtype))
    return structured_dot(x.T, ones((x.shape[0],), dtype=x.dtype))


# ---------------------------------------------------------------- elementwise, keeping sparsity
def map_values(fn: Callable[[Variable], Variable], x: SparseVariable) -> SparseVariable:
    """``fn`` applied to the stored values only (the pattern stays; implicit zeros stay zero)."""
    x = as_sparse_variable(x)
    return x._with_data(as_tensor_variable(fn(x.data)))


def _structured(name: str, fn: Callable, zero_preserving: bool) -> Callable:
    def apply(x: SparseVariable) -> SparseVariable:
        return map_values(fn, x)

    apply.__name__ = apply.__qualname__ = name
    apply.__doc__ = (
        f"``{fn.__name__}`` of the stored values; {fn.__name__}(0) = 0, so this is the elementwise "
        "function of the whole matrix."
        if zero_preserving
        else f"``{fn.__name__}`` of the stored values only (implicit zeros stay zero: 'structured')."
    )
    return apply


def mul(x: Any, y: Any) -> SparseVariable:
    """Elementwise product of a sparse matrix and a scalar or a dense matrix (broadcast): sparse,
    with ``x``'s pattern."""
    if isinstance(x, SparseVariable):
        return x * y
    return as_sparse_variable(y) * x


def structured_pow(x: SparseVariable, exponent: Any) -> SparseVariable:
    """The stored values raised to ``exponent`` (implicit zeros stay zero)."""
    return as_sparse_variable(x) ** exponent


def structured_add(x: SparseVariable, values: Any) -> SparseVariable:
    """``values`` (a scalar, or a dense tensor broadcast to ``x``'s shape) added to the stored
    values only."""
    x = as_sparse_variable(x)
    values = as_tensor_variable(values)
    return x._with_data(x.data + (values if values.ndim == 0 else x._entries_of(values)))


def _elementwise_table() -> dict[str, Callable]:
    from symdl.tensor import elemwise as E

    zero_preserving = {
        "abs_": E.abs,
        "neg": E.neg,
        "sqr": E.sqr,
        "sqrt": E.sqrt,
        "sin": E.sin,
        "tan": E.tan,
        "tanh": E.tanh,
        "arcsin": E.arcsin,
        "arctan": E.arctan,
        "sinh": E.sinh,
        "expm1": E.expm1,
        "log1p": E.log1p,
        "sgn": E.sign,
        "ceil": E.ceil,
        "floor": E.floor,
        "trunc": E.trunc,
        "rint": E.round,
    }
    structured = {"structured_sigmoid": E.sigmoid, "structured_exp": E.exp, "structured_log": E.log}
    table = {name: _structured(name, fn, True) for name, fn in zero_preserving.items()}
    table.update({name: _structured(name, fn, False) for name, fn in structured.items()})
    return table


ELEMENTWISE = _elementwise_table()
globals().update(ELEMENTWISE)
