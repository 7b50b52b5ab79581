"""The hand-written C of kernels/c stands alone: each header compiles in a file that includes
nothing else, and the runtime's digest covers every file the runtime is built from."""

import re
import subprocess
import sysconfig

import numpy as np
import pytest

from symdl.backend.c import build
from symdl.backend.c.runtime_sources import RUNTIME_COMPILE_FLAGS, RUNTIME_SOURCES

HEADERS = sorted(path.name for path in build.kernels_dir().glob("*.h"))


def include_flags() -> list[str]:
    import scipy_openblas32

    dirs = [build.kernels_dir(), sysconfig.get_paths()["include"], np.get_include(), scipy_openblas32.get_include_dir()]
    return [flag for d in dirs for flag in ("-I", str(d))]


@pytest.mark.parametrize("header", HEADERS)
def test_each_header_compiles_on_its_own(header, tmp_path):
    source = tmp_path / "only.c"
    source.write_text(f'#include "{header}"\n')
    flags = [f for f in RUNTIME_COMPILE_FLAGS if f != "-w"]
    # a function used before any header declared it is an error, not gcc's default warning
    checks = ["-Werror=implicit-function-declaration", "-Werror=implicit-int"]
    cmd = [*build.compiler_command(), "-fsyntax-only", *flags, *checks, *include_flags(), str(source)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"{header} does not compile on its own:\n{result.stderr}"


def included(name: str, seen: set[str]) -> set[str]:
    """``name`` and the kernels/c files it includes, transitively."""
    if name not in seen:
        seen.add(name)
        text = (build.kernels_dir() / name).read_text()
        for dep in re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, flags=re.M):
            included(dep, seen)
    return seen


def test_the_runtime_digest_covers_every_file_the_runtime_includes():
    assert included("symdl_runtime.c", set()) == set(RUNTIME_SOURCES)
