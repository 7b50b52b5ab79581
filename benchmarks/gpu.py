"""GPU benchmarks of the CUDA backend against PyTorch on the same device, in one process.

``python -m benchmarks.gpu [--quick] [--json PATH]`` on a machine with an NVIDIA GPU, PyCUDA and
PyTorch. Every figure is a median over repeats of a timed loop (after warm-up), timed with a
device synchronization at both ends, so host overhead per call counts as it does for a user.

- fused elementwise ``tanh(x*y+exp(-x))*2+log1p(y*y)`` on 1e8 float32 kept on the device:
  achieved bandwidth (2 reads + 1 write) against a device-to-device copy, PyTorch eager and
  ``torch.compile``;
- MLP 784-512-512-10 ReLU, softmax cross-entropy, SGD momentum, one step with the batch sent from
  the host and the loss read back (batch 128 and 1024);
- CNN 1x28x28, conv 5x5 32, pool 2, conv 5x5 64, pool 2, dense 256, dense 10, one step
  (batch 64 and 256);
- gemm 4096^3 float32: symdl's cuBLAS call against ``torch.mm``.

The header names the GPU, the driver and the library versions; compare figures only within one
run (one machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

ELEMENTWISE = "tanh(x*y+exp(-x))*2+log1p(y*y)"


def timed(
    call: Callable[[], Any], sync: Callable[[], None], repeats: int = 5, inner: int = 10, warmup: int = 3
) -> float:
    """Median seconds per call of ``call`` (``inner`` calls per sample, synchronized around)."""
    for _ in range(warmup):
        call()
    sync()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        sync()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def device_info() -> dict[str, Any]:
    import pycuda.driver as drv

    from symdl.backend.cuda.device import default_device

    dev = default_device()
    info = {"gpu": dev.name, "sm_count": dev.sm_count, "driver": drv.get_driver_version(), "cuda": drv.get_version()}
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def symdl_sync() -> None:
    from symdl.backend.cuda.device import default_device

    default_device().synchronize()


def device_function(inputs: list, outputs: list, updates: list | None = None) -> Any:
    """A CUDA function: its updates stay on the device, its results come back to the host."""
    import symdl

    return symdl.function(inputs, outputs, updates=updates, device="cuda")


# ---------------------------------------------------------------- elementwise and bandwidth
def bench_elementwise(n: int) -> dict[str, float]:
    import symdl
    import symdl.tensor as T

    rng = np.random.default_rng(0)
    xv, yv = rng.uniform(-1, 1, n).astype("float32"), rng.uniform(-1, 1, n).astype("float32")
    x, y = symdl.shared(xv, name="x"), symdl.shared(yv, name="y")
    z = symdl.shared(np.zeros(n, "float32"), name="z")
    expr = T.tanh(x * y + T.exp(-x)) * 2 + T.log1p(y * y)
    fn = device_function([], [], updates=[(z, expr)])
    fn()
    moved = 3 * 4 * n
    out = {"symdl_s": timed(fn, symdl_sync)}
    check = z.get_value()
    expected = np.tanh(xv * yv + np.exp(-xv)) * 2 + np.log1p(yv * yv)
    out["symdl_max_abs_err"] = float(np.max(np.abs(check - expected)))
    try:
        import torch

        tx, ty = torch.from_numpy(xv).cuda(), torch.from_numpy(yv).cuda()
        tz = torch.empty_like(tx)
        sync = torch.cuda.synchronize
        out["copy_s"] = timed(lambda: tz.copy_(tx), sync)  # 1 read + 1 write

        def eager() -> Any:
            return torch.tanh(tx * ty + torch.exp(-tx)) * 2 + torch.log1p(ty * ty)

        out["torch_eager_s"] = timed(eager, sync)
        try:
            compiled = torch.compile(eager)
            out["torch_compile_s"] = timed(compiled, sync)
        except Exception as exc:  # no Triton, no compiler: report, do not fail
            out["torch_compile_error"] = f"{type(exc).__name__}: {exc}"[:200]
        out["copy_GBps"] = 2 * 4 * n / out["copy_s"] / 1e9
    except ImportError:
        pass
    out["symdl_GBps"] = moved / out["symdl_s"] / 1e9
    if "copy_GBps" in out:
        out["symdl_fraction_of_copy_bandwidth"] = out["symdl_GBps"] / out["copy_GBps"]
    return out


# ---------------------------------------------------------------- MLP step
def bench_mlp(batch: int) -> dict[str, float]:
    import symdl
    import symdl.tensor as T

    rng = np.random.default_rng(0)
    sizes = (784, 512, 512, 10)
    weights = [(rng.normal(size=(a, b)) * np.sqrt(2 / a)).astype("float32") for a, b in zip(sizes[:-1], sizes[1:])]
    xv = rng.normal(size=(batch, 784)).astype("float32")
    yv = rng.integers(0, 10, size=batch).astype("int32")
    x, y = T.matrix("x"), T.ivector("y")
    params, h = [], x
    for i, w in enumerate(weights):
        W, b = symdl.shared(w, name=f"W{i}"), symdl.shared(np.zeros(w.shape[1], "float32"), name=f"b{i}")
        params += [W, b]
        h = T.dot(h, W) + b
        if i < len(weights) - 1:
            h = T.nnet.relu(h)
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(h), y).mean()
    updates = []
    for p, g in zip(params, symdl.grad(loss, params)):
        v = symdl.shared(np.zeros(p.get_value().shape, "float32"))
        updates += [(v, 0.9 * v - 0.01 * g), (p, p + 0.9 * v - 0.01 * g)]
    fn = device_function([x, y], [loss], updates)
    out = {"symdl_s": timed(lambda: fn(xv, yv), symdl_sync), "symdl_compile_s": fn.thunk.compile_seconds}
    try:
        import torch

        model = torch.nn.Sequential(
            torch.nn.Linear(784, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 512),
            torch.nn.ReLU(),
            torch.nn.Linear(512, 10),
        ).cuda()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step() -> float:
            xb, yb = torch.from_numpy(xv).cuda(), torch.from_numpy(yv).long().cuda()
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            return loss.item()

        out["torch_eager_s"] = timed(step, torch.cuda.synchronize)
        out["ratio_symdl_to_torch"] = out["symdl_s"] / out["torch_eager_s"]
    except ImportError:
        pass
    return out


# ---------------------------------------------------------------- CNN step
def bench_cnn(batch: int) -> dict[str, float]:
    import symdl
    import symdl.tensor as T

    rng = np.random.default_rng(0)
    shapes = {"w1": (32, 1, 5, 5), "b1": (32,), "w2": (64, 32, 5, 5), "b2": (64,), "w3": (1024, 256), "b3": (256,),
              "w4": (256, 10), "b4": (10,)}  # fmt: skip
    init = {k: (rng.normal(size=s) * (0.05 if len(s) > 1 else 0)).astype("float32") for k, s in shapes.items()}
    xv = rng.normal(size=(batch, 1, 28, 28)).astype("float32")
    yv = rng.integers(0, 10, size=batch).astype("int32")
    p = {k: symdl.shared(v, name=k) for k, v in init.items()}
    x, y = T.tensor4("x", shape=(None, 1, 28, 28)), T.ivector("y")
    h = T.nnet.pool_2d(T.nnet.relu(T.nnet.conv2d(x, p["w1"]) + p["b1"].dimshuffle("x", 0, "x", "x")), (2, 2))
    h = T.nnet.pool_2d(T.nnet.relu(T.nnet.conv2d(h, p["w2"]) + p["b2"].dimshuffle("x", 0, "x", "x")), (2, 2))
    h = T.nnet.relu(T.dot(T.flatten(h, 2), p["w3"]) + p["b3"])
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(h, p["w4"]) + p["b4"]), y).mean()
    params = list(p.values())
    updates = []
    for q, g in zip(params, symdl.grad(loss, params)):
        v = symdl.shared(np.zeros(q.get_value().shape, "float32"))
        updates += [(v, 0.9 * v - 0.01 * g), (q, q + 0.9 * v - 0.01 * g)]
    fn = device_function([x, y], [loss], updates)
    out = {"symdl_s": timed(lambda: fn(xv, yv), symdl_sync, repeats=3, inner=5)}
    out["symdl_host_steps"] = sum(s.describe() == "host+xfer" for s in fn.thunk.program.steps)
    try:
        import torch

        F = torch.nn.functional
        tp = {k: torch.tensor(v, device="cuda", requires_grad=True) for k, v in init.items()}
        opt = torch.optim.SGD(tp.values(), lr=0.01, momentum=0.9)

        def step() -> float:
            xb, yb = torch.from_numpy(xv).cuda(), torch.from_numpy(yv).long().cuda()
            opt.zero_grad(set_to_none=True)
            h = F.max_pool2d(F.relu(F.conv2d(xb, tp["w1"], tp["b1"])), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, tp["w2"], tp["b2"])), 2)
            h = F.relu(h.flatten(1) @ tp["w3"] + tp["b3"])
            loss = F.cross_entropy(h @ tp["w4"] + tp["b4"], yb)
            loss.backward()
            opt.step()
            return loss.item()

        out["torch_eager_s"] = timed(step, torch.cuda.synchronize, repeats=3, inner=5)
        out["ratio_symdl_to_torch"] = out["symdl_s"] / out["torch_eager_s"]
    except ImportError:
        pass
    return out


# ---------------------------------------------------------------- gemm
def bench_gemm(n: int) -> dict[str, float]:
    import symdl
    import symdl.tensor as T

    rng = np.random.default_rng(0)
    av, bv = rng.normal(size=(n, n)).astype("float32"), rng.normal(size=(n, n)).astype("float32")
    a, b = symdl.shared(av, name="a"), symdl.shared(bv, name="b")
    c = symdl.shared(np.zeros((n, n), "float32"), name="c")
    fn = device_function([], [], updates=[(c, T.dot(a, b))])
    flops = 2 * n**3
    out = {"symdl_s": timed(fn, symdl_sync, inner=5)}
    out["symdl_TFLOPS"] = flops / out["symdl_s"] / 1e12
    try:
        import torch

        ta, tb = torch.from_numpy(av).cuda(), torch.from_numpy(bv).cuda()
        torch.backends.cuda.matmul.allow_tf32 = False
        out["torch_s"] = timed(lambda: torch.mm(ta, tb), torch.cuda.synchronize, inner=5)
        out["torch_TFLOPS"] = flops / out["torch_s"] / 1e12
        out["ratio_symdl_to_torch"] = out["symdl_s"] / out["torch_s"]
    except ImportError:
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"device": device_info()}
    n = 10**6 if args.quick else 10**8
    runs: list[tuple[str, Callable[[], dict]]] = [
        (f"elementwise {ELEMENTWISE} n={n:.0e}", lambda: bench_elementwise(n)),
        ("mlp step batch 128", lambda: bench_mlp(128)),
        ("mlp step batch 1024", lambda: bench_mlp(1024)),
        ("cnn step batch 64", lambda: bench_cnn(64)),
        ("cnn step batch 256", lambda: bench_cnn(16 if args.quick else 256)),
        ("gemm 4096^3 float32", lambda: bench_gemm(512 if args.quick else 4096)),
    ]
    print("device:", json.dumps(results["device"]))
    for name, run in runs:
        try:
            results[name] = run()
        except Exception as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        figures = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in results[name].items())
        print(f"{name}: {figures}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
