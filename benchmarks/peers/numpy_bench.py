"""NumPy: the elementwise expression, the memory-bandwidth floor, a hand-written MLP step, 0-d adds."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from benchmarks.peers.common import (
    LEARNING_RATE,
    MOMENTUM,
    Settings,
    elementwise_check,
    elementwise_data,
    measure,
    mlp_data,
    overhead_by_kind,
    overhead_data,
    train_losses,
)


def _info() -> dict[str, Any]:
    notes = []
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
                notes.append(
                    f"NumPy's BLAS: {pool.get('internal_api')} {pool.get('version')}, "
                    f"kernel {pool.get('architecture')}, {pool.get('num_threads')} threads"
                )
    except ImportError:
        pass
    return {"version": np.__version__, "notes": notes}


def elementwise(settings: Settings) -> dict[str, Any]:
    x, y = elementwise_data()

    def call():
        return np.tanh(x * y + np.exp(-x)) * 2 + np.log1p(y * y)

    return {**_info(), "ms": measure(call, settings), "check": elementwise_check(call())}


def copy_floor(settings: Settings) -> dict[str, Any]:
    """The memory floor: copying x into a preallocated buffer (reads 40 MB, writes 40 MB)."""
    x, _ = elementwise_data()
    out = np.empty_like(x)
    return {**_info(), "ms": measure(lambda: np.copyto(out, x), settings)}


def add_floor(settings: Settings) -> dict[str, Any]:
    """The memory floor of a two-input expression: ``x + y`` into a preallocated buffer."""
    x, y = elementwise_data()
    out = np.empty_like(x)
    return {**_info(), "ms": measure(lambda: np.add(x, y, out=out), settings)}


def mlp(settings: Settings, sizes: list[int] | None = None, batch: int | None = None) -> dict[str, Any]:
    """A hand-written forward and backward pass, as a NumPy user would write it."""
    x, y, params = mlp_data(sizes, batch)
    velocities = [np.zeros_like(p) for p in params]
    n = x.shape[0]
    rows = np.arange(n)
    weights, biases = params[::2], params[1::2]

    def step():
        hidden = [x]  # the input of each layer
        for w, b in zip(weights[:-1], biases[:-1]):
            hidden.append(np.maximum(hidden[-1] @ w + b, 0))
        z = hidden[-1] @ weights[-1] + biases[-1]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) - z[rows, y])
        g = e / s
        g[rows, y] -= 1
        g /= n
        grads = []
        for k in range(len(weights) - 1, -1, -1):
            grads[:0] = [hidden[k].T @ g, g.sum(0)]
            if k:
                g = g @ weights[k].T
                g *= hidden[k] > 0
        for p, v, grad in zip(params, velocities, grads):
            v *= MOMENTUM
            v += grad
            p -= LEARNING_RATE * v
        return loss

    ms, check = train_losses(step, settings)
    return {**_info(), "ms": ms, "check": check}


def overhead(settings: Settings) -> dict[str, Any]:
    """A ``+`` of two 0-d arrays (the reference: one NumPy ufunc call, the floor for any compiled
    function's call), of two NumPy scalars, and ``np.add`` of two Python floats."""

    def make_call(kind: str) -> Any:
        return (np.add if kind == "float" else operator.add), overhead_data(kind)

    return {**_info(), **overhead_by_kind(settings, make_call)}
