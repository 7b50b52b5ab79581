"""PyTensor, written the same way as symdl (graph, grad, function with updates), on its C or Numba linker.

PyTensor's C linker calls a BLAS for its dot products (``Dot22``, ``Gemm``) only when
``blas__ldflags`` names one; a pip-installed PyTensor usually finds none and then runs its MLP
several times slower. Each benchmark process gives it the OpenBLAS that comes with the ``bench``
extra (``scipy-openblas32``, a dependency of symdl, the same library symdl links to; see
``blas_ldflags``). Where that is impossible a BLAS-bound row is marked as not comparable.

PyTensor has no neural-network conv2d (its ``nnet`` module was removed), so the CNN and conv2d
benchmarks report it as unsupported.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import time
from typing import Any

import numpy as np

from benchmarks.peers.common import (
    LEARNING_RATE,
    LSTM_LEARNING_RATE,
    MOMENTUM,
    Settings,
    Unsupported,
    elementwise_check,
    elementwise_data,
    lstm_data,
    measure,
    mlp_data,
    overhead_by_kind,
    overhead_data,
    train_losses,
)

LINKERS = {"cvm": "C", "numba": "Numba"}

# The Fortran BLAS and OpenBLAS functions PyTensor's C code calls (pytensor/tensor/blas*.py).
PYTENSOR_BLAS_FUNCTIONS = (
    "sgemm_", "dgemm_", "sgemv_", "dgemv_", "sger_", "dger_", "sdot_", "ddot_",
    "openblas_set_num_threads", "openblas_get_num_threads", "goto_set_num_threads",
)  # fmt: skip


def blas_ldflags(lib_dir: str, library: str, exported: set[str] | None = None, prefix: str = "scipy_") -> str:
    """``blas__ldflags`` that link PyTensor to the OpenBLAS ``lib<library>.so`` in ``lib_dir``.

    scipy-openblas names its functions with a prefix (``scipy_sgemm_``), so that it cannot clash
    with another BLAS in the process, while PyTensor's generated C declares and calls the standard
    names (``sgemm_``). PyTensor passes the flags of ``blas__ldflags`` other than ``-l``/``-L`` to
    the compiler of every BLAS op, so ``-Dsgemm_=scipy_sgemm_`` renames the calls at compile time.
    ``exported``: the library's symbol names, to rename only functions it has (all when None).
    """
    renames = [
        f"-D{name}={prefix}{name}"
        for name in PYTENSOR_BLAS_FUNCTIONS
        if exported is None or f"{prefix}{name}" in exported
    ]
    return shlex.join([f"-L{lib_dir}", f"-l{library}", *renames])


def packaged_openblas_ldflags() -> str:
    """``blas_ldflags`` for the scipy-openblas32 package, or "" when it is missing or unusable."""
    try:
        import scipy_openblas32
    except ImportError:
        return ""
    lib_dir, library = scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library()
    try:
        lib = ctypes.CDLL(os.path.join(lib_dir, f"lib{library}.so"))
    except OSError:
        return ""
    exported = {f"scipy_{name}" for name in PYTENSOR_BLAS_FUNCTIONS if hasattr(lib, f"scipy_{name}")}
    if "scipy_sgemm_" not in exported:
        return ""
    return blas_ldflags(lib_dir, library, exported)


def _pytensor() -> Any:
    """PyTensor in float32, linked to the packaged OpenBLAS unless PYTENSOR_FLAGS names a BLAS."""
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",") if f]
    if not any(f.startswith("floatX") for f in flags):
        flags.append("floatX=float32")
    if not any(f.startswith("blas__ldflags") for f in flags):
        ldflags = packaged_openblas_ldflags()
        if ldflags:
            flags.append(f"blas__ldflags={ldflags}")
    os.environ["PYTENSOR_FLAGS"] = ",".join(flags)
    import pytensor

    return pytensor


def _mode(linker: str) -> Any:
    from pytensor.compile.mode import Mode

    return Mode(linker=linker, optimizer="fast_run")


def _info(linker: str, uses_blas: bool = False) -> dict[str, Any]:
    pytensor = _pytensor()
    ldflags = pytensor.config.blas__ldflags
    notes = [f"PyTensor linker {linker!r} ({LINKERS.get(linker, linker)}), optimizer fast_run"]
    if linker == "cvm":
        flags = shlex.split(ldflags)
        renames = [f for f in flags if f.startswith("-D")]
        shown = " ".join(f for f in flags if f not in renames) or "(none)"
        notes.append(f"PyTensor blas__ldflags: {shown}" + (f" and {len(renames)} -D renames" if renames else ""))
    result = {"version": pytensor.__version__, "notes": notes}
    if linker == "cvm" and uses_blas and not ldflags:
        result["not_comparable"] = "PyTensor C without a BLAS"
    return result


def _build_elementwise(linker: str) -> Any:
    pytensor = _pytensor()
    import pytensor.tensor as pt

    x, y = pt.vector("x", dtype="float32"), pt.vector("y", dtype="float32")
    return pytensor.function([x, y], pt.tanh(x * y + pt.exp(-x)) * 2 + pt.log1p(y * y), mode=_mode(linker))


def elementwise(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    x0, y0 = elementwise_data()
    f = _build_elementwise(linker)
    out = f(x0, y0)
    return {**_info(linker), "ms": measure(f, settings, x0, y0), "check": elementwise_check(out)}


def _build_mlp_train(linker: str, init: list[np.ndarray]) -> Any:
    pytensor = _pytensor()
    import pytensor.tensor as pt

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


def mlp(
    settings: Settings, linker: str = "cvm", sizes: list[int] | None = None, batch: int | None = None
) -> dict[str, Any]:
    x, y, init = mlp_data(sizes, batch)
    train = _build_mlp_train(linker, init)
    ms, check = train_losses(lambda: train(x, y), settings)
    return {**_info(linker, uses_blas=True), "ms": ms, "check": check}


def _compile(linker: str, build: Any, args: tuple[Any, ...]) -> tuple[float, Any]:
    _pytensor()
    import pytensor.tensor  # noqa: F401  (imports are not part of the compile time)

    start = time.perf_counter()
    first = build()(*args)
    return time.perf_counter() - start, first


def compile_mlp(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    x, y, init = mlp_data()  # the data and initial values, as for the peers, before the clock
    seconds, loss = _compile(linker, lambda: _build_mlp_train(linker, init), (x, y))
    return {**_info(linker), "s": seconds, "check": [float(loss)]}


def compile_elementwise(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    x, y = elementwise_data()
    seconds, out = _compile(linker, lambda: _build_elementwise(linker), (x, y))
    return {**_info(linker), "s": seconds, "check": elementwise_check(out)}


def _build_lstm_train(linker: str, init: list[np.ndarray]) -> Any:
    """The LSTM as a Theano user wrote it: ``scan`` over the time axis, the input products
    before the loop, the hidden weights a non-sequence."""
    pytensor = _pytensor()
    import pytensor.tensor as pt

    W_in, W_hid, b = (pytensor.shared(value, name=name) for value, name in zip(init, ("W_in", "W_hid", "b")))
    n = init[1].shape[0]
    x, y = pt.tensor3("x", dtype="float32"), pt.tensor3("y", dtype="float32")

    def step(gates_in, h, c, W_hid):
        gates = gates_in + pt.dot(h, W_hid)
        i, f, g, o = (gates[:, k * n : (k + 1) * n] for k in range(4))
        c = pt.sigmoid(f) * c + pt.sigmoid(i) * pt.tanh(g)
        h = pt.sigmoid(o) * pt.tanh(c)
        return h, c

    zeros = pt.zeros((x.shape[0], n), dtype="float32")
    (hs, _), _ = pytensor.scan(step, sequences=pt.dot(x.dimshuffle(1, 0, 2), W_in) + b, outputs_info=[zeros, zeros],
                               non_sequences=[W_hid], strict=True)  # fmt: skip
    loss = pt.sqr(hs.dimshuffle(1, 0, 2) - y).sum(axis=-1).mean()
    params = [W_in, W_hid, b]
    updates = [(p, p - LSTM_LEARNING_RATE * g) for p, g in zip(params, pytensor.grad(loss, params))]
    return pytensor.function([x, y], loss, updates=updates, mode=_mode(linker))


def lstm(
    settings: Settings, linker: str = "cvm", batch: int | None = None, hidden: int | None = None
) -> dict[str, Any]:
    x, y, init = lstm_data(batch, hidden)
    train = _build_lstm_train(linker, init)
    ms, check = train_losses(lambda: train(x, y), settings)
    return {**_info(linker, uses_blas=True), "ms": ms, "check": check}


def compile_lstm(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    x, y, init = lstm_data()
    seconds, loss = _compile(linker, lambda: _build_lstm_train(linker, init), (x, y))
    return {**_info(linker), "s": seconds, "check": [float(loss)]}


def cnn(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    raise Unsupported("PyTensor has no conv2d for neural networks")


def conv2d(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    raise Unsupported("PyTensor has no conv2d for neural networks")


def overhead(settings: Settings, linker: str = "cvm") -> dict[str, Any]:
    """A compiled scalar ``a + b`` called with Python floats, NumPy scalars and 0-d arrays."""
    pytensor = _pytensor()
    import pytensor.tensor as pt

    a, b = pt.scalar("a", dtype="float32"), pt.scalar("b", dtype="float32")
    f = pytensor.function([a, b], a + b, mode=_mode(linker))
    return {**_info(linker), **overhead_by_kind(settings, lambda kind: (f, overhead_data(kind)))}
