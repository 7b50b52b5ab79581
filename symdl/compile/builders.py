"""``OpFromGraph``: a graph packaged as one op (Theano's ``theano.compile.builders.OpFromGraph``).

The op holds its own graph from ``inputs`` to ``outputs``. Applied to variables of the inputs'
types it makes one node, which behaves like any op: it is differentiated (its gradient is another
``OpFromGraph``, so ``Rop`` and higher derivatives work too), merged with an equal application
(two ops are equal when their graphs are, whatever their variables' names), fingerprinted for the
compile cache, pickled, and lowered by the C backend into the same module as the graph around it
(the inner nodes' code inline, reading and writing the outer node's slots: no Python per call).
Its graph is rewritten once, the first time a backend needs it, and shared variables it uses
become inputs of the node (``shared_inputs``), so gradients reach them.

With ``inline=True`` the node is replaced by its graph while the outer graph is rewritten, so
the rewrites see across its boundary.

>>> import numpy as np, symdl, symdl.tensor as T
>>> x, y = T.dvector('x'), T.dvector('y')
>>> axpy = symdl.OpFromGraph([x, y], [2 * x + y], name='axpy')
>>> a, b = T.dvector('a'), T.dvector('b')
>>> f = symdl.function([a, b], axpy(a, b) + symdl.grad(axpy(a, b).sum(), a))
>>> f(np.array([1.0, 2.0]), np.array([10.0, 20.0]))
array([14., 26.])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symdl.errors import MissingInputError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Op, Variable, clone_replace, graph_inputs
from symdl.graph.fg import FunctionGraph
from symdl.graph.fingerprint import graph_text
from symdl.graph.impl import register_impl
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


class InnerGraphOp(Op):
    """An op that holds a graph of its own (``fgraph``): ``OpFromGraph``, ``Scan``, ``IfElse``.

    Two such ops are equal when their graphs have the same structure and their ``info`` (what
    else defines them) is equal; the graph is rewritten once, on the first ``inner_plan()``.

    ``run_with(node, inputs, bodies, rows)`` runs the node with ``bodies``, callables running
    the ``inner_plans()`` in order: ``perform`` passes ``py`` thunks, the CUDA backend the
    programs it compiled (with ``rows`` for the device arrays' rows, see ``Scan``).
    """

    view_map = None  # an inner output may be an inner input as it is

    def _set_graph(self, inputs: Sequence[Variable], outputs: Sequence[Variable], info: Any) -> None:
        self.fgraph = FunctionGraph(list(inputs), list(outputs), clone=True)
        self.info = info
        self._key = (graph_text(self.fgraph.inputs, self.fgraph.outputs), info)
        self._plan: Any = None
        self._thunk: Any = None

    def _props(self) -> tuple:
        return self._key

    def stable_text(self) -> str:
        """Its text for fingerprints: the structure of its graph and its info."""
        return f"{type(self).__qualname__}:{self._key[0]}:{self._key[1]!r}"

    def prepare_body(self, body: Any) -> None:
        """Give ``body`` (the inner graph or a copy about to be rewritten) what the op knows of it."""

    def inner_plan(self) -> Any:
        """The execution plan of the rewritten inner graph (rewritten once, on first use)."""
        if self._plan is None:
            from symdl.compile.plan import make_plan
            from symdl.config import config
            from symdl.rewrite import rewrite_graph

            fgraph = self.fgraph.clone()
            self.prepare_body(fgraph)
            # a body runs once per step: fewer, wider nodes pay (see symdl.rewrite.fusion)
            rewrite_graph(fgraph, config.optimizer, including="sibling_fusion")
            self._plan = make_plan(fgraph)
        return self._plan

    def inner_plans(self) -> list:
        """The plans ``run_with`` runs (a CUDA function compiles them into its module)."""
        return [self.inner_plan()]

    def inner_thunk(self) -> Any:
        """The inner plan on the ``py`` backend (what ``perform`` runs)."""
        if self._thunk is None:
            from symdl.backend.py.vm import PyThunk

            self._thunk = PyThunk(self.inner_plan())
        return self._thunk


class OpFromGraph(InnerGraphOp):
    """An op computing ``outputs`` from ``inputs`` (see the module docstring).

    Parameters
    ----------
    inputs, outputs : the graph's inputs (owner-less variables) and outputs.
    inline : replace the node by its graph while rewriting the graph that uses it.
    name : how the op prints.
    """

    view_map = None  # an inner output may be an inner input as it is

    def __init__(
        self, inputs: Sequence[Variable], outputs: Sequence[Variable], inline: bool = False, name: str | None = None
    ):
        inputs = [as_tensor_variable(v) for v in inputs]
        outputs = [as_tensor_variable(v) for v in outputs]
        for k, v in enumerate(inputs):
            if v.owner is not None or isinstance(v, Constant):
                raise TypeError(
                    f"OpFromGraph: input {k} ({describe(v)}) must be a free variable, not computed or constant"
                )
        free = [v for v in graph_inputs(outputs, stop_at=inputs) if v not in inputs and not isinstance(v, Constant)]
        missing = [v for v in free if not getattr(v, "is_shared", False)]
        if missing:
            raise MissingInputError(
                f"OpFromGraph: the outputs need {', '.join(map(describe, missing))}, which is not among its inputs"
            )
        # Shared variables become inputs of the node; inside, fresh variables stand for them.
        self.shared_inputs: list[Variable] = free
        stand_ins = [v.type.make_variable(name=v.name) for v in free]
        outputs = clone_replace(outputs, dict(zip(free, stand_ins)))
        self._set_graph([*inputs, *stand_ins], outputs, bool(inline))
        self.inline = bool(inline)
        self.name = name or "OpFromGraph"
        self._grad_op: OpFromGraph | None = None
        self._connected: list[bool] = []

    def __reduce__(self) -> tuple:
        # the graph as the user gave it (shared variables travel as what they are, with values)
        inner = self.fgraph
        n = len(inner.inputs) - len(self.shared_inputs)
        outputs = clone_replace(inner.outputs, dict(zip(inner.inputs[n:], self.shared_inputs)))
        return (OpFromGraph, (inner.inputs[:n], outputs, self.inline, self.name))

    def __str__(self) -> str:
        return self.name

    # -------------------------------------------------------------- the node
    def make_node(self, *inputs: Any) -> Apply:
        n = len(self.fgraph.inputs) - len(self.shared_inputs)
        if len(inputs) == n:
            inputs = (*inputs, *self.shared_inputs)
        if len(inputs) != len(self.fgraph.inputs):
            raise TypeError(f"{self.name} takes {n} inputs, got {len(inputs)}")
        variables = []
        for k, (given, inner) in enumerate(zip(inputs, self.fgraph.inputs)):
            v = as_tensor_variable(given)
            if getattr(v, "weak", False) and v.dtype != inner.dtype:
                from symdl.tensor.elemwise import cast

                v = cast(v, inner.dtype)
            if v.dtype != inner.dtype or v.ndim != inner.ndim:
                raise TypeMismatch(f"{self.name}: input {k} must be {inner.type}, got {v.type} ({describe(v)})")
            variables.append(v)
        return Apply(self, variables, [out.type for out in self.fgraph.outputs])

    def perform(self, node: Apply, inputs: Sequence[Any]) -> list:
        return self.run_with(node, inputs, [self.inner_thunk()], None)

    def run_with(self, node: Apply, inputs: Sequence[Any], bodies: Sequence[Any], rows: Any) -> list:
        """Run the graph once with ``bodies[0]`` (the ``py`` thunk, or the CUDA program)."""
        return list(bodies[0](list(inputs)))

    def infer_shape(self, node: Apply, input_shapes: Sequence[Sequence[Any]]) -> list:
        from symdl.rewrite.shapes import dim_key

        position = {v: k for k, v in enumerate(self.fgraph.inputs)}
        shapes = []
        for out in self.fgraph.outputs:
            dims = []
            for i in range(out.ndim):
                key = dim_key(self.fgraph, out, i)
                if key is not None and key[0] == "c":
                    dims.append(key[1])
                elif key is not None and key[0] == "d" and key[1] in position:
                    dims.append(input_shapes[position[key[1]]][key[2]])
                else:
                    raise NotImplementedError(f"{self.name}: dimension {i} of an output is computed from values")
            shapes.append(dims)
        return shapes

    # -------------------------------------------------------------- gradients
    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like

        grad_op, connected = self.grad_op()
        if grad_op is None:
            return [None] * len(inputs)
        grads = [g if g is not None else zeros_like(out) for g, out in zip(output_grads, outputs)]
        results = grad_op(*inputs, *grads)
        results = results if isinstance(results, list) else [results]
        found = iter(results)
        return [next(found) if ok else None for ok in connected]

    def grad_op(self) -> tuple[OpFromGraph | None, list[bool]]:
        """The op computing the inputs' gradients from the inputs and the outputs' gradients, and
        which inputs it has a gradient for (float inputs the outputs depend on)."""
        if not self._connected:
            from symdl.gradient import grad

            inner = self.fgraph
            seeds = [out.type.make_variable(name=f"d_{out.name or k}") for k, out in enumerate(inner.outputs)]
            floats = [v for v in inner.inputs if v.type.is_float]
            known = {out: g for out, g in zip(inner.outputs, seeds) if out.type.is_float}
            found = (
                grad(None, floats, known_grads=known, disconnected_inputs="ignore", return_disconnected="none")
                if floats and known
                else []
            )
            by_input = dict(zip(floats, found))
            connected = [by_input.get(v) is not None for v in inner.inputs]
            grads = [by_input[v] for v, ok in zip(inner.inputs, connected) if ok]
            op = (
                OpFromGraph([*inner.inputs, *seeds], grads, inline=self.inline, name=f"grad_of_{self.name}")
                if grads
                else None
            )
            self._grad_op, self._connected = op, connected
        return self._grad_op, self._connected


# ---------------------------------------------------------------- C implementation
@register_impl("cuda", OpFromGraph)
def _graph_on_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.inner_graph(node, node.op.inner_plans(), [cuda.host(v) for v in node.inputs], {})


@register_impl("c", OpFromGraph)
def _op_from_graph_in_c(node: Apply, c: Any) -> str | None:
    return c.inline_graph(node, node.op.inner_plan())


# ---------------------------------------------------------------- inline=True
def inline_op_from_graph(fgraph: FunctionGraph, node: Apply) -> list | None:
    """An ``OpFromGraph(inline=True)`` node replaced by its graph on the node's inputs (a
    canonicalize rewrite, registered in ``symdl.rewrite.canonicalize``)."""
    op = node.op
    if not isinstance(op, OpFromGraph) or not op.inline:
        return None
    return clone_replace(op.fgraph.outputs, dict(zip(op.fgraph.inputs, node.inputs)))
