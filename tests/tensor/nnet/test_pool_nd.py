"""pool_3d and the ``Pool`` ops (windows, strides and padding as inputs) against a loop reference
written here, for every mode with odd sizes, strides, padding and ignore_border=False; 2-d
pooling with symbolic windows against the static one; gradients of first and second order,
shape inference with symbolic windows, and errors."""

import itertools

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.tensor.nnet import Pool, Pool2d, PoolGrad, pool_2d, pool_3d
from symdl.tensor.nnet.pool_nd import MaxPoolGradGrad
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


def loop_pool(x, ws, ignore_border=True, stride=None, pad=None, mode="max"):
    """One window at a time over the last len(ws) axes, the window truncated to the padded input."""
    nd = len(ws)
    stride = stride or ws
    pad = pad or (0,) * nd
    size = x.shape[-nd:]
    out_size = [loop_out_size(s, w, st, p, ignore_border) for s, w, st, p in zip(size, ws, stride, pad)]
    out = np.zeros(x.shape[:-nd] + tuple(out_size))
    for lead in np.ndindex(*x.shape[:-nd]):
        for pos in itertools.product(*(range(o) for o in out_size)):
            start = [i * st for i, st in zip(pos, stride)]
            end = [min(s0 + w, n + 2 * p) for s0, w, n, p in zip(start, ws, size, pad)]
            inside = [
                x[lead + tuple(c - p for c, p in zip(coord, pad))]
                for coord in itertools.product(*(range(a, b) for a, b in zip(start, end)))
                if all(0 <= c - p < n for c, p, n in zip(coord, pad, size))
            ]
            if mode == "max":
                value = max(inside)
            elif mode == "sum":
                value = sum(inside)
            elif mode == "average_inc_pad":
                value = sum(inside) / np.prod([b - a for a, b in zip(start, end)])
            else:
                value = sum(inside) / len(inside)
            out[lead + pos] = value
    return out


def distinct(shape, seed=0):
    """Values without ties, so the arg-max is unambiguous and finite differences stay inside a piece."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - n * 0.05


# (input shape, ws, ignore_border, stride, pad)
CASES = [
    ((2, 2, 4, 6, 4), (2, 2, 2), True, None, (0, 0, 0)),
    ((1, 3, 5, 7, 5), (2, 3, 2), True, None, (0, 0, 0)),
    ((1, 1, 5, 4, 7), (3, 2, 2), False, (2, 1, 3), (0, 0, 0)),
    ((2, 1, 6, 5, 7), (3, 3, 2), True, (2, 2, 1), (1, 1, 0)),
    ((3, 5, 4, 5), (2, 3, 4), False, None, (0, 0, 0)),
    ((4, 3, 5), (1, 1, 1), True, None, (0, 0, 0)),
    ((0, 2, 4, 4, 4), (2, 2, 2), True, None, (1, 0, 1)),
]


def case_id(case):
    shape, ws, ib, st, pad = case
    return f"{shape}ws{ws}{'' if ib else 'keep'}st{st}pad{pad}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_pool_3d_matches_loop_reference(backend, case, mode):
    shape, ws, ib, st, pad = case
    x = distinct(shape)
    expected = loop_pool(x, ws, ib, st, pad, mode)
    X = T.tensor("float64", (None,) * len(shape))
    got = symdl.function([X], pool_3d(X, ws, ib, st, pad, mode), mode=backend)(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert pool_3d(T.tensor("float64", shape), ws, ib, st, pad, mode).type.shape == expected.shape


def test_pool_3d_float32_and_non_contiguous_input(backend):
    x = distinct((6, 5, 4, 3), 3).astype("float32").transpose(3, 2, 1, 0)[:, :, ::2]
    assert not x.flags.c_contiguous
    X = T.ftensor4("x")
    got = symdl.function([X], pool_3d(X, (2, 2, 2), mode="average_exc_pad"), mode=backend)(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, loop_pool(x.astype("float64"), (2, 2, 2), mode="average_exc_pad"), rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("ignore_border", [True, False])
def test_symbolic_windows_pool_as_the_static_ones(backend, mode, ignore_border):
    x = distinct((2, 3, 9, 7))
    X, ws, stride = T.dtensor4("x"), T.ivector("ws"), T.ivector("stride")
    pooled = pool_2d(X, ws=ws, stride=stride, ignore_border=ignore_border, pad=None, mode=mode)
    assert isinstance(pooled.owner.op, Pool)
    f = symdl.function([X, ws, stride], [pooled, pooled.shape], mode=backend)
    for window, step in [((2, 3), (2, 3)), ((3, 2), (1, 2)), ((2, 2), (3, 1))]:
        expected = loop_pool(x, window, ignore_border, step, None, mode)
        got, shape = f(x, np.array(window, "int32"), np.array(step, "int32"))
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        assert tuple(shape) == expected.shape


def test_windows_of_symbolic_scalars_and_of_a_shape():
    X = T.dtensor4("x")
    rows = X.shape[2]
    pooled = pool_2d(X, ws=(rows, 2), stride=(rows, 1))
    assert isinstance(pooled.owner.op, Pool) and pooled.type.shape == (None, None, None, None)
    x = distinct((1, 2, 5, 4))
    np.testing.assert_allclose(pooled.eval({X: x}), loop_pool(x, (5, 2), True, (5, 1)), rtol=1e-12)
    # Known windows give a static shape and the C backend's Pool2d node.
    assert isinstance(pool_2d(X, np.array([2, 2])).owner.op, Pool2d)
    assert Pool(2)(T.tensor4(shape=(1, 2, 9, 8)), (3, 2), (2, 2)).type.shape == (1, 2, 4, 4)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES[1:4], ids=case_id)
def test_pool_3d_gradient(backend, case, mode):
    shape, ws, ib, st, pad = case
    verify_grad(lambda v: pool_3d(v, ws, ib, st, pad, mode), [distinct(shape, 1)], mode=backend, n_tests=1)


@pytest.mark.parametrize("mode", MODES)
def test_pool_grad_and_its_gradient_ops_have_gradients(mode):
    x = distinct((1, 2, 5, 4, 5), 2)
    params = ((2, 2, 3), (1, 2, 2), (1, 0, 1))
    const_x = T.constant(x)
    pooled_shape = loop_pool(x, *params[:1], True, params[1], params[2]).shape
    rng = np.random.default_rng(4)
    op = PoolGrad(3, True, mode)
    verify_grad(lambda g: op(const_x, g, *params), [rng.normal(size=pooled_shape)], mode="py")
    if mode == "max":
        select = MaxPoolGradGrad(3, True, "max")
        verify_grad(lambda gg: select(const_x, gg, *params), [rng.normal(size=x.shape)], mode="py")
        # Second derivative of a max-pooled loss: the routing is constant, the square is not.
        verify_grad(lambda v: symdl.grad(T.sum(pool_3d(v, (2, 2, 3)) ** 2), v), [x], mode="py")


def test_max_pool_3d_gradient_goes_to_the_first_maximum(backend):
    x = np.zeros((2, 2, 2))
    x[0, 1, 0] = x[1, 0, 1] = 1.0  # a tie: the first in row-major order wins
    X = T.dtensor3("x")
    g = symdl.function([X], symdl.grad(pool_3d(X, (2, 2, 2)).sum(), X), mode=backend)(x)
    expected = np.zeros((2, 2, 2))
    expected[0, 1, 0] = 1.0
    np.testing.assert_array_equal(g, expected)


def test_pool_3d_static_shapes_and_float32():
    x = T.tensor5("x", shape=(None, 8, 16, None, 13))
    out = pool_3d(x, (2, 2, 2))
    assert out.type.shape == (None, 8, 8, None, 6) and out.dtype == "float32"
    assert pool_3d(x, 3, ignore_border=False, stride=2).type.shape == (None, 8, 8, None, 6)
    assert str(out.owner.op) == "Pool{3d, max}"


def test_pool_errors():
    with pytest.raises(ShapeError, match="window .* larger than the input"):
        pool_3d(T.tensor5(shape=(None, 1, 3, 8, 8)), (4, 2, 2))
    with pytest.raises(ValueError, match="ignore_border=True"):
        pool_3d(T.tensor5(), (2, 2, 2), ignore_border=False, pad=(1, 1, 1))
    with pytest.raises(ValueError, match="smaller than the window"):
        pool_3d(T.tensor5(), (2, 2, 2), pad=(2, 0, 0))
    with pytest.raises(ValueError, match="3 entries"):
        pool_3d(T.tensor5(), (2, 2))
    with pytest.raises(ValueError, match="mode"):
        pool_3d(T.tensor5(), (2, 2, 2), mode="median")
    with pytest.raises(ShapeError, match="last 3 axes"):
        pool_3d(T.matrix(), (2, 2, 2))
    # Symbolic windows are checked when the function runs.
    X, ws = T.dtensor4(), T.lvector()
    f = symdl.function([X, ws], pool_2d(X, ws, pad=(1, 1)), mode="py")
    with pytest.raises(ValueError, match="smaller than the window"):
        f(np.zeros((1, 1, 4, 4)), np.array([1, 2]))
    with pytest.raises(ShapeError, match="larger than the input"):
        f(np.zeros((1, 1, 4, 4)), np.array([7, 2]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", MODES)
def test_pooling_runs_in_c_equal_to_perform_to_the_last_bit(mode, dtype):
    X, G = T.tensor5("x", dtype=dtype), T.tensor5("g", dtype=dtype)
    params = [((2, 3, 2), True, (1, 2, 2), (1, 1, 0)), ((3, 2, 2), False, (2, 1, 3), (0, 0, 0))]
    outputs = []
    for ws, ignore_border, stride, pad in params:
        pooled = pool_3d(X, ws, ignore_border, stride, pad, mode)
        outputs += [pooled, symdl.grad((pooled * pooled).sum(), X)]
        if mode == "max":
            outputs.append(MaxPoolGradGrad(3, ignore_border, "max")(X, G, ws, stride, pad))
    x = np.round(np.random.default_rng(5).normal(size=(2, 1, 5, 6, 7)), 1).astype(dtype)  # many ties
    x[0, 0, 1, 2, 3] = np.nan
    x = x[:, :, :, :, ::-1]  # a reversed view
    g = np.random.default_rng(6).normal(size=x.shape).astype(dtype)
    f = symdl.function([X, G], outputs, mode="c", on_unused_input="ignore")
    got = f(x, g)
    assert "A->pool_nd(" in f.source()
    assert all(backend == "c" for op, backend, _, _ in f.profile().rows if "Pool" in op), f.profile()
    want = symdl.function([X, G], outputs, mode="py", on_unused_input="ignore")(x, g)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_bad_windows_at_run_time_raise_from_c_naming_the_node():
    X, ws = T.dtensor4("x"), T.lvector("ws")
    f = symdl.function([X, ws], pool_2d(X, ws, pad=(1, 1)), mode="c")
    assert "A->pool_nd(" in f.source()
    with pytest.raises(ValueError, match=r"^Pool\{2d, max\} \(output .*\): pool: padding \(1, 1\) must be smaller"):
        f(np.zeros((1, 1, 4, 4)), np.array([1, 2]))
    with pytest.raises(ShapeError, match=r"pool: window \(7, 2\) is larger than the input \(4, 4\) \(padded by"):
        f(np.zeros((1, 1, 4, 4)), np.array([7, 2]))
    with pytest.raises(ValueError, match=r"pool: window \(0, 2\) and stride \(0, 2\) must be positive"):
        f(np.zeros((1, 1, 4, 4)), np.array([0, 2]))
