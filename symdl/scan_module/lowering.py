"""The C implementation of ``Scan``: the loop runs in the generated driver, its body inline.

Per step, each sequence tap's slot becomes a view of the sequence's row and each state tap's a
view of a row of the state's store (its initial rows, then one row per step); the body's nodes
run as they would outside a loop (intermediates released each step, their buffers reused by the
next); each new state value is computed in its row of the store, and each other output in its
row of its array (allocated at the first step, once its row shape is known), where the node
making it allocates its value (a view, or a body input passed through, is copied into the row
instead); a while loop stops after the
step whose condition is true. The outputs are views of the stores' step rows (a state keeping
only its last rows has a store of that many rows, used as a ring, and they are copied out in
order at the end). No Python runs per step; a loop of no steps (whose rows' shapes the body
never showed) runs the op's ``perform``.

On CUDA the body is compiled into the function's module and ``Scan.run_with`` launches its
kernels step after step from the host: sequences, states and outputs stay on the device (rows
are views, each step's values are copied into their rows by a kernel), so nothing crosses to the
host per step except a while loop's condition.
"""

from __future__ import annotations

from typing import Any

from symdl.backend import MAXDIM
from symdl.graph.basic import Apply, Constant
from symdl.graph.impl import find_impl, register_impl
from symdl.scan_module.op import Scan
from symdl.tensor.scalar_code import C_TYPES


def _pieces_made_in_place(body: Any, out: Any) -> list[tuple[Any, int, int, int]]:
    """``(piece, axis, start, count)`` for each input of ``out`` when ``out`` is a concatenation
    of values that elementwise ops of the body make, each read by nothing else and of a static
    size along the axis: each can be made in its part of ``out``'s row. Else nothing."""
    from symdl.tensor.composite import Composite
    from symdl.tensor.elemwise import Elemwise
    from symdl.tensor.shape import Join

    node = out.owner
    if node is None or not isinstance(node.op, Join) or out in body.inputs:
        return []
    axis = node.op.axis % out.ndim
    pieces, start = [], 0
    for piece in node.inputs:
        maker = piece.owner
        count = piece.type.shape[axis]
        if (
            maker is None
            or not isinstance(maker.op, Composite | Elemwise)
            or count is None
            or piece.dtype != out.dtype
            or piece in body.outputs
            or body.clients.get(piece) != [(node, len(pieces))]
        ):
            return []
        pieces.append((piece, axis, start, count))
        start += count
    return pieces


def _scan_in_c(node: Apply, c: Any) -> Any:
    from symdl.backend.c.codegen import CStatements

    op: Scan = node.op
    info = op.info
    plan = op.inner_plan()
    body = plan.fgraph
    # the rewritten body has the op's grouping (its inputs and outputs in the same order)
    groups = op.inner_groups(body)
    outer = op.outer_groups(node.inputs)
    ok = all(c.has_ctype(v.dtype) for v in node.inputs + node.outputs)
    if not ok or outer["n_steps"].dtype != "int64":
        return None
    k, n, done, t = c.k, c.fresh_name("n"), c.fresh_name("done"), c.fresh_name("t")
    lines = CStatements()
    lines.append(f"const int64_t {n} = *(const int64_t *)ctx->v[{c.slot(outer['n_steps'])}].data;")
    # rows the sequences need; a loop of no steps, or sequences too short, go to perform (its errors)
    checks = [f"{n} <= 0"]
    for value, taps in zip(outer["seqs"], info.seq_taps):
        checks.append(f"ctx->v[{c.slot(value)}].shape[0] < {n} + {max(taps) - min(taps)}")
    for s, init in enumerate(outer["inits"]):
        checks.append(f"ctx->v[{c.slot(init)}].shape[0] != {info.depth(s)}")
    lines.append(f"if ({' || '.join(checks)}) {{")
    lines.append(f"    SD_TRY({c.call_back(node)});")
    lines.append("} else {")
    inner = CStatements()
    # invariants: the body reads the outer slots
    for inner_var, outer_var in zip(groups["invariants"], outer["invariants"]):
        c.slots[inner_var] = c.slot(outer_var)
    stores = []
    for s, init in enumerate(outer["inits"]):
        depth, keep = info.depth(s), info.kept_rows(s)
        store = c.slot(init.type.make_variable(name="store"))
        rows = f"{depth} + {n}" if keep is None else str(depth + keep)
        inner.append(f"SD_TRY(A->alloc_rows(ctx, {k}, {store}, {c.slot(init)}, 1, {rows}));")
        inner.append(f"SD_TRY(A->set_rows(ctx, {k}, {store}, 0, {c.slot(init)}, 1));")
        stores.append((store, depth, keep))
    nit_stores = [c.slot(out.type.make_variable(name="store")) for out in node.outputs[info.n_states :]]
    inner.append(f"int64_t {done} = {n};")
    inner.append(f"for (int64_t {t} = 0; {t} < {n}; {t}++) {{")
    step = CStatements()
    for value, taps, vars_ in zip(outer["seqs"], info.seq_taps, groups["seqs"]):
        low = min(taps)
        for tap, var in zip(taps, vars_):
            step.append(f"SD_TRY(A->row_view(ctx, {k}, {c.slot(var)}, {c.slot(value)}, {t} + {tap - low}));")
    for (store, depth, keep), taps, vars_ in zip(stores, info.state_taps, groups["states"]):
        for tap, var in zip(taps, vars_):
            row = _row(f"{t} + {depth + tap}", depth, keep)
            step.append(f"SD_TRY(A->row_view(ctx, {k}, {c.slot(var)}, {store}, {row}));")
    # each new value that a body node makes is computed in its row of the store (a nit's from the
    # second step, once its store exists), sparing a copy per step; set_rows then copies nothing
    produced = {v for inner_node in plan.order for v in inner_node.outputs}
    rows_of: dict[Any, int] = {}
    outs_in_stores = [
        (store, _row(f"{t} + {depth}", depth, keep), out, "")
        for (store, depth, keep), out in zip(stores, groups["state_out"])
    ]
    nit_rows = [f"({n} - 1 - {t})" if info.rows_reversed(j) else t for j in range(info.n_nit)]
    outs_in_stores += [
        (store, row, out, f"if ({t} > 0) ") for store, row, out in zip(nit_stores, nit_rows, groups["nit_out"])
    ]
    parts_of: dict[Any, int] = {}
    for store, row, out, guard in outs_in_stores:
        if out in produced and out not in rows_of:
            rows_of[out] = c.slot(out.type.make_variable(name="row"))
            # the pieces of a row concatenated from elementwise results are made in their parts
            # of it, and the concatenation copies nothing
            parts = ""
            for piece, axis, start, count in _pieces_made_in_place(body, out):
                parts_of[piece] = c.slot(piece.type.make_variable(name="part"))
                parts += (
                    f" SD_TRY(A->part_view(ctx, {k}, {parts_of[piece]}, {rows_of[out]}, {axis}, {start}, {count}));"
                    f" A->target_part(ctx, {c.slot(piece)}, {parts_of[piece]});"
                )
            step.append(
                f"{guard}{{ SD_TRY(A->row_view(ctx, {k}, {rows_of[out]}, {store}, {row})); "
                f"A->target(ctx, {c.slot(out)}, {rows_of[out]});{parts} }}"
            )
    for inner_node, free in zip(plan.order, plan.frees):
        impl = find_impl("c", inner_node.op)
        call = None
        if impl is not None and all(v.ndim <= MAXDIM for v in inner_node.inputs + inner_node.outputs):
            call = impl(inner_node, c)
        if call is None:
            return None
        step.append(f"/* {str(inner_node.op).replace('*/', '* /')} */")
        step.extend(call if isinstance(call, CStatements) else [f"SD_TRY({call});"])
        step.extend(f"A->release(ctx, {c.slot(v)});" for v in free)
    body_inputs = set(body.inputs)
    for (store, depth, keep), out in zip(stores, groups["state_out"]):
        step.append(f"SD_TRY(A->set_rows(ctx, {k}, {store}, {_row(f'{t} + {depth}', depth, keep)}, {c.slot(out)}, 0));")
    for store, row, out in zip(nit_stores, nit_rows, groups["nit_out"]):
        step.append(f"if ({t} == 0) SD_TRY(A->alloc_rows(ctx, {k}, {store}, {c.slot(out)}, 0, {n}));")
        step.append(f"SD_TRY(A->set_rows(ctx, {k}, {store}, {row}, {c.slot(out)}, 0));")
    for out, row in [*rows_of.items(), *parts_of.items()]:
        step.append(f"A->target(ctx, {c.slot(out)}, -1);")
        step.append(f"A->release(ctx, {row});")
    released = set()
    for out in groups["state_out"] + groups["nit_out"]:
        if out not in body_inputs and not isinstance(out, Constant) and out not in released:
            released.add(out)
            step.append(f"A->release(ctx, {c.slot(out)});")
    if info.as_while:
        (condition,) = groups["until"]
        stop = c.fresh_name("stop")
        test = f"*(const {C_TYPES[condition.dtype]} *)ctx->v[{c.slot(condition)}].data != 0"
        step.append(f"const int {stop} = {test};")
        if condition not in body_inputs and not isinstance(condition, Constant):
            step.append(f"A->release(ctx, {c.slot(condition)});")
        step.append(f"if ({stop}) {{ {done} = {t} + 1; break; }}")
    inner.extend(f"    {line}" for line in step)
    inner.append("}")
    # the outputs: each state's step rows (the last `keep` ones, in order), each other output's
    for (store, depth, keep), result in zip(stores, node.outputs[: info.n_states]):
        if keep is None:
            inner.append(f"SD_TRY(A->rows_view(ctx, {k}, {c.slot(result)}, {store}, {depth}, {done}));")
        else:
            # the last `keep` rows of the initial rows followed by the steps' (a ring of depth + keep rows)
            count = f"({depth} + {done} < {keep} ? {depth} + {done} : {keep})"
            row = c.slot(result.type.make_variable(name="row"))
            j = c.fresh_name("j")
            inner.append(f"SD_TRY(A->alloc_rows(ctx, {k}, {c.slot(result)}, {store}, 1, {count}));")
            inner.append(f"for (int64_t {j} = 0; {j} < {count}; {j}++) {{")
            source = f"(({depth} + {done} - {count} + {j}) % {depth + keep})"
            inner.append(f"    SD_TRY(A->row_view(ctx, {k}, {row}, {store}, {source}));")
            inner.append(f"    SD_TRY(A->set_rows(ctx, {k}, {c.slot(result)}, {j}, {row}, 0));")
            inner.append(f"    A->release(ctx, {row});")
            inner.append("}")
        inner.append(f"A->release(ctx, {store});")
    for store, result in zip(nit_stores, node.outputs[info.n_states :]):
        inner.append(f"SD_TRY(A->rows_view(ctx, {k}, {c.slot(result)}, {store}, 0, {done}));")
        inner.append(f"A->release(ctx, {store});")
    for var in [v for vs in groups["seqs"] + groups["states"] for v in vs]:
        inner.append(f"A->release(ctx, {c.slot(var)});")
    lines.extend(f"    {line}" for line in inner)
    lines.append("}")
    return lines


def _row(index: str, depth: int, keep: int | None) -> str:
    """The store's row of step-relative index ``index`` (a ring of ``depth + keep`` rows when
    only the last ``keep`` steps are kept)."""
    return index if keep is None else f"(({index}) % {depth + keep})"


def _scan_on_cuda(node: Apply, cuda: Any) -> Any:
    op: Scan = node.op
    info = op.info
    outer = op.outer_groups(node.inputs)
    # Integer states that start on the host (counters, indices) stay there, as shape arithmetic
    # does; every other state lives on the device, even where its initial value is a constant.
    state_host = [
        cuda.host(init) and init.ndim <= 2 and (init.dtype == "bool" or init.dtype[0] in "iu")
        for init in outer["inits"]
    ]
    input_host = [cuda.host(seq) for seq, taps in zip(outer["seqs"], info.seq_taps) for _ in taps]
    input_host += [host for host, taps in zip(state_host, info.state_taps) for _ in taps]
    input_host += [cuda.host(v) for v in outer["invariants"]]
    return cuda.inner_graph(node, op.inner_plans(), input_host, dict(enumerate(state_host)))


register_impl("c", Scan)(_scan_in_c)
register_impl("cuda", Scan)(_scan_on_cuda)
