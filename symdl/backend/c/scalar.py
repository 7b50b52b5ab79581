"""C expressions for the scalar ops of ``symdl.tensor.elemwise.SCALAR_OPS``, by name.

``c_expr(name, args, in_dtypes, out_dtype)`` returns one C expression computing the op on C
values ``args`` (of ``in_dtypes``) as NumPy does, or None when there is no C version for those
dtypes (float16 and complex values, integer powers, ...): the node then runs in Python.

Arithmetic is done in the output dtype (NumPy's loop type), comparisons in the promoted input
dtype, and float32 transcendental functions use the vectorizable versions of
``kernels/c/symdl_math.h``.

>>> c_expr('add', ['a', 'b'], ['float32', 'float32'], 'float32')
'(a + b)'
>>> c_expr('exp', ['a'], ['float32'], 'float32')
'sd_expf(a)'
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CTYPES = {
    "bool": "uint8_t",
    "int8": "int8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "int64": "int64_t",
    "uint8": "uint8_t",
    "uint16": "uint16_t",
    "uint32": "uint32_t",
    "uint64": "uint64_t",
    "float32": "float",
    "float64": "double",
}
DTYPE_NUMS = {name: np.dtype(name).num for name in CTYPES}
_SHORT = {"int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
          "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64", "float32": "f", "float64": ""}  # fmt: skip

_NAMES = {**_SHORT, "float32": "f32", "float64": "f64"}

# relative cost of one evaluation, for the decision to run a loop on several threads
EXPENSIVE = {"exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin", "arccos",
             "arctan", "arctan2", "sinh", "cosh", "tanh", "sigmoid", "softplus", "erf", "erfc", "pow", "floor_div",
             "mod", "true_div", "sqrt"}  # fmt: skip


def kind(dtype: str) -> str:
    return "b" if dtype == "bool" else np.dtype(dtype).kind


def cast(expr: str, frm: str, to: str) -> str:
    """``expr`` (of dtype ``frm``) converted to ``to`` with NumPy's casting."""
    if frm == to:
        return expr
    if to == "bool":
        return f"(uint8_t)({expr} != 0)"
    return f"(({CTYPES[to]})({expr}))"


def _float_fn(name: str) -> Callable[[list[str], str], str]:
    """A libm function of one float; float32 uses our vectorizable versions where we have one."""
    own = {"exp": "sd_expf", "log": "sd_logf", "log1p": "sd_log1pf", "expm1": "sd_expm1f", "tanh": "sd_tanhf"}
    libm = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2"}.get(name, name)

    def emit(a: list[str], t: str) -> str:
        if t == "float32" and name in own:
            return f"{own[name]}({a[0]})"
        if name in ("erf", "erfc") and t == "float32":
            return f"(float){libm}((double){a[0]})"
        return f"{libm}{_SHORT[t]}({', '.join(a)})"

    return emit


_FLOAT_FNS = ["sqrt", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin",
              "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh", "erf", "erfc"]  # fmt: skip


def c_expr(name: str, args: list[str], in_dtypes: list[str], out_dtype: str) -> str | None:
    """The C expression of scalar op ``name``, or None where C cannot reproduce NumPy."""
    dtypes = [*in_dtypes, out_dtype]
    if any(d not in CTYPES for d in dtypes):
        return None
    t = out_dtype
    k = kind(t)
    if name.startswith("cast_"):
        return cast(args[0], in_dtypes[0], t)
    if name in ("lt", "le", "gt", "ge", "eq", "neq"):
        ct = str(np.result_type(*in_dtypes))
        if ct not in CTYPES:
            return None
        a, b = (cast(x, d, ct) for x, d in zip(args, in_dtypes))
        sym = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "neq": "!="}[name]
        return f"(uint8_t)({a} {sym} {b})"
    if name in ("isnan", "isinf", "isfinite"):
        if kind(in_dtypes[0]) != "f":
            return "(uint8_t)1" if name == "isfinite" else "(uint8_t)0"
        return f"(uint8_t)(__builtin_{name}({args[0]}) != 0)"
    if name == "where":
        a, b = cast(args[1], in_dtypes[1], t), cast(args[2], in_dtypes[2], t)
        return f"({args[0]} ? {a} : {b})"
    a = [cast(x, d, t) for x, d in zip(args, in_dtypes)]
    if name == "add":
        return f"({a[0]} | {a[1]})" if k == "b" else f"({a[0]} + {a[1]})"
    if name == "mul":
        return f"({a[0]} & {a[1]})" if k == "b" else f"({a[0]} * {a[1]})"
    if name == "sub":
        return None if k == "b" else f"({a[0]} - {a[1]})"
    if name == "true_div":
        return f"({a[0]} / {a[1]})" if k == "f" else None
    if name in ("floor_div", "mod"):
        if k == "b":
            return None
        fn = "sd_floordiv_" if name == "floor_div" else "sd_mod_"
        return f"{fn}{_NAMES[t]}({a[0]}, {a[1]})"
    if name == "pow":
        if k != "f":
            return None
        if args[1] in (literal(np.array(2, "float32")), literal(np.array(2.0))):
            return f"({a[0]} * {a[0]})"
        return f"pow{_SHORT[t]}({a[0]}, {a[1]})"
    if name == "neg":
        if k == "b":
            return None
        return f"(({CTYPES[t]})(0 - {a[0]}))" if k == "u" else f"(-{a[0]})"
    if name == "abs":
        if k == "f":
            return f"fabs{_SHORT[t]}({a[0]})"
        return f"({a[0]} < 0 ? ({CTYPES[t]})(0 - {a[0]}) : {a[0]})" if k == "i" else a[0]
    if name == "sign":
        if k == "f":
            return f"({a[0]} > 0 ? ({CTYPES[t]})1 : ({a[0]} < 0 ? ({CTYPES[t]})-1 : {a[0]}))"
        if k == "i":
            return f"(({CTYPES[t]})(({a[0]} > 0) - ({a[0]} < 0)))"
        return None if k == "b" else f"(({CTYPES[t]})({a[0]} > 0))"
    if name in ("maximum", "minimum"):
        macro = ("SD_FMAX" if name == "maximum" else "SD_FMIN") if k == "f" else (
            "SD_IMAX" if name == "maximum" else "SD_IMIN")  # fmt: skip
        return f"{macro}({a[0]}, {a[1]})"
    if name == "clip":
        hi, lo = ("SD_FMIN", "SD_FMAX") if k == "f" else ("SD_IMIN", "SD_IMAX")
        return f"{hi}({lo}({a[0]}, {a[1]}), {a[2]})"
    if name == "sqr":
        return f"({a[0]} * {a[0]})" if k != "b" else f"({a[0]} & {a[0]})"
    if name == "identity":
        return a[0]
    if name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        if k == "f":
            return None
        sym = {"bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}[name]
        return f"(({CTYPES[t]})({a[0]} {sym} {a[1]}))"
    if name == "invert":
        if k == "f":
            return None
        return f"(uint8_t)(!{a[0]})" if k == "b" else f"(({CTYPES[t]})~{a[0]})"
    if name in ("floor", "ceil", "trunc", "round"):
        if k != "f":
            return a[0]
        fn = {"round": "nearbyint"}.get(name, name)
        return f"{fn}{_SHORT[t]}({a[0]})"
    if name == "reciprocal":
        return f"(({CTYPES[t]})1 / {a[0]})" if k == "f" else None
    if name in ("sigmoid", "softplus"):
        if k != "f":
            return None
        return f"sd_{name}{_SHORT[t]}({a[0]})"
    if name in _FLOAT_FNS:
        if k != "f":
            return None
        return _float_fn(name)(a, t)
    return None


def cost(name: str) -> int:
    return 8 if name in EXPENSIVE else 1


def literal(value: np.ndarray) -> str:
    """A C literal for a scalar of any supported dtype, exact (hex floats)."""
    v = value.reshape(()).item() if isinstance(value, np.ndarray) else value
    dtype = str(value.dtype)
    if dtype == "bool":
        return "1" if v else "0"
    if dtype in ("float32", "float64"):
        f = float(v)
        suffix = "f" if dtype == "float32" else ""
        if f != f:
            return "NAN" if dtype == "float32" else "(double)NAN"
        if f in (float("inf"), float("-inf")):
            return ("-" if f < 0 else "") + ("INFINITY" if dtype == "float32" else "(double)INFINITY")
        return f"{f.hex()}{suffix}"
    if dtype == "uint64":
        return f"UINT64_C({int(v)})"
    if dtype == "int64":
        return f"INT64_C({int(v)})" if int(v) != -(2**63) else "INT64_MIN"
    return f"(({CTYPES[dtype]}){int(v)})"
