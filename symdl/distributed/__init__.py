"""Data-parallel training over MPI: every rank runs the same program on its part of each batch,
and the gradients are averaged over the ranks inside the compiled step.

A Lasagne-style training script changes in one line (and runs under ``mpiexec -n 4 python
train.py``; see ``docs/distributed.md``)::

    updates = symdl.updates.adam(symdl.distributed.allreduce_grads(loss, params), params)

- ``init``, ``rank``, ``size``, ``is_initialized``, ``barrier``: the communicator. In a process
  that no MPI launcher started (or without the ``[mpi]`` extra) there is one rank, and every
  collective is the identity: the same script runs alone unchanged.
- ``broadcast``: every rank starts from rank 0's parameters.
- ``allreduce`` / ``allreduce_grads``: symbolic all-reduces, bucketed, started as soon as their
  gradients are computed and waited for just before the updates read them, so that the transfer
  overlaps the rest of the backward pass (``symdl.distributed.ops``).
- ``shard``, ``DistributedSampler``: each rank's part of each batch and epoch.
- ``trace``, ``stats``: when each all-reduce started and completed, bytes moved, time waited.

>>> import numpy as np, symdl, symdl.tensor as T
>>> from symdl import distributed
>>> distributed.size()                       # no MPI launcher here: one process
1
>>> x = T.vector('x')
>>> f = symdl.function([x], distributed.allreduce(x, op='mean'))
>>> f(np.float32([1, 2]))
array([1., 2.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symdl.distributed.comm import (
    DEFAULT_TIMEOUT,
    DistributedError,
    barrier,
    communicator,
    is_initialized,
    stats,
    trace,
)
from symdl.distributed.comm import init as _init
from symdl.distributed.data import DistributedSampler, shard
from symdl.distributed.ops import DEFAULT_BUCKET_BYTES, bucketed_allreduce

__all__ = [
    "DEFAULT_BUCKET_BYTES",
    "DEFAULT_TIMEOUT",
    "DistributedError",
    "DistributedSampler",
    "allreduce",
    "allreduce_grads",
    "barrier",
    "broadcast",
    "init",
    "is_initialized",
    "rank",
    "shard",
    "size",
    "stats",
    "trace",
]


def init(timeout: float | None = None, backend: str | None = None, progress: str | None = None) -> None:
    """Join the other ranks (once; later calls change only ``timeout``).

    Under an MPI launcher (``mpiexec``, ``srun --mpi=pmix``) this initializes MPI through mpi4py
    (``pip install "symdl[mpi]"``) and installs a ``sys.excepthook`` that aborts every rank when
    one raises an uncaught exception; otherwise there is one rank and nothing to join. The ops
    call it on first use, so calling it is needed only to change the defaults.

    Parameters
    ----------
    timeout : float, optional
        Seconds a rank waits for a collective before raising ``DistributedError`` (default
        ``DEFAULT_TIMEOUT``, 300 s: the first step also waits for the slowest rank's compile).
    backend : {'mpi', 'local'}, optional
        Force MPI (a run of one rank without a launcher) or a single process; default: MPI when
        an MPI launcher started this process.
    progress : {'thread', 'test'}, optional
        How the all-reduces advance while a step computes (first call only): ``'thread'`` (the
        default) runs them in a communication thread, as blocking ``MPI_Allreduce`` calls that
        overlap the backward pass; ``'test'`` starts ``MPI_Iallreduce`` in the main thread and
        advances it in later MPI calls (no extra thread, less overlap). ``'thread'`` needs an
        MPI with ``MPI_THREAD_MULTIPLE`` (Open MPI has it), else ``'test'`` is used.

    Examples
    --------
    >>> import symdl.distributed as dist
    >>> dist.init()
    >>> dist.is_initialized(), dist.rank(), dist.size()
    (True, 0, 1)
    """
    _init(timeout, backend, progress)


def rank() -> int:
    """This process's rank (0 for a single process)."""
    return communicator().rank


def size() -> int:
    """The number of ranks (1 for a single process)."""
    return communicator().size


def broadcast(params: Any, root: int = 0) -> list:
    """Give every rank ``root``'s values of ``params``: shared variables, or a layer (all the
    parameters of the network under it, trainable or not). Call it on every rank, after building
    the network and before training. Returns the shared variables.

    >>> import numpy as np, symdl
    >>> w = symdl.shared(np.ones(3, 'float32'))
    >>> [v.get_value().tolist() for v in broadcast([w])]
    [[1.0, 1.0, 1.0]]
    """
    from symdl.distributed.comm import broadcast_array

    variables = _shared_variables(params)
    for k, var in enumerate(variables):
        what = f"parameter {k} ({var.name or 'unnamed'})"
        var.set_value(broadcast_array(var.get_value(), root, what))
    return variables


def _shared_variables(params: Any) -> list:
    from symdl.sharedvar import SharedVariable

    if isinstance(params, SharedVariable):
        return [params]
    if hasattr(params, "get_params") and hasattr(params, "get_output_for"):  # a layer
        from symdl.layers import get_all_params

        return get_all_params(params)
    variables = list(params)
    bad = [v for v in variables if not isinstance(v, SharedVariable)]
    if bad:
        raise TypeError(f"broadcast takes shared variables or a layer, got {type(bad[0]).__name__}")
    return variables


def allreduce(x: Any, op: str = "sum", bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> Any:
    """The sum (``op='sum'``) or mean (``op='mean'``) of ``x`` over every rank, as a symbolic
    expression; a list or tuple of tensors gives a list, reduced in buckets of about
    ``bucket_bytes`` in the given order. Its gradient is the all-reduce of the output gradient
    (the all-reduce is linear).

    Every rank must compile and call the same functions in the same order: a compiled function
    runs the same collectives in the same order on every rank.

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> x = T.vector('x')
    >>> f = symdl.function([x], symdl.grad(allreduce(x).sum(), x))
    >>> f(np.float32([5, 7]))
    array([1., 1.], dtype=float32)
    """
    if isinstance(x, list | tuple):
        return bucketed_allreduce(list(x), op, bucket_bytes)
    return bucketed_allreduce([x], op, bucket_bytes)[0]


def allreduce_grads(
    loss_or_grads: Any, params: Sequence[Any], op: str = "mean", bucket_bytes: int = DEFAULT_BUCKET_BYTES
) -> list:
    """The gradients of ``loss_or_grads`` with respect to ``params`` (or the given list of
    gradients), averaged over the ranks (``op='sum'`` to add them), for an update rule of
    ``symdl.updates``::

        updates = symdl.updates.adam(symdl.distributed.allreduce_grads(loss, params), params)

    The gradients are reduced in buckets of about ``bucket_bytes``, formed in the order in which
    the graph computes them, so the first bucket's all-reduce starts while the later gradients
    are still being computed.

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> w = symdl.shared(np.float32([1, 2]), name='w')
    >>> x = T.vector('x')
    >>> (g,) = allreduce_grads((w * x).sum(), [w])
    >>> symdl.function([x], g)(np.float32([3, 4]))
    array([3., 4.], dtype=float32)
    """
    from symdl.graph.basic import toposort
    from symdl.tensor.var import as_tensor_variable
    from symdl.updates import get_or_compute_grads

    params = list(params)
    grads = [as_tensor_variable(g) for g in get_or_compute_grads(loss_or_grads, params)]
    # The order of a depth-first schedule of the gradients, which the compiled step follows when
    # its updates come in the order of the parameters (as symdl.updates makes them).
    position = {node: k for k, node in enumerate(toposort(grads))}
    order = sorted(range(len(params)), key=lambda k: position.get(grads[k].owner, -1))
    nbytes = [params[k].get_value(borrow=True).nbytes for k in order]
    names = [f"grad {params[k].name}" if params[k].name else None for k in order]
    reduced = bucketed_allreduce([grads[k] for k in order], op, bucket_bytes, nbytes, names)
    result: list = [None] * len(params)
    for k, g in zip(order, reduced):
        result[k] = g
    return result
