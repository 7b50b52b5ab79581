"""Symbolic differentiation: grad, jacobian, hessian, Lop, Rop, and gradient-control ops.

Gradients are graphs: ``grad`` returns symbolic variables that are simplified and compiled like
any other expression, so second derivatives and custom losses just work.

>>> import numpy as np, symdl, symdl.tensor as T
>>> x = T.dvector('x')
>>> g = symdl.grad(T.sum(x ** 2), x)
>>> symdl.function([x], g)(np.array([1.0, 2.0]))
array([2., 4.])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import DisconnectedInputError, NullGradError, ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable, clone_replace, toposort
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


class NullGradient:
    """Stands for a gradient that does not exist (undefined) or was not written (not implemented)."""

    def __init__(self, op: Op, index: int, var: Variable, reason: str, kind: str):
        self.op, self.index, self.var, self.reason, self.kind = op, index, var, reason, kind

    def message(self) -> str:
        what = "is undefined" if self.kind == "undefined" else "is not implemented"
        return f"the gradient of {self.op} with respect to its input {self.index} ({describe(self.var)}) {what}: {self.reason}"


def grad_undefined(op: Op, index: int, var: Variable, reason: str = "it is not defined mathematically") -> NullGradient:
    """Declare that ``op`` has no gradient for input ``index`` (asking for it raises NullGradError)."""
    return NullGradient(op, index, var, reason, "undefined")


def grad_not_implemented(op: Op, index: int, var: Variable, reason: str = "nobody wrote it yet") -> NullGradient:
    """Declare that ``op``'s gradient for input ``index`` is missing from symdl."""
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
        from symdl.tensor.creation import zeros_like
        from symdl.tensor.elemwise import clip

        if self.mode == "disconnected_grad":
            return [None]
        if self.mode == "zero_grad":
            return [zeros_like(inputs[0])]
        return [clip(grads[0], self.lo, self.hi)]


def disconnected_grad(x: Any) -> Variable:
    """``x`` in the forward pass; the gradient does not flow through it (it acts as a constant)."""
    return _GradControl("disconnected_grad")(x)


def zero_grad(x: Any) -> Variable:
    """``x`` in the forward pass; the gradient through it is zero."""
    return _GradControl("zero_grad")(x)


def grad_clip(x: Any, lower_bound: float, upper_bound: float) -> Variable:
    """``x`` in the forward pass; the gradient through it is clipped to [lower_bound, upper_bound]."""
    if lower_bound > upper_bound:
        raise ValueError("grad_clip: lower_bound must not exceed upper_bound")
    return _GradControl("grad_clip", float(lower_bound), float(upper_bound))(x)


def _add_all(terms: list[Variable]) -> Variable:
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _is_float(v: Variable) -> bool:
    return isinstance(v.type, TensorType) and v.type.is_float


def grad(
    cost: Variable | None,
    wrt: Variable | Sequence[Variable],
    consider_constant: Sequence[Variable] | None = None,
    disconnected_inputs: str = "raise",
    known_grads: dict | None = None,
    return_disconnected: str = "zero",
    null_gradients: str = "raise",
) -> Any:
    """Gradient of the scalar ``cost`` with respect to ``wrt`` (a variable or a list of them).

    ``known_grads`` seeds gradients of intermediate variables (``cost`` may then be None).
    A ``wrt`` the cost does not depend on raises DisconnectedInputError unless
    ``disconnected_inputs`` is 'warn' or 'ignore'; its gradient is then zero
    (``return_disconnected='zero'``) or None ('none' or 'disconnected').
    """
    single = not isinstance(wrt, list | tuple)
    wrt_list = [wrt] if single else list(wrt)
    known = dict(known_grads or {})
    if cost is None and not known:
        raise ValueError("grad: cost is None and no known_grads were given")
    seeds: dict[Variable, Variable] = {}
    if cost is not None:
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise ShapeError(
                f"grad: the cost must be a scalar, got a {cost.ndim}-d tensor of shape "
                f"{cost.type} ({describe(cost)}); sum or average it first"
            )
        if not _is_float(cost):
            raise TypeMismatch(f"grad: the cost must be a float, got {cost.dtype} ({describe(cost)})")
        from symdl.tensor.var import constant

        seeds[cost] = constant(np.ones((), dtype=cost.dtype))
    for var, g in known.items():
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise ShapeError(f"grad: known gradient of {describe(var)} has {g.ndim} dims, expected {var.ndim}")
        seeds[var] = g
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must be symbolic variables, got {type(w).__name__}")

    constants = set(consider_constant or ())
    roots = list(seeds)
    order = toposort(roots)
    # Forward pass: which variables depend on a wrt (only those need gradients).
    depends: set[Variable] = set(w for w in wrt_list)
    for node in order:
        if any(i in depends and i not in constants for i in node.inputs):
            depends.update(node.outputs)

    contributions: dict[Variable, list] = {v: [g] for v, g in seeds.items()}
    null_for: dict[Variable, NullGradient] = {}
    for node in reversed(order):
        out_grads = []
        any_grad = False
        for out in node.outputs:
            terms = contributions.get(out)
            if terms and _is_float(out):
                out_grads.append(_add_all(terms) if len(terms) > 1 else terms[0])
                any_grad = True
            else:
                out_grads.append(None)
        if not any_grad:
            continue
        if not any(i in depends and i not in constants and _is_float(i) for i in node.inputs):
            continue
        if any(g is None for g in out_grads) and len(node.outputs) == 1:
            continue
        if any(isinstance(g, NullGradient) for g in out_grads):
            continue
        input_grads = node.op.L_op(node.inputs, node.outputs, out_grads)
        if len(input_grads) != len(node.inputs):
            raise RuntimeError(f"{node.op}.L_op returned {len(input_grads)} gradients for {len(node.inputs)} inputs")
        for inp, g in zip(node.inputs, input_grads):
            if g is None or inp in constants or inp not in depends or not _is_float(inp):
                continue
            if isinstance(g, NullGradient):
                null_for.setdefault(inp, g)
                continue
            g = as_tensor_variable(g)
            if g.dtype != inp.dtype:
                from symdl.tensor.elemwise import cast

                g = cast(g, inp.dtype)
            contributions.setdefault(inp, []).append(g)

    results = []
    for w in wrt_list:
        if w in null_for and null_gradients == "raise":
            raise NullGradError(null_for[w].message())
        terms = contributions.get(w)
        if not terms:
            message = f"grad: the cost does not depend on {describe(w)}"
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(
                    message + "; pass disconnected_inputs='ignore' to get a zero gradient instead"
                )
            if disconnected_inputs == "warn":
                warnings.warn(message, stacklevel=2)
            if return_disconnected == "zero":
                from symdl.tensor.creation import zeros_like

                results.append(zeros_like(w))
            else:
                results.append(None)
            continue
        results.append(_add_all(terms) if len(terms) > 1 else terms[0])
    return results[0] if single else results


def Lop(f: Variable | Sequence[Variable], wrt: Any, eval_points: Any, **kw: Any) -> Any:
    """Vector-Jacobian product: ``eval_points`` times the Jacobian of ``f`` with respect to ``wrt``."""
    fs = list(f) if isinstance(f, list | tuple) else [f]
    points = list(eval_points) if isinstance(eval_points, list | tuple) else [eval_points]
    kw.setdefault("disconnected_inputs", "ignore")
    return grad(None, wrt, known_grads=dict(zip(fs, points)), **kw)


def Rop(f: Variable | Sequence[Variable], wrt: Any, eval_points: Any) -> Any:
    """Jacobian-vector product: the Jacobian of ``f`` with respect to ``wrt`` times ``eval_points``.

    Computed as the transpose of the vector-Jacobian product (the L-op of an L-op), so every op
    with a gradient supports it.
    """
    from symdl.tensor.creation import zeros_like

    single_f = not isinstance(f, list | tuple)
    fs = [f] if single_f else list(f)
    wrts = list(wrt) if isinstance(wrt, list | tuple) else [wrt]
    points = list(eval_points) if isinstance(eval_points, list | tuple) else [eval_points]
    dummies = [as_tensor_variable(y).type.make_variable(name="rop_dummy") for y in fs]
    vjp = Lop(fs, wrts, dummies)
    vjp = vjp if isinstance(vjp, list) else [vjp]
    cost_terms = [(as_tensor_variable(g) * as_tensor_variable(p)).sum() for g, p in zip(vjp, points) if g is not None]
    total = _add_all(cost_terms)
    results = grad(total, dummies, disconnected_inputs="ignore")
    # The result is linear in the dummies' cotangent, so their value does not matter: use zeros.
    results = clone_replace(results, {d: zeros_like(y) for d, y in zip(dummies, fs)})
    return results[0] if single_f else results


class _JacobianRows(Op):
    """Row i of a Jacobian is the gradient of output element i: computed at run time by a loop
    over the output's elements of a compiled vector-Jacobian product (the Theano way, via scan)."""

    __props__ = ("key",)

    def __init__(self, vjp_inputs: list[Variable], vjp_output: Variable, seed: Variable, key: int):
        self.vjp_inputs, self.vjp_output, self.seed, self.key = vjp_inputs, vjp_output, seed, key
        self._fn: Any = None

    def make_node(self, y: Any, *free: Any) -> Apply:
        out = TensorType(self.vjp_output.dtype, (None,) + self.vjp_output.type.shape)
        return Apply(self, [y, *free], [out])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        from symdl.compile.function import function

        if self._fn is None:
            self._fn = function([self.seed, *self.vjp_inputs], self.vjp_output, on_unused_input="ignore")
        y, *free = inputs
        rows = []
        for i in range(y.size):
            seed = np.zeros(y.shape, dtype=y.dtype)
            seed.flat[i] = 1
            rows.append(self._fn(seed, *free))
        if not rows:
            return [np.zeros((0,) + tuple(np.shape(free[0])) if free else (0,), dtype=node.outputs[0].dtype)]
        return [np.stack(rows)]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        return [
            grad_not_implemented(self, i, v, "jacobian rows are not differentiable again") for i, v in enumerate(inputs)
        ]


_jacobian_ids = iter(range(1 << 62))


def jacobian(expression: Variable, wrt: Any, consider_constant: Any = None, disconnected_inputs: str = "raise") -> Any:
    """The Jacobian of a vector (or any tensor, flattened) ``expression`` with respect to ``wrt``:
    shape ``(expression.size,) + wrt.shape``.

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> symdl.function([x], symdl.jacobian(x ** 2, x))(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    from symdl.graph.basic import graph_inputs
    from symdl.tensor.shape import flatten

    single = not isinstance(wrt, list | tuple)
    wrts = [wrt] if single else list(wrt)
    y = as_tensor_variable(expression)
    y = flatten(y) if y.ndim != 1 else y
    results = []
    for w in wrts:
        seed = y.type.make_variable(name="jacobian_seed")
        vjp = grad(
            None, w, known_grads={y: seed}, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs
        )
        free = [
            v
            for v in graph_inputs([vjp])
            if v is not seed and not hasattr(v, "data") and not getattr(v, "is_shared", False)
        ]
        op = _JacobianRows(free, vjp, seed, next(_jacobian_ids))
        results.append(op(y, *free))
    return results[0] if single else results


def hessian(cost: Variable, wrt: Any, consider_constant: Any = None, disconnected_inputs: str = "raise") -> Any:
    """The Hessian of a scalar ``cost``: the Jacobian of its gradient.

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> symdl.function([x], symdl.hessian(T.sum(x ** 2), x))(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 2.]])
    """
    single = not isinstance(wrt, list | tuple)
    wrts = [wrt] if single else list(wrt)
    results = []
    for w in wrts:
        g = grad(cost, w, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        results.append(jacobian(g, w, consider_constant=consider_constant, disconnected_inputs="ignore"))
    return results[0] if single else results
