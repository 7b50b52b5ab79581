"""Linear algebra: dot (Theano semantics for 1-D and 2-D, batched above), matmul, tensordot,
outer and batched_dot; the BLAS-shaped ``gemm``/``gemv`` that the specialize phase makes. Shapes
that cannot multiply raise at graph-build time.

``Gemm(C, alpha, A, B, beta)`` is ``beta * C + alpha * dot(A, B)`` for a matrix ``A`` and a
matrix ``B`` (``Gemv``: a vector ``B``), with ``alpha`` and ``beta`` 0-d tensors and ``C``
broadcasting against the product as NumPy does (a bias row is a valid ``C``). Backends map it to
one BLAS call (``C`` copied or broadcast into the output, then ``?gemm``/``?gemv`` with
``beta = 1``).

>>> import symdl.tensor as T
>>> T.dot(T.matrix(shape=(None, 3)), T.matrix(shape=(3, 5))).type
float32(?, 5)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


def _check_inner(opname: str, a: Variable, b: Variable, ka: int | None, kb: int | None) -> None:
    if ka is not None and kb is not None and ka != kb:
        raise ShapeError(
            f"{opname}: {a.ndim}-d tensor of shape {shape_str(a.type.shape)} cannot multiply "
            f"{shape_str(b.type.shape)} ({ka} vs {kb}) — {describe(a)}, {describe(b)}"
        )


def _promote(a: Variable, b: Variable) -> tuple[Variable, Variable]:
    from symdl.tensor.elemwise import _resolve_weak, cast

    a, b = _resolve_weak([a, b], "dot")
    dtype = str(np.result_type(a.dtype, b.dtype))
    return cast(a, dtype), cast(b, dtype)


class Dot(Op):
    """``np.dot`` of 1-D and 2-D tensors (vector.vector, matrix.vector, vector.matrix, matrix.matrix)."""

    view_map = {}
    grad_checks_shapes = True

    def make_node(self, a: Any, b: Any) -> Apply:
        a, b = _promote(as_tensor_variable(a), as_tensor_variable(b))
        if not (1 <= a.ndim <= 2 and 1 <= b.ndim <= 2):
            raise ShapeError(f"Dot takes 1-d or 2-d tensors, got {a.type} and {b.type}")
        _check_inner("dot", a, b, a.type.shape[-1], b.type.shape[0])
        shape = a.type.shape[:-1] + b.type.shape[1:]
        return Apply(self, [a, b], [TensorType(a.dtype, shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        a, b = inputs
        if a.shape[-1] != b.shape[0]:
            raise ShapeError(f"dot: shapes {a.shape} and {b.shape} are not aligned")
        return [np.asarray(np.dot(a, b))]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        sa, sb = input_shapes
        return [list(sa[:-1]) + list(sb[1:])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.shape import dimshuffle

        a, b = inputs
        (gz,) = grads
        if a.ndim == 1 and b.ndim == 1:
            return [gz * b, gz * a]
        if a.ndim == 2 and b.ndim == 1:
            return [outer(gz, b), dot(dimshuffle(a, (1, 0)), gz)]
        if a.ndim == 1 and b.ndim == 2:
            return [dot(b, gz), outer(a, gz)]
        return [dot(gz, dimshuffle(b, (1, 0))), dot(dimshuffle(a, (1, 0)), gz)]

    def __str__(self) -> str:
        return "dot"


_dot = Dot()


class MatMul(Op):
    """``np.matmul`` of tensors with at least 2 dimensions; leading axes broadcast."""

    view_map = {}
    grad_checks_shapes = True

    def make_node(self, a: Any, b: Any) -> Apply:
        from symdl.tensor.elemwise import broadcast_static_shapes

        a, b = _promote(as_tensor_variable(a), as_tensor_variable(b))
        if a.ndim < 2 or b.ndim < 2:
            raise ShapeError(f"MatMul takes tensors of 2 or more dimensions, got {a.type} and {b.type}")
        _check_inner("matmul", a, b, a.type.shape[-1], b.type.shape[-2])
        batch_a = TensorType("bool", a.type.shape[:-2]).make_variable()
        batch_b = TensorType("bool", b.type.shape[:-2]).make_variable()
        batch_a.trace, batch_b.trace, batch_a.name, batch_b.name = a.trace, b.trace, a.name, b.name
        batch = broadcast_static_shapes("matmul", [batch_a, batch_b])
        return Apply(self, [a, b], [TensorType(a.dtype, batch + (a.type.shape[-2], b.type.shape[-1]))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        a, b = inputs
        try:
            return [np.matmul(a, b)]
        except ValueError:
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit") from None

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.elemwise import sum_to_shape_of
        from symdl.tensor.shape import swapaxes

        a, b = inputs
        (gz,) = grads
        ga = matmul(gz, swapaxes(b, -1, -2))
        gb = matmul(swapaxes(a, -1, -2), gz)
        return [sum_to_shape_of(ga, a), sum_to_shape_of(gb, b)]

    def __str__(self) -> str:
        return "matmul"


_matmul = MatMul()


def matmul(a: Any, b: Any) -> Variable:
    """``a @ b`` with NumPy's matmul rules (1-d operands are promoted, then squeezed)."""
    from symdl.tensor.shape import expand_dims, squeeze

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: scalar operands are not allowed; use *")
    if a.ndim <= 2 and b.ndim <= 2:
        return _dot(a, b)
    squeeze_axes = []
    if a.ndim == 1:
        a = expand_dims(a, 0)
        squeeze_axes.append(-2)
    if b.ndim == 1:
        b = expand_dims(b, -1)
        squeeze_axes.append(-1)
    out = _matmul(a, b)
    return squeeze(out, squeeze_axes) if squeeze_axes else out


def dot(a: Any, b: Any) -> Variable:
    """Theano's dot: ``np.dot`` for 1-d and 2-d tensors, a product for scalars, and batched
    (``matmul``) for higher dimensions.

    >>> import numpy as np, symdl.tensor as T
    >>> a, b = T.dmatrix('a'), T.dvector('b')
    >>> T.dot(a, b).eval({a: np.eye(2), b: np.array([1.0, 2.0])})
    array([1., 2.])
    """
    if getattr(a, "is_sparse", False) or getattr(b, "is_sparse", False):
        from symdl.sparse import dot as sparse_dot

        return sparse_dot(a, b)
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return matmul(a, b)


def outer(a: Any, b: Any) -> Variable:
    """The outer product of two vectors (other tensors are flattened first, as ``np.outer``)."""
    from symdl.tensor.shape import dimshuffle, flatten

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    a, b = (v if v.ndim == 1 else flatten(v) for v in (a, b))
    return _dot(dimshuffle(a, (0, "x")), dimshuffle(b, ("x", 0)))


def tensordot(a: Any, b: Any, axes: int | Sequence = 2) -> Variable:
    """``np.tensordot``: contract ``axes`` of ``a`` with those of ``b``."""
    from symdl.tensor.shape import reshape, shape_tuple, transpose

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if isinstance(axes, int | np.integer):
        axes_a = list(range(a.ndim - int(axes), a.ndim))
        axes_b = list(range(int(axes)))
    else:
        axes_a, axes_b = ([x] if isinstance(x, int) else list(x) for x in axes)
    axes_a = [x % a.ndim for x in axes_a]
    axes_b = [x % b.ndim for x in axes_b]
    if len(axes_a) != len(axes_b):
        raise ShapeError(f"tensordot: {len(axes_a)} axes of a against {len(axes_b)} axes of b")
    for x, y in zip(axes_a, axes_b):
        _check_inner("tensordot", a, b, a.type.shape[x], b.type.shape[y])
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [i for i in range(b.ndim) if i not in axes_b]
    sa, sb = shape_tuple(a), shape_tuple(b)

    def prod(dims: list) -> Any:
        out: Any = 1
        for d in dims:
            out = out * d
        return out

    a2 = reshape(transpose(a, free_a + axes_a), (prod([sa[i] for i in free_a]), prod([sa[i] for i in axes_a])))
    b2 = reshape(transpose(b, axes_b + free_b), (prod([sb[i] for i in axes_b]), prod([sb[i] for i in free_b])))
    return reshape(_dot(a2, b2), tuple(sa[i] for i in free_a) + tuple(sb[i] for i in free_b))


def batched_dot(a: Any, b: Any) -> Variable:
    """Per-row products over the first axis: (B,n,m).(B,m,k) -> (B,n,k); (B,n).(B,n) -> (B,)."""
    from symdl.tensor.reduction import sum
    from symdl.tensor.shape import expand_dims, squeeze

    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 2 and b.ndim == 2:
        _check_inner("batched_dot", a, b, a.type.shape[1], b.type.shape[1])
        return sum(a * b, axis=1)
    if a.ndim == 2:
        return squeeze(_matmul(expand_dims(a, 1), b), 1)
    if b.ndim == 2:
        return squeeze(_matmul(a, expand_dims(b, 2)), 2)
    return _matmul(a, b)


class Gemm(Op):
    """``beta * C + alpha * dot(A, B)`` with ``A``, ``B`` matrices (see the module docstring)."""

    view_map = {}
    inplace_pattern = {0: [0]}  # C is read before the product accumulates into it

    b_ndim = 2
    name = "gemm"

    def make_node(self, C: Any, alpha: Any, A: Any, B: Any, beta: Any) -> Apply:
        from symdl.tensor.elemwise import broadcast_static_shapes

        C, alpha, A, B, beta = (as_tensor_variable(v) for v in (C, alpha, A, B, beta))
        if A.ndim != 2 or B.ndim != self.b_ndim:
            raise ShapeError(f"{self.name} takes a matrix and a {self.b_ndim}-d tensor, got {A.type} and {B.type}")
        if alpha.ndim != 0 or beta.ndim != 0:
            raise ShapeError(f"{self.name}: alpha and beta must be scalars, got {alpha.type} and {beta.type}")
        dtypes = {v.dtype for v in (C, alpha, A, B, beta)}
        if len(dtypes) != 1 or not A.type.is_float:
            raise TypeMismatch(f"{self.name} needs one float dtype for all inputs, got {sorted(dtypes)}")
        a, b = A.type.shape, B.type.shape
        if a[1] is not None and b[0] is not None and a[1] != b[0]:
            raise ShapeError(f"{self.name}: {A.type} cannot multiply {B.type}")
        product = TensorType(A.dtype, a[:1] + b[1:]).make_variable()
        if C.ndim > product.ndim:
            raise ShapeError(f"{self.name}: C of {C.type} has more dimensions than the product")
        shape = broadcast_static_shapes(self.name, [product, C])
        return Apply(self, [C, alpha, A, B, beta], [TensorType(A.dtype, shape)])

    def perform(self, node: Apply | None, inputs: Sequence[np.ndarray]) -> list:
        C, alpha, A, B, beta = inputs
        if A.shape[1] != B.shape[0]:
            raise ShapeError(f"{self.name}: shapes {A.shape} and {B.shape} are not aligned")
        out = np.dot(A, B)
        if alpha != 1:
            out *= alpha
        term = C if beta == 1 else beta * C
        if np.broadcast_shapes(out.shape, np.shape(term)) == out.shape:
            out += term
        else:
            out = out + term
        return [out]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.shape import broadcast_shape_symbolic

        c, _, a, b, _ = input_shapes
        return [broadcast_shape_symbolic(node, [list(a[:1]) + list(b[1:]), c])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.gradient import grad
        from symdl.tensor.blas import dot

        C, alpha, A, B, beta = inputs
        expr = beta * C + alpha * dot(A, B)
        return grad(None, list(inputs), known_grads={expr: grads[0]}, disconnected_inputs="ignore")

    def __str__(self) -> str:
        return self.name


class Gemv(Gemm):
    """``beta * y + alpha * dot(A, x)`` with ``A`` a matrix and ``x`` a vector."""

    b_ndim = 1
    name = "gemv"


gemm = Gemm()
gemv = Gemv()


# ---------------------------------------------------------------- C and CUDA implementations
_BLAS_FLOATS = ("float32", "float64")


@register_impl("c", Dot, MatMul)
def _dot_in_c(node: Apply, c: Any) -> str | None:
    a, b = node.inputs
    if a.dtype not in _BLAS_FLOATS or b.dtype != a.dtype:
        return None
    entry = "matmul" if isinstance(node.op, MatMul) else "dot"
    return c.call(entry, c.slot(a), c.slot(b), c.slot(node.outputs[0]))


@register_impl("c", Gemm)
def _gemm_in_c(node: Apply, c: Any) -> str | None:
    if node.outputs[0].dtype not in _BLAS_FLOATS or node.inputs[0].ndim > node.outputs[0].ndim:
        return None
    return c.call("gemm", *(c.slot(v) for v in node.inputs), c.slot(node.outputs[0]))


@register_impl("cuda", Dot)
def _dot_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.gemm(node, accumulate=False)


@register_impl("cuda", Gemm)
def _gemm_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.gemm(node, accumulate=True)
