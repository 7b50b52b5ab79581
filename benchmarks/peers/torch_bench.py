"""PyTorch on the CPU: eager tensors, ``nn.Sequential`` with ``optim.SGD``, and ``torch.compile``."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmarks.peers.common import (
    CONV_PAD,
    LEARNING_RATE,
    MOMENTUM,
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


def _info(compiled: bool = False) -> dict[str, Any]:
    import torch

    notes = [
        f"PyTorch {torch.__version__}: {torch.get_num_threads()} threads, "
        f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}"
    ]
    if compiled:
        notes.append("torch.compile: default inductor backend")
    return {"version": torch.__version__, "notes": notes}


def elementwise(settings: Settings, compile: bool = False) -> dict[str, Any]:
    import torch

    x0, y0 = elementwise_data()
    x, y = torch.from_numpy(x0), torch.from_numpy(y0)

    def expr(x, y):
        return torch.tanh(x * y + torch.exp(-x)) * 2 + torch.log1p(y * y)

    start = time.perf_counter()
    f = torch.compile(expr) if compile else expr
    out = f(x, y)
    compile_s = time.perf_counter() - start
    result = {**_info(compile), "ms": measure(f, settings, x, y), "check": elementwise_check(out.numpy())}
    if compile:
        result["compile_s"] = compile_s
    return result


def _train(model: Any, data: Any) -> Any:
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

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def mlp(settings: Settings) -> dict[str, Any]:
    from torch import nn

    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    ms, check = train_losses(_train(model, mlp_data()), settings)
    return {**_info(), "ms": ms, "check": check}


def cnn(settings: Settings) -> dict[str, Any]:
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.ReLU(), nn.Linear(256, 10),
    )  # fmt: skip
    ms, check = train_losses(_train(model, cnn_data()), settings)
    return {**_info(), "ms": ms, "check": check}


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
    import operator

    import torch

    a0, b0 = overhead_data()
    a, b = torch.from_numpy(a0), torch.from_numpy(b0)
    return {**_info(), "us": measure(operator.add, settings, a, b) * 1e3, "check": [float(a + b)]}
