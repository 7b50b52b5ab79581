"""Bilinear sampling and affine grids against loop references written here, with gradients by
finite differences with respect to the image, the grid and the affine parameters; the gather and
scatter-add ops it rests on, their shape inference and build-time errors."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError, TypeMismatch
from symdl.tensor.nnet import BatchGather, BatchScatterAdd, affine_grid, batch_gather, bilinear_sample
from symdl.tensor.shape import shape_i
from symdl.testing import compare_with_numpy, compare_with_numpy_both_ways, symbolic_inputs_like, verify_grad


def fold(p, n, mode):
    """Pixel index p (an int, maybe outside [0, n)) brought inside the image."""
    if mode == "nearest":
        return min(max(p, 0), n - 1)
    if mode == "wrap":
        return p % n
    if n == 1:
        return 0
    period = 2 * (n - 1)
    p %= period
    return p if p < n else period - p


def loop_bilinear(img, grid, mode="nearest"):
    batch, channels, rows, cols = img.shape
    out = np.zeros((batch, channels) + grid.shape[1:3])
    for b, i, j in np.ndindex(batch, *grid.shape[1:3]):
        x = (grid[b, i, j, 0] + 1) / 2 * (cols - 1)
        y = (grid[b, i, j, 1] + 1) / 2 * (rows - 1)
        for py in (np.floor(y), np.floor(y) + 1):
            for px in (np.floor(x), np.floor(x) + 1):
                weight = (1 - abs(x - px)) * (1 - abs(y - py))
                out[b, :, i, j] += weight * img[b, :, fold(int(py), rows, mode), fold(int(px), cols, mode)]
    return out


def loop_affine_grid(theta, rows, cols):
    theta = theta.reshape(-1, 2, 3)
    grid = np.zeros((theta.shape[0], rows, cols, 2))
    ys = [-1.0] if rows == 1 else [-1 + 2 * i / (rows - 1) for i in range(rows)]
    xs = [-1.0] if cols == 1 else [-1 + 2 * j / (cols - 1) for j in range(cols)]
    for b, i, j in np.ndindex(theta.shape[0], rows, cols):
        grid[b, i, j] = theta[b] @ [xs[j], ys[i], 1.0]
    return grid


def random_grid(rng, batch, rows, cols, spread=1.4):
    """Points inside and outside [-1, 1]^2, none on a pixel centre (kinks of the interpolant)."""
    return rng.uniform(-spread, spread, size=(batch, rows, cols, 2))


# (image shape, output rows, cols): odd sizes, one-pixel rows/columns, one output point.
CASES = [((2, 3, 5, 4), 3, 6), ((1, 2, 1, 5), 2, 2), ((3, 1, 4, 1), 1, 3), ((1, 1, 2, 2), 1, 1)]


@pytest.mark.parametrize("mode", ["nearest", "mirror", "wrap"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,rows,cols", CASES, ids=str)
def test_bilinear_sample_matches_loop_reference(backend, shape, rows, cols, dtype, mode):
    rng = np.random.default_rng(0)
    img = rng.normal(size=shape).astype(dtype)
    grid = random_grid(rng, shape[0], rows, cols, spread=3.0).astype(dtype)

    def reference(i, g):
        return loop_bilinear(i.astype("float64"), g.astype("float64"), mode).astype(dtype)

    compare_with_numpy_both_ways(
        lambda i, g: bilinear_sample(i, g, mode), reference, [img, grid], backends=[backend], rtol=1e-4, atol=1e-5
    )


def test_bilinear_sample_of_non_contiguous_inputs(backend):
    rng = np.random.default_rng(1)
    img, grid = rng.normal(size=(4, 6, 3, 2)), random_grid(rng, 2, 2, 4).transpose(0, 2, 1, 3)
    IMG, G = T.dtensor4("img"), T.dtensor4("grid")
    out = bilinear_sample(IMG.dimshuffle(3, 2, 0, 1)[:, ::2], G.dimshuffle(0, 2, 1, 3), "mirror")
    got = symdl.function([IMG, G], out, mode=backend)(img, grid)
    expected = loop_bilinear(img.transpose(3, 2, 0, 1)[:, ::2], grid.transpose(0, 2, 1, 3), "mirror")
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_bilinear_sample_at_pixel_centres_reads_the_pixels(backend):
    img = np.arange(2 * 3 * 4 * 5, dtype="float32").reshape(2, 3, 4, 5)
    theta = np.tile(np.float32([1, 0, 0, 0, 1, 0]), (2, 1))
    IMG, TH = T.ftensor4("img"), T.fmatrix("theta")
    out = symdl.function([IMG, TH], bilinear_sample(IMG, affine_grid(TH, 4, 5)), mode=backend)(img, theta)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, img, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("mode", ["nearest", "mirror", "wrap"])
def test_bilinear_sample_gradient_with_respect_to_image_and_grid(backend, mode):
    rng = np.random.default_rng(2)
    img, grid = rng.normal(size=(2, 2, 3, 4)), random_grid(rng, 2, 2, 3)
    verify_grad(lambda i, g: bilinear_sample(i, g, mode), [img, grid], mode=backend, n_tests=1)


def test_bilinear_sample_gradient_with_respect_to_affine_parameters(backend):
    rng = np.random.default_rng(3)
    img = rng.normal(size=(2, 2, 5, 6))
    theta = np.array([[0.9, 0.13, 0.05, -0.11, 1.1, 0.07], [1.2, -0.2, 0.1, 0.3, 0.8, -0.15]])
    verify_grad(lambda i, th: bilinear_sample(i, affine_grid(th, 4, 3)), [img, theta], mode=backend, n_tests=1)


def test_bilinear_sample_can_be_differentiated_twice(backend):
    rng = np.random.default_rng(4)
    img, grid = rng.normal(size=(1, 2, 3, 3)), random_grid(rng, 1, 2, 2)

    def input_gradient(i, g):
        return symdl.grad((bilinear_sample(i, g) ** 2).sum(), i)

    verify_grad(input_gradient, [img, grid], mode=backend, n_tests=1)


@pytest.mark.parametrize("rows,cols", [(3, 4), (1, 2), (2, 1)])
def test_affine_grid_matches_loop_reference(backend, rows, cols):
    theta = np.random.default_rng(5).normal(size=(3, 6))
    compare_with_numpy(lambda th: affine_grid(th, rows, cols), lambda th: loop_affine_grid(th, rows, cols), [theta])
    R, C = T.lscalar("rows"), T.lscalar("cols")
    TH = T.dmatrix("theta")
    symbolic = symdl.function([TH, R, C], affine_grid(TH, R, C), mode=backend)(theta, rows, cols)
    np.testing.assert_allclose(symbolic, loop_affine_grid(theta, rows, cols), rtol=1e-12, atol=1e-15)


def test_affine_grid_keeps_static_shapes_and_dtype():
    grid = affine_grid(T.ftensor3("theta", shape=(None, 2, 3)), 7, 5)
    assert grid.type.shape == (None, 7, 5, 2) and grid.dtype == "float32"
    out = bilinear_sample(T.ftensor4(shape=(None, 3, 28, 28)), grid)
    assert out.type.shape == (None, 3, 7, 5) and out.dtype == "float32"


def np_batch_gather(x, idx):
    return np.stack([x[b][:, idx[b]] for b in range(x.shape[0])])


def np_batch_scatter_add(g, idx, n):
    out = np.zeros(g.shape[:2] + (n,), g.dtype)
    for b, k in np.ndindex(*idx.shape):
        out[b, :, idx[b, k]] += g[b, :, k]
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("shape,k", [((2, 3, 5), 7), ((1, 1, 1), 3), ((3, 2, 4), 0), ((2, 0, 3), 2)], ids=str)
def test_batch_gather_and_scatter_add_match_numpy(backend, shape, k, dtype):
    rng = np.random.default_rng(6)
    x = (rng.normal(size=shape) * 10).astype(dtype)
    idx = rng.integers(0, shape[2], size=(shape[0], k))  # repeated indices included
    g = (rng.normal(size=shape[:2] + (k,)) * 10).astype(dtype)
    compare_with_numpy_both_ways(batch_gather, np_batch_gather, [x, idx], backends=[backend])
    compare_with_numpy(
        lambda gv, iv: BatchScatterAdd()(gv, iv, shape[2]),
        lambda gv, iv: np_batch_scatter_add(gv, iv, shape[2]),
        [g, idx],
        backends=[backend],
    )


def test_batch_gather_and_scatter_add_gradients(backend):
    rng = np.random.default_rng(7)
    idx = T.constant(np.array([[0, 3, 3, 1], [2, 2, 0, 3]]))
    verify_grad(lambda x: batch_gather(x, idx), [rng.normal(size=(2, 3, 4))], mode=backend)
    verify_grad(lambda g: BatchScatterAdd()(g, idx, 5), [rng.normal(size=(2, 3, 4))], mode=backend)


def test_batch_gather_and_scatter_add_infer_their_shapes():
    x, idx = np.zeros((2, 3, 5)), np.zeros((2, 4), "int64")
    g = np.zeros((2, 3, 4))
    for build, values, expected in [
        (batch_gather, [x, idx], (2, 3, 4)),
        (lambda gv, iv: BatchScatterAdd()(gv, iv, T.lscalar("n")), [g, idx], None),
    ]:
        inputs = symbolic_inputs_like(values)
        out = build(*inputs)
        shapes = [[shape_i(v, d) for d in range(v.ndim)] for v in out.owner.inputs]
        dims = out.owner.op.infer_shape(out.owner, shapes)[0]
        n = out.owner.inputs[-1]
        given = {v: val for v, val in zip(inputs, values)}
        if expected is None:
            given[n] = np.int64(6)
            expected = (2, 3, 6)
        f = symdl.function(list(given), [T.as_tensor_variable(d) for d in dims], mode="py", on_unused_input="ignore")
        assert tuple(int(d) for d in f(*given.values())) == expected
    assert BatchScatterAdd()(T.dtensor3(), T.lmatrix(), 6).type.shape == (None, None, 6)
    assert batch_gather(T.tensor("float64", (2, 3, None)), T.tensor("int64", (None, 4))).type.shape == (2, 3, 4)


def test_out_of_range_indices_are_refused_at_run_time(backend):
    x, idx = T.dtensor3("x"), T.lmatrix("idx")
    f = symdl.function([x, idx], batch_gather(x, idx), mode=backend)
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        f(np.zeros((1, 2, 3)), np.array([[3]]))
    g = symdl.function([x, idx], BatchScatterAdd()(x, idx, 2), mode=backend)
    with pytest.raises(IndexError, match=r"\[0, 2\)"):
        g(np.zeros((1, 2, 1)), np.array([[-1]]))


def test_sampling_errors():
    with pytest.raises(ValueError, match="border_mode"):
        bilinear_sample(T.tensor4(), T.tensor4(), "reflect")
    with pytest.raises(TypeMismatch, match="4-d float tensor"):
        bilinear_sample(T.tensor3(), T.tensor4())
    with pytest.raises(TypeMismatch, match=r"\(batch, out_rows, out_cols, 2\)"):
        bilinear_sample(T.tensor4(), T.tensor4(shape=(None, 2, 2, 3)))
    with pytest.raises(ShapeError, match="batch sizes differ"):
        bilinear_sample(T.tensor4(shape=(2, 1, 3, 3)), T.tensor4(shape=(3, 2, 2, 2)))
    with pytest.raises(TypeMismatch, match="matrix of integers"):
        BatchGather()(T.dtensor3(), T.dmatrix())
    with pytest.raises(ShapeError, match="3-d"):
        BatchGather()(T.dmatrix(), T.lmatrix())
    with pytest.raises(TypeMismatch, match="integer scalar"):
        BatchScatterAdd()(T.dtensor3(), T.lmatrix(), 2.5)
    with pytest.raises(TypeMismatch, match=r"\(batch, 2, 3\)"):
        affine_grid(T.dmatrix(shape=(None, 4)), 2, 2)


def test_batch_size_mismatch_at_run_time_is_reported(backend):
    img, grid = T.dtensor4("img"), T.dtensor4("grid")
    f = symdl.function([img, grid], bilinear_sample(img, grid), mode=backend)
    with pytest.raises(ShapeError, match="2 images but indices for 3"):
        f(np.zeros((2, 1, 3, 3)), np.zeros((3, 2, 2, 2)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_spatial_transformer_runs_in_c_with_its_gradients(dtype):
    img, grid = T.tensor4("img", dtype=dtype), T.tensor4("grid", dtype=dtype)
    out = bilinear_sample(img, grid)
    f = symdl.function([img, grid], [out, *symdl.grad(out.sum(), [img, grid])], mode="c")
    rng = np.random.default_rng(8)
    values = [rng.normal(size=(2, 3, 5, 4)).astype(dtype), rng.uniform(-1.2, 1.2, size=(2, 3, 6, 2)).astype(dtype)]
    got = f(*values)
    assert all(backend == "c" for _, backend, _, _ in f.profile().rows), f.profile()
    assert "A->batch_gather(" in f.source() and "A->batch_scatter_add(" in f.source()
    want = symdl.function([img, grid], [out, *symdl.grad(out.sum(), [img, grid])], mode="py")(*values)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)


def test_errors_raised_in_c_name_the_node():
    x, idx = T.dtensor3("x"), T.lmatrix("idx")
    f = symdl.function([x, idx], [batch_gather(x, idx), BatchScatterAdd()(x, idx, 4)], mode="c")
    with pytest.raises(ShapeError, match=r"^batch_gather \(output .*\): batch_gather: 2 images but indices for 3$"):
        f(np.zeros((2, 1, 4)), np.zeros((3, 1), "int64"))
    g = symdl.function([x, idx], BatchScatterAdd()(x, idx, 4), mode="c")
    with pytest.raises(
        ShapeError,
        match=r"^batch_scatter_add \(output .*\): batch_scatter_add: values of shape \(2, 1, 2\) for indices",
    ):
        g(np.zeros((2, 1, 2)), np.zeros((2, 3), "int64"))
    with pytest.raises(
        IndexError,
        match=r"^batch_scatter_add \(output .*\): batch_scatter_add: indices must lie in \[0, 4\), got \[0, 4\]",
    ):
        g(np.zeros((1, 1, 2)), np.array([[0, 4]]))
