"""Run-time checks: identities on their first input that raise when a value breaks what an op
needs, for graphs that would otherwise compute a wrong answer silently.

``check_labels(y, n, opname)`` passes integer class labels through once each is in ``[0, n)``
(a one-hot built by comparison gives a row of zeros for a label out of range, so a gradient
built from it trains on garbage instead of failing as the forward does). ``check_size`` is what
an op's ``perform`` calls before allocating an output whose shape comes from run-time values.

>>> import numpy as np, symdl, symdl.tensor as T
>>> y = T.ivector('y')
>>> f = symdl.function([y], check_labels(y, 3, "one_hot"))
>>> f(np.array([0, 2], 'int32'))
array([0, 2], dtype=int32)
>>> f(np.array([0, 7], 'int32'))  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
IndexError: one_hot: ...label 7 (at ...position 1) is out of range for 3 classes: labels must satisfy 0 <= label < 3 ...
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import TypeMismatch
from symdl.graph.basic import Apply, Constant, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable
from symdl.utils import UserFrame


def check_size(node: Apply, shape: Sequence[int], opname: str | None = None) -> tuple[int, ...]:
    """``shape`` (Python ints) for the new value of ``node``'s first output, once it is
    allocatable: MemoryError naming the op, the shape and the user's line when its bytes overflow
    what an array can address (NumPy would report a negative dimension, a shape mismatch or even
    crash), ValueError for a negative dimension."""
    shape = tuple(int(d) for d in shape)
    out = node.outputs[0]
    where = f"; applied at {out.trace}" if out.trace is not None else ""
    opname = opname or str(node.op)
    if any(d < 0 for d in shape):
        raise ValueError(f"{opname}: an output of shape {shape} has a negative dimension{where}")
    itemsize = np.dtype(out.dtype).itemsize
    if 0 not in shape and math.prod(shape) * itemsize > np.iinfo(np.intp).max:
        raise MemoryError(
            f"{opname}: an output of shape {shape} ({out.dtype}) is too large: {math.prod(shape)} elements of "
            f"{itemsize} bytes overflow the {np.iinfo(np.intp).bits}-bit address space{where}"
        )
    return shape


class _Check(Op):
    """An identity on its first input that ``check_values`` of all its inputs first."""

    view_map = {0: [0]}

    def check_values(self, node: Apply, values: Sequence[Any], to_host: Any = np.asarray) -> None:
        raise NotImplementedError

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        self.check_values(node, inputs)
        return [inputs[0]]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]


class CheckLabels(_Check):
    """Integer labels, passed through once every one is in ``[0, n)``; else IndexError naming
    ``opname`` and the user's line where it was applied (negative labels are errors too: they
    are class indices, not Python positions)."""

    __props__ = ("opname",)

    def __init__(self, opname: str):
        self.opname = opname
        self.name = f"{opname}: label check"

    def make_node(self, labels: Any, n: Any) -> Apply:
        labels, n = as_tensor_variable(labels), as_tensor_variable(n)
        if not labels.type.is_discrete or labels.dtype == "bool":
            raise TypeMismatch(f"{self.opname}: labels must be integers, got {labels.type}")
        if n.ndim != 0 or not n.type.is_discrete:
            raise TypeMismatch(f"{self.opname}: the number of classes must be an integer scalar, got {n.type}")
        return Apply(self, [labels, n], [TensorType(labels.dtype, labels.type.shape)])

    def message(self, node: Apply, labels: np.ndarray, n: int) -> str | None:
        """The error for ``labels`` against ``n`` classes, or None when all are in range."""
        bad = np.flatnonzero((labels < 0) | (labels >= n)) if labels.size else ()
        if not len(bad):
            return None
        position = np.unravel_index(int(bad[0]), labels.shape)
        where = node.outputs[0].trace
        return (
            f"{self.opname}: label {labels[position]} (at position {position[0] if labels.ndim == 1 else position}) "
            f"is out of range for {n} classes: labels must satisfy 0 <= label < {n} (negative labels are "
            f"errors, not positions from the end){f'; applied at {where}' if where is not None else ''}"
        )

    def check_values(self, node: Apply, values: Sequence[Any], to_host: Any = np.asarray) -> None:
        """Raise IndexError unless every label is in range; ``to_host`` makes a NumPy array of a
        value (a device array on the CUDA backend: the labels are copied, they are small)."""
        labels, n = (np.asarray(to_host(v)) for v in values)
        error = self.message(node, labels, int(n))
        if error is not None:
            raise IndexError(error)

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        return [None, None]


def check_labels(labels: Any, n: Any, opname: str, at: UserFrame | None = None) -> Variable:
    """``labels`` (integers), checked at run time to be in ``[0, n)``; ``at`` is the user's line
    the error names (default: the caller's)."""
    labels = as_tensor_variable(labels)
    out = CheckLabels(opname)(labels, n)
    out.name = labels.name
    if at is not None:
        out.trace = at
    return out


_CHECK_LABELS_C = """{
    const sd_arr *y = &ctx->v[in];
    const int64_t classes = (int64_t)*(const NTYPE *)ctx->v[n].data;
    int64_t idx[SD_MAXDIM] = {0}, total = 1;
    for (int d = 0; d < y->ndim; d++)
        total *= y->shape[d];
    for (int64_t k = 0; k < total; k++) {
        int64_t off = 0;
        for (int d = 0; d < y->ndim; d++)
            off += idx[d] * y->strides[d];
        const int64_t label = (int64_t)((const LTYPE *)y->data)[off];
        if (label < 0 || label >= classes)
            return ctx->api->error(ctx, node, SD_ERROR_INDEX,
                                   "label %lld (at flat position %lld) is out of range for %lld classes: "
                                   "labels must satisfy 0 <= label < %lld (negative labels are errors, not "
                                   "positions from the end)",
                                   (long long)label, (long long)k, (long long)classes, (long long)classes);
        for (int d = y->ndim - 1; d >= 0; d--) {
            if (++idx[d] < y->shape[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}"""


@register_impl("c", CheckLabels)
def _check_labels_in_c(node: Apply, c: Any) -> Any:
    from symdl.backend.c.codegen import CStatements

    labels, n = node.inputs
    if labels.dtype == "uint64" or not (c.has_ctype(labels.dtype) and c.has_ctype(n.dtype)):
        return None
    name = f"symdl_check_labels_{labels.dtype}_{n.dtype}"
    body = _CHECK_LABELS_C.replace("NTYPE", c.ctype(n.dtype)).replace("LTYPE", c.ctype(labels.dtype))
    fn = c.define(f"int {name}(sd_ctx *ctx, int node, int in, int n)", body)
    return CStatements([f"SD_TRY({c.call(fn, c.slot(labels), c.slot(n))});", c.view(labels, node.outputs[0])])


@register_impl("cuda", CheckLabels)
def _check_labels_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.view(node, "check")


# ---------------------------------------------------------------- shapes a gradient must not forget
def _scalar_shaped(v: Variable) -> bool:
    return all(d == 1 for d in v.type.shape)


def needs_shape_check(node: Apply) -> bool:
    """Whether a gradient graph built from ``node`` should check at run time the shapes its
    forward would have checked: the op says its forward checks shapes (``grad_checks_shapes``),
    and two or more of its inputs that are not mere scalars have shapes not fully known."""
    if not getattr(node.op, "grad_checks_shapes", False):
        return False
    shaped = [v for v in node.inputs if isinstance(v.type, TensorType) and not _scalar_shaped(v)]
    return len(shaped) >= 2 and any(d is None for v in shaped for d in v.type.shape)


class ShapeCheck(_Check):
    """Identity on its first input (a gradient) that raises the ShapeError its ``forward`` op
    would raise on the other inputs' run-time shapes (the forward node's inputs): the gradient
    of ``dot(x, y)`` with respect to ``x`` never computes the product, and of shapes (3, 4) and
    (5, 6) it would silently make a (3, 5) array. ``grad`` passes the output gradient of a
    node whose op has ``grad_checks_shapes`` (and whose shapes are not all known statically)
    through one before calling the op's ``L_op``;
    the rewriter removes it where the forward node itself is computed too, or the shapes become
    static. The check builds the forward node on variables of the run-time shapes (integer
    vectors, such as reshape's target, with their values), so each op's own static checks are
    the rule; a set of shapes that passed is remembered."""

    __props__ = ("forward",)

    def __init__(self, forward: Op):
        self.forward = forward
        self.name = f"shape_check{{{forward}}}"
        self._passed: set = set()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_passed": set()}

    def make_node(self, g: Any, *inputs: Any) -> Apply:
        g = as_tensor_variable(g)
        return Apply(self, [g, *(as_tensor_variable(v) for v in inputs)], [g.type])

    def check_values(self, node: Apply, values: Sequence[Any], to_host: Any = np.asarray) -> None:
        """Raise ShapeError where the forward node would on these values' shapes; ``to_host``
        copies the small integer inputs (shapes) whose values the check reads."""
        from symdl.errors import ShapeError
        from symdl.tensor.var import constant

        stand_ins: list[Variable] = []
        key: list[Any] = []
        for var, value in zip(node.inputs[1:], values[1:]):
            if isinstance(var, Constant):
                stand_ins.append(var)
            elif var.type.is_discrete and var.ndim <= 1:
                data = np.asarray(to_host(value))
                key.append(("value", data.dtype.str, data.tobytes()))
                stand_ins.append(constant(data))
            else:
                shape = tuple(int(d) for d in value.shape)
                key.append(shape)
                stand = TensorType(var.dtype, shape).make_variable(name=var.name)
                stand.trace = var.trace
                stand_ins.append(stand)
        key = tuple(key)
        if key in self._passed:
            return
        try:
            self.forward.make_node(*stand_ins)
        except ShapeError as exc:
            where = node.outputs[0].trace
            at = f", applied at {where}" if where is not None else ""
            raise ShapeError(
                f"{exc} (checked in the gradient of {self.forward}{at}, whose forward is not computed)"
            ) from None
        self._passed.add(key)

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        return [grads[0]] + [None] * (len(inputs) - 1)


def shape_check(g: Variable, node: Apply) -> Variable:
    """``g`` (the gradient of ``node``'s output), checked at run time against the shapes ``node``'s
    forward would have checked; the error names the line where the user applied the op."""
    out = ShapeCheck(node.op)(g, *node.inputs)
    out.trace = node.outputs[0].trace
    out.name = g.name
    return out


_CHECK_BROADCAST_C = """{
    int64_t size[SD_MAXDIM];
    int from[SD_MAXDIM];
    for (int d = 0; d < ndim; d++) {
        size[d] = 1;
        from[d] = -1;
    }
    for (int j = 0; j < n; j++) {
        const sd_arr *a = &ctx->v[ins[j]];
        for (int d = 0; d < a->ndim; d++) {
            const int axis = ndim - a->ndim + d;
            const int64_t s = a->shape[d];
            if (s == 1)
                continue;
            if (size[axis] != 1 && s != size[axis])
                return ctx->api->error(ctx, node, SD_ERROR_SHAPE,
                                       "inputs %d and %d cannot broadcast (axis %d: %lld vs %lld), as the "
                                       "forward elementwise op would have raised; its forward is not computed",
                                       from[axis], j + 1, axis - ndim, (long long)size[axis], (long long)s);
            size[axis] = s;
            from[axis] = j + 1;
        }
    }
    return 0;
}"""

_CHECK_DOT_C = """{
    const sd_arr *a = &ctx->v[x], *b = &ctx->v[y];
    const int64_t ka = a->shape[a->ndim - 1], kb = b->shape[0];
    if (ka != kb)
        return ctx->api->error(ctx, node, SD_ERROR_SHAPE,
                               "dot: a %d-d tensor with %lld columns cannot multiply a %d-d tensor with %lld rows "
                               "(%lld vs %lld), as the forward dot would have raised; its forward is not computed",
                               a->ndim, (long long)ka, b->ndim, (long long)kb, (long long)ka, (long long)kb);
    return 0;
}"""


_CHECK_JOIN_C = """{
    const sd_arr *first = &ctx->v[ins[0]];
    for (int j = 1; j < n; j++) {
        const sd_arr *a = &ctx->v[ins[j]];
        for (int d = 0; d < a->ndim; d++)
            if (d != axis && a->shape[d] != first->shape[d])
                return ctx->api->error(ctx, node, SD_ERROR_SHAPE,
                                       "concatenate: inputs 0 and %d differ on axis %d (%lld vs %lld), as the forward "
                                       "concatenate would have raised; its forward is not computed",
                                       j, d, (long long)first->shape[d], (long long)a->shape[d]);
    }
    return 0;
}"""

_CHECK_RESHAPE_C = """{
    const sd_arr *a = &ctx->v[x], *s = &ctx->v[shape];
    int64_t size = 1, rest = 1;
    int free = 0;
    for (int d = 0; d < a->ndim; d++)
        size *= a->shape[d];
    for (int64_t k = 0; k < s->shape[0]; k++) {
        const int64_t d = ((const int64_t *)s->data)[k * s->strides[0]];
        if (d == -1)
            free++;
        else
            rest *= d;
    }
    if (free > 1 || (free ? rest == 0 || size % rest != 0 : rest != size))
        return ctx->api->error(ctx, node, SD_ERROR_SHAPE,
                               "reshape: cannot reshape an array of %lld elements (%d-d) to a shape of %lld "
                               "entries, as the forward reshape would have raised; its forward is not computed",
                               (long long)size, a->ndim, (long long)s->shape[0]);
    return 0;
}"""


@register_impl("c", ShapeCheck)
def _shape_check_in_c(node: Apply, c: Any) -> Any:
    from symdl.backend.c.codegen import CStatements
    from symdl.tensor.blas import Dot
    from symdl.tensor.elemwise import Elemwise
    from symdl.tensor.shape import Join, Reshape

    g, *forward_inputs = node.inputs
    slots = [c.slot(v) for v in forward_inputs]
    if type(node.op.forward) is Elemwise:
        fn = c.define(
            "int symdl_check_broadcast(sd_ctx *ctx, int node, int n, const int *ins, int ndim)", _CHECK_BROADCAST_C
        )
        call = c.call(fn, len(slots), c.ints(slots), max(v.ndim for v in forward_inputs))
    elif type(node.op.forward) is Dot:
        fn = c.define("int symdl_check_dot(sd_ctx *ctx, int node, int x, int y)", _CHECK_DOT_C)
        call = c.call(fn, *slots)
    elif type(node.op.forward) is Join:
        fn = c.define("int symdl_check_join(sd_ctx *ctx, int node, int n, const int *ins, int axis)", _CHECK_JOIN_C)
        call = c.call(fn, len(slots), c.ints(slots), node.op.forward.axis)
    elif type(node.op.forward) is Reshape and forward_inputs[1].dtype == "int64":
        fn = c.define("int symdl_check_reshape(sd_ctx *ctx, int node, int x, int shape)", _CHECK_RESHAPE_C)
        call = c.call(fn, *slots)
    else:
        return None  # the op's perform checks, called back from C
    return CStatements([f"SD_TRY({call});", c.view(g, node.outputs[0])])


@register_impl("cuda", ShapeCheck)
def _shape_check_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.view(node, "check")
