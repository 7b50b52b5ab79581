"""The CUDA backend on a real GPU (PyCUDA, cuBLAS, CUDA events). Skipped where there is none:
run with ``-m gpu`` on a machine with an NVIDIA GPU and PyCUDA installed."""

from __future__ import annotations

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.backend.cuda import CudaBackend

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _needs_gpu():
    if not CudaBackend.available():
        from symdl.backend.cuda.device import status

        pytest.skip(f"needs an NVIDIA GPU with PyCUDA: {status()[1]}")


def both(inputs, outputs, values, **kw):
    py = symdl.function(inputs, outputs, mode="py", on_unused_input="ignore", **kw)
    expected = py(*values)
    cuda = symdl.function(inputs, outputs, mode="cuda", on_unused_input="ignore", **kw)
    return cuda, cuda(*values), expected


def check(got, expected, rtol=1e-5):
    for g, e in zip(got, expected):
        assert g.shape == e.shape and g.dtype == e.dtype
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol)
        else:
            np.testing.assert_array_equal(g, e)


def test_fused_elementwise_with_broadcasting_on_the_gpu(rng):
    x, b = T.tensor3("x"), T.vector("b")
    xv, bv = rng.normal(size=(64, 33, 70)).astype("float32"), rng.normal(size=70).astype("float32")
    outs = [T.tanh(x * b + 1) * 2, T.exp(x.dimshuffle(2, 1, 0)) - 1, T.where(x > 0, x, 0.1 * x)]
    _, got, expected = both([x, b], outs, [xv, bv])
    check(got, expected)


@pytest.mark.parametrize("kind", ["sum", "prod", "max", "min", "all", "any", "argmax", "argmin", "mean"])
def test_block_and_warp_reductions_on_the_gpu(rng, kind):
    x = T.tensor3("x")
    xv = rng.normal(size=(37, 300, 41)).astype("float32")
    if kind == "prod":
        xv = np.exp(xv * 0.01).astype("float32")
    if kind in ("all", "any"):
        xv = (xv > 2.5).astype("float32")
    fn = getattr(T, kind)
    axes = [None, 0, 1, 2] + ([] if kind.startswith("arg") else [(0, 2), (1, 2)])
    _, got, expected = both([x], [fn(x, axis=a) for a in axes], [xv])
    check(got, expected, rtol=1e-4)


def test_long_reductions_and_column_sums_on_the_gpu(rng):
    x, m = T.vector("x"), T.matrix("m")
    xv, mv = rng.normal(size=3_000_001).astype("float32"), rng.normal(size=(64, 5000)).astype("float32")
    _, got, expected = both([x, m], [T.sum(x), T.max(x), T.argmax(x), m.sum(axis=0), m.sum(axis=1)], [xv, mv])
    check(got, expected, rtol=1e-3)


def test_softmax_family_and_dot_on_the_gpu(rng):
    x, y, w = T.matrix("x"), T.ivector("y"), T.matrix("w")
    xv = (rng.normal(size=(128, 1000)) * 10).astype("float32")
    yv = rng.integers(0, 1000, size=128).astype("int32")
    wv = rng.normal(size=(1000, 300)).astype("float32")
    sce = T.nnet.softmax_crossentropy_with_logits(x, y)
    outs = [
        T.nnet.softmax(x),
        T.nnet.log_softmax(x, axis=0),
        sce,
        symdl.grad(sce.mean(), x),
        T.dot(x, w),
        T.dot(w.T, x.T),
    ]
    _, got, expected = both([x, y, w], outs, [xv, yv, wv])
    check(got, expected, rtol=1e-4)


def test_mlp_trains_on_the_gpu_like_on_the_cpu_and_keeps_parameters_there(graphs):
    inputs, loss, updates, params, values = graphs.mlp_step(batch=128)
    start = [p.get_value() for p in params]
    py = symdl.function(inputs, loss, updates=updates, mode="py")
    losses_py = [float(py(*values)) for _ in range(5)]
    for p, v in zip(params, start):
        p.set_value(v)
    for var, _ in updates:
        if var not in params:
            var.set_value(np.zeros_like(var.get_value()))
    cuda = symdl.function(inputs, loss, updates=updates, mode="cuda")
    losses_cuda = [float(cuda(*values)) for _ in range(5)]
    np.testing.assert_allclose(losses_cuda, losses_py, rtol=1e-3)
    device_value = params[0].get_value(return_device_array=True)
    assert type(device_value).__name__ == "GPUArray"
    report = str(cuda.profile())
    assert "cuda" in report and "gemm" in report


def test_profile_times_kernels_with_cuda_events(rng):
    x = T.matrix("x")
    fn = symdl.function([x], T.nnet.softmax(x).sum(), mode="cuda")
    for _ in range(20):
        fn(rng.normal(size=(256, 512)).astype("float32"))
    report = fn.profile()
    assert report.calls == 20 and report.total_seconds > 0


def test_a_tanh_rnn_its_gradient_and_slices_on_the_gpu(rng):
    x, h0 = T.tensor3("x"), T.matrix("h0")
    w = symdl.shared(rng.normal(size=(16, 16)).astype("float32") * 0.3, name="w")
    hs, _ = symdl.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, w)), sequences=x, outputs_info=h0)
    cost = (hs[-1] ** 2).sum() + T.concatenate([hs[0], hs[1:, ::2].sum(axis=0)], axis=1).sum()
    (gw,) = symdl.grad(cost, [w])
    values = [rng.normal(size=(50, 8, 16)).astype("float32"), rng.normal(size=(8, 16)).astype("float32")]
    fn, got, expected = both([x, h0], [hs, cost, gw], values)
    check(got, expected, rtol=1e-4)
    steps = list(fn.thunk.program.steps)
    steps += [b for s in steps if type(s).__name__ == "InnerGraphStep" for body in s.bodies for b in body.steps]
    assert [s.label for s in steps if s.describe() == "host+xfer"] == []
