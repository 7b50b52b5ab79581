"""Property test: random expression graphs give the same values with and without rewriting."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symdl
import symdl.tensor as T

_UNARY = {
    "neg": lambda a: -a,
    "exp": lambda a: T.exp(T.tanh(a)),
    "log1p": lambda a: T.log(1.0 + T.abs(a)),
    "tanh": T.tanh,
    "sin": T.sin,
    "cos": T.cos,
    "sqr": lambda a: a**2,
    "sqrt": lambda a: T.abs(a) ** 0.5,
    "sigmoid": T.sigmoid,
    "softplus": lambda a: T.log(1 + T.exp(T.tanh(a))),
    "expm1": lambda a: T.exp(T.tanh(a)) - 1.0,
    "double_neg": lambda a: T.neg(T.neg(a)),
    "times_one": lambda a: a * 1.0 + 0.0,
    "scale": lambda a: (a * 2.0) * 0.5 - 1.0,
    "div_const": lambda a: a / 4.0,
}
_BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.0 + b * b),
    "maximum": T.maximum,
    "minimum": T.minimum,
    "exp_product": lambda a, b: T.exp(T.tanh(a)) * T.exp(T.tanh(b)),
    "common_factor": lambda a, b: a * b + a * 2.0,
}
_SHAPED = {
    "transpose_back": lambda a: a.T.T,
    "sum_keep": lambda a: T.sum(a, axis=-1, keepdims=True) + a,
    "mean_all": lambda a: T.mean(a) * a,
    "max_shift": lambda a: a - T.max(a, axis=-1, keepdims=True),
    "shape_mul": lambda a: a * T.cast(a.shape[-1], a.dtype),
}


@st.composite
def expressions(draw):
    x = T.dmatrix("x")
    row = T.dvector("r")
    pool = [x, row, x * 0.5]
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["unary", "binary", "shaped"]))
        a = draw(st.sampled_from(pool))
        if kind == "unary":
            out = _UNARY[draw(st.sampled_from(sorted(_UNARY)))](a)
        elif kind == "binary":
            b = draw(st.sampled_from(pool))
            out = _BINARY[draw(st.sampled_from(sorted(_BINARY)))](a, b)
        else:
            out = _SHAPED[draw(st.sampled_from(sorted(_SHAPED)))](a)
        pool.append(out)
    outputs = [pool[-1]] + ([pool[-2]] if draw(st.booleans()) and len(pool) > 4 else [])
    use_grad = draw(st.booleans())
    if use_grad:
        outputs.append(symdl.grad(T.sum(pool[-1]), x, disconnected_inputs="ignore"))
    return [x, row], outputs


@settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(expressions())
def test_random_graphs_have_equal_values_with_and_without_rewrites(graph):
    inputs, outputs = graph
    rewritten = symdl.function(inputs, outputs, mode="py", on_unused_input="ignore")
    plain = symdl.function(inputs, outputs, mode="py", optimizer="none", on_unused_input="ignore")
    rng = np.random.default_rng(0)
    values = [rng.uniform(-2, 2, size=(3, 4)), rng.uniform(-2, 2, size=4)]
    for got, want in zip(rewritten(*values), plain(*values)):
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, equal_nan=True)
