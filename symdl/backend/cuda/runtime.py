"""The CUDA executor: runs a ``codegen.Program`` on a device.

The device is anything with the small interface of ``symdl.backend.cuda.device.PyCudaDevice``
(arrays with ``shape``, ``strides`` in bytes, ``dtype`` and ``get()``; ``empty``, ``to_device``,
``to_host``, ``view``, ``ptr``, ``module``, ``gemm``, ``event``, ``elapsed``), so the same
executor runs on PyCUDA and, in the tests, on a host emulation of the generated kernels.

Values live in a flat list of slots: device arrays, or NumPy values for what the schedule keeps
on the host (shape arithmetic, 0-d function inputs, constants). Inputs go to the device at the
function boundary, outputs come back, and shared variables stay on the device: their updates
are returned as device arrays and stored in the variables' containers.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symdl.backend import MAXDIM, Thunk
from symdl.backend.cuda import codegen as cg
from symdl.compile.plan import Plan
from symdl.errors import ShapeError
from symdl.profiling import ProfileReport
from symdl.utils import describe

BLOCK = 256
_PAD = (0,) * MAXDIM


# ---------------------------------------------------------------- layout helpers
def c_strides(shape: Sequence[int], itemsize: int) -> tuple[int, ...]:
    """C-order strides in bytes."""
    strides, step = [], itemsize
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    return tuple(reversed(strides))


def is_contiguous(arr: Any) -> bool:
    """C-contiguous, ignoring the strides of size-1 axes."""
    step = arr.dtype.itemsize
    for d, s in zip(reversed(arr.shape), reversed(arr.strides)):
        if d != 1 and s != step:
            return False
        step *= d
    return True


def elem_strides(arr: Any) -> list[int]:
    size = arr.dtype.itemsize
    return [s // size for s in arr.strides]


def collapse(shape: Sequence[int], strides: Sequence[Sequence[int]]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 axes and merge neighbours that every operand walks contiguously."""
    dims: list[int] = []
    sts: list[list[int]] = [[] for _ in strides]
    for axis, d in enumerate(shape):
        if d == 1:
            continue
        if dims and all(st[-1] == s[axis] * d for st, s in zip(sts, strides)):
            dims[-1] *= d
            for st, s in zip(sts, strides):
                st[-1] = s[axis]
            continue
        dims.append(d)
        for st, s in zip(sts, strides):
            st.append(s[axis])
    return dims, sts


def pack_shape(dims: Sequence[int]) -> bytes:
    if len(dims) > MAXDIM:
        raise ShapeError(f"the CUDA backend handles at most {MAXDIM} dimensions, got {len(dims)}")
    return struct.pack(f"{MAXDIM + 1}q", len(dims), *dims, *_PAD[len(dims) :])


def pack_strides(strides: Sequence[int]) -> bytes:
    return struct.pack(f"{MAXDIM}q", *strides, *_PAD[len(strides) :])


def broadcast_strides(arr_shape: Sequence[int], strides: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Element strides of an operand read over ``out_shape`` (0 along broadcast axes)."""
    lead = len(out_shape) - len(arr_shape)
    out = [0] * lead
    for d, s, o in zip(arr_shape, strides, out_shape[lead:]):
        out.append(0 if d == 1 and o != 1 else s)
    return out


def grid_for(n: int, sm_count: int, per_sm: int = 16) -> tuple[int, int]:
    return (max(1, min((n + BLOCK - 1) // BLOCK, sm_count * per_sm)), 1)


LIMIT = 2**31 - 1  # kernels index with 32 bits; bigger launches are split on the host


def split_launch(
    dims: Sequence[int], strides: Sequence[Sequence[int]]
) -> list[tuple[list[int], list[list[int]], list[int], int]]:
    """Pieces of at most ``LIMIT`` elements covering a C-order walk over ``dims``: each is
    (dims, per-operand strides, per-operand element offsets, flat offset of its first element)."""
    limit = LIMIT
    pieces = []

    def split(dims: list[int], strides: list[list[int]], offsets: list[int], flat: int) -> None:
        n = math.prod(dims)
        if n <= limit:
            pieces.append((dims, strides, offsets, flat))
            return
        inner = math.prod(dims[1:])
        if inner <= limit:
            rows = max(1, limit // inner)
            for r0 in range(0, dims[0], rows):
                r = min(rows, dims[0] - r0)
                moved = [o + r0 * st[0] for o, st in zip(offsets, strides)]
                pieces.append(([r, *dims[1:]], strides, moved, flat + r0 * inner))
            return
        for r0 in range(dims[0]):
            moved = [o + r0 * st[0] for o, st in zip(offsets, strides)]
            split(dims[1:], [st[1:] for st in strides], moved, flat + r0 * inner)

    split(list(dims), [list(st) for st in strides], [0] * len(strides), 0)
    return pieces


# ---------------------------------------------------------------- the thunk
class CudaThunk(Thunk):
    """Callable ``thunk(input values) -> output values`` for one plan on one device.

    The plan's leading ``n_results`` outputs are the function's results (copied to the host);
    the rest are new values of shared variables, which stay on the device.
    """

    def __init__(self, plan: Plan, device: Any, program: cg.Program | None = None, functions: Any = None):
        """``program`` and ``functions`` are given for an inner graph, whose kernels are in the
        module of the function that holds it."""
        self.plan = plan
        self.fgraph = fgraph = plan.fgraph
        self.n_inputs = n_inputs = plan.n_inputs
        self.device = device
        self.program = program = program or cg.generate(plan)
        start = time.perf_counter()
        self.functions = functions or device.module(program.source, program.kernels)
        self.compile_seconds = time.perf_counter() - start
        self.shared = list(fgraph.inputs[n_inputs:])
        self.device_constants: dict[int, Any] = {}
        self.small_uploads: dict[tuple, Any] = {}
        self.constant_slots = {s for s, _ in program.constants}
        n = len(program.steps)
        self.times = np.zeros(n)  # device time of sampled calls (CUDA events)
        self.host_times = np.zeros(n)  # host steps: NumPy time of every call
        self.transfer_times = np.zeros(n)
        self.runners = [self._runner(step, k) for k, step in enumerate(program.steps)]
        self.timed_calls = 0
        self.boundary = {"inputs to device": 0.0, "outputs to host": 0.0}
        self.calls = 0
        self._events = None

    # -------------------------------------------------------------- calling
    def __call__(self, values: Sequence[Any]) -> list[Any]:
        program, device = self.program, self.device
        storage: list[Any] = [None] * program.n_slots
        for slot, data in program.constants:
            storage[slot] = data
        timed = self.calls < 4 or self.calls % 16 == 0
        clock = time.perf_counter
        start = clock()
        for k, (slot, value) in enumerate(zip(program.input_slots, values)):
            if k < self.n_inputs:
                storage[slot] = value if program.on_host[slot] else device.to_device(value)
            else:
                if isinstance(value, np.ndarray):
                    value = device.to_device(value)
                    self.shared[k - self.n_inputs].container[0] = value
                storage[slot] = value
        self.boundary["inputs to device"] += clock() - start
        if timed:
            events = self._step_events()
            for k, (run, free) in enumerate(zip(self.runners, program.frees)):
                events[k][0].record()
                run(storage)
                events[k][1].record()
                for s in free:
                    storage[s] = None
        else:
            self._run(storage)
        start = clock()
        n_results = program.n_results
        outputs = []
        for j, slot in enumerate(program.output_slots):
            value = storage[slot]
            if j < n_results:
                value = self.to_host(value)
            else:
                value = self.owned_device(value)
            outputs.append(value)
        self.boundary["outputs to host"] += clock() - start
        if timed:
            for k, (begin, end) in enumerate(self._events):
                self.times[k] += device.elapsed(begin, end)
            self.timed_calls += 1
        self.calls += 1
        return outputs

    def _run(self, storage: list[Any]) -> None:
        for run, free in zip(self.runners, self.program.frees):
            run(storage)
            for s in free:
                storage[s] = None

    def run_on_device(self, values: Sequence[Any]) -> list[Any]:
        """Run an inner graph on values where they are (device arrays, host values in host
        slots): no transfer at the boundary, outputs left where the program computed them."""
        program = self.program
        storage: list[Any] = [None] * program.n_slots
        for slot, data in program.constants:
            storage[slot] = data
        for slot, value in zip(program.input_slots, values):
            storage[slot] = value
        self._run(storage)
        return [storage[slot] for slot in program.output_slots]

    def _step_events(self) -> list:
        if self._events is None:
            self._events = [(self.device.event(), self.device.event()) for _ in self.program.steps]
        return self._events

    # -------------------------------------------------------------- transfers
    def to_host(self, value: Any) -> Any:
        if isinstance(value, np.ndarray | np.generic):
            return value
        if not is_contiguous(value):
            value = self.contiguous(value)
        return self.device.to_host(value)

    def owned_device(self, value: Any) -> Any:
        """An update's value as a contiguous device array of its own."""
        if isinstance(value, np.ndarray | np.generic):
            return self.device.to_device(np.asarray(value))
        if not is_contiguous(value) or getattr(value, "base", None) is not None:
            return self.contiguous(value, copy=True)
        return value

    def on_device(self, storage: list[Any], slot: int, k: int) -> Any:
        """The value of ``slot`` on the device, uploading a host value (counted as transfer of step k).

        Constants go up once; small host values (shape arithmetic such as ``arange(n_classes)``)
        are kept by content, so a value seen before costs no transfer."""
        value = storage[slot]
        if not isinstance(value, np.ndarray | np.generic):
            return value
        if slot in self.device_constants:
            return self.device_constants[slot]
        value = np.asarray(value)
        key = None
        if value.nbytes <= 4096:
            key = (slot, value.dtype.str, value.shape, value.tobytes())
            if key in self.small_uploads:
                return self.small_uploads[key]
        start = time.perf_counter()
        arr = self.device.to_device(value)
        self.transfer_times[k] += time.perf_counter() - start
        if slot in self.constant_slots:
            self.device_constants[slot] = arr
        elif key is not None:
            if len(self.small_uploads) > 256:
                self.small_uploads.clear()
            self.small_uploads[key] = arr
        return arr

    def contiguous(self, arr: Any, copy: bool = False) -> Any:
        """``arr`` as a C-contiguous device array (a strided copy unless it already is one)."""
        if is_contiguous(arr) and not copy:
            return arr
        return self.gather(arr.shape, arr, elem_strides(arr))

    def gather(self, shape: Sequence[int], src: Any, strides: Sequence[int], offset: int = 0) -> Any:
        """A new C-contiguous array of ``shape`` reading ``src`` with element ``strides`` (from
        element ``offset``)."""
        out = self.device.empty(tuple(shape), src.dtype)
        self.copy_into(self.device.ptr(out), shape, src, strides, offset)
        return out

    def copy_into(self, dst: int, shape: Sequence[int], src: Any, strides: Sequence[int], offset: int = 0) -> None:
        """Write ``src`` read with element ``strides`` from element ``offset`` into the
        C-contiguous memory at device pointer ``dst``."""
        if not math.prod(shape):
            return
        dims, (sts,) = collapse(shape, [strides])
        fn = self.functions[f"symdl_copy_{src.dtype.itemsize}"]
        size = src.dtype.itemsize
        src_ptr = self.device.ptr(src) + offset * size
        for piece, (st,), (moved,), flat in split_launch(dims, [sts]):
            n = math.prod(piece)
            fn(grid_for(n, self.device.sm_count), (BLOCK, 1, 1), pack_shape(piece), pack_strides(st), n,
               dst + flat * size, src_ptr + moved * size)  # fmt: skip

    def scatter(
        self, dst: Any, dst_strides: Sequence[int], offset: int, src: Any, src_strides: Sequence[int], add: bool = False
    ) -> None:
        """Write (``add``: add) ``src``, read with element ``src_strides`` (0 where it
        broadcasts), into the elements of ``dst`` from element ``offset`` with element
        ``dst_strides``, over ``src``'s shape."""
        shape = list(src.shape)
        if not math.prod(shape):
            return
        dims, (dst_st, src_st) = collapse(shape, [dst_strides, src_strides])
        size = dst.dtype.itemsize
        fn = self.functions[f"symdl_add_into_{dst.dtype}" if add else f"symdl_scatter_{size}"]
        dst_ptr = self.device.ptr(dst) + offset * size
        src_ptr = self.device.ptr(src)
        for piece, (dst_p, src_p), (dst_moved, src_moved), _ in split_launch(dims, [dst_st, src_st]):
            n = math.prod(piece)
            fn(grid_for(n, self.device.sm_count), (BLOCK, 1, 1), pack_shape(piece), pack_strides(dst_p),
               pack_strides(src_p), n, dst_ptr + dst_moved * size, src_ptr + src_moved * size)  # fmt: skip

    # -------------------------------------------------------------- runners
    def _runner(self, step: cg.Step, k: int) -> Callable[[list[Any]], None]:
        make = {
            cg.ElemwiseStep: self._elemwise,
            cg.ReduceStep: self._reduce,
            cg.SoftmaxStep: self._softmax,
            cg.SceStep: self._sce,
            cg.GemmStep: self._gemm,
            cg.ViewStep: self._view,
            cg.ConvStep: self._conv,
            cg.RandomStep: self._random,
            cg.PoolStep: self._pool,
            cg.AllocStep: self._alloc,
            cg.WriteStep: self._write,
            cg.ShapeStep: self._shape,
            cg.HostStep: self._host,
            cg.InnerGraphStep: self._inner_graph,
        }[type(step)]
        run = make(step, k)

        def guarded(storage: list[Any]) -> None:
            try:
                run(storage)
            except Exception as exc:
                if hasattr(exc, "add_note") and not getattr(exc, "_symdl_noted", False):
                    exc.add_note(f"while computing {step.node.op} on CUDA (output {describe(step.node.outputs[0])})")
                    exc._symdl_noted = True
                raise

        return guarded

    def _elemwise(self, step: cg.ElemwiseStep, k: int) -> Callable:
        device = self.device
        fn = self.functions[step.kernel]
        kinds = step.kinds
        ptr_pos = [i for i, kind in enumerate(kinds) if kind in ("array", "bcast")]
        array_in_ptrs = [j for j, i in enumerate(ptr_pos) if kinds[i] == "array"]
        scalar_pos = [i for i, kind in enumerate(kinds) if kind == "scalar"]
        scalar_cast = [_python_scalar(step.node.inputs[i].dtype) for i in scalar_pos]
        out_dtypes = [np.dtype(d) for d in step.out_dtypes]
        ins, outs = step.ins, step.outs
        cache: dict[Any, tuple] = {}
        sm = device.sm_count

        def layout(arrays: list[Any], shapes: list[tuple]) -> tuple:
            """The output shape and the launches: (packed shape, packed strides, n, mode, array
            offsets in bytes, output offset in elements)."""
            try:
                out_shape = np.broadcast_shapes(*shapes)
            except ValueError:
                raise ShapeError(
                    f"{step.node.op}: shapes {', '.join(map(str, shapes))} cannot broadcast "
                    f"({', '.join(describe(v) for v in step.node.inputs)})"
                ) from None
            n = math.prod(out_shape)
            if all(a.shape == out_shape and is_contiguous(a) for a in arrays):
                mode, dims, per = 0, [n], [[1] for _ in arrays]
            else:
                mode = 1
                per = [broadcast_strides(a.shape, elem_strides(a), out_shape) for a in arrays]
                dims, per = collapse(out_shape, per)
            launches = []
            for piece, sts, offsets, flat in split_launch(dims, per) if n else []:
                size = math.prod(piece)
                byte_offsets = [o * a.dtype.itemsize for o, a in zip(offsets, arrays)]
                launches.append((pack_shape(piece), [pack_strides(st) for st in sts], size, mode, byte_offsets, flat))
            return out_shape, launches

        def run(storage: list[Any]) -> None:
            pointers = [self.on_device(storage, ins[i], k) for i in ptr_pos]
            arrays = [pointers[j] for j in array_in_ptrs]
            shapes = [p.shape for p in pointers] + [np.shape(storage[ins[i]]) for i in scalar_pos]
            key = tuple((a.shape, a.strides) for a in arrays) + tuple(shapes)
            found = cache.get(key)
            if found is None:
                if len(cache) > 64:
                    cache.clear()
                found = cache[key] = layout(arrays, shapes)
            out_shape, launches = found
            results = [device.empty(out_shape, d) for d in out_dtypes]
            for s, r in zip(outs, results):
                storage[s] = r
            out_ptrs = [(device.ptr(r), r.dtype.itemsize) for r in results]
            in_ptrs = [device.ptr(p) for p in pointers]
            scalars = [cast(storage[ins[i]]) for cast, i in zip(scalar_cast, scalar_pos)]
            for dims_b, strides_b, n, mode, offsets, flat in launches:
                ptrs = list(in_ptrs)
                for j, offset in zip(array_in_ptrs, offsets):
                    ptrs[j] += offset
                outs_p = [p + flat * size for p, size in out_ptrs]
                fn(grid_for(n, sm), (BLOCK, 1, 1), dims_b, *strides_b, n, mode, *outs_p, *ptrs, *scalars)

        return run

    def _reduce(self, step: cg.ReduceStep, k: int) -> Callable:
        device = self.device
        block_fn = self.functions[f"{step.kernel}_block"]
        thread_fn = self.functions[f"{step.kernel}_thread"]
        finish_fn = self.functions[f"{step.kernel}_finish"]
        out_dtype = np.dtype(step.out_dtype)
        keepdims = step.keepdims
        # an argmax over every axis is over the flattened array (np.argmax with axis=None)
        ndim = step.node.inputs[0].ndim
        arg_none = step.kind in ("argmax", "argmin") and step.axes == tuple(range(ndim))
        kinds = step.kinds
        ins = step.ins[: len(kinds)]
        ptr_pos = [i for i, kind in enumerate(kinds) if kind in ("array", "bcast")]
        array_in_ptrs = [j for j, i in enumerate(ptr_pos) if kinds[i] == "array"]
        scalar_pos = [i for i, kind in enumerate(kinds) if kind == "scalar"]
        scalar_cast = [_python_scalar(step.node.inputs[i].dtype) for i in scalar_pos]
        sm = device.sm_count

        cache: dict[Any, tuple] = {}

        def plan(arrays: list[Any], shapes: list[tuple], target: tuple | None) -> tuple:
            """(output shape, launch): launch is None (nothing to compute), "host", or (mode, grid,
            block, packed dims, n_out, R, n_split, chunk) with mode "thread", "block" or "split"."""
            try:
                shape = np.broadcast_shapes(*shapes)
            except ValueError:
                raise ShapeError(f"{step.node.op}: inputs of shapes {shapes} cannot broadcast") from None
            if target is not None:  # ReduceToShape: sum the axes that were broadcast
                lead = len(shape) - len(target)
                axes = tuple(range(lead)) + tuple(
                    lead + i for i, d in enumerate(target) if d == 1 and shape[lead + i] != 1
                )
                out_shape = target
            else:
                axes = step.axes
                if keepdims:
                    out_shape = (
                        (1,) * len(shape) if arg_none else tuple(1 if i in axes else d for i, d in enumerate(shape))
                    )
                else:
                    out_shape = tuple(d for i, d in enumerate(shape) if i not in axes)
            per = [broadcast_strides(a.shape, elem_strides(a), shape) for a in arrays]
            kept = [i for i in range(len(shape)) if i not in axes]
            kdims, kst = collapse([shape[i] for i in kept], [[s[i] for i in kept] for s in per])
            rdims, rst = collapse([shape[i] for i in axes], [[s[i] for i in axes] for s in per])
            n_out, R = math.prod(kdims), math.prod(rdims)
            if n_out == 0:
                return out_shape, None
            if n_out > LIMIT or R > LIMIT:  # kernels index with 32 bits
                return out_shape, "host"
            if R == 0 and step.kind in ("max", "min", "argmax", "argmin"):
                raise ShapeError(f"{step.kind}: cannot reduce an empty axis (input shape {tuple(shape)})")
            dims = (pack_shape(kdims), *map(pack_strides, kst), pack_shape(rdims), *map(pack_strides, rst))
            kept_inner = kst[0][-1] if kst and kst[0] else 0
            red_inner = rst[0][-1] if rst and rst[0] else 0
            if R <= 16 or (n_out >= 2048 and kept_inner == 1 and red_inner != 1):
                return out_shape, ("thread", grid_for(n_out, sm), (BLOCK, 1, 1), dims, n_out, R, 1, R)
            block = BLOCK if R >= BLOCK else max(32, 1 << (R - 1).bit_length())
            n_split = 1
            if n_out < 4 * sm:
                n_split = max(1, min(-(-4 * sm // n_out), -(-R // (block * 4))))
            chunk = -(-R // n_split)
            grid = (max(1, min(n_out * n_split, sm * 32)), 1)
            return out_shape, (
                "block" if n_split == 1 else "split",
                grid,
                (block, 1, 1),
                dims,
                n_out,
                R,
                n_split,
                chunk,
            )

        def run(storage: list[Any]) -> None:
            pointers = [self.on_device(storage, ins[i], k) for i in ptr_pos]
            arrays = [pointers[j] for j in array_in_ptrs]
            shapes = [p.shape for p in pointers] + [np.shape(storage[ins[i]]) for i in scalar_pos]
            target = tuple(int(d) for d in storage[step.ins[1]]) if step.axes is None else None
            key = (tuple(a.strides for a in arrays), tuple(shapes), target)
            found = cache.get(key)
            if found is None:
                if len(cache) > 64:
                    cache.clear()
                found = cache[key] = plan(arrays, shapes, target)
            out_shape, launch = found
            out = device.empty(out_shape, out_dtype)
            storage[step.outs[0]] = out
            if launch is None:
                return
            if launch == "host":
                self.host_fallback(step, storage, k)
                return
            mode, grid, block, dims, n_out, R, n_split, chunk = launch
            operands = [device.ptr(p) for p in pointers]
            operands += [cast(storage[ins[i]]) for cast, i in zip(scalar_cast, scalar_pos)]
            out_ptr = device.ptr(out)
            if mode == "thread":
                thread_fn(grid, block, *dims, n_out, R, out_ptr, *operands)
            elif mode == "block":
                block_fn(grid, block, *dims, n_out, R, 1, chunk, 0, out_ptr, *operands)
            else:
                partial = device.empty((n_out * n_split * step.acc_nbytes,), np.uint8)
                block_fn(grid, block, *dims, n_out, R, n_split, chunk, device.ptr(partial), out_ptr, *operands)
                finish_fn(grid_for(n_out, sm), (BLOCK, 1, 1), n_out, n_split, device.ptr(partial), out_ptr)

        return run

    def _rows(self, shape: Sequence[int], axis: int, operands: Sequence[Sequence[int]]) -> tuple:
        """Kept dims (all but ``axis``) and each operand's strides over them, collapsed."""
        kept = [i for i in range(len(shape)) if i != axis]
        dims, sts = collapse([shape[i] for i in kept], [[s[i] for i in kept] for s in operands])
        return dims, sts

    def _softmax(self, step: cg.SoftmaxStep, k: int) -> Callable:
        device = self.device
        fn = self.functions[step.kernel]
        axis = step.axis

        def run(storage: list[Any]) -> None:
            x = self.on_device(storage, step.ins[0], k)
            out = device.empty(x.shape, x.dtype)
            storage[step.outs[0]] = out
            if not x.size:
                return
            ostrides = elem_strides(out)
            xs = elem_strides(x)
            dims, (kin, kout) = self._rows(x.shape, axis, [xs, ostrides])
            n_rows, n = math.prod(dims), x.shape[axis]
            if n_rows > LIMIT or n > LIMIT:
                self.host_fallback(step, storage, k)
                return
            fn(
                (max(1, min(n_rows, device.sm_count * 32)), 1),
                (_row_block(n), 1, 1),
                pack_shape(dims),
                pack_strides(kin),
                pack_strides(kout),
                n_rows,
                n,
                xs[axis],
                ostrides[axis],
                device.ptr(x),
                device.ptr(out),
            )

        return run

    def _sce(self, step: cg.SceStep, k: int) -> Callable:
        device = self.device
        fn = self.functions[step.kernel]
        out_dtype = np.dtype(step.node.outputs[0].dtype)

        def run(storage: list[Any]) -> None:
            x = self.on_device(storage, step.ins[0], k)
            t = self.on_device(storage, step.ins[1], k)
            out = device.empty(x.shape[:-1], out_dtype)
            storage[step.outs[0]] = out
            expected = x.shape[:-1] if step.labels else x.shape
            if t.shape != expected:
                raise ShapeError(
                    f"{step.node.op}: logits of shape {x.shape} and targets of shape {t.shape} do not match"
                )
            if not out.size:
                return
            if step.labels:  # the kernel would give NaN for a label out of range: the C backend raises
                labels = np.asarray(self.to_host(t))
                bad = labels[(labels < 0) | (labels >= x.shape[-1])]
                if bad.size:
                    raise IndexError(
                        f"{step.node.op}: label {bad[0]} is out of range for {x.shape[-1]} classes "
                        "(labels must satisfy 0 <= label < n)"
                    )
            axis = len(x.shape) - 1
            xs, ts = elem_strides(x), elem_strides(t)
            if step.labels:
                ts = [*ts, 0]
            dims, (kx, kt) = self._rows(x.shape, axis, [xs, ts])
            n_rows, n = math.prod(dims), x.shape[axis]
            if n_rows > LIMIT or n > LIMIT:
                self.host_fallback(step, storage, k)
                return
            args = [pack_shape(dims), pack_strides(kx), pack_strides(kt), n_rows, n, xs[axis]]
            if not step.labels:
                args.append(ts[axis])
            args += [device.ptr(x), device.ptr(t), device.ptr(out)]
            fn((max(1, min(n_rows, device.sm_count * 32)), 1), (_row_block(n), 1, 1), *args)

        return run

    def _gemm(self, step: cg.GemmStep, k: int) -> Callable:
        device = self.device
        dtype = np.dtype(step.dtype)
        node = step.node

        def operand(arr: Any, as_matrix: tuple[int, int]) -> tuple[Any, bool, int]:
            """(array, transposed for cuBLAS, leading dimension) of a row-major (r, c) operand."""
            r, c = as_matrix
            st = elem_strides(arr)
            if arr.ndim == 1:  # a (1, c) row or an (r, 1) column
                st = [st[0] * c, st[0]] if r == 1 else [st[0], st[0] * r]
            s0, s1 = st
            if (c == 1 or s1 == 1) and (r == 1 or s0 >= c):
                return arr, False, max(s0 if r > 1 else c, c, 1)
            if (r == 1 or s0 == 1) and (c == 1 or s1 >= r):
                return arr, True, max(s1 if c > 1 else r, r, 1)
            arr = self.contiguous(arr)
            return arr, False, max(c, 1)

        def run(storage: list[Any]) -> None:
            if step.accumulate:
                c_slot, alpha_slot, a_slot, b_slot, beta_slot = step.ins
                alpha, beta = (float(self.to_host(storage[s])) for s in (alpha_slot, beta_slot))
            else:
                (a_slot, b_slot), alpha, beta = step.ins, 1.0, 0.0
            a = self.on_device(storage, a_slot, k)
            b = self.on_device(storage, b_slot, k)
            m = a.shape[0] if a.ndim == 2 else 1
            ka, kb = a.shape[-1], b.shape[0]
            n = b.shape[1] if b.ndim == 2 else 1
            if ka != kb:
                raise ShapeError(f"{node.op}: shapes {a.shape} and {b.shape} are not aligned")
            out_shape = a.shape[:-1] + b.shape[1:]
            if step.accumulate and beta != 0:
                c = self.on_device(storage, c_slot, k)
                if np.broadcast_shapes(c.shape, out_shape) != out_shape:
                    raise ShapeError(f"{node.op}: C of shape {c.shape} does not broadcast to {out_shape}")
                out = self.gather(out_shape, c, broadcast_strides(c.shape, elem_strides(c), out_shape))
            else:
                out, beta = device.empty(out_shape, dtype), 0.0
            storage[step.outs[0]] = out
            if m == 0 or n == 0:
                return
            if ka == 0 or alpha == 0:  # no product: beta * C
                if beta == 0:
                    device.memset_zero(out)
                elif beta != 1:
                    storage[step.outs[0]] = device.to_device(self.to_host(out) * dtype.type(beta))
                return
            a, ta, lda = operand(a, (m, ka))
            b, tb, ldb = operand(b, (kb, n))
            # Row-major C = A B is column-major C^T = B^T A^T: cuBLAS gets B first.
            device.gemm(
                dtype, tb, ta, n, m, ka, alpha, device.ptr(b), ldb, device.ptr(a), lda, beta, device.ptr(out), n
            )

        return run

    def _view(self, step: cg.ViewStep, k: int) -> Callable:
        device = self.device
        op = step.node.op
        perform = op.perform
        node = step.node

        def dimshuffle(storage: list[Any]) -> None:
            x = storage[step.ins[0]]
            if isinstance(x, np.ndarray | np.generic):
                storage[step.outs[0]] = perform(node, [x])[0]
                return
            for d in op.dropped:
                if x.shape[d] != 1:
                    raise ShapeError(f"dimshuffle{op.new_order}: axis {d} has size {x.shape[d]}, not 1")
            shape = tuple(1 if d == "x" else x.shape[d] for d in op.new_order)
            strides = tuple(0 if d == "x" else x.strides[d] for d in op.new_order)
            storage[step.outs[0]] = device.view(x, shape, strides)

        def reshape(storage: list[Any]) -> None:
            x = storage[step.ins[0]]
            if isinstance(x, np.ndarray | np.generic):
                storage[step.outs[0]] = perform(node, [x, storage[step.ins[1]]])[0]
                return
            shape = [int(d) for d in storage[step.ins[1]]]
            size = math.prod(x.shape)
            if shape.count(-1) == 1:
                rest = math.prod(d for d in shape if d != -1)
                if rest and size % rest == 0:
                    shape[shape.index(-1)] = size // rest
            if math.prod(shape) != size or any(d < 0 for d in shape):
                raise ShapeError(f"reshape: cannot reshape an array of shape {x.shape} to {tuple(shape)}")
            x = self.contiguous(x)
            storage[step.outs[0]] = device.view(x, tuple(shape), c_strides(shape, x.dtype.itemsize))

        def subtensor(storage: list[Any]) -> None:
            x = storage[step.ins[0]]
            values = [self.to_host(storage[s]) for s in step.ins[1:]]
            if isinstance(x, np.ndarray | np.generic):
                storage[step.outs[0]] = perform(node, [x, *values])[0]
                return
            shape, strides, offset = basic_view(x.shape, elem_strides(x), op.template, values)
            size = x.dtype.itemsize
            storage[step.outs[0]] = device.view(x, shape, tuple(s * size for s in strides), offset * size)

        def split(storage: list[Any]) -> None:
            x = storage[step.ins[0]]
            sizes = [int(d) for d in self.to_host(storage[step.ins[1]])]
            if isinstance(x, np.ndarray | np.generic):
                for s, r in zip(step.outs, perform(node, [x, np.asarray(sizes)])):
                    storage[s] = r
                return
            axis = op.axis
            if len(sizes) != op.n or sum(sizes) != x.shape[axis] or min(sizes, default=0) < 0:
                raise ShapeError(f"split: sizes {sizes} do not split axis {axis} of shape {x.shape}")
            start = 0
            for s, size in zip(step.outs, sizes):
                shape = x.shape[:axis] + (size,) + x.shape[axis + 1 :]
                storage[s] = device.view(x, shape, x.strides, start * x.strides[axis])
                start += size

        def shape_hint(storage: list[Any]) -> None:
            x = storage[step.ins[0]]
            if any(h is not None and h != d for h, d in zip(op.shape, x.shape)):
                raise ShapeError(f"a value of shape {x.shape} does not have the declared shape {op.shape}")
            storage[step.outs[0]] = x

        def check(storage: list[Any]) -> None:
            # the op checks what it needs on the host (shapes, or a few small values it copies
            # with `to_host`) and raises; its first input passes through as it is
            values = [storage[s] for s in step.ins]
            op.check_values(node, values, self.to_host)
            storage[step.outs[0]] = values[0]

        views = {"dimshuffle": dimshuffle, "reshape": reshape, "subtensor": subtensor, "split": split, "check": check}
        return views[step.how] if step.how in views else {"check_shape": shape_hint}[step.how]

    def _write(self, step: cg.WriteStep, k: int) -> Callable:
        device = self.device
        op = step.node.op
        out_dtype = np.dtype(step.node.outputs[0].dtype)

        def join(storage: list[Any]) -> None:
            parts = [self.on_device(storage, s, k) for s in step.ins]
            axis = op.axis
            first = parts[0].shape
            for part in parts:
                if len(part.shape) != len(first) or any(
                    a != b for i, (a, b) in enumerate(zip(part.shape, first)) if i != axis
                ):
                    raise ShapeError(
                        f"concatenate: inputs of shapes {', '.join(str(p.shape) for p in parts)} differ "
                        f"outside axis {axis}"
                    )
            shape = list(first)
            shape[axis] = sum(p.shape[axis] for p in parts)
            out = device.empty(tuple(shape), out_dtype)
            storage[step.outs[0]] = out
            out_strides = elem_strides(out)
            start = 0
            for part in parts:
                self.scatter(out, out_strides, start * out_strides[axis], part, elem_strides(part))
                start += part.shape[axis]

        def write(storage: list[Any]) -> None:
            x = self.on_device(storage, step.ins[0], k)
            y = self.on_device(storage, step.ins[1], k)
            values = [self.to_host(storage[s]) for s in step.ins[2:]]
            out = self.contiguous(x, copy=True)
            storage[step.outs[0]] = out
            shape, strides, offset = basic_view(out.shape, elem_strides(out), op.template, values)
            lead = len(shape) - len(y.shape)
            if lead < 0 or any(d != 1 and d != o for d, o in zip(y.shape, shape[lead:])):
                raise ShapeError(
                    f"{op}: a value of shape {y.shape} does not fit the sub-tensor of shape {tuple(shape)}"
                )
            y_strides = broadcast_strides(y.shape, elem_strides(y), shape)
            view = device.view(y, tuple(shape), tuple(s * y.dtype.itemsize for s in y_strides))
            self.scatter(out, strides, offset, view, y_strides, add=step.how == "inc")

        return join if step.how == "join" else write

    def _conv(self, step: cg.ConvStep, k: int) -> Callable:
        from symdl.tensor.nnet.conv import _Geometry

        device = self.device
        op = step.node.op
        dtype = np.dtype(step.dtype)
        size = dtype.itemsize
        tag = {"float32": "f32", "float64": "f64"}[step.dtype]
        im2col, col2im = self.functions[f"symdl_im2col_{tag}"], self.functions[f"symdl_col2im_{tag}"]
        sm = device.sm_count

        def geometry(geo: _Geometry, n: int, hw: Sequence[int]) -> bytes:
            (ph, _), (pw, _) = geo.pads
            values = (n, geo.c, *hw, *geo.k, *geo.out, ph, pw, *op.subsample, *op.filter_dilation)
            return struct.pack("16q", *values, int(op.filter_flip), 0)

        def batch_chunk(geo: _Geometry) -> int:
            """Images per launch: the column matrix under 2**27 elements, indices under 2**31."""
            per_image = max(geo.c * geo.k[0] * geo.k[1] * geo.out[0] * geo.out[1], geo.c * math.prod(geo.padded), 1)
            return max(1, min(geo.n, 2**27 // per_image))

        def columns(x: Any, geo: _Geometry, n0: int, nc: int) -> Any:
            cols = device.empty((geo.c * geo.k[0] * geo.k[1], nc * geo.out[0] * geo.out[1]), dtype)
            xs = elem_strides(x)
            total = nc * cols.shape[0] * geo.out[0] * geo.out[1]
            im2col(grid_for(total, sm), (BLOCK, 1, 1), geometry(geo, nc, x.shape[2:]), pack_strides(xs),
                   device.ptr(x) + n0 * xs[0] * size, device.ptr(cols))  # fmt: skip
            return cols

        def transposed_grad(gy: Any, n0: int, nc: int) -> Any:
            """gy[n0:n0+nc] (n, O, oh, ow) as a C-contiguous (O, n * oh * ow) matrix."""
            gs = elem_strides(gy)
            shape = (gy.shape[1], nc, gy.shape[2], gy.shape[3])
            return self.gather(shape, gy, (gs[1], gs[0], gs[2], gs[3]), offset=n0 * gs[0])

        def forward(storage: list[Any]) -> None:
            x = self.on_device(storage, step.ins[0], k)
            w = self.contiguous(self.on_device(storage, step.ins[1], k))
            geo = _Geometry(op, x.shape, w.shape, "conv2d")
            o, og, kg, p = geo.o, geo.o // geo.g, geo.cg * geo.k[0] * geo.k[1], geo.out[0] * geo.out[1]
            out = device.empty((geo.n, o, *geo.out), dtype)
            storage[step.outs[0]] = out
            if not out.size:
                return
            chunk = batch_chunk(geo)
            for n0 in range(0, geo.n, chunk):
                nc = min(chunk, geo.n - n0)
                cols = columns(x, geo, n0, nc)
                prod = device.empty((o, nc * p), dtype)
                for j in range(geo.g):  # prod_j (og, ncP) = w_j (og, kg) @ cols_j (kg, ncP)
                    device.gemm(dtype, False, False, nc * p, og, kg, 1.0,
                                device.ptr(cols) + j * kg * nc * p * size, nc * p,
                                device.ptr(w) + j * og * kg * size, kg, 0.0,
                                device.ptr(prod) + j * og * nc * p * size, nc * p)  # fmt: skip
                # (O, nc, P) -> out[n0:n0+nc] (nc, O, P)
                self.copy_into(device.ptr(out) + n0 * o * p * size, (nc, o, p), prod, (p, nc * p, 1))

        def grad_inputs(storage: list[Any]) -> None:
            w = self.contiguous(self.on_device(storage, step.ins[0], k))
            gy = self.on_device(storage, step.ins[1], k)
            h, wd = (int(v) for v in self.to_host(storage[step.ins[2]]))
            n = gy.shape[0]
            geo = _Geometry(op, (n, w.shape[1] * op.num_groups, h, wd), w.shape, "conv2d_grad_inputs")
            if geo.out != tuple(gy.shape[2:]) or gy.shape[1] != w.shape[0]:
                raise ShapeError(
                    f"conv2d_grad_inputs: input size {(h, wd)} gives outputs {geo.out}, the gradient is {gy.shape}"
                )
            og, kg, p = geo.o // geo.g, geo.cg * geo.k[0] * geo.k[1], geo.out[0] * geo.out[1]
            gx = device.empty((n, geo.c, h, wd), dtype)
            storage[step.outs[0]] = gx
            if not gx.size:
                return
            if not p:
                device.memset_zero(gx)
                return
            chunk = batch_chunk(geo)
            for n0 in range(0, n, chunk):
                nc = min(chunk, n - n0)
                gyt = transposed_grad(gy, n0, nc)
                gcols = device.empty((geo.c * geo.k[0] * geo.k[1], nc * p), dtype)
                for j in range(geo.g):  # gcols_j (kg, ncP) = w_j^T (kg, og) @ gyt_j (og, ncP)
                    device.gemm(dtype, False, True, nc * p, kg, og, 1.0,
                                device.ptr(gyt) + j * og * nc * p * size, nc * p,
                                device.ptr(w) + j * og * kg * size, kg, 0.0,
                                device.ptr(gcols) + j * kg * nc * p * size, nc * p)  # fmt: skip
                total = nc * geo.c * h * wd
                col2im(grid_for(total, sm), (BLOCK, 1, 1), geometry(geo, nc, (h, wd)), device.ptr(gcols),
                       device.ptr(gx) + n0 * geo.c * h * wd * size)  # fmt: skip

        def grad_weights(storage: list[Any]) -> None:
            x = self.on_device(storage, step.ins[0], k)
            gy = self.on_device(storage, step.ins[1], k)
            kh, kw = (int(v) for v in self.to_host(storage[step.ins[2]]))
            o, g = gy.shape[1], op.num_groups
            geo = _Geometry(op, x.shape, (o, x.shape[1] // g, kh, kw), "conv2d_grad_weights")
            if geo.out != tuple(gy.shape[2:]):
                raise ShapeError(
                    f"conv2d_grad_weights: input {x.shape} gives outputs {geo.out}, the gradient is {gy.shape}"
                )
            og, kg, p = o // g, geo.cg * kh * kw, geo.out[0] * geo.out[1]
            gw = device.empty((o, geo.cg, kh, kw), dtype)
            storage[step.outs[0]] = gw
            if not gw.size:
                return
            if not geo.n or not p:
                device.memset_zero(gw)
                return
            chunk = batch_chunk(geo)
            for n0 in range(0, geo.n, chunk):
                nc = min(chunk, geo.n - n0)
                cols = columns(x, geo, n0, nc)
                gyt = transposed_grad(gy, n0, nc)
                for j in range(g):  # gw_j (og, kg) += gyt_j (og, ncP) @ cols_j^T (ncP, kg)
                    device.gemm(dtype, True, False, kg, og, nc * p, 1.0,
                                device.ptr(cols) + j * kg * nc * p * size, nc * p,
                                device.ptr(gyt) + j * og * nc * p * size, nc * p, 0.0 if n0 == 0 else 1.0,
                                device.ptr(gw) + j * og * kg * size, kg)  # fmt: skip

        return {"forward": forward, "grad_inputs": grad_inputs, "grad_weights": grad_weights}[step.kind]

    def _random(self, step: cg.RandomStep, k: int) -> Callable:
        device = self.device
        fn = self.functions[step.kernel]
        dtype = np.dtype(step.node.outputs[1].dtype)

        def run(storage: list[Any]) -> None:
            state = self.on_device(storage, step.ins[0], k)
            shape = tuple(int(d) for d in self.to_host(storage[step.ins[1]]))
            params = [float(self.to_host(storage[s]).reshape(())) for s in step.ins[2:]] + [0.0, 0.0]
            size = math.prod(shape)
            if size > LIMIT // max(step.n, 4):
                self.host_fallback(step, storage, k)
                return
            words = {
                "uniform": size * (1 if dtype.itemsize <= 4 else 2),
                "normal": 4 * (-(-size // 2)),
                "binomial": size * step.n,
            }[step.dist]
            new_state = device.empty((3,), np.uint64)
            out = device.empty(shape, dtype)
            storage[step.outs[0]], storage[step.outs[1]] = new_state, out
            fn(grid_for(size, device.sm_count), (BLOCK, 1, 1), device.ptr(state), device.ptr(new_state), size,
               -(-words // 4), params[0], params[1], step.n, device.ptr(out))  # fmt: skip

        return run

    def _pool(self, step: cg.PoolStep, k: int) -> Callable:
        from symdl.tensor.nnet.pool import _Layout

        device = self.device
        op = step.node.op
        dtype = np.dtype(step.dtype)
        tag = {"float32": "f32", "float64": "f64"}[step.dtype]
        fn = self.functions[f"symdl_pool_{'backward' if step.grad else 'forward'}_{tag}"]
        mode = {"max": 0, "sum": 1, "average_inc_pad": 2, "average_exc_pad": 3}[op.mode]

        def run(storage: list[Any]) -> None:
            x = self.on_device(storage, step.ins[0], k)
            *lead, h, w = x.shape
            layout = _Layout(op, h, w)
            oh, ow = layout.out
            planes = math.prod(lead)
            xs = elem_strides(x)
            operands = [xs[:-2]]
            gz = None
            if step.grad:
                gz = self.on_device(storage, step.ins[1], k)
                if tuple(gz.shape) != (*lead, oh, ow):
                    raise ShapeError(f"pool_2d_grad: the output gradient {gz.shape} does not match {(*lead, oh, ow)}")
                operands.append(elem_strides(gz)[:-2])
            out = device.empty(x.shape if step.grad else (*lead, oh, ow), dtype)
            storage[step.outs[0]] = out
            total = math.prod(out.shape)
            if not total:
                return
            if total > LIMIT or planes * h * w > LIMIT:
                self.host_fallback(step, storage, k)
                return
            dims, sts = collapse(lead, operands)
            geometry = struct.pack("12q", h, w, oh, ow, *op.ws, *op.stride, *op.pad, mode, planes)
            args = [geometry, pack_shape(dims), pack_strides(sts[0]), xs[-2], xs[-1]]
            if step.grad:
                gs = elem_strides(gz)
                args += [pack_strides(sts[1]), gs[-2], gs[-1], device.ptr(x), device.ptr(gz), device.ptr(out)]
            else:
                args += [device.ptr(x), device.ptr(out)]
            fn(grid_for(total, device.sm_count), (BLOCK, 1, 1), *args)

        return run

    def _alloc(self, step: cg.AllocStep, k: int) -> Callable:
        def run(storage: list[Any]) -> None:
            value = self.on_device(storage, step.ins[0], k)
            shape = tuple(int(storage[s]) for s in step.ins[1:])
            lead = len(shape) - value.ndim
            if lead < 0 or any(d != 1 and d != o for d, o in zip(value.shape, shape[lead:])):
                raise ShapeError(f"alloc: value of shape {value.shape} cannot fill shape {shape}")
            strides = broadcast_strides(value.shape, elem_strides(value), shape)
            storage[step.outs[0]] = self.gather(shape, value, strides)

        return run

    def _shape(self, step: cg.ShapeStep, k: int) -> Callable:
        def run(storage: list[Any]) -> None:
            storage[step.outs[0]] = np.array(np.shape(storage[step.ins[0]]), dtype="int64")

        return run

    def _inner_graph(self, step: cg.InnerGraphStep, k: int) -> Callable:
        node = step.node
        bodies = [
            CudaThunk(plan, self.device, program=body, functions=self.functions).run_on_device
            for plan, body in zip(step.plans, step.bodies)
        ]
        rows = DeviceRows(self, step.out_host)

        def run(storage: list[Any]) -> None:
            results = node.op.run_with(node, [storage[s] for s in step.ins], bodies, rows)
            for s, r, host in zip(step.outs, results, step.out_host):
                on_host = isinstance(r, np.ndarray | np.generic)
                if host and not on_host:
                    r = self.to_host(r)
                elif on_host and not host:
                    r = self.device.to_device(np.asarray(r))
                storage[s] = r

        return run

    def _host(self, step: cg.HostStep, k: int) -> Callable:
        node = step.node
        perform = node.op.perform

        clock = time.perf_counter

        def small(storage: list[Any]) -> None:
            start = clock()
            for s, r in zip(step.outs, perform(node, [storage[s] for s in step.ins])):
                storage[s] = r
            self.host_times[k] += clock() - start

        def fallback(storage: list[Any]) -> None:
            self.host_fallback(step, storage, k)

        return small if step.small else fallback

    def host_fallback(self, step: cg.Step, storage: list[Any], k: int) -> None:
        """Run the node's NumPy ``perform`` on the host: inputs down, outputs up (timed apart)."""
        clock = time.perf_counter
        start = clock()
        values = [self.to_host(storage[s]) for s in step.ins]
        computed = clock()
        with np.errstate(all="ignore"):
            results = step.node.op.perform(step.node, values)
        uploaded = clock()
        for s, r in zip(step.outs, results):
            storage[s] = self.device.to_device(np.asarray(r))
        end = clock()
        self.host_times[k] += uploaded - computed
        self.transfer_times[k] += (computed - start) + (end - uploaded)

    # -------------------------------------------------------------- reports
    def source(self) -> str:
        return self.program.source

    def profile(self) -> ProfileReport:
        """Per-step device time (CUDA events on sampled calls, scaled to all calls), host transfers."""
        scale = self.calls / self.timed_calls if self.timed_calls else 0.0
        rows = []
        for step, t, host, xfer in zip(self.program.steps, self.times, self.host_times, self.transfer_times):
            seconds = float(host) if isinstance(step, cg.HostStep | cg.ShapeStep) else float(t) * scale
            rows.append((step.label, step.describe(), seconds, self.calls))
            if xfer:
                rows.append((f"transfer for {step.label}", "xfer", float(xfer), self.calls))
        for label, seconds in self.boundary.items():
            rows.append((label, "xfer", seconds, self.calls))
        return ProfileReport(rows, self.calls)


def basic_view(
    shape: Sequence[int], strides: Sequence[int], template: Sequence[Any], values: Sequence[Any]
) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """The (shape, element strides, element offset) of an array's basic-indexed view
    (``symdl.tensor.subtensor`` templates; ``values`` are the index inputs), as NumPy gives it."""

    def value(bound: Any) -> Any:
        return int(values[bound[1]]) if isinstance(bound, tuple) else bound

    out_shape: list[int] = []
    out_strides: list[int] = []
    offset, axis = 0, 0
    for entry in template:
        kind = entry[0]
        if kind == "new":
            out_shape.append(1)
            out_strides.append(0)
            continue
        dim, stride = shape[axis], strides[axis]
        if kind == "int":
            i = value(entry[1])
            if not -dim <= i < dim:
                raise IndexError(
                    f"index {i} is out of bounds for axis {axis} with size {dim} (indexing an array of shape {tuple(shape)})"
                )
            offset += (i % dim) * stride
        else:
            step = value(entry[3])
            if step == 0:
                raise ValueError("slice step cannot be zero")
            start, stop, step = slice(value(entry[1]), value(entry[2]), step).indices(dim)
            n = len(range(start, stop, step))
            if n:
                offset += start * stride
            out_shape.append(n)
            out_strides.append(stride * step)
        axis += 1
    return tuple(out_shape), tuple(out_strides), offset


class DeviceRows:
    """Rows of device arrays for ``Scan.run_with`` (see ``symdl.scan_module.op.HostRows``):
    views for reads, copy kernels for writes; values in host slots stay NumPy arrays."""

    def __init__(self, thunk: CudaThunk, out_host: Sequence[bool]):
        self.thunk, self.device, self.out_host = thunk, thunk.device, out_host

    def scalar(self, value: Any) -> np.ndarray:
        return np.asarray(self.thunk.to_host(value))

    @staticmethod
    def value(value: Any) -> Any:
        return value

    def host(self, value: Any) -> np.ndarray:
        return np.asarray(self.thunk.to_host(value))

    def empty(self, shape: tuple[int, ...], dtype: str, output: int) -> Any:
        return np.empty(shape, dtype) if self.out_host[output] else self.device.empty(shape, np.dtype(dtype))

    def row(self, array: Any, i: int) -> Any:
        if isinstance(array, np.ndarray):
            return array[i]
        return self.device.view(array, tuple(array.shape[1:]), tuple(array.strides[1:]), i * array.strides[0])

    def set_row(self, array: Any, i: int, value: Any) -> None:
        self.set_rows(array, i, value, one=True)

    def set_rows(self, array: Any, start: int, values: Any, one: bool = False) -> None:
        """Write ``values`` (one row with ``one``) into ``array``'s rows from ``start``."""
        if isinstance(array, np.ndarray):
            values = self.thunk.to_host(values)
            if one:
                array[start] = values
            else:
                array[start : start + len(values)] = values
            return
        if isinstance(values, np.ndarray | np.generic):
            values = self.device.to_device(np.asarray(values, dtype=array.dtype))
        shape = tuple(values.shape)
        self.thunk.copy_into(self.device.ptr(array) + start * array.strides[0], shape, values, elem_strides(values))

    def rows(self, array: Any, start: int, stop: int, copy: bool = False) -> Any:
        if isinstance(array, np.ndarray):
            return array[start:stop].copy() if copy else array[start:stop]
        shape = (stop - start, *array.shape[1:])
        view = self.device.view(array, shape, tuple(array.strides), start * array.strides[0])
        return self.thunk.contiguous(view, copy=True) if copy else view


def _row_block(n: int) -> int:
    """Threads per row for softmax-like kernels: a warp for short rows, up to BLOCK."""
    return min(BLOCK, max(32, 1 << (max(n, 1) - 1).bit_length()))


def _python_scalar(dtype: str) -> Callable[[Any], Any]:
    if dtype.startswith("float"):
        return float
    return int
