"""The shape feature: what is known about each dimension of each variable, without computing it.

``dim_key(fgraph, var, i)`` names dimension ``i`` of ``var`` by a hashable key, following the
ops' shape rules back towards the function's inputs:

- ``('c', n)``: the constant ``n``;
- ``('d', v, j)``: dimension ``j`` of ``v``, a variable the analysis does not see through
  (a function input, or a node without a shape rule);
- ``('s', s)``: the value of the int scalar variable ``s`` (e.g. a size given to ``alloc``);
- ``('max', frozenset(keys))``: the broadcast of several dimensions (elementwise ops).

Equal keys prove equal sizes at run time; rewrites use this to drop work that only restates a
shape (``ReduceToShape`` to the shape the value already has, ``x + 0``, ``alloc`` feeding an
elementwise op). ``dim_expr`` turns a key back into a small int64 graph over the inputs' shapes,
which is how ``x.shape[0]`` stops depending on computing ``x``.

>>> import symdl.tensor as T
>>> from symdl.graph import FunctionGraph
>>> x = T.matrix('x')
>>> y = T.exp(x).T
>>> fg = FunctionGraph([x], [y])
>>> dim_key(fg, y, 0) == ('d', x, 1)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.fg import FunctionGraph

_MAX_DEPTH = 120
ONE = ("c", 1)


def _cache(fgraph: FunctionGraph) -> dict:
    cache = getattr(fgraph, "_dim_keys", None)
    if cache is None:
        cache = {}
        fgraph._dim_keys = cache
    return cache


def seed_equal_dims(fgraph: FunctionGraph, groups: list[list[tuple[Variable, int]]]) -> None:
    """Record that the dimensions in each group of ``(input variable, axis)`` are equal at run time
    (a loop's body learns it from the graph around the loop): they all get the first one's key."""
    cache = _cache(fgraph)
    for group in groups:
        first = ("d", *group[0])
        for var, axis in group:
            if var.type.shape[axis] is None:
                cache[(var, axis)] = first


def combine_broadcast(keys: list) -> tuple:
    """The key of the broadcast of dimensions with ``keys`` (NumPy rules)."""
    flat: set = set()
    for k in keys:
        if k == ONE:
            continue
        if k[0] == "max":
            flat.update(k[1])
        else:
            flat.add(k)
    consts = {k for k in flat if k[0] == "c"}
    if consts:
        # A known size other than 1 is the result (or the program fails to broadcast).
        return sorted(consts)[0]
    if not flat:
        return ONE
    if len(flat) == 1:
        return next(iter(flat))
    return ("max", frozenset(flat))


# sizes computed from constant sizes (a loop's bounds: ``first + n_steps``) are constants
_SIZE_ARITHMETIC = {"add": lambda *v: sum(v), "sub": lambda a, b: a - b, "mul": lambda *v: math.prod(v)}


def scalar_key(fgraph: FunctionGraph, s: Variable, depth: int = 0) -> tuple:
    """The key of the value of an integer scalar variable used as a size."""
    from symdl.tensor.elemwise import Elemwise
    from symdl.tensor.shape import Shape
    from symdl.tensor.subtensor import Subtensor

    if isinstance(s, Constant):
        data = np.asarray(s.data)
        if data.ndim == 0 and data.dtype.kind in "iu":
            return ("c", int(data))
        return ("s", s)
    node = s.owner
    if node is not None and depth < _MAX_DEPTH:
        op = node.op
        if isinstance(op, Subtensor) and not op.advanced and len(op.template) == 1:
            entry = op.template[0]
            src = node.inputs[0]
            if entry[0] == "int" and isinstance(entry[1], int) and src.owner is not None:
                if isinstance(src.owner.op, Shape):
                    inner = src.owner.inputs[0]
                    return dim_key(fgraph, inner, entry[1] % max(inner.ndim, 1), depth + 1)
                vec = vector_entry(src, entry[1])
                if vec is not None:
                    return scalar_key(fgraph, vec, depth + 1)
        if isinstance(op, Elemwise) and op.scalar_op.name == "maximum" and s.ndim == 0:
            # Sizes combined by broadcasting are built as a maximum of sizes that are not known
            # (see dim_expr), and then the two agree. A maximum with a known size is a real
            # maximum (``bincount``'s ``max(x) + 1`` against ``minlength``): 0 drops out, other
            # sizes leave it opaque.
            keys = [scalar_key(fgraph, i, depth + 1) for i in node.inputs]
            keys = [k for k in keys if k != ("c", 0)]
            if len(keys) == 1:
                return keys[0]
            if keys and not any(k[0] == "c" for k in keys):
                return combine_broadcast(keys)
        sized = s.ndim == 0 and s.dtype in ("int32", "int64")
        if isinstance(op, Elemwise) and op.scalar_op.name in _SIZE_ARITHMETIC and sized:
            keys = [scalar_key(fgraph, i, depth + 1) for i in node.inputs]
            if all(k[0] == "c" for k in keys):
                return ("c", _SIZE_ARITHMETIC[op.scalar_op.name](*(k[1] for k in keys)))
        if isinstance(op, Elemwise) and op.scalar_op.name.startswith("cast_") and s.dtype.startswith("int"):
            inner = node.inputs[0]
            if inner.dtype.startswith(("int", "uint")):
                return scalar_key(fgraph, inner, depth + 1)
    return ("s", s)


def vector_entry(vec: Variable, i: int) -> Variable | None:
    """Entry ``i`` of a shape vector built by ``stack`` of scalars, if it is one."""
    from symdl.tensor.shape import DimShuffle, Join

    node = vec.owner
    if node is not None and isinstance(node.op, DimShuffle) and node.op.new_order == ("x",) and i in (0, -1):
        return node.inputs[0]
    if node is None or not isinstance(node.op, Join) or node.op.axis != 0:
        return None
    if i < 0:
        i += len(node.inputs)
    if not 0 <= i < len(node.inputs):
        return None
    part = node.inputs[i]
    if part.owner is not None and isinstance(part.owner.op, DimShuffle) and part.owner.op.new_order == ("x",):
        return part.owner.inputs[0]
    return None


def shape_vector_key(fgraph: FunctionGraph, vec: Variable, i: int, depth: int) -> tuple | None:
    """The key of entry ``i`` of an int64 shape vector (a constant, ``shape(x)`` or a stack)."""
    from symdl.tensor.shape import Shape

    if isinstance(vec, Constant):
        return ("c", int(np.asarray(vec.data)[i]))
    if vec.owner is not None and isinstance(vec.owner.op, Shape):
        return dim_key(fgraph, vec.owner.inputs[0], i, depth + 1)
    entry = vector_entry(vec, i)
    if entry is not None:
        return scalar_key(fgraph, entry, depth + 1)
    return None


def dim_key(fgraph: FunctionGraph, var: Variable, i: int, depth: int = 0) -> tuple:
    """The key of dimension ``i`` of ``var`` (see the module docstring)."""
    static = var.type.shape[i]
    if static is not None:
        return ("c", static)
    cache = _cache(fgraph)
    ck = (var, i)
    found = cache.get(ck)
    if found is not None:
        return found
    node = var.owner
    if node is None or depth > _MAX_DEPTH:
        key = ("d", var, i)
        if node is None:
            cache[ck] = key
        return key
    key = _node_dim_key(fgraph, node, var, i, depth) or ("d", var, i)
    cache[ck] = key
    return key


_OPS: dict[str, Any] = {}


def _ops() -> dict[str, Any]:
    """The op classes the analysis knows, imported once (they import this module's users)."""
    if not _OPS:
        from symdl.gradient import _GradControl
        from symdl.tensor.blas import Dot
        from symdl.tensor.checks import ShapeCheck
        from symdl.tensor.composite import Composite, CompositeReduce
        from symdl.tensor.creation import Alloc
        from symdl.tensor.elemwise import Elemwise
        from symdl.tensor.reduction import ArgReduce, Reduce
        from symdl.tensor.shape import DimShuffle, Join, ReduceToShape, Reshape
        from symdl.tensor.subtensor import IncSubtensor, Subtensor

        _OPS.update(
            elementwise=(Elemwise, Composite),
            dimshuffle=DimShuffle,
            reduce=(Reduce, ArgReduce, CompositeReduce),
            composite_reduce=CompositeReduce,
            alloc=Alloc,
            reshape=(Reshape, ReduceToShape),
            identity=(_GradControl, ShapeCheck),
            dot=Dot,
            subtensor=Subtensor,
            join=Join,
            inc_subtensor=IncSubtensor,
        )
    return _OPS


def _node_dim_key(fgraph: FunctionGraph, node: Apply, var: Variable, i: int, depth: int) -> tuple | None:
    ops = _ops()
    op = node.op
    nd = var.ndim
    d = depth + 1
    if isinstance(op, ops["elementwise"]):
        keys = []
        for inp in node.inputs:
            k = i - (nd - inp.ndim)
            if k >= 0:
                keys.append(dim_key(fgraph, inp, k, d))
        return combine_broadcast(keys)
    if isinstance(op, ops["dimshuffle"]):
        src = op.new_order[i]
        return ONE if src == "x" else dim_key(fgraph, node.inputs[0], src, d)
    if isinstance(op, ops["reduce"]):
        fused = isinstance(op, ops["composite_reduce"])
        src_nd = max(inp.ndim for inp in node.inputs) if fused else node.inputs[0].ndim
        axes = tuple(range(src_nd)) if op.axis is None else op.axis
        axes = axes if isinstance(axes, tuple) else (axes,)
        if op.keepdims:
            if i in axes:
                return ONE
            src = i
        else:
            src = [a for a in range(src_nd) if a not in axes][i]
        parts = []
        for inp in node.inputs if fused else node.inputs[:1]:
            k = src - (src_nd - inp.ndim)
            if k >= 0:
                parts.append(dim_key(fgraph, inp, k, d))
        return combine_broadcast(parts)
    if isinstance(op, ops["alloc"]):
        return scalar_key(fgraph, node.inputs[1 + i], d)
    if isinstance(op, ops["reshape"]):
        key = shape_vector_key(fgraph, node.inputs[1], i, d)
        # A requested -1 is not the dimension (the size decides it): leave that one opaque.
        return None if key == ("c", -1) else key
    if isinstance(op, ops["identity"]):
        return dim_key(fgraph, node.inputs[0], i, d)
    if isinstance(op, ops["dot"]):
        a, b = node.inputs
        dims = [(a, k) for k in range(a.ndim - 1)] + [(b, k) for k in range(1, b.ndim)]
        src_var, k = dims[i]
        return dim_key(fgraph, src_var, k, d)
    if isinstance(op, ops["inc_subtensor"]):
        return dim_key(fgraph, node.inputs[0], i, d)
    if isinstance(op, ops["join"]):
        keys = [dim_key(fgraph, inp, i, d) for inp in node.inputs]
        if i != op.axis % nd:
            # concatenate requires the other axes equal: any input's key names them, a constant best
            return min(keys, key=lambda k: k[0] != "c")
        if all(k[0] == "c" for k in keys):
            return ("c", sum(k[1] for k in keys))
    if isinstance(op, ops["subtensor"]) and not op.advanced:
        key = _subtensor_dim_key(fgraph, node, i, d)
        if key is not None:
            return key
    gemm = _gemm_dims(fgraph, node, i, d)
    if gemm is not None:
        return gemm
    return _generic_dim_key(fgraph, node, var, i, d)


_WHOLE_AXIS = (("slice", None, None, None), ("slice", None, None, -1))


def _subtensor_dim_key(fgraph: FunctionGraph, node: Apply, i: int, depth: int) -> tuple | None:
    """A basic index keeps the size of an axis it takes whole (``:`` or ``::-1``); ``None`` adds a 1."""
    axis = 0
    out = 0
    for entry in node.op.template:
        if entry[0] == "new":
            if out == i:
                return ONE
            out += 1
        elif entry[0] == "int":
            axis += 1
        else:
            if out == i:
                whole = dim_key(fgraph, node.inputs[0], axis, depth)
                return whole if entry in _WHOLE_AXIS else _slice_length(fgraph, node, entry, whole, depth)
            axis += 1
            out += 1
    return None


def _slice_length(fgraph: FunctionGraph, node: Apply, entry: tuple, whole: tuple, depth: int) -> tuple | None:
    """The length of a slice with known bounds of an axis of known length (a constant key)."""
    if whole[0] != "c":
        return None
    bounds = []
    for bound in entry[1:]:
        if isinstance(bound, tuple):
            key = scalar_key(fgraph, node.inputs[1 + bound[1]], depth + 1)
            if key[0] != "c":
                return None
            bound = key[1]
        bounds.append(bound)
    if bounds[2] == 0:
        return None
    return ("c", len(range(*slice(*bounds).indices(whole[1]))))


class _Dim:
    """Stands for an input dimension (by its key) inside an op's ``infer_shape``."""

    __slots__ = ("key",)

    def __init__(self, key: tuple):
        self.key = key


def _generic_dim_key(fgraph: FunctionGraph, node: Apply, var: Variable, i: int, depth: int) -> tuple | None:
    """Ask the op's ``infer_shape``: a dimension passed through from an input keeps its key."""
    if not hasattr(node.op, "infer_shape"):
        return None
    try:
        shapes = [
            [_Dim(dim_key(fgraph, inp, k, depth)) for k in range(inp.ndim)] if hasattr(inp.type, "shape") else []
            for inp in node.inputs
        ]
        out = node.op.infer_shape(node, shapes)[var.index][i]
    except Exception:  # ops whose shape rule computes with the dimensions: not seen through
        return None
    if isinstance(out, _Dim):
        return out.key
    if isinstance(out, int | np.integer):
        return ("c", int(out))
    if isinstance(out, Variable) and getattr(out, "ndim", None) == 0:
        return scalar_key(fgraph, out, depth)
    return None


def _gemm_dims(fgraph: FunctionGraph, node: Apply, i: int, depth: int) -> tuple | None:
    from symdl.tensor.blas import Gemm

    if not isinstance(node.op, Gemm):
        return None
    c, _, a, b, _ = node.inputs
    nd = node.outputs[0].ndim
    dims = [(a, k) for k in range(a.ndim - 1)] + [(b, k) for k in range(1, b.ndim)]
    keys = [dim_key(fgraph, *dims[i], depth)]
    k = i - (nd - c.ndim)
    if k >= 0:
        keys.append(dim_key(fgraph, c, k, depth))
    return combine_broadcast(keys)


def dims(fgraph: FunctionGraph, var: Variable) -> tuple:
    """The keys of every dimension of ``var``."""
    return tuple(dim_key(fgraph, var, i) for i in range(var.ndim))


def same_shape(fgraph: FunctionGraph, a: Variable, b: Variable) -> bool:
    """Whether ``a`` and ``b`` provably have the same shape at run time."""
    return a.ndim == b.ndim and dims(fgraph, a) == dims(fgraph, b)


def _sort_key(key: tuple) -> Any:
    kind = key[0]
    if kind == "c":
        return (0, "", key[1])
    if kind == "d":
        return (1, key[1].auto_name, key[2])
    if kind == "s":
        return (2, key[1].auto_name, 0)
    return (3, "", 0)


def dim_expr(fgraph: FunctionGraph, key: tuple, avoid: Variable | None = None) -> Variable | None:
    """An int64 scalar graph computing the dimension named by ``key``, or None if it would need a
    variable that is no longer in the graph (or ``avoid``)."""
    from symdl.tensor.elemwise import cast, maximum
    from symdl.tensor.shape import _shape_op
    from symdl.tensor.var import constant

    kind = key[0]
    if kind == "c":
        return constant(np.int64(key[1]))
    if kind == "d":
        v = key[1]
        if v is avoid or (v not in fgraph.variables and not isinstance(v, Constant)):
            return None
        return _shape_op(v)[key[2]]
    if kind == "s":
        s = key[1]
        if s is avoid or (s not in fgraph.variables and not isinstance(s, Constant)):
            return None
        return cast(s, "int64")
    parts = [dim_expr(fgraph, k, avoid) for k in sorted(key[1], key=_sort_key)]
    if any(p is None for p in parts):
        return None
    out = parts[0]
    for p in parts[1:]:
        out = maximum(out, p)
    return out


def shape_exprs(fgraph: FunctionGraph, var: Variable) -> list[Variable] | None:
    """int64 scalars for each dimension of ``var`` that do not depend on computing ``var``."""
    out = []
    for i in range(var.ndim):
        e = dim_expr(fgraph, dim_key(fgraph, var, i), avoid=var)
        if e is None:
            return None
        out.append(e)
    return out
