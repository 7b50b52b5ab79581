"""symdl, written as a Theano user would: symbolic graph, ``symdl.grad``, ``symdl.function`` with updates.

The backend is symdl's default mode (C when it is available, ``py`` otherwise); every result names
the backend the compiled function actually used.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from benchmarks.peers.common import (
    CONV_FILTERS,
    CONV_INPUT,
    ELEMENTWISE_N,
    LEARNING_RATE,
    LSTM_LEARNING_RATE,
    LSTM_STEPS,
    MOMENTUM,
    Settings,
    cnn_data,
    conv_check,
    conv_data,
    elementwise_check,
    elementwise_data,
    lstm_data,
    measure,
    mlp_data,
    overhead_by_kind,
    overhead_data,
    oversubscribed,
    train_losses,
)

INSTALLED_RUNTIME_MODULE = "symdl.backend.c.prebuilt.symdl_crt"


def _without_installed_runtime() -> None:
    """Make symdl build its C runtime as if ``pip install`` had not (into its compile directory,
    as PyTensor builds its own runtime into its compile directory), so that a cold compile starts
    from nothing for symdl as for its peers. Must run before symdl loads a backend.

    symdl looks for the runtime built at install by importing it, and builds one when that import
    fails; a ``None`` in ``sys.modules`` makes the import fail without changing symdl.
    """
    sys.modules[INSTALLED_RUNTIME_MODULE] = None  # type: ignore[assignment]


def _info(fn: Any) -> dict[str, Any]:
    import symdl

    threads = symdl.config.num_threads or "all cores"
    note = f"symdl mode {symdl.config.mode!r} ran on backend {fn.backend!r}, num_threads={threads}"
    return {"version": symdl.__version__, "backend": fn.backend, "notes": [note]}


def _runtime_info() -> dict[str, Any]:
    """Where this process's C runtime came from and the seconds it took to load or build (part of
    the compile time being measured)."""
    import symdl.backend.c.build as build

    runtime = build._runtime
    if runtime is None:
        return {}
    installed = runtime.__name__ == INSTALLED_RUNTIME_MODULE
    return {"runtime": "installed" if installed else "compile dir", "runtime_s": float(runtime.load_seconds)}


def _crossentropy(logits: Any, y: Any) -> Any:
    """Mean softmax cross-entropy of integer labels."""
    import symdl.tensor as T

    return T.nnet.categorical_crossentropy(T.nnet.softmax(logits), y).mean()


def _momentum_updates(loss: Any, params: list[Any]) -> list[tuple[Any, Any]]:
    """SGD with momentum, the same formulation as torch.optim.SGD: v = mu v + g; p = p - lr v."""
    import symdl

    updates = []
    for p, g in zip(params, symdl.grad(loss, params)):
        v = symdl.shared(np.zeros_like(p.get_value()), name=f"v_{p.name}")
        v_new = MOMENTUM * v + g
        updates += [(v, v_new), (p, p - LEARNING_RATE * v_new)]
    return updates


def _build_elementwise() -> Any:
    import symdl
    import symdl.tensor as T

    x, y = T.vector("x"), T.vector("y")
    return symdl.function([x, y], T.tanh(x * y + T.exp(-x)) * 2 + T.log1p(y * y))


def elementwise(settings: Settings) -> dict[str, Any]:
    x0, y0 = elementwise_data()
    f = _build_elementwise()
    out = f(x0, y0)
    assert out.shape == (ELEMENTWISE_N,)
    return {**_info(f), "ms": measure(f, settings, x0, y0), "check": elementwise_check(out)}


def build_mlp_train(init: list[np.ndarray]) -> Any:
    """The MLP training function for the parameters ``init`` ([W1, b1, W2, b2, ...], W as (in,
    out)): one SGD-momentum step on a batch, returning the batch's loss."""
    import symdl
    import symdl.tensor as T

    x = T.matrix("x", shape=(None, init[0].shape[0]))
    y = T.ivector("y")
    params = [symdl.shared(value, name=f"{'Wb'[k % 2]}{k // 2 + 1}") for k, value in enumerate(init)]
    h = x
    for k in range(0, len(params), 2):
        h = T.dot(h, params[k]) + params[k + 1]
        if k + 2 < len(params):
            h = T.nnet.relu(h)
    loss = _crossentropy(h, y)
    return symdl.function([x, y], loss, updates=_momentum_updates(loss, params))


def mlp(settings: Settings, sizes: list[int] | None = None, batch: int | None = None) -> dict[str, Any]:
    x, y, init = mlp_data(sizes, batch)
    train = build_mlp_train(init)
    ms, check = train_losses(lambda: train(x, y), settings)
    return {**_info(train), "ms": ms, "check": check}


def mlp_oversubscribed(settings: Settings) -> dict[str, Any]:
    x, y, init = mlp_data()
    train = build_mlp_train(init)
    return {**_info(train), **oversubscribed(lambda: train(x, y), settings)}


def _compile(build: Any, args: tuple[Any, ...], installed_runtime: bool) -> dict[str, Any]:
    """Seconds from an empty graph to the first result: build, grad, compile (or cache load), one
    call, with symdl's C runtime built at install (``installed_runtime``) or, like the peers'
    cold starts, taken from the compile directory and built there when it is empty.

    The user's imports (``symdl``, ``symdl.tensor``, ``symdl.tensor.nnet``) come before the clock
    starts, as ``import jax`` and ``import pytensor`` do for the peers; loading the runtime does not.
    """
    if not installed_runtime:
        _without_installed_runtime()
    import symdl.tensor as T

    T.nnet  # noqa: B018  (imports symdl.tensor.nnet)
    start = time.perf_counter()
    fn = build()
    first = fn(*args)
    seconds = time.perf_counter() - start
    result = {**_info(fn), **_runtime_info(), "s": seconds, "first": first}
    if installed_runtime and result.get("runtime") == "compile dir":
        # setup.py built it from other sources than these (kernels edited since the install)
        result["notes"].append(
            "symdl's runtime built at install was stale or missing, so this row built one: "
            "rebuild it (pip install -e . or python setup.py build_ext --inplace) and rerun"
        )
    return result


def compile_mlp(settings: Settings, installed_runtime: bool = False) -> dict[str, Any]:
    x, y, init = mlp_data()  # the data and initial values, as for the peers, before the clock
    result = _compile(lambda: build_mlp_train(init), (x, y), installed_runtime)
    loss = result.pop("first")
    return {**result, "check": [float(loss)]}


def compile_elementwise(settings: Settings, installed_runtime: bool = False) -> dict[str, Any]:
    x, y = elementwise_data()
    result = _compile(_build_elementwise, (x, y), installed_runtime)
    out = result.pop("first")
    return {**result, "check": elementwise_check(out)}


def build_lstm_train(init: list[np.ndarray]) -> Any:
    """The LSTM training function, written with Lasagne's ``LSTMLayer`` (no peepholes, as the
    peers' LSTMs) from the parameters ``init`` ([W_in, W_hid, b], the gates side by side)."""
    import symdl
    import symdl.tensor as T
    from symdl import layers, nonlinearities, updates

    W_in, W_hid, b = init
    n = W_hid.shape[0]

    def gate(k: int, nonlinearity: Any = nonlinearities.sigmoid) -> Any:
        part = slice(k * n, (k + 1) * n)
        return layers.Gate(W_in=W_in[:, part].copy(), W_hid=W_hid[:, part].copy(), W_cell=None, b=b[part].copy(),
                           nonlinearity=nonlinearity)  # fmt: skip

    l_in = layers.InputLayer((None, LSTM_STEPS, W_in.shape[0]))
    lstm = layers.LSTMLayer(l_in, n, ingate=gate(0), forgetgate=gate(1), cell=gate(2, nonlinearities.tanh),
                            outgate=gate(3), peepholes=False)  # fmt: skip
    y = T.tensor3("y")
    loss = T.sqr(layers.get_output(lstm) - y).sum(axis=-1).mean()
    params = layers.get_all_params(lstm, trainable=True)
    return symdl.function([l_in.input_var, y], loss, updates=updates.sgd(loss, params, LSTM_LEARNING_RATE))


def lstm(settings: Settings, batch: int | None = None, hidden: int | None = None) -> dict[str, Any]:
    x, y, init = lstm_data(batch, hidden)
    train = build_lstm_train(init)
    ms, check = train_losses(lambda: train(x, y), settings)
    return {**_info(train), "ms": ms, "check": check}


def compile_lstm(settings: Settings, installed_runtime: bool = False) -> dict[str, Any]:
    x, y, init = lstm_data()
    result = _compile(lambda: build_lstm_train(init), (x, y), installed_runtime)
    loss = result.pop("first")
    return {**result, "check": [float(loss)]}


def cnn(settings: Settings) -> dict[str, Any]:
    import symdl
    import symdl.tensor as T

    nnet = T.nnet
    x0, y0, init = cnn_data()
    x = T.tensor4("x", shape=(None, *x0.shape[1:]))
    y = T.ivector("y")
    params = [symdl.shared(value, name=f"p{k}") for k, value in enumerate(init)]
    h = x
    for k in (0, 2):
        h = nnet.conv2d(h, params[k], filter_flip=False) + params[k + 1].dimshuffle("x", 0, "x", "x")
        h = nnet.pool_2d(nnet.relu(h), (2, 2), ignore_border=True)
    h = nnet.relu(T.dot(h.flatten(2), params[4]) + params[5])
    loss = _crossentropy(T.dot(h, params[6]) + params[7], y)
    train = symdl.function([x, y], loss, updates=_momentum_updates(loss, params))
    ms, check = train_losses(lambda: train(x0, y0), settings)
    return {**_info(train), "ms": ms, "check": check}


def conv2d(settings: Settings) -> dict[str, Any]:
    import symdl
    import symdl.tensor as T

    x0, w0 = conv_data()
    x = T.tensor4("x", shape=(None, *CONV_INPUT[1:]))
    w = T.tensor4("w", shape=CONV_FILTERS)
    f = symdl.function([x, w], T.nnet.conv2d(x, w, border_mode="half", filter_flip=False))
    out = f(x0, w0)
    return {**_info(f), "ms": measure(f, settings, x0, w0), "check": conv_check(out)}


def overhead(settings: Settings) -> dict[str, Any]:
    """A compiled scalar ``a + b`` called with Python floats, NumPy scalars and 0-d arrays."""
    import symdl
    import symdl.tensor as T

    a, b = T.scalar("a"), T.scalar("b")
    f = symdl.function([a, b], a + b)
    return {**_info(f), **overhead_by_kind(settings, lambda kind: (f, overhead_data(kind)))}


def distributed(settings: Settings) -> dict[str, Any]:
    """The data-parallel MLP step on 1 and 2 ranks: ``benchmarks/distributed.py`` launches mpiexec."""
    from benchmarks.distributed import measure_framework

    return measure_framework("symdl", settings.quick)
