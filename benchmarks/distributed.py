"""Data-parallel training over MPI: the MLP step at 1 and 2 ranks with the global batch fixed,
symdl (``symdl.distributed``: bucketed all-reduce inside the compiled step) against PyTorch's
DistributedDataParallel on gloo, in the same run.

    python -m benchmarks --only distributed        # the table; it launches mpiexec itself
    mpiexec -n 2 python -m benchmarks.distributed --framework symdl   # one launch, JSON from rank 0

The model is the harness's main MLP (784-512-512-10, ReLU, softmax cross-entropy, SGD with
momentum) on a global batch of 128: one rank takes all of it, two ranks 64 each. Every rank runs
one thread (2 ranks: 2 cores). Both frameworks reduce the gradients in buckets of 1 MiB, started
during the backward pass (symdl: ``allreduce_grads(..., bucket_bytes=2**20)``; PyTorch:
``DistributedDataParallel(bucket_cap_mb=1)``).

What is reported, per framework:

- ``1 rank ms`` and ``2 ranks ms``: the median step time (every rank runs the same fixed number of
  steps: collectives need all of them).
- ``local ms``: the step at 2 ranks on half the batch without the all-reduce (symdl: the same
  graph without ``allreduce_grads``; PyTorch: ``DistributedDataParallel.no_sync()``);
  ``comm %``: the share of the 2-rank step that communication adds, (2 ranks - local) / 2 ranks.
- ``wait %`` (symdl): the share of the 2-rank step spent blocked in the waits of the all-reduces
  (``symdl.distributed.stats``); what is not waited for overlapped the backward pass.
- ``MB/step``: gradient bytes each rank contributes to the all-reduces of one step; a ring
  all-reduce sends 2 (N - 1) / N of that per rank.

On a machine with 2 cores this measures overhead and overlap, not speed-up: the two ranks share
the cores with everything else running, and a collective makes each rank wait for the slower one.
The scaling model in ``docs/distributed.md`` starts from these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.peers.common import LEARNING_RATE, MLP_BATCH, MLP_SIZES, MOMENTUM, Unsupported, mlp_data  # noqa: E402

MARKER = "@@DISTRIBUTED "
BUCKET_BYTES = 2**20
RANKS = (1, 2)


# ---------------------------------------------------------------------------------------------
# One rank of a launch


def _counts(quick: bool) -> tuple[int, int, int]:
    """Warm-up steps, samples, steps per sample: the same on every rank."""
    return (3, 3, 5) if quick else (10, 11, 10)


def _timed(step: Any, quick: bool, barrier: Any, after_warmup: Any = None) -> tuple[float, float, int]:
    """Median milliseconds per step over the samples after the warm-up, the seconds and the
    number of the timed steps; ``after_warmup()`` runs once the warm-up is over."""
    import time

    warmup, samples, per_sample = _counts(quick)
    for _ in range(warmup):
        step()
    if after_warmup is not None:
        after_warmup()
    times = []
    for _ in range(samples):
        barrier()
        start = time.perf_counter()
        for _ in range(per_sample):
            step()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / per_sample * 1e3, float(sum(times)), samples * per_sample


def _shard(rank: int, size: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    x, y, init = mlp_data(MLP_SIZES, MLP_BATCH)
    lo, hi = MLP_BATCH * rank // size, MLP_BATCH * (rank + 1) // size
    return x[lo:hi], y[lo:hi], init


def symdl_rank(quick: bool) -> dict[str, Any]:
    import symdl
    import symdl.tensor as T
    from symdl import distributed as dist

    dist.init()
    rank, size = dist.rank(), dist.size()
    x0, y0, init = _shard(rank, size)

    def build(reduce: bool) -> Any:
        x, y = T.matrix("x", shape=(None, MLP_SIZES[0])), T.ivector("y")
        params = [symdl.shared(v.copy(), name=f"{'Wb'[k % 2]}{k // 2 + 1}") for k, v in enumerate(init)]
        h = x
        for k in range(0, len(params), 2):
            h = T.dot(h, params[k]) + params[k + 1]
            if k + 2 < len(params):
                h = T.nnet.relu(h)
        loss = T.nnet.categorical_crossentropy(T.nnet.softmax(h), y).mean()
        grads = dist.allreduce_grads(loss, params, bucket_bytes=BUCKET_BYTES) if reduce else symdl.grad(loss, params)
        if reduce:
            loss = dist.allreduce(loss, op="mean")
        updates = []
        for p, g in zip(params, grads):
            v = symdl.shared(np.zeros_like(p.get_value()), name=f"v_{p.name}")
            v_new = MOMENTUM * v + g
            updates += [(v, v_new), (p, p - LEARNING_RATE * v_new)]
        return symdl.function([x, y], loss, updates=updates)

    step = build(reduce=True)
    local = build(reduce=False)
    losses = [float(step(x0, y0)) for _ in range(3)]
    ms, seconds, steps = _timed(lambda: step(x0, y0), quick, dist.barrier, after_warmup=dist.stats.reset)
    wait_share = dist.stats.wait_seconds / seconds
    bytes_per_step = dist.stats.bytes / steps
    buckets = dist.stats.collectives / steps - 1  # less the loss's all-reduce
    local_ms = _timed(lambda: local(x0, y0), quick, dist.barrier)[0]
    return {
        "rank": rank,
        "size": size,
        "ms": ms,
        "local_ms": local_ms,
        "wait_share": wait_share,
        "bytes_per_step": bytes_per_step,
        "buckets": buckets,
        "check": [losses[0], losses[2]],
        "version": symdl.__version__,
        "backend": step.backend,
    }


def torch_rank(quick: bool) -> dict[str, Any]:
    import torch
    import torch.distributed as tdist
    from mpi4py import MPI
    from torch import nn

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    torch.set_num_threads(1)
    port = comm.bcast(_free_port() if rank == 0 else None, root=0)
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    x0, y0, init = _shard(rank, size)
    layers: list[Any] = []
    for n_in, n_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    with torch.no_grad():
        for p, value in zip(model.parameters(), init):
            p.copy_(torch.from_numpy(value.T.copy() if value.ndim == 2 else value))
    ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=BUCKET_BYTES / 2**20)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()
    x, y = torch.from_numpy(x0), torch.from_numpy(y0.astype(np.int64))

    def step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(ddp(x), y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def local_step() -> Any:
        with ddp.no_sync():
            return step()

    def global_loss() -> float:
        loss = step()
        tdist.all_reduce(loss)
        return float(loss) / size

    losses = [global_loss() for _ in range(3)]
    ms = _timed(step, quick, tdist.barrier)[0]
    local_ms = _timed(local_step, quick, tdist.barrier)[0]
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    tdist.destroy_process_group()
    return {
        "rank": rank,
        "size": size,
        "ms": ms,
        "local_ms": local_ms,
        "bytes_per_step": float(nbytes),
        "check": [losses[0], losses[2]],
        "version": torch.__version__,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# The harness's side: launch mpiexec for 1 and 2 ranks and merge


def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None or importlib_missing("mpi4py"):
        raise Unsupported('needs the [mpi] extra (pip install -e ".[mpi]": mpi4py and Open MPI)')
    return found


def importlib_missing(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is None


def launch(framework: str, ranks: int, quick: bool, timeout: float = 240) -> dict[str, Any]:
    """Run one framework's measurement on ``ranks`` ranks; rank 0's result."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_COMM", "PMIX_", "PMI_"))}
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
    )
    flags = [f for f in env.get("SYMDL_FLAGS", "").split(",") if f and not f.startswith("num_threads")]
    env["SYMDL_FLAGS"] = ",".join([*flags, "num_threads=1"])
    command = [mpiexec(), "-n", str(ranks), "--oversubscribe", sys.executable, "-m", "benchmarks.distributed"]
    command += ["--framework", framework] + (["--quick"] if quick else [])
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    tail = (proc.stderr.strip() or proc.stdout.strip() or "(no output)").splitlines()[-5:]
    raise RuntimeError(f"mpiexec -n {ranks} ({framework}) exited {proc.returncode}: {' | '.join(tail)}")


def measure_framework(framework: str, quick: bool) -> dict[str, Any]:
    """The row of one framework: its step at 1 and 2 ranks, communication share, bytes per step."""
    one, two = (launch(framework, n, quick) for n in RANKS)
    result: dict[str, Any] = {
        "ms_1": one["ms"],
        "ms_2": two["ms"],
        "local_ms": two["local_ms"],
        "comm_share": max(0.0, (two["ms"] - two["local_ms"]) / two["ms"]) * 100,
        "mb_per_step": two["bytes_per_step"] / 1e6,
        "check": two["check"],
        "version": two["version"],
        "notes": [
            "distributed: 2 cores at most, shared with whatever else runs: overhead and overlap, not speed-up; "
            "1 rank = the global batch of 128 on one core, 2 ranks = 64 each on one core each"
        ],
    }
    if "wait_share" in two:
        result["wait_share"] = two["wait_share"] * 100
        result["notes"].append(
            f"symdl: {two['buckets']:.0f} buckets of at most {BUCKET_BYTES >> 20} MiB, each all-reduced by MPI in a "
            f"communication thread from when its gradients exist until the updates wait for it; backend "
            f"{two['backend']}"
        )
        result["backend"] = two["backend"]
    else:
        result["notes"].append(f"PyTorch DDP on gloo, bucket_cap_mb={BUCKET_BYTES / 2**20:g}, 1 thread per rank")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="one rank of the distributed benchmark (run under mpiexec)")
    parser.add_argument("--framework", choices=("symdl", "torch"), required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = (symdl_rank if args.framework == "symdl" else torch_rank)(args.quick)
    if result["rank"] == 0:
        print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
