"""Basic indexing, writes into sub-tensors and concatenation on the CUDA backend, run on the
host emulation (see conftest) and compared with the NumPy reference backend."""

from __future__ import annotations

import numpy as np
import pytest

import symdl
import symdl.tensor as T


def both(inputs, outputs, values):
    """The py backend runs first: after a CUDA call, shared variables hold device arrays."""
    expected = symdl.function(inputs, outputs, mode="py", on_unused_input="ignore")(*values)
    cuda = symdl.function(inputs, outputs, mode="cuda", on_unused_input="ignore")
    return cuda, cuda(*values), expected


def device_steps(fn):
    return {type(s).__name__: s for s in fn.thunk.program.steps if s.describe() != "host"}


INDICES = {
    "row": lambda x, i: x[i],
    "negative": lambda x, i: x[-1],
    "strided": lambda x, i: x[1:, ::2],
    "reversed": lambda x, i: x[::-1, -2::-2],
    "newaxis": lambda x, i: x[None, i:, None, 1],
    "empty": lambda x, i: x[3:1],
    "symbolic_bounds": lambda x, i: x[i : i + 2, : -i or None],
}


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("index", sorted(INDICES))
def test_basic_indexing_is_a_device_view(emulated, rng, index, dtype):
    x, i = T.tensor(dtype, shape=(None, None), name="x"), T.lscalar("i")
    out = INDICES[index](x.T, i)  # a transposed input: a strided array
    value = (rng.normal(size=(5, 4)) * 10).astype(dtype)
    fn, got, expected = both([x, i], [out * 2], [value, 1])
    np.testing.assert_array_equal(got[0], expected[0])
    assert "ViewStep" in device_steps(fn) and all(s.describe() != "host+xfer" for s in fn.thunk.program.steps)


def test_an_index_out_of_bounds_is_numpys_index_error(emulated):
    x, i = T.matrix("x"), T.lscalar("i")
    fn = symdl.function([x, i], x[i] + 1, mode="cuda")
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 0 with size 3"):
        fn(np.ones((3, 2), "float32"), 3)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("write", ["set", "inc"])
def test_writes_into_a_sub_tensor_broadcast_the_value(emulated, rng, write, dtype):
    x = T.tensor(dtype, shape=(None, None, None), name="x")
    y = T.tensor(dtype, shape=(None,), name="y")
    sub = x[1:, ::-2, 0]
    out = T.set_subtensor(sub, y) if write == "set" else T.inc_subtensor(sub, y)
    values = [(rng.normal(size=(3, 5, 2)) * 10).astype(dtype), (rng.normal(size=(3,)) * 10).astype(dtype)]
    fn, got, expected = both([x, y], [out], values)
    np.testing.assert_array_equal(got[0], expected[0])
    assert "WriteStep" in device_steps(fn)


def test_a_value_that_does_not_fit_the_sub_tensor_is_a_shape_error(emulated):
    x, y = T.matrix("x"), T.vector("y")
    fn = symdl.function([x, y], T.inc_subtensor(x[0], y), mode="cuda")
    with pytest.raises(symdl.errors.ShapeError, match="does not fit"):
        fn(np.ones((2, 3), "float32"), np.ones(2, "float32"))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_strided_and_empty_inputs(emulated, rng, axis):
    a, b, c = T.tensor3("a"), T.tensor3("b"), T.tensor3("c")
    out = T.concatenate([a.dimshuffle(0, 2, 1), b, c], axis=axis)
    shapes = {
        0: [(2, 4, 3), (1, 3, 4), (0, 3, 4)],
        1: [(2, 4, 3), (2, 1, 4), (2, 0, 4)],
        -1: [(2, 4, 3), (2, 3, 2), (2, 3, 0)],
    }
    values = [rng.normal(size=s).astype("float32") for s in shapes[axis]]
    fn, got, expected = both([a, b, c], [out], values)
    np.testing.assert_array_equal(got[0], expected[0])
    assert "WriteStep" in device_steps(fn)


def test_gradients_of_slices_and_concatenations_stay_on_the_device(emulated, rng):
    x = T.matrix("x")
    w = symdl.shared(rng.normal(size=(3, 8)).astype("float32"), name="w")
    gates = T.dot(x, w)
    h = T.nnet.sigmoid(gates[:, :4]) * T.tanh(gates[:, 4:])
    cost = T.concatenate([h, h[:, ::-1]], axis=1).sum() + h[-1].sum()
    (gw,) = symdl.grad(cost, [w])
    fn, got, expected = both([x], [cost, gw], [rng.normal(size=(5, 3)).astype("float32")])
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)
    moved = [s.label for s in fn.thunk.program.steps if s.describe() == "host+xfer"]
    assert moved == []
