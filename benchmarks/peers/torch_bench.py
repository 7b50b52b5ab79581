"""PyTorch on the CPU: eager tensors, ``nn.Sequential`` with ``optim.SGD``, and ``torch.compile``.

With ``compile=True`` a training step runs the model and its loss through ``torch.compile`` (the
backward pass is then compiled too, by AOTAutograd) and the optimizer's step through a second
``torch.compile``, as PyTorch's tutorial on compiling the optimizer does. ``torch.compile`` caches
what it builds in ``$TORCHINDUCTOR_CACHE_DIR`` (the harness gives each run its own).
"""

from __future__ import annotations

import operator
import time
from typing import Any

import numpy as np

from benchmarks.peers.common import (
    CONV_PAD,
    LEARNING_RATE,
    LSTM_LEARNING_RATE,
    MLP_SIZES,
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
    mlp_shape,
    overhead_by_kind,
    overhead_data,
    oversubscribed,
    train_losses,
)


def _info(compiled: bool = False) -> dict[str, Any]:
    import torch

    notes = [
        f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads, "
        f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}"
    ]
    if compiled:
        notes.append("torch.compile: default inductor backend; training steps also compile the optimizer's step")
    return {"version": torch.__version__, "notes": notes}


def _elementwise_expr(x: Any, y: Any) -> Any:
    import torch

    return torch.tanh(x * y + torch.exp(-x)) * 2 + torch.log1p(y * y)


def elementwise(settings: Settings, compile: bool = False) -> dict[str, Any]:
    import torch

    x0, y0 = elementwise_data()
    x, y = torch.from_numpy(x0), torch.from_numpy(y0)
    f = torch.compile(_elementwise_expr) if compile else _elementwise_expr
    out = f(x, y)
    return {**_info(compile), "ms": measure(f, settings, x, y), "check": elementwise_check(out.numpy())}


def _train(model: Any, data: Any, compile: bool = False) -> Any:
    """The idiomatic step: zero_grad, forward, cross-entropy, backward, optimizer step."""
    import torch

    x0, y0, init = data
    params = list(model.parameters())
    with torch.no_grad():
        for p, value in zip(params, init):
            # Dense weights are (in, out) in the shared data and (out, in) in nn.Linear.
            p.copy_(torch.from_numpy(value.T.copy() if value.ndim == 2 else value))
    x, y = torch.from_numpy(x0), torch.from_numpy(y0.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(params, lr=LEARNING_RATE, momentum=MOMENTUM)

    def forward(x, y):
        return loss_fn(model(x), y)

    def update():
        optimizer.step()

    if compile:
        forward, update = torch.compile(forward), torch.compile(update)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = forward(x, y)
        loss.backward()
        update()
        return loss.detach()

    return step


def _mlp_model(sizes: tuple[int, ...]) -> Any:
    from torch import nn

    layers: list[Any] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def mlp(
    settings: Settings, sizes: list[int] | None = None, batch: int | None = None, compile: bool = False
) -> dict[str, Any]:
    sizes, batch = mlp_shape(sizes, batch)
    model = _mlp_model(sizes)
    ms, check = train_losses(_train(model, mlp_data(sizes, batch), compile), settings)
    return {**_info(compile), "ms": ms, "check": check}


def mlp_oversubscribed(settings: Settings, compile: bool = False) -> dict[str, Any]:
    model = _mlp_model(MLP_SIZES)
    return {**_info(compile), **oversubscribed(_train(model, mlp_data(), compile), settings)}


def compile_mlp(settings: Settings) -> dict[str, Any]:
    """Seconds to build the model, compile its training step (forward, backward, optimizer step)
    or load it from the cache, and run the first step."""
    import torch  # noqa: F401  (imports are not part of the compile time)

    data = mlp_data()
    start = time.perf_counter()
    model = _mlp_model(MLP_SIZES)
    loss = float(_train(model, data, compile=True)())
    return {**_info(True), "s": time.perf_counter() - start, "check": [loss]}


def compile_elementwise(settings: Settings) -> dict[str, Any]:
    import torch

    x0, y0 = elementwise_data()
    x, y = torch.from_numpy(x0), torch.from_numpy(y0)
    start = time.perf_counter()
    out = torch.compile(_elementwise_expr)(x, y)
    return {**_info(True), "s": time.perf_counter() - start, "check": elementwise_check(out.numpy())}


def _lstm_train(batch: int | None = None, hidden: int | None = None) -> Any:
    """``nn.LSTM`` (batch first) with the shared parameters and ``optim.SGD``: the step as a
    PyTorch user writes it. ``nn.LSTM`` has two biases per gate where the others have one: the
    hidden one stays zero and untrained, so that every framework takes the same steps."""
    import torch

    x0, y0, (W_in, W_hid, b) = lstm_data(batch, hidden)
    model = torch.nn.LSTM(W_in.shape[0], W_hid.shape[0], batch_first=True)
    with torch.no_grad():
        model.weight_ih_l0.copy_(torch.from_numpy(W_in.T.copy()))
        model.weight_hh_l0.copy_(torch.from_numpy(W_hid.T.copy()))
        model.bias_ih_l0.copy_(torch.from_numpy(b))
        model.bias_hh_l0.zero_()
    model.bias_hh_l0.requires_grad_(False)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=LSTM_LEARNING_RATE)
    x, y = torch.from_numpy(x0), torch.from_numpy(y0)

    def step():
        optimizer.zero_grad(set_to_none=True)
        out, _ = model(x)
        loss = (out - y).square().sum(-1).mean()
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def lstm(settings: Settings, batch: int | None = None, hidden: int | None = None) -> dict[str, Any]:
    ms, check = train_losses(_lstm_train(batch, hidden), settings)
    return {**_info(), "ms": ms, "check": check}


def compile_lstm(settings: Settings) -> dict[str, Any]:
    """Eager PyTorch compiles nothing: seconds to build the model and run the first step."""
    import torch  # noqa: F401  (imports are not part of the time)

    start = time.perf_counter()
    loss = float(_lstm_train()())
    return {**_info(), "s": time.perf_counter() - start, "check": [loss]}


def cnn(settings: Settings, compile: bool = False) -> dict[str, Any]:
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(), nn.Linear(256, 10),
    )  # fmt: skip
    ms, check = train_losses(_train(model, cnn_data(), compile), settings)
    return {**_info(compile), "ms": ms, "check": check}


def conv2d(settings: Settings) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    x0, w0 = conv_data()
    x, w = torch.from_numpy(x0), torch.from_numpy(w0)

    def call():
        with torch.no_grad():
            return F.conv2d(x, w, padding=CONV_PAD)

    return {**_info(), "ms": measure(call, settings), "check": conv_check(call().numpy())}


def overhead(settings: Settings) -> dict[str, Any]:
    """A 0-d tensor add (eager PyTorch has no compiled function to call with floats or NumPy scalars)."""
    import torch

    def make_call(kind: str) -> Any:
        if kind != "array":
            return None
        return operator.add, tuple(torch.from_numpy(v) for v in overhead_data(kind))

    return {**_info(), **overhead_by_kind(settings, make_call)}


def distributed(settings: Settings) -> dict[str, Any]:
    """The data-parallel MLP step on 1 and 2 ranks: ``benchmarks/distributed.py`` launches mpiexec."""
    from benchmarks.distributed import measure_framework

    return measure_framework("torch", settings.quick)
