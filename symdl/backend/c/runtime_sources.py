"""The files the C runtime extension is built from, and a digest of them.

``setup.py`` builds the runtime at install time with the digest compiled in; ``build.runtime()``
uses that build only while the digest still matches the sources beside the package (an editable
install whose kernels changed since builds a fresh one into the cache instead). This module
imports nothing from symdl, so that setup.py can load it before symdl is installed.
"""

import functools
import hashlib
import platform
from pathlib import Path

RUNTIME_SOURCES = (
    "symdl_runtime.c",
    "runtime_core.h",
    "runtime_values.h",
    "runtime_iter.h",
    "runtime_reduce.h",
    "runtime_blas.h",
    "runtime_softmax.h",
    "runtime_views.h",
    "runtime_python.h",
    "runtime_inputs.h",
    "runtime_random.h",
    "runtime_loops.h",
    "runtime_linalg.h",
    "lapack_ops.h",
    "runtime_along_axis.h",
    "philox.h",
    "symdl_rt.h",
    "symdl_math.h",
    "nnet_api.h",
    "conv.h",
    "conv3d.h",
    "pool.h",
    "pool_nd.h",
    "sgemm_avx512.h",
)


@functools.cache
def cpu_features() -> str:
    """The CPU's feature flags from /proc/cpuinfo (what -march=native builds for)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.machine() + platform.processor()


def vector_width_flags() -> list[str]:
    """256-bit vectors on CPUs with AVX2 and no AVX-512. gcc's tuning for some of them (AMD Zen 1,
    which ``-march=native`` names znver1) prefers 128-bit vectors, so fused loops called libmvec's
    4-wide SSE ``tanh``, ``exp`` and ``log1p`` rather than the 8-wide AVX2 ones; CPUs with AVX-512
    keep gcc's own choice."""
    features = set(cpu_features().split())
    return ["-mprefer-vector-width=256"] if "avx2" in features and "avx512f" not in features else []


# gcc flags of all C that symdl builds (-march=native: built where it runs), and of the runtime
# beyond its include and library paths.
OPT_FLAGS = [
    "-O3",
    "-march=native",
    *vector_width_flags(),
    "-fno-math-errno",
    "-fwrapv",
    "-fno-semantic-interposition",
    "-fPIC",
]
RUNTIME_COMPILE_FLAGS = OPT_FLAGS + ["-fopenmp", "-w"]


def runtime_digest(kernel_dir: Path) -> str:
    """SHA-256 (16 hex digits) of the runtime's sources, its flags and the CPU it is built for."""
    h = hashlib.sha256((" ".join(RUNTIME_COMPILE_FLAGS) + "|" + cpu_features()).encode())
    for name in RUNTIME_SOURCES:
        h.update(name.encode() + b"\0" + (Path(kernel_dir) / name).read_bytes())
    return h.hexdigest()[:16]
