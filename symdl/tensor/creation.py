"""Tensors made from shapes: alloc (fill/broadcast), zeros, ones, full, arange, eye, one_hot.

>>> import symdl.tensor as T
>>> T.zeros((2, 3)).type
float32(2, 3)
>>> T.arange(5).type
int64(5,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.config import config
from symdl.errors import ShapeError
from symdl.graph.basic import Apply, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import TensorConstant, as_tensor_variable, constant


class Alloc(Op):
    """A tensor of the given shape filled by broadcasting ``value`` (Theano's alloc)."""

    view_map = {}

    def make_node(self, value: Any, *shape: Any) -> Apply:
        from symdl.tensor.shape import cast_int64

        value = as_tensor_variable(value)
        dims = [cast_int64(as_tensor_variable(d)) for d in shape]
        for d in dims:
            if d.ndim != 0:
                raise ShapeError(f"alloc: shape entries must be scalars, got {d.type}")
        if value.ndim > len(dims):
            raise ShapeError(f"alloc: a {value.ndim}-d value cannot fill a {len(dims)}-d shape")
        static = [int(d.data) if isinstance(d, TensorConstant) else None for d in dims]
        lead = len(dims) - value.ndim
        for i, vd in enumerate(value.type.shape):
            sd = static[lead + i]
            if vd is not None and vd != 1 and sd is not None and sd != vd:
                raise ShapeError(f"alloc: value of shape {shape_str(value.type.shape)} cannot fill {shape_str(static)}")
            if sd is None and vd is not None and vd != 1:
                static[lead + i] = vd
        return Apply(self, [value, *dims], [TensorType(value.dtype, static)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        from symdl.tensor.checks import check_size

        value, *dims = inputs
        shape = check_size(node, dims, "alloc")
        try:
            return [np.array(np.broadcast_to(value, shape))]
        except ValueError:
            raise ShapeError(f"alloc: value of shape {value.shape} cannot fill shape {shape}") from None

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(node.inputs[1:])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.elemwise import sum_to_shape_of

        value = inputs[0]
        g = sum_to_shape_of(grads[0], value) if value.type.is_float else None
        return [g] + [None] * (len(inputs) - 1)

    def __str__(self) -> str:
        return "alloc"


_alloc = Alloc()


def alloc(value: Any, *shape: Any) -> Variable:
    """``value`` broadcast to ``shape`` (a new array)."""
    return _alloc(value, *shape)


def _shape_args(shape: Any) -> tuple:
    if isinstance(shape, Variable):
        if shape.ndim == 0:
            return (shape,)
        n = shape.type.shape[0]
        if n is None:
            raise ShapeError("zeros/ones/full: a shape vector must have a known length")
        return tuple(shape[i] for i in range(n))
    if isinstance(shape, int | np.integer):
        return (int(shape),)
    return tuple(shape)


def full(shape: Any, fill_value: Any, dtype: str | None = None) -> Variable:
    """A tensor of ``shape`` filled with ``fill_value``."""
    value = as_tensor_variable(fill_value)
    dtype = dtype or (config.floatX if getattr(value, "weak", False) and value.dtype == "float64" else value.dtype)
    from symdl.tensor.elemwise import cast

    return alloc(cast(value, dtype), *_shape_args(shape))


def zeros(shape: Any, dtype: str | None = None) -> Variable:
    """A tensor of zeros (``dtype`` defaults to floatX)."""
    return alloc(constant(np.zeros((), dtype or config.floatX)), *_shape_args(shape))


def ones(shape: Any, dtype: str | None = None) -> Variable:
    """A tensor of ones (``dtype`` defaults to floatX)."""
    return alloc(constant(np.ones((), dtype or config.floatX)), *_shape_args(shape))


def zeros_like(x: Any, dtype: str | None = None) -> Variable:
    from symdl.tensor.shape import shape_tuple

    x = as_tensor_variable(x)
    return alloc(constant(np.zeros((), dtype or x.dtype)), *shape_tuple(x))


def ones_like(x: Any, dtype: str | None = None) -> Variable:
    from symdl.tensor.shape import shape_tuple

    x = as_tensor_variable(x)
    return alloc(constant(np.ones((), dtype or x.dtype)), *shape_tuple(x))


def full_like(x: Any, fill_value: Any, dtype: str | None = None) -> Variable:
    from symdl.tensor.shape import shape_tuple

    x = as_tensor_variable(x)
    return alloc(constant(np.asarray(fill_value, dtype or x.dtype)), *shape_tuple(x))


class ARange(Op):
    """``np.arange(start, stop, step)`` on scalar inputs."""

    view_map = {}

    __props__ = ("dtype",)

    def __init__(self, dtype: str):
        self.dtype = dtype

    @property
    def differentiable(self) -> bool:  # type: ignore[override]
        return np.dtype(self.dtype).kind == "f"

    def make_node(self, start: Any, stop: Any, step: Any) -> Apply:
        from symdl.tensor.elemwise import cast

        args = [cast(as_tensor_variable(a), self.dtype) for a in (start, stop, step)]
        n = None
        if all(isinstance(a, TensorConstant) for a in args):
            n = len(np.arange(*[a.data.item() for a in args]))
        return Apply(self, args, [TensorType(self.dtype, (n,))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        start, stop, step = (a.item() for a in inputs)
        if step == 0:
            raise ValueError("arange: step must not be zero")
        return [np.arange(start, stop, step, dtype=self.dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.elemwise import cast, ceil, maximum

        start, stop, step = node.inputs
        n = maximum(ceil(cast(stop - start, "float64") / cast(step, "float64")), 0)
        return [[cast(n, "int64")]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        # Element k is start + k * step; stop only sets the length (piecewise constant).
        from symdl.tensor.reduction import sum as tsum
        from symdl.tensor.shape import shape_i

        (gz,) = grads
        k = arange(shape_i(outputs[0], 0), dtype=self.dtype)
        return [tsum(gz), None, tsum(gz * k)]

    def __str__(self) -> str:
        return "arange"


def arange(start: Any, stop: Any = None, step: Any = 1, dtype: str | None = None) -> Variable:
    """Evenly spaced values, as ``np.arange``; integers give int64."""
    if stop is None:
        start, stop = 0, start
    args = [as_tensor_variable(a) for a in (start, stop, step)]
    if dtype is None:
        # As NumPy, which reads the bounds as Python numbers: int64 unless one of them is a float.
        dtype = "float64" if any(np.dtype(a.dtype).kind in "fc" for a in args) else "int64"
    return ARange(str(np.dtype(dtype)))(*args)


class Eye(Op):
    """``np.eye(n, m, k)`` with symbolic sizes."""

    view_map = {}

    __props__ = ("dtype",)
    differentiable = False

    def __init__(self, dtype: str):
        self.dtype = dtype

    def make_node(self, n: Any, m: Any, k: Any) -> Apply:
        from symdl.tensor.shape import cast_int64

        args = [cast_int64(as_tensor_variable(a)) for a in (n, m, k)]
        shape = [int(a.data) if isinstance(a, TensorConstant) else None for a in args[:2]]
        return Apply(self, args, [TensorType(self.dtype, shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        from symdl.tensor.checks import check_size

        n, m, k = (int(a) for a in inputs)
        check_size(node, (n, m), "eye")
        return [np.eye(n, m, k, dtype=self.dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(node.inputs[:2])]

    def __str__(self) -> str:
        return "eye"


def eye(n: Any, m: Any = None, k: int = 0, dtype: str | None = None) -> Variable:
    """An identity-like matrix with ones on diagonal ``k``."""
    return Eye(str(np.dtype(dtype or config.floatX)))(n, n if m is None else m, k)


def identity_like(x: Any) -> Variable:
    """An identity matrix of ``x``'s shape and dtype."""
    from symdl.tensor.shape import shape_i

    x = as_tensor_variable(x)
    return eye(shape_i(x, 0), shape_i(x, 1), 0, x.dtype)


def one_hot(y: Any, n_classes: int, dtype: str | None = None) -> Variable:
    """Rows of ``n_classes`` zeros with a one at each label of the integer vector ``y``; a label
    outside ``[0, n_classes)`` raises IndexError when the function runs (negative ones too: unlike
    ``np.eye(n)[-1]``, labels are class indices, not positions from the end).

    >>> import numpy as np, symdl.tensor as T
    >>> y = T.ivector('y')
    >>> T.one_hot(y, 3).eval({y: np.array([2, 0], 'int32')})
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    from symdl.tensor.checks import check_labels
    from symdl.tensor.elemwise import cast, eq
    from symdl.tensor.shape import expand_dims

    y = check_labels(as_tensor_variable(y), n_classes, "one_hot")
    return cast(eq(expand_dims(y, -1), arange(n_classes, dtype=y.dtype)), dtype or config.floatX)


to_one_hot = one_hot


# ---------------------------------------------------------------- C and CUDA implementations
@register_impl("c", Alloc)
def _alloc_in_c(node: Apply, c: Any) -> str | None:
    value, *dims = node.inputs
    if any(not c.has_ctype(d.dtype) or d.dtype == "bool" for d in dims):
        return None
    slots = [c.slot(d) for d in dims]
    return c.call("alloc", c.slot(value), len(dims), c.ints(slots), c.slot(node.outputs[0]))


@register_impl("c", ARange)
def _arange_in_c(node: Apply, c: Any) -> str | None:
    # integers only: NumPy computes float ranges from their first two values, which C would not match
    if node.op.dtype not in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64"):
        return None
    start, stop, step = (c.slot(v) for v in node.inputs)
    return c.call("arange", start, stop, step, c.slot(node.outputs[0]))


@register_impl("cuda", Alloc)
def _alloc_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.alloc(node)
