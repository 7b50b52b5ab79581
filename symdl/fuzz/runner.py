"""Check programs in worker processes, so that a crash or a hang is a finding, not the fuzzer's end.

Each worker imports symdl once and checks the programs it is sent, one at a time; a worker that
dies (a segfault, an abort) reports a crash, one that overruns the per-graph timeout is killed
and reports a hang. Either way a fresh worker takes its place.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection, wait

from symdl.fuzz.check import Outcome, check
from symdl.fuzz.program import Program


def _warm_up(backends: tuple[str, ...]) -> None:
    """Import symdl and compile a trivial function per backend (the C runtime builds on first use)."""
    import numpy as np

    import symdl
    import symdl.tensor as T

    x = T.dvector("x")
    for mode in backends:
        symdl.function([x], x + 1, mode=mode)(np.zeros(1))


def _serve(conn: Connection, backends: tuple[str, ...]) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _warm_up(backends)
    conn.send("ready")
    while True:
        try:
            program = conn.recv()
        except EOFError:
            return
        try:
            outcome = check(program, backends)
        except Exception as e:  # noqa: BLE001 - the checker itself failing is a finding too
            outcome = Outcome("error", "fuzzer", f"{type(e).__name__}: {e}")
        conn.send(outcome)


class Worker:
    """One checking process with a pipe to it."""

    def __init__(self, backends: tuple[str, ...]) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, backends), daemon=True)
        self.process.start()
        child.close()
        if self.conn.recv() != "ready":
            raise RuntimeError("symdl.fuzz: a worker did not start")
        self.task = None
        self.started = 0.0

    def send(self, task, program: Program) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(program)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()


class Pool:
    """``jobs`` workers checking programs, with a per-program timeout in seconds."""

    def __init__(self, backends: tuple[str, ...], jobs: int, timeout: float) -> None:
        self.backends, self.timeout = backends, timeout
        self.workers = [Worker(backends) for _ in range(jobs)]

    def close(self) -> None:
        for w in self.workers:
            w.stop()

    def _replace(self, w: Worker) -> None:
        w.stop()
        self.workers[self.workers.index(w)] = Worker(self.backends)

    def map(self, tasks):
        """Yield ``(task, outcome)`` for each ``(task, program)`` of ``tasks``, in completion order."""
        tasks = iter(tasks)
        busy: list[Worker] = []
        exhausted = False
        while True:
            for w in self.workers:
                if w not in busy and not exhausted:
                    item = next(tasks, None)
                    if item is None:
                        exhausted = True
                        break
                    w.send(*item)
                    busy.append(w)
            if not busy:
                return
            first_deadline = min(w.started for w in busy) + self.timeout
            ready = wait(
                [w.conn for w in busy] + [w.process.sentinel for w in busy],
                timeout=max(0.0, first_deadline - time.monotonic()),
            )
            for w in list(busy):
                if w.conn in ready or w.process.sentinel in ready:
                    try:
                        outcome = w.conn.recv()
                    except (EOFError, OSError):
                        w.process.join()
                        code = w.process.exitcode
                        outcome = Outcome("crash", ",".join(self.backends), f"the process died (exit code {code})")
                        busy.remove(w)
                        task = w.task
                        self._replace(w)
                        yield task, outcome
                        continue
                    busy.remove(w)
                    yield w.task, outcome
                elif time.monotonic() - w.started > self.timeout:
                    busy.remove(w)
                    task = w.task
                    self._replace(w)
                    yield task, Outcome("hang", ",".join(self.backends), f"no result after {self.timeout:g} s")

    def check(self, program: Program) -> Outcome:
        """Check one program (shrinking uses this: a candidate may crash or hang too)."""
        return next(iter(self.map([(None, program)])))[1]
