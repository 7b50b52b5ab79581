"""CUDA's C types per dtype, its conversions, and the scalar ops' expressions on CUDA.

Every value a kernel computes lives in a *compute type*: the dtype's C type, except float16,
which is stored as ``unsigned short`` and computed in ``float`` (each step rounded back to
float16 precision, as NumPy stores it), and bool, stored as a byte 0 or 1 (as on the CPU) and
computed as ``bool``. The expression of each scalar op comes from the one table of
``symdl.tensor.elemwise`` (``ScalarOp.code``), shared with the C backend; ``scalar_expr`` gives
it CUDA's conversions and compute types.

>>> from symdl.tensor import elemwise as ew
>>> scalar_expr(ew.s_add, ['a', 'b'], ['float32', 'float32'], 'float32')
'(a + b)'
>>> scalar_expr(ew.s_floor_div, ['a', 'b'], ['int32', 'int32'], 'int32')
'sd_floordiv_i32(a, b)'
>>> scalar_expr(ew.s_exp, ['a'], ['int32'], 'float64')
'exp(((double)(a)))'
"""

from __future__ import annotations

from collections.abc import Sequence

from symdl.tensor.elemwise import SCALAR_OPS, ScalarOp
from symdl.tensor.scalar_code import ScalarCode
from symdl.tensor.scalar_code import literal as _literal

STORAGE_C = {
    "bool": "unsigned char",
    "int8": "signed char",
    "int16": "short",
    "int32": "int",
    "int64": "long long",
    "uint8": "unsigned char",
    "uint16": "unsigned short",
    "uint32": "unsigned int",
    "uint64": "unsigned long long",
    "float16": "unsigned short",
    "float32": "float",
    "float64": "double",
}
COMPUTE_C = dict(STORAGE_C, float16="float", bool="bool")

# How a host scalar is passed by value to a kernel: (C parameter type, struct format character).
PARAM_C = {
    "bool": ("int", "i"),
    "int8": ("int", "i"),
    "int16": ("int", "i"),
    "int32": ("int", "i"),
    "int64": ("long long", "q"),
    "uint8": ("unsigned int", "I"),
    "uint16": ("unsigned int", "I"),
    "uint32": ("unsigned int", "I"),
    "uint64": ("unsigned long long", "Q"),
    "float16": ("float", "f"),
    "float32": ("float", "f"),
    "float64": ("double", "d"),
}

SUPPORTED_DTYPES = frozenset(STORAGE_C)


def is_float(dtype: str) -> bool:
    return dtype.startswith("float")


def is_int(dtype: str) -> bool:
    return dtype[:3] == "int" or dtype[:4] == "uint"


def compute_dtype(dtype: str) -> str:
    """The dtype whose C type a value of ``dtype`` is computed in."""
    return "float32" if dtype == "float16" else dtype


def load(expr: str, dtype: str) -> str:
    """A value read from storage, in its compute type."""
    return f"symdl_h2f({expr})" if dtype == "float16" else expr


def store(expr: str, dtype: str, from_dtype: str | None = None) -> str:
    """A compute-type value converted for storage."""
    if dtype == "float16":
        return f"symdl_d2h({expr})" if from_dtype == "float64" else f"symdl_f2h({expr})"
    return expr


def convert(expr: str, src: str, dst: str) -> str:
    """``expr`` (compute type of ``src``) converted as NumPy's ``astype(dst)``, in ``dst``'s compute type."""
    if compute_dtype(src) == compute_dtype(dst):
        return expr
    if dst == "bool":
        return f"({expr} != 0)"
    if is_float(src) and is_int(dst):
        wide = dst in ("int64", "uint32", "uint64")
        helper = "symdl_f2i64" if wide else "symdl_f2i32"
        return f"(({COMPUTE_C[dst]}){helper}({expr}))"
    return f"(({COMPUTE_C[dst]})({expr}))"


def literal(value: object, dtype: str) -> str:
    """A C literal of ``value`` in ``dtype``'s compute type."""
    return _literal(value, compute_dtype(dtype), COMPUTE_C)


def scalar_expr(
    op: ScalarOp, args: Sequence[str], in_dtypes: Sequence[str], out_dtype: str, consts: Sequence[object] | None = None
) -> str | None:
    """The C expression applying ``op`` to ``args`` (compute types of ``in_dtypes``), or None when
    the op has no CUDA code for these dtypes (the node then runs on the host)."""
    if any(d not in SUPPORTED_DTYPES for d in (*in_dtypes, out_dtype)):
        return None
    code = ScalarCode(
        tuple(args),
        tuple(in_dtypes),
        out_dtype,
        tuple(consts or (None,) * len(args)),
        convert,
        compute_dtype,
        COMPUTE_C,
    )
    return op.code("cuda", code)


def has_cuda(op: ScalarOp, in_dtypes: Sequence[str], out_dtype: str) -> bool:
    """Whether ``op`` on these dtypes has CUDA code here."""
    return scalar_expr(op, ["a"] * op.nin, in_dtypes, out_dtype) is not None


def covered_ops() -> list[str]:
    """Names of the scalar ops in ``symdl.tensor.elemwise.SCALAR_OPS`` that have CUDA code."""
    names = []
    for name, op in SCALAR_OPS.items():
        dtypes = ["float32"] * op.nin
        if name == "where":
            dtypes[0] = "bool"
        if name in ("bitwise_and", "bitwise_or", "bitwise_xor", "invert"):
            dtypes = ["int32"] * op.nin
        out = op.params[0] if op.params else op.output_dtype(dtypes)
        if has_cuda(op, dtypes, out):
            names.append(name)
    return names


__all__ = [
    "COMPUTE_C", "PARAM_C", "STORAGE_C", "SUPPORTED_DTYPES", "compute_dtype", "convert", "has_cuda", "is_float",
    "is_int", "literal", "load", "scalar_expr", "store",
]  # fmt: skip
