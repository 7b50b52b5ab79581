"""Pooling layers: shapes (Lasagne's formulas) and values against NumPy."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import layers
from symdl.layers.pool import pool_output_length


def run(net, x, mode="py"):
    return symdl.function([layers.get_all_layers(net)[0].input_var], layers.get_output(net), mode=mode)(x)


def test_max_pool_shape_and_values(rng):
    net = layers.MaxPool2DLayer(layers.InputLayer((None, 3, 6, 6)), 2)
    assert net.output_shape == (None, 3, 3, 3) and layers.count_params(net) == 0
    x = rng.normal(size=(2, 3, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(run(net, x), x.reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)))


@pytest.mark.parametrize("mode", ["average_inc_pad", "average_exc_pad"])
def test_average_pool_values(rng, mode):
    net = layers.Pool2DLayer(layers.InputLayer((None, 1, 4, 4)), 2, mode=mode)
    x = rng.normal(size=(2, 1, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(run(net, x), x.reshape(2, 1, 2, 2, 2, 2).mean(axis=(3, 5)), rtol=1e-6)


def test_stride_pad_and_ignore_border_shapes():
    l_in = layers.InputLayer((None, 2, 7, 7))
    assert layers.MaxPool2DLayer(l_in, 2).output_shape == (None, 2, 3, 3)
    assert layers.MaxPool2DLayer(l_in, 2, ignore_border=False).output_shape == (None, 2, 4, 4)
    assert layers.MaxPool2DLayer(l_in, 3, stride=1).output_shape == (None, 2, 5, 5)
    net = layers.MaxPool2DLayer(l_in, 3, stride=2, pad=1)
    assert net.output_shape == (None, 2, 4, 4)
    assert run(net, np.zeros((1, 2, 7, 7), np.float32)).shape == (1, 2, 4, 4)
    partial = layers.MaxPool2DLayer(l_in, 2, ignore_border=False)
    assert run(partial, np.zeros((1, 2, 7, 7), np.float32)).shape == (1, 2, 4, 4)


def test_global_pool_mean_and_max(rng):
    l_in = layers.InputLayer((None, 4, 3, 3))
    x = rng.normal(size=(2, 4, 3, 3)).astype(np.float32)
    mean_pool = layers.GlobalPoolLayer(l_in)
    assert mean_pool.output_shape == (None, 4)
    np.testing.assert_allclose(run(mean_pool, x), x.mean(axis=(2, 3)), rtol=1e-5)
    np.testing.assert_allclose(run(layers.GlobalPoolLayer(l_in, T.max), x), x.max(axis=(2, 3)))


def test_pool_output_length_formula_and_errors():
    assert pool_output_length(5, 2, 1, 0, False) == 4
    with pytest.raises(ValueError, match="does not fit"):
        layers.MaxPool2DLayer(layers.InputLayer((None, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match="unknown mode"):
        layers.Pool2DLayer(layers.InputLayer((None, 1, 4, 4)), 2, mode="median")


def test_max_pool_layer_builds_one_pool2d_node():
    out = layers.get_output(layers.MaxPool2DLayer(layers.InputLayer((None, 3, 6, 6)), 2))
    assert type(out.owner.op).__name__ == "Pool2d" and out.owner.inputs[0].owner is None


@pytest.mark.parametrize(("pool", "stride", "pad", "ignore_border"), [(2, None, 0, True), (3, 2, 1, True),
                                                                      (3, 2, 0, False), (2, 3, 0, False)])  # fmt: skip
def test_pool_1d_pools_the_last_axis_as_a_2d_pool_of_width_one(rng, pool, stride, pad, ignore_border):
    net = layers.MaxPool1DLayer(layers.InputLayer((None, 3, 11)), pool, stride, pad, ignore_border)
    x = rng.normal(size=(2, 3, 11)).astype(np.float32)
    want = run(layers.MaxPool2DLayer(layers.InputLayer((None, 3, 11, 1)), (pool, 1), (stride or pool, 1), (pad, 0),
                                     ignore_border), x[..., None])[..., 0]  # fmt: skip
    got = run(net, x)
    assert got.shape == (2, *net.output_shape[1:])
    np.testing.assert_array_equal(got, want)
    average = layers.Pool1DLayer(layers.InputLayer((None, 3, 12)), 3, mode="average_inc_pad")
    y = rng.normal(size=(2, 3, 12)).astype(np.float32)
    np.testing.assert_allclose(run(average, y), y.reshape(2, 3, 4, 3).mean(axis=-1), rtol=1e-6)


@pytest.mark.parametrize("mode", ["max", "average_inc_pad"])
def test_pool_3d_layer_values(rng, backend, mode):
    net = layers.Pool3DLayer(layers.InputLayer((None, 2, 4, 6, 5)), 2, mode=mode)
    assert net.output_shape == (None, 2, 2, 3, 2)
    x = rng.normal(size=(3, 2, 4, 6, 5)).astype(np.float32)
    blocks = x[..., :4].reshape(3, 2, 2, 2, 3, 2, 2, 2)
    want = blocks.max(axis=(3, 5, 7)) if mode == "max" else blocks.mean(axis=(3, 5, 7))
    np.testing.assert_allclose(run(net, x, mode=backend), want, rtol=1e-5)
    assert layers.MaxPool3DLayer(layers.InputLayer((None, 2, 4, 6, 5)), 2, stride=1, pad=1).output_shape == (
        None, 2, 5, 7, 6,
    )  # fmt: skip


def test_pool_layers_say_which_dimensions_they_expect():
    for layer, shape, expected in [
        (layers.MaxPool1DLayer, (10, 20), 3),
        (layers.MaxPool2DLayer, (10, 20, 30), 4),
        (layers.Pool3DLayer, (10, 20, 30, 40), 5),
    ]:
        with pytest.raises(ValueError, match=f"Expected {expected} input dimensions"):
            layer(shape, 2)


@pytest.mark.parametrize("factor", [2, 3])
def test_upscale_layers_repeat_or_dilate(rng, factor):
    x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    repeat = layers.Upscale2DLayer(layers.InputLayer((None, 3, 4, 5)), (factor, 2))
    assert repeat.output_shape == (None, 3, 4 * factor, 10)
    np.testing.assert_array_equal(run(repeat, x), x.repeat(factor, axis=2).repeat(2, axis=3))
    dilate = layers.Upscale2DLayer(layers.InputLayer((None, 3, None, 5)), factor, mode="dilate")
    assert dilate.output_shape == (None, 3, None, 5 * factor)
    want = np.zeros((2, 3, 4 * factor, 5 * factor), np.float32)
    want[:, :, ::factor, ::factor] = x
    np.testing.assert_array_equal(run(dilate, x), want)
    y = rng.normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(run(layers.Upscale1DLayer(layers.InputLayer((None, 3, 4)), factor), y),
                                  y.repeat(factor, axis=2))  # fmt: skip
    z = rng.normal(size=(1, 2, 2, 3, 2)).astype(np.float32)
    want3 = np.zeros((1, 2, 2 * factor, 3 * factor, 2 * factor), np.float32)
    want3[:, :, ::factor, ::factor, ::factor] = z
    np.testing.assert_array_equal(run(layers.Upscale3DLayer(layers.InputLayer(z.shape), factor, "dilate"), z), want3)
    with pytest.raises(ValueError, match=">= 1"):
        layers.Upscale2DLayer(layers.InputLayer((None, 3, 4, 5)), (2, 0))
    with pytest.raises(ValueError, match="'repeat' or 'dilate'"):
        layers.Upscale3DLayer(layers.InputLayer((None, 3, 4, 5, 6)), 2, mode="nearest")


def test_feature_pool_is_maxout_and_wta_keeps_the_first_winner(rng):
    x = rng.normal(size=(2, 6, 5)).astype(np.float32)
    maxout = layers.FeaturePoolLayer(layers.InputLayer((None, 6, 5)), 3)
    assert maxout.output_shape == (None, 2, 5)
    np.testing.assert_array_equal(run(maxout, x), x.reshape(2, 2, 3, 5).max(axis=2))
    along_last = layers.FeaturePoolLayer(layers.InputLayer((None, 6, 4)), 2, axis=2, pool_function=T.mean)
    np.testing.assert_allclose(run(along_last, x[:, :, :4]), x[:, :, :4].reshape(2, 6, 2, 2).mean(axis=3), rtol=1e-6)
    with pytest.raises(ValueError, match="not a multiple of the pool size"):
        layers.FeaturePoolLayer(layers.InputLayer((None, 5, 4)), 2)
    wta = layers.FeatureWTALayer(layers.InputLayer((None, 4, 2)), 2)
    ties = np.array([[[1, 2], [1, 0], [3, 3], [3, 4]]], np.float32)
    np.testing.assert_array_equal(run(wta, ties), [[[1, 2], [0, 0], [3, 0], [0, 4]]])
    with pytest.raises(ValueError, match="not a multiple of the pool size"):
        layers.FeatureWTALayer(layers.InputLayer((None, 4, 2)), 3)


def numpy_pyramid(x, dims, reduce):
    """The bins of He et al.: rows [floor(i h / d), ceil((i + 1) h / d)), the same for columns."""
    h, w = x.shape[2:]
    levels = []
    for d in dims:
        for i in range(d):
            for j in range(d):
                rows = slice(i * h // d, -(-(i + 1) * h // d))
                cols = slice(j * w // d, -(-(j + 1) * w // d))
                levels.append(reduce(x[:, :, rows, cols], axis=(2, 3)))
    return np.stack(levels, axis=2)


@pytest.mark.parametrize("known", [True, False])
def test_spatial_pyramid_pooling(rng, known):
    x = rng.normal(size=(2, 3, 9, 7)).astype(np.float32)
    shape = x.shape if known else (None, 3, None, None)
    fast = layers.SpatialPyramidPoolingLayer(layers.InputLayer(shape), [1, 2, 3])
    assert fast.output_shape == (shape[0], 3, 14)
    # 'fast': windows of ceil(size / d) at strides of floor(size / d).
    want = np.concatenate(
        [
            run(
                layers.MaxPool2DLayer(layers.InputLayer(x.shape), (-(-9 // d), -(-7 // d)), (9 // d, 7 // d)), x
            ).reshape(2, 3, d * d)
            for d in (1, 2, 3)
        ],
        axis=2,
    )
    np.testing.assert_array_equal(run(fast, x), want)
    for mode, reduce in [("max", np.max), ("average_exc_pad", np.mean)]:
        kaiming = layers.SpatialPyramidPoolingLayer(layers.InputLayer(shape), [1, 2, 3], mode, "kaiming")
        np.testing.assert_allclose(run(kaiming, x), numpy_pyramid(x, [1, 2, 3], reduce), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Mode must be either"):
        layers.get_output(layers.SpatialPyramidPoolingLayer(layers.InputLayer(shape), [1], "median", "kaiming"))
    with pytest.raises(ValueError, match="Expected 4 input dimensions"):
        layers.SpatialPyramidPoolingLayer(layers.InputLayer((None, 3, 5)))
