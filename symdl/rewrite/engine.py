"""The pass manager: node rewriters registered by phase and tag, a worklist engine that applies
them to a fixpoint, incremental merging of equal nodes, and the bookkeeping (per-pass time,
counts, failures) that ``fn.profile()`` and the tests read.

A node rewriter is a function ``fn(fgraph, node)`` returning ``None`` (no change) or a list of
replacement variables, one per output of ``node`` (``None`` keeps that output). It must build
new nodes only and never change ``fgraph``: the engine checks the replacement's type and that it
does not depend on what it replaces, then calls ``fgraph.replace``. A rewriter that raises has
changed nothing, so rolling it back is free; the failure is counted and reported once.

>>> from symdl.rewrite.engine import REGISTRY
>>> 'constant_folding' in REGISTRY.names()
True
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.fg import FunctionGraph

PHASES = ("canonicalize", "stabilize", "specialize", "fusion")

NodeFn = Callable[[FunctionGraph, Apply], Sequence[Variable | None] | None]


@dataclass
class NodeRewriter:
    """One local rewrite: ``fn`` is tried on nodes whose op is an instance of ``tracks`` (all
    nodes when empty) and, for ``Elemwise``, whose scalar op is named in ``scalar`` (any when empty)."""

    name: str
    fn: NodeFn
    phase: str
    tags: frozenset[str]
    tracks: tuple[type, ...] = ()
    scalar: frozenset[str] = frozenset()
    default: bool = True

    def enabled(self, excluding: set[str], including: set[str]) -> bool:
        labels = self.tags | {self.name, self.phase}
        if labels & excluding:
            return False
        return self.default or bool(labels & including)


@dataclass
class GraphPass:
    """A whole-graph pass ``fn(fgraph, ctx)`` (merge, fusion, sympy) run in its phase
    after the node rewriters of that phase reach their fixpoint."""

    name: str
    fn: Callable[[FunctionGraph, RewriteContext], None]
    phase: str
    tags: frozenset[str]
    default: bool = True

    enabled = NodeRewriter.enabled


class Registry:
    """Every known rewrite, by phase."""

    def __init__(self) -> None:
        self.node_rewriters: list[NodeRewriter] = []
        self.graph_passes: list[GraphPass] = []

    def names(self) -> list[str]:
        return [r.name for r in self.node_rewriters] + [p.name for p in self.graph_passes]

    def node(
        self,
        phase: str,
        *tags: str,
        tracks: Iterable[type] = (),
        scalar: Iterable[str] = (),
        default: bool = True,
        name: str | None = None,
    ) -> Callable[[NodeFn], NodeFn]:
        """Decorator registering a node rewriter in ``phase`` with ``tags``."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; phases are {PHASES}")

        def register(fn: NodeFn) -> NodeFn:
            self.node_rewriters.append(
                NodeRewriter(name or fn.__name__, fn, phase, frozenset(tags), tuple(tracks), frozenset(scalar), default)
            )
            return fn

        return register

    def graph_pass(self, phase: str, *tags: str, default: bool = True, name: str | None = None) -> Callable:
        """Decorator registering a whole-graph pass run at the end of ``phase``."""

        def register(fn: Callable) -> Callable:
            self.graph_passes.append(GraphPass(name or fn.__name__, fn, phase, frozenset(tags), default))
            return fn

        return register


REGISTRY = Registry()
register_node = REGISTRY.node
register_pass = REGISTRY.graph_pass


# ---------------------------------------------------------------- bookkeeping
_reported: set[str] = set()


@dataclass
class RewriteContext:
    """Per-compilation state: what ran, how long, what was rewritten and what failed."""

    fgraph: FunctionGraph
    excluding: set[str] = field(default_factory=set)
    including: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    times: list[tuple[str, float, int]] = field(default_factory=list)

    def allows(self, *labels: str) -> bool:
        return not (set(labels) & self.excluding)

    def record(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def fail(self, name: str, exc: BaseException) -> None:
        self.failures.setdefault(name, []).append(f"{type(exc).__name__}: {exc}")

    def report_failures(self) -> None:
        """One warning per failing rewrite per process, naming how often it failed here."""
        for name, errors in self.failures.items():
            if name in _reported:
                continue
            _reported.add(name)
            warnings.warn(
                f"symdl rewrite {name!r} failed {len(errors)} time(s) and was skipped (the graph is "
                f"unchanged there; results are still correct): {errors[0]}. Exclude it with "
                f"optimizer_excluding={name!r}; this warning is shown once.",
                RuntimeWarning,
                stacklevel=4,
            )


# ---------------------------------------------------------------- applying a replacement
class RejectedRewrite(Exception):
    """A replacement whose type or structure cannot stand in for what it replaces."""


def _shapes_compatible(old: tuple, new: tuple) -> bool:
    return all(a is None or b is None or a == b for a, b in zip(old, new))


def check_replacement(old: Variable, new: Variable) -> None:
    ot, nt = old.type, new.type
    if ot == nt:
        return
    if type(ot) is not type(nt):
        raise RejectedRewrite(f"type {nt} cannot replace {ot}")
    dtype_o, dtype_n = getattr(ot, "dtype", None), getattr(nt, "dtype", None)
    shape_o, shape_n = getattr(ot, "shape", ()), getattr(nt, "shape", ())
    if dtype_o != dtype_n or len(shape_o) != len(shape_n) or not _shapes_compatible(shape_o, shape_n):
        raise RejectedRewrite(f"type {nt} cannot replace {ot}")


def new_nodes(fgraph: FunctionGraph, outputs: Sequence[Variable]) -> list[Apply]:
    """Nodes reachable from ``outputs`` that are not yet in ``fgraph``, inputs first."""
    order: list[Apply] = []
    seen: set[Apply] = set()
    apply_nodes = fgraph.apply_nodes
    for out in outputs:
        node = out.owner
        if node is None or node in apply_nodes or node in seen:
            continue
        stack = [(node, 0)]
        seen.add(node)
        while stack:
            n, i = stack[-1]
            if i < len(n.inputs):
                stack[-1] = (n, i + 1)
                owner = n.inputs[i].owner
                if owner is not None and owner not in apply_nodes and owner not in seen:
                    seen.add(owner)
                    stack.append((owner, 0))
            else:
                stack.pop()
                order.append(n)
    return order


def apply_replacements(fgraph: FunctionGraph, pairs: Sequence[tuple[Variable, Variable]]) -> list[Apply] | None:
    """Check and apply ``(old, new)`` pairs; return the nodes imported, or None if nothing changed."""
    pairs = [(o, n) for o, n in pairs if n is not None and n is not o and o in fgraph.clients]
    if not pairs:
        return None
    olds = {o for o, _ in pairs}
    for old, new in pairs:
        check_replacement(old, new)
        if new in olds:
            raise RejectedRewrite("a replacement refers to another replaced variable")
    imported = new_nodes(fgraph, [n for _, n in pairs])
    for node in imported:
        for inp in node.inputs:
            if inp in olds:
                raise RejectedRewrite("the replacement depends on the variable it replaces")
    for old, new in pairs:
        fgraph.replace(old, new)
    return imported


# ---------------------------------------------------------------- merge
class _OpIds:
    """A small int per distinct op (by equality), found once per op instance: hashing an op
    through its ``__props__`` is slow, and most nodes share a few op instances."""

    def __init__(self) -> None:
        self.by_instance: dict[int, tuple[Any, int | None]] = {}
        self.by_value: dict[Any, int] = {}

    def __call__(self, op: Any) -> int | None:
        found = self.by_instance.get(id(op))
        if found is not None and found[0] is op:
            return found[1]
        ident: int | None
        if op.nondeterministic or op.destroy_map:
            ident = None
        else:
            try:
                ident = self.by_value.setdefault(op, len(self.by_value))
            except TypeError:
                ident = None
        self.by_instance[id(op)] = (op, ident)
        return ident


def _merge_key(node: Apply, const_ids: dict, op_ids: _OpIds) -> tuple | None:
    ident = op_ids(node.op)
    if ident is None:
        return None
    return (ident, *[const_ids.get(i, i) for i in node.inputs])


class Merger:
    """Merges equal constants and nodes with equal ops on the same inputs (common subexpressions).

    Kept incrementally by the worklist engine: a node is checked when it is (re)visited, and a
    table entry is trusted only if its node is still in the graph with the same key.
    """

    def __init__(self, fgraph: FunctionGraph):
        self.fgraph = fgraph
        self.table: dict[tuple, Apply] = {}
        self.constants: dict[tuple, Constant] = {}
        self.const_ids: dict[Variable, Constant] = {}
        self.op_ids = _OpIds()

    def canonical_constant(self, c: Constant) -> Constant:
        if c in self.const_ids:
            return self.const_ids[c]
        try:
            sig = c.signature()
            hash(sig)
        except TypeError:
            return c
        canon = self.constants.setdefault(sig, c)
        self.const_ids[c] = canon
        return canon

    def visit(self, node: Apply) -> list[tuple[Variable, Variable]] | None:
        """Replacements merging ``node``'s constant inputs and ``node`` itself, if any."""
        pairs: list[tuple[Variable, Variable]] = []
        for inp in node.inputs:
            if isinstance(inp, Constant):
                canon = self.canonical_constant(inp)
                if canon is not inp and canon.type == inp.type:
                    pairs.append((inp, canon))
        if pairs:
            return pairs
        key = _merge_key(node, self.const_ids, self.op_ids)
        if key is None:
            return None
        try:
            other = self.table.get(key)
        except TypeError:
            return None
        if other is not None and other is not node and other in self.fgraph.apply_nodes:
            if _merge_key(other, self.const_ids, self.op_ids) == key and len(other.outputs) == len(node.outputs):
                if all(a.type == b.type for a, b in zip(node.outputs, other.outputs)):
                    return list(zip(node.outputs, other.outputs))
        self.table[key] = node
        return None


def merge_pass(fgraph: FunctionGraph, ctx: RewriteContext | None = None) -> int:
    """Merge equal constants and common subexpressions in one linear sweep; returns the count."""
    merger = Merger(fgraph)
    merged = 0
    for node in fgraph.toposort():
        while node in fgraph.apply_nodes:
            pairs = merger.visit(node)
            if not pairs:
                break
            fgraph.replace_all(pairs)
            merged += 1
            if ctx is not None:
                ctx.record("merge")
    return merged


# ---------------------------------------------------------------- the worklist engine
def _dispatch_table(rewriters: Sequence[NodeRewriter]) -> Callable[[Apply], list[NodeRewriter]]:
    from symdl.tensor.elemwise import Elemwise

    generic = [r for r in rewriters if not r.tracks]
    by_type: dict[type, list[NodeRewriter]] = {}
    cache: dict[Any, list[NodeRewriter]] = {}

    for r in rewriters:
        for t in r.tracks:
            by_type.setdefault(t, []).append(r)

    def lookup(node: Apply) -> list[NodeRewriter]:
        op = node.op
        scalar = op.scalar_op.name if isinstance(op, Elemwise) else None
        key = (type(op), scalar)
        found = cache.get(key)
        if found is None:
            found = []
            for t in type(op).__mro__:
                for r in by_type.get(t, ()):
                    if r.scalar and scalar not in r.scalar:
                        continue
                    if r not in found:
                        found.append(r)
            found += generic
            cache[key] = found
        return found

    return lookup


def run_node_phase(
    fgraph: FunctionGraph,
    rewriters: Sequence[NodeRewriter],
    ctx: RewriteContext,
    merge: bool = True,
    start: Iterable[Apply] | None = None,
    label: str = "phase",
) -> int:
    """Apply ``rewriters`` (and merging) to every node until none applies; returns the count.

    A worklist holds nodes to visit, initially all in topological order; a replacement adds the
    nodes it imported and the clients of the replaced variables. A budget proportional to the
    graph size stops pathological cycles between rewrites (with a warning) instead of hanging.
    """
    lookup = _dispatch_table(rewriters)
    merger = Merger(fgraph) if merge else None
    order = list(start) if start is not None else fgraph.toposort()
    work = deque(order)
    queued = set(order)
    budget = 8 * len(fgraph.apply_nodes) + 2000
    applied = 0
    apply_nodes = fgraph.apply_nodes
    clients = fgraph.clients

    def push(node: Any) -> None:
        if node not in queued and node != "output":
            queued.add(node)
            work.append(node)

    while work:
        node = work.popleft()
        queued.discard(node)
        if node not in apply_nodes:
            continue
        candidates: list[tuple[str, list]] = []
        if merger is not None:
            pairs = merger.visit(node)
            if pairs:
                candidates.append(("merge", pairs))
        if not candidates:
            for rw in lookup(node):
                try:
                    result = rw.fn(fgraph, node)
                except Exception as exc:  # a failing rewrite changes nothing; see module docstring
                    ctx.fail(rw.name, exc)
                    continue
                if not result:
                    continue
                candidates.append((rw.name, list(zip(node.outputs, result))))
                break
        for name, pairs in candidates:
            # The nodes that used what is replaced see new inputs: visit them again (only
            # those: a merged constant's other clients have not changed).
            touched = [c for old, _ in pairs for c, _ in clients.get(old, ())]
            try:
                imported = apply_replacements(fgraph, pairs)
            except RejectedRewrite as exc:
                ctx.fail(name, exc)
                continue
            if imported is None:
                continue
            applied += 1
            ctx.record(name)
            for n in imported:
                push(n)
            for client in touched:
                if client in apply_nodes:
                    push(client)
            if node in apply_nodes:
                push(node)
        if applied > budget:
            top = sorted(ctx.counts.items(), key=lambda kv: -kv[1])[:3]
            warnings.warn(
                f"symdl rewriting stopped the {label} phase after {applied} rewrites on a graph of "
                f"{len(apply_nodes)} nodes (a cycle between rewrites? most applied: {top})",
                RuntimeWarning,
                stacklevel=3,
            )
            break
    return applied


def timed(ctx: RewriteContext, name: str, fn: Callable[[], int | None]) -> None:
    start = time.perf_counter()
    n = fn()
    ctx.times.append((name, time.perf_counter() - start, int(n or 0)))
