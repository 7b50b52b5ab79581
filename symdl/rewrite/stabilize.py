"""Stabilize: rewrite formulas that overflow or lose precision into their stable forms.

``log(1+x)`` to ``log1p(x)``, ``log(1+exp(x))`` to ``softplus(x)``, ``exp(x)-1`` to
``expm1(x)``, ``log(sigmoid(x))`` to ``-softplus(-x)``, ``log(1-sigmoid(x))`` to
``-softplus(x)``, ``1-sigmoid(x)`` to ``sigmoid(-x)``, ``exp(x)/(1+exp(x))`` (as the gradient
of a hand-written softplus has it) to ``sigmoid(x)``, ``log(sum(exp(x)))`` to a max-shifted
logsumexp, and, when ``symdl.tensor.nnet`` provides the ops, ``log(softmax(x))`` to
``log_softmax(x)`` (with its hand-written gradient made finite) and cross-entropy of a softmax
to one fused op with a stable gradient.
"""

from __future__ import annotations

import numpy as np

from symdl.graph.basic import Apply, Variable
from symdl.graph.fg import FunctionGraph
from symdl.rewrite.engine import register_node
from symdl.rewrite.patterns import ew, fit, is_value
from symdl.tensor import elemwise as E
from symdl.tensor.elemwise import Elemwise
from symdl.tensor.reduction import Reduce


def one_plus(v: Variable) -> Variable | None:
    """``x`` if ``v`` is ``1 + x`` (or ``x + 1``, ``x - -1``)."""
    node = ew(v, "add")
    if node is not None:
        a, b = node.inputs
        if is_value(a, 1):
            return b
        if is_value(b, 1):
            return a
    node = ew(v, "sub")
    if node is not None and is_value(node.inputs[1], -1):
        return node.inputs[0]
    return None


def one_minus(v: Variable) -> Variable | None:
    """``x`` if ``v`` is ``1 - x`` (or ``1 + -x``, ``-x + 1``)."""
    node = ew(v, "sub")
    if node is not None and is_value(node.inputs[0], 1):
        return node.inputs[1]
    rest = one_plus(v)
    if rest is not None:
        neg = ew(rest, "neg")
        if neg is not None:
            return neg.inputs[0]
    return None


def _arg(v: Variable, name: str) -> Variable | None:
    node = ew(v, name)
    return node.inputs[0] if node is not None else None


def _fit_list(fgraph: FunctionGraph, new: Variable, old: Variable) -> list | None:
    new = fit(fgraph, new, old)
    return [new] if new is not None else None


def _scalar_shaped(v: Variable, ndim: int) -> bool:
    """Whether ``v`` broadcasts against a tensor of ``ndim`` dimensions without changing its shape."""
    return v.ndim <= ndim and all(d == 1 for d in v.type.shape)


def _sigmoid_complement(v: Variable) -> tuple[Variable, list[Variable]] | None:
    """``(z, bypassed)`` if ``v`` is ``1 - sigmoid(z)`` (or ``1 + -sigmoid(z)``) whose ``1`` has
    no shape of its own, ``bypassed`` the variables between ``z`` and ``v``."""
    s = one_minus(v)
    z = _arg(s, "sigmoid") if s is not None else None
    if z is None:
        return None
    ones = [i for i in v.owner.inputs if i is not s and _arg(i, "neg") is not s]
    if not all(_scalar_shaped(i, z.ndim) for i in ones):
        return None
    return z, [v, *(i for i in v.owner.inputs if i is not s and i not in ones), s]


def stable_log_form(node: Apply) -> tuple[Variable, Variable, list[Variable]] | None:
    """The stable form of a ``log`` or ``log1p`` node of a sigmoid: ``(form, z, bypassed)`` with
    ``form`` computing the node's output from ``z`` alone (``log(sigmoid z)`` is
    ``-softplus(-z)``; ``log(1 - sigmoid z)`` and ``log1p(-sigmoid z)`` are ``-softplus(z)``) and
    ``bypassed`` the variables between ``z`` and the node. The stabilize rewrites substitute the
    form; ``grad`` differentiates it in place of the node (see docs/gradients.md), since the chain
    rule through ``log`` and ``sigmoid`` divides 0 by 0 where the sigmoid saturates."""
    if type(node.op) is not Elemwise or node.op.scalar_op.name not in ("log", "log1p"):
        return None
    if not node.outputs[0].type.is_float:
        return None
    name = node.op.scalar_op.name
    (v,) = node.inputs
    if name == "log":
        z = _arg(v, "sigmoid")
        if z is not None:
            w = _arg(z, "neg")
            return E.neg(E.softplus(w if w is not None else E.neg(z))), z, [v]
        found = _sigmoid_complement(v)
        if found is not None:
            z, bypassed = found
            return E.neg(E.softplus(z)), z, bypassed
    if name == "log1p":
        s = _arg(v, "neg")
        z = _arg(s, "sigmoid") if s is not None else None
        if z is not None:
            return E.neg(E.softplus(z)), z, [v, s]
    return None


@register_node("stabilize", "log1p", "softplus", tracks=[Elemwise], scalar=["log"])
def stable_log(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``log(1+exp x)``, ``log(1+x)``, ``log(sigmoid x)``, ``log(1-sigmoid x)`` in stable form."""
    v = node.inputs[0]
    out = node.outputs[0]
    if not out.type.is_float:
        return None
    t = one_plus(v)
    if t is not None:
        z = _arg(t, "exp")
        return _fit_list(fgraph, E.softplus(z) if z is not None else E.log1p(t), out)
    found = stable_log_form(node)
    if found is not None:
        return _fit_list(fgraph, found[0], out)
    s = one_minus(v)
    if s is not None:
        z = _arg(s, "sigmoid")
        if z is not None:
            return _fit_list(fgraph, E.neg(E.softplus(z)), out)
    return None


@register_node("stabilize", "log1p", "softplus", tracks=[Elemwise], scalar=["log1p"])
def stable_log1p(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``log1p(exp x)`` is ``softplus(x)``; ``log1p(-sigmoid x)`` is ``-softplus(x)``."""
    v = node.inputs[0]
    out = node.outputs[0]
    z = _arg(v, "exp")
    if z is not None:
        return _fit_list(fgraph, E.softplus(z), out)
    found = stable_log_form(node)
    if found is not None:
        return _fit_list(fgraph, found[0], out)
    return None


@register_node("stabilize", "expm1", tracks=[Elemwise], scalar=["sub", "add"])
def stable_expm1(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``exp(x) - 1`` (or ``exp(x) + -1``) is ``expm1(x)``; ``1 - sigmoid(x)`` is ``sigmoid(-x)``."""
    a, b = node.inputs
    out = node.outputs[0]
    if not out.type.is_float:
        return None
    if node.op.scalar_op.name == "sub":
        z = _arg(a, "exp")
        if z is not None and is_value(b, 1):
            return _fit_list(fgraph, E.expm1(z), out)
        z = _arg(b, "sigmoid")
        if z is not None and is_value(a, 1):
            return _fit_list(fgraph, E.sigmoid(E.neg(z)), out)
        return None
    for e, c in ((a, b), (b, a)):
        z = _arg(e, "exp")
        if z is not None and is_value(c, -1):
            return _fit_list(fgraph, E.expm1(z), out)
    return None


def _same_arg(v: Variable, name: str, z: Variable) -> bool:
    return _arg(v, name) is z


@register_node("stabilize", "sigmoid", tracks=[Elemwise], scalar=["true_div"])
def stable_sigmoid_div(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``exp(x)/(1+exp(x))`` and ``1/(1+exp(-x))`` are ``sigmoid(x)``; ``1/(1+exp(x))`` is
    ``sigmoid(-x)``."""
    a, d = node.inputs
    out = node.outputs[0]
    if not out.type.is_float:
        return None
    t = one_plus(d)
    z = _arg(t, "exp") if t is not None else None
    if z is None:
        return None
    if _same_arg(a, "exp", z):
        return _fit_list(fgraph, E.sigmoid(z), out)
    if is_value(a, 1):
        inner = _arg(z, "neg")
        return _fit_list(fgraph, E.sigmoid(inner) if inner is not None else E.sigmoid(E.neg(z)), out)
    return None


@register_node("stabilize", "sigmoid", tracks=[Elemwise], scalar=["mul"])
def stable_sigmoid_mul(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``(g / (1+exp x)) * exp x`` (the gradient of a hand-written softplus) is ``g * sigmoid(x)``,
    and ``sigmoid(-x) * exp(x)`` is ``sigmoid(x)``: both overflow to NaN for large x otherwise."""
    a, b = node.inputs
    out = node.outputs[0]
    if not out.type.is_float:
        return None
    for f, e in ((a, b), (b, a)):
        z = _arg(e, "exp")
        if z is None:
            continue
        div = ew(f, "true_div")
        if div is not None:
            g, d = div.inputs
            t = one_plus(d)
            if t is not None and _same_arg(t, "exp", z):
                return _fit_list(fgraph, E.mul(g, E.sigmoid(z)), out)
        s = _arg(f, "sigmoid")
        if s is not None and _arg(s, "neg") is z:
            return _fit_list(fgraph, E.sigmoid(z), out)
    return None


def _is_shifted(z: Variable) -> bool:
    """Whether ``z`` is ``x - m`` with ``m`` a maximum (already the stable form)."""
    node = ew(z, "sub")
    if node is None:
        return False
    m = node.inputs[1]
    where = ew(m, "where")
    if where is not None:
        m = where.inputs[1]
    return m.owner is not None and isinstance(m.owner.op, Reduce) and m.owner.op.kind == "max"


@register_node("stabilize", "logsumexp", tracks=[Elemwise], scalar=["log"])
def stable_logsumexp(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``log(sum(exp(x), axis))`` is computed with the maximum taken out first."""
    from symdl.tensor.reduction import max as tmax
    from symdl.tensor.reduction import sum as tsum
    from symdl.tensor.shape import dimshuffle

    v = node.inputs[0]
    red = v.owner
    out = node.outputs[0]
    if red is None or not isinstance(red.op, Reduce) or red.op.kind != "sum" or not out.type.is_float:
        return None
    z = _arg(red.inputs[0], "exp")
    if z is None or z.dtype != out.dtype or red.op.dtype not in (None, z.dtype) or _is_shifted(z):
        return None
    axes = red.op.axis
    m = tmax(z, axes, keepdims=True)
    m = E.where(E.isfinite(m), m, np.zeros((), dtype=z.dtype))
    new = E.log(tsum(E.exp(z - m), axes, keepdims=True)) + m
    if not red.op.keepdims:
        new = dimshuffle(new, [i for i in range(z.ndim) if i not in axes])
    return _fit_list(fgraph, new, out)


# ---------------------------------------------------------------- softmax family (symdl.tensor.nnet)
def _nnet_op(name: str) -> type | None:
    try:
        import importlib

        module = importlib.import_module("symdl.tensor.nnet")
    except Exception:
        return None
    return getattr(module, name, None)


@register_node("stabilize", "softmax", "log_softmax", tracks=[Elemwise], scalar=["log"])
def log_of_softmax(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``log(softmax(x))`` is ``log_softmax(x)`` (finite where softmax underflows to 0)."""
    softmax_op, log_softmax_op = _nnet_op("Softmax"), _nnet_op("LogSoftmax")
    if softmax_op is None or log_softmax_op is None:
        return None
    sm = node.inputs[0].owner
    if sm is None or not isinstance(sm.op, softmax_op):
        return None
    return _fit_list(fgraph, log_softmax_op(sm.op.axis)(sm.inputs[0]), node.outputs[0])


def _crossentropy_tracks() -> list[type]:
    op = _nnet_op("CategoricalCrossentropy")
    return [op] if op is not None else []


def crossentropy_of_softmax(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``categorical_crossentropy(softmax(x), y)`` (softmax over the last axis) is one fused
    ``SoftmaxCrossentropyWithLogits(x, y)``, stable for any logits."""
    softmax_op, fused = _nnet_op("Softmax"), _nnet_op("SoftmaxCrossentropyWithLogits")
    if softmax_op is None or fused is None:
        return None
    pred, target = node.inputs
    sm = pred.owner
    if sm is None or not isinstance(sm.op, softmax_op) or sm.op.axis != pred.ndim - 1:
        return None
    return _fit_list(fgraph, fused()(sm.inputs[0], target), node.outputs[0])


if _crossentropy_tracks():
    register_node("stabilize", "softmax", "crossentropy", tracks=_crossentropy_tracks())(crossentropy_of_softmax)


def _softmax_node(v: Variable) -> Apply | None:
    softmax_op = _nnet_op("Softmax")
    node = v.owner
    return node if softmax_op is not None and node is not None and isinstance(node.op, softmax_op) else None


@register_node("stabilize", "softmax", "log_softmax", tracks=[Elemwise], scalar=["mul"])
def softmax_grad_through_log(fgraph: FunctionGraph, node: Apply) -> list | None:
    """The gradient of ``log(softmax(x))`` written by hand, ``sm * (g/sm - sum(g/sm * sm))``, is
    ``g - sm * sum(g)``: the first is NaN where the softmax underflows to 0."""
    from symdl.tensor.reduction import sum as tsum

    out = node.outputs[0]
    for sm, rest in (node.inputs, node.inputs[::-1]):
        sm_node = _softmax_node(sm)
        sub = ew(rest, "sub")
        if sm_node is None or sub is None:
            continue
        gg, s = sub.inputs
        div = ew(gg, "true_div")
        red = s.owner
        if div is None or div.inputs[1] is not sm or red is None or not isinstance(red.op, Reduce):
            continue
        axis = sm_node.op.axis
        if (
            red.op.kind != "sum"
            or red.op.axis != (axis,)
            or not red.op.keepdims
            or red.op.dtype not in (None, out.dtype)
        ):
            continue
        prod = ew(red.inputs[0], "mul")
        if prod is None or set(prod.inputs) != {gg, sm}:
            continue
        g = div.inputs[0]
        return _fit_list(fgraph, g - sm * tsum(g, axis=axis, keepdims=True), out)
    return None
