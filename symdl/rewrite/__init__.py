"""Graph rewriting. The full pass manager arrives with the rewrite issue; until then
``rewrite_graph`` merges nothing and leaves graphs as written."""

from __future__ import annotations

from collections.abc import Sequence

from symdl.graph.fg import FunctionGraph


def rewrite_graph(
    fgraph: FunctionGraph,
    optimizer: str = "fast_run",
    excluding: Sequence[str] | str = "",
    including: Sequence[str] | str = "",
) -> FunctionGraph:
    if optimizer not in ("fast_run", "fast_compile", "none", "None", None):
        raise ValueError(f"unknown optimizer {optimizer!r}; use 'fast_run', 'fast_compile' or 'none'")
    return fgraph
