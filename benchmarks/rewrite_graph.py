"""Time the rewriting of a 10,000-node graph (issue 5's bound: well under 1 s).

The graph is the forward and backward pass of a deep MLP with SGD updates, as a user's training
function would be (dense layers, tanh/ReLU, softmax cross-entropy), sized to 10,000 nodes before
rewriting. Each run rewrites a fresh clone with the default 'fast_run' passes; the script prints
the median and the best wall-clock and CPU times (CPU time is the steadier figure on a shared
machine), and the time per pass of the last run from ``fgraph.rewrite_profile``.

Run from the repository root::

    python benchmarks/rewrite_graph.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import symdl  # noqa: E402
import symdl.tensor as T  # noqa: E402
from symdl.graph import FunctionGraph  # noqa: E402
from symdl.rewrite import rewrite_graph  # noqa: E402

TARGET_NODES = 10_000


def training_graph(n_layers: int) -> tuple[list, list]:
    """Inputs and outputs (loss and parameter updates) of an ``n_layers``-deep MLP step."""
    rng = np.random.default_rng(0)
    x, y = T.matrix("x"), T.ivector("y")
    params, h = [], x
    width = 32
    for i in range(n_layers):
        w = symdl.shared(rng.normal(size=(width, width)).astype("float32") * 0.1, name=f"W{i}")
        b = symdl.shared(np.zeros(width, "float32"), name=f"b{i}")
        params += [w, b]
        z = T.dot(h, w) + b
        h = T.tanh(z) if i % 2 else T.nnet.relu(z)
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(h), y).mean() + 1e-4 * sum((p**2).sum() for p in params)
    grads = symdl.grad(loss, params)
    updates = [p - 0.01 * g for p, g in zip(params, grads)]
    return [x, y, *params], [loss, *updates]


def graph_of_size(target: int) -> tuple[FunctionGraph, int]:
    lo, hi = 1, 400
    while lo < hi:
        mid = (lo + hi) // 2
        inputs, outputs = training_graph(mid)
        if len(FunctionGraph(inputs, outputs).apply_nodes) < target:
            lo = mid + 1
        else:
            hi = mid
    inputs, outputs = training_graph(lo)
    return FunctionGraph(inputs, outputs), lo


def main() -> None:
    graph, layers = graph_of_size(TARGET_NODES)
    n_before = len(graph.apply_nodes)
    times, cpu, profile, n_after = [], [], None, 0
    for _ in range(7):
        fg = graph.clone()
        start, start_cpu = time.perf_counter(), time.process_time()
        rewrite_graph(fg, "fast_run")
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        profile, n_after = fg.rewrite_profile, len(fg.apply_nodes)
    print(
        f"rewriting the {n_before}-node training graph of a {layers}-layer MLP (fast_run) to {n_after} nodes: "
        f"median {statistics.median(times):.3f} s wall ({statistics.median(cpu):.3f} s CPU), "
        f"best {min(times):.3f} s wall ({min(cpu):.3f} s CPU), over {len(times)} runs"
    )
    for name, seconds, count in profile:
        print(f"  {name:<18} {seconds * 1e3:8.1f} ms  {count:6d} rewrites")


if __name__ == "__main__":
    main()
