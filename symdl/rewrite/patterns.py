"""Small helpers the rewrites share: matching elementwise ops and constants, and fitting a
replacement to the type of the variable it replaces."""

from __future__ import annotations

from typing import Any

import numpy as np

from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.fg import FunctionGraph


def ew(v: Variable, *names: str) -> Apply | None:
    """``v.owner`` if it is an Elemwise node whose scalar op is one of ``names`` (any if none)."""
    from symdl.tensor.elemwise import Elemwise

    node = v.owner
    if node is None or type(node.op) is not Elemwise:
        return None
    if names and node.op.scalar_op.name not in names:
        return None
    return node


def used_once(fgraph: FunctionGraph, v: Variable) -> bool:
    """Whether exactly one node uses ``v`` and it is not a function output."""
    uses = fgraph.clients.get(v, ())
    return len(uses) == 1 and uses[0][0] != "output"


def const_data(v: Variable) -> np.ndarray | None:
    """The value of a constant, also seen through ``alloc`` and ``dimshuffle`` of a constant."""
    from symdl.tensor.creation import Alloc
    from symdl.tensor.shape import DimShuffle

    while True:
        if isinstance(v, Constant):
            return np.asarray(v.data)
        node = v.owner
        if node is not None and isinstance(node.op, Alloc | DimShuffle):
            v = node.inputs[0]
            continue
        return None


def scalar_value(v: Variable) -> Any | None:
    """The single value every element of constant ``v`` holds (as a Python number), if any."""
    data = const_data(v)
    if data is None or data.size == 0:
        return None
    if data.size == 1:
        return data.item()
    first = data.flat[0]
    if data.size > 1 and not np.all(data == first):
        return None
    return first.item()


def is_value(v: Variable, value: float) -> bool:
    got = scalar_value(v)
    return got is not None and got == value


def fit(fgraph: FunctionGraph, new: Variable, old: Variable) -> Variable | None:
    """``new`` cast and broadcast to ``old``'s dtype and rank; None if its shape may differ from
    ``old``'s at run time (the caller then keeps the original)."""
    from symdl.rewrite.shapes import dims
    from symdl.tensor.elemwise import cast
    from symdl.tensor.shape import dimshuffle

    if new.ndim > old.ndim:
        return None
    if new.ndim < old.ndim:
        new = dimshuffle(new, ["x"] * (old.ndim - new.ndim) + list(range(new.ndim)))
    if dims(fgraph, new) != dims(fgraph, old):
        return None
    if new.dtype != old.dtype:
        new = cast(new, old.dtype)
    return new


def fill_like(fgraph: FunctionGraph, value: Any, old: Variable) -> Variable | None:
    """A tensor of ``old``'s type and shape filled with ``value``, built without computing ``old``."""
    from symdl.rewrite.shapes import shape_exprs
    from symdl.tensor.creation import alloc
    from symdl.tensor.elemwise import cast
    from symdl.tensor.var import as_tensor_variable, constant

    if isinstance(value, Variable):
        v = as_tensor_variable(value)
        if v.dtype != old.dtype:
            v = cast(v, old.dtype)
    else:
        v = constant(np.asarray(value, dtype=old.dtype))
    if old.ndim == 0 and v.ndim == 0:
        return v
    shape = shape_exprs(fgraph, old)
    if shape is None:
        return None
    return alloc(v, *shape)
