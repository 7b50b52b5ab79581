"""The C code of scalar ops: what a row of the scalar-op table (``symdl.tensor.elemwise``) is given
to write its expression, shared by every backend that generates C-like code (``c`` and ``cuda``).

A row's ``c`` function takes a :class:`ScalarCode` and returns one C expression computing the op
as NumPy does, or None where this target cannot (then the node runs its Python ``perform``). The
C and CUDA backends share that expression; a row may give a ``cuda`` override where CUDA differs.
The backend supplies what differs between targets: how a value converts between dtypes and which
C type a dtype is computed in. Helper names (``sd_floordiv_i32``, ``SD_FMAX``, ``sd_expf``...)
are defined by both targets' headers (``kernels/c/symdl_math.h``, ``kernels/cuda/scalar.cuh``).

Booleans are bytes holding 0 or 1 in memory on every target.

>>> code = ScalarCode(('a', 'b'), ('float32', 'float32'), 'float32', (None, None))
>>> c_arith('+')(code)
'(a + b)'
>>> c_float_fn('exp')(code)
'sd_expf(a)'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

# the C type each dtype is stored in (bool: 0 or 1 in a byte)
C_TYPES = {
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
_TAGS = {"int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "u8", "uint16": "u16",
         "uint32": "u32", "uint64": "u64", "float32": "f32", "float64": "f64"}  # fmt: skip


def kind(dtype: str) -> str:
    """'b', 'i', 'u' or 'f'."""
    return "b" if dtype == "bool" else np.dtype(dtype).kind


def c_convert(expr: str, frm: str, to: str) -> str:
    """``expr`` (of dtype ``frm``) converted to ``to`` as NumPy's ``astype``, in plain C."""
    if frm == to:
        return expr
    if to == "bool":
        return f"(uint8_t)({expr} != 0)"
    return f"(({C_TYPES[to]})({expr}))"


@dataclass(frozen=True)
class ScalarCode:
    """What a scalar op's code is written from.

    - ``args``: C expressions of the inputs, each in its dtype's compute type;
    - ``in_dtypes`` and ``out``: the dtypes of the inputs and of the result;
    - ``consts``: each input's value where it is a constant known to the code, else None;
    - ``convert(expr, frm, to)``: the target's conversion; ``compute(dtype)``: the dtype a value of
      ``dtype`` is computed in (CUDA computes float16 in float32); ``ctypes``: the target's C type
      of each compute dtype.
    """

    args: tuple[str, ...]
    in_dtypes: tuple[str, ...]
    out: str
    consts: tuple[object, ...]
    convert: Callable[[str, str, str], str] = c_convert
    compute: Callable[[str], str] = lambda dtype: dtype
    ctypes: Mapping[str, str] = field(default_factory=lambda: C_TYPES)

    @property
    def a(self) -> list[str]:
        """The inputs converted to the output dtype (NumPy computes arithmetic in it)."""
        return [self.convert(x, d, self.out) for x, d in zip(self.args, self.in_dtypes)]

    @property
    def kind(self) -> str:
        return kind(self.out)

    @property
    def tag(self) -> str:
        """The output's short type tag in helper names (``sd_floordiv_i32``)."""
        return _TAGS[self.compute(self.out)]

    @property
    def ctype(self) -> str:
        """The output's C type (of its compute dtype)."""
        return self.ctypes[self.compute(self.out)]

    def fn(self, name: str) -> str:
        """A libm function for the output's float type (``expf`` or ``exp``)."""
        return f"{name}f" if self.compute(self.out) == "float32" else name


CodeFn = Callable[[ScalarCode], "str | None"]


def c_arith(symbol: str, on_bool: str | None = None) -> CodeFn:
    """A binary operator in the output dtype; ``on_bool`` is the operator for booleans (else None)."""

    def code(e: ScalarCode) -> str | None:
        if e.kind == "b":
            return f"({e.a[0]} {on_bool} {e.a[1]})" if on_bool else None
        return f"({e.a[0]} {symbol} {e.a[1]})"

    return code


def c_compare(symbol: str) -> CodeFn:
    """A comparison, done in the inputs' promoted dtype as NumPy does."""

    def code(e: ScalarCode) -> str:
        common = str(np.result_type(*e.in_dtypes))
        x, y = (e.convert(v, d, common) for v, d in zip(e.args, e.in_dtypes))
        return f"({x} {symbol} {y})"

    return code


def c_bitwise(symbol: str) -> CodeFn:
    def code(e: ScalarCode) -> str | None:
        if e.kind == "f":
            return None
        return f"(({e.ctype})({e.a[0]} {symbol} {e.a[1]}))"

    return code


def c_classify(name: str, on_integer: str) -> CodeFn:
    """isnan, isinf, isfinite: constant on integers."""

    def code(e: ScalarCode) -> str:
        if kind(e.in_dtypes[0]) != "f":
            return on_integer
        return f"({name}({e.args[0]}) != 0)"

    return code


def c_rounding(name: str) -> CodeFn:
    def code(e: ScalarCode) -> str:
        return e.fn(name) + f"({e.a[0]})" if e.kind == "f" else e.a[0]

    return code


def c_helper(name: str, floats_only: bool = False, no_bool: bool = True) -> CodeFn:
    """A typed helper of the targets' headers: ``sd_<name>_<tag>(args...)``."""

    def code(e: ScalarCode) -> str | None:
        if (floats_only and e.kind != "f") or (no_bool and e.kind == "b"):
            return None
        return f"sd_{name}_{e.tag}({', '.join(e.a)})"

    return code


def c_extremum(float_macro: str, int_macro: str) -> CodeFn:
    def code(e: ScalarCode) -> str:
        return f"{float_macro if e.kind == 'f' else int_macro}({e.a[0]}, {e.a[1]})"

    return code


# float32 versions of symdl's own that vectorize (kernels/c/symdl_math.h)
_OWN_FLOAT32 = {"exp": "sd_expf", "log": "sd_logf", "log1p": "sd_log1pf", "expm1": "sd_expm1f", "tanh": "sd_tanhf"}


def c_float_fn(libm: str) -> CodeFn:
    """A libm function of float arguments (NumPy computes integer inputs in float64)."""

    def code(e: ScalarCode) -> str | None:
        if e.kind != "f":
            return None
        if e.compute(e.out) == "float32":
            if libm in _OWN_FLOAT32:
                return f"{_OWN_FLOAT32[libm]}({e.a[0]})"
            if libm in ("erf", "erfc"):  # no vectorized float version: the double one, rounded
                return f"(float){libm}((double){e.a[0]})"
        return f"{e.fn(libm)}({', '.join(e.a)})"

    return code


def c_sigmoid_like(name: str) -> CodeFn:
    def code(e: ScalarCode) -> str | None:
        if e.kind != "f":
            return None
        return f"sd_{name}{'f' if e.compute(e.out) == 'float32' else ''}({e.a[0]})"

    return code


def literal(value: object, dtype: str, ctypes: Mapping[str, str] = C_TYPES) -> str:
    """An exact C literal of ``value`` as ``dtype`` (C99 and CUDA C++ alike: hex floats), with the
    target's C type names ``ctypes``."""
    v = np.asarray(value, dtype=dtype).reshape(()).item()
    if dtype == "bool":
        return "1" if v else "0"
    if kind(dtype) == "f":
        single = dtype != "float64"  # float16 is computed in float
        f = float(v)
        if f != f:
            return '__builtin_nanf("")' if single else '__builtin_nan("")'
        if f in (float("inf"), float("-inf")):
            return ("-" if f < 0 else "") + ("__builtin_inff()" if single else "__builtin_inf()")
        return f"{f.hex()}{'f' if single else ''}"
    if dtype == "int64" and v == -(2**63):
        return "(-9223372036854775807LL - 1)"
    return f"(({ctypes[dtype]}){int(v)}{'ULL' if kind(dtype) == 'u' else 'LL'})"
