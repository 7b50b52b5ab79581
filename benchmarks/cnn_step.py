"""The CNN training step of issue 7: symdl against PyTorch and JAX (jit), in one run.

Batch 64 of 1x28x28 images; conv 32 5x5, max-pool 2, conv 64 5x5, max-pool 2, dense 256, dense
10, softmax cross-entropy, SGD with momentum; the target is symdl <= 1.0x PyTorch's time.

Run from the repository root::

    python benchmarks/cnn_step.py            # the table: symdl and every installed peer
    python benchmarks/cnn_step.py --quick    # fewer samples
    python benchmarks/cnn_step.py --profile  # also symdl's time per op, in this process

The table comes from ``python -m benchmarks --only cnn`` (each framework in a process of its own,
same data and parameters, medians after warm-up; see ``benchmarks/harness.py``). Peers that are
not installed are listed as such, so the script also runs where only symdl and NumPy are present.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def build_train(mode: str | None = None):
    """symdl's training function for the benchmark's network, written as a Theano user would."""
    import numpy as np

    import symdl
    import symdl.tensor as T
    from benchmarks.peers.common import LEARNING_RATE, MOMENTUM, cnn_data

    nnet = T.nnet
    x0, y0, init = cnn_data()
    x = T.tensor4("x", shape=(None, *x0.shape[1:]))
    y = T.ivector("y")
    params = [symdl.shared(value, name=f"p{k}") for k, value in enumerate(init)]
    h = x
    for k in (0, 2):
        h = nnet.conv2d(h, params[k], filter_flip=False) + params[k + 1].dimshuffle("x", 0, "x", "x")
        h = nnet.pool_2d(nnet.relu(h), (2, 2), ignore_border=True)
    h = nnet.relu(T.dot(h.flatten(2), params[4]) + params[5])
    loss = nnet.categorical_crossentropy(nnet.softmax(T.dot(h, params[6]) + params[7]), y).mean()
    updates = []
    for p, g in zip(params, symdl.grad(loss, params)):
        v = symdl.shared(np.zeros_like(p.get_value()), name=f"v_{p.name}")
        v_new = MOMENTUM * v + g
        updates += [(v, v_new), (p, p - LEARNING_RATE * v_new)]
    return symdl.function([x, y], loss, updates=updates, mode=mode), (x0, y0)


def profile(mode: str | None, steps: int) -> None:
    start = time.perf_counter()
    train, (x0, y0) = build_train(mode)
    print(f"symdl: compiled in {time.perf_counter() - start:.2f} s for backend {train.backend!r}")
    for _ in range(3):
        train(x0, y0)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        train(x0, y0)
        times.append(time.perf_counter() - start)
    times.sort()
    print(f"symdl: {1e3 * times[len(times) // 2]:.1f} ms per step (median of {steps}), time per op:")
    print(train.profile())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--profile", action="store_true", help="also print symdl's time per op")
    parser.add_argument("--mode", default=None, help="symdl backend for --profile ('py', 'c'; default: symdl's)")
    parser.add_argument("--threads", type=int, default=0, help="limit every framework to N threads")
    args = parser.parse_args(argv)
    from benchmarks.harness import main as harness

    command = ["--only", "cnn"] + (["--quick"] if args.quick else [])
    command += ["--threads", str(args.threads)] if args.threads else []
    status = harness(command)
    if args.profile:
        profile(args.mode, 5 if args.quick else 20)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
