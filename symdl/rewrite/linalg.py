"""Stabilize linear algebra: formulas that lose accuracy or overflow become their stable forms.

- ``log(det(x))`` becomes the log-determinant of ``slogdet`` (NaN where the determinant is
  negative, as before), and ``log(abs(det(x)))`` its plain log-absolute-determinant: ``det``
  overflows long before its log does;
- ``inv(a) @ b`` becomes ``solve(a, b)`` (also ``inv(a).T @ b``, ``b @ inv(a)``): a solve is more
  accurate and cheaper than forming the inverse;
- ``solve(l, b)`` with ``l`` a Cholesky factor (or its transpose) becomes ``solve_triangular``:
  the factor is known to be triangular, so one triangular solve replaces an LU factorization.

``cholesky(x @ x.T)`` is left alone: it is not ``x`` (only up to an orthogonal factor, and only for
a square ``x`` of full rank), so no rewrite may shortcut it.
"""

from __future__ import annotations

import numpy as np

from symdl.graph.basic import Apply, Variable
from symdl.graph.fg import FunctionGraph
from symdl.rewrite.engine import register_node
from symdl.rewrite.patterns import ew
from symdl.tensor import elemwise as E
from symdl.tensor.blas import Dot, MatMul
from symdl.tensor.elemwise import Elemwise
from symdl.tensor.nlinalg import Det, MatrixInverse, matrix_transpose, slogdet
from symdl.tensor.shape import DimShuffle
from symdl.tensor.slinalg import Cholesky, Solve, solve, solve_triangular


def _fit_list(fgraph: FunctionGraph, new: Variable, old: Variable) -> list | None:
    """``[new]`` cast to ``old``'s dtype. Unlike ``patterns.fit``, the shapes are not compared:
    each replacement here has ``old``'s shape whenever ``old`` can be computed at all (square
    matrices), which the shape keys cannot prove (rows and columns are different dimensions)."""
    if new.ndim != old.ndim:
        return None
    return [new if new.dtype == old.dtype else E.cast(new, old.dtype)]


def _owner_op(v: Variable, op_type: type) -> Apply | None:
    node = v.owner
    return node if node is not None and isinstance(node.op, op_type) else None


def _transposed(v: Variable) -> Variable | None:
    """``x`` if ``v`` is ``x`` with its last two axes swapped (a DimShuffle doing only that)."""
    node = _owner_op(v, DimShuffle)
    if node is None or v.ndim < 2 or "x" in node.op.new_order or node.op.dropped:
        return None
    order = node.op.new_order
    swapped = tuple(range(v.ndim - 2)) + (v.ndim - 1, v.ndim - 2)
    return node.inputs[0] if order == swapped else None


@register_node("stabilize", "linalg", "slogdet", tracks=[Elemwise], scalar=["log"])
def log_det_to_slogdet(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``log(det x)`` and ``log(abs(det x))`` through ``slogdet``."""
    (v,) = node.inputs
    out = node.outputs[0]
    absolute = ew(v, "abs")
    inner = absolute.inputs[0] if absolute is not None else v
    det_node = _owner_op(inner, Det)
    if det_node is None:
        return None
    sign, logabsdet = slogdet(det_node.inputs[0])
    if absolute is not None:
        return _fit_list(fgraph, logabsdet, out)
    nan = np.asarray(np.nan, dtype=logabsdet.dtype)
    return _fit_list(fgraph, E.where(E.lt(sign, 0), nan, logabsdet), out)


@register_node("stabilize", "linalg", "inv_to_solve", tracks=[Dot, MatMul])
def inverse_product_to_solve(fgraph: FunctionGraph, node: Apply) -> list | None:
    """``inv(a) @ b`` (or ``inv(a).T @ b``) is ``solve(a, b)`` (``solve(a.T, b)``), and
    ``b @ inv(a)`` is ``solve(a.T, b.T).T``."""
    left, right = node.inputs
    out = node.outputs[0]
    if left.ndim >= 2:
        transposed = _transposed(left)
        inverse = _owner_op(transposed if transposed is not None else left, MatrixInverse)
        if inverse is not None:
            a = inverse.inputs[0]
            a = matrix_transpose(a) if transposed is not None else a
            if isinstance(node.op, Dot):
                return _fit_list(fgraph, solve(a, right, b_ndim=right.ndim), out)
            return _fit_list(fgraph, solve(a, right), out)
    if right.ndim == 2 and isinstance(node.op, Dot):
        inverse = _owner_op(right, MatrixInverse)
        if inverse is not None:
            a = matrix_transpose(inverse.inputs[0])
            if left.ndim == 1:
                return _fit_list(fgraph, solve(a, left, b_ndim=1), out)
            return _fit_list(fgraph, matrix_transpose(solve(a, matrix_transpose(left))), out)
    return None


@register_node("stabilize", "linalg", "triangular_solve", tracks=[Solve])
def solve_with_a_cholesky_factor(fgraph: FunctionGraph, node: Apply) -> list | None:
    """A general solve whose matrix is a Cholesky factor, or its transpose, is triangular."""
    if node.op.assume_a != "gen":
        return None
    a, b = node.inputs
    out = node.outputs[0]
    transposed = _transposed(a)
    factor = _owner_op(transposed if transposed is not None else a, Cholesky)
    if factor is None:
        return None
    chol = factor.outputs[0]
    new = solve_triangular(
        chol, b, trans=1 if transposed is not None else 0, lower=factor.op.lower, b_ndim=node.op.b_ndim
    )
    return _fit_list(fgraph, new, out)
