"""Backend registry: which backends exist here, and which one a function uses.

>>> import symdl
>>> 'py' in symdl.backends.available()
True
"""

from __future__ import annotations

import importlib
from typing import Any

from symdl.config import config

# name -> module path of a class with ``available()`` and ``link(fgraph, n_inputs)``
_BACKENDS = {
    "py": "symdl.backend.py:PyBackend",
    "c": "symdl.backend.c:CBackend",
    "cuda": "symdl.backend.cuda:CudaBackend",
    # mode='DEBUG': the C backend checking every node against Python; not listed by available()
    "c-debug": "symdl.backend.c:CDebugBackend",
}
_cache: dict[str, Any] = {}


def get_backend(name: str) -> Any:
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
        return "c" if _runs_here("c") else "py"
    if mode in ("DEBUG", "DebugMode"):
        return "c-debug" if _runs_here("c") else "py"
    if mode in ("FAST_COMPILE", "py"):
        return "py"
    get_backend(mode)
    return mode
