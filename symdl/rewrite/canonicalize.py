"""Canonicalize: constant folding, shapes without computing values, algebraic identities, and
collapsing chains of shape ops. Every rewrite here keeps values exactly, or within float
rounding where it reassociates (constant collection, division by a constant).

NaN and inf: no rewrite here turns a NaN or an inf that the original would produce into a
number. So ``x * 0`` becomes zeros only for integer and boolean ``x`` (for floats ``inf * 0`` and
``nan * 0`` are NaN, so it stays), ``exp(log(x))`` becomes ``where(x >= 0, x, nan)`` (``log`` of
a negative number is NaN), and ``x - x`` and ``x / x`` are kept. (``log(exp(x))`` becoming ``x``
removes an overflow: ``exp(1000)`` is inf, the result 1000 is right.)
"""

from __future__ import annotations

import numpy as np

from symdl.compile.builders import OpFromGraph, inline_op_from_graph
from symdl.gradient import _GradControl
from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.fg import FunctionGraph
from symdl.rewrite.engine import RewriteContext, apply_replacements, register_node
from symdl.rewrite.patterns import ew, fill_like, fit, is_value, scalar_value, used_once
from symdl.rewrite.shapes import ONE, dim_expr, dim_key, dims, shape_vector_key
from symdl.tensor import elemwise as E
from symdl.tensor.blas import Dot
from symdl.tensor.creation import Alloc
from symdl.tensor.elemwise import Elemwise
from symdl.tensor.reduction import Reduce
from symdl.tensor.shape import DimShuffle, ReduceToShape, Reshape, Shape, concatenate, dimshuffle
from symdl.tensor.subtensor import IncSubtensor, Subtensor
from symdl.tensor.var import constant

# Constant folding never makes a constant larger than this many elements, unless an input
# constant already was that large (folding then costs no extra memory).
FOLD_LIMIT = 1 << 16


# ---------------------------------------------------------------- constant folding
@register_node("canonicalize", "constant_folding")
def constant_folding(fgraph: FunctionGraph, node: Apply) -> list | None:
    """Evaluate nodes whose inputs are all constants, at compile time."""
    if not node.inputs:
        return None
    for i in node.inputs:
        if not isinstance(i, Constant):
            return None
    op = node.op
    if op.nondeterministic or op.destroy_map:
        return None
    limit = max([FOLD_LIMIT] + [np.size(i.data) for i in node.inputs])
    for out in node.outputs:
        shape = out.type.shape
        if None not in shape and int(np.prod(shape, dtype=np.int64)) > limit:
            return None
    try:
        with np.errstate(all="ignore"):
            values = op.perform(node, [i.data for i in node.inputs])
    except Exception:  # the same error will surface at run time, naming the user's line
        return None
    result = []
    for out, value in zip(node.outputs, values):
        if not hasattr(out.type, "dtype"):
            return None
        arr = np.asarray(value, dtype=out.dtype)
        if arr.size > limit:
            return None
        result.append(constant(arr.copy() if arr.base is not None else arr))
    return result


# ---------------------------------------------------------------- shapes
@register_node("canonicalize", "shape", tracks=[Subtensor])
def shape_of_variable(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``x.shape[i]`` from the shape rules of the ops that made ``x``, so ``x`` need not be computed."""
    op = node.op
    src = node.inputs[0]
    if op.advanced or len(op.template) != 1 or len(node.inputs) != 1 or src.owner is None:
        return None
    entry = op.template[0]
    if entry[0] != "int" or not isinstance(entry[1], int):
        return None
    if not isinstance(src.owner.op, Shape):
        from symdl.rewrite.shapes import vector_entry

        picked = vector_entry(src, entry[1])
        return [picked] if picked is not None and picked.type == node.outputs[0].type else None
    x = src.owner.inputs[0]
    i = entry[1] % max(x.ndim, 1)
    key = dim_key(fgraph, x, i)
    if key == ("d", x, i):
        return None
    expr = dim_expr(fgraph, key)
    if expr is None:
        return None
    return [expr]


@register_node("canonicalize", "subtensor", tracks=[Subtensor])
def identity_subtensor(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``x[:]`` (every axis a full slice) is ``x``."""
    op = node.op
    if op.advanced or len(node.inputs) != 1 or any(e != ("slice", None, None, None) for e in op.template):
        return None
    return [node.inputs[0]]


@register_node("canonicalize", "shape", tracks=[Shape])
def shape_vector(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``x.shape`` as a constant when every dimension is known; for a product ``x = dot(a, b)``,
    as a vector read from the shapes of ``a`` and ``b``, so the product is free to become part
    of a ``gemm`` (elsewhere the vector would cost more nodes than the one Shape it replaces)."""
    from symdl.tensor.shape import stack

    x = node.inputs[0]
    keys = dims(fgraph, x)
    if all(k[0] == "c" for k in keys):
        return [constant(np.array([k[1] for k in keys], dtype="int64"))]
    if x.owner is None or not isinstance(x.owner.op, Dot):
        return None
    if not all(k[0] == "c" or (k[0] == "d" and k[1].owner is None) for k in keys):
        return None
    entries = [dim_expr(fgraph, k, avoid=x) for k in keys]
    if any(e is None for e in entries):
        return None
    return [stack(entries)]


# ---------------------------------------------------------------- elementwise algebra
_MAX_TERMS = 256


def _is_chain_link(fgraph: FunctionGraph, v: Variable, name: str, dtype: str) -> bool:
    """Whether ``v`` is an inner link of an add/mul chain: same op and dtype, used once."""
    return ew(v, name) is not None and v.dtype == dtype and used_once(fgraph, v)


def _chain_terms(fgraph: FunctionGraph, root: Apply, name: str, dtype: str) -> list[Variable]:
    """The terms of the add/mul chain ending at ``root``, left to right."""
    terms: list[Variable] = []
    stack = list(reversed(root.inputs))
    while stack:
        v = stack.pop()
        if len(terms) + len(stack) < _MAX_TERMS and _is_chain_link(fgraph, v, name, dtype):
            stack.extend(reversed(v.owner.inputs))
        else:
            terms.append(v)
    return terms


_IDENTITY = {"add": 0, "mul": 1}


@register_node("canonicalize", "algebra", "flatten", tracks=[Elemwise], scalar=["add", "mul"])
def collect_constants(fgraph: FunctionGraph, node: Apply) -> list | None:
    """Flatten add/mul chains, combine their constants into one, drop ``x + 0`` and ``x * 1``,
    and turn ``x * 0`` into zeros for integers and booleans (never for floats: ``inf * 0``)."""
    name = node.op.scalar_op.name
    out = node.outputs[0]
    dtype = out.dtype
    if not any(isinstance(i, Constant) or _is_chain_link(fgraph, i, name, dtype) for i in node.inputs):
        return None
    clients = fgraph.clients.get(out, ())
    if len(clients) == 1 and clients[0][0] != "output" and _is_chain_link(fgraph, out, name, dtype):
        parent = clients[0][0].outputs[0]
        if ew(parent, name) is not None and parent.dtype == dtype:
            return None  # the chain's root handles it
    terms = _chain_terms(fgraph, node, name, dtype)
    consts = [t for t in terms if isinstance(t, Constant)]
    others = [t for t in terms if not isinstance(t, Constant)]
    if not consts or any(t.dtype != dtype for t in others):
        return None
    if len(consts) == 1 and others:
        value = scalar_value(consts[0])
        if value is None or (value != _IDENTITY[name] and not (name == "mul" and value == 0)):
            return None
    ufunc = np.add if name == "add" else np.multiply
    with np.errstate(all="ignore"):
        combined = np.asarray(consts[0].data, dtype=dtype)
        for c in consts[1:]:
            combined = np.asarray(ufunc(combined, np.asarray(c.data, dtype=dtype)), dtype=dtype)
    scalar = combined.flat[0] if combined.size and np.all(combined == combined.flat[0]) else None
    if name == "mul" and scalar == 0 and out.type.is_discrete:
        zeros = fill_like(fgraph, 0, out)
        return [zeros] if zeros is not None else None
    drop = bool(others) and scalar is not None and scalar == _IDENTITY[name]
    if len(consts) < 2 and not drop:
        return None
    new = others[0] if others else constant(combined)
    for t in others[1:]:
        new = E._apply(node.op.scalar_op, new, t)
    if others and not drop:
        new = E._apply(node.op.scalar_op, new, constant(combined))
    new = fit(fgraph, new, out)
    return [new] if new is not None else None


def _slice_of_zeros(v: Variable) -> tuple[int, int, int, Variable] | None:
    """``(axis, start, stop, y)`` when ``v`` is ``zeros`` with ``y`` written or added into the
    constant slice ``start:stop`` of one axis (every other axis whole)."""
    node = v.owner
    if node is None or not isinstance(node.op, IncSubtensor) or node.op.advanced:
        return None
    base, y, *bounds = node.inputs
    if not all(isinstance(b, Constant) and b.ndim == 0 for b in bounds):
        return None
    known = [int(np.asarray(b.data)) for b in bounds]
    template = [
        tuple(known[part[1]] if isinstance(part, tuple) and part[0] == "in" else part for part in entry)
        for entry in node.op.template
    ]
    if not is_value(base, 0) or len(template) != v.ndim or y.ndim != v.ndim:
        return None
    whole = ("slice", None, None, None)
    cut = [(axis, e) for axis, e in enumerate(template) if e != whole]
    if len(cut) != 1 or cut[0][1][0] != "slice" or cut[0][1][3] not in (None, 1):
        return None
    axis, (_, start, stop, _) = cut[0]
    size = v.type.shape[axis]
    if size is None or not isinstance(start, int | None) or not isinstance(stop, int | None):
        return None
    start, stop, _ = slice(start, stop).indices(size)
    return (axis, start, stop, y) if start < stop else None


@register_node("canonicalize", "algebra", tracks=[Elemwise], scalar=["add"])
def slices_of_zeros_to_concatenate(fgraph: FunctionGraph, node: Apply) -> list | None:
    """A sum of values each written into a slice of zeros, the slices tiling one axis, is their
    concatenation: the gradient of a value used in pieces (an LSTM's four gates cut from one
    product) is built once, not as four zero-filled copies added together."""
    out = node.outputs[0]
    clients = fgraph.clients.get(out, ())
    if len(clients) == 1 and clients[0][0] != "output" and _is_chain_link(fgraph, out, "add", out.dtype):
        return None  # the chain's root handles it
    pieces = []
    for term in _chain_terms(fgraph, node, "add", out.dtype):
        piece = _slice_of_zeros(term)
        if piece is None or term.dtype != out.dtype or dims(fgraph, term) != dims(fgraph, out):
            return None
        pieces.append(piece)
    axes = {axis for axis, *_ in pieces}
    if len(axes) != 1:
        return None
    (axis,) = axes
    pieces.sort(key=lambda piece: piece[1])
    stops = [0] + [stop for _, _, stop, _ in pieces]
    if [start for _, start, _, _ in pieces] != stops[:-1] or stops[-1] != out.type.shape[axis]:
        return None
    # each piece must fill its slice exactly (no broadcasting into it)
    for _, start, stop, y in pieces:
        want = [dim_key(fgraph, out, a) for a in range(out.ndim)]
        want[axis] = ("c", stop - start)
        if list(dims(fgraph, y)) != want:
            return None
    new = fit(fgraph, concatenate([y for *_, y in pieces], axis=axis), out)
    return [new] if new is not None else None


def whole_of_zeros(fgraph: FunctionGraph, node: Apply) -> list | None:
    """Zeros with ``y`` written or added into all of them are ``y`` (where ``y`` has their shape):
    the gradient of a value read whole through a slice (a loop's sequence) is not copied into a
    zero-filled array. A pass after ``scan_equal_dims`` runs it (see there)."""
    out = node.outputs[0]
    piece = _slice_of_zeros(out)
    if piece is None:
        return None
    axis, start, stop, y = piece
    if start != 0 or stop != out.type.shape[axis] or y.dtype != out.dtype:
        return None
    new = fit(fgraph, y, out)
    return [new] if new is not None else None


@register_node("canonicalize", "algebra", tracks=[Elemwise], scalar=["sub"])
def sub_constant(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``x - c`` becomes ``x + (-c)`` so constant collection sees it; ``x - 0`` becomes ``x``."""
    x, c = node.inputs
    out = node.outputs[0]
    if not isinstance(c, Constant) or out.dtype == "bool" or isinstance(x, Constant):
        return None
    if is_value(c, 0):
        return [fit(fgraph, x, out)] if fit(fgraph, x, out) is not None else None
    with np.errstate(all="ignore"):
        neg = np.negative(np.asarray(c.data, dtype=out.dtype))
    return [E.add(x, constant(neg))] if x.dtype == out.dtype else None


@register_node("canonicalize", "algebra", tracks=[Elemwise], scalar=["true_div"])
def div_by_constant(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``x / c`` becomes ``x * (1/c)`` for floats (``x / 1`` becomes ``x``)."""
    x, c = node.inputs
    out = node.outputs[0]
    if not isinstance(c, Constant) or not out.type.is_float or x.dtype != out.dtype:
        return None
    data = np.asarray(c.data, dtype=out.dtype)
    if is_value(c, 1):
        return [fit(fgraph, x, out)] if fit(fgraph, x, out) is not None else None
    if not np.all(np.isfinite(data)) or np.any(data == 0):
        return None
    with np.errstate(all="ignore"):
        inv = np.asarray(1 / data, dtype=out.dtype)
    if not np.all(np.isfinite(inv)):
        return None
    return [E.mul(x, constant(inv))]


@register_node("canonicalize", "algebra", tracks=[Elemwise], scalar=["neg"])
def double_negation(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``--x`` is ``x``."""
    inner = ew(node.inputs[0], "neg")
    return [inner.inputs[0]] if inner is not None and inner.inputs[0].type == node.outputs[0].type else None


@register_node("canonicalize", "algebra", tracks=[Elemwise], scalar=["exp"])
def exp_of_log(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``exp(log(x))`` is ``x`` where ``x >= 0`` and NaN elsewhere (as ``log`` gives there)."""
    inner = ew(node.inputs[0], "log")
    out = node.outputs[0]
    if inner is None or not out.type.is_float:
        return None
    x = inner.inputs[0]
    if x.dtype != out.dtype:
        return None
    new = E.where(E.ge(x, 0), x, constant(np.array(np.nan, dtype=out.dtype)))
    return [fit(fgraph, new, out)] if fit(fgraph, new, out) is not None else None


@register_node("canonicalize", "algebra", tracks=[Elemwise], scalar=["log"])
def log_of_exp(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``log(exp(x))`` is ``x`` (exactly, and without the overflow of ``exp``)."""
    inner = ew(node.inputs[0], "exp")
    if inner is None:
        return None
    x = inner.inputs[0]
    return [x] if x.type == node.outputs[0].type else None


@register_node("canonicalize", "algebra", tracks=[Elemwise], scalar=["pow"])
def pow_specialize(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``x**1`` is ``x``, ``x**2`` is ``sqr(x)``, ``x**3`` is ``sqr(x) * x``, ``x**0.5`` is ``sqrt(x)``, ``x**-1`` is
    ``1/x``, ``x**-0.5`` is ``1/sqrt(x)`` and ``x**0`` is ones."""
    x, p = node.inputs
    out = node.outputs[0]
    value = scalar_value(p)
    if value is None or isinstance(x, Constant):
        return None
    if value == 0:
        new = fill_like(fgraph, 1, out)
        return [new] if new is not None else None
    if value == 1:
        new = x
    elif value == 2:
        new = E.sqr(x)
    elif value == 3 and x.type.is_float:
        new = E.mul(E.sqr(x), x)  # libm's pow does not vectorize: 50x slower (GELU's x**3)
    elif value == 0.5 and x.type.is_float:
        new = E.sqrt(x)
    elif value == -1 and x.type.is_float:
        new = E.reciprocal(x)
    elif value == -0.5 and x.type.is_float:
        new = E.reciprocal(E.sqrt(x))
    else:
        return None
    new = fit(fgraph, new, out)
    return [new] if new is not None else None


@register_node("canonicalize", "algebra", tracks=[Elemwise], scalar=["maximum", "minimum"])
def idempotent_minmax(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``maximum(x, x)`` and ``minimum(x, x)`` are ``x``; nested repeats collapse
    (``maximum(maximum(a, b), b)``), which keeps broadcast shape expressions short."""
    a, b = node.inputs
    out = node.outputs[0]
    if a is b:
        return [a] if a.type == out.type else None
    name = node.op.scalar_op.name
    for outer, other in ((a, b), (b, a)):
        inner = ew(outer, name)
        if inner is not None and other in inner.inputs and outer.type == out.type:
            return [outer]
    return None


def _unfilled(v: Variable) -> Variable | None:
    """The value an ``alloc`` broadcasts, seen through dimshuffles after it, in ``v``'s layout."""
    owner = v.owner
    if owner is None:
        return None
    if isinstance(owner.op, Alloc):
        value = owner.inputs[0]
        return value if value.dtype == v.dtype else None
    if isinstance(owner.op, DimShuffle):
        inner = _unfilled(owner.inputs[0])
        if inner is None:
            return None
        nd = owner.inputs[0].ndim
        if inner.ndim < nd:
            inner = dimshuffle(inner, ["x"] * (nd - inner.ndim) + list(range(inner.ndim)))
        try:
            return owner.op.make_node(inner).outputs[0]
        except Exception:  # a dropped axis that is not statically 1 in the value
            return None
    return None


@register_node("canonicalize", "algebra", tracks=[Elemwise])
def scalar_work_on_a_fill(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``alloc(v, *shape) * 2`` is ``alloc(v * 2, *shape)``: elementwise work of a fill with
    scalars is done on the filled value, once, and the fill stays outermost, where
    ``elemwise_of_alloc`` drops it into its reader (a mean's gradient: ``fill(1 / n) * 2 * diff``)."""
    fills = [k for k, v in enumerate(node.inputs) if v.owner is not None and isinstance(v.owner.op, Alloc)]
    if len(fills) != 1 or len(node.outputs) != 1:
        return None
    (k,) = fills
    filled = node.inputs[k]
    out = node.outputs[0]
    others = [v for j, v in enumerate(node.inputs) if j != k]
    if not others or any(v.ndim and any(d != 1 for d in v.type.shape) for v in others):
        return None
    value, *shape = filled.owner.inputs
    args = [value if j == k else v for j, v in enumerate(node.inputs)]
    inner = node.op.make_node(*args).outputs[0]
    if inner.dtype != out.dtype or inner.ndim > out.ndim or filled.ndim != out.ndim:
        return None
    new = Alloc()(inner, *shape)
    return [new] if new.type == out.type else None


@register_node("canonicalize", "algebra", tracks=[Elemwise])
def elemwise_of_alloc(fgraph: FunctionGraph, node: Apply) -> list | None:
    """An ``alloc`` (fill) feeding an elementwise op is dropped when broadcasting its value gives
    the same result shape (common in gradients: ``ones_like(x) * g``)."""
    from symdl.rewrite.shapes import combine_broadcast

    out = node.outputs[0]
    nd = out.ndim
    target = None
    for k, inp in enumerate(node.inputs):
        value = _unfilled(inp)
        if value is None:
            continue
        if target is None:
            target = dims(fgraph, out)
        new_inputs = list(node.inputs)
        new_inputs[k] = value
        ok = True
        for i in range(nd):
            keys = []
            for v in new_inputs:
                j = i - (nd - v.ndim)
                if j >= 0:
                    keys.append(dim_key(fgraph, v, j))
            if combine_broadcast(keys) != target[i]:
                ok = False
                break
        if ok:
            new = node.op.make_node(*new_inputs).outputs[0]
            if new.type.dtype == out.dtype and new.ndim == nd:
                return [new]
    return None


# ---------------------------------------------------------------- gradient helpers and reductions
@register_node("canonicalize", "grad_control", tracks=[_GradControl])
def remove_grad_control(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``disconnected_grad``/``zero_grad``/``grad_clip`` only act on gradients, which are built
    already: in the function they are the identity."""
    return [node.inputs[0]]


@register_node("canonicalize", "shape", tracks=[ReduceToShape])
def reduce_to_shape_known(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``ReduceToShape`` becomes nothing when the shapes are provably equal, or an explicit sum
    over the axes that provably broadcast (which fusion can then merge with its producer)."""
    from symdl.tensor.reduction import sum as tsum

    g, shp = node.inputs
    out = node.outputs[0]
    nd = out.ndim
    lead = g.ndim - nd
    if lead < 0:
        return None
    axes = list(range(lead))
    for i in range(nd):
        tk = shape_vector_key(fgraph, shp, i, 0)
        if tk is None and out.type.shape[i] is not None:
            tk = ("c", out.type.shape[i])
        if tk is None:
            return None
        gk = dim_key(fgraph, g, lead + i)
        if tk == gk:
            continue
        if tk == ONE:
            axes.append(lead + i)
        elif tk[0] != "c":
            return None
    new = g
    if axes:
        new = tsum(new, axis=tuple(axes), keepdims=True)
        if lead:
            new = dimshuffle(new, list(range(lead, g.ndim)))
    if new.dtype != out.dtype or new.ndim != nd:
        return None
    return [new]


@register_node("canonicalize", "reduction", tracks=[Reduce])
def reduce_nothing(fgraph: FunctionGraph, node: Apply) -> list | None:
    """A reduction over no axes is a cast."""
    if node.op.axis:
        return None
    x = node.inputs[0]
    out = node.outputs[0]
    return [E.cast(x, out.dtype)] if x.type.shape == out.type.shape else None


@register_node("canonicalize", "reduction", "dimshuffle", tracks=[Reduce])
def reduce_of_dimshuffle(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``sum(x.T, axis=0)`` is ``sum(x, axis=1)``: reduce the original axes, then reorder the
    (smaller) result."""
    op = node.op
    ds_out = node.inputs[0]
    ds = ds_out.owner
    if ds is None or not isinstance(ds.op, DimShuffle) or len(fgraph.clients.get(ds_out, ())) != 1:
        return None
    order = ds.op.new_order
    x = ds.inputs[0]
    x_axes = tuple(sorted(order[a] for a in op.axis if order[a] != "x"))
    reduced = Reduce(op.kind, x_axes, False, op.dtype)(x)
    remaining = [k for k in range(x.ndim) if k not in x_axes]
    pos = {k: j for j, k in enumerate(remaining)}
    pattern: list = []
    for i, entry in enumerate(order):
        if i in op.axis:
            if op.keepdims:
                pattern.append("x")
        else:
            pattern.append("x" if entry == "x" else pos[entry])
    new = dimshuffle(reduced, pattern)
    out = node.outputs[0]
    if new.dtype != out.dtype or new.ndim != out.ndim:
        return None
    return [new]


# ---------------------------------------------------------------- shape-op chains
@register_node("canonicalize", "dimshuffle", tracks=[DimShuffle])
def dimshuffle_chain(fgraph: FunctionGraph, node: Apply) -> list | None:
    """Two dimshuffles (transposes, expand/squeeze) in a row become one; an identity one vanishes."""
    outer = node.op
    x = node.inputs[0]
    if outer.new_order == tuple(range(outer.input_ndim)):
        return [x]
    inner_node = x.owner
    if inner_node is None or not isinstance(inner_node.op, DimShuffle):
        return None
    inner = inner_node.op
    composed = ["x" if o == "x" else inner.new_order[o] for o in outer.new_order]
    return [dimshuffle(inner_node.inputs[0], composed)]


@register_node("canonicalize", "dimshuffle", "lift", tracks=[DimShuffle])
def dimshuffle_of_elemwise(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``exp(x).T`` becomes ``exp(x.T)``: moving dimshuffles to the inputs lets them collapse and
    lets fusion see one elementwise chain."""
    src = node.inputs[0]
    inner = src.owner
    if inner is None or not isinstance(inner.op, Elemwise) or not used_once(fgraph, src):
        return None
    if all(isinstance(i, Constant) for i in inner.inputs):
        return None
    nd = src.ndim
    order = node.op.new_order
    new_inputs = []
    for inp in inner.inputs:
        if inp.ndim < nd:
            inp = dimshuffle(inp, ["x"] * (nd - inp.ndim) + list(range(inp.ndim)))
        new_inputs.append(dimshuffle(inp, order))
    new = inner.op.make_node(*new_inputs).outputs[0]
    out = node.outputs[0]
    return [new] if new.type.dtype == out.dtype and new.ndim == out.ndim else None


@register_node("canonicalize", "reshape", tracks=[Reshape])
def reshape_chain(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``reshape(reshape(x, a), b)`` is ``reshape(x, b)``; a reshape to ``x``'s own shape vanishes."""
    x, shp = node.inputs
    out = node.outputs[0]
    if x.ndim == out.ndim and x.dtype == out.dtype:
        keys = [shape_vector_key(fgraph, shp, i, 0) for i in range(out.ndim)]
        if keys == list(dims(fgraph, x)):
            return [x]
    inner = x.owner
    if inner is not None and isinstance(inner.op, Reshape):
        return [node.op.make_node(inner.inputs[0], shp).outputs[0]]
    return None


@register_node("canonicalize", "dot", tracks=[Dot])
def dot_of_transposes(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``dot(a.T, b.T)`` is ``dot(b, a).T`` (one transpose instead of two)."""
    a, b = node.inputs
    if a.ndim != 2 or b.ndim != 2:
        return None
    ta, tb = a.owner, b.owner
    if ta is None or tb is None or not isinstance(ta.op, DimShuffle) or not isinstance(tb.op, DimShuffle):
        return None
    if ta.op.new_order != (1, 0) or tb.op.new_order != (1, 0):
        return None
    return [dimshuffle(node.op.make_node(tb.inputs[0], ta.inputs[0]).outputs[0], (1, 0))]


@register_node("canonicalize", "algebra", tracks=[Elemwise], scalar=["mul"])
def mul_self_to_sqr(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``x * x`` is ``sqr(x)``."""
    a, b = node.inputs
    if a is not b or a.type != node.outputs[0].type:
        return None
    return [E.sqr(a)]


@register_node("canonicalize", "reshape", tracks=[Reshape])
def reshape_to_dimshuffle(fgraph: FunctionGraph, node: Apply) -> list | None:
    """A reshape that only drops or inserts size-1 axes is a dimshuffle (a view, and a pattern
    the other rewrites understand)."""
    x = node.inputs[0]
    out = node.outputs[0]
    xs, os = x.type.shape, out.type.shape
    if None in os or [d for d in xs if d != 1] != [d for d in os if d != 1]:
        return None
    if any(d is None for d in xs):
        return None
    kept = [i for i, d in enumerate(xs) if d != 1]
    pattern: list = []
    k = 0
    for d in os:
        if d == 1:
            pattern.append("x")
        else:
            pattern.append(kept[k])
            k += 1
    return [dimshuffle(x, pattern)]


@register_node("canonicalize", "reduction", "dimshuffle", tracks=[DimShuffle])
def drop_kept_dims(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``sum(x, axis, keepdims=True)`` followed by a dimshuffle dropping exactly those axes is
    ``sum(x, axis)``."""
    src = node.inputs[0]
    red = src.owner
    if red is None or not isinstance(red.op, Reduce) or not red.op.keepdims:
        return None
    order = node.op.new_order
    kept = [i for i in range(src.ndim) if i not in red.op.axis]
    if list(order) != kept:
        return None
    return [Reduce(red.op.kind, red.op.axis, False, red.op.dtype)(red.inputs[0])]


# ---------------------------------------------------------------- inner graphs
register_node("canonicalize", "inline", tracks=[OpFromGraph])(inline_op_from_graph)


# ---------------------------------------------------------------- shape checks of gradients
def _shapes_provably_fit(fgraph: FunctionGraph, forward: object, inputs: list[Variable]) -> bool:
    """Whether shape inference proves that ``forward``'s inputs fit: elementwise operands whose
    sizes on each axis are one size or 1, or a dot's inner sizes equal."""
    if type(forward) is Elemwise:
        ndim = max(v.ndim for v in inputs)
        for axis in range(ndim):
            keys = {dim_key(fgraph, v, axis - ndim + v.ndim) for v in inputs if axis - ndim + v.ndim >= 0}
            if len(keys - {ONE}) > 1:
                return False
        return True
    if type(forward) is Dot:
        a, b = inputs
        return dim_key(fgraph, a, a.ndim - 1) == dim_key(fgraph, b, 0)
    return False


def _shape_check_tracks() -> list[type]:
    from symdl.tensor.checks import ShapeCheck

    return [ShapeCheck]


@register_node("canonicalize", "shape_check", tracks=_shape_check_tracks())
def drop_proven_shape_check(fgraph: FunctionGraph, node: Apply) -> list | None:
    """A gradient's ``ShapeCheck`` whose forward inputs provably fit (shape inference, or static
    shapes) is its first input."""
    from symdl.errors import ShapeError

    g, *inputs = node.inputs
    forward = node.op.forward
    if _shapes_provably_fit(fgraph, forward, inputs):
        return [g]
    if all(d is not None for v in inputs for d in v.type.shape):
        try:
            forward.make_node(*inputs)
        except ShapeError:
            return None  # it raises when the function runs
        return [g]
    return None


def drop_shape_checks_of_computed_forwards(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """Remove a gradient's ``ShapeCheck`` whose forward node the graph computes for its value
    (which raises first). Run before any other rewrite (``rewrite_graph`` calls it after the
    first merge), so that the checks never stand in the way of a simplification; a forward
    whose shape alone is read does not count, since canonicalize computes shapes from the
    inputs instead (``alloc(1, shape(dot(x, y)))`` becomes ``alloc(1, x.shape[0],
    y.shape[1])``), leaving the forward out."""
    from symdl.tensor.checks import ShapeCheck
    from symdl.tensor.shape import Shape

    checks = [n for n in fgraph.apply_nodes if isinstance(n.op, ShapeCheck)]
    if not checks:
        return 0
    # the nodes whose outputs' values (not only shapes) the outputs need
    valued: set[Apply] = set()
    stack = [v.owner for v in fgraph.outputs if v.owner is not None]
    while stack:
        node = stack.pop()
        if node in valued:
            continue
        valued.add(node)
        if isinstance(node.op, Shape):
            continue
        reads = node.inputs[:1] if isinstance(node.op, ShapeCheck) else node.inputs
        stack.extend(v.owner for v in reads if v.owner is not None and v.owner not in valued)
    dropped = 0
    for node in checks:
        g, *inputs = node.inputs
        computed = any(
            client != "output" and client in valued and client.op == node.op.forward and list(client.inputs) == inputs
            for client, _ in fgraph.clients.get(inputs[0], ())
        )
        if computed and apply_replacements(fgraph, [(node.outputs[0], g)]) is not None:
            dropped += 1
            ctx.record("drop_shape_checks_of_computed_forwards")
    return dropped
