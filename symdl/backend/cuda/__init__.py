"""The CUDA backend: a function graph compiled into one CUDA module, run through PyCUDA.

Select it with ``symdl.config.device = 'cuda'``, ``SYMDL_FLAGS=device=cuda`` or
``symdl.function(..., device='cuda')``. PyCUDA is imported only then; without it, or without a
GPU, building a function raises ``CudaUnavailableError`` saying what is missing and how to
install it. ``generate_source`` needs neither and shows the CUDA a graph becomes.

>>> import symdl.tensor as T
>>> from symdl.backend.cuda import generate_source
>>> x = T.vector('x')
>>> 'expf' in generate_source([x], [T.exp(x)])
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from symdl.backend import Backend, Thunk
from symdl.compile.plan import Plan, make_plan
from symdl.errors import CompileError
from symdl.graph.fg import FunctionGraph

__all__ = ["CudaBackend", "CudaUnavailableError", "generate_source", "use_device"]


class CudaUnavailableError(CompileError):
    """device='cuda' was asked for where PyCUDA or a GPU is missing."""


_override: list[Any] = []


@contextlib.contextmanager
def use_device(device: Any) -> Iterator[Any]:
    """Run CUDA functions built inside the block on ``device`` (an object with the interface of
    ``symdl.backend.cuda.device.PyCudaDevice``; the tests pass a host emulation)."""
    _override.append(device)
    try:
        yield device
    finally:
        _override.pop()


def generate_source(inputs: Sequence[Any], outputs: Sequence[Any]) -> str:
    """The CUDA source a function of ``inputs -> outputs`` compiles to (no GPU needed)."""
    from symdl.backend.cuda.codegen import generate

    return generate(make_plan(FunctionGraph(list(inputs), list(outputs), clone=True), device="cuda")).source


class CudaBackend(Backend):
    name = "cuda"

    @staticmethod
    def available() -> bool:
        """True when PyCUDA imports and a GPU is present; never raises."""
        try:
            from symdl.backend.cuda.device import status

            return status()[0]
        except Exception:
            return False

    @staticmethod
    def link(plan: Plan) -> Thunk:
        from symdl.backend.cuda.runtime import CudaThunk

        if _override:
            return CudaThunk(plan, _override[-1])
        from symdl.backend.cuda.device import default_device, status

        ok, why = status()
        if not ok:
            raise CudaUnavailableError(why)
        return CudaThunk(plan, default_device())
