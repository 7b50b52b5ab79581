"""Bad inputs into compiled functions raise Python exceptions naming the input or the node, before
any memory is touched; nothing crashes the interpreter."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import InputError, ShapeError


def test_wrong_dtype_into_the_thunk_names_the_input():
    x = T.fmatrix("pixels")
    f = symdl.function([x], x * 2, mode="c")
    with pytest.raises(InputError, match="pixels"):
        f.thunk([np.zeros((2, 2), "complex128")])


def test_wrong_ndim_into_the_thunk_names_the_input():
    x = T.fmatrix("pixels")
    f = symdl.function([x], x * 2, mode="c")
    with pytest.raises(InputError, match="pixels.*2-d"):
        f.thunk([np.zeros(4, "float32")])


def test_wrong_static_shape_into_the_thunk_names_the_input():
    x = T.matrix("images", shape=(None, 3))
    f = symdl.function([x], x.sum(axis=1), mode="c")
    with pytest.raises(InputError, match="images"):
        f.thunk([np.zeros((4, 5), "float32")])
    with pytest.raises(InputError, match="images"):
        f(np.zeros((4, 5), "float32"))


def test_not_an_array_and_wrong_count_raise():
    x = T.fvector("x")
    f = symdl.function([x], x + 1, mode="c")
    with pytest.raises(InputError, match="x"):
        f.thunk(["hello"])
    with pytest.raises(InputError, match="expected 1"):
        f.thunk([])


def test_shapes_that_do_not_broadcast_raise_a_shape_error_naming_the_node():
    x, y = T.fvector("x"), T.fvector("y")
    f = symdl.function([x, y], T.exp(x) + y, mode="c")
    with pytest.raises(ShapeError, match="cannot broadcast") as info:
        f(np.ones(3, "float32"), np.ones(4, "float32"))
    assert "test_inputs.py" in str(info.value)


def test_dot_of_misaligned_matrices_raises_a_shape_error():
    a, b = T.fmatrix("a"), T.fmatrix("b")
    f = symdl.function([a, b], T.dot(a, b), mode="c")
    with pytest.raises(ShapeError, match="not aligned"):
        f(np.ones((2, 3), "float32"), np.ones((4, 5), "float32"))


def test_bad_reshape_and_out_of_bounds_index_raise():
    x = T.fvector("x")
    n = T.lscalar("n")
    f = symdl.function([x, n], T.reshape(x, (n, 3)), mode="c")
    with pytest.raises(ShapeError, match="reshape"):
        f(np.ones(7, "float32"), 2)
    g = symdl.function([x, n], x[n], mode="c")
    assert g(np.arange(4, dtype="float32"), -1) == 3
    with pytest.raises(IndexError, match="out of bounds"):
        g(np.arange(4, dtype="float32"), 4)


def test_reductions_of_empty_arrays_without_identity_raise():
    x = T.fmatrix("x")
    f = symdl.function([x], x.max(axis=0), mode="c")
    with pytest.raises(ValueError, match="zero-size"):
        f(np.zeros((0, 3), "float32"))
    g = symdl.function([x], x.sum(axis=0), mode="c")
    np.testing.assert_array_equal(g(np.zeros((0, 3), "float32")), np.zeros(3, "float32"))


def test_a_function_still_works_after_errors():
    x, y = T.fvector("x"), T.fvector("y")
    f = symdl.function([x, y], x * y + 1, mode="c")
    for _ in range(3):
        with pytest.raises(ShapeError):
            f(np.ones(3, "float32"), np.ones(2, "float32"))
    np.testing.assert_array_equal(f(np.ones(2, "float32"), np.full(2, 2, "float32")), [3, 3])


def test_outputs_are_fresh_arrays_owned_by_the_caller():
    x = T.fvector("x")
    f = symdl.function([x], [x * 2, x, x.dimshuffle("x", 0)], mode="c")
    v = np.arange(3, dtype="float32")
    a, b, c = f(v)
    assert a.base is None and a.flags.writeable
    assert b is not v and not np.shares_memory(b, v)
    assert not np.shares_memory(c, v)
    a2, _, _ = f(v)
    assert not np.shares_memory(a, a2)


def test_large_outputs_reused_across_calls_never_alias_an_array_the_caller_holds():
    x = T.fvector("x")
    f = symdl.function([x], [x * 2, x + 1], mode="c")
    v = np.arange(100000, dtype="float32")
    a, b = f(v)
    a_again, b_again = f(v + 1)
    assert not np.shares_memory(a, a_again) and not np.shares_memory(b, b_again)
    np.testing.assert_array_equal(a, v * 2)  # untouched by the second call
    del a_again, b_again
    for k in range(3):  # dropped outputs may come back as buffers: values stay right
        a3, b3 = f(v + k)
        np.testing.assert_array_equal(a3, (v + k) * 2)
        np.testing.assert_array_equal(b3, v + k + 1)
        assert not np.shares_memory(a3, a)


def test_shared_variable_updates_stay_independent_of_returned_outputs():
    w = symdl.shared(np.zeros(50000, "float32"), name="w")
    f = symdl.function([], w + 1, updates=[(w, w + 1)], mode="c")
    outs = [f() for _ in range(4)]
    for k, out in enumerate(outs):
        np.testing.assert_array_equal(out, np.full(50000, k + 1, "float32"))
    np.testing.assert_array_equal(w.get_value(), np.full(50000, 4, "float32"))
