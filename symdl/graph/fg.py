"""FunctionGraph: a graph with fixed inputs and outputs, client lists, and in-place replacement.

Rewrites change a function's graph only through ``replace``; everything else reads it.

>>> import symdl.tensor as T
>>> from symdl.graph import FunctionGraph
>>> x = T.vector('x')
>>> fg = FunctionGraph([x], [T.exp(x) + 1])
>>> [str(n.op) for n in fg.toposort()]
['exp', 'add']
"""

from __future__ import annotations

from collections.abc import Sequence

from symdl.errors import MissingInputError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Variable, graph_inputs, toposort
from symdl.utils import describe


class FunctionGraph:
    """The graph of a function: ``inputs``, ``outputs``, ``apply_nodes`` and ``clients``.

    ``clients[v]`` lists ``(node, i)`` pairs where ``node.inputs[i] is v``; an output position
    is recorded as ``("output", i)``. ``update_mapping`` maps the position of an output that is a
    shared variable's new value to the position of that variable among the inputs (set by
    ``symdl.function``; a backend may then write the value into the variable's own array).
    """

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable], clone: bool = False):
        if clone:
            inputs, outputs = clone_graph(inputs, outputs)
        self.inputs = list(inputs)
        self._input_set = set(self.inputs)  # membership in O(1) (pruning asks it per variable)
        self.outputs = list(outputs)
        self.apply_nodes: set[Apply] = set()
        self.variables: set[Variable] = set()
        self.clients: dict[Variable, list] = {}
        for inp in self.inputs:
            self._add_var(inp)
        for node in toposort(self.outputs, stop_at=self.inputs):
            self._import_node(node, check=True)
        for i, out in enumerate(self.outputs):
            if out.owner is None and out not in self._input_set and not isinstance(out, Constant):
                if not getattr(out, "is_shared", False):
                    raise MissingInputError(
                        f"output {i} is {describe(out)}, which is not among the function's inputs "
                        f"({', '.join(map(repr, self.inputs)) or 'none'}); pass it as an input or via givens"
                    )
            self._add_var(out)
            self.clients[out].append(("output", i))
        self._order: list[Apply] | None = None
        self.update_mapping: dict[int, int] = {}

    def _add_var(self, var: Variable) -> None:
        if var not in self.clients:
            self.clients[var] = []
            self.variables.add(var)

    def _import_node(self, node: Apply, check: bool = False) -> None:
        if node in self.apply_nodes:
            return
        # The nodes not yet in the graph that ``node`` needs, inputs first: an explicit stack,
        # so that a deep new subgraph needs no recursion.
        order: list[Apply] = []
        stack, seen = [(node, 0)], {node}
        while stack:
            current, i = stack[-1]
            if i < len(current.inputs):
                stack[-1] = (current, i + 1)
                owner = current.inputs[i].owner
                if owner is not None and owner not in self.apply_nodes and owner not in seen:
                    seen.add(owner)
                    stack.append((owner, 0))
            else:
                stack.pop()
                order.append(current)
        for current in order:
            for i, inp in enumerate(current.inputs):
                if inp.owner is None and inp not in self.clients:
                    if check and not isinstance(inp, Constant) and not getattr(inp, "is_shared", False):
                        raise MissingInputError(
                            f"the graph needs {describe(inp)}, which is not among the function's inputs "
                            f"({', '.join(map(repr, self.inputs)) or 'none'}); pass it as an input or via givens"
                        )
                    self._add_var(inp)
                self.clients[inp].append((current, i))
            self.apply_nodes.add(current)
            for out in current.outputs:
                self._add_var(out)

    def _prune(self, var: Variable) -> None:
        """Drop ``var``'s owner if nothing uses its outputs any more, recursively."""
        stack = [var]
        while stack:
            v = stack.pop()
            node = v.owner
            if node is None or node not in self.apply_nodes:
                if v.owner is None and not self.clients.get(v) and v not in self._input_set and v in self.clients:
                    del self.clients[v]
                    self.variables.discard(v)
                continue
            if any(self.clients.get(o) for o in node.outputs):
                continue
            self.apply_nodes.discard(node)
            for o in node.outputs:
                self.clients.pop(o, None)
                self.variables.discard(o)
            for i, inp in enumerate(node.inputs):
                entries = self.clients.get(inp)
                if entries is not None:
                    entries.remove((node, i))
                    if not entries:
                        stack.append(inp)

    def replace(self, old: Variable, new: Variable) -> None:
        """Make every client of ``old`` use ``new``; nodes left unused are removed."""
        if old is new:
            return
        if old not in self.clients:
            return
        old_type, new_type = old.type, new.type
        if getattr(old_type, "dtype", None) != getattr(new_type, "dtype", None) or getattr(
            old_type, "ndim", None
        ) != getattr(new_type, "ndim", None):
            raise TypeMismatch(f"replace: {describe(old)} is {old_type} but its replacement is {new_type}")
        if new.owner is not None and new.owner not in self.apply_nodes:
            self._import_node(new.owner)
        else:
            self._add_var(new)
        if new.name is None and old.name is not None:
            new.name = old.name
        if new.trace is None or (new.owner is not None and old.trace is not None):
            new.trace = old.trace
        for client, i in list(self.clients[old]):
            if client == "output":
                self.outputs[i] = new
            else:
                client.inputs[i] = new
            self.clients[new].append((client, i))
        self.clients[old] = []
        self._prune(old)
        self._order = None

    def replace_all(self, pairs: Sequence[tuple[Variable, Variable]]) -> None:
        for old, new in pairs:
            self.replace(old, new)

    def toposort(self) -> list[Apply]:
        """Apply nodes in an order where every node comes after the nodes it depends on."""
        if self._order is None:
            self._order = toposort(self.outputs, stop_at=self.inputs)
        return list(self._order)

    def clone(self) -> FunctionGraph:
        inputs, outputs = clone_graph(self.inputs, self.outputs)
        fgraph = FunctionGraph(inputs, outputs)
        fgraph.update_mapping = dict(self.update_mapping)
        return fgraph

    def __repr__(self) -> str:
        return f"FunctionGraph({len(self.inputs)} inputs, {len(self.apply_nodes)} nodes, {len(self.outputs)} outputs)"


def clone_graph(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> tuple[list[Variable], list[Variable]]:
    """Deep copies of ``inputs`` and ``outputs``; shared variables and constants are kept as is."""
    memo: dict[Variable, Variable] = {}
    for inp in inputs:
        memo[inp] = inp if getattr(inp, "is_shared", False) else inp.clone()
    for var in graph_inputs(outputs, stop_at=inputs):
        memo.setdefault(var, var)
    for node in toposort(outputs, stop_at=inputs):
        new = node.clone_with_new_inputs([memo[i] for i in node.inputs])
        for old, out in zip(node.outputs, new.outputs):
            memo[old] = out
    return [memo[i] for i in inputs], [memo[o] for o in outputs]
