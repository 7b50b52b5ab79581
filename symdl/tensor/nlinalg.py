"""Linear algebra that NumPy provides (Theano's ``tensor.nlinalg``): inverse, determinant,
eigendecomposition of symmetric matrices, SVD, QR, pseudo-inverse, diagonals, trace, Kronecker
product and norms.

Every op works on the last two axes and is batched over the leading ones, as ``numpy.linalg``.
Integer and boolean inputs are read as float64 (NumPy does the same); float16 and complex inputs
are refused at graph-build time. Each op has its gradient: the determinant's is ``det * inv(x).T``,
the log-determinant's ``inv(x).T``, the symmetric eigendecomposition's the classical adjoint
(which divides by differences of eigenvalues, so it is undefined for repeated eigenvalues: see
``eigh``), the SVD's Townsend's adjoint (reduced factors), QR's for the reduced factors.

>>> import numpy as np, symdl.tensor as T
>>> from symdl.tensor import nlinalg
>>> x = T.dmatrix('x')
>>> nlinalg.det(x).eval({x: np.array([[2.0, 1.0], [1.0, 3.0]])})
array(5.)
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, SymdlError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


class LinAlgError(SymdlError, np.linalg.LinAlgError):
    """A matrix the operation cannot handle at run time: singular, not positive definite, or an
    iteration that did not converge. Also a ``numpy.linalg.LinAlgError``."""


# ---------------------------------------------------------------- shared checks and helpers
def as_float_matrix(x: Any, opname: str, square: bool = True, min_ndim: int = 2) -> Variable:
    """``x`` as a float32 or float64 tensor of at least ``min_ndim`` dimensions (the last two are
    the matrix, square if ``square``); integers and booleans become float64, as in NumPy."""
    from symdl.tensor.elemwise import cast

    x = as_tensor_variable(x)
    if x.dtype in ("float16", "complex64", "complex128"):
        raise TypeMismatch(
            f"{opname}: {x.dtype} input is not supported ({describe(x)}); "
            "linear algebra runs on float32 or float64 (cast the input first)"
        )
    if x.dtype not in ("float32", "float64"):
        x = cast(x, "float64")
    if x.ndim < min_ndim:
        kind = "a matrix (or a stack of matrices)" if min_ndim == 2 else f"a tensor of at least {min_ndim} dimensions"
        raise ShapeError(
            f"{opname} takes {kind}, got a {x.ndim}-d tensor of shape {shape_str(x.type.shape)} ({describe(x)})"
        )
    if square:
        rows, cols = x.type.shape[-2:]
        if rows is not None and cols is not None and rows != cols:
            raise ShapeError(
                f"{opname} takes square matrices, got shape {shape_str(x.type.shape)} ({rows} x {cols}) ({describe(x)})"
            )
    return x


def square_dim(x: Variable) -> int | None:
    """The static size of a square matrix ``x`` (either of its last two dimensions), if known."""
    rows, cols = x.type.shape[-2:]
    return rows if rows is not None else cols


def common_float_dtype(*variables: Variable) -> str:
    return "float64" if any(v.dtype == "float64" for v in variables) else "float32"


def matrix_transpose(x: Variable) -> Variable:
    """``x`` with its last two axes swapped."""
    from symdl.tensor.shape import swapaxes

    return swapaxes(x, -1, -2)


def run_linalg(opname: str, fn: Any, *arrays: np.ndarray) -> Any:
    """``fn(*arrays)``, with NumPy's LinAlgError raised as ours, naming the op and the shapes."""
    try:
        return fn(*arrays)
    except np.linalg.LinAlgError as exc:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise LinAlgError(f"{opname}: {exc} (input of shape {shapes})") from None


def triangle_mask(x: Variable, k: int = 0, lower: bool = True) -> Variable:
    """A boolean (rows, cols) mask of the last two axes of ``x``: True on and below diagonal
    ``k`` (``lower``) or on and above it."""
    from symdl.tensor.creation import arange
    from symdl.tensor.elemwise import ge, le
    from symdl.tensor.shape import expand_dims, shape_i

    rows = expand_dims(arange(shape_i(x, x.ndim - 2)), 1) + k
    cols = expand_dims(arange(shape_i(x, x.ndim - 1)), 0)
    return le(cols, rows) if lower else ge(cols, rows)


def diagonal_mask(x: Variable) -> Variable:
    from symdl.tensor.creation import arange
    from symdl.tensor.elemwise import eq
    from symdl.tensor.shape import expand_dims, shape_i

    return eq(expand_dims(arange(shape_i(x, x.ndim - 2)), 1), expand_dims(arange(shape_i(x, x.ndim - 1)), 0))


def fold_to_triangle(g: Variable, lower: bool) -> Variable:
    """The gradient with respect to the stored triangle of a symmetric matrix, from ``g``, the
    gradient with respect to the full symmetric matrix: an op that reads only the lower triangle
    sees each off-diagonal entry twice (at (i, j) and (j, i)), the diagonal once, and the other
    triangle not at all."""
    from symdl.tensor.elemwise import where

    both = g + matrix_transpose(g)
    return where(diagonal_mask(g), g, where(triangle_mask(g, -1 if lower else 1, lower), both, 0))


def tril(x: Any, k: int = 0) -> Variable:
    """The lower triangle of the last two axes (``np.tril``): entries above diagonal ``k`` are 0.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dmatrix('x')
    >>> T.tril(x).eval({x: np.ones((2, 3))})
    array([[1., 0., 0.],
           [1., 1., 0.]])
    """
    from symdl.tensor.elemwise import where

    x = as_tensor_variable(x)
    if x.ndim < 2:
        raise ShapeError(f"tril takes a tensor of at least 2 dimensions, got {x.type} ({describe(x)})")
    return where(triangle_mask(x, int(k), lower=True), x, 0)


def triu(x: Any, k: int = 0) -> Variable:
    """The upper triangle of the last two axes (``np.triu``): entries below diagonal ``k`` are 0."""
    from symdl.tensor.elemwise import where

    x = as_tensor_variable(x)
    if x.ndim < 2:
        raise ShapeError(f"triu takes a tensor of at least 2 dimensions, got {x.type} ({describe(x)})")
    return where(triangle_mask(x, int(k), lower=False), x, 0)


def _unit_column_scaled(m: Variable, v: Variable) -> Variable:
    """``m @ diag(v)`` for a stack of matrices ``m`` and vectors ``v`` (column j times v[j])."""
    from symdl.tensor.shape import expand_dims

    return m * expand_dims(v, -2)


def _safe_reciprocal_differences(w: Variable) -> Variable:
    """F[..., i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 where the two values are equal."""
    from symdl.tensor.elemwise import eq, where
    from symdl.tensor.shape import expand_dims

    diff = expand_dims(w, -2) - expand_dims(w, -1)
    equal = eq(diff, 0)
    return where(equal, 0, 1 / where(equal, 1, diff))


# ---------------------------------------------------------------- inverse, determinants
class MatrixInverse(Op):
    """``np.linalg.inv`` of a stack of square matrices.

    Gradient: ``-inv(x).T @ g @ inv(x).T``.
    """

    def make_node(self, x: Any) -> Apply:
        x = as_float_matrix(x, "matrix_inverse")
        n = square_dim(x)
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape[:-2] + (n, n))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [run_linalg("matrix_inverse", np.linalg.inv, inputs[0]).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.blas import matmul

        inv_t = matrix_transpose(outputs[0])
        return [-matmul(matmul(inv_t, grads[0]), inv_t)]

    def __str__(self) -> str:
        return "matrix_inverse"


_matrix_inverse = MatrixInverse()


def matrix_inverse(x: Any) -> Variable:
    """The inverse of a square matrix (or of each matrix of a stack), ``np.linalg.inv``.

    A singular matrix raises ``LinAlgError`` when the function runs. To solve ``inv(a) @ b``,
    write ``solve(a, b)`` (symdl rewrites the first into the second anyway: it is more accurate).

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import matrix_inverse
    >>> x = T.dmatrix('x')
    >>> matrix_inverse(x).eval({x: np.array([[2.0, 0.0], [0.0, 4.0]])})
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    return _matrix_inverse(x)


inv = matrix_inverse


class Det(Op):
    """``np.linalg.det`` of a stack of square matrices.

    Gradient: ``g * det(x) * inv(x).T`` (undefined for a singular matrix; use ``slogdet`` for
    ``log(det(x))``, which symdl does on its own).
    """

    def make_node(self, x: Any) -> Apply:
        x = as_float_matrix(x, "det")
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape[:-2])])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [np.asarray(run_linalg("det", np.linalg.det, inputs[0]), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])[:-2]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.elemwise import Elemwise
        from symdl.tensor.shape import expand_dims

        (det_x,), (g,) = outputs, grads
        # The gradient of log(det x) reaches here as g / det x: cancel the determinant, which
        # overflows (then inf / inf is NaN) long before the gradient inv(x).T does.
        node = g.owner
        division = (
            node is not None
            and type(node.op) is Elemwise
            and node.op.scalar_op.name == "true_div"
            and node.inputs[1] is det_x
        )
        scale = node.inputs[0] if division else g * det_x
        return [expand_dims(scale, (-2, -1)) * matrix_transpose(matrix_inverse(inputs[0]))]

    def __str__(self) -> str:
        return "det"


_det = Det()


def det(x: Any) -> Variable:
    """The determinant of a square matrix (or of each matrix of a stack), ``np.linalg.det``.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import det
    >>> x = T.dtensor3('x')
    >>> det(x).eval({x: np.stack([np.eye(2), 2 * np.eye(2)])})
    array([1., 4.])
    """
    return _det(x)


class SLogDet(Op):
    """``np.linalg.slogdet``: the sign and the log of the absolute value of the determinant.

    Gradient of the log: ``inv(x).T``; the sign is piecewise constant.
    """

    def make_node(self, x: Any) -> Apply:
        x = as_float_matrix(x, "slogdet")
        out = TensorType(x.dtype, x.type.shape[:-2])
        return Apply(self, [x], [out, out])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        sign, logabsdet = run_linalg("slogdet", np.linalg.slogdet, inputs[0])
        dtype = node.outputs[0].dtype
        return [np.asarray(sign, dtype=dtype), np.asarray(logabsdet, dtype=dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        batch = list(input_shapes[0])[:-2]
        return [batch, list(batch)]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like
        from symdl.tensor.shape import expand_dims

        g = grads[1]
        if g is None:
            return [zeros_like(inputs[0])]
        return [expand_dims(g, (-2, -1)) * matrix_transpose(matrix_inverse(inputs[0]))]

    def __str__(self) -> str:
        return "slogdet"


_slogdet = SLogDet()


def slogdet(x: Any) -> tuple[Variable, Variable]:
    """``(sign, log|det x|)`` of a square matrix or a stack of them, ``np.linalg.slogdet``: the
    log-determinant without the overflow of ``det``.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import slogdet
    >>> x = T.dmatrix('x')
    >>> sign, logdet = slogdet(x)
    >>> round(float(logdet.eval({x: 1e3 * np.eye(200)})), 6)  # det overflows float64 here
    1381.551056
    """
    return tuple(_slogdet(x))  # type: ignore[return-value]


# ---------------------------------------------------------------- decompositions
class Eigh(Op):
    """``np.linalg.eigh``: eigenvalues (ascending) and eigenvectors of symmetric matrices, read
    from the ``UPLO`` triangle.

    Gradient, with ``g_w``, ``g_v`` the gradients of the two outputs and F[i, j] = 1 / (w[j] - w[i])
    off the diagonal: ``v @ (diag(g_w) + F * (v.T @ g_v)) @ v.T``, folded onto the triangle the op
    reads. It divides by differences of eigenvalues: the eigenvectors of a repeated eigenvalue are
    not unique and their gradient is undefined; pairs of exactly equal eigenvalues contribute 0
    (their vectors' gradient is then wrong unless the cost does not depend on the choice, as for
    a function of the eigenvalues only, or of the projector onto their common eigenspace).
    """

    __props__ = ("UPLO",)

    def __init__(self, UPLO: str = "L"):
        if UPLO not in ("L", "U"):
            raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
        self.UPLO = UPLO

    def make_node(self, x: Any) -> Apply:
        x = as_float_matrix(x, "eigh")
        n = square_dim(x)
        batch = x.type.shape[:-2]
        return Apply(self, [x], [TensorType(x.dtype, batch + (n,)), TensorType(x.dtype, batch + (n, n))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        w, v = run_linalg("eigh", lambda a: np.linalg.eigh(a, UPLO=self.UPLO), inputs[0])
        dtype = node.outputs[0].dtype
        return [w.astype(dtype, copy=False), v.astype(dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shape = list(input_shapes[0])
        return [shape[:-1], shape]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.blas import matmul

        w, v = outputs
        g_w, g_v = grads
        v_t = matrix_transpose(v)
        inner = None
        if g_v is not None:
            inner = _safe_reciprocal_differences(w) * matmul(v_t, g_v)
        if g_w is not None:
            diag_w = alloc_diag(g_w, 0, -2, -1)
            inner = diag_w if inner is None else inner + diag_w
        g_sym = matmul(matmul(v, inner), v_t)
        return [fold_to_triangle(g_sym, lower=self.UPLO == "L")]

    def __str__(self) -> str:
        return "eigh" if self.UPLO == "L" else "eigh{UPLO='U'}"


def eigh(a: Any, UPLO: str = "L") -> tuple[Variable, Variable]:
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix or a stack of
    them, ``np.linalg.eigh``; only the ``UPLO`` triangle ('L' lower, 'U' upper) is read.

    The eigenvectors' gradient is undefined where two eigenvalues are equal (see ``Eigh``).

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import eigh
    >>> x = T.dmatrix('x')
    >>> w, v = eigh(x)
    >>> w.eval({x: np.array([[2.0, 1.0], [1.0, 2.0]])})
    array([1., 3.])
    """
    return tuple(Eigh(UPLO)(a))  # type: ignore[return-value]


def eigvalsh(a: Any, UPLO: str = "L") -> Variable:
    """The eigenvalues (ascending) of a symmetric matrix or a stack of them, ``np.linalg.eigvalsh``."""
    return eigh(a, UPLO)[0]


class SVD(Op):
    """``np.linalg.svd``: ``u, s, vh`` (or ``s`` alone when not ``compute_uv``).

    Gradient (Townsend, "Differentiating the singular value decomposition", 2016), with
    ``v = vh.T`` and F[i, j] = 1 / (s[j]^2 - s[i]^2) off the diagonal::

        u @ (F * (u.T g_u - g_u.T u) s + diag(g_s) + s F * (v.T g_v - g_v.T v)) @ v.T
          + (I - u u.T) g_u / s @ v.T + u @ (g_v.T (I - v v.T)) / s

    for the reduced factors. The singular values alone have the gradient ``u @ diag(g_s) @ vh``.
    With ``full_matrices`` and a non-square matrix, the extra columns of ``u`` or rows of ``vh``
    are not unique: their gradient is not implemented. Singular vectors of repeated or zero
    singular values have an undefined gradient.
    """

    __props__ = ("full_matrices", "compute_uv")

    def __init__(self, full_matrices: bool = True, compute_uv: bool = True):
        self.full_matrices = bool(full_matrices)
        self.compute_uv = bool(compute_uv)

    def make_node(self, x: Any) -> Apply:
        x = as_float_matrix(x, "svd", square=False)
        batch = x.type.shape[:-2]
        m, n = x.type.shape[-2:]
        k = builtins.min(m, n) if m is not None and n is not None else None
        s = TensorType(x.dtype, batch + (k,))
        if not self.compute_uv:
            return Apply(self, [x], [s])
        u_cols, vh_rows = (m, n) if self.full_matrices else (k, k)
        return Apply(
            self, [x], [TensorType(x.dtype, batch + (m, u_cols)), s, TensorType(x.dtype, batch + (vh_rows, n))]
        )

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        result = run_linalg(
            "svd", lambda a: np.linalg.svd(a, full_matrices=self.full_matrices, compute_uv=self.compute_uv), inputs[0]
        )
        dtype = node.outputs[0].dtype
        if not self.compute_uv:
            return [np.asarray(result, dtype=dtype)]
        return [np.asarray(r, dtype=dtype) for r in result]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.elemwise import minimum

        shape = list(input_shapes[0])
        batch, m, n = shape[:-2], shape[-2], shape[-1]
        k = minimum(m, n)
        if not self.compute_uv:
            return [batch + [k]]
        u_cols, vh_rows = (m, n) if self.full_matrices else (k, k)
        return [batch + [m, u_cols], batch + [k], batch + [vh_rows, n]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.gradient import grad_not_implemented

        (x,) = inputs
        if not self.compute_uv:
            u, s, vh = SVD(full_matrices=False)(x)
            return [_svd_grad(u, s, vh, None, grads[0], None)]
        g_u, g_s, g_vh = grads
        u, s, vh = outputs
        if self.full_matrices and (g_u is not None or g_vh is not None):
            m, n = x.type.shape[-2:]
            if m is None or m != n:
                return [
                    grad_not_implemented(
                        self,
                        0,
                        x,
                        "the extra columns of u (rows of vh) of a full SVD of a non-square matrix are not unique; "
                        "use full_matrices=False (or a matrix statically known to be square)",
                    )
                ]
        return [_svd_grad(u, s, vh, g_u, g_s, g_vh)]

    def __str__(self) -> str:
        return f"svd{{full_matrices={self.full_matrices}, compute_uv={self.compute_uv}}}"


def _svd_grad(u: Variable, s: Variable, vh: Variable, g_u: Any, g_s: Any, g_vh: Any) -> Variable:
    """Townsend's adjoint of the reduced SVD ``x = u diag(s) vh`` (see ``SVD``)."""
    from symdl.tensor.blas import matmul
    from symdl.tensor.shape import expand_dims

    v = matrix_transpose(vh)
    u_t = matrix_transpose(u)
    core = None

    def add(term: Variable) -> None:
        nonlocal core
        core = term if core is None else core + term

    if g_s is not None:
        add(alloc_diag(g_s, 0, -2, -1))
    if g_u is not None or g_vh is not None:
        f = _safe_reciprocal_differences(s * s)
        s_row, s_col = expand_dims(s, -2), expand_dims(s, -1)
    if g_u is not None:
        ut_gu = matmul(u_t, g_u)
        add(f * (ut_gu - matrix_transpose(ut_gu)) * s_row)
    if g_vh is not None:
        g_v = matrix_transpose(g_vh)
        vt_gv = matmul(vh, g_v)
        add(s_col * (f * (vt_gv - matrix_transpose(vt_gv))))
    g_x = matmul(matmul(u, core), vh) if core is not None else None
    if g_u is not None:
        # (I - u u^T) g_u diag(1/s) v^T: the part of g_u outside the column space of u.
        outside = (g_u - matmul(u, matmul(u_t, g_u))) / s_row
        term = matmul(outside, vh)
        g_x = term if g_x is None else g_x + term
    if g_vh is not None:
        outside_t = (g_vh - matmul(matmul(g_vh, v), vh)) / s_col
        term = matmul(u, outside_t)
        g_x = term if g_x is None else g_x + term
    return g_x


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """The singular value decomposition ``a = u @ diag(s) @ vh`` of a matrix or a stack of them,
    ``np.linalg.svd``: ``(u, s, vh)``, or ``s`` alone when ``compute_uv`` is False.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import svd
    >>> x = T.dmatrix('x')
    >>> svd(x, compute_uv=False).eval({x: np.array([[3.0, 0.0], [0.0, -4.0]])})
    array([4., 3.])
    """
    out = SVD(full_matrices, compute_uv)(a)
    return tuple(out) if compute_uv else out


class QRFull(Op):
    """``np.linalg.qr`` in mode 'reduced' (``q``, ``r``), 'complete' (``q`` square) or 'r'.

    Gradient of the reduced factors (any shape; the complete ones where they coincide, m <= n),
    with ``k = min(m, n)``, ``r = [r1 | r2]`` (r1 k x k), ``x = [x1 | x2]`` likewise, and
    ``copyltu(M) = tril(M) + tril(M, -1).T``::

        g_q' = g_q + x2 @ g_r2.T,   M = r1 @ g_r1.T - g_q'.T @ q
        g_x1 = (g_q' + q @ copyltu(M)) @ inv(r1).T,   g_x2 = q @ g_r2

    It needs r1 invertible (x of full rank).
    """

    __props__ = ("mode",)

    def __init__(self, mode: str = "reduced"):
        if mode not in ("reduced", "complete", "r"):
            raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
        self.mode = mode

    def make_node(self, x: Any) -> Apply:
        x = as_float_matrix(x, "qr", square=False)
        batch = x.type.shape[:-2]
        m, n = x.type.shape[-2:]
        k = builtins.min(m, n) if m is not None and n is not None else None
        if self.mode == "complete":
            outs = [TensorType(x.dtype, batch + (m, m)), TensorType(x.dtype, batch + (m, n))]
        else:
            r = TensorType(x.dtype, batch + (k, n))
            outs = [r] if self.mode == "r" else [TensorType(x.dtype, batch + (m, k)), r]
        return Apply(self, [x], outs)

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        result = run_linalg("qr", lambda a: np.linalg.qr(a, mode=self.mode), inputs[0])
        dtype = node.outputs[0].dtype
        if self.mode == "r":
            return [np.asarray(result, dtype=dtype)]
        return [np.asarray(r, dtype=dtype) for r in result]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.elemwise import minimum

        shape = list(input_shapes[0])
        batch, m, n = shape[:-2], shape[-2], shape[-1]
        if self.mode == "complete":
            return [batch + [m, m], batch + [m, n]]
        k = minimum(m, n)
        return [batch + [k, n]] if self.mode == "r" else [batch + [m, k], batch + [k, n]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.gradient import grad_not_implemented

        (x,) = inputs
        if self.mode == "r":
            q, r = QRFull("reduced")(x)
            return [_qr_grad(x, q, r, None, grads[0])]
        g_q, g_r = grads
        if self.mode == "complete" and g_q is not None:
            m, n = x.type.shape[-2:]
            if m is None or n is None or m > n:
                return [
                    grad_not_implemented(
                        self,
                        0,
                        x,
                        "the last m - n columns of a complete q (m > n) are not unique; use mode='reduced' "
                        "(or a matrix statically known to have no more rows than columns)",
                    )
                ]
        q, r = outputs
        return [_qr_grad(x, q, r, g_q, g_r)]

    def __str__(self) -> str:
        return f"qr{{mode={self.mode!r}}}"


def _qr_grad(x: Variable, q: Variable, r: Variable, g_q: Any, g_r: Any) -> Variable:
    """The adjoint of the reduced QR factorization (see ``QRFull``)."""
    from symdl.tensor.blas import matmul
    from symdl.tensor.creation import zeros_like
    from symdl.tensor.elemwise import minimum
    from symdl.tensor.shape import concatenate, shape_i
    from symdl.tensor.slinalg import solve_triangular

    k = minimum(shape_i(x, x.ndim - 2), shape_i(x, x.ndim - 1))
    g_q = zeros_like(q) if g_q is None else g_q
    g_r = zeros_like(r) if g_r is None else g_r
    r1, g_r1, g_r2, x2 = r[..., :k], g_r[..., :k], g_r[..., k:], x[..., k:]
    g_q = g_q + matmul(x2, matrix_transpose(g_r2))
    m = matmul(r1, matrix_transpose(g_r1)) - matmul(matrix_transpose(g_q), q)
    copied = tril(m) + matrix_transpose(tril(m, -1))
    rhs = g_q + matmul(q, copied)
    # rhs @ inv(r1).T = (inv(r1) @ rhs.T).T
    g_x1 = matrix_transpose(solve_triangular(r1, matrix_transpose(rhs), lower=False))
    return concatenate([g_x1, matmul(q, g_r2)], axis=-1)


def qr(a: Any, mode: str = "reduced") -> Any:
    """The QR factorization of a matrix or a stack of them, ``np.linalg.qr``: ``(q, r)`` for
    'reduced' (default) and 'complete', ``r`` alone for 'r'.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import qr
    >>> x = T.dmatrix('x')
    >>> q, r = qr(x)
    >>> bool(np.allclose((q @ r).eval({x: np.arange(6.0).reshape(3, 2)}), np.arange(6.0).reshape(3, 2)))
    True
    """
    if mode == "full":  # Theano's (and old NumPy's) name of 'reduced'
        mode = "reduced"
    out = QRFull(mode)(a)
    return tuple(out) if isinstance(out, list) else out


class PInv(Op):
    """``np.linalg.pinv``: the Moore-Penrose pseudo-inverse ``p`` of a matrix or a stack of them.

    Gradient (for a matrix whose rank does not change nearby, e.g. full rank)::

        -p.T g p.T + (I - x p) g.T p p.T + p.T p g.T (I - p x)
    """

    def make_node(self, x: Any) -> Apply:
        x = as_float_matrix(x, "pinv", square=False)
        m, n = x.type.shape[-2:]
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape[:-2] + (n, m))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [np.asarray(run_linalg("pinv", np.linalg.pinv, inputs[0]), dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shape = list(input_shapes[0])
        return [shape[:-2] + [shape[-1], shape[-2]]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.blas import matmul

        (x,), (p,), (g,) = inputs, outputs, grads
        p_t, g_t = matrix_transpose(p), matrix_transpose(g)
        first = -matmul(matmul(p_t, g), p_t)
        gt_p_pt = matmul(matmul(g_t, p), p_t)
        second = gt_p_pt - matmul(x, matmul(p, gt_p_pt))
        pt_p_gt = matmul(matmul(p_t, p), g_t)
        third = pt_p_gt - matmul(matmul(pt_p_gt, p), x)
        return [first + second + third]

    def __str__(self) -> str:
        return "pinv"


_pinv = PInv()


def pinv(x: Any) -> Variable:
    """The Moore-Penrose pseudo-inverse of a matrix or a stack of them, ``np.linalg.pinv``.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import pinv
    >>> x = T.dmatrix('x')
    >>> pinv(x).eval({x: np.array([[1.0], [1.0]])})
    array([[0.5, 0.5]])
    """
    return _pinv(x)


# ---------------------------------------------------------------- diagonals
def _diag_length(d1: Any, d2: Any, offset: int) -> Any:
    """The length of diagonal ``offset`` of a d1 x d2 matrix (ints or symbolic scalars)."""
    from symdl.tensor.elemwise import maximum, minimum

    a, b = d1 + builtins.min(offset, 0), d2 - builtins.max(offset, 0)
    if isinstance(a, int) and isinstance(b, int):
        return builtins.max(0, builtins.min(a, b))
    return maximum(minimum(a, b), 0)


def _normalize_diag_axes(opname: str, ndim: int, axis1: int, axis2: int) -> tuple[int, int]:
    a1, a2 = int(axis1), int(axis2)
    if not (-ndim <= a1 < ndim and -ndim <= a2 < ndim):
        raise ShapeError(f"{opname}: axes ({axis1}, {axis2}) out of range for {ndim} dimensions")
    a1, a2 = a1 % ndim, a2 % ndim
    if a1 == a2:
        raise ShapeError(f"{opname}: axis1 and axis2 must differ, got {axis1} and {axis2}")
    return a1, a2


class ExtractDiag(Op):
    """``np.diagonal(x, offset, axis1, axis2)``: the diagonal becomes the last axis.

    Gradient: ``g`` written onto the same diagonal of zeros (``AllocDiag``).
    """

    __props__ = ("offset", "axis1", "axis2")

    def __init__(self, offset: int = 0, axis1: int = 0, axis2: int = 1):
        self.offset, self.axis1, self.axis2 = int(offset), int(axis1), int(axis2)

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim < 2:
            raise ShapeError(f"extract_diag takes a tensor of at least 2 dimensions, got {x.type} ({describe(x)})")
        a1, a2 = _normalize_diag_axes("extract_diag", x.ndim, self.axis1, self.axis2)
        if (a1, a2) != (self.axis1, self.axis2):
            return ExtractDiag(self.offset, a1, a2).make_node(x)
        shape = x.type.shape
        d1, d2 = shape[a1], shape[a2]
        length = _diag_length(d1, d2, self.offset) if d1 is not None and d2 is not None else None
        rest = tuple(d for i, d in enumerate(shape) if i not in (a1, a2))
        return Apply(self, [x], [TensorType(x.dtype, rest + (length,))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [np.diagonal(inputs[0], self.offset, self.axis1, self.axis2).copy()]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shape = list(input_shapes[0])
        rest = [d for i, d in enumerate(shape) if i not in (self.axis1, self.axis2)]
        return [rest + [_diag_length(shape[self.axis1], shape[self.axis2], self.offset)]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.shape import shape

        (x,) = inputs
        return [AllocDiag(self.offset, self.axis1, self.axis2)(grads[0], shape(x))]

    def __str__(self) -> str:
        return f"extract_diag{{offset={self.offset}, axes=({self.axis1}, {self.axis2})}}"


class AllocDiag(Op):
    """The inverse of ``ExtractDiag``: zeros of the given ``shape`` with the last axis of ``v``
    written onto diagonal ``offset`` of axes (axis1, axis2) (``np.diagonal`` of the result is v).

    Gradient: the same diagonal of ``g``.
    """

    __props__ = ("offset", "axis1", "axis2")

    def __init__(self, offset: int = 0, axis1: int = 0, axis2: int = 1):
        self.offset, self.axis1, self.axis2 = int(offset), int(axis1), int(axis2)

    def make_node(self, v: Any, shape: Any) -> Apply:
        from symdl.tensor.shape import _as_shape_vector

        v = as_tensor_variable(v)
        if v.ndim < 1:
            raise ShapeError(f"alloc_diag takes a tensor of at least 1 dimension, got a scalar ({describe(v)})")
        shape_vec, static = _as_shape_vector(shape)
        ndim = v.ndim + 1
        if shape_vec.type.shape[0] not in (None, ndim):
            raise ShapeError(f"alloc_diag: a {v.ndim}-d diagonal needs a {ndim}-entry shape, got {shape_vec.type}")
        a1, a2 = _normalize_diag_axes("alloc_diag", ndim, self.axis1, self.axis2)
        if (a1, a2) != (self.axis1, self.axis2):
            return AllocDiag(self.offset, a1, a2).make_node(v, shape_vec)
        out = list(static) if static is not None else [None] * ndim
        rest = iter(v.type.shape[:-1])
        for i in range(ndim):
            if i not in (a1, a2):
                known = next(rest)
                out[i] = out[i] if out[i] is not None else known
        return Apply(self, [v, shape_vec], [TensorType(v.dtype, out)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        v, shape = inputs
        out = np.zeros(tuple(int(d) for d in shape), dtype=node.outputs[0].dtype)
        length = _diag_length(out.shape[self.axis1], out.shape[self.axis2], self.offset)
        if v.shape[-1] != length:
            raise ShapeError(
                f"alloc_diag: a diagonal of length {v.shape[-1]} does not fit diagonal {self.offset} of shape {out.shape}"
            )
        moved = np.moveaxis(out, (self.axis1, self.axis2), (-2, -1))
        steps = np.arange(length)
        moved[..., steps + builtins.max(-self.offset, 0), steps + builtins.max(self.offset, 0)] = v
        return [out]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shape = node.inputs[1]
        return [[shape[i] for i in range(node.outputs[0].ndim)]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        return [ExtractDiag(self.offset, self.axis1, self.axis2)(grads[0]), None]

    def __str__(self) -> str:
        return f"alloc_diag{{offset={self.offset}, axes=({self.axis1}, {self.axis2})}}"


def extract_diag(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Variable:
    """Diagonal ``offset`` of axes (axis1, axis2), as the last axis: ``np.diagonal``.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import extract_diag
    >>> x = T.dmatrix('x')
    >>> extract_diag(x).eval({x: np.arange(6.0).reshape(2, 3)})
    array([0., 4.])
    """
    return ExtractDiag(offset, axis1, axis2)(x)


diagonal = extract_diag


def alloc_diag(v: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Variable:
    """A tensor with ``v``'s last axis on diagonal ``offset`` of axes (axis1, axis2) and zeros
    elsewhere; ``v``'s other axes fill the remaining ones in order (``extract_diag`` undoes it).
    ``alloc_diag(v, 0, -2, -1)`` turns a stack of vectors into a stack of diagonal matrices.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import alloc_diag
    >>> v = T.dvector('v')
    >>> alloc_diag(v, 1).eval({v: np.array([1.0, 2.0])})
    array([[0., 1., 0.],
           [0., 0., 2.],
           [0., 0., 0.]])
    """
    from symdl.tensor.shape import shape_i

    v = as_tensor_variable(v)
    if v.ndim < 1:
        raise ShapeError(f"alloc_diag takes a tensor of at least 1 dimension, got a scalar ({describe(v)})")
    ndim = v.ndim + 1
    a1, a2 = _normalize_diag_axes("alloc_diag", ndim, axis1, axis2)
    size = shape_i(v, v.ndim - 1) + abs(int(offset))
    static = v.type.shape[-1]
    side: Any = static + abs(int(offset)) if static is not None else size
    rest = iter(v.type.shape[i] if v.type.shape[i] is not None else shape_i(v, i) for i in range(v.ndim - 1))
    shape = [side if i in (a1, a2) else next(rest) for i in range(ndim)]
    return AllocDiag(offset, a1, a2)(v, shape)


def diag(v: Any, k: int = 0) -> Variable:
    """``np.diag``: a vector becomes a square matrix with it on diagonal ``k``; a matrix gives
    its diagonal ``k``.

    >>> import numpy as np, symdl.tensor as T
    >>> v = T.dvector('v')
    >>> T.diag(v).eval({v: np.array([1.0, 2.0])})
    array([[1., 0.],
           [0., 2.]])
    """
    v = as_tensor_variable(v)
    if v.ndim == 1:
        return alloc_diag(v, k)
    if v.ndim == 2:
        return extract_diag(v, k)
    raise ShapeError(f"diag takes a vector or a matrix, got {v.type} ({describe(v)}); use extract_diag or alloc_diag")


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Variable:
    """The sum of diagonal ``offset`` of axes (axis1, axis2), ``np.trace`` (a matrix gives a scalar).

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import trace
    >>> x = T.dmatrix('x')
    >>> float(trace(x).eval({x: np.arange(9.0).reshape(3, 3)}))
    12.0
    """
    from symdl.tensor.reduction import sum as tsum

    return tsum(extract_diag(x, offset, axis1, axis2), axis=-1)


# ---------------------------------------------------------------- products and norms
def kron(a: Any, b: Any) -> Variable:
    """The Kronecker product, ``np.kron`` (the operand with fewer dimensions gets leading 1s).

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import kron
    >>> a, b = T.dmatrix('a'), T.dmatrix('b')
    >>> kron(a, b).eval({a: np.eye(2), b: np.ones((1, 2))})
    array([[1., 1., 0., 0.],
           [0., 0., 1., 1.]])
    """
    from symdl.tensor.shape import dimshuffle, reshape, shape_i

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    ndim = builtins.max(a.ndim, b.ndim)
    if ndim == 0:
        return a * b
    a = dimshuffle(a, ["x"] * (ndim - a.ndim) + list(range(a.ndim)))
    b = dimshuffle(b, ["x"] * (ndim - b.ndim) + list(range(b.ndim)))
    a_wide = dimshuffle(a, [e for i in range(ndim) for e in (i, "x")])
    b_wide = dimshuffle(b, [e for i in range(ndim) for e in ("x", i)])
    product = a_wide * b_wide
    sizes = []
    for i in range(ndim):
        da, db = a.type.shape[i], b.type.shape[i]
        sizes.append(da * db if da is not None and db is not None else shape_i(a, i) * shape_i(b, i))
    return reshape(product, tuple(sizes))


def matrix_dot(*args: Any) -> Variable:
    """``args[0] @ args[1] @ ...``: the product of several matrices (Theano's ``matrix_dot``)."""
    from symdl.tensor.blas import dot

    if not args:
        raise TypeError("matrix_dot needs at least one matrix")
    out = as_tensor_variable(args[0])
    for a in args[1:]:
        out = dot(out, a)
    return out


def matrix_power(m: Any, n: int) -> Variable:
    """``np.linalg.matrix_power``: ``m`` multiplied by itself ``n`` times (an integer; negative
    powers invert first, 0 gives the identity), by repeated squaring.

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import matrix_power
    >>> x = T.dmatrix('x')
    >>> matrix_power(x, 3).eval({x: np.array([[1.0, 1.0], [0.0, 1.0]])})
    array([[1., 3.],
           [0., 1.]])
    """
    from symdl.tensor.blas import matmul
    from symdl.tensor.creation import zeros_like
    from symdl.tensor.elemwise import where

    if not isinstance(n, int | np.integer):
        raise TypeError(f"matrix_power: the power must be an integer, got {n!r}")
    m = as_float_matrix(m, "matrix_power")
    n = int(n)
    if n == 0:
        return where(diagonal_mask(m), 1, zeros_like(m))
    if n < 0:
        m, n = matrix_inverse(m), -n
    result, square = None, m
    while n:
        if n & 1:
            result = square if result is None else matmul(result, square)
        n >>= 1
        if n:
            square = matmul(square, square)
    return result


def _norm_axes(x: Variable, axis: Any) -> tuple[int, ...]:
    from symdl.tensor.reduction import normalize_axis

    if axis is None:
        return tuple(range(x.ndim))
    axes = normalize_axis(axis, x.ndim, "norm", x)
    if len(axes) not in (1, 2):
        raise ShapeError(f"norm: axis must be an int or a pair of ints, got {axis!r}")
    return axes


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Variable:
    """Vector and matrix norms with ``np.linalg.norm``'s ``ord``, ``axis`` and ``keepdims``.

    Vectors (1-d, or one ``axis``): ``None``/2 Euclidean, 1, ``inf``, ``-inf``, 0 (the number of
    non-zeros) or any p. Matrices (2-d, or two axes): ``None``/'fro' Frobenius, 'nuc' (the sum of
    the singular values), 1 and -1 (largest, smallest column sum of |x|), ``inf`` and ``-inf``
    (row sums), 2 and -2 (largest, smallest singular value). With ``axis=None`` and more than
    two dimensions, ``ord`` must be None (the Frobenius norm of all elements).

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.tensor.nlinalg import norm
    >>> x = T.dmatrix('x')
    >>> float(norm(x, 'nuc').eval({x: np.diag([3.0, -4.0])}))
    7.0
    """
    from symdl.tensor import elemwise as ew
    from symdl.tensor import reduction as red
    from symdl.tensor.shape import expand_dims, transpose

    x = as_tensor_variable(x)
    if x.dtype not in ("float32", "float64", "float16"):
        x = ew.cast(x, "float64")
    if axis is None and x.ndim > 2 and ord is not None:
        raise ShapeError(f"norm: ord={ord!r} needs axis (one or two axes) for a {x.ndim}-d tensor")
    axes = _norm_axes(x, axis)
    if axis is None and ord is None:
        out = ew.sqrt(red.sum(ew.sqr(x), axes, keepdims))
        return out
    if len(axes) == 1:
        (ax,) = axes
        if ord is None or ord == 2:
            return ew.sqrt(red.sum(ew.sqr(x), ax, keepdims))
        if ord == np.inf:
            return red.max(ew.abs(x), ax, keepdims)
        if ord == -np.inf:
            return red.min(ew.abs(x), ax, keepdims)
        if ord == 0:
            return red.sum(ew.cast(ew.neq(x, 0), x.dtype), ax, keepdims)
        if ord == 1:
            return red.sum(ew.abs(x), ax, keepdims)
        if isinstance(ord, str):
            raise ValueError(f"norm: ord={ord!r} is a matrix norm; a vector takes a number")
        p = float(ord)
        return red.sum(ew.abs(x) ** p, ax, keepdims) ** (1.0 / p)
    row, col = axes
    if ord is None or ord == "fro":
        return ew.sqrt(red.sum(ew.sqr(x), axes, keepdims))
    if ord in (1, -1, np.inf, -np.inf):
        summed_axis, then_axis = (row, col) if ord in (1, -1) else (col, row)
        sums = red.sum(ew.abs(x), summed_axis, keepdims=True)
        pick = red.max if ord in (1, np.inf) else red.min
        out = pick(sums, then_axis, keepdims=True)
        return out if keepdims else red._drop_axes(out, axes)
    if ord in ("nuc", 2, -2):
        rest = [i for i in range(x.ndim) if i not in axes]
        s = svd(transpose(x, rest + [row, col]), compute_uv=False)
        if ord == "nuc":
            out = red.sum(s, -1)
        else:
            out = red.max(s, -1) if ord == 2 else red.min(s, -1)
        if keepdims:
            for a in sorted(axes):
                out = expand_dims(out, a)
        return out
    raise ValueError(f"norm: invalid ord {ord!r} for a matrix norm")


__all__ = [
    "LinAlgError",
    "alloc_diag",
    "det",
    "diag",
    "diagonal",
    "eigh",
    "eigvalsh",
    "extract_diag",
    "inv",
    "kron",
    "matrix_dot",
    "matrix_inverse",
    "matrix_power",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "svd",
    "trace",
    "tril",
    "triu",
]


# ---------------------------------------------------------------- C implementations
# The runtime's linear algebra (kernels/c/runtime_linalg.h: LAPACK from scipy-openblas32): its
# op codes (SD_LINALG_* in symdl_rt.h), and its parameters (lower, option, option2, b_ndim).
LINALG_CODES = {"cholesky": 0, "solve": 1, "solve_triangular": 2, "cho_solve": 3, "inv": 4, "det": 5, "slogdet": 6,
                "eigh": 7, "svd": 8, "qr": 9, "pinv": 10, "expm": 11}  # fmt: skip
_QR_MODES = {"reduced": 0, "complete": 1, "r": 2}


def linalg_in_c(node: Apply, c: Any, op: str, params: Sequence[int] = (0, 0, 0, 0)) -> str | None:
    """The runtime's call running ``node`` (LAPACK), or None unless every value is float32, or
    every one float64."""
    dtypes = {v.dtype for v in node.inputs + node.outputs}
    if len(dtypes) != 1 or dtypes.pop() not in ("float32", "float64"):
        return None
    ins, outs = [c.slot(v) for v in node.inputs], [c.slot(v) for v in node.outputs]
    return c.call("linalg", LINALG_CODES[op], c.ints(ins), c.ints(outs), c.int64s(params))


@register_impl("c", MatrixInverse)
def _matrix_inverse_in_c(node: Apply, c: Any) -> str | None:
    return linalg_in_c(node, c, "inv")


@register_impl("c", Det)
def _det_in_c(node: Apply, c: Any) -> str | None:
    return linalg_in_c(node, c, "det")


@register_impl("c", SLogDet)
def _slogdet_in_c(node: Apply, c: Any) -> str | None:
    return linalg_in_c(node, c, "slogdet")


@register_impl("c", Eigh)
def _eigh_in_c(node: Apply, c: Any) -> str | None:
    return linalg_in_c(node, c, "eigh", (int(node.op.UPLO == "L"), 0, 0, 0))


@register_impl("c", SVD)
def _svd_in_c(node: Apply, c: Any) -> str | None:
    return linalg_in_c(node, c, "svd", (0, int(node.op.full_matrices), int(node.op.compute_uv), 0))


@register_impl("c", QRFull)
def _qr_in_c(node: Apply, c: Any) -> str | None:
    return linalg_in_c(node, c, "qr", (0, _QR_MODES[node.op.mode], 0, 0))


@register_impl("c", PInv)
def _pinv_in_c(node: Apply, c: Any) -> str | None:
    return linalg_in_c(node, c, "pinv")
