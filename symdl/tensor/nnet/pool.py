"""2-d pooling over the last two axes (Theano's ``pool_2d`` semantics) and its gradient.

Modes: 'max'; 'sum'; 'average_inc_pad' (divide by the window area, padding included, windows
that run past the padded input truncated); 'average_exc_pad' (divide by the number of input
elements in the window). Padding counts as ``-inf`` for 'max' (it never wins, as cuDNN and
PyTorch) and 0 otherwise.

The gradient of 'max' goes to one element per window: the first maximum in row-major order
inside the window (ties go to the top-most, then left-most element, as PyTorch). Overlapping
windows that pick the same element add their gradients.

>>> import numpy as np, symdl.tensor as T
>>> x = T.tensor4('x', shape=(None, 32, 24, 24))
>>> pool_2d(x, (2, 2)).type
float32(?, 32, 12, 12)
>>> pool_2d(x, (3, 3), ignore_border=False, stride=(2, 2)).type
float32(?, 32, 12, 12)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"pool_2d: {what} must be an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


def pool_output_size(size: Any, ws: int, stride: int, pad: int, ignore_border: bool) -> Any:
    """Output length of one pooled axis (an int, or a symbolic scalar), as Theano's ``Pool.out_shape``."""
    padded = size + 2 * pad
    if ignore_border:
        return (padded - ws) // stride + 1
    if isinstance(padded, int | np.integer):
        if stride >= ws:
            return (padded - 1) // stride + 1
        return max(0, (padded - 1 - ws + stride) // stride) + 1
    from symdl.tensor.elemwise import maximum

    if stride >= ws:
        return (padded - 1) // stride + 1
    return maximum((padded - 1 - ws + stride) // stride, 0) + 1


class _Layout:
    """Runtime geometry of one pooling call over the last ``len(op.ws)`` axes: padding, output
    size and each window's extent. ``op`` is anything with ``ws``, ``stride``, ``pad``,
    ``ignore_border`` and ``mode`` (a pooling op, or a :class:`PoolSpec` of runtime values)."""

    def __init__(self, op: Any, *spatial: int):
        self.out = tuple(
            pool_output_size(size, op.ws[a], op.stride[a], op.pad[a], op.ignore_border)
            for a, size in enumerate(spatial)
        )
        if min(self.out) < 1:
            raise ShapeError(
                f"pool: window {op.ws} is larger than the input {spatial} (padded by {op.pad}) with ignore_border=True"
            )
        # The padded buffer must hold every window, including partial ones at the end.
        self.size = tuple(
            max(s + 2 * p, (o - 1) * st + k) for s, p, o, st, k in zip(spatial, op.pad, self.out, op.stride, op.ws)
        )
        self.spatial = tuple(spatial)

    def divisor(self, op: Any) -> np.ndarray | None:
        """Per-output divisor (of the pooled spatial shape) for the average modes."""
        if op.mode in ("max", "sum"):
            return None
        divisor = np.ones((), dtype=np.int64)
        for a, size in enumerate(self.spatial):
            start = np.arange(self.out[a]) * op.stride[a]
            end = np.minimum(start + op.ws[a], size + 2 * op.pad[a])
            if op.mode == "average_exc_pad":
                start = np.maximum(start, op.pad[a])
                end = np.minimum(end, size + op.pad[a])
            divisor = np.multiply.outer(divisor, np.maximum(end - start, 0))
        return divisor


class PoolSpec(NamedTuple):
    """Pooling parameters as plain values (what the kernels read when the op's are symbolic)."""

    ws: tuple
    stride: tuple
    pad: tuple
    ignore_border: bool
    mode: str


def _padded(x: np.ndarray, op: Any, layout: _Layout, fill: float) -> np.ndarray:
    nd = len(layout.size)
    if layout.size == x.shape[-nd:]:
        return x
    xp = np.full(x.shape[:-nd] + layout.size, fill, dtype=x.dtype)
    xp[(..., *(slice(p, p + s) for p, s in zip(op.pad, x.shape[-nd:])))] = x
    return xp


def _slices(op: Any, layout: _Layout, offset: Sequence[int]) -> tuple:
    """Where window offset ``offset`` of every output lies in the padded input."""
    return (..., *(slice(a, a + s * (o - 1) + 1, s) for a, s, o in zip(offset, op.stride, layout.out)))


def _offsets(op: Any):
    """Every offset inside a window, in row-major order (the order of the max tie-break)."""
    return np.ndindex(*op.ws)


def pool_forward(x: np.ndarray, op: Any) -> np.ndarray:
    layout = _Layout(op, *x.shape[-len(op.ws) :])
    fill = -np.inf if op.mode == "max" else 0
    xp = _padded(x, op, layout, fill)
    out = None
    for offset in _offsets(op):
        part = xp[_slices(op, layout, offset)]
        if out is None:
            out = part.copy()
        elif op.mode == "max":
            np.maximum(out, part, out=out)
        else:
            out += part
    divisor = layout.divisor(op)
    if divisor is not None:
        out /= divisor.astype(out.dtype)
    return out


def pool_backward(x: np.ndarray, gz: np.ndarray, op: Any) -> np.ndarray:
    nd = len(op.ws)
    layout = _Layout(op, *x.shape[-nd:])
    gxp = np.zeros(x.shape[:-nd] + layout.size, dtype=gz.dtype)
    if op.mode == "max":
        xp = _padded(x, op, layout, -np.inf)
        best = pool_forward(x, op)
        # Each window's gradient goes to the first position (row-major) that holds its maximum.
        taken = np.zeros(gz.shape, dtype=bool)
        hit = np.empty(gz.shape, dtype=bool)
        for offset in _offsets(op):
            where = _slices(op, layout, offset)
            np.equal(xp[where], best, out=hit)
            hit &= ~taken
            taken |= hit
            gxp[where] += gz * hit
    else:
        divisor = layout.divisor(op)
        g = gz / divisor.astype(gz.dtype) if divisor is not None else gz
        for offset in _offsets(op):
            gxp[_slices(op, layout, offset)] += g
    inside = tuple(slice(p, p + s) for p, s in zip(op.pad, x.shape[-nd:]))
    return np.ascontiguousarray(gxp[(..., *inside)])


class _PoolBase(Op):
    view_map = {}
    __props__ = ("ws", "ignore_border", "stride", "pad", "mode")

    def __init__(self, ws: Any, ignore_border: bool = True, stride: Any = None, pad: Any = (0, 0), mode: str = "max"):
        self.ws = _pair(ws, "ws")
        self.stride = _pair(stride, "stride") if stride is not None else self.ws
        self.pad = _pair(pad, "pad")
        self.ignore_border = bool(ignore_border)
        if mode == "average":
            mode = "average_inc_pad"
        if mode not in MODES:
            raise ValueError(f"pool_2d: mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        if min(self.ws) < 1 or min(self.stride) < 1:
            raise ValueError(f"pool_2d: window {self.ws} and stride {self.stride} must be positive")
        if min(self.pad) < 0:
            raise ValueError(f"pool_2d: padding {self.pad} must be non-negative")
        if self.pad != (0, 0):
            if not self.ignore_border:
                raise ValueError("pool_2d: padding needs ignore_border=True (as Theano)")
            if self.pad[0] >= self.ws[0] or self.pad[1] >= self.ws[1]:
                raise ValueError(f"pool_2d: padding {self.pad} must be smaller than the window {self.ws}")

    def _out_static(self, x: Variable) -> tuple:
        out = []
        for a, size in enumerate(x.type.shape[-2:]):
            if size is None:
                out.append(None)
                continue
            n = pool_output_size(size, self.ws[a], self.stride[a], self.pad[a], self.ignore_border)
            if n < 1:
                raise ShapeError(
                    f"pool_2d: window {self.ws} is larger than the input {shape_str(x.type.shape)} "
                    f"(axis {x.ndim - 2 + a}: {size} padded by {self.pad[a]} on each side) with "
                    f"ignore_border=True — {describe(x)}"
                )
            out.append(n)
        return tuple(out)

    def _out_symbolic(self, shape: Sequence[Any]) -> list:
        return [
            pool_output_size(shape[-2 + a], self.ws[a], self.stride[a], self.pad[a], self.ignore_border)
            for a in range(2)
        ]

    def __str__(self) -> str:
        extra = [f"ws={self.ws}"]
        if self.stride != self.ws:
            extra.append(f"stride={self.stride}")
        if self.pad != (0, 0):
            extra.append(f"pad={self.pad}")
        if not self.ignore_border:
            extra.append("ignore_border=False")
        return f"{type(self).__name__}{{{self.mode}, {', '.join(extra)}}}"

    __repr__ = __str__


def _check_input(x: Variable, opname: str) -> None:
    if x.ndim < 2:
        raise ShapeError(f"{opname} pools the last two axes; got a {x.ndim}-d tensor ({describe(x)})")
    if not x.type.is_float:
        raise TypeMismatch(f"{opname}: the input must be floating point, got {x.type} ({describe(x)})")


class Pool2d(_PoolBase):
    """Pooling over the last two axes of a tensor of at least 2 dimensions; gradient ``Pool2dGrad``."""

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        _check_input(x, "pool_2d")
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape[:-2] + self._out_static(x))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [pool_forward(inputs[0], self)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shape = list(input_shapes[0])
        numeric = all(isinstance(d, int | np.integer | Variable) for d in shape[-2:])
        dims = shape[:-2] + (self._out_symbolic(shape) if numeric else [None, None])
        return [[d if s is None else s for s, d in zip(node.outputs[0].type.shape, dims)]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        return [Pool2dGrad(*self._props())(inputs[0], grads[0])]


class Pool2dGrad(_PoolBase):
    """The gradient of ``Pool2d``: inputs ``(x, output_grad)``, output of ``x``'s shape.

    'max' routes each window's gradient to the first maximum of ``x`` in it (row-major order);
    the average modes spread it evenly over the window's counted elements.
    """

    def make_node(self, x: Any, gz: Any) -> Apply:
        x, gz = as_tensor_variable(x), as_tensor_variable(gz)
        _check_input(x, "pool_2d_grad")
        expected = x.type.shape[:-2] + self._out_static(x)
        if gz.ndim != x.ndim or any(
            a is not None and b is not None and a != b for a, b in zip(expected, gz.type.shape)
        ):
            raise ShapeError(
                f"pool_2d_grad: the output gradient {gz.type} does not match the pooled shape {shape_str(expected)}"
            )
        return Apply(self, [x, gz], [TensorType(x.dtype, x.type.shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, gz = inputs
        return [pool_backward(x, gz, self).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like

        x, gz = inputs
        (ggx,) = grads
        if self.mode == "max":
            # The routing is piecewise constant in x and linear in gz: its adjoint gathers ggx at
            # each window's arg-max.
            return [zeros_like(x), MaxPool2dGradGrad(*self._props())(x, ggx)]
        # Linear in gz: the adjoint of spreading is pooling with the same divisors.
        return [zeros_like(x), Pool2d(*self._props())(ggx)]


def max_pool_select(x: np.ndarray, ggx: np.ndarray, op: Any) -> np.ndarray:
    """Each max window's value of ``ggx`` at the first maximum of ``x`` (the adjoint of the routing)."""
    layout = _Layout(op, *x.shape[-len(op.ws) :])
    xp, gp = _padded(x, op, layout, -np.inf), _padded(ggx, op, layout, 0)
    best = out = None
    for offset in _offsets(op):
        where = _slices(op, layout, offset)
        part, gpart = xp[where], gp[where]
        if best is None:
            best, out = part.copy(), gpart.copy()
        else:
            better = part > best
            np.copyto(best, part, where=better)
            np.copyto(out, gpart, where=better)
    return out


class MaxPool2dGradGrad(_PoolBase):
    """The gradient of ``Pool2dGrad`` in 'max' mode with respect to its output gradient: inputs
    ``(x, ggx)`` of ``x``'s shape, output of the pooled shape (``ggx`` at each window's arg-max)."""

    def make_node(self, x: Any, ggx: Any) -> Apply:
        x, ggx = as_tensor_variable(x), as_tensor_variable(ggx)
        _check_input(x, "max_pool_2d_grad_grad")
        return Apply(self, [x, ggx], [TensorType(ggx.dtype, x.type.shape[:-2] + self._out_static(x))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [max_pool_select(inputs[0], inputs[1], self).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return Pool2d.infer_shape(self, node, input_shapes[:1])

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like

        x, _ = inputs
        return [zeros_like(x), Pool2dGrad(*self._props())(x, grads[0])]


def _static_ints(value: Any) -> bool:
    """Whether ``value`` is an int or a sequence of ints (known when the graph is built)."""
    if isinstance(value, int | np.integer):
        return True
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and value.dtype.kind in "iu"
    if isinstance(value, Variable) or not isinstance(value, Sequence):
        return False
    return all(isinstance(v, int | np.integer) for v in value)


def pool_2d(
    input: Any,
    ws: Any,
    ignore_border: bool = True,
    stride: Any = None,
    pad: Any = (0, 0),
    mode: str = "max",
) -> Variable:
    """Pool the last two axes of ``input`` with windows ``ws``, as Theano's ``pool_2d``.

    Parameters
    ----------
    input : tensor of at least 2 dimensions (NCHW images: pooled over H and W)
    ws : window (rows, cols), or an int for a square one
    ignore_border : True drops the partial windows at the bottom/right; False keeps them
    stride : step between windows (default: the window, non-overlapping)
    pad : zero rows/cols added on each side (needs ``ignore_border=True``; smaller than ``ws``;
        None for none)
    mode : 'max', 'sum', 'average_inc_pad' (or 'average') or 'average_exc_pad'

    ``ws``, ``stride`` and ``pad`` may also be symbolic (integer vectors, or pairs of integer
    scalars): the pooling is then a :class:`symdl.tensor.nnet.pool_nd.Pool` node whose output
    sizes are known when the function runs.

    Examples
    --------
    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dmatrix('x')
    >>> pool_2d(x, (2, 2)).eval({x: np.arange(16.0).reshape(4, 4)})
    array([[ 5.,  7.],
           [13., 15.]])
    """
    if pad is None:
        pad = (0, 0)
    if _static_ints(ws) and (stride is None or _static_ints(stride)) and _static_ints(pad):
        return Pool2d(ws, ignore_border, stride, pad, mode)(input)
    from symdl.tensor.nnet.pool_nd import Pool

    return Pool(2, ignore_border, mode)(input, ws, stride, pad)


__all__ = ["MODES", "Pool2d", "Pool2dGrad", "PoolSpec", "pool_2d", "pool_output_size"]
