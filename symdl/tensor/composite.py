"""Composite: several elementwise scalar ops fused into one node (made by the fusion rewrite),
and CompositeReduce: a reduction fused with the elementwise program that produces its input.

The scalar graph is a ``program``: a tuple of steps ``(scalar_op, args)`` where each arg indexes
the node's inputs (``0 .. nin-1``) or an earlier step (``nin + k``); ``outputs`` lists the
indices computed by the node. Backends compile the program into one loop.

>>> import numpy as np
>>> from symdl.tensor import elemwise as ew
>>> import symdl.tensor as T
>>> x, y = T.dvector('x'), T.dvector('y')
>>> op = Composite(((ew.s_mul, (0, 1)), (ew.s_exp, (2,))), (3,))
>>> op.perform(None, [np.array([0.0, 1.0]), np.array([2.0, 3.0])])[0]
array([ 1.        , 20.08553692])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.graph.basic import ALL_INPUTS, Apply, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.elemwise import ScalarOp, _resolve_weak, broadcast_static_shapes
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable

Program = tuple[tuple[ScalarOp, tuple[int, ...]], ...]


class Composite(Op):
    """Elementwise evaluation of a fused scalar program over broadcast inputs."""

    view_map = {}
    broadcasts_inputs = True
    inplace_pattern = {0: ALL_INPUTS}

    __props__ = ("program", "outputs")

    def __init__(self, program: Program, outputs: Sequence[int]):
        self.program = tuple((op, tuple(args)) for op, args in program)
        self.outputs = tuple(outputs)
        self.name = "composite{" + ",".join(op.name for op, _ in self.program) + "}"

    def _dtypes(self, in_dtypes: Sequence[str]) -> list[str]:
        dtypes = list(in_dtypes)
        for op, args in self.program:
            dtypes.append(op.output_dtype([dtypes[a] for a in args]))
        return dtypes

    def make_node(self, *inputs: Any) -> Apply:
        variables = _resolve_weak([as_tensor_variable(x) for x in inputs], self.name)
        shape = broadcast_static_shapes(self.name, variables)
        dtypes = self._dtypes([v.dtype for v in variables])
        return Apply(self, variables, [TensorType(dtypes[o], shape) for o in self.outputs])

    def perform(self, node: Apply | None, inputs: Sequence[np.ndarray]) -> list:
        values = list(inputs)
        for op, args in self.program:
            values.append(np.asarray(op.impl(*[values[a] for a in args])))
        if node is None:
            return [values[o] for o in self.outputs]
        shape = np.broadcast_shapes(*[np.shape(v) for v in inputs])
        results = []
        for o, out in zip(self.outputs, node.outputs):
            v = values[o]
            if v.shape != shape:
                v = np.broadcast_to(v, shape)
            results.append(np.asarray(v, dtype=out.dtype) if v.dtype != out.dtype else v)
        return results

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.shape import broadcast_shape_symbolic

        shape = broadcast_shape_symbolic(node, input_shapes)
        return [shape for _ in node.outputs]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        # Fusion runs after differentiation; a gradient of a fused graph is built from the
        # unfused scalar ops, so expanding the program is exact.
        from symdl.tensor.elemwise import elemwise_op

        values: list[Variable] = list(inputs)
        for op, args in self.program:
            values.append(elemwise_op(op)(*[values[a] for a in args]))
        from symdl.gradient import grad

        known = {values[o]: g for o, g in zip(self.outputs, grads) if g is not None}
        return grad(None, list(inputs), known_grads=known, disconnected_inputs="ignore", return_disconnected="none")


class CompositeReduce(Op):
    """A reduction of a fused elementwise program: ``np.<kind>(composite(*inputs), axis, keepdims)``
    computed as one loop, so ``sum(exp(x - m))`` never stores ``exp(x - m)``.

    Representation (what a backend generates code from):

    - ``composite``: a single-output :class:`Composite`; its inputs broadcast together (NumPy
      rules) to the *elementwise shape*, whose number of dimensions is the largest input ndim;
    - ``kind``: ``'sum'``, ``'prod'``, ``'max'`` or ``'min'``;
    - ``axis``: the sorted tuple of reduced axes of the elementwise shape;
    - ``keepdims``: as NumPy;
    - ``dtype``: the accumulator and output dtype for sum/prod (None: NumPy's default), as
      :class:`symdl.tensor.reduction.Reduce`.

    >>> import numpy as np
    >>> from symdl.tensor import elemwise as ew
    >>> op = CompositeReduce(Composite(((ew.s_sub, (0, 1)), (ew.s_exp, (2,))), (3,)), 'sum', (0,), False)
    >>> float(op.perform(None, [np.zeros(3), np.zeros(())])[0])
    3.0
    """

    broadcasts_inputs = True

    view_map = {}

    __props__ = ("composite", "kind", "axis", "keepdims", "dtype")

    def __init__(self, composite: Composite, kind: str, axis: Sequence[int], keepdims: bool, dtype: str | None = None):
        if len(composite.outputs) != 1:
            raise ValueError("CompositeReduce takes a single-output Composite")
        if kind not in ("sum", "prod", "max", "min"):
            raise ValueError(f"CompositeReduce cannot reduce with {kind!r}")
        self.composite, self.kind, self.axis = composite, kind, tuple(sorted(axis))
        self.keepdims, self.dtype = bool(keepdims), dtype
        self.name = f"{kind}_of_{composite.name}"

    def _reduce_op(self):
        from symdl.tensor.reduction import Reduce

        return Reduce(self.kind, self.axis, self.keepdims, self.dtype)

    def make_node(self, *inputs: Any) -> Apply:
        inner = self.composite.make_node(*inputs)
        elem = inner.outputs[0]
        reduced = self._reduce_op().make_node(elem).outputs[0]
        return Apply(self, inner.inputs, [reduced.type])

    def perform(self, node: Apply | None, inputs: Sequence[np.ndarray]) -> list:
        (value,) = self.composite.perform(None, inputs)
        shape = np.broadcast_shapes(*[np.shape(v) for v in inputs])
        if value.shape != shape:
            value = np.broadcast_to(value, shape)
        kw = {"dtype": self.dtype} if self.dtype and self.kind in ("sum", "prod") else {}
        out = getattr(np, self.kind)(value, axis=self.axis, keepdims=self.keepdims, **kw)
        dtype = node.outputs[0].dtype if node is not None else None
        return [np.asarray(out, dtype=dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.shape import broadcast_shape_symbolic

        elem = self.composite.make_node(*node.inputs)
        shape = broadcast_shape_symbolic(elem, input_shapes)
        if self.keepdims:
            return [[1 if i in self.axis else d for i, d in enumerate(shape)]]
        return [[d for i, d in enumerate(shape) if i not in self.axis]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.gradient import grad

        elem = self.composite(*inputs)
        reduced = self._reduce_op()(elem)
        known = {reduced: grads[0]} if grads[0] is not None else {}
        return grad(None, list(inputs), known_grads=known, disconnected_inputs="ignore", return_disconnected="none")


# ---------------------------------------------------------------- C and CUDA implementations
@register_impl("c", Composite)
def _composite_in_c(node: Apply, c: Any) -> str | None:
    return c.elemwise(node, node.op.program, node.op.outputs)


@register_impl("c", CompositeReduce)
def _composite_reduce_in_c(node: Apply, c: Any) -> str | None:
    op = node.op
    return c.elemwise_reduce(node, op.composite.program, op.composite.outputs[0], op.kind, op.axis, op.keepdims)


@register_impl("cuda", Composite)
def _composite_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.elemwise(node, node.op.program, node.op.outputs)


@register_impl("cuda", CompositeReduce)
def _composite_reduce_in_cuda(node: Apply, cuda: Any) -> Any:
    op = node.op
    program, value = op.composite.program, op.composite.outputs[0]
    return cuda.reduction(node, op.kind, op.axis, op.keepdims, program=program, value=value)
