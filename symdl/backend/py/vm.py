"""A virtual machine that runs a FunctionGraph node by node with NumPy.

Values live in a flat list indexed by variable; each intermediate is dropped right after its
last use so peak memory stays near what the graph needs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.graph.basic import Apply, Constant
from symdl.graph.fg import FunctionGraph
from symdl.profiling import ProfileReport
from symdl.utils import describe


class PyThunk:
    """Callable: ``thunk(input_values) -> output values`` for one FunctionGraph."""

    def __init__(self, fgraph: FunctionGraph):
        self.fgraph = fgraph
        order = fgraph.toposort()
        slot: dict[Any, int] = {}
        constants: list[tuple[int, Any]] = []

        def index(var: Any) -> int:
            if var not in slot:
                slot[var] = len(slot)
                if isinstance(var, Constant):
                    constants.append((slot[var], var.data))
            return slot[var]

        self.input_slots = [index(v) for v in fgraph.inputs]
        steps = []
        for node in order:
            ins = [index(v) for v in node.inputs]
            outs = [index(v) for v in node.outputs]
            steps.append((node, ins, outs))
        self.output_slots = [index(v) for v in fgraph.outputs]
        keep = set(self.output_slots) | set(self.input_slots) | {s for s, _ in constants}
        last_use: dict[int, int] = {}
        for k, (_, ins, _) in enumerate(steps):
            for s in ins:
                last_use[s] = k
        self.steps = [
            (node, node.op.perform, ins, outs, [s for s in set(ins) if last_use[s] == k and s not in keep])
            for k, (node, ins, outs) in enumerate(steps)
        ]
        self.n_slots = len(slot)
        self.constants = constants
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
                    raise
                for s, r in zip(outs, results):
                    storage[s] = r
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
    out = node.outputs[0]
    note = f"while computing {node.op} (output {describe(out)})"
    if hasattr(exc, "add_note"):
        exc.add_note(note)


class PyBackend:
    name = "py"

    @staticmethod
    def available() -> bool:
        return True

    @staticmethod
    def link(fgraph: FunctionGraph, n_inputs: int) -> PyThunk:
        return PyThunk(fgraph)
