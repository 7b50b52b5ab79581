"""symdl.Out(..., borrow=True) in the C backend: the output's array is reused by the next call
(no new array, no page faults), never while it is one of that call's own values, and never for a
position of the same value that was not borrowed."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T

M = np.random.default_rng(2).standard_normal((40, 40)).astype("float32")


@pytest.mark.parametrize("rows", [3, 600])  # under and over the size at which unborrowed outputs are recycled
def test_a_borrowed_output_is_overwritten_by_the_next_call(rows):
    x = T.fmatrix("x")
    borrowed = symdl.function([x], symdl.Out(T.dot(x, M) + 1, borrow=True), mode="c")
    owned = symdl.function([x], T.dot(x, M) + 1, mode="c")
    X = np.ones((rows, 40), "float32")
    first = borrowed(X)
    second = borrowed(X * 2)
    assert second is first
    np.testing.assert_allclose(second, (X * 2) @ M + 1, rtol=1e-5)
    kept = owned(X)
    assert owned(X * 2) is not kept
    np.testing.assert_allclose(kept, X @ M + 1, rtol=1e-5)


def test_a_borrowed_output_passed_back_as_the_input_is_not_overwritten_while_read():
    x = T.fmatrix("x")
    f = symdl.function([x], symdl.Out(T.dot(x, M) + 1, borrow=True), mode="c")
    X = np.random.default_rng(3).standard_normal((5, 40)).astype("float32")
    once = f(X)
    want = (once @ M) + 1
    twice = f(once)
    np.testing.assert_allclose(twice, want, rtol=1e-4, atol=1e-4)


def test_a_value_also_returned_unborrowed_stays_the_callers():
    x = T.fvector("x")
    y = x * 3
    f = symdl.function([x], [symdl.Out(y, borrow=True), y], mode="c")
    lent, owned = f(np.ones(4, "float32"))
    assert not np.shares_memory(lent, owned)
    f(np.full(4, 2, "float32"))
    np.testing.assert_array_equal(owned, [3, 3, 3, 3])


def test_a_borrowed_output_made_read_only_by_the_caller_is_not_written():
    x = T.fvector("x")
    f = symdl.function([x], symdl.Out(x + 1, borrow=True), mode="c")
    first = f(np.zeros(3, "float32"))
    first.setflags(write=False)
    second = f(np.ones(3, "float32"))
    assert second is not first
    np.testing.assert_array_equal(first, [1, 1, 1])
    np.testing.assert_array_equal(second, [2, 2, 2])
