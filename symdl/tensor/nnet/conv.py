"""2-d convolution (Theano's ``conv2d`` semantics) and its two gradient ops.

Layouts: input ``(batch, channels, rows, cols)``; filters ``(out_channels, in_channels / groups,
rows, cols)``. ``filter_flip=True`` (the default, as Theano and Lasagne) is a true convolution:
the filters are flipped in both spatial axes; ``False`` is cross-correlation (PyTorch's conv).

The NumPy implementation is im2col + one matrix product per group: the padded input is viewed
as a ``(batch, channels, kh, kw, out_rows, out_cols)`` array of windows (no copy), made
contiguous once, and multiplied by the filter matrix.

>>> import numpy as np, symdl.tensor as T
>>> x = T.tensor4('x', shape=(None, 1, 28, 28))
>>> w = T.tensor4('w', shape=(32, 1, 5, 5))
>>> conv2d(x, w).type
float32(?, 32, 24, 24)
>>> conv2d(x, w, border_mode='half', subsample=(2, 2)).type
float32(?, 32, 14, 14)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Op, Variable
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable, constant
from symdl.utils import describe

Pads = tuple[tuple[Any, Any], tuple[Any, Any]]


# ---------------------------------------------------------------- parameters
def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")
    return pair  # type: ignore[return-value]


def normalize_border_mode(border_mode: Any) -> Any:
    """'valid' -> (0, 0); an int or a pair -> a pair of non-negative ints; 'full', 'half', 'same' stay."""
    if isinstance(border_mode, str):
        mode = border_mode.lower()
        if mode == "valid":
            return (0, 0)
        if mode in ("full", "half", "same"):
            return mode
        raise ValueError(f"border_mode must be 'valid', 'full', 'half', 'same', an int or a pair, got {border_mode!r}")
    pads = _pair(border_mode, "border_mode")
    if min(pads) < 0:
        raise ValueError(f"border_mode padding must be non-negative, got {pads}")
    return pads


def conv_pads(border_mode: Any, kshape: Sequence[Any], dilation: Sequence[int]) -> Pads:
    """Padding ``((top, bottom), (left, right))`` for a normalized border mode.

    'full' pads ``dilated_kernel - 1`` on each side; 'half' pads ``dilated_kernel // 2`` on each
    side (Theano's: an even kernel gives one more output than input); 'same' pads
    ``dilated_kernel - 1`` in total, the extra one at the bottom/right, so that the output has the
    input's size at stride 1 for any kernel. Entries are ints, or symbolic scalars when the kernel
    size is symbolic.
    """
    result = []
    for k, d, axis in zip(kshape, dilation, range(2)):
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
    return tuple(result)  # type: ignore[return-value]


def conv_output_size(size: Any, k: Any, pads: tuple[Any, Any], stride: int, dilation: int) -> Any:
    """Output length of one spatial axis (ints or symbolic scalars)."""
    return (size + pads[0] + pads[1] - ((k - 1) * dilation + 1)) // stride + 1


def _static(*values: Any) -> bool:
    return all(isinstance(v, int | np.integer) for v in values)


def _numeric(*values: Any) -> bool:
    """Whether shape entries support arithmetic (ints or symbolic scalars)."""
    return all(isinstance(v, int | np.integer | Variable) for v in values)


def _with_static(node: Apply, dims: list) -> list:
    """``dims`` with every dimension the output's type knows replaced by that int."""
    return [d if s is None else s for s, d in zip(node.outputs[0].type.shape, dims)]


def _hw_vector(x: Variable) -> Variable:
    """The last two dimensions of ``x`` as an int64 vector (a constant when known)."""
    from symdl.tensor.shape import shape_i, stack

    h, w = x.type.shape[-2:]
    if h is not None and w is not None:
        return constant(np.array([h, w], dtype="int64"))
    return stack([shape_i(x, x.ndim - 2), shape_i(x, x.ndim - 1)])


def _static_hw(v: Variable, opname: str) -> tuple[int | None, int | None]:
    if v.ndim != 1 or v.type.shape[0] not in (2, None) or v.dtype not in ("int64", "int32"):
        raise TypeMismatch(f"{opname}: the spatial shape must be an integer vector of 2 entries, got {v.type}")
    if isinstance(v, Constant):
        return int(v.data[0]), int(v.data[1])
    return None, None


# ---------------------------------------------------------------- NumPy kernels
def _pad(x: np.ndarray, pads: Pads) -> np.ndarray:
    (t, b), (le, r) = pads
    if t or b or le or r:
        return np.pad(x, ((0, 0), (0, 0), (t, b), (le, r)))
    return x


def _windows(xp: np.ndarray, k: tuple[int, int], out: tuple[int, int], stride: tuple[int, int], dil: tuple[int, int]):
    """View of ``xp`` (N, C, H, W) as (N, C, kh, kw, out_h, out_w) windows."""
    n, c = xp.shape[:2]
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp,
        shape=(n, c, k[0], k[1], out[0], out[1]),
        strides=(s[0], s[1], s[2] * dil[0], s[3] * dil[1], s[2] * stride[0], s[3] * stride[1]),
        writeable=False,
    )


class _Geometry:
    """Everything one call of a conv op needs, from the runtime shapes."""

    def __init__(self, op: Any, x_shape: Sequence[int], w_shape: Sequence[int], opname: str):
        n, c, h, w = x_shape
        o, cg, kh, kw = w_shape
        g = op.num_groups
        if c != cg * g:
            raise ShapeError(
                f"{opname}: the input has {c} channels but the filters {tuple(w_shape)} expect {cg * g} "
                f"({cg} per group x {g} groups)"
            )
        if o % g:
            raise ShapeError(f"{opname}: {o} output channels do not split into {g} groups")
        self.pads = conv_pads(op.border_mode, (kh, kw), op.filter_dilation)
        hp = h + self.pads[0][0] + self.pads[0][1]
        wp = w + self.pads[1][0] + self.pads[1][1]
        dkh = (kh - 1) * op.filter_dilation[0] + 1
        dkw = (kw - 1) * op.filter_dilation[1] + 1
        if dkh > hp or dkw > wp:
            raise ShapeError(
                f"{opname}: the filter ({kh}x{kw}, {dkh}x{dkw} dilated) is larger than the padded input "
                f"({hp}x{wp} from {h}x{w})"
            )
        self.out = ((hp - dkh) // op.subsample[0] + 1, (wp - dkw) // op.subsample[1] + 1)
        self.padded = (hp, wp)
        self.k = (kh, kw)
        self.n, self.c, self.o, self.cg, self.g = n, c, o, cg, g


def _filters(w: np.ndarray, flip: bool) -> np.ndarray:
    return w[:, :, ::-1, ::-1] if flip else w


def conv2d_forward(x: np.ndarray, w: np.ndarray, op: Any, geo: _Geometry) -> np.ndarray:
    w = _filters(w, op.filter_flip)
    xp = _pad(x, geo.pads)
    cols = _windows(xp, geo.k, geo.out, op.subsample, op.filter_dilation)
    n, (ho, wo), g, cg, og = geo.n, geo.out, geo.g, geo.cg, geo.o // geo.g
    kk = cg * geo.k[0] * geo.k[1]
    out = np.empty((n, geo.o, ho * wo), dtype=np.result_type(x, w))
    for j in range(g):
        colm = np.ascontiguousarray(cols[:, j * cg : (j + 1) * cg]).reshape(n, kk, ho * wo)
        wm = w[j * og : (j + 1) * og].reshape(og, kk)
        np.matmul(wm, colm, out=out[:, j * og : (j + 1) * og])
    return out.reshape(n, geo.o, ho, wo)


def conv2d_grad_inputs(w: np.ndarray, gy: np.ndarray, op: Any, geo: _Geometry, dtype: Any) -> np.ndarray:
    w = _filters(w, op.filter_flip)
    n, (ho, wo), g, cg, og = geo.n, geo.out, geo.g, geo.cg, geo.o // geo.g
    kh, kw = geo.k
    (sh, sw), (dh, dw) = op.subsample, op.filter_dilation
    kk = cg * kh * kw
    gxp = np.zeros((n, geo.c) + geo.padded, dtype=dtype)
    gy = gy.reshape(n, geo.o, ho * wo)
    for j in range(g):
        wm = w[j * og : (j + 1) * og].reshape(og, kk)
        gcols = np.matmul(wm.T, gy[:, j * og : (j + 1) * og]).reshape(n, cg, kh, kw, ho, wo)
        target = gxp[:, j * cg : (j + 1) * cg]
        for a in range(kh):
            for b in range(kw):
                r0, c0 = a * dh, b * dw
                target[:, :, r0 : r0 + sh * (ho - 1) + 1 : sh, c0 : c0 + sw * (wo - 1) + 1 : sw] += gcols[:, :, a, b]
    (t, bt), (le, r) = geo.pads
    return gxp[:, :, t : geo.padded[0] - bt, le : geo.padded[1] - r]


def conv2d_grad_weights(x: np.ndarray, gy: np.ndarray, op: Any, geo: _Geometry, dtype: Any) -> np.ndarray:
    xp = _pad(x, geo.pads)
    cols = _windows(xp, geo.k, geo.out, op.subsample, op.filter_dilation)
    n, (ho, wo), g, cg, og = geo.n, geo.out, geo.g, geo.cg, geo.o // geo.g
    kk = cg * geo.k[0] * geo.k[1]
    gw = np.empty((geo.o, kk), dtype=dtype)
    gy = gy.reshape(n, geo.o, ho * wo)
    for j in range(g):
        # (og, n*p) @ (n*p, kk)^T: one product over the whole batch, windows laid out (kk, n, p).
        colm = np.ascontiguousarray(cols[:, j * cg : (j + 1) * cg].transpose(1, 2, 3, 0, 4, 5)).reshape(kk, -1)
        gyj = np.ascontiguousarray(gy[:, j * og : (j + 1) * og].transpose(1, 0, 2)).reshape(og, -1)
        np.matmul(gyj, colm.T, out=gw[j * og : (j + 1) * og])
    gw = gw.reshape(geo.o, cg, geo.k[0], geo.k[1])
    return np.ascontiguousarray(_filters(gw, op.filter_flip))


# ---------------------------------------------------------------- ops
class _ConvBase(Op):
    view_map = {}
    __props__ = ("border_mode", "subsample", "filter_flip", "filter_dilation", "num_groups")

    def __init__(
        self,
        border_mode: Any = "valid",
        subsample: Any = (1, 1),
        filter_flip: bool = True,
        filter_dilation: Any = (1, 1),
        num_groups: int = 1,
    ):
        self.border_mode = normalize_border_mode(border_mode)
        self.subsample = _pair(subsample, "subsample")
        self.filter_flip = bool(filter_flip)
        self.filter_dilation = _pair(filter_dilation, "filter_dilation")
        self.num_groups = int(num_groups)
        if min(self.subsample) < 1:
            raise ValueError(f"subsample must be positive, got {self.subsample}")
        if min(self.filter_dilation) < 1:
            raise ValueError(f"filter_dilation must be positive, got {self.filter_dilation}")
        if self.num_groups < 1:
            raise ValueError(f"num_groups must be positive, got {self.num_groups}")

    def _params(self) -> dict:
        return {p: getattr(self, p) for p in self.__props__}

    def _check_channels(self, opname: str, c: int | None, w: Variable) -> None:
        o, cg = w.type.shape[:2]
        g = self.num_groups
        if c is not None and cg is not None and c != cg * g:
            raise ShapeError(
                f"{opname}: the input has {c} channels but the filters {shape_str(w.type.shape)} expect "
                f"{cg * g} ({cg} per group x {g} group{'s' if g > 1 else ''}) — filters {describe(w)}"
            )
        if o is not None and o % g:
            raise ShapeError(f"{opname}: {o} output channels (filters {describe(w)}) do not split into {g} groups")
        if c is not None and c % g:
            raise ShapeError(f"{opname}: {c} input channels do not split into {g} groups")

    def _static_out(self, opname: str, hw: Sequence[int | None], k: Sequence[int | None], what: str) -> list:
        out = []
        for axis in range(2):
            size, kk = hw[axis], k[axis]
            if size is None or kk is None:
                out.append(None)
                continue
            pads = conv_pads(self.border_mode, k if _static(*k) else (kk, kk), self.filter_dilation)[axis]
            dk = (kk - 1) * self.filter_dilation[axis] + 1
            padded = size + pads[0] + pads[1]
            if dk > padded:
                raise ShapeError(
                    f"{opname}: the filter ({shape_str(k)}, {dk} along axis {axis + 2} when dilated) is larger "
                    f"than the padded input ({padded} = {size} + padding {pads}) — {what}"
                )
            out.append(conv_output_size(size, kk, pads, self.subsample[axis], self.filter_dilation[axis]))
        return out

    def _symbolic_out(self, hw: Sequence[Any], k: Sequence[Any]) -> list:
        pads = conv_pads(self.border_mode, k, self.filter_dilation)
        return [conv_output_size(hw[a], k[a], pads[a], self.subsample[a], self.filter_dilation[a]) for a in range(2)]

    def __str__(self) -> str:
        parts = [type(self).__name__]
        if self.border_mode != (0, 0):
            parts.append(f"border_mode={self.border_mode}")
        if self.subsample != (1, 1):
            parts.append(f"subsample={self.subsample}")
        if self.filter_dilation != (1, 1):
            parts.append(f"dilation={self.filter_dilation}")
        if self.num_groups != 1:
            parts.append(f"groups={self.num_groups}")
        if not self.filter_flip:
            parts.append("no flip")
        return parts[0] + ("{" + ", ".join(parts[1:]) + "}" if len(parts) > 1 else "")

    __repr__ = __str__


def _float_pair(opname: str, a: Variable, b: Variable, names: tuple[str, str]) -> tuple[Variable, Variable]:
    from symdl.tensor.elemwise import cast

    for v, name in zip((a, b), names):
        if v.ndim != 4:
            raise TypeMismatch(f"{opname}: {name} must be a 4-d tensor, got {v.type} ({describe(v)})")
        if not v.type.is_float:
            raise TypeMismatch(f"{opname}: {name} must be floating point, got {v.type} ({describe(v)})")
    dtype = str(np.result_type(a.dtype, b.dtype))
    return cast(a, dtype), cast(b, dtype)


class Conv2d(_ConvBase):
    """``conv2d(input, filters)``: inputs ``(input (N, C, H, W), filters (O, C/groups, kh, kw))``,
    output ``(N, O, out_h, out_w)``. Gradients: ``Conv2dGradInputs`` and ``Conv2dGradWeights``."""

    def make_node(self, x: Any, w: Any) -> Apply:
        x, w = _float_pair("conv2d", as_tensor_variable(x), as_tensor_variable(w), ("the input", "the filters"))
        self._check_channels("conv2d", x.type.shape[1], w)
        out_hw = self._static_out(
            "conv2d",
            x.type.shape[2:],
            w.type.shape[2:],
            f"input {shape_str(x.type.shape)} ({describe(x)}), filters {shape_str(w.type.shape)}",
        )
        return Apply(self, [x, w], [TensorType(x.dtype, (x.type.shape[0], w.type.shape[0], *out_hw))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, w = inputs
        geo = _Geometry(self, x.shape, w.shape, "conv2d")
        return [conv2d_forward(x, w, self, geo).astype(node.outputs[0].dtype, copy=False)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        xs, ws = input_shapes
        spatial = self._symbolic_out(xs[2:], ws[2:]) if _numeric(*xs[2:], *ws[2:]) else [None, None]
        return [_with_static(node, [xs[0], ws[0], *spatial])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        x, w = inputs
        (gy,) = grads
        gx = Conv2dGradInputs(**self._params())(w, gy, _hw_vector(x))
        gw = Conv2dGradWeights(**self._params())(x, gy, _hw_vector(w))
        return [gx, gw]


class Conv2dGradInputs(_ConvBase):
    """The gradient of ``conv2d`` with respect to its input (a transposed convolution).

    Inputs ``(filters (O, C/groups, kh, kw), output_grad (N, O, out_h, out_w), input_hw)`` where
    ``input_hw`` is the input's ``(H, W)`` as an int64 vector (needed because with a stride several
    input sizes give the same output size). Output ``(N, C, H, W)``.
    """

    def make_node(self, w: Any, gy: Any, input_hw: Any) -> Apply:
        w, gy = _float_pair("conv2d_grad_inputs", as_tensor_variable(w), as_tensor_variable(gy), ("filters", "grad"))
        input_hw = as_tensor_variable(input_hw)
        hw = _static_hw(input_hw, "conv2d_grad_inputs")
        o, cg = w.type.shape[:2]
        if o is not None and gy.type.shape[1] is not None and o != gy.type.shape[1]:
            raise ShapeError(
                f"conv2d_grad_inputs: the output gradient has {gy.type.shape[1]} channels, the filters {o}"
            )
        out_hw = self._static_out("conv2d_grad_inputs", hw, w.type.shape[2:], f"filters {shape_str(w.type.shape)}")
        for axis in range(2):
            if (
                out_hw[axis] is not None
                and gy.type.shape[2 + axis] is not None
                and out_hw[axis] != gy.type.shape[2 + axis]
            ):
                raise ShapeError(
                    f"conv2d_grad_inputs: an input of spatial size {hw} gives outputs of size {tuple(out_hw)}, "
                    f"but the output gradient is {shape_str(gy.type.shape)}"
                )
        c = cg * self.num_groups if cg is not None else None
        return Apply(self, [w, gy, input_hw], [TensorType(w.dtype, (gy.type.shape[0], c, *hw))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        w, gy, hw = inputs
        n, o = gy.shape[:2]
        geo = _Geometry(self, (n, w.shape[1] * self.num_groups, int(hw[0]), int(hw[1])), w.shape, "conv2d_grad_inputs")
        if geo.out != gy.shape[2:] or o != w.shape[0]:
            raise ShapeError(
                f"conv2d_grad_inputs: an input of spatial size {tuple(int(v) for v in hw)} gives outputs of "
                f"size {geo.out}, but the output gradient has shape {gy.shape}"
            )
        return [conv2d_grad_inputs(w, gy, self, geo, node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        hw = node.inputs[2]
        ws, gys, _ = input_shapes
        c = ws[1] if self.num_groups == 1 else ws[1] * self.num_groups if _numeric(ws[1]) else None
        return [_with_static(node, [gys[0], c, hw[0], hw[1]])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        w, gy, _ = inputs
        (ggx,) = grads
        g_w = Conv2dGradWeights(**self._params())(ggx, gy, _hw_vector(w))
        g_gy = Conv2d(**self._params())(ggx, w)
        return [g_w, g_gy, None]


class Conv2dGradWeights(_ConvBase):
    """The gradient of ``conv2d`` with respect to its filters.

    Inputs ``(input (N, C, H, W), output_grad (N, O, out_h, out_w), filter_hw)`` where ``filter_hw``
    is ``(kh, kw)`` as an int64 vector. Output ``(O, C/groups, kh, kw)``.
    """

    def make_node(self, x: Any, gy: Any, filter_hw: Any) -> Apply:
        x, gy = _float_pair("conv2d_grad_weights", as_tensor_variable(x), as_tensor_variable(gy), ("input", "grad"))
        filter_hw = as_tensor_variable(filter_hw)
        k = _static_hw(filter_hw, "conv2d_grad_weights")
        c, o, g = x.type.shape[1], gy.type.shape[1], self.num_groups
        if c is not None and c % g:
            raise ShapeError(f"conv2d_grad_weights: {c} input channels do not split into {g} groups")
        if o is not None and o % g:
            raise ShapeError(f"conv2d_grad_weights: {o} output channels do not split into {g} groups")
        out_hw = self._static_out("conv2d_grad_weights", x.type.shape[2:], k, f"input {shape_str(x.type.shape)}")
        for axis in range(2):
            if (
                out_hw[axis] is not None
                and gy.type.shape[2 + axis] is not None
                and out_hw[axis] != gy.type.shape[2 + axis]
            ):
                raise ShapeError(
                    f"conv2d_grad_weights: input {shape_str(x.type.shape)} and filters of size {k} give outputs of "
                    f"size {tuple(out_hw)}, but the output gradient is {shape_str(gy.type.shape)}"
                )
        cg = c // g if c is not None else None
        return Apply(self, [x, gy, filter_hw], [TensorType(x.dtype, (o, cg, *k))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, gy, k = inputs
        o, g = gy.shape[1], self.num_groups
        if x.shape[1] % g or o % g:
            raise ShapeError(f"conv2d_grad_weights: channels {x.shape[1]} -> {o} do not split into {g} groups")
        geo = _Geometry(self, x.shape, (o, x.shape[1] // g, int(k[0]), int(k[1])), "conv2d_grad_weights")
        if geo.out != gy.shape[2:]:
            raise ShapeError(
                f"conv2d_grad_weights: input {x.shape} and filters of size {tuple(int(v) for v in k)} give outputs "
                f"of size {geo.out}, but the output gradient has shape {gy.shape}"
            )
        return [conv2d_grad_weights(x, gy, self, geo, node.outputs[0].dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        k = node.inputs[2]
        xs, gys, _ = input_shapes
        cg = xs[1] if self.num_groups == 1 else xs[1] // self.num_groups if _numeric(xs[1]) else None
        return [_with_static(node, [gys[1], cg, k[0], k[1]])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        x, gy, _ = inputs
        (ggw,) = grads
        g_x = Conv2dGradInputs(**self._params())(ggw, gy, _hw_vector(x))
        g_gy = Conv2d(**self._params())(x, ggw)
        return [g_x, g_gy, None]


# ---------------------------------------------------------------- user functions
def _refine(v: Variable, hint: Sequence[int | None] | None, what: str, opname: str = "conv2d") -> Variable:
    """Check a Theano-style shape hint against ``v``'s static shape."""
    if hint is None:
        return v
    hint = tuple(None if h is None else int(h) for h in hint)
    if len(hint) != v.ndim:
        raise ShapeError(f"{opname}: {what} {hint} has {len(hint)} entries for a {v.ndim}-d tensor ({describe(v)})")
    for axis, (h, s) in enumerate(zip(hint, v.type.shape)):
        if h is not None and s is not None and h != s:
            raise ShapeError(
                f"{opname}: {what} {hint} disagrees with {describe(v)} of shape {shape_str(v.type.shape)} on axis {axis}"
            )
    if all(h is None or s is not None for h, s in zip(hint, v.type.shape)):
        return v
    return ShapeHint(tuple(s if s is not None else h for h, s in zip(hint, v.type.shape)))(v)


class ShapeHint(Op):
    """Identity that fixes statically unknown dimensions (checked when the function runs)."""

    view_map = {0: [0]}

    __props__ = ("shape",)

    def __init__(self, shape: tuple[int | None, ...]):
        self.shape = shape
        self.name = "shape_hint"

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType(x.dtype, self.shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        (x,) = inputs
        if any(h is not None and h != d for h, d in zip(self.shape, x.shape)):
            raise ShapeError(
                f"a value of shape {x.shape} does not have the declared shape {shape_str(self.shape)} (a shape hint "
                "of conv2d or conv3d)"
            )
        return [x]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [[h if h is not None else d for h, d in zip(self.shape, input_shapes[0])]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        return [grads[0]]


def conv2d(
    input: Any,
    filters: Any,
    input_shape: Sequence[int | None] | None = None,
    filter_shape: Sequence[int | None] | None = None,
    border_mode: Any = "valid",
    subsample: Any = (1, 1),
    filter_flip: bool = True,
    filter_dilation: Any = (1, 1),
    num_groups: int = 1,
) -> Variable:
    """2-d convolution of a batch of images with a bank of filters, as Theano's ``conv2d``.

    Parameters
    ----------
    input : (batch, channels, rows, cols) tensor
    filters : (out_channels, channels / num_groups, kernel_rows, kernel_cols) tensor
    input_shape, filter_shape : optional static shapes (None entries unknown), checked against
        the variables' types.
    border_mode : 'valid' (no padding), 'full' (pad ``kernel - 1``), 'half' (pad ``kernel // 2``;
        Theano's), 'same' (output the size of the input at stride 1, the odd pixel of an even
        kernel padded at the bottom/right), an int or a pair ``(pad_rows, pad_cols)``.
    subsample : stride, an int or a pair.
    filter_flip : True flips the filters (a true convolution, Theano's and Lasagne's default);
        False is cross-correlation (PyTorch's ``conv2d``).
    filter_dilation : dilation, an int or a pair.
    num_groups : grouped convolution: input and output channels split into this many groups.

    Examples
    --------
    >>> import numpy as np, symdl.tensor as T
    >>> x, w = T.dtensor4('x'), T.dtensor4('w')
    >>> img = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d(x, w, filter_flip=False).eval({x: img, w: np.ones((1, 1, 2, 2))})
    array([[[[ 8., 12.],
             [20., 24.]]]])
    """
    input, filters = as_tensor_variable(input), as_tensor_variable(filters)
    input = _refine(input, input_shape, "input_shape")
    filters = _refine(filters, filter_shape, "filter_shape")
    op = Conv2d(border_mode, subsample, filter_flip, filter_dilation, num_groups)
    return op(input, filters)


def conv1d(
    input: Any,
    filters: Any,
    border_mode: Any = "valid",
    subsample: int = 1,
    filter_flip: bool = True,
    filter_dilation: int = 1,
    num_groups: int = 1,
) -> Variable:
    """1-d convolution of ``(batch, channels, length)`` signals with ``(out, channels / groups, k)``
    filters: ``conv2d`` over a height of 1 (same border modes, for the length axis).

    >>> import numpy as np, symdl.tensor as T
    >>> x, w = T.dtensor3('x'), T.dtensor3('w')
    >>> conv1d(x, w, filter_flip=False).eval({x: np.arange(5.0).reshape(1, 1, 5), w: np.ones((1, 1, 2))})
    array([[[1., 3., 5., 7.]]])
    """
    from symdl.tensor.shape import dimshuffle

    input, filters = as_tensor_variable(input), as_tensor_variable(filters)
    for v, what in ((input, "the input"), (filters, "the filters")):
        if v.ndim != 3:
            raise TypeMismatch(f"conv1d: {what} must be a 3-d tensor, got {v.type} ({describe(v)})")
    # The filters have height 1, so a named border mode pads the length axis only.
    pad = border_mode if isinstance(border_mode, str) else (0, int(border_mode))
    out = conv2d(
        dimshuffle(input, (0, 1, "x", 2)),
        dimshuffle(filters, (0, 1, "x", 2)),
        border_mode=pad,
        subsample=(1, subsample),
        filter_flip=filter_flip,
        filter_dilation=(1, filter_dilation),
        num_groups=num_groups,
    )
    return dimshuffle(out, (0, 1, 3))


def _shape_vector(shape: Any) -> Variable:
    from symdl.tensor.shape import cast_int64, stack

    if isinstance(shape, Variable):
        return cast_int64(shape)
    entries = list(shape)
    if all(isinstance(d, int | np.integer) for d in entries):
        return constant(np.array(entries, dtype="int64"))
    return stack([cast_int64(as_tensor_variable(d)) for d in entries])


def conv2d_grad_wrt_inputs(
    output_grad: Any,
    filters: Any,
    input_shape: Sequence[Any],
    filter_shape: Sequence[int | None] | None = None,
    border_mode: Any = "valid",
    subsample: Any = (1, 1),
    filter_flip: bool = True,
    filter_dilation: Any = (1, 1),
    num_groups: int = 1,
) -> Variable:
    """The gradient of ``conv2d`` with respect to its input (Theano's function of that name);
    ``input_shape`` is the full 4-d input shape (its last two entries are used)."""
    filters = _refine(as_tensor_variable(filters), filter_shape, "filter_shape")
    op = Conv2dGradInputs(border_mode, subsample, filter_flip, filter_dilation, num_groups)
    out = op(filters, output_grad, _shape_vector(list(input_shape)[-2:]))
    return _refine(out, _static_entries(input_shape), "input_shape")


def conv2d_grad_wrt_weights(
    input: Any,
    output_grad: Any,
    filter_shape: Sequence[Any],
    input_shape: Sequence[int | None] | None = None,
    border_mode: Any = "valid",
    subsample: Any = (1, 1),
    filter_flip: bool = True,
    filter_dilation: Any = (1, 1),
    num_groups: int = 1,
) -> Variable:
    """The gradient of ``conv2d`` with respect to its filters (Theano's function of that name);
    ``filter_shape`` is the full 4-d filter shape (its last two entries are used)."""
    input = _refine(as_tensor_variable(input), input_shape, "input_shape")
    op = Conv2dGradWeights(border_mode, subsample, filter_flip, filter_dilation, num_groups)
    out = op(input, output_grad, _shape_vector(list(filter_shape)[-2:]))
    return _refine(out, _static_entries(filter_shape), "filter_shape")


def _static_entries(shape: Any) -> tuple | None:
    if isinstance(shape, Variable):
        return None
    return tuple(int(d) if isinstance(d, int | np.integer) else None for d in shape)


__all__ = [
    "Conv2d",
    "conv1d",
    "Conv2dGradInputs",
    "Conv2dGradWeights",
    "conv2d",
    "conv2d_grad_wrt_inputs",
    "conv2d_grad_wrt_weights",
    "conv_pads",
]
