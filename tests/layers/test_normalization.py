"""BatchNormLayer and batch_norm(), StandardizationLayer with instance_norm() and layer_norm(),
LocalResponseNormalization2DLayer."""

import numpy as np
import pytest

import symdl
from symdl import layers, nonlinearities


def test_parameters_shapes_and_tags():
    bn = layers.BatchNormLayer(layers.InputLayer((None, 16, 5, 5)))
    assert bn.axes == (0, 2, 3) and bn.output_shape == (None, 16, 5, 5)
    assert layers.count_params(bn) == 4 * 16 and layers.count_params(bn, trainable=True) == 2 * 16
    # As Lasagne: gamma is regularizable, the running statistics are tagged batch_norm_stat.
    assert layers.get_all_params(bn, regularizable=True) == [bn.gamma]
    assert layers.get_all_params(bn, batch_norm_stat=True) == [bn.mean, bn.inv_std]
    dense_bn = layers.BatchNormLayer(layers.InputLayer((None, 10)))
    assert dense_bn.axes == (0,) and dense_bn.mean.get_value().shape == (10,)


def test_training_output_is_normalized_per_channel_and_updates_running_averages(rng):
    l_in = layers.InputLayer((None, 3, 4, 4))
    bn = layers.BatchNormLayer(l_in, alpha=0.5, epsilon=0.0)
    bn.gamma.set_value(np.array([1.0, 2.0, 3.0], np.float32))
    bn.beta.set_value(np.array([0.0, 1.0, -1.0], np.float32))
    x = (rng.normal(size=(8, 3, 4, 4)) * 5 + 2).astype(np.float32)
    train = symdl.function([l_in.input_var], layers.get_output(bn), mode="py")
    out = train(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), [0.0, 1.0, -1.0], atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), [1.0, 2.0, 3.0], rtol=1e-3)
    batch_mean = x.mean(axis=(0, 2, 3))
    batch_inv_std = 1 / x.std(axis=(0, 2, 3))
    np.testing.assert_allclose(bn.mean.get_value(), 0.5 * batch_mean, rtol=1e-5)
    np.testing.assert_allclose(bn.inv_std.get_value(), 0.5 + 0.5 * batch_inv_std, rtol=1e-5)


def test_deterministic_output_uses_running_averages_and_leaves_them_alone(rng):
    l_in = layers.InputLayer((None, 2))
    bn = layers.BatchNormLayer(l_in)
    bn.mean.set_value(np.array([1.0, -1.0], np.float32))
    bn.inv_std.set_value(np.array([2.0, 0.5], np.float32))
    test = symdl.function([l_in.input_var], layers.get_output(bn, deterministic=True), mode="py")
    x = rng.normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(test(x), (x - [1.0, -1.0]) * [2.0, 0.5], rtol=1e-5)
    np.testing.assert_array_equal(bn.mean.get_value(), [1.0, -1.0])


def test_use_and_update_averages_can_be_chosen_separately(rng):
    l_in = layers.InputLayer((None, 2))
    bn = layers.BatchNormLayer(l_in)
    out = layers.get_output(bn, batch_norm_use_averages=True, batch_norm_update_averages=True)
    f = symdl.function([l_in.input_var], out, mode="py")
    x = rng.normal(size=(6, 2)).astype(np.float32) + 3
    np.testing.assert_allclose(f(x), x, rtol=1e-4)  # initial averages: mean 0, inv_std 1
    assert (bn.mean.get_value() > 0).all()


def test_batch_norm_wrapper_removes_the_bias_and_moves_the_nonlinearity():
    dense = layers.DenseLayer(layers.InputLayer((None, 10)), 20, nonlinearity=nonlinearities.rectify, name="fc")
    net = layers.batch_norm(dense)
    assert isinstance(net, layers.NonlinearityLayer) and net.nonlinearity is nonlinearities.rectify
    assert isinstance(net.input_layer, layers.BatchNormLayer) and net.input_layer.name == "fc_bn"
    assert dense.b is None and dense.nonlinearity is nonlinearities.identity
    assert layers.count_params(net) == 10 * 20 + 4 * 20
    linear = layers.batch_norm(layers.DenseLayer(layers.InputLayer((None, 3)), 2, nonlinearity=None))
    assert isinstance(linear, layers.BatchNormLayer)


def test_unknown_channel_count_is_refused():
    with pytest.raises(ValueError, match="needs specified input sizes"):
        layers.BatchNormLayer(layers.InputLayer((None, None, 4, 4)))


STANDARDIZATION_CASES = [
    ((5, 10), "auto", (1,)),
    ((5, 10), "features", (1,)),
    ((5, 10), 1, (1,)),
    ((4, 3, 6, 5), "auto", (2, 3)),
    ((4, 3, 6, 5), "spatial", (2, 3)),
    ((4, 3, 6, 5), "features", (1, 2, 3)),
    ((4, 3, 6, 5), (1, 3), (1, 3)),
]


@pytest.mark.parametrize("shape,axes,expected_axes", STANDARDIZATION_CASES, ids=str)
def test_standardization_normalizes_each_example_over_its_axes(rng, shape, axes, expected_axes):
    x = (rng.normal(size=shape) * 3 + rng.normal(size=(1, shape[1]) + (1,) * (len(shape) - 2))).astype(np.float32)
    net = layers.StandardizationLayer(layers.InputLayer((None,) + shape[1:]), axes=axes)
    assert net.axes == expected_axes and net.get_params() == []
    mean = x.mean(axis=expected_axes, keepdims=True)
    expected = (x - mean) / np.sqrt(x.var(axis=expected_axes, keepdims=True) + net.epsilon)
    out = symdl.function([net.input_layer.input_var], layers.get_output(net), mode="py")(x)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_instance_and_layer_norm_wrappers_stack_and_name_their_layers():
    conv = layers.Conv2DLayer(layers.InputLayer((None, 3, 8, 8)), 4, 3, name="conv")
    net = layers.instance_norm(conv)
    stack = layers.get_all_layers(net)[2:]
    assert [type(lay).__name__ for lay in stack] == [
        "StandardizationLayer",
        "ScaleLayer",
        "BiasLayer",
        "NonlinearityLayer",
    ]
    assert [lay.name for lay in stack] == ["conv_in", "conv_in_scale", "conv_in_bias", "conv_in_nonlin"]
    assert (
        conv.b is None and conv.nonlinearity is nonlinearities.identity and net.nonlinearity is nonlinearities.rectify
    )
    assert stack[0].axes == (2, 3) and stack[1].scales.get_value().shape == (4,)
    bare = layers.instance_norm(layers.DenseLayer(layers.InputLayer((None, 3, 5)), 4, nonlinearity=None), False, False)
    assert isinstance(bare, layers.StandardizationLayer) and bare.name is None
    dense = layers.DenseLayer(layers.InputLayer((None, 10)), 6)
    ln = layers.layer_norm(dense, name="n1", epsilon=1e-3)
    assert [lay.name for lay in layers.get_all_layers(ln)[2:]] == ["n1", "n1_scale", "n1_bias", "n1_nonlin"]
    assert (
        ln.input_layer.input_layer.input_layer.axes == (1,) and ln.input_layer.input_layer.input_layer.epsilon == 1e-3
    )
    assert layers.count_params(ln) == 10 * 6 + 2 * 6


def test_batch_norm_wrapper_takes_the_given_name():
    net = layers.batch_norm(layers.DenseLayer(layers.InputLayer((None, 3)), 2, name="fc"), name="norm")
    assert (net.name, net.input_layer.name) == ("norm_nonlin", "norm")


def loop_lrn(x, n, k, alpha, beta):
    out = np.zeros_like(x)
    for b, c, i, j in np.ndindex(*x.shape):
        lo, hi = max(0, c - n // 2), min(x.shape[1], c + n // 2 + 1)
        out[b, c, i, j] = x[b, c, i, j] / (k + alpha * (x[b, lo:hi, i, j] ** 2).sum()) ** beta
    return out


def test_local_response_normalization_layer(rng):
    l_in = layers.InputLayer((None, 15, 3, 4))
    net = layers.LocalResponseNormalization2DLayer(l_in, alpha=1.5, k=2, beta=0.75, n=5)
    assert net.output_shape == (None, 15, 3, 4) and net.get_params() == []
    x = rng.normal(size=(2, 15, 3, 4)).astype(np.float32)
    out = symdl.function([l_in.input_var], layers.get_output(net), mode="py")(x)
    np.testing.assert_allclose(out, loop_lrn(x.astype(np.float64), 5, 2, 1.5, 0.75), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="odd n"):
        layers.LocalResponseNormalization2DLayer(l_in, n=4)
