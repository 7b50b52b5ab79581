"""TransformerLayer and TPSTransformerLayer: shapes (fixed and variable image sizes), identity and
shifted maps, the spline's interpolation of its control points, border modes, gradients with
respect to the localization output, and construction errors."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import layers
from symdl.testing import verify_grad

IDENTITY = np.float32([1, 0, 0, 0, 1, 0])


def test_affine_identity_reproduces_the_input(backend):
    l_in, l_loc = layers.InputLayer((10, 3, 28, 28)), layers.InputLayer((10, 6))
    net = layers.TransformerLayer(l_in, l_loc)
    x = np.arange(10 * 3 * 28 * 28, dtype=np.float32).reshape(10, 3, 28, 28)
    out = symdl.function([l_in.input_var, l_loc.input_var], layers.get_output(net), mode=backend)(
        x, np.tile(IDENTITY, (10, 1))
    )
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x, rtol=1e-6)


def test_affine_downsampling_with_fixed_and_variable_image_sizes():
    downsample = (0.7, 2.3)
    l_in = layers.InputLayer((None, 3, 28, 28))
    l_loc = layers.DenseLayer(l_in, 6)
    fixed = layers.TransformerLayer(l_in, l_loc, downsample_factor=downsample)
    assert fixed.output_shape == (None, 3, 40, 12)  # 28 // 0.7 == 40.0 in floating point, as Lasagne
    l_var = layers.InputLayer((None, 3, None, 28))
    loc_var = layers.DenseLayer(layers.ReshapeLayer(l_var, ([0], 3 * 28 * 28)), 6, W=l_loc.W, b=l_loc.b)
    variable = layers.TransformerLayer(l_var, loc_var, downsample_factor=downsample)
    assert variable.output_shape == (None, 3, None, 12)
    x = np.random.default_rng(0).random((4, 3, 28, 28)).astype(np.float32)
    X = T.tensor4("x")
    out_fixed = layers.get_output(fixed, X).eval({X: x})
    out_variable = layers.get_output(variable, X).eval({X: x})
    assert out_fixed.shape == (4, 3, 40, 12)
    np.testing.assert_allclose(out_variable, out_fixed, rtol=1e-5, atol=1e-5)


def test_border_modes_read_outside_the_image_as_lasagne():
    l_in, l_loc = layers.InputLayer((1, 1, 16, 16)), layers.InputLayer((1, 6))
    image = np.hstack([np.zeros((16, 8)), np.ones((16, 8))]).astype(np.float32).reshape(1, 1, 16, 16)
    zoom_out = T.constant(np.float32([[4, 0, 0, 0, 1, 0]]))
    expected = {
        "nearest": image[0, 0],
        "mirror": [0.5, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0.5],
        "wrap": [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0],
    }
    for mode, rows in expected.items():
        net = layers.TransformerLayer(l_in, l_loc, border_mode=mode)
        out = net.get_output_for([T.constant(image), zoom_out]).eval()
        np.testing.assert_allclose(out[0, 0], np.broadcast_to(rows, (16, 16)), rtol=1e-6, atol=1e-6)


def test_affine_gradient_with_respect_to_the_localization_output(backend):
    image = np.random.default_rng(1).normal(size=(2, 2, 5, 6))
    theta = np.array([[0.9, 0.1, 0.05, -0.1, 1.1, 0.07], [1.2, -0.2, 0.1, 0.3, 0.8, -0.15]])
    net = layers.TransformerLayer((2, 2, 5, 6), (2, 6), downsample_factor=1.5)
    verify_grad(lambda x, th: net.get_output_for([x, th]), [image, theta], mode=backend, n_tests=1)


def tps(shape=(5, 3, 28, 28), points=16, **kwargs):
    return layers.TPSTransformerLayer(layers.InputLayer(shape), layers.InputLayer((shape[0], 2 * points)), **kwargs)


@pytest.mark.parametrize("precompute", [True, False])
def test_thin_plate_spline_identity_and_shift(precompute):
    net = tps(control_points=16, precompute_grid=precompute)
    assert net.precompute_grid is precompute and net.output_shape == (5, 3, 28, 28)
    x = np.arange(5 * 3 * 28 * 28, dtype=np.float32).reshape(5, 3, 28, 28)
    out = net.get_output_for([T.constant(x), T.constant(np.zeros((5, 32), np.float32))]).eval()
    np.testing.assert_allclose(out, x, rtol=1e-6)
    # Every control point moved by +1 (half the image) along x and y: a translation.
    image = np.zeros((28, 28))
    image[[0, -1], :] = image[:, [0, -1]] = 1
    shifted = np.ones((28, 28))
    shifted[:13, :13] = 0
    shifted[13, :13] = shifted[:13, 13] = 0.5
    shifted[13, 13] = 0.75
    out = net.get_output_for([T.constant(np.tile(image, (5, 3, 1, 1))), T.constant(np.ones((5, 32)))]).eval()
    np.testing.assert_allclose(out, np.tile(shifted, (5, 3, 1, 1)), atol=1e-5)


def test_thin_plate_spline_takes_control_points_to_their_destinations():
    """With a 4x4 output the output pixels are the control points; on a linear image, bilinear
    interpolation is exact, so each reads the image at its control point's destination."""
    net = tps((2, 1, 4, 4), control_points=16)
    rows, cols = np.mgrid[0:4, 0:4].astype(np.float64)
    image = (2 * cols + 5 * rows).reshape(1, 1, 4, 4).repeat(2, axis=0)
    offsets = np.random.default_rng(2).uniform(-0.3, 0.3, size=(2, 32))
    out = net.get_output_for([T.constant(image), T.constant(offsets)]).eval()
    source = net.source_points  # (2, 16): x then y, row-major over the 4x4 grid
    dest = source[None] + offsets.reshape(2, 2, 16)
    dest = np.clip(dest, -1, 1)  # 'nearest' border: the linear image is flat outside
    expected = 2 * (dest[:, 0] + 1) * 1.5 + 5 * (dest[:, 1] + 1) * 1.5
    np.testing.assert_allclose(out.reshape(2, 16), expected, rtol=1e-10)


def test_thin_plate_spline_precomputed_and_symbolic_grids_agree():
    offsets = np.random.default_rng(3).normal(scale=0.2, size=(3, 18)).astype(np.float32)
    x = np.random.default_rng(4).random((3, 2, 13, 17)).astype(np.float32)
    outs = []
    for precompute in (True, False):
        net = tps((3, 2, 13, 17), points=9, control_points=9, downsample_factor=(0.7, 2.3), precompute_grid=precompute)
        outs.append(net.get_output_for([T.constant(x), T.constant(offsets)]).eval())
    assert outs[0].shape == (3, 2, 18, 7) and outs[0].dtype == np.float32
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4, atol=1e-4)
    var = layers.TPSTransformerLayer(layers.InputLayer((None, 2, None, 17)), layers.InputLayer((None, 18)), 1.0, 9)
    assert var.precompute_grid is False and var.output_shape == (None, 2, None, 17)


def test_thin_plate_spline_gradient_with_respect_to_the_offsets(backend):
    image = np.random.default_rng(5).normal(size=(2, 1, 5, 4))
    offsets = np.random.default_rng(6).uniform(-0.2, 0.2, size=(2, 8))
    net = tps((2, 1, 5, 4), points=4, control_points=4, downsample_factor=1.4, border_mode="mirror")
    verify_grad(lambda x, off: net.get_output_for([x, off]), [image, offsets], mode=backend, n_tests=1)


def test_transformer_construction_errors():
    l_in = layers.InputLayer((None, 3, 28, 28))
    with pytest.raises(ValueError, match=r"\(batch_size, 6\)"):
        layers.TransformerLayer(l_in, layers.DenseLayer(l_in, 5))
    with pytest.raises(ValueError, match="4-dimensional"):
        flat = layers.InputLayer((3, 28, 28))
        layers.TransformerLayer(flat, layers.DenseLayer(flat, 6))
    with pytest.raises(ValueError, match="border_mode"):
        layers.TransformerLayer(l_in, layers.DenseLayer(l_in, 6), border_mode="invalid")
    with pytest.raises(ValueError, match=r"2 \* control_points\) = \(batch_size, 32\)"):
        layers.TPSTransformerLayer(l_in, layers.DenseLayer(l_in, 48))
    with pytest.raises(ValueError, match="perfect square"):
        layers.TPSTransformerLayer(l_in, layers.DenseLayer(l_in, 34), control_points=17)
    with pytest.raises(ValueError, match="can only be precomputed"):
        variable = layers.InputLayer((None, 3, None, 28))
        layers.TPSTransformerLayer(variable, layers.InputLayer((None, 32)), precompute_grid=True)
