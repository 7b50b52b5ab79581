"""Updates of shared variables written into the variables' own arrays: done for a training step,
and never when something else can still see the old value (a returned view, a caller's array,
another shared variable on the same memory, a later reader, DEBUG mode's checks)."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T

RNG = np.random.default_rng(5)


def _shared(shape, name, dtype="float32"):
    return symdl.shared(RNG.standard_normal(shape).astype(dtype), name=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_momentum_step_updates_velocity_and_weights_in_their_own_arrays(dtype):
    W, v = _shared((7, 5), "W", dtype), symdl.shared(np.zeros((7, 5), dtype), name="v")
    x = T.matrix("x", dtype=dtype)
    loss = T.sum(T.tanh(T.dot(x, W)) ** 2)
    v_new = 0.9 * v + symdl.grad(loss, W)
    step = symdl.function([x], loss, updates=[(v, v_new), (W, W - 0.1 * v_new)], mode="c")
    reference = symdl.function([x], symdl.grad(loss, W), mode="py")
    assert step.source().count("A->claim(") == 2
    arrays = W.get_value(borrow=True), v.get_value(borrow=True)
    w_ref, v_ref = W.get_value(), v.get_value()
    for _ in range(3):
        X = RNG.standard_normal((4, 7)).astype(dtype)
        W.set_value(w_ref)  # py reference gradient at the old weights, then back to the C arrays
        g = reference(X)
        W.set_value(arrays[0], borrow=True)
        step(X)
        v_ref = 0.9 * v_ref + g
        w_ref = w_ref - 0.1 * v_ref
        assert W.get_value(borrow=True) is arrays[0] and v.get_value(borrow=True) is arrays[1]
        tol = 1e-5 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(v.get_value(), v_ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(W.get_value(), w_ref, rtol=tol, atol=tol)


def test_a_returned_view_of_the_old_value_keeps_the_old_value():
    W = _shared((3, 4), "W")
    old = W.get_value()
    f = symdl.function([], [W.T, W[1]], updates=[(W, W - 1)], mode="c")
    transposed, row = f()
    np.testing.assert_array_equal(transposed, old.T)
    np.testing.assert_array_equal(row, old[1])
    np.testing.assert_array_equal(W.get_value(), old - 1)
    f()
    np.testing.assert_array_equal(transposed, old.T)  # a later call does not reach returned arrays


def test_readers_of_the_old_value_run_before_it_is_overwritten():
    W, v = _shared((4, 4), "W"), _shared((), "v")
    x = T.fmatrix("x")
    X = RNG.standard_normal((5, 4)).astype("float32")
    old_w, old_v = W.get_value(), v.get_value()
    # W's update comes first among the outputs, but the update of v reads W (through W.T)
    f = symdl.function(
        [x], T.dot(x, W.T), updates=[(W, W - 0.5 * T.dot(x.T, x)), (v, v + T.dot(x, W.T).sum())], mode="c"
    )
    out = f(X)
    np.testing.assert_allclose(out, X @ old_w.T, rtol=1e-5)
    np.testing.assert_allclose(W.get_value(), old_w - 0.5 * X.T @ X, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(v.get_value(), old_v + (X @ old_w.T).sum(), rtol=1e-4)


def test_the_schedule_moves_an_update_after_the_readers_of_its_variable():
    W, v = _shared((4, 4), "W"), _shared((), "v")
    x = T.fmatrix("x")
    f = symdl.function([x], [], updates=[(W, W * 2), (v, v + T.dot(x, W.T).sum())], mode="c")
    order, in_place = f.plan.order, f.plan.in_place
    (node,) = [n for n, (shared, _) in in_place.items() if shared is W]
    readers = [n for n in order if W in n.inputs and n is not node]
    assert readers and all(order.index(r) < order.index(node) for r in readers)


def test_an_update_that_a_reader_of_the_old_value_depends_on_is_not_in_place():
    W = _shared((3, 3), "W")
    old = W.get_value()
    f = symdl.function([], T.dot(W - 1, W), updates=[(W, W - 1)], mode="c")
    np.testing.assert_allclose(f(), (old - 1) @ old, rtol=1e-5)
    np.testing.assert_array_equal(W.get_value(), old - 1)


def test_a_callers_array_on_the_same_memory_is_not_overwritten():
    W, v = _shared((3, 4), "W"), _shared((), "v")
    old, old_v = W.get_value(), v.get_value()
    x = T.fmatrix("x")
    # x is read after W's update (for v's): W's array may not take it when x is that array
    f = symdl.function([x], [], updates=[(W, W + 1), (v, v + x.sum())], mode="c")
    f(W.get_value(borrow=True))
    np.testing.assert_array_equal(W.get_value(), old + 1)
    np.testing.assert_allclose(v.get_value(), old_v + old.sum(), rtol=1e-5)


def test_two_shared_variables_on_one_array_are_both_updated_from_the_old_values():
    base = np.ones((2, 3), "float32")
    a = symdl.shared(base, name="a", borrow=True)
    b = symdl.shared(base, name="b", borrow=True)
    f = symdl.function([], [], updates=[(a, a + 1), (b, b * 5)], mode="c")
    f()
    np.testing.assert_array_equal(a.get_value(), np.full((2, 3), 2, "float32"))
    np.testing.assert_array_equal(b.get_value(), np.full((2, 3), 5, "float32"))


def test_an_update_that_is_also_returned_is_a_separate_array():
    W = _shared((3, 4), "W")
    old = W.get_value()
    new = W * 3
    f = symdl.function([], new, updates=[(W, new)], mode="c")
    out = f()
    assert not np.shares_memory(out, W.get_value(borrow=True))
    f()
    np.testing.assert_array_equal(out, old * 3)
    np.testing.assert_allclose(W.get_value(), old * 9, rtol=1e-6)


@pytest.mark.parametrize("layout", ["read-only", "strided", "misaligned"])
def test_values_that_cannot_be_written_in_place_get_new_arrays(layout):
    W = _shared((4, 6), "W")
    old = W.get_value()
    if layout == "read-only":
        value = old.copy()
        value.setflags(write=False)
    elif layout == "strided":
        value = np.repeat(old, 2, axis=1)[:, ::2]
    else:
        value = np.zeros(old.nbytes + 1, np.uint8)[1:].view("float32").reshape(old.shape)
        value[...] = old
    W.set_value(value, borrow=True)
    f = symdl.function([], [], updates=[(W, W * 2 + 1)], mode="c")
    f()
    np.testing.assert_allclose(W.get_value(), old * 2 + 1, rtol=1e-6)
    if layout == "read-only":
        np.testing.assert_array_equal(value, old)  # the caller's read-only array is untouched


@pytest.mark.parametrize("source", ["C", "A"])
def test_a_gemm_reading_its_own_output_variable_as_a_factor_is_correct(source):
    W = _shared((4, 4), "W")
    M = RNG.standard_normal((4, 4)).astype("float32")
    old = W.get_value()
    new = 0.5 * W + T.dot(W, M) if source == "A" else 0.5 * W + T.dot(M, M)
    f = symdl.function([], [], updates=[(W, new)], mode="c")
    f()
    want = 0.5 * old + (old @ M if source == "A" else M @ M)
    np.testing.assert_allclose(W.get_value(), want, rtol=1e-5, atol=1e-5)


def test_an_update_reading_a_transpose_of_its_variable_is_correct():
    W = _shared((5, 5), "W")
    old = W.get_value()
    f = symdl.function([], [], updates=[(W, W + W.T * 2)], mode="c")
    f()
    np.testing.assert_allclose(W.get_value(), old + old.T * 2, rtol=1e-6)


def test_debug_mode_checks_nodes_against_python_without_writing_in_place():
    W = _shared((3, 4), "W")
    old = W.get_value()
    array = W.get_value(borrow=True)
    with symdl.config.change(mode="DEBUG"):
        f = symdl.function([], (W * 2).sum(), updates=[(W, W * 0.5 + 1)])
        f()
    np.testing.assert_allclose(W.get_value(), old * 0.5 + 1, rtol=1e-6)
    np.testing.assert_array_equal(array, old)
