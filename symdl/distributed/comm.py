"""The communicator behind ``symdl.distributed``: MPI through mpi4py when the process was started
by an MPI launcher (``mpiexec``, ``mpirun``, ``srun --mpi=pmix``), else one process on its own.

Everything that talks to MPI lives here: starting and waiting for the all-reduce of a bucket,
broadcasts and barriers, the watchdog that turns a wait that never ends into a clear error, and
the hook that aborts every rank when one of them raises.

How an all-reduce advances while the step computes: MPI moves a collective forward only inside
MPI calls, and the compiled C driver holds the GIL while it runs. By default (``progress=
'thread'``) a communication thread runs each bucket's all-reduce as a blocking ``MPI_Allreduce``
on a communicator of its own; mpi4py releases the GIL inside it, so the transfer proceeds during
the backward pass, and the thread takes the buckets in the order they were started, the same on
every rank. ``progress='test'`` uses ``MPI_Iallreduce`` in the main thread instead, advanced by
the tests of later starts and by the waits (no extra thread; less overlap).

Why timed waits: a collective that one rank never joins (it died, raised, or runs another step)
would block the others forever. Every wait here gives up after ``timeout`` seconds with a
:class:`DistributedError` naming the collective; uncaught, that error (like any other) reaches
the hook that ``init`` installs, which calls ``MPI_Abort`` so that ``mpiexec`` ends every rank at
once.

>>> from symdl.distributed import comm
>>> comm.communicator().size >= 1
True
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symdl.errors import SymdlError

# Seconds a rank waits for a collective before it gives up. Generous: the first step of a run
# also waits for the slowest rank's compilation.
DEFAULT_TIMEOUT = 300.0

# Environment variables that MPI launchers set in the processes they start.
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE")

# Float dtypes whose buckets carry a check element (see ``bucket_tag``): a float32 holds every
# integer below 2**24 exactly, so the sum of the tags of up to 16,000 ranks stays exact.
TAGGED_DTYPES = ("float32", "float64")


class DistributedError(SymdlError, RuntimeError):
    """A collective that cannot complete: another rank failed, hangs, or runs another graph."""


@dataclass
class Stats:
    """What the all-reduce ops did in this process since the last ``reset``."""

    collectives: int = 0  # all-reduces started
    bytes: int = 0  # bytes of the buffers reduced (each rank's contribution)
    wait_seconds: float = 0.0  # time spent blocked in waits for all-reduces
    start_seconds: float = 0.0  # time spent packing buckets and starting all-reduces

    def reset(self) -> None:
        self.collectives = self.bytes = 0
        self.wait_seconds = self.start_seconds = 0.0


@dataclass
class _Pending:
    request: Any  # an MPI request, or None in a single process
    buffer: np.ndarray  # the bucket, one element longer than its data (the tag)
    n: int  # elements of data
    tag: float
    label: str
    started: float = field(default_factory=time.perf_counter)


class Communicator:
    """A single process: every collective is the identity."""

    rank = 0
    size = 1
    name = "local"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout

    def iallreduce(self, buffer: np.ndarray) -> Any:
        return None

    def ibcast(self, buffer: np.ndarray, root: int) -> Any:
        return None

    def ibarrier(self) -> Any:
        return None

    def test(self, request: Any) -> bool:
        return True

    def advance(self, pending: list[_Pending]) -> None:
        """Give the all-reduces under way a chance to move on (called when another one starts)."""

    def abort(self, code: int = 1) -> None:
        os._exit(code)

    def wait(self, request: Any, what: str) -> None:
        """Wait for ``request`` (what it does is ``what``, for the error), at most ``timeout`` seconds."""
        if request is None or self.test(request):
            return
        deadline = time.perf_counter() + self.timeout
        spin_until = time.perf_counter() + 0.0002
        pause = 1e-5
        while not self.test(request):
            now = time.perf_counter()
            if now > deadline:
                raise self.timed_out(what)
            if now > spin_until:  # a short spin for a prompt reply, then back off to spare the cores
                time.sleep(pause)
                pause = min(2 * pause, 1e-3)

    def timed_out(self, what: str) -> DistributedError:
        return DistributedError(
            f"rank {self.rank} of {self.size}: {what} did not complete within {self.timeout:g} s; "
            "another rank has probably failed, hangs, or runs a different step "
            "(every rank must call the same compiled functions in the same order)"
        )


class _Job:
    """An all-reduce handed to the communication thread."""

    def __init__(self, buffer: np.ndarray):
        self.buffer = buffer
        self.started = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None


class MpiCommunicator(Communicator):
    """``MPI.COMM_WORLD`` through mpi4py.

    ``progress='test'``: all-reduces are ``MPI_Iallreduce`` calls that advance inside later MPI
    calls (the tests of later starts, the waits). ``progress='thread'``: a communication thread
    runs each all-reduce as a blocking ``MPI_Allreduce`` on a communicator of its own (so its
    collectives never interleave with the main thread's), which advances while the step
    computes: mpi4py releases the GIL inside MPI calls.
    """

    name = "mpi"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, progress: str = "thread"):
        super().__init__(timeout)
        from mpi4py import MPI

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.progress = progress if MPI.Query_thread() == MPI.THREAD_MULTIPLE else "test"
        if self.progress == "thread":
            self.reduce_comm = self.comm.Dup()
            self.jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
            threading.Thread(target=self._work, name="symdl-allreduce", daemon=True).start()

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            job.started.set()
            try:
                self.reduce_comm.Allreduce(self.MPI.IN_PLACE, job.buffer, op=self.MPI.SUM)
            except BaseException as exc:  # reported by the wait, in the main thread
                job.error = exc
            job.done.set()

    def iallreduce(self, buffer: np.ndarray) -> Any:
        if self.progress != "thread":
            return self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        job = _Job(buffer)
        self.jobs.put(job)
        # Let go of the GIL for a moment: an idle communication thread takes the job and enters
        # MPI (where it needs no GIL) before the compiled step, which holds the GIL, goes on.
        job.started.wait(0.0002)
        return job

    def advance(self, pending: list[_Pending]) -> None:
        # progress='test': MPI advances a non-blocking collective only inside MPI calls
        if self.progress == "test":
            for entry in pending:
                if entry.request is not None and self.test(entry.request):
                    entry.request = None

    def ibcast(self, buffer: np.ndarray, root: int) -> Any:
        return self.comm.Ibcast(buffer, root=root)

    def ibarrier(self) -> Any:
        return self.comm.Ibarrier()

    def test(self, request: Any) -> bool:
        if isinstance(request, _Job):
            return request.done.is_set()
        return bool(request.Test())

    def wait(self, request: Any, what: str) -> None:
        if not isinstance(request, _Job):
            return super().wait(request, what)
        if not request.done.wait(self.timeout):  # sleeps in the kernel: the cores stay free
            raise self.timed_out(what)
        if request.error is not None:
            raise DistributedError(f"rank {self.rank}: {what} failed: {request.error}") from request.error

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)


_lock = threading.Lock()
_communicator: Communicator | None = None
# The all-reduces started and not yet waited for, by the id their start and wait nodes share.
_pending: dict[int, deque[_Pending]] = {}
_events: list[tuple[str, str, float]] | None = None
stats = Stats()


def launched_by_mpi() -> bool:
    """Whether an MPI launcher started this process (it set one of ``LAUNCHER_VARIABLES``)."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


PROGRESS = ("thread", "test")


def init(timeout: float | None = None, backend: str | None = None, progress: str | None = None) -> Communicator:
    """Start the communicator (see ``symdl.distributed.init``); calling it again changes only the timeout."""
    global _communicator
    if backend not in (None, "mpi", "local"):
        raise ValueError(f"symdl.distributed.init: backend must be 'mpi' or 'local', got {backend!r}")
    if progress not in (None, *PROGRESS):
        raise ValueError(f"symdl.distributed.init: progress must be one of {PROGRESS}, got {progress!r}")
    with _lock:
        if _communicator is None:
            use_mpi = backend == "mpi" or (backend is None and launched_by_mpi())
            if use_mpi:
                try:
                    import mpi4py  # noqa: F401
                except ImportError as exc:
                    found = ", ".join(f"{n}={os.environ[n]}" for n in LAUNCHER_VARIABLES if n in os.environ)
                    raise DistributedError(
                        f"this process was started by an MPI launcher ({found or 'backend=mpi'}) but mpi4py "
                        'is not installed: pip install "symdl[mpi]" (mpi4py and Open MPI)'
                    ) from exc
                _communicator = MpiCommunicator(DEFAULT_TIMEOUT, progress or "thread")
                if _communicator.size > 1:
                    _install_abort_hook(_communicator)
            else:
                _communicator = Communicator(DEFAULT_TIMEOUT)
        if timeout is not None:
            if not timeout > 0:
                raise ValueError(f"symdl.distributed.init: timeout must be positive seconds, got {timeout!r}")
            _communicator.timeout = float(timeout)
        return _communicator


def is_initialized() -> bool:
    return _communicator is not None


def communicator() -> Communicator:
    """The communicator, started with the defaults on first use."""
    return _communicator if _communicator is not None else init()


def _install_abort_hook(comm: Communicator) -> None:
    """An uncaught exception on one rank ends every rank (``MPI_Abort``), after its traceback."""
    previous = sys.excepthook

    def abort_every_rank(kind: type, value: BaseException, traceback: Any) -> None:
        previous(kind, value, traceback)
        sys.stderr.write(
            f"symdl.distributed: rank {comm.rank} of {comm.size} raised {kind.__name__}: {value}; "
            "aborting every rank (MPI_Abort)\n"
        )
        sys.stderr.flush()
        comm.abort(1)

    sys.excepthook = abort_every_rank


# ------------------------------------------------------------------------------- all-reduce


def bucket_tag(bucket: int, n: int, dtype: str) -> float:
    """The check value of a bucket: every rank adds the tag of the bucket it reduces, so the sum is
    ``size * tag`` only if every rank reduced the same bucket at that moment (a mismatch means the
    ranks run different graphs or steps, which would silently mix gradients)."""
    return float(zlib.crc32(f"{bucket}/{n}/{dtype}".encode()) % 1000 + 1)


def start_allreduce(arrays: list[np.ndarray], dtype: str, bucket: int, uid: int, label: str) -> np.ndarray:
    """Pack ``arrays`` into one buffer and start its all-reduce (sum); ``wait_allreduce(uid)``
    finishes it. Returns the data part of the buffer, which MPI may still be writing."""
    clock = time.perf_counter()
    comm = communicator()
    n = sum(int(a.size) for a in arrays)
    buffer = np.empty(n + 1, dtype=dtype)
    if arrays:
        np.concatenate([np.ravel(a) for a in arrays], out=buffer[:n])
    tag = bucket_tag(bucket, n, dtype) if dtype in TAGGED_DTYPES else 0.0
    buffer[n] = tag
    request = comm.iallreduce(buffer)
    comm.advance([entry for started in _pending.values() for entry in started])
    _pending.setdefault(uid, deque()).append(_Pending(request, buffer, n, tag, label))
    stats.collectives += 1
    stats.bytes += buffer.nbytes
    stats.start_seconds += time.perf_counter() - clock
    if _events is not None:
        _events.append(("start", label, clock))
    return buffer[:n]


def wait_allreduce(uid: int, label: str) -> np.ndarray:
    """Wait for the oldest all-reduce that ``start_allreduce(..., uid, ...)`` started and return
    the reduced data (a 1-d view of its buffer)."""
    queue = _pending.get(uid)
    if not queue:
        raise DistributedError(f"{label}: no all-reduce was started for it in this process")
    entry = queue.popleft()
    if not queue:
        del _pending[uid]
    comm = communicator()
    clock = time.perf_counter()
    if _events is not None:
        _events.append(("wait", label, clock))
    comm.wait(entry.request, f"the all-reduce of {label} ({entry.buffer.nbytes} bytes)")
    done = time.perf_counter()
    stats.wait_seconds += done - clock
    if _events is not None:
        _events.append(("done", label, done))
    if entry.tag:
        expected = entry.tag * comm.size
        if entry.buffer[entry.n] != expected:
            raise DistributedError(
                f"rank {comm.rank} of {comm.size}: {label} was reduced together with a different bucket on "
                f"another rank (check value {float(entry.buffer[entry.n]):g}, expected {expected:g}): the ranks "
                "compiled different graphs, or call their functions in a different order"
            )
    return entry.buffer[: entry.n]


@contextlib.contextmanager
def trace() -> Iterator[list[tuple[str, str, float]]]:
    """Record ``(event, bucket label, time.perf_counter())`` for each start ("start"), wait
    ("wait") and completion ("done") of an all-reduce inside the block.

    >>> with trace() as events:
    ...     pass
    >>> events
    []
    """
    global _events
    previous, _events = _events, []
    try:
        yield _events
    finally:
        _events = previous


# ------------------------------------------------------------------------------- blocking collectives


def broadcast_array(value: np.ndarray, root: int, what: str) -> np.ndarray:
    """``value`` as rank ``root`` has it (a new contiguous array)."""
    comm = communicator()
    buffer = np.ascontiguousarray(value).copy()
    if comm.size > 1:
        comm.wait(comm.ibcast(buffer, root), f"the broadcast of {what} from rank {root}")
    return buffer


def barrier() -> None:
    """Wait until every rank gets here (at most ``timeout`` seconds)."""
    comm = communicator()
    if comm.size > 1:
        comm.wait(comm.ibarrier(), "a barrier")
