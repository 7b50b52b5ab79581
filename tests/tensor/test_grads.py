"""The gradient of every differentiable tensor op checked against central finite differences
(``symdl.testing.verify_grad``), with the cases people get wrong: broadcasting (also of size-1 axes
known only at run time), keepdims and negative axes, ties, kinks, zeros in products, repeated
indices. ``tests/test_grad_coverage.py`` fails for any op without a test here.

Points are picked away from kinks and discontinuities; the behaviour at a kink is checked with
exact values instead.
"""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.tensor import elemwise as ew
from symdl.tensor.composite import Composite
from symdl.tensor.shape import ReduceToShape, shape
from symdl.tensor.type import DTYPES
from symdl.testing import verify_grad

# On the NumPy reference backend (tests/conftest.py); test_gradients_agree_on_every_backend is
# the exception.
pytestmark = pytest.mark.usefixtures("reference_backend")


# Make every cast op exist, so the table below and the coverage test see the same SCALAR_OPS.
for _dtype in DTYPES:
    ew.cast_scalar_op(_dtype)


def uniform(lo, hi, shape=(3, 4), seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def signed(lo, hi, shape=(3, 4), seed=0):
    """Values with |v| in [lo, hi) and random signs."""
    rng = np.random.default_rng(seed)
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


def off_integers(shape=(3, 4), seed=0):
    """Values 0.2 to 0.4 or 0.6 to 0.8 past an integer: away from the jumps of floor, ceil, round."""
    rng = np.random.default_rng(seed)
    return rng.integers(-3, 3, shape) + rng.choice([0.3, 0.7], shape) + rng.uniform(-0.1, 0.1, shape)


def _apply(name):
    return lambda *xs: ew.elemwise_op(ew.SCALAR_OPS[name])(*xs)


# scalar op name -> (build from symbolic inputs, points); every differentiable entry of SCALAR_OPS.
SCALAR_CASES = {
    "add": (_apply("add"), [uniform(-2, 2), uniform(-2, 2, seed=1)]),
    "sub": (_apply("sub"), [uniform(-2, 2), uniform(-2, 2, seed=1)]),
    "mul": (_apply("mul"), [uniform(-2, 2), uniform(-2, 2, seed=1)]),
    "true_div": (_apply("true_div"), [uniform(-2, 2), signed(0.5, 2, seed=1)]),
    "floor_div": (_apply("floor_div"), [np.array([0.3, 1.7, -2.2, 4.1]), np.array([1.5, 1.5, 1.5, 1.9])]),
    "mod": (_apply("mod"), [np.array([0.3, 1.7, -2.2, 4.1]), np.array([1.5, 1.5, 1.5, 1.9])]),
    "pow": (_apply("pow"), [uniform(0.5, 2), uniform(-1.5, 2, seed=1)]),
    "neg": (_apply("neg"), [uniform(-2, 2)]),
    "abs": (_apply("abs"), [signed(0.2, 2)]),
    "sign": (_apply("sign"), [signed(0.2, 2)]),
    "maximum": (_apply("maximum"), [uniform(-2, 2), uniform(-2, 2, seed=1)]),
    "minimum": (_apply("minimum"), [uniform(-2, 2), uniform(-2, 2, seed=1)]),
    "sqr": (_apply("sqr"), [uniform(-2, 2)]),
    "sqrt": (_apply("sqrt"), [uniform(0.2, 3)]),
    "reciprocal": (_apply("reciprocal"), [signed(0.3, 2)]),
    "exp": (_apply("exp"), [uniform(-2, 2)]),
    "exp2": (_apply("exp2"), [uniform(-2, 2)]),
    "expm1": (_apply("expm1"), [uniform(-2, 2)]),
    "log": (_apply("log"), [uniform(0.2, 3)]),
    "log2": (_apply("log2"), [uniform(0.2, 3)]),
    "log10": (_apply("log10"), [uniform(0.2, 3)]),
    "log1p": (_apply("log1p"), [uniform(-0.7, 3)]),
    "sin": (_apply("sin"), [uniform(-3, 3)]),
    "cos": (_apply("cos"), [uniform(-3, 3)]),
    "tan": (_apply("tan"), [uniform(-1.2, 1.2)]),
    "arcsin": (_apply("arcsin"), [uniform(-0.9, 0.9)]),
    "arccos": (_apply("arccos"), [uniform(-0.9, 0.9)]),
    "arctan": (_apply("arctan"), [uniform(-3, 3)]),
    "arctan2": (_apply("arctan2"), [signed(0.3, 2), signed(0.3, 2, seed=1)]),
    "sinh": (_apply("sinh"), [uniform(-2, 2)]),
    "cosh": (_apply("cosh"), [uniform(-2, 2)]),
    "tanh": (_apply("tanh"), [uniform(-2, 2)]),
    "sigmoid": (_apply("sigmoid"), [uniform(-4, 4)]),
    "softplus": (_apply("softplus"), [uniform(-4, 4)]),
    "erf": (_apply("erf"), [uniform(-2, 2)]),
    "erfc": (_apply("erfc"), [uniform(-2, 2)]),
    "floor": (_apply("floor"), [off_integers()]),
    "ceil": (_apply("ceil"), [off_integers()]),
    "round": (_apply("round"), [off_integers()]),
    "trunc": (_apply("trunc"), [off_integers()]),
    "where": (lambda c, x, y: T.where(T.gt(c, 0), x, y), [signed(0.2, 1), uniform(-2, 2), uniform(-2, 2, seed=1)]),
    "clip": (
        _apply("clip"),
        [np.array([-2.0, -0.3, 0.1, 0.45, 1.7, 3.0]), np.full(6, -0.5), np.array([0.2, 0.2, 0.2, 1.0, 1.0, 1.0])],
    ),
    "identity": (_apply("identity"), [uniform(-2, 2)]),
    "cast_float16": (_apply("cast_float16"), [uniform(-2, 2)]),
    "cast_float32": (_apply("cast_float32"), [uniform(-2, 2)]),
    "cast_float64": (_apply("cast_float64"), [uniform(-2, 2).astype("float32")]),
}


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")  # cast_complex* back to float64
@pytest.mark.parametrize("name", sorted(ew.SCALAR_OPS))
def test_scalar_op_gradient(name):
    """Every entry of the elementwise table: checked against finite differences, or (comparisons,
    predicates, bitwise ops, casts to integer, boolean or complex) shown to be disconnected."""
    if name in SCALAR_CASES:
        build, points = SCALAR_CASES[name]
        verify_grad(build, points, rng=0)
        return
    op = ew.elemwise_op(ew.SCALAR_OPS[name])
    try:
        inputs = [T.dvector(f"x{k}") for k in range(op.scalar_op.nin)]
        out = op(*inputs)
    except TypeError:  # bitwise ops take booleans or integers
        inputs = [T.tensor("bool", (None,), f"x{k}") for k in range(op.scalar_op.nin)]
        out = op(*inputs)
    assert not out.type.is_float, f"{name} has a float output: give it a case in SCALAR_CASES"
    with pytest.raises(symdl.errors.DisconnectedInputError):
        symdl.grad(T.sum(T.cast(out, "float64")), inputs[0])


def test_scalar_op_gradient_in_float32():
    verify_grad(lambda x, y: T.tanh(x * y) + T.exp(-x) / y, [uniform(-1, 1), uniform(0.5, 2, seed=1)], rng=0)
    verify_grad(
        lambda x, y: T.tanh(x * y) + T.exp(-x) / y,
        [uniform(-1, 1).astype("float32"), uniform(0.5, 2, seed=1).astype("float32")],
        rng=0,
    )


# ------------------------------------------------------------------ broadcasting
@pytest.mark.parametrize(
    "shape_x, shape_y",
    [((3, 4), (4,)), ((3, 4), (3, 1)), ((1, 4), (3, 1)), ((3, 4), ()), ((2, 1, 4), (3, 1)), ((2, 3, 4), (1, 1, 1))],
)
def test_elemwise_gradient_is_summed_back_to_each_input_shape(shape_x, shape_y):
    points = [uniform(-2, 2, shape_x), uniform(0.5, 2, shape_y, seed=1)]
    verify_grad(lambda x, y: x * y + T.exp(x / y), points, rng=0)


@pytest.mark.parametrize("static", [False, True])
def test_size_one_axis_known_only_at_run_time_gets_a_summed_gradient(static):
    # x is (None, 3): nothing says it will be broadcast, yet a (1, 3) value is.
    x = T.dmatrix("x", shape=(None, 3))
    y = T.dmatrix("y", shape=(4, 3) if static else (None, 3))
    gx, gy = symdl.grad(T.sum(x * y * 2), [x, y])
    xv, yv = uniform(-1, 1, (1, 3)), uniform(-1, 1, (4, 3), seed=1)
    gxv, gyv = symdl.function([x, y], [gx, gy])(xv, yv)
    np.testing.assert_allclose(gxv, 2 * yv.sum(axis=0, keepdims=True))
    np.testing.assert_allclose(gyv, 2 * np.broadcast_to(xv, (4, 3)))
    verify_grad(lambda a, b: a * b, [xv, yv], rng=0)


def test_broadcast_against_a_scalar_input_gives_a_scalar_gradient():
    x, s = T.dvector("x"), T.dscalar("s")
    g = symdl.grad(T.sum(x * s), s)
    assert g.ndim == 0
    assert float(symdl.function([x, s], g)(np.array([1.0, 2.0, 3.0]), 5.0)) == 6.0


# ------------------------------------------------------------------ reductions
REDUCTIONS = {
    "sum": T.sum,
    "prod": T.prod,
    "max": T.max,
    "min": T.min,
    "mean": T.mean,
    "var": T.var,
    "std": T.std,
    "logsumexp": T.logsumexp,
    "norm2": lambda x, axis, keepdims: T.norm(x, 2, axis, keepdims),
    "norm1": lambda x, axis, keepdims: T.norm(x, 1, axis, keepdims),
}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (-1, -3), (0, 1, 2)])
@pytest.mark.parametrize("kind", sorted(REDUCTIONS))
def test_reduction_gradient(kind, axis, keepdims):
    x = signed(0.2, 2, (2, 3, 4))  # distinct values, no zeros: no ties, no kinks
    verify_grad(lambda v: REDUCTIONS[kind](v, axis=axis, keepdims=keepdims), [x], rng=0)


def test_reduction_with_a_dtype_argument():
    verify_grad(lambda v: T.sum(v, axis=1, dtype="float64") * 2, [uniform(-1, 1).astype("float32")], rng=0)


@pytest.mark.parametrize("ddof", [0, 1])
def test_var_and_std_gradient_with_ddof(ddof):
    x = uniform(-2, 2, (4, 5))
    verify_grad(lambda v: T.var(v, axis=0, ddof=ddof), [x], rng=0)
    verify_grad(lambda v: T.std(v, axis=-1, keepdims=True, ddof=ddof), [x], rng=0)


def test_logsumexp_gradient_is_softmax_even_for_huge_values():
    x = T.dvector("x")
    g = symdl.function([x], symdl.grad(T.logsumexp(x), x))(np.array([1000.0, 1000.0, 999.0]))
    e = np.exp([0.0, 0.0, -1.0])
    np.testing.assert_allclose(g, e / e.sum())


def test_max_and_min_ties_share_the_gradient():
    # Documented: tied maxima (minima) split the gradient equally.
    x = T.dmatrix("x")
    values = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, 1.0, 5.0]])
    gmax = symdl.function([x], symdl.grad(T.sum(T.max(x, axis=1)), x))(values)
    np.testing.assert_allclose(gmax, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3], [0, 0, 1]])
    gmin = symdl.function([x], symdl.grad(T.min(x), x))(values)
    np.testing.assert_allclose(gmin, [[0, 0, 0], [0, 0, 0], [1, 0, 0]])


def test_prod_gradient_with_one_zero_and_with_two_zeros():
    x = T.dmatrix("x")
    g = symdl.function([x], symdl.grad(T.sum(T.prod(x, axis=1)), x))
    values = np.array([[2.0, 3.0, 4.0], [2.0, 0.0, 4.0], [0.0, 3.0, 0.0]])
    # No zero: prod / x. One zero: only the zero's gradient survives (the product of the others).
    # Two zeros: every gradient is zero.
    np.testing.assert_allclose(g(values), [[12, 8, 6], [0, 8, 0], [0, 0, 0]])
    verify_grad(lambda v: T.prod(v, axis=1), [values], rng=0)
    verify_grad(lambda v: T.prod(v), [np.array([0.0, 2.0, -3.0])], rng=0)
    verify_grad(lambda v: T.prod(v, axis=-1, keepdims=True), [np.array([[0.0, 2.0, 0.0], [1.5, -2.0, 0.5]])], rng=0)


# ------------------------------------------------------------------ kinks, selection
def test_abs_and_relu_have_sub_gradient_zero_at_zero():
    x = T.dvector("x")
    values = np.array([-2.0, 0.0, 3.0])
    g_abs = symdl.function([x], symdl.grad(T.sum(abs(x)), x))(values)
    np.testing.assert_array_equal(g_abs, [-1, 0, 1])
    for relu in (T.maximum(x, 0), T.maximum(0.0, x), x * (x > 0), T.where(x > 0, x, 0)):
        np.testing.assert_array_equal(symdl.function([x], symdl.grad(T.sum(relu), x))(values), [0, 0, 1])
    np.testing.assert_array_equal(symdl.function([x], symdl.grad(T.sum(T.minimum(x, 0)), x))(values), [1, 0, 0])


def test_maximum_and_minimum_of_two_variables_share_ties():
    x, y = T.dvector("x"), T.dvector("y")
    xv, yv = np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0, 4.0])
    gx, gy = symdl.function([x, y], symdl.grad(T.sum(T.maximum(x, y)), [x, y]))(xv, yv)
    np.testing.assert_array_equal(gx, [1, 0.5, 0])
    np.testing.assert_array_equal(gy, [0, 0.5, 1])
    gx, gy = symdl.function([x, y], symdl.grad(T.sum(T.minimum(x, y)), [x, y]))(xv, yv)
    np.testing.assert_array_equal(gx, [0, 0.5, 1])
    np.testing.assert_array_equal(gy, [1, 0.5, 0])


def test_where_and_switch_route_the_gradient_by_the_condition():
    c, x, y = T.bvector("c"), T.dvector("x"), T.dvector("y")
    gx, gy = symdl.function([c, x, y], symdl.grad(T.sum(T.switch(c, x, y) * 3), [x, y]))(
        np.array([1, 0, 1], "int8"), np.zeros(3), np.zeros(3)
    )
    np.testing.assert_array_equal(gx, [3, 0, 3])
    np.testing.assert_array_equal(gy, [0, 3, 0])
    verify_grad(lambda a, b: T.where(T.lt(a, b), a * b, a - b), [uniform(-1, 1), uniform(-1, 1, seed=1)], rng=0)
    verify_grad(lambda a: T.where(np.array([True, False, True]), a, 2.0), [uniform(-1, 1, (2, 3))], rng=0)


def test_clip_passes_the_gradient_to_x_at_the_bounds():
    # Documented (as Theano): at a bound exactly, the gradient goes to x, not to the bound.
    x, lo, hi = T.dvector("x"), T.dvector("lo"), T.dvector("hi")
    gx, glo, ghi = symdl.function([x, lo, hi], symdl.grad(T.sum(T.clip(x, lo, hi)), [x, lo, hi]))(
        np.array([-1.0, 0.0, 0.5, 1.0, 2.0]), np.zeros(5), np.ones(5)
    )
    np.testing.assert_array_equal(gx, [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(glo, [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(ghi, [0, 0, 0, 0, 1])
    verify_grad(lambda v: T.clip(v, -0.5, 0.5), [np.array([-1.0, -0.2, 0.3, 0.9])], rng=0)


def test_pow_with_negative_bases_and_integer_exponents():
    x = np.array([-2.0, -0.5, 1.5, -1.2])
    for k in (2, 3, -1, -2):
        verify_grad(lambda v, k=k: v**k, [x], rng=0)
        verify_grad(lambda v, k=k: T.pow(v, np.float64(k)), [x], rng=0)
    n = T.ivector("n")
    v = T.dvector("v")
    g = symdl.function([v, n], symdl.grad(T.sum(v**n), v))(x, np.array([3, 2, 2, 5], "int32"))
    np.testing.assert_allclose(g, [3 * 4.0, 2 * -0.5, 2 * 1.5, 5 * 1.2**4])


def test_pow_gradient_at_zero():
    x, y = T.dvector("x"), T.dvector("y")
    gx, gy = symdl.function([x, y], symdl.grad(T.sum(x**y), [x, y]))(np.zeros(4), np.array([1.0, 2.0, 3.0, 0.0]))
    np.testing.assert_array_equal(gx, [1, 0, 0, 0])
    np.testing.assert_array_equal(gy, [0, 0, 0, 0])  # 0**y is flat in y
    verify_grad(lambda v: v**2 + v**3, [np.array([0.0, 0.0])], rng=0)


def test_arctan2_gradient_in_every_quadrant():
    y = np.array([1.0, 1.0, -1.0, -1.0, 0.5, -2.0])
    x = np.array([1.0, -1.0, -1.0, 1.0, 3.0, 0.3])
    verify_grad(T.arctan2, [y, x], rng=0)


def test_cast_between_floats_passes_the_gradient():
    verify_grad(lambda v: T.cast(v, "float32") * 2, [uniform(-1, 1)], rng=0)
    verify_grad(lambda v: T.cast(T.cast(v, "float64"), "float16"), [uniform(-1, 1).astype("float32")], rng=0)
    x = T.fvector("x")
    g = symdl.grad(T.sum(T.cast(x, "float64") ** 2), x)
    assert g.dtype == "float32"


@pytest.mark.parametrize("dtype", ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"])
def test_cast_to_an_integer_or_boolean_is_disconnected(dtype):
    x = T.dvector("x")
    cost = T.sum(T.cast(T.cast(x, dtype), "float64") * x.shape[0])
    with pytest.raises(symdl.errors.DisconnectedInputError, match="x created at"):
        symdl.grad(cost, x)
    g = symdl.grad(cost, x, disconnected_inputs="ignore")
    np.testing.assert_array_equal(symdl.function([x], g)(np.array([0.5, 1.5])), [0, 0])


# ------------------------------------------------------------------ indexing
INDEXING = {
    "slices": lambda x: x[1:, ::2],
    "negative step": lambda x: x[::-1, -2:],
    "integer": lambda x: x[1, 2] * x[-1, 0],
    "row": lambda x: x[-1],
    "new axes": lambda x: x[None, 1:, None, 0],
    "ellipsis": lambda x: x[..., 1],
    "symbolic bounds": lambda x: x[T.constant(np.int64(1)) :],
    "repeated integer array": lambda x: x[np.array([0, 0, 2, 1, 0])],
    "two integer arrays": lambda x: x[np.array([0, 0, 2]), np.array([1, 1, 3])],
    "array after slice": lambda x: x[:, np.array([3, 0, 3, 3])],
    "2-d integer array": lambda x: x[np.array([[0, 1], [1, 1]])],
    "boolean rows": lambda x: x[np.array([True, False, True])],
    "boolean mask": lambda x: x[np.array([[True, False, True, True], [False, False, True, False], [True] * 4])],
    "take": lambda x: T.take(x, np.array([0, 0, 5, 11])),
    "take axis": lambda x: T.take(x, np.array([3, 0, 3]), axis=1),
}


@pytest.mark.parametrize("case", sorted(INDEXING))
def test_indexing_gradient(case):
    verify_grad(INDEXING[case], [uniform(-2, 2)], rng=0)


def test_indexing_gradient_with_symbolic_indices():
    i = T.lvector("i")
    x = T.dmatrix("x")
    g = symdl.function([x, i], symdl.grad(T.sum(x[i] * 2), x))(np.zeros((3, 2)), np.array([2, 0, 2, 2]))
    np.testing.assert_array_equal(g, [[2, 2], [0, 0], [6, 6]])


WRITES = {
    "inc basic": (lambda x, y: T.inc_subtensor(x[1:, 2], y), (2,)),
    "inc repeated indices": (lambda x, y: T.inc_subtensor(x[np.array([0, 0, 2, 0])], y), (4, 4)),
    "inc repeated, broadcast value": (lambda x, y: T.inc_subtensor(x[np.array([0, 0, 2])], y), (4,)),
    "inc repeated pairs": (lambda x, y: T.inc_subtensor(x[np.array([1, 1]), np.array([2, 2])], y), ()),
    "inc boolean": (lambda x, y: T.inc_subtensor(x[np.array([True, False, True])], y), (2, 4)),
    "set basic": (lambda x, y: T.set_subtensor(x[1:, 2], y), (2,)),
    "set scalar broadcast": (lambda x, y: T.set_subtensor(x[:2], y), ()),
    "set integer array": (lambda x, y: T.set_subtensor(x[np.array([2, 0])], y), (2, 4)),
    "set boolean mask": (lambda x, y: T.set_subtensor(x[np.array([True, False, True])], y), (2, 4)),
    "set column": (lambda x, y: T.set_subtensor(x[:, np.array([1, 3])], y), (3, 1)),
}


@pytest.mark.parametrize("case", sorted(WRITES))
def test_set_and_inc_subtensor_gradient(case):
    build, y_shape = WRITES[case]
    verify_grad(build, [uniform(-2, 2), uniform(-2, 2, y_shape, seed=1)], rng=0)


def test_inc_subtensor_with_repeated_indices_accumulates_the_gradient_of_y():
    x, y = T.dvector("x"), T.dvector("y")
    out = T.inc_subtensor(x[np.array([0, 0, 2])], y)
    gx, gy = symdl.function([x, y], symdl.grad(T.sum(out * np.array([1.0, 10.0, 100.0])), [x, y]))(
        np.zeros(3), np.zeros(3)
    )
    np.testing.assert_array_equal(gx, [1, 10, 100])
    np.testing.assert_array_equal(gy, [1, 1, 100])


def test_set_subtensor_cuts_the_gradient_of_the_overwritten_part():
    x, y = T.dvector("x"), T.dscalar("y")
    gx, gy = symdl.function([x, y], symdl.grad(T.sum(T.set_subtensor(x[1:3], y) * 2), [x, y]))(np.zeros(4), 0.0)
    np.testing.assert_array_equal(gx, [2, 0, 0, 2])
    assert float(gy) == 4.0


# ------------------------------------------------------------------ shape ops
SHAPE_OPS = {
    "reshape": (lambda x: T.reshape(x, (4, 6)), (2, 3, 4)),
    "reshape -1": (lambda x: T.reshape(x, (-1, 2)), (2, 3, 4)),
    "reshape symbolic": (lambda x: T.reshape(x, (x.shape[0] * 3, -1)), (2, 3, 4)),
    "flatten": (lambda x: T.flatten(x), (2, 3, 4)),
    "flatten 2": (lambda x: T.flatten(x, 2), (2, 3, 4)),
    "dimshuffle": (lambda x: x.dimshuffle(2, "x", 0, 1), (2, 3, 4)),
    "dimshuffle drop": (lambda x: x.dimshuffle(0, 2), (2, 1, 4)),
    "transpose": (lambda x: T.transpose(x, (2, 0, 1)), (2, 3, 4)),
    ".T": (lambda x: x.T, (3, 4)),
    "swapaxes": (lambda x: T.swapaxes(x, 0, -1), (2, 3, 4)),
    "squeeze": (lambda x: T.squeeze(x, 1), (2, 1, 4)),
    "expand_dims": (lambda x: T.expand_dims(x, (0, -1)), (3, 4)),
    "concatenate": (lambda x: T.concatenate([x, x * 2, T.exp(x)], axis=1), (2, 3, 4)),
    "concatenate negative axis": (lambda x: T.concatenate([x[:, :1], x], axis=-2), (2, 3, 4)),
    "stack": (lambda x: T.stack([x, x**2], axis=1), (3, 4)),
    "stack last": (lambda x: T.stack([x, -x, x], axis=-1), (3, 4)),
    "split one piece": (lambda x: T.split(x, [1, 3], 2, axis=1)[1], (3, 4)),
    "split all pieces": (lambda x: T.concatenate(T.split(x, [2, 1, 1], 3, axis=-1)[::-1], axis=-1), (3, 4)),
    "repeat": (lambda x: T.repeat(x, 3, axis=1), (3, 4)),
    "repeat per element": (lambda x: T.repeat(x, np.array([1, 0, 3]), axis=0), (3, 4)),
    "repeat flattened": (lambda x: T.repeat(x, 2), (3, 4)),
    "tile": (lambda x: T.tile(x, (2, 3)), (3, 4)),
    "tile more axes": (lambda x: T.tile(x, (2, 1, 2)), (3, 4)),
    "alloc": (lambda x: T.alloc(x, 2, 3, 4), (3, 1)),
    "broadcast_to": (lambda x: T.broadcast_to(x, (3, 4)), (1, 4)),
}


@pytest.mark.parametrize("case", sorted(SHAPE_OPS))
def test_shape_op_gradient(case):
    build, x_shape = SHAPE_OPS[case]
    verify_grad(build, [uniform(-2, 2, x_shape)], rng=0)


def test_reduce_to_shape_gradient():
    # The op that sums a broadcast gradient back (used when a size 1 is known only at run time).
    verify_grad(lambda g, like: ReduceToShape((None, None))(g, shape(like)) * like, [uniform(-1, 1), np.ones((1, 4))])
    verify_grad(lambda g, like: ReduceToShape((None,))(g, shape(like)) * like, [uniform(-1, 1), np.ones(4)])


def test_arange_with_float_bounds_has_a_gradient_for_start_and_step():
    verify_grad(lambda start, step: T.arange(start, 5.0, step) ** 2, [np.array(0.3), np.array(0.5)], rng=0)


# ------------------------------------------------------------------ linear algebra
BLAS = {
    "dot matrix matrix": (T.dot, (3, 4), (4, 2)),
    "dot matrix vector": (T.dot, (3, 4), (4,)),
    "dot vector matrix": (T.dot, (3,), (3, 4)),
    "dot vector vector": (T.dot, (3,), (3,)),
    "dot 3-d": (T.dot, (2, 3, 4), (4, 5)),
    "dot scalar": (T.dot, (), (3, 4)),
    "matmul batch broadcast": (T.matmul, (2, 3, 4), (4, 5)),
    "matmul batch of one": (T.matmul, (1, 3, 4), (2, 4, 5)),
    "matmul left 2-d": (T.matmul, (3, 4), (2, 4, 5)),
    "matmul 1-d left": (T.matmul, (4,), (2, 4, 5)),
    "matmul 1-d right": (T.matmul, (2, 3, 4), (4,)),
    "matmul 4-d": (T.matmul, (2, 1, 3, 4), (3, 4, 2)),
    "tensordot 2 axes": (lambda a, b: T.tensordot(a, b, axes=([1, 2], [0, 1])), (2, 3, 4), (3, 4, 2)),
    "tensordot int": (lambda a, b: T.tensordot(a, b, 1), (2, 3, 4), (4, 2)),
    "tensordot 0": (lambda a, b: T.tensordot(a, b, 0), (2, 3), (2,)),
    "tensordot unordered": (lambda a, b: T.tensordot(a, b, axes=([2, 0], [0, 2])), (2, 3, 4), (4, 5, 2)),
    "batched_dot 3-d": (T.batched_dot, (2, 3, 4), (2, 4, 5)),
    "batched_dot 2-d": (T.batched_dot, (3, 4), (3, 4)),
    "batched_dot 2-d 3-d": (T.batched_dot, (2, 3), (2, 3, 4)),
    "batched_dot 3-d 2-d": (T.batched_dot, (2, 3, 4), (2, 4)),
    "outer": (T.outer, (3,), (4,)),
    "@": (lambda a, b: a @ b, (3, 4), (4, 2)),
}


@pytest.mark.parametrize("case", sorted(BLAS))
def test_linear_algebra_gradient(case):
    build, shape_a, shape_b = BLAS[case]
    verify_grad(build, [uniform(-1, 1, shape_a), uniform(-1, 1, shape_b, seed=1)], rng=0)


# ------------------------------------------------------------------ fused and gradient-control ops
def test_composite_gradient():
    s = ew.SCALAR_OPS
    # out0 = exp(x * y), out1 = tanh(out0 - z) * x: two outputs sharing a subexpression.
    program = ((s["mul"], (0, 1)), (s["exp"], (3,)), (s["sub"], (4, 2)), (s["tanh"], (5,)), (s["mul"], (6, 0)))
    op = Composite(program, (4, 7))
    points = [uniform(-1, 1, (2, 3)), uniform(-1, 1, (3,), seed=1), uniform(-1, 1, (2, 1), seed=2)]
    verify_grad(lambda x, y, z: op(x, y, z)[0] + op(x, y, z)[1] * 2, points, rng=0)
    verify_grad(lambda x, y, z: op(x, y, z)[1], points, rng=0)


def test_composite_with_a_constant_input():
    s = ew.SCALAR_OPS
    op = Composite(((s["mul"], (0, 1)), (s["sin"], (2,))), (3,))
    verify_grad(lambda x: op(x, 2.5), [uniform(-1, 1)], rng=0)


def test_grad_clip_passes_gradients_within_its_bounds():
    verify_grad(lambda x: symdl.grad_clip(x, -10, 10) ** 2, [uniform(-2, 2)], rng=0)


# ------------------------------------------------------------------ ops of other modules
def test_gemv_gradient():
    from symdl.tensor.blas import Gemv

    points = [uniform(-1, 1, (3,)), np.array(1.5), uniform(-1, 1, (3, 4), seed=1), uniform(-1, 1, (4,), seed=2)]
    verify_grad(lambda y, alpha, a, x, beta: Gemv()(y, alpha, a, x, beta), [*points, np.array(-0.5)], rng=0)


def test_conv_shape_hint_passes_the_gradient():
    from symdl.tensor.nnet.conv import ShapeHint

    verify_grad(lambda x: ShapeHint((None, 4))(x) * 2, [uniform(-1, 1)], rng=0)


def test_max_pool_gradient_is_differentiable_twice():
    from symdl.tensor.nnet.pool import MaxPool2dGradGrad, Pool2d, Pool2dGrad, pool_2d, pool_forward

    x = np.random.default_rng(0).permutation(30).reshape(1, 5, 6) / 7.0  # distinct: no ties
    for props in [((2, 3), True, None, (0, 0)), ((3, 3), False, (2, 2), (0, 0)), ((2, 2), True, (1, 2), (1, 1))]:
        grad_op, select = Pool2dGrad(*props, "max"), MaxPool2dGradGrad(*props, "max")
        pooled = pool_forward(x, Pool2d(*props, "max")).shape
        verify_grad(lambda g, op=grad_op: op(T.constant(x), g), [uniform(-1, 1, pooled)], rng=0)
        verify_grad(lambda gg, op=select: op(T.constant(x), gg), [uniform(-1, 1, x.shape)], rng=0)
    # Second derivative of a max-pooled loss: the routing is constant, the square is not.
    verify_grad(lambda v: symdl.grad(T.sum(pool_2d(v, (2, 3)) ** 2), v), [x], rng=0)


# ------------------------------------------------------------------ backends
def test_gradients_agree_on_every_backend(backend):
    x, w, i = T.dmatrix("x"), T.dvector("w"), T.lvector("i")
    h = T.maximum(T.dot(x, T.outer(w, w)) + w, 0)
    h = T.inc_subtensor(h[i], T.max(h, axis=0) * 2)
    cost = T.sum(T.log(T.sum(T.exp(h), axis=1))) + T.sum(T.prod(x, axis=1)) + T.sum(abs(x) ** 3)
    grads = symdl.grad(cost, [x, w])
    values = [np.array([[0.5, 0.0, -1.0], [2.0, 1.0, 1.0]]), np.array([0.3, -0.2, 0.1]), np.array([0, 0, 1])]
    expected = symdl.function([x, w, i], grads, mode="py")(*values)
    for got, want in zip(symdl.function([x, w, i], grads, mode=backend)(*values), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
