"""cuBLAS through ctypes: find ``libcublas`` (CUDA toolkit, ``nvidia-cublas`` wheel, PyTorch's
copy) and call ``cublas<S|D>gemm_v2`` on device pointers.

>>> isinstance(candidates(), list)
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import os
import sys
from pathlib import Path

_OP_N, _OP_T = 0, 1


def candidates() -> list[str]:
    """Paths of libcublas to try, most specific first (``SYMDL_CUBLAS`` overrides all)."""
    paths: list[str] = []
    if os.environ.get("SYMDL_CUBLAS"):
        paths.append(os.environ["SYMDL_CUBLAS"])
    roots = [os.environ.get(v) for v in ("CUDA_ROOT", "CUDA_HOME", "CUDA_PATH")] + ["/usr/local/cuda"]
    for root in filter(None, roots):
        for sub in ("lib64", "lib", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib"):
            paths += sorted(glob.glob(os.path.join(root, sub, "libcublas.so*")), reverse=True)
    # pip wheels: nvidia-cublas-cu12 (nvidia/cublas/lib), CUDA 13 wheels (nvidia/cu13/lib), torch/lib
    for package in ("nvidia", "torch"):
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        for location in (spec.submodule_search_locations or []) if spec else []:
            for pattern in ("libcublas.so*", "*/lib/libcublas.so*", "lib/libcublas.so*"):
                paths += sorted(glob.glob(os.path.join(location, pattern)), reverse=True)
    for site in sys.path:
        if site and Path(site, "nvidia").is_dir():
            paths += sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib", "libcublas.so*")), reverse=True)
    found = ctypes.util.find_library("cublas")
    if found:
        paths.append(found)
    seen: list[str] = []
    for p in paths:
        if p not in seen and "Lt" not in os.path.basename(p):
            seen.append(p)
    return seen


class Cublas:
    """One cuBLAS handle on the current CUDA context (PyCUDA's), default stream."""

    def __init__(self) -> None:
        errors = []
        self.lib = None
        for path in candidates():
            try:
                self.lib = ctypes.CDLL(path)
                self.path = path
                break
            except OSError as exc:
                errors.append(f"{path}: {exc}")
        if self.lib is None:
            raise OSError(
                "cuBLAS (libcublas) was not found: install the CUDA toolkit, or `pip install nvidia-cublas-cu12`, "
                "or set SYMDL_CUBLAS to the library's path" + (f"; tried {'; '.join(errors)}" if errors else "")
            )
        self.handle = ctypes.c_void_p()
        self._check(self.lib.cublasCreate_v2(ctypes.byref(self.handle)), "cublasCreate")
        p, i = ctypes.c_void_p, ctypes.c_int
        for name, real in (("cublasSgemm_v2", ctypes.c_float), ("cublasDgemm_v2", ctypes.c_double)):
            fn = getattr(self.lib, name)
            fn.argtypes = [p, i, i, i, i, i, ctypes.POINTER(real), p, i, p, i, ctypes.POINTER(real), p, i]
            fn.restype = i
        self._gemm = {
            "float32": (self.lib.cublasSgemm_v2, ctypes.c_float),
            "float64": (self.lib.cublasDgemm_v2, ctypes.c_double),
        }

    @staticmethod
    def _check(status: int, what: str) -> None:
        if status != 0:
            raise RuntimeError(f"{what} failed with cuBLAS status {status}")

    def gemm(self, dtype: str, transa: bool, transb: bool, m: int, n: int, k: int, alpha: float,
             a: int, lda: int, b: int, ldb: int, beta: float, c: int, ldc: int) -> None:  # fmt: skip
        """Column-major ``C = alpha op(A) op(B) + beta C`` on device pointers."""
        fn, real = self._gemm[str(dtype)]
        status = fn(
            self.handle, _OP_T if transa else _OP_N, _OP_T if transb else _OP_N, m, n, k,
            ctypes.byref(real(alpha)), a, lda, b, ldb, ctypes.byref(real(beta)), c, ldc,
        )  # fmt: skip
        self._check(status, f"gemm ({m}x{n}x{k})")
