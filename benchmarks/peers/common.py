"""What every framework's benchmark shares: the settings, the timer, the problem sizes and the data.

All frameworks start from the same NumPy arrays (inputs, labels and initial parameters drawn from
one seeded generator), so the numbers they report in ``check`` must agree.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


class OpMissing(Exception):
    """symdl lacks an op a benchmark needs (reported as "symdl: op missing", not as a failure)."""


class Unsupported(Exception):
    """A peer has no idiomatic way to run this benchmark (reported, not a failure)."""


@dataclass(frozen=True)
class Settings:
    """How long to time: ``quick`` for development, the full setting for the tables we publish."""

    quick: bool = False
    phase: str = ""  # "cold" or "warm" for the compile benchmark

    @property
    def warmup(self) -> int:
        return 1 if self.quick else 3

    @property
    def warmup_s(self) -> float:
        # The cores of this machine kind run the first ~150 ms of a busy process at about half
        # speed (measured: a MLP step took 8.6 ms for its first 16 calls, then 3.8 ms, and 3.8 ms
        # from the first call after 0.3 s of spinning): a framework that loads its compiled code
        # from a cache and starts timing at once was charged for it. Everyone warms up this long.
        return 0.3 if self.quick else 0.5

    @property
    def samples(self) -> int:
        return 3 if self.quick else 11

    @property
    def min_sample_s(self) -> float:
        return 0.01 if self.quick else 0.05


def measure(call: Callable[..., Any], settings: Settings, *args: Any) -> float:
    """Median time of one ``call(*args)`` in milliseconds, after warm-up (``settings.warmup``
    calls and at least ``settings.warmup_s`` seconds).

    Each sample times a loop of enough calls to last ``settings.min_sample_s`` (one call for slow
    benchmarks, thousands for the per-call overhead), with the garbage collector off.
    """
    deadline = time.perf_counter() + settings.warmup_s
    calls = 0
    while calls < settings.warmup or time.perf_counter() < deadline:
        call(*args)
        calls += 1
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            call(*args)
        elapsed = time.perf_counter() - start
        if elapsed >= settings.min_sample_s or loops >= 1 << 20:
            break
        loops = max(loops * 2, math.ceil(loops * settings.min_sample_s / max(elapsed, 1e-9) * 1.2))
    times = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(settings.samples):
            start = time.perf_counter()
            for _ in range(loops):
                call(*args)
            times.append((time.perf_counter() - start) / loops)
    finally:
        gc.enable()
    return statistics.median(times) * 1e3


# ---------------------------------------------------------------------------------------------
# Problem sizes and data

ELEMENTWISE_N = 10_000_000
ELEMENTWISE_EXPR = "tanh(x*y+exp(-x))*2+log1p(y*y)"

MLP_SIZES = (784, 512, 512, 10)
MLP_BATCH = 128
LEARNING_RATE = 0.01
MOMENTUM = 0.9

CNN_BATCH = 64
CNN_IMAGE = (1, 28, 28)
CNN_CONV = ((32, 1, 5, 5), (64, 32, 5, 5))  # (out, in, kh, kw), valid convolutions, each then 2x2 max pool
CNN_DENSE = ((64 * 4 * 4, 256), (256, 10))

CONV_INPUT = (8, 64, 56, 56)
CONV_FILTERS = (64, 64, 3, 3)
CONV_PAD = 1


def elementwise_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(ELEMENTWISE_N, dtype=np.float32)
    y = rng.standard_normal(ELEMENTWISE_N, dtype=np.float32)
    return x, y


def elementwise_check(out: Any) -> list[float]:
    out = np.asarray(out)
    return [float(np.mean(out, dtype=np.float64)), float(np.mean(np.abs(out), dtype=np.float64))]


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)


def mlp_data() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Inputs (batch, 784) float32, int32 labels, and parameters [W1, b1, W2, b2, W3, b3] with W as (in, out)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, MLP_SIZES[-1], MLP_BATCH).astype(np.int32)
    params = []
    for n_in, n_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        params += [_he(rng, (n_in, n_out), n_in), np.zeros(n_out, np.float32)]
    return x, y, params


def cnn_data() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Images (64, 1, 28, 28), int32 labels, and [C1, c1, C2, c2, W3, b3, W4, b4] (conv filters OIHW, dense (in, out))."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((CNN_BATCH, *CNN_IMAGE), dtype=np.float32)
    y = rng.integers(0, 10, CNN_BATCH).astype(np.int32)
    params = []
    for shape in CNN_CONV:
        params += [_he(rng, shape, shape[1] * shape[2] * shape[3]), np.zeros(shape[0], np.float32)]
    for n_in, n_out in CNN_DENSE:
        params += [_he(rng, (n_in, n_out), n_in), np.zeros(n_out, np.float32)]
    return x, y, params


def conv_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(CONV_INPUT, dtype=np.float32)
    w = _he(rng, CONV_FILTERS, CONV_FILTERS[1] * CONV_FILTERS[2] * CONV_FILTERS[3])
    return x, w


def conv_check(out: Any) -> list[float]:
    out = np.asarray(out)
    return [float(np.mean(out, dtype=np.float64)), float(np.mean(np.square(out, dtype=np.float64)))]


def overhead_data() -> tuple[np.ndarray, np.ndarray]:
    return np.array(1.5, np.float32), np.array(2.25, np.float32)


def train_losses(step: Callable[[], Any], settings: Settings) -> tuple[float, list[float]]:
    """Time a training ``step()`` that returns the loss; check = the losses of steps 1 and 3.

    Step 1's loss checks the forward pass; step 3's depends on the gradients and the momentum
    update, so a framework that computes either differently shows up in the check column.
    """
    losses = [float(step()) for _ in range(3)]
    return measure(step, settings), [losses[0], losses[2]]
