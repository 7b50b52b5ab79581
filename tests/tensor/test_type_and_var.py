"""TensorType, the Theano-named constructors, constants, and the weak typing of Python scalars
(``fmatrix * 0.5`` stays float32, as in NumPy 2 and JAX; NumPy scalars and arrays are strong)."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError, TypeMismatch
from symdl.tensor.type import TensorType
from symdl.tensor.var import TensorConstant, TensorVariable
from symdl.testing import compare_with_numpy_both_ways


# ------------------------------------------------------------------ TensorType
@pytest.mark.parametrize("dtype", ["bool", "int8", "int16", "int32", "int64", "uint8", "float16", "float32", "float64"])
def test_tensor_type_accepts_numpy_dtypes(dtype):
    t = TensorType(np.dtype(dtype), (None, 3))
    assert t.dtype == dtype and t.ndim == 2 and t.shape == (None, 3)
    assert str(t) == f"{dtype}(?, 3)"


def test_broadcastable_is_derived_from_size_one_dims():
    assert TensorType("float32", (1, None, 3, 1)).broadcastable == (True, False, False, True)
    assert TensorType("float32", ()).broadcastable == ()


def test_unsupported_dtypes_and_negative_dims_are_refused():
    with pytest.raises(TypeMismatch):
        TensorType("U3", (None,))
    with pytest.raises(TypeError):
        TensorType("object", (None,))
    with pytest.raises(ValueError):
        TensorType("float32", (-1,))


def test_types_are_equal_and_hash_alike_by_dtype_and_shape():
    a, b = TensorType("float32", (None, 3)), TensorType(np.float32, [None, 3])
    assert a == b and hash(a) == hash(b)
    assert a != TensorType("float64", (None, 3))
    assert a != TensorType("float32", (2, 3))
    assert len({a, b, TensorType("float32", (None, 4))}) == 2


def test_is_super_accepts_compatible_static_shapes():
    wide, narrow = TensorType("float32", (None, 3)), TensorType("float32", (2, 3))
    assert wide.is_super(narrow) and not narrow.is_super(wide)
    assert not wide.is_super(TensorType("float64", (2, 3)))
    assert not wide.is_super(TensorType("float32", (2, 3, 1)))


def test_filter_casts_safely_and_refuses_what_would_lose_information():
    t = TensorType("float32", (None, 3))
    assert t.filter(np.ones((2, 3))).dtype == np.float32
    assert t.filter([[1, 2, 3]]).dtype == np.float32
    arr = np.ones((2, 3), "float32")
    assert t.filter(arr) is arr
    with pytest.raises(TypeMismatch):
        TensorType("int32", (None,)).filter(np.ones(2))
    with pytest.raises(TypeMismatch, match="2-d"):
        t.filter(np.ones(3, "float32"))
    with pytest.raises(ShapeError):
        t.filter(np.ones((2, 4), "float32"))


# ------------------------------------------------------------------ constructors
PREFIXES = {
    "": symdl.config.floatX,
    "b": "int8",
    "w": "int16",
    "i": "int32",
    "l": "int64",
    "f": "float32",
    "d": "float64",
}
KINDS = {"scalar": 0, "vector": 1, "matrix": 2, "tensor3": 3, "tensor4": 4, "tensor5": 5}


@pytest.mark.parametrize("prefix", list(PREFIXES))
@pytest.mark.parametrize("kind", list(KINDS))
def test_theano_constructors_give_their_dtype_and_ndim(prefix, kind):
    make = getattr(T, prefix + kind)
    x = make("x")
    assert isinstance(x, TensorVariable)
    assert x.name == "x" and x.dtype == PREFIXES[prefix] and x.ndim == KINDS[kind]
    assert x.type.shape == (None,) * KINDS[kind] and x.owner is None
    shape = tuple(range(2, 2 + KINDS[kind]))
    assert make(shape=shape).type.shape == shape
    with pytest.raises(ValueError):
        make(shape=(None,) * (KINDS[kind] + 1))


def test_constructors_take_dtype_and_shape():
    assert T.matrix("m", dtype="int16").dtype == "int16"
    x = T.tensor4("x", shape=(None, 1, 28, 28))
    assert x.type.shape == (None, 1, 28, 28) and x.broadcastable == (False, True, False, False)
    assert T.tensor("int8", shape=(2, None), name="t").type == TensorType("int8", (2, None))
    assert T.tensor(ndim=3).type == TensorType(symdl.config.floatX, (None, None, None))
    with pytest.raises(TypeError):
        T.tensor("float32")
    with pytest.raises(ValueError):
        T.tensor("float32", shape=(None,), ndim=2)


def test_row_and_col_have_a_size_one_axis():
    assert T.row().type.shape == (1, None) and T.frow().dtype == "float32"
    assert T.col().type.shape == (None, 1) and T.icol().dtype == "int32"


def test_default_float_dtype_follows_config_floatx():
    assert symdl.config.floatX == "float32"
    assert T.matrix().dtype == "float32"
    with symdl.config.change(floatX="float64"):
        assert T.matrix().dtype == "float64" and T.vector().dtype == "float64"
    assert T.scalar().dtype == "float32"


def test_variable_properties():
    x = T.tensor3("x", shape=(2, None, 4))
    assert x.static_shape == (2, None, 4) and x.ndim == 3 and x.dtype == "float32"
    assert x.broadcastable == (False, False, False)
    assert repr(x) == "x"
    assert "float32" in repr(T.matrix())
    y = x + 1
    assert y.owner is not None and y.index == 0 and y.owner.inputs[0] is x


# ------------------------------------------------------------------ constants
@pytest.mark.parametrize(
    "value, dtype, weak",
    [
        (0.5, "float64", True),
        (2, "int64", True),
        (True, "bool", True),
        (np.float32(0.5), "float32", False),
        (np.float64(0.5), "float64", False),
        (np.int8(3), "int8", False),
        (np.array([1, 2], "int32"), "int32", False),
        ([1.0, 2.0], "float64", False),
        ([[1, 2], [3, 4]], "int64", False),
    ],
    ids=str,
)
def test_python_scalars_are_weak_and_numpy_values_strong(value, dtype, weak):
    c = T.as_tensor_variable(value)
    assert isinstance(c, TensorConstant)
    assert c.dtype == dtype and c.weak is weak
    assert c.type.shape == np.shape(value)


def test_constant_data_is_read_only_and_typed():
    c = T.constant([1, 2])
    assert c.type == TensorType("int64", (2,))
    with pytest.raises(ValueError):
        c.data[0] = 5
    assert T.constant(1, dtype="float32").dtype == "float32"
    with pytest.raises(TypeMismatch):
        T.constant({"a": 1})


def test_as_tensor_variable_of_a_list_of_variables_stacks_them():
    a, b = T.scalar("a"), T.scalar("b")
    v = T.as_tensor_variable([a, b, 1.0])
    assert v.ndim == 1 and v.dtype == "float32" and v.type.shape == (3,)
    with pytest.raises(TypeMismatch):
        T.as_tensor_variable(T.matrix(), ndim=1)


# ------------------------------------------------------------------ weak scalars
@pytest.mark.parametrize(
    "build, dtype",
    [
        (lambda: T.fmatrix("x") * 0.5, "float32"),
        (lambda: 0.5 * T.fmatrix("x"), "float32"),
        (lambda: T.fmatrix() + 1, "float32"),
        (lambda: T.fmatrix() + np.float64(1), "float64"),
        (lambda: np.float64(1) + T.fmatrix(), "float64"),
        (lambda: T.fmatrix() + np.array(1.0), "float64"),
        (lambda: T.fmatrix() + np.float32(1), "float32"),
        (lambda: T.fmatrix() + [1.0, 2.0], "float64"),
        (lambda: T.ivector() * 2, "int32"),
        (lambda: 2 * T.ivector(), "int32"),
        (lambda: T.ivector() * 2.5, "float64"),
        (lambda: T.ivector() + np.int64(1), "int64"),
        (lambda: T.bvector() - 1, "int8"),
        (lambda: T.vector(dtype="uint8") + 200, "uint8"),
        (lambda: T.fscalar() ** 2, "float32"),
        (lambda: 2 ** T.fscalar(), "float32"),
        (lambda: T.fvector() / 3, "float32"),
        (lambda: T.ivector() / 3, "float64"),
        (lambda: T.fvector() > 0.5, "bool"),
        (lambda: T.maximum(T.fvector(), 0), "float32"),
        (lambda: T.where(T.fvector() > 0, T.fvector(), 0.0), "float32"),
        (lambda: T.clip(T.fvector(), 0, 1), "float32"),
        (lambda: T.dot(T.fmatrix(), T.fvector()) * 0.1, "float32"),
        (lambda: T.fvector().sum() * 0.5 + 1, "float32"),
        (lambda: T.mean(T.fvector()) - 0.5, "float32"),
    ],
)
def test_weak_scalar_promotion(build, dtype):
    assert build().dtype == dtype


def test_weak_scalar_values_agree_with_numpy_2(backend):
    x = T.fvector("x")
    f = symdl.function([x], [x * 0.1, x + 1, 1 / x, x**0.5], mode=backend)
    v = np.array([1.0, 2.0, 4.0], "float32")
    for got, expected in zip(f(v), [v * 0.1, v + 1, 1 / v, v**0.5]):
        assert got.dtype == expected.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_float32_update_with_python_learning_rate_compiles_with_no_cast(backend):
    rng = np.random.default_rng(0)
    W = symdl.shared(rng.standard_normal((3, 2)).astype("float32"), name="W")
    x = T.fmatrix("x")
    g = T.dot(x.T, T.dot(x, W)) / 10
    train = symdl.function([x], [], updates=[(W, W - 0.1 * g)], mode=backend)
    assert not any("cast" in str(node.op) for node in train.graph.toposort())
    before = W.get_value()
    data = rng.standard_normal((10, 3)).astype("float32")
    train(data)
    after = W.get_value()
    assert after.dtype == np.float32
    np.testing.assert_allclose(after, before - 0.1 * (data.T @ (data @ before)) / 10, rtol=1e-5)


def test_float64_entering_a_float32_update_is_named_in_the_error():
    W = symdl.shared(np.zeros(3, "float32"), name="W")
    with pytest.raises(TypeMismatch, match="float64"):
        symdl.function([], [], updates=[(W, W - np.float64(0.1) * W)])


# ------------------------------------------------------------------ weak shapes
SHAPE_ARITHMETIC = [
    ("x.sum(0) / x.shape[0]", lambda x: x.sum(0) / x.shape[0], "float32"),
    ("x * x.shape[1]", lambda x: x * x.shape[1], "float32"),
    ("x - x.size", lambda x: x - x.size, "float32"),
    ("x * (x.shape[0] * 0.5)", lambda x: x * (x.shape[0] * 0.5), "float32"),
    ("x.shape[0] + x.shape[1]", lambda x: x.shape[0] + x.shape[1], "float32"),
    ("i + x.shape[0]", lambda x: x.astype("int32") + x.shape[0], "float32"),
    ("b * x.shape[1]", lambda x: x.astype("int8") * x.shape[1], "float32"),
    ("u - x.shape[0]", lambda x: x.astype("uint16") - x.shape[0], "float64"),
    ("d / x.size", lambda x: x.astype("float64") / x.size, "float32"),
]


@pytest.mark.parametrize("text, expr, dtype", SHAPE_ARITHMETIC, ids=[s[0] for s in SHAPE_ARITHMETIC])
def test_shape_entries_promote_like_python_ints_as_in_numpy(backend, text, expr, dtype):
    x = (np.arange(12).reshape(3, 4) + 5).astype(dtype)
    compare_with_numpy_both_ways(expr, expr, [x], backends=[backend])


def test_shape_values_are_int64_where_they_stand_alone():
    x = T.fmatrix("x")
    for v in (x.shape, x.shape[0], x.shape[-1], x.size, x.shape[0] * x.shape[1], x.shape[0] // 2):
        assert v.dtype == "int64" and v.weak
    assert (x.shape[0] * 0.5).dtype == "float64" and (x.shape[0] * 0.5).weak
    assert (x.shape[0] > 1).dtype == "bool" and not (x.shape[0] > 1).weak
    assert not T.cast(x.shape[0], "float32").weak
    assert (T.dvector() * T.cast(x.shape[0], "float32")).dtype == "float64"


def test_a_static_dimension_is_a_weak_constant():
    x = T.fmatrix("x", shape=(None, 3))
    assert isinstance(x.shape[1], TensorConstant) and x.shape[1].weak and int(x.shape[1].data) == 3
    assert isinstance(x.shape[-1], TensorConstant)
    assert not isinstance(x.shape[0], TensorConstant) and x.shape[0].weak
    assert isinstance(T.fmatrix(shape=(2, 3)).size, TensorConstant)


def test_a_static_dimension_that_does_not_fit_the_partner_dtype_raises():
    x = T.fmatrix("x", shape=(None, 300))
    with pytest.raises(TypeMismatch, match="300 does not fit in int8"):
        T.bvector("b") + x.shape[1]


def test_a_symbolic_dimension_that_does_not_fit_wraps_as_a_numpy_cast(backend):
    # Documented: a run-time size cannot be checked when the graph is built.
    x, b = T.fmatrix("x"), T.bvector("b")
    f = symdl.function([x, b], b + x.shape[0], mode=backend)
    out = f(np.zeros((300, 1), "float32"), np.zeros(2, "int8"))
    assert out.dtype == np.int8 and out.tolist() == [np.int64(300).astype(np.int8)] * 2


def test_float32_update_divided_by_the_batch_size_needs_no_cast(backend):
    # Theano upcast this to float64, so the update of a float32 shared variable failed.
    rng = np.random.default_rng(0)
    W = symdl.shared(rng.standard_normal((3, 2)).astype("float32"), name="W")
    x, y = T.fmatrix("x"), T.fmatrix("y")
    p = T.dot(x, W)
    g = T.dot(x.T, p - y) / x.shape[0]
    assert g.dtype == "float32"
    train = symdl.function([x, y], [], updates=[(W, W - 0.1 * g)], mode=backend)
    X, Y = rng.standard_normal((5, 3)).astype("float32"), rng.standard_normal((5, 2)).astype("float32")
    before = W.get_value()
    train(X, Y)
    np.testing.assert_allclose(W.get_value(), before - 0.1 * X.T @ (X @ before - Y) / 5, rtol=1e-5)


# ------------------------------------------------------------------ Theano's spellings
def test_tensor_type_takes_a_broadcastable_pattern_and_makes_variables():
    t = TensorType("float64", broadcastable=(False, True, False), name="T3")
    assert t.shape == (None, 1, None) and t.name == "T3" and t == TensorType("float64", (None, 1, None))
    assert TensorType("float32", (False, True)).shape == (None, 1)  # Theano's positional pattern
    assert TensorType("float32", (2, 1), broadcastable=(False, True)).shape == (2, 1)
    x = t("x")
    assert isinstance(x, TensorVariable) and x.name == "x" and x.type == t
    with pytest.raises(ValueError, match="disagrees with broadcastable"):
        TensorType("float32", (2, 3), broadcastable=(False, True))
    with pytest.raises(TypeError, match="needs a shape"):
        TensorType("float32")


@pytest.mark.parametrize(
    "make, names, dtype, ndim",
    [
        (lambda: T.matrices("pt"), ["p", "t"], "float32", 2),
        (lambda: T.vectors("a", "b", "c"), ["a", "b", "c"], "float32", 1),
        (lambda: T.fscalars(2), [None, None], "float32", 0),
        (lambda: T.imatrices("ab"), ["a", "b"], "int32", 2),
        (lambda: T.dtensor4s("x"), ["x"], "float64", 4),
    ],
)
def test_plural_constructors_make_several_inputs(make, names, dtype, ndim):
    made = make()
    assert [v.name for v in made] == names
    assert all(v.dtype == dtype and v.ndim == ndim for v in made)


def test_theano_variable_names():
    assert symdl.Variable is T.Variable and isinstance(T.vector(), T.Variable)


def test_a_shape_unpacks_into_its_weak_entries():
    x = T.tensor3("x", shape=(None, 4, None))
    batch, features, steps = x.shape
    assert len(x.shape) == 3 and batch.weak and int(features.data) == 4
    f = symdl.function([x], [batch * steps, x.sum() / x.size], mode="py")
    n, mean = f(np.ones((2, 4, 5), "float32"))
    assert n == 10 and mean.dtype == np.float32 and mean == 1
    for not_a_shape in (T.vector(), x.shape + T.lvector()):
        with pytest.raises(TypeError, match="not iterable"):
            iter(not_a_shape)
        with pytest.raises(TypeError, match="no len"):
            len(not_a_shape)
