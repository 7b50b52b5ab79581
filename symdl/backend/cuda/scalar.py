"""CUDA code for scalar ops: C types per dtype and one expression per scalar op, NumPy semantics.

Every value a kernel computes lives in a *compute type*: the dtype's C type, except float16,
which is stored as ``unsigned short`` and computed in ``float`` (each step rounded back to
float16 precision, as NumPy stores it). ``scalar_expr`` turns one scalar op applied to C
expressions into a C expression of the output's compute type.

>>> from symdl.tensor import elemwise as ew
>>> scalar_expr(ew.s_add, ['a', 'b'], ['float32', 'float32'], 'float32')
'(a + b)'
>>> scalar_expr(ew.s_floor_div, ['a', 'b'], ['int32', 'int32'], 'int32')
'symdl_floor_div(a, b)'
>>> scalar_expr(ew.s_exp, ['a'], ['int32'], 'float64')
'exp(((double)(a)))'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from symdl.tensor.elemwise import SCALAR_OPS, ScalarOp

STORAGE_C = {
    "bool": "bool",
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
COMPUTE_C = dict(STORAGE_C, float16="float")

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
    value = np.asarray(value, dtype=dtype).item()
    if dtype == "bool":
        return "true" if value else "false"
    if is_int(dtype):
        if dtype == "int64" and value == -(2**63):
            return "(-9223372036854775807LL - 1)"
        suffix = "ULL" if dtype[0] == "u" else "LL"
        return f"(({COMPUTE_C[dtype]}){value}{suffix})"
    single = dtype != "float64"
    if math.isnan(value):
        return "symdl_nanf()" if single else "symdl_nan()"
    if math.isinf(value):
        inf = "symdl_inff()" if single else "symdl_inf()"
        return inf if value > 0 else f"(-{inf})"
    text = repr(float(value))
    if "e" not in text and "." not in text:
        text += ".0"
    return f"{text}f" if single else f"({text})"


def _math(name: str) -> Callable[[str], str]:
    """A C math function, float or double flavour by the compute type."""

    def build(ct: str) -> str:
        return f"{name}f" if ct == "float32" else name

    return build


# op name -> (C function name builder) for unary float functions: out = f(convert(x, out))
_UNARY_MATH = {
    "exp": "exp",
    "exp2": "exp2",
    "expm1": "expm1",
    "log": "log",
    "log2": "log2",
    "log10": "log10",
    "log1p": "log1p",
    "sin": "sin",
    "cos": "cos",
    "tan": "tan",
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "sinh": "sinh",
    "cosh": "cosh",
    "tanh": "tanh",
    "sqrt": "sqrt",
    "erf": "erf",
    "erfc": "erfc",
}
_ROUNDING = {"floor": "floor", "ceil": "ceil", "trunc": "trunc", "round": "rint"}
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "neq": "!="}


def scalar_expr(op: ScalarOp, args: Sequence[str], in_dtypes: Sequence[str], out_dtype: str) -> str:
    """The C expression applying ``op`` to ``args`` (compute types of ``in_dtypes``).

    Raises KeyError for a scalar op with no CUDA code (the backend then runs the node on the host).
    """
    name = op.name
    ct = compute_dtype(out_dtype)

    def conv(k: int, to: str = out_dtype) -> str:
        return convert(args[k], in_dtypes[k], to)

    if name.startswith("cast_"):
        return conv(0)
    if name in _UNARY_MATH:
        return f"{_math(_UNARY_MATH[name])(ct)}({conv(0)})"
    if name in _COMPARE:
        common = str(np.result_type(*in_dtypes))
        return f"({convert(args[0], in_dtypes[0], common)} {_COMPARE[name]} {convert(args[1], in_dtypes[1], common)})"
    if name in ("add", "mul") and out_dtype == "bool":
        return f"({args[0]} || {args[1]})" if name == "add" else f"({args[0]} && {args[1]})"
    if name in ("add", "sub", "mul", "true_div"):
        symbol = {"add": "+", "sub": "-", "mul": "*", "true_div": "/"}[name]
        return f"({conv(0)} {symbol} {conv(1)})"
    if name in ("floor_div", "mod"):
        return f"symdl_{name}({conv(0)}, {conv(1)})"
    if name in ("maximum", "minimum"):
        return f"symdl_{name}({conv(0)}, {conv(1)})"
    if name == "pow":
        if is_float(out_dtype):
            return f"{_math('pow')(ct)}({conv(0)}, {conv(1)})"
        return f"symdl_ipow({conv(0)}, {conv(1)})"
    if name == "arctan2":
        return f"{_math('atan2')(ct)}({conv(0)}, {conv(1)})"
    if name == "neg":
        return f"(-{conv(0)})"
    if name in ("abs", "sign"):
        if out_dtype == "bool":
            return args[0]
        return f"symdl_{name}({conv(0)})"
    if name == "sqr":
        return args[0] if out_dtype == "bool" else f"({conv(0)} * {conv(0)})"
    if name == "reciprocal":
        return f"(({COMPUTE_C[ct]})1 / {conv(0)})"
    if name in ("sigmoid", "softplus"):
        return f"symdl_{name}({conv(0)})"
    if name in _ROUNDING:
        if not is_float(in_dtypes[0]):
            return conv(0)
        return f"{_math(_ROUNDING[name])(ct)}({conv(0)})"
    if name in ("isnan", "isinf", "isfinite"):
        if not is_float(in_dtypes[0]):
            return "true" if name == "isfinite" else "false"
        return f"{name}({args[0]})"
    if name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        if out_dtype == "bool":
            symbol = {"bitwise_and": "&&", "bitwise_or": "||", "bitwise_xor": "!="}[name]
            return f"({args[0]} {symbol} {args[1]})"
        symbol = {"bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}[name]
        return f"({conv(0)} {symbol} {conv(1)})"
    if name == "invert":
        return f"(!{args[0]})" if out_dtype == "bool" else f"(~{conv(0)})"
    if name == "where":
        return f"({args[0]} ? {conv(1)} : {conv(2)})"
    if name == "clip":
        return f"symdl_minimum(symdl_maximum({conv(0)}, {conv(1)}), {conv(2)})"
    if name == "identity":
        return conv(0)
    raise KeyError(name)


def has_cuda(op: ScalarOp, in_dtypes: Sequence[str], out_dtype: str) -> bool:
    """Whether ``op`` on these dtypes has CUDA code here (complex numbers do not)."""
    if any(d not in SUPPORTED_DTYPES for d in (*in_dtypes, out_dtype)):
        return False
    try:
        scalar_expr(op, ["a"] * op.nin, in_dtypes, out_dtype)
    except KeyError:
        return False
    return True


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
