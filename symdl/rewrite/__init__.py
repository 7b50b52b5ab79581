"""Graph rewriting: the passes that make what users write stable, small and fused.

``rewrite_graph(fgraph, optimizer, excluding, including)`` rewrites a FunctionGraph in place
(through ``fgraph.replace`` only) and returns it. ``symdl.function`` calls it with
``symdl.config.optimizer`` (or its ``optimizer=`` argument):

- ``'fast_run'`` (default): every phase below;
- ``'fast_compile'``: merging equal subgraphs and constants, and constant folding, only;
- ``'none'``: nothing.

Phases, in order (each is also a tag):

1. ``canonicalize``: constant folding, merge (common subexpressions), shapes without values
   (``x.shape[0]`` never computes ``x``), algebraic identities, dimshuffle/reshape chains,
   ``ReduceToShape`` made explicit, then the ``sympy`` pass (see ``symdl.rewrite.sympy_rewrite``);
2. ``stabilize``: ``log1p``, ``expm1``, ``softplus``, ``sigmoid``, ``logsumexp`` forms
   (``symdl.rewrite.stabilize``); ``log(det)`` to ``slogdet``, ``inv(a) @ b`` to ``solve``, solves
   with a Cholesky factor to triangular solves (``symdl.rewrite.linalg``);
3. ``specialize``: ``gemm``/``gemv`` and ``sum(x*y)`` to ``dot`` (``symdl.rewrite.specialize``);
4. ``fusion``: elementwise trees to one ``Composite`` node, reductions of them to one
   ``CompositeReduce`` node (``symdl.rewrite.fusion``).

Which values may be written in place is not a rewrite: the execution plan decides it
(``symdl.compile.plan``) from the ops' ``view_map`` and ``inplace_pattern``.

``excluding``/``including`` take tags or rewrite names (a comma-separated string or a list):
``optimizer_excluding='fusion'`` leaves elementwise ops unfused, ``'sympy'`` skips sympy.

Node rewrites run to a fixpoint on a worklist, bounded by a budget proportional to the graph
size, so rewriting is roughly linear in the number of nodes. A rewrite that raises is skipped
(the graph is unchanged there), counted in ``fgraph.rewrite_failures`` and reported once with a
``RuntimeWarning``. ``fgraph.rewrite_profile`` lists ``(pass, seconds, rewrites)`` and
``fgraph.rewrite_counts`` how often each rewrite applied.

>>> import symdl, symdl.tensor as T
>>> x, y = T.vector('x'), T.vector('y')
>>> f = symdl.function([x, y], T.tanh(x * y + T.exp(-x)) * 2 + T.log1p(y * y), mode='py')
>>> [str(n.op) for n in f.graph.toposort()]
['composite{mul,neg,exp,add,tanh,mul,sqr,log1p,add}']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from symdl.graph.fg import FunctionGraph
from symdl.utils import without_gc

if TYPE_CHECKING:
    from symdl.rewrite.engine import RewriteContext

_LOADED = False


def _load() -> None:
    """Import the modules that register the rewrites (on first use: keeps ``import symdl`` fast)."""
    global _LOADED
    if _LOADED:
        return
    from symdl.rewrite import canonicalize, fusion, linalg, specialize, stabilize, sympy_rewrite  # noqa: F401
    from symdl.scan_module import rewrites  # noqa: F401

    _LOADED = True


def _tags(value: Sequence[str] | str | None) -> set[str]:
    if not value:
        return set()
    if isinstance(value, str):
        return {t for t in value.replace(",", " ").split() if t}
    return {str(t) for t in value}


def rewrite_graph(
    fgraph: FunctionGraph,
    optimizer: str | None = "fast_run",
    excluding: Sequence[str] | str = "",
    including: Sequence[str] | str = "",
) -> FunctionGraph:
    """Rewrite ``fgraph`` in place with the passes of ``optimizer`` and return it."""
    from symdl.rewrite.engine import RewriteContext

    mode = "none" if optimizer in (None, "None", "none", "NONE") else str(optimizer).lower()
    if mode not in ("fast_run", "fast_compile", "none"):
        raise ValueError(f"unknown optimizer {optimizer!r}; use 'fast_run', 'fast_compile' or 'none'")
    ctx = RewriteContext(fgraph, _tags(excluding), _tags(including))
    fgraph.rewrite_profile = ctx.times
    fgraph.rewrite_counts = ctx.counts
    fgraph.rewrite_failures = ctx.failures
    if mode == "none":
        return fgraph
    _load()
    without_gc(_run)(fgraph, mode, ctx)
    ctx.report_failures()
    return fgraph


def _run(fgraph: FunctionGraph, mode: str, ctx: RewriteContext) -> None:
    from symdl.rewrite.engine import PHASES, REGISTRY, merge_pass, run_node_phase, timed

    if ctx.allows("merge"):
        timed(ctx, "merge", lambda: merge_pass(fgraph, ctx))
    if ctx.allows("shape_check"):
        from symdl.rewrite.canonicalize import drop_shape_checks_of_computed_forwards

        timed(ctx, "shape_check", lambda: drop_shape_checks_of_computed_forwards(fgraph, ctx))
    if mode == "fast_compile":
        folding = [
            r for r in REGISTRY.node_rewriters if r.name == "constant_folding" and r.enabled(ctx.excluding, set())
        ]
        timed(ctx, "constant_folding", lambda: run_node_phase(fgraph, folding, ctx, merge=ctx.allows("merge")))
    else:
        for phase in PHASES:
            rewriters = [
                r for r in REGISTRY.node_rewriters if r.phase == phase and r.enabled(ctx.excluding, ctx.including)
            ]
            if rewriters:
                timed(
                    ctx,
                    phase,
                    # Merging is kept up during canonicalize, where most duplicates appear;
                    # the later phases rewrite merged graphs and rarely make new duplicates.
                    lambda rewriters=rewriters, phase=phase: run_node_phase(
                        fgraph, rewriters, ctx, merge=ctx.allows("merge") and phase == "canonicalize", label=phase
                    ),
                )
            for p in REGISTRY.graph_passes:
                if p.phase == phase and p.enabled(ctx.excluding, ctx.including):
                    timed(ctx, p.name, lambda p=p: p.fn(fgraph, ctx))


__all__ = ["rewrite_graph"]
