"""conv2d forward alone at a VGG-like layer shape: symdl against PyTorch and JAX, in one run.

Batch 8, 64 -> 64 channels, 56x56, 3x3 filters, padding 1 (1.85 GFLOP). Run from the
repository root::

    python benchmarks/conv2d_forward.py [--quick]

The table comes from ``python -m benchmarks --only conv2d`` (each framework in a process of its
own); below it this script times symdl's conv2d alone at a few more shapes (the CNN benchmark's
layers, forward and both gradients) against a NumPy im2col + matmul baseline in this process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# (label, input shape, filter shape, padding)
SHAPES = [
    ("CNN conv1", (64, 1, 28, 28), (32, 1, 5, 5), 0),
    ("CNN conv2", (64, 32, 12, 12), (64, 32, 5, 5), 0),
    ("VGG-like", (8, 64, 56, 56), (64, 64, 3, 3), 1),
]


def _median_ms(fn, args: tuple, repeats: int) -> float:
    fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    times.sort()
    return 1e3 * times[len(times) // 2]


def numpy_conv(x, w, pad: int):
    """Cross-correlation by im2col and one matmul per image: the plain-NumPy baseline."""
    import numpy as np

    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    ho, wo = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    cols = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))  # n c ho wo kh kw
    cols = np.ascontiguousarray(cols.transpose(0, 1, 4, 5, 2, 3)).reshape(n, c * kh * kw, ho * wo)
    return np.matmul(w.reshape(o, -1), cols).reshape(n, o, ho, wo)


def per_op_table(repeats: int, mode: str | None) -> None:
    import numpy as np

    import symdl
    import symdl.tensor as T

    rng = np.random.default_rng(0)
    print(f"\n{'shape':<12} {'forward':>9} {'grad in':>9} {'grad w':>9} {'NumPy fwd':>10}   (ms, median of {repeats})")
    for label, xs, ws, pad in SHAPES:
        x0 = rng.standard_normal(xs, dtype=np.float32)
        w0 = rng.standard_normal(ws, dtype=np.float32)
        x, w = T.tensor4("x", shape=xs), T.tensor4("w", shape=ws)
        y = T.nnet.conv2d(x, w, border_mode=pad, filter_flip=False)
        gy = T.tensor4("gy", shape=y.type.shape)
        gx, gw = symdl.grad((y * gy).sum(), [x, w])
        fwd = symdl.function([x, w], y, mode=mode)
        back_in = symdl.function([x, w, gy], gx, mode=mode, on_unused_input="ignore")
        back_w = symdl.function([x, w, gy], gw, mode=mode, on_unused_input="ignore")
        g0 = rng.standard_normal(y.type.shape, dtype=np.float32)
        np.testing.assert_allclose(fwd(x0, w0), numpy_conv(x0, w0, pad), rtol=1e-3, atol=1e-3)
        calls = [(fwd, (x0, w0)), (back_in, (x0, w0, g0)), (back_w, (x0, w0, g0)), (numpy_conv, (x0, w0, pad))]
        cells = [_median_ms(fn, args, repeats) for fn, args in calls]
        print(f"{label:<12} " + " ".join(f"{v:9.2f}" for v in cells[:3]) + f" {cells[3]:10.2f}   [{fwd.backend}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--mode", default=None, help="symdl backend for the per-shape table ('py', 'c')")
    parser.add_argument("--threads", type=int, default=0, help="limit every framework to N threads")
    args = parser.parse_args(argv)
    from benchmarks.harness import main as harness

    command = ["--only", "conv2d"] + (["--quick"] if args.quick else [])
    command += ["--threads", str(args.threads)] if args.threads else []
    status = harness(command)
    per_op_table(3 if args.quick else 11, args.mode)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
