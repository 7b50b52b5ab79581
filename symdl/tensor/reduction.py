"""Reductions over axes (sum, prod, max, min, all, any, argmax, argmin) and the ones built from
them (mean, var, std, logsumexp, norm), with NumPy's ``axis`` and ``keepdims`` semantics.

>>> import symdl.tensor as T
>>> x = T.tensor3('x', shape=(2, 3, 4))
>>> x.sum(axis=(0, -1)).type
float32(3,)
>>> x.max(axis=1, keepdims=True).type
float32(2, 1, 4)
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable, add_call_site
from symdl.graph.impl import register_impl
from symdl.tensor import elemwise as ew
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


def normalize_axis(axis: Any, ndim: int, opname: str, var: Variable | None = None) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence, negatives allowed) as a sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    result = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            where = f" of shape {shape_str(var.type.shape)} ({describe(var)})" if var is not None else ""
            exc = ShapeError(f"{opname}: axis {a} is out of range for a {ndim}-d tensor{where}")
            add_call_site(exc)
            raise exc
        result.append(a % ndim)
    if len(set(result)) != len(result):
        exc = ShapeError(f"{opname}: repeated axis in {axis}")
        add_call_site(exc)
        raise exc
    return tuple(sorted(result))


def reduced_shape(shape: Sequence[int | None], axes: tuple[int, ...], keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def expand_reduced(g: Variable, axes: tuple[int, ...], ndim: int, keepdims: bool) -> Variable:
    """Put size-1 axes back where a reduction without keepdims removed them."""
    if keepdims or not axes:
        return g
    from symdl.tensor.shape import dimshuffle

    pattern, k = [], 0
    for i in range(ndim):
        if i in axes:
            pattern.append("x")
        else:
            pattern.append(k)
            k += 1
    return dimshuffle(g, pattern)


class Reduce(Op):
    """``np.<kind>(x, axis, keepdims)`` for kind in sum, prod, max, min, all, any."""

    view_map = {}

    __props__ = ("kind", "axis", "keepdims", "dtype")

    def __init__(self, kind: str, axis: tuple[int, ...], keepdims: bool, dtype: str | None = None):
        self.kind, self.axis, self.keepdims, self.dtype = kind, axis, keepdims, dtype
        self.name = kind

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if self.kind in ("max", "min"):
            for a in self.axis:
                if x.type.shape[a] == 0:
                    raise ShapeError(f"{self.kind}: cannot reduce an empty axis {a} of {describe(x)}")
        dtype = self.dtype or str(getattr(np, self.kind)(np.ones((1,), x.dtype)).dtype)
        return Apply(self, [x], [TensorType(dtype, reduced_shape(x.type.shape, self.axis, self.keepdims))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        (x,) = inputs
        kw = {"dtype": self.dtype} if self.dtype and self.kind in ("sum", "prod") else {}
        out = getattr(np, self.kind)(x, axis=self.axis, keepdims=self.keepdims, **kw)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shape = input_shapes[0]
        if self.keepdims:
            return [[1 if i in self.axis else d for i, d in enumerate(shape)]]
        return [[d for i, d in enumerate(shape) if i not in self.axis]]

    @property
    def differentiable(self) -> bool:  # type: ignore[override]
        return self.kind not in ("all", "any")

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import alloc
        from symdl.tensor.shape import shape_tuple

        (x,), (out,), (gz,) = inputs, outputs, grads
        if not x.type.is_float:
            return [None]
        ndim = x.ndim
        gz = expand_reduced(gz, self.axis, ndim, self.keepdims)
        out_k = expand_reduced(out, self.axis, ndim, self.keepdims)
        if self.kind == "sum":
            g = alloc(gz, *shape_tuple(x)) if gz.type.shape != x.type.shape else gz
        elif self.kind in ("max", "min"):
            # Tied maxima share the gradient equally.
            mask = ew.cast(ew.eq(x, out_k), x.dtype)
            g = mask * (gz / sum(mask, axis=self.axis, keepdims=True))
        elif self.kind == "prod":
            is_zero = ew.eq(x, 0)
            n_zero = sum(is_zero, axis=self.axis, keepdims=True)
            prod_nonzero = prod(ew.where(is_zero, 1, x), axis=self.axis, keepdims=True)
            g = gz * ew.where(
                ew.eq(n_zero, 0),
                prod_nonzero / ew.where(is_zero, 1, x),
                ew.where(ew.eq(n_zero, 1) & is_zero, prod_nonzero, 0),
            )
        else:
            return [None]
        return [ew.cast(g, x.dtype)]


class ArgReduce(Op):
    """``np.argmax``/``np.argmin`` over one axis or the flattened tensor (int64 output)."""

    view_map = {}

    __props__ = ("kind", "axis", "keepdims")
    differentiable = False

    def __init__(self, kind: str, axis: int | None, keepdims: bool):
        self.kind, self.axis, self.keepdims = kind, axis, keepdims
        self.name = kind

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        axes = tuple(range(x.ndim)) if self.axis is None else (self.axis,)
        shape = reduced_shape(x.type.shape, axes, self.keepdims)
        return Apply(self, [x], [TensorType("int64", shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        (x,) = inputs
        if x.size == 0 and (self.axis is None or x.shape[self.axis] == 0):
            raise ShapeError(f"{self.kind}: attempt to get {self.kind} of an empty sequence")
        out = getattr(np, self.kind)(x, axis=self.axis, keepdims=self.keepdims)
        if self.axis is None and self.keepdims:
            out = np.reshape(out, (1,) * x.ndim)
        return [np.asarray(out, dtype="int64")]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shape = input_shapes[0]
        axes = tuple(range(len(shape))) if self.axis is None else (self.axis,)
        if self.keepdims:
            return [[1 if i in axes else d for i, d in enumerate(shape)]]
        return [[d for i, d in enumerate(shape) if i not in axes]]


def _reduce(kind: str, x: Any, axis: Any, keepdims: bool, dtype: str | None = None) -> Variable:
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, kind, x)
    return Reduce(kind, axes, bool(keepdims), dtype)(x)


def sum(x: Any, axis: Any = None, keepdims: bool = False, dtype: str | None = None) -> Variable:
    """Sum over ``axis`` (None: all). Integers and booleans sum in int64, as NumPy."""
    return _reduce("sum", x, axis, keepdims, None if dtype is None else str(np.dtype(dtype)))


def prod(x: Any, axis: Any = None, keepdims: bool = False, dtype: str | None = None) -> Variable:
    """Product over ``axis``; its gradient is exact when some factors are zero."""
    return _reduce("prod", x, axis, keepdims, None if dtype is None else str(np.dtype(dtype)))


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    """Maximum over ``axis``; tied maxima share the gradient equally."""
    return _reduce("max", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    """Minimum over ``axis``; tied minima share the gradient equally."""
    return _reduce("min", x, axis, keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    return _reduce("all", x, axis, keepdims)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    return _reduce("any", x, axis, keepdims)


def _arg(kind: str, x: Any, axis: Any, keepdims: bool) -> Variable:
    x = as_tensor_variable(x)
    if axis is not None:
        if not isinstance(axis, int | np.integer):
            raise TypeError(f"{kind}: axis must be an int or None, got {axis!r}")
        axis = normalize_axis(axis, x.ndim, kind, x)[0]
    return ArgReduce(kind, axis, bool(keepdims))(x)


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    """Index of the first maximum along ``axis`` (int64)."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    """Index of the first minimum along ``axis`` (int64)."""
    return _arg("argmin", x, axis, keepdims)


def count(x: Variable, axes: tuple[int, ...]) -> Variable:
    """How many elements a reduction over ``axes`` combines (a constant when shapes are static)."""
    from symdl.tensor.shape import shape_i

    dims = [x.type.shape[a] for a in axes]
    if builtins.all(d is not None for d in dims):
        return as_tensor_variable(int(np.prod(dims, dtype=np.int64)))
    n: Any = 1
    for a in axes:
        n = n * shape_i(x, a)
    return n


def mean(x: Any, axis: Any = None, keepdims: bool = False, dtype: str | None = None) -> Variable:
    """Arithmetic mean; integers average in float64, as NumPy. ``dtype`` sets the type that the
    sum is accumulated and returned in (``mean(x, dtype='float64')`` of float32 data)."""
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "mean", x)
    if dtype is None:
        dtype = x.dtype if x.type.is_float else "float64"
    else:
        dtype = str(np.dtype(dtype))
        if np.dtype(dtype).kind != "f":
            raise TypeMismatch(f"mean: dtype must be a float dtype, got {dtype}")
    total = sum(x, axes, keepdims, dtype=dtype)
    return total / ew.cast(count(x, axes), dtype)


def var(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Variable:
    """Variance (population by default; ``ddof=1`` for the sample variance)."""
    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "var", x)
    if not x.type.is_float:
        x = ew.cast(x, "float64")
    centred = x - mean(x, axes, keepdims=True)
    if ddof == 0:
        return mean(ew.sqr(centred), axes, keepdims)
    n = ew.cast(count(x, axes), x.dtype)
    return sum(ew.sqr(centred), axes, keepdims) / (n - ddof)


def std(x: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Variable:
    """Standard deviation: ``sqrt(var)``."""
    return ew.sqrt(var(x, axis, keepdims, ddof))


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Variable:
    """``log(sum(exp(x)))`` without overflow: the maximum is taken out first (where it is finite).

    Over an empty axis it raises, as ``max`` does (SciPy's gives -inf). Integers are taken in the
    float dtype of ``exp(x)``.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> float(T.logsumexp(x).eval({x: np.array([1000.0, 1000.0])}))
    1000.6931471805599
    """
    from symdl.gradient import disconnected_grad

    x = as_tensor_variable(x)
    axes = normalize_axis(axis, x.ndim, "logsumexp", x)
    if not x.type.is_float:  # the float dtype of exp(x), before x - max(x) can wrap around in integers
        x = ew.cast(x, np.result_type(x.dtype, np.float16).name)
    m = disconnected_grad(max(x, axes, keepdims=True))
    m = ew.where(ew.isfinite(m), m, 0)
    out = ew.log(sum(ew.exp(x - m), axes, keepdims=True)) + m
    return out if keepdims else _drop_axes(out, axes)


def _drop_axes(x: Variable, axes: tuple[int, ...]) -> Variable:
    from symdl.tensor.shape import dimshuffle

    return dimshuffle(x, [i for i in range(x.ndim) if i not in axes])


def norm(x: Any, L: int = 2, axis: Any = None, keepdims: bool = False) -> Variable:
    """The L1 or L2 norm over ``axis``."""
    if L == 1:
        return sum(ew.abs(x), axis, keepdims)
    if L == 2:
        return ew.sqrt(sum(ew.sqr(x), axis, keepdims))
    return sum(ew.abs(x) ** L, axis, keepdims) ** (1.0 / L)


# ---------------------------------------------------------------- C and CUDA implementations
@register_impl("c", Reduce)
def _reduce_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    x, out = node.inputs[0], node.outputs[0]
    if not (c.has_ctype(x.dtype) and c.has_ctype(out.dtype)) or op.kind not in c.REDUCTIONS:
        return None
    return c.call(
        "reduce", c.REDUCTIONS[op.kind], c.slot(x), c.slot(out), len(op.axis), c.ints(op.axis), int(op.keepdims),
        c.dtype_code(out.dtype),
    )  # fmt: skip


@register_impl("c", ArgReduce)
def _argreduce_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    x = node.inputs[0]
    if not c.has_ctype(x.dtype):
        return None
    axis = -1 if op.axis is None else op.axis
    return c.call("argreduce", c.REDUCTIONS[op.kind], c.slot(x), c.slot(node.outputs[0]), axis, int(op.keepdims))


@register_impl("cuda", Reduce)
def _reduce_in_cuda(node: Apply, cuda: Any) -> Any:
    op = node.op
    return cuda.reduction(node, op.kind, op.axis, op.keepdims)


@register_impl("cuda", ArgReduce)
def _argreduce_in_cuda(node: Apply, cuda: Any) -> Any:
    op = node.op
    axes = tuple(range(node.inputs[0].ndim)) if op.axis is None else (op.axis,)
    return cuda.reduction(node, op.kind, axes, op.keepdims)
