"""``ifelse``: a lazy branch (Theano's ``theano.ifelse.ifelse``).

``ifelse(condition, then_branch, else_branch)`` computes only the branch that the scalar
``condition`` selects, on every backend: the work that serves one branch alone is inside the
node, as a graph of its own, and runs only when that branch is taken. (``switch``/``where``
computes both sides, elementwise.)

>>> import numpy as np, symdl, symdl.tensor as T
>>> from symdl.ifelse import ifelse
>>> a, b = T.dscalar('a'), T.dscalar('b')
>>> x, y = T.dvector('x'), T.dvector('y')
>>> f = symdl.function([a, b, x, y], ifelse(T.lt(a, b), T.mean(x), T.mean(y)))
>>> float(f(1.0, 2.0, np.array([1.0, 3.0]), np.array([10.0, 20.0])))
2.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symdl.compile.builders import InnerGraphOp
from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Variable, add_call_site, clone_replace, toposort
from symdl.graph.fg import FunctionGraph
from symdl.graph.impl import register_impl
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


class IfElse(InnerGraphOp):
    """The outputs of one of two graphs over the same inputs, chosen by a scalar condition.

    Inputs: the condition, then the values both graphs read; outputs: the taken graph's."""

    def __init__(self, inputs: Sequence[Variable], then_outputs: Sequence[Variable], else_outputs: Sequence[Variable],
                 name: str | None = None):  # fmt: skip
        self.n_outputs = len(then_outputs)
        self._set_graph(inputs, [*then_outputs, *else_outputs], self.n_outputs)
        self.name = name or "ifelse"
        self._branch_plans: dict[bool, Any] = {}
        self._branch_thunks: dict[bool, Any] = {}
        self._grad_op: IfElse | None = None

    def __reduce__(self) -> tuple:
        outs = self.fgraph.outputs
        return (IfElse, (self.fgraph.inputs, outs[: self.n_outputs], outs[self.n_outputs :], self.name))

    def __str__(self) -> str:
        return self.name

    def branch_plan(self, taken: bool) -> Any:
        """The execution plan of one branch (rewritten once, on first use)."""
        if taken not in self._branch_plans:
            from symdl.compile.plan import make_plan
            from symdl.config import config
            from symdl.rewrite import rewrite_graph

            outs = self.fgraph.outputs
            chosen = outs[: self.n_outputs] if taken else outs[self.n_outputs :]
            fgraph = FunctionGraph(self.fgraph.inputs, chosen, clone=True)
            rewrite_graph(fgraph, config.optimizer)
            self._branch_plans[taken] = make_plan(fgraph)
        return self._branch_plans[taken]

    def make_node(self, condition: Any, *inputs: Any) -> Apply:
        condition = as_tensor_variable(condition)
        if condition.ndim != 0:
            raise ShapeError(
                f"{self.name}: the condition must be a scalar, got {condition.type} ({describe(condition)})"
            )
        inputs = [as_tensor_variable(v) for v in inputs]
        if len(inputs) != len(self.fgraph.inputs):
            raise TypeError(f"{self.name} takes {len(self.fgraph.inputs) + 1} inputs, got {len(inputs) + 1}")
        for value, var in zip(inputs, self.fgraph.inputs):
            if value.dtype != var.dtype or value.ndim != var.ndim:
                raise TypeMismatch(f"{self.name}: {describe(value)} is {value.type}, the branches read {var.type}")
        outs = self.fgraph.outputs
        types = [_common_type(a, b) for a, b in zip(outs[: self.n_outputs], outs[self.n_outputs :])]
        return Apply(self, [condition, *inputs], types)

    def perform(self, node: Apply, inputs: Sequence[Any]) -> list:
        return self.run_with(node, inputs, [self._branch_thunk(True), self._branch_thunk(False)], None)

    def _branch_thunk(self, taken: bool) -> Any:
        """A branch on the ``py`` backend, compiled when first run."""

        def run(args: list) -> list:
            if taken not in self._branch_thunks:
                from symdl.backend.py.vm import PyThunk

                self._branch_thunks[taken] = PyThunk(self.branch_plan(taken))
            return self._branch_thunks[taken](args)

        return run

    def run_with(self, node: Apply, inputs: Sequence[Any], bodies: Sequence[Any], rows: Any) -> list:
        """Run the branch the condition takes: ``bodies`` run the then and the else branch;
        ``rows`` (None for NumPy values) brings the condition to the host."""
        condition = inputs[0] if rows is None else rows.scalar(inputs[0])
        return list(bodies[0 if bool(condition) else 1](list(inputs[1:])))

    def inner_plans(self) -> list:
        """The plans ``run_with`` runs: the then branch's and the else branch's."""
        return [self.branch_plan(True), self.branch_plan(False)]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Any]) -> list:
        from symdl.gradient import grad
        from symdl.tensor.creation import zeros_like

        condition, *values = inputs
        seeds = [g if g is not None else zeros_like(out) for g, out in zip(output_grads, outputs)]
        inner = self.fgraph.inputs
        floats = [k for k, v in enumerate(inner) if v.type.is_float]
        if not floats:
            return [None] * len(inputs)
        seed_vars = [s.type.make_variable(name="d_out") for s in seeds]
        branches = []
        for outs in (self.fgraph.outputs[: self.n_outputs], self.fgraph.outputs[self.n_outputs :]):
            known = {o: g for o, g in zip(outs, seed_vars) if o.type.is_float}
            found = (
                grad(None, [inner[k] for k in floats], known_grads=known, disconnected_inputs="ignore") if known else []
            )
            found = found or [zeros_like(inner[k]) for k in floats]
            branches.append(found)
        op = IfElse([*inner, *seed_vars], branches[0], branches[1], name=f"grad_of_{self.name}")
        results = op(condition, *values, *seeds)
        results = results if isinstance(results, list) else [results]
        by_input = dict(zip(floats, results))
        return [None] + [by_input.get(k) for k in range(len(values))]


def _common_type(a: Variable, b: Variable) -> TensorType:
    shape = tuple(x if x == y else None for x, y in zip(a.type.shape, b.type.shape))
    return TensorType(a.dtype, shape)


def ifelse(condition: Any, then_branch: Any, else_branch: Any, name: str | None = None) -> Any:
    """``then_branch`` if the scalar ``condition`` is true, else ``else_branch``, computing only the
    branch taken. Each branch is a variable or a list of variables (of the same types, pairwise).

    The work that only one branch needs (found from the graphs as they are now) runs inside the
    node when that branch is taken; values that the condition or both branches need are computed
    before it.
    """
    as_list = isinstance(then_branch, list | tuple)
    thens = [as_tensor_variable(v) for v in (then_branch if as_list else [then_branch])]
    elses = [as_tensor_variable(v) for v in (else_branch if isinstance(else_branch, list | tuple) else [else_branch])]
    condition = as_tensor_variable(condition)
    try:
        if len(thens) != len(elses):
            raise ValueError(f"ifelse: {len(thens)} values in then_branch but {len(elses)} in else_branch")
        from symdl.tensor.elemwise import cast

        for k, (a, b) in enumerate(zip(thens, elses)):
            if a.dtype != b.dtype and (getattr(a, "weak", False) or getattr(b, "weak", False)):
                a, b = (cast(a, b.dtype), b) if getattr(a, "weak", False) else (a, cast(b, a.dtype))
                thens[k], elses[k] = a, b
            if a.dtype != b.dtype or a.ndim != b.ndim:
                raise TypeMismatch(
                    f"ifelse: branch values {k} differ: {a.type} ({describe(a)}) and {b.type} ({describe(b)})"
                )
        if condition.ndim != 0:
            raise ShapeError(f"ifelse: the condition must be a scalar, got {condition.type} ({describe(condition)})")
    except (ValueError, TypeMismatch, ShapeError) as exc:
        add_call_site(exc)
        raise
    # what one branch alone needs goes inside; what the condition or both need stays outside
    outside = _ancestors([condition])
    then_side, else_side = _ancestors(thens), _ancestors(elses)
    shared = outside | (then_side & else_side)
    cuts: list[Variable] = []
    for ends in (thens, elses):
        for node in toposort(ends):
            if node.outputs[0] in shared:
                continue
            for v in node.inputs:
                if (v in shared or v.owner is None) and not isinstance(v, Constant) and v not in cuts:
                    cuts.append(v)
        for v in ends:
            if (v in shared or v.owner is None) and not isinstance(v, Constant) and v not in cuts:
                cuts.append(v)
    stand_ins = [v.type.make_variable(name=v.name) for v in cuts]
    replace = dict(zip(cuts, stand_ins))
    inner_then, inner_else = clone_replace(thens, replace), clone_replace(elses, replace)
    op = IfElse(stand_ins, inner_then, inner_else, name=name)
    results = op(condition, *cuts)
    results = results if isinstance(results, list) else [results]
    return results if as_list else results[0]


def _ancestors(ends: Sequence[Variable]) -> set[Variable]:
    found = set(ends)
    for node in toposort(ends):
        found.update(node.inputs)
        found.update(node.outputs)
    return found


@register_impl("cuda", IfElse)
def _ifelse_on_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.inner_graph(node, node.op.inner_plans(), [cuda.host(v) for v in node.inputs[1:]], {})


@register_impl("c", IfElse)
def _ifelse_in_c(node: Apply, c: Any) -> Any:
    condition = node.inputs[0]
    if not c.has_ctype(condition.dtype):
        return None
    taken = c.inline_graph(node, node.op.branch_plan(True), inputs=node.inputs[1:])
    skipped = c.inline_graph(node, node.op.branch_plan(False), inputs=node.inputs[1:])
    if taken is None or skipped is None:
        return None
    return c.branch(condition, taken, skipped)
