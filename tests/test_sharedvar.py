"""symdl.shared: the type comes from the value; get_value/set_value copy unless borrow=True;
a value of another dtype or ndim is a clear error."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError, TypeMismatch


@pytest.mark.parametrize(
    "value, dtype, ndim",
    [
        (np.zeros((2, 3), "float32"), "float32", 2),
        (np.zeros(4, "int8"), "int8", 1),
        (np.float64(1.5), "float64", 0),
        (np.float32(1.5), "float32", 0),
        (np.array(True), "bool", 0),
        ([1, 2, 3], "int64", 1),
        ([[1.0], [2.0]], "float64", 2),
        (3, "int64", 0),
        (0.5, symdl.config.floatX, 0),
    ],
    ids=str,
)
def test_the_type_comes_from_the_value(value, dtype, ndim):
    s = symdl.shared(value, name="s")
    assert s.dtype == dtype and s.ndim == ndim and s.name == "s"
    assert s.type.shape == (None,) * ndim
    assert s.get_value().dtype == dtype
    np.testing.assert_array_equal(s.get_value(), np.asarray(value, dtype))


def test_a_shape_can_be_fixed():
    s = symdl.shared(np.zeros((2, 3)), shape=(None, 3))
    assert s.type.shape == (None, 3)
    s.set_value(np.ones((5, 3)))
    with pytest.raises(ShapeError):
        s.set_value(np.ones((5, 4)))
    with pytest.raises(ShapeError):
        symdl.shared(np.zeros((2, 3)), shape=(2, 4))


def test_shared_copies_its_value_unless_borrowed():
    value = np.zeros(3)
    s = symdl.shared(value)
    value[0] = 1
    assert s.get_value()[0] == 0
    b = symdl.shared(value, borrow=True)
    value[1] = 2
    assert b.get_value()[1] == 2


def test_get_value_returns_a_copy_unless_borrowed():
    s = symdl.shared(np.zeros(3))
    v = s.get_value()
    v[0] = 5
    assert s.get_value()[0] == 0
    internal = s.get_value(borrow=True)
    internal[0] = 5
    assert s.get_value()[0] == 5
    assert s.value[0] == 5


def test_set_value_copies_unless_borrowed():
    s = symdl.shared(np.zeros(3))
    new = np.ones(3)
    s.set_value(new)
    new[0] = 9
    assert s.get_value()[0] == 1
    s.set_value(new, borrow=True)
    new[1] = 7
    assert s.get_value()[1] == 7
    strided = np.arange(6.0)[::2]
    s.set_value(strided)
    np.testing.assert_array_equal(s.get_value(), [0, 2, 4])


def test_set_value_may_change_the_shape_but_not_the_ndim_or_dtype():
    s = symdl.shared(np.zeros((2, 3), "float32"), name="W")
    s.set_value(np.ones((4, 5), "float32"))
    assert s.get_value().shape == (4, 5)
    with pytest.raises(TypeMismatch) as info:
        s.set_value(np.ones((2, 3), "float64"))
    assert "W" in str(info.value) and "float32" in str(info.value) and "float64" in str(info.value)
    with pytest.raises(TypeMismatch) as info:
        s.set_value(np.ones(3, "float32"))
    assert "W" in str(info.value) and "2-d" in str(info.value)
    with pytest.raises(TypeMismatch):
        symdl.shared(np.zeros(2, "int32"), name="n").set_value(np.ones(2, "int64"))
    np.testing.assert_array_equal(s.get_value(), np.ones((4, 5)))


def test_set_value_accepts_python_values_that_fit():
    s = symdl.shared(np.zeros(2, "float32"))
    s.set_value([1.5, 2.5])
    assert s.get_value().dtype == np.float32
    n = symdl.shared(np.int32(0))
    n.set_value(5)
    assert n.get_value().dtype == np.int32 and int(n.get_value()) == 5
    with pytest.raises(TypeMismatch):
        n.set_value(0.5)


def test_non_numeric_values_are_refused():
    with pytest.raises(TypeMismatch):
        symdl.shared({"a": 1})
    with pytest.raises(TypeMismatch):
        symdl.shared(["a", "b"])


def test_functions_see_set_value_and_write_through_updates(backend):
    W = symdl.shared(np.ones(2, "float32"), name="W")
    f = symdl.function([], W * 2, updates=[(W, W + 1)], mode=backend)
    np.testing.assert_array_equal(f(), [2, 2])
    W.set_value(np.full(2, 10, "float32"))
    np.testing.assert_array_equal(f(), [20, 20])
    np.testing.assert_array_equal(W.get_value(), [11, 11])


def test_shared_variables_behave_as_tensors():
    W = symdl.shared(np.zeros((3, 2), "float32"), name="W")
    y = T.dot(T.fmatrix(), W) + 1
    assert y.dtype == "float32" and y.ndim == 2
    assert repr(W) == "W"
    assert W.clone() is W


def test_shared_takes_theanos_broadcastable_flags():
    v = symdl.shared(np.zeros((1, 3), "float32"), broadcastable=(True, False))
    assert v.type.shape == (1, None) and v.broadcastable == (True, False)
    with pytest.raises(ShapeError):
        symdl.shared(np.zeros((2, 3)), broadcastable=(True, False))
    with pytest.raises(ShapeError, match="2 entries for a 1-d value"):
        symdl.shared(np.zeros(3), broadcastable=(True, False))
