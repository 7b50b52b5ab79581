"""Lasagne's GPU-only layer classes (``symdl.layers.dnn``, ``symdl.layers.corrmm``,
``symdl.layers.cuda_convnet``) on any device: the defaults and restrictions that differ from the
plain layers, the c01b layout, and values equal to the plain layers'."""

import numpy as np
import pytest

import symdl
from symdl import layers
from symdl.layers import corrmm, cuda_convnet, dnn


def run(net, x):
    return symdl.function([layers.get_all_layers(net)[0].input_var], layers.get_output(net), mode="py")(x)


def test_dnn_convolutions_cross_correlate_by_default(rng):
    l_in = layers.InputLayer((None, 2, 7, 6))
    conv = dnn.Conv2DDNNLayer(l_in, 3, 3, pad="same", nonlinearity=None)
    assert conv.flip_filters is False and conv.output_shape == (None, 3, 7, 6)
    plain = layers.Conv2DLayer(l_in, 3, 3, pad="same", W=conv.W, b=conv.b, nonlinearity=None, flip_filters=False)
    x = rng.normal(size=(2, 2, 7, 6)).astype(np.float32)
    np.testing.assert_array_equal(run(conv, x), run(plain, x))
    conv3 = dnn.Conv3DDNNLayer(layers.InputLayer((None, 1, 4, 5, 6)), 2, 3, pad=1, num_groups=1)
    assert conv3.flip_filters is False and conv3.output_shape == (None, 2, 4, 5, 6)
    assert corrmm.Conv2DMMLayer(l_in, 3, 3).flip_filters is True


def test_dnn_pooling_ignores_borders_and_refuses_otherwise(rng):
    l_in = layers.InputLayer((None, 2, 7, 5))
    pool = dnn.MaxPool2DDNNLayer(l_in, 3, stride=2, pad=1)
    x = rng.normal(size=(2, 2, 7, 5)).astype(np.float32)
    np.testing.assert_array_equal(run(pool, x), run(layers.MaxPool2DLayer(l_in, 3, stride=2, pad=1), x))
    average = dnn.Pool2DDNNLayer(l_in, 2, mode="average_exc_pad")
    assert average.output_shape == (None, 2, 3, 2) and average.ignore_border
    with pytest.raises(NotImplementedError, match="Pool2DDNNLayer does not support ignore_border=False"):
        dnn.MaxPool2DDNNLayer(l_in, 2, ignore_border=False)
    with pytest.raises(NotImplementedError, match="Pool3DDNNLayer does not support ignore_border=False"):
        dnn.MaxPool3DDNNLayer((1, 2, 3, 4, 5), 2, ignore_border=False)
    with pytest.raises(ValueError, match="Expected 5 input dimensions"):
        dnn.Pool3DDNNLayer((10, 20, 30, 40), 3, 2)
    y = rng.normal(size=(1, 2, 4, 4, 6)).astype(np.float32)
    pool3 = dnn.MaxPool3DDNNLayer(layers.InputLayer(y.shape), 2)
    np.testing.assert_array_equal(run(pool3, y), y.reshape(1, 2, 2, 2, 2, 2, 3, 2).max(axis=(3, 5, 7)))


def test_dnn_spatial_pyramid_is_the_fast_one(rng):
    l_in = layers.InputLayer((None, 3, None, None))
    spp = dnn.SpatialPyramidPoolingDNNLayer(l_in, [1, 2])
    assert spp.output_shape == (None, 3, 5)
    x = rng.normal(size=(2, 3, 6, 5)).astype(np.float32)
    np.testing.assert_array_equal(run(spp, x), run(layers.SpatialPyramidPoolingLayer(l_in, [1, 2]), x))


def test_batch_norm_dnn_normalizes_as_batch_norm_with_cudnn_axes(rng):
    l_in = layers.InputLayer((None, 4, 3, 3))
    bn = dnn.BatchNormDNNLayer(l_in)
    assert isinstance(bn, layers.BatchNormLayer) and bn.axes == (0, 2, 3)
    x = rng.normal(size=(5, 4, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(run(bn, x), run(layers.BatchNormLayer(l_in), x), rtol=1e-6)
    assert dnn.BatchNormDNNLayer(l_in, axes=0).axes == (0,)
    with pytest.raises(ValueError, match="BatchNormDNNLayer only supports"):
        dnn.BatchNormDNNLayer((5, 4, 3, 3), axes=(1, 2))
    conv = layers.Conv2DLayer(l_in, 2, 3, name="conv")
    net = dnn.batch_norm_dnn(conv)
    assert isinstance(net.input_layer, dnn.BatchNormDNNLayer) and conv.b is None
    assert (net.name, net.input_layer.name) == ("conv_bn_nonlin", "conv_bn")
    linear = layers.DenseLayer(layers.InputLayer((None, 3)), 2, nonlinearity=None)
    assert isinstance(dnn.batch_norm_dnn(linear, name="bn"), dnn.BatchNormDNNLayer)


def test_cuda_convnet_convolution_in_both_layouts(rng):
    x = rng.normal(size=(2, 4, 7, 7)).astype(np.float32)
    bc01 = cuda_convnet.Conv2DCCLayer(layers.InputLayer((None, 4, 7, 7)), 16, 3, stride=2, pad=1, untie_biases=True)
    assert bc01.flip_filters is False and bc01.b.get_value().shape == (16, 4, 4)
    bc01.b.set_value(rng.normal(size=(16, 4, 4)).astype(np.float32))
    plain = layers.Conv2DLayer(layers.InputLayer((None, 4, 7, 7)), 16, 3, stride=2, pad=1, untie_biases=True,
                               W=bc01.W, b=bc01.b, flip_filters=False)  # fmt: skip
    want = run(plain, x)
    np.testing.assert_array_equal(run(bc01, x), want)
    c01b = cuda_convnet.Conv2DCCLayer(layers.InputLayer((4, 7, 7, None)), 16, 3, stride=2, pad=1, untie_biases=True,
                                      dimshuffle=False, W=bc01.W.get_value().transpose(1, 2, 3, 0), b=bc01.b)  # fmt: skip
    assert c01b.output_shape == (16, 4, 4, None) and c01b.W.get_value().shape == (4, 3, 3, 16)
    np.testing.assert_allclose(run(c01b, x.transpose(1, 2, 3, 0)), want.transpose(1, 2, 3, 0), rtol=1e-6)


def test_cuda_convnet_grouped_convolution_is_the_plain_layers(rng):
    x = rng.normal(size=(2, 4, 6, 6)).astype(np.float32)
    for dimshuffle, shape, data in [(True, (None, 4, 6, 6), x), (False, (4, 6, 6, None), x.transpose(1, 2, 3, 0))]:
        cc = cuda_convnet.Conv2DCCLayer(
            layers.InputLayer(shape), 16, 3, num_groups=2, dimshuffle=dimshuffle, nonlinearity=None
        )
        W = cc.W.get_value() if dimshuffle else cc.W.get_value().transpose(3, 0, 1, 2)
        assert W.shape == (16, 2, 3, 3)
        plain = layers.Conv2DLayer(
            layers.InputLayer((None, 4, 6, 6)), 16, 3, num_groups=2, W=W, flip_filters=False, nonlinearity=None
        )
        want = run(plain, x) if dimshuffle else run(plain, x).transpose(1, 2, 3, 0)
        np.testing.assert_allclose(run(cc, data), want, rtol=1e-5, atol=1e-6)


def test_cuda_convnet_restrictions_are_lasagnes():
    l_in = layers.InputLayer((128, 3, 32, 32))
    for kwargs, message in [
        (dict(num_filters=16, filter_size=(3, 5)), "square filters"),
        (dict(num_filters=16, filter_size=3, stride=(1, 2)), "square strides"),
        (dict(num_filters=15, filter_size=3), "multiple of 16"),
        (dict(num_filters=16, filter_size=3, pad=(1, 2)), "square padding"),
    ]:
        with pytest.raises(RuntimeError, match=message):
            cuda_convnet.Conv2DCCLayer(l_in, **kwargs)
    with pytest.raises(RuntimeError, match="1, 2, 3 or a multiple of 4"):
        cuda_convnet.Conv2DCCLayer(layers.InputLayer((128, 7, 32, 32)), 16, 3)
    for kwargs, message in [
        (dict(pool_size=2, pad=2), "does not support padding"),
        (dict(pool_size=(2, 3)), "square pooling regions"),
        (dict(pool_size=2, stride=(1, 2)), "same stride"),
        (dict(pool_size=2, stride=3), "stride <= pool_size"),
        (dict(pool_size=2, ignore_border=True), "ignore_border=True"),
    ]:
        with pytest.raises(NotImplementedError, match=message):
            cuda_convnet.MaxPool2DCCLayer(l_in, **kwargs)


def test_cuda_convnet_pooling_shuffles_and_nin(rng):
    x = rng.normal(size=(2, 3, 7, 8)).astype(np.float32)
    pool = cuda_convnet.MaxPool2DCCLayer(layers.InputLayer((None, 3, 7, 8)), 3, stride=2)
    np.testing.assert_array_equal(
        run(pool, x), run(layers.MaxPool2DLayer(pool.input_layer, 3, 2, ignore_border=False), x)
    )
    to_c01b = cuda_convnet.bc01_to_c01b(layers.InputLayer((None, 3, 7, 8)))
    back = cuda_convnet.c01b_to_bc01(cuda_convnet.MaxPool2DCCLayer(to_c01b, 3, stride=2, dimshuffle=False))
    assert to_c01b.output_shape == (3, 7, 8, None) and back.output_shape == (None, 3, 3, 4)
    np.testing.assert_array_equal(run(back, x), run(pool, x))
    nin = cuda_convnet.NINLayer_c01b(to_c01b, 5, untie_biases=True, nonlinearity=None)
    nin.b.set_value(rng.normal(size=(5, 7, 8)).astype(np.float32))
    want = np.einsum("uc,bchw->uhwb", nin.W.get_value(), x) + nin.b.get_value()[..., None]
    np.testing.assert_allclose(run(nin, x), want, rtol=1e-5, atol=1e-6)
