"""Per-backend implementations of ops, registered by the ops themselves.

An op class registers what runs it on a backend with :func:`register_impl`; a backend finds it
with :func:`find_impl`, which follows the op's class hierarchy (a subclass uses its parent's
implementation unless it registers its own), so no backend ever tests an op's type itself.

What an implementation is depends on the backend:

- ``"c"``: ``impl(node, c) -> str | None``, the C statement running ``node`` in the generated
  driver (usually a call into the runtime), built with the helpers of ``c`` (a
  ``symdl.backend.c.codegen.CEmitter``: slots, integer tables, C types); None when this node
  cannot run in C (its dtypes, say): it then runs its Python ``perform``.
- ``"cuda"``: ``impl(node, cuda) -> Step | None``, the schedule step made with the helpers of
  ``cuda`` (a ``symdl.backend.cuda.codegen.CudaBuilder``); None: the node runs on the host.

The ``py`` backend needs no registration: it runs every op's ``perform``.

>>> from symdl.graph.basic import Op
>>> class Twice(Op):
...     pass
>>> @register_impl("c", Twice)
... def twice_in_c(node, c):
...     return None
>>> class Thrice(Twice):
...     pass
>>> find_impl("c", Thrice()) is twice_in_c
True
>>> find_impl("cuda", Thrice()) is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Impl = Callable[..., Any]

_registered: dict[str, dict[type, Impl]] = {}
_found: dict[str, dict[type, Impl | None]] = {}


def register_impl(backend: str, *op_types: type) -> Callable[[Impl], Impl]:
    """Decorator: ``impl`` runs ops of ``op_types`` (and their subclasses) on ``backend``."""
    if not op_types:
        raise TypeError("register_impl needs at least one op class")

    def decorate(impl: Impl) -> Impl:
        table = _registered.setdefault(backend, {})
        for op_type in op_types:
            table[op_type] = impl
        _found.pop(backend, None)  # a new registration may change what subclasses find
        return impl

    return decorate


def find_impl(backend: str, op: Any) -> Impl | None:
    """The implementation of ``op`` on ``backend``: its class's, else its nearest base's, else None."""
    cls = type(op)
    cache = _found.setdefault(backend, {})
    try:
        return cache[cls]
    except KeyError:
        pass
    table = _registered.get(backend, {})
    impl = next((table[base] for base in cls.__mro__ if base in table), None)
    cache[cls] = impl
    return impl
