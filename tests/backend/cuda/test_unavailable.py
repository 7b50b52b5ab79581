"""Without PyCUDA or without a GPU, asking for the CUDA backend fails with an error that says what
is missing and how to install it; nothing else about symdl needs PyCUDA."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import symdl
import symdl.tensor as T
from symdl.backend.cuda import CudaBackend, CudaUnavailableError

needs_no_gpu = pytest.mark.skipif(CudaBackend.available(), reason="a CUDA GPU with PyCUDA is present here")


@needs_no_gpu
@pytest.mark.parametrize("how", ["argument", "config"])
def test_asking_for_cuda_without_it_says_what_is_missing_and_how_to_install(how):
    x = T.vector("x")
    with pytest.raises(CudaUnavailableError) as info:
        if how == "argument":
            symdl.function([x], x * 2, device="cuda")
        else:
            with symdl.config.change(device="cuda"):
                symdl.function([x], x * 2)
    message = str(info.value)
    assert "pip install symdl[cuda]" in message
    assert "PyCUDA" in message or "GPU" in message
    assert "driver" in message


@needs_no_gpu
def test_symdl_flags_select_cuda_and_fail_clearly():
    code = "import symdl, symdl.tensor as T; x = T.vector('x'); symdl.function([x], x * 2)"
    env = dict(os.environ, SYMDL_FLAGS="device=cuda")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "CudaUnavailableError" in result.stderr and "pip install symdl[cuda]" in result.stderr


def test_cuda_is_listed_only_when_usable():
    assert ("cuda" in symdl.backend.available()) == CudaBackend.available()


def test_importing_symdl_and_building_cuda_source_never_imports_pycuda():
    code = (
        "import sys, symdl, symdl.tensor as T\n"
        "from symdl.backend.cuda import generate_source, CudaBackend\n"
        "x = T.vector('x'); generate_source([x], [T.exp(x)])\n"
        "assert 'pycuda' not in sys.modules, sorted(m for m in sys.modules if 'cuda' in m)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
