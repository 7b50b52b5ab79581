"""What every framework's benchmark shares: the settings, the timer, the problem sizes and the data.

All frameworks start from the same NumPy arrays (inputs, labels and initial parameters drawn from
one seeded generator), so the numbers they report in ``check`` must agree.
"""

from __future__ import annotations

import contextlib
import gc
import math
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
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


KEPT_RESULTS = 3


def measure(call: Callable[..., Any], settings: Settings, *args: Any) -> float:
    """Median time of one ``call(*args)`` in milliseconds, after warm-up (``settings.warmup``
    calls and at least ``settings.warmup_s`` seconds).

    Each sample times a loop of enough calls to last ``settings.min_sample_s`` (one call for slow
    benchmarks, thousands for the per-call overhead), with the garbage collector off.

    The last ``KEPT_RESULTS`` results stay referenced, as a program keeps what it computes: a
    framework that reuses the memory of a result nobody holds any more (symdl's C runtime does,
    for large outputs) must then allocate like one whose results are still in use, and every
    framework pays the same for keeping them.
    """
    kept: deque[Any] = deque(maxlen=KEPT_RESULTS)
    keep = kept.append
    deadline = time.perf_counter() + settings.warmup_s
    calls = 0
    while calls < settings.warmup or time.perf_counter() < deadline:
        keep(call(*args))
        calls += 1
    loops = 1
    while True:
        start = time.perf_counter()
        for _ in range(loops):
            keep(call(*args))
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
                keep(call(*args))
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
# More MLP shapes (layer sizes, batch): symdl's sgemm must not be fast only at the shapes above.
MLP_SHAPES = {
    "mlp": (MLP_SIZES, MLP_BATCH),
    "mlp_small": ((1000, 300, 10), 100),
    "mlp_wide": ((3072, 1024, 1024, 100), 256),
    "mlp_deep": ((100, 100, 100, 100, 100, 10), 32),
}
LEARNING_RATE = 0.01
MOMENTUM = 0.9

CNN_BATCH = 64
CNN_IMAGE = (1, 28, 28)
CNN_CONV = ((32, 1, 5, 5), (64, 32, 5, 5))  # (out, in, kh, kw), valid convolutions, each then 2x2 max pool
CNN_DENSE = ((64 * 4 * 4, 256), (256, 10))

CONV_INPUT = (8, 64, 56, 56)
CONV_FILTERS = (64, 64, 3, 3)
CONV_PAD = 1


# LSTM training step (glample/rnn-benchmarks' sizes): sequences of LSTM_STEPS steps whose inputs
# have as many features as the LSTM has units; the loss is the squared error of every step's
# output to a target, summed over the units and averaged over the steps and the batch; plain SGD.
LSTM_STEPS = 30
LSTM_SHAPES = {"lstm": (32, 128), "lstm_large": (128, 512)}  # (batch, units)
LSTM_LEARNING_RATE = 0.1
LSTM_GATES = ("input", "forget", "cell", "output")  # the stacked order: PyTorch's and Lasagne's


def lstm_shape(batch: int | None = None, hidden: int | None = None) -> tuple[int, int]:
    """The batch and units of an LSTM benchmark (a row's options), the small one's by default."""
    default_batch, default_hidden = LSTM_SHAPES["lstm"]
    return int(batch or default_batch), int(hidden or default_hidden)


def lstm_data(batch: int | None = None, hidden: int | None = None) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Inputs and targets (batch, LSTM_STEPS, hidden) float32, and the parameters [W_in (hidden,
    4 hidden), W_hid (hidden, 4 hidden), b (4 hidden,)] with the gates side by side in the order
    of ``LSTM_GATES``, drawn as PyTorch draws them (uniform in +-1/sqrt(hidden))."""
    batch, hidden = lstm_shape(batch, hidden)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((batch, LSTM_STEPS, hidden), dtype=np.float32)
    y = rng.uniform(-0.5, 0.5, (batch, LSTM_STEPS, hidden)).astype(np.float32)
    bound = 1 / math.sqrt(hidden)
    params = [rng.uniform(-bound, bound, shape).astype(np.float32) for shape in
              ((hidden, 4 * hidden), (hidden, 4 * hidden), (4 * hidden,))]  # fmt: skip
    return x, y, params


def lstm_reference_loss(x: np.ndarray, y: np.ndarray, params: list[np.ndarray]) -> float:
    """The benchmark's loss for these parameters, by a NumPy loop (what every framework's first
    step must report)."""
    W_in, W_hid, b = (p.astype(np.float64) for p in params)
    n = W_hid.shape[0]
    h = c = np.zeros((x.shape[0], n))
    loss = 0.0
    for t in range(x.shape[1]):
        gates = x[:, t] @ W_in + h @ W_hid + b
        i, f, g, o = (gates[:, k * n : (k + 1) * n] for k in range(4))
        c = 1 / (1 + np.exp(-f)) * c + 1 / (1 + np.exp(-i)) * np.tanh(g)
        h = 1 / (1 + np.exp(-o)) * np.tanh(c)
        loss += ((h - y[:, t]) ** 2).sum(axis=-1).mean()
    return loss / x.shape[1]


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


def mlp_shape(sizes: Any = None, batch: int | None = None) -> tuple[tuple[int, ...], int]:
    """The layer sizes and batch of an MLP benchmark (a row's options), the main MLP's by default."""
    return tuple(sizes or MLP_SIZES), int(batch or MLP_BATCH)


def mlp_data(sizes: Any = None, batch: int | None = None) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Inputs (batch, sizes[0]) float32, int32 labels, and parameters [W1, b1, W2, b2, ...] with W
    as (in, out); the 784-512-512-10 MLP with batch 128 by default."""
    sizes, batch = mlp_shape(sizes, batch)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch).astype(np.int32)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
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


# The kinds of argument a compiled scalar function is called with, and the metric of each.
OVERHEAD_KINDS = {"float": "Python float", "scalar": "NumPy scalar", "array": "0-d array"}


def overhead_data(kind: str = "array") -> tuple[Any, Any]:
    """The two arguments of the per-call overhead benchmark, as Python floats (``"float"``),
    NumPy float32 scalars (``"scalar"``) or 0-d float32 arrays (``"array"``)."""
    a, b = 1.5, 2.25  # exact in float32, so every kind gives the same sum
    if kind == "float":
        return a, b
    if kind == "scalar":
        return np.float32(a), np.float32(b)
    return np.array(a, np.float32), np.array(b, np.float32)


def overhead_by_kind(
    settings: Settings, make_call: Callable[[str], tuple[Callable[..., Any], tuple[Any, ...]] | None]
) -> dict[str, Any]:
    """Time one call with each kind of argument: ``make_call(kind)`` returns (call, args), or None
    where that kind means nothing for the framework. Returns ``<kind>_us`` for each kind timed and
    ``check`` (the sum, once per kind timed)."""
    result: dict[str, Any] = {}
    check = []
    for kind in OVERHEAD_KINDS:
        made = make_call(kind)
        if made is None:
            continue
        call, args = made
        result[f"{kind}_us"] = measure(call, settings, *args) * 1e3
        check.append(float(np.asarray(call(*args))))
    result["check"] = check[:1]
    return result


def train_losses(step: Callable[[], Any], settings: Settings) -> tuple[float, list[float]]:
    """Time a training ``step()`` that returns the loss; check = the losses of steps 1 and 3.

    Step 1's loss checks the forward pass; step 3's depends on the gradients and the momentum
    update, so a framework that computes either differently shows up in the check column.
    """
    losses = [float(step()) for _ in range(3)]
    return measure(step, settings), [losses[0], losses[2]]


BUSY_LOOP = "while True: pass"


@contextlib.contextmanager
def busy_process() -> Iterator[subprocess.Popen]:
    """Another process spinning on the cores this one may use, for as long as the block runs.

    It is started with this process's CPU affinity (``--threads N`` pins the workers to N cores),
    so it competes for exactly the cores the framework runs on.
    """
    proc = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        time.sleep(0.2)  # let it start spinning before the framework warms up
        yield proc
    finally:
        proc.kill()
        proc.wait()


def oversubscribed(step: Callable[[], Any], settings: Settings) -> dict[str, Any]:
    """Time a training ``step()`` alone and beside one busy process, in the order alone, busy, busy,
    alone (so that a machine whose speed drifts during the measurement biases neither), and
    report the median times of each and the slowdown (busy / alone)."""
    losses = [float(step()) for _ in range(3)]
    alone, busy = [], []
    for loaded in (False, True, True, False):
        if loaded:
            with busy_process():
                busy.append(measure(step, settings))
        else:
            alone.append(measure(step, settings))
    alone_ms, busy_ms = sum(alone) / 2, sum(busy) / 2
    return {"alone_ms": alone_ms, "busy_ms": busy_ms, "slowdown": busy_ms / alone_ms, "check": [losses[0], losses[2]]}
