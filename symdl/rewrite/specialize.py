"""Specialize: scaled products plus a term into one ``gemm``/``gemv`` call, and ``sum(x * y)``
of vectors into a dot product.

A bare ``dot(A, v)`` is left as ``dot``: every backend already runs a matrix-vector ``dot`` as
one ``gemv``; the rewrite pays where it also absorbs the scaling and the added term (one call,
no temporary for the product).
"""

from __future__ import annotations

from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.fg import FunctionGraph
from symdl.rewrite.engine import register_node
from symdl.rewrite.patterns import ew, fit, used_once
from symdl.rewrite.shapes import same_shape
from symdl.tensor import elemwise as E
from symdl.tensor.blas import Dot, _dot, gemm, gemv
from symdl.tensor.elemwise import Elemwise
from symdl.tensor.reduction import Reduce
from symdl.tensor.var import constant


def _as_scalar(v: Variable, dtype: str) -> Variable | None:
    """``v`` as a 0-d tensor of ``dtype`` if it holds one value (0-d, or a constant of size 1)."""
    import numpy as np

    if v.ndim == 0:
        return v if v.dtype == dtype else None
    if isinstance(v, Constant) and v.data.size == 1:
        return constant(np.asarray(v.data.reshape(()), dtype=dtype))
    return None


def _scaled_dot(fgraph: FunctionGraph, v: Variable) -> tuple[Variable, Apply] | None:
    """``(alpha, dot node)`` if ``v`` is ``dot(A, B)`` or ``alpha * dot(A, B)``, with the dot used
    only here (a gemm must not compute a product that is also needed elsewhere)."""
    import numpy as np

    node = v.owner
    if node is not None and isinstance(node.op, Dot) and node.inputs[0].ndim == 2 and used_once(fgraph, v):
        return constant(np.ones((), dtype=v.dtype)), node
    mul = ew(v, "mul")
    if mul is None or not used_once(fgraph, v):
        return None
    for d, a in (mul.inputs, mul.inputs[::-1]):
        dn = d.owner
        if dn is not None and isinstance(dn.op, Dot) and dn.inputs[0].ndim == 2 and used_once(fgraph, d):
            alpha = _as_scalar(a, d.dtype)
            if alpha is not None:
                return alpha, dn
    return None


def _scaled_term(v: Variable) -> tuple[Variable, Variable]:
    """``(beta, C)`` with ``v = beta * C`` for a scalar beta, else ``(1, v)``."""
    import numpy as np

    mul = ew(v, "mul")
    if mul is not None:
        for c, b in (mul.inputs, mul.inputs[::-1]):
            beta = _as_scalar(b, v.dtype)
            if beta is not None and c.dtype == v.dtype and c.ndim == v.ndim:
                return beta, c
    return constant(np.ones((), dtype=v.dtype)), v


@register_node("specialize", "gemm", "blas", tracks=[Elemwise], scalar=["add", "sub"])
def gemm_from_add(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``alpha*dot(A,B) + beta*C`` (and ``C - alpha*dot(A,B)``) is one ``gemm`` (``gemv`` when
    ``B`` is a vector)."""
    out = node.outputs[0]
    if not out.type.is_float or out.ndim not in (1, 2):
        return None
    a, b = node.inputs
    is_sub = node.op.scalar_op.name == "sub"
    orders = [(b, a)] if is_sub else [(a, b), (b, a)]
    for p, q in orders:
        found = _scaled_dot(fgraph, p)
        if found is None or q.dtype != out.dtype or q.ndim > out.ndim:
            continue
        alpha, dn = found
        if is_sub:
            alpha = constant(-alpha.data) if isinstance(alpha, Constant) else E.neg(alpha)
        beta, C = _scaled_term(q)
        A, B = dn.inputs
        if A.dtype != out.dtype or B.dtype != out.dtype:
            continue
        op = gemv if B.ndim == 1 else gemm
        new = fit(fgraph, op(C, alpha, A, B, beta), out)
        if new is not None:
            return [new]
    return None


@register_node("specialize", "dot", "blas", tracks=[Reduce])
def sum_of_product_to_dot(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``sum(x * y)`` of two vectors of the same length is ``dot(x, y)`` (one BLAS call, no
    temporary)."""
    op = node.op
    out = node.outputs[0]
    if op.kind != "sum" or op.keepdims or out.ndim != 0 or not out.type.is_float:
        return None
    v = node.inputs[0]
    mul = ew(v, "mul")
    if mul is None or v.ndim != 1 or not used_once(fgraph, v):
        return None
    x, y = mul.inputs
    if x.ndim != 1 or y.ndim != 1 or x.dtype != out.dtype or y.dtype != out.dtype:
        return None
    if not same_shape(fgraph, x, y):
        return None
    return [_dot(x, y)]
