"""Compiled functions and Python threads: the GIL is released while native code runs, so another
thread (a data loader) progresses during a long call, and calls of one function from several
threads take turns instead of corrupting its state."""

import sys
import threading
import time

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.graph.basic import Apply, Op
from symdl.tensor.type import TensorType


@pytest.fixture
def quick_switches():
    """A short switch interval: a thread waiting for the GIL gets it within 0.1 ms of asking."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(old)


def test_another_thread_runs_while_a_long_compiled_call_runs(quick_switches):
    x = T.dvector("x")
    y = x
    for _ in range(4):  # one fused loop of transcendentals over 4M elements: a tenth of a second
        y = T.exp(T.tanh(y) * 0.5)
    f = symdl.function([x], y.sum(), mode="c")
    data = np.random.default_rng(0).standard_normal(1 << 22)
    f(data[:10])  # compiled and warm
    ticks: list[float] = []
    stop = threading.Event()

    def counter() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())

    thread = threading.Thread(target=counter)
    thread.start()
    try:
        while not ticks:
            time.sleep(1e-3)
        start = time.perf_counter()
        total = f(data)
        end = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    np.testing.assert_allclose(total, f(data[: 1 << 21]) + f(data[1 << 21 :]), rtol=1e-9)
    # With the GIL held throughout, the counter could run only at the call's edges (the Python
    # around the native code), never in the middle half of the call.
    middle = [t for t in ticks if start + 0.25 * (end - start) < t < start + 0.75 * (end - start)]
    assert len(middle) > 10, f"the counter ticked {len(middle)} times in the middle of a {end - start:.3f} s call"


def test_calls_of_one_function_from_eight_threads_take_turns():
    # big enough that each call releases the GIL while it adds
    total = symdl.shared(np.zeros(1 << 21), name="total")
    count = symdl.shared(np.int64(0), name="count")
    step = symdl.function([], [], updates=[(total, total + 1.0), (count, count + 1)], mode="c")
    calls, errors = 25, []

    def worker() -> None:
        try:
            for _ in range(calls):
                step()
        except Exception as exc:  # reported below: an exception in a thread would pass silently
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert int(count.get_value()) == 8 * calls
    np.testing.assert_array_equal(total.get_value(), np.full(1 << 21, 8.0 * calls))


class _CallsBack(Op):
    """x -> callback(x), run by its Python perform (it has no C code)."""

    __props__ = ("callback",)

    def __init__(self, callback):
        self.callback = callback

    def make_node(self, x):
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape)])

    def perform(self, node, inputs):
        return [np.asarray(self.callback(inputs[0]), dtype=inputs[0].dtype)]


def test_a_function_called_again_from_inside_its_own_call_raises_instead_of_waiting_on_itself():
    x = T.dvector("x")
    fns = []
    f = symdl.function([x], _CallsBack(lambda v: fns[0](v))(x) * 2, mode="c")
    fns.append(f)
    with pytest.raises(RuntimeError, match="called again while it runs"):
        f(np.ones(3))
    g = symdl.function([x], _CallsBack(lambda v: v + 1)(x) * 2, mode="c")
    np.testing.assert_array_equal(g(np.ones(3)), np.full(3, 4.0))
