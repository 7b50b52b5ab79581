"""The C backend: one generated translation unit per function graph, run by a compiled driver.

``CBackend.link(fgraph, n_inputs)`` generates C for the graph (``codegen``), compiles it with gcc
into a cached shared object (``build``) and returns a thunk: calling it with the input values
(then the shared variables' values) runs the whole schedule in C and returns the outputs as
fresh NumPy arrays. Nodes without C code run their Python ``perform`` through a callback.
The source is one translation unit; on a machine with several cores gcc compiles its two parts
(the elementwise kernels, the driver) at once and links them into the same module.

>>> import numpy as np, symdl, symdl.tensor as T
>>> x = T.dvector('x')
>>> f = symdl.function([x], T.tanh(x) * 2, mode='c')
>>> f(np.zeros(2))
array([0., 0.])
>>> 'sd_run' in f.source()
True
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import sysconfig
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from symdl.backend import Backend, Thunk, raise_broadcast_error
from symdl.backend.c import build
from symdl.compile.plan import Plan
from symdl.config import config
from symdl.errors import DebugModeError, NanGuardError
from symdl.graph.basic import Apply
from symdl.graph.fg import FunctionGraph
from symdl.profiling import ProfileReport
from symdl.utils import describe

if TYPE_CHECKING:  # a warm start that finds its plan never generates code, nor imports the generator
    from symdl.backend.c import codegen

__all__ = ["CBackend", "CDebugBackend", "DebugModeError", "NanGuardError", "blas_info"]


def blas_info() -> str:
    """Which BLAS library the C backend calls, and with how many threads."""
    return build.runtime().blas_config()


def _annotate(exc: Exception, node: Apply) -> None:
    if hasattr(exc, "add_note"):
        exc.add_note(f"while computing {node.op} (output {describe(node.outputs[0])})")


def _perform(node: Apply) -> Any:
    perform = node.op.perform

    def run(inputs: list[np.ndarray]) -> Any:
        try:
            with np.errstate(all="ignore"):
                return perform(node, inputs)
        except Exception as exc:
            _annotate(exc, node)
            raise_broadcast_error(exc, node, inputs)
            raise

    return run


def _checker(order: list[Apply], labels: list[str]) -> Any:
    """DEBUG mode: recompute a node with its Python perform and compare with the C result."""

    def check(k: int, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> None:
        node = order[k]
        with np.errstate(all="ignore"):
            expected = node.op.perform(node, [np.array(i) for i in inputs])
        for j, (got, want) in enumerate(zip(outputs, expected)):
            want = np.asarray(want)
            problem = None
            if got.shape != want.shape:
                problem = f"shape {got.shape} in C, {want.shape} in py"
            elif got.dtype != want.dtype:
                problem = f"dtype {got.dtype} in C, {want.dtype} in py"
            else:
                tol = 1e-4 if got.dtype in (np.float32, np.float16) else 1e-8
                if got.dtype.kind == "f":
                    ok = np.allclose(got, want, rtol=tol, atol=tol, equal_nan=True)
                else:
                    ok = np.array_equal(got, want)
                if not ok:
                    diff = np.abs(got.astype("float64") - want.astype("float64"))
                    worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), got.shape)
                    problem = f"at index {worst}: {got[worst]!r} in C, {want[worst]!r} in py"
            if problem:
                raise DebugModeError(f"DEBUG mode: {labels[k]}: output {j} differs between C and py: {problem}")

    return check


@functools.cache
def _thunk_class() -> type:
    program = build.runtime().Program

    class CThunk(program, Thunk):
        """A compiled function graph; ``thunk(values)`` returns the list of output values."""

        # The runtime refuses a wrong count, dtype, ndim or static shape with InputError before it
        # runs, and copies any output that someone else holds (see program_output).
        checks_inputs_and_owns_outputs = True

        def source(self) -> str:
            return self.generated.source

        def profile(self) -> ProfileReport:
            times = self.node_times()
            rows = [
                (name, "c" if c else "py", float(t), self.ncalls)
                for name, c, t in zip(self.generated.op_names, self.generated.in_c, times)
            ]
            return ProfileReport(rows, self.ncalls)

    return CThunk


def _explain(generated: codegen.Generated) -> Any:
    """Name the node whose C code the compiler rejected, from the line numbers in its log."""
    import re

    def explain(log: str) -> str:
        for match in re.finditer(r"module\.c:(\d+):\d*:? *(fatal )?error", log):
            line = int(match.group(1))
            for start, end, k in generated.node_lines:
                if start <= line <= end:
                    return f"in the code of {generated.labels[k]}"
        return ""

    return explain


def link_c(plan: Plan, debug: bool = False) -> Any:
    from symdl.backend.c import codegen

    start = time.perf_counter()
    generated = codegen.generate(plan)
    key = module_key(generated)
    path = build.build(key, generated.source, *build.generated_flags(), explain=_explain(generated))
    thunk = _load(generated, path, plan.fgraph, debug)
    thunk.module_key = key
    thunk.link_seconds = time.perf_counter() - start
    return thunk


def module_key(generated: codegen.Generated) -> str:
    """The cache key of the module compiled from ``generated``."""
    flags, libs = build.generated_flags()
    return build.cache_key(
        generated.key_source,
        build.headers_digest(),
        build.compiler_identity(),
        " ".join(flags + libs),
        build.cpu_features(),
    )


def _load(generated: codegen.Generated, path: Any, fgraph: FunctionGraph, debug: bool) -> Any:
    rt = build.runtime()
    rt.set_num_threads(config.num_threads)
    callbacks = [
        _perform(node) if not c or back else None
        for node, c, back in zip(generated.order, generated.in_c, generated.may_call_back)
    ]
    names = [v.name or f"input {k}" for k, v in enumerate(fgraph.inputs)]
    thunk = _thunk_class()(
        path=str(path),
        nvars=generated.nvars,
        nnodes=len(generated.in_c),
        inputs=generated.input_slots,
        in_names=names,
        constants=generated.const_slots,
        const_arrays=generated.const_arrays,
        outputs=generated.output_slots,
        slot_types=generated.slot_types,
        labels=generated.labels,
        callbacks=callbacks,
        checker=_checker(generated.order, generated.labels) if debug else None,
        nan_guard=bool(config.nan_guard),
    )
    thunk.generated = generated
    thunk.library = path
    return thunk


class CBackend(Backend):
    """Generated C, compiled with gcc (``$CC``), cached on disk."""

    name = "c"

    @staticmethod
    @functools.cache
    def available() -> bool:
        return not CBackend.missing()

    @staticmethod
    @functools.cache
    def missing() -> str:
        """What the C backend lacks on this machine, and how to get it ('' when nothing)."""
        if os.name != "posix":
            return "the C backend runs on Linux and macOS only"
        if not build.compiler_identity() or shutil.which(build.compiler_command()[0]) is None:
            return build.compiler_missing_message()
        if not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")):
            return (
                "Python's C headers (Python.h) are not installed: install them (Debian/Ubuntu: "
                "apt-get install python3-dev)"
            )
        # Found, not imported: importing it costs tens of milliseconds that a warm start can skip.
        if importlib.util.find_spec("scipy_openblas32") is None:
            return "the BLAS package scipy-openblas32 is not installed: pip install scipy-openblas32"
        return ""

    @staticmethod
    def link(plan: Plan) -> Any:
        return link_c(plan, debug=config.mode == "DEBUG")

    @staticmethod
    def recall(fgraph: FunctionGraph, settings: tuple) -> tuple[str | None, Any]:
        """``(key, thunk)`` for the unrewritten ``fgraph``: the thunk when its code generation is remembered
        under its key (see ``memo``), else None; the key is None when none can be made."""
        if config.mode == "DEBUG":
            return None, None
        from symdl.backend.c import memo

        start = time.perf_counter()
        key = memo.fingerprint(fgraph, settings)
        found = memo.recall(key) if key else None
        if found is None:
            return key, None
        generated, module = found
        path = build.build(module, generated.source, *build.generated_flags(), explain=_explain(generated))
        thunk = _load(generated, path, fgraph, debug=False)
        thunk.module_key = module
        thunk.link_seconds = time.perf_counter() - start
        return key, thunk

    @staticmethod
    def remember(key: str, thunk: Any) -> None:
        from symdl.backend.c import memo

        memo.remember(key, thunk.generated, thunk.module_key)


class CDebugBackend(CBackend):
    """``mode='DEBUG'``: every C node is checked against its Python ``perform``."""

    name = "c-debug"

    @staticmethod
    def link(plan: Plan) -> Any:
        return link_c(plan, debug=True)

    @staticmethod
    def recall(fgraph: FunctionGraph, settings: tuple) -> tuple[str | None, Any]:
        return None, None  # the checker needs the rewritten nodes
