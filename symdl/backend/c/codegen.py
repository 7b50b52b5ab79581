"""C source for one FunctionGraph: elementwise kernels and a driver running the schedule.

Every variable gets a slot. Each node becomes a block of the driver ``sd_run``: a fused loop for
``Elemwise``/``Composite`` (its kernel is generated here, one per distinct scalar program), a call
into the runtime for reductions, BLAS products, views, shapes and joins, or, for ops without C
code, a call back into the op's Python ``perform``. Slots of intermediates are released right
after their last use so their buffers return to the reuse pool.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symdl.backend.c.build import PART_MARKER
from symdl.backend.c.scalar import CTYPES, DTYPE_NUMS, c_expr, cast, cost, literal
from symdl.graph.basic import Apply, Constant, Variable
from symdl.graph.fg import FunctionGraph
from symdl.utils import describe

MAXDIM = 16
_TRACE = "\x01"
_PART = 48  # nodes per driver function
SD_NONE = "INT64_MIN"
# Booleans computed inside a loop are held as ints: a byte-wide temporary between float lanes
# makes gcc pack and unpack every vector (a fused compare-multiply ran 5x slower than an add).
_TEMP_CTYPES = {"bool": "int"}


@dataclass
class Generated:
    """The generated source and what the runtime needs to run it."""

    source: str
    key_source: str
    order: list[Apply]
    nvars: int
    input_slots: list[int]
    const_slots: list[int]
    const_arrays: list[np.ndarray]
    output_slots: list[int]
    slot_types: list[tuple[int, int, tuple[int, ...]]]
    in_c: list[bool]
    labels: list[str]
    node_lines: list[tuple[int, int, int]] = field(default_factory=list)
    op_names: list[str] = field(default_factory=list)  # what profile() prints, kept without the nodes


def label(node: Apply) -> str:
    return f"{node.op} (output {describe(node.outputs[0])})"


def _comment(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")


class _Emitter:
    def __init__(self, fgraph: FunctionGraph):
        self.fgraph = fgraph
        self.slot: dict[Variable, int] = {}
        self.kernels: dict[str, str] = {}  # kernel body (name-free) -> name
        self.kernel_text: list[str] = []
        self.kernel_owner: dict[str, int] = {}

    def index(self, var: Variable) -> int:
        if var not in self.slot:
            self.slot[var] = len(self.slot)
        return self.slot[var]

    def ints(self, values: list[int]) -> str:
        return "(const int[]){" + ", ".join(map(str, values)) + "}" if values else "NULL"


# ---------------------------------------------------------------- elementwise kernels
def _is_static_scalar(var: Variable) -> bool:
    return isinstance(var, Constant) and np.asarray(var.data).size == 1


def _program(node: Apply) -> tuple[tuple, tuple[int, ...]] | None:
    from symdl.tensor.composite import Composite
    from symdl.tensor.elemwise import Elemwise

    op = node.op
    if isinstance(op, Elemwise):
        return ((op.scalar_op, tuple(range(len(node.inputs)))),), (len(node.inputs),)
    if isinstance(op, Composite):
        return op.program, op.outputs
    return None


@dataclass
class _Parts:
    """Pieces of an elementwise loop body over a node's inputs."""

    decls: list[str]
    pre: list[str]
    loads_contig: list[str]
    loads_strided: list[str]
    body: list[str]
    names: list[str]
    dtypes: list[str]
    operands: list[int]
    strided_ops: list[int]
    cost: int


def _parts(inputs: list[Variable], program: tuple) -> _Parts | None:
    """Declarations, loads and the scalar program of a fused loop, or None if C cannot do it."""
    dtypes = [v.dtype for v in inputs]
    if any(d not in CTYPES for d in dtypes):
        return None
    parts = _Parts([], [], [], [], [], [], dtypes, [], [], 0)
    for j, var in enumerate(inputs):
        ct = CTYPES[var.dtype]
        parts.names.append(f"x{j}")
        if _is_static_scalar(var):
            parts.pre.append(f"    const {ct} x{j} = {literal(np.asarray(var.data))};")
            continue
        p = len(parts.operands)
        parts.operands.append(j)
        parts.decls.append(f"    const {ct} *restrict i{j} = (const {ct} *)p[{p}];")
        if all(d == 1 for d in var.type.shape):
            parts.pre.append(f"    const {ct} x{j} = i{j}[0];")
        else:
            parts.strided_ops.append(p)
            parts.loads_contig.append(f"            const {ct} x{j} = i{j}[i];")
            parts.loads_strided.append(f"            const {ct} x{j} = i{j}[i * s[{p}]];")
    for m, (sop, args) in enumerate(program):
        arg_dtypes = [dtypes[a] for a in args]
        try:
            out_dtype = sop.output_dtype(arg_dtypes)
        except Exception:
            return None
        expr = c_expr(sop.name, [parts.names[a] for a in args], arg_dtypes, out_dtype)
        if expr is None:
            return None
        parts.cost += cost(sop.name)
        dtypes.append(out_dtype)
        parts.names.append(f"t{m}")
        parts.body.append(
            f"            const {_TEMP_CTYPES.get(out_dtype, CTYPES[out_dtype])} t{m} = {expr}; /* {sop.name} */"
        )
    parts.cost = max(parts.cost, 1)
    return parts


def _register(em: _Emitter, text: str, node: Apply, k: int, prefix: str = "kernel") -> str:
    name = em.kernels.get(text)
    if name is None:
        name = f"{prefix}{len(em.kernels)}"
        em.kernels[text] = name
        em.kernel_owner[name] = k
        sig = ", ".join(v.dtype for v in node.inputs) + " -> " + ", ".join(v.dtype for v in node.outputs)
        em.kernel_text.append(f"/* {_comment(str(node.op))}: {sig} */\nSD_KERNEL void {name}{text}\n")
    return name


def kernel_for(node: Apply, em: _Emitter, k: int) -> tuple[str, list[int], int] | None:
    """(kernel name, operand input positions, cost) for an elementwise node, or None."""
    prog = _program(node)
    if prog is None:
        return None
    program, outputs = prog
    if any(o.dtype not in CTYPES for o in node.outputs):
        return None
    parts = _parts(node.inputs, program)
    if parts is None:
        return None
    decls, strided_ops = list(parts.decls), list(parts.strided_ops)
    stores_c, stores_s = [], []
    for q, (o, var) in enumerate(zip(outputs, node.outputs)):
        ct = CTYPES[var.dtype]
        p = len(parts.operands) + q
        decls.append(f"    {ct} *restrict o{q} = ({ct} *)p[{p}];")
        strided_ops.append(p)
        value = cast(parts.names[o], parts.dtypes[o], var.dtype)
        stores_c.append(f"            o{q}[i] = {value};")
        stores_s.append(f"            o{q}[i * s[{p}]] = {value};")
    contiguous = " && ".join(f"s[{p}] == 1" for p in strided_ops) or "1"
    text = "\n".join(
        [
            "(int64_t n, char **p, const int64_t *s)",
            "{",
            *decls,
            *parts.pre,
            f"    if ({contiguous}) {{",
            "#pragma omp simd",
            "        for (int64_t i = 0; i < n; i++) {",
            *parts.loads_contig,
            *parts.body,
            *stores_c,
            "        }",
            "    } else {",
            "        for (int64_t i = 0; i < n; i++) {",
            *parts.loads_strided,
            *parts.body,
            *stores_s,
            "        }",
            "    }",
            "}",
        ]
    )
    # a memory-bound loop gains from a second core's cache and bandwidth: count each array it
    # streams as one unit of work (measured: W - 0.01 * v on 784x512 float32, 200 -> 96 us)
    return _register(em, text, node, k), parts.operands, parts.cost + len(parts.operands) + len(outputs)


_ACC_OP = {"sum": "({a} + {v})", "prod": "({a} * {v})"}


def reduce_kernel_for(node: Apply, em: _Emitter, k: int) -> tuple[str, list[int], int, str] | None:
    """(kernel name, operands, cost, accumulator dtype) for a CompositeReduce node, or None."""
    op = node.op
    comp = op.composite
    out = node.outputs[0]
    if out.dtype not in CTYPES or op.kind not in ("sum", "prod", "max", "min"):
        return None
    parts = _parts(node.inputs, comp.program)
    if parts is None:
        return None
    o = comp.outputs[0]
    acc = "float64" if op.kind in ("sum", "prod") and out.dtype == "float32" else out.dtype
    ca = CTYPES[acc]
    value = cast(parts.names[o], parts.dtypes[o], acc)
    if op.kind in _ACC_OP:
        combine = _ACC_OP[op.kind]
        simd = f"#pragma omp simd reduction({'+' if op.kind == 'sum' else '*'} : a)"
    else:
        macro = ("SD_FMAX" if op.kind == "max" else "SD_FMIN") if acc.startswith("float") else (
            "SD_IMAX" if op.kind == "max" else "SD_IMIN")  # fmt: skip
        combine = macro + "({a}, {v})"
        simd = "/* no simd: NaN must win */"
    p = len(parts.operands)
    contiguous = " && ".join(f"s[{q}] == 1" for q in parts.strided_ops) or "1"
    text = "\n".join(
        [
            "(int64_t n, char **p, const int64_t *s)",
            "{",
            *parts.decls,
            f"    {ca} *restrict acc = ({ca} *)p[{p}];",
            *parts.pre,
            f"    if (s[{p}] == 0) {{",
            f"        {ca} a = acc[0];",
            f"        if ({contiguous}) {{",
            simd,
            "        for (int64_t i = 0; i < n; i++) {",
            *parts.loads_contig,
            *parts.body,
            f"            a = {combine.format(a='a', v=value)};",
            "        }",
            "        } else {",
            "        for (int64_t i = 0; i < n; i++) {",
            *parts.loads_strided,
            *parts.body,
            f"            a = {combine.format(a='a', v=value)};",
            "        }",
            "        }",
            "        acc[0] = a;",
            f"    }} else if ({contiguous} && s[{p}] == 1) {{",
            "#pragma omp simd",
            "        for (int64_t i = 0; i < n; i++) {",
            *parts.loads_contig,
            *parts.body,
            f"            acc[i] = {combine.format(a='acc[i]', v=value)};",
            "        }",
            "    } else {",
            "        for (int64_t i = 0; i < n; i++) {",
            *parts.loads_strided,
            *parts.body,
            f"            acc[i * s[{p}]] = {combine.format(a=f'acc[i * s[{p}]]', v=value)};",
            "        }",
            "    }",
            "}",
        ]
    )
    return _register(em, text, node, k, "reduce_kernel"), parts.operands, parts.cost + len(parts.operands), acc


# ---------------------------------------------------------------- node emitters
def _emit_elemwise(node: Apply, em: _Emitter, k: int) -> str | None:
    found = kernel_for(node, em, k)
    if found is None:
        return None
    name, operands, c = found
    ins = [em.index(node.inputs[j]) for j in operands]
    outs = [em.index(o) for o in node.outputs]
    dts = [DTYPE_NUMS[o.dtype] for o in node.outputs]
    return (
        f"A->elemwise(ctx, {k}, {len(ins)}, {em.ints(ins)}, {len(outs)}, {em.ints(outs)}, {em.ints(dts)}, "
        f"{node.outputs[0].ndim}, {name}, {c})"
    )


def _emit_composite_reduce(node: Apply, em: _Emitter, k: int) -> str | None:
    found = reduce_kernel_for(node, em, k)
    if found is None:
        return None
    name, operands, c, acc = found
    op = node.op
    ins = [em.index(node.inputs[j]) for j in operands]
    out = node.outputs[0]
    elem_ndim = max((v.ndim for v in node.inputs), default=0)
    axes = list(op.axis)
    return (
        f"A->elemwise_reduce(ctx, {k}, {_KINDS[op.kind]}, {len(ins)}, {em.ints(ins)}, {em.index(out)}, "
        f"{DTYPE_NUMS[out.dtype]}, {DTYPE_NUMS[acc]}, {elem_ndim}, {len(axes)}, {em.ints(axes)}, {int(op.keepdims)}, "
        f"{name}, {c})"
    )


def _emit_gemm(node: Apply, em: _Emitter, k: int) -> str | None:
    if node.outputs[0].dtype not in ("float32", "float64") or node.inputs[0].ndim > node.outputs[0].ndim:
        return None
    C, alpha, A, B, beta = (em.index(v) for v in node.inputs)
    return f"A->gemm(ctx, {k}, {C}, {alpha}, {A}, {B}, {beta}, {em.index(node.outputs[0])})"


def _emit_softmax(node: Apply, em: _Emitter, k: int) -> str | None:
    name = type(node.op).__name__
    x = node.inputs[0]
    if x.dtype not in ("float32", "float64") or node.outputs[0].dtype != x.dtype:
        return None
    if name == "SoftmaxCrossentropyWithLogits":
        target = node.inputs[1]
        if target.type.is_float:
            if target.dtype != x.dtype or target.ndim != x.ndim:
                return None
            kind = 3
        else:
            if target.dtype not in CTYPES or target.ndim != x.ndim - 1:
                return None
            kind = 2
        t, axis = em.index(target), x.ndim - 1
    else:
        kind, t, axis = (0 if name == "Softmax" else 1), -1, node.op.axis
    return f"A->softmax(ctx, {k}, {kind}, {em.index(x)}, {t}, {em.index(node.outputs[0])}, {axis})"


_KINDS = {"sum": "SD_SUM", "prod": "SD_PROD", "max": "SD_MAX", "min": "SD_MIN", "all": "SD_ALL", "any": "SD_ANY"}


def _emit_reduce(node: Apply, em: _Emitter, k: int) -> str | None:
    op = node.op
    x, out = node.inputs[0], node.outputs[0]
    if x.dtype not in CTYPES or out.dtype not in CTYPES or op.kind not in _KINDS:
        return None
    axes = list(op.axis)
    return (
        f"A->reduce(ctx, {k}, {_KINDS[op.kind]}, {em.index(x)}, {em.index(out)}, {len(axes)}, {em.ints(axes)}, "
        f"{int(op.keepdims)}, {DTYPE_NUMS[out.dtype]})"
    )


def _emit_argreduce(node: Apply, em: _Emitter, k: int) -> str | None:
    op = node.op
    x = node.inputs[0]
    if x.dtype not in CTYPES:
        return None
    kind = "SD_ARGMAX" if op.kind == "argmax" else "SD_ARGMIN"
    axis = -1 if op.axis is None else op.axis
    return f"A->argreduce(ctx, {k}, {kind}, {em.index(x)}, {em.index(node.outputs[0])}, {axis}, {int(op.keepdims)})"


def _emit_dot(node: Apply, em: _Emitter, k: int) -> str | None:
    a, b = node.inputs
    if a.dtype not in ("float32", "float64") or b.dtype != a.dtype:
        return None
    fn = "dot" if type(node.op).__name__ == "Dot" else "matmul"
    return f"A->{fn}(ctx, {k}, {em.index(a)}, {em.index(b)}, {em.index(node.outputs[0])})"


def _emit_dimshuffle(node: Apply, em: _Emitter, k: int) -> str | None:
    order = [-1 if d == "x" else int(d) for d in node.op.new_order]
    return f"A->dimshuffle(ctx, {k}, {em.index(node.inputs[0])}, {em.index(node.outputs[0])}, {len(order)}, {em.ints(order)})"


def _emit_reshape(node: Apply, em: _Emitter, k: int) -> str | None:
    x, shape = node.inputs
    if shape.dtype not in CTYPES or shape.ndim != 1:
        return None
    return f"A->reshape(ctx, {k}, {em.index(x)}, {em.index(shape)}, {em.index(node.outputs[0])}, {node.op.ndim})"


def _emit_shape(node: Apply, em: _Emitter, k: int) -> str | None:
    return f"A->shape(ctx, {k}, {em.index(node.inputs[0])}, {em.index(node.outputs[0])})"


def _emit_alloc(node: Apply, em: _Emitter, k: int) -> str | None:
    value, *dims = node.inputs
    if any(d.dtype not in CTYPES or d.dtype == "bool" for d in dims):
        return None
    slots = [em.index(d) for d in dims]
    return f"A->alloc(ctx, {k}, {em.index(value)}, {len(dims)}, {em.ints(slots)}, {em.index(node.outputs[0])})"


def _emit_arange(node: Apply, em: _Emitter, k: int) -> str | None:
    # integers only: NumPy computes float ranges from their first two values, which C would not match
    if node.op.dtype not in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64"):
        return None
    start, stop, step = (em.index(v) for v in node.inputs)
    return f"A->arange(ctx, {k}, {start}, {stop}, {step}, {em.index(node.outputs[0])})"


def _bound(value: Any) -> str:
    if value is None:
        return SD_NONE
    if isinstance(value, tuple):
        return f"SD_ARG | {int(value[1])}"
    return f"INT64_C({int(value)})"


def _emit_subtensor(node: Apply, em: _Emitter, k: int) -> str | None:
    op = node.op
    if op.advanced:
        return None
    x, *idx = node.inputs
    if any(i.dtype not in CTYPES or i.dtype == "bool" for i in idx):
        return None
    entries: list[str] = []
    kinds = {"slice": "SD_IDX_SLICE", "int": "SD_IDX_INT", "new": "SD_IDX_NEW"}
    for e in op.template:
        if e[0] not in kinds:
            return None
        vals = list(e[1:]) + [None] * (4 - len(e))
        entries += [kinds[e[0]], *(_bound(v) for v in vals[:3])]
    table = "(const int64_t[]){" + ", ".join(entries) + "}" if entries else "NULL"
    args = [em.index(i) for i in idx]
    return (
        f"A->subtensor(ctx, {k}, {em.index(x)}, {em.index(node.outputs[0])}, {len(op.template)}, {table}, "
        f"{em.ints(args)})"
    )


def _emit_join(node: Apply, em: _Emitter, k: int) -> str | None:
    ins = [em.index(i) for i in node.inputs]
    if any(i.dtype != node.outputs[0].dtype for i in node.inputs):
        return None
    return f"A->join(ctx, {k}, {node.op.axis}, {len(ins)}, {em.ints(ins)}, {em.index(node.outputs[0])})"


def _emit_reduce_to_shape(node: Apply, em: _Emitter, k: int) -> str | None:
    g, shape = node.inputs
    if g.dtype not in CTYPES or g.dtype == "bool":
        return None
    return f"A->reduce_to_shape(ctx, {k}, {em.index(g)}, {em.index(shape)}, {em.index(node.outputs[0])})"


def _emitters() -> dict[type, Callable[[Apply, _Emitter, int], str | None]]:
    from symdl.rewrite.blas_ops import Gemm, Gemv
    from symdl.tensor.blas import Dot, MatMul
    from symdl.tensor.composite import Composite, CompositeReduce
    from symdl.tensor.creation import Alloc, ARange
    from symdl.tensor.elemwise import Elemwise
    from symdl.tensor.reduction import ArgReduce, Reduce
    from symdl.tensor.shape import DimShuffle, Join, ReduceToShape, Reshape, Shape
    from symdl.tensor.subtensor import Subtensor

    return {
        Elemwise: _emit_elemwise,
        Composite: _emit_elemwise,
        Reduce: _emit_reduce,
        ArgReduce: _emit_argreduce,
        Dot: _emit_dot,
        MatMul: _emit_dot,
        DimShuffle: _emit_dimshuffle,
        Reshape: _emit_reshape,
        Shape: _emit_shape,
        Alloc: _emit_alloc,
        ARange: _emit_arange,
        Subtensor: _emit_subtensor,
        Join: _emit_join,
        ReduceToShape: _emit_reduce_to_shape,
        CompositeReduce: _emit_composite_reduce,
        Gemm: _emit_gemm,
        Gemv: _emit_gemm,
        **_nnet_emitters(),
    }


def _nnet_emitters() -> dict[type, Callable[[Apply, _Emitter, int], str | None]]:
    try:
        from symdl.tensor.nnet.basic import LogSoftmax, Softmax, SoftmaxCrossentropyWithLogits
    except ImportError:
        return {}
    from symdl.backend.c.nnet import emitters as conv_pool_emitters

    return {
        Softmax: _emit_softmax,
        LogSoftmax: _emit_softmax,
        SoftmaxCrossentropyWithLogits: _emit_softmax,
        **conv_pool_emitters(),
    }


# ---------------------------------------------------------------- the translation unit
def generate(fgraph: FunctionGraph) -> Generated:
    """The C translation unit and run-time tables for ``fgraph``."""
    from symdl.backend.c import schedule

    em = _Emitter(fgraph)
    order, in_place = schedule.plan(fgraph)
    emitters = _emitters()
    for v in fgraph.inputs:
        em.index(v)
    constants: dict[Variable, int] = {}
    for node in order:
        for v in node.inputs:
            if isinstance(v, Constant) and v not in constants:
                constants[v] = em.index(v)
    for v in fgraph.outputs:
        if isinstance(v, Constant) and v not in constants:
            constants[v] = em.index(v)
    outputs = set(fgraph.outputs)
    keep = set(fgraph.inputs) | set(constants) | outputs
    last_use: dict[Variable, int] = {}
    for k, node in enumerate(order):
        for v in node.inputs:
            last_use[v] = k
    blocks: list[tuple[int, list[str]]] = []
    in_c: list[bool] = []
    for k, node in enumerate(order):
        ins = [em.index(v) for v in node.inputs]
        outs = [em.index(v) for v in node.outputs]
        emit = emitters.get(type(node.op))
        call = None
        if all(v.ndim <= MAXDIM for v in node.inputs + node.outputs) and emit is not None:
            call = emit(node, em, k)
        in_c.append(call is not None)
        shapes = ", ".join(str(v.type) for v in node.inputs)
        where = node.outputs[0].trace
        lines = [f"    /* node {k}: {_comment(str(node.op))}({shapes}) -> {node.outputs[0].type}"
                 + (f", {_TRACE}{_comment(str(where))}{_TRACE}" if where else "") + " */"]  # fmt: skip
        lines.append("    {")
        lines.append("        SD_NODE_BEGIN();")
        if call is None:
            lines.append("        /* no C code for this op: run its Python perform */")
            call = f"A->py(ctx, {k}, {len(ins)}, {em.ints(ins)}, {len(outs)}, {em.ints(outs)})"
            lines.append(f"        SD_TRY({call});")
            lines.append(f"        SD_NODE_END({k});")
        else:
            if node in in_place:
                shared, update = in_place[node]
                name = _comment(repr(shared.name)) if shared.name else "the shared variable"
                lines.append(f"        /* the new value of {name} may overwrite its array (if nothing else sees it) */")
                lines.append(f"        A->claim(ctx, {k}, {em.index(shared)}, {em.index(update)});")
            lines.append(f"        SD_TRY({call});")
            lines.append(f"        SD_NODE_END({k});")
            lines.append("        if (ctx->checking)")
            lines.append(
                f"            SD_TRY(A->check(ctx, {k}, {len(ins)}, {em.ints(ins)}, {len(outs)}, {em.ints(outs)}));"
            )
        lines.append("    }")
        dead = sorted({em.index(v) for v in node.inputs if last_use.get(v) == k and v not in keep})
        dead += [em.index(v) for v in node.outputs if v not in last_use and v not in keep]
        for s in dead:
            lines.append(f"    A->release(ctx, {s});")
        blocks.append((k, lines))

    head = [
        f"/* symdl: generated C for a function graph of {len(order)} nodes,"
        f" {len(fgraph.inputs)} inputs and {len(fgraph.outputs)} outputs. */",
        "#include <symdl_rt.h>",
        "#include <symdl_math.h>",
        "",
    ]
    # Kernels and driver are parts that build.build may compile as units of their own, in parallel
    lines = [*head, PART_MARKER]
    node_lines: list[tuple[int, int, int]] = []
    kernel_names = list(em.kernels.values())
    for name, text in zip(kernel_names, em.kernel_text):
        start = len(lines) + 1
        lines.extend(text.split("\n"))
        node_lines.append((start, len(lines), em.kernel_owner[name]))
    lines.append(PART_MARKER)
    lines += [f"SD_KERNEL void {name}(int64_t n, char **p, const int64_t *s);" for name in kernel_names]
    lines += ["", "const int sd_abi_version = SD_ABI_VERSION;", ""]
    # The driver runs in parts of a bounded size: gcc's time grows faster than linearly with the
    # size of one function, and these calls gain nothing from optimizing across nodes.
    parts = [blocks[i : i + _PART] for i in range(0, len(blocks), _PART)] or [[]]
    for p, part in enumerate(parts):
        # -O0 for the driver: it only makes calls, each costing microseconds, and optimizing it
        # took 0.19 of the MLP module's 0.37 s in gcc (0.12 s at -O0)
        lines += [
            f'static __attribute__((noinline, optimize("O0"))) int sd_part{p}(sd_ctx *ctx)',
            "{",
            "    const sd_api *A = ctx->api;",
        ]
        for k, block in part:
            start = len(lines) + 1
            lines.extend(block)
            node_lines.append((start, len(lines), k))
        lines += ["    (void)A;", "    return 0;", "}", ""]
    lines += ["int sd_run(sd_ctx *ctx)", "{"]
    lines += [f"    SD_TRY(sd_part{p}(ctx));" for p in range(len(parts))]
    lines += ["    return 0;", "}", ""]
    marked = "\n".join(lines)
    # the user's lines in comments help a reader but must not change the cache key
    key_source = re.sub(f"{_TRACE}[^{_TRACE}]*{_TRACE}", "", marked)
    source = marked.replace(_TRACE, "")

    slot_types: list[tuple[int, int, tuple[int, ...]]] = [(0, 0, ())] * len(em.slot)
    for var, s in em.slot.items():
        shape = tuple(-1 if d is None else d for d in var.type.shape)
        slot_types[s] = (np.dtype(var.dtype).num, var.ndim, shape)
    const_items = sorted(constants.items(), key=lambda kv: kv[1])
    return Generated(
        source=source,
        key_source=key_source,
        order=order,
        nvars=len(em.slot),
        input_slots=[em.index(v) for v in fgraph.inputs],
        const_slots=[s for _, s in const_items],
        const_arrays=[np.require(v.data, requirements="C") for v, _ in const_items],
        output_slots=[em.index(v) for v in fgraph.outputs],
        slot_types=slot_types,
        in_c=in_c,
        labels=[label(n) for n in order],
        node_lines=node_lines,
        op_names=[str(n.op) for n in order],
    )
