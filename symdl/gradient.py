"""Symbolic differentiation: grad, jacobian, hessian, Lop, Rop, and gradient-control ops.

Gradients are graphs: ``grad`` returns symbolic variables that are simplified and compiled like
any other expression, so second derivatives and custom losses just work. ``grad`` walks the graph
once backwards (iteratively: no recursion limit), calling each op's ``L_op``; the gradient graph
is linear in the size of the forward graph.

Conventions where the derivative is not unique (each checked in tests/tensor/test_grads.py):

- broadcasting: the gradient is summed back to the input's shape, also over a size-1 axis that
  is only known at run time (an input of static shape ``(None, 3)`` fed a ``(1, 3)`` array);
- ``max``/``min`` reductions: tied extrema share the gradient equally; ``maximum``/``minimum``:
  a tie is shared equally too, except that a constant operand takes it all;
- kinks: ``abs`` and ``relu`` (``maximum(x, 0)``, ``x * (x > 0)``, ``where(x > 0, x, 0)``) have
  sub-gradient 0 at 0; ``clip`` at a bound passes the gradient to ``x`` (as Theano);
- ``prod`` is exact with zeros: one zero gets the product of the others, two zeros give 0;
- ``pow``: ``x ** y`` is flat in ``y`` where ``x <= 0`` and ``x ** 0`` is flat in ``x``;
- integer and boolean outputs (comparisons, ``argmax``, casts to integers) carry no gradient: a
  variable reached only through them is disconnected.

>>> import numpy as np, symdl, symdl.tensor as T
>>> x = T.dvector('x')
>>> g = symdl.grad(T.sum(x ** 2), x)
>>> symdl.function([x], g)(np.array([1.0, 2.0]))
array([2., 4.])
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from symdl.errors import DisconnectedInputError, NullGradError, ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Op, Variable, clone_replace, toposort
from symdl.tensor.checks import needs_shape_check, shape_check
from symdl.tensor.creation import zeros_like
from symdl.tensor.elemwise import cast, clip
from symdl.tensor.shape import flatten
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable, constant
from symdl.utils import UserFrame, describe, user_frame, without_gc


class NullGradient:
    """Stands for a gradient that does not exist (undefined) or was not written (not implemented).

    An op's ``L_op`` returns one (through ``grad_undefined`` or ``grad_not_implemented``) for an
    input it cannot differentiate; ``grad`` raises NullGradError when that gradient is needed.
    """

    def __init__(self, op: Op, index: int, var: Variable, reason: str, kind: str):
        self.op, self.index, self.var, self.reason, self.kind = op, index, var, reason, kind
        # Where the user applied the op (set by grad from the node's output).
        self.applied_at: UserFrame | None = None

    def message(self) -> str:
        what = "is undefined" if self.kind == "undefined" else "is not implemented"
        where = f", applied at {self.applied_at}," if self.applied_at is not None else ""
        return (
            f"the gradient of {self.op}{where} with respect to its input {self.index} "
            f"({describe(self.var)}) {what}: {self.reason}"
        )

    def __repr__(self) -> str:
        return f"<NullGradient: {self.message()}>"


def grad_undefined(op: Op, index: int, var: Variable, reason: str = "it is not defined mathematically") -> NullGradient:
    """Declare, in an ``L_op``, that ``op`` has no gradient for its input ``index`` (``var``);
    a user asking for it gets a NullGradError naming the op and their line."""
    return NullGradient(op, index, var, reason, "undefined")


def grad_not_implemented(op: Op, index: int, var: Variable, reason: str = "nobody wrote it yet") -> NullGradient:
    """Declare, in an ``L_op``, that ``op``'s gradient for input ``index`` is missing from symdl."""
    return NullGradient(op, index, var, reason, "not implemented")


class _GradControl(Op):
    """Identity in the forward pass; changes only what flows back."""

    __props__ = ("mode", "lo", "hi")

    def __init__(self, mode: str, lo: float | None = None, hi: float | None = None):
        self.mode, self.lo, self.hi = mode, lo, hi
        self.name = mode

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [inputs[0]]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        if self.mode == "disconnected_grad":
            return [None]
        if self.mode == "zero_grad":
            return [zeros_like(inputs[0])]
        return [clip(grads[0], self.lo, self.hi)]


def disconnected_grad(x: Any) -> Variable:
    """``x`` in the forward pass; no gradient flows through it (it acts as a constant, so a
    ``wrt`` reached only through it is disconnected).

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.dscalar('x')
    >>> float(symdl.grad(x * symdl.disconnected_grad(x), x).eval({x: 3.0}))
    3.0
    """
    return _GradControl("disconnected_grad")(x)


def zero_grad(x: Any) -> Variable:
    """``x`` in the forward pass; the gradient through it is zero (but ``x`` stays connected).

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.dscalar('x')
    >>> float(symdl.grad(symdl.zero_grad(x) ** 2, x).eval({x: 3.0}))
    0.0
    """
    return _GradControl("zero_grad")(x)


def grad_clip(x: Any, lower_bound: float, upper_bound: float) -> Variable:
    """``x`` in the forward pass; the gradient flowing back through it is clipped to
    [lower_bound, upper_bound].

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> symdl.grad(T.sum(symdl.grad_clip(x, -1, 1) * 5), x).eval({x: np.zeros(2)})
    array([1., 1.])
    """
    if lower_bound > upper_bound:
        raise ValueError(f"grad_clip: lower_bound ({lower_bound}) must not exceed upper_bound ({upper_bound})")
    return _GradControl("grad_clip", float(lower_bound), float(upper_bound))(x)


def _add_all(terms: list[Variable]) -> Variable:
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _is_float(v: Variable) -> bool:
    return isinstance(v.type, TensorType) and v.type.is_float


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"grad: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


_FORWARD_RUNS: list[bool] = []


@contextlib.contextmanager
def forward_runs() -> Iterator[None]:
    """Gradients built inside are of a graph whose forward always runs on the same shapes first
    (a loop's body, run by the forward loop at every step): they need no ``ShapeCheck``."""
    _FORWARD_RUNS.append(True)
    try:
        yield
    finally:
        _FORWARD_RUNS.pop()


def _where_called() -> str:
    frame = user_frame()
    return f" (grad called at {frame})" if frame is not None else ""


def _through_stable_form(
    node: Apply, g: Variable, live: set[Variable], kept: set[Variable], contributions: dict[Variable, list[Variable]]
) -> bool:
    """Differentiate ``node`` through the stable form the stabilize phase gives it (``log(sigmoid
    z)`` as ``-softplus(-z)``, ...), sending its gradient straight to ``z``; False (nothing done)
    when it has none. The chain rule through the unstable form multiplies ``g / sigmoid(z)`` by
    ``sigmoid(z) * (1 - sigmoid(z))``: 0 * inf where the sigmoid saturates."""
    from symdl.rewrite.stabilize import stable_log_form

    found = stable_log_form(node)
    if found is None:
        return False
    form, z, bypassed = found
    if z not in live or any(v in kept for v in bypassed) or form.ndim != node.outputs[0].ndim:
        return False
    gz = grad(None, z, known_grads={form: g}, disconnected_inputs="ignore")
    contributions.setdefault(z, []).append(gz if gz.dtype == z.dtype else cast(gz, z.dtype))
    return True


@without_gc
def grad(
    cost: Variable | None,
    wrt: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
    known_grads: dict | None = None,
    return_disconnected: str = "zero",
    null_gradients: str = "raise",
) -> Any:
    """Gradient of the scalar ``cost`` with respect to ``wrt`` (a variable, or a list or tuple of
    them: the result has the same structure).

    Parameters
    ----------
    cost : a float scalar, or None when ``known_grads`` seeds the backward pass.
    wrt : the variables to differentiate with respect to.
    consider_constant : variables through which no gradient flows (they act as constants).
    disconnected_inputs : 'raise' (DisconnectedInputError), 'warn' or 'ignore' when ``cost`` does
        not depend on a ``wrt`` (through float variables: integer and boolean outputs carry no
        gradient, so a ``wrt`` reached only through them is disconnected too).
    known_grads : {variable: gradient} of intermediate variables (their cost is implied).
    return_disconnected : the gradient of a disconnected ``wrt``: 'zero' (zeros of its shape and
        dtype), 'none' or 'disconnected' (both give None).
    null_gradients : 'raise' (NullGradError naming the op and the line that applied it) when a
        needed gradient is undefined or not implemented, or 'return' to get the NullGradient.

    Examples
    --------
    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x, y = T.dscalar('x'), T.dscalar('y')
    >>> gx, gy = symdl.grad(x * y + x ** 2, [x, y])
    >>> symdl.function([x, y], [gx, gy])(3.0, 5.0)
    [array(11.), array(3.)]
    """
    _check_choice("disconnected_inputs", disconnected_inputs, ("raise", "warn", "ignore"))
    _check_choice("return_disconnected", return_disconnected, ("zero", "none", "disconnected"))
    _check_choice("null_gradients", null_gradients, ("raise", "return"))
    structure = list if isinstance(wrt, list) else tuple if isinstance(wrt, tuple) else None
    wrt_list = [wrt] if structure is None else list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must be symbolic variables, got {type(w).__name__}")
    if cost is None and not known_grads:
        raise ValueError("grad: cost is None and no known_grads were given")
    seeds: dict[Variable, list[Variable]] = {}
    if cost is not None:
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise ShapeError(
                f"grad: the cost must be a scalar, got a {cost.ndim}-d tensor of shape "
                f"{shape_str(cost.type.shape)} ({describe(cost)}); sum or average it first{_where_called()}"
            )
        if not _is_float(cost):
            raise TypeMismatch(f"grad: the cost must be a float, got {cost.dtype} ({describe(cost)}){_where_called()}")
        seeds[cost] = [constant(np.ones((), dtype=cost.dtype))]
    for var, g in (known_grads or {}).items():
        if not isinstance(var, Variable):
            raise TypeError(f"grad: known_grads keys must be symbolic variables, got {type(var).__name__}")
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise ShapeError(
                f"grad: the known gradient of {describe(var)} has {g.ndim} dimensions, expected {var.ndim}"
            )
        if _is_float(var) and g.dtype != var.dtype:
            g = cast(g, var.dtype)
        seeds.setdefault(var, []).append(g)

    constants = set(consider_constant or ())
    order = toposort(list(seeds))
    # Forward pass: the float variables that depend on a wrt (only those need gradients).
    live: set[Variable] = {w for w in wrt_list if w not in constants and _is_float(w)}
    for node in order:
        for i in node.inputs:
            if i in live:
                live.update(o for o in node.outputs if o not in constants and _is_float(o))
                break

    contributions: dict[Variable, list[Variable]] = {v: list(gs) for v, gs in seeds.items()}
    # variables whose own gradient is asked for or blocked: a stable form must not bypass them
    kept = constants | set(wrt_list) | set(seeds)
    # A variable whose gradient is undefined or not implemented; it makes its inputs' gradients null.
    null_for: dict[Variable, NullGradient] = {}
    for node in reversed(order):
        inputs, outputs = node.inputs, node.outputs
        if not any(i in live for i in inputs):
            continue
        null = next((null_for[o] for o in outputs if o in null_for), None) if null_for else None
        if null is not None:
            for inp in inputs:
                if inp in live:
                    null_for.setdefault(inp, null)
            continue
        out_grads: list[Variable | None] = []
        for out in outputs:
            terms = contributions.get(out)
            out_grads.append((_add_all(terms) if len(terms) > 1 else terms[0]) if terms and _is_float(out) else None)
        if all(g is None for g in out_grads):
            continue
        if _through_stable_form(node, out_grads[0], live, kept, contributions):
            continue
        if needs_shape_check(node) and not _FORWARD_RUNS:  # the forward's checks, where it may not run
            out_grads = [shape_check(g, node) if g is not None else None for g in out_grads]
        input_grads = node.op.L_op(inputs, outputs, out_grads)
        if len(input_grads) != len(inputs):
            raise RuntimeError(f"{node.op}.L_op returned {len(input_grads)} gradients for {len(inputs)} inputs")
        for k, (inp, g) in enumerate(zip(inputs, input_grads)):
            if g is None or inp not in live:
                continue
            if isinstance(g, NullGradient):
                g.applied_at = outputs[0].trace
                null_for.setdefault(inp, g)
                continue
            g = as_tensor_variable(g)
            if g.ndim != inp.ndim:
                raise ShapeError(
                    f"{node.op}.L_op returned a {g.ndim}-d gradient for its {inp.ndim}-d input {k} ({describe(inp)})"
                )
            if g.dtype != inp.dtype:
                g = cast(g, inp.dtype)
            contributions.setdefault(inp, []).append(g)

    results: list[Any] = []
    for w in wrt_list:
        if w in null_for:
            if null_gradients == "raise":
                raise NullGradError(f"grad: {null_for[w].message()}{_where_called()}")
            results.append(null_for[w])
            continue
        terms = contributions.get(w)
        if terms:
            results.append(_add_all(terms) if len(terms) > 1 else terms[0])
            continue
        why = "" if _is_float(w) else f" ({w.type} is not a float type; gradients flow only through floats)"
        message = f"grad: the cost does not depend on {describe(w)}{why}{_where_called()}"
        if disconnected_inputs == "raise":
            raise DisconnectedInputError(message + "; pass disconnected_inputs='ignore' to get a zero gradient")
        if disconnected_inputs == "warn":
            warnings.warn(message, stacklevel=2)
        results.append(zeros_like(w) if return_disconnected == "zero" else None)
    return results[0] if structure is None else structure(results)


def Lop(f: Variable | Sequence[Variable], wrt: Any, eval_points: Any, **kw: Any) -> Any:
    """Vector-Jacobian product: ``eval_points`` (shaped like ``f``) times the Jacobian of ``f``
    with respect to ``wrt``; the result is shaped like ``wrt`` (same structure).

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x, v = T.dvector('x'), T.dvector('v')
    >>> symdl.function([x, v], symdl.Lop(x ** 2, x, v))(np.array([1.0, 2.0]), np.array([1.0, 10.0]))
    array([ 2., 40.])
    """
    fs = list(f) if isinstance(f, list | tuple) else [f]
    points = list(eval_points) if isinstance(eval_points, list | tuple) else [eval_points]
    if len(fs) != len(points):
        raise ValueError(f"Lop: {len(fs)} expressions but {len(points)} eval_points")
    kw.setdefault("disconnected_inputs", "ignore")
    return grad(None, wrt, known_grads=dict(zip(fs, points)), **kw)


def Rop(f: Variable | Sequence[Variable], wrt: Any, eval_points: Any) -> Any:
    """Jacobian-vector product: the Jacobian of ``f`` with respect to ``wrt`` times ``eval_points``
    (shaped like ``wrt``); the result is shaped like ``f`` (same structure).

    Computed as the transpose of the vector-Jacobian product (the L-op of an L-op, which is linear
    in its dummy cotangent), so every op with a gradient supports it.

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x, v = T.dvector('x'), T.dvector('v')
    >>> symdl.function([x, v], symdl.Rop(x ** 2, x, v))(np.array([1.0, 2.0]), np.array([1.0, 10.0]))
    array([ 2., 40.])
    """
    single_f = not isinstance(f, list | tuple)
    fs = [as_tensor_variable(y) for y in ([f] if single_f else f)]
    wrts = list(wrt) if isinstance(wrt, list | tuple) else [wrt]
    points = [as_tensor_variable(p) for p in (eval_points if isinstance(eval_points, list | tuple) else [eval_points])]
    if len(wrts) != len(points):
        raise ValueError(f"Rop: {len(wrts)} variables in wrt but {len(points)} eval_points")
    for w, p in zip(wrts, points):
        if p.ndim != w.ndim:
            raise ShapeError(f"Rop: the eval point of {describe(w)} has {p.ndim} dimensions, expected {w.ndim}")
    dummies = [y.type.make_variable(name="rop_cotangent") for y in fs]
    vjp = Lop(fs, wrts, dummies, return_disconnected="none")
    terms = [(g * p).sum() for g, p in zip(vjp, points) if g is not None]
    if not terms:
        results = [zeros_like(y) for y in fs]
    else:
        results = grad(_add_all(terms), dummies, disconnected_inputs="ignore")
        # The result is linear in the cotangents, so their value does not matter: use zeros.
        results = clone_replace(results, {d: zeros_like(y) for d, y in zip(dummies, fs)})
    return results[0] if single_f else results


def _jacobian_of_vector(y: Variable, w: Variable, consider_constant: Any, disconnected_inputs: str) -> Variable:
    """Row ``i``: the vector-Jacobian product of ``y`` with the ``i``-th unit vector, an
    ``OpFromGraph`` mapped over ``i`` (the rows are computed in one compiled loop)."""
    from symdl.compile.builders import OpFromGraph
    from symdl.scan_module import map as loop_map
    from symdl.tensor.creation import arange
    from symdl.tensor.elemwise import eq

    seed = y.type.make_variable(name="jacobian_seed")
    vjp = grad(None, w, known_grads={y: seed}, consider_constant=consider_constant,
               disconnected_inputs=disconnected_inputs)  # fmt: skip
    # the product reads the seed and values computed without it (the forward's): those stay
    # outside the loop, computed once, as inputs of the op
    depends = {seed}
    for node in toposort([vjp], stop_at=[seed]):
        if any(i in depends for i in node.inputs):
            depends.update(node.outputs)
    cuts: list[Variable] = []
    for node in toposort([vjp]):
        if node.outputs[0] in depends:
            cuts += [i for i in node.inputs if i not in depends and not isinstance(i, Constant) and i not in cuts]
    if vjp not in depends:  # the product does not depend on the seed: every row is the same
        cuts = [vjp] if not isinstance(vjp, Constant) else []
    stand_ins = [v.type.make_variable(name=v.name) for v in cuts]
    body = clone_replace([vjp], dict(zip(cuts, stand_ins)))[0]
    op = OpFromGraph([seed, *stand_ins], [body], name="vjp")
    n = y.shape[0]

    def row(i: Variable, *values: Variable) -> Variable:
        unit = cast(eq(arange(n), i), y.dtype)
        return op(unit, *values)

    rows, _ = loop_map(row, arange(n), non_sequences=cuts, name="jacobian")
    return rows


def jacobian(expression: Variable, wrt: Any, consider_constant: Any = None, disconnected_inputs: str = "raise") -> Any:
    """The Jacobian of ``expression`` (flattened when it has more than one dimension) with respect
    to ``wrt`` (a variable or a list): shape ``(expression.size,) + wrt.shape``. A scalar
    ``expression`` gives its gradient, as Theano.

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> symdl.function([x], symdl.jacobian(x ** 2, x))(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    structure = list if isinstance(wrt, list) else tuple if isinstance(wrt, tuple) else None
    wrts = [wrt] if structure is None else list(wrt)
    y = as_tensor_variable(expression)
    if y.ndim == 0:
        return grad(y, wrt, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
    y = flatten(y) if y.ndim != 1 else y
    results = [_jacobian_of_vector(y, w, consider_constant, disconnected_inputs) for w in wrts]
    return results[0] if structure is None else structure(results)


def hessian(cost: Variable, wrt: Any, consider_constant: Any = None, disconnected_inputs: str = "raise") -> Any:
    """The Hessian of a scalar ``cost``: the Jacobian of its gradient, shape ``(wrt.size,) + wrt.shape``
    (``(n, n)`` for a vector); ``wrt`` may be a list.

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> symdl.function([x], symdl.hessian(T.sum(x ** 2), x))(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 2.]])
    """
    structure = list if isinstance(wrt, list) else tuple if isinstance(wrt, tuple) else None
    wrts = [wrt] if structure is None else list(wrt)
    results = []
    for w in wrts:
        g = grad(cost, w, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        results.append(jacobian(g, w, consider_constant=consider_constant, disconnected_inputs="ignore"))
    return results[0] if structure is None else structure(results)
