"""Fixtures for the CUDA backend tests.

``emulated``: a stand-in for ``symdl.backend.cuda.device.PyCudaDevice`` that runs the generated
CUDA source on the host. The source is compiled with g++ after a small prelude that defines the
CUDA keywords, one block of one thread (``gridDim = blockDim = 1``), and no-op barriers; every
kernel loops grid-stride (and block-stride) so that one thread computes everything. Memory is
NumPy buffers (filled with 0xFF so that reading an unwritten value shows up as NaN or -1), and
cuBLAS is NumPy reading the buffers column-major, exactly as cuBLAS would. This checks the
generated code's arithmetic, broadcasting, reductions and the executor's layouts, transfers and
schedule without a GPU; what it cannot check (warp shuffles, shared memory across threads,
real launches) waits for the GPU tests (``-m gpu``).

``nvcc``: the path of nvcc, or the test is skipped.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

PRELUDE = r"""
#include <cmath>
#include <cstring>
#define SYMDL_HOST_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
struct symdl_emu_dim3 { unsigned int x, y, z; };
static const symdl_emu_dim3 threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
inline void __syncthreads() {}
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline double __longlong_as_double(long long i) { double f; std::memcpy(&f, &i, 8); return f; }
using std::isnan;
using std::isinf;
using std::isfinite;
"""

_CTYPES = {
    "q": ctypes.c_longlong,
    "Q": ctypes.c_ulonglong,
    "i": ctypes.c_int,
    "I": ctypes.c_uint,
    "f": ctypes.c_float,
    "d": ctypes.c_double,
    "P": ctypes.c_void_p,
}


def _struct_type(nbytes: int) -> type:
    return type(f"Bytes{nbytes}", (ctypes.Structure,), {"_fields_": [("v", ctypes.c_longlong * (nbytes // 8))]})


def _c_strides(shape, itemsize):
    strides, step = [], itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return tuple(reversed(strides))


class EmulatedArray:
    """A device array of the emulation: a NumPy byte buffer, an offset, a shape and strides."""

    def __init__(self, shape, dtype, strides=None, buffer=None, offset=0, base=None):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.strides = tuple(strides) if strides is not None else _c_strides(self.shape, self.dtype.itemsize)
        if buffer is None:
            buffer = np.full(max(self.nbytes, 8), 0xFF, dtype=np.uint8)
        self.buffer, self.offset, self.base = buffer, offset, base

    size = property(lambda self: math.prod(self.shape))
    ndim = property(lambda self: len(self.shape))
    nbytes = property(lambda self: self.size * self.dtype.itemsize)

    @property
    def ptr(self) -> int:
        return self.buffer.ctypes.data + self.offset

    def get(self) -> np.ndarray:
        view = np.ndarray(self.shape, self.dtype, buffer=self.buffer, offset=self.offset, strides=self.strides)
        return view.copy()


class _Event:
    def record(self) -> None:
        self.t = time.perf_counter()


class EmulatedDevice:
    name = "host emulation"
    sm_count = 4

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.sources: list[str] = []
        self.launches: list[str] = []

    def empty(self, shape, dtype):
        return EmulatedArray(shape, dtype)

    def to_device(self, host):
        host = np.asarray(host, order="C")  # keeps 0-d arrays 0-d
        arr = EmulatedArray(host.shape, host.dtype)
        arr.buffer[: host.nbytes] = host.reshape(-1).view(np.uint8)
        return arr

    def to_host(self, arr):
        return arr.get()

    def view(self, arr, shape, strides, offset=0):
        return EmulatedArray(shape, arr.dtype, strides, arr.buffer, arr.offset + offset, base=arr)

    @staticmethod
    def ptr(arr) -> int:
        return arr.ptr

    def memset_zero(self, arr):
        arr.buffer[arr.offset : arr.offset + arr.nbytes] = 0

    def module(self, source: str, kernels: dict[str, str]):
        assert "#include" not in source, "the CUDA source must not include headers (PyCUDA's cache would preprocess it)"
        self.sources.append(source)
        text = PRELUDE + source
        key = hashlib.sha1(text.encode()).hexdigest()[:16]
        lib_path = self.workdir / f"emu_{key}.so"
        if not lib_path.exists():
            cpp = self.workdir / f"emu_{key}.cpp"
            cpp.write_text(text)
            tmp = self.workdir / f"emu_{key}.{os.getpid()}.so"
            cmd = ["g++", "-std=c++17", "-O1", "-shared", "-fPIC", "-w", "-o", str(tmp), str(cpp)]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode:
                raise AssertionError(f"g++ failed on the emulated CUDA source:\n{result.stderr[:4000]}")
            os.replace(tmp, lib_path)
        lib = ctypes.CDLL(str(lib_path))
        functions = {"<module>": lib}
        for name, fmt in kernels.items():
            functions[name] = self._launcher(name, getattr(lib, name), fmt)
        return functions

    def _launcher(self, name, fn, fmt):
        tokens = re.findall(r"(\d+)s|([qQiIfdP])", fmt)
        types = [_struct_type(int(n)) if n else _CTYPES[c] for n, c in tokens]
        fn.argtypes = types
        fn.restype = None

        def launch(grid, block, *args):
            assert len(args) == len(types), f"{name}: {len(args)} arguments for format {fmt}"
            assert all(g >= 1 for g in grid) and all(b >= 1 for b in block)
            assert block[0] <= 1024 and (block[0] <= 32 or block[0] % 32 == 0), f"{name}: block {block}"
            converted = [t.from_buffer_copy(a) if isinstance(a, bytes) else a for t, a in zip(types, args)]
            self.launches.append(name)
            fn(*converted)

        return launch

    def gemm(self, dtype, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        dtype = np.dtype(dtype)

        def matrix(ptr, rows, cols, ld):
            assert ld >= max(1, rows), f"leading dimension {ld} < {rows} rows"
            count = ld * (cols - 1) + rows
            raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
            flat = np.frombuffer(raw, dtype=dtype, count=count)
            return np.lib.stride_tricks.as_strided(flat, (rows, cols), (dtype.itemsize, ld * dtype.itemsize))

        op_a = matrix(a, k, m, lda).T if transa else matrix(a, m, k, lda)
        op_b = matrix(b, n, k, ldb).T if transb else matrix(b, k, n, ldb)
        out = matrix(c, m, n, ldc)
        product = alpha * (op_a.astype(np.float64) @ op_b.astype(np.float64))
        out[...] = product if beta == 0 else product + beta * out
        self.launches.append("gemm")

    def event(self):
        return _Event()

    @staticmethod
    def elapsed(start, end) -> float:
        return end.t - start.t

    def synchronize(self) -> None:
        pass


@pytest.fixture(scope="session")
def _emulation_dir():
    if shutil.which("g++") is None:
        pytest.skip("the host emulation of CUDA kernels needs g++")
    with tempfile.TemporaryDirectory(prefix="symdl-cuda-emu-") as d:
        yield Path(d)


@pytest.fixture
def emulated(_emulation_dir):
    """CUDA functions built inside the test run on the host emulation."""
    from symdl.backend.cuda import use_device

    with use_device(EmulatedDevice(_emulation_dir)) as device:
        yield device


def find_nvcc() -> str | None:
    for candidate in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture(scope="session")
def nvcc():
    path = find_nvcc()
    if path is None:
        pytest.skip("nvcc (the CUDA compiler) is not installed here")
    return path


# ---------------------------------------------------------------- representative graphs
SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.5, 2.5, 0.5, -0.5, np.inf, -np.inf, np.nan, 1e-3, 3.0, 7.0, -7.0, 100.0, -2.5]
SPECIAL_INTS = [-7, 7, 0, 1, -1, 3, -3, 2, 5, 100, -100, 6, 4, -2, 9, 11]


def scalar_op_graph(dtype: str):
    """Every scalar op of symdl.tensor.elemwise that accepts ``dtype``, as the outputs of one
    fused Composite node (one kernel). Returns (inputs, outputs, names, values)."""
    import symdl.tensor as T
    from symdl.errors import TypeMismatch
    from symdl.tensor.composite import Composite
    from symdl.tensor.elemwise import SCALAR_OPS

    x, y, z = (T.tensor(dtype, shape=(16,), name=n) for n in "xyz")
    e = T.tensor(dtype, shape=(16,), name="e")  # non-negative exponents for integer powers
    c = T.tensor("bool", shape=(16,), name="c")
    inputs = [x, y, z, e, c]
    program, names = [], []
    for name, op in SCALAR_OPS.items():
        if "complex" in name:
            continue  # complex values run in Python on every compiled backend
        args = {1: (0,), 2: (0, 1), 3: (0, 1, 2)}[op.nin]
        if name == "where":
            args = (4, 0, 1)
        if name == "pow" and dtype not in ("float16", "float32", "float64"):
            args = (0, 3)
        try:
            op.output_dtype([inputs[a].dtype for a in args])
        except TypeMismatch:
            continue
        program.append((op, args))
        names.append(name)
    outputs = Composite(program, range(len(inputs), len(inputs) + len(program)))(*inputs)
    if dtype == "bool":
        base, other = [v > 0 for v in SPECIAL_INTS], [v % 3 == 0 for v in SPECIAL_INTS]
    elif dtype.startswith("float"):
        base, other = SPECIAL_FLOATS, SPECIAL_FLOATS[5:] + SPECIAL_FLOATS[:5]
    else:
        info = np.iinfo(dtype)
        base = [min(max(v, info.min), info.max) for v in SPECIAL_INTS]
        base[-1] = info.min
        base[-2] = info.max
        other = base[5:] + base[:5]
    values = [
        np.array(base, dtype=dtype),
        np.array(other, dtype=dtype),
        np.array(other[::-1], dtype=dtype),
        np.array([k % 6 if dtype != "bool" else k % 2 == 0 for k in range(16)], dtype=dtype),
        np.array([v % 2 == 0 for v in range(16)]),
    ]
    return inputs, outputs, names, values


def mlp_step(batch: int = 128, sizes=(784, 512, 512, 10), seed: int = 0):
    """An MLP training step: ReLU layers, softmax cross-entropy, SGD with momentum.

    Returns (inputs, loss, updates, params, sample values)."""
    import symdl
    import symdl.tensor as T

    rng = np.random.default_rng(seed)
    x, y = T.matrix("x"), T.ivector("y")
    params, h = [], x
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = symdl.shared((rng.normal(size=(a, b)) * np.sqrt(2.0 / a)).astype("float32"), name=f"W{i}")
        bias = symdl.shared(np.zeros(b, "float32"), name=f"b{i}")
        params += [W, bias]
        h = T.dot(h, W) + bias
        if i < len(sizes) - 2:
            h = T.nnet.relu(h)
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(h), y).mean()
    updates = []
    for p, g in zip(params, symdl.grad(loss, params)):
        v = symdl.shared(np.zeros(p.get_value().shape, "float32"), name=f"v_{p.name}")
        step = 0.9 * v - 0.01 * g
        updates += [(v, step), (p, p + step)]
    xv = rng.normal(size=(batch, sizes[0])).astype("float32")
    yv = rng.integers(0, sizes[-1], size=batch).astype("int32")
    return [x, y], loss, updates, params, [xv, yv]


def cnn_step(batch: int = 8, seed: int = 0):
    """A CNN step: conv 5x5 (32), pool 2, conv 5x5 (64), pool 2, dense 256, dense 10, SGD momentum."""
    import symdl
    import symdl.tensor as T

    rng = np.random.default_rng(seed)
    x, y = T.tensor4("x", shape=(None, 1, 28, 28)), T.ivector("y")

    def param(shape, name, scale):
        return symdl.shared((rng.normal(size=shape) * scale).astype("float32"), name=name)

    w1, b1 = param((32, 1, 5, 5), "w1", 0.2), param((32,), "b1", 0.0)
    w2, b2 = param((64, 32, 5, 5), "w2", 0.03), param((64,), "b2", 0.0)
    w3, b3 = param((64 * 4 * 4, 256), "w3", 0.03), param((256,), "b3", 0.0)
    w4, b4 = param((256, 10), "w4", 0.06), param((10,), "b4", 0.0)
    h = T.nnet.relu(T.nnet.conv2d(x, w1) + b1.dimshuffle("x", 0, "x", "x"))
    h = T.nnet.pool_2d(h, (2, 2))
    h = T.nnet.relu(T.nnet.conv2d(h, w2) + b2.dimshuffle("x", 0, "x", "x"))
    h = T.nnet.pool_2d(h, (2, 2))
    h = T.nnet.relu(T.dot(T.flatten(h, 2), w3) + b3)
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(T.dot(h, w4) + b4), y).mean()
    params = [w1, b1, w2, b2, w3, b3, w4, b4]
    updates = []
    for p, g in zip(params, symdl.grad(loss, params)):
        v = symdl.shared(np.zeros(p.get_value().shape, "float32"), name=f"v_{p.name}")
        step = 0.9 * v - 0.01 * g
        updates += [(v, step), (p, p + step)]
    xv = rng.normal(size=(batch, 1, 28, 28)).astype("float32")
    yv = rng.integers(0, 10, size=batch).astype("int32")
    return [x, y], loss, updates, params, [xv, yv]


@pytest.fixture
def graphs():
    """The graph builders above (test modules cannot import conftest under --import-mode=importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(scalar_op_graph=scalar_op_graph, mlp_step=mlp_step, cnn_step=cnn_step)
