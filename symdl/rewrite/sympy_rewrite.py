"""Simplify scalar elementwise subgraphs with sympy, keeping a result only when it is cheaper.

A candidate is a tree of float elementwise ops of one dtype whose inner results are used only
inside the tree (so replacing its root removes all of it), with at most ``MAX_OPS`` ops, that
shows something sympy can improve: two or more ``exp``, both ``sin`` and ``cos`` (or ``sinh``
and ``cosh``), or a sum of products sharing a factor; trees where transcendental functions nest
more than ``MAX_NESTING`` deep are left alone (sympy's time grows exponentially with that depth). sympy is imported only when such a tree
exists (``import symdl`` stays fast).

The strategy is bounded: ``powsimp`` (``exp(a)*exp(b)`` to ``exp(a+b)``), ``trigsimp`` when trig
functions appear, then ``factor_terms``; no general ``simplify``. The pass stops starting new
candidates once it has converted ``WORK_BUDGET`` ops in all (a count, not a time, so that the
compiled graph does not depend on the machine's speed). A result is accepted only if

- its cost (weights below: a division or ``sqrt`` costs 4, a transcendental function 10) is
  lower than the original's;
- it keeps every *domain guard* of the original: each denominator, ``log`` argument and
  ``sqrt`` argument still appears as one. So ``(x*y + x*z)/x`` is not turned into ``y + z``,
  which would give a number where the original gives NaN at ``x = 0``;
- it agrees with the original at random points (checked with NumPy every time).

sympy treats inputs as finite reals: an ``inf - inf`` inside a candidate tree may simplify to 0.
A result with fewer inputs than the original is broadcast back to the original's shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.fg import FunctionGraph
from symdl.rewrite.engine import RewriteContext, apply_replacements, register_pass
from symdl.rewrite.patterns import fill_like, fit, scalar_value
from symdl.tensor.elemwise import Elemwise

MAX_OPS = 30
# sympy's powsimp and trigsimp grow exponentially with nested transcendental functions (twelve
# nested exp(tanh(...)) took half a minute); the identities they find sit one or two levels deep
MAX_NESTING = 2
WORK_BUDGET = 240  # ops converted to sympy per graph: eight trees of the largest size

_UNARY = {
    "neg", "sqr", "sqrt", "reciprocal", "exp", "log", "sin", "cos", "tan",
    "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan", "abs",
}  # fmt: skip
_BINARY = {"add", "sub", "mul", "true_div", "pow"}
_TRANSCENDENTAL_COST = 10


def _convertible(node: Apply, dtype: str) -> bool:
    op = node.op
    return (
        isinstance(op, Elemwise)
        and (op.scalar_op.name in _UNARY or op.scalar_op.name in _BINARY)
        and node.outputs[0].dtype == dtype
    )


def _tree(fgraph: FunctionGraph, root: Apply, assigned: set, outputs: set) -> list[Apply]:
    dtype = root.outputs[0].dtype
    group = [root]
    members = {root}
    frontier = list(root.inputs)
    while frontier and len(group) < MAX_OPS:
        v = frontier.pop()
        p = v.owner
        if p is None or p in members or p in assigned or not _convertible(p, dtype) or v in outputs:
            continue
        if not all(c != "output" and c in members for c, _ in fgraph.clients.get(v, ())):
            continue
        members.add(p)
        group.append(p)
        frontier.extend(p.inputs)
    return group


_TRANSCENDENTAL = {"exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan", "sqrt"}


def _nesting(group: list[Apply]) -> int:
    """How deeply transcendental functions nest inside the tree."""
    members, depth = set(group), {}
    for node in reversed(group):  # producers come after their clients in the group
        below = max((depth.get(i.owner, 0) for i in node.inputs if i.owner in members), default=0)
        depth[node] = below + (node.op.scalar_op.name in _TRANSCENDENTAL)
    return max(depth.values(), default=0)


def _interesting(group: list[Apply]) -> bool:
    if _nesting(group) > MAX_NESTING:
        return False
    names = [n.op.scalar_op.name for n in group]
    if names.count("exp") >= 2:
        return True
    if ("sin" in names and "cos" in names) or ("sinh" in names and "cosh" in names):
        return True
    for n in group:
        if n.op.scalar_op.name in ("add", "sub"):
            a, b = (i.owner for i in n.inputs)
            if a is not None and b is not None and a in group and b in group:
                if a.op.scalar_op.name == "mul" and b.op.scalar_op.name == "mul":
                    if set(a.inputs) & set(b.inputs):
                        return True
    return False


# ---------------------------------------------------------------- symdl <-> sympy
def _number(sp: Any, value: Any) -> Any:
    value = float(value)
    if value.is_integer():
        return sp.Integer(int(value))
    if (2 * value).is_integer():
        return sp.Rational(int(2 * value), 2)
    return sp.Float(value)


def _to_sympy(sp: Any, root: Apply, members: set) -> tuple[Any, dict]:
    symbols: dict[Any, Variable] = {}
    by_var: dict[Variable, Any] = {}
    funcs = {
        "exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "sinh": sp.sinh,
        "cosh": sp.cosh, "tanh": sp.tanh, "arcsin": sp.asin, "arccos": sp.acos, "arctan": sp.atan,
        "abs": sp.Abs, "sqrt": sp.sqrt,
    }  # fmt: skip

    def leaf(v: Variable) -> Any:
        if v in by_var:
            return by_var[v]
        value = scalar_value(v) if isinstance(v, Constant) else None
        if value is not None:
            expr = _number(sp, value)
        else:
            expr = sp.Symbol(f"v{len(symbols)}", real=True)
            symbols[expr] = v
        by_var[v] = expr
        return expr

    def conv(v: Variable) -> Any:
        if v in by_var:
            return by_var[v]
        node = v.owner
        if node is None or node not in members:
            return leaf(v)
        name = node.op.scalar_op.name
        args = [conv(i) for i in node.inputs]
        if name == "add":
            e = args[0] + args[1]
        elif name == "sub":
            e = args[0] - args[1]
        elif name == "mul":
            e = args[0] * args[1]
        elif name == "true_div":
            e = args[0] / args[1]
        elif name == "pow":
            e = args[0] ** args[1]
        elif name == "neg":
            e = -args[0]
        elif name == "sqr":
            e = args[0] ** 2
        elif name == "reciprocal":
            e = 1 / args[0]
        else:
            e = funcs[name](args[0])
        by_var[v] = e
        return e

    return conv(root.outputs[0]), symbols


def _cost(sp: Any, e: Any) -> int:
    if e.is_Atom:
        return 0
    inner = sum(_cost(sp, a) for a in e.args)
    if e.is_Add:
        return inner + len(e.args) - 1
    if e.is_Mul:
        divs = sum(1 for a in e.args if a.is_Pow and a.exp.is_negative)
        return inner + (len(e.args) - 1) + 3 * divs
    if e.is_Pow:
        p = e.exp
        if p in (2, -1, sp.Rational(1, 2), -2):
            return inner + (1 if p == 2 else 4)
        if p.is_Integer:
            return inner + min(abs(int(p)), 8)
        return inner + _TRANSCENDENTAL_COST
    return inner + _TRANSCENDENTAL_COST


def _guards(sp: Any, e: Any) -> set:
    """Subexpressions whose value restricts the domain: denominators, log and sqrt arguments."""
    found = set()
    for sub in sp.preorder_traversal(e):
        if sub.is_Pow and (sub.exp.is_negative or not sub.exp.is_integer):
            found.add(sub.base)
        elif isinstance(sub, sp.log):
            found.add(sub.args[0])
    return found


def _evaluate(sp: Any, e: Any, values: dict) -> np.ndarray:
    """NumPy value of a sympy expression at the given symbol values (no lambdify: it is slow to load)."""
    if e.is_Symbol:
        return values[e]
    if e.is_Number:
        return np.float64(float(e))
    args = [_evaluate(sp, a, values) for a in e.args]
    if e.is_Add:
        return sum(args[1:], args[0])
    if e.is_Mul:
        out = args[0]
        for a in args[1:]:
            out = out * a
        return out
    if e.is_Pow:
        return np.power(args[0], args[1])
    table = {
        sp.exp: np.exp, sp.log: np.log, sp.sin: np.sin, sp.cos: np.cos, sp.tan: np.tan, sp.sinh: np.sinh,
        sp.cosh: np.cosh, sp.tanh: np.tanh, sp.asin: np.arcsin, sp.acos: np.arccos, sp.atan: np.arctan,
        sp.Abs: np.abs,
    }  # fmt: skip
    return table[e.func](*args)


def _agree(sp: Any, a: Any, b: Any, symbols: list, rng: np.random.Generator) -> bool:
    values = {s: rng.uniform(-2.0, 2.0, size=16) for s in symbols}
    with np.errstate(all="ignore"):
        va = np.broadcast_to(_evaluate(sp, a, values), (16,))
        vb = np.broadcast_to(_evaluate(sp, b, values), (16,))
    ok = np.isfinite(va) & np.isfinite(vb)
    return bool(np.allclose(va[ok], vb[ok], rtol=1e-6, atol=1e-9)) and ok.sum() >= 4


def _from_sympy(sp: Any, e: Any, symbols: dict, dtype: str) -> Variable:
    from symdl.tensor import elemwise as E
    from symdl.tensor.var import constant

    def c(value: float) -> Variable:
        return constant(np.asarray(value, dtype=dtype))

    funcs = {
        sp.exp: E.exp, sp.log: E.log, sp.sin: E.sin, sp.cos: E.cos, sp.tan: E.tan, sp.sinh: E.sinh,
        sp.cosh: E.cosh, sp.tanh: E.tanh, sp.asin: E.arcsin, sp.acos: E.arccos, sp.atan: E.arctan,
        sp.Abs: E.abs,
    }  # fmt: skip

    def build(e: Any) -> Variable:
        if e.is_Symbol:
            return symbols[e]
        if e.is_Number:
            return c(float(e))
        if e.is_Add:
            terms = list(e.args)
            out = None
            for t in terms:
                coeff, rest = t.as_coeff_Mul()
                negative = coeff.is_negative
                term = build(-t) if negative else build(t)
                if out is None:
                    out = E.neg(term) if negative else term
                else:
                    out = E.sub(out, term) if negative else E.add(out, term)
            return out
        if e.is_Mul:
            num, den = [], []
            for f in e.args:
                if f.is_Pow and f.exp.is_negative:
                    den.append(f.base ** (-f.exp))
                else:
                    num.append(f)
            if num and num[0].is_Number and num[0] == -1:
                return E.neg(build(sp.Mul(*num[1:]) / sp.Mul(*den) if den else sp.Mul(*num[1:])))
            top = None
            for f in num:
                top = build(f) if top is None else E.mul(top, build(f))
            bottom = None
            for f in den:
                bottom = build(f) if bottom is None else E.mul(bottom, build(f))
            if bottom is None:
                return top
            return E.true_div(top, bottom) if top is not None else E.reciprocal(bottom)
        if e.is_Pow:
            base, p = e.args
            if p == 2:
                return E.sqr(build(base))
            if p == sp.Rational(1, 2):
                return E.sqrt(build(base))
            if p == -1:
                return E.reciprocal(build(base))
            return E.pow(build(base), c(float(p)))
        if e.func in funcs:
            return funcs[e.func](build(e.args[0]))
        raise ValueError(f"no symdl op for {e.func}")

    return build(e)


def _simplify(sp: Any, expr: Any) -> Any:
    out = sp.powsimp(expr)
    if out.has(sp.sin, sp.cos, sp.tan, sp.sinh, sp.cosh, sp.tanh):
        out = sp.trigsimp(out)
    return sp.factor_terms(out)


@register_pass("canonicalize", "sympy")
def sympy_simplify(fgraph: FunctionGraph, ctx: RewriteContext) -> int:
    """Simplify candidate elementwise trees with sympy (see the module docstring)."""
    candidates = []
    assigned: set[Apply] = set()
    outputs = set(fgraph.outputs)
    for node in reversed(fgraph.toposort()):
        if node in assigned or not isinstance(node.op, Elemwise):
            continue
        dtype = node.outputs[0].dtype
        if not node.outputs[0].type.is_float or not _convertible(node, dtype):
            continue
        group = _tree(fgraph, node, assigned, outputs)
        assigned.update(group)
        if len(group) >= 2 and _interesting(group):
            candidates.append(group)
    if not candidates:
        return 0
    import sympy as sp

    rng = np.random.default_rng(0)
    done = work = 0
    for group in candidates:
        work += len(group)
        if work > WORK_BUDGET:
            break
        root = group[0]
        if root not in fgraph.apply_nodes:
            continue
        try:
            expr, symbols = _to_sympy(sp, root, set(group))
            new_expr = _simplify(sp, expr)
            if _cost(sp, new_expr) >= _cost(sp, expr):
                continue
            if not _guards(sp, expr) <= _guards(sp, new_expr):
                continue
            if not _agree(sp, expr, new_expr, list(symbols), rng):
                continue
            out = root.outputs[0]
            new = _from_sympy(sp, new_expr, symbols, out.dtype)
            fitted = fit(fgraph, new, out) or fill_like(fgraph, new, out)
            if fitted is None:
                continue
            apply_replacements(fgraph, [(out, fitted)])
        except Exception as exc:
            ctx.fail("sympy", exc)
            continue
        done += 1
        ctx.record("sympy")
    return done
