"""Linear algebra that SciPy provides (Theano's ``tensor.slinalg``): Cholesky factorization,
linear solves (general, symmetric, positive definite, triangular, from a Cholesky factor) and the
matrix exponential, each with its gradient. SciPy is not needed: the ops compute with NumPy.

The ops work on the last two axes and are batched over the leading ones, which broadcast between
the matrix and the right-hand side. A right-hand side ``b`` is a vector when it is 1-d (NumPy 2's
rule for ``np.linalg.solve``); pass ``b_ndim=1`` for a stack of vectors.

Gradients: Cholesky's is Murray's adjoint ("Differentiation of the Cholesky decomposition",
2016), solves solve again with the transpose, the exponential's is its Fréchet derivative read
off the exponential of a block-triangular matrix. An op that reads only one triangle of its matrix
(``cholesky``, ``solve`` with ``assume_a='sym'`` or ``'pos'``, ``solve_triangular``,
``cho_solve``) has a gradient that is zero on the other triangle.

>>> import numpy as np, symdl.tensor as T
>>> from symdl.tensor import slinalg
>>> a, b = T.dmatrix('a'), T.dvector('b')
>>> slinalg.solve(a, b).eval({a: np.array([[2.0, 0.0], [0.0, 4.0]]), b: np.array([1.0, 1.0])})
array([0.5 , 0.25])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.nlinalg import (
    LinAlgError,
    as_float_matrix,
    fold_to_triangle,
    kron,
    linalg_in_c,
    matrix_transpose,
    run_linalg,
    square_dim,
    tril,
    triu,
)
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


# ---------------------------------------------------------------- NumPy kernels
def _triangle(a: np.ndarray, lower: bool, unit_diagonal: bool = False) -> np.ndarray:
    t = np.tril(a) if lower else np.triu(a)
    if unit_diagonal:
        steps = np.arange(t.shape[-1])
        t[..., steps, steps] = 1
    return t


def _symmetric_from(a: np.ndarray, lower: bool) -> np.ndarray:
    """The symmetric matrix whose ``lower`` (else upper) triangle ``a`` holds."""
    t = np.tril(a, -1) if lower else np.triu(a, 1)
    steps = np.arange(a.shape[-1])
    full = t + np.swapaxes(t, -1, -2)
    full[..., steps, steps] = a[..., steps, steps]
    return full


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.linalg.solve`` with ``b`` a stack of matrices (batch axes broadcast)."""
    if a.shape[-1] == 0 or b.size == 0:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return np.zeros(batch + b.shape[-2:], dtype=np.result_type(a, b))
    return np.linalg.solve(a, b)


def _cholesky_lower(a: np.ndarray) -> np.ndarray:
    """The lower factor of the matrices whose lower triangles ``a`` holds."""
    return np.linalg.cholesky(a)


def _as_matrix_rhs(b: np.ndarray, b_ndim: int) -> np.ndarray:
    return b[..., None] if b_ndim == 1 else b


def _from_matrix_rhs(x: np.ndarray, b_ndim: int) -> np.ndarray:
    return x[..., 0] if b_ndim == 1 else x


def _expm(a: np.ndarray) -> np.ndarray:
    """The matrix exponential of a stack of matrices: Padé degree 13 with scaling and squaring
    (Higham, "The scaling and squaring method for the matrix exponential revisited", 2005)."""
    work = a.astype(np.float64)
    n = work.shape[-1]
    if n == 0 or work.size == 0:
        return work.astype(a.dtype)
    norm1 = np.abs(work).sum(axis=-2).max(axis=-1)
    theta13 = 5.371920351148152
    with np.errstate(divide="ignore"):
        squarings = np.maximum(0, np.ceil(np.log2(np.where(norm1 > 0, norm1, 1.0) / theta13))).astype(np.int64)
    work = work / (2.0**squarings)[..., None, None]
    b = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0, 129060195264000.0,
         10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)  # fmt: skip
    eye = np.broadcast_to(np.eye(n), work.shape)
    a2 = work @ work
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = work @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    result = np.linalg.solve(v - u, v + u)
    most = int(squarings.max(initial=0))
    for step in range(most):
        squared = result @ result
        result = np.where((step < squarings)[..., None, None], squared, result)
    return result.astype(a.dtype, copy=False)


# ---------------------------------------------------------------- shapes
def _rhs(b: Any, a: Variable, opname: str, b_ndim: int | None) -> tuple[Variable, int]:
    """The right-hand side as a float tensor of ``a``'s precision, and whether it is a vector (1)
    or a matrix (2) per system."""
    from symdl.tensor.elemwise import cast

    b = as_tensor_variable(b)
    if b.dtype in ("float16", "complex64", "complex128"):
        raise TypeMismatch(
            f"{opname}: {b.dtype} right-hand side is not supported ({describe(b)}); cast it to float32 or float64"
        )
    if b_ndim is None:
        b_ndim = 1 if b.ndim == 1 else 2
    if b_ndim not in (1, 2) or b.ndim < b_ndim:
        raise ShapeError(
            f"{opname}: b must have at least b_ndim={b_ndim} dimensions (1: vectors, 2: matrices), got {b.type} "
            f"({describe(b)})"
        )
    dtype = str(np.result_type(a.dtype, b.dtype))  # NumPy's: float32 with integers gives float64
    if b.dtype != dtype:
        b = cast(b, dtype)
    n, rows = square_dim(a), b.type.shape[b.ndim - b_ndim]
    if n is not None and rows is not None and n != rows:
        raise ShapeError(
            f"{opname}: a {shape_str(a.type.shape)} and b {shape_str(b.type.shape)} do not fit: "
            f"{n} equations, {rows} rows in b ({describe(a)}, {describe(b)})"
        )
    return b, b_ndim


def _batch(opname: str, a: Variable, b: Variable, b_ndim: int) -> tuple[int | None, ...]:
    """The broadcast batch shape of a stack of matrices ``a`` and right-hand sides ``b``."""
    from symdl.tensor.elemwise import broadcast_static_shapes

    batch_a = TensorType("bool", a.type.shape[:-2]).make_variable(a.name)
    batch_b = TensorType("bool", b.type.shape[: b.ndim - b_ndim]).make_variable(b.name)
    batch_a.trace, batch_b.trace = a.trace, b.trace
    return broadcast_static_shapes(opname, [batch_a, batch_b])


def _solution_type(opname: str, a: Variable, b: Variable, b_ndim: int) -> TensorType:
    n = square_dim(a)
    if n is None:
        n = b.type.shape[b.ndim - b_ndim]
    tail = (n,) if b_ndim == 1 else (n, b.type.shape[-1])
    return TensorType(a.dtype, _batch(opname, a, b, b_ndim) + tail)


def _solution_shape(node: Apply, input_shapes: Sequence, b_ndim: int) -> list:
    from symdl.tensor.elemwise import maximum

    sa, sb = list(input_shapes[0]), list(input_shapes[-1])
    batch_a, batch_b = sa[:-2], sb[: len(sb) - b_ndim]
    out_batch = []
    ndim = max(len(batch_a), len(batch_b))
    for i in range(ndim):
        ka, kb = i - (ndim - len(batch_a)), i - (ndim - len(batch_b))  # right-aligned, as broadcasting
        da = batch_a[ka] if 0 <= ka < len(batch_a) else None
        db = batch_b[kb] if 0 <= kb < len(batch_b) else None
        static = node.outputs[0].type.shape[i]
        if static is not None:
            out_batch.append(static)
        elif da is None or db is None:
            out_batch.append(da if db is None else db)
        else:
            out_batch.append(maximum(da, db))
    tail = [sa[-1]] if b_ndim == 1 else [sa[-1], sb[-1]]
    return [out_batch + tail]


def _outer_gradient(g_b: Variable, x: Variable, b_ndim: int) -> Variable:
    """``-g_b @ x.T`` per system: the gradient of the matrix of ``x = inv(a) @ b``."""
    from symdl.tensor.blas import matmul
    from symdl.tensor.shape import expand_dims

    if b_ndim == 1:
        return -(expand_dims(g_b, -1) * expand_dims(x, -2))
    return -matmul(g_b, matrix_transpose(x))


def _sum_to(g: Variable, like: Variable) -> Variable:
    from symdl.tensor.elemwise import sum_to_shape_of

    return sum_to_shape_of(g, like)


# ---------------------------------------------------------------- cholesky
class Cholesky(Op):
    """The Cholesky factor of symmetric positive definite matrices: lower ``l`` with
    ``x = l @ l.T`` (read from the lower triangle), or upper ``u`` with ``x = u.T @ u`` (read from
    the upper triangle). ``on_error='raise'`` raises LinAlgError for a matrix that is not positive
    definite, ``'nan'`` fills its factor with NaN.

    Gradient (Murray 2016), for the lower factor: with ``phi(m) = tril(m)`` with a halved
    diagonal, ``s = inv(l).T @ phi(l.T @ g) @ inv(l)``, folded onto the lower triangle (the
    entries the op reads): ``tril(s + s.T) - diag(s)``.
    """

    __props__ = ("lower", "on_error")

    def __init__(self, lower: bool = True, on_error: str = "raise"):
        if on_error not in ("raise", "nan"):
            raise ValueError(f"cholesky: on_error must be 'raise' or 'nan', got {on_error!r}")
        self.lower = bool(lower)
        self.on_error = on_error

    def make_node(self, x: Any) -> Apply:
        x = as_float_matrix(x, "cholesky")
        n = square_dim(x)
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape[:-2] + (n, n))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        (x,) = inputs
        source = x if self.lower else np.swapaxes(x, -1, -2)
        try:
            factor = _cholesky_lower(source)
        except np.linalg.LinAlgError:
            if self.on_error == "raise":
                raise LinAlgError(f"cholesky: a matrix is not positive definite (input of shape {x.shape})") from None
            factor = np.full(source.shape, np.nan, dtype=source.dtype)
            for index in np.ndindex(*source.shape[:-2]):
                try:
                    factor[index] = _cholesky_lower(source[index])
                except np.linalg.LinAlgError:
                    pass
        if not self.lower:
            factor = np.swapaxes(factor, -1, -2)
        return [np.ascontiguousarray(factor, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.blas import matmul
        from symdl.tensor.elemwise import where
        from symdl.tensor.nlinalg import diagonal_mask

        (factor,), (g,) = outputs, grads
        low, g_low = (factor, g) if self.lower else (matrix_transpose(factor), matrix_transpose(g))
        product = tril(matmul(matrix_transpose(low), g_low))
        phi = where(diagonal_mask(product), product * 0.5, product)
        left = solve_triangular(low, phi, trans=1, lower=True)  # inv(l).T @ phi
        s = matrix_transpose(solve_triangular(low, matrix_transpose(left), trans=1, lower=True))
        folded = fold_to_triangle(s, lower=True)
        return [folded if self.lower else matrix_transpose(folded)]

    def __str__(self) -> str:
        return "cholesky" if self.lower else "cholesky{lower=False}"


def cholesky(x: Any, lower: bool = True, on_error: str = "raise") -> Variable:
    """The Cholesky factor of a symmetric positive definite matrix or a stack of them: lower
    (``x = l @ l.T``, from ``x``'s lower triangle) or, with ``lower=False``, upper (``x = u.T @ u``,
    from the upper triangle). A matrix that is not positive definite raises ``LinAlgError`` when
    the function runs, or gives NaN with ``on_error='nan'``.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.slinalg import cholesky
    >>> x = T.dmatrix('x')
    >>> cholesky(x).eval({x: np.array([[4.0, 2.0], [2.0, 2.0]])})
    array([[2., 0.],
           [1., 1.]])
    """
    return Cholesky(lower, on_error)(x)


# ---------------------------------------------------------------- solves
class Solve(Op):
    """``a @ x = b`` for a general (``assume_a='gen'``, LU), symmetric (``'sym'``) or symmetric
    positive definite (``'pos'``, Cholesky) ``a``; the last two read only the ``lower`` (else
    upper) triangle of ``a``.

    Gradient: ``g_b = solve(a.T, g)``, ``g_a = -g_b @ x.T`` (folded onto the triangle read).
    """

    __props__ = ("assume_a", "lower", "b_ndim")

    def __init__(self, assume_a: str = "gen", lower: bool = False, b_ndim: int = 2):
        assume_a = {"general": "gen", "symmetric": "sym", "her": "sym", "positive definite": "pos"}.get(
            assume_a, assume_a
        )
        if assume_a not in ("gen", "sym", "pos"):
            raise ValueError(f"solve: assume_a must be 'gen', 'sym' or 'pos', got {assume_a!r}")
        self.assume_a, self.lower, self.b_ndim = assume_a, bool(lower), int(b_ndim)

    def make_node(self, a: Any, b: Any) -> Apply:
        a = as_float_matrix(a, "solve")
        b, _ = _rhs(b, a, "solve", self.b_ndim)
        if a.dtype != b.dtype:
            from symdl.tensor.elemwise import cast

            a = cast(a, b.dtype)
        return Apply(self, [a, b], [_solution_type("solve", a, b, self.b_ndim)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        a, b = inputs
        rhs = _as_matrix_rhs(b, self.b_ndim)
        if self.assume_a == "gen":
            x = run_linalg("solve", _solve, a, rhs)
        elif self.assume_a == "sym":
            x = run_linalg("solve", _solve, _symmetric_from(a, self.lower), rhs)
        else:
            source = a if self.lower else np.swapaxes(a, -1, -2)
            try:
                factor = _cholesky_lower(source) if source.size else source
            except np.linalg.LinAlgError:
                raise LinAlgError(
                    f"solve(assume_a='pos'): a matrix is not positive definite (a of shape {a.shape})"
                ) from None
            y = _solve(factor, rhs)
            x = _solve(np.swapaxes(factor, -1, -2), y)
        return [np.asarray(_from_matrix_rhs(x, self.b_ndim), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return _solution_shape(node, input_shapes, self.b_ndim)

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        (a, b), (x,), (g,) = inputs, outputs, grads
        if self.assume_a == "gen":
            g_b = Solve("gen", False, self.b_ndim)(matrix_transpose(a), g)
            g_a = _outer_gradient(g_b, x, self.b_ndim)
        else:
            g_b = self(a, g)
            g_a = fold_to_triangle(_outer_gradient(g_b, x, self.b_ndim), self.lower)
        return [_sum_to(g_a, a), _sum_to(g_b, b)]

    def __str__(self) -> str:
        return f"solve{{assume_a={self.assume_a!r}}}" if self.assume_a != "gen" else "solve"


def solve(
    a: Any,
    b: Any,
    assume_a: str = "gen",
    lower: bool = False,
    transposed: bool = False,
    b_ndim: int | None = None,
    check_finite: bool = True,
) -> Variable:
    """The solution ``x`` of ``a @ x = b`` (``scipy.linalg.solve``), batched over leading axes.

    ``assume_a``: 'gen' (any square ``a``), 'sym' (symmetric) or 'pos' (symmetric positive
    definite, solved through its Cholesky factor); the last two read only the ``lower`` (default:
    upper) triangle of ``a``. ``transposed`` solves ``a.T @ x = b``. ``b`` is a vector per system
    when it is 1-d, or when ``b_ndim=1``. ``check_finite`` is accepted for SciPy's signature.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.slinalg import solve
    >>> a, b = T.dmatrix('a'), T.dmatrix('b')
    >>> solve(a, b, assume_a='pos').eval({a: np.array([[4.0, 2.0], [2.0, 2.0]]), b: np.eye(2)})
    array([[ 0.5, -0.5],
           [-0.5,  1. ]])
    """
    a = as_float_matrix(a, "solve")
    if transposed:
        a = matrix_transpose(a)
        if assume_a != "gen":
            lower = not lower
    b = as_tensor_variable(b)
    return Solve(assume_a, lower, b_ndim or (1 if b.ndim == 1 else 2))(a, b)


def solve_symmetric(a: Any, b: Any, lower: bool = True) -> Variable:
    """``solve(a, b, assume_a='sym')`` reading the lower triangle (Theano's ``solve_symmetric``)."""
    return solve(a, b, assume_a="sym", lower=lower)


class SolveTriangular(Op):
    """``op(a) @ x = b`` with ``a`` triangular (only its ``lower``, else upper, triangle is read;
    with ``unit_diagonal`` its diagonal is taken as ones), ``op`` the identity (``trans=0``) or
    the transpose (``trans=1``).

    Gradient: ``g_b`` solves the transposed system; ``g_a`` is ``-g_b @ x.T`` (``-x @ g_b.T``
    when transposed) restricted to the triangle read.
    """

    __props__ = ("trans", "lower", "unit_diagonal", "b_ndim")

    def __init__(self, trans: int = 0, lower: bool = False, unit_diagonal: bool = False, b_ndim: int = 2):
        self.trans = _normalize_trans(trans)
        self.lower, self.unit_diagonal, self.b_ndim = bool(lower), bool(unit_diagonal), int(b_ndim)

    def make_node(self, a: Any, b: Any) -> Apply:
        a = as_float_matrix(a, "solve_triangular")
        b, _ = _rhs(b, a, "solve_triangular", self.b_ndim)
        if a.dtype != b.dtype:
            from symdl.tensor.elemwise import cast

            a = cast(a, b.dtype)
        return Apply(self, [a, b], [_solution_type("solve_triangular", a, b, self.b_ndim)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        a, b = inputs
        t = _triangle(a, self.lower, self.unit_diagonal)
        if self.trans:
            t = np.swapaxes(t, -1, -2)
        x = run_linalg("solve_triangular", _solve, t, _as_matrix_rhs(b, self.b_ndim))
        return [np.asarray(_from_matrix_rhs(x, self.b_ndim), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return _solution_shape(node, input_shapes, self.b_ndim)

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        (a, b), (x,), (g,) = inputs, outputs, grads
        g_b = SolveTriangular(1 - self.trans, self.lower, self.unit_diagonal, self.b_ndim)(a, g)
        g_t = _outer_gradient(g_b, x, self.b_ndim)
        if self.trans:
            g_t = matrix_transpose(g_t)
        k = (-1 if self.lower else 1) if self.unit_diagonal else 0
        g_a = tril(g_t, k) if self.lower else triu(g_t, k)
        return [_sum_to(g_a, a), _sum_to(g_b, b)]

    def __str__(self) -> str:
        flags = ["lower" if self.lower else "upper"] + (["trans"] if self.trans else [])
        return f"solve_triangular{{{', '.join(flags + (['unit_diagonal'] if self.unit_diagonal else []))}}}"


def _normalize_trans(trans: Any) -> int:
    codes = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}
    if trans not in codes:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return codes[trans]


def solve_triangular(
    a: Any,
    b: Any,
    trans: Any = 0,
    lower: bool = False,
    unit_diagonal: bool = False,
    b_ndim: int | None = None,
    check_finite: bool = True,
) -> Variable:
    """The solution ``x`` of ``a @ x = b`` (``trans=0``) or ``a.T @ x = b`` (``trans=1`` or 'T')
    for a triangular ``a`` (``scipy.linalg.solve_triangular``): only its ``lower`` (default:
    upper) triangle is read, and with ``unit_diagonal`` its diagonal is taken as ones. A zero on
    the diagonal raises ``LinAlgError`` when the function runs.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.slinalg import solve_triangular
    >>> a, b = T.dmatrix('a'), T.dvector('b')
    >>> solve_triangular(a, b, lower=True).eval({a: np.array([[2.0, 9.0], [1.0, 1.0]]), b: np.array([2.0, 3.0])})
    array([1., 2.])
    """
    b = as_tensor_variable(b)
    return SolveTriangular(trans, lower, unit_diagonal, b_ndim or (1 if b.ndim == 1 else 2))(a, b)


def solve_lower_triangular(a: Any, b: Any) -> Variable:
    """``solve_triangular(a, b, lower=True)`` (Theano's name)."""
    return solve_triangular(a, b, lower=True)


def solve_upper_triangular(a: Any, b: Any) -> Variable:
    """``solve_triangular(a, b, lower=False)`` (Theano's name)."""
    return solve_triangular(a, b, lower=False)


class CholeskySolve(Op):
    """``(c @ c.T) @ x = b`` for a lower Cholesky factor ``c`` (``(c.T @ c) @ x = b`` for an upper
    one); only that triangle of ``c`` is read.

    Gradient: ``g_b = cho_solve(c, g)``; with ``m = -(g_b @ x.T + x @ g_b.T)``, ``g_c`` is
    ``tril(m @ c)`` (lower) or ``triu(c @ m)`` (upper).
    """

    __props__ = ("lower", "b_ndim")

    def __init__(self, lower: bool = True, b_ndim: int = 2):
        self.lower, self.b_ndim = bool(lower), int(b_ndim)

    def make_node(self, c: Any, b: Any) -> Apply:
        c = as_float_matrix(c, "cho_solve")
        b, _ = _rhs(b, c, "cho_solve", self.b_ndim)
        if c.dtype != b.dtype:
            from symdl.tensor.elemwise import cast

            c = cast(c, b.dtype)
        return Apply(self, [c, b], [_solution_type("cho_solve", c, b, self.b_ndim)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        c, b = inputs
        low = np.tril(c) if self.lower else np.swapaxes(np.triu(c), -1, -2)
        rhs = _as_matrix_rhs(b, self.b_ndim)
        y = run_linalg("cho_solve", _solve, low, rhs)
        x = run_linalg("cho_solve", _solve, np.swapaxes(low, -1, -2), y)
        return [np.asarray(_from_matrix_rhs(x, self.b_ndim), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return _solution_shape(node, input_shapes, self.b_ndim)

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.blas import matmul

        (c, b), (x,), (g,) = inputs, outputs, grads
        g_b = self(c, g)
        m = _outer_gradient(g_b, x, self.b_ndim)
        m = m + matrix_transpose(m)
        g_c = tril(matmul(m, tril(c))) if self.lower else triu(matmul(triu(c), m))
        return [_sum_to(g_c, c), _sum_to(g_b, b)]

    def __str__(self) -> str:
        return "cho_solve" if self.lower else "cho_solve{lower=False}"


def cho_solve(c_and_lower: tuple[Any, bool], b: Any, b_ndim: int | None = None, check_finite: bool = True) -> Variable:
    """The solution of ``a @ x = b`` given ``(c, lower)``, the Cholesky factor of ``a`` and
    whether it is lower (``scipy.linalg.cho_solve``); only that triangle of ``c`` is read.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.slinalg import cho_solve, cholesky
    >>> a, b = T.dmatrix('a'), T.dvector('b')
    >>> x = cho_solve((cholesky(a), True), b)
    >>> x.eval({a: np.array([[4.0, 2.0], [2.0, 2.0]]), b: np.array([2.0, 2.0])})
    array([0., 1.])
    """
    c, lower = c_and_lower
    b = as_tensor_variable(b)
    return CholeskySolve(lower, b_ndim or (1 if b.ndim == 1 else 2))(c, b)


def cho_factor(a: Any, lower: bool = False) -> tuple[Variable, bool]:
    """``(cholesky(a, lower), lower)``, ready for ``cho_solve`` (``scipy.linalg.cho_factor``;
    the other triangle of the factor is zero, where SciPy leaves whatever ``a`` held)."""
    return cholesky(a, lower=lower), lower


# ---------------------------------------------------------------- matrix exponential
class Expm(Op):
    """The matrix exponential of a stack of square matrices (Padé 13, scaling and squaring).

    Gradient: the Fréchet derivative of ``expm`` at ``x.T`` applied to ``g``, which is the top
    right block of ``expm([[x.T, g], [0, x.T]])`` (Najfeld and Havel, 1995).
    """

    def make_node(self, x: Any) -> Apply:
        x = as_float_matrix(x, "expm")
        n = square_dim(x)
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape[:-2] + (n, n))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [run_linalg("expm", _expm, inputs[0])]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like
        from symdl.tensor.shape import concatenate, shape_i

        (x,), (g,) = inputs, grads
        x_t = matrix_transpose(x)
        top = concatenate([x_t, g], axis=-1)
        bottom = concatenate([zeros_like(x_t), x_t], axis=-1)
        block = self(concatenate([top, bottom], axis=-2))
        n = shape_i(x, x.ndim - 1)
        return [block[..., :n, n:]]

    def __str__(self) -> str:
        return "expm"


_expm_op = Expm()


def expm(a: Any) -> Variable:
    """The matrix exponential of a square matrix or a stack of them (``scipy.linalg.expm``).

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.slinalg import expm
    >>> x = T.dmatrix('x')
    >>> expm(x).eval({x: np.array([[0.0, 1.0], [0.0, 0.0]])})
    array([[1., 1.],
           [0., 1.]])
    """
    return _expm_op(a)


__all__ = [
    "LinAlgError",
    "cho_factor",
    "cho_solve",
    "cholesky",
    "expm",
    "kron",
    "solve",
    "solve_lower_triangular",
    "solve_symmetric",
    "solve_triangular",
    "solve_upper_triangular",
]


# ---------------------------------------------------------------- C implementations
# LAPACK through the runtime (see symdl.tensor.nlinalg.linalg_in_c); parameters: lower, option,
# option2, b_ndim.
_ASSUME = {"gen": 0, "sym": 1, "pos": 2}


@register_impl("c", Cholesky)
def _cholesky_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    return linalg_in_c(node, c, "cholesky", (int(op.lower), int(op.on_error == "nan"), 0, 0))


@register_impl("c", Solve)
def _solve_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    return linalg_in_c(node, c, "solve", (int(op.lower), _ASSUME[op.assume_a], 0, op.b_ndim))


@register_impl("c", SolveTriangular)
def _solve_triangular_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    return linalg_in_c(node, c, "solve_triangular", (int(op.lower), op.trans, int(op.unit_diagonal), op.b_ndim))


@register_impl("c", CholeskySolve)
def _cho_solve_in_c(node: Apply, c: Any) -> str | None:
    return linalg_in_c(node, c, "cho_solve", (int(node.op.lower), 0, 0, node.op.b_ndim))


@register_impl("c", Expm)
def _expm_in_c(node: Apply, c: Any) -> str | None:
    return linalg_in_c(node, c, "expm")
