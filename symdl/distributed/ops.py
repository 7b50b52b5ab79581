"""The all-reduce as ops of the compiled step: one start node and one wait node per bucket.

A bucket is a few tensors of one dtype reduced as one flat buffer (a few MB: one collective per
bucket rather than per tensor, as PyTorch's DDP does). Its :class:`AllreduceStart` node packs the
tensors into the buffer and starts its all-reduce without waiting (``comm``); its :class:`AllreduceWait` node
waits for it and hands the reduced tensors on, as views of the buffer. Both are
``nondeterministic`` (never merged or constant-folded: they communicate) and tell the execution
plan when to run: the start ``'early'`` (as soon as the bucket's gradients exist, so the transfer
overlaps the rest of the backward pass), the wait ``'late'`` (when nothing else can run, just
before the updates that read the reduced gradients).

MPI requires every rank to call collectives in the same order. The order of the start nodes is
the plan's, and the plan is a deterministic function of the graph, which is the same on every
rank because every rank runs the same program; each bucket carries a check element that turns a
mismatch into a clear error rather than mixed gradients (``comm.bucket_tag``).

Backends: the ``py`` backend runs ``perform``; the C backend has no C code for these ops and
calls their ``perform`` from the compiled driver (a callback per bucket, a few per step); the
CUDA backend runs them on the host (NCCL is the plan for GPUs: ``docs/distributed.md``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.distributed import comm
from symdl.errors import TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.tensor.type import TensorType
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe

OPS = ("sum", "mean")
# Bytes of gradients per bucket: large enough that a collective's latency is amortised, small
# enough that the first bucket starts early in the backward pass.
DEFAULT_BUCKET_BYTES = 4 * 2**20


def _label(bucket: int, op: str, names: str) -> str:
    return f"bucket {bucket} ({op} of {names})"


def _names(names: Sequence[str | None]) -> str:
    """The tensors of a bucket, for traces and errors: their names (the first three), or a count."""
    if not all(names):
        return f"{len(names)} tensor{'s' if len(names) > 1 else ''}"
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


class AllreduceStart(Op):
    """Pack the inputs (one dtype) into a flat buffer and start its all-reduce (sum) over every
    rank; the output is that buffer, being reduced until :class:`AllreduceWait` reads it.

    Gradient: the all-reduce of the output gradient's pieces (the all-reduce is linear and the
    same on every rank), through a bucket of its own.
    """

    __props__ = ("op", "bucket", "names", "uid")
    view_map: dict[int, list[int]] = {}  # a new buffer
    nondeterministic = True
    schedule = "early"

    def __init__(self, op: str = "sum", bucket: int = 0, names: str = "", uid: int = 0):
        self.op, self.bucket, self.names, self.uid = op, int(bucket), names, int(uid)

    def make_node(self, *tensors: Any) -> Apply:
        tensors = [as_tensor_variable(t) for t in tensors]
        if not tensors:
            raise ValueError("allreduce: a bucket needs at least one tensor")
        dtype = tensors[0].dtype
        for t in tensors:
            _check_reducible(t, self.op)
            if t.dtype != dtype:
                raise TypeMismatch(f"allreduce: one bucket holds one dtype, got {dtype} and {t.dtype} ({describe(t)})")
        sizes = [int(np.prod(t.type.shape)) if None not in t.type.shape else None for t in tensors]
        total = None if None in sizes else sum(sizes)
        return Apply(self, tensors, [TensorType(dtype, (total,))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        dtype = node.outputs[0].type.dtype
        label = _label(self.bucket, self.op, self.names)
        return [comm.start_allreduce(list(inputs), dtype, self.bucket, self.uid, label)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        total: Any = 0
        for shape in input_shapes:
            size: Any = 1
            for d in shape:
                size = size * d
            total = total + size
        return [[total]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.shape import reshape, shape, split

        (g,) = grads
        pieces = split(g, [t.size for t in inputs], len(inputs)) if len(inputs) > 1 else [g]
        pieces = [reshape(p, shape(t), ndim=t.ndim) for p, t in zip(pieces, inputs)]
        return _bucket(pieces, self.op, self.bucket, [f"grad {t.name}" if t.name else None for t in inputs])

    def __str__(self) -> str:
        return f"AllreduceStart{{{_label(self.bucket, self.op, self.names)}}}"


class AllreduceWait(Op):
    """Wait for the all-reduce of a bucket that :class:`AllreduceStart` started, divide by the
    number of ranks for ``op='mean'``, and return its tensors (views of the buffer) with the
    shapes given as int64 vectors after the buffer; ``static`` holds what their types know of
    those shapes.

    Gradient: the output gradients packed as one flat buffer (the start's gradient reduces it).
    """

    __props__ = ("op", "bucket", "static", "names", "uid")
    nondeterministic = True
    schedule = "late"

    def __init__(
        self,
        op: str = "sum",
        bucket: int = 0,
        static: tuple[tuple[int | None, ...], ...] = (),
        names: str = "",
        uid: int = 0,
    ):
        self.op, self.bucket, self.names, self.uid = op, int(bucket), names, int(uid)
        self.static = tuple(tuple(None if d is None else int(d) for d in shape) for shape in static)
        self.view_map = {k: [0] for k in range(len(self.static))}

    def make_node(self, buffer: Any, *shapes: Any) -> Apply:
        from symdl.tensor.elemwise import cast

        buffer = as_tensor_variable(buffer)
        shapes = [cast(as_tensor_variable(s), "int64") for s in shapes]
        if buffer.ndim != 1 or len(shapes) != len(self.static):
            raise TypeMismatch(
                f"AllreduceWait takes a 1-d buffer and {len(self.static)} shape vectors, "
                f"got {buffer.type} and {len(shapes)}"
            )
        return Apply(self, [buffer, *shapes], [TensorType(buffer.dtype, shape) for shape in self.static])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        # The buffer comes from the start by the id they share, not through the input: a backend
        # may hand this node a copy (the CUDA backend runs both on the host and copies between).
        _, *shapes = inputs
        data = comm.wait_allreduce(self.uid, _label(self.bucket, self.op, self.names))
        if self.op == "mean":
            size = comm.communicator().size
            if size > 1:
                data /= data.dtype.type(size)
        out, offset = [], 0
        for shape in shapes:
            shape = tuple(int(d) for d in shape)
            n = int(np.prod(shape))
            out.append(data[offset : offset + n].reshape(shape))
            offset += n
        return out

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [
            [node.inputs[1 + k][d] if n is None else n for d, n in enumerate(shape)]
            for k, shape in enumerate(self.static)
        ]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like
        from symdl.tensor.shape import concatenate, flatten

        parts = [flatten(zeros_like(o) if g is None else g) for o, g in zip(outputs, grads)]
        return [concatenate(parts), *[None] * len(self.static)]

    def __str__(self) -> str:
        return f"AllreduceWait{{{_label(self.bucket, self.op, self.names)}}}"


def _check_reducible(t: Variable, op: str) -> None:
    if not isinstance(t.type, TensorType):
        raise TypeMismatch(f"allreduce takes tensors, got {t.type} ({describe(t)})")
    if t.dtype == "bool" or t.dtype.startswith("complex"):
        raise TypeMismatch(f"allreduce sums numbers; {describe(t)} is {t.dtype}")
    if op == "mean" and not t.type.is_float:
        raise TypeMismatch(f"allreduce(op='mean') needs a float tensor, got {t.dtype} ({describe(t)}); use op='sum'")


def _bucket(tensors: list[Variable], op: str, bucket: int, names: Sequence[str | None]) -> list[Variable]:
    """The all-reduce of ``tensors`` (one dtype; ``names`` for traces) as one bucket: a start and a
    wait node."""
    from symdl.tensor.shape import shape

    names = _names(names)
    uid = secrets.randbits(62)  # pairs the start with its wait at run time (unique in any process)
    buffer = AllreduceStart(op, bucket, names, uid)(*tensors)
    static = tuple(t.type.shape for t in tensors)
    out = AllreduceWait(op, bucket, static, names, uid)(buffer, *[shape(t) for t in tensors])
    return out if isinstance(out, list) else [out]


def plan_buckets(nbytes: Sequence[int], dtypes: Sequence[str], bucket_bytes: int) -> list[list[int]]:
    """Indices of the tensors of each bucket: consecutive tensors of one dtype, a new bucket when
    the next tensor would take it over ``bucket_bytes`` (a larger tensor gets a bucket of its own).

    >>> plan_buckets([4, 4, 4, 12], ["float32"] * 4, 8)
    [[0, 1], [2], [3]]
    >>> plan_buckets([4, 4], ["float32", "float64"], 100)
    [[0], [1]]
    """
    buckets: list[list[int]] = []
    used = 0
    for k, (size, dtype) in enumerate(zip(nbytes, dtypes)):
        if buckets and dtypes[buckets[-1][0]] == dtype and used + size <= bucket_bytes:
            buckets[-1].append(k)
            used += size
        else:
            buckets.append([k])
            used = size
    return buckets


def bucketed_allreduce(
    tensors: Sequence[Any],
    op: str,
    bucket_bytes: int,
    nbytes: Sequence[int | None] | None = None,
    names: Sequence[str | None] | None = None,
) -> list[Variable]:
    """The all-reduce of each of ``tensors``, in buckets formed in the given order (the first
    bucket's all-reduce can start first). ``nbytes`` gives each tensor's size where its static
    shape does not (None: unknown, a bucket of its own); ``names`` name them in traces (default:
    their own names)."""
    if op not in OPS:
        raise ValueError(f"allreduce: op must be one of {OPS}, got {op!r}")
    if not bucket_bytes > 0:
        raise ValueError(f"allreduce: bucket_bytes must be positive, got {bucket_bytes!r}")
    tensors = [as_tensor_variable(t) for t in tensors]
    for t in tensors:
        _check_reducible(t, op)
    sizes = []
    for k, t in enumerate(tensors):
        size = nbytes[k] if nbytes is not None else None
        if size is None and None not in t.type.shape:
            size = int(np.prod(t.type.shape)) * np.dtype(t.dtype).itemsize
        sizes.append(bucket_bytes if size is None else int(size))
    names = [t.name for t in tensors] if names is None else list(names)
    result: list[Variable | None] = [None] * len(tensors)
    for bucket, members in enumerate(plan_buckets(sizes, [t.dtype for t in tensors], bucket_bytes)):
        reduced = _bucket([tensors[k] for k in members], op, bucket, [names[k] for k in members])
        for k, value in zip(members, reduced):
            value.name = f"allreduce({names[k]})" if names[k] else None
            result[k] = value
    return result  # type: ignore[return-value]
