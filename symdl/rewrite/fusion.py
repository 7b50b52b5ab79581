"""Fusion: maximal trees of elementwise ops become one ``Composite`` node, and a reduction of an
elementwise result becomes one ``CompositeReduce`` node (``sum(exp(x - m))`` is one loop).

A group grows from an elementwise node towards its inputs, taking in a producer when every use
of the producer's result is inside the group. Such a group has one output and never creates a
cycle, and nothing is computed twice; results used elsewhere (a forward activation the backward
pass reads again) stay group boundaries. Broadcasting inside a group is fine: the program is
evaluated with NumPy broadcasting, and a backend loops over the output and indexes each input
with its own strides. A group takes at most ``MAX_INPUTS`` distinct inputs so generated
kernels keep a sane argument count.

Inside a loop's body, where every node runs once per step, ``sibling_fusion`` goes further:
fused nodes whose outputs provably have the same shape become one node with several outputs
(an LSTM step's gates, its cell and its output are one loop over the batch), when that creates
no cycle. The function's own graph does not get it: there, results kept for the backward pass
are large, and one pass writing many of them gains little.
"""

from __future__ import annotations

from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.fg import FunctionGraph
from symdl.rewrite.engine import RewriteContext, apply_replacements, register_node, register_pass
from symdl.rewrite.patterns import used_once
from symdl.tensor.composite import Composite, CompositeReduce
from symdl.tensor.elemwise import Elemwise
from symdl.tensor.reduction import Reduce
from symdl.tensor.shape import DimShuffle, dimshuffle
from symdl.tensor.var import constant

MAX_INPUTS = 32


def _fusable(node: Apply) -> bool:
    op = node.op
    if len(node.outputs) != 1:
        return False
    if isinstance(op, Elemwise):
        return not node.outputs[0].dtype.startswith("complex")
    return isinstance(op, Composite) and len(op.outputs) == 1


def _program_of(members: list[Apply], root: Apply) -> tuple[list[Variable], tuple, int]:
    """The Composite program computing ``root`` from the group ``members`` (in topological order)."""
    inputs, steps, index = _program_values(members)
    return inputs, steps, index[root.outputs[0]]


def _program_values(members: list[Apply]) -> tuple[list[Variable], tuple, dict[Variable, int]]:
    """The Composite program of the group ``members`` (in topological order), its inputs, and
    the program value of each member's output."""
    inputs: list[Variable] = []
    index: dict[Variable, int] = {}
    produced = {out for m in members for out in m.outputs}

    for m in members:
        for v in m.inputs:
            if v not in produced and v not in index:
                index[v] = len(inputs)
                inputs.append(v)
    nin = len(inputs)
    steps: list = []

    for m in members:
        args = [index[v] for v in m.inputs]
        if isinstance(m.op, Elemwise):
            steps.append((m.op.scalar_op, tuple(args)))
            index[m.outputs[0]] = nin + len(steps) - 1
        else:
            base = len(steps)
            m_nin = len(args)

            def remap(a: int, base: int = base, m_nin: int = m_nin, args: list = args) -> int:
                return args[a] if a < m_nin else nin + base + (a - m_nin)

            for sop, sargs in m.op.program:
                steps.append((sop, tuple(remap(a) for a in sargs)))
            for out, value in zip(m.outputs, m.op.outputs):
                index[out] = remap(value)
    return inputs, tuple(steps), index


def _grow(fgraph: FunctionGraph, root: Apply, assigned: set[Apply], max_inputs: int, outputs: set) -> list[Apply]:
    """The group of nodes fused with ``root`` (see the module docstring)."""
    group = {root}
    inputs = set(root.inputs)
    clients = fgraph.clients
    changed = True
    while changed:
        changed = False
        for v in list(inputs):
            p = v.owner
            if p is None or p in group or p in assigned or not _fusable(p) or v in outputs:
                continue
            if not all(c != "output" and c in group for c, _ in clients.get(v, ())):
                continue
            new_inputs = (inputs - {v}) | {i for i in p.inputs if i.owner not in group}
            if len(new_inputs) > max_inputs:
                continue
            group.add(p)
            inputs = new_inputs
            changed = True
    return list(group)


def _leading_axes_added(v: Variable) -> int:
    """How many leading broadcast axes a dimshuffle making ``v`` adds to its input, and nothing
    else (``x[None]``); 0 for anything else."""
    node = v.owner
    if node is None or not isinstance(node.op, DimShuffle):
        return 0
    order = node.op.new_order
    k = len(order) - node.inputs[0].ndim
    return k if k > 0 and order == ("x",) * k + tuple(range(node.inputs[0].ndim)) else 0


def _leading_ones(v: Variable) -> int:
    """How many of ``v``'s leading axes are statically of size 1 (a constant made 3-d)."""
    k = 0
    while k < v.ndim and v.type.shape[k] == 1:
        k += 1
    return k


@register_node("fusion", "elemwise_fusion", tracks=[Elemwise])
def elementwise_before_leading_axes(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``x[None] * y[None]`` is ``(x * y)[None]``: the added axes go after the elementwise work, so
    that fusion takes it into the groups making ``x`` and ``y`` (a loop's step adds the step axis
    to the values it carries; canonicalize moves dimshuffles the other way, to the inputs)."""
    out = node.outputs[0]
    full = [v for v in node.inputs if v.ndim == out.ndim]
    added = [_leading_axes_added(v) for v in full]
    if len(node.outputs) != 1 or not any(added):
        return None
    k = min(a or _leading_ones(v) for a, v in zip(added, full))
    if k == 0 or k == out.ndim or any(v.ndim > out.ndim - k for v in node.inputs if v not in full):
        return None  # (scalar work broadcast stays in the kernel that reads it)
    inner = []
    for v in node.inputs:
        if v in full and _leading_axes_added(v) >= k:
            inner.append(v.owner.inputs[0])  # broadcasting gives back any further leading axes
        elif isinstance(v, Constant):
            inner.append(constant(v.data.reshape(v.data.shape[k:]), dtype=v.dtype))
        elif v in full:
            inner.append(dimshuffle(v, tuple(range(k, v.ndim))))
        else:
            inner.append(v)
    new = node.op.make_node(*inner).outputs[0]
    if new.dtype != out.dtype or new.ndim != out.ndim - k:
        return None
    return [dimshuffle(new, ("x",) * k + tuple(range(new.ndim)))]


@register_pass("fusion", "elemwise_fusion")
def elemwise_fusion(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """Replace each maximal elementwise group by one Composite node."""
    order = fgraph.toposort()
    position = {n: k for k, n in enumerate(order)}
    assigned: set[Apply] = set()
    outputs = set(fgraph.outputs)
    fused = 0
    for root in reversed(order):
        if root in assigned or not _fusable(root):
            continue
        group = _grow(fgraph, root, assigned, MAX_INPUTS, outputs)
        assigned.update(group)
        if len(group) == 1 and isinstance(root.op, Composite):
            continue
        members = sorted(group, key=position.__getitem__)
        try:
            inputs, program, out_index = _program_of(members, root)
            new = Composite(program, (out_index,)).make_node(*inputs).outputs[0]
            apply_replacements(fgraph, [(root.outputs[0], new)])
        except Exception as exc:  # leave the group unfused; reported once
            ctx.fail("elemwise_fusion", exc)
            continue
        fused += 1
        ctx.record("elemwise_fusion")
    return fused


@register_pass("fusion", "reduction_fusion")
def reduction_fusion(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """``sum``/``prod``/``max``/``min`` of an elementwise result used only there become one
    CompositeReduce node."""
    fused = 0
    for node in fgraph.toposort():
        op = node.op
        if not isinstance(op, Reduce) or op.kind not in ("sum", "prod", "max", "min") or not op.axis:
            continue
        v = node.inputs[0]
        producer = v.owner
        if producer is None or not _fusable(producer) or not used_once(fgraph, v):
            continue
        try:
            if isinstance(producer.op, Composite):
                comp, inputs = producer.op, producer.inputs
            else:
                inputs, program, out_index = _program_of([producer], producer)
                comp = Composite(program, (out_index,))
            if max(i.ndim for i in inputs) != v.ndim:
                continue
            new = CompositeReduce(comp, op.kind, op.axis, op.keepdims, op.dtype).make_node(*inputs).outputs[0]
            apply_replacements(fgraph, [(node.outputs[0], new)])
        except Exception as exc:
            ctx.fail("reduction_fusion", exc)
            continue
        fused += 1
        ctx.record("reduction_fusion")
    return fused


def _sibling_candidate(node: Apply) -> bool:
    return isinstance(node.op, Composite) and not any(o.dtype.startswith("complex") for o in node.outputs)


@register_pass("fusion", "sibling_fusion", default=False)
def sibling_fusion(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """Fused nodes of one output shape become one node with several outputs (see the module
    docstring); run on loop bodies, where ``InnerGraphOp`` asks for it."""
    from symdl.rewrite.shapes import dims

    order = fgraph.toposort()
    # the candidates each node depends on, to refuse a merge that would make a cycle
    below: dict[Apply, set[Apply]] = {}
    groups: list[tuple[tuple, list[Apply], set[Variable]]] = []  # (shape keys, members, inputs)
    for node in order:
        deps: set[Apply] = set()
        for v in node.inputs:
            if v.owner is not None:
                deps |= below[v.owner]
                if _sibling_candidate(v.owner):
                    deps.add(v.owner)
        below[node] = deps
        if not _sibling_candidate(node):
            continue
        keys = dims(fgraph, node.outputs[0])
        if any(dims(fgraph, o) != keys for o in node.outputs[1:]):
            continue
        for group_keys, members, inputs in groups:
            if group_keys != keys:
                continue
            inside = {o for m in members for o in m.outputs}
            outside = [v for v in node.inputs if v not in inside]
            if any(v.owner is not None and below[v.owner] & set(members) for v in outside):
                continue  # the node reads, through other nodes, what the group computes
            if len(inputs | set(outside)) > MAX_INPUTS:
                continue
            members.append(node)
            inputs |= set(outside)
            break
        else:
            groups.append((keys, [node], set(node.inputs)))
    fused = 0
    for _, members, _ in groups:
        if len(members) < 2:
            continue
        group = set(members)
        wanted = [
            o
            for m in members
            for o in m.outputs
            if any(c == "output" or c not in group for c, _ in fgraph.clients.get(o, ()))
        ]
        try:
            inputs, program, index = _program_values(members)
            new_node = Composite(program, tuple(index[o] for o in wanted)).make_node(*inputs)
            apply_replacements(fgraph, list(zip(wanted, new_node.outputs)))
        except Exception as exc:  # leave the group as it was; reported once
            ctx.fail("sibling_fusion", exc)
            continue
        fused += 1
        ctx.record("sibling_fusion")
    return fused
