"""PyTensor, written the same way as symdl (graph, grad, function with updates), on its C or Numba linker.

PyTensor has no neural-network conv2d (its ``nnet`` module was removed), so the CNN and conv2d
benchmarks report it as unsupported.
"""

from __future__ import annotations

import ctypes.util
import os
import time
from typing import Any

import numpy as np

from benchmarks.peers.common import (
    LEARNING_RATE,
    MOMENTUM,
    Settings,
    Unsupported,
    elementwise_check,
    elementwise_data,
    measure,
    mlp_data,
    overhead_data,
    train_losses,
)

LINKERS = {"cvm": "C", "numba": "Numba"}


def _pytensor() -> Any:
    """PyTensor in float32, linked to the system's OpenBLAS when its own search finds no BLAS.

    A pip-installed PyTensor often finds no BLAS and then runs dot products far slower; its
    troubleshooting guide's fix is to name the library in ``blas__ldflags``, as done here.
    """
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",") if f]
    if not any(f.startswith("floatX") for f in flags):
        flags.append("floatX=float32")
    if not any(f.startswith("blas__ldflags") for f in flags) and ctypes.util.find_library("openblas"):
        flags.append("blas__ldflags=-lopenblas")
    os.environ["PYTENSOR_FLAGS"] = ",".join(flags)
    import pytensor

    return pytensor


def _mode(linker: str) -> Any:
    from pytensor.compile.mode import Mode

    return Mode(linker=linker, optimizer="fast_run")


def _info(linker: str) -> dict[str, Any]:
    pytensor = _pytensor()
    notes = [f"PyTensor linker {linker!r} ({LINKERS.get(linker, linker)}), optimizer fast_run"]
    if linker == "cvm":
        notes.append(f"PyTensor blas__ldflags: {pytensor.config.blas__ldflags or '(none)'}")
    return {"version": pytensor.__version__, "notes": notes}


def elementwise(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    pytensor = _pytensor()
    import pytensor.tensor as pt

    x0, y0 = elementwise_data()
    start = time.perf_counter()
    x, y = pt.vector("x", dtype="float32"), pt.vector("y", dtype="float32")
    f = pytensor.function([x, y], pt.tanh(x * y + pt.exp(-x)) * 2 + pt.log1p(y * y), mode=_mode(linker))
    out = f(x0, y0)
    compile_s = time.perf_counter() - start
    return {
        **_info(linker),
        "ms": measure(f, settings, x0, y0),
        "compile_s": compile_s,
        "check": elementwise_check(out),
    }


def _build_mlp_train(linker: str, init: list[np.ndarray] | None = None) -> Any:
    pytensor = _pytensor()
    import pytensor.tensor as pt

    if init is None:
        _, _, init = mlp_data()
    x = pt.matrix("x", dtype="float32", shape=(None, init[0].shape[0]))
    y = pt.vector("y", dtype="int32")
    params = [pytensor.shared(value, name=f"p{k}") for k, value in enumerate(init)]
    h = x
    for k in range(0, len(params), 2):
        h = pt.dot(h, params[k]) + params[k + 1]
        if k + 2 < len(params):
            h = pt.maximum(h, 0)
    logp = pt.special.log_softmax(h, axis=1)
    loss = -logp[pt.arange(y.shape[0]), y].mean()
    updates = []
    for p, g in zip(params, pytensor.grad(loss, params)):
        v = pytensor.shared(np.zeros_like(p.get_value()))
        v_new = MOMENTUM * v + g
        updates += [(v, v_new), (p, p - LEARNING_RATE * v_new)]
    return pytensor.function([x, y], loss, updates=updates, mode=_mode(linker))


def mlp(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    x, y, _ = mlp_data()
    train = _build_mlp_train(linker)
    ms, check = train_losses(lambda: train(x, y), settings)
    return {**_info(linker), "ms": ms, "check": check}


def compile_mlp(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    x, y, init = mlp_data()  # the data and initial values, as for the peers, before the clock
    _pytensor()
    import pytensor.tensor  # noqa: F401  (imports are not part of the compile time)

    start = time.perf_counter()
    train = _build_mlp_train(linker, init)
    loss = float(train(x, y))
    return {**_info(linker), "s": time.perf_counter() - start, "check": [loss]}


def cnn(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    raise Unsupported("PyTensor has no conv2d for neural networks")


def conv2d(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    raise Unsupported("PyTensor has no conv2d for neural networks")


def overhead(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    pytensor = _pytensor()
    import pytensor.tensor as pt

    a0, b0 = overhead_data()
    a, b = pt.scalar("a", dtype="float32"), pt.scalar("b", dtype="float32")
    f = pytensor.function([a, b], a + b, mode=_mode(linker))
    return {**_info(linker), "us": measure(f, settings, a0, b0) * 1e3, "check": [float(f(a0, b0))]}
