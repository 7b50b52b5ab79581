"""Rewrites of loops: less work per step, less memory, no loop where none is needed.

Each looks at one ``Scan`` node and its body, and replaces the node by a new one (the body of a
``Scan`` is rewritten once, when a backend first runs it, not by these passes):

- ``scan_prune``: body inputs nothing reads (a sequence, a state's tap, an invariant) and
  recurrent states whose values nobody reads are dropped;
- ``scan_hoist_invariants``: work that depends only on loop-invariant values runs once, before
  the loop;
- ``scan_push_out_sequences``: elementwise work and products that depend only on the current row
  of sequences run on whole sequences before the loop (an LSTM's input projection becomes one big
  product); a loop left with nothing but such work is no loop any more;
- ``scan_push_out_accumulators``: a state that only sums a term per step (``acc + g``, a gradient
  summed over the steps) becomes that term as an output, summed after the loop; a sum of
  products ``acc + dot(a, b)`` becomes one product of the stacked ``a`` and ``b`` (a weight's
  gradient in back-propagation through time is one large product, not one small one per step);
- ``scan_save_memory``: a state of which only the last rows are read afterwards (``h[-1]``) keeps
  only those rows, not one per step;
- ``scan_equal_dims``: dimensions of the body's inputs that the graph around the loop proves
  equal (the batch size of every sequence row and state) are recorded in the loop, so that the
  body's rewrites know them too: a gradient's ``reduce_to_shape`` of a value to its own shape
  disappears and the elementwise work around it fuses;
- ``scan_prune_rewritten_body``: last, each body is rewritten and the sequences and invariants
  its rewritten form no longer reads are dropped, with the outer work that made them (a gradient
  loop is handed every value of the forward loop's, and once rewritten reads few of them),
  per-step outputs that the rewrites made one value are stored once, and one that is a sequence's
  row passed through is not stored at all: it is the sequence's rows.

One more pass here is not about loops: ``whole_of_zeros`` (zeros with a value written into all
of them are that value), which must run after ``scan_equal_dims`` (see there).

>>> import numpy as np, symdl, symdl.tensor as T
>>> x, w = T.dmatrix('x'), T.dmatrix('w')
>>> ys, _ = symdl.map(lambda row, w: T.tanh(T.dot(row, w)), x, non_sequences=w)
>>> f = symdl.function([x, w], ys, mode='py')
>>> [type(n.op).__name__ for n in f.graph.toposort() if type(n.op).__name__ == 'Scan']
[]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from symdl.graph.basic import Apply, Constant, Variable, clone_replace, toposort
from symdl.graph.fg import FunctionGraph
from symdl.rewrite.engine import RewriteContext, apply_replacements, register_node, register_pass
from symdl.rewrite.shapes import dim_key
from symdl.scan_module.op import Scan, ScanInfo


@dataclass
class _State:
    init: Variable  # the outer initial rows
    taps: list[int]
    inputs: list[Variable]  # the body's variable for each tap
    output: Variable  # the body's new value
    result: Variable | None  # the node's output (all steps, or the last `keep` rows)
    keep: int | None


@dataclass
class _Loop:
    """A ``Scan`` node taken apart, to be changed and put back together with ``build``."""

    node: Apply
    n_steps: Variable
    seqs: list[tuple[Variable, list[int], list[Variable]]]  # (outer value, taps, body variables)
    states: list[_State]
    nits: list[tuple[Variable, Variable | None]]  # (body output, node output)
    invariants: list[tuple[Variable, Variable]]  # (outer value, body variable)
    until: list[Variable]
    extra: dict[Variable, Variable] = field(default_factory=dict)  # body variable -> replacement
    reversed_results: set[Variable] = field(default_factory=set)  # node outputs stored in reverse step order

    @classmethod
    def of(cls, node: Apply) -> _Loop:
        op: Scan = node.op
        info, inner, outer = op.info, op.inner_groups(), op.outer_groups(node.inputs)
        keep = info.keep or (None,) * info.n_states
        states = [
            _State(init, list(taps), list(vars_), out, node.outputs[k], keep[k])
            for k, (init, taps, vars_, out) in enumerate(
                zip(outer["inits"], info.state_taps, inner["states"], inner["state_out"])
            )
        ]
        nits = [(out, node.outputs[info.n_states + k]) for k, out in enumerate(inner["nit_out"])]
        seqs = [
            (value, list(taps), list(vars_)) for value, taps, vars_ in zip(outer["seqs"], info.seq_taps, inner["seqs"])
        ]
        invariants = list(zip(outer["invariants"], inner["invariants"]))
        reversed_results = {result for k, (_, result) in enumerate(nits) if info.rows_reversed(k)}
        return cls(node, outer["n_steps"], seqs, states, nits, invariants, list(inner["until"]), {}, reversed_results)

    def build(self) -> list[tuple[Variable, Variable]]:
        """The new node, as ``(old output, new output)`` pairs for the outputs still used."""
        op: Scan = self.node.op
        body_outputs = [s.output for s in self.states] + [out for out, _ in self.nits] + self.until
        if self.extra:
            body_outputs = clone_replace(body_outputs, self.extra)
        body_inputs = [v for _, _, vars_ in self.seqs for v in vars_] + [v for s in self.states for v in s.inputs]
        body_inputs += [v for _, v in self.invariants]
        keep = tuple(s.keep for s in self.states)
        reversed_rows = tuple(result in self.reversed_results for _, result in self.nits)
        info = ScanInfo(
            seq_taps=tuple(tuple(taps) for _, taps, _ in self.seqs),
            state_taps=tuple(tuple(s.taps) for s in self.states),
            n_nit=len(self.nits),
            n_invariants=len(self.invariants),
            as_while=op.info.as_while,
            name=op.info.name,
            keep=keep if any(k is not None for k in keep) else (),
            reversed_rows=reversed_rows if any(reversed_rows) else (),
        )
        new_op = Scan(body_inputs, body_outputs, info)
        new_op.truncate_gradient = op.truncate_gradient
        outer_inputs = [self.n_steps, *(v for v, _, _ in self.seqs), *(s.init for s in self.states)]
        outer_inputs += [v for v, _ in self.invariants]
        self.new_node = new_op.make_node(*outer_inputs)
        outputs = self.new_node.outputs
        old = [s.result for s in self.states] + [result for _, result in self.nits]
        return [(o, n) for o, n in zip(old, outputs) if o is not None]


def _replacements(node: Apply, pairs: list[tuple[Variable, Variable]]) -> list[Variable | None]:
    """What the rewrite engine takes: one replacement (or None) per output of ``node``."""
    new = dict(pairs)
    return [new.get(out) for out in node.outputs]


def _used(fgraph: FunctionGraph, var: Variable | None) -> bool:
    return var is not None and bool(fgraph.clients.get(var))


def _needed(ends: list[Variable]) -> set[Variable]:
    """``ends`` and every variable computing them reads."""
    needed = set(ends)
    for node in toposort(ends):
        needed.update(node.inputs)
    return needed


def _body_readers(loop: _Loop) -> set[Variable]:
    """The body variables that the body's outputs need."""
    return _needed([s.output for s in loop.states] + [out for out, _ in loop.nits] + loop.until)


# ---------------------------------------------------------------- one loop for a loop and its extension
def scan_merge_extended(fgraph: FunctionGraph, node: Apply) -> list | None:
    """A loop and an extended copy of it on the same inputs (the forward loop with the values its
    gradient reads as more outputs) are one loop: the copy's."""
    if not isinstance(node.op, Scan):
        return None
    for client, _ in fgraph.clients.get(node.inputs[0], ()):
        if client == "output" or client is node or not isinstance(client.op, Scan):
            continue
        if getattr(client.op, "extends", None) == node.op and client.inputs == node.inputs:
            info = node.op.info
            wider = client.outputs
            return list(wider[: info.n_states + info.n_nit])
    return None


# ---------------------------------------------------------------- prune
def scan_prune(fgraph: FunctionGraph, node: Apply) -> list | None:
    """Drop what neither the body nor the rest of the graph reads."""
    if not isinstance(node.op, Scan):
        return None
    loop = _Loop.of(node)
    changed = False
    # states whose values nobody reads, inside (their taps) or outside (their output)
    while True:
        # a state is dead if nothing outside reads it and no other body output reads its taps
        dead = [
            s for s in loop.states if not _used(fgraph, s.result) and not (set(s.inputs) & _readers_of_others(loop, s))
        ]
        if not dead:
            break
        loop.states = [s for s in loop.states if s not in dead]
        changed = True
    nits = [(out, result) for out, result in loop.nits if _used(fgraph, result)]
    if len(nits) != len(loop.nits):
        loop.nits, changed = nits, True
    if not loop.states and not loop.nits:
        return None  # nothing used: the node goes away with its clients
    read = _body_readers(loop)
    seqs = []
    for value, taps, vars_ in loop.seqs:
        kept = [(t, v) for t, v in zip(taps, vars_) if v in read]
        if len(kept) != len(taps):
            changed = True
        if kept:
            seqs.append((value, [t for t, _ in kept], [v for _, v in kept]))
    loop.seqs = seqs
    invariants = [(value, v) for value, v in loop.invariants if v in read]
    if len(invariants) != len(loop.invariants):
        loop.invariants, changed = invariants, True
    if not changed:
        return None
    return _replacements(node, loop.build())


def _readers_of_others(loop: _Loop, state: _State) -> set[Variable]:
    """Body variables read by the outputs other than ``state``'s own new value."""
    return _needed([s.output for s in loop.states if s is not state] + [out for out, _ in loop.nits] + loop.until)


# ---------------------------------------------------------------- hoist loop invariants
def scan_hoist_invariants(fgraph: FunctionGraph, node: Apply) -> list | None:
    """Work that depends only on invariants (and constants) runs once, before the loop."""
    if not isinstance(node.op, Scan):
        return None
    loop = _Loop.of(node)
    body = node.op.fgraph
    fixed = {v for _, v in loop.invariants}
    hoisted: list[Apply] = []
    for inner in body.toposort():
        if inner.op.nondeterministic or not inner.inputs:
            continue
        if all(v in fixed or isinstance(v, Constant) for v in inner.inputs):
            hoisted.append(inner)
            fixed.update(inner.outputs)
    if not hoisted:
        return None
    outputs = set(body.outputs)
    frontier = [
        v for n in hoisted for v in n.outputs
        if v in outputs or any(c != "output" and c not in hoisted for c, _ in body.clients.get(v, ()))
    ]  # fmt: skip
    if not frontier:
        return None
    outer_values = clone_replace(frontier, {v: value for value, v in loop.invariants})
    for value, v in zip(outer_values, frontier):
        stand_in = v.type.make_variable(name=v.name)
        loop.invariants.append((value, stand_in))
        loop.extra[v] = stand_in
    return _replacements(node, loop.build())


# ---------------------------------------------------------------- push work on sequences out
def _outer_version(inner: Apply, outer_of: dict[Variable, Variable], per_row: set[Variable]) -> list | None:
    """``inner`` applied to whole sequences instead of one row (inputs in ``per_row`` are rows;
    the others are invariants or constants), or None when the op cannot be batched so."""
    from symdl.tensor.blas import Dot
    from symdl.tensor.composite import Composite
    from symdl.tensor.elemwise import Elemwise
    from symdl.tensor.shape import DimShuffle, dimshuffle, reshape

    op = inner.op
    out = inner.outputs[0]
    if isinstance(op, Elemwise | Composite):
        if any(v in per_row and v.ndim != out.ndim for v in inner.inputs):
            return None
        args = []
        for v in inner.inputs:
            if v in per_row:
                args.append(outer_of[v])
            else:
                value = outer_of.get(v, v)
                args.append(dimshuffle(value, ["x"] * (1 + out.ndim - v.ndim) + list(range(v.ndim))))
        result = op.make_node(*args).outputs
        return result
    if isinstance(op, DimShuffle) and inner.inputs[0] in per_row:
        order = [0] + [d if d == "x" else d + 1 for d in op.new_order]
        return [dimshuffle(outer_of[inner.inputs[0]], order)]
    if isinstance(op, Dot):
        a, b = inner.inputs
        if a in per_row and b not in per_row and b.ndim == 2 and a.ndim in (1, 2):
            A, B = outer_of[a], outer_of.get(b, b)
            if a.ndim == 1:
                return [op.make_node(A, B).outputs[0]]
            rows = reshape(A, (-1, a.type.shape[1] if a.type.shape[1] is not None else A.shape[2]), ndim=2)
            product = op.make_node(rows, B).outputs[0]
            return [reshape(product, (A.shape[0], A.shape[1], product.shape[1]), ndim=3)]
        if b in per_row and a not in per_row and a.ndim == 2 and b.ndim == 1:
            A, B = outer_of.get(a, a), outer_of[b]
            return [op.make_node(B, A.T).outputs[0]]
    return None


def _worth_pushing(pushed: list[Apply], outputs: set[Variable]) -> list[Apply]:
    """The part of ``pushed`` (in order) that gains from running on whole sequences: products
    (one large product instead of one per step), the work after them (it folds into that
    product, or reads its rows either way), the work feeding them, and per-step outputs (the loop
    stores nothing for them). Elementwise work on sequences that only elementwise work in the body
    reads stays in the body, whose fused kernel does it on each row as it reads it: outside it
    would write a whole sequence that the body then reads again."""
    from symdl.tensor.blas import Dot

    made_by = {n.outputs[0]: n for n in pushed}
    kept: set[Apply] = set()
    for inner in pushed:
        if isinstance(inner.op, Dot) or any(made_by.get(v) in kept for v in inner.inputs):
            kept.add(inner)
    for inner in pushed:
        if inner.outputs[0] in outputs:
            kept.add(inner)
    for inner in reversed(pushed):
        if inner in kept:
            kept.update(made_by[v] for v in inner.inputs if v in made_by)
    return [n for n in pushed if n in kept]


def scan_push_out_sequences(fgraph: FunctionGraph, node: Apply) -> list | None:
    """Elementwise work and products on the current rows of sequences run on the whole sequences
    before the loop, whose body then reads their rows."""
    if not isinstance(node.op, Scan) or node.op.info.as_while:
        return None
    loop = _Loop.of(node)
    body = node.op.fgraph
    per_row: set[Variable] = set()
    outer_of: dict[Variable, Variable] = {}
    for value, taps, vars_ in loop.seqs:
        if taps == [0]:
            per_row.add(vars_[0])
            outer_of[vars_[0]] = value[: loop.n_steps]
    invariants = {v: value for value, v in loop.invariants}
    outer_of.update(invariants)
    pushed: list[Apply] = []
    for inner in body.toposort():
        if inner.op.nondeterministic or len(inner.outputs) != 1 or not any(v in per_row for v in inner.inputs):
            continue
        if not all(v in per_row or v in invariants or isinstance(v, Constant) for v in inner.inputs):
            continue
        made = _outer_version(inner, outer_of, per_row)
        if made is None:
            continue
        pushed.append(inner)
        per_row.add(inner.outputs[0])
        outer_of[inner.outputs[0]] = made[0]
    outputs = set(body.outputs)
    pushed = _worth_pushing(pushed, outputs)
    if not pushed:
        return None
    frontier = [
        n.outputs[0] for n in pushed
        if n.outputs[0] in outputs or any(c != "output" and c not in pushed for c, _ in body.clients.get(n.outputs[0], ()))
    ]  # fmt: skip
    for v in frontier:
        stand_in = v.type.make_variable(name=v.name)
        loop.seqs.append((outer_of[v], [0], [stand_in]))
        loop.extra[v] = stand_in
    # outputs that are now a whole sequence computed outside need no loop
    pairs: list[tuple[Variable, Variable]] = []
    kept = []
    for out, result in loop.nits:
        if out in frontier:
            pairs.append((result, outer_of[out]))
        else:
            kept.append((out, result))
    loop.nits = kept
    if not loop.states and not loop.nits:
        return _replacements(node, pairs)
    return _replacements(node, pairs + loop.build())


# ---------------------------------------------------------------- sums over the steps
def _accumulated_term(body: FunctionGraph, state: _State) -> Variable | None:
    """The term ``g`` when the state's new value is ``state + g`` and nothing else reads the state
    (nor does ``g`` depend on it); else None."""
    from symdl.tensor.elemwise import Elemwise

    if state.taps != [-1] or len(state.inputs) != 1:
        return None
    (acc,) = state.inputs
    node = state.output.owner
    if node is None or not isinstance(node.op, Elemwise) or node.op.scalar_op.name != "add":
        return None
    if body.clients.get(acc) != [(node, 0)] and body.clients.get(acc) != [(node, 1)]:
        return None
    term = node.inputs[1] if node.inputs[0] is acc else node.inputs[0]
    if term.type.shape != state.output.type.shape and None in term.type.shape:
        return None
    needs = {term}
    for inner in toposort([term]):
        needs.update(inner.inputs)
    return None if acc in needs else term


def push_out_accumulators(fgraph: FunctionGraph, node: Apply) -> list[tuple[Variable, Variable]] | None:
    """A state that sums a term per step, read afterwards only for its last value, becomes the term
    as an output summed after the loop (a sum of products: one product of the stacked factors).
    Returns replacement pairs: the node's outputs, and each read of a removed state's last value."""
    from symdl.tensor.blas import Dot
    from symdl.tensor.reduction import sum as tsum
    from symdl.tensor.shape import dimshuffle, reshape

    if not isinstance(node.op, Scan) or node.op.info.as_while:
        return None
    loop = _Loop.of(node)
    body = node.op.fgraph
    replaced: list[tuple[Variable, Variable]] = []
    for state in list(loop.states):
        if state.keep is not None or _last_rows_read(fgraph, state.result) != 1:
            continue
        term = _accumulated_term(body, state)
        if term is None:
            continue
        loop.states.remove(state)
        initial = state.init[0]
        product = term.owner
        if product is not None and isinstance(product.op, Dot) and all(v.ndim == 2 for v in product.inputs):
            # sum over t of a_t . b_t = (a_0 | a_1 | ...) . (b_0 ; b_1 ; ...); where a_t = x_t.T
            # (a weight's gradient), the x_t are stored and stacked as rows: (x_0 ; x_1 ; ...).T,
            # a transpose the product reads by a flag where a_t's stack would be copied
            a, b = product.inputs
            x = _transposed(a)
            start = len(loop.nits)
            loop.nits += [(a if x is None else x, None), (b, None)]
            replaced.append((state, ("dot" if x is None else "dot_of_rows", start, initial)))
        else:
            start = len(loop.nits)
            loop.nits.append((term, None))
            replaced.append((state, ("sum", start, initial)))
    if not replaced:
        return None
    pairs = loop.build()
    new_node = loop.new_node
    n_states = new_node.op.info.n_states
    for state, (kind, start, initial) in replaced:
        if kind in ("dot", "dot_of_rows"):
            a_all, b_all = new_node.outputs[n_states + start], new_node.outputs[n_states + start + 1]
            if kind == "dot":
                rows = reshape(dimshuffle(a_all, [1, 0, 2]), (a_all.shape[1], -1), ndim=2)
            else:
                rows = reshape(a_all, (-1, a_all.shape[2]), ndim=2).T
            cols = reshape(b_all, (-1, b_all.shape[2]), ndim=2)
            total = initial + _dot(rows, cols)
        else:
            total = initial + tsum(new_node.outputs[n_states + start], axis=0)
        if total.dtype != state.result.dtype:
            from symdl.tensor.elemwise import cast

            total = cast(total, state.result.dtype)
        pairs += [(client.outputs[0], total) for client, _ in fgraph.clients[state.result]]
    return pairs


def _transposed(a: Variable) -> Variable | None:
    """``x`` where ``a`` is ``x.T`` (a 2-d transpose), else None."""
    from symdl.tensor.shape import DimShuffle

    node = a.owner
    if node is not None and isinstance(node.op, DimShuffle) and node.op.new_order == (1, 0):
        return node.inputs[0]
    return None


def _dot(a: Variable, b: Variable) -> Variable:
    from symdl.tensor.blas import dot

    return dot(a, b)


# ---------------------------------------------------------------- keep only the rows read later
def _last_rows_read(fgraph: FunctionGraph, var: Variable) -> int | None:
    """How many last rows of ``var`` its clients read, when each reads one row ``var[-k]`` by a
    constant index; None otherwise."""
    from symdl.tensor.subtensor import Subtensor

    deepest = 0
    for client, _ in fgraph.clients.get(var, ()):
        if client == "output" or not isinstance(client.op, Subtensor) or client.op.advanced:
            return None
        entry = client.op.template[0]
        if entry[0] != "int" or not isinstance(entry[1], int | np.integer) or entry[1] >= 0:
            return None
        deepest = max(deepest, -int(entry[1]))
    return deepest or None


def scan_save_memory(fgraph: FunctionGraph, node: Apply) -> list | None:
    """Keep only the last rows of a state that later code reads only by ``h[-k]``."""
    if not isinstance(node.op, Scan):
        return None
    loop = _Loop.of(node)
    changed = False
    for state in loop.states:
        if state.keep is not None:
            continue
        # a state no one reads afterwards keeps one row (its steps read its taps from the ring)
        rows = _last_rows_read(fgraph, state.result) if _used(fgraph, state.result) else 1
        if rows is not None:
            state.keep = rows
            changed = True
    if not changed:
        return None
    return _replacements(node, loop.build())


def _rewrite_each(fgraph: FunctionGraph, ctx: RewriteContext, op_type: type, name: str, rewrite) -> int:
    """A pass: ``rewrite(fgraph, node)`` (``(old, new)`` pairs, or None) on every node of
    ``op_type`` still in the graph, each change recorded as ``name``."""
    done = 0
    for node in fgraph.toposort():
        if node in fgraph.apply_nodes and isinstance(node.op, op_type):
            pairs = rewrite(fgraph, node)
            if pairs:
                apply_replacements(fgraph, pairs)
                ctx.record(name)
                done += 1
    return done


@register_pass("specialize", "scan", name="scan_push_out_accumulators")
def scan_push_out_accumulators(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """``push_out_accumulators`` on every loop (a pass: it replaces the reads of the sums too)."""
    return _rewrite_each(fgraph, ctx, Scan, "scan_push_out_accumulators", push_out_accumulators)


for _name, _rewrite in (
    ("scan_prune", scan_prune),
    ("scan_hoist_invariants", scan_hoist_invariants),
    ("scan_push_out_sequences", scan_push_out_sequences),
):
    register_node("specialize", "scan", tracks=[Scan], name=_name)(_rewrite)
register_node("canonicalize", "scan", tracks=[Scan], name="scan_merge_extended")(scan_merge_extended)
# after the loops that read a state's history (a gradient's) were pruned in specialize
register_node("fusion", "scan", tracks=[Scan], name="scan_save_memory")(scan_save_memory)


def _equal_dim_groups(fgraph: FunctionGraph, node: Apply) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Groups of the body's input dimensions (``(input index, axis)``, size unknown to the body)
    whose sizes the outer graph proves equal."""
    op: Scan = node.op
    sources = op.body_input_sources(node.inputs)
    by_key: dict[tuple, list[tuple[int, int]]] = {}
    for j, (var, (value, shift)) in enumerate(zip(op.fgraph.inputs, sources)):
        for axis, size in enumerate(var.type.shape):
            if size is None:
                by_key.setdefault(dim_key(fgraph, value, axis + shift), []).append((j, axis))
    return tuple(tuple(group) for key, group in by_key.items() if len(group) > 1 and key[0] != "c")


def _with_equal_dims(fgraph: FunctionGraph, node: Apply) -> list[tuple[Variable, Variable]] | None:
    groups = _equal_dim_groups(fgraph, node)
    op: Scan = node.op
    if groups == op.info.equal_dims:
        return None
    new_op = Scan(op.fgraph.inputs, op.fgraph.outputs, replace(op.info, equal_dims=groups))
    new_op.truncate_gradient = op.truncate_gradient
    return list(zip(node.outputs, new_op.make_node(*node.inputs).outputs))


@register_pass("fusion", "scan", name="scan_equal_dims")
def scan_equal_dims(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """Record in each loop which of its body's input dimensions are equal (see the module docstring)."""
    return _rewrite_each(fgraph, ctx, Scan, "scan_equal_dims", _with_equal_dims)


@register_pass("fusion", "scan", name="whole_of_zeros")
def whole_of_zeros_pass(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """``whole_of_zeros`` on every node, once the loops know their equal dimensions: earlier, a
    zero-filled value replaced by what was written into it can hide from the shape analysis that
    its rows have the batch size of the loop's other inputs (the batch size of the zeros is the
    input's, that of the value written a broadcast of two)."""
    from symdl.rewrite.canonicalize import whole_of_zeros
    from symdl.tensor.subtensor import IncSubtensor

    def pairs(fgraph: FunctionGraph, node: Apply) -> list | None:
        new = whole_of_zeros(fgraph, node)
        return list(zip(node.outputs, new)) if new else None

    return _rewrite_each(fgraph, ctx, IncSubtensor, "whole_of_zeros", pairs)


# ---------------------------------------------------------------- what the rewritten body makes needless
def _pruned_on_rewritten_body(fgraph: FunctionGraph, node: Apply) -> list[tuple[Variable, Variable]] | None:
    """``(old output, new output)`` pairs for a node whose loop runs the rewritten body without
    the sequences and invariants that body no longer reads and with one output per distinct
    per-step value (its plan made already); None when there is nothing to prune."""
    op: Scan = node.op
    info = op.info
    body = op.inner_plan().fgraph
    groups, outer = op.inner_groups(body), op.outer_groups(node.inputs)
    # a per-step output that is a row of a sequence passed through is that sequence's rows
    row_of_sequence = {
        v: (value, tap - min(taps))
        for value, taps, vars_ in zip(outer["seqs"], info.seq_taps, groups["seqs"])
        for tap, v in zip(taps, vars_)
    }
    passed = {} if info.as_while else {k: out for k, out in enumerate(groups["nit_out"]) if out in row_of_sequence}
    stored = [out for k, out in enumerate(groups["nit_out"]) if k not in passed]
    read = _needed(groups["state_out"] + stored + groups["until"])
    dropped = {v for vs in groups["seqs"] for v in vs if v not in read}
    dropped.update(v for v in groups["invariants"] if v not in read)
    # each distinct per-step output (a value, in step or reversed order) and its place among the new outputs
    position: dict[tuple[Variable, bool], int] = {}
    source = {
        k: position.setdefault((out, info.rows_reversed(k)), len(position))
        for k, out in enumerate(groups["nit_out"])
        if k not in passed
    }
    if not dropped and not passed and len(position) == len(source):
        return None
    n = info.n_states
    pairs = []
    for k, out in passed.items():
        value, offset = row_of_sequence[out]
        pairs.append((node.outputs[n + k], value[offset : offset + outer["n_steps"]]))
    if not position and not groups["state_out"] and not groups["until"]:
        return pairs  # nothing left to loop over
    kept = [j for j, v in enumerate(body.inputs) if v not in dropped]
    renumber = {old: new for new, old in enumerate(kept)}
    seqs = [
        (value, tuple(t for t, v in zip(taps, vars_) if v not in dropped))
        for value, taps, vars_ in zip(outer["seqs"], info.seq_taps, groups["seqs"])
    ]
    seqs = [(value, taps) for value, taps in seqs if taps]
    invariants = [value for value, v in zip(outer["invariants"], groups["invariants"]) if v not in dropped]
    equal_dims = (tuple((renumber[j], axis) for j, axis in group if j in renumber) for group in info.equal_dims)
    new_info = replace(
        info,
        seq_taps=tuple(taps for _, taps in seqs),
        n_nit=len(position),
        reversed_rows=tuple(rows_reversed for _, rows_reversed in position) if info.reversed_rows else (),
        n_invariants=len(invariants),
        equal_dims=tuple(group for group in equal_dims if len(group) > 1),
    )
    outputs = groups["state_out"] + [out for out, _ in position] + groups["until"]
    new_op = Scan([body.inputs[j] for j in kept], outputs, new_info)
    new_op.truncate_gradient = op.truncate_gradient
    # its body is rewritten already: planned as it is, not rewritten again
    from symdl.compile.plan import make_plan

    planned = new_op.fgraph.clone()
    new_op.prepare_body(planned)
    new_op._plan = make_plan(planned)
    new_node = new_op.make_node(outer["n_steps"], *(value for value, _ in seqs), *outer["inits"], *invariants)
    pairs += list(zip(node.outputs[:n], new_node.outputs[:n]))
    return pairs + [(node.outputs[n + k], new_node.outputs[n + j]) for k, j in source.items()]


@register_pass("fusion", "scan", name="scan_prune_rewritten_body")
def scan_prune_rewritten_body(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """Prune what the loops' rewritten bodies make needless (see the module docstring)."""
    return _rewrite_each(fgraph, ctx, Scan, "scan_prune_rewritten_body", _pruned_on_rewritten_body)


# ---------------------------------------------------------------- rows in the order their readers want
def _reverses_rows(client: object) -> bool:
    """Whether ``client`` (a node) is ``x[::-1]``: ``x``'s rows in reverse order, nothing else."""
    from symdl.tensor.subtensor import Subtensor

    if client == "output" or not isinstance(client.op, Subtensor) or client.op.advanced or len(client.inputs) != 1:
        return False
    first, *rest = client.op.template
    return first == ("slice", None, None, -1) and all(entry == ("slice", None, None, None) for entry in rest)


def _summed_over_rows(fgraph: FunctionGraph, client: object, rows: Variable) -> list[Apply] | None:
    """The products ``dot(left, reshape(rows, (-1, m)))`` that ``client``, a node reading a loop's
    3-d per-step output ``rows``, feeds and feeds only, with ``left`` a stack of steps
    (``_steps_of``) whose (step, batch row) pairs are proven the same sizes as ``rows``' first
    two axes: each sums over those pairs, so it is unchanged when both are reversed along the
    steps. None where ``client`` is anything else."""
    from symdl.tensor.blas import Dot
    from symdl.tensor.shape import Reshape

    if client == "output" or not isinstance(client.op, Reshape) or rows.ndim != 3 or client.outputs[0].ndim != 2:
        return None
    flat = client.outputs[0]
    if dim_key(fgraph, flat, 1) != dim_key(fgraph, rows, 2):
        return None
    products = []
    for reader, position in fgraph.clients.get(flat, ()):
        if reader == "output" or not isinstance(reader.op, Dot) or position != 1:
            return None
        found = _steps_of(fgraph, reader.inputs[0])
        if found is None:
            return None
        stack, axis = found
        if (dim_key(fgraph, stack, axis), dim_key(fgraph, stack, axis + 1)) != (
            dim_key(fgraph, rows, 0),
            dim_key(fgraph, rows, 1),
        ):
            return None
        products.append(reader)
    return products or None


def _steps_of(fgraph: FunctionGraph, left: Variable) -> tuple[Variable, int] | None:
    """``(stack, axis)`` where the 2-d ``left`` is ``reshape(stack, (k, -1))`` with ``stack``
    (k, steps, batch), axis 1, or ``reshape(stack, (-1, k)).T`` with ``stack`` (steps, batch, k),
    axis 0: the left operand of a product summing over every step's batch rows. Else None."""
    from symdl.tensor.shape import Reshape

    flipped = _transposed(left)
    shaped = left if flipped is None else flipped
    shaping = shaped.owner
    if shaped.ndim != 2 or shaping is None or not isinstance(shaping.op, Reshape) or shaping.inputs[0].ndim != 3:
        return None
    stack = shaping.inputs[0]
    kept, axis = (0, 1) if flipped is None else (1, 0)
    if dim_key(fgraph, shaped, kept) != dim_key(fgraph, stack, 0 if flipped is None else 2):
        return None
    return stack, axis


def _reads_only_shape(client: object) -> bool:
    """Whether ``client`` (a node) is ``x.shape``, which the order of ``x``'s rows leaves alone."""
    from symdl.tensor.shape import Shape

    return client != "output" and isinstance(client.op, Shape)


def _stored_in_reading_order(fgraph: FunctionGraph, node: Apply) -> list[tuple[Variable, Variable]] | None:
    """A per-step output read only in reverse order (``ys[::-1]``) is stored so: step t's value
    in row ``n_steps - 1 - t``, and its readers read the rows as they are. Its shape may be read
    too, and a product summing over the steps (``_summed_over_rows``), whose other operand is
    then read reversed along the steps instead."""
    op: Scan = node.op
    info = op.info
    if info.as_while:
        return None
    n = info.n_states
    turned, products = [], {}
    for j in range(info.n_nit):
        out = node.outputs[n + j]
        clients = [client for client, _ in fgraph.clients.get(out, ())]
        others = [client for client in clients if not _reverses_rows(client) and not _reads_only_shape(client)]
        sums = [_summed_over_rows(fgraph, client, out) for client in others]
        if any(_reverses_rows(client) for client in clients) and all(sums):
            turned.append(j)
            products[j] = [(client, product) for client, found in zip(others, sums) for product in found]
    if not turned:
        return None
    flags = [info.rows_reversed(j) != (j in turned) for j in range(info.n_nit)]
    new_op = Scan(op.fgraph.inputs, op.fgraph.outputs, replace(info, reversed_rows=tuple(flags) if any(flags) else ()))
    new_op.truncate_gradient = op.truncate_gradient
    new_op._plan = op.inner_plan()  # the same body, rewritten already
    new_node = new_op.make_node(*node.inputs)
    pairs = [(old, new) for j, (old, new) in enumerate(zip(node.outputs, new_node.outputs)) if j - n not in turned]
    for j in turned:
        stored = new_node.outputs[n + j]
        for client, _ in fgraph.clients[node.outputs[n + j]]:
            if _reverses_rows(client):
                pairs.append((client.outputs[0], stored))
            elif _reads_only_shape(client):
                pairs.append((client.outputs[0], client.op.make_node(stored).outputs[0]))
    # The products' other operands and shapes read of the new loop what they read of the old one
    # (a turned output being its new rows reversed back), so that the old loop goes.
    same = dict(pairs)
    same.update({node.outputs[n + j]: new_node.outputs[n + j][::-1] for j in turned})
    for j in turned:
        for shaping, product in products[j]:
            left = product.inputs[0]
            flipped = _transposed(left)
            shaped = left if flipped is None else flipped
            stack, left_shape, right_shape = clone_replace(
                [shaped.owner.inputs[0], shaped.owner.inputs[1], shaping.inputs[1]], same
            )
            new_left = shaped.owner.op.make_node(stack[::-1] if flipped is not None else stack[:, ::-1], left_shape)
            new_left = new_left.outputs[0] if flipped is None else new_left.outputs[0].T
            new_right = shaping.op.make_node(new_node.outputs[n + j], right_shape).outputs[0]
            pairs.append((product.outputs[0], product.op.make_node(new_left, new_right).outputs[0]))
    return pairs


@register_pass("fusion", "scan", name="scan_store_in_reading_order")
def scan_store_in_reading_order(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """Store per-step outputs in the order their readers want (see ``_stored_in_reading_order``):
    a gradient loop runs over the steps backwards, and the products after it read its outputs in
    forward order, which a reversed view makes them copy."""
    return _rewrite_each(fgraph, ctx, Scan, "scan_store_in_reading_order", _stored_in_reading_order)
