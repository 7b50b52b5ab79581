"""The C and CUDA implementations of ``symdl.tensor.nnet``'s ops.

On the C backend the softmax family runs in the runtime's ``softmax`` entry, convolutions and
pooling in its ``conv2d`` and ``pool2d`` entries (``kernels/c/nnet_api.h`` over ``conv.h`` and
``pool.h``: im2col + BLAS, OpenMP over the batch), each with the op's parameters as a constant
table; local response normalization's window sum and the spatial transformer's gather and
scatter-add in the entries of ``kernels/c/runtime_along_axis.h``. On CUDA they are the kernels of
``kernels/cuda`` (softmax rows, im2col + cuBLAS, pooling).

>>> import numpy as np, symdl, symdl.tensor as T
>>> x, w = T.tensor4('x'), T.tensor4('w')
>>> f = symdl.function([x, w], T.nnet.conv2d(x, w), mode='c')
>>> 'A->conv2d(' in f.source()
True
"""

from __future__ import annotations

from typing import Any

from symdl.graph.basic import Apply
from symdl.graph.impl import register_impl
from symdl.tensor.nnet.basic import LogSoftmax, Softmax, SoftmaxCrossentropyWithLogits
from symdl.tensor.nnet.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights, ShapeHint
from symdl.tensor.nnet.conv_nd import Conv3d, Conv3dGradInputs, Conv3dGradWeights
from symdl.tensor.nnet.lrn import WindowSum
from symdl.tensor.nnet.pool import MODES, Pool2d, Pool2dGrad
from symdl.tensor.nnet.pool_nd import MaxPoolGradGrad, Pool, PoolGrad
from symdl.tensor.nnet.sampling import BatchGather, BatchScatterAdd

_FLOATS = ("float32", "float64")
_BORDERS = {"full": 1, "half": 2, "same": 3}
# the runtime's softmax kinds
_SOFTMAX, _LOG_SOFTMAX, _CE_LABELS, _CE_PROBABILITIES = 0, 1, 2, 3


@register_impl("c", Softmax, LogSoftmax)
def _softmax_in_c(node: Apply, c: Any) -> str | None:
    x, out = node.inputs[0], node.outputs[0]
    if x.dtype not in _FLOATS or out.dtype != x.dtype:
        return None
    kind = _LOG_SOFTMAX if isinstance(node.op, LogSoftmax) else _SOFTMAX
    return c.call("softmax", kind, c.slot(x), -1, c.slot(out), node.op.axis)


@register_impl("c", SoftmaxCrossentropyWithLogits)
def _softmax_crossentropy_in_c(node: Apply, c: Any) -> str | None:
    x, target = node.inputs
    if x.dtype not in _FLOATS or node.outputs[0].dtype != x.dtype:
        return None
    if target.type.is_float:
        if target.dtype != x.dtype or target.ndim != x.ndim:
            return None
        kind = _CE_PROBABILITIES
    else:
        if not c.has_ctype(target.dtype) or target.ndim != x.ndim - 1:
            return None
        kind = _CE_LABELS
    return c.call("softmax", kind, c.slot(x), c.slot(target), c.slot(node.outputs[0]), x.ndim - 1)


def conv_params(op: Any) -> list[int]:
    """border (0 explicit, 1 full, 2 half, 3 same), pads, strides, dilations, groups, flip."""
    mode = op.border_mode
    border, pads = (_BORDERS[mode], (0, 0)) if isinstance(mode, str) else (0, mode)
    return [border, *pads, *op.subsample, *op.filter_dilation, op.num_groups, int(op.filter_flip)]


_CONV_KINDS = {Conv2d: 0, Conv2dGradInputs: 1, Conv2dGradWeights: 2}


@register_impl("c", Conv2d, Conv2dGradInputs, Conv2dGradWeights)
def _conv_in_c(node: Apply, c: Any) -> str | None:
    kind = next(k for cls, k in _CONV_KINDS.items() if isinstance(node.op, cls))
    a, b = node.inputs[:2]
    if a.dtype not in _FLOATS or b.dtype != a.dtype or node.outputs[0].dtype != a.dtype:
        return None
    hw = -1
    if kind:
        shape = node.inputs[2]
        if shape.dtype not in ("int32", "int64"):
            return None
        hw = c.slot(shape)
    out = c.slot(node.outputs[0])
    return c.call("conv2d", kind, c.slot(a), c.slot(b), hw, out, c.int64s(conv_params(node.op)))


@register_impl("c", Pool2d, Pool2dGrad)
def _pool_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    backward = isinstance(op, Pool2dGrad)
    x = node.inputs[0]
    if x.dtype not in _FLOATS or node.outputs[0].dtype != x.dtype or (backward and node.inputs[1].dtype != x.dtype):
        return None
    params = [*op.ws, *op.stride, *op.pad, int(op.ignore_border), MODES.index(op.mode)]
    gz = c.slot(node.inputs[1]) if backward else -1
    return c.call("pool2d", int(backward), c.slot(x), gz, c.slot(node.outputs[0]), c.int64s(params))


_CONV3D_KINDS = {Conv3d: 0, Conv3dGradInputs: 1, Conv3dGradWeights: 2}


@register_impl("c", Conv3d, Conv3dGradInputs, Conv3dGradWeights)
def _conv3d_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    kind = _CONV3D_KINDS[type(op)]
    a, b = node.inputs[:2]
    if a.dtype not in _FLOATS or b.dtype != a.dtype or node.outputs[0].dtype != a.dtype:
        return None
    size = -1
    if kind:
        if node.inputs[2].dtype not in ("int32", "int64"):
            return None
        size = c.slot(node.inputs[2])
    mode = op.border_mode
    border, pads = (_BORDERS[mode], (0, 0, 0)) if isinstance(mode, str) else (0, mode)
    params = [border, *pads, *op.subsample, *op.filter_dilation, op.num_groups, int(op.filter_flip)]
    return c.call("conv3d", kind, c.slot(a), c.slot(b), size, c.slot(node.outputs[0]), c.int64s(params))


_POOL_ND_KINDS = {Pool: 0, PoolGrad: 1, MaxPoolGradGrad: 2}


@register_impl("c", Pool, PoolGrad, MaxPoolGradGrad)
def _pool_nd_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    kind = _POOL_ND_KINDS[type(op)]
    arrays, params = node.inputs[: 1 + (kind > 0)], node.inputs[-3:]
    if any(v.dtype not in _FLOATS or v.dtype != node.outputs[0].dtype for v in arrays):
        return None
    if any(p.dtype not in ("int32", "int64") for p in params):
        return None
    g = c.slot(arrays[1]) if kind else -1
    settings = c.int64s([op.ndim, int(op.ignore_border), MODES.index(op.mode)])
    return c.call(
        "pool_nd", kind, c.slot(arrays[0]), g, *(c.slot(p) for p in params), c.slot(node.outputs[0]), settings
    )


_WINDOW_SUM_DTYPES = ("float32", "float64", "int32", "int64")
_INDEX_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32")


@register_impl("c", WindowSum)
def _window_sum_in_c(node: Apply, c: Any) -> str | None:
    x = node.inputs[0]
    if x.dtype not in _WINDOW_SUM_DTYPES:
        return None
    return c.call("window_sum", c.slot(x), c.slot(node.outputs[0]), node.op.axis, node.op.size)


@register_impl("c", BatchGather)
def _batch_gather_in_c(node: Apply, c: Any) -> str | None:
    x, idx = node.inputs
    if not c.has_ctype(x.dtype) or idx.dtype not in _INDEX_DTYPES:
        return None
    return c.call("batch_gather", c.slot(x), c.slot(idx), c.slot(node.outputs[0]))


@register_impl("c", BatchScatterAdd)
def _batch_scatter_add_in_c(node: Apply, c: Any) -> str | None:
    g, idx, n = node.inputs
    if g.dtype not in _FLOATS or idx.dtype not in _INDEX_DTYPES or not c.has_ctype(n.dtype):
        return None
    return c.call("batch_scatter_add", c.slot(g), c.slot(idx), c.slot(n), c.slot(node.outputs[0]))


# ---------------------------------------------------------------- CUDA
@register_impl("cuda", Softmax, LogSoftmax)
def _softmax_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.softmax(node, log=isinstance(node.op, LogSoftmax), axis=node.op.axis)


@register_impl("cuda", SoftmaxCrossentropyWithLogits)
def _softmax_crossentropy_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.softmax_crossentropy(node)


_CUDA_CONV_KINDS = {Conv2d: "forward", Conv2dGradInputs: "grad_inputs", Conv2dGradWeights: "grad_weights"}


@register_impl("cuda", Conv2d, Conv2dGradInputs, Conv2dGradWeights)
def _conv_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.conv(node, next(k for cls, k in _CUDA_CONV_KINDS.items() if isinstance(node.op, cls)))


@register_impl("cuda", Pool2d, Pool2dGrad)
def _pool_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.pool(node, grad=isinstance(node.op, Pool2dGrad))


@register_impl("cuda", ShapeHint)
def _shape_hint_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.view(node, "check_shape")
