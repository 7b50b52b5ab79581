"""Backends: the contract every backend keeps, which backends exist here, and which one a
function uses.

A backend turns an execution plan (``symdl.compile.plan``) into a :class:`Thunk` with
``link(plan)``. It may also remember what it built for a graph as the user wrote it
(``recall``/``remember``), so that a later process skips rewriting: the C backend does.

>>> import symdl
>>> 'py' in symdl.backend.available()
True
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from symdl.config import config
from symdl.errors import CompileError, SymdlWarning

# The most dimensions a value may have in compiled code (C and CUDA alike).
MAXDIM = 16

if TYPE_CHECKING:
    from symdl.compile.plan import Plan
    from symdl.graph.basic import Apply
    from symdl.graph.fg import FunctionGraph
    from symdl.profiling import ProfileReport


class Thunk:
    """What ``Backend.link`` returns: ``thunk(values) -> outputs`` for the graph's inputs (the
    caller's, then the shared variables' values) and outputs (results, then updates)."""

    # True when the thunk itself refuses a wrong count, dtype, ndim or static shape (with
    # ``InputError``, before it runs) and returns outputs no one else holds: the function's
    # call then skips its own checks and copies.
    checks_inputs_and_owns_outputs = False

    def __call__(self, values: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    def source(self) -> str:
        """What runs, as text (generated code or the schedule)."""
        raise NotImplementedError

    def profile(self) -> ProfileReport:
        raise NotImplementedError

    def borrow_outputs(self, positions: Sequence[int]) -> None:
        """``symdl.Out(borrow=True)``: the results at ``positions`` may be returned in the same
        array every call. Backends that return new arrays every call ignore it."""


class Backend:
    """What a backend provides (subclasses override ``available`` and ``link``)."""

    name = ""

    @staticmethod
    def available() -> bool:
        """Whether this backend can run on this machine now."""
        return False

    @staticmethod
    def link(plan: Plan) -> Thunk:
        raise NotImplementedError

    @staticmethod
    def recall(fgraph: FunctionGraph, settings: tuple) -> tuple[str | None, Thunk | None]:
        """``(key, thunk)`` for the unrewritten ``fgraph`` built with rewrite ``settings``: a thunk
        built for an equal graph before, else None; ``key`` is what ``remember`` stores it under
        (None: this graph cannot be remembered)."""
        return None, None

    @staticmethod
    def remember(key: str, thunk: Thunk) -> None:
        """Keep ``thunk`` for a later ``recall`` of the graph whose key is ``key``."""


# name -> "module:class" of each Backend
_BACKENDS = {
    "py": "symdl.backend.py:PyBackend",
    "c": "symdl.backend.c:CBackend",
    "cuda": "symdl.backend.cuda:CudaBackend",
    # mode='DEBUG': the C backend checking every node against Python; not listed by available()
    "c-debug": "symdl.backend.c:CDebugBackend",
}
_cache: dict[str, type[Backend] | None] = {}


def get_backend(name: str) -> type[Backend]:
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; known: {sorted(_BACKENDS)}")
    if name not in _cache:
        module, _, cls = _BACKENDS[name].partition(":")
        try:
            _cache[name] = getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError):
            _cache[name] = None
    backend = _cache[name]
    if backend is None:
        raise ValueError(f"backend {name!r} is not part of this build of symdl")
    return backend


def available() -> list[str]:
    """Backends that can run on this machine now."""
    return [name for name in _BACKENDS if name != "c-debug" and _runs_here(name)]


def _runs_here(name: str) -> bool:
    try:
        return get_backend(name).available()
    except ValueError:
        return False


def resolve_backend(mode: str | None, device: str | None = None) -> str:
    """The backend for ``function(mode=..., device=...)``, falling back to the configuration."""
    device = device or config.device
    if device == "cuda":
        return "cuda"
    mode = mode or config.mode
    # Only the C backend is asked, not available(): listing them all would import the CUDA
    # backend on every compile, milliseconds that a warm start notices.
    if mode in ("FAST_RUN", "fast_run", "auto", None):
        return "c" if _runs_here("c") else _fall_back_to_py()
    if mode in ("DEBUG", "DebugMode"):
        return "c-debug" if _runs_here("c") else _fall_back_to_py()
    if mode in ("FAST_COMPILE", "py"):
        return "py"
    backend = get_backend(mode)
    if mode == "c" and not _runs_here("c"):
        raise CompileError(
            f"mode='c': {backend.missing()}; or use mode='py' (the NumPy backend, typically 10-100x slower)"
        )
    return mode


_warned_py_fallback = False


def _fall_back_to_py() -> str:
    """'py', for mode 'auto' on a machine where the C backend cannot run; says so once."""
    global _warned_py_fallback
    if not _warned_py_fallback:
        _warned_py_fallback = True
        try:
            reason = get_backend("c").missing()
        except ValueError as exc:  # a build of symdl without it
            reason = str(exc)
        warnings.warn(
            f"symdl: the C backend cannot run here ({reason}); functions run on the NumPy backend 'py' instead, "
            "typically 10-100x slower (mode='py' says you meant it and silences this)",
            SymdlWarning,
            stacklevel=4,
        )
    return "py"


def raise_broadcast_error(exc: Exception, node: Apply, inputs: list) -> None:
    """An elementwise node whose inputs do not broadcast raises ShapeError naming them (on every
    backend: the C backend's own loops do, and nodes it runs through NumPy call this)."""
    from symdl.errors import ShapeError
    from symdl.utils import describe

    if not node.op.broadcasts_inputs or not isinstance(exc, ValueError) or isinstance(exc, ShapeError):
        return
    shapes = [np.shape(v) for v in inputs]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(
            f"{node.op} (output {describe(node.outputs[0])}): shapes {', '.join(map(str, shapes))} cannot broadcast"
        ) from exc
