"""The order a graph's nodes run in, and which updates of shared variables are written in place.

A training step reads each parameter and velocity, then replaces it. Writing the new value into
the variable's own array spares a fresh array (and, for a momentum ``gemm``, the copy of the old
velocity into it): a few megabytes of memory traffic per step of a small MLP.

An update ``U`` of shared variable ``S`` (``fgraph.update_mapping``) is written in place when:

- ``U`` is computed by a node that reads its inputs at the position it writes (``Elemwise``,
  ``Composite``) or reads ``C`` before accumulating into it (``Gemm``/``Gemv``, with ``S`` not its
  ``A`` or ``B``), and ``U`` is no other output of the function;
- ``S`` is not itself an output, and every other node reading ``S`` (or a view of ``S``: a
  transpose, a reshape, an index) can run before ``U``'s node; the schedule is reordered to make
  it so, and an update whose readers depend on its node is left out.

This is the static half. At run time the runtime grants the buffer only if no other live value
overlaps it (``api_claim``: a view still to be returned, a caller's array or another shared
variable on the same memory), so a view that this analysis does not know of makes the update
take a new buffer, never a wrong value.
"""

from __future__ import annotations

import heapq

from symdl.graph.basic import Apply, Variable
from symdl.graph.fg import FunctionGraph


def _fresh_output_ops() -> tuple[type, ...]:
    """Ops whose outputs never share memory with their inputs (everything else may be a view)."""
    from symdl.rewrite.blas_ops import Gemm
    from symdl.tensor.blas import Dot, MatMul
    from symdl.tensor.composite import Composite, CompositeReduce
    from symdl.tensor.creation import Alloc, ARange
    from symdl.tensor.elemwise import Elemwise
    from symdl.tensor.reduction import ArgReduce, Reduce
    from symdl.tensor.shape import Join, Shape

    return (Elemwise, Composite, CompositeReduce, Reduce, ArgReduce, Dot, MatMul, Gemm, Alloc, ARange, Join, Shape)


def _writes_in_place_safely(node: Apply, shared: Variable) -> bool:
    from symdl.rewrite.blas_ops import Gemm
    from symdl.tensor.composite import Composite
    from symdl.tensor.elemwise import Elemwise

    if isinstance(node.op, Elemwise | Composite):
        return True  # an input of the output's shape is read at the position written
    if isinstance(node.op, Gemm):
        return shared not in node.inputs[2:4]  # the product's operands must stay intact
    return False


def _views_of(fgraph: FunctionGraph, var: Variable, fresh: tuple[type, ...]) -> set[Variable]:
    """``var`` and every variable that may share its memory."""
    found, stack = {var}, [var]
    while stack:
        for node, _ in fgraph.clients.get(stack.pop(), ()):
            if node == "output" or isinstance(node.op, fresh):
                continue
            for out in node.outputs:
                if out not in found:
                    found.add(out)
                    stack.append(out)
    return found


def _successors(fgraph: FunctionGraph, node: Apply) -> list[Apply]:
    return [n for out in node.outputs for n, _ in fgraph.clients.get(out, ()) if n != "output"]


def _reaches(fgraph: FunctionGraph, start: Apply, extra: dict[Apply, list[Apply]], targets: set[Apply]) -> bool:
    """Whether a path of data or ``extra`` edges leads from ``start`` to one of ``targets``."""
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        for nxt in _successors(fgraph, node) + extra.get(node, []):
            if nxt in targets:
                return True
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def plan(fgraph: FunctionGraph) -> tuple[list[Apply], dict[Apply, tuple[Variable, Variable]]]:
    """``(order, in_place)``: a schedule of ``fgraph``'s nodes and, for each node that may write
    an update into its shared variable's array, ``(shared variable, update)``."""
    order = fgraph.toposort()
    mapping = getattr(fgraph, "update_mapping", None)
    if not mapping:
        return order, {}
    fresh = _fresh_output_ops()
    after: dict[Apply, list[Apply]] = {}  # reader -> the in-place nodes that must wait for it
    in_place: dict[Apply, tuple[Variable, Variable]] = {}
    for out_index, in_index in sorted(mapping.items()):
        shared, update = fgraph.inputs[in_index], fgraph.outputs[out_index]
        node = update.owner
        if node is None or node in in_place or fgraph.outputs.count(update) != 1:
            continue
        if not _writes_in_place_safely(node, shared):
            continue
        views = _views_of(fgraph, shared, fresh)
        if any(client == "output" for v in views for client, _ in fgraph.clients.get(v, ())):
            continue  # the old value (or a view of it) is returned
        if any(v in views and v is not shared for v in node.inputs):
            continue  # the node itself reads a view of what it overwrites
        readers = {n for v in views for n, _ in fgraph.clients.get(v, ())} - {node}
        if readers and _reaches(fgraph, node, after, readers):
            continue  # a reader needs this node's result: it cannot run first
        for reader in readers:
            after.setdefault(reader, []).append(node)
        in_place[node] = (shared, update)
    if not after:
        return order, in_place
    return _constrained_order(fgraph, order, after), in_place


def _constrained_order(fgraph: FunctionGraph, order: list[Apply], after: dict[Apply, list[Apply]]) -> list[Apply]:
    """``order`` changed only as far as the extra edges ``after`` require (Kahn's algorithm,
    taking the earliest ready node of the original order first)."""
    position = {node: k for k, node in enumerate(order)}
    waiting = dict.fromkeys(order, 0)
    edges: dict[Apply, list[Apply]] = {}
    for node in order:
        succ = [n for n in _successors(fgraph, node) if n in position] + after.get(node, [])
        edges[node] = succ
        for n in succ:
            waiting[n] += 1
    ready = [(position[n], n) for n in order if waiting[n] == 0]
    heapq.heapify(ready)
    result = []
    while ready:
        _, node = heapq.heappop(ready)
        result.append(node)
        for n in edges[node]:
            waiting[n] -= 1
            if waiting[n] == 0:
                heapq.heappush(ready, (position[n], n))
    assert len(result) == len(order), "the in-place constraints made a cycle"
    return result
