"""BLAS-shaped ops made by the specialize phase: ``gemm`` and ``gemv``.

``Gemm(C, alpha, A, B, beta)`` is ``beta * C + alpha * dot(A, B)`` for a matrix ``A`` and a
matrix ``B`` (``Gemv``: a vector ``B``), with ``alpha`` and ``beta`` 0-d tensors and ``C``
broadcasting against the product as NumPy does (a bias row is a valid ``C``). Backends map it to
one BLAS call (``C`` copied or broadcast into the output, then ``?gemm``/``?gemv`` with
``beta = 1``).

>>> import numpy as np
>>> A, B, C = np.eye(2), np.ones((2, 2)), np.ones((1, 2))
>>> Gemm().perform(None, [C, np.array(2.0), A, B, np.array(3.0)])[0]
array([[5., 5.],
       [5., 5.]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable


class Gemm(Op):
    """``beta * C + alpha * dot(A, B)`` with ``A``, ``B`` matrices (see the module docstring)."""

    b_ndim = 2
    name = "gemm"

    def make_node(self, C: Any, alpha: Any, A: Any, B: Any, beta: Any) -> Apply:
        from symdl.tensor.elemwise import broadcast_static_shapes

        C, alpha, A, B, beta = (as_tensor_variable(v) for v in (C, alpha, A, B, beta))
        if A.ndim != 2 or B.ndim != self.b_ndim:
            raise ShapeError(f"{self.name} takes a matrix and a {self.b_ndim}-d tensor, got {A.type} and {B.type}")
        if alpha.ndim != 0 or beta.ndim != 0:
            raise ShapeError(f"{self.name}: alpha and beta must be scalars, got {alpha.type} and {beta.type}")
        dtypes = {v.dtype for v in (C, alpha, A, B, beta)}
        if len(dtypes) != 1 or not A.type.is_float:
            raise TypeMismatch(f"{self.name} needs one float dtype for all inputs, got {sorted(dtypes)}")
        a, b = A.type.shape, B.type.shape
        if a[1] is not None and b[0] is not None and a[1] != b[0]:
            raise ShapeError(f"{self.name}: {A.type} cannot multiply {B.type}")
        product = TensorType(A.dtype, a[:1] + b[1:]).make_variable()
        if C.ndim > product.ndim:
            raise ShapeError(f"{self.name}: C of {C.type} has more dimensions than the product")
        shape = broadcast_static_shapes(self.name, [product, C])
        return Apply(self, [C, alpha, A, B, beta], [TensorType(A.dtype, shape)])

    def perform(self, node: Apply | None, inputs: Sequence[np.ndarray]) -> list:
        C, alpha, A, B, beta = inputs
        if A.shape[1] != B.shape[0]:
            raise ShapeError(f"{self.name}: shapes {A.shape} and {B.shape} are not aligned")
        out = np.dot(A, B)
        if alpha != 1:
            out *= alpha
        term = C if beta == 1 else beta * C
        if np.broadcast_shapes(out.shape, np.shape(term)) == out.shape:
            out += term
        else:
            out = out + term
        return [out]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.shape import broadcast_shape_symbolic

        c, _, a, b, _ = input_shapes
        return [broadcast_shape_symbolic(node, [list(a[:1]) + list(b[1:]), c])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.gradient import grad
        from symdl.tensor.blas import dot

        C, alpha, A, B, beta = inputs
        expr = beta * C + alpha * dot(A, B)
        return grad(None, list(inputs), known_grads={expr: grads[0]}, disconnected_inputs="ignore")

    def __str__(self) -> str:
        return self.name


class Gemv(Gemm):
    """``beta * y + alpha * dot(A, x)`` with ``A`` a matrix and ``x`` a vector."""

    b_ndim = 1
    name = "gemv"


gemm = Gemm()
gemv = Gemv()
