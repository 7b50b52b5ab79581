"""BatchNormLayer and batch_norm(): batch statistics in training, running averages otherwise."""

import numpy as np
import pytest

import symdl
from symdl import layers, nonlinearities


def test_parameters_shapes_and_tags():
    bn = layers.BatchNormLayer(layers.InputLayer((None, 16, 5, 5)))
    assert bn.axes == (0, 2, 3) and bn.output_shape == (None, 16, 5, 5)
    assert layers.count_params(bn) == 4 * 16 and layers.count_params(bn, trainable=True) == 2 * 16
    assert layers.get_all_params(bn, regularizable=True) == []
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
    with pytest.raises(ValueError, match="known sizes"):
        layers.BatchNormLayer(layers.InputLayer((None, None, 4, 4)))
