"""Warm starts that skip rewriting: compiled functions remembered by the graph the user built.

The module cache (``build``) makes a warm start call no compiler, but the start still rewrites
the graph and generates its C only to find the key of a module it already has: about half of a
warm start. This cache keeps, for each graph *as the user built it*, what ``codegen.generate``
produced from its rewritten form (slot tables, constants, labels and the source), so that the next
process with the same graph loads the module directly.

A graph's fingerprint covers everything the rewritten graph and the generated code depend on:
every node's op (with all its attributes), every variable's type, name and creation line (error
messages name them), constants' bytes, the rewrite settings, the symdl configuration, symdl's
own sources (size and date of each file), those of the files defining ops from outside symdl and
their C implementations (docs/extending.md), the C headers, compiler, flags and CPU. A graph with
anything the fingerprint cannot describe faithfully (an op holding a Python function or another
graph, a scalar op that is not registered by name, an op defined in no file) is simply not
remembered, and graphs with nodes that fall back to Python are not either (their callbacks need
the rewritten nodes).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from symdl.backend.c import build
from symdl.config import _DEFAULTS, config
from symdl.graph.fg import FunctionGraph
from symdl.graph.fingerprint import Unstable, graph_lines
from symdl.graph.impl import find_impl

MEMO_FORMAT = 1  # bump when the pickled payload changes shape


@functools.cache
def _symdl_sources() -> str:
    """Size and date of every file of the symdl package: rewrites and codegen live there."""
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if entry.is_dir():
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.name.endswith((".py", ".h", ".c")):
                    st = entry.stat()
                    h.update(f"{entry.path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _outside_sources(fgraph: FunctionGraph) -> list[str]:
    """Size and date of the files defining the graph's ops from outside symdl, and their C code:
    a user's edit of one changes the key. Unstable when such an op was defined in no file."""
    seen: set[str] = set()
    for node in fgraph.apply_nodes:
        for defined in (type(node.op), find_impl("c", node.op)):
            module = getattr(defined, "__module__", None) or ""
            if defined is None or module == "symdl" or module.startswith("symdl."):
                continue
            path = getattr(sys.modules.get(module), "__file__", None)
            if not path:
                raise Unstable(f"{module} has no file")
            st = os.stat(path)
            seen.add(f"{path}|{st.st_size}|{st.st_mtime_ns}")
    return sorted(seen)


def fingerprint(fgraph: FunctionGraph, settings: tuple) -> str | None:
    """The key of an unrewritten graph compiled with rewrite ``settings``, or None."""
    flags, libs = build.generated_flags()
    parts = [
        f"memo {MEMO_FORMAT}",
        _symdl_sources(),
        build.headers_digest(),
        build.compiler_identity(),
        " ".join(flags + libs),
        build.cpu_features(),
        repr(settings),
        repr(sorted((k, repr(getattr(config, k))) for k in _DEFAULTS)),
    ]
    try:
        parts += graph_lines(fgraph.inputs, fgraph.outputs, names=True)
        parts += _outside_sources(fgraph)
    except (Unstable, OSError):
        return None
    parts.append(f"updates {sorted(fgraph.update_mapping.items())}")
    return build.cache_key(*parts)


def _memo_path(key: str) -> Path:
    return build.cache_dir() / "memo" / key[:2] / f"{key}.pkl"


def recall(key: str) -> tuple[Any, str] | None:
    """The generated tables and module key remembered under ``key``, if any and readable."""
    try:
        with open(_memo_path(key), "rb") as f:
            payload = pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError):
        return None
    if not isinstance(payload, dict) or payload.get("format") != MEMO_FORMAT:
        return None
    # the fields of codegen.Generated, without the rewritten nodes (all of them run in C)
    return SimpleNamespace(order=[], **payload["generated"]), payload["module_key"]


def remember(key: str, generated: Any, module_key: str) -> None:
    """Write the memo atomically (a reader sees the old file, the new one, or none)."""
    if not all(generated.in_c) or any(generated.may_call_back):
        return
    path = _memo_path(key)
    tables = {f.name: getattr(generated, f.name) for f in fields(generated) if f.name != "order"}
    payload = {"format": MEMO_FORMAT, "generated": tables, "module_key": module_key}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache directory costs the next start its rewrite, nothing more
