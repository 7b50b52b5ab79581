"""The execution plan of a rewritten function graph: what every backend runs.

One planner decides, for the ``py``, ``c`` and ``cuda`` backends alike:

- ``order``: the schedule of the graph's nodes;
- ``frees``: after each step, the values that no later step reads (their buffers can go back to
  a pool); inputs, constants and outputs are never freed;
- ``in_place``: which updates of shared variables are written into the variable's own array;
- ``n_inputs`` / ``n_results`` and ``updates``: which graph inputs are the caller's (the rest are
  shared variables) and which graph outputs are results (the rest are new values of shared
  variables, ``updates`` mapping an output position to its variable's input position);
- ``device``: where the values live (``'cpu'`` or ``'cuda'``).

Facts about ops come from the ops themselves: ``view_map`` (outputs that may share memory with
inputs; ``None``, the default, means "may view any input"), ``inplace_pattern`` (inputs whose
buffer an output may be written into), ``destroy_map`` and ``schedule``: ``'early'`` for a node
that should run as soon as its inputs exist (starting a non-blocking transfer), ``'late'`` for one
that should wait until nothing else can run (waiting for that transfer); other nodes keep the
graph's order.

An update ``U`` of shared variable ``S`` is written in place when ``U``'s node may write its
output into ``S`` (``inplace_pattern``), ``U`` is no other output, ``S`` (or a view of it) is
not returned, and every other node reading ``S`` or a view of ``S`` can run before ``U``'s node:
the order is changed as little as that requires (an update whose readers depend on its node
stays out of place). A training step then writes new weights and velocities where the old ones
were (a momentum ``gemm`` accumulates into the velocity without copying it first). Backends may
still decline a claim at run time (the C runtime does when another live value overlaps the
array).

>>> import numpy as np, symdl, symdl.tensor as T
>>> x = T.vector('x')
>>> w = symdl.shared(np.zeros(3, 'float32'), name='w')
>>> f = symdl.function([x], (x * 2).sum(), updates=[(w, w + x)])
>>> plan = f.plan
>>> plan.n_inputs, plan.n_results, plan.updates
(1, 1, {1: 1})
>>> [shared.name for shared, _ in plan.in_place.values()]
['w']
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.fg import FunctionGraph


@dataclass
class Plan:
    """How a backend runs ``fgraph`` (see the module docstring)."""

    fgraph: FunctionGraph
    order: list[Apply]
    frees: list[list[Variable]]
    in_place: dict[Apply, tuple[Variable, Variable]]
    n_inputs: int
    n_results: int
    updates: dict[int, int] = field(default_factory=dict)
    device: str = "cpu"

    @property
    def constants(self) -> list[Constant]:
        """The graph's constants, each once, in order of first use."""
        found: dict[Constant, None] = {}
        for node in self.order:
            found.update((v, None) for v in node.inputs if isinstance(v, Constant))
        found.update((v, None) for v in self.fgraph.outputs if isinstance(v, Constant))
        return list(found)


def make_plan(
    fgraph: FunctionGraph, n_inputs: int | None = None, n_results: int | None = None, device: str = "cpu"
) -> Plan:
    """The plan of ``fgraph``: its first ``n_inputs`` inputs are the caller's (default: all), its
    first ``n_results`` outputs are results (default: all); ``fgraph.update_mapping`` names the
    outputs that update shared variables."""
    n_inputs = len(fgraph.inputs) if n_inputs is None else n_inputs
    n_results = len(fgraph.outputs) if n_results is None else n_results
    updates = dict(getattr(fgraph, "update_mapping", None) or {})
    order, in_place = _order_with_updates_in_place(fgraph, updates)
    return Plan(fgraph, order, _frees(fgraph, order), in_place, n_inputs, n_results, updates, device)


def _frees(fgraph: FunctionGraph, order: list[Apply]) -> list[list[Variable]]:
    """For each step, the values it reads last or makes for no one, except those kept throughout."""
    keep = set(fgraph.inputs) | set(fgraph.outputs)
    last_use: dict[Variable, int] = {}
    for k, node in enumerate(order):
        for v in node.inputs:
            last_use[v] = k
    frees = []
    for k, node in enumerate(order):
        dead = {v for v in node.inputs if last_use[v] == k and v not in keep and not isinstance(v, Constant)}
        dead.update(v for v in node.outputs if v not in last_use and v not in keep)
        # a stable order (by position among the node's inputs, then outputs) keeps generated code reproducible
        ordered = [v for v in dict.fromkeys(node.inputs + node.outputs) if v in dead]
        frees.append(ordered)
    return frees


def may_view(node: Apply, i: int) -> bool:
    """Whether an output of ``node`` may share memory with its ``i``-th input."""
    view_map = node.op.view_map
    if view_map is None:
        return True
    return any(i in inputs for inputs in view_map.values())


def views_of(fgraph: FunctionGraph, var: Variable) -> set[Variable]:
    """``var`` and every variable of ``fgraph`` that may share its memory."""
    found, stack = {var}, [var]
    while stack:
        for node, i in fgraph.clients.get(stack.pop(), ()):
            if node == "output" or not may_view(node, i):
                continue
            for out in node.outputs:
                if out not in found:
                    found.add(out)
                    stack.append(out)
    return found


def may_overwrite(node: Apply, var: Variable) -> bool:
    """Whether ``node``'s (single) output may be written into the buffer of its input ``var``."""
    positions = [i for i, v in enumerate(node.inputs) if v is var]
    allowed = node.op.inplace_pattern.get(0, ())
    out = node.outputs[0]
    return (
        len(node.outputs) == 1
        and bool(positions)
        and all(i in allowed for i in positions)
        and var.type.dtype == out.type.dtype
        and var.type.ndim == out.type.ndim
    )


def _order_with_updates_in_place(
    fgraph: FunctionGraph, updates: dict[int, int]
) -> tuple[list[Apply], dict[Apply, tuple[Variable, Variable]]]:
    order = fgraph.toposort()
    after: dict[Apply, list[Apply]] = {}  # reader -> the in-place nodes that must wait for it
    in_place: dict[Apply, tuple[Variable, Variable]] = {}
    for out_index, in_index in sorted(updates.items() if updates else ()):
        shared, update = fgraph.inputs[in_index], fgraph.outputs[out_index]
        node = update.owner
        if node is None or node in in_place or fgraph.outputs.count(update) != 1:
            continue
        if not may_overwrite(node, shared):
            continue
        views = views_of(fgraph, shared)
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
    if not after and not any(node.op.schedule for node in order):
        return order, in_place
    return _constrained_order(fgraph, order, after), in_place


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


_RANK = {"early": 0, None: 1, "late": 2}


def _constrained_order(fgraph: FunctionGraph, order: list[Apply], after: dict[Apply, list[Apply]]) -> list[Apply]:
    """``order`` changed only as far as the extra edges ``after`` and the ops' ``schedule`` require
    (Kahn's algorithm, taking among the ready nodes the 'early' ones first, then the earliest of
    the original order, and a 'late' one only when no other is ready)."""
    position = {node: (_RANK[node.op.schedule], k) for k, node in enumerate(order)}
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
    if len(result) != len(order):
        raise RuntimeError("the in-place constraints of the plan made a cycle")
    return result
