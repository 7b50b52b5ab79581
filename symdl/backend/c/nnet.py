"""C code for ``symdl.tensor.nnet``'s convolution and pooling ops: each node becomes a call of the
runtime's ``conv2d`` or ``pool2d`` entry (``kernels/c/nnet_api.h`` over ``conv.h`` and
``pool.h``), with the op's parameters as a constant table. Random draws with single-valued
parameters (dropout's masks among them) call its ``random`` entry (``kernels/c/runtime_random.h``
over ``philox.h``).

>>> import numpy as np, symdl, symdl.tensor as T
>>> x, w = T.tensor4('x'), T.tensor4('w')
>>> f = symdl.function([x, w], T.nnet.conv2d(x, w), mode='c')
>>> 'A->conv2d(' in f.source()
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from symdl.graph.basic import Apply

_FLOATS = ("float32", "float64")
_BORDERS = {"full": 1, "half": 2, "same": 3}


def _table(values: list[int]) -> str:
    return "(const int64_t[]){" + ", ".join(str(int(v)) for v in values) + "}"


def conv_params(op: Any) -> list[int]:
    """border (0 explicit, 1 full, 2 half, 3 same), pads, strides, dilations, groups, flip."""
    mode = op.border_mode
    border, pads = (_BORDERS[mode], (0, 0)) if isinstance(mode, str) else (0, mode)
    return [border, *pads, *op.subsample, *op.filter_dilation, op.num_groups, int(op.filter_flip)]


def _emit_conv(node: Apply, em: Any, k: int) -> str | None:
    from symdl.tensor.nnet.conv import Conv2d, Conv2dGradInputs

    kind = 0 if isinstance(node.op, Conv2d) else 1 if isinstance(node.op, Conv2dGradInputs) else 2
    a, b = node.inputs[:2]
    if a.dtype not in _FLOATS or b.dtype != a.dtype or node.outputs[0].dtype != a.dtype:
        return None
    hw = -1
    if kind:
        shape = node.inputs[2]
        if shape.dtype not in ("int32", "int64"):
            return None
        hw = em.index(shape)
    out = em.index(node.outputs[0])
    return f"A->conv2d(ctx, {k}, {kind}, {em.index(a)}, {em.index(b)}, {hw}, {out}, {_table(conv_params(node.op))})"


def _emit_pool(node: Apply, em: Any, k: int) -> str | None:
    from symdl.tensor.nnet.pool import MODES, Pool2dGrad

    op = node.op
    backward = isinstance(op, Pool2dGrad)
    x = node.inputs[0]
    if x.dtype not in _FLOATS or node.outputs[0].dtype != x.dtype or (backward and node.inputs[1].dtype != x.dtype):
        return None
    params = [*op.ws, *op.stride, *op.pad, int(op.ignore_border), MODES.index(op.mode)]
    gz = em.index(node.inputs[1]) if backward else -1
    out = em.index(node.outputs[0])
    return f"A->pool2d(ctx, {k}, {int(backward)}, {em.index(x)}, {gz}, {out}, {_table(params)})"


_RANDOM_KINDS = {"uniform": 0, "normal": 1, "binomial": 2}
_RANDOM_DTYPES = {"bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", *_FLOATS}


def _emit_random(node: Apply, em: Any, k: int) -> str | None:
    op = node.op
    state, shape, *params = node.inputs
    dtype = node.outputs[1].dtype
    if op.dist not in _RANDOM_KINDS or dtype not in (_RANDOM_DTYPES if op.dist == "binomial" else _FLOATS):
        return None
    if any(any(d != 1 for d in p.type.shape) or p.dtype not in _RANDOM_DTYPES for p in params):
        return None  # parameters per element: the Python perform broadcasts them
    if shape.dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"):
        return None
    a, b = em.index(params[0]), em.index(params[1]) if len(params) > 1 else -1
    new_state, sample = (em.index(v) for v in node.outputs)
    kind, n = _RANDOM_KINDS[op.dist], op.n if op.dist == "binomial" else 0
    return f"A->random(ctx, {k}, {kind}, {em.index(state)}, {em.index(shape)}, {a}, {b}, {n}, {new_state}, {sample})"


def emitters() -> dict[type, Callable[[Apply, Any, int], str | None]]:
    """Op class -> emitter, for ``symdl.backend.c.codegen``."""
    from symdl.tensor.nnet.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights
    from symdl.tensor.nnet.pool import Pool2d, Pool2dGrad
    from symdl.tensor.random import RandomVariable

    return {
        RandomVariable: _emit_random,
        Conv2d: _emit_conv,
        Conv2dGradInputs: _emit_conv,
        Conv2dGradWeights: _emit_conv,
        Pool2d: _emit_pool,
        Pool2dGrad: _emit_pool,
    }
