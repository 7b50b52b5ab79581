"""The PyCUDA device: GPU arrays from a memory pool, one compiled module per function, cuBLAS,
CUDA events. PyCUDA is imported only here, and only when a CUDA function is built.

``status()`` says whether this machine can run CUDA code and, if not, what is missing; it never
raises.

>>> ok, why = status()
>>> isinstance(ok, bool) and isinstance(why, str)
True
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

INSTALL_HINT = (
    "install it with `pip install symdl[cuda]` (PyCUDA builds against a CUDA toolkit: `nvcc` on PATH "
    "or CUDA_ROOT set) on a machine with an NVIDIA GPU and its driver"
)


@functools.cache
def status() -> tuple[bool, str]:
    """(True, the GPU's name) when PyCUDA imports and a GPU is present, else (False, what is missing)."""
    try:
        import pycuda.driver as drv
    except Exception as exc:  # ImportError, or a PyCUDA built against another CUDA
        return False, f"device='cuda' needs PyCUDA, which cannot be imported here ({exc}); {INSTALL_HINT}"
    try:
        drv.init()
        count = drv.Device.count()
    except Exception as exc:
        return False, (
            f"PyCUDA is installed but CUDA could not start ({exc}): no NVIDIA GPU or driver was found. "
            "Check that `nvidia-smi` lists a GPU; CUDA needs the NVIDIA driver as well as the toolkit"
        )
    if count == 0:
        return False, "PyCUDA is installed but no CUDA GPU was found (`nvidia-smi` should list one)"
    return True, drv.Device(0).name()


class PyCudaDevice:
    """The device interface the CUDA executor uses, on PyCUDA's ``GPUArray``."""

    def __init__(self) -> None:
        import atexit

        import pycuda.driver as drv
        import pycuda.gpuarray as gpuarray
        from pycuda.tools import DeviceMemoryPool

        drv.init()
        context = drv.Context.get_current()
        if context is None:
            # The primary context, as PyTorch and CuPy use: arrays can be shared with them.
            context = drv.Device(0).retain_primary_context()
            context.push()
            atexit.register(self._release)
        self.context = context
        self.drv = drv
        self.gpuarray = gpuarray
        dev = context.get_device()
        self.name = dev.name()
        self.sm_count = dev.get_attribute(drv.device_attribute.MULTIPROCESSOR_COUNT)
        self.compute_capability = dev.compute_capability()
        self.pool = DeviceMemoryPool()
        self._allocate = self.pool.allocate
        self._cublas = None

    def _release(self) -> None:
        self.pool.free_held()
        self.context.pop()

    # -------------------------------------------------------------- arrays
    def empty(self, shape: tuple, dtype: Any) -> Any:
        return self.gpuarray.GPUArray(shape, dtype, allocator=self._allocate)

    def to_device(self, host: np.ndarray) -> Any:
        host = np.asarray(host, order="C")  # keeps 0-d arrays 0-d
        arr = self.empty(host.shape, host.dtype)
        if host.size:
            self.drv.memcpy_htod(arr.gpudata, host)
        return arr

    def to_host(self, arr: Any) -> np.ndarray:
        """A NumPy copy of a C-contiguous device array."""
        out = np.empty(arr.shape, arr.dtype)
        if out.size:
            self.drv.memcpy_dtoh(out, self.ptr(arr))
        return out

    def view(self, arr: Any, shape: tuple, strides: tuple, offset: int = 0) -> Any:
        if arr.gpudata is None or not int(np.prod(shape, dtype=np.int64)):
            return self.empty(shape, arr.dtype)
        gpudata = arr.gpudata if offset == 0 else int(arr.gpudata) + offset
        return self.gpuarray.GPUArray(shape, arr.dtype, gpudata=gpudata, strides=strides, base=arr)

    @staticmethod
    def ptr(arr: Any) -> int:
        return int(arr.gpudata) if arr.gpudata is not None else 0

    def memset_zero(self, arr: Any) -> None:
        if arr.size:
            self.drv.memset_d8(self.ptr(arr), 0, arr.nbytes)

    # -------------------------------------------------------------- code
    def module(self, source: str, kernels: dict[str, str]) -> dict[str, Any]:
        """Compile ``source`` once (PyCUDA caches the binary on disk) and prepare each kernel."""
        from pycuda.compiler import SourceModule

        module = SourceModule(source, no_extern_c=True, options=["-std=c++17"])
        functions: dict[str, Any] = {"<module>": module}  # keeps the module loaded
        for name, fmt in kernels.items():
            fn = module.get_function(name)
            fn.prepare(fmt)
            functions[name] = fn.prepared_call
        return functions

    def gemm(self, dtype: Any, *args: Any) -> None:
        if self._cublas is None:
            from symdl.backend.cuda.cublas import Cublas

            self._cublas = Cublas()
        self._cublas.gemm(str(np.dtype(dtype)), *args)

    # -------------------------------------------------------------- timing
    def event(self) -> Any:
        return self.drv.Event()

    def elapsed(self, start: Any, end: Any) -> float:
        end.synchronize()
        return end.time_since(start) * 1e-3

    def synchronize(self) -> None:
        self.context.synchronize()


@functools.cache
def default_device() -> PyCudaDevice:
    return PyCudaDevice()
