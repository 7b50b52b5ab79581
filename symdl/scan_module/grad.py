"""The gradient of a loop: back-propagation through time, as another loop.

The backward loop visits the forward steps from the last to the first (the last
``truncate_gradient`` of them when it is set). At forward step ``t`` it rebuilds the body's
outputs from the step's inputs (sequence rows, past states, invariants: the forward loop kept
the states of every step) and takes their vector-Jacobian product with

- for each recurrent state, the gradient of its output at ``t`` plus what later steps sent back
  to it (a buffer of ``depth`` rows: row ``j`` holds the gradient of the state ``j`` steps
  before ``t``, shifted by one row per step),
- for each other output, the gradient of its output at ``t``.

The products give each sequence row's gradient (an output of the backward loop, put back in the
forward order), each past state's (added to the buffer), and each invariant's (summed over the
steps in a state of the backward loop). After the first forward step, the buffer holds the
gradients of the initial rows. Because the backward loop is a ``Scan`` like any other, it has a
gradient too (second derivatives, ``Rop``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace as with_fields
from typing import Any

from symdl.graph.basic import Variable, clone_replace


def scan_gradient(
    op: Any, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Any]
) -> list:
    import symdl.tensor as T
    from symdl.gradient import forward_runs, grad
    from symdl.scan_module.api import scan
    from symdl.tensor.shape import shape_i

    info = op.info
    outer = op.outer_groups(list(inputs))
    inner = op.inner_groups()
    n_states, n_nit = info.n_states, info.n_nit
    state_seqs = list(outputs[:n_states])
    # outputs no cost reads send the backward loop no rows (not a sequence of zeros to add)
    grads = list(output_grads[: n_states + n_nit])

    def floating(v: Variable) -> bool:
        return v.type.is_float

    # forward steps the gradient goes through: the last `back` of the `done` steps run
    # (a while loop's from its outputs' length; else n_steps, which keeps the states' shapes unread)
    done = shape_i(outputs[0], 0) if info.as_while else outer["n_steps"]
    back = done if op.truncate_gradient < 0 else T.minimum(done, op.truncate_gradient)
    first = done - back

    # ---- what the backward loop reads of the forward body's intermediate values is kept by the
    # forward loop (an extended copy of it, which merges with it: one loop runs), not recomputed
    kept = _read_by_vjp(op)
    if kept:
        extended = extend(op, kept)
        ext_outputs = extended(*inputs)
        ext_outputs = ext_outputs if isinstance(ext_outputs, list) else [ext_outputs]
        state_seqs = ext_outputs[:n_states]
        kept_seqs = ext_outputs[n_states + n_nit :]
    else:
        kept_seqs = []

    # ---- backward sequences, indexed by forward step t in [first, done)
    b_seqs: list[Variable] = []
    seq_slots: list[tuple[int, int, Variable]] = []  # (sequence, tap, inner variable)
    for k, (values, taps, inner_taps) in enumerate(zip(outer["seqs"], info.seq_taps, inner["seqs"])):
        low = min(taps)
        for tap, var in zip(taps, inner_taps):
            b_seqs.append(values[first + tap - low : done + tap - low])
            seq_slots.append((k, tap, var))
    state_slots: list[tuple[int, int, Variable]] = []
    full_states = []
    for k, (init, history, taps, inner_taps) in enumerate(
        zip(outer["inits"], state_seqs, info.state_taps, inner["states"])
    ):
        depth = info.depth(k)
        full = T.concatenate([init, history], axis=0)  # initial rows, then every step's value
        full_states.append(full)
        for tap, var in zip(taps, inner_taps):
            b_seqs.append(full[depth + first + tap : depth + done + tap])
            state_slots.append((k, tap, var))
    b_seqs += [g[first:done] for g in grads if g is not None]
    n_out_rows = sum(g is not None for g in grads)
    b_seqs += [values[first:done] for values in kept_seqs]

    float_invariants = [k for k, v in enumerate(outer["invariants"]) if floating(v)]
    pending_init = [T.zeros_like(init) for init in outer["inits"]]
    acc_init = [T.zeros_like(outer["invariants"][k]) for k in float_invariants]

    def step(*args: Variable) -> list:
        n_b = len(b_seqs)
        rows, rest = list(args[:n_b]), list(args[n_b:])
        pending, rest = rest[:n_states], rest[n_states:]
        accs, rest = rest[: len(float_invariants)], rest[len(float_invariants) :]
        invariants = rest
        slots = len(seq_slots) + len(state_slots)
        step_inputs, given = rows[:slots], iter(rows[slots : slots + n_out_rows])
        out_grads = [next(given) if g is not None else None for g in grads]
        kept_rows = rows[slots + n_out_rows :]
        replace = dict(zip([v for _, _, v in seq_slots + state_slots], step_inputs))
        replace.update(zip(inner["invariants"], invariants))
        copies = clone_with_memo(inner["state_out"] + inner["nit_out"], replace)
        step_outputs = [copies[v] for v in inner["state_out"] + inner["nit_out"]]
        cotangents = {}
        for k, out in enumerate(step_outputs):
            g = out_grads[k]
            if k < n_states:
                g = pending[k][0] if g is None else g + pending[k][0]
            if g is not None and floating(out):
                cotangents[out] = g
        wrt = [x for x in step_inputs if floating(x)] + [invariants[k] for k in float_invariants]
        # the forward loop ran this body on the same shapes at every step: no shape checks
        with forward_runs():
            found = (
                grad(None, wrt, known_grads=cotangents, disconnected_inputs="ignore", return_disconnected="none")
                if cotangents and wrt
                else []
            )
        if kept:  # the product reads the forward loop's kept values, not their recomputation
            present = [g for g in found if g is not None]
            substituted = iter(clone_replace(present, {copies[v]: row for v, row in zip(kept, kept_rows)}))
            found = [next(substituted) if g is not None else None for g in found]
        by_var = dict(zip(wrt, found))

        def grad_of(x: Variable) -> Variable:
            g = by_var.get(x)
            return g if g is not None else T.zeros_like(x)

        new_pending = []
        for k, buffer in enumerate(pending):
            # row j: what reaches the state j + 1 steps before this one, from its tap -(j + 1)
            rows = [buffer[j + 1] if j + 1 < info.depth(k) else None for j in range(info.depth(k))]
            for (state, tap, _), x in zip(state_slots, step_inputs[len(seq_slots) :]):
                if state == k and floating(x):
                    j = -tap - 1
                    rows[j] = grad_of(x) if rows[j] is None else rows[j] + grad_of(x)
            rows = [r if r is not None else T.zeros_like(buffer[0]) for r in rows]
            new_pending.append(T.stack(rows) if len(rows) > 1 else rows[0].dimshuffle("x", *range(rows[0].ndim)))
        new_accs = [acc + grad_of(invariants[k]) for acc, k in zip(accs, float_invariants)]
        seq_grads = [grad_of(x) for x in step_inputs[: len(seq_slots)]]
        return new_pending + new_accs + seq_grads

    outputs_info = [*pending_init, *acc_init, *([None] * len(seq_slots))]
    results, _ = scan(
        step, sequences=b_seqs, outputs_info=outputs_info, non_sequences=list(outer["invariants"]), n_steps=back,
        go_backwards=True, name=f"grad_of_{info.name}", return_list=True,
    )  # fmt: skip
    pending_seqs, rest = results[:n_states], results[n_states:]
    acc_seqs, seq_grad_seqs = rest[: len(float_invariants)], rest[len(float_invariants) :]

    def last(history: Variable, initial: Variable) -> Variable:
        """The loop's last value. (Rewritten, the loop keeps only its last row, which is the
        initial value when it ran no step; unrewritten, a loop of no steps has no last value.)"""
        return history[-1]

    input_grads: list[Any] = [None]  # n_steps
    # sequences: each tap's rows of gradient, back in forward order, added where the tap reads
    for k, values in enumerate(outer["seqs"]):
        if not floating(values):
            input_grads.append(None)
            continue
        low = min(info.seq_taps[k])
        total = T.zeros_like(values)
        for (seq, tap, _), history in zip(seq_slots, seq_grad_seqs):
            if seq == k:
                total = T.inc_subtensor(total[first + tap - low : done + tap - low], history[::-1])
        input_grads.append(total)
    # initial rows: what reached the states before the first step (none through a truncation)
    for k, init in enumerate(outer["inits"]):
        if not floating(init):
            input_grads.append(None)
            continue
        g = last(pending_seqs[k], pending_init[k])[::-1]
        if op.truncate_gradient >= 0:
            g = T.switch(T.eq(first, 0), g, T.zeros_like(g))
        input_grads.append(g)
    for k in range(len(outer["invariants"])):
        if k in float_invariants:
            j = float_invariants.index(k)
            input_grads.append(last(acc_seqs[j], acc_init[j]))
        else:
            input_grads.append(None)
    return input_grads


def clone_with_memo(outputs: Sequence[Variable], replace: dict[Variable, Variable]) -> dict[Variable, Variable]:
    """Copies of the graph up to ``outputs`` with ``replace`` done: every variable to its copy."""
    from symdl.graph.basic import toposort

    memo = dict(replace)
    for node in toposort(outputs, stop_at=list(replace)):
        new = node.op.make_node(*[memo.get(i, i) for i in node.inputs])
        for old, var in zip(node.outputs, new.outputs):
            var.name, var.trace = old.name, old.trace
            memo[old] = var
    for v in outputs:
        memo.setdefault(v, v)
    return memo


def _read_by_vjp(op: Any) -> list[Variable]:
    """The forward body's intermediate values that its vector-Jacobian product reads (through view
    ops: a view is recomputed from its base, which is kept), in the body's order."""
    from symdl.gradient import forward_runs, grad
    from symdl.graph.basic import Constant, toposort

    body = op.fgraph
    inner = op.inner_groups()
    outs = inner["state_out"] + inner["nit_out"]
    seeds = {o: o.type.make_variable() for o in outs if o.type.is_float}
    wrt = [v for v in body.inputs if v.type.is_float]
    if not seeds or not wrt:
        return []
    with forward_runs():
        found = [
            g
            for g in grad(None, wrt, known_grads=seeds, disconnected_inputs="ignore", return_disconnected="none")
            if g is not None
        ]
    # the product's nodes: those that depend on a seed; what they read that does not is forward
    backward: set[Variable] = set(seeds.values())
    read: list[Variable] = []
    for node in toposort(found):
        if any(i in backward for i in node.inputs):
            backward.update(node.outputs)
            read += [i for i in node.inputs if i not in backward]
    forward_nodes = {n for n in body.apply_nodes}
    kept: list[Variable] = []
    for v in read:
        while v.owner is not None and v.owner in forward_nodes and v.owner.op.view_map == {0: [0]}:
            v = v.owner.inputs[0]
        if v.owner is not None and v.owner in forward_nodes and not isinstance(v, Constant) and v not in kept:
            kept.append(v)
    order = {v: k for k, n in enumerate(body.toposort()) for v in n.outputs}
    return sorted(kept, key=order.__getitem__)


def extend(op: Any, kept: Sequence[Variable]) -> Any:
    """``op`` with the values ``kept`` of each step as outputs after its own (the rest unchanged)."""
    from symdl.scan_module.op import Scan

    info = op.info
    inner = op.inner_groups()
    outputs = inner["state_out"] + inner["nit_out"] + list(kept) + inner["until"]
    extended = Scan(op.fgraph.inputs, outputs, with_fields(info, n_nit=info.n_nit + len(kept)))
    extended.truncate_gradient = op.truncate_gradient
    extended.extends = op
    return extended
