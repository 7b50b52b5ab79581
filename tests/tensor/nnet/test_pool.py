"""pool_2d against a loop reference written here, for every mode with odd sizes, strides,
padding and ignore_border=False; its gradient (ties included) and build-time errors."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.tensor.nnet import Pool2d, Pool2dGrad, pool_2d
from symdl.testing import verify_grad

MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


def loop_out_size(size, ws, stride, pad, ignore_border):
    """Theano's Pool.out_shape for one axis."""
    size += 2 * pad
    if ignore_border:
        return (size - ws) // stride + 1
    if stride >= ws:
        return (size - 1) // stride + 1
    return max(0, (size - 1 - ws + stride) // stride) + 1


def loop_pool(x, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):
    stride = stride or ws
    h, w = x.shape[-2:]
    oh = loop_out_size(h, ws[0], stride[0], pad[0], ignore_border)
    ow = loop_out_size(w, ws[1], stride[1], pad[1], ignore_border)
    out = np.zeros(x.shape[:-2] + (oh, ow))
    for lead in np.ndindex(*x.shape[:-2]):
        for i in range(oh):
            for j in range(ow):
                # The window in padded coordinates, truncated to the padded image.
                r0, c0 = i * stride[0], j * stride[1]
                r1, c1 = min(r0 + ws[0], h + 2 * pad[0]), min(c0 + ws[1], w + 2 * pad[1])
                inside = [
                    x[lead + (r - pad[0], c - pad[1])]
                    for r in range(r0, r1)
                    for c in range(c0, c1)
                    if 0 <= r - pad[0] < h and 0 <= c - pad[1] < w
                ]
                if mode == "max":
                    out[lead + (i, j)] = max(inside)
                elif mode == "sum":
                    out[lead + (i, j)] = sum(inside)
                elif mode == "average_inc_pad":
                    out[lead + (i, j)] = sum(inside) / ((r1 - r0) * (c1 - c0))
                else:
                    out[lead + (i, j)] = sum(inside) / len(inside)
    return out


# (input shape, ws, ignore_border, stride, pad)
CASES = [
    ((2, 3, 8, 6), (2, 2), True, None, (0, 0)),
    ((2, 3, 7, 5), (2, 2), True, None, (0, 0)),
    ((1, 1, 7, 5), (3, 2), False, (2, 1), (0, 0)),
    ((2, 2, 6, 7), (3, 3), True, (2, 2), (1, 1)),
    ((1, 2, 5, 5), (2, 3), False, None, (0, 0)),
    ((3, 9, 7), (3, 1), True, (2, 1), (1, 0)),
    ((5, 5), (1, 1), True, None, (0, 0)),
]


def case_id(case):
    shape, ws, ib, st, pad = case
    return f"{shape}ws{ws}{'' if ib else 'keep'}st{st}pad{pad}"


def distinct(shape, seed=0):
    """Values without ties, so the arg-max is unambiguous and finite differences stay inside a piece."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - n * 0.05


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_pool_2d_matches_loop_reference(backend, case, mode):
    shape, ws, ib, st, pad = case
    x = distinct(shape)
    expected = loop_pool(x, ws, ib, st, pad, mode)
    X = T.tensor("float64", (None,) * len(shape))
    got = symdl.function([X], pool_2d(X, ws, ib, st, pad, mode), mode=backend)(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert pool_2d(T.tensor("float64", shape), ws, ib, st, pad, mode).type.shape == expected.shape


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES[1:5], ids=case_id)
def test_pool_2d_gradient(backend, case, mode):
    shape, ws, ib, st, pad = case
    verify_grad(lambda v: pool_2d(v, ws, ib, st, pad, mode), [distinct(shape, 1)], mode=backend, n_tests=1)


@pytest.mark.parametrize("mode", ["sum", "average_inc_pad", "average_exc_pad"])
def test_average_pool_gradient_has_a_gradient(backend, mode):
    x = distinct((1, 2, 5, 5))
    gz = np.random.default_rng(2).normal(size=(1, 2, 3, 3))
    const_x = T.constant(x)
    op = Pool2dGrad((2, 2), False, None, (0, 0), mode)
    verify_grad(lambda g: op(const_x, g), [gz], mode=backend)


def test_max_pool_gradient_goes_to_the_first_maximum_of_each_window(backend):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 0.0, 3.0], [5.0, 5.0, 1.0, 1.0], [5.0, 5.0, 1.0, 1.0]])
    X = T.dmatrix("x")
    g = symdl.function([X], symdl.grad(pool_2d(X, (2, 2)).sum(), X), mode=backend)(x)
    expected = np.array([[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(g, expected)


def test_overlapping_max_windows_add_their_gradients(backend):
    x = np.array([[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]])
    X = T.dmatrix("x")
    g = symdl.function([X], symdl.grad(pool_2d(X, (2, 2), stride=(1, 1)).sum(), X), mode=backend)(x)
    assert g[1, 1] == 4.0 and g.sum() == 4.0


def test_max_pool_padding_never_wins(backend):
    X = T.dmatrix("x")
    x = -np.arange(1.0, 10.0).reshape(3, 3)
    out = symdl.function([X], pool_2d(X, (2, 2), pad=(1, 1)), mode=backend)(x)
    np.testing.assert_array_equal(out, [[-1.0, -2.0], [-4.0, -5.0]])


def test_pool_keeps_float32_and_static_shape():
    x = T.tensor4("x", shape=(None, 32, 24, 24))
    out = pool_2d(x, (2, 2))
    assert out.type.shape == (None, 32, 12, 12) and out.dtype == "float32"
    assert pool_2d(T.tensor4(shape=(1, 1, None, 5)), (2, 2), ignore_border=False).type.shape == (1, 1, None, 3)
    assert isinstance(out.owner.op, Pool2d)


def test_pool_errors():
    with pytest.raises(ShapeError, match="window .* larger than the input"):
        pool_2d(T.tensor4(shape=(None, 1, 3, 8)), (4, 2))
    with pytest.raises(ValueError, match="ignore_border=True"):
        pool_2d(T.tensor4(), (2, 2), ignore_border=False, pad=(1, 1))
    with pytest.raises(ValueError, match="smaller than the window"):
        pool_2d(T.tensor4(), (2, 2), pad=(2, 0))
    with pytest.raises(ValueError, match="mode"):
        pool_2d(T.tensor4(), (2, 2), mode="median")
    with pytest.raises(ShapeError, match="last two axes"):
        pool_2d(T.vector(), (2, 2))


def test_window_larger_than_input_at_run_time(backend):
    X = T.dtensor4()
    f = symdl.function([X], pool_2d(X, (3, 3)), mode=backend)
    with pytest.raises(ShapeError, match="larger than the input"):
        f(np.zeros((1, 1, 2, 5)))
    keep = symdl.function([X], pool_2d(X, (3, 3), ignore_border=False), mode=backend)
    assert keep(np.ones((1, 1, 2, 5))).tolist() == [[[[1.0, 1.0]]]]


def loop_max_pool_grad_2x2(x, gz):
    """The gradient of 2x2 max pooling at stride 2: to the first maximum of each window, row-major."""
    gx = np.zeros_like(x)
    oh, ow = gz.shape[-2:]
    for lead in np.ndindex(*x.shape[:-2]):
        for i in range(oh):
            for j in range(ow):
                window = [(2 * i + r, 2 * j + c) for r in range(2) for c in range(2)]
                best = max(window, key=lambda rc: x[lead + rc])  # max() keeps the first of equals
                gx[lead + best] += gz[lead + (i, j)]
    return gx


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 3, 24, 24), (1, 2, 9, 37), (4, 6, 35)], ids=str)
def test_max_pool_2x2_on_long_rows_with_ties(backend, shape, dtype):
    """Rows of 8 outputs and more (the C kernel's blocks) plus a tail, odd sizes, many ties."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, size=shape).astype(dtype)
    gz_shape = shape[:-2] + (shape[-2] // 2, shape[-1] // 2)
    gz = rng.normal(size=gz_shape).astype(dtype)
    X, G = T.tensor(dtype, shape=(None,) * len(shape)), T.tensor(dtype, shape=(None,) * len(shape))
    out = pool_2d(X, (2, 2), ignore_border=True)
    fn = symdl.function([X, G], [out, symdl.grad(None, X, known_grads={out: G})], mode=backend)
    pooled, grad = fn(x, gz)
    np.testing.assert_array_equal(pooled, loop_pool(x, (2, 2)).astype(dtype))
    np.testing.assert_array_equal(grad, loop_max_pool_grad_2x2(x, gz))


def test_max_pool_2x2_propagates_nan_as_numpy_maximum(backend):
    x = np.arange(2 * 4 * 20, dtype="float32").reshape(2, 4, 20)
    x[0, 1, 3] = np.nan  # second row of window (0, 1)
    x[1, 2, 16] = np.nan  # first element of window (1, 8), in a block of 8
    X = T.ftensor3("x")
    pooled = symdl.function([X], pool_2d(X, (2, 2)), mode=backend)(x)
    expected = loop_pool(np.nan_to_num(x, nan=-1.0), (2, 2)).astype("float32")
    expected[0, 0, 1] = expected[1, 1, 8] = np.nan
    np.testing.assert_array_equal(pooled, expected)
