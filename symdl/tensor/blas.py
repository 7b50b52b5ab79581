"""Linear algebra: dot (Theano semantics for 1-D and 2-D, batched above), matmul, tensordot,
outer and batched_dot. Shapes that cannot multiply raise at graph-build time.

>>> import symdl.tensor as T
>>> T.dot(T.matrix(shape=(None, 3)), T.matrix(shape=(3, 5))).type
float32(?, 5)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError
from symdl.graph.basic import Apply, Op, Variable
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
