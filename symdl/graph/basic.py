"""The IR: types, variables, constants, applications of ops, and the Op protocol.

A graph is built by calling ops; each call makes an ``Apply`` node whose outputs are new
``Variable``s. Graphs are immutable in spirit: ``clone`` and ``FunctionGraph.replace`` are the
only ways to change one.

>>> import symdl.tensor as T
>>> x = T.vector('x')
>>> y = T.exp(x)
>>> y.owner.op.name, y.owner.inputs[0] is x
('exp', True)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from symdl.errors import SymdlError
from symdl.utils import UserFrame, user_frame

_ids = itertools.count()


class Type:
    """What values a variable may hold. Subclasses define equality, ``filter`` and ``make_variable``."""

    def filter(self, value: Any) -> Any:
        """Return ``value`` converted to this type, or raise ``TypeMismatch``."""
        raise NotImplementedError

    def make_variable(self, name: str | None = None) -> Variable:
        return Variable(self, name=name)

    def is_super(self, other: Type) -> bool:
        """Whether every value of ``other`` is a value of ``self``."""
        return self == other


class Variable:
    """A symbolic value: an input (no owner) or the ``index``-th output of its ``owner`` Apply."""

    __slots__ = ("type", "owner", "index", "name", "trace", "tag", "auto_name")

    def __init__(self, type: Type, owner: Apply | None = None, index: int | None = None, name: str | None = None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.trace: UserFrame | None = user_frame()
        self.tag: dict[str, Any] = {}
        self.auto_name = f"var{next(_ids)}"

    def clone(self) -> Variable:
        """A new owner-less variable of the same type, name and creation trace."""
        new = type(self).__new__(type(self))
        new.type, new.owner, new.index, new.name = self.type, None, None, self.name
        new.trace, new.tag, new.auto_name = self.trace, dict(self.tag), f"var{next(_ids)}"
        return new

    def __repr__(self) -> str:
        return self.name or (f"{self.owner.op}.out" if self.owner else self.auto_name)

    def eval(self, inputs: dict | None = None) -> Any:
        """Compile and run this variable on the given {variable: value} inputs (slow; for the REPL).

        >>> import symdl.tensor as T
        >>> x = T.dvector('x')
        >>> (x * 2).eval({x: [1.0, 2.0]})
        array([2., 4.])
        """
        from symdl.compile.function import function

        inputs = inputs or {}
        fn = function(list(inputs), self, on_unused_input="ignore")
        return fn(*inputs.values())


class Constant(Variable):
    """A variable with a fixed value known at graph-build time."""

    __slots__ = ("data",)

    def __init__(self, type: Type, data: Any, name: str | None = None):
        super().__init__(type, name=name)
        self.data = type.filter(data)

    def clone(self) -> Constant:
        new = super().clone()
        new.data = self.data
        return new

    def signature(self) -> tuple:
        """A hashable key; equal keys mean interchangeable constants (used by merge)."""
        return (self.type, self.data)

    def __repr__(self) -> str:
        return self.name or repr(self.data)


class Apply:
    """One application of an op to input variables, producing output variables."""

    __slots__ = ("op", "inputs", "outputs", "tag")

    def __init__(self, op: Op, inputs: Sequence[Variable], output_types: Sequence[Type]):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = [t.make_variable() for t in output_types]
        for i, out in enumerate(self.outputs):
            out.owner, out.index = self, i
        self.tag: dict[str, Any] = {}

    @property
    def out(self) -> Variable:
        if len(self.outputs) != 1:
            raise ValueError(f"{self.op} has {len(self.outputs)} outputs; use .outputs")
        return self.outputs[0]

    def clone_with_new_inputs(self, inputs: Sequence[Variable]) -> Apply:
        """The same op on other inputs of the same types; outputs keep names and traces."""
        node = Apply.__new__(Apply)
        node.op, node.inputs, node.tag = self.op, list(inputs), dict(self.tag)
        node.outputs = []
        for i, old in enumerate(self.outputs):
            new = old.clone()
            new.owner, new.index = node, i
            node.outputs.append(new)
        return node

    def __repr__(self) -> str:
        return f"{self.op}({', '.join(map(repr, self.inputs))})"


class _AllInputs:
    """Stands for every input position in an op's ``inplace_pattern`` (elementwise ops)."""

    def __contains__(self, position: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "ALL_INPUTS"


ALL_INPUTS = _AllInputs()


class Op:
    """An operation. Subclasses define:

    - ``__props__``: names of the attributes that define equality and hashing (for merge, caching);
    - ``make_node(*inputs)``: check types and static shapes, return an ``Apply``;
    - ``perform(node, inputs)``: compute the outputs with NumPy, return a list of arrays;
    - ``infer_shape(node, input_shapes)``: symbolic output shapes from symbolic input shapes (``None``
      for a dimension known only at run time);
    - ``L_op(inputs, outputs, output_grads)``: gradients of the inputs (see symdl.gradient).

    Backend code lives apart, registered per backend (``symdl.graph.impl.register_impl``), so
    the maths here never changes for one.

    Facts the planner and the rewrites read (class attributes; override where they differ):

    - ``view_map``: ``{output: [inputs]}``, outputs that may share memory with those inputs;
      ``{}`` when every output is a fresh array; ``None`` (the default) when unknown, which is
      read as "may view any input" (a Python ``perform`` may return its input as it is);
    - ``destroy_map``: ``{output: [inputs]}``, inputs the op overwrites (none do by default);
    - ``inplace_pattern``: ``{output: [inputs]}``, inputs whose buffer the output may be written
      into when the plan finds it safe (elementwise ops read each position before writing it:
      ``{0: ALL_INPUTS}``);
    - ``nondeterministic``: two applications to equal inputs may give different results (or
      have effects), so they are never merged or folded;
    - ``schedule``: ``'early'`` (run as soon as the inputs exist) or ``'late'`` (run when nothing
      else can) for the execution plan; None keeps the graph's order;
    - ``grad_checks_shapes``: the forward raises on inputs whose shapes do not fit together
      (``make_node`` checks them when they are static): a gradient graph, which may not compute
      the forward, then checks them at run time (``symdl.tensor.checks.ShapeCheck``).
    - ``broadcasts_inputs``: the inputs are broadcast together (NumPy's rules), so inputs that do
      not broadcast are a ShapeError on every backend.
    """

    __props__: tuple[str, ...] = ()
    view_map: dict[int, list[int]] | None = None
    destroy_map: dict[int, list[int]] = {}
    inplace_pattern: dict[int, list[int]] = {}
    nondeterministic = False
    schedule: str | None = None
    grad_checks_shapes = False
    broadcasts_inputs = False

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        try:
            node = self.make_node(*inputs, **kwargs)
        except SymdlError as exc:
            add_call_site(exc)
            raise
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def make_node(self, *inputs: Any) -> Apply:
        raise NotImplementedError

    def perform(self, node: Apply, inputs: Sequence[Any]) -> Sequence[Any]:
        raise NotImplementedError(f"{self} has no perform")

    def infer_shape(self, node: Apply, input_shapes: Sequence[Sequence[Variable]]) -> list:
        raise NotImplementedError(f"{self} has no infer_shape")

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list:
        from symdl.gradient import grad_not_implemented

        return [grad_not_implemented(self, i, x) for i, x in enumerate(inputs)]

    # Whether L_op is worth calling: ops whose outputs are integer or boolean are cut from grads.
    differentiable = True

    def _props(self) -> tuple:
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self) -> int:
        return hash((type(self), self._props()))

    def __str__(self) -> str:
        name = getattr(self, "name", None) or type(self).__name__
        if self.__props__ and name == type(self).__name__:
            return f"{name}{{{', '.join(f'{p}={getattr(self, p)!r}' for p in self.__props__)}}}"
        return name

    __repr__ = __str__


def add_call_site(exc: Exception) -> None:
    """Append the user's line that made the failing call to a build-time error's message."""
    frame = user_frame()
    if frame is None or not exc.args or not isinstance(exc.args[0], str):
        return
    where = f"called at {frame}"
    if where not in exc.args[0]:
        exc.args = (f"{exc.args[0]} ({where})", *exc.args[1:])


def toposort(outputs: Iterable[Variable], stop_at: Iterable[Variable] = ()) -> list[Apply]:
    """Apply nodes leading to ``outputs`` in a deterministic order where inputs come first.

    Iterative depth-first search: linear in the graph size, no recursion limit.
    """
    order: list[Apply] = []
    done: set[int] = {id(v) for v in stop_at}
    seen_nodes: set[int] = set()
    for out in outputs:
        if out.owner is None or id(out.owner) in seen_nodes:
            continue
        stack: list[tuple[Apply, int]] = [(out.owner, 0)]
        seen_nodes.add(id(out.owner))
        while stack:
            node, i = stack[-1]
            if i < len(node.inputs):
                stack[-1] = (node, i + 1)
                inp = node.inputs[i]
                owner = inp.owner
                if owner is not None and id(inp) not in done and id(owner) not in seen_nodes:
                    seen_nodes.add(id(owner))
                    stack.append((owner, 0))
            else:
                stack.pop()
                order.append(node)
    return order


def graph_inputs(outputs: Iterable[Variable], stop_at: Iterable[Variable] = ()) -> list[Variable]:
    """The owner-less variables (inputs, shared variables, constants) that ``outputs`` depend on."""
    stop = {id(v) for v in stop_at}
    result, seen = [], set()
    for out in outputs:
        if out.owner is None or id(out) in stop:
            if id(out) not in seen:
                seen.add(id(out))
                result.append(out)
    for node in toposort(outputs, stop_at):
        for inp in node.inputs:
            if (inp.owner is None or id(inp) in stop) and id(inp) not in seen:
                seen.add(id(inp))
                result.append(inp)
    return result


def ancestors(outputs: Iterable[Variable]) -> set[Variable]:
    """Every variable ``outputs`` depend on, themselves included."""
    result = set(outputs)
    for node in toposort(outputs):
        result.update(node.inputs)
        result.update(node.outputs)
    return result


def clone_replace(
    outputs: Sequence[Variable], replace: dict[Variable, Variable] | None = None, stop_at: Iterable[Variable] = ()
) -> list[Variable]:
    """Copies of ``outputs`` where each key of ``replace`` is replaced by its value.

    Nodes that depend on no replaced variable are shared with the original graph, so the copy
    costs only the part that changes.
    """
    memo: dict[Variable, Variable] = dict(replace or {})
    for node in toposort(outputs, stop_at=list(memo) + list(stop_at)):
        new_inputs = [memo.get(i, i) for i in node.inputs]
        if all(n is o for n, o in zip(new_inputs, node.inputs)):
            continue
        new_node = node.op.make_node(*new_inputs)
        for old, new in zip(node.outputs, new_node.outputs):
            new.name = old.name
            new.trace = old.trace
            memo[old] = new
    return [memo.get(o, o) for o in outputs]
