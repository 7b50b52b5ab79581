"""window_sum and local_response_normalization against loop references written here, their
gradients by finite differences, shape inference and build-time errors."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.tensor.nnet import WindowSum, local_response_normalization, window_sum
from symdl.tensor.shape import shape_i
from symdl.testing import compare_with_numpy_both_ways, symbolic_inputs_like, verify_grad


def loop_window_sum(x, size, axis):
    x = np.moveaxis(x, axis, 0)
    out = np.zeros_like(x)
    half = size // 2
    for i in range(x.shape[0]):
        for j in range(max(0, i - half), min(x.shape[0], i + half + 1)):
            out[i] += x[j]
    return np.moveaxis(out, 0, axis)


def loop_lrn(x, n, k, alpha, beta):
    """Per pixel and channel, as Lasagne's test: x / (k + alpha * sum of squares around) ** beta."""
    out = np.zeros_like(x)
    for b, c, i, j in np.ndindex(*x.shape):
        lo, hi = max(0, c - n // 2), min(x.shape[1], c + n // 2 + 1)
        out[b, c, i, j] = x[b, c, i, j] / (k + alpha * (x[b, lo:hi, i, j] ** 2).sum()) ** beta
    return out


# (shape, size, axis): windows wider than the axis, a one-channel axis, the last axis, empty.
WINDOW_CASES = [
    ((2, 7, 3, 2), 5, 1),
    ((1, 3, 2, 2), 7, 1),
    ((3, 1, 4), 3, 1),
    ((4, 6), 3, -1),
    ((5,), 1, 0),
    ((2, 0, 3), 3, 1),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,size,axis", WINDOW_CASES, ids=str)
def test_window_sum_matches_loop_reference(backend, shape, size, axis, dtype):
    x = np.random.default_rng(0).normal(size=shape).astype(dtype)
    compare_with_numpy_both_ways(
        lambda v: window_sum(v, size, axis), lambda v: loop_window_sum(v, size, axis), [x], backends=[backend]
    )


def test_window_sum_of_a_non_contiguous_input(backend):
    x = np.random.default_rng(1).normal(size=(4, 9, 3))
    X = T.dtensor3("x")
    got = symdl.function([X], window_sum(X.dimshuffle(2, 1, 0)[:, ::2], 3, 1), mode=backend)(x)
    np.testing.assert_allclose(got, loop_window_sum(x.transpose(2, 1, 0)[:, ::2], 3, 1), rtol=1e-12)


@pytest.mark.parametrize("size,axis", [(3, 1), (5, 0)])
def test_window_sum_gradient(backend, size, axis):
    x = np.random.default_rng(2).normal(size=(3, 4, 2))
    verify_grad(lambda v: window_sum(v, size, axis), [x], mode=backend)


def test_window_sum_infers_its_shape():
    x = np.zeros((2, 5, 3))
    (X,) = symbolic_inputs_like([x])
    out = window_sum(X, 3)
    shapes = [[shape_i(X, k) for k in range(3)]]
    dims = out.owner.op.infer_shape(out.owner, shapes)[0]
    assert tuple(int(T.as_tensor_variable(d).eval({X: x})) for d in dims) == x.shape
    assert window_sum(T.tensor("float32", (None, 5, 3)), 3).type.shape == (None, 5, 3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 15, 3, 4), (1, 1, 2, 3), (3, 4, 1, 1)], ids=str)
def test_local_response_normalization_matches_loop_reference(backend, shape, dtype):
    x = np.random.default_rng(3).normal(size=shape).astype(dtype)
    params = {"n": 5, "k": 2.0, "alpha": 1.5, "beta": 0.75}

    def reference(v):
        return loop_lrn(v.astype("float64"), **params).astype(dtype)

    compare_with_numpy_both_ways(
        lambda v: local_response_normalization(v, **params), reference, [x], backends=[backend], rtol=2e-5
    )


def test_local_response_normalization_gradient(backend):
    x = np.random.default_rng(4).normal(size=(2, 6, 2, 3))
    verify_grad(lambda v: local_response_normalization(v, n=3, k=1.0, alpha=0.8, beta=0.6), [x], mode=backend)


def test_local_response_normalization_is_elementwise_around_one_window_sum():
    out = local_response_normalization(T.tensor4("x"), n=5)
    kinds = [type(node.op).__name__ for node in symdl.graph.basic.toposort([out])]
    assert kinds.count("WindowSum") == 1
    assert out.dtype == "float32"


def test_window_sum_errors():
    with pytest.raises(ValueError, match="positive odd int"):
        WindowSum(4, 1)
    with pytest.raises(ShapeError, match="axis 3 is out of range"):
        WindowSum(3, 3)(T.tensor3("x"))
    with pytest.raises(ValueError, match="n must be odd"):
        local_response_normalization(T.tensor4("x"), n=2)


def _backends_of(f):
    return [backend for _, backend, _, _ in f.profile().rows]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_window_sum_runs_in_c_and_adds_as_the_perform_does(dtype):
    from symdl.tensor.nnet.lrn import window_sum_np

    X = T.tensor3("x", dtype=dtype)
    f = symdl.function([X], [window_sum(X, 5, 1), window_sum(X, 3, 2)], mode="c")
    x = (np.random.default_rng(3).normal(size=(2, 7, 6)) * 100).astype(dtype)[:, :, ::-1]  # a reversed view
    wide, last = f(x)
    assert _backends_of(f) == ["c", "c"] and "A->window_sum(" in f.source()
    # the same additions in the same order: equal to the last bit
    np.testing.assert_array_equal(wide, window_sum_np(x, 5, 1))
    np.testing.assert_array_equal(last, window_sum_np(x, 3, 2))
