"""Text that describes a value, an op or a whole graph the same way in every process.

Two things need it: the C backend's memo (a graph compiled before is recognised in a new process
by its text) and ops holding a graph (``OpFromGraph``: equal inner graphs make equal ops, so
merging and caching see through them). Values that have no such text (a Python function, an
object without a stable description) raise :class:`Unstable`; callers then do without.

>>> import symdl.tensor as T
>>> x = T.vector('x')
>>> graph_text([x], [T.exp(x) + 1]) == graph_text([x], [T.exp(x) + 1])
True
>>> graph_text([x], [T.exp(x)]) == graph_text([x], [T.log(x)])
False
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.graph.basic import Constant, Op, Variable, toposort


class Unstable(Exception):
    """A value whose text would not be the same in another process."""


def stable_text(value: Any, depth: int = 0) -> str:
    """Text that is equal in two processes exactly when ``value`` is (or raise ``Unstable``)."""
    if depth > 12:
        raise Unstable("too deep")
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, np.generic):
        return f"np.{value.dtype}:{value!r}"
    if isinstance(value, np.dtype):
        return f"dtype:{value.str}"
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return f"array:{data.dtype.str}:{data.shape}:{hashlib.sha256(data.tobytes()).hexdigest()}"
    if isinstance(value, slice):
        parts = (stable_text(v, depth + 1) for v in (value.start, value.stop, value.step))
        return f"slice({','.join(parts)})"
    if isinstance(value, tuple | list):
        inner = ",".join(stable_text(v, depth + 1) for v in value)
        return f"{type(value).__name__}({inner})"
    if isinstance(value, dict):
        items = sorted((stable_text(k, depth + 1), stable_text(v, depth + 1)) for k, v in value.items())
        return "dict(" + ",".join(f"{k}={v}" for k, v in items) + ")"
    if isinstance(value, frozenset | set):
        return f"{type(value).__name__}(" + ",".join(sorted(stable_text(v, depth + 1) for v in value)) + ")"
    describe = getattr(value, "stable_text", None)
    if callable(describe):  # scalar ops, ops holding graphs
        return describe()
    if isinstance(value, Op):
        return op_text(value)
    raise Unstable(type(value).__name__)


@functools.lru_cache(maxsize=4096)
def op_text(op: Op) -> str:
    # Equal ops (by their props, as merging takes them) share one text; most nodes share a few ops.
    return f"op:{type(op).__module__}.{type(op).__qualname__}{stable_text(vars(op), 1)}"


@functools.lru_cache(maxsize=4096)
def type_text(typ: Any) -> str:
    attrs = getattr(typ, "__slots__", ()) or tuple(vars(typ))
    fields = {a: getattr(typ, a) for a in attrs if not a.startswith("_") and hasattr(typ, a)}
    return f"{type(typ).__module__}.{type(typ).__qualname__}{stable_text(fields)}"


def variable_text(var: Variable, names: bool) -> str:
    """A variable's type, and with ``names`` its name and the user's line that made it."""
    if not names:
        return type_text(var.type)
    where = str(var.trace) if var.trace is not None else ""
    return f"{type_text(var.type)} {var.name!r} {where}"


def graph_lines(
    inputs: Sequence[Variable], outputs: Sequence[Variable], names: bool = True, free: str = "error"
) -> list[str]:
    """One line per input, node, output and constant of the graph from ``inputs`` to ``outputs``.

    ``names``: include names and creation lines (error messages show them). Owner-less variables
    that are not inputs must be constants, or shared variables when ``free='shared'`` (then
    described by position, as an implicit input); anything else raises ``Unstable``.
    """
    ids: dict[Variable, int] = {}
    lines = []
    for v in inputs:
        ids[v] = len(ids)
        lines.append(f"in {variable_text(v, names)}")

    def ref(v: Variable) -> int:
        if v not in ids:
            if isinstance(v, Constant):
                lines.append(f"const {variable_text(v, names)} {stable_text(np.asarray(v.data))}")
            elif free == "shared" and getattr(v, "is_shared", False):
                lines.append(f"shared {variable_text(v, names)}")
            else:
                raise Unstable("a free variable that is not an input")
            ids[v] = len(ids)
        return ids[v]

    for node in toposort(outputs, stop_at=inputs):
        args = [ref(v) for v in node.inputs]
        lines.append(f"node {stable_text(node.op)} {args}")
        for out in node.outputs:
            ids[out] = len(ids)
            lines.append(f"out {variable_text(out, names)}")
    lines.append(f"outputs {[ref(v) for v in outputs]}")
    return lines


def graph_text(inputs: Sequence[Variable], outputs: Sequence[Variable], names: bool = False) -> str:
    """A digest of the graph's structure (see ``graph_lines``)."""
    h = hashlib.sha256()
    for line in graph_lines(inputs, outputs, names):
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()
