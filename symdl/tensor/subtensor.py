"""Indexing: basic slicing, integer and boolean array indexing, and writing into a sub-tensor
(``set_subtensor``, ``inc_subtensor``, where repeated indices accumulate as ``np.add.at``).

An index is kept as a hashable template; symbolic parts (scalars, index arrays) are node inputs
referred to by position as ``("in", k)``.

>>> import symdl.tensor as T
>>> x = T.matrix('x', shape=(5, 4))
>>> x[1:, ::2].type
float32(4, 2)
>>> x[T.ivector('i')].type
float32(?, 4)
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import TensorConstant, _TensorOps, as_tensor_variable
from symdl.utils import describe

Template = tuple


def _is_int_like(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def parse_index(x: Variable, index: Any) -> tuple[Template, list[Variable], bool]:
    """Turn a NumPy-style index into (template, symbolic inputs, is_advanced)."""
    if not isinstance(index, tuple):
        index = (index,)
    inputs: list[Variable] = []

    def slot(value: Any) -> Any:
        if value is None or _is_int_like(value):
            return None if value is None else int(value)
        var = as_tensor_variable(value)
        if var.ndim != 0 or var.type.is_float or var.dtype == "bool":
            raise TypeMismatch(f"slice bounds must be integer scalars, got {var.type}")
        inputs.append(var)
        return ("in", len(inputs) - 1)

    entries: list[Any] = []
    advanced = False
    for item in index:
        if item is None:
            entries.append(("new",))
        elif item is Ellipsis:
            entries.append(("ellipsis",))
        elif isinstance(item, slice):
            entries.append(("slice", slot(item.start), slot(item.stop), slot(item.step)))
        elif _is_int_like(item):
            entries.append(("int", int(item)))
        else:
            var = as_tensor_variable(item)
            if var.ndim == 0 and var.dtype != "bool":
                if var.type.is_float:
                    raise TypeMismatch(f"indices must be integers or booleans, got {var.type}")
                inputs.append(var)
                entries.append(("int", ("in", len(inputs) - 1)))
            else:
                if var.type.is_float:
                    raise TypeMismatch(f"index arrays must be integers or booleans, got {var.type} ({describe(var)})")
                inputs.append(var)
                entries.append(("array", len(inputs) - 1))
                advanced = True
    n_ellipsis = builtins.sum(1 for e in entries if e[0] == "ellipsis")
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = builtins.sum(
        (inputs[e[1]].ndim if inputs[e[1]].dtype == "bool" else 1) if e[0] == "array" else int(e[0] in ("int", "slice"))
        for e in entries
    )
    if consumed > x.ndim:
        raise IndexError(f"too many indices for {describe(x)}: {x.ndim}-d, indexed with {consumed}")
    full: list[Any] = []
    for e in entries:
        if e[0] == "ellipsis":
            full += [("slice", None, None, None)] * (x.ndim - consumed)
        else:
            full.append(e)
    if not n_ellipsis:
        full += [("slice", None, None, None)] * (x.ndim - consumed)
    return tuple(full), inputs, advanced


def build_index(template: Template, values: Sequence[Any]) -> tuple:
    """The concrete NumPy index from a template and the values of its inputs."""

    def val(s: Any) -> Any:
        return int(values[s[1]]) if isinstance(s, tuple) else s

    out = []
    for e in template:
        kind = e[0]
        if kind == "slice":
            out.append(slice(val(e[1]), val(e[2]), val(e[3])))
        elif kind == "int":
            out.append(val(e[1]))
        elif kind == "new":
            out.append(None)
        else:
            out.append(values[e[1]])
    return tuple(out)


def _static_slice_len(dim: int | None, entry: tuple, inputs: Sequence[Variable]) -> int | None:
    bounds = []
    for s in entry[1:]:
        if isinstance(s, tuple):
            var = inputs[s[1]]
            if not isinstance(var, TensorConstant):
                return None
            s = int(var.data)
        bounds.append(s)
    if bounds[2] == 0:
        raise ValueError("slice step cannot be zero")
    if bounds == [None, None, None] or bounds == [None, None, 1]:
        return dim
    if dim is None:
        # Known lengths even without the dimension: x[:k] has at most k, which is not enough.
        return None
    return len(range(*slice(*bounds).indices(dim)))


def static_index_shape(x: Variable, template: Template, inputs: Sequence[Variable]) -> list[int | None]:
    """The static shape of ``x[index]``, following NumPy's placement of advanced-index axes."""
    basic: list[Any] = []  # per entry: list of output dims, or ("adv", shape)
    axis = 0
    adv_shapes: list[tuple] = []
    adv_positions: list[int] = []
    has_array = builtins.any(e[0] == "array" for e in template)
    for pos, e in enumerate(template):
        kind = e[0]
        if kind == "new":
            basic.append([1])
        elif kind == "slice":
            basic.append([_static_slice_len(x.type.shape[axis], e, inputs)])
            axis += 1
        elif kind == "int":
            dim = x.type.shape[axis]
            if dim is not None and not isinstance(e[1], tuple) and not -dim <= e[1] < dim:
                raise IndexError(f"index {e[1]} is out of bounds for axis {axis} with size {dim} ({describe(x)})")
            if has_array:
                adv_shapes.append(())
                adv_positions.append(pos)
                basic.append(None)
            else:
                basic.append([])
            axis += 1
        else:
            var = inputs[e[1]]
            if var.dtype == "bool":
                for k, (md, xd) in enumerate(zip(var.type.shape, x.type.shape[axis : axis + var.ndim])):
                    if md is not None and xd is not None and md != xd:
                        raise IndexError(
                            f"boolean index of shape {shape_str(var.type.shape)} does not match "
                            f"{describe(x)} of shape {shape_str(x.type.shape)} at axis {axis + k}"
                        )
                adv_shapes.append((None,))
                axis += var.ndim
            else:
                adv_shapes.append(var.type.shape)
                axis += 1
            adv_positions.append(pos)
            basic.append(None)
    if not adv_shapes:
        return [d for dims in basic for d in dims]
    from symdl.tensor.elemwise import broadcast_static_shapes

    dummies = [TensorType("bool", s).make_variable() for s in adv_shapes]
    adv = list(broadcast_static_shapes("indexing", dummies))
    contiguous = adv_positions == list(range(adv_positions[0], adv_positions[-1] + 1))
    out: list[int | None] = []
    placed = False
    if not contiguous:
        out += adv
        placed = True
    for dims in basic:
        if dims is None:
            if not placed:
                out += adv
                placed = True
            continue
        out += dims
    return out


class Subtensor(Op):
    """``x[index]`` for any NumPy index; basic indices give views, array indices gather."""

    view_map = {0: [0]}

    __props__ = ("template", "advanced")

    def __init__(self, template: Template, advanced: bool):
        self.template, self.advanced = template, advanced

    def make_node(self, x: Any, *inputs: Any) -> Apply:
        x = as_tensor_variable(x)
        inputs = [as_tensor_variable(i) for i in inputs]
        shape = static_index_shape(x, self.template, inputs)
        return Apply(self, [x, *inputs], [TensorType(x.dtype, shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, *values = inputs
        try:
            out = x[build_index(self.template, values)]
        except IndexError as exc:
            raise IndexError(f"{exc} (indexing an array of shape {x.shape})") from None
        return [np.asarray(out)]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like

        x, *idx = inputs
        if not x.type.is_float:
            return [None] * len(inputs)
        zero = zeros_like(x)
        g = IncSubtensor(self.template, self.advanced, False)(zero, grads[0], *idx)
        return [g] + [None] * len(idx)

    def __str__(self) -> str:
        return "advanced_subtensor" if self.advanced else "subtensor"


class IncSubtensor(Op):
    """A copy of ``x`` with ``x[index]`` set to, or incremented by, ``y``."""

    view_map = {}  # a copy of x

    __props__ = ("template", "advanced", "set_instead_of_inc")

    def __init__(self, template: Template, advanced: bool, set_instead_of_inc: bool):
        self.template, self.advanced, self.set_instead_of_inc = template, advanced, set_instead_of_inc

    def make_node(self, x: Any, y: Any, *inputs: Any) -> Apply:
        from symdl.tensor.elemwise import _resolve_weak, broadcast_static_shapes, cast

        x = as_tensor_variable(x)
        y = _resolve_weak([x, as_tensor_variable(y)], "set_subtensor")[1]
        inputs = [as_tensor_variable(i) for i in inputs]
        target = TensorType(x.dtype, static_index_shape(x, self.template, inputs)).make_variable()
        if y.ndim > target.ndim:
            raise ShapeError(f"set/inc_subtensor: a {y.ndim}-d value cannot go into a {target.ndim}-d sub-tensor")
        out_shape = broadcast_static_shapes("set/inc_subtensor", [target, y])
        # the value may broadcast into the sub-tensor, never enlarge it (a size it may take at run
        # time, such as an unknown one against 1, is checked then)
        if any(d is not None and o is not None and d != o for d, o in zip(target.type.shape, out_shape)):
            raise ShapeError(
                f"set/inc_subtensor: value of shape {shape_str(y.type.shape)} does not fit the "
                f"sub-tensor of shape {shape_str(target.type.shape)} ({describe(y)})"
            )
        if y.dtype != x.dtype:
            if not np.can_cast(y.dtype, x.dtype, "same_kind"):
                raise TypeMismatch(f"set/inc_subtensor: cannot write {y.dtype} values into a {x.dtype} tensor")
            y = cast(y, x.dtype)
        return Apply(self, [x, y, *inputs], [x.type])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, y, *values = inputs
        out = x.copy()
        index = build_index(self.template, values)
        if self.set_instead_of_inc:
            out[index] = y
        elif self.advanced:
            np.add.at(out, _bool_to_int(index), y)
        else:
            out[index] += y
        return [out]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.elemwise import sum_to_shape_of

        x, y, *idx = inputs
        (gz,) = grads
        sub = Subtensor(self.template, self.advanced)
        if self.set_instead_of_inc:
            gx = IncSubtensor(self.template, self.advanced, True)(gz, 0, *idx)
        else:
            gx = gz
        gy = sum_to_shape_of(sub(gz, *idx), y)
        return [gx if x.type.is_float else None, gy if y.type.is_float else None] + [None] * len(idx)

    def __str__(self) -> str:
        return ("set" if self.set_instead_of_inc else "inc") + ("_advanced" if self.advanced else "") + "_subtensor"


def _bool_to_int(index: tuple) -> tuple:
    out: list[Any] = []
    for item in index:
        if isinstance(item, np.ndarray) and item.dtype == bool:
            out.extend(item.nonzero())
        else:
            out.append(item)
    return tuple(out)


def getitem(x: Variable, index: Any) -> Variable:
    """``x[index]`` with NumPy semantics."""
    template, inputs, advanced = parse_index(x, index)
    # x[:] and x[...] are Subtensor nodes too (so that set_subtensor(x[:], y) works, as in NumPy's
    # x[:] = y); the canonicalize phase removes them.
    if not advanced and any(e[0] == "new" for e in template):
        # Basic indexing with new axes: index first, then insert the axes.
        from symdl.tensor.shape import dimshuffle

        core = tuple(e for e in template if e[0] != "new")
        y = getitem_template(x, core, inputs, False)
        pattern: list[Any] = []
        k = 0
        for e in template:
            if e[0] == "new":
                pattern.append("x")
            elif e[0] == "slice":
                pattern.append(k)
                k += 1
        return dimshuffle(y, pattern)
    return getitem_template(x, template, inputs, advanced)


def getitem_template(x: Variable, template: Template, inputs: list[Variable], advanced: bool) -> Variable:
    return Subtensor(template, advanced)(x, *inputs)


def _write(sub: Variable, y: Any, set_instead_of_inc: bool, name: str) -> Variable:
    if not isinstance(sub, _TensorOps) or sub.owner is None or not isinstance(sub.owner.op, Subtensor):
        raise TypeError(f"{name} takes an indexed tensor such as x[1:3] or x[idx], got {sub}")
    op = sub.owner.op
    x, *inputs = sub.owner.inputs
    return IncSubtensor(op.template, op.advanced, set_instead_of_inc)(x, y, *inputs)


def set_subtensor(sub: Variable, y: Any) -> Variable:
    """A copy of ``x`` with ``x[index] = y``, where ``sub`` is ``x[index]``.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> T.set_subtensor(x[1:], 0.0).eval({x: np.ones(3)})
    array([1., 0., 0.])
    """
    return _write(sub, y, True, "set_subtensor")


def inc_subtensor(sub: Variable, y: Any) -> Variable:
    """A copy of ``x`` with ``y`` added at ``x[index]``; repeated indices accumulate.

    >>> import numpy as np, symdl.tensor as T
    >>> x, i = T.dvector('x'), T.lvector('i')
    >>> T.inc_subtensor(x[i], 1.0).eval({x: np.zeros(3), i: np.array([0, 0, 2])})
    array([2., 0., 1.])
    """
    return _write(sub, y, False, "inc_subtensor")


def take(x: Any, indices: Any, axis: int | None = None) -> Variable:
    """``np.take``: gather ``indices`` along ``axis`` (flattened when None)."""
    from symdl.tensor.shape import flatten

    x = as_tensor_variable(x)
    if axis is None:
        return getitem(flatten(x), indices)
    from symdl.tensor.reduction import normalize_axis

    axis = normalize_axis(axis, x.ndim, "take", x)[0]
    return getitem(x, (slice(None),) * axis + (as_tensor_variable(indices),))


# ---------------------------------------------------------------- C implementations
_INDEX_KINDS = {"slice": "SD_IDX_SLICE", "int": "SD_IDX_INT", "new": "SD_IDX_NEW"}


def _bound(value: Any) -> str:
    """A template value for the runtime: a literal, SD_NONE, or (SD_ARG | k) for index input k."""
    if value is None:
        return "SD_NONE"
    if isinstance(value, tuple):
        return f"SD_ARG | {int(value[1])}"
    return f"INT64_C({int(value)})"


def _index_table(template: Any) -> list[str] | None:
    """The runtime's table of a basic-indexing template (None for advanced indexing)."""
    entries: list[str] = []
    for e in template:
        if e[0] not in _INDEX_KINDS:
            return None
        values = list(e[1:]) + [None] * (4 - len(e))
        entries += [_INDEX_KINDS[e[0]], *(_bound(v) for v in values[:3])]
    return entries


@register_impl("c", Subtensor)
def _subtensor_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    x, *idx = node.inputs
    entries = None if op.advanced else _index_table(op.template)
    if entries is None or any(not c.has_ctype(i.dtype) or i.dtype == "bool" for i in idx):
        return None
    args = [c.slot(i) for i in idx]
    return c.call("subtensor", c.slot(x), c.slot(node.outputs[0]), len(op.template), c.int64s(entries), c.ints(args))


@register_impl("c", IncSubtensor)
def _inc_subtensor_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    x, y, *idx = node.inputs
    entries = None if op.advanced else _index_table(op.template)
    if entries is None or x.dtype == "bool" or not c.has_ctype(x.dtype) or y.dtype != x.dtype:
        return None
    if any(not c.has_ctype(i.dtype) or i.dtype == "bool" for i in idx):
        return None
    args = [c.slot(i) for i in idx]
    return c.call(
        "inc_subtensor", c.slot(x), c.slot(y), c.slot(node.outputs[0]), len(op.template), c.int64s(entries),
        c.ints(args), int(op.set_instead_of_inc),
    )  # fmt: skip


@register_impl("cuda", Subtensor)
def _subtensor_in_cuda(node: Apply, cuda: Any) -> Any:
    if node.op.advanced or any(i.dtype == "bool" for i in node.inputs[1:]):
        return None
    return cuda.view(node, "subtensor")


@register_impl("cuda", IncSubtensor)
def _inc_subtensor_in_cuda(node: Apply, cuda: Any) -> Any:
    op = node.op
    if op.advanced or any(i.dtype == "bool" for i in node.inputs[2:]):
        return None
    return cuda.write(node, "set" if op.set_instead_of_inc else "inc")
