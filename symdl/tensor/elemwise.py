"""Elementwise operations: one table of scalar ops, and the ``Elemwise`` op that maps one over
broadcast tensors.

Adding an elementwise op is one ``_scalar(...)`` entry: its NumPy function, its derivative and
its C expression (``c``, shared by the C and CUDA backends; ``cuda`` overrides it where CUDA
differs; see ``symdl.tensor.scalar_code``).

>>> import symdl.tensor as T
>>> x, y = T.vector('x'), T.matrix('y')
>>> z = T.tanh(x * y)
>>> z.type
float32(?, ?)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import ALL_INPUTS, Apply, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor import scalar_code as sc
from symdl.tensor.scalar_code import CodeFn, ScalarCode
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import TensorConstant, as_tensor_variable, constant
from symdl.utils import describe


@dataclass(frozen=True, eq=False)
class ScalarOp:
    """A scalar function: ``impl`` computes it on NumPy arrays; ``grad(inputs, output, gz)`` returns
    one symbolic gradient per input (None where the input has no gradient path); ``c`` writes
    its C expression (``cuda``: CUDA's, where it differs); ``cost`` is its relative price."""

    name: str
    nin: int
    impl: Callable[..., np.ndarray]
    grad: Callable[..., list] | None = None
    # Called on one-element arrays to find the output dtype; defaults to impl.
    dtype_like: Callable[..., np.ndarray] | None = None
    commutative: bool = False
    associative: bool = False
    params: tuple = field(default=())
    c: CodeFn | None = None
    cuda: CodeFn | None = None
    cost: int = 1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScalarOp) and (self.name, self.params) == (other.name, other.params)

    def __hash__(self) -> int:
        return hash((self.name, self.params))

    def __str__(self) -> str:
        return self.name

    def __reduce__(self) -> tuple:
        # impl and grad are lambdas, which pickle cannot carry: a scalar op travels by its name
        # (a cast by its dtype) and is looked up in the registry on the other side.
        if self.name.startswith("cast_"):
            return (cast_scalar_op, self.params)
        return (scalar_op_named, (self.name,))

    def output_dtype(self, dtypes: Sequence[str]) -> str:
        return _output_dtype(self, tuple(dtypes))

    def stable_text(self) -> str:
        """Its text for fingerprints: only a registered op is known by its name in another process."""
        from symdl.graph.fingerprint import Unstable, stable_text

        if SCALAR_OPS.get(self.name) is not self:
            raise Unstable(f"unregistered scalar op {self.name}")
        return f"scalar:{self.name}:{stable_text(self.params)}"

    def code(self, target: str, e: ScalarCode) -> str | None:
        """The C expression of this op for ``target`` ('c' or 'cuda'), or None where it has none."""
        write = self.cuda if target == "cuda" and self.cuda is not None else self.c
        return None if write is None else write(e)


@functools.lru_cache(maxsize=4096)
def _output_dtype(op: ScalarOp, dtypes: tuple[str, ...]) -> str:
    probe = op.dtype_like or op.impl
    try:
        with np.errstate(all="ignore"):
            out = probe(*[np.ones(1, dtype=d) for d in dtypes])
    except TypeError as exc:
        raise TypeMismatch(f"{op.name} does not accept dtypes ({', '.join(dtypes)}): {exc}") from None
    return str(out.dtype)


SCALAR_OPS: dict[str, ScalarOp] = {}


def scalar_op_named(name: str) -> ScalarOp:
    """The registered scalar op called ``name`` (how pickled graphs find theirs again)."""
    return SCALAR_OPS[name]


def _scalar(name: str, nin: int, impl: Callable, grad: Callable | None = None, **kw: Any) -> ScalarOp:
    op = ScalarOp(name, nin, impl, grad, **kw)
    SCALAR_OPS[name] = op
    return op


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows, so both branches are stable.
    if x.dtype.kind not in "fc":
        x = x.astype(np.exp(np.ones(1, x.dtype)).dtype)  # -x on unsigned integers would wrap
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(e.dtype, copy=False)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x, np.zeros((), dtype=np.result_type(x, np.float16)))


def _erf(x: np.ndarray) -> np.ndarray:
    out_dtype = np.exp(np.ones(1, x.dtype)).dtype
    return np.vectorize(math.erf, otypes=[out_dtype])(x) if x.size else np.empty(x.shape, out_dtype)


def _erfc(x: np.ndarray) -> np.ndarray:
    out_dtype = np.exp(np.ones(1, x.dtype)).dtype
    return np.vectorize(math.erfc, otypes=[out_dtype])(x) if x.size else np.empty(x.shape, out_dtype)


def _round(x: np.ndarray) -> np.ndarray:
    return np.round(x)


def _zero_grads(n: int) -> Callable:
    """Piecewise-constant functions: the gradient is zero almost everywhere."""
    return lambda inputs, out, gz: [zeros_like_float(x) for x in inputs[:n]]


# ---------------------------------------------------------------- the table
_ln2, _ln10 = math.log(2.0), math.log(10.0)
_EXPENSIVE = 8  # cost of a transcendental function or a division, relative to an add


def _pow_c(e: ScalarCode) -> str | None:
    if e.kind != "f":
        return None
    if e.consts[1] is not None and e.consts[1] == 2:
        return f"({e.a[0]} * {e.a[0]})"
    return f"{e.fn('pow')}({e.a[0]}, {e.a[1]})"


def _pow_cuda(e: ScalarCode) -> str | None:
    return _pow_c(e) if e.kind == "f" else f"symdl_ipow({e.a[0]}, {e.a[1]})"


def _neg_c(e: ScalarCode) -> str | None:
    if e.kind == "b":
        return None
    return f"(({e.ctype})(0 - {e.a[0]}))" if e.kind == "u" else f"(-{e.a[0]})"


def _abs_c(e: ScalarCode) -> str:
    if e.kind == "f":
        return f"{e.fn('fabs')}({e.a[0]})"
    return f"({e.a[0]} < 0 ? ({e.ctype})(0 - {e.a[0]}) : {e.a[0]})" if e.kind == "i" else e.a[0]


def _sign_c(e: ScalarCode) -> str | None:
    x, t = e.a[0], e.ctype
    if e.kind == "f":
        return f"({x} > 0 ? ({t})1 : ({x} < 0 ? ({t})-1 : {x}))"
    if e.kind == "i":
        return f"(({t})(({x} > 0) - ({x} < 0)))"
    return None if e.kind == "b" else f"(({t})({x} > 0))"


def _clip_c(e: ScalarCode) -> str:
    hi, lo = ("SD_FMIN", "SD_FMAX") if e.kind == "f" else ("SD_IMIN", "SD_IMAX")
    return f"{hi}({lo}({e.a[0]}, {e.a[1]}), {e.a[2]})"


def _invert_c(e: ScalarCode) -> str | None:
    if e.kind == "f":
        return None
    return f"(({e.ctype})!{e.a[0]})" if e.kind == "b" else f"(({e.ctype})~{e.a[0]})"


def _float_only(write: CodeFn) -> CodeFn:
    return lambda e: write(e) if e.kind == "f" else None


# arithmetic
s_add = _scalar(
    "add", 2, np.add, lambda i, o, g: [g, g], commutative=True, associative=True, c=sc.c_arith("+", on_bool="|")
)
s_sub = _scalar("sub", 2, np.subtract, lambda i, o, g: [g, -g], c=sc.c_arith("-"))
s_mul = _scalar(
    "mul",
    2,
    np.multiply,
    lambda i, o, g: [g * i[1], g * i[0]],
    commutative=True,
    associative=True,
    c=sc.c_arith("*", on_bool="&"),
)
s_true_div = _scalar(
    "true_div",
    2,
    np.true_divide,
    lambda i, o, g: [g / i[1], -g * o / i[1]],
    c=_float_only(sc.c_arith("/")),
    cost=_EXPENSIVE,
)
s_floor_div = _scalar("floor_div", 2, np.floor_divide, _zero_grads(2), c=sc.c_helper("floordiv"), cost=_EXPENSIVE)
s_mod = _scalar(
    "mod", 2, np.mod, lambda i, o, g: [g, -g * floor_div(i[0], i[1])], c=sc.c_helper("mod"), cost=_EXPENSIVE
)
s_pow = _scalar(
    "pow",
    2,
    np.power,
    lambda i, o, g: [
        # x**0 is flat in x, even at x = 0 where y * x**(y-1) would be 0 * inf.
        g * where(eq(i[1], 0), 0, i[1] * pow(i[0], i[1] - 1)),
        # d(x**y)/dy = x**y log(x) is real only for x > 0; 0 elsewhere (0**y is flat in y).
        g * where(gt(i[0], 0), o * log(where(gt(i[0], 0), i[0], 1)), 0),
    ],
    c=_pow_c,
    cuda=_pow_cuda,
    cost=_EXPENSIVE,
)
s_neg = _scalar("neg", 1, np.negative, lambda i, o, g: [-g], c=_neg_c)
s_abs = _scalar("abs", 1, np.abs, lambda i, o, g: [g * sign(i[0])], c=_abs_c)
s_sign = _scalar("sign", 1, np.sign, _zero_grads(1), c=_sign_c)


def _extremum_grads(wins: Callable) -> Callable:
    """Gradient of maximum (``wins=gt``) or minimum (``lt``): it goes to the winning input; a tie
    shares it equally, except that a constant input takes the whole tie, so the kink of
    ``relu = maximum(x, 0)`` has sub-gradient 0 at 0."""

    def grads(i: list, o: Variable, g: Variable) -> list:
        x, y = i
        # Against a constant c, the output wins exactly where x does (max(x, c) > c iff x > c):
        # asking the output leaves x to its one client, so x and the extremum fuse into one loop
        # (relu(conv + b) in one pass, with no pre-activation kept for the backward pass).
        if isinstance(y, TensorConstant):
            return [g * wins(o, y), None]
        if isinstance(x, TensorConstant):
            return [None, g * wins(o, x)]
        tie, half = eq(x, y), g * 0.5
        return [where(tie, half, g * wins(x, y)), where(tie, half, g * wins(y, x))]

    return grads


s_maximum = _scalar(
    "maximum",
    2,
    np.maximum,
    _extremum_grads(lambda a, b: gt(a, b)),
    commutative=True,
    c=sc.c_extremum("SD_FMAX", "SD_IMAX"),
)
s_minimum = _scalar(
    "minimum",
    2,
    np.minimum,
    _extremum_grads(lambda a, b: lt(a, b)),
    commutative=True,
    c=sc.c_extremum("SD_FMIN", "SD_IMIN"),
)
s_sqr = _scalar(
    "sqr",
    1,
    np.square,
    lambda i, o, g: [g * 2 * i[0]],
    c=lambda e: f"({e.a[0]} & {e.a[0]})" if e.kind == "b" else f"({e.a[0]} * {e.a[0]})",
)
s_sqrt = _scalar("sqrt", 1, np.sqrt, lambda i, o, g: [g * 0.5 / o], c=sc.c_float_fn("sqrt"), cost=_EXPENSIVE)
s_reciprocal = _scalar(
    "reciprocal",
    1,
    lambda x: np.true_divide(1, x),
    lambda i, o, g: [-g * o * o],
    c=_float_only(lambda e: f"(({e.ctype})1 / {e.a[0]})"),
)

# exponentials and logarithms
s_exp = _scalar("exp", 1, np.exp, lambda i, o, g: [g * o], c=sc.c_float_fn("exp"), cost=_EXPENSIVE)
s_exp2 = _scalar("exp2", 1, np.exp2, lambda i, o, g: [g * o * _ln2], c=sc.c_float_fn("exp2"), cost=_EXPENSIVE)
s_expm1 = _scalar("expm1", 1, np.expm1, lambda i, o, g: [g * (o + 1)], c=sc.c_float_fn("expm1"), cost=_EXPENSIVE)
s_log = _scalar("log", 1, np.log, lambda i, o, g: [g / i[0]], c=sc.c_float_fn("log"), cost=_EXPENSIVE)
s_log2 = _scalar("log2", 1, np.log2, lambda i, o, g: [g / (i[0] * _ln2)], c=sc.c_float_fn("log2"), cost=_EXPENSIVE)
s_log10 = _scalar("log10", 1, np.log10, lambda i, o, g: [g / (i[0] * _ln10)], c=sc.c_float_fn("log10"), cost=_EXPENSIVE)
s_log1p = _scalar("log1p", 1, np.log1p, lambda i, o, g: [g / (1 + i[0])], c=sc.c_float_fn("log1p"), cost=_EXPENSIVE)

# trigonometry
s_sin = _scalar("sin", 1, np.sin, lambda i, o, g: [g * cos(i[0])], c=sc.c_float_fn("sin"), cost=_EXPENSIVE)
s_cos = _scalar("cos", 1, np.cos, lambda i, o, g: [-g * sin(i[0])], c=sc.c_float_fn("cos"), cost=_EXPENSIVE)
s_tan = _scalar("tan", 1, np.tan, lambda i, o, g: [g * (1 + o * o)], c=sc.c_float_fn("tan"), cost=_EXPENSIVE)
s_arcsin = _scalar(
    "arcsin", 1, np.arcsin, lambda i, o, g: [g / sqrt(1 - i[0] * i[0])], c=sc.c_float_fn("asin"), cost=_EXPENSIVE
)
s_arccos = _scalar(
    "arccos", 1, np.arccos, lambda i, o, g: [-g / sqrt(1 - i[0] * i[0])], c=sc.c_float_fn("acos"), cost=_EXPENSIVE
)
s_arctan = _scalar(
    "arctan", 1, np.arctan, lambda i, o, g: [g / (1 + i[0] * i[0])], c=sc.c_float_fn("atan"), cost=_EXPENSIVE
)
s_arctan2 = _scalar(
    "arctan2",
    2,
    np.arctan2,
    lambda i, o, g: [g * i[1] / (i[0] * i[0] + i[1] * i[1]), -g * i[0] / (i[0] * i[0] + i[1] * i[1])],
    c=sc.c_float_fn("atan2"),
    cost=_EXPENSIVE,
)
s_sinh = _scalar("sinh", 1, np.sinh, lambda i, o, g: [g * cosh(i[0])], c=sc.c_float_fn("sinh"), cost=_EXPENSIVE)
s_cosh = _scalar("cosh", 1, np.cosh, lambda i, o, g: [g * sinh(i[0])], c=sc.c_float_fn("cosh"), cost=_EXPENSIVE)
s_tanh = _scalar("tanh", 1, np.tanh, lambda i, o, g: [g * (1 - o * o)], c=sc.c_float_fn("tanh"), cost=_EXPENSIVE)

# special functions
s_sigmoid = _scalar(
    "sigmoid",
    1,
    _sigmoid,
    lambda i, o, g: [g * o * (1 - o)],
    dtype_like=np.exp,
    c=sc.c_sigmoid_like("sigmoid"),
    cost=_EXPENSIVE,
)
s_softplus = _scalar(
    "softplus",
    1,
    _softplus,
    lambda i, o, g: [g * sigmoid(i[0])],
    dtype_like=np.exp,
    c=sc.c_sigmoid_like("softplus"),
    cost=_EXPENSIVE,
)
s_erf = _scalar(
    "erf",
    1,
    _erf,
    lambda i, o, g: [g * (2 / math.sqrt(math.pi)) * exp(-i[0] * i[0])],
    dtype_like=np.exp,
    c=sc.c_float_fn("erf"),
    cost=_EXPENSIVE,
)
s_erfc = _scalar(
    "erfc",
    1,
    _erfc,
    lambda i, o, g: [g * (-2 / math.sqrt(math.pi)) * exp(-i[0] * i[0])],
    dtype_like=np.exp,
    c=sc.c_float_fn("erfc"),
    cost=_EXPENSIVE,
)

# rounding: flat almost everywhere
s_floor = _scalar("floor", 1, np.floor, _zero_grads(1), c=sc.c_rounding("floor"))
s_ceil = _scalar("ceil", 1, np.ceil, _zero_grads(1), c=sc.c_rounding("ceil"))
s_round = _scalar("round", 1, _round, _zero_grads(1), c=sc.c_rounding("nearbyint"))
s_trunc = _scalar("trunc", 1, np.trunc, _zero_grads(1), c=sc.c_rounding("trunc"))

# comparisons and logic: boolean outputs carry no gradient
s_lt = _scalar("lt", 2, np.less, c=sc.c_compare("<"))
s_le = _scalar("le", 2, np.less_equal, c=sc.c_compare("<="))
s_gt = _scalar("gt", 2, np.greater, c=sc.c_compare(">"))
s_ge = _scalar("ge", 2, np.greater_equal, c=sc.c_compare(">="))
s_eq = _scalar("eq", 2, np.equal, commutative=True, c=sc.c_compare("=="))
s_neq = _scalar("neq", 2, np.not_equal, commutative=True, c=sc.c_compare("!="))
s_isnan = _scalar("isnan", 1, np.isnan, c=sc.c_classify("isnan", on_integer="0"))
s_isinf = _scalar("isinf", 1, np.isinf, c=sc.c_classify("isinf", on_integer="0"))
s_isfinite = _scalar("isfinite", 1, np.isfinite, c=sc.c_classify("isfinite", on_integer="1"))
s_and = _scalar("bitwise_and", 2, np.bitwise_and, commutative=True, associative=True, c=sc.c_bitwise("&"))
s_or = _scalar("bitwise_or", 2, np.bitwise_or, commutative=True, associative=True, c=sc.c_bitwise("|"))
s_xor = _scalar("bitwise_xor", 2, np.bitwise_xor, commutative=True, associative=True, c=sc.c_bitwise("^"))
s_invert = _scalar("invert", 1, np.invert, c=_invert_c)

# selection
s_where = _scalar(
    "where",
    3,
    np.where,
    lambda i, o, g: [None, where(i[0], g, 0), where(i[0], 0, g)],
    dtype_like=lambda c, a, b: np.where(c.astype(bool), a, b),
    c=lambda e: f"({e.args[0]} ? {e.a[1]} : {e.a[2]})",
)
s_clip = _scalar(
    "clip",
    3,
    lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    # At a bound the gradient goes to x, as in Theano.
    lambda i, o, g: [g * (ge(i[0], i[1]) & le(i[0], i[2])), g * lt(i[0], i[1]), g * gt(i[0], i[2])],
    c=_clip_c,
)
s_identity = _scalar("identity", 1, lambda x: x.copy(), lambda i, o, g: [g], c=lambda e: e.a[0])


@functools.cache
def cast_scalar_op(dtype: str) -> ScalarOp:
    """The scalar op converting to ``dtype``; float-to-float gradients pass, to integer they stop."""

    def impl(x: np.ndarray) -> np.ndarray:
        return x.astype(dtype)

    def grad(inputs: list, out: Variable, gz: Variable) -> list:
        return [cast(gz, inputs[0].dtype)] if inputs[0].type.is_float else [None]

    op = ScalarOp(
        f"cast_{dtype}", 1, impl, grad, params=(dtype,), c=lambda e: e.convert(e.args[0], e.in_dtypes[0], e.out)
    )
    SCALAR_OPS[op.name] = op
    return op


for _dtype in ("bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"):
    cast_scalar_op(_dtype)


# ---------------------------------------------------------------- broadcasting
def broadcast_static_shapes(opname: str, inputs: Sequence[Variable]) -> tuple[int | None, ...]:
    """NumPy broadcasting on static shapes; a known conflict raises ShapeError naming both inputs."""
    ndim = max((v.type.ndim for v in inputs), default=0)
    out: list[int | None] = []
    for axis in range(ndim):
        known: int | None = None
        known_from: Variable | None = None
        all_one = True
        for v in inputs:
            shape = v.type.shape
            k = axis - (ndim - len(shape))
            if k < 0:
                continue
            dim = shape[k]
            if dim == 1:
                continue
            all_one = False
            if dim is None:
                continue
            if known is None:
                known, known_from = dim, v
            elif dim != known:
                raise ShapeError(
                    f"{opname}: shapes {shape_str(known_from.type.shape)} and {shape_str(v.type.shape)} "
                    f"cannot broadcast (axis {axis - ndim}: {known} vs {dim}) — "
                    f"{describe(known_from)}, {describe(v)}"
                )
        out.append(1 if all_one else known)
    return tuple(out)


# A Python number of each kind: what NumPy 2 promotes a weak operand as (its value aside).
_WEAK_KIND_EXAMPLE = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


def _resolve_weak(inputs: list[Variable], opname: str) -> list[Variable]:
    """Give weak operands (Python scalars, shapes) the dtype NumPy 2 would give a Python number:
    their strong partners', promoted by kind. A weak constant that does not fit raises; a
    symbolic one is cast (its value is only known when the function runs)."""
    if not any(getattr(v, "weak", False) for v in inputs):
        return inputs
    strong = [np.dtype(v.dtype) for v in inputs if not getattr(v, "weak", False) and v.dtype != "bool"]
    if not strong:
        strong = [np.dtype(v.dtype) for v in inputs if not getattr(v, "weak", False)]
    if not strong:
        return inputs
    resolved = []
    for v in inputs:
        if getattr(v, "weak", False):
            dtype = np.result_type(*strong, _WEAK_KIND_EXAMPLE[np.dtype(v.dtype).kind])
            if not isinstance(v, TensorConstant):
                v = cast(v, dtype)
            elif v.dtype != dtype:
                v = constant(_fit_weak_constant(v, dtype, opname))
            else:
                v = constant(v.data)
        resolved.append(v)
    return resolved


def _fit_weak_constant(v: TensorConstant, dtype: np.dtype, opname: str) -> np.ndarray:
    """The data of a weak constant in ``dtype``; an integer that does not fit raises."""
    data = v.data.astype(dtype)
    if dtype.kind in "iub" and not np.array_equal(data, v.data):
        value = v.data.item() if v.data.ndim == 0 else v.data.tolist()
        raise TypeMismatch(f"{opname}: Python integer {value} does not fit in {dtype} ({describe(v)})")
    return data


class Elemwise(Op):
    """Apply a scalar op elementwise over NumPy-broadcast inputs."""

    view_map = {}
    grad_checks_shapes = True
    broadcasts_inputs = True
    inplace_pattern = {0: ALL_INPUTS}

    __props__ = ("scalar_op",)

    def __init__(self, scalar_op: ScalarOp):
        self.scalar_op = scalar_op
        self.name = scalar_op.name

    def make_node(self, *inputs: Any) -> Apply:
        so = self.scalar_op
        if len(inputs) != so.nin:
            raise TypeError(f"{so.name} takes {so.nin} inputs, got {len(inputs)}")
        variables = [as_tensor_variable(x) for x in inputs]
        # Arithmetic among weak values (shapes, Python numbers) stays weak, as Python ints
        # stay ints; a comparison's boolean and an explicit cast are strong.
        weak = not so.name.startswith("cast_") and all(getattr(v, "weak", False) for v in variables)
        variables = _resolve_weak(variables, so.name)
        shape = broadcast_static_shapes(so.name, variables)
        dtype = so.output_dtype([v.dtype for v in variables])
        node = Apply(self, variables, [TensorType(dtype, shape)])
        if weak and dtype != "bool":
            node.outputs[0].weak = True
        return node

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = self.scalar_op.impl(*inputs)
        dtype = node.outputs[0].dtype
        if not isinstance(out, np.ndarray) or out.dtype != dtype:
            out = np.asarray(out, dtype=dtype)
        return [out]

    def infer_shape(self, node: Apply, input_shapes: Sequence[Sequence[Variable]]) -> list:
        from symdl.tensor.shape import broadcast_shape_symbolic

        return [broadcast_shape_symbolic(node, input_shapes)]

    @property
    def differentiable(self) -> bool:  # type: ignore[override]
        return self.scalar_op.grad is not None

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]) -> list:
        from symdl.gradient import grad_undefined

        if self.scalar_op.grad is None:
            return [grad_undefined(self, i, x, "it has no gradient") for i, x in enumerate(inputs)]
        grads = self.scalar_op.grad(list(inputs), outputs[0], output_grads[0])
        result = []
        for x, g in zip(inputs, grads):
            if g is None or not x.type.is_float or isinstance(x, TensorConstant):
                result.append(None)
                continue
            g = as_tensor_variable(g)
            if _may_broadcast(x, inputs):
                g = sum_to_shape_of(g, x)
            if g.dtype != x.dtype:
                g = cast(g, x.dtype)
            result.append(g)
        return result


def _may_broadcast(x: Variable, inputs: Sequence[Variable]) -> bool:
    """Whether the other inputs may have broadcast ``x`` (then its gradient must be summed back)."""
    ndim = max(v.ndim for v in inputs)
    if x.ndim < ndim:
        return True
    for k, d in enumerate(x.type.shape):
        if d is None or d == 1:
            for v in inputs:
                j = k - (ndim - v.ndim)
                if v is not x and j >= 0 and v.type.shape[j] != 1:
                    return True
    return False


def sum_to_shape_of(g: Variable, x: Variable) -> Variable:
    """Sum ``g`` over the axes along which ``x`` was broadcast, giving ``x``'s shape."""
    from symdl.tensor.reduction import sum as tsum
    from symdl.tensor.shape import reduce_to_shape

    if g.type.shape == x.type.shape and None not in x.type.shape:
        return g
    lead = g.ndim - x.ndim
    axes = list(range(lead))
    runtime = False
    for k, (xd, gd) in enumerate(zip(x.type.shape, g.type.shape[lead:])):
        if xd == 1 and gd != 1:
            axes.append(lead + k)
        elif xd is None and gd != 1:
            # x may hold a size-1 axis that broadcast at run time; only the values can tell.
            runtime = True
    if runtime:
        return reduce_to_shape(g, x)
    if axes:
        g = tsum(g, axis=tuple(axes), keepdims=True)
        if lead:
            from symdl.tensor.shape import reshape

            g = reshape(g, tuple(d if d is not None else -1 for d in g.type.shape[lead:]), ndim=x.ndim)
    return g


@functools.cache
def elemwise_op(scalar_op: ScalarOp) -> Elemwise:
    return Elemwise(scalar_op)


def _apply(scalar_op: ScalarOp, *args: Any) -> Variable:
    return elemwise_op(scalar_op)(*args)


def _unary(scalar_op: ScalarOp, doc: str) -> Callable[[Any], Variable]:
    def fn(x: Any) -> Variable:
        return _apply(scalar_op, x)

    fn.__name__ = fn.__qualname__ = scalar_op.name
    fn.__doc__ = doc
    return fn


def _binary(scalar_op: ScalarOp, doc: str) -> Callable[[Any, Any], Variable]:
    def fn(x: Any, y: Any) -> Variable:
        return _apply(scalar_op, x, y)

    fn.__name__ = fn.__qualname__ = scalar_op.name
    fn.__doc__ = doc
    return fn


add = _binary(s_add, "x + y, broadcast.")
sub = _binary(s_sub, "x - y, broadcast.")
mul = _binary(s_mul, "x * y, broadcast.")
true_div = _binary(s_true_div, "x / y (true division: integers give floats, as NumPy).")
floor_div = _binary(s_floor_div, "x // y, rounding towards minus infinity as NumPy.")
mod = _binary(s_mod, "x % y with the sign of y, as NumPy and Python.")
pow = _binary(s_pow, "x ** y.")
maximum = _binary(s_maximum, "Elementwise maximum; ties share the gradient, a constant input takes it all.")
minimum = _binary(s_minimum, "Elementwise minimum; ties share the gradient, a constant input takes it all.")
arctan2 = _binary(s_arctan2, "arctan(y / x) in the right quadrant, as np.arctan2(y, x).")
lt = _binary(s_lt, "x < y (boolean).")
le = _binary(s_le, "x <= y (boolean).")
gt = _binary(s_gt, "x > y (boolean).")
ge = _binary(s_ge, "x >= y (boolean).")
eq = _binary(s_eq, "x == y elementwise (boolean); ``==`` on variables is identity, as in Theano.")
neq = _binary(s_neq, "x != y elementwise (boolean).")
bitwise_and = _binary(s_and, "x & y on booleans or integers.")
bitwise_or = _binary(s_or, "x | y on booleans or integers.")
bitwise_xor = _binary(s_xor, "x ^ y on booleans or integers.")

neg = _unary(s_neg, "-x.")
abs = _unary(s_abs, "|x|; its gradient at 0 is 0 (a sub-gradient).")
sign = _unary(s_sign, "-1, 0 or 1 as the sign of x.")
sqr = _unary(s_sqr, "x * x.")
sqrt = _unary(s_sqrt, "Square root.")
reciprocal = _unary(s_reciprocal, "1 / x.")
exp = _unary(s_exp, "e ** x.")
exp2 = _unary(s_exp2, "2 ** x.")
expm1 = _unary(s_expm1, "exp(x) - 1, accurate near 0.")
log = _unary(s_log, "Natural logarithm.")
log2 = _unary(s_log2, "Base-2 logarithm.")
log10 = _unary(s_log10, "Base-10 logarithm.")
log1p = _unary(s_log1p, "log(1 + x), accurate near 0.")
sin = _unary(s_sin, "Sine.")
cos = _unary(s_cos, "Cosine.")
tan = _unary(s_tan, "Tangent.")
arcsin = _unary(s_arcsin, "Inverse sine.")
arccos = _unary(s_arccos, "Inverse cosine.")
arctan = _unary(s_arctan, "Inverse tangent.")
sinh = _unary(s_sinh, "Hyperbolic sine.")
cosh = _unary(s_cosh, "Hyperbolic cosine.")
tanh = _unary(s_tanh, "Hyperbolic tangent.")
sigmoid = _unary(s_sigmoid, "1 / (1 + exp(-x)), computed without overflow.")
softplus = _unary(s_softplus, "log(1 + exp(x)), computed without overflow.")
erf = _unary(s_erf, "The error function.")
erfc = _unary(s_erfc, "1 - erf(x), accurate for large x.")
floor = _unary(s_floor, "Round down; gradient 0.")
ceil = _unary(s_ceil, "Round up; gradient 0.")
round = _unary(s_round, "Round half to even, as NumPy; gradient 0.")
trunc = _unary(s_trunc, "Round towards 0; gradient 0.")
isnan = _unary(s_isnan, "True where x is NaN.")
isinf = _unary(s_isinf, "True where x is +inf or -inf.")
isfinite = _unary(s_isfinite, "True where x is neither NaN nor infinite.")
invert = _unary(s_invert, "~x: logical not on booleans, bitwise not on integers.")
identity = _unary(s_identity, "A copy of x.")

# Theano's names
true_divide = divide = true_div
int_div = floor_div
power = pow
abs_ = abs
neq_ = neq
and_ = bitwise_and
or_ = bitwise_or
xor = bitwise_xor
arctan2_ = arctan2


def where(condition: Any, x: Any, y: Any) -> Variable:
    """``x`` where ``condition`` holds, else ``y`` (``np.where``; Theano's ``switch``)."""
    condition = as_tensor_variable(condition)
    if condition.dtype != "bool":
        condition = neq(condition, 0)
    return _apply(s_where, condition, x, y)


switch = where


def clip(x: Any, lo: Any, hi: Any) -> Variable:
    """``x`` limited to [lo, hi]; at a bound the gradient still flows to x, as in Theano."""
    return _apply(s_clip, x, lo, hi)


def cast(x: Any, dtype: str) -> Variable:
    """``x`` converted to ``dtype`` (no node when it already has it).

    >>> import symdl.tensor as T
    >>> T.cast(T.fvector(), 'int32').dtype
    'int32'
    """
    x = as_tensor_variable(x)
    dtype = str(np.dtype(dtype))
    if x.dtype == dtype:
        return x
    if isinstance(x, TensorConstant) and x.weak:
        return constant(x.data.astype(dtype))
    return _apply(cast_scalar_op(dtype), x)


def zeros_like_float(x: Variable) -> Variable:
    from symdl.tensor.creation import zeros_like

    return zeros_like(x)


def logical_not(x: Any) -> Variable:
    return invert(cast(x, "bool"))


def logical_and(x: Any, y: Any) -> Variable:
    return bitwise_and(cast(x, "bool"), cast(y, "bool"))


def logical_or(x: Any, y: Any) -> Variable:
    return bitwise_or(cast(x, "bool"), cast(y, "bool"))


# ---------------------------------------------------------------- C and CUDA implementations
@register_impl("c", Elemwise)
def _elemwise_in_c(node: Apply, c: Any) -> str | None:
    n = len(node.inputs)
    return c.elemwise(node, ((node.op.scalar_op, tuple(range(n))),), (n,))


@register_impl("cuda", Elemwise)
def _elemwise_in_cuda(node: Apply, cuda: Any) -> Any:
    n = len(node.inputs)
    return cuda.elemwise(node, ((node.op.scalar_op, tuple(range(n))),), (n,))
