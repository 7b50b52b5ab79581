"""Inplace: mark elementwise nodes that may write their result into an input's buffer.

The mark is ``node.tag['inplace'] = {output_index: input_index}``; backends that can reuse the
buffer read it (the ``py`` backend ignores it). An input ``v`` of node ``n`` is marked only when:

- ``n`` is ``Elemwise`` or ``Composite`` with one output, and ``v`` has the output's dtype and
  provably its shape (so broadcasting never writes past ``v``'s buffer);
- ``v`` is used by ``n`` alone (so it is dead once ``n`` ran) and is not a function output;
- ``v`` is computed by an op that returns a fresh buffer (elementwise, composite, reduction,
  dot, gemm, alloc, concatenate): never a function input, a constant, a shared variable's
  storage, or a view (dimshuffle, reshape, indexing) of something that may still be alive.
"""

from __future__ import annotations

from symdl.graph.basic import Apply, Constant
from symdl.graph.fg import FunctionGraph
from symdl.rewrite.engine import RewriteContext, register_pass
from symdl.rewrite.shapes import same_shape


def _fresh_output_ops() -> tuple[type, ...]:
    from symdl.rewrite.blas_ops import Gemm
    from symdl.tensor.blas import Dot, MatMul
    from symdl.tensor.composite import Composite, CompositeReduce
    from symdl.tensor.creation import Alloc
    from symdl.tensor.elemwise import Elemwise
    from symdl.tensor.reduction import Reduce
    from symdl.tensor.shape import Join

    return (Elemwise, Composite, CompositeReduce, Reduce, Dot, MatMul, Gemm, Alloc, Join)


def destroyable_input(fgraph: FunctionGraph, node: Apply, fresh: tuple[type, ...]) -> int | None:
    """The index of an input of ``node`` whose buffer may hold ``node``'s output, if any."""
    out = node.outputs[0]
    for i, v in enumerate(node.inputs):
        if isinstance(v, Constant) or v.owner is None or not isinstance(v.owner.op, fresh):
            continue
        if v.dtype != out.dtype or v.type.ndim != out.ndim:
            continue
        uses = fgraph.clients.get(v, ())
        if len(uses) != 1 or uses[0][0] is not node or node.inputs.count(v) != 1:
            continue
        if not same_shape(fgraph, v, out):
            continue
        return i
    return None


@register_pass("inplace", "inplace_elemwise")
def inplace_elemwise(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """Mark elementwise and composite nodes that can overwrite a dead input (see the module docstring)."""
    from symdl.tensor.composite import Composite
    from symdl.tensor.elemwise import Elemwise

    fresh = _fresh_output_ops()
    marked = 0
    for node in fgraph.toposort():
        if not isinstance(node.op, Elemwise | Composite) or len(node.outputs) != 1:
            continue
        i = destroyable_input(fgraph, node, fresh)
        if i is None:
            node.tag.pop("inplace", None)
            continue
        node.tag["inplace"] = {0: i}
        marked += 1
        ctx.record("inplace_elemwise")
    return marked
