"""Fusion: maximal trees of elementwise ops become one ``Composite`` node, and a reduction of an
elementwise result becomes one ``CompositeReduce`` node (``sum(exp(x - m))`` is one loop).

A group grows from an elementwise node towards its inputs, taking in a producer when every use
of the producer's result is inside the group. Such a group has one output and never creates a
cycle, and nothing is computed twice; results used elsewhere (a forward activation the backward
pass reads again) stay group boundaries. Broadcasting inside a group is fine: the program is
evaluated with NumPy broadcasting, and a backend loops over the output and indexes each input
with its own strides. A group takes at most ``MAX_INPUTS`` distinct inputs so generated
kernels keep a sane argument count.
"""

from __future__ import annotations

from symdl.graph.basic import Apply, Variable
from symdl.graph.fg import FunctionGraph
from symdl.rewrite.engine import RewriteContext, apply_replacements, register_pass
from symdl.rewrite.patterns import used_once
from symdl.tensor.composite import Composite, CompositeReduce
from symdl.tensor.elemwise import Elemwise
from symdl.tensor.reduction import Reduce

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
            index[m.outputs[0]] = remap(m.op.outputs[0])
    return inputs, tuple(steps), index[root.outputs[0]]


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
