"""Pooling over the last ``ndim`` axes with windows, strides and padding that are inputs of the
op (Theano's ``Pool`` op): ``pool_3d``, and ``pool_2d`` when its window is symbolic (a spatial
pyramid pools with windows computed from the input's size).

The modes, the padding rules and the routing of the 'max' gradient are those of
:func:`symdl.tensor.nnet.pool.pool_2d`, whose NumPy kernels these ops share (they work on any
number of axes: one strided slice of the whole input per window offset). A 2-d pooling with a
window known when the graph is built stays a ``Pool2d`` node, which the C backend runs with
its own kernel; these ops run there with ``kernels/c/pool_nd.h``, which loops in the order of
these kernels and so gives their results to the last bit.

>>> import numpy as np, symdl.tensor as T
>>> x = T.tensor5('x', shape=(None, 8, 16, 17, 13))
>>> pool_3d(x, (2, 2, 2)).type
float32(?, 8, 8, 8, 6)
>>> ws = T.lvector('ws')
>>> pool_2d_symbolic = Pool(ndim=2)(T.tensor4('y'), ws)
>>> pool_2d_symbolic.type
float32(?, ?, ?, ?)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Op, Variable
from symdl.tensor.nnet.pool import MODES, PoolSpec, max_pool_select, pool_backward, pool_forward, pool_output_size
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable, constant
from symdl.utils import describe


def _int_vector(value: Any, nd: int, what: str) -> Variable:
    """``value`` (an int, ``nd`` ints or scalars, or an integer vector) as an int64 vector."""
    from symdl.tensor.shape import cast_int64, stack

    if isinstance(value, int | np.integer):
        value = (int(value),) * nd
    if isinstance(value, Variable):
        vec = cast_int64(value)
    else:
        entries = list(value)
        if len(entries) != nd:
            raise ValueError(f"pool: {what} must have {nd} entries, got {value!r}")
        if all(isinstance(v, int | np.integer) for v in entries):
            return constant(np.array(entries, dtype="int64"))
        vec = stack([cast_int64(as_tensor_variable(v)) for v in entries])
    if vec.ndim != 1 or vec.type.shape[0] not in (nd, None):
        raise TypeMismatch(f"pool: {what} must be a vector of {nd} integers, got {vec.type} ({describe(value)})")
    return vec


def _known(v: Variable) -> tuple[int, ...] | None:
    return tuple(int(d) for d in v.data) if isinstance(v, Constant) else None


def _check_params(ws: Sequence[int], stride: Sequence[int], pad: Sequence[int], ignore_border: bool) -> None:
    if min(ws) < 1 or min(stride) < 1:
        raise ValueError(f"pool: window {tuple(ws)} and stride {tuple(stride)} must be positive")
    if min(pad) < 0:
        raise ValueError(f"pool: padding {tuple(pad)} must be non-negative")
    if any(pad):
        if not ignore_border:
            raise ValueError("pool: padding needs ignore_border=True (as Theano)")
        if any(p >= w for p, w in zip(pad, ws)):
            raise ValueError(f"pool: padding {tuple(pad)} must be smaller than the window {tuple(ws)}")


def _symbolic_out(size: Any, ws: Any, stride: Any, pad: Any, ignore_border: bool) -> Any:
    """``pool_output_size`` when the window, stride or padding is symbolic."""
    from symdl.tensor.elemwise import ge, maximum, switch

    if all(isinstance(v, int | np.integer) for v in (size, ws, stride, pad)):
        return pool_output_size(size, ws, stride, pad, ignore_border)
    padded = size + 2 * pad
    if ignore_border:
        return (padded - ws) // stride + 1
    return switch(ge(stride, ws), (padded - 1) // stride + 1, maximum((padded - 1 - ws + stride) // stride, 0) + 1)


class _PoolNdBase(Op):
    view_map: dict = {}  # the outputs never share memory with the inputs (read by the execution planner)
    __props__ = ("ndim", "ignore_border", "mode")

    def __init__(self, ndim: int = 2, ignore_border: bool = True, mode: str = "max"):
        if mode == "average":
            mode = "average_inc_pad"
        if mode not in MODES:
            raise ValueError(f"pool: mode must be one of {MODES}, got {mode!r}")
        self.ndim = int(ndim)
        self.ignore_border = bool(ignore_border)
        self.mode = mode

    def _check_input(self, x: Variable, opname: str) -> None:
        if x.ndim < self.ndim:
            raise ShapeError(f"{opname} pools the last {self.ndim} axes; got a {x.ndim}-d tensor ({describe(x)})")
        if not x.type.is_float:
            raise TypeMismatch(f"{opname}: the input must be floating point, got {x.type} ({describe(x)})")

    def _params(self, ws: Any, stride: Any, pad: Any) -> list[Variable]:
        nd = self.ndim
        ws = _int_vector(ws, nd, "the window")
        stride = ws if stride is None else _int_vector(stride, nd, "the stride")
        pad = constant(np.zeros(nd, dtype="int64")) if pad is None else _int_vector(pad, nd, "the padding")
        known = [_known(v) for v in (ws, stride, pad)]
        if all(k is not None for k in known):
            _check_params(*known, self.ignore_border)
        return [ws, stride, pad]

    def _static_out(self, x: Variable, params: Sequence[Variable], opname: str) -> tuple:
        """The pooled static shape of ``x``: spatial sizes known when the sizes and parameters are."""
        known = [_known(v) for v in params]
        out = []
        for a, size in enumerate(x.type.shape[-self.ndim :]):
            if size is None or any(k is None for k in known):
                out.append(None)
                continue
            n = pool_output_size(size, known[0][a], known[1][a], known[2][a], self.ignore_border)
            if n < 1:
                raise ShapeError(
                    f"{opname}: window {known[0]} is larger than the input {shape_str(x.type.shape)} (axis "
                    f"{x.ndim - self.ndim + a}: {size} padded by {known[2][a]} on each side) with "
                    f"ignore_border=True — {describe(x)}"
                )
            out.append(n)
        return x.type.shape[: -self.ndim] + tuple(out)

    def _spec(self, ws: np.ndarray, stride: np.ndarray, pad: np.ndarray) -> PoolSpec:
        spec = PoolSpec(
            tuple(int(v) for v in ws), tuple(int(v) for v in stride), tuple(int(v) for v in pad),
            self.ignore_border, self.mode,
        )  # fmt: skip
        _check_params(spec.ws, spec.stride, spec.pad, self.ignore_border)
        return spec

    def _pooled_shape(self, node: Apply, shape: Sequence[Any]) -> list:
        ws, stride, pad = node.inputs[-3:]
        dims = list(shape[: -self.ndim])
        for a in range(self.ndim):
            size = shape[len(shape) - self.ndim + a]
            if not isinstance(size, int | np.integer | Variable):
                dims.append(None)
                continue
            entries = [_known(v)[a] if _known(v) is not None else v[a] for v in (ws, stride, pad)]
            dims.append(_symbolic_out(size, *entries, self.ignore_border))
        return dims

    def __str__(self) -> str:
        extra = "" if self.ignore_border else ", ignore_border=False"
        return f"{type(self).__name__}{{{self.ndim}d, {self.mode}{extra}}}"

    __repr__ = __str__


def _with_static(node: Apply, dims: list) -> list:
    return [d if s is None else s for s, d in zip(node.outputs[0].type.shape, dims)]


class Pool(_PoolNdBase):
    """Pooling over the last ``ndim`` axes: inputs ``(x, ws, stride, pad)``, the last three int64
    vectors of ``ndim`` entries (``stride`` defaults to ``ws``, ``pad`` to zeros). Gradient
    ``PoolGrad``."""

    def make_node(self, x: Any, ws: Any, stride: Any = None, pad: Any = None) -> Apply:
        x = as_tensor_variable(x)
        self._check_input(x, "pool")
        params = self._params(ws, stride, pad)
        return Apply(self, [x, *params], [TensorType(x.dtype, self._static_out(x, params, "pool"))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, *params = inputs
        return [pool_forward(x, self._spec(*params)).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [_with_static(node, self._pooled_shape(node, input_shapes[0]))]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        x, *params = inputs
        return [PoolGrad(*self._props())(x, grads[0], *params), None, None, None]


class PoolGrad(_PoolNdBase):
    """The gradient of ``Pool``: inputs ``(x, output_grad, ws, stride, pad)``, output of ``x``'s
    shape ('max' routes each window's gradient to its first maximum, the averages spread it)."""

    def make_node(self, x: Any, gz: Any, ws: Any, stride: Any = None, pad: Any = None) -> Apply:
        x, gz = as_tensor_variable(x), as_tensor_variable(gz)
        self._check_input(x, "pool_grad")
        params = self._params(ws, stride, pad)
        expected = self._static_out(x, params, "pool_grad")
        if gz.ndim != x.ndim or any(
            a is not None and b is not None and a != b for a, b in zip(expected, gz.type.shape)
        ):
            raise ShapeError(
                f"pool_grad: the output gradient {gz.type} does not match the pooled shape {shape_str(expected)}"
            )
        return Apply(self, [x, gz, *params], [TensorType(x.dtype, x.type.shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, gz, *params = inputs
        return [pool_backward(x, gz, self._spec(*params)).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like

        x, _, *params = inputs
        (ggx,) = grads
        if self.mode == "max":
            # The routing is piecewise constant in x and linear in gz: its adjoint gathers ggx at
            # each window's arg-max.
            g_gz = MaxPoolGradGrad(*self._props())(x, ggx, *params)
        else:
            # Linear in gz: the adjoint of spreading is pooling with the same divisors.
            g_gz = Pool(*self._props())(ggx, *params)
        return [zeros_like(x), g_gz, None, None, None]


class MaxPoolGradGrad(_PoolNdBase):
    """The gradient of ``PoolGrad`` in 'max' mode with respect to its output gradient: inputs
    ``(x, ggx, ws, stride, pad)`` with ``ggx`` of ``x``'s shape, output of the pooled shape
    (``ggx`` at each window's arg-max)."""

    def make_node(self, x: Any, ggx: Any, ws: Any, stride: Any = None, pad: Any = None) -> Apply:
        x, ggx = as_tensor_variable(x), as_tensor_variable(ggx)
        self._check_input(x, "max_pool_grad_grad")
        if self.mode != "max":
            raise ValueError(f"max_pool_grad_grad: mode must be 'max', got {self.mode!r}")
        params = self._params(ws, stride, pad)
        out = self._static_out(x, params, "max_pool_grad_grad")
        return Apply(self, [x, ggx, *params], [TensorType(ggx.dtype, out)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, ggx, *params = inputs
        return [max_pool_select(x, ggx, self._spec(*params)).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [_with_static(node, self._pooled_shape(node, input_shapes[0]))]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like

        x, _, *params = inputs
        return [zeros_like(x), PoolGrad(*self._props())(x, grads[0], *params), None, None, None]


def pool_3d(
    input: Any,
    ws: Any,
    ignore_border: bool = True,
    stride: Any = None,
    pad: Any = (0, 0, 0),
    mode: str = "max",
) -> Variable:
    """Pool the last three axes of ``input`` with windows ``ws``, as Theano's ``pool_3d``.

    Parameters
    ----------
    input : tensor of at least 3 dimensions (NCDHW volumes: pooled over D, H and W)
    ws : window, three ints (or an int for a cube), or a symbolic integer vector
    ignore_border : True drops the partial windows at the far borders; False keeps them
    stride : step between windows (default: the window, non-overlapping)
    pad : zeros added on each side of each axis (needs ``ignore_border=True``; smaller than ``ws``)
    mode : 'max', 'sum', 'average_inc_pad' (or 'average') or 'average_exc_pad'

    Examples
    --------
    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dtensor3('x')
    >>> pool_3d(x, (2, 2, 2)).eval({x: np.arange(8.0).reshape(2, 2, 2)})
    array([[[7.]]])
    """
    return Pool(3, ignore_border, mode)(input, ws, stride, pad)


__all__ = ["MaxPoolGradGrad", "Pool", "PoolGrad", "pool_3d"]
