"""JAX on the CPU: ``jax.jit`` of the expression, of ``value_and_grad`` plus the update, of a conv.

Every timed call blocks until its result is ready (JAX dispatches asynchronously).
"""

from __future__ import annotations

import os
import time
from typing import Any

from benchmarks.peers.common import (
    CONV_PAD,
    LEARNING_RATE,
    LSTM_LEARNING_RATE,
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


def _jax() -> Any:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        # The compile benchmark's warm run: cache every compiled program, however quick to build.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return jax


def _info() -> dict[str, Any]:
    jax = _jax()
    import jaxlib

    device = jax.devices()[0]
    return {
        "version": jax.__version__,
        "notes": [f"JAX {jax.__version__}, jaxlib {jaxlib.__version__}, device {device}"],
    }


def _elementwise_expr(x: Any, y: Any) -> Any:
    import jax.numpy as jnp

    return jnp.tanh(x * y + jnp.exp(-x)) * 2 + jnp.log1p(y * y)


def elementwise(settings: Settings) -> dict[str, Any]:
    jax = _jax()
    import jax.numpy as jnp

    x0, y0 = elementwise_data()
    x, y = jnp.asarray(x0), jnp.asarray(y0)
    f = jax.jit(_elementwise_expr)
    out = f(x, y).block_until_ready()

    def call():
        return f(x, y).block_until_ready()

    return {**_info(), "ms": measure(call, settings), "check": elementwise_check(out)}


def compile_elementwise(settings: Settings) -> dict[str, Any]:
    """Seconds to trace, compile (or load from JAX's persistent cache) and run the expression once."""
    jax = _jax()
    import jax.numpy as jnp

    x0, y0 = elementwise_data()
    x, y = jnp.asarray(x0), jnp.asarray(y0)  # the data on the device, as for the timed call, before the clock
    start = time.perf_counter()
    out = jax.jit(_elementwise_expr)(x, y).block_until_ready()
    return {**_info(), "s": time.perf_counter() - start, "check": elementwise_check(out)}


def _cross_entropy(logits: Any, y: Any) -> Any:
    import jax
    import jax.numpy as jnp

    logp = jax.nn.log_softmax(logits, axis=1)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def _sgd_momentum_step(loss_fn: Any) -> Any:
    """``jit`` of value_and_grad plus the update, the parameters and velocities donated (updated in place)."""
    jax = _jax()

    def step(params, velocities, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        velocities = [MOMENTUM * v + g for v, g in zip(velocities, grads)]
        params = [p - LEARNING_RATE * v for p, v in zip(params, velocities)]
        return params, velocities, loss

    return jax.jit(step, donate_argnums=(0, 1))


def _mlp_loss(params, x, y):
    import jax
    import jax.numpy as jnp

    h = x
    for k in range(0, len(params), 2):
        h = jnp.dot(h, params[k]) + params[k + 1]
        if k + 2 < len(params):
            h = jax.nn.relu(h)
    return _cross_entropy(h, y)


def _trainer(loss_fn: Any, data: Any) -> Any:
    import jax.numpy as jnp

    x0, y0, init = data
    x, y = jnp.asarray(x0), jnp.asarray(y0)
    state = [[jnp.asarray(p) for p in init], [jnp.zeros_like(jnp.asarray(p)) for p in init]]
    step = _sgd_momentum_step(loss_fn)

    def call():
        state[0], state[1], loss = step(state[0], state[1], x, y)
        return loss.block_until_ready()

    return call


def mlp(settings: Settings, sizes: list[int] | None = None, batch: int | None = None) -> dict[str, Any]:
    ms, check = train_losses(_trainer(_mlp_loss, mlp_data(sizes, batch)), settings)
    return {**_info(), "ms": ms, "check": check}


def mlp_oversubscribed(settings: Settings) -> dict[str, Any]:
    return {**_info(), **oversubscribed(_trainer(_mlp_loss, mlp_data()), settings)}


def compile_mlp(settings: Settings) -> dict[str, Any]:
    """Seconds to trace, compile (or load from JAX's persistent cache) and run the first step."""
    data = mlp_data()
    _jax()
    import jax.numpy as jnp

    jnp.zeros(1).block_until_ready()  # start the runtime outside the timing, as the imports
    start = time.perf_counter()
    loss = float(_trainer(_mlp_loss, data)())
    return {**_info(), "s": time.perf_counter() - start, "check": [loss]}


def _lstm_loss(params, x, y):
    """The LSTM over the time axis with ``lax.scan``, the input products done before the loop."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    W_in, W_hid, b = params

    def cell(carry, gates_in):
        h, c = carry
        i, f, g, o = jnp.split(gates_in + jnp.dot(h, W_hid), 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x.shape[0], W_hid.shape[0]), x.dtype)
    _, hs = lax.scan(cell, (zeros, zeros), jnp.dot(jnp.swapaxes(x, 0, 1), W_in) + b)
    return jnp.mean(jnp.sum(jnp.square(jnp.swapaxes(hs, 0, 1) - y), axis=-1))


def _lstm_trainer(batch: int | None = None, hidden: int | None = None) -> Any:
    """``jit`` of value_and_grad plus the SGD update, the parameters donated."""
    jax = _jax()
    import jax.numpy as jnp

    x0, y0, init = lstm_data(batch, hidden)
    x, y = jnp.asarray(x0), jnp.asarray(y0)

    def step(params, x, y):
        loss, grads = jax.value_and_grad(_lstm_loss)(params, x, y)
        return [p - LSTM_LEARNING_RATE * g for p, g in zip(params, grads)], loss

    step = jax.jit(step, donate_argnums=(0,))
    state = [[jnp.asarray(p) for p in init]]

    def call():
        state[0], loss = step(state[0], x, y)
        return loss.block_until_ready()

    return call


def lstm(settings: Settings, batch: int | None = None, hidden: int | None = None) -> dict[str, Any]:
    ms, check = train_losses(_lstm_trainer(batch, hidden), settings)
    return {**_info(), "ms": ms, "check": check}


def compile_lstm(settings: Settings) -> dict[str, Any]:
    """Seconds to trace, compile (or load from JAX's persistent cache) and run the first step."""
    _jax()
    import jax.numpy as jnp

    jnp.zeros(1).block_until_ready()  # start the runtime outside the timing, as the imports
    start = time.perf_counter()
    loss = float(_lstm_trainer()())
    return {**_info(), "s": time.perf_counter() - start, "check": [loss]}


def _cnn_loss(params, x, y):
    import jax
    import jax.numpy as jnp
    from jax import lax

    h = x
    for k in (0, 2):
        h = lax.conv_general_dilated(h, params[k], (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
        h = jax.nn.relu(h + params[k + 1][None, :, None, None])
        h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    h = jax.nn.relu(jnp.dot(h.reshape(h.shape[0], -1), params[4]) + params[5])
    return _cross_entropy(jnp.dot(h, params[6]) + params[7], y)


def cnn(settings: Settings) -> dict[str, Any]:
    ms, check = train_losses(_trainer(_cnn_loss, cnn_data()), settings)
    return {**_info(), "ms": ms, "check": check}


def conv2d(settings: Settings) -> dict[str, Any]:
    jax = _jax()
    import jax.numpy as jnp
    from jax import lax

    x0, w0 = conv_data()
    x, w = jnp.asarray(x0), jnp.asarray(w0)
    pad = ((CONV_PAD, CONV_PAD), (CONV_PAD, CONV_PAD))
    f = jax.jit(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), pad, dimension_numbers=("NCHW", "OIHW", "NCHW")))
    out = f(x, w).block_until_ready()
    return {**_info(), "ms": measure(lambda: f(x, w).block_until_ready(), settings), "check": conv_check(out)}


def overhead(settings: Settings) -> dict[str, Any]:
    """``jit`` of a scalar ``a + b`` called with Python floats, NumPy scalars and 0-d arrays (JAX's
    own arrays, already on the device: a NumPy array would be copied there at every call)."""
    jax = _jax()
    import jax.numpy as jnp

    f = jax.jit(lambda a, b: a + b)

    def make_call(kind: str) -> Any:
        args = overhead_data(kind)
        if kind == "array":
            args = tuple(jnp.asarray(v) for v in args)
        f(*args).block_until_ready()  # trace and compile for this kind of argument
        return (lambda a, b: f(a, b).block_until_ready()), args

    return {**_info(), **overhead_by_kind(settings, make_call)}
