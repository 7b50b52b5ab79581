"""A virtual machine that runs an execution plan node by node with NumPy.

Values live in a flat list indexed by slot; the values the plan frees after a step are dropped
right then, so peak memory stays near what the graph needs. With ``config.nan_guard`` every float
output is checked, as on the C backend.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.backend import Backend, Thunk, raise_broadcast_error
from symdl.compile.plan import Plan
from symdl.config import config
from symdl.errors import NanGuardError
from symdl.graph.basic import Apply
from symdl.profiling import ProfileReport
from symdl.utils import describe


class PyThunk(Thunk):
    """Callable: ``thunk(input_values) -> output values`` for one plan."""

    def __init__(self, plan: Plan):
        self.plan = plan
        fgraph = plan.fgraph
        slot: dict[Any, int] = {}

        def index(var: Any) -> int:
            return slot.setdefault(var, len(slot))

        self.input_slots = [index(v) for v in fgraph.inputs]
        self.constants = [(index(c), c.data) for c in plan.constants]
        self.steps = [
            (node, node.op.perform, [index(v) for v in node.inputs], [index(v) for v in node.outputs],
             [index(v) for v in free])
            for node, free in zip(plan.order, plan.frees)
        ]  # fmt: skip
        self.output_slots = [index(v) for v in fgraph.outputs]
        self.n_slots = len(slot)
        self.nan_guard = bool(config.nan_guard)
        self.times = np.zeros(len(self.steps))
        self.calls = 0

    def __call__(self, values: Sequence[Any]) -> list[Any]:
        storage: list[Any] = [None] * self.n_slots
        for s, data in self.constants:
            storage[s] = data
        for s, v in zip(self.input_slots, values):
            storage[s] = v
        times = self.times
        clock = time.perf_counter
        with np.errstate(all="ignore"):
            for k, (node, perform, ins, outs, free) in enumerate(self.steps):
                start = clock()
                try:
                    results = perform(node, [storage[s] for s in ins])
                except Exception as exc:
                    _annotate(exc, node)
                    raise_broadcast_error(exc, node, [storage[s] for s in ins])
                    raise
                for s, r in zip(outs, results):
                    storage[s] = r
                if self.nan_guard:
                    _check_finite(node, results)
                for s in free:
                    storage[s] = None
                times[k] += clock() - start
        self.calls += 1
        return [storage[s] for s in self.output_slots]

    def source(self) -> str:
        lines = ["# py backend: NumPy schedule"]
        for k, (node, _, ins, outs, _) in enumerate(self.steps):
            lines.append(f"{k:4d}: v{outs} = {node.op}(v{ins})")
        return "\n".join(lines)

    def profile(self) -> ProfileReport:
        rows = [(str(node.op), "py", float(t), self.calls) for (node, *_), t in zip(self.steps, self.times)]
        return ProfileReport(rows, self.calls)


def _annotate(exc: Exception, node: Apply) -> None:
    """Add which node failed, and where its output was created in user code, to the error."""
    if hasattr(exc, "add_note"):
        exc.add_note(f"while computing {node.op} (output {describe(node.outputs[0])})")


def _check_finite(node: Apply, results: Sequence[Any]) -> None:
    for j, value in enumerate(results):
        value = np.asarray(value)
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            raise NanGuardError(
                f"{node.op} (output {describe(node.outputs[j])}): output {j} holds NaN or inf (nan_guard)"
            )


class PyBackend(Backend):
    name = "py"

    @staticmethod
    def available() -> bool:
        return True

    @staticmethod
    def link(plan: Plan) -> PyThunk:
        return PyThunk(plan)
