"""symdl, written as a Theano user would: symbolic graph, ``symdl.grad``, ``symdl.function`` with updates.

The backend is symdl's default mode (C when it is available, ``py`` otherwise); every result names
the backend the compiled function actually used.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks.peers.common import (
    CONV_FILTERS,
    CONV_INPUT,
    ELEMENTWISE_N,
    LEARNING_RATE,
    MOMENTUM,
    OpMissing,
    Settings,
    cnn_data,
    conv_check,
    conv_data,
    elementwise_check,
    elementwise_data,
    measure,
    mlp_data,
    overhead_data,
    train_losses,
)


def _info(fn: Any, notes: list[str] | None = None) -> dict[str, Any]:
    import symdl

    notes = list(notes or [])
    threads = symdl.config.num_threads or "all cores"
    notes.append(f"symdl mode {symdl.config.mode!r} ran on backend {fn.backend!r}, num_threads={threads}")
    return {"version": symdl.__version__, "backend": fn.backend, "notes": notes}


def _nnet(name: str) -> Any:
    """``symdl.tensor.nnet.<name>``, or OpMissing when that module or op does not exist yet."""
    import symdl.tensor as T

    try:
        return getattr(T.nnet, name)
    except (ImportError, AttributeError) as exc:
        raise OpMissing(f"symdl.tensor.nnet.{name}") from exc


def _pool_2d() -> Any:
    import symdl.tensor as T

    try:
        return _nnet("pool_2d")
    except OpMissing:
        try:
            return T.signal.pool.pool_2d
        except (ImportError, AttributeError) as exc:
            raise OpMissing("symdl.tensor.nnet.pool_2d") from exc


def _relu(h: Any, notes: list[str]) -> Any:
    import symdl.tensor as T

    try:
        return _nnet("relu")(h)
    except OpMissing:
        if "relu: T.maximum(h, 0) (no T.nnet.relu yet)" not in notes:
            notes.append("relu: T.maximum(h, 0) (no T.nnet.relu yet)")
        return T.maximum(h, 0)


def _crossentropy(logits: Any, y: Any, notes: list[str]) -> Any:
    """Mean softmax cross-entropy of integer labels, through T.nnet when it exists."""
    import symdl.tensor as T

    try:
        softmax, xent = _nnet("softmax"), _nnet("categorical_crossentropy")
    except OpMissing:
        notes.append("cross-entropy: log-softmax by T.logsumexp (no T.nnet.softmax yet)")
        logp = logits - T.logsumexp(logits, axis=1, keepdims=True)
        return -logp[T.arange(y.shape[0]), y].mean()
    return xent(softmax(logits), y).mean()


def _momentum_updates(loss: Any, params: list[Any]) -> list[tuple[Any, Any]]:
    """SGD with momentum, the same formulation as torch.optim.SGD: v = mu v + g; p = p - lr v."""
    import symdl

    updates = []
    for p, g in zip(params, symdl.grad(loss, params)):
        v = symdl.shared(np.zeros_like(p.get_value()), name=f"v_{p.name}")
        v_new = MOMENTUM * v + g
        updates += [(v, v_new), (p, p - LEARNING_RATE * v_new)]
    return updates


def elementwise(settings: Settings) -> dict[str, Any]:
    import symdl
    import symdl.tensor as T

    x0, y0 = elementwise_data()
    start = time.perf_counter()
    x, y = T.vector("x"), T.vector("y")
    f = symdl.function([x, y], T.tanh(x * y + T.exp(-x)) * 2 + T.log1p(y * y))
    out = f(x0, y0)
    compile_s = time.perf_counter() - start
    assert out.shape == (ELEMENTWISE_N,)
    return {**_info(f), "ms": measure(f, settings, x0, y0), "compile_s": compile_s, "check": elementwise_check(out)}


def build_mlp_train(notes: list[str], init: list[np.ndarray] | None = None) -> Any:
    """The MLP training function: one SGD-momentum step on a batch, returning the batch's loss,
    from the initial parameters ``init`` (``mlp_data()``'s by default)."""
    import symdl
    import symdl.tensor as T

    if init is None:
        _, _, init = mlp_data()
    x = T.matrix("x", shape=(None, init[0].shape[0]))
    y = T.ivector("y")
    params = [symdl.shared(value, name=f"{'Wb'[k % 2]}{k // 2 + 1}") for k, value in enumerate(init)]
    h = x
    for k in range(0, len(params), 2):
        h = T.dot(h, params[k]) + params[k + 1]
        if k + 2 < len(params):
            h = _relu(h, notes)
    loss = _crossentropy(h, y, notes)
    return symdl.function([x, y], loss, updates=_momentum_updates(loss, params))


def mlp(settings: Settings) -> dict[str, Any]:
    x, y, _ = mlp_data()
    notes: list[str] = []
    train = build_mlp_train(notes)
    ms, check = train_losses(lambda: train(x, y), settings)
    return {**_info(train, notes), "ms": ms, "check": check}


def compile_mlp(settings: Settings) -> dict[str, Any]:
    """Seconds from an empty graph to the first result: build, grad, compile (or cache load), one call.

    The user's imports (``symdl``, ``symdl.tensor``, ``symdl.tensor.nnet``) come before the clock
    starts, as ``import jax`` and ``import pytensor`` do for the peers; loading a backend does not.
    """
    import symdl.tensor as T

    x, y, init = mlp_data()  # the data and initial values, as for the peers, before the clock
    notes: list[str] = []
    try:
        T.nnet  # noqa: B018  (imports symdl.tensor.nnet)
    except ImportError:
        pass
    start = time.perf_counter()
    train = build_mlp_train(notes, init)
    loss = float(train(x, y))
    seconds = time.perf_counter() - start
    return {**_info(train, notes), "s": seconds, "check": [loss]}


def cnn(settings: Settings) -> dict[str, Any]:
    import symdl
    import symdl.tensor as T

    conv2d, pool_2d = _nnet("conv2d"), _pool_2d()
    x0, y0, init = cnn_data()
    notes: list[str] = []
    x = T.tensor4("x", shape=(None, *x0.shape[1:]))
    y = T.ivector("y")
    params = [symdl.shared(value, name=f"p{k}") for k, value in enumerate(init)]
    h = x
    for k in (0, 2):
        h = conv2d(h, params[k], filter_flip=False) + params[k + 1].dimshuffle("x", 0, "x", "x")
        h = pool_2d(_relu(h, notes), (2, 2), ignore_border=True)
    h = _relu(T.dot(h.flatten(2), params[4]) + params[5], notes)
    loss = _crossentropy(T.dot(h, params[6]) + params[7], y, notes)
    train = symdl.function([x, y], loss, updates=_momentum_updates(loss, params))
    ms, check = train_losses(lambda: train(x0, y0), settings)
    return {**_info(train, notes), "ms": ms, "check": check}


def conv2d(settings: Settings) -> dict[str, Any]:
    import symdl
    import symdl.tensor as T

    conv = _nnet("conv2d")
    x0, w0 = conv_data()
    x = T.tensor4("x", shape=(None, *CONV_INPUT[1:]))
    w = T.tensor4("w", shape=CONV_FILTERS)
    f = symdl.function([x, w], conv(x, w, border_mode="half", filter_flip=False))
    out = f(x0, w0)
    return {**_info(f), "ms": measure(f, settings, x0, w0), "check": conv_check(out)}


def overhead(settings: Settings) -> dict[str, Any]:
    import symdl
    import symdl.tensor as T

    a0, b0 = overhead_data()
    a, b = T.scalar("a"), T.scalar("b")
    f = symdl.function([a, b], a + b)
    return {**_info(f), "us": measure(f, settings, a0, b0) * 1e3, "check": [float(f(a0, b0))]}
