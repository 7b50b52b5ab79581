"""``symdl.scan`` and the loops built on it: ``map``, ``reduce``, ``foldl``, ``foldr``.

Theano's interface, so programs port unchanged:

>>> import numpy as np, symdl, symdl.tensor as T
>>> A, k = T.dvector('A'), T.iscalar('k')
>>> result, updates = symdl.scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A),
...                              non_sequences=A, n_steps=k)
>>> power = symdl.function([A, k], result[-1], updates=updates)
>>> power(np.arange(4.0), 3)
array([ 0.,  1.,  8., 27.])
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from symdl.errors import MissingInputError, ShapeError, TypeMismatch
from symdl.graph.basic import Constant, Variable, add_call_site, clone_replace, graph_inputs
from symdl.scan_module.op import Scan, ScanInfo
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe, user_frame


class until:  # noqa: N801 (Theano's name)
    """Returned by a scan's ``fn`` (with its outputs), ends the loop after the step where
    ``condition`` is true: ``symdl.scan`` becomes a while loop of at most ``n_steps`` steps."""

    def __init__(self, condition: Any):
        condition = as_tensor_variable(condition)
        if condition.ndim != 0:
            raise ShapeError(f"until: the condition must be a scalar, got {condition.type} ({describe(condition)})")
        self.condition = condition


def scan(
    fn: Callable[..., Any],
    sequences: Any = None,
    outputs_info: Any = None,
    non_sequences: Any = None,
    n_steps: Any = None,
    truncate_gradient: int = -1,
    go_backwards: bool = False,
    mode: str | None = None,
    name: str | None = None,
    strict: bool = False,
    return_list: bool = False,
) -> tuple[Any, OrderedDict]:
    """A loop over ``sequences``, feeding ``fn``'s outputs back as ``outputs_info`` says.

    Parameters
    ----------
    fn : called once, with symbolic values: one per tap of each sequence, then one per tap of
        each output that is fed back, then the ``non_sequences``. It returns the step's outputs
        (a variable or a list), and may also return an updates dict and ``until(condition)``, in
        any order.
    sequences : variables (or ``dict(input=x, taps=[-1, 0, 1])``) iterated over their first axis.
    outputs_info : per output: its initial value (fed back as tap -1), ``dict(initial=x0,
        taps=[-2, -1])`` (``x0`` then holds as many rows as the deepest tap), or None for an
        output that is not fed back.
    non_sequences : values every step sees as they are. Shared variables and other variables
        that ``fn`` uses are found without being listed, unless ``strict``.
    n_steps : the number of steps (default: what the sequences allow); with ``until``, at most.
    truncate_gradient : back-propagate through the last this-many steps only (-1: all).
    go_backwards : iterate over the sequences from their end.
    mode : accepted for Theano's programs; the loop runs on the function's backend.
    return_list : return a list even for one output.

    Returns
    -------
    (outputs, updates) : the outputs' values at every step (stacked on a new first axis), and an
    ordered dict of the shared variables' new values, to pass to ``symdl.function(updates=...)``.
    """
    frame = user_frame()
    try:
        return _scan(fn, sequences, outputs_info, non_sequences, n_steps, truncate_gradient, go_backwards, name,
                     strict, return_list)  # fmt: skip
    except (TypeMismatch, ShapeError, MissingInputError, ValueError, TypeError) as exc:
        if frame is not None:
            add_call_site(exc)
        raise


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _scan(fn, sequences, outputs_info, non_sequences, n_steps, truncate_gradient, go_backwards, name, strict,
          return_list):  # fmt: skip
    from symdl.tensor.elemwise import cast
    from symdl.tensor.shape import dimshuffle

    name = name or "scan"
    # ---- sequences: (outer value, taps)
    seqs = []
    for k, item in enumerate(_as_list(sequences)):
        value, taps = (item.get("input"), item.get("taps", [0])) if isinstance(item, dict) else (item, [0])
        value = as_tensor_variable(value)
        if value.ndim == 0:
            raise ShapeError(f"scan: sequence {k} is a scalar ({describe(value)}); a sequence needs a first axis")
        taps = sorted(int(t) for t in _as_list(taps))
        if not taps:
            raise ValueError(f"scan: sequence {k} has no taps")
        seqs.append((value[::-1] if go_backwards else value, taps))
    # ---- outputs: (initial rows with a leading axis, taps) or None for outputs not fed back
    outs_info = _as_list(outputs_info) if isinstance(outputs_info, list | tuple) else [outputs_info]
    if outputs_info is None:
        outs_info = []
    states: list[tuple[Variable, list[int], Variable] | None] = []
    for k, item in enumerate(outs_info):
        if isinstance(item, dict):
            initial, taps = item.get("initial"), item.get("taps")
            if initial is None:
                states.append(None)
                continue
            taps = [-1] if taps is None else sorted(int(t) for t in _as_list(taps))
        elif item is None:
            states.append(None)
            continue
        else:
            initial, taps = item, [-1]
        initial = as_tensor_variable(initial)
        if not taps or any(t >= 0 for t in taps):
            raise ValueError(f"scan: the taps of output {k} must be negative, got {taps}")
        depth = max(-t for t in taps)
        if taps == [-1]:
            rows, row_type = dimshuffle(initial, ["x", *range(initial.ndim)]), initial
        else:
            if initial.ndim == 0:
                raise ShapeError(
                    f"scan: output {k} has taps {taps}: its initial value needs a first axis of {depth} rows"
                )
            if initial.type.shape[0] is not None and initial.type.shape[0] < depth:
                raise ShapeError(
                    f"scan: output {k} has taps {taps} but its initial value has {initial.type.shape[0]} rows"
                )
            rows, row_type = initial[-depth:], initial[0]
        states.append((rows, taps, row_type))
    non_seqs = [as_tensor_variable(v) for v in _as_list(non_sequences)]

    # ---- the step's symbolic arguments
    args: list[Variable] = []
    seq_vars: list[list[Variable]] = []
    for k, (value, taps) in enumerate(seqs):
        row = value.type.shape[1:]
        label = value.name or f"sequence{k}"
        vars_ = [TensorType(value.dtype, row).make_variable(name=f"{label}[t{t:+d}]") for t in taps]
        seq_vars.append(vars_)
        args += vars_
    state_vars: list[list[Variable]] = []
    for k, state in enumerate(states):
        if state is None:
            continue
        _, taps, row_type = state
        label = row_type.name or f"output{k}"
        vars_ = [row_type.type.make_variable(name=f"{label}[t{t}]") for t in taps]
        state_vars.append(vars_)
        args += vars_
    non_seq_vars = [v.type.make_variable(name=v.name) for v in non_seqs]
    args += non_seq_vars

    outputs, updates, condition = _parse_step(fn(*args))
    if not outs_info:
        states = [None] * len(outputs)
    if len(outputs) != len(states):
        raise ValueError(f"scan: fn returned {len(outputs)} outputs but outputs_info describes {len(states)}")

    # ---- recurrent outputs must keep their initial value's type
    state_out, nit_out = [], []
    for k, (out, state) in enumerate(zip(outputs, states)):
        if state is None:
            nit_out.append(out)
            continue
        row_type = state[2]
        if getattr(out, "weak", False) and out.dtype != row_type.dtype:
            out = cast(out, row_type.dtype)
        if out.dtype != row_type.dtype or out.ndim != row_type.ndim or not _shapes_agree(out, row_type):
            raise TypeMismatch(
                f"scan: fn's output {k} is {out.type} ({describe(out)}) but its initial value in outputs_info is "
                f"{row_type.type} ({describe(row_type)}): an output fed back must keep its dtype, number of "
                f"dimensions and known sizes"
                + ("; cast the output or the initial value" if out.dtype != row_type.dtype else "")
            )
        state_out.append(out)

    # fn may use a listed non-sequence itself rather than its argument (Theano's layers do): the
    # body reads the argument then
    listed = {v: var for v, var in zip(non_seqs, non_seq_vars) if v.owner is None and not isinstance(v, Constant)}
    if listed:
        state_out = clone_replace(state_out, listed)
        nit_out = clone_replace(nit_out, listed)
        updates = OrderedDict(zip(updates, clone_replace(list(updates.values()), listed)))
        if condition is not None:
            condition = clone_replace([condition], listed)[0]

    # ---- shared variables: updated ones are recurrent states (from their value, tap -1); the
    # others, and any other variable fn used, are invariants
    carried: OrderedDict[Variable, Variable] = OrderedDict()
    for var, expr in updates.items():
        if not getattr(var, "is_shared", False):
            raise TypeMismatch(f"scan: the updates of fn must be of shared variables, got {describe(var)}")
        expr = as_tensor_variable(expr)
        if expr.dtype != var.dtype:
            expr = cast(expr, var.dtype)
        carried[var] = expr

    def ends() -> list[Variable]:
        return [*state_out, *carried.values(), *nit_out, *([condition] if condition is not None else [])]

    def free_variables() -> list[Variable]:
        return [v for v in graph_inputs(ends(), stop_at=args) if v not in args and not isinstance(v, Constant)]

    for var in free_variables():  # random streams: a state whose default update is drawn in the body
        update = getattr(var, "default_update", None)
        if update is not None and var not in carried and var in graph_inputs([update]):
            carried[var] = update
    invariants = [v for v in free_variables() if v not in carried]
    if strict and invariants:
        raise MissingInputError(
            f"scan(strict=True): fn uses {', '.join(describe(v) for v in invariants)}, which is not among the non_sequences"
        )
    carried_vars = [v.type.make_variable(name=f"{v.name or 'shared'}[t-1]") for v in carried]
    invariant_vars = [v.type.make_variable(name=v.name) for v in invariants]
    replace = dict(zip(carried, carried_vars))
    replace.update(zip(invariants, invariant_vars))
    inner_outputs = clone_replace(ends(), replace)

    steps = _n_steps(n_steps, seqs)
    info = ScanInfo(
        seq_taps=tuple(tuple(t) for _, t in seqs),
        state_taps=tuple(tuple(s[1]) for s in states if s is not None) + ((-1,),) * len(carried),
        n_nit=len(nit_out),
        n_invariants=len(non_seqs) + len(invariants),
        as_while=condition is not None,
        name=name,
    )
    inner_inputs = [v for vs in seq_vars for v in vs] + [v for vs in state_vars for v in vs]
    inner_inputs += carried_vars + non_seq_vars + invariant_vars
    op = Scan(inner_inputs, inner_outputs, info)
    op.truncate_gradient = int(truncate_gradient)
    carried_rows = [dimshuffle(v, ["x", *range(v.ndim)]) for v in carried]
    outer_inputs = [steps, *(v for v, _ in seqs), *(s[0] for s in states if s is not None), *carried_rows, *non_seqs,
                    *invariants]  # fmt: skip
    results = op(*outer_inputs)
    results = results if isinstance(results, list) else [results]
    n_user_states = info.n_states - len(carried)

    # ---- the outputs in the order fn returned them
    state_results = iter(results[:n_user_states])
    nit_results = iter(results[info.n_states :])
    ordered = [next(nit_results) if s is None else next(state_results) for s in states]
    for out, given in zip(ordered, outputs):
        out.name = f"{given.name}[all steps]" if given.name else None
    new_updates: OrderedDict[Variable, Variable] = OrderedDict()
    for var, history in zip(carried, results[n_user_states : info.n_states]):
        final = history[-1]
        new_updates[var] = final
        if getattr(var, "default_update", None) is not None:
            var.default_update = final  # a random stream drawn in the body advances by the loop
    if len(ordered) == 1 and not return_list:
        return ordered[0], new_updates
    return ordered, new_updates


def _shapes_agree(a: Variable, b: Variable) -> bool:
    return all(x is None or y is None or x == y for x, y in zip(a.type.shape, b.type.shape))


def _parse_step(result: Any) -> tuple[list[Variable], dict, Variable | None]:
    """fn's outputs, updates and until-condition, returned in any order."""
    outputs: list[Variable] = []
    updates: dict = {}
    condition = None
    items = list(result) if isinstance(result, tuple | list) else [result]
    # a list of (shared, expression) pairs is an updates list, as Theano accepts
    for item in items:
        if isinstance(item, until):
            condition = item.condition
        elif isinstance(item, dict):
            updates.update(item)
        elif isinstance(item, list | tuple) and item and all(isinstance(p, tuple) and len(p) == 2 for p in item):
            updates.update(item)
        elif isinstance(item, list | tuple):
            outputs += [as_tensor_variable(v) for v in item]
        elif item is not None:
            outputs.append(as_tensor_variable(item))
    return outputs, updates, condition


def _n_steps(n_steps: Any, seqs: Sequence[tuple[Variable, list[int]]]) -> Variable:
    from symdl.tensor.elemwise import cast, minimum
    from symdl.tensor.shape import shape_i

    if n_steps is not None:
        n = as_tensor_variable(n_steps)
        if n.ndim != 0 or n.dtype[0] not in "iu":
            raise TypeMismatch(f"scan: n_steps must be an integer scalar, got {n.type}")
        return cast(n, "int64")
    if not seqs:
        raise ValueError("scan: without sequences, n_steps must be given")
    known: list[int] = []
    symbolic: list[Variable] = []
    for value, taps in seqs:
        span = max(taps) - min(taps)
        if value.type.shape[0] is not None:
            known.append(value.type.shape[0] - span)
        else:
            symbolic.append(shape_i(value, 0) - span)
    steps: Any = min(known) if known else None
    for length in symbolic:
        steps = length if steps is None else minimum(steps, length)
    return cast(as_tensor_variable(steps), "int64")


def map(fn: Callable[..., Any], sequences: Any, non_sequences: Any = None, truncate_gradient: int = -1,
        go_backwards: bool = False, mode: str | None = None, name: str | None = None) -> tuple[Any, OrderedDict]:  # fmt: skip
    """``fn`` applied to each element of ``sequences`` (Theano's ``map``).

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> squares, _ = symdl.map(lambda v: v * v, x)
    >>> symdl.function([x], squares)(np.array([1.0, 2.0, 3.0]))
    array([1., 4., 9.])
    """
    return scan(fn, sequences, None, non_sequences, truncate_gradient=truncate_gradient, go_backwards=go_backwards,
                name=name or "map")  # fmt: skip


def reduce(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any = None,
           go_backwards: bool = False, mode: str | None = None, name: str | None = None) -> tuple[Any, OrderedDict]:  # fmt: skip
    """The last value of a loop (Theano's ``reduce``): ``fn(element, accumulator)``.

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> total, _ = symdl.reduce(lambda v, acc: acc + v, x, T.constant(0.0))
    >>> float(symdl.function([x], total)(np.array([1.0, 2.0, 3.0])))
    6.0
    """
    outputs, updates = scan(fn, sequences, outputs_info, non_sequences, go_backwards=go_backwards,
                            name=name or "reduce", return_list=True)  # fmt: skip
    last = [out[-1] for out in outputs]
    return (last[0] if len(last) == 1 else last), updates


def foldl(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any = None,
          mode: str | None = None, name: str | None = None) -> tuple[Any, OrderedDict]:  # fmt: skip
    """``reduce`` from the first element."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=False, name=name or "foldl")


def foldr(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any = None,
          mode: str | None = None, name: str | None = None) -> tuple[Any, OrderedDict]:  # fmt: skip
    """``reduce`` from the last element."""
    return reduce(fn, sequences, outputs_info, non_sequences, go_backwards=True, name=name or "foldr")
