"""What each rank runs in the multi-rank tests: ``mpiexec -n 2 python scenarios.py NAME OUTDIR
[PROGRESS]`` (PROGRESS: how the all-reduces advance, ``symdl.distributed.init``'s argument).

Every scenario writes what the tests check to ``OUTDIR/<name>-rank<R>.json``; the tests in
``test_mpi.py`` launch it and read those files (and the launcher's output and exit status).

- ``train``: two ranks, each on half of every batch, against one process on the full batches
  (computed on every rank), 20 steps of SGD with momentum and of Adam, on the C and NumPy
  backends; ``broadcast`` of parameters that start different on each rank; the gradient of an
  all-reduce; the order of the starts of the all-reduces and the computation of the gradients.
- ``raise``: rank 1 raises while rank 0 waits in a step's all-reduce.
- ``hang``: rank 1 never runs the step; rank 0's wait times out.
- ``mismatch``: the ranks reduce different buckets together.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

import symdl
import symdl.tensor as T
from symdl import distributed as dist
from symdl import updates
from symdl.graph.basic import Apply, Op

STEPS = 20
GLOBAL_BATCH = 16
SIZES = (12, 24, 16, 5)  # inputs, two hidden layers, classes: 6 parameters in several buckets
BUCKET_BYTES = 1200  # small, so that the gradients go in several buckets


class Probe(Op):
    """The identity, noting when its input was computed (``Probe.seen``): the test's clock on
    the computation of each gradient."""

    __props__ = ("label",)
    view_map = {0: [0]}
    nondeterministic = True
    seen: list[tuple[str, float]] = []

    def __init__(self, label: str):
        self.label = label

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        Probe.seen.append((self.label, time.perf_counter()))
        return [inputs[0]]


def mlp_params(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    values = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        values += [rng.normal(0, fan_in**-0.5, (fan_in, fan_out)).astype("float32"), np.zeros(fan_out, "float32")]
    return values


def mlp_loss(params, x, y):
    h = x
    for k in range(0, len(params) - 2, 2):
        h = T.tanh(T.dot(h, params[k]) + params[k + 1])
    return T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(h, params[-2]) + params[-1]), y).mean()


def training_function(params, rule, distributed, mode, probe=False):
    x, y = T.matrix("x"), T.ivector("y")
    loss = mlp_loss(params, x, y)
    grads = symdl.grad(loss, params)
    if probe:
        grads = [Probe(p.name)(g) for p, g in zip(params, grads)]
    if distributed:
        grads = dist.allreduce_grads(grads, params, bucket_bytes=BUCKET_BYTES)
        loss = dist.allreduce(loss, op="mean")
    if rule == "momentum":
        upd = updates.momentum(grads, params, learning_rate=0.1, momentum=0.9)
    else:
        upd = updates.adam(grads, params, learning_rate=0.01)
    return symdl.function([x, y], loss, updates=upd, mode=mode)


def batches():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(STEPS, GLOBAL_BATCH, SIZES[0])).astype("float32")
    y = rng.integers(0, SIZES[-1], size=(STEPS, GLOBAL_BATCH)).astype("int32")
    return x, y


def train(out: Path) -> dict:
    rank = dist.rank()
    report: dict = {"rank": rank, "size": dist.size(), "progress": dist.communicator().progress, "runs": {}}
    xs, ys = batches()
    for mode in ("c", "py"):
        for rule in ("momentum", "adam"):
            # Each rank starts from values of its own; broadcast gives every rank rank 0's.
            mine = [symdl.shared(v, name=f"p{k}") for k, v in enumerate(mlp_params(seed=100 + rank))]
            dist.broadcast(mine)
            reference = [symdl.shared(v, name=f"p{k}") for k, v in enumerate(mlp_params(seed=100))]
            equal_after_broadcast = all(np.array_equal(a.get_value(), b.get_value()) for a, b in zip(mine, reference))
            step = training_function(mine, rule, distributed=True, mode=mode)
            single = training_function(reference, rule, distributed=False, mode=mode)
            losses = []
            for x, y in zip(xs, ys):
                losses.append(float(step(*dist.shard((x, y)))) - float(single(x, y)))
            report["runs"][f"{mode}/{rule}"] = {
                "equal_after_broadcast": equal_after_broadcast,
                "max_param_difference": max(
                    float(np.abs(a.get_value() - b.get_value()).max()) for a, b in zip(mine, reference)
                ),
                "max_loss_difference": max(abs(d) for d in losses),
                "params": [a.get_value().tolist() for a in mine],
                "backend": step.backend,
            }
    report["gradient"] = gradient_of_allreduce()
    report["overlap"] = overlap()
    return report


def gradient_of_allreduce() -> dict:
    """d/dx sum(allreduce(x) * c_rank) is the all-reduce of the c's: 1 + 2 for a sum of 2 ranks."""
    x = T.vector("x")
    c = np.float32(dist.rank() + 1)
    result = {}
    for op in ("sum", "mean"):
        g = symdl.grad((dist.allreduce(x, op=op) * c).sum(), x)
        result[op] = symdl.function([x], g)(np.zeros(3, "float32")).tolist()
    return result


def overlap() -> dict:
    """When the all-reduces started, and when each gradient was computed, in one step on C."""
    params = [symdl.shared(v, name=f"p{k}") for k, v in enumerate(mlp_params(seed=100))]
    step = training_function(params, "momentum", distributed=True, mode="c", probe=True)
    xs, ys = batches()
    step(*dist.shard((xs[0], ys[0])))  # a first step: every rank has compiled, nothing is cold
    Probe.seen.clear()
    with dist.trace() as events:
        step(*dist.shard((xs[1], ys[1])))
    order = [str(node.op) for node in step.plan.order]
    return {"events": events, "gradients": list(Probe.seen), "plan": order}


def raise_in_step(out: Path) -> dict:
    dist.init(timeout=120)  # far longer than the test allows: the abort, not the watchdog, ends it
    x = T.vector("x")
    f = symdl.function([x], dist.allreduce(x))
    dist.barrier()
    if dist.rank() == 1:
        (out / "raised_at").write_text(repr(time.time()))
        raise RuntimeError("rank 1 fails on purpose")
    f(np.zeros(3, "float32"))
    return {"finished": True}


def hang(out: Path) -> dict:
    dist.init(timeout=3)
    x = T.vector("x")
    f = symdl.function([x], dist.allreduce(x))
    dist.barrier()
    if dist.rank() == 1:
        time.sleep(60)  # never joins the all-reduce, never fails: only rank 0's watchdog can tell
    (out / "waiting_since").write_text(repr(time.time()))
    f(np.zeros(3, "float32"))
    return {"finished": True}


def mismatch(out: Path) -> dict:
    dist.init(timeout=30)
    x = T.vector("x")
    # Two buckets of one float32 each: rank 0 runs the first, rank 1 the second, at once.
    first, second = dist.allreduce([x, x * 2], bucket_bytes=4)
    f = symdl.function([x], first if dist.rank() == 0 else second)
    f(np.zeros(1, "float32"))
    return {"finished": True}


SCENARIOS = {"train": train, "raise": raise_in_step, "hang": hang, "mismatch": mismatch}


def main() -> None:
    name, out = sys.argv[1], Path(sys.argv[2])
    dist.init(progress=sys.argv[3] if len(sys.argv) > 3 else None)
    report = SCENARIOS[name](out)
    (out / f"{name}-rank{dist.rank()}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main()
