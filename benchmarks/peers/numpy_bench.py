"""NumPy: the elementwise expression, the memory-bandwidth floor, a hand-written MLP step, a 0-d add."""

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


def mlp(settings: Settings) -> dict[str, Any]:
    """A hand-written forward and backward pass, as a NumPy user would write it."""
    x, y, params = mlp_data()
    velocities = [np.zeros_like(p) for p in params]
    n = x.shape[0]
    rows = np.arange(n)

    def step():
        w1, b1, w2, b2, w3, b3 = params
        h1 = np.maximum(x @ w1 + b1, 0)
        h2 = np.maximum(h1 @ w2 + b2, 0)
        z = h2 @ w3 + b3
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) - z[rows, y])
        g3 = e / s
        g3[rows, y] -= 1
        g3 /= n
        g2 = g3 @ w3.T
        g2 *= h2 > 0
        g1 = g2 @ w2.T
        g1 *= h1 > 0
        grads = [x.T @ g1, g1.sum(0), h1.T @ g2, g2.sum(0), h2.T @ g3, g3.sum(0)]
        for p, v, g in zip(params, velocities, grads):
            v *= MOMENTUM
            v += g
            p -= LEARNING_RATE * v
        return loss

    ms, check = train_losses(step, settings)
    return {**_info(), "ms": ms, "check": check}


def overhead(settings: Settings) -> dict[str, Any]:
    """A 0-d ``a + b``: the cost of one NumPy ufunc call, the floor for any compiled function's call."""
    a, b = overhead_data()
    ms = measure(operator.add, settings, a, b)
    return {**_info(), "us": ms * 1e3, "check": [float(a + b)]}
