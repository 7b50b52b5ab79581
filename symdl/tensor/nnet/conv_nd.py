"""3-d convolution (Theano's ``conv3d`` semantics) and its two gradient ops, on convolution
machinery written for any number of spatial axes.

Layouts: input ``(batch, channels, depth, rows, cols)``; filters ``(out_channels, in_channels /
groups, depth, rows, cols)``. Border modes, strides (``subsample``), ``filter_flip``,
``filter_dilation`` and ``num_groups`` mean what they mean for :func:`symdl.tensor.nnet.conv2d`,
one entry per spatial axis.

The NumPy implementation is the 2-d one with one more axis: the padded input is viewed (no copy)
as a ``(batch, channels, kd, kh, kw, out_d, out_h, out_w)`` array of windows, made contiguous
a few samples at a time and multiplied by the filter matrix of each group. The input gradient
multiplies the other way and adds each kernel offset's columns back into the input at once (one
strided slice per offset). The C backend runs them with ``kernels/c/conv3d.h`` (the same
method, tiled over output depth planes, with the runtime's GEMM).

>>> import symdl.tensor as T
>>> x = T.tensor5('x', shape=(None, 1, 16, 28, 28))
>>> w = T.tensor5('w', shape=(8, 1, 3, 5, 5))
>>> conv3d(x, w).type
float32(?, 8, 14, 24, 24)
>>> conv3d(x, w, border_mode='half', subsample=(1, 2, 2)).type
float32(?, 8, 16, 14, 14)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Op, Variable
from symdl.tensor.nnet.conv import _refine, _shape_vector, _static_entries
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable, constant
from symdl.utils import describe

ND = 3


# ---------------------------------------------------------------- parameters
def _ntuple(value: Any, what: str, nd: int = ND) -> tuple[int, ...]:
    if isinstance(value, int | np.integer):
        return (int(value),) * nd
    entries = tuple(int(v) for v in value)
    if len(entries) != nd:
        raise ValueError(f"{what} must be an int or {nd} ints, got {value!r}")
    return entries


def normalize_border_mode(border_mode: Any, nd: int = ND) -> Any:
    """'valid' -> zeros; an int or a tuple -> ``nd`` non-negative ints; 'full', 'half', 'same' stay."""
    if isinstance(border_mode, str):
        mode = border_mode.lower()
        if mode == "valid":
            return (0,) * nd
        if mode in ("full", "half", "same"):
            return mode
        raise ValueError(
            f"border_mode must be 'valid', 'full', 'half', 'same', an int or {nd} ints, got {border_mode!r}"
        )
    pads = _ntuple(border_mode, "border_mode", nd)
    if min(pads) < 0:
        raise ValueError(f"border_mode padding must be non-negative, got {pads}")
    return pads


def conv_pads_nd(border_mode: Any, kshape: Sequence[Any], dilation: Sequence[int]) -> tuple:
    """Padding ``((before, after), ...)`` per spatial axis for a normalized border mode (the
    rules of :func:`symdl.tensor.nnet.conv.conv_pads` on any number of axes)."""
    result = []
    for axis, (k, d) in enumerate(zip(kshape, dilation)):
        dk = (k - 1) * d + 1
        if border_mode == "full":
            result.append((dk - 1, dk - 1))
        elif border_mode == "half":
            result.append((dk // 2, dk // 2))
        elif border_mode == "same":
            before = (dk - 1) // 2
            result.append((before, dk - 1 - before))
        else:
            result.append((border_mode[axis], border_mode[axis]))
    return tuple(result)


def _is_int(*values: Any) -> bool:
    return all(isinstance(v, int | np.integer) for v in values)


def _numeric(*values: Any) -> bool:
    return all(isinstance(v, int | np.integer | Variable) for v in values)


def _spatial_vector(x: Variable, nd: int) -> Variable:
    """The last ``nd`` dimensions of ``x`` as an int64 vector (a constant when known)."""
    from symdl.tensor.shape import shape_i, stack

    sizes = x.type.shape[-nd:]
    if all(s is not None for s in sizes):
        return constant(np.array(sizes, dtype="int64"))
    return stack([shape_i(x, x.ndim - nd + a) for a in range(nd)])


def _static_vector(v: Variable, nd: int, opname: str) -> tuple:
    if v.ndim != 1 or v.type.shape[0] not in (nd, None) or v.dtype not in ("int64", "int32"):
        raise TypeMismatch(f"{opname}: the spatial shape must be an integer vector of {nd} entries, got {v.type}")
    if isinstance(v, Constant):
        return tuple(int(d) for d in v.data)
    return (None,) * nd


# ---------------------------------------------------------------- NumPy kernels (any number of axes)
class _Geometry:
    """Everything one call of an N-d conv op needs, from the runtime shapes."""

    def __init__(self, op: Any, x_shape: Sequence[int], w_shape: Sequence[int], opname: str):
        n, c, *size = x_shape
        o, cg, *k = w_shape
        g = op.num_groups
        if c != cg * g:
            raise ShapeError(
                f"{opname}: the input has {c} channels but the filters {tuple(w_shape)} expect {cg * g} "
                f"({cg} per group x {g} groups)"
            )
        if o % g:
            raise ShapeError(f"{opname}: {o} output channels do not split into {g} groups")
        self.pads = conv_pads_nd(op.border_mode, k, op.filter_dilation)
        self.padded = tuple(s + p0 + p1 for s, (p0, p1) in zip(size, self.pads))
        dilated = tuple((kk - 1) * d + 1 for kk, d in zip(k, op.filter_dilation))
        if any(dk > p for dk, p in zip(dilated, self.padded)):
            raise ShapeError(
                f"{opname}: the filter {tuple(k)} ({dilated} dilated) is larger than the padded input "
                f"{self.padded} (from {tuple(size)})"
            )
        self.out = tuple((p - dk) // s + 1 for p, dk, s in zip(self.padded, dilated, op.subsample))
        self.k = tuple(k)
        self.n, self.c, self.o, self.cg, self.g = n, c, o, cg, g


def _spatial(nd: int, per_axis: Sequence[slice]) -> tuple:
    return (slice(None), slice(None), *per_axis)


def _flipped(w: np.ndarray, flip: bool) -> np.ndarray:
    return w[_spatial(w.ndim - 2, [slice(None, None, -1)] * (w.ndim - 2))] if flip else w


def _padded(x: np.ndarray, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    if any(p for pair in pads for p in pair):
        return np.pad(x, ((0, 0), (0, 0), *pads))
    return x


def _windows(xp: np.ndarray, geo: _Geometry, op: Any) -> np.ndarray:
    """View of the padded input (N, C, *size) as (N, C, *kernel, *out) windows."""
    s = xp.strides
    nd = xp.ndim - 2
    return np.lib.stride_tricks.as_strided(
        xp,
        shape=(*xp.shape[:2], *geo.k, *geo.out),
        strides=(
            s[0],
            s[1],
            *(s[2 + a] * op.filter_dilation[a] for a in range(nd)),
            *(s[2 + a] * op.subsample[a] for a in range(nd)),
        ),
        writeable=False,
    )


# The columns of a 3-d convolution hold kernel-volume copies of the input (27 for 3x3x3): they
# are built for a few samples at a time, so that a real volume never needs them all at once.
COLUMN_BYTES = 1 << 27


def _batches(geo: _Geometry, itemsize: int) -> list[slice]:
    """Slices of the batch whose im2col columns take at most ``COLUMN_BYTES`` each (one sample at least)."""
    per_sample = geo.cg * math.prod(geo.k) * math.prod(geo.out) * itemsize
    step = max(1, COLUMN_BYTES // max(per_sample, 1))
    return [slice(start, min(start + step, geo.n)) for start in range(0, geo.n, step)]


def conv_forward(x: np.ndarray, w: np.ndarray, op: Any, geo: _Geometry) -> np.ndarray:
    w = _flipped(w, op.filter_flip)
    cols = _windows(_padded(x, geo.pads), geo, op)
    g, cg, og = geo.g, geo.cg, geo.o // geo.g
    kk, p = cg * math.prod(geo.k), math.prod(geo.out)
    out = np.empty((geo.n, geo.o, p), dtype=np.result_type(x, w))
    for batch in _batches(geo, out.itemsize):
        for j in range(g):
            colm = np.ascontiguousarray(cols[batch, j * cg : (j + 1) * cg]).reshape(-1, kk, p)
            np.matmul(w[j * og : (j + 1) * og].reshape(og, kk), colm, out=out[batch, j * og : (j + 1) * og])
    return out.reshape(geo.n, geo.o, *geo.out)


def conv_grad_inputs(w: np.ndarray, gy: np.ndarray, op: Any, geo: _Geometry, dtype: Any) -> np.ndarray:
    w = _flipped(w, op.filter_flip)
    g, cg, og = geo.g, geo.cg, geo.o // geo.g
    kk, p = cg * math.prod(geo.k), math.prod(geo.out)
    gxp = np.zeros((geo.n, geo.c, *geo.padded), dtype=dtype)
    gy = gy.reshape(geo.n, geo.o, p)
    for batch in _batches(geo, gxp.itemsize):
        for j in range(g):
            wm = w[j * og : (j + 1) * og].reshape(og, kk)
            gcols = np.matmul(wm.T, gy[batch, j * og : (j + 1) * og]).reshape(-1, cg, *geo.k, *geo.out)
            target = gxp[batch, j * cg : (j + 1) * cg]
            # One strided add per kernel offset: every output position's contribution at once.
            for offset in np.ndindex(*geo.k):
                where = [
                    slice(o * d, o * d + s * (n_out - 1) + 1, s)
                    for o, d, s, n_out in zip(offset, op.filter_dilation, op.subsample, geo.out)
                ]
                target[_spatial(len(offset), where)] += gcols[(slice(None), slice(None), *offset)]
    crop = [slice(p0, size - p1) for (p0, p1), size in zip(geo.pads, geo.padded)]
    return gxp[_spatial(len(crop), crop)]


def conv_grad_weights(x: np.ndarray, gy: np.ndarray, op: Any, geo: _Geometry, dtype: Any) -> np.ndarray:
    cols = _windows(_padded(x, geo.pads), geo, op)
    nd = len(geo.k)
    g, cg, og = geo.g, geo.cg, geo.o // geo.g
    kk = cg * math.prod(geo.k)
    gw = np.zeros((geo.o, kk), dtype=dtype)
    gy = gy.reshape(geo.n, geo.o, math.prod(geo.out))  # not -1: an empty batch has no size to infer
    # Windows laid out (kk, samples, positions): one product over a slice of the batch per group.
    order = (1, *range(2, 2 + nd), 0, *range(2 + nd, 2 + 2 * nd))
    for batch in _batches(geo, gw.itemsize):
        for j in range(g):
            colm = np.ascontiguousarray(cols[batch, j * cg : (j + 1) * cg].transpose(order)).reshape(kk, -1)
            gyj = np.ascontiguousarray(gy[batch, j * og : (j + 1) * og].transpose(1, 0, 2)).reshape(og, -1)
            gw[j * og : (j + 1) * og] += gyj @ colm.T
    return np.ascontiguousarray(_flipped(gw.reshape(geo.o, cg, *geo.k), op.filter_flip))


# ---------------------------------------------------------------- ops
class _ConvNdBase(Op):
    """Parameters and shape rules shared by the N-d conv ops (``nd`` spatial axes)."""

    view_map: dict = {}  # the outputs never share memory with the inputs (read by the execution planner)
    nd = ND
    __props__ = ("border_mode", "subsample", "filter_flip", "filter_dilation", "num_groups")

    def __init__(
        self,
        border_mode: Any = "valid",
        subsample: Any = 1,
        filter_flip: bool = True,
        filter_dilation: Any = 1,
        num_groups: int = 1,
    ):
        self.border_mode = normalize_border_mode(border_mode, self.nd)
        self.subsample = _ntuple(subsample, "subsample", self.nd)
        self.filter_flip = bool(filter_flip)
        self.filter_dilation = _ntuple(filter_dilation, "filter_dilation", self.nd)
        self.num_groups = int(num_groups)
        if min(self.subsample) < 1:
            raise ValueError(f"subsample must be positive, got {self.subsample}")
        if min(self.filter_dilation) < 1:
            raise ValueError(f"filter_dilation must be positive, got {self.filter_dilation}")
        if self.num_groups < 1:
            raise ValueError(f"num_groups must be positive, got {self.num_groups}")

    def _params(self) -> dict:
        return {p: getattr(self, p) for p in self.__props__}

    def _float_pair(self, opname: str, a: Any, b: Any, names: tuple[str, str]) -> tuple[Variable, Variable]:
        from symdl.tensor.elemwise import cast

        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for v, name in zip((a, b), names):
            if v.ndim != self.nd + 2:
                raise TypeMismatch(f"{opname}: {name} must be a {self.nd + 2}-d tensor, got {v.type} ({describe(v)})")
            if not v.type.is_float:
                raise TypeMismatch(f"{opname}: {name} must be floating point, got {v.type} ({describe(v)})")
        dtype = str(np.result_type(a.dtype, b.dtype))
        return cast(a, dtype), cast(b, dtype)

    def _check_groups(self, opname: str, c: int | None, o: int | None, cg: int | None, w: Variable | None) -> None:
        g = self.num_groups
        if c is not None and cg is not None and c != cg * g:
            raise ShapeError(
                f"{opname}: the input has {c} channels but the filters {shape_str(w.type.shape)} expect "
                f"{cg * g} ({cg} per group x {g} group{'s' if g > 1 else ''}) — filters {describe(w)}"
            )
        if o is not None and o % g:
            raise ShapeError(f"{opname}: {o} output channels do not split into {g} groups")
        if c is not None and c % g:
            raise ShapeError(f"{opname}: {c} input channels do not split into {g} groups")

    def _static_out(self, opname: str, size: Sequence[int | None], k: Sequence[int | None], what: str) -> list:
        out = []
        for axis in range(self.nd):
            n, kk = size[axis], k[axis]
            if n is None or kk is None:
                out.append(None)
                continue
            d = self.filter_dilation[axis]
            (before, after) = conv_pads_nd(self.border_mode, [kk] * self.nd, self.filter_dilation)[axis]
            dk = (kk - 1) * d + 1
            padded = n + before + after
            if dk > padded:
                raise ShapeError(
                    f"{opname}: the filter ({shape_str(k)}, {dk} along axis {axis + 2} when dilated) is larger "
                    f"than the padded input ({padded} = {n} + padding {(before, after)}) — {what}"
                )
            out.append((padded - dk) // self.subsample[axis] + 1)
        return out

    def _symbolic_out(self, size: Sequence[Any], k: Sequence[Any]) -> list:
        pads = conv_pads_nd(self.border_mode, k, self.filter_dilation)
        return [
            (size[a] + pads[a][0] + pads[a][1] - ((k[a] - 1) * self.filter_dilation[a] + 1)) // self.subsample[a] + 1
            for a in range(self.nd)
        ]

    def _check_grad_shape(self, opname: str, out: Sequence[int | None], gy: Variable, what: str) -> None:
        for axis, (a, b) in enumerate(zip(out, gy.type.shape[2:])):
            if a is not None and b is not None and a != b:
                raise ShapeError(
                    f"{opname}: {what} give outputs of spatial size {shape_str(out)}, but the output gradient "
                    f"is {shape_str(gy.type.shape)} (axis {axis + 2}) — {describe(gy)}"
                )

    def __str__(self) -> str:
        parts = []
        if self.border_mode != (0,) * self.nd:
            parts.append(f"border_mode={self.border_mode}")
        if self.subsample != (1,) * self.nd:
            parts.append(f"subsample={self.subsample}")
        if self.filter_dilation != (1,) * self.nd:
            parts.append(f"dilation={self.filter_dilation}")
        if self.num_groups != 1:
            parts.append(f"groups={self.num_groups}")
        if not self.filter_flip:
            parts.append("no flip")
        return type(self).__name__ + ("{" + ", ".join(parts) + "}" if parts else "")

    __repr__ = __str__


def _with_static(node: Apply, dims: list) -> list:
    return [d if s is None else s for s, d in zip(node.outputs[0].type.shape, dims)]


class Conv3d(_ConvNdBase):
    """``conv3d(input, filters)``: inputs ``(input (N, C, D, H, W), filters (O, C/groups, kd, kh,
    kw))``, output ``(N, O, out_d, out_h, out_w)``. Gradients: ``Conv3dGradInputs`` and
    ``Conv3dGradWeights``."""

    def make_node(self, x: Any, w: Any) -> Apply:
        x, w = self._float_pair("conv3d", x, w, ("the input", "the filters"))
        self._check_groups("conv3d", x.type.shape[1], w.type.shape[0], w.type.shape[1], w)
        out = self._static_out(
            "conv3d",
            x.type.shape[2:],
            w.type.shape[2:],
            f"input {shape_str(x.type.shape)} ({describe(x)}), filters {shape_str(w.type.shape)}",
        )
        return Apply(self, [x, w], [TensorType(x.dtype, (x.type.shape[0], w.type.shape[0], *out))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, w = inputs
        geo = _Geometry(self, x.shape, w.shape, "conv3d")
        return [conv_forward(x, w, self, geo).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        xs, ws = input_shapes
        spatial = self._symbolic_out(xs[2:], ws[2:]) if _numeric(*xs[2:], *ws[2:]) else [None] * self.nd
        return [_with_static(node, [xs[0], ws[0], *spatial])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        x, w = inputs
        (gy,) = grads
        gx = Conv3dGradInputs(**self._params())(w, gy, _spatial_vector(x, self.nd))
        gw = Conv3dGradWeights(**self._params())(x, gy, _spatial_vector(w, self.nd))
        return [gx, gw]


class Conv3dGradInputs(_ConvNdBase):
    """The gradient of ``conv3d`` with respect to its input (a transposed 3-d convolution).

    Inputs ``(filters (O, C/groups, kd, kh, kw), output_grad (N, O, out_d, out_h, out_w),
    input_size)`` where ``input_size`` is the input's ``(D, H, W)`` as an int64 vector (with a
    stride several input sizes give the same output size). Output ``(N, C, D, H, W)``.
    """

    def make_node(self, w: Any, gy: Any, input_size: Any) -> Apply:
        opname = "conv3d_grad_inputs"
        w, gy = self._float_pair(opname, w, gy, ("the filters", "the output gradient"))
        input_size = as_tensor_variable(input_size)
        size = _static_vector(input_size, self.nd, opname)
        o, cg = w.type.shape[:2]
        if o is not None and gy.type.shape[1] is not None and o != gy.type.shape[1]:
            raise ShapeError(f"{opname}: the output gradient has {gy.type.shape[1]} channels, the filters {o}")
        out = self._static_out(opname, size, w.type.shape[2:], f"filters {shape_str(w.type.shape)}")
        self._check_grad_shape(opname, out, gy, f"an input of spatial size {size}")
        c = cg * self.num_groups if cg is not None else None
        return Apply(self, [w, gy, input_size], [TensorType(w.dtype, (gy.type.shape[0], c, *size))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        w, gy, size = inputs
        size = tuple(int(v) for v in size)
        n, o = gy.shape[:2]
        geo = _Geometry(self, (n, w.shape[1] * self.num_groups, *size), w.shape, "conv3d_grad_inputs")
        if geo.out != gy.shape[2:] or o != w.shape[0]:
            raise ShapeError(
                f"conv3d_grad_inputs: an input of spatial size {size} gives outputs of size {geo.out}, "
                f"but the output gradient has shape {gy.shape}"
            )
        return [conv_grad_inputs(w, gy, self, geo, node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        size = node.inputs[2]
        ws, gys, _ = input_shapes
        c = ws[1] if self.num_groups == 1 else ws[1] * self.num_groups if _numeric(ws[1]) else None
        return [_with_static(node, [gys[0], c, *(size[a] for a in range(self.nd))])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        w, gy, _ = inputs
        (ggx,) = grads
        g_w = Conv3dGradWeights(**self._params())(ggx, gy, _spatial_vector(w, self.nd))
        g_gy = Conv3d(**self._params())(ggx, w)
        return [g_w, g_gy, None]


class Conv3dGradWeights(_ConvNdBase):
    """The gradient of ``conv3d`` with respect to its filters.

    Inputs ``(input (N, C, D, H, W), output_grad (N, O, out_d, out_h, out_w), filter_size)``
    where ``filter_size`` is ``(kd, kh, kw)`` as an int64 vector. Output ``(O, C/groups, kd, kh, kw)``.
    """

    def make_node(self, x: Any, gy: Any, filter_size: Any) -> Apply:
        opname = "conv3d_grad_weights"
        x, gy = self._float_pair(opname, x, gy, ("the input", "the output gradient"))
        filter_size = as_tensor_variable(filter_size)
        k = _static_vector(filter_size, self.nd, opname)
        c, o, g = x.type.shape[1], gy.type.shape[1], self.num_groups
        self._check_groups(opname, c, o, None, None)
        out = self._static_out(opname, x.type.shape[2:], k, f"input {shape_str(x.type.shape)}")
        self._check_grad_shape(opname, out, gy, f"input {shape_str(x.type.shape)} and filters of size {k}")
        cg = c // g if c is not None else None
        return Apply(self, [x, gy, filter_size], [TensorType(x.dtype, (o, cg, *k))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, gy, k = inputs
        k = tuple(int(v) for v in k)
        o, g = gy.shape[1], self.num_groups
        if x.shape[1] % g or o % g:
            raise ShapeError(f"conv3d_grad_weights: channels {x.shape[1]} -> {o} do not split into {g} groups")
        geo = _Geometry(self, x.shape, (o, x.shape[1] // g, *k), "conv3d_grad_weights")
        if geo.out != gy.shape[2:]:
            raise ShapeError(
                f"conv3d_grad_weights: input {x.shape} and filters of size {k} give outputs of size {geo.out}, "
                f"but the output gradient has shape {gy.shape}"
            )
        return [conv_grad_weights(x, gy, self, geo, node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        k = node.inputs[2]
        xs, gys, _ = input_shapes
        cg = xs[1] if self.num_groups == 1 else xs[1] // self.num_groups if _numeric(xs[1]) else None
        return [_with_static(node, [gys[1], cg, *(k[a] for a in range(self.nd))])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        x, gy, _ = inputs
        (ggw,) = grads
        g_x = Conv3dGradInputs(**self._params())(ggw, gy, _spatial_vector(x, self.nd))
        g_gy = Conv3d(**self._params())(x, ggw)
        return [g_x, g_gy, None]


# ---------------------------------------------------------------- user functions
def conv3d(
    input: Any,
    filters: Any,
    input_shape: Sequence[int | None] | None = None,
    filter_shape: Sequence[int | None] | None = None,
    border_mode: Any = "valid",
    subsample: Any = (1, 1, 1),
    filter_flip: bool = True,
    filter_dilation: Any = (1, 1, 1),
    num_groups: int = 1,
) -> Variable:
    """3-d convolution of a batch of volumes with a bank of filters, as Theano's ``conv3d``.

    Parameters
    ----------
    input : (batch, channels, depth, rows, cols) tensor
    filters : (out_channels, channels / num_groups, kernel_depth, kernel_rows, kernel_cols) tensor
    input_shape, filter_shape : optional static shapes (None entries unknown), checked against
        the variables' types.
    border_mode : 'valid', 'full', 'half', 'same', an int or three ints (as ``conv2d``).
    subsample : stride, an int or three.
    filter_flip : True flips the filters (a true convolution, Theano's default); False is
        cross-correlation.
    filter_dilation : dilation, an int or three.
    num_groups : grouped convolution: input and output channels split into this many groups.

    Examples
    --------
    >>> import numpy as np, symdl.tensor as T
    >>> x, w = T.dtensor5('x'), T.dtensor5('w')
    >>> vol = np.arange(8.0).reshape(1, 1, 2, 2, 2)
    >>> conv3d(x, w).eval({x: vol, w: np.ones((1, 1, 2, 2, 2))})
    array([[[[[28.]]]]])
    """
    input, filters = as_tensor_variable(input), as_tensor_variable(filters)
    input = _refine(input, input_shape, "input_shape", "conv3d")
    filters = _refine(filters, filter_shape, "filter_shape", "conv3d")
    return Conv3d(border_mode, subsample, filter_flip, filter_dilation, num_groups)(input, filters)


def conv3d_grad_wrt_inputs(
    output_grad: Any,
    filters: Any,
    input_shape: Sequence[Any],
    filter_shape: Sequence[int | None] | None = None,
    border_mode: Any = "valid",
    subsample: Any = (1, 1, 1),
    filter_flip: bool = True,
    filter_dilation: Any = (1, 1, 1),
    num_groups: int = 1,
) -> Variable:
    """The gradient of ``conv3d`` with respect to its input (Theano's function of that name), a
    transposed 3-d convolution; ``input_shape`` is the full 5-d input shape (its last three
    entries are used; they may be symbolic).

    >>> import symdl.tensor as T
    >>> conv3d_grad_wrt_inputs(T.tensor5('g'), T.tensor5('w', shape=(4, 2, 3, 3, 3)), (None, 2, 8, 9, 10)).type
    float32(?, 2, 8, 9, 10)
    """
    filters = _refine(as_tensor_variable(filters), filter_shape, "filter_shape", "conv3d_grad_wrt_inputs")
    op = Conv3dGradInputs(border_mode, subsample, filter_flip, filter_dilation, num_groups)
    out = op(filters, output_grad, _shape_vector(list(input_shape)[-3:]))
    return _refine(out, _static_entries(input_shape), "input_shape", "conv3d_grad_wrt_inputs")


def conv3d_grad_wrt_weights(
    input: Any,
    output_grad: Any,
    filter_shape: Sequence[Any],
    input_shape: Sequence[int | None] | None = None,
    border_mode: Any = "valid",
    subsample: Any = (1, 1, 1),
    filter_flip: bool = True,
    filter_dilation: Any = (1, 1, 1),
    num_groups: int = 1,
) -> Variable:
    """The gradient of ``conv3d`` with respect to its filters (Theano's function of that name);
    ``filter_shape`` is the full 5-d filter shape (its last three entries are used)."""
    input = _refine(as_tensor_variable(input), input_shape, "input_shape", "conv3d_grad_wrt_weights")
    op = Conv3dGradWeights(border_mode, subsample, filter_flip, filter_dilation, num_groups)
    out = op(input, output_grad, _shape_vector(list(filter_shape)[-3:]))
    return _refine(out, _static_entries(filter_shape), "filter_shape", "conv3d_grad_wrt_weights")


__all__ = [
    "Conv3d",
    "Conv3dGradInputs",
    "Conv3dGradWeights",
    "conv3d",
    "conv3d_grad_wrt_inputs",
    "conv3d_grad_wrt_weights",
]
