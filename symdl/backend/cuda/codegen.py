"""CUDA code generation: an execution plan becomes one CUDA source and a schedule of steps.

Nothing here needs PyCUDA or a GPU: ``generate`` only writes text, so the tests compile its
output with ``nvcc -ptx`` on machines without a GPU.

Every node becomes one step, made by its op's CUDA implementation (``register_impl("cuda",
...)``) with the helpers of ``CudaBuilder``:

- ``Elemwise`` and fused ``Composite`` nodes: one kernel each (a grid-stride loop with a
  contiguous fast path; broadcasting by index arithmetic on strides passed by value);
- ``Reduce``, ``ArgReduce`` and ``ReduceToShape``: block- and thread-level reduction kernels over
  any set of axes (the axes are runtime arguments, so one kernel serves every node of a kind and
  dtype);
- ``Softmax``, ``LogSoftmax`` and ``SoftmaxCrossentropyWithLogits``: one block per row;
- ``Dot``: cuBLAS; ``DimShuffle`` and contiguous ``Reshape``: views; ``Alloc``: a strided copy;
- shape arithmetic (``Shape`` and small integer graphs hanging off it): on the host, no transfer;
- anything else: on the host with a transfer each way, shown as such by ``fn.profile()``.

>>> import symdl.tensor as T
>>> from symdl.compile.plan import make_plan
>>> from symdl.graph.fg import FunctionGraph
>>> x, y = T.matrix('x'), T.vector('y')
>>> program = generate(make_plan(FunctionGraph([x, y], [T.exp(x) * y]), device='cuda'))
>>> [type(s).__name__ for s in program.steps]
['ElemwiseStep', 'ElemwiseStep']
>>> 'extern "C" __global__ void ew0(' in program.source
True
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from symdl.backend import MAXDIM
from symdl.backend.cuda.scalar import (
    COMPUTE_C,
    PARAM_C,
    STORAGE_C,
    SUPPORTED_DTYPES,
    compute_dtype,
    convert,
    has_cuda,
    is_float,
    is_int,
    literal,
    load,
    scalar_expr,
    store,
)
from symdl.compile.plan import Plan
from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.impl import find_impl

SHAPE_FMT = f"{8 * (MAXDIM + 1)}s"  # struct symdl_shape: nd and MAXDIM dims, int64
STRIDES_FMT = f"{8 * MAXDIM}s"  # struct symdl_strides: MAXDIM strides, int64
MAX_PARAM_BYTES = 4000  # kernel parameters must fit in 4 KiB
ADD_INTO_DTYPES = ("float32", "float64", "int32", "int64")  # kernels/cuda/copy.cuh: symdl_add_into_*


def _shape_bytes(n_arrays: int) -> int:
    """Bytes of a kernel's shape and of the strides of ``n_arrays`` operands."""
    return 8 * (MAXDIM + 1) + 8 * MAXDIM * n_arrays


# ---------------------------------------------------------------- steps
@dataclass
class Step:
    """One node of the schedule: its input and output slots and what runs it."""

    node: Apply
    ins: list[int]
    outs: list[int]

    @property
    def label(self) -> str:
        return str(self.node.op)

    def describe(self) -> str:
        return "host" if isinstance(self, HostStep) else "cuda"


@dataclass
class ElemwiseStep(Step):
    kernel: str = ""
    # per node input: "array" (strided device array), "bcast" (device array of size 1, read at
    # [0]), "scalar" (a host 0-d value passed by value) or "const" (inlined in the kernel)
    kinds: list[str] = field(default_factory=list)
    out_dtypes: list[str] = field(default_factory=list)


@dataclass
class ReduceStep(Step):
    """A reduction of one input, or of a fused elementwise program (CompositeReduce)."""

    kernel: str = ""
    kind: str = ""  # sum, prod, max, min, all, any, argmax, argmin
    # reduced axes, or None for ReduceToShape (chosen at run time from the target shape)
    axes: tuple[int, ...] | None = None
    out_dtype: str = ""
    acc_nbytes: int = 0
    kinds: list[str] = field(default_factory=list)  # of the reduced inputs, as ElemwiseStep.kinds
    keepdims: bool = False


@dataclass
class SoftmaxStep(Step):
    kernel: str = ""
    axis: int = -1


@dataclass
class SceStep(Step):
    """Softmax cross-entropy with logits: labels (integer) or probabilities along the last axis."""

    kernel: str = ""
    labels: bool = True


@dataclass
class GemmStep(Step):
    """``dot(A, B)`` (inputs ``A, B``), or ``beta * C + alpha * dot(A, B)`` (``C, alpha, A, B, beta``:
    ``accumulate``) through cuBLAS."""

    dtype: str = ""
    accumulate: bool = False


@dataclass
class ConvStep(Step):
    """A convolution (``kind`` 'forward'), its input gradient ('grad_inputs') or its filter
    gradient ('grad_weights'): im2col/col2im kernels and one cuBLAS product per group."""

    kind: str = ""
    dtype: str = ""


@dataclass
class PoolStep(Step):
    """Pooling (``grad`` False) or its gradient (``grad`` True)."""

    grad: bool = False
    dtype: str = ""


@dataclass
class RandomStep(Step):
    """Random draws (uniform, normal, binomial with size-1 parameters): Philox on the device."""

    dist: str = ""
    kernel: str = ""
    n: int = 1  # binomial trials


@dataclass
class ViewStep(Step):
    """A new view of the same memory: ``how`` is 'dimshuffle', 'reshape' (which copies a
    non-contiguous input), 'subtensor' (basic indexing), 'split', 'check_shape' or 'check' (the
    first input as it is, once the op's ``check_values(node, values, to_host)`` passed)."""

    how: str = ""

    def describe(self) -> str:
        return "view"


@dataclass
class WriteStep(Step):
    """A new array written piece by piece with strided copies: ``how`` is 'join' (the inputs
    side by side along ``node.op.axis``), 'set' or 'inc' (a copy of the first input with a
    basic-indexed sub-tensor set to, or incremented by, the second)."""

    how: str = ""


@dataclass
class AllocStep(Step):
    """Broadcast the first input (a value) to the shape of the others into a new array."""


@dataclass
class ShapeStep(Step):
    """An array's shape, read from its metadata; the result stays on the host."""

    def describe(self) -> str:
        return "host"


@dataclass
class InnerGraphStep(Step):
    """A node whose op holds graphs of its own (``Scan``, ``IfElse``, ``OpFromGraph``): each of
    its ``plans`` is compiled into a program of ``bodies`` (their kernels in the same module) and
    the op's ``run_with`` drives them on device arrays. ``out_host[j]`` says whether the node's
    output ``j`` lives on the host."""

    plans: list[Plan] = field(default_factory=list)
    bodies: list[Program] = field(default_factory=list)
    out_host: list[bool] = field(default_factory=list)

    def describe(self) -> str:
        return "cuda inner graph"


@dataclass
class HostStep(Step):
    """The op's NumPy ``perform`` on the host. ``small``: inputs and outputs all live on the host
    (shape arithmetic), so nothing moves; otherwise device inputs come down and outputs go up."""

    small: bool = False
    reason: str = ""

    def describe(self) -> str:
        return "host" if self.small else "host+xfer"


@dataclass
class Program:
    """What ``generate`` returns: the CUDA source, the schedule, and where each value lives."""

    source: str
    steps: list[Step]
    n_slots: int
    input_slots: list[int]
    output_slots: list[int]
    constants: list[tuple[int, np.ndarray]]
    on_host: list[bool]
    kernels: dict[str, str]  # kernel name -> prepared-call argument format
    frees: list[list[int]]  # slots whose last use is each step
    n_results: int  # the leading outputs are results (to the host); the rest update shared variables

    def schedule(self) -> str:
        """One line per step: what runs it and which kernel."""
        lines = []
        for k, step in enumerate(self.steps):
            kernel = getattr(step, "kernel", "")
            how = step.describe() + (f" {kernel}" if kernel else "")
            if isinstance(step, GemmStep):
                how = "cuda cuBLAS gemm"
            elif isinstance(step, ConvStep):
                how = "cuda im2col + cuBLAS gemm"
            elif isinstance(step, AllocStep):
                how = "cuda symdl_copy"
            elif isinstance(step, WriteStep):
                how = f"cuda {step.how} (strided copies)"
            lines.append(
                f"{k:4d}: {step.label:<40s} {how}" + (f"  ({step.reason})" if getattr(step, "reason", "") else "")
            )
        return "\n".join(lines)


# ---------------------------------------------------------------- kernel sources
@functools.cache
def kernel_header(name: str) -> str:
    """The text of ``kernels/cuda/<name>``, from the installed package or the source tree."""
    try:
        text = importlib.resources.files("symdl.kernels").joinpath("cuda", name).read_text()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        text = (Path(__file__).resolve().parents[3] / "kernels" / "cuda" / name).read_text()
    return text


def _ptr(dtype: str, const: bool) -> str:
    return f"{'const ' if const else ''}{STORAGE_C[dtype]}* __restrict__"


def _value_lines(
    inputs: Sequence[Variable], kinds: Sequence[str], program: Sequence, results: Sequence[int]
) -> tuple[list[str], list[str]]:
    """C statements defining ``v0, v1, ...``: the inputs (read at offsets ``a<k>`` for arrays,
    ``[0]`` for size-1 arrays, by value or inlined) and then each step of ``program``; only the
    values that ``results`` use are written."""
    dtypes = [v.dtype for v in inputs]
    consts: list[object] = [np.asarray(v.data).item() if kind == "const" else None for v, kind in zip(inputs, kinds)]
    exprs = []
    for k, (var, kind) in enumerate(zip(inputs, kinds)):
        ct = COMPUTE_C[var.dtype]
        if kind == "array":
            value = load(f"p{k}[a{k}]", var.dtype)
        elif kind == "bcast":
            value = load(f"p{k}[0]", var.dtype)
        elif kind == "scalar":
            value = f"(s{k} != 0)" if var.dtype == "bool" else f"(({ct})s{k})"
        else:
            value = literal(np.asarray(var.data).reshape(()), var.dtype)
        exprs.append(f"const {ct} v{k} = {value};")
    for op, args in program:
        out_dtype = op.output_dtype([dtypes[a] for a in args])
        expr = scalar_expr(op, [f"v{a}" for a in args], [dtypes[a] for a in args], out_dtype, [consts[a] for a in args])
        if out_dtype == "float16":
            expr = f"symdl_round_half({expr})"
        exprs.append(f"const {COMPUTE_C[out_dtype]} v{len(dtypes)} = {expr};  // {op.name}")
        dtypes.append(out_dtype)
        consts.append(None)
    needed = set(results)
    for k in reversed(range(len(exprs))):
        if k in needed:
            needed.update(int(m) for m in re.findall(r"\bv(\d+)\b", exprs[k].split("=", 1)[1]))
    return [f"    {e}" for k, e in enumerate(exprs) if k in needed], dtypes


def _operand_params(inputs: Sequence[Variable], kinds: Sequence[str]) -> tuple[list[str], list[str]]:
    """Kernel parameters for the input pointers and the by-value scalars, and the names to pass on."""
    params = [
        f"{_ptr(v.dtype, True)} p{k}" for k, (v, kind) in enumerate(zip(inputs, kinds)) if kind in ("array", "bcast")
    ]
    params += [
        f"const {PARAM_C[v.dtype][0]} s{k}" for k, (v, kind) in enumerate(zip(inputs, kinds)) if kind == "scalar"
    ]
    names = [p.rsplit(" ", 1)[1] for p in params]
    return params, names


def _operand_fmt(inputs: Sequence[Variable], kinds: Sequence[str]) -> str:
    pointers = "P" * sum(kind in ("array", "bcast") for kind in kinds)
    return pointers + "".join(PARAM_C[v.dtype][1] for v, kind in zip(inputs, kinds) if kind == "scalar")


def _offset_lines(
    index: str, itype: str, shape: str, strides: str, arrays: Sequence[int], indent: str, out: str = "a", base: str = ""
) -> list[str]:
    """Statements declaring ``<out><k>``: the offset of flat ``index`` over ``shape`` in each array
    (whose strides are ``<strides><k>``), plus ``<base><k>`` when given."""
    init = ", ".join(f"{out}{k} = {f'{base}{k}' if base else '0'}" for k in arrays)
    r = f"{out}_r"
    lines = [f"{indent}{itype} {r} = ({itype})({index});", f"{indent}long long {init};"]
    lines.append(f"{indent}for (int d = (int){shape}.nd - 1; d > 0; --d) {{")
    lines.append(f"{indent}    const {itype} dim = ({itype}){shape}.d[d], c = {r} % dim;")
    lines.append(f"{indent}    {r} /= dim;")
    lines += [f"{indent}    {out}{k} += (long long)c * {strides}{k}.s[d];" for k in arrays]
    lines.append(f"{indent}}}")
    lines.append(f"{indent}if ({shape}.nd > 0) {{")
    lines += [f"{indent}    {out}{k} += (long long){r} * {strides}{k}.s[0];" for k in arrays]
    lines.append(f"{indent}}}")
    return lines


def _elemwise_source(name: str, node: Apply, program: Sequence, outputs: Sequence[int], kinds: Sequence[str]) -> str:
    """One kernel for a scalar program over broadcast inputs (see ElemwiseStep.kinds)."""
    arrays = [k for k, kind in enumerate(kinds) if kind == "array"]
    out_dtypes = [v.dtype for v in node.outputs]
    operand_params, operand_names = _operand_params(node.inputs, kinds)
    out_params = [f"{_ptr(d, False)} o{j}" for j, d in enumerate(out_dtypes)]
    body_params = ["const long long o"] + [f"const long long a{k}" for k in arrays] + out_params + operand_params
    value_lines, dtypes = _value_lines(node.inputs, kinds, program, outputs)
    lines = [
        f"// node: {_node_comment(node)}",
        f"SYMDL_DEV void {name}_body({', '.join(body_params)}) {{",
        *value_lines,
    ]
    for j, (o, d) in enumerate(zip(outputs, out_dtypes)):
        value = convert(f"v{o}", dtypes[o], d)
        lines.append(f"    o{j}[o] = {store(value, d, compute_dtype(dtypes[o]))};")
    lines.append("}")

    params = ["const symdl_shape shape"] + [f"const symdl_strides st{k}" for k in arrays]
    params += ["const long long n", "const long long mode", *out_params, *operand_params]
    rest = [f"o{j}" for j in range(len(out_dtypes))] + operand_names

    def call(index: str, offsets: Sequence[str]) -> str:
        return f"{name}_body({', '.join([index, *offsets, *rest])})"

    lines.append(f'extern "C" __global__ void {name}({", ".join(params)}) {{')
    lines.append("    const unsigned int step = blockDim.x * gridDim.x, start = blockIdx.x * blockDim.x + threadIdx.x;")
    lines.append("    if (mode == 0) {  // every array contiguous with the output's shape")
    lines.append("        for (unsigned int i = start; i < (unsigned int)n; i += step)")
    lines.append(f"            {call('i', ['i'] * len(arrays))};")
    lines.append("    } else {  // strided or broadcast")
    lines.append("        for (unsigned int i = start; i < (unsigned int)n; i += step) {")
    if arrays:
        lines += _offset_lines("i", "unsigned int", "shape", "st", arrays, " " * 12)
    lines.append(f"            {call('i', [f'a{k}' for k in arrays])};")
    lines.append("        }")
    lines.append("    }")
    lines.append("}")
    return "\n".join(lines)


def _elemwise_fmt(node: Apply, kinds: Sequence[str]) -> str:
    n_arrays = kinds.count("array")
    return SHAPE_FMT + STRIDES_FMT * n_arrays + "qq" + "P" * len(node.outputs) + _operand_fmt(node.inputs, kinds)


def _bound(dtype: str, upper: bool) -> str:
    """The identity of max (lowest value) or min (highest value) for ``dtype``."""
    if is_float(dtype):
        return literal(np.inf if upper else -np.inf, dtype)
    if dtype == "bool":
        return "true" if upper else "false"
    info = np.iinfo(dtype)
    return literal(info.max if upper else info.min, dtype)


def _reduce_source(
    name: str, kind: str, inputs: Sequence[Variable], kinds: Sequence[str], program: Sequence, value: int, out_dtype: str,
    acc_dtype: str,
) -> tuple[str, int]:  # fmt: skip
    """Kernels ``<name>_block``, ``_thread`` and ``_finish`` reducing the value ``v<value>`` of a
    scalar program over broadcast inputs (a plain reduction: the program is empty and the value is
    the input); also the accumulator's size in bytes."""
    arrays = [k for k, kind_ in enumerate(kinds) if kind_ == "array"]
    value_lines, dtypes = _value_lines(inputs, kinds, program, [value])
    vdtype = dtypes[value]
    out = f"{_ptr(out_dtype, False)} out"
    lines = [f"// {kind} of {', '.join(v.dtype for v in inputs)} -> {out_dtype}"]
    if kind in ("argmax", "argmin"):
        acc = f"{name}_acc"
        lines += [
            f"struct {acc} {{ {COMPUTE_C[vdtype]} v; long long i; }};",
            f"SYMDL_DEV {acc} symdl_shfl_down({acc} a, int off) {{",
            "    a.v = symdl_shfl_down(a.v, off);",
            "    a.i = symdl_shfl_down(a.i, off);",
            "    return a;",
            "}",
        ]
        better = ">" if kind == "argmax" else "<"
        identity = (
            f"{acc} a; a.v = {_bound(compute_dtype(vdtype), kind == 'argmin')}; a.i = 9223372036854775807LL; return a;"
        )
        combine = f"return (b.v {better} a.v || (b.v == a.v && b.i < a.i)) ? b : a;"
        if is_float(vdtype):  # the first NaN wins, as np.argmax
            combine = (
                "const bool an = a.v != a.v, bn = b.v != b.v;\n"
                "        if (an || bn) return (an && (!bn || a.i < b.i)) ? a : b;\n        " + combine
            )
        loaded = f"{acc} a; a.v = v{value}; a.i = r; return a;"
        stored = "out[j] = a.i;"
        nbytes = 16
    else:
        acc_dtype = compute_dtype(acc_dtype)
        acc = COMPUTE_C[acc_dtype]
        identity = (
            "return "
            + {
                "sum": literal(0, acc_dtype),
                "prod": literal(1, acc_dtype),
                "max": _bound(acc_dtype, False),
                "min": _bound(acc_dtype, True),
                "all": "true",
                "any": "false",
            }[kind]
            + ";"
        )
        logical = acc_dtype == "bool"
        combine = {
            "sum": "return a || b;" if logical else "return a + b;",
            "prod": "return a && b;" if logical else "return a * b;",
            "max": "return symdl_maximum(a, b);",
            "min": "return symdl_minimum(a, b);",
            "all": "return a && b;",
            "any": "return a || b;",
        }[kind]
        loaded = f"return {convert(f'v{value}', vdtype, acc_dtype)};"
        stored = f"out[j] = {store(convert('a', acc_dtype, out_dtype), out_dtype, acc_dtype)};"
        nbytes = np.dtype(acc_dtype).itemsize
    lines += [
        f"struct {name}_op {{",
        f"    typedef {acc} acc;",
        f"    static __device__ __forceinline__ acc identity() {{ {identity} }}",
        "    static __device__ __forceinline__ acc combine(acc a, acc b) {",
        f"        {combine}",
        "    }",
        f"    static __device__ __forceinline__ void store({out}, long long j, acc a) {{ {stored} }}",
        "};",
    ]
    operand_params, operand_names = _operand_params(inputs, kinds)
    value_params = ["const long long r"] + [f"const long long a{k}" for k in arrays] + operand_params
    lines.append(f"SYMDL_DEV {acc} {name}_value({', '.join(value_params)}) {{")
    lines += value_lines
    lines.append(f"    {loaded}")
    lines.append("}")
    value_call = f"{name}_value({', '.join(['r', *[f'a{k}' for k in arrays], *operand_names])})"
    dims = ["const symdl_shape kshape", *[f"const symdl_strides kst{k}" for k in arrays]]
    dims += ["const symdl_shape rshape", *[f"const symdl_strides rst{k}" for k in arrays]]
    tail = [out, *operand_params]

    def kept_offsets(indent: str) -> list[str]:
        return _offset_lines("j", "unsigned int", "kshape", "kst", arrays, indent, out="base") if arrays else []

    block = [
        *dims, "const long long n_out", "const long long R", "const long long n_split", "const long long chunk",
        f"{acc}* __restrict__ partial", *tail,
    ]  # fmt: skip
    lines.append(f'extern "C" __global__ void {name}_block({", ".join(block)}) {{')
    lines.append("    const unsigned int blocks = (unsigned int)(n_out * n_split);")
    lines.append("    for (unsigned int b = blockIdx.x; b < blocks; b += gridDim.x) {")
    lines.append("        const unsigned int j = b / (unsigned int)n_split, s = b - j * (unsigned int)n_split;")
    lines += kept_offsets(" " * 8)
    lines.append("        const unsigned int r0 = s * (unsigned int)chunk;")
    lines.append(
        "        const unsigned int r1 = (long long)r0 + chunk < R ? r0 + (unsigned int)chunk : (unsigned int)R;"
    )
    lines.append(f"        {acc} a = {name}_op::identity();")
    lines.append("        for (unsigned int r = r0 + threadIdx.x; r < r1; r += blockDim.x) {")
    if arrays:
        lines += _offset_lines("r", "unsigned int", "rshape", "rst", arrays, " " * 12, base="base")
    lines.append(f"            a = {name}_op::combine(a, {value_call});")
    lines.append("        }")
    lines.append(f"        a = symdl_block_reduce<{name}_op>(a);")
    lines.append("        if (threadIdx.x == 0) {")
    lines.append(f"            if (n_split == 1) {name}_op::store(out, j, a);")
    lines.append("            else partial[b] = a;")
    lines.append("        }")
    lines.append("    }")
    lines.append("}")
    thread = [*dims, "const long long n_out", "const long long R", *tail]
    lines.append(f'extern "C" __global__ void {name}_thread({", ".join(thread)}) {{')
    lines.append("    const unsigned int step = blockDim.x * gridDim.x;")
    lines.append(
        "    for (unsigned int j = blockIdx.x * blockDim.x + threadIdx.x; j < (unsigned int)n_out; j += step) {"
    )
    lines += kept_offsets(" " * 8)
    lines.append(f"        {acc} a = {name}_op::identity();")
    lines.append("        for (unsigned int r = 0; r < (unsigned int)R; ++r) {")
    if arrays:
        lines += _offset_lines("r", "unsigned int", "rshape", "rst", arrays, " " * 12, base="base")
    lines.append(f"            a = {name}_op::combine(a, {value_call});")
    lines.append("        }")
    lines.append(f"        {name}_op::store(out, j, a);")
    lines.append("    }")
    lines.append("}")
    lines.append(
        f'extern "C" __global__ void {name}_finish(const long long n_out, const long long n_split, '
        f"const {acc}* __restrict__ partial, {out}) {{"
    )
    lines.append(f"    symdl_reduce_finish<{name}_op>(n_out, n_split, partial, out);")
    lines.append("}")
    return "\n".join(lines), nbytes


def _reduce_fmts(inputs: Sequence[Variable], kinds: Sequence[str]) -> dict[str, str]:
    dims = (SHAPE_FMT + STRIDES_FMT * kinds.count("array")) * 2
    operands = _operand_fmt(inputs, kinds)
    return {"block": dims + "qqqqPP" + operands, "thread": dims + "qqP" + operands, "finish": "qqPP"}


REDUCE_TEMPLATES = r"""
// ---------------------------------------------------------------- reduction finish (template)
// Combines the n_split partial results of each output written by a <name>_block kernel.
template <typename Op, typename OT>
SYMDL_DEV void symdl_reduce_finish(long long n_out, long long n_split, const typename Op::acc* __restrict__ partial,
                                   OT* __restrict__ out) {
    const unsigned int step = blockDim.x * gridDim.x;
    for (unsigned int j = blockIdx.x * blockDim.x + threadIdx.x; j < (unsigned int)n_out; j += step) {
        typename Op::acc a = Op::identity();
        for (long long s = 0; s < n_split; ++s) a = Op::combine(a, partial[j * n_split + s]);
        Op::store(out, j, a);
    }
}
"""


_SOFTMAX_FMT = SHAPE_FMT + STRIDES_FMT * 2 + "qqqqPP"
_SCE_LABELS_FMT = SHAPE_FMT + STRIDES_FMT * 2 + "qqqPPP"
_SCE_PROBS_FMT = SHAPE_FMT + STRIDES_FMT * 2 + "qqqqPPP"


def _softmax_source(name: str, dtype: str, log: bool) -> str:
    t = STORAGE_C[dtype]
    return (
        f'extern "C" __global__ void {name}(const symdl_shape kshape, const symdl_strides kin, '
        "const symdl_strides kout, const long long n_rows, const long long n, const long long sx, "
        f"const long long so, const {t}* __restrict__ x, {t}* __restrict__ out) {{\n"
        f"    symdl_softmax_rows<{t}, {'true' if log else 'false'}>(kshape, kin, kout, n_rows, n, sx, so, x, out);\n"
        "}"
    )


def _sce_source(name: str, dtype: str, target_dtype: str, labels: bool) -> str:
    t = STORAGE_C[dtype]
    if labels:
        return (
            f'extern "C" __global__ void {name}(const symdl_shape kshape, const symdl_strides kx, '
            "const symdl_strides kl, const long long n_rows, const long long n, const long long sx, "
            f"const {t}* __restrict__ x, const {STORAGE_C[target_dtype]}* __restrict__ labels, {t}* __restrict__ out) {{\n"
            "    symdl_sce_labels(kshape, kx, kl, n_rows, n, sx, x, labels, out);\n"
            "}"
        )
    return (
        f'extern "C" __global__ void {name}(const symdl_shape kshape, const symdl_strides kx, '
        "const symdl_strides kt, const long long n_rows, const long long n, const long long sx, "
        f"const long long st, const {t}* __restrict__ x, const {t}* __restrict__ t, {t}* __restrict__ out) {{\n"
        "    symdl_sce_probs(kshape, kx, kt, n_rows, n, sx, st, x, t, out);\n"
        "}"
    )


def _node_comment(node: Apply) -> str:
    ins = ", ".join(f"{v!r}: {v.type}" for v in node.inputs)
    outs = ", ".join(str(v.type) for v in node.outputs)
    return f"{node.op}({ins}) -> {outs}"


# ---------------------------------------------------------------- the generator
def _conv_source(dtype: str) -> str:
    t, tag = STORAGE_C[dtype], _DTYPE_TAG[dtype]
    return (
        f'extern "C" __global__ void symdl_im2col_{tag}(const symdl_conv_geometry g, const symdl_strides xs, '
        f"const {t}* __restrict__ x, {t}* __restrict__ cols) {{\n"
        "    symdl_im2col(g, xs, x, cols);\n}\n"
        f'extern "C" __global__ void symdl_col2im_{tag}(const symdl_conv_geometry g, const {t}* __restrict__ cols, '
        f"{t}* __restrict__ gx) {{\n"
        "    symdl_col2im(g, cols, gx);\n}"
    )


def _pool_source(dtype: str) -> str:
    t, tag = STORAGE_C[dtype], _DTYPE_TAG[dtype]
    head = "const symdl_pool_geometry g, const symdl_shape planes, const symdl_strides ps, const long long xs_h, const long long xs_w"
    return (
        f'extern "C" __global__ void symdl_pool_forward_{tag}({head}, const {t}* __restrict__ x, {t}* __restrict__ out) {{\n'
        "    symdl_pool_forward(g, planes, ps, xs_h, xs_w, x, out);\n}\n"
        f'extern "C" __global__ void symdl_pool_backward_{tag}({head}, const symdl_strides gs, const long long gs_h, '
        f"const long long gs_w, const {t}* __restrict__ x, const {t}* __restrict__ gz, {t}* __restrict__ gx) {{\n"
        "    symdl_pool_backward(g, planes, ps, xs_h, xs_w, gs, gs_h, gs_w, x, gz, gx);\n}"
    )


_DTYPE_TAG = {"float32": "f32", "float64": "f64"}
CONV_GEOMETRY_FMT = "128s"  # struct symdl_conv_geometry: 16 int64
POOL_GEOMETRY_FMT = "96s"  # struct symdl_pool_geometry: 12 int64


def _small_host_output(var: Variable) -> bool:
    """Values that stay on the host when computed from host values: scalars and int vectors (shapes)."""
    return var.type.ndim == 0 or (var.type.ndim == 1 and (is_int(var.dtype) or var.dtype == "bool"))


class CudaBuilder:
    """What a CUDA implementation (``register_impl("cuda", ...)``) makes its node's step with:
    ``elemwise``, ``reduction``, ``view``, ``alloc``, ``gemm``, ``softmax``,
    ``softmax_crossentropy``, ``conv``, ``pool``, ``random`` and ``shape`` return the step that runs
    the node on the device, or None where this node cannot (it then runs on the host)."""

    def __init__(self, plan: Plan, parent: CudaBuilder | None = None):
        self.plan = plan
        self.fgraph = plan.fgraph
        self.n_inputs = plan.n_inputs
        self.slot: dict[Variable, int] = {}
        self.on_host: list[bool] = []
        self.constants: list[tuple[int, np.ndarray]] = []
        # an inner graph's builder has slots of its own and adds its kernels to its parent's module
        self.parts: list[str] = parent.parts if parent else []
        self.kernels: dict[str, str] = parent.kernels if parent else {}
        self.dedupe: dict[Any, Any] = parent.dedupe if parent else {}
        self.headers: set[str] = parent.headers if parent else set()

    def index(self, var: Variable, host: bool = False) -> int:
        if var not in self.slot:
            self.slot[var] = len(self.slot)
            self.on_host.append(host or isinstance(var, Constant))
            if isinstance(var, Constant):
                self.constants.append((self.slot[var], np.asarray(var.data)))
        return self.slot[var]

    def host(self, var: Variable) -> bool:
        return self.on_host[self.index(var)]

    def add_kernel(self, key: Any, prefix: str, make: Any) -> Any:
        """Generate a kernel once per distinct ``key``; ``make(name)`` returns (source, result)."""
        if key not in self.dedupe:
            name = f"{prefix}{sum(1 for k in self.dedupe if k[0] == key[0])}"
            source, result = make(name)
            self.parts.append(source)
            self.dedupe[key] = (name, result)
        return self.dedupe[key]

    # -------------------------------------------------------------- per node
    def step(self, node: Apply) -> Step:
        ins = [self.index(v) for v in node.inputs]
        if all(self.host(v) for v in node.inputs) and all(_small_host_output(v) for v in node.outputs):
            return HostStep(node, ins, self.outputs(node, host=True), small=True)
        unsupported = {v.dtype for v in node.inputs + node.outputs} - SUPPORTED_DTYPES
        made: Step | None = None
        if unsupported:
            reason = f"no CUDA code for dtype {sorted(unsupported)[0]}"
        elif any(v.type.ndim > MAXDIM for v in node.inputs + node.outputs):
            reason = f"more than {MAXDIM} dimensions"
        else:
            impl = find_impl("cuda", node.op)
            made = impl(node, self) if impl is not None else None
            reason = f"no CUDA code for {node.op} on {[v.dtype for v in node.inputs]}"
        if made is not None:
            return made
        return HostStep(node, ins, self.outputs(node), small=False, reason=reason)

    def ins(self, node: Apply) -> list[int]:
        return [self.index(v) for v in node.inputs]

    def outputs(self, node: Apply, host: bool = False) -> list[int]:
        return [self.index(v, host=host) for v in node.outputs]

    def input_kinds(self, inputs: Sequence[Variable]) -> list[str]:
        """How each input reaches a kernel (see ElemwiseStep.kinds)."""
        kinds = []
        for v in inputs:
            if isinstance(v, Constant) and np.asarray(v.data).size == 1:
                kinds.append("const")
            elif self.host(v) and v.type.ndim == 0:
                kinds.append("scalar")
            elif all(d == 1 for d in v.type.shape):
                kinds.append("bcast")
            else:
                kinds.append("array")
        return kinds

    @staticmethod
    def kernel_key(
        tag: str, op: Any, inputs: Sequence[Variable], kinds: Sequence[str], outputs: Sequence[Variable]
    ) -> tuple:
        """Nodes with equal keys share one kernel: same op, dtypes, input kinds and inlined constants."""
        consts = tuple(
            (v.dtype, np.asarray(v.data).reshape(()).tobytes()) if kind == "const" else None
            for v, kind in zip(inputs, kinds)
        )
        dtypes = tuple(v.dtype for v in inputs) + tuple(v.dtype for v in outputs)
        return (tag, op, dtypes, tuple(kinds), consts)

    @staticmethod
    def program_has_cuda(inputs: Sequence[Variable], program: Sequence) -> bool:
        dtypes = [v.dtype for v in inputs]
        for scalar_op, args in program:
            arg_dtypes = [dtypes[a] for a in args]
            out = scalar_op.output_dtype(arg_dtypes)
            if not has_cuda(scalar_op, arg_dtypes, out):
                return False
            dtypes.append(out)
        return True

    def elemwise(self, node: Apply, program: Sequence, outputs: Sequence[int]) -> ElemwiseStep | None:
        """One kernel computing a scalar ``program`` (see ``symdl.tensor.composite``) over the
        node's broadcast inputs into its outputs."""
        if not self.program_has_cuda(node.inputs, program):
            return None
        kinds = self.input_kinds(node.inputs)
        if _shape_bytes(kinds.count("array")) + 16 + 8 * (len(node.inputs) + len(node.outputs)) > MAX_PARAM_BYTES:
            return None
        key = self.kernel_key("ew", (tuple(program), tuple(outputs)), node.inputs, kinds, node.outputs)
        name, fmt = self.add_kernel(
            key, "ew", lambda name: (_elemwise_source(name, node, program, outputs, kinds), _elemwise_fmt(node, kinds))
        )
        self.kernels[name] = fmt
        out_dtypes = [v.dtype for v in node.outputs]
        return ElemwiseStep(node, self.ins(node), self.outputs(node), kernel=name, kinds=kinds, out_dtypes=out_dtypes)

    def reduction(
        self,
        node: Apply,
        kind: str,
        axes: tuple[int, ...] | None,
        keepdims: bool = False,
        program: Sequence = (),
        value: int = 0,
    ) -> ReduceStep | None:
        """A reduction (sum, prod, max, min, all, any, argmax, argmin) over ``axes`` (None: the
        axes along which the node's second input, a shape, was broadcast) of the node's first
        input, or of the value ``value`` of a scalar ``program`` over all its inputs."""
        out_dtype = node.outputs[0].dtype
        inputs = node.inputs if program else node.inputs[:1]
        if program and not self.program_has_cuda(inputs, program):
            return None
        kinds = self.input_kinds(inputs)
        if 2 * _shape_bytes(kinds.count("array")) + 32 + 8 * (len(inputs) + 2) > MAX_PARAM_BYTES:
            return None
        acc_dtype = out_dtype if kind in ("sum", "prod") else ("bool" if kind in ("all", "any") else None)
        key = self.kernel_key("red", (kind, tuple(program), value), inputs, kinds, node.outputs)

        def make(name: str) -> tuple[str, int]:
            vdtype = acc_dtype or node.outputs[0].dtype
            return _reduce_source(name, kind, inputs, kinds, program, value, out_dtype, vdtype)

        self.headers.add("reduce")
        name, nbytes = self.add_kernel(key, "red", make)
        for part, fmt in _reduce_fmts(inputs, kinds).items():
            self.kernels[f"{name}_{part}"] = fmt
        return ReduceStep(
            node, self.ins(node), self.outputs(node), kernel=name, kind=kind, axes=axes, out_dtype=out_dtype,
            acc_nbytes=nbytes, kinds=kinds, keepdims=keepdims,
        )  # fmt: skip

    def view(self, node: Apply, how: str) -> ViewStep:
        """A view of the first input: ``how`` is 'dimshuffle' (with ``node.op.new_order``),
        'reshape' (to the second input, a shape), 'subtensor' (basic indexing with
        ``node.op.template`` and the other inputs), 'split' (pieces along ``node.op.axis`` of
        the sizes in the second input), 'check_shape' (the input as it is, once its shape
        matches ``node.op.shape``) or 'check' (the input as it is, once the op's
        ``check_values(node, values, to_host)`` passed: see symdl.tensor.checks)."""
        return ViewStep(node, self.ins(node), self.outputs(node), how=how)

    def write(self, node: Apply, how: str) -> WriteStep | None:
        """'join', 'set' or 'inc' (see ``WriteStep``); None where no kernel adds this dtype."""
        if how == "inc" and node.outputs[0].dtype not in ADD_INTO_DTYPES:
            return None
        return WriteStep(node, self.ins(node), self.outputs(node), how=how)

    def alloc(self, node: Apply) -> AllocStep:
        return AllocStep(node, self.ins(node), self.outputs(node))

    def shape(self, node: Apply) -> ShapeStep:
        return ShapeStep(node, self.ins(node), self.outputs(node, host=True))

    def gemm(self, node: Apply, accumulate: bool) -> GemmStep | None:
        """cuBLAS: ``dot(A, B)`` (inputs ``A, B``), or with ``accumulate`` ``beta * C + alpha * dot(A, B)``
        (inputs ``C, alpha, A, B, beta``)."""
        a = node.inputs[2] if accumulate else node.inputs[0]
        if a.dtype not in ("float32", "float64"):
            return None
        dtype = node.outputs[0].dtype
        return GemmStep(node, self.ins(node), self.outputs(node), dtype=dtype, accumulate=accumulate)

    def conv(self, node: Apply, kind: str) -> ConvStep | None:
        """Convolution ``kind`` 'forward', 'grad_inputs' or 'grad_weights' (symdl.tensor.nnet.conv)."""
        dtype = node.outputs[0].dtype
        if dtype not in _DTYPE_TAG:
            return None
        tag = _DTYPE_TAG[dtype]
        self.headers.add("conv")
        self.add_kernel(("conv", dtype), "conv", lambda name: (_conv_source(dtype), None))
        self.kernels[f"symdl_im2col_{tag}"] = CONV_GEOMETRY_FMT + STRIDES_FMT + "PP"
        self.kernels[f"symdl_col2im_{tag}"] = CONV_GEOMETRY_FMT + "PP"
        return ConvStep(node, self.ins(node), self.outputs(node), kind=kind, dtype=dtype)

    def random(self, node: Apply, dist: str, n: int) -> RandomStep | None:
        """Philox draws of distribution ``dist`` ('uniform', 'normal', 'binomial' with ``n``
        trials) from the state in the first input, with size-1 parameters."""
        dtype = node.outputs[1].dtype
        floats = ("float32", "float64")
        if dist not in ("uniform", "normal", "binomial") or dtype not in (
            floats if dist != "binomial" else SUPPORTED_DTYPES - {"float16"}
        ):
            return None
        if any(any(d != 1 for d in v.type.shape) for v in node.inputs[2:]):
            return None  # parameters that vary per element stay on the host
        name = f"symdl_random_{dist}_{dtype}"
        code = {"uniform": 0, "normal": 1, "binomial": 2}[dist]
        t = STORAGE_C[dtype]
        self.headers.add("random")
        self.add_kernel(
            ("random", dist, dtype),
            "random",
            lambda _: (
                f'extern "C" __global__ void {name}(const unsigned long long* __restrict__ state, '
                "unsigned long long* __restrict__ new_state, const long long size, const long long n_blocks, "
                f"const double a, const double b, const long long n, {t}* __restrict__ out) {{\n"
                f"    symdl_random<{t}, {code}>(state, new_state, size, n_blocks, a, b, n, out);\n}}",
                None,
            ),
        )
        self.kernels[name] = "PPqqddqP"
        return RandomStep(node, self.ins(node), self.outputs(node), dist=dist, kernel=name, n=n)

    def pool(self, node: Apply, grad: bool) -> PoolStep | None:
        """Pooling (symdl.tensor.nnet.pool) forward, or its gradient with ``grad``."""
        dtype = node.outputs[0].dtype
        if dtype not in _DTYPE_TAG:
            return None
        tag = _DTYPE_TAG[dtype]
        self.headers.add("pool")
        self.add_kernel(("pool", dtype), "pool", lambda name: (_pool_source(dtype), None))
        head = POOL_GEOMETRY_FMT + SHAPE_FMT + STRIDES_FMT + "qq"
        self.kernels[f"symdl_pool_forward_{tag}"] = head + "PP"
        self.kernels[f"symdl_pool_backward_{tag}"] = head + STRIDES_FMT + "qqPPP"
        return PoolStep(node, self.ins(node), self.outputs(node), grad=grad, dtype=dtype)

    def softmax(self, node: Apply, log: bool, axis: int) -> SoftmaxStep | None:
        """Softmax (``log``: log-softmax) along ``axis``, one block per row."""
        dtype = node.inputs[0].dtype
        if dtype not in _DTYPE_TAG:
            return None
        self.headers.add("softmax")
        name, _ = self.add_kernel(
            ("softmax", dtype, log), "softmax", lambda name: (_softmax_source(name, dtype, log), None)
        )
        self.kernels[name] = _SOFTMAX_FMT
        return SoftmaxStep(node, self.ins(node), self.outputs(node), kernel=name, axis=axis)

    def softmax_crossentropy(self, node: Apply) -> SceStep | None:
        """Softmax cross-entropy with logits over the last axis: integer labels or probabilities."""
        dtype, target = node.inputs[0].dtype, node.inputs[1].dtype
        if dtype not in _DTYPE_TAG:
            return None
        labels = not is_float(target)
        if not labels and target != dtype:
            return None
        self.headers.add("softmax")
        name, _ = self.add_kernel(
            ("sce", dtype, target), "sce", lambda name: (_sce_source(name, dtype, target, labels), None)
        )
        self.kernels[name] = _SCE_LABELS_FMT if labels else _SCE_PROBS_FMT
        return SceStep(node, self.ins(node), self.outputs(node), kernel=name, labels=labels)

    def inner_graph(
        self, node: Apply, plans: Sequence[Plan], input_host: Sequence[bool], out_host: dict[int, bool]
    ) -> InnerGraphStep:
        """A node whose op drives its inner graphs (``plans``) with ``run_with``: the graphs'
        inputs live on the host where ``input_host`` says; the node's output ``j`` where
        ``out_host[j]`` says, else on the host only where every graph leaves its output ``j``."""
        bodies = [CudaBuilder(plan, parent=self).build(input_host) for plan in plans]
        hosts = [out_host.get(j, all(b.on_host[b.output_slots[j]] for b in bodies)) for j in range(len(node.outputs))]
        outs = [self.index(v, host=h) for v, h in zip(node.outputs, hosts)]
        return InnerGraphStep(node, self.ins(node), outs, plans=list(plans), bodies=bodies, out_host=hosts)

    # -------------------------------------------------------------- whole graph
    def build(self, input_host: Sequence[bool] | None = None) -> Program:
        """The program of the plan; ``input_host`` (for an inner graph) says which inputs live on
        the host, else the function's 0-d inputs do."""
        plan, fgraph = self.plan, self.fgraph
        input_slots = []
        for k, var in enumerate(fgraph.inputs):
            user_scalar = k < self.n_inputs and var.type.ndim == 0
            input_slots.append(self.index(var, host=input_host[k] if input_host is not None else user_scalar))
        steps = [self.step(node) for node in plan.order]
        output_slots = [self.index(v) for v in fgraph.outputs]
        frees = [[self.index(v) for v in free] for free in plan.frees]
        for size in (1, 2, 4, 8):
            self.kernels[f"symdl_copy_{size}"] = SHAPE_FMT + STRIDES_FMT + "qPP"
            self.kernels[f"symdl_scatter_{size}"] = SHAPE_FMT + 2 * STRIDES_FMT + "qPP"
        for dtype in ADD_INTO_DTYPES:
            self.kernels[f"symdl_add_into_{dtype}"] = SHAPE_FMT + 2 * STRIDES_FMT + "qPP"
        source = self.source(steps)
        return Program(
            source=source,
            steps=steps,
            n_slots=len(self.slot),
            input_slots=input_slots,
            output_slots=output_slots,
            constants=self.constants,
            on_host=self.on_host,
            kernels=self.kernels,
            frees=frees,
            n_results=plan.n_results,
        )

    def source(self, steps: list[Step]) -> str:
        head = ["// symdl CUDA module: generated from one function graph", "// schedule:"]
        for k, step in enumerate(steps):
            kernel = getattr(step, "kernel", "")
            head.append(f"//   {k:3d} {step.label} [{step.describe()}{' ' + kernel if kernel else ''}]")
        text = [*head, "", kernel_header("scalar.cuh"), kernel_header("reduce.cuh"), kernel_header("copy.cuh")]
        if "reduce" in self.headers:
            text.append(REDUCE_TEMPLATES)
        for header in ("softmax", "conv", "pool", "random"):
            if header in self.headers:
                text.append(kernel_header(f"{header}.cuh"))
        text.append("// ---------------------------------------------------------------- generated kernels")
        text.extend(self.parts)
        return "\n".join(text) + "\n"


def generate(plan: Plan) -> Program:
    """The CUDA source and schedule of a plan (see ``symdl.compile.plan``)."""
    return CudaBuilder(plan).build()
